"""struct_ops declarations, page packing and trampoline capacity.

The pure packing rule (kernel_model.tramp_pages) on sizes; drawn declarations
register; ``pages_needed`` agrees with the kernel's update algorithm run with
real trampolines (emu.kernel.planner.plan_pages) and with the emulated kernel's map
update (install_struct_ops + fill_struct_ops_map), E2BIG exactly past the limit;
capacity figures follow from the trampoline's parts; C text declares a type.
"""

from __future__ import annotations

import errno
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emu.kernel import Kernel
from emu.kernel.planner import declare_type, plan_pages, register_declared_type
from emu.testing import fill_struct_ops_map, install_struct_ops
from emu.testing.tramp_pages import (func_model_of, member_trampoline_sizes, page_packing, pages_needed, trampoline_bytes,
                             trampolines_per_page)
from jit.trampoline import BPF_INSN_SAFETY, CALL_DEPTH_ACCOUNTING_SIZE, ENDBR64
from kernel_model.cpu import PRESETS
from kernel_model.errors import ENOTSUPP, InputError, KernelError
from kernel_model.profile import get_profile
from kernel_model.struct_ops import STATE_INUSE, StructOpsRegistry
from kernel_model.struct_ops_decl import ArgDecl, DataMemberDecl, FuncMemberDecl, StructOpsDecl
from kernel_model.testing import struct_ops_declarations, trampoline_configs
from kernel_model.tramp_pages import PAGE_SIZE, needs_new_page, pack, pages_for, per_page
from kernel_model.vmlinux import build_vmlinux_btf
from tests.conftest import examples

# --- the packing rule on sizes ---------------------------------------------------------------------


def test_pack_is_greedy_in_order_and_never_reuses_a_page_end():
    p = pack([3000, 1000, 200, 4000, 96])
    # 3000+1000 fit in page 0 (96 left); 200 starts page 1; 4000 does not fit after it: page 2;
    # 96 fits after it exactly (4096) -- the 96 bytes left in page 0 are not reused
    assert p.slots == ((0, 0), (0, 3000), (1, 0), (2, 0), (2, 4000))
    assert p.pages == 3 and p.fits and p.errno == 0


def test_pack_overflow_is_where_the_kernel_says_e2big():
    p = pack([2048] * 5, max_pages=2)
    assert p.pages == 3 and not p.fits and p.errno == errno.E2BIG and p.overflow_at == 4
    assert pack([], max_pages=1).pages == 0 and pack([], max_pages=1).fits


@given(sizes=st.lists(st.integers(1, PAGE_SIZE), max_size=80), limit=st.integers(1, 10))
def test_pack_properties(sizes, limit):
    p = pack(sizes, max_pages=limit)
    used: dict[int, int] = {}
    for (page, off), size in zip(p.slots, sizes):
        assert off + size <= PAGE_SIZE  # never crosses a page
        assert off == used.get(page, 0)  # placed right after the previous one on its page
        used[page] = off + size
    assert p.pages == len(used)
    assert p.fits == (p.pages <= limit)
    if sizes and len(set(sizes)) == 1:
        assert p.pages == pages_for(len(sizes), sizes[0]) == math.ceil(len(sizes) / per_page(sizes[0]))


def test_needs_new_page_and_bad_sizes():
    assert needs_new_page(None, 1) and not needs_new_page(4000, 96) and needs_new_page(4000, 97)
    for bad in (0, PAGE_SIZE + 1, 1.5, True):
        with pytest.raises(InputError, match="trampoline"):
            per_page(bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="max_pages"):
        pack([1], max_pages=0)
    with pytest.raises(InputError, match="count"):
        pages_for(-1, 100)


# --- capacity figures ------------------------------------------------------------------------------

def test_the_host_figure_23_one_argument_trampolines_per_page():
    """171 bytes (107 of code, checked against 6.18 hosts by tests/emu, + 64 of safety)."""
    assert trampoline_bytes("int (*)(int)") == 171
    assert trampolines_per_page("int (*)(int)") == 23 == PAGE_SIZE // 171


@pytest.mark.parametrize("proto", ["void (*)(void)", "int (int)", "long (*)(long, long, long, long, long, long, long)",
                                   "int (*)(struct sock *s, unsigned short x)"])
def test_cpu_knobs_change_the_size_by_their_bytes(proto):
    """endbr64 under IBT once; call-depth accounting before each of the three calls."""
    base = trampoline_bytes(proto, cpu="amd-zen2")
    assert trampoline_bytes(proto, cpu=PRESETS["amd-zen2"].with_knobs(ibt=True)) == base + len(ENDBR64)
    cdt = PRESETS["amd-zen2"].with_knobs(call_depth_tracking=True)
    assert trampoline_bytes(proto, cpu=cdt) == base + 3 * CALL_DEPTH_ACCOUNTING_SIZE
    # a plain ret (1 byte) instead of jmp to the return thunk (5 bytes)
    assert trampoline_bytes(proto, cpu="none") == base - 4
    assert trampoline_bytes(proto, "6.8") == base  # the version does not change x86 trampolines
    assert trampoline_bytes(proto) > BPF_INSN_SAFETY


def test_models_from_every_spelling_agree():
    decl = FuncMemberDecl("m", "int", (ArgDecl("int"), ArgDecl("struct sock *", nullable=True)))
    desc = StructOpsDecl("sp_ops", (decl,)).register(StructOpsRegistry(), build_vmlinux_btf())
    fm = desc.member("m").func_model
    assert func_model_of("int (*)(int, struct sock *)").arg_size == fm.arg_size == (4, 8)
    sizes = {trampoline_bytes(x) for x in (fm, desc.member("m"), decl, "int (*)(int a, struct sock *b)")}
    assert len(sizes) == 1


@pytest.mark.parametrize("bad,msg", [
    ("int x", "not a C function prototype"),
    ("int (*)(struct nosuch x)", "arg0 type FWD is unsupported"),
    ("int (*)(int, int, int, int, int, int, int, int, int, int, int, int, int)", "Too many"),
    (42, "not a function model"),
])
def test_bad_prototypes_are_input_errors(bad, msg):
    with pytest.raises(InputError, match=msg):
        trampoline_bytes(bad)


def test_more_than_twelve_argument_registers_is_enotsupp_not_a_traceback():
    """Eleven arguments, two of them 16-byte structs by value: 13 registers.
    Registration accepts it (11 <= MAX_BPF_FUNC_ARGS); the trampoline cannot be built
    (__arch_prepare_bpf_trampoline: -ENOTSUPP), so neither can the map update."""
    args = tuple(ArgDecl("struct w_ops_pair") for _ in range(2)) + tuple(ArgDecl("long") for _ in range(9))
    decl = StructOpsDecl("w_ops", (FuncMemberDecl("m0", "int", args),),
                         prelude="struct w_ops_pair { long a; long b; };")
    with pytest.raises(KernelError) as ei:
        pages_needed(decl)
    assert ei.value.errno == ENOTSUPP
    with pytest.raises(KernelError) as ei:
        plan_pages(declare_type(decl.c_source(), get_profile("latest")), get_profile("latest"))
    assert ei.value.errno == ENOTSUPP


# --- drawn declarations ----------------------------------------------------------------------------

@settings(max_examples=examples(500), deadline=None)
@given(decl=struct_ops_declarations(max_args=12), profile=st.sampled_from(["6.8", "latest"]))
def test_drawn_declarations_register_with_what_they_declare(decl, profile):
    desc = decl.register(StructOpsRegistry(get_profile(profile)), build_vmlinux_btf(get_profile(profile)))
    assert [m.name for m in desc.members] == [m.name for m in decl.members]
    assert len(desc.members) <= 64
    for m, d in zip(desc.members, decl.members):
        assert m.is_func == d.is_func
        if d.is_func:
            assert m.supported and m.func_model.nr_args == len(d.args)
            nullable = {i for i, a in enumerate(d.args) if a.nullable}
            assert all(a.type.startswith("struct ") and a.type.endswith("*") for a in d.args if a.nullable)
            if profile == "latest":  # 6.8 had no __nullable
                assert {a.arg_no for a in m.arg_info} == nullable


@settings(max_examples=examples(300), deadline=None)
@given(decl=struct_ops_declarations(max_args=12),
       config=trampoline_configs(ibt=st.booleans(), call_depth_tracking=st.booleans()))
def test_pages_needed_is_what_the_kernel_update_does(decl, config):
    """plan_pages runs StructOpsMap.update with real trampolines in every member."""
    desc = decl.register(StructOpsRegistry(config.profile), build_vmlinux_btf(config.profile))
    packing = page_packing(desc, config.profile, cpu=config.cpu)
    plan = plan_pages(desc, config.profile, config.cpu)
    sizes = [s for _, s in member_trampoline_sizes(desc, config.profile, cpu=config.cpu)]
    assert [p.size for p in plan.placements] == sizes[:len(plan.placements)]
    if packing.fits:
        assert plan.error is None and plan.pages == packing.pages
        assert [(p.page, p.offset) for p in plan.placements] == list(packing.slots)
    else:
        assert plan.error.errno == errno.E2BIG and packing.errno == errno.E2BIG
        assert len(plan.placements) == packing.overflow_at  # the update stopped there


@settings(max_examples=examples(100) // 4, deadline=None)
@given(decl=struct_ops_declarations(max_members=48, max_args=6),
       config=trampoline_configs(profile_names=["6.8", "6.12", "latest"], ibt=st.booleans(),
                                 call_depth_tracking=st.booleans()),
       data=st.data())
def test_the_emulated_kernel_agrees_with_pages_needed(decl, config, data):
    members = None
    if data.draw(st.booleans(), label="subset"):
        names = [m.name for m in decl.func_members]
        members = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)), label="members")
    need = pages_needed(decl, config.profile, cpu=config.cpu, members=members)
    with Kernel(config.profile, cpu=config.cpu, modules=()) as k:
        ops = install_struct_ops(k, decl)
        assert (ops.module is not None) == config.profile.module_struct_ops
        with fill_struct_ops_map(k, ops, members=members) as filled:
            if need > config.max_pages:
                assert filled.errno == errno.E2BIG and filled.pages == 0
            else:
                assert filled.error is None and filled.pages == need and filled.state == STATE_INUSE
        ops.remove()
        assert k.objects() == []


def test_a_link_map_goes_ready_and_sleepable_members_load():
    decl = StructOpsDecl("l_ops", (FuncMemberDecl("a"), DataMemberDecl("d", "char", 16), FuncMemberDecl("b", "void")))
    with Kernel(get_profile("latest"), modules=()) as k:
        ops = install_struct_ops(k, decl, as_module=False)
        with fill_struct_ops_map(k, ops, link=True) as filled:
            assert filled.error is None and filled.state == 3  # READY
            assert set(filled.prog_fds) == {"a", "b"}
        with pytest.raises(InputError, match="no supported function member d"):
            fill_struct_ops_map(k, ops, members=["d"])


def test_module_types_need_a_6_9_kernel():
    decl = StructOpsDecl("m_ops", (FuncMemberDecl("a"),))
    with Kernel(get_profile("6.8"), modules=()) as k:
        with pytest.raises(InputError, match="6.9"):
            install_struct_ops(k, decl, as_module=True)


# --- C text ----------------------------------------------------------------------------------------

C_TEXT = """
struct helper { int x; };
struct txt_ops {
    int (*init)(struct helper *h);
    void (*tick)(int n, long t);
    char name[16];
};
int txt_ops__init(struct helper *h__nullable);
"""


def test_declare_type_from_text_is_the_decl_path(tmp_path):
    prof = get_profile("latest")
    from_text = declare_type(C_TEXT, prof)  # the struct is found: the only one with function pointers
    header = tmp_path / "txt.h"
    header.write_text(C_TEXT)
    from_file = register_declared_type(f"{header}:txt_ops", prof)
    assert [m.name for m in from_text.members] == [m.name for m in from_file.members] == ["init", "tick", "name"]
    assert from_text.member("init").arg_info and from_text.member("init").arg_info[0].arg_no == 0
    assert from_text.member("tick").func_model == from_file.member("tick").func_model
    assert pages_needed(C_TEXT) == 1 == pages_needed(from_text)


@pytest.mark.parametrize("text,name,msg", [
    ("struct a { int x; };", None, "no struct with a function-pointer member"),
    ("struct a { int (*f)(void); }; struct b { int (*g)(void); };", None, "several: a, b"),
    ("struct a { int (*f)(void); };", "zz", "no struct zz declared"),
])
def test_declare_type_errors_say_what(text, name, msg):
    with pytest.raises(InputError, match=msg) as ei:
        declare_type(text, get_profile("latest"), name=name, where="my.h")
    assert "my.h" in str(ei.value)


def test_pages_needed_members_knob_refuses_unknown_members():
    with pytest.raises(InputError, match="no supported function member nope"):
        pages_needed(C_TEXT, members=["nope"])
