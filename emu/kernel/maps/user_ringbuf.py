"""User ring buffers (``BPF_MAP_TYPE_USER_RINGBUF``): user space produces, BPF drains.

The kernel's side follows kernel/bpf/ringbuf.c (Linux 6.12; the 6.18 code is the same):

* :meth:`UserRingbufMap.peek_record` -- ``__bpf_user_ringbuf_peek``: ``-EINVAL`` when the producer
  position is not a multiple of 8, ``-ENODATA`` when the consumer has caught up; the header
  at ``consumer_pos & mask`` is read: ``-EINVAL`` when the record runs past the producer
  position, ``-E2BIG`` when it is larger than the data area or its sample larger than a
  dynptr may be (``bpf_dynptr_check_size``, 2^24 - 1); a record with
  ``BPF_RINGBUF_DISCARD_BIT`` is consumed and skipped (``-EAGAIN``), one still
  ``BPF_RINGBUF_BUSY_BIT`` (reserved by user space, not submitted) stops the walk
  (``-ENODATA``);
* :meth:`UserRingbufMap.drain` -- ``bpf_user_ringbuf_drain(map, callback_fn, ctx, flags)``:
  ``-EINVAL`` for flags other than ``BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP``, ``-EBUSY``
  while another drain of the ring runs (``rb->busy``); then for at most
  ``BPF_MAX_USER_RINGBUF_SAMPLES`` (128 Ki) records: ``callback_fn(&dynptr, ctx, 0, 0, 0)``
  with a local dynptr over the sample (``bpf_dynptr_init(..., BPF_DYNPTR_TYPE_LOCAL, 0,
  size)``, in the helper's frame), the record consumed after the call
  (``__bpf_user_ringbuf_sample_release``), stopping after a callback returning non-zero.
  The result is the number of samples handed to callbacks (the loop counts discarded
  records, then subtracts them), or the peek's error when it is neither ``-ENODATA`` nor
  ``-EAGAIN`` -- records consumed before the error stay consumed.

The user side is libbpf's (tools/lib/bpf/ringbuf.c, ``user_ring_buffer__reserve`` /
``__submit`` / ``__discard``): :meth:`UserRingbufMap.user_reserve` writes the header
(``size | BPF_RINGBUF_BUSY_BIT``, pad 0) at the producer position and advances it by the
rounded record size, ``-E2BIG`` when the record exceeds the ring, ``-ENOSPC`` when the free
space (size - (producer - consumer)) is smaller; :meth:`UserRingbufMap.user_commit` clears the
busy bit (and sets the discard bit for a discard). :meth:`UserRingbufMap.set_producer_pos`
and :meth:`UserRingbufMap.write_header` let a test do what a faulty producer writing its
mmap'ed pages directly may do (the kernel trusts nothing there).

Where we differ: user space's ``mmap`` of the consumer page (read-only), producer page and the
doubly mapped data pages is not modelled: the producer side is this Python API, writing into
the data area as the emulated kernel sees it (a record crossing the end of the ring is laid
out past the end, where the kernel's second mapping would show it). Wake-ups (irq_work,
epoll on the map fd) are not modelled. A drain whose run faulted inside the callback leaves
``rb->busy`` set until the abandoned call is dropped (at the next drain of the same frame).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError

from .ringbuf import (BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT,
                      BPF_RINGBUF_HDR_SZ, RingbufMap)

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine
    from emu.machine.callbacks import CallbackGen

    from ..bpf_maps import BtfObject

__all__ = ["UserRingbufMap", "BPF_MAX_USER_RINGBUF_SAMPLES"]

#: include/linux/bpf.h
BPF_MAX_USER_RINGBUF_SAMPLES = 128 * 1024
#: kernel/bpf/helpers.c: DYNPTR_MAX_SIZE (bpf_dynptr_check_size)
_DYNPTR_MAX_SIZE = (1 << 24) - 1
_M64 = (1 << 64) - 1


def _round8(n: int) -> int:
    return (n + 7) & ~7


class UserRingbufMap(RingbufMap):
    """``BPF_MAP_TYPE_USER_RINGBUF`` (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: "BtfObject | None" = None) -> None:
        super().__init__(spec, machine, btf)
        #: ``rb->busy``: a drain is running
        self.busy = False

    # --- user space: libbpf's user_ring_buffer ------------------------------------------
    def user_reserve(self, size: int) -> int:
        """``user_ring_buffer__reserve``: the sample's address in the data area (the header
        written busy, the producer position advanced); ``KernelError`` ``E2BIG`` / ``ENOSPC``
        as libbpf sets errno."""
        if size < 0 or size > 0xFFFFFFFF:
            raise KernelError(errno.E2BIG, f"a user ring buffer sample of {size} bytes")
        total = _round8(size + BPF_RINGBUF_HDR_SZ)
        if total > self.size:
            raise KernelError(errno.E2BIG, f"a record of {total} bytes is larger than the ring ({self.size})")
        avail = self.size - (self.producer_pos - self.consumer_pos)
        if avail < total:
            raise KernelError(errno.ENOSPC, f"{avail} bytes free in the user ring buffer, {total} needed")
        data = self._area()
        prod = self.producer_pos
        self.m.write(data + (prod & self.mask), struct.pack("<II", size | BPF_RINGBUF_BUSY_BIT, 0))
        self.producer_pos = prod + total
        return data + (prod & self.mask) + BPF_RINGBUF_HDR_SZ

    def user_commit(self, sample: int, discard: bool = False) -> None:
        """``user_ring_buffer__submit`` / ``__discard``: the busy bit cleared (the discard
        bit set)."""
        hdr = sample - BPF_RINGBUF_HDR_SZ
        hlen = int.from_bytes(self.m.read(hdr, 4), "little") & ~BPF_RINGBUF_BUSY_BIT
        if discard:
            hlen |= BPF_RINGBUF_DISCARD_BIT
        self.m.write(hdr, struct.pack("<I", hlen & 0xFFFFFFFF))

    def user_write(self, data: bytes, discard: bool = False) -> int:
        """Reserve, fill and submit (or discard) one sample; returns its address."""
        addr = self.user_reserve(len(data))
        self.m.write(addr, bytes(data))
        self.user_commit(addr, discard)
        return addr

    def set_producer_pos(self, pos: int) -> None:
        """What a producer storing its mmap'ed ``producer_pos`` directly may leave there."""
        self._area()
        self.producer_pos = pos & _M64

    def write_header(self, pos: int, length_word: int) -> None:
        """What a producer may write as the header at ``pos`` (its ``len`` word)."""
        self.m.write(self._area() + (pos & self.mask), struct.pack("<II", length_word & 0xFFFFFFFF, 0))

    # --- the kernel: bpf_user_ringbuf_drain -------------------------------------------------
    def peek_record(self) -> tuple[int, int, int]:
        """``__bpf_user_ringbuf_peek``: ``(0, sample address, size)`` or ``(-errno, 0, 0)``."""
        prod, cons = self.producer_pos, self.consumer_pos
        if prod % 8:
            return -errno.EINVAL, 0, 0
        if cons >= prod:
            return -errno.ENODATA, 0, 0
        hlen = self._hdr_len(cons)
        flags = hlen & (BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)
        sample_len = hlen & ~flags
        total = _round8(sample_len + BPF_RINGBUF_HDR_SZ)
        if total > prod - cons:
            return -errno.EINVAL, 0, 0
        if total > self.size:
            return -errno.E2BIG, 0, 0
        if sample_len > _DYNPTR_MAX_SIZE:
            return -errno.E2BIG, 0, 0
        if flags & BPF_RINGBUF_DISCARD_BIT:
            self.consumer_pos = cons + total
            return -errno.EAGAIN, 0, 0
        if flags & BPF_RINGBUF_BUSY_BIT:
            return -errno.ENODATA, 0, 0
        return 0, self.data + ((cons + BPF_RINGBUF_HDR_SZ) & self.mask), sample_len

    def drain(self, m: Any, dynptr_addr: int, fn: int, ctx: int, flags: int) -> "CallbackGen":
        """``bpf_user_ringbuf_drain``'s body as a callback generator (see
        :mod:`emu.machine.callbacks`); ``dynptr_addr``: 16 bytes of the helper's frame."""
        from ..dynptr_rt import BPF_DYNPTR_TYPE_LOCAL, DynptrKern, write_dynptr

        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -errno.EINVAL
        if self.busy:
            return -errno.EBUSY
        self.busy = True
        try:
            samples = discarded = 0
            ret = 0
            while samples < BPF_MAX_USER_RINGBUF_SAMPLES and ret == 0:
                if not self.data:
                    break  # nothing was ever produced
                err, sample, size = self.peek_record()
                if err == -errno.ENODATA:
                    break
                if err == -errno.EAGAIN:
                    discarded += 1
                    samples += 1
                    continue
                if err:
                    return err
                write_dynptr(m, dynptr_addr, DynptrKern(sample, size, 0, BPF_DYNPTR_TYPE_LOCAL))
                ret = (yield fn, (dynptr_addr, ctx, 0, 0, 0)) & _M64
                self.consumer_pos += _round8(size + BPF_RINGBUF_HDR_SZ)  # sample_release
                samples += 1
            return samples - discarded
        finally:
            self.busy = False

    def consume(self) -> list[bytes]:
        raise KernelError(errno.EINVAL, "a user ring buffer is consumed by bpf_user_ringbuf_drain, "
                                        "not by ring_buffer__poll")

    def reserve(self, size: int) -> int:  # the BPF producer side does not apply
        raise KernelError(errno.EINVAL, "BPF programs do not reserve in a user ring buffer")
