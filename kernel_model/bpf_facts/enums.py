"""The kernel's BPF enums, with the values of Linux 6.18.

* ``enum bpf_prog_type``, ``enum bpf_map_type``, ``enum bpf_attach_type``
  (uapi ``include/uapi/linux/bpf.h``);
* ``enum bpf_type_flag``, ``enum bpf_arg_type``, ``enum bpf_return_type``
  (``include/linux/bpf.h``): a helper argument or return type is a base type
  in the low ``BPF_BASE_TYPE_BITS`` (8) bits OR-ed with type flags above them.

Differences between 6.12 and 6.18 that change values (read from the 6.18
kernel's own BTF, ``/sys/kernel/btf/vmlinux``, where these enums are types):
``ARG_SCALAR`` is gone from ``enum bpf_arg_type`` (6.12 had it at 10, so
every later base arg type moved down by one: ``ARG_PTR_TO_SPIN_LOCK`` is 10
in 6.18), and ``enum bpf_type_flag`` gained ``DYNPTR_TYPE_SKB_META`` (bit
19 + 8, for ``bpf_dynptr_from_skb_meta``). tests/kernel_model/test_bpf_facts_enums.py
compares every value here with the running kernel's BTF.
"""

from __future__ import annotations

__all__ = [
    "BPF_BASE_TYPE_BITS", "BASE_TYPE_MASK", "TYPE_FLAGS", "ARG_TYPES", "ARG_TYPE_ALIASES", "RET_TYPES",
    "RET_TYPE_ALIASES", "PROG_TYPES", "MAP_TYPES", "ATTACH_TYPES", "type_value", "split_type",
    "type_name", "prog_type_id", "map_type_id", "attach_type_id", "PROG_TYPE_ENUMERATORS", "MAP_TYPE_ENUMERATORS",
    "ATTACH_TYPE_ENUMERATORS",
]

BPF_BASE_TYPE_BITS = 8
BASE_TYPE_MASK = (1 << BPF_BASE_TYPE_BITS) - 1

#: enum bpf_type_flag: name -> value (bit n + 8), include/linux/bpf.h (6.18)
TYPE_FLAGS: dict[str, int] = {name: 1 << (i + BPF_BASE_TYPE_BITS) for i, name in enumerate((
    "PTR_MAYBE_NULL", "MEM_RDONLY", "MEM_RINGBUF", "MEM_USER", "MEM_PERCPU", "OBJ_RELEASE", "PTR_UNTRUSTED",
    "MEM_UNINIT", "DYNPTR_TYPE_LOCAL", "DYNPTR_TYPE_RINGBUF", "MEM_FIXED_SIZE", "MEM_ALLOC", "PTR_TRUSTED",
    "MEM_RCU", "NON_OWN_REF", "DYNPTR_TYPE_SKB", "DYNPTR_TYPE_XDP", "MEM_ALIGNED", "MEM_WRITE",
    "DYNPTR_TYPE_SKB_META",  # 6.18 (not in 6.12)
))}

#: enum bpf_arg_type base values (6.18: no ARG_SCALAR)
ARG_TYPES: dict[str, int] = {name: i for i, name in enumerate((
    "ARG_DONTCARE", "ARG_CONST_MAP_PTR", "ARG_PTR_TO_MAP_KEY", "ARG_PTR_TO_MAP_VALUE", "ARG_PTR_TO_MEM",
    "ARG_PTR_TO_ARENA", "ARG_CONST_SIZE", "ARG_CONST_SIZE_OR_ZERO", "ARG_PTR_TO_CTX", "ARG_ANYTHING",
    "ARG_PTR_TO_SPIN_LOCK", "ARG_PTR_TO_SOCK_COMMON", "ARG_PTR_TO_SOCKET", "ARG_PTR_TO_BTF_ID",
    "ARG_PTR_TO_RINGBUF_MEM", "ARG_CONST_ALLOC_SIZE_OR_ZERO", "ARG_PTR_TO_BTF_ID_SOCK_COMMON",
    "ARG_PTR_TO_PERCPU_BTF_ID", "ARG_PTR_TO_FUNC", "ARG_PTR_TO_STACK", "ARG_PTR_TO_CONST_STR",
    "ARG_PTR_TO_TIMER", "ARG_KPTR_XCHG_DEST", "ARG_PTR_TO_DYNPTR",
))}

#: the extended arg types: base | flags
ARG_TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "ARG_PTR_TO_MAP_VALUE_OR_NULL": ("PTR_MAYBE_NULL", "ARG_PTR_TO_MAP_VALUE"),
    "ARG_PTR_TO_MEM_OR_NULL": ("PTR_MAYBE_NULL", "ARG_PTR_TO_MEM"),
    "ARG_PTR_TO_CTX_OR_NULL": ("PTR_MAYBE_NULL", "ARG_PTR_TO_CTX"),
    "ARG_PTR_TO_SOCKET_OR_NULL": ("PTR_MAYBE_NULL", "ARG_PTR_TO_SOCKET"),
    "ARG_PTR_TO_STACK_OR_NULL": ("PTR_MAYBE_NULL", "ARG_PTR_TO_STACK"),
    "ARG_PTR_TO_BTF_ID_OR_NULL": ("PTR_MAYBE_NULL", "ARG_PTR_TO_BTF_ID"),
    "ARG_PTR_TO_UNINIT_MEM": ("MEM_UNINIT", "MEM_WRITE", "ARG_PTR_TO_MEM"),
    "ARG_PTR_TO_FIXED_SIZE_MEM": ("MEM_FIXED_SIZE", "ARG_PTR_TO_MEM"),
}

#: enum bpf_return_type base values
RET_TYPES: dict[str, int] = {name: i for i, name in enumerate((
    "RET_INTEGER", "RET_VOID", "RET_PTR_TO_MAP_VALUE", "RET_PTR_TO_SOCKET", "RET_PTR_TO_TCP_SOCK",
    "RET_PTR_TO_SOCK_COMMON", "RET_PTR_TO_MEM", "RET_PTR_TO_MEM_OR_BTF_ID", "RET_PTR_TO_BTF_ID",
))}

RET_TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "RET_PTR_TO_MAP_VALUE_OR_NULL": ("PTR_MAYBE_NULL", "RET_PTR_TO_MAP_VALUE"),
    "RET_PTR_TO_SOCKET_OR_NULL": ("PTR_MAYBE_NULL", "RET_PTR_TO_SOCKET"),
    "RET_PTR_TO_TCP_SOCK_OR_NULL": ("PTR_MAYBE_NULL", "RET_PTR_TO_TCP_SOCK"),
    "RET_PTR_TO_SOCK_COMMON_OR_NULL": ("PTR_MAYBE_NULL", "RET_PTR_TO_SOCK_COMMON"),
    "RET_PTR_TO_RINGBUF_MEM_OR_NULL": ("PTR_MAYBE_NULL", "MEM_RINGBUF", "RET_PTR_TO_MEM"),
    "RET_PTR_TO_DYNPTR_MEM_OR_NULL": ("PTR_MAYBE_NULL", "RET_PTR_TO_MEM"),
    "RET_PTR_TO_BTF_ID_OR_NULL": ("PTR_MAYBE_NULL", "RET_PTR_TO_BTF_ID"),
    "RET_PTR_TO_BTF_ID_TRUSTED": ("PTR_TRUSTED", "RET_PTR_TO_BTF_ID"),
}

#: enum bpf_prog_type (uapi)
PROG_TYPES: dict[str, int] = {name: i for i, name in enumerate((
    "BPF_PROG_TYPE_UNSPEC", "BPF_PROG_TYPE_SOCKET_FILTER", "BPF_PROG_TYPE_KPROBE", "BPF_PROG_TYPE_SCHED_CLS",
    "BPF_PROG_TYPE_SCHED_ACT", "BPF_PROG_TYPE_TRACEPOINT", "BPF_PROG_TYPE_XDP", "BPF_PROG_TYPE_PERF_EVENT",
    "BPF_PROG_TYPE_CGROUP_SKB", "BPF_PROG_TYPE_CGROUP_SOCK", "BPF_PROG_TYPE_LWT_IN", "BPF_PROG_TYPE_LWT_OUT",
    "BPF_PROG_TYPE_LWT_XMIT", "BPF_PROG_TYPE_SOCK_OPS", "BPF_PROG_TYPE_SK_SKB", "BPF_PROG_TYPE_CGROUP_DEVICE",
    "BPF_PROG_TYPE_SK_MSG", "BPF_PROG_TYPE_RAW_TRACEPOINT", "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
    "BPF_PROG_TYPE_LWT_SEG6LOCAL", "BPF_PROG_TYPE_LIRC_MODE2", "BPF_PROG_TYPE_SK_REUSEPORT",
    "BPF_PROG_TYPE_FLOW_DISSECTOR", "BPF_PROG_TYPE_CGROUP_SYSCTL", "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE",
    "BPF_PROG_TYPE_CGROUP_SOCKOPT", "BPF_PROG_TYPE_TRACING", "BPF_PROG_TYPE_STRUCT_OPS", "BPF_PROG_TYPE_EXT",
    "BPF_PROG_TYPE_LSM", "BPF_PROG_TYPE_SK_LOOKUP", "BPF_PROG_TYPE_SYSCALL", "BPF_PROG_TYPE_NETFILTER",
))}

#: enum bpf_map_type (uapi; the *_DEPRECATED aliases share 19 and 21)
MAP_TYPES: dict[str, int] = {name: i for i, name in enumerate((
    "BPF_MAP_TYPE_UNSPEC", "BPF_MAP_TYPE_HASH", "BPF_MAP_TYPE_ARRAY", "BPF_MAP_TYPE_PROG_ARRAY",
    "BPF_MAP_TYPE_PERF_EVENT_ARRAY", "BPF_MAP_TYPE_PERCPU_HASH", "BPF_MAP_TYPE_PERCPU_ARRAY",
    "BPF_MAP_TYPE_STACK_TRACE", "BPF_MAP_TYPE_CGROUP_ARRAY", "BPF_MAP_TYPE_LRU_HASH",
    "BPF_MAP_TYPE_LRU_PERCPU_HASH", "BPF_MAP_TYPE_LPM_TRIE", "BPF_MAP_TYPE_ARRAY_OF_MAPS",
    "BPF_MAP_TYPE_HASH_OF_MAPS", "BPF_MAP_TYPE_DEVMAP", "BPF_MAP_TYPE_SOCKMAP", "BPF_MAP_TYPE_CPUMAP",
    "BPF_MAP_TYPE_XSKMAP", "BPF_MAP_TYPE_SOCKHASH", "BPF_MAP_TYPE_CGROUP_STORAGE",
    "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE", "BPF_MAP_TYPE_QUEUE",
    "BPF_MAP_TYPE_STACK", "BPF_MAP_TYPE_SK_STORAGE", "BPF_MAP_TYPE_DEVMAP_HASH", "BPF_MAP_TYPE_STRUCT_OPS",
    "BPF_MAP_TYPE_RINGBUF", "BPF_MAP_TYPE_INODE_STORAGE", "BPF_MAP_TYPE_TASK_STORAGE",
    "BPF_MAP_TYPE_BLOOM_FILTER", "BPF_MAP_TYPE_USER_RINGBUF", "BPF_MAP_TYPE_CGRP_STORAGE",
    "BPF_MAP_TYPE_ARENA",
))}

#: enum bpf_attach_type (uapi), Linux 6.18
ATTACH_TYPES: dict[str, int] = {name: i for i, name in enumerate((
    "BPF_CGROUP_INET_INGRESS", "BPF_CGROUP_INET_EGRESS", "BPF_CGROUP_INET_SOCK_CREATE", "BPF_CGROUP_SOCK_OPS",
    "BPF_SK_SKB_STREAM_PARSER", "BPF_SK_SKB_STREAM_VERDICT", "BPF_CGROUP_DEVICE", "BPF_SK_MSG_VERDICT",
    "BPF_CGROUP_INET4_BIND", "BPF_CGROUP_INET6_BIND", "BPF_CGROUP_INET4_CONNECT", "BPF_CGROUP_INET6_CONNECT",
    "BPF_CGROUP_INET4_POST_BIND", "BPF_CGROUP_INET6_POST_BIND", "BPF_CGROUP_UDP4_SENDMSG",
    "BPF_CGROUP_UDP6_SENDMSG", "BPF_LIRC_MODE2", "BPF_FLOW_DISSECTOR", "BPF_CGROUP_SYSCTL",
    "BPF_CGROUP_UDP4_RECVMSG", "BPF_CGROUP_UDP6_RECVMSG", "BPF_CGROUP_GETSOCKOPT", "BPF_CGROUP_SETSOCKOPT",
    "BPF_TRACE_RAW_TP", "BPF_TRACE_FENTRY", "BPF_TRACE_FEXIT", "BPF_MODIFY_RETURN", "BPF_LSM_MAC",
    "BPF_TRACE_ITER", "BPF_CGROUP_INET4_GETPEERNAME", "BPF_CGROUP_INET6_GETPEERNAME",
    "BPF_CGROUP_INET4_GETSOCKNAME", "BPF_CGROUP_INET6_GETSOCKNAME", "BPF_XDP_DEVMAP",
    "BPF_CGROUP_INET_SOCK_RELEASE", "BPF_XDP_CPUMAP", "BPF_SK_LOOKUP", "BPF_XDP", "BPF_SK_SKB_VERDICT",
    "BPF_SK_REUSEPORT_SELECT", "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE", "BPF_PERF_EVENT", "BPF_TRACE_KPROBE_MULTI",
    "BPF_LSM_CGROUP", "BPF_STRUCT_OPS", "BPF_NETFILTER", "BPF_TCX_INGRESS", "BPF_TCX_EGRESS",
    "BPF_TRACE_UPROBE_MULTI", "BPF_CGROUP_UNIX_CONNECT", "BPF_CGROUP_UNIX_SENDMSG", "BPF_CGROUP_UNIX_RECVMSG",
    "BPF_CGROUP_UNIX_GETPEERNAME", "BPF_CGROUP_UNIX_GETSOCKNAME", "BPF_NETKIT_PRIMARY", "BPF_NETKIT_PEER",
    "BPF_TRACE_KPROBE_SESSION", "BPF_TRACE_UPROBE_SESSION",
))}

PROG_TYPE_ENUMERATORS = {v: k for k, v in PROG_TYPES.items()}
MAP_TYPE_ENUMERATORS = {v: k for k, v in MAP_TYPES.items()}
ATTACH_TYPE_ENUMERATORS = {v: k for k, v in ATTACH_TYPES.items()}


def _expand(sym: str) -> tuple[str, ...]:
    if sym in ARG_TYPE_ALIASES:
        return ARG_TYPE_ALIASES[sym]
    if sym in RET_TYPE_ALIASES:
        return RET_TYPE_ALIASES[sym]
    return (sym,)


def split_type(symbols: tuple[str, ...]) -> tuple[str, frozenset[str]]:
    """``("ARG_PTR_TO_UNINIT_MEM",)`` -> ``("ARG_PTR_TO_MEM", {"MEM_UNINIT", "MEM_WRITE"})``:
    the base type and the set of ``bpf_type_flag`` names of an OR of enum names."""
    base: str | None = None
    flags: set[str] = set()
    for sym in symbols:
        for part in _expand(sym):
            if part in TYPE_FLAGS:
                flags.add(part)
            elif part in ARG_TYPES or part in RET_TYPES:
                if base is not None and base != part:
                    raise ValueError(f"two base types in {symbols}: {base}, {part}")
                base = part
            else:
                raise ValueError(f"unknown type symbol {part!r} in {symbols}")
    if base is None:
        raise ValueError(f"no base type in {symbols}")
    return base, frozenset(flags)


def type_value(symbols: tuple[str, ...]) -> int:
    """The 6.18 numeric value of an OR of arg/return type names and flags."""
    base, flags = split_type(symbols)
    value = ARG_TYPES.get(base, RET_TYPES.get(base, 0))
    for f in flags:
        value |= TYPE_FLAGS[f]
    return value


def type_name(base: str, flags: frozenset[str] | set[str]) -> str:
    """A readable ``BASE | FLAG | FLAG`` (flags in enum order)."""
    ordered = [f for f in TYPE_FLAGS if f in flags]
    return " | ".join([base, *ordered])


def _lookup(table: dict[str, int], prefix: str, name: str | int) -> int:
    if isinstance(name, int):
        if name not in table.values():
            raise KeyError(name)
        return name
    key = name.upper()
    if not key.startswith(prefix):
        key = prefix + key
    return table[key]


def prog_type_id(name: str | int) -> int:
    """``BPF_PROG_TYPE_XDP``, ``xdp`` or 6 -> 6; KeyError when unknown."""
    return _lookup(PROG_TYPES, "BPF_PROG_TYPE_", name)


def map_type_id(name: str | int) -> int:
    """``BPF_MAP_TYPE_HASH``, ``hash`` or 1 -> 1; KeyError when unknown."""
    return _lookup(MAP_TYPES, "BPF_MAP_TYPE_", name)


def attach_type_id(name: str | int) -> int:
    """``BPF_TRACE_ITER`` or 28 -> 28; KeyError when unknown."""
    return _lookup(ATTACH_TYPES, "BPF_", name)
