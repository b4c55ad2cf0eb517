"""Property tests of schedulers with the task-mix strategies of emu.sim.sched_strategies."""

from __future__ import annotations

from hypothesis import given, settings

from emu.sim.sched import PyOps, simulate
from emu.sim.sched_strategies import workloads
from kernel_model.subsystems.sched_ext import SCX_DSQ_GLOBAL, SCX_SLICE_DFL

MS = 1_000_000


class GlobalFifo(PyOps):
    name = "global"

    def enqueue(self, p, f):  # type: ignore[no-untyped-def]
        self.scx.dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, f)


@given(workloads(min_tasks=3, max_tasks=9, max_start_ns=50 * MS, exiting=True))
@settings(max_examples=25, deadline=None)
def test_global_fifo_starves_nobody_and_cpu_time_adds_up(wl) -> None:  # type: ignore[no-untyped-def]
    cpus = 2
    res = simulate(None, ops=GlobalFifo(), cpus=cpus, tasks=wl, duration_ns=400 * MS, seed=1)
    total = sum(t["runtime_ns"] for t in res.tasks)
    assert total == res.summary["busy_ns"] <= cpus * 400 * MS
    # a FIFO with 20 ms slices: a task waits at most for every other runnable task's slice
    # (plus the 4 ms tick that notices the end of a slice)
    bound = (len(wl) // cpus + 1) * (SCX_SLICE_DFL + 4 * MS)
    assert all(t["max_wait_ns"] <= bound for t in res.tasks), (bound, [t["max_wait_ns"] for t in res.tasks])
    for spec, t in zip(wl, res.tasks):
        if spec.total_ns is not None:
            assert t["runtime_ns"] <= spec.total_ns
        if spec.start_ns < 200 * MS:
            assert t["runtime_ns"] > 0 or t["state"] == "dead"


@given(workloads(min_tasks=5, max_tasks=10))
@settings(max_examples=10, deadline=None)
def test_cpus_stay_busy_while_cpu_bound_tasks_outnumber_them(wl) -> None:  # type: ignore[no-untyped-def]
    wl = [s.__class__(**{**s.__dict__, "sleep_ns": 0}) for s in wl]
    res = simulate(None, ops=GlobalFifo(), cpus=4, tasks=wl, duration_ns=200 * MS)
    assert res.summary["utilization"] == 1.0
