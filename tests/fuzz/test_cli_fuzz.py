"""Malformed input through every ``structops`` command, one forked process per
case (:mod:`tests.fuzz.harness`): never a traceback, always one ``error:`` line
and a documented exit status (0 ok, 1 refused by the emulated kernel, 2 bad
input, 3 not modelled)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from emu.cli.demo import STEPS
from emu.kernel import BUILTIN_MODULES
from kernel_model.profile import PROFILES

from . import strategies as S
from .conftest import FUZZ, warm
from .harness import check, run_cli

_counter = itertools.count()


def _file(tmp_path: Path, suffix: str, data: bytes | str) -> str:
    p = tmp_path / f"case{next(_counter)}{suffix}"
    if isinstance(data, str):
        p.write_text(data, errors="surrogateescape")
    else:
        p.write_bytes(data)
    return str(p)


@pytest.fixture(scope="module", autouse=True)
def _warm():
    warm()


# --- assembly and raw programs ------------------------------------------------------------

@FUZZ
@given(text=S.kernel_asm)
def test_asm_disasm(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("asm")
    f = _file(d, ".s", text)
    r = check(run_cli(["asm", f, "-o", str(d / "out.bin")]))
    if r.code == 0:  # what asm wrote disassembles and assembles back to the same bytes
        check(run_cli(["disasm", str(d / "out.bin")]), codes=(0,))
    check(run_cli(["disasm", "-n", f]))


@FUZZ
@given(text=S.kernel_asm, engine=st.sampled_from(["interp", "jit"]))
def test_exec_asm(tmp_path_factory, text, engine):
    f = _file(tmp_path_factory.mktemp("exec"), ".s", text)
    check(run_cli(["exec", "--engine", engine, "--budget", "20000", f]))


@FUZZ
@given(data=S.raw_program, engine=st.sampled_from(["interp", "jit"]))
def test_exec_raw(tmp_path_factory, data, engine):
    f = _file(tmp_path_factory.mktemp("raw"), ".bin", data)
    r = check(run_cli(["exec", "--engine", engine, "--budget", "20000", f]))
    if len(data) % 8:
        assert r.code == 2, r  # not whole instructions: bad input


@FUZZ
@given(text=S.conformance_data(), engine=st.sampled_from(["interp", "jit"]))
def test_exec_conformance_data(tmp_path_factory, text, engine):
    f = _file(tmp_path_factory.mktemp("data"), ".data", text)
    check(run_cli(["exec", "--engine", engine, "--budget", "20000", f]))
    check(run_cli(["exec", "--check", "--engine", engine, "--budget", "20000", f]), verdict_on_stdout=True)


@FUZZ
@given(text=S.kernel_asm, unpriv=st.booleans())
def test_verify_asm(tmp_path_factory, text, unpriv):
    f = _file(tmp_path_factory.mktemp("verify"), ".s", text)
    check(run_cli(["verify", f, *(["--unpriv"] if unpriv else [])]), verdict_on_stdout=True)


@FUZZ
@given(data=S.raw_program)
def test_verify_raw(tmp_path_factory, data):
    f = _file(tmp_path_factory.mktemp("verify"), ".bin", data)
    check(run_cli(["verify", f, "--log-level", "2"]), verdict_on_stdout=True)


@FUZZ
@given(attach=S.names, prog_type=st.one_of(st.none(), S.names, st.sampled_from(["xdp", "struct_ops", "syscall"])),
       map_spec=st.one_of(st.none(), S.names), flags=st.one_of(st.none(), S.names))
def test_verify_options(tmp_path_factory, attach, prog_type, map_spec, flags):
    f = _file(tmp_path_factory.mktemp("opts"), ".s", "r0 = 0\nexit\n")
    argv = ["verify", f]
    if attach:
        argv += [f"--attach={attach}"]
    if prog_type is not None:
        argv += [f"--prog-type={prog_type}"]
    if map_spec is not None:
        argv += [f"--map={map_spec}"]
    if flags is not None:
        argv += [f"--flags={flags}"]
    check(run_cli(argv), verdict_on_stdout=True)


# --- ELF objects, BTF, C headers -------------------------------------------------------------

@FUZZ
@given(obj=S.mutated_object(), cmd=st.sampled_from([
    ["load"], ["load", "--verify-only"], ["verify"], ["check-signatures"], ["btf", "dump"],
    ["btf", "dump", "--format", "c"], ["test-run", "--data-hex", "45" * 40]]))
def test_elf_objects(tmp_path_factory, obj, cmd):
    name, data = obj
    f = _file(tmp_path_factory.mktemp("elf"), ".bpf.o", data)
    check(run_cli([*cmd, f]), verdict_on_stdout=cmd[0] in ("load", "verify", "check-signatures"))


@FUZZ
@given(blob=S.mutated_btf(), fmt=st.sampled_from(["raw", "c"]))
def test_btf_blobs(tmp_path_factory, blob, fmt):
    f = _file(tmp_path_factory.mktemp("btf"), ".btf", blob)
    check(run_cli(["btf", "dump", f, "--format", fmt]))


@FUZZ
@given(text=S.mutated_header(), struct=st.sampled_from(["many_ops", "ops", "s", "nope", ""]),
       profile=st.sampled_from(["latest", "6.8"]))
def test_tramp_decl(tmp_path_factory, text, struct, profile):
    f = _file(tmp_path_factory.mktemp("decl"), ".h", text)
    check(run_cli(["tramp", "--decl", f"{f}:{struct}", "--profile", profile]))


# --- names: profiles, modules, types, demo steps ----------------------------------------------

@FUZZ
@given(name=S.names)
def test_names(name):
    """Unknown profile, module and demo-step names are bad input (2)."""
    known = name in PROFILES
    check(run_cli(["types", f"--profile={name}"]), codes=(0,) if known else (2,))
    check(run_cli(["modules", f"--load={name}"]), codes=(0, 1) if name in BUILTIN_MODULES else (2,))
    if name not in [s for s, _ in STEPS]:
        check(run_cli(["demo", name]), codes=(2,))
    check(run_cli(["tramp", "--type", name or "x"]), codes=(0, 2))
