"""A Python builder for BPF programs, for tests and property-based generators.

Registers are objects: ``r0``..``r10`` select 64-bit (ALU64/JMP) forms and
``w0``..``w10`` the 32-bit (ALU/JMP32) forms, as in the kernel syntax. Every
instruction form has a function returning its slots (a list: lddw has two),
and :class:`Program` strings them together with labels::

    from kernel_model.builder import Program, r0, r1, w2
    p = Program()
    p.mov(r0, 0)
    p.jeq(r1, 0, "out")          # if r1 == 0 goto out
    p.ldx(r0, r1, 8, size=4)     # r0 = *(u32 *)(r1 +8)
    p.label("out")
    p.exit()
    insns = p.build()            # list[Insn]; labels resolved

Operands are a register or an ``int`` immediate; the function picks the X or K
form. Values that do not fit their field raise :class:`InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from . import isa
from .errors import InputError
from .helper_ids import helper_id
from .insn import Insn, split_imm64

__all__ = [
    "Reg", "Program", "Operand",
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10",
    "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10",
    "alu", "mov", "movsx", "neg", "endian", "ldx", "st", "stx", "atomic", "lddw",
    "ja", "gotol", "may_goto", "jcond", "call", "call_local", "call_kfunc", "exit_insn",
]


@dataclass(frozen=True, slots=True)
class Reg:
    """A BPF register; ``is64`` selects r (64-bit) or w (32-bit) forms."""

    n: int
    is64: bool = True

    def __str__(self) -> str:
        return f"{'r' if self.is64 else 'w'}{self.n}"


r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 = (Reg(i) for i in range(11))
w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10 = (Reg(i, False) for i in range(11))

Operand = Union[Reg, int]

_ALU_NAMES = {
    "add": isa.ADD, "sub": isa.SUB, "mul": isa.MUL, "div": isa.DIV, "sdiv": isa.DIV, "or": isa.OR,
    "and": isa.AND, "lsh": isa.LSH, "rsh": isa.RSH, "mod": isa.MOD, "smod": isa.MOD, "xor": isa.XOR,
    "mov": isa.MOV, "arsh": isa.ARSH,
}
_JMP_NAMES = {
    "eq": isa.JEQ, "ne": isa.JNE, "gt": isa.JGT, "ge": isa.JGE, "lt": isa.JLT, "le": isa.JLE,
    "set": isa.JSET, "sgt": isa.JSGT, "sge": isa.JSGE, "slt": isa.JSLT, "sle": isa.JSLE,
}


def _imm(v: int) -> int:
    if -(1 << 31) <= v < (1 << 32):
        return v - (1 << 32) if v >= (1 << 31) else v
    raise InputError(f"immediate {v} does not fit in 32 bits")


def alu(name: str, dst: Reg, src: Operand) -> list[Insn]:
    """``dst <op>= src`` for op in add sub mul div sdiv or and lsh rsh mod smod xor mov arsh."""
    if name not in _ALU_NAMES:
        raise InputError(f"unknown ALU operation {name!r} (known: {', '.join(_ALU_NAMES)})")
    cls = isa.ALU64 if dst.is64 else isa.ALU
    off = 1 if name in ("sdiv", "smod") else 0
    if isinstance(src, Reg):
        return [Insn(cls | _ALU_NAMES[name] | isa.X, dst.n, src.n, off)]
    return [Insn(cls | _ALU_NAMES[name] | isa.K, dst.n, 0, off, _imm(src))]


def mov(dst: Reg, src: Operand) -> list[Insn]:
    """``dst = src``."""
    return alu("mov", dst, src)


def movsx(dst: Reg, src: Reg, bits: int) -> list[Insn]:
    """``dst = (s<bits>)src`` (bits 8, 16, or 32 for r-registers)."""
    return [Insn((isa.ALU64 if dst.is64 else isa.ALU) | isa.MOV | isa.X, dst.n, src.n, bits)]


def neg(dst: Reg) -> list[Insn]:
    """``dst = -dst``."""
    return [Insn((isa.ALU64 if dst.is64 else isa.ALU) | isa.NEG, dst.n)]


def endian(kind: str, dst: Reg, bits: int) -> list[Insn]:
    """``dst = le<bits>/be<bits>/bswap<bits> dst``."""
    if kind == "bswap":
        return [Insn(isa.ALU64 | isa.END | isa.TO_LE, dst.n, 0, 0, bits)]
    if kind not in ("le", "be"):
        raise InputError(f"unknown byte order {kind!r} (le, be, bswap)")
    return [Insn(isa.ALU | isa.END | (isa.TO_BE if kind == "be" else isa.TO_LE), dst.n, 0, 0, bits)]


def _size(size: int) -> int:
    if size not in isa.BYTES_SIZE:
        raise InputError(f"access size {size} is not 1, 2, 4 or 8")
    return isa.BYTES_SIZE[size]


def ldx(dst: Reg, src: Reg, off: int = 0, size: int = 8, signed: bool = False) -> list[Insn]:
    """``dst = *(u<size*8> *)(src + off)`` (``signed``: the sign-extending s8/s16/s32 form)."""
    return [Insn(isa.LDX | (isa.MEMSX if signed else isa.MEM) | _size(size), dst.n, src.n, off)]


def st(dst: Reg, off: int, imm: int, size: int = 8) -> list[Insn]:
    """``*(u<size*8> *)(dst + off) = imm``."""
    return [Insn(isa.ST | isa.MEM | _size(size), dst.n, 0, off, _imm(imm))]


def stx(dst: Reg, off: int, src: Reg, size: int = 8) -> list[Insn]:
    """``*(u<size*8> *)(dst + off) = src``."""
    return [Insn(isa.STX | isa.MEM | _size(size), dst.n, src.n, off)]


def atomic(name: str, dst: Reg, off: int, src: Reg, size: int = 8, fetch: bool = False) -> list[Insn]:
    """Atomic ``add/or/and/xor`` on ``*(dst + off)`` (``fetch``: the old value into src),
    ``xchg``, ``cmpxchg`` (compares with r0), ``store_release`` (``*(dst + off) = src``)
    or ``load_acquire`` (``dst = *(src + off)``)."""
    ops = {"add": isa.ADD, "or": isa.OR, "and": isa.AND, "xor": isa.XOR}
    if name in ops:
        imm = ops[name] | (isa.FETCH if fetch else 0)
    elif name == "xchg":
        imm = isa.XCHG
    elif name == "cmpxchg":
        imm = isa.CMPXCHG
    elif name == "load_acquire":
        imm = isa.LOAD_ACQ
    elif name == "store_release":
        imm = isa.STORE_REL
    else:
        raise InputError(f"unknown atomic operation {name!r}")
    return [Insn(isa.STX | isa.ATOMIC | _size(size), dst.n, src.n, off, imm)]


def lddw(dst: Reg, value: int, pseudo: int = isa.PSEUDO_IMM, aux: int = 0) -> list[Insn]:
    """``dst = value ll`` (two slots). With a pseudo source, ``value`` is the
    first imm (map fd/index, BTF id, pc offset) and ``aux`` the second (value offset)."""
    if pseudo == isa.PSEUDO_IMM:
        if not -(1 << 63) <= value < (1 << 64):
            raise InputError(f"immediate {value} does not fit in 64 bits")
        lo, hi = split_imm64(value)
    else:
        lo, hi = _imm(value), _imm(aux)
    return [Insn(isa.LD_IMM64, dst.n, pseudo, 0, lo), Insn(0, 0, 0, 0, hi)]


def ja(off: int) -> list[Insn]:
    """``goto pc+off``."""
    return [Insn(isa.JMP | isa.JA, off=off)]


def gotol(imm: int) -> list[Insn]:
    """``gotol pc+imm`` (JMP32 JA, 32-bit offset)."""
    return [Insn(isa.JMP32 | isa.JA, imm=_imm(imm))]


def may_goto(off: int) -> list[Insn]:
    """``may_goto pc+off``."""
    return [Insn(isa.JMP | isa.JCOND, off=off)]


def jcond(cond: str, dst: Reg, src: Operand, off: int) -> list[Insn]:
    """``if dst <cond> src goto pc+off`` for cond in eq ne gt ge lt le set sgt sge slt sle."""
    if cond not in _JMP_NAMES:
        raise InputError(f"unknown condition {cond!r} (known: {', '.join(_JMP_NAMES)})")
    cls = isa.JMP if dst.is64 else isa.JMP32
    if isinstance(src, Reg):
        return [Insn(cls | _JMP_NAMES[cond] | isa.X, dst.n, src.n, off)]
    return [Insn(cls | _JMP_NAMES[cond] | isa.K, dst.n, 0, off, _imm(src))]


def call(helper: int | str) -> list[Insn]:
    """Call a helper by id or name (``"bpf_map_lookup_elem"``)."""
    if isinstance(helper, str):
        hid = helper_id(helper)
        if hid is None:
            raise InputError(f"unknown helper {helper!r}")
        helper = hid
    return [Insn(isa.CALL_INSN, imm=_imm(helper))]


def call_local(rel: int) -> list[Insn]:
    """bpf-to-bpf call to ``pc + 1 + rel``."""
    return [Insn(isa.CALL_INSN, 0, isa.PSEUDO_CALL, 0, _imm(rel))]


def call_kfunc(btf_id: int, module_fd_index: int = 0) -> list[Insn]:
    """kfunc call by BTF id (``off`` selects a module BTF in fd_array)."""
    return [Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, module_fd_index, _imm(btf_id))]


def exit_insn() -> list[Insn]:
    """``exit``."""
    return [Insn(isa.EXIT_INSN)]


class Program:
    """Collects instructions; jump and call targets may be label names."""

    def __init__(self) -> None:
        self._insns: list[Insn] = []
        self._labels: dict[str, int] = {}
        self._fixups: list[tuple[int, str, str]] = []  # (slot, label, "off"|"imm")

    def __len__(self) -> int:
        return len(self._insns)

    def emit(self, insns: list[Insn]) -> "Program":
        """Append slots made by the module-level functions."""
        self._insns.extend(insns)
        return self

    def label(self, name: str) -> "Program":
        if name in self._labels:
            raise InputError(f"label {name!r} defined twice")
        self._labels[name] = len(self._insns)
        return self

    def _target(self, target: int | str, kind: str) -> int:
        if isinstance(target, str):
            self._fixups.append((len(self._insns), target, kind))
            return 0
        return target

    # ALU
    def mov(self, dst: Reg, src: Operand) -> "Program":
        return self.emit(mov(dst, src))

    def alu(self, name: str, dst: Reg, src: Operand) -> "Program":
        return self.emit(alu(name, dst, src))

    def add(self, dst: Reg, src: Operand) -> "Program":
        return self.emit(alu("add", dst, src))

    def sub(self, dst: Reg, src: Operand) -> "Program":
        return self.emit(alu("sub", dst, src))

    def mul(self, dst: Reg, src: Operand) -> "Program":
        return self.emit(alu("mul", dst, src))

    def neg(self, dst: Reg) -> "Program":
        return self.emit(neg(dst))

    # memory
    def ldx(self, dst: Reg, src: Reg, off: int = 0, size: int = 8, signed: bool = False) -> "Program":
        return self.emit(ldx(dst, src, off, size, signed))

    def st(self, dst: Reg, off: int, imm: int, size: int = 8) -> "Program":
        return self.emit(st(dst, off, imm, size))

    def stx(self, dst: Reg, off: int, src: Reg, size: int = 8) -> "Program":
        return self.emit(stx(dst, off, src, size))

    def lddw(self, dst: Reg, value: int, pseudo: int = isa.PSEUDO_IMM, aux: int = 0) -> "Program":
        return self.emit(lddw(dst, value, pseudo, aux))

    # control flow
    def ja(self, target: int | str) -> "Program":
        return self.emit(ja(self._target(target, "off")))

    def jcond(self, cond: str, dst: Reg, src: Operand, target: int | str) -> "Program":
        return self.emit(jcond(cond, dst, src, self._target(target, "off")))

    def jeq(self, dst: Reg, src: Operand, target: int | str) -> "Program":
        return self.jcond("eq", dst, src, target)

    def jne(self, dst: Reg, src: Operand, target: int | str) -> "Program":
        return self.jcond("ne", dst, src, target)

    def call(self, helper: int | str) -> "Program":
        return self.emit(call(helper))

    def call_local(self, target: int | str) -> "Program":
        return self.emit(call_local(self._target(target, "imm")))

    def exit(self) -> "Program":
        return self.emit(exit_insn())

    def build(self) -> list[Insn]:
        """The slots with every label resolved."""
        out = list(self._insns)
        for slot, name, kind in self._fixups:
            if name not in self._labels:
                raise InputError(f"undefined label {name!r}")
            rel = self._labels[name] - (slot + 1)
            i = out[slot]
            out[slot] = Insn(i.code, i.dst, i.src, rel, i.imm) if kind == "off" else Insn(i.code, i.dst, i.src, i.off, rel)
        return out
