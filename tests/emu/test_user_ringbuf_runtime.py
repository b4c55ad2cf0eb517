"""``bpf_user_ringbuf_drain`` at run time (emu/kernel/maps/user_ringbuf.py): user space
produces records (libbpf's user_ring_buffer protocol), a program drains them through the
JIT in the emulated machine, its callback reading each sample through the dynptr it is
given. The ``kernel``-marked tests produce the same records on the host (through the map's
mmap'ed producer and data pages, as libbpf does) and compare the drain's return values,
the callback's results and the consumer position after each BPF_PROG_TEST_RUN."""

from __future__ import annotations

import errno
import mmap
import struct

import pytest

from emu.host import hostbpf
from emu.kernel import Kernel
from emu.kernel.maps.user_ringbuf import UserRingbufMap
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from tests.emu.test_callbacks_runtime import Emu, Host

USER_RINGBUF, ARRAY = 31, 2
RING = 4096
PAGE = mmap.PAGESIZE
BUSY, DISCARD = 1 << 31, 1 << 30

#: drain MAP0 with FLAGS into a callback that reads 8 bytes of each sample (the read's error
#: counts too) and folds them into acc = acc * 31 + value + err, stopping after 0xdead;
#: MAP1[0] = {drain result, acc}; r0 = the drain's result
DRAIN = """
r6 = 0
*(u64 *)(r10 -8) = r6
r1 = MAP0 ll
r2 = func[cb] ll
r3 = r10
r3 += -8
r4 = FLAGS
call 209
r6 = r0
*(u64 *)(r10 -24) = r6
r1 = *(u64 *)(r10 -8)
*(u64 *)(r10 -16) = r1
*(u32 *)(r10 -28) = 0
r1 = MAP1 ll
r2 = r10
r2 += -28
r3 = r10
r3 += -24
r4 = 0
call 2
r0 = r6
exit
cb:
r6 = r1
r7 = r2
r1 = 0
*(u64 *)(r10 -8) = r1
r1 = r10
r1 += -8
r2 = 8
r3 = r6
r4 = 0
r5 = 0
call 201
r1 = *(u64 *)(r10 -8)
r2 = *(u64 *)(r7 +0)
r2 *= 31
r2 += r1
r2 += r0
*(u64 *)(r7 +0) = r2
r0 = 0
if r1 != 0xdead goto +1
r0 = 1
exit
"""
MAPS = [(USER_RINGBUF, 0, 0, RING, 0, None, {}), (ARRAY, 4, 16, 1, 0, None, {})]


def q(v: int) -> bytes:
    return struct.pack("<Q", v)


#: scenarios: steps of ("w", sample) submit, ("x", sample) discard, ("b", sample) reserved and
#: left busy, ("c",) submit the busy one, ("p", pos) a raw producer position, ("h", word) a
#: raw header at the producer position, ("run", flags)
SCENARIOS = {
    "three": [("w", q(1)), ("w", q(2)), ("w", q(3)), ("run", 0), ("run", 0)],
    "discard_and_stop": [("w", q(1)), ("x", q(5)), ("w", q(0xdead)), ("w", q(7)), ("run", 1), ("run", 2)],
    "short_and_long": [("w", b"\x01\x02\x03\x04"), ("w", q(9) + q(10)), ("w", b""), ("run", 0)],
    "bad_flags": [("w", q(1)), ("run", 4), ("run", 3)],
    "empty": [("run", 0)],
    "busy_record": [("w", q(1)), ("b", q(2)), ("w", q(3)), ("run", 0), ("c",), ("run", 0)],
    "misaligned_producer": [("w", q(1)), ("p", 20), ("run", 0)],
    "record_past_producer": [("w", q(4)), ("h", 64), ("p", 32), ("run", 0)],
    "wraps": [*[s for i in range(5) for s in (("w", bytes([i]) * 1000), ("run", 0))]],
    "full": [*[("w", q(i) * 63) for i in range(8)], ("run", 0), ("w", q(0xdead) * 63), ("run", 0)],
}


def _program(flags: int) -> str:
    return DRAIN.replace("FLAGS", str(flags))


class EmuRing:
    """The emulated kernel's producer side (Kernel.user_ringbuf)."""

    def __init__(self, emu: Emu, fd: int) -> None:
        self.rb: UserRingbufMap = emu.k.user_ringbuf(fd)
        self.busy = 0

    def step(self, s: tuple) -> None:  # type: ignore[type-arg]
        op = s[0]
        if op in ("w", "x"):
            self.rb.user_write(s[1], op == "x")
        elif op == "b":
            self.busy = self.rb.user_reserve(len(s[1]))
            self.rb.m.write(self.busy, s[1])
        elif op == "c":
            self.rb.user_commit(self.busy)
        elif op == "p":
            self.rb.set_producer_pos(s[1])
        elif op == "h":
            self.rb.write_header(self.rb.producer_pos, s[1])

    def consumer_pos(self) -> int:
        return self.rb.consumer_pos


class HostRing:
    """The host's producer side: the producer page and the data pages mapped writable
    (offset one page), the consumer page read-only, as libbpf's user_ring_buffer__new does."""

    def __init__(self, fd: int) -> None:
        self.cons = mmap.mmap(fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ, offset=0)
        self.prod = mmap.mmap(fd, PAGE + 2 * RING, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=PAGE)
        self.busy = 0

    def _pos(self) -> tuple[int, int]:
        return struct.unpack_from("<Q", self.cons, 0)[0], struct.unpack_from("<Q", self.prod, 0)[0]

    def _reserve(self, data: bytes) -> int:
        cons, prod = self._pos()
        total = (len(data) + 8 + 7) & ~7
        assert RING - (prod - cons) >= total
        hdr = PAGE + (prod & (RING - 1))
        struct.pack_into("<II", self.prod, hdr, len(data) | BUSY, 0)
        self.prod[hdr + 8:hdr + 8 + len(data)] = data
        struct.pack_into("<Q", self.prod, 0, prod + total)
        return hdr

    def step(self, s: tuple) -> None:  # type: ignore[type-arg]
        op = s[0]
        if op in ("w", "x"):
            hdr = self._reserve(s[1])
            struct.pack_into("<I", self.prod, hdr, len(s[1]) | (DISCARD if op == "x" else 0))
        elif op == "b":
            self.busy = self._reserve(s[1])
        elif op == "c":
            word = struct.unpack_from("<I", self.prod, self.busy)[0]
            struct.pack_into("<I", self.prod, self.busy, word & ~BUSY)
        elif op == "p":
            struct.pack_into("<Q", self.prod, 0, s[1])
        elif op == "h":
            prod = self._pos()[1]
            struct.pack_into("<II", self.prod, PAGE + (prod & (RING - 1)), s[1], 0)

    def consumer_pos(self) -> int:
        return self._pos()[0]

    def close(self) -> None:
        self.cons.close()
        self.prod.close()


def _play(side, ring_cls, steps):  # type: ignore[no-untyped-def]
    """Run the steps on one side: [(drain result, MAP1 value, consumer position) per run]."""
    ring_fd, arr_fd = side.map(MAPS[0]), side.map(MAPS[1])
    ring = ring_cls(side, ring_fd) if ring_cls is EmuRing else ring_cls(ring_fd)
    progs: dict[int, int] = {}
    out = []
    try:
        for s in steps:
            if s[0] != "run":
                ring.step(s)
                continue
            flags = s[1]
            if flags not in progs:
                text = _program(flags).replace("MAP0", f"map[fd:{ring_fd}]").replace("MAP1", f"map[fd:{arr_fd}]")
                progs[flags] = side.load(assemble(text))
            ret = side.run(progs[flags])
            val = side.k.map_lookup_elem(arr_fd, bytes(4)) if isinstance(side, Emu) else \
                hostbpf.map_lookup(arr_fd, bytes(4), 16)
            out.append((ret, val, ring.consumer_pos()))
    finally:
        if isinstance(ring, HostRing):
            ring.close()
    return out


def _emu(steps):  # type: ignore[no-untyped-def]
    e = Emu()
    try:
        return _play(e, EmuRing, steps)
    finally:
        e.k.shutdown()


def _neg(e: int) -> int:
    return (-e) & 0xFFFF_FFFF


def test_drain_calls_back_per_sample_and_consumes() -> None:
    acc = ((1 * 31) + 2) * 31 + 3
    assert _emu(SCENARIOS["three"]) == [(3, q(3) + q(acc), 48), (0, q(0) + q(0), 48)]


def test_discarded_records_are_skipped_and_a_callback_stops_the_drain() -> None:
    r = _emu(SCENARIOS["discard_and_stop"])
    # 1, (5 discarded), 0xdead stops: 3 records walked, 1 discarded -> 2; then 7 is left
    assert r[0] == (2, q(2) + q(31 + 0xdead), 48)
    assert r[1] == (1, q(1) + q(7), 64)


def test_drain_errors_and_flags() -> None:
    assert _emu(SCENARIOS["bad_flags"])[0][0] == _neg(errno.EINVAL)
    assert _emu(SCENARIOS["bad_flags"])[1][0] == 1  # NO_WAKEUP | FORCE_WAKEUP is allowed
    assert _emu(SCENARIOS["empty"]) == [(0, q(0) + q(0), 0)]
    assert _emu(SCENARIOS["misaligned_producer"])[0][0] == _neg(errno.EINVAL)
    assert _emu(SCENARIOS["record_past_producer"])[0][0] == _neg(errno.EINVAL)


def test_a_record_left_busy_stops_the_drain_until_submitted() -> None:
    r = _emu(SCENARIOS["busy_record"])
    assert r[0][0] == 1 and r[0][2] == 16
    assert r[1][0] == 2 and r[1][2] == 48


def test_producer_api_limits() -> None:
    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=USER_RINGBUF, key_size=0, value_size=0, max_entries=RING)
        rb = k.user_ringbuf(fd)
        with pytest.raises(KernelError) as ei:
            rb.user_reserve(RING)  # 4096 + 8 > the ring
        assert ei.value.errno == errno.E2BIG
        for _ in range(4):
            rb.user_write(bytes(1016))  # 4 x 1024 fill the ring exactly
        with pytest.raises(KernelError) as ei:
            k.user_ringbuf_submit(fd, b"x")
        assert ei.value.errno == errno.ENOSPC
        with pytest.raises(KernelError):
            k.ringbuf_consume(fd)  # not a BPF_MAP_TYPE_RINGBUF consumer
        arr = k.map_create(map_type=ARRAY, key_size=4, value_size=8, max_entries=1)
        with pytest.raises(KernelError):
            k.user_ringbuf(arr)
    finally:
        k.shutdown()


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_drain_gives_the_hosts_results(name: str) -> None:
    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    h = Host()
    try:
        host = _play(h, HostRing, SCENARIOS[name])
    finally:
        h.close()
    assert _emu(SCENARIOS[name]) == host


def test_a_second_drain_while_one_runs_is_ebusy() -> None:
    """``rb->busy``: a drain started from inside another drain's callback gets -EBUSY, and
    the ring is free again once the first one returns."""
    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=USER_RINGBUF, key_size=0, value_size=0, max_entries=RING)
        rb = k.user_ringbuf(fd)
        rb.user_write(q(1))
        scratch = k.machine.alloc.kzalloc(16)
        outer = rb.drain(k.machine, scratch, 0x1000, 0, 0)
        assert next(outer) == (0x1000, (scratch, 0, 0, 0, 0))
        inner = rb.drain(k.machine, scratch, 0x1000, 0, 0)
        with pytest.raises(StopIteration) as si:
            next(inner)
        assert si.value.value == -errno.EBUSY
        with pytest.raises(StopIteration) as si:
            outer.send(0)
        assert si.value.value == 1 and not rb.busy
    finally:
        k.shutdown()
