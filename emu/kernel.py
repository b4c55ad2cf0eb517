"""``Kernel``: the emulated kernel as one object.

It owns the kernel model (vmlinux BTF, the struct_ops registry, modules,
kfuncs, the bpf() object tables) for one profile, and -- created on first use --
the x86-64 machine that runs JIT images and trampolines. This is the Python
face of the ``bpf()`` system call for struct_ops: programs are loaded
(verified, JIT-compiled), maps created and updated, links made, members called
through the emulated kernel.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

from kernel_model.btf import BTF
from kernel_model.errors import KernelError
from kernel_model.modules import KfuncTable, Module, ModuleRegistry, ModuleSpec
from kernel_model.profile import Profile, get_profile
from kernel_model.struct_ops import StructOpsDesc, StructOpsRegistry
from kernel_model.subsystems import dummy_ops, tcp_ca, testmod
from kernel_model.vmlinux import build_vmlinux_btf

__all__ = ["Kernel", "BUILTIN_MODULES"]

#: modules the emulated kernel can load by name
BUILTIN_MODULES = {"bpf_testmod": testmod.make_testmod, "bpf_testmod_alt": testmod.make_testmod_alt}


@dataclass
class _FdTable:
    next_fd: int = 3
    objects: dict[int, Any] = field(default_factory=dict)

    def install(self, obj: Any) -> int:
        fd = self.next_fd
        self.next_fd += 1
        self.objects[fd] = obj
        return fd

    def get(self, fd: int, kind: type | None = None) -> Any:
        obj = self.objects.get(fd)
        if obj is None or (kind is not None and not isinstance(obj, kind)):
            raise KernelError(errno.EBADF, f"fd {fd} is not {'a ' + kind.__name__ if kind else 'open'}")
        return obj

    def close(self, fd: int) -> Any:
        obj = self.objects.pop(fd, None)
        if obj is None:
            raise KernelError(errno.EBADF, f"fd {fd} is not open")
        return obj


class Kernel:
    """An emulated kernel of the given profile (``latest``, ``6.8`` ...)."""

    def __init__(self, profile: str | Profile = "latest", *, modules: tuple[str, ...] = ("bpf_testmod",)) -> None:
        self.profile = profile if isinstance(profile, Profile) else get_profile(profile)
        self.btf: BTF = build_vmlinux_btf()
        self.struct_ops = StructOpsRegistry(self.profile)
        self.struct_ops.register(dummy_ops.make_ops(), self.btf)
        self.struct_ops.register(tcp_ca.make_ops(), self.btf)
        self.kfuncs = KfuncTable()
        self.modules = ModuleRegistry(self.btf, self.struct_ops, self.kfuncs,
                                      module_struct_ops=self.profile.module_struct_ops)
        self.fds = _FdTable()
        self.dmesg = self.struct_ops.dmesg
        self._machine: Any = None
        for name in modules:
            try:
                self.load_module(name)
            except KernelError as e:
                self.dmesg.append(f"{name}: init failed: {e}")

    # --- modules -------------------------------------------------------------------------
    def load_module(self, name_or_spec: str | ModuleSpec) -> Module:
        """``insmod``: a built-in module by name, or any :class:`ModuleSpec`."""
        if isinstance(name_or_spec, str):
            if name_or_spec not in BUILTIN_MODULES:
                raise KernelError(errno.ENOENT, f"no module {name_or_spec!r} (known: {', '.join(BUILTIN_MODULES)})")
            spec = BUILTIN_MODULES[name_or_spec]()
        else:
            spec = name_or_spec
        return self.modules.load(spec)

    def unload_module(self, name: str, force: bool = False) -> None:
        """``rmmod`` (``delete_module``)."""
        self.modules.unload(name, force)

    # --- types ---------------------------------------------------------------------------
    def struct_ops_type(self, name: str) -> StructOpsDesc:
        desc = self.struct_ops.by_name(name)
        if desc is None:
            known = ", ".join(d.name for d in self.struct_ops.descs)
            raise KernelError(errno.ENOENT, f"no struct_ops type {name!r} is registered (registered: {known})")
        return desc

    def btf_for_dump(self) -> BTF:
        """The BTF a user program compiles against: vmlinux, or with one module
        loaded, that module's split BTF (which includes the base when dumped)."""
        mods = list(self.modules.modules.values())
        return mods[-1].btf if mods else self.btf
