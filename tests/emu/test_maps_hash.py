"""Per-CPU, LRU and plain hash maps of the emulated kernel (emu/kernel/maps/hash.py),
get_next_key and lookup_and_delete; the bucket order and create errnos against the host.

Expected behaviour cites Linux 6.12 kernel/bpf/hashtab.c and kernel/bpf/bpf_lru_list.c
(the functions are named in the module docstrings).
"""

from __future__ import annotations

import errno
import os
import struct

import pytest

from emu.kernel import Kernel
from emu.kernel.maps.jhash import jhash, jhash2
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import KernelError
from kernel_model.uapi import BPF_EXIST, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_ZERO_SEED, BPF_NOEXIST

HASH, PERCPU_HASH = MAP_TYPES["BPF_MAP_TYPE_HASH"], MAP_TYPES["BPF_MAP_TYPE_PERCPU_HASH"]
LRU, LRU_PERCPU = MAP_TYPES["BPF_MAP_TYPE_LRU_HASH"], MAP_TYPES["BPF_MAP_TYPE_LRU_PERCPU_HASH"]
U32 = struct.Struct("<I")


@pytest.fixture
def k():
    kern = Kernel(modules=(), nr_cpus=2)
    yield kern
    kern.shutdown()


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(KernelError) as ei:
        fn(*args, **kw)
    return ei.value.errno


def obj(k, fd):
    return k.fds.get(fd, object)


def walk(k, fd) -> list[bytes]:
    keys, key = [], None
    while True:
        try:
            key = k.map_get_next_key(fd, key)
        except KernelError as e:
            assert e.errno == errno.ENOENT
            return keys
        keys.append(key)


# --- jhash -----------------------------------------------------------------------------------------

def test_jhash_word_and_byte_forms_agree_and_differ_by_seed():
    """jhash2 over u32 words is jhash over the same bytes (include/linux/jhash.h: the
    same mix, the length in bytes vs words << 2); the seed changes the result."""
    for n in (0, 4, 8, 12, 16, 28):
        data = bytes(range(n))
        assert jhash(data, 7) == jhash2(data, 7)
    assert jhash(b"abcd", 0) != jhash(b"abcd", 1)
    assert jhash(b"", 0) == 0xDEADBEEF  # a = b = c = JHASH_INITVAL + 0, returned unmixed


# --- percpu hash -----------------------------------------------------------------------------------

def test_percpu_hash_user_space_sees_every_cpu(k):
    fd = k.map_create(map_type=PERCPU_HASH, key_size=4, value_size=4, max_entries=4)
    one = b"\1\0\0\0"
    assert errno_of(k.map_update_elem, fd, one, b"abcd") == errno.EINVAL  # user values: 8 bytes per CPU
    k.map_update_elem(fd, one, b"AAAA\0\0\0\0BBBB\0\0\0\0")
    assert k.map_lookup_elem(fd, one) == b"AAAA\0\0\0\0BBBB\0\0\0\0"
    mo = obj(k, fd)
    k.machine.runner.set_cpu(1)
    assert k.machine.read(mo.lookup(one), 4) == b"BBBB"  # a program sees its CPU's copy
    mo.update(one, b"CCCC", 0)  # a program's update of an existing key: this CPU only
    assert k.map_lookup_elem(fd, one) == b"AAAA\0\0\0\0CCCC\0\0\0\0"
    two = b"\2\0\0\0"
    mo.update(two, b"DDDD", BPF_NOEXIST)  # a new key: this CPU's value, zeroes elsewhere
    assert k.map_lookup_elem(fd, two) == bytes(8) + b"DDDD\0\0\0\0"
    assert mo.lookup_this_cpu(two, 0) and k.machine.read(mo.lookup_this_cpu(two, 0), 4) == bytes(4)


@pytest.mark.parametrize("flags", [0, BPF_F_NO_PREALLOC])
def test_percpu_hash_is_full_at_max_entries(k, flags):
    """Per-CPU hashes have no extra elements (htab_has_extra_elems): E2BIG at max_entries."""
    fd = k.map_create(map_type=PERCPU_HASH, key_size=4, value_size=8, max_entries=2, map_flags=flags)
    for i in range(2):
        k.map_update_elem(fd, U32.pack(i), bytes(16))
    assert errno_of(k.map_update_elem, fd, U32.pack(9), bytes(16)) == errno.E2BIG
    k.map_update_elem(fd, U32.pack(1), b"x" * 16, BPF_EXIST)  # replacing needs no element
    k.map_delete_elem(fd, U32.pack(0))
    k.map_update_elem(fd, U32.pack(9), bytes(16))
    assert sorted(walk(k, fd)) == [U32.pack(1), U32.pack(9)]


# --- LRU -------------------------------------------------------------------------------------------

def test_lru_evicts_instead_of_failing(k):
    fd = k.map_create(map_type=LRU, key_size=4, value_size=4, max_entries=4)
    for i in range(4):
        k.map_update_elem(fd, U32.pack(i), U32.pack(i))
    k.map_update_elem(fd, U32.pack(100), b"new!")  # no E2BIG: a node is evicted
    keys = walk(k, fd)
    assert len(keys) == 4 and U32.pack(100) in keys
    assert k.map_lookup_elem(fd, U32.pack(100)) == b"new!"


def test_lru_keeps_what_programs_look_up(k):
    """A program's lookup sets the reference bit (bpf_lru_node_set_ref); the shrink
    moves referenced inactive nodes to the active list and evicts from the tail."""
    fd = k.map_create(map_type=LRU, key_size=4, value_size=4, max_entries=4)
    mo = obj(k, fd)
    for i in range(4):
        k.map_update_elem(fd, U32.pack(i), U32.pack(i))
    assert mo.lookup(U32.pack(0))  # the oldest, referenced
    k.map_update_elem(fd, U32.pack(100), bytes(4))
    keys = walk(k, fd)
    assert U32.pack(0) in keys and U32.pack(1) not in keys  # the oldest unreferenced went


def test_lru_user_lookup_sets_no_reference(k):
    """map_lookup_elem_sys_only: a bpf() lookup leaves the reference bit alone."""
    fd = k.map_create(map_type=LRU, key_size=4, value_size=4, max_entries=4)
    for i in range(4):
        k.map_update_elem(fd, U32.pack(i), U32.pack(i))
    k.map_lookup_elem(fd, U32.pack(0))
    k.map_update_elem(fd, U32.pack(100), bytes(4))
    assert U32.pack(0) not in walk(k, fd)


def test_lru_no_prealloc_is_enotsupp_and_percpu_lru_rounds_max_entries(k):
    assert errno_of(k.map_create, map_type=LRU, key_size=4, value_size=4, max_entries=4,
                    map_flags=BPF_F_NO_PREALLOC) == 524
    fd = k.map_create(map_type=LRU, key_size=4, value_size=4, max_entries=3, map_flags=BPF_F_NO_COMMON_LRU)
    assert k.map_info(fd).max_entries == 4  # roundup(3, nr_cpus = 2)
    assert errno_of(k.map_create, map_type=HASH, key_size=4, value_size=4, max_entries=4,
                    map_flags=BPF_F_NO_COMMON_LRU) == errno.EINVAL


def test_lru_percpu_values_and_flags(k):
    fd = k.map_create(map_type=LRU_PERCPU, key_size=4, value_size=4, max_entries=2)
    k.map_update_elem(fd, U32.pack(1), b"a" * 16)
    assert k.map_lookup_elem(fd, U32.pack(1)) == b"a" * 16
    assert errno_of(k.map_update_elem, fd, U32.pack(1), b"b" * 16, BPF_NOEXIST) == errno.EEXIST
    assert errno_of(k.map_update_elem, fd, U32.pack(2), b"b" * 16, BPF_EXIST) == errno.ENOENT
    for i in range(2, 6):
        k.map_update_elem(fd, U32.pack(i), b"c" * 16)
    assert len(walk(k, fd)) == 2


# --- get_next_key / lookup_and_delete ---------------------------------------------------------------

def test_hash_walk_is_bucket_order_newest_first(k):
    fd = k.map_create(map_type=HASH, key_size=4, value_size=4, max_entries=4, map_flags=BPF_F_ZERO_SEED)
    mo = obj(k, fd)
    keys = [U32.pack(i) for i in (7, 3, 11, 5)]
    for key in keys:
        k.map_update_elem(fd, key, bytes(4))
    order = walk(k, fd)
    assert sorted(order) == sorted(keys)
    buckets = [mo.bucket_of(key) for key in order]
    assert buckets == sorted(buckets)
    assert k.map_get_next_key(fd, U32.pack(999)) == order[0]  # a missing key restarts


def test_lookup_and_delete(k):
    fd = k.map_create(map_type=HASH, key_size=4, value_size=4, max_entries=4)
    k.map_update_elem(fd, U32.pack(1), b"one!")
    assert k.map_lookup_and_delete_elem(fd, U32.pack(1)) == b"one!"
    assert errno_of(k.map_lookup_and_delete_elem, fd, U32.pack(1)) == errno.ENOENT
    arr = k.map_create(map_type=MAP_TYPES["BPF_MAP_TYPE_ARRAY"], key_size=4, value_size=4, max_entries=1)
    assert errno_of(k.map_lookup_and_delete_elem, arr, U32.pack(0)) == 524  # ENOTSUPP
    assert k.map_get_next_key(arr, None) == U32.pack(0)
    assert errno_of(k.map_get_next_key, arr, U32.pack(0)) == errno.ENOENT


# --- the host ----------------------------------------------------------------------------------------

def _host_walk(fd: int, key_size: int) -> list[bytes]:
    from emu.host import hostbpf

    keys, key = [], None
    while (key := hostbpf.map_get_next_key(fd, key, key_size)) is not None:
        keys.append(key)
    return keys


@pytest.mark.kernel
@pytest.mark.parametrize("key_size,max_entries", [(4, 8), (8, 16), (6, 5), (13, 32)])
def test_zero_seed_walk_order_matches_the_host(k, key_size, max_entries):
    """With BPF_F_ZERO_SEED the bucket (jhash/jhash2 with seed 0) and so the
    get_next_key order are the host's, for word-sized and odd key sizes."""
    from emu.host import hostbpf

    keys = [bytes((i * 37 + j) & 0xFF for j in range(key_size)) for i in range(max_entries)]
    hfd, err = hostbpf.map_create(HASH, key_size, 4, max_entries, map_flags=BPF_F_ZERO_SEED)
    if hfd < 0:
        pytest.skip(f"host refused a BPF_F_ZERO_SEED hash map: {os.strerror(err)}")
    try:
        for key in keys:
            assert hostbpf.map_update(hfd, key, bytes(4))[0] == 0
        host = _host_walk(hfd, key_size)
    finally:
        hostbpf.close(hfd)
    fd = k.map_create(map_type=HASH, key_size=key_size, value_size=4, max_entries=max_entries,
                      map_flags=BPF_F_ZERO_SEED)
    for key in keys:
        k.map_update_elem(fd, key, bytes(4))
    assert walk(k, fd) == host
