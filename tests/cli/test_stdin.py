"""``-`` reads standard input once; several files per command."""

from __future__ import annotations

import json

from .conftest import ATTACH, DEREF, EXAMPLES, proc


def test_verify_reads_stdin_once() -> None:
    r = proc("verify", "-", *ATTACH, stdin=DEREF.encode())
    assert r.returncode == 1, r.stderr
    assert r.stdout.decode().splitlines()[-2] == "access beyond struct bpf_dummy_ops_state at off 8 size 8"


def test_verify_an_elf_object_from_stdin() -> None:
    r = proc("-j", "verify", "-", stdin=(EXAMPLES / "dummy_st_ops.bpf.o").read_bytes())
    d = json.loads(r.stdout)
    assert r.returncode == 0 and {p["file_name"] for p in d["programs"]} == {"<stdin>"}
    assert len(d["programs"]) == 3


def test_stdin_twice_is_bad_input() -> None:
    r = proc("exec", "-", "-", stdin=b"r0 = 1\nexit\n")
    assert r.returncode == 2 and b"more than once" in r.stderr


def test_exec_stdin_and_a_file(tmp_path) -> None:
    f = tmp_path / "two.s"
    f.write_text("r0 = 2\nexit\n")
    r = proc("exec", "-", str(f), stdin=b"r0 = 1\nexit\n")
    assert r.returncode == 0
    assert r.stdout.decode().splitlines() == ["<stdin>: 0x1", f"{f}: 0x2"]


def test_verify_several_files_status_is_the_highest(tmp_path) -> None:
    ok, bad = tmp_path / "ok.s", tmp_path / "bad.s"
    ok.write_text("r0 = 0\nexit\n")
    bad.write_text("r0 = \n")
    r = proc("verify", str(ok), str(bad))
    assert r.returncode == 2
    assert f"== {ok}" in r.stdout.decode()
    assert r.stderr.decode().count("error:") == 1


def test_check_signatures_stdin() -> None:
    r = proc("check-signatures", "-", stdin=(EXAMPLES / "struct_ops_module.bpf.o").read_bytes())
    assert r.stdout.decode().splitlines()[-1].startswith("<stdin>: ")
