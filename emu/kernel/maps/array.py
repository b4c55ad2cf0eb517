"""Per-CPU arrays (kernel/bpf/arraymap.c, Linux 6.12).

``BPF_MAP_TYPE_PERCPU_ARRAY``: ``struct bpf_array`` whose ``pptrs[]`` hold one
per-CPU pointer per element, each to ``round_up(value_size, 8)`` zeroed bytes
on every possible CPU (``bpf_array_alloc_percpu``). A program's lookup gives
this CPU's copy (``percpu_array_map_lookup_elem``: ``this_cpu_ptr``), NULL
past ``max_entries``; ``bpf_map_lookup_percpu_elem`` names the CPU (NULL for a
CPU that does not exist). User space reads and writes every CPU's copy, one
8-byte-rounded slot each (``bpf_percpu_array_copy``/``bpf_percpu_array_update``);
a program's update writes this CPU's copy. Update flags as for arrays
(``-EINVAL`` above ``BPF_EXIST``, ``-E2BIG`` past the end, ``-EEXIST`` for
``BPF_NOEXIST``); delete is ``-EINVAL``.

Where we differ: the kernel inlines a program's lookup (``percpu_array_map_gen_lookup``);
here it is the helper call, with the same result.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError
from kernel_model.uapi import BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST

from ..bpf_maps import ARRAY_VALUE_OFFSET, BPF_MAP_HEADER_SIZE, ArrayMap, BtfObject, MapObject, _round8

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["PercpuArrayMap"]


class PercpuArrayMap(MapObject):
    """``BPF_MAP_TYPE_PERCPU_ARRAY`` (see the module docstring)."""

    get_next_key = ArrayMap.get_next_key

    def _index(self, key: bytes) -> int:  # as ArrayMap's: the u32 key
        return struct.unpack_from("<I", key)[0]

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.elem_size = _round8(spec.value_size)
        self.base = machine.alloc.kzalloc(ARRAY_VALUE_OFFSET + 8 * spec.max_entries)
        spec.addr = self.base
        self._write_header(self.base)
        mask = (1 << (spec.max_entries - 1).bit_length()) - 1
        machine.write(self.base + BPF_MAP_HEADER_SIZE, struct.pack("<II", self.elem_size, mask))
        # bpf_array_alloc_percpu: on -ENOMEM what was allocated is freed again (bpf_array_free_percpu)
        try:
            self.pptrs = machine.alloc.alloc_percpu_many(spec.max_entries, self.elem_size, 8)
        except KernelError:
            machine.alloc.kfree(self.base)
            raise
        for i, p in enumerate(self.pptrs):
            machine.write(self.base + ARRAY_VALUE_OFFSET + 8 * i, struct.pack("<Q", p))

    def _cpu(self) -> int:
        return max(self.m.runner.cpu, 0)

    @property
    def sys_value_size(self) -> int:
        return self.elem_size * self.m.nr_cpus

    def lookup(self, key: bytes) -> int:
        return self.lookup_this_cpu(key, self._cpu())

    def lookup_this_cpu(self, key: bytes, cpu: int) -> int:
        i = self._index(key)
        if i >= self.spec.max_entries or not 0 <= cpu < self.m.nr_cpus:
            return 0
        return self.m.alloc.percpu_addr(self.pptrs[i], cpu)

    def _check(self, key: bytes, flags: int) -> int:
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            raise KernelError(errno.EINVAL, "unknown update flags")
        i = self._index(key)
        if i >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, f"index {i} is past max_entries {self.spec.max_entries}")
        if flags & BPF_NOEXIST:
            raise KernelError(errno.EEXIST, "every array element exists")
        if flags & BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")
        return i

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        i = self._check(key, flags)
        self.m.write(self.m.alloc.percpu_addr(self.pptrs[i], self._cpu()), value[:self.spec.value_size])

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        i = self._check(key, flags)
        for cpu in range(self.m.nr_cpus):
            self.m.write(self.m.alloc.percpu_addr(self.pptrs[i], cpu),
                         value[cpu * self.elem_size:cpu * self.elem_size + self.spec.value_size])

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        i = self._index(key)
        if i >= self.spec.max_entries:
            raise KernelError(errno.ENOENT, "no such element")
        return b"".join(self.m.read(self.m.alloc.percpu_addr(self.pptrs[i], cpu), self.elem_size)
                        for cpu in range(self.m.nr_cpus))

    def delete(self, key: bytes) -> None:
        raise KernelError(errno.EINVAL, "array elements cannot be deleted")

    def release(self) -> None:
        for p in self.pptrs:
            self.m.alloc.free_percpu(p)
        self.m.alloc.kfree(self.base)
        super().release()
