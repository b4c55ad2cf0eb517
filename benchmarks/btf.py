"""Benchmark: BTF of the running kernel, whole processes, ours against bpftool.

Three pairs of commands, each side a whole process with its output discarded,
timed alternately run by run (bpftool, ours, bpftool, ours, ...; the order
swaps every run so neither side always follows the other):

* parse+validate: ``python -c 'kernel_model.btf.load(FILE)'`` (decode with
  the kernel's checks, no output) against ``bpftool btf dump file FILE format
  raw`` (bpftool has no parse-only command: its raw dump is the nearest);
* raw dump: ``structops btf dump FILE --format raw`` against ``bpftool btf
  dump file FILE format raw``;
* C dump: ``structops btf dump FILE --format c`` against ``bpftool btf dump
  file FILE format c``.

Printed: the median wall time of each side, the median CPU time (user+sys of
the child), and the ratio ours/bpftool of the wall medians, with the goal
(<= 5x, issue 11). ``structops`` is run as its console script does (the
``structops`` entry point of the installed distribution: ``emu.cli:main``).
Ours uses the compiled accelerator when it is built (kernel_model/btf/accel.py);
without ``--quick`` the three pairs are timed again with it turned off
(``STRUCTOPS_BTF_ACCEL=0``: the pure-Python paths a machine without a C
compiler runs). Then, in one process, the time of each step of ours (decode,
validate, raw text, C text) for profiling. ``--quick`` (CI) takes 3 runs per
side, the default 9. Skips with a message (exit 0) where the file or bpftool is
absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

VMLINUX = "/sys/kernel/btf/vmlinux"
GOAL = 5.0


def _structops_argv() -> list[str]:
    """How the ``structops`` console script starts: import its entry point and call it."""
    target = "emu.cli:main"
    try:
        from importlib.metadata import entry_points
        eps = [e for e in entry_points(group="console_scripts") if e.name == "structops"]
        if eps:
            target = eps[0].value
    except Exception:  # pragma: no cover - metadata unavailable (running from a bare checkout)
        pass
    mod, func = target.split(":")
    return [sys.executable, "-c", f"import sys; from {mod} import {func}; sys.exit({func}())"]


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, cpu) seconds of one whole process, output discarded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def alternate(tool: list[str], ours: list[str], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median wall and CPU times of both sides, timed alternately after one warm-up each
    (``env``: the environment of ours)."""
    _timed(tool)
    _timed(ours, env)
    tw, tc, ow, oc = [], [], [], []
    for i in range(runs):
        order = ((tool, tw, tc, None), (ours, ow, oc, env)) if i % 2 == 0 else \
            ((ours, ow, oc, env), (tool, tw, tc, None))
        for cmd, walls, cpus, e in order:
            w, c = _timed(cmd, e)
            walls.append(w)
            cpus.append(c)
    med = statistics.median
    return {"tool_wall": med(tw), "tool_cpu": med(tc), "ours_wall": med(ow), "ours_cpu": med(oc)}


def steps(path: str) -> None:
    """One in-process run of each step of ours, for profiling (not a ratio)."""
    from kernel_model.btf import BTF, format_c, format_raw
    with open(path, "rb") as f:
        data = f.read()
    t0 = time.perf_counter()
    btf = BTF.from_bytes(data, validate=False)
    t1 = time.perf_counter()
    btf.validate()
    t2 = time.perf_counter()
    format_raw(btf)
    t3 = time.perf_counter()
    format_c(btf)
    t4 = time.perf_counter()
    print(f"in one process: decode {t1 - t0:.3f} s, validate {t2 - t1:.3f} s, "
          f"raw text {t3 - t2:.3f} s, C text {t4 - t3:.3f} s ({btf.type_count - 1} types)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 runs per side (CI)")
    ap.add_argument("--runs", type=int, default=None, help="runs per side (default 9, --quick 3)")
    ap.add_argument("--file", default=VMLINUX)
    args = ap.parse_args(argv)
    runs = args.runs or (3 if args.quick else 9)
    if not os.access(args.file, os.R_OK):
        print(f"skip: {args.file} is not readable on this host")
        return 0
    bpftool = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.access("/usr/sbin/bpftool", os.X_OK) else None)
    if bpftool is None:
        print("skip: bpftool is not installed; no ratio")
        return 0
    f = args.file
    structops = _structops_argv()
    parse = [sys.executable, "-c", f"from kernel_model.btf import load; load({f!r})"]
    pairs = [
        ("parse+validate", [bpftool, "btf", "dump", "file", f, "format", "raw"], parse),
        ("raw dump", [bpftool, "btf", "dump", "file", f, "format", "raw"],
         structops + ["btf", "dump", f, "--format", "raw"]),
        ("C dump", [bpftool, "btf", "dump", "file", f, "format", "c"],
         structops + ["btf", "dump", f, "--format", "c"]),
    ]
    from kernel_model.btf import accel
    built = accel.module() is not None
    print(f"file: {f} ({os.path.getsize(f)} bytes); {runs} alternating runs per side, medians; "
          f"compiled accelerator: {'built' if built else 'not built (pure Python)'}")
    print(f"{'':28s} {'bpftool wall':>12s} {'ours wall':>10s} {'bpftool cpu':>12s} {'ours cpu':>9s} {'ratio':>7s}")
    modes = [("", None)]
    if built and not args.quick:
        modes.append((" (pure Python)", dict(os.environ, STRUCTOPS_BTF_ACCEL="0")))
    for label, env in modes:
        for name, tool, ours in pairs:
            m = alternate(tool, ours, runs, env)
            ratio = m["ours_wall"] / m["tool_wall"]
            verdict = "met" if ratio <= GOAL else "MISSED"
            print(f"{name + label:28s} {m['tool_wall']:11.3f}s {m['ours_wall']:9.3f}s {m['tool_cpu']:11.3f}s "
                  f"{m['ours_cpu']:8.3f}s {ratio:6.2f}x  (goal <= {GOAL:g}x: {verdict})")
    steps(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
