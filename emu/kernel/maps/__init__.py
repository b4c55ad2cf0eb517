"""The emulated kernel's map types: which class models each ``enum bpf_map_type``.

``BPF_MAP_CREATE`` checks every type with the facts of
:mod:`kernel_model.bpf_facts.map_types` (``map_alloc_check`` and the argument
checks of ``map_alloc``, cited there per function), then :func:`new_map`
builds the object. Modelled at run time: array and hash (:mod:`emu.kernel.bpf_maps`),
per-CPU and LRU hashes (:mod:`.hash`), per-CPU arrays (:mod:`.array`), queues
and stacks (:mod:`.queue_stack`), bloom filters (:mod:`.bloom`), LPM tries
(:mod:`.lpm`), prog arrays (:mod:`.prog_array`), arrays and hashes of maps
(:mod:`.map_in_map`), ring buffers (:mod:`.ringbuf`), sockmaps, sockhashes and reuseport arrays
(:mod:`.sockmap`: always empty, the emulated kernel has no sockets); every other type is created and has an id
and a header but refuses its operations as not modelled (:mod:`.created`).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.bpf_facts.map_types import MAP_FACTS
from kernel_model.bpf_map import MAP_TYPE_NAMES, MapSpec
from kernel_model.errors import KernelError
from kernel_model.struct_ops_map import ENOTSUPP

from ..bpf_maps import ArrayMap, BtfObject, HashMap, MapObject, Rcu
from .array import PercpuArrayMap
from .bloom import BloomFilterMap
from .created import CreatedOnlyMap
from .hash import LruHashMap, LruPercpuHashMap, PercpuHashMap
from .lpm import LpmTrieMap
from .map_in_map import ArrayOfMapsMap, HashOfMapsMap
from .prog_array import ProgArrayMap
from .queue_stack import QueueStackMap
from .ringbuf import RingbufMap
from .sockmap import REUSEPORT_SOCKARRAY, SOCK_MAP_TYPES, ReuseportArray, SockMap

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["new_map", "check_inner_map", "RUNTIME_MODELLED", "MAP_IN_MAP_TYPES", "ProgArrayMap", "ArrayOfMapsMap",
           "HashOfMapsMap", "RingbufMap", "SockMap"]

T = MAP_TYPES
_HASHES = {T["BPF_MAP_TYPE_HASH"]: HashMap, T["BPF_MAP_TYPE_PERCPU_HASH"]: PercpuHashMap,
           T["BPF_MAP_TYPE_LRU_HASH"]: LruHashMap, T["BPF_MAP_TYPE_LRU_PERCPU_HASH"]: LruPercpuHashMap}
MAP_IN_MAP_TYPES = frozenset({T["BPF_MAP_TYPE_ARRAY_OF_MAPS"], T["BPF_MAP_TYPE_HASH_OF_MAPS"]})
#: the types whose elements the emulated kernel keeps (the rest: create only)
RUNTIME_MODELLED = frozenset({T["BPF_MAP_TYPE_ARRAY"], T["BPF_MAP_TYPE_PERCPU_ARRAY"], *_HASHES,
                              T["BPF_MAP_TYPE_QUEUE"], T["BPF_MAP_TYPE_STACK"], T["BPF_MAP_TYPE_BLOOM_FILTER"],
                              T["BPF_MAP_TYPE_LPM_TRIE"], T["BPF_MAP_TYPE_PROG_ARRAY"], *MAP_IN_MAP_TYPES,
                              T["BPF_MAP_TYPE_RINGBUF"]})


def check_inner_map(inner: MapObject) -> MapSpec:
    """``bpf_map_meta_alloc`` (kernel/bpf/map_in_map.c, 6.12): the inner map template
    of a map-in-map. A map-in-map cannot be an inner map (``-EINVAL``); a type whose
    ops lack ``map_meta_equal`` (prog arrays, cgroup storage, struct_ops, map-in-map)
    is ``-ENOTSUPP``. The template keeps type, sizes, flags and ``max_entries``."""
    if inner.spec.inner_meta is not None or getattr(inner, "inner", None) is not None:
        raise KernelError(errno.EINVAL, "map-in-map: the inner map is itself a map-in-map")
    name = MAP_TYPE_NAMES.get(inner.spec.map_type, "")
    facts = MAP_FACTS.get(name)
    if facts is None or not facts.ops_fields.get("map_meta_equal"):
        raise KernelError(ENOTSUPP, f"map-in-map: {name} cannot be an inner map (no map_meta_equal)")
    s = inner.spec
    # the copy keeps what the verifier reads of the template: the sizes, flags, the
    # record (btf_record_dup) and that it has BTF (the same btf, btf_get)
    # (no name: the template is a bare struct bpf_map, which the verifier's log prints
    # without "map=")
    return MapSpec(s.map_type, s.key_size, s.value_size, s.max_entries, s.map_flags, "",
                   has_btf=s.has_btf, record=s.record)


def new_map(spec: MapSpec, machine: "Machine", rcu: Rcu, btf: BtfObject | None, *, hashrnd: int = 0,
            inner: MapSpec | None = None, map_extra: int = 0) -> MapObject:
    """The map object of ``spec`` (already checked) on ``machine``; ``hashrnd``: the
    kernel's ``get_random_u32`` for hash and bloom seeds."""
    t = spec.map_type
    if t == T["BPF_MAP_TYPE_ARRAY"]:
        return ArrayMap(spec, machine, btf)
    if t == T["BPF_MAP_TYPE_PERCPU_ARRAY"]:
        return PercpuArrayMap(spec, machine, btf)
    cls = _HASHES.get(t)
    if cls is not None:
        return cls(spec, machine, rcu, btf, hashrnd=hashrnd)
    if t in (T["BPF_MAP_TYPE_QUEUE"], T["BPF_MAP_TYPE_STACK"]):
        return QueueStackMap(spec, machine, btf, stack=t == T["BPF_MAP_TYPE_STACK"])
    if t == T["BPF_MAP_TYPE_BLOOM_FILTER"]:
        return BloomFilterMap(spec, machine, btf, map_extra=map_extra, seed=hashrnd)
    if t == T["BPF_MAP_TYPE_LPM_TRIE"]:
        return LpmTrieMap(spec, machine, rcu, btf)
    if t == T["BPF_MAP_TYPE_PROG_ARRAY"]:
        return ProgArrayMap(spec, machine, btf)
    if t in MAP_IN_MAP_TYPES:
        spec.inner_meta = inner
        if t == T["BPF_MAP_TYPE_ARRAY_OF_MAPS"]:
            return ArrayOfMapsMap(spec, machine, btf)
        return HashOfMapsMap(spec, machine, rcu, btf, hashrnd=hashrnd)
    if t == T["BPF_MAP_TYPE_RINGBUF"]:
        return RingbufMap(spec, machine, btf)
    if t == T["BPF_MAP_TYPE_SK_STORAGE"]:
        from .sk_storage import SkStorageMap
        return SkStorageMap(spec, machine, btf)
    if t == T["BPF_MAP_TYPE_USER_RINGBUF"]:
        from .user_ringbuf import UserRingbufMap
        return UserRingbufMap(spec, machine, btf)
    if t in SOCK_MAP_TYPES:
        return SockMap(spec, machine, btf)
    if t == REUSEPORT_SOCKARRAY:
        return ReuseportArray(spec, machine, btf)
    return CreatedOnlyMap(spec, machine, btf, inner=inner)
