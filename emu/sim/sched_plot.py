"""The per-CPU timeline of a ``sim sched`` run, drawn with matplotlib (Agg backend).

One row per CPU, one bar per stretch a task ran, coloured by task (a stable
colour per pid), idle time left blank. The format follows the file's extension
(``.svg``, ``.png``, ``.pdf``).
"""

from __future__ import annotations

import os
from typing import Any

from kernel_model.errors import InputError

__all__ = ["plot_timeline"]

_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def plot_timeline(res: Any, path: str) -> None:
    """Write ``res`` (a :class:`~emu.sim.sched.SimResult`) as a timeline to ``path``."""
    ext = os.path.splitext(path)[1].lower()
    fmt = _FORMATS.get(ext)
    if fmt is None:
        raise InputError(f"{path}: the plot's format comes from its extension: .svg, .png or .pdf")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncpu = len(res.timeline)
    pids = sorted(res.names)
    cmap = plt.get_cmap("tab20")
    colour = {pid: cmap(i % 20) for i, pid in enumerate(pids)}
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.45 * ncpu))
    for cpu, segs in enumerate(res.timeline):
        bars: dict[int, list[tuple[float, float]]] = {}
        for pid, start, end in segs:
            bars.setdefault(pid, []).append((start / 1e6, (end - start) / 1e6))
        for pid, spans in bars.items():
            ax.broken_barh(spans, (cpu - 0.4, 0.8), facecolors=colour[pid], linewidth=0)
    ax.set_yticks(range(ncpu))
    ax.set_yticklabels([f"CPU {c}" for c in range(ncpu)])
    ax.set_ylim(-0.6, ncpu - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(0, res.summary["duration_ns"] / 1e6)
    ax.set_xlabel("time (ms)")
    s = res.summary
    ax.set_title(f"{s['scheduler']}: {s['nr_tasks']} tasks on {s['nr_cpus']} CPUs, "
                 f"{100 * s['utilization']:.1f}% busy")
    if len(pids) <= 20:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=colour[p], label=f"{res.names[p]}[{p}]") for p in pids],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    try:
        fig.savefig(path, format=fmt)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
