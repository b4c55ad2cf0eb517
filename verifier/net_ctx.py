"""Contexts of the packet-processing program types: ``struct __sk_buff`` for tc and cgroup
skb programs, ``struct xdp_md`` for XDP.

Models, for Linux 6.18 (net/core/filter.c, the same as 6.12 for these rules):

* ``tc_cls_act_is_valid_access`` (sched_cls, sched_act): writes only to ``mark``,
  ``tc_index``, ``priority``, ``tc_classid``, ``cb[]``, ``tstamp``,
  ``queue_mapping``; ``data`` / ``data_meta`` / ``data_end`` load packet pointers
  (``PTR_TO_PACKET``, ``_META``, ``_END``); the socket fields ``family`` ..
  ``local_port`` are refused; ``tstamp_type`` is a 1-byte read; everything else
  is ``bpf_skb_is_valid_access`` (:func:`verifier.ctx.skb_is_valid_access`);
* ``cg_skb_is_valid_access`` (cgroup_skb): no ``tc_classid``, ``data_meta``,
  ``wire_len``; ``data`` / ``data_end`` only with CAP_BPF (always held by a load
  the model makes); writes to ``mark``, ``priority``, ``cb[]``, ``tstamp``;
* ``xdp_is_valid_access``: the six u32 fields of ``struct xdp_md``, read-only
  (writes only for offloaded programs, which the model does not load),
  ``egress_ifindex`` only for ``BPF_XDP_DEVMAP`` programs; ``data`` / ``data_meta``
  / ``data_end`` give packet pointers and may not be read sign-extending.

What the program does with the packet pointers (ranges proven by comparisons with
``data_end``, ``check_packet_access``) is the verifier's core (:mod:`verifier.jumps`,
:mod:`verifier.mem`). The ``convert_ctx_access`` of tc and cgroup_skb programs (which
test-run) is :mod:`verifier.convert_ctx`; XDP's is not modelled (verified, not run;
docs/status.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .ctx import SK_BUFF_FIELDS, skb_is_valid_access
from .regs import PTR_TO_PACKET, PTR_TO_PACKET_END, PTR_TO_PACKET_META, SCALAR_VALUE

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["tc_cls_act_access", "cg_skb_access", "xdp_access", "XDP_MD_SIZE"]

BPF_READ, BPF_WRITE = 1, 2
#: enum bpf_attach_type BPF_XDP_DEVMAP
BPF_XDP_DEVMAP: Final = 33


def _in(name: str, off: int) -> bool:
    o, size = SK_BUFF_FIELDS[name]
    return o <= off < o + size


def _pkt_type(off: int) -> int:
    if _in("data", off):
        return PTR_TO_PACKET
    if _in("data_meta", off):
        return PTR_TO_PACKET_META
    if _in("data_end", off):
        return PTR_TO_PACKET_END
    return SCALAR_VALUE


def _skb(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool,
         pkt_type: int) -> CtxAccess | None:
    ok, rtype, fsize = skb_is_valid_access(off, size, atype, is_ldsx)
    if not ok:
        return None
    env.ctx_field_size[insn_idx] = fsize
    return (pkt_type if pkt_type != SCALAR_VALUE else rtype), None, 0


_TC_WRITABLE: Final = ("mark", "tc_index", "priority", "tc_classid", "cb", "tstamp", "queue_mapping")


def tc_cls_act_access(env: Env, insn_idx: int, off: int, size: int, atype: int,
                      is_ldsx: bool) -> CtxAccess | None:
    """``tc_cls_act_is_valid_access``."""
    if atype == BPF_WRITE and not any(_in(f, off) for f in _TC_WRITABLE):
        return None
    if SK_BUFF_FIELDS["family"][0] <= off < SK_BUFF_FIELDS["local_port"][0] + 4:
        return None
    if off == SK_BUFF_FIELDS["tstamp_type"][0]:
        return (SCALAR_VALUE, None, 0) if size == 1 else None
    return _skb(env, insn_idx, off, size, atype, is_ldsx, _pkt_type(off))


_CG_SKB_WRITABLE: Final = ("mark", "priority", "cb", "tstamp")


def cg_skb_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``cg_skb_is_valid_access`` (the loader holds CAP_BPF: ``data``/``data_end`` and
    ``tstamp`` writes are allowed)."""
    if _in("tc_classid", off) or _in("data_meta", off) or _in("wire_len", off):
        return None
    if atype == BPF_WRITE and not any(_in(f, off) for f in _CG_SKB_WRITABLE):
        return None
    return _skb(env, insn_idx, off, size, atype, is_ldsx, _pkt_type(off))


#: struct xdp_md (include/uapi/linux/bpf.h): data, data_end, data_meta, ingress_ifindex,
#: rx_queue_index, egress_ifindex (u32 each)
XDP_MD_SIZE: Final = 24
_XDP_PKT: Final = {0: PTR_TO_PACKET, 4: PTR_TO_PACKET_END, 8: PTR_TO_PACKET_META}
_XDP_EGRESS_IFINDEX: Final = 20


def xdp_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``xdp_is_valid_access`` with ``__is_valid_xdp_access`` (whole aligned u32 fields)."""
    if env.attr.expected_attach_type != BPF_XDP_DEVMAP and off == _XDP_EGRESS_IFINDEX:
        return None
    if atype == BPF_WRITE:
        return None  # only offloaded programs may write rx_queue_index
    if off in _XDP_PKT and is_ldsx:
        return None
    if off < 0 or off >= XDP_MD_SIZE or off % size or size != 4:
        return None
    return _XDP_PKT.get(off, SCALAR_VALUE), None, 0
