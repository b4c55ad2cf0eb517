"""``optimize_bpf_loop``: a ``bpf_loop`` call the verifier found fit becomes a loop in BPF.

Models kernel/bpf/verifier.c ``optimize_bpf_loop`` / ``inline_bpf_loop`` (Linux 6.12; the
6.18 host gives the same instructions: tests/emu/test_callbacks_runtime.py compares its
``xlated`` dump). A call is fit when every walk of the verifier reached it with the flags
(R4) the constant 0 and the same callback (``update_loop_inline_state``,
``insn_aux.loop_inline``, :mod:`verifier.callbacks`). It is replaced by::

    if r1 <= BPF_MAX_LOOPS goto +2
    w0 = -E2BIG
    goto +16
    *(u64 *)(r10 base+0) = r6 ; *(u64 *)(r10 base+8) = r7 ; *(u64 *)(r10 base+16) = r8
    r6 = r1 ; w7 = 0 ; r8 = r3
    if r7 >= r6 goto +5
    r1 = r7 ; r2 = r8 ; call <callback subprogram>
    r7 += 1
    if r0 == 0 goto -6
    r0 = r7
    r6 = *(u64 *)(r10 base+0) ; r7 = ... ; r8 = ...

with ``base = -(stack_depth + 24 + round_up(stack_depth, 8) - stack_depth)`` of the
subprogram holding the call, whose stack depth grows by those bytes once (every inlined
call of one subprogram shares the three slots). The kernel runs this pass after
``check_max_stack_depth`` and before ``convert_ctx_accesses``; the emulated kernel runs it
after ``convert_ctx_accesses`` (:mod:`emu.kernel.prog_load`), which touches neither
calls nor the stack, so the instructions are the same.
"""

from __future__ import annotations

from typing import Sequence

from kernel_model import isa
from kernel_model.insn import Insn

from .fixups import BPF_MAX_LOOPS, Patched, patch_program

__all__ = ["inline_bpf_loops", "BPF_FUNC_loop"]

BPF_FUNC_loop = 181
_E2BIG = 7
_DW = 0x18


def _loop_patch(base: int, callback_start: int) -> list[Patched]:
    """``inline_bpf_loop``'s 19 instructions (``callback_start``: the old slot the
    ``BPF_CALL_REL`` must reach)."""
    j, a64, a32 = isa.JMP, isa.ALU64, isa.ALU
    k, x = isa.K, isa.X

    def mov64(dst: int, src: int) -> Insn:
        return Insn(a64 | isa.MOV | x, dst, src, 0, 0)

    def stx(src: int, off: int) -> Insn:
        return Insn(isa.STX | isa.MEM | _DW, 10, src, off, 0)

    def ldx(dst: int, off: int) -> Insn:
        return Insn(isa.LDX | isa.MEM | _DW, dst, 10, off, 0)
    out: list[Patched] = [
        (Insn(j | isa.JLE | k, 1, 0, 2, BPF_MAX_LOOPS), None),
        (Insn(a32 | isa.MOV | k, 0, 0, 0, -_E2BIG), None),
        (Insn(j | isa.JA, 0, 0, 16, 0), None),
        (stx(6, base), None), (stx(7, base + 8), None), (stx(8, base + 16), None),
        (mov64(6, 1), None), (Insn(a32 | isa.MOV | k, 7, 0, 0, 0), None), (mov64(8, 3), None),
        (Insn(j | isa.JGE | x, 7, 6, 5, 0), None),
        (mov64(1, 7), None), (mov64(2, 8), None),
        (Insn(isa.CALL_INSN, 0, isa.PSEUDO_CALL, 0, 0), callback_start),
        (Insn(a64 | isa.ADD | k, 7, 0, 0, 1), None),
        (Insn(j | isa.JEQ | k, 0, 0, -6, 0), None),
        (mov64(0, 7), None),
        (ldx(6, base), None), (ldx(7, base + 8), None), (ldx(8, base + 16), None),
    ]
    return out


def inline_bpf_loops(insns: Sequence[Insn], calls: dict[int, int], starts: Sequence[int],
                     stack_depths: Sequence[int]) -> tuple[list[Insn], list[int], list[int], list[int]]:
    """``optimize_bpf_loop`` on ``insns``: ``calls`` maps the slot of each ``bpf_loop`` call
    fit for inlining to its callback's subprogram index; ``starts``/``stack_depths`` are
    per subprogram. Returns (instructions, new index of each old slot, new starts, new
    stack depths)."""
    depths = list(stack_depths)
    if not calls:
        return list(insns), list(range(len(insns) + 1)), list(starts), depths
    bounds = list(starts) + [len(insns)]
    patches: dict[int, list[Patched]] = {}
    for f in range(len(starts)):
        depth = depths[f]
        extra = 3 * 8 + ((depth + 7) & ~7) - depth
        inside = [s for s in sorted(calls) if bounds[f] <= s < bounds[f + 1]]
        for s in inside:
            ins = insns[s]
            if not (ins.code == isa.CALL_INSN and ins.src == 0 and ins.imm == BPF_FUNC_loop):
                continue
            patches[s] = _loop_patch(-(depth + extra), starts[calls[s]])
        if any(s in patches for s in inside):
            depths[f] = depth + extra
    out, new_index = patch_program(insns, patches)
    return out, new_index, [new_index[s] for s in starts], depths
