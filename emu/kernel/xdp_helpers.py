"""The run-time bodies of the helpers XDP programs call, on a ``struct xdp_buff`` in emulated memory.

They are bound by the kernel's prototype symbol (``xdp_func_proto`` hands out
``bpf_xdp_redirect_proto`` for ``BPF_FUNC_redirect``, where tc gets
``bpf_redirect_proto``: one helper id, two functions), see :data:`XDP_HELPERS`
and :meth:`emu.kernel.Kernel.helper_imm_for`. Each follows net/core/filter.c
(Linux 6.12; the 6.18 host's results compared in tests/emu/test_xdp_run.py):

* ``bpf_xdp_adjust_head(xdp, int offset)``: ``data`` moves by ``offset``, the
  metadata (``data_meta .. data``) moves with it; ``-EINVAL`` when the new
  ``data`` would go below ``data_hard_start + sizeof(struct xdp_frame) +
  metalen`` or leave less than ``ETH_HLEN`` bytes before ``data_end``.
* ``bpf_xdp_adjust_meta(xdp, int offset)``: ``data_meta`` moves; ``-ENOTSUPP``
  when the buffer has no metadata support (``data_meta > data``), ``-EINVAL``
  outside ``[hard_start + sizeof(struct xdp_frame), data]``, ``-EACCES`` for a
  length not a multiple of 4 or above 255 (``xdp_metalen_invalid``).
* ``bpf_xdp_adjust_tail(xdp, int offset)``: a linear buffer's ``data_end``
  moves within ``[data + ETH_HLEN, hard_start + frame_sz - tailroom]`` (grown
  bytes zeroed); with fragments the last fragment grows within its page
  (``bpf_xdp_frags_increase_tail``) or fragments shrink from the last, a
  fragment emptied being freed, and once none is left ``data_end`` takes the
  rest (``bpf_xdp_frags_shrink_tail``).
* ``bpf_xdp_load_bytes`` / ``bpf_xdp_store_bytes(xdp, u32 off, buf, u32 len)``:
  ``-EFAULT`` for an offset or length above 0xffff, ``-EINVAL`` past
  ``xdp_get_buff_len``; else a copy across the linear part and the fragments
  (``bpf_xdp_pointer`` / ``bpf_xdp_copy_buf``).
* ``bpf_xdp_get_buff_len(xdp)``: the linear length plus ``xdp_frags_size``
  when ``XDP_FLAGS_HAS_FRAGS`` is set.
* ``bpf_xdp_check_mtu(xdp, ifindex, u32 *mtu_len, s32 len_diff, u64 flags)``:
  ``-EINVAL`` for any flag, ``-ENODEV`` for a device other than the rx queue's
  (``ifindex`` 0) or lo; else ``BPF_MTU_CHK_RET_FRAG_NEEDED`` (1) when the
  packet's length (``*mtu_len`` + the device's ``hard_header_len`` when
  ``*mtu_len`` is set) plus ``len_diff`` exceeds ``mtu + hard_header_len``, 0
  otherwise, and ``*mtu_len`` = the device's MTU (lo: 65536, ``ETH_HLEN`` header).
* ``bpf_xdp_redirect(ifindex, flags)``: ``XDP_ABORTED`` for non-zero flags,
  else ``XDP_REDIRECT`` (the target is recorded in the per-CPU
  ``bpf_redirect_info``, which a test run never reads).
* ``bpf_xdp_redirect_map(map, key, flags)`` (``ops->map_redirect`` after
  ``do_misc_fixups``; ``__bpf_xdp_redirect_map``): flags outside the action
  bits (``XDP_ABORTED .. XDP_TX``) and the map's own (``BPF_F_BROADCAST |
  BPF_F_EXCLUDE_INGRESS`` for devmaps) give ``XDP_ABORTED``; a failed lookup
  gives ``flags & 3`` unless ``BPF_F_BROADCAST``; a found target or a
  broadcast ``XDP_REDIRECT``. The emulated kernel's devmaps, cpumaps and
  xskmaps hold no entries (their updates are not modelled: it has no network
  devices, CPU map kthreads or AF_XDP sockets), so every lookup fails --
  exactly what the host answers for an empty map.

Where we differ: a fragment's ``netmem`` holds the page's kernel address (the
kernel keeps a ``struct page`` pointer there; no program can read it), and
XSK (zero-copy) buffers do not exist here.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from kernel_model.errors import NotModelled
from kernel_model.memory import GuestMemory, HelperFn
from verifier.xdp_ctx import XDP_BUFF as X

from .bpf_helpers import M64, neg_errno

if TYPE_CHECKING:  # pragma: no cover
    from .bpf_maps import MapObject
    from emu.machine import Machine

__all__ = ["XDP_HELPERS", "xdp_helpers", "XDP_FRAME_SIZE", "XDP_FLAGS_HAS_FRAGS", "ETH_HLEN",
           "shinfo_addr", "buff_len", "ENOTSUPP"]

ETH_HLEN = 14
#: sizeof(struct xdp_frame) (6.18 x86-64 BTF: 40 bytes)
XDP_FRAME_SIZE = 40
#: include/net/xdp.h enum xdp_buff_flags
XDP_FLAGS_HAS_FRAGS, XDP_FLAGS_FRAGS_PF_MEMALLOC = 1 << 0, 1 << 1
#: include/linux/errno.h (kernel-internal)
ENOTSUPP = 524
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = 0, 1, 2, 3, 4
#: include/uapi/linux/bpf.h: BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS (devmap redirect flags)
BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS = 1 << 3, 1 << 4
#: enum bpf_map_type
MAP_TYPE_DEVMAP, MAP_TYPE_CPUMAP, MAP_TYPE_XSKMAP, MAP_TYPE_DEVMAP_HASH = 14, 16, 17, 25
#: map type -> the flags its map_redirect accepts beyond the action bits (dev_map_redirect,
#: dev_hash_map_redirect, cpu_map_redirect, xsk_map_redirect)
_REDIRECT_FLAGS = {MAP_TYPE_DEVMAP: BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
                   MAP_TYPE_DEVMAP_HASH: BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
                   MAP_TYPE_CPUMAP: 0, MAP_TYPE_XSKMAP: 0}


def _u64(mem: GuestMemory, addr: int) -> int:
    return int.from_bytes(mem.read(addr, 8), "little")


def _u32(mem: GuestMemory, addr: int) -> int:
    return int.from_bytes(mem.read(addr, 4), "little")


def _put64(mem: GuestMemory, addr: int, v: int) -> None:
    mem.write(addr, (v & M64).to_bytes(8, "little"))


def _put32(mem: GuestMemory, addr: int, v: int) -> None:
    mem.write(addr, (v & 0xFFFF_FFFF).to_bytes(4, "little"))


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v >> 31 else v


def shinfo_addr(mem: GuestMemory, xdp: int) -> int:
    """``xdp_get_shared_info_from_buff``: ``data_hard_start + frame_sz - SKB_DATA_ALIGN(sizeof(shinfo))``."""
    return _u64(mem, xdp + X.data_hard_start) + _u32(mem, xdp + X.frame_sz) - X.shinfo_size


def _has_frags(mem: GuestMemory, xdp: int) -> bool:
    return bool(_u32(mem, xdp + X.flags) & XDP_FLAGS_HAS_FRAGS)


def buff_len(mem: GuestMemory, xdp: int) -> int:
    """``xdp_get_buff_len``."""
    n = _u64(mem, xdp + X.data_end) - _u64(mem, xdp + X.data)
    if _has_frags(mem, xdp):
        n += _u32(mem, shinfo_addr(mem, xdp) + X.shinfo_xdp_frags_size)
    return n


def _frag(sinfo: int, i: int) -> int:
    return sinfo + X.shinfo_frags + i * X.frag_size


def _segments(mem: GuestMemory, xdp: int) -> list[tuple[int, int]]:
    """(address, length) of the linear part, then of each fragment."""
    data = _u64(mem, xdp + X.data)
    out = [(data, _u64(mem, xdp + X.data_end) - data)]
    if _has_frags(mem, xdp):
        sinfo = shinfo_addr(mem, xdp)
        for i in range(mem.read(sinfo + X.shinfo_nr_frags, 1)[0]):
            f = _frag(sinfo, i)
            out.append((_u64(mem, f) + _u32(mem, f + X.frag_offset), _u32(mem, f + X.frag_len)))
    return out


def _copy(mem: GuestMemory, xdp: int, off: int, buf: int, length: int, flush: bool) -> None:
    """``bpf_xdp_copy_buf``: ``length`` bytes at packet offset ``off`` to (``flush``: from) ``buf``."""
    pos = 0
    for addr, seg in _segments(mem, xdp):
        if length and off < pos + seg:
            at = off - pos
            n = min(length, seg - at)
            if flush:
                mem.write(addr + at, mem.read(buf, n))
            else:
                mem.write(buf, mem.read(addr + at, n))
            off += n
            length -= n
            buf += n
        pos += seg
        if not length:
            break


def xdp_helpers(machine: "Machine", maps_by_addr: dict[int, "MapObject"]) -> dict[str, HelperFn]:
    """``{kernel proto symbol: body}`` for one kernel's machine (fragment pages are
    freed through its allocator) and maps."""

    def adjust_head(mem: GuestMemory, xdp: int, r2: int, *_: int) -> int:
        offset = _s32(r2)
        hard = _u64(mem, xdp + X.data_hard_start)
        data, data_end, meta = (_u64(mem, xdp + o) for o in (X.data, X.data_end, X.data_meta))
        metalen = 0 if meta > data else data - meta
        new = data + offset
        if new < hard + XDP_FRAME_SIZE + metalen or new > data_end - ETH_HLEN:
            return neg_errno(errno.EINVAL)
        if metalen:
            mem.write(meta + offset, mem.read(meta, metalen))  # memmove
        _put64(mem, xdp + X.data_meta, meta + offset)
        _put64(mem, xdp + X.data, new)
        return 0

    def adjust_meta(mem: GuestMemory, xdp: int, r2: int, *_: int) -> int:
        offset = _s32(r2)
        hard = _u64(mem, xdp + X.data_hard_start)
        data, meta = _u64(mem, xdp + X.data), _u64(mem, xdp + X.data_meta)
        if meta > data:  # xdp_data_meta_unsupported
            return neg_errno(ENOTSUPP)
        new = meta + offset
        if new < hard + XDP_FRAME_SIZE or new > data:
            return neg_errno(errno.EINVAL)
        metalen = data - new
        if metalen % 4 or metalen > 255:  # xdp_metalen_invalid: u8 meta_len
            return neg_errno(errno.EACCES)
        _put64(mem, xdp + X.data_meta, new)
        return 0

    def frags_increase_tail(mem: GuestMemory, xdp: int, offset: int) -> int:
        sinfo = shinfo_addr(mem, xdp)
        f = _frag(sinfo, mem.read(sinfo + X.shinfo_nr_frags, 1)[0] - 1)
        rxq = _u64(mem, xdp + X.rxq)
        frag_size = _u32(mem, rxq + X.rxq_frag_size)
        if not frag_size or frag_size > _u32(mem, xdp + X.frame_sz):
            return neg_errno(errno.EOPNOTSUPP)
        size, foff = _u32(mem, f + X.frag_len), _u32(mem, f + X.frag_offset)
        if offset > frag_size - size - foff % frag_size:
            return neg_errno(errno.EINVAL)
        mem.write(_u64(mem, f) + foff + size, bytes(offset))
        _put32(mem, f + X.frag_len, size + offset)
        fs = sinfo + X.shinfo_xdp_frags_size
        _put32(mem, fs, _u32(mem, fs) + offset)
        return 0

    def frags_shrink_tail(mem: GuestMemory, xdp: int, offset: int) -> int:
        if offset > buff_len(mem, xdp) - ETH_HLEN:
            return neg_errno(errno.EINVAL)
        sinfo = shinfo_addr(mem, xdp)
        nr = mem.read(sinfo + X.shinfo_nr_frags, 1)[0]
        freed = len_free = 0
        i = nr - 1
        while i >= 0 and offset > 0:
            f = _frag(sinfo, i)
            size = _u32(mem, f + X.frag_len)
            shrink = min(offset, size)
            len_free += shrink
            offset -= shrink
            if shrink == size:  # bpf_xdp_shrink_data: the page goes back (__xdp_return)
                machine.alloc.kfree(_u64(mem, f))
                freed += 1
            else:
                _put32(mem, f + X.frag_len, size - shrink)
                break
            i -= 1
        mem.write(sinfo + X.shinfo_nr_frags, bytes([nr - freed]))
        fs = sinfo + X.shinfo_xdp_frags_size
        _put32(mem, fs, _u32(mem, fs) - len_free)
        if nr == freed:
            flags = _u32(mem, xdp + X.flags)
            _put32(mem, xdp + X.flags, flags & ~(XDP_FLAGS_HAS_FRAGS | XDP_FLAGS_FRAGS_PF_MEMALLOC))
            _put64(mem, xdp + X.data_end, _u64(mem, xdp + X.data_end) - offset)
        return 0

    def adjust_tail(mem: GuestMemory, xdp: int, r2: int, *_: int) -> int:
        offset = _s32(r2)
        if _has_frags(mem, xdp):
            if offset < 0:
                return frags_shrink_tail(mem, xdp, -offset)
            return frags_increase_tail(mem, xdp, offset)
        hard_end = _u64(mem, xdp + X.data_hard_start) + _u32(mem, xdp + X.frame_sz) - X.shinfo_size
        data, data_end = _u64(mem, xdp + X.data), _u64(mem, xdp + X.data_end)
        new = data_end + offset
        if new > hard_end or new < data + ETH_HLEN:
            return neg_errno(errno.EINVAL)
        if offset > 0:
            mem.write(data_end, bytes(offset))
        _put64(mem, xdp + X.data_end, new)
        return 0

    def load_store(flush: bool) -> HelperFn:
        def body(mem: GuestMemory, xdp: int, r2: int, buf: int, r4: int, *_: int) -> int:
            off, length = r2 & 0xFFFF_FFFF, r4 & 0xFFFF_FFFF
            if off > 0xFFFF or length > 0xFFFF:  # bpf_xdp_pointer
                return neg_errno(errno.EFAULT)
            if off + length > buff_len(mem, xdp):
                return neg_errno(errno.EINVAL)
            _copy(mem, xdp, off, buf, length, flush)
            return 0
        return body

    def get_buff_len(mem: GuestMemory, xdp: int, *_: int) -> int:
        return buff_len(mem, xdp)

    def check_mtu(mem: GuestMemory, xdp: int, ifindex: int, mtu_len: int, len_diff: int, flags: int) -> int:
        dev = _u64(mem, _u64(mem, xdp + X.rxq) + X.rxq_dev)
        xdp_len = _u64(mem, xdp + X.data_end) - _u64(mem, xdp + X.data)
        if flags:  # no multi-buffer segment check for XDP
            return neg_errno(errno.EINVAL)
        ifindex &= 0xFFFF_FFFF
        if ifindex and ifindex != _u32(mem, dev + X.dev_ifindex):  # __dev_via_ifindex: lo is the only device
            return neg_errno(errno.ENODEV)
        mtu = _u32(mem, dev + X.dev_mtu)
        hard = int.from_bytes(mem.read(dev + X.dev_hard_header_len, 2), "little")
        given = _u32(mem, mtu_len)
        if given:  # the caller's L3 length
            xdp_len = given + hard
        ret = 1 if _s32(xdp_len + _s32(len_diff)) > _s32(mtu + hard) else 0  # BPF_MTU_CHK_RET_FRAG_NEEDED
        _put32(mem, mtu_len, mtu)
        return ret

    def redirect(mem: GuestMemory, ifindex: int, flags: int, *_: int) -> int:
        return XDP_ABORTED if flags else XDP_REDIRECT

    def redirect_map(mem: GuestMemory, r1: int, key: int, flags: int, *_: int) -> int:
        mo = maps_by_addr.get(r1 & M64)
        mtype = mo.spec.map_type if mo is not None else -1
        if mo is None or mtype not in _REDIRECT_FLAGS:  # the verifier lets only these through
            raise NotModelled(f"bpf_redirect_map on map type {mtype} is not modelled")
        from .maps import CreatedOnlyMap
        if not isinstance(mo, CreatedOnlyMap):  # a map that could hold a target
            raise NotModelled(f"bpf_redirect_map on a {mo.spec.type_name} with entries is not modelled")
        if flags & ~(3 | _REDIRECT_FLAGS[mtype]):
            return XDP_ABORTED
        # the lookup fails: the emulated kernel's redirect maps hold no entries
        if flags & BPF_F_BROADCAST:
            return XDP_REDIRECT
        return flags & 3

    return {
        "bpf_xdp_adjust_head_proto": adjust_head,
        "bpf_xdp_adjust_meta_proto": adjust_meta,
        "bpf_xdp_adjust_tail_proto": adjust_tail,
        "bpf_xdp_load_bytes_proto": load_store(False),
        "bpf_xdp_store_bytes_proto": load_store(True),
        "bpf_xdp_get_buff_len_proto": get_buff_len,
        "bpf_xdp_redirect_proto": redirect,
        "bpf_xdp_check_mtu_proto": check_mtu,
        "bpf_xdp_redirect_map_proto": redirect_map,
    }


#: proto symbol -> helper id, for the symbols :func:`xdp_helpers` gives bodies to
XDP_HELPERS: dict[str, int] = {
    "bpf_xdp_adjust_head_proto": 44, "bpf_xdp_adjust_meta_proto": 54, "bpf_xdp_adjust_tail_proto": 65,
    "bpf_xdp_load_bytes_proto": 189, "bpf_xdp_store_bytes_proto": 190, "bpf_xdp_get_buff_len_proto": 188,
    "bpf_xdp_redirect_proto": 23, "bpf_xdp_redirect_map_proto": 51, "bpf_xdp_check_mtu_proto": 163,
}
