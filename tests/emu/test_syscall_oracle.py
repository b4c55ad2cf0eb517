"""Syscall programs against the host kernel: the verifier's verdict and log, and 64-bit
execution results (a BPF_PROG_TYPE_SYSCALL test run copies
the context back, so every ALU result comes back whole, where a socket filter's retval
has 32 bits). Generated straight-line ALU programs run through our verifier, fixups, JIT
and machine, and through the host's; the contexts written back must be equal."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from emu.host import hostbpf
from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.insn import Insn, encode
from kernel_model.prog import PROG_TYPE_SYSCALL
from verifier import VerifierEnv, verify

pytestmark = pytest.mark.kernel

SLEEPABLE = hostbpf.BPF_F_SLEEPABLE
NREGS = 4  # r2..r5 hold the inputs; results are stored back into ctx[0..3]

VERIFIER_CASES = [
    "r0 = *(u64 *)(r1 +0)\nr0 += 1\n*(u64 *)(r1 +8) = r0\nexit",
    "r0 = *(u32 *)(r1 +2)\nexit",
    "r0 = *(u8 *)(r1 +32767)\nexit",
    "r0 = *(u64 *)(r1 -8)\nexit",
    "call 160\nr0 = 0\nexit",
    "call 5\nexit",
    "r1 += 8\nr0 = *(u64 *)(r1 +0)\nexit",
    "*(u64 *)(r1 +0) = r1\nr0 = 0\nexit",
    "exit",
]


@pytest.mark.parametrize("flags", [SLEEPABLE, 0], ids=["sleepable", "not-sleepable"])
@pytest.mark.parametrize("src", VERIFIER_CASES)
def test_verifier_log_equals_the_hosts(src, flags):
    insns = assemble(src)
    for level in (1, 2):
        ours = verify(insns, VerifierEnv(prog_type=PROG_TYPE_SYSCALL, prog_flags=flags), log_level=level)
        host = hostbpf.prog_load(PROG_TYPE_SYSCALL, encode(insns), prog_flags=flags, log_level=level)
        try:
            assert (ours.accepted, ours.errno) == (host.accepted, host.errno)
            assert hostbpf.comparable_log(ours.log) == hostbpf.comparable_log(host.log)
        finally:
            host.close()


_OPS = [isa.ADD, isa.SUB, isa.MUL, isa.DIV, isa.OR, isa.AND, isa.LSH, isa.RSH, isa.MOD, isa.XOR, isa.MOV,
        isa.ARSH]


@st.composite
def alu_programs(draw: st.DrawFn) -> list[Insn]:
    """Loads of r2..r5 from ctx, 1..12 ALU/ALU64 operations (register or immediate,
    signed and unsigned div/mod, shifts by in-range immediates, negation, byte swaps,
    sign-extending moves), the four registers stored back, r0 = 0."""
    prog = [Insn(isa.LDX | isa.MEM | isa.DW, 2 + k, 1, 8 * k) for k in range(NREGS)]
    for _ in range(draw(st.integers(1, 12))):
        cls = draw(st.sampled_from([isa.ALU, isa.ALU64]))
        dst = draw(st.integers(2, 2 + NREGS - 1))
        kind = draw(st.sampled_from(["op", "op", "op", "neg", "end", "movsx"]))
        if kind == "neg":
            prog.append(Insn(cls | isa.NEG, dst))
        elif kind == "end":
            width = draw(st.sampled_from([16, 32, 64]))
            src = draw(st.sampled_from([isa.TO_LE, isa.TO_BE])) if cls == isa.ALU else isa.TO_LE
            prog.append(Insn(cls | isa.END | src, dst, 0, 0, width))
        elif kind == "movsx":
            bits = draw(st.sampled_from([8, 16] + ([32] if cls == isa.ALU64 else [])))
            prog.append(Insn(cls | isa.MOV | isa.X, dst, draw(st.integers(2, 2 + NREGS - 1)), bits))
        else:
            op = draw(st.sampled_from(_OPS))
            signed = op in (isa.DIV, isa.MOD) and draw(st.booleans())
            off = 1 if signed else 0
            if draw(st.booleans()):
                prog.append(Insn(cls | op | isa.X, dst, draw(st.integers(2, 2 + NREGS - 1)), off))
            else:
                width = 64 if cls == isa.ALU64 else 32
                if op in (isa.LSH, isa.RSH, isa.ARSH):
                    imm = draw(st.integers(0, width - 1))  # the verifier refuses others
                else:
                    imm = draw(st.integers(-(1 << 31), (1 << 31) - 1))
                    if op in (isa.DIV, isa.MOD) and imm == 0:
                        imm = 7  # "division by zero" is a verifier rejection for an immediate
                prog.append(Insn(cls | op | isa.K, dst, 0, off, imm))
    prog += [Insn(isa.STX | isa.MEM | isa.DW, 1, 2 + k, 8 * k) for k in range(NREGS)]
    prog += [Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 0), Insn(isa.JMP | isa.EXIT)]
    return prog


_KERNEL: Kernel | None = None


def _ours(insns: list[Insn], ctx: bytes) -> bytes:
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = Kernel(modules=())
    fd = _KERNEL.prog_load(insns, prog_type=PROG_TYPE_SYSCALL, prog_flags=SLEEPABLE)
    try:
        return _KERNEL.prog_test_run(fd, ctx_in=ctx).ctx_out
    finally:
        _KERNEL.close(fd)


def _hosts(insns: list[Insn], ctx: bytes) -> bytes:
    r = hostbpf.prog_load(PROG_TYPE_SYSCALL, encode(insns), prog_flags=SLEEPABLE)
    assert r.accepted, r.log
    try:
        return hostbpf.test_run(r.fd, ctx_in=ctx).ctx_in_after
    finally:
        r.close()


@given(alu_programs(), st.lists(st.integers(0, (1 << 64) - 1), min_size=NREGS, max_size=NREGS))
def test_alu_results_equal_the_hosts(insns, values):
    ctx = struct.pack(f"<{NREGS}Q", *values)
    assert _ours(insns, ctx).hex() == _hosts(insns, ctx).hex()
