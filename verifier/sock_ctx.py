"""Contexts of the socket and cgroup program types, and the socket pointers they hand out.

Models, for Linux 6.18 (the rules are those of the 6.12 sources; the host kernel checked
them offset by offset, tests/verifier/test_sock_ctx.py):

* ``cgroup_sock_addr``: ``struct bpf_sock_addr``, ``sock_addr_is_valid_access``
  (net/core/filter.c): the address fields of the attach type's family only
  (``user_ip4`` for the INET4 / UDP4 hooks, ``user_ip6`` for INET6 / UDP6,
  ``msg_src_ip4`` / ``msg_src_ip6`` for the UDP sendmsg hooks); those and
  ``user_port`` read narrow (1, 2, 4 bytes) or 8 bytes aligned inside the ip6
  arrays, written 4 bytes (or 8 inside the arrays); ``user_family``, ``family``,
  ``type``, ``protocol`` read-only u32; ``sk`` a read-only u64 giving
  ``PTR_TO_SOCKET``;
* ``cgroup_sock``: ``struct bpf_sock``, ``sock_filter_is_valid_access`` =
  ``bpf_sock_is_valid_access`` + ``__sock_filter_check_attach_type``:
  ``bound_dev_if``, ``mark``, ``priority`` read/write for sock_create and
  sock_release only; ``src_ip4`` / ``src_ip6`` / ``src_port`` readable in the
  post_bind hooks of their family; every other field read-only;
* ``sock_ops``: ``struct bpf_sock_ops``, ``sock_ops_is_valid_access``: writes to
  ``reply`` and ``sk_txhash`` (u32); ``bytes_received``, ``bytes_acked``,
  ``skb_hwtstamp`` u64 reads; ``sk`` gives ``PTR_TO_SOCKET_OR_NULL``, ``skb_data``
  / ``skb_data_end`` the packet pointers; ``skb_tcp_flags`` reads narrow;
  everything else is a u32 read;
* ``cgroup_sockopt``: ``struct bpf_sockopt``, ``cg_sockopt_is_valid_access``
  (kernel/bpf/cgroup.c): ``sk`` (``PTR_TO_SOCKET``), ``optval`` / ``optval_end``
  (packet pointers); ``retval`` readable and writable by getsockopt programs only,
  ``level`` / ``optname`` written by setsockopt programs only, ``optlen`` by both;
* ``cgroup_sysctl``: ``struct bpf_sysctl``, ``sysctl_is_valid_access``: ``write``
  read-only and ``file_pos`` read (narrow) and written as a u32;
* ``cgroup_device``: ``struct bpf_cgroup_dev_ctx``, ``cgroup_dev_is_valid_access``:
  read-only, ``access_type`` narrow;
* ``sk_lookup``: ``struct bpf_sk_lookup``, ``sk_lookup_is_valid_access``: read-only;
  ``sk`` gives ``PTR_TO_SOCKET_OR_NULL``; ``remote_port`` a ``__be16`` that may still
  be read as a u32, and the zero padding after it.

And ``check_sock_access`` (kernel/bpf/verifier.c) for the socket pointers:
``bpf_sock_is_valid_access``, ``bpf_sock_common_is_valid_access`` (no ``type`` ..
``priority``), ``bpf_tcp_sock_is_valid_access``, ``bpf_xdp_sock_is_valid_access``
(net/core/filter.c), with ``R%d invalid %s access off=%d size=%d``.

``ctx_field_size`` is recorded as ``bpf_ctx_record_field_size`` does. sk_lookup, the one
of these types the kernel test-runs, has its ``convert_ctx_access``
(:func:`convert_sk_lookup_access`, onto ``struct bpf_sk_lookup_kern``). Not modelled: the
other types' ``convert_ctx_access`` and ``bpf_sock_convert_ctx_access`` for socket
pointers -- those programs are verified, not run (the emulated kernel has no socket,
sysctl or device to run them against).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Final

from kernel_model import isa
from kernel_model.bpf_facts.enums import PROG_TYPES as _PROG_TYPE_IDS
from kernel_model.errors import NotModelled
from kernel_model.insn import Insn

from .regs import (PTR_MAYBE_NULL, PTR_TO_PACKET, PTR_TO_PACKET_END, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET,
                   PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK, SCALAR_VALUE)

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["convert_sk_lookup_access", "SK_LOOKUP_KERN", "SK_LOOKUP_KERN_SIZE", "sock_addr_access", "sock_access", "sock_ops_access", "sockopt_access", "sysctl_access",
           "cgroup_dev_access", "sk_lookup_access", "check_sock_access", "bpf_sock_is_valid_access",
           "BPF_SOCK_SIZE", "BPF_SOCK_ADDR_SIZE", "BPF_SOCK_OPS_SIZE", "BPF_SOCKOPT_SIZE", "BPF_SYSCTL_SIZE",
           "BPF_CGROUP_DEV_CTX_SIZE", "BPF_SK_LOOKUP_SIZE", "BPF_TCP_SOCK_SIZE"]

BPF_READ, BPF_WRITE = 1, 2

#: enum bpf_prog_type values of the types this module serves
PROG_TYPE_CGROUP_SOCK: Final = _PROG_TYPE_IDS["BPF_PROG_TYPE_CGROUP_SOCK"]
PROG_TYPE_SOCK_OPS: Final = _PROG_TYPE_IDS["BPF_PROG_TYPE_SOCK_OPS"]
PROG_TYPE_CGROUP_DEVICE: Final = _PROG_TYPE_IDS["BPF_PROG_TYPE_CGROUP_DEVICE"]
PROG_TYPE_CGROUP_SOCK_ADDR: Final = _PROG_TYPE_IDS["BPF_PROG_TYPE_CGROUP_SOCK_ADDR"]
PROG_TYPE_CGROUP_SYSCTL: Final = _PROG_TYPE_IDS["BPF_PROG_TYPE_CGROUP_SYSCTL"]
PROG_TYPE_CGROUP_SOCKOPT: Final = _PROG_TYPE_IDS["BPF_PROG_TYPE_CGROUP_SOCKOPT"]
PROG_TYPE_SK_LOOKUP: Final = _PROG_TYPE_IDS["BPF_PROG_TYPE_SK_LOOKUP"]
SOCK_PROG_TYPES: Final = (PROG_TYPE_CGROUP_SOCK_ADDR, PROG_TYPE_CGROUP_SOCK, PROG_TYPE_SOCK_OPS,
                          PROG_TYPE_CGROUP_SOCKOPT, PROG_TYPE_CGROUP_SYSCTL, PROG_TYPE_CGROUP_DEVICE,
                          PROG_TYPE_SK_LOOKUP)
_U32: Final = 4
_U64: Final = 8
_SIZE_CODE: Final = {n: code for code, n in isa.SIZE_BYTES.items()}

#: enum bpf_attach_type (include/uapi/linux/bpf.h, 6.18)
BPF_CGROUP_INET_SOCK_CREATE: Final = 2
BPF_CGROUP_INET4_BIND: Final = 8
BPF_CGROUP_INET6_BIND: Final = 9
BPF_CGROUP_INET4_CONNECT: Final = 10
BPF_CGROUP_INET6_CONNECT: Final = 11
BPF_CGROUP_INET4_POST_BIND: Final = 12
BPF_CGROUP_INET6_POST_BIND: Final = 13
BPF_CGROUP_UDP4_SENDMSG: Final = 14
BPF_CGROUP_UDP6_SENDMSG: Final = 15
BPF_CGROUP_GETSOCKOPT: Final = 21
BPF_CGROUP_SETSOCKOPT: Final = 22
BPF_CGROUP_UDP4_RECVMSG: Final = 19
BPF_CGROUP_UDP6_RECVMSG: Final = 20
BPF_CGROUP_INET4_GETPEERNAME: Final = 29
BPF_CGROUP_INET6_GETPEERNAME: Final = 30
BPF_CGROUP_INET4_GETSOCKNAME: Final = 31
BPF_CGROUP_INET6_GETSOCKNAME: Final = 32
BPF_CGROUP_INET_SOCK_RELEASE: Final = 34


def _narrow_ok(size: int, size_default: int) -> bool:
    """``bpf_ctx_narrow_access_ok`` (include/linux/filter.h)."""
    return size <= size_default and not size & (size - 1)


def _wide_ok(off: int, size: int, start: int, end: int) -> bool:
    """``bpf_ctx_wide_access_ok``: an aligned u64 inside the array ``[start, end)``."""
    return size == _U64 and off >= start and off + _U64 <= end and off % _U64 == 0


def _record(env: Env, insn_idx: int, size: int) -> None:
    """``bpf_ctx_record_field_size``, kept as ``insn_aux_data[i].ctx_field_size``."""
    env.ctx_field_size[insn_idx] = size


_SCALAR: Final = (SCALAR_VALUE, None, 0)


# --- struct bpf_sock (include/uapi/linux/bpf.h) --------------------------------------------------
#: bound_dev_if 0, family 4, type 8, protocol 12, mark 16, priority 20, src_ip4 24,
#: src_ip6[4] 28, src_port 44, dst_port 48 (__be16) + 16 bits of padding, dst_ip4 52,
#: dst_ip6[4] 56, state 72, rx_queue_mapping 76
BPF_SOCK_SIZE: Final = 80
_SK_BOUND_DEV_IF, _SK_TYPE, _SK_MARK, _SK_PRIORITY = 0, 8, 16, 20
_SK_SRC_IP4, _SK_SRC_IP6, _SK_SRC_PORT, _SK_DST_PORT, _SK_DST_IP4, _SK_DST_IP6 = 24, 28, 44, 48, 52, 56
_SK_NARROW: Final = frozenset({4, 8, 12, 44, 72, 76})  # state, family, type, protocol, src_port, rx_queue_mapping


def bpf_sock_is_valid_access(off: int, size: int, atype: int) -> tuple[bool, int]:
    """``bpf_sock_is_valid_access`` (net/core/filter.c): (ok, ctx_field_size)."""
    if off < 0 or off >= BPF_SOCK_SIZE or off % size:
        return False, 0
    if off in _SK_NARROW or _SK_SRC_IP4 <= off < _SK_SRC_PORT or _SK_DST_IP4 <= off < 72:
        return _narrow_ok(size, _U32), _U32
    if _SK_DST_PORT <= off < _SK_DST_PORT + 2:
        fsize = _U32 if size == _U32 else 2
        return _narrow_ok(size, fsize), fsize
    if _SK_DST_PORT + 2 <= off < _SK_DST_IP4:
        return False, 0
    return size == _U32, 0


def _sock_filter_check_attach_type(off: int, atype: int, eat: int) -> bool:
    """``__sock_filter_check_attach_type``."""
    if off in (_SK_BOUND_DEV_IF, _SK_MARK, _SK_PRIORITY):
        return eat in (BPF_CGROUP_INET_SOCK_CREATE, BPF_CGROUP_INET_SOCK_RELEASE)
    if _SK_SRC_IP4 <= off < _SK_SRC_IP4 + 4:
        if eat != BPF_CGROUP_INET4_POST_BIND:
            return False
    elif _SK_SRC_IP6 <= off < _SK_SRC_PORT:
        if eat != BPF_CGROUP_INET6_POST_BIND:
            return False
    elif _SK_SRC_PORT <= off < _SK_SRC_PORT + 4:
        if eat not in (BPF_CGROUP_INET4_POST_BIND, BPF_CGROUP_INET6_POST_BIND):
            return False
    return atype == BPF_READ


def sock_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``cgroup_sock``: ``sock_filter_is_valid_access``."""
    ok, fsize = bpf_sock_is_valid_access(off, size, atype)
    if not ok or not _sock_filter_check_attach_type(off, atype, env.attr.expected_attach_type):
        return None
    _record(env, insn_idx, fsize)
    return _SCALAR


# --- socket pointers: check_sock_access ---------------------------------------------------------
#: struct bpf_tcp_sock: u32 fields to sacked_out (76), bytes_received 80, bytes_acked 88
#: (u64), dsack_dups 96, delivered 100, delivered_ce 104, icsk_retransmits 108
BPF_TCP_SOCK_SIZE: Final = 112
#: struct bpf_xdp_sock: queue_id (u32)
_XDP_SOCK_END: Final = 4


def _tcp_sock_is_valid_access(off: int, size: int) -> bool:
    """``bpf_tcp_sock_is_valid_access``."""
    if off < 0 or off >= BPF_TCP_SOCK_SIZE or off % size:
        return False
    if off in (80, 88):
        return size == _U64
    return size == _U32


def _sock_common_is_valid_access(off: int, size: int, atype: int) -> tuple[bool, int]:
    """``bpf_sock_common_is_valid_access``: ``type`` .. ``priority`` are not in sock_common."""
    if _SK_TYPE <= off < _SK_PRIORITY + 4:
        return False, 0
    return bpf_sock_is_valid_access(off, size, atype)


def check_sock_access(env: Env, insn_idx: int, regno: int, off: int, size: int, atype: int) -> None:
    """``check_sock_access`` (kernel/bpf/verifier.c, 6.18), after check_mem_access refused
    writes (``R%d cannot write into %s``): the pointer's own ``is_valid_access``."""
    reg = env.cur_regs()[regno]
    if reg.smin < 0:
        raise env.reject(E.EACCES, f"R{regno} min value is negative, either use unsigned index or do a if "
                                   "(index >=0) check.")
    fsize = 0
    if reg.type == PTR_TO_SOCK_COMMON:
        valid, fsize = _sock_common_is_valid_access(off, size, atype)
    elif reg.type == PTR_TO_SOCKET:
        valid, fsize = bpf_sock_is_valid_access(off, size, atype)
    elif reg.type == PTR_TO_TCP_SOCK:
        valid = _tcp_sock_is_valid_access(off, size)
    elif reg.type == PTR_TO_XDP_SOCK:
        valid = 0 <= off < _XDP_SOCK_END and off % size == 0 and size == _U32
    else:
        valid = False
    if valid:
        env.ctx_field_size[insn_idx] = fsize
        return
    from .log import reg_type_str

    raise env.reject(E.EACCES, f"R{regno} invalid {reg_type_str(reg.type)} access off={off} size={size}")


# --- struct bpf_sock_addr -----------------------------------------------------------------------
#: user_family 0, user_ip4 4, user_ip6[4] 8, user_port 24, family 28, type 32, protocol 36,
#: msg_src_ip4 40, msg_src_ip6[4] 44, 4 bytes of padding at 60, sk 64 (a u64 pointer)
BPF_SOCK_ADDR_SIZE: Final = 72
_SA_USER_IP4, _SA_USER_IP6, _SA_USER_PORT, _SA_FAMILY, _SA_MSG_SRC_IP4, _SA_MSG_SRC_IP6, _SA_PAD, _SA_SK = \
    4, 8, 24, 28, 40, 44, 60, 64
_SA_IP4_HOOKS: Final = frozenset({BPF_CGROUP_INET4_BIND, BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET4_GETPEERNAME,
                                  BPF_CGROUP_INET4_GETSOCKNAME, BPF_CGROUP_UDP4_SENDMSG, BPF_CGROUP_UDP4_RECVMSG})
_SA_IP6_HOOKS: Final = frozenset({BPF_CGROUP_INET6_BIND, BPF_CGROUP_INET6_CONNECT, BPF_CGROUP_INET6_GETPEERNAME,
                                  BPF_CGROUP_INET6_GETSOCKNAME, BPF_CGROUP_UDP6_SENDMSG, BPF_CGROUP_UDP6_RECVMSG})


def sock_addr_access(env: Env, insn_idx: int, off: int, size: int, atype: int,
                     is_ldsx: bool) -> CtxAccess | None:
    """``cgroup_sock_addr``: ``sock_addr_is_valid_access``."""
    if off < 0 or off >= BPF_SOCK_ADDR_SIZE or off % size:
        return None
    eat = env.attr.expected_attach_type
    in_user_ip4 = _SA_USER_IP4 <= off < _SA_USER_IP6
    in_user_ip6 = _SA_USER_IP6 <= off < _SA_USER_PORT
    in_msg_ip4 = _SA_MSG_SRC_IP4 <= off < _SA_MSG_SRC_IP6
    in_msg_ip6 = _SA_MSG_SRC_IP6 <= off < _SA_PAD
    if in_user_ip4 and eat not in _SA_IP4_HOOKS:
        return None
    if in_user_ip6 and eat not in _SA_IP6_HOOKS:
        return None
    if in_msg_ip4 and eat != BPF_CGROUP_UDP4_SENDMSG:
        return None
    if in_msg_ip6 and eat != BPF_CGROUP_UDP6_SENDMSG:
        return None
    if in_user_ip4 or in_user_ip6 or in_msg_ip4 or in_msg_ip6 or _SA_USER_PORT <= off < _SA_FAMILY:
        wide = _wide_ok(off, size, _SA_USER_IP6, _SA_USER_PORT) or _wide_ok(off, size, _SA_MSG_SRC_IP6, _SA_PAD)
        if atype == BPF_READ:
            _record(env, insn_idx, _U32)
            if not wide and not _narrow_ok(size, _U32):
                return None
        elif not wide and size != _U32:
            return None
        return _SCALAR
    if off >= _SA_SK:
        if atype != BPF_READ or size != _U64:
            return None
        return PTR_TO_SOCKET, None, 0
    if off < _SA_USER_IP4 or _SA_FAMILY <= off < _SA_MSG_SRC_IP4:  # user_family, family, type, protocol
        if atype != BPF_READ or size != _U32:
            return None
        return _SCALAR
    return None


# --- struct bpf_sock_ops ------------------------------------------------------------------------
#: op 0, args[4]/reply/replylong[4] 4, family 20 ... sk_txhash 164, bytes_received 168,
#: bytes_acked 176, sk 184, skb_data 192, skb_data_end 200, skb_len 208, skb_tcp_flags 212,
#: skb_hwtstamp 216
BPF_SOCK_OPS_SIZE: Final = 224
_SO_REPLY, _SO_SK_TXHASH, _SO_BYTES_RECEIVED, _SO_BYTES_ACKED, _SO_SK = 4, 164, 168, 176, 184
_SO_SKB_DATA, _SO_SKB_DATA_END, _SO_SKB_TCP_FLAGS, _SO_SKB_HWTSTAMP = 192, 200, 212, 216


def sock_ops_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``sock_ops``: ``sock_ops_is_valid_access``."""
    if off < 0 or off >= BPF_SOCK_OPS_SIZE or off % size:
        return None
    if atype == BPF_WRITE:
        if off in (_SO_REPLY, _SO_SK_TXHASH) and size == _U32:
            return _SCALAR
        return None
    if _SO_BYTES_RECEIVED <= off < _SO_BYTES_ACKED + 8 or _SO_SKB_HWTSTAMP <= off:
        return _SCALAR if size == _U64 else None
    ptr = {_SO_SK: PTR_TO_SOCKET | PTR_MAYBE_NULL, _SO_SKB_DATA: PTR_TO_PACKET, _SO_SKB_DATA_END: PTR_TO_PACKET_END}
    for start, rtype in ptr.items():
        if start <= off < start + 8:
            return (rtype, None, 0) if size == _U64 else None
    if off == _SO_SKB_TCP_FLAGS:
        _record(env, insn_idx, _U32)
        return _SCALAR if _narrow_ok(size, _U32) else None
    return _SCALAR if size == _U32 else None


# --- struct bpf_sockopt (kernel/bpf/cgroup.c) ----------------------------------------------------
#: sk 0, optval 8, optval_end 16 (u64 pointers), level 24, optname 28, optlen 32, retval 36
BPF_SOCKOPT_SIZE: Final = 40
_OPT_LEVEL, _OPT_OPTNAME, _OPT_OPTLEN, _OPT_RETVAL = 24, 28, 32, 36


def sockopt_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``cgroup_sockopt``: ``cg_sockopt_is_valid_access``."""
    if off < 0 or off >= BPF_SOCKOPT_SIZE or off % size:
        return None
    eat = env.attr.expected_attach_type
    if atype == BPF_WRITE:
        if off == _OPT_RETVAL:
            ok = size == _U32 and eat == BPF_CGROUP_GETSOCKOPT
        elif off in (_OPT_OPTNAME, _OPT_LEVEL):
            ok = size == _U32 and eat == BPF_CGROUP_SETSOCKOPT
        else:
            ok = off == _OPT_OPTLEN and size == _U32
        return _SCALAR if ok else None
    if off < 24:
        if size != _U64:
            return None
        return (PTR_TO_SOCKET, PTR_TO_PACKET, PTR_TO_PACKET_END)[off // 8], None, 0
    if _OPT_RETVAL <= off:
        return _SCALAR if size == _U32 and eat == BPF_CGROUP_GETSOCKOPT else None
    return _SCALAR if size == _U32 else None


# --- struct bpf_sysctl, struct bpf_cgroup_dev_ctx (kernel/bpf/cgroup.c) ---------------------------
#: write 0, file_pos 4
BPF_SYSCTL_SIZE: Final = 8
#: access_type 0, major 4, minor 8
BPF_CGROUP_DEV_CTX_SIZE: Final = 12


def sysctl_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``cgroup_sysctl``: ``sysctl_is_valid_access``."""
    if off < 0 or off + size > BPF_SYSCTL_SIZE or off % size:
        return None
    if off < 4:  # write
        if atype != BPF_READ:
            return None
        _record(env, insn_idx, _U32)
        return _SCALAR if _narrow_ok(size, _U32) else None
    if atype == BPF_READ:  # file_pos
        _record(env, insn_idx, _U32)
        return _SCALAR if _narrow_ok(size, _U32) else None
    return _SCALAR if size == _U32 else None


def cgroup_dev_access(env: Env, insn_idx: int, off: int, size: int, atype: int,
                      is_ldsx: bool) -> CtxAccess | None:
    """``cgroup_device``: ``cgroup_dev_is_valid_access``."""
    if atype == BPF_WRITE:
        return None
    if off < 0 or off + size > BPF_CGROUP_DEV_CTX_SIZE or off % size:
        return None
    if off < 4:  # access_type
        _record(env, insn_idx, _U32)
        return _SCALAR if _narrow_ok(size, _U32) else None
    return _SCALAR if size == _U32 else None


# --- struct bpf_sk_lookup (net/core/filter.c) -------------------------------------------------------
#: sk / cookie 0 (u64), family 8, protocol 12, remote_ip4 16, remote_ip6[4] 20, remote_port 36
#: (__be16) + 16 bits of padding, local_ip4 40, local_ip6[4] 44, local_port 60, ingress_ifindex 64
BPF_SK_LOOKUP_SIZE: Final = 72
_LK_REMOTE_PORT, _LK_LOCAL_IP4, _LK_INGRESS_IFINDEX = 36, 40, 64


def sk_lookup_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``sk_lookup``: ``sk_lookup_is_valid_access``."""
    if off < 0 or off >= BPF_SK_LOOKUP_SIZE or off % size or atype != BPF_READ:
        return None
    if off < 8:
        return (PTR_TO_SOCKET | PTR_MAYBE_NULL, None, 0) if size == _U64 else None
    if _LK_REMOTE_PORT <= off < _LK_REMOTE_PORT + 2:
        if size == _U32:
            return _SCALAR
        _record(env, insn_idx, 2)
        return _SCALAR if _narrow_ok(size, 2) else None
    if _LK_REMOTE_PORT + 2 <= off < _LK_LOCAL_IP4:  # the zero padding, for backward compatibility
        _record(env, insn_idx, 2)
        return _SCALAR if _narrow_ok(size, 2) else None
    if off < _LK_INGRESS_IFINDEX + 4:
        _record(env, insn_idx, _U32)
        return _SCALAR if _narrow_ok(size, _U32) else None
    return None


# --- sk_lookup's convert_ctx_access (net/core/filter.c sk_lookup_convert_ctx_access) -------------
#: struct bpf_sk_lookup_kern (include/linux/filter.h, 6.18, x86-64): family u16 0, protocol u16 2,
#: sport __be16 4, dport u16 6, v4.saddr 8, v4.daddr 12, v6.saddr 16 and v6.daddr 24
#: (pointers to struct in6_addr), selected_sk 32, ingress_ifindex 40, no_reuseport 44
SK_LOOKUP_KERN: Final = {"family": 0, "protocol": 2, "sport": 4, "dport": 6, "v4_saddr": 8, "v4_daddr": 12,
                         "v6_saddr": 16, "v6_daddr": 24, "selected_sk": 32, "ingress_ifindex": 40,
                         "no_reuseport": 44}
SK_LOOKUP_KERN_SIZE: Final = 48


def _sk_lookup_field_size(off: int, size: int) -> int:
    """The ``ctx_field_size`` ``sk_lookup_is_valid_access`` records for an accepted read."""
    if off < 8 or (_LK_REMOTE_PORT <= off < _LK_REMOTE_PORT + 2 and size == _U32):
        return 0
    if _LK_REMOTE_PORT <= off < _LK_LOCAL_IP4:
        return 2
    return _U32


def _sk_lookup_convert(si: Insn) -> tuple[list[Insn], int]:
    """``sk_lookup_convert_ctx_access`` for one read at a field's start: (insns, target_size)."""
    d, s, off = si.dst, si.src, si.off
    k = SK_LOOKUP_KERN
    simple = {8: (2, k["family"]), 12: (2, k["protocol"]), 16: (4, k["v4_saddr"]), 40: (4, k["v4_daddr"]),
              36: (2, k["sport"]), 60: (2, k["dport"]), 64: (4, k["ingress_ifindex"])}
    if off == 0:
        return [_ldx(8, d, s, k["selected_sk"])], 0
    if off in simple:
        size, target = simple[off]
        return [_ldx(size, d, s, target)], size
    if 20 <= off < 36 or 44 <= off < 60:  # remote_ip6[] / local_ip6[]: through the in6_addr pointer
        base, ptr = (20, k["v6_saddr"]) if off < 36 else (44, k["v6_daddr"])
        return [_ldx(8, d, s, ptr), Insn(isa.JMP | isa.JEQ | isa.K, d, 0, 1, 0), _ldx(4, d, d, off - base)], 4
    if off == _LK_REMOTE_PORT + 2:  # the zero padding
        return [Insn(isa.ALU | isa.MOV | isa.K, d, 0, 0, 0)], 2
    raise NotModelled(f"context field bpf_sk_lookup at offset {off} is not modelled")


def _ldx(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(isa.LDX | isa.MEM | _SIZE_CODE[size], dst, src, off, 0)


def convert_sk_lookup_access(ins: Insn) -> list[Insn]:
    """An sk_lookup program's ``convert_ctx_access`` inside ``convert_ctx_accesses``' narrowing
    (kernel/bpf/verifier.c, 6.18): a read narrower than ``ctx_field_size`` loads the whole
    field at its aligned start, then shifts and masks with 32-bit ALU ops when it is also
    narrower than the kernel field (``target_size``); a sign-extending read ends with movsx.
    The context is read-only: no store reaches here."""
    size = isa.SIZE_BYTES[ins.code & 0x18]
    is_ldsx = (ins.code & 0xE0) == isa.MEMSX
    fsize = _sk_lookup_field_size(ins.off, size)
    si = ins
    narrower = size < fsize
    if narrower:
        si = Insn(isa.LDX | isa.MEM | _SIZE_CODE[fsize], ins.dst, ins.src, ins.off & ~(fsize - 1), 0)
    out, target_size = _sk_lookup_convert(si)
    if narrower and size < target_size:
        shift = (ins.off & (fsize - 1)) * 8  # bpf_ctx_narrow_access_offset, little endian
        if shift:
            out.append(Insn(isa.ALU | isa.RSH | isa.K, ins.dst, 0, 0, shift))
        out.append(Insn(isa.ALU | isa.AND | isa.K, ins.dst, 0, 0, (1 << (8 * size)) - 1))
    if is_ldsx:
        out.append(Insn(isa.ALU64 | isa.MOV | isa.X, ins.dst, ins.dst, size * 8, 0))
    return out


#: offsets bpf_tcp_sock_is_valid_access lets through (u32 reads of the upper halves of
#: bytes_received and bytes_acked) that bpf_tcp_sock_convert_ctx_access has no case for
_TCP_SOCK_UNCONVERTIBLE: Final = frozenset({84, 92})


def check_sock_conversions(env: Env) -> None:
    """``convert_ctx_accesses``' refusal after a successful walk (kernel/bpf/verifier.c, 6.18):
    a socket-pointer load whose conversion emits nothing is ``verifier bug: error during ctx
    access conversion (0)``, EFAULT. Of the socket pointers only ``struct bpf_tcp_sock`` has
    such offsets; the context conversions of the modelled types cover every accepted access
    (the host sweeps in tests/verifier/test_sock_ctx.py)."""
    for i, pt in enumerate(env.ptr_type):
        if pt == PTR_TO_TCP_SOCK and env.raw[i].off in _TCP_SOCK_UNCONVERTIBLE:
            raise env.reject(E.EFAULT, "verifier bug: error during ctx access conversion (0)")
