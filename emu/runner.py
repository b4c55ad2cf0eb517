"""Running a program outside any attach point: what ``structops exec`` does.

The kernel never runs an unverified program; ``exec`` runs programs whose
*instruction semantics* are under test (the conformance corpus), so it applies
only the load-time checks that do not depend on a program type:

1. the structural passes of ``bpf_check()`` (:mod:`verifier.cfg`: subprograms,
   jump ranges, ``resolve_pseudo_ldimm64``'s opcode checks, no jump into an
   lddw), with the kernel's messages -- but not ``unreachable insn``: the ISA
   allows dead code, only the verifier's policy refuses it;
2. the ``R%d !read_ok`` rule (:mod:`verifier.reg_init`), with r1 (the input
   memory), r2 (its length) and r10 initialised at entry;

then runs the program on an engine: ``interp`` (the reference interpreter) or
``jit`` (x86-64 JIT in the emulated machine). Input memory is mapped at
:data:`MEM_BASE`; r1 points to it and r2 holds its length (the conformance
convention). Type-dependent verifier rules (pointer arithmetic, shifts by
out-of-range immediates, ...) are deliberately not applied: see
``structops verify`` for those.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import InputError
from kernel_model.insn import Insn
from kernel_model.interp import DEFAULT_BUDGET, Interpreter
from kernel_model.memory import HelperFn
from verifier.cfg import check_structure
from verifier.reg_init import check_reg_init

__all__ = ["ENGINES", "MEM_BASE", "precheck", "run_program"]

ENGINES = ("interp", "jit")
#: Where input memory is mapped (inside x86-64 Linux's direct map).
MEM_BASE = 0xFFFF_8880_0010_0000


def precheck(insns: Sequence[Insn]) -> list[int]:
    """Load-time checks for ``exec`` (see the module docstring); returns subprogram starts."""
    starts = check_structure(insns, reachability=False)
    check_reg_init(insns, starts, entry=(1 << 1) | (1 << 2) | (1 << 10))
    return starts


def run_program(insns: Sequence[Insn], *, mem: bytes | None = None, engine: str = "interp",
                helpers: Mapping[int, HelperFn] | None = None, budget: int = DEFAULT_BUDGET,
                cpu: CpuConfig = DEFAULT_CPU) -> int:
    """Check and run ``insns``; returns r0 (unsigned 64-bit).

    Raises :class:`InvalidInsn` for a refused program, :class:`ExecFault` /
    :class:`BudgetExceeded` (or the machine's oops) for a run that fails.
    ``cpu``: the CPU configuration of the ``jit`` engine's machine (default preset).
    """
    precheck(insns)
    data = bytearray(mem or b"")
    if engine == "interp":
        it = Interpreter(insns, helpers=helpers, budget=budget)
        if data:
            it.add_region("mem", MEM_BASE, data)
        return it.run([MEM_BASE if data else 0, len(data)])
    if engine == "jit":
        from .jitexec import run_jit  # the emulated machine; imported only when asked for

        return run_jit(list(insns), mem=bytes(data) if data else None, helpers=helpers or {}, budget=budget,
                       cpu=cpu)
    raise InputError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
