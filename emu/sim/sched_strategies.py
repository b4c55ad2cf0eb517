"""Hypothesis strategies for task mixes, to property-test schedulers.

Importing this module does not need hypothesis; calling a strategy does (it is
a test dependency, not a runtime one)::

    from hypothesis import given, settings
    from emu.sim.sched import simulate
    from emu.sim.sched_strategies import workloads

    @given(workloads(min_tasks=3, max_tasks=8))
    @settings(max_examples=10, deadline=None)
    def test_no_task_waits_longer_than_ten_slices(wl):
        res = simulate("examples/scx_global.bpf.o", cpus=2, tasks=wl, duration_ns=300_000_000)
        assert all(t["max_wait_ns"] <= 10 * 20_000_000 for t in res.tasks)
"""

from __future__ import annotations

from typing import Any

from kernel_model.subsystems.sched_ext_core import TaskSpec

__all__ = ["task_specs", "workloads"]


def _st() -> Any:
    try:
        from hypothesis import strategies as st
    except ImportError as e:  # pragma: no cover - the message is the point
        raise ImportError("emu.sim.sched_strategies needs hypothesis (pip install hypothesis)") from e
    return st


def task_specs(*, max_start_ns: int = 0, max_run_ns: int = 50_000_000, max_sleep_ns: int = 20_000_000,
               nice: tuple[int, int] = (-5, 5), exiting: bool = False) -> Any:
    """One :class:`TaskSpec`: a CPU burst of 0.1 ms..``max_run_ns``, a sleep of
    0 (CPU bound) ..``max_sleep_ns``, a nice value, a fork time up to
    ``max_start_ns``, and (``exiting``) a total CPU time after which it exits."""
    st = _st()
    return st.builds(
        TaskSpec,
        name=st.sampled_from(["batch", "web", "db", "ui", "log", "build"]),
        run_ns=st.integers(100_000, max_run_ns),
        sleep_ns=st.one_of(st.just(0), st.integers(100_000, max_sleep_ns)),
        nice=st.integers(*nice),
        start_ns=st.integers(0, max_start_ns) if max_start_ns else st.just(0),
        total_ns=st.one_of(st.none(), st.integers(1_000_000, 200_000_000)) if exiting else st.none(),
        jitter=st.sampled_from([0.0, 0.25, 0.5]),
    )


def workloads(*, min_tasks: int = 1, max_tasks: int = 12, **kw: Any) -> Any:
    """A list of ``min_tasks``..``max_tasks`` :func:`task_specs`."""
    st = _st()
    return st.lists(task_specs(**kw), min_size=min_tasks, max_size=max_tasks)
