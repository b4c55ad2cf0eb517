"""Helpers for the command-line tests: run ``structops`` in-process, or as a process
when standard input or a terminal matters."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from emu.cli import main
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"
#: a struct_ops program that dereferences a pointer past its struct (rejected at insn 5)
DEREF = ("r1 = *(u64 *)(r1 +0)\nr2 = r1\nif r2 == 0 goto +2\nr3 = 8\nr2 += r3\n"
         "r0 = *(u64 *)(r2 +0)\nexit\n")
ATTACH = ("--attach", "bpf_dummy_ops:test_1")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``structops ARGV`` in this process: (status, stdout, stderr)."""
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """``structops -j ARGV``: the status and the one JSON document on stdout."""
    rc, out, _ = run(capsys, "-j", *argv)
    assert out.count("\n") == 1, out  # one document, one line
    return rc, json.loads(out)


def proc(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``structops ARGV`` as a process."""
    return subprocess.run([sys.executable, "-m", "emu.cli", *argv], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=300)
