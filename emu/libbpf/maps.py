"""Maps of an object: BTF-defined ``.maps``, global data, struct_ops.

Models ``struct bpf_map`` and its open-time constructors in ``src/libbpf.c``
(libbpf 1.8):

* **BTF-defined maps** (``bpf_object__init_user_btf_maps``,
  ``parse_btf_map_def``): each VAR of the ``.maps`` DATASEC is a struct whose
  members encode the definition -- ``__uint(type, X)`` is a pointer to an array
  of X elements, ``__type(key, T)`` a pointer to T. Recognised: ``type``,
  ``max_entries``, ``map_flags``, ``numa_node``, ``key_size``, ``key``,
  ``value_size``, ``value``, ``pinning`` (parsed, pinning not modelled),
  ``map_extra``, ``values`` (``__array(values, ...)``: a prog array's initial
  programs, filled after the programs load, ``bpf_object__init_prog_arrays``).
  An unknown field is an error (strict mode, libbpf's default). For a
  map-in-map, ``values`` is ``__array(values, struct inner_def)``: the inner
  definition is parsed as a map named ``<outer>.inner`` (``inner_def``) and
  kept in :attr:`BpfMap.inner_map`, the template ``bpf_object__create_map``
  creates just before the outer map (its fd is the ``inner_map_fd``) and
  closes after; ``.values = { [i] = &other_map }`` fills slot *i* once the
  outer map exists (``init_map_in_map_slots``).
* **global data** (``bpf_object__init_global_data_maps``,
  ``bpf_object__init_internal_map``, ``internal_map_name``): one
  ``BPF_MAP_TYPE_ARRAY`` of one element per non-empty ``.data*``, ``.rodata*``
  and ``.bss*`` section, named ``<obj prefix><section>`` to at most 15
  characters; ``.rodata`` gets ``BPF_F_RDONLY_PROG``; ``BPF_F_MMAPABLE`` when
  a VAR of its DATASEC is global; at creation its bytes are written and
  ``.rodata`` is frozen (``bpf_object__populate_internal_map``).
* **struct_ops maps**: see :mod:`emu.libbpf.struct_ops`.

Accessors follow libbpf: ``name``, ``type``, ``key_size``, ``value_size``,
``max_entries``, ``map_flags``, ``autocreate`` (``set_autocreate`` is -EBUSY
after load), ``fd`` (-1 when not created), ``initial_value``.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel_model.bpf_map import MAP_TYPE_STRUCT_OPS
from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.types import Array, Composite, Datasec, Ptr, Struct, Var
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.uapi import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_OBJ_NAME_LEN, PAGE_SIZE

from .errors import LibbpfError

if TYPE_CHECKING:
    from .struct_ops import StructOpsState

__all__ = [
    "BpfMap", "LIBBPF_MAP_UNSPEC", "LIBBPF_MAP_DATA", "LIBBPF_MAP_BSS", "LIBBPF_MAP_RODATA",
    "BPF_F_RDONLY_PROG", "BPF_F_MMAPABLE", "BPF_OBJ_NAME_LEN", "internal_map_name", "parse_btf_map_def",
]

#: bpf_object__create_map: the types created without BTF key/value ids
NO_BTF_MAP_TYPES = frozenset(MAP_TYPES[f"BPF_MAP_TYPE_{n}"] for n in (
    "PERF_EVENT_ARRAY", "CGROUP_ARRAY", "STACK_TRACE", "ARRAY_OF_MAPS", "HASH_OF_MAPS", "DEVMAP", "DEVMAP_HASH",
    "CPUMAP", "XSKMAP", "SOCKMAP", "SOCKHASH", "QUEUE", "STACK", "ARENA"))
_RINGBUFS = (MAP_TYPES["BPF_MAP_TYPE_RINGBUF"], MAP_TYPES["BPF_MAP_TYPE_USER_RINGBUF"])


def possible_cpus(sys: object) -> int:
    """``libbpf_num_possible_cpus``: the kernel's CPU count (the emulated kernel's
    ``nr_cpus``; for the host, this process's view)."""
    return int(getattr(sys, "nr_cpus", 0) or os.cpu_count() or 1)


def adjust_ringbuf_sz(sz: int, page_size: int = PAGE_SIZE) -> int:
    """``adjust_ringbuf_sz``: a ring buffer's ``max_entries`` rounded up to a
    power-of-2 multiple of the page size (0 and sizes that cannot be rounded
    below 2**32 are passed through for the kernel to refuse)."""
    if sz == 0:
        return 0
    if sz % page_size == 0 and (sz // page_size) & (sz // page_size - 1) == 0:
        return sz
    mul = 1
    while mul * page_size <= 0xFFFF_FFFF:
        if mul * page_size > sz:
            return mul * page_size
        mul <<= 1
    return sz


# enum libbpf_map_type (src/libbpf.c)
LIBBPF_MAP_UNSPEC, LIBBPF_MAP_DATA, LIBBPF_MAP_BSS, LIBBPF_MAP_RODATA, LIBBPF_MAP_KCONFIG = range(5)


@dataclass(eq=False)
class BpfMap:
    """``struct bpf_map`` (see the module docstring)."""

    obj: object
    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    libbpf_type: int = LIBBPF_MAP_UNSPEC
    real_name: str = ""
    sec_idx: int = -1
    sec_offset: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_vmlinux_value_type_id: int = 0
    mod_btf: object = None     # kbtf.ModuleBtf of a module struct_ops type
    numa_node: int = 0
    map_extra: int = 0
    autocreate: bool = True
    autoattach: bool = True
    fd: int = -1
    mmaped: bytearray = field(default_factory=bytearray)
    st_ops: StructOpsState | None = None
    #: the map definition's VAR size and struct type id in ``.maps`` (relocations)
    def_size: int = 0
    def_type_id: int = 0
    #: ``init_slots``: a prog array's initial programs (a map-in-map's initial maps) by slot
    #: (``values`` relocations)
    init_slots: dict[int, Any] = field(default_factory=dict)
    #: ``map->inner_map``: a map-in-map's inner map definition (``<name>.inner``), created as
    #: the template of the outer map and closed once the outer map exists
    inner_map: "BpfMap | None" = None
    #: ``map->inner_map_fd`` (:meth:`set_inner_map_fd`; -1: none)
    inner_map_fd: int = -1

    # --- libbpf accessors -------------------------------------------------------------
    @property
    def type(self) -> int:
        return self.map_type

    @property
    def is_struct_ops(self) -> bool:
        return self.map_type == MAP_TYPE_STRUCT_OPS

    @property
    def is_internal(self) -> bool:
        return self.libbpf_type != LIBBPF_MAP_UNSPEC

    def set_autocreate(self, autocreate: bool) -> None:
        """``bpf_map__set_autocreate``: -EBUSY once the object is prepared."""
        self.obj._check_not_prepared("bpf_map__set_autocreate")  # type: ignore[attr-defined]
        self.autocreate = bool(autocreate)

    def set_inner_map_fd(self, fd: int) -> None:
        """``bpf_map__set_inner_map_fd``: the inner map template of a map-in-map is this
        map fd (of the kernel the object will load into) instead of an inner definition,
        which is dropped; -EINVAL for other maps or a second fd."""
        if self.map_type not in MAP_IN_MAP_TYPES:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': should be map-in-map.")
        if self.inner_map_fd != -1:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': inner_map_fd already specified.")
        self.inner_map = None
        self.inner_map_fd = fd

    def set_autoattach(self, autoattach: bool) -> None:
        """``bpf_map__set_autoattach``: -EINVAL for maps that are not struct_ops."""
        if not self.is_struct_ops:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': autoattach is only for struct_ops maps")
        self.autoattach = bool(autoattach)

    @property
    def initial_value(self) -> bytes | None:
        """``bpf_map__initial_value``: a global data map's bytes; for a struct_ops map
        its shadow bytes (function-pointer slots read as zero here: use
        ``obj.struct_ops[name]`` for the program in a slot)."""
        if self.st_ops is not None:
            return bytes(self.st_ops.data)
        return bytes(self.mmaped) if self.is_internal else None

    def __repr__(self) -> str:
        return f"<BpfMap {self.name!r} type {self.map_type} value_size {self.value_size} fd {self.fd}>"


def internal_map_name(obj_name: str, real_name: str) -> str:
    """``internal_map_name``: 8 characters of the object name then the section
    name (7 characters reserved), no prefix for ``.data.custom``-style names;
    characters other than alphanumerics, ``_`` and ``.`` become ``_``."""
    sfx_len = min(max(7, len(real_name)), BPF_OBJ_NAME_LEN - 1)
    pfx_len = 0 if "." in real_name[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + real_name[:sfx_len])[:BPF_OBJ_NAME_LEN - 1]
    return "".join(c if c.isalnum() and c.isascii() or c in "_." else "_" for c in name)


def _field_int(map_name: str, btf: BTF, m_name: str, tid: int) -> int:
    """``get_map_field_int``: a ``__uint(name, N)`` member is ``int (*name)[N]``."""
    t = btf.resolve(tid)
    if not isinstance(t, Ptr):
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': attr '{m_name}': expected PTR, got {t.kind_name}.")
    arr = btf.type_by_id(t.type_id)
    if not isinstance(arr, Array):
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': attr '{m_name}': expected ARRAY, got {arr.kind_name}.")
    return arr.nelems


def parse_btf_map_def(map_name: str, btf: BTF, def_id: int, *, is_inner: bool = False) -> dict[str, Any]:
    """``parse_btf_map_def`` (strict): the definition's fields as a dict; a map-in-map's
    inner definition is under ``"inner"`` (its own dict, parsed with ``is_inner``)."""
    t = btf.resolve(def_id)
    assert isinstance(t, Composite)
    out: dict[str, Any] = {}
    for m in t.members:
        name = m.name
        if name in ("type", "max_entries", "map_flags", "numa_node", "key_size", "value_size", "pinning"):
            out[name] = _field_int(map_name, btf, name, m.type_id)
        elif name == "map_extra":
            out[name] = _field_int(map_name, btf, name, m.type_id)
        elif name in ("key", "value"):
            pt = btf.resolve(m.type_id)
            if not isinstance(pt, Ptr):
                raise LibbpfError(errno.EINVAL, f"map '{map_name}': {name} spec is not PTR: {pt.kind_name}.")
            try:
                sz = btf.size_of(pt.type_id)
            except ValueError:
                raise LibbpfError(errno.EINVAL, f"map '{map_name}': can't determine {name} size for type "
                                                f"[{pt.type_id}]: -22.") from None
            size_key = f"{name}_size"
            if size_key in out and out[size_key] != sz:
                raise LibbpfError(errno.EINVAL, f"map '{map_name}': conflicting {name} size {out[size_key]} != "
                                                f"{sz}.")
            out[size_key] = sz
            out[f"btf_{name}_type_id"] = pt.type_id
        elif name == "values":
            _parse_values(map_name, btf, out, m.type_id, m is t.members[-1], is_inner)
        else:
            raise LibbpfError(errno.EOPNOTSUPP, f"map '{map_name}': unknown field '{name}'.")
    if not out.get("type"):
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': map type isn't specified.")
    if out["type"] in _RINGBUFS and "max_entries" in out:  # bpf_object__init_user_btf_map
        out["max_entries"] = adjust_ringbuf_sz(out["max_entries"])
    return out


#: ``bpf_map_type__is_map_in_map``
MAP_IN_MAP_TYPES = frozenset({MAP_TYPES["BPF_MAP_TYPE_ARRAY_OF_MAPS"], MAP_TYPES["BPF_MAP_TYPE_HASH_OF_MAPS"]})
_MAP_IN_MAP = MAP_IN_MAP_TYPES
_PROG_ARRAY = MAP_TYPES["BPF_MAP_TYPE_PROG_ARRAY"]


def _parse_values(map_name: str, btf: BTF, out: dict[str, Any], tid: int, last: bool, is_inner: bool) -> None:
    """The ``values`` member of ``parse_btf_map_def`` (libbpf 1.8): ``__array(values, T)``,
    a zero-length array of pointers -- to function prototypes (prog arrays: the slots
    :func:`emu.libbpf.reloc.collect_map_relos` fills) or to an inner map definition
    (map-in-map: parsed as ``<name>.inner`` into ``out["inner"]``; an inner definition
    with ``values`` of its own is ``-ENOTSUP``, libbpf has one level)."""
    t = out.get("type", 0)
    is_mim, is_pa = t in _MAP_IN_MAP, t == _PROG_ARRAY
    desc = "map-in-map inner" if is_mim else "prog-array value"
    if is_inner:
        raise LibbpfError(errno.EOPNOTSUPP, f"map '{map_name}': multi-level inner maps not supported.")
    if not last:
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': 'values' member should be last.")
    if not is_mim and not is_pa:
        raise LibbpfError(errno.EOPNOTSUPP, f"map '{map_name}': should be map-in-map or prog-array.")
    if out.get("value_size") and out["value_size"] != 4:
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': conflicting value size {out['value_size']} != 4.")
    out["value_size"] = 4
    arr = btf.type_by_id(tid)
    if not isinstance(arr, Array) or arr.nelems:
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': {desc} type should be an array of zero elements.")
    ptr = btf.resolve(arr.type_id)
    if not isinstance(ptr, Ptr):
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': {desc} def is of unexpected kind {ptr.kind_name}.")
    target = btf.resolve(ptr.type_id)
    if is_pa:
        if target.kind_name.lower() != "func_proto":
            raise LibbpfError(errno.EINVAL, f"map '{map_name}': prog-array value def is of unexpected kind "
                                            f"{target.kind_name.lower()}.")
        return
    if not isinstance(target, Struct):
        raise LibbpfError(errno.EINVAL, f"map '{map_name}': map-in-map inner def is of unexpected kind "
                                        f"{target.kind_name.lower()}.")
    out["inner"] = parse_btf_map_def(f"{map_name}.inner", btf, ptr.type_id, is_inner=True)


def datasec_has_global_var(btf: BTF, datasec_id: int) -> bool:
    """``map_is_mmapable``: some VAR of the DATASEC is not static."""
    t = btf.type_by_id(datasec_id)
    if not isinstance(t, Datasec):
        return False
    for v in t.vars:
        vt = btf.type_by_id(v.type_id)
        if isinstance(vt, Var) and vt.linkage != S.VAR_STATIC:
            return True
    return False

