"""A BPF map as the verifier and the JIT see it (``struct bpf_map``).

Models the fields of ``struct bpf_map`` (include/linux/bpf.h, Linux 6.18) that
verification and code generation read: type, key and value sizes, capacity,
flags, name, id, and where the emulated kernel placed the map object
(``addr``: what ``r1 = map ll`` loads after ``resolve_pseudo_ldimm64``) and,
for array maps, the first value (``value_addr``: what ``BPF_PSEUDO_MAP_VALUE``
adds its offset to, as ``array_map_direct_value_addr`` returns). The storage
itself belongs to the machine that owns the memory (``emu``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .bpf_facts.enums import MAP_TYPES
from .uapi import (MAP_TYPE_ARRAY, MAP_TYPE_HASH, MAP_TYPE_PERCPU_ARRAY, MAP_TYPE_PROG_ARRAY, MAP_TYPE_STRUCT_OPS)

if TYPE_CHECKING:
    from .btf_record import BtfRecord

__all__ = [
    "MapSpec", "MAP_TYPE_HASH", "MAP_TYPE_ARRAY", "MAP_TYPE_PROG_ARRAY", "MAP_TYPE_PERCPU_ARRAY",
    "MAP_TYPE_STRUCT_OPS", "MAP_TYPE_NAMES", "map_type_by_name",
]


#: every ``enum bpf_map_type`` of 6.18 (BPF_MAP_TYPE_UNSPEC excluded) -> its name
MAP_TYPE_NAMES = {v: k for k, v in MAP_TYPES.items() if v}


def map_type_by_name(name: str) -> int:
    """``BPF_MAP_TYPE_ARRAY`` (or ``array``) -> 2; KeyError when unknown."""
    key = name.upper()
    if not key.startswith("BPF_MAP_TYPE_"):
        key = "BPF_MAP_TYPE_" + key
    for value, n in MAP_TYPE_NAMES.items():
        if n == key:
            return value
    raise KeyError(name)


@dataclass(eq=False, slots=True)
class MapSpec:
    """A created map's attributes (``BPF_MAP_CREATE``) and its emulated addresses."""

    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    name: str = ""
    id: int = 0
    #: address of the emulated ``struct bpf_map`` (0 until a machine places it)
    addr: int = 0
    #: array maps: address of element 0's value (0 until placed)
    value_addr: int = 0
    #: ``map->btf`` is set (created with ``btf_value_type_id``)
    has_btf: bool = False
    #: ``map->record``: the value's special fields (``bpf_spin_lock`` ...), from its BTF
    #: (:func:`kernel_model.btf_record.parse_fields`); None when it has none
    record: "BtfRecord | None" = None
    #: ``map->frozen``: ``BPF_MAP_FREEZE`` was called (no more writes from user space)
    frozen: bool = False
    #: ``map->ops->map_direct_value_addr`` and a read through it (array maps only):
    #: ``direct_read(off, size)`` returns ``size`` bytes of element 0 at ``off`` or a negative
    #: errno; the verifier uses it for ``bpf_map_direct_read`` (kernel/bpf/verifier.c, 6.18)
    direct_read: Callable[[int, int], bytes | int] | None = None
    #: ``map->inner_map_meta`` of a map-in-map (``bpf_map_meta_alloc``, kernel/bpf/map_in_map.c):
    #: the inner map template a lookup's result is checked against (a NULL-checked lookup is a
    #: ``CONST_PTR_TO_MAP`` of this spec); None for other maps
    inner_meta: "MapSpec | None" = None

    @property
    def type_name(self) -> str:
        return MAP_TYPE_NAMES.get(self.map_type, f"map type {self.map_type}")
