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
from typing import Sequence

from kernel_model import isa
from kernel_model.errors import NotModelled
from kernel_model.insn import Insn
from . import prog_types
from .ctx import SK_BUFF_FIELDS, sk_filter_is_valid_access
from .fixups import patch_program
from .regs import MEM_ALLOC, PTR_TO_BTF_ID, PTR_TO_CTX, PTR_UNTRUSTED

__all__ = ["convert_ctx_accesses", "convert_sk_filter_access", "convert_skb_access", "SkBuffLayout", "SKB", "BPF_PROBE_MEM",
           "BPF_PROBE_MEMSX", "BPF_REG_AX", "MIN_NAPI_ID", "PKT_TYPE_MAX", "skb_field_name"]

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


def convert_skb_access(atype: int, si: Insn) -> tuple[list[Insn], int]:
    """``bpf_convert_ctx_access`` (net/core/filter.c, Linux 6.18) for one access
    ``si`` whose offset the caller already rounded for a narrow load: the
    instructions and ``target_size`` (the byte size of the field it reads in
    the kernel's structure, 0 where the kernel sets none). Raises NotModelled
    for a field without a conversion here."""
    d, s, off = si.dst, si.src, si.off
    cls = si.code & 0x07
    if 48 <= off < 68:  # cb[0] .. cb[4]: qdisc_skb_cb.data, any size, loads and stores
        target = off - 48 + SKB.cb + SKB.qdisc_data
        if atype == BPF_WRITE:  # BPF_EMIT_STORE: the same class and size at the new offset
            return [Insn(cls | isa.MEM | (si.code & 0x18), d, s, target, si.imm)], 4
        return [Insn(isa.LDX | isa.MEM | (si.code & 0x18), d, s, target, 0)], 4
    if atype == BPF_WRITE:  # sk_filter_is_valid_access lets socket filters write cb[] only
        raise NotModelled(f"context field __sk_buff.{skb_field_name(off)} is not modelled for writes")
    simple = {0: (4, SKB.len), 8: (4, SKB.mark), 12: (2, SKB.queue_mapping), 16: (2, SKB.protocol),
              24: (2, SKB.vlan_tci), 28: (2, SKB.vlan_proto), 32: (4, SKB.priority), 36: (4, SKB.skb_iif),
              44: (2, SKB.tc_index), 68: (4, SKB.hash)}
    if off in simple:
        size, target = simple[off]
        return [_ldx(size, d, s, target)], size
    if off == 4:  # pkt_type: a 3-bit field
        return [_ldx(1, d, s, SKB.pkt_type_offset), Insn(isa.ALU | isa.AND | isa.K, d, 0, 0, PKT_TYPE_MAX)], 1
    if off == 20:  # vlan_present: vlan_all != 0
        return [_ldx(4, d, s, SKB.vlan_all), Insn(isa.JMP | isa.JEQ | isa.K, d, 0, 1, 0),
                Insn(isa.ALU | isa.MOV | isa.K, d, 0, 0, 1)], 4
    if off == 40:  # ifindex: skb->dev ? skb->dev->ifindex : 0
        return [_ldx(8, d, s, SKB.dev), Insn(isa.JMP | isa.JEQ | isa.K, d, 0, 1, 0),
                _ldx(4, d, d, SKB.dev_ifindex)], 4
    if off == 84:  # napi_id: 0 unless it is a real NAPI id
        return [_ldx(4, d, s, SKB.napi_id), Insn(isa.JMP | isa.JGE | isa.K, d, 0, 1, MIN_NAPI_ID),
                Insn(isa.ALU64 | isa.MOV | isa.K, d, 0, 0, 0)], 4
    if off == 164:  # gso_segs
        return [*_shinfo(d, s), _ldx(2, d, d, SKB.shinfo_gso_segs)], 2
    if off == 176:  # gso_size
        return [*_shinfo(d, s), _ldx(2, d, d, SKB.shinfo_gso_size)], 2
    if off == 168:  # sk: PTR_TO_SOCK_COMMON_OR_NULL (no target_size set)
        return [_ldx(8, d, s, SKB.sk)], 0
    raise NotModelled(f"context field __sk_buff.{skb_field_name(off)} is not modelled")


def convert_ctx_accesses(insns: Sequence[Insn], ptr_types: Sequence[int], prog_type: int,
                         fault_imm: int | None = None) -> tuple[list[Insn], list[int]]:
    """The rewritten program and the new slot of each old slot. ``ptr_types[i]`` is
    the verifier's ``ptr_type`` of slot ``i`` (0 when it is not a memory access).
    ``fault_imm`` is accepted for callers that pass a fault stub; no conversion
    needs one (a field without a conversion is refused at load)."""
    patches: dict[int, list[tuple[Insn, int | None]]] = {}
    # the type's bpf_verifier_ops.convert_ctx_access (prog_types is read at call time:
    # its table refers back to this module's conversions)
    convert = prog_types.prog_type_ops(prog_type).convert_ctx_access
    n = len(insns)
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
        k += 1
    if not patches:
        return list(insns), list(range(n + 1))
    return patch_program(insns, patches)


def convert_sk_filter_access(ins: Insn) -> list[Insn]:
    """A socket filter's ``convert_ctx_access``: one ``__sk_buff`` access through
    ``convert_ctx_accesses``' narrowing logic (kernel/bpf/verifier.c, Linux 6.18)
    around ``bpf_convert_ctx_access`` (:func:`convert_skb_access`)."""
    cls = ins.code & 0x07
    atype = BPF_READ if cls == isa.LDX else BPF_WRITE
    is_ldsx = cls == isa.LDX and (ins.code & 0xE0) == isa.MEMSX
    size = isa.SIZE_BYTES[ins.code & 0x18]
    # insn_aux_data[i].ctx_field_size, as the verifier recorded it for this access
    _ok, _rtype, ctx_field_size = sk_filter_is_valid_access(ins.off, size, atype, is_ldsx)
    off = ins.off
    si = ins
    narrower = size < ctx_field_size
    size_default = ctx_field_size  # bpf_ctx_off_adjust_machine: the same for fields up to 8 bytes
    if narrower:  # read the whole field at its start
        si = Insn(isa.LDX | isa.MEM | _SIZE_CODE[ctx_field_size], ins.dst, ins.src, off & ~(size_default - 1), 0)
    out, target_size = convert_skb_access(atype, si)
    if narrower and size < target_size:
        shift = (off & (size_default - 1)) * 8  # bpf_ctx_narrow_access_offset, little endian
        alu = isa.ALU if ctx_field_size <= 4 else isa.ALU64
        if shift:
            out.append(Insn(alu | isa.RSH | isa.K, ins.dst, 0, 0, shift))
        mask = (1 << (8 * size)) - 1  # as the s32 immediate the kernel's BPF_ALU*_IMM gets
        out.append(Insn(alu | isa.AND | isa.K, ins.dst, 0, 0, mask - (1 << 32) if mask >= 1 << 31 else mask))
    if is_ldsx:  # sign-extend what was read (BPF_MOVSX64)
        out.append(Insn(isa.ALU64 | isa.MOV | isa.X, ins.dst, ins.dst, size * 8, 0))
    return out
