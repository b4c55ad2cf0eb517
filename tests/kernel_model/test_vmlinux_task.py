"""kernel_model.vmlinux_task: task_struct, cgroup, cgroup_subsys_state, css_set and kernfs_node
with the member offsets of the 6.18 build they were generated from (tools/gen_task_btf.py),
and the BTF_TYPE_SAFE_* tables of verifier.walk_trust against the running kernel's."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_model.btf import BTF, Composite, Ptr
from kernel_model.btf import structs as S
from kernel_model.profile import PROFILES
from kernel_model.subsystems import sched_ext
from kernel_model.vmlinux import REDUCED_STRUCTS, build_vmlinux_btf
from kernel_model.vmlinux_names import has_type
from kernel_model.vmlinux_task import MEMBERS, PARTIAL, SIZES, SOURCE_RELEASE

ROOT = Path(__file__).resolve().parents[2]


def _layout(btf: BTF, name: str) -> list[tuple[str, int, int]]:
    t = btf.get(name, S.KIND_STRUCT)
    assert isinstance(t, Composite), name
    return [(m.name, m.bits_offset, m.bitfield_size) for m in t.members]


@pytest.mark.parametrize("version", sorted({p.version for p in PROFILES.values()}))
def test_layouts_are_the_generated_facts_on_every_profile(version: tuple[int, int]) -> None:
    profile = next(p for p in PROFILES.values() if p.version == version)
    btf = build_vmlinux_btf(profile)
    for name, members in MEMBERS.items():
        got = _layout(btf, name)
        size = btf.size_of(btf.find(name, S.KIND_STRUCT))
        if name == "task_struct" and sched_ext.supported(profile):
            # sched_ext's scx goes after the host's last byte (that build has no sched_ext)
            assert got[-1] == ("scx", SIZES[name] * 8, 0)
            got = got[:-1]
            assert size > SIZES[name]
        else:
            assert size == SIZES[name], name
        assert got == list(members), name


def test_partial_structs_are_reduced_and_named_by_a_6_18_kernel() -> None:
    assert PARTIAL and PARTIAL <= set(MEMBERS)
    for name in MEMBERS:
        assert has_type("struct", name), name
    for name in PARTIAL:
        assert REDUCED_STRUCTS.get(name) is True, name


def test_pointer_members_keep_their_pointee() -> None:
    """The verifier's walk and the trusted/RCU tables need the pointee by name."""
    btf = build_vmlinux_btf()
    want = {("task_struct", "cgroups"): "css_set", ("task_struct", "group_leader"): "task_struct",
            ("task_struct", "real_parent"): "task_struct", ("task_struct", "cpus_ptr"): "cpumask",
            ("css_set", "dfl_cgrp"): "cgroup", ("cgroup", "kn"): "kernfs_node",
            ("cgroup_subsys_state", "cgroup"): "cgroup", ("task_struct", "task_works"): "callback_head"}
    for (sname, mname), pointee in want.items():
        t = btf.get(sname, S.KIND_STRUCT)
        assert isinstance(t, Composite)
        m = next(m for m in t.members if m.name == mname)
        p = btf.type_by_id(btf.skip_modifiers(m.type_id))
        assert isinstance(p, Ptr)
        tgt = btf.type_by_id(btf.skip_modifiers(p.type_id))
        assert (tgt.kind, tgt.name) == (S.KIND_STRUCT, pointee), (sname, mname)


@pytest.mark.kernel
def test_the_generator_reproduces_the_module_on_its_source_kernel() -> None:
    """tools/gen_task_btf.py run on the kernel the facts came from prints the committed
    module again (another build lays these structs out otherwise: skipped there)."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    if platform.release() != SOURCE_RELEASE:
        pytest.skip(f"the facts were generated on {SOURCE_RELEASE}; this host runs {platform.release()}")
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_task_btf.py")], capture_output=True, text=True,
                         check=True).stdout
    assert out == (ROOT / "kernel_model" / "vmlinux_task.py").read_text()


@pytest.mark.kernel
def test_safe_tables_are_the_running_kernels() -> None:
    """verifier.walk_trust's tables equal the ``<struct>__safe_<kind>`` types a 6.18
    kernel's BTF holds (BTF_TYPE_EMIT of BTF_TYPE_SAFE_*, kernel/bpf/verifier.c)."""
    from verifier import walk_trust as W

    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    if not platform.release().startswith("6.18"):
        pytest.skip(f"the tables are 6.18's; this host runs {platform.release()}")
    host = BTF.from_file("/sys/kernel/btf/vmlinux")
    tables = {"__safe_rcu": W.SAFE_RCU, "__safe_rcu_or_null": W.SAFE_RCU_OR_NULL,
              "__safe_trusted": W.SAFE_TRUSTED, "__safe_trusted_or_null": W.SAFE_TRUSTED_OR_NULL}
    got: dict[str, dict[str, dict[str, str]]] = {k: {} for k in tables}
    for _tid, t in host.iter_types():
        if t.kind != S.KIND_STRUCT or "__safe_" not in t.name:
            continue
        base, _, kind = t.name.rpartition("__safe_")
        fields = {}
        for m in t.members:
            p = host.type_by_id(host.skip_modifiers(m.type_id))
            assert isinstance(p, Ptr)
            fields[m.name] = host.type_by_id(host.skip_modifiers(p.type_id)).name
        got["__safe_" + kind][base] = fields
    assert got == tables
