"""Reference state: acquired objects, held locks, IRQ flags.

Models the reference bookkeeping of kernel/bpf/verifier.c (Linux 6.18):
``acquire_reference_state`` / ``acquire_reference`` (a pointer reference,
``REF_TYPE_PTR``, with a fresh id), ``acquire_lock_state`` / ``release_lock_state``
/ ``find_lock_state`` (``REF_TYPE_LOCK``: a held ``bpf_spin_lock``, counted in
``active_locks`` with the innermost lock's id and object in ``active_lock_id`` /
``active_lock_ptr``), ``acquire_irq_state`` / ``release_irq_state``
(``REF_TYPE_IRQ``: a ``bpf_local_irq_save`` flag, restored in stack order),
``release_reference_state`` (removal keeps the order of the others: 6.18 shifts
the array, since IRQ states rely on it), ``release_reference_nomark`` /
``release_reference`` (every register and spilled register holding the
reference is invalidated, ``mark_reg_invalid``), and ``bpf_for_each_reg_in_vstate``.

Since 6.13 the references live in ``struct bpf_verifier_state`` (``refs``,
``acquired_refs``), not per frame: a subprogram may release what its caller
acquired, and a reference acquired in a subprogram leaks only at the main
program's exit (``check_reference_leak`` skips frames other than 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Iterator

from .regs import RegState, mark_not_init, mark_unknown
from .state import RefState, VerifierState, is_spilled_reg

if TYPE_CHECKING:
    from .core import Env

__all__ = [
    "REF_TYPE_PTR", "REF_TYPE_IRQ", "REF_TYPE_LOCK", "REF_TYPE_RES_LOCK", "REF_TYPE_RES_LOCK_IRQ",
    "acquire_reference", "acquire_irq_state", "acquire_lock_state", "release_reference",
    "release_reference_nomark", "release_irq_state", "release_lock_state", "find_lock_state",
    "for_each_reg_in_vstate", "mark_reg_invalid",
]

# enum ref_state_type (include/linux/bpf_verifier.h, 6.18)
REF_TYPE_PTR: Final = 1 << 1
REF_TYPE_IRQ: Final = 1 << 2
REF_TYPE_LOCK: Final = 1 << 3
REF_TYPE_RES_LOCK: Final = 1 << 4
REF_TYPE_RES_LOCK_IRQ: Final = 1 << 5


def for_each_reg_in_vstate(st: VerifierState) -> Iterator[RegState]:
    """``bpf_for_each_reg_in_vstate``: every register and every spilled register
    (STACK_SPILL slots) of every frame."""
    for f in st.frame[:st.curframe + 1]:
        yield from f.regs
        for slot in f.stack:
            if is_spilled_reg(slot):
                yield slot.spilled


def mark_reg_invalid(env: Env, reg: RegState) -> None:
    """``mark_reg_invalid``: an unknown scalar when pointer leaks are allowed, else NOT_INIT."""
    if env.allow_ptr_leaks:
        mark_unknown(reg, env.bpf_capable)
    else:
        mark_not_init(reg, env.bpf_capable)


def acquire_reference(env: Env, insn_idx: int) -> int:
    """``acquire_reference``: a REF_TYPE_PTR reference with a fresh id."""
    rid = env.new_id()
    env.cur.refs.append(RefState(rid, insn_idx, REF_TYPE_PTR))
    return rid


def acquire_irq_state(env: Env, insn_idx: int) -> int:
    """``acquire_irq_state``: a REF_TYPE_IRQ reference that becomes ``active_irq_id``."""
    rid = env.new_id()
    st = env.cur
    st.refs.append(RefState(rid, insn_idx, REF_TYPE_IRQ))
    st.active_irq_id = rid
    return rid


def acquire_lock_state(env: Env, insn_idx: int, type_: int, lock_id: int, ptr: object) -> None:
    """``acquire_lock_state``: the held lock (its register id and map or BTF object)."""
    st = env.cur
    st.refs.append(RefState(lock_id, insn_idx, type_, ptr))
    st.active_locks += 1
    st.active_lock_id = lock_id
    st.active_lock_ptr = ptr


def _release_at(st: VerifierState, idx: int) -> None:
    """``release_reference_state``: remove refs[idx], the others keep their order."""
    del st.refs[idx]


def release_reference_nomark(st: VerifierState, ref_obj_id: int) -> bool:
    """``release_reference_nomark``: drop the pointer reference; False if not held."""
    for i, r in enumerate(st.refs):
        if r.type == REF_TYPE_PTR and r.id == ref_obj_id:
            _release_at(st, i)
            return True
    return False


def release_reference(env: Env, ref_obj_id: int) -> bool:
    """``release_reference``: drop the reference and invalidate every copy of the pointer."""
    st = env.cur
    if not release_reference_nomark(st, ref_obj_id):
        return False
    for reg in for_each_reg_in_vstate(st):
        if reg.ref_obj_id == ref_obj_id:
            mark_reg_invalid(env, reg)
    return True


def release_irq_state(st: VerifierState, irq_id: int) -> int:
    """``release_irq_state``: 0, or -EACCES when ``irq_id`` is not the innermost
    saved flag (out of order), -EINVAL when not held."""
    import errno as E
    if irq_id != st.active_irq_id:
        return -E.EACCES
    prev_id = 0
    for i, r in enumerate(st.refs):
        if r.type != REF_TYPE_IRQ:
            continue
        if r.id == irq_id:
            _release_at(st, i)
            st.active_irq_id = prev_id
            return 0
        prev_id = r.id
    return -E.EINVAL


def find_lock_state(st: VerifierState, type_mask: int, lock_id: int, ptr: object) -> RefState | None:
    """``find_lock_state``: a held lock of one of ``type_mask``'s types; ``ptr`` None
    matches any lock (as the kernel's NULL does)."""
    for r in st.refs:
        if not r.type & type_mask:
            continue
        if ptr is None or (r.id == lock_id and r.ptr is ptr):
            return r
    return None


def release_lock_state(st: VerifierState, type_: int, lock_id: int, ptr: object) -> bool:
    """``release_lock_state``: drop the lock and make the innermost remaining lock active."""
    prev_id, prev_ptr = 0, None
    for i, r in enumerate(st.refs):
        if r.type == type_ and r.id == lock_id and r.ptr is ptr:
            _release_at(st, i)
            st.active_locks -= 1
            st.active_lock_id = prev_id
            st.active_lock_ptr = prev_ptr
            return True
        if r.type & (REF_TYPE_LOCK | REF_TYPE_RES_LOCK | REF_TYPE_RES_LOCK_IRQ):
            prev_id, prev_ptr = r.id, r.ptr
    return False
