"""Insn and Program print as assembly, so counterexamples read as programs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from kernel_model.asm import assemble
from kernel_model.disasm import format_insn
from kernel_model.insn import Insn
from kernel_model.listing import Program, listing
from kernel_model.testing import instructions, terminating_programs


@pytest.mark.parametrize("insn,text", [
    (Insn(0xB7, 0, 0, 0, 1), "r0 = 1"),
    (Insn(0x61, 2, 1, 4), "r2 = *(u32 *)(r1 +4)"),
    (Insn(0x95), "exit"),
    (Insn(0x2D, 1, 2, 3), "if r1 > r2 goto pc+3"),
    (Insn(0x18, 1, 0, 0, 0x2A), "r1 = 0x2a ll [lddw 1/2]"),
    (Insn(0x18, 1, 1, 0, 3), "r1 = map[fd:3] ll [lddw 1/2]"),
    (Insn(0, 0, 0, 0, -1), "[lddw 2/2: imm=0xffffffff]"),
    (Insn(0xFF, 1, 2, 3, 4), ".raw 0x00000004000321ff"),
])
def test_repr_and_str_are_kernel_syntax(insn, text):
    assert str(insn) == text
    assert repr(insn) == f"Insn<{text}>"


def test_fields_equality_and_hash_are_kept():
    a, b = Insn(0xB7, 0, 0, 0, 1), Insn(0xB7, 0, 0, 0, 1)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert (a.code, a.dst, a.src, a.off, a.imm) == (0xB7, 0, 0, 0, 1)
    assert a != Insn(0xB7, 0, 0, 0, 2)


@settings(max_examples=300)
@given(slots=instructions())
def test_every_form_prints_its_own_text(slots):
    if len(slots) == 1:
        assert str(slots[0]) == format_insn(slots)
    else:  # an lddw: the first slot with a zero high half, the second its imm
        assert str(slots[0]).endswith("[lddw 1/2]")
        assert str(slots[1]) == f"[lddw 2/2: imm={slots[1].imm & 0xFFFFFFFF:#x}]"


def test_program_is_a_list_that_prints_a_listing():
    insns = assemble("r1 = 0x123456789 ll\nr0 = 1\nexit\n")
    prog = Program(insns)
    assert prog == insns and isinstance(prog, list)
    assert str(prog) == listing(insns) == "0: r1 = 0x123456789 ll\n2: r0 = 1\n3: exit\n"
    assert repr(prog) == "Program(\n    0: r1 = 0x123456789 ll\n    2: r0 = 1\n    3: exit\n)"
    assert isinstance(prog[1:], Program) and isinstance(prog + [Insn(0x95)], Program)
    assert Program.from_text("exit") == [Insn(0x95)] and repr(Program()) == "Program()"
    assert listing(insns, numbered=False).splitlines()[0] == "r1 = 0x123456789 ll"


def test_a_failing_property_shows_the_program_as_a_listing():
    @settings(database=None, derandomize=True, max_examples=50)
    @given(prog=terminating_programs(max_pieces=6))
    def prop(prog):
        assert len(prog) < 17

    with pytest.raises(AssertionError) as ei:
        prop()
    note = "\n".join(getattr(ei.value, "__notes__", []))
    assert "prog=Program(\n        0: r6 = r1\n" in note
    assert "exit\n    ),\n)" in note and "Insn(code=" not in note
