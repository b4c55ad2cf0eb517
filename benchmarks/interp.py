"""Reference interpreter throughput on a 1M-instruction loop.

Prints BPF instructions per second (median of runs) for the pre-decoded
interpreter, and the ratio to the 3 M insns/s goal. No thresholds: figures only.
Usage: python benchmarks/interp.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernel_model.asm import assemble  # noqa: E402
from kernel_model.interp import Interpreter  # noqa: E402

GOAL = 3_000_000


def loop_program(iterations: int) -> str:
    # 4 instructions per iteration: a sum, a load/store pair would add memory traffic below
    return f"""
        r0 = 0
        r1 = 0
    loop:
        r0 += r1
        *(u64 *)(r10 -8) = r0
        r0 = *(u64 *)(r10 -8)
        r1 += 1
        if r1 < {iterations} goto loop
        exit
    """


def main() -> None:
    quick = "--quick" in sys.argv
    iterations = 20_000 if quick else 200_000  # x5 insns per iteration: 100k / 1M
    runs = 3 if quick else 5
    it = Interpreter(assemble(loop_program(iterations)), budget=10_000_000)
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.run()
        dt = time.perf_counter() - t0
        rates.append(it.executed / dt)
    rate = statistics.median(rates)
    print(f"interp: {it.executed:,} insns per run, median {rate / 1e6:.2f} M insns/s "
          f"(goal {GOAL / 1e6:.0f} M/s: ratio {rate / GOAL:.2f}x)")
    # decode cost, reported apart: building the pre-decoded form
    prog = assemble(loop_program(iterations))
    t0 = time.perf_counter()
    for _ in range(200):
        Interpreter(prog)
    print(f"interp: pre-decoding a {len(prog)}-insn program: {(time.perf_counter() - t0) / 200 * 1e6:.0f} us")


if __name__ == "__main__":
    main()
