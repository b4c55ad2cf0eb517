"""Differential test: the JIT in the machine against the reference interpreter.

For programs from :func:`kernel_model.prog_strategies.terminating_programs`,
running the JIT'd program (after the verifier's fixups) in the emulated
machine must give the interpreter's r0, the same input memory and stack
frame afterwards, and a fault exactly when the interpreter faults, at the
same BPF instruction. CI runs the ``ci`` hypothesis profile (fixed budget);
``make test-jit-long`` runs many more examples.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from emu.machine import PROT_RW, Machine
from emu.machine.oops import Oops
from kernel_model.errors import ExecFault
from kernel_model.insn import Insn
from kernel_model.interp import Interpreter
from kernel_model.prog_strategies import MEM_SIZE, terminating_programs
from verifier.fixups import fixup_for_jit
from hypothesis import strategies as st

MEM_BASE = 0xFFFF_8880_0010_0000
FRAME = 512


@pytest.fixture(scope="module")
def machine():
    m = Machine()
    m.mem.map_region("diff mem", MEM_BASE, 4096, PROT_RW)
    yield m
    m.close()


def run_interp(prog: list[Insn], mem: bytes):
    it = Interpreter(prog, budget=100_000)
    page = bytearray(4096)
    page[:len(mem)] = mem
    it.add_region("mem", MEM_BASE, page)
    try:
        r0 = it.run([MEM_BASE, len(mem)])
    except ExecFault as e:
        return ("fault", e.index)
    return ("ok", r0, bytes(page[:MEM_SIZE]), bytes(it.stack.data[-FRAME:]))


def run_jit(m: Machine, prog: list[Insn], mem: bytes):
    m.reset()
    fx = fixup_for_jit(prog, helper_imm={}, profile=m.profile, stack_depths=[FRAME], starts=[0],
                       timed_may_goto_imm=m.images.call_imm(m.calls.addr_of("arch_bpf_timed_may_goto")))
    jp = m.jit(fx.insns, starts=fx.starts, stack_depths=fx.stack_depths, name="diff")
    m.mem.poke(MEM_BASE, mem + bytes(4096 - len(mem)))
    rbp = m.runner.sp - 8  # push rbp right after the call from the host landing slot
    m.mem.poke(rbp - FRAME, bytes(FRAME))
    try:
        r0 = m.call(jp.bpf_func, (MEM_BASE, len(mem)), budget=1_000_000)
    except Oops as e:
        idx = e.report.bpf_insn
        old = None if idx is None else max(k for k, n in enumerate(fx.new_index[:-1]) if n <= idx)
        return ("fault", old)
    return ("ok", r0, m.mem.peek(MEM_BASE, MEM_SIZE), m.mem.peek(rbp - FRAME, FRAME))


@given(prog=terminating_programs(), mem=st.binary(min_size=MEM_SIZE, max_size=MEM_SIZE))
def test_jit_matches_interpreter(machine, prog, mem):
    expected = run_interp(prog, mem)
    got = run_jit(machine, prog, mem)
    assert got == expected


def test_a_fault_corresponds_to_an_oops(machine):
    prog = [Insn(0xB7, 7, 0, 0, 16), Insn(0x61, 0, 7, 4, 0), Insn(0x95)]  # r7 = 16; r0 = *(u32 *)(r7 + 4)
    assert run_interp(prog, bytes(MEM_SIZE)) == ("fault", 1) == run_jit(machine, prog, bytes(MEM_SIZE))


@settings(max_examples=25)
@given(mem=st.binary(min_size=MEM_SIZE, max_size=MEM_SIZE))
def test_division_guards_match_isa_semantics(machine, mem):
    # r0 = mem[0:8]; r2 = mem[8:16]; every div/mod form on them, with 0, -1 and INT_MIN divisors
    prog = [Insn(0x79, 0, 1, 0), Insn(0x79, 2, 1, 8)]
    for cls in (0x04, 0x07):
        for op in (0x30, 0x90):
            for off in (0, 1):
                prog += [Insn(0x79, 3, 1, 16), Insn(cls | op | 0x08, 3, 2, off), Insn(0x0F, 0, 3)]
                for k in (0, -1, -(1 << 31), 7):
                    prog += [Insn(0xBF, 4, 2), Insn(cls | op, 4, 0, off, k), Insn(0x0F, 0, 4)]
    prog.append(Insn(0x95))
    assert run_jit(machine, prog, mem) == run_interp(prog, mem)
