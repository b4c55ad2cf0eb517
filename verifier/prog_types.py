"""Program types: the verifier's per-type rules as one ops table per type.

The kernel keeps what differs between program types in tables reached from the
program: ``struct bpf_verifier_ops`` (include/linux/bpf.h: ``get_func_proto``,
``is_valid_access``, ``convert_ctx_access``, ...; one per type, listed in
include/linux/bpf_types.h) plus the per-type branches of
``check_attach_btf_id`` and ``check_return_code`` (kernel/bpf/verifier.c, Linux
6.18). :class:`ProgTypeOps` is that table for the model: the core
(:mod:`verifier.analyzer`, :mod:`verifier.calls`, :mod:`verifier.ctx`) only
calls through ``env.prog_ops``, so adding a program type is one entry in
:data:`PROG_TYPES` (``register_prog_type``) -- its attach check, its helper
set, its context rules and its return range -- not edits in the core.

Modelled: socket filters, syscall programs, struct_ops. Every other type is
refused with ``program type %d is not modelled`` (a model limit, exit status 3
in the CLI), never guessed.
"""

from __future__ import annotations

import errno as E
from dataclasses import dataclass
from typing import Callable, TYPE_CHECKING

# enum bpf_prog_type (include/uapi/linux/bpf.h), re-exported
from kernel_model.uapi import (PROG_TYPE_KPROBE, PROG_TYPE_PERF_EVENT, PROG_TYPE_RAW_TRACEPOINT,
                               PROG_TYPE_RAW_TRACEPOINT_WRITABLE, PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS,
                               PROG_TYPE_SYSCALL, PROG_TYPE_TRACEPOINT, PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT,
                               PROG_TYPE_XDP, PROG_TYPE_CGROUP_SKB, PROG_TYPE_TRACING)
from kernel_model.uapi import (PROG_TYPE_SK_SKB, PROG_TYPE_SK_MSG, PROG_TYPE_FLOW_DISSECTOR, PROG_TYPE_SK_REUSEPORT,
                               PROG_TYPE_LWT_IN, PROG_TYPE_LWT_OUT, PROG_TYPE_LWT_XMIT, PROG_TYPE_LWT_SEG6LOCAL,
                               PROG_TYPE_NETFILTER)


from kernel_model.insn import Insn

from kernel_model.bpf_facts.prog_types import return_range

from . import convert_ctx
from . import ctx as ctx_access
from . import helpers as H
from . import net_ctx, trace_helpers, tracing, tracing_btf
from . import btf_arg_helpers
from . import sock_ctx, sock_helpers
from .sock_ctx import (PROG_TYPE_CGROUP_DEVICE, PROG_TYPE_CGROUP_SOCK, PROG_TYPE_CGROUP_SOCK_ADDR,
                       PROG_TYPE_CGROUP_SOCKOPT, PROG_TYPE_CGROUP_SYSCTL, PROG_TYPE_SK_LOOKUP, PROG_TYPE_SOCK_OPS)
from . import pkt_helpers, skb_ctx, sockmap
from . import flow_dissector_ctx
from . import percpu_helpers
from . import xdp_ctx
from .helper_sets import MODELLED_SYMBOLS, allowed_protos, attach_type_name, prog_type_name

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["ProgTypeOps", "PROG_TYPES", "register_prog_type", "prog_type_ops", "UNMODELLED_HELPER",
           "PROG_TYPE_SOCKET_FILTER", "PROG_TYPE_STRUCT_OPS", "PROG_TYPE_SYSCALL"]


class _Unmodelled:
    """The answer of ``get_func_proto`` for a helper the type may call but whose
    prototype the model does not have (``helper ... is not modelled by structops``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNMODELLED_HELPER"


UNMODELLED_HELPER = _Unmodelled()



@dataclass(frozen=True, slots=True)
class ProgTypeOps:
    """What the verifier asks a program type (``struct bpf_verifier_ops`` and the per-type
    parts of ``check_attach_btf_id``/``check_return_code``).

    ``check_attach(env)`` validates the load's attach attributes and records the type's
    facts in the env (``allowed_helpers``, the attach BTF, ``retval_range``...), or
    rejects. ``get_func_proto(env, func_id)`` answers a helper call.
    ``is_valid_access(env, insn_idx, off, size, atype, is_ldsx)`` is a context access's
    (register type, btf, btf_id), or None for ``invalid bpf_context access``.
    ``convert_ctx_access(insn)`` is the type's rewrite of one accepted context load or
    store into accesses of the kernel's own structure (:mod:`verifier.convert_ctx`);
    None where the kernel's ops have none (struct_ops, syscall: the context is read as
    it is, and ``convert_ctx_accesses`` leaves those accesses alone, as the kernel does)."""

    name: str
    check_attach: Callable[[Env], None]
    get_func_proto: Callable[[Env, int], H.FuncProto | _Unmodelled | None]
    is_valid_access: Callable[[Env, int, int, int, int, bool], CtxAccess | None]
    convert_ctx_access: Callable[[Insn], list[Insn]] | None = None


def helpers_from_set(env: Env, func_id: int) -> H.FuncProto | _Unmodelled | None:
    """``get_func_proto`` of a type whose helpers are ``env.allowed_helpers`` (decided by
    its attach check), with the prototypes of :data:`verifier.helpers.PROTOS`."""
    if func_id not in env.allowed_helpers:
        return None
    return H.PROTOS.get(func_id) or UNMODELLED_HELPER


def helpers_from_facts(env: Env, func_id: int) -> H.FuncProto | _Unmodelled | None:
    """``get_func_proto`` evaluated from the kernel's decision trees
    (:mod:`verifier.helper_sets`, recorded in ``env.helper_protos`` by the attach
    check): None where the kernel refuses the helper; the modelled prototype where the
    kernel hands back the proto symbol it models; otherwise not modelled."""
    sym = env.helper_protos.get(func_id)
    if sym is None:
        return None
    # a proto symbol is one prototype whichever type's get_func_proto returns it (the
    # kernel's ``const struct bpf_func_proto`` objects are shared): every table of
    # modelled symbols answers for every type (socket pointers, string parsing, ...)
    sock = sock_helpers.symbol_proto(sym)
    if sock is not None:
        return sock
    p = pkt_helpers.proto_for_symbol(sym) or sockmap.proto_for_symbol(sym)
    if p is not None:
        return p
    if btf_arg_helpers.SYMBOLS.get(sym) == func_id:  # kernel objects by BTF id (local storage...)
        return btf_arg_helpers.symbol_proto(sym)
    p = percpu_helpers.proto_for_symbol(sym)  # bpf_per_cpu_ptr, bpf_this_cpu_ptr
    if p is not None and percpu_helpers.PERCPU_SYMBOLS[sym] == func_id:
        return p
    if MODELLED_SYMBOLS.get(sym) != func_id:
        from .bpf_iter import symbol_proto as iter_symbol_proto  # the iterators' seq_file helpers
        return trace_helpers.symbol_proto(sym, func_id) or iter_symbol_proto(sym, func_id) or UNMODELLED_HELPER
    return H.PROTOS[func_id]


def helpers_struct_ops(env: Env, func_id: int) -> H.FuncProto | _Unmodelled | None:
    """``get_func_proto`` of a struct_ops program: the subsystem's helper set (decided per
    member by the attach check), with the subsystem's own prototypes by kernel symbol
    (:attr:`kernel_model.struct_ops.VerifierPolicy.helper_symbols`) and the base ones of
    :data:`verifier.helpers.PROTOS`."""
    if func_id not in env.allowed_helpers:
        return None
    policy = env.struct_ops_policy
    sym = dict(policy.helper_symbols).get(func_id) if policy is not None else None
    if sym is not None:
        return btf_arg_helpers.symbol_proto(sym) or sock_helpers.symbol_proto(sym) or UNMODELLED_HELPER
    return H.PROTOS.get(func_id) or UNMODELLED_HELPER


def helpers_syscall(env: Env, func_id: int) -> H.FuncProto | _Unmodelled | None:
    """``syscall_prog_func_proto``'s answer: the helper set read off the host
    (:data:`verifier.helpers.SYSCALL_HELPERS`) with :data:`verifier.helpers.PROTOS`; for the
    helpers taking kernel objects by BTF id, the prototype its fallback
    (``tracing_prog_func_proto``) hands out, named by the kernel's decision tree (the task
    storage ``_recur`` variants, socket storage's tracing variants ...)."""
    p = helpers_from_set(env, func_id)
    if p is UNMODELLED_HELPER:
        a = env.attr
        sym = allowed_protos(a.prog_type, a.expected_attach_type, a.sleepable, a.privileged, a.lockdown).get(func_id)
        if sym is not None and btf_arg_helpers.SYMBOLS.get(sym) == func_id:
            return btf_arg_helpers.symbol_proto(sym)
    return p


def _sleepable_check(env: Env, can_sleep: bool) -> None:
    """``check_attach_btf_id``: ``can_be_sleepable`` (kernel/bpf/verifier.c, 6.18): of the
    types modelled here only kprobes (for uprobes) and struct_ops may be sleepable."""
    if env.attr.sleepable and not can_sleep:
        raise env.reject(E.EINVAL, "Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs "
                                   "can be sleepable")


def _facts_attach(can_sleep: bool) -> Callable[[Env], None]:
    """The attach check of a type without attach BTF: the sleepable rule, the helper set
    of its ``get_func_proto`` for this load, and ``check_return_code``'s range for it
    (:func:`kernel_model.bpf_facts.prog_types.return_range`)."""
    def attach(env: Env) -> None:
        a = env.attr
        _sleepable_check(env, can_sleep)
        env.helper_protos = allowed_protos(a.prog_type, a.expected_attach_type, a.sleepable, a.privileged, a.lockdown)
        env.allowed_helpers = frozenset(env.helper_protos)
        env.retval_range = return_range(prog_type_name(a.prog_type), attach_type_name(a.expected_attach_type))
    return attach


def _refuse_all(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    return None


def _no_helpers(env: Env, func_id: int) -> H.FuncProto | _Unmodelled | None:
    return None




def _syscall_attach(env: Env) -> None:
    """check_attach_btf_id (kernel/bpf/verifier.c, 6.12/6.18): the first rule."""
    if not env.attr.sleepable:
        raise env.reject(E.EINVAL, "Syscall programs can only be sleepable")
    env.allowed_helpers = H.SYSCALL_HELPERS
    if not env.attr.privileged:
        # syscall_prog_func_proto (kernel/bpf/syscall.c, 6.12/6.18): bpf_sys_bpf only for a
        # loader with CAP_PERFMON (bpf_token_capable)
        env.allowed_helpers = H.SYSCALL_HELPERS - {166}


def _struct_ops_attach(env: Env) -> None:
    from .struct_ops import check_struct_ops_btf_id

    check_struct_ops_btf_id(env)


def _not_modelled(prog_type: int) -> ProgTypeOps:
    def attach(env: Env) -> None:
        raise env.reject(E.EINVAL, f"program type {prog_type} is not modelled")
    return ProgTypeOps(f"prog type {prog_type}", attach, _no_helpers, _refuse_all)


#: prog type -> its ops (the model's include/linux/bpf_types.h)
PROG_TYPES: dict[int, ProgTypeOps] = {
    PROG_TYPE_SOCKET_FILTER: ProgTypeOps("socket_filter", _facts_attach(False), helpers_from_facts,
                                         ctx_access.sk_filter_access, convert_ctx.convert_sk_filter_access),
    PROG_TYPE_SYSCALL: ProgTypeOps("syscall", _syscall_attach, helpers_syscall, ctx_access.syscall_access),
    PROG_TYPE_STRUCT_OPS: ProgTypeOps("struct_ops", _struct_ops_attach, helpers_struct_ops,
                                      ctx_access.struct_ops_access),
    # kernel/trace/bpf_trace.c: kprobe_verifier_ops, tracepoint_verifier_ops,
    # raw_tracepoint_verifier_ops, raw_tracepoint_writable_verifier_ops, perf_event_verifier_ops
    PROG_TYPE_KPROBE: ProgTypeOps("kprobe", _facts_attach(True), helpers_from_facts, tracing.kprobe_access),
    PROG_TYPE_TRACEPOINT: ProgTypeOps("tracepoint", _facts_attach(False), helpers_from_facts, tracing.tp_access),
    PROG_TYPE_RAW_TRACEPOINT: ProgTypeOps("raw_tracepoint", _facts_attach(False), helpers_from_facts,
                                          tracing.raw_tp_access),
    PROG_TYPE_RAW_TRACEPOINT_WRITABLE: ProgTypeOps("raw_tracepoint_writable", _facts_attach(False),
                                                   helpers_from_facts, tracing.raw_tp_writable_access),
    PROG_TYPE_PERF_EVENT: ProgTypeOps("perf_event", _facts_attach(False), helpers_from_facts, tracing.pe_access,
                                      tracing.convert_pe_access),
    # net/core/filter.c: tc_cls_act_verifier_ops (sched_cls, sched_act), xdp_verifier_ops,
    # cg_skb_verifier_ops
    PROG_TYPE_SCHED_CLS: ProgTypeOps("sched_cls", _facts_attach(False), helpers_from_facts,
                                     net_ctx.tc_cls_act_access),
    PROG_TYPE_SCHED_ACT: ProgTypeOps("sched_act", _facts_attach(False), helpers_from_facts,
                                     net_ctx.tc_cls_act_access),
    PROG_TYPE_XDP: ProgTypeOps("xdp", _facts_attach(False), helpers_from_facts, net_ctx.xdp_access,
                               xdp_ctx.convert_xdp_access),
    PROG_TYPE_CGROUP_SKB: ProgTypeOps("cgroup_skb", _facts_attach(False), helpers_from_facts,
                                      net_ctx.cg_skb_access),
    # net/core/filter.c: sk_skb_verifier_ops, sk_msg_verifier_ops, flow_dissector_verifier_ops,
    # sk_reuseport_verifier_ops, lwt_{in,out,xmit,seg6local}_verifier_ops;
    # net/netfilter/nf_bpf_link.c: netfilter_verifier_ops (verifier.skb_ctx)
    PROG_TYPE_SK_SKB: ProgTypeOps("sk_skb", _facts_attach(False), helpers_from_facts, skb_ctx.sk_skb_access),
    PROG_TYPE_SK_MSG: ProgTypeOps("sk_msg", _facts_attach(False), helpers_from_facts, skb_ctx.sk_msg_access),
    PROG_TYPE_FLOW_DISSECTOR: ProgTypeOps("flow_dissector", _facts_attach(False), helpers_from_facts,
                                          skb_ctx.flow_dissector_access,
                                          flow_dissector_ctx.convert_flow_dissector_access),
    PROG_TYPE_SK_REUSEPORT: ProgTypeOps("sk_reuseport", _facts_attach(False), helpers_from_facts,
                                        skb_ctx.sk_reuseport_access),
    PROG_TYPE_LWT_IN: ProgTypeOps("lwt_in", _facts_attach(False), helpers_from_facts, skb_ctx.lwt_access),
    PROG_TYPE_LWT_OUT: ProgTypeOps("lwt_out", _facts_attach(False), helpers_from_facts, skb_ctx.lwt_access),
    PROG_TYPE_LWT_XMIT: ProgTypeOps("lwt_xmit", _facts_attach(False), helpers_from_facts, skb_ctx.lwt_access),
    PROG_TYPE_LWT_SEG6LOCAL: ProgTypeOps("lwt_seg6local", _facts_attach(False), helpers_from_facts,
                                         skb_ctx.lwt_access),
    PROG_TYPE_NETFILTER: ProgTypeOps("netfilter", _facts_attach(False), helpers_from_facts, skb_ctx.nf_access),
}
# kernel/trace/bpf_trace.c tracing_verifier_ops (BPF_PROG_TYPE_TRACING, 26): tp_btf only
# (verifier.tracing_btf)
PROG_TYPES[PROG_TYPE_TRACING] = ProgTypeOps("tracing", tracing_btf.check_tracing_attach, helpers_from_facts,
                                            tracing_btf.tracing_access)


def register_prog_type(prog_type: int, ops: ProgTypeOps) -> None:
    """Add (or replace) a program type's rules."""
    PROG_TYPES[prog_type] = ops


def prog_type_ops(prog_type: int) -> ProgTypeOps:
    """The type's ops; for a type the model does not have, ops whose attach check
    refuses the load (``program type %d is not modelled``)."""
    return PROG_TYPES.get(prog_type) or _not_modelled(prog_type)


# --- the socket and cgroup program types (net/core/filter.c, kernel/bpf/cgroup.c, 6.18) ----------
def helpers_by_symbol(env: Env, func_id: int) -> H.FuncProto | _Unmodelled | None:
    """``get_func_proto`` of a type whose helpers take per-type prototypes (``bpf_setsockopt``
    is a different initialiser for sock_addr, sock_ops, sockopt): the kernel's decision tree
    names the symbol, :data:`verifier.sock_helpers.SYMBOL_PROTOS` gives its prototype; the
    symbols :func:`helpers_from_facts` models come from there; any other is not modelled."""
    sym = env.helper_protos.get(func_id)
    if sym is None:
        return None
    proto = sock_helpers.symbol_proto(sym)
    if proto is not None:
        return proto
    return helpers_from_facts(env, func_id)


# include/linux/bpf_types.h: cg_sock_addr, cg_sock, sock_ops, cg_sockopt, cg_sysctl, cg_dev, sk_lookup
PROG_TYPES.update({
    PROG_TYPE_CGROUP_SOCK_ADDR: ProgTypeOps("cgroup_sock_addr", _facts_attach(False), helpers_by_symbol,
                                            sock_ctx.sock_addr_access),
    PROG_TYPE_CGROUP_SOCK: ProgTypeOps("cgroup_sock", _facts_attach(False), helpers_by_symbol, sock_ctx.sock_access),
    PROG_TYPE_SOCK_OPS: ProgTypeOps("sock_ops", _facts_attach(False), helpers_by_symbol, sock_ctx.sock_ops_access),
    PROG_TYPE_CGROUP_SOCKOPT: ProgTypeOps("cgroup_sockopt", _facts_attach(False), helpers_by_symbol,
                                          sock_ctx.sockopt_access),
    PROG_TYPE_CGROUP_SYSCTL: ProgTypeOps("cgroup_sysctl", _facts_attach(False), helpers_by_symbol,
                                         sock_ctx.sysctl_access),
    PROG_TYPE_CGROUP_DEVICE: ProgTypeOps("cgroup_device", _facts_attach(False), helpers_by_symbol,
                                         sock_ctx.cgroup_dev_access),
    PROG_TYPE_SK_LOOKUP: ProgTypeOps("sk_lookup", _facts_attach(False), helpers_by_symbol,
                                     sock_ctx.sk_lookup_access, sock_ctx.convert_sk_lookup_access),
})


# --- BPF_PROG_TYPE_LIRC_MODE2 (drivers/media/rc/bpf-lirc.c lirc_mode2_verifier_ops: verifier.lirc) ----
def helpers_lirc_mode2(env: Env, func_id: int) -> H.FuncProto | _Unmodelled | None:
    """``lirc_mode2_func_proto``: the rc_* helpers' own prototypes, the rest as
    :func:`helpers_from_facts` gives them."""
    from . import lirc
    sym = env.helper_protos.get(func_id)
    own = lirc.symbol_proto(sym) if sym is not None else None
    return own if own is not None else helpers_from_facts(env, func_id)


def _register_lirc_mode2() -> None:
    from . import lirc
    register_prog_type(lirc.PROG_TYPE_LIRC_MODE2, ProgTypeOps("lirc_mode2", _facts_attach(False),
                                                               helpers_lirc_mode2, lirc.lirc_mode2_access))


_register_lirc_mode2()
# --- convert_ctx_access of the __sk_buff program types that test-run (net/core/filter.c, 6.18):
# tc_cls_act_convert_ctx_access (sched_cls, sched_act), bpf_convert_ctx_access (cgroup_skb, lwt_*)
def _with_convert(prog_type: int, convert: Callable[[Insn], list[Insn]]) -> None:
    o = PROG_TYPES[prog_type]
    PROG_TYPES[prog_type] = ProgTypeOps(o.name, o.check_attach, o.get_func_proto, o.is_valid_access, convert)


for _t in (PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT):
    _with_convert(_t, convert_ctx.convert_tc_access)
for _t in (PROG_TYPE_CGROUP_SKB, PROG_TYPE_LWT_IN, PROG_TYPE_LWT_OUT, PROG_TYPE_LWT_XMIT, PROG_TYPE_LWT_SEG6LOCAL):
    _with_convert(_t, convert_ctx.convert_skb_ctx_access)
