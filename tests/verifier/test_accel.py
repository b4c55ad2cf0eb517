"""The compiled verifier (verifier/accel.py) and the pure-Python one give the same answers,
and a compiled build is used only for the sources it was built from."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from verifier import accel

ROOT = Path(__file__).resolve().parents[2]

#: verdict, errno, processed, states and the whole log of the raw selftest corpus at level 2
#: (every log line the verifier has), and of generated programs at level 1, as one digest
_DIGEST = r"""
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
from hypothesis import given, settings, HealthCheck, strategies as st
from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from tests.corpus import raw_case_program, raw_cases
from tests.verifier.programs import MAP_DECLS, socket_programs
from verifier import accel, verify
h = hashlib.sha256()
def add(r):
    h.update(json.dumps([r.accepted, r.errno, r.processed, r.total_states, r.peak_states, r.log,
                         [(a.ptr_type, a.seen, a.nospec, a.alu_state, a.alu_limit) for a in r.insn_aux]]).encode())
n = 0
for c in raw_cases():
    for priv in (True, False):
        p = raw_case_program(c, privileged=priv)
        if p.not_modelled or not p.insns:
            continue
        add(verify(p.insns, p.env, log_level=2))
        n += 1
@settings(max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(socket_programs(), st.sampled_from(MAP_DECLS), st.booleans())
def gen(text, m, unpriv):
    global n
    insns, env = program_env(assemble(text, symbols=symbols_for([m])), maps=[m], unpriv=unpriv)
    add(verify(insns, env, log_level=1))
    n += 1
gen()
print(json.dumps({"compiled": accel.active(), "programs": n, "digest": h.hexdigest()}))
"""


def _digest(pure: bool) -> dict[str, object]:
    env = dict(os.environ)
    env.pop(accel.PURE_ENV, None)
    if pure:
        env[accel.PURE_ENV] = "1"
    r = subprocess.run([sys.executable, "-c", _DIGEST, str(ROOT)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_compiled_and_pure_verifiers_agree_on_every_log() -> None:
    if not accel.fresh():
        pytest.skip("the compiled verifier is not built for these sources (make builds it: "
                    "python -m verifier.build_accel)")
    compiled, pure = _digest(False), _digest(True)
    assert compiled["compiled"] is True and pure["compiled"] is False
    assert compiled["programs"] == pure["programs"] > 500
    assert compiled["digest"] == pure["digest"]


def test_a_build_is_stale_once_a_source_changes(tmp_path: Path) -> None:
    pkg = tmp_path / "verifier"
    pkg.mkdir()
    for name in accel.COMPILED:
        shutil.copy2(ROOT / "verifier" / f"{name}.py", pkg / f"{name}.py")
    (pkg / "_accel").mkdir()
    (pkg / "_accel" / "SOURCES").write_text(accel.sources_hash(pkg) + "\n")
    lib = pkg / "_accel" / f"{accel.GROUP}__mypyc{importlib.machinery.EXTENSION_SUFFIXES[0]}"
    lib.write_bytes(b"")
    assert accel.fresh(pkg)
    tnum = pkg / "tnum.py"
    tnum.write_text(tnum.read_text() + "\n# edited\n")
    assert not accel.fresh(pkg)


def test_the_pure_path_is_one_variable_away() -> None:
    env = dict(os.environ, **{accel.PURE_ENV: "1"})
    out = subprocess.run([sys.executable, "-m", "verifier.build_accel", "status"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "pure Python"


def test_without_mypyc_the_build_step_says_so_and_does_not_fail_make() -> None:
    """`make` runs the build after installing; where mypy (mypyc) is missing it must
    leave the verifier pure Python and exit 0 (1 only when --check asks for a build)."""
    code = ("import sys; sys.modules['mypyc'] = None\n"
            "from verifier.build_accel import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    for args, rc in (([], 0), (["--check"], 1)):
        r = subprocess.run([sys.executable, "-c", code, "build", *args], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == rc, r.stderr
        assert "mypyc) is not installed; the verifier stays pure Python" in r.stdout
