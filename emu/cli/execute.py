"""``structops exec``: run programs on the reference interpreter or the JIT and print r0.

The runs themselves are :func:`emu.kernel.runner.run_program` (the load-time
checks that do not depend on a program type, then one engine); ``--check``
compares each conformance ``.data`` file's run with its expectation
(:func:`emu.formats.conformance.check_case`).
"""

from __future__ import annotations

import argparse
from typing import Any

from emu.host.hostcpu import add_cpu_option

from .status import EXIT_OK, EXIT_REFUSED, err, exit_status, one_line, out

__all__ = ["add_subcommand", "cmd_exec"]


def _parse_hex(text: str) -> bytes:
    from kernel_model.errors import InputError

    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{text!r} is not a string of hex bytes", "--mem") from None


def _budget(text: str) -> int:
    """``--budget N``: N >= 1 instructions per run, 0 for no limit (both engines)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative (0 means no limit)")
    return n


def cmd_exec(args: argparse.Namespace) -> int:
    import sys

    from kernel_model.errors import StructOpsError

    from emu.formats.conformance import UBPF_TEST_HELPERS
    from emu.formats.progfile import load_program_file
    from emu.kernel.runner import run_program

    mem_override = _parse_hex(args.mem) if args.mem is not None else None
    if args.check:
        return _exec_check(args, mem_override)
    status = EXIT_OK
    many = len(args.files) > 1
    for path in args.files:
        try:
            prog = load_program_file(path, args.syntax)
            mem = mem_override if mem_override is not None else prog.mem
            r0 = run_program(prog.insns, mem=mem, engine=args.engine, helpers=UBPF_TEST_HELPERS,
                             budget=args.budget, cpu=args.cpu)
        except StructOpsError as e:
            status = max(status, exit_status(e))
            msg = str(e)
            if not msg.startswith(path):
                msg = f"{path}: {msg}"
            if many:  # one line per file: "m.s:2:6: error: expected ..."
                where, _, text = msg[len(path):].partition(": ")
                out(one_line(f"{path}{where}: error: {text}"))
            else:
                from emu.machine import Oops

                if isinstance(e, Oops):
                    sys.stderr.write(e.text.rstrip("\n") + "\n")
                err(msg)
            continue
        out(f"{path}: {r0:#x}" if many else f"{r0:#x}")
    return status


def _exec_check(args: argparse.Namespace, mem_override: bytes | None) -> int:
    """``exec --check``: each conformance file's run against its ``-- result`` /
    ``-- error`` (:func:`emu.formats.conformance.check_case`), one ``PATH: pass|FAIL: why``
    line each, then a count; 0 when every case passes, 1 otherwise. A file that
    is no test case (unreadable, malformed) gets an ``error:`` line on stderr
    and makes the status 2."""
    from kernel_model.errors import InputError, StructOpsError

    from emu.formats.conformance import UBPF_TEST_HELPERS, check_case
    from emu.formats.progfile import load_program_file
    from emu.kernel.runner import run_program

    failed = 0
    status = EXIT_OK
    for path in args.files:
        try:
            prog = load_program_file(path, args.syntax)
            if prog.case is None:
                raise InputError("--check needs a conformance .data file (with -- result or -- error)", path)
        except StructOpsError as e:  # not a test case we can run: bad input, on stderr
            msg = str(e)
            err(msg if msg.startswith(path) else f"{path}: {msg}")
            failed += 1
            status = max(status, exit_status(e))
            continue
        r0: int | None = None
        error: str | None = None
        if prog.case.is_assembler_case:
            ok, why = check_case(prog.case, None, None)
            out(one_line(f"{path}: {'pass' if ok else 'FAIL'}: {why}"))
            failed += not ok
            status = max(status, EXIT_OK if ok else EXIT_REFUSED)
            continue
        try:
            mem = mem_override if mem_override is not None else prog.mem
            r0 = run_program(prog.insns, mem=mem, engine=args.engine, helpers=UBPF_TEST_HELPERS,
                             budget=args.budget)
        except StructOpsError as e:
            error = str(e)
        ok, why = check_case(prog.case, r0, error)
        out(one_line(f"{path}: {'pass' if ok else 'FAIL'}: {why}"))
        if not ok:
            failed += 1
            status = max(status, EXIT_REFUSED)
    out(f"{len(args.files) - failed} of {len(args.files)} passed")
    return status


def add_subcommand(sub: Any) -> None:
    """Register ``exec``."""
    e = sub.add_parser("exec", help="run programs and print r0")
    e.add_argument("files", nargs="+", metavar="FILE")
    e.add_argument("--mem", help="input memory as hex bytes (r1 points to it, r2 holds its length)")
    e.add_argument("--syntax", choices=("kernel", "conformance"), default=None,
                   help="dialect of assembly files (default: kernel; .data files are conformance)")
    e.add_argument("--engine", choices=("interp", "jit"), default="interp")
    e.add_argument("--check", action="store_true",
                   help="conformance .data files: compare each run with its -- result (low 32 bits, as "
                        "bpf_conformance does) or -- error (any refusal), print pass/FAIL")
    e.add_argument("--budget", type=_budget, default=10_000_000, metavar="N",
                   help="instruction budget per program run (default 10000000; 0: no limit), the same on "
                        "both engines: a run past it stops with exit status 1")
    add_cpu_option(e)
    e.set_defaults(func=cmd_exec)
