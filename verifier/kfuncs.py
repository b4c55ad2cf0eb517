"""Kernel function (kfunc) calls: ``call`` with ``src_reg = BPF_PSEUDO_KFUNC_CALL``.

Models ``add_kfunc_call`` / ``find_kfunc_desc_btf`` (done before the walk, so
its messages come first in the log), ``fetch_kfunc_meta`` and a subset of
``check_kfunc_call`` / ``check_kfunc_args`` of kernel/bpf/verifier.c (Linux
6.18): the BTF id must name a FUNC of vmlinux (``off == 0``) or of the module
BTF at ``fd_array[off]``; the kfunc must be registered
(:class:`kernel_model.modules.KfuncTable`); scalar parameters take scalars,
pointer-to-struct parameters take a ``PTR_TO_BTF_ID`` of that struct or of one
that starts with it (``btf_struct_ids_match``); the
return value is a scalar, nothing (void), or a pointer to a struct
(``PTR_TO_BTF_ID``, maybe-NULL with ``KF_RET_NULL``, a new reference with
``KF_ACQUIRE``); ``KF_RELEASE`` releases the reference its argument holds and
invalidates every copy of the pointer.

Left out: the special kfunc families (dynptr, iterators, graph, RCU, arena,
``bpf_obj_new``), ``__sz``/``__k``/``__ign`` argument suffixes, and KF_TRUSTED_ARGS
strictness beyond the type match.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any

from kernel_model.btf import Composite, Enum, Enum64, Func, FuncProto, Int, Ptr

from .btf_ids_match import btf_struct_ids_match

if TYPE_CHECKING:
    from .core import Env
    from .decoded import DInsn

from .core import DST_OP_NO_MARK, SRC_OP
from .regs import (
    NOT_INIT, PTR_MAYBE_NULL, PTR_TO_BTF_ID, SCALAR_VALUE, base_type, mark_known_zero,
    mark_not_init, mark_unknown,
)
from .state import RefState

__all__ = ["resolve_kfunc", "check_kfunc_call"]


def resolve_kfunc(v: Env, insn: DInsn) -> Any:
    """``add_kfunc_call``: the KfuncEntry a kfunc call names, or a rejection."""
    env = v.attr
    if not env.gpl_compatible:
        raise v.reject(E.EINVAL, "cannot call kernel function from non-GPL compatible program")
    off = insn.off
    if off == 0:
        btf = env.vmlinux_btf if env.vmlinux_btf is not None else env.attach_btf
        if btf is not None and btf.base is not None:
            btf = btf.base
    else:
        if off < 0:
            raise v.reject(E.EINVAL, "negative offset disallowed for kernel module function call")
        if not env.fd_array:
            raise v.reject(E.EPROTO, "kfunc offset > 0 without fd_array is invalid")
        if off >= len(env.fd_array):
            raise v.reject(E.EFAULT, "invalid module BTF fd specified")
        btf = env.fd_array[off]
        if getattr(btf, "base", None) is None:
            raise v.reject(E.EINVAL, "BTF fd for kfunc is not a module BTF")
    func_id = insn.imm
    try:
        t = btf.type_by_id(func_id) if btf is not None else None
    except Exception:
        t = None
    if not isinstance(t, Func):
        raise v.reject(E.EINVAL, f"kernel btf_id {func_id & 0xFFFFFFFF} is not a function")
    proto = btf.type_by_id(t.type_id)
    if not isinstance(proto, FuncProto):
        raise v.reject(E.EINVAL, f"kernel function btf_id {func_id} does not have a valid func_proto")
    entry = env.kfuncs.find(btf, func_id) if env.kfuncs is not None else None
    if entry is None:
        raise v.reject(E.EINVAL, f"cannot find address for kernel function {t.name}")
    v.kfunc_names[(off, func_id)] = t.name
    return entry


def _is_scalar(btf: Any, tid: int) -> bool:
    t = btf.resolve(tid)
    return isinstance(t, (Int, Enum, Enum64))


def check_kfunc_call(v: Env, insn: DInsn) -> None:
    """``check_kfunc_call``: arguments, reference rules, then R0."""
    entry = resolve_kfunc(v, insn)
    btf = entry.btf
    func = btf.type_by_id(entry.btf_id)
    proto: FuncProto = btf.type_by_id(func.type_id)
    name = entry.name
    flags = entry.kfunc.flags
    regs = v.cur_regs()
    release_ref = 0
    if len(proto.params) > 5:
        raise v.reject(E.EINVAL, f"Function {name} has {len(proto.params)} > 5 args")
    for i, p in enumerate(proto.params):
        regno = i + 1
        v.check_reg_arg(regno, SRC_OP)
        reg = regs[regno]
        t = btf.resolve(p.type_id)
        if _is_scalar(btf, p.type_id):
            if reg.type != SCALAR_VALUE:
                raise v.reject(E.EINVAL, f"R{regno} is not a scalar")
            continue
        if not isinstance(t, Ptr):
            raise v.reject(E.EINVAL, f"Unrecognized arg#{i} type {t.kind_name}")
        pointee_id = btf.skip_modifiers(t.type_id)
        pointee = btf.type_by_id(pointee_id)
        if reg.type == SCALAR_VALUE and reg.var_off == (0, 0) and p.name.endswith("__nullable"):
            continue
        if isinstance(pointee, Composite):
            if base_type(reg.type) != PTR_TO_BTF_ID:
                raise v.reject(E.EINVAL, f"arg#{i} expected pointer to btf or socket")
            if reg.type & PTR_MAYBE_NULL:
                raise v.reject(E.EACCES, f"Possibly NULL pointer passed to trusted arg{i}")
            rname = v.btf_type_name(reg.btf, reg.btf_id)
            # process_kf_arg_ptr_to_btf_id: the struct or one it starts with (btf_struct_ids_match),
            # strict for a release kfunc given a reference; a __sk_buff-style projection is not modelled
            strict = "KF_RELEASE" in flags and bool(reg.ref_obj_id)
            if not btf_struct_ids_match(reg.btf, reg.btf_id, reg.off, btf, pointee_id, strict):
                raise v.reject(E.EINVAL, f"kernel function {name} args#{i} expected pointer to STRUCT "
                                         f"{pointee.name} but R{regno} has a pointer to STRUCT {rname}")
            if "KF_RELEASE" in flags and reg.ref_obj_id:
                release_ref = reg.ref_obj_id
            continue
        raise v.reject(E.EINVAL, f"arg#{i} pointer type {pointee.kind_name} {pointee.name} must point to scalar, "
                                 "or struct with scalar")
    if "KF_RELEASE" in flags:
        if not release_ref:
            raise v.reject(E.EINVAL, "release kernel function expects refcounted PTR_TO_BTF_ID")
        # release_reference(): every copy of the pointer becomes invalid (mark_reg_invalid:
        # an unknown scalar when pointer leaks are allowed, else NOT_INIT)
        st = v.cur
        st.refs = [r for r in st.refs if r.id != release_ref]
        for fr in st.frame:
            regs_and_spills = list(fr.regs) + [slot.spilled for slot in fr.stack if slot.types[7] == 1]
            for r in regs_and_spills:
                if r.ref_obj_id == release_ref:
                    if v.allow_ptr_leaks:
                        mark_unknown(r, v.bpf_capable)
                    else:
                        mark_not_init(r, v.bpf_capable)
    for i in range(6):
        mark_not_init(regs[i], v.bpf_capable)
        v.check_reg_arg(i, DST_OP_NO_MARK)
    r0 = regs[0]
    if proto.ret_type_id == 0:
        r0.type = NOT_INIT
    elif _is_scalar(btf, proto.ret_type_id):
        mark_unknown(r0, v.bpf_capable)
    else:
        rt = btf.resolve(proto.ret_type_id)
        if not isinstance(rt, Ptr):
            raise v.reject(E.EINVAL, f"kernel function {name} returns {rt.kind_name} which is not supported")
        pid = btf.skip_modifiers(rt.type_id)
        pt = btf.type_by_id(pid)
        if not isinstance(pt, Composite):
            mark_unknown(r0, v.bpf_capable)
        else:
            # a plain PTR_TO_BTF_ID ("ptr_"): referenced ones count as trusted (is_trusted_reg);
            # with KF_RET_NULL a fresh id, replaced by the reference id for KF_ACQUIRE
            # (the host prints R0=ptr_or_null_bpf_cpumask(id=2,ref_obj_id=2) refs=2)
            mark_known_zero(r0)
            r0.type = PTR_TO_BTF_ID
            r0.btf = btf
            r0.btf_id = pid
            if "KF_RET_NULL" in flags:
                r0.type |= PTR_MAYBE_NULL
                r0.id = v.new_id()
            if "KF_ACQUIRE" in flags:
                rid = v.new_id()
                v.cur.refs.append(RefState(rid, v.insn_idx))
                if "KF_RET_NULL" in flags:
                    r0.id = rid
                r0.ref_obj_id = rid
    r0.subreg_def = 0
    v.aux[v.insn_idx].kfunc = entry
    v.scratched_regs |= 1
