"""``verify -o csv|table`` and ``verify --compare``: veristat's columns and its -C table."""

from __future__ import annotations

import csv
import io
import json

import pytest

from emu.cli.veristat import COLUMNS, compare, read_csv

from .conftest import ATTACH, DEREF, EXAMPLES, run


def test_csv_has_veristats_columns_and_one_row_per_program(capsys) -> None:
    rc, out, _ = run(capsys, "verify", "-o", "csv", str(EXAMPLES / "dummy_st_ops.bpf.o"),
                     str(EXAMPLES / "dummy_st_ops_fail.bpf.o"))
    assert rc == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(COLUMNS)
    assert list(COLUMNS[:7]) == ["file_name", "prog_name", "verdict", "duration", "total_insns", "total_states",
                                 "peak_states"]
    got = {(r["file_name"], r["prog_name"]): r["verdict"] for r in rows}
    assert got[("dummy_st_ops.bpf.o", "dummy_test_2")] == "success"
    assert got[("dummy_st_ops_fail.bpf.o", "unchecked_deref")] == "failure"
    assert all(int(r["total_insns"]) > 0 for r in rows)


def test_table_has_veristats_headers(tmp_path, capsys) -> None:
    f = tmp_path / "deref.s"
    f.write_text(DEREF)
    rc, out, _ = run(capsys, "verify", "-o", "table", str(f), *ATTACH)
    head, dashes, row, _end = out.splitlines()
    assert head.split()[:4] == ["File", "Program", "Verdict", "Duration"]
    assert set(dashes) == {"-", " "}
    assert row.split()[:3] == ["deref.s", "deref", "failure"] and rc == 1


def _csv(tmp_path, capsys, name: str, *argv: str) -> str:
    rc, out, _ = run(capsys, "verify", "-o", "csv", *argv)
    p = tmp_path / name
    p.write_text(out)
    return str(p)


def test_compare_two_profiles(tmp_path, capsys) -> None:
    objs = [str(EXAMPLES / "dummy_st_ops.bpf.o"), str(EXAMPLES / "dummy_st_ops_fail.bpf.o")]
    a = _csv(tmp_path, capsys, "a.csv", *objs)
    b = _csv(tmp_path, capsys, "b.csv", "--profile", "6.8", *objs)
    rc, out, _ = run(capsys, "verify", "--compare", a, b)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["File", "Program"] and "Verdict (A)" in lines[0] and "Insns (DIFF)" in lines[0]
    assert len(lines) == 2 + 5 + 1  # header, dashes, 5 programs, dashes
    rc, d = 0, None
    rc, out, _ = run(capsys, "-j", "verify", "--compare", a, b)
    d = json.loads(out)
    by = {(r["file_name"], r["prog_name"]): r for r in d["programs"]}
    r = by[("dummy_st_ops.bpf.o", "dummy_test_1")]
    assert r["total_insns"]["diff"] == r["total_insns"]["comp"] - r["total_insns"]["base"]
    assert r["verdict"]["diff"] in ("MATCH", "MISMATCH")


def test_compare_arithmetic_and_missing_rows() -> None:
    a = "file_name,prog_name,verdict,total_insns\nx.o,p,success,100\nx.o,q,success,0\nx.o,only_a,failure,5\n"
    b = "file_name,prog_name,verdict,total_insns\nx.o,p,failure,150\nx.o,q,success,3\n"
    cols, recs, dropped = compare(a, "a.csv", b, "b.csv")
    assert cols == ["verdict", "total_insns"] and dropped == []
    r = {x["prog_name"]: x for x in recs}
    assert r["p"]["total_insns"] == {"base": 100, "comp": 150, "diff": 50, "pct": 50.0}
    assert r["p"]["verdict"]["diff"] == "MISMATCH"
    assert r["q"]["total_insns"]["pct"] == 100.0  # veristat: 0 -> N is +100%
    assert r["only_a"]["total_insns"]["comp"] is None and r["only_a"]["verdict"]["diff"] is None


def test_compare_reads_veristat_aliases_and_rejects_bad_csv(tmp_path) -> None:
    from kernel_model.errors import InputError

    cols, rows = read_csv("file,prog,verdict,insns\nx.o,p,success,4\n", "v.csv")
    assert cols == ["file_name", "prog_name", "verdict", "total_insns"]
    with pytest.raises(InputError, match="unknown column 'bogus'") as e:
        read_csv("file_name,prog_name,bogus\n", "v.csv")
    assert e.value.where == "v.csv:1"
    with pytest.raises(InputError, match="not an integer") as e:
        read_csv("file_name,prog_name,total_insns\nx.o,p,many\n", "v.csv")
    assert e.value.where == "v.csv:2"


def test_compare_bad_csv_exits_2(tmp_path, capsys) -> None:
    a = tmp_path / "a.csv"
    a.write_text("nonsense\n")
    rc, out, err = run(capsys, "verify", "--compare", str(a), str(a))
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
