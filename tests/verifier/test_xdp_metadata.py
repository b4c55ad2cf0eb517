"""The XDP metadata kfuncs (kernel_model.xdp_metadata): registered for XDP with the 6.18
prototypes, refused before the walk because no load is bound to a device -- as the host refuses
a program loaded without one."""

from __future__ import annotations

import errno as E

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.btf import structs as S
from kernel_model.core_kfuncs import kfunc_prog_types
from kernel_model.insn import Insn, encode
from kernel_model.xdp_metadata import XDP_METADATA_KFUNCS
from verifier import VerifierEnv, verify

XDP, SCHED_CLS = 6, 3
LINE = "metadata kfuncs require device-bound program"


def _prog(fid: int) -> list[Insn]:
    # r2 = fp - 8; call kfunc(ctx, r2, r2); r0 = 0; exit
    return [Insn(isa.ALU64 | isa.MOV | isa.X, 2, 10, 0, 0), Insn(isa.ALU64 | isa.ADD | isa.K, 2, 0, 0, -8),
            Insn(isa.ALU64 | isa.MOV | isa.X, 3, 2, 0, 0), Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, fid),
            Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 0), Insn(isa.JMP | isa.EXIT)]


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


@pytest.mark.parametrize("name", XDP_METADATA_KFUNCS)
@pytest.mark.parametrize("ptype", [XDP, SCHED_CLS])
def test_metadata_kfuncs_need_a_device(kernel: Kernel, name: str, ptype: int) -> None:
    assert kfunc_prog_types(name) == {XDP}
    fid = kernel.btf.find(name, S.KIND_FUNC)
    r = verify(_prog(fid), VerifierEnv(prog_type=ptype, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs))
    assert (r.accepted, r.errno, r.error_line) == (False, E.EINVAL, LINE)
    assert r.processed == 0  # add_kfunc_call: before the walk


@pytest.mark.kernel
@pytest.mark.parametrize("name", XDP_METADATA_KFUNCS)
def test_metadata_kfuncs_as_the_host(kernel: Kernel, name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    hid = hostbpf._host_vmlinux().find(name, S.KIND_FUNC)
    if hid is None:
        pytest.skip(f"the host's BTF has no {name}")
    res = hostbpf.prog_load(XDP, encode(_prog(hid)))
    try:
        host = (res.accepted, res.errno, res.error_line())
    finally:
        res.close()
    assert host == (False, E.EINVAL, LINE)


def test_sock_destroy_is_for_socket_iterators_only(kernel: Kernel) -> None:
    """kernel_model.sock_destroy: registered for tracing programs, filtered to BPF_TRACE_ITER
    ones (tracing_iter_filter); a tracing program attached elsewhere is not allowed."""
    from kernel_model.sock_destroy import BPF_TRACE_ITER, filter_allows

    assert kfunc_prog_types("bpf_sock_destroy") >= {26} and XDP not in kfunc_prog_types("bpf_sock_destroy")
    assert filter_allows("bpf_sock_destroy", BPF_TRACE_ITER)
    assert not filter_allows("bpf_sock_destroy", 24)  # BPF_TRACE_RAW_TP (tp_btf)
    assert filter_allows("bpf_task_acquire", 24)
    entry = next(e for e in kernel.kfuncs.entries if e.name == "bpf_sock_destroy")
    assert entry.kfunc.flags == {"KF_TRUSTED_ARGS"}
