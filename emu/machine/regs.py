"""The thin ctypes register layer: Unicorn's C API without the binding's overhead.

Measured with Unicorn 2.1.4: the Python binding's ``reg_read``/``reg_write`` at
1.35/1.41 us and raw ctypes calls at 0.33/0.34 us; a Python-driven call is
dominated by register access, so the machine talks to libunicorn directly for
everything on the hot path: batched register writes for a call's arguments,
one read of rax, ``uc_emu_start``. The binding stays in use for setup (maps,
hooks) and for slow paths (oops reports).

The hot functions come from a second ``ctypes.CDLL`` handle on the same
library with **no argtypes**: the binding's prototypes make ctypes convert and
check every argument (``POINTER(c_int)`` arrays cost ~0.3 us a call, measured
460 ns for a 5-register ``uc_reg_read_batch`` against 175 ns untyped). Without
argtypes ctypes passes a ctypes object as what it is and a Python int as a C
``int``, so every 64-bit argument here is passed as a ``c_uint64``/``c_void_p``
object (never a bare int), and register ids, counts and the return value are C
``int`` as in ``unicorn.h``.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

__all__ = ["FastRegs", "RAW", "X86_BY_NUM", "ALL_REGS"]

#: Unicorn register ids by x86 register number (rax=0, rcx=1, ... r15=15)
X86_BY_NUM = (X.UC_X86_REG_RAX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX, X.UC_X86_REG_RBX, X.UC_X86_REG_RSP,
              X.UC_X86_REG_RBP, X.UC_X86_REG_RSI, X.UC_X86_REG_RDI, X.UC_X86_REG_R8, X.UC_X86_REG_R9,
              X.UC_X86_REG_R10, X.UC_X86_REG_R11, X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14,
              X.UC_X86_REG_R15)
#: the registers an oops prints, in :data:`emu.machine.oops.REG_ORDER`
ALL_REGS = (X.UC_X86_REG_RAX, X.UC_X86_REG_RBX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX, X.UC_X86_REG_RSI,
            X.UC_X86_REG_RDI, X.UC_X86_REG_RBP, X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_R10,
            X.UC_X86_REG_R11, X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15,
            X.UC_X86_REG_RSP, X.UC_X86_REG_RIP, X.UC_X86_REG_EFLAGS)

_u64 = ctypes.c_uint64


def _raw_lib() -> ctypes.CDLL:
    lib = ctypes.CDLL(uclib._name)
    for name in ("uc_reg_read", "uc_reg_write", "uc_reg_read_batch", "uc_reg_write_batch", "uc_emu_start",
                 "uc_emu_stop", "uc_mem_write", "uc_mem_read"):
        getattr(lib, name).restype = ctypes.c_int
    return lib


#: libunicorn without argtypes (see the module docstring for the calling rules)
RAW = _raw_lib()


class FastRegs:
    """Register access and ``emu_start`` for one Unicorn instance through raw ctypes."""

    __slots__ = ("_h", "hp", "_v", "_vp", "_read", "_write", "_start", "_wbatch", "_rbatch", "_batches",
                 "_begin", "_until", "_zero", "_count")

    def __init__(self, uc: object) -> None:
        self._h = uc._uch  # type: ignore[attr-defined]
        #: the engine handle as a ctypes pointer object (what the untyped calls take)
        self.hp = ctypes.c_void_p(self._h.value)
        self._v = _u64()
        self._vp = ctypes.byref(self._v)
        self._read = RAW.uc_reg_read
        self._write = RAW.uc_reg_write
        self._start = RAW.uc_emu_start
        self._wbatch = RAW.uc_reg_write_batch
        self._rbatch = RAW.uc_reg_read_batch
        self._batches: dict[tuple[int, ...], tuple[ctypes.Array, ctypes.Array, int, ctypes.Array]] = {}
        self._begin = _u64()
        self._until = _u64()
        self._zero = _u64()
        self._count = ctypes.c_size_t()

    def read(self, reg: int) -> int:
        self._read(self.hp, reg, self._vp)
        return self._v.value

    def write(self, reg: int, value: int) -> None:
        self._v.value = value & 0xFFFF_FFFF_FFFF_FFFF
        self._write(self.hp, reg, self._vp)

    def _batch(self, regs: tuple[int, ...]) -> tuple[ctypes.Array, ctypes.Array, int, ctypes.Array]:
        """``(ids, pointers, n, values)`` arrays for ``uc_reg_{read,write}_batch`` of
        ``regs``, made once per register tuple; ``values[k]`` is register ``k``'s slot."""
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
        for k in range(n):
            vals[k] = values[k] & 0xFFFF_FFFF_FFFF_FFFF
        self._wbatch(self.hp, ids, ptrs, n)

    def read_many(self, regs: tuple[int, ...]) -> list[int]:
        """Read ``regs`` with one ``uc_reg_read_batch``."""
        ids, ptrs, n, vals = self._batch(regs)
        self._rbatch(self.hp, ids, ptrs, n)
        return vals[:]

    def start(self, begin: int, until: int, count: int, timeout_us: int = 0) -> int:
        """``uc_emu_start``; returns the uc_err code (0 = OK). ``timeout_us`` is
        Unicorn's timer thread (microseconds, ~90 us a call: Unicorn trap 3 in emu.machine.machine)."""
        self._begin.value = begin
        self._until.value = until
        self._count.value = count
        if timeout_us:
            return self._start(self.hp, self._begin, self._until, _u64(timeout_us), self._count)
        return self._start(self.hp, self._begin, self._until, self._zero, self._count)
