"""The x86-64 emit layer shared by the BPF JIT and the trampolines.

Byte-level helpers modelled on ``arch/x86/net/bpf_jit_comp.c`` (Linux 6.12 and
6.18), where ``do_jit`` and ``__arch_prepare_bpf_trampoline`` share them too:
REX-prefix builders (``add_1mod``/``add_2mod``/``add_3mod``), ModRM builders
(``add_1reg``/``add_2reg``), the operation emitters the kernel names
``emit_mov_imm32``, ``emit_mov_imm64``, ``emit_mov_reg``, ``emit_movsx_reg``,
``emit_ldx``, ``emit_ldsx``, ``emit_stx``, ``emit_atomic``,
``emit_3vex``/``emit_shiftx`` (BMI2), ``emit_nops``, and the control
transfers whose bytes depend on the CPU configuration
(:class:`kernel_model.cpu.CpuConfig`): ``EMIT_ENDBR``, ``emit_call`` /
``emit_jump`` (``emit_patch``), ``x86_call_depth_emit_accounting``,
``emit_rsb_call`` and ``emit_return``. Registers are JIT register numbers
(BPF r0..r10, AX, AUX, X86_R9, X86_R12; see :mod:`jit.x86.regs`); addresses
come from one symbol table (:class:`jit.symbols.KernelSymbols`).

Emission is plain Python appending to a ``bytearray``: the JIT writes bytes
directly, as the kernel does, so an image's size is known before placement
(every pass emits; only the final pass has an address to emit at).
"""

from __future__ import annotations

import struct
from typing import Final

from kernel_model.cpu import CpuConfig

from ..symbols import KernelSymbols
from .regs import BPF_REG_AX, AUX_REG, is_ereg, is_ereg_8l, reg2hex

__all__ = ["Emitter", "JitEncodeError", "X86_NOPS", "SIMPLE_ALU_OPCODES", "is_imm8", "is_simm32", "is_uimm32",
           "is_imm8_jmp_offset", "ENDBR64", "CALL_DEPTH_ACCOUNTING_SIZE", "X86_PATCH_SIZE", "add_1mod", "add_2mod",
           "add_3mod", "add_1reg", "add_2reg"]

#: gen_endbr(): ``endbr64``
ENDBR64: Final = b"\xf3\x0f\x1e\xfa"
#: ``sarq $5, %gs:disp32(%rip)``: 65 48 c1 3d <rel32> 05 (arch/x86/kernel/callthunks.c, skl_call_thunk_template)
CALL_DEPTH_ACCOUNTING_SIZE: Final = 9
#: emit_patch(): a ``call``/``jmp`` rel32
X86_PATCH_SIZE: Final = 5

#: arch/x86/include/asm/nops.h (x86-64): the recommended multi-byte nops, ASM_NOP_MAX = 8
X86_NOPS: Final = {
    1: b"\x90",
    2: b"\x66\x90",
    3: b"\x0f\x1f\x00",
    4: b"\x0f\x1f\x40\x00",
    5: b"\x0f\x1f\x44\x00\x00",
    6: b"\x66\x0f\x1f\x44\x00\x00",
    7: b"\x0f\x1f\x80\x00\x00\x00\x00",
    8: b"\x0f\x1f\x84\x00\x00\x00\x00\x00",
}
ASM_NOP_MAX: Final = 8

#: simple_alu_opcodes[]: the 1-byte ALU opcodes (and /r extension for shifts), by BPF_OP
SIMPLE_ALU_OPCODES: Final = {0x00: 0x01, 0x10: 0x29, 0x50: 0x21, 0x40: 0x09, 0xA0: 0x31,
                             0x60: 0xE0, 0x70: 0xE8, 0xC0: 0xF8}

_PACK_I32 = struct.Struct("<i").pack
_PACK_U32 = struct.Struct("<I").pack


class JitEncodeError(ValueError):
    """An encoding the kernel's JIT refuses (a call target out of rel32 range ...)."""


def is_imm8(v: int) -> bool:
    return -128 <= v <= 127


def is_imm8_jmp_offset(v: int) -> bool:
    """Linux 6.12+ limits positive rel8 jump offsets to 123 so the passes converge
    (``is_imm8_jmp_offset``, commit "bpf, x86: Fix jit convergence issue")."""
    return -128 <= v <= 123


def is_simm32(v: int) -> bool:
    return -(1 << 31) <= v < (1 << 31)


def is_uimm32(v: int) -> bool:
    return 0 <= v < (1 << 32)


def _u32(v: int) -> bytes:
    return _PACK_U32(v & 0xFFFF_FFFF)


def add_1mod(byte: int, reg: int) -> int:
    return byte | 1 if is_ereg(reg) else byte


def add_2mod(byte: int, r1: int, r2: int) -> int:
    if is_ereg(r1):
        byte |= 1
    if is_ereg(r2):
        byte |= 4
    return byte


def add_3mod(byte: int, r1: int, r2: int, index: int) -> int:
    if is_ereg(r1):
        byte |= 1
    if is_ereg(index):
        byte |= 2
    if is_ereg(r2):
        byte |= 4
    return byte


def add_1reg(byte: int, reg: int) -> int:
    return byte + reg2hex[reg]


def add_2reg(byte: int, dst: int, src: int) -> int:
    return byte + reg2hex[dst] + (reg2hex[src] << 3)


class Emitter:
    """A growing instruction buffer. ``buf`` holds the bytes being emitted (the
    JIT's ``temp`` for one instruction, a whole trampoline); ``origin`` is the
    address ``buf[0]`` will have, so rel32 calls and jumps know their ``ip``."""

    __slots__ = ("buf", "origin")

    def __init__(self, origin: int = 0) -> None:
        self.buf = bytearray()
        self.origin = origin

    def __len__(self) -> int:
        return len(self.buf)

    def restart(self, origin: int) -> None:
        """A new buffer whose first byte will be at ``origin`` (the JIT: per instruction)."""
        self.buf = bytearray()
        self.origin = origin

    @property
    def ip(self) -> int:
        """The address of the next byte emitted."""
        return self.origin + len(self.buf)

    # --- raw bytes ------------------------------------------------------------
    def b(self, *data: int) -> None:
        self.buf.extend(data)

    def imm32(self, v: int) -> None:
        self.buf += _u32(v)

    def imm(self, v: int, nbytes: int) -> None:
        self.buf += (v & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little")

    def nops(self, n: int) -> None:
        """emit_nops(): the longest recommended nops first."""
        while n > 0:
            k = min(n, ASM_NOP_MAX)
            self.buf += X86_NOPS[k]
            n -= k

    # --- moves ------------------------------------------------------------------
    def mov(self, dst: int, src: int) -> None:
        """EMIT_mov: 64-bit ``mov dst, src`` unless dst == src."""
        if dst != src:
            self.b(add_2mod(0x48, dst, src), 0x89, add_2reg(0xC0, dst, src))

    def mov_imm32(self, sign_propagate: bool, dst: int, imm32: int) -> None:
        """emit_mov_imm32: ``mov r64, simm32`` for negative values when the sign
        must propagate, ``xor r32, r32`` for 0, else ``mov r32, imm32``."""
        imm32 &= 0xFFFF_FFFF
        if sign_propagate and imm32 & 0x8000_0000:
            self.b(add_1mod(0x48, dst), 0xC7, add_1reg(0xC0, dst))
            self.imm32(imm32)
            return
        if imm32 == 0:
            if is_ereg(dst):
                self.b(add_2mod(0x40, dst, dst))
            self.b(0x31, add_2reg(0xC0, dst, dst))
            return
        if is_ereg(dst):
            self.b(add_1mod(0x40, dst))
        self.b(add_1reg(0xB8, dst))
        self.imm32(imm32)

    def mov_imm64(self, dst: int, imm64: int) -> None:
        """emit_mov_imm64: the shortest of mov r32 / mov r64 simm32 / movabs."""
        imm64 &= (1 << 64) - 1
        lo = imm64 & 0xFFFF_FFFF
        if imm64 < 1 << 32:
            self.mov_imm32(False, dst, lo)
        elif imm64 >= (1 << 64) - (1 << 31):
            self.mov_imm32(True, dst, lo)
        else:
            self.b(add_1mod(0x48, dst), add_1reg(0xB8, dst))
            self.buf += imm64.to_bytes(8, "little")

    def mov_reg(self, is64: bool, dst: int, src: int) -> None:
        """emit_mov_reg: 64-bit mov (skipped when dst == src) or 32-bit mov (always)."""
        if is64:
            self.mov(dst, src)
        else:
            if is_ereg(dst) or is_ereg(src):
                self.b(add_2mod(0x40, dst, src))
            self.b(0x89, add_2reg(0xC0, dst, src))

    def movsx_reg(self, num_bits: int, is64: bool, dst: int, src: int) -> None:
        """emit_movsx_reg: movsx/movsxd (BPF ``movsx``, ISA v4)."""
        if is64:
            if num_bits == 8:
                self.b(add_2mod(0x48, src, dst), 0x0F, 0xBE, add_2reg(0xC0, src, dst))
            elif num_bits == 16:
                self.b(add_2mod(0x48, src, dst), 0x0F, 0xBF, add_2reg(0xC0, src, dst))
            elif num_bits == 32:
                self.b(add_2mod(0x48, src, dst), 0x63, add_2reg(0xC0, src, dst))
        else:
            if num_bits == 8:
                self.b(add_2mod(0x40, src, dst), 0x0F, 0xBE, add_2reg(0xC0, src, dst))
            elif num_bits == 16:
                if is_ereg(dst) or is_ereg(src):
                    self.b(add_2mod(0x40, src, dst))
                self.b(add_2mod(0x0F, src, dst), 0xBF, add_2reg(0xC0, src, dst))

    # --- REX helpers ---------------------------------------------------------------
    def maybe_mod(self, dst: int, src: int, is64: bool) -> None:
        """maybe_emit_mod: REX.W for 64-bit, or a plain REX when an ereg is involved."""
        if is64:
            self.b(add_2mod(0x48, dst, src))
        elif is_ereg(dst) or is_ereg(src):
            self.b(add_2mod(0x40, dst, src))

    def maybe_1mod(self, reg: int, is64: bool) -> None:
        """maybe_emit_1mod."""
        if is64:
            self.b(add_1mod(0x48, reg))
        elif is_ereg(reg):
            self.b(add_1mod(0x40, reg))

    # --- memory operands -----------------------------------------------------------
    def insn_suffix(self, ptr: int, val: int, off: int) -> None:
        """emit_insn_suffix: ModRM with a disp8 (always, even for 0) or disp32."""
        if is_imm8(off):
            self.b(add_2reg(0x40, ptr, val), off & 0xFF)
        else:
            self.b(add_2reg(0x80, ptr, val))
            self.imm32(off)

    def lea(self, dst: int, base: int, off: int) -> None:
        """``lea dst, [base + off]`` (64-bit; the trampolines' ``EMIT4(0x48, 0x8D, ...)``)."""
        self.b(add_2mod(0x48, base, dst), 0x8D)
        self.insn_suffix(base, dst, off)

    def insn_suffix_sib(self, ptr: int, val: int, index: int, off: int) -> None:
        """emit_insn_suffix_SIB: [ptr + index + off]."""
        if is_imm8(off):
            self.b(add_2reg(0x44, 0, val), add_2reg(0, ptr, index), off & 0xFF)
        else:
            self.b(add_2reg(0x84, 0, val), add_2reg(0, ptr, index))
            self.imm32(off)

    def ldx(self, size: int, dst: int, src: int, off: int) -> None:
        """emit_ldx: movzx (1/2 bytes) or mov (4/8 bytes) from [src + off]."""
        if size == 1:
            self.b(add_2mod(0x48, src, dst), 0x0F, 0xB6)
        elif size == 2:
            self.b(add_2mod(0x48, src, dst), 0x0F, 0xB7)
        elif size == 4:
            if is_ereg(dst) or is_ereg(src):
                self.b(add_2mod(0x40, src, dst), 0x8B)
            else:
                self.b(0x8B)
        else:
            self.b(add_2mod(0x48, src, dst), 0x8B)
        self.insn_suffix(src, dst, off)

    def ldsx(self, size: int, dst: int, src: int, off: int) -> None:
        """emit_ldsx: movsx / movsxd from [src + off] (ISA v4 sign-extending loads)."""
        if size == 1:
            self.b(add_2mod(0x48, src, dst), 0x0F, 0xBE)
        elif size == 2:
            self.b(add_2mod(0x48, src, dst), 0x0F, 0xBF)
        else:
            self.b(add_2mod(0x48, src, dst), 0x63)
        self.insn_suffix(src, dst, off)

    def stx(self, size: int, dst: int, src: int, off: int) -> None:
        """emit_stx: mov [dst + off], src of 1/2/4/8 bytes."""
        if size == 1:
            if is_ereg(dst) or is_ereg_8l(src):
                self.b(add_2mod(0x40, dst, src), 0x88)
            else:
                self.b(0x88)
        elif size == 2:
            if is_ereg(dst) or is_ereg(src):
                self.b(0x66, add_2mod(0x40, dst, src), 0x89)
            else:
                self.b(0x66, 0x89)
        elif size == 4:
            if is_ereg(dst) or is_ereg(src):
                self.b(add_2mod(0x40, dst, src), 0x89)
            else:
                self.b(0x89)
        else:
            self.b(add_2mod(0x48, dst, src), 0x89)
        self.insn_suffix(dst, src, off)

    def atomic(self, atomic_op: int, dst: int, src: int, off: int, is64: bool) -> None:
        """emit_atomic: ``lock`` add/and/or/xor, xadd, xchg or cmpxchg on [dst + off]."""
        self.b(0xF0)
        self.maybe_mod(dst, src, is64)
        if atomic_op in (0x00, 0x50, 0x40, 0xA0):
            self.b(SIMPLE_ALU_OPCODES[atomic_op])
        elif atomic_op == 0x01:  # BPF_ADD | BPF_FETCH
            self.b(0x0F, 0xC1)
        elif atomic_op == 0xE1:  # BPF_XCHG
            self.b(0x87)
        elif atomic_op == 0xF1:  # BPF_CMPXCHG
            self.b(0x0F, 0xB1)
        else:
            raise JitEncodeError(f"bpf_jit: unknown atomic opcode {atomic_op:02x}")
        self.insn_suffix(dst, src, off)

    # --- BMI2 ------------------------------------------------------------------------
    def vex3(self, r: bool, x: bool, b: bool, m: int, w: bool, src_reg2: int, l: bool, pp: int) -> None:
        """emit_3vex: the 3-byte VEX prefix."""
        vvvv = reg2hex[src_reg2] | (8 if is_ereg(src_reg2) else 0)
        b1 = ((not r) << 7) | ((not x) << 6) | ((not b) << 5) | (m & 0x1F)
        b2 = (w << 7) | ((~vvvv & 0xF) << 3) | (l << 2) | (pp & 3)
        self.b(0xC4, b1, b2)

    def shiftx(self, dst: int, src: int, is64: bool, pp: int) -> None:
        """emit_shiftx: shlx (pp 1) / sarx (pp 2) / shrx (pp 3) dst, dst, src."""
        r = is_ereg(dst)
        self.vex3(r, False, r, 2, is64, src, False, pp)
        self.b(0xF7, add_2reg(0xC0, dst, dst))

    # --- control transfer (what the CPU configuration changes) ------------------------------
    def patch(self, opcode: int, target: int) -> None:
        """emit_patch: ``call``/``jmp`` rel32 to ``target`` from the current ``ip``."""
        offset = target - (self.ip + X86_PATCH_SIZE)
        # addresses are unsigned 64-bit; the displacement is their signed difference
        offset = ((offset + (1 << 63)) % (1 << 64)) - (1 << 63)
        if not is_simm32(offset):
            raise JitEncodeError(f"Target call {target:#x} is out of range")
        self.b(opcode)
        self.buf += _PACK_I32(offset)

    def call(self, target: int) -> None:
        """emit_call: ``call rel32``."""
        self.patch(0xE8, target)

    def jump(self, target: int) -> None:
        """emit_jump: ``jmp rel32``."""
        self.patch(0xE9, target)

    def endbr(self, cpu: CpuConfig) -> None:
        """EMIT_ENDBR(): ``endbr64`` in a CONFIG_X86_KERNEL_IBT kernel, nothing otherwise."""
        if cpu.ibt:
            self.buf += ENDBR64

    def call_depth_accounting(self, cpu: CpuConfig, syms: KernelSymbols) -> int:
        """x86_call_depth_emit_accounting(): with call-depth tracking, ``sarq $5,
        %gs:<call depth>(%rip)`` before a call (arch/x86/kernel/callthunks.c);
        returns the bytes emitted (0 without)."""
        if not cpu.call_depth_tracking:
            return 0
        self.b(0x65, 0x48, 0xC1, 0x3D)
        disp = syms.call_depth - (self.ip + 4 + 1)  # rip = the end of this instruction
        self.buf += _PACK_I32(((disp + (1 << 31)) % (1 << 32)) - (1 << 31))
        self.b(0x05)
        return CALL_DEPTH_ACCOUNTING_SIZE

    def rsb_call(self, target: int, cpu: CpuConfig, syms: KernelSymbols) -> None:
        """emit_rsb_call(): the call-depth accounting (if on), then ``call rel32``."""
        self.call_depth_accounting(cpu, syms)
        self.call(target)

    def ret(self, cpu: CpuConfig, syms: KernelSymbols) -> None:
        """emit_return(): ``jmp x86_return_thunk`` on a CPU that wants the return thunk
        (``cpu_wants_rethunk()``), else ``ret`` (``int3`` after it with CONFIG_MITIGATION_SLS)."""
        if cpu.rethunk:
            self.jump(syms.return_thunk)
        else:
            self.b(0xC3)
            if cpu.sls:
                self.b(0xCC)


# re-exported for callers that name the scratch registers next to the encoder
SCRATCH: Final = (BPF_REG_AX, AUX_REG)
