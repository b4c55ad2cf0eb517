"""``-j``: one JSON object on stdout for every command that prints results, errors too."""

from __future__ import annotations

import json

import pytest

from .conftest import ATTACH, DEREF, EXAMPLES, run, run_json


def test_verify_json_has_veristat_columns_and_the_verdict(tmp_path, capsys) -> None:
    f = tmp_path / "deref.s"
    f.write_text(DEREF)
    rc, d = run_json(capsys, "verify", str(f), *ATTACH)
    assert rc == 1 and d["exit_status"] == 1
    (p,) = d["programs"]
    assert (p["verdict"], p["errno"], p["total_insns"], p["prog_type"]) == ("failure", "EACCES", 6, "struct_ops")
    assert p["error"] == "access beyond struct bpf_dummy_ops_state at off 8 size 8"
    assert "verification time" in p["log"]  # -j loads with BPF_LOG_STATS, as veristat does


def test_verify_json_of_an_object_lists_every_program(capsys) -> None:
    rc, d = run_json(capsys, "verify", str(EXAMPLES / "dummy_st_ops_fail.bpf.o"), str(EXAMPLES / "dummy_st_ops.bpf.o"))
    assert rc == 1
    verdicts = {p["prog_name"]: p["verdict"] for p in d["programs"]}
    assert verdicts == {"unchecked_deref": "failure", "forbidden_helper": "failure", "dummy_test_1": "success",
                        "dummy_test_2": "success", "dummy_test_sleepable": "success"}


def test_usage_error_is_json_with_status_2(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        run(capsys, "-j", "types", "--bogus")
    out, _ = capsys.readouterr()
    assert e.value.code == 2
    assert json.loads(out)["exit_status"] == 2 and "--bogus" in json.loads(out)["error"]


@pytest.mark.parametrize("argv, status, where", [
    (("verify", "/nonexistent.s"), 2, "/nonexistent.s"),
    (("types", "--profile", "9.9"), 2, None),
    (("modules", "--load", "nope"), 2, "--load"),
])
def test_errors_are_one_json_object(capsys, argv, status, where) -> None:
    rc, d = run_json(capsys, *argv)
    assert rc == status == d["exit_status"]
    assert d["where"] == where and d["error"]


def test_types_and_modules(capsys) -> None:
    rc, d = run_json(capsys, "types", "--profile", "6.8")
    assert rc == 0 and d["profile"] == "6.8"
    dummy = next(t for t in d["types"] if t["name"] == "bpf_dummy_ops")
    assert (dummy["owner"], dummy["func"]) == ("vmlinux", 3)
    rc, d = run_json(capsys, "modules", "--load", "bpf_testmod_alt")
    assert rc == 0
    assert [m["name"] for m in d["modules"]] == ["bpf_testmod", "bpf_testmod_alt"]
    assert "bpf_testmod_ops" in d["modules"][0]["struct_ops"]


def test_tramp_json_places_every_member(capsys) -> None:
    rc, d = run_json(capsys, "tramp", "--type", "bpf_dummy_ops")
    assert rc == 0 and d["error"] is None
    offsets = [(m["page"], m["offset"], m["taken"]) for m in d["members"]]
    # packed one after the other in page 0, each taking its code and BPF_INSN_SAFETY (64)
    assert [o for _, o, _ in offsets] == [0, offsets[0][2], offsets[0][2] + offsets[1][2]]
    assert all(m["taken"] == m["code"] + 64 for m in d["members"])
    assert d["pages"][0]["used"] + d["pages"][0]["free"] == 4096


def test_tramp_json_reports_e2big(capsys) -> None:
    rc, d = run_json(capsys, "tramp", "--decl", f"{EXAMPLES / 'many_ops.h'}:many_ops", "--profile", "6.8")
    assert rc == 1 == d["exit_status"]
    assert d["error"]["errno"] == "E2BIG" and d["error"]["member"]
    unplaced = [m["name"] for m in d["members"] if m.get("placed") is False]
    assert unplaced[0] == d["error"]["member"]


def test_exec_json_per_file(tmp_path, capsys) -> None:
    a, b = tmp_path / "a.s", tmp_path / "b.s"
    a.write_text("r0 = 7\nexit\n")
    b.write_text("r0 = \n")
    rc, d = run_json(capsys, "exec", str(a), str(b))
    assert rc == 2 == d["exit_status"]
    ra, rb = d["results"]
    assert (ra["file"], ra["r0"]) == (str(a), 7)
    assert rb["exit_status"] == 2 and rb["where"].startswith(str(b))


def test_load_json_has_programs_maps_and_calls(capsys) -> None:
    rc, d = run_json(capsys, "load", str(EXAMPLES / "struct_ops_module.bpf.o"), "--autocreate", "testmod_zeroed=0",
                     "--call", "testmod_1.test_2:4,5")
    assert rc == 0
    assert {p["name"] for p in d["programs"] if p["loaded"]} >= {"test_1", "test_2"}
    m = next(m for m in d["maps"] if m["name"] == "testmod_1")
    assert m["attached"] and m["trampolines"]
    (call,) = d["calls"]
    assert (call["target"], call["args"]) == ("testmod_1.test_2", [4, 5]) and isinstance(call["ret"], int)


def test_check_signatures_json(capsys) -> None:
    rc, d = run_json(capsys, "check-signatures", "--all", str(EXAMPLES / "struct_ops_module.bpf.o"))
    assert rc == d["exit_status"]
    (o,) = d["objects"]
    assert sum(o["counts"].values()) == len(o["findings"]) > 0


def test_pretty_is_indented_json(capsys) -> None:
    rc, out, _ = run(capsys, "types", "-p")
    assert rc == 0 and out.startswith("{\n  ") and json.loads(out)["types"]


def test_disasm_asm_and_profiles_json(tmp_path, capsys) -> None:
    f = tmp_path / "p.s"
    f.write_text("r1 = 0x100000000 ll\nr0 = 1\nexit\n")
    rc, d = run_json(capsys, "disasm", str(f))
    assert rc == 0 and [i["index"] for i in d["insns"]] == [0, 2, 3]
    assert d["insns"][0]["bytes"] == "1801000000000000" "0000000001000000"
    rc, d = run_json(capsys, "asm", str(f), "-o", str(tmp_path / "p.bin"))
    assert (rc, d["insns"], d["bytes"]) == (0, 4, 32)
    rc, d = run_json(capsys, "profiles")
    assert d["profiles"]["6.8"]["tramp_image_pages"] == 1 and d["latest"] in d["profiles"]


def test_commands_without_json_refuse_j(capsys) -> None:
    rc, d = run_json(capsys, "demo")
    assert rc == 2 == d["exit_status"] and "no JSON" in d["error"]
