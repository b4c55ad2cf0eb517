"""The machine's cost-saving design must not be observable: regions mapped on first
touch, packs created by the first allocation and freed when empty, reset equal to a
fresh machine, counted and uncounted runs on one engine, the soft-lockup watchdog,
the stub dispatch table, and close()."""

from __future__ import annotations

import errno

import pytest

from emu.machine import (KDATA_BASE, MODULES_VADDR, PACK_SIZE, VMALLOC_DATA, Machine,
                         MachineBudgetExceeded)
from emu.machine.oops import Oops
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.insn import Insn

SPIN = "r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit"


@pytest.fixture
def m():
    machine = Machine()
    yield machine
    machine.close()


def _region(m, name):
    return next(r for r in m.mem.regions if r.name == name)


def _stub_prog(m, addr, source="call 1\nexit"):
    prog = assemble(source)
    k = next(i for i, ins in enumerate(prog) if ins.code == 0x85)
    prog[k] = Insn(0x85, 0, 0, 0, m.images.call_imm(addr))
    return prog


# --- regions mapped on first touch -----------------------------------------------------------
def test_lazy_regions_read_as_zero_from_emulated_code_and_python(m):
    assert not _region(m, "kernel data").mapped and not _region(m, "vmalloc").mapped
    jp = m.jit(assemble(f"r1 = {KDATA_BASE + 0x100:#x} ll\nr0 = *(u64 *)(r1 + 0)\nexit"), name="kd")
    assert m.call(jp.bpf_func) == 0  # the read maps the region (zero-filled) and is retried
    assert _region(m, "kernel data").mapped
    assert m.mem.peek(VMALLOC_DATA + 8, 8) == bytes(8)  # host access maps it too
    assert _region(m, "vmalloc").mapped


def test_lazy_region_written_by_a_program_is_seen_by_python(m):
    jp = m.jit(assemble(f"r1 = {VMALLOC_DATA + 0x40:#x} ll\nr2 = 0x1234\n*(u64 *)(r1 + 0) = r2\n"
                        "r0 = *(u64 *)(r1 + 0)\nexit"), name="vw")
    assert m.call(jp.bpf_func) == 0x1234
    assert m.read_u64(VMALLOC_DATA + 0x40) == 0x1234


def test_fetch_from_a_lazy_data_region_is_still_an_nx_oops(m):
    with pytest.raises(Oops) as e:
        m.call(KDATA_BASE + 0x80)
    assert "kernel tried to execute NX-protected page" in e.value.text
    assert e.value.report.address == KDATA_BASE + 0x80


def test_second_cpu_stack_is_mapped_when_first_used(m):
    assert not _region(m, "stack cpu1").mapped
    m.runner.set_cpu(1)
    try:
        assert m.call(m.kallsyms.addr_of("__bpf_call_base")) == 0
        assert _region(m, "stack cpu1").mapped
    finally:
        m.runner.set_cpu(0)


def test_poke_outside_every_region_is_a_kernel_error(m):
    with pytest.raises(KernelError) as e:
        m.mem.poke(0xFFFF_EA00_0000_0000, b"x")
    assert e.value.errno == errno.EFAULT


# --- bpf_prog_pack ---------------------------------------------------------------------------
def test_packs_come_with_the_first_allocation_and_go_when_empty(m):
    with pytest.raises(KernelError):
        m.mem.peek(MODULES_VADDR, 1)  # no pack before the first allocation, as in the kernel
    with pytest.raises(Oops) as e:
        m.call(MODULES_VADDR + 0x40)
    assert "not-present page" in e.value.text
    jp = m.jit(assemble("r0 = 3\nexit"), name="three")
    assert MODULES_VADDR <= jp.bpf_func < MODULES_VADDR + PACK_SIZE
    assert m.mem.peek(MODULES_VADDR + PACK_SIZE - 64, 64) == b"\xcc" * 64  # jit_fill_hole
    assert m.call(jp.bpf_func) == 3
    tramp = m.packs.alloc_trampoline()
    m.packs.text_copy(tramp, b"\x31\xc0\xc3")
    m.images.free_jit(jp)
    assert len(m.packs) == 1  # the trampoline page keeps the pack
    m.packs.free_trampoline(tramp)
    assert len(m.packs) == 0  # bpf_prog_pack_free frees an empty pack
    with pytest.raises(KernelError):
        m.mem.peek(MODULES_VADDR, 1)
    jp2 = m.jit(assemble("r0 = 4\nexit"), name="four")  # a new pack, int3 again, same place
    assert m.call(jp2.bpf_func) == 4
    assert [p.base for p in m.packs] == [MODULES_VADDR] and jp2.bpf_func < MODULES_VADDR + 64
    assert m.mem.peek(MODULES_VADDR + 64, PACK_SIZE - 64) == b"\xcc" * (PACK_SIZE - 64)  # the old trampoline too


# --- reset equals fresh ----------------------------------------------------------------------
def _state(m):
    jp = m.jit(assemble("r0 = r1\nexit"), name="probe")
    stub = m.add_stub("bpf_probe_stub", lambda mem, *a: 0)
    return (m.kallsyms.proc_kallsyms(), jp.bpf_func, stub, m.alloc.kmalloc(24), m.alloc.kdata_alloc(16),
            m.alloc.alloc_percpu(8), [(r.name, r.base, r.size, r.perms) for r in m.mem.regions if r.mapped or True],
            m.call(jp.bpf_func, (7,)))


def test_reset_gives_the_state_of_a_fresh_machine(m):
    fresh = _state(m)
    # use the machine in every way reset must undo
    for k in range(3):
        m.jit(assemble(f"r0 = {k}\nexit"), name=f"p{k}")
        m.add_stub(f"bpf_extra_{k}", lambda mem, *a: 1)
    m.kallsyms.add("bpf__dummy_ops_test_1", MODULES_VADDR + 0x1000, 64, "t", "bpf")
    m.packs.alloc_trampoline()
    m.alloc.kmalloc(4000)
    m.calls.remove("arch_bpf_timed_may_goto")  # even a built-in stub comes back
    m.reset()
    again = _state(m)
    assert again == fresh
    m.reset()
    assert "arch_bpf_timed_may_goto" in m.calls.by_name


# --- counted and uncounted runs ----------------------------------------------------------------
def test_counted_run_after_uncounted_translation_still_counts():
    with Machine(budget=0, soft_lockup_s=0.2) as m:
        jp = m.jit(assemble(SPIN), name="spin")
        with pytest.raises(MachineBudgetExceeded) as e:
            m.call(jp.bpf_func)  # uncounted: translated without Unicorn's counter
        assert e.value.what == "soft lockup"
        m.runner.time_budget_us = 2_000_000  # if counting were broken this stops it as "time"
        with pytest.raises(MachineBudgetExceeded) as e:
            m.call(jp.bpf_func, budget=10_000)
        assert e.value.what == "instruction" and e.value.budget == 10_000
        m.runner.time_budget_us = 0
        jp2 = m.jit(assemble("r0 = r1\nr0 *= 3\nexit"), name="triple")
        assert m.call(jp2.bpf_func, (5,)) == 15  # back to uncounted
        assert m.call(jp2.bpf_func, (6,), budget=100) == 18


def test_uncounted_run_on_a_counted_machine(m):
    jp = m.jit(assemble("r0 = 0\nr1 = 0\nl:\nr0 += r1\nr1 += 1\nif r1 < 5000 goto l\nexit"), name="sum")
    with pytest.raises(MachineBudgetExceeded):
        m.call(jp.bpf_func, budget=1000)
    assert m.call(jp.bpf_func, budget=0) == sum(range(5000))
    assert m.call(jp.bpf_func) == sum(range(5000))  # the default budget (50 M) again


def test_soft_lockup_watchdog_stops_a_runaway_uncounted_program():
    with Machine(budget=0, soft_lockup_s=0.2) as m:
        jp = m.jit(assemble(SPIN), name="spin")
        with pytest.raises(MachineBudgetExceeded) as e:
            m.call(jp.bpf_func)
        err = e.value
        assert err.what == "soft lockup" and err.index in (1, 2) and "spin" in err.rip_symbol
        assert str(err).startswith("watchdog: BUG: soft lockup - CPU#0 stuck for ")
        assert m.call(m.kallsyms.addr_of("__bpf_call_base")) == 0  # the machine goes on
        assert m.runner.run_loop(m.kallsyms.addr_of("__bpf_call_base"), 0, 100) == 0


# --- stub dispatch ---------------------------------------------------------------------------
def test_stub_results_wrap_like_rax_and_bad_results_raise(m):
    neg = m.add_stub("bpf_neg", lambda mem, a, *r: -a)
    assert m.call(m.jit(_stub_prog(m, neg, "r1 = 5\ncall 1\nexit"), name="neg").bpf_func) == (1 << 64) - 5
    bad = m.add_stub("bpf_none", lambda mem, *a: None)
    with pytest.raises(TypeError):
        m.call(m.jit(_stub_prog(m, bad), name="none").bpf_func)
    assert m.call(m.kallsyms.addr_of("__bpf_call_base")) == 0


def test_rebinding_a_slot_dispatches_to_the_new_function(m):
    a = m.add_stub("bpf_first", lambda mem, *r: 1)
    jp = m.jit(_stub_prog(m, a), name="first")
    assert m.call(jp.bpf_func) == 1
    m.calls.remove("bpf_first")
    with pytest.raises(KernelError) as e:
        m.call(jp.bpf_func)
    assert e.value.errno == errno.ENOSYS  # a stub slot with nothing bound
    b = m.add_stub("bpf_second", lambda mem, *r: 2)
    assert b == a  # the freed slot is reused
    assert m.call(jp.bpf_func) == 2


def test_raw_stub_sees_every_register(m):
    from unicorn import x86_const as X

    def raw(machine):
        machine.fast.write(X.UC_X86_REG_RAX, machine.fast.read(X.UC_X86_REG_R9) + 1)

    addr = m.add_stub("raw_stub", raw=raw, kind="kernel")
    assert m.call(addr, (0, 0, 0, 0, 0, 41)) == 42


# --- close -----------------------------------------------------------------------------------
def test_every_use_after_close_is_ebadf():
    m = Machine()
    buf = m.alloc.kmalloc(8)
    m.close()
    for use in (lambda: m.read(buf, 8), lambda: m.mem.poke(buf, b"x"), lambda: m.call(buf),
                lambda: m.alloc.kzalloc(8)):
        with pytest.raises(KernelError) as e:
            use()
        assert e.value.errno == errno.EBADF


def test_machines_dropped_without_close_are_collected_safely():
    import gc

    for k in range(5):
        m = Machine()
        jp = m.jit(assemble(f"r0 = {k}\nexit"), name="drop")
        assert m.call(jp.bpf_func) == k
        m.runner.set_cpu(1)
        m.alloc.kdata_alloc(8)
        del m, jp  # the engine is closed by the binding's finalizer, then the host buffers go
        gc.collect()
    with Machine() as m2:  # the pool and the process are fine afterwards
        assert m2.call(m2.jit(assemble("r0 = 9\nexit"), name="after").bpf_func) == 9
