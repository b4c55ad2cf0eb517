"""A Python-serviced kernel function calling BPF callbacks inside the running program
(emu.machine.callbacks): nesting, the frame the unwinder walks, every CPU preset."""

from __future__ import annotations

import pytest

from emu.machine import Machine
from emu.machine.callbacks import bind_calling
from emu.machine.calls import RETURN_POINT
from emu.machine.oops import Oops
from kernel_model.asm import assemble
from kernel_model.cpu import PRESETS
from kernel_model.errors import KernelError
from kernel_model.insn import Insn


def _repeat(m, loc, n, fn, ctx, *_):  # type: ignore[no-untyped-def]
    """call fn(i, ctx) for i < n, stop at a non-zero return; return how many ran."""
    for i in range(n):
        if (yield fn, (i, ctx)):
            return i + 1
    return n


def _prog(m: Machine, addr: int, text: str, starts: list[int]):  # type: ignore[no-untyped-def]
    prog = assemble(text)
    prog = [Insn(0x85, 0, 0, 0, m.images.call_imm(addr)) if i.code == 0x85 and i.src == 0 and i.imm == 1 else i
            for i in prog]
    return m.jit(prog, starts=starts, stack_depths=[8] * len(starts), name="p")


# main: r6 = 7 (callee-saved across the helper), *(fp-8) = 0; repeat(r1=n, cb, fp-8);
# r0 = r0 * 1000 + *(fp-8) + r6. cb: *(ctx) += index + 1; stop when index == 4
_MAIN = ("r6 = 7\nr7 = 0\n*(u64 *)(r10 -8) = r7\nr2 = func[cb] ll\nr3 = r10\nr3 += -8\ncall 1\n"
         "r0 *= 1000\nr1 = *(u64 *)(r10 -8)\nr0 += r1\nr0 += r6\nexit\n"
         "cb:\nr3 = *(u64 *)(r2 +0)\nr3 += r1\nr3 += 1\n*(u64 *)(r2 +0) = r3\nr0 = 0\nif r1 != 4 goto out\nr0 = 1\n"
         "out:\nexit\n")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_callbacks_run_in_the_program_on_every_preset(name: str) -> None:
    with Machine(cpu=PRESETS[name]) as m:
        addr = bind_calling(m, "bpf_repeat_test", _repeat)
        assert m.kallsyms.format_addr(addr + RETURN_POINT) == "bpf_repeat_test+0x8/0x10"
        jp = _prog(m, addr, "r1 = 3\n" + _MAIN, [0, 14])
        assert m.call(jp.bpf_func) == 3 * 1000 + (1 + 2 + 3) + 7
        jp = _prog(m, addr, "r1 = 10\n" + _MAIN, [0, 14])  # the callback stops the loop at index 4
        assert m.call(jp.bpf_func) == 5 * 1000 + 15 + 7
        jp = _prog(m, addr, "r1 = 0\n" + _MAIN, [0, 14])
        assert m.call(jp.bpf_func) == 7


def test_nested_callbacks(m: Machine) -> None:
    """A callback calls the helper again: the calls nest, each returns to its caller."""
    addr = bind_calling(m, "bpf_repeat_test", _repeat)
    text = ("r1 = 3\nr2 = func[outer] ll\nr3 = r10\nr3 += -8\nr4 = 0\n*(u64 *)(r10 -8) = r4\ncall 1\n"
            "r0 = *(u64 *)(r10 -8)\nexit\n"
            "outer:\nr6 = r2\nr1 = 4\nr2 = func[inner] ll\nr3 = r6\ncall 1\nr1 = *(u64 *)(r6 +0)\nr1 += r0\n"
            "*(u64 *)(r6 +0) = r1\nr0 = 0\nexit\n"
            "inner:\nr1 = *(u64 *)(r2 +0)\nr1 += 100\n*(u64 *)(r2 +0) = r1\nr0 = 0\nexit\n")
    jp = _prog(m, addr, text, [0, 10, 21])
    # 3 outer calls, each: 4 inner calls adding 100, then + 4 (the inner repeat's result)
    assert m.call(jp.bpf_func) == 3 * (400 + 4)


def test_a_fault_in_a_callback_oopses_with_the_helper_in_the_trace(m: Machine) -> None:
    addr = bind_calling(m, "bpf_repeat_test", _repeat)
    text = "r1 = 2\nr2 = func[cb] ll\nr3 = 0\ncall 1\nexit\ncb:\nr0 = *(u64 *)(r2 +0)\nr0 = 0\nexit\n"
    jp = _prog(m, addr, text, [0, 6])
    with pytest.raises(Oops) as e:
        m.call(jp.bpf_func)
    trace = e.value.report.trace
    # callback -> the helper (its return point) -> the program, as the kernel's unwinder
    assert trace[0] == "bpf_repeat_test+0x8/0x10" and trace[1].startswith("bpf_prog_"), trace
    # the machine runs again afterwards; the frame the fault left is dropped
    jp2 = _prog(m, addr, "r1 = 3\n" + _MAIN, [0, 14])
    assert m.call(jp2.bpf_func) == 3006 + 7


def test_a_helper_error_stops_the_run(m: Machine) -> None:
    def bad(mm, loc, n, fn, *_):  # type: ignore[no-untyped-def]
        yield fn, (0,)
        raise KernelError(22, "helper gave up")
    addr = bind_calling(m, "bpf_bad_test", bad)
    jp = _prog(m, addr, "r1 = 1\nr2 = func[cb] ll\ncall 1\nexit\ncb:\nr0 = 0\nexit\n", [0, 5])
    with pytest.raises(KernelError, match="helper gave up"):
        m.call(jp.bpf_func)


def test_locals_are_in_the_helpers_frame(m: Machine) -> None:
    """A value passed by address (a for_each key) lives in the helper's frame, which the
    callback can read."""
    def keyed(mm, loc, n, fn, *_):  # type: ignore[no-untyped-def]
        total = 0
        for i in range(n):
            mm.write_u64(loc, 10 * i)
            total += (yield fn, (loc,))
        return total
    addr = bind_calling(m, "bpf_keyed_test", keyed, locals_size=8)
    jp = _prog(m, addr, "r1 = 4\nr2 = func[cb] ll\ncall 1\nexit\ncb:\nr0 = *(u64 *)(r1 +0)\nexit\n", [0, 5])
    assert m.call(jp.bpf_func) == 0 + 10 + 20 + 30
