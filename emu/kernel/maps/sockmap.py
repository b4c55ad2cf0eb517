"""``BPF_MAP_TYPE_SOCKMAP``, ``BPF_MAP_TYPE_SOCKHASH`` (and ``BPF_MAP_TYPE_REUSEPORT_SOCKARRAY``:
:class:`ReuseportArray`) in an emulated kernel without sockets.

A socket map holds sockets: user space puts one in with ``BPF_MAP_UPDATE_ELEM`` and a
socket's fd as the value (net/core/sock_map.c, Linux 6.12 = 6.18,
``sock_map_update_elem_sys``), a program with ``bpf_map_update_elem`` and a socket
pointer, or ``bpf_sock_map_update`` / ``bpf_sock_hash_update`` from sock_ops. The
emulated kernel has no sockets: no fd of the emulated process is a socket, and no
program can hold one. So every socket map here is empty, and what the kernel does with
an empty one is modelled exactly:

* ``BPF_MAP_UPDATE_ELEM`` (``sock_map_update_elem_sys``): an fd above ``S32_MAX`` is
  ``-EINVAL``; then ``sockfd_lookup``: ``-EBADF`` for an fd that is not open,
  ``-ENOTSOCK`` for an open one (a map, a program, a BTF object, stdin...). The checks
  after it (the socket's protocol and state, the flags, the key) cannot be reached;
* ``BPF_MAP_LOOKUP_ELEM`` (``sock_map_lookup_sys`` / ``sock_hash_lookup_sys``):
  ``-ENOSPC`` unless the value is 8 bytes (the socket cookie), else ``-ENOENT``;
* ``BPF_MAP_DELETE_ELEM`` and a program's ``bpf_map_delete_elem``: a sockmap's slot is
  empty, ``-EINVAL`` (``__sock_map_delete``; an index past ``max_entries`` too); a
  sockhash has no such key, ``-ENOENT``;
* ``BPF_MAP_GET_NEXT_KEY``: a sockmap walks its indexes like an array
  (``sock_map_get_next_key``: 0 for a missing or out-of-range key, ``-ENOENT`` after
  the last); a sockhash is empty (``-ENOENT``);
* a program's ``bpf_map_lookup_elem`` finds nothing (NULL).

Not modelled (refused with :class:`~kernel_model.errors.NotModelled`): a program's
``bpf_map_update_elem`` of a socket (no program here can hold one), and what comes
with real sockets -- the psock, the attached parser/verdict programs
(``BPF_PROG_ATTACH`` to a sockmap is not modelled either), redirects.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Callable

from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError, NotModelled

from ..bpf_maps import BtfObject
from .created import CreatedOnlyMap

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["SockMap", "ReuseportArray", "SOCK_MAP_TYPES", "REUSEPORT_SOCKARRAY"]

_SOCKMAP = MAP_TYPES["BPF_MAP_TYPE_SOCKMAP"]
SOCK_MAP_TYPES = frozenset({_SOCKMAP, MAP_TYPES["BPF_MAP_TYPE_SOCKHASH"]})
REUSEPORT_SOCKARRAY = MAP_TYPES["BPF_MAP_TYPE_REUSEPORT_SOCKARRAY"]
_S32_MAX = (1 << 31) - 1


class SockMap(CreatedOnlyMap):
    """An (always empty) sockmap or sockhash (see the module docstring). ``sockfd_lookup``
    is the kernel's: it raises the errno of an fd that is not a socket."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.sockfd_lookup: Callable[[int], None] | None = None

    @property
    def _is_sockmap(self) -> bool:
        return self.spec.map_type == _SOCKMAP

    def lookup(self, key: bytes) -> int:
        """A program's lookup (``sock_map_lookup`` / ``sock_hash_lookup``): nothing is there."""
        return 0

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        """``sock_map_lookup_sys`` / ``sock_hash_lookup_sys`` through ``bpf_map_copy_value``."""
        if self.spec.value_size != 8:
            raise KernelError(errno.ENOSPC, "a socket map's lookup gives the socket cookie: value_size must be 8")
        raise KernelError(errno.ENOENT, "no socket at this key (the emulated kernel has no sockets)")

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        """``sock_map_update_elem_sys``: the value is a socket's fd."""
        ufd = struct.unpack_from("<Q" if self.spec.value_size == 8 else "<I", value)[0]
        if ufd > _S32_MAX:
            raise KernelError(errno.EINVAL, f"socket fd {ufd} is out of range")
        if self.sockfd_lookup is None:
            raise NotModelled(f"{self.spec.type_name}: update without the kernel's fd table is not modelled")
        self.sockfd_lookup(ufd)
        raise NotModelled(f"{self.spec.type_name}: fd {ufd} is a socket, which this kernel does not model")

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        """A program's ``bpf_map_update_elem`` of a socket: no program here holds one."""
        raise self._nm("a program's update (a socket pointer as the value)")

    def delete(self, key: bytes) -> None:
        """``sock_map_delete_elem`` / ``sock_hash_delete_elem`` of an empty map."""
        if self._is_sockmap:
            raise KernelError(errno.EINVAL, "no socket at this index")
        raise KernelError(errno.ENOENT, "no such key")

    def get_next_key(self, key: bytes | None) -> bytes:
        """``sock_map_get_next_key`` (by index) / ``sock_hash_get_next_key`` (empty)."""
        if not self._is_sockmap:
            raise KernelError(errno.ENOENT, "the socket hash is empty")
        n = self.spec.max_entries
        i = 0xFFFFFFFF if key is None else struct.unpack_from("<I", key)[0]
        if i == n - 1:
            raise KernelError(errno.ENOENT, "last index")
        return struct.pack("<I", 0 if i >= n else i + 1)


class ReuseportArray(SockMap):
    """An (always empty) ``BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`` (kernel/bpf/reuseport_array.c,
    Linux 6.12 = 6.18): its syscalls for an empty array and an fd that is no socket.

    * update (``bpf_fd_reuseport_array_update_elem``): flags above ``BPF_EXIST``
      ``-EINVAL``, an index past ``max_entries`` ``-E2BIG``, a u64 fd above ``S32_MAX``
      ``-EINVAL`` (a u32 value is a signed int), then ``sockfd_lookup``;
    * lookup (``bpf_fd_reuseport_array_lookup_elem``): ``-ENOSPC`` unless the value is
      8 bytes, else ``-ENOENT``;
    * delete (``reuseport_array_delete_elem``): ``-E2BIG`` past ``max_entries``, else
      ``-ENOENT``;
    * get_next_key (``reuseport_array_get_next_key``): by index, as a sockmap's.

    Programs reach it only through ``bpf_sk_select_reuseport`` (sk_reuseport programs,
    which are verified only)."""

    _BPF_EXIST = 2

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        if flags > self._BPF_EXIST:
            raise KernelError(errno.EINVAL, f"unknown update flags {flags:#x}")
        if struct.unpack_from("<I", key)[0] >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, "index past max_entries")
        if self.spec.value_size == 8:
            fd = struct.unpack_from("<Q", value)[0]
            if fd > _S32_MAX:
                raise KernelError(errno.EINVAL, f"socket fd {fd} is out of range")
        else:
            fd = struct.unpack_from("<i", value)[0]
        if self.sockfd_lookup is None:
            raise NotModelled(f"{self.spec.type_name}: update without the kernel's fd table is not modelled")
        self.sockfd_lookup(fd)
        raise NotModelled(f"{self.spec.type_name}: fd {fd} is a socket, which this kernel does not model")

    def delete(self, key: bytes) -> None:
        if struct.unpack_from("<I", key)[0] >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, "index past max_entries")
        raise KernelError(errno.ENOENT, "no socket at this index")

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise self._nm("a program's update")

    @property
    def _is_sockmap(self) -> bool:
        return True  # get_next_key walks indexes as a sockmap's
