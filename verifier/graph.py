"""Allocated objects and the graph API: ``bpf_obj_new``/``bpf_obj_drop``, ``bpf_refcount_acquire``,
``bpf_list_*`` and ``bpf_rbtree_*`` kfuncs, owning and non-owning references.

Models kernel/bpf/verifier.c (Linux 6.12/6.18):

* ``get_kfunc_ptr_arg_type``'s special kinds: a ``__alloc`` parameter
  (``KF_ARG_PTR_TO_ALLOC_BTF_ID``) takes an owning ``PTR_TO_BTF_ID | MEM_ALLOC`` (``| MEM_PERCPU``
  for ``bpf_percpu_obj_drop``: ``arg#0 expected for bpf_obj_drop_impl()``, ``arg#0 expected
  pointer to allocated object``, ``allocated object must be referenced``); ``__refcounted_kptr``
  an owning or non-owning reference to a type with a ``bpf_refcount``; ``struct bpf_list_head *``
  / ``struct bpf_rb_root *`` a map value or allocated object with that field at the constant
  offset (``__process_kf_arg_ptr_to_graph_root``: ``bpf_list_head not found at offset=%u``),
  under the lock of the same allocation (``check_reg_allocation_locked``: ``bpf_spin_lock at
  off=%d must be held for bpf_list_head``, ``held lock and object are not in the same
  allocation``); ``struct bpf_list_node *`` / ``struct bpf_rb_node *`` an owning reference at
  the node's offset in the root's ``contains:`` type (``__process_kf_arg_ptr_to_graph_node``:
  ``operation on bpf_rb_root expects arg#1 bpf_rb_node at offset=%d in struct %s, but arg is
  at offset=%d in struct %s``), ``bpf_rbtree_remove`` a non-owning one (``rbtree_remove node
  input must be non-owning ref``); ``bpf_rbtree_add``'s ``less`` a ``PTR_TO_FUNC``, verified as a
  synchronous callback (``set_rbtree_add_callback_state``: two non-owning node pointers,
  return 0 or 1; no lock/unlock, no ``bpf_rbtree_remove`` inside it).
* ``check_kfunc_call``: ``bpf_obj_new_impl`` returns ``PTR_TO_BTF_ID | MEM_ALLOC`` of the
  program-BTF struct its constant names (a new reference, maybe NULL); ``bpf_refcount_acquire``
  the argument's type; ``bpf_list_pop_*``/``bpf_rbtree_remove`` an owning reference to the
  node's container (``mark_reg_graph_node``: the register's offset is the node's);
  ``bpf_rbtree_first`` a non-owning one (``ref_set_non_owning``: ``NON_OWN_REF``, ``| MEM_RCU``
  for a refcounted type); ``bpf_list_push_*``/``bpf_rbtree_add`` turn the node's owning
  reference into non-owning ones (``ref_convert_owning_non_owning``) and release it.
* ``invalidate_non_owning_refs`` at ``bpf_spin_unlock``: every non-owning reference becomes
  invalid (scalar).

Left out (refused as not modelled): 6.15+ ``bpf_list_front``/``back`` and
``bpf_rbtree_root``/``left``/``right`` (not in the emulated kernel's BTF); kptrs: :mod:`.kptrs`.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Final

from kernel_model.btf import Composite
from kernel_model.btf_record import LIST_HEAD, LIST_NODE, RB_NODE, RB_ROOT, REFCOUNT, SPIN_LOCK, BtfRecord, struct_meta

from .regs import (
    BASE_TYPE_MASK, MEM_ALLOC, MEM_PERCPU, MEM_RCU, MEM_RDONLY, MEM_RINGBUF, NON_OWN_REF,
    PTR_TO_ARENA, PTR_TO_BTF_ID, PTR_TO_BUF, PTR_TO_FUNC, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
    PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_STACK, PTR_TRUSTED, SCALAR_VALUE, RegState, mark_known_zero,
    mark_not_init, s64,
)

if TYPE_CHECKING:
    from .core import Env

__all__ = ["OBJ_NEW", "OBJ_DROP", "PERCPU_OBJ_NEW", "PERCPU_OBJ_DROP", "REFCOUNT_ACQUIRE", "GRAPH_KFUNCS",
           "reg_btf_record", "graph_arg_kind", "check_graph_arg", "invalidate_non_owning_refs",
           "in_rbtree_lock_required_cb", "graph_ret", "graph_after_args"]

OBJ_NEW: Final = "bpf_obj_new_impl"
PERCPU_OBJ_NEW: Final = "bpf_percpu_obj_new_impl"
OBJ_DROP: Final = "bpf_obj_drop_impl"
PERCPU_OBJ_DROP: Final = "bpf_percpu_obj_drop_impl"
REFCOUNT_ACQUIRE: Final = "bpf_refcount_acquire_impl"
LIST_PUSH: Final = frozenset({"bpf_list_push_front_impl", "bpf_list_push_back_impl"})
LIST_POP: Final = frozenset({"bpf_list_pop_front", "bpf_list_pop_back"})
RBTREE_ADD: Final = "bpf_rbtree_add_impl"
RBTREE_REMOVE: Final = "bpf_rbtree_remove"
RBTREE_FIRST: Final = "bpf_rbtree_first"
#: is_bpf_list_api_kfunc / is_bpf_rbtree_api_kfunc
_LIST_API: Final = LIST_PUSH | LIST_POP
_RBTREE_API: Final = frozenset({RBTREE_ADD, RBTREE_REMOVE, RBTREE_FIRST})
#: the special kfuncs of this module
GRAPH_KFUNCS: Final = _LIST_API | _RBTREE_API | {OBJ_NEW, PERCPU_OBJ_NEW, OBJ_DROP, PERCPU_OBJ_DROP,
                                                  REFCOUNT_ACQUIRE}
#: BPF_GLOBAL_PERCPU_MA_MAX_SIZE (include/linux/bpf_mem_alloc.h)
_PERCPU_MAX: Final = 512

#: check_func_arg_reg_off: the types allowed fixed and variable offsets
_ANY_OFF_OK: Final = frozenset({PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE,
                                PTR_TO_MEM, PTR_TO_MEM | MEM_RDONLY, PTR_TO_MEM | MEM_RINGBUF, PTR_TO_BUF,
                                PTR_TO_BUF | MEM_RDONLY, PTR_TO_ARENA, SCALAR_VALUE})
#: check_func_arg_reg_off: the PTR_TO_BTF_ID types allowed a fixed offset
_FIXED_OFF_OK: Final = frozenset({PTR_TO_BTF_ID, PTR_TO_BTF_ID | MEM_ALLOC, PTR_TO_BTF_ID | PTR_TRUSTED,
                                  PTR_TO_BTF_ID | MEM_RCU, PTR_TO_BTF_ID | MEM_ALLOC | NON_OWN_REF,
                                  PTR_TO_BTF_ID | MEM_ALLOC | NON_OWN_REF | MEM_RCU})


def is_alloc(reg: RegState) -> bool:
    """``type_is_ptr_alloc_obj``."""
    return (reg.type & BASE_TYPE_MASK) == PTR_TO_BTF_ID and bool(reg.type & MEM_ALLOC)


def is_non_owning(reg: RegState) -> bool:
    """``type_is_non_owning_ref``."""
    return is_alloc(reg) and bool(reg.type & NON_OWN_REF)


def reg_btf_record(reg: RegState) -> BtfRecord | None:
    """``reg_btf_record``: a map value's record, or an allocated object's struct meta."""
    if reg.type == PTR_TO_MAP_VALUE:
        return getattr(reg.map, "record", None)
    if is_alloc(reg) and reg.btf is not None:
        return struct_meta(reg.btf, reg.btf_id)
    return None


def graph_arg_kind(pname: str, ref_t: Any) -> str:
    """The part of ``get_kfunc_ptr_arg_type`` for this module's kinds ("" for none of them)."""
    if pname.endswith("__alloc"):
        return "alloc"
    if pname.endswith("__refcounted_kptr"):
        return "refcounted"
    if isinstance(ref_t, Composite) and ref_t.name in (LIST_HEAD, LIST_NODE, RB_ROOT, RB_NODE):
        return ref_t.name
    return ""


def check_func_arg_reg_off(v: Env, reg: RegState, regno: int, release: bool) -> None:
    """``check_func_arg_reg_off`` (kernel/bpf/verifier.c) for a kfunc pointer argument."""
    from .mem import check_ptr_off_reg
    if release:
        if reg.off:
            raise v.reject(E.EINVAL, f"R{regno} must have zero offset when passed to release func or trusted arg "
                                     "to kfunc")
        check_ptr_off_reg(v, reg, regno, False)
        return
    if reg.type in _ANY_OFF_OK:
        return
    check_ptr_off_reg(v, reg, regno, reg.type in _FIXED_OFF_OK)


def _allocation_locked(v: Env, reg: RegState) -> bool:
    """``check_reg_allocation_locked``: the held lock is this allocation's (its map, or for an
    allocated object its BTF, and the register's id)."""
    st = v.cur
    if not st.active_locks:
        return False
    ptr = reg.map if reg.type == PTR_TO_MAP_VALUE else reg.btf
    if st.active_lock_ptr is not ptr or st.active_lock_id != reg.id:
        v.verbose("held lock and object are not in the same allocation\n")
        return False
    return True


def in_rbtree_lock_required_cb(v: Env) -> bool:
    """``in_rbtree_lock_required_cb``: the current frame is a callback of ``bpf_rbtree_add``."""
    st = v.cur
    if not st.curframe:
        return False
    callee = st.frame[st.curframe]
    if not callee.in_callback_fn:
        return False
    insn = v.insns[callee.callsite]
    return v.kfunc_names.get((0, insn.imm)) in _RBTREE_API  # is_rbtree_lock_required_kfunc(insn->imm)


def check_graph_arg(v: Env, meta: Any, i: int, regno: int, reg: RegState, kind: str, release: bool) -> None:
    """The two switches of ``check_kfunc_args`` for this module's argument kinds."""
    name = meta.name
    if kind == "alloc" and (("KF_TRUSTED_ARGS" in meta.flags or release) or "KF_RCU" in meta.flags):
        from .regs import is_trusted_reg
        if not is_trusted_reg(reg):
            raise v.reject(E.EINVAL, f"R{regno} must be referenced or trusted")
    check_func_arg_reg_off(v, reg, regno, release and bool(reg.ref_obj_id))
    if kind == "alloc":
        if reg.type == PTR_TO_BTF_ID | MEM_ALLOC:
            if name != OBJ_DROP:
                raise v.reject(E.EINVAL, f"arg#{i} expected for bpf_obj_drop_impl()")
        elif reg.type == PTR_TO_BTF_ID | MEM_ALLOC | MEM_PERCPU:
            if name != PERCPU_OBJ_DROP:
                raise v.reject(E.EINVAL, f"arg#{i} expected for bpf_percpu_obj_drop_impl()")
        else:
            raise v.reject(E.EINVAL, f"arg#{i} expected pointer to allocated object")
        if not reg.ref_obj_id:
            raise v.reject(E.EINVAL, "allocated object must be referenced")
        meta.arg_btf, meta.arg_btf_id = reg.btf, reg.btf_id
        return
    if kind == "refcounted":
        if not is_alloc(reg):
            raise v.reject(E.EINVAL, f"arg#{i} is neither owning or non-owning ref")
        if not is_non_owning(reg) and reg.ref_obj_id:
            meta.arg_owning_ref = True
        rec = reg_btf_record(reg)
        if rec is None:
            raise v.reject(E.EFAULT, "verifier internal error: Couldn't find btf_record")
        if not rec.has(REFCOUNT):
            raise v.reject(E.EINVAL, f"arg#{i} doesn't point to a type with bpf_refcount field")
        meta.arg_btf, meta.arg_btf_id = reg.btf, reg.btf_id
        return
    if kind in (LIST_HEAD, RB_ROOT):
        if reg.type not in (PTR_TO_MAP_VALUE, PTR_TO_BTF_ID | MEM_ALLOC):
            raise v.reject(E.EINVAL, f"arg#{i} expected pointer to map value or allocated object")
        if reg.type == PTR_TO_BTF_ID | MEM_ALLOC and not reg.ref_obj_id:
            raise v.reject(E.EINVAL, "allocated object must be referenced")
        _graph_root(v, meta, regno, reg, kind)
        return
    # graph nodes
    if kind == RB_NODE and name != RBTREE_ADD:
        # 6.16+ ("Allow refcounted bpf_rb_node used in bpf_rbtree_{remove,left,right}"): a
        # non-owning or an owning reference
        if not is_non_owning(reg) and not reg.ref_obj_id:
            raise v.reject(E.EINVAL, f"{name} can only take non-owning or refcounted bpf_rb_node pointer")
        if in_rbtree_lock_required_cb(v):
            raise v.reject(E.EINVAL, f"{name} not allowed in rbtree cb")
    else:
        if reg.type != PTR_TO_BTF_ID | MEM_ALLOC:
            raise v.reject(E.EINVAL, f"arg#{i} expected pointer to allocated object")
        if not reg.ref_obj_id:
            raise v.reject(E.EINVAL, "allocated object must be referenced")
    _graph_node(v, meta, regno, reg, kind)


def _graph_root(v: Env, meta: Any, regno: int, reg: RegState, kind: str) -> None:
    """``__process_kf_arg_ptr_to_graph_root``."""
    api = _LIST_API if kind == LIST_HEAD else _RBTREE_API
    if meta.name not in api:
        raise v.reject(E.EFAULT, f"verifier internal error: {kind} head arg for unknown kfunc")
    if reg.var_off[1]:
        raise v.reject(E.EINVAL, f"R{regno} doesn't have constant offset. {kind} has to be at the constant offset")
    rec = reg_btf_record(reg)
    off = (reg.off + s64(reg.var_off[0])) & 0xFFFFFFFF
    field = rec.find(off, kind) if rec is not None else None
    if field is None:
        raise v.reject(E.EINVAL, f"{kind} not found at offset={off}")
    if not _allocation_locked(v, reg):
        lock_off = rec.offset_of(SPIN_LOCK) if rec is not None else -E.EINVAL
        raise v.reject(E.EINVAL, f"bpf_spin_lock at off={lock_off} must be held for {kind}")
    if meta.graph_field is not None:
        raise v.reject(E.EFAULT, f"verifier internal error: repeating {kind} arg")
    meta.graph_field = field


def _graph_node(v: Env, meta: Any, regno: int, reg: RegState, kind: str) -> None:
    """``__process_kf_arg_ptr_to_graph_node``."""
    head = LIST_HEAD if kind == LIST_NODE else RB_ROOT
    ok = meta.name in (LIST_PUSH if kind == LIST_NODE else {RBTREE_REMOVE, RBTREE_ADD})
    if not ok:
        raise v.reject(E.EFAULT, f"verifier internal error: {kind} node arg for unknown kfunc")
    if reg.var_off[1]:
        raise v.reject(E.EINVAL, f"R{regno} doesn't have constant offset. {kind} has to be at the constant offset")
    node_off = (reg.off + s64(reg.var_off[0])) & 0xFFFFFFFF
    rec = reg_btf_record(reg)
    if rec is None or rec.find(node_off, kind) is None:
        raise v.reject(E.EINVAL, f"{kind} not found at offset={node_off}")
    field = meta.graph_field
    vbtf = field.value_btf
    et = vbtf.type_by_id(field.value_btf_id)
    t = reg.btf.type_by_id(reg.btf_id)
    # btf_struct_ids_match(..., strict, !type_is_alloc): local types match by identity
    if reg.btf is not vbtf or reg.btf_id != field.value_btf_id:
        raise v.reject(E.EINVAL, f"operation on {head} expects arg#1 {kind} at offset={field.node_offset} in struct "
                                 f"{et.name}, but arg is at offset={node_off} in struct {t.name}")
    meta.arg_btf, meta.arg_btf_id = reg.btf, reg.btf_id
    if node_off != field.node_offset:
        raise v.reject(E.EINVAL, f"arg#1 offset={node_off}, but expected {kind} at offset={field.node_offset} in "
                                 f"struct {et.name}")


def ref_set_non_owning(v: Env, reg: RegState) -> None:
    """``ref_set_non_owning``."""
    if not v.cur.active_locks:
        raise v.reject(E.EFAULT, "verifier internal error: ref_set_non_owning w/o active lock")
    if reg.type & NON_OWN_REF:
        raise v.reject(E.EFAULT, "verifier internal error: NON_OWN_REF already set")
    reg.type |= NON_OWN_REF
    rec = reg_btf_record(reg)
    if rec is not None and rec.has(REFCOUNT):
        reg.type |= MEM_RCU


def ref_convert_owning_non_owning(v: Env, ref_obj_id: int) -> None:
    """``ref_convert_owning_non_owning``: every copy of the owning reference becomes non-owning."""
    from .refs import for_each_reg_in_vstate
    if not ref_obj_id:
        raise v.reject(E.EFAULT, "verifier internal error: ref_obj_id is zero for owning -> non-owning conversion")
    if not any(r.id == ref_obj_id for r in v.cur.refs):
        raise v.reject(E.EFAULT, "verifier internal error: ref state missing for ref_obj_id")
    for reg in for_each_reg_in_vstate(v.cur):
        if reg.ref_obj_id == ref_obj_id:
            reg.ref_obj_id = 0
            ref_set_non_owning(v, reg)


def invalidate_non_owning_refs(v: Env) -> None:
    """``invalidate_non_owning_refs``: non-owning references die with the lock."""
    from .refs import for_each_reg_in_vstate
    from .refs import mark_reg_invalid
    for reg in for_each_reg_in_vstate(v.cur):
        if is_non_owning(reg):
            mark_reg_invalid(v, reg)


def set_rbtree_add_callback_state(env: Env, caller: Any, callee: Any, insn_idx: int, map_: Any) -> None:
    """``set_rbtree_add_callback_state``: ``less(a, b)`` gets two non-owning pointers to nodes
    of the root's type, returns 0 or 1."""
    field = map_  # the root's field, passed through push_callback_call's map argument
    for regno in (1, 2):
        r = callee.regs[regno]
        _mark_graph_node(r, field)
        ref_set_non_owning(env, r)
    for regno in (3, 4, 5):
        mark_not_init(callee.regs[regno], env.bpf_capable)
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def _mark_graph_node(r: RegState, field: Any) -> None:
    """``mark_reg_graph_node``."""
    mark_known_zero(r)
    r.type = PTR_TO_BTF_ID | MEM_ALLOC
    r.btf = field.value_btf
    r.btf_id = field.value_btf_id
    r.off = field.node_offset


def graph_after_args(v: Env, meta: Any, entry: Any) -> None:
    """``check_kfunc_call`` after the arguments: ``bpf_rbtree_add``'s callback."""
    if meta.name == RBTREE_ADD:
        from .callbacks import push_callback_call
        try:
            push_callback_call(v, v.insn_idx, meta.subprogno, set_rbtree_add_callback_state, meta.graph_field)
        except Exception:
            v.verbose(f"kfunc {meta.name}#{entry.btf_id} failed callback verification\n")
            raise


def graph_release(v: Env, meta: Any, entry: Any) -> None:
    """``check_kfunc_call``: push/add turn R2's owning reference non-owning, then release it."""
    from .refs import release_reference
    if meta.name in LIST_PUSH or meta.name == RBTREE_ADD:
        rid = v.cur_regs()[2].ref_obj_id
        v.aux[v.insn_idx].insert_off = v.cur_regs()[2].off
        try:
            ref_convert_owning_non_owning(v, rid)
        except Exception:
            v.verbose(f"kfunc {meta.name}#{entry.btf_id} conversion of owning ref to non-owning failed\n")
            raise
        if not release_reference(v, rid):
            raise v.reject(E.EINVAL, f"kfunc {meta.name}#{entry.btf_id} reference has not been acquired before")


def graph_ret(v: Env, meta: Any, r0: RegState) -> bool:
    """The special return values of ``check_kfunc_call`` (True when R0 is set here; the
    caller adds KF_RET_NULL and KF_ACQUIRE as for any kfunc)."""
    name = meta.name
    aux = v.aux[v.insn_idx]
    if name in (OBJ_NEW, PERCPU_OBJ_NEW):
        value = meta.arg_constant
        if value is None:
            raise v.reject(E.EFAULT, "verifier internal error: no constant local type id")
        if value & 0xFFFFFFFF != value:
            raise v.reject(E.EINVAL, "local type ID argument must be in range [0, U32_MAX]")
        btf = v.attr.prog_btf
        if btf is None:
            raise v.reject(E.EINVAL, "bpf_obj_new/bpf_percpu_obj_new requires prog BTF")
        try:
            t = btf.type_by_id(value)
        except Exception:
            t = None
        if t is None or getattr(t, "kind", None) != 4:  # BTF_KIND_STRUCT
            raise v.reject(E.EINVAL, "bpf_obj_new/bpf_percpu_obj_new type ID argument must be of a struct")
        meta_rec = struct_meta(btf, value)
        if name == PERCPU_OBJ_NEW:
            if t.size > _PERCPU_MAX:
                raise v.reject(E.EINVAL, f"bpf_percpu_obj_new type size ({t.size}) is greater than {_PERCPU_MAX}")
            from .kfuncs import _is_scalar_struct
            if not _is_scalar_struct(btf, t):
                raise v.reject(E.EINVAL, "bpf_percpu_obj_new type ID argument must be of a struct of scalars")
            if meta_rec is not None:
                raise v.reject(E.EINVAL, "bpf_percpu_obj_new type ID argument must not contain special fields")
        mark_known_zero(r0)
        r0.type = PTR_TO_BTF_ID | MEM_ALLOC
        r0.btf = btf
        r0.btf_id = value
        if name == PERCPU_OBJ_NEW:
            r0.type |= MEM_PERCPU
        aux.obj_new_size = t.size
        aux.kptr_struct_meta = meta_rec
        return True
    if name == REFCOUNT_ACQUIRE:
        mark_known_zero(r0)
        r0.type = PTR_TO_BTF_ID | MEM_ALLOC
        r0.btf = meta.arg_btf
        r0.btf_id = meta.arg_btf_id
        aux.kptr_struct_meta = struct_meta(meta.arg_btf, meta.arg_btf_id)
        return True
    if name in LIST_POP or name in (RBTREE_REMOVE, RBTREE_FIRST):
        _mark_graph_node(r0, meta.graph_field)
        return True
    return False


def graph_void_ret(v: Env, meta: Any) -> None:
    """``bpf_obj_drop``: the struct meta the runtime frees the object's fields with."""
    if meta.name in (OBJ_DROP, PERCPU_OBJ_DROP):
        aux = v.aux[v.insn_idx]
        rec = struct_meta(meta.arg_btf, meta.arg_btf_id)
        typ = (meta.arg_btf, meta.arg_btf_id)
        if aux.obj_drop_type is not None and aux.obj_drop_type != typ:
            # 6.18 (the host's answer, e.g. one bpf_obj_drop in a static function called for two
            # types): the call's instruction carries one struct meta for the run time, so a
            # second type with another record is refused. Two types with the same record (none)
            # are left unmodelled: whether the kernel compares the records or the types is
            # not established here
            if rec is not aux.kptr_struct_meta:
                raise v.reject(E.EINVAL, "same call cannot be used with different types\n"
                                         "use one call for each type: inline the static function that holds "
                                         "the call,\nor mark the callee with __attribute__((nomerge))")
            raise v.reject(E.EINVAL, f"{meta.name} called for two types without a btf_record "
                                     "is not modelled by structops")
        aux.obj_drop_type = typ
        aux.kptr_struct_meta = rec


def graph_after_ret(v: Env, meta: Any, r0: RegState) -> None:
    """``bpf_rbtree_first``'s result is a non-owning reference."""
    if meta.name == RBTREE_FIRST:
        ref_set_non_owning(v, r0)


def check_alloc_access(v: Env, reg: RegState, regno: int, off: int, size: int) -> None:
    """``check_ptr_to_btf_access`` / ``btf_struct_access`` (kernel/bpf/btf.c) on an allocated
    object: no byte of a special field of its struct meta may be touched."""
    if not (reg.type & NON_OWN_REF or reg.type & MEM_RCU or reg.ref_obj_id):
        raise v.reject(E.EFAULT, "verifier internal error: ref_obj_id for allocated object must be non-zero")
    rec = struct_meta(reg.btf, reg.btf_id) if reg.btf is not None else None
    if rec is None:
        return
    for f in rec.fields:
        if not (off >= f.offset + f.size or off + size <= f.offset):
            raise v.reject(E.EACCES, f"direct access to {f.name} is disallowed")


def check_callback_arg(v: Env, meta: Any, i: int, reg: RegState) -> None:
    """``KF_ARG_PTR_TO_CALLBACK``."""
    if reg.type != PTR_TO_FUNC:
        raise v.reject(E.EINVAL, f"arg{i} expected pointer to func")
    meta.subprogno = reg.subprogno

