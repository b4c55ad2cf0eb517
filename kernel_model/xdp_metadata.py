"""The XDP metadata kfuncs: ``bpf_xdp_metadata_rx_timestamp``, ``_rx_hash``, ``_rx_vlan_tag``.

net/core/xdp.c builds ``xdp_metadata_kfunc_ids`` from include/net/xdp.h's
``XDP_METADATA_KFUNC_xxx`` list and registers it for ``BPF_PROG_TYPE_XDP`` (Linux
6.12/6.18); their prototypes are the 6.18 BTF's. They are device-bound kfuncs
(``bpf_dev_bound_kfunc_id``): ``add_kfunc_call`` (kernel/bpf/verifier.c) runs
``bpf_dev_bound_kfunc_check`` (kernel/bpf/offload.c), which refuses a program not
bound to a device (``metadata kfuncs require device-bound program``, EINVAL) -- and
the emulated kernel has no network devices, so no load binds one
(``BPF_F_XDP_DEV_BOUND_ONLY`` / ``prog_ifindex`` are not modelled): every call is
refused before the walk, as the kernel refuses a program loaded without a device.

``enum xdp_rss_hash_type`` (include/net/xdp.h) has the values of the 6.18 host's BTF.
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts

__all__ = ["XDP_METADATA_KFUNCS", "xdp_metadata_c"]

XDP_METADATA_KFUNCS: tuple[str, ...] = ("bpf_xdp_metadata_rx_timestamp", "bpf_xdp_metadata_rx_hash",
                                        "bpf_xdp_metadata_rx_vlan_tag")

_TYPES_C = r"""
/* include/net/xdp.h */
enum xdp_rss_hash_type {
    XDP_RSS_L3_IPV4 = 1, XDP_RSS_L3_IPV6 = 2, XDP_RSS_L3_DYNHDR = 4, XDP_RSS_L4 = 8, XDP_RSS_L4_TCP = 16,
    XDP_RSS_L4_UDP = 32, XDP_RSS_L4_SCTP = 64, XDP_RSS_L4_IPSEC = 128, XDP_RSS_L4_ICMP = 256,
    XDP_RSS_TYPE_NONE = 0, XDP_RSS_TYPE_L2 = 0, XDP_RSS_TYPE_L3_IPV4 = 1, XDP_RSS_TYPE_L3_IPV6 = 2,
    XDP_RSS_TYPE_L3_IPV4_OPT = 5, XDP_RSS_TYPE_L3_IPV6_EX = 6, XDP_RSS_TYPE_L4_ANY = 8,
    XDP_RSS_TYPE_L4_IPV4_TCP = 25, XDP_RSS_TYPE_L4_IPV4_UDP = 41, XDP_RSS_TYPE_L4_IPV4_SCTP = 73,
    XDP_RSS_TYPE_L4_IPV4_IPSEC = 137, XDP_RSS_TYPE_L4_IPV4_ICMP = 265, XDP_RSS_TYPE_L4_IPV6_TCP = 26,
    XDP_RSS_TYPE_L4_IPV6_UDP = 42, XDP_RSS_TYPE_L4_IPV6_SCTP = 74, XDP_RSS_TYPE_L4_IPV6_IPSEC = 138,
    XDP_RSS_TYPE_L4_IPV6_ICMP = 266, XDP_RSS_TYPE_L4_IPV6_TCP_EX = 30, XDP_RSS_TYPE_L4_IPV6_UDP_EX = 46,
    XDP_RSS_TYPE_L4_IPV6_SCTP_EX = 78,
};
"""


def xdp_metadata_c() -> str:
    """The enum and the three prototypes (6.18 declarations)."""
    out = [_TYPES_C, "/* net/core/xdp.c xdp_metadata_kfunc_ids */"]
    for name in XDP_METADATA_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"
