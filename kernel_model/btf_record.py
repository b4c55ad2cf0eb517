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

Graph fields (``btf_find_graph_root``, ``btf_parse_graph_root``, Linux 6.12/6.18):
``bpf_list_head`` (16 bytes) and ``bpf_rb_root`` (16) name the type they hold with a
``contains:<struct>:<member>`` decl tag on the member (or on the VAR of a global in a
DATASEC); the member must be a ``bpf_list_node`` (24) / ``bpf_rb_node`` (32), at an
8-aligned byte offset (else -EINVAL; no such struct or member: -ENOENT; no tag or two
tags: -EINVAL). A record with a graph root and no ``bpf_spin_lock`` is -EINVAL, one with
both node kinds and no ``bpf_refcount`` (4 bytes, one per struct: -E2BIG) is -EINVAL.
Map values are parsed for locks, timers, wqs, kptrs, graph roots and refcounts
(``map_check_btf``); the types a program allocates (``btf_parse_struct_metas`` at
``BPF_BTF_LOAD``: every struct with a direct member of a special struct type) also for
nodes: :func:`struct_meta`. Global variables (a DATASEC value) are parsed as the kernel
does (``btf_find_datasec_var``).

Kptrs (``btf_find_kptr``, ``btf_parse_kptr``): a pointer tagged ``kptr`` (BPF_KPTR_REF),
``kptr_untrusted`` or ``percpu_kptr`` to a struct; 8 bytes, 8-aligned, repeated along an array.
A struct the kernel's BTF does not have is a local type of the program's BTF; one it has is a
kernel type (``BtfField.kernel``), and a referenced kptr to it needs the destructor registered
for the type (:data:`kernel_model.kptr_kfuncs.KPTR_DTORS`; -ENOENT without one).

Not modelled (refused with :class:`~kernel_model.errors.NotModelled`): ``bpf_res_spin_lock``,
per-CPU kptrs to kernel types, ``uptr``, arrays of structs holding graph roots
(``btf_repeat_fields`` of nested fields). Module BTFs are not searched (``bpf_find_btf_id``
does): a type only a module has is taken for a local type.
"""

from __future__ import annotations

import dataclasses
import errno
import weakref
from typing import Any
from dataclasses import dataclass, field

from .btf import BTF
from .btf import structs as S
from .errors import KernelError, NotModelled

__all__ = ["BtfField", "BtfRecord", "parse_fields", "check_struct_metas", "struct_meta", "SPIN_LOCK", "TIMER",
           "WORKQUEUE", "LIST_HEAD", "LIST_NODE", "RB_ROOT", "RB_NODE", "REFCOUNT", "GRAPH_ROOTS", "GRAPH_NODES"]

SPIN_LOCK = "bpf_spin_lock"
TIMER = "bpf_timer"
WORKQUEUE = "bpf_wq"
LIST_HEAD = "bpf_list_head"
LIST_NODE = "bpf_list_node"
RB_ROOT = "bpf_rb_root"
RB_NODE = "bpf_rb_node"
REFCOUNT = "bpf_refcount"
GRAPH_ROOTS = frozenset({LIST_HEAD, RB_ROOT})
GRAPH_NODES = frozenset({LIST_NODE, RB_NODE})
#: name -> (size, alignment): btf_field_type_size / btf_field_type_align (x86-64; the uapi
#: structs of include/uapi/linux/bpf.h, Linux 6.18)
_MODELLED: dict[str, tuple[int, int]] = {SPIN_LOCK: (4, 4), TIMER: (16, 8), WORKQUEUE: (16, 8),
                                         LIST_HEAD: (16, 8), LIST_NODE: (24, 8), RB_ROOT: (16, 8),
                                         RB_NODE: (32, 8), REFCOUNT: (4, 4)}
#: btf_get_field_type: one per struct (-E2BIG for a second); list/rb fields may repeat
_ONCE = frozenset({SPIN_LOCK, TIMER, WORKQUEUE, REFCOUNT})
_NOT_MODELLED = frozenset({"bpf_res_spin_lock"})
_KPTR_TAGS = frozenset({"kptr", "kptr_untrusted", "percpu_kptr", "uptr"})
#: BTF_FIELDS_MAX (include/linux/bpf.h)
_FIELDS_MAX = 11
#: MAX_RESOLVE_DEPTH (kernel/bpf/btf.c)
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class BtfField:
    """``struct btf_field``: its type's name (``btf_field_type_name``), offset and size; for
    a graph root, ``graph_root``: the BTF, type id and node offset of what it holds."""

    name: str
    offset: int
    size: int
    value_btf_id: int = 0
    node_offset: int = 0
    value_btf: Any = field(default=None, compare=False)
    #: a kptr field: "kptr_ref", "kptr_unref" or "percpu_kptr" (BPF_KPTR_REF/UNREF/PERCPU;
    #: ``name`` is btf_field_type_name's "kptr"/"percpu_kptr"), the pointee in value_btf(_id)
    kptr: str = ""
    #: a kptr to a kernel type (``btf_is_kernel(kptr.btf)``): value_btf is the kernel's BTF
    kernel: bool = False
    #: a referenced kptr to a kernel type: its destructor kfunc (``kptr.dtor``), called when
    #: the map element or the map is freed (``bpf_obj_free_fields``)
    dtor: str = ""


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

    def find(self, offset: int, name: str) -> BtfField | None:
        """``btf_record_find``: the field of that type at exactly ``offset``."""
        for f in self.fields:
            if f.offset == offset and f.name == name:
                return f
        return None


class _Err(Exception):
    def __init__(self, err: int) -> None:
        self.err = err


def _is_kptr(btf: BTF, tid: int) -> bool:
    t = btf.type_by_id(tid)
    if t.kind == S.KIND_VOLATILE:  # btf_find_kptr: modifiers on the pointer itself
        t = btf.type_by_id(t.type_id)  # type: ignore[attr-defined]
    if t.kind != S.KIND_PTR:
        return False
    inner = btf.type_by_id(t.type_id)  # type: ignore[attr-defined]
    return inner.kind == S.KIND_TYPE_TAG and inner.name in _KPTR_TAGS


#: type tag -> (BPF_KPTR_* kind, btf_field_type_name)
_KPTR_KINDS = {"kptr": ("kptr_ref", "kptr"), "kptr_untrusted": ("kptr_unref", "kptr"),
               "percpu_kptr": ("percpu_kptr", "percpu_kptr")}
KPTR = "kptr"


def _kptr(btf: BTF, tid: int, off: int, kernel_btf: BTF | None) -> BtfField:
    """``btf_find_kptr`` then ``btf_parse_kptr`` (kernel/bpf/btf.c): a pointer tagged
    ``kptr``/``kptr_untrusted``/``percpu_kptr`` to a struct; a struct the kernel's BTF does
    not name is a local type of the program's BTF (a ``bpf_obj_new`` object)."""
    t = btf.type_by_id(tid)
    if t.kind == S.KIND_VOLATILE:
        t = btf.type_by_id(t.type_id)  # type: ignore[attr-defined]
    tag = btf.type_by_id(t.type_id)  # type: ignore[attr-defined]
    if btf.type_by_id(tag.type_id).kind == S.KIND_TYPE_TAG:  # type: ignore[attr-defined]
        raise _Err(-errno.EINVAL)  # extra tags
    if tag.name not in _KPTR_KINDS:
        raise NotModelled(f"{tag.name} fields: not modelled by this emulator")
    kind, fname = _KPTR_KINDS[tag.name]
    pid = btf.skip_modifiers(tag.type_id)  # type: ignore[attr-defined]
    pt = btf.type_by_id(pid)
    if pt.kind != S.KIND_STRUCT:
        raise _Err(-errno.EINVAL)
    if kernel_btf is None:
        raise NotModelled("kptr fields: the kernel's BTF is needed to parse them")
    kid = kernel_btf.find(pt.name, S.KIND_STRUCT)
    if kid is not None:
        return _kernel_kptr(kernel_btf, kid, pt.name, fname, off, kind)
    return BtfField(fname, off, 8, pid, 0, btf, kind)


def _kernel_kptr(kernel_btf: BTF, kid: int, name: str, fname: str, off: int, kind: str) -> BtfField:
    """``btf_parse_kptr`` for a type the kernel's BTF has (``bpf_find_btf_id`` found it, by name
    and kind): the field points into the kernel's BTF; a referenced one needs the type's
    registered destructor (``btf_find_dtor_kfunc``: -ENOENT without one, the field fails and
    with it the record). Per-CPU kptrs to kernel types are not modelled."""
    from .kptr_kfuncs import KPTR_DTORS
    if kind == "percpu_kptr":
        raise NotModelled(f"percpu_kptr fields to kernel types (struct {name}): not modelled by this emulator")
    dtor = ""
    if kind == "kptr_ref":
        dtor = KPTR_DTORS.get(name, "")
        if not dtor or kernel_btf.find(dtor, S.KIND_FUNC) is None:
            raise _Err(-errno.ENOENT)
    return BtfField(fname, off, 8, kid, 0, kernel_btf, kind, kernel=True, dtor=dtor)


def _decl_tags(btf: BTF, pt_id: int, comp_idx: int, key: str) -> list[str]:
    """``btf_find_next_decl_tag``: the values of ``key``-prefixed DECL_TAGs on ``pt_id``'s
    component ``comp_idx`` (-1: the type itself)."""
    out = []
    for _, t in btf.iter_types(S.KIND_DECL_TAG):
        if t.type_id == pt_id and t.component_idx == comp_idx and t.name.startswith(key):  # type: ignore[attr-defined]
            out.append(t.name[len(key):])
    return out


def _graph_root(btf: BTF, pt_id: int, comp_idx: int, name: str, off: int) -> BtfField:
    """``btf_find_graph_root`` then ``btf_parse_graph_root`` (kernel/bpf/btf.c)."""
    tags = _decl_tags(btf, pt_id, comp_idx, "contains:")
    if len(tags) != 1:
        raise _Err(-errno.EINVAL)  # no tag (-ENOENT) or a duplicate (-EEXIST): both -EINVAL
    value_type, sep, node_name = tags[0].partition(":")
    if not sep or not node_name:
        raise _Err(-errno.EINVAL)
    vid = btf.find(value_type, S.KIND_STRUCT)
    if vid is None:
        raise _Err(-errno.ENOENT)
    node_type = LIST_NODE if name == LIST_HEAD else RB_NODE
    vt = btf.type_by_id(vid)
    node_off = None
    for m in vt.members:  # type: ignore[attr-defined]
        if m.name != node_name:
            continue
        if node_off is not None:
            raise _Err(-errno.EINVAL)  # two members of that name
        n = btf.type_by_id(m.type_id)
        if n.kind != S.KIND_STRUCT or n.name != node_type:
            raise _Err(-errno.EINVAL)
        if m.bits_offset % 8 or (m.bits_offset // 8) % _MODELLED[node_type][1]:
            raise _Err(-errno.EINVAL)
        node_off = m.bits_offset // 8
    if node_off is None:
        raise _Err(-errno.ENOENT)
    return BtfField(name, off, _MODELLED[name][0], vid, node_off, btf)


def _field_one(btf: BTF, pt_id: int, comp_idx: int, tid: int, off: int, seen: set[str], level: int,
               kinds: frozenset[str], kernel_btf: BTF | None = None) -> list[BtfField]:
    """``btf_find_field_one`` for a member (component ``comp_idx`` of type ``pt_id``) of
    type ``tid`` at byte ``off`` (``kinds``: the field types asked for, ``field_mask``)."""
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
        if KPTR not in kinds:
            return []
        if nelems > _FIELDS_MAX:
            raise _Err(-errno.E2BIG)
        k = _kptr(btf, elem, off, kernel_btf)  # btf_repeat_fields: one per element
        return [dataclasses.replace(k, offset=off + i * 8) for i in range(nelems)]
    if name in kinds:
        if name in _ONCE:
            if name in seen:
                raise _Err(-errno.E2BIG)
            seen.add(name)
        size, align = _MODELLED[name]
        if off % align or t.size != size:  # type: ignore[attr-defined]
            return []  # btf_find_struct / btf_find_graph_root: BTF_FIELD_IGNORE
        if nelems > 1 and name not in GRAPH_ROOTS:
            raise _Err(-errno.EINVAL)  # btf_repeat_fields repeats no lock, timer, wq, node or refcount
        if name in GRAPH_ROOTS:
            # btf_repeat_fields: an array's element is repeated at each element's offset
            # (at most BTF_FIELDS_MAX fields in all: -E2BIG)
            if nelems > _FIELDS_MAX:
                raise _Err(-errno.E2BIG)
            root = _graph_root(btf, pt_id, comp_idx, name, off)
            return [BtfField(name, off + i * size, size, root.value_btf_id, root.node_offset, btf)
                    for i in range(nelems)]
        return [BtfField(name, off, size)]
    if composite:
        inner = _struct_fields(btf, elem, t, set(), level + 1, kinds, kernel_btf)  # the host: a nested struct's own
        if not inner:
            return []
        if nelems > 1:
            # btf_find_nested_struct -> btf_repeat_fields: only kptrs (and graph roots) repeat,
            # at each element's offset; more than BTF_FIELDS_MAX in all is -E2BIG (counted here
            # for this member alone, not with the fields found before it)
            if any(not f.kptr and f.name not in GRAPH_ROOTS for f in inner):
                raise _Err(-errno.EINVAL)
            if any(f.name in GRAPH_ROOTS for f in inner):
                raise NotModelled("arrays of structs holding graph roots: not modelled by this emulator")
            if len(inner) * nelems > _FIELDS_MAX:
                raise _Err(-errno.E2BIG)
            size = t.size  # type: ignore[attr-defined]
            return [dataclasses.replace(f, offset=f.offset + off + i * size) for i in range(nelems) for f in inner]
        return [dataclasses.replace(f, offset=f.offset + off) for f in inner]
    return []


def _struct_fields(btf: BTF, tid: int, t: object, seen: set[str], level: int,
                   kinds: frozenset[str], kernel_btf: BTF | None = None) -> list[BtfField]:
    """``btf_find_struct_field``."""
    if level >= _MAX_DEPTH:
        raise _Err(-errno.E2BIG)
    out: list[BtfField] = []
    for idx, m in enumerate(t.members):  # type: ignore[attr-defined]
        if m.bits_offset % 8:
            raise _Err(-errno.EINVAL)
        out.extend(_field_one(btf, tid, idx, m.type_id, m.bits_offset // 8, seen, level, kinds, kernel_btf))
    return out


def _datasec_fields(btf: BTF, t: object, kinds: frozenset[str], kernel_btf: BTF | None = None) -> list[BtfField]:
    """``btf_find_datasec_var``: each variable of a global-data section, its decl tags on
    the VAR."""
    out: list[BtfField] = []
    seen: set[str] = set()
    for vsi in t.vars:  # type: ignore[attr-defined]
        var = btf.type_by_id(vsi.type_id)
        out.extend(_field_one(btf, vsi.type_id, -1, var.type_id, vsi.offset, seen, 0, kinds,  # type: ignore[attr-defined]
                              kernel_btf))
    return out


#: map_check_btf asks for locks, timers, wqs, kptrs, graph roots, refcounts
_MAP_KINDS = frozenset({SPIN_LOCK, TIMER, WORKQUEUE, LIST_HEAD, RB_ROOT, REFCOUNT, KPTR})
#: btf_parse_struct_metas: locks, graph roots and nodes, refcounts, kptrs (no timer/wq)
_META_KINDS = frozenset({SPIN_LOCK, LIST_HEAD, LIST_NODE, RB_ROOT, RB_NODE, REFCOUNT, KPTR})


def _record(btf: BTF, found: list[BtfField], value_size: int) -> BtfRecord:
    """The checks of ``btf_parse_fields`` once the fields are found."""
    found = sorted(found, key=lambda f: f.offset)
    next_off = 0
    for f in found:
        if f.offset + f.size > value_size:
            return BtfRecord(error=-errno.EFAULT)
        if f.offset < next_off:
            return BtfRecord(error=-errno.EEXIST)
        next_off = f.offset + f.size
    names = {f.name for f in found}
    if names & GRAPH_ROOTS and SPIN_LOCK not in names:
        return BtfRecord(error=-errno.EINVAL)  # bpf_{list_head, rb_root} require bpf_spin_lock
    if REFCOUNT not in names and LIST_NODE in names and RB_NODE in names:
        return BtfRecord(error=-errno.EINVAL)
    return BtfRecord(tuple(found))


def parse_fields(btf: BTF, type_id: int, value_size: int, kernel_btf: BTF | None = None) -> BtfRecord | None:
    """``btf_parse_fields`` of a map value: None when it has no special field, a record
    with ``error`` set for an ``ERR_PTR`` result. Raises NotModelled for fields we lack.
    ``kernel_btf``: the vmlinux BTF kptr pointee names are looked up in."""
    t = btf.type_by_id(type_id)
    try:
        if t.kind == S.KIND_STRUCT:
            found = _struct_fields(btf, type_id, t, set(), 0, _MAP_KINDS, kernel_btf)
        elif t.kind == S.KIND_DATASEC:
            found = _datasec_fields(btf, t, _MAP_KINDS, kernel_btf)
        else:
            return BtfRecord(error=-errno.EINVAL)
    except _Err as e:
        return BtfRecord(error=e.err)
    if not found:
        return None
    rec = _record(btf, found, value_size)
    if not rec.error:
        # btf_check_and_fixup_fields (map_check_btf): the type a graph root holds must be a
        # struct meta, else the map is not created
        for f in rec.fields:
            if f.name in GRAPH_ROOTS and struct_meta(btf, f.value_btf_id) is None:
                raise KernelError(errno.EFAULT, f"{f.name} at {f.offset}: the type it contains has no "
                                                "bpf_list_node/bpf_rb_node record")
    return rec


_Metas = tuple[int, dict[int, BtfRecord], dict[int, str]]
_METAS: "weakref.WeakKeyDictionary[BTF, _Metas]" = weakref.WeakKeyDictionary()


def _metas(btf: BTF, kernel_btf: BTF | None = None) -> _Metas:
    """``btf_parse_struct_metas``: (errno, {struct id: record}, {struct id: why not modelled})
    of a program BTF, cached (computed at ``BPF_BTF_LOAD`` with the kernel's BTF)."""
    got = _METAS.get(btf)
    if got is not None:
        return got
    special = {tid for name in _META_KINDS for tid in btf.find_all(name, S.KIND_STRUCT)}
    for name in _NOT_MODELLED:
        if btf.find(name, S.KIND_STRUCT) is not None:
            raise NotModelled(f"BTF with struct {name}: not modelled by this emulator")
    for tid, t in btf.iter_types(S.KIND_PTR):
        inner = btf.type_by_id(t.type_id) if t.type_id else None  # type: ignore[attr-defined]
        if inner is not None and inner.kind == S.KIND_TYPE_TAG and inner.name in _KPTR_TAGS:
            # only what btf_find_kptr finds (BTF_FIELD_FOUND: one tag, pointing to a struct
            # after modifiers): a kptr to a forward declaration or with extra tags is -EINVAL
            # there, which btf_parse_struct_metas skips (kernel/bpf/btf.c, 6.12/6.18); a map
            # value holding one still fails at map_check_btf (btf_parse_fields)
            pointee = btf.type_by_id(inner.type_id) if inner.type_id else None  # type: ignore[attr-defined]
            if pointee is None or pointee.kind == S.KIND_TYPE_TAG:
                continue
            if btf.type_by_id(btf.skip_modifiers(inner.type_id)).kind != S.KIND_STRUCT:  # type: ignore[attr-defined]
                continue
            special.add(tid)
    out: dict[int, BtfRecord] = {}
    unmodelled: dict[int, str] = {}
    err = 0
    if special:
        for tid, t in btf.iter_types(S.KIND_STRUCT):
            if not any(m.type_id in special for m in t.members):  # type: ignore[attr-defined]
                continue
            try:
                found = _struct_fields(btf, tid, t, set(), 0, _META_KINDS, kernel_btf)
            except _Err as e:
                err = e.err
                break
            except NotModelled as e:  # a kptr member: refused when the type is used
                unmodelled[tid] = str(e)
                continue
            if not found:
                err = -errno.EFAULT
                break
            rec = _record(btf, found, t.size)  # type: ignore[attr-defined]
            if rec.error:
                err = rec.error
                break
            out[tid] = rec
    if not err:
        for rec in out.values():  # btf_check_and_fixup_fields for each local type
            if any(f.name in GRAPH_ROOTS and f.value_btf_id not in out and f.value_btf_id not in unmodelled
                   for f in rec.fields):
                err = -errno.EFAULT
                break
    res = (err, out if not err else {}, unmodelled)
    _METAS[btf] = res
    return res


def struct_meta(btf: BTF, type_id: int) -> BtfRecord | None:
    """``btf_find_struct_meta``: the record of a local type of a program BTF (None when the
    struct has no special field). Raises NotModelled for a struct with a kptr member."""
    _, out, unmodelled = _metas(btf)
    if type_id in unmodelled:
        raise NotModelled(unmodelled[type_id])
    return out.get(type_id)


def check_struct_metas(btf: BTF, kernel_btf: BTF | None = None) -> int:
    """``btf_parse_struct_metas`` at ``BPF_BTF_LOAD``: 0, or the negative errno that fails the
    load (no log line): a struct with a direct member of a special struct type whose parse
    fails (-E2BIG for two locks) or finds nothing valid (-EFAULT)."""
    return _metas(btf, kernel_btf)[0]
