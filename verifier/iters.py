"""Open-coded iterators: ``bpf_iter_<type>_new/next/destroy`` over stack slots.

Models kernel/bpf/verifier.c (Linux 6.18; the same in substance as 6.12):

* ``iter_get_spi`` (``stack_slot_obj_get_spi``: constant, 8-byte aligned offset),
  ``mark_stack_slots_iter`` (the iterator's ``size / 8`` slots become STACK_ITER, the
  first holding a fresh REF_TYPE_PTR reference, state ACTIVE, depth 0),
  ``unmark_stack_slots_iter`` (the destroy: reference released, slots STACK_INVALID),
  ``is_iter_reg_valid_uninit`` / ``is_iter_reg_valid_init``, ``process_iter_arg``
  (``expected uninitialized iter_%s as arg #%d``, ``expected an initialized iter_%s
  as arg #%d``, ``arg#%d expected pointer to an iterator on stack``);
* ``process_iter_next_call``: the current state takes the DRAINED branch (R0 = 0),
  a queued copy the ACTIVE one (R0 not NULL, depth + 1) with imprecise scalars
  widened against the previous loop entry (``widen_imprecise_scalars``);
* ``is_iter_next_insn`` and ``iter_active_depths_differ`` for ``is_state_visited``.

The iterator's ``struct bpf_reg_state`` union (``iter.btf``, ``iter.btf_id``,
``iter.state``, ``iter.depth``) lives in the slot's spilled register: ``btf`` and
``btf_id`` as themselves, ``iter.state`` in ``range`` and ``iter.depth`` in
``mem_size`` (fields of the same union in the kernel, unused by a stack slot).

Left out: KF_RCU_PROTECTED iterators (``MEM_RCU`` / untrusted slots, ``expected an
RCU CS when using %s``), iterators passed to other kfuncs as ``__iter`` arguments.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Final

from kernel_model import isa
from kernel_model.btf import Composite

from .refs import acquire_reference, release_reference
from .not_null import mark_ptr_not_null_reg
from .regs import (
    PTR_TO_STACK, RegState, mark_const_zero, mark_known_zero,
    mark_not_init,
)
from .state import BPF_REG_SIZE, STACK_INVALID, STACK_ITER, FuncState, VerifierState

if TYPE_CHECKING:
    from .core import Env

__all__ = ["BPF_ITER_STATE_INVALID", "BPF_ITER_STATE_ACTIVE", "BPF_ITER_STATE_DRAINED", "iter_state_str",
           "iter_type_str", "IterMeta", "process_iter_arg", "process_iter_next_call", "iter_active_depths_differ",
           "is_iter_next_insn", "ITER_FLAGS"]

# enum bpf_iter_state (include/linux/bpf_verifier.h)
BPF_ITER_STATE_INVALID: Final = 0
BPF_ITER_STATE_ACTIVE: Final = 1
BPF_ITER_STATE_DRAINED: Final = 2
#: the KF_* flags that make a kfunc an iterator method (is_iter_kfunc)
ITER_FLAGS: Final = frozenset({"KF_ITER_NEW", "KF_ITER_NEXT", "KF_ITER_DESTROY"})


def iter_state_str(state: int) -> str:
    """``iter_state_str`` (kernel/bpf/log.c)."""
    if state == BPF_ITER_STATE_ACTIVE:
        return "active"
    if state == BPF_ITER_STATE_DRAINED:
        return "drained"
    return "<invalid>"


def iter_type_str(btf: Any, btf_id: int) -> str:
    """``iter_type_str``: the struct's name without its ``bpf_iter_`` prefix."""
    try:
        name = btf.type_by_id(btf_id).name or ""
    except Exception:
        return "<invalid>"
    return name.removeprefix("bpf_iter_")


class IterMeta:
    """``meta->iter`` of ``struct bpf_kfunc_call_arg_meta``: where the iterator is."""

    __slots__ = ("spi", "frameno")

    def __init__(self) -> None:
        self.spi = -1
        self.frameno = 0


def _c_div(a: int, b: int) -> int:
    """C's truncating division."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _get_spi(env: Env, reg: RegState, nr_slots: int) -> int:
    """``iter_get_spi`` -> ``stack_slot_obj_get_spi``: the slot index, -ERANGE (beyond the
    allocated stack) or -EINVAL (logged)."""
    if reg.var_off[1]:
        env.verbose("iter has to be at a constant offset\n")
        return -E.EINVAL
    off = reg.off + reg.var_off[0]
    if off >= 1 << 63:
        off -= 1 << 64
    if off % BPF_REG_SIZE:
        env.verbose(f"cannot pass in iter at an offset={off}\n")
        return -E.EINVAL
    spi = _c_div(-off - 1, BPF_REG_SIZE)  # __get_spi
    if spi + 1 < nr_slots:
        env.verbose(f"cannot pass in iter at an offset={off}\n")
        return -E.EINVAL
    if not (spi - nr_slots + 1 >= 0 and spi < len(env.func_of(reg).stack)):
        return -E.ERANGE
    return spi


def _iter_btf_id(env: Env, entry: Any, proto: Any) -> tuple[int, int]:
    """``btf_check_iter_arg``: the iterator struct's id and its size in slots."""
    btf = entry.btf
    p = proto.params[0]
    t = btf.type_by_id(p.type_id)
    tid = btf.skip_modifiers(t.type_id) if getattr(t, "type_id", 0) else 0
    st = btf.type_by_id(tid) if tid else None
    if not isinstance(st, Composite) or not (st.name or "").startswith("bpf_iter_") or not st.size \
            or st.size % BPF_REG_SIZE:
        raise env.reject(E.EINVAL, "expected valid iter pointer as arg #0")
    return tid, st.size // BPF_REG_SIZE


def _slot_reg(func: FuncState, spi: int) -> RegState:
    return func.stack[spi].spilled


def process_iter_arg(env: Env, regno: int, entry: Any, proto: Any, flags: frozenset[str], meta: IterMeta) -> int:
    """``process_iter_arg``: check (and for ``_new`` initialise, for ``_destroy`` release)
    the iterator R``regno`` points to; returns the iterator's reference id."""
    from . import mem
    reg = env.cur_regs()[regno]
    if reg.type != PTR_TO_STACK:
        raise env.reject(E.EINVAL, f"arg#{regno - 1} expected pointer to an iterator on stack")
    btf = entry.btf
    btf_id, nr_slots = _iter_btf_id(env, entry, proto)
    tname = iter_type_str(btf, btf_id)
    if "KF_ITER_NEW" in flags:
        # is_iter_reg_valid_uninit
        spi = _get_spi(env, reg, nr_slots)
        ok = spi == -E.ERANGE
        if spi >= 0:
            func = env.func_of(reg)
            ok = not any(t == STACK_ITER for i in range(nr_slots) for t in func.stack[spi - i].types)
        if not ok:
            raise env.reject(E.EINVAL, f"expected uninitialized iter_{tname} as arg #{regno - 1}")
        for i in range(0, nr_slots * 8, BPF_REG_SIZE):
            mem.check_mem_access(env, env.insn_idx, regno, i, isa.DW, mem.BPF_WRITE, -1, False, False)
        # mark_stack_slots_iter
        spi = _get_spi(env, reg, nr_slots)
        if spi < 0:
            raise env.reject(-spi)
        func = env.func_of(reg)
        rid = acquire_reference(env, env.insn_idx)
        for i in range(nr_slots):
            slot = func.stack[spi - i]
            st = slot.spilled
            mark_known_zero(st)
            st.type = PTR_TO_STACK
            st.ref_obj_id = rid if i == 0 else 0
            st.btf = btf
            st.btf_id = btf_id
            st.range = BPF_ITER_STATE_ACTIVE
            st.mem_size = 0
            env.stack_write_mark(func, spi - i, 0, BPF_REG_SIZE)
            slot.types = [STACK_ITER] * BPF_REG_SIZE
            env.scratched_stack |= 1 << (spi - i)
        return 0
    # is_iter_reg_valid_init
    spi = _get_spi(env, reg, nr_slots)
    func = env.func_of(reg)
    valid = spi >= 0
    if valid:
        for i in range(nr_slots):
            slot = func.stack[spi - i]
            st = slot.spilled
            if (i == 0) != bool(st.ref_obj_id) or st.btf is not btf or st.btf_id != btf_id \
                    or any(t != STACK_ITER for t in slot.types):
                valid = False
                break
    if not valid:
        raise env.reject(E.EINVAL, f"expected an initialized iter_{tname} as arg #{regno - 1}")
    for i in range(nr_slots):  # mark_iter_read
        env.stack_read_mark(func, spi - i)
        env.scratched_stack |= 1 << (spi - i)
    meta.spi = spi
    meta.frameno = reg.frameno
    ref = func.stack[spi].spilled.ref_obj_id
    if "KF_ITER_DESTROY" in flags:
        # unmark_stack_slots_iter
        for i in range(nr_slots):
            slot = func.stack[spi - i]
            if i == 0:
                release_reference(env, slot.spilled.ref_obj_id)
            mark_not_init(slot.spilled, env.bpf_capable)
            env.stack_write_mark(func, spi - i, 0, BPF_REG_SIZE)
            slot.types = [STACK_INVALID] * BPF_REG_SIZE
            env.scratched_stack |= 1 << (spi - i)
    return ref


def _iter_reg(st: VerifierState, meta: IterMeta) -> RegState:
    """``get_iter_from_state``."""
    return st.frame[meta.frameno].stack[meta.spi].spilled


def process_iter_next_call(env: Env, insn_idx: int, meta: IterMeta) -> None:
    """``process_iter_next_call``: fork the ACTIVE (non-NULL) continuation onto the branch
    stack and continue with the DRAINED one (R0 = 0)."""
    from .analyzer import find_prev_entry, same_callsites, widen_imprecise_scalars
    cur = env.cur
    cur_iter = _iter_reg(cur, meta)
    state = cur_iter.range
    if state not in (BPF_ITER_STATE_ACTIVE, BPF_ITER_STATE_DRAINED):
        raise env.reject(E.EFAULT, f"verifier internal error: unexpected iterator state {state} "
                                   f"({iter_state_str(state)})")
    if state == BPF_ITER_STATE_ACTIVE:
        parent = cur.parent
        if parent is None or parent.insn_idx != insn_idx or not same_callsites(parent, cur):
            raise env.reject(E.EFAULT, "verifier bug: bad parent state for iter next call")
        prev = find_prev_entry(env, parent, insn_idx)
        queued = env.push_stack(insn_idx + 1, insn_idx, False)
        q_iter = _iter_reg(queued, meta)
        q_iter.range = BPF_ITER_STATE_ACTIVE
        q_iter.mem_size += 1
        if prev is not None:
            widen_imprecise_scalars(env, prev, queued)
        r0 = queued.frame[queued.curframe].regs[0]
        mark_ptr_not_null_reg(r0)
    cur_iter.range = BPF_ITER_STATE_DRAINED
    mark_const_zero(cur.frame[cur.curframe].regs[0], env.bpf_capable)


def iter_active_depths_differ(old: VerifierState, cur: VerifierState) -> bool:
    """``iter_active_depths_differ``: an ACTIVE iterator of ``old`` is at another depth in
    ``cur`` (then equal states are a next iteration, not an infinite loop)."""
    for fr in range(old.curframe, -1, -1):
        state = old.frame[fr]
        for i, slot in enumerate(state.stack):
            if slot.types[0] != STACK_ITER:
                continue
            st = slot.spilled
            if st.range != BPF_ITER_STATE_ACTIVE:
                continue
            if cur.frame[fr].stack[i].spilled.mem_size != st.mem_size:
                return True
    return False


def is_iter_next_insn(env: Env, insn_idx: int) -> bool:
    """``is_iter_next_insn``: the call at ``insn_idx`` is an iterator's ``_next``."""
    return bool(env.iter_next[insn_idx])


def iter_slot_active(env: Env, st: VerifierState) -> bool:
    """The iterator R1 points to at an iter_next call is ACTIVE (is_state_visited)."""
    fr = st.frame[st.curframe]
    reg = fr.regs[1]
    off = reg.off + reg.var_off[0]
    if off >= 1 << 63:
        off -= 1 << 64
    spi = _c_div(-off - 1, BPF_REG_SIZE)
    func = st.frame[reg.frameno]
    if not 0 <= spi < len(func.stack):
        return False
    return func.stack[spi].spilled.range == BPF_ITER_STATE_ACTIVE
