"""Attaching struct_ops maps: links, legacy maps, detach, update.

Models ``bpf_map__attach_struct_ops``, ``bpf_link__update_map``,
``bpf_link__detach`` and ``bpf_link__destroy`` (``src/libbpf.c``, libbpf 1.8):

* attach: ``BPF_MAP_UPDATE_ELEM`` (key 0, the map's ``kern_vdata`` with the
  program fds, flags 0). A *legacy* map (no ``BPF_F_LINK``) is registered by
  the update itself; libbpf returns a "fake" link whose fd is the map's and
  whose destroy is ``BPF_MAP_DELETE_ELEM``. A ``.struct_ops.link`` map
  tolerates ``-EBUSY`` from the update (the value can be set only once), then
  ``BPF_LINK_CREATE`` (map fd, attach type ``BPF_STRUCT_OPS`` = 44) registers
  it; destroy closes the link fd;
* ``bpf_link__update_map``: the new map's value (``-EBUSY`` tolerated), then
  ``BPF_LINK_UPDATE`` with ``new_map_fd``; -EINVAL for a fake link;
* ``bpf_link__detach``: ``BPF_LINK_DETACH`` (the fd stays open, the kernel
  unregisters).

Messages: ``map '%s': can't attach non-struct_ops map``, ``map '%s': can't
attach BPF map without FD (was it created?)``, ``map '%s': can't use BPF map
without FD (was it created?)``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from kernel_model.errors import KernelError

from .errors import LibbpfError, errstr
from .maps import BpfMap
from .struct_ops import BPF_F_LINK, prepare_vdata
from .sys import BPF_STRUCT_OPS

__all__ = ["BpfLink", "attach_struct_ops"]


@dataclass(eq=False)
class BpfLink:
    """``struct bpf_link`` of a struct_ops map. ``fd`` is the link fd (the map
    fd for a legacy "fake" link); ``map`` the map it currently points to."""

    sys: Any
    fd: int
    map: BpfMap
    is_fake: bool
    detached: bool = False
    destroyed: bool = False

    def update_map(self, new_map: BpfMap) -> None:
        """``bpf_link__update_map``."""
        obj = new_map.obj
        if not new_map.is_struct_ops:
            raise LibbpfError(errno.EINVAL, f"map '{new_map.name}' is not a struct_ops map")
        if new_map.fd < 0:
            msg = f"map '{new_map.name}': can't use BPF map without FD (was it created?)"
            obj.log.warn(msg)  # type: ignore[attr-defined]
            raise LibbpfError(errno.EINVAL, msg)
        if self.is_fake:
            raise LibbpfError(errno.EINVAL, "a legacy struct_ops attachment (no BPF_F_LINK) cannot be updated")
        try:
            self.sys.map_update_elem(new_map.fd, b"\0\0\0\0", prepare_vdata(new_map), 0)
        except KernelError as e:
            if e.errno != errno.EBUSY:
                raise LibbpfError(e.errno, f"map '{new_map.name}': BPF_MAP_UPDATE_ELEM failed: "
                                           f"{errstr(e.errno)} {e.message}".rstrip()) from None
        try:
            self.sys.link_update(self.fd, new_map_fd=new_map.fd, flags=0)
        except KernelError as e:
            raise LibbpfError(e.errno, f"link fd {self.fd}: BPF_LINK_UPDATE to map '{new_map.name}' failed: "
                                       f"{errstr(e.errno)} {e.message}".rstrip()) from None
        self.map = new_map

    def detach(self) -> None:
        """``bpf_link__detach``: ``BPF_LINK_DETACH`` (the fd stays open)."""
        try:
            self.sys.link_detach(self.fd)
        except KernelError as e:
            raise LibbpfError(e.errno, f"link fd {self.fd}: BPF_LINK_DETACH failed: {errstr(e.errno)}") from None
        self.detached = True

    def destroy(self) -> None:
        """``bpf_link__destroy``: a fake link deletes the map's element (unregisters);
        a real one closes its fd (the kernel unregisters when the link is freed)."""
        if self.destroyed:
            return
        self.destroyed = True
        if self.is_fake:
            try:
                self.sys.map_delete_elem(self.fd, b"\0\0\0\0")
            except KernelError as e:
                raise LibbpfError(e.errno, f"map '{self.map.name}': BPF_MAP_DELETE_ELEM failed: "
                                           f"{errstr(e.errno)}") from None
            return
        try:
            self.sys.close(self.fd)
        except KernelError:
            pass

    def __enter__(self) -> BpfLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def attach_struct_ops(m: BpfMap) -> BpfLink:
    """``bpf_map__attach_struct_ops``."""
    obj: Any = m.obj
    if not m.is_struct_ops:
        msg = f"map '{m.name}': can't attach non-struct_ops map"
        obj.log.warn(msg)
        raise LibbpfError(errno.EINVAL, msg)
    if m.fd < 0:
        msg = f"map '{m.name}': can't attach BPF map without FD (was it created?)"
        obj.log.warn(msg)
        raise LibbpfError(errno.EINVAL, msg)
    sys = obj.sys
    value = prepare_vdata(m)
    try:
        sys.map_update_elem(m.fd, b"\0\0\0\0", value, 0)
    except KernelError as e:
        if not (m.map_flags & BPF_F_LINK) or e.errno != errno.EBUSY:
            raise LibbpfError(e.errno, f"map '{m.name}': BPF_MAP_UPDATE_ELEM failed: {errstr(e.errno)}"
                                       + (f" ({e.message})" if e.message else "")) from None
    if not (m.map_flags & BPF_F_LINK):
        return BpfLink(sys, m.fd, m, is_fake=True)
    try:
        fd = sys.link_create(m.fd, target_fd=0, attach_type=BPF_STRUCT_OPS, flags=0)
    except KernelError as e:
        raise LibbpfError(e.errno, f"map '{m.name}': BPF_LINK_CREATE failed: {errstr(e.errno)}"
                                   + (f" ({e.message})" if e.message else "")) from None
    return BpfLink(sys, fd, m, is_fake=False)
