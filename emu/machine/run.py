"""The run loop: calling into emulated code and what ends a run.

A call writes rsp, rbp and the argument registers in one batched register
write, then one ``uc_emu_start`` runs until ``__emu_return_to_host`` (the
return address at the top of the stack; emulation stops at it, ``until``,
before executing its ``hlt``). What else can end a run, handled after
``emu_start`` returns: an exception kept by a hook (a Python helper raised,
or an interrupt became an oops), a fault that the exception table fixes up
(the run resumes), a fault that becomes an oops, the instruction budget
(``count``, for unverified code) or the time budget (Unicorn's timer, ~90 us
per ``emu_start``, so only when asked for), and the soft-lockup watchdog
(:mod:`emu.machine.watchdog`), which stops an uncounted run from another
thread. Every one of them raises; the host process never crashes.

Counted and uncounted runs share one engine (Unicorn 2.1.4's trap 1: blocks
translated by an uncounted run would never count, so the translation cache is
flushed when runs switch to counted).
"""

from __future__ import annotations

import ctypes
import time
from typing import Any, Sequence

from unicorn import x86_const as X

from kernel_model.errors import BudgetExceeded, ExecFault, KernelError

from .address_space import AddressSpace
from .faults import Faults
from .images import JitImages
from .kallsyms import Kallsyms
from .ktext import KText
from .layout import M64, PERCPU_BASE
from .regs import RAW, FastRegs
from .watchdog import WATCHDOG

__all__ = ["RunLoop", "MachineBudgetExceeded", "DEFAULT_BUDGET"]

DEFAULT_BUDGET = 50_000_000

_CALL_REGS = (X.UC_X86_REG_RSP, X.UC_X86_REG_RBP, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
              X.UC_X86_REG_RCX, X.UC_X86_REG_R8, X.UC_X86_REG_R9)
_MEMBER_REGS = _CALL_REGS + (X.UC_X86_REG_R11,)
_RESULT = (X.UC_X86_REG_RAX, X.UC_X86_REG_RIP)


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


class RunLoop:
    """Running code on one machine: the current CPU, the budgets, the watchdog's
    view of the run (``wd_gen``, odd while a run is under way)."""

    def __init__(self, *, fast: FastRegs, mem: AddressSpace, ktext: KText, kallsyms: Kallsyms, images: JitImages,
                 faults: Faults, stacks: list[tuple[int, int]], percpu_areas: list[int], landing: int,
                 budget: int, soft_lockup_s: float) -> None:
        self.fast = fast
        self.hp = fast.hp
        self.mem = mem
        self.ktext = ktext
        self.kallsyms = kallsyms
        self.images = images
        self.faults = faults
        self.stacks = stacks
        self.percpu_areas = percpu_areas
        self.landing = landing
        #: instructions per run (0: uncounted, under the watchdog)
        self.budget = budget
        #: uncounted runs longer than this (wall clock) stop as a soft lockup (0: never)
        self.soft_lockup_s = soft_lockup_s
        #: a time budget per run (Unicorn's timer, ~90 us an emu_start): 0 for none
        self.time_budget_us = 0
        self.cpu = -1
        self.closed = False
        #: an exception a hook kept for the caller of emu_start
        self.pending: BaseException | None = None
        # whether the translation cache holds counted code (None: nothing translated yet; trap 1)
        self.counted_tbs: bool | None = None
        self._watched = False
        self.wd_gen = 0
        self.wd_fired = -1
        self._wd_consumed = -1
        self.wd_stuck_s = 0.0
        self._run_t0 = 0.0
        #: where each call's stack starts (its top holds the return address to the host)
        self.sp = 0
        self._landing_bytes = landing.to_bytes(8, "little")
        # one batch for every call: rsp, rbp, then the argument registers in order, so a
        # call with n arguments writes the first 2 + n entries
        self._call_ids, self._call_ptrs, _, self._call_vals = fast._batch(_CALL_REGS)
        self._call_vals[1] = 0  # rbp = 0: the unwinder's end
        self._res_ids, self._res_ptrs, _, self._res_vals = fast._batch(_RESULT)
        self._wbatch: Any = RAW.uc_reg_write_batch
        self._rbatch: Any = RAW.uc_reg_read_batch
        self._start: Any = RAW.uc_emu_start
        self._begin = ctypes.c_uint64()
        self._until = ctypes.c_uint64(landing)
        self._no_timeout = ctypes.c_uint64(0)
        self._count = ctypes.c_size_t()

    def set_cpu(self, cpu: int) -> None:
        """Run on ``cpu`` from now on: its stack and its GS base (per-CPU area)."""
        if not 0 <= cpu < len(self.stacks):
            raise KernelError(22, f"cpu {cpu} does not exist ({len(self.stacks)} cpus)")
        if cpu != self.cpu:
            self.cpu = cpu
            self.fast.write(X.UC_X86_REG_GS_BASE, (self.percpu_areas[cpu] - PERCPU_BASE) & M64)
            self.sp = self.stacks[cpu][1] - 16
            self.restore_stack()

    def call(self, addr: int, args: Sequence[int] = (), *, budget: int | None = None) -> int:
        """Call the function at ``addr`` with up to 6 register arguments
        (rdi, rsi, rdx, rcx, r8, r9); returns rax. One ``emu_start``; registers go
        through one batched write (rsp, rbp and the arguments given).

        ``budget``: instructions for this run (default: :attr:`budget`); 0 runs
        uncounted under the soft-lockup watchdog (verified code)."""
        n = len(args)
        if n > 6:
            raise KernelError(7, "more than 6 register arguments")  # E2BIG
        vals = self._call_vals
        vals[0] = self.sp
        for k in range(n):
            vals[2 + k] = args[k]  # c_uint64 slots store modulo 2**64
        self._wbatch(self.hp, self._call_ids, self._call_ptrs, 2 + n)
        count = self.budget if budget is None else budget
        if (count != 0) is not self.counted_tbs:
            self._switch_mode(count)
        if self.time_budget_us:
            return self._run_timed(addr, count)
        self._begin.value = addr
        self._count.value = count
        self.wd_gen += 1
        err = self._start(self.hp, self._begin, self._until, self._no_timeout, self._count)
        self.wd_gen += 1
        if not err and self.pending is None:
            self._rbatch(self.hp, self._res_ids, self._res_ptrs, 2)
            if self._res_vals[1] == self.landing:
                return self._res_vals[0]
        return self._finish(err, count)

    def call_member(self, kdata_addr: int, member_offset: int, args: Sequence[int] = (), *,
                    budget: int | None = None) -> int:
        """``ops->member(args)``: the kernel-text indirect caller loads the function
        pointer at ``kdata_addr + member_offset`` and calls it (through the retpoline
        when on); returns rax. A NULL member oopses with the caller in the trace."""
        a = list(args) + [0] * (6 - len(args))
        if len(a) > 6:
            raise KernelError(7, "more than 6 register arguments")
        self.fast.write_many(_MEMBER_REGS, [self.sp, 0, a[0], a[1], a[2], a[3], a[4], a[5],
                                            kdata_addr + member_offset])
        return self._run(self.ktext.addr("bpf_struct_ops_call_member"), budget)

    def run_loop(self, func: int, ctx: int, repeat: int, *, budget: int | None = None) -> int:
        """The in-emulator loop (``bpf_test_run_loop``): call ``func(ctx)`` ``repeat``
        times in one ``emu_start``; returns the last rax."""
        return self.call(self.ktext.addr("bpf_test_run_loop"), (func, ctx, repeat), budget=budget)

    def _switch_mode(self, count: int) -> None:
        """Counted and uncounted runs on one engine (trap 1).

        Unicorn 2.1.4's ``uc_emu_start`` adds its instruction-count hook at the first
        counted run but does not retranslate: blocks translated by an uncounted run
        would never count (a runaway loop would hang), so the cache is flushed
        here first (~40 us, once per switch). Going the other way Unicorn removes
        the hook and flushes by itself. Uncounted runs are sampled by the
        soft-lockup watchdog."""
        if count:
            if self.counted_tbs is False:
                self.mem.uc.ctl_flush_tb()
            self.counted_tbs = True
        else:
            self.counted_tbs = False
            if not self._watched:
                self._watched = True
                WATCHDOG.watch(self)

    def _run(self, begin: int, budget: int | None) -> int:
        count = self.budget if budget is None else budget
        if (count != 0) is not self.counted_tbs:
            self._switch_mode(count)
        if self.time_budget_us:
            return self._run_timed(begin, count)
        self.wd_gen += 1
        err = self.fast.start(begin, self.landing, count)
        self.wd_gen += 1
        return self._finish(err, count)

    def _run_timed(self, begin: int, count: int) -> int:
        """A run under Unicorn's timer thread (``time_budget_us``, trap 3: ~90 us)."""
        self._run_t0 = time.monotonic()
        self.wd_gen += 1
        err = self.fast.start(begin, self.landing, count, self.time_budget_us)
        self.wd_gen += 1
        return self._finish(err, count)

    def _finish(self, err: int, count: int) -> int:
        """The slow path after ``emu_start``: pending hook exceptions, fault fixups
        and oopses, watchdog stops, budget exhaustion."""
        f = self.fast
        while True:
            if self.pending is not None:
                exc, self.pending = self.pending, None
                self.faults.fault = None
                self.restore_stack()
                raise exc
            if err:
                resumed = self.faults.fixup(err)
                if resumed is None:
                    self.restore_stack()
                    raise self.faults.oops(err)
                err = self._resume(resumed, count)
                continue
            rax, rip = f.read_many(_RESULT)
            if rip == self.landing:
                return rax
            run = self.wd_gen - 1
            if self.wd_fired == run:
                self._wd_consumed = run
                self.restore_stack()
                raise self._lockup_error(rip)
            if self.wd_fired > self._wd_consumed:
                # a stop aimed at an earlier run landed in this one: carry on
                self._wd_consumed = self.wd_fired
                err = self._resume(rip, count)
                continue
            self.restore_stack()
            raise self._budget_error(rip, count)

    def _resume(self, rip: int, count: int) -> int:
        self.wd_gen += 1  # a new run for the watchdog
        err = self.fast.start(rip, self.landing, count, self.time_budget_us)
        self.wd_gen += 1
        return err

    def restore_stack(self) -> None:
        """The return address into the host at the top of the stack (a fault may
        have left anything there)."""
        self.mem.poke(self.sp, self._landing_bytes)

    def stop_with(self, exc: BaseException) -> None:
        """From a hook: stop the emulation and raise ``exc`` from the call."""
        if self.pending is None:
            self.pending = exc
        RAW.uc_emu_stop(self.hp)

    def stop_at_bpf_caller(self, kind: str, detail: str) -> None:
        """From a stub's handler: stop with an :class:`ExecFault` naming the BPF
        instruction that called the stub (found from the return address on the
        stack), for calls the emulated kernel cannot serve (an unknown helper, a
        context field it does not model)."""
        ret = self.mem.read_u64(self.fast.read(X.UC_X86_REG_RSP))
        self.stop_with(ExecFault(kind, self.images.bpf_index(ret - 1), None, detail))

    def fault_unbound_stub(self, addr: int) -> None:
        self.stop_with(KernelError(38, f"call to {addr:#x}, a stub with no handler"))  # ENOSYS

    def _lockup_error(self, rip: int) -> MachineBudgetExceeded:
        return MachineBudgetExceeded(self.soft_lockup_s, self.images.bpf_index(rip), rip,
                                     self.kallsyms.format_addr(rip), "soft lockup", self.cpu, self.wd_stuck_s)

    def _budget_error(self, rip: int, count: int) -> MachineBudgetExceeded:
        idx = self.images.bpf_index(rip)
        # with both budgets, the time one ran out only if (about) that much time passed
        timed = bool(self.time_budget_us) and (
            not count or time.monotonic() - self._run_t0 >= 0.9e-6 * self.time_budget_us)
        return MachineBudgetExceeded(self.time_budget_us if timed else count, idx, rip,
                                     self.kallsyms.format_addr(rip), "time" if timed else "instruction")

    def reset(self) -> None:
        """After a machine reset: nothing pending, no time budget, the CPU's stack and
        GS base written again."""
        self.pending = None
        self.time_budget_us = 0
        cpu, self.cpu = self.cpu, -1
        self.set_cpu(0 if cpu < 0 else cpu)

    def close(self) -> None:
        """The engine is going: the watchdog lets go of this run loop, and any later
        call is an error instead of a use-after-free inside libunicorn."""
        WATCHDOG.unwatch(self)  # the watchdog thread never touches the engine after this
        self.closed = True
        self._start = self._wbatch = self._rbatch = _closed_call


def _closed_call(*args: Any) -> int:
    raise KernelError(9, "the machine is closed")  # EBADF
