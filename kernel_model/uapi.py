"""The uapi facts the project uses, defined once: ``union bpf_attr`` numbers and flags.

Everything here is a number of Linux's user-space ABI, as of Linux 6.18
(``include/uapi/linux/bpf.h`` unless noted), and the x86-64 page size. Other
modules import these names; none defines its own copy. Instruction encodings
(opcodes, jump operations, pseudo sources) are :mod:`kernel_model.isa`'s;
instruction-count limits are :mod:`kernel_model.insn`'s.

The attribute layouts (``union bpf_attr`` offsets) stay with the code that
packs them (:mod:`emu.host.hostbpf`): only the host side builds raw attributes.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "PAGE_SIZE", "BPF_OBJ_NAME_LEN",
    "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM", "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD",
    "BPF_PROG_TEST_RUN", "BPF_OBJ_GET_INFO_BY_FD", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_MAP_FREEZE",
    "BPF_BTF_GET_NEXT_ID", "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_DETACH",
    "PROG_TYPE_SOCKET_FILTER", "PROG_TYPE_STRUCT_OPS", "PROG_TYPE_SYSCALL", "PROG_TYPE_NAMES", "LAST_PROG_TYPE",
    "PROG_TYPE_KPROBE", "PROG_TYPE_SCHED_CLS", "PROG_TYPE_SCHED_ACT", "PROG_TYPE_TRACEPOINT", "PROG_TYPE_XDP",
    "PROG_TYPE_PERF_EVENT", "PROG_TYPE_CGROUP_SKB", "PROG_TYPE_RAW_TRACEPOINT", "PROG_TYPE_RAW_TRACEPOINT_WRITABLE", "PROG_TYPE_TRACING",
    "PERFMON_PROG_TYPES", "NET_ADMIN_PROG_TYPES",
    "MAP_TYPE_HASH", "MAP_TYPE_ARRAY", "MAP_TYPE_PROG_ARRAY", "MAP_TYPE_PERCPU_HASH", "MAP_TYPE_PERCPU_ARRAY",
    "MAP_TYPE_STRUCT_OPS", "LAST_MAP_TYPE",
    "BPF_STRUCT_OPS", "BPF_LINK_TYPE_STRUCT_OPS",
    "BPF_F_STRICT_ALIGNMENT", "BPF_F_ANY_ALIGNMENT", "BPF_F_TEST_RND_HI32", "BPF_F_TEST_STATE_FREQ",
    "BPF_F_SLEEPABLE", "BPF_F_XDP_HAS_FRAGS", "BPF_F_XDP_DEV_BOUND_ONLY", "BPF_F_TEST_REG_INVARIANTS",
    "BPF_F_TOKEN_FD",
    "BPF_F_NO_PREALLOC", "BPF_F_NO_COMMON_LRU", "BPF_F_NUMA_NODE", "BPF_F_RDONLY", "BPF_F_WRONLY",
    "BPF_F_ZERO_SEED", "BPF_F_RDONLY_PROG", "BPF_F_WRONLY_PROG", "BPF_F_MMAPABLE", "BPF_F_PRESERVE_ELEMS",
    "BPF_F_INNER_MAP", "BPF_F_LINK", "BPF_F_VTYPE_BTF_OBJ_FD",
    "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "BPF_F_LOCK", "BPF_F_REPLACE",
]

#: arch/x86/include/asm/page_types.h: PAGE_SHIFT 12
PAGE_SIZE: Final = 4096
#: the length of ``prog_name`` / ``map_name``, NUL included
BPF_OBJ_NAME_LEN: Final = 16

# --- enum bpf_cmd ------------------------------------------------------------------------------
BPF_MAP_CREATE: Final = 0
BPF_MAP_LOOKUP_ELEM: Final = 1
BPF_MAP_UPDATE_ELEM: Final = 2
BPF_MAP_DELETE_ELEM: Final = 3
BPF_MAP_GET_NEXT_KEY: Final = 4
BPF_PROG_LOAD: Final = 5
BPF_PROG_TEST_RUN: Final = 10
BPF_OBJ_GET_INFO_BY_FD: Final = 15
BPF_BTF_LOAD: Final = 18
BPF_BTF_GET_FD_BY_ID: Final = 19
BPF_MAP_FREEZE: Final = 22
BPF_BTF_GET_NEXT_ID: Final = 23
BPF_LINK_CREATE: Final = 28
BPF_LINK_UPDATE: Final = 29
BPF_LINK_DETACH: Final = 34

# --- enum bpf_prog_type ---------------------------------------------------------------------------
PROG_TYPE_SOCKET_FILTER: Final = 1
PROG_TYPE_KPROBE: Final = 2
PROG_TYPE_SCHED_CLS: Final = 3
PROG_TYPE_SCHED_ACT: Final = 4
PROG_TYPE_TRACEPOINT: Final = 5
PROG_TYPE_XDP: Final = 6
PROG_TYPE_PERF_EVENT: Final = 7
PROG_TYPE_CGROUP_SKB: Final = 8
PROG_TYPE_RAW_TRACEPOINT: Final = 17
PROG_TYPE_RAW_TRACEPOINT_WRITABLE: Final = 24
PROG_TYPE_TRACING: Final = 26
PROG_TYPE_STRUCT_OPS: Final = 27
PROG_TYPE_SYSCALL: Final = 31
# the socket-level and tunnel packet types (verifier.skb_ctx)
PROG_TYPE_LWT_IN: Final = 10
PROG_TYPE_LWT_OUT: Final = 11
PROG_TYPE_LWT_XMIT: Final = 12
PROG_TYPE_SK_SKB: Final = 14
PROG_TYPE_SK_MSG: Final = 16
PROG_TYPE_LWT_SEG6LOCAL: Final = 19
PROG_TYPE_SK_REUSEPORT: Final = 21
PROG_TYPE_FLOW_DISSECTOR: Final = 22
PROG_TYPE_NETFILTER: Final = 32
__all__ += ["PROG_TYPE_LWT_IN", "PROG_TYPE_LWT_OUT", "PROG_TYPE_LWT_XMIT", "PROG_TYPE_SK_SKB", "PROG_TYPE_SK_MSG",
            "PROG_TYPE_LWT_SEG6LOCAL", "PROG_TYPE_SK_REUSEPORT", "PROG_TYPE_FLOW_DISSECTOR", "PROG_TYPE_NETFILTER"]
#: every ``enum bpf_prog_type`` value, named as libbpf and bpftool print it (lower case,
#: without ``BPF_PROG_TYPE_``)
PROG_TYPE_NAMES: Final = {
    0: "unspec", 1: "socket_filter", 2: "kprobe", 3: "sched_cls", 4: "sched_act", 5: "tracepoint", 6: "xdp",
    7: "perf_event", 8: "cgroup_skb", 9: "cgroup_sock", 10: "lwt_in", 11: "lwt_out", 12: "lwt_xmit",
    13: "sock_ops", 14: "sk_skb", 15: "cgroup_device", 16: "sk_msg", 17: "raw_tracepoint",
    18: "cgroup_sock_addr", 19: "lwt_seg6local", 20: "lirc_mode2", 21: "sk_reuseport", 22: "flow_dissector",
    23: "cgroup_sysctl", 24: "raw_tracepoint_writable", 25: "cgroup_sockopt", 26: "tracing", 27: "struct_ops",
    28: "ext", 29: "lsm", 30: "sk_lookup", 31: "syscall", 32: "netfilter",
}
#: the last ``enum bpf_prog_type`` (BPF_PROG_TYPE_NETFILTER)
LAST_PROG_TYPE: Final = 32
#: kernel/bpf/syscall.c is_perfmon_prog_type (6.12/6.18): loads that need CAP_PERFMON
#: (kprobe, tracepoint, perf_event, raw_tracepoint(_writable), tracing, struct_ops, ext, lsm)
PERFMON_PROG_TYPES: Final = frozenset({2, 5, 7, 17, 24, 26, 27, 28, 29})
#: kernel/bpf/syscall.c is_net_admin_prog_type (6.12/6.18): loads that need CAP_NET_ADMIN
#: (sched_cls/act, xdp, lwt_*, sk_skb, sk_msg, flow_dissector, cgroup device/sock/sock_addr/
#: sockopt/sysctl, sock_ops, ext, netfilter; cgroup_skb and sk_reuseport need CAP_BPF only)
NET_ADMIN_PROG_TYPES: Final = frozenset({3, 4, 6, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 22, 23, 25, 28, 32})

# --- enum bpf_map_type ---------------------------------------------------------------------------
MAP_TYPE_HASH: Final = 1
MAP_TYPE_ARRAY: Final = 2
MAP_TYPE_PROG_ARRAY: Final = 3
MAP_TYPE_PERCPU_HASH: Final = 5
MAP_TYPE_PERCPU_ARRAY: Final = 6
MAP_TYPE_STRUCT_OPS: Final = 26
#: the last ``enum bpf_map_type`` (BPF_MAP_TYPE_ARENA)
LAST_MAP_TYPE: Final = 33

# --- enum bpf_attach_type, enum bpf_link_type --------------------------------------------------------
BPF_STRUCT_OPS: Final = 44
BPF_LINK_TYPE_STRUCT_OPS: Final = 9

# --- BPF_PROG_LOAD prog_flags ------------------------------------------------------------------------
BPF_F_STRICT_ALIGNMENT: Final = 1 << 0
BPF_F_ANY_ALIGNMENT: Final = 1 << 1
BPF_F_TEST_RND_HI32: Final = 1 << 2
BPF_F_TEST_STATE_FREQ: Final = 1 << 3
BPF_F_SLEEPABLE: Final = 1 << 4
BPF_F_XDP_HAS_FRAGS: Final = 1 << 5
BPF_F_XDP_DEV_BOUND_ONLY: Final = 1 << 6
BPF_F_TEST_REG_INVARIANTS: Final = 1 << 7
BPF_F_TOKEN_FD: Final = 1 << 16

# --- BPF_MAP_CREATE map_flags (an anonymous enum) ---------------------------------------------------
BPF_F_NO_PREALLOC: Final = 1 << 0
BPF_F_NO_COMMON_LRU: Final = 1 << 1
BPF_F_NUMA_NODE: Final = 1 << 2
BPF_F_RDONLY: Final = 1 << 3
BPF_F_WRONLY: Final = 1 << 4
BPF_F_ZERO_SEED: Final = 1 << 6
BPF_F_RDONLY_PROG: Final = 1 << 7
BPF_F_WRONLY_PROG: Final = 1 << 8
BPF_F_MMAPABLE: Final = 1 << 10
BPF_F_PRESERVE_ELEMS: Final = 1 << 11
BPF_F_INNER_MAP: Final = 1 << 12
BPF_F_LINK: Final = 1 << 13
BPF_F_VTYPE_BTF_OBJ_FD: Final = 1 << 15

# --- BPF_MAP_UPDATE_ELEM flags, BPF_LINK_UPDATE flags ---------------------------------------------
BPF_ANY: Final = 0
BPF_NOEXIST: Final = 1
BPF_EXIST: Final = 2
BPF_F_LOCK: Final = 4
BPF_F_REPLACE: Final = 1 << 2
