"""Run-time bodies of the ``struct sk_buff`` helpers tc, cgroup_skb, lwt and socket
filter programs call in test runs.

Each follows its kernel function (net/core/filter.c, Linux 6.18) on the skbs the
test runner builds (:mod:`emu.kernel.test_run`: one linear buffer, never cloned,
``ip_summed`` ``CHECKSUM_NONE``), reading and writing the ``struct sk_buff`` fields
of :data:`verifier.convert_ctx.SKB` in the machine's memory:

* ``bpf_skb_load_bytes`` (``skb_header_pointer``: the bytes at ``offset`` from
  ``skb->data`` within ``skb->len``; else the buffer zeroed and ``-EFAULT``) and
  ``bpf_skb_load_bytes_relative`` (from the MAC or network header, up to the tail);
* ``bpf_skb_store_bytes`` (``BPF_F_RECOMPUTE_CSUM`` has nothing to do on a
  ``CHECKSUM_NONE`` skb; ``BPF_F_INVALIDATE_HASH`` clears the hash) and
  ``bpf_skb_pull_data``: ``bpf_try_make_writable`` -- ``skb_ensure_writable``
  (``-ENOMEM`` past ``skb->len``), then ``bpf_compute_data_pointers``;
* ``bpf_l3_csum_replace`` / ``bpf_l4_csum_replace`` (``csum_replace_by_diff``,
  ``csum_replace2``, ``csum_replace4``, ``BPF_F_MARK_MANGLED_0``), ``bpf_csum_diff``
  (x86-64 ``csum_partial``, folded by ``csum_from32to16`` as since Linux 6.12),
  ``bpf_csum_update`` (``-ENOTSUPP`` unless ``CHECKSUM_COMPLETE``), ``bpf_csum_level``;
* ``bpf_set_hash`` (``__skb_set_sw_hash``) and ``bpf_set_hash_invalid``
  (``skb_clear_hash``);
* ``bpf_skb_vlan_push`` of the first tag (``__vlan_hwaccel_put_tag``: ``vlan_proto``
  802.1Q unless 802.1ad is asked, ``vlan_tci``) and ``bpf_skb_vlan_pop`` of an
  accelerated tag (``__vlan_hwaccel_clear_tag``), or of none.

Not modelled (the run stops as not modelled where a program calls them):
``bpf_get_hash_recalc`` (its flow hash is keyed by a random boot-time secret),
``bpf_skb_change_tail`` / ``_change_head`` / ``bpf_skb_adjust_room`` (reallocating
or re-framing the skb), ``bpf_skb_vlan_push`` over a tag already present and
``bpf_skb_vlan_pop`` of a tag inside the frame (both move the MAC header), and the
``CHECKSUM_PARTIAL`` / ``CHECKSUM_COMPLETE`` branches of the checksum helpers (a
test-run skb never has them: ``BPF_F_TEST_SKB_CHECKSUM_COMPLETE`` is refused).
"""

from __future__ import annotations

import errno
import struct
from typing import Callable

from kernel_model.errors import ENOTSUPP, NotModelled
from kernel_model.memory import GuestMemory, HelperFn
from verifier.convert_ctx import SKB

__all__ = ["skb_helpers", "csum_partial", "csum_diff", "ld_abs_loaders", "LD_ABS_LOADERS"]

M64 = (1 << 64) - 1
M32 = 0xFFFF_FFFF
INT_MAX = 0x7FFF_FFFF
#: include/uapi/linux/bpf.h
BPF_F_RECOMPUTE_CSUM, BPF_F_INVALIDATE_HASH = 1 << 0, 1 << 1
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR, BPF_F_MARK_MANGLED_0, BPF_F_MARK_ENFORCE, BPF_F_IPV6 = 1 << 4, 1 << 5, 1 << 6, 1 << 7
BPF_HDR_START_MAC, BPF_HDR_START_NET = 0, 1
BPF_CSUM_LEVEL_QUERY, BPF_CSUM_LEVEL_INC, BPF_CSUM_LEVEL_DEC, BPF_CSUM_LEVEL_RESET = 0, 1, 2, 3
#: include/linux/skbuff.h
CHECKSUM_NONE, CHECKSUM_UNNECESSARY, CHECKSUM_COMPLETE, CHECKSUM_PARTIAL = 0, 1, 2, 3
SKB_MAX_CSUM_LEVEL = 3
CSUM_MANGLED_0 = 0xFFFF
#: htons(ETH_P_8021Q), htons(ETH_P_8021AD) as a little-endian register holds them
_VLAN_8021Q, _VLAN_8021AD = 0x0081, 0xA888
#: bits of the byte at SKB.pkt_type_offset (ip_summed: bits 5-6) and at SKB.hash_flags_offset
_IP_SUMMED_SHIFT = 5
_L4_HASH, _SW_HASH = 1 << 1, 1 << 2
#: csum_level: bits 6-7 of the byte at SKB.mono_tc_offset
_CSUM_LEVEL_SHIFT = 6


def _neg(err: int) -> int:
    return (-err) & M64


# --- the kernel's checksum arithmetic (include/net/checksum.h, arch/x86/lib/csum-partial_64.c) ---
def _csum_add(a: int, b: int) -> int:
    r = (a + b) & M32
    return (r + (r < b)) & M32


def _csum_sub(a: int, b: int) -> int:
    return _csum_add(a, ~b & M32)


def _csum_fold(s: int) -> int:
    """``csum_fold``: the 16-bit one's complement of the 32-bit sum, folded."""
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _csum16_add(csum: int, addend: int) -> int:
    res = (csum + addend) & 0xFFFF
    return (res + (res < addend)) & 0xFFFF


def csum_partial(buf: bytes, seed: int) -> int:
    """x86-64 ``csum_partial``: little-endian 64-bit words (the tail zero-padded)
    added with end-around carry onto the 32-bit seed, folded to 32 bits with carry
    (``add32_with_carry``)."""
    acc = seed & M32
    n = len(buf)
    full = n & ~7
    for k in range(0, full, 8):
        acc += int.from_bytes(buf[k:k + 8], "little")
        if acc > M64:
            acc = (acc & M64) + 1
    if n & 7:
        acc += int.from_bytes(buf[full:], "little")
        if acc > M64:
            acc = (acc & M64) + 1
    hi, lo = acc >> 32, acc & M32
    r = hi + lo
    return ((r & M32) + (r >> 32)) & M32


def _csum_from32to16(x: int) -> int:
    """lib/checksum.c ``from32to16`` as ``bpf_csum_diff`` returns it (Linux 6.12+)."""
    x = (x + (((x >> 16) | (x << 16)) & M32)) & M32
    return x >> 16


def csum_diff(frm: bytes, to: bytes, seed: int) -> int:
    """``bpf_csum_diff``'s arithmetic on the two buffers' bytes."""
    ret = seed & M32
    if frm and to:
        ret = _csum_sub(csum_partial(to, ret), csum_partial(frm, 0))
    elif to:
        ret = csum_partial(to, ret)
    elif frm:
        ret = ~csum_partial(frm, ~ret & M32) & M32
    return _csum_from32to16(ret)


def skb_helpers() -> dict[int, HelperFn]:
    """``{helper id: body}`` of the helpers above."""

    def rd(mem: GuestMemory, addr: int, fmt: str) -> int:
        return int(struct.unpack(fmt, mem.read(addr, struct.calcsize(fmt)))[0])

    def geometry(mem: GuestMemory, skb: int) -> tuple[int, int, int, int]:
        """(data, len, headlen, head) of the skb."""
        data = rd(mem, skb + SKB.data, "<Q")
        length = rd(mem, skb + SKB.len, "<I")
        return data, length, length - rd(mem, skb + SKB.data_len, "<I"), rd(mem, skb + SKB.head, "<Q")

    def compute_data_pointers(mem: GuestMemory, skb: int) -> None:
        """``bpf_compute_data_pointers``: data_meta (no metadata here) and data_end in cb."""
        data, _len, headlen, head = geometry(mem, skb)
        end = rd(mem, skb + SKB.end, "<I")
        meta_len = mem.read(head + end + 1, 1)[0]  # skb_shinfo(skb)->meta_len
        mem.write(skb + SKB.cb + SKB.cb_data_meta, struct.pack("<QQ", data - meta_len, data + headlen))

    def try_make_writable(mem: GuestMemory, skb: int, write_len: int) -> int:
        """``bpf_try_make_writable``: ``skb_ensure_writable`` (a test-run skb is linear
        and never cloned: only ``pskb_may_pull`` can fail), then the data pointers."""
        _data, length, _hl, _head = geometry(mem, skb)
        err = 0 if write_len <= length else -errno.ENOMEM
        if mem.read(skb + SKB.cloned_offset, 1)[0] & 1:
            raise NotModelled("a cloned skb (skb_ensure_writable's pskb_expand_head)")
        compute_data_pointers(mem, skb)
        return err

    def clear_hash(mem: GuestMemory, skb: int) -> None:
        """``skb_clear_hash``: hash 0, sw_hash and l4_hash cleared."""
        mem.write(skb + SKB.hash, bytes(4))
        b = mem.read(skb + SKB.hash_flags_offset, 1)[0]
        mem.write(skb + SKB.hash_flags_offset, bytes([b & ~(_L4_HASH | _SW_HASH) & 0xFF]))

    def ip_summed(mem: GuestMemory, skb: int) -> int:
        return (mem.read(skb + SKB.pkt_type_offset, 1)[0] >> _IP_SUMMED_SHIFT) & 3

    def set_ip_summed(mem: GuestMemory, skb: int, v: int) -> None:
        b = mem.read(skb + SKB.pkt_type_offset, 1)[0]
        mem.write(skb + SKB.pkt_type_offset, bytes([(b & ~(3 << _IP_SUMMED_SHIFT) & 0xFF) | v << _IP_SUMMED_SHIFT]))

    def csum_level(mem: GuestMemory, skb: int) -> int:
        return mem.read(skb + SKB.mono_tc_offset, 1)[0] >> _CSUM_LEVEL_SHIFT

    def set_csum_level(mem: GuestMemory, skb: int, v: int) -> None:
        b = mem.read(skb + SKB.mono_tc_offset, 1)[0]
        mem.write(skb + SKB.mono_tc_offset, bytes([(b & 0x3F) | (v << _CSUM_LEVEL_SHIFT)]))

    def plain_csum(mem: GuestMemory, skb: int, what: str) -> None:
        if ip_summed(mem, skb) in (CHECKSUM_COMPLETE, CHECKSUM_PARTIAL):
            raise NotModelled(f"{what} on a CHECKSUM_COMPLETE/PARTIAL skb")

    # --- the helpers ---------------------------------------------------------------------------
    def skb_load_bytes(mem: GuestMemory, skb: int, offset: int, to: int, length: int, *_: int) -> int:
        offset &= M32
        length &= M32
        data, slen, _hl, _head = geometry(mem, skb)
        if offset <= INT_MAX and offset + length <= slen:  # skb_header_pointer / skb_copy_bits
            mem.write(to, mem.read(data + offset, length))
            return 0
        mem.write(to, bytes(length))
        return _neg(errno.EFAULT)

    def skb_load_bytes_relative(mem: GuestMemory, skb: int, offset: int, to: int, length: int, start: int) -> int:
        offset &= M32
        length &= M32
        head = rd(mem, skb + SKB.head, "<Q")
        end = head + rd(mem, skb + SKB.tail, "<I")  # skb_tail_pointer
        base = None
        if offset <= 0xFFFF:
            if start & M32 == BPF_HDR_START_MAC:
                mac = rd(mem, skb + SKB.mac_header, "<H")
                base = None if mac == 0xFFFF else head + mac  # skb_mac_header_was_set
            elif start & M32 == BPF_HDR_START_NET:
                base = head + rd(mem, skb + SKB.network_header, "<H")
        if base is not None and base + offset + length <= end:
            mem.write(to, mem.read(base + offset, length))
            return 0
        mem.write(to, bytes(length))
        return _neg(errno.EFAULT)

    def skb_store_bytes(mem: GuestMemory, skb: int, offset: int, frm: int, length: int, flags: int) -> int:
        offset &= M32
        length &= M32
        if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
            return _neg(errno.EINVAL)
        if offset > INT_MAX:
            return _neg(errno.EFAULT)
        if try_make_writable(mem, skb, (offset + length) & M32):
            return _neg(errno.EFAULT)
        if flags & BPF_F_RECOMPUTE_CSUM:  # __skb_postpull_rcsum / __skb_postpush_rcsum
            plain_csum(mem, skb, "bpf_skb_store_bytes(BPF_F_RECOMPUTE_CSUM)")
        data = rd(mem, skb + SKB.data, "<Q")
        mem.write(data + offset, mem.read(frm, length))
        if flags & BPF_F_INVALIDATE_HASH:
            clear_hash(mem, skb)
        return 0

    def skb_pull_data(mem: GuestMemory, skb: int, length: int, *_: int) -> int:
        length &= M32
        if not length:
            length = geometry(mem, skb)[2]  # skb_headlen
        return try_make_writable(mem, skb, length) & M64

    def _sum16_ptr(mem: GuestMemory, skb: int, offset: int) -> int | None:
        if offset > 0xFFFF or offset & 1:
            return None
        if try_make_writable(mem, skb, offset + 2):
            return None
        return rd(mem, skb + SKB.data, "<Q") + offset

    def _replace(mem: GuestMemory, ptr: int, kind: int, frm: int, to: int) -> int:
        """``csum_replace_by_diff`` (0), ``csum_replace2`` (2), ``csum_replace4`` (4) on the
        __sum16 at ptr (as the CPU loads it: little endian)."""
        s = rd(mem, ptr, "<H")
        if kind == 0:
            if frm:
                return _neg(errno.EINVAL)
            new = _csum_fold(_csum_add(to & M32, ~s & M32))  # ~csum_unfold(*sum)
        elif kind == 2:
            new = ~_csum16_add(_csum16_add(~s & 0xFFFF, ~frm & 0xFFFF), to & 0xFFFF) & 0xFFFF
        elif kind == 4:
            tmp = _csum_sub(~s & M32, frm & M32)
            new = _csum_fold(_csum_add(tmp, to & M32))
        else:
            return _neg(errno.EINVAL)
        mem.write(ptr, struct.pack("<H", new))
        return 0

    def l3_csum_replace(mem: GuestMemory, skb: int, offset: int, frm: int, to: int, flags: int) -> int:
        if flags & ~BPF_F_HDR_FIELD_MASK:
            return _neg(errno.EINVAL)
        ptr = _sum16_ptr(mem, skb, offset & M32)
        if ptr is None:
            return _neg(errno.EFAULT)
        return _replace(mem, ptr, flags & BPF_F_HDR_FIELD_MASK, frm, to)

    def l4_csum_replace(mem: GuestMemory, skb: int, offset: int, frm: int, to: int, flags: int) -> int:
        allowed = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6
        if flags & ~allowed:
            return _neg(errno.EINVAL)
        ptr = _sum16_ptr(mem, skb, offset & M32)
        if ptr is None:
            return _neg(errno.EFAULT)
        mmzero, mforce = flags & BPF_F_MARK_MANGLED_0, flags & BPF_F_MARK_ENFORCE
        if mmzero and not mforce and not rd(mem, ptr, "<H"):
            return 0
        kind = flags & BPF_F_HDR_FIELD_MASK
        if kind not in (0, 2, 4) or (kind == 0 and frm):
            return _neg(errno.EINVAL)
        # inet_proto_csum_replace*: on a CHECKSUM_NONE/UNNECESSARY skb only the field changes
        plain_csum(mem, skb, "bpf_l4_csum_replace")
        if kind == 2:  # inet_proto_csum_replace2 widens to the 4-byte form
            kind, frm, to = 4, frm & 0xFFFF, to & 0xFFFF
        _replace(mem, ptr, kind, frm, to)
        if mmzero and not rd(mem, ptr, "<H"):
            mem.write(ptr, struct.pack("<H", CSUM_MANGLED_0))
        return 0

    def bpf_csum_diff(mem: GuestMemory, frm: int, from_size: int, to: int, to_size: int, seed: int) -> int:
        from_size &= M32
        to_size &= M32
        return csum_diff(mem.read(frm, from_size) if from_size else b"", mem.read(to, to_size) if to_size else b"",
                         seed)

    def csum_update(mem: GuestMemory, skb: int, csum: int, *_: int) -> int:
        if ip_summed(mem, skb) == CHECKSUM_COMPLETE:
            raise NotModelled("bpf_csum_update on a CHECKSUM_COMPLETE skb")
        return _neg(ENOTSUPP)

    def bpf_csum_level(mem: GuestMemory, skb: int, level: int, *_: int) -> int:
        summed, lvl = ip_summed(mem, skb), csum_level(mem, skb)
        if level == BPF_CSUM_LEVEL_INC:  # __skb_incr_checksum_unnecessary
            if summed == CHECKSUM_UNNECESSARY:
                if lvl < SKB_MAX_CSUM_LEVEL:
                    set_csum_level(mem, skb, lvl + 1)
            elif summed == CHECKSUM_NONE:
                set_ip_summed(mem, skb, CHECKSUM_UNNECESSARY)
                set_csum_level(mem, skb, 0)
        elif level == BPF_CSUM_LEVEL_DEC:  # __skb_decr_checksum_unnecessary
            if summed == CHECKSUM_UNNECESSARY:
                if lvl == 0:
                    set_ip_summed(mem, skb, CHECKSUM_NONE)
                else:
                    set_csum_level(mem, skb, lvl - 1)
        elif level == BPF_CSUM_LEVEL_RESET:  # __skb_reset_checksum_unnecessary
            if summed == CHECKSUM_UNNECESSARY:
                set_ip_summed(mem, skb, CHECKSUM_NONE)
                set_csum_level(mem, skb, 0)
        elif level == BPF_CSUM_LEVEL_QUERY:
            return lvl if summed == CHECKSUM_UNNECESSARY else _neg(errno.EACCES)
        else:
            return _neg(errno.EINVAL)
        return 0

    def set_hash(mem: GuestMemory, skb: int, h: int, *_: int) -> int:
        mem.write(skb + SKB.hash, struct.pack("<I", h & M32))  # __skb_set_sw_hash(skb, hash, true)
        b = mem.read(skb + SKB.hash_flags_offset, 1)[0]
        mem.write(skb + SKB.hash_flags_offset, bytes([b | _L4_HASH | _SW_HASH]))
        return 0

    def set_hash_invalid(mem: GuestMemory, skb: int, *_: int) -> int:
        clear_hash(mem, skb)
        return 0

    def vlan_push(mem: GuestMemory, skb: int, proto: int, tci: int, *_: int) -> int:
        proto &= 0xFFFF  # __be16 as the register holds it
        if proto not in (_VLAN_8021Q, _VLAN_8021AD):
            proto = _VLAN_8021Q
        plain_csum(mem, skb, "bpf_skb_vlan_push")  # bpf_push_mac_rcsum / bpf_pull_mac_rcsum
        if rd(mem, skb + SKB.vlan_all, "<I"):  # skb_vlan_push: the present tag into the frame first
            raise NotModelled("bpf_skb_vlan_push over a tag already present (__vlan_insert_tag)")
        mem.write(skb + SKB.vlan_proto, struct.pack("<HH", proto, tci & 0xFFFF))  # __vlan_hwaccel_put_tag
        net, mac = rd(mem, skb + SKB.network_header, "<H"), rd(mem, skb + SKB.mac_header, "<H")
        mem.write(skb + SKB.mac_len, struct.pack("<H", (net - mac) & 0xFFFF))  # skb_reset_mac_len
        compute_data_pointers(mem, skb)
        return 0

    def vlan_pop(mem: GuestMemory, skb: int, *_: int) -> int:
        plain_csum(mem, skb, "bpf_skb_vlan_pop")
        protocol = rd(mem, skb + SKB.protocol, "<H")
        if rd(mem, skb + SKB.vlan_all, "<I"):
            mem.write(skb + SKB.vlan_all, bytes(4))  # __vlan_hwaccel_clear_tag
        elif protocol not in (_VLAN_8021Q, _VLAN_8021AD):  # !eth_type_vlan(skb->protocol)
            compute_data_pointers(mem, skb)
            return 0
        if protocol in (_VLAN_8021Q, _VLAN_8021AD):
            raise NotModelled("bpf_skb_vlan_pop of a tag in the frame (__skb_vlan_pop)")
        compute_data_pointers(mem, skb)
        return 0

    table: dict[int, Callable[..., int]] = {
        18: vlan_push, 19: vlan_pop,
        26: skb_load_bytes, 68: skb_load_bytes_relative, 9: skb_store_bytes, 39: skb_pull_data,
        10: l3_csum_replace, 11: l4_csum_replace, 28: bpf_csum_diff, 40: csum_update, 135: bpf_csum_level,
        48: set_hash, 41: set_hash_invalid,
    }
    return table


#: include/uapi/linux/filter.h
SKF_NET_OFF, SKF_LL_OFF = -0x100000, -0x200000
INT_MIN = -0x8000_0000
#: the kernel functions bpf_gen_ld_abs calls, by load size
LD_ABS_LOADERS = {1: "bpf_skb_load_helper_8_no_cache", 2: "bpf_skb_load_helper_16_no_cache",
                  4: "bpf_skb_load_helper_32_no_cache"}


def ld_abs_loaders() -> dict[int, HelperFn]:
    """``bpf_skb_load_helper_{8,16,32}_no_cache`` (net/core/filter.c, Linux 6.18) by size:
    the offset (an ``int``) made relative to ``skb->data`` by
    ``bpf_skb_load_helper_convert_offset`` (``SKF_NET_OFF`` / ``SKF_LL_OFF`` from the
    network / MAC header), then the big-endian value when ``headlen - offset >= size``,
    else ``-EFAULT`` (a test-run skb is linear: ``skb_copy_bits`` has nothing more)."""

    def make(size: int) -> HelperFn:
        def load(mem: GuestMemory, skb: int, offset: int, *_: int) -> int:
            off = offset & M32
            off = off - (1 << 32) if off >> 31 else off
            data = int(struct.unpack("<Q", mem.read(skb + SKB.data, 8))[0])
            head = int(struct.unpack("<Q", mem.read(skb + SKB.head, 8))[0])
            length, data_len = struct.unpack("<II", mem.read(skb + SKB.len, 8))
            if off < 0:
                if off >= SKF_NET_OFF:
                    net = int(struct.unpack("<H", mem.read(skb + SKB.network_header, 2))[0])
                    off = off - SKF_NET_OFF + (head + net - data)
                elif off >= SKF_LL_OFF:
                    mac = int(struct.unpack("<H", mem.read(skb + SKB.mac_header, 2))[0])
                    off = INT_MIN if mac == 0xFFFF else off - SKF_LL_OFF + (head + mac - data)
                else:
                    off = INT_MIN
            if off == INT_MIN or (length - data_len) - off < size:
                return _neg(errno.EFAULT)
            return int.from_bytes(mem.read(data + off, size), "big")
        return load
    return {n: make(n) for n in (1, 2, 4)}
