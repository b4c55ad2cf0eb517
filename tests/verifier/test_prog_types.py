"""Program types beyond socket filters, syscall and struct_ops: context rules, helper sets,
return ranges, privileges -- on the model against the answers the 6.18 host gave (recorded
in the tables) and, marked ``kernel``, against the running host (verdict, errno, last
line and the whole level-2 log)."""

from __future__ import annotations

import errno as E

import pytest

from kernel_model.asm import assemble
from kernel_model.bpf_facts import helper_protos as facts
from verifier import VerifierEnv, verify
from verifier import helpers as H
from verifier import regs as R
from verifier.helper_sets import MODELLED_SYMBOLS

KPROBE, TRACEPOINT, PERF_EVENT, RAW_TP, RAW_TP_W = 2, 5, 7, 17, 24
SLEEPABLE = 16
CTX = "invalid bpf_context access off={} size={}"

#: (prog type, expected_attach_type, prog_flags, program, host answer: None = accepted,
#: else (errno, last line)); answers read off the 6.18 host
TRACING = [
    (KPROBE, 0, 0, "r0 = *(u64 *)(r1 +160)\nexit", None),
    (KPROBE, 0, 0, "r0 = *(u64 *)(r1 +168)\nexit", (E.EACCES, CTX.format(168, 8))),
    (KPROBE, 0, 0, "r0 = *(u32 *)(r1 +164)\nexit", None),
    (KPROBE, 0, 0, "r0 = *(u64 *)(r1 +4)\nexit", (E.EACCES, CTX.format(4, 8))),
    (KPROBE, 0, 0, "r2 = 0\n*(u64 *)(r1 +0) = r2\nr0 = 0\nexit", (E.EACCES, CTX.format(0, 8))),
    (KPROBE, 0, 0, "call bpf_get_current_pid_tgid\nexit", None),
    (KPROBE, 0, 0, "call bpf_skb_load_bytes\nexit",
     (E.EINVAL, "program of this type cannot use helper bpf_skb_load_bytes#26")),
    (KPROBE, 0, 0, "r0 = r1\nexit", None),
    (KPROBE, 0, SLEEPABLE, "r0 = 0\nexit", None),   # uprobe.s: kprobes may be sleepable
    (KPROBE, 56, 0, "r0 = 2\nexit",                 # BPF_TRACE_KPROBE_SESSION: [0, 1]
     (E.EINVAL, "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]")),
    (KPROBE, 56, 0, "r0 = 1\nexit", None),
    (TRACEPOINT, 0, 0, "r0 = *(u64 *)(r1 +8)\nexit", None),
    (TRACEPOINT, 0, 0, "r0 = *(u64 *)(r1 +0)\nexit", (E.EACCES, CTX.format(0, 8))),
    (TRACEPOINT, 0, 0, "r0 = *(u64 *)(r1 +8184)\nexit", None),
    (TRACEPOINT, 0, 0, "r0 = *(u64 *)(r1 +8192)\nexit", (E.EACCES, CTX.format(8192, 8))),
    (TRACEPOINT, 0, SLEEPABLE, "r0 = 0\nexit",
     (E.EINVAL, "Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable")),
    (RAW_TP, 0, 0, "r0 = *(u64 *)(r1 +88)\nexit", None),
    (RAW_TP, 0, 0, "r0 = *(u64 *)(r1 +96)\nexit", (E.EACCES, CTX.format(96, 8))),
    (RAW_TP, 0, 0, "r0 = *(u32 *)(r1 +4)\nexit", None),
    (RAW_TP_W, 0, 0, "r2 = *(u64 *)(r1 +0)\nr0 = *(u64 *)(r2 +0)\nexit", None),
    (RAW_TP_W, 0, 0, "r2 = *(u32 *)(r1 +0)\nr0 = 0\nexit", (E.EACCES, CTX.format(0, 4))),
    (RAW_TP_W, 0, 0, "r2 = *(u64 *)(r1 +0)\nr0 = *(u64 *)(r2 -8)\nexit",
     (E.EACCES, "R2 invalid tracepoint buffer access: off=-8, size=8")),
    (RAW_TP_W, 0, 0, "r2 = *(u64 *)(r1 +0)\nr3 = 7\n*(u64 *)(r2 +16) = r3\nr0 = 0\nexit", None),
    (PERF_EVENT, 0, 0, "r0 = *(u64 *)(r1 +168)\nexit", None),
    (PERF_EVENT, 0, 0, "r0 = *(u32 *)(r1 +172)\nexit", None),
    (PERF_EVENT, 0, 0, "r0 = *(u32 *)(r1 +0)\nexit", (E.EACCES, CTX.format(0, 4))),
    (PERF_EVENT, 0, 0, "r0 = *(u8 *)(r1 +177)\nexit", None),
    (PERF_EVENT, 0, 0, "r0 = *(u64 *)(r1 +184)\nexit", (E.EACCES, CTX.format(184, 8))),
    (PERF_EVENT, 0, 0, "call bpf_get_smp_processor_id\nexit", None),
]


def _ids(table: list) -> list[str]:
    return [f"{c[0]}:{c[1]}:{c[2]}:" + c[3].replace("\n", "; ") for c in table]


def _check(ptype: int, eat: int, flags: int, asm: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(asm), VerifierEnv(prog_type=ptype, expected_attach_type=eat, prog_flags=flags))
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == want, r.log


@pytest.mark.parametrize("ptype,eat,flags,asm,want", TRACING, ids=_ids(TRACING))
def test_tracing_contexts(ptype: int, eat: int, flags: int, asm: str, want: tuple[int, str] | None) -> None:
    _check(ptype, eat, flags, asm, want)


def _host_diff(ptype: int, eat: int, flags: int, asm: str) -> None:
    from emu.host.hostbpf import comparable_log
    from emu.host.verdict import host_load

    env = VerifierEnv(prog_type=ptype, expected_attach_type=eat, prog_flags=flags)
    m = verify(assemble(asm), env, log_level=2)
    h = host_load(assemble(asm), env, log_level=2)
    assert (m.accepted, m.errno if not m.accepted else 0) == (h.accepted, h.errno if not h.accepted else 0)

    def lines(log: str) -> list[str]:
        return [ln for ln in comparable_log(log).splitlines()
                if not ln.startswith(("processed ", "verification time"))]
    assert lines(m.log) == lines(h.log)


@pytest.mark.kernel
@pytest.mark.parametrize("ptype,eat,flags,asm,want", TRACING, ids=_ids(TRACING))
def test_tracing_contexts_on_the_host(ptype: int, eat: int, flags: int, asm: str, want: object) -> None:
    _host_diff(ptype, eat, flags, asm)


@pytest.mark.parametrize("ptype", [KPROBE, TRACEPOINT, PERF_EVENT, RAW_TP, RAW_TP_W])
def test_tracing_types_need_cap_perfmon(ptype: int) -> None:
    """bpf_prog_load: is_perfmon_prog_type without CAP_PERFMON is EPERM before the verifier."""
    r = verify(assemble("r0 = 0\nexit"), VerifierEnv(prog_type=ptype, privileged=False))
    assert (r.accepted, r.errno, r.log) == (False, E.EPERM, "")


def _facts_value(spec: facts.ArgSpec | facts.RetSpec) -> int:
    base = getattr(H, spec.base)
    for f in spec.flags:
        base |= getattr(R, f)
    return base


@pytest.mark.parametrize("symbol", sorted(MODELLED_SYMBOLS))
def test_modelled_symbols_are_the_kernels_prototypes(symbol: str) -> None:
    """Each kernel proto the verifier answers with its own prototype has the same
    arguments, return type and gpl_only in the kernel facts (else a helper would be
    checked against the wrong prototype)."""
    k = facts.proto(symbol)
    m = H.PROTOS[MODELLED_SYMBOLS[symbol]]
    assert tuple(_facts_value(a) for a in k.args) == m.args
    assert _facts_value(k.ret) == m.ret_type
    assert k.gpl_only == m.gpl_only
