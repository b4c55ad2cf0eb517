"""Socket local storage (``BPF_MAP_TYPE_SK_STORAGE``) as BPF programs use it.

Models net/core/bpf_sk_storage.c and kernel/bpf/bpf_local_storage.c (Linux 6.12; the same in
6.18) for the two helpers:

* ``bpf_sk_storage_get(map, sk, value, flags)``: NULL for a NULL socket, one that is not a
  full socket (``sk_fullsock``: ``sk_state`` is ``TCP_TIME_WAIT`` or ``TCP_NEW_SYN_RECV``) or
  flags above ``BPF_SK_STORAGE_GET_F_CREATE``; the socket's element of this map when it has
  one; else, with ``BPF_SK_STORAGE_GET_F_CREATE`` and a live socket
  (``refcount_inc_not_zero(&sk->sk_refcnt)``), a new element (``bpf_selem_alloc``: zeroed,
  then ``value`` copied in when not NULL) -- else NULL. The fifth, hidden argument (the GFP
  flags ``do_misc_fixups`` adds) is not read.
* ``bpf_sk_storage_delete(map, sk)``: ``-EINVAL`` for a NULL or not full socket, ``-ENOENT``
  for a socket whose ``sk_refcnt`` is 0 or that has no element of this map, else 0.

The elements of a socket are kept per map, keyed by the socket's address; an element's value
is a kernel allocation of ``value_size`` bytes. :meth:`SkStorageMap.sock_destroyed` is
``bpf_sk_storage_free`` (a socket going away drops its elements); freeing the map frees them all.

Where we differ: the emulated kernel has no socket file descriptors, so the syscall side
(``bpf_fd_sk_storage_lookup/update/delete_elem``, whose key is a socket fd) is not modelled
(exit status 3); ``get_next_key`` is ``-ENOTSUPP`` as in the kernel; the per-socket memory
charge against ``optmem_max`` (``bpf_sk_storage_charge``) is not modelled; kptrs, timers and
spin locks inside an element's value are not freed with it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError, NotModelled
from kernel_model.struct_ops_map import ENOTSUPP

from ..bpf_maps import BPF_MAP_HEADER_SIZE, BtfObject, MapObject

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["SkStorageMap", "BPF_SK_STORAGE_GET_F_CREATE", "sk_storage_helpers"]

#: include/uapi/linux/bpf.h
BPF_SK_STORAGE_GET_F_CREATE = 1
#: include/net/tcp_states.h
TCP_TIME_WAIT, TCP_NEW_SYN_RECV = 6, 12
M64 = (1 << 64) - 1


class SkStorageMap(MapObject):
    """``BPF_MAP_TYPE_SK_STORAGE`` (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.base = machine.alloc.kzalloc(BPF_MAP_HEADER_SIZE)
        spec.addr = self.base
        self._write_header(self.base)
        #: socket address -> its element's value
        self.elems: dict[int, int] = {}

    # --- the helpers' side ----------------------------------------------------------------
    def storage_get(self, sk: int, value: int, flags: int, sock: "SockView") -> int:
        """``bpf_sk_storage_get``: the value's address or 0."""
        if not sk or not sock.fullsock(sk) or flags > BPF_SK_STORAGE_GET_F_CREATE:
            return 0
        got = self.elems.get(sk)
        if got is not None:
            return got
        if flags == BPF_SK_STORAGE_GET_F_CREATE and sock.refcnt(sk):
            addr = int(self.m.alloc.kzalloc(max(self.spec.value_size, 1)))
            if value:
                self.m.write(addr, self.m.read(value, self.spec.value_size))
            self.elems[sk] = addr
            return addr
        return 0

    def storage_delete(self, sk: int, sock: "SockView") -> int:
        """``bpf_sk_storage_delete``: 0 or a negative errno."""
        if not sk or not sock.fullsock(sk):
            return -errno.EINVAL
        if not sock.refcnt(sk):
            return -errno.ENOENT
        addr = self.elems.pop(sk, None)
        if addr is None:
            return -errno.ENOENT
        self.m.alloc.kfree(addr)
        return 0

    def sock_destroyed(self, sk: int) -> None:
        """``bpf_sk_storage_free``: the socket's element goes with it."""
        addr = self.elems.pop(sk, None)
        if addr is not None:
            self.m.alloc.kfree(addr)

    # --- the syscall side: keys are socket fds ------------------------------------------------
    def _fd_key(self) -> NotModelled:
        return NotModelled("sk_storage map: a socket fd as the key (the emulated kernel has no socket files)")

    def lookup(self, key: bytes) -> int:
        raise self._fd_key()

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        raise self._fd_key()

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise self._fd_key()

    def delete(self, key: bytes) -> None:
        raise self._fd_key()

    def get_next_key(self, key: bytes | None) -> bytes:
        raise KernelError(ENOTSUPP, "sk_storage maps have no get_next_key (notsupp_get_next_key)")

    def release(self) -> None:
        for addr in self.elems.values():
            self.m.alloc.kfree(addr)
        self.elems.clear()
        self.m.alloc.kfree(self.base)
        super().release()


class SockView:
    """What the helpers read of a ``struct sock``: ``sk_state`` and ``sk_refcnt`` at their
    offsets in the emulated kernel's BTF (``struct sock_common``)."""

    def __init__(self, m: Any, btf: Any) -> None:
        from ..kobjects import KObject

        self.m = m
        probe = KObject(m, btf, btf.find("sock_common", 4), 0)
        self.state_off = probe.offset_of("skc_state")
        self.refcnt_off = probe.offset_of("skc_refcnt")

    def fullsock(self, sk: int) -> bool:
        """``sk_fullsock``."""
        return self.m.read(sk + self.state_off, 1)[0] not in (TCP_TIME_WAIT, TCP_NEW_SYN_RECV)

    def refcnt(self, sk: int) -> int:
        return int.from_bytes(self.m.read(sk + self.refcnt_off, 4), "little")


def sk_storage_helpers(machine: Any, btf: Any, maps_by_addr: dict[int, MapObject]) -> dict[int, Any]:
    """``{helper id: body}``: bpf_sk_storage_get (107), bpf_sk_storage_delete (108)."""
    view: list[SockView] = []

    def sock() -> SockView:
        if not view:
            view.append(SockView(machine, btf))
        return view[0]

    def smap(addr: int) -> SkStorageMap:
        mo = maps_by_addr.get(addr & M64)
        if not isinstance(mo, SkStorageMap):  # the verifier let only an sk_storage map through
            raise NotModelled(f"bpf_sk_storage_* on map {addr:#x}, not a socket storage map")
        return mo

    def get(_m: Any, map_addr: int, sk: int, value: int, flags: int, *_: int) -> int:
        return smap(map_addr).storage_get(sk & M64, value & M64, flags & M64, sock())

    def delete(_m: Any, map_addr: int, sk: int, *_: int) -> int:
        return smap(map_addr).storage_delete(sk & M64, sock()) & M64

    return {107: get, 108: delete}
