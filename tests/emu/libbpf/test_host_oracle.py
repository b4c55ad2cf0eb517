"""The loader against the host kernel (Linux 6.18 here), through raw bpf().

The same code path as for the emulated kernel -- CO-RE against the host's own
vmlinux BTF, struct_ops type matching (attach_btf_id = the host's
bpf_dummy_ops id, expected_attach_type = the member index), BPF_BTF_LOAD of the
object's fixed-up BTF, BPF_PROG_LOAD with func_info/line_info -- with
:class:`emu.host.hostsys.HostSys`, which creates no struct_ops map and attaches
nothing. Skipped where bpf() is not permitted (tests/conftest.py).
"""

from __future__ import annotations

import errno

import pytest

from emu.host import hostbpf
from emu.libbpf import Log
from emu.host.hostsys import HostSys, host_vmlinux_btf
from emu.libbpf.kbtf import KernelBtf
from kernel_model.btf import structs as S
from kernel_model.vmlinux import build_vmlinux_btf

from .conftest import example, open_example

pytestmark = pytest.mark.kernel

#: the host's verdicts, checked by hand once with bpftool-free raw loads
DUMMY_FAIL = {
    "unchecked_deref": (errno.EACCES, "R1 invalid mem access 'trusted_ptr_or_null_'"),
    "forbidden_helper": (errno.EINVAL, "program of this type cannot use helper bpf_ktime_get_ns#5"),
}


@pytest.fixture
def host():
    h = HostSys()
    yield h
    h.close_all()


def test_dummy_example_loads_into_the_host(host) -> None:
    obj = open_example("dummy_st_ops")
    verdicts = obj.verify_programs(host)
    assert [(v.name, v.accepted) for v in verdicts] == [
        ("dummy_test_1", True), ("dummy_test_2", True), ("dummy_test_sleepable", True)]
    assert host.fds == []  # verify_programs closed everything it opened


def test_dummy_fail_example_is_rejected_by_the_host_with_the_kernel_messages(host) -> None:
    obj = open_example("dummy_st_ops_fail")
    got = {v.name: (v.errno, v.last_line) for v in obj.verify_programs(host)}
    assert got == DUMMY_FAIL


def test_attach_target_is_the_hosts_bpf_dummy_ops(host) -> None:
    obj = open_example("dummy_st_ops")
    obj.prepare(kernel_btf=KernelBtf.from_sys(host, host.btf))
    want = hostbpf.host_btf_id("bpf_dummy_ops")
    assert {p.attach_btf_id for p in obj.progs.values()} == {want}
    vtype = obj.map_by_name["dummy_1"].btf_vmlinux_value_type_id
    assert vtype == hostbpf.host_btf_id("bpf_struct_ops_bpf_dummy_ops")


def test_dummy_test_1_runs_on_the_host(host) -> None:
    """dummy_st_ops selftest: test_1(NULL) returns 0xf2f3f4f5; with a state it adds one."""
    import ctypes
    import struct

    obj = open_example("dummy_st_ops")
    obj.prepare(kernel_btf=KernelBtf.from_sys(host, host.btf))
    obj.load_btf(host)
    p = obj.progs["dummy_test_1"]
    fd = obj.load_program(host, p)
    assert hostbpf.test_run(fd, ctx_in=bytes(8)).retval == 0xF2F3F4F5
    state = ctypes.c_int(41)
    r = hostbpf.test_run(fd, ctx_in=struct.pack("<Q", ctypes.addressof(state)))
    assert (r.retval, state.value) == (42, 42)


def test_core_relocates_against_the_hosts_layout(host) -> None:
    """tcp_ca's socket reads were compiled for the emulated struct sock; on the host they
    are relocated to the host's offsets (loaded only, never attached)."""
    obj = open_example("tcp_ca")
    verdicts = obj.verify_programs(host)
    assert all(v.accepted for v in verdicts), [(v.name, v.last_line) for v in verdicts]
    vml = host_vmlinux_btf()
    mark = vml.get("sock", S.KIND_STRUCT).member("sk_mark").byte_offset
    ours = build_vmlinux_btf().get("sock", S.KIND_STRUCT).member("sk_mark").byte_offset
    assert obj.log.contains(f"patched insn #1 (LDX/ST/STX) off {ours} -> {mark}")


def test_unresolved_core_relocation_log_fixup_on_the_host(host) -> None:
    obj = open_example("core_missing_field")
    (v,) = obj.verify_programs(host)
    assert not v.accepted and v.errno == errno.EINVAL
    assert "<invalid CO-RE relocation>" in v.log
    assert "failed to resolve CO-RE relocation <byte_off>" in v.log and "no_such_field (0:1 @ offset 4)" in v.log
    assert "invalid func unknown#195896080" not in v.log
    assert obj.log.contains("libbpf: prog 'core_unguarded': BPF program load failed: -EINVAL")


def test_host_refuses_struct_ops_maps_and_attachment(host) -> None:
    obj = open_example("dummy_st_ops")
    obj.log = Log(stream=None)
    with pytest.raises(Exception) as ei:
        obj.load(host)  # the full libbpf load would create the struct_ops map: refused
    assert getattr(ei.value, "errno", None) == errno.EPERM


def test_successful_load_keeps_the_verifier_log_at_log_level_1(host) -> None:
    obj = open_example("dummy_st_ops")
    obj.prepare(kernel_btf=KernelBtf.from_sys(host, host.btf))
    obj.load_btf(host)
    p = obj.progs["dummy_test_1"]
    p.set_log_level(1)
    obj.load_program(host, p)
    # observed on 6.18: a successful level-1 load logs only the statistics line
    assert p.log.startswith(f"processed {len(p.insns)} insns (limit 1000000)") and len(p.log.splitlines()) == 1


def test_load_host_command_prints_verdicts() -> None:
    from tests.emu.test_cli import structops

    r = structops("load", "--host", str(example("dummy_st_ops_fail")))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    out = r.stdout.splitlines()
    i = out.index("prog forbidden_helper         rejected by the host kernel (-EINVAL)")
    assert out[i - 1].strip() == "R1 invalid mem access 'trusted_ptr_or_null_'"
    assert out[-1].strip() == "program of this type cannot use helper bpf_ktime_get_ns#5"
    r = structops("load", "--host", str(example("tcp_ca")))
    assert r.returncode == 0 and r.stdout.count("accepted by the host kernel") == 3
