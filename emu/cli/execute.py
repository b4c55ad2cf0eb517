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

from .output import emit, error_object, json_mode
from .status import EXIT_OK, EXIT_REFUSED, err, exit_status, one_line, out

__all__ = ["add_subcommand", "cmd_exec"]


def _budget(text: str) -> int:
    """``--budget N``: N >= 1 instructions per run, 0 for no limit (both engines)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative (0 means no limit)")
    return n


def _load(path: str, syntax: str | None) -> Any:
    """A program file (``-``: standard input, read once)."""
    from .inputs import program_input, read_input

    return program_input(read_input(path), syntax)


def _name(path: str) -> str:
    from .inputs import STDIN, STDIN_NAME

    return STDIN_NAME if path == STDIN else path


def cmd_exec(args: argparse.Namespace) -> int:
    import sys

    from kernel_model.errors import StructOpsError

    from emu.formats.conformance import UBPF_TEST_HELPERS
    from emu.kernel.runner import run_program

    from .inputs import check_one_stdin, parse_hex

    check_one_stdin(args.files)
    mem_override = parse_hex(args.mem, "--mem") if args.mem is not None else None
    if args.check:
        return _exec_check(args, mem_override)
    status = EXIT_OK
    many = len(args.files) > 1
    results: list[dict[str, Any]] = []
    for path in args.files:
        name = _name(path)
        try:
            prog = _load(path, args.syntax)
            mem = mem_override if mem_override is not None else prog.mem
            r0 = run_program(prog.insns, mem=mem, engine=args.engine, helpers=UBPF_TEST_HELPERS,
                             budget=args.budget, cpu=args.cpu)
        except StructOpsError as e:
            if json_mode() and not many:
                raise  # one file: the error object itself (emu.cli.main.report)
            status = max(status, exit_status(e))
            if json_mode():
                results.append({"file": name, **error_object(e, exit_status(e))})
                continue
            msg = str(e)
            if not msg.startswith(name):
                msg = f"{name}: {msg}"
            if many:  # one line per file: "m.s:2:6: error: expected ..."
                where, _, text = msg[len(name):].partition(": ")
                out(one_line(f"{name}{where}: error: {text}"))
            else:
                from emu.machine import Oops

                if isinstance(e, Oops):
                    sys.stderr.write(e.text.rstrip("\n") + "\n")
                err(msg)
            continue
        if json_mode():
            results.append({"file": name, "r0": r0, "r0_hex": f"{r0:#x}"})
            continue
        out(f"{name}: {r0:#x}" if many else f"{r0:#x}")
    if json_mode():
        emit({"engine": args.engine, "results": results, "exit_status": status})
    return status


def _exec_check(args: argparse.Namespace, mem_override: bytes | None) -> int:
    """``exec --check``: each conformance file's run against its ``-- result`` /
    ``-- error`` (:func:`emu.formats.conformance.check_case`), one ``PATH: pass|FAIL: why``
    line each, then a count; 0 when every case passes, 1 otherwise. A file that
    is no test case (unreadable, malformed) gets an ``error:`` line on stderr
    and makes the status 2."""
    from kernel_model.errors import InputError, StructOpsError

    from emu.formats.conformance import UBPF_TEST_HELPERS, check_case
    from emu.kernel.runner import run_program

    failed = 0
    status = EXIT_OK
    cases: list[dict[str, Any]] = []

    def report(name: str, ok: bool, why: str) -> None:
        if json_mode():
            cases.append({"file": name, "pass": ok, "why": why})
        else:
            out(one_line(f"{name}: {'pass' if ok else 'FAIL'}: {why}"))

    for path in args.files:
        name = _name(path)
        try:
            prog = _load(path, args.syntax)
            if prog.case is None:
                raise InputError("--check needs a conformance .data file (with -- result or -- error)", name)
        except StructOpsError as e:  # not a test case we can run: bad input, on stderr
            msg = str(e)
            if json_mode():
                cases.append({"file": name, **error_object(e, exit_status(e))})
            else:
                err(msg if msg.startswith(name) else f"{name}: {msg}")
            failed += 1
            status = max(status, exit_status(e))
            continue
        r0: int | None = None
        error: str | None = None
        if prog.case.is_assembler_case:
            ok, why = check_case(prog.case, None, None)
            report(name, ok, why)
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
        report(name, ok, why)
        if not ok:
            failed += 1
            status = max(status, EXIT_REFUSED)
    if json_mode():
        emit({"engine": args.engine, "cases": cases, "passed": len(args.files) - failed, "total": len(args.files),
              "exit_status": status})
    else:
        out(f"{len(args.files) - failed} of {len(args.files)} passed")
    return status


def add_subcommand(sub: Any) -> None:
    """Register ``exec``."""
    e = sub.add_parser("exec", help="run programs and print r0",
                       description="Run each FILE (assembly, raw bytes, conformance .data) on the reference "
                                   "interpreter or the JIT (in Unicorn) and print r0. Exit status: 0 ok, 1 a run "
                                   "faulted or a --check case failed, 2 bad input, 3 not modelled; the highest "
                                   "of the files'.")
    e.add_argument("files", nargs="+", metavar="FILE", help="program files; - reads standard input (once)")
    e.add_argument("--mem", help="input memory as hex bytes (r1 points to it, r2 holds its length)")
    e.add_argument("--syntax", choices=("kernel", "conformance"), default=None,
                   help="dialect of assembly files (default: kernel; .data files are conformance)")
    e.add_argument("--engine", choices=("interp", "jit"), default="interp",
                   help="interp: the reference interpreter (default); jit: the x86-64 JIT's code in Unicorn")
    e.add_argument("--check", action="store_true",
                   help="conformance .data files: compare each run with its -- result (low 32 bits, as "
                        "bpf_conformance does) or -- error (any refusal), print pass/FAIL")
    e.add_argument("--budget", type=_budget, default=10_000_000, metavar="N",
                   help="instruction budget per program run (default 10000000; 0: no limit), the same on "
                        "both engines: a run past it stops with exit status 1")
    add_cpu_option(e)
    e.set_defaults(func=cmd_exec)
