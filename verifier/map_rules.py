"""Which maps a program may use, and with which helpers (Linux 6.12 kernel/bpf/verifier.c).

* :func:`check_map_func_compatibility` -- ``check_map_func_compatibility``:
  the two-way table of map types and helpers (a prog array only for
  ``bpf_tail_call``, a queue only for push/pop/peek, ``bpf_map_lookup_elem``
  never on a ring buffer ...), ``cannot pass map_type %d into func %s#%d``.
* :func:`check_map_prog_compatibility` -- the map-type part of
  ``check_map_prog_compatibility`` (called for each map a program references):
  struct_ops maps are refused, sleepable programs may use only the listed types.
* :func:`map_use_not_modelled` -- map types whose program-side semantics this
  verifier does not model (arena): the program is refused as *not modelled* rather than
  verified with a guess. Map-in-map is modelled (:mod:`verifier.not_null`).

``may_update_sockmap`` (sockmap updates by program type) is :mod:`verifier.sockmap`'s.
Not modelled here: the BTF-record rules (spin locks, timers,
kptrs, graph roots) of ``check_map_prog_compatibility``, offload.
"""

from __future__ import annotations

from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.helper_ids import HELPER_NAMES

__all__ = ["check_map_func_compatibility", "check_map_prog_compatibility", "map_use_not_modelled"]

_T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}


def _ids(*names: str) -> frozenset[int]:
    return frozenset(HELPER_NAMES.index(n) for n in names)


def _types(*names: str) -> frozenset[int]:
    return frozenset(_T[n] for n in names)


_PERF = _ids("perf_event_read", "perf_event_output", "skb_output", "perf_event_read_value", "xdp_output")
_RINGBUF = _ids("ringbuf_output", "ringbuf_reserve", "ringbuf_query", "ringbuf_reserve_dynptr",
                "ringbuf_submit_dynptr", "ringbuf_discard_dynptr")
_LOOKUP = HELPER_NAMES.index("map_lookup_elem")

#: map type -> the helpers it may be passed to (first switch of check_map_func_compatibility)
_MAP_ALLOWS: dict[int, frozenset[int]] = {
    _T["PROG_ARRAY"]: _ids("tail_call"),
    _T["PERF_EVENT_ARRAY"]: _PERF,
    _T["RINGBUF"]: _RINGBUF,
    _T["USER_RINGBUF"]: _ids("user_ringbuf_drain"),
    _T["STACK_TRACE"]: _ids("get_stackid"),
    _T["CGROUP_ARRAY"]: _ids("skb_under_cgroup", "current_task_under_cgroup"),
    _T["CGROUP_STORAGE"]: _ids("get_local_storage"),
    _T["PERCPU_CGROUP_STORAGE"]: _ids("get_local_storage"),
    _T["DEVMAP"]: _ids("redirect_map", "map_lookup_elem"),
    _T["DEVMAP_HASH"]: _ids("redirect_map", "map_lookup_elem"),
    _T["CPUMAP"]: _ids("redirect_map"),
    _T["XSKMAP"]: _ids("redirect_map", "map_lookup_elem"),
    _T["ARRAY_OF_MAPS"]: _ids("map_lookup_elem"),
    _T["HASH_OF_MAPS"]: _ids("map_lookup_elem"),
    # sockmap/sockhash: also map_update/delete where may_update_sockmap allows (verifier.sockmap)
    _T["SOCKMAP"]: _ids("sk_redirect_map", "sock_map_update", "msg_redirect_map", "sk_select_reuseport",
                        "map_lookup_elem"),
    _T["SOCKHASH"]: _ids("sk_redirect_hash", "sock_hash_update", "msg_redirect_hash", "sk_select_reuseport",
                         "map_lookup_elem"),
    _T["REUSEPORT_SOCKARRAY"]: _ids("sk_select_reuseport"),
    _T["QUEUE"]: _ids("map_peek_elem", "map_pop_elem", "map_push_elem"),
    _T["STACK"]: _ids("map_peek_elem", "map_pop_elem", "map_push_elem"),
    _T["SK_STORAGE"]: _ids("sk_storage_get", "sk_storage_delete", "kptr_xchg"),
    _T["INODE_STORAGE"]: _ids("inode_storage_get", "inode_storage_delete", "kptr_xchg"),
    _T["TASK_STORAGE"]: _ids("task_storage_get", "task_storage_delete", "kptr_xchg"),
    _T["CGRP_STORAGE"]: _ids("cgrp_storage_get", "cgrp_storage_delete", "kptr_xchg"),
    _T["BLOOM_FILTER"]: _ids("map_peek_elem", "map_push_elem"),
}


def _func_needs() -> dict[int, frozenset[int]]:
    """helper -> the map types it accepts (second switch)."""
    out: dict[int, frozenset[int]] = {}

    def add(funcs: frozenset[int], *types: str) -> None:
        for f in funcs:
            out[f] = _types(*types)

    add(_ids("tail_call"), "PROG_ARRAY")
    add(_PERF, "PERF_EVENT_ARRAY")
    add(_RINGBUF, "RINGBUF")
    add(_ids("user_ringbuf_drain"), "USER_RINGBUF")
    add(_ids("get_stackid"), "STACK_TRACE")
    add(_ids("current_task_under_cgroup", "skb_under_cgroup"), "CGROUP_ARRAY")
    add(_ids("redirect_map"), "DEVMAP", "DEVMAP_HASH", "CPUMAP", "XSKMAP")
    add(_ids("sk_redirect_map", "msg_redirect_map", "sock_map_update"), "SOCKMAP")
    add(_ids("sk_redirect_hash", "msg_redirect_hash", "sock_hash_update"), "SOCKHASH")
    add(_ids("get_local_storage"), "CGROUP_STORAGE", "PERCPU_CGROUP_STORAGE")
    add(_ids("sk_select_reuseport"), "REUSEPORT_SOCKARRAY", "SOCKMAP", "SOCKHASH")
    add(_ids("map_pop_elem"), "QUEUE", "STACK")
    add(_ids("map_peek_elem", "map_push_elem"), "QUEUE", "STACK", "BLOOM_FILTER")
    add(_ids("map_lookup_percpu_elem"), "PERCPU_ARRAY", "PERCPU_HASH", "LRU_PERCPU_HASH")
    add(_ids("sk_storage_get", "sk_storage_delete"), "SK_STORAGE")
    add(_ids("inode_storage_get", "inode_storage_delete"), "INODE_STORAGE")
    add(_ids("task_storage_get", "task_storage_delete"), "TASK_STORAGE")
    add(_ids("cgrp_storage_get", "cgrp_storage_delete"), "CGRP_STORAGE")
    return out


_FUNC_NEEDS = _func_needs()

#: check_map_prog_compatibility: the map types a sleepable program may use
SLEEPABLE_OK = _types("HASH", "LRU_HASH", "ARRAY", "PERCPU_HASH", "PERCPU_ARRAY", "LRU_PERCPU_HASH",
                      "ARRAY_OF_MAPS", "HASH_OF_MAPS", "RINGBUF", "USER_RINGBUF", "INODE_STORAGE",
                      "SK_STORAGE", "TASK_STORAGE", "CGRP_STORAGE", "QUEUE", "STACK", "ARENA")

#: map types whose program-side semantics the model lacks (see the module docstring)
#: (map-in-map is modelled: a NULL-checked lookup is a CONST_PTR_TO_MAP of the inner template,
#: verifier.not_null.mark_ptr_not_null_reg)
#: (cgroup storage is modelled: bpf_get_local_storage's never-NULL value, its flags, one
#: storage of each kind per program -- verifier.calls, verifier.analyzer)
#: (devmap, devmap hash, cpumap, xskmap: verified -- redirect_map, devmap's read-only value,
#: an xskmap lookup is a PTR_TO_XDP_SOCK; their run time is not modelled)
#: (sockmap, sockhash: verified -- verifier.sockmap; their run time is not modelled)
_NOT_MODELLED = _types("ARENA")
_SOCK_MAPS = _types("SOCKMAP", "SOCKHASH")


def check_map_func_compatibility(map_type: int, func_id: int, *, may_update_sockmap: bool = False) -> str | None:
    """The verifier's message when ``map_type`` cannot be passed to helper ``func_id``
    (``-EINVAL``), else None. The caller adds nothing: the message is the kernel's
    except for the helper name, which the caller formats (``func_id_name``).
    ``may_update_sockmap``: what ``may_update_sockmap`` said for this program
    (:func:`verifier.sockmap.may_update_sockmap`), which lets a sockmap or sockhash
    go to ``bpf_map_update_elem`` / ``bpf_map_delete_elem``."""
    allowed = _MAP_ALLOWS.get(map_type)
    needs = _FUNC_NEEDS.get(func_id)
    if map_type in _SOCK_MAPS and may_update_sockmap:
        allowed = None
    if (allowed is not None and func_id not in allowed) or (needs is not None and map_type not in needs):
        return f"cannot pass map_type {map_type} into func bpf_{HELPER_NAMES[func_id]}#{func_id}"
    return None


def check_map_prog_compatibility(map_type: int, sleepable: bool) -> str | None:
    """The map-type rules of ``check_map_prog_compatibility`` (``-EINVAL`` message or None)."""
    if map_type == _T["STRUCT_OPS"]:
        return "bpf_struct_ops map cannot be used in prog"
    if sleepable and map_type not in SLEEPABLE_OK:
        return "Sleepable programs can only use array, hash, ringbuf and local storage maps"
    return None


def map_use_not_modelled(map_type: int) -> str | None:
    """Why a program referencing a map of ``map_type`` is not modelled, or None."""
    if map_type in _NOT_MODELLED:
        name = next(k for k, v in _T.items() if v == map_type)
        return f"programs using BPF_MAP_TYPE_{name} maps are not modelled"
    return None
