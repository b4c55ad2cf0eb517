"""C header out: a BTF as compilable C, like ``bpftool btf dump ... format c``.

Models what tools/lib/bpf/btf_dump.c (libbpf 1.1, driven by bpftool 7.1.0's
do_dump() "format c") produces as ``vmlinux.h``: named structs, unions, enums
and typedefs in dependency order (a type used by value is defined before its
user; one used through a pointer only needs ``struct foo;``), anonymous
structs/unions/enums inline, anonymous top-level enums on their own, bitfields,
explicit padding with unnamed bitfields (``long: 56;``) where the natural
layout leaves a gap, ``__attribute__((packed))`` where it is tighter,
duplicate names disambiguated with ``___2`` suffixes as libbpf does, and the
``preserve_access_index`` pragma block so CO-RE relocations are recorded.
As bpftool of Linux 6.18 does (tools/bpf/bpftool/btf.c dump_btf_c, dump_btf_kfuncs),
the header also defines ``__ksym``, ``__weak`` and ``__bpf_fastcall`` and ends with
``extern <prototype> __weak __ksym;`` for every FUNC a ``bpf_kfunc`` DECL_TAG names,
sorted by name (:meth:`CDumper.kfunc_block`), so programs need not declare kfuncs.

This is our own writer, not a transcription: the text is not byte-identical
to bpftool's (order within a dependency level and spacing can differ).
Left out: ``__attribute__((aligned(N)))`` for over-aligned structs (their
padding is emitted instead, so offsets and sizes still match), type tags
(bpftool omits them too), FUNC (but kfuncs)/VAR/DATASEC/DECL_TAG records; types
come in id order (6.18's bpftool sorts them by kind and name unless ``unsorted``). Where we
differ from libbpf on purpose: a header needing more than
:data:`MAX_PADDING_LINES` lines of explicit padding (a struct of gigabytes
with few members, which the kernel accepts) is refused with a BTFError rather
than printed.

Speed: the dumper reads compact per-id tuples (from a decoded blob's words
when it has them, see section.py, so the 56,000 FUNC records of a vmlinux are
never turned into objects), remembers each type's size, alignment and
declaration text around its name, and flattens the "what must be emitted
before this type can be used" walk of each type into the list of definitions
it reaches, dropping those already printed. The output is the same as the
plain recursive walk's (tests/kernel_model/btf/cdump_reference.py, compared
on random graphs).
"""

from __future__ import annotations

import re
import sys
from itertools import repeat
from typing import TYPE_CHECKING, Any

from . import structs as S
from .errors import BTFError
from .section import kind_table

if TYPE_CHECKING:
    from .btf import BTF

__all__ = ["format_c", "CDumper", "MAX_PADDING_LINES"]

_QUAL = {S.KIND_CONST: "const", S.KIND_VOLATILE: "volatile", S.KIND_RESTRICT: "restrict"}
_QUAL_OR_TAG = frozenset({S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPE_TAG})
_COMPOSITE = frozenset({S.KIND_STRUCT, S.KIND_UNION})
_ENUMS = frozenset({S.KIND_ENUM, S.KIND_ENUM64})
_SIZED = frozenset({S.KIND_INT, S.KIND_STRUCT, S.KIND_UNION, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_FLOAT,
                    S.KIND_DATASEC})
_NO_REFS = frozenset({S.KIND_FUNC, S.KIND_VAR, S.KIND_DATASEC, S.KIND_DECL_TAG})

#: the DECL_TAG names pahole gives kfuncs (``--btf_features=decl_tag_kfuncs``) and bpftool reads
KFUNC_DECL_TAG = "bpf_kfunc"
FASTCALL_DECL_TAG = "bpf_fastcall"

#: what bpftool's dump_btf_c() (tools/bpf/bpftool/btf.c, Linux 6.18) prints after the CO-RE
#: pragma, so that the kfunc declarations compile without bpf_helpers.h
KSYM_MACROS = ("#ifndef __ksym\n#define __ksym __attribute__((section(\".ksyms\")))\n#endif\n\n"
               "#ifndef __weak\n#define __weak __attribute__((weak))\n#endif\n\n"
               "#ifndef __bpf_fastcall\n#if __has_attribute(bpf_fastcall)\n"
               "#define __bpf_fastcall __attribute__((bpf_fastcall))\n#else\n#define __bpf_fastcall\n#endif\n"
               "#endif\n\n")

#: Most ``long: 64;`` padding lines one header may hold (about 12 MiB of text). A vmlinux needs a
#: few thousand; a single 4 GiB struct would need 537 million.
MAX_PADDING_LINES = 1 << 20

# Kinds the header is built from, in id order (as one byte each, for a regex over the kind table).
_TOP_KINDS = re.compile(b"[%s]" % re.escape(bytes([S.KIND_STRUCT, S.KIND_UNION, S.KIND_ENUM, S.KIND_ENUM64,
                                                    S.KIND_TYPEDEF, S.KIND_FWD])))

# Steps of the flattened "make usable" walks (see CDumper._terms).
_OP_TYPEDEF, _OP_COMPOSITE, _OP_ENUM, _OP_DECL_COMPOSITE, _OP_FWD = range(5)

# A compact record: (kind, name, a, b, c, items).
#   INT: a=size b=encoding c=bits_offset items=nr_bits   STRUCT/UNION: a=size b=kflag items=members
#   PTR/modifiers/TYPEDEF/TYPE_TAG/FUNC/VAR: a=type_id   ARRAY: a=elem b=index c=nelems
#   ENUM/ENUM64: a=size b=signed items=(name, value)...  FWD: a=is_union
#   FUNC_PROTO: a=ret items=(name, type_id)...           FLOAT/DATASEC: a=size
#   DECL_TAG: a=type_id b=component_idx
# members are (name, type_id, bits_offset, bitfield_size).
Rec = tuple
_VOID: Rec = (0, "", 0, 0, 0, ())
_MISSING: Any = object()


def format_c(btf: BTF, *, guard: str = "__VMLINUX_H__", preserve_access_index: bool = True,
             param_names: bool = True, functions: bool = False) -> str:
    """The whole header for ``btf`` (own types, plus base types they need for a split BTF).

    ``functions``: also declare every FUNC as a prototype (bpftool does not; our
    module round trips do, so kfunc prototypes survive C -> BTF -> C -> BTF).
    """
    sec = btf._section()
    if sec is not None and btf.base is None:
        from .accel import module
        fast = module()
        if fast is not None:
            body = fast.c_definitions(sec.words, sec.strtab.data, sec.n, param_names, functions)
            if body is not None:
                return _header(body.decode("utf-8", "surrogateescape"), guard, preserve_access_index)
    return CDumper(btf, param_names=param_names, functions=functions).header(guard, preserve_access_index)


def _header(body: str, guard: str, preserve_access_index: bool) -> str:
    parts = [f"#ifndef {guard}\n#define {guard}\n\n"]
    if preserve_access_index:
        parts.append("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
                     "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
                     "#endif\n\n")
    parts.append(KSYM_MACROS)
    parts.append(body)
    if preserve_access_index:
        parts.append("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n")
    parts.append(f"#endif /* {guard} */\n")
    return "".join(parts)


class _Records:
    """Compact records of every id of a BTF and its bases, built on first use.

    Accessible attributes: ``kinds`` (kind by id, void included), ``count`` and
    ``recs`` (the records built so far, None elsewhere).
    """

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        self.count = btf.type_count
        self.kinds = kind_table(btf)
        self.recs: list[Rec | None] = [None] * self.count
        self.recs[0] = _VOID
        layers = []
        b: BTF | None = btf
        while b is not None:
            layers.append(b)
            b = b.base
        self.layers = layers  # own first
        self._own_start = btf.start_id
        self._own_section = btf._section()
        self._own_names = self._own_section.strtab.names() if self._own_section is not None else None

    def _owner(self, tid: int) -> BTF:
        for b in self.layers:
            if tid >= b.start_id:
                return b
        return self.layers[-1]

    def rec(self, tid: int) -> Rec:
        """The record of ``tid``; BTFError when out of range."""
        try:
            r = self.recs[tid]
        except IndexError:
            r = None
        if r is None:
            if not 0 <= tid < self.count:
                raise BTFError(f"type id {tid} out of range (1..{self.count - 1})", type_id=tid)
            sec = self._own_section
            if sec is not None and tid >= self._own_start:
                r = _section_rec(sec, tid - self._own_start, self._own_names)
            else:
                b = self._owner(tid)
                bsec = b._section()
                if bsec is not None:
                    r = _section_rec(bsec, tid - bsec.start_id, bsec.strtab.names())
                else:
                    r = _object_rec(b.type_by_id(tid))
            self.recs[tid] = r
        return r

    def name(self, tid: int) -> str:
        r = self.recs[tid]
        if r is not None:
            return r[1]
        sec = self._own_section
        if sec is not None and tid >= self._own_start:
            return self._own_names[sec.words[sec.offs[tid - self._own_start]]]  # type: ignore[index]
        b = self._owner(tid)
        bsec = b._section()
        if bsec is not None:
            return bsec.strtab.names()[bsec.words[bsec.offs[tid - bsec.start_id]]]
        return b.type_by_id(tid).name


def _section_rec(sec: Any, i: int, names: Any) -> Rec:
    w = sec.words
    p = sec.offs[i]
    info = w[p + 1]
    k = (info >> 24) & 31
    v = info & 0xFFFF
    nm = names[w[p]]
    if k == S.KIND_STRUCT or k == S.KIND_UNION:
        seg = w[p + 3:p + 3 + 3 * v]
        if info >> 31:
            bits = seg[2::3]
            items = tuple(zip(map(names.__getitem__, seg[0::3]), seg[1::3], [b & 0xFFFFFF for b in bits],
                              [b >> 24 for b in bits]))
        else:
            items = tuple(zip(map(names.__getitem__, seg[0::3]), seg[1::3], seg[2::3], repeat(0)))
        return (k, nm, w[p + 2], info >> 31, 0, items)
    if k == S.KIND_FUNC_PROTO:
        seg = w[p + 3:p + 3 + 2 * v]
        return (k, nm, w[p + 2], 0, 0, tuple(zip(map(names.__getitem__, seg[0::2]), seg[1::2])))
    if k == S.KIND_ENUM:
        vals = (sec.signed_words if info >> 31 else w)[p + 4:p + 3 + 2 * v:2]
        return (k, nm, w[p + 2], info >> 31, 0, tuple(zip(map(names.__getitem__, w[p + 3:p + 3 + 2 * v:2]), vals)))
    if k == S.KIND_ENUM64:
        vals64: list[tuple[str, int]] = []
        for q in range(p + 3, p + 3 + 3 * v, 3):
            val = (w[q + 2] << 32) | w[q + 1]
            if info >> 31 and val >= 1 << 63:
                val -= 1 << 64
            vals64.append((names[w[q]], val))
        return (k, nm, w[p + 2], info >> 31, 0, tuple(vals64))
    if k == S.KIND_ARRAY:
        return (k, nm, w[p + 3], w[p + 4], w[p + 5], ())
    if k == S.KIND_INT:
        d = w[p + 3]
        return (k, nm, w[p + 2], (d >> 24) & 0x0F, (d >> 16) & 0xFF, d & 0xFF)
    if k == S.KIND_FWD:
        return (k, nm, info >> 31, 0, 0, ())
    if k == S.KIND_FUNC:
        return (k, nm, w[p + 2], v, 0, ())
    if k == S.KIND_DECL_TAG:
        ci = w[p + 3]
        return (k, nm, w[p + 2], ci - (1 << 32) if ci >= 1 << 31 else ci, 0, ())
    return (k, nm, w[p + 2], 0, 0, ())


def _object_rec(t: Any) -> Rec:
    k = t.kind
    if k == S.KIND_STRUCT or k == S.KIND_UNION:
        return (k, t.name, t.size, int(t.kflag), 0,
                tuple((m.name, m.type_id, m.bits_offset, m.bitfield_size) for m in t.members))
    if k == S.KIND_FUNC_PROTO:
        return (k, t.name, t.ret_type_id, 0, 0, tuple((p.name, p.type_id) for p in t.params))
    if k == S.KIND_ENUM or k == S.KIND_ENUM64:
        return (k, t.name, t.size, int(t.signed), 0, tuple((v.name, v.value) for v in t.values))
    if k == S.KIND_ARRAY:
        return (k, t.name, t.type_id, t.index_type_id, t.nelems, ())
    if k == S.KIND_INT:
        return (k, t.name, t.size, t.encoding, t.bits_offset, t.nr_bits)
    if k == S.KIND_FWD:
        return (k, t.name, int(t.is_union), 0, 0, ())
    if k == S.KIND_FUNC:
        return (k, t.name, t.type_id, t.linkage, 0, ())
    if k == S.KIND_FLOAT or k == S.KIND_DATASEC:
        return (k, t.name, t.size, 0, 0, ())
    if k == S.KIND_DECL_TAG:
        return (k, t.name, t.type_id, t.component_idx, 0, ())
    return (k, t.name, getattr(t, "type_id", 0), 0, 0, ())


class CDumper:
    """Emit C for a BTF. ``header()`` gives the whole file; ``definitions()`` only the types."""

    def __init__(self, btf: BTF, *, param_names: bool = True, functions: bool = False) -> None:
        self.btf = btf
        self.functions = functions
        self.param_names = param_names
        self.out: list[str] = []
        self.state: dict[int, int] = {}       # composite: 1 fwd-declared, 2 in progress, 3 defined
        self.top_start = -1
        self.tag_names: dict[int, str] = {}
        self.tag_used: dict[str, int] = {}
        self.ident_used: set[str] = set()
        self.ident_count: dict[str, int] = {}
        self.enum_vals: dict[int, list[str]] = {}
        self.done: set[int] = set()
        self._r = _Records(btf)
        self.rec = self._r.rec
        self.kinds = self._r.kinds
        self._sizes: dict[int, int] = {}
        self._aligns: dict[int, tuple[int | None, int]] = {}
        self._align0: dict[int, int] = {}
        # tid -> text before and after a name: (before, after), (before, after, len(ident_used)
        # it holds for), or None (not reusable); _bare: the same for a declaration with no name.
        self._decls: dict[int, tuple[Any, ...] | None] = {}
        self._bare: dict[int, str | tuple[str, int] | None] = {}
        self._anon_bodies = 0      # bumped for every anonymous body printed (text depends on indent)
        self._named_params = 0     # bumped for every parameter name decided against ident_used
        self._nc: dict[int, list[tuple[int, int]]] = {}   # need_complete, flattened
        self._nd: dict[int, list[tuple[int, int]]] = {}   # need_decl, flattened
        self._walking: set[tuple[int, int]] = set()
        self._comp_index: dict[tuple[int, str], int] | None = None
        self._padding_left = MAX_PADDING_LINES

    # ---- names -----------------------------------------------------------------------------------
    def _dedup(self, name: str, count: dict[str, int]) -> str:
        n = count.get(name, 0) + 1
        count[name] = n
        return name if n == 1 else f"{name}___{n}"

    def _find_composite(self, name: str, kind: int) -> int | None:
        """btf.find(name, kind) for STRUCT/UNION: the first such id, bases first."""
        if self._comp_index is None:
            idx: dict[tuple[int, str], int] = {}
            kinds = self.kinds
            nm = self._r.name
            for k in (S.KIND_STRUCT, S.KIND_UNION):
                i = kinds.find(k)
                while i >= 0:
                    tname = nm(i)
                    if tname:
                        idx.setdefault((k, tname), i)
                    i = kinds.find(k, i + 1)
            self._comp_index = idx
        return self._comp_index.get((kind, name))

    def tag_name(self, tid: int) -> str:
        """C tag name of a struct/union/enum/fwd, suffixed ``___N`` for the N-th distinct type so named."""
        nm = self.tag_names.get(tid)
        if nm is None:
            r = self.rec(tid)
            name = r[1]
            if r[0] == S.KIND_FWD:
                d = self._find_composite(name, S.KIND_UNION if r[2] else S.KIND_STRUCT)
                if d is not None:
                    nm = self.tag_name(d)
                else:
                    nm = name if name not in self.tag_used else self._dedup(name, self.tag_used)
                    self.tag_used.setdefault(name, 1)
            else:
                nm = self._dedup(name, self.tag_used)
            self.tag_names[tid] = nm
        return nm

    def ident_name(self, tid: int) -> str:
        """C name of a typedef (ordinary identifier namespace, shared with enumerators)."""
        nm = self.tag_names.get(tid)
        if nm is None:
            nm = self._dedup(self.rec(tid)[1], self.ident_count)
            self.ident_used.add(nm)
            self.tag_names[tid] = nm
        return nm

    def enumerator_names(self, tid: int) -> list[str]:
        names = self.enum_vals.get(tid)
        if names is None:
            names = []
            count = self.ident_count
            used = self.ident_used
            for vname, _ in self.rec(tid)[5]:
                n = count.get(vname, 0) + 1
                count[vname] = n
                nm = vname if n == 1 else f"{vname}___{n}"
                used.add(nm)
                names.append(nm)
            self.enum_vals[tid] = names
        return names

    # ---- ordering --------------------------------------------------------------------------------
    # need_complete(tid) makes tid usable by value here, need_decl(tid) usable behind a pointer.
    # Both walk through modifiers, arrays, pointers, prototypes and anonymous records, which print
    # nothing, to the definitions they need; each walk is flattened once into that list of steps
    # (_terms) and a step is dropped once it can never print again.
    def need_complete(self, tid: int) -> None:
        """Make ``tid`` usable by value at this point of the output."""
        terms = self._nc.get(tid)
        if terms is None:
            terms = self._terms(tid, True)
        if terms:
            self._nc[tid] = self._run(terms)

    def need_decl(self, tid: int) -> None:
        """Make ``tid``'s name usable (behind a pointer) at this point of the output."""
        terms = self._nd.get(tid)
        if terms is None:
            terms = self._terms(tid, False)
        if terms:
            self._nd[tid] = self._run(terms)

    def _terms(self, tid: int, complete: bool) -> list[tuple[int, int]]:
        """The steps of need_complete (``complete``) or need_decl of ``tid``, in walk order."""
        cache = self._nc if complete else self._nd
        got = cache.get(tid)
        if got is not None:
            return got
        key = (tid, complete)
        if key in self._walking:  # the plain walk would recurse forever
            raise RecursionError
        self._walking.add(key)
        try:
            out: list[tuple[int, int]] = []
            if tid:
                r = self.rec(tid)
                k = r[0]
                if k in _QUAL_OR_TAG:
                    out = list(self._terms(r[2], complete))
                elif k == S.KIND_TYPEDEF:
                    out = [(_OP_TYPEDEF, tid)]
                    if complete:
                        out += self._terms(r[2], True)
                elif k == S.KIND_ARRAY:
                    out = list(self._terms(r[2], True))
                elif k in _COMPOSITE:
                    if r[1]:
                        out = [(_OP_COMPOSITE if complete else _OP_DECL_COMPOSITE, tid)]
                    else:
                        for m in r[5]:
                            out += self._terms(m[1], True)
                elif k in _ENUMS:
                    if r[1]:
                        out = [(_OP_ENUM, tid)]
                elif complete:
                    out = list(self._terms(tid, False))
                elif k == S.KIND_PTR:
                    out = list(self._terms(r[2], False))
                elif k == S.KIND_FUNC_PROTO:
                    out = list(self._terms(r[2], False))
                    for p in r[5]:
                        out += self._terms(p[1], False)
                elif k == S.KIND_FWD:
                    out = [(_OP_FWD, tid)]
        finally:
            self._walking.discard(key)
        cache[tid] = out
        return out

    def _run(self, terms: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Take each step; return those that may still print something later."""
        state = self.state
        done = self.done
        for op, t in terms:
            if op == _OP_TYPEDEF:
                self.emit_typedef(t)
            elif op == _OP_COMPOSITE:
                self.emit_composite(t)
            elif op == _OP_ENUM:
                self.emit_enum(t)
            elif op == _OP_DECL_COMPOSITE:
                st = state.get(t, 0)
                if st == 0:
                    self.out.append(f"{self.kw(t)} {self.tag_name(t)};\n\n")
                    state[t] = 1
                elif st == 2:
                    # Referenced through a pointer from inside its own (unfinished) definition:
                    # declare it before the outermost definition being built.
                    self.out.insert(self.top_start, f"{self.kw(t)} {self.tag_name(t)};\n\n")
                    state[t] = 4
            elif t not in done:  # _OP_FWD
                done.add(t)
                self.out.append(f"{'union' if self.rec(t)[2] else 'struct'} {self.tag_name(t)};\n\n")
        # Settled for good: typedefs, enums and FWDs once printed; a composite's definition once
        # begun; its forward declaration once it is defined (state 3, or 4 on the way to 3).
        return [(op, t) for op, t in terms
                if not (t in done if op in (_OP_TYPEDEF, _OP_ENUM, _OP_FWD)
                        else state.get(t, 0) >= (2 if op == _OP_COMPOSITE else 3))]

    def kw(self, t: object) -> str:
        """``union`` or ``struct`` for a type id (or a record of the type objects)."""
        k = self.kinds[t] if isinstance(t, int) else getattr(t, "kind", 0)
        return "union" if k == S.KIND_UNION else "struct"

    def emit_typedef(self, tid: int) -> None:
        if tid in self.done:
            return
        self.done.add(tid)
        r = self.rec(tid)
        if r[1] == "__builtin_va_list":  # the compiler's own; libbpf never redefines it
            self.tag_names[tid] = r[1]
            return
        top = self.top_start < 0
        if top:
            self.top_start = len(self.out)
        self.need_decl(r[2])
        name = self.ident_name(tid)
        self.out.append(f"typedef {self.decl(r[2], name, 0)};\n\n")
        if top:
            self.top_start = -1

    def emit_enum(self, tid: int) -> None:
        if tid in self.done:
            return
        self.done.add(tid)
        self.out.append(f"{self.enum_body(tid, 0)};\n\n")

    def emit_composite(self, tid: int) -> None:
        st = self.state.get(tid, 0)
        if st >= 2:
            return
        top = self.top_start < 0
        if top:
            self.top_start = len(self.out)
        self.state[tid] = 2
        nc = self._nc
        for m in self.rec(tid)[5]:
            terms = nc.get(m[1])
            if terms is None:
                terms = self._terms(m[1], True)
            if terms:
                nc[m[1]] = self._run(terms)
        self.out.append(f"{self.composite_body(tid, 0)};\n\n")
        self.state[tid] = 3
        if top:
            self.top_start = -1

    # ---- text ------------------------------------------------------------------------------------
    def decl(self, tid: int, inner: str, indent: int) -> str:
        """A declaration of ``inner`` (a name or declarator) with type ``tid``.

        The text around the name is remembered per type, unless it holds an anonymous body
        (indented by position) or depends on which names are taken so far (parameter names
        of a prototype) and that set changed since.
        """
        if inner:
            got = self._decls.get(tid, _MISSING)
            if got is not _MISSING:
                if got is None:
                    return self._decl_text(tid, inner, indent)
                if len(got) == 2:
                    return got[0] + inner + got[1]
                if got[2] == len(self.ident_used):
                    self._named_params += 1  # whoever includes this text depends on the names too
                    return got[0] + inner + got[1]
            text, reuse = self._decl_measured(tid, "\0", indent)
            before, after = text.split("\0")
            self._decls[tid] = (before, after) if reuse is True else None if reuse is None else \
                (before, after, reuse)
            return before + inner + after
        bare = self._bare.get(tid, _MISSING)
        if bare is not _MISSING:
            if bare is None:
                return self._decl_text(tid, "", indent)
            if isinstance(bare, str):
                return bare
            if bare[1] == len(self.ident_used):
                self._named_params += 1
                return bare[0]
        text, reuse = self._decl_measured(tid, "", indent)
        self._bare[tid] = text if reuse is True else None if reuse is None else (text, reuse)
        return text

    def _decl_measured(self, tid: int, inner: str, indent: int) -> tuple[str, bool | int | None]:
        """(text, reuse): reuse True = always the same text, None = never reusable (an anonymous
        body), an int = the same while ``len(ident_used)`` stays that number."""
        bodies = self._anon_bodies
        params = self._named_params
        used = len(self.ident_used)
        text = self._decl_text(tid, inner, indent)
        if self._anon_bodies != bodies:
            return text, None
        if self._named_params == params:
            return text, True
        if len(self.ident_used) != used:
            return text, None
        return text, used

    def _decl_text(self, tid: int, inner: str, indent: int) -> str:
        rec = self.rec
        while True:
            r = rec(tid) if tid else _VOID
            k = r[0]
            if k == S.KIND_PTR:
                tgt = r[2]
                inner = "*" + inner
                if self._skip_quals_kind(tgt) in (S.KIND_ARRAY, S.KIND_FUNC_PROTO):
                    inner = f"({inner})"
                tid = tgt
            elif k in _QUAL:
                q = _QUAL[k]
                tgt = r[2]
                if self._skip_quals_kind(tgt) == S.KIND_PTR:
                    inner = f" {q} {inner}" if inner else f" {q}"
                    tid = tgt
                else:
                    rest = self.decl(tgt, inner, indent)
                    return rest if rest.startswith(f"{q} ") else f"{q} {rest}"
            elif k == S.KIND_TYPE_TAG:
                tid = r[2]
            elif k == S.KIND_ARRAY:
                inner = f"{inner}[{r[4]}]"
                tid = r[2]
            elif k == S.KIND_FUNC_PROTO:
                ps = []
                for pname, ptype in r[5]:
                    if ptype == 0:
                        ps.append("...")
                        continue
                    if self.param_names and pname:
                        self._named_params += 1
                        if pname in self.ident_used:
                            pname = ""
                    else:
                        pname = ""
                    ps.append(self.decl(ptype, pname, indent))
                inner = f"{inner}({', '.join(ps) if ps else 'void'})"
                tid = r[2]
            else:
                spec = self.spec(tid, indent)
                if not inner:
                    return spec
                return f"{spec} {inner}"

    def _skip_quals_kind(self, tid: int) -> int:
        n = 0
        rec = self.rec
        while tid:
            r = rec(tid)
            if r[0] in _QUAL_OR_TAG:
                tid = r[2]
                n += 1
                if n > 64:
                    raise BTFError(f"[{tid}] Loop detected through modifiers", type_id=tid)
                continue
            return r[0]
        return 0

    def spec(self, tid: int, indent: int) -> str:
        if tid == 0:
            return "void"
        r = self.rec(tid)
        k = r[0]
        if k == S.KIND_INT or k == S.KIND_FLOAT:
            return r[1]
        if k == S.KIND_TYPEDEF:
            return self.ident_name(tid)
        if k in _COMPOSITE:
            if r[1]:
                return f"{'union' if k == S.KIND_UNION else 'struct'} {self.tag_name(tid)}"
            self._anon_bodies += 1
            return self.composite_body(tid, indent)
        if k in _ENUMS:
            if r[1]:
                return f"enum {self.tag_name(tid)}"
            self._anon_bodies += 1
            return self.enum_body(tid, indent)
        if k == S.KIND_FWD:
            return f"{'union' if r[2] else 'struct'} {self.tag_name(tid)}"
        raise BTFError(f"[{tid}] {S.KIND_NAMES.get(k, 'UNKNOWN')} '{r[1]}' cannot appear in a C declaration",
                       type_id=tid)

    def enum_body(self, tid: int, indent: int) -> str:
        r = self.rec(tid)
        head = f"enum {self.tag_name(tid)}" if r[1] else "enum"
        names = self.enumerator_names(tid)
        pad = "\t" * (indent + 1)
        if r[0] == S.KIND_ENUM64:
            fmt = pad + ("%s = %dLL,\n" if r[3] else "%s = %dULL,\n")
        else:
            fmt = pad + "%s = %d,\n"
        body = "".join(map(fmt.__mod__, zip(names, [v for _, v in r[5]])))
        attr = " __attribute__((packed))" if r[2] < 4 else ""
        return f"{head} {{\n{body}{chr(9) * indent}}}{attr}"

    def _align(self, tid: int) -> int:
        """libbpf's btf__align_of() as BTF.align_of() computes it, 1 where that raises."""
        got = self._align0.get(tid)
        if got is None:
            val = self._align_at(tid, 0)
            got = self._align0[tid] = 1 if val is None else val
        return got

    def _align_at(self, tid: int, depth: int) -> int | None:
        # BTF._align(): an error anywhere below (no alignment, a loop, nesting deeper than 64)
        # makes the whole answer "none". Remember (value or None, height explored) per id so a
        # nesting limit hit from a deeper start is still honoured.
        got = self._aligns.get(tid)
        if got is None:
            got = self._aligns[tid] = self._align_compute(tid)
        val, height = got
        if depth + height > 64:
            return None
        return val

    def _align_compute(self, tid: int) -> tuple[int | None, int]:
        self._aligns[tid] = (None, 1 << 30)  # a loop back to here: no alignment
        try:
            tid = self._resolve(tid)
        except BTFError:
            return (None, 0)
        r = self.rec(tid)
        k = r[0]
        if k == S.KIND_PTR:
            return (8, 0)
        if k == S.KIND_INT or k == S.KIND_ENUM or k == S.KIND_ENUM64 or k == S.KIND_FLOAT:
            size = r[2]
            return (max(1, min(size, 16 if k == S.KIND_FLOAT or size == 16 else 8)), 0)
        if k == S.KIND_ARRAY:
            val, h = self._align_entry(r[2])
            return (val, h + 1)
        if k in _COMPOSITE:
            a = 1
            height = 0
            for _, mtype, bits, bsize in r[5]:
                ma, h = self._align_entry(mtype)
                height = max(height, h + 1)
                if ma is None:
                    return (None, height)
                if bsize == 0 and bits % (8 * ma):
                    return (1, height)  # a misaligned member: the struct is packed
                a = max(a, ma)
            if r[2] % a:
                return (1, height)
            return (a, height)
        return (None, 0)

    def _align_entry(self, tid: int) -> tuple[int | None, int]:
        got = self._aligns.get(tid)
        if got is None:
            got = self._aligns[tid] = self._align_compute(tid)
        return got

    def _resolve(self, tid: int) -> int:
        """BTF.skip_modifiers()."""
        seen = 0
        rec = self.rec
        count = self._r.count
        r = rec(tid)
        while r[0] == S.KIND_TYPEDEF or r[0] in _QUAL_OR_TAG:
            tid = r[2]
            r = rec(tid)
            seen += 1
            if seen > count:
                raise BTFError(f"[{tid}] Loop detected through modifiers", type_id=tid)
        return tid

    def _size(self, tid: int) -> int:
        """BTF.size_of(), 0 where that raises."""
        got = self._sizes.get(tid)
        if got is not None:
            return got
        mult = 1
        steps = 0
        t = tid
        rec = self.rec
        count = self._r.count
        size = 0
        try:
            while True:
                r = rec(t)
                k = r[0]
                if k == S.KIND_TYPEDEF or k in _QUAL_OR_TAG or k == S.KIND_VAR:
                    t = r[2]
                elif k == S.KIND_ARRAY:
                    mult *= r[4]
                    t = r[2]
                elif k == S.KIND_PTR:
                    size = mult * 8
                    break
                elif k in _SIZED:
                    size = mult * r[2]
                    break
                else:
                    break
                steps += 1
                if steps > count:
                    break
        except BTFError:
            size = 0
        self._sizes[tid] = size
        return size

    def composite_body(self, tid: int, indent: int) -> str:
        r = self.rec(tid)
        is_union = r[0] == S.KIND_UNION
        kw = "union" if is_union else "struct"
        head = f"{kw} {self.tag_name(tid)}" if r[1] else kw
        pad = "\t" * (indent + 1)
        members = r[5]
        packed = self._is_packed(r)
        lines: list[str] = []
        cur = 0
        max_align = 1
        size_of = self._size
        align_of = self._align
        decl = self.decl
        sub = indent + 1
        for mname, mtype, off, bsize in members:
            size = size_of(mtype)
            align = 1 if packed else align_of(mtype)
            if not is_union:
                if bsize:
                    unit = align * 8
                    nat = cur if packed or cur // unit == (cur + bsize - 1) // unit else -(-cur // unit) * unit
                else:
                    nat = -(-cur // (align * 8)) * (align * 8)
                if off > nat:
                    lines.extend(self._padding(cur, off, pad, tid))
            if bsize:
                lines.append(f"{pad}{decl(mtype, mname, sub)}: {bsize};\n")
                if mname and align > max_align:
                    max_align = align
                end = off + bsize
            else:
                lines.append(f"{pad}{decl(mtype, mname, sub)};\n")
                if align > max_align:
                    max_align = align
                end = off + size * 8
            if not is_union or end > cur:
                cur = end
        if not is_union:
            size = r[2]
            nat_size = -(-(-(-cur // 8)) // max_align) * max_align
            if size > nat_size or (size * 8 > cur and size % max_align == 0 and
                                   -(-cur // 8) < size and nat_size != size):
                lines.extend(self._padding(cur, size * 8, pad, tid))
        attr = " __attribute__((packed))" if packed else ""
        return f"{head} {{\n{''.join(lines)}{chr(9) * indent}}}{attr}"

    def _padding(self, cur: int, target: int, pad: str, tid: int) -> list[str]:
        """Unnamed bitfields filling bits [cur, target): one per 64-bit word reached."""
        n = (target - 1) // 64 - cur // 64 + 1 if target > cur else 0
        self._padding_left -= n
        if self._padding_left < 0:
            r = self.rec(tid)
            raise BTFError(f"[{tid}] {S.KIND_NAMES[r[0]]} '{r[1] or '(anon)'}' needs {(target - cur) // 8} bytes "
                           f"of explicit padding: the header would exceed {MAX_PADDING_LINES} padding lines",
                           type_id=tid)
        out = []
        while cur < target:
            room = 64 - cur % 64
            n = min(room, target - cur)
            out.append(f"{pad}long: {n};\n")
            cur += n
        return out

    def _is_packed(self, r: Rec) -> bool:
        """libbpf btf_is_struct_packed(): a member off its natural alignment, or an odd total size."""
        max_align = 1
        align_of = self._align
        for _, mtype, bits, bsize in r[5]:
            a = align_of(mtype)
            if a > max_align:
                max_align = a
            if not bsize and bits % (a * 8):
                return True
        return r[2] % max_align != 0

    # ---- whole file ------------------------------------------------------------------------------
    def _referenced(self) -> set[int]:
        """Every id some type refers to (FUNC, VAR, DATASEC and DECL_TAG records not counted)."""
        refs: set[int] = set()
        b: BTF | None = self.btf
        while b is not None:
            sec = b._section()
            if sec is None:
                for _, t in b.iter_types():
                    if t.kind not in _NO_REFS:
                        refs.update(t.refs())
            else:
                w = sec.words
                for k in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF,
                          S.KIND_TYPE_TAG, S.KIND_FUNC_PROTO):
                    refs.update([w[p + 2] for p in sec.positions(k)])
                for p in sec.positions(S.KIND_ARRAY):
                    refs.add(w[p + 3])
                    refs.add(w[p + 4])
                for k in (S.KIND_STRUCT, S.KIND_UNION):
                    refs.update(sec.item_words(k)[1::3])
                refs.update(sec.item_words(S.KIND_FUNC_PROTO)[1::2])
            b = b.base
        return refs

    def definitions(self) -> str:
        """Every type definition, in dependency order."""
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, 200000))
        try:
            referenced: set[int] | None = None
            kinds = self.kinds
            start = self.btf.start_id
            for m in _TOP_KINDS.finditer(kinds, start):
                tid = m.start()
                k = kinds[tid]
                if k == S.KIND_STRUCT or k == S.KIND_UNION:
                    if self._r.name(tid):
                        self.emit_composite(tid)
                elif k == S.KIND_ENUM or k == S.KIND_ENUM64:
                    if self._r.name(tid):
                        self.emit_enum(tid)
                    else:
                        if referenced is None:
                            referenced = self._referenced()
                        if tid not in referenced:
                            self.emit_enum(tid)
                elif k == S.KIND_TYPEDEF:
                    self.emit_typedef(tid)
                    self.need_complete(self.rec(tid)[2])
                elif k == S.KIND_FWD:
                    self.need_decl(tid)
            if self.functions:
                for tid in range(start, self._r.count):
                    if kinds[tid] != S.KIND_FUNC:
                        continue
                    r = self.rec(tid)
                    self.need_decl(r[2])
                    static = "static " if r[3] == S.FUNC_STATIC else ""
                    self.out.append(f"{static}{self.decl(r[2], r[1], 0)};\n\n")
            self.out.append(self.kfunc_block())
        except RecursionError:
            raise BTFError("type graph nested too deeply to print as C") from None
        finally:
            sys.setrecursionlimit(old)
        return "".join(self.out)

    def kfunc_block(self) -> str:
        """bpftool's ``dump_btf_kfuncs()`` (tools/bpf/bpftool/btf.c, Linux 6.18): every FUNC
        a whole-function DECL_TAG ``bpf_kfunc`` names (pahole tags the kfuncs of the kernel's
        BTF_KFUNCS sets), sorted by name, as ``extern <prototype> __weak __ksym;``, with
        ``__bpf_fastcall`` first for one a ``bpf_fastcall`` tag also names; inside
        ``#ifndef BPF_NO_KFUNC_PROTOTYPES`` (printed even when there is none). Of a split BTF,
        the kfuncs of its own part (bpftool's dump of one also prints the base's types and kfuncs;
        ours prints the base types the split part uses)."""
        kinds = self.kinds
        kfuncs: list[int] = []  # one line per tag, as bpftool (a FUNC tagged twice prints twice)
        fastcall: set[int] = set()
        tid = kinds.find(S.KIND_DECL_TAG, self.btf.start_id)  # a split BTF: its own kfuncs (see format_c)
        while tid >= 0:
            r = self.rec(tid)
            if r[3] == -1 and 0 < r[2] < self._r.count and kinds[r[2]] == S.KIND_FUNC:
                if r[1] == KFUNC_DECL_TAG:
                    kfuncs.append(r[2])
                elif r[1] == FASTCALL_DECL_TAG:
                    fastcall.add(r[2])
            tid = kinds.find(S.KIND_DECL_TAG, tid + 1)
        kfuncs.sort(key=lambda i: (self._r.name(i).encode("utf-8", "surrogateescape"), i))
        for fid in kfuncs:  # a split BTF's dump holds only the base types it uses: declare these
            self.need_decl(self.rec(fid)[2])
        lines = ["\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n"]
        for fid in kfuncs:
            r = self.rec(fid)
            attr = "__bpf_fastcall " if fid in fastcall else ""
            lines.append(f"extern {attr}{self.decl(r[2], r[1], 0)} __weak __ksym;\n")
        lines.append("#endif\n\n")
        return "".join(lines)

    def header(self, guard: str = "__VMLINUX_H__", preserve_access_index: bool = True) -> str:
        """The header file: include guard, CO-RE pragma block, definitions."""
        return _header(self.definitions(), guard, preserve_access_index)
