"""Start-up cost of the command line: ``structops --help`` and ``structops verify`` of a
3-instruction program, against ``python -c pass``.

Each figure is whole-process CPU time (user + system, from ``getrusage`` of the
children: what ``/usr/bin/time -f '%U %S'`` prints), the median of several runs,
the command and the baseline timed alternately run by run (benchmarks/timing.py
explains why). Printed: the difference in seconds (goal: within 0.15 s of the
baseline) and the ratio.

Then one ``python -X importtime`` run of each command, its import time summed by
where the modules come from: the rooms of ``emu``, ``verifier``, ``jit``,
``kernel_model.btf``, the rest of ``kernel_model``, third-party libraries and the
standard library -- so what remains is visible, and whose it is.

``--quick``: fewer runs.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from timing import child_env  # noqa: E402
#: goal: a command's CPU time at most this much above the interpreter's own start-up
GOAL_S = 0.15
PROGRAM = "r0 = 0\nr0 += 1\nexit\n"


def _structops() -> list[str]:
    """The ``structops`` console script next to this interpreter, else ``python -m emu.cli``."""
    script = Path(sys.executable).parent / "structops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "emu.cli"]


def _cpu(argv: Sequence[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one run of ``argv`` (its output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(cmd: Sequence[str], base: Sequence[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """(median CPU s of ``cmd``, median CPU s of ``base``), timed alternately."""
    _cpu(cmd, env)  # warm the page cache and the .pyc files
    _cpu(base, env)
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        a.append(_cpu(cmd, env))
        b.append(_cpu(base, env))
    return statistics.median(a), statistics.median(b)


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")
_STDLIB = set(sys.stdlib_module_names)


def _owner(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "emu":
        return ".".join(parts[:2]) if len(parts) > 1 else "emu"
    if parts[0] == "kernel_model":
        return "kernel_model.btf" if len(parts) > 1 and parts[1] == "btf" else "kernel_model (other)"
    if parts[0] in ("verifier", "jit"):
        return parts[0]
    if parts[0].lstrip("_") in _STDLIB or parts[0] in _STDLIB:
        return "standard library"
    return "third party: " + parts[0].lstrip("_")


def import_breakdown(argv: Sequence[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Self import time (ms) by owner, from one ``-X importtime`` run, largest first."""
    cmd = [sys.executable, "-X", "importtime", *argv] if argv[0] != sys.executable else \
        [sys.executable, "-X", "importtime", *argv[1:]]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    by: dict[str, float] = defaultdict(float)
    for line in r.stderr.splitlines():
        m = _LINE.match(line)
        if m:
            by[_owner(m.group(4))] += int(m.group(1)) / 1000
    return sorted(by.items(), key=lambda kv: -kv[1])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--runs", type=int, default=None)
    args = ap.parse_args(argv)
    runs = args.runs or (5 if args.quick else 15)
    env = child_env()  # with the .pyc files the warm-up writes, as an install has them
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    base = [sys.executable, "-c", "pass"]
    structops = _structops()
    with tempfile.TemporaryDirectory() as tmp:
        prog = Path(tmp) / "three.s"
        prog.write_text(PROGRAM)
        cases = [("structops --help", [*structops, "--help"]),
                 ("structops verify (3 insns)", [*structops, "verify", str(prog)])]
        failed = False
        for name, cmd in cases:
            t, b = measure(cmd, base, runs, env)
            ok = t - b <= GOAL_S
            failed |= not ok
            print(f"startup: {name}: {t:.3f} s CPU vs python -c pass {b:.3f} s: +{t - b:.3f} s "
                  f"({t / b:.1f}x; goal <= +{GOAL_S} s{'' if ok else ', MISSED'}), median of {runs}")
        for name, cmd in cases:
            # -X importtime needs the interpreter itself: run the module, not the script
            parts = import_breakdown([sys.executable, "-m", "emu.cli", *cmd[len(structops):]], env)
            top = ", ".join(f"{who} {ms:.1f}" for who, ms in parts[:8])
            print(f"startup: {name}: import ms by owner (one run, self times): {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
