"""What helpers and kfuncs see of the machine that calls them.

Both engines -- the reference interpreter (``kernel_model.interp``) and the
emulated x86-64 machine (``emu``) -- give Python-serviced helpers the same two
operations, so one helper implementation serves both. This mirrors the kernel,
where a helper is an ordinary kernel function reading and writing kernel memory
through pointers it was passed in r1..r5.
"""

from __future__ import annotations

from typing import Callable, Protocol

__all__ = ["GuestMemory", "HelperFn"]


class GuestMemory(Protocol):
    """Memory of the engine running a program, as a helper sees it."""

    def read(self, addr: int, size: int) -> bytes:
        """Read ``size`` bytes at ``addr``; raises ExecFault/Oops where unmapped."""
        ...

    def write(self, addr: int, data: bytes) -> None:
        """Write ``data`` at ``addr``; raises ExecFault/Oops where unmapped or read-only."""
        ...


#: A helper or kfunc serviced in Python: ``fn(mem, r1, r2, r3, r4, r5) -> r0``.
#: Arguments arrive as unsigned 64-bit values; the result is truncated to 64 bits.
HelperFn = Callable[[GuestMemory, int, int, int, int, int], int]
