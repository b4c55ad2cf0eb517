"""Context access per program type (``env->ops->is_valid_access``).

Models, for Linux 6.18:

* socket filters: ``sk_filter_is_valid_access`` and ``bpf_skb_is_valid_access``
  (net/core/filter.c) over the layout of ``struct __sk_buff``
  (include/uapi/linux/bpf.h): which fields exist, which are read-only, the
  narrow-load rule (1, 2 or 4 bytes of a 4-byte field), ``cb[]`` writes;
* struct_ops (and the other BTF-typed contexts): ``bpf_tracing_btf_ctx_access``
  (kernel/trace/bpf_trace.c) and ``btf_ctx_access`` (kernel/bpf/btf.c): the
  context is the u64 argument array of the attached member's prototype, through the
  steps the tp_btf and iterator contexts share (:func:`verifier.tracing_btf.ctx_arg_head`,
  ``ctx_arg_struct``): an integer of 8 bytes at most (``btf_type_is_small_int``; a 16-byte
  ``__int128`` is refused), an enum or a struct reads as a scalar; an
  argument is read whole (8 bytes) when it is a pointer, giving
  ``PTR_TO_BTF_ID | PTR_TRUSTED`` to its struct, ``| PTR_MAYBE_NULL`` when the
  CFI stub names the argument ``*__nullable`` (the registry's ``arg_info``);
  writes are refused; the messages (``func '%s' doesn't have %d-th argument``,
  ``func '%s' size %d must be 8`` ...) come first, then the verifier's
  ``invalid bpf_context access off=%d size=%d``.

* syscall programs (``BPF_PROG_TYPE_SYSCALL``): ``syscall_prog_is_valid_access``
  (kernel/bpf/syscall.c, 6.12/6.18): the context is the caller's buffer, any
  aligned access at an offset below ``U16_MAX`` reads or writes a scalar.

Left out: the other program types' context layouts (only socket filter, syscall and
the BTF-argument contexts are modelled) and ``sk`` / ``flow_keys`` pointer fields of
``__sk_buff`` (they give ``sock_common_or_null`` / are refused as in the kernel,
but sockets are not modelled beyond that).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any

from kernel_model.btf import FuncProto, Int, Ptr

from kernel_model.btf.structs import KIND_STRUCT

from .regs import (BASE_TYPE_MASK, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_SOCK_COMMON, PTR_TRUSTED, SCALAR_VALUE,
                   TRUSTED_MODIFIERS, base_type)

if TYPE_CHECKING:
    from .core import Env

__all__ = ["check_ctx_access", "sk_filter_access", "skb_is_valid_access", "syscall_access", "struct_ops_access",
           "CtxAccess", "SK_BUFF_SIZE", "SK_BUFF_FIELDS", "promote_ctx_arg"]

#: what check_ctx_access learns of a context load: (reg type, btf, btf_id)
CtxAccess = tuple[int, Any, int]

BPF_READ, BPF_WRITE = 1, 2

#: struct __sk_buff field offsets and sizes (include/uapi/linux/bpf.h, Linux 6.18)
SK_BUFF_FIELDS: dict[str, tuple[int, int]] = {
    "len": (0, 4), "pkt_type": (4, 4), "mark": (8, 4), "queue_mapping": (12, 4), "protocol": (16, 4),
    "vlan_present": (20, 4), "vlan_tci": (24, 4), "vlan_proto": (28, 4), "priority": (32, 4),
    "ingress_ifindex": (36, 4), "ifindex": (40, 4), "tc_index": (44, 4), "cb": (48, 20), "hash": (68, 4),
    "tc_classid": (72, 4), "data": (76, 4), "data_end": (80, 4), "napi_id": (84, 4), "family": (88, 4),
    "remote_ip4": (92, 4), "local_ip4": (96, 4), "remote_ip6": (100, 16), "local_ip6": (116, 16),
    "remote_port": (132, 4), "local_port": (136, 4), "data_meta": (140, 4), "flow_keys": (144, 8),
    "tstamp": (152, 8), "wire_len": (160, 4), "gso_segs": (164, 4), "sk": (168, 8), "gso_size": (176, 4),
    "tstamp_type": (180, 1), "hwtstamp": (184, 8),
}
SK_BUFF_SIZE = 192


def _rng(name: str) -> range:
    off, size = SK_BUFF_FIELDS[name]
    return range(off, off + size)


_CB = range(48, 68)
_SK_FILTER_DENY = set(_rng("tc_classid")) | set(_rng("data")) | set(_rng("data_meta")) | set(_rng("data_end")) \
    | set(range(88, 140)) | set(_rng("tstamp")) | set(_rng("wire_len")) | set(_rng("hwtstamp"))


def _skb_is_valid_access(off: int, size: int, atype: int, is_ldsx: bool) -> tuple[bool, int, int]:
    """``bpf_skb_is_valid_access``: (ok, reg_type, ctx_field_size)."""
    if off < 0 or off >= SK_BUFF_SIZE:
        return False, SCALAR_VALUE, 0
    if off % size:
        return False, SCALAR_VALUE, 0
    if off in _CB:
        if off + size > 68:
            return False, SCALAR_VALUE, 0
        return True, SCALAR_VALUE, 0
    if off in _rng("data") or off in _rng("data_meta") or off in _rng("data_end"):
        if is_ldsx or size != 4:
            return False, SCALAR_VALUE, 0
        return True, SCALAR_VALUE, 0
    if off in range(100, 132) or off in _rng("remote_ip4") or off in _rng("local_ip4"):
        return (size == 4), SCALAR_VALUE, 0
    if off in _rng("flow_keys"):
        return False, SCALAR_VALUE, 0
    if off in _rng("hwtstamp"):
        return (atype != BPF_WRITE and size == 8), SCALAR_VALUE, 0
    if off in _rng("tstamp"):
        return (size == 8), SCALAR_VALUE, 0
    if off in _rng("sk"):
        if atype == BPF_WRITE or size != 8:
            return False, SCALAR_VALUE, 0
        return True, PTR_TO_SOCK_COMMON | PTR_MAYBE_NULL, 0
    if off == 180:  # tstamp_type
        return False, SCALAR_VALUE, 0
    if 181 <= off < 184:
        return False, SCALAR_VALUE, 0
    if atype == BPF_WRITE:
        return (size == 4), SCALAR_VALUE, 0
    ok = size <= 4 and not (size & (size - 1))
    return ok, SCALAR_VALUE, 4


#: ``bpf_skb_is_valid_access`` (net/core/filter.c), for the other __sk_buff contexts
skb_is_valid_access = _skb_is_valid_access


def sk_filter_is_valid_access(off: int, size: int, atype: int, is_ldsx: bool) -> tuple[bool, int, int]:
    """``sk_filter_is_valid_access``."""
    if off in _SK_FILTER_DENY:
        return False, SCALAR_VALUE, 0
    if atype == BPF_WRITE and off not in _CB:
        return False, SCALAR_VALUE, 0
    return _skb_is_valid_access(off, size, atype, is_ldsx)


#: include/linux/limits.h
U16_MAX = 0xFFFF


def syscall_prog_is_valid_access(off: int, size: int) -> bool:
    """``syscall_prog_is_valid_access``: the context is user memory of any layout."""
    return 0 <= off < U16_MAX and off % size == 0


def _arg_index(btf: Any, proto: FuncProto, off: int) -> int:
    """``get_ctx_arg_idx``: arguments take 8 bytes each (structs by value round up)."""
    offset = 0
    for i, p in enumerate(proto.params):
        t = btf.resolve(p.type_id)
        offset += 8 if isinstance(t, Ptr) else (btf.size_of(p.type_id) + 7) // 8 * 8
        if off < offset:
            return i
    rt = btf.resolve(proto.ret_type_id) if proto.ret_type_id else None
    if rt is None:
        offset += 0
    else:
        offset += 8 if isinstance(rt, Ptr) else (btf.size_of(proto.ret_type_id) + 7) // 8 * 8
    if off < offset:
        return len(proto.params)
    return len(proto.params) + 1


def check_ctx_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess:
    """``check_ctx_access``: the program type's ``is_valid_access``
    (:class:`verifier.prog_types.ProgTypeOps`) gives (reg_type, btf, btf_id) of the
    loaded value; None is a rejection."""
    res = env.prog_ops.is_valid_access(env, insn_idx, off, size, atype, is_ldsx)
    if res is None:
        raise env.reject(E.EACCES, f"invalid bpf_context access off={off} size={size}")
    return res


# --- is_valid_access of the modelled program types ---------------------------------------------

def sk_filter_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """Socket filters: ``sk_filter_is_valid_access``; records ``ctx_field_size``."""
    ok, rtype, fsize = sk_filter_is_valid_access(off, size, atype, is_ldsx)
    if not ok:
        return None
    env.ctx_field_size[insn_idx] = fsize
    return rtype, None, 0


def syscall_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """Syscall programs: ``syscall_prog_is_valid_access``."""
    return (SCALAR_VALUE, None, 0) if syscall_prog_is_valid_access(off, size) else None


def struct_ops_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """struct_ops members: ``bpf_tracing_btf_ctx_access`` on the member's prototype, then
    the subsystem's own ``is_valid_access`` retyping (:func:`promote_ctx_arg`)."""
    res = _btf_ctx_access(env, off, size, atype)
    return promote_ctx_arg(env.struct_ops_policy, res) if res is not None else None


def promote_ctx_arg(policy: Any, res: CtxAccess) -> CtxAccess:
    """A struct_ops subsystem's ``is_valid_access`` after ``bpf_tracing_btf_ctx_access``:
    ``bpf_tcp_ca_is_valid_access`` (net/ipv4/bpf_tcp_ca.c, 6.12/6.18) gives a
    ``PTR_TO_BTF_ID`` argument without unsafe modifiers (``bpf_type_has_unsafe_modifiers``:
    any flag but ``MEM_ALLOC | PTR_TRUSTED | NON_OWN_REF``, so a ``__nullable`` one keeps
    its type) whose struct is ``sock`` the btf_id of ``struct tcp_sock``. The pairs come
    from the subsystem's ``VerifierPolicy.ctx_arg_promote``; no log line is written."""
    rtype, btf, bid = res
    if policy is None or not policy.ctx_arg_promote or base_type(rtype) != PTR_TO_BTF_ID:
        return res
    if (rtype & ~BASE_TYPE_MASK) & ~TRUSTED_MODIFIERS:
        return res
    name = btf.type_by_id(bid).name
    for src, dst in policy.ctx_arg_promote:
        if name == src:
            dst_id = btf.find(dst, KIND_STRUCT)
            if dst_id is not None:
                return rtype, btf, dst_id
    return res


def _btf_ctx_access(env: Env, off: int, size: int, atype: int) -> CtxAccess | None:
    """``bpf_tracing_btf_ctx_access`` + ``btf_ctx_access`` for a struct_ops member."""
    if off < 0 or off >= 8 * 12:
        return None
    if atype != BPF_READ:
        return None
    if off % size:
        return None
    btf = env.attach_btf
    proto: FuncProto = env.attach_func_proto
    tname = env.attach_func_name
    if off % 8:
        env.verbose(f"func '{tname}' offset {off} is not multiple of 8\n")
        return None
    arg = _arg_index(btf, proto, off)
    nr = len(proto.params)
    if arg > nr:
        env.verbose(f"func '{tname}' doesn't have {arg + 1}-th argument\n")
        return None
    param = None
    if arg == nr:
        # expected_attach_type is the member index for struct_ops; the kernel still
        # switches on it as an attach type (BPF_TRACE_FEXIT 25, BPF_MODIFY_RETURN 26,
        # BPF_LSM_MAC 27, BPF_LSM_CGROUP 43 reach the return value slot)
        eat = env.attr.expected_attach_type
        if eat == 26:
            t = btf.resolve(proto.ret_type_id) if proto.ret_type_id else btf.type_by_id(0)
            if not isinstance(t, Int) or t.size > 8:
                env.verbose(f"ret type {t.kind_name} not allowed for fmod_ret\n")
                return None
        elif eat not in (25, 27, 43):
            env.verbose(f"func '{tname}' doesn't have {arg + 1}-th argument\n")
            return None
    else:
        param = proto.params[arg]
    # the shared btf_ctx_access steps (verifier.tracing_btf): a small int (8 bytes at most,
    # btf_type_is_small_int), any enum or a struct/union reads as a scalar, any other
    # non-pointer (a 16-byte __int128) is refused, pointers are read whole
    from .tracing_btf import ctx_arg_head, ctx_arg_struct
    head = ctx_arg_head(env, btf, tname, arg, param.type_id if param is not None else proto.ret_type_id, size)
    if not isinstance(head, Ptr):
        return head
    for info in env.ctx_arg_info:
        if info.offset == off:
            return PTR_TO_BTF_ID | PTR_TRUSTED | PTR_MAYBE_NULL, btf, info.btf_id
    rtype = PTR_TO_BTF_ID | PTR_TRUSTED  # prog_args_trusted: struct_ops
    if param is not None and param.name.endswith("__nullable"):
        rtype |= PTR_MAYBE_NULL
    found = ctx_arg_struct(env, btf, tname, arg, head)
    if found is None:
        return None
    bid, tag_flags = found
    return rtype | tag_flags, btf, bid
