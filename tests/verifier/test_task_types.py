"""Walking task_struct, cgroup, css_set and kernfs_node (kernel_model.vmlinux_task): the
members the emulated vmlinux keeps are read as the kernel reads them, a read into a hole
(a member left out) is not modelled, never answered. The answered cases are compared with
the running host (marked ``kernel``) where its BTF puts those members at the same offsets.
Offsets are read from the BTF, never written down."""

from __future__ import annotations

import errno as E
import os

import pytest

from kernel_model.asm import assemble
from kernel_model.btf import BTF, Composite
from kernel_model.btf import structs as BS
from kernel_model.vmlinux import REDUCED_STRUCTS, build_vmlinux_btf
from kernel_model.vmlinux_task import PARTIAL
from verifier import VerifierEnv, verify

TRACING, TRACE_RAW_TP = 26, 23
NOT_MODELLED = "not modelled by structops"


def _member_off(btf: BTF, path: str) -> int:
    """Byte offset of ``struct.member[.member...]`` (named members only)."""
    sname, *names = path.split(".")
    tid = btf.find(sname, BS.KIND_STRUCT)
    assert tid is not None, sname
    off = 0
    for name in names:
        t = btf.type_by_id(btf.skip_modifiers(tid))
        assert isinstance(t, Composite)
        m = next(m for m in t.members if m.name == name)
        off += m.bits_offset // 8
        tid = m.type_id
    return off


#: the member paths the programs below use
PATHS = ("task_struct.pid", "task_struct.comm", "task_struct.mm", "task_struct.cgroups", "task_struct.flags",
         "css_set.dfl_cgrp", "cgroup.kn", "kernfs_node.id", "cgroup.self.id", "cgroup.level")


def _offsets(btf: BTF) -> dict[str, int]:
    return {p: _member_off(btf, p) for p in PATHS}


def _hole(btf: BTF, name: str) -> int:
    """The first 8-aligned offset of ``struct name`` no member covers (a member left out)."""
    t = btf.get(name, BS.KIND_STRUCT)
    assert isinstance(t, Composite)
    covered = set()
    for m in t.members:
        start = m.bits_offset // 8
        end = start + (max(1, (m.bitfield_size + 7) // 8) if m.bitfield_size else btf.size_of(m.type_id))
        covered.update(range(start, end))
    return next(o for o in range(0, t.size, 8) if not covered & set(range(o, o + 8)))


def _env(btf: BTF, tp: str) -> VerifierEnv:
    tid = btf.find(f"btf_trace_{tp}", BS.KIND_TYPEDEF)
    assert tid is not None
    return VerifierEnv(prog_type=TRACING, expected_attach_type=TRACE_RAW_TP, attach_btf=btf, attach_btf_id=tid,
                       vmlinux_btf=btf)


def _answered(o: dict[str, int]) -> list[tuple[str, str, str, tuple[int, str] | None]]:
    """(id, tracepoint, program, answer: None accepted, else (errno, last line))."""
    task = "r2 = *(u64 *)(r1 +0)\n"
    comm, mm = o["task_struct.comm"], o["task_struct.mm"]
    return [
        ("pid", "task_newtask", task + f"r0 = *(u32 *)(r2 +{o['task_struct.pid']})\nexit", None),
        ("flags", "task_newtask", task + f"r0 = *(u32 *)(r2 +{o['task_struct.flags']})\nexit", None),
        ("comm", "task_newtask", task + f"r0 = *(u64 *)(r2 +{comm + 8})\nexit", None),
        ("comm_beyond", "task_newtask", task + f"r0 = *(u64 *)(r2 +{comm + 12})\nexit",
         (E.EACCES, f"access beyond the end of member comm (mend:{comm + 16}) in struct task_struct "
                    f"with off {comm + 12} size 8")),
        ("mm_half", "task_newtask", task + f"r0 = *(u32 *)(r2 +{mm})\nexit",
         (E.EACCES, f"cannot access ptr member mm with moff {mm} in struct task_struct with off {mm} size 4")),
        ("cgroups_chain", "task_newtask", task + f"r3 = *(u64 *)(r2 +{o['task_struct.cgroups']})\n"
         f"r4 = *(u64 *)(r3 +{o['css_set.dfl_cgrp']})\nr5 = *(u64 *)(r4 +{o['cgroup.kn']})\n"
         f"r0 = *(u64 *)(r5 +{o['kernfs_node.id']})\nexit", None),
        ("css_id", "cgroup_mkdir", f"r2 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r2 +{o['cgroup.self.id']})\nexit", None),
        ("level", "cgroup_mkdir", f"r2 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r2 +{o['cgroup.level']})\nexit", None),
        ("kn_write", "cgroup_mkdir", f"r2 = *(u64 *)(r1 +0)\nr3 = 0\n*(u64 *)(r2 +{o['cgroup.kn']}) = r3\n"
         "r0 = 0\nexit", (E.EACCES, "only read is supported")),
    ]


_BTF = build_vmlinux_btf()
_CASES = _answered(_offsets(_BTF))


@pytest.mark.parametrize("case", _CASES, ids=[c[0] for c in _CASES])
def test_members_are_walked_as_the_kernel_walks_them(case: tuple) -> None:  # type: ignore[type-arg]
    _id, tp, asm, want = case
    r = verify(assemble(asm), _env(_BTF, tp), log_level=2)
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == want, r.log


@pytest.mark.parametrize("name", sorted(PARTIAL))
def test_a_read_into_a_hole_is_not_modelled(name: str) -> None:
    """Every struct that lost members is reduced (REDUCED_STRUCTS): a read where the
    kernel's struct has a member the emulated one left out is refused as not modelled."""
    assert REDUCED_STRUCTS.get(name) is True
    hole = _hole(_BTF, name)
    if name == "task_struct":
        tp, prelude = "task_newtask", "r2 = *(u64 *)(r1 +0)\n"
    elif name == "cgroup":
        tp, prelude = "cgroup_mkdir", "r2 = *(u64 *)(r1 +0)\n"
    elif name == "cgroup_subsys_state":  # cgroup.self
        tp, prelude = "cgroup_mkdir", "r2 = *(u64 *)(r1 +0)\n"
    else:  # kernfs_node: cgroup->kn
        kn = _member_off(_BTF, "cgroup.kn")
        tp, prelude = "cgroup_mkdir", f"r3 = *(u64 *)(r1 +0)\nr2 = *(u64 *)(r3 +{kn})\n"
    r = verify(assemble(prelude + f"r0 = *(u64 *)(r2 +{hole})\nexit"), _env(_BTF, tp))
    assert not r.accepted and r.errno == E.EINVAL, r.log
    assert NOT_MODELLED in (r.error_line or ""), r.log


def test_a_pointer_to_a_struct_only_declared_is_not_modelled() -> None:
    """task->mm points to struct mm_struct, which the emulated vmlinux only declares: reading
    the pointer gives the kernel's PTR_TO_BTF_ID (as the host does; btf_access's rule for
    declared-only pointees), a walk into it is not modelled (its layout is not guessed)."""
    mm = _member_off(_BTF, "task_struct.mm")
    assert _BTF.find("mm_struct", BS.KIND_STRUCT) is None
    r = verify(assemble(f"r2 = *(u64 *)(r1 +0)\nr0 = *(u64 *)(r2 +{mm})\nr0 = 0\nexit"), _env(_BTF, "task_newtask"))
    assert r.accepted, r.log
    r = verify(assemble(f"r2 = *(u64 *)(r1 +0)\nr2 = *(u64 *)(r2 +{mm})\nr0 = *(u64 *)(r2 +8)\nr0 = 0\nexit"),
               _env(_BTF, "task_newtask"))
    assert not r.accepted and NOT_MODELLED in (r.error_line or ""), r.log
    assert "mm_struct" in (r.error_line or "")


def test_rcu_pointers_are_rcu() -> None:
    """task->cgroups, css_set->dfl_cgrp and cgroup->kn are BTF_TYPE_SAFE_RCU: rcu_ptr_ in a
    non-sleepable program."""
    o = _offsets(_BTF)
    asm = (f"r2 = *(u64 *)(r1 +0)\nr3 = *(u64 *)(r2 +{o['task_struct.cgroups']})\n"
           f"r4 = *(u64 *)(r3 +{o['css_set.dfl_cgrp']})\nr5 = *(u64 *)(r4 +{o['cgroup.kn']})\nr0 = 0\nexit")
    r = verify(assemble(asm), _env(_BTF, "task_newtask"), log_level=2)
    assert r.accepted, r.log
    assert "R3=rcu_ptr_css_set()" in r.log and "R4=rcu_ptr_cgroup()" in r.log, r.log
    assert "R5=rcu_ptr_kernfs_node()" in r.log, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("case", _CASES, ids=[c[0] for c in _CASES])
def test_members_are_walked_as_the_host_walks_them(case: tuple) -> None:  # type: ignore[type-arg]
    """The same programs on the running kernel, where its BTF has these members at the same
    offsets (another build's task_struct is laid out otherwise: skipped there)."""
    from emu.host.verdict import host_load

    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    host = BTF.from_file("/sys/kernel/btf/vmlinux")
    try:
        same = _offsets(host) == _offsets(_BTF)
    except (AssertionError, StopIteration):
        same = False
    if not same:
        pytest.skip("the running kernel lays these structs out otherwise than the 6.18 build modelled")
    _id, tp, asm, want = case
    env = _env(_BTF, tp)
    insns = assemble(asm)
    m = verify(insns, env, log_level=2)
    h = host_load(insns, env, log_level=2)
    assert (m.accepted, m.errno if not m.accepted else 0) == (h.accepted, h.errno if not h.accepted else 0), \
        f"host:\n{h.log}\nmodel:\n{m.log}"
    if not m.accepted:
        assert m.error_line == h.error_line
