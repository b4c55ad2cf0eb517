"""Kernel BPF selftests: the verifier model against a real kernel, program by program, per file.

    python benchmarks/selftests_check.py
        the committed corpus (tests/data/selftests: objects and their recorded host labels)
    sudo python benchmarks/selftests_check.py --ksrc /path/to/linux-source-6.12 --glob 'progs/verifier_*.c'
        sources of a kernel tree, compiled into a temporary folder the way the
        selftests build them (tests/data/selftests/build.py), labelled by this
        host's kernel, and compared; nothing of them is kept (the folder is
        removed at the end, nothing is written anywhere else)

Every program is loaded alone, as libbpf loads it (its maps created, the other
programs' autoload off, no struct_ops map ever created, nothing attached): by
the host through libbpf (the label), by the model through the libbpf-like
loader into the emulated kernel (:mod:`emu.libbpf.per_prog`). Printed per
source file and in total: programs, host verdicts (accepted / rejected / no
verdict: refused by host policy before the verifier, or stopped in libbpf),
programs the model does not model (type, map, kernel type, helper...),
verdict agreement and last-line agreement (the kernel's message, addresses and
BTF ids masked) among the modelled host rejections, and false accepts (the
model accepts what the host rejected: soundness bugs, each listed).

The figures are a measurement, not a gate: the exit status is 0 unless the
inputs cannot be read (2) or the host cannot label (2).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emu.host.hostbpf import comparable_log  # noqa: E402
from tests.corpus import OBJECTS, VERIFIER_VERDICTS, build_module, program_labels  # noqa: E402


#: objects of the committed corpus compared under --quick (sorted by name)
QUICK_OBJECTS = 40


@dataclass
class FileTally:
    programs: int = 0
    host: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    not_modelled: int = 0
    modelled: int = 0
    agree: int = 0
    host_rejected_modelled: int = 0
    line_agree: int = 0
    false_accepts: list[str] = field(default_factory=list)
    false_rejects: list[str] = field(default_factory=list)
    line_diffs: list[str] = field(default_factory=list)
    nm_reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: FileTally) -> None:
        self.programs += other.programs
        for k, v in other.host.items():
            self.host[k] += v
        for k, v in other.nm_reasons.items():
            self.nm_reasons[k] += v
        for name in ("not_modelled", "modelled", "agree", "host_rejected_modelled", "line_agree"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.false_accepts += other.false_accepts
        self.false_rejects += other.false_rejects
        self.line_diffs += other.line_diffs


def _reason(detail: str) -> str:
    """A short category for a not-modelled reason (for the totals)."""
    for key in ("program type", "map type", "kernel types", "extern", "kconfig", "helper", "kfunc", "values"):
        if key in detail:
            return detail[:60] if key == "program type" else key
    return detail[:50]


def compare(labels: Iterable[dict[str, Any]], obj_dir: Path) -> dict[str, FileTally]:
    """Model each labelled program and tally per source file (the object's name with .c)."""
    from emu.kernel import Kernel
    from emu.kernel import SUPPORTED_PROG_TYPES as MODELLED_PROG_TYPES
    from emu.libbpf.per_prog import verify_program

    kernel = Kernel(modules=())
    last_obj = ""
    out: dict[str, FileTally] = defaultdict(FileTally)
    try:
        for r in labels:
            if not r.get("program"):
                continue
            f = out[r["object"].removesuffix(".o") + ".c"]
            f.programs += 1
            host = r["verdict"]
            f.host[host] += 1
            if host not in VERIFIER_VERDICTS:
                continue
            pid = f"{r['object'].removesuffix('.o')}.c:{r['program']}"
            if r.get("prog_type") not in MODELLED_PROG_TYPES.values():
                f.not_modelled += 1
                f.nm_reasons[f"program type {r.get('prog_type')}"] += 1
                continue
            if r["object"] != last_obj:  # a fresh kernel per object, as a test run starts one: a
                kernel.shutdown()          # long-lived one would fill its stub page with the
                kernel = Kernel(modules=())  # kfunc/helper stubs of hundreds of objects
                last_obj = r["object"]
            o = verify_program(str(obj_dir / r["object"]), r["program"], kernel=kernel)
            if not o.modelled:
                f.not_modelled += 1
                f.nm_reasons[_reason(o.detail or o.libbpf)] += 1
                continue
            f.modelled += 1
            if o.verdict == host:
                f.agree += 1
            elif o.verdict == "accepted":
                f.false_accepts.append(f"{pid}: host: {r.get('error_line')}")
            else:
                f.false_rejects.append(f"{pid}: model: {o.error_line}")
            if host == "rejected":
                f.host_rejected_modelled += 1
                if o.verdict == "rejected" and comparable_log(o.error_line) == comparable_log(r.get("error_line")):
                    f.line_agree += 1
                elif o.verdict == "rejected":
                    f.line_diffs.append(f"{pid}: host {r.get('error_line')!r} / model {o.error_line!r}")
    finally:
        kernel.shutdown()
    return out


def report(tallies: dict[str, FileTally], limit: int) -> None:
    pct = lambda a, b: f"{a}/{b}" + (f" ({100 * a / b:.0f}%)" if b else "")  # noqa: E731
    print(f"{'file':44s} {'progs':>5s} {'acc':>4s} {'rej':>4s} {'none':>4s} {'n/m':>4s} {'model':>5s} "
          f"{'verdict':>12s} {'last line':>12s} {'FA':>3s}")
    total = FileTally()
    for name in sorted(tallies):
        t = tallies[name]
        total.add(t)
        none = t.programs - t.host["accepted"] - t.host["rejected"]
        print(f"{name[:44]:44s} {t.programs:5d} {t.host['accepted']:4d} {t.host['rejected']:4d} {none:4d} "
              f"{t.not_modelled:4d} {t.modelled:5d} {pct(t.agree, t.modelled):>12s} "
              f"{pct(t.line_agree, t.host_rejected_modelled):>12s} {len(t.false_accepts):3d}")
    none = total.programs - total.host["accepted"] - total.host["rejected"]
    print(f"\nTOTAL {len(tallies)} files, {total.programs} programs; host: {total.host['accepted']} accepted, "
          f"{total.host['rejected']} rejected, {none} without a verifier verdict "
          f"({', '.join(f'{k} {v}' for k, v in sorted(total.host.items()) if k not in VERIFIER_VERDICTS)})")
    hv = total.host["accepted"] + total.host["rejected"]
    print(f"model: {total.modelled} of {hv} programs with a host verdict modelled, {total.not_modelled} not modelled")
    print(f"verdict agreement {pct(total.agree, total.modelled)}; last-line agreement among host rejections "
          f"{pct(total.line_agree, total.host_rejected_modelled)}; false accepts {len(total.false_accepts)}, "
          f"false rejects {len(total.false_rejects)}")
    print("not modelled, by reason:")
    for k, v in sorted(total.nm_reasons.items(), key=lambda kv: -kv[1])[:limit]:
        print(f"  {v:5d}  {k}")
    for title, items in (("FALSE ACCEPT", total.false_accepts), ("false reject", total.false_rejects),
                         ("last line", total.line_diffs)):
        for line in items[:limit if title != "FALSE ACCEPT" else None]:
            print(f"  {title}: {line}")
        if title != "FALSE ACCEPT" and len(items) > limit:
            print(f"  ... {len(items) - limit} more {title} differences")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ksrc", type=Path, help="a linux-source tree: compile, label and compare its sources")
    ap.add_argument("--glob", default="progs/*.c", help="sources under tools/testing/selftests/bpf (with --ksrc)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=15, help="differences listed per kind")
    ap.add_argument("--quick", action="store_true",
                    help="the committed corpus's first %d objects only (what `make bench-quick` runs)" % QUICK_OBJECTS)
    args = ap.parse_args(argv)
    if args.ksrc is None:
        labels = program_labels()
        if args.quick:
            keep = sorted({r["object"] for r in labels})[:QUICK_OBJECTS]
            labels = [r for r in labels if r["object"] in keep]
        report(compare(labels, OBJECTS), args.limit)
        return 0
    build = build_module()
    from emu.host.hostbpf import oracle_status

    ok, why = oracle_status()
    if not ok:
        print(f"error: the host kernel cannot label: {why}", file=sys.stderr)
        return 2
    selftests = args.ksrc / "tools/testing/selftests/bpf"
    sources = sorted(selftests.glob(args.glob))
    if not sources:
        print(f"error: {selftests}: no source matches {args.glob!r}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="selftests-check-") as tmp:
        work = Path(tmp)
        tc = build.prepare(args.ksrc.resolve(), work)
        compiled = build.compile_all(tc, sources, work / "obj", args.jobs)
        failed = [c for c in compiled if c.obj is None]
        objs = [c.obj for c in compiled if c.obj is not None]
        print(f"{len(sources)} sources, {len(objs)} compiled" +
              (f"; not compiled: {', '.join(f'{c.source} ({c.error})' for c in failed)}" if failed else ""))
        labels = build.label_all(tc, objs, args.jobs)
        report(compare(labels, work / "obj"), args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
