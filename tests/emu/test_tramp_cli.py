"""`structops tramp`, `types`, `modules`: page maps as a user sees them."""

from __future__ import annotations

import pytest

from emu.cli import main
from tests.conftest import ROOT

MANY = f"{ROOT}/examples/many_ops.h:many_ops"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(out):
    return {line.split()[0]: line.split() for line in out.splitlines()[3:] if line.split() and not line.startswith("pages")}


def test_dummy_ops_one_page(capsys):
    code, out, _ = run(capsys, "tramp", "--type", "bpf_dummy_ops")
    assert code == 0
    r = rows(out)
    assert r["test_1"][1:] == ["1", "4", "107", "171", "0", "0"]  # the host's 107 bytes
    assert r["test_2"][1:] == ["5", "4", "123", "187", "0", "171"]  # and 123
    assert out.rstrip().endswith("pages used: 1")


def test_testmod_forty_trampolines_two_pages(capsys):
    code, out, _ = run(capsys, "tramp", "--type", "bpf_testmod_ops")
    assert code == 0 and out.rstrip().endswith("pages used: 2")
    r = rows(out)
    assert "unsupported" in " ".join(r["unsupported_ops"])  # no CFI stub
    assert r["tramp_20"][5] == "0" and r["tramp_21"][5] == "1"  # test_1, test_2, test_maybe_null take 3 slots


@pytest.mark.parametrize("profile,code,needle", [("latest", 0, "pages used: 2"), ("6.9", 0, "pages used: 2"),
                                                 ("6.8", 1, "op_24 does not fit")])
def test_declared_type_e2big_point(capsys, profile, code, needle):
    c, out, err = run(capsys, "tramp", "--decl", MANY, "--profile", profile)
    assert c == code
    assert needle in out + err
    if code:
        assert err.startswith("error: E2BIG")
        assert rows(out)["op_23"][5:] == ["0", "3762"]  # 23 fit in one page


def test_listing_shows_symbols(capsys):
    code, out, _ = run(capsys, "tramp", "--type", "bpf_dummy_ops", "--listing")
    assert code == 0
    assert "call 0xffffffff81100000   ; __bpf_prog_enter" in out
    assert out.count("leave") == 3


def test_bad_decl(capsys, tmp_path):
    h = tmp_path / "x.h"
    h.write_text("struct a { int x; };")
    code, _, err = run(capsys, "tramp", "--decl", f"{h}:b")
    assert code == 2 and "no struct b declared" in err
    code, _, err = run(capsys, "tramp", "--decl", f"{h}:a")
    assert code == 1 and "has no cfi_stubs" in err  # the kernel refuses to register it (-EINVAL)
    h.write_text("struct a { int x ")
    code, _, err = run(capsys, "tramp", "--decl", f"{h}:a")
    assert code == 2 and str(h) in err and "Traceback" not in err


def test_unknown_type(capsys):
    code, _, err = run(capsys, "tramp", "--type", "nope")
    assert code == 2 and "no struct_ops type 'nope'" in err


def test_types_and_modules(capsys):
    code, out, _ = run(capsys, "types")
    assert code == 0 and "bpf_testmod_ops" in out and "owner=bpf_testmod" in out
    code, out, _ = run(capsys, "types", "--profile", "6.8")
    assert "bpf_testmod_ops" not in out  # 6.8: modules could not register struct_ops
    code, out, err = run(capsys, "modules", "--profile", "6.8")  # the kernel refuses bpf_testmod's init
    assert code == 1 and "modules cannot register struct_ops on this kernel" in out
    assert err.startswith("error: ") and "insmod bpf_testmod" in err
    code, out, _ = run(capsys, "modules", "--load", "bpf_testmod_alt")
    assert "bpf_testmod_alt" in out and out.count("kfuncs=bpf_kfunc_common_test") == 2
