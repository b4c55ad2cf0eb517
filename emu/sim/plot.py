"""Shared plotting helpers for the simulations: time series per group (flow, CPU ...)
drawn with matplotlib's Agg backend (no display needed) into SVG or PNG, chosen
by the file name's extension.

matplotlib is the ``plot`` extra of the package (``pip install
'structops-emu[plot]'``; ``make`` installs it); without it :func:`save_series`
raises :class:`PlotUnavailable` with the install line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

from kernel_model.errors import InputError

__all__ = ["Series", "Panel", "save_series", "PlotUnavailable", "FORMATS"]

FORMATS = {".svg": "svg", ".png": "png"}


class PlotUnavailable(InputError):
    """matplotlib is not installed."""


@dataclass
class Series:
    """One line: x and y values and its legend label; ``step`` draws a staircase."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    step: bool = True
    style: str = "-"


@dataclass
class Panel:
    """One subplot: a y-axis label and its lines (``log`` for a logarithmic y axis)."""

    ylabel: str
    series: list[Series] = field(default_factory=list)
    log: bool = False


def save_series(path: str, title: str, xlabel: str, panels: Sequence[Panel]) -> str:
    """Draw ``panels`` stacked over a shared x axis into ``path`` (.svg or .png);
    returns the format written."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise InputError(f"--plot {path}: the file name must end in .svg or .png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        matplotlib.rcParams["svg.hashsalt"] = "structops"  # stable element ids: same run, same file
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'structops-emu[plot]'") from None
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(9, 2.6 * len(panels) + 0.6), squeeze=False)
    try:
        for ax, panel in zip(axes[:, 0], panels):
            for s in panel.series:
                if s.step:
                    ax.step(s.x, s.y, s.style, where="post", label=s.label, linewidth=1.1)
                else:
                    ax.plot(s.x, s.y, s.style, label=s.label, linewidth=1.1)
            ax.set_ylabel(panel.ylabel)
            if panel.log:
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            if panel.series:
                ax.legend(loc="upper right", fontsize="small", ncol=min(4, len(panel.series)))
        axes[-1, 0].set_xlabel(xlabel)
        axes[0, 0].set_title(title)
        fig.tight_layout()
        fmt = FORMATS[ext]
        # a fixed date and no creator stamp: the same run gives the same file
        meta = {"Date": None} if fmt == "svg" else {}
        fig.savefig(path, format=fmt, metadata=meta)
    except OSError as e:
        raise InputError(f"--plot {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return FORMATS[ext]
