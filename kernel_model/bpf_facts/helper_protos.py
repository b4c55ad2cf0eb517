"""Every helper prototype (``struct bpf_func_proto``) of Linux 6.18, typed.

The kernel describes each helper variant by a ``const struct bpf_func_proto``
initialiser (include/linux/bpf.h: ``ret_type``, ``arg1_type`` ...
``arg5_type``, ``arg*_btf_id`` or ``arg*_size``, ``ret_btf_id``,
``gpl_only``, ``pkt_access``, ``might_sleep``, ``allow_fastcall``,
``allowed``). One helper id can have several variants: the program type's
``get_func_proto`` picks one (e.g. ``bpf_get_stack`` has
``bpf_get_stack_proto``, ``bpf_get_stack_sleepable_proto``,
``bpf_get_stack_proto_tp``, ``bpf_get_stack_proto_raw_tp``,
``bpf_get_stack_proto_pe``); :func:`variants` lists them and
:mod:`.func_proto` says which one a program gets.

Source: :mod:`.gen_protos`, extracted by tools/extract_bpf_facts.py from
Linux 6.12 (kernel/bpf/*.c, kernel/trace/bpf_trace.c, net/core/filter.c,
net/core/sock_map.c, net/core/bpf_sk_storage.c, net/ipv4/bpf_tcp_ca.c,
drivers/media/rc/bpf-lirc.c ...), then :data:`CHANGES_6_18` on top. Each
:class:`FuncProto` names its kernel symbol, file and line (6.12 tree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from . import gen_protos
from .enums import split_type, type_name, type_value

__all__ = [
    "ArgSpec", "RetSpec", "FuncProto", "PROTOS", "proto", "variants", "helper_of_proto", "CHANGES_6_18",
    "NEW_6_18",
]


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One ``argN_type`` with its ``argN_btf_id`` / ``argN_size`` (a union in the kernel)."""

    base: str
    flags: frozenset[str] = frozenset()
    #: what ``argN_btf_id`` points to, as written in the kernel (``btf_sock_ids[BTF_SOCK_TYPE_SOCK]``)
    btf_id: str | None = None
    #: ``argN_size`` (MEM_FIXED_SIZE arguments), as written (``sizeof(u64)``)
    size: str | None = None

    @property
    def value(self) -> int:
        """The 6.18 ``enum bpf_arg_type`` value (base | flags)."""
        return type_value((self.base, *sorted(self.flags)))

    def __str__(self) -> str:
        return type_name(self.base, self.flags)


@dataclass(frozen=True, slots=True)
class RetSpec:
    base: str
    flags: frozenset[str] = frozenset()
    btf_id: str | None = None

    @property
    def value(self) -> int:
        return type_value((self.base, *sorted(self.flags)))

    def __str__(self) -> str:
        return type_name(self.base, self.flags)


DONTCARE = ArgSpec("ARG_DONTCARE")


@dataclass(frozen=True, slots=True)
class FuncProto:
    """A ``struct bpf_func_proto`` initialiser (one helper variant)."""

    symbol: str
    #: the C function behind ``.func`` (``bpf_map_lookup_elem``); None for protos without one
    func: str | None
    ret: RetSpec
    args: tuple[ArgSpec, ArgSpec, ArgSpec, ArgSpec, ArgSpec]
    gpl_only: bool = False
    pkt_access: bool = False
    might_sleep: bool = False
    allow_fastcall: bool = False
    #: ``.allowed`` callback (e.g. ``bpf_d_path_allowed``): the verifier calls it and
    #: refuses with "helper call is not allowed in probe" when it says no
    allowed: str | None = None
    file: str = ""
    line: int = 0
    #: preprocessor conditions around the definition (``CONFIG_INET``...)
    config: tuple[str, ...] = ()
    #: 6.18 differences applied (text of the change, for the docs)
    changed: tuple[str, ...] = field(default=(), compare=False)

    @property
    def nargs(self) -> int:
        """Arguments used (the last non-DONTCARE one)."""
        n = 0
        for i, a in enumerate(self.args):
            if a.base != "ARG_DONTCARE":
                n = i + 1
        return n


def _from_gen(symbol: str, d: dict) -> FuncProto:
    args = []
    for i in range(1, 6):
        syms = d.get(f"arg{i}_type")
        if syms is None:
            args.append(DONTCARE)
            continue
        base, flags = split_type(tuple(syms))
        args.append(ArgSpec(base, flags, d.get(f"arg{i}_btf_id"), d.get(f"arg{i}_size")))
    rbase, rflags = split_type(tuple(d.get("ret_type", ("RET_INTEGER",))))
    return FuncProto(symbol, d.get("func"), RetSpec(rbase, rflags, d.get("ret_btf_id")), tuple(args),  # type: ignore[arg-type]
                     gpl_only=d.get("gpl_only", False), pkt_access=d.get("pkt_access", False),
                     might_sleep=d.get("might_sleep", False), allow_fastcall=d.get("allow_fastcall", False),
                     allowed=d.get("allowed"), file=d["file"], line=d["line"], config=tuple(d["config"]))


#: Linux 6.18 differences from the extracted 6.12 initialisers: symbol -> (fields, why).
#: ``ARG_SCALAR`` no longer exists in 6.18's ``enum bpf_arg_type`` (the 6.18 BTF has no such
#: enumerator); its one user, ``bpf_loop_proto`` (kernel/bpf/bpf_iter.c), takes ``nr_loops`` as
#: ``ARG_ANYTHING`` there (checked on the host: a pointer in R1 is accepted, which ARG_SCALAR
#: refused with "R1 type=fp expected=scalar").
CHANGES_6_18: dict[str, tuple[dict, str]] = {
    "bpf_loop_proto": ({"arg1": ArgSpec("ARG_ANYTHING")},
                       "6.18: ARG_SCALAR removed from enum bpf_arg_type; nr_loops is ARG_ANYTHING"),
    # the 6.18 host writes the buffer (the stack slots become STACK_MISC after the call, an
    # uninitialised buffer is accepted): the variant of the other program types
    "bpf_get_stack_proto_raw_tp": ({"arg2": ArgSpec("ARG_PTR_TO_MEM", frozenset({"MEM_UNINIT", "MEM_WRITE"}))},
                                   "6.18: bpf_get_stack_raw_tp's buffer is ARG_PTR_TO_UNINIT_MEM (written), "
                                   "not ARG_PTR_TO_MEM | MEM_RDONLY"),
    # "bpf: Fix memory access flags in helper prototypes" (2026, in the 6.18 stable host): the
    # buffers these helpers write are MEM_WRITE (a read-only map value is refused for them)
    "bpf_read_branch_records_proto": ({"arg2": ArgSpec("ARG_PTR_TO_MEM", frozenset({"PTR_MAYBE_NULL", "MEM_WRITE"}))},
                                      "6.18: bpf_read_branch_records' buffer is written (MEM_WRITE)"),
    "bpf_snprintf_proto": ({"arg1": ArgSpec("ARG_PTR_TO_MEM", frozenset({"PTR_MAYBE_NULL", "MEM_WRITE"}))},
                           "6.18: bpf_snprintf's buffer is written (MEM_WRITE)"),
    # the 6.18 host refuses a read-only map value as the string buffer ("write into map forbidden")
    "bpf_snprintf_btf_proto": ({"arg1": ArgSpec("ARG_PTR_TO_MEM", frozenset({"MEM_WRITE"}))},
                               "6.18: bpf_snprintf_btf's string buffer is written (MEM_WRITE)"),
}


#: prototypes 6.18 has and 6.12 had not. The symbol name is ours where the 6.18 source was
#: not read (said in ``changed``); argument types are the ones the 6.18 host's verifier enforces
#: (its log names the expected register type: "R1 type=scalar expected=ctx", and a NULL R1 loads).
NEW_6_18: dict[str, FuncProto] = {
    "bpf_get_netns_cookie_proto": FuncProto(
        "bpf_get_netns_cookie_proto", "bpf_get_netns_cookie", RetSpec("RET_INTEGER"),
        (ArgSpec("ARG_PTR_TO_CTX", frozenset({"PTR_MAYBE_NULL"})), DONTCARE, DONTCARE, DONTCARE, DONTCARE),
        file="net/core/filter.c", config=("CONFIG_NET",),
        changed=("6.18: bpf_get_netns_cookie for skb programs; symbol name assumed, arg1 "
                 "ARG_PTR_TO_CTX_OR_NULL as the host verifier enforces",)),
}


def _apply(p: FuncProto, change: dict, why: str) -> FuncProto:
    args = list(p.args)
    kw = {}
    for k, v in change.items():
        if k.startswith("arg") and k[3:].isdigit():
            args[int(k[3:]) - 1] = v
        else:
            kw[k] = v
    from dataclasses import replace

    a1, a2, a3, a4, a5 = args  # always five: ``struct bpf_func_proto`` arg1_type..arg5_type
    return replace(p, args=(a1, a2, a3, a4, a5), changed=p.changed + (why,), **kw)


def _build() -> dict[str, FuncProto]:
    out: dict[str, FuncProto] = {}
    for sym, d in gen_protos.PROTOS.items():
        d = dict(d)
        # 6.12's ARG_SCALAR has no 6.18 value: CHANGES_6_18 replaces it
        for i in range(1, 6):
            if d.get(f"arg{i}_type") == ("ARG_SCALAR",):
                d[f"arg{i}_type"] = ("ARG_ANYTHING",)
        out[sym] = _from_gen(sym, d)
    for sym, (change, why) in CHANGES_6_18.items():
        out[sym] = _apply(out[sym], change, why)
    out.update(NEW_6_18)
    return out


#: every helper prototype variant: kernel symbol -> FuncProto
PROTOS: dict[str, FuncProto] = _build()


def proto(symbol: str) -> FuncProto:
    """The prototype called ``symbol`` (``bpf_map_lookup_elem_proto``); KeyError if none."""
    return PROTOS[symbol]


@lru_cache(maxsize=1)
def _variants() -> dict[int, tuple[str, ...]]:
    from .func_proto import all_returned_protos

    by_id: dict[int, set[str]] = {}
    for helper, sym in all_returned_protos():
        by_id.setdefault(helper, set()).add(sym)
    return {k: tuple(sorted(v)) for k, v in by_id.items()}


def variants(func_id: int) -> tuple[str, ...]:
    """Every proto symbol some program type's ``get_func_proto`` returns for helper ``func_id``."""
    return _variants().get(func_id, ())


def helper_of_proto(symbol: str) -> list[int]:
    """The helper ids whose ``get_func_proto`` answer can be ``symbol``."""
    return sorted(i for i, syms in _variants().items() if symbol in syms)

