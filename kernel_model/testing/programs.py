"""Whole programs that terminate, for differential testing of engines (needs hypothesis).

:func:`terminating_programs` draws programs to run the same input through two
engines -- the reference interpreter and the JIT in the emulated machine
(``emu.kernel.runner.run_program``, engine ``interp`` or ``jit``) -- and compare r0,
memory and faults. What a drawn program promises:

* it passes ``run_program``'s load-time checks (``emu.kernel.runner.precheck``: the
  structural passes of ``bpf_check()``, registers r0-r10 only, no register
  read before it is written on any path, with r1, r2 and r10 set at entry);
* every jump goes forward to the start of a piece (never between the two
  slots of an lddw, never between ``r7 = K`` and the access through r7 it
  prepares), so every run ends at the final ``exit`` within the program's
  length in instructions;
* ``r6`` holds the input memory pointer (r1 at entry) and is never written:
  loads, stores and atomics through it stay inside the first ``mem_size``
  bytes, so run it with at least that much input memory; stack accesses use
  ``r10`` with in-frame offsets (512 bytes), and the 8-byte slots that loads and
  atomics read are zeroed first, so no engine reads a stack byte the program
  did not write (the kernel does not clear the stack; the interpreter's starts
  zeroed, the machine's holds an earlier run's bytes);
* with ``may_fault`` (the default), some accesses go through ``r7``, set just
  before each to a constant below 4096 (an address no engine maps), so they
  fault -- at the same instruction in every engine; with ``may_fault=False``
  there are none and the program runs to ``exit``.

Registers start from 64-bit constants. Operations cover the ALU (32 and 64
bit, immediate and register, all of div/mod/sdiv/smod, shifts, movsx, byte
swaps, neg), lddw, loads (zero- and sign-extending), stores, atomics and
JMP/JMP32 conditional jumps. Shrinks toward short programs of ``r0 += 0``.
Drawn programs are :class:`kernel_model.listing.Program` lists: a failing
example prints as a listing.

These programs are not what the verifier accepts (it tracks pointer types
and refuses much of this); they test instruction semantics.
"""

from __future__ import annotations

from .. import isa
from ..insn import Insn, split_imm64
from ..listing import Program
from .hypothesis_support import check_int, st

__all__ = ["terminating_programs", "MEM_SIZE"]

#: the default bytes of input memory programs are drawn for
MEM_SIZE = 64
#: the stack frame the programs use (MAX_BPF_STACK)
_FRAME = 512
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
def _mem(draw: st.DrawFn, mem_size: int, may_fault: bool) -> list[Insn]:
    size = draw(st.sampled_from(_SIZES))
    n = isa.SIZE_BYTES[size]
    where = draw(st.sampled_from(("stack", "mem", "mem", "null") if may_fault else ("stack", "mem", "mem")))
    pre: list[Insn] = []
    if where == "stack":
        base, off = 10, -draw(st.integers(1, _FRAME // n)) * n
    elif where == "mem":
        base, off = 6, draw(st.integers(0, mem_size - n))
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
    # the offset is fixed up by _terminating_programs (forward, to a piece start)
    if draw(st.booleans()):
        return [Insn(cls | op | isa.X, draw(regs), draw(regs), 0)]
    return [Insn(cls | op | isa.K, draw(regs), 0, 0, draw(imm32))]


@st.composite
def _terminating_programs(draw: st.DrawFn, max_pieces: int, mem_size: int, may_fault: bool) -> Program:
    mem = _mem(mem_size, may_fault)
    pieces_st = st.one_of(_alu(), _alu(), _unary(), _lddw(), mem, mem, _jump())
    init: list[Insn] = [Insn(isa.ALU64 | isa.MOV | isa.X, 6, 1)]
    for r in _DATA_REGS:
        lo, hi = split_imm64(draw(st.integers(0, (1 << 64) - 1)))
        init += [Insn(isa.LD_IMM64, r, 0, 0, lo), Insn(0, 0, 0, 0, hi)]
    pieces = draw(st.lists(pieces_st, min_size=min(4, max_pieces), max_size=max_pieces))
    body: list[Insn] = []
    jumps: list[int] = []
    piece_starts: list[int] = []
    for p in pieces:
        piece_starts.append(len(body))
        if p[0].code & 0x07 in (isa.JMP, isa.JMP32):
            jumps.append(len(body))
        body.extend(p)
    # every stack byte a load or an atomic reads is written first: the interpreter's frame
    # starts zeroed, the machine's holds what was there before (the kernel does not clear it)
    read_slots = sorted({i.off & ~7 for i in body
                         if (i.cls == isa.LDX and i.src == 10) or (i.mode == isa.ATOMIC and i.cls == isa.STX
                                                                   and i.dst == 10)})
    init += [Insn(isa.ST | isa.MEM | isa.DW, 10, 0, off, 0) for off in read_slots]
    prog = init + body + [Insn(isa.EXIT_INSN)]
    # jump targets: the start of a later piece or the exit -- never inside a piece, so
    # never the second slot of an lddw nor the access after its `r7 = K`
    starts = [len(init) + s for s in piece_starts] + [len(prog) - 1]
    for j in jumps:
        k = len(init) + j
        t = draw(st.sampled_from([s for s in starts if s > k]))
        i = prog[k]
        prog[k] = Insn(i.code, i.dst, i.src, t - k - 1, i.imm)
    return Program(prog)


def terminating_programs(*, max_pieces: int = 24, mem_size: int = MEM_SIZE,
                         may_fault: bool = True) -> st.SearchStrategy[Program]:
    """A program of 1 to ``max_pieces`` pieces (at least 4 when allowed) whose jumps all
    go forward; it reads ``r1`` (input memory of ``mem_size`` bytes or more) and ends in
    exit. See the module docstring for what it promises."""
    check_int("max_pieces", max_pieces, 1, 1000)
    check_int("mem_size", mem_size, 8, 4096)
    if not isinstance(may_fault, bool):
        from .hypothesis_support import InvalidArgument

        raise InvalidArgument(f"may_fault={may_fault!r} must be True or False")
    return _terminating_programs(max_pieces, mem_size, may_fault)
