"""``structops sim sched [OBJ] [--cpus N] [--tasks N] [--duration SECONDS] [--seed N]
[--json] [--plot FILE]``: run a sched_ext scheduler (or, without OBJ, the
kernel's fallback global FIFO) on a simulated machine.

The ``sim`` command group registers this with :func:`add_parser` (the sub-parser
of ``sim``) and calls :func:`run`; :func:`main` runs it on its own. Exit status:
0 ok, 1 refused by the emulated kernel (verifier, map update, reg), 2 bad input,
3 not modelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from kernel_model.errors import InputError, KernelError

__all__ = ["add_parser", "run", "main"]


def _configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("obj", nargs="?", help="a BPF object with a sched_ext_ops struct_ops map "
                                           "(none: the kernel's fallback global FIFO)")
    p.add_argument("--cpus", type=int, default=4, help="simulated CPUs (1..64, default 4)")
    p.add_argument("--tasks", type=int, default=8, help="tasks of the seeded default workload (default 8)")
    p.add_argument("--duration", type=float, default=1.0, help="simulated seconds (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the workload (runs are deterministic for a seed)")
    p.add_argument("--profile", default="latest", help="kernel profile (6.12 or latest)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a global variable of the object before load, as a skeleton's "
                        "skel->rodata->NAME = VALUE does (an integer; repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object: tasks, cpus, summary")
    p.add_argument("--plot", metavar="FILE", help="write a per-CPU timeline (.svg, .png or .pdf)")
    p.set_defaults(func=run)
    return p


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sched`` to the ``sim`` command group's sub-parsers."""
    return _configure(subparsers.add_parser("sched", help="run a sched_ext scheduler on a simulated machine"))


class _Progress:
    """A progress line on stderr (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.on = sys.stderr.isatty()
        self.shown = False

    def __call__(self, now: int, total: int) -> None:
        if self.on:
            sys.stderr.write(f"\rsim sched: {now / 1e9:.2f}/{total / 1e9:.2f} s simulated")
            sys.stderr.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def run(args: argparse.Namespace) -> int:
    """Run the simulation the arguments describe; print the result."""
    from .sched import simulate

    if args.tasks < 1:
        return _bad("--tasks must be at least 1")
    if not args.duration > 0:
        return _bad("--duration must be positive")
    variables: dict[str, int] = {}
    for item in args.set:
        name, eq, value = item.partition("=")
        try:
            variables[name.strip()] = int(value, 0)
        except ValueError:
            return _bad(f"--set {item}: expected NAME=INTEGER")
        if not eq or not name.strip():
            return _bad(f"--set {item}: expected NAME=INTEGER")
    prog = _Progress()
    try:
        from kernel_model.profile import get_profile

        # a name when run as `python -m emu.sim.sched_cli`; `structops` converted it already
        profile = get_profile(args.profile) if isinstance(args.profile, str) else args.profile
        res = simulate(args.obj, cpus=args.cpus, tasks=args.tasks, duration_ns=int(args.duration * 1e9),
                       seed=args.seed, profile=profile, progress=prog, variables=variables)
    except InputError as e:
        prog.done()
        return _bad(str(e))
    except FileNotFoundError as e:
        prog.done()
        return _bad(f"{e.filename}: no such file")
    except KernelError as e:
        prog.done()
        sys.stderr.write(f"structops: error: {e}\n")
        return 1
    except Exception as e:  # noqa: BLE001 - an oops or another emulated fault
        prog.done()
        from kernel_model.errors import StructOpsError

        if isinstance(e, StructOpsError):
            text = getattr(e, "text", "")
            if text:
                sys.stderr.write(text.rstrip("\n") + "\n")
            sys.stderr.write(f"structops: error: {e}\n")
            return 1
        raise
    prog.done()
    if args.plot:
        try:
            res.plot(args.plot)
        except InputError as e:
            return _bad(str(e))
    if args.json:
        print(json.dumps(res.to_dict()))
        return 0
    _print_text(res)
    return 0


def _bad(msg: str) -> int:
    sys.stderr.write(f"structops: error: {msg}\n")
    return 2


def _print_text(res: Any) -> None:
    s = res.summary
    print(f"scheduler: {s['scheduler']}  cpus: {s['nr_cpus']}  tasks: {s['nr_tasks']}  "
          f"simulated: {s['duration_ns'] / 1e9:g} s  seed: {s['seed']}")
    print(f"utilization: {100 * s['utilization']:.1f}%  switches: {s['switches']}  "
          f"member calls: {s['nr_member_calls']}")
    ex = s["exit"]
    if ex["kind"]:
        extra = f" ({ex['msg']})" if ex["msg"] else ""
        print(f"exit: {ex['reason']}{extra} at {ex['at_ns'] / 1e9:.3f} s")
    print(f"{'pid':>5} {'comm':16} {'runtime ms':>11} {'wait ms':>9} {'max wait ms':>12} {'switches':>9}")
    for t in res.tasks:
        print(f"{t['pid']:>5} {t['comm']:16} {t['runtime_ns'] / 1e6:>11.1f} {t['wait_ns'] / 1e6:>9.1f} "
              f"{t['max_wait_ns'] / 1e6:>12.1f} {t['switches']:>9}")
    for c in res.cpus:
        print(f"cpu {c['cpu']}: busy {c['busy_ns'] / 1e6:.1f} ms")
    for name, rows in s.get("maps", {}).items():
        print(f"map {name}: {rows}")


def main(argv: Sequence[str] | None = None) -> int:
    """``structops sim sched`` on its own (``python -m emu.sim.sched_cli``)."""
    p = _configure(argparse.ArgumentParser(prog="structops sim sched", description=__doc__.split("\n\n")[0]))
    return int(run(p.parse_args(argv)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
