"""The 32- and 64-bit ALU bound functions written out twice, as verifier/scalar.py had
them before they became one implementation parametrised by the domain: the reference
tests/verifier/test_domain.py compares the parametrised ones with (kernel/bpf/verifier.c,
``scalar{32,}_min_max_{add,sub,mul,and,or,xor}``, Linux 6.18)."""

from __future__ import annotations

from verifier import tnum as T
from verifier.regs import (
    S32_MAX, S32_MIN, S64_MAX, S64_MIN, U32_MAX, U64_MAX, RegState, mark_known, mark_reg32_known, s32, s64,
)
from verifier.scalar import update_bounds

M32, M64 = U32_MAX, U64_MAX

def add32(d: RegState, s: RegState) -> None:
    smin = d.s32_min + s.s32_min
    smax = d.s32_max + s.s32_max
    if not (S32_MIN <= smin <= S32_MAX) or not (S32_MIN <= smax <= S32_MAX):
        d.s32_min, d.s32_max = S32_MIN, S32_MAX
    else:
        d.s32_min, d.s32_max = smin, smax
    umin = d.u32_min + s.u32_min
    umax = d.u32_max + s.u32_max
    if umin <= M32 and umax > M32:
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min, d.u32_max = umin & M32, umax & M32


def add64(d: RegState, s: RegState) -> None:
    smin = d.smin + s.smin
    smax = d.smax + s.smax
    if not (S64_MIN <= smin <= S64_MAX) or not (S64_MIN <= smax <= S64_MAX):
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = smin, smax
    umin = d.umin + s.umin
    umax = d.umax + s.umax
    if umin <= M64 and umax > M64:
        d.umin, d.umax = 0, U64_MAX
    else:
        d.umin, d.umax = umin & M64, umax & M64


def sub32(d: RegState, s: RegState) -> None:
    smin = d.s32_min - s.s32_max
    smax = d.s32_max - s.s32_min
    if not (S32_MIN <= smin <= S32_MAX) or not (S32_MIN <= smax <= S32_MAX):
        d.s32_min, d.s32_max = S32_MIN, S32_MAX
    else:
        d.s32_min, d.s32_max = smin, smax
    umin = d.u32_min - s.u32_max
    umax = d.u32_max - s.u32_min
    if umin < 0 and umax >= 0:
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min, d.u32_max = umin & M32, umax & M32


def sub64(d: RegState, s: RegState) -> None:
    smin = d.smin - s.smax
    smax = d.smax - s.smin
    if not (S64_MIN <= smin <= S64_MAX) or not (S64_MIN <= smax <= S64_MAX):
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = smin, smax
    umin = d.umin - s.umax
    umax = d.umax - s.umin
    if umin < 0 and umax >= 0:
        d.umin, d.umax = 0, U64_MAX
    else:
        d.umin, d.umax = umin & M64, umax & M64


def mul32(d: RegState, s: RegState) -> None:
    umax = d.u32_max * s.u32_max
    umin = d.u32_min * s.u32_min
    if umax > M32 or umin > M32:
        d.u32_min, d.u32_max = 0, U32_MAX
    else:
        d.u32_min, d.u32_max = umin, umax
    prods = (d.s32_min * s.s32_min, d.s32_min * s.s32_max, d.s32_max * s.s32_min, d.s32_max * s.s32_max)
    if any(p < S32_MIN or p > S32_MAX for p in prods):
        d.s32_min, d.s32_max = S32_MIN, S32_MAX
    else:
        d.s32_min, d.s32_max = min(prods), max(prods)


def mul64(d: RegState, s: RegState) -> None:
    umax = d.umax * s.umax
    umin = d.umin * s.umin
    if umax > M64 or umin > M64:
        d.umin, d.umax = 0, U64_MAX
    else:
        d.umin, d.umax = umin, umax
    prods = (d.smin * s.smin, d.smin * s.smax, d.smax * s.smin, d.smax * s.smax)
    if any(p < S64_MIN or p > S64_MAX for p in prods):
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = min(prods), max(prods)


def _s32_from_u32(d: RegState) -> None:
    if s32(d.u32_min) <= s32(d.u32_max):
        d.s32_min, d.s32_max = s32(d.u32_min), s32(d.u32_max)
    else:
        d.s32_min, d.s32_max = S32_MIN, S32_MAX


def _s64_from_u64(d: RegState) -> None:
    if s64(d.umin) <= s64(d.umax):
        d.smin, d.smax = s64(d.umin), s64(d.umax)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX


def and32(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    """``scalar32_min_max_and`` (``d.var_off`` already holds the AND result)."""
    v32 = T.subreg(d.var_off)
    if not (src_vo[1] & M32) and not (v32[1]):
        mark_reg32_known(d, v32[0])
        return
    d.u32_min = v32[0]
    d.u32_max = min(d.u32_max, s.u32_max)
    _s32_from_u32(d)


def and64(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    if src_vo[1] == 0 and d.var_off[1] == 0:
        mark_known(d, d.var_off[0])
        return
    d.umin = d.var_off[0]
    d.umax = min(d.umax, s.umax)
    _s64_from_u64(d)
    update_bounds(d)


def or32(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    v32 = T.subreg(d.var_off)
    if not (src_vo[1] & M32) and not v32[1]:
        mark_reg32_known(d, v32[0])
        return
    d.u32_min = max(d.u32_min, s.u32_min)
    d.u32_max = v32[0] | v32[1]
    _s32_from_u32(d)


def or64(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    if src_vo[1] == 0 and d.var_off[1] == 0:
        mark_known(d, d.var_off[0])
        return
    d.umin = max(d.umin, s.umin)
    d.umax = d.var_off[0] | d.var_off[1]
    _s64_from_u64(d)
    update_bounds(d)


def xor32(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    v32 = T.subreg(d.var_off)
    if not (src_vo[1] & M32) and not v32[1]:
        mark_reg32_known(d, v32[0])
        return
    d.u32_min = v32[0]
    d.u32_max = v32[0] | v32[1]
    _s32_from_u32(d)


def xor64(d: RegState, s: RegState, src_vo: tuple[int, int]) -> None:
    if src_vo[1] == 0 and d.var_off[1] == 0:
        mark_known(d, d.var_off[0])
        return
    d.umin = d.var_off[0]
    d.umax = d.var_off[0] | d.var_off[1]
    _s64_from_u64(d)
    update_bounds(d)


