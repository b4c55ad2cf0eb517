"""The property-testing kit's half that needs the emulated kernel.

* struct_ops types in a kernel: :func:`install_struct_ops`,
  :func:`fill_struct_ops_map` (:mod:`emu.testing.kernels`);
* trampoline capacity: :func:`pages_needed`, :func:`page_packing`,
  :func:`trampolines_per_page`, :func:`trampoline_bytes` (:mod:`emu.testing.tramp_pages`);
* programs the verifier model accepts, loaded and run in a kernel:
  :func:`accepted_socket_programs`, :func:`accepted_linked_scalar_programs`,
  :func:`accepted_struct_ops_programs` (:mod:`emu.testing.strategies`, needs
  hypothesis: the ``strategies`` extra);
* pytest fixtures ``structops_kernel``, ``structops_kernel_factory``,
  ``structops_machine`` (:mod:`emu.testing.pytest_plugin`, registered with pytest
  through the ``pytest11`` entry point).

The pure strategies (instructions, terminating programs, struct_ops
declarations, CPU and trampoline configurations) are in
:mod:`kernel_model.testing`. Names are imported on first use, so the pytest
plugin (which imports this package) stays light and hypothesis is needed only
for the strategies.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "install_struct_ops", "InstalledStructOps", "fill_struct_ops_map", "FilledMap", "RETURN_ZERO",
    "pages_needed", "page_packing", "trampolines_per_page", "trampoline_bytes", "member_trampoline_sizes",
    "accepted_socket_programs", "accepted_linked_scalar_programs", "accepted_struct_ops_programs",
    "VerifiedProgram", "LoadedProgram",
]

_WHERE = {
    "install_struct_ops": "emu.testing.kernels", "InstalledStructOps": "emu.testing.kernels",
    "fill_struct_ops_map": "emu.testing.kernels", "FilledMap": "emu.testing.kernels",
    "RETURN_ZERO": "emu.testing.kernels",
    "pages_needed": "emu.testing.tramp_pages", "page_packing": "emu.testing.tramp_pages",
    "trampolines_per_page": "emu.testing.tramp_pages", "trampoline_bytes": "emu.testing.tramp_pages",
    "member_trampoline_sizes": "emu.testing.tramp_pages",
    "accepted_socket_programs": "emu.testing.strategies", "accepted_linked_scalar_programs": "emu.testing.strategies",
    "accepted_struct_ops_programs": "emu.testing.strategies", "VerifiedProgram": "emu.testing.strategies",
    "LoadedProgram": "emu.testing.strategies",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'emu.testing' has no attribute {name!r}")
    value = getattr(import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
