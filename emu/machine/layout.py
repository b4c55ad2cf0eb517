"""The emulated kernel's virtual address layout and Unicorn's view of it.

x86-64 Linux (Documentation/arch/x86/x86_64/mm.rst, Linux 6.18, 4-level
paging, CONFIG_RANDOMIZE_BASE as on the host):

=========================  =====================  =======================================
address                    region                 contents
=========================  =====================  =======================================
0xffff888000000000 +16 MiB  direct map: heap       ``kmalloc``/``kfree``, per-CPU areas
0xffffc90000000000          vmalloc                per-CPU kernel stacks (16 KiB, THREAD_SIZE,
                                                   unmapped guard below), ``struct bpf_prog``
0xffffffff81000000          kernel text (R-X)      :mod:`emu.machine.ktext`, helper/kfunc stub page
0xffffffff82000000          kernel data (RW-)      static kernel objects (``kdata``)
0xffffffff83000000          .data..percpu          percpu symbols (not mapped: reached via %gs)
0xffffffffc0000000          modules / BPF (R-X)    bpf_prog_pack: JIT images, trampolines
=========================  =====================  =======================================

Unicorn masks guest addresses to 52 bits (its trap 2): regions are mapped at
``va & (2**52 - 1)`` (:func:`host_addr`) and a Unicorn address is sign-extended
back (:func:`virt_addr`); non-canonical addresses are checked here
(:func:`canonical`), not by Unicorn.
"""

from __future__ import annotations

from dataclasses import dataclass

from unicorn import UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE

from kernel_model.uapi import PAGE_SIZE

__all__ = [
    "PROT_R", "PROT_W", "PROT_X", "PROT_RW", "PROT_RX", "PAGE_SIZE", "THREAD_SIZE", "KTEXT_BASE", "KTEXT_SIZE",
    "STUB_PAGE", "KDATA_BASE", "KDATA_SIZE", "PERCPU_BASE", "PERCPU_SIZE", "MODULES_VADDR", "HEAP_BASE",
    "HEAP_SIZE", "VMALLOC_BASE", "VMALLOC_DATA", "VMALLOC_DATA_SIZE", "M52", "M64", "Region", "host_addr",
    "virt_addr", "canonical",
]

PROT_R, PROT_W, PROT_X = UC_PROT_READ, UC_PROT_WRITE, UC_PROT_EXEC
PROT_RW = PROT_R | PROT_W
PROT_RX = PROT_R | PROT_X

#: arch/x86/include/asm/page_64_types.h (no KASAN)
THREAD_SIZE = 16 * 1024
KTEXT_BASE = 0xFFFF_FFFF_8100_0000
KTEXT_SIZE = 0x10000
STUB_PAGE = KTEXT_BASE + 0x8000
KDATA_BASE = 0xFFFF_FFFF_8200_0000
KDATA_SIZE = 0x10000
PERCPU_BASE = 0xFFFF_FFFF_8300_0000
#: each CPU's per-CPU area (taken from the kmalloc heap): 128 KiB, room for the selftests'
#: per-CPU arrays (strobemeta.o: 32 x 2040-byte values and a 13872-byte sample per CPU,
#: which 64 KiB refused with -ENOMEM; the kernel's per-CPU allocator grows by chunks)
PERCPU_SIZE = 0x20000
#: MODULES_VADDR with CONFIG_RANDOMIZE_BASE (KERNEL_IMAGE_SIZE = 1 GiB), as on the 6.18 host
MODULES_VADDR = 0xFFFF_FFFF_C000_0000
HEAP_BASE = 0xFFFF_8880_0100_0000
HEAP_SIZE = 4 << 20
VMALLOC_BASE = 0xFFFF_C900_0000_0000
VMALLOC_DATA = VMALLOC_BASE + 0x0100_0000
#: lazily mapped, Unicorn pages touched only when used: room for thousands of programs, and
#: for the selftests' largest map areas (a 16 MiB .bss, a 16 MiB array of stack traces: the
#: kernel's vmalloc has gigabytes; 16 MiB here once refused them with -ENOMEM)
VMALLOC_DATA_SIZE = 64 << 20

M52 = (1 << 52) - 1
M64 = (1 << 64) - 1
_HIGH = M64 ^ M52


def host_addr(va: int) -> int:
    """The address Unicorn uses for ``va`` (the 52-bit mask, trap 2)."""
    return va & M52


def virt_addr(host: int) -> int:
    """The virtual address of a Unicorn address (kernel half: sign-extended)."""
    return host | _HIGH if host & (1 << 51) else host


def canonical(va: int) -> bool:
    """x86-64 4-level paging: bits 63..47 all equal."""
    top = (va & M64) >> 47
    return top == 0 or top == (1 << 17) - 1


@dataclass(slots=True)
class Region:
    """A range of the address space: ``base`` (virtual), ``size``, Unicorn
    ``perms``, a name. ``mapped`` is False for a region reserved at creation but
    given to Unicorn only on first touch (zero-filled, like fresh pages): any
    access, from emulated code or from Python, maps it first, so laziness is
    invisible except in cost."""

    name: str
    base: int
    size: int
    perms: int
    mapped: bool = True

    @property
    def end(self) -> int:
        return self.base + self.size
