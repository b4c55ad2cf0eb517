"""A program that prints as its listing.

:class:`Program` is a ``list`` of :class:`~kernel_model.insn.Insn` slots (it
compares equal to the plain list of the same slots and goes wherever a
sequence of instructions is taken) whose ``repr`` is a numbered listing in
kernel syntax, the form ``bpftool prog dump xlated`` and verifier logs use
(:func:`kernel_model.disasm.format_program`). The program strategies of
:mod:`kernel_model.testing` draw Programs, so a failing property shows::

    Program(
        0: r6 = r1
        1: r0 = 0x1 ll
        3: exit
    )

instead of a list of tuples. :func:`listing` is the same text for any sequence.
"""

from __future__ import annotations

from typing import Iterable, Sequence, SupportsIndex, overload

from .asm import assemble
from .disasm import format_program
from .insn import Insn

__all__ = ["Program", "listing"]


def listing(insns: Sequence[Insn], *, numbered: bool = True) -> str:
    """The program as kernel-syntax text, one instruction a line (slot-numbered by
    default; an lddw's second slot has no line of its own)."""
    if not insns:
        return ""
    return format_program(list(insns), numbered=numbered)


class Program(list[Insn]):
    """A list of instruction slots that prints as a listing (see the module docstring)."""

    def __init__(self, insns: Iterable[Insn] = ()) -> None:
        super().__init__(insns)

    @classmethod
    def from_text(cls, text: str, **assemble_kw: object) -> "Program":
        """Assemble kernel-syntax text (:func:`kernel_model.asm.assemble`)."""
        return cls(assemble(text, **assemble_kw))  # type: ignore[arg-type]

    def listing(self, *, numbered: bool = True) -> str:
        """:func:`listing` of this program."""
        return listing(self, numbered=numbered)

    def __repr__(self) -> str:
        if not self:
            return "Program()"
        body = "".join(f"    {line}\n" for line in listing(self).splitlines())
        return f"Program(\n{body})"

    def __str__(self) -> str:
        return listing(self)

    def _repr_pretty_(self, p, cycle: bool) -> None:  # type: ignore[no-untyped-def]
        """The pretty-printer hook of hypothesis (and IPython): the listing, indented
        where the printer has got to."""
        if not self:
            p.text("Program()")
            return
        with p.group(4, "Program(", ""):
            for line in listing(self).splitlines():
                p.break_()
                p.text(line)
        p.break_()
        p.text(")")

    # list's slicing and concatenation give plain lists; keep the type
    @overload
    def __getitem__(self, index: SupportsIndex) -> Insn: ...
    @overload
    def __getitem__(self, index: slice) -> "Program": ...
    def __getitem__(self, index: SupportsIndex | slice) -> "Insn | Program":
        if isinstance(index, slice):
            return Program(super().__getitem__(index))
        return super().__getitem__(index)

    def __add__(self, other: Iterable[Insn]) -> "Program":  # type: ignore[override]
        return Program([*self, *other])

    def copy(self) -> "Program":
        return Program(self)
