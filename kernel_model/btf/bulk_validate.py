"""The rules of validate.py, checked in bulk over a decoded blob's words.

Not a kernel function: the same rules as validate_btf() (the kernel's
btf_check_all_metas()/btf_check_all_types() of kernel/bpf/btf.c, Linux
6.12/6.18), arranged so that a valid vmlinux (126,000 types) is accepted in
about 0.15 s instead of half a second: type ids are checked as column
minima/maxima, names against the set of the string table's identifiers,
member layouts as whole columns with C-level maps; typedef/modifier/array
chains are resolved once to their size and to the struct they hold, so the
loop search walks structs only. :func:`section_ok` only *accepts*: when it
returns False, validate_btf() applies the rules type by type and reports the
first one broken with the kernel's message, so this module may be stricter
than the kernel (a nonzero name offset that points at an empty string, say)
but never looser. tests/kernel_model/btf/test_bulk.py holds the two paths to
the same verdicts.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate, chain, compress, count as count_from, islice, repeat
from operator import add, floordiv, gt, mul, sub
from typing import TYPE_CHECKING

from . import structs as S
from .errors import BTFError
from .section import kind_table
from .structs import MODIFIER_KINDS
from .validate import KSYM_NAME_LEN, U32_MAX

if TYPE_CHECKING:
    from .btf import BTF
    from .codec import StringTable
    from .section import TypeSection

__all__ = ["section_ok", "identifier_offsets"]

_DIGITS = [bytes([c]) for c in b"0123456789"]
_DIGIT_START = re.compile(rb"\0[0-9]")
_MARK_BAD = bytes(c if c == 0 or chr(c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_."
                  else 0xFF for c in range(256))
_TOO_LONG = re.compile(rb"(?:(?<=\0)|\A)[^\0]{%d,}" % KSYM_NAME_LEN)
_MODIFIERS = (S.KIND_TYPEDEF, S.KIND_VOLATILE, S.KIND_CONST, S.KIND_RESTRICT, S.KIND_TYPE_TAG)
_VALUE_CHAIN = _MODIFIERS + (S.KIND_VAR,)     # one successor, at word 2
_PTR_SINKS = frozenset({S.KIND_STRUCT, S.KIND_UNION, S.KIND_FWD, S.KIND_FUNC_PROTO})
_SIZED = (S.KIND_INT, S.KIND_STRUCT, S.KIND_UNION, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_FLOAT, S.KIND_DATASEC)
_CHAIN_SET = frozenset(_VALUE_CHAIN)
_PTR_CHAIN = _MODIFIERS + (S.KIND_PTR, S.KIND_ARRAY)


def identifier_offsets(table: StringTable) -> set[int]:
    """Offsets of the strings of ``table`` (and its bases) that pass btf_name_valid_identifier().

    Only string starts: an offset into the middle of a string is not in the set.
    """
    names = table.names()
    d = table.data
    base = table.start_off
    bad: set[int] = set()
    marked = d.translate(_MARK_BAD)  # every byte outside [A-Za-z0-9_.] and NUL becomes 0xFF
    i = marked.find(0xFF)
    while i >= 0:
        bad.add(d.rfind(0, 0, i) + 1 + base)
        end = d.find(0, i)
        i = marked.find(0xFF, end) if end >= 0 else -1  # on to the next string
    starts = names.starts
    if len(starts) > 1 and max(map(sub, starts[1:], starts)) > KSYM_NAME_LEN:
        bad.update(m.start() + base for m in _TOO_LONG.finditer(d))
    bad.update(m.start() + 1 + base for m in _DIGIT_START.finditer(d))
    if d[:1] in _DIGITS:
        bad.add(base)
    good = set(starts)
    good -= bad
    good.difference_update(names.empties)
    if table.base is not None:
        good |= identifier_offsets(table.base)
    return good


def section_ok(btf: BTF, sec: TypeSection) -> bool:
    """Whether every rule of validate_btf() holds for ``btf``, whose own types are ``sec``.

    False means "not vouched for", not "invalid".
    """
    try:
        return _rules_hold(btf, sec)
    except (IndexError, KeyError, ValueError, BTFError):  # an id or offset outside every table
        return False


class _Positions:
    """``by[kind]``: word indexes of ``sec``'s records of ``kind``."""

    __slots__ = ("sec",)

    def __init__(self, sec: TypeSection) -> None:
        self.sec = sec

    def __getitem__(self, kind: int) -> list[int]:
        return self.sec.positions(kind)


def _rules_hold(btf: BTF, sec: TypeSection) -> bool:  # noqa: C901 - one pass per kind, as validate_btf()
    w = sec.words
    by = _Positions(sec)
    count = btf.type_count
    K = kind_table(btf)
    names = sec.strtab.names()
    name = names.__getitem__
    idents: list[int] = []       # name offsets that must be valid identifiers
    opt_idents: list[int] = []   # name offsets that must be empty or valid identifiers

    column = sec.column

    def ids_ok(ids: list[int]) -> bool:
        return not ids or (min(ids) > 0 and max(ids) < count)

    # FUNC: named, static/global, of a FUNC_PROTO.
    fn = by[S.KIND_FUNC]
    if fn:
        idents += column(S.KIND_FUNC, 0)
        if max(column(S.KIND_FUNC, 1)) & 0xFFFF > S.FUNC_GLOBAL:
            return False
        targets = column(S.KIND_FUNC, 2)
        if not ids_ok(targets) or bytes(map(K.__getitem__, targets)).count(S.KIND_FUNC_PROTO) != len(targets):
            return False

    # FUNC_PROTO: unnamed; return and parameter types in range; '...' only last and unnamed.
    protos = by[S.KIND_FUNC_PROTO]
    if protos:
        if any(column(S.KIND_FUNC_PROTO, 0)) or max(column(S.KIND_FUNC_PROTO, 2)) >= count:
            return False
        params = sec.item_words(S.KIND_FUNC_PROTO)
        ptypes = params[1::2]
        if ptypes:
            if max(ptypes) >= count:
                return False
            if 0 in ptypes:
                for p in protos:
                    v = w[p + 1] & 0xFFFF
                    if v and 0 in w[p + 4:p + 3 + 2 * v:2]:
                        if w[p + 4:p + 3 + 2 * v:2].index(0) != v - 1 or name(w[p + 1 + 2 * v]):
                            return False
            opt_idents += params[0::2]

    # Modifiers, pointers, typedefs, type tags: names as their kind wants, target in range.
    for kind in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF, S.KIND_TYPE_TAG):
        if not by[kind]:
            continue
        if max(column(kind, 2)) >= count:
            return False
        offs = column(kind, 0)
        if kind == S.KIND_TYPEDEF:
            idents += offs
        elif kind == S.KIND_TYPE_TAG:
            if not all(map(name, offs)):
                return False
        elif any(offs):
            return False

    # ARRAY: unnamed, element and index in range.
    if by[S.KIND_ARRAY]:
        if any(column(S.KIND_ARRAY, 0)) or not ids_ok(column(S.KIND_ARRAY, 3)) \
                or not ids_ok(column(S.KIND_ARRAY, 4)):
            return False

    # ENUM/ENUM64: size 1/2/4/8, optional name, named enumerators.
    for kind, stride in ((S.KIND_ENUM, 2), (S.KIND_ENUM64, 3)):
        if not by[kind]:
            continue
        if not set(column(kind, 2)) <= {1, 2, 4, 8}:
            return False
        opt_idents += column(kind, 0)
        for p in by[kind]:
            v = w[p + 1] & 0xFFFF
            if v:
                idents += w[p + 3:p + 3 + stride * v:stride]

    # INT, FLOAT, FWD, VAR.
    for p in by[S.KIND_INT]:
        size, data = w[p + 2], w[p + 3]
        bits = (data & 0xFF) + ((data >> 16) & 0xFF)
        if bits > 128 or (bits + 7) // 8 > size or (data >> 24) & 0x0F not in (0, S.INT_SIGNED, S.INT_CHAR,
                                                                               S.INT_BOOL):
            return False
    if by[S.KIND_FLOAT]:
        idents += column(S.KIND_FLOAT, 0)
        if not set(column(S.KIND_FLOAT, 2)) <= {2, 4, 8, 12, 16}:
            return False
    idents += column(S.KIND_FWD, 0)
    if by[S.KIND_VAR]:
        idents += column(S.KIND_VAR, 0)
        vt = column(S.KIND_VAR, 2)
        if not ids_ok(vt) or max(column(S.KIND_VAR, 3)) > S.VAR_GLOBAL_EXTERN:
            return False
        if set(map(K.__getitem__, vt)) & {S.KIND_FUNC, S.KIND_FUNC_PROTO, S.KIND_VAR, S.KIND_DATASEC,
                                          S.KIND_DECL_TAG}:
            return False

    # DATASEC: entries in order, inside the section, each a VAR.
    for p in by[S.KIND_DATASEC]:
        size = w[p + 2]
        nm = name(w[p])
        if not size or not 0 < len(nm) < KSYM_NAME_LEN or not all(" " <= c <= "~" for c in nm):
            return False
        last_end = 0
        v = w[p + 1] & 0xFFFF
        for q in range(p + 3, p + 3 + 3 * v, 3):
            tid, off, vsize = w[q], w[q + 1], w[q + 2]
            if not 0 < tid < count or off < last_end or off >= size or not vsize or vsize > size:
                return False
            last_end = off + vsize
            if last_end > size or K[tid] != S.KIND_VAR:
                return False

    # DECL_TAG: a non-empty tag on a struct, union, var, func or typedef (or one of its parts).
    signed = sec.signed_words
    for p in by[S.KIND_DECL_TAG]:
        tid, ci = w[p + 2], signed[p + 3]
        if not name(w[p]) or ci < -1 or not 0 < tid < count:
            return False
        tk = K[tid]
        if tk not in (S.KIND_STRUCT, S.KIND_UNION, S.KIND_VAR, S.KIND_FUNC, S.KIND_TYPEDEF):
            return False
        if ci != -1:
            if tk in (S.KIND_VAR, S.KIND_TYPEDEF):
                return False
            target = btf.type_by_id(tid)
            if tk == S.KIND_FUNC:
                proto = btf.type_by_id(target.type_id)  # type: ignore[attr-defined]
                nparts = len(proto.params) if proto.kind == S.KIND_FUNC_PROTO else 0  # type: ignore[attr-defined]
            else:
                nparts = len(target.members)  # type: ignore[attr-defined]
            if ci >= nparts:
                return False

    return _layouts_ok(btf, sec, K, opt_idents) and _names_ok(sec, idents, opt_idents)


def _names_ok(sec: TypeSection, idents: list[int], opt_idents: list[int]) -> bool:
    good = identifier_offsets(sec.strtab)
    return good.issuperset(idents) and good.issuperset(filter(None, opt_idents))


def _layouts_ok(btf: BTF, sec: TypeSection, K: bytes, opt_idents: list[int]) -> bool:
    """No loops; STRUCT/UNION members in order, sized and inside; arrays sized and under 4 GiB with
    an int index (btf_struct_resolve(), btf_array_resolve(), validate._check_loops())."""
    w = sec.words
    chains = _chains(btf, sec, K)
    if chains is None:
        return False  # typedefs/modifiers/arrays/vars in a loop
    size, term = chains
    target = _target_of(btf, sec)

    # Members, one column per field over all records of a group (kind_flag clear: offsets are
    # plain bit offsets; set: bitfields, checked member by member).
    for kind in (S.KIND_STRUCT, S.KIND_UNION):
        is_union = kind == S.KIND_UNION
        items = array("I")
        vlens: list[int] = []
        sizes: list[int] = []
        flagged: list[int] = []
        for p in sec.positions(kind):
            info = w[p + 1]
            v = info & 0xFFFF
            if info >> 31:
                flagged.append(p)
            elif v:
                items += w[p + 3:p + 3 + 3 * v]
                vlens.append(v)
                sizes.append(w[p + 2])
        opt_idents += [w[p] for p in sec.positions(kind)]
        if items:
            opt_idents += items[0::3]
            msizes = list(map(size.__getitem__, items[1::3]))  # an id past the end raises IndexError
            if min(msizes) < 0:  # void, or a type without a size
                return False
            bits = items[2::3]
            limit = list(chain.from_iterable(map(repeat, sizes, vlens)))  # each member's struct size
            if is_union:
                if any(bits) or any(map(gt, msizes, limit)):
                    return False
            else:
                if any(map(gt, map(add, map(floordiv, bits, repeat(8)), msizes), limit)) or \
                        any(map(gt, map(floordiv, map(add, bits, repeat(7)), repeat(8)), limit)):
                    return False
                # Offsets never go back inside a struct: a drop only where the next one starts.
                starts = set(accumulate(vlens))
                if not starts.issuperset(compress(count_from(1), map(gt, bits, islice(bits, 1, None)))):
                    return False
        for p in flagged:
            v = w[p + 1] & 0xFFFF
            seg = w[p + 3:p + 3 + 3 * v]
            opt_idents += seg[0::3]
            if not _bitfields_fit(K, target, seg[2::3], list(map(size.__getitem__, seg[1::3])), seg[1::3],
                                  w[p + 2], is_union):
                return False

    # ARRAY elements have a size, at most 4 GiB in all (U32_MAX); the index is an int.
    arrays = sec.positions(S.KIND_ARRAY)
    if arrays:
        esizes = list(map(size.__getitem__, [w[p + 3] for p in arrays]))
        if min(esizes) < 0 or any(map(gt, map(mul, esizes, [w[p + 5] for p in arrays]), repeat(U32_MAX))):
            return False
        for idx in set([w[p + 4] for p in arrays]):
            if _resolved_kind(K, target, idx) != S.KIND_INT:
                return False

    return _structs_acyclic(sec, term) and _pointer_chains_end(sec, K)


def _target_of(btf: BTF, sec: TypeSection):  # type: ignore[no-untyped-def]
    """A function: id of a modifier/typedef -> the id it names (own records read from the words)."""
    w = sec.words
    offs = sec.offs
    start = sec.start_id

    def target(tid: int) -> int:
        if tid >= start:
            return w[offs[tid - start] + 2]
        return btf.type_by_id(tid).type_id  # type: ignore[attr-defined]

    return target


def _resolved_kind(K: bytes, target, tid: int) -> int:  # type: ignore[no-untyped-def]
    """The kind of ``tid`` once typedefs and modifiers are skipped (the graph has no loops here)."""
    while K[tid] in MODIFIER_KINDS:
        tid = target(tid)
    return K[tid]


def _bitfields_fit(K: bytes, target, bits: array, msizes: list[int], mtypes: array, size: int,  # type: ignore[no-untyped-def]
                   is_union: bool) -> bool:
    """Members of a kind_flag struct: offsets in order (0 in a union), bitfields on ints/enums and inside."""
    if msizes and min(msizes) < 0:
        return False
    last = 0
    for b, ms, mt in zip(bits, msizes, mtypes):
        off = b & 0xFFFFFF
        bs = b >> 24
        if (is_union and off) or last > off or (off + 7) // 8 > size:
            return False
        last = off
        if bs:
            if _resolved_kind(K, target, mt) not in (S.KIND_INT, S.KIND_ENUM, S.KIND_ENUM64):
                return False
            if bs > ms * 8 or (off + bs + 7) // 8 > size:
                return False
        elif off // 8 + ms > size:
            return False
    return True


def _chains(btf: BTF, sec: TypeSection, K: bytes) -> tuple[list[int], list[int]] | None:
    """(size, term) by id, or None when typedefs/modifiers/arrays/vars loop among themselves.

    ``size``: BTF.size_of(), -1 for a type without one. ``term``: the own STRUCT/UNION a type
    holds by value through typedefs, modifiers, vars and arrays (itself for a struct), 0 if none.
    """
    w = sec.words
    offs = sec.offs
    kinds = sec.kinds
    start = sec.start_id
    count = btf.type_count
    size = [-1] * count
    term = [0] * count
    for kind in _SIZED:
        for tid, p in zip(sec.ids(kind), sec.positions(kind)):
            size[tid] = w[p + 2]
    for tid in sec.ids(S.KIND_PTR):
        size[tid] = 8
    for kind in (S.KIND_STRUCT, S.KIND_UNION):
        for tid in sec.ids(kind):
            term[tid] = tid
    base = btf.base
    array_k = S.KIND_ARRAY
    state = bytearray(sec.n)  # 0 not yet, 1 on the current chain, 2 done
    for kind in _VALUE_CHAIN + (array_k,):
        for root in sec.ids(kind):
            if state[root - start]:
                continue
            path = []
            t = root
            while True:
                if t < start:  # void or a base type: ends the chain
                    s, tm = -1, 0
                    if t and base is not None:
                        try:
                            s = base.size_of(t)
                        except BTFError:
                            s = -1
                    break
                i = t - start
                st = state[i]
                if st == 1:
                    return None
                k = kinds[i]
                if st == 2 or not (k in _CHAIN_SET or k == array_k):
                    s, tm = size[t], term[t]
                    break
                state[i] = 1
                path.append(t)
                t = w[offs[i] + 3] if k == array_k else w[offs[i] + 2]
            for x in reversed(path):
                i = x - start
                if s >= 0 and kinds[i] == array_k:
                    s *= w[offs[i] + 5]
                size[x] = s
                term[x] = tm
                state[i] = 2
    return size, term


def _structs_acyclic(sec: TypeSection, term: list[int]) -> bool:
    """No struct or union holds itself by value, directly or through others ("Loop detected")."""
    w = sec.words
    offs = sec.offs
    start = sec.start_id
    at = term.__getitem__

    def succ(tid: int):  # type: ignore[no-untyped-def]
        p = offs[tid - start]
        return filter(None, map(at, w[p + 4:p + 3 + 3 * (w[p + 1] & 0xFFFF):3]))

    state = bytearray(sec.n)  # 0 new, 1 on the walk's path, 2 done
    for kind in (S.KIND_STRUCT, S.KIND_UNION):
        for root in sec.ids(kind):
            if state[root - start]:
                continue
            state[root - start] = 1
            path = [root]
            stack = [succ(root)]
            while stack:
                for t in stack[-1]:
                    st = state[t - start]
                    if st == 1:
                        return False
                    if st == 0:
                        state[t - start] = 1
                        path.append(t)
                        stack.append(succ(t))
                        break
                else:
                    stack.pop()
                    state[path.pop() - start] = 2
    return True


def _pointer_chains_end(sec: TypeSection, K: bytes) -> bool:
    """The pointer-chain graph has no cycle: pointers, modifiers, typedefs and arrays lead, one
    step each, to a target that is not a struct, union, FWD or FUNC_PROTO (the kernel's
    RESOLVE_PTR mode; validate._check_loops())."""
    w = sec.words
    start = sec.start_id
    kinds = sec.kinds
    n = sec.n
    nxt: dict[int, int] = {}
    for kind in _PTR_CHAIN:
        word = 3 if kind == S.KIND_ARRAY else 2
        for tid, p in zip(sec.ids(kind), sec.positions(kind)):
            tgt = w[p + word] - start
            if 0 <= tgt < n and kinds[tgt] not in _PTR_SINKS:
                nxt[tid - start] = tgt
    state = bytearray(n)
    for r in nxt:
        if state[r]:
            continue
        path = []
        c: int | None = r
        while c is not None:
            st = state[c]
            if st == 1:
                return False
            if st == 2:
                break
            state[c] = 1
            path.append(c)
            c = nxt.get(c)
        for c2 in path:
            state[c2] = 2
    return True
