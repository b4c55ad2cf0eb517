"""``verify --explain``: the instructions that made a rejected program's failing
register what it is, a backward slice along the verifier's path.

Like PREVAIL's ``--failure-slice``, this starts at the instruction the verifier
rejected and the register its message names (``R2 invalid mem access
'scalar'``), or, when the message names none, the registers the instruction
reads as a pointer or value (the base of a load or store, r0 at ``exit``, the
operands of a jump, r1-r5 of a call). Walking the path back
(:mod:`.verifier_trace`), an instruction that writes a wanted register joins the
slice and its own inputs become wanted in its place; a store through the frame
pointer (``*(u64 *)(r10 -8) = r1``) hands a wanted stack slot on to the stored
register; a conditional jump that reads a wanted register joins the slice as a
*condition* (it refined what the verifier knows about the register, as a NULL
check does) without widening it.

Where we differ from a real def-use analysis: a helper or kfunc call is where
its r0 comes from (its arguments are not followed: the helper's prototype, not
the argument values, makes r0's type); stores through other pointers than r10
are not followed (the slice can stop early at a load from a map value); a
bpf-to-bpf call's callee uses the caller's r6-r9 names (frames are not told
apart).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from kernel_model import isa
from kernel_model.insn import Insn

__all__ = ["SliceEntry", "FailureSlice", "failure_slice", "def_use", "failing_regs"]

_REG_IN_MESSAGE = re.compile(r"\bR(\d{1,2})\b")
_FP = 10


@dataclass(frozen=True, slots=True)
class SliceEntry:
    """One instruction of the slice: ``role`` is ``failed`` (where the verifier
    stopped), ``def`` (it wrote a register the failure depends on) or ``cond`` (a
    jump whose condition refined such a register); ``regs``: the registers it
    is in the slice for."""

    insn: int
    role: str
    regs: tuple[int, ...]


@dataclass(slots=True)
class FailureSlice:
    """The slice of a rejection: the failing instruction, the registers followed, the
    entries from the first instruction to the failing one."""

    failed_at: int
    regs: tuple[int, ...]
    entries: list[SliceEntry]

    @property
    def insns(self) -> set[int]:
        return {e.insn for e in self.entries}


def def_use(insn: Insn) -> tuple[set[int], set[int]]:
    """(registers read, registers written) of one instruction."""
    code, c, op, mode = insn.code, insn.cls, insn.op, insn.mode
    if code == isa.LD_IMM64:
        return set(), {insn.dst}
    if c == isa.LD:  # legacy packet loads: r6 is the skb, r0 the result
        return {6} | ({insn.src} if mode == isa.IND else set()), {0}
    if c == isa.LDX:
        return {insn.src}, {insn.dst}
    if c == isa.ST:
        return {insn.dst}, set()
    if c == isa.STX:
        if mode == isa.ATOMIC:
            if insn.imm == isa.CMPXCHG:
                return {0, insn.dst, insn.src}, {0}
            if insn.imm == isa.LOAD_ACQ:
                return {insn.src}, {insn.dst}
            return {insn.dst, insn.src}, ({insn.src} if insn.imm & isa.FETCH else set())
        return {insn.dst, insn.src}, set()
    if c in (isa.ALU, isa.ALU64):
        if op == isa.MOV:
            return ({insn.src} if insn.is_src_x else set()), {insn.dst}
        if op in (isa.NEG, isa.END):
            return {insn.dst}, {insn.dst}
        return ({insn.dst, insn.src} if insn.is_src_x else {insn.dst}), {insn.dst}
    if c in (isa.JMP, isa.JMP32):
        if op == isa.EXIT:
            return {0}, set()
        if op == isa.CALL:
            if insn.src == isa.PSEUDO_CALL:
                return {1, 2, 3, 4, 5}, set()
            return {1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5}
        if op in (isa.JA, isa.JCOND):
            return set(), set()
        return ({insn.dst, insn.src} if insn.is_src_x else {insn.dst}), set()
    return set(), set()


def failing_regs(insn: Insn, message: str | None) -> tuple[int, ...]:
    """The registers a rejection is about: those its message names, else the ones the
    instruction reads as an address or a checked value."""
    named = [int(r) for r in _REG_IN_MESSAGE.findall(message or "") if int(r) <= 10]
    if named:
        return tuple(dict.fromkeys(named))
    c = insn.cls
    if c == isa.LDX:
        return (insn.src,)
    if c in (isa.ST, isa.STX):
        return (insn.dst,)
    if c in (isa.JMP, isa.JMP32) and insn.op == isa.CALL:
        return ()  # the call itself (an unknown or forbidden helper): no register to follow
    uses, _ = def_use(insn)
    return tuple(sorted(uses - {_FP}))


def _stack_slot(insn: Insn) -> int | None:
    """The fp offset a load or store through r10 touches."""
    if insn.cls == isa.LDX and insn.src == _FP:
        return insn.off
    if insn.cls in (isa.ST, isa.STX) and insn.mode == isa.MEM and insn.dst == _FP:
        return insn.off
    return None


def failure_slice(insns: Sequence[Insn], path: Sequence[int], message: str | None) -> FailureSlice | None:
    """The backward slice of a rejection at ``path[-1]`` (see the module docstring);
    None without a path (the verifier stopped before walking the program)."""
    if not path or not 0 <= path[-1] < len(insns):
        return None
    fail = path[-1]
    regs = failing_regs(insns[fail], message)
    wanted = set(regs) - {_FP}
    slots: set[int] = set()
    entries = [SliceEntry(fail, "failed", regs)]
    for idx in reversed(path[:-1]):
        if not wanted and not slots:
            break
        insn = insns[idx]
        uses, defs = def_use(insn)
        slot = _stack_slot(insn)
        if slot is not None and insn.cls in (isa.ST, isa.STX) and slot in slots:
            slots.discard(slot)
            src = {insn.src} if insn.cls == isa.STX else set()
            wanted |= src - {_FP}
            entries.append(SliceEntry(idx, "def", tuple(sorted(src))))
            continue
        hit = defs & wanted
        if hit:
            wanted -= defs
            if slot is not None and insn.cls == isa.LDX:
                slots.add(slot)  # the value came from the stack: follow the slot
            elif insn.cls == isa.JMP and insn.op == isa.CALL and insn.src != isa.PSEUDO_CALL:
                pass  # a helper's or kfunc's r0: its prototype, not its arguments
            else:
                wanted |= uses - {_FP}
            entries.append(SliceEntry(idx, "def", tuple(sorted(hit))))
        elif insn.cls in (isa.JMP, isa.JMP32) and uses & wanted and insn.op not in (isa.CALL, isa.EXIT):
            entries.append(SliceEntry(idx, "cond", tuple(sorted(uses & wanted))))
    entries.reverse()
    # an instruction walked several times (a loop) is listed at its last walk
    seen: set[int] = set()
    unique: list[SliceEntry] = []
    for e in reversed(entries):
        if e.insn not in seen:
            seen.add(e.insn)
            unique.append(e)
    unique.reverse()
    return FailureSlice(fail, regs, unique)
