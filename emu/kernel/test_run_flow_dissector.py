"""``BPF_PROG_TEST_RUN`` of a flow dissector: ``bpf_prog_test_run_flow_dissector``
(net/bpf/test_run.c) around ``bpf_flow_dissect`` (net/core/flow_dissector.c), Linux 6.12
sources, the 6.18 host compared in tests/emu/test_flow_dissector_run.py.

* no ``flags``, ``cpu`` (``-EINVAL``; ``batch_size`` is not in this API); ``data_in`` of at
  least ``ETH_HLEN`` (14) bytes and at most ``PAGE_SIZE`` (``bpf_test_init`` with no head-
  or tailroom), else ``-EINVAL``; ``repeat`` 0 is 1;
* ``ctx_in`` / ``ctx_out`` are a ``struct bpf_flow_keys`` (``bpf_ctx_init``: a longer
  ``ctx_in`` must be zero past the 56 bytes, ``-E2BIG``, and at most a page); only
  ``flags`` may be set (``verify_user_bpf_flow_keys``: any other byte ``-EINVAL``);
* the packet (Ethernet header included) is copied into a kzalloc'ed buffer and the
  program gets a ``struct bpf_flow_dissector`` (:data:`verifier.flow_dissector_ctx.FLOW_DISSECTOR`)
  with ``data``/``data_end`` around it, ``skb`` NULL (an skb-less dissection) and
  ``flow_keys`` pointing at kernel memory; each run is ``bpf_flow_dissect(prog, ctx,
  eth->h_proto, ETH_HLEN, size, flags)``: the keys zeroed, ``n_proto`` the EtherType (as
  in the packet, big-endian), ``nhoff`` = ``thoff`` = 14, ``flags``; the program runs
  (its tail calls through a prog array included); then ``nhoff`` is clamped into
  ``[14, min(size, U16_MAX)]`` and ``thoff`` into ``[nhoff, that]``;
* ``retval`` is what the program returned, unmapped (``BPF_OK`` 0, ``BPF_DROP`` 2,
  ``BPF_FLOW_DISSECTOR_CONTINUE`` 129 ...: only ``__skb_flow_dissect``, the attached path,
  maps them, and nothing is attached here); ``data_out`` is the 56 bytes of flow keys
  (``bpf_test_finish``: a ``data_out_size`` below that is ``-ENOSPC``); ``ctx_out`` the
  user's context back as given (``bpf_ctx_finish``: ``-ENOSPC`` when too small).

The one helper body of its own, ``bpf_flow_dissector_load_bytes`` (the flow dissector's
answer to ``bpf_skb_load_bytes``, net/core/filter.c), is :func:`flow_dissector_load_bytes`:
with ``skb`` NULL it clears the buffer and returns ``-EFAULT``, as the kernel's does in
every test run. Where we differ: no skb-based dissection exists here (the emulated
kernel attaches no flow dissector), so the helper's copy out of an skb is not modelled.
"""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from emu.machine import BPF_PROG_SIZE  # prog->insnsi follows: bpf_func(ctx, insnsi) gets it as arg 2
from kernel_model.errors import KernelError, NotModelled
from kernel_model.memory import GuestMemory
from kernel_model.uapi import PAGE_SIZE
from verifier.flow_dissector_ctx import FLOW_DISSECTOR, FLOW_KEYS

from .bpf_objects import TestRunResult

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel
    from .prog_load import ProgObject

__all__ = ["run_flow_dissector", "flow_dissector_load_bytes", "flow_dissect_keys_init", "flow_dissect_clamp"]

ETH_HLEN = 14
U16_MAX = 0xFFFF
#: SKB_DATA_ALIGN: SMP_CACHE_BYTES on x86-64
_CACHE_BYTES = 64
M64 = (1 << 64) - 1


def _ctx_init(ctx_in: bytes, ctx_out_size: int) -> bytearray | None:
    """``bpf_ctx_init(kattr, sizeof(struct bpf_flow_keys))``: None without ctx_in and
    ctx_out; ``bpf_check_uarg_tail_zero``: more than a page, or non-zero bytes past the
    struct, is ``-E2BIG``."""
    if not ctx_in and not ctx_out_size:
        return None
    if len(ctx_in) > PAGE_SIZE:
        raise KernelError(errno.E2BIG, f"ctx_in of {len(ctx_in)} bytes is larger than a page")
    if len(ctx_in) > FLOW_KEYS.size and any(ctx_in[FLOW_KEYS.size:]):
        raise KernelError(errno.E2BIG, "ctx_in is larger than struct bpf_flow_keys and not zero past it")
    return bytearray(ctx_in[:FLOW_KEYS.size].ljust(FLOW_KEYS.size, b"\0"))


def flow_dissect_keys_init(proto: bytes, nhoff: int, flags: int) -> bytes:
    """What ``bpf_flow_dissect`` hands the program: zeroed keys with ``n_proto`` (network
    order, as read from the packet), ``nhoff`` = ``thoff`` and ``flags``."""
    keys = bytearray(FLOW_KEYS.size)
    keys[FLOW_KEYS.n_proto:FLOW_KEYS.n_proto + 2] = proto
    struct.pack_into("<HH", keys, FLOW_KEYS.nhoff, nhoff, nhoff)
    struct.pack_into("<I", keys, FLOW_KEYS.flags, flags)
    return bytes(keys)


def flow_dissect_clamp(keys: bytes, nhoff: int, hlen: int) -> bytes:
    """``bpf_flow_dissect`` after the program: ``hlen`` capped at U16_MAX, ``nhoff``
    clamped into ``[nhoff, hlen]``, ``thoff`` into ``[keys.nhoff, hlen]`` (``clamp_t(u16,
    ...)``: the bounds are taken as u16 too)."""
    hlen = min(hlen, U16_MAX) & U16_MAX
    got_nhoff, got_thoff = struct.unpack_from("<HH", keys, FLOW_KEYS.nhoff)
    new_nhoff = min(max(got_nhoff, nhoff & U16_MAX), hlen)
    new_thoff = min(max(got_thoff, new_nhoff), hlen)
    out = bytearray(keys)
    struct.pack_into("<HH", out, FLOW_KEYS.nhoff, new_nhoff, new_thoff)
    return bytes(out)


def flow_dissector_load_bytes(mem: GuestMemory, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """``bpf_flow_dissector_load_bytes(ctx, offset, to, len)`` (net/core/filter.c, Linux
    6.18): an ``offset`` above 0xffff, or a dissection without an skb (every skb-less one:
    the test runs), clears ``to[0..len)`` and returns ``-EFAULT``. The copy out of an skb
    (``skb_header_pointer``) is not modelled: no skb reaches a flow dissector here."""
    offset, length = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF
    skb = int.from_bytes(mem.read(r1 + FLOW_DISSECTOR.skb, 8), "little")
    if offset <= 0xFFFF and skb:
        raise NotModelled("bpf_skb_load_bytes of a flow dissector on an skb is not modelled")
    if length:
        mem.write(r3, bytes(length))
    return -errno.EFAULT & M64


def run_flow_dissector(kernel: "Kernel", po: "ProgObject", ctx_in: bytes, data_in: bytes, repeat: int,
                       flags: int, cpu: int, ctx_out_size: int, data_out_size: int) -> TestRunResult:
    """``bpf_prog_test_run_flow_dissector``."""
    m = kernel.machine
    if flags or cpu:
        raise KernelError(errno.EINVAL, "flow dissector test runs take no flags or cpu")
    size = len(data_in)
    if size < ETH_HLEN:
        raise KernelError(errno.EINVAL, f"data_in must hold an Ethernet header ({ETH_HLEN} bytes), got {size}")
    if size > PAGE_SIZE:  # bpf_test_init(kattr, size, size, 0, 0)
        raise KernelError(errno.EINVAL, f"data_in of {size} bytes is larger than a page")
    ctx = _ctx_init(ctx_in, ctx_out_size)
    keys_flags = 0
    if ctx is not None:  # verify_user_bpf_flow_keys
        if any(ctx[:FLOW_KEYS.flags]) or any(ctx[FLOW_KEYS.flags + 4:]):
            raise KernelError(errno.EINVAL, "ctx_in (struct bpf_flow_keys) may set flags only")
        keys_flags = struct.unpack_from("<I", ctx, FLOW_KEYS.flags)[0]
    proto = data_in[12:14]  # eth->h_proto
    data = m.alloc.kzalloc(-(-size // _CACHE_BYTES) * _CACHE_BYTES)
    keys = m.alloc.kzalloc(FLOW_KEYS.size)  # the kernel's is on its stack
    fctx = m.alloc.kzalloc(FLOW_DISSECTOR.size)
    try:
        m.write(data, data_in)
        c = bytearray(FLOW_DISSECTOR.size)
        struct.pack_into("<Q", c, FLOW_DISSECTOR.flow_keys, keys)
        struct.pack_into("<QQ", c, FLOW_DISSECTOR.data, data, data + size)
        m.write(fctx, bytes(c))
        n = repeat if repeat > 0 else 1
        start = flow_dissect_keys_init(proto, ETH_HLEN, keys_flags)
        ret = 0
        t0 = time.perf_counter_ns()
        for _ in range(n):
            m.write(keys, start)
            ret = m.call(po.prog.bpf_func, (fctx, po.prog.addr + BPF_PROG_SIZE))
            m.write(keys, flow_dissect_clamp(m.read(keys, FLOW_KEYS.size), ETH_HLEN, size))
        dt = (time.perf_counter_ns() - t0) // n
        out = m.read(keys, FLOW_KEYS.size)
    finally:
        for addr in (fctx, keys, data):
            m.alloc.kfree(addr)
    if data_out_size and data_out_size < FLOW_KEYS.size:  # bpf_test_finish
        raise KernelError(errno.ENOSPC, f"data_out of {data_out_size} bytes cannot hold the flow keys "
                                        f"({FLOW_KEYS.size} bytes)")
    ctx_out = b""
    if ctx is not None and ctx_out_size:  # bpf_ctx_finish: the user's keys, as given
        if ctx_out_size < FLOW_KEYS.size:
            raise KernelError(errno.ENOSPC, f"ctx_out of {ctx_out_size} bytes cannot hold struct bpf_flow_keys")
        ctx_out = bytes(ctx)
    return TestRunResult(ret & 0xFFFF_FFFF, data_out=out, ctx_out=ctx_out, duration=dt, retval64=ret & M64)
