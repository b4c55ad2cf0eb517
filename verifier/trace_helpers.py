"""The tracing helpers' prototypes, taken from the kernel's own initialisers.

The tracing program types (kprobe, tracepoint, raw tracepoint, perf event; their
``get_func_proto`` in kernel/trace/bpf_trace.c, Linux 6.18) hand out helpers whose
``struct bpf_func_proto`` the model reads from :mod:`kernel_model.bpf_facts.helper_protos`
(every initialiser of 6.12 with the 6.18 edits): the verifier checks a call against the
exact variant the type's ``get_func_proto`` returns (``bpf_get_stack_proto_tp`` for a
tracepoint, ``bpf_get_stack_proto_raw_tp`` for a raw tracepoint ...), never against
another variant of the same helper.

Only variants whose every argument and return type the model's ``check_func_arg`` and
return handling implement are listed in :data:`TRACE_SYMBOLS` (memory and size pairs,
context, map pointer, scalars; integer returns and the trusted current task): the others
stay "not modelled" (``ARG_PTR_TO_BTF_ID`` of the task helpers and task storage, ``MEM_FIXED_SIZE`` arguments,
ringbuf records and dynptrs). ``bpf_probe_write_user`` is handed out only when the kernel is
not locked down for ``LOCKDOWN_BPF_WRITE_USER`` (:mod:`kernel_model.lockdown`; the 6.18 host,
built with ``CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY``, refuses it: "program of this type
cannot use helper", test_probe_user.o).

The per-helper rules of ``check_helper_call`` that these helpers reach are in
:mod:`verifier.calls`: ``do_refine_retval_range`` (``bpf_get_stack``,
``bpf_probe_read_*_str``: R0 in [-MAX_ERRNO, the size argument's maximum]) and
``check_get_func_ip`` (kprobes only, of the types modelled).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from kernel_model.bpf_facts.helper_protos import proto as fact_proto

from . import helpers as H
from . import regs as R

__all__ = ["TRACE_SYMBOLS", "symbol_proto", "REFINE_RETVAL_IDS", "BPF_FUNC_get_func_ip"]

#: kernel proto symbols (6.18) whose arguments the model checks, with the helper id they serve
TRACE_SYMBOLS: Final[dict[str, int]] = {
    "bpf_get_current_comm_proto": 16,
    "bpf_get_stack_proto": 67,
    "bpf_get_stack_proto_tp": 67,
    "bpf_get_stack_proto_raw_tp": 67,
    "bpf_get_stack_proto_pe": 67,
    "bpf_get_stackid_proto": 27,
    "bpf_get_stackid_proto_tp": 27,
    "bpf_get_stackid_proto_raw_tp": 27,
    "bpf_get_stackid_proto_pe": 27,
    "bpf_get_current_task_proto": 35,
    "bpf_get_current_task_btf_proto": 158,
    "bpf_probe_read_user_proto": 112,
    "bpf_probe_read_user_str_proto": 114,
    "bpf_probe_read_kernel_str_proto": 115,
    "bpf_probe_read_compat_str_proto": 45,
    "bpf_get_attach_cookie_proto_trace": 174,
    "bpf_get_attach_cookie_proto_pe": 174,
    "bpf_get_attach_cookie_proto_kmulti": 174,
    "bpf_get_attach_cookie_proto_umulti": 174,
    "bpf_get_attach_cookie_proto_tracing": 174,
    "bpf_get_func_ip_proto_kprobe": 173,
    "bpf_get_func_ip_proto_kprobe_multi": 173,
    "bpf_get_func_ip_proto_uprobe_multi": 173,
    "bpf_send_signal_proto": 109,
    "bpf_send_signal_thread_proto": 117,
    "bpf_perf_event_read_proto": 22,
    "bpf_perf_event_read_value_proto": 55,
    "bpf_perf_prog_read_value_proto": 56,
    "bpf_perf_event_output_proto": 25,
    "bpf_perf_event_output_proto_tp": 25,
    "bpf_perf_event_output_proto_raw_tp": 25,
    "bpf_copy_from_user_proto": 148,
    "bpf_get_current_cgroup_id_proto": 80,
    "bpf_get_current_ancestor_cgroup_id_proto": 123,
    "bpf_current_task_under_cgroup_proto": 37,
    "bpf_get_branch_snapshot_proto": 176,
    "bpf_get_ns_current_pid_tgid_proto": 120,
    "bpf_strncmp_proto": 182,
    # kernel/bpf/stackmap.c: what a sleepable uprobe gets (might_sleep)
    "bpf_get_stack_sleepable_proto": 67,
    # kernel/trace/bpf_trace.c: perf_event programs (a maybe-NULL buffer)
    "bpf_read_branch_records_proto": 119,
    # kernel/bpf/helpers.c: the format is checked by verifier.bprintf (check_bpf_snprintf_call)
    "bpf_snprintf_proto": 165,
    # kernel/trace/bpf_trace.c: a BTF-typed object printed into a buffer (the type id is read at
    # run time, not checked by the verifier)
    "bpf_snprintf_btf_proto": 149,
    # kernel/trace/bpf_trace.c: handed out only without LOCKDOWN_BPF_WRITE_USER and to
    # CAP_SYS_ADMIN (bpf_get_probe_write_proto; the decision trees hold both conditions)
    "bpf_probe_write_user_proto": 36,
}

#: ``do_refine_retval_range``'s first case (kernel/bpf/verifier.c, 6.12/6.18): get_stack,
#: get_task_stack, probe_read_str, probe_read_kernel_str, probe_read_user_str
REFINE_RETVAL_IDS: Final = frozenset({67, 141, 45, 115, 114})
BPF_FUNC_get_func_ip: Final = 173

#: the argument types (6.18 ``enum bpf_arg_type`` values) ``verifier.calls.check_func_arg`` checks
_ARGS_MODELLED: Final = frozenset({
    H.ARG_DONTCARE, H.ARG_ANYTHING, H.ARG_PTR_TO_CTX, H.ARG_CONST_MAP_PTR, H.ARG_CONST_SIZE,
    H.ARG_CONST_SIZE_OR_ZERO, H.ARG_PTR_TO_UNINIT_MEM, H.ARG_PTR_TO_MEM_RDONLY, H.ARG_PTR_TO_CONST_STR,
    # a maybe-NULL buffer: NULL skips the type check, its size must then be 0
    # (check_helper_mem_access's zero-byte read from NULL)
    H.ARG_PTR_TO_MEM | R.PTR_MAYBE_NULL, H.ARG_PTR_TO_MEM | R.PTR_MAYBE_NULL | R.MEM_WRITE,
    H.ARG_PTR_TO_MEM | R.PTR_MAYBE_NULL | R.MEM_RDONLY,
    H.ARG_PTR_TO_MEM | R.MEM_WRITE,  # a buffer the helper writes (6.13+ MEM_WRITE)
})


@lru_cache(maxsize=None)
def symbol_proto(symbol: str, func_id: int) -> H.FuncProto | None:
    """The verifier's prototype for the kernel initialiser ``symbol`` serving helper
    ``func_id``; None where the model does not check it (not listed, or a type the model's
    argument checks lack)."""
    if TRACE_SYMBOLS.get(symbol) != func_id:
        return None
    if func_id == 158:  # RET_PTR_TO_BTF_ID | PTR_TRUSTED of task_struct (btf_tracing_ids)
        return H.PROTOS[158]
    p = fact_proto(symbol)
    try:
        args = tuple(_value(a.base, a.flags) for a in p.args)
    except AttributeError:  # a type the verifier's enum does not name
        return None
    if any(a not in _ARGS_MODELLED for a in args) or any(a.size or a.btf_id for a in p.args):
        return None
    if p.ret.base != "RET_INTEGER" or p.ret.flags or p.allowed:
        return None
    name = symbol.removeprefix("bpf_").split("_proto")[0]
    return H.FuncProto(name, H.RET_INTEGER, args, p.gpl_only, p.might_sleep, p.pkt_access)


def _value(base: str, flags: frozenset[str]) -> int:
    """The verifier's own value of a facts type (:mod:`verifier.helpers`' ``enum bpf_arg_type``
    and :mod:`verifier.regs`' flags), by name: the facts number 6.18's enum, the verifier
    keeps 6.12's order."""
    v: int = getattr(H, base)
    for f in flags:
        v |= getattr(R, f)
    return v
