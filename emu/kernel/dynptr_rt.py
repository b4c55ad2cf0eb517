"""Dynptrs at run time: ``struct bpf_dynptr_kern`` in the program's memory, and the helpers
and kfuncs that make and use them (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c, Linux 6.12;
the same in 6.18).

A dynptr is 16 bytes (``struct bpf_dynptr_kern``): ``void *data``, ``u32 size`` whose
bits 0-23 are the size, bits 28-30 the ``enum bpf_dynptr_type`` and bit 31 read-only,
and ``u32 offset``. A NULL dynptr (``bpf_dynptr_set_null``) is all zeroes.

* ``bpf_dynptr_from_mem``: a local dynptr over the memory (-E2BIG above 2^24 - 1 bytes,
  -EINVAL for flags: then a NULL dynptr);
* ``bpf_dynptr_read`` / ``bpf_dynptr_write``: -EINVAL for a NULL dynptr or flags (write:
  or a read-only one), -E2BIG for an offset/length outside it (``bpf_dynptr_check_off_len``),
  else ``memmove``;
* ``bpf_dynptr_data``, ``bpf_dynptr_slice(_rdwr)``: the address of ``data + offset + off`` or
  NULL (NULL dynptr, out of range, read-only for ``_data``/``_rdwr``);
* ``bpf_ringbuf_reserve_dynptr`` / ``_submit_dynptr`` / ``_discard_dynptr``: a ring buffer
  record (:mod:`emu.kernel.maps.ringbuf`) behind a ringbuf dynptr, which the release makes NULL;
* ``bpf_dynptr_adjust``, ``bpf_dynptr_is_null``, ``bpf_dynptr_is_rdonly``,
  ``bpf_dynptr_size``, ``bpf_dynptr_clone``.

Not modelled at run time (the verifier models them; a call stops the run as not modelled):
skb and xdp dynptrs (``bpf_dynptr_from_skb`` / ``_from_xdp`` need the packet's
``struct sk_buff`` / ``xdp_buff``). ``bpf_user_ringbuf_drain`` hands its callback a local
dynptr over each sample (:mod:`emu.kernel.maps.user_ringbuf`).
"""

from __future__ import annotations

import errno
import struct
from typing import Any, Callable

from kernel_model.errors import NotModelled

__all__ = ["DynptrKern", "read_dynptr", "write_dynptr", "set_null", "dynptr_helpers", "dynptr_kfuncs",
           "DYNPTR_MAX_SIZE", "BPF_DYNPTR_TYPE_LOCAL", "BPF_DYNPTR_TYPE_RINGBUF"]

M64 = (1 << 64) - 1
# kernel/bpf/helpers.c
DYNPTR_MAX_SIZE = (1 << 24) - 1
DYNPTR_TYPE_SHIFT = 28
DYNPTR_SIZE_MASK = 0xFFFFFF
DYNPTR_RDONLY_BIT = 1 << 31
BPF_DYNPTR_TYPE_LOCAL = 1
BPF_DYNPTR_TYPE_RINGBUF = 2


class DynptrKern:
    """``struct bpf_dynptr_kern`` decoded."""

    __slots__ = ("data", "size", "offset", "type", "rdonly")

    def __init__(self, data: int, size: int, offset: int, dtype: int, rdonly: bool = False) -> None:
        self.data = data
        self.size = size
        self.offset = offset
        self.type = dtype
        self.rdonly = rdonly

    def pack(self) -> bytes:
        word = (self.size & DYNPTR_SIZE_MASK) | (self.type << DYNPTR_TYPE_SHIFT) | \
            (DYNPTR_RDONLY_BIT if self.rdonly else 0)
        return struct.pack("<QII", self.data, word, self.offset)

    def check_off_len(self, off: int, length: int) -> int:
        """``bpf_dynptr_check_off_len``: 0 or -E2BIG."""
        if length > self.size or off > self.size - length:
            return -errno.E2BIG
        return 0


def read_dynptr(mem: Any, addr: int) -> DynptrKern:
    data, word, offset = struct.unpack("<QII", mem.read(addr, 16))
    return DynptrKern(data, word & DYNPTR_SIZE_MASK, offset, (word >> DYNPTR_TYPE_SHIFT) & 7,
                      bool(word & DYNPTR_RDONLY_BIT))


def write_dynptr(mem: Any, addr: int, d: DynptrKern) -> None:
    mem.write(addr, d.pack())


def set_null(mem: Any, addr: int) -> None:
    """``bpf_dynptr_set_null``."""
    mem.write(addr, bytes(16))


def _ret(v: int) -> int:
    return v & M64


def _local_or_ringbuf(d: DynptrKern, what: str) -> None:
    if d.type not in (BPF_DYNPTR_TYPE_LOCAL, BPF_DYNPTR_TYPE_RINGBUF):
        raise NotModelled(f"{what} of a dynptr of type {d.type} (skb/xdp) is not modelled at run time")


def dynptr_helpers(ringbuf_of_map: Callable[[int], Any], ringbuf_of_sample: Callable[[int], Any]) -> dict[int, Any]:
    """``{helper id: body}`` for the dynptr helpers; the callables find the
    :class:`~emu.kernel.maps.ringbuf.RingbufMap` of a map address / of a sample."""

    def dynptr_from_mem(mem: Any, data: int, size: int, flags: int, ptr: int, *_: int) -> int:
        size &= 0xFFFFFFFF
        if size > DYNPTR_MAX_SIZE:
            set_null(mem, ptr)
            return _ret(-errno.E2BIG)
        if flags:
            set_null(mem, ptr)
            return _ret(-errno.EINVAL)
        write_dynptr(mem, ptr, DynptrKern(data, size, 0, BPF_DYNPTR_TYPE_LOCAL))
        return 0

    def dynptr_read(mem: Any, dst: int, length: int, src: int, off: int, flags: int) -> int:
        length &= 0xFFFFFFFF
        off &= 0xFFFFFFFF
        d = read_dynptr(mem, src)
        if not d.data or flags:
            return _ret(-errno.EINVAL)
        err = d.check_off_len(off, length)
        if err:
            return _ret(err)
        _local_or_ringbuf(d, "bpf_dynptr_read")
        mem.write(dst, mem.read(d.data + d.offset + off, length))
        return 0

    def dynptr_write(mem: Any, dst: int, off: int, src: int, length: int, flags: int) -> int:
        length &= 0xFFFFFFFF
        off &= 0xFFFFFFFF
        d = read_dynptr(mem, dst)
        if not d.data or d.rdonly:
            return _ret(-errno.EINVAL)
        err = d.check_off_len(off, length)
        if err:
            return _ret(err)
        _local_or_ringbuf(d, "bpf_dynptr_write")
        if flags:
            return _ret(-errno.EINVAL)
        mem.write(d.data + d.offset + off, mem.read(src, length))
        return 0

    def dynptr_data(mem: Any, ptr: int, off: int, length: int, *_: int) -> int:
        d = read_dynptr(mem, ptr)
        off &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        if not d.data or d.check_off_len(off, length) or d.rdonly:
            return 0
        if d.type not in (BPF_DYNPTR_TYPE_LOCAL, BPF_DYNPTR_TYPE_RINGBUF):
            return 0  # skb/xdp dynptrs use bpf_dynptr_slice
        return d.data + d.offset + off

    def ringbuf_reserve_dynptr(mem: Any, map_addr: int, size: int, flags: int, ptr: int, *_: int) -> int:
        size &= 0xFFFFFFFF
        if flags:
            set_null(mem, ptr)
            return _ret(-errno.EINVAL)
        if size > DYNPTR_MAX_SIZE:
            set_null(mem, ptr)
            return _ret(-errno.E2BIG)
        sample = ringbuf_of_map(map_addr).reserve(size)
        if not sample:
            set_null(mem, ptr)
            return _ret(-errno.EINVAL)
        write_dynptr(mem, ptr, DynptrKern(sample, size, 0, BPF_DYNPTR_TYPE_RINGBUF))
        return 0

    def _commit_dynptr(mem: Any, ptr: int, discard: bool) -> int:
        d = read_dynptr(mem, ptr)
        if not d.data:
            return 0
        ringbuf_of_sample(d.data).commit(d.data, discard)
        set_null(mem, ptr)
        return 0

    def ringbuf_submit_dynptr(mem: Any, ptr: int, flags: int, *_: int) -> int:
        return _commit_dynptr(mem, ptr, False)

    def ringbuf_discard_dynptr(mem: Any, ptr: int, flags: int, *_: int) -> int:
        return _commit_dynptr(mem, ptr, True)

    return {197: dynptr_from_mem, 198: ringbuf_reserve_dynptr, 199: ringbuf_submit_dynptr,
            200: ringbuf_discard_dynptr, 201: dynptr_read, 202: dynptr_write, 203: dynptr_data}


def dynptr_kfuncs() -> dict[str, Callable[..., int]]:
    """The dynptr kfuncs' bodies (``fn(memory, r1..r5)``)."""

    def adjust(m: Any, p: int, start: int, end: int, *_: int) -> int:
        start &= 0xFFFFFFFF
        end &= 0xFFFFFFFF
        d = read_dynptr(m, p)
        if not d.data or start > end:
            return _ret(-errno.EINVAL)
        if start > d.size or end > d.size:
            return _ret(-errno.ERANGE)
        d.offset = (d.offset + start) & 0xFFFFFFFF
        d.size = end - start
        write_dynptr(m, p, d)
        return 0

    def is_null(m: Any, p: int, *_: int) -> int:
        return int(not read_dynptr(m, p).data)

    def is_rdonly(m: Any, p: int, *_: int) -> int:
        d = read_dynptr(m, p)
        return int(bool(d.data) and d.rdonly)

    def size(m: Any, p: int, *_: int) -> int:
        d = read_dynptr(m, p)
        if not d.data:
            return (-errno.EINVAL) & 0xFFFFFFFF  # returned as __u32
        return d.size

    def clone(m: Any, p: int, c: int, *_: int) -> int:
        d = read_dynptr(m, p)
        if not d.data:
            set_null(m, c)
            return _ret(-errno.EINVAL)
        write_dynptr(m, c, d)
        return 0

    def slice_(m: Any, p: int, off: int, buf: int, length: int, *_: int) -> int:
        off &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        d = read_dynptr(m, p)
        if not d.data or d.check_off_len(off, length):
            return 0
        _local_or_ringbuf(d, "bpf_dynptr_slice")
        return d.data + d.offset + off

    def slice_rdwr(m: Any, p: int, off: int, buf: int, length: int, *_: int) -> int:
        d = read_dynptr(m, p)
        if not d.data or d.rdonly:
            return 0
        return slice_(m, p, off, buf, length)

    def packet(name: str) -> Callable[..., int]:
        def fn(m: Any, *_: int) -> int:
            raise NotModelled(f"{name}: skb and xdp dynptrs are not modelled at run time")
        return fn

    return {"bpf_dynptr_adjust": adjust, "bpf_dynptr_is_null": is_null, "bpf_dynptr_is_rdonly": is_rdonly,
            "bpf_dynptr_size": size, "bpf_dynptr_clone": clone, "bpf_dynptr_slice": slice_,
            "bpf_dynptr_slice_rdwr": slice_rdwr, "bpf_dynptr_from_skb": packet("bpf_dynptr_from_skb"),
            "bpf_dynptr_from_xdp": packet("bpf_dynptr_from_xdp")}
