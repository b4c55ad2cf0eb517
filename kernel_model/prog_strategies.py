"""Hypothesis strategies for whole programs that terminate (needs the ``test`` extra).

:func:`terminating_programs` draws programs for differential testing of two
engines (the reference interpreter against the JIT in the machine): every
jump goes forward, so every program ends; registers start from 64-bit
constants; ``r6`` holds the input memory pointer (r1 at entry) and is never
written, so loads and stores through it stay inside the memory unless the
drawn offset leaves it; ``r7`` is reloaded with a small constant (below 4096)
before each access through it, so those accesses fault in every engine; stack
accesses use ``r10`` with in-frame offsets. Operations cover the ALU (32 and
64 bit, immediate and register, all of div/mod/sdiv/smod, shifts, movsx,
byte swaps, neg), lddw, loads (zero- and sign-extending), stores, atomics and
JMP/JMP32 conditional jumps. Shrinks toward short programs of ``r0 += 0``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from . import isa
from .insn import Insn, split_imm64

__all__ = ["terminating_programs", "MEM_SIZE"]

#: bytes of input memory the programs are drawn for
MEM_SIZE = 64
_DATA_REGS = (0, 2, 3, 4, 5, 8, 9)
_BIN = (isa.ADD, isa.SUB, isa.MUL, isa.DIV, isa.OR, isa.AND, isa.LSH, isa.RSH, isa.MOD, isa.XOR, isa.MOV,
        isa.ARSH)
_SIZES = (isa.B, isa.H, isa.W, isa.DW)

regs = st.sampled_from(_DATA_REGS)
imm32 = st.one_of(st.integers(-(1 << 31), (1 << 31) - 1), st.sampled_from((0, 1, -1, 31, 32, 63, 64, -(1 << 31))))


@st.composite
def _alu(draw: st.DrawFn) -> list[Insn]:
    cls = draw(st.sampled_from((isa.ALU, isa.ALU64)))
    op = draw(st.sampled_from(_BIN))
    off = draw(st.sampled_from((0, 1))) if op in (isa.DIV, isa.MOD) else 0
    d = draw(regs)
    if draw(st.booleans()):
        s = draw(st.sampled_from(_DATA_REGS + (6,)))
        return [Insn(cls | op | isa.X, d, s, off)]
    imm = draw(imm32)
    if op in (isa.LSH, isa.RSH, isa.ARSH):
        imm = draw(st.integers(0, 63 if cls == isa.ALU64 else 31))  # the verifier's range
    return [Insn(cls | op | isa.K, d, 0, off, imm)]


@st.composite
def _unary(draw: st.DrawFn) -> list[Insn]:
    d = draw(regs)
    kind = draw(st.sampled_from(("neg32", "neg64", "le", "be", "bswap", "movsx32", "movsx64")))
    if kind == "neg32":
        return [Insn(isa.ALU | isa.NEG, d)]
    if kind == "neg64":
        return [Insn(isa.ALU64 | isa.NEG, d)]
    if kind == "movsx32":
        return [Insn(isa.ALU | isa.MOV | isa.X, d, draw(regs), draw(st.sampled_from((8, 16))))]
    if kind == "movsx64":
        return [Insn(isa.ALU64 | isa.MOV | isa.X, d, draw(regs), draw(st.sampled_from((8, 16, 32))))]
    width = draw(st.sampled_from((16, 32, 64)))
    if kind == "bswap":
        return [Insn(isa.ALU64 | isa.END | isa.TO_LE, d, 0, 0, width)]
    return [Insn(isa.ALU | isa.END | (isa.TO_BE if kind == "be" else isa.TO_LE), d, 0, 0, width)]


@st.composite
def _lddw(draw: st.DrawFn) -> list[Insn]:
    lo, hi = split_imm64(draw(st.integers(0, (1 << 64) - 1)))
    return [Insn(isa.LD_IMM64, draw(regs), 0, 0, lo), Insn(0, 0, 0, 0, hi)]


@st.composite
def _mem(draw: st.DrawFn) -> list[Insn]:
    size = draw(st.sampled_from(_SIZES))
    n = isa.SIZE_BYTES[size]
    where = draw(st.sampled_from(("stack", "mem", "mem", "null")))
    pre: list[Insn] = []
    if where == "stack":
        base, off = 10, -draw(st.integers(1, 512 // n)) * n
    elif where == "mem":
        base, off = 6, draw(st.integers(0, MEM_SIZE - n))
    else:
        base, off = 7, draw(st.integers(0, 64))
        pre = [Insn(isa.ALU64 | isa.MOV | isa.K, 7, 0, 0, draw(st.integers(0, 4000)))]
    kind = draw(st.sampled_from(("ldx", "ldxsx", "st", "stx", "atomic")))
    if kind == "ldx":
        return pre + [Insn(isa.LDX | isa.MEM | size, draw(regs), base, off)]
    if kind == "ldxsx" and size != isa.DW:
        return pre + [Insn(isa.LDX | isa.MEMSX | size, draw(regs), base, off)]
    if kind == "st":
        return pre + [Insn(isa.ST | isa.MEM | size, base, 0, off, draw(imm32))]
    if kind == "atomic" and size in (isa.W, isa.DW):
        op = draw(st.sampled_from(tuple(o | f for o in isa.ATOMIC_ALU_OPS for f in (0, isa.FETCH))
                                  + (isa.XCHG, isa.CMPXCHG)))
        return pre + [Insn(isa.STX | isa.ATOMIC | size, base, draw(regs), off, op)]
    return pre + [Insn(isa.STX | isa.MEM | size, base, draw(regs), off)]


@st.composite
def _jump(draw: st.DrawFn) -> list[Insn]:
    cls = draw(st.sampled_from((isa.JMP, isa.JMP32)))
    op = draw(st.sampled_from(isa.COND_JMP_OPS))
    # the offset is fixed up by terminating_programs (forward, inside the program)
    if draw(st.booleans()):
        return [Insn(cls | op | isa.X, draw(regs), draw(regs), 0)]
    return [Insn(cls | op | isa.K, draw(regs), 0, 0, draw(imm32))]


_PIECES = st.one_of(_alu(), _alu(), _unary(), _lddw(), _mem(), _mem(), _jump())


@st.composite
def terminating_programs(draw: st.DrawFn, max_pieces: int = 24) -> list[Insn]:
    """A program whose jumps all go forward; it reads ``r1`` (memory) and ends in exit."""
    init: list[Insn] = [Insn(isa.ALU64 | isa.MOV | isa.X, 6, 1)]
    for r in _DATA_REGS:
        lo, hi = split_imm64(draw(st.integers(0, (1 << 64) - 1)))
        init += [Insn(isa.LD_IMM64, r, 0, 0, lo), Insn(0, 0, 0, 0, hi)]
    pieces = draw(st.lists(_PIECES, min_size=min(4, max_pieces), max_size=max_pieces))
    body: list[Insn] = []
    jumps: list[int] = []
    for p in pieces:
        if p[0].code & 0x07 in (isa.JMP, isa.JMP32):
            jumps.append(len(body))
        body.extend(p)
    prog = init + body + [Insn(isa.EXIT_INSN)]
    starts = {len(init) + k for k in range(len(body) + 1)}
    # valid targets: not the second slot of an lddw
    second = {k + 1 for k, i in enumerate(prog) if i.code == isa.LD_IMM64}
    for j in jumps:
        k = len(init) + j
        targets = [t for t in range(k + 1, len(prog)) if t in starts and t not in second]
        t = draw(st.sampled_from(targets))
        i = prog[k]
        prog[k] = Insn(i.code, i.dst, i.src, t - k - 1, i.imm)
    return prog
