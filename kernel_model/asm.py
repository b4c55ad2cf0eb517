"""Text assembly in the kernel's syntax (and the conformance ``%rN`` dialect).

The kernel syntax is the one of verifier logs and ``bpftool prog dump xlated``
(``kernel/bpf/disasm.c``, Linux 6.18) and of LLVM's BPF assembler as the kernel
selftests' inline asm use it. Both spellings of each form are accepted::

    r0 = *(u64 *)(r1 +8)          r0 = *(u64 *)(r1 + 8)
    if r1 != 0x0 goto pc+2        if r1 != 0 goto +2        if r1 != 0 goto out
    goto pc-3   gotol +100000     may_goto +2
    w0 += w1    r0 = (s8)r1       r1 = be16 r1    r1 = bswap64 r1   r1 = -r1
    call bpf_map_lookup_elem      call bpf_map_lookup_elem#1   call 1   call pc+5
    call kernel-function#1234     call my_subprog (a label)    callx r2
    r1 = 0x1234 ll                r1 = my_map ll (a symbol)    r1 = map[fd:3] ll
    r1 = map[fd:3][0]+16 ll       r1 = map[idx:0] ll   r1 = btf_id[1234] ll   r1 = func[+5] ll
    lock *(u64 *)(r10 -8) += r1   r0 = atomic64_fetch_add((u64 *)(r10 -8), r0)
    r0 = atomic_fetch_add((u64 *)(r10 - 8), r0)   r1 = xchg_64(r10 - 8, r1)
    r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r1)  r0 = cmpxchg_64(r10 - 8, r0, r1)
    r0 = load_acquire((u64 *)(r1 +0))   store_release((u64 *)(r1 +0), r2)
    r0 = *(u8 *)skb[4]            r0 = *(u16 *)skb[r2 + 4]
    .raw 0x0000000000000095       (any slot, as the conformance ``-- raw`` word)

Lines may carry a verifier-log prefix (``12: (79) ``), which is ignored, and
comments after ``;``, ``//`` or `` #``. ``name:`` defines a label.

:func:`assemble` returns raw slots (lddw takes two). Errors are
:class:`AsmSyntaxError` with line, column and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from . import isa
from .errors import AsmSyntaxError, InputError
from .helper_ids import helper_id
from .insn import Insn, split_imm64

__all__ = ["assemble", "SYNTAXES"]

SYNTAXES = ("kernel", "conformance")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d[0-9A-Za-z_]*)
  | (?P<op>s>>=|s/=|s%=|s>=|s<=|s>|s<|<<=|>>=|\+=|-=|\*=|/=|\|=|&=|%=|\^=|==|!=|>=|<=|[-+*/%&|^<>=(),:\[\]#])
  | (?P<id>[A-Za-z_.][A-Za-z0-9_.]*(?:-[A-Za-z][A-Za-z0-9_]*)?)
    """,
    re.VERBOSE,
)

_INT_SUFFIX = re.compile(r"[uU]?[lL]{0,2}$")


def parse_int(text: str) -> int | None:
    """An integer literal as LLVM's assembler reads it (``AsmLexer::LexDigit``):
    ``0x1f``, ``0b101``, ``010`` (octal: 8), ``10``, with an ignored C suffix
    ``u``/``l``/``ll``/``ull`` (``5ll`` is 5). None when ``text`` is not one
    (``08``, ``0x``, ``1_000``, ``10h``)."""
    m = _INT_SUFFIX.search(text)  # always matches (maybe empty): 'u' and 'l' are no digits
    body = text[:m.start()] if m else text
    low = body.lower()
    try:
        if low.startswith("0x"):
            return int(body[2:], 16) if body[2:] and "_" not in body else None
        if low.startswith("0b"):
            return int(body[2:], 2) if body[2:] and "_" not in body else None
        if not body.isdigit():
            return None
        if len(body) > 1 and body[0] == "0":
            return int(body, 8)
        return int(body, 10)
    except ValueError:
        return None


_LOG_PREFIX = re.compile(r"^\s*\d+:\s*\([0-9a-fA-F]{2}\)\s*")


@dataclass(slots=True)
class _Tok:
    kind: str  # "num", "op", "id", "end"
    text: str
    col: int  # 1-based


def _tokenize(text: str, line: int, source: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise AsmSyntaxError(f"unexpected character {text[pos]!r}", line, pos + 1, source)
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos + 1))
        pos = m.end()
    toks.append(_Tok("end", "", len(text) + 1))
    return toks


def _strip_comment(text: str) -> str:
    for marker in (";", "//"):
        i = text.find(marker)
        if i >= 0:
            text = text[:i]
    # '#' starts a comment at the line start or after white space (not in 'bpf_x#5').
    m = re.search(r"(^|\s)#", text)
    if m:
        text = text[: m.start()]
    return text


# Pending references resolved after all labels are known.
@dataclass(slots=True)
class _Fixup:
    slot: int
    label: str
    kind: str  # "off" (jump offset), "imm" (gotol / pseudo call / pseudo func)
    line: int
    col: int


_REG = re.compile(r"^([rw])(\d+)$")
_SIZES = {"u8": isa.B, "u16": isa.H, "u32": isa.W, "u64": isa.DW}
_SSIZES = {"s8": isa.B, "s16": isa.H, "s32": isa.W}
_ALU_ASSIGN = {
    "+=": isa.ADD, "-=": isa.SUB, "*=": isa.MUL, "/=": isa.DIV, "|=": isa.OR, "&=": isa.AND,
    "<<=": isa.LSH, ">>=": isa.RSH, "%=": isa.MOD, "^=": isa.XOR, "s>>=": isa.ARSH,
    "s/=": isa.DIV, "s%=": isa.MOD,
}
_JMP_CMP = {
    "==": isa.JEQ, "!=": isa.JNE, ">": isa.JGT, ">=": isa.JGE, "<": isa.JLT, "<=": isa.JLE,
    "&": isa.JSET, "s>": isa.JSGT, "s>=": isa.JSGE, "s<": isa.JSLT, "s<=": isa.JSLE,
}
_ATOMIC_NAMES = {"add": isa.ADD, "or": isa.OR, "and": isa.AND, "xor": isa.XOR}


def _to_s32(value: int, what: str, line: int, col: int, source: str) -> int:
    if -(1 << 31) <= value < (1 << 31):
        return value
    if (1 << 31) <= value < (1 << 32):
        return value - (1 << 32)
    if (1 << 64) - (1 << 31) <= value < (1 << 64):  # a 64-bit spelling of a sign-extended imm
        return value - (1 << 64)
    raise AsmSyntaxError(f"{what} {value} does not fit in 32 bits", line, col, source)


def _to_s16(value: int, line: int, col: int, source: str) -> int:
    if -(1 << 15) <= value < (1 << 15):
        return value
    raise AsmSyntaxError(f"offset {value} does not fit in a signed 16-bit field", line, col, source)


class _Line:
    """A cursor over one line's tokens with error reporting."""

    def __init__(self, toks: list[_Tok], line: int, source: str) -> None:
        self.toks = toks
        self.i = 0
        self.line = line
        self.source = source

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def error(self, expected: str, tok: _Tok | None = None) -> AsmSyntaxError:
        t = tok or self.tok
        got = "end of line" if t.kind == "end" else repr(t.text)
        return AsmSyntaxError(f"expected {expected}, got {got}", self.line, t.col, self.source)

    def next(self) -> _Tok:
        t = self.tok
        if t.kind != "end":
            self.i += 1
        return t

    def accept(self, text: str) -> bool:
        if self.tok.text == text and self.tok.kind != "end":
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> _Tok:
        if self.tok.text != text or self.tok.kind == "end":
            raise self.error(repr(text))
        return self.next()

    def end(self) -> None:
        if self.tok.kind != "end":
            raise self.error("end of instruction")

    def reg(self, kinds: str = "rw") -> tuple[str, int]:
        t = self.tok
        m = _REG.match(t.text) if t.kind == "id" else None
        if not m or m.group(1) not in kinds:
            raise self.error("a register (" + " or ".join(k + "0..r10".lstrip("r") for k in kinds) + ")")
        n = int(m.group(2))
        if n > 10:
            raise AsmSyntaxError(f"register {t.text} does not exist (r0..r10)", self.line, t.col, self.source)
        self.next()
        return m.group(1), n

    def is_reg(self, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "id" and bool(_REG.match(t.text))

    def number(self, what: str = "a number") -> tuple[int, _Tok]:
        """An optionally signed integer literal."""
        start = self.tok
        neg = False
        if self.tok.text in ("-", "+") and self.tok.kind == "op":
            neg = self.next().text == "-"
        t = self.tok
        if t.kind != "num":
            raise self.error(what, t)
        self.next()
        v = parse_int(t.text)
        if v is None:
            raise AsmSyntaxError(f"invalid number {t.text!r} (decimal, 0x hex, 0b binary or 0 octal)",
                                 self.line, t.col, self.source)
        return (-v if neg else v), start

    def at_number(self) -> bool:
        t = self.tok
        if t.kind == "num":
            return True
        return t.kind == "op" and t.text in "+-" and self.peek(1).kind == "num"


class _Assembler:
    def __init__(self, source: str, symbols: Mapping[str, int] | None) -> None:
        self.source = source
        self.symbols = dict(symbols or {})
        self.out: list[Insn] = []
        self.labels: dict[str, int] = {}
        self.fixups: list[_Fixup] = []
        #: bytes of .byte/.short/.long/.8byte directives not yet making whole slots,
        #: and where the first of them was written (line, column)
        self.pending = bytearray()
        self.pending_at = (0, 0)

    # --- shared helpers ---------------------------------------------------------
    def emit(self, *insns: Insn) -> None:
        self.out.extend(insns)

    def data(self, raw: bytes, line: int, col: int) -> None:
        """Raw bytes of a data directive; they become instruction slots (8 bytes,
        little endian) once whole, and must be whole before the next instruction."""
        if not self.pending:
            self.pending_at = (line, col)
        self.pending += raw
        whole = len(self.pending) // 8 * 8
        for k in range(0, whole, 8):
            self.out.append(Insn.from_u64(int.from_bytes(self.pending[k:k + 8], "little")))
        del self.pending[:whole]

    def flush(self) -> None:
        """Before an instruction, a label or the end: raw data must fill whole slots."""
        if self.pending:
            line, col = self.pending_at
            raise AsmSyntaxError(f"raw data leaves {len(self.pending)} byte(s) of a partial instruction "
                                 "(instructions are 8 bytes)", line, col, self.source)

    def target(self, p: _Line, kind: str) -> int:
        """A jump target: ``+N``, ``-N``, ``pc+N`` or a label; returns the
        relative value (0 placeholder for labels, fixed up later)."""
        t = p.tok
        if t.kind == "id" and t.text == "pc" and p.peek(1).text in ("+", "-"):
            p.next()
            v, _ = p.number("a pc-relative offset")
            return v
        if p.at_number():
            v, _ = p.number("a jump offset")
            return v
        if t.kind == "id" and not _REG.match(t.text):
            p.next()
            self.fixups.append(_Fixup(len(self.out), t.text, kind, p.line, t.col))
            return 0
        raise p.error("a jump offset (+N, pc+N) or a label")

    def resolve(self) -> list[Insn]:
        self.flush()
        for f in self.fixups:
            if f.label not in self.labels:
                raise AsmSyntaxError(f"undefined label {f.label!r}", f.line, f.col, self.source)
            rel = self.labels[f.label] - (f.slot + 1)
            ins = self.out[f.slot]
            if f.kind == "off":
                self.out[f.slot] = Insn(ins.code, ins.dst, ins.src, _to_s16(rel, f.line, f.col, self.source), ins.imm)
            else:
                self.out[f.slot] = Insn(ins.code, ins.dst, ins.src, ins.off, rel)
        return self.out

    def label(self, name: str, line: int, col: int) -> None:
        if name in self.labels:
            raise AsmSyntaxError(f"label {name!r} defined twice", line, col, self.source)
        self.labels[name] = len(self.out)


# ------------------------------------------------------------------------------
# Kernel syntax
# ------------------------------------------------------------------------------


#: LLVM's data directives (llvm-mc -triple bpf): bytes per value
_DATA_DIRECTIVES = {".byte": 1, ".short": 2, ".2byte": 2, ".long": 4, ".4byte": 4, ".8byte": 8, ".quad": 8}


class _KernelAsm(_Assembler):
    def line(self, p: _Line) -> None:
        if p.tok.text in _DATA_DIRECTIVES:
            self.data_directive(p)
            return
        self.flush()
        # labels (possibly several) at the start
        while p.tok.kind == "id" and p.peek(1).text == ":" and p.peek(1).kind == "op":
            t = p.next()
            p.next()
            self.label(t.text, p.line, t.col)
        t = p.tok
        if t.kind == "end":
            return
        if t.kind == "num" and p.peek(1).text == ":":  # "12:" index prefix of a log line
            p.next()
            p.next()
            t = p.tok
        if t.text in _DATA_DIRECTIVES:
            self.data_directive(p)
            return
        if t.text == ".raw":
            p.next()
            v, vt = p.number("a 64-bit instruction word")
            if not 0 <= v < (1 << 64):
                raise AsmSyntaxError(f"raw word {v:#x} does not fit in 64 bits", p.line, vt.col, self.source)
            p.end()
            self.emit(Insn.from_u64(v))
            return
        if t.text == "exit":
            p.next()
            p.end()
            self.emit(Insn(isa.JMP | isa.EXIT))
            return
        if t.text in ("goto", "gotol", "may_goto"):
            p.next()
            if t.text == "gotol":
                imm = self.target(p, "imm")
                self.emit(Insn(isa.JMP32 | isa.JA, imm=_to_s32(imm, "offset", p.line, t.col, self.source)))
            else:
                off = self.target(p, "off")
                code = isa.JMP | (isa.JA if t.text == "goto" else isa.JCOND)
                self.emit(Insn(code, off=_to_s16(off, p.line, t.col, self.source)))
            p.end()
            return
        if t.text == "if":
            self.cond_jump(p)
            return
        if t.text == "call":
            self.call(p)
            return
        if t.text == "callx":
            p.next()
            _, d = p.reg("r")
            p.end()
            self.emit(Insn(isa.CALLX_INSN, dst=d))
            return
        if t.text == "lock":
            self.lock(p)
            return
        if t.text == "store_release":
            self.store_release(p)
            return
        if t.text == "*":
            self.store(p)
            return
        if p.is_reg():
            self.assign(p)
            return
        raise p.error("an instruction")

    # --- pieces ---------------------------------------------------------------
    def data_directive(self, p: _Line) -> None:
        """``.byte 0xb7, 0, ...`` / ``.short`` / ``.long`` / ``.8byte`` (``.quad``): values
        from -2**(n-1) to 2**n - 1 for n bits, little endian, as llvm-mc writes them."""
        d = p.next()
        size = _DATA_DIRECTIVES[d.text]
        raw = bytearray()
        while True:
            v, vt = p.number("a number")
            if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
                raise AsmSyntaxError(f"{d.text} value {v} does not fit in {8 * size} bits", p.line, vt.col,
                                     self.source)
            raw += (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            if not p.accept(","):
                break
        p.end()
        self.data(bytes(raw), p.line, d.col)

    def mem_operand(self, p: _Line, signed_ok: bool = False) -> tuple[int, bool, int, int]:
        """``*(u64 *)(rN +off)`` after the leading '*' -> (size, signed, reg, off)."""
        p.expect("(")
        t = p.tok
        signed = False
        if t.text in _SIZES:
            size = _SIZES[t.text]
        elif signed_ok and t.text in _SSIZES:
            size, signed = _SSIZES[t.text], True
        else:
            raise p.error("a size (u8, u16, u32, u64" + (", s8, s16, s32" if signed_ok else "") + ")")
        p.next()
        p.expect("*")
        p.expect(")")
        reg, off = self.addr(p)
        return size, signed, reg, off

    def addr(self, p: _Line, parens: bool = True) -> tuple[int, int]:
        """``(rN +off)``, ``(rN - off)``, ``(rN)``; without parens for xchg_64(r10 - 8, ...)."""
        if parens:
            p.expect("(")
        _, reg = p.reg("r")
        off = 0
        if p.tok.text in ("+", "-") and p.tok.kind == "op":
            sign = -1 if p.next().text == "-" else 1
            v, vt = p.number("an offset")
            off = _to_s16(sign * v, p.line, vt.col, self.source)
        if parens:
            p.expect(")")
        return reg, off

    def typed_ptr(self, p: _Line) -> tuple[int, int, int]:
        """``(u64 *)(rN +off)`` inside atomic_xxx(...) -> (size, reg, off)."""
        p.expect("(")
        t = p.tok
        if t.text not in _SIZES:
            raise p.error("a size (u8, u16, u32, u64)")
        p.next()
        p.expect("*")
        p.expect(")")
        reg, off = self.addr(p)
        return _SIZES[t.text], reg, off

    def store(self, p: _Line) -> None:
        p.expect("*")
        size, _, dst, off = self.mem_operand(p)
        t = p.tok
        if t.text in ("+=", "|=", "&=", "^=") and t.kind == "op":
            # LLVM's form without 'lock' is not accepted by the kernel syntax.
            raise p.error("'=' (atomic read-modify-write needs 'lock')")
        p.expect("=")
        if p.is_reg():
            _, s = p.reg()
            p.end()
            self.emit(Insn(isa.STX | isa.MEM | size, dst, s, off))
            return
        v, vt = p.number("a register or an immediate")
        p.end()
        self.emit(Insn(isa.ST | isa.MEM | size, dst, 0, off, _to_s32(v, "immediate", p.line, vt.col, self.source)))

    def lock(self, p: _Line) -> None:
        p.expect("lock")
        p.expect("*")
        size, _, dst, off = self.mem_operand(p)
        t = p.next()
        ops = {"+=": isa.ADD, "|=": isa.OR, "&=": isa.AND, "^=": isa.XOR}
        if t.text not in ops:
            raise p.error("one of += |= &= ^=", t)
        _, s = p.reg()
        p.end()
        self.emit(Insn(isa.STX | isa.ATOMIC | size, dst, s, off, ops[t.text]))

    def store_release(self, p: _Line) -> None:
        p.expect("store_release")
        p.expect("(")
        size, dst, off = self.typed_ptr(p)
        p.expect(",")
        _, s = p.reg()
        p.expect(")")
        p.end()
        self.emit(Insn(isa.STX | isa.ATOMIC | size, dst, s, off, isa.STORE_REL))

    def cond_jump(self, p: _Line) -> None:
        p.expect("if")
        kind, d = p.reg()
        t = p.next()
        if t.text not in _JMP_CMP or t.kind != "op":
            raise p.error("a comparison (== != > >= < <= & s> s>= s< s<=)", t)
        cls = isa.JMP if kind == "r" else isa.JMP32
        if p.is_reg():
            k2, s = p.reg()
            if k2 != kind:
                raise p.error(f"a {kind}-register (both operands have the same width)", p.toks[p.i - 1])
            code, imm = cls | _JMP_CMP[t.text] | isa.X, 0
        else:
            v, vt = p.number("a register or an immediate")
            code, s, imm = cls | _JMP_CMP[t.text] | isa.K, 0, _to_s32(v, "immediate", p.line, vt.col, self.source)
        p.expect("goto")
        off = self.target(p, "off")
        p.end()
        self.emit(Insn(code, d, s, _to_s16(off, p.line, t.col, self.source), imm))

    def call(self, p: _Line) -> None:
        p.expect("call")
        t = p.tok
        if t.kind == "id" and t.text == "pc" and p.peek(1).text in ("+", "-"):
            p.next()
            v, vt = p.number("a pc-relative offset")
            p.end()
            self.emit(Insn(isa.CALL_INSN, 0, isa.PSEUDO_CALL, 0, _to_s32(v, "offset", p.line, vt.col, self.source)))
            return
        if p.at_number():
            v, vt = p.number()
            p.end()
            self.emit(Insn(isa.CALL_INSN, imm=_to_s32(v, "helper id", p.line, vt.col, self.source)))
            return
        if t.kind != "id":
            raise p.error("a helper name or id, pc+N, or a label")
        p.next()
        if p.accept("#"):
            v, vt = p.number("a helper/kfunc id after '#'")
            p.end()
            imm = _to_s32(v, "id", p.line, vt.col, self.source)
            if t.text == "kernel-function":
                self.emit(Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, imm))
                return
            known = helper_id(t.text)
            if t.text != "unknown" and known is not None and known != imm:
                raise AsmSyntaxError(f"{t.text} is helper #{known}, not #{imm}", p.line, vt.col, self.source)
            self.emit(Insn(isa.CALL_INSN, imm=imm))
            return
        p.end()
        if t.text.startswith("bpf_") and helper_id(t.text) is not None:
            self.emit(Insn(isa.CALL_INSN, imm=helper_id(t.text) or 0))
            return
        if t.text in self.symbols:  # a kfunc named in the symbol table: BTF id
            self.emit(Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, self.symbols[t.text]))
            return
        # otherwise a local subprogram label
        self.fixups.append(_Fixup(len(self.out), t.text, "imm", p.line, t.col))
        self.emit(Insn(isa.CALL_INSN, 0, isa.PSEUDO_CALL, 0, 0))

    def assign(self, p: _Line) -> None:
        kind, d = p.reg()
        dtok = p.toks[p.i - 1]
        t = p.next()
        if t.kind == "op" and t.text in _ALU_ASSIGN:
            self.alu_assign(p, kind, d, t)
            return
        if t.text != "=":
            raise p.error("an assignment operator (=, +=, ...)", t)
        n = p.tok
        # r0 = *(u8 *)(r1 +0) / *(u8 *)skb[...]
        if n.text == "*" and p.peek(1).text == "(":
            p.next()
            if p.peek(4).text == "skb" or p.peek(5).text == "skb":
                self.legacy_ld(p, d)
                return
            size, signed, s, off = self.mem_operand(p, signed_ok=True)
            p.end()
            self.emit(Insn(isa.LDX | (isa.MEMSX if signed else isa.MEM) | size, d, s, off))
            return
        if n.text == "-" and p.is_reg(1):  # r1 = -r1
            p.next()
            k2, s = p.reg()
            if s != d or k2 != kind:
                raise AsmSyntaxError("negation must be of the destination register itself", p.line, n.col, self.source)
            p.end()
            self.emit(Insn((isa.ALU64 if kind == "r" else isa.ALU) | isa.NEG, d))
            return
        if n.text == "(" and p.peek(1).text in ("s8", "s16", "s32"):
            p.next()
            bits = int(p.next().text[1:])
            p.expect(")")
            k2, s = p.reg()
            p.end()
            self.emit(Insn((isa.ALU64 if kind == "r" else isa.ALU) | isa.MOV | isa.X, d, s, bits))
            return
        if n.kind == "id" and re.fullmatch(r"(be|le|bswap)(16|32|64)", n.text):
            p.next()
            k2, s = p.reg()
            if s != d:
                raise AsmSyntaxError("byte swap operates on the destination register itself", p.line, n.col, self.source)
            p.end()
            width = int(n.text.lstrip("beswapl"))
            if n.text.startswith("bswap"):
                self.emit(Insn(isa.ALU64 | isa.END | isa.TO_LE, d, 0, 0, width))
            else:
                self.emit(Insn(isa.ALU | isa.END | (isa.TO_BE if n.text.startswith("be") else isa.TO_LE), d, 0, 0, width))
            return
        if n.kind == "id" and n.text in ("addr_space_cast",):
            p.next()
            p.expect("(")
            _, s = p.reg("r")
            p.expect(",")
            a, _ = p.number()
            p.expect(",")
            b, _ = p.number()
            p.expect(")")
            p.end()
            self.emit(Insn(isa.ALU64 | isa.MOV | isa.X, d, s, isa.ADDR_SPACE_CAST, ((a & 0xFFFF) << 16 | (b & 0xFFFF)) - (1 << 32 if a & 0x8000 else 0)))
            return
        if n.kind == "id" and (n.text.startswith("atomic") or n.text.startswith("xchg")
                               or n.text.startswith("cmpxchg") or n.text == "load_acquire"):
            self.atomic_call(p, kind, d, n)
            return
        if n.kind == "id" and n.text in ("map", "btf_id", "func") and p.peek(1).text == "[":
            self.pseudo_lddw(p, d)
            return
        if p.is_reg():
            k2, s = p.reg()
            p.end()
            if k2 != kind:
                raise AsmSyntaxError(f"{kind}{d} = {k2}{s}: both registers must have the same width",
                                     p.line, dtok.col, self.source)
            self.emit(Insn((isa.ALU64 if kind == "r" else isa.ALU) | isa.MOV | isa.X, d, s))
            return
        if n.kind == "id":  # r1 = symbol ll
            p.next()
            if n.text not in self.symbols:
                raise AsmSyntaxError(f"unknown symbol {n.text!r} (a map or value name needs a symbol table)",
                                     p.line, n.col, self.source)
            p.expect("ll")
            p.end()
            self.emit(Insn(isa.LD_IMM64, d, isa.PSEUDO_MAP_FD, 0, self.symbols[n.text]), Insn(0))
            return
        v, vt = p.number("a register, an immediate, or a memory operand")
        if p.accept("ll"):
            p.end()
            if kind != "r":
                raise AsmSyntaxError("a 64-bit immediate needs an r-register", p.line, dtok.col, self.source)
            if not -(1 << 63) <= v < (1 << 64):
                raise AsmSyntaxError(f"immediate {v} does not fit in 64 bits", p.line, vt.col, self.source)
            lo, hi = split_imm64(v)
            self.emit(Insn(isa.LD_IMM64, d, 0, 0, lo), Insn(0, 0, 0, 0, hi))
            return
        p.end()
        self.emit(Insn((isa.ALU64 if kind == "r" else isa.ALU) | isa.MOV | isa.K, d, 0, 0,
                       _to_s32(v, "immediate", p.line, vt.col, self.source)))

    def alu_assign(self, p: _Line, kind: str, d: int, optok: _Tok) -> None:
        op = _ALU_ASSIGN[optok.text]
        off = 1 if optok.text in ("s/=", "s%=") else 0
        cls = isa.ALU64 if kind == "r" else isa.ALU
        if p.is_reg():
            k2, s = p.reg()
            if k2 != kind:
                raise AsmSyntaxError("both registers must have the same width", p.line, optok.col, self.source)
            p.end()
            self.emit(Insn(cls | op | isa.X, d, s, off))
            return
        v, vt = p.number("a register or an immediate")
        p.end()
        self.emit(Insn(cls | op | isa.K, d, 0, off, _to_s32(v, "immediate", p.line, vt.col, self.source)))

    def legacy_ld(self, p: _Line, d: int) -> None:
        p.expect("(")
        t = p.next()
        if t.text not in ("u8", "u16", "u32"):
            raise p.error("u8, u16 or u32", t)
        p.expect("*")
        p.expect(")")
        p.expect("skb")
        p.expect("[")
        if d != 0:
            raise AsmSyntaxError("legacy packet loads always write r0", p.line, t.col, self.source)
        if p.is_reg():
            _, s = p.reg("r")
            sign = 1
            if p.tok.text in ("+", "-"):
                sign = -1 if p.next().text == "-" else 1
                v, vt = p.number()
            else:
                v, vt = 0, p.tok
            p.expect("]")
            p.end()
            self.emit(Insn(isa.LD | isa.IND | _SIZES[t.text], 0, s, 0, _to_s32(sign * v, "offset", p.line, vt.col, self.source)))
            return
        v, vt = p.number()
        p.expect("]")
        p.end()
        self.emit(Insn(isa.LD | isa.ABS | _SIZES[t.text], 0, 0, 0, _to_s32(v, "offset", p.line, vt.col, self.source)))

    def atomic_call(self, p: _Line, kind: str, d: int, name: _Tok) -> None:
        p.next()
        txt = name.text
        if txt == "load_acquire":
            p.expect("(")
            size, s, off = self.typed_ptr(p)
            p.expect(")")
            p.end()
            self.emit(Insn(isa.STX | isa.ATOMIC | size, d, s, off, isa.LOAD_ACQ))
            return
        m = re.fullmatch(r"atomic(?:64)?_fetch_(add|and|or|xor)|atomic(?:64)?_(xchg|cmpxchg)|(xchg|cmpxchg)(?:32)?_(32|64)", txt)
        if not m:
            raise p.error("atomic_fetch_<op>, atomic_xchg, atomic_cmpxchg, xchg_64, cmpxchg_64 or load_acquire", name)
        p.expect("(")
        if m.group(3):  # LLVM: xchg_64(r10 - 8, r1), cmpxchg_64(r10 - 8, r0, r1)
            size = isa.DW if m.group(4) == "64" else isa.W
            dst, off = self.addr(p, parens=False)
            what = m.group(3)
        else:
            size, dst, off = self.typed_ptr(p)
            what = m.group(2) or m.group(1)
        p.expect(",")
        if what == "cmpxchg":
            _, r0 = p.reg()
            if r0 != 0 or d != 0:
                raise p.error("r0 (cmpxchg compares with r0 and returns into r0)", p.toks[p.i - 1])
            p.expect(",")
            _, s = p.reg()
            p.expect(")")
            p.end()
            self.emit(Insn(isa.STX | isa.ATOMIC | size, dst, s, off, isa.CMPXCHG))
            return
        _, s = p.reg()
        p.expect(")")
        p.end()
        if s != d:
            raise AsmSyntaxError(f"{txt} returns the old value into its source register (r{s}), not r{d}",
                                 p.line, name.col, self.source)
        imm = isa.XCHG if what == "xchg" else (_ATOMIC_NAMES[what] | isa.FETCH)
        self.emit(Insn(isa.STX | isa.ATOMIC | size, dst, s, off, imm))

    def pseudo_lddw(self, p: _Line, d: int) -> None:
        """map[fd:N] / map[fd:N][0]+OFF / map[idx:N] / map[idx:N][0]+OFF / btf_id[N] / func[+N]|func[label]."""
        name = p.next().text
        p.expect("[")
        hi = 0
        fix = None
        if name == "map":
            t = p.next()
            if t.text not in ("fd", "idx"):
                raise p.error("'fd' or 'idx'", t)
            p.expect(":")
            v, vt = p.number()
            p.expect("]")
            value = p.accept("[")
            if value:
                p.expect("0")
                p.expect("]")
                p.expect("+")
                hi, _ = p.number("a value offset")
            if t.text == "fd":
                src = isa.PSEUDO_MAP_VALUE if value else isa.PSEUDO_MAP_FD
            else:
                src = isa.PSEUDO_MAP_IDX_VALUE if value else isa.PSEUDO_MAP_IDX
        elif name == "btf_id":
            v, vt = p.number("a BTF id")
            p.expect("]")
            src = isa.PSEUDO_BTF_ID
        else:
            src = isa.PSEUDO_FUNC
            vt = p.tok
            if p.at_number():
                v, vt = p.number()
            elif p.tok.kind == "id":
                fix = p.next()
                v = 0
            else:
                raise p.error("a pc-relative offset or a label")
            p.expect("]")
        p.expect("ll")
        p.end()
        if fix is not None:
            self.fixups.append(_Fixup(len(self.out), fix.text, "imm", p.line, fix.col))
        self.emit(Insn(isa.LD_IMM64, d, src, 0, _to_s32(v, "immediate", p.line, vt.col, self.source)),
                  Insn(0, 0, 0, 0, _to_s32(hi, "offset", p.line, vt.col, self.source)))


# ------------------------------------------------------------------------------
# Conformance (%rN) dialect: the test data of uBPF (tests/*.data) and of
# bpf_conformance (github.com/Alan-Jowett/bpf_conformance, tests/*.data):
#   mov %r0, 1   add32 %r1, %r2   ldxw %r0, [%r1+4]   stxdw [%r10-8], %r1   lddw %r0, 0x1122334455667788
#   jeq %r1, 0, label   ja +2   ja32 label   exit (also a label: the first exit)
#   le16/be32/bswap64 %r0 (swap16/32/64: bpf_conformance's spelling of bswap)
#   movsx832 %r0, %r1   ldxsb %r0, [%r1]   sdiv/smod   neg   lock [fetch] add|and|or|xor|xchg|cmpxchg[32] [%r1], %r2
#   call N / call helper N (helper)   call local label (bpf-to-bpf)   call %rN / call helper %rN (callx)
#   call runtime N (a kfunc call, src 2)
# %r11..%r15 assemble (4-bit fields) so that negative tests reach the load-time check.
# ------------------------------------------------------------------------------

_CONF_ALU = {
    "add": isa.ADD, "sub": isa.SUB, "mul": isa.MUL, "div": isa.DIV, "sdiv": isa.DIV, "mod": isa.MOD,
    "smod": isa.MOD, "or": isa.OR, "and": isa.AND, "xor": isa.XOR, "lsh": isa.LSH, "rsh": isa.RSH,
    "arsh": isa.ARSH, "mov": isa.MOV, "neg": isa.NEG,
}
_CONF_JMP = {
    "jeq": isa.JEQ, "jgt": isa.JGT, "jge": isa.JGE, "jset": isa.JSET, "jne": isa.JNE, "jsgt": isa.JSGT,
    "jsge": isa.JSGE, "jlt": isa.JLT, "jle": isa.JLE, "jslt": isa.JSLT, "jsle": isa.JSLE,
}
_CONF_SIZE = {"b": isa.B, "h": isa.H, "w": isa.W, "dw": isa.DW}


class _ConfAsm(_Assembler):
    first_exit: int | None = None

    def creg(self, p: _Line) -> int:
        t = p.tok
        if t.text != "%":
            raise p.error("a register %r0..%r10")
        p.next()
        r = p.tok
        m = re.fullmatch(r"r(\d+)", r.text) if r.kind == "id" else None
        if not m:
            raise p.error("a register %r0..%r10", r)
        n = int(m.group(1))
        if n > 15:  # %r11..%r15 encode, as bpf_conformance's assembler does for its negative tests
            raise AsmSyntaxError(f"register %{r.text} does not fit the 4-bit register field (%r0..%r15)",
                                 p.line, t.col, self.source)
        p.next()
        return n

    def cmem(self, p: _Line) -> tuple[int, int]:
        p.expect("[")
        r = self.creg(p)
        off = 0
        if p.tok.text in ("+", "-"):
            sign = -1 if p.next().text == "-" else 1
            v, vt = p.number("an offset")
            off = _to_s16(sign * v, p.line, vt.col, self.source)
        p.expect("]")
        return r, off

    def ctarget(self, p: _Line, kind: str) -> int:
        if p.at_number():
            v, _ = p.number("a jump offset")
            return v
        t = p.tok
        if t.kind == "id":
            p.next()
            self.fixups.append(_Fixup(len(self.out), t.text, kind, p.line, t.col))
            return 0
        raise p.error("a jump offset or a label")

    def line(self, p: _Line) -> None:
        while p.tok.kind == "id" and p.peek(1).text == ":":
            t = p.next()
            p.next()
            self.label(t.text, p.line, t.col)
        t = p.tok
        if t.kind == "end":
            return
        if t.kind != "id":
            raise p.error("an instruction mnemonic")
        m = p.next().text
        base = m
        is32 = False
        if m.endswith("32") and m[:-2] in _CONF_ALU | _CONF_JMP | {"ja": 0}:
            base, is32 = m[:-2], True
        elif m.endswith("64") and m[:-2] in _CONF_ALU:
            base = m[:-2]
        if m == "exit":
            p.end()
            if self.first_exit is None:
                self.first_exit = len(self.out)
            self.emit(Insn(isa.EXIT_INSN))
            return
        if base in _CONF_ALU:
            cls = isa.ALU if is32 else isa.ALU64
            op = _CONF_ALU[base]
            off = 1 if base in ("sdiv", "smod") else 0
            d = self.creg(p)
            if op == isa.NEG:
                p.end()
                self.emit(Insn(cls | isa.NEG, d))
                return
            p.expect(",")
            if p.tok.text == "%":
                s = self.creg(p)
                p.end()
                self.emit(Insn(cls | op | isa.X, d, s, off))
            else:
                v, vt = p.number("a register or an immediate")
                p.end()
                self.emit(Insn(cls | op | isa.K, d, 0, off, _to_s32(v, "immediate", p.line, vt.col, self.source)))
            return
        mm = re.fullmatch(r"movsx(8|16|32)(32|64)", m)
        if mm:
            d = self.creg(p)
            p.expect(",")
            s = self.creg(p)
            p.end()
            self.emit(Insn((isa.ALU if mm.group(2) == "32" else isa.ALU64) | isa.MOV | isa.X, d, s, int(mm.group(1))))
            return
        mm = re.fullmatch(r"(le|be|bswap|swap)(16|32|64)", m)
        if mm:
            d = self.creg(p)
            p.end()
            if mm.group(1) in ("bswap", "swap"):  # bpf_conformance spells the v4 byte swap swapNN
                self.emit(Insn(isa.ALU64 | isa.END | isa.TO_LE, d, 0, 0, int(mm.group(2))))
            else:
                self.emit(Insn(isa.ALU | isa.END | (isa.TO_BE if mm.group(1) == "be" else isa.TO_LE), d, 0, 0, int(mm.group(2))))
            return
        mm = re.fullmatch(r"ldx(s?)(b|h|w|dw)", m)
        if mm:
            d = self.creg(p)
            p.expect(",")
            s, off = self.cmem(p)
            p.end()
            mode = isa.MEMSX if mm.group(1) else isa.MEM
            self.emit(Insn(isa.LDX | mode | _CONF_SIZE[mm.group(2)], d, s, off))
            return
        mm = re.fullmatch(r"(stx?)(b|h|w|dw)", m)
        if mm:
            d, off = self.cmem(p)
            p.expect(",")
            if mm.group(1) == "stx":
                s = self.creg(p)
                p.end()
                self.emit(Insn(isa.STX | isa.MEM | _CONF_SIZE[mm.group(2)], d, s, off))
            else:
                v, vt = p.number("an immediate")
                p.end()
                self.emit(Insn(isa.ST | isa.MEM | _CONF_SIZE[mm.group(2)], d, 0, off,
                               _to_s32(v, "immediate", p.line, vt.col, self.source)))
            return
        if m == "lddw":
            d = self.creg(p)
            p.expect(",")
            v, vt = p.number("a 64-bit immediate")
            p.end()
            if not -(1 << 63) <= v < (1 << 64):
                raise AsmSyntaxError(f"immediate {v} does not fit in 64 bits", p.line, vt.col, self.source)
            lo, hi = split_imm64(v)
            self.emit(Insn(isa.LD_IMM64, d, 0, 0, lo), Insn(0, 0, 0, 0, hi))
            return
        if m in ("ja", "ja32"):
            if m == "ja32":
                imm = self.ctarget(p, "imm")
                p.end()
                self.emit(Insn(isa.JMP32 | isa.JA, imm=_to_s32(imm, "offset", p.line, t.col, self.source)))
            else:
                off = self.ctarget(p, "off")
                p.end()
                self.emit(Insn(isa.JMP | isa.JA, off=_to_s16(off, p.line, t.col, self.source)))
            return
        if base in _CONF_JMP:
            cls = isa.JMP32 if is32 else isa.JMP
            d = self.creg(p)
            p.expect(",")
            if p.tok.text == "%":
                s = self.creg(p)
                code, imm = cls | _CONF_JMP[base] | isa.X, 0
            else:
                v, vt = p.number("a register or an immediate")
                s, code, imm = 0, cls | _CONF_JMP[base] | isa.K, _to_s32(v, "immediate", p.line, vt.col, self.source)
            p.expect(",")
            off = self.ctarget(p, "off")
            p.end()
            self.emit(Insn(code, d, s, _to_s16(off, p.line, t.col, self.source), imm))
            return
        if m == "call":
            call_kind = p.tok.text if p.tok.kind == "id" and p.tok.text in ("helper", "runtime") else ""
            if call_kind:  # bpf_conformance: call helper N / call helper %rN / call runtime N (a kfunc)
                p.next()
                if call_kind == "helper" and p.tok.text == "%":
                    d = self.creg(p)
                    p.end()
                    self.emit(Insn(isa.CALLX_INSN, dst=d))
                    return
                v, vt = p.number("a helper number" if call_kind == "helper" else "a runtime function id")
                p.end()
                src = isa.PSEUDO_KFUNC_CALL if call_kind == "runtime" else 0
                self.emit(Insn(isa.CALL_INSN, 0, src, 0, _to_s32(v, "call id", p.line, vt.col, self.source)))
                return
            if p.tok.text == "local":
                p.next()
                lt = p.tok
                if lt.kind != "id":
                    raise p.error("a label after 'call local'")
                p.next()
                p.end()
                self.fixups.append(_Fixup(len(self.out), lt.text, "imm", p.line, lt.col))
                self.emit(Insn(isa.CALL_INSN, 0, isa.PSEUDO_CALL, 0, 0))
                return
            if p.tok.text == "%":
                d = self.creg(p)
                p.end()
                self.emit(Insn(isa.CALLX_INSN, dst=d))
                return
            v, vt = p.number("a helper number, 'local LABEL' or a register")
            p.end()
            self.emit(Insn(isa.CALL_INSN, imm=_to_s32(v, "helper id", p.line, vt.col, self.source)))
            return
        if m == "lock":
            self.lock(p)
            return
        raise AsmSyntaxError(f"unknown mnemonic {m!r}", p.line, t.col, self.source)

    def lock(self, p: _Line) -> None:
        fetch = p.accept("fetch")
        t = p.tok
        if t.kind != "id":
            raise p.error("an atomic operation (add, and, or, xor, xchg, cmpxchg)")
        p.next()
        name = t.text
        size = isa.DW
        if name.endswith("32"):
            name, size = name[:-2], isa.W
        ops = {"add": isa.ADD, "and": isa.AND, "or": isa.OR, "xor": isa.XOR}
        d, off = self.cmem(p)
        p.expect(",")
        s = self.creg(p)
        p.end()
        if name in ops:
            imm = ops[name] | (isa.FETCH if fetch else 0)
        elif name == "xchg":
            imm = isa.XCHG
        elif name == "cmpxchg":
            imm = isa.CMPXCHG
        else:
            raise AsmSyntaxError(f"unknown atomic operation {t.text!r}", p.line, t.col, self.source)
        self.emit(Insn(isa.STX | isa.ATOMIC | size, d, s, off, imm))

    def resolve(self) -> list[Insn]:
        if self.first_exit is not None and "exit" not in self.labels:
            self.labels["exit"] = self.first_exit
        return super().resolve()


#: directives each dialect knows; .rept/.endr are expanded before assembling
_KERNEL_DIRECTIVES = frozenset({".raw", ".rept", ".endr", *_DATA_DIRECTIVES})
#: the most source lines ``.rept`` may expand to (a program has at most 1M instructions)
MAX_EXPANDED_LINES = 1 << 21


def _expand_rept(lines: list[tuple[int, str]], source: str) -> list[tuple[int, str]]:
    """``.rept N`` ... ``.endr`` blocks (nested) repeated N times, as llvm-mc does;
    each copy keeps its source line number for errors."""
    out: list[tuple[int, str]] = []
    # a stack of (lines collected so far, count, line of the .rept)
    stack: list[tuple[list[tuple[int, str]], int, int]] = []
    cur = out
    for lineno, body in lines:
        head = body.split(None, 1)
        word = head[0] if head else ""
        if word == ".rept":
            rest = head[1].strip() if len(head) > 1 else ""
            col = body.index(".rept") + 1
            count = parse_int(rest)
            if count is None:
                raise AsmSyntaxError(f".rept needs a repeat count, got {rest or 'nothing'!r}", lineno, col, source)
            stack.append((cur, count, lineno))
            cur = []
            continue
        if word == ".endr":
            if not stack:
                raise AsmSyntaxError(".endr without a .rept", lineno, body.index(".endr") + 1, source)
            if len(head) > 1:
                raise AsmSyntaxError(f"unexpected {head[1].strip()!r} after .endr", lineno,
                                     body.index(".endr") + 6, source)
            body_lines = cur
            cur, count, _ = stack.pop()
            if len(cur) + count * len(body_lines) > MAX_EXPANDED_LINES:
                raise AsmSyntaxError(f".rept expands to more than {MAX_EXPANDED_LINES} lines", lineno, 1, source)
            cur.extend(body_lines * count)
            continue
        cur.append((lineno, body))
    if stack:
        raise AsmSyntaxError(".rept without a matching .endr", stack[-1][2], 1, source)
    return out


def assemble(text: str, *, syntax: str = "kernel", source: str = "",
             symbols: Mapping[str, int] | None = None) -> list[Insn]:
    """Assemble ``text`` into raw instruction slots.

    ``syntax`` is ``"kernel"`` (verifier-log / LLVM syntax) or ``"conformance"``
    (the ``%rN`` dialect). ``symbols`` maps names usable as ``rN = NAME ll``
    (becoming a ``BPF_PSEUDO_MAP_FD`` lddw with imm = the value, as the
    verifier corpus encodes map references) and kfunc names for ``call NAME``
    (a kfunc call with imm = the value). ``source`` names the file in errors.

    The kernel syntax takes LLVM's directives the kernel selftests' inline
    assembly uses: ``.rept N`` / ``.endr`` around instructions, raw instruction
    words as ``.byte``, ``.short``/``.2byte``, ``.long``/``.4byte`` and
    ``.8byte``/``.quad`` values (little endian, whole 8-byte slots), and ours,
    ``.raw WORD``. Numbers are read as LLVM reads them: ``010`` is octal 8.
    """
    if syntax not in SYNTAXES:
        raise InputError(f"unknown syntax {syntax!r} (known: {', '.join(SYNTAXES)})")
    asm: _Assembler = _KernelAsm(source, symbols) if syntax == "kernel" else _ConfAsm(source, symbols)
    handler: Callable[[_Line], None] = asm.line  # type: ignore[attr-defined]
    lines: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        body = raw
        if syntax == "kernel":
            body = _LOG_PREFIX.sub(lambda m: " " * len(m.group()), body)
        body = _strip_comment(body)
        if not body.strip():
            continue
        stripped = body.lstrip()
        if stripped.startswith("."):
            word = stripped.split(None, 1)[0]
            if syntax != "kernel" or word not in _KERNEL_DIRECTIVES:
                col = len(body) - len(stripped) + 1
                raise AsmSyntaxError(f"unsupported directive {word!r}", lineno, col, source)
        lines.append((lineno, body))
    if syntax == "kernel":
        lines = _expand_rept(lines, source)
    for lineno, body in lines:
        toks = _tokenize(body, lineno, source)
        handler(_Line(toks, lineno, source))
    out = asm.resolve()
    if not out:
        raise InputError("no instructions", source or "")
    return out
