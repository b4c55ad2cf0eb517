"""``structops asm`` and ``structops disasm``: program files to bytes and back to text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .status import out

__all__ = ["add_subcommands", "cmd_asm", "cmd_disasm"]


def cmd_asm(args: argparse.Namespace) -> int:
    from kernel_model.errors import InputError
    from kernel_model.insn import encode

    from emu.formats.progfile import load_program_file

    prog = load_program_file(args.file, args.syntax)
    data = encode(prog.insns)
    path = args.output or str(Path(args.file).with_suffix(".bin"))
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror or e}", path) from None
    out(f"{path}: {len(prog.insns)} instructions, {len(data)} bytes")
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    from kernel_model.disasm import format_program

    from emu.formats.progfile import load_program_file

    prog = load_program_file(args.file, args.syntax)
    sys.stdout.write(format_program(prog.insns, numbered=args.numbered))
    return 0


def add_subcommands(sub: Any) -> None:
    """Register ``asm`` and ``disasm``."""
    a = sub.add_parser("asm", help="assemble a program to raw instruction bytes")
    a.add_argument("file", help="assembly (.s), conformance .data, or raw bytes")
    a.add_argument("-o", "--output", help="output file (default: FILE with .bin)")
    a.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    a.set_defaults(func=cmd_asm)

    d = sub.add_parser("disasm", help="print a program in the kernel's syntax")
    d.add_argument("file")
    d.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    d.add_argument("-n", "--numbered", action="store_true", help="prefix instruction indices")
    d.set_defaults(func=cmd_disasm)
