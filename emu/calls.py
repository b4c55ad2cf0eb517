"""Helpers and kfuncs serviced in Python: the stub page and its one code hook.

A BPF program calls a helper or kfunc with an ordinary ``call rel32`` (the JIT
computes the target from ``__bpf_call_base + imm``, kernel/bpf/core.c). In
this machine every such target is a **stub** in one page of kernel text:
each stub is a single return instruction (``ret`` or ``jmp
srso_return_thunk``, per profile), 16 bytes apart, named in kallsyms like the
kernel function it stands for (``bpf_map_lookup_elem`` ...). One
``UC_HOOK_CODE`` covers the whole page from the machine's creation (Unicorn
places hooks at translation time, so a hook added later would not fire on
already translated code: unicorn-notes.md trap 1), and dispatches by address
to the Python function bound to that stub; the function's result goes into
rax and the stub's return instruction then returns to the program, with the
callee-clobbered registers left as they were (the kernel's helpers clobber
them; no verified program may read them after a call).

The hook's callback is a raw ``ctypes.CFUNCTYPE`` reading the argument
registers with one batched ``uc_reg_read_batch``: unicorn-notes.md measured
776 k round trips/s for this shape against 204 k/s through the binding.
Exceptions raised by a handler cannot cross the C callback: they are kept,
the emulation is stopped, and the machine raises them after ``emu_start``.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uclib

from kernel_model.errors import KernelError
from kernel_model.memory import HelperFn

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

__all__ = ["CallTable", "Stub", "STUB_STRIDE", "STUB_SLOTS", "RawHandler"]

#: bytes between stubs and the number of stubs in the page
STUB_STRIDE = 16
STUB_SLOTS = 256
_ARG_REGS = (X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX, X.UC_X86_REG_RCX, X.UC_X86_REG_R8)

#: A handler with full register access (``fn(machine) -> None``), for entry
#: points with a special calling convention such as ``arch_bpf_timed_may_goto``.
RawHandler = Callable[["Machine"], None]


@dataclass(frozen=True, slots=True)
class Stub:
    """A Python-serviced kernel function: its name, address and handler."""

    name: str
    addr: int
    fn: HelperFn | None = None
    raw: RawHandler | None = None
    kind: str = "helper"


class CallTable:
    """The stubs of one machine. Create through :class:`~emu.machine.Machine`."""

    def __init__(self, machine: "Machine", base: int, code_for_slot: bytes) -> None:
        self._m = machine
        self.base = base
        self._free = list(range(STUB_SLOTS - 1, -1, -1))
        self.by_addr: dict[int, Stub] = {}
        self.by_name: dict[str, Stub] = {}
        self.calls = 0
        self._slot_code = code_for_slot
        self._cb = HOOK_CODE_CFUNC(self._on_code)
        self._hook = ctypes.c_size_t()

    def install(self) -> None:
        """Add the one code hook over the stub page (masked addresses, trap 2)."""
        m = self._m
        lo = self.base  # code hooks compare the real RIP
        err = uclib.uc_hook_add(m.uc._uch, ctypes.byref(self._hook), 4,  # UC_HOOK_CODE
                                ctypes.cast(self._cb, ctypes.c_void_p), None,
                                ctypes.c_uint64(lo), ctypes.c_uint64(lo + STUB_SLOTS * STUB_STRIDE - 1))
        if err:  # pragma: no cover
            raise KernelError(12, f"uc_hook_add failed: {err}")

    def uninstall(self) -> None:
        if self._hook.value:
            uclib.uc_hook_del(self._m.uc._uch, self._hook)
            self._hook = ctypes.c_size_t()

    def add(self, name: str, fn: HelperFn | None = None, *, raw: RawHandler | None = None,
            kind: str = "helper") -> int:
        """Bind ``fn(mem, r1..r5) -> r0`` (or a ``raw(machine)`` handler) to a new stub
        called ``name``; returns its address (a kallsyms ``T`` symbol)."""
        if name in self.by_name:
            raise KernelError(17, f"stub {name!r} already exists")  # EEXIST
        if not self._free:
            raise KernelError(28, f"no free stub slot for {name!r} ({STUB_SLOTS} in use)")  # ENOSPC
        slot = self._free.pop()
        addr = self.base + slot * STUB_STRIDE
        stub = Stub(name, addr, fn, raw, kind)
        self.by_addr[addr] = stub
        self.by_name[name] = stub
        self._m.kallsyms.add(name, addr, len(self._slot_code), "T")
        return addr

    def remove(self, name: str) -> None:
        stub = self.by_name.pop(name)
        del self.by_addr[stub.addr]
        self._m.kallsyms.remove(name)
        self._free.append((stub.addr - self.base) // STUB_STRIDE)

    def clear(self) -> None:
        for name in list(self.by_name):
            self.remove(name)

    def addr_of(self, name: str) -> int:
        return self.by_name[name].addr

    # --- the hook ------------------------------------------------------------------------
    def _on_code(self, uc: int, address: int, size: int, user: int) -> None:
        m = self._m
        try:
            stub = self.by_addr.get(m.virt_addr(address))
            if stub is None:
                m.fault_unbound_stub(m.virt_addr(address))
                return
            self.calls += 1
            if stub.raw is not None:
                stub.raw(m)
                return
            a = m.fast.read_many(_ARG_REGS)
            assert stub.fn is not None
            r0 = stub.fn(m, a[0], a[1], a[2], a[3], a[4])
            m.fast.write(X.UC_X86_REG_RAX, int(r0))
        except BaseException as e:  # noqa: BLE001 - must not cross the C callback
            m.stop_with(e)
