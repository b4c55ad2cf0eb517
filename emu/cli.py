"""The ``structops`` command line.

Every command reports bad input as one ``error: ...`` line naming the file and
place, exits 1, and never shows a Python traceback for an error of the
project's own tree (:class:`kernel_model.errors.StructOpsError`). Usage errors
(unknown options) exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from kernel_model.errors import StructOpsError

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(f"error: {text}\n")


# --- asm / disasm ---------------------------------------------------------------

def cmd_asm(args: argparse.Namespace) -> int:
    from kernel_model.insn import encode

    from .progfile import load_program_file

    prog = load_program_file(args.file, args.syntax)
    data = encode(prog.insns)
    out = args.output or str(Path(args.file).with_suffix(".bin"))
    try:
        Path(out).write_bytes(data)
    except OSError as e:
        raise StructOpsError(f"{out}: cannot write: {e.strerror or e}") from None
    _out(f"{out}: {len(prog.insns)} instructions, {len(data)} bytes")
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    from kernel_model.disasm import format_program

    from .progfile import load_program_file

    prog = load_program_file(args.file, args.syntax)
    sys.stdout.write(format_program(prog.insns, numbered=args.numbered))
    return 0


# --- exec ---------------------------------------------------------------------------

def _parse_hex(text: str) -> bytes:
    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise StructOpsError(f"--mem {text!r} is not a string of hex bytes") from None


def cmd_exec(args: argparse.Namespace) -> int:
    from .conformance import UBPF_TEST_HELPERS
    from .progfile import load_program_file
    from .runner import run_program

    mem_override = _parse_hex(args.mem) if args.mem is not None else None
    failed = 0
    many = len(args.files) > 1
    for path in args.files:
        try:
            prog = load_program_file(path, args.syntax)
            mem = mem_override if mem_override is not None else prog.mem
            r0 = run_program(prog.insns, mem=mem, engine=args.engine, helpers=UBPF_TEST_HELPERS,
                             budget=args.budget)
        except StructOpsError as e:
            failed += 1
            msg = str(e)
            if many:
                _out(f"{path}: error: {msg}")
            else:
                _err(msg if msg.startswith(path) else f"{path}: {msg}")
            continue
        _out(f"{path}: {r0:#x}" if many else f"{r0:#x}")
    return 1 if failed else 0


# --- btf -------------------------------------------------------------------------------

def cmd_btf_dump(args: argparse.Namespace) -> int:
    from kernel_model import btf as btfmod

    if args.kernel:
        from .kernel import Kernel

        k = Kernel(profile=args.profile)
        b = k.btf_for_dump()
        sys.stdout.write(btfmod.format_c(b) if args.format == "c" else btfmod.format_raw(b))
        return 0
    if not args.file:
        raise StructOpsError("btf dump needs FILE or --kernel")
    sys.stdout.write(btfmod.dump_command(args.file, args.format))
    return 0


# --- demo -------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.steps or None)


# --- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="structops", description=(
        "An emulator of the Linux kernel's BPF struct_ops mechanism, its x86-64 "
        "trampolines and its verifier."))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

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

    e = sub.add_parser("exec", help="run programs and print r0")
    e.add_argument("files", nargs="+", metavar="FILE")
    e.add_argument("--mem", help="input memory as hex bytes (r1 points to it, r2 holds its length)")
    e.add_argument("--syntax", choices=("kernel", "conformance"), default=None,
                   help="dialect of assembly files (default: kernel; .data files are conformance)")
    e.add_argument("--engine", choices=("interp", "jit"), default="interp")
    e.add_argument("--budget", type=int, default=10_000_000, help="instruction budget per program")
    e.set_defaults(func=cmd_exec)

    dm = sub.add_parser("demo", help="a guided run through the emulator (what `make demo` runs)")
    dm.add_argument("steps", nargs="*", help="run only these steps")
    dm.set_defaults(func=cmd_demo)

    b = sub.add_parser("btf", help="BTF type information")
    bsub = b.add_subparsers(dest="btf_command", metavar="SUBCOMMAND")
    bsub.required = True
    bd = bsub.add_parser("dump", help="dump a BTF file (bpftool's raw format, or a C header)")
    bd.add_argument("file", nargs="?")
    bd.add_argument("--format", choices=("raw", "c"), default="raw")
    bd.add_argument("--kernel", action="store_true", help="dump the emulated kernel's BTF (vmlinux.h)")
    bd.add_argument("--profile", default="latest")
    bd.set_defaults(func=cmd_btf_dump)

    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except StructOpsError as e:
        _err(str(e))
        return 1
    except BrokenPipeError:  # `structops ... | head`
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
