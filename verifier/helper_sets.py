"""Which helpers a program type may call, from the kernel's ``get_func_proto`` decision trees.

The kernel answers a helper call with ``env->ops->get_func_proto(func_id, prog)``
(kernel/bpf/verifier.c ``get_helper_proto``; one function per program type:
``kprobe_prog_func_proto``, ``tp_prog_func_proto``, ``raw_tp_prog_func_proto``,
``pe_prog_func_proto`` in kernel/trace/bpf_trace.c, ``tc_cls_act_func_proto``,
``xdp_func_proto`` ... in net/core/filter.c). :mod:`kernel_model.bpf_facts.func_proto`
holds those functions as decision trees (Linux 6.12 sources with the 6.18 edits,
host-checked helper by helper: docs/kernel-facts.md); this module evaluates them for a
load -- program type, ``expected_attach_type``, sleepable, the loader's capabilities --
and gives the verifier, per helper id, the prototype symbol the kernel would hand back.

The verifier checks arguments only for the prototypes it models
(:data:`verifier.helpers.PROTOS`), each named by the kernel symbols whose
arguments, return type and ``gpl_only`` it has (:data:`MODELLED_SYMBOLS`, checked
against the facts by tests/verifier/test_prog_types.py). A helper the type may call
through another prototype (``bpf_perf_event_output_proto_tp`` takes the context
where the socket filter's variant does not) is "not modelled", never checked
against the wrong prototype.
"""

from __future__ import annotations

from typing import Final

from kernel_model.bpf_facts.enums import ATTACH_TYPE_ENUMERATORS, PROG_TYPE_ENUMERATORS
from kernel_model.bpf_facts.func_proto import ROOT_CAPS, ProgContext, available_helpers
from kernel_model.bpf_facts.prog_types import EXPECTED_ATTACH_TYPES

__all__ = ["expected_attach_type_ok", "fixup_attach_type", "MODELLED_SYMBOLS", "allowed_protos", "attach_type_name", "prog_type_name", "CAP_BPF_ONLY"]

#: the capabilities of a CAP_BPF-only loader (``privileged=False``)
CAP_BPF_ONLY: Final = frozenset({"CAP_BPF"})

#: kernel proto symbol -> the helper id whose :data:`verifier.helpers.PROTOS` entry models it
MODELLED_SYMBOLS: Final[dict[str, int]] = {
    "bpf_map_lookup_elem_proto": 1,
    "bpf_map_update_elem_proto": 2,
    "bpf_map_delete_elem_proto": 3,
    "bpf_probe_read_compat_proto": 4,
    "bpf_ktime_get_ns_proto": 5,
    "bpf_trace_printk_proto": 6,
    "bpf_get_prandom_u32_proto": 7,
    "bpf_get_smp_processor_id_proto": 8,
    "bpf_get_raw_smp_processor_id_proto": 8,
    "bpf_get_current_pid_tgid_proto": 14,
    "bpf_get_current_uid_gid_proto": 15,
    "bpf_get_numa_node_id_proto": 42,
    "bpf_probe_read_kernel_proto": 113,
    "bpf_ktime_get_boot_ns_proto": 125,
    "bpf_ktime_get_coarse_ns_proto": 160,
    "bpf_ktime_get_tai_ns_proto": 208,
    "bpf_get_local_storage_proto": 81,
    "bpf_xdp_redirect_map_proto": 51,
    # the helpers PROTOS models that the kernel hands out under one proto to every type
    # whose get_func_proto has them (bpf_base_func_proto, kernel/bpf/helpers.c 6.18;
    # bpf_tail_call_proto kernel/bpf/core.c; tracing_prog_func_proto's task helper):
    # without these entries the facts-driven types called them "not modelled"
    "bpf_tail_call_proto": 12,
    "bpf_for_each_map_elem_proto": 164,
    "bpf_loop_proto": 181,
    "bpf_spin_lock_proto": 93,
    "bpf_spin_unlock_proto": 94,
    "bpf_get_current_task_btf_proto": 158,
    "bpf_map_push_elem_proto": 87,
    "bpf_map_pop_elem_proto": 88,
    "bpf_map_peek_elem_proto": 89,
    "bpf_map_lookup_percpu_elem_proto": 195,
    "bpf_jiffies64_proto": 118,
    # the timer helpers (verifier.async_cb)
    "bpf_timer_init_proto": 169,
    "bpf_timer_set_callback_proto": 170,
    "bpf_timer_start_proto": 171,
    "bpf_timer_cancel_proto": 172,
    # ring buffers and dynptrs (verifier.dynptrs)
    "bpf_ringbuf_output_proto": 130,
    "bpf_ringbuf_reserve_proto": 131,
    "bpf_ringbuf_submit_proto": 132,
    "bpf_ringbuf_discard_proto": 133,
    "bpf_ringbuf_query_proto": 134,
    "bpf_dynptr_from_mem_proto": 197,
    "bpf_ringbuf_reserve_dynptr_proto": 198,
    "bpf_ringbuf_submit_dynptr_proto": 199,
    "bpf_ringbuf_discard_dynptr_proto": 200,
    "bpf_dynptr_read_proto": 201,
    "bpf_dynptr_write_proto": 202,
    "bpf_dynptr_data_proto": 203,
    "bpf_user_ringbuf_drain_proto": 209,
    # kernel/bpf/helpers.c: verifier/kptrs.py (kptrs holding local objects)
    "bpf_kptr_xchg_proto": 194,
    # kernel/bpf/syscall.c (syscall programs)
    "bpf_sys_bpf_proto": 166,
    "bpf_sys_close_proto": 168,
}

_CACHE: dict[tuple[str, str | None, bool, bool, frozenset[str]], dict[int, str]] = {}


def prog_type_name(prog_type: int) -> str:
    """``BPF_PROG_TYPE_KPROBE`` for 2 (the 6.18 enum)."""
    return PROG_TYPE_ENUMERATORS[prog_type]


def attach_type_name(expected_attach_type: int) -> str | None:
    """``BPF_TRACE_KPROBE_MULTI`` for 42; None for a value outside the enum."""
    return ATTACH_TYPE_ENUMERATORS.get(expected_attach_type)


def allowed_protos(prog_type: int, expected_attach_type: int, sleepable: bool,
                   privileged: bool, lockdown: frozenset[str] = frozenset()) -> dict[int, str]:
    """Helper id -> the kernel proto symbol ``get_func_proto`` returns for this load
    (absent: the kernel refuses the helper), cached per load shape (``lockdown``: the
    reasons the kernel's lockdown refuses, :mod:`kernel_model.lockdown`)."""
    key = (prog_type_name(prog_type), attach_type_name(expected_attach_type), sleepable, privileged, lockdown)
    got = _CACHE.get(key)
    if got is None:
        ctx = ProgContext(key[0], expected_attach_type=key[1], sleepable=sleepable,
                          caps=ROOT_CAPS if privileged else CAP_BPF_ONLY, lockdown=lockdown)
        got = _CACHE[key] = dict(available_helpers(ctx))
    return got


def expected_attach_type_ok(prog_type: int, expected_attach_type: int) -> bool:
    """``bpf_prog_load_check_attach`` (kernel/bpf/syscall.c) for the program types whose
    ``expected_attach_type`` it restricts (EINVAL before the verifier otherwise); struct_ops
    (the member index) and the types it leaves free are always accepted here."""
    allowed = EXPECTED_ATTACH_TYPES.get(PROG_TYPE_ENUMERATORS.get(prog_type, ""))
    expected_attach_type = fixup_attach_type(prog_type, expected_attach_type)
    return allowed is None or attach_type_name(expected_attach_type) in allowed


#: kernel/bpf/syscall.c bpf_prog_load_fixup_attach_type (6.18): the attach type a load of these
#: types gets when it sets none (0)
_DEFAULT_ATTACH_TYPE: Final = {"BPF_PROG_TYPE_CGROUP_SOCK": "BPF_CGROUP_INET_SOCK_CREATE",
                               "BPF_PROG_TYPE_SK_REUSEPORT": "BPF_SK_REUSEPORT_SELECT"}


def fixup_attach_type(prog_type: int, expected_attach_type: int) -> int:
    """``bpf_prog_load_fixup_attach_type``, run before ``bpf_prog_load_check_attach``: a
    cgroup_sock load without an expected attach type is a sock_create program, an
    sk_reuseport one a select program (there is no BPF_ATTACH_TYPE_UNSPEC)."""
    default = _DEFAULT_ATTACH_TYPE.get(PROG_TYPE_ENUMERATORS.get(prog_type, ""))
    if expected_attach_type or default is None:
        return expected_attach_type
    from kernel_model.bpf_facts.enums import ATTACH_TYPES
    return ATTACH_TYPES[default]
