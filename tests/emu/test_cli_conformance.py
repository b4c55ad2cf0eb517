"""bpf_conformance's test files as they are: `structops exec --check` decides each
the way its runner does, and the plugin speaks its protocol (memory in argv[1],
options in argv[2], the program as hex bytes on stdin, r0 in hex on stdout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emu.cli import main
from emu.formats.conformance import parse_data_file
from kernel_model.insn import encode
from tests.conftest import ROOT

DATA = Path(__file__).parent / "data" / "bpf_conformance"
FILES = sorted(DATA.glob("*.data"))


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_exec_check_passes_every_file(capsys, engine):
    code = main(["exec", "--check", "--engine", engine, *map(str, FILES)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.splitlines()[-1] == f"{len(FILES)} of {len(FILES)} passed"
    assert "refused as expected: insn 0: R11 is invalid" in out  # %r11 reached the load-time check
    assert "-- asm assembles to the 3 -- raw words" in out


def test_exec_check_reports_a_wrong_result(tmp_path, capsys):
    f = tmp_path / "wrong.data"
    f.write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n")
    code = main(["exec", "--check", str(f)])
    out, _ = capsys.readouterr()
    assert code == 1 and f"{f}: FAIL: r0 = 0x1, expected 0x2" in out


def test_exec_check_compares_32_bits_as_the_runner_does(tmp_path, capsys):
    f = tmp_path / "high.data"
    f.write_text("-- asm\nlddw %r0, 0x100000001\nexit\n-- result\n0x1\n")
    assert main(["exec", "--check", str(f)]) == 0
    assert main(["exec", str(f)]) == 0  # plain exec prints all 64 bits
    assert capsys.readouterr().out.splitlines()[-1] == "0x100000001"


def _hex(data: bytes) -> str:
    return "".join(f"{b:02x}  " for b in data)  # bpf_conformance's _base_16_encode


def plugin(mem: bytes, program: bytes, options: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-c", "import sys; from emu.cli.conformance_plugin import plugin_main; sys.exit(plugin_main())",
           _hex(mem), options]
    return subprocess.run(cmd, input=_hex(program) + "\n", capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("options", ["", "--engine jit"])
def test_plugin_protocol(options):
    case = parse_data_file(DATA / "mem-ldx.data")
    r = plugin(case.mem or b"", encode(case.insns), options)
    assert (r.returncode, r.stdout) == (0, "1234\n"), r.stderr
    bad = parse_data_file(DATA / "err-r11.data")
    r = plugin(b"", encode(bad.insns), options)
    assert r.returncode == 1 and r.stdout == "insn 0: R11 is invalid\n"


def test_plugin_bad_input():
    r = plugin(b"", b"\x95\x00", "")
    assert r.returncode == 2 and "truncated instruction" in r.stdout and "Traceback" not in r.stderr
    r = plugin(b"", b"\x95" + bytes(7), "--engine fast")
    assert r.returncode == 2 and "known engines are interp, jit" in r.stdout
