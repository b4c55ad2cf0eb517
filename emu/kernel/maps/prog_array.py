"""``BPF_MAP_TYPE_PROG_ARRAY``: the slots ``bpf_tail_call`` jumps through.

Models kernel/bpf/arraymap.c (Linux 6.12; the 6.18 host's errnos compared in the
tests) and the ownership rule of kernel/bpf/core.c:

* the map is a ``struct bpf_array`` whose ``ptrs[]`` (offset 312, the host's
  layout) hold the ``struct bpf_prog`` address of each slot's program, which is
  what the JIT's indirect tail call reads (``ptrs[index]->bpf_func``);
* ``BPF_MAP_UPDATE_ELEM`` (``bpf_fd_array_map_update_elem``): flags other than
  ``BPF_ANY`` are ``-EINVAL``, an index past the end ``-E2BIG``, the value is a
  program fd (``prog_fd_array_get_ptr``: ``bpf_prog_get``'s ``-EBADF``/``-EINVAL``,
  an extension program or one that is not compatible with the map's owner
  ``-EINVAL``); the slot takes a reference and drops the old program's;
* ownership (``__bpf_prog_map_compatible``): the first program stored in the map,
  or loaded using it (``bpf_check_tail_call``), makes its type, ``jited``,
  expected attach type and attach function the owner's; later ones must match;
* ``map_poke_run`` (``prog_array_map_poke_run`` -> ``bpf_arch_poke_desc_update``):
  every program that tail-calls through this map with a constant key has its
  direct jump for that key re-patched when the slot changes;
* ``BPF_MAP_DELETE_ELEM`` empties a slot (``-ENOENT`` when already empty),
  ``BPF_MAP_LOOKUP_ELEM`` gives the program's id (``prog_fd_array_sys_lookup_elem``),
  and the last user reference (the last fd) clears every slot
  (``prog_array_map_clear``), which breaks the cycle of a program that holds the
  map it sits in.

Not modelled: ``BPF_F_PRESERVE_ELEMS``, freplace (``is_extended``), prog-array
``map_seq_show_elem``.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any, Callable

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError

from ..bpf_maps import ARRAY_VALUE_OFFSET, BPF_ANY, BPF_MAP_HEADER_SIZE, ArrayMap, BtfObject, MapObject

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["ProgArrayMap", "PROG_TYPE_EXT"]

#: enum bpf_prog_type
PROG_TYPE_EXT = 28


class ProgArrayMap(MapObject):
    """A prog array (see the module docstring). ``slots[i]`` is the program object."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.base = machine.alloc.kzalloc(ARRAY_VALUE_OFFSET + 8 * spec.max_entries)
        spec.addr = self.base
        self._write_header(self.base)
        mask = (1 << (spec.max_entries - 1).bit_length()) - 1
        machine.write(self.base + BPF_MAP_HEADER_SIZE, struct.pack("<II", 8, mask))
        self.slots: list[Any] = [None] * spec.max_entries
        #: ``map->owner``: (prog type, jited, expected attach type, attach func proto)
        self.owner: tuple[int, bool, int, Any] | None = None
        #: ``prog_array_map_poke_track``: programs with direct tail calls through this map
        self.tracked: list[Any] = []

    @property
    def sys_value_size(self) -> int:
        return 4

    # --- ownership ---------------------------------------------------------------------------
    def compatible(self, po: Any) -> bool:
        """``__bpf_prog_map_compatible``: the first program sets the owner."""
        p = po.prog
        me = (p.prog_type, True, p.expected_attach_type, getattr(po, "member", None))
        if self.owner is None:
            self.owner = me
            return True
        if self.owner[:3] != me[:3]:
            return False
        if self.owner[3] is not me[3] and p.prog_type in (26, 29, 28, 27):  # tracing, LSM, ext, struct_ops
            return False
        return True

    # --- updates -----------------------------------------------------------------------------
    def _index(self, key: bytes) -> int:
        return int(struct.unpack_from("<I", key)[0])

    def update_prog(self, key: bytes, fd: int, flags: int, prog_get: Callable[[int], Any]) -> None:
        """``bpf_fd_array_map_update_elem``: ``prog_get`` is ``bpf_prog_get`` (fd -> program)."""
        if flags != BPF_ANY:
            raise KernelError(errno.EINVAL, "prog array updates take only BPF_ANY")
        i = self._index(key)
        if i >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, f"index {i} is past max_entries {self.spec.max_entries}")
        po = prog_get(fd)
        if po.prog.prog_type == PROG_TYPE_EXT or not self.compatible(po):
            raise KernelError(errno.EINVAL, f"program {po.prog.name or po.id} does not match the prog array's "
                                            "owner (type, JIT, expected attach type)")
        po.get()
        self._set(i, po)

    def delete(self, key: bytes) -> None:
        i = self._index(key)
        if i >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, f"index {i} is past max_entries {self.spec.max_entries}")
        if self.slots[i] is None:
            raise KernelError(errno.ENOENT, "the slot is empty")
        self._set(i, None)

    def _set(self, i: int, po: Any) -> None:
        old = self.slots[i]
        self.slots[i] = po
        self.m.write(self.base + ARRAY_VALUE_OFFSET + 8 * i, struct.pack("<Q", po.prog.addr if po else 0))
        self.poke_run(i)
        if old is not None:
            old.put()

    def poke_run(self, key: int) -> None:
        """``prog_array_map_poke_run``: re-patch the direct tail calls for ``key``."""
        po = self.slots[key]
        target = po.prog.bpf_func if po is not None else None
        for user in self.tracked:
            user.poke_update(self, key, target)

    def target(self, key: int) -> int | None:
        """``bpf_func`` of the program in slot ``key`` (None: empty)."""
        po = self.slots[key] if 0 <= key < len(self.slots) else None
        return po.prog.bpf_func if po is not None else None

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise KernelError(errno.EINVAL, "prog array values are program fds (BPF_MAP_UPDATE_ELEM)")

    # --- reads -------------------------------------------------------------------------------
    def lookup(self, key: bytes) -> int:
        raise KernelError(errno.EOPNOTSUPP, "programs cannot look up prog arrays")

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        """``prog_fd_array_sys_lookup_elem``: the program's id."""
        i = self._index(key)
        po = self.slots[i] if i < self.spec.max_entries else None
        if po is None:
            raise KernelError(errno.ENOENT, "no such element")
        return struct.pack("<I", po.prog.id)

    get_next_key = ArrayMap.get_next_key  # array_map_get_next_key (fd arrays share it)

    def on_fd_release(self) -> None:
        """``prog_array_map_clear``: the last user reference went."""
        for i, po in enumerate(self.slots):
            if po is not None:
                self._set(i, None)

    def release(self) -> None:
        self.on_fd_release()
        self.m.alloc.kfree(self.base)
        super().release()
