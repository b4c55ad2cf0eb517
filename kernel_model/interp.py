"""The reference interpreter: exact RFC 9669 semantics in pure Python.

Models ``___bpf_prog_run()`` of ``kernel/bpf/core.c`` (Linux 6.12/6.18) and the
semantics of RFC 9669. It is the reference the JIT is checked against, so each
rule is spelled out once, in :func:`alu_result` and :func:`jump_taken`; the
pre-decoder only binds those rules to one instruction's operands.

Semantics (RFC 9669 section 4):

* ALU (32-bit): operands are the low 32 bits; the result is zero-extended.
  ALU64 with an immediate: the 32-bit ``imm`` is sign-extended to 64 bits (for
  DIV/MOD it is then read as unsigned).
* ``x / 0 = 0``; ``x % 0 = x`` (32-bit: the low 32 bits of x, zero-extended);
  signed ``INT_MIN / -1 = INT_MIN`` and ``INT_MIN % -1 = 0``; signed division
  truncates toward zero and the remainder takes the dividend's sign.
* Shift counts are masked to the operand width (``& 63`` / ``& 31``).
* ``movsx`` sign-extends the low 8/16/32 bits of src; ``ldxs*`` sign-extend
  the loaded value to 64 bits.
* Byte swaps: ``le16/32/64`` truncate (this is a little-endian machine),
  ``be16/32/64`` and ``bswap16/32/64`` reverse the low 2/4/8 bytes.
* Atomics: ``add/or/and/xor`` (with ``fetch``: src receives the old value),
  ``xchg``, ``cmpxchg`` (compares with r0, r0 receives the old value);
  32-bit forms zero-extend what they return. Load-acquire/store-release are
  plain loads/stores here (one CPU).
* ``may_goto`` falls through while the loop budget (``BPF_MAX_LOOPS`` = 8M,
  include/linux/bpf.h) lasts, then jumps.

Where we differ from the kernel's interpreter: the kernel never runs an
unverified program, so it has no checks; we check every memory access
against the mapped regions and raise :class:`ExecFault` naming the
instruction index and address, dispatch helpers/kfuncs to Python callables,
and stop after ``budget`` instructions with :class:`BudgetExceeded`. Legacy
packet loads (LD ABS/IND) and unresolved lddw pseudo sources (map fds, BTF
ids) raise ExecFault: a loader resolves those before a program runs.

Each bpf-to-bpf call gets a fresh 512-byte stack frame below its caller's
(as the JIT does); r6-r9 and r10 are restored on return.

Tail calls (``bpf_tail_call`` as helper 12 when a resolver is given, or the
``BPF_JMP | BPF_TAIL_CALL`` the fixups make of it) follow ``JMP_TAIL_CALL``:
bounds, then the count (MAX_TAIL_CALL_CNT = 33, counted even when the slot is
empty, as the kernel's interpreter does -- its JIT counts only filled slots),
then the slot; the run continues in the slot's program with the same
registers and frame. A tail call out of a bpf-to-bpf callee is not modelled.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from . import isa
from .errors import BudgetExceeded, ExecFault
from .insn import Insn, imm64
from .memory import HelperFn

__all__ = [
    "Interpreter",
    "Region",
    "alu_result",
    "jump_taken",
    "DEFAULT_BUDGET",
    "DEFAULT_STACK_TOP",
    "MAX_LOOPS",
    "MAX_TAIL_CALL_CNT",
    "TailCallResolver",
]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
#: Default instruction budget of one run.
DEFAULT_BUDGET = 10_000_000
#: Where r10 points in the main frame unless the caller says otherwise (a
#: kernel-stack-like address; the frames grow down from it).
DEFAULT_STACK_TOP = 0xFFFF_C900_0001_0000
#: BPF_MAX_LOOPS, the may_goto budget (include/linux/bpf.h, Linux 6.9+).
MAX_LOOPS = 8 * 1024 * 1024

_UNPACK = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"), 8: struct.Struct("<Q")}


def _s64(x: int) -> int:
    return x - (1 << 64) if x & (1 << 63) else x


def _s32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x & (1 << 31) else x


def _sext(x: int, bits: int) -> int:
    """Sign-extend the low ``bits`` of x to a Python int."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x & (1 << (bits - 1)) else x


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _bswap(x: int, nbytes: int) -> int:
    return int.from_bytes((x & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")


def alu_result(is64: bool, op: int, off: int, dst: int, src: int, imm: int = 0,
               is_x: bool = True, is_bswap: bool = False) -> int:
    """The new dst of one ALU/ALU64 operation (all values unsigned 64-bit).

    ``src`` is the operand already chosen by the caller: the source register
    for X forms, the immediate (sign-extended to 64 bits) for K forms. ``off``
    selects sdiv/smod (1) and movsx (8/16/32); ``imm`` is the END width.
    """
    width = 64 if is64 else 32
    mask = M64 if is64 else M32
    a = dst & mask
    b = src & mask
    if op == isa.ADD:
        r = a + b
    elif op == isa.SUB:
        r = a - b
    elif op == isa.MUL:
        r = a * b
    elif op == isa.DIV:
        if off == 1:
            sa, sb = (_s64(a), _s64(b)) if is64 else (_s32(a), _s32(b))
            r = 0 if sb == 0 else _trunc_div(sa, sb)
        else:
            r = 0 if b == 0 else a // b
    elif op == isa.MOD:
        if off == 1:
            sa, sb = (_s64(a), _s64(b)) if is64 else (_s32(a), _s32(b))
            r = sa if sb == 0 else sa - _trunc_div(sa, sb) * sb
        else:
            r = a if b == 0 else a % b
    elif op == isa.OR:
        r = a | b
    elif op == isa.AND:
        r = a & b
    elif op == isa.XOR:
        r = a ^ b
    elif op == isa.LSH:
        r = a << (b & (width - 1))
    elif op == isa.RSH:
        r = a >> (b & (width - 1))
    elif op == isa.ARSH:
        r = (_s64(a) if is64 else _s32(a)) >> (b & (width - 1))
    elif op == isa.NEG:
        r = -a
    elif op == isa.MOV:
        if off in (8, 16, 32) and is_x:
            r = _sext(src, off)
        else:
            r = b
    elif op == isa.END:
        n = imm // 8
        if is_bswap or is_x:  # ALU64 bswap, or ALU to-BE
            r = _bswap(dst, n)
        else:  # to-LE on a little-endian machine: truncate
            r = dst & ((1 << imm) - 1)
        return r & M64
    else:  # pragma: no cover - callers only pass ALU ops
        raise ValueError(f"not an ALU operation: {op:#x}")
    return r & mask


def jump_taken(is64: bool, op: int, a: int, b: int) -> bool:
    """Whether a conditional jump is taken; a, b unsigned 64-bit operands
    (JMP32 compares their low 32 bits)."""
    if not is64:
        a &= M32
        b &= M32
        sa, sb = _s32(a), _s32(b)
    else:
        sa, sb = _s64(a), _s64(b)
    if op == isa.JEQ:
        return a == b
    if op == isa.JNE:
        return a != b
    if op == isa.JGT:
        return a > b
    if op == isa.JGE:
        return a >= b
    if op == isa.JLT:
        return a < b
    if op == isa.JLE:
        return a <= b
    if op == isa.JSET:
        return bool(a & b)
    if op == isa.JSGT:
        return sa > sb
    if op == isa.JSGE:
        return sa >= sb
    if op == isa.JSLT:
        return sa < sb
    if op == isa.JSLE:
        return sa <= sb
    raise ValueError(f"not a conditional jump: {op:#x}")  # pragma: no cover


@dataclass(slots=True)
class Region:
    """A bounded byte array mapped at ``base`` (``name`` appears in faults)."""

    name: str
    base: int
    data: bytearray
    writable: bool = True
    end: int = field(init=False)

    def __post_init__(self) -> None:
        self.end = self.base + len(self.data)


_EXIT = -1
#: include/linux/bpf.h
MAX_TAIL_CALL_CNT = 33
#: include/linux/filter.h: the opcode the verifier's fixups give bpf_tail_call (BPF_JMP | 0xf0)
BPF_TAIL_CALL = 0xF0
#: (prog array address, index) -> (index < max_entries, the program in the slot or None)
TailCallResolver = Callable[[int, int], "tuple[bool, Sequence[Insn] | None]"]


class _TailCall(Exception):
    """Raised by a taken tail call: the run loop continues in the new program."""


class Interpreter:
    """Runs a program of raw slots.

    >>> from kernel_model.asm import assemble
    >>> Interpreter(assemble("r0 = 6\\nr0 *= 7\\nexit")).run()
    42
    """

    def __init__(self, insns: Sequence[Insn], *, helpers: Mapping[int, HelperFn] | None = None,
                 kfuncs: Mapping[int, HelperFn] | None = None, budget: int = DEFAULT_BUDGET,
                 stack_top: int = DEFAULT_STACK_TOP, max_frames: int = isa.MAX_CALL_FRAMES,
                 tail_calls: TailCallResolver | None = None) -> None:
        self.insns = list(insns)
        #: resolves a tail call: (prog array address, index) -> (index < max_entries, the
        #: slot's program or None); without it ``bpf_tail_call`` is an unknown helper
        self.tail_calls = tail_calls
        self.tail_call_cnt = 0
        self._entry_ops: list[Callable[[], int]] = []
        self.helpers = dict(helpers or {})
        self.kfuncs = dict(kfuncs or {})
        self.budget = budget
        self.stack_top = stack_top
        self.max_frames = max_frames
        self.regions: list[Region] = []
        stack_size = isa.MAX_BPF_STACK * max_frames
        self.stack = self.add_region("stack", stack_top - stack_size, bytearray(stack_size))
        self.R: list[int] = [0] * 11
        self.executed = 0
        self._frames: list[tuple[int, int, int, int, int, int]] = []
        self._loops = MAX_LOOPS
        self._ops: list[Callable[[], int]] = [self._compile(i) for i in range(len(self.insns))]
        self._entry_ops = self._ops
        self._progs: dict[int, list[Callable[[], int]]] = {}

    # --- memory -------------------------------------------------------------
    def add_region(self, name: str, base: int, data: bytearray | bytes, writable: bool = True) -> Region:
        """Map ``data`` at ``base``; the bytearray is shared, so the caller sees writes."""
        buf = data if isinstance(data, bytearray) else bytearray(data)
        region = Region(name, base, buf, writable)
        for other in self.regions:
            if region.base < other.end and other.base < region.end:
                raise ValueError(f"region {name!r} overlaps region {other.name!r}")
        self.regions.append(region)
        return region

    def _region(self, addr: int, size: int) -> Region | None:
        for r in self.regions:
            if r.base <= addr and addr + size <= r.end:
                return r
        return None

    def load(self, addr: int, size: int, pc: int = -1) -> int:
        r = self._region(addr, size)
        if r is None:
            raise ExecFault("invalid read", pc, addr, f"{size} bytes outside every mapped region")
        return _UNPACK[size].unpack_from(r.data, addr - r.base)[0]

    def store(self, addr: int, size: int, value: int, pc: int = -1) -> None:
        r = self._region(addr, size)
        if r is None:
            raise ExecFault("invalid write", pc, addr, f"{size} bytes outside every mapped region")
        if not r.writable:
            raise ExecFault("invalid write", pc, addr, f"region {r.name!r} is read-only")
        _UNPACK[size].pack_into(r.data, addr - r.base, value & ((1 << (8 * size)) - 1))

    def read(self, addr: int, size: int) -> bytes:
        """GuestMemory.read for helpers. Zero bytes touch no memory, whatever the
        address: a helper given size 0 (``ARG_CONST_SIZE_OR_ZERO``) never faults
        in the kernel, and the JIT path's machine memory agrees."""
        if size == 0:
            return b""
        r = self._region(addr, size)
        if r is None:
            raise ExecFault("invalid read", self._pc_hint(), addr, f"helper read of {size} bytes")
        o = addr - r.base
        return bytes(r.data[o:o + size])

    def write(self, addr: int, data: bytes) -> None:
        """GuestMemory.write for helpers (zero bytes: no access, as :meth:`read`)."""
        if not data:
            return
        r = self._region(addr, len(data))
        if r is None or not r.writable:
            raise ExecFault("invalid write", self._pc_hint(), addr, f"helper write of {len(data)} bytes")
        o = addr - r.base
        r.data[o:o + len(data)] = data

    def _pc_hint(self) -> int:
        return getattr(self, "_cur_call_pc", -1)

    # --- running ----------------------------------------------------------------
    def run(self, args: Sequence[int] = ()) -> int:
        """Run from slot 0 with r1.. = ``args``; return r0 (unsigned 64-bit)."""
        R = self.R
        for i in range(11):
            R[i] = 0
        for i, a in enumerate(args[:5]):
            R[1 + i] = a & M64
        R[10] = self.stack_top
        self._frames.clear()
        self._loops = MAX_LOOPS
        self.tail_call_cnt = 0
        self._ops = self._entry_ops
        pc = 0
        budget = self.budget
        executed = 0
        left = budget
        try:
            while True:
                ops = self._ops
                n = len(ops)
                try:
                    for step in range(1, left + 1):
                        pc = ops[pc]()
                        if pc < 0:
                            break
                    else:
                        executed += left
                        raise BudgetExceeded(budget, pc)
                    executed += step
                    return R[0]
                except _TailCall:
                    executed += step
                    left -= step
                    pc = 0
                    if left <= 0:
                        raise BudgetExceeded(budget, pc) from None
                except IndexError:
                    if 0 <= pc < n:
                        raise
                    raise ExecFault("jump out of program", pc, None, f"pc {pc} outside 0..{n - 1}") from None
        finally:
            self.executed = executed

    # --- pre-decoding -------------------------------------------------------------
    def _compile(self, pc: int, insns: Sequence[Insn] | None = None) -> Callable[[], int]:
        insn = (insns if insns is not None else self.insns)[pc]
        c = insn.cls
        if insn.code == isa.JMP | BPF_TAIL_CALL or (insn.code == isa.CALL_INSN and insn.src == isa.CALL_HELPER
                                                    and insn.imm == 12 and self.tail_calls is not None):
            return self._tail_call(pc)
        if c in (isa.ALU, isa.ALU64):
            return self._alu(pc, insn)
        if c in (isa.JMP, isa.JMP32):
            return self._jmp(pc, insn)
        if c == isa.LDX:
            return self._ldx(pc, insn)
        if c in (isa.ST, isa.STX):
            return self._store(pc, insn)
        if c == isa.LD:
            return self._ld(pc, insn)
        return self._fault(pc, "unknown opcode", f"opcode {insn.code:#04x}")  # pragma: no cover

    def _fault(self, pc: int, kind: str, detail: str) -> Callable[[], int]:
        def f() -> int:
            raise ExecFault(kind, pc, None, detail)
        return f

    def _alu(self, pc: int, insn: Insn) -> Callable[[], int]:
        R = self.R
        is64 = insn.cls == isa.ALU64
        op, d, s, off, imm, nxt = insn.op, insn.dst, insn.src, insn.off, insn.imm, pc + 1
        if d > 10 or (insn.is_src_x and s > 10 and op not in (isa.NEG, isa.END)):
            return self._fault(pc, "invalid register", f"register r{max(d, s)} does not exist")
        if d == 10:
            return self._fault(pc, "write to frame pointer", "r10 is read-only")
        if op == isa.END:
            bswap = is64
            to_be = insn.is_src_x
            if imm not in (16, 32, 64):
                return self._fault(pc, "invalid instruction", f"byte swap width {imm}")

            def f_end() -> int:
                R[d] = alu_result(is64, op, off, R[d], 0, imm, to_be, bswap)
                return nxt
            return f_end
        mask = M64 if is64 else M32
        # Fast paths for the common operations; everything else goes through alu_result.
        if insn.is_src_x:
            if op == isa.ADD:
                def f() -> int:
                    R[d] = (R[d] + R[s]) & mask
                    return nxt
            elif op == isa.SUB:
                def f() -> int:
                    R[d] = (R[d] - R[s]) & mask
                    return nxt
            elif op == isa.MOV and off == 0:
                def f() -> int:
                    R[d] = R[s] & mask
                    return nxt
            else:
                def f() -> int:
                    R[d] = alu_result(is64, op, off, R[d], R[s], imm, True)
                    return nxt
            return f
        k = (imm & M64) if is64 else (imm & M32)
        if op == isa.ADD:
            def g() -> int:
                R[d] = (R[d] + k) & mask
                return nxt
        elif op == isa.SUB:
            def g() -> int:
                R[d] = (R[d] - k) & mask
                return nxt
        elif op == isa.MOV:
            def g() -> int:
                R[d] = k
                return nxt
        elif op == isa.AND:
            def g() -> int:
                R[d] &= k
                return nxt
        else:
            def g() -> int:
                R[d] = alu_result(is64, op, off, R[d], k, imm, False)
                return nxt
        return g

    def _jmp(self, pc: int, insn: Insn) -> Callable[[], int]:
        R = self.R
        is64 = insn.cls == isa.JMP
        op, d, s, off, imm = insn.op, insn.dst, insn.src, insn.off, insn.imm
        nxt = pc + 1
        if op == isa.JA:
            tgt = pc + 1 + (off if is64 else imm)
            return lambda: tgt
        if op == isa.EXIT and is64:
            return self._exit
        if op == isa.CALL and is64:
            return self._call(pc, insn)
        if op == isa.JCOND and is64:
            tgt = pc + 1 + off

            def f_may_goto() -> int:
                if self._loops > 0:
                    self._loops -= 1
                    return nxt
                return tgt
            return f_may_goto
        if op not in isa.COND_JMP_OPS:
            return self._fault(pc, "invalid instruction", f"opcode {insn.code:#04x}")
        if d > 10 or (insn.is_src_x and s > 10):
            return self._fault(pc, "invalid register", f"register r{max(d, s)} does not exist")
        tgt = pc + 1 + off
        if insn.is_src_x:
            if op == isa.JEQ and is64:
                return lambda: tgt if R[d] == R[s] else nxt
            if op == isa.JNE and is64:
                return lambda: tgt if R[d] != R[s] else nxt
            return lambda: tgt if jump_taken(is64, op, R[d], R[s]) else nxt
        k = (imm & M64) if is64 else (imm & M32)
        if is64 and op == isa.JEQ:
            return lambda: tgt if R[d] == k else nxt
        if is64 and op == isa.JNE:
            return lambda: tgt if R[d] != k else nxt
        if is64 and op == isa.JGT:
            return lambda: tgt if R[d] > k else nxt
        if is64 and op == isa.JLT:
            return lambda: tgt if R[d] < k else nxt
        return lambda: tgt if jump_taken(is64, op, R[d], k) else nxt

    def _exit(self) -> int:
        if not self._frames:
            return _EXIT
        R = self.R
        ret, R[6], R[7], R[8], R[9], R[10] = self._frames.pop()
        return ret

    def _call(self, pc: int, insn: Insn) -> Callable[[], int]:
        R = self.R
        if insn.src == isa.PSEUDO_CALL:
            tgt = pc + 1 + insn.imm
            frames = self._frames
            limit = self.max_frames - 1

            def f_local() -> int:
                if len(frames) >= limit:
                    raise ExecFault("call stack overflow", pc, None, f"more than {self.max_frames} frames")
                frames.append((pc + 1, R[6], R[7], R[8], R[9], R[10]))
                R[10] = (R[10] - isa.MAX_BPF_STACK) & M64
                return tgt
            return f_local
        if insn.src in (isa.CALL_HELPER, isa.PSEUDO_KFUNC_CALL):
            table = self.helpers if insn.src == isa.CALL_HELPER else self.kfuncs
            what = "helper" if insn.src == isa.CALL_HELPER else "kfunc"
            fn = table.get(insn.imm)
            if fn is None:
                return self._fault(pc, f"unknown {what}", f"no {what} with id {insn.imm}")

            def f_helper() -> int:
                self._cur_call_pc = pc
                R[0] = fn(self, R[1], R[2], R[3], R[4], R[5]) & M64
                return pc + 1
            return f_helper
        return self._fault(pc, "invalid call", f"call with src_reg {insn.src}")

    def _tail_call(self, pc: int) -> Callable[[], int]:
        """``JMP_TAIL_CALL`` of ``___bpf_prog_run``: out (fall through) when the index
        is past ``max_entries`` or MAX_TAIL_CALL_CNT tail calls were made, else count
        and, when the slot holds a program, continue at its first instruction with the
        same registers and stack frame."""
        R = self.R
        resolve = self.tail_calls

        def f_tail() -> int:
            if resolve is None:
                raise ExecFault("unknown helper", pc, None, "bpf_tail_call without a prog array resolver")
            in_range, prog = resolve(R[2], R[3] & M32)
            if not in_range or self.tail_call_cnt >= MAX_TAIL_CALL_CNT:
                return pc + 1
            self.tail_call_cnt += 1
            if prog is None:
                return pc + 1
            if self._frames:
                raise ExecFault("not modelled", pc, None, "a tail call out of a bpf-to-bpf callee")
            key = id(prog)
            ops = self._progs.get(key)
            if ops is None:
                ops = self._progs[key] = [self._compile(i, prog) for i in range(len(prog))]
            self._ops = ops
            raise _TailCall
        return f_tail

    def _ldx(self, pc: int, insn: Insn) -> Callable[[], int]:
        R = self.R
        d, s, off, nxt = insn.dst, insn.src, insn.off, pc + 1
        size = isa.SIZE_BYTES[insn.size]
        if d > 10 or s > 10:
            return self._fault(pc, "invalid register", f"register r{max(d, s)} does not exist")
        load = self.load
        if insn.mode == isa.MEMSX:
            bits = 8 * size

            def f_sx() -> int:
                R[d] = _sext(load((R[s] + off) & M64, size, pc), bits) & M64
                return nxt
            return f_sx
        if insn.mode != isa.MEM:
            return self._fault(pc, "invalid instruction", f"LDX mode {insn.mode:#x}")
        # Inline the common single-region case: look the region up, then unpack.
        unpack = _UNPACK[size].unpack_from
        regions = self.regions

        def f() -> int:
            addr = (R[s] + off) & M64
            for r in regions:
                if r.base <= addr and addr + size <= r.end:
                    R[d] = unpack(r.data, addr - r.base)[0]
                    return nxt
            raise ExecFault("invalid read", pc, addr, f"{size} bytes outside every mapped region")
        return f

    def _store(self, pc: int, insn: Insn) -> Callable[[], int]:
        R = self.R
        d, s, off, imm, nxt = insn.dst, insn.src, insn.off, insn.imm, pc + 1
        size = isa.SIZE_BYTES[insn.size]
        if d > 10 or (insn.cls == isa.STX and s > 10):
            return self._fault(pc, "invalid register", f"register r{max(d, s)} does not exist")
        store = self.store
        if insn.cls == isa.ST:
            if insn.mode != isa.MEM:
                return self._fault(pc, "invalid instruction", f"ST mode {insn.mode:#x}")
            k = imm & M64

            def f_st() -> int:
                store((R[d] + off) & M64, size, k, pc)
                return nxt
            return f_st
        if insn.mode == isa.MEM:
            pack = _UNPACK[size].pack_into
            vmask = (1 << (8 * size)) - 1
            regions = self.regions

            def f_stx() -> int:
                addr = (R[d] + off) & M64
                for r in regions:
                    if r.base <= addr and addr + size <= r.end and r.writable:
                        pack(r.data, addr - r.base, R[s] & vmask)
                        return nxt
                store(addr, size, R[s], pc)  # raises the precise fault
                return nxt
            return f_stx
        if insn.mode != isa.ATOMIC:
            return self._fault(pc, "invalid instruction", f"STX mode {insn.mode:#x}")
        return self._atomic(pc, insn, size)

    def _atomic(self, pc: int, insn: Insn, size: int) -> Callable[[], int]:
        R = self.R
        d, s, off, imm, nxt = insn.dst, insn.src, insn.off, insn.imm, pc + 1
        store, load = self.store, self.load
        vmask = (1 << (8 * size)) - 1
        if imm == isa.LOAD_ACQ:
            def f_acq() -> int:
                R[d] = load((R[s] + off) & M64, size, pc)
                return nxt
            return f_acq
        if imm == isa.STORE_REL:
            def f_rel() -> int:
                store((R[d] + off) & M64, size, R[s], pc)
                return nxt
            return f_rel
        if size not in (4, 8):
            return self._fault(pc, "invalid instruction", f"atomic {imm:#x} of {size} bytes")
        base_op = imm & ~isa.FETCH
        if imm == isa.XCHG:
            def f_xchg() -> int:
                addr = (R[d] + off) & M64
                old = load(addr, size, pc)
                store(addr, size, R[s], pc)
                R[s] = old
                return nxt
            return f_xchg
        if imm == isa.CMPXCHG:
            def f_cmpxchg() -> int:
                addr = (R[d] + off) & M64
                old = load(addr, size, pc)
                if old == R[0] & vmask:
                    store(addr, size, R[s], pc)
                R[0] = old
                return nxt
            return f_cmpxchg
        if base_op not in isa.ATOMIC_ALU_OPS or imm & ~(0xF0 | isa.FETCH):
            return self._fault(pc, "invalid instruction", f"atomic operation {imm:#x}")
        fetch = bool(imm & isa.FETCH)

        def f_rmw() -> int:
            addr = (R[d] + off) & M64
            old = load(addr, size, pc)
            v = R[s] & vmask
            if base_op == isa.ADD:
                new = old + v
            elif base_op == isa.OR:
                new = old | v
            elif base_op == isa.AND:
                new = old & v
            else:
                new = old ^ v
            store(addr, size, new, pc)
            if fetch:
                R[s] = old
            return nxt
        return f_rmw

    def _ld(self, pc: int, insn: Insn) -> Callable[[], int]:
        R = self.R
        if insn.code == isa.LD_IMM64:
            if pc + 1 >= len(self.insns):
                return self._fault(pc, "invalid instruction", "incomplete lddw")
            if insn.src != isa.PSEUDO_IMM:
                return self._fault(pc, "unresolved pseudo lddw",
                                   f"src_reg {insn.src} must be resolved by a loader")
            value = imm64(insn, self.insns[pc + 1])
            d, nxt = insn.dst, pc + 2
            if d > 10:
                return self._fault(pc, "invalid register", f"register r{d} does not exist")

            def f() -> int:
                R[d] = value
                return nxt
            return f
        return self._fault(pc, "unsupported instruction",
                           "legacy packet access (LD ABS/IND) needs a socket buffer")
