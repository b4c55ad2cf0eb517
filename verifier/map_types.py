"""Map types: what the verifier asks of a map, one ops entry per type.

The kernel reaches a map type's behaviour through ``map->ops`` (``struct
bpf_map_ops``, include/linux/bpf.h): ``map_direct_value_addr`` (may a
``BPF_PSEUDO_MAP_VALUE`` lddw point into it), ``map_btf_id`` (the struct a
``CONST_PTR_TO_MAP`` dereference walks), ``map_check_btf``; and the verifier
adds per-type rules of its own (kernel/bpf/verifier.c, Linux 6.18):
``check_map_func_compatibility`` (which helpers a map type goes with, both
ways), ``can_elide_value_nullness`` (a lookup with a constant in-range key of
an array cannot fail), ``resolve_pseudo_ldimm64``'s refusal of struct_ops maps.
:class:`MapTypeOps` gathers those facts; the core asks :func:`map_type_ops`
and never tests map type numbers itself, so a new map type is one entry in
:data:`MAP_TYPES`.

Modelled: hash, array, per-CPU hash and array, prog array, struct_ops maps, as
far as the facts below go. ``check_map_func_compatibility`` and
``map_check_btf`` are not modelled yet: ``func_compatible`` is the seam for the
former (None: every helper the program type allows), ``check_btf`` for the
latter (None: no BTF rules).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from kernel_model.uapi import (
    MAP_TYPE_ARRAY, MAP_TYPE_HASH, MAP_TYPE_PERCPU_ARRAY, MAP_TYPE_PERCPU_HASH, MAP_TYPE_PROG_ARRAY,
    MAP_TYPE_STRUCT_OPS,
)

from .map_btf import MAP_BTF_STRUCT

__all__ = ["MapTypeOps", "MAP_TYPES", "map_type_ops", "register_map_type"]


@dataclass(frozen=True, slots=True)
class MapTypeOps:
    """A map type's verifier-visible behaviour (``struct bpf_map_ops`` plus the verifier's
    per-type rules)."""

    name: str
    #: ``map_direct_value_addr`` exists: ``BPF_PSEUDO_MAP_VALUE`` lddws may point into the value
    direct_value: bool = False
    #: ``can_elide_value_nullness``: a lookup with a constant, in-range key returns a non-NULL value
    elide_value_nullness: bool = False
    #: a program may use it at all (``bpf_struct_ops map cannot be used in prog`` otherwise)
    prog_usable: bool = True
    #: ``map_btf_id``: the struct name a ``CONST_PTR_TO_MAP`` dereference walks (verifier.map_btf)
    btf_struct: str | None = None
    #: ``check_map_func_compatibility`` for one helper id (None: not modelled, nothing refused)
    func_compatible: Callable[[int], bool] | None = None
    #: ``map_check_btf`` (None: not modelled)
    check_btf: Callable[..., None] | None = None


#: map type -> ops (kernel/bpf/arraymap.c, hashtab.c, bpf_struct_ops.c)
MAP_TYPES: dict[int, MapTypeOps] = {
    MAP_TYPE_HASH: MapTypeOps("hash"),
    MAP_TYPE_ARRAY: MapTypeOps("array", direct_value=True, elide_value_nullness=True),
    MAP_TYPE_PROG_ARRAY: MapTypeOps("prog_array"),
    MAP_TYPE_PERCPU_HASH: MapTypeOps("percpu_hash"),
    # percpu_array_map_ops has no map_direct_value_addr (kernel/bpf/arraymap.c)
    MAP_TYPE_PERCPU_ARRAY: MapTypeOps("percpu_array", elide_value_nullness=True),
    MAP_TYPE_STRUCT_OPS: MapTypeOps("struct_ops", prog_usable=False),
}

# map_btf_id of every map type whose struct the model has (verifier.map_btf)
for _t, _struct in MAP_BTF_STRUCT.items():
    MAP_TYPES[_t] = replace(MAP_TYPES.get(_t) or MapTypeOps(f"map type {_t}"), btf_struct=_struct)

_UNKNOWN = MapTypeOps("unknown")


def map_type_ops(map_type: int) -> MapTypeOps:
    """The type's ops (a map type the model does not list has none of the facts above)."""
    return MAP_TYPES.get(map_type, _UNKNOWN)


def register_map_type(map_type: int, ops: MapTypeOps) -> None:
    """Add (or replace) a map type's rules."""
    MAP_TYPES[map_type] = ops
