"""Helpers that take or return kernel objects by BTF id: local storage, ``bpf_find_vma``,
``bpf_task_pt_regs``, ``bpf_tcp_send_ack``, ``bpf_skc_to_mptcp_sock``.

The kernel describes such an argument as ``ARG_PTR_TO_BTF_ID`` with ``argN_btf_id``
naming the vmlinux struct it must point to (``btf_tracing_ids[BTF_TRACING_TYPE_TASK]``:
``struct task_struct``; ``bpf_cgroup_btf_id[0]``: ``struct cgroup``; ...), and
``check_reg_type`` (kernel/bpf/verifier.c, 6.12/6.18) checks it: the register must be a
plain, trusted or RCU ``PTR_TO_BTF_ID`` (``btf_ptr_types``: ``R%d type=%s expected=ptr_,
trusted_ptr_, rcu_ptr_``), not maybe-NULL unless the argument is
(``Possibly NULL pointer passed to helper arg%d``), and ``btf_struct_ids_match`` must find
the wanted struct at its offset (``R%d is of type %s but %s is expected``) -- see
:func:`check_btf_id_arg`.

Prototypes come from the kernel's initialisers (:mod:`kernel_model.bpf_facts.helper_protos`,
6.12 with the 6.18 edits): :data:`SYMBOLS` lists those the verifier checks, each with the
helper id it serves; the program type's ``get_func_proto`` (:mod:`verifier.helper_sets`)
names the symbol, including the ``_recur`` variants of the task storage helpers
(``bpf_prog_check_recur``: same arguments, a trylock at run time) and the tracing
variants of the socket storage helpers with their ``allowed`` callback
(``bpf_sk_storage_tracing_allowed``, net/core/bpf_sk_storage.c: ``helper call is not
allowed in probe`` outside raw tracepoints and iterators -- :func:`helper_allowed_in_prog`).

Where we differ: ``bpf_find_vma`` is checked at verification (its callback,
``set_find_vma_callback_state``) but has no run time in the emulated kernel; the local
storage helpers have no run time either (the emulated kernel has no task, cgroup, inode
or socket objects carrying storage), and ``do_misc_fixups``' GFP-flag argument inserted
before a storage ``get`` is not emitted.
"""

from __future__ import annotations

import errno as E
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from kernel_model.bpf_facts.helper_protos import PROTOS as FACT_PROTOS

from . import helpers as H
from . import regs as R
from .regs import OBJ_RELEASE, PTR_MAYBE_NULL, PTR_TO_BTF_ID, RegState
from .state import FuncState

if TYPE_CHECKING:
    from .calls import CallMeta
    from .core import Env

__all__ = ["SYMBOLS", "SOCK_STORAGE_SYMBOLS", "symbol_proto", "check_btf_id_arg", "helper_allowed_in_prog", "BTF_ID_STRUCTS",
           "BPF_FUNC_find_vma"]

#: kernel proto symbol (6.18) -> the helper id it serves, for the prototypes modelled here
SYMBOLS: Final[dict[str, int]] = {
    # kernel/bpf/bpf_task_storage.c
    "bpf_task_storage_get_proto": 156,
    "bpf_task_storage_get_recur_proto": 156,
    "bpf_task_storage_delete_proto": 157,
    "bpf_task_storage_delete_recur_proto": 157,
    # kernel/bpf/bpf_cgrp_storage.c
    "bpf_cgrp_storage_get_proto": 210,
    "bpf_cgrp_storage_delete_proto": 211,
    # kernel/bpf/bpf_inode_storage.c
    "bpf_inode_storage_get_proto": 145,
    "bpf_inode_storage_delete_proto": 146,
    # net/core/bpf_sk_storage.c: the tracing variants (a BTF pointer to sock_common)
    "bpf_sk_storage_get_tracing_proto": 107,
    "bpf_sk_storage_delete_tracing_proto": 108,
    # kernel/trace/bpf_trace.c
    "bpf_task_pt_regs_proto": 175,
    # kernel/bpf/task_iter.c
    "bpf_find_vma_proto": 180,
    # net/ipv4/bpf_tcp_ca.c
    "bpf_tcp_send_ack_proto": 116,
    # net/core/filter.c: a file's socket (struct socket: kernel_model.vmlinux_iter)
    "bpf_sock_from_file_proto": 162,
    # net/core/filter.c: a perf event output of a kernel skb (tracing programs)
    "bpf_skb_output_proto": 111,
}

#: the socket storage prototypes of the socket and packet types (a socket or a BTF
#: pointer to one: ``ARG_PTR_TO_BTF_ID_SOCK_COMMON``), which :mod:`verifier.sock_helpers` models
SOCK_STORAGE_SYMBOLS: Final = frozenset({"bpf_sk_storage_get_proto", "bpf_sk_storage_delete_proto"})

#: ``argN_btf_id`` / ``ret_btf_id`` as the initialisers write them -> the vmlinux struct
#: (include/linux/btf_ids.h BTF_TRACING_TYPE_xxx, BTF_SOCK_TYPE_xxx; the files' own
#: BTF_ID_LIST_SINGLE lists)
BTF_ID_STRUCTS: Final[dict[str, str]] = {
    "btf_tracing_ids[BTF_TRACING_TYPE_TASK]": "task_struct",
    "btf_tracing_ids[BTF_TRACING_TYPE_VMA]": "vm_area_struct",
    "bpf_cgroup_btf_id[0]": "cgroup",
    "bpf_inode_storage_btf_ids[0]": "inode",
    "btf_sock_ids[BTF_SOCK_TYPE_SOCK_COMMON]": "sock_common",
    "tcp_sock_id": "tcp_sock",
    "bpf_task_pt_regs_ids[0]": "pt_regs",
    # net/core/filter.c BTF_ID_LIST(bpf_sock_from_file_btf_ids): struct socket, struct file
    "bpf_sock_from_file_btf_ids[0]": "socket",
    "bpf_sock_from_file_btf_ids[1]": "file",
    # net/core/filter.c BTF_ID_LIST_SINGLE(bpf_skb_output_btf_ids, struct, sk_buff)
    "bpf_skb_output_btf_ids[0]": "sk_buff",
}

#: include/uapi/linux/bpf.h
BPF_FUNC_find_vma: Final = 180
_SK_STORAGE_IDS: Final = frozenset({107, 108})

_ARGS: Final = {"ARG_DONTCARE": H.ARG_DONTCARE, "ARG_CONST_MAP_PTR": H.ARG_CONST_MAP_PTR,
                "ARG_PTR_TO_BTF_ID": H.ARG_PTR_TO_BTF_ID, "ARG_PTR_TO_MAP_VALUE": H.ARG_PTR_TO_MAP_VALUE,
                "ARG_ANYTHING": H.ARG_ANYTHING, "ARG_PTR_TO_FUNC": H.ARG_PTR_TO_FUNC,
                "ARG_PTR_TO_STACK": H.ARG_PTR_TO_STACK, "ARG_PTR_TO_MEM": H.ARG_PTR_TO_MEM,
                "ARG_CONST_SIZE_OR_ZERO": H.ARG_CONST_SIZE_OR_ZERO}
_RETS: Final = {"RET_INTEGER": H.RET_INTEGER, "RET_PTR_TO_MAP_VALUE": H.RET_PTR_TO_MAP_VALUE,
                "RET_PTR_TO_BTF_ID": H.RET_PTR_TO_BTF_ID}


@lru_cache(maxsize=None)
def symbol_proto(symbol: str) -> H.FuncProto | None:
    """The verifier's prototype of the kernel initialiser ``symbol``; None if it is not
    one of :data:`SYMBOLS`."""
    if symbol not in SYMBOLS:
        return None
    p = FACT_PROTOS[symbol]
    args: list[int] = []
    btfs: list[str] = []
    for a in p.args:
        v = _ARGS[a.base]
        for f in a.flags:
            v |= getattr(R, f)
        args.append(v)
        btfs.append(BTF_ID_STRUCTS[a.btf_id] if a.base == "ARG_PTR_TO_BTF_ID" and a.btf_id else "")
    ret = _RETS[p.ret.base]
    for f in p.ret.flags:
        ret |= getattr(R, f)
    ret_btf = BTF_ID_STRUCTS[p.ret.btf_id] if p.ret.btf_id else ""
    name = (p.func or symbol).removeprefix("bpf_")
    return H.FuncProto(name, ret, tuple(args), p.gpl_only, p.might_sleep, p.pkt_access, ret_btf,
                       arg_btf=tuple(btfs), allowed=p.allowed or "")


def helper_allowed_in_prog(env: Env, allowed: str) -> bool:
    """The prototype's ``allowed`` callback (``check_helper_call``: ``helper call is not
    allowed in probe``). Only the socket storage tracing variants have one here:
    ``bpf_sk_storage_tracing_allowed`` (net/core/bpf_sk_storage.c, 6.12/6.18) lets raw
    tracepoints (tp_btf) and iterators use them, fentry/fexit programs unless they trace a
    ``bpf_sk_storage*`` function (not modelled: the model has no fentry), nothing else
    (a syscall program's attach type is none of these)."""
    if allowed != "bpf_sk_storage_tracing_allowed":  # no other callback is modelled: refuse
        return False
    from kernel_model.bpf_facts.enums import ATTACH_TYPES
    if env.attr.prog_type != 26:  # BPF_PROG_TYPE_TRACING
        return False
    return env.attr.expected_attach_type in (ATTACH_TYPES["BPF_TRACE_RAW_TP"], ATTACH_TYPES["BPF_TRACE_ITER"])


def check_btf_id_arg(env: Env, regno: int, reg: RegState, arg_type: int, arg_btf: str, meta: CallMeta) -> None:
    """``check_reg_type``'s ``PTR_TO_BTF_ID`` branch for an ``ARG_PTR_TO_BTF_ID`` argument of a
    helper other than ``bpf_kptr_xchg`` (kernel/bpf/verifier.c, 6.12/6.18): maybe-NULL
    only where the argument is, then the struct match (strict for a release argument)."""
    from .btf_ids_match import btf_struct_ids_match

    release = bool(arg_type & OBJ_RELEASE)
    if reg.type & PTR_MAYBE_NULL and (not arg_type & PTR_MAYBE_NULL or release):
        raise env.reject(E.EACCES, f"Possibly NULL pointer passed to helper arg{regno}")
    if not arg_btf:
        raise env.reject(E.EFAULT, "verifier internal error: missing arg compatible BTF ID")
    vml = env.attr.vmlinux_btf
    need = vml.find(arg_btf, 4) if vml is not None else None  # BTF_KIND_STRUCT
    if need is None:
        raise env.reject(E.EINVAL, f"helper argument struct {arg_btf} is not modelled by structops")
    if not btf_struct_ids_match(reg.btf, reg.btf_id, reg.off, vml, need, release):
        raise env.reject(E.EACCES, f"R{regno} is of type {reg.btf.type_by_id(reg.btf_id).name} but {arg_btf} "
                                   "is expected")


def set_find_vma_callback_state(env: Env, caller: FuncState, callee: FuncState, insn_idx: int, map_: Any) -> None:
    """``set_find_vma_callback_state`` (kernel/bpf/verifier.c, 6.12/6.18): the callback
    ``(task, vma, callback_ctx)`` gets the caller's task, a ``PTR_TO_BTF_ID`` (untrusted,
    read-only: no ``btf_struct_access`` for vm_area_struct) to ``struct vm_area_struct``
    and the caller's R4; it returns 0 or 1."""
    from .regs import mark_known_zero, mark_not_init

    cr = caller.regs
    ce = callee.regs
    ce[1].assign(cr[1])
    vml = env.attr.vmlinux_btf
    vma = vml.find("vm_area_struct", 4) if vml is not None else None
    if vma is None:
        raise env.reject(E.EINVAL, "helper bpf_find_vma: struct vm_area_struct is not modelled by structops")
    ce[2].type = PTR_TO_BTF_ID
    mark_known_zero(ce[2])
    ce[2].btf = vml
    ce[2].btf_id = vma
    ce[3].assign(cr[4])
    mark_not_init(ce[4], env.bpf_capable)
    mark_not_init(ce[5], env.bpf_capable)
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)
