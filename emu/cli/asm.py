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

    from .inputs import STDIN, program_input, read_input

    prog = program_input(read_input(args.file), args.syntax)
    data = encode(prog.insns)
    if args.file == STDIN and not args.output:
        raise InputError("standard input has no name to derive the output's from: give -o FILE")
    path = args.output or str(Path(args.file).with_suffix(".bin"))
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror or e}", path) from None
    from .output import emit, json_mode

    if json_mode():
        emit({"output": path, "insns": len(prog.insns), "bytes": len(data), "exit_status": 0})
    else:
        out(f"{path}: {len(prog.insns)} instructions, {len(data)} bytes")
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    from kernel_model.disasm import format_insn, format_program
    from kernel_model.insn import is_lddw

    from .inputs import program_input, read_input
    from .output import emit, json_mode

    inp = read_input(args.file)
    prog = program_input(inp, args.syntax)
    if json_mode():
        insns = [{"index": i, "text": format_insn(prog.insns, i), "bytes": prog.insns[i].to_bytes().hex()
                  + (prog.insns[i + 1].to_bytes().hex() if is_lddw(prog.insns[i]) and i + 1 < len(prog.insns) else "")}
                 for i in range(len(prog.insns)) if not (i and is_lddw(prog.insns[i - 1]))]
        emit({"file": inp.name, "insns": insns, "exit_status": 0})
        return 0
    sys.stdout.write(format_program(prog.insns, numbered=args.numbered))
    return 0


def add_subcommands(sub: Any) -> None:
    """Register ``asm`` and ``disasm``."""
    a = sub.add_parser("asm", help="assemble a program to raw instruction bytes")
    a.add_argument("file", help="assembly (.s), conformance .data, or raw bytes; - reads standard input")
    a.add_argument("-o", "--output", help="output file (default: FILE with .bin)")
    a.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    a.set_defaults(func=cmd_asm)

    d = sub.add_parser("disasm", help="print a program in the kernel's syntax")
    d.add_argument("file", help="raw instruction bytes, assembly or conformance .data; - reads standard input")
    d.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    d.add_argument("-n", "--numbered", action="store_true", help="prefix instruction indices")
    d.set_defaults(func=cmd_disasm)
