"""Reading program files: kernel-syntax asm, raw instruction bytes, conformance ``.data``.

The format is chosen from the file name: ``.data`` is a conformance test file;
``.bin``/``.raw``/``.insns`` are raw little-endian instruction bytes; ``.s``/``.asm``
are assembly text (``--syntax`` picks the dialect, kernel by default). Any other
name is read as assembly when it is UTF-8 text without NUL bytes, else as raw
bytes. Every error names the file (and line, section or byte offset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kernel_model.asm import assemble
from kernel_model.errors import InputError
from kernel_model.insn import Insn, decode

if TYPE_CHECKING:  # pragma: no cover
    from .conformance import ConformanceCase

__all__ = ["ProgramFile", "load_program_file", "read_program_bytes", "RAW_SUFFIXES", "ASM_SUFFIXES"]

RAW_SUFFIXES = (".bin", ".raw", ".insns")
ASM_SUFFIXES = (".s", ".asm", ".S")


@dataclass(slots=True)
class ProgramFile:
    """A program read from a file; ``case`` is set for conformance files."""

    path: str
    insns: list[Insn]
    kind: str  # "asm", "raw", "data"
    case: ConformanceCase | None = None

    @property
    def mem(self) -> bytes | None:
        return self.case.mem if self.case else None


def load_program_file(path: str | Path, syntax: str | None = None) -> ProgramFile:
    """Read and assemble/decode a program file (see the module docstring)."""
    p = Path(path)
    name = str(p)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", name) from None
    return read_program_bytes(data, name, syntax, suffix=p.suffix)


def read_program_bytes(data: bytes, name: str, syntax: str | None = None, *, suffix: str = "") -> ProgramFile:
    """A program file's bytes already read (standard input has no second read):
    ``suffix`` chooses the format as the file name would (empty: by content, as for
    any other name); ``name`` is what errors say."""
    if data.startswith(b"\x7fELF"):
        raise InputError("this is an ELF object: load it with 'structops load'", name)
    if suffix == ".data":
        return ProgramFile(name, *_data(data, name))
    if suffix in RAW_SUFFIXES:
        return ProgramFile(name, decode(data, name), "raw")
    text: str | None = None
    if suffix in ASM_SUFFIXES or b"\0" not in data:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            if suffix in ASM_SUFFIXES:
                raise InputError("assembly file is not UTF-8 text", name) from None
    if text is None:
        return ProgramFile(name, decode(data, name), "raw")
    return ProgramFile(name, assemble(text, syntax=syntax or "kernel", source=name), "asm")


def _data(data: bytes, name: str) -> tuple[list[Insn], str, "ConformanceCase"]:
    from .conformance import parse_data_text  # only .data files need the conformance format

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("conformance file is not UTF-8 text", name) from None
    case = parse_data_text(text, name)
    return case.insns, "data", case
