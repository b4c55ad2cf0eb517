"""Programs, maps and BTF of an object after libbpf's open and prepare steps:
subprogram appending, .BTF.ext records, kfunc externs, global data, BTF-defined
maps, the DATASEC fix-ups, and the BPF_PROG_LOAD / BPF_MAP_CREATE attributes."""

from __future__ import annotations

import struct

from emu.libbpf.maps import internal_map_name
from emu.libbpf.program import BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL, find_sec_def
from kernel_model import isa
from kernel_model.bpf_map import MAP_TYPE_ARRAY, MAP_TYPE_STRUCT_OPS
from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.types import Datasec, Func, Var
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.uapi import BPF_F_LINK, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_SLEEPABLE, BPF_F_VTYPE_BTF_OBJ_FD

from .conftest import open_example


def test_section_definitions() -> None:
    assert find_sec_def("struct_ops").prog_type == PROG_TYPE_STRUCT_OPS
    assert not find_sec_def("struct_ops/x").sleepable
    assert find_sec_def("struct_ops.s/x").sleepable
    assert find_sec_def("struct_opsx") is None         # '+' needs the exact prefix or a '/'
    assert find_sec_def("struct_ops.s").sleepable
    assert find_sec_def("socket").prog_type == 1 and find_sec_def("socket/x") is None


def test_internal_map_names() -> None:
    """internal_map_name: 8 characters of the object name, 7 reserved for the section."""
    assert internal_map_name("kfunc_call", ".rodata") == "kfunc_ca.rodata"
    assert internal_map_name("kfunc_call", ".bss") == "kfunc_ca.bss"
    assert internal_map_name("x", ".rodata.str1.1") == ".rodata.str1.1"
    assert internal_map_name("my-obj", ".data") == "my_obj.data"


def test_maps_of_the_kfunc_example() -> None:
    obj = open_example("kfunc_call")
    maps = {m.name: m for m in obj.maps}
    c = maps["counters"]
    assert (c.map_type, c.key_size, c.value_size, c.max_entries) == (MAP_TYPE_ARRAY, 4, 8, 4)
    assert obj.btf.type_by_id(c.btf_key_type_id).name == "__u32"
    ro = maps["kfunc_ca.rodata"]
    assert ro.map_flags == BPF_F_RDONLY_PROG | BPF_F_MMAPABLE and ro.initial_value == struct.pack("<i", 3)
    assert maps["kfunc_ops"].map_type == MAP_TYPE_STRUCT_OPS and maps["kfunc_ops"].map_flags == BPF_F_LINK


def test_subprograms_kfunc_and_ext_info(kernel, kbtf) -> None:
    obj = open_example("kfunc_call")
    assert {p.name for p in obj.programs if p.is_subprog} == {"scale", "add_bias"}
    obj.prepare(kernel_btf=kbtf)
    p = obj.progs["kfunc_test_1"]
    own = p.sec_insn_cnt
    scale = next(x for x in obj.programs if x.name == "scale")
    bias = next(x for x in obj.programs if x.name == "add_bias")
    # both .text functions appended after the program, in call order, each once
    assert len(p.insns) == own + scale.sec_insn_cnt + bias.sec_insn_cnt
    calls = [(i, x) for i, x in enumerate(p.insns) if x.code == (isa.JMP | isa.CALL) and x.src == BPF_PSEUDO_CALL]
    assert [i + 1 + x.imm for i, x in calls] == [scale.sub_insn_off, bias.sub_insn_off] == [own, own + 5]
    # the kfunc call: src 2, imm = its BTF id in bpf_testmod, off = its module's slot in fd_array
    mod = kernel.modules.modules["bpf_testmod"].btf
    kf = [x for x in p.insns if x.code == (isa.JMP | isa.CALL) and x.src == BPF_PSEUDO_KFUNC_CALL]
    assert [(x.imm, x.off) for x in kf] == [(mod.find("bpf_kfunc_common_test", S.KIND_FUNC), 1)]
    assert obj.fd_array[0] is None and obj.fd_array[1].name == "bpf_testmod"
    # func_info: one record per function, insn_off in instructions of the combined program
    recs = [struct.unpack_from("<II", p.func_info, o) for o in range(0, len(p.func_info), 8)]
    assert [(off, obj.btf.type_by_id(t).name) for off, t in recs] == [
        (0, "kfunc_test_1"), (own, "scale"), (own + 5, "add_bias")]
    lines = [struct.unpack_from("<IIII", p.line_info, o)[0] for o in range(0, len(p.line_info), 16)]
    assert lines == sorted(lines) and lines[0] == 0 and max(lines) < len(p.insns)
    # the .rodata reference inside scale(): ld_imm64 against the map, value offset 0
    assert any(i >= own and mi == obj.maps.index(obj.map_by_name["kfunc_ca.rodata"]) and v
               for i, mi, v in p.map_refs)


def test_load_attributes(kernel, kbtf) -> None:
    obj = open_example("dummy_st_ops")
    obj.prepare(kernel_btf=kbtf)
    dummy = kernel.btf.find("bpf_dummy_ops", S.KIND_STRUCT)
    a = obj.load_attrs(obj.progs["dummy_test_sleepable"])
    assert (a["prog_type"], a["attach_btf_id"], a["expected_attach_type"]) == (PROG_TYPE_STRUCT_OPS, dummy, 2)
    assert a["prog_flags"] == BPF_F_SLEEPABLE and a["license"] == "GPL" and a["attach_btf_obj_fd"] == 0
    assert a["prog_name"] == "dummy_test_slee"  # 15 characters, as libbpf_strlcpy into char[16]
    assert len(a["insns"]) == 8 * len(obj.progs["dummy_test_sleepable"].insns)
    assert obj.load_attrs(obj.progs["dummy_test_1"])["prog_flags"] == 0


def test_map_create_attributes(kernel, kbtf) -> None:
    obj = open_example("struct_ops_maybe_null")
    obj.prepare(kernel_btf=kbtf)
    m = obj.map_by_name["testmod_1"]
    m.mod_btf.fd = 42  # what bind_fds() sets from BPF_BTF_GET_FD_BY_ID
    obj.btf_fd = 5     # what BPF_BTF_LOAD returned
    a = obj.map_create_attrs(m)
    mod = kernel.modules.modules["bpf_testmod"].btf
    assert a == dict(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=448, max_entries=1, map_name="testmod_1",
                     btf_vmlinux_value_type_id=mod.find("bpf_struct_ops_bpf_testmod_ops", S.KIND_STRUCT),
                     value_type_btf_obj_fd=42, btf_fd=5, map_flags=BPF_F_LINK | BPF_F_VTYPE_BTF_OBJ_FD)
    bss = obj.map_create_attrs(obj.map_by_name["struct_o.bss"])
    assert bss["btf_value_type_id"] == obj.btf.find(".bss", S.KIND_DATASEC) and "btf_vmlinux_value_type_id" not in bss


def test_btf_fixups_make_the_object_btf_loadable() -> None:
    """DATASEC sizes and offsets from the ELF, .ksyms rewritten: the kernel's rules pass."""
    obj = open_example("kfunc_call")
    btf = obj.btf
    for _, t in btf.iter_types(S.KIND_DATASEC):
        assert isinstance(t, Datasec)
        if t.name != ".ksyms":
            assert t.size == obj.elf.section_by_name(t.name).size
    ks = btf.get(".ksyms", S.KIND_DATASEC)
    vt = btf.type_by_id(ks.vars[0].type_id)
    assert isinstance(vt, Var) and vt.name == "dummy_ksym"
    kf = btf.get("bpf_kfunc_common_test", S.KIND_FUNC)
    assert isinstance(kf, Func) and kf.linkage == S.FUNC_GLOBAL
    BTF.from_bytes(btf.to_bytes(), validate=True)  # the kernel's BTF rules (kernel_model.btf.validate)


def test_section_definitions_match_what_libbpf_passed_to_the_host() -> None:
    """Every labelled selftest program whose section we define: the program type,
    expected_attach_type and prog_flags libbpf put in the host's BPF_PROG_LOAD (recorded
    in the corpus labels) are ours (struct_ops members get their index later, from the map)."""
    from tests.corpus import program_labels

    checked, diffs = 0, []
    for r in program_labels():
        load = r.get("load")
        d = find_sec_def(r.get("section", "").lstrip("?"))
        if not load or d is None or d.prog_type == PROG_TYPE_STRUCT_OPS:
            continue
        checked += 1
        got = (d.prog_type, d.expected_attach_type, (16 if d.sleepable else 0) | d.prog_flags)
        want = (load["prog_type"], load["expected_attach_type"], load["prog_flags"])
        if got != want:
            diffs.append(f"{r['section']}: {got} != {want}")
    assert checked > 1000
    assert diffs == []
