"""``BPF_PROG_TEST_RUN`` of an XDP program: ``bpf_prog_test_run_xdp`` (net/bpf/test_run.c,
Linux 6.12 sources; the 6.18 host's answers compared in tests/emu/test_xdp_run.py).

* a devmap or cpumap program (``expected_attach_type`` ``BPF_XDP_DEVMAP`` /
  ``BPF_XDP_CPUMAP``) and any flag but ``BPF_F_TEST_XDP_LIVE_FRAMES`` are
  ``-EINVAL``; ``BPF_F_TEST_XDP_LIVE_FRAMES`` (the frames go through
  ``xdp_do_redirect``/``XDP_TX``/the stack) is refused as not modelled; ``cpu``
  is not read, as there;
* the context is ``bpf_ctx_init(kattr, sizeof(struct xdp_md))``: a longer
  ``ctx_in`` must be zero past the struct (``-E2BIG``). With a context,
  ``data_meta`` must be 0, ``data <= data_end <= data_size_in`` and the
  metadata length ``data`` a multiple of 4, at most 255 and at most
  ``XDP_PACKET_HEADROOM - sizeof(struct xdp_frame)`` (216), else ``-EINVAL``;
  the metadata comes out of the headroom and ``data_end`` is the linear length;
* the linear part is at most ``PAGE_SIZE - headroom - SKB_DATA_ALIGN(sizeof(struct
  skb_shared_info))`` (4096 - 256 - 320 = 3520 bytes without metadata); the
  packet less its metadata must hold ``ETH_HLEN`` bytes (``-EINVAL``); the
  buffer is kzalloc'ed with the data after the headroom (``bpf_test_init``);
* the ``struct xdp_buff`` (:data:`verifier.xdp_ctx.XDP_BUFF`) is what
  ``xdp_init_buff``/``xdp_prepare_buff`` leave: ``frame_sz`` = ``PAGE_SIZE`` (the
  loopback rx queue's ``frag_size``), ``rxq`` = queue 0 of lo (ifindex 1),
  ``data_meta = data`` (metadata supported), no ``txq``;
  ``xdp_convert_md_to_buff`` then refuses a non-zero ``egress_ifindex``, an
  ``rx_queue_index`` without ``ingress_ifindex`` or not below the device's
  queue count (lo has one) with ``-EINVAL``, an unknown ``ingress_ifindex``
  with ``-ENODEV``, and moves ``data`` past the metadata;
* what is left of the data goes into fragments of a page each
  (``skb_shared_info`` at ``data_hard_start + frame_sz - 320``), at most
  ``MAX_SKB_FRAGS`` (17, ``-ENOMEM`` beyond), and ``XDP_FLAGS_HAS_FRAGS`` is set;
* the program runs ``repeat`` times (0 is once) on the same buffer in the
  kernel-text loop (``bpf_test_run``), with the run's cgroup storages; ``retval``
  is its u32 action;
* ``data_out`` is ``data_meta .. data_end`` then the fragments
  (``bpf_test_finish``: a ``data_out`` smaller than that is ``-ENOSPC``);
  ``ctx_out`` is the context with ``data = data - data_meta`` and ``data_end =
  data_end - data_meta`` (``xdp_convert_buff_to_md``; smaller than the struct:
  ``-ENOSPC``).

The helpers such a program calls at run time: :mod:`emu.kernel.xdp_helpers`.

Where we differ: the emulated kernel has one network device, lo; an
``ingress_ifindex`` naming another is ``-ENODEV`` here, where the host may have
it (and a registered rx queue). ``batch_size`` (live frames only) is not an
argument here. When the host answers ``-ENOSPC`` it has already copied the head
of the output; here the call raises.
"""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from emu.machine import BPF_PROG_SIZE  # prog->insnsi follows: bpf_func(ctx, insnsi) gets it as arg 2
from kernel_model.errors import KernelError, NotModelled
from kernel_model.uapi import PAGE_SIZE
from verifier.convert_ctx import SKB
from verifier.net_ctx import XDP_MD_SIZE
from verifier.xdp_ctx import XDP_BUFF as X

from .bpf_objects import TestRunResult
from .maps.cgroup_storage import alloc_run_storages, free_run_storages
from .xdp_helpers import ETH_HLEN, XDP_FLAGS_HAS_FRAGS, XDP_FRAME_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel
    from .prog_load import ProgObject

__all__ = ["run_xdp", "XDP_PACKET_HEADROOM", "MAX_SKB_FRAGS", "BPF_F_TEST_XDP_LIVE_FRAMES"]

#: include/uapi/linux/bpf.h
XDP_PACKET_HEADROOM = 256
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
#: enum bpf_attach_type
BPF_XDP_DEVMAP, BPF_XDP_CPUMAP = 33, 35
#: CONFIG_MAX_SKB_FRAGS (Debian's 6.18 amd64 configuration, the default)
MAX_SKB_FRAGS = 17
#: SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
TAILROOM = X.shinfo_size
#: the emulated kernel's only network device (LOOPBACK_IFINDEX) and its rx queue count
LOOPBACK_IFINDEX = 1
LO_RX_QUEUES = 1
#: loopback_setup (drivers/net/loopback.c): dev->mtu = 64 * 1024, an Ethernet header
LOOPBACK_MTU = 64 * 1024
#: sizeof(struct net_device) (verifier.convert_ctx.SKB.dev_size)
NET_DEVICE_SIZE = SKB.dev_size
#: include/net/xdp.h enum xdp_rxq_info_reg_state
REG_STATE_REGISTERED = 1


def _ctx_init(ctx_in: bytes, ctx_out_size: int) -> bytearray | None:
    """``bpf_ctx_init(kattr, sizeof(struct xdp_md))``: None without ctx_in and ctx_out."""
    if not ctx_in and not ctx_out_size:
        return None
    if len(ctx_in) > XDP_MD_SIZE and any(ctx_in[XDP_MD_SIZE:]):
        raise KernelError(errno.E2BIG, "ctx_in is larger than struct xdp_md and not zero past it")
    return bytearray(ctx_in[:XDP_MD_SIZE].ljust(XDP_MD_SIZE, b"\0"))


def _skb_data_align(n: int) -> int:
    return (n + 63) & ~63


def run_xdp(kernel: Kernel, po: ProgObject, ctx_in: bytes, data_in: bytes, repeat: int, flags: int,
            ctx_out_size: int, data_out_size: int) -> TestRunResult:
    """``bpf_prog_test_run_xdp`` (see the module docstring)."""
    prog = po.prog
    if prog.expected_attach_type in (BPF_XDP_DEVMAP, BPF_XDP_CPUMAP):
        raise KernelError(errno.EINVAL, "devmap and cpumap XDP programs cannot be test-run")
    if flags & ~BPF_F_TEST_XDP_LIVE_FRAMES:
        raise KernelError(errno.EINVAL, f"test_run flags {flags:#x}: XDP takes BPF_F_TEST_XDP_LIVE_FRAMES only")
    if flags:
        raise NotModelled("BPF_F_TEST_XDP_LIVE_FRAMES (frames sent through XDP_TX, redirects and the stack) "
                          "is not modelled")
    size_in = len(data_in)
    ctx = _ctx_init(ctx_in, ctx_out_size)
    headroom = XDP_PACKET_HEADROOM
    linear = size_in
    meta_sz = 0
    if ctx is not None:
        data, data_end, data_meta = struct.unpack_from("<III", ctx, 0)
        if data_meta or data_end > size_in or data > data_end:
            raise KernelError(errno.EINVAL, f"xdp_md data_meta {data_meta}, data {data}, data_end {data_end}: "
                                            f"data_meta must be 0 and data <= data_end <= {size_in} (data_size_in)")
        meta_sz = data
        if meta_sz % 4 or meta_sz > 255 or meta_sz > headroom - XDP_FRAME_SIZE:
            raise KernelError(errno.EINVAL, f"metadata of {meta_sz} bytes (xdp_md.data): a multiple of 4 "
                                            f"up to {headroom - XDP_FRAME_SIZE}")
        headroom -= meta_sz
        linear = data_end
    max_linear = PAGE_SIZE - headroom - TAILROOM
    linear = min(linear, max_linear)
    if size_in - meta_sz < ETH_HLEN:
        raise KernelError(errno.EINVAL, f"data_in of {size_in} bytes with {meta_sz} of metadata has no room for "
                                        f"an Ethernet header ({ETH_HLEN} bytes)")
    m = kernel.machine
    buf = m.alloc.kzalloc(_skb_data_align(max_linear) + headroom + TAILROOM)
    xdp = m.alloc.kzalloc(X.size)  # struct xdp_buff xdp = {} (the runner's stack)
    rxq = m.alloc.kzalloc(X.rxq_size)
    dev = m.alloc.kzalloc(NET_DEVICE_SIZE)
    pages: list[int] = []
    try:
        m.write(buf + headroom, data_in[:linear])
        m.write(dev + X.dev_ifindex, struct.pack("<i", LOOPBACK_IFINDEX))
        m.write(dev + X.dev_mtu, struct.pack("<I", LOOPBACK_MTU))
        m.write(dev + X.dev_hard_header_len, struct.pack("<H", ETH_HLEN))
        r = bytearray(X.rxq_size)  # __netif_get_rx_queue(loopback_dev, 0)->xdp_rxq
        struct.pack_into("<QII", r, X.rxq_dev, dev, 0, REG_STATE_REGISTERED)
        struct.pack_into("<I", r, X.rxq_frag_size, PAGE_SIZE)
        m.write(rxq, bytes(r))
        data_addr = buf + headroom
        b = bytearray(X.size)  # xdp_init_buff + xdp_prepare_buff(meta_valid)
        struct.pack_into("<QQQQQQII", b, 0, data_addr, data_addr + linear, data_addr, buf, rxq, 0, PAGE_SIZE, 0)
        if ctx is not None:  # xdp_convert_md_to_buff
            ingress, rx_queue, egress = struct.unpack_from("<III", ctx, 12)
            if egress:
                raise KernelError(errno.EINVAL, "xdp_md.egress_ifindex must be 0")
            if not ingress and rx_queue:
                raise KernelError(errno.EINVAL, "xdp_md.rx_queue_index without ingress_ifindex")
            if ingress:
                if ingress != LOOPBACK_IFINDEX:
                    raise KernelError(errno.ENODEV, f"no network device with ifindex {ingress} (the emulated "
                                                    "kernel has only lo)")
                if rx_queue >= LO_RX_QUEUES:
                    raise KernelError(errno.EINVAL, f"rx_queue_index {rx_queue}: lo has {LO_RX_QUEUES} rx queue")
            struct.pack_into("<Q", b, X.data, data_addr + meta_sz)
        sinfo = buf + PAGE_SIZE - TAILROOM  # xdp_get_shared_info_from_buff
        size = linear
        frags_size = 0
        while size < size_in:
            if len(pages) == MAX_SKB_FRAGS:
                raise KernelError(errno.ENOMEM, f"data_in of {size_in} bytes needs more than MAX_SKB_FRAGS "
                                                f"({MAX_SKB_FRAGS}) fragments after the {linear} linear bytes")
            n = min(size_in - size, PAGE_SIZE)
            page = m.alloc.kzalloc(PAGE_SIZE)
            pages.append(page)
            m.write(page, data_in[size:size + n])
            m.write(sinfo + X.shinfo_frags + (len(pages) - 1) * X.frag_size, struct.pack("<QII", page, n, 0))
            frags_size += n
            size += n
        if pages:
            m.write(sinfo + X.shinfo_nr_frags, bytes([len(pages)]))
            m.write(sinfo + X.shinfo_xdp_frags_size, struct.pack("<I", frags_size))
            struct.pack_into("<I", b, X.flags, XDP_FLAGS_HAS_FRAGS)
        m.write(xdp, bytes(b))
        n_runs = repeat if repeat > 0 else 1
        storages = alloc_run_storages(m, po.maps)
        try:
            t0 = time.perf_counter_ns()
            if n_runs == 1:
                ret = m.call(prog.bpf_func, (xdp, prog.addr + BPF_PROG_SIZE))
            else:
                ret = m.runner.run_loop(prog.bpf_func, xdp, n_runs)
            dt = (time.perf_counter_ns() - t0) // n_runs
        finally:
            free_run_storages(m, storages)
        data, data_end, data_meta = struct.unpack("<QQQ", m.read(xdp, 24))
        nr_frags = m.read(sinfo + X.shinfo_nr_frags, 1)[0]
        frags_size = struct.unpack("<I", m.read(sinfo + X.shinfo_xdp_frags_size, 4))[0]
        del pages[nr_frags:]  # the fragments bpf_xdp_adjust_tail freed
        size = data_end - data_meta + frags_size
        out = bytearray(m.read(data_meta, data_end - data_meta))
        for i in range(nr_frags):
            addr, length, off = struct.unpack("<QII", m.read(sinfo + X.shinfo_frags + i * X.frag_size, 16))
            out += m.read(addr + off, length)
        if data_out_size and size > data_out_size:  # bpf_test_finish
            raise KernelError(errno.ENOSPC, f"data_out of {data_out_size} bytes is smaller than the "
                                            f"{size}-byte packet")
        ctx_out = b""
        if ctx is not None:  # xdp_convert_buff_to_md, bpf_ctx_finish
            struct.pack_into("<II", ctx, 0, (data - data_meta) & 0xFFFF_FFFF, (data_end - data_meta) & 0xFFFF_FFFF)
            if ctx_out_size:
                ctx_out = bytes(ctx[:ctx_out_size])
                if ctx_out_size < XDP_MD_SIZE:
                    raise KernelError(errno.ENOSPC, f"ctx_out of {ctx_out_size} bytes is smaller than struct "
                                                    "xdp_md")
        return TestRunResult(ret & 0xFFFF_FFFF, data_out=bytes(out), ctx_out=ctx_out, duration=dt, retval64=ret)
    finally:
        for page in pages:
            m.alloc.kfree(page)
        for addr in (dev, rxq, xdp, buf):
            m.alloc.kfree(addr)
