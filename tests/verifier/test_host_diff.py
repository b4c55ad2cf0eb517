"""The differential harness: the model against the host kernel's BPF_PROG_LOAD (``kernel`` mark).

Four corpora, each loaded both ways (the host creates the maps; nothing is
attached) and compared on verdict, errno, last log line (BTF ids and
addresses masked) and the ``processed`` count:

(a) the programs of our own tests: the classic table, the uBPF conformance
    programs as socket filters, the CLI's examples;
(b) hypothesis-generated socket filters (tests/verifier/programs.py), whose
    whole level-2 logs are also compared, as root and with CAP_BPF only (the
    load made by a child that dropped the other capabilities);
(c) hypothesis-generated struct_ops programs for ``bpf_dummy_ops`` members,
    attached on the host by its own BTF id (``test_1``'s argument is
    ``__nullable``: the rule is checked against the real kernel);
(d) the 280 kernel-selftest programs of shared/verifier-corpus, live;
(f) hypothesis-generated linked scalars through spills and fills of every
    width, zero- and sign-extending, with moves, branches on either copy and
    pointer arithmetic (tests/verifier/programs.py ``linked_scalar_programs``),
    as root and with CAP_BPF only, whole level-2 logs compared.

The budget is the hypothesis profile's (``ci``: 100 examples per generator);
``make test-long`` runs more (10,000 per mode for (f)),
benchmarks/verifier_agreement.py prints the tables.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emu.conformance import parse_data_file
from emu.hostbpf import comparable_log, processed_counts
from emu.verify_cmd import corpus_case, host_load, program_env, symbols_for
from kernel_model.asm import assemble
from tests.conftest import SHARED, examples, verifier_corpus
from verifier import VerifierEnv, verify

from .programs import MAP_DECL, MAP_DECLS, linked_scalar_programs, socket_programs, struct_ops_programs
from .test_programs import CLASSIC

pytestmark = pytest.mark.kernel



#: the log buffer emu.hostbpf.prog_load gives the host
HOST_LOG_SIZE = 16 << 20
#: programs left out of the CI budget, with the reason (benchmarks/verifier_agreement.py runs them)
SLOW = {"mul-loop-memory-iterations.data": "reaches the 1M processed-instruction limit: ~70 s in the model"}


def compare(insns: list, env: VerifierEnv, log_level: int = 1, full_log: bool = False) -> None:
    env.log_size = HOST_LOG_SIZE
    ours = verify(insns, env, log_level=log_level)
    host = host_load(insns, env, log_level)
    assert (ours.accepted, ours.errno) == (host.accepted, host.errno), f"host:\n{host.log}\nmodel:\n{ours.log}"
    assert comparable_log(ours.error_line) == comparable_log(host.error_line), f"host:\n{host.log}\nmodel:\n{ours.log}"
    assert processed_counts(ours.log) == processed_counts(host.log)
    if full_log:
        assert comparable_log(ours.log) == comparable_log(host.log)


# --- (a) the programs of our tests -------------------------------------------------------------

@pytest.mark.parametrize("asm", [c[0] for c in CLASSIC], ids=[c[0].replace("\n", "; ") for c in CLASSIC])
def test_a_classic_programs(asm: str) -> None:
    compare(assemble(asm), VerifierEnv(), log_level=2, full_log=True)


@pytest.mark.parametrize("asm", [c[0] for c in CLASSIC], ids=[c[0].replace("\n", "; ") for c in CLASSIC])
def test_a_classic_programs_cap_bpf_only(asm: str) -> None:
    """The oracle table's second column: the host load made with CAP_BPF only."""
    compare(assemble(asm), VerifierEnv(privileged=False), log_level=1, full_log=True)


def _conformance_files() -> list[Any]:
    root = SHARED / "conformance" / "ubpf"
    return sorted(root.glob("*.data")) + sorted((root / "errors").glob("*.data")) if root.exists() else []


@pytest.mark.parametrize("path", _conformance_files() or ["missing"], ids=lambda p: getattr(p, "name", p))
def test_a_conformance_programs_as_socket_filters(path: Any) -> None:
    if path == "missing":
        pytest.skip(f"conformance corpus not found under {SHARED}")
    if path.name in SLOW:
        pytest.skip(SLOW[path.name])
    try:
        case = parse_data_file(path)
    except Exception as e:  # noqa: BLE001 - cases our parser refuses are not programs to compare
        pytest.skip(f"not a loadable program: {e}")
    compare(list(case.insns), VerifierEnv(), log_level=1, full_log=True)


CLI_PROGRAMS = [
    ("r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = m ll\ncall bpf_map_lookup_elem\n"
     "if r0 == 0 goto out\nr0 = *(u64 *)(r0 +8)\nout:\nr0 = 0\nexit\n", ["m=hash:8:16:4"]),
    ("r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = m ll\ncall bpf_map_lookup_elem\n"
     "if r0 == 0 goto out\nr0 = *(u64 *)(r0 +8)\nout:\nr0 = 0\nexit\n", ["m=hash:8:8:4"]),
    ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = m ll\ncall bpf_map_lookup_elem\n"
     "if r0 == 0 goto out\ncall bpf_get_prandom_u32\nr0 &= 0x3f\nout:\nexit\n", ["m=array:4:48:1"]),
]


@pytest.mark.parametrize("asm,maps", CLI_PROGRAMS)
def test_a_cli_programs(asm: str, maps: list[str]) -> None:
    insns, env = program_env(assemble(asm, symbols=symbols_for(maps)), maps=maps)
    compare(insns, env, log_level=2, full_log=True)


# --- (b) generated socket filters --------------------------------------------------------------

@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(socket_programs(), st.sampled_from(MAP_DECLS))
def test_b_generated_socket_filters(text: str, map_decl: str) -> None:
    insns, env = program_env(assemble(text, symbols=symbols_for([map_decl])), maps=[map_decl])
    compare(insns, env, log_level=2, full_log=True)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(socket_programs(), st.sampled_from(MAP_DECLS))
def test_b_generated_socket_filters_cap_bpf_only(text: str, map_decl: str) -> None:
    """The same programs loaded with CAP_BPF only: pointer-leak rules, Spectre v1/v4
    sanitation (masking limits, speculative paths, barriers), uninitialised stack."""
    insns, env = program_env(assemble(text, symbols=symbols_for([map_decl])), maps=[map_decl], unpriv=True)
    compare(insns, env, log_level=1, full_log=True)


# --- (c) generated struct_ops programs for bpf_dummy_ops ------------------------------------------

@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(struct_ops_programs())
def test_c_generated_dummy_struct_ops(prog: tuple[str, str, int]) -> None:
    text, member, flags = prog
    insns, env = program_env(assemble(text), attach=f"bpf_dummy_ops:{member}", flags=flags)
    compare(insns, env, log_level=1, full_log=True)


# --- (d) the kernel-selftest corpus, live ---------------------------------------------------------

@pytest.mark.parametrize("case", list(verifier_corpus()) or [None], ids=lambda c: c["id"] if c else "missing")
def test_d_selftest_corpus_live(case: dict[str, Any] | None) -> None:
    if case is None:
        pytest.skip(f"verifier corpus not found under {SHARED}")
    insns, env = corpus_case(case)
    compare(insns, env, log_level=1, full_log=True)


# --- (f) linked scalars through the stack -------------------------------------------------------

@settings(max_examples=examples(10_000), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(linked_scalar_programs())
def test_f_linked_scalars_through_spills_and_fills(text: str) -> None:
    insns, env = program_env(assemble(text, symbols=symbols_for([MAP_DECL])), maps=[MAP_DECL])
    compare(insns, env, log_level=2, full_log=True)


@settings(max_examples=examples(10_000), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(linked_scalar_programs())
def test_f_linked_scalars_cap_bpf_only(text: str) -> None:
    """CAP_BPF only: where a wrong bound hides a pointer return, the host says
    ``R0 leaks addr as return value``; variable stack offsets are refused."""
    insns, env = program_env(assemble(text, symbols=symbols_for([MAP_DECL])), maps=[MAP_DECL], unpriv=True)
    compare(insns, env, log_level=2, full_log=True)
