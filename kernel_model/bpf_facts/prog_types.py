"""Every ``enum bpf_prog_type`` of Linux 6.18: context types, ops, attach types, return range, test_run.

Per program type:

* the uapi context a program sees and the kernel object behind it
  (include/linux/bpf_types.h ``BPF_PROG_TYPE(type, name, ctx, kern_ctx)``) and
  the ``<name>_verifier_ops`` / ``<name>_prog_ops`` initialisers (their
  ``get_func_proto``, ``is_valid_access``, ``convert_ctx_access``,
  ``gen_prologue``, ``btf_struct_access`` and ``test_run`` members, as named
  in the 6.12 sources; :mod:`.gen_ops`);
* the ``expected_attach_type`` values ``bpf_prog_load_check_attach``
  (kernel/bpf/syscall.c) accepts (:data:`EXPECTED_ATTACH_TYPES`; types not
  listed take any value there);
* the return-value range ``check_return_code`` (kernel/bpf/verifier.c)
  enforces, per attach type where it differs (:data:`RETURN_RANGES`).

Partial (named in docs/kernel-facts.md): the context field tables of the
``is_valid_access`` functions and the ``convert_ctx_access`` targets are not
modelled here yet; :attr:`ProgTypeFacts.verifier_ops` names the functions
that define them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import gen_ops
from .enums import PROG_TYPES

__all__ = ["ProgTypeFacts", "PROG_FACTS", "EXPECTED_ATTACH_TYPES", "RETURN_RANGES", "return_range"]

#: kernel/bpf/syscall.c bpf_prog_load_check_attach (6.12; 6.18 the same for these types):
#: the expected_attach_type values a load may carry (others: EINVAL)
EXPECTED_ATTACH_TYPES: dict[str, tuple[str, ...]] = {
    "BPF_PROG_TYPE_CGROUP_SOCK": ("BPF_CGROUP_INET_SOCK_CREATE", "BPF_CGROUP_INET_SOCK_RELEASE",
                                  "BPF_CGROUP_INET4_POST_BIND", "BPF_CGROUP_INET6_POST_BIND"),
    "BPF_PROG_TYPE_CGROUP_SOCK_ADDR": (
        "BPF_CGROUP_INET4_BIND", "BPF_CGROUP_INET6_BIND", "BPF_CGROUP_INET4_CONNECT", "BPF_CGROUP_INET6_CONNECT",
        "BPF_CGROUP_UNIX_CONNECT", "BPF_CGROUP_INET4_GETPEERNAME", "BPF_CGROUP_INET6_GETPEERNAME",
        "BPF_CGROUP_UNIX_GETPEERNAME", "BPF_CGROUP_INET4_GETSOCKNAME", "BPF_CGROUP_INET6_GETSOCKNAME",
        "BPF_CGROUP_UNIX_GETSOCKNAME", "BPF_CGROUP_UDP4_SENDMSG", "BPF_CGROUP_UDP6_SENDMSG",
        "BPF_CGROUP_UNIX_SENDMSG", "BPF_CGROUP_UDP4_RECVMSG", "BPF_CGROUP_UDP6_RECVMSG",
        "BPF_CGROUP_UNIX_RECVMSG"),
    "BPF_PROG_TYPE_CGROUP_SKB": ("BPF_CGROUP_INET_INGRESS", "BPF_CGROUP_INET_EGRESS"),
    "BPF_PROG_TYPE_CGROUP_SOCKOPT": ("BPF_CGROUP_SETSOCKOPT", "BPF_CGROUP_GETSOCKOPT"),
    "BPF_PROG_TYPE_SK_LOOKUP": ("BPF_SK_LOOKUP",),
    "BPF_PROG_TYPE_SK_REUSEPORT": ("BPF_SK_REUSEPORT_SELECT", "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE"),
    "BPF_PROG_TYPE_NETFILTER": ("BPF_NETFILTER",),
}

#: kernel/bpf/verifier.c check_return_code (6.12/6.18): (prog type, attach type or None) ->
#: (smin, smax) of R0 at exit; None = not checked. Narrower cases first.
RETURN_RANGES: dict[tuple[str, str | None], tuple[int, int] | None] = {
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP4_RECVMSG"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP6_RECVMSG"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_RECVMSG"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_GETPEERNAME"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_GETPEERNAME"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_GETPEERNAME"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_GETSOCKNAME"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_GETSOCKNAME"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_GETSOCKNAME"): (1, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_BIND"): (0, 3),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_BIND"): (0, 3),
    ("BPF_PROG_TYPE_CGROUP_SOCK_ADDR", None): (0, 1),
    ("BPF_PROG_TYPE_CGROUP_SKB", "BPF_CGROUP_INET_EGRESS"): (0, 3),
    ("BPF_PROG_TYPE_CGROUP_SKB", None): (0, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCK", None): (0, 1),
    ("BPF_PROG_TYPE_SOCK_OPS", None): (0, 1),
    ("BPF_PROG_TYPE_CGROUP_DEVICE", None): (0, 1),
    ("BPF_PROG_TYPE_CGROUP_SYSCTL", None): (0, 1),
    ("BPF_PROG_TYPE_CGROUP_SOCKOPT", None): (0, 1),
    ("BPF_PROG_TYPE_RAW_TRACEPOINT", None): None,
    ("BPF_PROG_TYPE_TRACING", "BPF_TRACE_FENTRY"): (0, 0),
    ("BPF_PROG_TYPE_TRACING", "BPF_TRACE_FEXIT"): (0, 0),
    # tp_btf: check_return_code returns 0 early (any value; the 6.18 host loads r0 = 1 and -2)
    ("BPF_PROG_TYPE_TRACING", "BPF_TRACE_RAW_TP"): None,
    ("BPF_PROG_TYPE_TRACING", "BPF_MODIFY_RETURN"): None,
    ("BPF_PROG_TYPE_TRACING", "BPF_TRACE_ITER"): (0, 1),
    ("BPF_PROG_TYPE_SK_LOOKUP", None): (0, 1),  # SK_DROP, SK_PASS
    ("BPF_PROG_TYPE_LSM", "BPF_LSM_CGROUP"): (0, 1),
    ("BPF_PROG_TYPE_LSM", None): (-4095, 0),  # -MAX_ERRNO..0 for int hooks (void hooks: unchecked)
    ("BPF_PROG_TYPE_NETFILTER", None): (0, 1),  # NF_DROP, NF_ACCEPT
    ("BPF_PROG_TYPE_KPROBE", "BPF_TRACE_KPROBE_SESSION"): (0, 1),
    ("BPF_PROG_TYPE_KPROBE", "BPF_TRACE_UPROBE_SESSION"): (0, 1),
    ("BPF_PROG_TYPE_KPROBE", None): None,
    ("BPF_PROG_TYPE_SYSCALL", None): None,
    ("BPF_PROG_TYPE_EXT", None): None,
}


def return_range(prog_type: str, attach: str | None) -> tuple[int, int] | None:
    """check_return_code's range for R0 (None: any scalar is accepted, or the rule is the
    struct_ops member's return type). Program types not in :data:`RETURN_RANGES` are unchecked."""
    if (prog_type, attach) in RETURN_RANGES:
        return RETURN_RANGES[(prog_type, attach)]
    return RETURN_RANGES.get((prog_type, None))


@dataclass(frozen=True, slots=True)
class ProgTypeFacts:
    """One program type (Linux 6.18)."""

    name: str
    id: int
    #: include/linux/bpf_types.h: the ``name`` prefix of its ops (None: registered elsewhere)
    ops_name: str | None
    #: the uapi context (``struct __sk_buff``) and the kernel one behind it
    ctx: str | None
    kern_ctx: str | None
    #: the members of ``<name>_verifier_ops`` (function names, 6.12)
    verifier_ops: dict[str, str]
    #: BPF_PROG_TEST_RUN: the ``<name>_prog_ops.test_run`` function, None if none
    test_run: str | None
    config: tuple[str, ...] = ()

    @property
    def get_func_proto(self) -> str | None:
        return self.verifier_ops.get("get_func_proto")

    @property
    def expected_attach_types(self) -> tuple[str, ...] | None:
        """The attach types a load may carry (None: bpf_prog_load_check_attach takes any)."""
        return EXPECTED_ATTACH_TYPES.get(self.name)


def _build() -> dict[str, ProgTypeFacts]:
    # the generated tables are heterogeneous dicts (mypy infers their values as ``object``)
    prog_types: list[dict[str, Any]] = gen_ops.prog_types
    by_type = {e["type"]: e for e in prog_types}
    verifier_ops: dict[str, dict[str, Any]] = gen_ops.verifier_ops
    prog_ops: dict[str, dict[str, Any]] = gen_ops.prog_ops
    out = {}
    for name, pid in PROG_TYPES.items():
        if pid == 0:
            continue
        e = by_type.get(name)
        if e is None and name == "BPF_PROG_TYPE_NETFILTER":
            # net/netfilter/nf_bpf_link.c registers it; context struct bpf_nf_ctx
            e = {"name": "netfilter", "ctx": "struct bpf_nf_ctx", "kctx": "struct bpf_nf_ctx", "config": []}
        if e is None:
            out[name] = ProgTypeFacts(name, pid, None, None, None, {}, None)
            continue
        vops = verifier_ops.get(f"{e['name']}_verifier_ops", {}).get("fields", {})
        pops = prog_ops.get(f"{e['name']}_prog_ops", {}).get("fields", {})
        out[name] = ProgTypeFacts(name, pid, e["name"], e["ctx"], e["kctx"], dict(vops), pops.get("test_run"),
                                  tuple(e.get("config", ())))
    return out


#: every program type of 6.18 (UNSPEC excluded)
PROG_FACTS: dict[str, ProgTypeFacts] = _build()
