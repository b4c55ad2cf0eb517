"""Structural comparison of two BTF graphs, independent of type ids.

Not a kernel function: the round-trip checks (C -> BTF -> binary -> BTF -> C
header -> BTF) need "the same graph" when ids and record order differ. Every
*named* type (struct, union, enum, typedef, fwd, func, int, float) and every
unreferenced anonymous enum becomes one entry; anonymous types are expanded
inline and named ones referred to by kind and name, so cycles through
pointers terminate. Left out: VAR, DATASEC, DECL_TAG and TYPE_TAG records
(they have no C header form) and duplicate names (the first wins).
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from . import structs as S

if TYPE_CHECKING:
    from .btf import BTF

__all__ = ["graph_signature", "same_graph"]

_NAMED = (S.KIND_STRUCT, S.KIND_UNION, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_TYPEDEF, S.KIND_FWD,
          S.KIND_FUNC, S.KIND_INT, S.KIND_FLOAT)
_SKIPPED = (S.KIND_VAR, S.KIND_DATASEC, S.KIND_DECL_TAG)


def graph_signature(btf: BTF) -> tuple[Any, ...]:
    """A sorted, hashable description of ``btf``'s own named types (see module docstring)."""
    get = btf.type_by_id

    def ref(tid: int, depth: int = 0) -> Any:
        if tid == 0:
            return "void"
        if depth > 200:
            return ("deep", tid)
        t = get(tid)
        k = t.kind
        if k == S.KIND_TYPE_TAG:
            return ref(t.type_id, depth + 1)  # type: ignore[attr-defined]
        if k in _NAMED and t.name:
            return (S.KIND_NAMES[k], t.name)
        return body(tid, depth + 1)

    def body(tid: int, depth: int) -> Any:
        t = get(tid)
        k = t.kind
        kn = S.KIND_NAMES[k]
        if k in (S.KIND_STRUCT, S.KIND_UNION):
            return (kn, t.size, tuple((m.name, ref(m.type_id, depth), m.bits_offset, m.bitfield_size)  # type: ignore[attr-defined]
                                      for m in t.members))  # type: ignore[attr-defined]
        if k in (S.KIND_ENUM, S.KIND_ENUM64):
            return (kn, t.size, t.signed, tuple((v.name, v.value) for v in t.values))  # type: ignore[attr-defined]
        if k == S.KIND_INT:
            return (kn, t.name, t.size, t.encoding, t.bits_offset, t.nr_bits)  # type: ignore[attr-defined]
        if k == S.KIND_FLOAT:
            return (kn, t.name, t.size)  # type: ignore[attr-defined]
        if k in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF):
            return (kn, ref(t.type_id, depth))  # type: ignore[attr-defined]
        if k == S.KIND_ARRAY:
            return (kn, ref(t.type_id, depth), t.nelems)  # type: ignore[attr-defined]
        if k == S.KIND_FUNC_PROTO:
            return (kn, ref(t.ret_type_id, depth),  # type: ignore[attr-defined]
                    tuple((p.name, ref(p.type_id, depth)) for p in t.params))  # type: ignore[attr-defined]
        if k == S.KIND_FUNC:
            return (kn, t.linkage, ref(t.type_id, depth))  # type: ignore[attr-defined]
        if k == S.KIND_FWD:
            return (kn, t.is_union)  # type: ignore[attr-defined]
        return (kn, t.name)

    referenced: set[int] = set()
    for _, t in btf.iter_types():
        referenced.update(t.refs())
    entries = []
    for tid, t in btf.iter_types():
        if t.kind in _SKIPPED:
            continue
        if t.kind in _NAMED and t.name:
            entries.append(((S.KIND_NAMES[t.kind], t.name), body(tid, 0)))
        elif t.kind in (S.KIND_ENUM, S.KIND_ENUM64) and tid not in referenced:
            entries.append((("ENUM", ""), body(tid, 0)))
    return tuple(sorted(entries, key=repr))


def same_graph(a: BTF, b: BTF) -> bool:
    """Whether ``a`` and ``b`` describe the same named types with the same layouts."""
    return graph_signature(a) == graph_signature(b)
