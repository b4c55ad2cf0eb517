"""The conntrack kfuncs (kernel_model.conntrack, verifier.conntrack): types with a kernel's
layout, registrations, the no-cast alias rule and the nf_conn write rule; the unix hooks'
kernel types (kernel_model.sock_addr_kfuncs) generated the same way."""

from __future__ import annotations

import errno as E

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.btf import structs as S
from kernel_model.conntrack import CT_KFUNCS, CT_PROG_TYPES, new_definitions
from kernel_model.core_kfuncs import kfunc_prog_types
from kernel_model.vmlinux_nf import SIZES
from verifier.kfuncs import _nocast_alias


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def test_types_have_the_generated_sizes(kernel: Kernel) -> None:
    from kernel_model.vmlinux_sock_addr import SIZES as SOCK_ADDR_SIZES
    for name, size in {**SIZES, **SOCK_ADDR_SIZES}.items():
        assert kernel.btf.size_of(kernel.btf.find(name, S.KIND_STRUCT)) == size


@pytest.mark.kernel
def test_nf_conn_layout_is_the_hosts(kernel: Kernel) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    host = hostbpf._host_vmlinux()
    for name in ("nf_conn", "nf_conn___init", "bpf_ct_opts", "bpf_sock_tuple", "bpf_sock_addr_kern", "sockaddr_un"):
        hid = host.find(name, S.KIND_STRUCT)
        if hid is None:
            pytest.skip(f"the host has no struct {name}")
        ours = kernel.btf.type_by_id(kernel.btf.find(name, S.KIND_STRUCT))
        theirs = host.type_by_id(hid)
        assert ours.size == theirs.size
        assert [(m.name, m.bits_offset) for m in ours.members] == [(m.name, m.bits_offset) for m in theirs.members]


def test_registrations(kernel: Kernel) -> None:
    for name in CT_KFUNCS:
        entry = next(e for e in kernel.kfuncs.entries if e.name == name)
        assert entry.kfunc.prog_types == CT_PROG_TYPES == {3, 6}
        assert "KF_TRUSTED_ARGS" in entry.kfunc.flags
        assert kfunc_prog_types(name) == {3, 6}  # the 6.12 registrations say the same
    alloc = next(e for e in kernel.kfuncs.entries if e.name == "bpf_skb_ct_alloc")
    assert {"KF_ACQUIRE", "KF_RET_NULL"} <= alloc.kfunc.flags


def test_new_definitions_keeps_only_what_is_missing() -> None:
    have = "struct a { int x; };\ntypedef struct { int c; } t_t;\n"
    text = "struct a;\n\nstruct a {\n\tint x;\n};\n\ntypedef struct {\n\tint c;\n} t_t;\n\nstruct b {\n\tstruct a y;\n};"
    assert new_definitions(have, text).strip() == "struct b {\n\tstruct a y;\n};"


@pytest.mark.parametrize("reg,arg,want", [
    ("nf_conn", "nf_conn___init", True), ("nf_conn___init", "nf_conn", True), ("nf_conn", "nf_conn", False),
    ("bpf_cpumask", "cpumask", False), ("nf_conn___initx", "nf_conn", False), ("x___init", "y", False)])
def test_nocast_alias(reg: str, arg: str, want: bool) -> None:
    assert _nocast_alias(reg, arg) is want


def _write_prog(kernel: Kernel, off: int, size: int) -> list:  # type: ignore[type-arg]
    """tc: ct = bpf_skb_ct_lookup(ctx, &tup, 12, &opts, 16); if ct: *(ct + off) = 0 (size);
    bpf_ct_release(ct)."""
    from kernel_model.insn import Insn
    alloc = kernel.btf.find("bpf_skb_ct_lookup", S.KIND_FUNC)
    release = kernel.btf.find("bpf_ct_release", S.KIND_FUNC)
    sz = {1: isa.B, 2: isa.H, 4: isa.W, 8: isa.DW}[size]
    mov = lambda d, imm: Insn(isa.ALU64 | isa.MOV | isa.K, d, 0, 0, imm)  # noqa: E731
    prog = [mov(0, 0)]
    for o in range(-56, 0, 8):  # zeroed stack: the tuple (36 bytes) and the opts (16)
        prog.append(Insn(isa.STX | isa.MEM | isa.DW, 10, 0, o, 0))
    prog += [Insn(isa.ALU64 | isa.MOV | isa.X, 2, 10, 0, 0), Insn(isa.ALU64 | isa.ADD | isa.K, 2, 0, 0, -40),
             mov(3, 12), Insn(isa.ALU64 | isa.MOV | isa.X, 4, 10, 0, 0), Insn(isa.ALU64 | isa.ADD | isa.K, 4, 0, 0, -56),
             mov(5, 16), Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, alloc),
             Insn(isa.JMP | isa.JEQ | isa.K, 0, 0, 4, 0),
             Insn(isa.ST | isa.MEM | sz, 0, 0, off, 0), Insn(isa.ALU64 | isa.MOV | isa.X, 1, 0, 0, 0),
             Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, release), mov(0, 0), Insn(isa.JMP | isa.EXIT)]
    return prog


def test_only_mark_is_writable(kernel: Kernel) -> None:
    from verifier import VerifierEnv, verify
    nct = kernel.btf.type_by_id(kernel.btf.find("nf_conn", S.KIND_STRUCT))
    mark = next(m.bits_offset // 8 for m in nct.members if m.name == "mark")
    env = VerifierEnv(prog_type=3, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs)
    r = verify(_write_prog(kernel, mark, 4), env)
    assert r.accepted, r.log
    r = verify(_write_prog(kernel, mark - 8, 4), env)
    assert (r.errno, r.error_line) == (E.EACCES, f"no write support to nf_conn at off {mark - 8}")
    r = verify(_write_prog(kernel, mark, 8), env)
    assert (r.errno, r.error_line) == (
        E.EACCES, f"write access at off {mark} with size 8 beyond the member of nf_conn ended at {mark + 4}")


class _HostIds:
    """The host's BTF ids in place of the emulated kernel's (a ``kernel`` for _write_prog)."""

    def __init__(self, btf: object) -> None:
        self.btf = btf


@pytest.mark.kernel
@pytest.mark.parametrize("delta,size", [(0, 4), (-8, 4), (0, 8)])
def test_nf_conn_writes_as_the_host(kernel: Kernel, delta: int, size: int) -> None:
    from emu.host import hostbpf
    from kernel_model.insn import encode
    from verifier import VerifierEnv, verify

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    host = hostbpf._host_vmlinux()
    if host.find("bpf_skb_ct_lookup", S.KIND_FUNC) is None:
        pytest.skip("the host has no conntrack kfuncs")
    nct = kernel.btf.type_by_id(kernel.btf.find("nf_conn", S.KIND_STRUCT))
    mark = next(m.bits_offset // 8 for m in nct.members if m.name == "mark")
    res = hostbpf.prog_load(3, encode(_write_prog(_HostIds(host), mark + delta, size)))  # type: ignore[arg-type]
    try:
        want = (res.accepted, res.errno, res.error_line())
    finally:
        res.close()
    r = verify(_write_prog(kernel, mark + delta, size), VerifierEnv(prog_type=3, vmlinux_btf=kernel.btf,
                                                                    kfuncs=kernel.kfuncs))
    assert (r.accepted, r.errno if not r.accepted else 0, r.error_line) == want
