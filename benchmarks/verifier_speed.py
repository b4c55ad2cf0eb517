"""Verifier speed and memory: the model's CPU time against the host kernel's, run alternately.

Three measurements, each printing ratios model/kernel (lower is better; the goal
is at most 10x, median over the shapes):

1. **Shapes at log level 0.** A dozen programs with large ``processed`` counts
   (counted loops, straight-line code, diamonds whose paths multiply until
   pruning stops them, stack traffic, map lookups, calls, 32-bit ALU, nested
   loops, bounds refinement that needs precision backtracking, linked scalars,
   helper calls). For each shape the model (``verifier.verify`` at log level 0)
   and the host (``BPF_PROG_LOAD`` at log level 0, maps created beforehand)
   are run in turn, alternating which goes first, and both are timed in CPU
   time of this process (``time.process_time``: the host's verifier runs in the
   caller's context, so its CPU time is the syscall's). Printed per shape: the
   processed count (model and kernel must agree), both medians and their ratio;
   then the median ratio.
2. **The whole process.** ``structops verify FILE`` (a child process, its CPU
   time from ``getrusage(RUSAGE_CHILDREN)``; default log level 1, so the log of
   the walk is produced) against the host's ``BPF_PROG_LOAD`` at log level 0,
   alternately, for a 300,000-insn straight-line program and a 300,000-iteration
   loop.
3. **Peak memory.** A child process decodes a straight-line program of
   1,000,000 slots from bytes (as a loader gets it) and verifies it at level 0
   (999,999 processed insns); printed: its peak RSS (``ru_maxrss``) and the RSS
   before the verifier ran. The goal is at most 200 MiB.

Without a usable bpf() only the model's figures are printed.

Usage: python benchmarks/verifier_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kernel_model.asm import assemble  # noqa: E402
from kernel_model.bpf_map import MapSpec  # noqa: E402
from kernel_model.insn import Insn, encode  # noqa: E402
from verifier import VerifierEnv, verify  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from timing import child_env  # noqa: E402

HASH, ARRAY = 1, 2


# --- the shapes --------------------------------------------------------------------------------------

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
    """Stack traffic and bounds in a loop (pointer and stack state)."""
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


def map_lookups(n: int) -> list[Insn]:
    """A loop of array-map lookups, NULL checks and masked variable-offset value loads."""
    return assemble(f"""
        r6 = 0
    top:
        *(u32 *)(r10 -4) = r6
        r1 = m ll
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem
        if r0 == 0 goto skip
        r1 = *(u64 *)(r0 +0)
        r1 &= 31
        r0 += r1
        r2 = *(u8 *)(r0 +0)
    skip:
        r6 += 1
        if r6 < {n} goto top
        r0 = 0
        exit
    """, symbols={"m": 0})


def calls(n: int) -> list[Insn]:
    """Straight-line bpf-to-bpf calls of a small subprogram."""
    body = "r1 = 1\ncall sub\n" * n
    return assemble(body + "r0 = 0\nexit\nsub:\nr0 = r1\nr0 += 2\nexit")


def alu32(n: int) -> list[Insn]:
    """A loop of 32-bit ALU and JMP32 on an unknown value."""
    return assemble(f"""
        call bpf_get_prandom_u32
        r6 = r0
        w7 = 0
    top:
        w8 = w6
        w8 &= 0xff
        w8 <<= 2
        w8 += w7
        w8 ^= 0x55
        if w8 s> 1000 goto skip
        w9 = w8
    skip:
        w7 += 1
        if w7 < {n} goto top
        r0 = 0
        exit
    """)


def nested(n: int) -> list[Insn]:
    """Two nested counted loops."""
    return assemble(f"""
        r6 = 0
    outer:
        r7 = 0
    inner:
        r7 += 1
        if r7 < 20 goto inner
        r6 += 1
        if r6 < {n} goto outer
        r0 = 0
        exit
    """)


def refine(n: int) -> list[Insn]:
    """Bounds learnt from comparisons and used as a stack offset: precision backtracking
    through a chain of conditional jumps on an unknown value."""
    text = "call bpf_get_prandom_u32\nr6 = r0\nr7 = 0\n"
    for i in range(n):
        text += f"if r6 > {1000 - i} goto e{i}\nr7 += r6\ne{i}:\n"
    text += """
        r6 &= 7
        r1 = r10
        r1 += -8
        r1 -= r6
        *(u8 *)(r1 +0) = 0
        r0 = 0
        exit
    """
    return assemble(text)


def linked(n: int) -> list[Insn]:
    """Linked scalars: copies of an unknown value refined together in a loop."""
    return assemble(f"""
        r9 = 0
    top:
        call bpf_get_prandom_u32
        r6 = r0
        r7 = r6
        r8 = r6
        if r7 > 15 goto skip
        r1 = r10
        r1 += -16
        r1 += r8
        *(u8 *)(r1 +0) = 0
    skip:
        r9 += 1
        if r9 < {n} goto top
        r0 = 0
        exit
    """)


def helpers(n: int) -> list[Insn]:
    """Helper calls in a loop (argument checks, r0-r5 clobbering)."""
    return assemble(f"""
        r9 = 0
    top:
        call bpf_ktime_get_ns
        r6 = r0
        call bpf_get_smp_processor_id
        r7 = r0
        call bpf_get_prandom_u32
        r9 += 1
        if r9 < {n} goto top
        r0 = 0
        exit
    """)


MAPS = {"map_lookups": {0: MapSpec(ARRAY, 4, 64, 16, 0, name="m", id=1)}}


def shapes(q: bool) -> list[tuple[str, list[Insn]]]:
    s = 1 if q else 10
    return [
        (f"loop({5000 * s})", loop(5000 * s)),
        (f"straight({3000 * s})", straight(3000 * s)),
        (f"diamonds({15 * s})", diamonds(15 * s)),
        (f"spills({500 * s})", spills(500 * s)),
        (f"map_lookups({300 * s})", map_lookups(300 * s)),
        (f"calls({200 * s})", calls(200 * s)),
        # (from 3,000 iterations on the walk grows past the 1M-insn limit: every shape here loads)
        (f"alu32({500 * min(s, 4)})", alu32(500 * min(s, 4))),
        (f"nested({40 * s})", nested(40 * s)),
        (f"refine({30 * s})", refine(30 * s)),
        (f"linked({400 * s})", linked(400 * s)),
        (f"helpers({500 * s})", helpers(500 * s)),
    ]


# --- timing ----------------------------------------------------------------------------------------

def env_for(name: str) -> VerifierEnv:
    return VerifierEnv(maps=MAPS.get(name.split("(")[0], {}))


class Host:
    """BPF_PROG_LOAD of one program at log level 0, its maps created once."""

    def __init__(self, insns: list[Insn], env: VerifierEnv) -> None:
        from emu.host import hostbpf as hb
        from kernel_model import isa

        self.hb = hb
        self.fds = []
        out = list(insns)
        fds: dict[int, int] = {}
        for key, m in env.maps.items():
            fd, err = hb.map_create(m.map_type, m.key_size, m.value_size, m.max_entries, map_flags=m.map_flags,
                                    name=m.name)
            if fd < 0:
                raise OSError(err, "host map_create failed")
            fds[key] = fd
            self.fds.append(fd)
        for k, ins in enumerate(out):
            if ins.code == isa.LD_IMM64 and ins.src == isa.PSEUDO_MAP_FD and ins.imm in fds:
                out[k] = Insn(ins.code, ins.dst, ins.src, ins.off, fds[ins.imm])
        self.code = encode(out)
        self.prog_type = env.prog_type

    def load(self, log_level: int = 0) -> Any:
        r = self.hb.prog_load(self.prog_type, self.code, log_level=log_level, log_size=16 << 20)
        r.close()
        return r

    def processed(self) -> int | None:
        import re

        m = re.search(r"processed (\d+) insns", self.load(4).log)
        return int(m.group(1)) if m else None

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def cpu(fn: Callable[[], Any]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def alternate(a: Callable[[], float], b: Callable[[], float] | None, runs: int) -> tuple[float, float | None]:
    """Median seconds of the timers ``a`` and ``b`` (each returns its own CPU seconds),
    run in turn, ``b`` first on odd rounds."""
    ta: list[float] = []
    tb: list[float] = []
    for i in range(runs):
        if b is not None and i % 2:
            tb.append(b())
        ta.append(a())
        if b is not None and not i % 2:
            tb.append(b())
    return statistics.median(ta), (statistics.median(tb) if tb else None)


def child_cpu(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=child_env())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# --- the three measurements --------------------------------------------------------------------------

def bench_shapes(q: bool, host_ok: bool) -> list[float]:
    runs = 3 if q else 5
    print(f"{'shape (log level 0)':22s} {'processed':>10s} {'model ms':>10s} {'kernel ms':>10s} {'model/kernel':>13s}")
    ratios = []
    for name, insns in shapes(q):
        env = env_for(name)
        res = verify(insns, env, log_level=0)
        host = Host(insns, env) if host_ok else None
        note = ""
        if host is not None:
            hp = host.processed()
            if hp != res.processed:
                note = f"  (kernel processed {hp}: left out of the median)"
        hostfn = (lambda: cpu(host.load)) if host is not None else None
        tm, th = alternate(lambda: cpu(lambda: verify(insns, env, log_level=0)), hostfn, runs)
        line = f"{name:22s} {res.processed:10d} {tm * 1e3:10.1f}"
        if th is not None:
            line += f" {th * 1e3:10.2f} {tm / th:12.1f}x"
            if not note:
                ratios.append(tm / th)
        print(line + note)
        if host is not None:
            host.close()
    if ratios:
        print(f"median model/kernel over {len(ratios)} shapes: {statistics.median(ratios):.1f}x (goal <= 10x)")
    return ratios


def bench_cli(q: bool, host_ok: bool) -> None:
    n = 30000 if q else 300000
    runs = 1 if q else 3
    print(f"\n{'structops verify (level 1)':28s} {'model s':>9s} {'kernel s':>9s} {'model/kernel':>13s}")
    with tempfile.TemporaryDirectory() as d:
        for name, insns in ((f"straight({n})", straight(n)), (f"loop({n})", loop(n))):
            path = Path(d) / "prog.bin"
            path.write_bytes(encode(insns))
            cmd = [sys.executable, "-m", "emu.cli", "verify", str(path)]
            host = Host(insns, VerifierEnv()) if host_ok else None
            hostfn = (lambda: cpu(host.load)) if host is not None else None
            child_cpu(cmd)  # warm-up: the page cache and the .pyc files (timing.child_env)
            tm, th = alternate(lambda: child_cpu(cmd), hostfn, runs)
            line = f"{name:28s} {tm:9.2f}"
            if th is not None:
                line += f" {th:9.3f} {tm / th:12.1f}x"
            print(line)
            if host is not None:
                host.close()


def rss_child(n: int) -> None:
    """In a child: decode n slots of straight-line code from bytes, verify at level 0, report RSS."""
    first, add, last = assemble("r0 = 0\nr0 += 1\nexit")
    code = first.to_bytes() + add.to_bytes() * (n - 2) + last.to_bytes()
    # n distinct Insn objects: the worst case, a program whose slots all differ
    # (kernel_model.insn.decode shares identical ones)
    insns = [Insn.from_bytes(code, i) for i in range(0, len(code), 8)]
    del code
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = verify(insns, VerifierEnv(), log_level=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{r.processed} {before} {peak}")


def bench_rss(q: bool) -> None:
    n = 100000 if q else 1000000
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(n)], capture_output=True, text=True,
                         check=True).stdout.split()
    processed, before, peak = (int(x) for x in out[-3:])
    print(f"\npeak RSS verifying straight-line code, {processed} processed insns at level 0: "
          f"{peak / 1024:.0f} MiB (before the verifier ran: {before / 1024:.0f} MiB; goal <= 200 MiB)")


def log_buffer(n: int, host_ok: bool) -> None:
    """Issue 10's level-1 loop: the trace of the accepted walk is reset away, yet it was
    the log at its longest (log_true_size), so a 16 MiB buffer is ENOSPC and 256 MiB
    loads. The model's log keeps only the buffer's window of that trace."""
    from emu.host import hostbpf as hb

    prog = loop(n)
    print(f"\nlog buffer: loop({n}) at log level 1")
    for size in (16 << 20, 256 << 20):
        t0 = time.perf_counter()
        r = verify(prog, VerifierEnv(log_size=size), log_level=1)
        dt = time.perf_counter() - t0
        line = (f"  {size >> 20:4d} MiB: model {'loads' if r.accepted else r.errno_name:6s} "
                f"log_true_size {r.log_true_size:>10d} ({dt:.1f} s)")
        if host_ok:
            h = hb.prog_load(1, encode(prog), log_level=1, log_size=size)
            line += f"; kernel {'loads' if h.accepted else h.errno_name:6s} log_true_size {h.log_true_size:>10d}"
            h.close()
        print(line)


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=("shapes", "cli", "rss", "logbuf"), help="run one measurement")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.rss_child:
        rss_child(args.rss_child)
        return 0
    from emu.host.hostbpf import oracle_status

    ok, why = oracle_status()
    if not ok:
        print(f"note: no host kernel timings ({why})")
    if args.only in (None, "shapes"):
        bench_shapes(args.quick, ok)
    if args.only in (None, "cli"):
        bench_cli(args.quick, ok)
    if args.only in (None, "rss"):
        bench_rss(args.quick)
    if args.only in (None, "logbuf"):
        log_buffer(300 if args.quick else 300000, ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
