"""Kernel functions serviced in Python that call BPF code: callbacks, nested in the run.

In the kernel a helper such as ``bpf_loop`` (kernel/bpf/bpf_iter.c, Linux 6.18) is C code
that calls the callback's JIT image as an ordinary function,
``callback(i, ctx, 0, 0, 0)``, takes its return value and goes on; the callback runs on
the same stack, below the helper's frame, inside the same run of the program. Here the
helper is a Python generator and the whole exchange stays inside the one ``emu_start``
of the run (Unicorn cannot re-enter ``emu_start`` from a hook, and stopping and
restarting the engine at every call costs 2.5x a hook round trip):

* the program's ``call`` reaches the helper's stub; the stub's code hook starts the
  generator with r1..r5 (and the address of a local area in the helper's frame);
* when the generator yields ``(callback address, arguments)``, the hook lays out the
  frame a C helper would have below the program's return address ``S``: ``[S-8]`` the
  program's rbp (rbp = ``S-8``, so unwinding goes callback -> helper -> program),
  ``locals`` bytes below it, then the callback's return address (the stub's *return
  point*, ``stub + RETURN_POINT``, a second return instruction in the stub's slot, named
  ``<helper>+0x8`` in kallsyms as a call site inside the helper is) and the callback's
  address; it writes the argument registers and sets rsp so that the stub's own return
  instruction "returns" into the callback;
* the callback's ``ret`` reaches the return point; its hook sends rax to the generator,
  which yields the next call (the same frame again) or returns the helper's result: rax,
  rsp and rbp are put back and the return point's return instruction goes back to the
  program.

A callback may call a helper that calls callbacks again: each active call is kept by the
stack address of its frame, so the calls nest as the kernel's C frames do. A fault, a
``bpf_throw`` or a budget stop inside a callback ends the run; the calls it left are
dropped when a later call of the helper starts at or above their frames.

Where we differ: the helper's frame is 16 bytes plus its locals (the kernel's C frame
is whatever the compiler made it), and registers other than rax, rsp, rbp and the
arguments keep the values the callback left in them (C code clobbers what it likes;
a verified program reads none of them after the call).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Callable, Generator

from unicorn import x86_const as X

from kernel_model.errors import KernelError

from .calls import RETURN_POINT

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

__all__ = ["CallbackGen", "CallingFn", "bind_calling", "M64"]

M64 = (1 << 64) - 1
#: what a calling function's generator yields (callback address, up to 5 arguments),
#: is sent (the callback's rax) and returns (the function's r0)
CallbackGen = Generator[tuple[int, tuple[int, ...]], int, int]
#: ``fn(machine, locals_addr, r1, r2, r3, r4, r5) -> generator``
CallingFn = Callable[["Machine", int, int, int, int, int, int], CallbackGen]

_ENTRY = (X.UC_X86_REG_RSP, X.UC_X86_REG_RBP, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
          X.UC_X86_REG_RCX, X.UC_X86_REG_R8)
_BACK = (X.UC_X86_REG_RSP, X.UC_X86_REG_RAX)
_DONE = (X.UC_X86_REG_RAX, X.UC_X86_REG_RSP, X.UC_X86_REG_RBP)
_CALL = (X.UC_X86_REG_RSP, X.UC_X86_REG_RBP, X.UC_X86_REG_RAX, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI,
         X.UC_X86_REG_RDX, X.UC_X86_REG_RCX, X.UC_X86_REG_R8)


def bind_calling(m: "Machine", name: str, fn: CallingFn, *, kind: str = "helper", locals_size: int = 0) -> int:
    """Bind ``fn`` (a generator function, see the module docstring) to a new stub called
    ``name`` with its return point; returns the stub's address. ``locals_size``: bytes of
    the helper's frame the generator may use (e.g. the key ``bpf_for_each_map_elem``
    passes by address), at the ``locals_addr`` it is given."""
    local = (locals_size + 15) & ~15  # the callback's entry rsp keeps the caller's alignment
    #: active calls by the stack address S of the program's return address:
    #: (generator, the program's rbp, the callback its frame holds)
    frames: dict[int, tuple[CallbackGen, int, int]] = {}
    fast = m.fast
    poke = m.mem.poke
    ret_point = [0]

    def step(s: int, rbp: int, gen: CallbackGen, value: int | None, laid: int) -> None:
        """Send ``value`` (None: start) to ``gen``; lay out its next call or its return
        (``laid``: the callback already in the frame, -1 for a new frame)."""
        try:
            target, args = gen.send(value)  # type: ignore[arg-type]  # None starts it
        except StopIteration as done:
            frames.pop(s, None)
            fast.write_many(_DONE, ((done.value or 0) & M64, s, rbp))
            return
        if len(args) > 5:
            raise KernelError(errno.E2BIG, f"{name}: a callback takes at most 5 arguments")
        a = [v & M64 for v in args] + [0] * (5 - len(args))
        target &= M64
        # the callback's address is popped by the stub's return and its slot is then the
        # callback's first push: written every call; the rest of the frame once (the
        # machine's own stack: raw writes, as the landing address is written)
        if laid < 0:
            poke(s - 24 - local, struct.pack("<QQ", target, ret_point[0]))
            poke(s - 8, struct.pack("<Q", rbp))
        else:
            poke(s - 24 - local, struct.pack("<Q", target))
        fast.write_many(_CALL, [s - 24 - local, s - 8, 0, *a])
        frames[s] = (gen, rbp, target)

    def enter(mm: "Machine") -> None:
        rsp, rbp, r1, r2, r3, r4, r5 = fast.read_many(_ENTRY)
        stale = [k for k in frames if k <= rsp]
        for k in stale:  # calls a fault or a throw left behind, at or below this frame
            del frames[k]
        step(rsp, rbp, fn(mm, rsp - 8 - local, r1, r2, r3, r4, r5), None, -1)

    def back(mm: "Machine") -> None:
        rsp, rax = fast.read_many(_BACK)
        s = rsp + 8 + local
        hit = frames.get(s)
        if hit is None:
            raise KernelError(errno.EFAULT, f"a callback returned into {name} with no call of it pending")
        step(s, hit[1], hit[0], rax, hit[2])

    addr = m.calls.add(name, raw=enter, kind=kind, back=back)
    ret_point[0] = addr + RETURN_POINT
    return addr
