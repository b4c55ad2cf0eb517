"""Socket pointers at helper calls: the socket argument kinds, the socket return types, and
the references socket lookups take.

Models, from kernel/bpf/verifier.c (Linux 6.18):

* ``compatible_reg_types[]`` for ``ARG_PTR_TO_SOCK_COMMON`` (``sock_types``: sock_common,
  sock, tcp_sock, xdp_sock), ``ARG_PTR_TO_SOCKET`` (``fullsock_types``: sock) and
  ``ARG_PTR_TO_BTF_ID_SOCK_COMMON`` (``btf_id_sock_common_types``: those four and a BTF
  pointer, plain or trusted, to a struct that starts with ``struct sock_common``);
* ``check_reg_type``'s BTF branch for that last kind: ``Possibly NULL pointer passed to
  helper arg%d`` for a maybe-NULL pointer, ``R%d is of type %s but %s is expected``
  when ``btf_struct_ids_match`` (:mod:`verifier.btf_ids_match`) fails; strict for a
  release argument except ``bpf_sk_release``'s;
* (``bpf_sk_release``'s ``OBJ_RELEASE`` argument is released by :mod:`verifier.calls`, as
  every release argument: ``R%d must be referenced when passed to release function``,
  ``func %s#%d reference has not been acquired before``);
* the ``RET_PTR_TO_SOCKET`` / ``RET_PTR_TO_SOCK_COMMON`` / ``RET_PTR_TO_TCP_SOCK``
  returns (with ``PTR_MAYBE_NULL``);
* ``is_acquire_function`` for the socket lookups (``bpf_sk_lookup_tcp``,
  ``bpf_sk_lookup_udp``, ``bpf_skc_lookup_tcp``: R0 holds a new reference, its id and
  ``ref_obj_id``) and ``is_ptr_cast_function`` (``bpf_tcp_sock``, ``bpf_sk_fullsock``,
  ``bpf_skc_to_*``: R0 carries the argument's ``ref_obj_id``).

* ``is_acquire_function``'s map case: ``bpf_map_lookup_elem`` of a sockmap or sockhash
  (:func:`verifier.sockmap.is_sockmap_lookup`) acquires a reference too.

Not here: the other acquiring helpers (``bpf_ringbuf_reserve``: :mod:`verifier.calls`,
``bpf_kptr_xchg``: :mod:`verifier.kptrs`).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Final

from . import helpers as H
from . import regs as R
from .regs import (MEM_RCU, OBJ_RELEASE, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET,
                   PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK, PTR_TRUSTED, RegState, mark_known_zero)
from .sockmap import is_sockmap_lookup

if TYPE_CHECKING:
    from .calls import CallMeta
    from .core import Env

__all__ = ["COMPATIBLE", "check_btf_sock_common", "sock_return", "after_return", "check_fixed_size_mem",
           "ACQUIRE_HELPERS", "PTR_CAST_HELPERS", "BPF_FUNC_sk_release"]

#: enum bpf_func_id
BPF_FUNC_sk_lookup_tcp: Final = 84
BPF_FUNC_sk_lookup_udp: Final = 85
BPF_FUNC_sk_release: Final = 86
BPF_FUNC_sk_fullsock: Final = 95
BPF_FUNC_tcp_sock: Final = 96
BPF_FUNC_skc_lookup_tcp: Final = 99
#: bpf_skc_to_tcp6_sock 136, _tcp_sock 137, _tcp_timewait_sock 138, _tcp_request_sock 139,
#: _udp6_sock 140, bpf_skc_to_mptcp_sock 196 (bpf_skc_to_unix_sock 178 is not a cast function)
PTR_CAST_HELPERS: Final = frozenset({BPF_FUNC_tcp_sock, BPF_FUNC_sk_fullsock, 136, 137, 138, 139, 140, 196})
#: is_acquire_function: the socket lookups
ACQUIRE_HELPERS: Final = frozenset({BPF_FUNC_sk_lookup_tcp, BPF_FUNC_sk_lookup_udp, BPF_FUNC_skc_lookup_tcp})

_SOCK_TYPES: Final = (PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK)
#: compatible_reg_types[] of the socket argument kinds
COMPATIBLE: Final[dict[int, tuple[int, ...]]] = {
    H.ARG_PTR_TO_SOCK_COMMON: _SOCK_TYPES,
    H.ARG_PTR_TO_SOCKET: (PTR_TO_SOCKET,),
    H.ARG_PTR_TO_BTF_ID_SOCK_COMMON: (*_SOCK_TYPES, PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED),
}
#: the BTF pointer types check_reg_type matches by struct id
_BTF_MATCHED: Final = frozenset({PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED, PTR_TO_BTF_ID | PTR_TRUSTED | PTR_MAYBE_NULL,
                                 PTR_TO_BTF_ID | MEM_RCU, PTR_TO_BTF_ID | PTR_MAYBE_NULL,
                                 PTR_TO_BTF_ID | PTR_MAYBE_NULL | MEM_RCU})
#: RET_PTR_TO_SOCKET, RET_PTR_TO_TCP_SOCK, RET_PTR_TO_SOCK_COMMON -> the register type
_RET: Final = {H.RET_PTR_TO_SOCKET: PTR_TO_SOCKET, H.RET_PTR_TO_TCP_SOCK: PTR_TO_TCP_SOCK,
               H.RET_PTR_TO_SOCK_COMMON: PTR_TO_SOCK_COMMON}


def check_btf_sock_common(env: Env, regno: int, reg: RegState, arg_type: int, meta: CallMeta) -> None:
    """``check_reg_type`` for a BTF pointer given as ``ARG_PTR_TO_BTF_ID_SOCK_COMMON``:
    it must be a (possibly nested) ``struct sock_common``."""
    from .btf_ids_match import btf_struct_ids_match

    if reg.type not in _BTF_MATCHED:
        return
    release = bool(arg_type & OBJ_RELEASE)
    strict = release and meta.func_id != BPF_FUNC_sk_release
    if reg.type & PTR_MAYBE_NULL and (not arg_type & PTR_MAYBE_NULL or release):
        raise env.reject(E.EACCES, f"Possibly NULL pointer passed to helper arg{regno}")
    vml = env.attr.vmlinux_btf
    need = vml.find("sock_common", 4) if vml is not None else None  # BTF_KIND_STRUCT
    if need is None:
        raise env.reject(E.EINVAL, "helper argument struct sock_common is not modelled by structops")
    if not btf_struct_ids_match(reg.btf, reg.btf_id, reg.off, vml, need, strict):
        raise env.reject(E.EACCES, f"R{regno} is of type {reg.btf.type_by_id(reg.btf_id).name} but sock_common "
                                   "is expected")


#: enum bpf_type_flag MEM_ALIGNED (include/linux/bpf.h, 6.18)
MEM_ALIGNED: Final = 1 << 25


def check_fixed_size_mem(env: Env, regno: int, arg_type: int, size: int, meta: CallMeta) -> None:
    """``check_func_arg`` for ``ARG_PTR_TO_MEM | MEM_FIXED_SIZE`` (``bpf_strtol``'s result, ...):
    the memory is checked at once for its ``argN_size``, written or read as the flags say,
    then, with ``MEM_ALIGNED``, its alignment as a strict access of that size."""
    from . import mem
    from .mem import BPF_READ, BPF_WRITE

    mem.check_helper_mem_access(env, regno, size, BPF_WRITE if arg_type & R.MEM_WRITE else BPF_READ, False, meta)
    if arg_type & MEM_ALIGNED:
        mem.check_ptr_alignment(env, env.cur_regs()[regno], 0, size, True)


def sock_return(env: Env, r0: RegState, ret: int) -> bool:
    """R0 for the socket return types (False: ``ret`` is not one)."""
    t = _RET.get(ret & 0xFF)
    if t is None:
        return False
    mark_known_zero(r0)
    r0.type = t | (ret & ~0xFF)
    return True


def after_return(env: Env, r0: RegState, func_id: int, meta: CallMeta) -> None:
    """``check_helper_call`` after R0's id: a cast keeps the argument's reference, a
    lookup acquires one."""
    from .refs import acquire_reference

    if func_id in PTR_CAST_HELPERS:
        r0.ref_obj_id = meta.ref_obj_id
    elif func_id in ACQUIRE_HELPERS or (meta.map is not None and is_sockmap_lookup(func_id, meta.map.map_type)):
        rid = acquire_reference(env, env.insn_idx)
        r0.id = rid
        r0.ref_obj_id = rid
