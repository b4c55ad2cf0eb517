"""Kernel modules: load, unload, reference counts, split BTF, kfunc sets.

Models what struct_ops needs of ``kernel/module/main.c`` and ``kernel/bpf/btf.c``
(Linux 6.12/6.18):

* A module brings **split BTF** on top of vmlinux's (type ids continue after the
  base), registers struct_ops types from its init (``register_bpf_struct_ops``,
  allowed from Linux 6.9; the ``6.8`` profile refuses module struct_ops with
  ``-EOPNOTSUPP``), and registers kfunc sets (``register_btf_kfunc_id_set``).
* ``delete_module`` of a module whose reference count is not zero fails with
  ``-EWOULDBLOCK`` (``try_stop_module``), unless forced. A struct_ops map of a
  module's type holds a reference (``btf_try_get_module`` in
  ``bpf_struct_ops_map_alloc``) until the map is freed; so do programs attached
  to a module type (``attach_btf_obj_fd``) and programs calling its kfuncs.
* Its kfuncs' FUNCs carry pahole's ``bpf_kfunc`` DECL_TAG, so the C dump of its BTF
  declares them (``extern ... __weak __ksym;``).
* Unloading removes the module's BTF, struct_ops types and kfuncs.

Where we differ: module text is not placed or relocated; a kfunc's body is a
Python callable serviced by the machine.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .btf import BTF, parse_c
from .btf import structs as S
from .errors import KernelError
from .memory import HelperFn
from .struct_ops import StructOps, StructOpsRegistry
from .vmlinux import add_value_type, tag_kfuncs

__all__ = ["Kfunc", "ModuleSpec", "Module", "ModuleRegistry", "KfuncTable"]


@dataclass(frozen=True, slots=True)
class Kfunc:
    """A kfunc: ``name`` (a FUNC in the owner's BTF), its Python body, flags
    (``KF_*`` names as strings: ``"KF_ACQUIRE"``, ``"KF_RET_NULL"`` ...) and the
    program types allowed to call it."""

    name: str
    impl: HelperFn
    flags: frozenset[str] = frozenset()
    #: the program types (``enum bpf_prog_type`` values) whose kfunc hook holds a set with
    #: this kfunc (``register_btf_kfunc_id_set``); None: every type (the test modules' kfuncs)
    prog_types: frozenset[int] | None = None


@dataclass(slots=True)
class ModuleSpec:
    """What a module is built from: its C declarations (types, stubs, kfunc
    prototypes), the struct_ops it registers at init, and its kfuncs."""

    name: str
    c_source: str
    struct_ops: Sequence[StructOps] = ()
    value_types: Sequence[str] = ()  # ops structs whose bpf_struct_ops_<name> the module's BTF holds
    kfuncs: Sequence[Kfunc] = ()


@dataclass(eq=False, slots=True)
class Module:
    """A loaded module (``struct module``)."""

    name: str
    btf: BTF
    spec: ModuleSpec
    refcnt: int = 0
    state: str = "live"
    kfunc_ids: dict[str, int] = field(default_factory=dict)

    def get(self) -> None:
        """``try_module_get``."""
        self.refcnt += 1

    def put(self) -> None:
        """``module_put``."""
        if self.refcnt <= 0:
            raise AssertionError(f"module {self.name}: reference count underflow")
        self.refcnt -= 1


@dataclass(frozen=True, slots=True)
class KfuncEntry:
    """A registered kfunc: which BTF (vmlinux or a module's) and which id."""

    name: str
    btf: BTF
    btf_id: int
    kfunc: Kfunc
    module: Module | None


class KfuncTable:
    """All registered kfuncs, by (BTF object, id) as the verifier looks them up."""

    def __init__(self) -> None:
        self.entries: list[KfuncEntry] = []

    def add(self, entry: KfuncEntry) -> None:
        self.entries.append(entry)

    def remove_btf(self, btf: BTF) -> None:
        self.entries = [e for e in self.entries if e.btf is not btf]

    def find(self, btf: BTF, btf_id: int) -> KfuncEntry | None:
        for e in self.entries:
            if e.btf is btf and e.btf_id == btf_id:
                return e
        return None

    def by_name(self, name: str) -> list[KfuncEntry]:
        """Every registered kfunc called ``name``, vmlinux first, then modules in load order."""
        return [e for e in self.entries if e.name == name]


class ModuleRegistry:
    """The loaded modules of one kernel."""

    def __init__(self, vmlinux: BTF, struct_ops: StructOpsRegistry, kfuncs: KfuncTable,
                 module_struct_ops: bool = True) -> None:
        self.vmlinux = vmlinux
        self.struct_ops = struct_ops
        self.kfuncs = kfuncs
        self.module_struct_ops = module_struct_ops
        self.modules: dict[str, Module] = {}
        self.on_unload: list[Callable[[Module], None]] = []

    def load(self, spec: ModuleSpec) -> Module:
        """``init_module``: build the split BTF, register struct_ops and kfuncs.
        A failing init leaves nothing behind (the kernel frees the module)."""
        if spec.name in self.modules:
            raise KernelError(errno.EEXIST, f"module {spec.name} is already loaded")
        btf = parse_c(spec.c_source, base=self.vmlinux, where=f"module {spec.name}")
        for ops_name in spec.value_types:
            add_value_type(btf, ops_name)
        mod = Module(spec.name, btf, spec)
        registered = []
        fastcall: list[str] = []
        try:
            for ops in spec.struct_ops:
                if not self.module_struct_ops:
                    raise KernelError(errno.EOPNOTSUPP,
                                      f"struct_ops {ops.name}: modules cannot register struct_ops on this kernel")
                ops.owner = mod
                self.struct_ops.register(ops, btf)
                registered.append(ops)
            for kf in spec.kfuncs:
                kid = btf.find(kf.name, S.KIND_FUNC)
                if kid is None:
                    raise KernelError(errno.ENOENT, f"kfunc {kf.name} has no BTF FUNC in module {spec.name}")
                mod.kfunc_ids[kf.name] = kid
                if "KF_FASTCALL" in kf.flags:
                    fastcall.append(kf.name)
                self.kfuncs.add(KfuncEntry(kf.name, btf, kid, kf, mod))
        except KernelError:
            self.struct_ops.unregister_btf(btf)
            self.kfuncs.remove_btf(btf)
            raise
        tag_kfuncs(btf, mod.kfunc_ids, fastcall)  # pahole's bpf_kfunc tags: the module's vmlinux.h declares them
        self.modules[spec.name] = mod
        return mod

    def unload(self, name: str, force: bool = False) -> None:
        """``delete_module``: ``-ENOENT`` if not loaded, ``-EWOULDBLOCK`` while referenced."""
        mod = self.modules.get(name)
        if mod is None:
            raise KernelError(errno.ENOENT, f"module {name} is not loaded")
        if mod.refcnt and not force:
            raise KernelError(errno.EWOULDBLOCK, f"module {name} is in use (refcount {mod.refcnt})")
        mod.state = "going"
        for cb in self.on_unload:
            cb(mod)
        self.struct_ops.unregister_btf(mod.btf)
        self.kfuncs.remove_btf(mod.btf)
        del self.modules[name]

    def by_btf(self, btf: BTF) -> Module | None:
        for m in self.modules.values():
            if m.btf is btf:
                return m
        return None
