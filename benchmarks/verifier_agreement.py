"""Verifier agreement: the model's verdicts and messages against the host kernel's.

The corpora of tests/verifier/test_host_diff.py, with a larger budget:
(a) the programs of our tests (the classic oracle table, the uBPF
conformance programs as socket filters), (b) generated socket filters,
(c) generated struct_ops programs for bpf_dummy_ops, (d) the kernel
selftests' raw-instruction programs (tests/data/selftests, test_verifier's
verifier/*.c, those of a type and with maps the model has; as root and, for
socket filters, with CAP_BPF only), (e) the generator of (b) loaded with
CAP_BPF only (the unprivileged rules: pointer leaks, Spectre v1/v4
sanitation), (f) linked scalars through spills and fills, as root and with
CAP_BPF only, and (g) every program of the compiled selftest objects
(progs/*.c), loaded alone through the libbpf-like loader, against the host
labels recorded in the corpus. Each program of (a)-(f) is loaded into the host
(maps created, nothing attached) and verified by the model; printed per
corpus: verdict agreement, exact last-line agreement (the kernel's message;
BTF ids and addresses masked), processed-count and whole-log agreement,
false accepts (we accept what the kernel rejects: a safety bug) apart from
false rejects, the disagreements themselves, and for (d) and (g) how many
programs the model does not model (left out of the figures).

Without a usable bpf() (not root, not Linux), corpus (d) is compared with its
recorded labels and (a)-(c), (e) are skipped with the reason.

Usage: python benchmarks/verifier_agreement.py [--quick] [--examples N] [--corpora LETTERS]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from emu.formats.conformance import parse_data_file  # noqa: E402
from emu.host.hostbpf import comparable_log, processed_counts  # noqa: E402
from emu.host.verdict import host_load  # noqa: E402
from emu.kernel.harness import program_env, symbols_for  # noqa: E402
from kernel_model.asm import assemble  # noqa: E402
from verifier import VerifierEnv, verify  # noqa: E402
from tests.corpus import (  # noqa: E402
    VERIFIER_VERDICTS, conformance_files, object_path, program_labels, raw_case_program, raw_cases,
)

ROOT = Path(__file__).resolve().parent.parent
HOST_LOG_SIZE = 16 << 20


@dataclass
class Tally:
    name: str
    n: int = 0
    verdict: int = 0
    message: int = 0
    processed: int = 0
    log: int = 0
    false_accepts: list[str] = field(default_factory=list)
    false_rejects: list[str] = field(default_factory=list)
    message_diffs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    not_modelled: int = 0
    #: programs whose whole host log was at hand (live loads): the base of processed/whole-log
    with_log: int = 0

    def add(self, label: str, ours: Any, accepted: bool, errno: int, error_line: str | None,
            log: str | None) -> None:
        self.n += 1
        # an accepted load has no errno: the corpus labels hold None, the model 0
        errno = errno or 0
        if ours.accepted == accepted:
            self.verdict += 1
        elif ours.accepted:
            self.false_accepts.append(f"{label}: kernel: {error_line}")
        else:
            self.false_rejects.append(f"{label}: model: {ours.error_line} ({ours.errno_name})")
        if ours.accepted == accepted and ours.errno == errno and comparable_log(ours.error_line) == comparable_log(error_line):
            self.message += 1
        elif ours.accepted == accepted:
            self.message_diffs.append(f"{label}: kernel {error_line!r} / model {ours.error_line!r}")
        if log is not None:
            self.with_log += 1
            if processed_counts(ours.log) == processed_counts(log):
                self.processed += 1
            if comparable_log(ours.log) == comparable_log(log):
                self.log += 1

    def report(self, limit: int) -> None:
        pct = (lambda k: f"{k}/{self.n} ({100 * k / self.n:.1f}%)") if self.n else (lambda k: "-")
        print(f"\n== {self.name}: {self.n} programs, {self.seconds:.1f} s")
        print(f"   verdict agreement      {pct(self.verdict)}")
        print(f"   last-line agreement    {pct(self.message)}")
        logs = (lambda k: f"{k}/{self.with_log} ({100 * k / self.with_log:.1f}%)") if self.with_log else \
            (lambda k: "- (no host logs: recorded labels)")
        print(f"   processed-count agr.   {logs(self.processed)}")
        print(f"   whole-log agreement    {logs(self.log)}")
        print(f"   false accepts          {len(self.false_accepts)}   (model accepts, kernel rejects)")
        print(f"   false rejects          {len(self.false_rejects)}")
        if self.not_modelled:
            print(f"   not modelled           {self.not_modelled}   (left out of the figures above)")
        for title, items in (("false accept", self.false_accepts), ("false reject", self.false_rejects),
                             ("message", self.message_diffs)):
            for line in items[:limit]:
                print(f"     {title}: {line}")
            if len(items) > limit:
                print(f"     ... {len(items) - limit} more {title} differences")


def run_host(t: Tally, label: str, insns: list, env: VerifierEnv, level: int = 1) -> None:
    env.log_size = HOST_LOG_SIZE
    ours = verify(insns, env, log_level=level)
    h = host_load(insns, env, level)
    t.add(label, ours, h.accepted, h.errno, h.error_line, h.log)


def corpus_a(t: Tally, quick: bool) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.verifier.test_programs import CLASSIC

    for asm, *_ in CLASSIC:
        run_host(t, asm.replace("\n", "; "), assemble(asm), VerifierEnv(), 2)
    for f in conformance_files():
        if quick and f.name == "mul-loop-memory-iterations.data":
            continue  # 1M processed instructions: ~70 s in the model
        try:
            case = parse_data_file(f)
        except Exception:  # noqa: BLE001 - not a program (our assembler refuses it)
            continue
        run_host(t, f.name, list(case.insns), VerifierEnv())


def generated(t: Tally, strategy: Any, examples: int, build: Callable[[Any], tuple[str, list, VerifierEnv, int]]) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(x: Any) -> None:
        label, insns, env, level = build(x)
        run_host(t, label, insns, env, level)

    one()


def corpus_b(t: Tally, examples: int) -> None:
    from tests.verifier.programs import MAP_DECLS, socket_programs

    def build(x: tuple[str, str]) -> tuple[str, list, VerifierEnv, int]:
        text, m = x
        insns, env = program_env(assemble(text, symbols=symbols_for([m])), maps=[m])
        return text.replace("\n", "; ")[:160], insns, env, 2

    generated(t, st.tuples(socket_programs(), st.sampled_from(MAP_DECLS)), examples, build)


def corpus_e(t: Tally, examples: int) -> None:
    """(b)'s generator, loaded with CAP_BPF only (no CAP_PERFMON/CAP_SYS_ADMIN): the
    unprivileged rules (no pointer leaks, Spectre v1 speculation, stack initialisation)."""
    from tests.verifier.programs import MAP_DECLS, socket_programs

    def build(x: tuple[str, str]) -> tuple[str, list, VerifierEnv, int]:
        text, m = x
        insns, env = program_env(assemble(text, symbols=symbols_for([m])), maps=[m], unpriv=True)
        return text.replace("\n", "; ")[:160], insns, env, 2

    generated(t, st.tuples(socket_programs(), st.sampled_from(MAP_DECLS)), examples, build)


def corpus_f(t: Tally, examples: int, unpriv: bool) -> None:
    """Linked scalars through spills and fills (tests/verifier/programs.py), root or
    CAP_BPF only, whole level-2 logs."""
    from tests.verifier.programs import MAP_DECL, linked_scalar_programs

    def build(text: str) -> tuple[str, list, VerifierEnv, int]:
        insns, env = program_env(assemble(text, symbols=symbols_for([MAP_DECL])), maps=[MAP_DECL], unpriv=unpriv)
        return text.replace("\n", "; ")[:200], insns, env, 2

    generated(t, linked_scalar_programs(), examples, build)


def corpus_c(t: Tally, examples: int) -> None:
    from tests.verifier.programs import struct_ops_programs

    def build(x: tuple[str, str, int]) -> tuple[str, list, VerifierEnv, int]:
        text, member, flags = x
        insns, env = program_env(assemble(text), attach=f"bpf_dummy_ops:{member}", flags=flags)
        return f"{member}: " + text.replace("\n", "; ")[:160], insns, env, 1

    generated(t, struct_ops_programs(), examples, build)


def corpus_d(t: Tally, live: bool) -> None:
    """The raw selftest programs: live on the host, or against their recorded labels."""
    for c in raw_cases():
        for key, priv in (("kernel", True), ("kernel_cap_bpf", False)):
            k = c.get(key)
            if not k or k["verdict"] not in VERIFIER_VERDICTS:
                continue
            prog = raw_case_program(c, privileged=priv)
            if prog.not_modelled:
                t.not_modelled += 1
                continue
            label = f"{c['id']}{'' if priv else ' (CAP_BPF)'}"
            if live:
                run_host(t, label, prog.insns, prog.env)
            else:
                ours = verify(prog.insns, prog.env, log_level=5)
                t.add(label, ours, k["verdict"] == "accepted", k["errno"], k["error_line"], None)


def corpus_g(t: Tally) -> None:
    """Every program of the compiled selftest objects against its recorded host label."""
    from emu.kernel import Kernel
    from emu.kernel import SUPPORTED_PROG_TYPES as MODELLED_PROG_TYPES
    from emu.libbpf.per_prog import verify_program
    from kernel_model.errors import errno_name

    k = Kernel(modules=())
    try:
        for r in program_labels():
            if not r.get("program") or r["verdict"] not in VERIFIER_VERDICTS:
                continue
            if r["prog_type"] not in MODELLED_PROG_TYPES.values():
                t.not_modelled += 1
                continue
            o = verify_program(str(object_path(r)), r["program"], kernel=k)
            if not o.modelled:
                t.not_modelled += 1
                continue
            ours = VerifyOutcome(o.verdict == "accepted", o.errno, o.error_line, errno_name(o.errno) if o.errno else "0")
            t.add(r["id"], ours, r["verdict"] == "accepted", r["errno"], r["error_line"], None)
    finally:
        k.shutdown()


@dataclass
class VerifyOutcome:
    """What :meth:`Tally.add` reads of a model result."""

    accepted: bool
    errno: int
    error_line: str | None
    errno_name: str


def timed(t: Tally, fn: Callable[[Tally], None]) -> Tally:
    t0 = time.perf_counter()
    fn(t)
    t.seconds = time.perf_counter() - t0
    return t


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small budget (CI)")
    ap.add_argument("--examples", type=int, help="generated programs per generator")
    ap.add_argument("--limit", type=int, default=12, help="disagreements listed per kind")
    ap.add_argument("--corpora", default="abcdefg", help="which corpora to run (letters, default all)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    examples = args.examples or (60 if args.quick else 1500)

    from emu.host.hostbpf import oracle_status

    ok, why = oracle_status()
    tallies = []
    want = set(args.corpora)
    if ok:
        live: list[tuple[str, str, Callable[[Tally], None]]] = [
            ("a", "(a) programs of our tests", lambda t: corpus_a(t, args.quick)),
            ("b", "(b) generated socket filters", lambda t: corpus_b(t, examples)),
            ("c", "(c) generated bpf_dummy_ops struct_ops", lambda t: corpus_c(t, examples)),
            ("e", "(e) generated socket filters, CAP_BPF only", lambda t: corpus_e(t, examples)),
            ("f", "(f) linked scalars through spills and fills", lambda t: corpus_f(t, examples, False)),
            ("f", "(f) linked scalars, CAP_BPF only", lambda t: corpus_f(t, examples, True)),
        ]
        for letter, name, fn in live:
            if letter in want:
                tallies.append(timed(Tally(name), fn))
    else:
        print(f"skip: corpora (a)-(c), (e), (f) need the host kernel as an oracle: {why}")
    if "d" in want:
        name = "(d) kernel selftests, raw programs (live)" if ok else "(d) kernel selftests, raw programs (recorded)"
        tallies.append(timed(Tally(name), lambda t: corpus_d(t, ok)))
    if "g" in want:
        tallies.append(timed(Tally("(g) kernel selftests, objects (recorded host labels)"), corpus_g))
    for t in tallies:
        t.report(args.limit)
    total = Tally("all corpora")  # (e) included
    for t in tallies:
        total.n += t.n
        total.verdict += t.verdict
        total.message += t.message
        total.processed += t.processed
        total.log += t.log
        total.false_accepts += t.false_accepts
        total.false_rejects += t.false_rejects
        total.seconds += t.seconds
        total.not_modelled += t.not_modelled
        total.with_log += t.with_log
    print(f"\nTOTAL {total.n} programs: verdict {total.verdict}/{total.n}, last line {total.message}/{total.n}, "
          f"processed {total.processed}/{total.with_log}, whole log {total.log}/{total.with_log}; "
          f"false accepts {len(total.false_accepts)}, false rejects {len(total.false_rejects)}; "
          f"not modelled {total.not_modelled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
