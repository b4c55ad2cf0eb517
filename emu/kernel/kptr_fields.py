"""What a map does with the kptrs its values hold when a value goes away: ``bpf_obj_free_fields``.

Models kernel/bpf/syscall.c ``bpf_obj_free_fields`` (Linux 6.12/6.18) for kptr fields: each
field's pointer is exchanged with NULL (``xchg``) and, when it was not NULL,

* a referenced kptr to a kernel type is handed to the destructor its type registered
  (``field->kptr.dtor``: ``bpf_task_release_dtor``, ``bpf_cpumask_release_dtor`` ..., which
  wrap the release kfuncs: :data:`kernel_model.kptr_kfuncs.DTOR_RELEASES`);
* a referenced kptr to a local type is dropped as ``bpf_obj_drop`` would
  (``__bpf_obj_drop_impl`` with the pointee's record);
* an untrusted kptr is only cleared (it holds no reference).

The maps call it where the kernel does (kernel/bpf/arraymap.c ``array_map_update_elem`` after the
copy, ``array_map_free``; kernel/bpf/hashtab.c ``check_and_free_fields`` for an element deleted or
replaced, ``htab_map_free``): :class:`emu.kernel.bpf_maps.ArrayMap` and ``HashMap``. The other map
types (per-CPU, LRU and the others) do not free their values' kptrs here; a per-CPU kptr
(``__percpu_kptr``) is dropped as ``bpf_percpu_obj_drop`` does. A dtor whose release kfunc the emulated kernel has
no body for stops the run as not modelled.
"""

from __future__ import annotations

from typing import Any, Callable

from kernel_model.btf_record import BtfRecord, struct_meta
from kernel_model.errors import NotModelled
from kernel_model.kptr_kfuncs import DTOR_RELEASES

__all__ = ["FieldFreer", "free_fields", "without_kptrs"]

#: (machine, pointer) -> None
Releaser = Callable[[Any, int], None]


class FieldFreer:
    """The kernel-side bodies ``bpf_obj_free_fields`` reaches: the destructors (by name, through
    the release kfuncs registered in ``kfuncs``) and the local-object drop (``graph``)."""

    def __init__(self, kfuncs: Any, graph: Any) -> None:
        self._kfuncs = kfuncs
        self._graph = graph

    def dtor(self, name: str) -> Releaser:
        release = DTOR_RELEASES.get(name)
        entries = self._kfuncs.by_name(release) if release and self._kfuncs is not None else []
        if not entries:
            raise NotModelled(f"kptr destructor {name}: no body in the emulated kernel")
        impl = entries[0].kfunc.impl

        def run(m: Any, p: int) -> None:
            impl(m, p)
        return run

    def drop_percpu(self, m: Any, p: int) -> None:
        """``bpf_obj_free_fields`` of a ``BPF_KPTR_PERCPU``: ``__bpf_obj_drop_impl(p, NULL, true)``."""
        if self._graph is None:
            raise NotModelled("dropping a map value's per-CPU kptr: no graph run time")
        self._graph.percpu_obj_drop(m, p)

    def drop_local(self, m: Any, p: int, btf: Any, type_id: int) -> None:
        if self._graph is None:
            raise NotModelled("dropping a map value's local kptr: no graph run time")
        self._graph._drop(m, p, struct_meta(btf, type_id))


def free_fields(m: Any, rec: BtfRecord | None, value: int, freer: FieldFreer | None) -> None:
    """``bpf_obj_free_fields(rec, value)`` for the kptr fields of the value at ``value``."""
    if rec is None or freer is None:
        return
    for f in rec.fields:
        if not f.kptr:
            continue
        p = m.read_u64(value + f.offset)
        if not p:
            continue
        m.write_u64(value + f.offset, 0)
        if f.kptr == "kptr_unref":
            continue
        if f.kptr == "percpu_kptr":
            freer.drop_percpu(m, p)
            continue
        if f.kernel:
            freer.dtor(f.dtor)(m, p)
        else:
            freer.drop_local(m, p, f.value_btf, f.value_btf_id)


def without_kptrs(rec: BtfRecord | None, value: bytes) -> bytes:
    """``copy_map_value``'s view of a new value: the kptr fields are not copied (the element's
    own stay; after ``bpf_obj_free_fields`` or in a fresh element they are NULL)."""
    if rec is None or not any(f.kptr for f in rec.fields):
        return value
    b = bytearray(value)
    for f in rec.fields:
        if f.kptr and f.offset < len(b):
            b[f.offset:f.offset + 8] = bytes(min(8, len(b) - f.offset))
    return bytes(b)
