"""The emulated x86-64 kernel machine (Unicorn).

One :class:`Machine` is an emulated kernel address space with the layout of
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

W^X: text and the BPF packs are read-execute and data is read-write,
no-execute, from the start. As in the kernel since ``bpf_prog_pack`` (5.18),
code is built in a writable buffer (the JIT's ``rw_image``, a Python
``bytearray``) and then copied into the read-only executable pack by
:meth:`Machine.text_copy` (``bpf_arch_text_copy``/``text_poke``): emulated
code can never write it (a write oopses with a permissions violation) and
never execute data (an NX fetch oopses). ``set_memory_rox`` style transitions
of a whole region are available for other users (:meth:`protect`).

Unicorn's traps (shared/reference/unicorn-notes.md) and how they are met:

1. Hooks placed before any code runs: the stub-page code hook, the invalid
   memory hook and the interrupt hook are added in ``__init__`` and never
   change; code written over translated code is dropped from Unicorn's
   translation cache (``ctl_remove_cache``) by :meth:`text_copy`; the cache is
   flushed when runs switch from uncounted to counted (:meth:`_switch_mode`).
2. Guest addresses are masked to 52 bits: regions are mapped at ``va &
   (2**52-1)``; every host-side access goes through :meth:`host_addr`;
   non-canonical addresses are checked by us (a #GP oops).
3. ``timeout`` costs ~90 us per ``emu_start``: only used when a time budget
   is set. The instruction budget is ``count`` (unverified code); verified
   code runs uncounted under the soft-lockup watchdog (:mod:`emu.machine.watchdog`),
   which stops a run from another thread with ``uc_emu_stop``.
4. The return to Python is ``hlt`` at ``__emu_return_to_host``, reached by
   ``ret``; emulation stops at it (``until``) before executing it.

Costs (benchmarks/machine.py, docs/machine.md): only kernel text, the heap
and CPU 0's stack are mapped at creation; the other regions are mapped on
first touch and BPF packs on first allocation (as the kernel creates them);
text and packs are host buffers mapped with ``uc_mem_map_ptr`` (fresh pages
cost ~3.5 us each to touch on this machine kind). The hot path (register
batches, ``emu_start``) uses untyped ctypes calls (:mod:`emu.machine.regs`).

Every ``UcError`` becomes an :class:`~emu.machine.oops.Oops` or a
:class:`MachineBudgetExceeded`; the host process never crashes. ``close()``
frees the Unicorn instance deterministically; ``reset()`` returns the
machine to its state after creation cheaply (allocators, stubs, symbols and
packs, not memory contents: freed memory is not cleared, as in the kernel).
"""

from __future__ import annotations

import bisect
import ctypes
import hashlib
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from unicorn import UC_ARCH_X86, UC_MODE_64, UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, Uc, UcError
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC, HOOK_MEM_INVALID_CFUNC, uclib

from jit.bpf_jit import JitImage, JitOptions, JitProgram, jit_program
from jit.symbols import KernelSymbols
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import BudgetExceeded, ExecFault, InternalError, KernelError
from kernel_model.insn import Insn, encode
from kernel_model.memory import HelperFn
from kernel_model.profile import LATEST, Profile
from kernel_model.prog import BpfProg
from kernel_model.uapi import PAGE_SIZE

from .calls import STUB_SLOTS, STUB_STRIDE, CallTable, RawHandler
from .kallsyms import Kallsyms
from .ktext import PCPU, PROG_ACTIVE_OFF, PROG_STATS_OFF, KText, assemble_ktext
from .oops import REG_ORDER, X86_PF_INSTR, X86_PF_PROT, X86_PF_WRITE, Oops, OopsReport
from .regs import RAW, FastRegs
from .watchdog import SOFT_LOCKUP_S, WATCHDOG

__all__ = [
    "Machine", "MachineBudgetExceeded", "Region", "PROT_R", "PROT_W", "PROT_X", "PROT_RW", "PROT_RX",
    "KTEXT_BASE", "KDATA_BASE", "PERCPU_BASE", "MODULES_VADDR", "HEAP_BASE", "VMALLOC_BASE", "PAGE_SIZE",
    "THREAD_SIZE", "BPF_PROG_CHUNK_SIZE", "PACK_SIZE", "DEFAULT_BUDGET", "BPF_PROG_SIZE", "SOFT_LOCKUP_S",
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
PERCPU_SIZE = 0x10000
#: MODULES_VADDR with CONFIG_RANDOMIZE_BASE (KERNEL_IMAGE_SIZE = 1 GiB), as on the 6.18 host
MODULES_VADDR = 0xFFFF_FFFF_C000_0000
HEAP_BASE = 0xFFFF_8880_0100_0000
HEAP_SIZE = 4 << 20
VMALLOC_BASE = 0xFFFF_C900_0000_0000
VMALLOC_DATA = VMALLOC_BASE + 0x0100_0000
#: lazily mapped, Unicorn pages touched only when used: room for thousands of programs
VMALLOC_DATA_SIZE = 16 << 20
#: kernel/bpf/core.c: BPF_PROG_CHUNK_SIZE; the kernel's pack is 2 MiB per NUMA node,
#: ours 256 KiB (another pack is mapped when one is full)
BPF_PROG_CHUNK_SIZE = 64
PACK_SIZE = 256 * 1024
#: sizeof(struct bpf_binary_header) (u32 size; image[] aligned to 8)
BINARY_HEADER_SIZE = 8
#: sizeof(struct bpf_prog) on the 6.18 host (insnsi[] follows at 96); with ktext's
#: PROG_STATS_OFF (56) and PROG_ACTIVE_OFF (64), the fields alloc_prog_struct fills
BPF_PROG_SIZE = 96
PROG_JITED_LEN_OFF = 16
PROG_TAG_OFF = 20
PROG_BPF_FUNC_OFF = 72
PROG_AUX_OFF = 80
DEFAULT_BUDGET = 50_000_000

_INT3_PACK = b"\xcc" * PACK_SIZE
#: host buffers of packs of closed machines, reused (already faulted in: a first
#: touch of fresh memory costs ~3 us a page on this machine kind, 200 us a pack)
_PACK_POOL: list[ctypes.Array] = []
_PACK_POOL_MAX = 8
_EMPTY_BITMAP = bytes(PACK_SIZE // BPF_PROG_CHUNK_SIZE)
#: regions up to this size are backed by zeroed host buffers when mapped on first touch
_SMALL_REGION = 64 * 1024
M52 = (1 << 52) - 1
M64 = (1 << 64) - 1
_HIGH = M64 ^ M52

_ALL_REGS = (X.UC_X86_REG_RAX, X.UC_X86_REG_RBX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX, X.UC_X86_REG_RSI,
             X.UC_X86_REG_RDI, X.UC_X86_REG_RBP, X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_R10,
             X.UC_X86_REG_R11, X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15,
             X.UC_X86_REG_RSP, X.UC_X86_REG_RIP, X.UC_X86_REG_EFLAGS)
_X86_BY_NUM = (X.UC_X86_REG_RAX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX, X.UC_X86_REG_RBX, X.UC_X86_REG_RSP,
               X.UC_X86_REG_RBP, X.UC_X86_REG_RSI, X.UC_X86_REG_RDI, X.UC_X86_REG_R8, X.UC_X86_REG_R9,
               X.UC_X86_REG_R10, X.UC_X86_REG_R11, X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14,
               X.UC_X86_REG_R15)
#: BPF r0..r9 -> Unicorn register (jit.x86.regs)
_BPF_UC = tuple(_X86_BY_NUM[r] for r in (0, 7, 6, 2, 1, 8, 3, 13, 14, 15))
_CALL_REGS = (X.UC_X86_REG_RSP, X.UC_X86_REG_RBP, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
              X.UC_X86_REG_RCX, X.UC_X86_REG_R8, X.UC_X86_REG_R9)
_MEMBER_REGS = _CALL_REGS + (X.UC_X86_REG_R11,)
_RESULT = (X.UC_X86_REG_RAX, X.UC_X86_REG_RIP)
# UC_MEM_* access types
_ACCESS = {19: ("read", 0), 20: ("write", X86_PF_WRITE), 21: ("fetch", X86_PF_INSTR),
           22: ("write", X86_PF_WRITE | X86_PF_PROT), 23: ("read", X86_PF_PROT),
           24: ("fetch", X86_PF_INSTR | X86_PF_PROT)}


class MachineBudgetExceeded(BudgetExceeded):
    """Emulated code ran past the instruction (or time) budget: a runaway loop.
    ``rip`` and ``rip_symbol`` say where it was stopped; ``index`` is the BPF slot
    when that is inside a JIT image, else -1. ``what`` is ``"instruction"``
    (``count=``), ``"time"`` (``time_budget_us``) or ``"soft lockup"`` (an
    uncounted run stopped by :mod:`emu.machine.watchdog`; ``budget`` is then the
    threshold in seconds)."""

    def __init__(self, budget: float, index: int, rip: int, rip_symbol: str, what: str = "instruction",
                 cpu: int = 0, stuck_s: float = 0.0) -> None:
        self.budget = budget
        self.index = index
        self.rip = rip
        self.rip_symbol = rip_symbol
        self.what = what
        where = f"{rip_symbol}" + (f" (insn {index})" if index >= 0 else "")
        if what == "soft lockup":
            # kernel/watchdog.c watchdog_timer_fn (pr_fmt "watchdog: ")
            msg = f"watchdog: BUG: soft lockup - CPU#{cpu} stuck for {stuck_s:.0f}s! at {where}"
        else:
            msg = f"{what} budget of {budget} exhausted at {where} (runaway loop?)"
        Exception.__init__(self, msg)


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


@dataclass(slots=True)
class _Heap:
    """A first-fit allocator over [base, base+size) with kmalloc-like size classes."""

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


@dataclass(slots=True)
class _Pack:
    """One bpf_prog_pack: a bitmap of 64-byte chunks over a read-execute region
    backed by the host buffer ``buf``."""

    base: int
    used: bytearray
    buf: ctypes.Array


class Machine:
    """An emulated x86-64 kernel: memory, kernel text, stubs, BPF packs, running.

    >>> with Machine() as m:
    ...     m.call(m.kallsyms.addr_of("__bpf_call_base"))
    0
    """

    def __init__(self, profile: Profile = LATEST, *, cpu: CpuConfig = DEFAULT_CPU, nr_cpus: int = 2,
                 budget: int = DEFAULT_BUDGET, seed: int = 0, soft_lockup_s: float = SOFT_LOCKUP_S) -> None:
        self.profile = profile
        #: the CPU, its boot-time mitigations and the x86 build options (kernel_model.cpu)
        self.cpu_config = cpu
        self.nr_cpus = nr_cpus
        self.budget = budget
        #: uncounted runs longer than this (wall clock) stop as a soft lockup (0: never)
        self.soft_lockup_s = soft_lockup_s
        self.time_budget_us = 0
        self.jit_options = JitOptions(profile, cpu)
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.fast = FastRegs(self.uc)
        self._hp = self.fast.hp
        #: host buffers mapped with uc_mem_map_ptr: alive until uc_close (close())
        self._bufs: list[ctypes.Array] = []
        self.uc._structops_bufs = self._bufs  # type: ignore[attr-defined]  # outlive the engine
        self._spare_packs: list[ctypes.Array] = []
        self.regions: list[Region] = []
        self._starts: list[int] = []
        self._closed = False
        self._pending: BaseException | None = None
        self._fault: tuple[int, int, int] | None = None
        self._intno = -1
        self.die_counter = 0
        self.seed = seed
        self._rng = seed & M64
        self.images: dict[int, tuple[str, JitImage, JitProgram]] = {}
        self._extable: dict[int, tuple[int, int]] = {}
        self.progs: list[BpfProg] = []
        # run state: whether the translation cache holds counted code (None: nothing
        # translated yet; trap 1), the watchdog's generation (odd while a run is under way)
        self._counted_tbs: bool | None = None
        self._watched = False
        self._wd_gen = 0
        self._wd_fired = -1
        self._wd_consumed = -1
        self._wd_stuck_s = 0.0
        self._run_t0 = 0.0
        # --- kernel text and stubs ------------------------------------------------------
        self.ktext: KText = assemble_ktext(KTEXT_BASE, cpu, PERCPU_BASE)
        stub = _stub_code(self.ktext, cpu)
        page, base_syms = _text_page(self.ktext, stub)
        self._map("kernel text", KTEXT_BASE, KTEXT_SIZE, PROT_RX, content=page)
        self.kallsyms = Kallsyms()
        self.kallsyms.restore(base_syms)
        self.landing = self.ktext.addr("__emu_return_to_host")
        self.calls = CallTable(self, STUB_PAGE, stub(STUB_PAGE))
        self._pack_sizes: dict[int, int] = {}
        self._image_header: dict[int, int] = {}
        # kernel data, vmalloc and the stacks of CPUs other than 0 are mapped on first
        # touch; BPF packs are created by the first allocation, as bpf_prog_pack_alloc does
        self._map("kernel data", KDATA_BASE, KDATA_SIZE, PROT_RW, lazy=True)
        self._kdata_next = KDATA_BASE
        self._map("kmalloc", HEAP_BASE, HEAP_SIZE, PROT_RW)
        self.heap = _Heap(HEAP_BASE, HEAP_SIZE)
        self._map("vmalloc", VMALLOC_DATA, VMALLOC_DATA_SIZE, PROT_RW, lazy=True)
        self.vmalloc_heap = _Heap(VMALLOC_DATA, VMALLOC_DATA_SIZE)
        self.stacks: list[tuple[int, int]] = []
        for cpu in range(nr_cpus):
            lo = VMALLOC_BASE + cpu * (THREAD_SIZE + PAGE_SIZE) + PAGE_SIZE  # guard page below
            if cpu == 0:  # used by the first call: a host buffer (zeroed, already faulted in)
                self._map("stack cpu0", lo, THREAD_SIZE, PROT_RW, buf=(ctypes.c_char * THREAD_SIZE)())
            else:
                self._map(f"stack cpu{cpu}", lo, THREAD_SIZE, PROT_RW, lazy=True)
            self.stacks.append((lo, lo + THREAD_SIZE))
        self.packs: list[_Pack] = []
        # --- per-CPU areas -----------------------------------------------------------------
        self.percpu_areas = [self.heap.alloc(PERCPU_SIZE, PAGE_SIZE) for _ in range(nr_cpus)]
        self._percpu_statics = [_percpu_static(area) for area in self.percpu_areas]
        # the dynamic part of .data..percpu: pcpu_alloc/free_percpu over a first-fit heap
        self.percpu_heap = _Heap(PERCPU_BASE + PCPU.dynamic, PERCPU_SIZE - PCPU.dynamic)
        self._init_percpu_statics()
        self._install_hooks()
        self._add_builtin_stubs()
        self._baseline = self._snapshot()
        # one batch for every call: rsp, rbp, then the argument registers in order, so a
        # call with n arguments writes the first 2 + n entries
        self._call_ids, self._call_ptrs, _, self._call_vals = self.fast._batch(_CALL_REGS)
        self._call_vals[1] = 0  # rbp = 0: the unwinder's end
        self._res_ids, self._res_ptrs, _, self._res_vals = self.fast._batch(_RESULT)
        self._wbatch = RAW.uc_reg_write_batch
        self._rbatch = RAW.uc_reg_read_batch
        self._start = RAW.uc_emu_start
        self._begin = ctypes.c_uint64()
        self._until = ctypes.c_uint64(self.landing)
        self._no_timeout = ctypes.c_uint64(0)
        self._count = ctypes.c_size_t()
        self.cpu = -1
        self.set_cpu(0)

    # --- layout ---------------------------------------------------------------------------
    @staticmethod
    def host_addr(va: int) -> int:
        """The address Unicorn uses for ``va`` (the 52-bit mask, trap 2)."""
        return va & M52

    @staticmethod
    def virt_addr(host: int) -> int:
        """The virtual address of a Unicorn address (kernel half: sign-extended)."""
        return host | _HIGH if host & (1 << 51) else host

    @staticmethod
    def canonical(va: int) -> bool:
        """x86-64 4-level paging: bits 63..47 all equal."""
        top = (va & M64) >> 47
        return top == 0 or top == (1 << 17) - 1

    def _map(self, name: str, base: int, size: int, perms: int, *, lazy: bool = False,
             content: bytes | None = None, buf: ctypes.Array | None = None) -> Region:
        """Add a region. ``content``/``buf``: back it with a host buffer (a copy of
        ``content``, or ``buf`` itself) through ``uc_mem_map_ptr``: for regions that
        are written whole at once (kernel text, packs), host memory that is already
        faulted in is ~10x cheaper than first touches of Unicorn's own pages.
        ``lazy``: reserve the range now, map it on first touch (:meth:`_materialize`)."""
        if base % PAGE_SIZE or size % PAGE_SIZE:
            raise InternalError(f"region {name} not page aligned")
        if content is not None:
            buf = (ctypes.c_char * size).from_buffer_copy(content.ljust(size, b"\0"))
        if buf is not None:
            if not any(b is buf for b in self._bufs):  # a pack buffer may come back
                self._bufs.append(buf)
            self.uc.mem_map_ptr(self.host_addr(base), size, perms, ctypes.addressof(buf))
        elif not lazy:
            self.uc.mem_map(self.host_addr(base), size, perms)
        reg = Region(name, base, size, perms, not lazy)
        k = bisect.bisect_left(self._starts, base)
        self._starts.insert(k, base)
        self.regions.insert(k, reg)
        return reg

    def _materialize(self, reg: Region) -> None:
        """Give a lazily reserved region to Unicorn, zero-filled: small ones as a
        zeroed host buffer (cheaper to map and already faulted in), large ones as
        Unicorn memory (its pages are only touched when used)."""
        if not reg.mapped:
            if reg.size <= _SMALL_REGION:
                buf = (ctypes.c_char * reg.size)()
                self._bufs.append(buf)
                self.uc.mem_map_ptr(self.host_addr(reg.base), reg.size, reg.perms, ctypes.addressof(buf))
            else:
                self.uc.mem_map(self.host_addr(reg.base), reg.size, reg.perms)
            reg.mapped = True

    def _materialize_range(self, addr: int, size: int) -> bool:
        """Map every lazy region overlapping [addr, addr+size); True if one was."""
        done = False
        k = bisect.bisect_right(self._starts, addr) - 1
        for reg in self.regions[max(k, 0):]:
            if reg.base >= addr + size:
                break
            if reg.end > addr and not reg.mapped:
                self._materialize(reg)
                done = True
        return done

    def map_region(self, name: str, base: int, size: int, perms: int = PROT_RW, data: bytes = b"") -> Region:
        """Map a new region (page aligned, rounded up) and write ``data`` at its start."""
        size = max(PAGE_SIZE, (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
        for r in self.regions:
            if base < r.end and r.base < base + size:
                raise KernelError(16, f"region {name!r} overlaps {r.name!r}")  # EBUSY
        reg = self._map(name, base, size, perms)
        if data:
            self.uc.mem_write(self.host_addr(base), bytes(data))
        return reg

    def unmap_region(self, base: int) -> None:
        k = bisect.bisect_left(self._starts, base)
        if k >= len(self._starts) or self._starts[k] != base:
            raise KernelError(22, f"no region at {base:#x}")
        reg = self.regions[k]
        if reg.mapped:
            self.uc.mem_unmap(self.host_addr(base), reg.size)
        del self.regions[k]
        del self._starts[k]

    def protect(self, base: int, size: int, perms: int) -> None:
        """Change the permissions of a whole region (``set_memory_ro/x``), which
        Unicorn does cheaply only for a whole mapping (unicorn-notes.md)."""
        reg = self.region_of(base)
        if reg is None or reg.base != base or reg.size != size:
            raise KernelError(22, "protect() works on whole regions")
        if reg.mapped:
            self.uc.mem_protect(self.host_addr(base), size, perms)
        reg.perms = perms

    def region_of(self, va: int) -> Region | None:
        k = bisect.bisect_right(self._starts, va) - 1
        if k >= 0 and va < self.regions[k].end:
            return self.regions[k]
        return None

    # --- memory (GuestMemory) ----------------------------------------------------------------
    def _check(self, addr: int, size: int, write: bool) -> None:
        reg = self.region_of(addr)
        if (not self.canonical(addr) or reg is None or addr + size > reg.end
                or not reg.perms & (PROT_W if write else PROT_R)):
            raise self._helper_fault(addr, "write" if write else "read", reg is not None)
        if not reg.mapped:
            self._materialize(reg)

    def read(self, addr: int, size: int) -> bytes:
        """Read emulated memory (helpers; Python views). Oopses where unmapped."""
        addr &= M64
        if size <= 0:
            return b""
        self._check(addr, size, False)
        return bytes(self.uc.mem_read(self.host_addr(addr), size))

    def write(self, addr: int, data: bytes) -> None:
        """Write emulated memory; oopses where unmapped or read-only (use
        :meth:`text_copy` for code)."""
        addr &= M64
        if not data:
            return
        self._check(addr, len(data), True)
        self.uc.mem_write(self.host_addr(addr), bytes(data))

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & M64).to_bytes(8, "little"))

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFF_FFFF).to_bytes(4, "little"))

    def poke(self, addr: int, data: bytes) -> None:
        """Write ignoring permissions (the kernel's ``text_poke``/``copy_to_kernel_nofault``);
        raises KernelError where unmapped."""
        if self._closed:
            raise KernelError(9, "the machine is closed")  # EBADF
        data = bytes(data)
        h = ctypes.c_uint64(self.host_addr(addr))
        n = ctypes.c_uint64(len(data))
        if RAW.uc_mem_write(self._hp, h, data, n):
            if not (self._materialize_range(addr, len(data)) and not RAW.uc_mem_write(self._hp, h, data, n)):
                raise KernelError(14, f"{len(data)} bytes at {addr:#x} are not mapped")  # EFAULT

    def peek(self, addr: int, size: int) -> bytes:
        """Read ignoring permissions; raises KernelError where unmapped."""
        try:
            return bytes(self.uc.mem_read(self.host_addr(addr), size))
        except UcError:
            if self._materialize_range(addr, size):
                return self.peek(addr, size)
            raise KernelError(14, f"{size} bytes at {addr:#x} are not mapped") from None  # EFAULT

    # --- allocators ----------------------------------------------------------------------------
    def kmalloc(self, size: int, *, zero: bool = False) -> int:
        """``kmalloc``: a block from the kmalloc cache of ``size`` (aligned to its
        size up to a page); ``zero`` for ``kzalloc``. Contents are otherwise stale."""
        if size <= 0:
            return 0x10  # ZERO_SIZE_PTR
        cache = kmalloc_size(size)
        addr = self.heap.alloc(cache, min(cache, PAGE_SIZE) if cache & (cache - 1) == 0 else 8)
        if zero:
            self.uc.mem_write(self.host_addr(addr), bytes(cache))
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
        self.uc.mem_write(self.host_addr(addr), b"\x6b" * size)

    def vmalloc(self, size: int, *, zero: bool = True) -> int:
        """``vzalloc``: page-granular memory in the vmalloc area."""
        size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        addr = self.vmalloc_heap.alloc(size, PAGE_SIZE)
        self._materialize_range(addr, size)
        if zero:
            self.uc.mem_write(self.host_addr(addr), bytes(size))
        return addr

    def vfree(self, addr: int) -> None:
        self.vmalloc_heap.release(addr)

    def kdata_alloc(self, size: int, align: int = 8) -> int:
        """Static kernel data (``.data``): never freed (reset returns it)."""
        a = (self._kdata_next + align - 1) & ~(align - 1)
        if a + size > KDATA_BASE + KDATA_SIZE:
            raise KernelError(12, "kernel data is full")
        self._kdata_next = a + size
        self._materialize_range(a, size)
        self.uc.mem_write(self.host_addr(a), bytes(size))
        return a

    def alloc_percpu(self, size: int, align: int = 8) -> int:
        """``alloc_percpu``: a percpu pointer (an address in ``.data..percpu``);
        CPU ``n`` reaches its copy at ``percpu_addr(ptr, n)`` or ``%gs:ptr``."""
        try:
            a = self.percpu_heap.alloc(size, align)
        except KernelError:
            raise KernelError(12, "per-CPU area is full") from None
        for cpu in range(self.nr_cpus):
            self.uc.mem_write(self.host_addr(self.percpu_addr(a, cpu)), bytes(size))
        return a

    def free_percpu(self, ptr: int) -> None:
        """``free_percpu``: give a pointer from :meth:`alloc_percpu` back."""
        if ptr not in self.percpu_heap.used:
            raise KernelError(22, f"free_percpu of {ptr:#x}, which alloc_percpu did not return")
        self.percpu_heap.release(ptr)

    def _init_percpu_statics(self) -> None:
        """The static per-CPU variables of every CPU: zero but ``this_cpu_off``."""
        write, hp, n = RAW.uc_mem_write, self._hp, ctypes.c_uint64(PCPU.dynamic)
        for area, static in zip(self.percpu_areas, self._percpu_statics):
            if write(hp, ctypes.c_uint64(self.host_addr(area)), static, n):  # pragma: no cover
                raise InternalError("per-CPU area not mapped")

    def percpu_addr(self, ptr: int, cpu: int) -> int:
        """``per_cpu_ptr(ptr, cpu)``."""
        return self.percpu_areas[cpu] + (ptr - PERCPU_BASE)

    # --- BPF text: bpf_prog_pack --------------------------------------------------------------
    def _new_pack(self) -> _Pack:
        """``alloc_new_pack``: a read-execute pack filled with int3
        (``bpf_fill_ill_insns`` = ``jit_fill_hole``), at the lowest free pack slot."""
        taken = {p.base for p in self.packs}
        k = 0
        while MODULES_VADDR + k * PACK_SIZE in taken:
            k += 1
        base = MODULES_VADDR + k * PACK_SIZE
        if self._spare_packs:
            buf = self._spare_packs.pop()
        elif _PACK_POOL:
            buf = _PACK_POOL.pop()
        else:
            buf = (ctypes.c_char * PACK_SIZE)()
        ctypes.memmove(buf, _INT3_PACK, PACK_SIZE)
        self._map(f"bpf_prog_pack{k}", base, PACK_SIZE, PROT_RX, buf=buf)
        pack = _Pack(base, bytearray(PACK_SIZE // BPF_PROG_CHUNK_SIZE), buf)
        self.packs.append(pack)
        self.packs.sort(key=lambda p: p.base)
        return pack

    def _release_pack(self, pack: _Pack) -> None:
        """The end of ``bpf_prog_pack_free`` when no chunk is in use: the pack goes
        (its host buffer stays with this machine until close, then is pooled)."""
        self.uc.ctl_remove_cache(self.host_addr(pack.base), self.host_addr(pack.base) + PACK_SIZE)
        self.unmap_region(pack.base)
        self.packs.remove(pack)
        self._spare_packs.append(pack.buf)

    def pack_alloc(self, size: int) -> int:
        """``bpf_prog_pack_alloc``: 64-byte chunks of a read-execute pack, first fit
        (int3-filled); a new pack when none has room (the first one at the first
        allocation, as in the kernel). Used for JIT images and trampolines."""
        n = (size + BPF_PROG_CHUNK_SIZE - 1) // BPF_PROG_CHUNK_SIZE
        if n > PACK_SIZE // BPF_PROG_CHUNK_SIZE:
            raise KernelError(12, f"{size} bytes do not fit in a bpf_prog_pack")
        need = bytes(n)
        for pack in self.packs + [None]:  # type: ignore[list-item]
            if pack is None:
                pack = self._new_pack()
            k = pack.used.find(need)
            if k >= 0:
                pack.used[k:k + n] = b"\x01" * n
                self._pack_sizes[pack.base + k * BPF_PROG_CHUNK_SIZE] = n
                return pack.base + k * BPF_PROG_CHUNK_SIZE
        raise InternalError("unreachable")  # pragma: no cover

    def pack_free(self, addr: int) -> None:
        """``bpf_prog_pack_free`` (kernel/bpf/core.c, 6.12-6.18): int3 over the chunks
        (``bpf_arch_text_invalidate``), and the whole pack freed once no chunk of it
        is in use."""
        n = self._pack_sizes.pop(addr)
        for pack in self.packs:
            if pack.base <= addr < pack.base + PACK_SIZE:
                k = (addr - pack.base) // BPF_PROG_CHUNK_SIZE
                pack.used[k:k + n] = bytes(n)
                if pack.used == _EMPTY_BITMAP:
                    self._release_pack(pack)  # its buffer is int3-filled again on reuse
                else:
                    self.text_copy(addr, b"\xcc" * (n * BPF_PROG_CHUNK_SIZE))
                return

    def text_copy(self, addr: int, data: bytes) -> None:
        """``bpf_arch_text_copy``: write code into read-execute text and drop any
        translation of it (Unicorn keeps translated blocks across writes). Inside a
        BPF pack the bytes go straight into the pack's host buffer, which Unicorn
        maps (``uc_mem_map_ptr``): a memmove instead of Unicorn's page-by-page
        write path (~0.5 instead of ~7 us per 4 KiB)."""
        h = self.host_addr(addr)
        n = len(data)
        for pack in self.packs:
            if pack.base <= addr and addr + n <= pack.base + PACK_SIZE:
                ctypes.memmove(ctypes.addressof(pack.buf) + (addr - pack.base), bytes(data), n)
                break
        else:
            self.uc.mem_write(h, bytes(data))
        self.uc.ctl_remove_cache(h, h + n)

    def jit_binary_pack_alloc(self, proglen: int) -> int:
        """``bpf_jit_binary_pack_alloc``: a pack block of ``round_up(proglen + 8 + 16,
        64)`` bytes whose ``bpf_binary_header.size`` is written at its start, with
        the image at a random 4-byte aligned offset into the first chunk's hole
        (``get_random_u32_below``: here a per-machine seeded generator)."""
        size = -(-(proglen + BINARY_HEADER_SIZE + 16) // BPF_PROG_CHUNK_SIZE) * BPF_PROG_CHUNK_SIZE
        header = self.pack_alloc(size)
        self.text_copy(header, struct.pack("<I", size))
        hole = min(size - (proglen + BINARY_HEADER_SIZE), BPF_PROG_CHUNK_SIZE - BINARY_HEADER_SIZE)
        start = self._random_below(hole) & ~3  # alignment = __alignof__(exception_table_entry)
        image = header + BINARY_HEADER_SIZE + start
        self._image_header[image] = header
        return image

    def _random_below(self, n: int) -> int:
        """``get_random_u32_below(n)`` from a per-machine splitmix64 stream seeded by
        ``seed``: deterministic runs, and a reset is one assignment."""
        self._rng = x = (self._rng + 0x9E37_79B9_7F4A_7C15) & M64
        x = ((x ^ (x >> 30)) * 0xBF58_476D_1CE4_E5B9) & M64
        x = ((x ^ (x >> 27)) * 0x94D0_49BB_1331_11EB) & M64
        return ((x ^ (x >> 31)) >> 32) * n >> 32

    def alloc_trampoline(self, size: int = PAGE_SIZE) -> int:
        """``arch_alloc_bpf_trampoline``: ``bpf_prog_pack_alloc(size, jit_fill_hole)``,
        64-byte aligned (the struct_ops maps take a PAGE_SIZE image per page)."""
        return self.pack_alloc(size)

    def free_trampoline(self, addr: int) -> None:
        self.pack_free(addr)

    # --- BPF programs ------------------------------------------------------------------------------
    def kernel_symbols(self, recur: bool = False) -> KernelSymbols:
        """What JIT images and trampolines refer to, from kallsyms (``recur``: the
        trampolines' ``_recur`` enter/exit, which model ``prog->active``); the return
        thunk is the CPU configuration's."""
        ks = self.kallsyms
        thunk = self.cpu_config.return_thunk
        s = "_recur" if recur else ""
        return KernelSymbols(call_base=ks.addr_of("__bpf_call_base"), return_thunk=ks.addr_of(thunk) if thunk else 0,
                             call_depth=ks.addr_of("pcpu_hot"), this_cpu_off=ks.addr_of("this_cpu_off"),
                             timed_may_goto=ks.addr_of("arch_bpf_timed_may_goto"),
                             prog_enter=ks.addr_of(f"__bpf_prog_enter{s}"), prog_exit=ks.addr_of(f"__bpf_prog_exit{s}"),
                             prog_enter_sleepable=ks.addr_of(f"__bpf_prog_enter_sleepable{s}"),
                             prog_exit_sleepable=ks.addr_of(f"__bpf_prog_exit_sleepable{s}"))

    @property
    def jit_symbols(self) -> KernelSymbols:
        """:meth:`kernel_symbols` for the JIT."""
        return self.kernel_symbols()

    def trampoline_symbols(self, recur: bool = False) -> KernelSymbols:
        """:meth:`kernel_symbols` for the trampolines."""
        return self.kernel_symbols(recur)

    def call_imm(self, target: int) -> int:
        """A CALL immediate for ``target``: ``target - __bpf_call_base`` (``BPF_CALL_IMM``)."""
        rel = (target - self.ktext.addr("__bpf_call_base")) & M64
        rel = rel - (1 << 64) if rel >> 63 else rel
        if not -(1 << 31) <= rel < 1 << 31:
            raise KernelError(34, f"call target {target:#x} out of range")  # ERANGE
        return rel

    def alloc_prog_struct(self, prog: BpfProg) -> int:
        """``bpf_prog_alloc``: a ``struct bpf_prog`` (6.18 layout, insnsi[] at 96) in
        vmalloc, with ``active`` (per-CPU int) and ``stats`` (per-CPU bpf_prog_stats)."""
        n = len(prog.insns)
        addr = self.vmalloc(BPF_PROG_SIZE + 8 * n)
        active = self.alloc_percpu(4, 4)
        stats = self.alloc_percpu(32, 8)
        aux = self.kzalloc(64)
        pages = (BPF_PROG_SIZE + 8 * n + PAGE_SIZE - 1) // PAGE_SIZE
        hdr = bytearray(BPF_PROG_SIZE)
        struct.pack_into("<HHIIII", hdr, 0, pages, 0x1 | 0x2 | 0x4, prog.prog_type, prog.expected_attach_type,
                         n, 0)
        hdr[PROG_TAG_OFF:PROG_TAG_OFF + 8] = _prog_tag(prog.insns)
        for off, ptr in ((PROG_STATS_OFF, stats), (PROG_ACTIVE_OFF, active), (PROG_AUX_OFF, aux)):
            struct.pack_into("<Q", hdr, off, ptr)
        if prog.sleepable:
            hdr[3] |= 0x80  # the 'sleepable' bit (byte 3, bit 7 on the host's BTF)
        self.poke(addr, bytes(hdr) + encode(prog.insns))
        prog.addr = addr
        return addr

    def free_prog_struct(self, prog: BpfProg) -> None:
        """``__bpf_prog_free``: the ``struct bpf_prog`` of :meth:`alloc_prog_struct`, its
        per-CPU ``active`` and ``stats`` and its aux block; ``prog.addr`` becomes 0."""
        if not prog.addr:
            return
        stats, active, aux = (int.from_bytes(self.peek(prog.addr + off, 8), "little")
                              for off in (PROG_STATS_OFF, PROG_ACTIVE_OFF, PROG_AUX_OFF))
        for ptr in (stats, active):
            if ptr:
                self.free_percpu(ptr)
        if aux:
            self.kfree(aux)
        self.vfree(prog.addr)
        prog.addr = 0
        if prog in self.progs:
            self.progs.remove(prog)

    def load_prog(self, prog: BpfProg, *, starts: Sequence[int] = (0,), stack_depths: Sequence[int] | None = None,
                  insns: Sequence[Insn] | None = None, was_classic: bool = False) -> JitProgram:
        """Allocate ``struct bpf_prog``, JIT ``insns`` (default ``prog.insns``, which must
        already be fixed up: see :func:`verifier.fixups.fixup_for_jit`), place the
        images in the BPF pack and name them in kallsyms (``bpf_prog_<tag>_<name>``,
        subprograms ``bpf_prog_<tag>_F``). Sets ``prog.addr``, ``prog.bpf_func``,
        ``prog.jited``."""
        code = list(insns if insns is not None else prog.insns)
        if not prog.addr:
            self.alloc_prog_struct(prog)
        jp = self.jit(code, starts=starts, stack_depths=stack_depths, name=prog.name or "",
                      was_classic=was_classic, tag=_prog_tag(prog.insns).hex())
        prog.bpf_func = jp.bpf_func
        prog.jited = b"".join(img.code for img in jp.funcs)
        self.poke(prog.addr + PROG_JITED_LEN_OFF, struct.pack("<I", len(jp.funcs[0].code)))
        self.poke(prog.addr + PROG_BPF_FUNC_OFF, struct.pack("<Q", jp.bpf_func))
        self.progs.append(prog)
        return jp

    def jit(self, insns: Sequence[Insn], *, starts: Sequence[int] = (0,),
            stack_depths: Sequence[int] | None = None, name: str = "", was_classic: bool = False,
            tag: str | None = None) -> JitProgram:
        """JIT instructions into the BPF pack (no ``struct bpf_prog``). ``starts``: where
        each function begins (the verifier's subprogram starts; one function by
        default), ``stack_depths`` its stack depth (0 each by default)."""
        jp = jit_program(list(insns), self.jit_binary_pack_alloc, starts=starts, stack_depths=stack_depths,
                         options=self.jit_options, symbols=self.jit_symbols, was_classic=was_classic)
        tag = tag or _prog_tag(insns).hex()
        for f, img in enumerate(jp.funcs):
            self.text_copy(img.addr, img.code)
            sym = f"bpf_prog_{tag}_{name if f == 0 else 'F'}"
            if self.kallsyms.find_symbol_by_name(sym) is not None:
                sym = f"{sym}_{img.addr & 0xFFFFF:05x}"
            self.kallsyms.add(sym, img.addr, len(img.code), "t", "bpf")
            self.images[img.addr] = (sym, img, jp)
            for ex in img.extable:
                from jit.x86.regs import BPF_TO_X86
                reg = _X86_BY_NUM[BPF_TO_X86[ex.dst]] if ex.dst >= 0 else -1
                self._extable[img.addr + ex.insn] = (ex.length, reg)
        return jp

    def free_jit(self, jp: JitProgram) -> None:
        """``bpf_jit_free``: release the images of ``jp`` (int3 over their chunks)."""
        for img in jp.funcs:
            sym, _, _ = self.images.pop(img.addr)
            self.kallsyms.remove(sym)
            for ex in img.extable:
                self._extable.pop(img.addr + ex.insn, None)
            header = self._image_header.pop(img.addr)
            self.pack_free(header)

    def image_at(self, addr: int) -> tuple[str, JitImage, JitProgram] | None:
        """The JIT image (symbol, image, program) containing ``addr``."""
        sym = self.kallsyms.lookup(addr)
        if sym is None or sym.module != "bpf":
            return None
        return self.images.get(sym.addr)

    # --- helpers and kfuncs ------------------------------------------------------------------
    def add_stub(self, name: str, fn: HelperFn | None = None, *, raw: RawHandler | None = None,
                 kind: str = "helper") -> int:
        """A Python-serviced kernel function (see :mod:`emu.machine.calls`); returns its address."""
        return self.calls.add(name, fn, raw=raw, kind=kind)

    def helper_imms(self, helpers: Mapping[int, HelperFn], prefix: str = "bpf_helper_") -> dict[int, int]:
        """Bind helpers by id to stubs; returns ``{helper id: call imm}`` for
        :func:`verifier.fixups.fixup_for_jit`."""
        from kernel_model.helper_ids import HELPER_NAMES

        out = {}
        for hid, fn in helpers.items():
            name = f"bpf_{HELPER_NAMES[hid]}" if 0 < hid < len(HELPER_NAMES) else f"{prefix}{hid}"
            if name in self.calls.by_name:
                name = f"{prefix}{hid}"
            addr = self.calls.by_name[name].addr if name in self.calls.by_name else self.add_stub(name, fn)
            out[hid] = self.call_imm(addr)
        return out

    def _add_builtin_stubs(self) -> None:
        self.add_stub("arch_bpf_timed_may_goto", raw=_timed_may_goto, kind="kernel")
        self.calls.persistent("arch_bpf_timed_may_goto")

    # --- running ------------------------------------------------------------------------------
    def set_cpu(self, cpu: int) -> None:
        """Run on ``cpu`` from now on: its stack and its GS base (per-CPU area)."""
        if not 0 <= cpu < self.nr_cpus:
            raise KernelError(22, f"cpu {cpu} does not exist ({self.nr_cpus} cpus)")
        if cpu != self.cpu:
            self.cpu = cpu
            self.fast.write(X.UC_X86_REG_GS_BASE, (self.percpu_areas[cpu] - PERCPU_BASE) & M64)
            self._sp = self.stacks[cpu][1] - 16
            self._landing_bytes = self.landing.to_bytes(8, "little")
            self._restore_stack()

    def call(self, addr: int, args: Sequence[int] = (), *, budget: int | None = None) -> int:
        """Call the function at ``addr`` with up to 6 register arguments
        (rdi, rsi, rdx, rcx, r8, r9); returns rax. One ``emu_start``; registers go
        through one batched write (rsp, rbp and the arguments given).

        ``budget``: instructions for this run (default: the machine's ``budget``);
        0 runs uncounted under the soft-lockup watchdog (verified code: see
        :meth:`run`)."""
        n = len(args)
        if n > 6:
            raise KernelError(7, "more than 6 register arguments")  # E2BIG
        vals = self._call_vals
        vals[0] = self._sp
        for k in range(n):
            vals[2 + k] = args[k]  # c_uint64 slots store modulo 2**64
        self._wbatch(self._hp, self._call_ids, self._call_ptrs, 2 + n)
        count = self.budget if budget is None else budget
        if (count != 0) is not self._counted_tbs:
            self._switch_mode(count)
        if self.time_budget_us:
            return self._run_timed(addr, count)
        self._begin.value = addr
        self._count.value = count
        self._wd_gen += 1
        err = self._start(self._hp, self._begin, self._until, self._no_timeout, self._count)
        self._wd_gen += 1
        if not err and self._pending is None:
            self._rbatch(self._hp, self._res_ids, self._res_ptrs, 2)
            if self._res_vals[1] == self.landing:
                return self._res_vals[0]
        return self._finish(err, count)

    def call_member(self, kdata_addr: int, member_offset: int, args: Sequence[int] = (), *,
                    budget: int | None = None) -> int:
        """``ops->member(args)``: the kernel-text indirect caller loads the function
        pointer at ``kdata_addr + member_offset`` and calls it (through the retpoline
        when on); returns rax. A NULL member oopses with the caller in the trace."""
        f = self.fast
        a = list(args) + [0] * (6 - len(args))
        if len(a) > 6:
            raise KernelError(7, "more than 6 register arguments")
        f.write_many(_MEMBER_REGS, [self._sp, 0, a[0], a[1], a[2], a[3], a[4], a[5],
                                    kdata_addr + member_offset])
        return self._run(self.ktext.addr("bpf_struct_ops_call_member"), budget)

    def run_loop(self, func: int, ctx: int, repeat: int, *, budget: int | None = None) -> int:
        """The in-emulator loop (``bpf_test_run_loop``): call ``func(ctx)`` ``repeat``
        times in one ``emu_start``; returns the last rax."""
        return self.call(self.ktext.addr("bpf_test_run_loop"), (func, ctx, repeat), budget=budget)

    def _switch_mode(self, count: int) -> None:
        """Counted and uncounted runs on one engine (unicorn-notes.md trap 1).

        Unicorn 2.1.4's ``uc_emu_start`` adds its instruction-count hook at the first
        counted run but does not retranslate: blocks translated by an uncounted run
        would never count (a runaway loop would hang), so the cache is flushed
        here first (~40 us, once per switch). Going the other way Unicorn removes
        the hook and flushes by itself. Uncounted runs are sampled by the
        soft-lockup watchdog (:mod:`emu.machine.watchdog`)."""
        if count:
            if self._counted_tbs is False:
                self.uc.ctl_flush_tb()
            self._counted_tbs = True
        else:
            self._counted_tbs = False
            if not self._watched:
                self._watched = True
                WATCHDOG.watch(self)

    def _run(self, begin: int, budget: int | None) -> int:
        count = self.budget if budget is None else budget
        if (count != 0) is not self._counted_tbs:
            self._switch_mode(count)
        if self.time_budget_us:
            return self._run_timed(begin, count)
        self._wd_gen += 1
        err = self.fast.start(begin, self.landing, count)
        self._wd_gen += 1
        return self._finish(err, count)

    def _run_timed(self, begin: int, count: int) -> int:
        """A run under Unicorn's timer thread (``time_budget_us``, trap 3: ~90 us)."""
        self._run_t0 = time.monotonic()
        self._wd_gen += 1
        err = self.fast.start(begin, self.landing, count, self.time_budget_us)
        self._wd_gen += 1
        return self._finish(err, count)

    def _finish(self, err: int, count: int) -> int:
        """The slow path after ``emu_start``: pending hook exceptions, fault fixups
        and oopses, watchdog stops, budget exhaustion."""
        f = self.fast
        while True:
            if self._pending is not None:
                exc, self._pending = self._pending, None
                self._fault = None
                self._restore_stack()
                raise exc
            if err:
                resumed = self._fixup(err)
                if resumed is None:
                    self._restore_stack()
                    raise self._oops(err)
                err = self._resume(resumed, count)
                continue
            rax, rip = f.read_many(_RESULT)
            if rip == self.landing:
                return rax
            run = self._wd_gen - 1
            if self._wd_fired == run:
                self._wd_consumed = run
                self._restore_stack()
                raise self._lockup_error(rip)
            if self._wd_fired > self._wd_consumed:
                # a stop aimed at an earlier run landed in this one: carry on
                self._wd_consumed = self._wd_fired
                err = self._resume(rip, count)
                continue
            self._restore_stack()
            raise self._budget_error(rip, count)

    def _resume(self, rip: int, count: int) -> int:
        self._wd_gen += 1  # a new run for the watchdog
        err = self.fast.start(rip, self.landing, count, self.time_budget_us)
        self._wd_gen += 1
        return err

    def _restore_stack(self) -> None:
        """The return address into the host at the top of the stack (a fault may
        have left anything there)."""
        self.poke(self._sp, self._landing_bytes)

    def stop_with(self, exc: BaseException) -> None:
        """From a hook: stop the emulation and raise ``exc`` from the call."""
        if self._pending is None:
            self._pending = exc
        RAW.uc_emu_stop(self._hp)

    def stop_at_bpf_caller(self, kind: str, detail: str) -> None:
        """From a stub's handler: stop with an :class:`ExecFault` naming the BPF
        instruction that called the stub (found from the return address on the
        stack), for calls the emulated kernel cannot serve (an unknown helper, a
        context field it does not model)."""
        ret = self.read_u64(self.fast.read(X.UC_X86_REG_RSP))
        img = self.image_at(ret)
        idx = -1
        if img is not None:
            loc = img[2].locate(ret - 1)
            if loc is not None:
                idx = loc[1]
        self.stop_with(ExecFault(kind, idx, None, detail))

    def fault_unbound_stub(self, addr: int) -> None:
        self.stop_with(KernelError(38, f"call to {addr:#x}, a stub with no handler"))  # ENOSYS

    # --- faults --------------------------------------------------------------------------------
    def _install_hooks(self) -> None:
        self._mem_cb = HOOK_MEM_INVALID_CFUNC(self._on_mem_invalid)
        self._intr_cb = HOOK_INTR_CFUNC(self._on_intr)
        self._hooks: list[ctypes.c_size_t] = []
        for kind, cb in ((0x3F0, self._mem_cb), (1, self._intr_cb)):  # UC_HOOK_MEM_INVALID, UC_HOOK_INTR
            h = ctypes.c_size_t()
            err = uclib.uc_hook_add(self.uc._uch, ctypes.byref(h), kind, ctypes.cast(cb, ctypes.c_void_p), None,
                                    ctypes.c_uint64(1), ctypes.c_uint64(0))
            if err:  # pragma: no cover
                raise InternalError(f"uc_hook_add failed: {err}")
            self._hooks.append(h)
        self.calls.install()

    def _on_mem_invalid(self, uc: int, access: int, address: int, size: int, value: int, user: int) -> bool:
        if access <= 21:  # UC_MEM_{READ,WRITE,FETCH}_UNMAPPED: a region reserved for first touch?
            try:
                if self._materialize_range(self.virt_addr(address), max(size, 1)):
                    return True  # Unicorn retries the access
            except BaseException as e:  # noqa: BLE001 - must not cross the C callback
                self.stop_with(e)
        self._fault = (access, address, size)
        return False

    def _on_intr(self, uc: int, intno: int, user: int) -> None:
        self._intno = intno
        self._fault = None
        RAW.uc_emu_stop(self._hp)
        if self._pending is None:
            self._pending = self._oops(-intno - 1)

    def _fixup(self, err: int) -> int | None:
        """``ex_handler_bpf``: a faulting PROBE_MEM load of a JIT image is skipped and
        its destination cleared; returns the address to resume at."""
        if self._fault is None or err not in (6, 7, 12, 13):
            return None
        rip = self.fast.read(X.UC_X86_REG_RIP)
        ex = self._extable.get(rip)
        if ex is None:
            return None
        length, reg = ex
        if reg >= 0:
            self.fast.write(reg, 0)
        self._fault = None
        return rip + length

    def _regs(self) -> dict[str, int]:
        return dict(zip(REG_ORDER, self.fast.read_many(_ALL_REGS)))

    def _oops(self, err: int) -> Oops:
        """Build the oops for a stop with error ``err`` (negative: interrupt ``-err-1``)."""
        regs = self._regs()
        rip = regs["rip"]
        fault, self._fault = self._fault, None
        address: int | None = None
        access = ""
        error_code = 0
        detail = ""
        if err < 0:
            intno = -err - 1
            kind = {0: "divide error", 3: "int3", 6: "invalid opcode"}.get(intno, f"trap {intno}")
            if intno == 3:
                rip -= 1  # the kernel reports the int3 itself (do_int3 rewinds ip)
                regs["rip"] = rip
        elif err == 21:  # UC_ERR_EXCEPTION without the interrupt hook seeing it
            kind = "divide error" if self._insn_mnemonic(rip) in ("div", "idiv") else "trap"
        elif err == 10:
            kind = "invalid opcode"
        elif fault is not None:
            acc, host, _size = fault
            access, error_code = _ACCESS.get(acc, ("read", 0))
            address = self.virt_addr(host)
            kind = "page fault"
            if access != "fetch":
                ea = self._effective_address(rip)
                if ea is not None and not self.canonical(ea):
                    kind, address = "general protection fault", ea
                elif ea is not None:
                    address = ea
            else:
                address = rip
        else:
            kind = "trap"
            detail = f"emulation stopped with uc_err {err}"
        self.die_counter += 1
        code, code_start = self._code_bytes(rip)
        trace = self._unwind(regs, kind == "page fault" and access == "fetch")
        img = self.image_at(rip)
        bpf_insn = bpf_prog = None
        if img is not None:
            sym, image, jp = img
            loc = jp.locate(rip)
            bpf_prog = sym
            if loc is not None and loc[1] >= 0:
                bpf_insn = loc[1]
        report = OopsReport(kind, address, access, error_code, rip, self.kallsyms.format_addr(rip), regs,
                            tuple(trace), bpf_insn, bpf_prog, code, code_start, self.die_counter, detail,
                            self.cpu)
        return Oops(report)

    def _helper_fault(self, addr: int, access: str, mapped: bool) -> Oops:
        """A Python helper touched memory it may not: the oops happens in the helper."""
        regs = self._regs()
        rip = regs["rip"]
        self.die_counter += 1
        if not self.canonical(addr):
            kind: str = "general protection fault"
            ec = 0
        else:
            kind = "page fault"
            ec = (X86_PF_WRITE if access == "write" else 0) | (X86_PF_PROT if mapped else 0)
        trace = self._unwind(regs, True)
        return Oops(OopsReport(kind, addr & M64, access, ec, rip, self.kallsyms.format_addr(rip), regs,
                               tuple(trace), None, None, None, rip - 42, self.die_counter,
                               "in a Python-serviced kernel function", self.cpu))

    def _insn_mnemonic(self, rip: int) -> str:
        try:
            import capstone

            md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            for ins in md.disasm_lite(self.peek(rip, 16), rip, 1):
                return ins[2]
        except (KernelError, ImportError):
            pass
        return ""

    def _effective_address(self, rip: int) -> int | None:
        """The full 64-bit address a memory operand at ``rip`` computes (Unicorn
        reports it masked to 52 bits): decoded with capstone on faults only."""
        try:
            import capstone
            from capstone import x86 as cx

            md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            md.detail = True
            ins = next(md.disasm(self.peek(rip, 16), rip, 1), None)
        except (KernelError, ImportError):
            return None
        if ins is None:
            return None
        for o in ins.operands:
            if o.type != cx.X86_OP_MEM:
                continue
            mem = o.mem
            ea = mem.disp
            if mem.base:
                ea += rip + ins.size if mem.base == cx.X86_REG_RIP else self._cs_reg(ins.reg_name(mem.base))
            if mem.index:
                ea += self._cs_reg(ins.reg_name(mem.index)) * mem.scale
            if mem.segment == cx.X86_REG_GS:
                ea += self.fast.read(X.UC_X86_REG_GS_BASE)
            return ea & M64
        return None

    def _cs_reg(self, name: str) -> int:
        return self.fast.read(getattr(X, f"UC_X86_REG_{name.upper()}"))

    def _code_bytes(self, rip: int) -> tuple[bytes | None, int]:
        start = rip - 42
        try:
            return self.peek(start, 64), start
        except KernelError:
            return None, start

    def _on_stack(self, addr: int) -> bool:
        lo, hi = self.stacks[self.cpu]
        return lo <= addr <= hi - 8

    def _unwind(self, regs: dict[str, int], at_entry: bool) -> list[str]:
        """The frame-pointer unwinder (arch/x86/kernel/unwind_frame.c): the return
        address at ``[rsp]`` when the fault hit before a frame was built (a call to a
        bad address), then ``[rbp + 8]`` up the ``rbp`` chain, until the return to
        the host."""
        out: list[str] = []
        rsp, rbp = regs["rsp"], regs["rbp"]
        if at_entry and self._on_stack(rsp):
            try:
                ret = int.from_bytes(self.peek(rsp, 8), "little")
            except KernelError:
                ret = 0
            if ret != self.landing:
                out.append(self.kallsyms.format_addr(ret))
        seen = 0
        while self._on_stack(rbp) and seen < 64:
            try:
                nxt = int.from_bytes(self.peek(rbp, 8), "little")
                ret = int.from_bytes(self.peek(rbp + 8, 8), "little")
            except KernelError:
                break
            if ret == self.landing:
                break
            out.append(self.kallsyms.format_addr(ret))
            if nxt <= rbp:
                break
            rbp = nxt
            seen += 1
        return out

    def _bpf_index(self, rip: int) -> int:
        img = self.image_at(rip)
        if img is not None:
            loc = img[2].locate(rip)
            if loc is not None and loc[1] >= 0:
                return loc[1]
        return -1

    def _lockup_error(self, rip: int) -> MachineBudgetExceeded:
        return MachineBudgetExceeded(self.soft_lockup_s, self._bpf_index(rip), rip, self.kallsyms.format_addr(rip),
                                     "soft lockup", self.cpu, self._wd_stuck_s)

    def _budget_error(self, rip: int, count: int) -> MachineBudgetExceeded:
        idx = self._bpf_index(rip)
        # with both budgets, the time one ran out only if (about) that much time passed
        timed = bool(self.time_budget_us) and (
            not count or time.monotonic() - self._run_t0 >= 0.9e-6 * self.time_budget_us)
        return MachineBudgetExceeded(self.time_budget_us if timed else count, idx, rip,
                                     self.kallsyms.format_addr(rip), "time" if timed else "instruction")

    # --- lifecycle ---------------------------------------------------------------------------
    def _snapshot(self) -> tuple[Any, ...]:
        return (self.kallsyms.snapshot(), self._kdata_next, list(self.percpu_heap.free),
                dict(self.percpu_heap.used), list(self.heap.free), dict(self.heap.used))

    def reset(self) -> None:
        """Back to the state after creation, cheaply: every allocation, program,
        image, stub and symbol added since is forgotten (memory keeps stale bytes,
        as freed memory does; regions mapped on first touch stay mapped), BPF packs
        are freed as ``bpf_prog_pack_free`` frees an empty pack, per-CPU statics
        are cleared, registers are set by the next call. Regions added with
        :meth:`map_region` stay. The current CPU is kept."""
        if self._closed:
            raise KernelError(9, "the machine is closed")  # EBADF
        for pack in list(self.packs):
            self._release_pack(pack)
        self._pack_sizes.clear()
        self._image_header.clear()
        self.images.clear()
        self._extable.clear()
        self.calls.reset()
        ks, self._kdata_next, pfree, pused, free, used = self._baseline
        self.kallsyms.restore(ks)
        self.percpu_heap.free = list(pfree)
        self.percpu_heap.used = dict(pused)
        self.heap.free = list(free)
        self.heap.used = dict(used)
        self._init_percpu_statics()
        self.vmalloc_heap.reset()
        self.progs.clear()
        self.die_counter = 0
        self._rng = self.seed & M64
        self._pending = None
        self._fault = None
        self.time_budget_us = 0
        cpu, self.cpu = self.cpu, -1
        self.set_cpu(0 if cpu < 0 else cpu)

    def close(self) -> None:
        """Free the Unicorn instance now (its hooks keep it alive until the GC
        otherwise). Idempotent; any later use raises KernelError(EBADF)."""
        if self._closed:
            return
        WATCHDOG.unwatch(self)  # the watchdog thread never touches the engine after this
        self._closed = True
        self.calls.uninstall()
        for h in self._hooks:
            uclib.uc_hook_del(self.uc._uch, h)
        self._hooks.clear()
        fin = getattr(self.uc, "_Uc__finalizer", None)
        if fin is not None:
            fin()  # uc_close, exactly once (the binding's weakref.finalize)
            # the engine is gone: pack buffers can serve the next machine
            for buf in self._spare_packs + [p.buf for p in self.packs]:
                if len(_PACK_POOL) < _PACK_POOL_MAX:
                    _PACK_POOL.append(buf)
            self._bufs.clear()
        self._spare_packs = []
        self.packs = []
        # break the machine <-> callback cycles so the machine is freed by refcount
        self._mem_cb = self._intr_cb = None
        self.calls.detach()
        self.fast = _Closed()  # type: ignore[assignment]
        self.uc = _Closed()  # type: ignore[assignment]
        self._start = self._wbatch = self._rbatch = _closed_call

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- listings --------------------------------------------------------------------------
    def disassemble(self, addr: int, size: int) -> Iterator[str]:
        """Capstone listing of ``size`` bytes at ``addr``, call/jmp targets annotated
        with ``symbol+offset`` from kallsyms."""
        from .listing import disassemble

        return disassemble(self.peek(addr, size), addr, self.kallsyms.symbolize)


def _stub_code(ktext: KText, cpu: CpuConfig) -> Callable[[int], bytes]:
    """``addr -> bytes`` of the stub at ``addr``: one return as ``emit_return()``
    makes it for ``cpu`` (``jmp <x86_return_thunk>``, ``ret``, ``ret; int3``), so
    the code hook fires once per call."""
    thunk = cpu.return_thunk
    if thunk is None:
        plain = b"\xc3\xcc" if cpu.sls else b"\xc3"
        return lambda addr: plain
    target = ktext.addr(thunk)
    return lambda addr: b"\xe9" + struct.pack("<i", target - (addr + 5))


_TEXT_PAGES: dict[tuple[int, bytes], tuple[bytes, Any]] = {}


def _text_page(ktext: KText, stub_code: Callable[[int], bytes]) -> tuple[bytes, Any]:
    """The kernel text region (text, stub page, zero tail) and the kernel image's
    kallsyms (text and percpu symbols), built once per layout."""
    key = (id(ktext), stub_code(STUB_PAGE))
    hit = _TEXT_PAGES.get(key)
    if hit is None:
        from .kallsyms import Symbol

        page = bytearray(ktext.code)
        page += b"\xcc" * (STUB_PAGE - KTEXT_BASE - len(page))
        for slot in range(STUB_SLOTS):
            stub = stub_code(STUB_PAGE + slot * STUB_STRIDE)
            page += stub + b"\xcc" * (STUB_STRIDE - len(stub))
        syms = [Symbol(addr, size, name, "t" if name.startswith("__bpf_prog_") else "T")
                for name, (addr, size) in ktext.symbols.items()]
        syms += [Symbol(PERCPU_BASE, 0, "__per_cpu_start", "D"),
                 Symbol(PERCPU_BASE + PCPU.bpf_ctx, 8, "bpf_run_ctx", "d"),
                 Symbol(PERCPU_BASE + PCPU.call_depth, 8, "pcpu_hot", "D"),
                 Symbol(PERCPU_BASE + PCPU.this_cpu_off, 8, "this_cpu_off", "D")]
        hit = _TEXT_PAGES[key] = (bytes(page).ljust(KTEXT_SIZE, b"\0"), Kallsyms(syms).snapshot())
    return hit


def _timed_may_goto(m: "Machine") -> None:
    """``arch_bpf_timed_may_goto`` (arch/x86/net/bpf_timed_may_goto.S, 6.15+): called
    with ``BPF_REG_AX`` (r10) = the frame offset of ``struct bpf_timed_may_goto``
    {count, timestamp} -- or its address, when the JIT adds the frame pointer
    (``CpuConfig.timed_may_goto_fp_in_jit``); returns the new count in r10 and preserves every other
    register. ``bpf_check_timed_may_goto`` (kernel/bpf/core.c): the first call
    stamps the time and refills 0xffff; later calls refill until 250 ms passed,
    then return 0 (the loop ends). Time is the host's monotonic clock."""

    r10 = m.fast.read(X.UC_X86_REG_R10)
    if m.cpu_config.timed_may_goto_fp_in_jit:  # the JIT already added rbp (CpuConfig)
        p = r10 & M64
    else:
        p = (m.fast.read(X.UC_X86_REG_RBP) + r10) & M64
    now = time.monotonic_ns()
    stamp = m.read_u64(p + 8)
    if not stamp:
        m.write_u64(p + 8, now)
        count = 0xFFFF
    elif now - stamp >= 250_000_000:
        count = 0
    else:
        count = 0xFFFF
    m.fast.write(X.UC_X86_REG_R10, count)


def _percpu_static(area: int) -> bytes:
    """A CPU's static per-CPU variables as created: zero, ``this_cpu_off`` = its offset."""
    static = bytearray(PCPU.dynamic)
    struct.pack_into("<Q", static, PCPU.this_cpu_off, (area - PERCPU_BASE) & M64)
    return bytes(static)


def _closed_call(*args: Any) -> int:
    raise KernelError(9, "the machine is closed")  # EBADF


class _Closed:
    """Stands in for the register layer of a closed machine: any use is an error,
    never a use-after-free inside libunicorn."""

    def __getattr__(self, name: str) -> Any:
        raise KernelError(9, "the machine is closed")  # EBADF


def _prog_tag(insns: Sequence[Insn]) -> bytes:
    """``bpf_prog_calc_tag``: the first 8 bytes of a SHA-1 over the instructions with
    map-fd immediates cleared (kernel/bpf/core.c, as of 6.12; 6.18 hashes with SHA-256
    for signed programs but prints the same 8-byte tag)."""
    raw = bytearray(encode(insns))
    for k, ins in enumerate(insns):
        if ins.code == 0x18 and ins.src in (1, 2, 5, 6) and k + 1 < len(insns):
            raw[8 * k + 4:8 * k + 8] = b"\0\0\0\0"
            raw[8 * (k + 1) + 4:8 * (k + 1) + 8] = b"\0\0\0\0"
    return hashlib.sha1(bytes(raw)).digest()[:8]
