"""x86-64 pieces of the BPF JIT: the register map and the instruction encoder."""

from .encode import Emitter
from .regs import AUX_REG, BPF_REG_AX, X86_REG_R9, X86_REG_R12, reg2hex, is_ereg, is_ereg_8l

__all__ = ["Emitter", "AUX_REG", "BPF_REG_AX", "X86_REG_R9", "X86_REG_R12", "reg2hex", "is_ereg", "is_ereg_8l"]
