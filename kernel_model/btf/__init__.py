"""The BTF type layer of structops-emu.

Models the kernel's BTF (kernel/bpf/btf.c, include/uapi/linux/btf.h, Linux
6.12/6.18) and the tools around it (bpftool's raw dump, libbpf's C dumper,
pahole's C-to-BTF encoding): a type graph with every kind, binary decode and
encode with the kernel's validation rules, split BTF, C declarations in, a C
header out, and btf_distill_func_proto() function models. See docs/btf.md.

The CLI front end (``structops btf dump FILE --format raw|c``) calls
:func:`dump_command`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import structs
from .btf import BTF, POINTER_SIZE
from .errors import BTFError

if TYPE_CHECKING:
    from .cdecl import BASE_TYPEDEFS, parse_c
    from .cdump import CDumper, format_c
    from .compare import graph_signature, same_graph
    from .func_model import (
        BTF_FMODEL_SIGNED_ARG, BTF_FMODEL_STRUCT_ARG, FuncModel, FuncModelError, distill_func_proto,
        fallback_func_model,
    )
    from .rawdump import format_raw
    from .types import (
        VOID, Array, BTFType, Composite, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func,
        FuncProto, Fwd, Int, Member, Param, Ptr, Restrict, Struct, Typedef, TypeTag, Union, Var, VarSecinfo,
        Void, Volatile,
    )
    from .validate import validate_btf

__all__ = [
    # the graph
    "BTF", "POINTER_SIZE", "BTFError", "structs", "validate_btf",
    # records
    "BTFType", "Void", "VOID", "Int", "Ptr", "Array", "Member", "Composite", "Struct", "Union", "EnumValue",
    "Enum", "Enum64", "Fwd", "Typedef", "Volatile", "Const", "Restrict", "TypeTag", "Func", "Param",
    "FuncProto", "Var", "VarSecinfo", "Datasec", "Float", "DeclTag",
    # text in and out
    "parse_c", "BASE_TYPEDEFS", "format_c", "CDumper", "format_raw", "load", "dump_command",
    # function models
    "FuncModel", "FuncModelError", "distill_func_proto", "fallback_func_model",
    "BTF_FMODEL_STRUCT_ARG", "BTF_FMODEL_SIGNED_ARG",
    # comparison
    "graph_signature", "same_graph",
]

# Imported on first use (PEP 562): `import kernel_model.btf` stays cheap for a command that
# only decodes and dumps; the records (26 dataclasses), the C parser (pycparser) and the
# function models load when a name from them is first asked for.
_LAZY = {
    "cdecl": ("parse_c", "BASE_TYPEDEFS"),
    "cdump": ("format_c", "CDumper"),
    "compare": ("graph_signature", "same_graph"),
    "func_model": ("FuncModel", "FuncModelError", "distill_func_proto", "fallback_func_model",
                   "BTF_FMODEL_STRUCT_ARG", "BTF_FMODEL_SIGNED_ARG"),
    "rawdump": ("format_raw",),
    "types": ("BTFType", "Void", "VOID", "Int", "Ptr", "Array", "Member", "Composite", "Struct", "Union",
              "EnumValue", "Enum", "Enum64", "Fwd", "Typedef", "Volatile", "Const", "Restrict", "TypeTag", "Func",
              "Param", "FuncProto", "Var", "VarSecinfo", "Datasec", "Float", "DeclTag"),
    "validate": ("validate_btf",),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


FORMATS = ("raw", "c")


def load(path: str, base: str | BTF | None = None, *, validate: bool | None = None) -> BTF:
    """Read BTF from ``path`` (raw BTF such as /sys/kernel/btf/vmlinux, or an ELF
    object's .BTF section); ``base`` (a path or a BTF) makes it split BTF."""
    base_btf = load(base, validate=validate) if isinstance(base, str) else base
    try:
        return BTF.from_file(path, base_btf, validate=validate)
    except OSError as e:
        raise BTFError(f"cannot read: {e.strerror or e}", path) from None


def dump_command(path: str, fmt: str = "raw", base: str | None = None) -> str:
    """Text of ``structops btf dump FILE [--format raw|c] [--base FILE]``.

    ``raw`` is line-for-line what ``bpftool btf dump file FILE format raw`` prints;
    ``c`` is a compilable header. Raises :class:`BTFError` (an InputError) on
    unreadable or malformed input or an unknown format.
    """
    if fmt not in FORMATS:
        raise BTFError(f"unknown format '{fmt}' (expected one of: {', '.join(FORMATS)})")
    btf = load(path, base)
    if fmt == "raw":
        from .rawdump import format_raw
        return format_raw(btf)
    from .cdump import format_c
    return format_c(btf)


_missing = sorted(set(__all__) - set(globals()) - set(_LAZY_NAMES))
if _missing:  # pragma: no cover - a self-check, as hypothesis does for its public API
    raise ImportError(f"kernel_model.btf.__all__ names undefined objects: {_missing}")
