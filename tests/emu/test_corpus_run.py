"""The verifier corpus's ``__retval`` programs run end to end in the emulated kernel.

Every accepted case of shared/verifier-corpus/cases.jsonl that the host kernel ran
(``kernel.retval``: BPF_PROG_TEST_RUN on 64 zero bytes, as test_loader does) is
loaded through our bpf() commands -- its maps created and filled from ``maps[].init``,
the verifier model, convert_ctx_accesses, the fixups, the JIT -- and test-run the
same way; the u32 retval must be the host's. Cases whose selftest expects
``POINTER_VALUE`` (any value: an address) are skipped with that reason.
"""

from __future__ import annotations


import pytest

from emu.kernel import Kernel
from kernel_model.bpf_map import map_type_by_name
from kernel_model.insn import Insn, decode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER
from tests.conftest import VERIFIER_CORPUS as CORPUS, verifier_corpus

def _cases() -> list:
    if not CORPUS.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CORPUS} is absent"))]
    return [pytest.param(c, id=c["id"]) for c in verifier_corpus() if c["kernel"].get("retval") is not None]


@pytest.fixture(scope="module")
def kernel():
    k = Kernel(modules=())
    yield k
    k.shutdown()


@pytest.mark.parametrize("case", _cases())
def test_retval_matches_the_host(kernel, case):
    k = kernel
    fds = []
    try:
        for mp in case["maps"]:
            fd = k.map_create(map_type=map_type_by_name(mp["type"]), key_size=mp["key_size"],
                              value_size=mp["value_size"], max_entries=mp["max_entries"],
                              map_flags=mp.get("map_flags", 0))
            fds.append(fd)
            for e in mp.get("init") or []:
                k.map_update_elem(fd, bytes.fromhex(e["key_hex"]), bytes.fromhex(e["value_hex"]))
        raw = decode(bytes.fromhex(case["insns_hex"]))
        insns = []
        i = 0
        while i < len(raw):  # the corpus's map lddw imm is an index into maps: make it our fd
            x = raw[i]
            if x.code == 0x18 and x.src in (1, 2):
                insns += [Insn(x.code, x.dst, x.src, x.off, fds[x.imm]), raw[i + 1]]
                i += 2
                continue
            insns.append(x)
            i += 1
        pfd = k.prog_load(insns, prog_type=PROG_TYPE_SOCKET_FILTER, prog_flags=case["kernel"]["prog_flags"])
        fds.append(pfd)
        retval = k.prog_test_run(pfd, data_in=bytes(64)).retval
        if case["annotations"].get("retval") == "POINTER_VALUE":
            # __retval(POINTER_VALUE): the program returns an address, which differs between
            # kernels: it must load and run to its exit without a fault, and return non-zero
            assert retval != 0
        else:
            assert retval == case["kernel"]["retval"]
    finally:
        for fd in reversed(fds):
            k.close(fd)
