"""struct_ops registration, maps, links and trampoline page packing (pure: no machine).

Facts from kernel/bpf/bpf_struct_ops.c (Linux 6.12) and the 6.18 host; the
machine-level behaviour (calling members through trampolines) is tested in
tests/emu.
"""

from __future__ import annotations

import errno
import struct

import pytest
from hypothesis import given, settings, strategies as st

from jit.trampoline import X86StructOpsArch, trampoline_size
from kernel_model.btf import parse_c
from kernel_model.cpu import DEFAULT_CPU, PRESETS
from kernel_model.errors import KernelError
from kernel_model.modules import KfuncTable, ModuleRegistry
from kernel_model.profile import get_profile
from kernel_model.prog import PROG_TYPE_STRUCT_OPS, BpfProg
from kernel_model.struct_ops import STATE_INIT, STATE_INUSE, STATE_READY, STATE_TOBEFREE, StructOps, StructOpsRegistry
from kernel_model.struct_ops_map import BPF_F_LINK, PAGE_SIZE, StructOpsLink, StructOpsMap
from kernel_model.subsystems import dummy_ops, tcp_ca, testmod
from kernel_model.vmlinux import add_value_type, build_vmlinux_btf


class FakeMemory:
    """A dict of allocations standing in for the emulated machine."""

    def __init__(self) -> None:
        self.next = 0xFFFF888000000000
        self.next_page = 0xFFFFFFFFC0000000
        self.blocks: dict[int, bytearray] = {}
        self.pages: dict[int, bytearray] = {}
        self.protected: set[int] = set()

    def alloc(self, size: int) -> int:
        a = self.next
        self.next += (size + 63) // 64 * 64 + 64
        self.blocks[a] = bytearray(size)
        return a

    def free(self, addr: int) -> None:
        del self.blocks[addr]

    def alloc_image_page(self) -> int:
        a = self.next_page
        self.next_page += PAGE_SIZE
        self.pages[a] = bytearray(b"\xcc" * PAGE_SIZE)
        return a

    def free_image_page(self, addr: int) -> None:
        del self.pages[addr]
        self.protected.discard(addr)

    def protect_image_page(self, addr: int) -> None:
        self.protected.add(addr)

    def _find(self, addr: int, size: int) -> tuple[bytearray, int]:
        for table in (self.blocks, self.pages):
            for base, buf in table.items():
                if base <= addr and addr + size <= base + len(buf):
                    return buf, addr - base
        raise AssertionError(f"access outside allocations: {addr:#x}+{size}")

    def write(self, addr: int, data: bytes) -> None:
        buf, off = self._find(addr, len(data))
        buf[off:off + len(data)] = data

    def read(self, addr: int, size: int) -> bytes:
        buf, off = self._find(addr, size)
        return bytes(buf[off:off + size])


def make_kernel(profile="latest"):
    prof = get_profile(profile)
    btf = build_vmlinux_btf()
    reg = StructOpsRegistry(prof)
    reg.register(dummy_ops.make_ops(), btf)
    reg.register(tcp_ca.make_ops(), btf)
    mods = ModuleRegistry(btf, reg, KfuncTable(), module_struct_ops=prof.module_struct_ops)
    return prof, btf, reg, mods


class Progs:
    def __init__(self) -> None:
        self.by_fd: dict[int, BpfProg] = {}

    def add(self, desc, member: str, fd: int | None = None) -> int:
        m = desc.member(member)
        fd = fd or len(self.by_fd) + 3
        self.by_fd[fd] = BpfProg(id=100 + fd, prog_type=PROG_TYPE_STRUCT_OPS, insns=[], attach_btf=desc.btf,
                                 attach_btf_id=desc.type_id, expected_attach_type=m.index,
                                 addr=0xFFFFC90000100000 + fd * 0x1000, bpf_func=0xFFFFFFFFA0000000 + fd * 0x100)
        return fd

    def get(self, fd: int) -> BpfProg:
        if fd not in self.by_fd:
            raise KernelError(errno.EBADF, f"fd {fd} is not a program")
        return self.by_fd[fd]


def value_for(desc, fds: dict[str, int], data: dict[str, bytes] | None = None) -> bytes:
    v = bytearray(desc.value_size)
    for name, fd in fds.items():
        struct.pack_into("<Q", v, desc.data_offset + desc.member(name).offset, fd)
    for name, raw in (data or {}).items():
        off = desc.data_offset + desc.member(name).offset
        v[off:off + len(raw)] = raw
    return bytes(v)


def new_map(desc, prof, flags=0, mem=None, module=None, cpu=DEFAULT_CPU):
    return StructOpsMap(desc, 1, flags, mem or FakeMemory(), X86StructOpsArch(prof, cpu=cpu), prof.tramp_image_pages,
                        module=module)


# --- registration --------------------------------------------------------------------------

def test_dummy_ops_registration_matches_the_host():
    prof, btf, reg, _ = make_kernel()
    d = reg.by_name("bpf_dummy_ops")
    assert (d.size, d.value_size, d.data_offset) == (24, 128, 64)
    assert [m.name for m in d.members] == ["test_1", "test_2", "test_sleepable"]
    assert d.member("test_2").func_model.arg_size == (8, 4, 2, 1, 8)
    (info,) = d.member("test_1").arg_info  # cb__nullable
    assert info.arg_no == 0 and btf.type_by_id(info.btf_id).name == "bpf_dummy_ops_state"
    assert d.member("test_2").arg_info == ()


def test_profile_6_8_has_no_nullable_info():
    _, _, reg, _ = make_kernel("6.8")
    assert reg.by_name("bpf_dummy_ops").member("test_1").arg_info == ()


@pytest.mark.parametrize("c,ops_kw,msg,err", [
    ("struct foo { int (*f)(void); };", {}, "Cannot find struct bpf_struct_ops_foo in vmlinux", errno.EINVAL),
    ("struct foo { int b : 4; int (*f)(void); }; int foo__f(void);", {},
     "bit field member b in struct foo is not supported", errno.EOPNOTSUPP),
    ("struct foo { struct { int a; }; int (*f)(void); }; int foo__f(void);", {},
     "anon member in struct foo is not supported", errno.EOPNOTSUPP),
    ("struct foo { int (*f)(void); };", {"cfi_stubs": {}}, "struct_ops for foo has no cfi_stubs", errno.EINVAL),
    ("struct foo { struct bpf_dummy_ops_state (*f)(void); }; struct bpf_dummy_ops_state foo__f(void);", {},
     "Error in parsing func ptr f in struct foo", errno.EINVAL),
    ("struct foo { int (*f)(int s); }; int foo__f(int x__nullable);", {},
     "stub function foo__f has __nullable tagging to an unsupported type", errno.EINVAL),
    ("struct foo { int (*f)(struct sock *s); }; int foo__f(struct task_struct *x__nullable);", {},
     "arg#0 type in stub function foo__f does not match with its original func_proto", errno.EINVAL),
    ("struct foo { int (*f)(int a); }; int foo__f(int a, int b);", {},
     "the number of arguments of the stub function foo__f does not match", errno.EINVAL),
])
def test_registration_refusals(c, ops_kw, msg, err):
    prof, btf, reg, _ = make_kernel()
    parse_c(c, into=btf)
    if "Cannot find struct bpf_struct_ops_foo" not in msg:
        add_value_type(btf, "foo")
    kw = {"cfi_stubs": {"f": "foo__f"}} | ops_kw
    with pytest.raises(KernelError) as ei:
        reg.register(StructOps(name="foo", **kw), btf)
    assert ei.value.errno == err and msg in ei.value.message
    assert reg.dmesg[-1] == ei.value.message


def test_more_than_64_members_refused():
    prof, btf, reg, _ = make_kernel()
    members = "\n".join(f"int (*f{i})(void);" for i in range(65))
    parse_c(f"struct big {{ {members} }};", into=btf)
    add_value_type(btf, "big")
    with pytest.raises(KernelError, match="Cannot support #65 members in struct big"):
        reg.register(StructOps(name="big", cfi_stubs={"f0": "x"}), btf)


def test_registering_twice_is_eexist():
    prof, btf, reg, _ = make_kernel()
    with pytest.raises(KernelError) as ei:
        reg.register(dummy_ops.make_ops(), btf)
    assert ei.value.errno == errno.EEXIST


# --- maps ------------------------------------------------------------------------------------

def test_dummy_ops_update_is_eopnotsupp_and_resets():
    prof, btf, reg, _ = make_kernel()
    d = reg.by_name("bpf_dummy_ops")
    progs = Progs()
    m = new_map(d, prof)
    with pytest.raises(KernelError) as ei:
        m.update(0, value_for(d, {"test_1": progs.add(d, "test_1")}), 0, progs.get)
    assert ei.value.errno == errno.EOPNOTSUPP
    assert m.state == STATE_INIT and not any(m.uvalue) and not m.image_pages


@pytest.mark.parametrize("key,flags,mutate,err", [
    (1, 0, None, errno.E2BIG),
    (0, 1, None, errno.EINVAL),
    (0, 0, lambda v: v.__setitem__(8, 1), errno.EINVAL),          # hole between common and data
    (0, 0, lambda v: v.__setitem__(4, 1), errno.EINVAL),          # common.state
    (0, 0, lambda v: v.__setitem__(64 + 8, 1), errno.EINVAL),      # padding after bpf_testmod_ops2's only member
])
def test_update_input_checks(key, flags, mutate, err):
    prof, btf, reg, mods = make_kernel()
    mods.load(testmod.make_testmod())
    d = reg.by_name("bpf_testmod_ops2")
    v = bytearray(value_for(d, {}))
    if mutate:
        mutate(v)
    m = new_map(d, prof)
    with pytest.raises(KernelError) as ei:
        m.update(key, bytes(v), flags, Progs().get)
    assert ei.value.errno == err


def test_testmod_plain_map_lifecycle_calls_reg_and_unreg():
    prof, btf, reg, mods = make_kernel()
    mods.load(testmod.make_testmod())
    d = reg.by_name("bpf_testmod_ops")
    progs = Progs()
    calls = []
    m = new_map(d, prof)
    m.invoke = lambda fn, args: calls.append((fn, args)) or 0
    fds = {"test_1": progs.add(d, "test_1"), "test_2": progs.add(d, "test_2")}
    m.update(0, value_for(d, fds, {"data": struct.pack("<i", 13)}), 0, progs.get)
    assert m.state == STATE_INUSE
    # reg() called test_1() then test_2(4, data) through the kernel-side pointers
    assert calls == [(m.placements[0].addr, ()), (m.placements[1].addr, (4, 13))]
    # the user value now shows prog ids, the kernel value trampoline addresses
    uv = m.lookup()
    assert struct.unpack_from("<Q", uv, 64)[0] == progs.by_fd[fds["test_1"]].id
    assert struct.unpack_from("<iI", uv, 0) == (1, STATE_INUSE)
    with pytest.raises(KernelError) as ei:
        m.update(0, value_for(d, fds), 0, progs.get)
    assert ei.value.errno == errno.EBUSY
    m.delete()
    assert m.state == STATE_TOBEFREE
    assert pytest.raises(KernelError, m.delete).value.errno == errno.EINPROGRESS


def test_wrong_member_prog_is_einval():
    prof, btf, reg, mods = make_kernel()
    mods.load(testmod.make_testmod())
    d = reg.by_name("bpf_testmod_ops")
    progs = Progs()
    fd = progs.add(d, "test_2")
    with pytest.raises(KernelError) as ei:
        new_map(d, prof).update(0, value_for(d, {"test_1": fd}), 0, progs.get)
    assert ei.value.errno == errno.EINVAL


def test_nonzero_data_member_needs_init_member():
    prof, btf, reg, mods = make_kernel()
    mods.load(testmod.make_testmod())
    d = reg.by_name("bpf_testmod_ops")
    progs = Progs()
    with pytest.raises(KernelError) as ei:
        new_map(d, prof).update(0, value_for(d, {}, {"onebyte": b"\x01"}), 0, progs.get)
    assert ei.value.errno == errno.EINVAL
    new_map(d, prof).update(0, value_for(d, {}, {"data": b"\x05"}), 0, progs.get)  # data is taken


def test_link_map_lifecycle():
    prof, btf, reg, mods = make_kernel()
    d = reg.by_name("tcp_congestion_ops")
    progs = Progs()
    fds = {n: progs.add(d, n) for n in ("ssthresh", "cong_avoid", "undo_cwnd")}
    m1 = new_map(d, prof, flags=BPF_F_LINK)
    m1.update(0, value_for(d, fds, {"name": b"emu_cc\0"}), 0, progs.get)
    assert m1.state == STATE_READY
    with pytest.raises(KernelError) as ei:
        m1.delete()
    assert ei.value.errno == errno.EOPNOTSUPP
    link = StructOpsLink.create(1, m1)
    assert "emu_cc" in d.ops.private["registered"]
    m2 = new_map(d, prof, flags=BPF_F_LINK)
    m3 = new_map(d, prof, flags=BPF_F_LINK)
    assert pytest.raises(KernelError, link.update, m3).value.errno == errno.EINVAL  # not READY
    # bpf_tcp_ca_init_member (6.12) does not look at registered names: a second map of the
    # same name goes READY; registering it beside the first is -EEXIST (the jhash key exists)
    m2.update(0, value_for(d, fds, {"name": b"emu_cc\0"}), 0, progs.get)
    assert m2.state == STATE_READY
    assert pytest.raises(KernelError, StructOpsLink.create, 2, m2).value.errno == errno.EEXIST
    # ... but it replaces the first through the link (tcp_update_congestion_control)
    link.update(m2)
    assert link.map is m2 and d.ops.private["registered"]["emu_cc"].addr == m2.kdata_addr
    link.detach()
    assert "emu_cc" not in d.ops.private["registered"]
    assert pytest.raises(KernelError, link.update, m1).value.errno == errno.ENOLINK


def test_tcp_ca_names_checked_as_the_kernel_does():
    """init_member: bpf_obj_name_cpy refuses an empty or unterminated name and bad characters;
    reg refuses the name of a built-in algorithm (cubic on the host)."""
    prof, btf, reg, mods = make_kernel()
    d = reg.by_name("tcp_congestion_ops")
    progs = Progs()
    fds = {n: progs.add(d, n) for n in ("ssthresh", "cong_avoid", "undo_cwnd")}
    for bad in (b"\0", b"a-b\0", b"x" * 16):
        with pytest.raises(KernelError) as ei:
            new_map(d, prof).update(0, value_for(d, fds, {"name": bad}), 0, progs.get)
        assert ei.value.errno == errno.EINVAL, bad
    with pytest.raises(KernelError) as ei:
        new_map(d, prof).update(0, value_for(d, fds, {"name": b"cubic\0"}), 0, progs.get)
    assert ei.value.errno == errno.EEXIST
    with pytest.raises(KernelError) as ei:  # TCP_CONG_MASK is 0x3
        new_map(d, prof).update(0, value_for(d, fds, {"name": b"ok\0", "flags": b"\4\0\0\0"}), 0, progs.get)
    assert ei.value.errno == errno.EINVAL


def test_tcp_ca_validate_needs_required_members():
    prof, btf, reg, mods = make_kernel()
    d = reg.by_name("tcp_congestion_ops")
    progs = Progs()
    with pytest.raises(KernelError) as ei:
        new_map(d, prof).update(0, value_for(d, {"ssthresh": progs.add(d, "ssthresh")}, {"name": b"x\0"}), 0,
                                progs.get)
    assert ei.value.errno == errno.EINVAL


# --- pages --------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile,pages,err", [("latest", 2, None), ("6.9", 2, None), ("6.8", 1, errno.E2BIG)])
def test_forty_trampolines_need_two_pages(profile, pages, err):
    """Selftest struct_ops_multi_pages: 40 one-argument members load on 6.9+ (two pages on x86)."""
    prof = get_profile(profile)
    btf = build_vmlinux_btf()
    reg = StructOpsRegistry(prof)
    mods = ModuleRegistry(btf, reg, KfuncTable(), module_struct_ops=True)  # the type itself, on any profile
    mods.load(testmod.make_testmod())
    d = reg.by_name("bpf_testmod_ops")
    progs = Progs()
    fds = {f"tramp_{i}": progs.add(d, f"tramp_{i}") for i in range(1, 41)}
    mem = FakeMemory()
    m = new_map(d, prof, flags=BPF_F_LINK, mem=mem)
    if err:
        with pytest.raises(KernelError) as ei:
            m.update(0, value_for(d, fds), 0, progs.get)
        assert ei.value.errno == err
        assert not mem.pages and not m.image_pages  # nothing leaked
        return
    m.update(0, value_for(d, fds), 0, progs.get)
    assert len(m.image_pages) == pages
    assert [p.page for p in m.placements].count(0) == 23  # 171 bytes each: 23 per page


@st.composite
def struct_ops_types(draw):
    n = draw(st.integers(1, 64))
    argtypes = st.sampled_from(["int", "long", "char", "unsigned short", "struct sock *", "void *"])
    members, stubs = [], []
    for i in range(n):
        ret = draw(st.sampled_from(["void", "int", "struct sock *"]))
        args = draw(st.lists(argtypes, min_size=0, max_size=12))
        params = ", ".join(f"{a} a{j}" for j, a in enumerate(args)) or "void"
        members.append(f"{ret} (*m{i})({params});")
        stubs.append(f"{ret} rnd__m{i}({params});")
    return "struct rnd {\n" + "\n".join(members) + "\n};\n" + "\n".join(stubs)


@settings(max_examples=40, deadline=None)
@given(struct_ops_types(), st.sampled_from(["latest", "6.8"]), st.sampled_from(sorted(PRESETS)))
def test_page_packing_properties(c, profile, preset):
    prof = get_profile(profile)
    cpu = PRESETS[preset]
    btf = build_vmlinux_btf()
    parse_c(c, into=btf)
    add_value_type(btf, "rnd")
    reg = StructOpsRegistry(prof)
    n = c.count("(*m")
    d = reg.register(StructOps(name="rnd", cfi_stubs={f"m{i}": f"rnd__m{i}" for i in range(n)}), btf)
    progs = Progs()
    fds = {m.name: progs.add(d, m.name) for m in d.members}
    # what the kernel would need: greedy packing of the sizes, in member order
    pages, off = 0, None
    for m in d.members:
        size = trampoline_size(m.func_model, prog=progs.get(fds[m.name]).addr, profile=prof, cpu=cpu)
        if off is None or size > PAGE_SIZE - off:
            pages, off = pages + 1, 0
        off += size
    mem = FakeMemory()
    mp = new_map(d, prof, flags=BPF_F_LINK, mem=mem, cpu=cpu)
    if pages > prof.tramp_image_pages:
        with pytest.raises(KernelError) as ei:
            mp.update(0, value_for(d, fds), 0, progs.get)
        assert ei.value.errno == errno.E2BIG
        assert not mem.pages
        return
    mp.update(0, value_for(d, fds), 0, progs.get)
    assert len(mp.image_pages) == pages <= prof.tramp_image_pages
    for p in mp.placements:
        assert p.offset + p.size <= PAGE_SIZE  # never crosses a page
        assert p.code_size + 64 == p.size
        page = mp.image_pages[p.page]
        assert mem.pages[page][p.offset:p.offset + p.code_size] == mem.read(p.addr, p.code_size)
    assert set(mem.protected) == set(mp.image_pages)
