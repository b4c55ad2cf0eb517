"""The x86-64 code generators of the emulated kernel: the BPF JIT and the struct_ops trampolines.

Both emit through one x86 layer (:mod:`jit.x86`: register map, ``emit_*``
encoders, ``endbr64``, calls with call-depth accounting, the return), refer to
kernel addresses through one table (:class:`KernelSymbols`), and take the
kernel version (:class:`kernel_model.profile.Profile`) and the CPU
configuration (:class:`kernel_model.cpu.CpuConfig`) -- as
``arch/x86/net/bpf_jit_comp.c`` shares ``emit_call``/``emit_return``/
``EMIT_ENDBR`` between ``do_jit`` and ``arch_prepare_bpf_trampoline``.
Bytes only: this package imports nothing but :mod:`kernel_model`.
"""

from .bpf_jit import (BPF_INSN_SAFETY, MODULES_VADDR, ExtableEntry, JitError, JitFunc, JitImage, JitOptions,
                      JitProgram, compile_func, do_jit, jit_program, prologue_size)
from .symbols import DUMMY_SYMBOLS, KernelSymbols
from .trampoline import (BPF_TRAMP_F_INDIRECT, BPF_TRAMP_F_RET_FENTRY_RET, TrampolineError, TrampolineLayout,
                         X86StructOpsArch, emit_trampoline, layout, struct_ops_flags, trampoline_size)
from .x86.encode import Emitter, JitEncodeError

__all__ = [
    # the program JIT (bpf_int_jit_compile, jit_subprogs)
    "jit_program", "compile_func", "do_jit", "prologue_size", "JitOptions", "JitFunc", "JitImage", "JitProgram",
    "ExtableEntry", "JitError", "BPF_INSN_SAFETY", "MODULES_VADDR",
    # the struct_ops trampolines (arch_prepare_bpf_trampoline)
    "emit_trampoline", "trampoline_size", "layout", "struct_ops_flags", "X86StructOpsArch", "TrampolineLayout",
    "TrampolineError", "BPF_TRAMP_F_INDIRECT", "BPF_TRAMP_F_RET_FENTRY_RET",
    # what both share
    "KernelSymbols", "DUMMY_SYMBOLS", "Emitter", "JitEncodeError",
]
