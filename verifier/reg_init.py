"""Definite initialisation of registers: the ``R%d !read_ok`` rule on its own.

The kernel tracks, on every explored path, which registers hold a value
(``NOT_INIT`` otherwise) and refuses a read of an uninitialised register with
``R%d !read_ok`` (``check_reg_arg()``, kernel/bpf/verifier.c, Linux 6.12/6.18).
After a helper, kfunc or bpf-to-bpf call r1-r5 become ``NOT_INIT``
(``mark_reg_not_init`` of the caller-saved registers) and r0 holds the result;
a subprogram starts with r6-r9 ``NOT_INIT``.

This module is the path-insensitive version of that rule: a forward
must-analysis over the CFG (a register is initialised at an instruction when
it is on every path reaching it). It is what ``structops exec`` runs on
programs it executes without the full verifier, so it refuses exactly what the
kernel would refuse for this reason -- except that the kernel, being path
sensitive, accepts a read whose uninitialised paths it can prove infeasible;
this analysis refuses those (stated, and acceptable for a pre-run check).
"""

from __future__ import annotations

from typing import Sequence

from kernel_model import isa
from kernel_model.errors import InvalidInsn
from kernel_model.insn import Insn

from .cfg import successors

__all__ = ["reads_writes", "check_reg_init", "ALL_REGS"]

ALL_REGS = (1 << 11) - 1
_CALLER_SAVED = 0b111110  # r1..r5
_SUBPROG_ENTRY = 0b111110 | (1 << 10)  # r1..r5 (arguments) and r10


def reads_writes(insn: Insn) -> tuple[tuple[int, ...], int, int]:
    """(registers read in the kernel's check order, mask set, mask cleared) by ``insn``."""
    code, d, s = insn.code, insn.dst, insn.src
    c = code & 0x07
    b = lambda r: 1 << r  # noqa: E731
    if c in (isa.ALU, isa.ALU64):
        op = code & 0xF0
        if op in (isa.NEG, isa.END):
            return (d,), b(d), 0
        if code & isa.X:
            return ((s,) if op == isa.MOV else (s, d)), b(d), 0
        return (() if op == isa.MOV else (d,)), b(d), 0
    if c == isa.LDX:
        return (s,), b(d), 0
    if c == isa.ST:
        return (d,), 0, 0
    if c == isa.STX:
        if (code & 0xE0) == isa.ATOMIC:
            imm = insn.imm
            if imm == isa.LOAD_ACQ:
                return (s,), b(d), 0
            if imm == isa.STORE_REL:
                return (s, d), 0, 0
            if imm == isa.CMPXCHG:
                return (s, d, 0), b(0), 0
            if imm & isa.FETCH:
                return (s, d), b(s), 0
            return (s, d), 0, 0
        return (s, d), 0, 0
    if c == isa.LD:
        if code == isa.LD_IMM64:
            return (), b(d), 0
        reads = (6, s) if (code & 0xE0) == isa.IND else (6,)
        return reads, b(0), _CALLER_SAVED
    op = code & 0xF0
    if c == isa.JMP and op == isa.EXIT:
        return (0,), 0, 0
    if c == isa.JMP and op == isa.CALL:
        return (), b(0), _CALLER_SAVED
    if op in (isa.JA, isa.JCOND):
        return (), 0, 0
    return ((d, s) if code & isa.X else (d,)), 0, 0


def check_reg_init(insns: Sequence[Insn], starts: Sequence[int], entry: int = (1 << 1) | (1 << 10)) -> None:
    """Refuse the first read (lowest slot) of a register not initialised on every
    path, with the kernel's ``R%d !read_ok``. ``entry`` is the mask of registers
    holding a value at the program's start (r1 = ctx and r10 by default)."""
    n = len(insns)
    start_set = set(starts)
    IN: list[int | None] = [None] * n
    for st in starts:
        IN[st] = entry if st == 0 else _SUBPROG_ENTRY
    work = list(starts)
    info = [reads_writes(i) for i in insns]
    while work:
        i = work.pop()
        cur = IN[i]
        assert cur is not None
        _, sets, clears = info[i]
        out = (cur & ~clears) | sets
        insn = insns[i]
        for w in successors(insns, i, into_calls=True):
            if w >= n or w < 0:
                continue
            if insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL and w == i + insn.imm + 1:
                continue  # the callee is analysed from its own entry state
            if w in start_set and w != 0:
                continue
            old = IN[w]
            new = out if old is None else (old & out)
            if new != old:
                IN[w] = new
                work.append(w)
    for i in range(n):
        cur = IN[i]
        if cur is None:
            continue
        for r in info[i][0]:
            if r <= 10 and not cur >> r & 1:
                raise InvalidInsn(f"R{r} !read_ok", i, 13)  # EACCES
