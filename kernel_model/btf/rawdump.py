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
from operator import and_
from itertools import repeat
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
            w(f"{head} type_id={t.type_id} linkage={_FUNC_LINKAGE.get(t.linkage, '(unknown)')}")  # type: ignore
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
            w(f"{head} type_id={t.type_id} index_type_id={t.index_type_id} nr_elems={t.nelems}")  # type: ignore
        elif k in (S.KIND_ENUM, S.KIND_ENUM64):
            enc = "SIGNED" if t.signed else "UNSIGNED"  # type: ignore[attr-defined]
            parts = [f"{head} encoding={enc} size={t.size} vlen={len(t.values)}"]  # type: ignore[attr-defined]
            suffix = ("LL" if t.signed else "ULL") if k == S.KIND_ENUM64 else ""  # type: ignore[attr-defined]
            for v in t.values:  # type: ignore[attr-defined]
                parts.append(f"\t'{v.name or '(anon)'}' val={v.value}{suffix}")
            w("\n".join(parts))
        elif k == S.KIND_INT:
            enc = _INT_ENC.get(t.encoding, "UNKN")  # type: ignore[attr-defined]
            w(f"{head} size={t.size} bits_offset={t.bits_offset} nr_bits={t.nr_bits} encoding={enc}")  # type: ignore
        elif k == S.KIND_FWD:
            w(f"{head} fwd_kind={'union' if t.is_union else 'struct'}")  # type: ignore[attr-defined]
        elif k == S.KIND_VAR:
            w(f"{head} type_id={t.type_id}, linkage={_VAR_LINKAGE.get(t.linkage, '(unknown)')}")  # type: ignore
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
    lines = raw_lines(btf)
    return "\n".join(lines) + "\n" if lines else ""


# ---- the same text straight from a decoded blob's words (section.py) ----------------------------

class _RawNames(dict):  # type: ignore[type-arg]
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


_LINKAGE_NAMES: dict[tuple[int, int], list[str]] = {}


def _linkage_table(kind: int) -> list[str]:
    """Linkage words 0..0xFFFF -> bpftool's word for them (FUNC: vlen; VAR: its u32, capped)."""
    got = _LINKAGE_NAMES.get((kind, 0))
    if got is None:
        known = _FUNC_LINKAGE if kind == S.KIND_FUNC else _VAR_LINKAGE
        got = [known.get(i, "(unknown)") for i in range(len(known))] + ["(unknown)"] * (0x10000 - len(known))
        _LINKAGE_NAMES[(kind, 0)] = got
    return got


def _section_lines(btf: BTF, sec: TypeSection) -> list[str]:  # noqa: C901 - one block per kind
    """raw_lines() of a BTF still held as its blob's words: the same text, built kind by kind
    with C-level maps and one %-format per record."""
    w = sec.words
    rn = _raw_names(btf, sec)
    name = rn.__getitem__
    kn = S.KIND_NAMES
    lines: list[str | None] = [None] * sec.n
    put = lines.__setitem__
    pos = sec.positions
    by = sec.by_kind

    def scatter(kind: int, texts) -> None:  # type: ignore[no-untyped-def]
        deque(map(put, by[kind], texts), maxlen=0)

    def col(kind: int, word: int) -> list[int]:
        return [w[p + word] for p in pos(kind)]

    def names_of(kind: int):  # type: ignore[no-untyped-def]
        return map(name, col(kind, 0))

    # One line, fixed fields.
    if by[S.KIND_FUNC]:
        link = _linkage_table(S.KIND_FUNC)
        scatter(S.KIND_FUNC, map("[%d] FUNC '%s' type_id=%d linkage=%s".__mod__, zip(
            sec.ids(S.KIND_FUNC), names_of(S.KIND_FUNC), col(S.KIND_FUNC, 2),
            map(link.__getitem__, map(and_, col(S.KIND_FUNC, 1), repeat(0xFFFF))))))
    for kind in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF, S.KIND_TYPE_TAG):
        if by[kind]:
            scatter(kind, map(f"[%d] {kn[kind]} '%s' type_id=%d".__mod__, zip(
                sec.ids(kind), names_of(kind), col(kind, 2))))
    if by[S.KIND_ARRAY]:
        scatter(S.KIND_ARRAY, map("[%d] ARRAY '%s' type_id=%d index_type_id=%d nr_elems=%d".__mod__, zip(
            sec.ids(S.KIND_ARRAY), names_of(S.KIND_ARRAY), col(S.KIND_ARRAY, 3), col(S.KIND_ARRAY, 4),
            col(S.KIND_ARRAY, 5))))
    if by[S.KIND_FLOAT]:
        scatter(S.KIND_FLOAT, map("[%d] FLOAT '%s' size=%d".__mod__, zip(
            sec.ids(S.KIND_FLOAT), names_of(S.KIND_FLOAT), col(S.KIND_FLOAT, 2))))
    if by[S.KIND_FWD]:
        scatter(S.KIND_FWD, map("[%d] FWD '%s' fwd_kind=%s".__mod__, zip(
            sec.ids(S.KIND_FWD), names_of(S.KIND_FWD),
            ["union" if i >> 31 else "struct" for i in col(S.KIND_FWD, 1)])))
    if by[S.KIND_VAR]:
        scatter(S.KIND_VAR, map("[%d] VAR '%s' type_id=%d, linkage=%s".__mod__, zip(
            sec.ids(S.KIND_VAR), names_of(S.KIND_VAR), col(S.KIND_VAR, 2),
            [_VAR_LINKAGE.get(x, "(unknown)") for x in col(S.KIND_VAR, 3)])))
    if by[S.KIND_DECL_TAG]:
        sw = sec.signed_words
        scatter(S.KIND_DECL_TAG, map("[%d] DECL_TAG '%s' type_id=%d component_idx=%d".__mod__, zip(
            sec.ids(S.KIND_DECL_TAG), names_of(S.KIND_DECL_TAG), col(S.KIND_DECL_TAG, 2),
            [sw[p + 3] for p in pos(S.KIND_DECL_TAG)])))
    for i, p in zip(by[S.KIND_INT], pos(S.KIND_INT)):
        d = w[p + 3]
        lines[i] = (f"[{sec.start_id + i}] INT '{name(w[p])}' size={w[p + 2]} bits_offset={(d >> 16) & 0xFF} "
                    f"nr_bits={d & 0xFF} encoding={_INT_ENC.get((d >> 24) & 0x0F, 'UNKN')}")

    # A head line and one line per item: one template per (kind, vlen), names put in place of
    # their offsets in the item words, one %-format per record.
    templates: dict[tuple[int, int], str] = {}
    start = sec.start_id
    for kind, head, item, stride in (
            (S.KIND_STRUCT, "[%d] STRUCT '%s' size=%d vlen=%d", "\n\t'%s' type_id=%d bits_offset=%d", 3),
            (S.KIND_UNION, "[%d] UNION '%s' size=%d vlen=%d", "\n\t'%s' type_id=%d bits_offset=%d", 3),
            (S.KIND_FUNC_PROTO, "[%d] FUNC_PROTO '%s' ret_type_id=%d vlen=%d", "\n\t'%s' type_id=%d", 2)):
        for i, p in zip(by[kind], pos(kind)):
            info = w[p + 1]
            v = info & 0xFFFF
            if info >> 31 and kind != S.KIND_FUNC_PROTO:
                lines[i] = _bitfield_record(start + i, kn[kind], name, w, p, v)
                continue
            tpl = templates.get((kind, v))
            if tpl is None:
                tpl = templates[(kind, v)] = head + item * v
            if v:
                seg = w[p + 3:p + 3 + stride * v]
                flat = seg.tolist()
                flat[0::stride] = map(name, seg[0::stride])
                lines[i] = tpl % (start + i, name(w[p]), w[p + 2], v, *flat)
            else:
                lines[i] = tpl % (start + i, name(w[p]), w[p + 2], 0)

    for kind in (S.KIND_ENUM, S.KIND_ENUM64):
        for i, p in zip(by[kind], pos(kind)):
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

    count = btf.type_count
    for i, p in zip(by[S.KIND_DATASEC], pos(S.KIND_DATASEC)):
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
