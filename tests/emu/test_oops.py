"""Faults in emulated code become kernel-style oops reports (one test per fault kind),
and the whole struct_ops chain runs: indirect caller -> trampoline -> JIT'd program."""

from __future__ import annotations

import pytest

from emu.kernel.kobjects import KObject
from emu.machine.oops import Oops
from jit.trampoline import emit_trampoline, struct_ops_flags
from kernel_model.asm import assemble
from kernel_model.btf.func_model import FuncModel
from kernel_model.prog import PROG_TYPE_STRUCT_OPS, BpfProg
from kernel_model.vmlinux import build_vmlinux_btf

ONE_ARG = FuncModel(1, (8,), (0,), 4, 0)  # int (*test_1)(struct bpf_dummy_ops_state *)


def _struct_ops_member(m, source, *, recur=False, sleepable=False, name="test_1"):
    """Load ``source`` as a struct_ops program, emit its trampoline into a trampoline
    page and store the trampoline in a kdata ``struct bpf_dummy_ops``."""
    btf = build_vmlinux_btf()
    prog = BpfProg(1, PROG_TYPE_STRUCT_OPS, assemble(source), name=name, sleepable=sleepable)
    m.images.load_prog(prog)
    image = m.packs.alloc_trampoline()
    code = emit_trampoline(ONE_ARG, image=image, prog=prog.addr, bpf_func=prog.bpf_func, sleepable=sleepable,
                           flags=struct_ops_flags(ONE_ARG), profile=m.profile,
                           symbols=m.images.trampoline_symbols(recur=recur))
    m.packs.text_copy(image, code)
    m.kallsyms.add(f"bpf__bpf_dummy_ops_{name}", image, len(code), "t", "bpf")
    ops = KObject.new(m, btf, "bpf_dummy_ops", test_1=image)
    state = KObject.new(m, btf, "bpf_dummy_ops_state", val=41)
    return prog, ops, state


def test_chain_indirect_caller_trampoline_program(m):
    prog, ops, state = _struct_ops_member(
        m, "r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 0)\nr0 += 1\n*(u32 *)(r1 + 0) = r0\nexit")
    assert m.call_member(ops.addr, ops.offset_of("test_1"), [state.addr]) == 42
    assert state.val == 42  # the program's store is visible through the BTF view
    # the run context was restored and the RCU / migrate counters balance
    assert m.read_u64(m.alloc.percpu_addr(m.kallsyms.addr_of("bpf_run_ctx"), 0)) == 0


def test_recursion_counter_skips_a_nested_entry(m):
    prog, ops, state = _struct_ops_member(
        m, "r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 0)\nr0 += 1\n*(u32 *)(r1 + 0) = r0\nexit", recur=True)
    active = m.read_u64(prog.addr + 64)  # struct bpf_prog.active (percpu int)
    assert m.call_member(ops.addr, 0, [state.addr]) == 42
    # pretend the program is already running on this CPU: __bpf_prog_enter_recur returns 0
    m.mem.write_u32(m.alloc.percpu_addr(active, 0), 1)
    m.call_member(ops.addr, 0, [state.addr])  # the return slot is stale stack, as in the kernel
    assert state.val == 42  # the program was skipped
    stats = m.read_u64(prog.addr + 56)
    assert m.read_u64(m.alloc.percpu_addr(stats, 0) + 16) == 1  # one miss counted
    assert m.mem.read_u32(m.alloc.percpu_addr(active, 0)) == 1  # enter and exit balance


def test_non_recursive_enter_returns_no_start_time(m):
    enter = m.kallsyms.addr_of("__bpf_prog_enter")
    prog = BpfProg(1, PROG_TYPE_STRUCT_OPS, assemble("r0 = 0\nexit"), name="p")
    m.images.alloc_prog_struct(prog)
    run_ctx = m.alloc.kzalloc(16)
    assert m.call(enter, (prog.addr, run_ctx)) == 1  # NO_START_TIME
    m.call(m.kallsyms.addr_of("__bpf_prog_exit"), (prog.addr, 1, run_ctx))


def test_null_member_oopses_with_the_caller_in_the_trace(m):
    btf = build_vmlinux_btf()
    ops = KObject.new(m, btf, "bpf_dummy_ops")  # test_1 == NULL
    with pytest.raises(Oops) as e:
        m.call_member(ops.addr, 0, [0])
    r = e.value.report
    assert r.kind == "page fault" and r.access == "fetch" and r.address == 0
    assert e.value.text.splitlines()[:3] == [
        "BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "#PF: supervisor instruction fetch in kernel mode",
        "#PF: error_code(0x0010) - not-present page"]
    assert r.trace and r.trace[0].startswith("bpf_struct_ops_call_member+")
    assert "Code: Unable to access opcode bytes" in e.value.text


def test_null_dereference_inside_the_program_names_insn_and_trace(m):
    prog, ops, state = _struct_ops_member(m, "r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 8)\nexit")
    with pytest.raises(Oops) as e:
        m.call_member(ops.addr, 0, [0])
    r = e.value.report
    assert r.address == 8 and r.access == "read" and r.error_code == 0
    assert r.bpf_insn == 1 and r.rip_symbol.startswith("bpf_prog_") and "_test_1+" in r.rip_symbol
    assert [t.split("+")[0] for t in r.trace] == ["bpf__bpf_dummy_ops_test_1", "bpf_struct_ops_call_member"]
    assert "Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI" in e.value.text
    # the machine carries on
    assert m.call_member(ops.addr, 0, [state.addr]) == 0


def test_unmapped_write_and_non_canonical_address(m):
    jp = m.jit(assemble("*(u32 *)(r1 + 0) = 1\nr0 = 0\nexit"), name="wr")
    with pytest.raises(Oops) as e:
        m.call(jp.bpf_func, (0xFFFF_C900_1234_5000,))
    assert e.value.report.error_code == 0x2
    assert "BUG: unable to handle page fault for address: ffffc90012345000" in e.value.text
    with pytest.raises(Oops) as e:
        m.call(jp.bpf_func, (0x8000_0000_0000_0000,))
    assert e.value.report.kind == "general protection fault"
    assert "probably for non-canonical address 0x8000000000000000" in e.value.text


def test_divide_error(m):
    # an unguarded division (the JIT without do_misc_fixups) traps like the CPU does
    jp = m.jit(assemble("r0 = 10\nr0 /= r1\nexit"), name="div")
    with pytest.raises(Oops) as e:
        m.call(jp.bpf_func, (0,))
    assert e.value.report.kind == "divide error" and e.value.report.bpf_insn == 1
    assert "Oops: divide error: 0000 [#1]" in e.value.text


def test_int3_and_invalid_opcode(m):
    at = m.packs.alloc_trampoline(64)
    m.packs.text_copy(at, b"\x55\x48\x89\xe5\xcc")  # push rbp; mov rbp,rsp; int3
    with pytest.raises(Oops) as e:
        m.call(at)
    assert e.value.report.kind == "int3" and e.value.report.rip == at + 4
    m.packs.text_copy(at, b"\x0f\x0b")  # ud2
    with pytest.raises(Oops) as e:
        m.call(at)
    assert e.value.report.kind == "invalid opcode"


def test_stack_overflow_hits_the_guard_page(m):
    from verifier.cfg import find_subprogs

    insns = assemble("call self\nexit\nself:\ncall self\nexit")
    jp = m.jit(insns, starts=find_subprogs(insns), name="deep")  # the starts the verifier finds
    with pytest.raises(Oops) as e:
        m.call(jp.bpf_func)
    lo, _ = m.stacks[0]
    assert e.value.report.access == "write" and lo - 4096 <= e.value.report.address < lo


def test_probe_mem_fault_is_fixed_up_by_the_exception_table(m):
    from kernel_model.insn import Insn

    # BPF_LDX | BPF_PROBE_MEM | BPF_DW: what the verifier makes of a load through a BTF pointer
    jp = m.jit([Insn(0x79 & ~0xE0 | 0x20, 0, 1, 0, 0), Insn(0x07, 0, 0, 0, 5), Insn(0x95)], name="probe")
    assert m.call(jp.bpf_func, (0x10,)) == 5  # the faulting load gave 0
