"""Helper prototypes (``struct bpf_func_proto``) and which program types may call them.

Models the prototypes of the helpers in the modelled subset, from
kernel/bpf/helpers.c, kernel/trace/bpf_trace.c and net/core/filter.c (Linux
6.18): argument types (``enum bpf_arg_type``), return types (``enum
bpf_return_type``), ``gpl_only``; and the program-type tables the kernel
consults through ``env->ops->get_func_proto``: ``sk_filter_func_proto`` /
``bpf_sk_base_func_proto`` / ``bpf_base_func_proto`` for socket filters
(root: CAP_BPF and CAP_PERFMON, so the privileged helpers are available),
and for struct_ops the subsystem's :class:`~kernel_model.struct_ops.VerifierPolicy`
(``bpf_dummy_ops`` has no ``get_func_proto`` at all).

Where we differ: helpers outside this table are "unknown to the model"; the
verifier then answers as the kernel does for a program type without that
helper (``program of this type cannot use helper ...``), which is the
kernel's answer for most of them but not all -- stated in docs/verifier.md.
"""

from __future__ import annotations

from typing import Final

from dataclasses import dataclass

from kernel_model.helper_ids import HELPER_NAMES

from .regs import (DYNPTR_TYPE_LOCAL, DYNPTR_TYPE_RINGBUF, MEM_RDONLY, MEM_RINGBUF, MEM_UNINIT, MEM_WRITE,
                   OBJ_RELEASE, PTR_MAYBE_NULL, PTR_TRUSTED)

__all__ = [
    "FuncProto", "PROTOS", "proto_for", "ARG_DONTCARE", "ARG_CONST_MAP_PTR", "ARG_PTR_TO_MAP_KEY",
    "ARG_PTR_TO_MAP_VALUE", "ARG_PTR_TO_MEM", "ARG_CONST_SIZE", "ARG_CONST_SIZE_OR_ZERO", "ARG_PTR_TO_CTX",
    "ARG_ANYTHING", "ARG_PTR_TO_UNINIT_MEM", "RET_INTEGER", "RET_VOID", "RET_PTR_TO_MAP_VALUE",
    "RET_PTR_TO_MAP_VALUE_OR_NULL", "SOCKET_FILTER_HELPERS", "func_id_name", "MAX_FUNC_ID",
]

# enum bpf_arg_type (include/linux/bpf.h), base values in kernel order
ARG_DONTCARE: Final = 0
ARG_CONST_MAP_PTR: Final = 1
ARG_PTR_TO_MAP_KEY: Final = 2
ARG_PTR_TO_MAP_VALUE: Final = 3
ARG_PTR_TO_MEM: Final = 4
ARG_PTR_TO_ARENA: Final = 5
ARG_CONST_SIZE: Final = 6
ARG_CONST_SIZE_OR_ZERO: Final = 7
ARG_PTR_TO_CTX: Final = 8
ARG_ANYTHING: Final = 9
ARG_SCALAR: Final = 10
ARG_PTR_TO_SPIN_LOCK: Final = 11
ARG_PTR_TO_SOCK_COMMON: Final = 12
ARG_PTR_TO_SOCKET: Final = 13
ARG_PTR_TO_BTF_ID: Final = 14
ARG_PTR_TO_RINGBUF_MEM: Final = 15
ARG_CONST_ALLOC_SIZE_OR_ZERO: Final = 16
ARG_PTR_TO_BTF_ID_SOCK_COMMON: Final = 17
ARG_PTR_TO_PERCPU_BTF_ID: Final = 18
ARG_PTR_TO_FUNC: Final = 19
ARG_PTR_TO_STACK: Final = 20
ARG_PTR_TO_CONST_STR: Final = 21
ARG_PTR_TO_TIMER: Final = 22
ARG_KPTR_XCHG_DEST: Final = 23
ARG_PTR_TO_DYNPTR: Final = 24
ARG_PTR_TO_UNINIT_MEM: Final = MEM_UNINIT | MEM_WRITE | ARG_PTR_TO_MEM
ARG_PTR_TO_MAP_VALUE_OR_NULL: Final = PTR_MAYBE_NULL | ARG_PTR_TO_MAP_VALUE
ARG_PTR_TO_MEM_RDONLY: Final = MEM_RDONLY | ARG_PTR_TO_MEM
ARG_PTR_TO_STACK_OR_NULL: Final = PTR_MAYBE_NULL | ARG_PTR_TO_STACK

# enum bpf_return_type
RET_INTEGER: Final = 0
RET_VOID: Final = 1
RET_PTR_TO_MAP_VALUE: Final = 2
RET_PTR_TO_SOCKET: Final = 3
RET_PTR_TO_TCP_SOCK: Final = 4
RET_PTR_TO_SOCK_COMMON: Final = 5
RET_PTR_TO_MEM: Final = 6
RET_PTR_TO_MEM_OR_BTF_ID: Final = 7
RET_PTR_TO_BTF_ID: Final = 8
RET_PTR_TO_MAP_VALUE_OR_NULL: Final = PTR_MAYBE_NULL | RET_PTR_TO_MAP_VALUE
RET_PTR_TO_RINGBUF_MEM_OR_NULL: Final = PTR_MAYBE_NULL | MEM_RINGBUF | RET_PTR_TO_MEM
RET_PTR_TO_DYNPTR_MEM_OR_NULL: Final = PTR_MAYBE_NULL | RET_PTR_TO_MEM

MAX_FUNC_ID: Final = len(HELPER_NAMES)
BPF_FUNC_tail_call: Final = 12


@dataclass(frozen=True, slots=True)
class FuncProto:
    """``struct bpf_func_proto``: what the verifier checks at a helper call."""

    name: str
    ret_type: int
    args: tuple[int, ...]
    gpl_only: bool = False
    might_sleep: bool = False
    pkt_access: bool = False
    #: ``ret_btf_id`` of a RET_PTR_TO_BTF_ID helper: the vmlinux struct it returns
    ret_btf: str = ""
    #: ``argN_size`` of ``MEM_FIXED_SIZE`` arguments (0 for the others), by argument index
    arg_size: tuple[int, ...] = ()
    #: ``argN_btf_id`` of ``ARG_PTR_TO_BTF_ID`` arguments: the vmlinux struct each must
    #: point to ("" for the others), by argument index (verifier.btf_arg_helpers)
    arg_btf: tuple[str, ...] = ()
    #: the ``allowed`` callback's name ("" = none): checked by ``check_helper_call``
    #: (verifier.btf_arg_helpers.helper_allowed_in_prog)
    allowed: str = ""


def _p(name: str, ret: int, *args: int, gpl: bool = False, pkt: bool = False) -> FuncProto:
    return FuncProto(name, ret, tuple(args) + (ARG_DONTCARE,) * (5 - len(args)), gpl, pkt_access=pkt)


#: helper id -> prototype (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c, net/core/filter.c)
PROTOS: dict[int, FuncProto] = {
    1: _p("map_lookup_elem", RET_PTR_TO_MAP_VALUE_OR_NULL, ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, pkt=True),
    2: _p("map_update_elem", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE,
          ARG_ANYTHING, pkt=True),
    3: _p("map_delete_elem", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, pkt=True),
    87: _p("map_push_elem", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_VALUE, ARG_ANYTHING, pkt=True),
    88: _p("map_pop_elem", RET_INTEGER, ARG_CONST_MAP_PTR, MEM_UNINIT | MEM_WRITE | ARG_PTR_TO_MAP_VALUE),
    89: _p("map_peek_elem", RET_INTEGER, ARG_CONST_MAP_PTR, MEM_UNINIT | MEM_WRITE | ARG_PTR_TO_MAP_VALUE),
    195: _p("map_lookup_percpu_elem", RET_PTR_TO_MAP_VALUE_OR_NULL, ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY,
            ARG_ANYTHING, pkt=True),
    # kernel/bpf/core.c bpf_tail_call_proto: never called, do_misc_fixups makes it BPF_TAIL_CALL
    12: _p("tail_call", RET_VOID, ARG_PTR_TO_CTX, ARG_CONST_MAP_PTR, ARG_ANYTHING),
    4: _p("probe_read", RET_INTEGER, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING, gpl=True),
    5: _p("ktime_get_ns", RET_INTEGER),
    6: _p("trace_printk", RET_INTEGER, ARG_PTR_TO_MEM_RDONLY, ARG_CONST_SIZE, gpl=True),
    7: _p("get_prandom_u32", RET_INTEGER),
    8: _p("get_smp_processor_id", RET_INTEGER),
    14: _p("get_current_pid_tgid", RET_INTEGER),
    15: _p("get_current_uid_gid", RET_INTEGER),
    42: _p("get_numa_node_id", RET_INTEGER),
    113: _p("probe_read_kernel", RET_INTEGER, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING,
            gpl=True),
    115: _p("probe_read_kernel_str", RET_INTEGER, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING,
            gpl=True),
    118: _p("jiffies64", RET_INTEGER),
    125: _p("ktime_get_boot_ns", RET_INTEGER),
    160: _p("ktime_get_coarse_ns", RET_INTEGER),
    208: _p("ktime_get_tai_ns", RET_INTEGER),
    # kernel/bpf/bpf_iter.c: the synchronous callback callers (verifier.callbacks); 6.18's
    # bpf_loop takes nr_loops as ARG_ANYTHING (kernel_model.bpf_facts CHANGES_6_18)
    164: _p("for_each_map_elem", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL,
            ARG_ANYTHING),
    181: _p("loop", RET_INTEGER, ARG_ANYTHING, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, ARG_ANYTHING),
    # kernel/bpf/helpers.c bpf_spin_lock_proto / bpf_spin_unlock_proto (verifier.locks)
    93: _p("spin_lock", RET_VOID, ARG_PTR_TO_SPIN_LOCK),
    94: _p("spin_unlock", RET_VOID, ARG_PTR_TO_SPIN_LOCK),
    # kernel/bpf/cgroup.c bpf_get_local_storage_proto: never NULL (the flags must be 0,
    # check_helper_call); net/core/filter.c bpf_xdp_redirect_map_proto
    81: _p("get_local_storage", RET_PTR_TO_MAP_VALUE, ARG_CONST_MAP_PTR, ARG_ANYTHING),
    51: _p("redirect_map", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_ANYTHING, ARG_ANYTHING),
    # kernel/bpf/helpers.c bpf_kptr_xchg_proto (verifier.kptrs checks the call)
    194: _p("kptr_xchg", PTR_MAYBE_NULL | RET_PTR_TO_BTF_ID, ARG_KPTR_XCHG_DEST,
            PTR_MAYBE_NULL | OBJ_RELEASE | ARG_PTR_TO_BTF_ID),
    # kernel/trace/bpf_trace.c bpf_get_current_task_btf_proto: the current task, trusted
    # kernel/bpf/helpers.c: the timer helpers (verifier.async_cb)
    169: _p("timer_init", RET_INTEGER, ARG_PTR_TO_TIMER, ARG_CONST_MAP_PTR, ARG_ANYTHING, gpl=True),
    170: _p("timer_set_callback", RET_INTEGER, ARG_PTR_TO_TIMER, ARG_PTR_TO_FUNC, gpl=True),
    171: _p("timer_start", RET_INTEGER, ARG_PTR_TO_TIMER, ARG_ANYTHING, ARG_ANYTHING, gpl=True),
    172: _p("timer_cancel", RET_INTEGER, ARG_PTR_TO_TIMER, gpl=True),
    # kernel/bpf/ringbuf.c: ring buffers (reserve is an acquire, submit/discard releases)
    130: _p("ringbuf_output", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_PTR_TO_MEM_RDONLY, ARG_CONST_SIZE_OR_ZERO,
            ARG_ANYTHING),
    131: _p("ringbuf_reserve", RET_PTR_TO_RINGBUF_MEM_OR_NULL, ARG_CONST_MAP_PTR, ARG_CONST_ALLOC_SIZE_OR_ZERO,
            ARG_ANYTHING),
    132: _p("ringbuf_submit", RET_VOID, ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE, ARG_ANYTHING),
    133: _p("ringbuf_discard", RET_VOID, ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE, ARG_ANYTHING),
    134: _p("ringbuf_query", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_ANYTHING),
    198: _p("ringbuf_reserve_dynptr", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_ANYTHING, ARG_ANYTHING,
            ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | MEM_UNINIT | MEM_WRITE),
    199: _p("ringbuf_submit_dynptr", RET_VOID, ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE, ARG_ANYTHING),
    200: _p("ringbuf_discard_dynptr", RET_VOID, ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE,
            ARG_ANYTHING),
    209: _p("user_ringbuf_drain", RET_INTEGER, ARG_CONST_MAP_PTR, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL,
            ARG_ANYTHING),
    # kernel/bpf/helpers.c: local dynptrs and the dynptr accessors (verifier.dynptrs)
    197: _p("dynptr_from_mem", RET_INTEGER, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING,
            ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_LOCAL | MEM_UNINIT | MEM_WRITE),
    201: _p("dynptr_read", RET_INTEGER, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO,
            ARG_PTR_TO_DYNPTR | MEM_RDONLY, ARG_ANYTHING, ARG_ANYTHING),
    202: _p("dynptr_write", RET_INTEGER, ARG_PTR_TO_DYNPTR | MEM_RDONLY, ARG_ANYTHING, ARG_PTR_TO_MEM_RDONLY,
            ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING),
    203: _p("dynptr_data", RET_PTR_TO_DYNPTR_MEM_OR_NULL, ARG_PTR_TO_DYNPTR | MEM_RDONLY, ARG_ANYTHING,
            ARG_CONST_ALLOC_SIZE_OR_ZERO),
    # kernel/bpf/syscall.c bpf_sys_bpf_proto: syscall programs only, might sleep
    166: FuncProto("sys_bpf", RET_INTEGER, (ARG_ANYTHING, ARG_PTR_TO_MEM_RDONLY, ARG_CONST_SIZE, ARG_DONTCARE,
                                            ARG_DONTCARE), False, might_sleep=True),
    # kernel/bpf/syscall.c bpf_sys_close_proto (6.12/6.18): close_fd(fd), syscall programs only,
    # might sleep
    168: FuncProto("sys_close", RET_INTEGER, (ARG_ANYTHING, ARG_DONTCARE, ARG_DONTCARE, ARG_DONTCARE,
                                              ARG_DONTCARE), False, might_sleep=True),
    158: FuncProto("get_current_task_btf", RET_PTR_TO_BTF_ID | PTR_TRUSTED, (ARG_DONTCARE,) * 5, True,
                   ret_btf="task_struct"),
}

#: Helpers a root-loaded socket filter may call: ``sk_filter_func_proto`` (net/core/filter.c)
#: with its fallback ``bpf_sk_base_func_proto`` -> ``bpf_base_func_proto`` (kernel/bpf/helpers.c,
#: the CAP_PERFMON/CAP_SYS_ADMIN parts included), Linux 6.18; the set was checked helper by helper
#: against the host. Only those in :data:`PROTOS` have their arguments modelled.
SOCKET_FILTER_HELPERS: Final = frozenset({
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 80, 87, 88, 89, 93, 94,
    105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138,
    139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178,
    180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
})


#: Helpers a root-loaded syscall program may call: ``syscall_prog_func_proto``
#: (kernel/bpf/syscall.c: sys_bpf, btf_find_by_name_kind, sys_close,
#: kallsyms_lookup_name) with its fallback ``tracing_prog_func_proto`` (Linux 6.18,
#: CONFIG-dependent); the set was read off the host helper by helper (a load of
#: ``call N`` refused with "cannot use helper" or not). Only those in :data:`PROTOS`
#: have their arguments modelled.
SYSCALL_HELPERS: Final = frozenset({
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 27, 35, 37, 42, 45, 46, 55, 67, 80, 87, 88, 89, 93, 94,
    105, 106, 107, 108, 109, 111, 112, 113, 114, 115, 117, 118, 120, 121, 123, 125, 130, 131, 132, 133, 134,
    136, 137, 138, 139, 140, 141, 147, 148, 149, 153, 154, 156, 157, 158, 162, 164, 165, 166, 167, 168, 169,
    170, 171, 172, 173, 175, 176, 177, 178, 179, 180, 181, 182, 188, 191, 194, 195, 196, 197, 198, 199, 200,
    201, 202, 203, 208, 209, 210, 211,
})


def func_id_name(func_id: int) -> str:
    """``func_id_name``: ``bpf_<name>`` or ``unknown``."""
    if 0 <= func_id < MAX_FUNC_ID:
        return "bpf_" + HELPER_NAMES[func_id]
    return "unknown"


def proto_for(func_id: int) -> FuncProto | None:
    return PROTOS.get(func_id)
