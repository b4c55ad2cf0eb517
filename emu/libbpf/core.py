"""CO-RE: compile once, run everywhere -- relocations against the kernel's BTF.

Models ``src/relo_core.c`` and ``bpf_object__relocate_core`` /
``bpf_core_find_cands`` of ``src/libbpf.c`` (libbpf 1.8) -- the rules, in our
own code:

* **flavors** (``bpf_core_essential_name_len``): everything from the *last*
  ``___`` that has a non-``_`` character on both sides is ignored when names
  are matched (``task_struct___old`` is a candidate for ``task_struct``);
* **candidates**: target types of a compatible kind whose essential name
  equals the local one, in vmlinux first; only when vmlinux has none, in each
  module's own types;
* **spec** (``bpf_core_parse_spec``): the access string ``0:1:2`` from the
  ``.BTF.ext`` record walks the local type (first index: array of the root
  type; then member indices of structs/unions and indices of arrays), giving a
  bit offset and the *named* accessors that must exist in the target;
* **matching** (``bpf_core_spec_match``, ``bpf_core_match_member``): each named
  accessor is found by name in the candidate (anonymous members searched
  recursively), field types checked with ``bpf_core_fields_are_compat``, array
  indices checked against the target's bounds (a last-member flexible array
  is unbounded);
* **values** (``bpf_core_calc_field_relo`` & co.): byte offset, byte size,
  existence, signedness, the two bitfield shifts; local/target type id, type
  existence/size/match; enumerator existence/value. All matching candidates
  must agree (``field offset ambiguity`` / ``relocation decision ambiguity``);
* **patching** (``bpf_core_patch_insn``): ALU ``imm``, LDX/ST/STX ``off`` (and
  the memory size when the field's size changed and it is safe), LD_IMM64;
  the instruction's current value must equal the local value when the kind is
  validated (``unexpected insn #%d ... value: got %d, exp %llu -> %llu``);
* **failure**: no candidate and a kind that needs one (field offset/size, enum
  value...) *poisons* the instruction: it becomes ``call 0xbad2310``
  (195896080), so that the verifier rejects it only if it is reachable; libbpf
  then rewrites the verifier's ``invalid func unknown#195896080`` into
  ``<invalid CO-RE relocation>`` / ``failed to resolve CO-RE relocation
  <spec>`` (``fixup_log_failed_core_relo``), the clear message this emulator
  shows.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel_model import isa
from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.types import (
    Array, BTFType, Composite, Enum, Enum64, Float, FuncProto, Fwd, Int, Ptr,
)
from kernel_model.insn import Insn

from .btf_ext import CORE_KIND_NAMES, CoreRelo
from .errors import LibbpfError

if TYPE_CHECKING:
    from .kbtf import KernelBtf

__all__ = [
    "essential_name", "essential_len", "CoreSpec", "CoreResult", "parse_spec", "format_spec", "find_cands",
    "calc_relo_insn", "patch_insn", "types_are_compat", "POISON_IMM",
    "FIELD_BYTE_OFFSET", "FIELD_BYTE_SIZE", "FIELD_EXISTS", "FIELD_SIGNED", "FIELD_LSHIFT_U64",
    "FIELD_RSHIFT_U64", "TYPE_ID_LOCAL", "TYPE_ID_TARGET", "TYPE_EXISTS", "TYPE_SIZE", "ENUMVAL_EXISTS",
    "ENUMVAL_VALUE", "TYPE_MATCHES",
]

# enum bpf_core_relo_kind (include/uapi/linux/bpf.h)
(FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT_U64, FIELD_RSHIFT_U64,
 TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, ENUMVAL_EXISTS, ENUMVAL_VALUE, TYPE_MATCHES) = range(13)
FIELD_KINDS = frozenset(range(0, 6))
TYPE_KINDS = frozenset({TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES})
ENUMVAL_KINDS = frozenset({ENUMVAL_EXISTS, ENUMVAL_VALUE})
#: BPF_CORE_SPEC_MAX_LEN (src/relo_core.h)
SPEC_MAX_LEN = 64
#: the imm of a poisoned instruction: 0xbad2310, "bad relo"
POISON_IMM = 195896080

_EUCLEAN = errno.EUCLEAN


def essential_len(name: str) -> int:
    """``bpf_core_essential_name_len``: length before the last ``X___Y`` separator."""
    n = len(name)
    for i in range(n - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return i + 1
    return n


def essential_name(name: str) -> str:
    return name[:essential_len(name)]


def _kind_compat(a: BTFType, b: BTFType) -> bool:
    """``btf_kind_core_compat``: same kind, or ENUM vs ENUM64."""
    return a.kind == b.kind or ({a.kind, b.kind} == {S.KIND_ENUM, S.KIND_ENUM64})


def _skip(btf: BTF, tid: int) -> tuple[int, BTFType]:
    tid = btf.skip_modifiers(tid)
    return tid, btf.type_by_id(tid)


# --- specs -------------------------------------------------------------------------------

@dataclass(slots=True)
class Accessor:
    type_id: int
    idx: int
    name: str | None = None


@dataclass(slots=True)
class CoreSpec:
    """``struct bpf_core_spec``: a parsed (local) or matched (target) access."""

    btf: BTF
    root_type_id: int
    kind: int
    spec: list[Accessor] = field(default_factory=list)
    raw_spec: list[int] = field(default_factory=list)
    bit_offset: int = 0


class SpecError(Exception):
    def __init__(self, err: int) -> None:
        self.errno = err


def parse_spec(btf: BTF, relo: CoreRelo, prog_name: str = "", log: Any = None) -> CoreSpec:
    """``bpf_core_parse_spec``; raises :class:`SpecError` (errno) on a bad access string."""
    try:
        spec_str = btf._strings.get(relo.access_str_off) if btf._strings.valid(relo.access_str_off) else None
    except ValueError:
        spec_str = None
    if not spec_str or spec_str[0] == ":":
        raise SpecError(errno.EINVAL)
    spec = CoreSpec(btf, relo.type_id, relo.kind)
    if relo.kind in TYPE_KINDS:
        if spec_str != "0":
            raise SpecError(errno.EINVAL)
        return spec
    for part in spec_str.split(":"):
        if not part.isdigit():
            raise SpecError(errno.EINVAL)
        if len(spec.raw_spec) == SPEC_MAX_LEN:
            raise SpecError(errno.E2BIG)
        spec.raw_spec.append(int(part))
    tid, t = _skip(btf, relo.type_id)
    idx0 = spec.raw_spec[0]
    spec.spec.append(Accessor(tid, idx0))
    if relo.kind in ENUMVAL_KINDS:
        if not isinstance(t, (Enum, Enum64)) or len(spec.raw_spec) > 1 or idx0 >= len(t.values):
            raise SpecError(errno.EINVAL)
        spec.spec[0].name = t.values[idx0].name
        return spec
    if relo.kind not in FIELD_KINDS:
        raise SpecError(errno.EINVAL)
    sz = _size(btf, tid)
    spec.bit_offset = idx0 * sz * 8
    for i in range(1, len(spec.raw_spec)):
        tid, t = _skip(btf, tid)
        idx = spec.raw_spec[i]
        if isinstance(t, Composite):
            if idx >= len(t.members):
                raise SpecError(errno.EINVAL)
            m = t.members[idx]
            spec.bit_offset += m.bits_offset
            if m.name:
                spec.spec.append(Accessor(tid, idx, m.name))
            tid = m.type_id
        elif isinstance(t, Array):
            etid, _ = _skip(btf, t.type_id)
            if not _is_flex(btf, spec.spec[-1], t) and idx >= t.nelems:
                raise SpecError(errno.EINVAL)
            spec.spec.append(Accessor(etid, idx))
            spec.bit_offset += idx * _size(btf, etid) * 8
            tid = etid
        else:
            if log is not None:
                log.warn(f"prog '{prog_name}': relo for [{relo.type_id}] {spec_str} (at idx {i}) captures type "
                         f"[{tid}] of unexpected kind {t.kind_name.lower()}")
            raise SpecError(errno.EINVAL)
    return spec


def _size(btf: BTF, tid: int) -> int:
    try:
        return btf.size_of(tid)
    except ValueError:
        raise SpecError(errno.EINVAL) from None


def _is_flex(btf: BTF, acc: Accessor, arr: Array) -> bool:
    """``is_flex_arr``: a zero-length array that is the last member of its struct."""
    if acc.name is None or arr.nelems > 0:
        return False
    t = btf.type_by_id(acc.type_id)
    return isinstance(t, Composite) and acc.idx == len(t.members) - 1


def _kind_str(t: BTFType) -> str:
    """``btf_kind_str``: lower-case kind names as libbpf prints them."""
    return {S.KIND_UNKN: "void", S.KIND_FUNC_PROTO: "func_proto", S.KIND_DECL_TAG: "decl_tag",
            S.KIND_TYPE_TAG: "type_tag"}.get(t.kind, t.kind_name.lower())


def format_spec(spec: CoreSpec) -> str:
    """``bpf_core_format_spec``: ``<byte_off> [12] struct task_struct.pid (0:1 @ offset 4)``."""
    t = spec.btf.type_by_id(spec.root_type_id)
    out = f"<{CORE_KIND_NAMES.get(spec.kind, 'unknown')}> [{spec.root_type_id}] {_kind_str(t)} {t.name or '<anon>'}"
    if spec.kind in TYPE_KINDS:
        return out
    if spec.kind in ENUMVAL_KINDS:
        e = spec.btf.resolve(spec.root_type_id)
        if isinstance(e, (Enum, Enum64)) and spec.raw_spec and spec.raw_spec[0] < len(e.values):
            ev = e.values[spec.raw_spec[0]]
            out += f"::{ev.name} = {ev.value}"
        return out
    for i, a in enumerate(spec.spec):
        if a.name:
            out += f".{a.name}"
        elif i > 0 or a.idx > 0:
            out += f"[{a.idx}]"
    raw = ":".join(str(x) for x in spec.raw_spec)
    if spec.bit_offset % 8:
        return f"{out} ({raw} @ offset {spec.bit_offset // 8}.{spec.bit_offset % 8})"
    return f"{out} ({raw} @ offset {spec.bit_offset // 8})"


# --- compatibility ---------------------------------------------------------------------------

def types_are_compat(lbtf: BTF, lid: int, tbtf: BTF, tid: int, level: int = 32) -> int:
    """``__bpf_core_types_are_compat``: 1 compatible, 0 not, <0 error."""
    lt, tt = lbtf.type_by_id(lid), tbtf.type_by_id(tid)
    if not _kind_compat(lt, tt):
        return 0
    for _depth in range(32):
        lid, lt = _skip(lbtf, lid)
        tid, tt = _skip(tbtf, tid)
        if not _kind_compat(lt, tt):
            return 0
        k = lt.kind
        if k in (S.KIND_UNKN, S.KIND_STRUCT, S.KIND_UNION, S.KIND_ENUM, S.KIND_FWD, S.KIND_ENUM64):
            return 1
        if k == S.KIND_INT:
            return int(lt.bits_offset == 0 and tt.bits_offset == 0)  # type: ignore[attr-defined]
        if k == S.KIND_PTR:
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if k == S.KIND_ARRAY:
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if k == S.KIND_FUNC_PROTO:
            assert isinstance(lt, FuncProto) and isinstance(tt, FuncProto)
            if len(lt.params) != len(tt.params):
                return 0
            for lp, tp in zip(lt.params, tt.params):
                if level <= 0:
                    return -errno.EINVAL
                r = types_are_compat(lbtf, lbtf.skip_modifiers(lp.type_id), tbtf, tbtf.skip_modifiers(tp.type_id),
                                     level - 1)
                if r <= 0:
                    return r
            lid, tid = lbtf.skip_modifiers(lt.ret_type_id), tbtf.skip_modifiers(tt.ret_type_id)
            continue
        return 0
    return -errno.EINVAL


def _fields_are_compat(lbtf: BTF, lid: int, tbtf: BTF, tid: int) -> int:
    """``bpf_core_fields_are_compat``."""
    for _ in range(64):
        lid, lt = _skip(lbtf, lid)
        tid, tt = _skip(tbtf, tid)
        if isinstance(lt, Composite) and isinstance(tt, Composite):
            return 1
        if not _kind_compat(lt, tt):
            return 0
        if isinstance(lt, (Ptr, Float)):
            return 1
        if isinstance(lt, (Fwd, Enum, Enum64)):
            ll, tl = essential_len(lt.name), essential_len(tt.name)
            return int(ll == 0 or tl == 0 or (ll == tl and lt.name[:ll] == tt.name[:tl]))
        if isinstance(lt, Int):
            return int(lt.bits_offset == 0 and tt.bits_offset == 0)  # type: ignore[attr-defined]
        if isinstance(lt, Array):
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        return 0
    return -errno.EINVAL


def _names_match(ln: str, tn: str) -> bool:
    if not tn:
        return not ln
    a, b = essential_len(tn), essential_len(ln)
    return a == b and ln[:b] == tn[:a]


def types_match(lbtf: BTF, lid: int, tbtf: BTF, tid: int, behind_ptr: bool = False, level: int = 32) -> int:
    """``__bpf_core_types_match`` (TYPE_MATCHES, libbpf >= 1.1)."""
    if level <= 0:
        return -errno.EINVAL
    for _ in range(32):
        lid, lt = _skip(lbtf, lid)
        tid, tt = _skip(tbtf, tid)
        if not _names_match(lt.name, tt.name):
            return 0
        lk, tk = lt.kind, tt.kind
        if lk == S.KIND_UNKN:
            return int(lk == tk)
        if isinstance(lt, Fwd):
            if behind_ptr and lk != tk:
                return int((tk == S.KIND_STRUCT and not lt.is_union) or (tk == S.KIND_UNION and lt.is_union))
            return int(lk == tk and lt.is_union == tt.is_union)  # type: ignore[attr-defined]
        if isinstance(lt, (Enum, Enum64)):
            if not isinstance(tt, (Enum, Enum64)) or lt.size != tt.size or len(lt.values) > len(tt.values):
                return 0
            return int(all(any(_names_match(lv.name, tv.name) for tv in tt.values) for lv in lt.values))
        if isinstance(lt, Composite):
            if behind_ptr:
                if lk == tk:
                    return 1
                return int(isinstance(tt, Fwd) and (lk == S.KIND_UNION) == tt.is_union)
            if lk != tk or len(lt.members) > len(tt.members):  # type: ignore[attr-defined]
                return 0
            for lm in lt.members:
                ok = False
                for tm in tt.members:  # type: ignore[attr-defined]
                    if not _names_match(lm.name, tm.name):
                        continue
                    r = types_match(lbtf, lm.type_id, tbtf, tm.type_id, behind_ptr, level - 1)
                    if r < 0:
                        return r
                    if r:
                        ok = True
                        break
                if not ok:
                    return 0
            return 1
        if isinstance(lt, Int):
            return int(lk == tk and lt.size == tt.size  # type: ignore[attr-defined]
                       and (lt.encoding & S.INT_SIGNED) == (tt.encoding & S.INT_SIGNED))  # type: ignore[attr-defined]
        if isinstance(lt, Ptr):
            if lk != tk:
                return 0
            behind_ptr = True
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if isinstance(lt, Array):
            if lk != tk or lt.nelems != tt.nelems:  # type: ignore[attr-defined]
                return 0
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if isinstance(lt, FuncProto):
            if lk != tk or len(lt.params) != len(tt.params):  # type: ignore[attr-defined]
                return 0
            for lp, tp in zip(lt.params, tt.params):  # type: ignore[attr-defined]
                r = types_match(lbtf, lp.type_id, tbtf, tp.type_id, behind_ptr, level - 1)
                if r <= 0:
                    return r
            lid, tid = lt.ret_type_id, tt.ret_type_id  # type: ignore[attr-defined]
            continue
        return 0
    return -errno.EINVAL


# --- candidates and matching --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Cand:
    btf: BTF
    id: int
    where: str  # "vmlinux" or the module name


def find_cands(kbtf: KernelBtf, lbtf: BTF, local_id: int, log: Any = None) -> list[Cand]:
    """``bpf_core_find_cands``: vmlinux first; modules only if vmlinux has none."""
    lt = lbtf.type_by_id(local_id)
    if not lt.name:
        raise LibbpfError(errno.EINVAL)
    elen = essential_len(lt.name)
    ess = lt.name[:elen]

    def scan(btf: BTF, where: str, start: int) -> list[Cand]:
        out = []
        for i, t in btf.iter_types():
            if i < start or not _kind_compat(t, lt) or not t.name:
                continue
            if essential_len(t.name) != elen or t.name[:elen] != ess:
                continue
            if log is not None:
                log.debug(f"CO-RE relocating [{local_id}] {_kind_str(lt)} {lt.name}: found target candidate "
                          f"[{i}] {_kind_str(t)} {t.name} in [{where}]")
            out.append(Cand(btf, i, where))
        return out

    cands = scan(kbtf.vmlinux, "vmlinux", 1)
    if cands:
        return cands
    for m in kbtf.modules:
        cands += scan(m.btf, m.name, m.btf.start_id)
    return cands


def _match_member(lbtf: BTF, lacc: Accessor, tbtf: BTF, tid: int, spec: CoreSpec) -> tuple[int, int]:
    """``bpf_core_match_member``: (found, next target type id)."""
    tid, tt = _skip(tbtf, tid)
    if not isinstance(tt, Composite):
        return 0, tid
    lt = lbtf.type_by_id(lacc.type_id)
    assert isinstance(lt, Composite)
    lm = lt.members[lacc.idx]
    for i, m in enumerate(tt.members):
        if len(spec.raw_spec) == SPEC_MAX_LEN:
            raise SpecError(errno.E2BIG)
        spec.bit_offset += m.bits_offset
        spec.raw_spec.append(i)
        if not m.name:
            found, nxt = _match_member(lbtf, lacc, tbtf, m.type_id, spec)
            if found:
                return found, nxt
        elif m.name == lm.name:
            spec.spec.append(Accessor(tid, i, m.name))
            found = _fields_are_compat(lbtf, lm.type_id, tbtf, m.type_id)
            if found < 0:
                raise SpecError(-found)
            if not found:
                spec.spec.pop()
            return found, m.type_id
        spec.bit_offset -= m.bits_offset
        spec.raw_spec.pop()
    return 0, tid


def spec_match(local: CoreSpec, tbtf: BTF, tid: int) -> tuple[int, CoreSpec]:
    """``bpf_core_spec_match``: (1 matched / 0 not, the target spec)."""
    targ = CoreSpec(tbtf, tid, local.kind)
    if local.kind in TYPE_KINDS:
        if local.kind == TYPE_MATCHES:
            r = types_match(local.btf, local.root_type_id, tbtf, tid)
        else:
            r = types_are_compat(local.btf, local.root_type_id, tbtf, tid)
        if r < 0:
            raise SpecError(-r)
        return r, targ
    if local.kind in ENUMVAL_KINDS:
        tid, tt = _skip(tbtf, tid)
        if not isinstance(tt, (Enum, Enum64)):
            return 0, targ
        lname = local.spec[0].name or ""
        lel = essential_len(lname)
        for i, ev in enumerate(tt.values):
            if essential_len(ev.name) == lel and ev.name[:lel] == lname[:lel]:
                targ.spec.append(Accessor(tid, i, ev.name))
                targ.raw_spec.append(i)
                return 1, targ
        return 0, targ
    for i, lacc in enumerate(local.spec):
        tid, tt = _skip(tbtf, tid)
        if lacc.name is not None:
            found, tid = _match_member(local.btf, lacc, tbtf, tid, targ)
            if found <= 0:
                return found, targ
        else:
            if i > 0:
                if not isinstance(tt, Array):
                    return 0, targ
                if not _is_flex(tbtf, targ.spec[-1], tt) and lacc.idx >= tt.nelems:
                    return 0, targ
                tid = tbtf.skip_modifiers(tt.type_id)
            if len(targ.raw_spec) == SPEC_MAX_LEN:
                raise SpecError(errno.E2BIG)
            targ.spec.append(Accessor(tid, lacc.idx))
            targ.raw_spec.append(lacc.idx)
            targ.bit_offset += lacc.idx * _size(tbtf, tid) * 8
    return 1, targ


# --- values ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class CoreResult:
    """``struct bpf_core_relo_res``."""

    orig_val: int = 0
    new_val: int = 0
    poison: bool = False
    validate: bool = True
    fail_memsz_adjust: bool = False
    orig_sz: int = 0
    new_sz: int = 0
    orig_type_id: int = 0
    new_type_id: int = 0
    #: False when no candidate matched (the value is libbpf's "target not found" one: a
    #: poisoning, or 0 for the existence/size kinds); not a field of libbpf's struct
    matched: bool = True


def _elem_size(btf: BTF, tid: int) -> tuple[int, int]:
    """Size of the innermost element of (arrays of) ``tid``, and its id."""
    tid, t = _skip(btf, tid)
    while isinstance(t, Array):
        tid, t = _skip(btf, t.type_id)
    return _size(btf, tid), tid


def _calc_field(relo: CoreRelo, spec: CoreSpec | None, prog_name: str, log: Any,
                want_validate: bool) -> tuple[int, int, int, bool]:
    """``bpf_core_calc_field_relo``: (value, field size, field type id, validate)."""
    if relo.kind == FIELD_EXISTS:
        return (1 if spec else 0), 0, 0, True
    if spec is None:
        raise SpecError(_EUCLEAN)
    acc = spec.spec[-1]
    btf = spec.btf
    if acc.name is None:
        if relo.kind == FIELD_BYTE_OFFSET:
            sz, eid = _elem_size(btf, acc.type_id)
            return spec.bit_offset // 8, sz, acc.type_id, True
        if relo.kind == FIELD_BYTE_SIZE:
            return _size(btf, acc.type_id), 0, 0, True
        if log is not None:
            log.warn(f"prog '{prog_name}': relo {relo.kind} at insn #{relo.insn_off // 8} can't be applied to "
                     "array access")
        raise SpecError(errno.EINVAL)
    t = btf.type_by_id(acc.type_id)
    assert isinstance(t, Composite)
    m = t.members[acc.idx]
    ftid, mt = _skip(btf, m.type_id)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = mt.size  # type: ignore[attr-defined]
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                if log is not None:
                    log.warn(f"prog '{prog_name}': relo {relo.kind} at insn #{relo.insn_off // 8} can't be "
                             "satisfied for bitfield")
                raise SpecError(errno.E2BIG)
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = _size(btf, ftid)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    fsz, ftype = 0, 0
    k = relo.kind
    if k == FIELD_BYTE_OFFSET:
        val = byte_off
        if not bitfield:
            fsz, _eid = _elem_size(btf, ftid)
            ftype = ftid
    elif k == FIELD_BYTE_SIZE:
        val = byte_sz
    elif k == FIELD_SIGNED:
        val = int((isinstance(mt, (Enum, Enum64)) and mt.signed)
                  or (isinstance(mt, Int) and bool(mt.encoding & S.INT_SIGNED)))
        validate = True
    elif k == FIELD_LSHIFT_U64:
        val = 64 - (bit_off + bit_sz - byte_off * 8)
    elif k == FIELD_RSHIFT_U64:
        val = 64 - bit_sz
        validate = True
    else:
        raise SpecError(errno.EOPNOTSUPP)
    return val, fsz, ftype, validate


def _calc_type(relo: CoreRelo, spec: CoreSpec | None) -> tuple[int, bool]:
    """``bpf_core_calc_type_relo``: (value, validate)."""
    if spec is None:
        return 0, True
    if relo.kind == TYPE_ID_TARGET:
        return spec.root_type_id, False
    if relo.kind in (TYPE_EXISTS, TYPE_MATCHES):
        return 1, True
    if relo.kind == TYPE_SIZE:
        return _size(spec.btf, spec.root_type_id), True
    raise SpecError(errno.EOPNOTSUPP)


def _calc_enumval(relo: CoreRelo, spec: CoreSpec | None) -> int:
    if relo.kind == ENUMVAL_EXISTS:
        return 1 if spec else 0
    if relo.kind == ENUMVAL_VALUE:
        if spec is None:
            raise SpecError(_EUCLEAN)
        t = spec.btf.type_by_id(spec.spec[0].type_id)
        return t.values[spec.spec[0].idx].value  # type: ignore[attr-defined]
    raise SpecError(errno.EOPNOTSUPP)


def calc_relo(relo: CoreRelo, idx: int, local: CoreSpec, targ: CoreSpec | None, prog_name: str,
              log: Any) -> CoreResult:
    """``bpf_core_calc_relo``."""
    res = CoreResult()
    try:
        if relo.kind in FIELD_KINDS:
            res.orig_val, res.orig_sz, res.orig_type_id, res.validate = _calc_field(relo, local, prog_name, log,
                                                                                    True)
            res.new_val, res.new_sz, res.new_type_id, _ = _calc_field(relo, targ, prog_name, log, False)
            if res.orig_sz != res.new_sz:
                ot = local.btf.type_by_id(res.orig_type_id)
                nt = targ.btf.type_by_id(res.new_type_id) if targ else None
                safe = (isinstance(ot, Ptr) and isinstance(nt, Ptr)) or (
                    isinstance(ot, Int) and isinstance(nt, Int) and ot.encoding != S.INT_SIGNED
                    and nt.encoding != S.INT_SIGNED)
                res.fail_memsz_adjust = not safe
        elif relo.kind in TYPE_KINDS:
            res.orig_val, res.validate = _calc_type(relo, local)
            res.new_val, _ = _calc_type(relo, targ)
        elif relo.kind in ENUMVAL_KINDS:
            res.orig_val = _calc_enumval(relo, local)
            res.new_val = _calc_enumval(relo, targ)
        else:
            raise SpecError(errno.EOPNOTSUPP)
    except SpecError as e:
        if e.errno == _EUCLEAN:
            res.poison = True
            return res
        if e.errno == errno.EOPNOTSUPP and log is not None:
            log.warn(f"prog '{prog_name}': relo #{idx}: unrecognized CO-RE relocation "
                     f"{CORE_KIND_NAMES.get(relo.kind, 'unknown')} ({relo.kind}) at insn #{relo.insn_off // 8}")
        raise
    return res


def calc_relo_insn(relo: CoreRelo, idx: int, lbtf: BTF, cands: list[Cand] | None, prog_name: str,
                   log: Any) -> CoreResult:
    """``bpf_core_calc_relo_insn``: the result for one relocation over its candidates.
    ``cands`` is pruned in place to the matching ones, as libbpf's cache is.
    Raises :class:`LibbpfError` on an error (not for a poisoning)."""
    lt = lbtf.type_by_id(relo.type_id)
    try:
        local = parse_spec(lbtf, relo, prog_name, log)
    except SpecError as e:
        s = lbtf._strings.get(relo.access_str_off) if lbtf._strings.valid(relo.access_str_off) else "<?>"
        msg = (f"prog '{prog_name}': relo #{idx}: parsing [{relo.type_id}] {_kind_str(lt)} {lt.name or '<anon>'} "
               f"+ {s} failed: {-e.errno}")
        log.warn(msg)
        raise LibbpfError(errno.EINVAL, msg) from None
    log.debug(f"prog '{prog_name}': relo #{idx}: {format_spec(local)}")
    if relo.kind == TYPE_ID_LOCAL:
        return CoreResult(local.root_type_id, local.root_type_id, validate=False)
    if not lt.name:
        msg = (f"prog '{prog_name}': relo #{idx}: <{CORE_KIND_NAMES.get(relo.kind, 'unknown')}> ({relo.kind}) "
               "relocation doesn't support anonymous types")
        log.warn(msg)
        raise LibbpfError(errno.EOPNOTSUPP, msg)
    assert cands is not None
    best: CoreResult | None = None
    best_spec: CoreSpec | None = None
    kept: list[Cand] = []
    try:
        for i, c in enumerate(cands):
            try:
                ok, cspec = spec_match(local, c.btf, c.id)
            except SpecError as e:
                msg = f"prog '{prog_name}': relo #{idx}: error matching candidate #{i} [{c.id}]: {-e.errno}"
                log.warn(msg)
                raise LibbpfError(e.errno, msg) from None
            log.debug(f"prog '{prog_name}': relo #{idx}: {'matching' if ok else 'non-matching'} candidate #{i} "
                      f"{format_spec(cspec)}")
            if not ok:
                continue
            res = calc_relo(relo, idx, local, cspec, prog_name, log)
            if best is None:
                best, best_spec = res, cspec
            elif cspec.bit_offset != best_spec.bit_offset:  # type: ignore[union-attr]
                msg = (f"prog '{prog_name}': relo #{idx}: field offset ambiguity: {cspec.bit_offset} != "
                       f"{best_spec.bit_offset}")  # type: ignore[union-attr]
                log.warn(msg)
                raise LibbpfError(errno.EINVAL, msg)
            elif res.poison != best.poison or res.new_val != best.new_val:
                msg = (f"prog '{prog_name}': relo #{idx}: relocation decision ambiguity: "
                       f"{'failure' if res.poison else 'success'} {res.new_val} != "
                       f"{'failure' if best.poison else 'success'} {best.new_val}")
                log.warn(msg)
                raise LibbpfError(errno.EINVAL, msg)
            kept.append(c)
        if kept:
            cands[:] = kept
        if best is None:
            log.debug(f"prog '{prog_name}': relo #{idx}: no matching targets found")
            best = calc_relo(relo, idx, local, None, prog_name, log)
            best.matched = False
    except SpecError as e:
        raise LibbpfError(e.errno, f"prog '{prog_name}': relo #{idx}: CO-RE relocation failed: "
                                   f"{-e.errno}") from None
    return best


# --- patching -------------------------------------------------------------------------------------

def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v & 0x8000_0000 else v


_SIZES = {isa.DW: 8, isa.W: 4, isa.H: 2, isa.B: 1}
_SIZE_CODES = {8: isa.DW, 4: isa.W, 2: isa.H, 1: isa.B}


def poison(insns: list[Insn], idx: int, relo_idx: int, prog_name: str, log: Any) -> None:
    """``bpf_core_poison_insn``: ``call unknown#195896080``."""
    log.debug(f"prog '{prog_name}': relo #{relo_idx}: substituting insn #{idx} w/ invalid insn")
    insns[idx] = Insn(isa.JMP | isa.CALL, 0, 0, 0, POISON_IMM)


def patch_insn(insns: list[Insn], idx: int, relo: CoreRelo, relo_idx: int, res: CoreResult, prog_name: str,
               log: Any) -> None:
    """``bpf_core_patch_insn``; raises :class:`LibbpfError` on a mismatch."""
    insn = insns[idx]
    cls = insn.code & 0x07

    def fail(err: int, msg: str) -> LibbpfError:
        log.warn(msg)
        return LibbpfError(err, msg)

    if res.poison:
        if insn.code == isa.LD_IMM64 and idx + 1 < len(insns):
            poison(insns, idx + 1, relo_idx, prog_name, log)
        poison(insns, idx, relo_idx, prog_name, log)
        return
    orig, new = res.orig_val, res.new_val
    pfx = f"prog '{prog_name}': relo #{relo_idx}:"
    if cls in (isa.ALU, isa.ALU64):
        if insn.code & isa.X:
            raise fail(errno.EINVAL, f"{pfx} insn #{idx} (ALU/ALU64) uses a register source")
        if res.validate and (insn.imm & 0xFFFF_FFFF) != (orig & 0xFFFF_FFFF):
            raise fail(errno.EINVAL, f"{pfx} unexpected insn #{idx} (ALU/ALU64) value: got {insn.imm}, exp {orig} "
                                     f"-> {new}")
        insns[idx] = Insn(insn.code, insn.dst, insn.src, insn.off, _s32(new))
        log.debug(f"{pfx} patched insn #{idx} (ALU/ALU64) imm {insn.imm} -> {new}")
    elif cls in (isa.LDX, isa.ST, isa.STX):
        if res.validate and insn.off != orig:
            raise fail(errno.EINVAL, f"{pfx} unexpected insn #{idx} (LDX/ST/STX) value: got {insn.off}, exp {orig} "
                                     f"-> {new}")
        if new > 0x7FFF:
            raise fail(errno.ERANGE, f"{pfx} insn #{idx} (LDX/ST/STX) value too big: {new}")
        if res.fail_memsz_adjust:
            log.warn(f"{pfx} insn #{idx} (LDX/ST/STX) accesses field incorrectly. Make sure you are accessing "
                     "pointers, unsigned integers, or fields of matching type and size.")
            poison(insns, idx, relo_idx, prog_name, log)
            return
        code = insn.code
        if res.new_sz != res.orig_sz:
            cur = _SIZES.get(code & 0x18, -1)
            if cur != res.orig_sz:
                raise fail(errno.EINVAL, f"{pfx} insn #{idx} (LDX/ST/STX) unexpected mem size: got {cur}, exp "
                                         f"{res.orig_sz}")
            nsz = _SIZE_CODES.get(res.new_sz)
            if nsz is None:
                raise fail(errno.EINVAL, f"{pfx} insn #{idx} (LDX/ST/STX) invalid new mem size: {res.new_sz}")
            code = (code & 0xE0) | nsz | (code & 0x07)
            log.debug(f"{pfx} patched insn #{idx} (LDX/ST/STX) mem_sz {res.orig_sz} -> {res.new_sz}")
        insns[idx] = Insn(code, insn.dst, insn.src, new, insn.imm)
        log.debug(f"{pfx} patched insn #{idx} (LDX/ST/STX) off {insn.off} -> {new}")
    elif cls == isa.LD:
        nxt = insns[idx + 1] if idx + 1 < len(insns) else None
        if (insn.code != isa.LD_IMM64 or insn.src != 0 or insn.off != 0 or nxt is None or nxt.code != 0
                or nxt.dst != 0 or nxt.src != 0 or nxt.off != 0):
            raise fail(errno.EINVAL, f"{pfx} insn #{idx} (LDIMM64) has unexpected form")
        imm = (insn.imm & 0xFFFF_FFFF) | ((nxt.imm & 0xFFFF_FFFF) << 32)
        if res.validate and imm != (orig & 0xFFFF_FFFF_FFFF_FFFF):
            raise fail(errno.EINVAL, f"{pfx} unexpected insn #{idx} (LDIMM64) value: got {imm}, exp {orig} -> {new}")
        new &= 0xFFFF_FFFF_FFFF_FFFF
        insns[idx] = Insn(insn.code, insn.dst, 0, 0, _s32(new))
        insns[idx + 1] = Insn(0, 0, 0, 0, _s32(new >> 32))
        log.debug(f"{pfx} patched insn #{idx} (LDIMM64) imm64 {imm} -> {new}")
    else:
        raise fail(errno.EINVAL, f"{pfx} trying to relocate unrecognized insn #{idx}, code:{insn.code:#x}, "
                                 f"src:{insn.src:#x}, dst:{insn.dst:#x}, off:{insn.off & 0xFFFF:#x}, "
                                 f"imm:{insn.imm & 0xFFFF_FFFF:#x}")

