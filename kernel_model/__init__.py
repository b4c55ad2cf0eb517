"""The kernel's objects: instructions, types, profiles and the reference semantics.

The bottom layer of structops-emu: it imports nothing from ``verifier``, ``jit``
or ``emu``. Submodules are imported by name (``kernel_model.insn``,
``kernel_model.asm``, ``kernel_model.interp`` ...); this package exports the
error tree and the most used records.
"""

from __future__ import annotations

from .errors import (AsmSyntaxError, BudgetExceeded, ExecFault, InputError, InternalError,
                     InvalidInsn, KernelError, StructOpsError)
from .insn import Insn
from .profile import LATEST, Profile, get_profile

__all__ = [
    "AsmSyntaxError", "BudgetExceeded", "ExecFault", "InputError", "InternalError", "InvalidInsn",
    "KernelError", "StructOpsError", "Insn", "Profile", "get_profile", "LATEST",
]
