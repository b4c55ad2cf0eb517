"""Kptr fields holding local objects or kernel objects, and ``bpf_kptr_xchg``.

Models kernel/bpf/verifier.c (Linux 6.18):

* ``check_map_access``: a load or store touching a kptr field must be direct (``kptr cannot
  be accessed indirectly by helper``), at a constant offset (``kptr access cannot have variable
  offset``), exactly at the field (``kptr access misaligned expected=%u off=%llu``) and 8 bytes
  (``kptr access size must be BPF_DW``);
* ``check_map_kptr_access``: only ``BPF_MEM`` loads and stores; a referenced (``__kptr``) or
  per-CPU field is never stored to (``store to referenced kptr disallowed``); a load gives
  ``btf_ld_kptr_type``'s pointer: maybe-NULL ``MEM_RCU | MEM_ALLOC`` to the local type inside an
  RCU section (a non-sleepable program, or under a lock), ``| NON_OWN_REF`` when the type has a
  graph node, else ``PTR_UNTRUSTED``; an untrusted field takes a matching pointer or NULL
  (``map_kptr_match_type``: ``invalid kptr access, R%d type=%s expected=%s``);
* ``bpf_kptr_xchg`` (``process_kptr_func``, ``check_reg_type``, the release of ``check_helper_call``):
  R1 a map value (or allocated object) pointing at a referenced kptr field (``R1 has no valid
  kptr``, ``off=%d doesn't point to kptr``, ``off=%d kptr isn't referenced kptr``), R2 NULL or an
  owning reference of the field's type, released (every copy invalidated); R0 the old pointer, a
  new reference, maybe NULL, ``MEM_ALLOC``. ``do_misc_fixups`` inlines it as an atomic exchange
  (x86-64 ``bpf_jit_supports_ptr_xchg``): ``r0 = r2; r0 = xchg(*(u64 *)(r1 + 0), r0)``.

Kernel types (a field whose ``BtfField.kernel`` is set: ``task_struct``, ``cgroup``,
``bpf_cpumask`` ...): a referenced one loads as an RCU pointer only when the type is in
``rcu_protected_types`` (``rcu_safe_kptr``), never ``MEM_ALLOC``; a stored or exchanged pointer
to a kernel object may be trusted or RCU (untrusted too for an untrusted field) and must match
the type (``btf_struct_ids_match``, strict for referenced fields); ``bpf_kptr_xchg`` refuses a
maybe-NULL R2 (``Possibly NULL pointer passed to helper arg2``) and returns a plain maybe-NULL
reference.

Left out (refused as not modelled): per-CPU kptrs to kernel types, ``uptr``
(:mod:`kernel_model.btf_record`). At run time the maps free their values' kptrs
(:mod:`emu.kernel.kptr_fields`).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Final

from kernel_model import isa
from kernel_model.btf_record import GRAPH_NODES, BtfField, BtfRecord

from .btf_ids_match import btf_struct_ids_match
from .log import reg_type_str
from .regs import (
    BASE_TYPE_MASK, MEM_ALLOC, MEM_PERCPU, MEM_RCU, NON_OWN_REF, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_MAP_VALUE,
    PTR_TRUSTED, PTR_UNTRUSTED, RegState, mark_known_zero, mark_not_init, register_is_null, s64,
)

if TYPE_CHECKING:
    from .core import Env
    from .decoded import DInsn

__all__ = ["BPF_FUNC_kptr_xchg", "kptr_field_at", "check_kptr_overlap", "check_map_kptr_access",
           "check_kptr_xchg", "btf_is_kernel"]

BPF_FUNC_kptr_xchg: Final = 194
_KPTR_NAMES: Final = frozenset({"kptr", "percpu_kptr"})


def kptr_field_at(rec: BtfRecord | None, off: int) -> BtfField | None:
    """``btf_record_find(rec, off, BPF_KPTR)``."""
    if rec is None:
        return None
    for f in rec.fields:
        if f.offset == off and f.kptr:
            return f
    return None


def check_kptr_overlap(env: Env, reg: RegState, off: int, size: int, f: BtfField, direct: bool) -> None:
    """The kptr case of ``check_map_access`` for an access overlapping field ``f``."""
    if not direct:
        raise env.reject(E.EACCES, f"{f.name} cannot be accessed indirectly by helper")
    if reg.var_off[1]:
        raise env.reject(E.EACCES, f"{f.name} access cannot have variable offset")
    at = off + reg.var_off[0]
    if f.offset != at:
        raise env.reject(E.EACCES, f"{f.name} access misaligned expected={f.offset} off={at}")
    if size != 8:
        raise env.reject(E.EACCES, f"{f.name} access size must be BPF_DW")


def _in_rcu_cs(env: Env) -> bool:
    """``in_rcu_cs``."""
    st = env.cur
    return bool(st.active_rcu_lock or st.active_locks or not st.in_sleepable)


def _rcu_safe_kptr(f: BtfField) -> bool:
    """``rcu_safe_kptr``: a per-CPU kptr, or a referenced one whose type is RCU protected
    (``rcu_protected_object``: every local type; of the kernel's, ``rcu_protected_types``)."""
    from kernel_model.kptr_kfuncs import RCU_PROTECTED_TYPES
    if f.kptr == "percpu_kptr":
        return True
    if f.kptr != "kptr_ref":
        return False
    return not f.kernel or f.value_btf.type_by_id(f.value_btf_id).name in RCU_PROTECTED_TYPES


def _ld_kptr_type(env: Env, f: BtfField) -> int:
    """``btf_ld_kptr_type``: in an RCU section, an RCU-safe kptr loads as ``MEM_RCU`` (plus
    ``MEM_PERCPU``, or ``MEM_ALLOC`` for a local type, ``NON_OWN_REF`` when that type has a
    graph node; ``kptr_pointee_btf_record`` is NULL for kernel types); else untrusted."""
    from kernel_model.btf_record import struct_meta
    ret = PTR_MAYBE_NULL
    if _rcu_safe_kptr(f) and _in_rcu_cs(env):
        ret |= MEM_RCU
        if f.kptr == "percpu_kptr":
            ret |= MEM_PERCPU
        elif not f.kernel:
            ret |= MEM_ALLOC
        rec = None if f.kernel else struct_meta(f.value_btf, f.value_btf_id)
        if rec is not None and any(x.name in GRAPH_NODES for x in rec.fields):
            ret |= NON_OWN_REF
    else:
        ret |= PTR_UNTRUSTED
    return ret


def btf_is_kernel(env: Env, btf: Any) -> bool:
    """``btf_is_kernel``: vmlinux's BTF or a module's (split on it); a program's BTF is not."""
    return btf is not None and (btf is env.attr.vmlinux_btf or btf is env.attr.attach_btf
                                or getattr(btf, "base", None) is not None)


def _match_type(env: Env, f: BtfField, reg: RegState, regno: int) -> None:
    """``map_kptr_match_type``: the stored pointer's flags (kernel objects: trusted, RCU, and
    for an untrusted field untrusted ones; local objects: allocated), its fixed offset
    (``__check_ptr_off_reg``) and type (``btf_struct_ids_match``, strict for referenced
    fields)."""
    from .mem import check_ptr_off_reg
    btf = f.value_btf
    targ = btf.type_by_id(f.value_btf_id).name
    reg_name = ""
    ok = (reg.type & BASE_TYPE_MASK) == PTR_TO_BTF_ID
    if ok:
        if btf_is_kernel(env, reg.btf):
            perm = PTR_MAYBE_NULL | PTR_TRUSTED | MEM_RCU | (PTR_UNTRUSTED if f.kptr == "kptr_unref" else 0)
        else:
            perm = PTR_MAYBE_NULL | MEM_ALLOC | (MEM_PERCPU if f.kptr == "percpu_kptr" else 0)
        ok = not (reg.type & ~BASE_TYPE_MASK & ~perm) and (f.kptr == "percpu_kptr") == bool(reg.type & MEM_PERCPU)
        if ok and reg.btf is not None:
            reg_name = reg.btf.type_by_id(reg.btf_id).name
    if ok:
        check_ptr_off_reg(env, reg, regno, True)
        if f.kernel or btf_is_kernel(env, reg.btf):
            ok = btf_struct_ids_match(reg.btf, reg.btf_id, reg.off, btf, f.value_btf_id, f.kptr != "kptr_unref")
        else:
            # btf_struct_ids_match(strict for referenced kptrs): local types match by identity
            ok = reg.btf is btf and reg.btf_id == f.value_btf_id and (reg.off == 0 or f.kptr == "kptr_unref")
    if not ok:
        line = f"invalid kptr access, R{regno} type={reg_type_str(reg.type)}{reg_name} " \
               f"expected={reg_type_str(PTR_TO_BTF_ID)}{targ}"
        if f.kptr == "kptr_unref":
            line += f" or {reg_type_str(PTR_TO_BTF_ID | PTR_UNTRUSTED)}{targ}"
        raise env.reject(E.EACCES, line)


def check_map_kptr_access(env: Env, regs: list[RegState], regno: int, value_regno: int, insn_idx: int,
                          f: BtfField) -> None:
    """``check_map_kptr_access``."""
    from . import precision
    insn = env.insns[insn_idx]
    cls = insn.code & 0x07
    if (insn.code & 0xE0) != isa.MEM:
        raise env.reject(E.EACCES, "kptr in map can only be accessed using BPF_MEM instruction mode")
    if cls != isa.LDX and f.kptr in ("kptr_ref", "percpu_kptr"):
        raise env.reject(E.EACCES, "store to referenced kptr disallowed")
    if cls == isa.LDX:
        dst = regs[value_regno]
        mark_known_zero(dst)
        dst.type = PTR_TO_BTF_ID | _ld_kptr_type(env, f)
        dst.btf = f.value_btf
        dst.btf_id = f.value_btf_id
        dst.id = env.new_id()  # type_may_be_null: a fresh id
    elif cls == isa.STX:
        val = regs[value_regno]
        if register_is_null(val):
            precision.mark_chain_precision(env, value_regno)
            return
        _match_type(env, f, val, value_regno)
    elif cls == isa.ST:
        if insn.imm:
            raise env.reject(E.EACCES, f"BPF_ST imm must be 0 when storing to kptr at off={f.offset}")
    else:
        raise env.reject(E.EACCES, "kptr in map can only be accessed using BPF_LDX/BPF_STX/BPF_ST")


def _dest(env: Env, meta: Any) -> BtfField:
    """Argument 1 (``ARG_KPTR_XCHG_DEST``): ``check_reg_type``, ``check_func_arg_reg_off``,
    ``process_kptr_func``."""
    from kernel_model.btf_record import struct_meta
    from .graph import check_func_arg_reg_off, is_alloc
    from .core import SRC_OP
    regs = env.cur_regs()
    env.check_reg_arg(1, SRC_OP)
    reg = regs[1]
    if reg.type not in (PTR_TO_MAP_VALUE, PTR_TO_BTF_ID | MEM_ALLOC):
        raise env.reject(E.EACCES, f"R1 type={reg_type_str(reg.type)} expected=map_value, ptr_")
    check_func_arg_reg_off(env, reg, 1, False)
    if is_alloc(reg):
        rec = struct_meta(reg.btf, reg.btf_id)
    else:
        m = reg.map
        if not getattr(m, "has_btf", False):
            raise env.reject(E.EINVAL, f"map '{m.name}' has to have BTF in order to use bpf_kptr_xchg")
        rec = getattr(m, "record", None)
    if reg.var_off[1]:
        raise env.reject(E.EINVAL, "R1 doesn't have constant offset. kptr has to be at the constant offset")
    if rec is None or not any(f.kptr for f in rec.fields):
        raise env.reject(E.EINVAL, "R1 has no valid kptr")
    off = s64(reg.off + reg.var_off[0])
    f = kptr_field_at(rec, off)
    if f is None:
        raise env.reject(E.EACCES, f"off={off} doesn't point to kptr")
    if f.kptr not in ("kptr_ref", "percpu_kptr"):
        raise env.reject(E.EACCES, f"off={off} kptr isn't referenced kptr")
    return f


def check_kptr_xchg(env: Env, insn: DInsn) -> None:
    """``check_helper_call`` for ``bpf_kptr_xchg(void *dst, void *ptr)``."""
    from . import precision
    from .refs import for_each_reg_in_vstate, mark_reg_invalid, acquire_reference
    from .core import DST_OP_NO_MARK, SRC_OP
    regs = env.cur_regs()
    f = _dest(env, None)
    env.check_reg_arg(2, SRC_OP)
    src = regs[2]
    ref = 0
    if register_is_null(src):
        precision.mark_chain_precision(env, 2)
    else:
        t = src.type & ~PTR_MAYBE_NULL
        if t & MEM_ALLOC:
            t &= ~(MEM_ALLOC | MEM_PERCPU)
        if t not in (PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED, PTR_TO_BTF_ID | MEM_RCU):
            raise env.reject(E.EACCES, f"R2 type={reg_type_str(src.type)} expected=ptr_, trusted_ptr_, rcu_ptr_")
        if src.type & PTR_MAYBE_NULL and not src.type & MEM_ALLOC:
            # check_reg_type: the argument is released (OBJ_RELEASE), so never maybe-NULL
            raise env.reject(E.EACCES, "Possibly NULL pointer passed to helper arg2")
        _match_type(env, f, src, 2)
        from .graph import check_func_arg_reg_off
        check_func_arg_reg_off(env, src, 2, True)
        if not src.ref_obj_id:
            raise env.reject(E.EINVAL, "R2 must be referenced when passed to release function")
        ref = src.ref_obj_id
    if ref:
        # release_reference_nomark, then the copies: per-CPU ones in an RCU section become RCU
        # pointers, the others invalid
        st = env.cur
        before = len(st.refs)
        st.refs[:] = [r for r in st.refs if r.id != ref]
        if len(st.refs) == before:
            raise env.reject(E.EINVAL, f"func bpf_kptr_xchg#{BPF_FUNC_kptr_xchg} reference has not been acquired "
                                       "before")
        in_rcu = _in_rcu_cs(env)
        for reg in for_each_reg_in_vstate(st):
            if reg.ref_obj_id == ref:
                if in_rcu and reg.type & MEM_ALLOC and reg.type & MEM_PERCPU:
                    reg.ref_obj_id = 0
                    reg.type = (reg.type & ~MEM_ALLOC) | MEM_RCU
                else:
                    mark_reg_invalid(env, reg)
    env.aux[env.insn_idx].helper_id = BPF_FUNC_kptr_xchg
    for i in range(6):
        mark_not_init(regs[i], env.bpf_capable)
        env.check_reg_arg(i, DST_OP_NO_MARK)
    r0 = regs[0]
    r0.subreg_def = 0
    mark_known_zero(r0)
    # check_helper_call, RET_PTR_TO_BTF_ID of bpf_kptr_xchg: MEM_ALLOC (and MEM_PERCPU) only when
    # the field's type is not the kernel's
    r0.type = PTR_TO_BTF_ID | PTR_MAYBE_NULL
    if not f.kernel:
        r0.type |= MEM_ALLOC | (MEM_PERCPU if f.kptr == "percpu_kptr" else 0)
    r0.btf = f.value_btf
    r0.btf_id = f.value_btf_id
    r0.id = env.new_id()
    rid = acquire_reference(env, env.insn_idx)
    r0.id = rid
    r0.ref_obj_id = rid
