"""The Linux 6.18 changes to the ``get_func_proto`` functions extracted from 6.12.

:mod:`.gen_func_proto` was read from a 6.12 tree; each function below edits
a copy of it the way 6.18's sources differ, with the reason. Every change
here was first seen as a disagreement between the 6.12 tables and the 6.18
host kernel (tools/check_helper_availability.py, which loads ``call N`` for
every helper and program type) and is kept only where the 6.18 behaviour is
explained.
"""

from __future__ import annotations

import copy

from . import gen_func_proto

__all__ = ["patched_fns", "CHANGES"]

#: (function, what changed, why) for the docs
CHANGES: list[tuple[str, str, str]] = []


def _switches(tree) -> list:  # type: ignore[no-untyped-def]
    """The ``switch (func_id)`` nodes of a tree, in source order."""
    out = []

    def walk(n):  # type: ignore[no-untyped-def]
        if isinstance(n, tuple) and n:
            if n[0] == "switch_func":
                out.append(n)
            for x in n[1:]:
                walk(x)
        elif isinstance(n, list):
            for x in n:
                walk(x)
    walk(tree)
    return out


def add_cases(fns: dict, fn: str, switch_index: int, cases: dict[str, str], why: str) -> None:
    """Insert ``case BPF_FUNC_<helper>: return &<proto>;`` before the default of
    the ``switch_index``-th ``switch (func_id)`` of ``fn``."""
    sw = _switches(fns[fn]["tree"])[switch_index]
    groups = sw[1]
    at = next((k for k, g in enumerate(groups) if "default" in g[0]), len(groups))
    for helper, proto in cases.items():
        remove_case(fns, fn, helper, None)
        groups.insert(at, ((helper,), (), [("return", ("proto", proto))]))
        at += 1
    CHANGES.append((fn, "adds " + ", ".join(f"{h} -> {p}" for h, p in cases.items()), why))


def remove_case(fns: dict, fn: str, helper: str, why: str | None) -> None:
    """Drop ``helper`` from every ``switch (func_id)`` of ``fn`` (so it falls to the default)."""
    for sw in _switches(fns[fn]["tree"]):
        groups = sw[1]
        for k, (labels, guard, body) in enumerate(list(groups)):
            if helper in labels:
                rest = tuple(x for x in labels if x != helper)
                if rest:
                    groups[k] = (rest, guard, body)
                else:
                    # keep C fall-through intact: an empty-label group with its body
                    groups[k] = ((), guard, body)
    if why:
        CHANGES.append((fn, f"drops {helper}", why))


def patched_fns() -> dict[str, dict]:
    """The 6.18 ``get_func_proto`` functions: the 6.12 trees with the changes applied."""
    fns = copy.deepcopy(gen_func_proto.FUNC_PROTO_FNS)
    # tuples are immutable: switch groups must be lists to edit them
    _listify(fns)
    CHANGES.clear()
    _apply_6_18(fns)
    return fns


def _listify(fns: dict) -> None:
    def conv(n):  # type: ignore[no-untyped-def]
        if isinstance(n, tuple) and n and n[0] in ("switch_func", "switch_attach"):
            return (n[0], [(labels, guard, [conv(s) for s in body]) for labels, guard, body in n[1]])
        if isinstance(n, tuple):
            return tuple(conv(x) if isinstance(x, (tuple, list)) else x for x in n)
        if isinstance(n, list):
            return [conv(x) for x in n]
        return n
    for f in fns.values():
        f["tree"] = conv(f["tree"])


def add_body(fns: dict, fn: str, switch_index: int, helper: str, body: list, why: str) -> None:
    """Like :func:`add_cases` with a statement list as the case body."""
    remove_case(fns, fn, helper, None)
    sw = _switches(fns[fn]["tree"])[switch_index]
    groups = sw[1]
    at = next((k for k, g in enumerate(groups) if "default" in g[0]), len(groups))
    groups.insert(at, ((helper,), (), body))
    CHANGES.append((fn, f"adds {helper} (conditional)", why))


def _ret(proto: str) -> tuple:
    return ("return", ("proto", proto))


#: helpers 6.18 serves from ``bpf_base_func_proto``'s CAP_PERFMON tier that 6.12 had only in
#: ``bpf_tracing_func_proto`` (so every program type reaches them through its base fallback)
_TRACE_TO_BASE_PERFMON = {
    "get_current_comm": "bpf_get_current_comm_proto",
    "perf_event_read": "bpf_perf_event_read_proto",
    "perf_event_read_value": "bpf_perf_event_read_value_proto",
    "send_signal": "bpf_send_signal_proto",
    "send_signal_thread": "bpf_send_signal_thread_proto",
    "copy_from_user": "bpf_copy_from_user_proto",
    "copy_from_user_task": "bpf_copy_from_user_task_proto",
    "get_branch_snapshot": "bpf_get_branch_snapshot_proto",
    "find_vma": "bpf_find_vma_proto",
}

#: 6.12 ``bpf_tracing_func_proto`` cases that 6.18 no longer has there: they fall through to
#: ``bpf_base_func_proto`` and so need CAP_PERFMON (a CAP_BPF-only syscall program is refused
#: them on 6.18, served on 6.12)
_LEAVE_TRACING = (
    "trace_printk", "perf_event_read", "get_current_task", "get_current_task_btf", "perf_event_read_value",
    "send_signal", "send_signal_thread", "probe_read_user", "probe_read_kernel", "probe_read_user_str",
    "probe_read_kernel_str", "get_task_stack", "copy_from_user", "copy_from_user_task", "snprintf_btf",
    "snprintf", "task_pt_regs", "get_branch_snapshot", "trace_vprintk", "find_vma", "get_current_comm",
    "get_current_uid_gid", "task_storage_get", "task_storage_delete", "current_task_under_cgroup",
    "per_cpu_ptr", "this_cpu_ptr",
)

HOST_SEEN = ("seen on the 6.18 host (tools/check_helper_availability.py, with and without "
             "CAP_PERFMON); the 6.18 source placement is reconstructed from that, not read")


def _apply_6_18(fns: dict) -> None:
    """The 6.18 differences, each established by the host sweep (see :data:`HOST_SEEN`)."""
    base = "bpf_base_func_proto"  # switches: 0 = everyone, 1 = CAP_BPF, 2 = CAP_PERFMON
    why_trace = "6.18: trace helpers available to all program types (bpf_base_func_proto); " + HOST_SEEN
    add_cases(fns, base, 2, _TRACE_TO_BASE_PERFMON, why_trace)
    add_body(fns, base, 2, "get_task_stack",
             [("return", ("cond", ("sleepable",), ("proto", "bpf_get_task_stack_sleepable_proto"),
                          ("proto", "bpf_get_task_stack_proto")))], why_trace)
    add_cases(fns, base, 2, {"per_cpu_ptr": "bpf_per_cpu_ptr_proto", "this_cpu_ptr": "bpf_this_cpu_ptr_proto"},
              "6.18: bpf_per_cpu_ptr/bpf_this_cpu_ptr need CAP_PERFMON (6.12: CAP_BPF); " + HOST_SEEN)
    add_cases(fns, base, 1, {"get_current_uid_gid": "bpf_get_current_uid_gid_proto"}, why_trace)
    add_body(fns, base, 1, "current_task_under_cgroup",
             [("guarded", ("CONFIG_CGROUPS",), _ret("bpf_current_task_under_cgroup_proto"))], why_trace)
    add_body(fns, base, 1, "get_cgroup_classid",
             [("guarded", ("CONFIG_CGROUP_NET_CLASSID",), _ret("bpf_get_cgroup_classid_curr_proto"))], why_trace)
    for h in ("task_storage_get", "task_storage_delete"):
        add_body(fns, base, 1, h, [("return", ("cond", ("pred", "recur"), ("proto", f"bpf_{h}_recur_proto"),
                                               ("proto", f"bpf_{h}_proto")))], why_trace)
    for h in _LEAVE_TRACING:
        remove_case(fns, "bpf_tracing_func_proto", h, None)
    CHANGES.append(("bpf_tracing_func_proto", "drops " + ", ".join(_LEAVE_TRACING),
                    "6.18: served by bpf_base_func_proto instead; " + HOST_SEEN))
    remove_case(fns, "cgroup_current_func_proto", "get_current_comm",
                "6.18: bpf_get_current_comm comes from bpf_base_func_proto (CAP_PERFMON): a cgroup "
                "program loaded without CAP_PERFMON is refused it; " + HOST_SEEN)
    remove_case(fns, "lwt_seg6local_func_proto", "skb_pull_data",
                "6.18: lwt_seg6local programs may call bpf_skb_pull_data (6.12 refused it); " + HOST_SEEN)
    for fn, proto in (("sk_filter_func_proto", "bpf_get_netns_cookie_proto"),
                      ("tc_cls_act_func_proto", "bpf_get_netns_cookie_proto"),
                      ("cg_skb_func_proto", "bpf_get_netns_cookie_proto")):
        add_cases(fns, fn, 0, {"get_netns_cookie": proto},
                  "6.18: bpf_get_netns_cookie for skb programs (socket filter, tc, cgroup skb); " + HOST_SEEN)
    _sock_addr_sockopt_unix(fns)


def _sock_addr_sockopt_unix(fns: dict) -> None:
    """6.18 sock_addr_func_proto: bpf_setsockopt/bpf_getsockopt also for the AF_UNIX
    getpeername/getsockname hooks (6.12 listed only the inet ones)."""
    for sw in _switches(fns["sock_addr_func_proto"]["tree"]):
        for labels, _guard, body in sw[1]:
            if "setsockopt" in labels or "getsockopt" in labels:
                for stmt in body:
                    inner = stmt[2] if stmt[0] == "guarded" else stmt
                    if inner[0] == "switch_attach":
                        for k, (alabels, aguard, abody) in enumerate(inner[1]):
                            if "BPF_CGROUP_INET4_GETPEERNAME" in alabels:
                                extra = ("BPF_CGROUP_UNIX_GETPEERNAME", "BPF_CGROUP_UNIX_GETSOCKNAME")
                                inner[1][k] = (alabels + tuple(x for x in extra if x not in alabels), aguard, abody)
    CHANGES.append(("sock_addr_func_proto", "setsockopt/getsockopt also for BPF_CGROUP_UNIX_GETPEERNAME and "
                    "BPF_CGROUP_UNIX_GETSOCKNAME", "6.18; " + HOST_SEEN))
