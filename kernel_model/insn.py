"""The raw BPF instruction: one 8-byte slot, as ``struct bpf_insn`` in uapi
``include/uapi/linux/bpf.h``::

    struct bpf_insn {
        __u8  code;        /* opcode */
        __u8  dst_reg:4;   /* dest register (low nibble on little endian) */
        __u8  src_reg:4;   /* source register */
        __s16 off;         /* signed offset */
        __s32 imm;         /* signed immediate constant */
    };

The raw layer keeps the two halves of ``lddw`` (LD_IMM64) as two slots, as the
kernel does: instruction indices in verifier logs and jump offsets count slots.
Higher layers (text syntax, interpreter, JIT) pair them with :func:`imm64`.

Decoding checks only what the byte layout itself can get wrong (a truncated
program); what the kernel refuses at load time is checked by
:func:`check_insns` and by the verifier.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Sequence

from . import isa
from .errors import InputError, InvalidInsn

__all__ = [
    "Insn",
    "decode",
    "encode",
    "imm64",
    "is_lddw",
    "insn_len",
    "check_insns",
    "BPF_MAXINSNS",
    "BPF_COMPLEXITY_LIMIT_INSNS",
]

_INSN = struct.Struct("<BBhi")

#: Maximum program length for unprivileged loads (include/uapi/linux/bpf_common.h).
BPF_MAXINSNS = 4096
#: Maximum program length (and processed-instruction limit) for privileged loads
#: (include/linux/bpf.h, BPF_COMPLEXITY_LIMIT_INSNS).
BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000


@dataclass(frozen=True, slots=True, repr=False)
class Insn:
    """One instruction slot. ``dst``/``src`` are 4-bit fields (0..15: values above
    10 encode but are refused by the kernel), ``off`` a signed 16-bit and ``imm`` a
    signed 32-bit value.

    ``repr`` and ``str`` show the slot as kernel-syntax assembly
    (:mod:`kernel_model.disasm`), ``Insn<r0 = 1>`` / ``r0 = 1``, so a failing
    property's counterexample reads as a program. The two slots of an lddw are
    shown as ``Insn<r1 = 0x2a ll [lddw 1/2]>`` (the value printed is the first
    slot's half) and ``Insn<[lddw 2/2: imm=0x0]>``; a slot no instruction form
    prints is ``Insn<.raw 0x...>``. Equality, hashing and the fields are the
    dataclass's. :class:`kernel_model.listing.Program` prints a whole program.
    """

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0xFF:
            raise InputError(f"opcode {self.code!r} does not fit in 8 bits")
        if not 0 <= self.dst <= 0xF:
            raise InputError(f"dst register {self.dst!r} does not fit in 4 bits")
        if not 0 <= self.src <= 0xF:
            raise InputError(f"src register {self.src!r} does not fit in 4 bits")
        if not -0x8000 <= self.off <= 0x7FFF:
            raise InputError(f"offset {self.off!r} does not fit in a signed 16-bit field")
        if not -0x8000_0000 <= self.imm <= 0x7FFF_FFFF:
            raise InputError(f"immediate {self.imm!r} does not fit in a signed 32-bit field")

    # --- fields -------------------------------------------------------------
    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def op(self) -> int:
        return self.code & 0xF0

    @property
    def size(self) -> int:
        return self.code & 0x18

    @property
    def mode(self) -> int:
        return self.code & 0xE0

    @property
    def is_src_x(self) -> bool:
        return bool(self.code & 0x08)

    # --- text -----------------------------------------------------------------
    def __str__(self) -> str:
        from .disasm import format_insn  # disasm imports this module

        if self.code == isa.LD_IMM64:
            return format_insn([self, Insn(0)]) + " [lddw 1/2]"
        if self.code == 0 and not (self.dst or self.src or self.off):
            return f"[lddw 2/2: imm={self.imm & 0xFFFF_FFFF:#x}]"
        return format_insn([self])

    def __repr__(self) -> str:
        return f"Insn<{self}>"

    # --- bytes ----------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The 8 little-endian bytes of this slot."""
        return _INSN.pack(self.code, (self.src << 4) | self.dst, self.off, self.imm)

    @classmethod
    def from_bytes(cls, data: bytes, offset: int = 0) -> "Insn":
        """Decode the slot at ``offset`` of ``data`` (8 bytes must be present)."""
        code, regs, off, imm = _INSN.unpack_from(data, offset)
        return cls(code, regs & 0xF, regs >> 4, off, imm)

    def to_u64(self) -> int:
        """The slot as the 64-bit little-endian word the conformance ``-- raw`` format uses."""
        return int.from_bytes(self.to_bytes(), "little")

    @classmethod
    def from_u64(cls, word: int) -> "Insn":
        if not 0 <= word < 1 << 64:
            raise InputError(f"raw instruction word {word:#x} does not fit in 64 bits")
        return cls.from_bytes(word.to_bytes(8, "little"))


def decode(data: bytes, source: str = "") -> list[Insn]:
    """Split instruction bytes into slots; identical slots share one (immutable)
    :class:`Insn`, so a long program is decoded at the cost of a dictionary look-up
    per slot.

    Raises :class:`InputError` naming the source and byte offset when the length
    is not a multiple of 8 or is zero.
    """
    where = source or "program"
    if len(data) == 0:
        raise InputError("empty program (no instruction bytes)", where)
    if len(data) % 8:
        raise InputError(
            f"truncated instruction at byte offset {len(data) - len(data) % 8} "
            f"(length {len(data)} is not a multiple of 8)",
            where,
        )
    seen: dict[tuple[int, int, int, int], Insn] = {}
    out: list[Insn] = []
    append = out.append
    for fields in _INSN.iter_unpack(data):
        insn = seen.get(fields)
        if insn is None:
            code, regs, off, imm = fields
            insn = seen[fields] = Insn(code, regs & 0xF, regs >> 4, off, imm)
        append(insn)
    return out


def encode(insns: Iterable[Insn]) -> bytes:
    """The bytes of a sequence of slots."""
    return b"".join(i.to_bytes() for i in insns)


def is_lddw(insn: Insn) -> bool:
    """True for the first slot of an LD_IMM64 (``BPF_LD | BPF_IMM | BPF_DW``)."""
    return insn.code == isa.LD_IMM64


def insn_len(insn: Insn) -> int:
    """Slots taken by the instruction starting with ``insn`` (2 for lddw)."""
    return 2 if insn.code == isa.LD_IMM64 else 1


def imm64(first: Insn, second: Insn) -> int:
    """The unsigned 64-bit immediate of an lddw pair: ``(u64)second.imm << 32 | (u32)first.imm``."""
    return ((second.imm & 0xFFFF_FFFF) << 32) | (first.imm & 0xFFFF_FFFF)


def split_imm64(value: int) -> tuple[int, int]:
    """The two signed 32-bit immediates (low, high) of a 64-bit value."""
    value &= 0xFFFF_FFFF_FFFF_FFFF
    lo = value & 0xFFFF_FFFF
    hi = value >> 32
    return (lo - (1 << 32) if lo & 0x8000_0000 else lo, hi - (1 << 32) if hi & 0x8000_0000 else hi)


def check_insns(insns: Sequence[Insn], *, opcodes: frozenset[int] = isa.OPCODES,
                max_insns: int = BPF_COMPLEXITY_LIMIT_INSNS) -> None:
    """The instruction-level checks the kernel makes when a program is loaded,
    before any abstract interpretation. Raises :class:`InvalidInsn` with the
    kernel's message and the slot index of the first offence.

    Modelled on Linux 6.18:

    * ``bpf_prog_load()`` (kernel/bpf/syscall.c): 0 or more than
      ``BPF_COMPLEXITY_LIMIT_INSNS`` slots -> ``E2BIG`` with no message.
    * ``resolve_pseudo_ldimm64()`` (kernel/bpf/verifier.c), in slot order:
      ``BPF_LDX uses reserved fields`` (LDX whose mode is not MEM/MEMSX or imm != 0);
      ``invalid bpf_ld_imm64 insn`` (an lddw that is last, or whose second slot
      is not all zero but for imm); ``unrecognized bpf_ld_imm64 insn`` (unknown
      pseudo source, or a MAP_FD/MAP_IDX whose second imm is not 0); ``unknown opcode %02x`` (not in ``bpf_opcode_in_insntable``).

    Pseudo sources that need a map or BTF object (MAP_FD, BTF_ID ...) are
    resolved by the loader, not here. Where we differ: the kernel stops at the
    first map fd that does not exist (``fd %d is not pointing to valid bpf_map``);
    we leave that to the caller that owns the fd table.
    """
    import errno

    n = len(insns)
    if n == 0 or n > max_insns:
        raise InvalidInsn("", 0, errno.E2BIG) if n == 0 else InvalidInsn(
            f"program has {n} instructions, more than {max_insns}", max_insns, errno.E2BIG)
    # The common case at the cost of one pass over the opcodes: no lddw (whose rules read
    # the next slot), every opcode known, no LDX with a reserved mode or a nonzero imm.
    # Otherwise the walk below finds the first offence in slot order.
    kinds = {insn.code for insn in insns}
    if isa.LD_IMM64 not in kinds and kinds <= opcodes:
        ldx = [c for c in kinds if (c & 0x07) == isa.LDX]
        if not ldx or (all((c & 0xE0) in (isa.MEM, isa.MEMSX) for c in ldx)
                       and not any(insn.imm for insn in insns if (insn.code & 0x07) == isa.LDX)):
            return
    i = 0
    while i < n:
        insn = insns[i]
        c = insn.code
        if (c & 0x07) == isa.LDX and (((c & 0xE0) not in (isa.MEM, isa.MEMSX)) or insn.imm != 0):
            raise InvalidInsn("BPF_LDX uses reserved fields", i)
        if c == isa.LD_IMM64:
            if i == n - 1:
                raise InvalidInsn("invalid bpf_ld_imm64 insn", i)
            nxt = insns[i + 1]
            if nxt.code != 0 or nxt.dst != 0 or nxt.src != 0 or nxt.off != 0:
                raise InvalidInsn("invalid bpf_ld_imm64 insn", i)
            if insn.src not in isa.LDIMM64_PSEUDOS or (
                    insn.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_IDX) and nxt.imm != 0):
                raise InvalidInsn("unrecognized bpf_ld_imm64 insn", i)
            i += 2
            continue
        if c not in opcodes:
            raise InvalidInsn(f"unknown opcode {c:02x}", i)
        i += 1
