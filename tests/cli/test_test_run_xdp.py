"""``structops test-run``: BPF_PROG_TEST_RUN of one program from the command line
(XDP programs here; the runs themselves are compared with the host in
tests/emu/test_xdp_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import run, run_json
from tests.corpus import OBJECTS

LEN = "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr0 = r3\nr0 -= r2\nexit\n"
ETH = "000102030405060708090a0b0800"


@pytest.fixture
def prog(tmp_path: Path) -> str:
    p = tmp_path / "len.s"
    p.write_text(LEN)
    return str(p)


def test_an_xdp_program_file_runs(capsys: pytest.CaptureFixture[str], prog: str) -> None:
    rc, out, _ = run(capsys, "test-run", prog, "--prog-type", "xdp", "--data-hex", ETH + "ffff")
    assert rc == 0

    lines = out.splitlines()
    assert "retval 16 (0x10)" in lines[0] and lines[1] == "data_out (16 bytes):"
    assert lines[2] == "  0000: " + bytes.fromhex(ETH + "ffff").hex(" ")


def test_an_object_program_runs_with_its_action_named(capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc = run_json(capsys, "test-run", str(OBJECTS / "xdp_tx.o"), "--data-hex", ETH)
    assert rc == 0
    assert (doc["retval"], doc["verdict"], doc["data_out"], doc["prog_type"], doc["exit_status"]) == (3, "XDP_TX", ETH, "xdp", 0)


def test_the_context_goes_in_and_out(capsys: pytest.CaptureFixture[str], prog: str) -> None:
    ctx = (b"\x04\0\0\0" + (18).to_bytes(4, "little") + bytes(16)).hex()
    rc, doc = run_json(capsys, "test-run", prog, "--prog-type", "xdp", "--data-hex", "aabbccdd" + ETH,
                       "--ctx-hex", ctx, "--ctx-out-size", "24")
    assert rc == 0 and doc["retval"] == 14 and doc["ctx_out"] == ctx


def test_exit_statuses(capsys: pytest.CaptureFixture[str], prog: str) -> None:
    rc, _, err = run(capsys, "test-run", prog, "--prog-type", "xdp", "--data-hex", "0001")
    assert rc == 1 and "EINVAL" in err  # shorter than an Ethernet header
    rc, _, err = run(capsys, "test-run", prog, "--prog-type", "xdp", "--data-hex", ETH, "--flags", "2")
    assert rc == 3 and "BPF_F_TEST_XDP_LIVE_FRAMES" in err
    rc, _, err = run(capsys, "test-run", prog, "--prog-type", "xdp", "--data-hex", "zz")
    assert rc == 2 and "--data-hex" in err
    rc, _, err = run(capsys, "test-run", str(OBJECTS / "test_xdp_do_redirect.o"), "--data-hex", ETH)
    assert rc == 2 and "--prog" in err
    rc, _, err = run(capsys, "test-run", str(OBJECTS / "test_xdp_dynptr.o"), "--data-hex", ETH)
    assert rc == 3 and "not modelled" in err  # bpf_dynptr_from_xdp's run time
