"""How the x86-64 JIT maps BPF registers onto x86-64 registers.

Models the register tables of ``arch/x86/net/bpf_jit_comp.c`` (Linux 6.12, the
same in 6.18): ``reg2hex`` (the low three bits of the x86 register number),
``is_ereg`` (registers r8..r15, which need a REX.B/R/X bit) and ``is_ereg_8l``
(registers whose low byte needs a REX prefix to be addressable: sil, dil, bpl,
and r8b..r15b).

===========  ========  ===========================================
BPF           x86-64   role
===========  ========  ===========================================
r0            rax      return value
r1 .. r5      rdi, rsi, rdx, rcx, r8   arguments (SysV order)
r6 .. r9      rbx, r13, r14, r15       callee saved
r10 (fp)      rbp      read-only frame pointer
AX (11)       r10      JIT scratch; constant blinding; fixups' temp
AUX (12)      r11      JIT scratch (division, shifts, atomics)
X86_R9 (13)   r9       sixth argument (trampolines)
X86_R12 (14)  r12      arena base (PROBE_MEM32)
===========  ========  ===========================================

r12 is avoided for BPF registers because as a base register it always needs a
SIB byte. BPF_REG_AX is register number 11 (``MAX_BPF_REG``) in kernel
instructions produced by verifier rewrites (``do_misc_fixups``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["BPF_REG_0", "BPF_REG_1", "BPF_REG_2", "BPF_REG_3", "BPF_REG_4", "BPF_REG_5", "BPF_REG_6",
           "BPF_REG_FP", "BPF_REG_AX", "AUX_REG", "X86_REG_R9", "X86_REG_R12", "ARG_REGS", "reg2hex", "x86_reg",
           "is_ereg", "is_ereg_8l", "X86_NAMES", "BPF_TO_X86"]

#: BPF registers by the x86 register they live in (the trampolines name them so, as
#: the kernel's trampoline code does: BPF_REG_0 = rax, BPF_REG_1 = rdi, BPF_REG_6 = rbx)
BPF_REG_0, BPF_REG_1, BPF_REG_2, BPF_REG_3, BPF_REG_4, BPF_REG_5, BPF_REG_6 = range(7)
BPF_REG_FP: Final = 10
#: include/linux/filter.h: BPF_REG_AX = MAX_BPF_REG (11); MAX_BPF_JIT_REG = 12
BPF_REG_AX: Final = 11
AUX_REG: Final = 12
X86_REG_R9: Final = 13
X86_REG_R12: Final = 14
#: the SysV argument registers rdi, rsi, rdx, rcx, r8, r9 as JIT registers
ARG_REGS: Final = (BPF_REG_1, BPF_REG_2, BPF_REG_3, BPF_REG_4, BPF_REG_5, X86_REG_R9)

#: full x86 register numbers (0 = rax ... 15 = r15) of every JIT register
BPF_TO_X86: Final = (0, 7, 6, 2, 1, 8, 3, 13, 14, 15, 5, 10, 11, 9, 12)
#: the low three bits of each (``reg2hex``)
reg2hex: Final = tuple(r & 7 for r in BPF_TO_X86)
_EREG: Final = tuple(r >= 8 for r in BPF_TO_X86)
_EREG_8L: Final = tuple(r >= 8 or r in (4, 5, 6, 7) for r in BPF_TO_X86)

X86_NAMES: Final = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")


def x86_reg(bpf_reg: int) -> int:
    """The x86-64 register number (0..15) a JIT register lives in."""
    return BPF_TO_X86[bpf_reg]


def is_ereg(reg: int) -> bool:
    """True when ``reg`` maps to r8..r15 (needs a REX extension bit)."""
    return _EREG[reg]


def is_ereg_8l(reg: int) -> bool:
    """True when the low byte of ``reg`` needs a REX prefix (sil, dil, bpl, r8b..)."""
    return _EREG_8L[reg]
