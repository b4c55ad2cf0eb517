"""A libbpf-like user-space loader for clang-compiled BPF objects (libbpf 1.8).

Opens ``.bpf.o`` files (ELF, BTF, .BTF.ext), builds struct_ops maps the way
libbpf does (flavors, zero-skip, shadow members, autocreate/autoload), applies
CO-RE relocations against the emulated kernel's BTF, and loads and attaches
through the ``bpf()`` contract of :mod:`emu.libbpf.sys`. Messages are libbpf's
``libbpf: `` lines. See docs/loader.md.

::

    from emu.libbpf import BpfObject, KernelBtf
    obj = BpfObject.open_file("examples/struct_ops_module.bpf.o")
    obj.struct_ops["testmod_1"].data = 13               # a shadow data member
    obj.struct_ops["testmod_1"].test_2 = obj.progs["test_3"]
    obj.prepare(kernel_btf=KernelBtf.from_kernel(kernel))  # user-space steps only
    obj.load(kernel)                                    # BTF, maps, programs (needs bpf())
    link = obj.attach_struct_ops("testmod_1")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .errors import LibbpfError, ObjectFormatError, ProgLoadFailed, errstr
    from .kbtf import KernelBtf, ModuleBtf
    from .log import Log
    from .maps import BpfMap
    from .object import BpfObject, open_object
    from .program import BpfProgram
    from .struct_ops import Shadow, ShadowError

#: public name -> the module of this package that defines it (imported on first use, so
#: that ``import emu.libbpf.log`` or a command's parser does not load the whole loader)
_EXPORTS = {
    "LibbpfError": "errors", "ObjectFormatError": "errors", "ProgLoadFailed": "errors", "errstr": "errors",
    "KernelBtf": "kbtf", "ModuleBtf": "kbtf", "Log": "log", "BpfMap": "maps", "BpfObject": "object",
    "open_object": "object", "BpfProgram": "program", "Shadow": "struct_ops", "ShadowError": "struct_ops",
}

__all__ = [
    "BpfObject", "BpfProgram", "BpfMap", "Shadow", "ShadowError", "KernelBtf", "ModuleBtf", "Log",
    "LibbpfError", "ObjectFormatError", "ProgLoadFailed", "errstr", "open_object",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
