"""bpf_per_cpu_ptr / bpf_this_cpu_ptr (verifier.percpu_helpers): the kernel's prototypes and
``percpu_btf_ptr_types``, against the host's answers for the same raw programs."""

from __future__ import annotations

import errno as E

import pytest

from emu.kernel.harness import program_env
from kernel_model import isa
from kernel_model.insn import Insn, encode
from verifier import verify

RAW_TP = 17  # BPF_PROG_TYPE_RAW_TRACEPOINT
EXPECTED = "expected=percpu_ptr_, percpu_rcu_ptr_, percpu_trusted_ptr_"


def _mov(dst: int, src: int | None = None, imm: int = 0) -> Insn:
    if src is None:
        return Insn(isa.ALU64 | isa.MOV | isa.K, dst, 0, 0, imm)
    return Insn(isa.ALU64 | isa.MOV | isa.X, dst, src, 0, 0)


#: name -> (instructions before the call, helper id, the register type the log names)
CASES: dict[str, tuple[list[Insn], int, str]] = {
    "this_cpu_ptr_scalar": ([_mov(1, imm=0)], 154, "scalar"),
    "this_cpu_ptr_stack": ([_mov(1, 10)], 154, "fp"),
    "this_cpu_ptr_ctx": ([], 154, "ctx"),
    "per_cpu_ptr_scalar": ([_mov(1, imm=7), _mov(2, imm=0)], 153, "scalar"),
}


def _prog(pre: list[Insn], func_id: int) -> list[Insn]:
    return [*pre, Insn(isa.CALL_INSN, 0, 0, 0, func_id), _mov(0, imm=0), Insn(isa.JMP | isa.EXIT)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_percpu_helpers_refuse_other_registers(name: str) -> None:
    pre, func_id, rtype = CASES[name]
    insns, env = program_env(_prog(pre, func_id), prog_type="raw_tracepoint")
    r = verify(insns, env)
    assert (r.accepted, r.errno, r.error_line) == (False, E.EACCES, f"R1 type={rtype} {EXPECTED}")


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_percpu_helpers_as_the_host(name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    pre, func_id, _ = CASES[name]
    res = hostbpf.prog_load(RAW_TP, encode(_prog(pre, func_id)))
    try:
        host = (res.accepted, res.errno, res.error_line())
    finally:
        res.close()
    insns, env = program_env(_prog(pre, func_id), prog_type="raw_tracepoint")
    r = verify(insns, env)
    assert (r.accepted, r.errno, r.error_line) == host
