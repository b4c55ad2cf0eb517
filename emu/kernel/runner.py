"""Running a program outside any attach point: what ``structops exec`` does.

The kernel never runs an unverified program; ``exec`` runs programs whose
*instruction semantics* are under test (the conformance corpus), so it applies
only the load-time checks that do not depend on a program type:

1. the structural passes of ``bpf_check()`` (:mod:`verifier.cfg`: subprograms,
   jump ranges, ``resolve_pseudo_ldimm64``'s opcode checks, no jump into an
   lddw), with the kernel's messages -- but not ``unreachable insn``: the ISA
   allows dead code, only the verifier's policy refuses it;
2. ``R%d is invalid`` for a register field above r10 that the instruction
   reads or writes (``check_reg_arg``; in *every* slot, dead code too, since
   the JIT translates every slot and the kernel refuses dead code anyway);
3. the ``R%d !read_ok`` rule (:mod:`verifier.reg_init`), with r1 (the input
   memory), r2 (its length) and r10 initialised at entry;

the first refusal in slot order wins, so both engines refuse the same
programs with the same message before anything runs;

then runs the program on an engine: ``interp`` (the reference interpreter) or
``jit`` (x86-64 JIT in the emulated machine). Input memory is mapped at
:data:`MEM_BASE`; r1 points to it and r2 holds its length (the conformance
convention). Type-dependent verifier rules (pointer arithmetic, shifts by
out-of-range immediates, ...) are deliberately not applied: see
``structops verify`` for those.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import sys

from kernel_model import isa
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import InputError, InvalidInsn
from kernel_model.insn import Insn
from kernel_model.interp import DEFAULT_BUDGET, Interpreter
from kernel_model.memory import HelperFn
from verifier.cfg import check_structure
from verifier.reg_init import check_reg_init, reads_writes

__all__ = ["ENGINES", "MEM_BASE", "MAX_BPF_REG", "precheck", "check_registers", "run_program"]

#: include/linux/bpf.h: r0..r10
MAX_BPF_REG = 11

ENGINES = ("interp", "jit")
#: Where input memory is mapped (inside x86-64 Linux's direct map).
MEM_BASE = 0xFFFF_8880_0010_0000


def _regs_used(insn: Insn) -> list[int]:
    """Registers ``insn`` reads or writes, in ``check_reg_arg`` order (reads first)."""
    reads, sets, _clears = reads_writes(insn)
    out = list(reads)
    if insn.code == isa.CALLX_INSN:
        out.append(insn.dst)
    if sets:
        out.append(sets.bit_length() - 1)  # one destination register at most
    return out


def check_registers(insns: Sequence[Insn]) -> int | None:
    """The index of the first slot that reads or writes a register above r10
    (None when there is none). The kernel refuses such a slot with ``R%d is
    invalid`` (``check_reg_arg``, kernel/bpf/verifier.c, Linux 6.18)."""
    k = 0
    while k < len(insns):
        ins = insns[k]
        if any(r >= MAX_BPF_REG for r in _regs_used(ins)):
            return k
        k += 2 if ins.code == isa.LD_IMM64 else 1
    return None


def precheck(insns: Sequence[Insn]) -> list[int]:
    """Load-time checks for ``exec`` (see the module docstring); returns subprogram starts."""
    starts = check_structure(insns, reachability=False)
    bad = check_registers(insns)
    try:
        check_reg_init(insns, starts, entry=(1 << 1) | (1 << 2) | (1 << 10))
    except InvalidInsn as e:
        if bad is None or e.index < bad:
            raise
    if bad is not None:
        reg = next(r for r in _regs_used(insns[bad]) if r >= MAX_BPF_REG)
        raise InvalidInsn(f"R{reg} is invalid", bad)
    return starts


def run_program(insns: Sequence[Insn], *, mem: bytes | None = None, engine: str = "interp",
                helpers: Mapping[int, HelperFn] | None = None, budget: int = DEFAULT_BUDGET,
                cpu: CpuConfig = DEFAULT_CPU) -> int:
    """Check and run ``insns``; returns r0 (unsigned 64-bit).

    ``budget`` is the number of BPF instructions a run may execute, the same
    rule on both engines: at least 1, or 0 for no limit (the kernel runs
    verified code uncounted); a negative budget is an InputError. The JIT
    counts x86 instructions, ``X86_PER_BPF_BUDGET`` per BPF instruction
    (:mod:`emu.kernel.jitexec`), so its stop point is approximate.

    Raises :class:`InvalidInsn` for a refused program, :class:`ExecFault` /
    :class:`BudgetExceeded` (or the machine's oops) for a run that fails.
    ``cpu``: the CPU configuration of the ``jit`` engine's machine (default preset).
    """
    if budget < 0:
        raise InputError(f"instruction budget {budget} is negative (0 means no limit)")
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    precheck(insns)
    data = bytearray(mem or b"")
    if engine == "interp":
        it = Interpreter(insns, helpers=helpers, budget=budget or sys.maxsize)
        if data:
            it.add_region("mem", MEM_BASE, data)
        return it.run([MEM_BASE if data else 0, len(data)])
    from .jitexec import run_jit  # the emulated machine; imported only when asked for

    return run_jit(list(insns), mem=bytes(data) if data else None, helpers=helpers or {}, budget=budget, cpu=cpu)
