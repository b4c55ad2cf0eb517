"""sim sched: simulated seconds per wall second and member calls per second.

The BPF global-FIFO scheduler (examples/scx_global.bpf.o: every member call goes
through the emulated kernel: task_struct written, trampoline, JIT'd program,
kfunc stub) against its Python twin in the same core (the baseline: the same
decisions, no machine), timed alternately run by run (benchmarks/timing.py);
and the vtime example, whose five members run on every context switch.

Usage: python benchmarks/sim_sched.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emu.sim.sched import PyOps, simulate  # noqa: E402
from kernel_model.subsystems.sched_ext import SCX_DSQ_GLOBAL, SCX_SLICE_DFL  # noqa: E402

EX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


class GlobalFifo(PyOps):
    name = "global_fifo"

    def enqueue(self, p, f):  # type: ignore[no-untyped-def]
        self.scx.dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, f)


def _rate(res) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall = res.summary["wall_s"] or 1e-9
    return res.summary["duration_ns"] / 1e9 / wall, res.summary["nr_member_calls"] / wall


def main(quick: bool) -> None:
    dur = 1_000_000_000 if quick else 5_000_000_000
    runs = 3 if quick else 5
    kw = dict(cpus=4, tasks=16, duration_ns=dur, seed=1, record_timeline=False)
    bpf, py = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        py.append(_rate(simulate(None, ops=GlobalFifo(), **kw)))  # type: ignore[arg-type]
        t1 = time.perf_counter()
        bpf.append(_rate(simulate(os.path.join(EX, "scx_global.bpf.o"), **kw)))  # type: ignore[arg-type]
        _ = t1 - t0
    b_sim = statistics.median(r[0] for r in bpf)
    b_calls = statistics.median(r[1] for r in bpf)
    p_sim = statistics.median(r[0] for r in py)
    p_calls = statistics.median(r[1] for r in py)
    print(f"sim sched (global FIFO, 4 CPUs, 16 tasks): BPF {b_sim:.1f} simulated s per wall s, "
          f"{b_calls / 1e3:.1f} k member calls/s; Python twin {p_sim:.1f} sim s/s, {p_calls / 1e3:.1f} k calls/s: "
          f"BPF at {b_sim / p_sim:.2f}x the Python baseline")
    vt = [_rate(simulate(os.path.join(EX, "scx_vtime.bpf.o"), **kw)) for _ in range(runs)]  # type: ignore[arg-type]
    print(f"sim sched (vtime, 4 CPUs, 16 tasks): {statistics.median(r[0] for r in vt):.1f} simulated s per wall s, "
          f"{statistics.median(r[1] for r in vt) / 1e3:.1f} k member calls/s")


if __name__ == "__main__":
    main("--quick" in sys.argv[1:])
