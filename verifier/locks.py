"""``bpf_spin_lock`` / ``bpf_spin_unlock``: the held-lock rules.

Models kernel/bpf/verifier.c (Linux 6.18):

* ``process_spin_lock`` (the ``ARG_PTR_TO_SPIN_LOCK`` argument of the two helpers): the
  pointer's offset must be a constant (``R1 doesn't have constant offset. bpf_spin_lock
  has to be at the constant offset``), the map must have BTF (``map 'm' has to have BTF
  in order to use bpf_spin_lock``) and a lock in its value's ``btf_record`` (``map 'm'
  has no valid bpf_spin_lock``), and the offset must be the lock's (``off 0 doesn't point
  to 'struct bpf_spin_lock' that is at 4``). Taking a lock while one is held: ``Locking
  two bpf_spin_locks are not allowed``; unlocking with none held: ``bpf_spin_unlock
  without taking a lock``; another object or register id than the held lock's:
  ``bpf_spin_unlock of different lock``. The lock is a ``REF_TYPE_LOCK`` state of
  :mod:`.refs` (``acquire_lock_state``/``release_lock_state``) identified by the map and
  the register's id (a map value from ``bpf_map_lookup_elem`` keeps its id after the NULL
  check when its value has a lock, :func:`.jumps.reg_may_point_to_spin_lock`).
* ``do_check``: while a lock is held, a helper call other than ``bpf_spin_unlock`` and a
  kfunc call other than ``kfunc_spin_allowed``'s (graph, ``bpf_iter_num_*``,
  ``bpf_res_spin_*`` kfuncs) are refused: ``function calls are not allowed while holding
  a lock``; static subprogram calls are allowed.
* ``check_resource_leak`` (:mod:`.calls`) reports a lock still held at the main
  program's exit first: ``BPF_EXIT instruction in main prog cannot be used inside
  bpf_spin_lock-ed region``.

Locks in allocated objects (``PTR_TO_BTF_ID | MEM_ALLOC`` of ``bpf_obj_new``): the struct
meta's lock, the object's BTF and register id as its identity (``local 'kptr' has no valid
bpf_spin_lock``). Left out: ``bpf_res_spin_lock`` (the map value field is refused as not modelled);
``bpf_spin_unlock`` invalidates the non-owning references of the graph kfuncs
(:func:`.graph.invalidate_non_owning_refs`).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Final

from kernel_model import isa

from .refs import REF_TYPE_LOCK, acquire_lock_state, find_lock_state, release_lock_state
from .regs import PTR_TO_MAP_VALUE, s64

if TYPE_CHECKING:
    from .core import Env
    from .decoded import DInsn

__all__ = ["process_spin_lock", "check_call_under_lock", "kfunc_spin_allowed", "BPF_FUNC_spin_lock",
           "BPF_FUNC_spin_unlock"]

BPF_FUNC_spin_lock: Final = 93
BPF_FUNC_spin_unlock: Final = 94

#: kfunc_spin_allowed(): is_bpf_graph_api_kfunc, is_bpf_iter_num_api_kfunc,
#: is_bpf_res_spin_lock_kfunc (6.18), by name
_SPIN_ALLOWED_KFUNCS: Final = frozenset({
    "bpf_list_push_front_impl", "bpf_list_push_back_impl", "bpf_list_pop_front", "bpf_list_pop_back",
    "bpf_list_front", "bpf_list_back", "bpf_rbtree_add_impl", "bpf_rbtree_remove", "bpf_rbtree_first",
    "bpf_rbtree_root", "bpf_rbtree_left", "bpf_rbtree_right", "bpf_refcount_acquire_impl",
    "bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy",
    "bpf_res_spin_lock", "bpf_res_spin_unlock", "bpf_res_spin_lock_irqsave", "bpf_res_spin_unlock_irqrestore",
})


def kfunc_spin_allowed(name: str) -> bool:
    """``kfunc_spin_allowed``: kfuncs callable while a ``bpf_spin_lock`` is held."""
    return name in _SPIN_ALLOWED_KFUNCS


def check_call_under_lock(env: Env, insn: DInsn) -> None:
    """The ``do_check`` test at a ``BPF_CALL`` while a lock is held (before the call is
    checked): helpers but ``bpf_spin_unlock``, and kfuncs but the allowed ones, refused."""
    if not env.cur.active_locks:
        return
    if insn.src == 0:
        refused = insn.imm != BPF_FUNC_spin_unlock
    elif insn.src == isa.PSEUDO_KFUNC_CALL:
        refused = bool(insn.off) or not kfunc_spin_allowed(_kfunc_name(env, insn))
    else:
        refused = False
    if refused:
        raise env.reject(E.EINVAL, "function calls are not allowed while holding a lock")


def _kfunc_name(env: Env, insn: DInsn) -> str:
    """The vmlinux FUNC name ``insn.imm`` names ("" when it names none)."""
    btf = env.attr.vmlinux_btf if env.attr.vmlinux_btf is not None else env.attr.attach_btf
    if btf is not None and btf.base is not None:
        btf = btf.base
    try:
        t = btf.type_by_id(insn.imm) if btf is not None else None
    except Exception:  # an id out of range: not an allowed kfunc
        return ""
    return str(getattr(t, "name", ""))


def process_spin_lock(env: Env, regno: int, is_lock: bool) -> None:
    """``process_spin_lock`` for ``bpf_spin_lock`` (``is_lock``) or ``bpf_spin_unlock``."""
    from .graph import in_rbtree_lock_required_cb, invalidate_non_owning_refs
    if in_rbtree_lock_required_cb(env):  # check_func_arg, ARG_PTR_TO_SPIN_LOCK
        raise env.reject(E.EACCES, "can't spin_{lock,unlock} in rbtree cb")
    reg = env.cur_regs()[regno]
    st = env.cur
    value, mask = reg.var_off
    if mask:
        raise env.reject(E.EINVAL, f"R{regno} doesn't have constant offset. bpf_spin_lock has to be at the "
                                   "constant offset")
    if reg.type == PTR_TO_MAP_VALUE:
        m = reg.map
        if not getattr(m, "has_btf", False):
            raise env.reject(E.EINVAL, f"map '{m.name}' has to have BTF in order to use bpf_spin_lock")
        rec = getattr(m, "record", None)
        what = f"map '{m.name}'"
    else:  # PTR_TO_BTF_ID | MEM_ALLOC: the lock of an allocated object, identified by its BTF
        from kernel_model.btf_record import struct_meta
        m = reg.btf
        rec = struct_meta(reg.btf, reg.btf_id) if reg.btf is not None else None
        what = "local 'kptr'"
    if rec is None or not rec.has("bpf_spin_lock"):
        raise env.reject(E.EINVAL, f"{what} has no valid bpf_spin_lock")
    lock_off = rec.offset_of("bpf_spin_lock")
    off = s64(value) + reg.off
    if lock_off != off:
        raise env.reject(E.EINVAL, f"off {off} doesn't point to 'struct bpf_spin_lock' that is at {lock_off}")
    if is_lock:
        if st.active_locks and find_lock_state(st, REF_TYPE_LOCK, 0, None):
            raise env.reject(E.EINVAL, "Locking two bpf_spin_locks are not allowed")
        acquire_lock_state(env, env.insn_idx, REF_TYPE_LOCK, reg.id, m)
        return
    if not st.active_locks:
        raise env.reject(E.EINVAL, "bpf_spin_unlock without taking a lock")
    if not find_lock_state(st, REF_TYPE_LOCK, reg.id, m):
        raise env.reject(E.EINVAL, "bpf_spin_unlock of different lock")
    if reg.id != st.active_lock_id or m is not st.active_lock_ptr:
        raise env.reject(E.EINVAL, "bpf_spin_unlock cannot be out of order")
    if not release_lock_state(st, REF_TYPE_LOCK, reg.id, m):
        raise env.reject(E.EINVAL, "bpf_spin_unlock of different lock")
    invalidate_non_owning_refs(env)
