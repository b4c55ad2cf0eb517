"""struct_ops maps the way libbpf 1.8 builds them, on the committed example objects.

Each test names the kernel selftest scenario it follows (tools/testing/selftests/
bpf/prog_tests/{test_struct_ops_module,struct_ops_autocreate}.c) and checks
libbpf's exact messages, errnos, autoload/autocreate outcomes and the
``kern_vdata`` bytes libbpf would hand to BPF_MAP_UPDATE_ELEM.
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.libbpf import KernelBtf, LibbpfError, ShadowError
from emu.libbpf.struct_ops import prepare_vdata
from kernel_model.btf import structs as S
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.profile import get_profile
from kernel_model.uapi import BPF_F_LINK

from .conftest import open_example


def _kernel_ids(kernel):
    mod = kernel.modules.modules["bpf_testmod"].btf
    return (mod.find("bpf_testmod_ops", S.KIND_STRUCT), mod.find("bpf_struct_ops_bpf_testmod_ops", S.KIND_STRUCT),
            mod.find("bpf_testmod_ops2", S.KIND_STRUCT))


# --- open time ------------------------------------------------------------------------------

def test_open_creates_one_map_per_variable_with_libbpf_attributes() -> None:
    obj = open_example("struct_ops_module")
    maps = {m.name: m for m in obj.maps if m.is_struct_ops}
    assert list(maps) == ["testmod_1", "testmod_2", "testmod_zeroed", "testmod_incompatible"]
    m = maps["testmod_1"]
    assert (m.key_size, m.max_entries, m.map_flags) == (4, 1, BPF_F_LINK)
    assert m.value_size == 368  # the local struct's size until prepare
    assert all(x.autocreate and x.autoattach for x in maps.values())
    # the relocations bound the declared callbacks
    sh = obj.struct_ops["testmod_1"]
    assert sh.test_1 is obj.progs["test_1"] and sh.test_2 is obj.progs["test_2"] and sh.data == 1
    assert obj.struct_ops["testmod_2"].test_2 is obj.progs["test_2_v2"]


def test_legacy_and_link_sections() -> None:
    dummy = open_example("dummy_st_ops")
    assert dummy.map_by_name["dummy_1"].map_flags == 0  # SEC(".struct_ops"): no BPF_F_LINK
    assert dummy.progs["dummy_test_sleepable"].sec_def.sleepable  # SEC("struct_ops.s/...")
    assert not dummy.progs["dummy_test_1"].sec_def.sleepable


def test_question_mark_sections_and_libbpf_quirk() -> None:
    """optional_maps (selftest) and the '?' quirk: only the first variable of a '?'
    section starts with autocreate=false (LB init_struct_ops_maps l.1454-1458)."""
    obj = open_example("struct_ops_autocreate")
    ac = {m.name: m.autocreate for m in obj.maps if m.is_struct_ops}
    assert ac == {"testmod_1": True, "testmod_2": True, "optional_map": False, "optional_map2": False}
    assert obj.map_by_name["optional_map"].map_flags == 0
    assert obj.map_by_name["optional_map2"].map_flags == BPF_F_LINK
    quirk = open_example("struct_ops_qmark_quirk")
    assert [(m.name, m.autocreate, m.map_flags) for m in quirk.maps if m.is_struct_ops] == [
        ("first_optional", False, BPF_F_LINK), ("second_optional", True, BPF_F_LINK)]


# --- prepare: kernel types, flavors, members --------------------------------------------------

def test_module_type_binding_and_vdata(kernel, kbtf) -> None:
    """test_struct_ops_load: data = 13 and test_2 = test_3 through the shadow."""
    obj = open_example("struct_ops_module")
    sh = obj.struct_ops["testmod_1"]
    sh.data = 13
    sh.test_2 = obj.progs["test_3"]
    obj.progs["test_2"].set_autoload(False)
    obj.map_by_name["testmod_zeroed"].set_autocreate(False)
    assert not obj.progs["test_3"].autoload  # SEC("?struct_ops/...")
    obj.prepare(kernel_btf=kbtf)
    ktype, kvtype, _ = _kernel_ids(kernel)
    m = obj.map_by_name["testmod_1"]
    assert m.value_size == 448 and m.btf_vmlinux_value_type_id == kvtype
    assert m.mod_btf is not None and m.mod_btf.name == "bpf_testmod"
    t1, t3 = obj.progs["test_1"], obj.progs["test_3"]
    assert (t1.attach_btf_id, t1.expected_attach_type) == (ktype, 0)
    assert (t3.attach_btf_id, t3.expected_attach_type) == (ktype, 1)
    assert t3.attach_mod_btf is m.mod_btf
    # autoload follows the maps: test_3 is used now; test_2 is still used by testmod_incompatible,
    # which overrides the user's set_autoload(false) (bpf_object_adjust_struct_ops_autoload)
    assert t3.autoload and obj.progs["test_2"].autoload and not obj.progs["zeroed_op"].autoload
    # kern_vdata as BPF_MAP_UPDATE_ELEM will get it: data (13) at data+44, prog fds in the slots
    t1.fd, t3.fd = 7, 9
    v = prepare_vdata(m)
    expect = bytearray(448)
    struct.pack_into("<Q", expect, 64 + 0, 7)
    struct.pack_into("<Q", expect, 64 + 8, 9)
    struct.pack_into("<i", expect, 64 + 44, 13)
    assert v == bytes(expect)
    assert obj.log.contains("libbpf: struct_ops init_kern testmod_1: copy data 4 bytes from data(+44) to "
                            "kern_data(+44)")


def test_flavor_type_binds_to_the_kernel_type(kernel, kbtf) -> None:
    obj = open_example("struct_ops_module")
    obj.map_by_name["testmod_zeroed"].set_autocreate(False)
    obj.prepare(kernel_btf=kbtf)
    ktype, kvtype, _ = _kernel_ids(kernel)
    m2 = obj.map_by_name["testmod_2"]
    assert obj.btf.type_by_id(m2.st_ops.type_id).name == "bpf_testmod_ops___v2"
    assert m2.btf_vmlinux_value_type_id == kvtype and m2.st_ops.kern_type_id == ktype
    # test_1 serves testmod_1, testmod_2 and testmod_incompatible: same kernel type and member
    assert obj.progs["test_1"].attach_btf_id == ktype


def test_prototypes_are_not_compared(kbtf) -> None:
    """test_struct_ops_incompatible: libbpf binds void (*test_2)(int *a) to the kernel's test_2."""
    obj = open_example("struct_ops_module")
    obj.map_by_name["testmod_zeroed"].set_autocreate(False)
    obj.prepare(kernel_btf=kbtf)
    m = obj.map_by_name["testmod_incompatible"]
    assert set(m.st_ops.kern_func_off.values()) == {64, 72}
    assert struct.unpack_from("<i", m.st_ops.kern_vdata, 64 + 44)[0] == 3


def test_zeroed_members_missing_from_the_kernel(kbtf) -> None:
    """test_struct_ops_not_zeroed, first case: zeroed_op = NULL and zeroed = 0 load."""
    obj = open_example("struct_ops_module")
    obj.struct_ops["testmod_zeroed"].zeroed_op = None
    obj.prepare(kernel_btf=kbtf)
    assert obj.log.contains("libbpf: struct_ops testmod_zeroed: member zeroed_op not found in kernel, "
                            "skipping it as it's set to zero")
    assert obj.log.contains("libbpf: struct_ops testmod_zeroed: member zeroed not found in kernel, "
                            "skipping it as it's set to zero")
    assert not obj.progs["zeroed_op"].autoload


@pytest.mark.parametrize("edit,member", [("zeroed", "zeroed"), ("zeroed_op", "zeroed_op")])
def test_nonzero_members_missing_from_the_kernel(kbtf, edit, member) -> None:
    """test_struct_ops_not_zeroed, second and third cases: -ENOTSUP with libbpf's message."""
    obj = open_example("struct_ops_module")
    sh = obj.struct_ops["testmod_zeroed"]
    if edit == "zeroed":
        sh.zeroed = 0xdeadbeef
        sh.zeroed_op = None
    else:
        sh.zeroed_op = obj.progs["test_3"]
    with pytest.raises(LibbpfError) as ei:
        obj.prepare(kernel_btf=kbtf)
    assert ei.value.errno == errno.EOPNOTSUPP
    assert ei.value.message == f"struct_ops init_kern testmod_zeroed: Cannot find member {member} in kernel BTF"
    assert str(ei.value).endswith("(-EOPNOTSUPP)")


def test_nulled_out_callback(kbtf) -> None:
    """test_struct_ops_nulled_out_cb: the kernel has test_1 but user space nulls it."""
    obj = open_example("struct_ops_nulled_out_cb")
    obj.struct_ops["ops"].test_1 = None
    obj.prepare(kernel_btf=kbtf)
    p = obj.progs["test_1_turn_off"]
    assert not p.autoload and p.fd < 0
    m = obj.map_by_name["ops"]
    assert m.st_ops.kern_func_off == {} and not any(m.st_ops.kern_vdata)


def test_forgotten_callback(kbtf) -> None:
    """test_struct_ops_forgotten_cb: libbpf's message before any syscall, then fixed via the shadow."""
    obj = open_example("struct_ops_forgotten_cb")
    obj.prepare(kernel_btf=kbtf)
    p = obj.progs["test_1_forgotten"]
    assert p.autoload and p.attach_btf_id == 0
    with pytest.raises(LibbpfError) as ei:
        obj.preload_check(p)
    msg = ("prog 'test_1_forgotten': SEC(\"struct_ops\") program isn't referenced anywhere, did you forget to "
           "use it?")
    assert ei.value.errno == errno.EINVAL and ei.value.message == msg
    assert obj.log.contains("libbpf: " + msg)

    obj = open_example("struct_ops_forgotten_cb")
    obj.struct_ops["ops"].test_1 = obj.progs["test_1_forgotten"]
    obj.prepare(kernel_btf=kbtf)
    obj.preload_check(obj.progs["test_1_forgotten"])  # no error now
    assert obj.progs["test_1_forgotten"].expected_attach_type == 0


def test_cant_load_full_object(kbtf) -> None:
    """cant_load_full_object: -ENOTSUP and a 'libbpf: struct_ops init_kern' line."""
    obj = open_example("struct_ops_autocreate")
    with pytest.raises(LibbpfError) as ei:
        obj.prepare(kernel_btf=kbtf)
    assert ei.value.errno == errno.EOPNOTSUPP  # libbpf's -ENOTSUP
    assert obj.log.contains("libbpf: struct_ops init_kern")
    assert obj.log.contains("libbpf: struct_ops init_kern testmod_2: Cannot find member does_not_exist in "
                            "kernel BTF")


def test_can_load_partial_object(kbtf) -> None:
    obj = open_example("struct_ops_autocreate")
    obj.map_by_name["testmod_2"].set_autocreate(False)
    assert obj.progs["test_1"].autoload and obj.progs["test_2"].autoload
    obj.prepare(kernel_btf=kbtf)
    assert obj.progs["test_1"].autoload and not obj.progs["test_2"].autoload


def test_optional_maps(kbtf) -> None:
    obj = open_example("struct_ops_autocreate")
    for name, on in (("testmod_1", False), ("testmod_2", False), ("optional_map2", True)):
        obj.map_by_name[name].set_autocreate(on)
    obj.prepare(kernel_btf=kbtf)
    assert obj.progs["test_1"].autoload and not obj.progs["test_2"].autoload
    assert obj.map_by_name["optional_map2"].value_size == 448
    assert obj.map_by_name["optional_map"].value_size == 8  # never prepared: the local size
    with pytest.raises(LibbpfError) as ei:
        obj.map_by_name["optional_map"].set_autocreate(True)
    assert ei.value.errno == errno.EBUSY


def test_autoload_and_shadow_vars(kbtf) -> None:
    """autoload_and_shadow_vars (struct_ops_autocreate2): swapping bar for foo."""
    obj = open_example("struct_ops_autocreate2")
    foo, bar = obj.progs["foo"], obj.progs["bar"]
    assert not foo.autoload and not bar.autoload
    obj.struct_ops["testmod_1"].test_1 = foo
    obj.prepare(kernel_btf=kbtf)
    assert foo.autoload and not bar.autoload


def test_invalid_reuse_across_kernel_types(kernel, kbtf) -> None:
    """bad_struct_ops: one program for members of bpf_testmod_ops and bpf_testmod_ops2."""
    ktype, _, ktype2 = _kernel_ids(kernel)
    obj = open_example("bad_struct_ops")
    with pytest.raises(LibbpfError) as ei:
        obj.prepare(kernel_btf=kbtf)
    assert ei.value.errno == errno.EINVAL
    assert ei.value.message == (
        "struct_ops init_kern testmod_2 func ptr test_1: invalid reuse of prog test_1 in sec struct_ops/test_1 "
        f"with type {PROG_TYPE_STRUCT_OPS}: attach_btf_id {ktype} != kern_type_id {ktype2}")


def test_many_members_bind_in_kernel_order(kbtf) -> None:
    obj = open_example("struct_ops_multi_pages")
    obj.prepare(kernel_btf=kbtf)
    # tramp_N is member 6 + N of bpf_testmod_ops (test_1, test_2, test_maybe_null, unsupported_ops,
    # onebyte, unsupported, data come first)
    assert [obj.progs[f"tramp_{i}"].expected_attach_type for i in range(1, 41)] == list(range(7, 47))
    assert len(obj.map_by_name["multi_pages"].st_ops.kern_func_off) == 40


def test_vmlinux_types_and_data_members(kernel, kbtf) -> None:
    """tcp_congestion_ops (built in): name is a char[16] data member copied to the value."""
    obj = open_example("tcp_ca")
    obj.prepare(kernel_btf=kbtf)
    m = obj.map_by_name["emu_ca"]
    assert m.mod_btf is None
    assert m.btf_vmlinux_value_type_id == kernel.btf.find("bpf_struct_ops_tcp_congestion_ops", S.KIND_STRUCT)
    kt = kernel.btf.get("tcp_congestion_ops", S.KIND_STRUCT)
    name_off = kt.member("name").byte_offset
    assert m.st_ops.kern_vdata[64 + name_off:64 + name_off + 16] == b"emu_ca".ljust(16, b"\0")
    assert obj.progs["emu_undo_cwnd"].expected_attach_type == 8


def test_module_types_are_missing_on_6_8(kbtf) -> None:
    """Profile 6.8 has no module struct_ops: libbpf finds no value type (-ESRCH)."""
    from emu.kernel import Kernel

    old = Kernel(get_profile("6.8"))
    obj = open_example("struct_ops_maybe_null")
    with pytest.raises(LibbpfError) as ei:
        obj.prepare(kernel_btf=KernelBtf.from_kernel(old))
    assert ei.value.errno == errno.ESRCH
    assert ei.value.message == "struct_ops init_kern: struct bpf_struct_ops_bpf_testmod_ops is not found in " \
                               "kernel BTF"


# --- the shadow --------------------------------------------------------------------------------

def test_shadow_type_checks() -> None:
    obj = open_example("struct_ops_module")
    sh = obj.struct_ops["testmod_1"]
    with pytest.raises(ShadowError, match="has no member 'nope'"):
        sh.nope = 1
    with pytest.raises(ShadowError, match="function pointer: assign a program"):
        sh.test_1 = 5
    with pytest.raises(ShadowError, match="assign an int"):
        sh.data = "thirteen"
    with pytest.raises(ShadowError, match="does not fit in 1 bytes"):
        sh.onebyte = 300
    with pytest.raises(ShadowError, match="is 8 bytes; got 3"):
        sh.unsupported = b"abc"
    sh.unsupported = struct.pack("<ii", 1, 2)
    assert sh.unsupported == struct.pack("<ii", 1, 2)
    sh.data = -1
    assert sh.data == -1
    sh.data = 0xFFFFFFFF  # the same bits in unsigned spelling, as C assignment accepts
    assert sh.data == -1
    with pytest.raises(ShadowError, match="belongs to another object"):
        sh.test_1 = open_example("struct_ops_module").progs["test_1"]
    other = open_example("tcp_ca").struct_ops["emu_ca"]
    other.name = "renamed"
    assert other.name == b"renamed".ljust(16, b"\0")
    with pytest.raises(ShadowError, match="non-function pointer"):
        other.owner = 0


def test_shadow_and_autoload_edits_after_prepare(kbtf) -> None:
    obj = open_example("struct_ops_forgotten_cb")
    obj.prepare(kernel_btf=kbtf)
    with pytest.raises(ShadowError, match="no longer read"):
        obj.struct_ops["ops"].test_1 = obj.progs["test_1_forgotten"]
    obj.progs["test_1_forgotten"].set_autoload(False)  # allowed until load (-EINVAL after)


def test_shadow_edits_of_an_uncreated_map_are_not_read(kbtf) -> None:
    obj = open_example("struct_ops_autocreate")
    obj.map_by_name["testmod_2"].set_autocreate(False)
    obj.struct_ops["testmod_2"].does_not_exist = obj.progs["test_2"]  # would be fatal if testmod_2 were created
    obj.prepare(kernel_btf=kbtf)
    assert obj.map_by_name["testmod_2"].st_ops.kern_vdata is None
