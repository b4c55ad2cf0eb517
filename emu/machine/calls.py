"""Helpers and kfuncs serviced in Python: the stub page and its one code hook.

A BPF program calls a helper or kfunc with an ordinary ``call rel32`` (the JIT
computes the target from ``__bpf_call_base + imm``, kernel/bpf/core.c). In
this machine every such target is a **stub** in one page of kernel text:
each stub is a single return instruction as ``emit_return()`` makes it for
the machine's CPU configuration (``jmp <x86_return_thunk>``, ``ret`` or ``ret;
int3``; :mod:`kernel_model.cpu`), 16 bytes apart, named in kallsyms like the
kernel function it stands for (``bpf_map_lookup_elem`` ...). One
``UC_HOOK_CODE`` covers the whole page from the machine's creation (Unicorn
places hooks at translation time, so a hook added later would not fire on
already translated code: trap 1 in :mod:`emu.machine.machine`), and dispatches by address
to the Python function bound to that stub; the function's result goes into
rax and the stub's return instruction then returns to the program, with the
callee-clobbered registers left as they were (the kernel's helpers clobber
them; no verified program may read them after a call).

The hook's callback is a raw ``ctypes.CFUNCTYPE`` closure (no bound-method
lookups) that dispatches through a precomputed table ``{stub address:
handler}``; each handler is built when its stub is bound, with everything it
touches held in closure cells: one untyped ``uc_reg_read_batch`` of rdi..r8
into a preallocated array (:mod:`emu.machine.regs` explains why untyped), the Python
function, one ``uc_reg_write`` of rax. Nothing is allocated per call but the
argument list. A bare raw ctypes hook was measured at 776 k round trips/s
against 204 k/s through the binding; ``benchmarks/machine.py``
compares this path with such a bare hook in the same process.
Exceptions raised by a handler cannot cross the C callback: they are kept,
the emulation is stopped, and the machine raises them after ``emu_start``.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uclib

from kernel_model.errors import KernelError, NotModelled
from kernel_model.memory import HelperFn

from .regs import RAW

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

__all__ = ["CallTable", "Stub", "STUB_STRIDE", "STUB_SLOTS", "RawHandler", "RETURN_POINT"]

#: bytes between stubs and the number of stubs in the page
STUB_STRIDE = 16
STUB_SLOTS = 256
#: offset in a stub's slot of its second return instruction: the return point of the BPF
#: callbacks a stub calls (:mod:`emu.machine.callbacks`), dispatched like the stub itself
RETURN_POINT = 8
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
    #: the handler of the stub's return point (``addr + RETURN_POINT``): a BPF callback
    #: the stub called has returned there (:mod:`emu.machine.callbacks`)
    back: RawHandler | None = None


class CallTable:
    """The stubs of one machine. Create through :class:`~emu.machine.Machine`.

    Stubs marked :meth:`persistent` (the machine's own, such as
    ``arch_bpf_timed_may_goto``) survive :meth:`reset`; after a reset the free
    slots are handed out in the same order as on a fresh machine, so stub
    addresses are reproducible."""

    def __init__(self, machine: "Machine", base: int, code_for_slot: bytes) -> None:
        self._m = machine
        self.base = base
        self._free = list(range(STUB_SLOTS - 1, -1, -1))
        self.by_addr: dict[int, Stub] = {}
        self.by_name: dict[str, Stub] = {}
        self._persistent: dict[str, Stub] = {}
        #: what reset() restores (by_name, by_addr, dispatch, free slots); None: recompute
        self._reset_state: tuple[dict, dict, dict, list[int]] | None = None
        self._dirty = True
        #: stub address (the real RIP the code hook reports) -> handler()
        self._dispatch: dict[int, Callable[[], None]] = {}
        self._slot_code = code_for_slot
        self._cb = HOOK_CODE_CFUNC(self._make_hook())
        self._hook = ctypes.c_size_t()
        f = machine.fast
        self._args = f._batch(_ARG_REGS)
        self._hp = f.hp

    def install(self) -> None:
        """Add the one code hook over the stub page (code hooks compare the real RIP)."""
        m = self._m
        lo = self.base
        err = uclib.uc_hook_add(m.uc._uch, ctypes.byref(self._hook), 4,  # UC_HOOK_CODE
                                ctypes.cast(self._cb, ctypes.c_void_p), None,
                                ctypes.c_uint64(lo), ctypes.c_uint64(lo + STUB_SLOTS * STUB_STRIDE - 1))
        if err:  # pragma: no cover
            raise KernelError(12, f"uc_hook_add failed: {err}")

    def uninstall(self) -> None:
        if self._hook.value:
            uclib.uc_hook_del(self._m.uc._uch, self._hook)
            self._hook = ctypes.c_size_t()

    def detach(self) -> None:
        """After the engine is closed: drop the callback and the handlers (they hold
        the machine), so the machine is freed without the garbage collector."""
        self._dispatch.clear()
        self._reset_state = None
        self._cb = None  # type: ignore[assignment]

    def add(self, name: str, fn: HelperFn | None = None, *, raw: RawHandler | None = None,
            kind: str = "helper", back: RawHandler | None = None) -> int:
        """Bind ``fn(mem, r1..r5) -> r0`` (or a ``raw(machine)`` handler) to a new stub
        called ``name``; returns its address (a kallsyms ``T`` symbol). ``back``: a raw
        handler for the stub's return point (a stub that calls BPF callbacks)."""
        if name in self.by_name:
            raise KernelError(17, f"stub {name!r} already exists")  # EEXIST
        if not self._free:
            # our limit, not the kernel's: the emulated text has one page of stubs
            raise NotModelled(f"no free stub slot for {name!r}: the emulated machine's {STUB_SLOTS} stubs are "
                              "in use (a long-lived emulated kernel binds one per helper/kfunc it runs; more are not modelled)",
                              errno=28)
        slot = self._free.pop()
        addr = self.base + slot * STUB_STRIDE
        stub = Stub(name, addr, fn, raw, kind, back)
        self._bind(stub)
        return addr

    def _bind(self, stub: Stub) -> None:
        self._dirty = True
        self.by_addr[stub.addr] = stub
        self.by_name[stub.name] = stub
        self._dispatch[stub.addr] = self._handler(stub)
        size = len(self._slot_code)
        if stub.back is not None:
            back = stub.back
            m = self._m
            self._dispatch[stub.addr + RETURN_POINT] = lambda: back(m)
            size = STUB_STRIDE  # the return point is inside the function, as a call site is
        self._m.kallsyms.add(stub.name, stub.addr, size, "T")

    def remove(self, name: str) -> None:
        stub = self.by_name.pop(name)
        del self.by_addr[stub.addr]
        del self._dispatch[stub.addr]
        self._dispatch.pop(stub.addr + RETURN_POINT, None)
        self._dirty = True  # a persistent stub stays persistent: reset() brings it back
        self._m.kallsyms.remove(name)
        self._free.append((stub.addr - self.base) // STUB_STRIDE)

    def clear(self) -> None:
        """Remove every stub (persistent ones come back at :meth:`reset`)."""
        for name in list(self.by_name):
            self.remove(name)

    def persistent(self, name: str) -> None:
        """Keep stub ``name`` over :meth:`reset` (the machine's built-in stubs)."""
        self._persistent[name] = self.by_name[name]
        self._reset_state = None

    def reset(self) -> None:
        """Back to the persistent stubs only, slots in a fresh machine's order.
        Does not touch kallsyms (the machine restores its snapshot)."""
        st = self._reset_state
        if st is None:
            keep = self._persistent
            used = {(s.addr - self.base) // STUB_STRIDE for s in keep.values()}
            st = self._reset_state = (dict(keep), {s.addr: s for s in keep.values()},
                                      self._dispatch_of(keep.values()),
                                      [k for k in range(STUB_SLOTS - 1, -1, -1) if k not in used])
        elif not self._dirty:
            return  # nothing was bound or removed since the last reset
        self.by_name = dict(st[0])
        self.by_addr = dict(st[1])
        self._dispatch.clear()
        self._dispatch.update(st[2])
        self._free = list(st[3])
        self._dirty = False

    def addr_of(self, name: str) -> int:
        return self.by_name[name].addr

    # --- the hook ------------------------------------------------------------------------
    def _dispatch_of(self, stubs: "Iterable[Stub]") -> dict[int, Callable[[], None]]:
        """The dispatch entries of ``stubs``: each stub's handler and its return point's."""
        out: dict[int, Callable[[], None]] = {}
        m = self._m
        for s in stubs:
            out[s.addr] = self._handler(s)
            if s.back is not None:
                out[s.addr + RETURN_POINT] = (lambda b: lambda: b(m))(s.back)
        return out

    def _handler(self, stub: Stub) -> Callable[[], None]:
        """The per-stub handler the hook calls: everything it needs is a closure cell."""
        m = self._m
        raw = stub.raw
        if raw is not None:
            return lambda: raw(m)
        fn = stub.fn
        if fn is None:
            addr = stub.addr
            return lambda: m.runner.fault_unbound_stub(addr)
        hp = self._hp
        ids, ptrs, n, vals = self._args
        rbatch = RAW.uc_reg_read_batch
        wreg = RAW.uc_reg_write
        rax = X.UC_X86_REG_RAX
        r0 = ctypes.c_uint64()
        r0p = ctypes.byref(r0)

        def helper() -> None:
            rbatch(hp, ids, ptrs, n)
            a = vals[:]
            # c_uint64 stores the value modulo 2**64 (negative results wrap as in rax)
            r0.value = fn(m, a[0], a[1], a[2], a[3], a[4])
            wreg(hp, rax, r0p)
        return helper

    def _make_hook(self) -> Callable[[int, int, int, int], None]:
        get = self._dispatch.get
        m = self._m

        def on_code(uc: int, address: int, size: int, user: int) -> None:
            try:
                h = get(address)
                if h is None:
                    m.runner.fault_unbound_stub(address)
                else:
                    h()
            except BaseException as e:  # noqa: BLE001 - must not cross the C callback
                m.runner.stop_with(e)
        return on_code
