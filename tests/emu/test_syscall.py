"""The emulated bpf() commands: fds, ids and references, BTF objects, maps, programs.

Expected errnos are the kernel's (Linux 6.12 sources named in emu/kernel/syscall.py,
emu/kernel/bpf_maps.py, emu/kernel/test_run.py); the host-oracle comparisons are in
test_syscall_oracle.py.
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from emu.kernel.syscall import ProgLoadError
from kernel_model.asm import assemble
from kernel_model.bpf_map import MAP_TYPE_ARRAY, MAP_TYPE_HASH
from kernel_model.btf import BTF, parse_c
from kernel_model.errors import ENOTSUPP, KernelError
from kernel_model.insn import encode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL
from kernel_model.uapi import BPF_EXIST, BPF_F_NO_PREALLOC, BPF_F_RDONLY, BPF_NOEXIST



@pytest.fixture
def k():
    kern = Kernel()
    yield kern
    kern.shutdown()


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(KernelError) as ei:
        fn(*args, **kw)
    return ei.value.errno


def user_btf() -> bytes:
    return parse_c("struct pair { int a; long b; };").to_bytes()


# --- file descriptors and BTF objects -------------------------------------------------------------

def test_btf_ids_walk_finds_vmlinux_then_the_module(k):
    """libbpf's module BTF discovery: btf_get_next_id / btf_get_fd_by_id / btf_info."""
    seen = []
    bid = 0
    while True:
        try:
            bid = k.btf_get_next_id(bid)
        except KernelError as e:
            assert e.errno == errno.ENOENT
            break
        fd = k.btf_get_fd_by_id(bid)
        info = k.btf_info(fd)
        seen.append((info.id, info.name, info.kernel_btf))
        k.close(fd)
    assert seen == [(1, "vmlinux", True), (2, "bpf_testmod", True)]
    fd = k.module_btf_fd("bpf_testmod")
    data = k.btf_info(fd).data
    split = BTF.from_bytes(data, base=k.btf, where="bpf_testmod")  # split BTF on vmlinux
    assert split.find("bpf_testmod_ops") is not None


def test_btf_load_validates_and_user_btf_ids_follow(k):
    fd = k.btf_load(user_btf())
    info = k.btf_info(fd)
    assert (info.id, info.name, info.kernel_btf) == (3, "", False)
    bad = bytearray(user_btf())
    bad[0] ^= 0xFF  # magic
    with pytest.raises(KernelError) as ei:
        k.btf_load(bytes(bad), log_level=1)
    assert ei.value.errno == errno.EINVAL and ei.value.log  # type: ignore[attr-defined]
    k.close(fd)
    assert errno_of(k.btf_get_fd_by_id, 3) == errno.ENOENT  # the last reference went
    assert errno_of(k.btf_info, fd) == errno.EBADF


def test_fd_kinds_stdin_and_closed_fds(k):
    assert errno_of(k.btf_info, 0) == errno.EINVAL  # stdin is open but not a BTF
    assert errno_of(k.btf_info, 99) == errno.EBADF
    m = k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=1)
    assert errno_of(k.btf_info, m) == errno.EINVAL  # a map fd where a BTF fd is expected
    assert errno_of(k.close, 99) == errno.EBADF
    k.close(m)
    assert k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=1) == m  # lowest free fd


# --- array maps -----------------------------------------------------------------------------------

@pytest.mark.parametrize("attrs", [dict(key_size=8), dict(value_size=0), dict(max_entries=0),
                                   dict(map_flags=BPF_F_NO_PREALLOC)])
def test_array_alloc_check(k, attrs):
    kw = dict(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=4) | attrs
    assert errno_of(k.map_create, **kw) == errno.EINVAL


def test_array_update_lookup_and_errors(k):
    fd = k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=12, max_entries=4, map_name="arr")
    key = struct.pack("<I", 2)
    assert k.map_lookup_elem(fd, key) == bytes(12)  # every element exists, zeroed
    k.map_update_elem(fd, key, b"abcdefghijkl")
    assert k.map_lookup_elem(fd, key) == b"abcdefghijkl"
    assert errno_of(k.map_update_elem, fd, key, bytes(12), BPF_NOEXIST) == errno.EEXIST
    assert errno_of(k.map_update_elem, fd, struct.pack("<I", 4), bytes(12)) == errno.E2BIG
    assert errno_of(k.map_update_elem, fd, key, bytes(12), 3) == errno.EINVAL  # flags > BPF_EXIST
    assert errno_of(k.map_lookup_elem, fd, struct.pack("<I", 4)) == errno.ENOENT
    assert errno_of(k.map_delete_elem, fd, key) == errno.EINVAL
    k.map_freeze(fd)
    assert errno_of(k.map_update_elem, fd, key, bytes(12)) == errno.EPERM
    assert errno_of(k.map_freeze, fd) == errno.EBUSY
    assert k.map_lookup_elem(fd, key) == b"abcdefghijkl"  # still readable
    assert k.map_info(fd).name == "arr" and k.map_info(fd).frozen


def test_map_names_as_libbpf_passes_them(k):
    fd = k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=4, max_entries=1,
                      map_name="a_very_long_map_name")
    assert k.map_info(fd).name == "a_very_long_map"  # char[16]: 15 bytes kept (libbpf_strlcpy)
    assert errno_of(k.map_create, map_type=MAP_TYPE_ARRAY, key_size=4, value_size=4, max_entries=1,
                    map_name="bad-name") == errno.EINVAL


def test_rdonly_map_refuses_user_writes(k):
    fd = k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=4, max_entries=1, map_flags=BPF_F_RDONLY)
    assert errno_of(k.map_update_elem, fd, bytes(4), bytes(4)) == errno.EPERM


# --- hash maps ------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags", [0, BPF_F_NO_PREALLOC])
def test_hash_flags_full_and_delete(k, flags):
    fd = k.map_create(map_type=MAP_TYPE_HASH, key_size=8, value_size=4, max_entries=2, map_flags=flags)
    a, b, c = (struct.pack("<Q", i) for i in (1, 2, 3))
    assert errno_of(k.map_lookup_elem, fd, a) == errno.ENOENT
    assert errno_of(k.map_update_elem, fd, a, b"1111", BPF_EXIST) == errno.ENOENT
    k.map_update_elem(fd, a, b"1111", BPF_NOEXIST)
    assert errno_of(k.map_update_elem, fd, a, b"2222", BPF_NOEXIST) == errno.EEXIST
    k.map_update_elem(fd, a, b"3333", BPF_EXIST)
    k.map_update_elem(fd, b, b"4444")
    assert errno_of(k.map_update_elem, fd, c, b"5555") == errno.E2BIG  # max_entries reached
    k.map_update_elem(fd, b, b"6666")  # replacing an existing key still works when full
    assert (k.map_lookup_elem(fd, a), k.map_lookup_elem(fd, b)) == (b"3333", b"6666")
    k.map_delete_elem(fd, a)
    assert errno_of(k.map_delete_elem, fd, a) == errno.ENOENT
    k.map_update_elem(fd, c, b"7777")
    assert k.map_lookup_elem(fd, c) == b"7777"


def test_hash_update_swaps_in_a_new_element(k):
    """alloc_htab_elem with prealloc: an update of an existing key fills the CPU's spare
    element and swaps it in; the old element (a program may hold its value pointer) keeps
    its bytes until reused."""
    fd = k.map_create(map_type=MAP_TYPE_HASH, key_size=4, value_size=4, max_entries=4)
    mo = k.fds.objects[fd]
    key = bytes(4)
    k.map_update_elem(fd, key, b"old!")
    old = mo.lookup(key)
    k.map_update_elem(fd, key, b"new!")
    assert mo.lookup(key) != old
    assert k.machine.read(old, 4) == b"old!"


# --- programs -------------------------------------------------------------------------------------

def test_prog_load_attribute_errors(k):
    ok = assemble("r0 = 0\nexit")
    assert errno_of(k.prog_load, ok, prog_type=PROG_TYPE_SOCKET_FILTER, prog_flags=1 << 9) == errno.EINVAL
    assert errno_of(k.prog_load, b"", prog_type=PROG_TYPE_SOCKET_FILTER) == errno.E2BIG
    assert errno_of(k.prog_load, b"\0" * 12, prog_type=PROG_TYPE_SOCKET_FILTER) == errno.EINVAL
    assert errno_of(k.prog_load, ok, prog_type=999) == errno.EINVAL
    assert errno_of(k.prog_load, ok, prog_type=20) == errno.EINVAL  # lirc_mode2: not in the default config
    assert errno_of(k.prog_load, ok, prog_type=30) == errno.EINVAL  # sk_lookup without BPF_SK_LOOKUP
    assert errno_of(k.prog_load, ok, prog_type=PROG_TYPE_SOCKET_FILTER, prog_name="a b") == errno.EINVAL
    ubtf = k.btf_load(user_btf())
    assert errno_of(k.prog_load, ok, prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=1,
                    attach_btf_obj_fd=ubtf) == ENOTSUPP  # a user BTF is not a kernel BTF
    assert errno_of(k.prog_load, ok, prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=1,
                    attach_btf_obj_fd=77) == errno.EINVAL


def test_rejection_carries_log_and_result(k):
    with pytest.raises(ProgLoadError) as ei:
        k.prog_load(assemble("exit"), prog_type=PROG_TYPE_SOCKET_FILTER, log_level=1)
    e = ei.value
    assert e.errno == errno.EACCES and e.message == "R0 !read_ok"
    assert "R0 !read_ok" in e.log and e.result.accepted is False
    with pytest.raises(ProgLoadError) as ei:  # log_level 0: no log, as the kernel
        k.prog_load(assemble("exit"), prog_type=PROG_TYPE_SOCKET_FILTER)
    assert ei.value.log == ""
    assert k.objects("prog") == []


def test_prog_info_and_the_jit_image(k):
    fd = k.prog_load(encode(assemble("r0 = 42\nexit")), prog_type=PROG_TYPE_SOCKET_FILTER, prog_name="answer",
                     log_level=1)
    info = k.prog_info(fd)
    assert info.name == "answer" and info.type == PROG_TYPE_SOCKET_FILTER and info.verified_insns == 2
    # the host's bytes for this program (a 6.18 host, BPF_OBJ_GET_INFO_BY_FD jited_prog_insns): nop5 nop3 push rbp ... leave jmp thunk
    assert info.jited.startswith(bytes.fromhex("0f1f4400000f1f00554889e5b82a000000c9e9"))
    assert len(info.jited) == 23 and len(info.jited_ksyms) == 1
    assert k.machine.kallsyms.lookup(info.jited_ksyms[0]).name.endswith("_answer")
    assert info.xlated == encode(assemble("r0 = 42\nexit")) and len(info.tag) == 8
    assert "processed 2 insns" in info.verifier_log
    assert k.prog_test_run(fd, data_in=bytes(14)).retval == 42


def test_socket_filter_reads_skb_len_through_the_ctx_conversion(k):
    """__sk_buff.len (offset 0) becomes sk_buff.len (offset 112); eth_type_trans pulled 14 bytes."""
    fd = k.prog_load(assemble("r0 = *(u32 *)(r1 + 0)\nexit"), prog_type=PROG_TYPE_SOCKET_FILTER)
    assert k.prog_test_run(fd, data_in=bytes(64)).retval == 50
    xl = k.prog_info(fd).xlated
    assert struct.unpack_from("<h", xl, 2)[0] == 112  # the rewritten offset
    fd2 = k.prog_load(assemble("r0 = *(u8 *)(r1 + 1)\nexit"), prog_type=PROG_TYPE_SOCKET_FILTER)
    assert k.prog_test_run(fd2, data_in=bytes(14 + 0x234)).retval == 0x02  # narrow load: shifted byte
    assert errno_of(k.prog_test_run, fd, data_in=bytes(13)) == errno.EINVAL  # < ETH_HLEN
    assert errno_of(k.prog_test_run, fd, data_in=bytes(4096)) == errno.EINVAL  # > a page with room


def test_map_helpers_run_in_the_machine_and_user_space_sees_the_values(k):
    fd = k.map_create(map_type=MAP_TYPE_HASH, key_size=4, value_size=8, max_entries=8)
    prog = assemble(f"""
        r1 = 7
        *(u32 *)(r10 - 4) = r1
        r1 = 100
        *(u64 *)(r10 - 16) = r1
        r1 = {fd} ll
        r2 = r10
        r2 += -4
        r3 = r10
        r3 += -16
        r4 = 0
        call bpf_map_update_elem
        r1 = {fd} ll
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem
        if r0 == 0 goto out
        r1 = *(u64 *)(r0 + 0)
        r1 += 1
        *(u64 *)(r0 + 0) = r1
        r0 = r1
        exit
    out:
        r0 = 0
        exit""".replace(f"r1 = {fd} ll", f"r1 = map[fd:{fd}] ll"))
    pfd = k.prog_load(prog, prog_type=PROG_TYPE_SOCKET_FILTER)
    assert k.prog_test_run(pfd, data_in=bytes(14)).retval == 101
    assert k.prog_test_run(pfd, data_in=bytes(14), repeat=5).retval == 101  # update resets it each run
    assert struct.unpack("<Q", k.map_lookup_elem(fd, struct.pack("<I", 7)))[0] == 101
    # the program holds the map: closing the map fd does not free it
    map_id = k.map_info(fd).id
    k.close(fd)
    assert any(m.spec.id == map_id for m in k.objects("map"))
    k.close(pfd)
    assert k.objects("map") == [] and k.objects("prog") == []


def test_syscall_program_writes_its_context_back(k):
    prog = assemble("r2 = *(u64 *)(r1 + 0)\nr2 *= 3\n*(u64 *)(r1 + 8) = r2\nr0 = r2\nexit")
    with pytest.raises(ProgLoadError) as ei:
        k.prog_load(prog, prog_type=PROG_TYPE_SYSCALL, log_level=1)
    assert ei.value.errno == errno.EINVAL
    assert ei.value.log.splitlines()[-2] == "Syscall programs can only be sleepable"
    fd = k.prog_load(prog, prog_type=PROG_TYPE_SYSCALL, prog_flags=1 << 4)
    r = k.prog_test_run(fd, ctx_in=struct.pack("<QQ", 0x5555_5555_5555, 0))
    assert struct.unpack("<QQ", r.ctx_out) == (0x5555_5555_5555, 0xFFFF_FFFF_FFFF)
    assert r.retval == 0xFFFF_FFFF and r.retval64 == 0xFFFF_FFFF_FFFF  # retval is u32
    assert errno_of(k.prog_test_run, fd, ctx_in=bytes(16), repeat=2) == errno.EINVAL
    assert errno_of(k.prog_test_run, fd, ctx_in=bytes(16), data_in=bytes(14)) == errno.EINVAL


def test_user_btf_is_held_by_maps_and_programs(k):
    bfd = k.btf_load(user_btf())
    btf_id = k.btf_info(bfd).id
    pair = BTF.from_bytes(user_btf()).find("pair")
    mfd = k.map_create(map_type=MAP_TYPE_ARRAY, key_size=4, value_size=16, max_entries=1, btf_fd=bfd,
                       btf_value_type_id=pair)
    assert k.map_info(mfd).btf_id == btf_id
    k.close(bfd)
    k.close(k.btf_get_fd_by_id(btf_id))  # still there: the map holds it
    k.close(mfd)
    assert errno_of(k.btf_get_fd_by_id, btf_id) == errno.ENOENT
    assert errno_of(k.map_create, map_type=MAP_TYPE_ARRAY, key_size=4, value_size=16, max_entries=1,
                    btf_fd=k.module_btf_fd("bpf_testmod"), btf_value_type_id=1) == errno.EACCES



def test_closed_programs_give_their_memory_back(k):
    """``__bpf_prog_free``: a closed program's struct bpf_prog (vmalloc), its per-CPU
    ``active``/``stats`` and its aux go back, so a long session of loads and closes
    never runs the machine out of memory."""
    code = encode(assemble("r0 = 7\nexit"))
    k.close(k.prog_load(code, prog_type=PROG_TYPE_SOCKET_FILTER))  # warm: first allocations
    m = k.machine
    before = (len(m.alloc.percpu_heap.used), len(m.alloc.vmalloc_heap.used), len(m.alloc.heap.used))
    for _ in range(3):
        fd = k.prog_load(code, prog_type=PROG_TYPE_SOCKET_FILTER)
        assert len(m.alloc.percpu_heap.used) == before[0] + 2
        k.close(fd)
    assert (len(m.alloc.percpu_heap.used), len(m.alloc.vmalloc_heap.used), len(m.alloc.heap.used)) == before


def test_machine_prog_structs_are_reusable_past_the_per_cpu_area():
    """Thousands of alloc/free cycles fit: the per-CPU area is a real allocator."""
    from emu.machine import Machine
    from kernel_model.prog import BpfProg

    m = Machine()
    try:
        for i in range(5000):
            p = BpfProg(id=i, prog_type=PROG_TYPE_SOCKET_FILTER, insns=assemble("r0 = 0\nexit"))
            m.images.alloc_prog_struct(p)
            m.images.free_prog_struct(p)
            assert p.addr == 0
    finally:
        m.close()
