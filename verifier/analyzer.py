"""Path exploration: ``bpf_check()``'s passes and the ``do_check()`` walk with state pruning.

Models, from kernel/bpf/verifier.c (Linux 6.18):

* the passes before the walk, in order: ``add_subprog_and_kfunc`` (``func#%d @%d``
  at log level 2), ``check_subprogs``, ``check_abnormal_return``,
  ``resolve_pseudo_ldimm64`` (map fds, the fd_array, map value offsets, opcodes),
  ``check_cfg`` with ``visit_insn`` (prune points, jump points, forced
  checkpoints, ``unreachable insn %d``), ``check_attach_btf_id`` (struct_ops:
  ``check_struct_ops_btf_id``), ``compute_scc``, ``compute_live_registers``;
* ``do_check_common`` / ``do_check``: the per-instruction log lines, the
  1,000,000 processed-instruction limit, ``is_state_visited`` (checkpoints
  every 2 jumps and 8 instructions unless forced, equivalence with explored
  states, ``infinite loop detected at insn %d``, miss/hit eviction), the branch
  stack with ``update_branch_counts``, exits of subprograms and of the program;
* the statistics line and ``check_max_stack_depth``.

Where we differ (see docs/verifier.md): stack-slot liveness (6.18's
kernel/bpf/liveness.c) is not modelled, so explored states keep dead stack
slots -- pruning is then at most as permissive as the kernel's, which can only
raise ``processed`` counts, never accept more; the SCC back-edge machinery is
modelled only as far as ``may_goto`` needs it.
"""

from __future__ import annotations

import errno as E
import time
from typing import Any, Sequence

from kernel_model import isa
from kernel_model.errors import InvalidInsn
from kernel_model.insn import Insn, check_insns

from .alu import AluMixin
from .cfg import check_subprogs
from .calls import CallMixin
from .core import (
    BPF_COMPLEXITY_LIMIT_INSNS, BPF_MAIN_FUNC, SRC_OP, Core, Reject, Subprog,
)
from .ctx import CtxMixin
from .env import VerifierEnv
from .jumps import JmpMixin
from .liveness import compute_live_regs, format_live_regs, postorder, successors
from .log import LOG_FIXED, LOG_LEVEL1, LOG_LEVEL2, LOG_SIZE_MAX, LOG_STATS
from .map_rules import check_map_prog_compatibility, map_use_not_modelled
from .mem import MemMixin
from .precision import PrecisionMixin
from .regs import PTR_TO_CTX, SCALAR_VALUE, mark_known_zero, mark_not_init, mark_unknown
from .result import InsnAux, VerifyResult
from .stack_liveness import StackLiveness
from .state import BPF_REG_SIZE, EXACT, NOT_EXACT, RANGE_WITHIN, STACK_INVALID, VerifierState, frame_insn_idx, regsafe, states_equal, IdMap

__all__ = ["Verifier", "verify"]

PROG_TYPE_SOCKET_FILTER = 1
PROG_TYPE_STRUCT_OPS = 27
PROG_TYPE_SYSCALL = 31


class _Visit:
    """``struct bpf_scc_visit``: the state that entered a loop on one call chain and the
    back-edges (states found equal inside it) waiting for the loop to be done."""

    __slots__ = ("entry_state", "backedges", "num_backedges")

    def __init__(self) -> None:
        self.entry_state: VerifierState | None = None
        self.backedges: list[VerifierState] = []
        self.num_backedges = 0


class _SL:
    """``struct bpf_verifier_state_list``."""

    __slots__ = ("state", "hit_cnt", "miss_cnt", "in_free_list")

    def __init__(self, state: VerifierState) -> None:
        self.state = state
        self.hit_cnt = 0
        self.miss_cnt = 0
        self.in_free_list = False


class Verifier(Core, MemMixin, AluMixin, JmpMixin, CallMixin, CtxMixin, PrecisionMixin):
    """One ``bpf_check()`` run."""

    def __init__(self, insns: Sequence[Insn], env: VerifierEnv, log_level: int) -> None:
        super().__init__(insns, env, log_level)
        self.aux = [InsnAux() for _ in range(self.n)]
        self.ctx_field_size = [0] * self.n
        self.ctx_kind = "skb" if env.prog_type == PROG_TYPE_SOCKET_FILTER else "none"
        self.allowed_helpers: frozenset[int] = frozenset()
        self.attach_btf: Any = None
        self.attach_func_proto: Any = None
        self.attach_func_name = ""
        self.ctx_arg_info: tuple[Any, ...] = ()
        self.struct_ops_policy: Any = None
        self.retval_range: tuple[int, int] | None = None
        self.scc = [0] * self.n
        self.fd_maps: dict[int, Any] = {}
        self.stack_reads_seen = 0

    # --- environment hooks --------------------------------------------------------------------
    def map_addr_for(self, first: Insn, second: Insn) -> int:
        """The address the log prints for a map lddw; print_bpf_insn hides the pointers of
        MAP_FD/MAP_VALUE lddws (prints 0x0) when pointer leaks are not allowed."""
        if not self.allow_ptr_leaks and first.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE):
            return 0
        m = self.lookup_map(first)
        if m is None:
            return 0
        base = m.addr or (0xFFFF_8881_0000_0000 + (m.id or 1) * 0x1000)
        if first.src in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
            vbase = m.value_addr or (base + 0x110)
            return (vbase + (second.imm & 0xFFFFFFFF)) & ((1 << 64) - 1)
        return base

    def kfunc_name_for(self, insn: Insn) -> str | None:
        return self.kfunc_names.get((insn.off, insn.imm))

    def lookup_map(self, insn: Insn) -> Any:
        if insn.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE):
            return self.env.maps.get(insn.imm)
        if insn.src in (isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE):
            fa = self.env.fd_array
            if 0 <= insn.imm < len(fa):
                return fa[insn.imm]
        return None

    # stack liveness hooks (kernel/bpf/liveness.c): not modelled, see module docstring
    def stack_read_mark(self, state: Any, spi: int) -> None:
        """``bpf_mark_stack_read`` for slot ``spi`` of ``state``'s frame (6.18 liveness.c)."""
        self.stack_live.mark_stack_read(self.cur, self.sp_starts, state.frameno, self.insn_idx, 1 << spi)

    def stack_write_mark(self, state: Any, spi: int, off: int, size: int) -> None:
        """``bpf_mark_stack_write``: only a full, aligned 8-byte write counts (check_stack_write_fixed_off)."""
        if not off % BPF_REG_SIZE and size == BPF_REG_SIZE:
            self.stack_live.write_masks_acc[state.frameno] |= 1 << spi

    def find_subprog(self, off: int) -> int:
        for i, sp in enumerate(self.subprogs):
            if sp.start == off:
                return i
        return -1

    # --- passes before the walk ---------------------------------------------------------------
    def add_subprog_and_kfunc(self) -> None:
        starts = {0}
        insns = self.insns
        n = self.n
        for i, insn in enumerate(insns):
            is_call = insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL
            is_func = insn.code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC
            is_kfunc = insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_KFUNC_CALL
            if not (is_call or is_func or is_kfunc):
                continue
            if not self.bpf_capable:
                raise self.reject(E.EPERM, "loading/calling other bpf or kernel functions are allowed for CAP_BPF "
                                           "and CAP_SYS_ADMIN")
            if is_call or is_func:
                tgt = i + insn.imm + 1
                if tgt < 0 or tgt >= n:
                    raise self.reject(E.EINVAL, "call to invalid destination")
                if tgt not in starts and len(starts) >= 256:
                    raise self.reject(E.E2BIG, "too many subprograms")
                starts.add(tgt)
            else:
                from .kfuncs import resolve_kfunc
                resolve_kfunc(self, insn)
        self.subprogs = [Subprog(s) for s in sorted(starts)]
        if self.level2:
            for i, sp in enumerate(self.subprogs):
                self.verbose(f"func#{i} @{sp.start}\n")

    def check_subprogs(self) -> None:
        """``check_subprogs``: the jump and last-insn rules of :func:`verifier.cfg.check_subprogs`
        (the ``exec`` precheck runs the same), then each subprogram's tail-call and LD_ABS flags."""
        insns = self.insns
        starts = [sp.start for sp in self.subprogs]
        try:
            check_subprogs(insns, starts)
        except InvalidInsn as e:
            raise self.reject(e.errno, e.message) from None
        bounds = starts + [self.n]
        for f, sp in enumerate(self.subprogs):
            for insn in insns[bounds[f]:bounds[f + 1]]:
                code = insn.code
                if code == isa.CALL_INSN and insn.src == 0 and insn.imm == 12:
                    sp.has_tail_call = True
                if code & 7 == isa.LD and (code & 0xE0) in (isa.ABS, isa.IND):
                    sp.has_ld_abs = True
        for sp in self.subprogs[1:]:
            if sp.has_ld_abs:
                raise self.reject(E.EINVAL, "LD_ABS is not allowed in subprogs without BTF")
            if sp.has_tail_call:
                raise self.reject(E.EINVAL, "tail_call is not allowed in subprogs without BTF")

    def resolve_pseudo_ldimm64(self) -> None:
        insns = self.insns
        try:
            check_insns(insns, opcodes=_opcodes(self.profile))
        except InvalidInsn as e:
            # report the first offence in slot order, but map-fd problems of earlier
            # slots come first: re-run the map checks up to that slot
            self._resolve_maps(upto=e.index)
            raise self.reject(e.errno, e.message or None) from None
        self._resolve_maps(upto=self.n)

    def _resolve_maps(self, upto: int) -> None:
        insns = self.insns
        i = 0
        while i < upto and i < self.n:
            insn = insns[i]
            if insn.code != isa.LD_IMM64:
                i += 1
                continue
            if insn.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE):
                m = self.lookup_map(insn)
                if insn.src in (isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE):
                    if not self.env.fd_array:
                        raise self.reject(E.EPROTO, "fd_idx without fd_array is invalid")
                if m is None:
                    raise self.reject(E.EBADF, f"fd {insn.imm} is not pointing to valid bpf_map")
                self.aux[i].map = m
                why = check_map_prog_compatibility(m.map_type, self.env.sleepable)
                if why:
                    raise self.reject(E.EINVAL, why)
                why = map_use_not_modelled(m.map_type)
                if why:
                    raise self.reject(E.EINVAL, why)
                if insn.src in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
                    off = insns[i + 1].imm & 0xFFFFFFFF
                    if off >= 1 << 29:
                        raise self.reject(E.EINVAL, f"direct value offset of {off} is not allowed")
                    if m.map_type != 2:  # only array_map_ops has map_direct_value_addr
                        raise self.reject(E.EINVAL, "no direct value access support for this map type")
                    if m.max_entries != 1 or off >= m.value_size:
                        raise self.reject(E.EINVAL, f"invalid access to map value pointer, value_size={m.value_size} "
                                                    f"off={off}")
                    self.aux[i].map_off = off
            i += 2

    def check_cfg(self) -> None:
        """``check_cfg`` with ``visit_insn``: DFS from insn 0 marking prune points."""
        insns = self.insns
        n = self.n
        DISCOVERED, EXPLORED = 0x10, 0x20
        st = [0] * n
        st[0] = DISCOVERED
        stack = [0]
        pp, jp, fc = self.prune_point, self.jmp_point, self.force_checkpoint

        def push(t: int, w: int, e: int) -> int:
            if e == 1 and st[t] >= (DISCOVERED | 1):
                return 0
            if e == 2 and st[t] >= (DISCOVERED | 2):
                return 0
            if w < 0 or w >= n:
                raise self.reject(E.EINVAL, f"jump out of range from insn {t} to {w}")
            if e == 2:
                pp[w] = True
                jp[w] = True
            if st[w] == 0:
                st[t] = DISCOVERED | e
                st[w] = DISCOVERED
                stack.append(w)
                return 1
            if (st[w] & 0xF0) == DISCOVERED:
                return 0
            if st[w] == EXPLORED:
                st[t] = DISCOVERED | e
            return 0

        while stack:
            t = stack[-1]
            insn = insns[t]
            code = insn.code
            c = code & 7
            ret = 0
            if code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC:
                ret = push(t, t + 2, 1)
                if not ret:
                    pp[t + 2] = True
                    jp[t + 2] = True
                    pp[t] = True
                    ret = push(t, t + insn.imm + 1, 2)
            elif c not in (isa.JMP, isa.JMP32):
                ret = push(t, t + (2 if code == isa.LD_IMM64 else 1), 1)
            else:
                op = code & 0xF0
                if op == isa.EXIT:
                    ret = 0
                elif op == isa.CALL:
                    ret = push(t, t + 1, 1)
                    if not ret:
                        pp[t + 1] = True
                        jp[t + 1] = True
                        if insn.src == isa.PSEUDO_CALL:
                            pp[t] = True
                            ret = push(t, t + insn.imm + 1, 2)
                elif op == isa.JA:
                    off = insn.off if c == isa.JMP else insn.imm
                    ret = push(t, t + off + 1, 1)
                    if not ret:
                        pp[t + off + 1] = True
                        jp[t + off + 1] = True
                else:
                    pp[t] = True
                    if code == isa.JMP | isa.JCOND:
                        fc[t] = True
                    ret = push(t, t + 1, 1)
                    if not ret:
                        ret = push(t, t + insn.off + 1, 2)
            if ret == 0:
                st[t] = EXPLORED
                stack.pop()
        i = 0
        while i < n:
            if st[i] != EXPLORED:
                raise self.reject(E.EINVAL, f"unreachable insn {i}")
            if insns[i].code == isa.LD_IMM64:
                if i + 1 < n and st[i + 1] != 0:
                    raise self.reject(E.EINVAL, f"jump into the middle of ldimm64 insn {i}")
                i += 2
                continue
            i += 1

    def check_attach(self) -> None:
        """``check_attach_btf_id`` for the modelled program types."""
        env = self.env
        if env.prog_type == PROG_TYPE_SOCKET_FILTER:
            from .helpers import SOCKET_FILTER_HELPERS
            self.allowed_helpers = SOCKET_FILTER_HELPERS
            if env.sleepable:
                raise self.reject(E.EINVAL, "Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs "
                                            "can be sleepable")
            return
        if env.prog_type == PROG_TYPE_SYSCALL:
            # check_attach_btf_id (kernel/bpf/verifier.c, 6.12/6.18): the first rule
            if not env.sleepable:
                raise self.reject(E.EINVAL, "Syscall programs can only be sleepable")
            from .helpers import SYSCALL_HELPERS
            self.allowed_helpers = SYSCALL_HELPERS
            self.ctx_kind = "syscall"
            return
        if env.prog_type == PROG_TYPE_STRUCT_OPS:
            from .struct_ops import check_struct_ops_btf_id
            check_struct_ops_btf_id(self)
            return
        raise self.reject(E.EINVAL, f"program type {env.prog_type} is not modelled")

    def compute_scc(self) -> None:
        """``compute_scc``: number the loops (SCCs with more than one insn or a self edge)."""
        from .liveness import successors
        n = self.n
        insns = self.insns
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
                        self.scc[t] = nxt_scc
                    if t == w:
                        break
                if assign:
                    nxt_scc += 1
                dfs.pop()

    def compute_live_registers(self) -> None:
        from .helpers import proto_for

        def call_params(insn: Insn) -> int | None:
            if insn.src == 0:
                if insn.imm < 0 or not self.helper_allowed(insn.imm):
                    return None
                fn = proto_for(insn.imm)
                if fn is None:
                    return None
                return sum(1 for a in fn.args if a != 0)
            if insn.src == isa.PSEUDO_KFUNC_CALL:
                try:
                    from .kfuncs import resolve_kfunc
                    lvl, self.level = self.level, 0
                    try:
                        e = resolve_kfunc(self, insn)
                    finally:
                        self.level = lvl
                    f = e.btf.type_by_id(e.btf_id)
                    return len(e.btf.type_by_id(f.type_id).params)
                except Reject:
                    return None
            return None

        starts = [sp.start for sp in self.subprogs]
        order: list[int] = []
        po_starts = []
        for s in starts:  # compute_postorder: subprog_info[i].postorder_start
            po_starts.append(len(order))
            order += postorder(self.insns, [s])
        po_starts.append(len(order))
        self.live_before = compute_live_regs(self.insns, order, call_params)
        if self.level2:
            self.verbose(format_live_regs(self.insns, self.live_before, self.insn_str, self.scc))
        self.sp_starts = starts
        self.stack_live = StackLiveness(starts + [self.n], order, po_starts, lambda i: successors(self.insns, i),
                                        self.prune_point, self.verbose if self.level2 else None)

    # --- the walk -----------------------------------------------------------------------------
    def explored_head(self, idx: int) -> list[_SL]:
        c = self.cur
        cs = c.frame[c.curframe].callsite
        key = ((idx ^ cs) & 0xFFFFFFFF) % self.n
        lst = self.explored.get(key)
        if lst is None:
            lst = self.explored[key] = []
        return lst

    @staticmethod
    def same_callsites(a: VerifierState, b: VerifierState) -> bool:
        if a.curframe != b.curframe:
            return False
        for fr in range(a.curframe, -1, -1):
            if a.frame[fr].callsite != b.frame[fr].callsite:
                return False
        return True

    def find_prev_entry(self, cur: VerifierState | None, idx: int) -> VerifierState | None:
        if cur is None:
            return None
        for sl in self.explored_head(idx):
            st = sl.state
            if st.insn_idx == idx and st.branches and self.same_callsites(st, cur) and st.dfs_depth < cur.dfs_depth:
                return st
        return None

    def widen_imprecise_scalars(self, old: VerifierState, cur: VerifierState) -> None:
        idmap = IdMap(self.id_gen)
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
                mark_unknown(rc, self.bpf_capable)

    def clean_live_states(self, insn: int, cur: VerifierState) -> None:
        for sl in self.explored_head(insn):
            st = sl.state
            if st.branches or st.insn_idx != insn or not self.same_callsites(st, cur) or st.cleaned:
                continue
            if self.incomplete_read_marks(st):
                continue
            # clean_verifier_state: dead registers (compute_live_registers) and dead stack
            # slots (6.18 liveness.c) of a completed explored state are forgotten
            self.stack_live.query_init(st, self.sp_starts)
            alive = self.stack_live.stack_slot_alive
            st.cleaned = True
            for i in range(st.curframe + 1):
                ip = frame_insn_idx(st, i)
                live = self.live_before[ip]
                fs = st.frame[i]
                regs = fs.regs
                for r in range(10):
                    if not live >> r & 1:
                        mark_not_init(regs[r], self.bpf_capable)
                for spi, slot in enumerate(fs.stack):
                    if not alive(fs.frameno, spi):
                        mark_not_init(slot.spilled, self.bpf_capable)
                        slot.types[:] = [STACK_INVALID] * BPF_REG_SIZE

    # --- SCC visits and back-edges (6.18: maybe_enter_scc ... propagate_backedges) -----------------
    def scc_callchain(self, st: VerifierState) -> tuple[tuple[int, ...], int] | None:
        """``compute_scc_callchain``: the call sites down to the topmost frame whose
        instruction is in a loop (SCC), and that SCC; None when no frame is."""
        callsites = []
        for i in range(st.curframe + 1):
            idx = frame_insn_idx(st, i)
            scc = self.scc[idx]
            if scc:
                return tuple(callsites), scc
            if i < st.curframe:
                callsites.append(idx)
        return None

    @staticmethod
    def _fmt_callchain(key: tuple[tuple[int, ...], int]) -> str:
        """``format_callchain``: ``(callsite,...,scc)``; a zero call site ends the list."""
        out = "("
        for c in key[0]:
            if not c:
                break
            out += f"{c},"
        return out + f"{key[1]})"

    def update_peak_states(self) -> None:
        cur = self.explored_states_size + self.free_list_size + self.num_backedges
        if self.peak_states < cur:
            self.peak_states = cur

    def maybe_enter_scc(self, st: VerifierState) -> None:
        key = self.scc_callchain(st)
        if key is None:
            return
        visit = self.scc_visits.get(key)
        if visit is None:
            visit = self.scc_visits[key] = _Visit()
        if visit.entry_state is None:
            visit.entry_state = st
            if self.level2:
                self.verbose(f"SCC enter {self._fmt_callchain(key)}\n")

    def maybe_exit_scc(self, st: VerifierState) -> None:
        key = self.scc_callchain(st)
        if key is None:
            return
        visit = self.scc_visits.get(key)
        if visit is None or visit.entry_state is not st:
            return
        if self.level2:
            self.verbose(f"SCC exit {self._fmt_callchain(key)}\n")
        visit.entry_state = None
        self.num_backedges -= visit.num_backedges
        visit.num_backedges = 0
        self.update_peak_states()
        self.propagate_backedges(visit)

    def add_scc_backedge(self, st: VerifierState, backedge: VerifierState) -> None:
        key = self.scc_callchain(st)
        visit = self.scc_visits.get(key) if key is not None else None
        if visit is None:
            raise self.reject(E.EFAULT, f"verifier bug: add backedge: no visit info for insn_idx {st.insn_idx}")
        if self.level2:
            self.verbose(f"SCC backedge {self._fmt_callchain(key)}\n")
        visit.backedges.insert(0, backedge)
        visit.num_backedges += 1
        self.num_backedges += 1
        self.update_peak_states()

    def incomplete_read_marks(self, st: VerifierState) -> bool:
        """Marks of ``st`` are not final while its SCC visit still holds back-edges."""
        key = self.scc_callchain(st)
        if key is None:
            return False
        visit = self.scc_visits.get(key)
        return visit is not None and bool(visit.backedges)

    def propagate_backedges(self, visit: "_Visit") -> None:
        """Precision of each back-edge's equal state flows into the back-edge's parents
        until nothing changes (at most MAX_BACKEDGE_ITERS = 64 rounds, then every
        scalar of the back-edges becomes precise)."""
        i = 0
        while True:
            if i > 64:
                if self.level2:
                    self.verbose("propagate_backedges: too many iterations\n")
                for be in visit.backedges:
                    self.mark_all_scalars_precise(be)
                break
            i += 1
            changed = False
            for be in visit.backedges:
                changed |= self.propagate_precision(be.equal_state, be)
            if not changed:
                break
        visit.backedges = []

    def maybe_free_verifier_state(self, sl: "_SL") -> None:
        if not sl.in_free_list or sl.state.branches or self.incomplete_read_marks(sl.state):
            return
        sl.in_free_list = False
        self.free_list_size -= 1

    def update_branch_counts(self, st: VerifierState | None) -> None:
        sl = None
        while st is not None:
            st.branches -= 1
            if st.branches:
                break
            self.maybe_exit_scc(st)
            parent = st.parent
            parent_sl = parent.sl if parent is not None else None
            if sl is not None:
                self.maybe_free_verifier_state(sl)
            st = parent
            sl = parent_sl

    def is_state_visited(self, insn_idx: int) -> bool:
        cur = self.cur
        force_new = self.test_state_freq or self.force_checkpoint[insn_idx] or len(cur.jmp_history) > 40
        add_new = force_new
        if self.jmps_processed - self.prev_jmps_processed >= 2 and \
                self.insn_processed - self.prev_insn_processed >= 8:
            add_new = True
        self.clean_live_states(insn_idx, cur)
        head = self.explored_head(insn_idx)
        states_cnt = 0
        live = self.live_before
        is_may_goto = self.insns[insn_idx].code == isa.JMP | isa.JCOND
        for sl in list(head):
            states_cnt += 1
            st = sl.state
            if st.insn_idx != insn_idx:
                continue
            loop = False
            if st.branches:
                if is_may_goto and st.may_goto_depth != cur.may_goto_depth and \
                        states_equal(st, cur, RANGE_WITHIN, live, self.id_gen, self.allow_uninit_stack):
                    loop = True
                else:
                    if self._states_maybe_looping(st, cur) and \
                            states_equal(st, cur, EXACT, live, self.id_gen, self.allow_uninit_stack) and \
                            st.may_goto_depth == cur.may_goto_depth and \
                            st.callback_unroll_depth == cur.callback_unroll_depth:
                        self.verbose(f"infinite loop detected at insn {insn_idx}\n")
                        self.verbose("cur state:")
                        self.print_verifier_state(cur, cur.curframe, True)
                        self.verbose("old state:")
                        self.print_verifier_state(st, cur.curframe, True)
                        raise Reject(E.EINVAL)
                    if not force_new and self.jmps_processed - self.prev_jmps_processed < 20 and \
                            self.insn_processed - self.prev_insn_processed < 100:
                        add_new = False
                    self._miss(sl, head, add_new, insn_idx)
                    continue
            else:
                loop = self.incomplete_read_marks(st)
                if not states_equal(st, cur, RANGE_WITHIN if loop else NOT_EXACT, live, self.id_gen,
                                    self.allow_uninit_stack, self.explore_alu_limits):
                    self._miss(sl, head, add_new, insn_idx)
                    continue
            # hit
            sl.hit_cnt += 1
            if self.jmp_point[self.insn_idx]:
                self.push_jmp_history(cur, 0, 0)
            self.propagate_precision(st, cur)
            if loop:  # remember the back-edge until the loop's SCC visit is done
                be = cur.clone()
                be.equal_state = st
                be.insn_idx = insn_idx
                self.add_scc_backedge(st, be)
            return True
        if self.max_states_per_insn < states_cnt:
            self.max_states_per_insn = states_cnt
        if not add_new:
            return False
        self.total_states += 1
        self.explored_states_size += 1
        self.update_peak_states()
        self.prev_jmps_processed = self.jmps_processed
        self.prev_insn_processed = self.insn_processed
        if self.bpf_capable:
            self.mark_all_scalars_imprecise(cur)
        new = cur.clone()
        new.insn_idx = insn_idx
        new_sl = _SL(new)
        new.sl = new_sl
        self.maybe_enter_scc(new)
        cur.parent = new
        cur.first_insn_idx = insn_idx
        cur.dfs_depth = new.dfs_depth + 1
        cur.jmp_history = []
        head.insert(0, new_sl)
        return False

    def _miss(self, sl: _SL, head: list[_SL], add_new: bool, insn_idx: int) -> None:
        if add_new:
            sl.miss_cnt += 1
        n = 64 if self.force_checkpoint[insn_idx] and sl.state.branches > 0 else 3
        if sl.miss_cnt > sl.hit_cnt * n + n:
            sl.in_free_list = True
            head.remove(sl)
            self.free_list_size += 1
            self.explored_states_size -= 1
            self.maybe_free_verifier_state(sl)

    @staticmethod
    def _states_maybe_looping(old: VerifierState, cur: VerifierState) -> bool:
        fr = cur.curframe
        if old.curframe != fr:
            return False
        fo, fc = old.frame[fr], cur.frame[fr]
        for a, b in zip(fo.regs, fc.regs):
            if not a.same_until_frameno(b):
                return False
        return True

    def do_check(self) -> None:
        insns = self.insns
        n = self.n
        pop_log = not self.level2
        log_on = self.log_on
        level2 = self.level2
        do_print_state = False
        prune = self.prune_point
        jmp_point = self.jmp_point
        seen = self.seen
        live = self.stack_live
        sp_starts = self.sp_starts
        prev_insn_idx = -1
        while True:
            self.cur_hist_ent = False
            self.prev_insn_idx = prev_insn_idx
            idx = self.insn_idx
            if idx >= n:
                raise self.reject(E.EFAULT, f"invalid insn idx {idx} insn_cnt {n}")
            insn = insns[idx]
            self.insn_processed += 1
            if self.insn_processed > BPF_COMPLEXITY_LIMIT_INSNS:
                raise self.reject(E.E2BIG, f"BPF program is too large. Processed {self.insn_processed} insn")
            state = self.cur
            state.last_insn_idx = self.prev_insn_idx
            state.insn_idx = idx
            exit_path = False
            if prune[idx]:
                if self.is_state_visited(idx):
                    if log_on:
                        if do_print_state:
                            spec = " (speculative execution)" if state.speculative else ""
                            self.verbose(f"\nfrom {self.prev_insn_idx} to {idx}{spec}: safe\n")
                        else:
                            self.verbose(f"{idx}: safe\n")
                    exit_path = True
            if not exit_path:
                if jmp_point[idx]:
                    self.push_jmp_history(state, 0, 0)
                if level2 and do_print_state:
                    spec = " (speculative execution)" if state.speculative else ""
                    self.verbose(f"\nfrom {self.prev_insn_idx} to {idx}{spec}:")
                    self.print_verifier_state(state, state.curframe, True)
                    do_print_state = False
                if log_on:
                    if self.scratched_regs or self.scratched_stack:
                        self.print_insn_state(state, state.curframe)
                    log = self.log
                    self.prev_log_pos = log.end
                    log.write(f"{idx}: {self.insn_str(idx)}\n")
                    self.prev_insn_print_pos = log.end - self.prev_log_pos
                    self.prev_log_pos = log.end
                if not state.speculative:  # sanitize_mark_insn_seen
                    seen[idx] = True
                prev_insn_idx = idx
                aux = self.aux[idx]
                if state.speculative and aux.nospec:
                    r = 1  # a speculative path stops at a barrier
                else:
                    live.reset_stack_write_marks(state, sp_starts, idx)
                    try:
                        r = self.do_check_insn(insn)
                    except Reject as e:
                        # error_recoverable_with_nospec: a speculative path that would fault
                        # gets a barrier (nospec) instead of failing the program
                        if not (state.speculative and e.errno in (E.EPERM, E.EACCES, E.EINVAL)):
                            raise
                        live.commit_stack_write_marks()
                        aux.nospec = True
                        aux.alu_state = 0  # no masking needed before a barrier
                        r = 1
                    else:
                        live.commit_stack_write_marks()
                    if r != 1 and state.speculative and aux.nospec_result:
                        r = 1  # the barrier after this store ends the speculative path
                if r == 0:
                    continue
                if r == 2:  # returned from a subprogram
                    do_print_state = True
                    continue
            # process_bpf_exit
            self.mark_state_scratched()
            self.update_branch_counts(self.cur)
            live.update_live_stack(self.cur, sp_starts)
            if not self.pop_stack(pop_log):
                break
            prev_insn_idx = self.prev_insn_idx
            do_print_state = True

    def do_check_insn(self, insn: Insn) -> int:
        """``do_check_insn``: 0 continue (insn_idx updated), 1 path ends, 2 subprog returned."""
        code = insn.code
        c = code & 7
        if c == isa.ALU or c == isa.ALU64:
            self.check_alu_op(insn)
        elif c == isa.LDX:
            self.check_load_mem(insn, False, (code & 0xE0) == isa.MEMSX, "ldx")
        elif c == isa.STX:
            if (code & 0xE0) == isa.ATOMIC:
                self.check_atomic(insn)
                self.insn_idx += 1
                return 0
            if (code & 0xE0) != isa.MEM or insn.imm:
                raise self.reject(E.EINVAL, "BPF_STX uses reserved fields")
            self.check_store_reg(insn, False)
        elif c == isa.ST:
            if (code & 0xE0) != isa.MEM or insn.src:
                raise self.reject(E.EINVAL, "BPF_ST uses reserved fields")
            self.check_reg_arg(insn.dst, SRC_OP)
            dst_type = self.cur_regs()[insn.dst].type
            self.check_mem_access(self.insn_idx, insn.dst, insn.off, code & 0x18, 2, -1, False, False)
            self.save_aux_ptr_type(dst_type, False)
        elif c == isa.JMP or c == isa.JMP32:
            op = code & 0xF0
            self.jmps_processed += 1
            if op == isa.CALL:
                if (code & isa.X) or (insn.src != isa.PSEUDO_KFUNC_CALL and insn.off) or \
                        insn.src not in (0, isa.PSEUDO_CALL, isa.PSEUDO_KFUNC_CALL) or insn.dst or c == isa.JMP32:
                    raise self.reject(E.EINVAL, "BPF_CALL uses reserved fields")
                if insn.src == isa.PSEUDO_CALL:
                    self.check_func_call(insn)
                elif insn.src == isa.PSEUDO_KFUNC_CALL:
                    self.check_kfunc_call(insn)
                else:
                    self.check_helper_call(insn)
                self.scratched_regs |= 1
            elif op == isa.JA:
                if (code & isa.X) or insn.src or insn.dst or (c == isa.JMP and insn.imm) or \
                        (c == isa.JMP32 and insn.off):
                    raise self.reject(E.EINVAL, "BPF_JA uses reserved fields")
                self.insn_idx += (insn.off if c == isa.JMP else insn.imm) + 1
                return 0
            elif op == isa.EXIT:
                if (code & isa.X) or insn.imm or insn.src or insn.dst or c == isa.JMP32:
                    raise self.reject(E.EINVAL, "BPF_EXIT uses reserved fields")
                self.check_resource_leak(False, not self.cur.curframe, "BPF_EXIT instruction in main prog")
                if self.cur.curframe:
                    self.stack_live.update_live_stack(self.cur, self.sp_starts)
                    self.prepare_func_exit()
                    return 2
                self.check_return_code(0, "R0")
                return 1
            else:
                self.check_cond_jmp_op(insn)
        elif c == isa.LD:
            mode = code & 0xE0
            if mode in (isa.ABS, isa.IND):
                self.check_ld_abs(insn)
            elif mode == isa.IMM:
                self.check_ld_imm(insn)
                self.insn_idx += 1
                if not self.cur.speculative:
                    self.seen[self.insn_idx] = True
            else:
                raise self.reject(E.EINVAL, "invalid BPF_LD mode")
        else:
            raise self.reject(E.EINVAL, f"unknown insn class {c}")
        self.insn_idx += 1
        return 0

    def do_check_main(self) -> None:
        """``do_check_common`` for the main program."""
        self.insn_idx = 0
        st = VerifierState()
        st.in_sleepable = self.env.sleepable
        self.cur = st
        f = self.init_func_state(BPF_MAIN_FUNC, 0, 0)
        self.mark_state_scratched()
        st.frame = [f]
        st.first_insn_idx = 0
        st.last_insn_idx = -1
        r1 = f.regs[1]
        r1.type = PTR_TO_CTX
        mark_known_zero(r1)
        try:
            self.do_check()
        finally:
            self.head.clear()
        if not self.level2 and self.level & LOG_LEVEL1:
            self.log.reset(0)

    # --- after the walk -----------------------------------------------------------------------
    def check_max_stack_depth(self) -> None:
        """``check_max_stack_depth``: the deepest call chain's combined frames fit in 512 bytes."""
        insns = self.insns
        sps = self.subprogs
        starts = [sp.start for sp in sps] + [self.n]

        def rnd(d: int) -> int:
            return (d + 15) // 16 * 16

        def walk(idx: int, depth: int, frame: int) -> None:
            depth += rnd(sps[idx].stack_depth)
            if depth > 512:
                raise self.reject(E.EACCES, f"combined stack size of {frame + 1} calls is {depth}. Too large")
            for i in range(starts[idx], starts[idx + 1]):
                insn = insns[i]
                if not ((insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL) or
                        (insn.code == isa.LD_IMM64 and insn.src == isa.PSEUDO_FUNC)):
                    continue
                sidx = self.find_subprog(i + insn.imm + 1)
                if frame + 1 >= isa.MAX_CALL_FRAMES:
                    raise self.reject(E.E2BIG, f"the call stack of {frame + 1} frames is too deep !")
                walk(sidx, depth, frame + 1)

        walk(0, 0, 0)

    def stats_line(self, elapsed: float) -> None:
        if self.level & LOG_STATS:
            self.verbose(f"verification time {int(elapsed * 1e6)} usec\n")
            self.verbose("stack depth " + "+".join(str(sp.stack_depth) for sp in self.subprogs) + "\n")
        self.verbose(f"processed {self.insn_processed} insns (limit {BPF_COMPLEXITY_LIMIT_INSNS}) "
                     f"max_states_per_insn {self.max_states_per_insn} total_states {self.total_states} "
                     f"peak_states {self.peak_states} mark_read 0\n")

    def run(self) -> int:
        """``bpf_check()``: 0 or a positive errno."""
        t0 = time.perf_counter()
        err = 0
        try:
            self.add_subprog_and_kfunc()
            self.check_subprogs()
            self.resolve_pseudo_ldimm64()
            self.check_cfg()
            self.check_attach()
            self.compute_scc()
            self.compute_live_registers()
            self.do_check_main()
        except Reject as r:
            err = r.errno
        if not err:
            try:
                self.check_max_stack_depth()
            except Reject as r:
                err = r.errno
        self.stats_line(time.perf_counter() - t0)
        return err


def _opcodes(profile: Any) -> frozenset[int]:
    from kernel_model.isa import _opcode_table  # type: ignore[attr-defined]
    return _opcode_table(profile.atomic_load_store)


def _error_line(log: str) -> str | None:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    while lines and (lines[-1].startswith("processed ") or lines[-1].startswith("verification time")
                     or lines[-1].startswith("stack depth")):
        lines.pop()
    return lines[-1] if lines else None


def verify(insns: Sequence[Insn], env: VerifierEnv, log_level: int = 1) -> VerifyResult:
    """Verify ``insns`` as ``BPF_PROG_LOAD`` would with ``env``; the result holds
    the verdict, errno and the kernel-format log at ``log_level`` (0, 1, 2, or with
    the stats bit 4)."""
    if log_level & ~(LOG_LEVEL1 | LOG_LEVEL2 | LOG_STATS | LOG_FIXED):
        return VerifyResult(False, E.EINVAL, "", 0)
    n = len(insns)
    if n == 0 or n > BPF_COMPLEXITY_LIMIT_INSNS:
        return VerifyResult(False, E.E2BIG, "", 0)
    if env.prog_type == PROG_TYPE_STRUCT_OPS and not env.privileged:
        # bpf_prog_load(): struct_ops needs CAP_PERFMON/CAP_SYS_ADMIN (bpf_token_capable)
        return VerifyResult(False, E.EPERM, "", 0)
    log_size = env.log_size
    if log_size is not None and log_size > LOG_SIZE_MAX:
        return VerifyResult(False, E.EINVAL, "", 0)  # bpf_vlog_init -> bpf_verifier_log_attr_valid
    v = Verifier(insns, env, log_level)
    err = v.run()
    for i, a in enumerate(v.aux):  # what later stages read from insn_aux_data[]
        a.ptr_type = v.ptr_type[i]
        a.ctx_field_size = v.ctx_field_size[i]
        a.seen = v.seen[i]
    # bpf_vlog_finalize: log_true_size is len_max at any level but 0; a user buffer the
    # log outgrew turns any verdict into ENOSPC and holds the rotated tail (or, with
    # BPF_LOG_FIXED, the head)
    true_size = v.log.len_max if log_level else 0
    if log_size is None:
        log = v.log.text()
    elif log_size == 0:
        log = ""  # no user buffer: the kernel only reports log_true_size
    else:
        log = v.log.user_text(log_size, bool(log_level & LOG_FIXED))
        if log_level and true_size > log_size:
            err = E.ENOSPC
    return VerifyResult(
        accepted=err == 0, errno=err, log=log, processed=v.insn_processed, log_true_size=true_size,
        stack_depth=[sp.stack_depth for sp in v.subprogs], subprog_starts=[sp.start for sp in v.subprogs],
        insn_aux=v.aux, max_states_per_insn=v.max_states_per_insn, total_states=v.total_states,
        peak_states=v.peak_states, error_line=None if err == 0 else _error_line(log))
