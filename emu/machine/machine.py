"""The emulated x86-64 kernel machine (Unicorn): the parts, put together.

One :class:`Machine` is an emulated kernel address space with the layout of
x86-64 Linux (:mod:`emu.machine.layout`), built from parts that each do one job:

===============  ======================================  ===========================================
attribute        part                                    what it does
===============  ======================================  ===========================================
``mem``          :class:`~.address_space.AddressSpace`   regions, lazy mapping, reads/writes/pokes
``alloc``        :class:`~.allocators.Allocators`        kmalloc, vmalloc, kernel data, per-CPU
``packs``        :class:`~.packs.BpfPacks`               bpf_prog_pack: BPF text, ``text_copy``
``images``       :class:`~.images.JitImages`             ``struct bpf_prog``, JIT images, call imms
``calls``        :class:`~.calls.CallTable`              Python-serviced helpers and kfuncs (stubs)
``kallsyms``     :class:`~.kallsyms.Kallsyms`            the symbol table
``ktext``        :class:`~.ktext.KText`                  kernel text (keystone, cached per layout)
``runner``       :class:`~.run.RunLoop`                  calls, budgets, the soft-lockup watchdog
``faults``       :class:`~.faults.Faults`                hooks, exception table, oopses, unwinder
===============  ======================================  ===========================================

The machine itself keeps what nearly every user needs: :meth:`call` (the
run loop's), :meth:`call_member`, :meth:`read`/:meth:`write` and their u64
forms (the address space's; the helpers' ``GuestMemory``), :meth:`jit`,
:meth:`add_stub`, and the lifecycle (:meth:`reset`, :meth:`close`).

W^X: text and the BPF packs are read-execute and data is read-write,
no-execute, from the start; code reaches the packs only through
``packs.text_copy`` (``bpf_arch_text_copy``), so emulated code can never write
it (a write oopses with a permissions violation) nor execute data (an NX fetch
oopses).

Unicorn 2.1.4's traps and how they are met:

1. Hooks placed before any code runs: the stub-page code hook, the invalid
   memory hook and the interrupt hook are added at creation and never change;
   code written over translated code is dropped from Unicorn's translation
   cache (``ctl_remove_cache``) by ``text_copy``; the cache is flushed when runs
   switch from uncounted to counted (:mod:`emu.machine.run`).
2. Guest addresses are masked to 52 bits: regions are mapped at ``va &
   (2**52-1)`` and non-canonical addresses are checked by us (a #GP oops)
   (:mod:`emu.machine.layout`).
3. ``timeout`` costs ~90 us per ``emu_start``: only used when a time budget
   is set. The instruction budget is ``count`` (unverified code); verified
   code runs uncounted under the soft-lockup watchdog (:mod:`emu.machine.watchdog`),
   which stops a run from another thread with ``uc_emu_stop``.
4. The return to Python is ``hlt`` at ``__emu_return_to_host``, reached by
   ``ret``; emulation stops at it (``until``) before executing it.

Costs (benchmarks/machine.py, docs/machine.md): only kernel text, the heap
and CPU 0's stack are mapped at creation; the other regions are mapped on
first touch and BPF packs on first allocation (as the kernel creates them);
text and packs are host buffers mapped with ``uc_mem_map_ptr``. The hot path
(register batches, ``emu_start``) uses untyped ctypes calls (:mod:`emu.machine.regs`).

Every ``UcError`` becomes an :class:`~emu.machine.oops.Oops` or a
:class:`MachineBudgetExceeded`; the host process never crashes. ``close()``
frees the Unicorn instance deterministically; ``reset()`` returns the
machine to its state after creation cheaply (allocators, stubs, symbols and
packs, not memory contents: freed memory is not cleared, as in the kernel).
"""

from __future__ import annotations

import ctypes
import struct
import time
from typing import Any, Callable, Iterator, Sequence

from unicorn import UC_ARCH_X86, UC_MODE_64, Uc
from unicorn import x86_const as X

from jit.bpf_jit import JitOptions, JitProgram
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import KernelError
from kernel_model.insn import Insn
from kernel_model.memory import HelperFn
from kernel_model.profile import LATEST, Profile

from .address_space import AddressSpace
from .allocators import Allocators
from .calls import RETURN_POINT, STUB_SLOTS, STUB_STRIDE, CallTable, RawHandler
from .faults import Faults
from .images import BPF_PROG_SIZE, JitImages
from .kallsyms import Kallsyms, Symbol
from .ktext import PCPU, KText, assemble_ktext
from .layout import (HEAP_BASE, KDATA_BASE, KTEXT_BASE, KTEXT_SIZE, M64, MODULES_VADDR, PAGE_SIZE, PERCPU_BASE,
                     PROT_R, PROT_RW, PROT_RX, PROT_W, PROT_X, STUB_PAGE, THREAD_SIZE, VMALLOC_BASE, VMALLOC_DATA,
                     Region)
from .packs import BPF_PROG_CHUNK_SIZE, PACK_SIZE, BpfPacks
from .regs import FastRegs
from .run import DEFAULT_BUDGET, MachineBudgetExceeded, RunLoop
from .watchdog import SOFT_LOCKUP_S

__all__ = [
    "Machine", "MachineBudgetExceeded", "Region", "PROT_R", "PROT_W", "PROT_X", "PROT_RW", "PROT_RX",
    "KTEXT_BASE", "KDATA_BASE", "PERCPU_BASE", "MODULES_VADDR", "HEAP_BASE", "VMALLOC_BASE", "VMALLOC_DATA",
    "PAGE_SIZE", "THREAD_SIZE", "BPF_PROG_CHUNK_SIZE", "PACK_SIZE", "DEFAULT_BUDGET", "BPF_PROG_SIZE",
    "SOFT_LOCKUP_S",
]


class Machine:
    """An emulated x86-64 kernel: its parts (see the module docstring) and the calls
    nearly every user makes.

    >>> with Machine() as m:
    ...     m.call(m.kallsyms.addr_of("__bpf_call_base"))
    0
    """

    #: :meth:`emu.machine.run.RunLoop.call` itself (the hot path: no extra frame)
    call: Callable[..., int]

    def __init__(self, profile: Profile = LATEST, *, cpu: CpuConfig = DEFAULT_CPU, nr_cpus: int = 2,
                 budget: int = DEFAULT_BUDGET, seed: int = 0, soft_lockup_s: float = SOFT_LOCKUP_S) -> None:
        self.profile = profile
        #: the CPU, its boot-time mitigations and the x86 build options (kernel_model.cpu)
        self.cpu_config = cpu
        self.nr_cpus = nr_cpus
        self.seed = seed
        self.jit_options = JitOptions(profile, cpu)
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.fast = FastRegs(self.uc)
        self.mem = AddressSpace(self.uc, self.fast.hp)
        self._closed = False
        # --- kernel text and stubs ------------------------------------------------------
        self.ktext: KText = assemble_ktext(KTEXT_BASE, cpu, PERCPU_BASE)
        stub = _stub_code(self.ktext, cpu)
        page, base_syms = _text_page(self.ktext, stub)
        self.mem.map("kernel text", KTEXT_BASE, KTEXT_SIZE, PROT_RX, content=page)
        self.kallsyms = Kallsyms()
        self.kallsyms.restore(base_syms)
        self.landing = self.ktext.addr("__emu_return_to_host")
        self.calls = CallTable(self, STUB_PAGE, stub(STUB_PAGE))
        # --- memory: kernel data and vmalloc are mapped on first touch, the stacks of
        # CPUs other than 0 too; BPF packs are created by the first allocation, as
        # bpf_prog_pack_alloc does
        self.alloc = Allocators(self.mem, nr_cpus)
        self.stacks: list[tuple[int, int]] = []
        for n in range(nr_cpus):
            lo = VMALLOC_BASE + n * (THREAD_SIZE + PAGE_SIZE) + PAGE_SIZE  # guard page below
            if n == 0:  # used by the first call: a host buffer (zeroed, already faulted in)
                self.mem.map("stack cpu0", lo, THREAD_SIZE, PROT_RW, buf=(ctypes.c_char * THREAD_SIZE)())
            else:
                self.mem.map(f"stack cpu{n}", lo, THREAD_SIZE, PROT_RW, lazy=True)
            self.stacks.append((lo, lo + THREAD_SIZE))
        self.packs = BpfPacks(self.mem, seed)
        self.images = JitImages(mem=self.mem, alloc=self.alloc, packs=self.packs, kallsyms=self.kallsyms,
                                ktext=self.ktext, calls=self.calls, options=self.jit_options, cpu=cpu)
        # --- running and faults ---------------------------------------------------------
        self.faults = Faults(uc=self.uc, fast=self.fast, mem=self.mem, kallsyms=self.kallsyms, images=self.images,
                             stacks=self.stacks, landing=self.landing)
        self.runner = RunLoop(fast=self.fast, mem=self.mem, ktext=self.ktext, kallsyms=self.kallsyms,
                              images=self.images, faults=self.faults, stacks=self.stacks,
                              percpu_areas=self.alloc.percpu_areas, landing=self.landing, budget=budget,
                              soft_lockup_s=soft_lockup_s)
        self.faults.run = self.runner
        self.call = self.runner.call
        self.faults.install_hooks()
        self.calls.install()
        self.add_stub("arch_bpf_timed_may_goto", raw=_timed_may_goto, kind="kernel")
        self.calls.persistent("arch_bpf_timed_may_goto")
        self._baseline = (self.kallsyms.snapshot(), self.alloc.snapshot())
        self.runner.set_cpu(0)

    # --- what nearly every user calls -----------------------------------------------------------
    def call_member(self, kdata_addr: int, member_offset: int, args: Sequence[int] = (), *,
                    budget: int | None = None) -> int:
        """``ops->member(args)`` (:meth:`emu.machine.run.RunLoop.call_member`)."""
        return self.runner.call_member(kdata_addr, member_offset, args, budget=budget)

    def read(self, addr: int, size: int) -> bytes:
        """Read emulated memory (helpers; Python views). Oopses where unmapped."""
        return self.mem.read(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        """Write emulated memory; oopses where unmapped or read-only."""
        self.mem.write(addr, data)

    def read_u64(self, addr: int) -> int:
        return self.mem.read_u64(addr)

    def write_u64(self, addr: int, value: int) -> None:
        self.mem.write_u64(addr, value)

    def jit(self, insns: Sequence[Insn], *, starts: Sequence[int] = (0,), stack_depths: Sequence[int] | None = None,
            name: str = "", was_classic: bool = False, tag: str | None = None) -> JitProgram:
        """JIT instructions into the BPF pack (:meth:`emu.machine.images.JitImages.jit`):
        ``starts`` are the subprogram starts (the verifier's; one function by default)."""
        return self.images.jit(insns, starts=starts, stack_depths=stack_depths, name=name, was_classic=was_classic,
                               tag=tag)

    def add_stub(self, name: str, fn: HelperFn | None = None, *, raw: RawHandler | None = None,
                 kind: str = "helper") -> int:
        """A Python-serviced kernel function (see :mod:`emu.machine.calls`); returns its address."""
        return self.calls.add(name, fn, raw=raw, kind=kind)

    def disassemble(self, addr: int, size: int) -> Iterator[str]:
        """Capstone listing of ``size`` bytes at ``addr``, call/jmp targets annotated
        with ``symbol+offset`` from kallsyms."""
        from .listing import disassemble

        return disassemble(self.mem.peek(addr, size), addr, self.kallsyms.symbolize)

    # --- lifecycle ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the state after creation, cheaply: every allocation, program,
        image, stub and symbol added since is forgotten (memory keeps stale bytes,
        as freed memory does; regions mapped on first touch stay mapped), BPF packs
        are freed as ``bpf_prog_pack_free`` frees an empty pack, per-CPU statics
        are cleared, registers are set by the next call. Regions added with
        ``mem.map_region`` stay. The current CPU is kept."""
        if self._closed:
            raise KernelError(9, "the machine is closed")  # EBADF
        self.packs.reset()
        self.images.reset()
        self.calls.reset()
        ks, allocs = self._baseline
        self.kallsyms.restore(ks)
        self.alloc.restore(allocs)
        self.faults.die_counter = 0
        self.faults.fault = None
        self.runner.reset()

    def close(self) -> None:
        """Free the Unicorn instance now (its hooks keep it alive until the GC
        otherwise). Idempotent; any later use raises KernelError(EBADF)."""
        if self._closed:
            return
        self.runner.close()  # the watchdog thread never touches the engine after this
        self._closed = True
        self.mem.closed = True
        self.calls.uninstall()
        self.faults.uninstall_hooks()
        fin = getattr(self.uc, "_Uc__finalizer", None)
        if fin is not None:
            fin()  # uc_close, exactly once (the binding's weakref.finalize)
            self.packs.give_back()  # the engine is gone: pack buffers can serve the next machine
            self.mem.bufs.clear()
        self.packs.forget()
        # break the machine <-> callback cycles so the machine is freed by refcount
        self.calls.detach()
        closed: Any = _Closed()
        self.fast = self.uc = self.mem.uc = self.faults.uc = self.faults.fast = self.runner.fast = closed

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        page = bytearray(ktext.code)
        page += b"\xcc" * (STUB_PAGE - KTEXT_BASE - len(page))
        for slot in range(STUB_SLOTS):
            at = STUB_PAGE + slot * STUB_STRIDE
            stub = stub_code(at)
            # a second return at +RETURN_POINT: where a callback a stub called returns
            # (emu.machine.callbacks); the code hook fires there only when one is bound
            back = stub_code(at + RETURN_POINT)
            page += stub + b"\xcc" * (RETURN_POINT - len(stub))
            page += back + b"\xcc" * (STUB_STRIDE - RETURN_POINT - len(back))
        syms = [Symbol(addr, size, name, "t" if name.startswith("__bpf_prog_") else "T")
                for name, (addr, size) in ktext.symbols.items()]
        syms += [Symbol(PERCPU_BASE, 0, "__per_cpu_start", "D"),
                 Symbol(PERCPU_BASE + PCPU.bpf_ctx, 8, "bpf_run_ctx", "d"),
                 Symbol(PERCPU_BASE + PCPU.call_depth, 8, "pcpu_hot", "D"),
                 Symbol(PERCPU_BASE + PCPU.this_cpu_off, 8, "this_cpu_off", "D"),
                 Symbol(PERCPU_BASE + PCPU.cpu_number, 4, "cpu_number", "D")]
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


class _Closed:
    """Stands in for the register layer of a closed machine: any use is an error,
    never a use-after-free inside libunicorn."""

    def __getattr__(self, name: str) -> Any:
        raise KernelError(9, "the machine is closed")  # EBADF
