"""The core vmlinux kfuncs at run time: a syscall program acquires and releases a task
and a cpumask through the JIT in the emulated machine (emu.kernel.core_kfuncs)."""

from __future__ import annotations

from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.prog import PROG_TYPE_SYSCALL
from kernel_model.uapi import BPF_F_SLEEPABLE


def _run(k: Kernel, asm: str, pid: int = 1) -> int:
    syms = {e.name: e.btf_id for e in k.kfuncs.entries if e.btf is k.btf}
    fd = k.prog_load(assemble(asm, symbols=syms), prog_type=PROG_TYPE_SYSCALL, prog_flags=BPF_F_SLEEPABLE)
    return k.prog_test_run(fd, ctx_in=pid.to_bytes(4, "little")).retval


TASK_PID = """
r1 = *(u32 *)(r1 +0)
call bpf_task_from_pid
if r0 == 0 goto none
r6 = r0
r7 = *(u32 *)(r0 +{pid})
r1 = r6
call bpf_task_acquire
if r0 == 0 goto rel
r1 = r0
call bpf_task_release
rel:
r1 = r6
call bpf_task_release
r0 = r7
exit
none:
r0 = -1
exit
"""


def _pid_off(k: Kernel) -> int:
    """task_struct.pid's offset in the emulated BTF (the 6.18 host's layout)."""
    from kernel_model.btf import structs as S

    t = k.btf.get("task_struct", S.KIND_STRUCT)
    return next(m.bits_offset // 8 for m in t.members if m.name == "pid")


def test_task_from_pid_acquire_release_runs() -> None:
    k = Kernel(modules=())
    try:
        asm = TASK_PID.format(pid=_pid_off(k))
        assert _run(k, asm, 1) == 1  # init's pid, read through the acquired pointer
        assert _run(k, asm, 42) == 0xFFFFFFFF  # no such task: NULL
        addr = k.tasks.spawn(42, b"worker")
        assert _run(k, asm, 42) == 42
        assert k.tasks.usage[addr] == 1 and k.tasks.usage[k.tasks.by_pid[1]] == 1  # every reference dropped
        assert k.tasks.warnings == []
    finally:
        k.shutdown()


def test_cpumask_create_set_test_release_runs() -> None:
    k = Kernel(modules=())
    try:
        asm = """
call bpf_cpumask_create
if r0 == 0 goto out
r6 = r0
r1 = 3
r2 = r6
call bpf_cpumask_set_cpu
r1 = 5
r2 = r6
call bpf_cpumask_set_cpu
r1 = r6
call bpf_cpumask_weight
r7 = r0
r1 = 3
r2 = r6
call bpf_cpumask_test_cpu
r7 <<= 8
r7 |= r0
r1 = r6
call bpf_cpumask_first
r7 <<= 8
r7 |= r0
r1 = r6
call bpf_cpumask_release
r0 = r7
exit
out:
r0 = -1
exit
"""
        assert _run(k, asm) == (2 << 16) | (1 << 8) | 3
    finally:
        k.shutdown()


def test_irq_and_rcu_regions_run() -> None:
    k = Kernel(modules=())
    try:
        asm = """
call bpf_rcu_read_lock
call bpf_preempt_disable
r1 = r10
r1 += -8
call bpf_local_irq_save
r6 = 7
r1 = r10
r1 += -8
call bpf_local_irq_restore
call bpf_preempt_enable
call bpf_rcu_read_unlock
r0 = r6
exit
"""
        assert _run(k, asm) == 7  # the flag slot cannot be read by the program (the verifier refuses)
    finally:
        k.shutdown()


def test_bpf_for_over_iter_num_runs() -> None:
    """bpf_iter_num_new(0, 5) yields 0..4 through the JIT (kernel/bpf/bpf_iter.c), then NULL;
    an empty or reversed range yields nothing."""
    k = Kernel(modules=())
    try:
        loop = """
r1 = r10
r1 += -16
r2 = {lo}
r3 = {hi}
call bpf_iter_num_new
r6 = 0
loop:
r1 = r10
r1 += -16
call bpf_iter_num_next
if r0 == 0 goto out
r1 = *(u32 *)(r0 +0)
r6 += r1
r6 += 100
goto loop
out:
r1 = r10
r1 += -16
call bpf_iter_num_destroy
r0 = r6
exit
"""
        assert _run(k, loop.format(lo=0, hi=5)) == 10 + 500
        assert _run(k, loop.format(lo=3, hi=3)) == 0
        assert _run(k, loop.format(lo=5, hi=2)) == 0
        assert _run(k, loop.format(lo=-2, hi=1)) == (-2 - 1 + 0 + 300) & 0xFFFFFFFFFFFFFFFF
    finally:
        k.shutdown()
