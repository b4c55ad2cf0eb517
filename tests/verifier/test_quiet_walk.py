"""``verify(..., true_size=False)``: a level-1 walk with logging off for an accepted
program (the kernel resets that text away), the walk again logged for a rejected one.
Everything but ``log_true_size`` is the same as the fully logged run: verdict, errno,
the whole log, counters, per-instruction aux data."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from tests.corpus import raw_case_program, raw_cases
from tests.verifier.programs import MAP_DECLS, socket_programs
from verifier import VerifierEnv, VerifyResult, verify

ROOT = Path(__file__).resolve().parents[2]


def _facts(r: VerifyResult) -> tuple[object, ...]:
    return (r.accepted, r.errno, r.log, r.error_line, r.processed, r.total_states, r.peak_states,
            r.max_states_per_insn, r.stack_depth, r.subprog_starts, r.tail_call_reachable,
            [(a.ptr_type, a.seen, a.nospec, a.alu_state, a.alu_limit) for a in r.insn_aux])


def _same(insns: list, env: VerifierEnv) -> VerifyResult:
    full = verify(insns, env, log_level=1)
    quiet = verify(insns, env, log_level=1, true_size=False)
    assert _facts(quiet) == _facts(full)
    # an accepted walk's size is not computed; a rejection's log comes from a logged walk
    assert quiet.log_true_size == (0 if full.accepted else full.log_true_size)
    return full


def test_the_raw_corpus_gives_the_same_answers_quietly() -> None:
    verdicts = {True: 0, False: 0}
    for c in raw_cases():
        for priv in (True, False):
            p = raw_case_program(c, privileged=priv)
            if p.not_modelled or not p.insns:
                continue
            verdicts[_same(p.insns, p.env).accepted] += 1
    # both kinds in numbers: the quiet accepted walks and the re-logged rejections
    assert verdicts[True] > 100 and verdicts[False] > 100, verdicts


@settings(max_examples=80, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(socket_programs(), st.sampled_from(MAP_DECLS), st.booleans())
def test_generated_programs_give_the_same_answers_quietly(text: str, m: str, unpriv: bool) -> None:
    insns, env = program_env(assemble(text, symbols=symbols_for([m])), maps=[m], unpriv=unpriv)
    _same(insns, env)


def test_objects_with_global_functions_give_the_same_answers_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Programs of clang objects loaded as libbpf loads them (BTF, line info, global
    functions: each walk is reset away, the ``Func#1 ... is safe`` line after it stays),
    each verified again with the unlimited buffer, logged and quietly."""
    from emu.kernel import Kernel, prog_load
    from emu.libbpf.per_prog import list_programs, verify_program

    real = prog_load.verify
    seen: list[VerifyResult] = []

    def both(code: list, env: VerifierEnv, log_level: int) -> VerifyResult:
        seen.append(_same(code, replace(env, log_size=None)))
        return real(code, env, log_level)

    monkeypatch.setattr(prog_load, "verify", both)
    for ex in ("global_funcs", "dummy_st_ops", "dummy_st_ops_fail"):
        obj = str(ROOT / "examples" / f"{ex}.bpf.o")
        for name, _sec in list_programs(obj):
            verify_program(obj, name, kernel=Kernel(modules=()), log_level=1)
    assert sum(r.accepted for r in seen) >= 4 and sum(not r.accepted for r in seen) >= 2
    assert any("is safe for any args that match its prototype" in r.log for r in seen)


@pytest.mark.parametrize("level,log_size", [(1 | 4, None), (2, None), (1, 1 << 20)])
def test_other_levels_and_user_buffers_are_logged_as_before(level: int, log_size: int | None) -> None:
    """Only level 1 with the unlimited buffer is quiet: the stats bit's timing line, a
    level-2 log and a user buffer's ENOSPC need the walk's text or its size."""
    text = "r0 = 0\nl: r0 += 1\nif r0 < 50 goto l\nexit"
    env = VerifierEnv(log_size=log_size)
    r = verify(assemble(text), env, log_level=level, true_size=False)
    assert r.accepted and r.log_true_size > len(r.log.encode())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emu.cli", "verify", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("text", ["r0 = 0\nl: r0 += 1\nif r0 < 50 goto l\nexit",
                                  "r2 = *(u32 *)(r1 +0)\nif r2 > 7 goto +1\nr0 = r1\nexit"])
def test_the_command_prints_the_same_log_and_size(tmp_path: Path, text: str) -> None:
    """``structops verify`` is quiet unless --json or --stats asks for log_true_size; its
    log is the same either way, and the size it prints is the logged walk's."""
    prog = tmp_path / "p.s"
    prog.write_text(text + "\n")
    plain, stats, js = _cli(str(prog)), _cli(str(prog), "--stats"), _cli(str(prog), "--json")
    assert plain.returncode == stats.returncode == js.returncode
    assert plain.stdout == stats.stdout and plain.stdout.strip()
    want = verify(assemble(text), VerifierEnv(), log_level=1)
    assert f"log_true_size {want.log_true_size}" in stats.stderr
    # --json loads at level 1|4 (its log ends with the run's own "verification time"): the
    # size is the walk's, far above the summary an accepted program's log keeps
    got = json.loads(js.stdout)["programs"][0]
    assert got["log_true_size"] >= want.log_true_size > (10 * len(want.log) if want.accepted else len(want.log))
