"""Ring buffers and dynptrs at run time (emu/kernel/maps/ringbuf.py, emu/kernel/dynptr_rt.py):
programs run through the JIT in the emulated machine give the host's results, and the
ring buffer's consumer side reads back what they submitted."""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from emu.kernel.maps.ringbuf import RingbufMap
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER

RINGBUF, ARRAY = 27, 2
MAPS = [(RINGBUF, 0, 0, 4096), (ARRAY, 4, 16, 1)]

#: a local dynptr over the array value (16 bytes): write 0x11223344 at 4, read it back,
#: bpf_dynptr_data past the end (NULL), then return (data == NULL) << 8 | write's r0 + the value
LOCAL_RW = """
*(u32 *)(r10 -4) = 0
r1 = MAP1 ll
r2 = r10
r2 += -4
call 1
if r0 == 0 goto out
r1 = r0
r2 = 16
r3 = 0
r4 = r10
r4 += -24
call 197
r6 = 0x11223344
*(u32 *)(r10 -28) = r6
r1 = r10
r1 += -24
r2 = 4
r3 = r10
r3 += -28
r4 = 4
r5 = 0
call 202
r7 = r0
r1 = r10
r1 += -32
r2 = 4
r3 = r10
r3 += -24
r4 = 4
r5 = 0
call 201
r8 = *(u32 *)(r10 -32)
r1 = r10
r1 += -24
r2 = 14
r3 = 4
call 203
r9 = r0
r0 = 0
if r9 != 0 goto +1
r0 = 1
r0 <<= 8
r0 += r7
r0 += r8
exit
out:
r0 = 0
exit
"""

#: errors of the dynptr helpers: a read past the end (-E2BIG), a write with flags (-EINVAL),
#: from_mem with flags (-EINVAL, the dynptr made NULL, then a read of it -EINVAL)
LOCAL_ERRORS = """
*(u32 *)(r10 -4) = 0
r1 = MAP1 ll
r2 = r10
r2 += -4
call 1
if r0 == 0 goto out
r6 = r0
r1 = r0
r2 = 16
r3 = 0
r4 = r10
r4 += -24
call 197
r1 = r10
r1 += -32
r2 = 8
r3 = r10
r3 += -24
r4 = 12
r5 = 0
call 201
r7 = r0
r7 &= 0xff
*(u64 *)(r10 -40) = 0
r1 = r10
r1 += -24
r2 = 0
r3 = r10
r3 += -40
r4 = 8
r5 = 1
call 202
r0 &= 0xff
r7 <<= 8
r7 |= r0
r1 = r6
r2 = 16
r3 = 1
r4 = r10
r4 += -24
call 197
r8 = r0
r8 &= 0xff
r1 = r10
r1 += -32
r2 = 8
r3 = r10
r3 += -24
r4 = 0
r5 = 0
call 201
r0 &= 0xff
r8 <<= 8
r8 |= r0
r8 <<= 16
r7 |= r8
r0 = r7
exit
out:
r0 = 0
exit
"""

#: the ring buffer: output 8 bytes, reserve 16 and submit, reserve 4 and discard, a ringbuf
#: dynptr of 8 bytes written and submitted; returns the available data (BPF_RB_AVAIL_DATA)
RING = """
r6 = 0x0102030405060708 ll
*(u64 *)(r10 -8) = r6
r1 = MAP0 ll
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call 130
r1 = MAP0 ll
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = 0x55
*(u64 *)(r0 +0) = r1
*(u64 *)(r0 +8) = r1
r1 = r0
r2 = 0
call 132
r1 = MAP0 ll
r2 = 4
r3 = 0
call 131
if r0 == 0 goto out
r1 = r0
r2 = 0
call 133
r1 = MAP0 ll
r2 = 8
r3 = 0
r4 = r10
r4 += -32
call 198
r1 = r10
r1 += -32
r2 = 0
r3 = r10
r3 += -8
r4 = 8
r5 = 0
call 202
r1 = r10
r1 += -32
r2 = 0
call 199
r1 = MAP0 ll
r2 = 0
call 134
exit
out:
r0 = -1
exit
"""


def _emu(asm: str) -> tuple[Kernel, list[int], int]:
    k = Kernel(modules=())
    fds = [k.map_create(map_type=t, key_size=ks, value_size=vs, max_entries=n) for t, ks, vs, n in MAPS]
    text = asm
    for i, fd in enumerate(fds):
        text = text.replace(f"MAP{i}", f"map[fd:{fd}]")
    pfd = k.prog_load(assemble(text), prog_type=PROG_TYPE_SOCKET_FILTER)
    return k, fds, pfd


def _ring(k: Kernel, fd: int) -> RingbufMap:
    m = k.fds.get(fd, RingbufMap, "a ring buffer")
    assert isinstance(m, RingbufMap)
    return m


def test_local_dynptr_write_then_read_runs() -> None:
    k, fds, pfd = _emu(LOCAL_RW)
    try:
        assert k.prog_test_run(pfd, data_in=bytes(64)).retval == 0x100 + 0x11223344
        assert k.map_lookup_elem(fds[1], bytes(4)) == bytes(4) + struct.pack("<I", 0x11223344) + bytes(8)
    finally:
        k.shutdown()


def test_dynptr_helper_errors() -> None:
    k, _fds, pfd = _emu(LOCAL_ERRORS)
    try:
        r = k.prog_test_run(pfd, data_in=bytes(64)).retval
        e2big, einval = (-errno.E2BIG) & 0xFF, (-errno.EINVAL) & 0xFF
        assert r == (e2big << 8 | einval) | (einval << 8 | einval) << 16
    finally:
        k.shutdown()


def test_ring_buffer_records_and_consumer() -> None:
    k, fds, pfd = _emu(RING)
    try:
        # 8 + 8 (output), 8 + 16 (reserve 16), 8 + 8 (discarded 4 rounds up), 8 + 8 (dynptr)
        assert k.prog_test_run(pfd, data_in=bytes(64)).retval == 16 + 24 + 16 + 16
        rb = _ring(k, fds[0])
        sample = struct.pack("<Q", 0x0102030405060708)
        assert k.ringbuf_consume(fds[0]) == [sample, struct.pack("<QQ", 0x55, 0x55), sample]
        assert rb.query(0) == 0 and rb.query(1) == 4096 and rb.query(2) == rb.query(3) == 72
        assert k.ringbuf_consume(fds[0]) == []
        with pytest.raises(KernelError):
            k.ringbuf_consume(fds[1])  # an array
    finally:
        k.shutdown()


def test_ring_buffer_full_and_wraps() -> None:
    """Reserve fails once the producer would be ring size - 1 ahead of the consumer; after
    the consumer reads, records wrap past the end of the data area intact."""
    k, fds, _pfd = _emu("r0 = 0\nexit")
    try:
        rb = _ring(k, fds[0])
        samples = []
        while True:
            addr = rb.reserve(1000)
            if not addr:
                break
            data = bytes([len(samples) + 1]) * 1000
            k.machine.write(addr, data)
            rb.commit(addr, False)
            samples.append(data)
        assert len(samples) == 4  # 4 x 1008 bytes fit below 4095, a fifth does not
        assert rb.reserve(4096) == 0  # larger than the ring
        assert rb.consume() == samples
        for i in range(3):
            addr = rb.reserve(1000)
            assert addr
            k.machine.write(addr, bytes([0x80 + i]) * 1000)
            rb.commit(addr, i == 1)
        assert rb.consume() == [bytes([0x80]) * 1000, bytes([0x82]) * 1000]
    finally:
        k.shutdown()


def test_ring_buffer_has_no_element_operations() -> None:
    k, fds, _pfd = _emu("r0 = 0\nexit")
    try:
        with pytest.raises(KernelError) as ei:
            k.map_lookup_elem(fds[0], b"")
        assert ei.value.errno == 524  # ENOTSUPP, ringbuf_map_lookup_elem
    finally:
        k.shutdown()


def _host_run(asm: str) -> tuple[int, bytes]:
    from emu.host import hostbpf

    hfds = [hostbpf.map_create(*m)[0] for m in MAPS]
    try:
        assert all(fd >= 0 for fd in hfds)
        text = asm
        for i, fd in enumerate(hfds):
            text = text.replace(f"MAP{i}", f"map[fd:{fd}]")
        h = hostbpf.prog_load(PROG_TYPE_SOCKET_FILTER, encode(assemble(text)))
        assert h.accepted, h.log
        try:
            r = hostbpf.test_run(h.fd, data_in=bytes(64)).retval
        finally:
            h.close()
        val = hostbpf.map_lookup(hfds[1], bytes(4), 16)
        return r, val if isinstance(val, bytes) else b""
    finally:
        for fd in hfds:
            hostbpf.close(fd)


@pytest.mark.kernel
@pytest.mark.parametrize("asm", [LOCAL_RW, LOCAL_ERRORS, RING], ids=["local_rw", "local_errors", "ring"])
def test_runs_give_the_hosts_results(asm: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    host_r, host_val = _host_run(asm)
    k, fds, pfd = _emu(asm)
    try:
        assert k.prog_test_run(pfd, data_in=bytes(64)).retval == host_r
        assert k.map_lookup_elem(fds[1], bytes(4)) == host_val
    finally:
        k.shutdown()


#: BPF_MAP_CREATE of ring buffers: (type, key_size, value_size, max_entries, map_flags, errno),
#: answers read off the 6.18 host (ringbuf_map_alloc: no key or value, a power-of-2 page
#: multiple; a 2 GiB ring is created -- its pages are only used, here allocated, when written)
CREATE = [(27, 0, 0, 4096, 0, 0), (27, 4, 0, 4096, 0, 22), (27, 0, 4, 4096, 0, 22), (27, 0, 0, 4095, 0, 22),
          (27, 0, 0, 2048, 0, 22), (27, 0, 0, 8192, 0, 0), (27, 0, 0, 12288, 0, 22), (27, 0, 0, 4096, 1, 22),
          (27, 0, 0, 0, 0, 22), (27, 0, 0, 1 << 31, 0, 0), (31, 0, 0, 4096, 0, 0), (31, 4, 0, 4096, 0, 22),
          (31, 0, 0, 3000, 0, 22), (31, 0, 0, 4096, 1024, 22)]


def _emu_create(t: int, ks: int, vs: int, n: int, fl: int) -> int:
    k = Kernel(modules=())
    try:
        k.map_create(map_type=t, key_size=ks, value_size=vs, max_entries=n, map_flags=fl)
        return 0
    except KernelError as e:
        return e.errno
    finally:
        k.shutdown()


@pytest.mark.parametrize("case", CREATE, ids=[str(c[:5]) for c in CREATE])
def test_ring_buffer_create_checks(case: tuple[int, ...]) -> None:
    assert _emu_create(*case[:5]) == case[5]


@pytest.mark.kernel
@pytest.mark.parametrize("case", CREATE, ids=[str(c[:5]) for c in CREATE])
def test_ring_buffer_create_checks_on_the_host(case: tuple[int, ...]) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    fd, err = hostbpf.map_create(*case[:4], map_flags=case[4])
    if fd >= 0:
        hostbpf.close(fd)
    assert (0 if fd >= 0 else err) == case[5]


def test_a_ring_too_large_for_the_machine_is_not_modelled_when_used() -> None:
    from kernel_model.errors import NotModelled

    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=RINGBUF, key_size=0, value_size=0, max_entries=1 << 28)
        rb = _ring(k, fd)
        with pytest.raises(NotModelled):
            rb.reserve(8)
    finally:
        k.shutdown()
