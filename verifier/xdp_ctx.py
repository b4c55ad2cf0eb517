"""An XDP program's context: ``struct xdp_md`` accesses rewritten into ``struct xdp_buff`` ones.

The verifier lets an XDP program read the six u32 fields of ``struct xdp_md``
(:func:`verifier.net_ctx.xdp_access`); after the program is accepted,
``convert_ctx_accesses`` (kernel/bpf/verifier.c) asks ``xdp_convert_ctx_access``
(net/core/filter.c, Linux 6.12; the 6.18 host's xlated bytes are the same, compared
in tests/emu/test_xdp_run.py) for the kernel's instructions:

* ``data``, ``data_end``, ``data_meta``: one 8-byte load of ``xdp_buff.data`` (0),
  ``.data_end`` (8), ``.data_meta`` (16) -- the packet pointers the program then
  compares;
* ``ingress_ifindex``: ``xdp->rxq->dev->ifindex`` (three loads);
* ``rx_queue_index``: ``xdp->rxq->queue_index`` (two loads);
* ``egress_ifindex`` (devmap programs only): ``xdp->txq->dev->ifindex``.

``xdp_is_valid_access`` sets no ``ctx_field_size``, so no access is narrowed; a
sign-extending load (``ingress_ifindex`` read as s32) ends with the verifier's
``movsx`` (``BPF_MOVSX64``), as for every program type.

The offsets are the 6.18 host's BTF (x86-64): :data:`XDP_BUFF`; the test runner
(:mod:`emu.kernel.test_run_xdp`) and the XDP helpers build and read their
``xdp_buff`` from the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel_model import isa
from kernel_model.errors import NotModelled
from kernel_model.insn import Insn

from .convert_ctx import SKB

__all__ = ["XdpBuffLayout", "XDP_BUFF", "convert_xdp_access"]


@dataclass(frozen=True, slots=True)
class XdpBuffLayout:
    """``struct xdp_buff``, ``struct xdp_rxq_info``, ``struct xdp_txq_info`` and the
    parts of ``struct skb_shared_info`` an XDP buffer uses (include/net/xdp.h,
    include/linux/skbuff.h; offsets of the 6.18 x86-64 BTF)."""

    data: int = 0
    data_end: int = 8
    data_meta: int = 16
    data_hard_start: int = 24
    rxq: int = 32                # struct xdp_rxq_info *
    txq: int = 40                # struct xdp_txq_info *
    frame_sz: int = 48           # u32
    flags: int = 52              # u32: XDP_FLAGS_HAS_FRAGS ...
    size: int = 56
    # struct xdp_rxq_info (cache-line aligned: 64 bytes)
    rxq_dev: int = 0
    rxq_queue_index: int = 8
    rxq_frag_size: int = 24
    rxq_size: int = 64
    # struct xdp_txq_info
    txq_dev: int = 0
    # struct net_device
    dev_ifindex: int = SKB.dev_ifindex
    dev_mtu: int = 56            # unsigned int
    dev_hard_header_len: int = 180  # unsigned short
    # struct skb_shared_info (at data_hard_start + frame_sz - SKB_DATA_ALIGN(sizeof))
    shinfo_nr_frags: int = 2     # u8
    shinfo_xdp_frags_size: int = 40
    shinfo_frags: int = 48       # skb_frag_t frags[MAX_SKB_FRAGS]
    frag_size: int = 16          # sizeof(skb_frag_t): netmem, len, offset
    frag_len: int = 8
    frag_offset: int = 12
    shinfo_size: int = SKB.shinfo_size


XDP_BUFF = XdpBuffLayout()
_SIZE_CODE = {n: code for code, n in isa.SIZE_BYTES.items()}


def _ldx(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(isa.LDX | isa.MEM | _SIZE_CODE[size], dst, src, off, 0)


def convert_xdp_access(ins: Insn) -> list[Insn]:
    """``xdp_convert_ctx_access`` for one accepted ``struct xdp_md`` load, with the
    ``BPF_MOVSX64`` ``convert_ctx_accesses`` appends to a sign-extending one."""
    if (ins.code & 0x07) != isa.LDX:  # xdp_is_valid_access refuses writes (offload aside)
        raise NotModelled(f"a write to xdp_md at offset {ins.off} is not modelled")
    d, s, off = ins.dst, ins.src, ins.off
    L = XDP_BUFF
    if off == 0:
        out = [_ldx(8, d, s, L.data)]
    elif off == 4:
        out = [_ldx(8, d, s, L.data_end)]
    elif off == 8:
        out = [_ldx(8, d, s, L.data_meta)]
    elif off == 12:  # ingress_ifindex
        out = [_ldx(8, d, s, L.rxq), _ldx(8, d, d, L.rxq_dev), _ldx(4, d, d, L.dev_ifindex)]
    elif off == 16:  # rx_queue_index
        out = [_ldx(8, d, s, L.rxq), _ldx(4, d, d, L.rxq_queue_index)]
    elif off == 20:  # egress_ifindex
        out = [_ldx(8, d, s, L.txq), _ldx(8, d, d, L.txq_dev), _ldx(4, d, d, L.dev_ifindex)]
    else:
        raise NotModelled(f"context field xdp_md at offset {off} is not modelled")
    if (ins.code & 0xE0) == isa.MEMSX:
        size = isa.SIZE_BYTES[ins.code & 0x18]
        out.append(Insn(isa.ALU64 | isa.MOV | isa.X, d, d, size * 8, 0))
    return out
