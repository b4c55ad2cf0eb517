"""BPF exceptions at run time: ``bpf_throw`` unwinds to the program's entry frame.

Models kernel/bpf/helpers.c ``bpf_throw`` / ``bpf_stack_walker`` with
arch/x86/net/bpf_jit_comp.c ``arch_bpf_stack_walk`` (Linux 6.18) on the emulated
machine: the frames are walked up from the caller of ``bpf_throw`` by their frame
pointers (a frame's ``ip`` is its return address, ``sp`` the stack pointer the caller
had at the call, ``bp`` its rbp), every frame inside a JIT image of a BPF subprogram is
passed over, and the first frame inside the main function of a program (the exception
boundary) gives ``sp`` and ``bp``. ``bpf_throw`` then "calls"
``prog->aux->bpf_exception_cb(cookie, sp, bp, 0)`` -- here: rdi keeps the cookie, rsi/rdx/rcx
get sp, bp and 0, and the stub's return instruction returns into the callback (its return
address slot is overwritten). The callback's JIT prologue (:mod:`jit.bpf_jit`,
``exception_cb``) moves onto the main frame, restores the callee-saved registers the
boundary prologue pushed there, runs, and its ``leave; ret`` returns to whoever called the
program: the subprogram frames in between are dropped, the program returns the callback's
value (the cookie with the default callback, ``do_misc_fixups``'s ``r0 = r1``).

Where we differ: the kernel's ``WARN_ON_ONCE`` cases (no BPF frame, a program without an
exception callback) stop the run here with a report instead of a warning and a crash.
"""

from __future__ import annotations

from typing import Any

from kernel_model.errors import KernelError, NotModelled

from ..machine.regs import X86_BY_NUM

__all__ = ["bpf_throw", "throw_unwind"]

M64 = (1 << 64) - 1
#: x86 register numbers (the Unicorn ids of :data:`emu.machine.regs.X86_BY_NUM`)
_RCX, _RDX, _RSP, _RBP, _RSI = (X86_BY_NUM[n] for n in (1, 2, 4, 5, 6))
#: how many frames the walk follows before giving up (MAX_CALL_FRAMES is 8; tail calls reuse frames)
_MAX_FRAMES = 64


def throw_unwind(m: Any) -> tuple[Any, int, int]:
    """``arch_bpf_stack_walk(bpf_stack_walker)`` at a call of ``bpf_throw``: (the JIT
    program whose main function is the boundary, its frame's sp, its frame's bp)."""
    fast = m.fast
    rsp = fast.read(_RSP) & M64
    ip = m.read_u64(rsp)
    sp = rsp + 8
    bp = fast.read(_RBP) & M64
    for _ in range(_MAX_FRAMES):
        hit = m.images.image_at(ip)
        if hit is None:
            break  # a frame outside BPF text after the BPF ones: the walk ends (no boundary found)
        _sym, _img, jp = hit
        loc = jp.locate(ip)
        if loc is not None and loc[0] == 0:
            return jp, sp, bp
        # a subprogram's frame (bpf_is_subprog): on to its caller's
        ip = m.read_u64(bp + 8)
        sp = bp + 16
        bp = m.read_u64(bp)
    raise KernelError(22, "bpf_throw: no BPF exception boundary frame on the stack (kernel WARN_ON_ONCE)")


def _throw(m: Any) -> None:
    """The raw handler of the ``bpf_throw`` stub (full register access)."""
    jp, sp, bp = throw_unwind(m)
    if jp.exception_cb < 0:
        raise NotModelled("bpf_throw from a program JIT-compiled without an exception callback")
    cb = jp.funcs[jp.exception_cb].addr
    fast = m.fast
    rsp = fast.read(_RSP) & M64
    fast.write(_RSI, sp)
    fast.write(_RDX, bp)
    fast.write(_RCX, 0)
    m.write_u64(rsp, cb)  # the stub's return goes into bpf_exception_cb(cookie, sp, bp, 0)


def bpf_throw(m: Any, *_: int) -> int:
    """``bpf_throw`` called as a plain function: only the raw handler can unwind."""
    raise NotModelled("bpf_throw needs the machine's registers (bound as a raw stub)")


bpf_throw.raw = _throw  # type: ignore[attr-defined]
