"""``BPF_PROG_TYPE_TRACING`` programs of the BTF-enabled raw tracepoints (``tp_btf``).

What the 6.18 verifier does for ``expected_attach_type == BPF_TRACE_RAW_TP``:

* ``check_attach_btf_id`` -> ``bpf_check_attach_target`` (kernel/bpf/verifier.c): the
  ``attach_btf_id`` must name a typedef ``btf_trace_<tp>`` of the attach BTF (vmlinux
  when no ``attach_btf_obj_fd``); the tracepoint must be registered
  (``bpf_get_raw_tracepoint``, else -EINVAL with no message); its arguments come from
  the template's probe function ``__bpf_trace_<template>`` (named parameters), or, when
  that is not in BTF, from the typedef ("Cannot find btf of tracepoint template, fall
  back to btf_trace_<tp>.");
* ``tracing_prog_is_valid_access`` = ``bpf_tracing_ctx_access`` + ``btf_ctx_access``
  (kernel/bpf/btf.c): the context is the u64 argument array; the first prototype
  argument (``void *__data``) is skipped; scalars read as scalars, ``void *`` and
  pointers to ints as scalars, pointers to structs as ``PTR_TO_BTF_ID | PTR_TRUSTED``
  (``prog_args_trusted``) with ``PTR_MAYBE_NULL`` for a ``__nullable`` name or a
  tracepoint of ``raw_tp_null_args`` (and an ``IS_ERR`` one read as a scalar), ``MEM_USER``
  / ``MEM_PERCPU`` from a ``user``/``percpu`` type tag; the log line ``func '%s' arg%d has
  btf_id %d type STRUCT '%s'``;
* ``tracing_prog_func_proto`` for the helpers (the decision trees of
  :mod:`kernel_model.bpf_facts`); ``check_return_code``: any value.

Not modelled (refused with "not modelled", exit 3): fentry, fexit, fmod_ret (the 6.18
host's policy refuses them with EPERM before the verifier), iterators (``iter/``:
their targets' contexts and seq_file helpers), ``freplace``; tracepoints of a module
(their arguments are then conservatively maybe-NULL: not needed by the emulated modules).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Final

from kernel_model.btf import structs as BS
from kernel_model.btf.types import Enum, Enum64, FuncProto, Int, Ptr, TypeTag
from kernel_model.tracepoints import template_of

from .ctx import _arg_index
from .regs import MEM_PERCPU, MEM_USER, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TRUSTED, SCALAR_VALUE

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["BPF_TRACE_RAW_TP", "BPF_TRACE_ITER", "check_tracing_attach", "tracing_access", "RAW_TP_NULL_ARGS"]

#: enum bpf_attach_type (include/uapi/linux/bpf.h)
BPF_TRACE_RAW_TP: Final = 23
BPF_TRACE_FENTRY: Final = 24
BPF_TRACE_FEXIT: Final = 25
BPF_MODIFY_RETURN: Final = 26
BPF_TRACE_ITER: Final = 28
_NAMES: Final = {BPF_TRACE_FENTRY: "fentry", BPF_TRACE_FEXIT: "fexit", BPF_MODIFY_RETURN: "fmod_ret",
                 BPF_TRACE_ITER: "iterator"}
#: include/linux/bpf.h MAX_BPF_FUNC_ARGS
MAX_BPF_FUNC_ARGS: Final = 12
_PREFIX: Final = "btf_trace_"

#: ``raw_tp_null_args`` (kernel/bpf/btf.c, 6.14+; 6.18): per tracepoint, 4 bits per argument
#: (0-based, ``__data`` not counted): 0x1 the argument may be NULL, 0x2 it may be an
#: ``ERR_PTR``. Only the entries for tracepoints the emulated kernel has matter; none of
#: :data:`kernel_model.tracepoints.TRACEPOINTS` is in the kernel's table (``kfree_skb``,
#: 0x1000, is, and is not emulated). Kept as the lookup the kernel does, so a tracepoint
#: added to the emulated kernel gets its NULL-ness from here.
RAW_TP_NULL_ARGS: Final[dict[str, int]] = {
    "sched_pi_setprio": 0x10, "sched_stick_numa": 0x100, "sched_swap_numa": 0x100,
    "kfree_skb": 0x1000, "tcp_send_reset": 0x11, "tcp_sendmsg_locked": 0x100,
}


def ctx_arg_head(env: Env, btf: Any, tname: str, arg: int, type_id: int, size: int) -> CtxAccess | Ptr | None:
    """``btf_ctx_access`` (kernel/bpf/btf.c, 6.12/6.18) for argument ``arg`` of ``tname`` of
    type ``type_id``, up to the pointer walk: a small int, any enum or a struct reads as a
    scalar; any other non-pointer is refused; a pointer is read whole (8 bytes), and ``void *``
    and int pointers read as scalars. Returns the answer (None: refused, logged), or the
    pointer for the caller to type (tp_btf, iterators)."""
    t = btf.resolve(type_id)
    if (isinstance(t, Int) and t.size <= 8) or isinstance(t, (Enum, Enum64)) \
            or t.kind in (BS.KIND_STRUCT, BS.KIND_UNION):  # btf_type_is_small_int, any enum, struct
        return SCALAR_VALUE, None, 0
    if not isinstance(t, Ptr):
        env.verbose(f"func '{tname}' arg{arg} '{t.name}' has type {t.kind_name}. Only pointer access is "
                    "allowed\n")
        return None
    if size != 8:
        env.verbose(f"func '{tname}' size {size} must be 8\n")
        return None
    if t.type_id == 0:  # void *: a scalar, no walking
        return SCALAR_VALUE, None, 0
    if isinstance(btf.resolve(t.type_id), Int):  # is_int_ptr
        return SCALAR_VALUE, None, 0
    return t


def ctx_arg_struct(env: Env, btf: Any, tname: str, arg: int, ptr: Ptr) -> tuple[int, int] | None:
    """``btf_ctx_access``'s end for a pointer argument: the ``user``/``percpu`` type tag's
    register flag (MEM_USER, MEM_PERCPU), then the pointee past modifiers, which must be a
    struct or union (logged as the kernel does); (its BTF id, the flags), or None."""
    flags = 0
    bid = ptr.type_id
    nt = btf.type_by_id(bid)
    if isinstance(nt, TypeTag):
        if nt.name == "user":
            flags |= MEM_USER
        elif nt.name == "percpu":
            flags |= MEM_PERCPU
    while nt.kind in BS.MODIFIER_KINDS:
        bid = nt.type_id
        nt = btf.type_by_id(bid)
    if nt.kind not in (BS.KIND_STRUCT, BS.KIND_UNION):
        env.verbose(f"func '{tname}' arg{arg} type {nt.kind_name} is not a struct\n")
        return None
    env.verbose(f"func '{tname}' arg{arg} has btf_id {bid} type {nt.kind_name} '{nt.name}'\n")
    return bid, flags


def attach_btf_type(env: Env, what: str) -> Any:
    """``check_attach_btf_id``'s first steps for a program attaching by BTF id
    (kernel/bpf/verifier.c, 6.12/6.18): a btf_id is given, the attach BTF exists (else the
    FENTRY/FEXIT message the kernel prints for every such type), the type is valid; returns
    it. A module's ``what`` (tracepoint, iterator target) is not modelled."""
    a = env.attr
    btf_id = a.attach_btf_id
    if not btf_id:
        raise env.reject(E.EINVAL, "Tracing programs must provide btf_id")
    btf = a.attach_btf
    if btf is None:
        raise env.reject(E.EINVAL, "FENTRY/FEXIT program can only be attached to another program annotated "
                                   "with BTF")
    if btf is not a.vmlinux_btf:
        raise env.reject(E.EINVAL, f"a module's {what} is not modelled by structops")
    try:
        t = btf.type_by_id(btf_id)
    except Exception:
        t = None
    if t is None:
        raise env.reject(E.EINVAL, f"attach_btf_id {btf_id} is invalid")
    return t


def check_tracing_attach(env: Env) -> None:
    """``check_attach_btf_id`` for a tracing program (see the module docstring)."""
    from kernel_model.bpf_facts.prog_types import return_range

    from .helper_sets import allowed_protos, attach_type_name, prog_type_name

    a = env.attr
    eat = a.expected_attach_type
    if eat == BPF_TRACE_ITER:
        from .bpf_iter import check_iter_attach
        check_iter_attach(env)
        return
    if eat != BPF_TRACE_RAW_TP:
        what = _NAMES.get(eat, f"attach type {eat}")
        raise env.reject(E.EINVAL, f"the tracing attach type {what} is not modelled by structops")
    if a.sleepable:
        raise env.reject(E.EINVAL, "Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs "
                                   "can be sleepable")
    btf_id = a.attach_btf_id
    t = attach_btf_type(env, "tracepoint")
    btf = a.attach_btf
    tname = t.name
    if t.kind != BS.KIND_TYPEDEF:
        raise env.reject(E.EINVAL, f"attach_btf_id {btf_id} is not a typedef")
    if not tname.startswith(_PREFIX):
        raise env.reject(E.EINVAL, f"attach_btf_id {btf_id} points to wrong type name {tname}")
    tp = tname[len(_PREFIX):]
    if template_of(tp) is None:  # bpf_get_raw_tracepoint() finds nothing: -EINVAL, no message
        raise env.reject(E.EINVAL)
    fname = template_of(tp)
    fid = btf.find(fname, BS.KIND_FUNC) if fname else None
    if fid is None:
        env.verbose(f"Cannot find btf of tracepoint template, fall back to {_PREFIX}{tp}.\n")
        ptr = btf.type_by_id(t.type_id)
        if ptr.kind != BS.KIND_PTR:
            raise env.reject(E.EINVAL)
        proto = btf.type_by_id(ptr.type_id)
    else:
        proto = btf.type_by_id(btf.type_by_id(fid).type_id)
    if not isinstance(proto, FuncProto):
        raise env.reject(E.EINVAL)
    env.attach_btf = btf
    env.attach_func_proto = proto
    env.attach_func_name = tp
    env.helper_protos = allowed_protos(a.prog_type, eat, a.sleepable, a.privileged, a.lockdown)
    env.allowed_helpers = frozenset(env.helper_protos)
    env.retval_range = return_range(prog_type_name(a.prog_type), attach_type_name(eat))


def tracing_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``tracing_prog_is_valid_access`` for a tp_btf program (see the module docstring)."""
    if off < 0 or off >= 8 * MAX_BPF_FUNC_ARGS or atype != 1 or off % size:  # bpf_tracing_ctx_access
        return None
    if env.attr.expected_attach_type == BPF_TRACE_ITER:
        from .bpf_iter import iter_ctx_access
        return iter_ctx_access(env, insn_idx, off, size, atype, is_ldsx)
    btf: Any = env.attach_btf
    proto: FuncProto = env.attach_func_proto
    tname = env.attach_func_name
    if off % 8:
        env.verbose(f"func '{tname}' offset {off} is not multiple of 8\n")
        return None
    arg = _arg_index(btf, proto, off)
    params = proto.params[1:]  # attach_btf_trace: skip 'void *__data'
    nr = len(params)
    if arg >= nr:  # arg == nr_args reaches the return value only for fexit/fmod_ret/lsm
        env.verbose(f"func '{tname}' doesn't have {arg + 1}-th argument\n")
        return None
    param = params[arg]
    t = ctx_arg_head(env, btf, tname, arg, param.type_id, size)
    if not isinstance(t, Ptr):
        return t
    rtype = PTR_TO_BTF_ID | PTR_TRUSTED  # prog_args_trusted: BPF_TRACE_RAW_TP
    if param.name.endswith("__nullable"):
        rtype |= PTR_MAYBE_NULL
    mask = RAW_TP_NULL_ARGS.get(tname, 0)
    if mask & (0x1 << (arg * 4)):
        rtype |= PTR_MAYBE_NULL
    ptr_err = bool(mask & (0x2 << (arg * 4)))
    found = ctx_arg_struct(env, btf, tname, arg, t)
    if found is None:
        return None
    bid, tag_flags = found
    rtype |= tag_flags
    if ptr_err:
        env.verbose(f"marking pointer arg{arg} as scalar as it may encode error")
        return SCALAR_VALUE, None, 0
    return rtype, btf, bid
