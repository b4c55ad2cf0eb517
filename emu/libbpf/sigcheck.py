"""Beyond libbpf: compare struct_ops callback prototypes with the kernel's.

Neither libbpf nor the kernel compares a callback's *signature*: libbpf
matches members by name and kind only (``bpf_map__init_kern_struct_ops``,
libbpf 1.8: "Prototypes are not compared", selftest
``test_struct_ops_incompatible`` loads a ``void (*test_2)(int *a)`` against the
kernel's ``void (*test_2)(int a, int b)``), and the verifier checks what the
program *does* with its context against the kernel's prototype, never the
prototype the object declared. A mismatch is therefore silent until a
program reads an argument as the wrong type.

This checker walks each struct_ops map's local struct as libbpf would (flavor
suffix stripped, members by name) and, for every function-pointer member,
compares the local FUNC_PROTO with the kernel member's:

* same arity and compatible types -> ``ok``;
* fewer parameters than the kernel -> ``compatible`` (the program simply does
  not read the trailing arguments; the kernel still passes them);
* a parameter or return type that differs, or more parameters than the
  kernel passes -> ``warn`` (reading them reads something else, or the
  verifier rejects ``func 'x' doesn't have N-th argument``).

Types are compared structurally across the two BTFs: typedefs and
qualifiers are looked through; integers by size and signedness (``char`` is
accepted against either signedness of a byte); enums by size; pointers by
their pointee (``void *`` matches any pointer); structs, unions and forward
declarations by their flavor-less name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.types import (
    Array, Composite, Enum, Enum64, Float, FuncProto, Fwd, Int, Ptr, Struct,
)

from .core import essential_name
from .errors import LibbpfError
from .struct_ops import _func_proto

__all__ = ["Finding", "check_object", "type_str", "OK", "COMPATIBLE", "WARN", "ERROR"]

OK, COMPATIBLE, WARN, ERROR = "ok", "compatible", "warn", "error"


@dataclass(frozen=True, slots=True)
class Finding:
    """One member's verdict: ``map``, ``member``, ``level`` and a sentence."""

    map: str
    member: str
    level: str
    message: str
    local: str = ""
    kernel: str = ""

    def __str__(self) -> str:
        return f"{self.map}.{self.member}: {self.level}: {self.message}"


def type_str(btf: BTF, tid: int, inner: str = "") -> str:
    """A C spelling of BTF type ``tid`` (``const struct sock *``, ``int (*)(int)``)."""
    t = btf.type_by_id(tid)
    sp = (" " + inner) if inner else ""
    k = t.kind
    if tid == 0:
        return f"void{sp}"
    if k in (S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT):
        q = {S.KIND_CONST: "const", S.KIND_VOLATILE: "volatile", S.KIND_RESTRICT: "restrict"}[k]
        inner_t = btf.type_by_id(t.type_id)  # type: ignore[attr-defined]
        if inner_t.kind == S.KIND_PTR:
            return type_str(btf, t.type_id, f"{q} {inner}".strip())  # type: ignore[attr-defined]
        return f"{q} {type_str(btf, t.type_id, inner)}"  # type: ignore[attr-defined]
    if k == S.KIND_TYPE_TAG:
        return type_str(btf, t.type_id, inner)  # type: ignore[attr-defined]
    if isinstance(t, Ptr):
        pt = btf.type_by_id(t.type_id)
        if isinstance(pt, FuncProto):
            return _proto_str(btf, t.type_id, f"(*{inner})")
        return type_str(btf, t.type_id, f"*{inner}")
    if isinstance(t, Array):
        return type_str(btf, t.type_id, f"{inner}[{t.nelems}]")
    if isinstance(t, FuncProto):
        return _proto_str(btf, tid, inner)
    if isinstance(t, (Composite, Fwd)):
        kw = "union" if (t.kind == S.KIND_UNION or (isinstance(t, Fwd) and t.is_union)) else "struct"
        return f"{kw} {t.name or '(anon)'}{sp}"
    if isinstance(t, (Enum, Enum64)):
        return f"enum {t.name or '(anon)'}{sp}"
    return f"{t.name}{sp}"


def _proto_str(btf: BTF, tid: int, inner: str) -> str:
    fp = btf.type_by_id(tid)
    assert isinstance(fp, FuncProto)
    params = ", ".join("..." if p.type_id == 0 else type_str(btf, p.type_id, p.name) for p in fp.params) or "void"
    return type_str(btf, fp.ret_type_id, f"{inner}({params})")


def _same(lb: BTF, lid: int, kb: BTF, kid: int, depth: int = 0) -> bool:
    if depth > 16:
        return True
    lid, kid = lb.skip_modifiers(lid), kb.skip_modifiers(kid)
    lt, kt = lb.type_by_id(lid), kb.type_by_id(kid)
    if lid == 0 or kid == 0:
        return lid == kid
    if isinstance(lt, Int) and isinstance(kt, Int):
        if lt.size != kt.size:
            return False
        byte_char = lt.size == 1 and (lt.name == "char" or kt.name == "char")
        return byte_char or (lt.encoding & S.INT_BOOL) == (kt.encoding & S.INT_BOOL) and lt.signed == kt.signed
    if isinstance(lt, (Enum, Enum64)) and isinstance(kt, (Enum, Enum64)):
        return lt.size == kt.size
    if isinstance(lt, (Enum, Enum64)) and isinstance(kt, Int) or isinstance(lt, Int) and isinstance(kt, (Enum,
                                                                                                         Enum64)):
        return lt.size == kt.size
    if isinstance(lt, Float) and isinstance(kt, Float):
        return lt.size == kt.size
    if isinstance(lt, Ptr) and isinstance(kt, Ptr):
        if lb.skip_modifiers(lt.type_id) == 0 or kb.skip_modifiers(kt.type_id) == 0:
            return True  # void * (const or not) matches any pointer
        return _same(lb, lt.type_id, kb, kt.type_id, depth + 1)
    if isinstance(lt, (Composite, Fwd)) and isinstance(kt, (Composite, Fwd)):
        lu = lt.kind == S.KIND_UNION or (isinstance(lt, Fwd) and lt.is_union)
        ku = kt.kind == S.KIND_UNION or (isinstance(kt, Fwd) and kt.is_union)
        return lu == ku and essential_name(lt.name) == essential_name(kt.name)
    if isinstance(lt, Array) and isinstance(kt, Array):
        return lt.nelems == kt.nelems and _same(lb, lt.type_id, kb, kt.type_id, depth + 1)
    if isinstance(lt, FuncProto) and isinstance(kt, FuncProto):
        return (len(lt.params) == len(kt.params) and _same(lb, lt.ret_type_id, kb, kt.ret_type_id, depth + 1)
                and all(_same(lb, a.type_id, kb, b.type_id, depth + 1) for a, b in zip(lt.params, kt.params)))
    return False


def compare_protos(lb: BTF, lproto: int, kb: BTF, kproto: int) -> tuple[str, str]:
    """(level, sentence) for a local vs kernel FUNC_PROTO."""
    lp, kp = lb.type_by_id(lproto), kb.type_by_id(kproto)
    assert isinstance(lp, FuncProto) and isinstance(kp, FuncProto)
    problems = []
    if not _same(lb, lp.ret_type_id, kb, kp.ret_type_id):
        problems.append(f"returns {type_str(lb, lp.ret_type_id)}, the kernel's returns "
                        f"{type_str(kb, kp.ret_type_id)}")
    for i, (a, b) in enumerate(zip(lp.params, kp.params)):
        if not _same(lb, a.type_id, kb, b.type_id):
            problems.append(f"argument {i + 1} is {type_str(lb, a.type_id, a.name)}, the kernel passes "
                            f"{type_str(kb, b.type_id, b.name)}")
    if len(lp.params) > len(kp.params):
        extra = ", ".join(type_str(lb, p.type_id, p.name) for p in lp.params[len(kp.params):])
        problems.append(f"declares {len(lp.params)} arguments, the kernel passes {len(kp.params)} "
                        f"(no value for: {extra}; the verifier refuses reading them)")
    if problems:
        if len(lp.params) < len(kp.params):
            problems.append(f"declares {len(lp.params)} of the kernel's {len(kp.params)} arguments")
        return WARN, "; ".join(problems)
    if len(lp.params) < len(kp.params):
        return COMPATIBLE, (f"declares {len(lp.params)} of the kernel's {len(kp.params)} arguments (the rest are "
                            "passed but not read)")
    return OK, "same prototype as the kernel's"


def check_object(obj: Any, kbtf: Any, *, maps: list[str] | None = None, all_members: bool = False
                 ) -> list[Finding]:
    """Findings for every struct_ops map of an opened :class:`BpfObject` (or only
    ``maps``), against the kernel BTF view ``kbtf`` (:class:`KernelBtf`).
    Only members that hold a program (in the shadow) are checked unless
    ``all_members``: an unused member's declared prototype never matters."""
    from .struct_ops import find_kern_types

    out: list[Finding] = []
    lb: BTF = obj.btf
    for m in obj.maps:
        if m.st_ops is None or (maps is not None and m.name not in maps):
            continue
        t = lb.type_by_id(m.st_ops.type_id)
        assert isinstance(t, Struct)
        try:
            _mod, kb, ktid, _kv, _off = find_kern_types(_Quiet(obj), kbtf, t.name)
        except LibbpfError as e:
            out.append(Finding(m.name, "*", ERROR, f"struct {t.name}: {e.message or e}"))
            continue
        kt = kb.type_by_id(ktid)
        assert isinstance(kt, Composite)
        for mem in t.members:
            lproto = _func_proto(lb, mem.type_id)
            if lproto is None:
                continue
            prog = m.st_ops.ptrs.get(mem.bits_offset // 8)
            if prog is None and not all_members:
                continue
            km = kt.member(mem.name)
            local = type_str(lb, mem.type_id, mem.name)
            if km is None:
                out.append(Finding(m.name, mem.name, COMPATIBLE if m.st_ops.member_is_zero(
                    mem.bits_offset // 8, 8) else ERROR,
                    f"struct {essential_name(t.name)} in the kernel has no member {mem.name} "
                    f"(libbpf skips it only while it is NULL)", local))
                continue
            kproto = _func_proto(kb, km.type_id)
            if kproto is None:
                out.append(Finding(m.name, mem.name, ERROR, "the kernel's member is not a function pointer",
                                   local, type_str(kb, km.type_id, km.name)))
                continue
            level, msg = compare_protos(lb, lproto, kb, kproto)
            if prog is not None:
                msg = f"{msg} (program {prog.name})"
            out.append(Finding(m.name, mem.name, level, msg, local, type_str(kb, km.type_id, km.name)))
    return out


class _Quiet:
    """An object stand-in whose log swallows libbpf lines (the checker reports its own)."""

    class _L:
        def warn(self, *_: Any) -> None: ...
        def info(self, *_: Any) -> None: ...
        def debug(self, *_: Any) -> None: ...

    def __init__(self, obj: Any) -> None:
        self.log = self._L()
        self.btf = obj.btf

