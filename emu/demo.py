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


def _page_map(plan) -> str:  # type: ignore[no-untyped-def]
    """One row per page: which members' trampolines sit in it."""
    rows = []
    pages: dict[int, list[str]] = {}
    for p in plan.placements:
        pages.setdefault(p.page, []).append(plan.member_for(p))
    for page, names in sorted(pages.items()):
        used = sum(p.size for p in plan.placements if p.page == page)
        rows.append(f"    page {page}: {len(names):2d} trampolines, {used:4d}/4096 bytes  "
                    f"[{names[0]} .. {names[-1]}]")
    return "\n".join(rows)


def step_pages() -> None:
    from pathlib import Path

    from kernel_model.profile import get_profile

    from .kernel import Kernel
    from .planner import plan_pages, register_declared_type

    _h("2. Trampolines packed into pages: eight pages on latest, one on 6.8")
    print("Each function member of a struct_ops map gets an x86-64 trampoline (kernel calling convention ->\n"
          "BPF's u64 argument array). They are packed into 4 KiB pages; a trampoline never crosses a page.")
    k = Kernel("latest")
    plan = plan_pages(k.struct_ops_type("bpf_testmod_ops"), k.profile)
    print(f"\nbpf_testmod_ops (module bpf_testmod, 43 supported members) on latest: {plan.pages} pages")
    print(_page_map(plan))
    header = Path(__file__).resolve().parent.parent / "examples" / "many_ops.h"
    for name in ("latest", "6.8"):
        prof = get_profile(name)
        desc = register_declared_type(f"{header}:many_ops", prof)
        plan = plan_pages(desc, prof)
        print(f"\nmany_ops (40 x int (*)(int)) on {name} (limit {prof.tramp_image_pages} page(s)):")
        print(_page_map(plan))
        if plan.error is not None:
            print(f"    -> {plan.error}   (BPF_MAP_UPDATE_ELEM fails, nothing registered, no page leaked)")
    base = plan_pages(desc, get_profile("latest")).placements[0].size
    alt = get_profile("latest").with_config(ibt=True, call_depth_tracking=True)
    alt_size = plan_pages(register_declared_type(f"{header}:many_ops", alt), alt).placements[0].size
    print(f"\nPer page: {4096 // base} here ({base} bytes each: code + 64 safety bytes); "
          f"{4096 // alt_size} with IBT and call-depth tracking ({alt_size} bytes) --\n"
          "the 'about 20 per page on x86' the kernel developers quoted in 2024.")


STEPS: list[tuple[str, Callable[[], None]]] = [
    ("isa", step_isa),
    ("pages", step_pages),
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
