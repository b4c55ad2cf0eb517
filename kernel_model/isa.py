"""The eBPF instruction set: opcode fields and named opcodes.

Facts from uapi ``include/uapi/linux/bpf.h`` and ``bpf_common.h`` (Linux 6.12/6.18)
and RFC 9669 ("BPF Instruction Set Architecture"). An opcode byte is built from
fields::

      7   6   5   4   3   2   1   0
    +---------------+---+-----------+
    |   operation   | s |   class   |   ALU, ALU64, JMP, JMP32
    +---------------+---+-----------+
    |   mode    | size  |   class   |   LD, LDX, ST, STX
    +-----------+-------+-----------+

``s`` is the source bit: K (0, the immediate) or X (1, the src register).
Every constant below is one field value; every opcode is an OR of fields.
"""

from __future__ import annotations

from typing import Final

# --- instruction classes (bits 0-2) -----------------------------------------
LD: Final = 0x00  #: non-standard loads: lddw (imm64) and legacy packet ABS/IND
LDX: Final = 0x01  #: dst = *(size *)(src + off)
ST: Final = 0x02  #: *(size *)(dst + off) = imm
STX: Final = 0x03  #: *(size *)(dst + off) = src, and atomics
ALU: Final = 0x04  #: 32-bit arithmetic, result zero-extended to 64 bits
JMP: Final = 0x05  #: 64-bit compares, call, exit
JMP32: Final = 0x06  #: 32-bit compares, gotol
ALU64: Final = 0x07  #: 64-bit arithmetic

CLASS_NAMES: Final = ("ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64")

# --- source (bit 3) ---------------------------------------------------------
K: Final = 0x00  #: use the 32-bit immediate (sign-extended to 64 bits for ALU64/JMP)
X: Final = 0x08  #: use the source register

# --- ALU operations (bits 4-7) ---------------------------------------------
ADD: Final = 0x00  #: dst += src
SUB: Final = 0x10  #: dst -= src
MUL: Final = 0x20  #: dst *= src
DIV: Final = 0x30  #: dst /= src (unsigned; off=1: signed); x / 0 = 0
OR: Final = 0x40  #: dst |= src
AND: Final = 0x50  #: dst &= src
LSH: Final = 0x60  #: dst <<= (src & (width-1))
RSH: Final = 0x70  #: dst >>= (src & (width-1)), logical
NEG: Final = 0x80  #: dst = -dst
MOD: Final = 0x90  #: dst %= src (unsigned; off=1: signed); x % 0 = x
XOR: Final = 0xA0  #: dst ^= src
MOV: Final = 0xB0  #: dst = src (off=8/16/32: sign-extending movsx)
ARSH: Final = 0xC0  #: dst s>>= (src & (width-1)), arithmetic
END: Final = 0xD0  #: byte swap: ALU: to LE (K) / BE (X); ALU64 K: unconditional bswap

TO_LE: Final = 0x00
TO_BE: Final = 0x08

ALU_OPS: Final = (ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END)

# --- JMP operations (bits 4-7) ---------------------------------------------
JA: Final = 0x00  #: pc += off (JMP32: gotol, pc += imm)
JEQ: Final = 0x10
JGT: Final = 0x20
JGE: Final = 0x30
JSET: Final = 0x40  #: taken if dst & src
JNE: Final = 0x50
JSGT: Final = 0x60
JSGE: Final = 0x70
CALL: Final = 0x80  #: src 0: helper imm; 1: bpf-to-bpf pc+imm; 2: kfunc btf id imm
EXIT: Final = 0x90
JLT: Final = 0xA0
JLE: Final = 0xB0
JSLT: Final = 0xC0
JSLE: Final = 0xD0
JCOND: Final = 0xE0  #: conditional pseudo jumps (may_goto, src_reg = MAY_GOTO), Linux 6.9+

COND_JMP_OPS: Final = (JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, JLT, JLE, JSLT, JSLE)
MAY_GOTO: Final = 0

# --- memory sizes (bits 3-4) and modes (bits 5-7) ----------------------------
W: Final = 0x00  #: 4 bytes
H: Final = 0x08  #: 2 bytes
B: Final = 0x10  #: 1 byte
DW: Final = 0x18  #: 8 bytes
SIZE_BYTES: Final = {W: 4, H: 2, B: 1, DW: 8}
BYTES_SIZE: Final = {4: W, 2: H, 1: B, 8: DW}

IMM: Final = 0x00  #: LD only: lddw, a 64-bit immediate in two slots
ABS: Final = 0x20  #: legacy packet load r0 = ntoh(*(size *)(skb->data + imm))
IND: Final = 0x40  #: legacy packet load r0 = ntoh(*(size *)(skb->data + src + imm))
MEM: Final = 0x60  #: regular load/store
MEMSX: Final = 0x80  #: sign-extending load (LDX only), ISA v4
ATOMIC: Final = 0xC0  #: STX only: atomic operation chosen by imm

# --- atomic operations (imm of STX|ATOMIC) ------------------------------------
FETCH: Final = 0x01  #: the old value is returned in src
XCHG: Final = 0xE0 | FETCH  #: src = xchg(*(dst + off), src)
CMPXCHG: Final = 0xF0 | FETCH  #: r0 = cmpxchg(*(dst + off), r0, src)
LOAD_ACQ: Final = 0x100  #: dst = load_acquire(src + off), Linux 6.15+
STORE_REL: Final = 0x110  #: store_release(dst + off, src), Linux 6.15+
ATOMIC_ALU_OPS: Final = (ADD, OR, AND, XOR)

# --- LD_IMM64 pseudo sources (src_reg of lddw) --------------------------------
PSEUDO_IMM: Final = 0  #: plain 64-bit constant
PSEUDO_MAP_FD: Final = 1  #: imm = map fd -> map pointer
PSEUDO_MAP_VALUE: Final = 2  #: imm = map fd, next imm = offset -> pointer into map value
PSEUDO_BTF_ID: Final = 3  #: imm = btf id of a ksym (next imm: btf obj fd)
PSEUDO_FUNC: Final = 4  #: imm = pc-relative subprogram -> its address
PSEUDO_MAP_IDX: Final = 5  #: like MAP_FD, imm indexes fd_array
PSEUDO_MAP_IDX_VALUE: Final = 6  #: like MAP_VALUE, imm indexes fd_array
LDIMM64_PSEUDOS: Final = (0, 1, 2, 3, 4, 5, 6)

# --- CALL sources -------------------------------------------------------------
CALL_HELPER: Final = 0
PSEUDO_CALL: Final = 1  #: bpf-to-bpf call, imm = pc-relative target - 1
PSEUDO_KFUNC_CALL: Final = 2  #: kfunc call, imm = BTF id, off = fd_array index of module BTF

# --- special offsets --------------------------------------------------------
ADDR_SPACE_CAST: Final = 1  #: off of ALU64|MOV|X: arena address-space cast (Linux 6.9+)

# --- composite opcodes used often ---------------------------------------------
LD_IMM64: Final = LD | IMM | DW  # 0x18
EXIT_INSN: Final = JMP | EXIT  # 0x95
CALL_INSN: Final = JMP | CALL  # 0x85
CALLX_INSN: Final = JMP | CALL | X  # 0x8d: RFC 9669 callx; the kernel has none

# --- registers ----------------------------------------------------------------
MAX_BPF_REG: Final = 11  #: r0..r10
FP: Final = 10  #: read-only frame pointer
MAX_BPF_STACK: Final = 512  #: bytes of stack per frame (include/linux/filter.h)
MAX_CALL_FRAMES: Final = 8  #: include/linux/bpf_verifier.h


def cls(code: int) -> int:
    """The class field (``BPF_CLASS``)."""
    return code & 0x07


def op(code: int) -> int:
    """The operation field of ALU/JMP opcodes (``BPF_OP``)."""
    return code & 0xF0


def src(code: int) -> int:
    """The source field (``BPF_SRC``): K or X."""
    return code & 0x08


def size(code: int) -> int:
    """The size field of load/store opcodes (``BPF_SIZE``)."""
    return code & 0x18


def mode(code: int) -> int:
    """The mode field of load/store opcodes (``BPF_MODE``)."""
    return code & 0xE0


def _opcode_table(with_atomic_bh: bool) -> frozenset[int]:
    """The opcodes ``bpf_opcode_in_insntable()`` accepts (kernel/bpf/core.c,
    ``BPF_INSN_MAP`` plus the cBPF carry-overs LD ABS/IND B/H/W and JMP|JCOND)."""
    table: set[int] = set()
    for c in (ALU, ALU64):
        for o in (ADD, SUB, AND, OR, LSH, RSH, XOR, MUL, MOV, ARSH, DIV, MOD):
            table.add(c | o | K)
            table.add(c | o | X)
        table.add(c | NEG)
        table.add(c | END | TO_LE)
    table.add(ALU | END | TO_BE)
    for c in (JMP, JMP32):
        for o in COND_JMP_OPS:
            table.add(c | o | K)
            table.add(c | o | X)
        table.add(c | JA)
    table.update({JMP | CALL, JMP | EXIT, JMP | JCOND})
    for s in (B, H, W, DW):
        table.add(STX | MEM | s)
        table.add(ST | MEM | s)
        table.add(LDX | MEM | s)
    table.update({STX | ATOMIC | W, STX | ATOMIC | DW})
    if with_atomic_bh:
        # load-acquire / store-release of bytes and halves, Linux 6.15
        # (commit "bpf: Introduce load-acquire and store-release instructions").
        table.update({STX | ATOMIC | B, STX | ATOMIC | H})
    table.update({LDX | MEMSX | B, LDX | MEMSX | H, LDX | MEMSX | W})
    table.add(LD | IMM | DW)
    for s in (B, H, W):
        table.add(LD | ABS | s)
        table.add(LD | IND | s)
    return frozenset(table)


#: Opcodes the latest modelled kernel (6.18) accepts.
OPCODES: Final = _opcode_table(with_atomic_bh=True)
#: Opcodes of kernels before 6.15 (no 8/16-bit atomic forms).
OPCODES_BEFORE_6_15: Final = _opcode_table(with_atomic_bh=False)


def opcode_in_insntable(code: int, opcodes: frozenset[int] = OPCODES) -> bool:
    """True when the kernel's ``bpf_opcode_in_insntable()`` knows ``code``."""
    return code in opcodes
