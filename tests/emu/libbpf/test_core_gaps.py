"""CO-RE relocations the emulated BTF cannot resolve: libbpf's verdict, or a gap of the model.

kernel_model.vmlinux_names holds the type names of a real 6.18 vmlinux; a relocation
whose type (or first member, or enumerator) a real kernel lacks too gets libbpf's
answer (the instruction poisoned, the verifier's refusal rewritten as "failed to
resolve CO-RE relocation ..."); one a real kernel may resolve is "not modelled".
The objects are the committed selftest corpus (tests/data/selftests).
"""

from __future__ import annotations

import os
import platform

import pytest

from emu.libbpf import BpfObject, Log
from emu.libbpf import core as corelib
from emu.libbpf.core_gaps import real_kernel_lacks
from emu.libbpf.per_prog import verify_program
from kernel_model.vmlinux_names import SOURCE_RELEASE, VERSION, has_type, member_names
from tests.corpus import OBJECTS


def _obj(name: str) -> BpfObject:
    return BpfObject.open_file(str(OBJECTS / name), log=Log(stream=None))


def _relos(obj: BpfObject) -> list:  # type: ignore[type-arg]
    assert obj.btf is not None and obj.btf_ext is not None
    return [r for sec in obj.btf_ext.core_relo for r in sec.records]


def _spec(obj: BpfObject, rec) -> str:  # type: ignore[no-untyped-def]
    return corelib.format_spec(corelib.parse_spec(obj.btf, rec))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    from emu.kernel import Kernel

    k = Kernel(modules=())
    yield k
    k.shutdown()


def test_facts_are_6_18_names() -> None:
    assert VERSION == (6, 18) and SOURCE_RELEASE.startswith("6.18")
    assert has_type("struct", "task_struct") and has_type("struct", "ethhdr")
    assert has_type("typedef", "btf_trace_kfree_skb") and has_type("enum", "bpf_map_type")
    assert not has_type("struct", "core_reloc_ints") and not has_type("struct", "bpf_testmod_test_read_ctx")
    assert not has_type("union", "task_struct")  # kinds are kept apart
    ts = member_names("struct", "task_struct")
    assert ts is not None and {"group_leader", "pid", "user_cpus_ptr"} <= ts and "fake_field" not in ts
    assert "BPF_MAP_TYPE_ARENA" in (member_names("enum", "bpf_map_type") or ())
    assert member_names("struct", "ext4_sb_info") is None  # only the emulated vmlinux's types are listed
    with pytest.raises(ValueError):
        has_type("func", "schedule")


@pytest.mark.parametrize("objname,want", [
    # no kernel has the core_reloc_* test types: libbpf poisons, as the emulated loader does
    ("test_core_reloc_ints.o", {"struct core_reloc_ints.u8_field": True}),
    # the real task_struct has no fake_field (flavor ___bad dropped)
    ("test_log_fixup.o", {"struct task_struct___bad.fake_field ": True,
                          "struct task_struct___bad.fake_field_subprog": True}),
    # group_leader is a real member: a real kernel resolves it (so does the emulated one now)
    ("test_core_reloc_kernel.o", {"struct task_struct.group_leader": False}),
    # an enum no kernel has
    ("test_core_reloc_enumval.o", {"enum named_enum::NAMED_ENUM_VAL1": True}),
])
def test_real_kernel_lacks(objname: str, want: dict[str, bool]) -> None:
    obj = _obj(objname)
    got: dict[str, bool] = {}
    for rec in _relos(obj):
        s = _spec(obj, rec)
        for key in want:
            if key in s + " ":
                got[key] = real_kernel_lacks(obj.btf, rec)  # type: ignore[arg-type]
    assert got == want


def test_type_id_local_never_needs_the_kernel() -> None:
    obj = _obj("test_core_reloc_type_id.o")
    local = [r for r in _relos(obj) if r.kind == corelib.TYPE_ID_LOCAL]
    assert local and not any(real_kernel_lacks(obj.btf, r) for r in local)  # type: ignore[arg-type]


def test_poisoned_relocation_absent_from_the_kernel_is_libbpfs_rejection(kernel) -> None:  # type: ignore[no-untyped-def]
    o = verify_program(str(OBJECTS / "test_core_autosize.o"), "handle_samesize", kernel=kernel)
    assert (o.verdict, o.errno) == ("rejected", 22)
    assert o.error_line == ("failed to resolve CO-RE relocation <byte_off> [5] struct "
                            "test_struct___samesize.ptr (0:0 @ offset 0)")
    assert "4: <invalid CO-RE relocation>" in o.log


def test_relocation_a_real_kernel_resolves_is_not_modelled(kernel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """task_struct.se is a real member the emulated task_struct leaves out (a hole,
    kernel_model.vmlinux_task): a relocation of it is refused as a gap, never answered."""
    from .conftest import compile_bpf

    src = tmp_path / "se.bpf.c"
    src.write_text(r'''
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
struct sched_entity { unsigned long long vruntime; } __attribute__((preserve_access_index));
struct task_struct { struct sched_entity se; } __attribute__((preserve_access_index));
SEC("tp_btf/task_newtask")
int BPF_PROG(read_vruntime, struct task_struct *task, unsigned long long clone_flags)
{
	return task->se.vruntime != 0;
}
''')
    o = verify_program(str(compile_bpf(src, tmp_path / "se.bpf.o")), "read_vruntime", kernel=kernel)
    assert o.verdict == "not_modelled"
    assert o.detail.startswith("kernel types the emulated BTF lacks: CO-RE relocation <byte_off>")
    assert "task_struct.se.vruntime" in o.detail


def test_facts_apply_only_to_6_18() -> None:
    from emu.kernel import Kernel
    from kernel_model.profile import get_profile

    k = Kernel(modules=(), profile=get_profile("6.12"))
    try:
        o = verify_program(str(OBJECTS / "test_core_autosize.o"), "handle_samesize", kernel=k)
    finally:
        k.shutdown()
    assert o.verdict == "not_modelled" and "test_struct___samesize.ptr" in o.detail


def test_module_tp_btf_target_absent_from_the_kernel_is_libbpfs_esrch(kernel) -> None:  # type: ignore[no-untyped-def]
    o = verify_program(str(OBJECTS / "test_module_attach.o"), "handle_tp_btf", kernel=kernel)
    assert (o.verdict, o.errno) == ("libbpf_error", 3)
    assert o.libbpf == "prog 'handle_tp_btf': failed to find kernel BTF type ID of 'bpf_testmod_test_read': -ESRCH"


@pytest.mark.kernel
def test_relocations_judged_absent_have_no_candidate_in_the_hosts_btf() -> None:
    """On a 6.18 host, every relocation of the corpus the facts judge absent finds no
    matching candidate in the running kernel's own vmlinux BTF either (what libbpf
    would see there)."""
    if not platform.release().startswith("6.18"):
        pytest.skip(f"the facts describe 6.18; this host runs {platform.release()}")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    from emu.host.hostsys import host_vmlinux_btf
    from emu.libbpf.kbtf import KernelBtf

    kb = KernelBtf(host_vmlinux_btf())
    judged = 0
    for name in ("test_core_reloc_ints.o", "test_log_fixup.o", "test_core_autosize.o",
                 "test_core_reloc_enumval.o", "test_core_reloc_nesting.o", "test_core_reloc_size.o"):
        obj = _obj(name)
        for rec in _relos(obj):
            if not real_kernel_lacks(obj.btf, rec):  # type: ignore[arg-type]
                continue
            judged += 1
            cands = corelib.find_cands(kb, obj.btf, rec.type_id)  # type: ignore[arg-type]
            res = corelib.calc_relo_insn(rec, 0, obj.btf, cands, "p", Log(stream=None))  # type: ignore[arg-type]
            assert not res.matched, (name, _spec(obj, rec))
    assert judged >= 6


def test_poisoned_kfunc_no_618_kernel_has_is_a_verdict() -> None:
    """libbpf poisons the call of a weak kfunc it cannot resolve (``<invalid kfunc call>``): a
    kfunc a real 6.18 vmlinux lacks too (test_log_fixup.o's ``bpf_nonexistent_kfunc``) is the
    real answer, compared; one 6.18 has and the emulated BTF lacks is a gap (not modelled), as
    is any poisoned map reference."""
    from emu.libbpf.per_prog import _only_kfuncs_no_618_kernel_has

    line = "kfunc '{}' is referenced but wasn't resolved"
    assert _only_kfuncs_no_618_kernel_has("0: <invalid kfunc call>\n" + line.format("bpf_nonexistent_kfunc"))
    assert not _only_kfuncs_no_618_kernel_has("0: <invalid kfunc call>\n" + line.format("bpf_session_cookie"))
    assert not _only_kfuncs_no_618_kernel_has("0: <invalid BPF map reference>\n" + line.format("bpf_nonexistent_kfunc"))
    assert not _only_kfuncs_no_618_kernel_has("0: <invalid kfunc call>\n")


def test_missing_kfunc_object_agrees_with_the_host() -> None:
    from emu.host.hostbpf import comparable_log
    from emu.kernel import Kernel
    from emu.libbpf.per_prog import verify_program
    from tests.corpus import object_path, program_labels

    rec = next(r for r in program_labels() if r.get("program") == "use_missing_kfunc")
    k = Kernel(modules=())
    try:
        o = verify_program(str(object_path(rec)), "use_missing_kfunc", kernel=k)
    finally:
        k.shutdown()
    assert (o.verdict, o.errno, comparable_log(o.error_line)) == (rec["verdict"], rec["errno"],
                                                                  comparable_log(rec["error_line"]))
