"""The verifier's structural passes: subprograms and the control-flow graph.

Models, in the order ``bpf_check()`` runs them (kernel/bpf/verifier.c, Linux
6.12; unchanged in substance in 6.18):

1. ``add_subprog_and_kfunc()`` -- every bpf-to-bpf call and ``BPF_PSEUDO_FUNC``
   lddw starts a subprogram at ``i + imm + 1``; a target outside the program
   is ``call to invalid destination``.
2. ``check_subprogs()`` -- every jump stays inside its subprogram (``jump out
   of range from insn %d to %d``) and every subprogram ends with exit or an
   unconditional jump (``last insn is not an exit or jmp``).
3. ``resolve_pseudo_ldimm64()`` -- :func:`kernel_model.insn.check_insns`.
4. ``check_cfg()`` -- a depth-first walk from insn 0 (entering subprograms
   through their calls): a back-edge is refused only for unprivileged
   loaders (``back-edge from insn %d to %d``); afterwards every slot must
   have been reached (``unreachable insn %d``) and no jump may land on the
   second slot of an lddw (``jump into the middle of ldimm64 insn %d``).

Pass contracts follow PREVAIL's style: each function states what it reads,
what it returns and what it raises (:class:`InvalidInsn`, kernel message, EINVAL).
"""

from __future__ import annotations

from typing import Sequence

from kernel_model import isa
from kernel_model.errors import InvalidInsn
from kernel_model.insn import Insn, check_insns

__all__ = ["find_subprogs", "check_subprogs", "check_cfg", "successors", "check_structure",
           "BPF_MAX_SUBPROGS"]

#: include/linux/bpf_verifier.h
BPF_MAX_SUBPROGS = 256


def _is_pseudo_call(insn: Insn) -> bool:
    return insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL


def _is_pseudo_func(insn: Insn) -> bool:
    return insn.code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC


def find_subprogs(insns: Sequence[Insn]) -> list[int]:
    """Pass: add_subprog_and_kfunc. Reads: call and pseudo-func targets.
    Returns: sorted subprogram start indices (0 first).
    Raises: ``call to invalid destination``; ``too many subprograms`` (E2BIG)."""
    import errno

    starts = {0}
    n = len(insns)
    for i, insn in enumerate(insns):
        if _is_pseudo_call(insn) or _is_pseudo_func(insn):
            tgt = i + insn.imm + 1
            if tgt < 0 or tgt >= n:
                raise InvalidInsn("call to invalid destination", i)
            starts.add(tgt)
            if len(starts) > BPF_MAX_SUBPROGS:
                raise InvalidInsn("too many subprograms", i, errno.E2BIG)
    return sorted(starts)


def check_subprogs(insns: Sequence[Insn], starts: Sequence[int]) -> None:
    """Pass: check_subprogs. Reads: jump offsets, subprogram bounds.
    Raises: ``jump out of range from insn %d to %d``, ``last insn is not an exit or jmp``."""
    bounds = list(starts) + [len(insns)]
    cur = 0
    start, end = bounds[0], bounds[1]
    for i, insn in enumerate(insns):
        code = insn.code
        c = code & 0x07
        if c in (isa.JMP, isa.JMP32) and (code & 0xF0) not in (isa.EXIT, isa.CALL):
            tgt = i + (insn.imm if code == isa.JMP32 | isa.JA else insn.off) + 1
            if tgt < start or tgt >= end:
                raise InvalidInsn(f"jump out of range from insn {i} to {tgt}", i)
        if i == end - 1:
            if code not in (isa.EXIT_INSN, isa.JMP32 | isa.JA, isa.JMP | isa.JA):
                raise InvalidInsn("last insn is not an exit or jmp", i)
            cur += 1
            if cur < len(starts):
                start, end = bounds[cur], bounds[cur + 1]


def successors(insns: Sequence[Insn], i: int) -> list[int]:
    """The CFG successors of slot ``i`` as ``visit_insn()`` pushes them:
    fall-through first, then the branch; a bpf-to-bpf call also reaches its
    callee's entry (the call returns to ``i + 1``)."""
    insn = insns[i]
    code = insn.code
    c = code & 0x07
    if code == isa.LD_IMM64:
        return [i + 2]
    if c not in (isa.JMP, isa.JMP32):
        return [i + 1]
    op = code & 0xF0
    if op == isa.EXIT:
        return []
    if op == isa.CALL:
        if insn.src == isa.PSEUDO_CALL:
            return [i + 1, i + insn.imm + 1]
        return [i + 1]
    if op == isa.JA:
        return [i + 1 + (insn.imm if c == isa.JMP32 else insn.off)]
    return [i + 1, i + 1 + insn.off]


def check_cfg(insns: Sequence[Insn], *, privileged: bool = True, reachability: bool = True) -> None:
    """Pass: check_cfg. Reads: the CFG of :func:`successors`.
    Raises: ``jump out of range from insn %d to %d``, ``back-edge from insn %d to %d``
    (unprivileged only), ``unreachable insn %d`` (unless ``reachability`` is off, as
    ``structops exec`` runs it: the ISA lets dead code be), ``jump into the middle of
    ldimm64 insn %d``."""
    n = len(insns)
    DISCOVERED, EXPLORED = 1, 2
    state = [0] * n
    # Iterative DFS with an explicit stack of (node, next successor index).
    state[0] = DISCOVERED
    stack: list[list[int]] = [[0, 0]]
    succ_cache: dict[int, list[int]] = {}
    while stack:
        top = stack[-1]
        t = top[0]
        succ = succ_cache.get(t)
        if succ is None:
            succ = succ_cache[t] = successors(insns, t)
        if top[1] >= len(succ):
            state[t] = EXPLORED
            stack.pop()
            continue
        w = succ[top[1]]
        top[1] += 1
        if w < 0 or w >= n:
            raise InvalidInsn(f"jump out of range from insn {t} to {w}", t)
        if state[w] == 0:
            state[w] = DISCOVERED
            stack.append([w, 0])
        elif state[w] == DISCOVERED and not privileged:
            raise InvalidInsn(f"back-edge from insn {t} to {w}", t)
    i = 0
    while i < n:
        if state[i] != EXPLORED and reachability:
            raise InvalidInsn(f"unreachable insn {i}", i)
        if insns[i].code == isa.LD_IMM64:
            if i + 1 < n and state[i + 1] != 0:
                raise InvalidInsn(f"jump into the middle of ldimm64 insn {i}", i)
            i += 2
            continue
        i += 1


def check_structure(insns: Sequence[Insn], *, privileged: bool = True, reachability: bool = True,
                    opcodes: frozenset[int] = isa.OPCODES) -> list[int]:
    """Run the structural passes in ``bpf_check()`` order; return the subprogram starts."""
    if not insns:
        check_insns(insns)  # raises E2BIG
    starts = find_subprogs(insns)
    check_subprogs(insns, starts)
    check_insns(insns, opcodes=opcodes)
    check_cfg(insns, privileged=privileged, reachability=reachability)
    return starts
