"""What a NULL check makes of a map lookup's result: ``mark_ptr_not_null_reg``.

kernel/bpf/verifier.c (Linux 6.12 and 6.18), ``mark_ptr_not_null_reg``: a
``PTR_TO_MAP_VALUE_OR_NULL`` found not NULL becomes

* for a map-in-map (``map->inner_map_meta`` set): a ``CONST_PTR_TO_MAP`` whose map
  is the inner map template, so the program may pass it to map helpers as if it
  were that map (the template's key and value sizes, type and special fields are
  what the checks see); when the template's value has a ``bpf_timer`` or ``bpf_wq``
  (6.18: or ``bpf_task_work``) the lookup's id becomes the register's ``map_uid``,
  which tells one inner map from another;
* for an XSKMAP: ``PTR_TO_XDP_SOCK``; for a SOCKMAP/SOCKHASH: ``PTR_TO_SOCKET``;
* otherwise a ``PTR_TO_MAP_VALUE``;

any other maybe-NULL pointer just loses ``PTR_MAYBE_NULL``.
"""

from __future__ import annotations

from kernel_model.bpf_facts.enums import MAP_TYPES

from .regs import (CONST_PTR_TO_MAP, PTR_MAYBE_NULL, PTR_TO_MAP_VALUE, PTR_TO_SOCKET, PTR_TO_XDP_SOCK, RegState,
                   base_type)

__all__ = ["mark_ptr_not_null_reg"]

_XSKMAP = MAP_TYPES["BPF_MAP_TYPE_XSKMAP"]
_SOCKMAPS = frozenset({MAP_TYPES["BPF_MAP_TYPE_SOCKMAP"], MAP_TYPES["BPF_MAP_TYPE_SOCKHASH"]})
#: the special fields whose owner map a register's map_uid must name
_UID_FIELDS = ("bpf_timer", "bpf_wq", "bpf_task_work")


def mark_ptr_not_null_reg(reg: RegState) -> None:
    """``mark_ptr_not_null_reg`` (see the module docstring)."""
    if base_type(reg.type) != PTR_TO_MAP_VALUE:
        reg.type &= ~PTR_MAYBE_NULL
        return
    m = reg.map
    meta = getattr(m, "inner_meta", None)
    if meta is not None:
        reg.type = CONST_PTR_TO_MAP
        reg.map = meta
        rec = getattr(meta, "record", None)
        if rec is not None and any(rec.has(f) for f in _UID_FIELDS):
            reg.map_uid = reg.id
    elif m is not None and m.map_type == _XSKMAP:
        reg.type = PTR_TO_XDP_SOCK
    elif m is not None and m.map_type in _SOCKMAPS:
        reg.type = PTR_TO_SOCKET
    else:
        reg.type = PTR_TO_MAP_VALUE
