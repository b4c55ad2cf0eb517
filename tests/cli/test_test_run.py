"""``structops test-run``: BPF_PROG_TEST_RUN of one program of an object, in the
emulated kernel and (``--host``, marked ``kernel``) in the real one."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

from .conftest import EXAMPLES, run, run_json

OBJECTS = ROOT / "tests" / "data" / "selftests" / "objects"
#: loop4.c's socket filter ``combinations``: bit i set for each of 20 iterations where skb->len != 0
LOOP4 = str(OBJECTS / "loop4.o")
PACKET = "ab" * 40


def test_socket_filter_runs_on_the_packet_given(capsys) -> None:
    rc, out, err = run(capsys, "test-run", LOOP4, "--data-hex", PACKET)
    assert rc == 0, err
    assert out.splitlines()[0] == "prog combinations (socket_filter) in the emulated kernel: retval 1048575 (0xfffff)"
    assert "data_out (40 bytes):" in out


def test_a_bare_ethernet_header_gives_an_empty_skb(capsys) -> None:
    # skb->len is the packet less its 14-byte Ethernet header: 0 here, so no bit is set
    rc, d = run_json(capsys, "test-run", LOOP4, "--data-hex", "ab" * 14)
    assert rc == 0 and d["retval"] == 0
    # data_out is the packet with the Ethernet header the run pushed back as zeros
    assert d["data_out"] == "00" * 14 and d["program"] == "combinations" and d["prog_type"] == "socket_filter"


def test_a_program_file_runs_as_its_prog_type(tmp_path, capsys) -> None:
    f = tmp_path / "len.s"
    f.write_text("r0 = *(u32 *)(r1 +0)\nexit\n")  # __sk_buff.len
    rc, d = run_json(capsys, "test-run", str(f), "--data-hex", "ab" * 20)
    assert rc == 0 and d["retval"] == 6 and d["program"] is None and d["prog_type"] == "socket_filter"
    rc, d = run_json(capsys, "test-run", str(f), "--prog", "x")
    assert rc == 2 and "--prog is for ELF objects" in d["error"]


def test_an_object_from_standard_input(capsys) -> None:
    from .conftest import proc

    r = proc("-j", "test-run", "-", "--data-hex", "ab" * 20, stdin=open(LOOP4, "rb").read())
    assert r.returncode == 0, r.stderr
    import json
    d = json.loads(r.stdout)
    assert d["file"] == "<stdin>" and d["retval"] == 0xFFFFF


def test_files_in_and_out(tmp_path, capsys) -> None:
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(range(60)))
    out_file = tmp_path / "out.bin"
    rc, _, err = run(capsys, "test-run", LOOP4, "--data", str(pkt), "--data-out", str(out_file))
    assert rc == 0, err
    assert out_file.read_bytes() == bytes(14) + bytes(range(14, 60))


def test_struct_ops_dummy_program_gets_its_args_as_ctx(capsys) -> None:
    # dummy_test_1 returns 0xf2f3f4f5 when its (nullable) state argument is NULL
    rc, d = run_json(capsys, "test-run", str(EXAMPLES / "dummy_st_ops.bpf.o"), "--prog", "dummy_test_1",
                     "--ctx-hex", "00" * 8)
    assert rc == 0 and d["retval"] == 0xF2F3F4F5


def test_a_type_the_kernel_cannot_run_is_its_enotsupp(capsys) -> None:
    # kprobe programs have no test_run in the kernel's bpf_prog_ops: -ENOTSUPP, exit 1
    rc, d = run_json(capsys, "test-run", str(OBJECTS / "access_map_in_map.o"), "--prog", "access_map_in_array")
    assert rc == 1 and d["errno"] == "ENOTSUPP"


def test_the_program_runs_alone_unless_load_all(capsys) -> None:
    # timer.o's other programs attach to kernel functions (not modelled): the syscall one
    # runs alone; loading them all stops at the first of them, exit 3
    rc, d = run_json(capsys, "test-run", str(OBJECTS / "timer.o"), "--prog", "race")
    assert rc == 0 and d["retval"] == 0
    rc, d = run_json(capsys, "test-run", str(OBJECTS / "timer.o"), "--prog", "race", "--load-all")
    assert rc == 3 and "not modelled" in d["error"]


@pytest.mark.parametrize("argv, message", [
    (("examples/dummy_st_ops.bpf.o",), "3 programs (dummy_test_1, dummy_test_2, dummy_test_sleepable): name one"),
    (("examples/dummy_st_ops.bpf.o", "--prog", "nope"), "no program 'nope'"),
    ((LOOP4, "--data-hex", "zz"), "is not a string of hex bytes"),
    ((LOOP4, "--data-hex", "00", "--data", "x.bin"), "not both"),
    ((LOOP4, "--repeat", "0"), "at least 1 run"),
])
def test_bad_input_is_exit_2_naming_it(capsys, argv, message) -> None:
    rc, d = run_json(capsys, "test-run", *argv)
    assert rc == 2 and message in d["error"]


def test_host_refuses_struct_ops_programs(capsys) -> None:
    rc, d = run_json(capsys, "test-run", str(EXAMPLES / "dummy_st_ops.bpf.o"), "--prog", "dummy_test_1", "--host")
    assert rc == 2 and "loads no struct_ops program into the host kernel" in d["error"]


@pytest.mark.kernel
@pytest.mark.parametrize("obj, prog, data", [
    ("loop4.o", "combinations", PACKET),
    ("loop4.o", "combinations", "ab" * 14),
    ("loop5.o", "while_true", PACKET),
])
def test_the_emulated_run_equals_the_hosts(capsys, obj, prog, data) -> None:
    argv = ("test-run", str(OBJECTS / obj), "--prog", prog, "--data-hex", data, "--repeat", "3")
    rc, ours = run_json(capsys, *argv)
    rc_host, host = run_json(capsys, *argv, "--host")
    assert rc == rc_host == 0
    assert host["host"] and not ours["host"]
    assert (ours["retval"], ours["data_out"], ours["ctx_out"]) == (host["retval"], host["data_out"], host["ctx_out"])


@pytest.mark.kernel
def test_enotsupp_is_the_hosts_too(capsys) -> None:
    rc, d = run_json(capsys, "test-run", str(OBJECTS / "access_map_in_map.o"), "--prog", "access_map_in_array",
                     "--host")
    assert rc == 1 and d["errno"] == "ENOTSUPP"
