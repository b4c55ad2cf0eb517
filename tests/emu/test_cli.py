"""The command line as a user meets it: a failure gives one clear line and the
documented exit status (1 refused by the emulated kernel, 2 bad input, 3 not
modelled), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def structops(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "emu.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_asm_disasm_exec_round_trip(tmp_path):
    src = tmp_path / "p.s"
    src.write_text("r0 = *(u32 *)(r1 +0)\nr0 += r2\nexit\n")
    r = structops("asm", str(src), "-o", str(tmp_path / "p.bin"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.bin").read_bytes().hex() == "61100000000000000f20000000000000" + "9500000000000000"
    r = structops("disasm", str(tmp_path / "p.bin"))
    assert r.stdout == "r0 = *(u32 *)(r1 +0)\nr0 += r2\nexit\n"
    r = structops("exec", str(tmp_path / "p.bin"), "--mem", "01 00 00 00")
    assert (r.returncode, r.stdout) == (0, "0x5\n")  # *(u32*)mem + len


@pytest.mark.parametrize("content,name,code,expect", [
    (b"\x95\x00\x00", "t.bin", 2, "t.bin: truncated instruction at byte offset 0"),
    (b"\x8d" + b"\0" * 7 + b"\x95" + b"\0" * 7, "u.bin", 1, "u.bin: insn 0: unknown opcode 8d"),
    (b"r0 = r11\nexit\n", "r.s", 2, "r.s:1:6: register r11 does not exist"),
    (b"r0 = 1\nr0 +== 2\nexit\n", "m.s", 2, "m.s:2:6: expected a register or an immediate, got '='"),
    (b"r0 = 010\nr0 = 09\nexit\n", "o.s", 2, "o.s:2:6: invalid number '09'"),
    (b"r0 = 1\nr1 = 2\n", "n.s", 1, "n.s: insn 1: last insn is not an exit or jmp"),
    (b"r0 = *(u64 *)(r1 +64)\nexit\n", "f.s", 1, "f.s: invalid read at insn 0, address 0x40"),
    (b".raw 0x0000000000000bb7\nr0 = 0\nexit\n", "x.s", 1, "x.s: insn 0: R11 is invalid"),
    (b"-- asm\nmov %r0, 1\nexit\n-- mem\nzz\n", "d.data", 2, "d.data [-- mem]: -- mem holds something"),
])
def test_bad_input_is_one_clear_line(tmp_path, content, name, code, expect):
    f = tmp_path / name
    f.write_bytes(content)
    r = structops("exec", str(f))
    assert r.returncode == code
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and expect in lines[0].replace(str(tmp_path) + "/", ""), lines[0]


def test_missing_file(tmp_path):
    r = structops("exec", str(tmp_path / "nope.s"))
    assert r.returncode == 2 and "No such file" in r.stderr and "Traceback" not in r.stderr


def test_bad_mem_argument(tmp_path):
    f = tmp_path / "p.s"
    f.write_text("r0 = 0\nexit\n")
    r = structops("exec", str(f), "--mem", "xyz")
    assert r.returncode == 2 and "--mem" in r.stderr


def test_usage_error_exits_2():
    r = structops("exec")
    assert r.returncode == 2
