"""Each CPU preset changes exactly what it should in the JIT's and the trampolines' bytes."""

from __future__ import annotations

import struct

import pytest

from jit.bpf_jit import JitOptions, jit_program
from jit.symbols import KernelSymbols
from jit.trampoline import emit_trampoline, struct_ops_flags, trampoline_size
from kernel_model.asm import assemble
from kernel_model.btf.func_model import FuncModel
from kernel_model.cpu import PRESETS, RETURN_THUNKS, CpuConfig, get_cpu
from kernel_model.errors import InputError
from kernel_model.insn import Insn
from kernel_model.profile import LATEST

IMAGE = 0xFFFF_FFFF_C000_1000
CALL_BASE = 0xFFFF_FFFF_8110_0000
TIMED_MAY_GOTO = 0xFFFF_FFFF_8110_8000
CALL_DEPTH = 0xFFFF_FFFF_8300_0020
#: a distinct address per thunk, so a listing names the one jumped to
THUNKS = {name: 0xFFFF_FFFF_8200_0000 + 0x40 * k for k, name in enumerate(RETURN_THUNKS)}
ONE_ARG = FuncModel(1, (8,), (0,), 4, 0)
M64 = (1 << 64) - 1


def _syms(cpu: CpuConfig) -> KernelSymbols:
    return KernelSymbols(call_base=CALL_BASE, return_thunk=THUNKS[cpu.return_thunk] if cpu.rethunk else 0,
                         call_depth=CALL_DEPTH, timed_may_goto=TIMED_MAY_GOTO, prog_enter=0xFFFFFFFF81100000,
                         prog_exit=0xFFFFFFFF81100100, prog_enter_sleepable=0xFFFFFFFF81100200,
                         prog_exit_sleepable=0xFFFFFFFF81100300)


def _jit(src: str | list[Insn], cpu: CpuConfig, depth: int = 0) -> bytes:
    insns = assemble(src) if isinstance(src, str) else src
    return jit_program(insns, lambda size: IMAGE, stack_depths=[depth], symbols=_syms(cpu),
                       options=JitOptions(LATEST, cpu)).funcs[0].code


def _rel32(code: bytes, at: int, base: int) -> int:
    return (base + at + 5 + struct.unpack_from("<i", code, at + 1)[0]) & M64


BODY = "0f1f4400000f1f00554889e531c0c9"  # nop5 nop3 push rbp; mov rbp,rsp; xor eax,eax; leave


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_epilogue_per_preset(name):
    cpu = PRESETS[name]
    code = _jit("r0 = 0\nexit", cpu)
    body = ("f30f1efa" + BODY[:24] + "f30f1efa" + BODY[24:]) if cpu.ibt else BODY
    assert code[:len(body) // 2].hex() == body
    tail = code[len(body) // 2:]
    if cpu.rethunk:
        assert tail[0] == 0xE9 and len(tail) == 5
        assert _rel32(code, len(code) - 5, IMAGE) == THUNKS[cpu.return_thunk]
    else:
        assert tail == (b"\xc3\xcc" if cpu.sls else b"\xc3")
    assert len(tail) == cpu.return_size


def test_each_thunk_preset_names_its_own_thunk():
    targets = {PRESETS[n].return_thunk for n in PRESETS if PRESETS[n].rethunk}
    assert {"srso_return_thunk", "srso_alias_return_thunk", "its_return_thunk", "call_depth_return_thunk",
            "retbleed_return_thunk"} <= targets
    assert PRESETS["none"].return_thunk is None


def test_sls_adds_int3_after_ret_only_without_a_thunk():
    assert _jit("r0 = 0\nexit", PRESETS["none"].with_knobs(sls=True))[-2:] == b"\xc3\xcc"
    with_thunk = PRESETS["amd-zen2"]
    assert _jit("r0 = 0\nexit", with_thunk.with_knobs(sls=True)) == _jit("r0 = 0\nexit", with_thunk)


def test_call_depth_accounting_before_each_call():
    src = "call 7\nr6 = r0\ncall 7\nr0 += r6\nexit"
    base, cdt = PRESETS["amd-zen2"], PRESETS["amd-zen2"].with_knobs(call_depth_tracking=True)
    plain, acct = _jit(src, base), _jit(src, cdt)
    assert len(acct) - len(plain) == 2 * 9
    at = acct.find(b"\x65\x48\xc1\x3d")  # sarq $5, %gs:disp32(%rip)
    assert at > 0 and acct[at + 8] == 0x05 and acct[at + 9] == 0xE8
    # the rip-relative displacement reaches the per-CPU call depth
    assert (IMAGE + at + 9 + struct.unpack_from("<i", acct, at + 4)[0]) & M64 == CALL_DEPTH
    # and the call after it still reaches its helper
    assert _rel32(acct, at + 9, IMAGE) == _rel32(plain, plain.find(b"\xe8"), IMAGE)


def test_ibt_adds_two_endbr64_to_the_prologue():
    off, on = PRESETS["none"], PRESETS["none"].with_knobs(ibt=True)
    a, b = _jit("r0 = 0\nexit", off), _jit("r0 = 0\nexit", on)
    assert len(b) - len(a) == 8 and b.count(b"\xf3\x0f\x1e\xfa") == 2


def test_bmi2_knob_selects_shlx():
    src = "r0 = 1\nr1 = 3\nr0 <<= r1\nexit"
    with_bmi2, without = _jit(src, PRESETS["none"]), _jit(src, PRESETS["none"].with_knobs(bmi2=False))
    assert b"\xc4" in with_bmi2 and b"\xd3" in without and b"\xc4" not in without


def _may_goto_prog() -> list[Insn]:
    """What the verifier's fixup hands the JIT for a timed may_goto (6.15+, as the
    host's xlated dump shows it): r11 is BPF_REG_AX."""
    return [Insn(0xB7, 0, 0, 0, 0),
            Insn(0x79, 11, 10, -16, 0), Insn(0x15, 11, 0, 6, 0), Insn(0x17, 11, 0, 0, 1),
            Insn(0x55, 11, 0, 2, 0), Insn(0xB7, 11, 0, 0, -16), Insn(0x85, 0, 0, 0, TIMED_MAY_GOTO - CALL_BASE),
            Insn(0x7B, 10, 11, -16, 0), Insn(0xB7, 0, 0, 0, 1), Insn(0x95)]


def test_timed_may_goto_frame_pointer_in_the_jit():
    src = _may_goto_prog()
    base = PRESETS["amd-zen2"]
    plain = _jit(src, base, depth=16)
    added = _jit(src, base.with_knobs(timed_may_goto_fp_in_jit=True), depth=16)
    assert len(added) - len(plain) == 3
    at = added.find(b"\x49\x01\xea")  # add r10, rbp
    assert at > 0 and added[at + 3] == 0xE8 and _rel32(added, at + 3, IMAGE) == TIMED_MAY_GOTO
    assert b"\x49\x01\xea" not in plain
    # the jumps over it grow with it: je +0x21 / jne +0x0f instead of +0x1e / +0x0c
    assert b"\x74\x21" in added and b"\x75\x0f" in added
    assert b"\x74\x1e" in plain and b"\x75\x0c" in plain


def test_other_calls_get_no_frame_pointer():
    cpu = PRESETS["intel-its"]
    assert cpu.timed_may_goto_fp_in_jit
    code = _jit([Insn(0xB7, 11, 0, 0, -16), Insn(0x85, 0, 0, 0, 7), Insn(0x95)], cpu)
    assert b"\x49\x01\xea" not in code


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_trampoline_size_and_per_page_per_preset(name):
    cpu = PRESETS[name]
    size = trampoline_size(ONE_ARG, prog=0xFFFFC90001F19000, cpu=cpu)
    # 102 bytes + the return + 4 for endbr64 + 27 for three accounted calls, + 64 safety
    expected = 102 + cpu.return_size + 4 * cpu.ibt + 27 * cpu.call_depth_tracking + 64
    assert size == expected
    per_page = {"amd-zen2": 23, "amd-zen3": 23, "intel-its": 23, "amd-unret": 23, "none": 24, "intel-stuff": 20}
    assert 4096 // size == per_page[name]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_trampoline_bytes_per_preset(name):
    cpu = PRESETS[name]
    syms = _syms(cpu)
    image = 0xFFFFFFFFC0002000
    code = emit_trampoline(ONE_ARG, image=image, prog=0xFFFFC90001F19000, bpf_func=0xFFFFFFFFC0003000,
                           flags=struct_ops_flags(ONE_ARG), symbols=syms, cpu=cpu)
    assert code.startswith(b"\xf3\x0f\x1e\xfa\x55" if cpu.ibt else b"\x55")
    assert code.count(b"\x65\x48\xc1\x3d") == (3 if cpu.call_depth_tracking else 0)
    at = code.find(b"\x65\x48\xc1\x3d")
    while at >= 0:  # each accounting's rip-relative displacement reaches the per-CPU call depth
        assert (image + at + 9 + struct.unpack_from("<i", code, at + 4)[0]) & M64 == CALL_DEPTH
        at = code.find(b"\x65\x48\xc1\x3d", at + 1)
    if cpu.rethunk:
        assert code[-6] == 0xC9 and code[-5] == 0xE9 and _rel32(code, len(code) - 5, image) == THUNKS[cpu.return_thunk]
    else:
        assert code.endswith(b"\xc9\xc3\xcc" if cpu.sls else b"\xc9\xc3")


def test_unknown_names_are_input_errors():
    with pytest.raises(InputError, match="unknown --cpu 'pentium'"):
        get_cpu("pentium")
    with pytest.raises(InputError, match="unknown return thunk"):
        CpuConfig("x", "bad", return_thunk="my_thunk")
    with pytest.raises(InputError, match="indirect-branch style"):
        CpuConfig("x", "bad", indirect="trampoline")


def test_indirect_thunk_choice():
    assert PRESETS["amd-zen2"].indirect_thunk("rax", call=True) == "__x86_indirect_thunk_rax"
    assert PRESETS["intel-stuff"].indirect_thunk("rbx", call=True) == "__x86_indirect_call_thunk_rbx"
    assert PRESETS["intel-stuff"].indirect_thunk("rbx", call=False) == "__x86_indirect_jump_thunk_rbx"
    assert PRESETS["none"].indirect_thunk("rax", call=True) is None
    its = PRESETS["none"].with_knobs(indirect="its", return_thunk="its_return_thunk")
    assert its.indirect_thunk("rax", call=True) == "__x86_indirect_its_thunk_rax"
    assert its.name == "none+indirect=its+return_thunk=its_return_thunk"
