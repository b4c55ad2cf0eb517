"""Cgroup local storage (``BPF_MAP_TYPE_CGROUP_STORAGE``, ``PERCPU_CGROUP_STORAGE``) as a
test run sees it.

The kernel keeps one storage per (cgroup, attach type) and hands a program the one of
the cgroup it runs for (``bpf_get_local_storage``, kernel/bpf/cgroup.c: the map
argument only selects shared or per-CPU, ``cgroup_storage_type``). A
``BPF_PROG_TEST_RUN`` has no cgroup: ``bpf_test_run`` (net/bpf/test_run.c, 6.12/6.18)
allocates a fresh, zeroed storage of each kind the program uses
(``bpf_cgroup_storage_alloc``, ``__GFP_ZERO``), shares it between the ``repeat`` runs
and frees it after. :func:`alloc_run_storages` / :func:`free_run_storages` do that
around a test run, :func:`local_storage` is the helper's answer.

Not modelled: attached programs' storages (no cgroup attachment exists here), the
map's user-space side (its elements are keyed by cgroup id and attach type:
:class:`emu.kernel.maps.created.CreatedOnlyMap` refuses them as not modelled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import NotModelled

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["alloc_run_storages", "free_run_storages", "local_storage", "STORAGE_TYPES"]

#: map type -> enum bpf_cgroup_storage_type (0 shared, 1 per-CPU)
STORAGE_TYPES = {MAP_TYPES["BPF_MAP_TYPE_CGROUP_STORAGE"]: 0, MAP_TYPES["BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE"]: 1}


def alloc_run_storages(m: "Machine", maps: Iterable[Any]) -> dict[int, int]:
    """``bpf_cgroup_storage_alloc`` for each storage kind among ``maps`` (the program's
    used maps; the verifier allows one map of each kind): stype -> the buffer (shared)
    or per-CPU pointer. Set as the machine's current run context."""
    out: dict[int, int] = {}
    for mo in maps:
        stype = STORAGE_TYPES.get(mo.spec.map_type)
        if stype is None or stype in out:
            continue
        size = (mo.spec.value_size + 7) & ~7
        out[stype] = m.alloc.alloc_percpu(size) if stype else m.alloc.kzalloc(size)
    m.cgroup_storage = out  # type: ignore[attr-defined]
    return out


def free_run_storages(m: "Machine", storages: dict[int, int]) -> None:
    """``bpf_cgroup_storage_free`` after the run; the run context is cleared."""
    for stype, ptr in storages.items():
        if stype:
            m.alloc.free_percpu(ptr)
        else:
            m.alloc.kfree(ptr)
    m.cgroup_storage = {}  # type: ignore[attr-defined]


def local_storage(m: "Machine", map_type: int) -> int:
    """``bpf_get_local_storage``: the current run's storage of the map's kind (this
    CPU's copy for a per-CPU one)."""
    stype = STORAGE_TYPES.get(map_type)
    ptr = getattr(m, "cgroup_storage", {}).get(stype) if stype is not None else None
    if ptr is None:
        raise NotModelled("bpf_get_local_storage outside a test run: cgroup attachments are not modelled")
    return m.alloc.percpu_addr(ptr, max(m.runner.cpu, 0)) if stype else ptr
