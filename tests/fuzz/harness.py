"""Running ``structops`` on fuzzed input, one forked process per case.

:func:`run_cli` forks, points the child's stdout/stderr at files, runs
:func:`emu.cli.main` there and collects what a user would see: the exit
status and both streams. An exception escaping ``main`` is printed the way
the interpreter prints it (a ``Traceback``) with status 1, exactly what the
installed ``structops`` script would show. The fork keeps Unicorn machines,
module caches and a crash of the emulated machine out of the test process; a
child that runs past its time is killed and reported as a hang.

:func:`check` asserts the command-line contract of :mod:`emu.cli`: no
traceback, an exit status of 0-3, and a failure reported as one ``error: ``
line (the last line of stderr; an oops report may come before it).
"""

from __future__ import annotations

import io
import os
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Result", "run_cli", "check", "TIMEOUT"]

#: seconds a case may take before it counts as a hang
TIMEOUT = 120.0


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"structops {' '.join(self.argv)} -> {self.code}\nstdout: {self.out[-2000:]}\nstderr: {self.err[-4000:]}"


def _child(argv: Sequence[str], out_fd: int, err_fd: int) -> None:  # pragma: no cover - runs in the fork
    code = 1
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # as the interpreter opens them for the structops script in a UTF-8 locale:
        # stdout strict, stderr backslashreplace
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", errors="strict")
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(TIMEOUT) + 5)
        from emu.cli import main

        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse: usage errors exit 2, --help 0
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - what the interpreter would print
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


def run_cli(argv: Sequence[str], timeout: float = TIMEOUT) -> Result:
    """``structops ARGV`` in a forked child; see the module docstring."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            _child(argv, out.fileno(), err.fileno())
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"structops {' '.join(argv)}: no answer after {timeout:.0f} s (a hang)")
            time.sleep(0.002)
        if os.WIFSIGNALED(status):
            code = -os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        out.seek(0)
        err.seek(0)
        return Result(tuple(argv), code, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def check(r: Result, codes: Sequence[int] = (0, 1, 2, 3), verdict_on_stdout: bool = False) -> Result:
    """The contract: no traceback, a documented exit status (among ``codes``), and
    a failure's last stderr line is its one ``error: `` line. Commands that print
    a verdict (``verify``, ``load``, ``check-signatures``, ``exec --check``) report
    a refusal by the emulated kernel on stdout (the verifier log) with status 1,
    with no error line (libbpf's log may be on stderr): ``verdict_on_stdout``."""
    assert "Traceback" not in r.err and "Traceback" not in r.out, str(r)
    assert r.code >= 0, f"killed by signal {-r.code}: {r}"
    assert r.code in codes, f"exit status {r.code}, expected one of {tuple(codes)}: {r}"
    if r.code == 1 and verdict_on_stdout and not any(ln.startswith("error: ") for ln in r.err.splitlines()):
        # the verdict (a verifier log) on stdout; stderr holds at most libbpf's own log
        assert r.out.strip(), f"refused without saying why: {r}"
        return r
    if r.code != 0:
        lines = r.err.rstrip("\n").splitlines()
        assert lines, f"failed without a message: {r}"
        last = lines[-1]
        usage = r.code == 2 and last.startswith("structops") and ": error: " in last  # argparse
        assert last.startswith("error: ") or usage, f"no 'error: ' line: {r}"
        if not usage:
            errors = [ln for ln in lines if ln.startswith("error: ")]
            assert len(errors) == 1, f"more than one error line: {r}"
            # before the error line: an oops report (the kernel's own text) or libbpf's log lines
            before = [ln for ln in lines[:-1] if not ln.startswith("libbpf: ")]
            if before:
                assert any(ln.startswith(("BUG:", "Oops", "WARNING:", "general protection")) for ln in before), \
                    f"text before the error line that is no oops report: {r}"
    return r
