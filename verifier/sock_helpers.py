"""Helper prototypes of the socket and cgroup program types, by kernel symbol.

One helper id can have several prototypes: ``bpf_setsockopt`` is
``bpf_sock_addr_setsockopt_proto`` for cgroup_sock_addr (the context in R1),
``bpf_sock_ops_setsockopt_proto`` for sock_ops, ``bpf_sk_setsockopt_proto`` for
cgroup_sockopt (a socket in R1). The program type's ``get_func_proto``
(:mod:`verifier.helper_sets`, the kernel's decision trees) names the symbol; this
module gives the verifier the prototype behind it, built from the kernel's
initialisers (:mod:`kernel_model.bpf_facts.helper_protos`: net/core/filter.c,
kernel/bpf/cgroup.c, kernel/bpf/helpers.c, Linux 6.12 with the 6.18 edits) with the
argument kinds the verifier model checks: the context (or NULL), memory with a
constant size, scalars, maps. A symbol with an argument or return kind the model
lacks (``ARG_PTR_TO_FIXED_SIZE_MEM``, ``ARG_PTR_TO_CONST_STR``, a socket argument,
...) is not listed: its call is "not modelled", never checked against a guess.

6.18 differences from the 6.12 initialisers: :data:`CHANGES_6_18` (each one checked
on the host by tests/verifier/test_sock_ctx.py).
"""

from __future__ import annotations

import re
from typing import Final

from kernel_model.bpf_facts.helper_protos import PROTOS as FACT_PROTOS, FuncProto as FactProto

from . import helpers as H
from . import regs as R
from .sock_refs import MEM_ALIGNED

__all__ = ["SYMBOL_PROTOS", "SOCK_SYMBOLS", "SHARED_SYMBOLS", "SOCKET_POINTER_SYMBOLS", "CHANGES_6_18", "symbol_proto"]

#: the proto symbols of the socket/cgroup types' get_func_proto whose prototypes the model checks
SOCK_SYMBOLS: Final = (
    # net/core/filter.c: sock_addr_func_proto
    "bpf_bind_proto", "bpf_sock_addr_setsockopt_proto", "bpf_sock_addr_getsockopt_proto",
    "bpf_get_netns_cookie_sock_addr_proto", "bpf_get_socket_cookie_sock_addr_proto",
    # sock_filter_func_proto (cgroup_sock)
    "bpf_get_netns_cookie_sock_proto", "bpf_get_socket_cookie_sock_proto",
    # sock_ops_func_proto
    "bpf_get_netns_cookie_sock_ops_proto", "bpf_get_socket_cookie_sock_ops_proto",
    "bpf_sock_ops_setsockopt_proto", "bpf_sock_ops_getsockopt_proto", "bpf_sock_ops_cb_flags_set_proto",
    "bpf_sock_ops_load_hdr_opt_proto", "bpf_sock_ops_reserve_hdr_opt_proto", "bpf_sock_ops_store_hdr_opt_proto",
    # kernel/bpf/cgroup.c: cg_sockopt_func_proto, sysctl_func_proto, cgroup_current_func_proto
    "bpf_get_netns_cookie_sockopt_proto", "bpf_sysctl_get_name_proto", "bpf_sysctl_get_current_value_proto",
    "bpf_sysctl_get_new_value_proto", "bpf_sysctl_set_new_value_proto", "bpf_get_retval_proto",
    "bpf_set_retval_proto", "bpf_get_current_cgroup_id_proto", "bpf_get_current_ancestor_cgroup_id_proto",
    "bpf_get_cgroup_classid_curr_proto",
    # kernel/bpf/helpers.c, kernel/trace/bpf_trace.c (bpf_base_func_proto's tiers)
    "bpf_get_current_comm_proto", "bpf_get_ns_current_pid_tgid_proto", "bpf_event_output_data_proto",
    # socket pointers (verifier.sock_refs): lookups taking a reference, its release, casts
    "bpf_sock_addr_sk_lookup_tcp_proto", "bpf_sock_addr_sk_lookup_udp_proto", "bpf_sock_addr_skc_lookup_tcp_proto",
    "bpf_sk_release_proto", "bpf_tcp_sock_proto", "bpf_sk_fullsock_proto", "bpf_get_listener_sock_proto",
    "bpf_skc_to_tcp_sock_proto", "bpf_sk_setsockopt_proto", "bpf_sk_getsockopt_proto", "bpf_sk_lookup_assign_proto",
    "bpf_sk_storage_get_proto", "bpf_sk_storage_delete_proto", "bpf_sk_storage_get_cg_sock_proto",
    # the packet types' socket lookups (tc, xdp, cgroup_skb)
    "bpf_sk_lookup_tcp_proto", "bpf_sk_lookup_udp_proto", "bpf_skc_lookup_tcp_proto", "bpf_xdp_sk_lookup_tcp_proto",
    "bpf_xdp_sk_lookup_udp_proto", "bpf_xdp_skc_lookup_tcp_proto", "bpf_tc_sk_lookup_tcp_proto",
    "bpf_tc_sk_lookup_udp_proto", "bpf_tc_skc_lookup_tcp_proto",
    # kernel/bpf/helpers.c: string parsing (sysctl programs)
    "bpf_strtol_proto", "bpf_strtoul_proto",
    # net/core/filter.c: the other socket casts (their structs: kernel_model.net_types)
    "bpf_skc_to_tcp6_sock_proto", "bpf_skc_to_udp6_sock_proto", "bpf_skc_to_tcp_request_sock_proto",
    "bpf_skc_to_mptcp_sock_proto",
)

#: the socket-pointer helpers every program type gets by symbol (verifier.prog_types
#: helpers_from_facts): lookups taking a reference, its release, the casts
SOCKET_POINTER_SYMBOLS: Final = frozenset({
    "bpf_sk_lookup_tcp_proto", "bpf_sk_lookup_udp_proto", "bpf_skc_lookup_tcp_proto", "bpf_xdp_sk_lookup_tcp_proto",
    "bpf_xdp_sk_lookup_udp_proto", "bpf_xdp_skc_lookup_tcp_proto", "bpf_tc_sk_lookup_tcp_proto",
    "bpf_tc_sk_lookup_udp_proto", "bpf_tc_skc_lookup_tcp_proto", "bpf_sk_release_proto", "bpf_tcp_sock_proto",
    "bpf_sk_fullsock_proto", "bpf_get_listener_sock_proto", "bpf_skc_to_tcp_sock_proto",
    "bpf_skc_to_tcp6_sock_proto", "bpf_skc_to_udp6_sock_proto", "bpf_skc_to_tcp_request_sock_proto",
    "bpf_skc_to_mptcp_sock_proto",
})

#: base helpers whose prototypes :data:`verifier.helpers.PROTOS` already has (by helper id)
#: and that only the socket types take from there; the other shared ones (bpf_loop, the
#: spin locks, the queue/stack helpers...) come through ``helper_sets.MODELLED_SYMBOLS``
SHARED_SYMBOLS: Final = {"bpf_probe_read_kernel_str_proto": 115}

#: Linux 6.18 initialisers that differ from the extracted 6.12 ones: symbol -> {argN: (base, flags)}.
#: "bpf: Fix helper writes to read-only maps" (6.13) made bpf_sysctl_get_name's buffer
#: ``ARG_PTR_TO_MEM | MEM_WRITE``: the host accepts an uninitialised stack buffer there.
CHANGES_6_18: Final[dict[str, dict[int, tuple[str, frozenset[str]]]]] = {
    "bpf_sysctl_get_name_proto": {1: ("ARG_PTR_TO_MEM", frozenset({"MEM_WRITE"}))},
}

_ARG_BASES: Final = {"ARG_DONTCARE": H.ARG_DONTCARE, "ARG_PTR_TO_CTX": H.ARG_PTR_TO_CTX,
                     "ARG_PTR_TO_MEM": H.ARG_PTR_TO_MEM, "ARG_CONST_SIZE": H.ARG_CONST_SIZE,
                     "ARG_CONST_SIZE_OR_ZERO": H.ARG_CONST_SIZE_OR_ZERO, "ARG_ANYTHING": H.ARG_ANYTHING,
                     "ARG_CONST_MAP_PTR": H.ARG_CONST_MAP_PTR, "ARG_PTR_TO_MAP_KEY": H.ARG_PTR_TO_MAP_KEY,
                     "ARG_PTR_TO_MAP_VALUE": H.ARG_PTR_TO_MAP_VALUE,
                     "ARG_PTR_TO_SOCK_COMMON": H.ARG_PTR_TO_SOCK_COMMON, "ARG_PTR_TO_SOCKET": H.ARG_PTR_TO_SOCKET,
                     "ARG_PTR_TO_BTF_ID_SOCK_COMMON": H.ARG_PTR_TO_BTF_ID_SOCK_COMMON}
_FLAGS: Final = {"PTR_MAYBE_NULL": R.PTR_MAYBE_NULL, "MEM_RDONLY": R.MEM_RDONLY, "MEM_UNINIT": R.MEM_UNINIT,
                 "MEM_WRITE": R.MEM_WRITE, "OBJ_RELEASE": R.OBJ_RELEASE, "MEM_FIXED_SIZE": R.MEM_FIXED_SIZE,
                 "MEM_ALIGNED": MEM_ALIGNED}
#: ``argN_size`` as the initialisers write it
_SIZEOF: Final = {"sizeof(s64)": 8, "sizeof(u64)": 8, "sizeof(u32)": 4, "sizeof(s32)": 4}
_RETS: Final = {"RET_INTEGER": H.RET_INTEGER, "RET_VOID": H.RET_VOID, "RET_PTR_TO_SOCKET": H.RET_PTR_TO_SOCKET,
                "RET_PTR_TO_SOCK_COMMON": H.RET_PTR_TO_SOCK_COMMON, "RET_PTR_TO_TCP_SOCK": H.RET_PTR_TO_TCP_SOCK,
                "RET_PTR_TO_BTF_ID": H.RET_PTR_TO_BTF_ID, "RET_PTR_TO_MAP_VALUE": H.RET_PTR_TO_MAP_VALUE}
#: include/linux/btf_ids.h BTF_SOCK_TYPE_xxx: the struct ``btf_sock_ids[]`` names
_BTF_SOCK_IDS: Final = {"BTF_SOCK_TYPE_TCP": "tcp_sock", "BTF_SOCK_TYPE_SOCK": "sock",
                        "BTF_SOCK_TYPE_SOCK_COMMON": "sock_common"}
_BTF_SOCK_IDS.update({"BTF_SOCK_TYPE_TCP6": "tcp6_sock", "BTF_SOCK_TYPE_UDP6": "udp6_sock",
                      "BTF_SOCK_TYPE_TCP_REQ": "tcp_request_sock", "BTF_SOCK_TYPE_MPTCP": "mptcp_sock"})
_RET_FLAGS: Final = {"PTR_MAYBE_NULL": R.PTR_MAYBE_NULL}


def _convert(p: FactProto) -> H.FuncProto | None:
    """The verifier's prototype of one kernel initialiser; None if a kind is not modelled."""
    changes = CHANGES_6_18.get(p.symbol, {})
    args = []
    sizes = []
    for i, a in enumerate(p.args):
        base, flags = changes.get(i, (a.base, a.flags))
        if base not in _ARG_BASES or not flags <= _FLAGS.keys():
            return None
        if "MEM_FIXED_SIZE" in flags and a.size not in _SIZEOF:
            return None
        sizes.append(_SIZEOF[a.size] if "MEM_FIXED_SIZE" in flags and a.size else 0)
        v = _ARG_BASES[base]
        for f in flags:
            v |= _FLAGS[f]
        args.append(v)
    if p.ret.base not in _RETS or not p.ret.flags <= _RET_FLAGS.keys():
        return None
    ret = _RETS[p.ret.base]
    for f in p.ret.flags:
        ret |= _RET_FLAGS[f]
    ret_btf = ""
    if p.ret.base == "RET_PTR_TO_BTF_ID":
        m = re.fullmatch(r"btf_sock_ids\[(\w+)\]", p.ret.btf_id or "")
        if m is None or m.group(1) not in _BTF_SOCK_IDS:
            return None
        ret_btf = _BTF_SOCK_IDS[m.group(1)]
    name = (p.func or p.symbol).removeprefix("bpf_")
    return H.FuncProto(name, ret, tuple(args), p.gpl_only, p.might_sleep, p.pkt_access, ret_btf, tuple(sizes))


def _build() -> dict[str, H.FuncProto]:
    out = {}
    for sym in SOCK_SYMBOLS:
        conv = _convert(FACT_PROTOS[sym])
        if conv is None:
            raise AssertionError(f"{sym}: an argument kind the model does not check")
        out[sym] = conv
    return out


#: kernel proto symbol -> the prototype the verifier checks
SYMBOL_PROTOS: Final[dict[str, H.FuncProto]] = _build()


def symbol_proto(symbol: str) -> H.FuncProto | None:
    """The modelled prototype called ``symbol``, or None."""
    if symbol in SHARED_SYMBOLS:
        return H.PROTOS[SHARED_SYMBOLS[symbol]]
    return SYMBOL_PROTOS.get(symbol)
