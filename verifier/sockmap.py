"""Socket maps in the verifier: ``BPF_MAP_TYPE_SOCKMAP``, ``BPF_MAP_TYPE_SOCKHASH``
(and the helper side of ``BPF_MAP_TYPE_REUSEPORT_SOCKARRAY``).

Models, from kernel/bpf/verifier.c (Linux 6.12, the same in 6.18 -- each rule below is
checked against the 6.18 host by tests/verifier/test_sockmap.py):

* ``may_update_sockmap``: which program types may pass a sockmap or sockhash to the
  generic ``bpf_map_update_elem`` / ``bpf_map_delete_elem`` (socket filters, tc
  classifiers and actions, XDP, sk_reuseport, flow dissector, sk_lookup; sock_ops
  only for a delete -- its updates go through ``bpf_sock_map_update`` /
  ``bpf_sock_hash_update``, which check the sock_ops event at run time; tracing only
  for ``iter/`` programs). Any other type gets ``cannot update sockmap in this
  context`` in its log, then ``check_map_func_compatibility``'s ``cannot pass
  map_type``;
* ``resolve_map_arg_type``: a map value argument (``ARG_PTR_TO_MAP_VALUE``) of a
  sockmap or sockhash is a socket (``ARG_PTR_TO_BTF_ID_SOCK_COMMON``: a socket pointer
  or a BTF pointer to a struct starting with ``struct sock_common``), any other value
  argument kind (``bpf_map_peek_elem``'s uninitialised buffer) is ``invalid arg_type
  for sockmap/sockhash``; for a bloom filter ``bpf_map_peek_elem``'s buffer becomes a
  plain (read) map value;
* ``is_acquire_function``: ``bpf_map_lookup_elem`` of a sockmap or sockhash takes a
  reference: the result (``PTR_TO_MAP_VALUE_OR_NULL`` that its NULL check turns into
  ``PTR_TO_SOCKET``, :mod:`verifier.not_null`) must be given to ``bpf_sk_release``;
* the prototypes of the helpers that take these maps (net/core/filter.c,
  net/core/sock_map.c: ``bpf_sk_redirect_map/hash``, ``bpf_msg_redirect_map/hash``,
  ``bpf_sock_map_update`` / ``bpf_sock_hash_update``, ``sk_select_reuseport``), by kernel
  symbol: which program type gets which is the kernel's ``get_func_proto``
  (:mod:`verifier.helper_sets`).

The two-way map/helper table itself is :mod:`verifier.map_rules`.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Final

from kernel_model.bpf_facts.enums import ATTACH_TYPES, MAP_TYPES, PROG_TYPES
from kernel_model.bpf_facts.helper_protos import PROTOS as FACT_PROTOS

from . import helpers as H

if TYPE_CHECKING:
    from .calls import CallMeta
    from .core import Env

__all__ = ["SOCK_MAPS", "may_update_sockmap", "resolve_map_arg_type", "is_sockmap_lookup", "SYMBOLS",
           "SYMBOL_PROTOS", "proto_for_symbol"]

SOCKMAP: Final = MAP_TYPES["BPF_MAP_TYPE_SOCKMAP"]
SOCKHASH: Final = MAP_TYPES["BPF_MAP_TYPE_SOCKHASH"]
_BLOOM: Final = MAP_TYPES["BPF_MAP_TYPE_BLOOM_FILTER"]
#: the two map types whose values are sockets
SOCK_MAPS: Final = frozenset({SOCKMAP, SOCKHASH})

#: enum bpf_func_id
_LOOKUP, _UPDATE, _DELETE, _PEEK = 1, 2, 3, 89

_P = PROG_TYPES
#: may_update_sockmap: the types that may update and delete through the generic helpers
_MAY_UPDATE: Final = frozenset(_P[n] for n in (
    "BPF_PROG_TYPE_SOCKET_FILTER", "BPF_PROG_TYPE_SCHED_CLS", "BPF_PROG_TYPE_SCHED_ACT", "BPF_PROG_TYPE_XDP",
    "BPF_PROG_TYPE_SK_REUSEPORT", "BPF_PROG_TYPE_FLOW_DISSECTOR", "BPF_PROG_TYPE_SK_LOOKUP"))
_TRACING: Final = _P["BPF_PROG_TYPE_TRACING"]
_SOCK_OPS: Final = _P["BPF_PROG_TYPE_SOCK_OPS"]
_TRACE_ITER: Final = ATTACH_TYPES["BPF_TRACE_ITER"]


def may_update_sockmap(env: Env, map_type: int, func_id: int) -> bool:
    """``may_update_sockmap`` for a ``func_id`` call on a map of ``map_type``: True when
    the program may update/delete the sockmap or sockhash through the generic helper.
    Logs ``cannot update sockmap in this context`` when an update or delete is refused
    (the kernel evaluates it only for these two map types, after the helpers they allow)."""
    if map_type not in SOCK_MAPS or func_id not in (_UPDATE, _DELETE):
        return False
    a = env.attr
    t = a.prog_type  # resolve_prog_type: freplace programs (the target's type) are not modelled
    if t == _TRACING and a.expected_attach_type == _TRACE_ITER:
        return True
    if t == _SOCK_OPS and func_id == _DELETE:
        return True
    if t in _MAY_UPDATE:
        return True
    env.verbose("cannot update sockmap in this context\n")
    return False


def resolve_map_arg_type(env: Env, meta: CallMeta, arg_type: int) -> int:
    """``resolve_map_arg_type``: the argument kind a map value argument has for this map."""
    m = meta.map
    if m is None:
        raise env.reject(E.EACCES, "invalid map_ptr to access map->type")
    if m.map_type in SOCK_MAPS:
        if arg_type != H.ARG_PTR_TO_MAP_VALUE:
            raise env.reject(E.EINVAL, "invalid arg_type for sockmap/sockhash")
        return H.ARG_PTR_TO_BTF_ID_SOCK_COMMON
    if m.map_type == _BLOOM and meta.func_id == _PEEK:
        return H.ARG_PTR_TO_MAP_VALUE
    return arg_type


def is_sockmap_lookup(func_id: int, map_type: int | None) -> bool:
    """The map part of ``is_acquire_function``: a sockmap or sockhash lookup."""
    return func_id == _LOOKUP and map_type in SOCK_MAPS


# --- the prototypes ---------------------------------------------------------------------------------

#: the kernel's proto symbols of the helpers that take socket maps (6.12 initialisers, unchanged in 6.18)
SYMBOLS: Final = (
    "bpf_sk_redirect_map_proto", "bpf_sk_redirect_hash_proto",    # net/core/sock_map.c (sk_skb)
    "bpf_msg_redirect_map_proto", "bpf_msg_redirect_hash_proto",  # net/core/sock_map.c (sk_msg)
    "bpf_sock_map_update_proto", "bpf_sock_hash_update_proto",    # net/core/sock_map.c (sock_ops)
    "sk_select_reuseport_proto",                                  # net/core/filter.c (sk_reuseport)
)
#: the argument kinds these prototypes use
_ARGS: Final = frozenset({"ARG_DONTCARE", "ARG_PTR_TO_CTX", "ARG_CONST_MAP_PTR", "ARG_PTR_TO_MAP_KEY",
                          "ARG_ANYTHING"})


def _build() -> dict[str, H.FuncProto]:
    out = {}
    for sym in SYMBOLS:
        p = FACT_PROTOS[sym]
        if p.ret.base != "RET_INTEGER" or p.ret.flags or any(a.base not in _ARGS or a.flags for a in p.args):
            raise AssertionError(f"{sym}: a kind this module does not convert")
        out[sym] = H.FuncProto((p.func or p.symbol).removeprefix("bpf_"), H.RET_INTEGER,
                               tuple(getattr(H, a.base) for a in p.args), gpl_only=p.gpl_only,
                               might_sleep=p.might_sleep, pkt_access=p.pkt_access)
    return out


#: kernel proto symbol -> the prototype the verifier checks
SYMBOL_PROTOS: Final[dict[str, H.FuncProto]] = _build()


def proto_for_symbol(symbol: str) -> H.FuncProto | None:
    """The modelled prototype of ``symbol`` when it is one of :data:`SYMBOLS`."""
    return SYMBOL_PROTOS.get(symbol)
