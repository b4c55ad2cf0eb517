"""Special fields of a map value's BTF: ``struct btf_record`` (``bpf_spin_lock``, ``bpf_timer``, ``bpf_wq``).

Models ``btf_parse_fields`` of kernel/bpf/btf.c (Linux 6.12/6.18: ``btf_find_field``,
``btf_find_struct_field``, ``btf_find_field_one``, ``btf_get_field_type``,
``btf_find_struct``, ``btf_repeat_fields``) for the fields this emulator models, and
``btf_parse_struct_metas`` (what ``BPF_BTF_LOAD`` checks):

* a member is a special field when its type (no modifier or typedef stripped) is a
  struct named ``bpf_spin_lock`` (4 bytes, 4-aligned), ``bpf_timer`` or ``bpf_wq``
  (16 bytes, 8-aligned); a struct of that name but another size, or at a misaligned
  offset, is ignored; members of nested structs count, at their offset in the value
  (unions are not looked into, ``__btf_type_is_struct``); arrays are walked into;
* a second field of one type in the same struct is -E2BIG (a nested struct's fields
  are its own: with a lock at 0 and one in a nested struct at 8 the 6.18 host keeps
  both and uses the last, ``spin_lock_off`` 8); an array of more than one
  lock/timer/wq is -EINVAL (``btf_repeat_fields`` repeats only kptrs and graph
  roots); fields overlapping (-EEXIST) or past the value (-EFAULT, a kernel WARN);
* ``map_check_btf`` (kernel/bpf/syscall.c) does not fail on an erroneous record: the
  map is created and has no usable field (the verifier then says the map "has no
  valid bpf_spin_lock"); :attr:`BtfRecord.error` keeps the errno;
* ``BPF_BTF_LOAD`` parses every struct with a *direct* member of type
  ``bpf_spin_lock`` (and the graph types) and fails the load with that errno, or
  -EFAULT when nothing valid is found (a ``bpf_spin_lock`` of the wrong size or place):
  :func:`check_struct_metas`. The Linux 6.18 host answers so (tests/emu/test_spin_lock.py).

Not modelled (refused with :class:`~kernel_model.errors.NotModelled`): ``bpf_res_spin_lock``,
``bpf_list_head``/``bpf_list_node``, ``bpf_rb_root``/``bpf_rb_node``, ``bpf_refcount``
and kptrs (pointers tagged ``kptr``, ``kptr_untrusted``, ``percpu_kptr``, ``uptr``).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from .btf import BTF
from .btf import structs as S
from .errors import NotModelled

__all__ = ["BtfField", "BtfRecord", "parse_fields", "check_struct_metas", "SPIN_LOCK", "TIMER", "WORKQUEUE"]

SPIN_LOCK = "bpf_spin_lock"
TIMER = "bpf_timer"
WORKQUEUE = "bpf_wq"
#: name -> (size, alignment): btf_field_type_size / btf_field_type_align (x86-64)
_MODELLED: dict[str, tuple[int, int]] = {SPIN_LOCK: (4, 4), TIMER: (16, 8), WORKQUEUE: (16, 8)}
_NOT_MODELLED = frozenset({"bpf_res_spin_lock", "bpf_list_head", "bpf_list_node", "bpf_rb_root", "bpf_rb_node",
                           "bpf_refcount"})
_KPTR_TAGS = frozenset({"kptr", "kptr_untrusted", "percpu_kptr", "uptr"})
#: MAX_RESOLVE_DEPTH (kernel/bpf/btf.c)
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class BtfField:
    """``struct btf_field``: its type's name (``btf_field_type_name``), offset and size."""

    name: str
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class BtfRecord:
    """``struct btf_record`` of a map value; ``error`` (a negative errno) for an
    ``ERR_PTR`` record, which has no fields."""

    fields: tuple[BtfField, ...] = ()
    error: int = 0

    def offset_of(self, name: str) -> int:
        """``rec->spin_lock_off`` and the like: the field's offset, or -EINVAL when absent
        (of two, the last: btf_parse_fields overwrites it, after a WARN)."""
        offs = [f.offset for f in self.fields if f.name == name]
        return offs[-1] if offs else -errno.EINVAL

    def has(self, name: str) -> bool:
        """``btf_record_has_field``."""
        return any(f.name == name for f in self.fields)


class _Err(Exception):
    def __init__(self, err: int) -> None:
        self.err = err


def _is_kptr(btf: BTF, tid: int) -> bool:
    t = btf.type_by_id(tid)
    if t.kind != S.KIND_PTR:
        return False
    inner = btf.type_by_id(t.type_id)  # type: ignore[attr-defined]
    return inner.kind == S.KIND_TYPE_TAG and inner.name in _KPTR_TAGS


def _field_one(btf: BTF, tid: int, off: int, seen: set[str], level: int, kinds: frozenset[str]) -> list[BtfField]:
    """``btf_find_field_one`` for a member of type ``tid`` at byte ``off`` (``kinds``: the
    field types asked for, ``field_mask``)."""
    t = btf.type_by_id(tid)
    elem = tid
    nelems = 1
    depth = 0
    while t.kind == S.KIND_ARRAY and depth < _MAX_DEPTH:
        nelems *= t.nelems  # type: ignore[attr-defined]
        elem = t.type_id  # type: ignore[attr-defined]
        t = btf.type_by_id(elem)
        depth += 1
    if depth == _MAX_DEPTH:
        raise _Err(-errno.E2BIG)
    if nelems == 0:
        return []
    composite = t.kind == S.KIND_STRUCT  # __btf_type_is_struct: unions are not looked into
    name = t.name if composite else ""
    if name in _NOT_MODELLED:
        raise NotModelled(f"map value field struct {name}: not modelled by this emulator")
    if not composite and _is_kptr(btf, elem):
        raise NotModelled("map value kptr fields: not modelled by this emulator")
    if name in kinds:
        if name in seen:
            raise _Err(-errno.E2BIG)
        seen.add(name)
        size, align = _MODELLED[name]
        if off % align or t.size != size:  # type: ignore[attr-defined]
            return []  # btf_find_struct: BTF_FIELD_IGNORE
        if nelems > 1:
            raise _Err(-errno.EINVAL)  # btf_repeat_fields repeats no lock, timer or wq
        return [BtfField(name, off, size)]
    if composite:
        inner = _struct_fields(btf, t, set(), level + 1, kinds)  # the host: a nested struct's own
        if not inner:
            return []
        if nelems > 1:
            raise _Err(-errno.EINVAL)
        return [BtfField(f.name, f.offset + off, f.size) for f in inner]
    return []


def _struct_fields(btf: BTF, t: object, seen: set[str], level: int, kinds: frozenset[str]) -> list[BtfField]:
    """``btf_find_struct_field``."""
    if level >= _MAX_DEPTH:
        raise _Err(-errno.E2BIG)
    out: list[BtfField] = []
    for m in t.members:  # type: ignore[attr-defined]
        if m.bits_offset % 8:
            raise _Err(-errno.EINVAL)
        out.extend(_field_one(btf, m.type_id, m.bits_offset // 8, seen, level, kinds))
    return out


_MAP_KINDS = frozenset(_MODELLED)  # map_check_btf asks for locks, timers, wqs (and what we lack)
_META_KINDS = frozenset({SPIN_LOCK})  # btf_parse_struct_metas: locks and graph types, no timer/wq


def parse_fields(btf: BTF, type_id: int, value_size: int) -> BtfRecord | None:
    """``btf_parse_fields`` of a map value: None when it has no special field, a record
    with ``error`` set for an ``ERR_PTR`` result. Raises NotModelled for fields we lack."""
    t = btf.type_by_id(type_id)
    if t.kind == S.KIND_DATASEC:
        _datasec_not_modelled(btf, t)
        return None
    if t.kind != S.KIND_STRUCT:  # btf_find_field: a struct or a DATASEC
        return BtfRecord(error=-errno.EINVAL)
    try:
        found = _struct_fields(btf, t, set(), 0, _MAP_KINDS)
    except _Err as e:
        return BtfRecord(error=e.err)
    if not found:
        return None
    next_off = 0
    for f in found:
        if f.offset + f.size > value_size:
            return BtfRecord(error=-errno.EFAULT)
        if f.offset < next_off:
            return BtfRecord(error=-errno.EEXIST)
        next_off = f.offset + f.size
    return BtfRecord(tuple(sorted(found, key=lambda f: f.offset)))


def _datasec_not_modelled(btf: BTF, t: object) -> None:
    """``btf_find_datasec_var`` (kernel/bpf/btf.c 6.18): a global variable of a special type
    (``private(A) struct bpf_spin_lock lock;`` in ``.data.A``) is a field of the global-data
    map's record. The model does not parse DATASEC records: such a map is refused as not
    modelled rather than created without its lock (whose programs the verifier would then
    refuse with "has no valid bpf_spin_lock", where the kernel accepts)."""
    special = set(_MODELLED) | _NOT_MODELLED
    for vs in getattr(t, "vars", ()):
        var = btf.type_by_id(vs.type_id)
        vt = btf.resolve(getattr(var, "type_id", 0)) if getattr(var, "type_id", 0) else None
        while vt is not None and vt.kind == S.KIND_ARRAY:
            vt = btf.resolve(vt.type_id)  # type: ignore[attr-defined]
        if vt is not None and vt.kind == S.KIND_STRUCT and vt.name in special:
            raise NotModelled(f"global data with a {vt.name} variable ({var.name}): DATASEC records are not "
                              "modelled by this emulator")


def check_struct_metas(btf: BTF) -> int:
    """``btf_parse_struct_metas`` at ``BPF_BTF_LOAD``: 0, or the negative errno that fails the
    load (no log line): a struct with a direct ``bpf_spin_lock`` member whose parse fails
    (-E2BIG for two locks) or finds nothing valid (-EFAULT)."""
    special = {tid for tid in (btf.find(SPIN_LOCK, S.KIND_STRUCT),) if tid is not None}
    for name in _NOT_MODELLED:
        if btf.find(name, S.KIND_STRUCT) is not None:
            raise NotModelled(f"BTF with struct {name}: not modelled by this emulator")
    if not special:
        return 0
    for tid, t in btf.iter_types():
        if t.kind != S.KIND_STRUCT:
            continue
        if not any(m.type_id in special for m in t.members):  # type: ignore[attr-defined]
            continue
        try:
            found = _struct_fields(btf, t, set(), 0, _META_KINDS)
        except _Err as e:
            return e.err
        if not found:
            return -errno.EFAULT
    return 0
