"""``bpftool btf dump ... format raw`` text.

Models dump_btf_type()/dump_btf_raw() of tools/bpf/bpftool/btf.c as bpftool
7.1.0 (libbpf 1.1) prints them, the version installed on the reference host
(the 6.12 tree's bpftool prints the same plain-text lines): one
``[id] KIND 'name' fields`` line per type, members/params/enumerators/section
entries on following tab-indented lines. A split BTF prints only its own ids,
as bpftool does with ``base``. Left out: JSON output.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from itertools import accumulate, repeat
from operator import add, and_
from typing import TYPE_CHECKING

from . import structs as S

if TYPE_CHECKING:
    from .btf import BTF
    from .section import TypeSection

__all__ = ["format_raw", "raw_lines"]

_INT_ENC = {0: "(none)", S.INT_SIGNED: "SIGNED", S.INT_CHAR: "CHAR", S.INT_BOOL: "BOOL"}
_FUNC_LINKAGE = {S.FUNC_STATIC: "static", S.FUNC_GLOBAL: "global", S.FUNC_EXTERN: "extern"}
_VAR_LINKAGE = {S.VAR_STATIC: "static", S.VAR_GLOBAL_ALLOCATED: "global", S.VAR_GLOBAL_EXTERN: "extern"}


def _n(name: str) -> str:
    return name if name else "(anon)"


def raw_lines(btf: BTF) -> list[str]:
    """The dump as a list of lines (a type with members spans several lines joined by newlines)."""
    sec = btf._section()
    if sec is not None:
        return _section_lines(btf, sec)
    return _object_lines(btf)


def _object_lines(btf: BTF) -> list[str]:
    out: list[str] = []
    w = out.append
    kn = S.KIND_NAMES
    count = btf.type_count
    get = btf.type_by_id
    for tid, t in btf.iter_types():
        k = t.kind
        head = f"[{tid}] {kn[k]} '{t.name or '(anon)'}'"
        if k == S.KIND_FUNC:
            w(f"{head} type_id={t.type_id} linkage={_FUNC_LINKAGE.get(t.linkage, '(unknown)')}")  # type: ignore[attr-defined]
        elif k == S.KIND_FUNC_PROTO:
            parts = [f"{head} ret_type_id={t.ret_type_id} vlen={len(t.params)}"]  # type: ignore[attr-defined]
            for p in t.params:  # type: ignore[attr-defined]
                parts.append(f"\t'{p.name or '(anon)'}' type_id={p.type_id}")
            w("\n".join(parts))
        elif k in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF, S.KIND_TYPE_TAG):
            w(f"{head} type_id={t.type_id}")  # type: ignore[attr-defined]
        elif k in (S.KIND_STRUCT, S.KIND_UNION):
            parts = [f"{head} size={t.size} vlen={len(t.members)}"]  # type: ignore[attr-defined]
            for m in t.members:  # type: ignore[attr-defined]
                line = f"\t'{m.name or '(anon)'}' type_id={m.type_id} bits_offset={m.bits_offset}"
                if m.bitfield_size:
                    line += f" bitfield_size={m.bitfield_size}"
                parts.append(line)
            w("\n".join(parts))
        elif k == S.KIND_ARRAY:
            w(f"{head} type_id={t.type_id} index_type_id={t.index_type_id} nr_elems={t.nelems}")  # type: ignore[attr-defined]
        elif k in (S.KIND_ENUM, S.KIND_ENUM64):
            enc = "SIGNED" if t.signed else "UNSIGNED"  # type: ignore[attr-defined]
            parts = [f"{head} encoding={enc} size={t.size} vlen={len(t.values)}"]  # type: ignore[attr-defined]
            suffix = ("LL" if t.signed else "ULL") if k == S.KIND_ENUM64 else ""  # type: ignore[attr-defined]
            for v in t.values:  # type: ignore[attr-defined]
                parts.append(f"\t'{v.name or '(anon)'}' val={v.value}{suffix}")
            w("\n".join(parts))
        elif k == S.KIND_INT:
            enc = _INT_ENC.get(t.encoding, "UNKN")  # type: ignore[attr-defined]
            w(f"{head} size={t.size} bits_offset={t.bits_offset} nr_bits={t.nr_bits} encoding={enc}")  # type: ignore[attr-defined]
        elif k == S.KIND_FWD:
            w(f"{head} fwd_kind={'union' if t.is_union else 'struct'}")  # type: ignore[attr-defined]
        elif k == S.KIND_VAR:
            w(f"{head} type_id={t.type_id}, linkage={_VAR_LINKAGE.get(t.linkage, '(unknown)')}")  # type: ignore[attr-defined]
        elif k == S.KIND_DATASEC:
            parts = [f"{head} size={t.size} vlen={len(t.vars)}"]  # type: ignore[attr-defined]
            for v in t.vars:  # type: ignore[attr-defined]
                line = f"\ttype_id={v.type_id} offset={v.offset} size={v.size}"
                if v.type_id < count:
                    vt = get(v.type_id)
                    line += f" ({kn.get(vt.kind, 'UNKNOWN')} '{_n(vt.name)}')"
                parts.append(line)
            w("\n".join(parts))
        elif k == S.KIND_FLOAT:
            w(f"{head} size={t.size}")  # type: ignore[attr-defined]
        elif k == S.KIND_DECL_TAG:
            w(f"{head} type_id={t.type_id} component_idx={t.component_idx}")  # type: ignore[attr-defined]
        else:  # pragma: no cover - every kind is handled above
            w(head)
    return out


def format_raw(btf: BTF) -> str:
    """The whole dump, newline-terminated, as ``bpftool btf dump file F format raw`` prints it."""
    sec = btf._section()
    if sec is not None and btf.base is None:
        from .accel import module
        fast = module()
        if fast is not None:
            text = fast.raw_text(sec.words, sec.strtab.data, sec.n)
            if text is not None:
                return text.decode("utf-8", "surrogateescape")
    lines = raw_lines(btf)
    return "\n".join(lines) + "\n" if lines else ""


# ---- the same text straight from a decoded blob's words (section.py) ----------------------------

class _RawNames(dict[int, str]):
    """offset -> name as printed: '(anon)' for an empty one."""

    __slots__ = ("names",)

    def __missing__(self, off: int) -> str:
        s = self.names[off] or "(anon)"  # type: ignore[attr-defined]
        self[off] = s
        return s


def _raw_names(btf: BTF, sec: TypeSection) -> _RawNames:
    names = sec.strtab.names()
    rn = _RawNames(names)
    rn.names = names  # type: ignore[attr-defined]
    for off in names.empties:
        rn[off] = "(anon)"
    rn[0] = "(anon)"
    return rn


def _section_lines(btf: BTF, sec: TypeSection) -> list[str]:  # noqa: C901 - one block per kind
    """raw_lines() of a BTF still held as its blob's words: the same text, built a column at a time.

    Each field becomes text for every record of a kind in one C-level pass (str of ints, names
    looked up by offset) and the pieces are joined per line; records with trailing items
    (members, parameters) take their item lines as one slice of the kind's item lines.
    """
    w = sec.words
    rn = _raw_names(btf, sec)
    name = rn.__getitem__
    kn = S.KIND_NAMES
    start = sec.start_id
    lines: list[str | None] = [None] * sec.n
    put = lines.__setitem__
    by = sec.by_kind
    col = sec.column

    def scatter(kind: int, texts) -> None:  # type: ignore[no-untyped-def]
        deque(map(put, by[kind], texts), maxlen=0)

    count = btf.type_count
    decimal = partial(map, str)

    def ids(kind: int):  # type: ignore[no-untyped-def]
        return map(str, sec.ids(kind))

    def names_of(kind: int):  # type: ignore[no-untyped-def]
        return map(name, col(kind, 0))

    def nums(kind: int, word: int):  # type: ignore[no-untyped-def]
        return decimal(col(kind, word))

    def joined(*columns):  # type: ignore[no-untyped-def]
        return map("".join, zip(*columns))

    # One line, fixed fields.
    if by[S.KIND_FUNC]:
        scatter(S.KIND_FUNC, joined(
            repeat("["), ids(S.KIND_FUNC), repeat("] FUNC '"), names_of(S.KIND_FUNC), repeat("' type_id="),
            nums(S.KIND_FUNC, 2), repeat(" linkage="),
            map(_FUNC_LINKAGE.get, map(and_, col(S.KIND_FUNC, 1), repeat(0xFFFF)), repeat("(unknown)"))))
    for kind in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF, S.KIND_TYPE_TAG):
        if by[kind]:
            scatter(kind, joined(repeat("["), ids(kind), repeat(f"] {kn[kind]} '"), names_of(kind),
                                 repeat("' type_id="), nums(kind, 2)))
    if by[S.KIND_ARRAY]:
        k = S.KIND_ARRAY
        scatter(k, joined(repeat("["), ids(k), repeat("] ARRAY '"), names_of(k), repeat("' type_id="), nums(k, 3),
                          repeat(" index_type_id="), nums(k, 4), repeat(" nr_elems="), nums(k, 5)))
    if by[S.KIND_FLOAT]:
        k = S.KIND_FLOAT
        scatter(k, joined(repeat("["), ids(k), repeat("] FLOAT '"), names_of(k), repeat("' size="), nums(k, 2)))
    if by[S.KIND_FWD]:
        k = S.KIND_FWD
        scatter(k, joined(repeat("["), ids(k), repeat("] FWD '"), names_of(k), repeat("' fwd_kind="),
                          ["union" if i >> 31 else "struct" for i in col(k, 1)]))
    if by[S.KIND_VAR]:
        k = S.KIND_VAR
        scatter(k, joined(repeat("["), ids(k), repeat("] VAR '"), names_of(k), repeat("' type_id="), nums(k, 2),
                          repeat(", linkage="), [_VAR_LINKAGE.get(x, "(unknown)") for x in col(k, 3)]))
    if by[S.KIND_DECL_TAG]:
        k = S.KIND_DECL_TAG
        sw = sec.signed_words
        scatter(k, joined(repeat("["), ids(k), repeat("] DECL_TAG '"), names_of(k), repeat("' type_id="),
                          nums(k, 2), repeat(" component_idx="), [str(sw[p + 3]) for p in sec.positions(k)]))
    for i, p in zip(by[S.KIND_INT], sec.positions(S.KIND_INT)):
        d = w[p + 3]
        lines[i] = (f"[{start + i}] INT '{name(w[p])}' size={w[p + 2]} bits_offset={(d >> 16) & 0xFF} "
                    f"nr_bits={d & 0xFF} encoding={_INT_ENC.get((d >> 24) & 0x0F, 'UNKN')}")

    # A head line, then one line per member or parameter. Members of a kind_flag record carry
    # bitfield sizes and are printed one by one.
    for kind in (S.KIND_STRUCT, S.KIND_UNION, S.KIND_FUNC_PROTO):
        if not by[kind]:
            continue
        infos = col(kind, 1)
        vlens = [i & 0xFFFF for i in infos]
        if kind == S.KIND_FUNC_PROTO:
            heads = joined(repeat("["), ids(kind), repeat("] FUNC_PROTO '"), names_of(kind),
                           repeat("' ret_type_id="), nums(kind, 2), repeat(" vlen="), map(str, vlens))
        else:
            heads = joined(repeat("["), ids(kind), repeat(f"] {kn[kind]} '"), names_of(kind), repeat("' size="),
                           nums(kind, 2), repeat(" vlen="), map(str, vlens))
        items = sec.item_words(kind)
        if kind == S.KIND_FUNC_PROTO:
            item_lines = list(joined(repeat("\n\t'"), map(name, items[0::2]), repeat("' type_id="),
                                     decimal(items[1::2])))
        else:
            item_lines = list(joined(repeat("\n\t'"), map(name, items[0::3]), repeat("' type_id="),
                                     decimal(items[1::3]), repeat(" bits_offset="), map(str, items[2::3])))
        bounds = list(accumulate(vlens, initial=0))
        bodies = map("".join, map(item_lines.__getitem__, map(slice, bounds, bounds[1:])))
        scatter(kind, map(add, heads, bodies))
        if kind != S.KIND_FUNC_PROTO and max(infos) >> 31:
            for i, p in zip(by[kind], sec.positions(kind)):
                if w[p + 1] >> 31:
                    lines[i] = _bitfield_record(start + i, kn[kind], name, w, p, w[p + 1] & 0xFFFF)

    for kind in (S.KIND_ENUM, S.KIND_ENUM64):
        for i, p in zip(by[kind], sec.positions(kind)):
            info = w[p + 1]
            v = info & 0xFFFF
            signed = info >> 31
            parts = [f"[{start + i}] {kn[kind]} '{name(w[p])}' encoding={'SIGNED' if signed else 'UNSIGNED'} "
                     f"size={w[p + 2]} vlen={v}"]
            if kind == S.KIND_ENUM:
                vals = (sec.signed_words if signed else w)[p + 4:p + 3 + 2 * v:2]
                parts.extend(map("\t'%s' val=%d".__mod__, zip(map(name, w[p + 3:p + 3 + 2 * v:2]), vals)))
            else:
                suffix = "LL" if signed else "ULL"
                for q in range(p + 3, p + 3 + 3 * v, 3):
                    val = (w[q + 2] << 32) | w[q + 1]
                    if signed and val >= 1 << 63:
                        val -= 1 << 64
                    parts.append(f"\t'{name(w[q])}' val={val}{suffix}")
            lines[i] = "\n".join(parts)

    for i, p in zip(by[S.KIND_DATASEC], sec.positions(S.KIND_DATASEC)):
        v = w[p + 1] & 0xFFFF
        parts = [f"[{start + i}] DATASEC '{name(w[p])}' size={w[p + 2]} vlen={v}"]
        for q in range(p + 3, p + 3 + 3 * v, 3):
            tid = w[q]
            line = f"\ttype_id={tid} offset={w[q + 1]} size={w[q + 2]}"
            if start <= tid < count:
                line += f" ({kn.get(sec.kinds[tid - start], 'UNKNOWN')} '{name(w[sec.offs[tid - start]])}')"
            elif tid < count:
                vt = btf.type_by_id(tid)
                line += f" ({kn.get(vt.kind, 'UNKNOWN')} '{_n(vt.name)}')"
            parts.append(line)
        lines[i] = "\n".join(parts)
    return lines  # type: ignore[return-value]


def _bitfield_record(tid: int, kind_name: str, name, w, p: int, v: int) -> str:  # type: ignore[no-untyped-def]
    """A kind_flag STRUCT/UNION: member offsets carry bitfield sizes."""
    parts = [f"[{tid}] {kind_name} '{name(w[p])}' size={w[p + 2]} vlen={v}"]
    for q in range(p + 3, p + 3 + 3 * v, 3):
        bits = w[q + 2]
        line = f"\t'{name(w[q])}' type_id={w[q + 1]} bits_offset={bits & 0xFFFFFF}"
        if bits >> 24:
            line += f" bitfield_size={bits >> 24}"
        parts.append(line)
    return "\n".join(parts)
