"""The emulated kernel's ``vmlinux.h``: every built-in and loaded-module type.

``bpftool btf dump file /sys/kernel/btf/vmlinux format c`` prints vmlinux's
types; a program that uses a module's types (``bpf_testmod_ops``) is compiled
against a header that also has the module's (the selftests include
``bpf_testmod.h``). This module merges the emulated kernel's vmlinux BTF and
the split BTF of every loaded module into one graph (module ids renumbered
after the previous module's, as if the modules were appended to vmlinux) and
prints it with :func:`kernel_model.btf.format_c`, so one header holds
``bpf_dummy_ops``, ``tcp_congestion_ops`` and ``bpf_testmod_ops`` alike.

A type name that two modules both define (other than the base types a split
BTF reuses) gets libbpf's ``___2`` suffix from the C dumper, as bpftool does
for duplicate names.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

from kernel_model.btf import BTF, format_c
from kernel_model.btf.types import (
    Array, BTFType, Composite, Const, Datasec, DeclTag, Func, FuncProto, Member, Param, Ptr, Restrict, Typedef,
    TypeTag, Var, VarSecinfo, Volatile,
)

__all__ = ["merged_kernel_btf", "kernel_header", "remap_type"]


def remap_type(t: BTFType, f: Callable[[int], int]) -> BTFType:
    """A copy of ``t`` whose type-id references go through ``f`` (id 0 stays 0)."""
    g = lambda i: f(i) if i else 0  # noqa: E731
    if isinstance(t, Composite):
        return dataclasses.replace(t, members=tuple(Member(m.name, g(m.type_id), m.bits_offset, m.bitfield_size)
                                                    for m in t.members))
    if isinstance(t, FuncProto):
        return dataclasses.replace(t, ret_type_id=g(t.ret_type_id),
                                   params=tuple(Param(p.name, g(p.type_id)) for p in t.params))
    if isinstance(t, Array):
        return dataclasses.replace(t, type_id=g(t.type_id), index_type_id=g(t.index_type_id))
    if isinstance(t, Datasec):
        return dataclasses.replace(t, vars=tuple(VarSecinfo(g(v.type_id), v.offset, v.size) for v in t.vars))
    if isinstance(t, (Ptr, Const, Volatile, Restrict, Typedef, TypeTag, Func, Var, DeclTag)):  # every kind with type_id
        return dataclasses.replace(t, type_id=g(t.type_id))
    return t


def merged_kernel_btf(vmlinux: BTF, modules: Iterable[BTF]) -> BTF:
    """One BTF holding ``vmlinux``'s types then each module's own types, renumbered."""
    out = BTF()
    for _, t in vmlinux.iter_types():
        out.add(t)
    base_count = vmlinux.type_count
    for mod in modules:
        shift = out.type_count - mod.start_id

        def f(i: int, shift: int = shift) -> int:
            return i if i < base_count else i + shift

        for _, t in mod.iter_types():
            out.add(remap_type(t, f))
    return out


def kernel_header(vmlinux: BTF, modules: Iterable[BTF] = ()) -> str:
    """``vmlinux.h`` of a kernel: ``vmlinux``'s types, then each loaded module's
    (what ``/sys/kernel/btf/vmlinux`` and ``/sys/kernel/btf/<module>`` hold)."""
    return format_c(merged_kernel_btf(vmlinux, modules))
