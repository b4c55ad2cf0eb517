"""The kernel's objects: instructions, types, profiles and the reference semantics.

The bottom layer of structops-emu: it imports nothing from ``verifier``, ``jit``
or ``emu``. Submodules are imported by name (``kernel_model.insn``,
``kernel_model.asm``, ``kernel_model.interp`` ...); this package exports the
error tree and the most used records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (AsmSyntaxError, BudgetExceeded, ExecFault, InputError, InternalError,
                     InvalidInsn, KernelError, StructOpsError)

if TYPE_CHECKING:
    from .insn import Insn
    from .profile import LATEST, Profile, get_profile

__all__ = [
    "AsmSyntaxError", "BudgetExceeded", "ExecFault", "InputError", "InternalError", "InvalidInsn",
    "KernelError", "StructOpsError", "Insn", "Profile", "get_profile", "LATEST",
]

# Imported on first use (PEP 562), so `import kernel_model` (and a command that needs only a
# subpackage such as kernel_model.btf) does not load the instruction and profile modules.
_LAZY = {"Insn": "insn", "Profile": "profile", "get_profile": "profile", "LATEST": "profile"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
