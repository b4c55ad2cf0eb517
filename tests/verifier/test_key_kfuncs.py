"""The keyring kfuncs (kernel/trace/bpf_trace.c ``key_sig_kfunc_set``: bpf_lookup_user_key,
bpf_lookup_system_key, bpf_key_put) through the verifier model and at run time.

6.12 registers them for the tracing hook; 6.18 moved them to kernel/bpf/helpers.c's generic
set (tracing, tc, xdp, cgroup, struct_ops, syscall ...): a tracepoint program may call them
and a socket filter may not, in both. The expected errno and last
log line of each program are the 6.18 host's (recorded from loads of the same
instructions); the ``kernel``-marked test loads them into the running kernel again and
compares verdict, errno and the whole level-2 log (kfunc BTF ids masked).
"""

from __future__ import annotations

import re

import pytest

from emu.kernel import Kernel
from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from verifier import verify

SYSTEM_OK = "r1 = 1\ncall bpf_lookup_system_key\nif r0 == 0 goto out\nr1 = r0\ncall bpf_key_put\nout:\nr0 = 0\nexit\n"

#: (program type, name) -> (program, errno (0: accepted), the kernel's last line)
PROGRAMS: dict[tuple[str, str], tuple[str, int, str | None]] = {
    ("tracepoint", "system_ok"): (SYSTEM_OK, 0, None),
    ("tracepoint", "system_leak"): ("r1 = 1\ncall bpf_lookup_system_key\nr0 = 0\nexit\n",
                                    22, "BPF_EXIT instruction in main prog would lead to reference leak"),
    ("tracepoint", "system_nocheck"): ("r1 = 1\ncall bpf_lookup_system_key\nr1 = r0\ncall bpf_key_put\nr0 = 0\nexit\n",
                                       13, "Possibly NULL pointer passed to trusted arg0"),
    ("tracepoint", "put_scalar"): ("r1 = 0\ncall bpf_key_put\nr0 = 0\nexit\n",
                                   13, "Possibly NULL pointer passed to trusted arg0"),
    ("tracepoint", "user_not_sleepable"): (
        "r1 = 1\nr2 = 0\ncall bpf_lookup_user_key\nif r0 == 0 goto out\nr1 = r0\ncall bpf_key_put\nout:\nr0 = 0\nexit\n",
        13, "program must be sleepable to call sleepable kfunc bpf_lookup_user_key"),
    ("tracepoint", "read_has_ref"): (
        "r1 = 2\ncall bpf_lookup_system_key\nif r0 == 0 goto out\nr6 = r0\nr0 = *(u8 *)(r6 +8)\nr1 = r6\n"
        "call bpf_key_put\nout:\nr0 = 0\nexit\n", 0, None),
    ("tracepoint", "double_put"): (
        "r1 = 1\ncall bpf_lookup_system_key\nif r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_key_put\nr1 = r6\n"
        "call bpf_key_put\nout:\nr0 = 0\nexit\n",
        22, "arg#0 pointer type STRUCT bpf_key must point to scalar, or struct with scalar"),
    ("socket_filter", "system_ok"): (SYSTEM_OK, 13, "calling kernel function bpf_lookup_system_key is not allowed"),
}

PROG_TYPE_IDS = {"socket_filter": 1, "tracepoint": 5}


def _model(ptype: str, asm: str, level: int = 1):  # type: ignore[no-untyped-def]
    insns, env = program_env(assemble(asm, symbols=symbols_for()), prog_type=ptype)
    return verify(insns, env, log_level=level)


@pytest.mark.parametrize("key", sorted(PROGRAMS), ids=lambda k: "-".join(k))
def test_model_answers_as_the_host(key: tuple[str, str]) -> None:
    asm, errno, last = PROGRAMS[key]
    r = _model(key[0], asm)
    assert (r.errno, r.error_line if not r.accepted else None) == (errno, last), r.log


def _mask(log: str) -> str:
    log = re.sub(r"processed \d+ insns.*", "", log)
    return re.sub(r"#\d+", "#N", re.sub(r"#\d+ *;", "#N ;", log))


@pytest.mark.kernel
@pytest.mark.parametrize("key", sorted(PROGRAMS), ids=lambda k: "-".join(k))
def test_host_agrees(key: tuple[str, str]) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    asm, errno, last = PROGRAMS[key]
    syms = {n: hostbpf.host_btf_id(n, "func") for n in set(re.findall(r"call (bpf_\w+)", asm))}
    if any(v is None for v in syms.values()):
        pytest.skip(f"the host's BTF lacks one of {sorted(syms)} (a kernel without CONFIG_KEYS)")
    insns = assemble(asm, symbols={k: v for k, v in syms.items() if v is not None})
    h = hostbpf.prog_load(PROG_TYPE_IDS[key[0]], b"".join(i.to_bytes() for i in insns), log_level=2)
    accepted = h.accepted
    h.close()
    assert (h.errno, h.error_line() if not accepted else None) == (errno, last), h.log
    m = _model(key[0], asm, level=2)
    assert (m.errno, m.accepted) == (h.errno, accepted)
    assert _mask(m.log) == _mask(h.log)


def _impl(k: Kernel, name: str):  # type: ignore[no-untyped-def]
    return next(e.kfunc.impl for e in k.kfuncs.entries if e.name == name)


def test_run_time_system_keys_and_no_user_keys() -> None:
    """bpf_lookup_system_key hands out a bpf_key {key = id, has_ref = false} for the three
    system keyrings and NULL past VERIFY_USE_PLATFORM_KEYRING; bpf_key_put frees it; the
    emulated kernel has no user keyrings, so bpf_lookup_user_key answers NULL."""
    k = Kernel(modules=())
    try:
        m = k.machine
        lookup, put = _impl(k, "bpf_lookup_system_key"), _impl(k, "bpf_key_put")
        for key_id in (0, 1, 2):
            bkey = lookup(m, key_id)
            assert bkey != 0
            assert m.read_u64(bkey) == key_id and m.read(bkey + 8, 1) == b"\0"
            assert put(m, bkey) == 0
        assert lookup(m, 3) == 0
        assert _impl(k, "bpf_lookup_user_key")(m, 1, 0) == 0
    finally:
        k.shutdown()
