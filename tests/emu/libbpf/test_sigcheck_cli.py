"""The signature checker and the loader's command-line front ends."""

from __future__ import annotations

import pytest

from emu.libbpf.sigcheck import COMPATIBLE, ERROR, OK, WARN, check_object, compare_protos
from kernel_model.btf import parse_c
from kernel_model.btf import structs as S
from tests.emu.test_cli import structops

from .conftest import example, open_example


def _proto(btf, name):
    return btf.type_by_id(btf.find(name, S.KIND_FUNC)).type_id


@pytest.mark.parametrize("local,level", [
    ("void f(int a, int b);", OK),
    ("void f(unsigned int a, int b);", WARN),     # signedness differs
    ("void f(int a);", COMPATIBLE),               # fewer: the program ignores b
    ("void f(void);", COMPATIBLE),
    ("void f(int a, int b, int c);", WARN),       # more than the kernel passes
    ("int f(int a, int b);", WARN),               # return type
    ("void f(int *a);", WARN),                    # test_struct_ops_incompatible's test_2
])
def test_compare_protos(local: str, level: str) -> None:
    kb = parse_c("typedef int myint; void k(myint a, int b);", where="kernel")
    lb = parse_c(local, where="local")
    got, msg = compare_protos(lb, _proto(lb, "f"), kb, _proto(kb, "k"))
    assert got == level, msg


def test_pointer_types_compare_by_pointee_name() -> None:
    kb = parse_c("struct sock; struct task_struct; int k(struct sock *s, const void *p);", where="kernel")
    ok = parse_c("struct sock___v1; int f(struct sock___v1 *s, int *p);", where="l1")
    bad = parse_c("struct task_struct; int f(struct task_struct *s, int *p);", where="l2")
    assert compare_protos(ok, _proto(ok, "f"), kb, _proto(kb, "k"))[0] == OK
    level, msg = compare_protos(bad, _proto(bad, "f"), kb, _proto(kb, "k"))
    assert level == WARN and "argument 1 is struct task_struct *s, the kernel passes struct sock *s" in msg


def test_check_object_on_the_module_example(kbtf) -> None:
    obj = open_example("struct_ops_module")
    found = {(f.map, f.member): f for f in check_object(obj, kbtf)}
    assert found[("testmod_incompatible", "test_2")].level == WARN
    assert found[("testmod_zeroed", "zeroed_op")].level == ERROR
    assert found[("testmod_1", "test_1")].level == OK
    assert ("testmod_1", "test_maybe_null") not in found  # no program there: not checked by default
    every = check_object(obj, kbtf, all_members=True)
    assert any(f.member == "test_maybe_null" for f in every)


def test_check_signatures_command() -> None:
    r = structops("check-signatures", str(example("struct_ops_module")))
    assert r.returncode == 1
    assert "testmod_incompatible.test_2: warn: argument 1 is int *, the kernel passes int a" in r.stdout
    assert r.stdout.rstrip().endswith("1 warnings, 1 errors")
    r = structops("check-signatures", str(example("dummy_st_ops")))
    assert r.returncode == 0 and "3 callbacks checked: 3 ok" in r.stdout


@pytest.mark.parametrize("args,code,expect", [
    (["load", "/nonexistent.bpf.o"], 2, "error: /nonexistent.bpf.o: elf: failed to open: No such file or directory "
                                        "(-ENOENT)"),
    (["load", "EXAMPLE", "--set", "testmod_1.nope=1"], 2, "has no member 'nope'"),
    (["load", "EXAMPLE", "--set", "testmod_1.test_1=not_a_prog"], 2, "no program 'not_a_prog'"),
    (["load", "EXAMPLE", "--set", "oops"], 2, "expected MAP.MEMBER=VALUE"),
    (["load", "EXAMPLE", "--autoload", "nope=0"], 2, "error: --autoload: object 'struct_ops_module': no program "
                                                      "'nope'"),
    (["load", "EXAMPLE"], 1, "error: struct_ops init_kern testmod_zeroed: Cannot find member zeroed_op in kernel "
                             "BTF (-EOPNOTSUPP)"),
    (["check-signatures", "README.md"], 2, "README.md: elf: not a proper ELF object"),
])
def test_bad_input_gives_one_error_line(args, code, expect) -> None:
    """Bad input exits 2, a refusal by the emulated kernel (here libbpf's init_kern
    against its BTF) 1; the object's name is not cut to 15 characters."""
    args = [str(example("struct_ops_module")) if a == "EXAMPLE" else a for a in args]
    r = structops(*args)
    assert r.returncode == code, r.stderr
    assert expect in r.stderr and "Traceback" not in r.stderr


def test_btf_dump_kernel_has_builtin_and_module_types() -> None:
    r = structops("btf", "dump", "--kernel", "--format", "c")
    assert r.returncode == 0
    for decl in ("struct bpf_dummy_ops {", "struct tcp_congestion_ops {", "struct bpf_testmod_ops {",
                 "struct bpf_struct_ops_bpf_testmod_ops {"):
        assert decl in r.stdout


@pytest.mark.parametrize("script,expect", [
    ("load EXAMPLE\ncall kfunc_ops.test_1\nfrobnicate\n", ":3: unknown command 'frobnicate'"),
    ("call kfunc_ops.test_1\n", ":1: the first command must be load"),
    ("load --bogus EXAMPLE\n", ":1: load: unrecognized arguments: --bogus"),
    ("load EXAMPLE\ncall kfunc_ops.test_1 x\n", ":2: call kfunc_ops.test_1: arguments must be integers"),
    ("# comment\nload EXAMPLE\ndetach\n", ":3: detach needs one MAP"),
])
def test_call_script_is_checked_before_it_runs(tmp_path, script, expect) -> None:
    f = tmp_path / "s.txt"
    f.write_text(script.replace("EXAMPLE", str(example("kfunc_call"))))
    r = structops("call", "--script", str(f))
    assert r.returncode == 2 and f"error: {f}{expect}" in r.stderr and "Traceback" not in r.stderr
