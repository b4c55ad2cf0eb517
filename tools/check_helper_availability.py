#!/usr/bin/env python3
"""Compare the model's helper availability with the host kernel, helper by helper.

For each program context in :data:`CONTEXTS` (program type, expected attach
type, sleepable, attach target) and each helper id 1..211, load on the host
``call N; r0 = 0; exit`` (arguments left unset, so once the helper is
available the verifier stops at the argument check, e.g. ``R1 !read_ok``)
and read the verdict: ``program of this type cannot use helper`` means the
program type's ``get_func_proto`` said no; any other outcome means it said
yes. The model answers the same question with
:func:`kernel_model.bpf_facts.func_proto.get_func_proto`. Programs are only
verified (``BPF_PROG_LOAD``), never attached.

Contexts the host refuses before the verifier runs (this host's policy
refuses fentry/fexit/LSM/EXT loads with EPERM and an empty log) are reported
as "host cannot check".

Usage: ``python tools/check_helper_availability.py [--json OUT] [--only PROG_TYPE]``
Prints one line per context and the mismatches; exit 0 if all agree, 1 if not.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernel_model.bpf_facts.enums import ATTACH_TYPES, PROG_TYPES  # noqa: E402
from kernel_model.bpf_facts.func_proto import MODEL_CONFIG, NotModelled, ProgContext, get_func_proto  # noqa: E402
from kernel_model.helper_ids import HELPER_NAMES  # noqa: E402


@dataclass(frozen=True)
class Case:
    """A program context to check: the model's :class:`ProgContext` and what the
    host load needs (``btf`` = (name, kind) of the attach_btf_id; ``member`` for struct_ops)."""

    label: str
    ctx: ProgContext
    btf: tuple[str, str] | None = None
    member: str | None = None


def _c(pt: str, at: str | None = None, **kw) -> Case:  # type: ignore[no-untyped-def]
    btf = kw.pop("btf", None)
    member = kw.pop("member", None)
    label = pt.removeprefix("BPF_PROG_TYPE_").lower() + (f"/{at.removeprefix('BPF_')}" if at else "")
    if kw.get("sleepable"):
        label += "/sleepable"
    if kw.get("attach_target"):
        label += f"[{kw['attach_target']}]"
    return Case(label, ProgContext(pt, at, **kw), btf, member)


#: the contexts the sweep covers (each loadable program type, the attach types that change the answer)
CONTEXTS: list[Case] = [
    _c("BPF_PROG_TYPE_SOCKET_FILTER"),
    _c("BPF_PROG_TYPE_KPROBE"),
    _c("BPF_PROG_TYPE_KPROBE", "BPF_TRACE_KPROBE_MULTI"),
    _c("BPF_PROG_TYPE_KPROBE", "BPF_TRACE_KPROBE_SESSION"),
    _c("BPF_PROG_TYPE_KPROBE", "BPF_TRACE_UPROBE_MULTI"),
    _c("BPF_PROG_TYPE_KPROBE", "BPF_TRACE_UPROBE_MULTI", sleepable=True),
    _c("BPF_PROG_TYPE_SCHED_CLS"),
    _c("BPF_PROG_TYPE_SCHED_ACT"),
    _c("BPF_PROG_TYPE_TRACEPOINT"),
    _c("BPF_PROG_TYPE_XDP"),
    _c("BPF_PROG_TYPE_XDP", "BPF_XDP_DEVMAP"),
    _c("BPF_PROG_TYPE_PERF_EVENT"),
    _c("BPF_PROG_TYPE_CGROUP_SKB", "BPF_CGROUP_INET_INGRESS"),
    _c("BPF_PROG_TYPE_CGROUP_SKB", "BPF_CGROUP_INET_EGRESS"),
    _c("BPF_PROG_TYPE_CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_CREATE"),
    _c("BPF_PROG_TYPE_CGROUP_SOCK", "BPF_CGROUP_INET4_POST_BIND"),
    _c("BPF_PROG_TYPE_CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_RELEASE"),
    _c("BPF_PROG_TYPE_LWT_IN"),
    _c("BPF_PROG_TYPE_LWT_OUT"),
    _c("BPF_PROG_TYPE_LWT_XMIT"),
    _c("BPF_PROG_TYPE_SOCK_OPS"),
    _c("BPF_PROG_TYPE_SK_SKB", "BPF_SK_SKB_STREAM_PARSER"),
    _c("BPF_PROG_TYPE_SK_SKB", "BPF_SK_SKB_STREAM_VERDICT"),
    _c("BPF_PROG_TYPE_CGROUP_DEVICE", "BPF_CGROUP_DEVICE"),
    _c("BPF_PROG_TYPE_SK_MSG", "BPF_SK_MSG_VERDICT"),
    _c("BPF_PROG_TYPE_RAW_TRACEPOINT"),
    *[_c("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", at) for at in (
        "BPF_CGROUP_INET4_BIND", "BPF_CGROUP_INET6_BIND", "BPF_CGROUP_INET4_CONNECT", "BPF_CGROUP_INET6_CONNECT",
        "BPF_CGROUP_UNIX_CONNECT", "BPF_CGROUP_UDP4_SENDMSG", "BPF_CGROUP_UDP6_SENDMSG",
        "BPF_CGROUP_UNIX_SENDMSG", "BPF_CGROUP_UDP4_RECVMSG", "BPF_CGROUP_UDP6_RECVMSG",
        "BPF_CGROUP_UNIX_RECVMSG", "BPF_CGROUP_INET4_GETPEERNAME", "BPF_CGROUP_INET6_GETPEERNAME",
        "BPF_CGROUP_UNIX_GETPEERNAME", "BPF_CGROUP_INET4_GETSOCKNAME", "BPF_CGROUP_INET6_GETSOCKNAME",
        "BPF_CGROUP_UNIX_GETSOCKNAME")],
    _c("BPF_PROG_TYPE_LWT_SEG6LOCAL"),
    _c("BPF_PROG_TYPE_LIRC_MODE2", "BPF_LIRC_MODE2"),
    _c("BPF_PROG_TYPE_SK_REUSEPORT", "BPF_SK_REUSEPORT_SELECT"),
    _c("BPF_PROG_TYPE_SK_REUSEPORT", "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE"),
    _c("BPF_PROG_TYPE_FLOW_DISSECTOR", "BPF_FLOW_DISSECTOR"),
    _c("BPF_PROG_TYPE_CGROUP_SYSCTL", "BPF_CGROUP_SYSCTL"),
    _c("BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE"),
    _c("BPF_PROG_TYPE_CGROUP_SOCKOPT", "BPF_CGROUP_GETSOCKOPT"),
    _c("BPF_PROG_TYPE_CGROUP_SOCKOPT", "BPF_CGROUP_SETSOCKOPT"),
    _c("BPF_PROG_TYPE_TRACING", "BPF_TRACE_RAW_TP", btf=("btf_trace_sched_switch", "typedef")),
    _c("BPF_PROG_TYPE_TRACING", "BPF_TRACE_ITER", attach_target="task", btf=("bpf_iter_task", "func")),
    _c("BPF_PROG_TYPE_TRACING", "BPF_TRACE_ITER", attach_target="task", sleepable=True,
       btf=("bpf_iter_task", "func")),
    _c("BPF_PROG_TYPE_TRACING", "BPF_TRACE_ITER", attach_target="tcp", btf=("bpf_iter_tcp", "func")),
    _c("BPF_PROG_TYPE_TRACING", "BPF_TRACE_ITER", attach_target="unix", btf=("bpf_iter_unix", "func")),
    _c("BPF_PROG_TYPE_TRACING", "BPF_TRACE_FENTRY", btf=("bpf_fentry_test1", "func")),
    _c("BPF_PROG_TYPE_LSM", "BPF_LSM_MAC", btf=("bpf_lsm_file_open", "func")),
    _c("BPF_PROG_TYPE_STRUCT_OPS", attach_target="tcp_congestion_ops.ssthresh",
       btf=("tcp_congestion_ops", "struct"), member="ssthresh"),
    _c("BPF_PROG_TYPE_STRUCT_OPS", attach_target="tcp_congestion_ops.release",
       btf=("tcp_congestion_ops", "struct"), member="release"),
    _c("BPF_PROG_TYPE_STRUCT_OPS", attach_target="bpf_dummy_ops.test_1",
       btf=("bpf_dummy_ops", "struct"), member="test_1"),
    _c("BPF_PROG_TYPE_SK_LOOKUP", "BPF_SK_LOOKUP"),
    _c("BPF_PROG_TYPE_SYSCALL"),
    _c("BPF_PROG_TYPE_SYSCALL", sleepable=True),
    _c("BPF_PROG_TYPE_NETFILTER", "BPF_NETFILTER"),
]


def _insns(func_id: int) -> bytes:
    return struct.pack("<BBhi", 0x85, 0, 0, func_id) + bytes.fromhex("b700000000000000" "9500000000000000")


@lru_cache(maxsize=1)
def _vmlinux():  # type: ignore[no-untyped-def]
    from kernel_model.btf import load

    return load("/sys/kernel/btf/vmlinux", validate=False)


def _btf_id(name: str, kind: str) -> tuple[int, int]:
    """(type id, member index) of ``name`` in the host BTF."""
    from kernel_model.btf import structs as S

    kinds = {"struct": S.KIND_STRUCT, "func": S.KIND_FUNC, "typedef": S.KIND_TYPEDEF}
    tid = _vmlinux().find(name, kinds[kind])
    if tid is None:
        raise LookupError(f"{kind} {name} is not in the host's BTF")
    return tid, 0


def _member_index(struct_name: str, member: str) -> int:
    from kernel_model.btf import structs as S

    t = _vmlinux().get(struct_name, S.KIND_STRUCT)
    for i, m in enumerate(t.members):
        if m.name == member:
            return i
    raise LookupError(f"{struct_name}.{member} is not in the host's BTF")


def host_verdict(case: Case, func_id: int) -> tuple[str, str]:
    """``("yes"|"no"|"cannot", detail)``: may a program of ``case`` call helper ``func_id`` on the host."""
    from emu.host.hostbpf import BPF_F_SLEEPABLE, prog_load

    ctx = case.ctx
    at = ATTACH_TYPES[ctx.expected_attach_type] if ctx.expected_attach_type else 0
    attach_btf_id = 0
    if case.btf:
        try:
            attach_btf_id, _ = _btf_id(*case.btf)
        except LookupError as e:
            return "cannot", str(e)
        if case.member:
            at = _member_index(case.btf[0], case.member)
    r = prog_load(PROG_TYPES[ctx.prog_type], _insns(func_id), expected_attach_type=at,
                  attach_btf_id=attach_btf_id, prog_flags=BPF_F_SLEEPABLE if ctx.sleepable else 0,
                  log_level=1, log_size=1 << 16)
    accepted = r.accepted
    r.close()
    if "cannot use helper" in r.log or "invalid func" in r.log:
        return "no", r.error_line() or ""
    if not r.log.strip():
        return "cannot", f"errno {r.errno_name} before the verifier ran (empty log)"
    if accepted or "(85) call" in r.log:
        return "yes", r.error_line() or "accepted"
    return "cannot", f"refused before the call was checked: {r.error_line()}"


def host_config() -> frozenset[str]:
    """The host's CONFIG_* set (/proc/config.gz), restricted to the options the model reads."""
    import gzip

    try:
        text = gzip.open("/proc/config.gz", "rt").read()
    except OSError:
        return MODEL_CONFIG
    on = {line.split("=")[0] for line in text.splitlines() if line.endswith(("=y", "=m"))}
    from kernel_model.bpf_facts.gen_func_proto import FUNC_PROTO_FNS  # noqa: F401

    return frozenset(on)


def model_verdict(case: Case, func_id: int, config: frozenset[str]) -> tuple[str, str]:
    from dataclasses import replace

    try:
        ans = get_func_proto(func_id, replace(case.ctx, config=config))
    except NotModelled as e:
        return "not modelled", str(e)
    return ("yes" if ans.symbol else "no"), ans.symbol or ""


def drop_perfmon() -> None:
    """capset(): drop CAP_SYS_ADMIN (21) and CAP_PERFMON (38) from this process, keep CAP_BPF
    and CAP_NET_ADMIN: ``bpf_base_func_proto``'s CAP_PERFMON tier then answers no."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    hb = ctypes.create_string_buffer(struct.pack("<Ii", 0x20080522, 0), 8)
    data = (ctypes.c_uint32 * 6)()
    if libc.capget(hb, data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    eff = (data[0] | (data[3] << 32)) & ~((1 << 21) | (1 << 38))
    data[0], data[3] = eff & 0xFFFFFFFF, eff >> 32
    data[1], data[4] = data[0], data[3]
    if libc.capset(hb, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def host_lockdown() -> frozenset[str]:
    """The lockdown reasons the host refuses, as far as helper availability shows them.
    securityfs (/sys/kernel/security/lockdown) is read when mounted; otherwise inferred
    from one probe: a kprobe program refused ``bpf_probe_write_user`` means
    LOCKDOWN_BPF_WRITE_USER (the integrity level) is in force. The inferred case makes
    that helper's own comparison circular; the report says so."""
    try:
        text = Path("/sys/kernel/security/lockdown").read_text()
        level = text[text.index("[") + 1:text.index("]")]
        return {"none": frozenset(), "integrity": frozenset({"LOCKDOWN_BPF_WRITE_USER"}),
                "confidentiality": frozenset({"LOCKDOWN_BPF_WRITE_USER", "LOCKDOWN_BPF_READ_KERNEL"})}[level]
    except (OSError, ValueError, KeyError):
        pass
    verdict, _ = host_verdict(_c("BPF_PROG_TYPE_KPROBE"), 36)
    return frozenset({"LOCKDOWN_BPF_WRITE_USER"}) if verdict == "no" else frozenset()


def sweep(cases: list[Case], ids: range | list[int] = range(1, len(HELPER_NAMES)),
          caps: frozenset[str] | None = None, lockdown: frozenset[str] | None = None) -> dict:
    from dataclasses import replace

    config = host_config()
    if lockdown is None:
        lockdown = host_lockdown()
    cases = [replace(c, ctx=replace(c.ctx, lockdown=lockdown, caps=caps if caps is not None else c.ctx.caps))
             for c in cases]
    report: dict = {"contexts": [], "mismatches": [], "lockdown": sorted(lockdown)}
    for case in cases:
        agree = cannot = 0
        mism = []
        first_cannot = ""
        for fid in ids:
            hv, hd = host_verdict(case, fid)
            if hv == "cannot":
                cannot += 1
                first_cannot = first_cannot or hd
                continue
            mv, md = model_verdict(case, fid, config)
            if hv == mv:
                agree += 1
            else:
                mism.append({"context": case.label, "helper": f"bpf_{HELPER_NAMES[fid]}#{fid}", "host": hv,
                             "model": mv, "host_detail": hd, "model_detail": md})
        report["contexts"].append({"context": case.label, "agree": agree, "mismatch": len(mism),
                                   "host_cannot_check": cannot, "why_cannot": first_cannot})
        report["mismatches"].extend(mism)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the full report here")
    ap.add_argument("--only", help="only contexts whose label contains this text")
    ap.add_argument("--no-perfmon", action="store_true",
                    help="drop CAP_PERFMON and CAP_SYS_ADMIN first (CAP_BPF and CAP_NET_ADMIN kept)")
    args = ap.parse_args(argv)
    from emu.host.hostbpf import oracle_status

    ok, why = oracle_status()
    if not ok:
        print(f"check_helper_availability: host kernel unavailable: {why}", file=sys.stderr)
        return 3
    caps = None
    lockdown = host_lockdown()  # before dropping capabilities (the probe loads a kprobe program)
    if args.no_perfmon:
        drop_perfmon()
        caps = frozenset({"CAP_BPF", "CAP_NET_ADMIN"})
    cases = [c for c in CONTEXTS if not args.only or args.only in c.label]
    rep = sweep(cases, caps=caps, lockdown=lockdown)
    tot_a = tot_m = tot_c = 0
    for c in rep["contexts"]:
        tot_a += c["agree"]
        tot_m += c["mismatch"]
        tot_c += c["host_cannot_check"]
        extra = f"  (host cannot check: {c['why_cannot']})" if c["host_cannot_check"] else ""
        print(f"{c['context']:48} agree {c['agree']:4}  mismatch {c['mismatch']:3}{extra}")
    for m in rep["mismatches"]:
        print(f"MISMATCH {m['context']:40} {m['helper']:36} host={m['host']:4} model={m['model']:4} "
              f"{m['model_detail'] or m['host_detail']}")
    print(f"host lockdown (for bpf_probe_write_user/bpf_probe_read_kernel): {rep['lockdown'] or 'none'}")
    print(f"total: {tot_a} agree, {tot_m} mismatch, {tot_c} host cannot check "
          f"({len(rep['contexts'])} contexts x {len(HELPER_NAMES) - 1} helpers)")
    if args.json:
        args.json.write_text(json.dumps(rep, indent=1))
    return 0 if tot_m == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
