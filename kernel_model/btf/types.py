"""BTF types: one frozen record per kind.

Models the type records of include/uapi/linux/btf.h as the kernel reads them in
kernel/bpf/btf.c (Linux 6.12/6.18). A record refers to other types by *id*
(``type_id`` fields); the graph lives in :class:`kernel_model.btf.btf.BTF`.
Names are Python strings: string offsets are an encoding detail (codec.py).

Left out: the ``kflag`` meaning of DECL_TAG/TYPE_TAG (6.14+ "attribute" tags)
is kept as a bit but not interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import structs as S

__all__ = [
    "BTFType", "Void", "VOID", "Int", "Ptr", "Array", "Member", "Composite", "Struct", "Union",
    "EnumValue", "Enum", "Enum64", "Fwd", "Typedef", "Volatile", "Const", "Restrict", "TypeTag",
    "Func", "Param", "FuncProto", "Var", "VarSecinfo", "Datasec", "Float", "DeclTag",
    "MODIFIER_KINDS", "KIND_CLASSES",
]


class BTFType:
    """Base of every kind. ``kind`` is the BTF_KIND_* number; ``name`` may be ''."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_UNKN
    name: str

    @property
    def kind_name(self) -> str:
        """The kind as bpftool prints it ("STRUCT", "FUNC_PROTO", ...)."""
        return S.KIND_NAMES[self.kind]

    def refs(self) -> tuple[int, ...]:
        """Every type id this record refers to (in encoding order)."""
        return ()


@dataclass(frozen=True, slots=True)
class Void(BTFType):
    """Type id 0: void. Never encoded."""

    name: str = ""
    kind: ClassVar[int] = S.KIND_UNKN


VOID = Void()


@dataclass(frozen=True, slots=True)
class Int(BTFType):
    """BTF_KIND_INT: ``size`` bytes, ``encoding`` (INT_SIGNED/CHAR/BOOL bits),
    ``bits_offset`` and ``nr_bits`` of the value inside those bytes."""

    name: str
    size: int
    encoding: int = 0
    bits_offset: int = 0
    nr_bits: int = 0
    kind: ClassVar[int] = S.KIND_INT

    @property
    def signed(self) -> bool:
        return bool(self.encoding & S.INT_SIGNED)


@dataclass(frozen=True, slots=True)
class _Ref(BTFType):
    """A record that is one reference and a (usually empty) name."""

    type_id: int
    name: str = ""

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)


class Ptr(_Ref):
    """BTF_KIND_PTR: pointer to ``type_id`` (0 = void *)."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_PTR


class Volatile(_Ref):
    """BTF_KIND_VOLATILE modifier."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_VOLATILE


class Const(_Ref):
    """BTF_KIND_CONST modifier."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_CONST


class Restrict(_Ref):
    """BTF_KIND_RESTRICT modifier."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_RESTRICT


@dataclass(frozen=True, slots=True)
class Typedef(BTFType):
    """BTF_KIND_TYPEDEF: ``name`` is an alias of ``type_id``."""

    name: str
    type_id: int
    kind: ClassVar[int] = S.KIND_TYPEDEF

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)


@dataclass(frozen=True, slots=True)
class TypeTag(BTFType):
    """BTF_KIND_TYPE_TAG: a modifier carrying the tag string ``name``."""

    name: str
    type_id: int
    kflag: bool = False
    kind: ClassVar[int] = S.KIND_TYPE_TAG

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)


@dataclass(frozen=True, slots=True)
class Array(BTFType):
    """BTF_KIND_ARRAY: ``nelems`` elements of ``type_id``, indexed by ``index_type_id``."""

    type_id: int
    index_type_id: int
    nelems: int
    name: str = ""
    kind: ClassVar[int] = S.KIND_ARRAY

    def refs(self) -> tuple[int, ...]:
        return (self.type_id, self.index_type_id)


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a STRUCT/UNION: offsets in bits; ``bitfield_size`` 0 = not a bitfield."""

    name: str
    type_id: int
    bits_offset: int
    bitfield_size: int = 0

    @property
    def byte_offset(self) -> int:
        return self.bits_offset // 8


@dataclass(frozen=True, slots=True)
class Composite(BTFType):
    """Shared record of STRUCT and UNION: ``size`` bytes, ``members``; ``kflag``
    set means member offsets carry bitfield sizes (BTF_MEMBER_BITFIELD_SIZE)."""

    name: str
    size: int
    members: tuple[Member, ...] = ()
    kflag: bool = False

    def refs(self) -> tuple[int, ...]:
        return tuple(m.type_id for m in self.members)

    def member(self, name: str) -> Member | None:
        """The member called ``name`` (direct members only), or None."""
        for m in self.members:
            if m.name == name:
                return m
        return None


class Struct(Composite):
    """BTF_KIND_STRUCT."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_STRUCT


class Union(Composite):
    """BTF_KIND_UNION."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_UNION


@dataclass(frozen=True, slots=True)
class EnumValue:
    """One enumerator: ``name`` = ``value`` (a Python int, sign per the enum)."""

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class _EnumBase(BTFType):
    name: str
    size: int
    values: tuple[EnumValue, ...] = ()
    signed: bool = False


class Enum(_EnumBase):
    """BTF_KIND_ENUM: 32-bit enumerators (``signed`` = kflag)."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_ENUM


class Enum64(_EnumBase):
    """BTF_KIND_ENUM64: 64-bit enumerators (``signed`` = kflag)."""

    __slots__ = ()
    kind: ClassVar[int] = S.KIND_ENUM64


@dataclass(frozen=True, slots=True)
class Fwd(BTFType):
    """BTF_KIND_FWD: a forward-declared struct (or union when ``is_union``)."""

    name: str
    is_union: bool = False
    kind: ClassVar[int] = S.KIND_FWD


@dataclass(frozen=True, slots=True)
class Func(BTFType):
    """BTF_KIND_FUNC: function ``name`` of prototype ``type_id``; ``linkage`` FUNC_STATIC/GLOBAL/EXTERN."""

    name: str
    type_id: int
    linkage: int = S.FUNC_STATIC
    kind: ClassVar[int] = S.KIND_FUNC

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)


@dataclass(frozen=True, slots=True)
class Param:
    """One FUNC_PROTO parameter; ``type_id`` 0 on the last one means ``...``."""

    name: str
    type_id: int


@dataclass(frozen=True, slots=True)
class FuncProto(BTFType):
    """BTF_KIND_FUNC_PROTO: return type ``ret_type_id`` (0 = void) and ``params``."""

    ret_type_id: int
    params: tuple[Param, ...] = ()
    name: str = ""
    kind: ClassVar[int] = S.KIND_FUNC_PROTO

    def refs(self) -> tuple[int, ...]:
        return (self.ret_type_id,) + tuple(p.type_id for p in self.params)

    @property
    def is_variadic(self) -> bool:
        return bool(self.params) and self.params[-1].type_id == 0


@dataclass(frozen=True, slots=True)
class Var(BTFType):
    """BTF_KIND_VAR: variable ``name`` of ``type_id``; ``linkage`` VAR_STATIC/GLOBAL_ALLOCATED/EXTERN."""

    name: str
    type_id: int
    linkage: int = S.VAR_STATIC
    kind: ClassVar[int] = S.KIND_VAR

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    """One DATASEC entry: VAR ``type_id`` at ``offset`` spanning ``size`` bytes."""

    type_id: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Datasec(BTFType):
    """BTF_KIND_DATASEC: section ``name`` of ``size`` bytes and its variables."""

    name: str
    size: int
    vars: tuple[VarSecinfo, ...] = ()
    kind: ClassVar[int] = S.KIND_DATASEC

    def refs(self) -> tuple[int, ...]:
        return tuple(v.type_id for v in self.vars)


@dataclass(frozen=True, slots=True)
class Float(BTFType):
    """BTF_KIND_FLOAT: ``name`` of ``size`` bytes."""

    name: str
    size: int
    kind: ClassVar[int] = S.KIND_FLOAT


@dataclass(frozen=True, slots=True)
class DeclTag(BTFType):
    """BTF_KIND_DECL_TAG: tag ``name`` on ``type_id`` (``component_idx`` -1) or on
    its member/parameter number ``component_idx``."""

    name: str
    type_id: int
    component_idx: int = -1
    kflag: bool = False
    kind: ClassVar[int] = S.KIND_DECL_TAG

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)


# Kinds the kernel skips when it looks through a type (btf_type_is_modifier()).
MODIFIER_KINDS = S.MODIFIER_KINDS

KIND_CLASSES: dict[int, type[BTFType]] = {
    c.kind: c for c in (Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const, Restrict,
                        Func, FuncProto, Var, Datasec, Float, DeclTag, TypeTag, Enum64)
}
