"""The machine room: an emulated x86-64 kernel address space run by Unicorn.

Everything that touches Unicorn, keystone or capstone lives here, behind one
boundary: the address space and its allocators, kernel text (:mod:`.ktext`)
and kallsyms, the stub page of Python-serviced kernel functions
(:mod:`.calls`), the BPF packs that hold JIT images and trampolines, the run
loop with its soft-lockup watchdog (:mod:`.watchdog`), oopses and the
frame-pointer unwinder (:mod:`.oops`), the raw ctypes register layer
(:mod:`.regs`) and capstone listings (:mod:`.listing`).

The machine knows instructions, images and addresses, not programs' meaning:
it imports only :mod:`jit` and :mod:`kernel_model`; what a JIT needs from the
verifier (subprogram starts, stack depths) is handed in by the kernel room.

Names are imported on first use (``from emu.machine import Machine`` loads
Unicorn; ``emu.machine.oops`` alone does not).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .machine import (BPF_PROG_CHUNK_SIZE, BPF_PROG_SIZE, DEFAULT_BUDGET, HEAP_BASE, KDATA_BASE, KTEXT_BASE,
                          MODULES_VADDR, PACK_SIZE, PAGE_SIZE, PERCPU_BASE, PROT_R, PROT_RW, PROT_RX, PROT_W,
                          PROT_X, SOFT_LOCKUP_S, THREAD_SIZE, VMALLOC_BASE, VMALLOC_DATA, Machine,
                          MachineBudgetExceeded, Region)
    from .oops import Oops, OopsReport

__all__ = [
    "Machine", "MachineBudgetExceeded", "Region", "Oops", "OopsReport", "PROT_R", "PROT_W", "PROT_X", "PROT_RW",
    "PROT_RX", "KTEXT_BASE", "KDATA_BASE", "PERCPU_BASE", "MODULES_VADDR", "HEAP_BASE", "VMALLOC_BASE",
    "VMALLOC_DATA", "PAGE_SIZE", "THREAD_SIZE", "BPF_PROG_CHUNK_SIZE", "PACK_SIZE", "DEFAULT_BUDGET",
    "BPF_PROG_SIZE", "SOFT_LOCKUP_S",
]
_EXPORTS = {name: "machine" for name in __all__}
_EXPORTS.update(Oops="oops", OopsReport="oops")


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
