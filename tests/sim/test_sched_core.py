"""The simulated sched_ext core with Python schedulers: callback order, DSQ rules,
errors and the watchdog (kernel/sched/ext.c, 6.12/6.18, as cited in the module)."""

from __future__ import annotations

from kernel_model.subsystems.sched_ext import SCX_DSQ_GLOBAL, SCX_DSQ_LOCAL, SCX_DSQ_LOCAL_ON, SCX_SLICE_DFL
from kernel_model.subsystems.sched_ext_core import (
    SCX_EXIT_ERROR, SCX_EXIT_ERROR_BPF, SCX_EXIT_ERROR_STALL, SCX_EXIT_UNREG, PyOps, SchedExtCore, TaskSpec,
    bstr_printf, weight_of_nice,
)

MS = 1_000_000


class Recorder(PyOps):
    """Every callback recorded; tasks go to the global DSQ."""

    name = "rec"

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []

    def _r(self, what: str, p=None) -> None:  # type: ignore[no-untyped-def]
        self.log.append((what, p.pid if p is not None else -1))

    def init(self) -> int:
        self._r("init")
        return 0

    def init_task(self, p, args) -> int:  # type: ignore[no-untyped-def]
        self._r("init_task", p)
        return 0

    def enable(self, p) -> None:  # type: ignore[no-untyped-def]
        self._r("enable", p)

    def select_cpu(self, p, prev_cpu, wake_flags) -> int:  # type: ignore[no-untyped-def]
        self._r("select_cpu", p)
        return prev_cpu

    def runnable(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self._r("runnable", p)

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self._r("enqueue", p)
        self.scx.dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, f)

    def dispatch(self, cpu, prev) -> None:  # type: ignore[no-untyped-def]
        self._r("dispatch")

    def running(self, p) -> None:  # type: ignore[no-untyped-def]
        self._r("running", p)

    def tick(self, p) -> None:  # type: ignore[no-untyped-def]
        self._r("tick", p)

    def stopping(self, p, runnable) -> None:  # type: ignore[no-untyped-def]
        self._r("stopping", p)

    def quiescent(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self._r("quiescent", p)

    def disable(self, p) -> None:  # type: ignore[no-untyped-def]
        self._r("disable", p)

    def exit_task(self, p, args) -> None:  # type: ignore[no-untyped-def]
        self._r("exit_task", p)

    def exit(self, ei) -> None:  # type: ignore[no-untyped-def]
        self._r("exit")
        self.ei = ei


def test_callbacks_come_in_the_kernels_order() -> None:
    ops = Recorder()
    core = SchedExtCore(1, [TaskSpec("a", run_ns=3 * MS, sleep_ns=2 * MS, total_ns=9 * MS, jitter=0)])
    core.enable(ops)
    core.start()
    core.run(100 * MS)
    core.unregister()
    names = [w for w, _ in ops.log if w not in ("tick", "dispatch")]
    assert "tick" in [w for w, _ in ops.log]
    # scx_enable_workfn: init, init_task, then (bypass) enable + runnable, no enqueue
    assert names[:4] == ["init", "init_task", "enable", "runnable"]
    # the first run: running; the burst ends: stopping, quiescent; a wakeup: select_cpu is
    # skipped (one CPU: nr_cpus_allowed == 1), runnable, enqueue
    first = names.index("running")
    assert names[first:first + 3] == ["running", "stopping", "quiescent"]
    assert names[first + 3:first + 5] == ["runnable", "enqueue"]
    # the task exits after 9 ms of CPU: disable and exit_task (sched_ext_free), then exit at unload
    assert names[-3:] == ["disable", "exit_task", "exit"]
    assert ops.ei.kind == SCX_EXIT_UNREG and ops.ei.reason == "unregistered from user space"
    assert core.tasks[0].runtime_ns == 9 * MS and core.tasks[0].state == "dead"


def test_select_cpu_runs_on_wakeups_with_more_than_one_cpu() -> None:
    ops = Recorder()
    core = SchedExtCore(2, [TaskSpec("a", run_ns=1 * MS, sleep_ns=1 * MS, jitter=0)])
    core.enable(ops)
    core.start()
    core.run(10 * MS)
    names = [w for w, _ in ops.log]
    i = names.index("select_cpu")
    assert names[i:i + 3] == ["select_cpu", "runnable", "enqueue"]


def test_slice_expiry_goes_through_stopping_and_enqueue() -> None:
    """Two CPU-bound tasks on one CPU: every 20 ms slice (checked at 4 ms ticks)
    the running one is put back through ops.enqueue and the other runs."""
    ops = Recorder()
    core = SchedExtCore(1, [TaskSpec("a", run_ns=10**9), TaskSpec("b", run_ns=10**9)])
    core.enable(ops)
    core.start()
    core.run(200 * MS)
    a, b = core.tasks
    assert abs(a.runtime_ns - b.runtime_ns) <= SCX_SLICE_DFL
    assert a.switches >= 4 and b.switches >= 4
    assert max(a.max_wait_ns, b.max_wait_ns) <= SCX_SLICE_DFL + 4 * MS


def test_fallback_fifo_without_a_scheduler_keeps_cpus_busy() -> None:
    core = SchedExtCore(3, [TaskSpec(f"t{i}", run_ns=10**9) for i in range(5)])
    core.start()
    core.run(500 * MS)
    assert all(c.busy_ns == 500 * MS for c in core.cpus)
    assert all(t.runtime_ns > 0 for t in core.tasks)
    assert not core.stats.member_calls


class Lost(PyOps):
    """Keeps every task: never inserts it anywhere."""

    name = "lost"
    timeout_ms = 1000

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        pass

    def exit(self, ei) -> None:  # type: ignore[no-untyped-def]
        self.ei = ei


def test_the_watchdog_disables_a_scheduler_that_loses_tasks() -> None:
    ops = Lost()
    core = SchedExtCore(1, [TaskSpec("a", run_ns=10**9), TaskSpec("b", run_ns=10**9)])
    core.enable(ops)
    core.start()
    core.run(3000 * MS)
    ei = core.exit_history[0]
    assert ei.kind == SCX_EXIT_ERROR_STALL and ei.reason == "runnable task stall"
    assert ei.msg.startswith("b[101] failed to run for 1.") or ei.msg.startswith("a[100] failed to run for 1.")
    assert ops.ei is ei
    # after the disable the tasks fall back to the global FIFO: both ran by the end
    assert all(t.runtime_ns > 0 for t in core.tasks)
    assert not core.enabled


class BadDsq(PyOps):
    name = "bad"

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self.scx.dsq_insert(p, 42, SCX_SLICE_DFL, f)  # never created


def test_insert_into_a_missing_dsq_is_an_error_and_the_task_still_runs() -> None:
    core = SchedExtCore(1, [TaskSpec("a", run_ns=2 * MS, sleep_ns=MS), TaskSpec("b", run_ns=10**9)])
    core.enable(BadDsq())
    core.start()
    core.run(200 * MS)
    ei = core.exit_history[0]
    assert ei.kind == SCX_EXIT_ERROR and ei.msg.startswith("non-existent DSQ 0x2a for ")
    assert all(t.runtime_ns > 0 for t in core.tasks)


class Vtime(PyOps):
    name = "vt"

    def init(self) -> int:
        return self.scx.create_dsq(0, -1)

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self.scx.dsq_insert_vtime(p, 0, SCX_SLICE_DFL, p.dsq_vtime, f)

    def dispatch(self, cpu, prev) -> None:  # type: ignore[no-untyped-def]
        self.scx.dsq_move_to_local(0)

    def stopping(self, p, runnable) -> None:  # type: ignore[no-untyped-def]
        p.dsq_vtime += (SCX_SLICE_DFL - p.slice) * 100 // p.weight


def test_weights_share_the_cpu() -> None:
    """A vtime scheduler favours the heavier task. (With only two tasks on one CPU they
    alternate whatever their weights: ops.dispatch runs before the previous task is
    put back through ops.enqueue -- balance_one before put_prev_task_scx.)"""
    core = SchedExtCore(1, [TaskSpec("hi", run_ns=10**9, nice=-5)] +
                        [TaskSpec(f"lo{i}", run_ns=10**9, nice=5) for i in range(3)])
    core.enable(Vtime())
    core.start()
    core.run(4000 * MS)
    hi, *lo = core.tasks
    assert weight_of_nice(-5) > 9 * weight_of_nice(5)
    assert all(hi.runtime_ns > 2 * t.runtime_ns for t in lo), [t.runtime_ns for t in core.tasks]


class MixedDsq(PyOps):
    name = "mixed"

    def init(self) -> int:
        return self.scx.create_dsq(7, -1)

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        if p.pid % 2:
            self.scx.dsq_insert_vtime(p, 7, SCX_SLICE_DFL, 0, f)
        else:
            self.scx.dsq_insert(p, 7, SCX_SLICE_DFL, f)


def test_fifo_and_priq_inserts_into_one_dsq_are_an_error() -> None:
    core = SchedExtCore(1, [TaskSpec(f"t{i}", run_ns=10**9) for i in range(3)])
    core.enable(MixedDsq())
    core.start()
    core.run(200 * MS)
    assert core.exit_history[0].msg in ("DSQ ID 0x0000000000000007 already had FIFO-enqueued tasks",
                                        "DSQ ID 0x0000000000000007 already had PRIQ-enqueued tasks")


class VtimeOnGlobal(PyOps):
    name = "vg"

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self.scx.dsq_insert_vtime(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, 0, f)


def test_vtime_on_a_builtin_dsq_is_refused() -> None:
    core = SchedExtCore(1, [TaskSpec(f"t{i}", run_ns=10**9) for i in range(2)])
    core.enable(VtimeOnGlobal())
    core.start()
    core.run(100 * MS)
    assert core.exit_history[0].msg == "cannot use vtime ordering for built-in DSQs"


class Pinned(PyOps):
    """Each task to the local DSQ of CPU pid % 2 (SCX_DSQ_LOCAL_ON)."""

    name = "pin"

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self.scx.dsq_insert(p, SCX_DSQ_LOCAL_ON | (p.pid % 2), SCX_SLICE_DFL, f)
        self.scx.kick_cpu(p.pid % 2, 0)


def test_local_on_dispatch_pins_tasks() -> None:
    core = SchedExtCore(2, [TaskSpec(f"t{i}", run_ns=10**9) for i in range(4)])
    core.enable(Pinned())
    core.start()
    core.run(300 * MS)
    for rq in core.cpus:
        late = {pid for pid, s, e in rq.segments if s >= 50 * MS}
        assert late and all(pid % 2 == rq.cpu for pid in late)


class Erring(PyOps):
    name = "err"

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self.scx.bpf_error(bstr_printf("bad task %s[%d]", [0, p.pid], lambda a: p.comm))


def test_scx_bpf_error_disables_with_its_message() -> None:
    core = SchedExtCore(1, [TaskSpec("a", run_ns=10**9), TaskSpec("b", run_ns=10**9)])
    core.enable(Erring())
    core.start()
    core.run(100 * MS)
    ei = core.exit_history[0]
    assert ei.kind == SCX_EXIT_ERROR_BPF and ei.reason == "scx_bpf_error"
    assert ei.msg in ("bad task (null)[100]", "bad task (null)[101]")


class DispatchFromEnqueue(PyOps):
    name = "dfe"

    def init(self) -> int:
        return self.scx.create_dsq(1, -1)

    def enqueue(self, p, f) -> None:  # type: ignore[no-untyped-def]
        self.scx.dsq_move_to_local(1)


def test_a_dispatch_kfunc_outside_dispatch_is_an_error() -> None:
    core = SchedExtCore(1, [TaskSpec("a", run_ns=10**9), TaskSpec("b", run_ns=10**9)])
    core.enable(DispatchFromEnqueue())
    core.start()
    core.run(100 * MS)
    assert core.exit_history[0].msg == "kfunc with mask 0x2 called from an operation only allowing 0x4"


class FailInit(PyOps):
    name = "fi"

    def init(self) -> int:
        return -12

    def exit(self, ei) -> None:  # type: ignore[no-untyped-def]
        self.ei = ei


def test_a_failing_init_reaches_exit_and_the_load_returns_zero() -> None:
    ops = FailInit()
    core = SchedExtCore(1, [TaskSpec("a")])
    assert core.enable(ops) == 0
    assert ops.ei.kind == SCX_EXIT_ERROR and ops.ei.msg == "ops.init() failed (-12)"
    assert not core.enabled


def test_runs_are_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[int]:
        wl = [TaskSpec(f"t{i}", run_ns=3 * MS, sleep_ns=2 * MS) for i in range(5)]
        core = SchedExtCore(2, wl, seed=seed)
        core.enable(Vtime())
        core.start()
        core.run(300 * MS)
        return [t.runtime_ns for t in core.tasks] + [t.wait_ns for t in core.tasks]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_bstr_printf_formats_like_the_kernel() -> None:
    assert bstr_printf("%d %u %x %5d|%-3d|%s %%", [(-3) & ((1 << 64) - 1), 7, 255, 42, 1, 99],
                       lambda a: "str") == "-3 7 ff    42|1  |str %"


def test_local_dsq_constant() -> None:
    assert SCX_DSQ_LOCAL == (1 << 63) | 2
