"""The struct_ops trampoline against bytes a 6.18 host built, and the CPU knobs' effect on its size."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from jit.symbols import KernelSymbols
from jit.trampoline import (BPF_INSN_SAFETY, emit_trampoline, layout, struct_ops_flags,
                            trampoline_size)
from kernel_model.btf.func_model import FuncModel
from kernel_model.cpu import PRESETS

# Captured on the project's first 6.18 host, an AMD EPYC returning through srso_return_thunk
# (the "amd-zen2" preset, stated explicitly below); the symbols are that host's kallsyms.
CAPTURED_ON = PRESETS["amd-zen2"]
HOST_SYMS = KernelSymbols(prog_enter=0xFFFFFFFF8152D650, prog_exit=0xFFFFFFFF8152D860,
                          prog_enter_sleepable=0xFFFFFFFF8152D440, prog_exit_sleepable=0xFFFFFFFF8152DA80,
                          return_thunk=0xFFFFFFFF822034E0)
TEST_1 = bytes.fromhex(
    "554889e54883ec3048895de0b801000000488945e848897df031ff48897dd048bf0090f10100c9ffff488d75d0e85e3950c1"
    "4889c34885c0740d488d7df0e891beffff488945f848bf0090f10100c9ffff4889de488d55d0e8433b50c1488b45f8488b5de0"
    "c9e9b5971dc2")
TEST_2 = bytes.fromhex(
    "554889e54883ec5048895dc0b805000000488945c848897dd0488975d8488955e048894de84c8945f031ff48897db048bf0090"
    "f10000c9ffff488d75b0e80ef84fc14889c34885c0740d488d7dd0e875beffff488945f848bf0090f10000c9ffff4889de488d"
    "55b0e8f3f94fc1488b45f8488b5dc0c9e965561dc2")
TEST_SLEEPABLE = bytes.fromhex(
    "554889e54883ec3048895de0b801000000488945e848897df031ff48897dd048bf0000ea0000c9ffff488d75d0e8ceb44fc1"
    "4889c34885c0740d488d7df0e889beffff488945f848bf0000ea0000c9ffff4889de488d55d0e8e3ba4fc1488b45f8488b5de0"
    "c9e935151dc2")

ONE_ARG = FuncModel(1, (8,), (0,), 4, 0)
DUMMY_TEST_2 = FuncModel(5, (8, 4, 2, 1, 8), (0, 2, 0, 2, 0), 4, 0)


def _call_target(code: bytes, at: int, image: int) -> int:
    rel = struct.unpack_from("<i", code, at + 1)[0]
    return (image + at + 5 + rel) & (2**64 - 1)


@pytest.mark.parametrize("expected,model,prog,sleepable,image,call_at", [
    (TEST_1, ONE_ARG, 0xFFFFC90001F19000, False, 0xFFFFFFFFC0029CC0, 0x3E),
    (TEST_2, DUMMY_TEST_2, 0xFFFFC90000F19000, False, 0xFFFFFFFFC002DE00, 0x4E),
    (TEST_SLEEPABLE, ONE_ARG, 0xFFFFC90000EA0000, True, 0xFFFFFFFFC002E000, 0x3E),
], ids=["test_1", "test_2", "test_sleepable"])
def test_bytes_equal_the_hosts(expected, model, prog, sleepable, image, call_at):
    # the image address of test_sleepable was not recorded: recover it from the enter call
    if sleepable:
        rel = struct.unpack_from("<i", expected, 0x2D + 1)[0]
        image = (HOST_SYMS.prog_enter_sleepable - (0x2D + 5 + rel)) & (2**64 - 1)
    bpf_func = _call_target(expected, call_at, image)
    got = emit_trampoline(model, image=image, prog=prog, bpf_func=bpf_func, sleepable=sleepable,
                          symbols=HOST_SYMS, cpu=CAPTURED_ON)
    assert got.hex() == expected.hex()
    assert trampoline_size(model, prog=prog, sleepable=sleepable, cpu=CAPTURED_ON) == len(expected) + BPF_INSN_SAFETY


def test_layout_of_test_1():
    lay = layout(ONE_ARG, struct_ops_flags(ONE_ARG))
    assert (lay.stack_size, lay.regs_off, lay.nregs_off, lay.rbx_off, lay.run_ctx_off) == (0x30, 0x10, 0x18, 0x20, 0x30)


def test_configuration_knobs_change_the_size():
    base = trampoline_size(ONE_ARG, prog=0xFFFFC90001F19000, cpu=CAPTURED_ON)
    assert base == 171  # 23 per 4 KiB page
    ibt = trampoline_size(ONE_ARG, prog=0xFFFFC90001F19000, cpu=CAPTURED_ON.with_knobs(ibt=True))
    cdt = trampoline_size(ONE_ARG, prog=0xFFFFC90001F19000, cpu=CAPTURED_ON.with_knobs(call_depth_tracking=True))
    ret = trampoline_size(ONE_ARG, prog=0xFFFFC90001F19000, cpu=CAPTURED_ON.with_knobs(return_thunk=None))
    assert (ibt - base, cdt - base, base - ret) == (4, 27, 4)
    both = trampoline_size(ONE_ARG, prog=0xFFFFC90001F19000, cpu=PRESETS["intel-stuff"])
    assert 4096 // both == 20  # "about 20 trampolines per page on x86"


@given(st.lists(st.sampled_from([1, 2, 4, 8, 16]), min_size=0, max_size=12), st.sampled_from([0, 4, 8]),
       st.sampled_from(sorted(PRESETS)), st.booleans(), st.booleans())
def test_size_matches_emission_for_any_model(sizes, ret, preset, ibt, cdt):
    nr_regs = sum((s + 7) // 8 for s in sizes)
    model = FuncModel(len(sizes), tuple(sizes), tuple(0 for _ in sizes), ret, 0)
    cpu = PRESETS[preset].with_knobs(ibt=ibt, call_depth_tracking=cdt)
    if nr_regs > 12:
        with pytest.raises(ValueError):
            trampoline_size(model, prog=0xFFFFC90000001000, cpu=cpu)
        return
    size = trampoline_size(model, prog=0xFFFFC90000001000, cpu=cpu)
    code = emit_trampoline(model, image=0xFFFFFFFFC0000000, prog=0xFFFFC90000001000,
                           bpf_func=0xFFFFFFFFC0100000, cpu=cpu)
    assert size == len(code) + BPF_INSN_SAFETY
