"""The kernel selftests' struct_ops scenarios, reproduced on the emulated kernel through
the bpf() commands, with the outcome the selftest expects (Linux 6.12
tools/testing/selftests/bpf/prog_tests/<file> named in each test). The programs are
written here in kernel assembly after the selftests' BPF C (progs/<file>).
"""

from __future__ import annotations

import dataclasses
import errno
import struct

import pytest

from emu.kernel import Kernel
from emu.kernel.kobjects import KObject
from emu.machine.oops import Oops
from emu.kernel.syscall import ProgLoadError
from kernel_model.asm import assemble
from kernel_model.bpf_map import MAP_TYPE_ARRAY, MAP_TYPE_STRUCT_OPS
from kernel_model.btf import parse_c
from kernel_model.errors import ENOTSUPP, KernelError
from kernel_model.insn import Insn
from kernel_model.modules import ModuleSpec
from kernel_model.profile import Profile, get_profile
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.struct_ops import STATE_INIT, STATE_READY, StructOps
from kernel_model.uapi import BPF_F_LINK, BPF_F_SLEEPABLE, BPF_F_VTYPE_BTF_OBJ_FD, BPF_STRUCT_OPS



class Env:
    """A kernel plus the fds a scenario opens (closed at the end)."""

    def __init__(self, profile: str | Profile = "latest", modules: tuple[str, ...] = ("bpf_testmod",)) -> None:
        self.k = Kernel(get_profile(profile) if isinstance(profile, str) else profile, modules=modules)
        self.ubtf = self.k.btf_load(parse_c("int x;").to_bytes())

    def mod_fd(self, name: str = "bpf_testmod") -> int:
        return self.k.module_btf_fd(name)

    def load(self, type_name: str, member: str, src: str | list, *, flags: int = 0, log_level: int = 0,
             module: str | None = "auto") -> int:
        k = self.k
        d = k.struct_ops_type(type_name)
        obj_fd = 0
        if d.btf is not k.btf:
            obj_fd = self.mod_fd(d.ops.owner.name if module == "auto" else module)
        insns = assemble(src) if isinstance(src, str) else src
        return k.prog_load(insns, prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                           attach_btf_obj_fd=obj_fd, expected_attach_type=d.member(member).index,
                           prog_flags=flags, log_level=log_level)

    def st_map(self, type_name: str, progs: dict[str, int], data: dict[str, bytes] | None = None, *,
               link: bool = False, update: bool = True) -> int:
        k = self.k
        d = k.struct_ops_type(type_name)
        module = d.btf is not k.btf
        fd = k.map_create(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=d.value_size, max_entries=1,
                          map_flags=(BPF_F_LINK if link else 0) | (BPF_F_VTYPE_BTF_OBJ_FD if module else 0),
                          btf_fd=self.ubtf, btf_vmlinux_value_type_id=d.value_id,
                          value_type_btf_obj_fd=self.mod_fd(d.ops.owner.name) if module else 0, map_name=type_name)
        if update:
            k.map_update_elem(fd, bytes(4), self.value(type_name, progs, data))
        return fd

    def value(self, type_name: str, progs: dict[str, int], data: dict[str, bytes] | None = None) -> bytes:
        d = self.k.struct_ops_type(type_name)
        v = bytearray(d.value_size)
        for name, fd in progs.items():
            struct.pack_into("<Q", v, d.data_offset + d.member(name).offset, fd)
        for name, raw in (data or {}).items():
            off = d.data_offset + d.member(name).offset
            v[off:off + len(raw)] = raw
        return bytes(v)

    def array(self, size: int) -> int:
        return self.k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=size, max_entries=1)

    def u64s(self, fd: int, n: int) -> tuple[int, ...]:
        return struct.unpack_from(f"<{n}Q", self.k.map_lookup_elem(fd, bytes(4)))


def errno_of(fn, *args, **kw) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(KernelError) as ei:
        fn(*args, **kw)
    return ei.value.errno


# progs/dummy_st_ops_success.c, test_1: NULL check in asm, then read val and write 0x5a
DUMMY_TEST_1 = """
    r1 = *(u64 *)(r1 + 0)
    if r1 != 0 goto +2
    r0 = -218893067
    exit
    r0 = *(u32 *)(r1 + 0)
    r2 = 0x5a
    *(u32 *)(r1 + 0) = r2
    exit
"""


def dummy_test_2(args_map: int) -> str:
    """progs/dummy_st_ops_success.c test_2: test_2_args[] = {state->val, a1, a2, a3, a4},
    with the C conversions (int and char sign-extend, unsigned short zero-extends)."""
    return f"""
    r6 = r1
    r7 = map[fd:{args_map}][0]+0 ll
    r2 = *(u64 *)(r6 + 0)
    r2 = *(u32 *)(r2 + 0)
    r2 <<= 32
    r2 s>>= 32
    *(u64 *)(r7 + 0) = r2
    r2 = *(u64 *)(r6 + 8)
    r2 <<= 32
    r2 s>>= 32
    *(u64 *)(r7 + 8) = r2
    r2 = *(u64 *)(r6 + 16)
    r2 &= 0xffff
    *(u64 *)(r7 + 16) = r2
    r2 = *(u64 *)(r6 + 24)
    r2 <<= 56
    r2 s>>= 56
    *(u64 *)(r7 + 24) = r2
    r2 = *(u64 *)(r6 + 32)
    *(u64 *)(r7 + 32) = r2
    r0 = 0
    exit
    """


# --- prog_tests/dummy_st_ops.c ----------------------------------------------------------------------

def test_dummy_st_ops_attach_is_eopnotsupp():
    """dummy_st_ops_attach: bpf_dummy_init_member refuses every member: -EOPNOTSUPP."""
    e = Env()
    p = e.load("bpf_dummy_ops", "test_1", DUMMY_TEST_1)
    for link in (False, True):
        fd = e.st_map("bpf_dummy_ops", {}, link=link, update=False)
        assert errno_of(e.k.map_update_elem, fd, bytes(4), e.value("bpf_dummy_ops", {"test_1": p})) == \
            errno.EOPNOTSUPP
        st = e.k.fds.objects[fd].st_map
        assert st.state == STATE_INIT and st.image_pages == [] and st.progs == []
        assert e.k.map_lookup_elem(fd, bytes(4)) == bytes(st.desc.value_size)  # state 0, data 0: as the host


def test_dummy_init_ret_value_and_ptr_arg():
    """dummy_init_ret_value: test_1(NULL) returns 0xf2f3f4f5; dummy_init_ptr_arg: the
    state is copied in, the program's write (0x5a) copied back, val returned."""
    e = Env()
    fd = e.load("bpf_dummy_ops", "test_1", DUMMY_TEST_1)
    assert e.k.prog_test_run(fd, ctx_in=bytes(8)).retval == 0xF2F3F4F5
    state = e.k.user.alloc(struct.pack("<i", 0xBEEF))
    r = e.k.prog_test_run(fd, ctx_in=struct.pack("<Q", state))
    assert r.retval == 0xBEEF
    assert struct.unpack("<i", e.k.user.read(state, 4))[0] == 0x5A
    # ctx_in must be 8 * nr_args; an unmapped user pointer is -EFAULT
    assert errno_of(e.k.prog_test_run, fd, ctx_in=bytes(16)) == errno.EINVAL
    assert errno_of(e.k.prog_test_run, fd, ctx_in=struct.pack("<Q", 0x1000)) == errno.EFAULT


def test_dummy_multiple_args():
    """dummy_multiple_args: test_2 sees {&st, -100, 0x8a5f, 'c', 0x1234567887654321}."""
    e = Env()
    out = e.array(40)
    fd = e.load("bpf_dummy_ops", "test_2", dummy_test_2(out))
    st = e.k.user.alloc(struct.pack("<i", 7))
    args = [st, -100 & (2**64 - 1), 0x8A5F, ord("c"), 0x1234567887654321]
    e.k.prog_test_run(fd, ctx_in=struct.pack("<5Q", *args))
    assert e.u64s(out, 5) == (7, -100 & (2**64 - 1), 0x8A5F, ord("c"), 0x1234567887654321)
    # test_2's state is not __nullable: NULL is refused before any trampoline is built
    assert errno_of(e.k.prog_test_run, fd, ctx_in=struct.pack("<5Q", 0, *args[1:])) == errno.EINVAL


def test_dummy_sleepable_and_reject_null():
    """dummy_sleepable: test_sleepable takes a sleepable program (_sleepable enter/exit);
    dummy_sleepable_reject_null: its argument is not nullable, NULL is -EINVAL."""
    e = Env()
    src = "r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 0)\nr0 *= 2\nexit"
    fd = e.load("bpf_dummy_ops", "test_sleepable", src, flags=BPF_F_SLEEPABLE)
    st = e.k.user.alloc(struct.pack("<i", 21))
    assert e.k.prog_test_run(fd, ctx_in=struct.pack("<Q", st)).retval == 42
    assert errno_of(e.k.prog_test_run, fd, ctx_in=bytes(8)) == errno.EINVAL
    with pytest.raises(ProgLoadError) as ei:  # bpf_dummy_ops_check_member: test_1 is not sleepable
        e.load("bpf_dummy_ops", "test_1", src, flags=BPF_F_SLEEPABLE, log_level=1)
    assert ei.value.errno == errno.EINVAL


UNCHECKED_TEST_1 = "r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 0)\nexit"


def test_unchecked_nullable_deref_rejected_on_latest_oopses_on_6_8():
    """The nullable argument of test_1: latest refuses the unchecked load; 6.8 had no
    __nullable handling, accepts it, and the test run passes NULL: a kernel oops."""
    e = Env("latest")
    with pytest.raises(ProgLoadError) as ei:
        e.load("bpf_dummy_ops", "test_1", UNCHECKED_TEST_1, log_level=1)
    assert ei.value.errno == errno.EACCES
    assert ei.value.message == "R1 invalid mem access 'trusted_ptr_or_null_'"
    old = Env("6.8", modules=())
    fd = old.load("bpf_dummy_ops", "test_1", UNCHECKED_TEST_1)
    with pytest.raises(Oops) as oops:
        old.k.prog_test_run(fd, ctx_in=bytes(8))
    r = oops.value.report
    assert r.kind == "page fault" and r.address == 0 and r.access == "read" and r.bpf_insn == 1
    assert oops.value.text.startswith("BUG: kernel NULL pointer dereference, address: 0000000000000000")
    state = old.k.user.alloc(struct.pack("<i", 5))
    assert old.k.prog_test_run(fd, ctx_in=struct.pack("<Q", state)).retval == 5  # the kernel carries on


# --- prog_tests/test_struct_ops_maybe_null.c ----------------------------------------------------------

def _tgid_off() -> int:
    """task_struct.tgid's offset in the emulated vmlinux BTF (the 6.18 host's layout)."""
    from kernel_model.btf import structs as S
    from kernel_model.vmlinux import build_vmlinux_btf

    t = build_vmlinux_btf().get("task_struct", S.KIND_STRUCT)
    return next(m.bits_offset // 8 for m in t.members if m.name == "tgid")


def maybe_null_prog(out: int, checked: bool) -> str:
    """progs/struct_ops_maybe_null.c: if (task) tgid = task->tgid; (the _fail variant: no check)."""
    return f"""
    r1 = *(u64 *)(r1 + 8)
    {"if r1 == 0 goto out" if checked else ""}
    r1 = *(u32 *)(r1 + {_tgid_off()})
    r2 = map[fd:{out}][0]+0 ll
    *(u32 *)(r2 + 0) = r1
out:
    r0 = 0
    exit
    """


def test_maybe_null_checked_loads_and_runs_unchecked_is_refused():
    e = Env()
    out = e.array(8)
    with pytest.raises(ProgLoadError) as ei:
        e.load("bpf_testmod_ops", "test_maybe_null", maybe_null_prog(out, False), log_level=1)
    assert (ei.value.errno, ei.value.message) == (errno.EACCES, "R1 invalid mem access 'trusted_ptr_or_null_'")
    fd = e.load("bpf_testmod_ops", "test_maybe_null", maybe_null_prog(out, True))
    m = e.st_map("bpf_testmod_ops", {"test_maybe_null": fd}, link=True)
    link = e.k.link_create(m, attach_type=BPF_STRUCT_OPS)
    d = e.k.struct_ops_type("bpf_testmod_ops")
    task = KObject.new(e.k.machine, d.btf, "task_struct", pid=10, tgid=4242)
    assert e.k.call_struct_ops(m, "test_maybe_null", 1, task.addr) == 0
    assert e.u64s(out, 1)[0] & 0xFFFF_FFFF == 4242
    assert e.k.call_struct_ops(m, "test_maybe_null", 1, 0) == 0  # NULL: the program's check skips the load
    e.k.close(link)


# --- prog_tests/test_struct_ops_multi_pages.c ----------------------------------------------------------

def tramp_progs(e: Env) -> dict[str, int]:
    """progs/struct_ops_multi_pages.c: tramp_N(a) returns a (here a + N, to tell them apart)."""
    return {f"tramp_{n}": e.load("bpf_testmod_ops", f"tramp_{n}", f"r0 = *(u64 *)(r1 + 0)\nr0 += {n}\nexit")
            for n in range(1, 41)}


def test_multi_pages_forty_trampolines_load_attach_and_run():
    e = Env()
    fd = e.st_map("bpf_testmod_ops", tramp_progs(e), link=True)
    st = e.k.fds.objects[fd].st_map
    assert st.state == STATE_READY and len(st.image_pages) == 2  # over one page on x86
    link = e.k.link_create(fd, attach_type=BPF_STRUCT_OPS)
    for n in (1, 23, 24, 40):
        assert e.k.call_struct_ops(fd, f"tramp_{n}", 2) == 2 + n
    syms = {p.ksym for p in st.placements}
    assert "bpf__bpf_testmod_ops_tramp_40" in syms
    ks = e.k.machine.kallsyms
    assert ks.lookup(st.placements[-1].addr).name == "bpf__bpf_testmod_ops_tramp_40"  # 6.12+ ksyms
    e.k.close(link)
    e.k.close(fd)
    assert ks.find_symbol_by_name("bpf__bpf_testmod_ops_tramp_40") is None


def test_multi_pages_need_more_than_one_page_e2big_with_one():
    """The pre-6.9 limit (one page, as the 6.8 profile): 40 trampolines are -E2BIG and the
    update leaves nothing behind. (6.8 had no module struct_ops: a latest kernel with one page.)"""
    one = dataclasses.replace(get_profile("latest"), name="one-page", tramp_image_pages=1)
    e = Env(one)  # type: ignore[arg-type]
    fd = e.st_map("bpf_testmod_ops", {}, link=True, update=False)
    progs = tramp_progs(e)
    used = sum(sum(p.used) for p in e.k.machine.packs)
    assert errno_of(e.k.map_update_elem, fd, bytes(4), e.value("bpf_testmod_ops", progs)) == errno.E2BIG
    st = e.k.fds.objects[fd].st_map
    assert st.state == STATE_INIT and st.image_pages == [] and all(e.k.fds.objects[p].refcnt == 1
                                                                   for p in progs.values())
    assert sum(sum(p.used) for p in e.k.machine.packs) == used


# --- prog_tests/bad_struct_ops.c ------------------------------------------------------------------------

def test_bad_struct_ops_prog_reuse_across_types_and_unused_program():
    """invalid_prog_reuse: test_1 of bpf_testmod_ops in a bpf_testmod_ops2 map (libbpf stops
    it first; the kernel's own check is -EINVAL); unused_program: a struct_ops program that
    no map references loads with attach_btf_id 0: -ENOTSUPP."""
    e = Env()
    p = e.load("bpf_testmod_ops", "test_1", "r0 = 0\nexit")
    fd = e.st_map("bpf_testmod_ops2", {}, link=True, update=False)
    assert errno_of(e.k.map_update_elem, fd, bytes(4), e.value("bpf_testmod_ops2", {"test_1": p})) == errno.EINVAL
    with pytest.raises(ProgLoadError) as ei:
        e.k.prog_load(assemble("r0 = 0\nexit"), prog_type=PROG_TYPE_STRUCT_OPS)
    assert ei.value.errno == ENOTSUPP


def test_unsupported_ops_member_has_no_stub():
    """progs/unsupported_ops.c: 'attach to unsupported member unsupported_ops of struct bpf_testmod_ops'."""
    e = Env()
    with pytest.raises(ProgLoadError) as ei:
        e.load("bpf_testmod_ops", "unsupported_ops", "r0 = 0\nexit", log_level=1)
    assert ei.value.errno == ENOTSUPP
    assert ei.value.message == "attach to unsupported member unsupported_ops of struct bpf_testmod_ops"


# --- prog_tests/test_struct_ops_module.c ----------------------------------------------------------------

def module_progs(e: Env, out: int) -> tuple[int, int]:
    """progs/struct_ops_module.c: test_1 sets test_1_result; test_3 (the one put in test_2)
    sets test_2_result = a + b + 3."""
    t1 = e.load("bpf_testmod_ops", "test_1", f"""
        r1 = map[fd:{out}][0]+0 ll
        r2 = 0xdeadbeef ll
        *(u32 *)(r1 + 0) = r2
        r0 = 0
        exit""")
    t3 = e.load("bpf_testmod_ops", "test_2", f"""
        r2 = *(u64 *)(r1 + 0)
        r3 = *(u64 *)(r1 + 8)
        r2 += r3
        r2 += 3
        r1 = map[fd:{out}][0]+4 ll
        *(u32 *)(r1 + 0) = r2
        exit""")
    return t1, t3


def test_struct_ops_load_attach_and_the_module_pin():
    """test_struct_ops_load: reg() of bpf_testmod calls test_1() and test_2(4, data) with
    data = 13, so test_2_result is 20; the map's info names the module BTF; the module
    cannot be unloaded while a map of its type exists (-EWOULDBLOCK)."""
    e = Env()
    out = e.array(8)
    t1, t3 = module_progs(e, out)
    m = e.st_map("bpf_testmod_ops", {"test_1": t1, "test_2": t3}, {"data": struct.pack("<i", 13)}, link=True)
    link = e.k.link_create(m, attach_type=BPF_STRUCT_OPS)
    r1, r2 = struct.unpack_from("<II", e.k.map_lookup_elem(out, bytes(4)))
    assert (r1, r2) == (0xDEADBEEF, 4 + 13 + 3)
    info = e.k.map_info(m)
    bfd = e.k.btf_get_fd_by_id(info.btf_vmlinux_id)
    assert e.k.btf_info(bfd).name == "bpf_testmod"  # check_map_info
    e.k.close(bfd)
    assert errno_of(e.k.unload_module, "bpf_testmod") == errno.EWOULDBLOCK
    e.k.close(link)
    assert errno_of(e.k.unload_module, "bpf_testmod") == errno.EWOULDBLOCK  # the map still holds it
    e.k.close(m)
    e.k.unload_module("bpf_testmod")  # struct_ops programs hold the BTF, not the module (6.12 bpf_check)
    assert e.k.modules.modules == {}
    with pytest.raises(KernelError):
        e.k.struct_ops_type("bpf_testmod_ops")


def test_struct_ops_not_zeroed_data_members():
    """Data members other than the one init_member takes must be zero (-EINVAL); the
    `struct module *`-less testmod type takes `data` through init_member."""
    e = Env()
    fd = e.st_map("bpf_testmod_ops", {}, update=False)
    assert errno_of(e.k.map_update_elem, fd, bytes(4),
                    e.value("bpf_testmod_ops", {}, {"onebyte": b"\x01"})) == errno.EINVAL
    e.k.map_update_elem(fd, bytes(4), e.value("bpf_testmod_ops", {}, {"data": struct.pack("<i", 5)}))
    d = e.k.struct_ops_type("bpf_testmod_ops")
    st = e.k.fds.objects[fd].st_map
    assert struct.unpack("<i", e.k.machine.read(st.kdata_addr + d.member("data").offset, 4))[0] == 5


def test_detach_link():
    """test_detach_link: BPF_LINK_DETACH unregisters; the link fd lives on with no map
    (the selftest waits for EPOLLHUP, not modelled); detaching again succeeds; the map can
    be linked again."""
    e = Env()
    m = e.st_map("bpf_testmod_ops", {}, link=True)  # progs/struct_ops_detach.c: no programs
    link = e.k.link_create(m, attach_type=BPF_STRUCT_OPS)
    assert e.k.link_info(link).map_id == e.k.map_info(m).id
    e.k.link_detach(link)
    assert e.k.link_info(link).map_id == 0
    e.k.link_detach(link)
    assert errno_of(e.k.link_update, link, new_map_fd=m) == errno.EOPNOTSUPP  # bpf_testmod_ops has no update()
    again = e.k.link_create(m, attach_type=BPF_STRUCT_OPS)
    e.k.close(again)
    e.k.close(link)


def test_link_create_needs_a_ready_link_map():
    e = Env()
    plain = e.st_map("bpf_testmod_ops", {})  # registered at once (INUSE): no link
    assert errno_of(e.k.link_create, plain, attach_type=BPF_STRUCT_OPS) == errno.EINVAL
    unset = e.st_map("bpf_testmod_ops", {}, link=True, update=False)  # INIT
    assert errno_of(e.k.link_create, unset, attach_type=BPF_STRUCT_OPS) == errno.EINVAL
    ready = e.st_map("bpf_testmod_ops", {}, link=True)
    assert errno_of(e.k.link_create, ready, attach_type=BPF_STRUCT_OPS, flags=1) == errno.EINVAL
    assert errno_of(e.k.map_delete_elem, ready, bytes(4)) == errno.EOPNOTSUPP
    assert errno_of(e.k.map_update_elem, ready, bytes(4), e.value("bpf_testmod_ops", {})) == errno.EBUSY
    e.k.map_delete_elem(plain, bytes(4))
    assert errno_of(e.k.map_delete_elem, plain, bytes(4)) == errno.EINPROGRESS
    assert errno_of(e.k.map_update_elem, plain, bytes(4), e.value("bpf_testmod_ops", {}), 1) == errno.EINVAL
    assert errno_of(e.k.map_update_elem, plain, struct.pack("<I", 1), e.value("bpf_testmod_ops", {})) == errno.E2BIG


def test_link_update_tcp_congestion_ops():
    """BPF_LINK_UPDATE between two READY maps of one algorithm (tcp_update_congestion_control);
    bpf_testmod_ops has no update(): -EOPNOTSUPP; BPF_F_REPLACE with the wrong old map: -EPERM."""
    e = Env()
    ssthresh = e.load("tcp_congestion_ops", "ssthresh", "r0 = 2\nexit")
    avoid = e.load("tcp_congestion_ops", "cong_avoid", "exit")
    undo = e.load("tcp_congestion_ops", "undo_cwnd", "r0 = 3\nexit")
    progs = {"ssthresh": ssthresh, "cong_avoid": avoid, "undo_cwnd": undo}
    a = e.st_map("tcp_congestion_ops", progs, {"name": b"emu_ca\0"}, link=True)
    b = e.st_map("tcp_congestion_ops", progs, {"name": b"emu_ca\0"}, link=True)
    link = e.k.link_create(a, attach_type=BPF_STRUCT_OPS)
    assert errno_of(e.k.link_create, b, attach_type=BPF_STRUCT_OPS) == errno.EEXIST  # name registered
    assert errno_of(e.k.link_update, link, new_map_fd=b, old_map_fd=b, flags=4) == errno.EPERM
    assert errno_of(e.k.link_update, link, new_map_fd=b, old_map_fd=a) == errno.EINVAL  # old fd w/o REPLACE
    e.k.link_update(link, new_map_fd=b, old_map_fd=a, flags=4)
    assert e.k.link_info(link).map_id == e.k.map_info(b).id
    assert e.k.call_struct_ops(b, "undo_cwnd", 0) == 3
    assert errno_of(e.k.call_struct_ops, a, "undo_cwnd", 0) == errno.ENOENT  # a is not registered now
    t1 = e.st_map("bpf_testmod_ops", {}, link=True)
    t2 = e.st_map("bpf_testmod_ops", {}, link=True)
    tl = e.k.link_create(t1, attach_type=BPF_STRUCT_OPS)
    assert errno_of(e.k.link_update, tl, new_map_fd=t2) == errno.EOPNOTSUPP


# --- prog_tests/test_struct_ops_no_cfi.c ------------------------------------------------------------------

def test_no_cfi_module_registration():
    """bpf_test_no_cfi: a type without cfi_stubs is refused (-EINVAL, "has no cfi_stubs");
    with them it registers; the module unloads."""
    k = Kernel(modules=())
    c = "struct no_cfi_ops { int (*fn)(int x); };\nint no_cfi_ops__fn(int x);"
    with pytest.raises(KernelError) as ei:
        k.load_module(ModuleSpec("bpf_test_no_cfi", c, [StructOps("no_cfi_ops", {})], ("no_cfi_ops",)))
    assert ei.value.errno == errno.EINVAL and "has no cfi_stubs" in ei.value.message
    assert "bpf_test_no_cfi" not in k.modules.modules
    k.load_module(ModuleSpec("bpf_test_no_cfi", c, [StructOps("no_cfi_ops", {"fn": "no_cfi_ops__fn"})],
                             ("no_cfi_ops",)))
    assert k.struct_ops_type("no_cfi_ops").member("fn").supported
    k.unload_module("bpf_test_no_cfi")


def test_6_8_has_no_module_struct_ops():
    """Before 6.9 modules could not register struct_ops types: bpf_testmod's init fails."""
    k = Kernel(get_profile("6.8"))
    assert "bpf_testmod" not in k.modules.modules
    assert any("bpf_testmod" in line for line in k.dmesg)
    with pytest.raises(KernelError):
        k.struct_ops_type("bpf_testmod_ops")
    d = k.struct_ops_type("bpf_dummy_ops")
    ubtf = k.btf_load(parse_c("int x;").to_bytes())
    assert errno_of(k.map_create, map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=d.value_size,
                    max_entries=1, btf_fd=ubtf, btf_vmlinux_value_type_id=d.value_id,
                    map_flags=BPF_F_VTYPE_BTF_OBJ_FD) == errno.EINVAL  # the flag did not exist


# --- kfuncs of two modules -----------------------------------------------------------------------------------

def kfunc_test_1(btf_id: int) -> list:
    """test_1: return bpf_kfunc_common_test(42); off 1 = fd_array[1], the module's BTF."""
    return [Insn(0xB7, 1, 0, 0, 42), Insn(0x85, 0, 2, 1, btf_id), Insn(0x95)]


def test_kfunc_of_two_modules_binds_to_the_btf_the_program_names():
    """Two modules provide bpf_kfunc_common_test(int) (x + 1000 and x + 2000). The kernel
    binds a kfunc call by (BTF object, BTF id): fd_array[off] names the module, so with both
    loaded each program calls the kfunc of the BTF it was loaded with -- no ambiguity at
    the kernel level (libbpf picks the first module BTF, by id, that has the name). A
    program calling a module's kfunc holds that module."""
    k = Kernel(modules=("bpf_testmod", "bpf_testmod_alt"))
    d = k.struct_ops_type("bpf_testmod_ops")
    ubtf = k.btf_load(parse_c("int x;").to_bytes())
    results = {}
    for mod in ("bpf_testmod", "bpf_testmod_alt"):
        mfd = k.module_btf_fd(mod)
        kid = k.modules.modules[mod].kfunc_ids["bpf_kfunc_common_test"]
        prog = k.prog_load(kfunc_test_1(kid), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                           attach_btf_obj_fd=k.module_btf_fd("bpf_testmod"), expected_attach_type=0,
                           fd_array=[0, mfd])
        v = bytearray(d.value_size)
        struct.pack_into("<Q", v, d.data_offset + d.member("test_1").offset, prog)
        m = k.map_create(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=d.value_size, max_entries=1,
                         map_flags=BPF_F_VTYPE_BTF_OBJ_FD, btf_fd=ubtf, btf_vmlinux_value_type_id=d.value_id,
                         value_type_btf_obj_fd=k.module_btf_fd("bpf_testmod"))
        k.map_update_elem(m, bytes(4), bytes(v))
        results[mod] = (prog, m, k.call_struct_ops(m, "test_1"))
    assert results["bpf_testmod"][2] == 1042 and results["bpf_testmod_alt"][2] == 2042
    alt_prog, alt_map, _ = results["bpf_testmod_alt"]
    assert errno_of(k.unload_module, "bpf_testmod_alt") == errno.EWOULDBLOCK  # held by the program
    k.map_delete_elem(alt_map, bytes(4))
    k.close(alt_map)
    assert errno_of(k.unload_module, "bpf_testmod_alt") == errno.EWOULDBLOCK  # the fd still holds it
    k.close(alt_prog)
    k.unload_module("bpf_testmod_alt")
    # only bpf_testmod left: a load naming it works, one naming the unloaded BTF id fails
    kid = k.modules.modules["bpf_testmod"].kfunc_ids["bpf_kfunc_common_test"]
    k.prog_load(kfunc_test_1(kid), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                attach_btf_obj_fd=k.module_btf_fd("bpf_testmod"), fd_array=[0, k.module_btf_fd("bpf_testmod")])


def test_kfunc_module_loaded_alone():
    """With only the alternative module loaded, the same call binds to it."""
    k = Kernel(modules=("bpf_testmod_alt",))
    assert "bpf_testmod" not in k.modules.modules
    kid = k.modules.modules["bpf_testmod_alt"].kfunc_ids["bpf_kfunc_common_test"]
    # a program type that can call kfuncs without bpf_testmod's struct_ops: tcp_congestion_ops.ssthresh
    d = k.struct_ops_type("tcp_congestion_ops")
    prog = k.prog_load([Insn(0xB7, 1, 0, 0, 1), Insn(0x85, 0, 2, 1, kid), Insn(0x95)],
                       prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                       expected_attach_type=d.member("ssthresh").index, fd_array=[0, k.module_btf_fd("bpf_testmod_alt")])
    assert k.modules.modules["bpf_testmod_alt"].refcnt == 1
    k.close(prog)
    assert k.modules.modules["bpf_testmod_alt"].refcnt == 0


@pytest.mark.parametrize("profile,accepted", [("6.8", True), ("6.9", False), ("6.10", False), ("latest", False)])
def test_dummy_test_1_nullable_and_the_test_run_check(profile, accepted):
    """test_1's stub got cb__nullable and the test runner check_test_run_args in 1479eaff1f16 /
    980ca8ceeae6 (6.10, queued for 6.9.y stable; the 6.9 profile is that series' last stable):
    6.8 accepts the unchecked load and runs it on the NULL the test runner passes (an oops);
    later profiles refuse the load, and a NULL for test_2's non-nullable argument is -EINVAL
    before anything runs."""
    e = Env(profile, modules=())
    if not accepted:
        with pytest.raises(ProgLoadError) as ei:
            e.load("bpf_dummy_ops", "test_1", UNCHECKED_TEST_1)
        assert ei.value.errno == errno.EACCES
        fd = e.load("bpf_dummy_ops", "test_2", "r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 0)\nexit")
        assert errno_of(e.k.prog_test_run, fd, ctx_in=bytes(40)) == errno.EINVAL
        return
    fd = e.load("bpf_dummy_ops", "test_1", UNCHECKED_TEST_1)
    with pytest.raises(Oops):
        e.k.prog_test_run(fd, ctx_in=bytes(8))
    d = e.k.struct_ops_type("bpf_dummy_ops")
    assert d.ops.cfi_stubs["test_1"] == "bpf_dummy_test_1"  # the pre-nullable stub
