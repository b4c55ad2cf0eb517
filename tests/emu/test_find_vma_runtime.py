"""``bpf_find_vma`` at run time (emu/kernel/task_mm.py): a syscall program takes the current
task (``bpf_get_current_task_btf``) and looks an address up in its mm; the callback copies the
VMA's ``vm_start``, ``vm_end`` and ``vm_flags`` out. The ``kernel``-marked test runs the same
program with BPF_PROG_TEST_RUN on the host over a mapping made the same way (three pages
with PROT_NONE guards around, so the kernel merges it with nothing) and compares the
return values, the callback calls and the VMA's bounds relative to the mapping's start."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

import pytest

from emu.host import hostbpf
from emu.kernel import Kernel
from emu.kernel.task_mm import PROT_READ, PROT_WRITE, vm_flags_of
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.prog import PROG_TYPE_SYSCALL
from tests.emu.test_callbacks_runtime import _func_btf
from verifier.cfg import find_subprogs

PAGE = 4096
#: ctx: {u64 addr; u64 flags; u64 ret; u64 vm_start; u64 vm_end; u64 vm_flags; u64 calls}
FIND = """
r6 = r1
r1 = 0
*(u64 *)(r10 -8) = r1
*(u64 *)(r10 -16) = r1
*(u64 *)(r10 -24) = r1
*(u64 *)(r10 -32) = r1
call 158
r1 = r0
r2 = *(u64 *)(r6 +0)
r3 = func[cb] ll
r4 = r10
r4 += -32
r5 = *(u64 *)(r6 +8)
call 180
*(u64 *)(r6 +16) = r0
r1 = *(u64 *)(r10 -32)
*(u64 *)(r6 +24) = r1
r1 = *(u64 *)(r10 -24)
*(u64 *)(r6 +32) = r1
r1 = *(u64 *)(r10 -16)
*(u64 *)(r6 +40) = r1
r1 = *(u64 *)(r10 -8)
*(u64 *)(r6 +48) = r1
r0 = 0
exit
cb:
r4 = *(u64 *)(r2 +0)
*(u64 *)(r3 +0) = r4
r4 = *(u64 *)(r2 +8)
*(u64 *)(r3 +8) = r4
r4 = *(u64 *)(r2 +32)
*(u64 *)(r3 +16) = r4
r4 = *(u64 *)(r3 +24)
r4 += 1
*(u64 *)(r3 +24) = r4
r0 = 0
exit
"""
#: (offset of the address from the mapping's start, flags); the mapping is 3 pages between
#: two PROT_NONE guard pages (VMAs too); None: address 0x1000, mapped by nobody
CASES = [(0, 0), (PAGE + 17, 0), (3 * PAGE - 1, 0), (3 * PAGE, 0), (-1, 0), (PAGE, 1), (PAGE, 2), (None, 0)]


def _emu_side() -> tuple[Kernel, int, int]:
    k = Kernel(modules=())
    insns = assemble(FIND)
    blob, fi = _func_btf(find_subprogs(insns))
    fd = k.prog_load(insns, prog_type=PROG_TYPE_SYSCALL, prog_btf_fd=k.btf_load(blob), func_info=fi,
                     func_info_rec_size=8, prog_flags=1 << 4)
    k.current.mm.mmap(PAGE, PROT_READ)  # an unrelated mapping below
    guard = k.current.mm.mmap(PAGE, 0)
    base = k.current.mm.mmap(3 * PAGE, PROT_READ | PROT_WRITE, addr=guard + PAGE)
    k.current.mm.mmap(PAGE, 0, addr=base + 3 * PAGE)
    return k, fd, base


def _run_emu(k: Kernel, fd: int, addr: int, flags: int) -> tuple[int, ...]:
    out = k.prog_test_run(fd, ctx_in=struct.pack("<7Q", addr & (2**64 - 1), flags, 0, 0, 0, 0, 0)).ctx_out
    return struct.unpack("<7Q", out)


def _rel(r: tuple[int, ...], base: int) -> tuple[int, ...]:
    """(ret, calls, vm_start - base, vm_end - base, the R/W/X/shared bits of vm_flags)."""
    ret, start, end, flags, calls = r[2], r[3], r[4], r[5], r[6]
    return (ret, calls, start - base if calls else 0, end - base if calls else 0, flags & 0xF)


def test_find_vma_calls_back_with_the_vma() -> None:
    k, fd, base = _emu_side()
    try:
        r = _run_emu(k, fd, base + PAGE + 17, 0)
        assert _rel(r, base) == (0, 1, 0, 3 * PAGE, 0x3)
        assert r[5] == vm_flags_of(PROT_READ | PROT_WRITE)
        # the guard pages are VMAs (no access); past the last VMA and in the gap before the
        # first guard: -ENOENT, no call; flags: -EINVAL
        assert _rel(_run_emu(k, fd, base + 3 * PAGE, 0), base) == (0, 1, 3 * PAGE, 4 * PAGE, 0)
        assert _rel(_run_emu(k, fd, base + 4 * PAGE, 0), base)[:2] == ((-errno.ENOENT) & (2**64 - 1), 0)
        assert _rel(_run_emu(k, fd, base - 2 * PAGE, 0), base)[:2] == ((-errno.ENOENT) & (2**64 - 1), 0)
        assert _rel(_run_emu(k, fd, base, 1), base)[:2] == ((-errno.EINVAL) & (2**64 - 1), 0)
        lower = k.current.mm.vmas[0]
        r = _run_emu(k, fd, lower.start, 0)
        assert (r[2], r[3], r[5] & 0xF) == (0, lower.start, 0x1)
        k.current.mm.munmap(base)
        assert _run_emu(k, fd, base + 17, 0)[2] == (-errno.ENOENT) & (2**64 - 1)
    finally:
        k.shutdown()


def test_mm_model_limits() -> None:
    k = Kernel(modules=())
    try:
        with pytest.raises(KernelError):
            k.current.mm.mmap(0)
        base = k.current.mm.mmap(100)
        assert base % PAGE == 0 and k.current.mm.vmas[-1].end == base + PAGE
        k.user.copy_to_user(base + 10, b"abc")  # the mapping is the process's memory
        assert k.user.read(base + 10, 3) == b"abc"
        with pytest.raises(KernelError):
            k.current.mm.munmap(base + PAGE)
    finally:
        k.shutdown()


def _host_mapping() -> tuple[int, int]:
    """PROT_NONE guard, 3 read-write pages, PROT_NONE guard: (mapping base, region start)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    map_private_anon = 0x02 | 0x20
    p = libc.mmap(None, 5 * PAGE, 0, map_private_anon, -1, 0)
    assert p not in (None, ctypes.c_void_p(-1).value)
    assert libc.mprotect(p + PAGE, 3 * PAGE, PROT_READ | PROT_WRITE) == 0
    return p, p + PAGE


@pytest.mark.kernel
def test_find_vma_gives_the_hosts_results() -> None:
    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    insns = assemble(FIND)
    blob, fi = _func_btf(find_subprogs(insns))
    bfd, err, log = hostbpf.btf_load(blob)
    assert bfd > 0, (err, log)
    h = hostbpf.prog_load(PROG_TYPE_SYSCALL, b"".join(i.to_bytes() for i in insns), prog_btf_fd=bfd, func_info=fi,
                          func_info_rec_size=8, prog_flags=1 << 4)
    assert h.accepted, h.log
    whole, hbase = _host_mapping()
    k, fd, ebase = _emu_side()
    try:
        for off, flags in CASES:
            haddr, eaddr = (PAGE, PAGE) if off is None else (hbase + off, ebase + off)
            ctx = struct.pack("<7Q", haddr & (2**64 - 1), flags, 0, 0, 0, 0, 0)
            host = struct.unpack("<7Q", hostbpf.test_run(h.fd, ctx_in=ctx).ctx_in_after)
            assert _rel(_run_emu(k, fd, eaddr, flags), ebase) == _rel(host, hbase), (off, flags)
    finally:
        k.shutdown()
        h.close()
        os.close(bfd)
        libc.munmap(whole, 5 * PAGE)


def test_another_tasks_address_space_is_not_modelled() -> None:
    """bpf_find_vma on bpf_task_from_pid(1)'s task stops the run as not modelled (never a
    made-up -ENOENT); the kernel goes on running programs afterwards."""
    from kernel_model.btf import structs as S
    from kernel_model.errors import NotModelled

    k, fd, base = _emu_side()
    try:
        get, put = (k.btf.find(n, S.KIND_FUNC) for n in ("bpf_task_from_pid", "bpf_task_release"))
        src = FIND.replace("call 158\nr1 = r0", f"r1 = 1\ncall kernel-function#{get}\nif r0 == 0 goto nul\n"
                                               "r7 = r0\nr1 = r0") \
                  .replace("r0 = 0\nexit\ncb:", f"r1 = r7\ncall kernel-function#{put}\nnul:\nr0 = 0\nexit\ncb:")
        insns = assemble(src)
        blob, fi = _func_btf(find_subprogs(insns))
        other = k.prog_load(insns, prog_type=PROG_TYPE_SYSCALL, prog_btf_fd=k.btf_load(blob), func_info=fi,
                            func_info_rec_size=8, prog_flags=1 << 4)
        with pytest.raises(NotModelled):
            k.prog_test_run(other, ctx_in=bytes(56))
        assert _rel(_run_emu(k, fd, base + 5, 0), base) == (0, 1, 0, 3 * PAGE, 0x3)
    finally:
        k.shutdown()
