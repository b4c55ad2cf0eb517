"""Queue and stack maps (kernel/bpf/queue_stack_maps.c, Linux 6.12).

One ring of ``max_entries + 1`` slots of ``value_size`` bytes after the
header (``queue_stack_map_alloc``), ``head`` where the next push goes,
``tail`` the oldest element; empty when they meet, full when ``head + 1``
meets ``tail``. Push (``bpf_map_push_elem``, ``BPF_MAP_UPDATE_ELEM`` with a
NULL key): flags other than ``BPF_ANY``/``BPF_EXIST`` are ``-EINVAL``; a full
map is ``-E2BIG`` unless ``BPF_EXIST``, which drops the oldest element. Pop /
peek (``bpf_map_pop_elem``/``bpf_map_peek_elem``, ``BPF_MAP_LOOKUP_AND_DELETE_ELEM``
/ ``BPF_MAP_LOOKUP_ELEM``): the queue gives the oldest element, the stack the
newest; an empty map is ``-ENOENT`` and the program's buffer is zeroed.
Delete and get_next_key are ``-EINVAL`` (``queue_stack_map_delete_elem``,
``queue_stack_map_get_next_key``).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError
from kernel_model.uapi import BPF_EXIST, BPF_NOEXIST

from ..bpf_maps import BPF_MAP_HEADER_SIZE, BtfObject, MapObject, _alloc_area, _free_area

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["QueueStackMap"]

#: struct bpf_queue_stack: the map, a lock, head, tail, size, then the elements (cache-line aligned)
_ELEMENTS_OFF = BPF_MAP_HEADER_SIZE + 24


class QueueStackMap(MapObject):
    """``BPF_MAP_TYPE_QUEUE`` (``stack=False``) or ``BPF_MAP_TYPE_STACK``."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None, *, stack: bool) -> None:
        super().__init__(spec, machine, btf)
        self.stack = stack
        self.size = spec.max_entries + 1
        self.head = self.tail = 0
        self.base, self._vm = _alloc_area(machine, _ELEMENTS_OFF + self.size * spec.value_size)
        spec.addr = self.base
        self._write_header(self.base)

    def _slot(self, i: int) -> int:
        return self.base + _ELEMENTS_OFF + i * self.spec.value_size

    def _empty(self) -> bool:
        return self.head == self.tail

    def _full(self) -> bool:
        return (self.head + 1) % self.size == self.tail

    def push(self, value: bytes, flags: int) -> None:
        if flags & BPF_NOEXIST or flags > BPF_EXIST:
            raise KernelError(errno.EINVAL, "queue/stack push takes BPF_ANY or BPF_EXIST")
        if self._full():
            if not flags & BPF_EXIST:
                raise KernelError(errno.E2BIG, f"{self.spec.type_name} is full ({self.spec.max_entries} entries)")
            self.tail = (self.tail + 1) % self.size
        self.m.write(self._slot(self.head), value[:self.spec.value_size])
        self.head = (self.head + 1) % self.size

    def _get(self, delete: bool) -> bytes:
        if self._empty():
            raise KernelError(errno.ENOENT, f"{self.spec.type_name} is empty")
        if self.stack:
            index = (self.head - 1) % self.size
            value = self.m.read(self._slot(index), self.spec.value_size)
            if delete:
                self.head = index
        else:
            value = self.m.read(self._slot(self.tail), self.spec.value_size)
            if delete:
                self.tail = (self.tail + 1) % self.size
        return value

    def pop(self) -> bytes:
        return self._get(True)

    def peek(self, value: bytes | None = None) -> bytes:
        return self._get(False)

    # the syscall side: bpf_map_copy_value peeks, bpf_map_update_value pushes
    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        return self.peek()

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        self.push(value, flags)

    def lookup(self, key: bytes) -> int:
        return 0  # queue_stack_map_lookup_elem: NULL (the verifier never lets a program call it)

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise KernelError(errno.EINVAL, "queue/stack maps have no keyed update")

    def delete(self, key: bytes) -> None:
        raise KernelError(errno.EINVAL, "queue/stack maps have no delete")

    def get_next_key(self, key: bytes | None) -> bytes:
        raise KernelError(errno.EINVAL, "queue/stack maps have no keys")

    def release(self) -> None:
        _free_area(self.m, self.base, self._vm)
        super().release()
