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
(d) the kernel selftests' raw-instruction programs (tests/data/selftests,
    test_verifier's verifier/*.c) whose program type and maps the model has,
    live: the host creates the fixup maps; as root and, for socket filters,
    with CAP_BPF only.
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

from emu.formats.conformance import parse_data_file
from emu.host.hostbpf import comparable_log, processed_counts
from emu.host.verdict import host_load
from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from tests.conftest import examples
from tests.corpus import WHOLE_LOG_PROG_TYPES, conformance_files, raw_case_program, raw_cases
from verifier import VerifierEnv, verify

from .programs import MAP_DECL, MAP_DECLS, linked_scalar_programs, socket_programs, struct_ops_programs
from .test_programs import CLASSIC

pytestmark = pytest.mark.kernel



#: the log buffer emu.host.hostbpf.prog_load gives the host
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


@pytest.mark.parametrize("path", conformance_files(), ids=lambda p: p.name)
def test_a_conformance_programs_as_socket_filters(path: Any) -> None:
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

#: whole-log differences found by (d), verdicts and messages agreeing: known model bugs
_BUG_PRINT = ("the log prints an instruction with a reserved field set as BUG_xx; kernel/bpf/disasm.c "
              "prints it as it is (call bpf_unspec#0, the lddw value)")
LOG_BUGS = {
    **{(cid, mode): _BUG_PRINT for cid in ("basic_call.c:1", "junk_insn.c:4", "ld_imm64.c:6")
       for mode in ("root", "cap_bpf")},
}


def _selftest_cases() -> list[Any]:
    out = []
    for c in raw_cases():
        if c.get("kernel") is None or raw_case_program(c).not_modelled \
                or (c["prog_type"] or 1) not in WHOLE_LOG_PROG_TYPES:
            continue
        for unpriv in (False, True) if c.get("kernel_cap_bpf") else (False,):
            mode = "cap_bpf" if unpriv else "root"
            why = LOG_BUGS.get((c["id"], mode))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            out.append(pytest.param(c, unpriv, id=f"{c['id']}-{mode}", marks=marks))
    return out


#: what the live comparison cannot reproduce: (case id) -> why
LIVE_DIFFERENCES = {"ld_imm64.c:10": "loads fd 1, which is whatever file this process has there: the host "
                                     "answers EINVAL for an open non-map fd, the model EBADF for no fd"}


@pytest.mark.parametrize("case,unpriv", _selftest_cases())
def test_d_selftest_programs_live(case: dict[str, Any], unpriv: bool) -> None:
    if case["id"] in LIVE_DIFFERENCES:
        pytest.skip(LIVE_DIFFERENCES[case["id"]])
    prog = raw_case_program(case, privileged=not unpriv)
    compare(prog.insns, prog.env, log_level=1, full_log=True)


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
