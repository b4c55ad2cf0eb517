"""Bob Jenkins' lookup3 hash as the kernel has it (include/linux/jhash.h, Linux 6.12).

Hash maps pick their bucket with ``htab_map_hash`` (kernel/bpf/hashtab.c:
``jhash2`` over u32 words when the key size is a multiple of 4, ``jhash``
otherwise, seeded with ``htab->hashrnd``); bloom filters hash their values the
same way with ``seed + i`` for hash function ``i`` (kernel/bpf/bloom_filter.c
``hash``). Written from the published algorithm, checked against the kernel's
bucket order in tests/emu/test_maps_hash.py.
"""

from __future__ import annotations

import struct

__all__ = ["jhash", "jhash2", "htab_map_hash", "JHASH_INITVAL"]

JHASH_INITVAL = 0xDEADBEEF
_M = 0xFFFF_FFFF


def _rol(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _M; a ^= _rol(c, 4); c = (c + b) & _M          # noqa: E702
    b = (b - a) & _M; b ^= _rol(a, 6); a = (a + c) & _M          # noqa: E702
    c = (c - b) & _M; c ^= _rol(b, 8); b = (b + a) & _M          # noqa: E702
    a = (a - c) & _M; a ^= _rol(c, 16); c = (c + b) & _M         # noqa: E702
    b = (b - a) & _M; b ^= _rol(a, 19); a = (a + c) & _M         # noqa: E702
    c = (c - b) & _M; c ^= _rol(b, 4); b = (b + a) & _M          # noqa: E702
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b; c = (c - _rol(b, 14)) & _M                           # noqa: E702
    a ^= c; a = (a - _rol(c, 11)) & _M                           # noqa: E702
    b ^= a; b = (b - _rol(a, 25)) & _M                           # noqa: E702
    c ^= b; c = (c - _rol(b, 16)) & _M                           # noqa: E702
    a ^= c; a = (a - _rol(c, 4)) & _M                            # noqa: E702
    b ^= a; b = (b - _rol(a, 14)) & _M                           # noqa: E702
    c ^= b; c = (c - _rol(b, 24)) & _M                           # noqa: E702
    return c


def jhash(key: bytes, initval: int) -> int:
    """``jhash(key, length, initval)``: any byte string."""
    n = len(key)
    a = b = c = (JHASH_INITVAL + n + initval) & _M
    k = 0
    while n > 12:
        x, y, z = struct.unpack_from("<III", key, k)
        a, b, c = _mix((a + x) & _M, (b + y) & _M, (c + z) & _M)
        n -= 12
        k += 12
    if n == 0:
        return c
    tail = key[k:] + bytes(12 - n)
    x, y, z = struct.unpack("<III", tail)
    return _final((a + x) & _M, (b + y) & _M, (c + z) & _M)


def jhash2(words: bytes, initval: int) -> int:
    """``jhash2(k, length, initval)`` over little-endian u32 words (``len(words) % 4 == 0``)."""
    n = len(words) // 4
    a = b = c = (JHASH_INITVAL + (n << 2) + initval) & _M
    k = 0
    while n > 3:
        x, y, z = struct.unpack_from("<III", words, k)
        a, b, c = _mix((a + x) & _M, (b + y) & _M, (c + z) & _M)
        n -= 3
        k += 12
    if n == 0:
        return c
    tail = words[k:] + bytes(12 - 4 * n)
    x, y, z = struct.unpack("<III", tail)
    return _final((a + x) & _M, (b + y) & _M, (c + z) & _M)


def htab_map_hash(key: bytes, hashrnd: int) -> int:
    """kernel/bpf/hashtab.c ``htab_map_hash``."""
    if len(key) % 4 == 0:
        return jhash2(key, hashrnd)
    return jhash(key, hashrnd)
