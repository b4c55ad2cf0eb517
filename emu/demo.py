"""``structops demo``: a guided, readable run through what the emulator shows.

Each step prints a heading, what it demonstrates, and the objects involved.
Steps whose machinery is not present in this build say so and are skipped
rather than faked.
"""

from __future__ import annotations

import sys
from typing import Callable

__all__ = ["run_demo", "STEPS"]


def _h(title: str) -> None:
    print()
    print("=" * 78)
    print(title)
    print("=" * 78)


def step_isa() -> None:
    from kernel_model.asm import assemble
    from kernel_model.disasm import format_log_insn
    from kernel_model.insn import encode
    from kernel_model.interp import Interpreter

    _h("1. A BPF program: kernel syntax -> instruction bytes -> reference interpreter")
    text = """\
    r0 = 0
    r1 = 1
loop:
    r0 += r1          ; sum 1..10
    r1 += 1
    if r1 <= 10 goto loop
    exit"""
    print(text)
    insns = assemble(text)
    print("\nAs the verifier log prints each slot (kernel/bpf/disasm.c):")
    for i in range(len(insns)):
        print(f"  {i}: {format_log_insn(insns, i):40s} {insns[i].to_bytes().hex()}")
    print(f"\n{len(encode(insns))} bytes. The reference interpreter runs it:")
    it = Interpreter(insns)
    r0 = it.run()
    print(f"  r0 = {r0} after {it.executed} instructions")


STEPS: list[tuple[str, Callable[[], None]]] = [
    ("isa", step_isa),
]


def run_demo(steps: list[str] | None = None) -> int:
    """Run the named steps (all by default); returns an exit status."""
    print("structops-emu demo: the BPF struct_ops mechanism, its trampolines and its verifier")
    for name, fn in STEPS:
        if steps and name not in steps:
            continue
        fn()
        sys.stdout.flush()
    print("\nDone. See README.md and docs/ for more.")
    return 0
