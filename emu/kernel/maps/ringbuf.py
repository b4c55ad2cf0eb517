"""BPF ring buffers (kernel/bpf/ringbuf.c, Linux 6.12; the same in 6.18).

``BPF_MAP_TYPE_RINGBUF``: ``max_entries`` bytes of data (a power of two, a page
multiple: checked at create time by the facts of :mod:`kernel_model.bpf_facts.map_types`),
producer and consumer positions that only grow, the data offset being ``pos & mask``.
A record is an 8-byte header (``struct bpf_ringbuf_hdr``: ``len`` with
``BPF_RINGBUF_BUSY_BIT`` while reserved and ``BPF_RINGBUF_DISCARD_BIT`` once
discarded, ``pg_off``) then the sample, the whole rounded up to 8 bytes:

* :meth:`RingbufMap.reserve` -- ``__bpf_ringbuf_reserve``: NULL (0) for a record larger
  than the ring or when the producer would get ``mask`` bytes or more ahead of the
  consumer or of the oldest record still reserved (``pending_pos``); else the header
  (busy) and the sample's address;
* :func:`commit` -- ``bpf_ringbuf_commit``: the busy bit cleared (and the discard bit set
  for a discard);
* :meth:`RingbufMap.query` -- ``bpf_ringbuf_query``'s ``BPF_RB_AVAIL_DATA``,
  ``BPF_RB_RING_SIZE``, ``BPF_RB_CONS_POS``, ``BPF_RB_PROD_POS``;
* :meth:`RingbufMap.consume` -- the consumer side as libbpf's ``ring_buffer__poll`` walks it
  (``ringbuf_process_ring``): committed samples in order, discarded ones skipped (but
  consumed), stopping at the first record still reserved.

Where we differ: the data area is allocated at the first record, not at create time (a
ring larger than the emulated machine's vmalloc space is created, its use is not modelled);
the kernel maps the data pages twice so a record crossing the end of the
ring is contiguous; here the data area is allocated twice as large, and a record is
written and read at ``data + (pos & mask)`` over its whole length -- the same bytes for the
program and the consumer, without the alias a user-space ``mmap`` of the pages would show.
Wake-ups (``BPF_RB_NO_WAKEUP`` / ``BPF_RB_FORCE_WAKEUP``, irq_work, epoll) are not modelled:
the consumer polls. ``BPF_MAP_TYPE_USER_RINGBUF``, the same ring drained by BPF:
:mod:`.user_ringbuf`. Map lookups, updates, deletes and ``get_next_key`` are
``-ENOTSUPP`` (``ringbuf_map_*_elem``).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError, NotModelled
from kernel_model.struct_ops_map import ENOTSUPP

from ..bpf_maps import BPF_MAP_HEADER_SIZE, BtfObject, MapObject, _alloc_area, _free_area

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["RingbufMap", "BPF_RINGBUF_HDR_SZ", "BPF_RINGBUF_BUSY_BIT", "BPF_RINGBUF_DISCARD_BIT",
           "BPF_RB_NO_WAKEUP", "BPF_RB_FORCE_WAKEUP", "BPF_RB_AVAIL_DATA", "BPF_RB_RING_SIZE",
           "BPF_RB_CONS_POS", "BPF_RB_PROD_POS"]

# include/uapi/linux/bpf.h
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8
BPF_RB_NO_WAKEUP = 1 << 0
BPF_RB_FORCE_WAKEUP = 1 << 1
BPF_RB_AVAIL_DATA = 0
BPF_RB_RING_SIZE = 1
BPF_RB_CONS_POS = 2
BPF_RB_PROD_POS = 3
#: kernel/bpf/ringbuf.c: RINGBUF_MAX_RECORD_SZ
RINGBUF_MAX_RECORD_SZ = 0xFFFFFFFF // 4


def _round8(n: int) -> int:
    return (n + 7) & ~7


class RingbufMap(MapObject):
    """``BPF_MAP_TYPE_RINGBUF`` (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.size = spec.max_entries
        self.mask = self.size - 1
        self.consumer_pos = 0
        self.producer_pos = 0
        self.pending_pos = 0
        self.base = machine.alloc.kzalloc(BPF_MAP_HEADER_SIZE)
        spec.addr = self.base
        self._write_header(self.base)
        #: the data area, allocated at the first record (see _area)
        self.data, self._vm = 0, False

    def _area(self) -> int:
        """The data area. The kernel's pages are vmalloc'ed at create time; here they are
        allocated at the first record, so a ring larger than the emulated machine's
        vmalloc space is created as on the host and only its use is not modelled."""
        if not self.data:
            try:
                self.data, self._vm = _alloc_area(self.m, 2 * self.size)
            except KernelError as e:
                raise NotModelled(f"a ring buffer of {self.size} bytes does not fit in the emulated "
                                  f"machine's memory ({e})") from None
        return self.data

    def _hdr_len(self, pos: int) -> int:
        return int.from_bytes(self.m.read(self.data + (pos & self.mask), 4), "little")

    def owns(self, sample: int) -> bool:
        """Whether ``sample`` is a record's data in this ring (``bpf_ringbuf_restore_from_rec``)."""
        return bool(self.data) and self.data + BPF_RINGBUF_HDR_SZ <= sample < self.data + 2 * self.size

    def reserve(self, size: int) -> int:
        """``__bpf_ringbuf_reserve``: the sample's address, or 0."""
        if size > RINGBUF_MAX_RECORD_SZ:
            return 0
        length = _round8(size + BPF_RINGBUF_HDR_SZ)
        if length > self.size:
            return 0
        self._area()
        pend = self.pending_pos
        prod = self.producer_pos
        while prod - pend > 0:
            hlen = self._hdr_len(pend)
            if hlen & BPF_RINGBUF_BUSY_BIT:
                break
            pend += _round8((hlen & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ)
        self.pending_pos = pend
        new_prod = prod + length
        if new_prod - self.consumer_pos > self.mask or new_prod - pend > self.mask:
            return 0
        hdr = self.data + (prod & self.mask)
        pg_off = (hdr - self.data) >> 12  # bpf_ringbuf_rec_pg_off, relative to the data pages
        self.m.write(hdr, struct.pack("<II", size | BPF_RINGBUF_BUSY_BIT, pg_off))
        self.producer_pos = new_prod
        return hdr + BPF_RINGBUF_HDR_SZ

    def commit(self, sample: int, discard: bool) -> None:
        """``bpf_ringbuf_commit``: clear the busy bit (set the discard bit)."""
        hdr = sample - BPF_RINGBUF_HDR_SZ
        hlen = int.from_bytes(self.m.read(hdr, 4), "little") ^ BPF_RINGBUF_BUSY_BIT
        if discard:
            hlen |= BPF_RINGBUF_DISCARD_BIT
        self.m.write(hdr, struct.pack("<I", hlen))

    def output(self, data: bytes, flags: int) -> int:
        """``bpf_ringbuf_output``: 0, -EINVAL (flags) or -EAGAIN (no room), as a negative int."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -errno.EINVAL
        rec = self.reserve(len(data))
        if not rec:
            return -errno.EAGAIN
        self.m.write(rec, data)
        self.commit(rec, False)
        return 0

    def query(self, flags: int) -> int:
        """``bpf_ringbuf_query``."""
        if flags == BPF_RB_AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flags == BPF_RB_RING_SIZE:
            return self.size
        if flags == BPF_RB_CONS_POS:
            return self.consumer_pos
        if flags == BPF_RB_PROD_POS:
            return self.producer_pos
        return 0

    def consume(self) -> list[bytes]:
        """The committed samples from the consumer position on (libbpf ``ringbuf_process_ring``):
        discarded ones are skipped, the walk stops at a record still reserved; the consumer
        position advances past what was read."""
        out: list[bytes] = []
        if not self.data:
            return out
        cons = self.consumer_pos
        while cons < self.producer_pos:
            hlen = self._hdr_len(cons)
            if hlen & BPF_RINGBUF_BUSY_BIT:
                break
            size = hlen & ~BPF_RINGBUF_DISCARD_BIT
            if not hlen & BPF_RINGBUF_DISCARD_BIT:
                out.append(self.m.read(self.data + (cons & self.mask) + BPF_RINGBUF_HDR_SZ, size))
            cons += _round8(size + BPF_RINGBUF_HDR_SZ)
        self.consumer_pos = cons
        return out

    # map->ops of ringbuf_map_ops: no element operations
    def lookup(self, key: bytes) -> int:
        raise KernelError(ENOTSUPP, "ring buffers have no lookup")

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        raise KernelError(ENOTSUPP, "ring buffers have no lookup")

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise KernelError(ENOTSUPP, "ring buffers have no update")

    def delete(self, key: bytes) -> None:
        raise KernelError(ENOTSUPP, "ring buffers have no delete")

    def get_next_key(self, key: bytes | None) -> bytes:
        raise KernelError(ENOTSUPP, "ring buffers have no get_next_key")

    def release(self) -> None:
        if self.data:
            _free_area(self.m, self.data, self._vm)
        self.m.alloc.kfree(self.base)
        super().release()
