"""verifier.fixups: the may_goto counter init and the jumps aimed at a function's start.

Linux 6.12/6.18 ``do_misc_fixups`` puts the counter init (one ST, or two for the
timed may_goto of 6.15+) before a function's first instruction and then calls
``adjust_jmp_off`` so that a *jump* back to that instruction lands after the
init, while calls still enter at it (selftests verifier_may_goto_1.c
``ja_and_may_goto2``)."""

from __future__ import annotations

import pytest

from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.profile import get_profile
from verifier.fixups import fixup_for_jit


@pytest.mark.parametrize("profile,init_len", [("latest", 2), ("6.12", 1)])
def test_jump_back_to_the_first_insn_lands_after_the_counter_init(profile, init_len):
    insns = assemble("l0:\nmay_goto +1\ngoto l0\nr0 = 0\nexit")
    fx = fixup_for_jit(insns, helper_imm={}, profile=get_profile(profile), timed_may_goto_imm=0x1000)
    out = fx.insns
    assert all(i.code == isa.ST | isa.MEM | isa.DW and i.dst == 10 for i in out[:init_len])
    back = [(k, i) for k, i in enumerate(out) if i.code == isa.JMP | isa.JA and i.off < 0]
    assert len(back) == 1
    k, ja = back[0]
    assert k + 1 + ja.off == init_len  # the first original instruction, not the init


def test_a_call_to_a_function_still_enters_at_its_init():
    insns = assemble("call f\nexit\nf:\nmay_goto +0\nr0 = 0\nexit")
    fx = fixup_for_jit(insns, helper_imm={}, profile=get_profile("6.12"))
    call = fx.insns[0]
    assert call.code == isa.CALL_INSN and call.src == isa.PSEUDO_CALL
    target = 0 + call.imm + 1
    assert target == fx.starts[1]
    assert fx.insns[target].code == isa.ST | isa.MEM | isa.DW
