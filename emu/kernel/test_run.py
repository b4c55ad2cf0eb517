"""``BPF_PROG_TEST_RUN`` for the program types this kernel runs.

Each runner follows its kernel function (Linux 6.12 sources; the 6.18 host's
behaviour compared in the oracle tests):

* **struct_ops** -- ``bpf_struct_ops_test_run`` (net/bpf/bpf_dummy_struct_ops.c):
  only ``bpf_dummy_ops`` programs (another ``attach_btf_id`` is
  ``-EOPNOTSUPP``); ``ctx_in`` must be exactly ``8 * nr_args`` bytes
  (``-EINVAL``); it is copied into a kernel ``struct bpf_dummy_ops_test_args``
  (emulated memory) and ``args[0]``, when not 0, is a *user* pointer whose
  ``struct bpf_dummy_ops_state`` is copied in (``-EFAULT`` if unmapped:
  :mod:`emu.kernel.usermem`); a zero pointer argument is allowed only where the
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
  packet goes into a kzalloc'ed buffer after 64 bytes of headroom with a
  zeroed ``skb_shared_info`` at ``head + end``; the ``struct sk_buff``
  (:data:`verifier.convert_ctx.SKB` layout) is what ``eth_type_trans`` on the
  loopback device leaves: ``dev`` = lo (ifindex 1), ``len = size - 14``, the
  ``pkt_type`` of the destination address against lo's all-zero addresses
  (host, multicast, other host), ``protocol`` the EtherType, or ETH_P_802_3 /
  ETH_P_802_2 for an 802.3 length field; ``sk`` a zeroed socket (``sk_alloc``);
  an IPv4 (IPv6) packet shorter than its header is ``-EINVAL``. A ``ctx_in``
  ``struct __sk_buff`` (``convert___skb_to_skb``) may set ``mark``,
  ``priority``, ``ingress_ifindex``, ``ifindex`` (1, or ``-ENODEV``: the
  emulated kernel has no other device), ``cb``, ``tstamp``, ``wire_len``,
  ``gso_segs``, ``gso_size``, ``hwtstamp`` -- any other byte non-zero is
  ``-EINVAL`` -- and ``ctx_out`` gets them back (``convert_skb_to___skb``);
  the program runs ``repeat`` times (0 means once) in the kernel-text loop
  (``bpf_test_run``); ``data_out`` is the packet with the Ethernet header
  pushed back as zeros. The ``flags`` other than ``BPF_F_TEST_SKB_CHECKSUM_COMPLETE``
  and a ``cpu`` are ``-EINVAL``.
* **tc, cgroup_skb, lwt** -- the same ``bpf_prog_test_run_skb`` for ``sched_cls``,
  ``sched_act``, ``cgroup_skb``, ``lwt_in``, ``lwt_out`` and ``lwt_xmit`` (Linux 6.18),
  per type: tc programs see the frame from its Ethernet header (``is_l2``: ``len`` is
  the whole frame, ``wire_len`` is checked against it, ``data_out`` is what the
  program left there); the others see it from the network header and get the
  Ethernet header back as zeros in ``data_out``; all of them get
  ``bpf_compute_data_pointers`` (``data_meta``, ``data_end`` in the ``cb``). The
  test run's socket carries ``sk_family`` and the packet's addresses
  (``sk_rcv_saddr`` the source, ``sk_daddr`` the destination; the IPv6 ones), which
  cgroup_skb programs read through ``family`` / ``remote_ip4`` ...; a cgroup_skb
  program's cgroup storages are allocated for the run (``bpf_test_run``).
  ``BPF_F_TEST_SKB_CHECKSUM_COMPLETE`` is accepted by the kernel and refused here as
  not modelled (exit 3); lwt_seg6local has no ``test_run`` (``-ENOTSUPP``, as the
  kernel). The helpers these programs call in a run: :mod:`emu.kernel.skb_helpers`.
* **syscall** -- ``bpf_prog_test_run_syscall``: no data, no flags, no repeat
  (``-EINVAL``; our default ``repeat=1`` stands for the uapi's 0), a context of
  at most 65535 bytes copied into the kernel, the program run once, the
  context copied back (the host writes it back into the ``ctx_in`` buffer: here
  it is ``ctx_out``).

* **sk_lookup** -- ``bpf_prog_test_run_sk_lookup``: :mod:`emu.kernel.test_run_sk_lookup`.
* **flow dissector** -- ``bpf_prog_test_run_flow_dissector`` (``bpf_flow_dissect`` on an
  skb-less ``struct bpf_flow_dissector``, the flow keys out as ``data_out``):
  :mod:`emu.kernel.test_run_flow_dissector`.
* **raw tracepoint** -- ``bpf_prog_test_run_raw_tp`` (the ``u64`` argument array as
  ``ctx_in``, ``BPF_F_TEST_RUN_ON_CPU`` on the emulated CPUs): :mod:`emu.kernel.test_run_raw_tp`;
  ``raw_tracepoint.w`` programs have no test run in the kernel (``-ENOTSUPP``); a
  ``tp_btf`` (or iterator) program reaches ``bpf_prog_test_run_tracing``'s default:
  ``-EFAULT`` (:func:`emu.kernel.test_run_raw_tp.run_tracing`).
* A type whose kernel ``prog_ops`` has no ``test_run`` is ``-ENOTSUPP``, as there; a type
  whose kernel has one that this module lacks is refused as not modelled.

* **xdp** -- ``bpf_prog_test_run_xdp``: :mod:`emu.kernel.test_run_xdp` (headroom,
  metadata, fragments, the ``xdp_md`` context; live frames not modelled), with the
  helpers of :mod:`emu.kernel.xdp_helpers`.

Where we differ: ``BPF_F_TEST_SKB_CHECKSUM_COMPLETE`` (refused as not modelled)
and the ``max_ctx_offset`` lower bound of syscall contexts are not modelled
(``BPF_F_TEST_RUN_ON_CPU`` is modelled for raw tracepoints, the one type that takes
it, on the emulated CPUs); the
test-run socket has only ``sk_family`` and the addresses of ``sock_init_data``'s
work (its other fields are zero); a ``ctx_in`` naming another device than lo is
``-ENODEV`` here while the host may have one with that ifindex; ``data_size_out``
(``-ENOSPC`` for a short buffer) is not taken: ``data_out`` is always whole.
"""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from kernel_model.btf import Ptr
from kernel_model.btf import structs as S
from kernel_model.errors import ENOTSUPP, KernelError, NotModelled
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL
from kernel_model.uapi import (PROG_TYPE_CGROUP_SKB, PROG_TYPE_LWT_IN, PROG_TYPE_LWT_OUT, PROG_TYPE_LWT_XMIT,
                               PROG_TYPE_SCHED_ACT, PROG_TYPE_SCHED_CLS)
from verifier.sock_ctx import PROG_TYPE_SK_LOOKUP
from kernel_model.uapi import PROG_TYPE_FLOW_DISSECTOR, PROG_TYPE_RAW_TRACEPOINT, PROG_TYPE_TRACING
from kernel_model.uapi import PAGE_SIZE, PROG_TYPE_XDP
from verifier.ctx import SK_BUFF_SIZE

from .bpf_objects import TestRunResult
from verifier.convert_ctx import SKB
from emu.machine import BPF_PROG_SIZE  # prog->insnsi follows: bpf_func(ctx, insnsi) gets it as arg 2

from .maps.cgroup_storage import alloc_run_storages, free_run_storages

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel
    from .syscall import ProgObject

__all__ = ["test_run", "ETH_HLEN", "SKB_HEADROOM", "SKB_TAILROOM", "DUMMY_ARGS_SIZE", "DUMMY_STATE_OFF"]

ETH_HLEN = 14
#: NET_SKB_PAD + NET_IP_ALIGN on x86-64, and SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
SKB_HEADROOM = 64
SKB_TAILROOM = 320
#: struct bpf_dummy_ops_test_args (6.18 host BTF): u64 args[12]; state at 96; 104 bytes
DUMMY_ARGS_SIZE = 104
DUMMY_STATE_OFF = 96
M64 = (1 << 64) - 1


def test_run(kernel: "Kernel", po: "ProgObject", *, ctx_in: bytes, data_in: bytes, repeat: int,
             ctx_out_size: int = 0, data_out_size: int = 0, flags: int = 0, cpu: int = 0) -> TestRunResult:
    """Dispatch on the program type (``prog->aux->ops->test_run``)."""
    t = po.prog.prog_type
    if t == PROG_TYPE_STRUCT_OPS:
        return _run_dummy_struct_ops(kernel, po, ctx_in)
    if t in SKB_TEST_RUN_TYPES:
        return _run_skb(kernel, po, ctx_in, data_in, repeat, flags, cpu, ctx_out_size)
    if t == PROG_TYPE_SYSCALL:
        return _run_syscall(kernel, po, ctx_in, data_in, repeat, flags, ctx_out_size, data_out_size)
    if t == PROG_TYPE_SK_LOOKUP:
        from .test_run_sk_lookup import run_sk_lookup
        return run_sk_lookup(kernel, po, ctx_in, data_in, repeat, flags, cpu, ctx_out_size, data_out_size)
    if t == PROG_TYPE_XDP:
        from .test_run_xdp import run_xdp
        return run_xdp(kernel, po, ctx_in, data_in, repeat, flags, ctx_out_size, data_out_size)
    if t == PROG_TYPE_FLOW_DISSECTOR:
        from .test_run_flow_dissector import run_flow_dissector
        return run_flow_dissector(kernel, po, ctx_in, data_in, repeat, flags, cpu, ctx_out_size, data_out_size)
    if t == PROG_TYPE_RAW_TRACEPOINT:
        from .test_run_raw_tp import run_raw_tp
        return run_raw_tp(kernel, po, ctx_in, data_in, repeat, flags, cpu, ctx_out_size, data_out_size)
    if t == PROG_TYPE_TRACING:
        from .test_run_raw_tp import run_tracing
        return run_tracing(po, flags, cpu)
    return _no_test_run(t)


def _no_test_run(prog_type: int) -> TestRunResult:
    """A type without a runner here: ``-ENOTSUPP`` where the kernel has none either
    (``prog->aux->ops->test_run`` is NULL: kprobe, raw_tracepoint.w, the cgroup socket
    types ...), not modelled where it has one (its function named)."""
    from kernel_model.bpf_facts.prog_types import PROG_FACTS

    facts = next((f for f in PROG_FACTS.values() if f.id == prog_type), None)
    if facts is None or facts.test_run is None:
        raise KernelError(ENOTSUPP, f"program type {prog_type} has no BPF_PROG_TEST_RUN in the kernel")
    raise NotModelled(f"BPF_PROG_TEST_RUN of {facts.name.removeprefix('BPF_PROG_TYPE_').lower()} programs "
                      f"({facts.test_run}) is not modelled")


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
    kargs = m.alloc.kzalloc(DUMMY_ARGS_SIZE)
    image = 0
    try:
        m.write(kargs, struct.pack("<12Q", *args) + state)
        from jit.trampoline import X86StructOpsArch, struct_ops_flags

        arch = X86StructOpsArch(kernel.profile, m.images.trampoline_symbols(), m.cpu_config)
        flags = struct_ops_flags(model)
        size = arch.size(model, flags, prog)
        if size > PAGE_SIZE:
            raise KernelError(errno.E2BIG, f"trampoline of {size} bytes does not fit in a page")
        image = m.packs.alloc_trampoline(PAGE_SIZE)
        m.packs.text_copy(image, arch.emit(model, flags, prog, image))
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
            m.packs.free_trampoline(image)
        m.alloc.kfree(kargs)


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


#: struct __sk_buff (include/uapi/linux/bpf.h) fields convert___skb_to_skb reads
_CTX_MARK, _CTX_PRIORITY, _CTX_INGRESS_IFINDEX, _CTX_IFINDEX, _CTX_CB = 8, 32, 36, 40, 48
_CTX_TSTAMP, _CTX_WIRE_LEN, _CTX_GSO_SEGS, _CTX_GSO_SIZE, _CTX_HWTSTAMP = 152, 160, 164, 176, 184
#: the byte ranges of struct __sk_buff a ctx_in may set (convert___skb_to_skb); the rest must be zero
_CTX_ALLOWED = ((8, 12), (32, 44), (48, 68), (152, 168), (176, 180), (184, 192))
ETH_P_IP, ETH_P_IPV6, ETH_P_802_3, ETH_P_802_2, ETH_P_802_3_MIN = 0x0800, 0x86DD, 0x0001, 0x0004, 0x0600
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
#: GSO_MAX_SEGS, GSO_LEGACY_MAX_SIZE (include/linux/netdevice.h)
GSO_MAX_SEGS, GSO_LEGACY_MAX_SIZE = 65535, 65536
#: the loopback device's ifindex in the initial network namespace (LOOPBACK_IFINDEX)
LOOPBACK_IFINDEX = 1
#: sizeof(struct sock) (allocated zeroed; programs can only test skb->sk for NULL: the
#: verifier model refuses loads through sock pointers)
SOCK_SIZE = 776


def _pkt_type(h_dest: bytes) -> int:
    """``eth_skb_pkt_type`` against the loopback device, whose ``dev_addr`` and
    ``broadcast`` are all zeros (drivers/net/loopback.c sets neither)."""
    if h_dest == bytes(6):
        return PACKET_HOST
    if h_dest[0] & 1:  # multicast; never lo's (zero) broadcast address
        return PACKET_MULTICAST
    return PACKET_OTHERHOST


def _eth_protocol(data: bytes) -> int:
    """``eth_type_trans``'s return (network byte order) for a frame on lo (no DSA)."""
    proto = int.from_bytes(data[12:14], "big")
    if proto >= ETH_P_802_3_MIN:
        return proto
    sap = data[14:16]
    return ETH_P_802_3 if sap == b"\xff\xff" else ETH_P_802_2


def _skb_ctx(ctx_in: bytes, ctx_out_size: int) -> bytearray | None:
    """``bpf_ctx_init(kattr, sizeof(struct __sk_buff))``: None without ctx_in and
    ctx_out; a longer ctx_in must be zero past the struct (-E2BIG)."""
    if not ctx_in and not ctx_out_size:
        return None
    if len(ctx_in) > SK_BUFF_SIZE and any(ctx_in[SK_BUFF_SIZE:]):
        raise KernelError(errno.E2BIG, "ctx_in is larger than struct __sk_buff and not zero past it")
    return bytearray(ctx_in[:SK_BUFF_SIZE].ljust(SK_BUFF_SIZE, b"\0"))


#: the types whose prog_ops.test_run is bpf_prog_test_run_skb (6.18)
SKB_TEST_RUN_TYPES = frozenset({PROG_TYPE_SOCKET_FILTER, PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT,
                                PROG_TYPE_CGROUP_SKB, PROG_TYPE_LWT_IN, PROG_TYPE_LWT_OUT, PROG_TYPE_LWT_XMIT})
#: bpf_prog_test_run_skb's switch: tc sees the Ethernet header (is_l2) ...
_SKB_L2 = frozenset({PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT})
#: ... and these get bpf_compute_data_pointers (is_direct_pkt_access)
_SKB_DIRECT = frozenset({PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT, PROG_TYPE_CGROUP_SKB, PROG_TYPE_LWT_IN,
                         PROG_TYPE_LWT_OUT, PROG_TYPE_LWT_XMIT})
#: include/uapi/linux/bpf.h
BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2
#: include/linux/socket.h
AF_INET, AF_INET6 = 2, 10


def _sock_addresses(data_in: bytes, protocol: int) -> tuple[int, bytes]:
    """What ``bpf_prog_test_run_skb`` writes into its socket after ``eth_type_trans``:
    ``sk_family`` and, when the header is there, the packet's source address as
    ``sk_rcv_saddr`` and its destination as ``sk_daddr`` (the IPv6 ones for IPv6);
    as (family, bytes to write at offset 0 of ``struct sock_common``...) -- here the
    family and a 88-byte image of ``sock_common``'s first bytes."""
    common = bytearray(SKB.skc_v6_rcv_saddr + 16)
    ip = data_in[ETH_HLEN:]
    if protocol == ETH_P_IP:
        family = AF_INET
        if len(ip) >= 20:
            common[SKB.skc_rcv_saddr:SKB.skc_rcv_saddr + 4] = ip[12:16]
            common[SKB.skc_daddr:SKB.skc_daddr + 4] = ip[16:20]
    elif protocol == ETH_P_IPV6:
        family = AF_INET6
        if len(ip) >= 40:
            common[SKB.skc_v6_rcv_saddr:SKB.skc_v6_rcv_saddr + 16] = ip[8:24]
            common[SKB.skc_v6_daddr:SKB.skc_v6_daddr + 16] = ip[24:40]
    else:
        family = 0  # sk_alloc(net, AF_UNSPEC, ...)
    struct.pack_into("<H", common, SKB.skc_family, family)
    return family, bytes(common)


def _run_skb(kernel: "Kernel", po: "ProgObject", ctx_in: bytes, data_in: bytes, repeat: int, flags: int,
             cpu: int, ctx_out_size: int = 0) -> TestRunResult:
    """``bpf_prog_test_run_skb`` (net/bpf/test_run.c, Linux 6.18) for socket filters,
    tc (sched_cls, sched_act), cgroup_skb and lwt_in/out/xmit programs."""
    m = kernel.machine
    ptype = po.prog.prog_type
    is_l2 = ptype in _SKB_L2
    if flags & ~BPF_F_TEST_SKB_CHECKSUM_COMPLETE or cpu:
        raise KernelError(errno.EINVAL, f"test_run flags {flags:#x} / cpu {cpu}: skb programs take only "
                                        "BPF_F_TEST_SKB_CHECKSUM_COMPLETE and no cpu")
    if flags:
        raise NotModelled("BPF_F_TEST_SKB_CHECKSUM_COMPLETE (skb->csum kept through the run) is not modelled")
    size = len(data_in)
    if size < ETH_HLEN:
        raise KernelError(errno.EINVAL, f"data_in must hold an Ethernet header ({ETH_HLEN} bytes), got {size}")
    if size > PAGE_SIZE - SKB_HEADROOM - SKB_TAILROOM:
        raise KernelError(errno.EINVAL, f"data_in of {size} bytes does not fit in a page with the skb's "
                                        "headroom and tailroom")
    ctx = _skb_ctx(ctx_in, ctx_out_size)
    if ctx is not None:
        ifindex = struct.unpack_from("<I", ctx, _CTX_IFINDEX)[0]
        if ifindex > LOOPBACK_IFINDEX:
            raise KernelError(errno.ENODEV, f"no network device with ifindex {ifindex} (the emulated kernel "
                                            "has only lo)")
    protocol = _eth_protocol(data_in)
    payload = size - ETH_HLEN
    if (protocol == ETH_P_IP and payload < 20) or (protocol == ETH_P_IPV6 and payload < 40):
        raise KernelError(errno.EINVAL, f"an {'IPv4' if protocol == ETH_P_IP else 'IPv6'} packet of {payload} "
                                        "bytes has no room for its header")
    if ctx is not None:  # convert___skb_to_skb's zero checks
        gaps = zip((0, *(hi for _, hi in _CTX_ALLOWED)), (*(lo for lo, _ in _CTX_ALLOWED), SK_BUFF_SIZE))
        for lo, hi in gaps:
            if any(ctx[lo:hi]):  # range_is_zero
                raise KernelError(errno.EINVAL, f"__sk_buff bytes {lo}..{hi - 1} of ctx_in must be zero")
    buf_size = ((size + 63) & ~63) + SKB_HEADROOM + SKB_TAILROOM
    end = buf_size - SKB.shinfo_size  # skb_shinfo(skb) = head + end
    buf = m.alloc.kzalloc(buf_size)
    skb = m.alloc.kzalloc(SKB.size)
    dev = m.alloc.kzalloc(SKB.dev_size)
    sk = m.alloc.kzalloc(SOCK_SIZE)
    try:
        m.write(buf + SKB_HEADROOM, data_in)
        m.write(buf + end + SKB.shinfo_dataref, struct.pack("<i", 1))  # __finalize_skb_around
        m.write(dev + SKB.dev_ifindex, struct.pack("<i", LOOPBACK_IFINDEX))
        _family, common = _sock_addresses(data_in, protocol)
        m.write(sk, common)
        h = bytearray(SKB.size)
        struct.pack_into("<QQ", h, SKB.dev, dev, sk)
        # eth_type_trans pulled the Ethernet header; tc pushes it back (is_l2)
        skb_len, data = (size, buf + SKB_HEADROOM) if is_l2 else (payload, buf + SKB_HEADROOM + ETH_HLEN)
        struct.pack_into("<I", h, SKB.len, skb_len)
        h[SKB.pkt_type_offset] = _pkt_type(data_in[:6])
        h[SKB.protocol:SKB.protocol + 2] = protocol.to_bytes(2, "big")
        struct.pack_into("<HHH", h, SKB.transport_header, 0xFFFF, SKB_HEADROOM + ETH_HLEN, SKB_HEADROOM)
        struct.pack_into("<IIQQ", h, SKB.tail, SKB_HEADROOM + size, end, buf, data)
        struct.pack_into("<I", h, SKB.users, 1)
        if ptype in _SKB_DIRECT:  # bpf_compute_data_pointers: no metadata, a linear skb
            struct.pack_into("<QQ", h, SKB.cb + SKB.cb_data_meta, data, data + skb_len)
        if ctx is not None:  # convert___skb_to_skb
            wire_len, gso_segs = struct.unpack_from("<II", ctx, _CTX_WIRE_LEN)
            if wire_len and not skb_len <= wire_len <= GSO_LEGACY_MAX_SIZE:
                raise KernelError(errno.EINVAL, f"wire_len {wire_len} is below the packet's length or above "
                                                "GSO_LEGACY_MAX_SIZE")
            if gso_segs > GSO_MAX_SEGS:
                raise KernelError(errno.EINVAL, f"gso_segs {gso_segs} is above GSO_MAX_SEGS")
            h[SKB.mark:SKB.mark + 4] = ctx[_CTX_MARK:_CTX_MARK + 4]
            h[SKB.priority:SKB.priority + 4] = ctx[_CTX_PRIORITY:_CTX_PRIORITY + 4]
            h[SKB.skb_iif:SKB.skb_iif + 4] = ctx[_CTX_INGRESS_IFINDEX:_CTX_INGRESS_IFINDEX + 4]
            h[SKB.tstamp:SKB.tstamp + 8] = ctx[_CTX_TSTAMP:_CTX_TSTAMP + 8]
            cb = SKB.cb + SKB.qdisc_data
            h[cb:cb + 20] = ctx[_CTX_CB:_CTX_CB + 20]
            struct.pack_into("<I", h, SKB.cb + SKB.qdisc_pkt_len, wire_len or skb_len)
            shinfo = buf + end
            m.write(shinfo + SKB.shinfo_gso_segs, struct.pack("<H", gso_segs & 0xFFFF))
            m.write(shinfo + SKB.shinfo_gso_size, ctx[_CTX_GSO_SIZE:_CTX_GSO_SIZE + 2])
            m.write(shinfo + SKB.shinfo_hwtstamps, ctx[_CTX_HWTSTAMP:_CTX_HWTSTAMP + 8])
        m.write(skb, bytes(h))
        n = repeat if repeat > 0 else 1
        storages = alloc_run_storages(m, po.maps)  # bpf_test_run: the run's cgroup storages
        try:
            t0 = time.perf_counter_ns()
            if n == 1:
                ret = m.call(po.prog.bpf_func, (skb, po.prog.addr + BPF_PROG_SIZE))
            else:
                ret = m.runner.run_loop(po.prog.bpf_func, skb, n)
            dt = (time.perf_counter_ns() - t0) // n
        finally:
            free_run_storages(m, storages)
        after = m.read(skb, SKB.size)
        out_len = struct.unpack_from("<I", after, SKB.len)[0]
        out_data = struct.unpack_from("<Q", after, SKB.data)[0]
        if not is_l2:  # memset(__skb_push(skb, hh_len), 0, hh_len): the helpers keep the headroom
            out_data -= ETH_HLEN
            out_len += ETH_HLEN
            m.write(out_data, bytes(ETH_HLEN))
        data_out = m.read(out_data, out_len)
        ctx_out = b""
        if ctx is not None:  # convert_skb_to___skb
            shinfo_b = m.read(buf + end, SKB.shinfo_size)
            cb = SKB.cb + SKB.qdisc_data
            out = bytearray(ctx)
            out[_CTX_MARK:_CTX_MARK + 4] = after[SKB.mark:SKB.mark + 4]
            out[_CTX_PRIORITY:_CTX_PRIORITY + 4] = after[SKB.priority:SKB.priority + 4]
            out[_CTX_INGRESS_IFINDEX:_CTX_INGRESS_IFINDEX + 4] = after[SKB.skb_iif:SKB.skb_iif + 4]
            struct.pack_into("<I", out, _CTX_IFINDEX, LOOPBACK_IFINDEX)
            out[_CTX_TSTAMP:_CTX_TSTAMP + 8] = after[SKB.tstamp:SKB.tstamp + 8]
            out[_CTX_CB:_CTX_CB + 20] = after[cb:cb + 20]
            out[_CTX_WIRE_LEN:_CTX_WIRE_LEN + 4] = after[SKB.cb + SKB.qdisc_pkt_len:SKB.cb + SKB.qdisc_pkt_len + 4]
            struct.pack_into("<I", out, _CTX_GSO_SEGS,
                             struct.unpack_from("<H", shinfo_b, SKB.shinfo_gso_segs)[0])
            out[_CTX_HWTSTAMP:_CTX_HWTSTAMP + 8] = shinfo_b[SKB.shinfo_hwtstamps:SKB.shinfo_hwtstamps + 8]
            ctx_out = bytes(out[:ctx_out_size]) if ctx_out_size else b""
        return TestRunResult(ret & 0xFFFF_FFFF, data_out=data_out, ctx_out=ctx_out, duration=dt, retval64=ret)
    finally:
        for addr in (sk, dev, skb, buf):
            m.alloc.kfree(addr)


def _run_syscall(kernel: "Kernel", po: "ProgObject", ctx_in: bytes, data_in: bytes, repeat: int, flags: int,
                 ctx_out_size: int, data_out_size: int) -> TestRunResult:
    m = kernel.machine
    if data_in or flags or repeat > 1 or ctx_out_size or data_out_size:
        raise KernelError(errno.EINVAL, "syscall programs take no data_in, data_out, ctx_out, repeat or flags")
    if len(ctx_in) > 0xFFFF:
        raise KernelError(errno.EINVAL, "ctx_in is larger than U16_MAX")
    ctx = m.alloc.kzalloc(len(ctx_in)) if ctx_in else 0
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
            m.alloc.kfree(ctx)
