"""``BPF_PROG_TEST_RUN`` of an sk_lookup program: ``bpf_prog_test_run_sk_lookup``
(net/bpf/test_run.c, Linux 6.12 sources; the 6.18 host compared in tests/emu/test_sk_lookup_run.py).

* no ``flags``, ``cpu``, ``batch_size``, nor any data in or out (``-EINVAL``); ``repeat`` 0
  is 1;
* the context is ``bpf_ctx_init(kattr, sizeof(struct bpf_sk_lookup))``: a ``ctx_in`` longer
  than the struct must be zero past it (``-E2BIG``), shorter is zero-filled; neither
  ``ctx_in`` nor ``ctx_out`` is ``-EINVAL``; a non-zero ``sk`` (cookie) or any byte after
  ``local_port`` is ``-EINVAL``; ``local_port`` above 65535 is ``-ERANGE``;
* ``struct bpf_sk_lookup_kern`` (:data:`verifier.sock_ctx.SK_LOOKUP_KERN`) takes family,
  protocol, the ports and, for AF_INET, the IPv4 addresses, for AF_INET6 pointers to the
  IPv6 ones (copied into kernel memory); another family is ``-EAFNOSUPPORT``;
* the program runs as a one-program ``BPF_PROG_SK_LOOKUP_RUN_ARRAY``: with no socket
  selected, ``SK_PASS`` stays SK_PASS and ``SK_DROP`` drops; ``retval`` is that verdict;
* ``ctx_out`` gets the user context back with ``cookie`` 0 (no socket can be selected:
  ``bpf_sk_assign`` needs a socket from a sockmap, which the emulated kernel does not
  have); a ``ctx_out`` smaller than the struct gets its head and ``-ENOSPC``
  (``bpf_ctx_finish``).

Where we differ: a program that reads a socket's fields (``ctx->sk->family``) is refused
here as not modelled (``bpf_sock_convert_ctx_access`` is not modelled; in a test run the
selected socket is always NULL, so the load is never reached, but it is not run blind).
"""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from emu.machine import BPF_PROG_SIZE  # prog->insnsi follows: bpf_func(ctx, insnsi) gets it as arg 2
from kernel_model.errors import KernelError, NotModelled
from verifier.regs import PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_TCP_SOCK, base_type
from verifier.sock_ctx import BPF_SK_LOOKUP_SIZE, SK_LOOKUP_KERN, SK_LOOKUP_KERN_SIZE

from .bpf_objects import TestRunResult

if TYPE_CHECKING:
    from .kernel import Kernel
    from .prog_load import ProgObject

__all__ = ["run_sk_lookup"]

AF_INET, AF_INET6 = 2, 10
SK_DROP, SK_PASS = 0, 1
_LOCAL_PORT_END = 64  # offsetofend(struct bpf_sk_lookup, local_port)


def _ctx_init(ctx_in: bytes, ctx_out_size: int) -> bytearray | None:
    """``bpf_ctx_init``: None without ctx_in and ctx_out."""
    if not ctx_in and not ctx_out_size:
        return None
    if len(ctx_in) > BPF_SK_LOOKUP_SIZE and any(ctx_in[BPF_SK_LOOKUP_SIZE:]):
        raise KernelError(errno.E2BIG, "ctx_in is larger than struct bpf_sk_lookup and not zero past it")
    return bytearray(ctx_in[:BPF_SK_LOOKUP_SIZE].ljust(BPF_SK_LOOKUP_SIZE, b"\0"))


def run_sk_lookup(kernel: Kernel, po: ProgObject, ctx_in: bytes, data_in: bytes, repeat: int, flags: int,
                  cpu: int, ctx_out_size: int, data_out_size: int) -> TestRunResult:
    """``bpf_prog_test_run_sk_lookup``."""
    if flags or cpu:
        raise KernelError(errno.EINVAL, "sk_lookup test runs take no flags or cpu")
    if data_in or data_out_size:
        raise KernelError(errno.EINVAL, "sk_lookup test runs take no data_in or data_out")
    ctx = _ctx_init(ctx_in, ctx_out_size)
    if ctx is None:
        raise KernelError(errno.EINVAL, "sk_lookup test runs need a struct bpf_sk_lookup in ctx_in or ctx_out")
    if struct.unpack_from("<Q", ctx, 0)[0]:
        raise KernelError(errno.EINVAL, "ctx_in's sk (cookie) must be 0")
    if any(ctx[_LOCAL_PORT_END:]):
        raise KernelError(errno.EINVAL, "ctx_in must be zero after local_port")
    family, protocol, remote_ip4 = struct.unpack_from("<III", ctx, 8)
    remote_port = struct.unpack_from("<H", ctx, 36)[0]
    local_ip4 = struct.unpack_from("<I", ctx, 40)[0]
    local_port = struct.unpack_from("<I", ctx, 60)[0]
    if local_port > 0xFFFF:
        raise KernelError(errno.ERANGE, f"local_port {local_port} is above U16_MAX")
    if family & 0xFFFF not in (AF_INET, AF_INET6):
        raise KernelError(errno.EAFNOSUPPORT, f"family {family & 0xFFFF} is neither AF_INET nor AF_INET6")
    if any(base_type(a.ptr_type) in (PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK) for a in po.result.insn_aux):
        raise NotModelled("an sk_lookup program reading socket fields is not test-run (bpf_sock_convert_ctx_access "
                          "is not modelled)")
    m = kernel.machine
    kctx = m.alloc.kzalloc(SK_LOOKUP_KERN_SIZE)
    ip6 = m.alloc.kzalloc(32)  # the user's remote_ip6 and local_ip6, copied in
    try:
        k = bytearray(SK_LOOKUP_KERN_SIZE)
        struct.pack_into("<HHHH", k, SK_LOOKUP_KERN["family"], family & 0xFFFF, protocol & 0xFFFF, remote_port,
                         local_port)
        if family & 0xFFFF == AF_INET:
            struct.pack_into("<II", k, SK_LOOKUP_KERN["v4_saddr"], remote_ip4, local_ip4)
        else:
            m.write(ip6, bytes(ctx[20:36]) + bytes(ctx[44:60]))
            struct.pack_into("<QQ", k, SK_LOOKUP_KERN["v6_saddr"], ip6, ip6 + 16)
        m.write(kctx, bytes(k))
        n = repeat if repeat > 0 else 1
        t0 = time.perf_counter_ns()
        if n == 1:
            ret = m.call(po.prog.bpf_func, (kctx, po.prog.addr + BPF_PROG_SIZE))
        else:
            ret = m.runner.run_loop(po.prog.bpf_func, kctx, n)
        dt = (time.perf_counter_ns() - t0) // n
        # BPF_PROG_SK_LOOKUP_RUN_ARRAY with one program and no selected socket
        verdict = SK_DROP if (ret & 0xFFFF_FFFF) == SK_DROP else SK_PASS
        struct.pack_into("<Q", ctx, 0, 0)  # cookie: no socket selected
        out = b""
        if ctx_out_size:
            out = bytes(ctx[:ctx_out_size])
            if ctx_out_size < BPF_SK_LOOKUP_SIZE:
                raise KernelError(errno.ENOSPC, f"ctx_out of {ctx_out_size} bytes is smaller than struct "
                                                "bpf_sk_lookup")
        return TestRunResult(verdict, ctx_out=out, duration=dt, retval64=ret)
    finally:
        m.alloc.kfree(ip6)
        m.alloc.kfree(kctx)
