"""Strategies for single BPF instructions: every form of the ISA.

* :func:`instructions` -- one well-formed instruction of any form of the ISA
  (RFC 9669 v1-v4 plus the kernel's may_goto, addr_space_cast,
  load-acquire/store-release and legacy packet loads) as its list of slots
  (two for lddw). Shrinks toward ``r0 += 0``-like small forms. Well-formed
  means it encodes and prints; it is not a program the kernel would load.
* :func:`raw_slots` -- any 8 bytes as a slot, well-formed or not.
* :data:`FORMS` -- the strategy of each form, by name, for coverage checks.
"""

from __future__ import annotations

from typing import Sequence

from .. import isa
from ..insn import Insn, split_imm64
from .hypothesis_support import check_names, st

__all__ = ["instructions", "raw_slots", "FORMS", "registers", "imm32", "off16"]

registers = st.integers(0, 10)
imm32 = st.integers(-(1 << 31), (1 << 31) - 1)
off16 = st.integers(-(1 << 15), (1 << 15) - 1)

_ALU_BIN = (isa.ADD, isa.SUB, isa.MUL, isa.DIV, isa.OR, isa.AND, isa.LSH, isa.RSH, isa.MOD,
            isa.XOR, isa.MOV, isa.ARSH)


@st.composite
def _alu(draw: st.DrawFn) -> list[Insn]:
    cls = draw(st.sampled_from((isa.ALU, isa.ALU64)))
    op = draw(st.sampled_from(_ALU_BIN))
    off = draw(st.sampled_from((0, 1))) if op in (isa.DIV, isa.MOD) else 0
    if draw(st.booleans()):
        return [Insn(cls | op | isa.X, draw(registers), draw(registers), off)]
    return [Insn(cls | op | isa.K, draw(registers), 0, off, draw(imm32))]


@st.composite
def _movsx(draw: st.DrawFn) -> list[Insn]:
    cls = draw(st.sampled_from((isa.ALU, isa.ALU64)))
    bits = draw(st.sampled_from((8, 16) if cls == isa.ALU else (8, 16, 32)))
    return [Insn(cls | isa.MOV | isa.X, draw(registers), draw(registers), bits)]


@st.composite
def _neg_end(draw: st.DrawFn) -> list[Insn]:
    kind = draw(st.sampled_from(("neg32", "neg64", "le", "be", "bswap")))
    d = draw(registers)
    if kind == "neg32":
        return [Insn(isa.ALU | isa.NEG, d)]
    if kind == "neg64":
        return [Insn(isa.ALU64 | isa.NEG, d)]
    width = draw(st.sampled_from((16, 32, 64)))
    if kind == "bswap":
        return [Insn(isa.ALU64 | isa.END | isa.TO_LE, d, 0, 0, width)]
    return [Insn(isa.ALU | isa.END | (isa.TO_BE if kind == "be" else isa.TO_LE), d, 0, 0, width)]


@st.composite
def _addr_space_cast(draw: st.DrawFn) -> list[Insn]:
    a, b = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    imm = (a << 16) | b
    if imm >= 1 << 31:
        imm -= 1 << 32
    imm = imm or 1
    return [Insn(isa.ALU64 | isa.MOV | isa.X, draw(registers), draw(registers), isa.ADDR_SPACE_CAST, imm)]


@st.composite
def _mem(draw: st.DrawFn) -> list[Insn]:
    kind = draw(st.sampled_from(("ldx", "ldxsx", "st", "stx")))
    size = draw(st.sampled_from((isa.B, isa.H, isa.W, isa.DW)))
    d, s, off = draw(registers), draw(registers), draw(off16)
    if kind == "ldx":
        return [Insn(isa.LDX | isa.MEM | size, d, s, off)]
    if kind == "ldxsx":
        return [Insn(isa.LDX | isa.MEMSX | draw(st.sampled_from((isa.B, isa.H, isa.W))), d, s, off)]
    if kind == "st":
        return [Insn(isa.ST | isa.MEM | size, d, 0, off, draw(imm32))]
    return [Insn(isa.STX | isa.MEM | size, d, s, off)]


@st.composite
def _atomic(draw: st.DrawFn) -> list[Insn]:
    d, s, off = draw(registers), draw(registers), draw(off16)
    if draw(st.booleans()):
        size = draw(st.sampled_from((isa.B, isa.H, isa.W, isa.DW)))
        return [Insn(isa.STX | isa.ATOMIC | size, d, s, off, draw(st.sampled_from((isa.LOAD_ACQ, isa.STORE_REL))))]
    size = draw(st.sampled_from((isa.W, isa.DW)))
    imm = draw(st.sampled_from(tuple(o | f for o in isa.ATOMIC_ALU_OPS for f in (0, isa.FETCH))
                               + (isa.XCHG, isa.CMPXCHG)))
    return [Insn(isa.STX | isa.ATOMIC | size, d, s, off, imm)]


@st.composite
def _lddw(draw: st.DrawFn) -> list[Insn]:
    pseudo = draw(st.sampled_from(isa.LDIMM64_PSEUDOS))
    d = draw(registers)
    if pseudo == isa.PSEUDO_IMM:
        lo, hi = split_imm64(draw(st.integers(0, (1 << 64) - 1)))
    elif pseudo in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
        lo, hi = draw(imm32), draw(imm32)
    else:
        lo, hi = draw(imm32), 0
    return [Insn(isa.LD_IMM64, d, pseudo, 0, lo), Insn(0, 0, 0, 0, hi)]


@st.composite
def _legacy(draw: st.DrawFn) -> list[Insn]:
    size = draw(st.sampled_from((isa.B, isa.H, isa.W)))
    if draw(st.booleans()):
        return [Insn(isa.LD | isa.ABS | size, 0, 0, 0, draw(imm32))]
    return [Insn(isa.LD | isa.IND | size, 0, draw(registers), 0, draw(imm32))]


@st.composite
def _jmp(draw: st.DrawFn) -> list[Insn]:
    cls = draw(st.sampled_from((isa.JMP, isa.JMP32)))
    op = draw(st.sampled_from(isa.COND_JMP_OPS))
    if draw(st.booleans()):
        return [Insn(cls | op | isa.X, draw(registers), draw(registers), draw(off16))]
    return [Insn(cls | op | isa.K, draw(registers), 0, draw(off16), draw(imm32))]


@st.composite
def _control(draw: st.DrawFn) -> list[Insn]:
    kind = draw(st.sampled_from(("ja", "gotol", "may_goto", "exit", "call", "call_local", "kfunc", "callx")))
    if kind == "ja":
        return [Insn(isa.JMP | isa.JA, off=draw(off16))]
    if kind == "gotol":
        return [Insn(isa.JMP32 | isa.JA, imm=draw(imm32))]
    if kind == "may_goto":
        return [Insn(isa.JMP | isa.JCOND, off=draw(off16))]
    if kind == "exit":
        return [Insn(isa.EXIT_INSN)]
    if kind == "call":
        return [Insn(isa.CALL_INSN, imm=draw(imm32))]
    if kind == "call_local":
        return [Insn(isa.CALL_INSN, 0, isa.PSEUDO_CALL, 0, draw(imm32))]
    if kind == "kfunc":
        return [Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, draw(imm32))]
    return [Insn(isa.CALLX_INSN, draw(registers))]


FORMS = {
    "alu": _alu(), "movsx": _movsx(), "neg_end": _neg_end(), "addr_space_cast": _addr_space_cast(),
    "mem": _mem(), "atomic": _atomic(), "lddw": _lddw(), "legacy": _legacy(), "jmp": _jmp(),
    "control": _control(),
}


def instructions(*, forms: Sequence[str] | None = None) -> st.SearchStrategy[list[Insn]]:
    """One well-formed instruction, as its slots (two for lddw): of any form, or of
    the ``forms`` named (keys of :data:`FORMS`)."""
    names = tuple(FORMS) if forms is None else check_names("forms", forms, tuple(FORMS))
    return st.one_of(*(FORMS[n] for n in names))


def raw_slots() -> st.SearchStrategy[Insn]:
    """Any 8 bytes read as one slot."""
    return st.binary(min_size=8, max_size=8).map(Insn.from_bytes)
