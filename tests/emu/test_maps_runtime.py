"""Per-CPU arrays, queues and stacks, bloom filters and LPM tries of the emulated kernel
(emu/kernel/maps/), as bpf() commands and from programs, against the host.

Each host case runs the same sequence of bpf() commands on a host map and on an
emulated one and compares every result (errno or bytes).
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER
from kernel_model.uapi import BPF_EXIST, BPF_F_NO_PREALLOC, BPF_F_ZERO_SEED, BPF_NOEXIST

T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}
U32 = struct.Struct("<I")
LOOKUP_AND_DELETE = 21


@pytest.fixture
def k():
    kern = Kernel(modules=(), nr_cpus=2)
    yield kern
    kern.shutdown()


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(KernelError) as ei:
        fn(*args, **kw)
    return ei.value.errno


class Emu:
    """The emulated kernel's commands with host-like results: bytes, or an errno."""

    def __init__(self, k: Kernel, **create) -> None:
        self.k, self.vs = k, create["value_size"]
        self.fd = k.map_create(**create)

    def _do(self, fn, *a, **kw):
        try:
            r = fn(*a, **kw)
        except KernelError as e:
            return e.errno
        return 0 if r is None else r

    def update(self, key, value, flags=0):
        return self._do(self.k.map_update_elem, self.fd, key, value, flags)

    def lookup(self, key, value=None):
        return self._do(self.k.map_lookup_elem, self.fd, key, value=value)

    def pop(self):
        return self._do(self.k.map_lookup_and_delete_elem, self.fd, b"")

    def delete(self, key):
        return self._do(self.k.map_delete_elem, self.fd, key)

    def next_key(self, key):
        return self._do(self.k.map_get_next_key, self.fd, key)


class Host:
    def __init__(self, **create) -> None:
        from emu.host import hostbpf

        self.h, self.vs, self.ks = hostbpf, create["value_size"], create["key_size"]
        self.fd, err = hostbpf.map_create(create["map_type"], create["key_size"], create["value_size"],
                                          create["max_entries"], map_flags=create.get("map_flags", 0),
                                          map_extra=create.get("map_extra", 0))
        assert self.fd >= 0, err

    def update(self, key, value, flags=0):
        r, err = self.h.map_update(self.fd, key, value, flags)
        return 0 if r == 0 else err

    def lookup(self, key, value=None, cmd=1):
        try:
            return self.h.map_lookup(self.fd, key, self.vs, value=value, cmd=cmd)
        except OSError as e:
            return e.errno

    def pop(self):
        return self.lookup(b"", cmd=LOOKUP_AND_DELETE)

    def delete(self, key):
        r, err = self.h.map_delete(self.fd, key)
        return 0 if r == 0 else err

    def next_key(self, key):
        try:
            nk = self.h.map_get_next_key(self.fd, key, self.ks)
        except OSError as e:
            return e.errno
        return errno.ENOENT if nk is None else nk

    def close(self):
        self.h.close(self.fd)


def both(k, script, **create):
    host = Host(**create)
    try:
        h = script(host)
    finally:
        host.close()
    return h, script(Emu(k, **create))


# --- per-CPU arrays --------------------------------------------------------------------------------

def test_percpu_array(k):
    fd = k.map_create(map_type=T["PERCPU_ARRAY"], key_size=4, value_size=4, max_entries=2)
    assert k.map_lookup_elem(fd, U32.pack(1)) == bytes(16)
    k.map_update_elem(fd, U32.pack(1), b"AAAA\0\0\0\0BBBB\0\0\0\0")
    mo = k.fds.get(fd, object)
    k.machine.runner.set_cpu(1)
    assert k.machine.read(mo.lookup(U32.pack(1)), 4) == b"BBBB"
    assert k.machine.read(mo.lookup_this_cpu(U32.pack(1), 0), 4) == b"AAAA"
    assert mo.lookup_this_cpu(U32.pack(1), 2) == 0  # no such CPU
    assert errno_of(k.map_update_elem, fd, U32.pack(2), bytes(16)) == errno.E2BIG
    assert errno_of(k.map_delete_elem, fd, U32.pack(0)) == errno.EINVAL


@pytest.mark.parametrize("kind", ["PERCPU_ARRAY", "PERCPU_HASH", "LRU_PERCPU_HASH"])
def test_a_percpu_map_that_does_not_fit_gives_its_memory_back(k, kind):
    """bpf_array_alloc_percpu / prealloc_init: -ENOMEM frees what was allocated, so a kernel
    that refused many such maps still has its per-CPU area (a leak here once filled it after
    some 1,300 corpus loads)."""
    for _ in range(20):
        assert errno_of(k.map_create, map_type=T[kind], key_size=4, value_size=4096,
                        max_entries=64) == errno.ENOMEM
    fd = k.map_create(map_type=T[kind], key_size=4, value_size=1024, max_entries=16)
    k.close(fd)


# --- queue / stack ---------------------------------------------------------------------------------

def _queue_script(m):
    out = [m.pop()]
    for i in range(3):
        out.append(m.update(b"", U32.pack(i)))
    out += [m.update(b"", U32.pack(9)), m.update(b"", U32.pack(9), BPF_NOEXIST), m.update(b"", U32.pack(7), 3),
            m.update(b"", U32.pack(8), BPF_EXIST), m.lookup(b""), m.pop(), m.pop(), m.delete(b""),
            m.next_key(None), m.pop(), m.pop()]
    return out


@pytest.mark.parametrize("kind", ["QUEUE", "STACK"])
def test_queue_stack_order(k, kind):
    fd = k.map_create(map_type=T[kind], key_size=0, value_size=4, max_entries=3)
    for i in range(3):
        k.map_update_elem(fd, b"", U32.pack(i))
    assert errno_of(k.map_update_elem, fd, b"", U32.pack(3)) == errno.E2BIG
    k.map_update_elem(fd, b"", U32.pack(3), BPF_EXIST)  # drops the oldest (0)
    got = [U32.unpack(k.map_lookup_and_delete_elem(fd, b""))[0] for _ in range(3)]
    assert got == ([1, 2, 3] if kind == "QUEUE" else [3, 2, 1])
    assert errno_of(k.map_lookup_and_delete_elem, fd, b"") == errno.ENOENT


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["QUEUE", "STACK"])
def test_queue_stack_commands_equal_the_host(k, kind):
    h, e = both(k, _queue_script, map_type=T[kind], key_size=0, value_size=4, max_entries=3)
    assert e == h


# --- bloom filter ----------------------------------------------------------------------------------

def _bloom_script(m):
    out = []
    for i in range(0, 40, 3):
        out.append(m.update(b"", U32.pack(i * 2654435761 & 0xFFFFFFFF)))
    out.append(m.update(b"", U32.pack(1), BPF_EXIST))
    for i in range(200):
        out.append(m.lookup(b"", value=U32.pack(i * 2654435761 & 0xFFFFFFFF)))
    out += [m.pop(), m.delete(b""), m.next_key(None)]
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("extra", [0, 1, 3])
def test_bloom_filter_answers_equal_the_host(k, extra):
    """With BPF_F_ZERO_SEED the hashes are the host's: the same values test positive
    (false positives included) for 1, 3 and the default 5 hash functions."""
    h, e = both(k, _bloom_script, map_type=T["BLOOM_FILTER"], key_size=0, value_size=4, max_entries=16,
                map_flags=BPF_F_ZERO_SEED, map_extra=extra)
    assert e == h


# --- LPM trie --------------------------------------------------------------------------------------

def lpm_key(plen: int, *octets: int) -> bytes:
    return U32.pack(plen) + bytes(octets)


def _lpm_script(m):
    out = [m.update(lpm_key(16, 192, 168, 0, 0), b"/16!"), m.update(lpm_key(24, 192, 168, 1, 7), b"/24a"),
           m.update(lpm_key(24, 192, 168, 0, 0), b"/24b"), m.update(lpm_key(8, 10, 0, 0, 0), b"/8!!"),
           m.update(lpm_key(8, 10, 1, 1, 1), b"/8b!", BPF_NOEXIST), m.update(lpm_key(33, 1, 1, 1, 1), b"bad!"),
           m.update(lpm_key(9, 10, 0, 0, 0), b"none", BPF_EXIST), m.update(lpm_key(0, 0, 0, 0, 0), b"full"),
           m.update(lpm_key(8, 10, 9, 9, 9), b"/8c!")]  # replacing in a full trie
    for key in (lpm_key(32, 192, 168, 1, 200), lpm_key(32, 192, 168, 2, 1), lpm_key(32, 10, 2, 3, 4),
                lpm_key(12, 192, 168, 0, 0), lpm_key(32, 11, 0, 0, 0), lpm_key(33, 10, 0, 0, 0)):
        out.append(m.lookup(key))
    key, walk = None, []
    while isinstance(key := m.next_key(key), bytes):
        walk.append(key)
    out += [walk, key, m.next_key(lpm_key(20, 1, 2, 3, 4)),
            m.delete(lpm_key(24, 192, 168, 1, 0)), m.delete(lpm_key(24, 192, 168, 1, 0)),
            m.lookup(lpm_key(32, 192, 168, 1, 200))]
    return out


def test_lpm_longest_match(k):
    e = Emu(k, map_type=T["LPM_TRIE"], key_size=8, value_size=4, max_entries=4, map_flags=BPF_F_NO_PREALLOC)
    r = _lpm_script(e)
    assert r[:9] == [0, 0, 0, 0, errno.EEXIST, errno.EINVAL, errno.ENOENT, errno.ENOSPC, 0]
    # /12 of 192.168: the /16 is longer than the key asks for, nothing shorter matches
    assert r[9:15] == [b"/24a", b"/16!", b"/8c!", errno.ENOENT, errno.ENOENT, errno.ENOENT]
    # post-order: 10/8 (first bit 0) before 192.168/16, whose /24s come before it
    assert [key[:4] for key in r[15]] == [U32.pack(8), U32.pack(24), U32.pack(24), U32.pack(16)]


@pytest.mark.kernel
def test_lpm_commands_equal_the_host(k):
    h, e = both(k, _lpm_script, map_type=T["LPM_TRIE"], key_size=8, value_size=4, max_entries=4,
                map_flags=BPF_F_NO_PREALLOC)
    assert e == h


# --- from a program ----------------------------------------------------------------------------------

def _push_pop_prog(fd: int) -> list:
    """Push 40 and 2 with bpf_map_push_elem, pop twice, return the sum and the empty pop's errno."""
    return assemble("\n".join([
        "r6 = 0",
        *[ln for v in (40, 2) for ln in (f"*(u32 *)(r10 - 4) = {v}", f"r1 = map[fd:{fd}] ll", "r2 = r10",
                                         "r2 += -4", "r3 = 0", "call 87")],
        *[ln for _ in range(2) for ln in (f"r1 = map[fd:{fd}] ll", "r2 = r10", "r2 += -8", "call 88",
                                          "r1 = *(u32 *)(r10 - 8)", "r6 += r1")],
        f"r1 = map[fd:{fd}] ll", "r2 = r10", "r2 += -8", "call 89",
        "r0 <<= 32", "r0 s>>= 32", "r0 *= 1000", "r0 += r6", "exit"]))


@pytest.mark.kernel
def test_program_push_pop_peek_equals_the_host(k):
    from emu.host import hostbpf

    hfd, err = hostbpf.map_create(T["STACK"], 0, 4, 4)
    assert hfd >= 0, err
    try:
        res = hostbpf.prog_load(PROG_TYPE_SOCKET_FILTER, encode(_push_pop_prog(hfd)))
        assert res.accepted, res.log
        host = hostbpf.test_run(res.fd, data_in=bytes(64)).retval
        res.close()
    finally:
        hostbpf.close(hfd)
    fd = k.map_create(map_type=T["STACK"], key_size=0, value_size=4, max_entries=4)
    pfd = k.prog_load(_push_pop_prog(fd), prog_type=PROG_TYPE_SOCKET_FILTER)
    assert k.prog_test_run(pfd, data_in=bytes(64)).retval == host == (-errno.ENOENT * 1000 + 42) & 0xFFFFFFFF
