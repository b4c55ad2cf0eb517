"""bpf_cast_to_kern_ctx and bpf_rdonly_cast (verifier.kctx_kfuncs), with the host's answers for
the same raw programs (BTF ids read from each kernel's own BTF, never hard-coded)."""

from __future__ import annotations

import errno as E
import re

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.btf import structs as S
from kernel_model.insn import Insn, encode
from verifier import VerifierEnv, verify

KPROBE, TRACEPOINT, SCHED_CLS = 2, 5, 3


def _mov(dst: int, src: int | None = None, imm: int = 0) -> Insn:
    if src is None:
        return Insn(isa.ALU64 | isa.MOV | isa.K, dst, 0, 0, imm)
    return Insn(isa.ALU64 | isa.MOV | isa.X, dst, src, 0, 0)


def _call(fid: int) -> Insn:
    return Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, fid)


EXIT = [_mov(0, imm=0), Insn(isa.JMP | isa.EXIT)]
LOAD_R0 = Insn(isa.LDX | isa.MEM | isa.DW, 2, 0, 0, 0)  # r2 = *(u64 *)(r0 + 0)


def _cases(find: object) -> dict[str, tuple[int, list[Insn]]]:
    """name -> (prog type, program); ``find(name, kind)`` gives the BTF id in the kernel at hand."""
    cast, rdonly = find("bpf_cast_to_kern_ctx", S.KIND_FUNC), find("bpf_rdonly_cast", S.KIND_FUNC)
    tcp, int_id = find("tcp_sock", S.KIND_STRUCT), find("int", S.KIND_INT)
    return {
        "cast_kprobe_ctx": (KPROBE, [_call(cast), LOAD_R0, *EXIT]),
        "cast_null": (KPROBE, [_mov(1, imm=0), _call(cast), *EXIT]),
        "cast_scalar": (KPROBE, [_mov(1, imm=5), _call(cast), *EXIT]),
        "cast_ctx_off": (KPROBE, [Insn(isa.ALU64 | isa.ADD | isa.K, 1, 0, 0, 8), _call(cast), *EXIT]),
        "cast_stack": (KPROBE, [_mov(1, 10), _call(cast), *EXIT]),
        "cast_tracepoint_u64": (TRACEPOINT, [_call(cast), *EXIT]),
        "rdonly_tcp_sock": (KPROBE, [_mov(2, imm=tcp), _call(rdonly), LOAD_R0, *EXIT]),
        "rdonly_int": (KPROBE, [_mov(2, imm=int_id), _call(rdonly), *EXIT]),
        "rdonly_unknown_id": (KPROBE, [_mov(2, imm=0x7FFFFFF), _call(rdonly), *EXIT]),
        "rdonly_not_constant": (KPROBE, [Insn(isa.LDX | isa.MEM | isa.DW, 2, 1, 0, 0), _call(rdonly), *EXIT]),
    }


#: name -> (errno, last line as a pattern; None: accepted)
EXPECTED: dict[str, tuple[int, str | None]] = {
    "cast_kprobe_ctx": (0, None),
    "cast_null": (E.EACCES, r"Possibly NULL pointer passed to trusted arg0"),
    "cast_scalar": (E.EINVAL, r"arg#0 expected pointer to ctx, but got scalar"),
    "cast_ctx_off": (E.EACCES, r"dereference of modified ctx ptr R1 off=8 disallowed"),
    "cast_stack": (E.EINVAL, r"arg#0 expected pointer to ctx, but got fp"),
    "cast_tracepoint_u64": (E.EINVAL, r"kern ctx type id \d+ is not a struct"),
    "rdonly_tcp_sock": (0, None),
    "rdonly_int": (E.EINVAL, r"kfunc bpf_rdonly_cast type ID argument must be of a struct or void"),
    "rdonly_unknown_id": (E.EINVAL, rf"Unknown type ID {0x7FFFFFF} passed to kfunc bpf_rdonly_cast"),
    "rdonly_not_constant": (E.EINVAL, r"R2 must be a known constant"),
}


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _model(kernel: Kernel, name: str):  # type: ignore[no-untyped-def]
    ptype, insns = _cases(kernel.btf.find)[name]
    return verify(insns, VerifierEnv(prog_type=ptype, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_type_cast_kfuncs(kernel: Kernel, name: str) -> None:
    errno, line = EXPECTED[name]
    r = _model(kernel, name)
    assert r.accepted == (line is None), r.log
    if line is not None:
        assert r.errno == errno and re.fullmatch(line, r.error_line), r.log


def test_cast_results_are_typed(kernel: Kernel) -> None:
    """bpf_cast_to_kern_ctx: the trusted kernel context; bpf_rdonly_cast: an untrusted struct."""
    cast_ctx = _cases(kernel.btf.find)["cast_kprobe_ctx"][1]
    r = verify(cast_ctx, VerifierEnv(prog_type=KPROBE, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs), log_level=2)
    assert r.accepted and "R0=trusted_ptr_pt_regs()" in r.log, r.log
    rd = _cases(kernel.btf.find)["rdonly_tcp_sock"][1]
    r = verify(rd, VerifierEnv(prog_type=KPROBE, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs), log_level=2)
    assert r.accepted and "R0=untrusted_ptr_tcp_sock()" in r.log, r.log


def test_unmodelled_kernel_contexts_are_refused_as_such(kernel: Kernel) -> None:
    """A type whose kernel context (sock_ops: struct bpf_sock_ops_kern) the emulated vmlinux
    lacks: not modelled. The tc one, struct sk_buff, is there (kernel_model.net_types)."""
    cast = kernel.btf.find("bpf_cast_to_kern_ctx", S.KIND_FUNC)
    r = verify([_call(cast), *EXIT], VerifierEnv(prog_type=13, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs))
    assert not r.accepted and "struct bpf_sock_ops_kern is not modelled by structops" in r.error_line
    r = verify([_call(cast), *EXIT], VerifierEnv(prog_type=SCHED_CLS, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs),
               log_level=2)
    assert r.accepted and "R0=trusted_ptr_sk_buff()" in r.log, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_type_cast_kfuncs_as_the_host(kernel: Kernel, name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    host_btf = hostbpf._host_vmlinux()
    ptype, insns = _cases(host_btf.find)[name]
    res = hostbpf.prog_load(ptype, encode(insns))
    try:
        host = (res.accepted, res.errno, res.error_line())
    finally:
        res.close()
    r = _model(kernel, name)
    assert r.accepted == host[0], (host, r.log)
    if not host[0]:
        errno, line = EXPECTED[name]
        assert host[1] == r.errno and re.fullmatch(line or "", host[2] or ""), host
