"""The thin ctypes register layer: Unicorn's C API without the binding's overhead.

unicorn-notes.md measured the Python binding's ``reg_read``/``reg_write`` at
1.35/1.41 us and raw ctypes calls at 0.33/0.34 us; a Python-driven call is
dominated by register access, so the machine talks to libunicorn directly for
everything on the hot path: batched register writes for a call's arguments,
one read of rax, ``uc_emu_start``. The binding stays in use for setup (maps,
hooks) and for slow paths (oops reports).
"""

from __future__ import annotations

import ctypes
from typing import Sequence

from unicorn.unicorn_py3.unicorn import uclib

__all__ = ["FastRegs"]

_u64 = ctypes.c_uint64


class FastRegs:
    """Register access and ``emu_start`` for one Unicorn instance through raw ctypes."""

    __slots__ = ("_h", "_v", "_vp", "_read", "_write", "_start", "_wbatch", "_rbatch", "_batches")

    def __init__(self, uc: object) -> None:
        self._h = uc._uch  # type: ignore[attr-defined]
        self._v = _u64()
        self._vp = ctypes.byref(self._v)
        self._read = uclib.uc_reg_read
        self._write = uclib.uc_reg_write
        self._start = uclib.uc_emu_start
        self._wbatch = uclib.uc_reg_write_batch
        self._rbatch = uclib.uc_reg_read_batch
        self._batches: dict[tuple[int, ...], tuple[object, object, object, ctypes.Array]] = {}

    def read(self, reg: int) -> int:
        self._read(self._h, reg, self._vp)
        return self._v.value

    def write(self, reg: int, value: int) -> None:
        self._v.value = value & 0xFFFF_FFFF_FFFF_FFFF
        self._write(self._h, reg, self._vp)

    def _batch(self, regs: tuple[int, ...]) -> tuple[object, object, object, ctypes.Array]:
        b = self._batches.get(regs)
        if b is None:
            n = len(regs)
            ids = (ctypes.c_int * n)(*regs)
            vals = (_u64 * n)()
            ptrs = (ctypes.c_void_p * n)(*[ctypes.addressof(vals) + 8 * k for k in range(n)])
            b = (ids, ptrs, n, vals)
            self._batches[regs] = b
        return b

    def write_many(self, regs: tuple[int, ...], values: Sequence[int]) -> None:
        """Write ``values`` into ``regs`` with one ``uc_reg_write_batch``."""
        ids, ptrs, n, vals = self._batch(regs)
        for k in range(n):  # type: ignore[arg-type]
            vals[k] = values[k] & 0xFFFF_FFFF_FFFF_FFFF
        self._wbatch(self._h, ids, ptrs, n)

    def read_many(self, regs: tuple[int, ...]) -> list[int]:
        """Read ``regs`` with one ``uc_reg_read_batch``."""
        ids, ptrs, n, vals = self._batch(regs)
        self._rbatch(self._h, ids, ptrs, n)
        return list(vals)

    def start(self, begin: int, until: int, count: int) -> int:
        """``uc_emu_start`` without a timeout; returns the uc_err code (0 = OK)."""
        return self._start(self._h, begin, until, 0, count)
