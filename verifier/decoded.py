"""The verifier's decoded form of an instruction: every field computed once per program.

The kernel's checks read ``BPF_CLASS(insn->code)``, ``BPF_OP``, ``BPF_MODE``,
``BPF_SIZE`` and ``BPF_SRC`` (include/uapi/linux/bpf_common.h) from the raw
``struct bpf_insn`` again and again; in C those are free, in Python each mask
is work on the hot path and a place to get a constant wrong. :func:`decode_program`
turns the raw slots (:class:`kernel_model.insn.Insn`) into :class:`DInsn`
objects whose fields are those accessors' values, named as in the kernel
(``cls``, ``op``, ``mode``, ``size``; ``x`` is ``BPF_SRC == BPF_X``), plus the
access width in bytes. Identical slots share one object (a straight-line
program of a million ``r0 += 1`` holds one), so the decoded program costs a
list of references, not a million objects.

This is a typed intermediate form in the spirit of PREVAIL's: the checks of
:mod:`verifier` take a ``DInsn`` and never mask ``code`` themselves.
"""

from __future__ import annotations

from typing import Final, Protocol, Sequence

from kernel_model import isa
from kernel_model.insn import Insn

__all__ = ["DInsn", "InsnFields", "decode_program", "successors_rel", "SIZE_BYTES"]


class InsnFields(Protocol):
    """The raw fields of ``struct bpf_insn``: what the structural passes read, shared by
    :class:`kernel_model.insn.Insn` and :class:`DInsn`."""

    @property
    def code(self) -> int: ...
    @property
    def dst(self) -> int: ...
    @property
    def src(self) -> int: ...
    @property
    def off(self) -> int: ...
    @property
    def imm(self) -> int: ...

#: BPF_SIZE -> bytes (bpf_size_to_bytes)
SIZE_BYTES: Final = {isa.W: 4, isa.H: 2, isa.B: 1, isa.DW: 8}


class DInsn:
    """One decoded slot: the raw fields of ``struct bpf_insn`` and the opcode's parts."""

    __slots__ = ("code", "dst", "src", "off", "imm", "cls", "op", "mode", "size", "x", "nbytes", "raw", "reg64",
                 "stores", "succ_rel", "use_def", "text")

    def __init__(self, raw: Insn) -> None:
        code = raw.code
        self.raw = raw
        self.code = code
        self.dst = raw.dst
        self.src = raw.src
        self.off = raw.off
        self.imm = raw.imm
        #: BPF_CLASS
        self.cls = code & 0x07
        #: BPF_OP (ALU/JMP classes)
        self.op = code & 0xF0
        #: BPF_MODE (load/store classes)
        self.mode = code & 0xE0
        #: BPF_SIZE (load/store classes), the encoded field
        self.size = code & 0x18
        #: BPF_SRC == BPF_X: the source operand is a register (for END: to big endian)
        self.x = bool(code & isa.X)
        #: the access width in bytes of a load/store (bpf_size_to_bytes)
        self.nbytes = SIZE_BYTES[self.size]
        #: a register this instruction defines is written in full (``is_reg64`` for a
        #: destination operand): otherwise its upper half is a zero extension to track
        self.reg64 = _is_reg64_def(self)
        #: a store class (ST/STX) or a kfunc call (bpf_local_irq_save/restore write their
        #: flag's slot): the instructions that write stack slots, the ones stack liveness
        #: (bpf_reset/commit_stack_write_marks) has to follow
        # helper calls too: a dynptr argument writes its two slots (verifier.dynptrs)
        self.stores = self.cls in (isa.ST, isa.STX) or (self.code == isa.CALL_INSN and self.src in (0, isa.PSEUDO_KFUNC_CALL))
        #: ``bpf_insn_successors`` relative to the slot (fall-through first, then the branch)
        self.succ_rel = successors_rel(self)
        #: (use, def) register masks of ``compute_insn_live_regs``, set by the liveness pass
        self.use_def: tuple[int, int] | None = None
        #: the log's disassembly of this (single-slot) instruction, once formatted: it does
        #: not depend on the slot (jump targets and calls print pc-relative)
        self.text: str | None = None

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"DInsn(code={self.code:#04x}, dst={self.dst}, src={self.src}, off={self.off}, imm={self.imm})"


def _is_reg64_def(d: DInsn) -> bool:
    """``is_reg64`` (kernel/bpf/verifier.c) for a destination operand: depends on the
    instruction alone, so it is computed once."""
    c, op = d.cls, d.op
    if c == isa.JMP:
        if op == isa.EXIT:
            return True
        if op == isa.CALL:
            return False
    if c == isa.ALU64 and op == isa.END and d.imm in (16, 32):
        return False
    if c in (isa.ALU64, isa.JMP) or (c == isa.ALU and op == isa.END and d.imm == 64):
        return True
    if c in (isa.ALU, isa.JMP32):
        return False
    if c == isa.LDX:
        return d.size == isa.DW or d.mode == isa.MEMSX
    if c == isa.STX:
        return d.size == isa.DW
    if c == isa.LD:
        return d.mode == isa.IMM
    return True


def successors_rel(d: InsnFields) -> tuple[int, ...]:
    """``bpf_insn_successors`` (kernel/bpf/verifier.c, 6.18) relative to the slot: the
    fall-through first, then the branch; a call's successor is the next slot (the
    liveness passes are intraprocedural); exit has none."""
    code = d.code
    c = code & 0x07
    if c == isa.JMP or c == isa.JMP32:
        op = code & 0xF0
        if op == isa.CALL:
            return (1,)
        if op == isa.EXIT:
            return ()
        if op == isa.JA:
            return (1 + (d.off if c == isa.JMP else d.imm),)
        return (1, 1 + d.off)
    return (2 if code == isa.LD_IMM64 else 1,)


def decode_program(insns: Sequence[Insn]) -> list[DInsn]:
    """The decoded program: one :class:`DInsn` per slot, identical slots sharing one."""
    cache: dict[tuple[int, int, int, int, int], DInsn] = {}
    out: list[DInsn] = []
    for raw in insns:
        key = (raw.code, raw.dst, raw.src, raw.off, raw.imm)
        d = cache.get(key)
        if d is None:
            d = cache[key] = DInsn(raw)
        out.append(d)
    return out
