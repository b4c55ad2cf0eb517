"""struct_ops end to end, as properties: random ops types registered by a module (or
built in), a program in every function member, the map registered, every member
called through the emulated kernel (kernel-text indirect caller -> trampoline in
the map's image pages -> JIT'd program).

Checked for each drawn type: the trampolines never cross a page, the page count is
the one the kernel's greedy packing gives (computed here independently from the
trampoline sizes) and at most the profile's MAX_TRAMP_IMAGE_PAGES; E2BIG exactly
when that packing needs more pages, leaving nothing registered and nothing leaked;
each call runs the member's own program, which sees the arguments exactly as
passed in the registers (all 64 bits, narrow types included: no extension), and
returns its value (int members: the low 32 bits of rax).
"""

from __future__ import annotations

import errno
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emu.kernel import Kernel
from jit.trampoline import BPF_INSN_SAFETY, struct_ops_flags, trampoline_size
from kernel_model.asm import assemble
from kernel_model.bpf_map import MAP_TYPE_ARRAY, MAP_TYPE_STRUCT_OPS
from kernel_model.btf import parse_c
from kernel_model.errors import KernelError
from kernel_model.modules import ModuleSpec
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.struct_ops import STATE_INIT, STATE_INUSE, StructOps
from kernel_model.uapi import BPF_F_VTYPE_BTF_OBJ_FD, PAGE_SIZE
from kernel_model.vmlinux import add_value_type
from kernel_model.profile import get_profile

ARG_TYPES = ("int", "long", "unsigned char", "short", "unsigned long long", "struct rand_obj *")
RET_TYPES = ("void", "int", "long", "struct rand_obj *")
SLOT = 8 * 12  # bytes of the result map per member
#: what the emulated caller can pass (rdi, rsi, rdx, rcx, r8, r9)
CALLER_ARGS = 6
M64 = (1 << 64) - 1

_BASE = settings().max_examples


def examples(n: int) -> settings:
    """A quarter of the profile's budget (ci: 25; make test-long: 1250)."""
    return settings(max_examples=max(5, _BASE * n // 100), deadline=None)


@st.composite
def ops_types(draw, max_members: int = 64, max_args: int = CALLER_ARGS):  # type: ignore[no-untyped-def]
    """(return type, argument types) per member, 1..max_members members."""
    n = draw(st.integers(1, max_members))
    return [(draw(st.sampled_from(RET_TYPES)), tuple(draw(st.lists(st.sampled_from(ARG_TYPES), max_size=max_args))))
            for _ in range(n)]


def c_source(name: str, members: list[tuple[str, tuple[str, ...]]]) -> str:
    lines = ["struct rand_obj { int x; };", f"struct {name} {{"]
    stubs = []
    for i, (ret, args) in enumerate(members):
        params = ", ".join(f"{a} a{j}" for j, a in enumerate(args)) or "void"
        lines.append(f"    {ret} (*m{i})({params});")
        stubs.append(f"{ret} {name}__m{i}({params});")
    lines.append("};")
    return "\n".join(lines + stubs) + "\n"


def member_program(i: int, ret: str, nargs: int, map_fd: int) -> list:
    """Store every argument (u64 ctx slot) into the result map, return a value naming i."""
    body = [f"r6 = map[fd:{map_fd}][0]+{i * SLOT} ll"]
    for j in range(nargs):
        body += [f"r2 = *(u64 *)(r1 + {8 * j})", f"*(u64 *)(r6 + {8 * j}) = r2"]
    body.append(f"r0 = {expected_ret(i, ret)} ll" if ret == "long" else f"r0 = {expected_ret(i, ret)}")
    body.append("exit")
    return assemble("\n".join(body))


def expected_ret(i: int, ret: str) -> int:
    if ret == "int":
        return 1000 * i + 7
    if ret == "long":
        return 0x1234_5678_0000_0000 + i
    return 0  # a pointer member must return 0 (check_return_code); void: r0 unused


def greedy_pages(sizes: list[int]) -> int:
    """The packing of bpf_struct_ops_map_update_elem: a new page when the next
    trampoline does not fit in the rest of the current one."""
    pages, off = 0, PAGE_SIZE
    for s in sizes:
        if s > PAGE_SIZE - off:
            pages += 1
            off = 0
        off += s
    return pages


def machine_usage(k: Kernel) -> tuple[int, int]:
    m = k.machine
    return sum(sum(p.used) for p in m.packs), len(m.alloc.heap.used)


def run_every_member(k: Kernel, desc, members, *, btf_fd: int = 0, module: bool, draw_args) -> dict:  # type: ignore[no-untyped-def]
    """Load a program per member, create and update a plain map (registered at once), call
    every member; returns facts for the assertions. Cleans up everything it made."""
    opened: list[int] = []
    facts: dict = {"error": None}
    try:
        res_fd = k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=SLOT * len(members), max_entries=1)
        opened.append(res_fd)
        ubtf = k.btf_load(parse_c("int x;").to_bytes())
        opened.append(ubtf)
        value = bytearray(desc.value_size)
        for i, (ret, args) in enumerate(members):
            m = desc.member(f"m{i}")
            fd = k.prog_load(member_program(i, ret, len(args), res_fd), prog_type=PROG_TYPE_STRUCT_OPS,
                             attach_btf_id=desc.type_id, attach_btf_obj_fd=btf_fd, expected_attach_type=m.index)
            opened.append(fd)
            struct.pack_into("<Q", value, desc.data_offset + m.offset, fd)
        flags = BPF_F_VTYPE_BTF_OBJ_FD if module else 0
        sfd = k.map_create(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=desc.value_size, max_entries=1,
                           map_flags=flags, btf_fd=ubtf, btf_vmlinux_value_type_id=desc.value_id,
                           value_type_btf_obj_fd=btf_fd, map_name="rand_ops")
        opened.append(sfd)
        st_map = k.fds.objects[sfd].st_map
        try:
            k.map_update_elem(sfd, bytes(4), bytes(value))
        except KernelError as e:
            facts["error"] = e.errno
        facts["state"] = st_map.state
        facts["placements"] = list(st_map.placements) or list(st_map.attempted)
        facts["pages"] = len(st_map.image_pages)
        facts["calls"] = []
        if facts["error"] is None:
            assert st_map.state == STATE_INUSE
            for i, (ret, args) in enumerate(members):
                if len(args) > CALLER_ARGS:
                    continue
                vals = draw_args(len(args))
                r = k.call_struct_ops(sfd, f"m{i}", *vals)
                facts["calls"].append((i, ret, vals, r))
            facts["result"] = k.map_lookup_elem(res_fd, bytes(4))
            k.map_delete_elem(sfd, bytes(4))  # unreg: INUSE -> TOBEFREE
    finally:
        for fd in reversed(opened):
            k.close(fd)
    return facts


def check_facts(facts: dict, sizes: list[int], limit: int) -> None:
    need = greedy_pages(sizes)
    if need > limit:
        assert facts["error"] == errno.E2BIG
        assert facts["state"] == STATE_INIT and facts["pages"] == 0  # nothing registered, pages freed
        return
    assert facts["error"] is None
    assert facts["pages"] == need <= limit
    for p in facts["placements"]:
        assert p.offset + p.size <= PAGE_SIZE  # never crosses a page (size includes BPF_INSN_SAFETY)
        assert p.size == p.code_size + BPF_INSN_SAFETY
    for i, ret, vals, r in facts["calls"]:
        got = struct.unpack_from(f"<{len(vals)}Q", facts["result"], i * SLOT) if vals else ()
        assert got == tuple(v & M64 for v in vals), f"member m{i} saw other arguments"
        if ret == "int":
            assert r & 0xFFFF_FFFF == expected_ret(i, ret)
        elif ret != "void":
            assert r == expected_ret(i, ret)


def sizes_of(desc, members) -> list[int]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(len(members)):
        model = desc.member(f"m{i}").func_model
        out.append(trampoline_size(model, prog=0xFFFFC90000100000, flags=struct_ops_flags(model)))
    return out


@examples(25)
@given(members=ops_types(), data=st.data())
def test_module_types_run_every_member_on_latest(members, data):
    """A module registers a random ops type; every member runs through its trampoline. (A
    fresh kernel per example: the machine's alloc_percpu has no free, so one kernel's
    lifetime is bounded to about 1600 program loads.)"""
    with Kernel(get_profile("latest"), modules=()) as k:
        _module_example(k, members, data)


def _module_example(k: Kernel, members, data) -> None:  # type: ignore[no-untyped-def]
    base = machine_usage(k)
    spec = ModuleSpec("rand_mod", c_source("rand_ops", members),
                      [StructOps("rand_ops", {f"m{i}": f"rand_ops__m{i}" for i in range(len(members))})],
                      ("rand_ops",))
    mod = k.load_module(spec)
    try:
        desc = k.struct_ops_type("rand_ops")
        btf_fd = k.module_btf_fd("rand_mod")
        facts = run_every_member(k, desc, members, btf_fd=btf_fd, module=True,
                                 draw_args=lambda n: data.draw(st.lists(st.integers(0, M64), min_size=n, max_size=n)))
        k.close(btf_fd)
        check_facts(facts, sizes_of(desc, members), k.profile.tramp_image_pages)
        assert mod.refcnt == 0  # the map and the programs let go of the module
    finally:
        k.unload_module("rand_mod", force=True)
    assert machine_usage(k) == base  # no page, image or kmalloc block leaked


@pytest.mark.parametrize("profile", ["6.8", "latest"])
@examples(25)
@given(members=ops_types(max_args=12), data=st.data())
def test_builtin_types_pack_and_e2big_exactly(profile, members, data):
    """A built-in ops type (vmlinux BTF), up to 12 arguments: E2BIG exactly when the
    greedy packing needs more than the profile's pages (one on 6.8)."""
    with Kernel(get_profile(profile), modules=()) as k:
        parse_c(c_source("rand_ops", members), into=k.btf, where="rand_ops")
        add_value_type(k.btf, "rand_ops")
        desc = k.struct_ops.register(StructOps("rand_ops", {f"m{i}": f"rand_ops__m{i}" for i in range(len(members))}),
                                     k.btf)
        base = machine_usage(k)
        facts = run_every_member(k, desc, members, module=False,
                                 draw_args=lambda n: data.draw(st.lists(st.integers(0, M64), min_size=n, max_size=n)))
        check_facts(facts, sizes_of(desc, members), k.profile.tramp_image_pages)
        assert machine_usage(k) == base
        assert k.objects() == []


def test_a_type_that_fits_23_one_argument_members_per_page_on_6_8():
    """Acceptance figure: on this host's configuration 23 `int (*)(int)` members fit in
    one page (171 bytes each in the page); the 24th is E2BIG on 6.8."""
    for n, err in ((23, None), (24, errno.E2BIG)):
        members = [("int", ("int",))] * n
        with Kernel(get_profile("6.8"), modules=()) as k:
            parse_c(c_source("rand_ops", members), into=k.btf, where="rand_ops")
            add_value_type(k.btf, "rand_ops")
            desc = k.struct_ops.register(StructOps("rand_ops", {f"m{i}": f"rand_ops__m{i}" for i in range(n)}),
                                         k.btf)
            facts = run_every_member(k, desc, members, module=False, draw_args=lambda n: [5] * n)
            assert facts["error"] == err
            if err is None:
                assert facts["pages"] == 1 and len(facts["calls"]) == 23
                assert all(r & 0xFFFF_FFFF == 1000 * i + 7 for i, _, _, r in facts["calls"])


def test_struct_ops_value_type_lookup_errors():
    """bpf_struct_ops_map_alloc: an unknown value type id is -ENOTSUPP (524), a wrong
    value_size -EINVAL, btf_fd 0 (stdin) -EINVAL, a module BTF without the flag finds nothing."""
    with Kernel() as k:
        d = k.struct_ops_type("bpf_dummy_ops")
        ubtf = k.btf_load(parse_c("int x;").to_bytes())
        base = dict(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=d.value_size, max_entries=1, btf_fd=ubtf)

        def err(**kw):  # type: ignore[no-untyped-def]
            with pytest.raises(KernelError) as ei:
                k.map_create(**(base | kw))
            return ei.value.errno

        assert err(btf_vmlinux_value_type_id=d.type_id) == 524  # the ops type, not its value type
        assert err(btf_vmlinux_value_type_id=d.value_id, value_size=d.value_size + 8) == errno.EINVAL
        assert err(btf_vmlinux_value_type_id=d.value_id, btf_fd=0) == errno.EINVAL
        assert err(btf_vmlinux_value_type_id=d.value_id, max_entries=2) == errno.EINVAL
        assert err(btf_vmlinux_value_type_id=d.value_id, map_flags=1) == errno.EINVAL
        assert err(btf_vmlinux_value_type_id=0) == errno.EINVAL
        tm = k.struct_ops_type("bpf_testmod_ops")
        assert err(btf_vmlinux_value_type_id=tm.value_id, value_size=tm.value_size) == 524
        mfd = k.module_btf_fd("bpf_testmod")
        assert err(btf_vmlinux_value_type_id=tm.value_id, value_size=tm.value_size, map_flags=BPF_F_VTYPE_BTF_OBJ_FD,
                   value_type_btf_obj_fd=ubtf) == errno.EINVAL  # not a module BTF
        fd = k.map_create(**(base | dict(btf_vmlinux_value_type_id=tm.value_id, value_size=tm.value_size,
                                          map_flags=BPF_F_VTYPE_BTF_OBJ_FD, value_type_btf_obj_fd=mfd)))
        assert k.fds.objects[fd].st_map.desc is tm
