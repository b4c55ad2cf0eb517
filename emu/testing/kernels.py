"""Putting drawn struct_ops types into an emulated kernel and filling a map of them.

What a property about struct_ops needs beyond the strategies of
:mod:`kernel_model.testing`, all through the emulated kernel's ``bpf()``
(:class:`emu.kernel.Kernel`):

* :func:`install_struct_ops` -- a :class:`~kernel_model.struct_ops_decl.StructOpsDecl`
  registered as a module's type (a simulated module loaded with its split BTF,
  Linux 6.9+) or built in (added to vmlinux and registered, as a subsystem's
  ``register_bpf_struct_ops`` at boot; the only way on 6.8);
* :func:`fill_struct_ops_map` -- ``BPF_PROG_LOAD`` a struct_ops program for every
  supported function member (or the ones given), ``BPF_MAP_CREATE`` a struct_ops
  map and ``BPF_MAP_UPDATE_ELEM`` it: the kernel's page packing, its ``E2BIG``,
  registration (``reg``) or, with ``link``, the READY state;
  :meth:`FilledMap.close` closes everything it opened.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from kernel_model.asm import assemble
from kernel_model.bpf_map import MAP_TYPE_STRUCT_OPS
from kernel_model.btf import parse_c
from kernel_model.errors import InputError, KernelError
from kernel_model.insn import Insn
from kernel_model.modules import ModuleSpec
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.struct_ops import StructOpsDesc
from kernel_model.struct_ops_decl import StructOpsDecl
from kernel_model.struct_ops_map import BPF_F_LINK, BPF_F_VTYPE_BTF_OBJ_FD, TrampolinePlacement

if TYPE_CHECKING:
    from emu.kernel import Kernel

__all__ = ["InstalledStructOps", "install_struct_ops", "FilledMap", "fill_struct_ops_map", "RETURN_ZERO"]

#: ``r0 = 0; exit``: valid for any member (void, scalar, or pointer return, which
#: check_return_code allows only as 0)
RETURN_ZERO: tuple[Insn, ...] = tuple(assemble("r0 = 0\nexit\n"))


@dataclass
class InstalledStructOps:
    """A struct_ops type in a kernel: its descriptor, and for a module's type the
    module's name and an fd on its BTF (``attach_btf_obj_fd`` / ``value_type_btf_obj_fd``)."""

    kernel: "Kernel"
    desc: StructOpsDesc
    module: str | None = None
    btf_fd: int = 0

    def remove(self) -> None:
        """Close the BTF fd and unload the module (a built-in type stays: vmlinux)."""
        if self.btf_fd:
            self.kernel.close(self.btf_fd)
            self.btf_fd = 0
        if self.module is not None:
            self.kernel.unload_module(self.module, force=True)
            self.module = None


def install_struct_ops(kernel: "Kernel", decl: StructOpsDecl, *, as_module: bool | None = None,
                       module_name: str | None = None) -> InstalledStructOps:
    """Register ``decl`` in ``kernel``: as a module's type (default where the
    profile has module struct_ops, 6.9+) or built into vmlinux (``as_module=False``,
    the default on 6.8). Raises the kernel's KernelError for what registration refuses."""
    if as_module is None:
        as_module = kernel.profile.module_struct_ops
    if not as_module:
        desc = decl.register(kernel.struct_ops, kernel.btf)
        return InstalledStructOps(kernel, desc)
    if not kernel.profile.module_struct_ops:
        raise InputError(f"profile {kernel.profile.name} has no module struct_ops types (6.9+): "
                         "install it with as_module=False")
    name = module_name or f"{decl.name}_mod"
    spec = ModuleSpec(name, decl.c_source(), [decl.struct_ops()], (decl.name,))
    kernel.load_module(spec)  # a refused registration fails the module's init: nothing stays
    return InstalledStructOps(kernel, kernel.struct_ops_type(decl.name), name, kernel.module_btf_fd(name))


@dataclass
class FilledMap:
    """The outcome of :func:`fill_struct_ops_map`. ``error`` is the update's
    KernelError (``E2BIG`` when the trampolines need more pages than the profile
    allows) or None; ``pages`` and ``placements`` are the map's image pages and
    where each trampoline went (the attempted ones when the update failed)."""

    kernel: "Kernel"
    map_fd: int
    prog_fds: dict[str, int]
    error: KernelError | None
    pages: int
    placements: list[TrampolinePlacement]
    state: int
    _fds: list[int] = field(default_factory=list, repr=False)

    @property
    def errno(self) -> int:
        return 0 if self.error is None else self.error.errno

    def close(self) -> None:
        """Unregister (a registered plain map) and close every fd opened."""
        k = self.kernel
        if self.error is None and self.state == 1:  # INUSE: unreg, as deleting the element does
            k.map_delete_elem(self.map_fd, bytes(4))
            self.state = 2
        for fd in reversed(self._fds):
            k.close(fd)
        self._fds.clear()

    def __enter__(self) -> "FilledMap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fill_struct_ops_map(kernel: "Kernel", installed: InstalledStructOps | StructOpsDesc, *,
                        programs: Mapping[str, Sequence[Insn]] | None = None, members: Iterable[str] | None = None,
                        link: bool = False, sleepable: Iterable[str] = ()) -> FilledMap:
    """Load a program into every supported function member (``programs[member]``,
    else :data:`RETURN_ZERO`; only ``members`` when given), create a struct_ops map
    (``BPF_F_LINK`` with ``link``) and update it. A refused program load raises
    (``emu.kernel.prog_load.ProgLoadError``); the map update's refusal is in ``.error``."""
    inst = installed if isinstance(installed, InstalledStructOps) else InstalledStructOps(kernel, installed)
    desc = inst.desc
    progs = dict(programs or {})
    func = [m for m in desc.members if m.is_func and m.supported]
    names = {m.name for m in func}
    chosen = names if members is None else set(members)
    unknown = (chosen | set(progs)) - names
    if unknown:
        raise InputError(f"struct {desc.name} has no supported function member {', '.join(sorted(unknown))}")
    sleepers = set(sleepable)
    opened: list[int] = []
    try:
        ubtf = kernel.btf_load(parse_c("int x;").to_bytes())
        opened.append(ubtf)
        value = bytearray(desc.value_size)
        fds: dict[str, int] = {}
        for m in func:
            if m.name not in chosen:
                continue
            fd = kernel.prog_load(list(progs.get(m.name, RETURN_ZERO)), prog_type=PROG_TYPE_STRUCT_OPS,
                                  attach_btf_id=desc.type_id, attach_btf_obj_fd=inst.btf_fd,
                                  expected_attach_type=m.index, prog_flags=(1 << 4) if m.name in sleepers else 0,
                                  prog_name=m.name[:15])
            opened.append(fd)
            fds[m.name] = fd
            struct.pack_into("<Q", value, desc.data_offset + m.offset, fd)
        flags = (BPF_F_LINK if link else 0) | (BPF_F_VTYPE_BTF_OBJ_FD if inst.btf_fd else 0)
        sfd = kernel.map_create(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=desc.value_size,
                                max_entries=1, map_flags=flags, btf_fd=ubtf,
                                btf_vmlinux_value_type_id=desc.value_id, value_type_btf_obj_fd=inst.btf_fd,
                                map_name=desc.name[:15])
        opened.append(sfd)
        error = None
        try:
            kernel.map_update_elem(sfd, bytes(4), bytes(value))
        except KernelError as e:
            error = e
        st_map = kernel.fds.objects[sfd].st_map
        placements = list(st_map.placements) or list(st_map.attempted)
        return FilledMap(kernel, sfd, fds, error, len(st_map.image_pages), placements, st_map.state, opened)
    except BaseException:
        for fd in reversed(opened):
            kernel.close(fd)
        raise
