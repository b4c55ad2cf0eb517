"""Shared timing for the benchmark scripts (not a benchmark itself: ``make bench``
runs it as a no-op script).

Figures are ratios against a baseline measured in the same process:
interference of 30% comes and goes on a shared machine, so the two sides are timed alternately, run by run, and the
medians compared.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable

__all__ = ["Runner", "paired", "child_env"]

#: runs its operation ``n`` times
Runner = Callable[[int], None]


def paired(base: Runner, ours: Runner, n_base: int, n_ours: int, runs: int) -> tuple[float, float]:
    """Median rates (operations/s) of ``base`` and ``ours``, timed alternately
    after one warm-up of each (translation, caches)."""
    base(max(1, n_base // 10))
    ours(max(1, n_ours // 10))
    rb, ro = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        base(n_base)
        t1 = time.perf_counter()
        ours(n_ours)
        t2 = time.perf_counter()
        rb.append(n_base / (t1 - t0))
        ro.append(n_ours / (t2 - t1))
    return statistics.median(rb), statistics.median(ro)


def child_env() -> dict[str, str]:
    """The environment for a timed Python child process: this one's, but bytecode is
    written (``PYTHONDONTWRITEBYTECODE`` dropped). An installed package has its ``.pyc``
    files (pip compiles them; an editable install writes them on its first run): a
    warm-up run writes them, so the timed runs do not compile every module anew."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


if __name__ == "__main__":  # `make bench` runs every script in benchmarks/
    pass
