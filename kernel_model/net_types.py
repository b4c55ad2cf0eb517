"""The packet and socket kernel types, and the net tracepoints that pass them.

The kernel types (:mod:`kernel_model.vmlinux_skb`, generated from a 6.18 x86-64 kernel's
BTF by tools/gen_skb_btf.py: ``struct sk_buff``, ``skb_shared_info``, ``xdp_buff``,
``xdp_rxq_info``, ``iphdr``, ``udphdr``, ``tcphdr``, ``tcp6_sock``, ``udp6_sock``,
``tcp_request_sock``, ``mptcp_sock``, ``net``, ``net_device`` and what they embed, and the
uapi ``bpf_insn``, ``bpf_prog_info``, ``btf_enum``, ``enum bpf_cmd``, ``uint64_t`` that
``bpf_snprintf_btf``'s callers name by BTF id) enter the emulated
vmlinux where it does not define them yet, after every other type (a struct it only
declared, such as ``sk_buff``, gets its members in place: no type id moves). Structs the
emulated vmlinux already defines keep its definition: the whole ones (``sock``,
``tcp_sock`` ...) have the same layout, the reduced ones (``udp_sock``, ``socket``,
``file`` ...: :mod:`kernel_model.vmlinux_iter`) the kernel's size, so what embeds them
keeps the kernel's offsets (tests/test_net_types.py checks both). A pointer to a struct
neither defines stays a pointer to a forward declaration: a walk through it is refused
as not modelled (``verifier.btf_access``).

The tracepoints (:data:`NET_TRACEPOINTS`) are raw tracepoints of Linux 6.18 with the
host's x86-64 prototypes (``btf_trace_<name>`` typedefs and their templates' probe
functions, as :mod:`kernel_model.tracepoints` describes): include/trace/events/skb.h
(``kfree_skb``), net.h (``netif_receive_skb``: template ``net_dev_template``), tcp.h
(``tcp_probe``, ``tcp_retransmit_synack``, ``tcp_bad_csum``: template ``tcp_event_skb``,
``tcp_destroy_sock``: template ``tcp_event_sk``), sock.h (``inet_sock_set_state``).
6.18's ``kfree_skb`` has four arguments (6.12: ``skb, location, reason``; 6.18 adds
``struct sock *rx_sk``).
"""

from __future__ import annotations

from typing import Final

from .conntrack import new_definitions
from .vmlinux_skb import SKB_C

__all__ = ["NET_TRACEPOINTS", "HEADER", "net_types_c"]

#: the comment the appended text starts with
HEADER: Final = "/* kernel_model.net_types: the packet and socket types (6.18 layouts) */"

#: tracepoint -> (its template, the TP_PROTO parameters as C), Linux 6.18 x86-64
NET_TRACEPOINTS: Final[dict[str, tuple[str, str]]] = {
    "kfree_skb": ("kfree_skb", "struct sk_buff *skb, void *location, enum skb_drop_reason reason, "
                               "struct sock *rx_sk"),
    "netif_receive_skb": ("net_dev_template", "struct sk_buff *skb"),
    "tcp_probe": ("tcp_probe", "struct sock *sk, const struct sk_buff *skb"),
    "inet_sock_set_state": ("inet_sock_set_state", "const struct sock *sk, const int oldstate, "
                                                   "const int newstate"),
    "tcp_retransmit_synack": ("tcp_retransmit_synack", "const struct sock *sk, const struct request_sock *req"),
    "tcp_bad_csum": ("tcp_event_skb", "const struct sk_buff *skb"),
    "tcp_destroy_sock": ("tcp_event_sk", "struct sock *sk"),
}


def net_types_c(existing: str) -> str:
    """The types ``existing`` (the emulated vmlinux's C so far) lacks, then the net
    tracepoints' typedefs and template probes."""
    out = [HEADER, new_definitions(existing, SKB_C),
           "/* include/trace/bpf_probe.h: the net tracepoints' typedefs and template probes */"]
    seen: set[str] = set()
    for name, (template, params) in NET_TRACEPOINTS.items():
        out.append(f"typedef void (*btf_trace_{name})(void *__data, {params});")
        if template not in seen:
            seen.add(template)
            out.append(f"void __bpf_trace_{template}(void *__data, {params});")
    return "\n".join(out) + "\n"
