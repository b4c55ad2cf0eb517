"""Reading a command's input files: each once, and ``-`` for standard input.

Every command that reads a file accepts ``-`` for stdin (read once, as bytes:
a pipe cannot be read twice, which is why ``verify /dev/stdin`` used to find
"no instructions" on its second open). At most one ``-`` per command line.
The name a stdin input carries in messages and in machine-readable output is
``<stdin>``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["Input", "read_input", "STDIN", "STDIN_NAME", "check_one_stdin", "read_text", "program_input", "parse_hex"]

#: the file name that means standard input
STDIN = "-"
#: what messages call standard input
STDIN_NAME = "<stdin>"


@dataclass(frozen=True, slots=True)
class Input:
    """One input: the name messages use (the path, or ``<stdin>``) and its bytes."""

    name: str
    data: bytes
    #: the file name's suffix (``.s``, ``.bin`` ...): empty for stdin
    suffix: str

    @property
    def is_elf(self) -> bool:
        return self.data.startswith(b"\x7fELF")


def read_input(path: str) -> Input:
    """The bytes of ``path`` (``-``: all of stdin), read once. An unreadable file is an
    :class:`~kernel_model.errors.InputError` naming it (exit status 2)."""
    from kernel_model.errors import InputError

    if path == STDIN:
        return Input(STDIN_NAME, sys.stdin.buffer.read(), "")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path) from None
    return Input(path, data, Path(path).suffix)


def read_text(path: str) -> str:
    """A text input (``-``: stdin) as UTF-8, unreadable or undecodable: InputError."""
    from kernel_model.errors import InputError

    inp = read_input(path)
    try:
        return inp.data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte offset {e.start})", inp.name) from None


def check_one_stdin(paths: Sequence[str]) -> None:
    """Standard input can be read once: ``-`` may appear once among ``paths``."""
    from kernel_model.errors import InputError

    if sum(p == STDIN for p in paths) > 1:
        raise InputError("'-' (standard input) is given more than once; it can be read only once")


def program_input(inp: Input, syntax: str | None) -> Any:
    """An :class:`Input` as a program file (:func:`emu.formats.progfile.read_program_bytes`)."""
    from emu.formats.progfile import read_program_bytes

    return read_program_bytes(inp.data, inp.name, syntax, suffix=inp.suffix)


def parse_hex(text: str, option: str) -> bytes:
    """Bytes given as hex on the command line (spaces allowed, an optional ``0x``); not hex:
    an :class:`~kernel_model.errors.InputError` naming ``option``."""
    from kernel_model.errors import InputError

    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{text!r} is not a string of hex bytes", option) from None
