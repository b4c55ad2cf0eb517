"""Contexts of the socket-level and tunnel packet program types.

Models ``is_valid_access`` of Linux 6.18 (net/core/filter.c, unchanged from 6.12 for
these functions; each was compared with the host kernel by tests/verifier/test_skb_ctx.py):

* ``sk_skb_is_valid_access`` (``BPF_PROG_TYPE_SK_SKB``, ``struct __sk_buff``): no
  ``tc_classid``, ``data_meta``, ``tstamp``, ``wire_len``, ``hwtstamp``; ``mark``
  not even readable; writes only to ``tc_index`` and ``priority``; ``data`` /
  ``data_end`` give packet pointers; the rest is ``bpf_skb_is_valid_access``;
* ``sk_msg_is_valid_access`` (``BPF_PROG_TYPE_SK_MSG``, ``struct sk_msg_md``):
  read-only; ``data`` / ``data_end`` 8-byte packet pointers, ``sk`` an 8-byte
  ``PTR_TO_SOCKET``; ``family`` .. ``size`` whole u32 reads only (no narrowing);
* ``flow_dissector_is_valid_access`` (``BPF_PROG_TYPE_FLOW_DISSECTOR``,
  ``struct __sk_buff``): read-only; only ``data``, ``data_end`` (u32, not
  sign-extending) and ``flow_keys`` (8 bytes, ``PTR_TO_FLOW_KEYS``);
* ``sk_reuseport_is_valid_access`` (``BPF_PROG_TYPE_SK_REUSEPORT``,
  ``struct sk_reuseport_md``): read-only; ``data`` / ``data_end`` packet
  pointers, ``sk`` ``PTR_TO_SOCKET``, ``migrating_sk``
  ``PTR_TO_SOCK_COMMON_OR_NULL`` (8 bytes each); ``hash`` a whole u32;
  ``eth_protocol`` (at least 2 bytes), ``ip_protocol``, ``bind_inany``, ``len``
  narrowable u32 fields;
* ``lwt_is_valid_access`` (``LWT_IN``, ``LWT_OUT``, ``LWT_XMIT``,
  ``LWT_SEG6LOCAL``, ``struct __sk_buff``): no ``tc_classid``, socket fields
  ``family`` .. ``local_port``, ``data_meta``, ``tstamp``, ``wire_len``,
  ``hwtstamp``; writes to ``mark``, ``priority``, ``cb[]``;
* ``nf_is_valid_access`` (net/netfilter/nf_bpf_link.c, ``BPF_PROG_TYPE_NETFILTER``,
  ``struct bpf_nf_ctx``): read-only; ``state`` and ``skb``, 8 bytes each, trusted
  BTF pointers to ``struct nf_hook_state`` / ``struct sk_buff`` (``nf_ptr_to_btf_id``).

Whether the program may read (write) the packet directly is
``may_access_direct_pkt_data`` (:mod:`verifier.mem`: read for all of these but
netfilter; write for sk_skb, sk_msg, lwt_xmit). The lwt types' ``convert_ctx_access``
and lwt_xmit's ``gen_prologue`` are :mod:`verifier.convert_ctx`, the flow dissector's
:mod:`verifier.flow_dissector_ctx` (they test-run); not modelled: those of the other types
here (verified, not run: docs/status.md); ``BPF_PROG_TYPE_LIRC_MODE2``
(its type exists only with CONFIG_BPF_LIRC_MODE2, which kernels without a remote
controller core do not have; the model does not guess).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Final

from kernel_model.btf.structs import KIND_FWD, KIND_STRUCT

from .ctx import SK_BUFF_FIELDS, SK_BUFF_SIZE
from .net_ctx import _in, _pkt_type, _skb
from .regs import (PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_FLOW_KEYS, PTR_TO_PACKET, PTR_TO_PACKET_END,
                   PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TRUSTED, SCALAR_VALUE)

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["sk_skb_access", "sk_msg_access", "flow_dissector_access", "sk_reuseport_access", "lwt_access",
           "nf_access", "SK_MSG_MD_FIELDS", "SK_MSG_MD_SIZE", "SK_REUSEPORT_MD_FIELDS", "SK_REUSEPORT_MD_SIZE",
           "BPF_FLOW_KEYS_SIZE", "BPF_NF_CTX_SIZE"]

BPF_READ, BPF_WRITE = 1, 2

#: struct sk_msg_md (include/uapi/linux/bpf.h): name -> (offset, size)
SK_MSG_MD_FIELDS: Final = {
    "data": (0, 8), "data_end": (8, 8), "family": (16, 4), "remote_ip4": (20, 4), "local_ip4": (24, 4),
    "remote_ip6": (28, 16), "local_ip6": (44, 16), "remote_port": (60, 4), "local_port": (64, 4),
    "size": (68, 4), "sk": (72, 8),
}
SK_MSG_MD_SIZE: Final = 80
#: struct sk_reuseport_md (include/uapi/linux/bpf.h); 4 bytes of padding after hash
SK_REUSEPORT_MD_FIELDS: Final = {
    "data": (0, 8), "data_end": (8, 8), "len": (16, 4), "eth_protocol": (20, 4), "ip_protocol": (24, 4),
    "bind_inany": (28, 4), "hash": (32, 4), "sk": (40, 8), "migrating_sk": (48, 8),
}
SK_REUSEPORT_MD_SIZE: Final = 56
#: sizeof(struct bpf_flow_keys) (include/uapi/linux/bpf.h): check_flow_keys_access's bound
BPF_FLOW_KEYS_SIZE: Final = 56
#: struct bpf_nf_ctx (include/net/netfilter/nf_bpf_link.h): state, skb
BPF_NF_CTX_SIZE: Final = 16
#: sizeof_field(struct sk_buff, protocol): the narrowest load of sk_reuseport_md.eth_protocol
_SKB_PROTOCOL_SIZE: Final = 2


def _field(fields: dict[str, tuple[int, int]], off: int) -> str | None:
    for name, (o, size) in fields.items():
        if o <= off < o + size:
            return name
    return None


def _narrow_ok(off: int, size: int, size_default: int) -> bool:
    """``bpf_ctx_narrow_access_ok`` (include/linux/filter.h)."""
    return size <= size_default and not size & (size - 1)


# --- __sk_buff contexts -------------------------------------------------------------------------------

_SK_SKB_DENY: Final = ("tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp")


def sk_skb_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``sk_skb_is_valid_access`` (net/core/filter.c)."""
    if any(_in(f, off) for f in _SK_SKB_DENY):
        return None
    if atype == BPF_WRITE and not (_in("tc_index", off) or _in("priority", off)):
        return None
    if _in("mark", off):
        return None
    return _skb(env, insn_idx, off, size, atype, is_ldsx, _pkt_type(off))


_LWT_DENY: Final = ("tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp")
_LWT_WRITABLE: Final = ("mark", "priority", "cb")


def lwt_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``lwt_is_valid_access`` (net/core/filter.c): every LWT type, the same rules."""
    if any(_in(f, off) for f in _LWT_DENY):
        return None
    if SK_BUFF_FIELDS["family"][0] <= off < SK_BUFF_FIELDS["local_port"][0] + 4:
        return None
    if atype == BPF_WRITE and not any(_in(f, off) for f in _LWT_WRITABLE):
        return None
    return _skb(env, insn_idx, off, size, atype, is_ldsx, _pkt_type(off))


def flow_dissector_access(env: Env, insn_idx: int, off: int, size: int, atype: int,
                          is_ldsx: bool) -> CtxAccess | None:
    """``flow_dissector_is_valid_access`` (net/core/filter.c)."""
    if off < 0 or off >= SK_BUFF_SIZE or off % size or atype == BPF_WRITE:
        return None
    if _in("data", off) or _in("data_end", off):
        if is_ldsx or size != 4:
            return None
        return (PTR_TO_PACKET if _in("data", off) else PTR_TO_PACKET_END), None, 0
    if _in("flow_keys", off):
        return (PTR_TO_FLOW_KEYS, None, 0) if size == 8 else None
    return None


# --- sk_msg_md, sk_reuseport_md, bpf_nf_ctx -------------------------------------------------------

def sk_msg_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``sk_msg_is_valid_access`` (net/core/filter.c): no bounds check of its own, an
    offset outside the structure falls to the switch's default."""
    if atype == BPF_WRITE or off % size:
        return None
    name = _field(SK_MSG_MD_FIELDS, off)
    if name in ("data", "data_end", "sk"):
        if size != 8:
            return None
        return {"data": PTR_TO_PACKET, "data_end": PTR_TO_PACKET_END, "sk": PTR_TO_SOCKET}[name], None, 0
    if name is None:
        return None
    return (SCALAR_VALUE, None, 0) if size == 4 else None


def sk_reuseport_access(env: Env, insn_idx: int, off: int, size: int, atype: int,
                        is_ldsx: bool) -> CtxAccess | None:
    """``sk_reuseport_is_valid_access`` (net/core/filter.c): the pointer fields and
    ``hash`` by their exact offset; the narrowable fields record ``ctx_field_size``."""
    if off < 0 or off >= SK_REUSEPORT_MD_SIZE or off % size or atype != BPF_READ:
        return None
    exact = {0: PTR_TO_PACKET, 8: PTR_TO_PACKET_END, 40: PTR_TO_SOCKET, 48: PTR_TO_SOCK_COMMON | PTR_MAYBE_NULL}
    if off in exact:
        return (exact[off], None, 0) if size == 8 else None
    if off == SK_REUSEPORT_MD_FIELDS["hash"][0]:
        return (SCALAR_VALUE, None, 0) if size == 4 else None
    name = _field(SK_REUSEPORT_MD_FIELDS, off)
    if name not in ("eth_protocol", "ip_protocol", "bind_inany", "len"):
        return None
    if name == "eth_protocol" and size < _SKB_PROTOCOL_SIZE:
        return None
    env.ctx_field_size[insn_idx] = 4
    return (SCALAR_VALUE, None, 0) if _narrow_ok(off, size, 4) else None


_NF_FIELDS: Final = {0: "nf_hook_state", 8: "sk_buff"}


def nf_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``nf_is_valid_access`` (net/netfilter/nf_bpf_link.c): ``state`` and ``skb`` as
    ``PTR_TO_BTF_ID | PTR_TRUSTED`` into vmlinux BTF (``nf_ptr_to_btf_id``). The emulated
    vmlinux lays out ``struct nf_hook_state`` (:mod:`kernel_model.vmlinux_nf_ctx`) and
    ``struct sk_buff`` (:mod:`kernel_model.net_types`, the 6.18 layout): reads through both
    are walked; a struct either points to that the emulated vmlinux only declares is refused
    as not modelled (:mod:`verifier.btf_access`)."""
    if off < 0 or off >= BPF_NF_CTX_SIZE or off % size or atype == BPF_WRITE:
        return None
    name = _NF_FIELDS.get(off & ~7)
    if name is None or size != 8:
        return None
    btf = env.attr.vmlinux_btf
    tid = btf.find(name, KIND_STRUCT) if btf is not None else None
    if tid is None and btf is not None:
        # only declared in the emulated BTF (sk_buff): the pointer is the kernel's, a walk into
        # it is refused as not modelled (verifier.btf_access)
        tid = btf.find(name, KIND_FWD)
    if tid is None:  # the kernel's BTF has it; the model's does not: refused, never guessed
        raise env.reject(E.EINVAL, f"struct {name} of the netfilter context is not modelled by structops")
    return PTR_TO_BTF_ID | PTR_TRUSTED, btf, tid
