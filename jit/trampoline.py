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

Where we differ: kCFI/FineIBT preambles (CONFIG_CFI_CLANG) are not modelled;
the arguments beyond the sixth register are copied from ``rbp+0x18`` as 6.12
does for every trampoline -- correct for fentry frames, one slot off for the
direct indirect call of struct_ops; we reproduce the kernel's bytes, so the
emulator shows what such a member would read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kernel_model.btf.func_model import FuncModel
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.profile import LATEST, Profile

__all__ = [
    "TrampolineSymbols", "TrampolineLayout", "layout", "trampoline_size", "emit_trampoline",
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
ENDBR64 = b"\xf3\x0f\x1e\xfa"
#: ``sarq $5, %gs:disp32(%rip)``: 65 48 c1 3d <rel32> 05 (arch/x86/kernel/callthunks.c)
CALL_DEPTH_ACCOUNTING_SIZE = 9
#: sizeof(struct bpf_tramp_run_ctx): bpf_cookie + saved_run_ctx (run_ctx is empty)
RUN_CTX_SIZE = 16

# x86 register numbers
RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = 0, 1, 2, 3, 4, 5, 6, 7
R8, R9 = 8, 9
ARG_REGS = (RDI, RSI, RDX, RCX, R8, R9)


def struct_ops_flags(model: FuncModel) -> int:
    """The flags ``bpf_struct_ops_prepare_trampoline()`` passes."""
    return BPF_TRAMP_F_INDIRECT | (BPF_TRAMP_F_RET_FENTRY_RET if model.ret_size > 0 else 0)


@dataclass(frozen=True, slots=True)
class TrampolineSymbols:
    """Addresses the trampoline calls or jumps to (kallsyms of the emulated kernel)."""

    prog_enter: int
    prog_exit: int
    prog_enter_sleepable: int
    prog_exit_sleepable: int
    #: ``x86_return_thunk`` (the CPU configuration's thunk), 0 when it has none
    return_thunk: int
    call_depth: int = 0  # address of pcpu_hot.call_depth, the rip-relative target


#: Placeholder addresses for sizing and for listings without a machine.
DUMMY_SYMBOLS = TrampolineSymbols(0xFFFFFFFF81100000, 0xFFFFFFFF81100100, 0xFFFFFFFF81100200,
                                  0xFFFFFFFF81100300, 0xFFFFFFFF81100400, 0xFFFFFFFF82000000)


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
    """The kernel refuses this function model (``-ENOTSUPP``: more than 12 argument registers)."""


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


def _s8(v: int) -> bool:
    return -128 <= v <= 127


class _Emitter:
    """Bytes at a known address, so rel32 calls and jumps can be encoded."""

    __slots__ = ("buf", "base")

    def __init__(self, base: int) -> None:
        self.buf = bytearray()
        self.base = base

    @property
    def ip(self) -> int:
        return self.base + len(self.buf)

    def b(self, *data: int) -> None:
        self.buf.extend(data)

    def rel32(self, opcode: int, target: int) -> None:
        """``call``/``jmp`` rel32 (emit_patch): displacement from the next instruction."""
        disp = (target - (self.ip + 5)) & 0xFFFF_FFFF_FFFF_FFFF
        if disp >= 1 << 63:
            disp -= 1 << 64
        if not -(1 << 31) <= disp < (1 << 31):
            raise TrampolineError(f"call target {target:#x} out of rel32 range from {self.ip:#x}")
        self.buf.append(opcode)
        self.buf.extend(struct.pack("<i", disp))

    def mem_rbp(self, opcode: int, reg: int, off: int, rex_w: bool = True) -> None:
        """``op reg, [rbp+off]`` / ``op [rbp+off], reg`` (emit_stx/emit_ldx with the FP base)."""
        rex = (0x48 if rex_w else 0x40) | (0x04 if reg >= 8 else 0)
        if rex != 0x40:
            self.b(rex)
        modrm_reg = (reg & 7) << 3
        if _s8(off):
            self.b(opcode, 0x45 | modrm_reg, off & 0xFF)
        else:
            self.b(opcode, 0x85 | modrm_reg)
            self.buf.extend(struct.pack("<i", off))

    def stx(self, reg: int, off: int) -> None:
        self.mem_rbp(0x89, reg, off)

    def ldx(self, reg: int, off: int) -> None:
        self.mem_rbp(0x8B, reg, off)

    def lea(self, reg: int, off: int) -> None:
        self.mem_rbp(0x8D, reg, off)

    def mov_imm64(self, reg: int, value: int) -> None:
        """emit_mov_imm64: xor / mov r32 / mov r64 sign-extended / movabs, smallest first."""
        value &= 0xFFFF_FFFF_FFFF_FFFF
        ext = 0x41 if reg >= 8 else None
        if value < 1 << 32:  # is_uimm32: mov r32, imm32 (or xor r32, r32)
            if value == 0:
                if ext:
                    self.b(0x45)
                self.b(0x31, 0xC0 | ((reg & 7) << 3) | (reg & 7))
            else:
                if ext:
                    self.b(ext)
                self.b(0xB8 | (reg & 7))
                self.buf.extend(struct.pack("<I", value))
        elif value >= (1 << 64) - (1 << 31):  # is_simm32, negative: mov r64, simm32
            self.b(0x49 if reg >= 8 else 0x48, 0xC7, 0xC0 | (reg & 7))
            self.buf.extend(struct.pack("<I", value & 0xFFFF_FFFF))
        else:  # movabs
            self.b(0x49 if reg >= 8 else 0x48, 0xB8 | (reg & 7))
            self.buf.extend(struct.pack("<Q", value))

    def call(self, target: int, cpu: CpuConfig, syms: TrampolineSymbols) -> None:
        """emit_rsb_call: call-depth accounting (if on), then ``call rel32``."""
        if cpu.call_depth_tracking:
            self.b(0x65, 0x48, 0xC1, 0x3D)
            disp = syms.call_depth - (self.ip + 4 + 5)
            self.buf.extend(struct.pack("<i", _wrap32(disp)))
            self.b(0x05)
        self.rel32(0xE8, target)

    def ret(self, cpu: CpuConfig, syms: TrampolineSymbols) -> None:
        """emit_return: ``jmp x86_return_thunk`` on a CPU wanting it, else ``ret`` (+ int3 with SLS)."""
        if cpu.rethunk:
            self.rel32(0xE9, syms.return_thunk)
        else:
            self.b(0xC3)
            if cpu.sls:
                self.b(0xCC)


def _wrap32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def emit_trampoline(model: FuncModel, *, image: int, prog: int, bpf_func: int,
                    sleepable: bool = False, flags: int | None = None, profile: Profile = LATEST,
                    symbols: TrampolineSymbols = DUMMY_SYMBOLS, cookie: int = 0,
                    cpu: CpuConfig = DEFAULT_CPU) -> bytes:
    """The trampoline's bytes when placed at ``image``, for the program whose
    ``struct bpf_prog`` is at ``prog`` and whose JIT image is at ``bpf_func``."""
    if flags is None:
        flags = struct_ops_flags(model)
    lay = layout(model, flags)
    e = _Emitter(image)
    if flags & BPF_TRAMP_F_INDIRECT and cpu.ibt:
        e.buf.extend(ENDBR64)  # emit_cfi(), CFI_NONE with IBT: EMIT_ENDBR
    e.b(0x55)  # push rbp
    e.b(0x48, 0x89, 0xE5)  # mov rbp, rsp
    if _s8(lay.stack_size):
        e.b(0x48, 0x83, 0xEC, lay.stack_size)  # sub rsp, imm8
    else:
        e.b(0x48, 0x81, 0xEC)
        e.buf.extend(struct.pack("<i", lay.stack_size))
    e.stx(RBX, -lay.rbx_off)  # mov [rbp - rbx_off], rbx
    e.mov_imm64(RAX, lay.nr_regs)  # mov eax, nr_regs
    e.stx(RAX, -lay.nregs_off)
    _save_args(e, model, lay.regs_off)
    # invoke_bpf_prog()
    e.mov_imm64(RDI, cookie)  # mov rdi, cookie
    e.stx(RDI, -lay.run_ctx_off)  # run_ctx.bpf_cookie (offset 0)
    e.mov_imm64(RDI, prog)  # arg1: struct bpf_prog *
    e.lea(RSI, -lay.run_ctx_off)  # arg2: &run_ctx
    e.call(symbols.prog_enter_sleepable if sleepable else symbols.prog_enter, cpu, symbols)
    e.b(0x48, 0x89, 0xC3)  # mov rbx, rax (start time)
    e.b(0x48, 0x85, 0xC0)  # test rax, rax
    je_at = len(e.buf)
    e.b(0x74, 0x00)  # je skip (patched below)
    e.lea(RDI, -lay.regs_off)  # arg1: ctx = &args[0]
    e.call(bpf_func, cpu, symbols)
    if lay.save_ret:
        e.stx(RAX, -8)
    skip = len(e.buf) - (je_at + 2)
    if skip > 127:
        raise TrampolineError("skip branch does not fit in rel8")  # cannot happen for one prog
    e.buf[je_at + 1] = skip
    e.mov_imm64(RDI, prog)
    e.b(0x48, 0x89, 0xDE)  # mov rsi, rbx
    e.lea(RDX, -lay.run_ctx_off)
    e.call(symbols.prog_exit_sleepable if sleepable else symbols.prog_exit, cpu, symbols)
    if lay.save_ret:
        e.ldx(RAX, -8)
    e.ldx(RBX, -lay.rbx_off)
    e.b(0xC9)  # leave
    e.ret(cpu, symbols)
    return bytes(e.buf)


def _save_args(e: _Emitter, model: FuncModel, stack_size: int) -> None:
    """save_args(for_call_origin=false): argument registers, then stack arguments."""
    nr_regs = 0
    nr_stack_slots = 0
    first_off = 0
    for i in range(min(model.nr_args, MAX_BPF_FUNC_ARGS)):
        arg_regs = (model.arg_size[i] + 7) // 8
        if nr_regs + arg_regs > 6:
            for _ in range(arg_regs):
                e.ldx(RAX, nr_stack_slots * 8 + 0x18)
                e.stx(RAX, -stack_size)
                if not nr_stack_slots:
                    first_off = stack_size
                stack_size -= 8
                nr_stack_slots += 1
        else:
            for _ in range(arg_regs):
                e.stx(ARG_REGS[nr_regs], -stack_size)
                stack_size -= 8
                nr_regs += 1
    # clean_stack_garbage(): one stack slot holding an argument of <= 4 bytes
    if nr_stack_slots == 1 and model.arg_size[model.nr_args - 1] <= 4:
        off = -(first_off - 4)
        if _s8(off):
            e.b(0xC7, 0x45, off & 0xFF)
        else:
            e.b(0xC7, 0x85)
            e.buf.extend(struct.pack("<i", off))
        e.buf.extend(b"\0\0\0\0")


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

    def __init__(self, profile: Profile = LATEST, symbols: TrampolineSymbols = DUMMY_SYMBOLS,
                 cpu: CpuConfig = DEFAULT_CPU) -> None:
        self.profile = profile
        self.symbols = symbols
        self.cpu = cpu

    def size(self, model: FuncModel, flags: int, prog: "BpfProgLike") -> int:
        return trampoline_size(model, prog=prog.addr, flags=flags, sleepable=prog.sleepable, profile=self.profile,
                               cpu=self.cpu)

    def emit(self, model: FuncModel, flags: int, prog: "BpfProgLike", image: int) -> bytes:
        return emit_trampoline(model, image=image, prog=prog.addr, bpf_func=prog.bpf_func,
                               sleepable=prog.sleepable, flags=flags, profile=self.profile,
                               symbols=self.symbols, cpu=self.cpu)


class BpfProgLike:  # pragma: no cover - typing aid: kernel_model.prog.BpfProg has these
    addr: int
    bpf_func: int
    sleepable: bool
