"""The conntrack kfuncs: net/netfilter/nf_conntrack_bpf.c and nf_nat_bpf.c (Linux 6.12/6.18).

``nf_conntrack_kfunc_set`` (``bpf_xdp_ct_alloc``/``_lookup``, ``bpf_skb_ct_alloc``/
``_lookup``: KF_ACQUIRE | KF_RET_NULL; ``bpf_ct_insert_entry``: also KF_RELEASE;
``bpf_ct_release``: KF_RELEASE; ``bpf_ct_set_timeout``/``change_timeout``/``set_status``/
``change_status``: KF_TRUSTED_ARGS) and ``nf_nat_kfunc_set`` (``bpf_ct_set_nat_info``,
KF_TRUSTED_ARGS), each registered for ``BPF_PROG_TYPE_XDP`` and ``BPF_PROG_TYPE_SCHED_CLS``;
prototypes from the 6.18 BTF. The 6.18 host refuses a NULL memory argument of the lookup
and alloc kfuncs with ``Possibly NULL pointer passed to trusted arg1`` (test_bpf_nf.o), which
6.12's flags do not explain: every conntrack kfunc carries KF_TRUSTED_ARGS here, the host's
observed answer.

Writes through a ``struct nf_conn`` / ``nf_conn___init`` pointer go to
``_nf_conntrack_btf_struct_access`` (the ``btf_struct_access`` of the tc and XDP verifier
ops, with ``CONFIG_NF_CONNTRACK_MARK``): only ``mark`` (verifier.conntrack).

The types (kernel_model.vmlinux_nf, generated from a 6.18 kernel's BTF by
tools/gen_nf_btf.py) enter the emulated vmlinux where it does not define them yet
(:func:`new_definitions`). The emulated kernel has no connection tracking: a call at run
time is not modelled.
"""

from __future__ import annotations

import re

from .bpf_facts import kfuncs as facts
from .vmlinux_nf import NF_C

__all__ = ["CT_KFUNCS", "CT_PROG_TYPES", "conntrack_c", "ct_flags", "new_definitions"]

CT_KFUNCS: tuple[str, ...] = (
    "bpf_xdp_ct_alloc", "bpf_xdp_ct_lookup", "bpf_skb_ct_alloc", "bpf_skb_ct_lookup", "bpf_ct_insert_entry",
    "bpf_ct_release", "bpf_ct_set_timeout", "bpf_ct_change_timeout", "bpf_ct_set_status",
    "bpf_ct_change_status", "bpf_ct_set_nat_info",
)
#: the program types both sets are registered for (XDP, SCHED_CLS), whose verifier ops'
#: btf_struct_access is the conntrack one (tc_cls_act_verifier_ops serves SCHED_ACT too)
CT_PROG_TYPES: frozenset[int] = frozenset({6, 3})
WRITE_PROG_TYPES: frozenset[int] = frozenset({6, 3, 4})


def ct_flags(name: str) -> frozenset[str]:
    """The 6.12 set's flags plus KF_TRUSTED_ARGS (the 6.18 host's answer, see above)."""
    return frozenset(facts.kfunc(name).flags or ()) | {"KF_TRUSTED_ARGS"}


def _defined_names(text: str) -> set[str]:
    names = set(re.findall(r"\b(?:struct|union|enum)\s+(\w+)\s*\{", text))
    names |= set(re.findall(r"typedef[^;{]*?\b(\w+)\s*;", text))
    names |= set(re.findall(r"\}\s*(\w+)\s*;", text))  # typedef struct {...} name;
    return names


def new_definitions(existing: str, text: str) -> str:
    """The blocks of ``text`` (blank-line separated C definitions) that define a type
    ``existing`` lacks; forward declarations are kept only for types defined nowhere."""
    have = _defined_names(existing)
    out: list[str] = []
    for block in text.split("\n\n"):
        b = block.strip()
        if not b:
            continue
        fwd = re.fullmatch(r"(?:struct|union)\s+(\w+);", b)
        if fwd:
            if fwd.group(1) not in have and fwd.group(1) not in _defined_names(text):
                out.append(b)
            continue
        names = _defined_names(b)
        if names and names <= have:
            continue
        out.append(b)
        have |= names
    return "\n\n".join(out) + "\n"


def conntrack_c(existing: str) -> str:
    """The types ``existing`` lacks, then the kfunc prototypes (6.18 declarations)."""
    out = [new_definitions(existing, NF_C), "/* net/netfilter/nf_conntrack_bpf.c, nf_nat_bpf.c */"]
    for name in CT_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"
