"""``compute_live_regs``: its one-pass answer on loop-free code is the fixed point the
kernel's iteration (until nothing changes) reaches."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from tests.verifier.programs import MAP_DECL, socket_programs
from verifier.decoded import decode_program
from verifier.liveness import _use_def, compute_live_regs, postorder


def _iterated(insns, order, call_params):  # the kernel's loop: every pass until no change
    n = len(insns)
    live_in, live_out = [0] * n, [0] * n
    changed = True
    while changed:
        changed = False
        for i in order:
            d = insns[i]
            new_out = 0
            for r in d.succ_rel:
                if i + r < n:
                    new_out |= live_in[i + r]
            use, df = _use_def(d, call_params)
            new_in = (new_out & ~df) | use
            if (new_out, new_in) != (live_out[i], live_in[i]):
                live_in[i], live_out[i], changed = new_in, new_out, True
    return live_in


@settings(max_examples=150, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(socket_programs())
def test_live_registers_are_the_fixed_point(text: str) -> None:
    insns, _env = program_env(assemble(text, symbols=symbols_for([MAP_DECL])), maps=[MAP_DECL])
    d = decode_program(insns)
    order = postorder(d, [0])
    params = lambda insn: None  # noqa: E731 (r1-r5 read by every call: the same for both)
    assert list(compute_live_regs(d, order, params)) == _iterated(d, order, params)


def test_a_loop_still_iterates() -> None:
    """r2 is read after the loop: live through its back edge into the body."""
    d = decode_program(assemble("r2 = 1\nr1 = 0\nl: r1 += 1\nif r1 < 9 goto l\nr0 = r2\nexit"))
    order = postorder(d, [0])
    live = compute_live_regs(d, order, lambda insn: None)
    assert list(live) == _iterated(d, order, lambda insn: None)
    assert all(live[i] & (1 << 2) for i in (2, 3, 4))
