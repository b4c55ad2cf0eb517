"""Scalar bounds: the tnum plus signed/unsigned 64- and 32-bit ranges.

Models the bound-keeping functions of kernel/bpf/verifier.c (Linux 6.18, the
6.12.117 stable has the same code for these): ``__update_reg_bounds``,
``__reg32_deduce_bounds``, ``__reg64_deduce_bounds``,
``__reg_deduce_mixed_bounds``, ``__reg_bound_offset`` and ``reg_bounds_sync``;
the ALU transfer functions ``scalar{32,}_min_max_{add,sub,mul,and,or,xor,
lsh,rsh,arsh}``; ``coerce_reg_to_size{,_sx}`` and ``coerce_subreg_to_size_sx``
(loads and movsx); and the branch functions ``is_scalar_branch_taken``,
``regs_refine_cond_op``. Every function works on a :class:`RegState` in place,
in the kernel's order, so the printed bounds are the kernel's.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from . import tnum as T
from .regs import (
    S32_MAX, S32_MIN, S64_MAX, S64_MIN, U32_MAX, U64_MAX, RegState, mark_known, mark_reg32_known,
    mark_reg32_unbounded, mark_reg64_unbounded, s32, s64,
)

__all__ = [
    "update_bounds", "update_bounds32", "update_bounds64", "deduce_bounds", "bound_offset", "sync",
    "assign_32_into_64", "zext_32_to_64", "coerce_to_size", "coerce_to_size_sx", "coerce_subreg_to_size_sx",
    "add32", "add64", "sub32", "sub64", "mul32", "mul64", "and32", "and64", "or32", "or64", "xor32", "xor64",
    "lsh32", "lsh64", "rsh32", "rsh64", "arsh32", "arsh64", "scalar_branch_taken", "refine_cond_op",
    "flip_opcode", "rev_opcode", "sanity_violation", "range_within",
]

M64: Final = U64_MAX
M32: Final = U32_MAX
_SMASK64: Final = 1 << 63
_SMASK32: Final = 1 << 31


def update_bounds32(r: RegState) -> None:
    """``__update_reg32_bounds``: learn 32-bit bounds from the tnum."""
    v = r.var_off[0] & M32
    m = r.var_off[1] & M32
    r.s32_min = max(r.s32_min, s32(v | (m & _SMASK32)))
    r.s32_max = min(r.s32_max, s32(v | (m & (_SMASK32 - 1))))
    r.u32_min = max(r.u32_min, v)
    r.u32_max = min(r.u32_max, v | m)


def update_bounds64(r: RegState) -> None:
    """``__update_reg64_bounds``, with the 6.18 stable rule "bpf: Improve bounds when
    tnum has a single possible value": when the u64 range and the tnum share one
    value only, the register becomes that constant."""
    v, m = r.var_off
    r.smin = max(r.smin, s64(v | (m & _SMASK64)))
    r.smax = min(r.smax, s64(v | (m & (_SMASK64 - 1))))
    umin = r.umin = max(r.umin, v)
    umax = r.umax = min(r.umax, v | m)
    nxt = T.step(r.var_off, umin)
    umin_in = (umin & ~m) == v
    tmax = v | m
    if umin_in and nxt > umax:
        _known(r, umin)
    elif not umin_in and nxt == tmax:
        _known(r, tmax)
    elif not umin_in and nxt <= umax and T.step(r.var_off, nxt) > umax:
        _known(r, nxt)


def _known(r: RegState, v: int) -> None:
    """``___mark_reg_known``: every bound and the tnum become ``v``."""
    r.var_off = (v, 0)
    r.smin = r.smax = s64(v)
    r.umin = r.umax = v
    r.s32_min = r.s32_max = s32(v & M32)
    r.u32_min = r.u32_max = v & M32


def update_bounds(r: RegState) -> None:
    update_bounds32(r)
    update_bounds64(r)


def _deduce32(r: RegState) -> None:
    """``__reg32_deduce_bounds`` (sign conversions written inline: the hot path)."""
    umin, umax, smin, smax = r.umin, r.umax, r.smin, r.smax
    u32_min, u32_max, s32_min, s32_max = r.u32_min, r.u32_max, r.s32_min, r.s32_max
    ulo, uhi = umin & M32, umax & M32
    s_ulo, s_uhi = ulo - ((ulo >> 31) << 32), uhi - ((uhi >> 31) << 32)
    if (umin >> 32) == (umax >> 32):
        if ulo > u32_min:
            u32_min = ulo
        if uhi < u32_max:
            u32_max = uhi
        if s_ulo <= s_uhi:
            if s_ulo > s32_min:
                s32_min = s_ulo
            if s_uhi < s32_max:
                s32_max = s_uhi
    slo, shi = smin & M32, smax & M32
    s_slo, s_shi = slo - ((slo >> 31) << 32), shi - ((shi >> 31) << 32)
    if (smin >> 32) == (smax >> 32):
        if slo <= shi:
            if slo > u32_min:
                u32_min = slo
            if shi < u32_max:
                u32_max = shi
        if s_slo <= s_shi:
            if s_slo > s32_min:
                s32_min = s_slo
            if s_shi < s32_max:
                s32_max = s_shi
    if (((umin >> 32) + 1) & M32) == ((umax >> 32) & M32) and s_ulo < 0 and s_uhi >= 0:
        if s_ulo > s32_min:
            s32_min = s_ulo
        if s_uhi < s32_max:
            s32_max = s_uhi
    if ((((smin >> 32) & M32) + 1) & M32) == ((smax >> 32) & M32) and s_slo < 0 and s_shi >= 0:
        if s_slo > s32_min:
            s32_min = s_slo
        if s_shi < s32_max:
            s32_max = s_shi
    a, b = u32_min - ((u32_min >> 31) << 32), u32_max - ((u32_max >> 31) << 32)
    if a <= b:
        if a > s32_min:
            s32_min = a
        if b < s32_max:
            s32_max = b
    smin32_u, smax32_u = s32_min & M32, s32_max & M32
    if smin32_u <= smax32_u:
        if smin32_u > u32_min:
            u32_min = smin32_u
        if smax32_u < u32_max:
            u32_max = smax32_u
    else:
        # the s32 range crosses the sign boundary while the u32 range sits in one
        # half (the 32-bit twin of the 64-bit rule, in the 6.18.y / 6.12.y stables)
        if u32_max < smin32_u:
            s32_min = u32_min - ((u32_min >> 31) << 32)
            if smax32_u < u32_max:
                u32_max = smax32_u
        elif smax32_u < u32_min:
            s32_max = u32_max - ((u32_max >> 31) << 32)
            if smin32_u > u32_min:
                u32_min = smin32_u
    r.u32_min, r.u32_max, r.s32_min, r.s32_max = u32_min, u32_max, s32_min, s32_max


def _deduce64(r: RegState) -> None:
    """``__reg64_deduce_bounds`` (with the sign-boundary-crossing cases)."""
    if s64(r.umin) <= s64(r.umax):
        r.smin = max(r.smin, s64(r.umin))
        r.smax = min(r.smax, s64(r.umax))
    smin_u, smax_u = r.smin & M64, r.smax & M64
    if smin_u <= smax_u:
        r.umin = max(smin_u, r.umin)
        r.umax = min(smax_u, r.umax)
    else:
        if r.umax < smin_u:
            r.smin = s64(r.umin)
            r.umax = min(r.umax, smax_u)
        elif smax_u < r.umin:
            r.smax = s64(r.umax)
            r.umin = max(r.umin, smin_u)


def _deduce_mixed(r: RegState) -> None:
    """``__reg_deduce_mixed_bounds``: tighten 64-bit bounds from 32-bit ones."""
    hi = ~M32 & M64
    new_umin = (r.umin & hi) | r.u32_min
    new_umax = (r.umax & hi) | r.u32_max
    r.umin = max(r.umin, new_umin)
    r.umax = min(r.umax, new_umax)
    new_smin = s64((r.smin & hi) | r.u32_min)
    new_smax = s64((r.smax & hi) | r.u32_max)
    r.smin = max(r.smin, new_smin)
    r.smax = min(r.smax, new_smax)
    if (r.s32_min & M32) <= (r.s32_max & M32):
        new_umin = (r.umin & hi) | (r.s32_min & M32)
        new_umax = (r.umax & hi) | (r.s32_max & M32)
        r.umin = max(r.umin, new_umin)
        r.umax = min(r.umax, new_umax)
        new_smin = s64((r.smin & hi) | (r.s32_min & M32))
        new_smax = s64((r.smax & hi) | (r.s32_max & M32))
        r.smin = max(r.smin, new_smin)
        r.smax = min(r.smax, new_smax)
    if r.s32_min >= 0 and r.smin >= S32_MIN and r.smax <= S32_MAX:
        r.smin = r.s32_min
        r.smax = r.s32_max
        # C assigns the s32 into the u64 fields by sign extension: on a range that is
        # already inconsistent (s32_min > s32_max) umax becomes a huge value, as the kernel's
        r.umin = r.s32_min & M64
        r.umax = r.s32_max & M64
        r.var_off = T.intersect(r.var_off, T.trange(r.smin & M64, r.smax & M64))


def deduce_bounds(r: RegState) -> None:
    _deduce32(r)
    _deduce64(r)
    _deduce_mixed(r)


def bound_offset(r: RegState) -> None:
    """``__reg_bound_offset``: learn tnum bits from the unsigned bounds."""
    var64 = T.intersect(r.var_off, T.trange(r.umin, r.umax))
    var32 = T.intersect(T.subreg(var64), T.trange(r.u32_min, r.u32_max))
    r.var_off = T.t_or(T.clear_subreg(var64), var32)


def sync_reference(r: RegState) -> None:
    """``reg_bounds_sync`` as the kernel composes it: :func:`update_bounds`, three rounds
    of :func:`deduce_bounds`, :func:`bound_offset`, :func:`update_bounds`. :func:`sync`
    is the same computation on local variables (the hot path); the tests check the two
    agree."""
    update_bounds(r)
    deduce_bounds(r)
    deduce_bounds(r)
    deduce_bounds(r)
    bound_offset(r)
    update_bounds(r)


def sync(r: RegState) -> None:
    """``reg_bounds_sync`` (verifier.c): :func:`sync_reference` computed on locals. A known
    constant whose bounds all equal it is a fixed point of every step, so it returns at
    once (the common case in loops); a deduction round that changes nothing is not
    repeated (each round is a function of the bounds alone)."""
    v, m = r.var_off
    umin, umax, smin, smax = r.umin, r.umax, r.smin, r.smax
    u32_min, u32_max, s32_min, s32_max = r.u32_min, r.u32_max, r.s32_min, r.s32_max
    if not m and umin == v and umax == v:
        lo = v & M32
        sv = v - ((v >> 63) << 64)
        slo = lo - ((lo >> 31) << 32)
        if smin == sv and smax == sv and u32_min == lo and u32_max == lo and s32_min == slo and s32_max == slo:
            return
    for rnd in range(2):
        # --- __update_reg_bounds: __update_reg32_bounds, then __update_reg64_bounds
        v32 = v & M32
        m32 = m & M32
        x = v32 | (m32 & _SMASK32)
        x -= (x >> 31) << 32
        if x > s32_min:
            s32_min = x
        x = v32 | (m32 & (_SMASK32 - 1))
        x -= (x >> 31) << 32
        if x < s32_max:
            s32_max = x
        if v32 > u32_min:
            u32_min = v32
        x = v32 | m32
        if x < u32_max:
            u32_max = x
        x = v | (m & _SMASK64)
        x -= (x >> 63) << 64
        if x > smin:
            smin = x
        x = v | (m & (_SMASK64 - 1))
        x -= (x >> 63) << 64
        if x < smax:
            smax = x
        if v > umin:
            umin = v
        tmax = v | m
        if tmax < umax:
            umax = tmax
        # the single-value rule of __update_reg64_bounds (tnum_step inlined for its early cases)
        if umin >= tmax:
            nxt = tmax
        elif umin < v:
            nxt = v
        else:
            nxt = T.step((v, m), umin)
        umin_in = (umin & ~m) == v
        known = -1
        if umin_in and nxt > umax:
            known = umin
        elif not umin_in and nxt == tmax:
            known = tmax
        elif not umin_in and nxt <= umax and T.step((v, m), nxt) > umax:
            known = nxt
        if known >= 0:
            v, m = known, 0
            smin = smax = known - ((known >> 63) << 64)
            umin = umax = known
            x = known & M32
            u32_min = u32_max = x
            s32_min = s32_max = x - ((x >> 31) << 32)
        if rnd:
            break
        # --- __reg_deduce_bounds, three rounds (a round that changes nothing ends them)
        for _ in range(3):
            b_umin, b_umax, b_smin, b_smax, b_v, b_m = umin, umax, smin, smax, v, m
            b_u32_min, b_u32_max, b_s32_min, b_s32_max = u32_min, u32_max, s32_min, s32_max
            # __reg32_deduce_bounds
            ulo, uhi = umin & M32, umax & M32
            s_ulo, s_uhi = ulo - ((ulo >> 31) << 32), uhi - ((uhi >> 31) << 32)
            if (umin >> 32) == (umax >> 32):
                if ulo > u32_min:
                    u32_min = ulo
                if uhi < u32_max:
                    u32_max = uhi
                if s_ulo <= s_uhi:
                    if s_ulo > s32_min:
                        s32_min = s_ulo
                    if s_uhi < s32_max:
                        s32_max = s_uhi
            slo, shi = smin & M32, smax & M32
            s_slo, s_shi = slo - ((slo >> 31) << 32), shi - ((shi >> 31) << 32)
            if (smin >> 32) == (smax >> 32):
                if slo <= shi:
                    if slo > u32_min:
                        u32_min = slo
                    if shi < u32_max:
                        u32_max = shi
                if s_slo <= s_shi:
                    if s_slo > s32_min:
                        s32_min = s_slo
                    if s_shi < s32_max:
                        s32_max = s_shi
            if (((umin >> 32) + 1) & M32) == ((umax >> 32) & M32) and s_ulo < 0 and s_uhi >= 0:
                if s_ulo > s32_min:
                    s32_min = s_ulo
                if s_uhi < s32_max:
                    s32_max = s_uhi
            if ((((smin >> 32) & M32) + 1) & M32) == ((smax >> 32) & M32) and s_slo < 0 and s_shi >= 0:
                if s_slo > s32_min:
                    s32_min = s_slo
                if s_shi < s32_max:
                    s32_max = s_shi
            a, b = u32_min - ((u32_min >> 31) << 32), u32_max - ((u32_max >> 31) << 32)
            if a <= b:
                if a > s32_min:
                    s32_min = a
                if b < s32_max:
                    s32_max = b
            smin32_u, smax32_u = s32_min & M32, s32_max & M32
            if smin32_u <= smax32_u:
                if smin32_u > u32_min:
                    u32_min = smin32_u
                if smax32_u < u32_max:
                    u32_max = smax32_u
            else:
                if u32_max < smin32_u:
                    s32_min = u32_min - ((u32_min >> 31) << 32)
                    if smax32_u < u32_max:
                        u32_max = smax32_u
                elif smax32_u < u32_min:
                    s32_max = u32_max - ((u32_max >> 31) << 32)
                    if smin32_u > u32_min:
                        u32_min = smin32_u
            # __reg64_deduce_bounds
            a, b = umin - ((umin >> 63) << 64), umax - ((umax >> 63) << 64)
            if a <= b:
                if a > smin:
                    smin = a
                if b < smax:
                    smax = b
            smin_u, smax_u = smin & M64, smax & M64
            if smin_u <= smax_u:
                if smin_u > umin:
                    umin = smin_u
                if smax_u < umax:
                    umax = smax_u
            elif umax < smin_u:
                smin = umin - ((umin >> 63) << 64)
                if smax_u < umax:
                    umax = smax_u
            elif smax_u < umin:
                smax = umax - ((umax >> 63) << 64)
                if smin_u > umin:
                    umin = smin_u
            # __reg_deduce_mixed_bounds
            hi = ~M32 & M64
            x = (umin & hi) | u32_min
            if x > umin:
                umin = x
            x = (umax & hi) | u32_max
            if x < umax:
                umax = x
            x = (smin & hi) | u32_min
            x -= (x >> 63) << 64
            if x > smin:
                smin = x
            x = (smax & hi) | u32_max
            x -= (x >> 63) << 64
            if x < smax:
                smax = x
            if (s32_min & M32) <= (s32_max & M32):
                x = (umin & hi) | (s32_min & M32)
                if x > umin:
                    umin = x
                x = (umax & hi) | (s32_max & M32)
                if x < umax:
                    umax = x
                x = (smin & hi) | (s32_min & M32)
                x -= (x >> 63) << 64
                if x > smin:
                    smin = x
                x = (smax & hi) | (s32_max & M32)
                x -= (x >> 63) << 64
                if x < smax:
                    smax = x
            if s32_min >= 0 and smin >= S32_MIN and smax <= S32_MAX:
                smin = s32_min
                smax = s32_max
                umin = s32_min & M64
                umax = s32_max & M64
                v, m = T.intersect((v, m), T.trange(smin & M64, smax & M64))
            if umin == b_umin and umax == b_umax and smin == b_smin and smax == b_smax and v == b_v \
                    and m == b_m and u32_min == b_u32_min and u32_max == b_u32_max and s32_min == b_s32_min \
                    and s32_max == b_s32_max:
                break
        # --- __reg_bound_offset
        v, m = T.intersect((v, m), T.trange(umin, umax))
        var32 = T.intersect((v & M32, m & M32), T.trange(u32_min, u32_max))
        v = (v & ~M32 & M64) | var32[0]
        m = ((m & ~M32 & M64) | var32[1]) & ~v
    r.var_off = (v, m)
    r.umin, r.umax, r.smin, r.smax = umin, umax, smin, smax
    r.u32_min, r.u32_max, r.s32_min, r.s32_max = u32_min, u32_max, s32_min, s32_max


def sanity_violation(r: RegState) -> str | None:
    """``reg_bounds_sanity_check``: the reason the bounds are inconsistent, or None."""
    if r.umin > r.umax or r.smin > r.smax or r.u32_min > r.u32_max or r.s32_min > r.s32_max:
        return "range bounds violation"
    v, m = r.var_off
    if m == 0:
        if r.umin != v or r.umax != v or r.smin != s64(v) or r.smax != s64(v):
            return "const tnum out of sync with range bounds"
    if not (m & M32):
        v32 = v & M32
        if r.u32_min != v32 or r.u32_max != v32 or r.s32_min != s32(v32) or r.s32_max != s32(v32):
            return "const subreg tnum out of sync with range bounds"
    return None


def assign_32_into_64(r: RegState) -> None:
    """``__reg_assign_32_into_64``."""
    r.umin = r.u32_min
    r.umax = r.u32_max
    if 0 <= r.s32_min <= S32_MAX and 0 <= r.s32_max <= S32_MAX:
        r.smin = r.s32_min
        r.smax = r.s32_max
    else:
        r.smin = 0
        r.smax = U32_MAX


def zext_32_to_64(r: RegState) -> None:
    r.var_off = T.subreg(r.var_off)
    assign_32_into_64(r)


def coerce_to_size(r: RegState, size: int) -> None:
    """``coerce_reg_to_size``: zero-extending narrow load or truncation."""
    r.var_off = T.cast(r.var_off, size)
    mask = (1 << (size * 8)) - 1
    if (r.umin & ~mask) == (r.umax & ~mask):
        r.umin &= mask
        r.umax &= mask
    else:
        r.umin = 0
        r.umax = mask
    r.smin = r.umin
    r.smax = r.umax
    if size < 4:
        mark_reg32_unbounded(r)
    sync(r)


def _sx(v: int, size: int) -> int:
    bits = size * 8
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _set_sext64_default(r: RegState, size: int) -> None:
    lo = -(1 << (size * 8 - 1))
    hi = (1 << (size * 8 - 1)) - 1
    r.smin = r.s32_min = lo
    r.smax = r.s32_max = hi
    r.umin = r.u32_min = 0
    r.umax = U64_MAX
    r.u32_max = U32_MAX
    r.var_off = T.UNKNOWN


def _sext64_same_sign(r: RegState, lo: int, hi: int) -> None:
    """The branch of ``coerce_reg_to_size_sx`` for a result range [lo, hi] on one
    side of zero: every bound is the range, the tnum is ``tnum_range``."""
    r.smin, r.smax = lo, hi
    r.umin, r.umax = lo & M64, hi & M64
    # the kernel assigns the s64 into s32/u32 fields by C truncation
    r.s32_min, r.s32_max = s32(lo), s32(hi)
    r.u32_min, r.u32_max = lo & M32, hi & M32
    r.var_off = T.trange(lo & M64, hi & M64)


def coerce_to_size_sx(r: RegState, size: int) -> None:
    """``coerce_reg_to_size_sx``: sign-extending load or ``rX = (sN)rY``.

    6.12's function (kernel/bpf/verifier.c) keeps a constant, or a 64-bit range
    inside one 2^(8*size) block whose sign-extended ends are on one side of zero,
    and otherwise falls back to ``set_sext64_default_val`` ([S8/16/32_MIN, _MAX]).
    The 6.18.44 host is more precise in that fallback, as measured with
    ``BPF_PROG_LOAD`` (tests/verifier/test_sext_fill.py): when the signed 32-bit
    bounds already lie inside the N-bit signed range, sign extension from N bits
    is the identity on the low 32 bits, so the result is exactly
    [s32_min, s32_max] (for N = 32 always: ``(s32)`` of a value with 32-bit
    bounds [-32768, 32767] keeps them; a constant low word gives a constant). A
    range that crosses zero also keeps the u32 bounds of the unchanged low word
    (64-bit unsigned bounds and the tnum start unknown, then ``reg_bounds_sync``). ``wX = (sN)wY``
    (``coerce_subreg_to_size_sx``) has no such rule on the host.
    """
    if r.var_off[1] == 0:
        val = _sx(r.var_off[0], size) & M64
        r.var_off = (val, 0)
        r.smax = r.smin = s64(val)
        r.umax = r.umin = val
        r.s32_max = r.s32_min = s32(val)
        r.u32_max = r.u32_min = val & M32
        return
    nbits = size * 8
    top_smax = ((r.smax & M64) >> nbits) << nbits
    top_smin = ((r.smin & M64) >> nbits) << nbits
    if top_smax == top_smin:
        a = _sx(r.smax, size)
        b = _sx(r.smin, size)
        hi, lo = max(a, b), min(a, b)
        if (hi >= 0) == (lo >= 0):
            _sext64_same_sign(r, lo, hi)
            return
    lo32, hi32 = r.s32_min, r.s32_max
    if -(1 << (nbits - 1)) <= lo32 and hi32 < (1 << (nbits - 1)):
        if (lo32 >= 0) == (hi32 >= 0):
            _sext64_same_sign(r, lo32, hi32)
        else:
            # the low word is unchanged: its s32/u32 bounds stay, the 64-bit ones follow
            r.smin, r.smax = lo32, hi32
            r.umin, r.umax = 0, U64_MAX
            r.var_off = T.UNKNOWN
            sync(r)
        return
    _set_sext64_default(r, size)


def coerce_subreg_to_size_sx(r: RegState, size: int) -> None:
    """``coerce_subreg_to_size_sx``: ``wX = (sN)wY``."""
    if r.var_off[1] == 0:
        val = _sx(r.var_off[0], size) & M64
        r.var_off = (val, 0)
        r.s32_min = r.s32_max = s32(val)
        r.u32_min = r.u32_max = val & M32
        return
    nbits = size * 8
    top_smax = ((r.s32_max & M32) >> nbits) << nbits
    top_smin = ((r.s32_min & M32) >> nbits) << nbits
    if top_smax == top_smin:
        a = _sx(r.s32_max, size)
        b = _sx(r.s32_min, size)
        hi, lo = max(a, b), min(a, b)
        if (lo >= 0) == (hi >= 0):
            r.s32_min = lo
            r.s32_max = hi
            r.u32_min = lo & M32
            r.u32_max = hi & M32
            r.var_off = T.subreg(T.trange(lo & M64, hi & M64))
            return
    lo = -(1 << (size * 8 - 1))
    r.s32_min = lo
    r.s32_max = -lo - 1
    r.u32_min = 0
    r.u32_max = U32_MAX
    r.var_off = T.subreg(T.UNKNOWN)


# --- ALU transfer functions --------------------------------------------------------------------

class Width(NamedTuple):
    """One of the two domains the kernel tracks, for the transfer functions written once:
    the 64-bit bounds (``smin_value``...) or the 32-bit subregister's (``s32_min_value``...)."""

    bits: int
    smin: int
    smax: int
    umax: int


W32 = Width(32, S32_MIN, S32_MAX, U32_MAX)
W64 = Width(64, S64_MIN, S64_MAX, U64_MAX)


def _bounds(r: RegState, w: Width) -> tuple[int, int, int, int]:
    """(smin, smax, umin, umax) of ``r`` in the domain ``w``."""
    if w is W64:
        return r.smin, r.smax, r.umin, r.umax
    return r.s32_min, r.s32_max, r.u32_min, r.u32_max


def _set_bounds(r: RegState, w: Width, smin: int, smax: int, umin: int, umax: int) -> None:
    if w is W64:
        r.smin, r.smax, r.umin, r.umax = smin, smax, umin, umax
    else:
        r.s32_min, r.s32_max, r.u32_min, r.u32_max = smin, smax, umin, umax


def _signed(x: int, w: Width) -> int:
    """The unsigned ``x`` of the domain read as signed."""
    return x - ((x >> (w.bits - 1)) << w.bits)


def _add(d: RegState, s: RegState, w: Width) -> None:
    """``scalar{32,}_min_max_add``: a signed overflow on either end loses the signed
    range; an unsigned sum that wraps on one end only loses the unsigned range."""
    dsmin, dsmax, dumin, dumax = _bounds(d, w)
    ssmin, ssmax, sumin, sumax = _bounds(s, w)
    smin, smax = dsmin + ssmin, dsmax + ssmax
    if not (w.smin <= smin <= w.smax) or not (w.smin <= smax <= w.smax):
        smin, smax = w.smin, w.smax
    umin, umax = dumin + sumin, dumax + sumax
    if umin <= w.umax < umax:
        umin, umax = 0, w.umax
    else:
        umin, umax = umin & w.umax, umax & w.umax
    _set_bounds(d, w, smin, smax, umin, umax)


def _sub(d: RegState, s: RegState, w: Width) -> None:
    """``scalar{32,}_min_max_sub``."""
    dsmin, dsmax, dumin, dumax = _bounds(d, w)
    ssmin, ssmax, sumin, sumax = _bounds(s, w)
    smin, smax = dsmin - ssmax, dsmax - ssmin
    if not (w.smin <= smin <= w.smax) or not (w.smin <= smax <= w.smax):
        smin, smax = w.smin, w.smax
    umin, umax = dumin - sumax, dumax - sumin
    if umin < 0 <= umax:
        umin, umax = 0, w.umax
    else:
        umin, umax = umin & w.umax, umax & w.umax
    _set_bounds(d, w, smin, smax, umin, umax)


def _mul(d: RegState, s: RegState, w: Width) -> None:
    """``scalar{32,}_min_max_mul``: the product of the ranges' corners, unless one overflows."""
    dsmin, dsmax, dumin, dumax = _bounds(d, w)
    ssmin, ssmax, sumin, sumax = _bounds(s, w)
    umin, umax = dumin * sumin, dumax * sumax
    if umax > w.umax or umin > w.umax:
        umin, umax = 0, w.umax
    prods = (dsmin * ssmin, dsmin * ssmax, dsmax * ssmin, dsmax * ssmax)
    smin, smax = min(prods), max(prods)
    if smin < w.smin or smax > w.smax:
        smin, smax = w.smin, w.smax
    _set_bounds(d, w, smin, smax, umin, umax)


def _signed_from_unsigned(d: RegState, w: Width) -> None:
    """The signed range from the unsigned one when it does not cross the sign boundary."""
    smin, smax, umin, umax = _bounds(d, w)
    lo, hi = _signed(umin, w), _signed(umax, w)
    if lo <= hi:
        smin, smax = lo, hi
    else:
        smin, smax = w.smin, w.smax
    _set_bounds(d, w, smin, smax, umin, umax)


_AND: Final = 0
_OR: Final = 1
_XOR: Final = 2


def _bitwise(d: RegState, s: RegState, src_vo: tuple[int, int], w: Width, op: int) -> None:
    """``scalar{32,}_min_max_{and,or,xor}`` (``d.var_off`` already holds the result): a
    known result (both operands known in the domain) becomes that constant; otherwise the
    unsigned range comes from the tnum and the operands, the signed one from that."""
    v, m = d.var_off[0] & w.umax, d.var_off[1] & w.umax
    if not (src_vo[1] & w.umax) and not m:
        if w is W64:
            mark_known(d, v)
        else:
            mark_reg32_known(d, v)
        return
    smin, smax, umin, umax = _bounds(d, w)
    _, _, s_umin, s_umax = _bounds(s, w)
    if op == _AND:
        umin, umax = v, min(umax, s_umax)
    elif op == _OR:
        umin, umax = max(umin, s_umin), v | m
    else:
        umin, umax = v, v | m
    _set_bounds(d, w, smin, smax, umin, umax)
    _signed_from_unsigned(d, w)
    if w is W64:
        update_bounds(d)  # the 64-bit functions end with __update_reg_bounds


def add32(d: RegState, s: RegState) -> None:
    _add(d, s, W32)


def add64(d: RegState, s: RegState) -> None:
    _add(d, s, W64)


def sub32(d: RegState, s: RegState) -> None:
    _sub(d, s, W32)


def sub64(d: RegState, s: RegState) -> None:
    _sub(d, s, W64)


def mul32(d: RegState, s: RegState) -> None:
    _mul(d, s, W32)


def mul64(d: RegState, s: RegState) -> None:
    _mul(d, s, W64)


def and32(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    _bitwise(d, s, src_vo, W32, _AND)


def and64(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    _bitwise(d, s, src_vo, W64, _AND)


def or32(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    _bitwise(d, s, src_vo, W32, _OR)


def or64(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    _bitwise(d, s, src_vo, W64, _OR)


def xor32(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    _bitwise(d, s, src_vo, W32, _XOR)


def xor64(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    _bitwise(d, s, src_vo, W64, _XOR)


def _lsh32_bounds(d: RegState, umin_val: int, umax_val: int) -> None:
    d.s32_min, d.s32_max = S32_MIN, S32_MAX
    if umax_val > 31 or d.u32_max > (1 << (31 - umax_val)):
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min = (d.u32_min << umin_val) & M32
        d.u32_max = (d.u32_max << umax_val) & M32


def lsh32(d: RegState, s: RegState) -> None:
    umin_val, umax_val = s.u32_min, s.u32_max
    sub_ = T.subreg(d.var_off)
    _lsh32_bounds(d, umin_val, umax_val)
    d.var_off = T.subreg(T.lshift(sub_, umin_val))
    mark_reg64_unbounded(d)
    update_bounds32(d)


def _lsh64_bounds(d: RegState, umin_val: int, umax_val: int) -> None:
    if umin_val == 32 and umax_val == 32 and d.s32_max >= 0:
        d.smax = d.s32_max << 32
    else:
        d.smax = S64_MAX
    if umin_val == 32 and umax_val == 32 and d.s32_min >= 0:
        d.smin = d.s32_min << 32
    else:
        d.smin = S64_MIN
    if d.umax > (1 << (63 - umax_val)):
        d.umin, d.umax = 0, U64_MAX
    else:
        d.umin = (d.umin << umin_val) & M64
        d.umax = (d.umax << umax_val) & M64


def lsh64(d: RegState, s: RegState) -> None:
    umin_val, umax_val = s.umin, s.umax
    _lsh64_bounds(d, umin_val, umax_val)
    _lsh32_bounds(d, umin_val, umax_val)
    d.var_off = T.lshift(d.var_off, umin_val)
    update_bounds(d)


def rsh32(d: RegState, s: RegState) -> None:
    sub_ = T.subreg(d.var_off)
    umax_val, umin_val = s.u32_max, s.u32_min
    d.s32_min, d.s32_max = S32_MIN, S32_MAX
    d.var_off = T.rshift(sub_, umin_val)
    d.u32_min >>= umax_val
    d.u32_max >>= umin_val
    mark_reg64_unbounded(d)
    update_bounds32(d)


def rsh64(d: RegState, s: RegState) -> None:
    umax_val, umin_val = s.umax, s.umin
    d.smin, d.smax = S64_MIN, S64_MAX
    d.var_off = T.rshift(d.var_off, umin_val)
    d.umin >>= umax_val
    d.umax >>= umin_val
    mark_reg32_unbounded(d)
    update_bounds(d)


def arsh32(d: RegState, s: RegState) -> None:
    n = s.u32_min
    d.s32_min = s32(d.s32_min >> n)
    d.s32_max = s32(d.s32_max >> n)
    d.var_off = T.arshift(T.subreg(d.var_off), n, 32)
    d.u32_min, d.u32_max = 0, U32_MAX
    mark_reg64_unbounded(d)
    update_bounds32(d)


def arsh64(d: RegState, s: RegState) -> None:
    n = s.umin
    d.smin >>= n
    d.smax >>= n
    d.var_off = T.arshift(d.var_off, n, 64)
    d.umin, d.umax = 0, U64_MAX
    mark_reg32_unbounded(d)
    update_bounds(d)


# --- conditional jumps ------------------------------------------------------------------------

# BPF_JEQ ... BPF_JSLE operation codes (op >> 4) as in kernel_model.isa
JEQ: Final = 0x10
JGT: Final = 0x20
JGE: Final = 0x30
JSET: Final = 0x40
JNE: Final = 0x50
JSGT: Final = 0x60
JSGE: Final = 0x70
JLT: Final = 0xA0
JLE: Final = 0xB0
JSLT: Final = 0xC0
JSLE: Final = 0xD0
JSET_NOT: Final = JSET | 0x08  # "BPF_JSET | BPF_X": the false branch of JSET (rev_opcode)

_FLIP: Final = {JEQ: JEQ, JNE: JNE, JSET: JSET, JGE: JLE, JGT: JLT, JLE: JGE, JLT: JGT,
         JSGE: JSLE, JSGT: JSLT, JSLE: JSGE, JSLT: JSGT}
_REV: Final = {JEQ: JNE, JNE: JEQ, JSET: JSET_NOT, JSET_NOT: JSET, JGE: JLT, JGT: JLE, JLE: JGT, JLT: JGE,
        JSGE: JSLT, JSGT: JSLE, JSLE: JSGT, JSLT: JSGE}


def flip_opcode(op: int) -> int:
    """``a op b`` as ``b op' a`` (``flip_opcode``)."""
    return _FLIP.get(op, 0)


def rev_opcode(op: int) -> int:
    """The opcode of the false branch (``rev_opcode``)."""
    return _REV.get(op, 0)


def _is_const(r: RegState, w32: bool) -> bool:
    from .regs import SCALAR_VALUE
    if r.type != SCALAR_VALUE:
        return False
    return not (r.var_off[1] & M32) if w32 else r.var_off[1] == 0


def scalar_branch_taken(r1: RegState, r2: RegState, op: int, w32: bool) -> int:
    """``is_scalar_branch_taken``: 1 taken, 0 not taken, -1 unknown."""
    if w32:
        t1, t2 = T.subreg(r1.var_off), T.subreg(r2.var_off)
        umin1, umax1, smin1, smax1 = r1.u32_min, r1.u32_max, r1.s32_min, r1.s32_max
        umin2, umax2, smin2, smax2 = r2.u32_min, r2.u32_max, r2.s32_min, r2.s32_max
    else:
        t1, t2 = r1.var_off, r2.var_off
        umin1, umax1, smin1, smax1 = r1.umin, r1.umax, r1.smin, r1.smax
        umin2, umax2, smin2, smax2 = r2.umin, r2.umax, r2.smin, r2.smax
    if op == JEQ or op == JNE:
        eq = op == JEQ
        if t1[1] == 0 and t2[1] == 0:
            return int((t1[0] == t2[0]) == eq)
        if not T.overlap(t1, t2):
            return 0 if eq else 1
        if umin1 > umax2 or umax1 < umin2:
            return 0 if eq else 1
        if smin1 > smax2 or smax1 < smin2:
            return 0 if eq else 1
        if not w32:
            if r1.u32_min > r2.u32_max or r1.u32_max < r2.u32_min:
                return 0 if eq else 1
            if r1.s32_min > r2.s32_max or r1.s32_max < r2.s32_min:
                return 0 if eq else 1
        return -1
    if op == JSET:
        if not _is_const(r2, w32):
            r1, r2 = r2, r1
            t1, t2 = t2, t1
        if not _is_const(r2, w32):
            return -1
        if (~t1[1] & t1[0]) & t2[0]:
            return 1
        if not ((t1[1] | t1[0]) & t2[0]):
            return 0
        return -1
    if op == JGT:
        return 1 if umin1 > umax2 else (0 if umax1 <= umin2 else -1)
    if op == JSGT:
        return 1 if smin1 > smax2 else (0 if smax1 <= smin2 else -1)
    if op == JLT:
        return 1 if umax1 < umin2 else (0 if umin1 >= umax2 else -1)
    if op == JSLT:
        return 1 if smax1 < smin2 else (0 if smin1 >= smax2 else -1)
    if op == JGE:
        return 1 if umin1 >= umax2 else (0 if umax1 < umin2 else -1)
    if op == JSGE:
        return 1 if smin1 >= smax2 else (0 if smax1 < smin2 else -1)
    if op == JLE:
        return 1 if umax1 <= umin2 else (0 if umin1 > umax2 else -1)
    if op == JSLE:
        return 1 if smax1 <= smin2 else (0 if smin1 > smax2 else -1)
    return -1


def refine_cond_op(r1: RegState, r2: RegState, op: int, w32: bool) -> None:
    """``regs_refine_cond_op``: narrow both operands assuming ``r1 op r2`` holds."""
    if op in (JGE, JGT, JSGE, JSGT):
        op = _FLIP[op]
        r1, r2 = r2, r1
    if op == JEQ:
        if w32:
            r1.u32_min = max(r1.u32_min, r2.u32_min)
            r1.u32_max = min(r1.u32_max, r2.u32_max)
            r1.s32_min = max(r1.s32_min, r2.s32_min)
            r1.s32_max = min(r1.s32_max, r2.s32_max)
            r2.u32_min, r2.u32_max = r1.u32_min, r1.u32_max
            r2.s32_min, r2.s32_max = r1.s32_min, r1.s32_max
            t = T.intersect(T.subreg(r1.var_off), T.subreg(r2.var_off))
            r1.var_off = T.with_subreg(r1.var_off, t)
            r2.var_off = T.with_subreg(r2.var_off, t)
        else:
            r1.umin = max(r1.umin, r2.umin)
            r1.umax = min(r1.umax, r2.umax)
            r1.smin = max(r1.smin, r2.smin)
            r1.smax = min(r1.smax, r2.smax)
            r2.umin, r2.umax = r1.umin, r1.umax
            r2.smin, r2.smax = r1.smin, r1.smax
            r1.var_off = T.intersect(r1.var_off, r2.var_off)
            r2.var_off = r1.var_off
    elif op == JNE:
        if not _is_const(r2, w32):
            r1, r2 = r2, r1
        if not _is_const(r2, w32):
            return
        val = r2.var_off[0]
        if w32:
            v = val & M32
            if r1.u32_min == v:
                r1.u32_min += 1
            if r1.u32_max == v:
                r1.u32_max -= 1
            if r1.s32_min == s32(v):
                r1.s32_min += 1
            if r1.s32_max == s32(v):
                r1.s32_max -= 1
        else:
            if r1.umin == val:
                r1.umin += 1
            if r1.umax == val:
                r1.umax -= 1
            if r1.smin == s64(val):
                r1.smin += 1
            if r1.smax == s64(val):
                r1.smax -= 1
    elif op == JSET:
        if not _is_const(r2, w32):
            r1, r2 = r2, r1
        if not _is_const(r2, w32):
            return
        val = r2.var_off[0] & (M32 if w32 else M64)
        if val == 0 or (val & (val - 1)):
            return
        if w32:
            t = T.t_or(T.subreg(r1.var_off), (val, 0))
            r1.var_off = T.with_subreg(r1.var_off, t)
        else:
            r1.var_off = T.t_or(r1.var_off, (val, 0))
    elif op == JSET_NOT:
        if not _is_const(r2, w32):
            r1, r2 = r2, r1
        if not _is_const(r2, w32):
            return
        from .regs import mark_unbounded
        val = r2.var_off[0] & (M32 if w32 else M64)
        mark_unbounded(r1)
        if w32:
            t = T.t_and(T.subreg(r1.var_off), (~val & M64, 0))
            r1.var_off = T.with_subreg(r1.var_off, t)
        else:
            r1.var_off = T.t_and(r1.var_off, (~val & M64, 0))
    elif op == JLE:
        if w32:
            r1.u32_max = min(r1.u32_max, r2.u32_max)
            r2.u32_min = max(r1.u32_min, r2.u32_min)
        else:
            r1.umax = min(r1.umax, r2.umax)
            r2.umin = max(r1.umin, r2.umin)
    elif op == JLT:
        if w32:
            r1.u32_max = min(r1.u32_max, (r2.u32_max - 1) & M32)
            r2.u32_min = max((r1.u32_min + 1) & M32, r2.u32_min)
        else:
            r1.umax = min(r1.umax, (r2.umax - 1) & M64)
            r2.umin = max((r1.umin + 1) & M64, r2.umin)
    elif op == JSLE:
        if w32:
            r1.s32_max = min(r1.s32_max, r2.s32_max)
            r2.s32_min = max(r1.s32_min, r2.s32_min)
        else:
            r1.smax = min(r1.smax, r2.smax)
            r2.smin = max(r1.smin, r2.smin)
    elif op == JSLT:
        if w32:
            r1.s32_max = min(r1.s32_max, s32(r2.s32_max - 1))
            r2.s32_min = max(s32(r1.s32_min + 1), r2.s32_min)
        else:
            r1.smax = min(r1.smax, s64(r2.smax - 1))
            r2.smin = max(s64(r1.smin + 1), r2.smin)


def range_within(old: RegState, cur: RegState) -> bool:
    """``range_within``: every bound of ``cur`` lies inside ``old``'s."""
    return (old.umin <= cur.umin and old.umax >= cur.umax and old.smin <= cur.smin and old.smax >= cur.smax
            and old.u32_min <= cur.u32_min and old.u32_max >= cur.u32_max and old.s32_min <= cur.s32_min
            and old.s32_max >= cur.s32_max)
