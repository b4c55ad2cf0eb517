"""The C dumper as it was before kernel_model/btf/cdump.py was made fast: an oracle.

cdump.CDumper flattens its ordering walk, remembers declaration texts and reads a
decoded blob's words; this copy of the earlier implementation walks the type
objects recursively and recomputes everything. test_bulk.py holds the two to the
same text, byte for byte, on the host's vmlinux and on random graphs. It has no
limit on explicit padding (cdump.MAX_PADDING_LINES).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from kernel_model.btf import structs as S
from kernel_model.btf.cdump import KSYM_MACROS
from kernel_model.btf.errors import BTFError
from kernel_model.btf.types import Composite, Enum64, MODIFIER_KINDS

if TYPE_CHECKING:
    from kernel_model.btf.btf import BTF

_QUAL = {S.KIND_CONST: "const", S.KIND_VOLATILE: "volatile", S.KIND_RESTRICT: "restrict"}


def reference_format_c(btf: BTF, *, guard: str = "__VMLINUX_H__", preserve_access_index: bool = True,
                       param_names: bool = True, functions: bool = False) -> str:
    """format_c() as the recursive walk prints it."""
    return ReferenceCDumper(btf, param_names=param_names, functions=functions).header(guard, preserve_access_index)


class ReferenceCDumper:
    """The plain recursive walk (kernel_model/btf/cdump.py before it was made fast)."""

    def __init__(self, btf: BTF, *, param_names: bool = True, functions: bool = False) -> None:
        self.btf = btf
        self.functions = functions
        self.get = btf.type_by_id
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

    # ---- names -----------------------------------------------------------------------------------
    def _dedup(self, name: str, count: dict[str, int]) -> str:
        n = count.get(name, 0) + 1
        count[name] = n
        return name if n == 1 else f"{name}___{n}"

    def tag_name(self, tid: int) -> str:
        """C tag name of a struct/union/enum/fwd, suffixed ``___N`` for the N-th distinct type so named."""
        nm = self.tag_names.get(tid)
        if nm is None:
            t = self.get(tid)
            if t.kind == S.KIND_FWD:
                kinds = (S.KIND_UNION,) if t.is_union else (S.KIND_STRUCT,)  # type: ignore[attr-defined]
                for k in kinds:
                    d = self.btf.find(t.name, k)
                    if d is not None:
                        nm = self.tag_name(d)
                        break
                else:
                    nm = t.name if t.name not in self.tag_used else self._dedup(t.name, self.tag_used)
                    self.tag_used.setdefault(t.name, 1)
            else:
                nm = self._dedup(t.name, self.tag_used)
            self.tag_names[tid] = nm
        return nm

    def ident_name(self, tid: int) -> str:
        """C name of a typedef (ordinary identifier namespace, shared with enumerators)."""
        nm = self.tag_names.get(tid)
        if nm is None:
            nm = self._dedup(self.get(tid).name, self.ident_count)
            self.ident_used.add(nm)
            self.tag_names[tid] = nm
        return nm

    def enumerator_names(self, tid: int) -> list[str]:
        names = self.enum_vals.get(tid)
        if names is None:
            names = []
            for v in self.get(tid).values:  # type: ignore[attr-defined]
                nm = self._dedup(v.name, self.ident_count)
                self.ident_used.add(nm)
                names.append(nm)
            self.enum_vals[tid] = names
        return names

    # ---- ordering --------------------------------------------------------------------------------
    def need_complete(self, tid: int) -> None:
        """Make ``tid`` usable by value at this point of the output."""
        if tid == 0:
            return
        t = self.get(tid)
        k = t.kind
        if k in MODIFIER_KINDS and k != S.KIND_TYPEDEF:
            self.need_complete(t.type_id)  # type: ignore[attr-defined]
        elif k == S.KIND_TYPEDEF:
            self.emit_typedef(tid)
            self.need_complete(t.type_id)  # type: ignore[attr-defined]
        elif k == S.KIND_ARRAY:
            self.need_complete(t.type_id)  # type: ignore[attr-defined]
        elif k in (S.KIND_STRUCT, S.KIND_UNION):
            if t.name:
                self.emit_composite(tid)
            else:
                for m in t.members:  # type: ignore[attr-defined]
                    self.need_complete(m.type_id)
        elif k in (S.KIND_ENUM, S.KIND_ENUM64):
            if t.name:
                self.emit_enum(tid)
        else:
            self.need_decl(tid)

    def need_decl(self, tid: int) -> None:
        """Make ``tid``'s name usable (behind a pointer) at this point of the output."""
        if tid == 0:
            return
        t = self.get(tid)
        k = t.kind
        if k in MODIFIER_KINDS and k != S.KIND_TYPEDEF:
            self.need_decl(t.type_id)  # type: ignore[attr-defined]
        elif k == S.KIND_TYPEDEF:
            self.emit_typedef(tid)
        elif k == S.KIND_PTR:
            self.need_decl(t.type_id)  # type: ignore[attr-defined]
        elif k == S.KIND_ARRAY:
            self.need_complete(t.type_id)  # type: ignore[attr-defined]
        elif k == S.KIND_FUNC_PROTO:
            self.need_decl(t.ret_type_id)  # type: ignore[attr-defined]
            for p in t.params:  # type: ignore[attr-defined]
                self.need_decl(p.type_id)
        elif k in (S.KIND_STRUCT, S.KIND_UNION):
            if not t.name:
                self.need_complete(tid)
                return
            st = self.state.get(tid, 0)
            if st == 0:
                self.out.append(f"{self.kw(t)} {self.tag_name(tid)};\n\n")
                self.state[tid] = 1
            elif st == 2:
                # Referenced through a pointer from inside its own (unfinished) definition:
                # declare it before the outermost definition being built.
                self.out.insert(self.top_start, f"{self.kw(t)} {self.tag_name(tid)};\n\n")
                self.state[tid] = 4
        elif k == S.KIND_FWD:
            if tid not in self.done:
                self.done.add(tid)
                self.out.append(f"{'union' if t.is_union else 'struct'} {self.tag_name(tid)};\n\n")  # type: ignore
        elif k in (S.KIND_ENUM, S.KIND_ENUM64):
            if t.name:
                self.emit_enum(tid)

    @staticmethod
    def kw(t: object) -> str:
        return "union" if getattr(t, "kind", 0) == S.KIND_UNION else "struct"

    def emit_typedef(self, tid: int) -> None:
        if tid in self.done:
            return
        self.done.add(tid)
        t = self.get(tid)
        if t.name == "__builtin_va_list":  # the compiler's own; libbpf never redefines it
            self.tag_names[tid] = t.name
            return
        top = self.top_start < 0
        if top:
            self.top_start = len(self.out)
        self.need_decl(t.type_id)  # type: ignore[attr-defined]
        self.out.append(f"typedef {self.decl(t.type_id, self.ident_name(tid), 0)};\n\n")  # type: ignore
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
        t = self.get(tid)
        for m in t.members:  # type: ignore[attr-defined]
            self.need_complete(m.type_id)
        self.out.append(f"{self.composite_body(tid, 0)};\n\n")
        self.state[tid] = 3
        if top:
            self.top_start = -1

    # ---- text ------------------------------------------------------------------------------------
    def decl(self, tid: int, inner: str, indent: int) -> str:
        """A declaration of ``inner`` (a name or declarator) with type ``tid``."""
        while True:
            t = self.get(tid) if tid else None
            k = t.kind if t is not None else 0
            if k == S.KIND_PTR:
                tgt = t.type_id  # type: ignore[union-attr]
                inner = "*" + inner
                if self._skip_quals_kind(tgt) in (S.KIND_ARRAY, S.KIND_FUNC_PROTO):
                    inner = f"({inner})"
                tid = tgt
            elif k in _QUAL:
                q = _QUAL[k]
                tgt = t.type_id  # type: ignore[union-attr]
                if self._skip_quals_kind(tgt) == S.KIND_PTR:
                    inner = f" {q} {inner}" if inner else f" {q}"
                    tid = tgt
                else:
                    rest = self.decl(tgt, inner, indent)
                    return rest if rest.startswith(f"{q} ") else f"{q} {rest}"
            elif k == S.KIND_TYPE_TAG:
                tid = t.type_id  # type: ignore[union-attr]
            elif k == S.KIND_ARRAY:
                inner = f"{inner}[{t.nelems}]"  # type: ignore[union-attr]
                tid = t.type_id  # type: ignore[union-attr]
            elif k == S.KIND_FUNC_PROTO:
                ps = []
                for p in t.params:  # type: ignore[union-attr]
                    if p.type_id == 0:
                        ps.append("...")
                        continue
                    pname = p.name if self.param_names and p.name and p.name not in self.ident_used else ""
                    ps.append(self.decl(p.type_id, pname, indent))
                inner = f"{inner}({', '.join(ps) if ps else 'void'})"
                tid = t.ret_type_id  # type: ignore[union-attr]
            else:
                spec = self.spec(tid, indent)
                if not inner:
                    return spec
                return f"{spec}{inner}" if inner.startswith("*") and False else f"{spec} {inner}"

    def _skip_quals_kind(self, tid: int) -> int:
        n = 0
        while tid:
            t = self.get(tid)
            if t.kind in _QUAL or t.kind == S.KIND_TYPE_TAG:
                tid = t.type_id  # type: ignore[attr-defined]
                n += 1
                if n > 64:
                    raise BTFError(f"[{tid}] Loop detected through modifiers", type_id=tid)
                continue
            return t.kind
        return 0

    def spec(self, tid: int, indent: int) -> str:
        if tid == 0:
            return "void"
        t = self.get(tid)
        k = t.kind
        if k in (S.KIND_INT, S.KIND_FLOAT):
            return t.name
        if k == S.KIND_TYPEDEF:
            return self.ident_name(tid)
        if k in (S.KIND_STRUCT, S.KIND_UNION):
            if t.name:
                return f"{self.kw(t)} {self.tag_name(tid)}"
            return self.composite_body(tid, indent)
        if k in (S.KIND_ENUM, S.KIND_ENUM64):
            if t.name:
                return f"enum {self.tag_name(tid)}"
            return self.enum_body(tid, indent)
        if k == S.KIND_FWD:
            return f"{'union' if t.is_union else 'struct'} {self.tag_name(tid)}"  # type: ignore[attr-defined]
        raise BTFError(f"[{tid}] {t.kind_name} '{t.name}' cannot appear in a C declaration", type_id=tid)

    def enum_body(self, tid: int, indent: int) -> str:
        t = self.get(tid)
        head = f"enum {self.tag_name(tid)}" if t.name else "enum"
        is64 = isinstance(t, Enum64)
        names = self.enumerator_names(tid)
        pad = "\t" * (indent + 1)
        lines = []
        for v, nm in zip(t.values, names):  # type: ignore[attr-defined]
            val = v.value
            if is64:
                lit = f"{val}LL" if t.signed else f"{val}ULL"  # type: ignore[attr-defined]
            else:
                lit = str(val)
            lines.append(f"{pad}{nm} = {lit},\n")
        attr = " __attribute__((packed))" if t.size < 4 else ""  # type: ignore[attr-defined]
        return f"{head} {{\n{''.join(lines)}{chr(9) * indent}}}{attr}"

    def _align(self, tid: int) -> int:
        try:
            return self.btf.align_of(tid)
        except BTFError:
            return 1

    def _size(self, tid: int) -> int:
        try:
            return self.btf.size_of(tid)
        except BTFError:
            return 0

    def composite_body(self, tid: int, indent: int) -> str:
        t = self.get(tid)
        assert isinstance(t, Composite)
        is_union = t.kind == S.KIND_UNION
        head = f"{self.kw(t)} {self.tag_name(tid)}" if t.name else self.kw(t)
        pad = "\t" * (indent + 1)
        packed = self._is_packed(t)
        lines: list[str] = []
        cur = 0
        max_align = 1
        for m in t.members:
            size = self._size(m.type_id)
            align = 1 if packed else self._align(m.type_id)
            off = m.bits_offset
            if not is_union:
                if m.bitfield_size:
                    unit = align * 8
                    nat = cur if packed or cur // unit == (cur + m.bitfield_size - 1) // unit else -(-cur // unit) * unit
                else:
                    nat = -(-cur // (align * 8)) * (align * 8)
                if off > nat:
                    lines.extend(self._padding(cur, off, pad))
            text = self.decl(m.type_id, m.name, indent + 1)
            if m.bitfield_size:
                text += f": {m.bitfield_size}"
            lines.append(f"{pad}{text};\n")
            if not m.bitfield_size or m.name:
                max_align = max(max_align, align)
            end = off + (m.bitfield_size or size * 8)
            cur = end if not is_union else max(cur, end)
        if not is_union:
            nat_size = -(-(-(-cur // 8)) // max_align) * max_align
            if t.size > nat_size or (t.size * 8 > cur and t.size % max_align == 0 and
                                     -(-cur // 8) < t.size and nat_size != t.size):
                lines.extend(self._padding(cur, t.size * 8, pad))
        attr = " __attribute__((packed))" if packed else ""
        return f"{head} {{\n{''.join(lines)}{chr(9) * indent}}}{attr}"

    @staticmethod
    def _padding(cur: int, target: int, pad: str) -> list[str]:
        out = []
        while cur < target:
            room = 64 - cur % 64
            n = min(room, target - cur)
            out.append(f"{pad}long: {n};\n")
            cur += n
        return out

    def _is_packed(self, t: Composite) -> bool:
        """libbpf btf_is_struct_packed(): a member off its natural alignment, or an odd total size."""
        max_align = 1
        for m in t.members:
            a = self._align(m.type_id)
            max_align = max(max_align, a)
            if not m.bitfield_size and m.bits_offset % (a * 8):
                return True
        return t.size % max_align != 0

    # ---- whole file ------------------------------------------------------------------------------
    def definitions(self) -> str:
        """Every type definition, in dependency order."""
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, 200000))
        try:
            referenced: set[int] = set()
            for _, t in self.btf.iter_types(with_base=True):
                if t.kind not in (S.KIND_FUNC, S.KIND_VAR, S.KIND_DATASEC, S.KIND_DECL_TAG):
                    referenced.update(t.refs())
            for tid, t in self.btf.iter_types():
                k = t.kind
                if k in (S.KIND_STRUCT, S.KIND_UNION) and t.name:
                    self.emit_composite(tid)
                elif k in (S.KIND_ENUM, S.KIND_ENUM64) and (t.name or tid not in referenced):
                    self.emit_enum(tid)
                elif k == S.KIND_TYPEDEF:
                    self.emit_typedef(tid)
                    self.need_complete(t.type_id)  # type: ignore[attr-defined]
                elif k == S.KIND_FWD:
                    self.need_decl(tid)
            if self.functions:
                for tid, t in self.btf.iter_types(S.KIND_FUNC):
                    self.need_decl(t.type_id)  # type: ignore[attr-defined]
                    static = "static " if t.linkage == S.FUNC_STATIC else ""  # type: ignore[attr-defined]
                    self.out.append(f"{static}{self.decl(t.type_id, t.name, 0)};\n\n")  # type: ignore
            self.out.append(self.kfunc_block())
        except RecursionError:
            raise BTFError("type graph nested too deeply to print as C") from None
        finally:
            sys.setrecursionlimit(old)
        return "".join(self.out)

    def kfunc_block(self) -> str:
        """bpftool's dump_btf_kfuncs(): FUNCs tagged bpf_kfunc (whole function), by name."""
        kf: list[tuple[bytes, int]] = []
        fast: set[int] = set()
        for _, t in self.btf.iter_types(S.KIND_DECL_TAG):
            if t.component_idx != -1 or not 0 < t.type_id < self.btf.type_count:  # type: ignore[attr-defined]
                continue
            f = self.get(t.type_id)  # type: ignore[attr-defined]
            if f.kind != S.KIND_FUNC:
                continue
            if t.name == "bpf_kfunc":
                kf.append((f.name.encode("utf-8", "surrogateescape"), t.type_id))  # type: ignore[attr-defined]
            elif t.name == "bpf_fastcall":
                fast.add(t.type_id)  # type: ignore[attr-defined]
        kf.sort()
        for _, fid in kf:
            self.need_decl(self.get(fid).type_id)  # type: ignore[attr-defined]
        lines = ["\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n"]
        for _, fid in kf:
            f = self.get(fid)
            attr = "__bpf_fastcall " if fid in fast else ""
            lines.append(f"extern {attr}{self.decl(f.type_id, f.name, 0)} __weak __ksym;\n")  # type: ignore
        lines.append("#endif\n\n")
        return "".join(lines)

    def header(self, guard: str = "__VMLINUX_H__", preserve_access_index: bool = True) -> str:
        """The header file: include guard, CO-RE pragma block, definitions."""
        body = self.definitions()
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

