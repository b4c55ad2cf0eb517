"""Maps the emulated kernel creates but whose contents it does not model.

``BPF_MAP_CREATE`` of these types runs the kernel's checks (the facts of
:mod:`kernel_model.bpf_facts.map_types`) and succeeds as on the host, so an
object that merely declares such a map loads; the map has a ``struct bpf_map``
header in emulated memory (what ``r1 = map ll`` loads) and an id. Its
operations are :class:`~kernel_model.errors.NotModelled` (``-ENOTSUPP``, exit
status 3 at the command line), never a made-up answer: perf event and cgroup
arrays, stack traces, cgroup/inode/task/cgrp storage,
devmap/cpumap/xskmap, arenas, and map-in-map
(whose inner map template is checked at create time, see
:func:`emu.kernel.maps.check_inner_map`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import NotModelled

from ..bpf_maps import BPF_MAP_HEADER_SIZE, BtfObject, MapObject

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["CreatedOnlyMap"]


class CreatedOnlyMap(MapObject):
    """A created map of a type whose runtime is not modelled (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None, *,
                 inner: MapSpec | None = None) -> None:
        super().__init__(spec, machine, btf)
        #: map-in-map: the inner map template (``bpf_map_meta_alloc``)
        self.inner = inner
        self.base = machine.alloc.kzalloc(BPF_MAP_HEADER_SIZE)
        spec.addr = self.base
        self._write_header(self.base)

    def _nm(self, what: str) -> NotModelled:
        return NotModelled(f"{self.spec.type_name}: {what} is not modelled by this kernel")

    def lookup(self, key: bytes) -> int:
        raise self._nm("lookup")

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise self._nm("update")

    def delete(self, key: bytes) -> None:
        raise self._nm("delete")

    def get_next_key(self, key: bytes | None) -> bytes:
        raise self._nm("get_next_key")

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        raise self._nm("lookup")

    def release(self) -> None:
        self.m.alloc.kfree(self.base)
        super().release()
