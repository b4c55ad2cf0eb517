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
    assert (k.gpl_only, k.pkt_access, k.might_sleep) == (m.gpl_only, m.pkt_access, m.might_sleep)


TC, ACT, XDP, CGROUP_SKB = 3, 4, 6, 8
#: direct packet access and the __sk_buff / xdp_md contexts: (prog type, expected_attach_type,
#: prog_flags, program, host answer), answers read off the 6.18 host (whole level-2 logs equal)
PACKET = [
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +13)\nexit\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +14)\nexit\nr0 = 0\nexit',
     (13, 'R2 offset is outside of the packet')),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr0 = *(u8 *)(r2 +0)\nexit',
     (13, 'R2 offset is outside of the packet')),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r3 < r4 goto +2\nr0 = *(u16 *)(r2 +12)\nexit\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 >= r3 goto +2\nr0 = *(u32 *)(r2 +10)\nexit\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 >= r3 goto +2\nr0 = *(u32 *)(r2 +11)\nexit\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 <= r3 goto +2\nr0 = 0\nexit\nr5 = 1\n*(u8 *)(r2 +0) = r5\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 8\nif r4 > r3 goto +3\nr5 = r2\n*(u64 *)(r2 +0) = r5\nr0 = 0\nexit\nr0 = 0\nexit',
     (22, 'unreachable insn 9')),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +140)\nr3 = *(u32 *)(r1 +76)\nr4 = r2\nr4 += 4\nif r4 > r3 goto +2\nr0 = *(u32 *)(r2 +0)\nexit\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r0 = *(u32 *)(r1 +88)\nexit',
     (13, 'invalid bpf_context access off=88 size=4')),
    (3, 0, 0, 'r0 = *(u8 *)(r1 +180)\nexit',
     None),
    (3, 0, 0, 'r2 = 1\n*(u32 *)(r1 +8) = r2\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r2 = 1\n*(u32 *)(r1 +0) = r2\nr0 = 0\nexit',
     (13, 'invalid bpf_context access off=0 size=4')),
    (3, 0, 0, 'r0 = *(u16 *)(r1 +76)\nexit',
     (13, 'invalid bpf_context access off=76 size=2')),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +1\nif r4 > r3 goto +2\nr0 = 0\nexit\nr0 = 1\nexit',
     None),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +6\nr5 = *(u8 *)(r2 +0)\nr2 += r5\nr6 = r2\nr6 += 1\nif r6 > r3 goto +1\nr0 = *(u8 *)(r2 +0)\nr0 = 0\nexit',
     None),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = 8\nr2 += r4\nr0 = *(u8 *)(r2 -1)\nexit',
     (13, 'R2 offset is outside of the packet')),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 8\nif r4 > r3 goto +4\n*(u64 *)(r10 -8) = r2\nr1 = 0\nr2 = r10\nr2 += -8\nr0 = 0\nexit',
     None),
    (4, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 1\nif r4 > r3 goto +1\nr0 = *(u8 *)(r2 +0)\nr0 = 0\nexit',
     None),
    (6, 37, 0, 'r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +13)\nexit\nr0 = 2\nexit',
     None),
    (6, 37, 0, 'r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +14)\nexit\nr0 = 2\nexit',
     (13, 'R2 offset is outside of the packet')),
    (6, 37, 0, 'r0 = *(u32 *)(r1 +20)\nexit',
     (13, 'invalid bpf_context access off=20 size=4')),
    (6, 33, 0, 'r0 = *(u32 *)(r1 +20)\nexit',
     None),
    (6, 37, 0, 'r0 = *(u16 *)(r1 +12)\nexit',
     (13, 'invalid bpf_context access off=12 size=2')),
    (6, 37, 0, 'r2 = 1\n*(u32 *)(r1 +16) = r2\nr0 = 0\nexit',
     (13, 'invalid bpf_context access off=16 size=4')),
    (6, 37, 0, 'r2 = *(u32 *)(r1 +8)\nr3 = *(u32 *)(r1 +0)\nr4 = r2\nr4 += 4\nif r4 > r3 goto +2\nr0 = *(u32 *)(r2 +0)\nexit\nr0 = 2\nexit',
     None),
    (8, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 1\nif r4 > r3 goto +2\nr0 = *(u8 *)(r2 +0)\nr0 &= 1\nexit\nr0 = 1\nexit',
     (22, 'unreachable insn 8')),
    (8, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 1\nif r4 > r3 goto +3\nr5 = 1\n*(u8 *)(r2 +0) = r5\nr0 = 1\nexit',
     (13, 'cannot write into packet')),
    (8, 0, 0, 'r0 = 2\nexit',
     (22, 'At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]')),
    (8, 1, 0, 'r0 = 3\nexit',
     None),
    (8, 1, 0, 'r0 = 4\nexit',
     (22, 'At program exit the register R0 has smin=4 smax=4 should have been in [0, 3]')),
    (8, 0, 0, 'r0 = *(u32 *)(r1 +140)\nexit',
     (13, 'invalid bpf_context access off=140 size=4')),
    (8, 5, 0, 'r0 = 1\nexit',
     (22, None)),
    (3, 0, 0, 'r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +3\nr1 = 0\nr2 = r2\ncall bpf_map_lookup_elem\nr0 = 0\nexit',
     (13, 'R1 type=scalar expected=map_ptr')),
]


@pytest.mark.parametrize("ptype,eat,flags,asm,want", PACKET, ids=_ids(PACKET))
def test_packet_access(ptype: int, eat: int, flags: int, asm: str, want: tuple[int, str] | None) -> None:
    _check(ptype, eat, flags, asm, want)


@pytest.mark.kernel
@pytest.mark.parametrize("ptype,eat,flags,asm,want", PACKET, ids=_ids(PACKET))
def test_packet_access_on_the_host(ptype: int, eat: int, flags: int, asm: str, want: object) -> None:
    _host_diff(ptype, eat, flags, asm)
