"""``convert_ctx_accesses``: the load/store rewrites the verifier makes after a
program is accepted, for the program types and pointer kinds this kernel runs.

Models kernel/bpf/verifier.c ``convert_ctx_accesses`` (Linux 6.18; 6.12 is the
same for these cases) from what the verifier recorded at each load and store
(``insn_aux_data[i].ptr_type``, :class:`verifier.result.InsnAux`):

* a load through ``PTR_TO_BTF_ID`` or ``PTR_TO_BTF_ID | PTR_UNTRUSTED`` (e.g. a
  pointer walked out of a struct_ops argument, ``task->parent``) becomes
  ``BPF_PROBE_MEM`` (``BPF_PROBE_MEMSX`` for sign-extending loads): the JIT
  gives it an exception-table entry, so a bad address reads 0 instead of
  oopsing. The switch matches the type *exactly*: a **trusted** pointer
  (``PTR_TO_BTF_ID | PTR_TRUSTED``, what a struct_ops argument is) keeps a
  plain load, which is why a NULL one oopses the kernel -- the host's JIT image
  of ``return cb ? cb->val : 0`` has a plain ``mov eax, [rdi]``. Stores are
  never converted.
* a socket filter's ``struct __sk_buff`` accesses become accesses of ``struct
  sk_buff`` as ``bpf_convert_ctx_access`` (net/core/filter.c) writes them, for
  **every** field ``sk_filter_is_valid_access`` lets through (the verifier
  model's :func:`verifier.ctx.sk_filter_is_valid_access`): ``len``,
  ``pkt_type`` (the 3-bit field at ``PKT_TYPE_OFFSET``), ``mark``,
  ``queue_mapping``, ``protocol``, ``vlan_present`` (``vlan_all != 0``),
  ``vlan_tci``, ``vlan_proto``, ``priority``, ``ingress_ifindex``
  (``skb_iif``), ``ifindex`` (``skb->dev->ifindex``, 0 without a device),
  ``tc_index``, ``cb[0..4]`` (``qdisc_skb_cb.data``; loads and stores of any
  size), ``hash``, ``napi_id`` (0 below ``MIN_NAPI_ID``), ``gso_segs`` and
  ``gso_size`` (``skb_shinfo(skb)``: ``head + end``, through ``BPF_REG_AX``)
  and ``sk``. Narrow loads follow the verifier's rule: a load narrower than
  ``ctx_field_size`` reads the whole field at the rounded-down offset, then --
  only when it is also narrower than the field's real size (``target_size``)
  -- shifts and masks with 32-bit ALU ops (so a 2-byte load of ``protocol +
  2`` gives the protocol, as on the host); a sign-extending load ends with
  ``movsx``. The ``struct sk_buff`` offsets are those of :data:`SKB`.
* struct_ops and syscall contexts are not converted (the u64 argument array
  and the user's buffer are read as they are), as in the kernel, whose
  ``bpf_struct_ops_verifier_ops`` and ``bpf_syscall_verifier_ops`` have no
  ``convert_ctx_access``.

A context access the verifier accepted and this module has no conversion for
is refused at load with :class:`~kernel_model.errors.NotModelled` (``context
field __sk_buff.X is not modelled``) -- never run against the wrong memory.
With the verifier model of today no accepted field reaches that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from kernel_model import isa
from kernel_model.errors import NotModelled
from kernel_model.insn import Insn
from . import prog_types
from .ctx import SK_BUFF_FIELDS, sk_filter_is_valid_access, skb_is_valid_access
from .fixups import patch_program
from .regs import (MEM_ALLOC, PTR_TO_BTF_ID, PTR_TO_CTX, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_TCP_SOCK,
                   PTR_TO_XDP_SOCK, PTR_UNTRUSTED)

__all__ = ["convert_ctx_accesses", "convert_sk_filter_access", "convert_skb_access", "SkBuffLayout", "SKB", "BPF_PROBE_MEM",
           "BPF_PROBE_MEMSX", "BPF_REG_AX", "MIN_NAPI_ID", "PKT_TYPE_MAX", "skb_field_name",
           "convert_skb_ctx_access", "convert_tc_access", "convert_tc_access_tstamp_type", "unclone_prologue",
           "CLONED_MASK", "SKB_TSTAMP_TYPE_MASK", "TC_AT_INGRESS_MASK"]

#: include/linux/filter.h
BPF_PROBE_MEM = 0x20
BPF_PROBE_MEMSX = 0x40
BPF_REG_AX = 11  # MAX_BPF_REG: the verifier's and JIT's scratch register
BPF_READ, BPF_WRITE = 1, 2

#: the ptr_types (enum bpf_reg_type values, as the verifier records them) whose loads
#: become BPF_PROBE_MEM
_PROBE_TYPES = frozenset({PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_UNTRUSTED,
                          PTR_TO_BTF_ID | MEM_ALLOC | PTR_UNTRUSTED})


@dataclass(frozen=True, slots=True)
class SkBuffLayout:
    """Offsets in ``struct sk_buff`` and the structures it points to, for the
    modelled x86-64 kernel (Linux 6.18 with Debian's amd64 configuration:
    CONFIG_NET_SCHED, CONFIG_NET_RX_BUSY_POLL, 64-bit ``NET_SKBUFF_DATA_USES_OFFSET``),
    as the kernel's BTF gives them. The test runner (:mod:`emu.kernel.test_run`) builds
    its skbs from the same table, so the converted programs and the data agree."""

    dev: int = 16            # struct net_device *
    sk: int = 24             # struct sock *
    tstamp: int = 32         # ktime_t
    cb: int = 40             # char cb[48]: struct qdisc_skb_cb for socket filters
    len: int = 112           # unsigned int
    queue_mapping: int = 124  # __u16
    pkt_type_offset: int = 128  # __pkt_type_offset[0]: pkt_type is its low 3 bits
    tc_index: int = 132      # __u16
    priority: int = 140      # __u32
    skb_iif: int = 144       # int
    hash: int = 148          # __u32
    vlan_all: int = 152      # u32, the union of vlan_proto (152) and vlan_tci (154)
    vlan_proto: int = 152    # __be16
    vlan_tci: int = 154      # __u16
    napi_id: int = 156       # unsigned int (CONFIG_NET_RX_BUSY_POLL)
    mark: int = 164          # __u32
    protocol: int = 176      # __be16
    end: int = 188           # sk_buff_data_t: an offset from head
    head: int = 192          # unsigned char *
    data: int = 200          # unsigned char *
    size: int = 224          # sizeof(struct sk_buff)
    # the rest of struct sk_buff the other __sk_buff program types and their helpers use
    data_len: int = 116      # unsigned int (0: test-run skbs are linear)
    mac_len: int = 120       # __u16
    cloned_offset: int = 126  # __cloned_offset[0]: cloned is bit 0 (CLONED_MASK)
    mono_tc_offset: int = 129  # __mono_tc_offset[0]: tstamp_type bits 0-1, tc_at_ingress bit 2
    hash_flags_offset: int = 130  # l4_hash bit 1, sw_hash bit 2
    csum: int = 136          # __wsum
    secmark: int = 160
    transport_header: int = 178  # __u16 offsets from head
    network_header: int = 180
    mac_header: int = 182
    tail: int = 184          # sk_buff_data_t: an offset from head
    users: int = 212         # refcount_t
    # struct qdisc_skb_cb (in cb) and struct bpf_skb_data_end (the same cb, 6.18)
    qdisc_tc_classid: int = 6  # u16, __sk_buff.tc_classid
    cb_data_meta: int = 32   # void *, bpf_skb_data_end.data_meta
    cb_data_end: int = 40    # void *, bpf_skb_data_end.data_end
    # struct sock_common (at the start of struct sock)
    skc_daddr: int = 0
    skc_rcv_saddr: int = 4
    skc_dport: int = 12
    skc_num: int = 14
    skc_family: int = 16
    skc_v6_daddr: int = 56
    skc_v6_rcv_saddr: int = 72
    # struct qdisc_skb_cb (in cb)
    qdisc_pkt_len: int = 0   # unsigned int, __sk_buff.wire_len
    qdisc_data: int = 8      # unsigned char data[20], __sk_buff.cb[0..4]
    # struct net_device
    dev_ifindex: int = 224
    dev_size: int = 2496
    # struct skb_shared_info (at head + end)
    shinfo_gso_size: int = 4
    shinfo_gso_segs: int = 6
    shinfo_hwtstamps: int = 16
    shinfo_dataref: int = 32
    shinfo_size: int = 320   # SKB_DATA_ALIGN(sizeof(struct skb_shared_info))


SKB = SkBuffLayout()
#: include/linux/skbuff.h (little-endian bitfields)
PKT_TYPE_MAX = 7
#: include/net/busy_poll.h: NR_CPUS + 1, with Debian's CONFIG_NR_CPUS=8192. It only
#: matters for an skb carrying a NAPI id, which test runs never build.
MIN_NAPI_ID = 8192 + 1
_SIZE_CODE = {n: code for code, n in isa.SIZE_BYTES.items()}
_OFF_TO_NAME = {off: name for name, (off, _size) in SK_BUFF_FIELDS.items()}


def skb_field_name(off: int) -> str:
    """``__sk_buff`` field containing byte ``off`` (``cb[2]``, ``remote_ip6[1]`` ...)."""
    for name, (start, size) in SK_BUFF_FIELDS.items():
        if start <= off < start + size:
            if name in ("cb", "remote_ip6", "local_ip6"):
                return f"{name}[{(off - start) // 4}]"
            return name
    return f"offset {off}"


def _ldx(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(isa.LDX | isa.MEM | _SIZE_CODE[size], dst, src, off, 0)


def _shinfo(dst: int, skb: int) -> list[Insn]:
    """``bpf_convert_shinfo_access``: dst = skb->head + skb->end (64-bit: end is an offset)."""
    return [_ldx(4, BPF_REG_AX, skb, SKB.end), _ldx(8, dst, skb, SKB.head),
            Insn(isa.ALU64 | isa.ADD | isa.X, dst, BPF_REG_AX, 0, 0)]


#: include/linux/skbuff.h (little-endian bitfields, Linux 6.18): the masks in the bytes at
#: ``cloned_offset`` and ``mono_tc_offset``
CLONED_MASK = 1
SKB_TSTAMP_TYPE_MASK = 3
TC_AT_INGRESS_MASK = 1 << 2
#: include/linux/netdevice.h: NO_QUEUE_MAPPING (USHRT_MAX)
NO_QUEUE_MAPPING = 0xFFFF
#: struct __sk_buff offsets the conversions switch on (include/uapi/linux/bpf.h)
_TSTAMP, _TSTAMP_TYPE, _HWTSTAMP, _WIRE_LEN = 152, 180, 184, 160


def _jmp(op: int, dst: int, imm: int, off: int, cls: int = isa.JMP) -> Insn:
    return Insn(cls | op | isa.K, dst, 0, off, imm)


def _ja(off: int) -> Insn:
    return Insn(isa.JMP | isa.JA, 0, 0, off, 0)


def _store(si: Insn, size: int, off: int) -> Insn:
    """``BPF_EMIT_STORE``: the access's class (ST or STX) with ``size`` at ``off``."""
    return Insn((si.code & 0x07) | isa.MEM | _SIZE_CODE[size], si.dst, si.src, off, si.imm)


def _sk_field(d: int, s: int, size: int, off: int) -> list[Insn]:
    """``dst = skb->sk; dst = *(size *)(dst + off)`` (the socket's ``sock_common`` field)."""
    return [_ldx(8, d, s, SKB.sk), _ldx(size, d, d, off)]


def _tstamp_read(si: Insn, tstamp_type_access: bool) -> list[Insn]:
    """``bpf_convert_tstamp_read`` (CONFIG_NET_XGRESS): unless the program reads
    ``tstamp_type``, an ingress skb carrying a delivery time reads as 0."""
    d, s = si.dst, si.src
    out: list[Insn] = []
    if not tstamp_type_access:
        out += [_ldx(1, BPF_REG_AX, s, SKB.mono_tc_offset),
                _jmp(isa.JSET, BPF_REG_AX, TC_AT_INGRESS_MASK, 1, isa.JMP32), _ja(4),
                _jmp(isa.JSET, BPF_REG_AX, SKB_TSTAMP_TYPE_MASK, 1, isa.JMP32), _ja(2),
                Insn(isa.ALU64 | isa.MOV | isa.K, d, 0, 0, 0), _ja(1)]
    return out + [_ldx(8, d, s, SKB.tstamp)]


def _tstamp_write(si: Insn, tstamp_type_access: bool) -> list[Insn]:
    """``bpf_convert_tstamp_write`` (CONFIG_NET_XGRESS): unless the program reads
    ``tstamp_type``, writing at ingress clears the skb's ``tstamp_type``."""
    v, s = si.src, si.dst
    out: list[Insn] = []
    if not tstamp_type_access:
        out += [_ldx(1, BPF_REG_AX, s, SKB.mono_tc_offset),
                _jmp(isa.JSET, BPF_REG_AX, TC_AT_INGRESS_MASK, 1, isa.JMP32), _ja(2),
                Insn(isa.ALU | isa.AND | isa.K, BPF_REG_AX, 0, 0, ~SKB_TSTAMP_TYPE_MASK),
                Insn(isa.STX | isa.MEM | isa.B, s, BPF_REG_AX, SKB.mono_tc_offset, 0)]
    return out + [Insn((si.code & 0x07) | isa.MEM | isa.DW, s, v, SKB.tstamp, si.imm)]


def convert_skb_access(atype: int, si: Insn, *, tc: bool = False,
                       tstamp_type_access: bool = False) -> tuple[list[Insn], int]:
    """``bpf_convert_ctx_access`` (net/core/filter.c, Linux 6.18) for one access
    ``si`` whose offset the caller already rounded for a narrow load: the
    instructions and ``target_size`` (the byte size of the field it reads in
    the kernel's structure, 0 where the kernel sets none). ``tc``:
    ``tc_cls_act_convert_ctx_access``, which reads ``ifindex`` without the NULL
    test of ``skb->dev``; ``tstamp_type_access``: ``prog->tstamp_type_access``
    (set by ``tc_cls_act_is_valid_access`` when the program reads
    ``tstamp_type``). Raises NotModelled for an offset without a conversion
    (``flow_keys``, padding: no program type's ``is_valid_access`` lets them through)."""
    d, s, off = si.dst, si.src, si.off
    cls = si.code & 0x07
    write = atype == BPF_WRITE
    if 48 <= off < 68:  # cb[0] .. cb[4]: qdisc_skb_cb.data, any size, loads and stores
        target = off - 48 + SKB.cb + SKB.qdisc_data
        if write:  # BPF_EMIT_STORE: the same class and size at the new offset
            return [Insn(cls | isa.MEM | (si.code & 0x18), d, s, target, si.imm)], 4
        return [Insn(isa.LDX | isa.MEM | (si.code & 0x18), d, s, target, 0)], 4
    # fields a program may write: mark, priority, tc_index (4 bytes in __sk_buff, the
    # kernel's size in sk_buff), tc_classid, queue_mapping, tstamp
    rw = {8: (4, SKB.mark), 32: (4, SKB.priority), 44: (2, SKB.tc_index)}
    if off in rw:
        size, target = rw[off]
        return ([_store(si, size, target)] if write else [_ldx(size, d, s, target)]), size
    if 72 <= off < 76:  # tc_classid: qdisc_skb_cb.tc_classid
        target = off - 72 + SKB.cb + SKB.qdisc_tc_classid
        return ([_store(si, 2, target)] if write else [_ldx(2, d, s, target)]), 2
    if off == 12:  # queue_mapping: a write of NO_QUEUE_MAPPING or more is dropped
        if not write:
            return [_ldx(2, d, s, SKB.queue_mapping)], 2
        if cls == isa.ST and si.imm >= NO_QUEUE_MAPPING:  # s32 imm against an int: a no-op
            return [_ja(0)], 2
        out = [_jmp(isa.JGE, s, NO_QUEUE_MAPPING, 1)] if cls == isa.STX else []
        return out + [_store(si, 2, SKB.queue_mapping)], 2
    if off == _TSTAMP:
        return (_tstamp_write(si, tstamp_type_access) if write else _tstamp_read(si, tstamp_type_access)), 0
    if write:
        raise NotModelled(f"context field __sk_buff.{skb_field_name(off)} is not modelled for writes")
    simple = {0: (4, SKB.len), 16: (2, SKB.protocol), 24: (2, SKB.vlan_tci), 28: (2, SKB.vlan_proto),
              36: (4, SKB.skb_iif), 68: (4, SKB.hash)}
    if off in simple:
        size, target = simple[off]
        return [_ldx(size, d, s, target)], size
    if off == 4:  # pkt_type: a 3-bit field
        return [_ldx(1, d, s, SKB.pkt_type_offset), Insn(isa.ALU | isa.AND | isa.K, d, 0, 0, PKT_TYPE_MAX)], 1
    if off == 20:  # vlan_present: vlan_all != 0
        return [_ldx(4, d, s, SKB.vlan_all), Insn(isa.JMP | isa.JEQ | isa.K, d, 0, 1, 0),
                Insn(isa.ALU | isa.MOV | isa.K, d, 0, 0, 1)], 4
    if off == 40:  # ifindex: skb->dev ? skb->dev->ifindex : 0 (tc: skb->dev->ifindex)
        if tc:
            return [_ldx(8, d, s, SKB.dev), _ldx(4, d, d, SKB.dev_ifindex)], 4
        return [_ldx(8, d, s, SKB.dev), Insn(isa.JMP | isa.JEQ | isa.K, d, 0, 1, 0),
                _ldx(4, d, d, SKB.dev_ifindex)], 4
    if off == 76:  # data
        return [_ldx(8, d, s, SKB.data)], 0
    if off == 140:  # data_meta: bpf_skb_data_end.data_meta in cb
        return [_ldx(8, d, s, SKB.cb + SKB.cb_data_meta)], 0
    if off == 80:  # data_end: bpf_skb_data_end.data_end in cb
        return [_ldx(8, d, s, SKB.cb + SKB.cb_data_end)], 0
    if off == 84:  # napi_id: 0 unless it is a real NAPI id
        return [_ldx(4, d, s, SKB.napi_id), Insn(isa.JMP | isa.JGE | isa.K, d, 0, 1, MIN_NAPI_ID),
                Insn(isa.ALU64 | isa.MOV | isa.K, d, 0, 0, 0)], 4
    if off == 88:  # family
        return _sk_field(d, s, 2, SKB.skc_family), 2
    if off == 92:  # remote_ip4
        return _sk_field(d, s, 4, SKB.skc_daddr), 4
    if off == 96:  # local_ip4
        return _sk_field(d, s, 4, SKB.skc_rcv_saddr), 4
    if 100 <= off < 116:  # remote_ip6[0..3] (no target_size set)
        return _sk_field(d, s, 4, SKB.skc_v6_daddr + off - 100), 0
    if 116 <= off < 132:  # local_ip6[0..3]
        return _sk_field(d, s, 4, SKB.skc_v6_rcv_saddr + off - 116), 0
    if off == 132:  # remote_port: skc_dport in the upper half (little endian); the host (6.18)
        # masks a 2-byte load of it, i.e. its target_size is the whole u32
        return [*_sk_field(d, s, 2, SKB.skc_dport), Insn(isa.ALU | isa.LSH | isa.K, d, 0, 0, 16)], 4
    if off == 136:  # local_port: skc_num
        return _sk_field(d, s, 2, SKB.skc_num), 2
    if off == _TSTAMP_TYPE:  # bpf_convert_tstamp_type_read
        return [_ldx(1, d, s, SKB.mono_tc_offset), Insn(isa.ALU | isa.AND | isa.K, d, 0, 0, SKB_TSTAMP_TYPE_MASK)], 0
    if off == 164:  # gso_segs
        return [*_shinfo(d, s), _ldx(2, d, d, SKB.shinfo_gso_segs)], 2
    if off == 176:  # gso_size
        return [*_shinfo(d, s), _ldx(2, d, d, SKB.shinfo_gso_size)], 2
    if off == _WIRE_LEN:  # qdisc_skb_cb.pkt_len
        return [_ldx(4, d, s, SKB.cb + SKB.qdisc_pkt_len)], 4
    if off == 168:  # sk: PTR_TO_SOCK_COMMON_OR_NULL (no target_size set)
        return [_ldx(8, d, s, SKB.sk)], 0
    if off == _HWTSTAMP:  # skb_shinfo(skb)->hwtstamps
        return [*_shinfo(d, s), _ldx(8, d, d, SKB.shinfo_hwtstamps)], 8
    raise NotModelled(f"context field __sk_buff.{skb_field_name(off)} is not modelled")


#: the socket pointer types whose loads ``convert_ctx_accesses`` hands to
#: ``bpf_sock_convert_ctx_access`` / ``bpf_tcp_sock_...`` / ``bpf_xdp_sock_...``
_SOCK_TYPES = frozenset({PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK})
#: enum bpf_prog_type: the types whose ``gen_prologue`` is ``tc_cls_act_prologue``
#: (sched_cls, sched_act, lwt_xmit) and their drop verdict (TC_ACT_SHOT, BPF_DROP: both 2)
_UNCLONE_PROLOGUE = {3: 2, 4: 2, 12: 2}
#: include/uapi/linux/bpf.h: BPF_FUNC_skb_pull_data
BPF_FUNC_SKB_PULL_DATA = 39
_TC_TYPES = (3, 4)


def unclone_prologue(insn0: Insn, drop_verdict: int) -> list[Insn]:
    """``bpf_unclone_prologue`` (net/core/filter.c, Linux 6.18), the ``gen_prologue``
    of tc and lwt_xmit programs that write the packet directly
    (``env->seen_direct_write``): a cloned skb is made private with
    ``bpf_skb_pull_data(skb, 0)`` first, or the program returns the drop verdict;
    ends with the program's first instruction."""
    return [_ldx(1, 6, 1, SKB.cloned_offset), Insn(isa.ALU | isa.AND | isa.K, 6, 0, 0, CLONED_MASK),
            Insn(isa.JMP | isa.JEQ | isa.K, 6, 0, 7, 0),
            Insn(isa.ALU64 | isa.MOV | isa.X, 6, 1, 0, 0), Insn(isa.ALU64 | isa.XOR | isa.X, 2, 2, 0, 0),
            Insn(isa.CALL_INSN, 0, 0, 0, BPF_FUNC_SKB_PULL_DATA),
            Insn(isa.JMP | isa.JEQ | isa.K, 0, 0, 2, 0), Insn(isa.ALU | isa.MOV | isa.K, 0, 0, 0, drop_verdict),
            Insn(isa.EXIT_INSN, 0, 0, 0, 0),
            Insn(isa.ALU64 | isa.MOV | isa.X, 1, 6, 0, 0), insn0]


def convert_ctx_accesses(insns: Sequence[Insn], ptr_types: Sequence[int], prog_type: int,
                         fault_imm: int | None = None, *, seen_direct_write: bool = False
                         ) -> tuple[list[Insn], list[int]]:
    """The rewritten program and the new slot of each old slot. ``ptr_types[i]`` is
    the verifier's ``ptr_type`` of slot ``i`` (0 when it is not a memory access).

    ``seen_direct_write`` is ``env->seen_direct_write``: for the types whose
    ``gen_prologue`` is ``tc_cls_act_prologue`` the program starts with
    :func:`unclone_prologue` (slot 0's new index is then that of the first original
    instruction: jumps back to it skip the prologue, as ``adjust_jmp_off`` makes
    them; subprogram 0 still starts at 0). A load through a socket pointer
    (``bpf_sock_convert_ctx_access`` and its tcp/xdp variants, not modelled) becomes
    a call of ``fault_imm``, the stub that stops the run as not modelled, when one is
    given, and is left alone otherwise (the verifier-only callers)."""
    patches: dict[int, list[tuple[Insn, int | None]]] = {}
    # the type's bpf_verifier_ops.convert_ctx_access (prog_types is read at call time:
    # its table refers back to this module's conversions)
    convert = prog_types.prog_type_ops(prog_type).convert_ctx_access
    n = len(insns)
    if prog_type in _TC_TYPES and any(  # tc_cls_act_is_valid_access: prog->tstamp_type_access
            k < len(ptr_types) and ptr_types[k] == PTR_TO_CTX and ins.off == _TSTAMP_TYPE
            and ins.code & 0x07 == isa.LDX for k, ins in enumerate(insns)):
        convert = convert_tc_access_tstamp_type
    k = 0
    while k < n:
        ins = insns[k]
        if ins.code == isa.LD_IMM64:
            k += 2
            continue
        cls = ins.code & 0x07
        pt = ptr_types[k] if k < len(ptr_types) else 0
        mode = ins.code & 0xE0
        if cls == isa.LDX and pt in _PROBE_TYPES and mode in (isa.MEM, isa.MEMSX):
            new_mode = BPF_PROBE_MEM if mode == isa.MEM else BPF_PROBE_MEMSX
            patches[k] = [(Insn(isa.LDX | new_mode | (ins.code & 0x18), ins.dst, ins.src, ins.off, ins.imm), None)]
        elif pt == PTR_TO_CTX and convert is not None and (
                (cls == isa.LDX and mode in (isa.MEM, isa.MEMSX)) or (cls in (isa.ST, isa.STX) and mode == isa.MEM)):
            patches[k] = [(i, None) for i in convert(ins)]
        elif pt in _SOCK_TYPES and fault_imm is not None and (
                (cls == isa.LDX and mode in (isa.MEM, isa.MEMSX)) or (cls in (isa.ST, isa.STX) and mode == isa.MEM)):
            patches[k] = [(Insn(isa.CALL_INSN, 0, 0, 0, fault_imm), None)]
        k += 1
    drop = _UNCLONE_PROLOGUE.get(prog_type)
    if seen_direct_write and drop is not None and n:
        body = patches.get(0) or [(insns[0], None)]
        prologue = unclone_prologue(insns[0], drop)[:-1]
        patches[0] = [(i, None) for i in prologue] + list(body)
        out, new_index = patch_program(insns, patches)
        # jumps to slot 0 went to the prologue: adjust_jmp_off aims them at the program's start
        return _skip_prologue(out, len(prologue), new_index), [new_index[0] + len(prologue), *new_index[1:]]
    if not patches:
        return list(insns), list(range(n + 1))
    return patch_program(insns, patches)


def _skip_prologue(out: list[Insn], cnt: int, new_index: list[int]) -> list[Insn]:
    """``adjust_jmp_off(prog, 0, delta)``: a jump (not a call) from after the prologue
    whose target is the prologue's first instruction now targets instruction ``cnt``."""
    res = list(out)
    for pos in range(cnt, len(res)):
        ins = res[pos]
        c = ins.code
        if c & 0x07 not in (isa.JMP, isa.JMP32) or c in (isa.CALL_INSN, isa.EXIT_INSN):
            continue
        if pos > 0 and res[pos - 1].code == isa.LD_IMM64:
            continue
        if c == (isa.JMP32 | isa.JA):  # gotol: imm
            if pos + ins.imm + 1 == 0:
                res[pos] = Insn(c, ins.dst, ins.src, ins.off, ins.imm + cnt)
        elif pos + ins.off + 1 == 0:
            res[pos] = Insn(c, ins.dst, ins.src, ins.off + cnt, ins.imm)
    return res


def _narrowed(ins: Insn, ctx_field_size: int, convert: Callable[[int, Insn], tuple[list[Insn], int]]) -> list[Insn]:
    """``convert_ctx_accesses``' handling of one context access (kernel/bpf/verifier.c,
    Linux 6.18) around the type's conversion ``convert(atype, si)``: a load narrower
    than ``ctx_field_size`` (``insn_aux_data[i].ctx_field_size``) reads the whole field
    at its start, then shifts and masks when narrower than ``target_size``; a
    sign-extending load ends with ``movsx``."""
    cls = ins.code & 0x07
    atype = BPF_READ if cls == isa.LDX else BPF_WRITE
    is_ldsx = cls == isa.LDX and (ins.code & 0xE0) == isa.MEMSX
    size = isa.SIZE_BYTES[ins.code & 0x18]
    off = ins.off
    si = ins
    narrower = size < ctx_field_size
    size_default = ctx_field_size  # bpf_ctx_off_adjust_machine: the same for fields up to 8 bytes
    if narrower:  # read the whole field at its start
        si = Insn(isa.LDX | isa.MEM | _SIZE_CODE[ctx_field_size], ins.dst, ins.src, off & ~(size_default - 1), 0)
    elif is_ldsx:  # the conversions emit plain loads (BPF_LDX_MEM); the movsx below extends
        si = Insn(isa.LDX | isa.MEM | (ins.code & 0x18), ins.dst, ins.src, off, 0)
    out, target_size = convert(atype, si)
    if narrower and size < target_size:
        shift = (off & (size_default - 1)) * 8  # bpf_ctx_narrow_access_offset, little endian
        alu = isa.ALU if ctx_field_size <= 4 else isa.ALU64
        if shift:
            out.append(Insn(alu | isa.RSH | isa.K, ins.dst, 0, 0, shift))
        mask = (1 << (8 * size)) - 1  # as the s32 immediate the kernel's BPF_ALU32_IMM gets
        out.append(Insn(isa.ALU | isa.AND | isa.K, ins.dst, 0, 0, mask - (1 << 32) if mask >= 1 << 31 else mask))
    if is_ldsx:  # sign-extend what was read (BPF_MOVSX64)
        out.append(Insn(isa.ALU64 | isa.MOV | isa.X, ins.dst, ins.dst, size * 8, 0))
    return out


def _skb_field_size(ins: Insn) -> int:
    """``ctx_field_size`` as ``bpf_skb_is_valid_access`` records it (the
    per-type ``is_valid_access`` functions of the ``__sk_buff`` types add none)."""
    cls = ins.code & 0x07
    atype = BPF_READ if cls == isa.LDX else BPF_WRITE
    is_ldsx = cls == isa.LDX and (ins.code & 0xE0) == isa.MEMSX
    return skb_is_valid_access(ins.off, isa.SIZE_BYTES[ins.code & 0x18], atype, is_ldsx)[2]


def convert_sk_filter_access(ins: Insn) -> list[Insn]:
    """A socket filter's ``convert_ctx_access`` (``bpf_convert_ctx_access``) through
    ``convert_ctx_accesses``' narrowing logic."""
    cls = ins.code & 0x07
    atype = BPF_READ if cls == isa.LDX else BPF_WRITE
    is_ldsx = cls == isa.LDX and (ins.code & 0xE0) == isa.MEMSX
    size = isa.SIZE_BYTES[ins.code & 0x18]
    # insn_aux_data[i].ctx_field_size, as the verifier recorded it for this access
    ctx_field_size = sk_filter_is_valid_access(ins.off, size, atype, is_ldsx)[2]
    return _narrowed(ins, ctx_field_size, convert_skb_access)


def convert_skb_ctx_access(ins: Insn) -> list[Insn]:
    """``bpf_convert_ctx_access`` for cgroup_skb and the lwt types (``cg_skb_verifier_ops``,
    ``lwt_*_verifier_ops``)."""
    return _narrowed(ins, _skb_field_size(ins), convert_skb_access)


def convert_tc_access(ins: Insn) -> list[Insn]:
    """``tc_cls_act_convert_ctx_access`` (sched_cls, sched_act) of a program that does
    not read ``tstamp_type``."""
    return _narrowed(ins, _skb_field_size(ins), lambda a, si: convert_skb_access(a, si, tc=True))


def convert_tc_access_tstamp_type(ins: Insn) -> list[Insn]:
    """``tc_cls_act_convert_ctx_access`` of a program that reads ``tstamp_type``
    (``prog->tstamp_type_access``: ``tstamp`` is read and written as it is)."""
    return _narrowed(ins, _skb_field_size(ins),
                     lambda a, si: convert_skb_access(a, si, tc=True, tstamp_type_access=True))
