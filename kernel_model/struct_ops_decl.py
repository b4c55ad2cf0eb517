"""A struct_ops type described as data: its members, rendered as C and registered.

A :class:`StructOpsDecl` is what a kernel subsystem (or module) writes to offer
a struct_ops type: ``struct NAME`` with function-pointer and data members, one
CFI stub per supported function member (``NAME__MEMBER``, the convention of
``bpf_struct_ops_desc_init()``, kernel/bpf/bpf_struct_ops.c, Linux 6.12) whose
parameter names may end in ``__nullable`` (``prepare_arg_info()``, Linux 6.9+:
that argument may be NULL for the verifier), and the value type
``struct bpf_struct_ops_NAME`` that ``DEFINE_STRUCT_OPS_VALUE_TYPE`` generates.

:meth:`StructOpsDecl.c_source` is the C text (struct, helper types, stubs): the
input of ``structops tramp --decl``, of ``emu.kernel.planner.declare_type`` and of a
simulated module (:class:`kernel_model.modules.ModuleSpec`).
:meth:`StructOpsDecl.add_to` puts it into a BTF and :meth:`StructOpsDecl.register`
registers it as a built-in (vmlinux) type. The strategies of
:mod:`kernel_model.testing` draw these objects.

Nothing here checks what the kernel refuses (more than 64 members, a
``__nullable`` tag on a non-pointer, more than 12 arguments ...): registration
does, with the kernel's messages, so a declaration can describe a type the
kernel refuses on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .btf import BTF, parse_c
from .btf import structs as S
from .struct_ops import MAYBE_NULL_SUFFIX, StructOps, StructOpsDesc, StructOpsRegistry
from .vmlinux import add_value_type

__all__ = ["ArgDecl", "FuncMemberDecl", "DataMemberDecl", "MemberDecl", "StructOpsDecl"]


@dataclass(frozen=True, slots=True)
class ArgDecl:
    """One parameter: its C type (``int``, ``struct sock *`` ...) and whether the
    stub names it ``aN__nullable``."""

    type: str
    nullable: bool = False

    def param(self, name: str) -> str:
        return f"{self.type} {name}" if not self.type.endswith("*") else f"{self.type}{name}"


@dataclass(frozen=True, slots=True)
class FuncMemberDecl:
    """A function-pointer member. ``stub`` False leaves it without a CFI stub: the
    kernel registers the type but the member is unsupported (no program may
    attach, ``bpf_struct_ops_supported()``)."""

    name: str
    ret: str = "int"
    args: tuple[ArgDecl, ...] = ()
    stub: bool = True

    @property
    def is_func(self) -> bool:
        return True

    def _params(self, stub: bool) -> str:
        if not self.args:
            return "void"
        return ", ".join(a.param(f"a{j}" + (MAYBE_NULL_SUFFIX if stub and a.nullable else ""))
                         for j, a in enumerate(self.args))

    def member_c(self) -> str:
        return f"{self.ret} (*{self.name})({self._params(False)});"

    def stub_c(self, type_name: str) -> str:
        return f"{self.ret} {type_name}__{self.name}({self._params(True)});"


@dataclass(frozen=True, slots=True)
class DataMemberDecl:
    """A data member: ``type name;`` or ``type name[array];``."""

    name: str
    type: str = "int"
    array: int | None = None

    @property
    def is_func(self) -> bool:
        return False

    def member_c(self) -> str:
        dims = f"[{self.array}]" if self.array is not None else ""
        return f"{self.type} {self.name}{dims};"


MemberDecl = Union[FuncMemberDecl, DataMemberDecl]


@dataclass(frozen=True, slots=True)
class StructOpsDecl:
    """``struct name`` with ``members`` in order; ``prelude`` is C declared before
    it (helper structs the members point at)."""

    name: str
    members: tuple[MemberDecl, ...]
    prelude: str = ""

    @property
    def func_members(self) -> tuple[FuncMemberDecl, ...]:
        return tuple(m for m in self.members if isinstance(m, FuncMemberDecl))

    @property
    def data_members(self) -> tuple[DataMemberDecl, ...]:
        return tuple(m for m in self.members if isinstance(m, DataMemberDecl))

    def cfi_stubs(self) -> dict[str, str]:
        """member -> stub function name, for the members that have a stub."""
        return {m.name: f"{self.name}__{m.name}" for m in self.func_members if m.stub}

    def c_source(self) -> str:
        """The C text: prelude, the struct, the stubs' prototypes."""
        lines = [self.prelude.rstrip()] if self.prelude.strip() else []
        lines.append(f"struct {self.name} {{")
        lines += [f"    {m.member_c()}" for m in self.members]
        lines.append("};")
        lines += [m.stub_c(self.name) for m in self.func_members if m.stub]
        return "\n".join(lines) + "\n"

    def struct_ops(self, **callbacks: Any) -> StructOps:
        """The ``struct bpf_struct_ops`` a subsystem would register (permissive
        callbacks unless given: ``init_member``, ``reg``, ``validate`` ...)."""
        return StructOps(name=self.name, cfi_stubs=self.cfi_stubs(), **callbacks)

    def add_to(self, btf: BTF, *, where: str | None = None) -> int:
        """Parse :meth:`c_source` into ``btf`` and add the value type; returns the
        type id of ``struct bpf_struct_ops_<name>``."""
        parse_c(self.c_source(), into=btf, where=where or f"struct {self.name}")
        vid = btf.find(f"bpf_struct_ops_{self.name}", S.KIND_STRUCT)
        return vid if vid is not None else add_value_type(btf, self.name)

    def register(self, registry: StructOpsRegistry, btf: BTF, **callbacks: Any) -> StructOpsDesc:
        """Add to ``btf`` (a vmlinux BTF) and register as a built-in type, as a
        subsystem's ``register_bpf_struct_ops`` would; raises the registry's
        :class:`~kernel_model.errors.KernelError` for what the kernel refuses."""
        self.add_to(btf)
        return registry.register(self.struct_ops(**callbacks), btf)
