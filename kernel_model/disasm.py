"""Printing instructions in the kernel's syntax.

:func:`format_insn` follows ``print_bpf_insn()`` of ``kernel/bpf/disasm.c``
(Linux 6.18) character for character -- it is what verifier logs and
``bpftool prog dump xlated`` show -- with three differences, so that every
printed line parses back to the same slots (:mod:`kernel_model.asm`):

* an lddw gets an `` ll`` suffix (the kernel prints ``r1 = 0x1234``, which
  would read back as a 32-bit mov), and pseudo lddw sources print as
  ``map[fd:N]``, ``map[fd:N][0]+OFF``, ``map[idx:N]``, ``btf_id[N]``, ``func[+N]``;
* ``callx rN`` for opcode 0x8d (RFC 9669's callx; the kernel has none and
  would print it as a helper call);
* a slot no instruction form can print exactly (reserved fields set, an
  unknown opcode, ...) prints as ``.raw 0x<64-bit word>``.

:func:`format_log_insn` gives the verifier-log form, ``(79) r1 = *(u64 *)(r1 +0)``,
exactly as the kernel prints it (no ``ll``).
"""

from __future__ import annotations

from typing import Sequence

from . import isa
from .helper_ids import helper_name
from .insn import Insn, imm64

__all__ = ["format_insn", "format_log_insn", "format_program", "is_printable"]

_ALU_STR = {
    isa.ADD: "+=", isa.SUB: "-=", isa.MUL: "*=", isa.DIV: "/=", isa.OR: "|=", isa.AND: "&=",
    isa.LSH: "<<=", isa.RSH: ">>=", isa.MOD: "%=", isa.XOR: "^=", isa.MOV: "=", isa.ARSH: "s>>=",
}
_SIGN_STR = {isa.DIV: "s/=", isa.MOD: "s%="}
_LDST = {isa.W: "u32", isa.H: "u16", isa.B: "u8", isa.DW: "u64"}
_LDSX = {isa.W: "s32", isa.H: "s16", isa.B: "s8"}
_JMP_STR = {
    isa.JEQ: "==", isa.JGT: ">", isa.JLT: "<", isa.JGE: ">=", isa.JLE: "<=", isa.JSET: "&",
    isa.JNE: "!=", isa.JSGT: "s>", isa.JSLT: "s<", isa.JSGE: "s>=", isa.JSLE: "s<=",
}
_ATOMIC_STR = {isa.ADD: "add", isa.AND: "and", isa.OR: "or", isa.XOR: "xor"}


def _raw(insn: Insn) -> str:
    return f".raw {insn.to_u64():#018x}"


def _alu(insn: Insn, maxreg: int = 10) -> str | None:
    c = insn.cls
    w = "w" if c == isa.ALU else "r"
    op = insn.op
    d, s, off, imm = insn.dst, insn.src, insn.off, insn.imm
    if d > maxreg or (insn.is_src_x and s > maxreg):
        return None
    if op == isa.END:
        if s or off or imm not in (16, 32, 64):
            return None
        if c == isa.ALU64:
            if insn.is_src_x:
                return None
            return f"r{d} = bswap{imm} r{d}"
        return f"r{d} = {'be' if insn.is_src_x else 'le'}{imm} r{d}"
    if op == isa.NEG:
        if insn.is_src_x or s or off or imm:
            return None
        return f"{w}{d} = -{w}{d}"
    if op not in _ALU_STR and op not in _SIGN_STR:
        return None
    if insn.is_src_x:
        if imm:
            if c == isa.ALU64 and op == isa.MOV and off == isa.ADDR_SPACE_CAST:
                u = insn.imm & 0xFFFF_FFFF
                return f"r{d} = addr_space_cast(r{s}, {u >> 16}, {u & 0xFFFF})"
            return None
        if op == isa.MOV and off in (8, 16, 32):
            if c == isa.ALU and off == 32:
                return None
            return f"{w}{d} = (s{off}){w}{s}"
        if off == 1 and op in _SIGN_STR:
            return f"{w}{d} {_SIGN_STR[op]} {w}{s}"
        if off:
            return None
        return f"{w}{d} {_ALU_STR[op]} {w}{s}"
    if s:
        return None
    if off == 1 and op in _SIGN_STR:
        return f"{w}{d} {_SIGN_STR[op]} {imm}"
    if off:
        return None
    return f"{w}{d} {_ALU_STR[op]} {imm}"


def _stx(insn: Insn, maxreg: int = 10) -> str | None:
    sz = _LDST.get(insn.size)
    d, s, off, imm = insn.dst, insn.src, insn.off, insn.imm
    if d > maxreg or s > maxreg:
        return None
    if insn.mode == isa.MEM:
        if imm:
            return None
        return f"*({sz} *)(r{d} {off:+d}) = r{s}"
    if insn.mode != isa.ATOMIC:
        return None
    if imm == isa.LOAD_ACQ:
        return f"r{d} = load_acquire(({sz} *)(r{s} {off:+d}))"
    if imm == isa.STORE_REL:
        return f"store_release(({sz} *)(r{d} {off:+d}), r{s})"
    if insn.size not in (isa.W, isa.DW):
        return None
    a64 = "64" if insn.size == isa.DW else ""
    if imm in _ATOMIC_STR:
        return f"lock *({sz} *)(r{d} {off:+d}) {_ALU_STR[imm]} r{s}"
    if imm & isa.FETCH and (imm & ~isa.FETCH) in _ATOMIC_STR:
        return f"r{s} = atomic{a64}_fetch_{_ATOMIC_STR[imm & ~isa.FETCH]}(({sz} *)(r{d} {off:+d}), r{s})"
    if imm == isa.CMPXCHG:
        return f"r0 = atomic{a64}_cmpxchg(({sz} *)(r{d} {off:+d}), r0, r{s})"
    if imm == isa.XCHG:
        return f"r{s} = atomic{a64}_xchg(({sz} *)(r{d} {off:+d}), r{s})"
    return None


def _jmp(insn: Insn, symbolic_calls: bool, maxreg: int = 10) -> str | None:
    c, op = insn.cls, insn.op
    d, s, off, imm = insn.dst, insn.src, insn.off, insn.imm
    if insn.code == isa.CALLX_INSN:
        if s or off or imm or d > maxreg:
            return None
        return f"callx r{d}"
    if op == isa.CALL and c == isa.JMP:
        if d or off:
            return None
        if s == isa.PSEUDO_CALL:
            return f"call pc{imm:+d}"
        if s == isa.PSEUDO_KFUNC_CALL:
            return f"call kernel-function#{imm}"
        if s:
            return None
        name = helper_name(imm) if symbolic_calls else None
        return f"call {name or 'unknown'}#{imm}"
    if insn.code == isa.JMP | isa.JA:
        if d or s or imm:
            return None
        return f"goto pc{off:+d}"
    if insn.code == isa.JMP | isa.JCOND:
        if d or s != isa.MAY_GOTO or imm:
            return None
        return f"may_goto pc{off:+d}"
    if insn.code == isa.JMP32 | isa.JA:
        if d or s or off:
            return None
        return f"gotol pc{imm:+d}"
    if insn.code == isa.EXIT_INSN:
        if d or s or off or imm:
            return None
        return "exit"
    if op not in _JMP_STR or d > maxreg:
        return None
    w = "w" if c == isa.JMP32 else "r"
    if insn.is_src_x:
        if imm or s > maxreg:
            return None
        return f"if {w}{d} {_JMP_STR[op]} {w}{s} goto pc{off:+d}"
    if s:
        return None
    return f"if {w}{d} {_JMP_STR[op]} {imm & 0xFFFF_FFFF:#x} goto pc{off:+d}"


def _lddw(first: Insn, second: Insn | None, log: bool) -> str | None:
    if second is None or second.code or second.dst or second.src or second.off:
        return None
    if first.dst > (15 if log else 10) or first.off:
        return None
    s = first.src
    value = imm64(first, second)
    if log or s == isa.PSEUDO_IMM:
        return f"r{first.dst} = {value:#x}" + ("" if log else " ll")
    if s in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_IDX):
        if second.imm:
            return None
        kind = "fd" if s == isa.PSEUDO_MAP_FD else "idx"
        return f"r{first.dst} = map[{kind}:{first.imm}] ll"
    if s in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
        kind = "fd" if s == isa.PSEUDO_MAP_VALUE else "idx"
        return f"r{first.dst} = map[{kind}:{first.imm}][0]+{second.imm} ll"
    if s == isa.PSEUDO_BTF_ID:
        if second.imm:
            return None
        return f"r{first.dst} = btf_id[{first.imm}] ll"
    if s == isa.PSEUDO_FUNC:
        if second.imm:
            return None
        return f"r{first.dst} = func[{first.imm:+d}] ll"
    return None


def _format(insns: Sequence[Insn], i: int, log: bool, symbolic_calls: bool = True) -> str | None:
    insn = insns[i]
    c = insn.cls
    # print_bpf_insn prints any 4-bit register field as rN (a log shows "r11 = 1"
    # before "R11 is invalid"); the parseable form stops at r10, as the assembler does
    maxreg = 15 if log else 10
    if c in (isa.ALU, isa.ALU64):
        return _alu(insn, maxreg)
    if c == isa.STX:
        return _stx(insn, maxreg)
    if c == isa.ST:
        if insn.mode != isa.MEM or insn.src or insn.dst > maxreg:
            return None
        return f"*({_LDST[insn.size]} *)(r{insn.dst} {insn.off:+d}) = {insn.imm}"
    if c == isa.LDX:
        if insn.imm or insn.dst > maxreg or insn.src > maxreg:
            return None
        if insn.mode == isa.MEM:
            return f"r{insn.dst} = *({_LDST[insn.size]} *)(r{insn.src} {insn.off:+d})"
        if insn.mode == isa.MEMSX and insn.size in _LDSX:
            return f"r{insn.dst} = *({_LDSX[insn.size]} *)(r{insn.src} {insn.off:+d})"
        return None
    if c == isa.LD:
        if insn.code == isa.LD_IMM64:
            return _lddw(insn, insns[i + 1] if i + 1 < len(insns) else None, log)
        if insn.mode in (isa.ABS, isa.IND) and insn.size != isa.DW:
            if insn.dst or insn.off:
                return None
            sz = _LDST[insn.size]
            if insn.mode == isa.ABS:
                return None if insn.src else f"r0 = *({sz} *)skb[{insn.imm}]"
            return None if insn.src > maxreg else f"r0 = *({sz} *)skb[r{insn.src} + {insn.imm}]"
        return None
    return _jmp(insn, symbolic_calls, maxreg)


def is_printable(insns: Sequence[Insn], i: int) -> bool:
    """True when slot ``i`` has an instruction form (else it prints as ``.raw``)."""
    return _format(insns, i, False) is not None


def format_insn(insns: Sequence[Insn], i: int = 0) -> str:
    """The text of the instruction starting at slot ``i`` (kernel syntax, parseable)."""
    text = _format(insns, i, False)
    return text if text is not None else _raw(insns[i])


def format_log_insn(insns: Sequence[Insn], i: int = 0) -> str:
    """The instruction as a verifier log prints it: ``(79) r1 = *(u64 *)(r1 +0)``."""
    insn = insns[i]
    text = _format(insns, i, True)
    if text is None and insn.op == isa.END and insn.cls in (isa.ALU, isa.ALU64):
        # print_bpf_end_insn / print_bpf_bswap_insn print the size as given, even one
        # BPF_END does not have (be48), and ignore src/off (kernel/bpf/disasm.c)
        kind = "bswap" if insn.cls == isa.ALU64 else ("be" if insn.is_src_x else "le")
        text = f"r{insn.dst} = {kind}{insn.imm} r{insn.dst}"
    if text is None:
        text = f"BUG_{insn.code:02x}" if insn.code in isa.OPCODES else isa.CLASS_NAMES[insn.cls]
    return f"({insn.code:02x}) {text}"


def format_program(insns: Sequence[Insn], *, numbered: bool = False) -> str:
    """The whole program, one instruction per line (lddw's second slot skipped)."""
    lines = []
    i = 0
    while i < len(insns):
        text = format_insn(insns, i)
        lines.append(f"{i}: {text}" if numbered else text)
        i += 2 if (insns[i].code == isa.LD_IMM64 and not text.startswith(".raw")) else 1
    return "\n".join(lines) + "\n"
