"""Tracked numbers ("tnums"): which bits of a 64-bit value are known.

Models ``kernel/bpf/tnum.c`` and ``include/linux/tnum.h`` (Linux 6.18). A tnum
is a pair ``(value, mask)`` of unsigned 64-bit integers: a bit set in
``mask`` is unknown, otherwise the bit equals the one in ``value`` (the
invariant ``value & mask == 0`` always holds). Here a tnum is a plain tuple
``(value, mask)``, immutable, so registers can share it without copying.

Version notes: ``tnum_mul`` follows the 6.18 host, which multiplies with a
union of partial accumulators ("bpf: Improve the general precision of
tnum_mul", Linux 6.17); ``tnum_neg`` exists since BPF_NEG range tracking
(Linux 6.16). The log formatting of a tnum (``tnum_strn``) lives in
:mod:`verifier.log`.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "M64", "M32", "UNKNOWN", "const", "trange", "lshift", "rshift", "arshift", "add", "sub", "neg",
    "t_and", "t_or", "t_xor", "mul", "union", "intersect", "overlap", "cast", "is_aligned",
    "t_in", "subreg", "clear_subreg", "with_subreg", "const_subreg", "is_const", "is_unknown",
    "subreg_is_const", "equals_const",
]

M64: Final = (1 << 64) - 1
M32: Final = (1 << 32) - 1
UNKNOWN: Final = (0, M64)


def const(value: int) -> tuple[int, int]:
    """A fully known value (``tnum_const``)."""
    return (value & M64, 0)


def trange(lo: int, hi: int) -> tuple[int, int]:
    """The smallest tnum containing every value in ``[lo, hi]`` (``tnum_range``):
    the bits below the highest bit where ``lo`` and ``hi`` differ become unknown."""
    chi = (lo ^ hi) & M64
    bits = chi.bit_length()
    if bits > 63:
        return UNKNOWN
    delta = (1 << bits) - 1
    return (lo & ~delta & M64, delta)


def lshift(a: tuple[int, int], n: int) -> tuple[int, int]:
    return ((a[0] << n) & M64, (a[1] << n) & M64)


def rshift(a: tuple[int, int], n: int) -> tuple[int, int]:
    return (a[0] >> n, a[1] >> n)


def _s64(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def _s32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x >> 31 else x


def arshift(a: tuple[int, int], n: int, bits: int) -> tuple[int, int]:
    """Arithmetic shift right by ``n`` in a ``bits``-wide (32 or 64) register:
    the sign of value and mask is extended independently, as the kernel does."""
    if bits == 32:
        return ((_s32(a[0]) >> n) & M32, (_s32(a[1]) >> n) & M32)
    return ((_s64(a[0]) >> n) & M64, (_s64(a[1]) >> n) & M64)


def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Addition with carries out of unknown bits made unknown."""
    sm = a[1] + b[1]
    sv = a[0] + b[0]
    sigma = (sm + sv) & M64
    sv &= M64
    mu = (sigma ^ sv) | a[1] | b[1]
    return (sv & ~mu & M64, mu & M64)


def sub(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    dv = (a[0] - b[0]) & M64
    alpha = (dv + a[1]) & M64
    beta = (dv - b[1]) & M64
    mu = (alpha ^ beta) | a[1] | b[1]
    return (dv & ~mu & M64, mu & M64)


def neg(a: tuple[int, int]) -> tuple[int, int]:
    return sub((0, 0), a)


def t_and(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    alpha = a[0] | a[1]
    beta = b[0] | b[1]
    v = a[0] & b[0]
    return (v, alpha & beta & ~v)


def t_or(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    v = a[0] | b[0]
    return (v, (a[1] | b[1]) & ~v)


def t_xor(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    mu = a[1] | b[1]
    return ((a[0] ^ b[0]) & ~mu, mu)


def union(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """A tnum containing both operands' values (``tnum_union``)."""
    mu = (a[0] ^ b[0]) | a[1] | b[1]
    return (a[0] & b[0] & ~mu, mu)


def mul(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Long multiplication over the bits of ``a`` (Linux 6.17+ ``tnum_mul``):
    a known 1 adds ``b``, an unknown bit takes the union of adding and not."""
    acc = (0, 0)
    av, am = a
    while av or am:
        if av & 1:
            acc = add(acc, b)
        elif am & 1:
            acc = union(acc, add(acc, b))
        av >>= 1
        am >>= 1
        b = ((b[0] << 1) & M64, (b[1] << 1) & M64)
    return acc


def overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether some value is in both tnums (``tnum_overlap``)."""
    mu = ~a[1] & ~b[1] & M64
    return (a[0] & mu) == (b[0] & mu)


def intersect(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    v = a[0] | b[0]
    mu = a[1] & b[1]
    return (v & ~mu, mu)


def cast(a: tuple[int, int], size: int) -> tuple[int, int]:
    """Keep the low ``size`` bytes (``tnum_cast``)."""
    m = (1 << (size * 8)) - 1
    return (a[0] & m, a[1] & m)


def is_aligned(a: tuple[int, int], size: int) -> bool:
    if not size:
        return True
    return not ((a[0] | a[1]) & (size - 1))


def t_in(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether every value of ``b`` is a value of ``a`` (``tnum_in``)."""
    if b[1] & ~a[1]:
        return False
    return a[0] == (b[0] & ~a[1])


def subreg(a: tuple[int, int]) -> tuple[int, int]:
    return (a[0] & M32, a[1] & M32)


def clear_subreg(a: tuple[int, int]) -> tuple[int, int]:
    return (a[0] & ~M32 & M64, a[1] & ~M32 & M64)


def with_subreg(reg: tuple[int, int], sub_: tuple[int, int]) -> tuple[int, int]:
    return t_or(clear_subreg(reg), subreg(sub_))


def const_subreg(a: tuple[int, int], value: int) -> tuple[int, int]:
    return with_subreg(a, (value & M32, 0))


def is_const(a: tuple[int, int]) -> bool:
    return a[1] == 0


def is_unknown(a: tuple[int, int]) -> bool:
    return a[1] == M64


def subreg_is_const(a: tuple[int, int]) -> bool:
    return not (a[1] & M32)


def equals_const(a: tuple[int, int], value: int) -> bool:
    return a[1] == 0 and a[0] == (value & M64)


def _swab(x: int, nbytes: int) -> int:
    return int.from_bytes(x.to_bytes(nbytes, "little"), "big")


def bswap(a: tuple[int, int], bits: int) -> tuple[int, int]:
    """``tnum_bswap16/32/64`` (6.18 stable, "bpf: Add bitwise tracking for BPF_END"):
    the low ``bits`` of value and mask byte-swapped, the rest cleared."""
    n = bits // 8
    lim = (1 << bits) - 1
    return _swab(a[0] & lim, n), _swab(a[1] & lim, n)


def step(a: tuple[int, int], z: int) -> int:
    """``tnum_step``: the smallest member of ``a`` above ``z`` (``a``'s smallest member
    when ``z`` is below it, its largest when ``z`` is not below that).

    Members are ``value + s`` for the submasks ``s`` of ``mask``; the next one above
    ``value + d`` is the next submask above ``d``: bits of ``d`` outside the mask can
    only be passed by carrying above the highest of them, so those positions and all
    below are filled with ones, the gaps between mask bits too, and one is added."""
    value, mask = a
    tmax = value | mask
    if z >= tmax:
        return tmax
    if z < value:
        return value
    d = z - value
    below = (1 << (d & ~mask & M64).bit_length()) - 1
    return value | (((d | below | (~mask & M64)) + 1) & mask)
