"""Which helper a program may call, and which prototype it gets: ``get_func_proto``.

The verifier asks ``env->ops->get_func_proto(func_id, prog)`` at every helper
call (kernel/bpf/verifier.c, ``get_helper_proto`` in ``check_helper_call``);
NULL, or a proto without ``.func``, is refused with ``program of this type
cannot use helper bpf_<name>#<id>`` (EINVAL), an id outside
``__BPF_FUNC_MAX_ID`` with ``invalid func unknown#<id>``.

Each program type's ``get_func_proto`` is a C function (``sk_filter_func_proto``,
``tc_cls_act_func_proto``, ``bpf_tracing_func_proto`` ...) made of ``switch
(func_id)`` blocks, tiers guarded by capabilities (``bpf_base_func_proto``:
CAP_BPF, then CAP_PERFMON), choices on ``prog->expected_attach_type``,
``prog->sleepable``, lockdown and config options, and calls to shared
fallbacks. :mod:`.gen_func_proto` holds those functions as decision trees
(extracted from Linux 6.12 by tools/extract_bpf_facts.py); this module
evaluates them for a :class:`ProgContext`, after :mod:`.func_proto_618`
applies the 6.18 changes.

Where we differ: iterator targets' own ``get_func_proto`` (``bpf_iter_get_func_proto``:
the tcp and unix socket iterators add ``bpf_setsockopt``/``bpf_getsockopt``)
is modelled by the attach target name in :attr:`ProgContext.iter_target`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Iterator

from ..helper_ids import HELPER_NAMES, helper_id
from . import gen_ops

__all__ = [
    "ProgContext", "MODEL_CONFIG", "ROOT_CAPS", "get_func_proto", "func_proto_fn", "available_helpers",
    "all_returned_protos", "FUNC_PROTO_FNS", "ProtoAnswer", "NotModelled",  # noqa: F822 - FUNC_PROTO_FNS comes from __getattr__
]

#: the capabilities root holds (the model's default): bpf_base_func_proto's tiers
ROOT_CAPS = frozenset({"CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"})

#: the config options that decide helper availability, as an x86-64 distribution kernel
#: sets them (CONFIG_BPF_KPROBE_OVERRIDE is off by default; x86 selects
#: ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE, so bpf_probe_read/_str exist)
MODEL_CONFIG = frozenset({
    "CONFIG_NET", "CONFIG_INET", "CONFIG_CGROUPS", "CONFIG_CGROUP_BPF", "CONFIG_SOCK_CGROUP_DATA",
    "CONFIG_CGROUP_NET_CLASSID", "CONFIG_IP_ROUTE_CLASSID", "CONFIG_IPV6_SEG6_BPF", "CONFIG_XFRM",
    "CONFIG_SYN_COOKIES", "CONFIG_BPF_SYSCALL", "CONFIG_PROC_FS", "CONFIG_BPF_EVENTS", "CONFIG_BPF_LSM",
    "CONFIG_BPF_JIT", "CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE", "CONFIG_BPF_LIRC_MODE2",
    "CONFIG_NETFILTER_BPF_LINK", "CONFIG_SECURITY_NETWORK", "CONFIG_BPF_STREAM_PARSER",
})


class NotModelled(Exception):
    """A decision depends on something this model does not know (named in the message)."""


@dataclass(frozen=True, slots=True)
class ProgContext:
    """What ``get_func_proto`` reads of a program being loaded."""

    prog_type: str
    expected_attach_type: str | None = None
    sleepable: bool = False
    caps: frozenset[str] = ROOT_CAPS
    #: LOCKDOWN_* reasons the kernel's lockdown refuses (none by default)
    lockdown: frozenset[str] = frozenset()
    config: frozenset[str] = MODEL_CONFIG
    #: TRACING/LSM: the attach function's name (``bpf_lsm_socket_post_create``); STRUCT_OPS:
    #: ``struct_name.member``; TRACE_ITER: the iterator target (``tcp``, ``unix``, ``task``...)
    attach_target: str | None = None
    #: BPF_PROG_TYPE_EXT: the target program's type (the extension gets its ops)
    ext_target_prog_type: str | None = None
    #: BTF sets named by conditions (``bpf_lsm_locked_sockopt_hooks``) -> member names
    btf_sets: dict[str, frozenset[str]] = field(default_factory=lambda: dict(_BTF_SETS), compare=False)

    @property
    def attach_name(self) -> str:
        """``prog->expected_attach_type`` as a name: a load that sets none stores 0,
        which is ``BPF_CGROUP_INET_INGRESS`` (so e.g. a sock_ops program loaded without
        an attach type is refused ``bpf_get_retval``, as the kernel does)."""
        return self.expected_attach_type or "BPF_CGROUP_INET_INGRESS"

    @property
    def resolved_prog_type(self) -> str:
        """``resolve_prog_type``: an extension takes its target's type."""
        if self.prog_type == "BPF_PROG_TYPE_EXT" and self.ext_target_prog_type:
            return self.ext_target_prog_type
        return self.prog_type


#: kernel/bpf/bpf_lsm.c (6.12 and 6.18): LSM hooks where bpf_{set,get}sockopt are allowed
_BTF_SETS: dict[str, frozenset[str]] = {
    "bpf_lsm_locked_sockopt_hooks": frozenset({"bpf_lsm_sock_graft", "bpf_lsm_inet_csk_clone",
                                               "bpf_lsm_inet_conn_established"}),
    "bpf_lsm_unlocked_sockopt_hooks": frozenset({"bpf_lsm_socket_post_create", "bpf_lsm_socket_socketpair"}),
}

#: getters taking the helper id (net/core/filter.c ``bpf_get_skb_set_tunnel_proto``)
_ID_GETTERS = {
    "bpf_get_skb_set_tunnel_proto": {"skb_set_tunnel_key": "bpf_skb_set_tunnel_key_proto",
                                     "skb_set_tunnel_opt": "bpf_skb_set_tunnel_opt_proto"},
}

#: iterator targets whose bpf_iter_reg has a get_func_proto (6.12 and 6.18:
#: net/ipv4/tcp_ipv4.c, net/unix/af_unix.c)
_ITER_FUNC_PROTO = {"tcp": "bpf_iter_tcp_get_func_proto", "unix": "bpf_iter_unix_get_func_proto"}

#: the struct_ops types whose bpf_verifier_ops has a get_func_proto
STRUCT_OPS_FUNC_PROTO = {
    "tcp_congestion_ops": "bpf_tcp_ca_get_func_proto",      # net/ipv4/bpf_tcp_ca.c
    "sched_ext_ops": "bpf_scx_get_func_proto",              # kernel/sched/ext.c
    "bpf_dummy_ops": None,                                  # net/bpf/bpf_dummy_struct_ops.c: none
}


@lru_cache(maxsize=1)
def _fns() -> dict[str, dict]:
    from .func_proto_618 import patched_fns

    return patched_fns()


def __getattr__(name: str) -> dict[str, dict]:  # FUNC_PROTO_FNS is built lazily (the 6.18 patching imports this module)
    if name == "FUNC_PROTO_FNS":
        return _fns()
    raise AttributeError(name)


def func_proto_fn(ctx: ProgContext) -> str | None:
    """The name of the program type's ``get_func_proto`` (None: the type has none, so
    every helper is refused). From include/linux/bpf_types.h and the ``*_verifier_ops``
    initialisers; struct_ops by struct name, extensions by target type."""
    ptype = ctx.resolved_prog_type
    if ptype == "BPF_PROG_TYPE_STRUCT_OPS":
        st = (ctx.attach_target or "").split(".")[0]
        if st not in STRUCT_OPS_FUNC_PROTO:
            raise NotModelled(f"struct_ops type {st!r}: which get_func_proto it has is not modelled")
        return STRUCT_OPS_FUNC_PROTO[st]
    for entry in gen_ops.prog_types:
        if entry["type"] == ptype:
            ops: dict[str, Any] | None = gen_ops.verifier_ops.get(f"{entry['name']}_verifier_ops")
            if ops is None:
                raise NotModelled(f"no verifier ops for {ptype}")
            return ops["fields"].get("get_func_proto")
    if ptype == "BPF_PROG_TYPE_NETFILTER":
        return "bpf_nf_func_proto"  # net/netfilter/nf_bpf_link.c (registered outside bpf_types.h)
    raise NotModelled(f"program type {ptype} is not in include/linux/bpf_types.h")


@dataclass(frozen=True, slots=True)
class ProtoAnswer:
    """``get_func_proto``'s answer: the proto symbol (None = refused) and the
    functions consulted, outermost first (for citations and debugging)."""

    symbol: str | None
    path: tuple[str, ...]


def get_func_proto(func_id: int, ctx: ProgContext) -> ProtoAnswer:
    """Evaluate the program type's ``get_func_proto`` for helper ``func_id``."""
    if not 0 <= func_id < len(HELPER_NAMES):
        return ProtoAnswer(None, ())
    fn = func_proto_fn(ctx)
    if fn is None:
        return ProtoAnswer(None, ())
    ev = _Eval(ctx, HELPER_NAMES[func_id])
    sym = ev.call(fn)
    return ProtoAnswer(sym, tuple(ev.path))


def available_helpers(ctx: ProgContext) -> dict[int, str]:
    """Every helper id the program may call -> the proto it gets."""
    out = {}
    for i in range(1, len(HELPER_NAMES)):
        sym = get_func_proto(i, ctx).symbol
        if sym is not None:
            out[i] = sym
    return out


class _Return(Exception):
    def __init__(self, value: str | None):
        self.value = value


class _Break(Exception):
    pass


class _Eval:
    def __init__(self, ctx: ProgContext, helper: str):
        self.ctx = ctx
        self.helper = helper
        self.path: list[str] = []

    # --- functions
    def call(self, name: str) -> str | None:
        if name in _ITER_DISPATCH:
            return _ITER_DISPATCH[name](self)
        fns = _fns()
        if name not in fns:
            raise NotModelled(f"get_func_proto function {name} is not in the extracted data")
        fn = fns[name]
        self.path.append(name)
        if not self.guard_ok(tuple(fn.get("config", ()))):
            return None
        tree = fn["tree"]
        if tree[0] == "opaque":
            raise NotModelled(f"{name}: {tree[1]}")
        saved = getattr(self, "var", None)
        self.var: str | None = None
        try:
            self.run(tree)
        except _Return as r:
            return r.value
        finally:
            self.var = saved
        return None

    # --- statements
    def run(self, node) -> None:  # type: ignore[no-untyped-def]
        kind = node[0]
        if kind == "seq":
            for s in node[1]:
                self.run(s)
        elif kind == "guarded":
            if self.guard_ok(node[1]):
                self.run(node[2])
        elif kind == "return":
            raise _Return(self.result(node[1]))
        elif kind == "break":
            raise _Break
        elif kind == "if":
            if self.cond(node[1]):
                self.run(node[2])
            elif node[3] is not None:
                self.run(node[3])
        elif kind == "assign_call":
            self.var = self.nested_call(node[1])
        elif kind == "assign_proto":
            self.var = node[1]
        elif kind in ("switch_func", "switch_attach"):
            key = self.helper if kind == "switch_func" else self.ctx.attach_name
            groups = node[1]
            start = None
            for k, (labels, guard, _body) in enumerate(groups):
                if key in labels and self.guard_ok(guard):
                    start = k
                    break
            if start is None:
                for k, (labels, guard, _body) in enumerate(groups):
                    if "default" in labels:
                        start = k
                        break
            if start is None:
                return
            try:
                for labels, guard, body in groups[start:]:
                    for s in body:
                        self.run(s)
            except _Break:
                return
        else:
            raise NotModelled(f"statement kind {kind}")

    def nested_call(self, name: str) -> str | None:
        saved_var = self.var
        try:
            return self.call(name)
        finally:
            self.var = saved_var

    def result(self, r) -> str | None:  # type: ignore[no-untyped-def]
        kind = r[0]
        if kind == "proto":
            return r[1]
        if kind == "null":
            return None
        if kind == "var":
            return self.var
        if kind == "call":
            return self.nested_call(r[1])
        if kind == "cond":
            return self.result(r[2]) if self.cond(r[1]) else self.result(r[3])
        if kind == "getter":
            table = _ID_GETTERS.get(r[1])
            if table is None or self.helper not in table:
                raise NotModelled(f"getter {r[1]} for {self.helper}")
            return table[self.helper]
        raise NotModelled(f"result kind {kind}")

    # --- conditions
    def cond(self, c) -> bool:  # type: ignore[no-untyped-def]
        kind = c[0]
        ctx = self.ctx
        if kind == "not":
            return not self.cond(c[1])
        if kind == "and":
            return self.cond(c[1]) and self.cond(c[2])
        if kind == "or":
            return self.cond(c[1]) or self.cond(c[2])
        if kind == "cap":
            # bpf_token_capable(): CAP_SYS_ADMIN implies CAP_BPF/CAP_PERFMON (kernel/bpf/token.c)
            return c[1] in ctx.caps or "CAP_SYS_ADMIN" in ctx.caps
        if kind == "attach":
            return ctx.attach_name == c[1]
        if kind == "prog_type":
            return ctx.prog_type == c[1]
        if kind == "sleepable":
            return ctx.sleepable
        if kind == "lockdown":
            return c[1] in ctx.lockdown
        if kind == "var_set":
            return self.var is not None
        if kind == "pred":
            return _PREDICATES[c[1]](ctx)
        if kind == "attach_btf_in":
            return (ctx.attach_target or "") in ctx.btf_sets.get(c[1], frozenset())
        if kind == "struct_ops_member":
            return ctx.attach_target == f"{c[1]}.{c[2]}"
        raise NotModelled(f"condition {c!r}")

    def guard_ok(self, guard: tuple[str, ...]) -> bool:
        return all(_config_true(g, self.ctx.config) for g in guard)


def _iter_dispatch(ev: _Eval) -> str | None:
    fn = _ITER_FUNC_PROTO.get(ev.ctx.attach_target or "")
    return ev.nested_call(fn) if fn else None


_ITER_DISPATCH = {"bpf_iter_get_func_proto": _iter_dispatch}


def _recur(ctx: ProgContext) -> bool:
    """include/linux/bpf_verifier.h ``bpf_prog_check_recur``."""
    t = ctx.resolved_prog_type
    if t == "BPF_PROG_TYPE_TRACING":
        return ctx.expected_attach_type != "BPF_TRACE_ITER"
    return t not in ("BPF_PROG_TYPE_STRUCT_OPS", "BPF_PROG_TYPE_LSM")


def _has_trampoline(ctx: ProgContext) -> bool:
    """kernel/bpf/trampoline.c ``bpf_prog_has_trampoline``."""
    t, a = ctx.resolved_prog_type, ctx.expected_attach_type
    return (t == "BPF_PROG_TYPE_TRACING" and a in ("BPF_TRACE_FENTRY", "BPF_TRACE_FEXIT", "BPF_MODIFY_RETURN")) \
        or (t == "BPF_PROG_TYPE_LSM" and a == "BPF_LSM_MAC")


_PREDICATES = {
    "recur": _recur,
    "has_trampoline": _has_trampoline,
    "kprobe_multi": lambda c: c.expected_attach_type in ("BPF_TRACE_KPROBE_MULTI", "BPF_TRACE_KPROBE_SESSION"),
    "kprobe_session": lambda c: c.expected_attach_type == "BPF_TRACE_KPROBE_SESSION",
    "uprobe_multi": lambda c: c.expected_attach_type in ("BPF_TRACE_UPROBE_MULTI", "BPF_TRACE_UPROBE_SESSION"),
    "uprobe_session": lambda c: c.expected_attach_type == "BPF_TRACE_UPROBE_SESSION",
    "raw_tp": lambda c: c.resolved_prog_type == "BPF_PROG_TYPE_TRACING" and c.expected_attach_type == "BPF_TRACE_RAW_TP",
}

_CFG_TOKEN = re.compile(r"\s*(\(|\)|!|&&|\|\||[A-Za-z_][A-Za-z_0-9]*|\d+)")


def _config_true(expr: str, config: frozenset[str]) -> bool:
    """A preprocessor condition (``CONFIG_A && !(CONFIG_B)``) under ``config``."""
    toks = _CFG_TOKEN.findall(expr)
    pos = 0

    def primary() -> bool:
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t == "!":
            return not primary()
        if t == "(":
            v = orexpr()
            pos += 1
            return v
        if t.isdigit():
            return t != "0"
        return t in config

    def andexpr() -> bool:
        nonlocal pos
        v = primary()
        while pos < len(toks) and toks[pos] == "&&":
            pos += 1
            v = primary() and v
        return v

    def orexpr() -> bool:
        nonlocal pos
        v = andexpr()
        while pos < len(toks) and toks[pos] == "||":
            pos += 1
            v = andexpr() or v
        return v

    return orexpr()


def all_returned_protos() -> Iterator[tuple[int, str]]:
    """Every (helper id, proto symbol) pair some ``get_func_proto`` can return."""
    for fn in _fns().values():
        yield from _walk_returns(fn["tree"], None)


def _walk_returns(node, helper: str | None) -> Iterator[tuple[int, str]]:  # type: ignore[no-untyped-def]
    if not isinstance(node, tuple) or not node:
        return
    kind = node[0]
    if kind in ("switch_func",):
        for labels, _guard, body in node[1]:
            names = [lb for lb in labels if lb != "default"]
            for s in body:
                for name in names or [helper]:
                    yield from _walk_returns(s, name)
        return
    if kind == "switch_attach":
        for _labels, _guard, body in node[1]:
            for s in body:
                yield from _walk_returns(s, helper)
        return
    if kind in ("proto", "assign_proto") and helper is not None:
        hid = helper_id(helper)
        if hid is not None:
            yield hid, node[1]
        return
    if kind == "getter" and helper is not None:
        sym = _ID_GETTERS.get(node[1], {}).get(helper)
        hid = helper_id(helper)
        if sym and hid is not None:
            yield hid, sym
        return
    for x in node[1:]:
        if isinstance(x, tuple):
            yield from _walk_returns(x, helper)
        elif isinstance(x, list):
            for y in x:
                yield from _walk_returns(y, helper)


def with_attach(ctx: ProgContext, expected_attach_type: str | None) -> ProgContext:
    """``ctx`` with another expected_attach_type."""
    return replace(ctx, expected_attach_type=expected_attach_type)

