"""``bpf_sock_destroy``: net/core/filter.c's ``bpf_sk_iter_kfunc_ids`` set (Linux 6.12/6.18).

``int bpf_sock_destroy(struct sock_common *sock)``, ``KF_TRUSTED_ARGS``, registered for
``BPF_PROG_TYPE_TRACING`` (the TRACING kfunc hook) with a filter,
``tracing_iter_filter``: a program whose ``expected_attach_type`` is not
``BPF_TRACE_ITER`` does not see the kfunc (``btf_kfunc_id_set_contains`` fails, and
``check_kfunc_call`` says ``calling kernel function bpf_sock_destroy is not allowed``).
Socket iterators (``iter/tcp``, ``iter/udp``) are its callers. The emulated kernel has
no sockets to destroy: a call at run time is not modelled.
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts

__all__ = ["SOCK_DESTROY_KFUNCS", "ITER_ONLY_KFUNCS", "BPF_TRACE_ITER", "sock_destroy_c", "filter_allows"]

SOCK_DESTROY_KFUNCS: tuple[str, ...] = ("bpf_sock_destroy",)
#: kfuncs behind ``tracing_iter_filter``
ITER_ONLY_KFUNCS: frozenset[str] = frozenset(SOCK_DESTROY_KFUNCS)
#: enum bpf_attach_type (include/uapi/linux/bpf.h)
BPF_TRACE_ITER = 28


def filter_allows(name: str, expected_attach_type: int) -> bool:
    """The set's ``filter`` for a program of a type the set is registered for."""
    return name not in ITER_ONLY_KFUNCS or expected_attach_type == BPF_TRACE_ITER


def sock_destroy_c() -> str:
    """The prototype (6.18 declaration)."""
    out = ["/* net/core/filter.c bpf_sk_iter_kfunc_ids */"]
    for name in SOCK_DESTROY_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"
