"""The selftests' raw programs run end to end in the emulated kernel, return values as the host's.

Every raw case of tests/data/selftests/raw_cases.jsonl that the host accepted and
test-ran (``kernel.retvals``: BPF_PROG_TEST_RUN with each of the case's 64-byte
inputs, as test_verifier runs it) and whose program type and maps the model has
is loaded through our bpf() commands -- its maps created and filled as
test_verifier fills them, the verifier model, convert_ctx_accesses, the fixups,
the JIT -- and test-run on the same inputs; each u32 return value must be the
host's. A run that reaches a part the emulated kernel does not model (most
``__sk_buff`` fields, ``ld_abs``) is skipped with that reason. A case whose expected value is test_verifier's POINTER_VALUE (any
value: an address) must run to its exit and return non-zero.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from emu.kernel import Kernel
from kernel_model.errors import ExecFault
from kernel_model.insn import Insn
from tests.corpus import WHOLE_LOG_PROG_TYPES, map_init, raw_case_program, raw_cases

#: test_verifier's POINTER_VALUE: "any value" (the program returns an address)
POINTER_VALUE = 0xCAFE4A


def _cases() -> list[Any]:
    out = []
    for c in raw_cases():
        k = c.get("kernel") or {}
        if k.get("verdict") != "accepted" or not k.get("retvals"):
            continue
        if raw_case_program(c).not_modelled or (c["prog_type"] or 1) not in WHOLE_LOG_PROG_TYPES:
            continue  # the tracing and packet types are verify-only
        out.append(pytest.param(c, id=c["id"]))
    return out


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def test_the_corpus_has_runs_to_compare() -> None:
    assert len(_cases()) >= 100


@pytest.mark.parametrize("case", _cases())
def test_retval_matches_the_host(kernel: Kernel, case: dict[str, Any]) -> None:
    k = kernel
    prog = raw_case_program(case)
    fds: list[int] = []
    try:
        fd_of: dict[int, int] = {}
        for key, spec in prog.maps.items():
            t, ks, vs, n, fl = spec
            fd = k.map_create(map_type=t, key_size=ks, value_size=vs, max_entries=n, map_flags=fl)
            fds.append(fd)
            fd_of[key] = fd
            init = map_init(spec)
            if init is not None:
                k.map_update_elem(fd, struct.pack("<i", 0), init)
        at = prog.map_insns or {}
        insns = [Insn(x.code, x.dst, x.src, x.off, fd_of[at[i]]) if i in at else x for i, x in enumerate(prog.insns)]
        pfd = k.prog_load(insns, prog_type=prog.env.prog_type, prog_flags=prog.env.prog_flags)
        fds.append(pfd)
        for run, want in zip(case["runs"], case["kernel"]["retvals"]):
            try:
                got = k.prog_test_run(pfd, data_in=bytes.fromhex(run["data"])).retval
            except ExecFault as e:
                if "not modelled" not in str(e):
                    raise
                pytest.skip(f"not modelled at run time: {e}")
            if run["retval"] == POINTER_VALUE:
                assert got != 0
            else:
                assert got == want
    finally:
        for fd in reversed(fds):
            k.close(fd)
