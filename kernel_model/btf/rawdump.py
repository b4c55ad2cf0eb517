"""``bpftool btf dump ... format raw`` text.

Models dump_btf_type()/dump_btf_raw() of tools/bpf/bpftool/btf.c as bpftool
7.1.0 (libbpf 1.1) prints them, the version installed on the reference host
(the 6.12 tree's bpftool prints the same plain-text lines): one
``[id] KIND 'name' fields`` line per type, members/params/enumerators/section
entries on following tab-indented lines. A split BTF prints only its own ids,
as bpftool does with ``base``. Left out: JSON output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import structs as S

if TYPE_CHECKING:
    from .btf import BTF

__all__ = ["format_raw", "raw_lines"]

_INT_ENC = {0: "(none)", S.INT_SIGNED: "SIGNED", S.INT_CHAR: "CHAR", S.INT_BOOL: "BOOL"}
_FUNC_LINKAGE = {S.FUNC_STATIC: "static", S.FUNC_GLOBAL: "global", S.FUNC_EXTERN: "extern"}
_VAR_LINKAGE = {S.VAR_STATIC: "static", S.VAR_GLOBAL_ALLOCATED: "global", S.VAR_GLOBAL_EXTERN: "extern"}


def _n(name: str) -> str:
    return name if name else "(anon)"


def raw_lines(btf: BTF) -> list[str]:
    """The dump as a list of lines (a type with members spans several lines joined by newlines)."""
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
