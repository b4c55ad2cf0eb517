"""``BPF_PROG_TEST_RUN`` for the program types this kernel runs.

Each runner follows its kernel function (Linux 6.12 sources; the 6.18 host's
behaviour measured in shared/reference/kernel-oracle.md section 3):

* **struct_ops** -- ``bpf_struct_ops_test_run`` (net/bpf/bpf_dummy_struct_ops.c):
  only ``bpf_dummy_ops`` programs (another ``attach_btf_id`` is
  ``-EOPNOTSUPP``); ``ctx_in`` must be exactly ``8 * nr_args`` bytes
  (``-EINVAL``); it is copied into a kernel ``struct bpf_dummy_ops_test_args``
  (emulated memory) and ``args[0]``, when not 0, is a *user* pointer whose
  ``struct bpf_dummy_ops_state`` is copied in (``-EFAULT`` if unmapped:
  :mod:`emu.usermem`); a zero pointer argument is allowed only where the
  member's argument info says maybe-NULL (``check_test_run_args``, else
  ``-EINVAL``: commit 980ca8ceeae6, Linux 6.10, queued for 6.9.y stable with
  the test_1 ``cb__nullable`` stub; the 6.8 profile has no such check, so NULL
  reaches the program, whatever it assumed); a trampoline for the member is built on the fly
  in a fresh image page (``bpf_struct_ops_prepare_trampoline``), called
  indirectly with ``(state, args[1], args[2], args[3], args[4])``
  (``dummy_ops_call_op``); the state is copied back to user memory and the
  return value truncated to ``int`` (``put_user(prog_ret, &uattr->test.retval)``);
  the page is freed. ``repeat`` is ignored, as there.
* **socket filter** -- ``bpf_prog_test_run_skb`` (net/bpf/test_run.c): at least
  ``ETH_HLEN`` (14) bytes of data and at most ``PAGE_SIZE - NET_SKB_PAD -
  SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`` (4096 - 64 - 320); the
  packet goes into a kzalloc'ed buffer after 64 bytes of headroom, a ``struct
  sk_buff`` gets ``len = size - 14`` (``eth_type_trans`` pulled the Ethernet
  header), ``data``, ``head`` and ``protocol``; the program runs ``repeat``
  times (0 means once) in the kernel-text loop (``bpf_test_run``); ``data_out``
  is the packet with the Ethernet header pushed back as zeros.
* **syscall** -- ``bpf_prog_test_run_syscall``: no data, no flags, no repeat
  (``-EINVAL``; our default ``repeat=1`` stands for the uapi's 0), a context of
  at most 65535 bytes copied into the kernel, the program run once, the
  context copied back (the host writes it back into the ``ctx_in`` buffer: here
  it is ``ctx_out``).

Where we differ: ``__sk_buff`` context input (``ctx_in`` for socket filters),
``BPF_F_TEST_SKB_CHECKSUM_COMPLETE``, ``BPF_F_TEST_RUN_ON_CPU`` and the
``max_ctx_offset`` lower bound of syscall contexts are not modelled (the first
three are refused with ``-EINVAL`` and a message saying so).
"""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from kernel_model.btf import Ptr
from kernel_model.btf import structs as S
from kernel_model.errors import ENOTSUPP, KernelError
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL

from .bpf_objects import TestRunResult
from .machine import BPF_PROG_SIZE  # prog->insnsi follows: bpf_func(ctx, insnsi) gets it as arg 2

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel
    from .syscall import ProgObject

__all__ = ["test_run", "ETH_HLEN", "SKB_HEADROOM", "SKB_TAILROOM", "DUMMY_ARGS_SIZE", "DUMMY_STATE_OFF"]

ETH_HLEN = 14
#: NET_SKB_PAD + NET_IP_ALIGN on x86-64, and SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
SKB_HEADROOM = 64
SKB_TAILROOM = 320
PAGE_SIZE = 4096
#: struct bpf_dummy_ops_test_args (6.18 host BTF): u64 args[12]; state at 96; 104 bytes
DUMMY_ARGS_SIZE = 104
DUMMY_STATE_OFF = 96
#: struct sk_buff (6.18 host BTF): len, protocol, head, data; sizeof is 232
SKB_SIZE = 232
SKB_LEN, SKB_PROTOCOL, SKB_HEAD, SKB_DATA = 112, 176, 192, 200
M64 = (1 << 64) - 1


def test_run(kernel: "Kernel", po: "ProgObject", *, ctx_in: bytes, data_in: bytes, repeat: int,
             ctx_out_size: int = 0, data_out_size: int = 0, flags: int = 0, cpu: int = 0) -> TestRunResult:
    """Dispatch on the program type (``prog->aux->ops->test_run``)."""
    t = po.prog.prog_type
    if t == PROG_TYPE_STRUCT_OPS:
        return _run_dummy_struct_ops(kernel, po, ctx_in)
    if t == PROG_TYPE_SOCKET_FILTER:
        return _run_skb(kernel, po, ctx_in, data_in, repeat, flags, cpu)
    if t == PROG_TYPE_SYSCALL:
        return _run_syscall(kernel, po, ctx_in, data_in, repeat, flags, ctx_out_size, data_out_size)
    raise KernelError(ENOTSUPP, f"program type {t} has no test_run here")


def _run_dummy_struct_ops(kernel: "Kernel", po: "ProgObject", ctx_in: bytes) -> TestRunResult:
    m = kernel.machine
    dummy_id = kernel.btf.find("bpf_dummy_ops", S.KIND_STRUCT)
    prog = po.prog
    if dummy_id is None or prog.attach_btf_id != dummy_id:
        raise KernelError(errno.EOPNOTSUPP, "BPF_PROG_TEST_RUN of struct_ops runs bpf_dummy_ops programs only")
    member = po.member
    if member is None or member.func_model is None:
        raise KernelError(errno.EINVAL, "program is not attached to a bpf_dummy_ops member")
    model = member.func_model
    nr = model.nr_args
    if len(ctx_in) != 8 * nr:
        raise KernelError(errno.EINVAL, f"ctx_in must be {8 * nr} bytes (u64 args[{nr}]), got {len(ctx_in)}")
    args = list(struct.unpack(f"<{nr}Q", ctx_in)) + [0] * (12 - nr)
    state = b"\0\0\0\0"
    if args[0]:
        state = kernel.user.copy_from_user(args[0], 4)  # copy_from_user(&args->state, u_state)
    if kernel.profile.nullable_args:
        _check_test_run_args(po, args)
    kargs = m.kzalloc(DUMMY_ARGS_SIZE)
    image = 0
    try:
        m.write(kargs, struct.pack("<12Q", *args) + state)
        from jit.trampoline import X86StructOpsArch, struct_ops_flags

        arch = X86StructOpsArch(kernel.profile, m.trampoline_symbols(), m.cpu_config)
        flags = struct_ops_flags(model)
        size = arch.size(model, flags, prog)
        if size > PAGE_SIZE:
            raise KernelError(errno.E2BIG, f"trampoline of {size} bytes does not fit in a page")
        image = m.alloc_trampoline(PAGE_SIZE)
        m.text_copy(image, arch.emit(model, flags, prog, image))
        state_ptr = kargs + DUMMY_STATE_OFF if args[0] else 0
        t0 = time.perf_counter_ns()
        ret = kernel._invoke_fn_ptr(image, (state_ptr, args[1], args[2], args[3], args[4]))
        dt = time.perf_counter_ns() - t0
        if args[0]:
            kernel.user.copy_to_user(args[0], m.read(kargs + DUMMY_STATE_OFF, 4))
        return TestRunResult(ret & 0xFFFF_FFFF, duration=dt, retval64=ret,
                             details={"trampoline": image})
    finally:
        if image:
            m.free_trampoline(image)
        m.kfree(kargs)


def _check_test_run_args(po: "ProgObject", args: list[int]) -> None:
    """``check_test_run_args``: a 0 pointer argument must be maybe-NULL in the arg info."""
    desc = po.desc
    member = po.member
    assert desc is not None and member is not None and member.func_proto_id is not None
    btf = desc.btf
    proto = btf.type_by_id(member.func_proto_id)
    maybe_null = {info.arg_no for info in member.arg_info}
    for no, param in enumerate(proto.params):  # type: ignore[attr-defined]
        if args[no]:
            continue
        if not isinstance(btf.resolve(param.type_id), Ptr):
            continue
        if no in maybe_null:
            continue
        raise KernelError(errno.EINVAL, f"argument {no} of {desc.name}.{member.name} is a NULL pointer "
                                        "and not __nullable")


def _run_skb(kernel: "Kernel", po: "ProgObject", ctx_in: bytes, data_in: bytes, repeat: int, flags: int,
             cpu: int) -> TestRunResult:
    m = kernel.machine
    if flags or cpu:
        raise KernelError(errno.EINVAL, "test_run flags/cpu for socket filters are not modelled")
    size = len(data_in)
    if size < ETH_HLEN:
        raise KernelError(errno.EINVAL, f"data_in must hold an Ethernet header ({ETH_HLEN} bytes), got {size}")
    if size > PAGE_SIZE - SKB_HEADROOM - SKB_TAILROOM:
        raise KernelError(errno.EINVAL, f"data_in of {size} bytes does not fit in a page with the skb's "
                                        "headroom and tailroom")
    if ctx_in:
        raise KernelError(errno.EINVAL, "a __sk_buff ctx_in for socket filters is not modelled")
    buf_size = ((size + 63) & ~63) + SKB_HEADROOM + SKB_TAILROOM
    buf = m.kzalloc(buf_size)
    skb = m.kzalloc(SKB_SIZE)
    try:
        m.write(buf + SKB_HEADROOM, data_in)
        skb_hdr = bytearray(SKB_SIZE)
        struct.pack_into("<I", skb_hdr, SKB_LEN, size - ETH_HLEN)
        skb_hdr[SKB_PROTOCOL:SKB_PROTOCOL + 2] = data_in[12:14]  # eth->h_proto, big endian as in the skb
        struct.pack_into("<QQ", skb_hdr, SKB_HEAD, buf, buf + SKB_HEADROOM + ETH_HLEN)
        m.write(skb, bytes(skb_hdr))
        n = repeat if repeat > 0 else 1
        t0 = time.perf_counter_ns()
        if n == 1:
            ret = m.call(po.prog.bpf_func, (skb, po.prog.addr + BPF_PROG_SIZE))
        else:
            ret = m.run_loop(po.prog.bpf_func, skb, n)
        dt = (time.perf_counter_ns() - t0) // n
        data_out = bytes(ETH_HLEN) + m.read(buf + SKB_HEADROOM + ETH_HLEN, size - ETH_HLEN)
        return TestRunResult(ret & 0xFFFF_FFFF, data_out=data_out, duration=dt, retval64=ret)
    finally:
        m.kfree(skb)
        m.kfree(buf)


def _run_syscall(kernel: "Kernel", po: "ProgObject", ctx_in: bytes, data_in: bytes, repeat: int, flags: int,
                 ctx_out_size: int, data_out_size: int) -> TestRunResult:
    m = kernel.machine
    if data_in or flags or repeat > 1 or ctx_out_size or data_out_size:
        raise KernelError(errno.EINVAL, "syscall programs take no data_in, data_out, ctx_out, repeat or flags")
    if len(ctx_in) > 0xFFFF:
        raise KernelError(errno.EINVAL, "ctx_in is larger than U16_MAX")
    ctx = m.kzalloc(len(ctx_in)) if ctx_in else 0
    try:
        if ctx_in:
            m.write(ctx, ctx_in)
        t0 = time.perf_counter_ns()
        ret = m.call(po.prog.bpf_func, (ctx, po.prog.addr + BPF_PROG_SIZE))
        dt = time.perf_counter_ns() - t0
        out = m.read(ctx, len(ctx_in)) if ctx_in else b""
        return TestRunResult(ret & 0xFFFF_FFFF, ctx_out=out, duration=dt, retval64=ret)
    finally:
        if ctx:
            m.kfree(ctx)
