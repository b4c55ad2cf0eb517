"""The kernel's allocators over the machine's address space.

``kmalloc``/``kzalloc``/``kfree`` over the direct-map heap with the kmalloc
size classes, ``vzalloc``/``vfree`` over the vmalloc area, static kernel data
(``kdata``, never freed) and the per-CPU allocator (``alloc_percpu`` over the
dynamic part of ``.data..percpu``, one area per CPU in the heap). BPF text
has its own allocator (:mod:`emu.machine.packs`).
"""

from __future__ import annotations

import bisect
import ctypes
import struct
from dataclasses import dataclass, field
from typing import Any

from kernel_model.errors import InternalError, KernelError

from .address_space import AddressSpace
from .ktext import PCPU
from .layout import (HEAP_BASE, HEAP_SIZE, KDATA_BASE, KDATA_SIZE, M64, PAGE_SIZE, PERCPU_BASE, PERCPU_SIZE,
                     PROT_RW, VMALLOC_DATA, VMALLOC_DATA_SIZE, host_addr)
from .regs import RAW

__all__ = ["Allocators", "FirstFitHeap", "kmalloc_size"]


@dataclass(slots=True)
class FirstFitHeap:
    """A first-fit allocator over [base, base+size)."""

    base: int
    size: int
    free: list[tuple[int, int]] = field(default_factory=list)
    used: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.free = [(self.base, self.size)]
        self.used = {}

    def alloc(self, size: int, align: int) -> int:
        for k, (start, length) in enumerate(self.free):
            a = (start + align - 1) & ~(align - 1)
            if a + size <= start + length:
                del self.free[k]
                if a > start:
                    self.free.insert(k, (start, a - start))
                    k += 1
                if a + size < start + length:
                    self.free.insert(k, (a + size, start + length - a - size))
                self.used[a] = size
                return a
        raise KernelError(12, f"out of memory allocating {size} bytes")  # ENOMEM

    def release(self, addr: int) -> int:
        size = self.used.pop(addr)
        k = bisect.bisect_left(self.free, (addr, 0))
        self.free.insert(k, (addr, size))
        # merge neighbours
        if k + 1 < len(self.free) and addr + size == self.free[k + 1][0]:
            self.free[k] = (addr, size + self.free[k + 1][1])
            del self.free[k + 1]
        if k > 0 and self.free[k - 1][0] + self.free[k - 1][1] == addr:
            self.free[k - 1] = (self.free[k - 1][0], self.free[k - 1][1] + self.free[k][1])
            del self.free[k]
        return size


def kmalloc_size(size: int) -> int:
    """The kmalloc cache a request lands in (mm/slab_common.c ``kmalloc_size_index``
    with the 96/192 caches): 8, 16, 32, 64, 96, 128, 192, 256, ... , then pages."""
    if size <= 8:
        return 8
    for c in (16, 32, 64, 96, 128, 192):
        if size <= c:
            return c
    n = 256
    while n < size:
        n <<= 1
    return n


def _percpu_static(area: int, cpu: int) -> bytes:
    """A CPU's static per-CPU variables as created: zero, ``this_cpu_off`` = its offset,
    ``cpu_number`` = its number."""
    static = bytearray(PCPU.dynamic)
    struct.pack_into("<Q", static, PCPU.this_cpu_off, (area - PERCPU_BASE) & M64)
    struct.pack_into("<I", static, PCPU.cpu_number, cpu)
    return bytes(static)


class Allocators:
    """The heap, vmalloc, kernel-data and per-CPU allocators of one machine. Maps its
    regions (kernel data and vmalloc on first touch) at creation."""

    def __init__(self, mem: AddressSpace, nr_cpus: int) -> None:
        self.mem = mem
        self.nr_cpus = nr_cpus
        mem.map("kernel data", KDATA_BASE, KDATA_SIZE, PROT_RW, lazy=True)
        self.kdata_next = KDATA_BASE
        mem.map("kmalloc", HEAP_BASE, HEAP_SIZE, PROT_RW)
        self.heap = FirstFitHeap(HEAP_BASE, HEAP_SIZE)
        mem.map("vmalloc", VMALLOC_DATA, VMALLOC_DATA_SIZE, PROT_RW, lazy=True)
        self.vmalloc_heap = FirstFitHeap(VMALLOC_DATA, VMALLOC_DATA_SIZE)
        #: each CPU's per-CPU area (in the heap); %gs points at it
        self.percpu_areas = [self.heap.alloc(PERCPU_SIZE, PAGE_SIZE) for _ in range(nr_cpus)]
        self._percpu_statics = [_percpu_static(area, cpu) for cpu, area in enumerate(self.percpu_areas)]
        # the dynamic part of .data..percpu: pcpu_alloc/free_percpu over a first-fit heap
        self.percpu_heap = FirstFitHeap(PERCPU_BASE + PCPU.dynamic, PERCPU_SIZE - PCPU.dynamic)
        self.init_percpu_statics()

    def kmalloc(self, size: int, *, zero: bool = False) -> int:
        """``kmalloc``: a block from the kmalloc cache of ``size`` (aligned to its
        size up to a page); ``zero`` for ``kzalloc``. Contents are otherwise stale."""
        if size <= 0:
            return 0x10  # ZERO_SIZE_PTR
        cache = kmalloc_size(size)
        addr = self.heap.alloc(cache, min(cache, PAGE_SIZE) if cache & (cache - 1) == 0 else 8)
        if zero:
            self.mem.uc.mem_write(host_addr(addr), bytes(cache))
        return addr

    def kzalloc(self, size: int) -> int:
        return self.kmalloc(size, zero=True)

    def kfree(self, addr: int) -> None:
        """``kfree``: frees and poisons the block with 0x6b (SLUB ``POISON_FREE``)."""
        if addr in (0, 0x10):
            return
        if addr not in self.heap.used:
            raise KernelError(22, f"kfree of {addr:#x}, which kmalloc did not return")
        size = self.heap.release(addr)
        self.mem.uc.mem_write(host_addr(addr), b"\x6b" * size)

    def vmalloc(self, size: int, *, zero: bool = True) -> int:
        """``vzalloc``: page-granular memory in the vmalloc area."""
        size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        addr = self.vmalloc_heap.alloc(size, PAGE_SIZE)
        self.mem.materialize_range(addr, size)
        if zero:
            self.mem.uc.mem_write(host_addr(addr), bytes(size))
        return addr

    def vfree(self, addr: int) -> None:
        self.vmalloc_heap.release(addr)

    def kdata_alloc(self, size: int, align: int = 8) -> int:
        """Static kernel data (``.data``): never freed (reset returns it)."""
        a = (self.kdata_next + align - 1) & ~(align - 1)
        if a + size > KDATA_BASE + KDATA_SIZE:
            raise KernelError(12, "kernel data is full")
        self.kdata_next = a + size
        self.mem.materialize_range(a, size)
        self.mem.uc.mem_write(host_addr(a), bytes(size))
        return a

    def alloc_percpu(self, size: int, align: int = 8) -> int:
        """``alloc_percpu``: a percpu pointer (an address in ``.data..percpu``);
        CPU ``n`` reaches its copy at ``percpu_addr(ptr, n)`` or ``%gs:ptr``."""
        try:
            a = self.percpu_heap.alloc(size, align)
        except KernelError:
            raise KernelError(12, "per-CPU area is full") from None
        for cpu in range(self.nr_cpus):
            self.mem.uc.mem_write(host_addr(self.percpu_addr(a, cpu)), bytes(size))
        return a

    def alloc_percpu_many(self, count: int, size: int, align: int = 8) -> list[int]:
        """``count`` pointers of :meth:`alloc_percpu`, or none: on ``-ENOMEM`` the ones already
        taken are given back (what ``bpf_array_alloc_percpu`` and the hash maps' ``prealloc_init``
        do on failure)."""
        out: list[int] = []
        try:
            for _ in range(count):
                out.append(self.alloc_percpu(size, align))
        except KernelError:
            for ptr in out:
                self.free_percpu(ptr)
            raise
        return out

    def free_percpu(self, ptr: int) -> None:
        """``free_percpu``: give a pointer from :meth:`alloc_percpu` back."""
        if ptr not in self.percpu_heap.used:
            raise KernelError(22, f"free_percpu of {ptr:#x}, which alloc_percpu did not return")
        self.percpu_heap.release(ptr)

    def percpu_addr(self, ptr: int, cpu: int) -> int:
        """``per_cpu_ptr(ptr, cpu)``."""
        return self.percpu_areas[cpu] + (ptr - PERCPU_BASE)

    def init_percpu_statics(self) -> None:
        """The static per-CPU variables of every CPU: zero but ``this_cpu_off`` and ``cpu_number``."""
        write, hp, n = RAW.uc_mem_write, self.mem._hp, ctypes.c_uint64(PCPU.dynamic)
        for area, static in zip(self.percpu_areas, self._percpu_statics):
            if write(hp, ctypes.c_uint64(host_addr(area)), static, n):  # pragma: no cover
                raise InternalError("per-CPU area not mapped")

    def snapshot(self) -> tuple[Any, ...]:
        """What :meth:`restore` brings back: every allocator's state but vmalloc's
        (which a reset empties)."""
        return (self.kdata_next, list(self.percpu_heap.free), dict(self.percpu_heap.used), list(self.heap.free),
                dict(self.heap.used))

    def restore(self, snap: tuple[Any, ...]) -> None:
        """Back to a :meth:`snapshot` (memory contents are not touched but the
        per-CPU statics'); vmalloc is emptied."""
        self.kdata_next, pfree, pused, free, used = snap
        self.percpu_heap.free = list(pfree)
        self.percpu_heap.used = dict(pused)
        self.heap.free = list(free)
        self.heap.used = dict(used)
        self.init_percpu_statics()
        self.vmalloc_heap.reset()
