"""The optional compiled accelerator of the raw and C dumps (``_accel.c``).

Not a kernel model: a C port of this package's own raw dump and C dumper, built by setup.py
when a C compiler is present and used by :func:`~kernel_model.btf.rawdump.format_raw` and
:func:`~kernel_model.btf.cdump.format_c` for a BTF decoded from a blob without a base. It
returns None wherever the Python would raise or recurse deeply, and the Python path then runs,
so results and errors are the same with or without it (tests/kernel_model/btf/test_accel.py
compares the two byte for byte). ``STRUCTOPS_BTF_ACCEL=0`` in the environment turns it off.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["module", "VERSION"]

#: The interface version this Python expects; a stale build (from an older _accel.c) is ignored.
VERSION = 3

_loaded: ModuleType | None | bool = False


def module() -> ModuleType | None:
    """The compiled module, or None (not built, disabled, or a build of another version)."""
    global _loaded
    if _loaded is False:
        _loaded = None
        if os.environ.get("STRUCTOPS_BTF_ACCEL", "1") != "0":
            try:
                from . import _accel
            except ImportError:
                pass
            else:
                if getattr(_accel, "VERSION", None) == VERSION:
                    _loaded = _accel
    return _loaded  # type: ignore[return-value]


def reset() -> None:
    """Forget the module looked up (tests switch STRUCTOPS_BTF_ACCEL)."""
    global _loaded
    _loaded = False
