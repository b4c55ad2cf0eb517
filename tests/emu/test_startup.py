"""Lazy start-up: a command imports the heavy libraries only when it needs them.

What each command costs in time is benchmarks/startup.py's business (timings are
never asserted in tests); this checks which modules a command loads, which does
not depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

ENGINES = ("unicorn", "keystone", "capstone")
PLOTTING_AND_TESTING = ("matplotlib", "hypothesis")

_PROBE = """
import contextlib, io, json, sys
from emu.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        status = main(sys.argv[1:])
    except SystemExit as e:
        status = e.code
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def loaded(*argv: str) -> tuple[int, set[str]]:
    """(exit status, top-level packages in sys.modules) after ``structops ARGV`` in a fresh interpreter."""
    r = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, cwd=ROOT, check=True)
    data = json.loads(r.stdout.strip().splitlines()[-1])
    return data["status"], {m.split(".")[0] for m in data["modules"]}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["profiles"], ["verify", "--help"], ["load", "--help"],
                                  ["sim", "--help"]])
def test_help_and_listings_load_no_engine_parser_or_plotting(argv):
    status, mods = loaded(*argv)
    assert status == 0
    heavy = mods & {*ENGINES, "pycparser", *PLOTTING_AND_TESTING, "verifier", "jit"}
    assert not heavy, f"structops {' '.join(argv)} imported {sorted(heavy)}"


def test_verifying_a_small_program_loads_no_engine(tmp_path):
    prog = tmp_path / "three.s"
    prog.write_text("r0 = 0\nr0 += 1\nexit\n")
    status, mods = loaded("verify", str(prog))
    assert status == 0
    assert "verifier" in mods  # it did verify
    heavy = mods & {*ENGINES, *PLOTTING_AND_TESTING, "jit"}
    assert not heavy, f"structops verify imported {sorted(heavy)}"


def test_running_on_the_jit_loads_the_machine(tmp_path):
    """The check above is not vacuous: a command that needs Unicorn does load it."""
    prog = tmp_path / "three.s"
    prog.write_text("r0 = 0\nr0 += 1\nexit\n")
    status, mods = loaded("exec", "--engine", "jit", str(prog))
    assert status == 0
    assert "unicorn" in mods and "jit" in mods
