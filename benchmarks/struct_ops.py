"""struct_ops in the emulated kernel: call throughput and image-page building, as ratios.

Each figure is the ratio of two medians measured in this process, the bare
baseline and our side interleaved run by run (interference happens on a shared
machine; interleaving keeps a slow spell from landing on one side).

1. In-emulator struct_ops calls (goal >= 0.5x). Ours: a bpf_testmod_ops map
   registered through the bpf() commands, its ``tramp_1`` member a JIT'd program
   ``r0 = *(u64 *)(r1 + 0); r0 += 1``; the kernel-text loop ``bpf_test_run_loop``
   calls the member's trampoline (loaded from the kernel-side struct) ``n`` times in
   one ``emu_start``: the retpoline indirect call, the 107-byte trampoline with
   ``__bpf_prog_enter``/``__bpf_prog_exit`` (run-context switch, RCU and migrate
   counters) and every return through ``srso_return_thunk``: the ``amd-zen2`` CPU
   preset (kernel_model/cpu.py), stated explicitly, so the figure does not depend on
   the machine the benchmark runs on.
   Baseline (the goal's): a bare Unicorn running a **hand-written** loop of the
   same shape under the same configuration -- the indirect call through a
   retpoline, a hand-written trampoline of the kernel's layout, enter/exit that
   switch a per-CPU run context and bump two per-CPU counters through ``%gs``, a
   3-instruction program, every ``ret`` a ``jmp`` to a hand-written
   ``srso_return_thunk``. A second baseline without the mitigations (plain
   indirect ``call``, plain ``ret``, enter/exit ``mov eax, 1; ret`` / ``ret``: the
   minimal path, about 30 instructions in 11 blocks per call against the preset's
   74 in 21) is printed beside: the ratio to it is what retpolines and an SRSO
   return thunk cost in emulation.
2. Python-driven ``call_struct_ops`` (one ``emu_start`` per call, through
   ``bpf_struct_ops_call_member``) against a Python-driven raw ``uc_emu_start`` of
   the bare trampoline: informative (no goal).
3. Building one map's eight image pages (goal <= 100 us): eight
   ``arch_alloc_bpf_trampoline(PAGE_SIZE)`` blocks of the machine's bpf_prog_pack
   and 4 KiB of code ``text_copy``'d into each (the time of the build; freeing them,
   ``bpf_struct_ops_map_free``, is printed beside), against a bare Unicorn mapping
   one 32 KiB region and writing it (the cheapest layout measured for Unicorn). The full ``BPF_MAP_UPDATE_ELEM`` of
   bpf_testmod_ops with all 43 supported members (two pages: 43 trampolines
   sized and emitted in Python) is printed beside.

Usage: python benchmarks/struct_ops.py [--quick]
"""

from __future__ import annotations

import ctypes
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import paired  # noqa: E402

import keystone  # noqa: E402
from unicorn import UC_ARCH_X86, UC_MODE_64, Uc  # noqa: E402
from unicorn import x86_const as X  # noqa: E402
from unicorn.unicorn_py3.unicorn import uclib  # noqa: E402

from emu.kernel.bpf_maps import MachineKernelMemory  # noqa: E402
from emu.kernel import Kernel  # noqa: E402
from kernel_model.asm import assemble  # noqa: E402
from kernel_model.btf import parse_c  # noqa: E402
from kernel_model.cpu import PRESETS  # noqa: E402
from kernel_model.bpf_map import MAP_TYPE_STRUCT_OPS  # noqa: E402
from kernel_model.prog import PROG_TYPE_STRUCT_OPS  # noqa: E402
from kernel_model.uapi import BPF_F_VTYPE_BTF_OBJ_FD  # noqa: E402

M52 = (1 << 52) - 1
TEXT = 0xFFFF_FFFF_C000_0000
DATA = 0xFFFF_8880_0000_0000
STACK = 0xFFFF_C900_0000_4000
PROG = "r0 = *(u64 *)(r1 + 0)\nr0 += 1\nexit"

BARE = """
loop:
    test r14, r14
    je done
    mov rdi, r12
    call qword ptr [r13]
    dec r14
    jmp loop
done:
    hlt
tramp:
    push rbp
    mov rbp, rsp
    sub rsp, 0x30
    mov qword ptr [rbp - 0x20], rbx
    mov qword ptr [rbp - 0x10], rdi
    call enter
    mov rbx, rax
    test rax, rax
    je skip
    lea rdi, [rbp - 0x10]
    call prog
    mov qword ptr [rbp - 8], rax
skip:
    mov rsi, rbx
    call exit_
    mov rax, qword ptr [rbp - 8]
    mov rbx, qword ptr [rbp - 0x20]
    leave
    ret
enter:
    mov eax, 1
    ret
exit_:
    ret
prog:
    mov rax, qword ptr [rdi]
    add rax, 1
    ret
"""

#: the same path under the amd-zen2 configuration, hand-written: retpoline, return thunk,
#: per-CPU run context and counters through %gs (PCPU at gs:0)
BARE_HOST = """
loop:
    test r14, r14
    je done
    mov rdi, r12
    mov rbx, qword ptr [r13]
    call thunk_rbx
    dec r14
    jmp loop
done:
    hlt
thunk_rbx:
    call set_target
spin:
    pause
    lfence
    jmp spin
set_target:
    mov qword ptr [rsp], rbx
    ret
srso_return_thunk:
    call srso_safe_ret
    ud2
srso_safe_ret:
    lea rsp, [rsp + 8]
    ret
tramp:
    push rbp
    mov rbp, rsp
    sub rsp, 0x30
    mov qword ptr [rbp - 0x20], rbx
    mov eax, 1
    mov qword ptr [rbp - 0x18], rax
    mov qword ptr [rbp - 0x10], rdi
    xor edi, edi
    mov qword ptr [rbp - 0x30], rdi
    movabs rdi, 0xffffc90000100000
    lea rsi, [rbp - 0x30]
    call enter
    mov rbx, rax
    test rax, rax
    je skip
    lea rdi, [rbp - 0x10]
    call prog
    mov qword ptr [rbp - 8], rax
skip:
    movabs rdi, 0xffffc90000100000
    mov rsi, rbx
    lea rdx, [rbp - 0x30]
    call exit_
    mov rax, qword ptr [rbp - 8]
    mov rbx, qword ptr [rbp - 0x20]
    leave
    jmp srso_return_thunk
enter:
    push rbp
    mov rbp, rsp
    inc dword ptr gs:[0x10]
    inc dword ptr gs:[0x14]
    mov rax, qword ptr gs:[0x8]
    mov qword ptr [rsi + 8], rax
    mov qword ptr gs:[0x8], rsi
    mov eax, 1
    leave
    jmp srso_return_thunk
exit_:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rdx + 8]
    mov qword ptr gs:[0x8], rax
    dec dword ptr gs:[0x14]
    dec dword ptr gs:[0x10]
    leave
    jmp srso_return_thunk
prog:
    nop dword ptr [rax + rax]
    nop dword ptr [rax]
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rdi]
    add rax, 1
    leave
    jmp srso_return_thunk
"""




def bare_machine(src: str = BARE) -> tuple[Uc, int, int]:
    """A bare Unicorn with a hand-written loop, trampoline and program; the slot at
    DATA holds the trampoline's address, GS points at a per-CPU page. Returns
    (uc, trampoline address, stack top)."""
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    code, _ = ks.asm(src, TEXT, as_bytes=True)
    prefix = src.split("tramp:")[0] + "tramp:\n nop"
    tramp = TEXT + len(ks.asm(prefix, TEXT, as_bytes=True)[0]) - 1
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(TEXT & M52, 0x10000, 5)
    uc.mem_map(DATA & M52, 0x2000, 3)
    uc.mem_map((STACK - 0x4000) & M52, 0x4000, 3)
    uc.mem_write(TEXT & M52, bytes(code))
    uc.mem_write(DATA & M52, struct.pack("<Q", tramp))
    uc.reg_write(X.UC_X86_REG_GS_BASE, DATA + 0x1000)
    return uc, tramp, STACK - 16


def our_kernel() -> tuple[Kernel, int, int]:
    """A kernel with a registered bpf_testmod_ops map whose tramp_1 runs PROG."""
    k = Kernel(cpu=PRESETS["amd-zen2"])  # the configuration BARE_HOST is written for
    d = k.struct_ops_type("bpf_testmod_ops")
    mfd = k.module_btf_fd("bpf_testmod")
    prog = k.prog_load(assemble(PROG), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                       attach_btf_obj_fd=mfd, expected_attach_type=d.member("tramp_1").index)
    value = bytearray(d.value_size)
    struct.pack_into("<Q", value, d.data_offset + d.member("tramp_1").offset, prog)
    ubtf = k.btf_load(parse_c("int x;").to_bytes())
    m = k.map_create(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=d.value_size, max_entries=1,
                     map_flags=BPF_F_VTYPE_BTF_OBJ_FD, btf_fd=ubtf, btf_vmlinux_value_type_id=d.value_id,
                     value_type_btf_obj_fd=mfd)
    k.map_update_elem(m, bytes(4), bytes(value))
    return k, m, d.member("tramp_1").offset


def bench_loop(quick: bool) -> float:
    n, runs = (20_000, 5) if quick else (200_000, 9)
    k, mfd, off = our_kernel()
    m = k.machine
    st = k.fds.objects[mfd].st_map
    tramp = m.read_u64(st.kdata_addr + off)  # what ops->tramp_1 holds

    def ours(count: int) -> None:
        assert m.runner.run_loop(tramp, 41, count) == 42

    rates = []
    for src in (BARE_HOST, BARE):
        uc, _tramp, sp = bare_machine(src)
        h = uc._uch
        r = ctypes.c_uint64()

        def setreg(reg: int, v: int, h=h, r=r) -> None:
            r.value = v
            uclib.uc_reg_write(h, reg, ctypes.byref(r))

        def bare(count: int, h=h, sp=sp, setreg=setreg) -> None:
            setreg(X.UC_X86_REG_RSP, sp)
            setreg(X.UC_X86_REG_R12, 41)
            setreg(X.UC_X86_REG_R13, DATA)
            setreg(X.UC_X86_REG_R14, count)
            err = uclib.uc_emu_start(h, TEXT, 0, 0, 0)  # stops at hlt
            assert err == 0, err

        base, got = paired(bare, ours, n, n, runs)
        uclib.uc_reg_read(h, X.UC_X86_REG_RAX, ctypes.byref(r))
        assert r.value == 42
        rates.append((base, got))
    (bh, gh), (bm, gm) = rates
    print(f"struct_ops: in-emulator calls {gh / 1e6:.2f} M/s vs bare hand-written caller->trampoline loop "
          f"(same configuration: retpoline, return thunk, per-CPU enter/exit) {bh / 1e6:.2f} M/s: {gh / bh:.2f}x "
          f"(goal >= 0.5x); vs the minimal loop without mitigations {bm / 1e6:.2f} M/s: {gm / bm:.2f}x")
    k.shutdown()
    return gh / bh


def bench_python_calls(quick: bool) -> float:
    n, runs = (5_000, 5) if quick else (50_000, 7)
    uc, tramp, sp = bare_machine()
    land = TEXT + 0x8000
    uc.mem_write(land & M52, b"\xf4")
    uc.mem_write(sp & M52, struct.pack("<Q", land))
    h = uc._uch
    v = ctypes.c_uint64()

    def bare(count: int) -> None:
        for i in range(count):
            v.value = sp
            uclib.uc_reg_write(h, X.UC_X86_REG_RSP, ctypes.byref(v))
            v.value = i
            uclib.uc_reg_write(h, X.UC_X86_REG_RDI, ctypes.byref(v))
            uclib.uc_emu_start(h, tramp, land, 0, 0)

    k, mfd, _off = our_kernel()
    call = k.call_struct_ops

    def ours(count: int) -> None:
        for i in range(count):
            call(mfd, "tramp_1", i)

    base, got = paired(bare, ours, n, n, runs)
    assert call(mfd, "tramp_1", 1) == 2
    print(f"struct_ops: Python-driven call_struct_ops {got / 1e3:.0f} k/s vs raw emu_start of the bare "
          f"trampoline {base / 1e3:.0f} k/s: {got / base:.2f}x (informative)")
    k.shutdown()
    return got / base


def bench_pages(quick: bool) -> float:
    runs = 60 if quick else 400
    code = bytes([0xCC]) * 4096
    base_addr = 0xFFFF_FFFF_D000_0000
    bare_uc = Uc(UC_ARCH_X86, UC_MODE_64)
    k = Kernel()
    mem = MachineKernelMemory(k.machine)
    tb, to, tf = [], [], []
    for _ in range(runs):  # interleaved, one build at a time (the figure is a latency)
        t0 = time.perf_counter()
        bare_uc.mem_map(base_addr & M52, 8 * 4096, 5)
        bare_uc.mem_write(base_addr & M52, code * 8)
        t1 = time.perf_counter()
        bare_uc.mem_unmap(base_addr & M52, 8 * 4096)
        t2 = time.perf_counter()
        pages = [mem.alloc_image_page() for _ in range(8)]
        for p in pages:
            mem.write(p, code)
        t3 = time.perf_counter()
        for p in pages:
            mem.free_image_page(p)
        t4 = time.perf_counter()
        tb.append(t1 - t0)
        to.append(t3 - t2)
        tf.append(t4 - t3)
    us, base_us, free_us = (statistics.median(t) * 1e6 for t in (to, tb, tf))
    # the full update of the largest testmod map: 43 trampolines sized and emitted in Python
    d = k.struct_ops_type("bpf_testmod_ops")
    mfd = k.module_btf_fd("bpf_testmod")
    ubtf = k.btf_load(parse_c("int x;").to_bytes())
    value = bytearray(d.value_size)
    for mem_d in d.members:
        if mem_d.is_func and mem_d.supported:
            fd = k.prog_load(assemble("r0 = 0\nexit"), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                             attach_btf_obj_fd=mfd, expected_attach_type=mem_d.index)
            struct.pack_into("<Q", value, d.data_offset + mem_d.offset, fd)
    times = []
    for _ in range(3 if quick else 9):
        m = k.map_create(map_type=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=d.value_size, max_entries=1,
                         map_flags=BPF_F_VTYPE_BTF_OBJ_FD | (1 << 13), btf_fd=ubtf,
                         btf_vmlinux_value_type_id=d.value_id, value_type_btf_obj_fd=mfd)
        t0 = time.perf_counter()
        k.map_update_elem(m, bytes(4), bytes(value))
        times.append(time.perf_counter() - t0)
        pages = len(k.fds.objects[m].st_map.image_pages)
        k.close(m)
    upd = statistics.median(times) * 1e6
    print(f"struct_ops: one map's eight image pages built in {us:.0f} us (goal <= 100 us; freed in {free_us:.0f} us) "
          f"vs one bare 32 KiB region mapped and written {base_us:.0f} us: {us / base_us:.2f}x its time; the full "
          f"update of bpf_testmod_ops (43 trampolines sized and emitted, {pages} pages) {upd:.0f} us")
    k.shutdown()
    return us


def main() -> int:
    quick = "--quick" in sys.argv
    bench_loop(quick)
    bench_python_calls(quick)
    bench_pages(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
