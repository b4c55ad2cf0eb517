"""Register liveness before each instruction (``compute_live_registers``).

Models ``bpf_insn_successors``, ``compute_postorder``,
``compute_insn_live_regs`` and ``compute_live_registers`` of
kernel/bpf/verifier.c (Linux 6.15+; the 6.18 host prints the table at log
level 2 as ``Live regs before insn:``). A register is live before an
instruction when some path from it reads the register before writing it.
The verifier uses the result twice: states compare only live registers
(``func_states_equal``), and explored states forget dead ones
(``clean_func_state``).

A call's reads are its arguments (``get_call_summary``: the helper's
prototype, the kfunc's BTF parameter count; r1-r5 when unknown) and it writes
r0-r5; a bpf-to-bpf call is intraprocedural here (its successor is the next
instruction), as in the kernel.
"""

from __future__ import annotations

from array import array
from typing import Callable, Sequence

from kernel_model import isa
from .decoded import DInsn

__all__ = ["postorder", "compute_live_regs", "format_live_regs"]


def postorder(insns: Sequence[DInsn], starts: Sequence[int]) -> array[int]:
    """``compute_postorder``: each subprogram's instructions in DFS postorder."""
    n = len(insns)
    state = [0] * n
    out = array("i")
    DISCOVERED, EXPLORED = 0x10, 0x20
    for s in starts:
        stack = array("i", [s])
        while stack:
            top = stack[-1]
            state[top] |= DISCOVERED
            if state[top] & EXPLORED:
                out.append(top)
                stack.pop()
                continue
            for r in insns[top].succ_rel:
                w = top + r
                if 0 <= w < n and not state[w]:
                    stack.append(w)
                    state[w] |= DISCOVERED
            state[top] |= EXPLORED
    return out


def _use_def(insn: DInsn, call_params: Callable[[DInsn], int | None]) -> tuple[int, int]:
    """``compute_insn_live_regs``: (use, def) masks."""
    code = insn.code
    c = code & 7
    op = code & 0xF0
    mode = code & 0xE0
    src = 1 << insn.src
    dst = 1 << insn.dst
    use, df = 0xFFFF, 0
    if c == isa.LD:
        if mode == isa.IMM and (code & 0x18) == isa.DW:
            df, use = dst, 0
    elif c == isa.LDX:
        if mode in (isa.MEM, isa.MEMSX):
            df, use = dst, src
    elif c == isa.ST:
        if mode == isa.MEM:
            df, use = 0, dst
    elif c == isa.STX:
        if mode == isa.MEM:
            df, use = 0, dst | src
        elif mode == isa.ATOMIC:
            imm = insn.imm
            if imm == isa.CMPXCHG:
                use, df = 1 | dst | src, 1
            elif imm == isa.LOAD_ACQ:
                df, use = dst, src
            elif imm == isa.STORE_REL:
                df, use = 0, dst | src
            else:
                use = dst | src
                df = src if imm & isa.FETCH else 0
    elif c in (isa.ALU, isa.ALU64):
        if op == isa.END:
            use = df = dst
        elif op == isa.MOV:
            df = dst
            use = 0 if not code & isa.X else src
        else:
            df = dst
            use = dst if not code & isa.X else dst | src
    elif c in (isa.JMP, isa.JMP32):
        if op in (isa.JA, isa.JCOND):
            df = use = 0
        elif op == isa.EXIT:
            df, use = 0, 1
        elif op == isa.CALL:
            df = 0b111111
            use = df & ~1
            n = call_params(insn)
            if n is not None:
                use = ((1 << (n + 1)) - 1) & ~1
        else:
            df = 0
            use = dst if not code & isa.X else dst | src
    return use, df


def compute_live_regs(insns: Sequence[DInsn], order: Sequence[int],
                      call_params: Callable[[DInsn], int | None]) -> array[int]:
    """``live_regs_before`` of every instruction (a bit mask of r0..r10). The (use, def)
    masks are computed once per distinct decoded instruction."""
    n = len(insns)
    for d in set(insns):
        d.use_def = _use_def(d, call_params)
    live_in = [0] * n
    live_out = [0] * n
    # The first pass in postorder: every successor is done before its predecessor unless
    # the edge goes back (a loop, or a successor outside the order). Without such an edge
    # that pass is the fixed point, and the kernel's confirming pass changes nothing.
    done = bytearray(n)
    changed = False
    for i in order:
        d = insns[i]
        new_out = 0
        for r in d.succ_rel:
            s = i + r
            if s < n:
                new_out |= live_in[s]
                if not done[s]:
                    changed = True
        use, df = d.use_def or (0, 0)
        live_in[i] = (new_out & ~df) | use
        live_out[i] = new_out
        done[i] = 1
    while changed:
        changed = False
        for i in order:
            d = insns[i]
            new_out = 0
            for r in d.succ_rel:
                s = i + r
                if s < n:
                    new_out |= live_in[s]
            use, df = d.use_def or (0, 0)
            new_in = (new_out & ~df) | use
            if new_out != live_out[i] or new_in != live_in[i]:
                live_in[i] = new_in
                live_out[i] = new_out
                changed = True
    return array("H", live_in)  # masks of r0..r10 and the 0xFFFF of unknown uses


def format_live_regs(insns: Sequence[DInsn], live: Sequence[int], insn_text: Callable[[int], str],
                     scc: Sequence[int] | None = None) -> str:
    """The ``Live regs before insn:`` block of a level-2 log."""
    lines = ["Live regs before insn:"]
    i = 0
    n = len(insns)
    while i < n:
        prefix = f"{scc[i]:3d} " if scc is not None and scc[i] else "    "
        regs = "".join(str(j) if live[i] >> j & 1 else "." for j in range(10))
        lines.append(f"{prefix}{i:3d}: {regs} {insn_text(i)}")
        i += 2 if insns[i].code == isa.LD_IMM64 else 1
    return "\n".join(lines) + "\n"
