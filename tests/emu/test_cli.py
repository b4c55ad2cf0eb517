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


def test_version_and_profiles():
    import emu

    r = structops("--version")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == f"structops-emu {emu.__version__}"
    assert "models Linux 6.18" in r.stdout and "profiles: 6.8, 6.9, 6.10, 6.12, 6.18, latest" in r.stdout
    r = structops("profiles")
    rows = {ln.split()[0]: ln.split()[1:7] for ln in r.stdout.splitlines()[2:]}
    assert r.returncode == 0
    assert rows["tramp_image_pages"] == ["1", "8", "8", "8", "8", "8"]
    assert rows["nullable_args"][:2] == ["no", "yes"]


@pytest.mark.parametrize("cmd", [["asm"], ["disasm"], ["exec"], ["demo"], ["tramp"], ["types"], ["modules"],
                                 ["btf", "dump"], ["verify"], ["load"], ["call"], ["check-signatures"],
                                 ["profiles"]])
def test_every_help_documents_the_exit_status(cmd):
    r = structops(*cmd, "--help")
    assert r.returncode == 0
    assert "exit status: 0 ok, 1 refused by the emulated kernel" in " ".join(r.stdout.split())
    assert "2 bad input, 3 not modelled" in " ".join(r.stdout.split())


@pytest.mark.parametrize("argv,code,expect", [
    (["demo", "nosuch"], 2, "error: no demo step 'nosuch' (steps: isa, pages, run, nullable, module, kfunc)"),
    (["modules", "--load", "nosuch"], 2, "error: --load: no module 'nosuch' (known: bpf_testmod, bpf_testmod_alt)"),
    (["types", "--profile", "5.4"], 2, "error: unknown kernel profile '5.4'"),
    (["tramp", "--type", "nope"], 2, "error: --type: no struct_ops type 'nope' is registered"),
])
def test_unknown_names_are_bad_input(argv, code, expect):
    r = structops(*argv)
    assert r.returncode == code and expect in r.stderr and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_registers_above_r10_are_refused_by_both_engines(tmp_path, engine):
    """The kernel's check_reg_arg refuses them at load, dead code included (the JIT
    indexed its register tables with them: IndexError)."""
    for body, where in ((".raw 0x0000000000000fb7\nr0 = 0\nexit\n", "insn 0"),  # r15 = 0
                        ("r0 = 0\nexit\n.raw 0x000000000000f0bf\nexit\n", "insn 2"),  # dead r0 = r15
                        (".raw 0x000000000000c06f\nr0 = 0\nexit\n", "insn 0")):  # r0 <<= r12
        f = tmp_path / "r.s"
        f.write_text(body)
        r = structops("exec", "--engine", engine, str(f))
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"error: {f}: {where}: R1") and "is invalid" in r.stderr


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_budget_rules_are_the_same_on_both_engines(tmp_path, engine):
    f = tmp_path / "loop.s"
    f.write_text("r0 = 0\nl:\nr0 += 1\nif r0 < 1000 goto l\nexit\n")
    assert structops("exec", "--engine", engine, "--budget", "0", str(f)).stdout == "0x3e8\n"  # 0: no limit
    r = structops("exec", "--engine", engine, "--budget", "100", str(f))
    assert r.returncode == 1 and "budget" in r.stderr
    r = structops("exec", "--engine", engine, "--budget", "-1", str(f))
    assert r.returncode == 2 and "negative" in r.stderr


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_zero_length_helper_access_touches_no_memory(tmp_path, engine):
    """memfrob(ptr, 0) with a pointer to nothing: no access, as a kernel helper
    given size 0 (ARG_CONST_SIZE_OR_ZERO); one byte there faults on both engines."""
    f = tmp_path / "z.s"
    f.write_text("r1 = 0x1234\nr2 = 0\ncall 1\nr0 = 7\nexit\n")
    assert structops("exec", "--engine", engine, str(f)).stdout == "0x7\n"
    f.write_text("r1 = 0x1234\nr2 = 1\ncall 1\nr0 = 7\nexit\n")
    r = structops("exec", "--engine", engine, str(f))
    assert r.returncode == 1 and r.stderr.splitlines()[-1].startswith("error: ")


def test_issue_context_field_runs_or_names_itself(tmp_path):
    """__sk_buff.hash is accepted by the verifier and runs (it stopped with 'helper
    32992 is not modelled by this kernel')."""
    f = tmp_path / "h.s"
    f.write_text("r0 = *(u32 *)(r1 +68)\nexit\n")
    r = structops("verify", str(f))
    assert r.returncode == 0 and "helper" not in r.stdout + r.stderr


def test_demo_runs_from_another_directory(tmp_path):
    """The demo's header is package data (importlib.resources), not examples/."""
    r = structops("demo", "pages", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "many_ops (40 x int (*)(int)) on 6.8 (limit 1 page(s))" in r.stdout


def test_btf_names_that_are_not_utf8_print_as_their_bytes(tmp_path):
    """bpftool prints a BTF name's bytes as they are; printing the decoded name
    raised UnicodeEncodeError (found by the fuzz suite)."""
    obj = (ROOT / "examples" / "core_missing_field.bpf.o").read_bytes()
    assert b"unsigned long long" in obj  # a .BTF string (and a DWARF one)
    f = tmp_path / "names.bpf.o"
    f.write_bytes(obj.replace(b"unsigned long long", b"\x80nsigned long long"))
    # stdout as a UTF-8 locale opens it (strict); the C locale would hide the bug
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8:strict")
    r = subprocess.run([sys.executable, "-m", "emu.cli", "btf", "dump", str(f)], capture_output=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and b"Traceback" not in r.stderr
    assert b"INT '\x80nsigned long long' size=8" in r.stdout


def test_exit_status_maps_the_error_tree():
    from emu.cli import exit_status
    from kernel_model.errors import (AsmSyntaxError, BudgetExceeded, ExecFault, InputError, InternalError,
                                     InvalidInsn, KernelError, NotModelled)

    cases = [(AsmSyntaxError("x", 1, 1), 2), (InputError("x"), 2), (InvalidInsn("R11 is invalid", 0), 1),
             (KernelError(13, "x"), 1), (ExecFault("invalid read", 3), 1), (BudgetExceeded(10, 2), 1),
             (NotModelled("context field __sk_buff.x is not modelled"), 3),
             (ExecFault("not modelled", 1, None, "helper 999 is not modelled by this kernel"), 3),
             (InternalError("bug"), 3)]
    assert [exit_status(e) for e, _ in cases] == [c for _, c in cases]
    assert str(NotModelled("context field __sk_buff.x is not modelled")) == \
        "context field __sk_buff.x is not modelled"
