"""Verifier speed: processed instructions per second, the model against the host kernel.

For programs with large ``processed`` counts (a counted loop, straight-line
code, a chain of diamonds whose paths multiply until pruning stops them, the
selftests' raw programs the model verifies) the model's wall time is the median of several runs at
log level 0 (no log, as a loader would run it) and at level 1; the host
kernel's time is the median of its own ``verification time`` (log level 4,
stats only) for the same program. Printed: processed counts (which must be
equal), model and kernel instructions per second, and the ratio
kernel/model. Then issue 10's log-buffer example (the level-1 loop of 300,000
iterations with 16 MiB and 256 MiB buffers: verdicts and log_true_size).
Without a usable bpf() only the model's figures are printed.

Usage: python benchmarks/verifier_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emu.host.verdict import host_load  # noqa: E402
from kernel_model.asm import assemble  # noqa: E402
from kernel_model.insn import Insn  # noqa: E402
from verifier import VerifierEnv, verify  # noqa: E402
from tests.corpus import raw_case_program, raw_cases  # noqa: E402

_VT = re.compile(r"verification time (\d+) usec")


def loop(n: int) -> list[Insn]:
    return assemble(f"r0 = 0\nl: r0 += 1\nif r0 < {n} goto l\nexit")


def straight(n: int) -> list[Insn]:
    return assemble("r0 = 0\n" + "r0 += 1\n" * n + "exit")


def diamonds(n: int) -> list[Insn]:
    """n conditional forks on an unknown value, each path adding to r7."""
    text = "call bpf_get_prandom_u32\nr6 = r0\nr7 = 0\n"
    for i in range(n):
        text += f"if r6 > {i} goto d{i}\nr7 += 1\nd{i}:\n"
    return assemble(text + "r0 = 0\nexit")


def spills(n: int) -> list[Insn]:
    """Stack traffic and map-value bounds checks in a loop (pointer and stack state)."""
    return assemble(f"""
        r9 = 0
    top:
        *(u64 *)(r10 -8) = r9
        r1 = *(u64 *)(r10 -8)
        r1 &= 7
        r2 = r10
        r2 += -16
        *(u64 *)(r2 +0) = r1
        r3 = *(u64 *)(r10 -16)
        r9 += 1
        if r9 < {n} goto top
        r0 = 0
        exit
    """)


def model_time(insns: list[Insn], env: VerifierEnv, level: int, runs: int) -> tuple[float, int]:
    times, processed = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        r = verify(insns, env, log_level=level)
        times.append(time.perf_counter() - t0)
        processed = r.processed
    return statistics.median(times), processed


def host_time(insns: list[Insn], env: VerifierEnv, runs: int) -> tuple[float, int] | None:
    times, processed = [], 0
    for _ in range(runs):
        h = host_load(insns, env, 4)
        m = _VT.search(h.log)
        if m is None:
            return None
        times.append(int(m.group(1)) / 1e6)
        p = re.search(r"processed (\d+) insns", h.log)
        processed = int(p.group(1)) if p else 0
    return statistics.median(times), processed


def corpus_programs() -> list[tuple[list[Insn], VerifierEnv]]:
    progs = [raw_case_program(c) for c in raw_cases() if c.get("kernel")]
    return [(p.insns, p.env) for p in progs if not p.not_modelled]


def log_buffer(n: int, host: bool) -> None:
    """Issue 10's level-1 loop: the trace of the accepted walk is reset away, yet it was
    the log at its longest (log_true_size), so a 16 MiB buffer is ENOSPC and 256 MiB
    loads. The model's log keeps only the buffer's window of that trace."""
    from emu.host import hostbpf as hb
    from kernel_model.insn import encode

    prog = loop(n)
    print(f"\nlog buffer: loop({n}) at log level 1")
    for size in (16 << 20, 256 << 20):
        t0 = time.perf_counter()
        r = verify(prog, VerifierEnv(log_size=size), log_level=1)
        dt = time.perf_counter() - t0
        line = (f"  {size >> 20:4d} MiB: model {'loads' if r.accepted else r.errno_name:6s} "
                f"log_true_size {r.log_true_size:>10d} ({dt:.1f} s)")
        if host:
            h = hb.prog_load(1, encode(prog), log_level=1, log_size=size)
            line += f"; kernel {'loads' if h.accepted else h.errno_name:6s} log_true_size {h.log_true_size:>10d}"
            h.close()
        print(line)


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(list(argv) if argv is not None else None)
    q = args.quick
    runs = 3 if q else 5
    cases = [
        (f"loop({2000 if q else 50000})", loop(2000 if q else 50000)),
        (f"straight({2000 if q else 30000})", straight(2000 if q else 30000)),
        (f"diamonds({30 if q else 150})", diamonds(30 if q else 150)),
        (f"spills({300 if q else 5000})", spills(300 if q else 5000)),
    ]
    from emu.host.hostbpf import oracle_status

    ok, why = oracle_status()
    if not ok:
        print(f"note: no host kernel timings ({why})")
    print(f"{'program':22s} {'processed':>10s} {'model lvl0':>12s} {'model lvl1':>12s} {'kernel':>12s} "
          f"{'kernel/model':>12s}")
    ratios = []
    for name, insns in cases:
        env = VerifierEnv()
        t0, n0 = model_time(insns, env, 0, runs)
        t1, _ = model_time(insns, env, 1, runs)
        line = f"{name:22s} {n0:10d} {n0 / t0 / 1e3:9.1f} k/s {n0 / t1 / 1e3:9.1f} k/s"
        ht = host_time(insns, env, runs) if ok else None
        if ht is not None:
            hsec, hn = ht
            assert hn == n0, f"{name}: processed differs (kernel {hn}, model {n0})"
            ratio = t0 / hsec
            ratios.append(ratio)
            line += f" {hn / hsec / 1e6:8.2f} M/s {ratio:10.1f}x"
        print(line)
    progs = corpus_programs()
    if progs:
        t0 = time.perf_counter()
        total = 0
        for insns, env in progs:
            total += verify(insns, env, log_level=1).processed
        dt = time.perf_counter() - t0
        print(f"{f'selftest raw ({len(progs)})':22s} {total:10d} {'':12s} {total / dt / 1e3:9.1f} k/s "
              f"{'':12s} ({dt:.2f} s for the whole corpus at level 1)")
    log_buffer(300 if q else 300000, ok)
    if ratios:
        print(f"\nthe kernel verifies {statistics.median(ratios):.0f}x faster than the model "
              f"(median over the programs above, model at log level 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
