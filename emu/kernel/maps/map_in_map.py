"""``BPF_MAP_TYPE_ARRAY_OF_MAPS`` and ``BPF_MAP_TYPE_HASH_OF_MAPS``: maps whose values are maps.

Models kernel/bpf/map_in_map.c, arraymap.c and hashtab.c (Linux 6.12; the 6.18
host's answers compared in tests/emu/test_map_in_map.py):

* at create time the inner map fd is turned into a template, ``inner_map_meta``
  (``bpf_map_meta_alloc``, :func:`emu.kernel.maps.check_inner_map`): type, key and
  value sizes, flags, ``max_entries`` and a copy of the value's special fields;
  it is what the verifier checks every use of a looked-up inner map against
  (:attr:`kernel_model.bpf_map.MapSpec.inner_meta`);
* ``BPF_MAP_UPDATE_ELEM`` takes a map fd (``bpf_map_fd_get_ptr``): a bad fd is
  ``-EBADF``, a map that does not match the template (``map_meta_equal``:
  ``bpf_map_meta_equal`` -- type, key/value size, flags, record -- plus, for array
  and per-CPU array inner maps without ``BPF_F_INNER_MAP``, the same
  ``max_entries``: ``array_map_meta_equal``) is ``-EINVAL``; the slot takes a
  reference on the inner map and drops the old one's;
* an array of maps takes only ``BPF_ANY`` (``bpf_fd_array_map_update_elem``,
  ``-EINVAL``), an index past the end is ``-E2BIG``; deleting an empty slot is
  ``-ENOENT``; a hash of maps follows ``htab_map_update_elem`` (flags, ``-EEXIST``,
  ``-ENOENT``, ``-E2BIG`` when full) and keeps its elements as the hash map does;
* ``BPF_MAP_LOOKUP_ELEM`` from user space gives the inner map's id
  (``bpf_map_fd_sys_lookup_elem``); from a program, ``bpf_map_lookup_elem`` gives
  the inner ``struct bpf_map`` itself (``array_of_map_lookup_elem`` /
  ``htab_of_map_lookup_elem``: ``READ_ONCE(*slot)``), NULL for an empty slot;
* the outer map's last reference drops every inner map (``fd_array_map_free`` /
  ``fd_htab_map_free``).

Not modelled: the RCU-deferred free of a replaced inner map (``need_defer``,
``free_after_mult_rcu_gp``): the emulated kernel drops the reference at once,
which is what a program that already holds the old pointer cannot observe here
(programs run to completion between syscalls).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Callable

from kernel_model.bpf_map import MapSpec
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import KernelError
from kernel_model.uapi import BPF_F_INNER_MAP

from ..bpf_maps import ARRAY_VALUE_OFFSET, BPF_ANY, BPF_MAP_HEADER_SIZE, ArrayMap, BtfObject, HashMap, MapObject, Rcu

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["ArrayOfMapsMap", "HashOfMapsMap", "meta_equal", "MapGet"]

#: ``__bpf_map_get``: a user fd -> its map (``-EBADF`` / ``-EINVAL`` otherwise)
MapGet = Callable[[int], MapObject]

_ARRAYS = frozenset({MAP_TYPES["BPF_MAP_TYPE_ARRAY"], MAP_TYPES["BPF_MAP_TYPE_PERCPU_ARRAY"]})


def meta_equal(meta: MapSpec, inner: MapSpec) -> bool:
    """``inner_map_meta->ops->map_meta_equal(meta, inner)``: ``bpf_map_meta_equal``
    (map_in_map.c: type, key and value size, flags, ``btf_record_equal``), and for
    array and per-CPU array templates ``array_map_meta_equal`` (arraymap.c): the same
    ``max_entries`` unless the template has ``BPF_F_INNER_MAP``."""
    if (meta.map_type, meta.key_size, meta.value_size, meta.map_flags) != \
            (inner.map_type, inner.key_size, inner.value_size, inner.map_flags):
        return False
    if _record_key(meta) != _record_key(inner):
        return False
    if meta.map_type in _ARRAYS and not meta.map_flags & BPF_F_INNER_MAP:
        return meta.max_entries == inner.max_entries
    return True


def _record_key(spec: MapSpec) -> tuple[object, ...]:
    """``btf_record_equal``: no record and an erroneous one are the same; otherwise the
    fields (type, offset, size) must match."""
    rec = spec.record
    if rec is None or rec.error or not rec.fields:
        return ()
    return tuple((f.name, f.offset, f.size) for f in rec.fields)


class _MapInMap:
    """What both map-in-map types share: the template and the map-fd resolution."""

    spec: MapSpec
    m: "Machine"

    def _fd_get_ptr(self, fd: int, map_get: MapGet) -> MapObject:
        """``bpf_map_fd_get_ptr``: the fd's map, referenced, when it matches the template."""
        inner = map_get(fd)
        meta = self.spec.inner_meta
        if meta is None or not meta_equal(meta, inner.spec):
            raise KernelError(errno.EINVAL, f"map {inner.spec.name or inner.spec.id} does not match the inner map "
                                            "template (type, key/value size, flags, special fields"
                                            + (", max_entries)" if meta is not None and meta.map_type in _ARRAYS
                                               and not meta.map_flags & BPF_F_INNER_MAP else ")"))
        inner.get()
        return inner

    @property
    def sys_value_size(self) -> int:
        return 4


class ArrayOfMapsMap(_MapInMap, MapObject):
    """``BPF_MAP_TYPE_ARRAY_OF_MAPS``: a ``struct bpf_array`` whose ``ptrs[]`` hold the
    inner maps' ``struct bpf_map`` addresses (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.base = machine.alloc.kzalloc(ARRAY_VALUE_OFFSET + 8 * spec.max_entries)
        spec.addr = self.base
        self._write_header(self.base)
        mask = (1 << (spec.max_entries - 1).bit_length()) - 1
        machine.write(self.base + BPF_MAP_HEADER_SIZE, struct.pack("<II", 8, mask))
        self.slots: list[MapObject | None] = [None] * spec.max_entries

    def _index(self, key: bytes) -> int:
        return int(struct.unpack_from("<I", key)[0])

    def _set(self, i: int, inner: MapObject | None) -> None:
        old = self.slots[i]
        self.slots[i] = inner
        self.m.write(self.base + ARRAY_VALUE_OFFSET + 8 * i, struct.pack("<Q", inner.spec.addr if inner else 0))
        if old is not None:
            old.put()  # bpf_map_fd_put_ptr

    def update_fd(self, key: bytes, fd: int, flags: int, map_get: MapGet) -> None:
        """``bpf_fd_array_map_update_elem``."""
        if flags != BPF_ANY:
            raise KernelError(errno.EINVAL, "array-of-maps updates take only BPF_ANY")
        i = self._index(key)
        if i >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, f"index {i} is past max_entries {self.spec.max_entries}")
        self._set(i, self._fd_get_ptr(fd, map_get))

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise KernelError(errno.EINVAL, "array-of-maps values are map fds (BPF_MAP_UPDATE_ELEM)")

    def delete(self, key: bytes) -> None:
        """``fd_array_map_delete_elem``."""
        i = self._index(key)
        if i >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, f"index {i} is past max_entries {self.spec.max_entries}")
        if self.slots[i] is None:
            raise KernelError(errno.ENOENT, "the slot is empty")
        self._set(i, None)

    def lookup(self, key: bytes) -> int:
        """``array_of_map_lookup_elem``: the inner ``struct bpf_map`` (0: none)."""
        i = self._index(key)
        inner = self.slots[i] if i < self.spec.max_entries else None
        return inner.spec.addr if inner is not None else 0

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        """``bpf_fd_array_map_lookup_elem``: the inner map's id."""
        i = self._index(key)
        inner = self.slots[i] if i < self.spec.max_entries else None
        if inner is None:
            raise KernelError(errno.ENOENT, "no such element")
        return struct.pack("<I", inner.spec.id)

    get_next_key = ArrayMap.get_next_key  # array_map_get_next_key (fd arrays share it)

    def release(self) -> None:
        """``array_of_map_free`` -> ``fd_array_map_free``: every slot's reference goes."""
        for i, inner in enumerate(self.slots):
            if inner is not None:
                self.slots[i] = None
                inner.put()
        self.m.alloc.kfree(self.base)
        super().release()


class HashOfMapsMap(_MapInMap, HashMap):
    """``BPF_MAP_TYPE_HASH_OF_MAPS``: a hash map whose 8-byte value slot holds the inner
    ``struct bpf_map`` address (``fd_htab_map_needs_adjust``: the slot is a pointer on
    64-bit kernels although ``value_size`` is 4)."""

    def __init__(self, spec: MapSpec, machine: "Machine", rcu: Rcu, btf: BtfObject | None = None, *,
                 hashrnd: int = 0) -> None:
        super().__init__(spec, machine, rcu, btf, hashrnd=hashrnd)
        self.inner_of: dict[bytes, MapObject] = {}
        self._ptr = b""

    def _value_slot(self) -> int:
        return 8

    def _fill(self, elem: int, key: bytes, value: bytes) -> None:
        super()._fill(elem, key, self._ptr)

    def update_fd(self, key: bytes, fd: int, flags: int, map_get: MapGet) -> None:
        """``bpf_fd_htab_map_update_elem``: resolve the fd, then ``htab_map_update_elem``
        with the pointer; on failure the new reference is dropped."""
        inner = self._fd_get_ptr(fd, map_get)
        self._ptr = struct.pack("<Q", inner.spec.addr)
        try:
            HashMap.update(self, key, b"\0" * 4, flags)
        except KernelError:
            inner.put()
            raise
        finally:
            self._ptr = b""
        old = self.inner_of.get(key)
        self.inner_of[key] = inner
        if old is not None:
            old.put()

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise KernelError(errno.EINVAL, "hash-of-maps values are map fds (BPF_MAP_UPDATE_ELEM)")

    def delete(self, key: bytes) -> None:
        HashMap.delete(self, key)
        old = self.inner_of.pop(key, None)
        if old is not None:
            old.put()

    def lookup(self, key: bytes) -> int:
        """``htab_of_map_lookup_elem``: the inner ``struct bpf_map`` (0: no such key)."""
        inner = self.inner_of.get(key) if key in self.table else None
        return inner.spec.addr if inner is not None else 0

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        """``bpf_fd_htab_map_lookup_elem``: the inner map's id."""
        inner = self.inner_of.get(key) if key in self.table else None
        if inner is None:
            raise KernelError(errno.ENOENT, "no such element")
        return struct.pack("<I", inner.spec.id)

    def release(self) -> None:
        """``htab_of_map_free`` -> ``fd_htab_map_free``."""
        for inner in self.inner_of.values():
            inner.put()
        self.inner_of.clear()
        super().release()
