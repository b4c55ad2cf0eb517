"""Callbacks from a Python-serviced helper (emu/machine/callbacks.py) against plain helper
round trips, timed alternately in one process (benchmarks/timing.py).

* base: a JIT'd loop calling a Python-serviced helper (one code hook per call);
* ours: a helper that calls a BPF callback ``n`` times (``bpf_loop``'s helper path): per
  callback two hooks (the call laid out from the stub's hook, the return point's hook
  resuming the generator) and one 8-byte stack write;
* for scale, the same loop inlined (``optimize_bpf_loop``: the JIT'd code calls the callback
  itself, no hook).

Prints callbacks/s and the ratio to the helper round trip. ``--quick``: fewer calls and runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import paired  # noqa: E402
from emu.machine import Machine  # noqa: E402
from emu.machine.callbacks import bind_calling  # noqa: E402
from kernel_model.asm import assemble  # noqa: E402
from kernel_model.insn import Insn  # noqa: E402


def _repeat(m, loc, n, fn, ctx, *_):  # type: ignore[no-untyped-def]
    for i in range(n):
        if (yield fn, (i, ctx)):
            return i + 1
    return n


def main() -> None:
    quick = "--quick" in sys.argv
    n, runs = (2000, 3) if quick else (20000, 7)
    with Machine() as m:
        helper = m.add_stub("bpf_bench_helper", lambda mem, *a: 0)
        calling = bind_calling(m, "bpf_bench_loop", _repeat)

        def prog(text: str, target: int, starts: list[int]):  # type: ignore[no-untyped-def]
            insns = [Insn(0x85, 0, 0, 0, m.images.call_imm(target)) if i.code == 0x85 and i.src == 0 else i
                     for i in assemble(text)]
            return m.jit(insns, starts=starts, stack_depths=[0] * len(starts), name="b").bpf_func

        loop = prog("r6 = r1\nl:\nr1 = 0\ncall 1\nr6 += -1\nif r6 != 0 goto l\nr0 = 0\nexit", helper, [0])
        cbs = prog("r2 = func[cb] ll\ncall 1\nexit\ncb:\nr0 = 0\nexit", calling, [0, 4])
        inl = prog("r6 = r1\nr7 = 0\nl:\nif r7 >= r6 goto +4\nr1 = r7\ncall cb\nr7 += 1\nif r0 == 0 goto l\n"
                   "r0 = r7\nexit\ncb:\nr0 = 0\nexit", helper, [0, 9])
        base, ours = paired(lambda k: [m.call(loop, (n,)) for _ in range(k)],
                            lambda k: [m.call(cbs, (n,)) for _ in range(k)], 1, 1, runs)
        _, inlined = paired(lambda k: [m.call(loop, (n,)) for _ in range(k)],
                            lambda k: [m.call(inl, (n,)) for _ in range(k)], 1, 1, runs)
    print(f"helper round trips:            {base * n / 1e3:8.0f} k/s")
    print(f"callbacks through the helper:  {ours * n / 1e3:8.0f} k/s  ({ours / base:.2f}x a helper round trip)")
    print(f"callbacks inlined (JIT only):  {inlined * n / 1e3:8.0f} k/s  ({inlined / base:.1f}x)")


if __name__ == "__main__":
    main()
