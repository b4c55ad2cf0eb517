"""``structops test-run``: an object's program test-run in the emulated kernel from the
command line -- the flow dissector selftest with its prog array, a raw_tp on a CPU, and
the exit statuses (1 a kernel refusal, 2 bad input, 3 not modelled)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

from .conftest import run, run_json

OBJS = ROOT / "tests/data/selftests/objects"
FLOW = str(OBJS / "bpf_flow.o")
JMP = "jmp_table=" + ",".join(f"flow_dissector_{i}" for i in range(6))
#: Ethernet + IPv4 (10.0.0.1 -> 10.0.0.2, TCP) + TCP 80 -> 8080
IPV4_TCP = ("00000000000000000000000008004500002800000000400600000a0000010a000002"
            "00501f9000000000000000005000000000000000")
RAW_TP = str(OBJS / "test_raw_tp_test_run.o")
ARGS = "34120000000000007856000000000000"


def test_flow_dissector_through_its_prog_array(capsys: pytest.CaptureFixture[str]) -> None:
    rc, d = run_json(capsys, "test-run", FLOW, "--prog", "_dissect", "--prog-array", JMP, "--data-hex", IPV4_TCP)
    assert rc == 0 and d["retval"] == 0 and d["prog_type"] == "flow_dissector"
    k = d["flow_keys"]
    assert (k["nhoff"], k["thoff"], k["ip_proto"], k["sport"], k["dport"]) == (14, 34, 6, 80, 8080)
    assert (k["src"], k["dst"]) == ("10.0.0.1", "10.0.0.2")
    rc, out, _ = run(capsys, "test-run", FLOW, "--prog", "_dissect", "--prog-array", JMP, "--data-hex", IPV4_TCP)
    assert rc == 0 and "retval 0 (0x0) BPF_OK" in out and "sport=80 dport=8080" in out


def test_without_the_prog_array_the_tail_call_falls_through(capsys: pytest.CaptureFixture[str]) -> None:
    """An empty jmp_table: bpf_tail_call returns, the program drops."""
    rc, d = run_json(capsys, "test-run", FLOW, "--prog", "_dissect", "--data-hex", IPV4_TCP)
    assert rc == 0 and d["retval"] == 2


def test_raw_tp_on_a_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    rc, d = run_json(capsys, "test-run", RAW_TP, "--prog", "rename", "--ctx-hex", ARGS, "--on-cpu", "1")
    assert rc == 0 and d["retval"] == 0x1234 + 0x5678


@pytest.mark.parametrize("argv,status,words", [
    (["test-run", RAW_TP, "--prog", "rename", "--ctx-hex", "3412"], 1, "EINVAL"),
    (["test-run", RAW_TP, "--prog", "rename", "--ctx-hex", ARGS, "--on-cpu", "2"], 1, "ENXIO"),
    (["test-run", RAW_TP, "--prog", "rename", "--ctx-hex", ARGS, "--on-cpu", "2", "--nr-cpus", "3"], 0, "retval"),
    (["test-run", FLOW, "--prog", "_dissect", "--data-hex", "00"], 1, "EINVAL"),
    (["test-run", FLOW, "--prog", "nope"], 2, "no program 'nope'"),
    (["test-run", FLOW, "--prog", "_dissect", "--data-hex", "xyz"], 2, "--data-hex"),
    (["test-run", FLOW, "--prog", "_dissect", "--prog-array", "jmp_table=nope"], 2, "no program 'nope'"),
    # netfilter: the kernel has bpf_prog_test_run_nf, the emulated one does not
    (["test-run", str(OBJS / "test_netfilter_link_attach.o"), "--prog", "nf_link_attach_test"], 3, "not modelled"),
])
def test_exit_statuses(capsys: pytest.CaptureFixture[str], argv: list[str], status: int, words: str) -> None:
    rc, out, err = run(capsys, *argv)
    assert rc == status, (out, err)
    assert words in (err if status else out)
