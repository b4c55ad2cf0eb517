"""The x86-64 BPF JIT: translated BPF instructions to x86-64 machine code.

Models ``arch/x86/net/bpf_jit_comp.c`` of Linux 6.18 (read against the 6.12
source, and checked byte for byte against the 6.18 host's ``jited_prog_insns``
by ``benchmarks/jit_fidelity.py``):

* :func:`do_jit` is one pass of the kernel's ``do_jit()``: the prologue
  (``emit_prologue``: [endbr64] nop5 nop3, ``push rbp; mov rbp,rsp``, ``sub
  rsp, round_up(stack_depth, 8)``, pushes of the callee-saved registers the
  function uses, ``detect_reg_usage``), one x86 sequence per BPF instruction,
  and the epilogue at the first ``exit`` (later exits jump to it): pops,
  ``leave``, ``ret`` or ``jmp <return thunk>`` (``emit_return``).
* :func:`compile_func` is ``bpf_int_jit_compile()``: passes until the image
  stops shrinking (jumps narrow to rel8 as offsets shrink; from pass 15 on,
  ``jmp_padding`` pads instead of shrinking), then an allocation through the
  caller's allocator and a final pass at the image address.
* :func:`jit_program` is ``jit_subprogs()`` (kernel/bpf/verifier.c): with
  bpf-to-bpf calls every function gets its own image; a first round compiles
  each with calls aimed at ``__bpf_call_base + 1`` (and ``PSEUDO_FUNC``
  addresses at ``MODULES_VADDR``), then calls are pointed at the callees'
  images and an ``extra_pass`` re-emits each, which must keep its size.

The input is the program as the verifier hands it to the JIT (see
:mod:`verifier.fixups`): helper and kfunc calls carry ``imm = target -
__bpf_call_base``; lddw of maps already holds addresses; register 11 is
``BPF_REG_AX``. Register mapping: :mod:`jit.x86.regs`.

Configuration: the kernel version (:class:`~kernel_model.profile.Profile`)
and, orthogonally, the CPU and its mitigations
(:class:`~kernel_model.cpu.CpuConfig`, shared with the trampolines): IBT
(endbr64), the return thunk (``jmp x86_return_thunk`` instead of ``ret``),
call-depth accounting before each call, SLS (``int3`` after ``ret``), BMI2
(``shlx``/``shrx``/``sarx`` for shifts by a register), and where the frame
pointer is added for ``arch_bpf_timed_may_goto``.

Tail calls (``BPF_TAIL_CALL``): ``emit_bpf_tail_call_indirect`` (bounds, count and
slot checks, then a jump through rcx by ``emit_indirect_jump``: retpoline, ITS
thunk, lfence or plain per the CPU configuration) and ``emit_bpf_tail_call_direct``
(a constant key: two 5-byte sites the prog array's updates patch,
:func:`tail_call_poke`), with ``tail_call_cnt`` in the frame of the entry program
and a pointer to it in every frame (``emit_prologue_tail_call``,
``LOAD_TAIL_CALL_CNT_PTR`` before each bpf-to-bpf call), MAX_TAIL_CALL_CNT = 33.

Where we differ from the kernel: constant blinding (``bpf_jit_harden``),
kCFI/FineIBT preambles, exception callbacks
(``bpf_throw``), arena (PROBE_MEM32/addr_space_cast to user) and per-CPU
address moves are not modelled: :class:`JitError` names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from kernel_model import isa
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import ENOTSUPP, KernelError
from kernel_model.insn import Insn
from kernel_model.profile import LATEST, Profile

from .symbols import KernelSymbols
from .x86.encode import (SIMPLE_ALU_OPCODES, X86_PATCH_SIZE, Emitter, JitEncodeError, add_1mod, add_1reg,
                         add_2mod, add_2reg, is_imm8, is_imm8_jmp_offset, is_simm32)
from .x86.regs import AUX_REG, BPF_REG_AX, BPF_REG_FP, is_ereg

__all__ = [
    "JitOptions", "JitFunc", "JitImage", "JitProgram", "JitError", "do_jit", "compile_func",
    "jit_program", "MAX_PASSES", "PADDING_PASSES", "BPF_MAX_INSN_SIZE", "BPF_INSN_SAFETY", "MODULES_VADDR",
    "ExtableEntry", "PokeSite", "tail_call_poke", "x86_tail_call_offset", "MAX_TAIL_CALL_CNT",
    "BPF_PROBE_MEM", "BPF_PROBE_MEMSX", "BPF_NOSPEC", "BPF_TAIL_CALL", "prologue_size",
]

#: arch/x86/net/bpf_jit_comp.c
MAX_PASSES = 20
PADDING_PASSES = MAX_PASSES - 5
BPF_MAX_INSN_SIZE = 128
BPF_INSN_SAFETY = 64
#: arch/x86/include/asm/pgtable_64_types.h: __START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB
#: with CONFIG_RANDOMIZE_BASE, as on the 6.18 host, whose images sit at 0xffffffffc00xxxxx)
MODULES_VADDR = 0xFFFF_FFFF_C000_0000
#: include/linux/filter.h: modes and codes the verifier writes for the JIT only
BPF_PROBE_MEM = 0x20
BPF_PROBE_MEMSX = 0x40
BPF_PROBE_MEM32 = 0xA0
BPF_PROBE_ATOMIC = 0xE0
BPF_NOSPEC = 0xC0
BPF_TAIL_CALL = 0xF0
#: x86 condition codes of the BPF conditional jumps (short form; +0x10 after 0x0f for rel32)
X86_JB, X86_JAE, X86_JE, X86_JNE, X86_JBE, X86_JA = 0x72, 0x73, 0x74, 0x75, 0x76, 0x77
X86_JL, X86_JGE, X86_JLE, X86_JG = 0x7C, 0x7D, 0x7E, 0x7F
_JCC = {isa.JEQ: X86_JE, isa.JSET: X86_JNE, isa.JNE: X86_JNE, isa.JGT: X86_JA, isa.JLT: X86_JB,
        isa.JGE: X86_JAE, isa.JLE: X86_JBE, isa.JSGT: X86_JG, isa.JSLT: X86_JL, isa.JSGE: X86_JGE,
        isa.JSLE: X86_JLE}
#: b3 (the /r of 0x81/0x83) and b2 (the short rax form) of ALU ops with an immediate
_ALU_IMM = {isa.ADD: (0xC0, 0x05), isa.SUB: (0xE8, 0x2D), isa.AND: (0xE0, 0x25), isa.OR: (0xC8, 0x0D),
            isa.XOR: (0xF0, 0x35)}
#: offsetof(struct pt_regs, <reg>) of r0..r9 (reg2pt_regs), for the exception table
_PT_REGS_OFF = (80, 112, 104, 96, 88, 72, 40, 16, 8, 0)
_SIZES = {isa.B: 1, isa.H: 2, isa.W: 4, isa.DW: 8}

M64 = (1 << 64) - 1


class JitError(KernelError):
    """The JIT refuses the program (the kernel's ``bpf_jit: ...`` errors, or a
    feature this model does not implement). ``index`` is the BPF slot, or -1.
    With CONFIG_BPF_JIT_ALWAYS_ON (the host) such a load fails with ENOTSUPP
    (524, ``bpf_prog_select_runtime``)."""

    def __init__(self, message: str, index: int = -1) -> None:
        self.index = index
        super().__init__(ENOTSUPP, f"{message} (insn {index})" if index >= 0 else message)


@dataclass(frozen=True, slots=True)
class JitOptions:
    """What changes the emitted bytes: the kernel version and the CPU configuration."""

    profile: Profile = LATEST
    cpu: CpuConfig = DEFAULT_CPU


@dataclass(frozen=True, slots=True)
class JitFunc:
    """One function as the JIT sees it (``struct bpf_prog`` of a subprog)."""

    insns: tuple[Insn, ...]
    #: ``aux->stack_depth`` (the verifier's, including fixups' extra slots)
    stack_depth: int = 0
    is_subprog: bool = False
    #: ``bpf_prog_was_classic``: converted cBPF has no nop3 in its prologue
    was_classic: bool = False
    tail_call_reachable: bool = False
    #: ``aux->exception_boundary`` (the main function of a program that throws): the
    #: prologue saves r12 and every callee-saved register, the epilogue restores them all
    exception_boundary: bool = False
    #: ``aux->exception_cb``: entered from ``bpf_throw`` with the main frame's sp and bp
    exception_cb: bool = False


@dataclass(frozen=True, slots=True)
class ExtableEntry:
    """One exception-table entry (``ex_handler_bpf``): a faulting PROBE_MEM load at
    ``insn`` (image offset) of ``length`` bytes is skipped and ``dst`` (BPF register,
    or -1 for stores) is cleared."""

    insn: int
    length: int
    dst: int


@dataclass(frozen=True, slots=True)
class PokeSite:
    """Where ``emit_bpf_tail_call_direct`` put a direct tail call's two patchable
    5-byte sites (``struct bpf_jit_poke_descriptor``), as image offsets:
    ``tailcall_target`` (a nop5, or ``jmp <target's bpf_func + X86_TAIL_CALL_OFFSET>``)
    and ``tailcall_bypass`` (``jmp bypass_addr`` while the slot is empty, else a nop5);
    ``bypass_addr`` is the ``out`` label. ``poke`` indexes the program's poke table."""

    poke: int
    tailcall_target: int
    tailcall_bypass: int
    bypass_addr: int


@dataclass(frozen=True, slots=True)
class JitImage:
    """A compiled function: its bytes at ``addr`` (``bpf_func``) and the BPF
    instruction boundaries: instruction ``k`` occupies ``code[addrs[k]:addrs[k+1]]``
    and ``code[:addrs[0]]`` is the prologue (``addrs`` as in the kernel)."""

    addr: int
    code: bytes
    addrs: tuple[int, ...]
    passes: int
    extable: tuple[ExtableEntry, ...] = ()
    stack_depth: int = 0
    pokes: tuple[PokeSite, ...] = ()

    def insn_at(self, offset: int) -> int:
        """The BPF slot (of this function) whose code holds image ``offset``;
        -1 in the prologue, -2 past the end."""
        a = self.addrs
        if offset < a[0]:
            return -1
        lo, hi = 0, len(a) - 1
        if offset >= a[hi]:
            return -2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if a[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo


@dataclass(slots=True)
class JitProgram:
    """All images of a program: ``funcs[0]`` is the main function; ``starts``
    are the subprogram start slots in the whole program."""

    funcs: list[JitImage]
    starts: list[int]
    passes: list[int] = field(default_factory=list)
    #: the function that is the exception callback (``prog->aux->bpf_exception_cb``), -1: none
    exception_cb: int = -1

    @property
    def bpf_func(self) -> int:
        return self.funcs[0].addr

    def locate(self, addr: int) -> tuple[int, int] | None:
        """``(function index, BPF slot in the whole program)`` of a code address, or None."""
        for f, img in enumerate(self.funcs):
            if img.addr <= addr < img.addr + len(img.code):
                k = img.insn_at(addr - img.addr)
                return f, (self.starts[f] + k if k >= 0 else k)
        return None


def _is_subprog_call(insn: Insn) -> bool:
    return insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL


def prologue_size(options: JitOptions = JitOptions(), *, was_classic: bool = False) -> int:
    """Bytes before ``push rbp`` (IBT endbr + nop5 + nop3): the fentry patch site."""
    return (4 if options.cpu.ibt else 0) + (X86_PATCH_SIZE if options.profile.prologue_nops else 0) + (
        0 if was_classic or not options.profile.prologue_nops else 3)


class _Ctx:
    """``struct jit_context``: the epilogue's offset and the tail-call sequences' ``out``
    labels (offsets from the start of a sequence, learnt in one pass, used in the next)."""

    __slots__ = ("cleanup_addr", "tail_call_direct_label", "tail_call_indirect_label")

    def __init__(self, cleanup_addr: int) -> None:
        self.cleanup_addr = cleanup_addr
        self.tail_call_direct_label = 0
        self.tail_call_indirect_label = 0


def do_jit(func: JitFunc, addrs: list[int], image: int | None, oldproglen: int, ctx: _Ctx,
           jmp_padding: bool, opts: JitOptions, syms: KernelSymbols,
           extable: list[ExtableEntry] | None = None, pokes: list[PokeSite] | None = None) -> bytearray:
    """One pass: the whole image with jump displacements from the previous pass's
    ``addrs`` (updated in place). ``image`` is None in the sizing passes (the kernel
    then computes call displacements from address 0, as we do)."""
    prof = opts.profile
    cpu = opts.cpu
    insns = func.insns
    n = len(insns)
    base = image or 0
    out = bytearray()
    e = Emitter(base)
    # detect_reg_usage(): which of r6..r9 appear as dst or src anywhere
    used = [False, False, False, False]
    for ins in insns:
        for r in (ins.dst, ins.src):
            if 6 <= r <= 9:
                used[r - 6] = True
    stack_depth = func.stack_depth
    # --- emit_prologue ---------------------------------------------------------------
    e.endbr(cpu)  # emit_cfi(), CFI_NONE: EMIT_ENDBR
    if prof.prologue_nops:
        e.nops(X86_PATCH_SIZE)
        if not func.was_classic:
            if func.tail_call_reachable and not func.is_subprog:
                e.b(0x48, 0x31, 0xC0)  # xor rax, rax: tail_call_cnt = 0
            else:
                e.nops(3)
    if func.exception_cb:
        # arch/x86/net/bpf_jit_comp.c emit_prologue (6.18): the exception callback takes the
        # main frame (sp in rsi, bp in rdx), restores the registers its boundary prologue
        # saved, and reuses that frame
        e.b(0x48, 0x89, 0xF4)  # mov rsp, rsi
        e.b(0x48, 0x89, 0xD5)  # mov rbp, rdx
        _pop_callee_regs(e, [True] * 4)
        e.b(0x41, 0x5C)  # pop r12
        e.b(0x48, 0x89, 0xEC)  # mov rsp, rbp
    else:
        e.b(0x55)  # push rbp
        e.b(0x48, 0x89, 0xE5)  # mov rbp, rsp
    e.endbr(cpu)  # X86_TAIL_CALL_OFFSET is here
    if stack_depth:
        e.b(0x48, 0x81, 0xEC)
        e.imm32((stack_depth + 7) & ~7)
    if func.tail_call_reachable:
        _emit_prologue_tail_call(e, func.is_subprog)
    if func.exception_boundary:
        # do_jit: r12 and all callee-saved registers, whatever the program uses (the
        # exception callback restores them from this frame); the epilogue pops them all,
        # a tail call only those the program uses (as 6.18's emit_bpf_tail_call_* do)
        e.b(0x41, 0x54)  # push r12
    saved = [True] * 4 if func.exception_boundary else used
    # push_callee_regs
    if saved[0]:
        e.b(0x53)
    if saved[1]:
        e.b(0x41, 0x55)
    if saved[2]:
        e.b(0x41, 0x56)
    if saved[3]:
        e.b(0x41, 0x57)
    out += e.buf
    proglen = len(e.buf)
    addrs[0] = proglen
    seen_exit = False
    i = 1
    while i <= n:
        insn = insns[i - 1]
        e.restart(base + addrs[i - 1])  # ip of this instruction: the previous pass's offset
        code = insn.code
        dst = insn.dst
        src = insn.src
        imm32 = insn.imm
        cls = code & 0x07
        op = code & 0xF0
        insn_idx = i - 1
        is64 = cls == isa.ALU64 or cls == isa.JMP
        if cls in (isa.ALU, isa.ALU64):
            _emit_alu(e, insn, is64, opts, insn_idx, syms)
        elif code == isa.LD_IMM64:
            if i >= n:
                raise JitError("bpf_jit: incomplete lddw", insn_idx)
            e.mov_imm64(dst, ((insns[i].imm & 0xFFFF_FFFF) << 32) | (imm32 & 0xFFFF_FFFF))
            # the second slot shares this instruction's code: addrs[i+1] = addrs[i] + len
            i += 1
        elif cls == isa.ST and (code & 0xE0) == BPF_NOSPEC:
            e.b(0x0F, 0xAE, 0xE8)  # lfence
        elif cls == isa.ST and (code & 0xE0) == isa.MEM:
            size = _SIZES[code & 0x18]
            if size == 1:
                e.b(0x41, 0xC6) if is_ereg(dst) else e.b(0xC6)
            elif size == 2:
                e.b(0x66, 0x41, 0xC7) if is_ereg(dst) else e.b(0x66, 0xC7)
            elif size == 4:
                e.b(0x41, 0xC7) if is_ereg(dst) else e.b(0xC7)
            else:
                e.b(add_1mod(0x48, dst), 0xC7)
            if is_imm8(insn.off):
                e.b(add_1reg(0x40, dst), insn.off & 0xFF)
            else:
                e.b(add_1reg(0x80, dst))
                e.imm32(insn.off)
            e.imm(imm32, 4 if size == 8 else size)
        elif cls == isa.STX and (code & 0xE0) == isa.MEM:
            e.stx(_SIZES[code & 0x18], dst, src, insn.off)
        elif cls == isa.LDX and (code & 0xE0) in (isa.MEM, isa.MEMSX, BPF_PROBE_MEM, BPF_PROBE_MEMSX):
            mode = code & 0xE0
            size = _SIZES[code & 0x18]
            start = len(e.buf)
            if mode in (isa.MEMSX, BPF_PROBE_MEMSX):
                if size == 8:
                    raise JitError(f"bpf_jit: unknown opcode {code:02x}", insn_idx)
                e.ldsx(size, dst, src, insn.off)
            else:
                e.ldx(size, dst, src, insn.off)
            if mode in (BPF_PROBE_MEM, BPF_PROBE_MEMSX) and extable is not None:
                if dst > 9:
                    raise JitError("verifier error", insn_idx)
                extable.append(ExtableEntry(proglen + start, len(e.buf) - start, dst))
        elif cls == isa.STX and (code & 0xE0) == isa.ATOMIC:
            _emit_atomic_insn(e, insn, opts, insn_idx)
        elif code == isa.CALL_INSN:
            target = (syms.call_base + imm32) & M64
            if func.tail_call_reachable and src == isa.PSEUDO_CALL:
                # the callee finds tail_call_cnt_ptr in rax (6.18: bpf-to-bpf calls only;
                # 6.12 loaded it before helper calls too -- the host's bytes decide)
                _load_tcc_ptr(e, stack_depth)
            if not imm32:
                raise JitError("bpf_jit: call with imm 0", insn_idx)
            if cpu.timed_may_goto_fp_in_jit and syms.timed_may_goto and target == syms.timed_may_goto:
                # BPF_REG_AX holds the frame offset of the count/timestamp pair: the
                # callee gets a pointer (add r10, rbp; CpuConfig.timed_may_goto_fp_in_jit)
                e.b(add_2mod(0x48, BPF_REG_AX, BPF_REG_FP), 0x01, add_2reg(0xC0, BPF_REG_AX, BPF_REG_FP))
            try:
                e.rsb_call(target, cpu, syms)  # x86_call_depth_emit_accounting + emit_call
            except JitEncodeError as err:
                raise JitError(str(err), insn_idx) from None
        elif code == (isa.JMP | BPF_TAIL_CALL):
            try:
                if imm32:
                    site = _emit_tail_call_direct(e, used, stack_depth, ctx, opts)
                    if pokes is not None:
                        off = addrs[i - 1]
                        pokes.append(PokeSite(imm32 - 1, off + site[0], off + site[1], off + site[2]))
                else:
                    _emit_tail_call_indirect(e, used, stack_depth, ctx, opts, syms)
            except JitEncodeError as err:
                raise JitError(str(err), insn_idx) from None
        elif cls in (isa.JMP, isa.JMP32) and op in _JCC:
            if insn.is_src_x:
                e.maybe_mod(dst, src, is64)
                e.b(0x85 if op == isa.JSET else 0x39, add_2reg(0xC0, dst, src))
            elif op == isa.JSET:
                e.maybe_1mod(dst, is64)
                e.b(0xF7, add_1reg(0xC0, dst))
                e.imm32(imm32)
            elif imm32 == 0:
                e.maybe_mod(dst, dst, is64)
                e.b(0x85, add_2reg(0xC0, dst, dst))  # test dst, dst
            else:
                e.maybe_1mod(dst, is64)
                if is_imm8(imm32):
                    e.b(0x83, add_1reg(0xF8, dst), imm32 & 0xFF)
                else:
                    e.b(0x81, add_1reg(0xF8, dst))
                    e.imm32(imm32)
            jcc = _JCC[op]
            if not 0 <= i + insn.off <= n:
                raise JitError("jump out of range", insn_idx)
            jmp_offset = addrs[i + insn.off] - addrs[i]
            if is_imm8_jmp_offset(jmp_offset):
                if jmp_padding:
                    nops = (addrs[i] - addrs[i - 1]) - len(e.buf) - 2
                    if nops not in (0, 4):
                        raise JitError(f"unexpected jmp_cond padding: {nops} bytes", insn_idx)
                    e.nops(nops)
                e.b(jcc, jmp_offset & 0xFF)
            elif is_simm32(jmp_offset):
                e.b(0x0F, jcc + 0x10)
                e.imm32(jmp_offset)
            else:  # pragma: no cover - images are far smaller than 2 GiB
                raise JitError(f"cond_jmp gen bug {jmp_offset:x}", insn_idx)
        elif cls in (isa.JMP, isa.JMP32) and op == isa.JA:
            rel = insn.off if cls == isa.JMP else imm32
            if rel == -1:
                jmp_offset = -2
            else:
                if not 0 <= i + rel <= n:
                    raise JitError("jump out of range", insn_idx)
                jmp_offset = addrs[i + rel] - addrs[i]
            if not jmp_offset:
                if jmp_padding:
                    nops = addrs[i] - addrs[i - 1]
                    if nops not in (0, 2, 5):
                        raise JitError(f"unexpected nop jump padding: {nops} bytes", insn_idx)
                    e.nops(nops)
            else:
                _emit_jmp(e, jmp_offset, jmp_padding, addrs, i, insn_idx)
        elif code == isa.EXIT_INSN:
            if seen_exit:
                _emit_jmp(e, ctx.cleanup_addr - addrs[i], jmp_padding, addrs, i, insn_idx)
            else:
                seen_exit = True
                ctx.cleanup_addr = proglen
                # pop_callee_regs
                _pop_callee_regs(e, saved)
                if func.exception_boundary:
                    e.b(0x41, 0x5C)  # pop r12
                e.b(0xC9)  # leave
                try:
                    e.ret(cpu, syms)  # emit_return
                except JitEncodeError as err:
                    raise JitError(str(err), insn_idx) from None
        else:
            raise JitError(f"bpf_jit: unknown opcode {code:02x}", insn_idx)
        ilen = len(e.buf)
        if ilen > BPF_MAX_INSN_SIZE:  # pragma: no cover - no sequence is that long
            raise JitError("bpf_jit: fatal insn size error", insn_idx)
        if image is not None and (proglen + ilen > oldproglen or proglen + ilen != addrs[i]):
            raise JitError("bpf_jit: fatal error (image size changed in the final pass)", insn_idx)
        out += e.buf
        proglen += ilen
        # for lddw, i already stepped over the second slot: the kernel leaves that
        # slot's entry stale (no jump may target it)
        addrs[i] = proglen
        i += 1
    return out


# --- tail calls (arch/x86/net/bpf_jit_comp.c, 6.12; the 6.18 host's bytes compared) --------------
#: include/linux/bpf.h
MAX_TAIL_CALL_CNT = 33
#: offsetof(struct bpf_array, map.max_entries), offsetof(struct bpf_array, ptrs) and
#: offsetof(struct bpf_prog, bpf_func) in the 6.18 layout (the host's BTF)
BPF_ARRAY_MAX_ENTRIES_OFF = 76
BPF_ARRAY_PTRS_OFF = 312
BPF_PROG_BPF_FUNC_OFF = 72


def x86_tail_call_offset(cpu: CpuConfig) -> int:
    """``X86_TAIL_CALL_OFFSET``: the prologue bytes a tail call skips (nop5, the
    xor/nop3, ``push rbp; mov rbp, rsp``; endbr64 with IBT), ``poke->adj_off``."""
    return 12 + (4 if cpu.ibt else 0)


def _tcc_ptr_off(stack_depth: int) -> int:
    """``BPF_TAIL_CALL_CNT_PTR_STACK_OFF``: where the frame keeps ``tail_call_cnt_ptr``."""
    return -16 - ((stack_depth + 7) & ~7)


def _load_tcc_ptr(e: Emitter, stack_depth: int) -> None:
    """``LOAD_TAIL_CALL_CNT_PTR``: ``mov rax, qword ptr [rbp + off]``."""
    e.b(0x48, 0x8B, 0x85)
    e.imm32(_tcc_ptr_off(stack_depth))


def _emit_prologue_tail_call(e: Emitter, is_subprog: bool) -> None:
    """``emit_prologue_tail_call``: the main function tells a fresh entry (rax, zeroed
    by the prologue's ``xor rax, rax``, at most MAX_TAIL_CALL_CNT: push it as the count
    and its address as ``tail_call_cnt_ptr``) from a tail call out of a subprogram (rax
    is already a pointer: push it twice); a subprogram gets the pointer in rax."""
    if not is_subprog:
        e.b(0x48, 0x83, 0xF8, MAX_TAIL_CALL_CNT)  # cmp rax, MAX_TAIL_CALL_CNT
        e.b(X86_JA, 6)
        e.b(0x50)  # push rax: tail_call_cnt
        e.b(0x48, 0x89, 0xE0)  # mov rax, rsp
        e.b(0xEB, 1)
        e.b(0x50)
        e.b(0x50)  # push rax: tail_call_cnt_ptr
    else:
        e.b(0x50, 0x50)


def _pop_callee_regs(e: Emitter, used: list[bool]) -> None:
    if used[3]:
        e.b(0x41, 0x5F)
    if used[2]:
        e.b(0x41, 0x5E)
    if used[1]:
        e.b(0x41, 0x5D)
    if used[0]:
        e.b(0x5B)


def _tail_call_unwind(e: Emitter, used: list[bool], stack_depth: int) -> None:
    """Leave the frame as the callee expects it: callee-saved registers popped, both
    tail-call slots popped into rax (the count, or the pointer in a subprogram: what
    the callee's prologue looks at), the stack released."""
    _pop_callee_regs(e, used)
    e.b(0x58, 0x58)  # pop rax; pop rax
    if stack_depth:
        e.b(0x48, 0x81, 0xC4)  # add rsp, rounded stack depth
        e.imm32((stack_depth + 7) & ~7)


def _emit_tail_call_indirect(e: Emitter, used: list[bool], stack_depth: int, ctx: _Ctx, opts: JitOptions,
                             syms: KernelSymbols) -> None:
    """``emit_bpf_tail_call_indirect``: r2 (rsi) is the ``struct bpf_array``, r3 (rdx) the
    index: out when ``index >= max_entries``, when ``*tail_call_cnt_ptr`` reached
    MAX_TAIL_CALL_CNT or when the slot is empty; else count, unwind and jump to the
    slot's ``bpf_func + X86_TAIL_CALL_OFFSET`` through rcx (``emit_indirect_jump``)."""
    start = len(e.buf)

    def rel8() -> int:
        return (ctx.tail_call_indirect_label - (len(e.buf) - start + 2)) & 0xFF

    e.b(0x89, 0xD2)  # mov edx, edx
    e.b(0x39, 0x56, BPF_ARRAY_MAX_ENTRIES_OFF)  # cmp dword ptr [rsi + max_entries], edx
    e.b(X86_JBE, rel8())
    _load_tcc_ptr(e, stack_depth)
    e.b(0x48, 0x83, 0x38, MAX_TAIL_CALL_CNT)  # cmp qword ptr [rax], MAX_TAIL_CALL_CNT
    e.b(X86_JAE, rel8())
    e.b(0x48, 0x8B, 0x8C, 0xD6)  # mov rcx, [rsi + rdx * 8 + ptrs]
    e.imm32(BPF_ARRAY_PTRS_OFF)
    e.b(0x48, 0x85, 0xC9)  # test rcx, rcx
    e.b(X86_JE, rel8())
    e.b(0x48, 0x83, 0x00, 0x01)  # add qword ptr [rax], 1
    _tail_call_unwind(e, used, stack_depth)
    e.b(0x48, 0x8B, 0x49, BPF_PROG_BPF_FUNC_OFF)  # mov rcx, qword ptr [rcx + bpf_func]
    e.b(0x48, 0x83, 0xC1, x86_tail_call_offset(opts.cpu))  # add rcx, X86_TAIL_CALL_OFFSET
    _emit_indirect_jump(e, opts.cpu, syms)
    ctx.tail_call_indirect_label = len(e.buf) - start


def _emit_indirect_jump(e: Emitter, cpu: CpuConfig, syms: KernelSymbols) -> None:
    """``emit_indirect_jump`` through rcx: the ITS thunk, ``lfence; jmp rcx``, the
    retpoline (the call-depth variant under call-depth tracking), or ``jmp rcx; int3``
    (the ``int3`` of CONFIG_MITIGATION_RETPOLINE, which every modelled kernel has)."""
    if cpu.indirect == "lfence":
        e.b(0x0F, 0xAE, 0xE8, 0xFF, 0xE1)
    elif cpu.indirect == "plain":
        e.b(0xFF, 0xE1, 0xCC)
    else:
        if not syms.indirect_jump_thunk_rcx:
            raise JitEncodeError(f"no address for {cpu.indirect_thunk('rcx', call=False)}")
        e.jump(syms.indirect_jump_thunk_rcx)


def _emit_tail_call_direct(e: Emitter, used: list[bool], stack_depth: int, ctx: _Ctx,
                           opts: JitOptions) -> tuple[int, int, int]:
    """``emit_bpf_tail_call_direct``: the count check, then the bypass ``jmp out``
    (poked to a nop5 once the slot holds a program), count, unwind, and the nop5
    target site (poked to ``jmp <bpf_func + X86_TAIL_CALL_OFFSET>``). Returns the
    sites (target, bypass, bypass_addr) as offsets from the sequence's start."""
    start = len(e.buf)
    _load_tcc_ptr(e, stack_depth)
    e.b(0x48, 0x83, 0x38, MAX_TAIL_CALL_CNT)  # cmp qword ptr [rax], MAX_TAIL_CALL_CNT
    e.b(X86_JAE, (ctx.tail_call_direct_label - (len(e.buf) - start + 2)) & 0xFF)
    bypass = len(e.buf) - start
    target = ctx.tail_call_direct_label - X86_PATCH_SIZE
    e.jump(e.origin + start + target + X86_PATCH_SIZE)
    e.b(0x48, 0x83, 0x00, 0x01)  # add qword ptr [rax], 1
    _tail_call_unwind(e, used, stack_depth)
    e.nops(X86_PATCH_SIZE)
    ctx.tail_call_direct_label = len(e.buf) - start
    return target, bypass, ctx.tail_call_direct_label


def tail_call_poke(site: PokeSite, image: int, target: int | None, cpu: CpuConfig) -> list[tuple[int, bytes]]:
    """The bytes of a direct tail call's two sites when its slot holds the program whose
    ``bpf_func`` is ``target`` (None: empty), as ``(address, 5 bytes)`` writes: the end
    state of ``bpf_tail_call_direct_fixup`` / ``bpf_arch_poke_desc_update``."""
    t = image + site.tailcall_target
    b = image + site.tailcall_bypass
    if target is None:
        return [(b, _jmp_rel32(b, image + site.bypass_addr)), (t, _NOP5)]
    return [(t, _jmp_rel32(t, target + x86_tail_call_offset(cpu))), (b, _NOP5)]


def _jmp_rel32(ip: int, target: int) -> bytes:
    rel = ((target - (ip + X86_PATCH_SIZE) + (1 << 63)) % (1 << 64)) - (1 << 63)
    if not is_simm32(rel):
        raise JitError(f"tail call target {target:#x} is out of range")
    return bytes([0xE9]) + (rel & 0xFFFF_FFFF).to_bytes(4, "little")


#: x86_nops[5]
_NOP5 = bytes([0x0F, 0x1F, 0x44, 0x00, 0x00])


def _emit_jmp(e: Emitter, jmp_offset: int, jmp_padding: bool, addrs: list[int], i: int, idx: int) -> None:
    """The ``emit_jmp:`` label of do_jit: ``jmp rel8`` or ``jmp rel32``."""
    if is_imm8_jmp_offset(jmp_offset):
        if jmp_padding:
            nops = (addrs[i] - addrs[i - 1]) - len(e.buf) - 2
            if nops not in (0, 3):
                raise JitError(f"unexpected jump padding: {nops} bytes", idx)
            e.nops(nops)
        e.b(0xEB, jmp_offset & 0xFF)
    elif is_simm32(jmp_offset):
        e.b(0xE9)
        e.imm32(jmp_offset)
    else:  # pragma: no cover
        raise JitError(f"jmp gen bug {jmp_offset:x}", idx)


def _emit_alu(e: Emitter, insn: Insn, is64: bool, opts: JitOptions, idx: int,
              syms: KernelSymbols | None = None) -> None:
    code, dst, src, imm32, off = insn.code, insn.dst, insn.src, insn.imm, insn.off
    op = code & 0xF0
    x = bool(code & isa.X)
    if op in (isa.ADD, isa.SUB, isa.AND, isa.OR, isa.XOR):
        if x:
            e.maybe_mod(dst, src, is64)
            e.b(SIMPLE_ALU_OPCODES[op], add_2reg(0xC0, dst, src))
        else:
            e.maybe_1mod(dst, is64)
            b3, b2 = _ALU_IMM[op]
            if is_imm8(imm32):
                e.b(0x83, add_1reg(b3, dst), imm32 & 0xFF)
            elif dst == 0:
                e.b(b2)
                e.imm32(imm32)
            else:
                e.b(0x81, add_1reg(b3, dst))
                e.imm32(imm32)
    elif op == isa.MOV:
        if x:
            if is64 and off == isa.ADDR_SPACE_CAST and imm32 == 1 << 16:
                raise JitError("arena casts to user addresses are not modelled", idx)
            if is64 and off == -1:  # insn_is_mov_percpu_addr: off == BPF_ADDR_PERCPU (include/linux/filter.h)
                # mov dst, src; add dst, gs:[this_cpu_off] (CONFIG_SMP)
                e.mov(dst, src)
                e.b(0x65, add_2mod(0x48, 0, dst))
                e.b(0x03, add_2reg(0x04, 0, dst), 0x25)
                e.imm32((syms.this_cpu_off if syms else 0) & 0xFFFF_FFFF)
                return
            if off == 0:
                e.mov_reg(is64, dst, src)
            else:
                e.movsx_reg(off, is64, dst, src)
        else:
            e.mov_imm32(is64, dst, imm32)
    elif op == isa.NEG:
        e.maybe_1mod(dst, is64)
        e.b(0xF7, add_1reg(0xD8, dst))
    elif op in (isa.DIV, isa.MOD):
        if dst != 0:
            e.b(0x50)  # push rax
        if dst != 3:
            e.b(0x52)  # push rdx
        if x:
            if src in (0, 3):
                e.mov(AUX_REG, src)
                src = AUX_REG
        else:
            e.b(0x49, 0xC7, 0xC3)  # mov r11, imm32
            e.imm32(imm32)
            src = AUX_REG
        if dst != 0:
            e.mov_reg(is64, 0, dst)
        if off == 0:
            e.b(0x31, 0xD2)  # xor edx, edx
            e.maybe_1mod(src, is64)
            e.b(0xF7, add_1reg(0xF0, src))  # div src
        else:
            if not is64:
                e.b(0x99)  # cdq
            else:
                e.b(0x48, 0x99)  # cqo
            e.maybe_1mod(src, is64)
            e.b(0xF7, add_1reg(0xF8, src))  # idiv src
        if op == isa.MOD and dst != 3:
            e.mov_reg(is64, dst, 3)
        elif op == isa.DIV and dst != 0:
            e.mov_reg(is64, dst, 0)
        if dst != 3:
            e.b(0x5A)  # pop rdx
        if dst != 0:
            e.b(0x58)  # pop rax
    elif op == isa.MUL:
        if x:
            e.maybe_mod(src, dst, is64)
            e.b(0x0F, 0xAF, add_2reg(0xC0, src, dst))  # imul dst, src
        else:
            e.maybe_mod(dst, dst, is64)
            if is_imm8(imm32):
                e.b(0x6B, add_2reg(0xC0, dst, dst), imm32 & 0xFF)
            else:
                e.b(0x69, add_2reg(0xC0, dst, dst))
                e.imm32(imm32)
    elif op in (isa.LSH, isa.RSH, isa.ARSH):
        b3 = SIMPLE_ALU_OPCODES[op]
        if not x:
            e.maybe_1mod(dst, is64)
            if imm32 == 1:
                e.b(0xD1, add_1reg(b3, dst))
            else:
                e.b(0xC1, add_1reg(b3, dst), imm32 & 0xFF)
        elif opts.cpu.bmi2 and src != 4:
            # BMI2 shifts are not better when the count already is in rcx
            e.shiftx(dst, src, is64, {isa.LSH: 1, isa.RSH: 3, isa.ARSH: 2}[op])
        else:
            orig_dst = dst
            if src != 4:
                if dst == 4:
                    e.mov(AUX_REG, dst)  # dst is rcx: shift a copy in r11
                    dst = AUX_REG
                else:
                    e.b(0x51)  # push rcx
                e.mov(4, src)  # mov rcx, src
            e.maybe_1mod(dst, is64)
            e.b(0xD3, add_1reg(b3, dst))
            if src != 4:
                if orig_dst == 4:
                    e.mov(orig_dst, AUX_REG)
                else:
                    e.b(0x59)  # pop rcx
    elif op == isa.END:
        if is64 and x:
            raise JitError(f"bpf_jit: unknown opcode {code:02x}", idx)
        if is64 or x:  # ALU|END|FROM_BE, ALU64|END|FROM_LE (bswap): swap
            if imm32 == 16:
                e.b(0x66)
                if is_ereg(dst):
                    e.b(0x41)
                e.b(0xC1, add_1reg(0xC8, dst), 8)  # ror dx, 8
                e.b(0x45, 0x0F, 0xB7) if is_ereg(dst) else e.b(0x0F, 0xB7)
                e.b(add_2reg(0xC0, dst, dst))  # movzx edx, dx
            elif imm32 == 32:
                e.b(0x41, 0x0F) if is_ereg(dst) else e.b(0x0F)
                e.b(add_1reg(0xC8, dst))  # bswap e?x
            elif imm32 == 64:
                e.b(add_1mod(0x48, dst), 0x0F, add_1reg(0xC8, dst))  # bswap r?x
            else:
                raise JitError(f"bpf_jit: byte swap of {imm32} bits", idx)
        else:  # ALU|END|FROM_LE: truncate on little endian
            if imm32 == 16:
                e.b(0x45, 0x0F, 0xB7) if is_ereg(dst) else e.b(0x0F, 0xB7)
                e.b(add_2reg(0xC0, dst, dst))
            elif imm32 == 32:
                if is_ereg(dst):
                    e.b(0x45)
                e.b(0x89, add_2reg(0xC0, dst, dst))  # mov eax, eax
            elif imm32 != 64:
                raise JitError(f"bpf_jit: byte swap of {imm32} bits", idx)
    else:
        raise JitError(f"bpf_jit: unknown opcode {code:02x}", idx)


def _emit_atomic_insn(e: Emitter, insn: Insn, opts: JitOptions, idx: int) -> None:
    """BPF_STX | BPF_ATOMIC: lock-prefixed RMW, xchg/cmpxchg, the cmpxchg loop of
    and/or/xor with fetch, and (Linux 6.15+) load-acquire / store-release, which
    on x86-64 (TSO) are plain moves (``emit_atomic_ld_st``)."""
    code, dst, src, imm, off = insn.code, insn.dst, insn.src, insn.imm, insn.off
    size = _SIZES[code & 0x18]
    if imm in (isa.LOAD_ACQ, isa.STORE_REL):
        if not opts.profile.atomic_load_store:
            raise JitError(f"bpf_jit: unknown atomic opcode {imm:02x}", idx)
        if imm == isa.LOAD_ACQ:
            e.ldx(size, dst, src, off)
        else:
            e.stx(size, dst, src, off)
        return
    if size not in (4, 8):
        raise JitError(f"bpf_jit: unknown opcode {code:02x}", idx)
    is64 = size == 8
    if imm in (isa.AND | isa.FETCH, isa.OR | isa.FETCH, isa.XOR | isa.FETCH):
        real_src, real_dst = src, dst
        e.mov_reg(True, BPF_REG_AX, 0)  # save r0: cmpxchg needs rax
        if src == 0:
            real_src = BPF_REG_AX
        if dst == 0:
            real_dst = BPF_REG_AX
        loop = len(e.buf)
        e.ldx(size, 0, real_dst, off)  # load the old value
        e.mov_reg(is64, AUX_REG, 0)
        e.maybe_mod(AUX_REG, real_src, is64)
        e.b(SIMPLE_ALU_OPCODES[imm & 0xF0], add_2reg(0xC0, AUX_REG, real_src))
        e.atomic(isa.CMPXCHG, real_dst, AUX_REG, off, is64)
        e.b(X86_JNE, (-(len(e.buf) - loop) - 2) & 0xFF)  # lost the race: retry
        e.mov_reg(is64, real_src, 0)
        e.mov_reg(True, 0, BPF_REG_AX)
        return
    if imm not in (isa.ADD, isa.AND, isa.OR, isa.XOR, isa.ADD | isa.FETCH, isa.XCHG, isa.CMPXCHG):
        raise JitError(f"bpf_jit: unknown atomic opcode {imm & 0xFF:02x}", idx)
    try:
        e.atomic(imm, dst, src, off, is64)
    except JitEncodeError as err:
        raise JitError(str(err), idx) from None


Allocator = Callable[[int], int]
"""``size -> address``: where the caller places an image of ``size`` bytes
(``bpf_jit_binary_pack_alloc``). Called once per function, after its size converged."""


#: poke index -> the ``bpf_func`` of the program in the prog array slot a direct tail call
#: names, or None while the slot is empty (what ``bpf_tail_call_direct_fixup`` reads)
TailCallTargets = Callable[[int], "int | None"]


def compile_func(func: JitFunc, alloc: Allocator, *, options: JitOptions = JitOptions(),
                 symbols: KernelSymbols, state: dict | None = None,
                 tail_call_targets: TailCallTargets | None = None) -> JitImage:
    """``bpf_int_jit_compile()`` for one function: passes until the size is stable,
    ``alloc`` the image, one pass at the image address.

    With ``state`` (a dict the caller keeps between calls) the first call stops
    after placement and remembers ``addrs`` (``jit_data``, ``prog->is_func``); the
    second call with the same ``state`` is the ``extra_pass``: padding on, one pass
    at the known address, which must give the same size.

    After the last pass the direct tail calls are patched for the slots that already
    hold a program (``bpf_tail_call_direct_fixup``; ``tail_call_targets``)."""
    n = len(func.insns)
    extra_pass = state is not None and "addrs" in state
    if extra_pass:
        assert state is not None
        addrs = state["addrs"]
        ctx = state["ctx"]
        oldproglen = state["proglen"]
        image: int | None = state["image"]
        padding = True
        passes = state["passes"]
    else:
        addrs = [64 * (k + 1) for k in range(n + 1)]
        ctx = _Ctx(64 * (n + 1))
        oldproglen = 0
        image = None
        padding = False
        passes = 0
    code = bytearray()
    pass_no = 0
    extable: list[ExtableEntry] = []
    pokes: list[PokeSite] = []
    while pass_no < MAX_PASSES or image is not None:
        if not padding and pass_no >= PADDING_PASSES:
            padding = True
        extable = []
        pokes = []
        code = do_jit(func, addrs, image, oldproglen, ctx, padding, options, symbols, extable, pokes)
        passes += 1
        proglen = len(code)
        if image is not None:
            if proglen != oldproglen:
                raise JitError(f"bpf_jit: proglen={proglen} != oldproglen={oldproglen}")
            break
        if proglen == oldproglen:
            # bpf_jit_binary_pack_alloc(roundup(proglen, align) + extable_size, ...)
            image = alloc(proglen)
        oldproglen = proglen
        pass_no += 1
    if image is None:
        raise JitError(f"bpf_jit: the image did not converge in {MAX_PASSES} passes")
    clean = list(addrs)
    k = 0
    while k < n:  # a lddw's second slot: an empty range at the end of the pair
        if func.insns[k].code == isa.LD_IMM64:
            clean[k + 1] = clean[k + 2] if k + 2 <= n else clean[k + 1]
            k += 2
        else:
            k += 1
    if (state is None or extra_pass) and tail_call_targets is not None:
        for site in pokes:  # bpf_tail_call_direct_fixup
            target = tail_call_targets(site.poke)
            if target is not None:
                for addr, patch in tail_call_poke(site, image, target, options.cpu):
                    code[addr - image:addr - image + len(patch)] = patch
    result = JitImage(image, bytes(code), tuple(clean), passes, tuple(extable), func.stack_depth, tuple(pokes))
    if state is not None and not extra_pass:
        state.update(addrs=addrs, ctx=ctx, proglen=len(code), image=image, passes=passes)
    return result


def jit_program(insns: Sequence[Insn], alloc: Allocator, *, starts: Sequence[int] = (0,),
                stack_depths: Sequence[int] | None = None, options: JitOptions = JitOptions(),
                symbols: KernelSymbols, was_classic: bool = False,
                tail_call_reachable: Sequence[bool] | None = None,
                tail_call_targets: TailCallTargets | None = None, exception_boundary: bool = False,
                exception_cb: int = -1) -> JitProgram:
    """JIT a whole program: one image, or with subprograms (``starts``, the slot
    where each begins, ``starts[0] == 0``) one image per function as
    ``jit_subprogs()`` does. ``stack_depths`` per function (default 0);
    ``tail_call_reachable`` per function (the verifier's, default none); the
    ``BPF_TAIL_CALL`` instructions with ``imm`` k > 0 are direct jumps for poke k - 1,
    patched for ``tail_call_targets`` (see :func:`compile_func`). ``exception_boundary``:
    the program throws (``env->seen_exception``: its main function saves every callee-saved
    register); ``exception_cb``: the function that is its exception callback (-1: none)."""
    starts = list(starts) or [0]
    if starts[0] != 0:
        raise JitError("the main program must start at slot 0")
    depths = list(stack_depths) if stack_depths is not None else [0] * len(starts)
    tcr = list(tail_call_reachable) if tail_call_reachable is not None else [False] * len(starts)
    if len(starts) == 1:
        img = compile_func(JitFunc(tuple(insns), depths[0], False, was_classic, tcr[0], exception_boundary), alloc,
                           options=options, symbols=symbols, tail_call_targets=tail_call_targets)
        return JitProgram([img], [0], [img.passes])
    bounds = starts + [len(insns)]

    def find_subprog(target: int) -> int:
        try:
            return starts.index(target)
        except ValueError:
            raise JitError(f"verifier bug. No program starts at insn {target}") from None

    work = list(insns)
    call_sub: dict[int, int] = {}
    for k, ins in enumerate(work):
        if _is_subprog_call(ins):
            call_sub[k] = find_subprog(k + ins.imm + 1)
            work[k] = Insn(ins.code, ins.dst, ins.src, ins.off, 1)  # __bpf_call_base + 1
        elif ins.code == isa.LD_IMM64 and ins.src == isa.PSEUDO_FUNC:
            call_sub[k] = find_subprog(k + ins.imm + 1)
            lo, hi = MODULES_VADDR & 0xFFFF_FFFF, MODULES_VADDR >> 32
            work[k] = Insn(ins.code, ins.dst, ins.src, ins.off, _s32(lo))
            work[k + 1] = Insn(work[k + 1].code, 0, 0, 0, _s32(hi))
    states: list[dict] = []
    first: list[JitImage] = []
    for f in range(len(starts)):
        st: dict = {}
        func = JitFunc(tuple(work[bounds[f]:bounds[f + 1]]), depths[f], f > 0, was_classic, tcr[f],
                       exception_boundary and f == 0, f == exception_cb)
        first.append(compile_func(func, alloc, options=options, symbols=symbols, state=st))
        states.append(st)
    for k, sub in call_sub.items():
        target = first[sub].addr
        ins = work[k]
        if ins.code == isa.LD_IMM64:
            work[k] = Insn(ins.code, ins.dst, ins.src, ins.off, _s32(target & 0xFFFF_FFFF))
            work[k + 1] = Insn(work[k + 1].code, 0, 0, 0, _s32(target >> 32))
        else:
            rel = target - symbols.call_base
            rel = ((rel + (1 << 63)) % (1 << 64)) - (1 << 63)
            if not is_simm32(rel):
                raise JitError(f"subprog at {target:#x} is out of call range", k)
            work[k] = Insn(ins.code, ins.dst, ins.src, ins.off, rel)
    funcs = []
    for f in range(len(starts)):
        func = JitFunc(tuple(work[bounds[f]:bounds[f + 1]]), depths[f], f > 0, was_classic, tcr[f],
                       exception_boundary and f == 0, f == exception_cb)
        funcs.append(compile_func(func, alloc, options=options, symbols=symbols, state=states[f],
                                  tail_call_targets=tail_call_targets))
    return JitProgram(funcs, starts, [img.passes for img in funcs])


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v & 0x8000_0000 else v
