"""C declarations in: BTF from C text, via pycparser.

How our simulated subsystems and modules describe their types, the way
pahole's DWARF-to-BTF encoding (``pahole -J``, and ``--btf_base`` for modules)
gives the kernel its BTF: structs and unions (bitfields, nested anonymous
members, function-pointer members), enums (ENUM64 when a value needs more than
32 bits, signed when one is negative), typedefs, arrays, pointers to declared
or forward-declared structs, function prototypes with parameter names (FUNC +
FUNC_PROTO) and global variables (VAR). Layout follows the x86-64 System V
rules the kernel is built with (natural alignment; bitfields packed into
storage units of their declared type; unnamed bitfields pad without aligning).

Module C text needs no ``#include``: a built-in prelude declares the kernel's
base typedefs (__u8..__u64, __s8..__s64, u8..u64, s8..s64, bool, size_t, ...)
and they are emitted only when used. With ``base=`` the result is *split* BTF
on top of ``base``: typedef names, struct/union/enum tags and the prelude
types are reused from the base by name; anything the text defines itself is
new. Identical unnamed records (pointers, modifiers, arrays, prototypes) are
emitted once.

Left out: the preprocessor (lines starting with ``#`` are dropped, comments
removed), ``__attribute__`` (removed, so ``packed``/``aligned`` layouts are not
reproduced), bit-precise types, DECL_TAG/TYPE_TAG from attributes, K&R
function definitions. Kernel annotations such as ``__user``, ``__rcu``,
``__bpf_kfunc``, ``__always_inline`` are accepted and dropped.
"""

from __future__ import annotations

import re
from typing import Any

from pycparser import c_ast, c_parser

try:  # pycparser >= 3 keeps ParseError in c_parser; 2.x in plyparser
    from pycparser.c_parser import ParseError
except ImportError:  # pragma: no cover
    from pycparser.plyparser import ParseError

from . import structs as S
from .btf import BTF
from .errors import BTFError
from .types import (
    Array, BTFType, Const, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int, Member, Param, Ptr,
    Restrict, Struct, Typedef, Union, Var, Volatile,
)

__all__ = ["parse_c", "BASE_TYPEDEFS", "PRIMITIVES"]

# Primitive C types on x86-64 as GCC names them in DWARF (and so in vmlinux BTF):
# canonical specifier multiset -> (BTF name, size, encoding or None for FLOAT).
PRIMITIVES: dict[tuple[str, ...], tuple[str, int, int | None]] = {
    ("char",): ("char", 1, 0),                      # the kernel builds with -funsigned-char (6.2+)
    ("char", "signed"): ("signed char", 1, S.INT_SIGNED),
    ("char", "unsigned"): ("unsigned char", 1, 0),
    ("short",): ("short int", 2, S.INT_SIGNED),
    ("short", "unsigned"): ("short unsigned int", 2, 0),
    ("int",): ("int", 4, S.INT_SIGNED),
    ("unsigned",): ("unsigned int", 4, 0),
    ("long",): ("long int", 8, S.INT_SIGNED),
    ("long", "unsigned"): ("long unsigned int", 8, 0),
    ("long", "long"): ("long long int", 8, S.INT_SIGNED),
    ("long", "long", "unsigned"): ("long long unsigned int", 8, 0),
    ("_Bool",): ("_Bool", 1, S.INT_BOOL),
    ("__btf_s128",): ("__int128", 16, S.INT_SIGNED),
    ("__btf_u128",): ("__int128 unsigned", 16, 0),
    ("float",): ("float", 4, None),
    ("double",): ("double", 8, None),
    ("double", "long"): ("long double", 16, None),
}

# The kernel's base typedefs (include/uapi/asm-generic/int-ll64.h, include/linux/types.h),
# available to every C text; emitted (or taken from the base BTF) only when used.
BASE_TYPEDEFS = """
typedef signed char __s8; typedef unsigned char __u8; typedef short __s16; typedef unsigned short __u16;
typedef int __s32; typedef unsigned int __u32; typedef long long __s64; typedef unsigned long long __u64;
typedef __s8 s8; typedef __u8 u8; typedef __s16 s16; typedef __u16 u16; typedef __s32 s32; typedef __u32 u32;
typedef __s64 s64; typedef __u64 u64; typedef __btf_s128 __s128; typedef __btf_u128 __u128;
typedef __s128 s128; typedef __u128 u128;
typedef __u16 __le16; typedef __u16 __be16; typedef __u32 __le32; typedef __u32 __be32;
typedef __u64 __le64; typedef __u64 __be64; typedef __u16 __sum16; typedef __u32 __wsum;
typedef _Bool bool; typedef long __kernel_long_t; typedef unsigned long __kernel_ulong_t;
typedef __kernel_ulong_t __kernel_size_t; typedef __kernel_long_t __kernel_ssize_t;
typedef __kernel_size_t size_t; typedef __kernel_ssize_t ssize_t; typedef unsigned long uintptr_t;
typedef long long __kernel_loff_t; typedef __kernel_loff_t loff_t; typedef int __kernel_pid_t;
typedef __kernel_pid_t pid_t; typedef unsigned int gfp_t; typedef u64 phys_addr_t; typedef u64 dma_addr_t;
typedef __u32 __kernel_dev_t; typedef __kernel_dev_t dev_t; typedef unsigned short umode_t;
typedef struct { int counter; } atomic_t; typedef struct { s64 counter; } atomic64_t;
typedef atomic64_t atomic_long_t;
"""

_ANNOTATIONS = re.compile(
    r"\b(?:__user|__kernel|__rcu|__percpu|__iomem|__force|__must_check|__bpf_kfunc|__always_inline|"
    r"__init|__exit|__read_mostly|__maybe_unused|__weak|__ksym|__bpf_fastcall|noinline|__noinline|__cold|__hot|__nocast|"
    r"__safe|__ref|__aligned_u64|__bitwise|__packed|__randomize_layout|__no_randomize_layout|"
    r"__counted_by\s*\([^)]*\)|__sized_by\s*\([^)]*\))\b")
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def _strip_attributes(text: str) -> str:
    """Remove every ``__attribute__((...))`` (balanced parentheses)."""
    out = []
    i = 0
    key = "__attribute__"
    while True:
        j = text.find(key, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = j + len(key)
        while k < len(text) and text[k].isspace():
            k += 1
        if k >= len(text) or text[k] != "(":
            out.append(key)
            i = j + len(key)
            continue
        depth = 0
        while k < len(text):
            if text[k] == "(":
                depth += 1
            elif text[k] == ")":
                depth -= 1
                if depth == 0:
                    k += 1
                    break
            k += 1
        i = k


def _preprocess(text: str) -> str:
    text = _COMMENTS.sub(lambda m: "\n" * m.group(0).count("\n") or " ", text)
    lines = [("" if ln.lstrip().startswith("#") else ln) for ln in text.split("\n")]
    text = "\n".join(lines)
    text = _strip_attributes(text)
    text = _ANNOTATIONS.sub(" ", text)
    text = re.sub(r"\b__int128\s+unsigned\b|\bunsigned\s+__int128\b", "__btf_u128", text)
    text = re.sub(r"\b__int128\b", "__btf_s128", text)
    text = re.sub(r"\b(?:__inline__|__inline|inline|__extension__)\b", " ", text)
    text = re.sub(r"\b(?:__signed__)\b", "signed", text)
    text = re.sub(r"\b(?:__volatile__)\b", "volatile", text)
    text = re.sub(r"\b(?:__restrict__|__restrict)\b", "restrict", text)
    text = re.sub(r"\b(?:__const__|__const)\b", "const", text)
    return text


_INTERNAL = "typedef int __btf_s128; typedef int __btf_u128;\n"


def parse_c(text: str, base: BTF | None = None, *, into: BTF | None = None, where: str = "<c>") -> BTF:
    """Build BTF from C declarations in ``text``.

    ``base``: build split BTF on this base (types are reused from it by name).
    ``into``: add to an existing BTF instead of a new one (its base is used).
    Raises :class:`BTFError` for text pycparser cannot parse or C the layout
    rules refuse (incomplete types by value, unknown names, ...).
    """
    btf = into if into is not None else BTF(base=base)
    return _Builder(btf, where).run(text)


class _Builder:
    def __init__(self, btf: BTF, where: str) -> None:
        self.btf = btf
        self.where = where
        self.base = btf.base
        self.intern: dict[BTFType, int] = {}
        for i, t in btf.iter_types():
            if not isinstance(t, (Struct, Union, Enum, Enum64, Fwd, Func, Var)):
                self.intern.setdefault(t, i)
        self.typedefs: dict[str, int] = {}
        self.tags: dict[tuple[str, str], int] = {}      # ("struct"/"union"/"enum", name) -> id
        self.defined_tags: set[tuple[str, str]] = set()
        self.in_text_tags: set[tuple[str, str]] = set()
        self.prelude: dict[str, c_ast.Typedef] = {}
        self.local_typedef_names: set[str] = set()
        self.enum_consts: dict[str, int] = {}
        self.prelude_mode = False
        self.funcs: dict[str, tuple[int, int]] = {}     # function name -> (proto id, linkage) declared here

    # ---- errors ----------------------------------------------------------------------------------
    def err(self, msg: str, node: Any = None) -> BTFError:
        where = self.where
        if node is not None and getattr(node, "coord", None) is not None and node.coord.line:
            where = f"{self.where}:{node.coord.line - self._offset}"
        return BTFError(msg, where)

    # ---- entry -------------------------------------------------------------------------------------
    def run(self, text: str) -> BTF:
        body = _preprocess(text)
        prelude_ast = c_parser.CParser().parse(_INTERNAL + BASE_TYPEDEFS)
        for node in prelude_ast.ext:
            if isinstance(node, c_ast.Typedef) and not node.name.startswith("__btf_"):
                self.prelude[node.name] = node
        # Typedef names the text uses but does not define: declare them so pycparser parses,
        # and resolve them from the base BTF (or refuse them) later.
        idents = set(re.findall(r"[A-Za-z_]\w*", body))
        own = set(re.findall(r"\btypedef\b[^;{]*?(?:\{[^}]*\}[^;]*)?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*;", body))
        extra = []
        if self.base is not None:
            for name in sorted(idents - set(self.prelude) - own):
                if self.base.find(name, S.KIND_TYPEDEF) is not None:
                    extra.append(f"typedef int {name};")
        head = _INTERNAL + BASE_TYPEDEFS + "\n".join(extra) + "\n"
        self._offset = head.count("\n")
        self._base_typedef_names = {e.split()[-1][:-1] for e in extra}
        try:
            ast = c_parser.CParser().parse(head + body, filename=self.where)
        except ParseError as e:
            m = re.match(r"[^:]*:(\d+):(\d+): (.*)", str(e))
            if m:
                raise BTFError(f"C parse error: {m.group(3)}",
                               f"{self.where}:{int(m.group(1)) - self._offset}:{m.group(2)}") from None
            raise BTFError(f"C parse error: {e}", self.where) from None
        except Exception as e:  # pycparser can raise plain errors (e.g. AssertionError) on odd input
            raise BTFError(f"C parse error: {type(e).__name__}: {e}", self.where) from None
        nodes = [n for n in ast.ext if not (n.coord and n.coord.line <= self._offset)]
        for n in nodes:
            self._scan_tags(n)
        try:
            for n in nodes:
                self.top(n)
        except RecursionError:
            raise self.err("declarations nested too deeply") from None
        return self.btf

    def _scan_tags(self, node: c_ast.Node) -> None:
        for _, child in node.children():
            self._scan_tags(child)
        defines = node.values is not None if isinstance(node, c_ast.Enum) else getattr(node, "decls", None) is not None
        if isinstance(node, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and node.name and defines:
            kw = "enum" if isinstance(node, c_ast.Enum) else ("union" if isinstance(node, c_ast.Union) else "struct")
            self.in_text_tags.add((kw, node.name))

    # ---- records ---------------------------------------------------------------------------------
    def add(self, t: BTFType) -> int:
        if isinstance(t, (Struct, Union, Enum, Enum64, Fwd, Func, Var)):
            return self.btf.add(t)
        i = self.intern.get(t)
        if i is None:
            i = self.btf.add(t)
            self.intern[t] = i
        return i

    def int_type(self) -> int:
        return self.primitive(("int",), None)

    def primitive(self, key: tuple[str, ...], node: Any) -> int:
        spec = PRIMITIVES.get(key)
        if spec is None:
            raise self.err(f"unsupported type specifier '{' '.join(key)}'", node)
        name, size, enc = spec
        if self.base is not None:
            kinds = (S.KIND_FLOAT,) if enc is None else (S.KIND_INT,)
            for k in kinds:
                i = self.base.find(name, k)
                if i is not None:
                    return i
        if enc is None:
            return self.add(Float(name, size))
        return self.add(Int(name, size, enc, 0, size * 8))

    # ---- top level -------------------------------------------------------------------------------
    def top(self, n: c_ast.Node) -> None:
        if isinstance(n, c_ast.FuncDef):
            n = n.decl
        if isinstance(n, c_ast.Typedef):
            self.typedef(n)
        elif isinstance(n, c_ast.Decl):
            if isinstance(n.type, c_ast.FuncDecl):
                proto = self.type_of(n.type)
                linkage = S.FUNC_STATIC if "static" in n.storage else S.FUNC_GLOBAL
                if not n.name:
                    raise self.err("function declaration without a name", n)
                if self.funcs.get(n.name) == (proto, linkage):
                    return  # a redeclaration (vmlinux.h's extern kfunc and a program's own): one FUNC
                self.funcs[n.name] = (proto, linkage)
                self.add(Func(n.name, proto, linkage))
            elif isinstance(n.type, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and n.name is None:
                self.type_of(n.type)
            elif n.name:
                tid = self.type_of(n.type)
                if "typedef" in n.storage:
                    return
                linkage = S.VAR_GLOBAL_EXTERN if "extern" in n.storage else (
                    S.VAR_STATIC if "static" in n.storage else S.VAR_GLOBAL_ALLOCATED)
                self.add(Var(n.name, tid, linkage))
        elif isinstance(n, c_ast.Pragma):
            return
        else:
            raise self.err(f"unsupported top-level construct {type(n).__name__}", n)

    def typedef(self, n: c_ast.Typedef) -> int:
        name = n.name
        if name in self.typedefs and name in self.local_typedef_names:
            return self.typedefs[name]
        target = self.type_of(n.type)
        tid = self.add(Typedef(name, target))
        self.typedefs[name] = tid
        self.local_typedef_names.add(name)
        return tid

    # ---- types -----------------------------------------------------------------------------------
    def quals(self, tid: int, quals: list[str]) -> int:
        for q in ("const", "volatile", "restrict"):
            if q in quals:
                cls = Const if q == "const" else Volatile if q == "volatile" else Restrict
                tid = self.add(cls(tid))
        return tid

    def type_of(self, n: c_ast.Node) -> int:
        if isinstance(n, c_ast.TypeDecl):
            return self.quals(self.type_of(n.type), n.quals)
        if isinstance(n, c_ast.Typename):
            return self.quals(self.type_of(n.type), n.quals)
        if isinstance(n, c_ast.PtrDecl):
            return self.quals(self.add(Ptr(self.type_of(n.type))), n.quals)
        if isinstance(n, c_ast.ArrayDecl):
            elem = self.type_of(n.type)
            nelems = 0 if n.dim is None else self.const(n.dim)
            if nelems < 0 or nelems > 0xFFFFFFFF:
                raise self.err(f"array size {nelems} out of range", n)
            return self.quals(self.add(Array(elem, self.int_type(), nelems)), n.dim_quals or [])
        if isinstance(n, c_ast.FuncDecl):
            ret = self.type_of(n.type)
            params: list[Param] = []
            if n.args is not None:
                plist = n.args.params
                if len(plist) == 1 and self._is_void(plist[0]):
                    plist = []
                for p in plist:
                    if isinstance(p, c_ast.EllipsisParam):
                        params.append(Param("", 0))
                    elif isinstance(p, (c_ast.Decl, c_ast.Typename)):
                        params.append(Param(p.name or "", self.param_type(p.type)))
                    elif isinstance(p, c_ast.ID):
                        raise self.err(f"K&R parameter '{p.name}' is not supported", p)
            return self.add(FuncProto(ret, tuple(params)))
        if isinstance(n, c_ast.IdentifierType):
            return self.identifier(n)
        if isinstance(n, (c_ast.Struct, c_ast.Union)):
            return self.composite(n)
        if isinstance(n, c_ast.Enum):
            return self.enum(n)
        raise self.err(f"unsupported type construct {type(n).__name__}", n)

    def param_type(self, n: c_ast.Node) -> int:
        # Array and function parameters decay to pointers, as in C.
        if isinstance(n, c_ast.ArrayDecl):
            return self.add(Ptr(self.type_of(n.type)))
        if isinstance(n, c_ast.FuncDecl):
            return self.add(Ptr(self.type_of(n)))
        return self.type_of(n)

    @staticmethod
    def _is_void(p: c_ast.Node) -> bool:
        t = getattr(p, "type", None)
        return (isinstance(p, (c_ast.Typename, c_ast.Decl)) and not getattr(p, "name", None)
                and isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.IdentifierType)
                and t.type.names == ["void"])

    def identifier(self, n: c_ast.IdentifierType) -> int:
        names = n.names
        if names == ["void"]:
            return 0
        if len(names) == 1 and not self._is_keyword(names[0]):
            return self.typedef_ref(names[0], n)
        key = tuple(sorted(x for x in names if x != "signed" or names == ["signed"] or "char" in names))
        if key == ("signed",):
            key = ("int",)
        if "int" in key and len(key) > 1:
            key = tuple(x for x in key if x != "int")
        if "char" in names and "signed" in names:
            key = ("char", "signed")
        return self.primitive(key, n)

    @staticmethod
    def _is_keyword(s: str) -> bool:
        return s in {"int", "char", "short", "long", "signed", "unsigned", "_Bool", "float", "double",
                     "__btf_s128", "__btf_u128"}

    def typedef_ref(self, name: str, node: Any) -> int:
        tid = self.typedefs.get(name)
        if tid is not None:
            return tid
        if self.base is not None and (name in self.prelude or name in self._base_typedef_names):
            b = self.base.find(name, S.KIND_TYPEDEF)
            if b is not None:
                self.typedefs[name] = b
                return b
        if name in self.prelude:
            tid = self.type_of(self.prelude[name].type)
            tid = self.add(Typedef(name, tid))
            self.typedefs[name] = tid
            return tid
        raise self.err(f"unknown type name '{name}'", node)

    def _tag_ref(self, kw: str, name: str, is_union: bool) -> int:
        key = (kw, name)
        tid = self.tags.get(key)
        if tid is not None:
            return tid
        if key not in self.in_text_tags:
            # A tag the text does not define binds to an existing type of that name: in the
            # base (split BTF) or, with ``into=``, among the types already in the BTF.
            kind = {"struct": S.KIND_STRUCT, "union": S.KIND_UNION, "enum": S.KIND_ENUM}[kw]
            b = self.btf.find(name, kind)
            if b is None and kw == "enum":
                b = self.btf.find(name, S.KIND_ENUM64)
            if b is None and kw != "enum":
                b = self.btf.find(name, S.KIND_FWD)
            if b is not None:
                self.tags[key] = b
                return b
        if kw == "enum":
            raise BTFError(f"enum '{name}' used before its definition", self.where)
        tid = self.btf.add(Fwd(name, is_union))
        self.tags[key] = tid
        return tid

    def composite(self, n: c_ast.Struct | c_ast.Union) -> int:
        is_union = isinstance(n, c_ast.Union)
        kw = "union" if is_union else "struct"
        if n.decls is None:
            if not n.name:
                raise self.err(f"anonymous {kw} without members", n)
            return self._tag_ref(kw, n.name, is_union)
        key = (kw, n.name) if n.name else None
        if key is not None:
            if key in self.defined_tags:
                raise self.err(f"redefinition of '{kw} {n.name}'", n)
            tid = self.tags.get(key)
            if tid is None or tid < self.btf.start_id:
                tid = self.btf.add(Fwd(n.name, is_union))
                self.tags[key] = tid
            self.defined_tags.add(key)
        else:
            tid = self.btf.add(Fwd("x", is_union))  # placeholder, replaced below
        members: list[tuple[str, int, int | None, Any]] = []
        for d in n.decls:
            if not isinstance(d, c_ast.Decl):
                raise self.err(f"unsupported member construct {type(d).__name__}", d)
            mt = self.type_of(d.type)
            bits = None if d.bitsize is None else self.const(d.bitsize)
            members.append((d.name or "", mt, bits, d))
        size, out = self.layout(members, is_union, n)
        kflag = any(m.bitfield_size for m in out)
        cls = Union if is_union else Struct
        self.btf.replace(tid, cls(n.name or "", size, tuple(out), kflag))
        return tid

    def layout(self, members: list[tuple[str, int, int | None, Any]], is_union: bool,
               node: Any) -> tuple[int, list[Member]]:
        btf = self.btf
        bit = 0
        max_align = 1
        end = 0
        out: list[Member] = []
        for i, (name, mt, bits, d) in enumerate(members):
            try:
                msize = btf.size_of(mt)
                malign = btf.align_of(mt)
            except BTFError:
                last_flex = (i == len(members) - 1 and isinstance(btf.resolve(mt), Array)) if mt else False
                if not last_flex:
                    raise self.err(f"member '{name or '(anon)'}' has incomplete type", d) from None
                msize, malign = 0, 1
            if is_union:
                bit = 0
            if bits is not None:
                base = btf.resolve(mt)
                if not isinstance(base, (Int, Enum, Enum64)):
                    raise self.err(f"bitfield '{name}' must have an integer or enum type", d)
                unit = malign * 8
                if bits < 0 or bits > msize * 8:
                    raise self.err(f"bitfield '{name}' width {bits} out of range", d)
                if bits == 0:
                    if name:
                        raise self.err(f"zero-width bitfield '{name}' must be unnamed", d)
                    bit = -(-bit // unit) * unit
                    continue
                if bit // unit != (bit + bits - 1) // unit:
                    bit = -(-bit // unit) * unit
                if name:
                    out.append(Member(name, mt, bit, bits))
                    max_align = max(max_align, malign)
                bit += bits
            else:
                bit = -(-bit // (malign * 8)) * (malign * 8)
                out.append(Member(name, mt, bit, 0))
                max_align = max(max_align, malign)
                bit += msize * 8
            end = max(end, bit)
        size = -(-end // 8)
        size = -(-size // max_align) * max_align
        return size, out

    def enum(self, n: c_ast.Enum) -> int:
        if n.values is None:
            if not n.name:
                raise self.err("anonymous enum without values", n)
            return self._tag_ref("enum", n.name, False)
        if n.name and ("enum", n.name) in self.defined_tags:
            raise self.err(f"redefinition of 'enum {n.name}'", n)
        vals: list[EnumValue] = []
        nxt = 0
        for e in n.values.enumerators:
            v = nxt if e.value is None else self.const(e.value)
            vals.append(EnumValue(e.name, v))
            self.enum_consts[e.name] = v
            nxt = v + 1
        lo = min((v.value for v in vals), default=0)
        hi = max((v.value for v in vals), default=0)
        signed = lo < 0
        if lo < -(1 << 63) or hi >= 1 << 64 or (signed and hi >= 1 << 63):
            raise self.err(f"enum '{n.name or '(anon)'}' value out of 64-bit range", n)
        fits32 = (-(1 << 31) <= lo and hi < (1 << 31)) if signed else hi < (1 << 32)
        if fits32:
            t: BTFType = Enum(n.name or "", 4, tuple(vals), signed)
        else:
            t = Enum64(n.name or "", 8, tuple(vals), signed)
        tid = self.btf.add(t)
        if n.name:
            self.tags[("enum", n.name)] = tid
            self.defined_tags.add(("enum", n.name))
        return tid

    # ---- constant expressions ----------------------------------------------------------------------
    def const(self, n: c_ast.Node) -> int:
        if isinstance(n, c_ast.Constant):
            if n.type in ("char",):
                s = n.value[1:-1]
                return ord(s.encode().decode("unicode_escape")) if s else 0
            if n.type not in ("int", "long int", "unsigned int", "long long int", "unsigned long int",
                              "unsigned long long int", "long unsigned int", "long long unsigned int"):
                raise self.err(f"unsupported constant {n.value!r}", n)
            v = n.value.rstrip("uUlL")
            try:
                if v.lower().startswith("0x"):
                    return int(v, 16)
                if v.lower().startswith("0b"):
                    return int(v, 2)
                if len(v) > 1 and v.startswith("0"):
                    return int(v, 8)
                return int(v)
            except ValueError:
                raise self.err(f"bad integer constant {n.value!r}", n) from None
        if isinstance(n, c_ast.ID):
            if n.name in self.enum_consts:
                return self.enum_consts[n.name]
            raise self.err(f"unknown constant '{n.name}'", n)
        if isinstance(n, c_ast.UnaryOp):
            if n.op == "sizeof":
                return self.btf.size_of(self.type_of(n.expr.type) if isinstance(n.expr, c_ast.Typename)
                                        else self._expr_type(n.expr))
            v = self.const(n.expr)
            ops = {"-": lambda x: -x, "+": lambda x: x, "~": lambda x: ~x, "!": lambda x: int(not x)}
            if n.op in ops:
                return ops[n.op](v)
        if isinstance(n, c_ast.BinaryOp):
            a, b = self.const(n.left), self.const(n.right)
            try:
                return _BINOPS[n.op](a, b)
            except KeyError:
                pass
            except (ZeroDivisionError, ValueError, OverflowError):
                raise self.err(f"bad constant expression ({n.op})", n) from None
        if isinstance(n, c_ast.TernaryOp):
            return self.const(n.iftrue) if self.const(n.cond) else self.const(n.iffalse)
        if isinstance(n, c_ast.Cast):
            return self.const(n.expr)
        raise self.err(f"unsupported constant expression {type(n).__name__}", n)

    def _expr_type(self, n: c_ast.Node) -> int:
        raise self.err("sizeof of an expression is not supported", n)


def _cdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


_BINOPS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": _cdiv, "%": lambda a, b: a - b * _cdiv(a, b),
    "<<": lambda a, b: a << b if 0 <= b < 128 else (_ for _ in ()).throw(ValueError()),
    ">>": lambda a, b: a >> b, "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
    "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b), "<": lambda a, b: int(a < b),
    ">": lambda a, b: int(a > b), "<=": lambda a, b: int(a <= b), ">=": lambda a, b: int(a >= b),
    "&&": lambda a, b: int(bool(a and b)), "||": lambda a, b: int(bool(a or b)),
}
