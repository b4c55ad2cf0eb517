"""The emulated machine: layout, W^X, allocators, calls, stubs, budget, reset/close."""

from __future__ import annotations

import pytest

from emu.machine import (HEAP_BASE, KTEXT_BASE, MODULES_VADDR, PROT_RW, Machine, MachineBudgetExceeded)
from emu.machine.oops import Oops
from kernel_model.asm import assemble
from kernel_model.cpu import PRESETS, RETURN_THUNKS
from kernel_model.errors import KernelError
from kernel_model.insn import Insn


def test_layout_and_kallsyms(m):
    base = m.kallsyms.addr_of("__bpf_call_base")
    assert KTEXT_BASE <= base < KTEXT_BASE + 0x10000
    assert m.kallsyms.addr_of("__pfx___bpf_call_base") == base - 16
    assert m.kallsyms.format_addr(base + 3).startswith("__bpf_call_base+0x3/")
    assert m.call(base, (1, 2, 3)) == 0
    text = m.kallsyms.proc_kallsyms()
    for thunk in RETURN_THUNKS:  # every return thunk is kernel text, whichever the CPU uses
        assert f"{m.kallsyms.addr_of(thunk):016x} T {thunk}" in text


def test_jit_image_in_bpf_pack_is_named_and_runs(m):
    jp = m.jit(assemble("r0 = r1\nr0 += r2\nexit"), name="add")
    assert MODULES_VADDR <= jp.bpf_func < MODULES_VADDR + (1 << 30)
    sym = m.kallsyms.lookup(jp.bpf_func)
    assert sym.name.startswith("bpf_prog_") and sym.name.endswith("_add") and sym.module == "bpf"
    assert m.call(jp.bpf_func, (40, 2)) == 42
    # image bytes are what the JIT produced; the chunk around is int3 filled
    code = jp.funcs[0].code
    assert m.mem.peek(jp.bpf_func, len(code)) == code
    assert m.mem.peek(jp.bpf_func + len(code), 4) == b"\xcc" * 4


def test_wx_text_is_not_writable_and_data_not_executable(m):
    jp = m.jit(assemble("*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit"), name="w")
    with pytest.raises(Oops) as e:
        m.call(jp.bpf_func, (jp.bpf_func, 0))
    assert e.value.report.error_code == 0x3  # write to a present, read-only page
    assert "permissions violation" in e.value.text
    buf = m.alloc.kmalloc(64)
    m.write(buf, b"\x31\xc0\xc3")  # xor eax,eax; ret -- in a no-execute page
    with pytest.raises(Oops) as e:
        m.call(buf)
    assert "kernel tried to execute NX-protected page" in e.value.text
    assert e.value.report.error_code == 0x11


def test_python_writes_respect_permissions(m):
    with pytest.raises(Oops):
        m.write(KTEXT_BASE, b"\x90")
    m.mem.poke(KTEXT_BASE + 0xF000, b"\x90")  # text_poke is allowed
    assert m.mem.peek(KTEXT_BASE + 0xF000, 1) == b"\x90"


def test_kmalloc_alignment_reuse_and_poison(m):
    a = m.alloc.kmalloc(100)  # kmalloc-128
    b = m.alloc.kmalloc(8)
    assert a % 128 == 0 and HEAP_BASE <= a and b % 8 == 0 and a != b
    m.write(a, b"x" * 100)
    m.alloc.kfree(a)
    assert m.read(a, 4) == b"\x6b" * 4
    assert m.alloc.kmalloc(128) == a  # first fit takes the freed block again
    z = m.alloc.kzalloc(32)
    assert m.read(z, 32) == bytes(32)
    with pytest.raises(KernelError):
        m.alloc.kfree(z + 8)


def test_helper_stub_round_trip(m):
    seen = []

    def helper(mem, a, b, c, d, e):
        seen.append((a, b, c, d, e))
        return a * 10 + b

    addr = m.add_stub("bpf_test_helper", helper)
    assert m.kallsyms.lookup(addr).name == "bpf_test_helper"
    prog = assemble("r1 = 4\nr2 = 2\nr3 = 3\nr4 = 4\nr5 = 5\ncall 1\nr0 += 1\nexit")
    prog[5] = Insn(0x85, 0, 0, 0, m.images.call_imm(addr))
    jp = m.jit(prog, name="h")
    assert m.call(jp.bpf_func) == 43
    assert seen == [(4, 2, 3, 4, 5)]


def test_helper_exception_surfaces_after_emulation(m):
    def bad(mem, *a):
        raise KernelError(22, "helper refused")

    addr = m.add_stub("bpf_bad_helper", bad)
    prog = assemble("call 1\nexit")
    prog[0] = Insn(0x85, 0, 0, 0, m.images.call_imm(addr))
    jp = m.jit(prog, name="bad")
    with pytest.raises(KernelError, match="helper refused"):
        m.call(jp.bpf_func)
    assert m.call(m.kallsyms.addr_of("__bpf_call_base")) == 0  # the machine still works


def test_budget_stops_a_runaway_loop_with_the_bpf_slot(m):
    jp = m.jit(assemble("r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit"), name="spin")
    with pytest.raises(MachineBudgetExceeded) as e:
        m.call(jp.bpf_func, budget=10_000)
    assert e.value.index in (1, 2) and "spin" in e.value.rip_symbol
    assert m.call(m.kallsyms.addr_of("__bpf_call_base")) == 0


def test_in_emulator_loop(m):
    jp = m.jit(assemble("r0 = *(u64 *)(r1 + 0)\nr0 += 1\n*(u64 *)(r1 + 0) = r0\nexit"), name="count")
    ctx = m.alloc.kzalloc(8)
    assert m.runner.run_loop(jp.bpf_func, ctx, 1000) == 1000
    assert m.read_u64(ctx) == 1000


def test_percpu_and_cpus(m):
    p = m.alloc.alloc_percpu(8)
    assert m.alloc.percpu_addr(p, 0) != m.alloc.percpu_addr(p, 1)
    m.write_u64(m.alloc.percpu_addr(p, 1), 77)
    # mov rax, gs:[p] reads this CPU's copy
    code = b"\x65\x48\x8b\x04\x25" + (p & 0xFFFFFFFF).to_bytes(4, "little") + b"\xc3"
    at = m.packs.alloc_trampoline(64)
    m.packs.text_copy(at, code)
    m.runner.set_cpu(1)
    try:
        assert m.call(at) == 77
    finally:
        m.runner.set_cpu(0)
    assert m.call(at) == 0


def test_reset_forgets_everything_and_close_is_final():
    m = Machine()
    jp = m.jit(assemble("r0 = 7\nexit"), name="seven")
    a = m.alloc.kmalloc(64)
    m.add_stub("bpf_x", lambda *a: 0)
    m.reset()
    assert m.kallsyms.lookup(jp.bpf_func) is None
    assert "bpf_x" not in m.calls.by_name
    assert m.alloc.kmalloc(64) == a  # the heap starts over
    jp2 = m.jit(assemble("r0 = 8\nexit"), name="eight")
    assert m.call(jp2.bpf_func) == 8
    m.mem.map_region("scratch", 0xFFFF_8880_0200_0000, 4096, PROT_RW)
    m.close()
    m.close()  # idempotent
    with pytest.raises(KernelError):
        m.call(jp2.bpf_func)


def test_btf_typed_objects_round_trip_through_a_program(m):
    from emu.kernel.kobjects import KObject
    from kernel_model.vmlinux import build_vmlinux_btf

    btf = build_vmlinux_btf()
    task = KObject.new(m, btf, "task_struct", pid=1234, tgid=1200, comm=b"swapper")
    assert (task.pid, task.comm, task.size) == (1234, b"swapper", btf.size_of(btf.find("task_struct", 4)))
    off = task.offset_of("pid")
    prog = assemble(f"r0 = *(u32 *)(r1 + {off})\n*(u32 *)(r1 + {task.offset_of('prio')}) = 5\nexit")
    jp = m.jit(prog, name="pid")
    assert m.call(jp.bpf_func, (task.addr,)) == 1234
    assert task.prio == 5 and task.to_dict()["tgid"] == 1200
    task.prio = -3  # signed int
    assert task.prio == -3
    parent = KObject.new(m, btf, "task_struct", pid=1)
    task.parent = parent
    assert task.deref("parent").pid == 1
    with pytest.raises(AttributeError):
        task.no_such_member


def test_mov_percpu_addr_gives_this_cpus_copy(m):
    p = m.alloc.alloc_percpu(8)
    # r0 = p; r0 = per_cpu_ptr(r0) (BPF_MOV64_PERCPU_REG: ALU64|MOV|X, off = BPF_ADDR_PERCPU,
    # include/linux/filter.h; the 6.18 host's xlated bpf_get_smp_processor_id shows that encoding)
    from kernel_model.insn import split_imm64

    lo, hi = split_imm64(p)
    prog = [Insn(0x18, 1, 0, 0, lo), Insn(0, 0, 0, 0, hi), Insn(0xBF, 0, 1, -1, 0), Insn(0x95)]
    jp = m.jit(prog, name="pcpu")
    assert m.call(jp.bpf_func) == m.alloc.percpu_addr(p, 0)
    m.runner.set_cpu(1)
    try:
        assert m.call(jp.bpf_func) == m.alloc.percpu_addr(p, 1)
    finally:
        m.runner.set_cpu(0)


# --- every CPU preset runs -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_returns_calls_and_loops(name):
    """Helpers (stubs returning the preset's way), bpf-to-bpf calls, the in-emulator loop
    (an indirect call through the preset's thunk) and the returns through its thunk."""
    cpu = PRESETS[name]
    with Machine(cpu=cpu) as mm:
        addr = mm.add_stub("bpf_test_helper", lambda mem, a, b, *rest: a * 10 + b)
        stub = mm.mem.peek(addr, 5)
        if cpu.rethunk:
            target = (addr + 5 + int.from_bytes(stub[1:5], "little", signed=True)) & (2**64 - 1)
            assert stub[0] == 0xE9 and mm.kallsyms.lookup(target).name == cpu.return_thunk
        else:
            assert stub.startswith(b"\xc3\xcc" if cpu.sls else b"\xc3")
        prog = assemble("r1 = 4\nr2 = 2\ncall 1\nr1 = r0\ncall f\nexit\nf:\nr0 = r1\nr0 *= 3\nexit")
        prog[2] = Insn(0x85, 0, 0, 0, mm.images.call_imm(addr))
        jp = mm.jit(prog, starts=[0, 6], stack_depths=[0, 0], name="p")
        assert mm.call(jp.bpf_func) == 126
        ctx = mm.alloc.kzalloc(8)
        counter = mm.jit(assemble("r0 = *(u64 *)(r1 + 0)\nr0 += 1\n*(u64 *)(r1 + 0) = r0\nexit"), name="c")
        assert mm.runner.run_loop(counter.bpf_func, ctx, 100) == 100
        loop = mm.ktext.code[mm.ktext.addr("bpf_test_run_loop") - mm.ktext.base:][:64]
        thunk = cpu.indirect_thunk("rbx", call=True)
        if thunk is not None:  # call rel32 to the thunk
            assert any(loop[k] == 0xE8 and (mm.ktext.addr("bpf_test_run_loop") + k + 5 +
                       int.from_bytes(loop[k + 1:k + 5], "little", signed=True)) == mm.ktext.addr(thunk)
                       for k in range(59))
        else:
            assert b"\xff\xd3" in loop  # call rbx
            assert (b"\x0f\xae\xe8\xff\xd3" in loop) == (cpu.indirect == "lfence")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs_a_struct_ops_trampoline(name):
    from emu.kernel import Kernel
    from kernel_model.prog import PROG_TYPE_STRUCT_OPS
    import struct

    k = Kernel(modules=(), cpu=PRESETS[name])
    try:
        d = k.struct_ops_type("bpf_dummy_ops")
        fd = k.prog_load(assemble("r1 = *(u64 *)(r1 + 0)\nr0 = 7\nif r1 == 0 goto +3\nr2 = *(u32 *)(r1 + 0)\n"
                                  "r2 += 1\n*(u32 *)(r1 + 0) = r2\nexit"),
                         prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                         expected_attach_type=d.member("test_1").index)
        state = k.user.alloc(struct.pack("<i", 41))
        r = k.prog_test_run(fd, ctx_in=struct.pack("<Q", state))
        assert r.retval == 7 and struct.unpack("<i", k.user.read(state, 4))[0] == 42
        thunk = PRESETS[name].return_thunk  # the trampoline returned through it
        ks = k.machine.kallsyms
        assert k.machine.images.trampoline_symbols().return_thunk == (ks.addr_of(thunk) if thunk else 0)
    finally:
        k.shutdown()


@pytest.mark.parametrize("name", ["amd-zen2", "intel-its"])
def test_timed_may_goto_runs_whichever_side_adds_the_frame_pointer(name):
    """70000 iterations: past 0xffff, so arch_bpf_timed_may_goto runs and refills the
    count in the frame slot -- read through r10 as an offset or as a pointer."""
    from emu.kernel.runner import run_program

    src = "r0 = 0\nloop:\nmay_goto out\nr0 += 1\nif r0 < 70000 goto loop\nout:\nexit"
    assert run_program(assemble(src), engine="jit", cpu=PRESETS[name], budget=2_000_000) == 70000
