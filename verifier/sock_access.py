"""Socket pointers: loads through them, and the helpers that hand them out and take them back.

Models, for Linux 6.18 (6.12 the same for these rules):

* ``check_sock_access`` (kernel/bpf/verifier.c) with ``bpf_sock_common_is_valid_access``,
  ``bpf_sock_is_valid_access``, ``bpf_tcp_sock_is_valid_access`` and
  ``bpf_xdp_sock_is_valid_access`` (net/core/filter.c) over the uapi ``struct bpf_sock``,
  ``struct bpf_tcp_sock`` and ``struct bpf_xdp_sock``: a read of an allowed field gives an
  unknown scalar, a write is ``R%d cannot write into %s``, anything else ``R%d invalid %s
  access off=%d size=%d``;
* the socket helpers' reference rules of ``check_helper_call``: ``is_acquire_function``
  (``bpf_sk_lookup_tcp``/``_udp``, ``bpf_skc_lookup_tcp``: R0 carries a fresh reference,
  released by ``bpf_sk_release`` or dropped on the NULL branch), ``is_ptr_cast_function``
  (``bpf_sk_fullsock``, ``bpf_tcp_sock``: R0 shares its argument's reference), and
  ``OBJ_RELEASE`` arguments (``R%d must be referenced when passed to release function``,
  ``func %s#%d reference has not been acquired before``).

Where we differ: an ``ARG_PTR_TO_BTF_ID_SOCK_COMMON`` argument given a BTF pointer (a
``struct sock`` walked from a tracing context) is refused as not modelled (the kernel
matches it against ``struct sock_common`` by BTF); the ``bpf_skc_to_*`` casts, which
return BTF pointers, are not modelled.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Final

from kernel_model.helper_ids import helper_id

from .log import reg_type_str
from .regs import (PTR_TO_BTF_ID, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK, PTR_TRUSTED,
                   RegState, mark_unknown)

if TYPE_CHECKING:
    from .core import Env

__all__ = ["check_sock_access", "bpf_sock_is_valid_access", "bpf_sock_common_is_valid_access",
           "bpf_tcp_sock_is_valid_access", "bpf_xdp_sock_is_valid_access", "SOCK_ARG_COMPATIBLE", "ACQUIRE_FUNCS",
           "PTR_CAST_FUNCS", "BPF_SOCK_SIZE"]

BPF_READ, BPF_WRITE = 1, 2

#: struct bpf_sock (include/uapi/linux/bpf.h): name -> (offset, size)
BPF_SOCK_FIELDS: Final = {
    "bound_dev_if": (0, 4), "family": (4, 4), "type": (8, 4), "protocol": (12, 4), "mark": (16, 4),
    "priority": (20, 4), "src_ip4": (24, 4), "src_ip6": (28, 16), "src_port": (44, 4), "dst_port": (48, 2),
    "dst_ip4": (52, 4), "dst_ip6": (56, 16), "state": (72, 4), "rx_queue_mapping": (76, 4),
}
BPF_SOCK_SIZE: Final = 80
#: offsetofend(struct bpf_tcp_sock, bytes_acked); bytes_received (80) and bytes_acked (88) are u64
BPF_TCP_SOCK_END: Final = 96
BPF_XDP_SOCK_SIZE: Final = 4


def _narrow_ok(size: int, size_default: int) -> bool:
    return size <= size_default and not size & (size - 1)


def bpf_sock_is_valid_access(off: int, size: int, atype: int) -> tuple[bool, int]:
    """``bpf_sock_is_valid_access``: (valid, ctx_field_size)."""
    if off < 0 or off >= BPF_SOCK_SIZE or off % size:
        return False, 0
    exact = {BPF_SOCK_FIELDS[f][0] for f in ("state", "family", "type", "protocol", "src_port",
                                              "rx_queue_mapping")}
    if off in exact or 24 <= off < 44 or 52 <= off < 72:  # src_ip4, src_ip6[], dst_ip4, dst_ip6[]
        return _narrow_ok(size, 4), 4
    if 48 <= off < 52:  # dst_port: a __be16, readable as a whole u32 too
        field = 4 if size == 4 else 2
        if off >= 50:  # offsetofend(dst_port) .. dst_ip4 - 1: the padding
            return False, 0
        return _narrow_ok(size, field), field
    return size == 4, 0


def bpf_sock_common_is_valid_access(off: int, size: int, atype: int) -> tuple[bool, int]:
    """``bpf_sock_common_is_valid_access``: ``type`` .. ``priority`` are not in sock_common."""
    if 8 <= off < 24:
        return False, 0
    return bpf_sock_is_valid_access(off, size, atype)


def bpf_tcp_sock_is_valid_access(off: int, size: int, atype: int) -> tuple[bool, int]:
    """``bpf_tcp_sock_is_valid_access``: whole u32 fields, the two u64 counters whole."""
    if off < 0 or off >= BPF_TCP_SOCK_END or off % size:
        return False, 0
    if off in (80, 88):
        return size == 8, 0
    return size == 4, 0


def bpf_xdp_sock_is_valid_access(off: int, size: int, atype: int) -> tuple[bool, int]:
    """``bpf_xdp_sock_is_valid_access``: ``queue_id``, a whole u32."""
    if off < 0 or off >= BPF_XDP_SOCK_SIZE or off % size:
        return False, 0
    return size == 4, 0


_BY_TYPE: Final = {PTR_TO_SOCK_COMMON: bpf_sock_common_is_valid_access, PTR_TO_SOCKET: bpf_sock_is_valid_access,
                   PTR_TO_TCP_SOCK: bpf_tcp_sock_is_valid_access, PTR_TO_XDP_SOCK: bpf_xdp_sock_is_valid_access}


def check_sock_access(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                      value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    """check_mem_access's branch for ``type_is_sk_pointer`` registers, then ``check_sock_access``."""
    reg = regs[regno]
    t = reg.type
    if atype == BPF_WRITE:
        raise env.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(t)}")
    if reg.smin < 0:
        raise env.reject(E.EACCES, f"R{regno} min value is negative, either use unsigned index or do a if "
                                   "(index >=0) check.")
    fn = _BY_TYPE.get(t)
    valid, field_size = fn(off, size, atype) if fn is not None else (False, 0)
    if not valid:
        raise env.reject(E.EACCES, f"R{regno} invalid {reg_type_str(t)} access off={off} size={size}")
    env.ctx_field_size[insn_idx] = field_size
    if value_regno >= 0:
        mark_unknown(regs[value_regno], env.bpf_capable)


#: compatible_reg_types[] entries of the socket arguments (kernel/bpf/verifier.c): sock_types,
#: btf_id_sock_common_types, fullsock_types; keyed by the enum bpf_arg_type base values
#: ARG_PTR_TO_SOCK_COMMON (12), ARG_PTR_TO_SOCKET (13), ARG_PTR_TO_BTF_ID_SOCK_COMMON (17)
SOCK_ARG_COMPATIBLE: Final[dict[int, tuple[int, ...]]] = {
    12: (PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK),
    13: (PTR_TO_SOCKET,),
    17: (PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK, PTR_TO_BTF_ID,
         PTR_TO_BTF_ID | PTR_TRUSTED),
}

#: is_acquire_function (the socket lookups; ringbuf_reserve and kptr_xchg are not modelled here)
ACQUIRE_FUNCS: Final = frozenset(helper_id(n) for n in ("sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp"))
#: is_ptr_cast_function (the BTF-returning bpf_skc_to_* casts are not modelled)
PTR_CAST_FUNCS: Final = frozenset(helper_id(n) for n in ("tcp_sock", "sk_fullsock"))
