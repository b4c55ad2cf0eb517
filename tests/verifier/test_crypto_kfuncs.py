"""The crypto context kfuncs (kernel_model.crypto_kfuncs) through the verifier's generic rules,
with the host's answers for the same raw programs (BTF ids read from each kernel)."""

from __future__ import annotations

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.btf import structs as S
from kernel_model.crypto_kfuncs import SIZES
from kernel_model.insn import Insn, encode
from kernel_model.uapi import BPF_F_SLEEPABLE
from verifier import VerifierEnv, verify

SYSCALL = 31


def _mov(dst: int, src: int | None = None, imm: int = 0) -> Insn:
    if src is None:
        return Insn(isa.ALU64 | isa.MOV | isa.K, dst, 0, 0, imm)
    return Insn(isa.ALU64 | isa.MOV | isa.X, dst, src, 0, 0)


def _prog(find: object, release: bool) -> list[Insn]:
    create = find("bpf_crypto_ctx_create", S.KIND_FUNC)  # type: ignore[operator]
    rel = find("bpf_crypto_ctx_release", S.KIND_FUNC)  # type: ignore[operator]
    tail = [_mov(1, 0), Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, rel)] if release else [_mov(6, 0), _mov(6, imm=0)]
    return [_mov(0, imm=0), *[Insn(isa.STX | isa.MEM | isa.DW, 10, 0, o, 0) for o in range(-416, 0, 8)],
            _mov(1, 10), Insn(isa.ALU64 | isa.ADD | isa.K, 1, 0, 0, -416), _mov(2, imm=SIZES["bpf_crypto_params"]),
            _mov(3, 10), Insn(isa.ALU64 | isa.ADD | isa.K, 3, 0, 0, -8),
            Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, create),
            Insn(isa.JMP | isa.JEQ | isa.K, 0, 0, len(tail), 0), *tail, _mov(0, imm=0), Insn(isa.JMP | isa.EXIT)]


#: name -> (release the context, prog_flags)
CASES = {"create_release": (True, BPF_F_SLEEPABLE), "create_leak": (False, BPF_F_SLEEPABLE),
         "not_sleepable": (True, 0)}
EXPECTED = {"create_release": None,
            "create_leak": "BPF_EXIT instruction in main prog would lead to reference leak",
            "not_sleepable": "Syscall programs can only be sleepable"}


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _model(kernel: Kernel, name: str):  # type: ignore[no-untyped-def]
    release, flags = CASES[name]
    return verify(_prog(kernel.btf.find, release), VerifierEnv(prog_type=SYSCALL, prog_flags=flags,
                                                               vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs))


@pytest.mark.parametrize("name", sorted(CASES))
def test_crypto_context_kfuncs(kernel: Kernel, name: str) -> None:
    r = _model(kernel, name)
    assert r.accepted == (EXPECTED[name] is None), r.log
    if EXPECTED[name]:
        assert r.error_line == EXPECTED[name]


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_crypto_context_kfuncs_as_the_host(kernel: Kernel, name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    host = hostbpf._host_vmlinux()
    if host.find("bpf_crypto_ctx_create", S.KIND_FUNC) is None:
        pytest.skip("the host has no crypto kfuncs")
    for n, size in SIZES.items():
        assert host.size_of(host.find(n, S.KIND_STRUCT)) == size
    release, flags = CASES[name]
    res = hostbpf.prog_load(SYSCALL, encode(_prog(host.find, release)), prog_flags=flags)
    try:
        want = (res.accepted, res.errno, res.error_line())
    finally:
        res.close()
    r = _model(kernel, name)
    assert (r.accepted, r.errno if not r.accepted else 0, r.error_line) == want, r.log
