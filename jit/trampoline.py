"""The x86-64 struct_ops trampoline: size and bytes.

Models ``__arch_prepare_bpf_trampoline()``, ``arch_bpf_trampoline_size()``,
``save_args()``, ``invoke_bpf_prog()``, ``emit_cfi()``, ``emit_return()`` and
``emit_rsb_call()`` of ``arch/x86/net/bpf_jit_comp.c`` (Linux 6.12), for the one
case struct_ops uses (``bpf_struct_ops_prepare_trampoline()``,
kernel/bpf/bpf_struct_ops.c): flags ``BPF_TRAMP_F_INDIRECT``, plus
``BPF_TRAMP_F_RET_FENTRY_RET`` when the member returns a value, and a single
fentry link -- the struct_ops program. Checked byte for byte against the
trampolines 6.18 hosts build for ``bpf_dummy_ops`` test runs (107 bytes for
``test_1``, 123 for ``test_2`` with a return thunk; tests/emu/test_struct_ops_oracle.py
captures them afresh on the host).

Layout (rbp-relative), for ``n`` argument registers::

    rbp+8    return address          rbp-8         return value (RET_FENTRY_RET)
    rbp+0    saved rbp               rbp-regs_off  u64 args[n]  <- the program's ctx
                                     rbp-nregs_off n
                                     rbp-rbx_off   saved rbx
                                     rbp-run_ctx   struct bpf_tramp_run_ctx (16 bytes)

What the CPU configuration (:class:`~kernel_model.cpu.CpuConfig`) changes:
``endbr64`` first with IBT, 9 bytes of call-depth accounting before each of
the three calls, and the return (``jmp x86_return_thunk``, 5 bytes, or
``ret`` / ``ret; int3``).

Code: [endbr64 under IBT] ``push rbp; mov rbp,rsp; sub rsp,N``; save rbx;
store ``n``; store each argument register (rdi, rsi, rdx, rcx, r8, r9; further
arguments copied from the caller's stack); zero the run-context cookie;
``__bpf_prog_enter(prog, &run_ctx)`` (``_sleepable`` for sleepable programs);
skip the program when it returns 0; ``call bpf_func`` with rdi = &args; store
rax; ``__bpf_prog_exit(prog, start, &run_ctx)``; reload rax and rbx; ``leave``;
``ret`` or ``jmp <return thunk>``. Under call-depth tracking every call is
preceded by the 9-byte accounting ``sarq $5, %gs:pcpu_hot+X86_call_depth(%rip)``.

The size the kernel packs by is the code plus ``BPF_INSN_SAFETY`` (64 bytes):
``__arch_prepare_bpf_trampoline`` returns ``prog - image + BPF_INSN_SAFETY`` and
``bpf_struct_ops_prepare_trampoline`` advances the page offset by it.

Every instruction goes through the emit layer the JIT uses
(:class:`jit.x86.encode.Emitter`: ``emit_stx``/``emit_ldx``/``emit_mov_imm64``/
``emit_mov_reg``, ``EMIT_ENDBR``, ``emit_rsb_call``, ``emit_return``), with
registers named as the kernel's trampoline code names them (``BPF_REG_0`` = rax,
``BPF_REG_1``.. = the argument registers, ``BPF_REG_6`` = rbx, ``BPF_REG_FP`` =
rbp), and the one symbol table :class:`jit.symbols.KernelSymbols`.

Where we differ: kCFI/FineIBT preambles (CONFIG_CFI_CLANG) are not modelled;
the arguments beyond the sixth register are copied from ``rbp+0x18`` as 6.12
does for every trampoline -- correct for fentry frames, one slot off for the
direct indirect call of struct_ops; we reproduce the kernel's bytes, so the
emulator shows what such a member would read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kernel_model.btf.func_model import FuncModel
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import ENOTSUPP, KernelError
from kernel_model.profile import LATEST, Profile

from .symbols import DUMMY_SYMBOLS, KernelSymbols
from .x86.encode import CALL_DEPTH_ACCOUNTING_SIZE, ENDBR64, Emitter, JitEncodeError, is_imm8
from .x86.regs import ARG_REGS, BPF_REG_0, BPF_REG_1, BPF_REG_2, BPF_REG_3, BPF_REG_6, BPF_REG_FP

__all__ = [
    "TrampolineLayout", "layout", "trampoline_size", "emit_trampoline",
    "BPF_INSN_SAFETY", "BPF_TRAMP_F_RET_FENTRY_RET", "BPF_TRAMP_F_INDIRECT", "MAX_BPF_FUNC_ARGS",
    "struct_ops_flags", "CALL_DEPTH_ACCOUNTING_SIZE", "ENDBR64", "X86StructOpsArch", "TrampolineError",
    "DUMMY_SYMBOLS",
]

#: include/linux/bpf.h
BPF_TRAMP_F_RET_FENTRY_RET = 1 << 4
BPF_TRAMP_F_INDIRECT = 1 << 8
MAX_BPF_FUNC_ARGS = 12
#: arch/x86/net/bpf_jit_comp.c
BPF_INSN_SAFETY = 64
#: sizeof(struct bpf_tramp_run_ctx): bpf_cookie + saved_run_ctx (run_ctx is empty)
RUN_CTX_SIZE = 16
#: x86 condition code of ``je rel8``
X86_JE = 0x74


def struct_ops_flags(model: FuncModel) -> int:
    """The flags ``bpf_struct_ops_prepare_trampoline()`` passes."""
    return BPF_TRAMP_F_INDIRECT | (BPF_TRAMP_F_RET_FENTRY_RET if model.ret_size > 0 else 0)


@dataclass(frozen=True, slots=True)
class TrampolineLayout:
    """Stack layout of one trampoline (offsets are positive distances below rbp)."""

    nr_regs: int
    stack_size: int
    regs_off: int
    nregs_off: int
    rbx_off: int
    run_ctx_off: int
    save_ret: bool


class TrampolineError(ValueError):
    """The kernel refuses this function model (``-ENOTSUPP``: more than 12 argument
    registers), or a call target is out of rel32 range."""


def layout(model: FuncModel, flags: int) -> TrampolineLayout:
    """The frame ``__arch_prepare_bpf_trampoline`` builds for ``model``."""
    nr_regs = model.nr_args + sum((s + 7) // 8 - 1 for s in model.arg_size)
    if nr_regs > MAX_BPF_FUNC_ARGS:
        raise TrampolineError(f"{nr_regs} argument registers, more than {MAX_BPF_FUNC_ARGS}")
    save_ret = bool(flags & BPF_TRAMP_F_RET_FENTRY_RET)
    stack = 8 if save_ret else 0
    stack += nr_regs * 8
    regs_off = stack
    stack += 8
    nregs_off = stack
    stack += 8  # no BPF_TRAMP_F_IP_ARG for struct_ops: ip_off == nregs_off
    rbx_off = stack
    stack += RUN_CTX_SIZE
    run_ctx_off = stack
    return TrampolineLayout(nr_regs, stack, regs_off, nregs_off, rbx_off, run_ctx_off, save_ret)


def emit_trampoline(model: FuncModel, *, image: int, prog: int, bpf_func: int,
                    sleepable: bool = False, flags: int | None = None, profile: Profile = LATEST,
                    symbols: KernelSymbols = DUMMY_SYMBOLS, cookie: int = 0,
                    cpu: CpuConfig = DEFAULT_CPU) -> bytes:
    """The trampoline's bytes when placed at ``image``, for the program whose
    ``struct bpf_prog`` is at ``prog`` and whose JIT image is at ``bpf_func``."""
    if flags is None:
        flags = struct_ops_flags(model)
    lay = layout(model, flags)
    e = Emitter(image)
    try:
        _emit(e, model, lay, flags, prog, bpf_func, sleepable, symbols, cookie, cpu)
    except JitEncodeError as err:
        raise TrampolineError(str(err)) from None
    return bytes(e.buf)


def _emit(e: Emitter, model: FuncModel, lay: TrampolineLayout, flags: int, prog: int, bpf_func: int,
          sleepable: bool, syms: KernelSymbols, cookie: int, cpu: CpuConfig) -> None:
    if flags & BPF_TRAMP_F_INDIRECT:
        e.endbr(cpu)  # emit_cfi(): CFI_NONE -> EMIT_ENDBR
    e.b(0x55)  # push rbp
    e.b(0x48, 0x89, 0xE5)  # mov rbp, rsp
    if is_imm8(lay.stack_size):
        e.b(0x48, 0x83, 0xEC, lay.stack_size)  # sub rsp, imm8
    else:
        e.b(0x48, 0x81, 0xEC)
        e.imm32(lay.stack_size)
    e.stx(8, BPF_REG_FP, BPF_REG_6, -lay.rbx_off)  # mov [rbp - rbx_off], rbx
    e.mov_imm64(BPF_REG_0, lay.nr_regs)  # mov eax, nr_regs
    e.stx(8, BPF_REG_FP, BPF_REG_0, -lay.nregs_off)
    _save_args(e, model, lay.regs_off)
    # invoke_bpf_prog()
    e.mov_imm64(BPF_REG_1, cookie)  # mov rdi, cookie
    e.stx(8, BPF_REG_FP, BPF_REG_1, -lay.run_ctx_off)  # run_ctx.bpf_cookie (offset 0)
    e.mov_imm64(BPF_REG_1, prog)  # arg1: struct bpf_prog *
    e.lea(BPF_REG_2, BPF_REG_FP, -lay.run_ctx_off)  # arg2: &run_ctx
    e.rsb_call(syms.prog_enter_sleepable if sleepable else syms.prog_enter, cpu, syms)
    e.mov_reg(True, BPF_REG_6, BPF_REG_0)  # mov rbx, rax: the start time
    e.b(0x48, 0x85, 0xC0)  # test rax, rax
    je_at = len(e.buf)
    e.b(X86_JE, 0)  # je skip: patched below, once the target is known
    e.lea(BPF_REG_1, BPF_REG_FP, -lay.regs_off)  # arg1: ctx = &args[0]
    e.rsb_call(bpf_func, cpu, syms)
    if lay.save_ret:
        e.stx(8, BPF_REG_FP, BPF_REG_0, -8)
    skip = len(e.buf) - (je_at + 2)
    if skip > 127:  # pragma: no cover - cannot happen for one program
        raise TrampolineError("skip branch does not fit in rel8")
    e.buf[je_at + 1] = skip
    e.mov_imm64(BPF_REG_1, prog)
    e.mov_reg(True, BPF_REG_2, BPF_REG_6)  # mov rsi, rbx
    e.lea(BPF_REG_3, BPF_REG_FP, -lay.run_ctx_off)  # arg3: &run_ctx
    e.rsb_call(syms.prog_exit_sleepable if sleepable else syms.prog_exit, cpu, syms)
    if lay.save_ret:
        e.ldx(8, BPF_REG_0, BPF_REG_FP, -8)
    e.ldx(8, BPF_REG_6, BPF_REG_FP, -lay.rbx_off)
    e.b(0xC9)  # leave
    e.ret(cpu, syms)  # emit_return


def _save_args(e: Emitter, model: FuncModel, stack_size: int) -> None:
    """save_args(for_call_origin=false): argument registers, then stack arguments."""
    nr_regs = 0
    nr_stack_slots = 0
    first_off = 0
    for i in range(min(model.nr_args, MAX_BPF_FUNC_ARGS)):
        arg_regs = (model.arg_size[i] + 7) // 8
        if nr_regs + arg_regs > 6:
            for _ in range(arg_regs):
                e.ldx(8, BPF_REG_0, BPF_REG_FP, nr_stack_slots * 8 + 0x18)
                e.stx(8, BPF_REG_FP, BPF_REG_0, -stack_size)
                if not nr_stack_slots:
                    first_off = stack_size
                stack_size -= 8
                nr_stack_slots += 1
        else:
            for _ in range(arg_regs):
                e.stx(8, BPF_REG_FP, ARG_REGS[nr_regs], -stack_size)
                stack_size -= 8
                nr_regs += 1
    # clean_stack_garbage(): one stack slot holding an argument of <= 4 bytes
    if nr_stack_slots == 1 and model.arg_size[model.nr_args - 1] <= 4:
        off = -(first_off - 4)
        if is_imm8(off):
            e.b(0xC7, 0x45, off & 0xFF)
        else:
            e.b(0xC7, 0x85)
            e.imm32(off)
        e.imm32(0)


def trampoline_size(model: FuncModel, *, prog: int, flags: int | None = None, sleepable: bool = False,
                    profile: Profile = LATEST, cookie: int = 0, cpu: CpuConfig = DEFAULT_CPU) -> int:
    """``arch_bpf_trampoline_size()``: the bytes a trampoline takes in its image
    (code + BPF_INSN_SAFETY). Depends on the prog address only through the
    width of its ``mov`` (as the kernel's dry run does), never on the image address."""
    code = emit_trampoline(model, image=DUMMY_SYMBOLS.prog_enter - 0x10000, prog=prog,
                           bpf_func=DUMMY_SYMBOLS.prog_enter - 0x8000, sleepable=sleepable, flags=flags,
                           profile=profile, cookie=cookie, cpu=cpu)
    return len(code) + BPF_INSN_SAFETY


class X86StructOpsArch:
    """The x86-64 implementation of :class:`kernel_model.struct_ops_map.TrampolineArch`:
    what ``arch_bpf_trampoline_size``/``arch_prepare_bpf_trampoline`` are to
    ``bpf_struct_ops.c``. ``symbols`` are the emulated kernel's addresses, ``cpu``
    its CPU configuration."""

    def __init__(self, profile: Profile = LATEST, symbols: KernelSymbols = DUMMY_SYMBOLS,
                 cpu: CpuConfig = DEFAULT_CPU) -> None:
        self.profile = profile
        self.symbols = symbols
        self.cpu = cpu

    def size(self, model: FuncModel, flags: int, prog: "BpfProgLike") -> int:
        """``arch_bpf_trampoline_size()``; a model of more than MAX_BPF_FUNC_ARGS
        argument registers (a 16-byte struct by value takes two) is the ``-ENOTSUPP``
        of ``__arch_prepare_bpf_trampoline`` (6.12), which fails the map update."""
        try:
            return trampoline_size(model, prog=prog.addr, flags=flags, sleepable=prog.sleepable,
                                   profile=self.profile, cpu=self.cpu)
        except TrampolineError as e:
            raise KernelError(ENOTSUPP, f"arch_bpf_trampoline_size: {e}") from None

    def emit(self, model: FuncModel, flags: int, prog: "BpfProgLike", image: int) -> bytes:
        return emit_trampoline(model, image=image, prog=prog.addr, bpf_func=prog.bpf_func,
                               sleepable=prog.sleepable, flags=flags, profile=self.profile,
                               symbols=self.symbols, cpu=self.cpu)


class BpfProgLike(Protocol):  # pragma: no cover - typing aid: kernel_model.prog.BpfProg has these
    # read-only members: the trampoline only reads them (a frozen stand-in matches too)
    @property
    def addr(self) -> int: ...
    @property
    def bpf_func(self) -> int: ...
    @property
    def sleepable(self) -> bool: ...
