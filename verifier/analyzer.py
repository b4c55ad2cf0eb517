"""Path exploration: ``bpf_check()``'s passes and the ``do_check()`` walk with state pruning.

Models, from kernel/bpf/verifier.c (Linux 6.18):

* the passes before the walk, in order: ``add_subprog_and_kfunc`` (``func#%d @%d``
  at log level 2), ``check_subprogs``, ``check_abnormal_return``,
  ``resolve_pseudo_ldimm64`` (map fds, the fd_array, map value offsets, opcodes),
  ``check_cfg`` with ``visit_insn`` (prune points, jump points, forced
  checkpoints, ``unreachable insn %d``), ``check_attach_btf_id`` (struct_ops:
  ``check_struct_ops_btf_id``), ``compute_scc``, ``compute_live_registers``,
  ``mark_fastcall_patterns`` (:mod:`verifier.fastcall`);
* ``do_check_common`` / ``do_check``: the per-instruction log lines, the
  1,000,000 processed-instruction limit, ``is_state_visited`` (checkpoints
  every 2 jumps and 8 instructions unless forced, equivalence with explored
  states, ``infinite loop detected at insn %d``, miss/hit eviction), the branch
  stack with ``update_branch_counts``, exits of subprograms and of the program;
* the statistics line, ``remove_fastcall_spills_fills`` and ``check_max_stack_depth``.

Where we differ (see docs/verifier.md): stack-slot liveness (6.18's
kernel/bpf/liveness.c) is not modelled, so explored states keep dead stack
slots -- pruning is then at most as permissive as the kernel's, which can only
raise ``processed`` counts, never accept more; the SCC back-edge machinery is
modelled only as far as ``may_goto`` needs it.
"""

from __future__ import annotations

import errno as E
import functools
import gc
import time
from typing import Any, Final, Sequence

from kernel_model import isa
from kernel_model.errors import ENOTSUPP, InvalidInsn
from kernel_model.insn import Insn, check_insns

from . import alu, btf_info, calls, cfg, exceptions, fastcall, jumps, locks, mem, precision
from .cfg import successors
from .core import BPF_COMPLEXITY_LIMIT_INSNS, BPF_MAIN_FUNC, SRC_OP, Env, Reject, Subprog
from .decoded import DInsn
from .env import VerifierEnv
from .liveness import compute_live_regs, format_live_regs, postorder
from .log import LOG_FIXED, LOG_LEVEL1, LOG_LEVEL2, LOG_SIZE_MAX, LOG_STATS
from .map_rules import check_map_prog_compatibility, map_use_not_modelled
from .map_types import map_type_ops
from .ksyms import check_pseudo_btf_id
from kernel_model.uapi import NET_ADMIN_PROG_TYPES, PERFMON_PROG_TYPES

from . import helpers as H
from .helper_sets import expected_attach_type_ok, fixup_attach_type
from .sock_ctx import check_sock_conversions
from .prog_types import PROG_TYPES
from .regs import (MEM_RDONLY, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_CTX, PTR_TO_MEM, PTR_TRUSTED, PTR_UNTRUSTED,
                   SCALAR_VALUE, mark_known_zero, mark_not_init,
                   mark_unknown)
from .iters import iter_active_depths_differ, iter_slot_active
from .result import VerifyResult
from .stack_liveness import StackLiveness
from .state import (
    BPF_REG_SIZE, EXACT, NOT_EXACT, RANGE_WITHIN, STACK_INVALID, IdMap, StateList, VerifierState, frame_insn_idx,
    regsafe, states_equal,
)

__all__ = ["verify", "run", "do_check", "is_state_visited"]


class _Visit:
    """``struct bpf_scc_visit``: the state that entered a loop on one call chain and the
    back-edges (states found equal inside it) waiting for the loop to be done."""

    __slots__ = ("entry_state", "backedges", "num_backedges")

    def __init__(self) -> None:
        self.entry_state: VerifierState | None = None
        self.backedges: list[VerifierState] = []
        self.num_backedges = 0


# --- passes before the walk ---------------------------------------------------------------
def add_subprog_and_kfunc(env: Env) -> None:
    starts = {0}
    insns = env.insns
    n = env.n
    for i, insn in enumerate(insns):
        is_call = insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL
        is_func = insn.code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC
        is_kfunc = insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_KFUNC_CALL
        if not (is_call or is_func or is_kfunc):
            continue
        if not env.bpf_capable:
            raise env.reject(E.EPERM, "loading/calling other bpf or kernel functions are allowed for CAP_BPF "
                                      "and CAP_SYS_ADMIN")
        if is_call or is_func:
            tgt = i + insn.imm + 1
            if tgt < 0 or tgt >= n:
                raise env.reject(E.EINVAL, "call to invalid destination")
            if tgt not in starts and len(starts) >= 256:
                raise env.reject(E.E2BIG, "too many subprograms")
            starts.add(tgt)
        else:
            from .kfuncs import resolve_kfunc
            resolve_kfunc(env, insn)
    # the exception callback the main program's BTF names (bpf_find_exception_callback_insn_off)
    ex_cb_insn = exceptions.find_exception_callback_insn_off(env)
    if ex_cb_insn:
        if ex_cb_insn >= n:
            raise env.reject(E.EINVAL, "call to invalid destination")
        if ex_cb_insn not in starts and len(starts) >= 256:
            raise env.reject(E.E2BIG, "too many subprograms")
        starts.add(ex_cb_insn)
    env.subprogs = [Subprog(s) for s in sorted(starts)]
    if ex_cb_insn:
        exceptions.mark_subprog_exc_cb(env, env.find_subprog(ex_cb_insn))
    if env.level2:
        for i, sp in enumerate(env.subprogs):
            env.verbose(f"func#{i} @{sp.start}\n")


def check_subprogs(env: Env) -> None:
    """``check_subprogs``: the jump and last-insn rules of :func:`verifier.cfg.check_subprogs`
    (the ``exec`` precheck runs the same), then each subprogram's tail-call and LD_ABS flags
    (checked against the BTF, or its absence, by ``check_btf_info``)."""
    insns = env.insns
    starts = [sp.start for sp in env.subprogs]
    try:
        cfg.check_subprogs(insns, starts)
    except InvalidInsn as e:
        raise env.reject(e.errno, e.message) from None
    bounds = starts + [env.n]
    for f, sp in enumerate(env.subprogs):
        for insn in insns[bounds[f]:bounds[f + 1]]:
            code = insn.code
            if code == isa.CALL_INSN and insn.src == 0 and insn.imm == 12:
                sp.has_tail_call = sp.tail_call_reachable = True
            if insn.cls == isa.LD and insn.mode in (isa.ABS, isa.IND):
                sp.has_ld_abs = True
    # (check_abnormal_return runs in check_btf_info: a subprogram with BTF may hold them)


def resolve_pseudo_ldimm64(env: Env) -> None:
    try:
        check_insns(env.raw, opcodes=_opcodes(env.profile))
    except InvalidInsn as e:
        # report the first offence in slot order, but map-fd problems of earlier
        # slots come first: re-run the map checks up to that slot
        _resolve_maps(env, upto=e.index)
        raise env.reject(e.errno, e.message or None) from None
    _resolve_maps(env, upto=env.n)


#: is_tracing_prog_type(): kprobe, tracepoint, perf_event, raw_tracepoint(_writable)
_TRACING_PROG_TYPES: Final = frozenset({2, 5, 7, 17, 24})


def _check_map_prog_compatibility(env: Env, m: Any) -> None:
    """The special-field part of ``check_map_prog_compatibility`` (6.18), first of its
    checks: a map whose value has a ``bpf_list_head``/``bpf_rb_root`` is refused to tracing
    programs, one with a ``bpf_spin_lock`` to socket filters and tracing programs, one with a
    ``bpf_timer``/``bpf_wq`` to tracing programs."""
    rec = getattr(m, "record", None)
    if rec is None:
        return
    pt = env.attr.prog_type
    if (rec.has("bpf_list_head") or rec.has("bpf_rb_root")) and pt in _TRACING_PROG_TYPES:
        raise env.reject(E.EINVAL, "tracing progs cannot use bpf_{list_head,rb_root} yet")
    if rec.has("bpf_spin_lock"):
        if pt == 1:
            raise env.reject(E.EINVAL, "socket filter progs cannot use bpf_spin_lock yet")
        if pt in _TRACING_PROG_TYPES:
            raise env.reject(E.EINVAL, "tracing progs cannot use bpf_spin_lock yet")
    for name in ("bpf_timer", "bpf_wq"):
        if rec.has(name) and pt in _TRACING_PROG_TYPES:
            raise env.reject(E.EINVAL, f"tracing progs cannot use {name} yet")


#: bpf_map_is_cgroup_storage: map type -> enum bpf_cgroup_storage_type (shared, per-CPU)
_CGROUP_STORAGE_TYPES: Final = {19: 0, 21: 1}


def _resolve_maps(env: Env, upto: int) -> None:
    insns = env.insns
    i = 0
    used: list[Any] = []
    #: prog->aux->cgroup_storage[stype] (bpf_cgroup_storage_assign, kernel/bpf/local_storage.c)
    storage: dict[int, Any] = {}
    while i < upto and i < env.n:
        insn = insns[i]
        if insn.code != isa.LD_IMM64:
            i += 1
            continue
        if insn.src == isa.PSEUDO_BTF_ID:  # check_pseudo_btf_id (verifier.ksyms)
            check_pseudo_btf_id(env, i)
        if insn.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE):
            m = env.lookup_map(insn)
            if insn.src in (isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE):
                if not env.attr.fd_array:
                    raise env.reject(E.EPROTO, "fd_idx without fd_array is invalid")
            if m is None:
                raise env.reject(E.EBADF, f"fd {insn.imm} is not pointing to valid bpf_map")
            env.aux[i].map = m
            _check_map_prog_compatibility(env, m)
            mops = map_type_ops(m.map_type)
            if not mops.prog_usable:
                raise env.reject(E.EINVAL, "bpf_struct_ops map cannot be used in prog")
            why = check_map_prog_compatibility(m.map_type, env.attr.sleepable) or map_use_not_modelled(m.map_type)
            if why:
                raise env.reject(E.EINVAL, why)
            if insn.src in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
                off = insns[i + 1].imm & 0xFFFFFFFF
                if off >= 1 << 29:
                    raise env.reject(E.EINVAL, f"direct value offset of {off} is not allowed")
                if not mops.direct_value:  # map_direct_value_addr
                    raise env.reject(E.EINVAL, "no direct value access support for this map type")
                if m.max_entries != 1 or off >= m.value_size:
                    # array_map_direct_value_addr's error: -ENOTSUPP for more than one entry
                    raise env.reject(ENOTSUPP if m.max_entries != 1 else E.EINVAL,
                                     f"invalid access to map value pointer, value_size={m.value_size} off={off}")
                env.aux[i].map_off = off
            if not any(u is m for u in used):  # a newly added used map (not "reused")
                used.append(m)
                stype = _CGROUP_STORAGE_TYPES.get(m.map_type)
                if stype is not None:
                    if storage.get(stype, m) is not m:
                        raise env.reject(E.EBUSY, "only one cgroup storage of each type is allowed")
                    storage[stype] = m
        i += 2


def check_cfg(env: Env) -> None:
    """``check_cfg``: :func:`verifier.cfg.check_cfg` over the program, marking ``env.cfg_marks``."""
    try:
        ex_cb = env.exception_callback_subprog
        cfg.check_cfg(env.insns, env.cfg_marks, is_iter_next=functools.partial(_is_iter_next_kfunc, env),
                      is_cb_kfunc=functools.partial(_is_cb_kfunc, env),
                      extra_entries=(env.subprogs[ex_cb].start,) if ex_cb else ())
    except InvalidInsn as e:
        raise env.reject(e.errno, e.message) from None


def check_attach(env: Env) -> None:
    """``check_attach_btf_id``: the program type's own check (:mod:`verifier.prog_types`)."""
    env.prog_ops.check_attach(env)


def compute_scc(env: Env) -> None:
    """``compute_scc``: number the loops (SCCs with more than one insn or a self edge).
    A program whose ``check_cfg`` walk met no back-edge has none: nothing to number."""
    if not env.cfg_marks.has_back_edges:
        return
    n = env.n
    insns = env.insns
    pre = [0] * n
    low = [0] * n
    NOT_ON = 1 << 40
    nxt_pre = 1
    nxt_scc = 1
    for i in range(n):
        if pre[i]:
            continue
        stack: list[int] = []
        dfs = [i]
        while dfs:
            w = dfs[-1]
            if pre[w] == 0:
                low[w] = pre[w] = nxt_pre
                nxt_pre += 1
                stack.append(w)
            succ = [s for s in successors(insns, w) if s < n]
            pushed = False
            for s in succ:
                if pre[s]:
                    low[w] = min(low[w], low[s])
                else:
                    dfs.append(s)
                    pushed = True
                    break
            if pushed:
                continue
            if low[w] < pre[w]:
                dfs.pop()
                continue
            assign = stack[-1] != w or w in succ
            while True:
                t = stack.pop()
                low[t] = NOT_ON
                if assign:
                    env.scc[t] = nxt_scc
                if t == w:
                    break
            if assign:
                nxt_scc += 1
            dfs.pop()


def _quiet_kfunc(env: Env, insn: Any) -> Any:
    """The kfunc entry a call names, resolved without logging (the pre-passes ask before the
    walk: ``fetch_kfunc_meta``'s lookup), or None where the lookup fails."""
    from .kfuncs import resolve_kfunc
    lvl, env.level = env.level, 0
    try:
        return resolve_kfunc(env, insn)
    except Reject:
        return None
    finally:
        env.level = lvl


def _is_iter_next_kfunc(env: Env, insn: Any) -> bool:
    """``fetch_kfunc_meta`` succeeds and the kfunc has KF_ITER_NEXT (visit_insn)."""
    e = _quiet_kfunc(env, insn)
    return e is not None and "KF_ITER_NEXT" in e.kfunc.flags


def _is_cb_kfunc(env: Env, insn: Any) -> bool:
    """``is_sync_callback_calling_kfunc``: a vmlinux ``bpf_rbtree_add_impl`` call."""
    if insn.off:
        return False
    e = _quiet_kfunc(env, insn)
    return e is not None and e.module is None and e.name == "bpf_rbtree_add_impl"


def _call_params(env: Env, insn: DInsn) -> int | None:
    """``get_call_summary``'s argument count: the helper's prototype, the kfunc's BTF
    parameter count; None when unknown (r1-r5 are then read)."""
    from .helpers import FuncProto

    if insn.src == 0:
        if insn.imm < 0:
            return None
        fn = env.prog_ops.get_func_proto(env, insn.imm)
        if not isinstance(fn, FuncProto):
            return None
        return sum(1 for a in fn.args if a != 0)
    if insn.src == isa.PSEUDO_KFUNC_CALL:
        from .kfuncs import _kfunc_allowed
        e = _quiet_kfunc(env, insn)
        # fetch_kfunc_meta fails (-EACCES) for a kfunc the program type may not call:
        # get_call_summary then has no summary and r1-r5 count as read (the 6.18 host's
        # "Live regs" of such a program show r2-r5 live before a one-argument kfunc)
        if e is None or not _kfunc_allowed(env, e):
            return None
        f = e.btf.type_by_id(e.btf_id)
        return len(e.btf.type_by_id(f.type_id).params)
    return None


def compute_live_registers(env: Env) -> None:
    # (no closure over the env: compiled closures keep it in a reference cycle)
    call_params = functools.partial(_call_params, env)
    starts = [sp.start for sp in env.subprogs]
    order: list[int] = []
    po_starts = []
    for s in starts:  # compute_postorder: subprog_info[i].postorder_start
        po_starts.append(len(order))
        order += postorder(env.insns, [s])
    po_starts.append(len(order))
    env.live_before = compute_live_regs(env.insns, order, call_params)
    if env.level2:
        env.verbose(format_live_regs(env.insns, env.live_before, env.insn_str, env.scc))
    env.sp_starts = starts
    insns = env.insns  # (the closure must not hold the env: no cycle through it)
    env.stack_live = StackLiveness(starts + [env.n], order, po_starts, lambda i: successors(insns, i),
                                   env.prune_point, env.verbose if env.level2 else None)

# --- the walk -----------------------------------------------------------------------------
def explored_head(env: Env, idx: int) -> list[StateList]:
    c = env.cur
    cs = c.frame[c.curframe].callsite
    key = ((idx ^ cs) & 0xFFFFFFFF) % env.n
    lst = env.explored.get(key)
    if lst is None:
        lst = env.explored[key] = []
    return lst


def same_callsites(a: VerifierState, b: VerifierState) -> bool:
    if a.curframe != b.curframe:
        return False
    for fr in range(a.curframe, -1, -1):
        if a.frame[fr].callsite != b.frame[fr].callsite:
            return False
    return True


def find_prev_entry(env: Env, cur: VerifierState | None, idx: int) -> VerifierState | None:
    if cur is None:
        return None
    for sl in explored_head(env, idx):
        st = sl.state
        if st.insn_idx == idx and st.branches and same_callsites(st, cur) and st.dfs_depth < cur.dfs_depth:
            return st
    return None


def widen_imprecise_scalars(env: Env, old: VerifierState, cur: VerifierState) -> None:
    idmap = IdMap(env.id_gen)
    for fr in range(old.curframe, -1, -1):
        fo, fc = old.frame[fr], cur.frame[fr]
        pairs = list(zip(fo.regs, fc.regs))
        for so, sc in zip(fo.stack, fc.stack):
            if so.types[7] == 1 and sc.types[7] == 1:
                pairs.append((so.spilled, sc.spilled))
        for ro, rc in pairs:
            if ro.type != SCALAR_VALUE or ro.type != rc.type:
                continue
            if ro.precise or rc.precise or regsafe(ro, rc, idmap, EXACT):
                continue
            mark_unknown(rc, env.bpf_capable)


def clean_live_states(env: Env, insn: int, cur: VerifierState) -> None:
    for sl in explored_head(env, insn):
        st = sl.state
        if st.branches or st.insn_idx != insn or not same_callsites(st, cur) or st.cleaned:
            continue
        if incomplete_read_marks(env, st):
            continue
        # clean_verifier_state: dead registers (compute_live_registers) and dead stack
        # slots (6.18 liveness.c) of a completed explored state are forgotten
        env.stack_live.query_init(st, env.sp_starts)
        alive = env.stack_live.stack_slot_alive
        st.cleaned = True
        for i in range(st.curframe + 1):
            ip = frame_insn_idx(st, i)
            live = env.live_before[ip]
            fs = st.frame[i]
            regs = fs.regs
            for r in range(10):
                if not live >> r & 1:
                    mark_not_init(regs[r], env.bpf_capable)
            for spi, slot in enumerate(fs.stack):
                if not alive(fs.frameno, spi):
                    mark_not_init(slot.spilled, env.bpf_capable)
                    slot.types[:] = [STACK_INVALID] * BPF_REG_SIZE

# --- SCC visits and back-edges (6.18: maybe_enter_scc ... propagate_backedges) -----------------
def scc_callchain(env: Env, st: VerifierState) -> tuple[tuple[int, ...], int] | None:
    """``compute_scc_callchain``: the call sites down to the topmost frame whose
    instruction is in a loop (SCC), and that SCC; None when no frame is."""
    callsites: list[int] = []
    for i in range(st.curframe + 1):
        idx = frame_insn_idx(st, i)
        scc = env.scc[idx]
        if scc:
            return tuple(callsites), scc
        if i < st.curframe:
            callsites.append(idx)
    return None


def _fmt_callchain(key: tuple[tuple[int, ...], int]) -> str:
    """``format_callchain``: ``(callsite,...,scc)``; a zero call site ends the list."""
    out = "("
    for c in key[0]:
        if not c:
            break
        out += f"{c},"
    return out + f"{key[1]})"


def update_peak_states(env: Env) -> None:
    cur = env.explored_states_size + env.free_list_size + env.num_backedges
    if env.peak_states < cur:
        env.peak_states = cur


def maybe_enter_scc(env: Env, st: VerifierState) -> None:
    key = scc_callchain(env, st)
    if key is None:
        return
    visit = env.scc_visits.get(key)
    if visit is None:
        visit = env.scc_visits[key] = _Visit()
    if visit.entry_state is None:
        visit.entry_state = st
        if env.level2:
            env.verbose(f"SCC enter {_fmt_callchain(key)}\n")


def maybe_exit_scc(env: Env, st: VerifierState) -> None:
    key = scc_callchain(env, st)
    if key is None:
        return
    visit = env.scc_visits.get(key)
    if visit is None or visit.entry_state is not st:
        return
    if env.level2:
        env.verbose(f"SCC exit {_fmt_callchain(key)}\n")
    visit.entry_state = None
    env.num_backedges -= visit.num_backedges
    visit.num_backedges = 0
    update_peak_states(env)
    propagate_backedges(env, visit)


def add_scc_backedge(env: Env, st: VerifierState, backedge: VerifierState) -> None:
    key = scc_callchain(env, st)
    visit = env.scc_visits.get(key) if key is not None else None
    if visit is None or key is None:
        raise env.reject(E.EFAULT, f"verifier bug: add backedge: no visit info for insn_idx {st.insn_idx}")
    if env.level2:
        env.verbose(f"SCC backedge {_fmt_callchain(key)}\n")
    visit.backedges.insert(0, backedge)
    visit.num_backedges += 1
    env.num_backedges += 1
    update_peak_states(env)


def incomplete_read_marks(env: Env, st: VerifierState) -> bool:
    """Marks of ``st`` are not final while its SCC visit still holds back-edges."""
    key = scc_callchain(env, st)
    if key is None:
        return False
    visit = env.scc_visits.get(key)
    return visit is not None and bool(visit.backedges)


def propagate_backedges(env: Env, visit: "_Visit") -> None:
    """Precision of each back-edge's equal state flows into the back-edge's parents
    until nothing changes (at most MAX_BACKEDGE_ITERS = 64 rounds, then every
    scalar of the back-edges becomes precise)."""
    i = 0
    while True:
        if i > 64:
            if env.level2:
                env.verbose("propagate_backedges: too many iterations\n")
            for be in visit.backedges:
                precision.mark_all_scalars_precise(env, be)
            break
        i += 1
        changed = False
        for be in visit.backedges:
            if be.equal_state is not None:  # always set for a back-edge (is_state_visited)
                changed |= precision.propagate_precision(env, be.equal_state, be)
        if not changed:
            break
    visit.backedges = []


def maybe_free_verifier_state(env: Env, sl: "StateList") -> None:
    if not sl.in_free_list or sl.state.branches or incomplete_read_marks(env, sl.state):
        return
    sl.in_free_list = False
    env.free_list_size -= 1
    sl.state.sl = None  # freed: nothing reaches the entry from the state any more (no cycle)


def update_branch_counts(env: Env, st: VerifierState | None) -> None:
    sl = None
    while st is not None:
        st.branches -= 1
        if st.branches:
            break
        maybe_exit_scc(env, st)
        parent = st.parent
        parent_sl = parent.sl if parent is not None else None
        if sl is not None:
            maybe_free_verifier_state(env, sl)
        st = parent
        sl = parent_sl


def is_state_visited(env: Env, insn_idx: int) -> bool:
    cur = env.cur
    force_new = env.test_state_freq or bool(env.force_checkpoint[insn_idx]) or len(cur.jmp_history) > 40
    add_new = force_new
    if env.jmps_processed - env.prev_jmps_processed >= 2 and \
            env.insn_processed - env.prev_insn_processed >= 8:
        add_new = True
    clean_live_states(env, insn_idx, cur)
    head = explored_head(env, insn_idx)
    states_cnt = 0
    live = env.live_before
    is_may_goto = env.insns[insn_idx].code == isa.JMP | isa.JCOND
    is_iter_next = bool(env.iter_next[insn_idx])
    calls_cb = bool(env.calls_callback[insn_idx])
    for sl in list(head):
        states_cnt += 1
        st = sl.state
        if st.insn_idx != insn_idx:
            continue
        loop = False
        cb_hit = False
        if st.branches:
            if is_iter_next:
                # open-coded iterator: an equal state with the iterator still ACTIVE is
                # the next iteration of a loop that converged (6.18: a loop back-edge)
                if states_equal(st, cur, RANGE_WITHIN, live, env.id_gen, env.allow_uninit_stack) and \
                        iter_slot_active(env, cur):
                    loop = True
            elif is_may_goto and st.may_goto_depth != cur.may_goto_depth and \
                    states_equal(st, cur, RANGE_WITHIN, live, env.id_gen, env.allow_uninit_stack):
                loop = True
            elif calls_cb:
                # bpf_calls_callback: the callback's next visit from an equal state is
                # covered. A plain hit on the host (6.18.44): the later fix that makes it a
                # loop back-edge with an SCC of its own ("scc-for-callbacks") is not there
                if states_equal(st, cur, RANGE_WITHIN, live, env.id_gen, env.allow_uninit_stack):
                    cb_hit = True
            if not loop and not cb_hit:
                if not is_iter_next and not calls_cb and _states_maybe_looping(st, cur) and \
                        states_equal(st, cur, EXACT, live, env.id_gen, env.allow_uninit_stack) and \
                        not iter_active_depths_differ(st, cur) and \
                        st.may_goto_depth == cur.may_goto_depth and \
                        st.callback_unroll_depth == cur.callback_unroll_depth:
                    if env.linfo_offs and env.level:
                        btf_info.verbose_linfo(env, insn_idx, "; ")
                    env.verbose(f"infinite loop detected at insn {insn_idx}\n")
                    env.verbose("cur state:")
                    env.print_verifier_state(cur, cur.curframe, True)
                    env.verbose("old state:")
                    env.print_verifier_state(st, cur.curframe, True)
                    raise Reject(E.EINVAL)
                if not force_new and env.jmps_processed - env.prev_jmps_processed < 20 and \
                        env.insn_processed - env.prev_insn_processed < 100:
                    add_new = False
                _miss(env, sl, head, add_new, insn_idx)
                continue
        else:
            loop = incomplete_read_marks(env, st)
            if not states_equal(st, cur, RANGE_WITHIN if loop else NOT_EXACT, live, env.id_gen,
                                env.allow_uninit_stack, env.explore_alu_limits):
                _miss(env, sl, head, add_new, insn_idx)
                continue
        # hit
        sl.hit_cnt += 1
        if env.jmp_point[env.insn_idx]:
            env.push_jmp_history(cur, 0, 0)
        precision.propagate_precision(env, st, cur)
        if loop:  # remember the back-edge until the loop's SCC visit is done
            be = cur.clone()
            be.equal_state = st
            be.insn_idx = insn_idx
            add_scc_backedge(env, st, be)
        return True
    if env.max_states_per_insn < states_cnt:
        env.max_states_per_insn = states_cnt
    if not add_new:
        return False
    env.total_states += 1
    env.explored_states_size += 1
    update_peak_states(env)
    env.prev_jmps_processed = env.jmps_processed
    env.prev_insn_processed = env.insn_processed
    if env.bpf_capable:
        precision.mark_all_scalars_imprecise(cur)
    new = cur.clone()
    new.insn_idx = insn_idx
    new_sl = StateList(new)
    new.sl = new_sl
    maybe_enter_scc(env, new)
    cur.parent = new
    cur.first_insn_idx = insn_idx
    cur.dfs_depth = new.dfs_depth + 1
    cur.jmp_history = []
    head.insert(0, new_sl)
    return False


def _miss(env: Env, sl: StateList, head: list[StateList], add_new: bool, insn_idx: int) -> None:
    if add_new:
        sl.miss_cnt += 1
    n = 64 if env.force_checkpoint[insn_idx] and sl.state.branches > 0 else 3
    if sl.miss_cnt > sl.hit_cnt * n + n:
        sl.in_free_list = True
        head.remove(sl)
        env.free_list_size += 1
        env.explored_states_size -= 1
        maybe_free_verifier_state(env, sl)


def _states_maybe_looping(old: VerifierState, cur: VerifierState) -> bool:
    fr = cur.curframe
    if old.curframe != fr:
        return False
    ro, rc = old.frame[fr].regs, cur.frame[fr].regs
    for i in range(len(ro)):
        if not ro[i].same_until_frameno(rc[i]):
            return False
    return True


def do_check(env: Env) -> None:
    insns = env.insns
    n = env.n
    pop_log = not env.level2
    log_on = env.log_on
    level2 = env.level2
    do_print_state = False
    prune = env.prune_point
    jmp_point = env.jmp_point
    seen = env.seen
    live = env.stack_live
    sp_starts = env.sp_starts
    limit = BPF_COMPLEXITY_LIMIT_INSNS  # (a module global, read once: tests scale it down)
    linfo = bool(env.linfo_offs)
    prev_insn_idx = -1
    while True:
        env.cur_hist_ent = False
        env.prev_insn_idx = prev_insn_idx
        idx = env.insn_idx
        if idx >= n:
            raise env.reject(E.EFAULT, f"invalid insn idx {idx} insn_cnt {n}")
        insn = insns[idx]
        env.insn_processed += 1
        if env.insn_processed > limit:
            raise env.reject(E.E2BIG, f"BPF program is too large. Processed {env.insn_processed} insn")
        state = env.cur
        state.last_insn_idx = env.prev_insn_idx
        state.insn_idx = idx
        exit_path = False
        if prune[idx]:
            if is_state_visited(env, idx):
                if log_on:
                    if do_print_state:
                        spec = " (speculative execution)" if state.speculative else ""
                        env.verbose(f"\nfrom {env.prev_insn_idx} to {idx}{spec}: safe\n")
                    else:
                        env.verbose(f"{idx}: safe\n")
                exit_path = True
        if not exit_path:
            if jmp_point[idx]:
                env.push_jmp_history(state, 0, 0)
            if level2 and do_print_state:
                spec = " (speculative execution)" if state.speculative else ""
                env.verbose(f"\nfrom {env.prev_insn_idx} to {idx}{spec}:")
                env.print_verifier_state(state, state.curframe, True)
                do_print_state = False
            if log_on:
                if env.scratched_regs or env.scratched_stack:
                    env.print_insn_state(state, state.curframe)
                if linfo:
                    btf_info.verbose_linfo(env, idx, "; ")
                log = env.log
                env.prev_log_pos = log.end
                log.write(f"{idx}: {env.insn_str(idx)}\n")
                env.prev_insn_print_pos = log.end - env.prev_log_pos
                env.prev_log_pos = log.end
            if not state.speculative:  # sanitize_mark_insn_seen
                seen[idx] = True
            prev_insn_idx = idx
            speculative = state.speculative
            aux = env.aux.peek(idx) if speculative else None
            if aux is not None and aux.nospec:
                r = 1  # a speculative path stops at a barrier
            else:
                # bpf_reset/commit_stack_write_marks around every instruction: only stores
                # write stack slots, and for any other instruction the pair changes nothing
                stores = insn.stores
                if stores:
                    live.reset_stack_write_marks(state, sp_starts, idx)
                try:
                    r = do_check_insn(env, insn)
                except Reject as e:
                    # error_recoverable_with_nospec: a speculative path that would fault
                    # gets a barrier (nospec) instead of failing the program
                    if not (state.speculative and e.errno in (E.EPERM, E.EACCES, E.EINVAL)):
                        raise
                    if stores:
                        live.commit_stack_write_marks()
                    aux = env.aux[idx]
                    aux.nospec = True
                    aux.alu_state = 0  # no masking needed before a barrier
                    r = 1
                else:
                    if stores:
                        live.commit_stack_write_marks()
                if r != 1 and speculative:
                    aux = env.aux.peek(idx)
                    if aux is not None and aux.nospec_result:
                        r = 1  # the barrier after this store ends the speculative path
            if r == 0:
                continue
            if r == 2:  # returned from a subprogram
                do_print_state = True
                continue
        # process_bpf_exit
        env.mark_state_scratched()
        update_branch_counts(env, env.cur)
        live.update_live_stack(env.cur, sp_starts)
        if not env.pop_stack(pop_log):
            break
        prev_insn_idx = env.prev_insn_idx
        do_print_state = True


def do_check_insn(env: Env, insn: DInsn) -> int:
    """``do_check_insn``: 0 continue (insn_idx updated), 1 path ends, 2 subprog returned."""
    c = insn.cls
    if c == isa.ALU or c == isa.ALU64:
        alu.check_alu_op(env, insn)
    elif c == isa.LDX:
        mem.check_load_mem(env, insn, False, insn.mode == isa.MEMSX, "ldx")
    elif c == isa.STX:
        if insn.mode == isa.ATOMIC:
            mem.check_atomic(env, insn)
            env.insn_idx += 1
            return 0
        if insn.mode != isa.MEM or insn.imm:
            raise env.reject(E.EINVAL, "BPF_STX uses reserved fields")
        mem.check_store_reg(env, insn, False)
    elif c == isa.ST:
        if insn.mode != isa.MEM or insn.src:
            raise env.reject(E.EINVAL, "BPF_ST uses reserved fields")
        env.check_reg_arg(insn.dst, SRC_OP)
        dst_type = env.cur_regs()[insn.dst].type
        mem.check_mem_access(env, env.insn_idx, insn.dst, insn.off, insn.size, 2, -1, False, False)
        mem.save_aux_ptr_type(env, dst_type, False)
    elif c == isa.JMP or c == isa.JMP32:
        op = insn.op
        env.jmps_processed += 1
        if op == isa.CALL:
            if insn.x or (insn.src != isa.PSEUDO_KFUNC_CALL and insn.off) or \
                    insn.src not in (0, isa.PSEUDO_CALL, isa.PSEUDO_KFUNC_CALL) or insn.dst or c == isa.JMP32:
                raise env.reject(E.EINVAL, "BPF_CALL uses reserved fields")
            locks.check_call_under_lock(env, insn)
            if insn.src == isa.PSEUDO_CALL:
                calls.check_func_call(env, insn)
            elif insn.src == isa.PSEUDO_KFUNC_CALL:
                calls.check_kfunc_call(env, insn)
                if exceptions.is_bpf_throw_kfunc(env, insn):
                    # process_bpf_exit_full(.., exception_exit=true): the path ends here
                    exceptions.process_exception_exit(env)
                    return 1
            else:
                calls.check_helper_call(env, insn)
            env.scratched_regs |= 1
        elif op == isa.JA:
            if insn.x or insn.src or insn.dst or (c == isa.JMP and insn.imm) or \
                    (c == isa.JMP32 and insn.off):
                raise env.reject(E.EINVAL, "BPF_JA uses reserved fields")
            env.insn_idx += (insn.off if c == isa.JMP else insn.imm) + 1
            return 0
        elif op == isa.EXIT:
            if insn.x or insn.imm or insn.src or insn.dst or c == isa.JMP32:
                raise env.reject(E.EINVAL, "BPF_EXIT uses reserved fields")
            calls.check_resource_leak(env, False, not env.cur.curframe, "BPF_EXIT instruction in main prog")
            if env.cur.curframe:
                env.stack_live.update_live_stack(env.cur, env.sp_starts)
                calls.prepare_func_exit(env)
                return 2
            calls.check_return_code(env, 0, "R0")
            return 1
        else:
            jumps.check_cond_jmp_op(env, insn)
    elif c == isa.LD:
        mode = insn.mode
        if mode in (isa.ABS, isa.IND):
            calls.check_ld_abs(env, insn)
        elif mode == isa.IMM:
            calls.check_ld_imm(env, insn)
            env.insn_idx += 1
            if not env.cur.speculative:
                env.seen[env.insn_idx] = True
        else:
            raise env.reject(E.EINVAL, "invalid BPF_LD mode")
    else:
        raise env.reject(E.EINVAL, f"unknown insn class {c}")
    env.insn_idx += 1
    return 0


def do_check_common(env: Env, subprog: int) -> None:
    """``do_check_common``: the walk from one entry -- the main program (R1 the context)
    or a global function, verified on its own from its BTF prototype (``Validating
    %s() func#%d...``; scalars, the context, PTR_TO_MEM of the pointee's size). An
    accepted walk's level-1 log is reset, and its explored states freed."""
    sp = env.subprogs[subprog]
    env.prev_linfo = -1
    env.insn_idx = sp.start
    st = VerifierState()
    st.in_sleepable = env.attr.sleepable
    env.cur = st
    f = env.init_func_state(BPF_MAIN_FUNC, 0, subprog)
    env.mark_state_scratched()
    st.frame = [f]
    st.first_insn_idx = sp.start
    st.last_insn_idx = -1
    regs = f.regs
    env.stack_live.reset_callchain()
    quiet = env.quiet_walk
    if quiet:  # logging off for the walk; the log's state (positions, scratch marks) is reset below
        env.level, env.log_on = 0, False
    try:
        if subprog:
            env.verbose(f"Validating {btf_info.subprog_name(env, subprog)}() func#{subprog}...\n")
            btf_info.btf_prepare_func_args(env, subprog)
            if sp.is_exception_cb:
                f.in_exception_callback_fn = True
                # a global function's return is a scalar already; one scalar argument
                if len(sp.args) != 1 or sp.args[0].arg_type != H.ARG_ANYTHING:
                    raise env.reject(E.EINVAL, "exception cb only supports single integer argument")
            for i, arg in enumerate(sp.args, 1):
                reg = regs[i]
                at = arg.arg_type
                if at == H.ARG_PTR_TO_CTX:
                    reg.type = PTR_TO_CTX
                    mark_known_zero(reg)
                elif at == H.ARG_ANYTHING:
                    reg.type = SCALAR_VALUE
                    mark_unknown(reg, env.bpf_capable)
                elif at == H.ARG_PTR_TO_DYNPTR | MEM_RDONLY:
                    # do_check_common: assume an unspecial LOCAL dynptr
                    from .dynptrs import BPF_DYNPTR_TYPE_LOCAL, mark_dynptr_cb_reg
                    mark_dynptr_cb_reg(env, reg, BPF_DYNPTR_TYPE_LOCAL)
                elif at & 0xFF == H.ARG_PTR_TO_BTF_ID:
                    # __arg_trusted (| __arg_nullable), __arg_untrusted: a vmlinux struct
                    reg.type = PTR_TO_BTF_ID | (at & (PTR_MAYBE_NULL | PTR_UNTRUSTED | PTR_TRUSTED))
                    mark_known_zero(reg)
                    reg.btf = env.attr.vmlinux_btf
                    reg.btf_id = arg.btf_id
                    reg.id = env.new_id()
                elif at & 0xFF == H.ARG_PTR_TO_ARENA:
                    # __arg_arena: the caller passes a PTR_TO_ARENA or a scalar
                    reg.type = SCALAR_VALUE
                    mark_unknown(reg, env.bpf_capable)
                else:  # ARG_PTR_TO_MEM [| PTR_MAYBE_NULL] [| MEM_RDONLY | PTR_UNTRUSTED: __arg_untrusted void *]
                    reg.type = PTR_TO_MEM | (at & (PTR_MAYBE_NULL | PTR_UNTRUSTED | MEM_RDONLY))
                    mark_known_zero(reg)
                    reg.mem_size = arg.mem_size
                    reg.id = env.new_id()
        else:
            if env.func_info:
                # the main program's BTF is checked; a mismatch only makes it unreliable
                try:
                    btf_info.btf_prepare_func_args(env, 0)
                    ok = len(sp.args) == 1 and sp.args[0].arg_type == H.ARG_PTR_TO_CTX
                except btf_info.NotModelledArg:
                    raise
                except Reject:
                    ok = False
                if not ok:
                    sp.unreliable = True
            r1 = regs[1]
            r1.type = PTR_TO_CTX
            mark_known_zero(r1)
        do_check(env)
    finally:
        env.head.clear()
        if quiet:
            env.level, env.log_on = LOG_LEVEL1, True
    if not env.level2 and env.level & LOG_LEVEL1:
        env.log.reset(0)
    _free_states(env)


def do_check_main(env: Env) -> None:
    """``do_check_main``."""
    do_check_common(env, 0)


def do_check_subprogs(env: Env) -> None:
    """``do_check_subprogs``: every global function a verified walk called, each on its own,
    until no new one is called (``Func#%d ('%s') is safe for any args that match its
    prototype``); one called only from dead code is never verified."""
    if not env.func_info:
        return
    if env.exception_callback_subprog:  # "exception callback is presumed to be always called"
        env.subprogs[env.exception_callback_subprog].called = True
    while True:
        new = 0
        for i in range(1, len(env.subprogs)):
            sp = env.subprogs[i]
            if not env.subprog_is_global(i) or not sp.called or sp.verified:
                continue
            do_check_common(env, i)
            if env.log_on:
                env.verbose(f"Func#{i} ('{btf_info.subprog_name(env, i)}') is safe for any args that match its "
                            "prototype\n")
            sp.verified = True
            new += 1
        if not new:
            return


# --- after the walk -----------------------------------------------------------------------
def check_max_stack_depth(env: Env) -> None:
    """``check_max_stack_depth`` (6.12/6.18 ``check_max_stack_depth_subprog``): the deepest
    call chain's combined frames fit in 512 bytes; a subprogram with a tail call may not be
    entered with 256 bytes or more of callers' frames below it; every function on a chain
    that reaches a tail call is ``tail_call_reachable`` (the JIT then keeps the tail-call
    counter in its frame). Each asynchronous callback (timer, exception callback) runs on
    a stack of its own: it is a root of the walk, visited before the main program (last to
    first), and a reference to it (``r2 = func[cb] ll``) does not descend; the walk also
    refuses ``bpf_throw`` under a callback and a direct call of the exception callback
    (:mod:`verifier.exceptions`)."""
    starts = [sp.start for sp in env.subprogs] + [env.n]
    for i in range(len(env.subprogs) - 1, -1, -1):
        if not i or env.subprogs[i].is_async_cb:
            _stack_depth_walk(env, starts, i, 0, [])


def _stack_depth_walk(env: Env, starts: list[int], idx: int, depth: int, chain: list[int]) -> bool:
    """One subprogram of ``check_max_stack_depth``'s walk down the call chains (frames
    rounded up to 16 bytes; ``chain``: the callers). True when a tail call is reachable
    from a callee (``tail_call_reachable`` of the kernel's walk)."""
    from .exceptions import is_bpf_throw_kfunc
    sp = env.subprogs[idx]
    frame = len(chain)
    if idx and sp.has_tail_call and depth >= 256:
        raise env.reject(E.EACCES, f"tail_calls are not allowed when call stack of previous frames is {depth} "
                                   "bytes. Too large")
    depth += (sp.stack_depth + 15) // 16 * 16
    if depth > 512:
        raise env.reject(E.EACCES, f"combined stack size of {frame + 1} calls is {depth}. Too large")
    insns = env.insns
    reachable = False
    for i in range(starts[idx], starts[idx + 1]):
        insn = insns[i]
        if insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_KFUNC_CALL and not insn.off:
            if is_bpf_throw_kfunc(env, insn) and (sp.is_cb or any(env.subprogs[c].is_cb for c in chain)):
                raise env.reject(E.EINVAL, f"bpf_throw kfunc (insn {i}) cannot be called from callback "
                                           f"subprog {idx}")
            continue
        is_call = insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL
        if not (is_call or (insn.code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC)):
            continue
        sidx = env.find_subprog(i + insn.imm + 1)
        callee = env.subprogs[sidx]
        if callee.is_async_cb:
            # async callbacks do not add to the stack unless called directly
            if not is_call:
                continue
            if callee.is_exception_cb:
                env.verbose(f"insn {i} cannot call exception cb directly")  # (6.18: no newline)
                raise Reject(E.EINVAL)
        if frame + 1 >= isa.MAX_CALL_FRAMES:
            raise env.reject(E.E2BIG, f"the call stack of {frame + 1} frames is too deep !")
        if _stack_depth_walk(env, starts, sidx, depth, chain + [idx]) or callee.has_tail_call:
            reachable = True
    if reachable:
        for c in chain:
            if env.subprogs[c].is_exception_cb:
                raise env.reject(E.EINVAL, "cannot tail call within exception cb")
        sp.tail_call_reachable = True
    return reachable or sp.tail_call_reachable and idx != 0


def stats_line(env: Env, elapsed: float) -> None:
    if env.level & LOG_STATS:
        env.verbose(f"verification time {int(elapsed * 1e6)} usec\n")
        env.verbose("stack depth " + "+".join(str(sp.stack_depth) for sp in env.subprogs) + "\n")
    env.verbose(f"processed {env.insn_processed} insns (limit {BPF_COMPLEXITY_LIMIT_INSNS}) "
                f"max_states_per_insn {env.max_states_per_insn} total_states {env.total_states} "
                f"peak_states {env.peak_states} mark_read 0\n")


def run(env: Env) -> int:
    """``bpf_check()``: 0 or a positive errno."""
    t0 = time.perf_counter()
    err = 0
    try:
        btf_info.check_btf_func_early(env)
        add_subprog_and_kfunc(env)
        check_subprogs(env)
        btf_info.check_btf_info(env)
        resolve_pseudo_ldimm64(env)
        check_cfg(env)
        check_attach(env)
        compute_scc(env)
        compute_live_registers(env)
        fastcall.mark_fastcall_patterns(env)
        do_check_main(env)
        do_check_subprogs(env)
    except Reject as r:
        err = r.errno
    if not err:
        try:
            # might decrease stack depth: before check_max_stack_depth (bpf_check)
            env.fastcall_nops = fastcall.remove_fastcall_spills_fills(env)
            check_max_stack_depth(env)
            check_sock_conversions(env)  # convert_ctx_accesses' refusals (socket pointers)
        except Reject as r:
            err = r.errno
    stats_line(env, time.perf_counter() - t0)
    _release_states(env)
    return err


def _free_states(env: Env) -> None:
    """``free_states`` after a walk: the explored states go (the counters stay)."""
    for head in env.explored.values():
        for sl in head:
            sl.state.sl = None
    env.explored.clear()


def _release_states(env: Env) -> None:
    """Break the explored states' links to their list entries (``sl``), the only cycles the
    walk makes: everything is then freed by reference counting, not the cycle collector."""
    for head in env.explored.values():
        for sl in head:
            sl.state.sl = None
    env.explored.clear()
    if hasattr(env, "stack_live"):
        env.stack_live.log = None  # a bound method of the env at level 2


def _opcodes(profile: Any) -> frozenset[int]:
    from kernel_model.isa import _opcode_table
    return _opcode_table(profile.atomic_load_store)


def _error_line(log: str) -> str | None:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    while lines and (lines[-1].startswith("processed ") or lines[-1].startswith("verification time")
                     or lines[-1].startswith("stack depth")):
        lines.pop()
    return lines[-1] if lines else None


def verify(insns: Sequence[Insn], env: VerifierEnv, log_level: int = 1, *, true_size: bool = True) -> VerifyResult:
    """Verify ``insns`` as ``BPF_PROG_LOAD`` would with ``env``; the result holds
    the verdict, errno and the kernel-format log at ``log_level`` (0, 1, 2, or with
    the stats bit 4).

    ``true_size=False`` says the caller does not read ``log_true_size``. At level 1
    (no other bit) with the unlimited buffer (``env.log_size`` None) the walks are then
    not logged at all: the kernel's ``do_check_common`` resets an accepted walk's level-1
    text away (``bpf_vlog_reset(&env->log, 0)``), and its only trace is ``len_max``. A
    program the quiet walk rejects is verified once more with the walk logged, for the
    path to its rejection. The log and verdict are the same either way;
    ``log_true_size`` is then 0 (not computed)."""
    if log_level & ~(LOG_LEVEL1 | LOG_LEVEL2 | LOG_STATS | LOG_FIXED):
        return VerifyResult(False, E.EINVAL, "", 0)
    n = len(insns)
    if n == 0 or n > BPF_COMPLEXITY_LIMIT_INSNS:
        return VerifyResult(False, E.E2BIG, "", 0)
    if not env.privileged and (env.prog_type in PERFMON_PROG_TYPES or env.prog_type in NET_ADMIN_PROG_TYPES):
        # bpf_prog_load(): is_perfmon_prog_type / is_net_admin_prog_type need CAP_PERFMON /
        # CAP_NET_ADMIN (bpf_token_capable) beyond CAP_BPF
        return VerifyResult(False, E.EPERM, "", 0)
    env.expected_attach_type = fixup_attach_type(env.prog_type, env.expected_attach_type)
    if env.prog_type in PROG_TYPES and not expected_attach_type_ok(env.prog_type, env.expected_attach_type):
        return VerifyResult(False, E.EINVAL, "", 0)  # bpf_prog_load_check_attach
    log_size = env.log_size
    if log_size is not None and log_size > LOG_SIZE_MAX:
        return VerifyResult(False, E.EINVAL, "", 0)  # bpf_vlog_init -> bpf_verifier_log_attr_valid
    # The walk allocates states by the hundred thousand, almost all freed by reference
    # counting; the cycle collector's passes over them are a tenth of the time. It is
    # paused for the walk (not across it: the caller's setting comes back).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        v = Env(insns, env, log_level)
        v.quiet_walk = quiet = not true_size and log_level == LOG_LEVEL1 and log_size is None
        err = run(v)
    finally:
        if gc_was_on:
            gc.enable()
    if quiet and err:
        return verify(insns, env, log_level)  # the rejection's path: the walk again, logged
    v.aux.finalize(v.ptr_type, v.ctx_field_size, v.seen)  # what later stages read from insn_aux_data[]
    # bpf_vlog_finalize: log_true_size is len_max at any level but 0; a user buffer the
    # log outgrew turns any verdict into ENOSPC and holds the rotated tail (or, with
    # BPF_LOG_FIXED, the head)
    len_max = v.log.len_max if log_level and not quiet else 0
    if log_size is None:
        log = v.log.text()
    elif log_size == 0:
        log = ""  # no user buffer: the kernel only reports log_true_size
    else:
        log = v.log.user_text(log_size, bool(log_level & LOG_FIXED))
        if log_level and len_max > log_size:
            err = E.ENOSPC
    return VerifyResult(
        accepted=err == 0, errno=err, log=log, processed=v.insn_processed, log_true_size=len_max,
        stack_depth=[sp.stack_depth for sp in v.subprogs], subprog_starts=[sp.start for sp in v.subprogs],
        tail_call_reachable=[sp.tail_call_reachable for sp in v.subprogs],
        seen_exception=v.seen_exception, exception_callback_subprog=v.exception_callback_subprog,
        seen_direct_write=v.seen_direct_write,
        insn_aux=v.aux, max_states_per_insn=v.max_states_per_insn, total_states=v.total_states,
        peak_states=v.peak_states, error_line=None if err == 0 else _error_line(log),
        fastcall_nops=v.fastcall_nops if err == 0 else [])
