"""References, RCU, preemption and IRQ-flag regions through the verifier model (issue 13).

Each program is a sleepable ``BPF_PROG_TYPE_SYSCALL`` program calling the kernel's kfuncs
(bpf_task_from_pid/acquire/release, bpf_cpumask_*, bpf_rcu_read_lock/unlock,
bpf_preempt_disable/enable, bpf_local_irq_save/restore) and bpf_get_current_task_btf.
The expected errno and last log line of each are the 6.18 host's (recorded from loads of
the same instructions); the ``kernel``-marked test loads them into the running kernel
again and compares the whole level-2 log (kfunc BTF ids, and the padding their digits
change, masked), the verdict and errno.
"""

from __future__ import annotations

import errno as E
import re

import pytest

from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from verifier import verify

#: name -> (program, errno (0: accepted), the kernel's last line before the statistics)
PROGRAMS: dict[str, tuple[str, int, str | None]] = {
    'release_unref': ('call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_release\nr0 = 0\nexit\n',
        22, 'release kernel function bpf_task_release expects refcounted PTR_TO_BTF_ID'),
    'release_scalar': ('r1 = 0\ncall bpf_task_release\nr0 = 0\nexit\n',
        13, 'Possibly NULL pointer passed to trusted arg0'),
    'double_release': ('r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_task_release\nr1 = r6\ncall bpf_task_release\nout:\nr0 = 0\nexit\n',
        22, 'arg#0 pointer type STRUCT task_struct must point to scalar, or struct with scalar'),
    'use_after_release': ('r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_task_release\nr0 = *(u32 *)(r6 +0)\nout:\nr0 = 0\nexit\n',
        13, "R6 invalid mem access 'scalar'"),
    'nonnull_check': ('r1 = 1\ncall bpf_task_from_pid\nr1 = r0\ncall bpf_task_release\nr0 = 0\nexit\n',
        13, 'Possibly NULL pointer passed to trusted arg0'),
    'acquire_trusted': ('call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_acquire\nif r0 == 0 goto out\nr1 = r0\ncall bpf_task_release\nout:\nr0 = 0\nexit\n',
        0, None),
    'rcu_missing': ('call bpf_rcu_read_lock\nr0 = 0\nexit\n',
        22, 'BPF_EXIT instruction in main prog cannot be used inside bpf_rcu_read_lock-ed region'),
    'rcu_unmatched': ('call bpf_rcu_read_unlock\nr0 = 0\nexit\n',
        22, 'unmatched rcu read unlock (kernel function bpf_rcu_read_unlock)'),
    'rcu_nested': ('call bpf_rcu_read_lock\ncall bpf_rcu_read_lock\ncall bpf_rcu_read_unlock\ncall bpf_rcu_read_unlock\nr0 = 0\nexit\n',
        22, 'nested rcu read lock (kernel function bpf_rcu_read_lock)'),
    'preempt_missing': ('call bpf_preempt_disable\nr0 = 0\nexit\n',
        22, 'BPF_EXIT instruction in main prog cannot be used inside bpf_preempt_disable-ed region'),
    'preempt_unmatched': ('call bpf_preempt_enable\nr0 = 0\nexit\n',
        22, 'unmatched attempt to enable preemption (kernel function bpf_preempt_enable)'),
    'preempt_nested_ok': ('call bpf_preempt_disable\ncall bpf_preempt_disable\ncall bpf_preempt_enable\ncall bpf_preempt_enable\nr0 = 0\nexit\n',
        0, None),
    'sleepable_in_rcu': ('call bpf_rcu_read_lock\nr1 = 1\ncall bpf_task_from_pid\nr0 = 0\ncall bpf_rcu_read_unlock\nr0 = 0\nexit\n',
        22, 'BPF_EXIT instruction in main prog would lead to reference leak'),
    'leak_two': ('r1 = 1\ncall bpf_task_from_pid\nr6 = r0\nr1 = 1\ncall bpf_task_from_pid\nr0 = 0\nexit\n',
        22, 'BPF_EXIT instruction in main prog would lead to reference leak'),
    'cpumask': ('call bpf_cpumask_create\nif r0 == 0 goto out\nr6 = r0\nr1 = 0\nr2 = r0\ncall bpf_cpumask_set_cpu\nr1 = r6\ncall bpf_cpumask_release\nout:\nr0 = 0\nexit\n',
        0, None),
    'irq_missing': ('r1 = r10\nr1 += -8\ncall bpf_local_irq_save\nr0 = 0\nexit\n',
        22, 'BPF_EXIT instruction in main prog cannot be used inside bpf_local_irq_save-ed region'),
    'irq_ok': ('r1 = r10\nr1 += -8\ncall bpf_local_irq_save\nr1 = r10\nr1 += -8\ncall bpf_local_irq_restore\nr0 = 0\nexit\n',
        0, None),
    'irq_out_of_order': ('r1 = r10\nr1 += -8\ncall bpf_local_irq_save\nr1 = r10\nr1 += -16\ncall bpf_local_irq_save\nr1 = r10\nr1 += -8\ncall bpf_local_irq_restore\nr0 = 0\nexit\n',
        13, 'cannot restore irq state out of order, expected id=2 acquired at insn_idx=5'),
    'irq_double_save': ('r1 = r10\nr1 += -8\ncall bpf_local_irq_save\nr1 = r10\nr1 += -8\ncall bpf_local_irq_save\nr0 = 0\nexit\n',
        22, 'expected uninitialized irq flag as arg#0'),
    'irq_restore_uninit': ('r1 = r10\nr1 += -8\ncall bpf_local_irq_restore\nr0 = 0\nexit\n',
        22, 'expected an initialized irq flag as arg#0'),
    'irq_misaligned': ('r1 = r10\nr1 += -4\ncall bpf_local_irq_save\nr0 = 0\nexit\n',
        22, 'expected uninitialized irq flag as arg#0'),
    'irq_not_stack': ('r1 = 0\ncall bpf_local_irq_save\nr0 = 0\nexit\n',
        13, 'Possibly NULL pointer passed to trusted arg0'),
    'irq_nested_ok': ('r1 = r10\nr1 += -8\ncall bpf_local_irq_save\nr1 = r10\nr1 += -16\ncall bpf_local_irq_save\nr1 = r10\nr1 += -16\ncall bpf_local_irq_restore\nr1 = r10\nr1 += -8\ncall bpf_local_irq_restore\nr0 = 0\nexit\n',
        0, None),
    'subprog_acquire': ('call acq\nif r0 == 0 goto out\nr1 = r0\ncall bpf_task_release\nout:\nr0 = 0\nexit\nacq:\nr1 = 1\ncall bpf_task_from_pid\nexit\n',
        0, None),
    'subprog_leak': ('call acq\nr0 = 0\nexit\nacq:\nr1 = 1\ncall bpf_task_from_pid\nr0 = 0\nexit\n',
        22, 'BPF_EXIT instruction in main prog would lead to reference leak'),
    'subprog_release': ('r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto out\nr1 = r0\ncall rel\nout:\nr0 = 0\nexit\nrel:\ncall bpf_task_release\nr0 = 0\nexit\n',
        0, None),
    'spill_release': ('r1 = 1\ncall bpf_task_from_pid\n*(u64 *)(r10 -8) = r0\nif r0 == 0 goto out\nr1 = r0\ncall bpf_task_release\nr0 = *(u64 *)(r10 -8)\nr0 = *(u32 *)(r0 +0)\nout:\nr0 = 0\nexit\n',
        13, "R0 invalid mem access 'scalar'"),
    'cpumask_test': ('call bpf_cpumask_create\nif r0 == 0 goto out\nr6 = r0\nr1 = 3\nr2 = r0\ncall bpf_cpumask_test_cpu\nr1 = r6\ncall bpf_cpumask_weight\nr1 = r6\ncall bpf_cpumask_release\nout:\nr0 = 0\nexit\n',
        0, None),
    'cpumask_offset_release': ('call bpf_cpumask_create\nif r0 == 0 goto out\nr0 += 8\nr1 = r0\ncall bpf_cpumask_release\nout:\nr0 = 0\nexit\n',
        22, 'R1 must have zero offset when passed to release func or trusted arg to kfunc'),
    'cpumask_wrong_type': ('r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_cpumask_release\nout:\nr0 = 0\nexit\n',
        22, 'kernel function bpf_cpumask_release args#0 expected pointer to STRUCT bpf_cpumask but R1 has a pointer to STRUCT task_struct'),
    'rcu_subprog': ('call bpf_rcu_read_lock\ncall f\ncall bpf_rcu_read_unlock\nr0 = 0\nexit\nf:\nr0 = 0\nexit\n',
        0, None),
    'rcu_subprog_exit': ('call f\ncall bpf_rcu_read_unlock\nr0 = 0\nexit\nf:\ncall bpf_rcu_read_lock\nr0 = 0\nexit\n',
        0, None),
    'preempt_irq_mix': ('call bpf_preempt_disable\nr1 = r10\nr1 += -8\ncall bpf_local_irq_save\ncall bpf_preempt_enable\nr0 = 0\nexit\n',
        22, 'BPF_EXIT instruction in main prog cannot be used inside bpf_local_irq_save-ed region'),
    'acquire_in_loop_pruned': ('r6 = 0\nloop:\nr1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto skip\nr1 = r0\ncall bpf_task_release\nskip:\nr6 += 1\nif r6 < 4 goto loop\nr0 = 0\nexit\n',
        0, None),
    'release_after_null_branch': ('r1 = 1\ncall bpf_task_from_pid\nr6 = r0\nif r0 != 0 goto rel\nr0 = 0\nexit\nrel:\nr1 = r6\ncall bpf_task_release\nr0 = 0\nexit\n',
        0, None),
    'irq_scalar': ('r1 = 5\ncall bpf_local_irq_save\nr0 = 0\nexit\n',
        22, "arg#0 doesn't point to an irq flag on stack"),
    'irq_ctx': ('call bpf_local_irq_save\nr0 = 0\nexit\n',
        22, "arg#0 doesn't point to an irq flag on stack"),
}

def _model(asm: str, level: int = 1):  # type: ignore[no-untyped-def]
    insns = assemble(asm, symbols=symbols_for())
    insns, env = program_env(insns, prog_type="syscall", flags="sleepable")
    return verify(insns, env, log_level=level)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_model_answers_as_the_host(name: str) -> None:
    asm, errno, last = PROGRAMS[name]
    r = _model(asm)
    assert (r.errno, r.error_line if not r.accepted else None) == (errno, last), r.log


def test_leak_report_names_every_reference() -> None:
    log = _model(PROGRAMS["leak_two"][0]).log.splitlines()
    assert log[-4:-1] == ["Unreleased reference id=2 alloc_insn=1", "Unreleased reference id=4 alloc_insn=4",
                          "BPF_EXIT instruction in main prog would lead to reference leak"]


def test_irq_flag_slot_and_reference_print_as_the_host() -> None:
    log = _model(PROGRAMS["irq_missing"][0]).log
    assert "2: (85) call bpf_local_irq_save#" in log and "; fp-8=ffffffff refs=1\n" in log


def test_kfunc_not_allowed_for_socket_filter() -> None:
    """bpf_task_from_pid's set is not registered for socket filters (host: EACCES)."""
    insns, env = program_env(assemble("r1 = 1\ncall bpf_task_from_pid\nr0 = 0\nexit", symbols=symbols_for()))
    r = verify(insns, env)
    assert (r.errno, r.error_line) == (E.EACCES, "calling kernel function bpf_task_from_pid is not allowed")


def _mask(log: str) -> str:
    log = re.sub(r"processed \d+ insns.*", "", log)
    return re.sub(r"#\d+", "#N", re.sub(r"#\d+ *;", "#N ;", log))


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_host_agrees(name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    asm, errno, last = PROGRAMS[name]
    syms = {n: hostbpf.host_btf_id(n, "func") for n in set(re.findall(r"call (bpf_\w+)", asm))}
    if any(v is None for v in syms.values()):
        pytest.skip(f"the host's BTF lacks one of {sorted(syms)}")
    insns = assemble(asm, symbols={k: v for k, v in syms.items() if v is not None})
    h = hostbpf.prog_load(31, b"".join(i.to_bytes() for i in insns), prog_flags=16, log_level=2)
    accepted = h.accepted
    h.close()
    assert (h.errno, h.error_line() if not accepted else None) == (errno, last), h.log
    m = _model(asm, level=2)
    assert (m.errno, m.accepted) == (h.errno, accepted)
    assert _mask(m.log) == _mask(h.log)
