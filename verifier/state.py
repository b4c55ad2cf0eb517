"""Verifier states: frames, stack slots, references, and state equivalence.

Models ``struct bpf_stack_state``, ``struct bpf_func_state``, ``struct
bpf_verifier_state`` and ``struct bpf_reference_state`` (include/linux/
bpf_verifier.h) with ``copy_verifier_state`` and the pruning comparison
``states_equal`` / ``func_states_equal`` / ``regsafe`` / ``stacksafe`` /
``refsafe`` / ``check_ids`` of kernel/bpf/verifier.c (Linux 6.18).

As in 6.18, references and lock counts live in the verifier state (not per
frame), the jump history is per state (``jmp_history``), and registers that
are dead before an instruction (``live_regs_before``, see
:mod:`verifier.liveness`) are skipped when states are compared.
"""

from __future__ import annotations

from typing import Final, Sequence

from . import tnum as T
from .regs import (
    NOT_INIT, PTR_TO_ARENA, PTR_TO_BUF, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET,
    PTR_TO_PACKET_META, PTR_TO_STACK, PTR_TO_TP_BUFFER, SCALAR_VALUE, BPF_ADD_CONST, RegState, base_type,
    mark_unknown,
)
from .scalar import range_within

__all__ = [
    "STACK_INVALID", "STACK_SPILL", "STACK_MISC", "STACK_ZERO", "STACK_DYNPTR", "STACK_ITER",
    "STACK_IRQ_FLAG", "SLOT_CHARS", "StackSlot", "FuncState", "VerifierState", "RefState",
    "NOT_EXACT", "EXACT", "RANGE_WITHIN", "states_equal", "regsafe", "IdMap", "BPF_REG_SIZE",
    "is_spilled_reg", "HistEntry", "StateList", "is_spilled_scalar_reg", "is_spilled_scalar_reg64",
]

BPF_REG_SIZE: Final = 8

# enum bpf_stack_slot_type (include/linux/bpf_verifier.h)
STACK_INVALID: Final = 0
STACK_SPILL: Final = 1
STACK_MISC: Final = 2
STACK_ZERO: Final = 3
STACK_DYNPTR: Final = 4
STACK_ITER: Final = 5
STACK_IRQ_FLAG: Final = 6
#: slot_type_char[] of kernel/bpf/log.c
SLOT_CHARS: Final = "?rm0dif"

NOT_EXACT: Final = 0
EXACT: Final = 1
RANGE_WITHIN: Final = 2

#: ``struct bpf_jmp_history_entry``: (idx, prev_idx, flags, linked_regs)
HistEntry = tuple[int, int, int, int]


class StackSlot:
    """``struct bpf_stack_state``: 8 byte types (index 7 is the lowest address,
    as the kernel indexes ``slot_type[(-off - 1) % 8]``) and the spilled register."""

    __slots__ = ("types", "spilled")

    def __init__(self) -> None:
        self.types = [STACK_INVALID] * BPF_REG_SIZE
        self.spilled = RegState()

    def clone(self) -> "StackSlot":
        s = StackSlot.__new__(StackSlot)
        s.types = self.types[:]
        s.spilled = self.spilled.clone()
        return s


def is_spilled_reg(slot: StackSlot) -> bool:
    return slot.types[BPF_REG_SIZE - 1] == STACK_SPILL


def is_spilled_scalar_reg(slot: StackSlot) -> bool:
    return slot.types[BPF_REG_SIZE - 1] == STACK_SPILL and slot.spilled.type == SCALAR_VALUE


def is_spilled_scalar_reg64(slot: StackSlot) -> bool:
    return slot.types[0] == STACK_SPILL and slot.spilled.type == SCALAR_VALUE


class RefState:
    """``struct bpf_reference_state``: ``type`` is ``enum ref_state_type``
    (verifier.refs: REF_TYPE_PTR, REF_TYPE_IRQ, REF_TYPE_LOCK ...), ``ptr`` the
    locked map or BTF object of a lock."""

    __slots__ = ("id", "insn_idx", "type", "ptr")

    def __init__(self, id: int, insn_idx: int, type: int = 2, ptr: object = None) -> None:
        self.id = id
        self.insn_idx = insn_idx
        self.type = type
        self.ptr = ptr


class FuncState:
    """``struct bpf_func_state``: one call frame."""

    __slots__ = ("regs", "stack", "callsite", "frameno", "subprogno", "callback_ret_range", "in_callback_fn",
                 "in_async_callback_fn", "in_exception_callback_fn", "callback_depth", "async_entry_cnt")

    def __init__(self, callsite: int, frameno: int, subprogno: int, regs: list[RegState] | None = None) -> None:
        self.regs = regs if regs is not None else [RegState() for _ in range(11)]
        self.stack: list[StackSlot] = []
        self.callsite = callsite
        self.frameno = frameno
        self.subprogno = subprogno
        self.callback_ret_range = (0, 0)
        self.in_callback_fn = False
        self.in_async_callback_fn = False
        self.in_exception_callback_fn = False
        self.callback_depth = 0
        self.async_entry_cnt = 0

    @property
    def allocated_stack(self) -> int:
        return len(self.stack) * BPF_REG_SIZE

    def clone(self) -> "FuncState":
        f = FuncState(self.callsite, self.frameno, self.subprogno, [r.clone() for r in self.regs])
        f.stack = [s.clone() for s in self.stack]
        f.callback_ret_range = self.callback_ret_range
        f.in_callback_fn = self.in_callback_fn
        f.in_async_callback_fn = self.in_async_callback_fn
        f.in_exception_callback_fn = self.in_exception_callback_fn
        f.callback_depth = self.callback_depth
        f.async_entry_cnt = self.async_entry_cnt
        return f


class VerifierState:
    """``struct bpf_verifier_state``: the frames of one path plus its bookkeeping."""

    __slots__ = ("frame", "curframe", "parent", "branches", "insn_idx", "first_insn_idx", "last_insn_idx",
                 "jmp_history", "dfs_depth", "callback_unroll_depth", "may_goto_depth", "speculative",
                 "in_sleepable", "refs", "active_locks", "active_preempt_locks", "active_rcu_lock",
                 "active_irq_id", "active_lock_id", "active_lock_ptr", "cleaned", "equal_state", "sl")

    def __init__(self) -> None:
        self.frame: list[FuncState] = []
        self.curframe = 0
        self.parent: VerifierState | None = None
        self.branches = 1
        self.insn_idx = 0
        self.first_insn_idx = 0
        self.last_insn_idx = -1
        #: entries (idx, prev_idx, flags, linked_regs) as ``struct bpf_jmp_history_entry``
        self.jmp_history: list[HistEntry] = []
        self.dfs_depth = 0
        self.callback_unroll_depth = 0
        self.may_goto_depth = 0
        self.speculative = False
        self.in_sleepable = False
        self.refs: list[RefState] = []
        self.active_locks = 0
        self.active_preempt_locks = 0
        self.active_rcu_lock = False
        self.active_irq_id = 0
        self.active_lock_id = 0
        self.active_lock_ptr: object = None
        self.cleaned = False
        self.equal_state: VerifierState | None = None
        #: the explored-state list entry holding this state (``container_of``), if any
        self.sl: StateList | None = None

    def cur(self) -> FuncState:
        return self.frame[self.curframe]

    def clone(self) -> "VerifierState":
        """``copy_verifier_state`` into a fresh state."""
        s = VerifierState.__new__(VerifierState)
        s.frame = [f.clone() for f in self.frame[:self.curframe + 1]]
        s.curframe = self.curframe
        s.parent = self.parent
        s.branches = self.branches
        s.insn_idx = self.insn_idx
        s.first_insn_idx = self.first_insn_idx
        s.last_insn_idx = self.last_insn_idx
        s.jmp_history = self.jmp_history[:]
        s.dfs_depth = self.dfs_depth
        s.callback_unroll_depth = self.callback_unroll_depth
        s.may_goto_depth = self.may_goto_depth
        s.speculative = self.speculative
        s.in_sleepable = self.in_sleepable
        s.refs = [RefState(r.id, r.insn_idx, r.type, r.ptr) for r in self.refs]
        s.active_locks = self.active_locks
        s.active_preempt_locks = self.active_preempt_locks
        s.active_rcu_lock = self.active_rcu_lock
        s.active_irq_id = self.active_irq_id
        s.active_lock_id = self.active_lock_id
        s.active_lock_ptr = self.active_lock_ptr
        s.cleaned = self.cleaned
        s.equal_state = self.equal_state
        s.sl = None
        return s


class StateList:
    """``struct bpf_verifier_state_list``: an explored state and its pruning statistics."""

    __slots__ = ("state", "hit_cnt", "miss_cnt", "in_free_list")

    def __init__(self, state: VerifierState) -> None:
        self.state = state
        self.hit_cnt = 0
        self.miss_cnt = 0
        self.in_free_list = False


def frame_insn_idx(st: VerifierState, frame: int) -> int:
    """The instruction a frame is at: the current one for the innermost frame,
    the call instruction for callers (``frame_insn_idx``)."""
    return st.insn_idx if frame == st.curframe else st.frame[frame + 1].callsite


class IdMap:
    """``struct bpf_idmap``: the old->cur id pairs seen while comparing states."""

    __slots__ = ("old2cur", "cur_seen", "tmp_id_gen")

    def __init__(self, id_gen: int) -> None:
        # made at the first nonzero id: most comparisons meet none
        self.old2cur: dict[int, int] | None = None
        self.cur_seen: set[int] | None = None
        self.tmp_id_gen = id_gen

    def check(self, old_id: int, cur_id: int) -> bool:
        """``check_ids``: ids must map one-to-one between the two states."""
        if old_id == 0 or cur_id == 0:
            return old_id == cur_id
        o2c = self.old2cur
        seen = self.cur_seen
        if o2c is None or seen is None:
            o2c = self.old2cur = {}
            seen = self.cur_seen = set()
        m = o2c.get(old_id)
        if m is not None:
            return m == cur_id
        if cur_id in seen:
            return False
        o2c[old_id] = cur_id
        seen.add(cur_id)
        return True

    def check_scalar(self, old_id: int, cur_id: int) -> bool:
        """``check_scalar_ids``: a zero id gets a fresh unique temporary id."""
        if not old_id:
            self.tmp_id_gen += 1
            old_id = self.tmp_id_gen
        if not cur_id:
            self.tmp_id_gen += 1
            cur_id = self.tmp_id_gen
        return self.check(old_id, cur_id)


def _regs_exact(o: RegState, c: RegState, idmap: IdMap) -> bool:
    return o.same_value(c) and idmap.check(o.id, c.id) and idmap.check(o.ref_obj_id, c.ref_obj_id)


def regsafe(o: RegState, c: RegState, idmap: IdMap, exact: int, explore_alu_limits: bool = False) -> bool:
    """``regsafe``: true if ``o`` being safe implies ``c`` is safe."""
    if exact == EXACT:
        return _regs_exact(o, c, idmap)
    if o.type == NOT_INIT:
        if exact == NOT_EXACT or c.type == NOT_INIT:
            return True
    if o.type != c.type:
        return False
    bt = base_type(o.type)
    if bt == SCALAR_VALUE:
        if explore_alu_limits:
            return o.same_value(c) and idmap.check_scalar(o.id, c.id)
        if not o.precise and exact == NOT_EXACT:
            return True
        if (o.id & BPF_ADD_CONST) != (c.id & BPF_ADD_CONST):
            return False
        if (o.id & BPF_ADD_CONST) and o.off != c.off:
            return False
        return range_within(o, c) and T.t_in(o.var_off, c.var_off) and idmap.check_scalar(o.id, c.id)
    if bt in (PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_BUF, PTR_TO_TP_BUFFER):
        return (o.same_aux(c) and range_within(o, c) and T.t_in(o.var_off, c.var_off)
                and idmap.check(o.id, c.id) and idmap.check(o.ref_obj_id, c.ref_obj_id))
    if bt in (PTR_TO_PACKET_META, PTR_TO_PACKET):
        if o.range < 0 or c.range < 0:
            if o.range != c.range:  # AT_PKT_END / BEYOND_PKT_END
                return False
        elif o.range > c.range:
            return False
        if o.off != c.off:
            return False
        if not idmap.check(o.id, c.id):
            return False
        return range_within(o, c) and T.t_in(o.var_off, c.var_off)
    if bt == PTR_TO_STACK:
        return _regs_exact(o, c, idmap) and o.frameno == c.frameno
    if bt == PTR_TO_ARENA:
        return True
    return _regs_exact(o, c, idmap)


_UNBOUND = RegState()
mark_unknown(_UNBOUND, True)


def _scalar_reg_for_stack(slot: StackSlot, allow_uninit_stack: bool) -> RegState | None:
    if is_spilled_scalar_reg64(slot):
        return slot.spilled
    for t in slot.types:
        if t == STACK_MISC or (t == STACK_INVALID and allow_uninit_stack):
            continue
        return None
    return _UNBOUND


def stacksafe(old: FuncState, cur: FuncState, idmap: IdMap, exact: int, allow_uninit_stack: bool,
              explore_alu_limits: bool = False) -> bool:
    """``stacksafe``: the explored stack is at least as conservative as the current one."""
    n_cur = len(cur.stack)
    i = 0
    n_old_bytes = len(old.stack) * BPF_REG_SIZE
    while i < n_old_bytes:
        spi = i // BPF_REG_SIZE
        b = i % BPF_REG_SIZE
        ot = old.stack[spi].types[b]
        if exact != NOT_EXACT and (spi >= n_cur or ot != cur.stack[spi].types[b]):
            return False
        if ot == STACK_INVALID:
            i += 1
            continue
        if allow_uninit_stack and ot == STACK_MISC:
            i += 1
            continue
        if spi >= n_cur:
            return False
        oslot, cslot = old.stack[spi], cur.stack[spi]
        old_reg = _scalar_reg_for_stack(oslot, allow_uninit_stack)
        cur_reg = _scalar_reg_for_stack(cslot, allow_uninit_stack)
        if old_reg is not None and cur_reg is not None:
            if not regsafe(old_reg, cur_reg, idmap, exact, explore_alu_limits):
                return False
            i += BPF_REG_SIZE
            continue
        ct = cslot.types[b]
        if ot == STACK_MISC and ct == STACK_ZERO:
            i += 1
            continue
        if ot != ct:
            return False
        if b != BPF_REG_SIZE - 1:
            i += 1
            continue
        last = oslot.types[BPF_REG_SIZE - 1]
        if last == STACK_SPILL:
            if not regsafe(oslot.spilled, cslot.spilled, idmap, exact, explore_alu_limits):
                return False
        elif last in (STACK_MISC, STACK_ZERO, STACK_INVALID):
            pass
        elif last == STACK_ITER:
            # the iterator's btf, btf_id and state (kept in ``range``, verifier.iters) and
            # its reference; not iter.depth (``mem_size``): it would prevent convergence
            o_it, c_it = oslot.spilled, cslot.spilled
            if o_it.btf is not c_it.btf or o_it.btf_id != c_it.btf_id or o_it.range != c_it.range or \
                    not idmap.check(o_it.ref_obj_id, c_it.ref_obj_id):
                return False
        elif last == STACK_DYNPTR:
            # the dynptr's type (``mem_size``) and first_slot (``btf_id``): verifier.dynptrs
            o_d, c_d = oslot.spilled, cslot.spilled
            if o_d.mem_size != c_d.mem_size or bool(o_d.btf_id) != bool(c_d.btf_id) or \
                    not idmap.check(o_d.ref_obj_id, c_d.ref_obj_id):
                return False
        else:
            # irq slots are not modelled beyond identity
            if not idmap.check(oslot.spilled.ref_obj_id, cslot.spilled.ref_obj_id):
                return False
        i += 1
    return True


def refsafe(old: VerifierState, cur: VerifierState, idmap: IdMap) -> bool:
    if len(old.refs) != len(cur.refs):
        return False
    if old.active_locks != cur.active_locks or old.active_preempt_locks != cur.active_preempt_locks:
        return False
    if old.active_rcu_lock != cur.active_rcu_lock:
        return False
    if not idmap.check(old.active_irq_id, cur.active_irq_id):
        return False
    if not idmap.check(old.active_lock_id, cur.active_lock_id) or old.active_lock_ptr is not cur.active_lock_ptr:
        return False
    for o, c in zip(old.refs, cur.refs):
        if not idmap.check(o.id, c.id) or o.type != c.type:
            return False
        # REF_TYPE_PTR (2) and REF_TYPE_IRQ (4) compare by id; locks by their object too
        if o.type not in (2, 4) and o.ptr is not c.ptr:
            return False
    return True


def states_equal(old: VerifierState, cur: VerifierState, exact: int, live_before: Sequence[int], id_gen: int,
                 allow_uninit_stack: bool, explore_alu_limits: bool = False) -> bool:
    """``states_equal``: ``cur`` is covered by the explored state ``old``."""
    if old.curframe != cur.curframe:
        return False
    idmap = IdMap(id_gen)
    if old.speculative and not cur.speculative:
        return False
    if old.in_sleepable != cur.in_sleepable:
        return False
    if not refsafe(old, cur, idmap):
        return False
    for i in range(old.curframe + 1):
        fo, fc = old.frame[i], cur.frame[i]
        if fo.callsite != fc.callsite:
            return False
        if fo.callback_depth > fc.callback_depth:
            return False
        live = live_before[frame_insn_idx(old, i)]
        ro, rc = fo.regs, fc.regs
        for r in range(11):
            if (live >> r) & 1 and not regsafe(ro[r], rc[r], idmap, exact, explore_alu_limits):
                return False
        if not stacksafe(fo, fc, idmap, exact, allow_uninit_stack, explore_alu_limits):
            return False
    return True
