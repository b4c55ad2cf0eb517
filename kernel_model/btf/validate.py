"""The kernel's graph rules for a decoded BTF.

Models the per-kind ``check_meta`` name/size rules and the resolve pass of
kernel/bpf/btf.c (btf_check_all_metas(), btf_check_all_types(), btf_resolve(),
the *_resolve() callbacks, btf_func_proto_check(); Linux 6.12/6.18):

* names: ``btf_name_valid_identifier()`` (``[A-Za-z_.][A-Za-z0-9_.]*``, < 512
  chars), DATASEC names printable, CONST/VOLATILE/RESTRICT/PTR/ARRAY/FUNC_PROTO
  unnamed, TYPEDEF/FWD/FUNC/VAR named, TYPE_TAG/DECL_TAG non-empty;
* sizes: INT bits and encodings, ENUM sizes (1, 2, 4, 8), FLOAT sizes, DATASEC
  entries in order and inside the section;
* type ids in range, members not void, FUNC -> FUNC_PROTO, DECL_TAG targets
  and component indexes, varargs only last;
* STRUCT/UNION member offsets non-decreasing, union members at 0, members
  inside the struct ("Member bits_offset exceeds its struct size", "Member
  exceeds struct_size"); arrays of at most 4 GiB ("Array size overflows
  U32_MAX", btf_array_resolve()), so every size fits in 32 bits;
* loops: a cycle through modifiers/typedefs/pointers, or a struct containing
  itself by value ("Loop detected").

Messages are ``[id] KIND 'name' <kernel message>`` with the member or argument
named where the kernel names it. Left out: bitfield base-type checks beyond
"int or enum", the kfunc/kptr/graph-root attribute parsing (btf_parse_fields)
and the kernel's verifier-log text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from . import structs as S
from .errors import BTFError
from .types import (Array, BTFType, Composite, Const, Datasec, DeclTag, Enum, Enum64, Float, Func, FuncProto, Fwd,
                    Int, Ptr, Restrict, Typedef, TypeTag, Var, Volatile)

if TYPE_CHECKING:
    from .btf import BTF

#: the error of type ``tid`` (``t``) with a message, as btf_verifier_log_type words it
_Fail = Callable[[int, BTFType, str], BTFError]

__all__ = ["validate_btf", "valid_identifier"]

_IDENT = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]{0,510}\Z")
KSYM_NAME_LEN = 512
U32_MAX = 0xFFFFFFFF


def valid_identifier(name: str) -> bool:
    """btf_name_valid_identifier(): letters, digits, '_' and '.', not starting with a digit."""
    return bool(_IDENT.match(name))


def _valid_section(name: str) -> bool:
    return 0 < len(name) < KSYM_NAME_LEN and all(" " <= c <= "~" for c in name)


def validate_btf(btf: BTF, where: str = "") -> None:
    """Raise :class:`BTFError` on the first rule ``btf``'s own types break.

    A BTF fresh from a blob is first checked in bulk (by the compiled
    accelerator when it is built, accel.py, else bulk_validate.py); only when
    that cannot vouch for it are the rules applied type by type, which names
    the first one broken.
    """
    sec = btf._section()
    if sec is not None:
        if btf.base is None:
            from .accel import module
            fast = module()
            if fast is not None and fast.rules_hold(sec.words, sec.strtab.data, sec.n):
                return
        from .bulk_validate import section_ok
        if section_ok(btf, sec):
            return
    count = btf.type_count
    get = btf.type_by_id

    def fail(tid: int, t: BTFType, msg: str) -> BTFError:
        return BTFError(f"[{tid}] {t.kind_name} '{t.name or '(anon)'}' {msg}", where, tid)

    for tid, t in btf.iter_types():
        k = t.kind
        nm = t.name
        if isinstance(t, Func):
            if not valid_identifier(nm):
                raise fail(tid, t, "Invalid name")
            if t.linkage > S.FUNC_GLOBAL:
                raise fail(tid, t, "Invalid func linkage")
            if not 0 < t.type_id < count or get(t.type_id).kind != S.KIND_FUNC_PROTO:
                raise fail(tid, t, "Invalid type_id (not a FUNC_PROTO)")
        elif isinstance(t, FuncProto):
            if nm:
                raise fail(tid, t, "Invalid name")
            if t.ret_type_id >= count:
                raise fail(tid, t, "Invalid return type")
            params = t.params
            for i, p in enumerate(params):
                if p.type_id == 0 and i != len(params) - 1:
                    raise fail(tid, t, f"Invalid arg#{i + 1}")
                if p.type_id == 0 and p.name:
                    raise fail(tid, t, f"Invalid arg#{i + 1}")
                if p.type_id >= count:
                    raise fail(tid, t, f"Invalid arg#{i + 1}")
                if p.name and not valid_identifier(p.name):
                    raise fail(tid, t, f"Invalid arg#{i + 1}")
        elif isinstance(t, (Ptr, Const, Volatile, Restrict, Typedef, TypeTag)):
            if k == S.KIND_TYPEDEF:
                if not valid_identifier(nm):
                    raise fail(tid, t, "Invalid name")
            elif k == S.KIND_TYPE_TAG:
                if not nm:
                    raise fail(tid, t, "Invalid name")
            elif nm:
                raise fail(tid, t, "Invalid name")
            if t.type_id >= count:
                raise fail(tid, t, "Invalid type_id")
        elif isinstance(t, Composite):
            _check_composite(btf, tid, t, fail)
        elif isinstance(t, Array):
            if nm:
                raise fail(tid, t, "Invalid name")
            if not 0 < t.type_id < count:
                raise fail(tid, t, "Invalid elem")
            if not 0 < t.index_type_id < count:
                raise fail(tid, t, "Invalid index")
        elif isinstance(t, (Enum, Enum64)):
            size = t.size
            if size > 8 or size == 0 or size & (size - 1):
                raise fail(tid, t, "Unexpected size")
            if nm and not valid_identifier(nm):
                raise fail(tid, t, "Invalid name")
            for v in t.values:
                if not valid_identifier(v.name):
                    raise fail(tid, t, f"Invalid name (enumerator '{v.name}')")
        elif isinstance(t, Int):
            bits = t.nr_bits + t.bits_offset
            if bits > 128:
                raise fail(tid, t, "nr_bits exceeds 128")
            if (bits + 7) // 8 > t.size:
                raise fail(tid, t, "nr_bits exceeds type_size")
            if t.encoding not in (0, S.INT_SIGNED, S.INT_CHAR, S.INT_BOOL):
                raise fail(tid, t, "Unsupported encoding")
        elif isinstance(t, Fwd):
            if not valid_identifier(nm):
                raise fail(tid, t, "Invalid name")
        elif isinstance(t, Var):
            if not valid_identifier(nm):
                raise fail(tid, t, "Invalid name")
            if not 0 < t.type_id < count:
                raise fail(tid, t, "Invalid type_id")
            if t.linkage > S.VAR_GLOBAL_EXTERN:
                raise fail(tid, t, "Linkage not supported")
        elif isinstance(t, Datasec):
            if not t.size:
                raise fail(tid, t, "size == 0")
            if not _valid_section(nm):
                raise fail(tid, t, "Invalid name")
            last_end = 0
            for vs in t.vars:
                if not 0 < vs.type_id < count:
                    raise fail(tid, t, f"Invalid type_id (entry type_id={vs.type_id})")
                if vs.offset < last_end or vs.offset >= t.size:
                    raise fail(tid, t, f"Invalid offset (entry type_id={vs.type_id} offset={vs.offset})")
                if not vs.size or vs.size > t.size:
                    raise fail(tid, t, f"Invalid size (entry type_id={vs.type_id} size={vs.size})")
                last_end = vs.offset + vs.size
                if last_end > t.size:
                    raise fail(tid, t, f"Invalid offset+size (entry type_id={vs.type_id})")
                if get(vs.type_id).kind != S.KIND_VAR:
                    raise fail(tid, t, f"Not a VAR kind member (entry type_id={vs.type_id})")
        elif isinstance(t, Float):
            if not valid_identifier(nm):
                raise fail(tid, t, "Invalid name")
            if t.size not in (2, 4, 8, 12, 16):
                raise fail(tid, t, "Invalid type_size")
        elif isinstance(t, DeclTag):
            if not nm:
                raise fail(tid, t, "Invalid value")
            ci = t.component_idx
            if ci < -1:
                raise fail(tid, t, "Invalid component_idx")
            if not 0 < t.type_id < count:
                raise fail(tid, t, "Invalid type_id")
            target = get(t.type_id)
            tk = target.kind
            if tk not in (S.KIND_STRUCT, S.KIND_UNION, S.KIND_VAR, S.KIND_FUNC, S.KIND_TYPEDEF):
                raise fail(tid, t, "Invalid type_id (tag target must be a struct, union, var, func or typedef)")
            if ci != -1:
                if tk in (S.KIND_VAR, S.KIND_TYPEDEF):
                    raise fail(tid, t, "Invalid component_idx")
                if isinstance(target, Func):
                    proto = get(target.type_id)
                    n = len(proto.params) if isinstance(proto, FuncProto) else 0
                else:  # a struct or union (the kinds left)
                    n = len(target.members) if isinstance(target, Composite) else 0
                if ci >= n:
                    raise fail(tid, t, "Invalid component_idx")
    _check_loops(btf, fail)
    _check_member_sizes(btf, fail)


def _check_composite(btf: BTF, tid: int, t: Composite, fail: _Fail) -> None:
    if t.name and not valid_identifier(t.name):
        raise fail(tid, t, "Invalid name")
    is_union = t.kind == S.KIND_UNION
    count = btf.type_count
    last = 0
    for m in t.members:
        if m.name and not valid_identifier(m.name):
            raise fail(tid, t, f"Invalid name (member '{m.name}')")
        if not 0 < m.type_id < count:
            raise fail(tid, t, f"Invalid type_id (member '{m.name}' type_id={m.type_id})")
        if m.bitfield_size and not t.kflag:
            raise fail(tid, t, f"Invalid member bitfield_size (member '{m.name}': kind_flag is clear)")
        off = m.bits_offset
        if is_union and off:
            raise fail(tid, t, f"Invalid member bits_offset (member '{m.name}')")
        if last > off:
            raise fail(tid, t, f"Invalid member bits_offset (member '{m.name}' at bit {off} after bit {last})")
        if (off + 7) // 8 > t.size:
            raise fail(tid, t, f"Member bits_offset exceeds its struct size (member '{m.name}')")
        last = off


def _check_member_sizes(btf: BTF, fail: _Fail) -> None:
    """btf_struct_resolve()/btf_array_resolve(): members and array elements have sizes and fit."""
    get = btf.type_by_id
    size_cache: dict[int, int] = {}

    def size(tid: int) -> int | None:
        s = size_cache.get(tid)
        if s is None:
            try:
                s = btf.size_of(tid)
            except BTFError:
                s = -1
            size_cache[tid] = s
        return None if s < 0 else s

    for tid, t in btf.iter_types():
        if isinstance(t, Composite):
            for m in t.members:
                ms = size(m.type_id)
                if ms is None:
                    raise fail(tid, t, f"Invalid member (member '{m.name}' has no size)")
                if m.bitfield_size:
                    base = btf.resolve(m.type_id)
                    if base.kind not in (S.KIND_INT, S.KIND_ENUM, S.KIND_ENUM64):
                        raise fail(tid, t, f"Invalid member base type (bitfield '{m.name}')")
                    if m.bitfield_size > ms * 8:
                        raise fail(tid, t, f"Invalid member bitfield_size (member '{m.name}')")
                    if (m.bits_offset + m.bitfield_size + 7) // 8 > t.size:
                        raise fail(tid, t, f"Member exceeds struct_size (member '{m.name}')")
                elif t.size < m.bits_offset // 8 or t.size - m.bits_offset // 8 < ms:
                    raise fail(tid, t, f"Member exceeds struct_size (member '{m.name}')")
        elif isinstance(t, Array):
            es = size(t.type_id)
            if es is None:
                raise fail(tid, t, "Invalid elem")
            idx = btf.resolve(t.index_type_id)
            if idx.kind != S.KIND_INT:
                raise fail(tid, t, "Invalid index")
            if t.nelems and es > U32_MAX // t.nelems:
                raise fail(tid, t, "Array size overflows U32_MAX")
        elif isinstance(t, Var):
            vt = get(t.type_id).kind
            if vt in (S.KIND_FUNC, S.KIND_FUNC_PROTO, S.KIND_VAR, S.KIND_DATASEC, S.KIND_DECL_TAG):
                raise fail(tid, t, "Invalid type_id")


def _check_loops(btf: BTF, fail: _Fail) -> None:
    """Find a cycle the kernel's resolve pass reports as "Loop detected".

    Two graphs are searched. The *value* graph: modifiers/typedefs/type tags,
    arrays and vars to their target, structs/unions to their member types, a
    pointer being a leaf. The *pointer-chain* graph: pointers, modifiers,
    typedefs and arrays to their target, where a struct, union, FWD or
    FUNC_PROTO is a sink (the kernel's RESOLVE_PTR mode). So
    ``struct s { struct s *next; }`` is fine, while ``struct s { struct s in; }``,
    ``typedef T T`` and a pointer to itself are loops.
    """
    start = btf.start_id
    types = btf._materialize_all()
    n = len(types)
    ptr_sinks = (S.KIND_STRUCT, S.KIND_UNION, S.KIND_FWD, S.KIND_FUNC_PROTO)

    def value_succ(t: BTFType) -> list[int]:
        if isinstance(t, (Const, Volatile, Restrict, Typedef, TypeTag, Array, Var)):  # the modifiers, arrays, vars
            return [t.type_id]
        if isinstance(t, Composite):
            return [m.type_id for m in t.members]
        return []

    def ptr_succ(t: BTFType) -> list[int]:
        if isinstance(t, (Const, Volatile, Restrict, Typedef, TypeTag, Array, Ptr)):  # the modifiers, arrays, pointers
            tgt = t.type_id
            c = tgt - start
            if 0 <= c < n and types[c].kind in ptr_sinks:
                return []
            return [tgt]
        return []

    for succ in (value_succ, ptr_succ):
        state = bytearray(n)  # 0 new, 1 on the stack, 2 done
        for root in range(n):
            if state[root]:
                continue
            state[root] = 1
            stack = [(root, succ(types[root]))]
            while stack:
                i, nxt = stack[-1]
                if not nxt:
                    state[i] = 2
                    stack.pop()
                    continue
                c = nxt.pop() - start
                if c < 0 or c >= n:
                    continue  # void, a base type, or out of range (reported by the per-type checks)
                st = state[c]
                if st == 2:
                    continue
                if st == 1:
                    raise fail(c + start, types[c], "Loop detected")
                state[c] = 1
                stack.append((c, succ(types[c])))
