"""Packet helpers: their prototypes from the kernel's facts, and what a call does to packet pointers.

* :data:`SYMBOL_PROTOS`: the ``struct bpf_func_proto`` variants (by kernel symbol:
  ``bpf_skb_load_bytes_proto``, ``bpf_flow_dissector_load_bytes_proto``,
  ``sk_reuseport_load_bytes_proto`` are three variants of helper 26) whose argument
  types the verifier model checks, converted from
  :mod:`kernel_model.bpf_facts.helper_protos` (Linux 6.18: argument and return
  types, ``arg*_size``, ``gpl_only``, ``pkt_access``). A program type's
  ``get_func_proto`` (:func:`verifier.prog_types.helpers_from_facts`) hands back the
  variant the kernel would; a variant not listed here stays "not modelled".
* :func:`helper_changes_pkt_data`: ``bpf_helper_changes_pkt_data`` (net/core/filter.c,
  Linux 6.12 = 6.18): after a call of one of these helpers every packet pointer of
  the verifier state (all frames, spilled ones too) is invalidated
  (``clear_all_pkt_pointers``, :mod:`verifier.dynptrs`; kernel/bpf/verifier.c) -- the program must reload
  ``data``/``data_end`` from the context; an old pointer is then ``R%d invalid mem
  access 'scalar'`` (or ``!read_ok``). A tail call counts as one: the called program
  may change the packet.
* :func:`subprog_changes_pkt_data`: since Linux 6.13 (``changes_pkt_data`` of
  ``struct bpf_subprog_info``, set by ``check_cfg`` and merged from callees), a call
  of a global function that may change the packet invalidates the caller's packet
  pointers too.

The socket helpers (``bpf_sk_lookup_tcp`` ... ``bpf_sk_release``, ``bpf_tcp_sock`` ...) are
in the table too; what their socket pointers and references do is :mod:`verifier.sock_refs` and :mod:`verifier.sock_ctx`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Final

from kernel_model import isa
from kernel_model.bpf_facts import helper_protos as facts
from kernel_model.helper_ids import helper_id

from . import helpers as H

if TYPE_CHECKING:
    from .core import Env

__all__ = ["SYMBOL_PROTOS", "CHANGES_PKT_DATA", "helper_changes_pkt_data",
           "subprog_changes_pkt_data", "proto_for_symbol"]

#: the argument kinds :func:`verifier.calls.check_func_arg` checks (base types; flags
#: MEM_RDONLY, MEM_UNINIT, MEM_WRITE, PTR_MAYBE_NULL, MEM_FIXED_SIZE, MEM_ALIGNED allowed)
_ARGS_MODELLED: Final = frozenset({"ARG_DONTCARE", "ARG_PTR_TO_CTX", "ARG_ANYTHING", "ARG_PTR_TO_MEM",
                                   "ARG_CONST_SIZE", "ARG_CONST_SIZE_OR_ZERO", "ARG_CONST_MAP_PTR"})
_FLAGS_MODELLED: Final = frozenset({"MEM_RDONLY", "MEM_UNINIT", "MEM_WRITE", "PTR_MAYBE_NULL", "MEM_FIXED_SIZE",
                                    "MEM_ALIGNED"})
_SOCK_RETS: Final = frozenset({"RET_INTEGER", "RET_PTR_TO_SOCKET", "RET_PTR_TO_SOCK_COMMON", "RET_PTR_TO_TCP_SOCK"})
_SOCK_ARGS: Final = frozenset({"ARG_PTR_TO_SOCK_COMMON", "ARG_PTR_TO_SOCKET", "ARG_PTR_TO_BTF_ID_SOCK_COMMON"})
#: ``arg*_size`` of the fixed-size memory arguments, as the kernel writes them
_SIZES: Final = {"sizeof(u32)": 4, "sizeof(u64)": 8, "sizeof(__u32)": 4, "sizeof(__u64)": 8}
#: include/uapi/linux/ip.h, ipv6.h, tcp.h (fixed by the protocols: 6.18 x86-64 BTF the same)
_SIZES.update({"sizeof(struct iphdr)": 20, "sizeof(struct ipv6hdr)": 40, "sizeof(struct tcphdr)": 20})

#: the kernel's proto symbols modelled here (net/core/filter.c unless said otherwise)
_SYMBOLS: Final = (
    # reading and writing the packet through the context
    "bpf_skb_load_bytes_proto", "bpf_skb_load_bytes_relative_proto", "bpf_flow_dissector_load_bytes_proto",
    "sk_reuseport_load_bytes_proto", "sk_reuseport_load_bytes_relative_proto", "bpf_skb_store_bytes_proto",
    "bpf_xdp_load_bytes_proto", "bpf_xdp_store_bytes_proto", "bpf_lwt_seg6_store_bytes_proto",
    # changing its size or layout (bpf_helper_changes_pkt_data)
    "bpf_skb_pull_data_proto", "sk_skb_pull_data_proto", "bpf_skb_change_proto_proto", "bpf_skb_change_tail_proto",
    "sk_skb_change_tail_proto", "bpf_skb_change_head_proto", "sk_skb_change_head_proto", "bpf_skb_adjust_room_proto",
    "sk_skb_adjust_room_proto", "bpf_skb_vlan_push_proto", "bpf_skb_vlan_pop_proto", "bpf_l3_csum_replace_proto",
    "bpf_l4_csum_replace_proto", "bpf_xdp_adjust_head_proto", "bpf_xdp_adjust_tail_proto",
    "bpf_xdp_adjust_meta_proto", "bpf_msg_pull_data_proto", "bpf_msg_push_data_proto", "bpf_msg_pop_data_proto",
    "bpf_lwt_seg6_adjust_srh_proto", "bpf_lwt_seg6_action_proto",
    # checksums, MTU, routing, redirects, tunnels, metadata
    "bpf_csum_diff_proto", "bpf_csum_update_proto", "bpf_csum_level_proto", "bpf_skb_check_mtu_proto",
    "bpf_xdp_check_mtu_proto", "bpf_skb_fib_lookup_proto", "bpf_xdp_fib_lookup_proto", "bpf_redirect_proto",
    "bpf_redirect_peer_proto", "bpf_redirect_neigh_proto", "bpf_clone_redirect_proto", "bpf_xdp_redirect_map_proto",
    "bpf_skb_set_tunnel_key_proto", "bpf_skb_get_tunnel_key_proto", "bpf_skb_set_tunnel_opt_proto",
    "bpf_skb_get_tunnel_opt_proto", "bpf_xdp_get_buff_len_proto", "bpf_get_hash_recalc_proto",
    "bpf_set_hash_invalid_proto", "bpf_set_hash_proto", "bpf_get_cgroup_classid_proto", "bpf_get_route_realm_proto",
    "bpf_skb_change_type_proto", "bpf_skb_ecn_set_ce_proto", "bpf_skb_cgroup_id_proto",
    "bpf_skb_ancestor_cgroup_id_proto", "bpf_skb_get_xfrm_state_proto", "bpf_skb_under_cgroup_proto",
    "bpf_skb_set_tstamp_proto", "bpf_get_socket_cookie_proto", "bpf_get_socket_uid_proto",
    "bpf_msg_apply_bytes_proto", "bpf_msg_cork_bytes_proto", "bpf_get_netns_cookie_sk_msg_proto",
    # kernel/bpf/helpers.c, kernel/trace/bpf_trace.c: plain helpers these programs call
    "bpf_get_ns_current_pid_tgid_proto", "bpf_get_current_task_proto",
    # SYN cookies from raw headers (CONFIG_SYN_COOKIES; the headers' sizes: kernel_model.net_types)
    "bpf_tcp_raw_gen_syncookie_ipv4_proto", "bpf_tcp_raw_gen_syncookie_ipv6_proto",
    "bpf_tcp_raw_check_syncookie_ipv4_proto", "bpf_tcp_raw_check_syncookie_ipv6_proto",
    # xdp_func_proto's BPF_FUNC_redirect (ifindex, flags: both ARG_ANYTHING)
    "bpf_xdp_redirect_proto",
)
#: the socket helpers (verifier.sock_refs: references, socket pointer returns)
_SOCK_SYMBOLS: Final = (
    "bpf_sk_lookup_tcp_proto", "bpf_sk_lookup_udp_proto", "bpf_skc_lookup_tcp_proto", "bpf_tc_sk_lookup_tcp_proto",
    "bpf_tc_sk_lookup_udp_proto", "bpf_tc_skc_lookup_tcp_proto", "bpf_xdp_sk_lookup_tcp_proto",
    "bpf_xdp_sk_lookup_udp_proto", "bpf_xdp_skc_lookup_tcp_proto", "bpf_sock_addr_sk_lookup_tcp_proto",
    "bpf_sock_addr_sk_lookup_udp_proto", "bpf_sock_addr_skc_lookup_tcp_proto", "bpf_sk_release_proto",
    "bpf_sk_fullsock_proto", "bpf_tcp_sock_proto", "bpf_get_listener_sock_proto", "bpf_tcp_check_syncookie_proto",
    "bpf_tcp_gen_syncookie_proto", "bpf_sk_assign_proto", "bpf_get_socket_ptr_cookie_proto", "bpf_sk_cgroup_id_proto",
    "bpf_sk_ancestor_cgroup_id_proto",
)

#: bpf_helper_changes_pkt_data (net/core/filter.c, 6.12 = 6.18): helper ids
CHANGES_PKT_DATA: Final = frozenset(helper_id(n) for n in (
    "clone_redirect", "l3_csum_replace", "l4_csum_replace", "lwt_push_encap", "lwt_seg6_action",
    "lwt_seg6_adjust_srh", "lwt_seg6_store_bytes", "msg_pop_data", "msg_pull_data", "msg_push_data",
    "skb_adjust_room", "skb_change_head", "skb_change_proto", "skb_change_tail", "skb_pull_data",
    "skb_store_bytes", "skb_vlan_pop", "skb_vlan_push", "store_hdr_opt", "xdp_adjust_head", "xdp_adjust_meta",
    "xdp_adjust_tail", "tail_call"))


def _convert(p: facts.FuncProto, sock: bool = False) -> H.FuncProto | None:
    """The verifier's prototype of a facts prototype, or None when one of its arguments
    or its return type is not of the kinds modelled (``sock``: the socket kinds too)."""
    rets = _SOCK_RETS if sock else {"RET_INTEGER"}
    if p.ret.base not in rets or not p.ret.flags <= {"PTR_MAYBE_NULL"} or p.might_sleep or p.allowed:
        return None
    if p.ret.base != "RET_INTEGER" and not p.ret.flags:
        return None  # every socket-returning helper may return NULL
    args_ok = _ARGS_MODELLED | _SOCK_ARGS if sock else _ARGS_MODELLED
    flags_ok = _FLAGS_MODELLED | {"OBJ_RELEASE"} if sock else _FLAGS_MODELLED
    sizes = []
    for a in p.args:
        if a.base not in args_ok or not a.flags <= flags_ok:
            return None
        size = 0
        if "MEM_FIXED_SIZE" in a.flags:
            if a.size not in _SIZES:
                return None
            size = _SIZES[a.size]
        sizes.append(size)
    name = (p.func or p.symbol).removeprefix("bpf_")
    # by name: the verifier's enum bpf_arg_type keeps 6.12's ARG_SCALAR (its values above
    # ARG_ANYTHING are one more than 6.18's); the flag bits are the same
    args = tuple(getattr(H, a.base) | (a.value & ~0xFF) for a in p.args)
    ret = getattr(H, p.ret.base) | (p.ret.value & ~0xFF)
    return H.FuncProto(name, ret, args, gpl_only=p.gpl_only,
                       pkt_access=p.pkt_access, arg_size=tuple(sizes))


@lru_cache(maxsize=None)
def _table() -> dict[str, H.FuncProto]:
    out = {}
    for sym in (*_SYMBOLS, *_SOCK_SYMBOLS):
        p = facts.PROTOS.get(sym)
        if p is None:
            continue
        conv = _convert(p, sym in _SOCK_SYMBOLS)
        if conv is not None:
            out[sym] = conv
    return out


def proto_for_symbol(symbol: str) -> H.FuncProto | None:
    """The modelled prototype of the kernel's ``symbol``, None if not modelled here."""
    return _table().get(symbol)


#: kernel proto symbol -> its modelled prototype (built on first use from the facts)
SYMBOL_PROTOS: Final = _table()


def helper_changes_pkt_data(func_id: int) -> bool:
    """``bpf_helper_changes_pkt_data``."""
    return func_id in CHANGES_PKT_DATA


def subprog_changes_pkt_data(env: Env, subprog: int) -> bool:
    """``subprog_info[subprog].changes_pkt_data`` (Linux 6.13+ ``check_cfg``:
    ``mark_subprog_changes_pkt_data`` at a helper call that changes packet data,
    ``merge_callee_effects`` through bpf-to-bpf calls): whether the subprogram or a
    function it calls may change the packet. Computed on first use and cached in the env."""
    cache = env.pkt_changing_subprogs
    if cache is None:
        cache = _compute(env)
        env.pkt_changing_subprogs = cache
    return cache.get(subprog, False)


def _compute(env: Env) -> dict[int, bool]:
    n_sub = len(env.subprogs)
    direct = [False] * n_sub
    calls: list[set[int]] = [set() for _ in range(n_sub)]
    starts = {sp.start: i for i, sp in enumerate(env.subprogs)}
    insns = env.raw
    bounds = [sp.start for sp in env.subprogs] + [len(insns)]  # subprograms are sorted by start
    for k in range(n_sub):
        for idx in range(bounds[k], bounds[k + 1]):
            ins = insns[idx]
            if ins.code != isa.CALL_INSN:
                continue
            if ins.src == 0 and helper_changes_pkt_data(ins.imm):
                direct[k] = True
            elif ins.src == 1:  # BPF_PSEUDO_CALL
                tgt = starts.get(idx + ins.imm + 1)
                if tgt is not None:
                    calls[k].add(tgt)
    out = {}
    for i in range(n_sub):
        seen = {i}
        todo = [i]
        hit = False
        while todo and not hit:
            j = todo.pop()
            hit = direct[j]
            for c in calls[j]:
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        out[i] = hit
    return out
