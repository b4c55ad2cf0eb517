"""The kernel room: the emulated kernel and its ``bpf()`` commands.

:class:`Kernel` is the facade: vmlinux BTF, the struct_ops registry, modules
and kfuncs of one profile, the ``bpf()`` object tables, and -- created on first
use -- the machine (:mod:`emu.machine`) that runs what it loads. A program
takes the kernel's path through it: ``BPF_PROG_LOAD`` (:mod:`.syscall`) ->
the verifier (:mod:`verifier`) -> the rewrites for the JIT
(:mod:`verifier.convert_ctx`, :mod:`verifier.fixups`) -> the x86-64 JIT
(:mod:`jit`) -> installed in the machine's BPF pack. Maps, helpers, kernel
objects, test runs and the trampoline page planner live here too, and the
harness that loads one program the way ``structops verify`` does
(:mod:`.harness`), which the tests and benchmarks share.

The kernel room imports the machine, the verifier and the JIT; nothing of the
loader (:mod:`emu.libbpf`), which reaches a kernel only through ``bpf()``.

Names are imported on first use: ``emu.kernel.runner`` (``structops exec``)
does not build the kernel model.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import BUILTIN_MODULES, Kernel
    from .syscall import SUPPORTED_PROG_TYPES, ProgLoadError

__all__ = ["Kernel", "BUILTIN_MODULES", "ProgLoadError", "SUPPORTED_PROG_TYPES"]
_EXPORTS = {"Kernel": "kernel", "BUILTIN_MODULES": "kernel", "ProgLoadError": "syscall",
            "SUPPORTED_PROG_TYPES": "syscall"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
