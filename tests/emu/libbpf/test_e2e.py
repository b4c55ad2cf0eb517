"""End to end: the committed objects loaded, attached and called in the emulated kernel.

These run through the emulated kernel's bpf() commands (Kernel.btf_load,
prog_load, map_create, map_update_elem, link_create, ... and call_struct_ops),
the same interface the loader uses with the host kernel (emu.libbpf.sys.REQUIRED).
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from emu.libbpf import LibbpfError, ProgLoadFailed
from kernel_model.profile import get_profile
from tests.emu.test_cli import structops

from .conftest import example, open_example



def test_the_emulated_kernel_implements_every_command_the_loader_uses():
    from emu.host.hostsys import HostSys
    from emu.libbpf.sys import REQUIRED, BpfSys

    for impl in (Kernel, HostSys):
        assert [n for n in REQUIRED if not callable(getattr(impl, n, None))] == [], impl
    assert isinstance(Kernel(modules=()), BpfSys)


def _bss_int(kernel, obj, var: str) -> int:
    m = next(m for m in obj.maps if m.real_name == ".bss")
    ds = obj.btf.get(".bss")
    off = next(v.offset for v in ds.vars if obj.btf.type_by_id(v.type_id).name == var)
    return struct.unpack_from("<i", kernel.map_lookup_elem(m.fd, b"\0\0\0\0"), off)[0]


def test_module_struct_ops_load_and_attach() -> None:
    """test_struct_ops_load: bpf_testmod's reg() calls test_1() and test_2(4, data)."""
    k = Kernel()
    obj = open_example("struct_ops_module")
    obj.struct_ops["testmod_1"].data = 13
    obj.struct_ops["testmod_1"].test_2 = obj.progs["test_3"]
    obj.map_by_name["testmod_zeroed"].set_autocreate(False)
    obj.load(k)
    link = obj.attach_struct_ops("testmod_1")
    assert _bss_int(k, obj, "test_1_result") == 0x1234
    assert _bss_int(k, obj, "test_2_result") == 4 + 13 + 3
    link.destroy()
    with pytest.raises(Exception) as ei:  # the module is pinned while the maps exist
        k.unload_module("bpf_testmod")
    assert getattr(ei.value, "errno", None) == errno.EWOULDBLOCK
    obj.close()
    k.unload_module("bpf_testmod")


def test_nulled_out_and_forgotten_callbacks() -> None:
    k = Kernel()
    obj = open_example("struct_ops_nulled_out_cb")
    obj.struct_ops["ops"].test_1 = None
    obj.load(k)
    assert obj.progs["test_1_turn_off"].fd < 0
    obj = open_example("struct_ops_forgotten_cb")
    with pytest.raises(LibbpfError) as ei:
        obj.load(k)
    assert "isn't referenced anywhere, did you forget to use it?" in ei.value.message
    assert obj.log.contains("libbpf: failed to load object")


def _deref_reg(name: str) -> int:
    """The register the example dereferences without a NULL check (insn 1 of the program,
    after 'rX = ctx[1]'): the verifier names it in its message."""
    p = next(iter(open_example(name).progs.values()))
    return p.insns[1].src


def test_rejected_program_carries_the_verifier_log() -> None:
    k = Kernel()
    obj = open_example("struct_ops_maybe_null_fail")
    with pytest.raises(ProgLoadFailed) as ei:
        obj.load(k)
    reg = _deref_reg("struct_ops_maybe_null_fail")
    assert ei.value.last_line() == f"R{reg} invalid mem access 'trusted_ptr_or_null_'"


def test_kfunc_and_subprograms_run() -> None:
    k = Kernel()
    obj = open_example("kfunc_call")
    obj.load(k)
    obj.attach_struct_ops("kfunc_ops")
    # test_1 = add_bias(scale(bpf_kfunc_common_test(42))) = (42 + 1000) * 3 + 100
    assert k.call_struct_ops(obj.map_by_name["kfunc_ops"].fd, "test_1") == 3226


def test_link_update_and_detach() -> None:
    k = Kernel()
    a, b = open_example("tcp_ca"), open_example("tcp_ca")
    a.load(k)
    b.load(k)
    link = a.attach_struct_ops("emu_ca")
    link.update_map(b.map_by_name["emu_ca"])
    assert link.map is b.map_by_name["emu_ca"]
    link.detach()
    link.destroy()
    d = open_example("struct_ops_detach")
    d.load(k)
    lk = d.attach_struct_ops("testmod_do_detach")
    lk.detach()
    lk.destroy()


def test_multi_pages_attach_needs_two_pages() -> None:
    """struct_ops_multi_pages: 40 trampolines in one map load and attach on latest (8 pages)."""
    k = Kernel()
    obj = open_example("struct_ops_multi_pages")
    obj.load(k)
    obj.attach_struct_ops("multi_pages")
    assert k.call_struct_ops(obj.map_by_name["multi_pages"].fd, "tramp_40", 2) == 42


def test_module_objects_fail_on_6_8() -> None:
    k = Kernel(get_profile("6.8"))  # no module struct_ops before 6.9: bpf_testmod's types are never registered
    obj = open_example("struct_ops_multi_pages")
    with pytest.raises(LibbpfError) as ei:
        obj.load(k)
    assert ei.value.errno == errno.ESRCH


@pytest.mark.kernel
def test_dummy_verdicts_agree_with_the_host() -> None:
    """Acceptance: the bpf_dummy_ops examples give the same verdicts in our kernel and the host's."""
    from emu.host.hostsys import HostSys

    for name in ("dummy_st_ops", "dummy_st_ops_fail", "core_missing_field"):
        ours = {(v.name, v.accepted, v.errno, v.last_line) for v in open_example(name).verify_programs(Kernel())}
        h = HostSys()
        try:
            host = {(v.name, v.accepted, v.errno, v.last_line) for v in open_example(name).verify_programs(h)}
        finally:
            h.close_all()
        assert ours == host, name


def test_load_command_end_to_end() -> None:
    r = structops("load", str(example("struct_ops_module")), "--autocreate", "testmod_zeroed=0",
                  "--set", "testmod_1.data=13", "--set", "testmod_1.test_2=test_3")
    assert r.returncode == 0, r.stderr
    assert "attached" in r.stdout and "processed" in r.stdout
    r = structops("load", str(example("struct_ops_maybe_null_fail")))
    assert r.returncode == 1
    reg = _deref_reg("struct_ops_maybe_null_fail")
    assert r.stdout.rstrip().splitlines()[-1] == f"R{reg} invalid mem access 'trusted_ptr_or_null_'"
    r = structops("call", str(example("kfunc_call")), "kfunc_ops.test_1")
    assert r.returncode == 0 and "= 3226" in r.stdout


def test_dummy_ops_attach_is_eopnotsupp() -> None:
    """test_dummy_st_ops_attach: bpf_dummy_ops refuses registration (init_member)."""
    k = Kernel()
    obj = open_example("dummy_st_ops")
    obj.load(k)
    with pytest.raises(LibbpfError) as ei:
        obj.attach_struct_ops("dummy_1")
    assert ei.value.errno == errno.EOPNOTSUPP


def test_call_script_end_to_end(tmp_path) -> None:
    f = tmp_path / "s.txt"
    f.write_text(f"load {example('kfunc_call')}\ncall kfunc_ops.test_1\ndetach kfunc_ops\n"
                 f"load {example('struct_ops_multi_pages')}\ncall multi_pages.tramp_3 4\n")
    r = structops("call", "--script", str(f))
    assert r.returncode == 0, r.stderr
    assert "kfunc_ops.test_1() = 3226" in r.stdout and "multi_pages.tramp_3(4) = 7" in r.stdout
