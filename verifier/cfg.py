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

from array import array
from typing import Callable, Final, Sequence

from kernel_model import isa
from kernel_model.errors import InvalidInsn
from kernel_model.insn import Insn, check_insns

from .decoded import DInsn, InsnFields, successors_rel

__all__ = ["find_subprogs", "check_subprogs", "check_cfg", "CfgMarks", "successors", "check_structure",
           "BPF_MAX_SUBPROGS"]

#: include/linux/bpf_verifier.h
BPF_MAX_SUBPROGS: Final = 256
#: is_sync_callback_calling_function (kernel/bpf/verifier.c): bpf_for_each_map_elem,
#: bpf_find_vma, bpf_loop, bpf_user_ringbuf_drain
SYNC_CALLBACK_HELPERS: Final = frozenset({164, 180, 181, 209})


def _is_pseudo_call(insn: InsnFields) -> bool:
    return insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL


def _is_pseudo_func(insn: InsnFields) -> bool:
    return insn.code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC


def find_subprogs(insns: Sequence[InsnFields]) -> list[int]:
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


def check_subprogs(insns: Sequence[InsnFields], starts: Sequence[int]) -> None:
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


def successors(insns: Sequence[InsnFields], i: int, *, into_calls: bool = False) -> tuple[int, ...]:
    """``bpf_insn_successors``: the slots control may reach after slot ``i``
    (:func:`verifier.decoded.successors_rel`, the one definition); with ``into_calls`` a
    bpf-to-bpf call also reaches its callee's entry (the reachability view of
    ``structops exec``'s precheck)."""
    insn = insns[i]
    rel = insn.succ_rel if isinstance(insn, DInsn) else successors_rel(insn)
    out = tuple(i + r for r in rel)
    if into_calls and insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL:
        out += (i + insn.imm + 1,)
    return out


class CfgMarks:
    """What ``check_cfg`` leaves in ``insn_aux_data`` for the walk: prune points, jump
    points (the jump history records arrivals there) and forced checkpoints (may_goto)."""

    __slots__ = ("prune_point", "jmp_point", "force_checkpoint", "has_back_edges", "calls_callback", "iter_next")

    def __init__(self, n: int) -> None:
        self.prune_point = bytearray(n)
        self.jmp_point = bytearray(n)
        self.force_checkpoint = bytearray(n)
        #: mark_calls_callback: a helper call that calls a callback synchronously
        self.calls_callback = bytearray(n)
        #: a call of an iterator's ``_next`` kfunc (is_iter_next_insn)
        self.iter_next = bytearray(n)
        #: the walk met an edge to an insn still on its stack: the program has a loop
        #: (without one, ``compute_scc`` has nothing to find)
        self.has_back_edges = False


#: insn_state[] values and push_insn's edge kinds (kernel/bpf/verifier.c)
DISCOVERED: Final = 0x10
EXPLORED: Final = 0x20
FALLTHROUGH: Final = 1
BRANCH: Final = 2


class _CfgWalk:
    """The walk's state: ``insn_state[]`` and the DFS stack of ``check_cfg``."""

    __slots__ = ("n", "st", "stack", "marks", "allow_back_edges")

    def __init__(self, n: int, marks: CfgMarks, allow_back_edges: bool) -> None:
        self.n = n
        self.st = [0] * n
        self.st[0] = DISCOVERED
        self.stack = array("i", [0])
        self.marks = marks
        self.allow_back_edges = allow_back_edges

    def push(self, t: int, w: int, e: int) -> int:
        """``push_insn``: 1 when ``w`` was pushed (KEEP_EXPLORING), else 0 (DONE_EXPLORING)."""
        st = self.st
        if e == FALLTHROUGH and st[t] >= (DISCOVERED | FALLTHROUGH):
            return 0
        if e == BRANCH and st[t] >= (DISCOVERED | BRANCH):
            return 0
        if w < 0 or w >= self.n:
            raise InvalidInsn(f"jump out of range from insn {t} to {w}", t)
        if e == BRANCH:
            self.marks.prune_point[w] = True
            self.marks.jmp_point[w] = True
        sw = st[w]
        if sw == 0:
            st[t] = DISCOVERED | e
            st[w] = DISCOVERED
            self.stack.append(w)
            return 1
        if (sw & 0xF0) == DISCOVERED:
            if not self.allow_back_edges:
                raise InvalidInsn(f"back-edge from insn {t} to {w}", t)
            self.marks.has_back_edges = True
            return 0
        if sw == EXPLORED:
            st[t] = DISCOVERED | e
        return 0


def check_cfg(insns: Sequence[InsnFields], marks: CfgMarks | None = None, *, allow_back_edges: bool = True,
              reachability: bool = True, is_iter_next: Callable[[InsnFields], bool] | None = None,
              extra_entries: Sequence[int] = (),
              is_cb_kfunc: Callable[[InsnFields], bool] | None = None) -> None:
    """Pass: ``check_cfg`` with ``visit_insn`` and ``push_insn`` (kernel/bpf/verifier.c,
    6.18): a depth-first walk from insn 0, fall-through edges before branch edges, that
    enters subprograms through their calls and ``BPF_PSEUDO_FUNC`` lddws, and marks
    ``marks`` (prune points at branches, call sites and their returns; jump points at
    jump targets; forced checkpoints at may_goto, at calls of helpers that call a callback
    (also marked ``calls_callback``) and at iterator ``_next`` kfunc calls, which
    ``is_iter_next`` tells); then from each of ``extra_entries`` (the exception callback,
    which nothing calls).
    Raises :class:`InvalidInsn`: ``jump out of range from insn %d to %d``, ``back-edge
    from insn %d to %d`` (unless ``allow_back_edges``: the kernel allows them when
    ``bpf_capable``), ``unreachable insn %d`` (unless ``reachability`` is off, as
    ``structops exec`` runs it: the ISA lets dead code be), ``jump into the middle of
    ldimm64 insn %d``."""
    n = len(insns)
    m = marks if marks is not None else CfgMarks(n)
    walk = _CfgWalk(n, m, allow_back_edges)
    st = walk.st
    stack = walk.stack
    pp, jp, fc = m.prune_point, m.jmp_point, m.force_checkpoint
    entries = list(extra_entries)
    while True:
        while stack:
            t = stack[-1]
            insn = insns[t]
            code = insn.code
            c = code & 0x07
            ret = 0
            if code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC:
                ret = walk.push(t, t + 2, FALLTHROUGH)
                if not ret:
                    pp[t + 2] = True
                    jp[t + 2] = True
                    pp[t] = True
                    ret = walk.push(t, t + insn.imm + 1, BRANCH)
            elif c != isa.JMP and c != isa.JMP32:
                ret = walk.push(t, t + (2 if code == isa.LD_IMM64 else 1), FALLTHROUGH)
            else:
                op = code & 0xF0
                if op == isa.EXIT:
                    ret = 0
                elif op == isa.CALL:
                    if insn.src == 0 and insn.imm in SYNC_CALLBACK_HELPERS:
                        m.calls_callback[t] = True
                        fc[t] = True
                        pp[t] = True
                        jp[t] = True
                    elif insn.src == isa.PSEUDO_KFUNC_CALL and is_cb_kfunc is not None and is_cb_kfunc(insn):
                        # is_sync_callback_calling_kfunc (bpf_rbtree_add_impl): as the helpers above
                        m.calls_callback[t] = True
                        fc[t] = True
                        pp[t] = True
                        jp[t] = True
                    elif insn.src == isa.PSEUDO_KFUNC_CALL and is_iter_next is not None and is_iter_next(insn):
                        m.iter_next[t] = True
                        pp[t] = True
                        fc[t] = True
                    ret = walk.push(t, t + 1, FALLTHROUGH)
                    if not ret:
                        pp[t + 1] = True
                        jp[t + 1] = True
                        if insn.src == isa.PSEUDO_CALL:
                            pp[t] = True
                            ret = walk.push(t, t + insn.imm + 1, BRANCH)
                elif op == isa.JA:
                    off = insn.off if c == isa.JMP else insn.imm
                    ret = walk.push(t, t + off + 1, FALLTHROUGH)
                    if not ret:
                        pp[t + off + 1] = True
                        jp[t + off + 1] = True
                else:
                    pp[t] = True
                    if code == isa.JMP | isa.JCOND:
                        fc[t] = True
                    ret = walk.push(t, t + 1, FALLTHROUGH)
                    if not ret:
                        ret = walk.push(t, t + insn.off + 1, BRANCH)
            if ret == 0:
                st[t] = EXPLORED
                stack.pop()
        if not entries:
            break
        # the exception callback is an entry of its own (6.18 check_cfg: ex_done)
        e0 = entries.pop(0)
        st[e0] = DISCOVERED
        stack.append(e0)
    i = 0
    while i < n:
        if st[i] != EXPLORED and reachability:
            raise InvalidInsn(f"unreachable insn {i}", i)
        if insns[i].code == isa.LD_IMM64:
            if i + 1 < n and st[i + 1] != 0:
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
    check_cfg(insns, allow_back_edges=privileged, reachability=reachability)
    return starts
