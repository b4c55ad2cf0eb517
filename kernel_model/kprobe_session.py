"""The kprobe/uprobe session kfuncs: kernel/trace/bpf_trace.c ``kprobe_multi_kfunc_set_ids`` (Linux 6.10+, 6.18).

``bool bpf_session_is_return(void)`` and ``__u64 *bpf_session_cookie(void)`` (no KF_* flags),
registered for ``BPF_PROG_TYPE_KPROBE`` (the KPROBE kfunc hook) with a filter,
``bpf_kprobe_multi_filter``: a program that is not a session program (``expected_attach_type``
``BPF_TRACE_KPROBE_SESSION``, or, 6.14+, ``BPF_TRACE_UPROBE_SESSION``) does not see them
(``calling kernel function %s is not allowed``). ``check_kfunc_call`` gives the cookie's
result as writable memory of 8 bytes (``meta.r0_size = sizeof(u64)``, ``r0_rdonly = false``,
where a pointer to a scalar is otherwise read-only). The emulated kernel runs no kprobes: a
call at run time is not modelled.
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts
from .bpf_facts.enums import ATTACH_TYPES

__all__ = ["SESSION_KFUNCS", "SESSION_COOKIE", "session_c", "session_filter_allows"]

SESSION_KFUNCS: tuple[str, ...] = ("bpf_session_is_return", "bpf_session_cookie")
SESSION_COOKIE = "bpf_session_cookie"
#: is_kprobe_session / is_uprobe_session (kernel/trace/bpf_trace.c)
_SESSION_ATTACH = frozenset({ATTACH_TYPES["BPF_TRACE_KPROBE_SESSION"], ATTACH_TYPES["BPF_TRACE_UPROBE_SESSION"]})


def session_filter_allows(name: str, expected_attach_type: int) -> bool:
    """``bpf_kprobe_multi_filter`` for a kprobe program (the only type the set is registered for)."""
    return name not in SESSION_KFUNCS or expected_attach_type in _SESSION_ATTACH


def session_c() -> str:
    """The prototypes (6.18 declarations)."""
    out = ["/* kernel/trace/bpf_trace.c kprobe_multi_kfunc_set_ids */"]
    for name in SESSION_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"
