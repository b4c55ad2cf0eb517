"""``sched_ext_ops``: the BPF extensible scheduler class as a struct_ops type.

The kernel files (read for every fact below; no code is taken from them):
Linux 6.12 ``kernel/sched/ext.c`` and ``include/linux/sched/ext.h``; Linux 6.18
(6.18.35 stable) ``kernel/sched/ext.c``, ``ext_internal.h``, ``ext_idle.c`` and
``include/linux/sched/ext.h``. sched_ext was merged in 6.12, so the type exists
on the ``6.12`` and ``latest`` profiles only (:func:`supported`).

What this module holds (pure data, no machine):

* the C declarations added to the emulated vmlinux BTF: ``struct
  sched_ext_entity`` (embedded in ``task_struct`` as ``scx``), ``struct
  scx_dispatch_q``, the argument containers (``scx_init_task_args``,
  ``scx_exit_task_args``, ``scx_exit_info``, ...), ``struct sched_ext_ops`` with
  the cgroup members (``CONFIG_EXT_GROUP_SCHED=y``, the Kconfig default), the
  CFI stubs, the kfunc prototypes, and every enum a scheduler uses
  (``SCX_DSQ_GLOBAL``, ``SCX_SLICE_DFL``, ``SCX_ENQ_*``, ``SCX_KICK_*``, ...);
* the registration: :func:`make_ops` (``bpf_sched_ext_ops``: ``init_member``
  for the data members, ``check_member``'s sleepable set, ``update`` is
  ``-EOPNOTSUPP``, ``reg``/``unreg`` enable/disable the scheduler through the
  runtime a simulator installs), the verifier policy
  (``bpf_scx_btf_struct_access``: writes only to ``p->scx.slice``,
  ``p->scx.dsq_vtime`` and ``p->scx.disallow``) and the kfunc set.

Per profile: 6.12 names its CFI stubs ``<member>_stub`` and has the kfuncs
``scx_bpf_dispatch[_vtime]`` / ``scx_bpf_consume``; 6.18 names them
``sched_ext_ops__<member>`` (``dispatch``'s ``prev`` and ``yield``'s ``to`` are
``__nullable``), renamed the kfuncs ``scx_bpf_dsq_insert[_vtime]`` /
``scx_bpf_dsq_move_to_local`` (6.13) and dropped the old names (6.15), added
``scx_bpf_now`` (6.14), ``cgroup_set_bandwidth``/``cgroup_set_idle`` and the
``priv`` pointer. The ``SCX_OPS_*`` flags accepted by ``init_member`` differ too.

Where we differ: ``task_struct`` is reduced (the fields a scheduler reads:
``pid``, ``comm``, ``flags``, ``static_prio``, ``nr_cpus_allowed``,
``cpus_ptr``, ``migration_disabled``, ``scx``) and ``struct cpumask`` holds 64
CPUs (``NR_CPUS`` is 8192 in Debian's config); ``struct rq`` and ``struct
cgroup`` are reduced to a few members.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from ..modules import Kfunc
from ..profile import LATEST, Profile
from ..struct_ops import MemberDesc, StructOps, VerifierPolicy

__all__ = [
    "supported", "types_c", "ops_c", "task_struct_extra_c", "make_ops", "kfuncs", "kfunc_names",
    "FUNC_MEMBERS", "SLEEPABLE_MEMBERS", "OPS_FLAGS", "MAX_CPUS", "RUNTIME_KEY",
    "SCX_DSQ_FLAG_BUILTIN", "SCX_DSQ_FLAG_LOCAL_ON", "SCX_DSQ_INVALID", "SCX_DSQ_GLOBAL",
    "SCX_DSQ_LOCAL", "SCX_DSQ_LOCAL_ON", "SCX_DSQ_LOCAL_CPU_MASK", "SCX_SLICE_DFL", "SCX_SLICE_INF",
    "SCX_OPS_NAME_LEN",
]

#: CPUs a ``struct cpumask`` holds here (one unsigned long)
MAX_CPUS = 64
#: where the simulator puts its runtime in the StructOps' ``private`` dict
RUNTIME_KEY = "runtime"

# --- include/linux/sched/ext.h (6.12 and 6.18 alike) ------------------------------------
SCX_OPS_NAME_LEN = 128
SCX_SLICE_DFL = 20 * 1000000
SCX_SLICE_INF = (1 << 64) - 1
SCX_DSQ_FLAG_BUILTIN = 1 << 63
SCX_DSQ_FLAG_LOCAL_ON = 1 << 62
SCX_DSQ_INVALID = SCX_DSQ_FLAG_BUILTIN | 0
SCX_DSQ_GLOBAL = SCX_DSQ_FLAG_BUILTIN | 1
SCX_DSQ_LOCAL = SCX_DSQ_FLAG_BUILTIN | 2
SCX_DSQ_LOCAL_ON = SCX_DSQ_FLAG_BUILTIN | SCX_DSQ_FLAG_LOCAL_ON
SCX_DSQ_LOCAL_CPU_MASK = 0xFFFFFFFF


def supported(profile: Profile) -> bool:
    """sched_ext exists from Linux 6.12 on (``CONFIG_SCHED_CLASS_EXT``)."""
    return profile.sched_ext


def _is_618(profile: Profile) -> bool:
    return profile.sched_ext_618_interface


#: the function members, in the order of ``struct sched_ext_ops`` (6.18 adds the last two cgroup ones)
_MEMBERS_612 = (
    "select_cpu", "enqueue", "dequeue", "dispatch", "tick", "runnable", "running", "stopping", "quiescent",
    "yield", "core_sched_before", "set_weight", "set_cpumask", "update_idle", "cpu_acquire", "cpu_release",
    "init_task", "exit_task", "enable", "disable", "dump", "dump_cpu", "dump_task", "cgroup_init",
    "cgroup_exit", "cgroup_prep_move", "cgroup_move", "cgroup_cancel_move", "cgroup_set_weight",
    "cpu_online", "cpu_offline", "init", "exit",
)
_MEMBERS_618 = _MEMBERS_612[:29] + ("cgroup_set_bandwidth", "cgroup_set_idle") + _MEMBERS_612[29:]


def func_members(profile: Profile = LATEST) -> tuple[str, ...]:
    return _MEMBERS_618 if _is_618(profile) else _MEMBERS_612


FUNC_MEMBERS = _MEMBERS_618

#: bpf_scx_check_member (6.12/6.18): only these take a sleepable program
SLEEPABLE_MEMBERS = frozenset({"init_task", "cgroup_init", "cgroup_exit", "cgroup_prep_move", "cpu_online",
                               "cpu_offline", "init", "exit"})


def OPS_FLAGS(profile: Profile) -> int:  # noqa: N802 - the kernel's SCX_OPS_ALL_FLAGS
    """``SCX_OPS_ALL_FLAGS``: 6.12 KEEP_BUILTIN_IDLE | ENQ_LAST | ENQ_EXITING |
    SWITCH_PARTIAL | HAS_CGROUP_WEIGHT; 6.18 adds ENQ_MIGRATION_DISABLED,
    ALLOW_QUEUED_WAKEUP, BUILTIN_IDLE_PER_NODE."""
    base = 0x1 | 0x2 | 0x4 | 0x8 | (1 << 16)
    return base | 0x10 | 0x20 | 0x40 if _is_618(profile) else base


def types_c(profile: Profile = LATEST) -> str:
    """The types ``task_struct`` embeds and the enums (placed before ``task_struct``)."""
    ops_flags_618 = """
    SCX_OPS_ENQ_MIGRATION_DISABLED = 1ULL << 4,
    SCX_OPS_ALLOW_QUEUED_WAKEUP = 1ULL << 5,
    SCX_OPS_BUILTIN_IDLE_PER_NODE = 1ULL << 6,""" if _is_618(profile) else ""
    all_618 = " | SCX_OPS_ENQ_MIGRATION_DISABLED | SCX_OPS_ALLOW_QUEUED_WAKEUP | SCX_OPS_BUILTIN_IDLE_PER_NODE" \
        if _is_618(profile) else ""
    pick_618 = "\n    SCX_PICK_IDLE_IN_NODE = 1ULL << 1," if _is_618(profile) else ""
    return rf"""
/* include/linux/stddef.h: an anonymous enum every vmlinux BTF holds; the scx headers use
 * true/false from vmlinux.h (the BPF_F_* map flags are in the base vmlinux) */
enum {{ false = 0, true = 1 }};
/* include/linux/types.h */
typedef struct {{ long counter; }} atomic_long_t;
/* include/linux/cpumask_types.h: reduced to 64 CPUs (NR_CPUS is 8192 on Debian) */
struct cpumask {{ unsigned long bits[1]; }};
typedef struct cpumask cpumask_t;
/* kernel/bpf/cpumask.c */
struct bpf_cpumask {{ cpumask_t cpumask; refcount_t usage; }};
/* include/uapi/linux/bpf.h (rb_node and rb_root are in the base vmlinux) */
struct bpf_list_head {{ __u64 __opaque[2]; }};
struct bpf_list_node {{ __u64 __opaque[3]; }};
struct bpf_rb_root {{ __u64 __opaque[2]; }};
struct bpf_rb_node {{ __u64 __opaque[4]; }};
struct bpf_iter_bits {{ __u64 __opaque[2]; }};
/* reduced: the scheduler core's view of a CPU */
struct rq {{ int cpu; struct task_struct *curr; unsigned int nr_running; }};
/* struct cgroup: kernel_model.vmlinux_task (the 6.18 host's layout) */
struct bpf_iter_scx_dsq {{ __u64 __opaque[6]; }};

/* include/linux/sched/ext.h */
enum scx_public_consts {{
    SCX_OPS_NAME_LEN = 128,
    SCX_SLICE_DFL = 20 * 1000000,
    SCX_SLICE_INF = 0xffffffffffffffffULL,
}};
enum scx_dsq_id_flags {{
    SCX_DSQ_FLAG_BUILTIN = 1ULL << 63,
    SCX_DSQ_FLAG_LOCAL_ON = 1ULL << 62,
    SCX_DSQ_INVALID = (1ULL << 63) | 0,
    SCX_DSQ_GLOBAL = (1ULL << 63) | 1,
    SCX_DSQ_LOCAL = (1ULL << 63) | 2,
    SCX_DSQ_LOCAL_ON = (1ULL << 63) | (1ULL << 62),
    SCX_DSQ_LOCAL_CPU_MASK = 0xffffffffULL,
}};
struct scx_dispatch_q {{
    struct list_head list;
    struct rb_root priq;
    u32 nr;
    u32 seq;
    u64 id;
}};
enum scx_ent_flags {{
    SCX_TASK_QUEUED = 1 << 0,
    SCX_TASK_RESET_RUNNABLE_AT = 1 << 2,
    SCX_TASK_DEQD_FOR_SLEEP = 1 << 3,
    SCX_TASK_STATE_SHIFT = 8,
    SCX_TASK_STATE_BITS = 2,
    SCX_TASK_STATE_MASK = 3 << 8,
    SCX_TASK_CURSOR = 1U << 31,
}};
enum scx_task_state {{
    SCX_TASK_NONE = 0, SCX_TASK_INIT = 1, SCX_TASK_READY = 2, SCX_TASK_ENABLED = 3, SCX_TASK_NR_STATES = 4,
}};
enum scx_ent_dsq_flags {{ SCX_TASK_DSQ_ON_PRIQ = 1 << 0 }};
enum scx_kf_mask {{
    SCX_KF_UNLOCKED = 0, SCX_KF_CPU_RELEASE = 1 << 0, SCX_KF_DISPATCH = 1 << 1, SCX_KF_ENQUEUE = 1 << 2,
    SCX_KF_SELECT_CPU = 1 << 3, SCX_KF_REST = 1 << 4,
    __SCX_KF_RQ_LOCKED = 31, __SCX_KF_TERMINAL = (1 << 2) | (1 << 3) | (1 << 4),
}};
struct scx_dsq_list_node {{ struct list_head node; u32 flags; u32 priv; }};
struct sched_ext_entity {{
    struct scx_dispatch_q *dsq;
    struct scx_dsq_list_node dsq_list;
    struct rb_node dsq_priq;
    u32 dsq_seq;
    u32 dsq_flags;
    u32 flags;
    u32 weight;
    s32 sticky_cpu;
    s32 holding_cpu;
    s32 selected_cpu;
    u32 kf_mask;
    struct task_struct *kf_tasks[2];
    atomic_long_t ops_state;
    struct list_head runnable_node;
    unsigned long runnable_at;
    u64 core_sched_at;
    u64 ddsp_dsq_id;
    u64 ddsp_enq_flags;
    u64 slice;
    u64 dsq_vtime;
    bool disallow;
    struct cgroup *cgrp_moving_from;
    struct list_head tasks_node;
}};

/* kernel/sched/ext.c (6.12) / ext_internal.h (6.18) */
enum scx_consts {{
    SCX_DSP_DFL_MAX_BATCH = 32, SCX_DSP_MAX_LOOPS = 32, SCX_WATCHDOG_MAX_TIMEOUT = 30 * 250,
    SCX_EXIT_BT_LEN = 64, SCX_EXIT_MSG_LEN = 1024, SCX_EXIT_DUMP_DFL_LEN = 32768, SCX_CPUPERF_ONE = 1024,
}};
enum scx_exit_kind {{
    SCX_EXIT_NONE = 0, SCX_EXIT_DONE = 1,
    SCX_EXIT_UNREG = 64, SCX_EXIT_UNREG_BPF = 65, SCX_EXIT_UNREG_KERN = 66, SCX_EXIT_SYSRQ = 67,
    SCX_EXIT_ERROR = 1024, SCX_EXIT_ERROR_BPF = 1025, SCX_EXIT_ERROR_STALL = 1026,
}};
enum scx_exit_code {{
    SCX_ECODE_RSN_HOTPLUG = 1ULL << 32,
    SCX_ECODE_ACT_RESTART = 1ULL << 48,
}};
struct scx_exit_info {{
    enum scx_exit_kind kind;
    s64 exit_code;
    const char *reason;
    unsigned long *bt;
    u32 bt_len;
    char *msg;
    char *dump;
}};
enum scx_ops_flags {{
    SCX_OPS_KEEP_BUILTIN_IDLE = 1ULL << 0,
    SCX_OPS_ENQ_LAST = 1ULL << 1,
    SCX_OPS_ENQ_EXITING = 1ULL << 2,
    SCX_OPS_SWITCH_PARTIAL = 1ULL << 3,{ops_flags_618}
    SCX_OPS_HAS_CGROUP_WEIGHT = 1ULL << 16,
    SCX_OPS_ALL_FLAGS = (1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 3) | (1ULL << 16){all_618.replace(
        "SCX_OPS_ENQ_MIGRATION_DISABLED", "(1ULL << 4)").replace("SCX_OPS_ALLOW_QUEUED_WAKEUP", "(1ULL << 5)").replace(
        "SCX_OPS_BUILTIN_IDLE_PER_NODE", "(1ULL << 6)")},
}};
struct scx_init_task_args {{ bool fork; struct cgroup *cgroup; }};
struct scx_exit_task_args {{ bool cancelled; }};
struct scx_cgroup_init_args {{ u32 weight; u64 bw_period_us; u64 bw_quota_us; u64 bw_burst_us; }};
enum scx_cpu_preempt_reason {{
    SCX_CPU_PREEMPT_RT = 0, SCX_CPU_PREEMPT_DL = 1, SCX_CPU_PREEMPT_STOP = 2, SCX_CPU_PREEMPT_UNKNOWN = 3,
}};
struct scx_cpu_acquire_args {{ int __unused; }};
struct scx_cpu_release_args {{ enum scx_cpu_preempt_reason reason; struct task_struct *task; }};
struct scx_dump_ctx {{ enum scx_exit_kind kind; s64 exit_code; const char *reason; u64 at_ns; u64 at_jiffies; }};
enum scx_wake_flags {{ SCX_WAKE_FORK = 0x04, SCX_WAKE_TTWU = 0x08, SCX_WAKE_SYNC = 0x10 }};
enum scx_enq_flags {{
    SCX_ENQ_WAKEUP = 0x01,
    SCX_ENQ_HEAD = 0x10,
    SCX_ENQ_CPU_SELECTED = 0x400,
    SCX_ENQ_PREEMPT = 1ULL << 32,
    SCX_ENQ_REENQ = 1ULL << 40,
    SCX_ENQ_LAST = 1ULL << 41,
    __SCX_ENQ_INTERNAL_MASK = 0xffULL << 56,
    SCX_ENQ_CLEAR_OPSS = 1ULL << 56,
    SCX_ENQ_DSQ_PRIQ = 1ULL << 57,
}};
enum scx_deq_flags {{ SCX_DEQ_SLEEP = 0x01, SCX_DEQ_CORE_SCHED_EXEC = 1ULL << 32 }};
enum scx_pick_idle_cpu_flags {{
    SCX_PICK_IDLE_CORE = 1ULL << 0,{pick_618}
}};
enum scx_kick_flags {{ SCX_KICK_IDLE = 1ULL << 0, SCX_KICK_PREEMPT = 1ULL << 1, SCX_KICK_WAIT = 1ULL << 2 }};
enum scx_ops_state {{
    SCX_OPSS_NONE = 0, SCX_OPSS_QUEUEING = 1, SCX_OPSS_QUEUED = 2, SCX_OPSS_DISPATCHING = 3,
    SCX_OPSS_QSEQ_SHIFT = 2,
}};
"""


def task_struct_extra_c() -> str:
    """Members appended to ``task_struct`` on sched_ext profiles: ``scx``. The rest of the
    struct has the 6.18 host's layout (:mod:`kernel_model.vmlinux_task`: ``flags``,
    ``cpus_ptr``, ``cpus_mask``, ``nr_cpus_allowed`` ... at their offsets there); that host
    has no ``CONFIG_SCHED_CLASS_EXT``, so ``scx`` goes after its last byte (offset 3264)
    where a sched_ext kernel has it after ``dl_server``: programs reach it by name (CO-RE),
    never by a fixed offset."""
    return "struct sched_ext_entity scx;"


def _stub(profile: Profile, member: str) -> str:
    return f"sched_ext_ops__{member}" if _is_618(profile) else f"{member}_stub"


#: each member's prototype: (return, params); a parameter named ``x__nullable`` on 6.18 only
_PROTOS: dict[str, tuple[str, str]] = {
    "select_cpu": ("s32", "struct task_struct *p, s32 prev_cpu, u64 wake_flags"),
    "enqueue": ("void", "struct task_struct *p, u64 enq_flags"),
    "dequeue": ("void", "struct task_struct *p, u64 deq_flags"),
    "dispatch": ("void", "s32 cpu, struct task_struct *prev"),
    "tick": ("void", "struct task_struct *p"),
    "runnable": ("void", "struct task_struct *p, u64 enq_flags"),
    "running": ("void", "struct task_struct *p"),
    "stopping": ("void", "struct task_struct *p, bool runnable"),
    "quiescent": ("void", "struct task_struct *p, u64 deq_flags"),
    "yield": ("bool", "struct task_struct *from, struct task_struct *to"),
    "core_sched_before": ("bool", "struct task_struct *a, struct task_struct *b"),
    "set_weight": ("void", "struct task_struct *p, u32 weight"),
    "set_cpumask": ("void", "struct task_struct *p, const struct cpumask *cpumask"),
    "update_idle": ("void", "s32 cpu, bool idle"),
    "cpu_acquire": ("void", "s32 cpu, struct scx_cpu_acquire_args *args"),
    "cpu_release": ("void", "s32 cpu, struct scx_cpu_release_args *args"),
    "init_task": ("s32", "struct task_struct *p, struct scx_init_task_args *args"),
    "exit_task": ("void", "struct task_struct *p, struct scx_exit_task_args *args"),
    "enable": ("void", "struct task_struct *p"),
    "disable": ("void", "struct task_struct *p"),
    "dump": ("void", "struct scx_dump_ctx *ctx"),
    "dump_cpu": ("void", "struct scx_dump_ctx *ctx, s32 cpu, bool idle"),
    "dump_task": ("void", "struct scx_dump_ctx *ctx, struct task_struct *p"),
    "cgroup_init": ("s32", "struct cgroup *cgrp, struct scx_cgroup_init_args *args"),
    "cgroup_exit": ("void", "struct cgroup *cgrp"),
    "cgroup_prep_move": ("s32", "struct task_struct *p, struct cgroup *from, struct cgroup *to"),
    "cgroup_move": ("void", "struct task_struct *p, struct cgroup *from, struct cgroup *to"),
    "cgroup_cancel_move": ("void", "struct task_struct *p, struct cgroup *from, struct cgroup *to"),
    "cgroup_set_weight": ("void", "struct cgroup *cgrp, u32 weight"),
    "cgroup_set_bandwidth": ("void", "struct cgroup *cgrp, u64 period_us, u64 quota_us, u64 burst_us"),
    "cgroup_set_idle": ("void", "struct cgroup *cgrp, bool idle"),
    "cpu_online": ("void", "s32 cpu"),
    "cpu_offline": ("void", "s32 cpu"),
    "init": ("s32", "void"),
    "exit": ("void", "struct scx_exit_info *info"),
}
#: 6.18's stubs name these arguments __nullable (ext.c: sched_ext_ops__dispatch, __yield)
_NULLABLE_618 = {"dispatch": "prev", "yield": "to"}


def _kfunc_protos(profile: Profile) -> dict[str, str]:
    """name -> C prototype of the kfuncs modelled here (ext.c's BTF_KFUNCS sets)."""
    p = {
        "scx_bpf_create_dsq": "s32 scx_bpf_create_dsq(u64 dsq_id, s32 node)",
        "scx_bpf_select_cpu_dfl": "s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, "
                                  "bool *is_idle)",
        "scx_bpf_dispatch_nr_slots": "u32 scx_bpf_dispatch_nr_slots(void)",
        "scx_bpf_dispatch_cancel": "void scx_bpf_dispatch_cancel(void)",
        "scx_bpf_kick_cpu": "void scx_bpf_kick_cpu(s32 cpu, u64 flags)",
        "scx_bpf_dsq_nr_queued": "s32 scx_bpf_dsq_nr_queued(u64 dsq_id)",
        "scx_bpf_destroy_dsq": "void scx_bpf_destroy_dsq(u64 dsq_id)",
        "scx_bpf_exit_bstr": "void scx_bpf_exit_bstr(s64 exit_code, char *fmt, unsigned long long *data, "
                             "u32 data__sz)",
        "scx_bpf_error_bstr": "void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz)",
        "scx_bpf_nr_cpu_ids": "u32 scx_bpf_nr_cpu_ids(void)",
        "scx_bpf_task_running": "bool scx_bpf_task_running(const struct task_struct *p)",
        "scx_bpf_task_cpu": "s32 scx_bpf_task_cpu(const struct task_struct *p)",
        "scx_bpf_test_and_clear_cpu_idle": "bool scx_bpf_test_and_clear_cpu_idle(s32 cpu)",
        "scx_bpf_reenqueue_local": "u32 scx_bpf_reenqueue_local(void)",
    }
    if _is_618(profile):
        p["scx_bpf_dsq_insert"] = "void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)"
        p["scx_bpf_dsq_insert_vtime"] = ("void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice, "
                                         "u64 vtime, u64 enq_flags)")
        p["scx_bpf_dsq_move_to_local"] = "bool scx_bpf_dsq_move_to_local(u64 dsq_id)"
        p["scx_bpf_now"] = "u64 scx_bpf_now(void)"
    else:
        p["scx_bpf_dispatch"] = "void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)"
        p["scx_bpf_dispatch_vtime"] = ("void scx_bpf_dispatch_vtime(struct task_struct *p, u64 dsq_id, u64 slice, "
                                       "u64 vtime, u64 enq_flags)")
        p["scx_bpf_consume"] = "bool scx_bpf_consume(u64 dsq_id)"
    return p


#: BTF_ID_FLAGS of the modelled kfuncs (6.12 and 6.18 ext.c / ext_idle.c)
_KFUNC_FLAGS: dict[str, frozenset[str]] = {
    "scx_bpf_create_dsq": frozenset({"KF_SLEEPABLE"}),
    "scx_bpf_dsq_insert": frozenset({"KF_RCU"}),
    "scx_bpf_dsq_insert_vtime": frozenset({"KF_RCU"}),
    "scx_bpf_dispatch": frozenset({"KF_RCU"}),
    "scx_bpf_dispatch_vtime": frozenset({"KF_RCU"}),
    "scx_bpf_select_cpu_dfl": frozenset({"KF_RCU"}),
    "scx_bpf_exit_bstr": frozenset({"KF_TRUSTED_ARGS"}),
    "scx_bpf_error_bstr": frozenset({"KF_TRUSTED_ARGS"}),
    "scx_bpf_task_running": frozenset({"KF_RCU"}),
    "scx_bpf_task_cpu": frozenset({"KF_RCU"}),
}


def kfunc_names(profile: Profile = LATEST) -> tuple[str, ...]:
    return tuple(_kfunc_protos(profile))


def ops_c(profile: Profile = LATEST) -> str:
    """``struct sched_ext_ops``, its CFI stubs and the kfunc prototypes (after ``task_struct``)."""
    lines = ["/* kernel/sched/ext.c (6.12), ext_internal.h (6.18) */", "struct sched_ext_ops {"]
    for m in func_members(profile):
        ret, params = _PROTOS[m]
        lines.append(f"    {ret} (*{m})({params});")
    lines += ["    u32 dispatch_max_batch;", "    u64 flags;", "    u32 timeout_ms;", "    u32 exit_dump_len;",
              "    u64 hotplug_seq;", "    char name[128];"]
    if _is_618(profile):
        lines.append("    void *priv;")
    lines.append("};")
    for m in func_members(profile):
        ret, params = _PROTOS[m]
        if _is_618(profile) and m in _NULLABLE_618:
            arg = _NULLABLE_618[m]
            params = params.replace(f"*{arg}", f"*{arg}__nullable")
        lines.append(f"{ret} {_stub(profile, m)}({params});")
    lines += [proto + ";" for proto in _kfunc_protos(profile).values()]
    return "\n".join(lines) + "\n"


# --- the registration ------------------------------------------------------------------------------
def _bpf_obj_name_cpy(raw: bytes) -> int:
    """``bpf_obj_name_cpy``: length, or -EINVAL (no NUL within the size, or a
    character other than ``[A-Za-z0-9_.]``)."""
    if b"\0" not in raw:
        return -errno.EINVAL
    name = raw.split(b"\0", 1)[0]
    if not all(chr(c).isalnum() or c in b"_." for c in name):
        return -errno.EINVAL
    return len(name)


def _btf_struct_access_for(task_fields: dict[str, tuple[int, int]]) -> Any:
    def access(type_name: str, type_size: int, off: int, size: int) -> str | None:
        """``bpf_scx_btf_struct_access`` (6.12/6.18): a write through a
        ``task_struct`` pointer is allowed inside ``scx.slice``,
        ``scx.dsq_vtime`` and ``scx.disallow`` only; anything else is -EACCES
        (the verifier's own message, as the kernel logs none)."""
        if type_name == "task_struct":
            for lo, sz in task_fields.values():
                if off >= lo and off + size <= lo + sz:
                    return None
        return "only read is supported"
    return access


#: (offset in task_struct, size) of the writable fields; set by make_ops from the BTF
def _writable_fields(btf: Any) -> dict[str, tuple[int, int]]:
    from ..btf import structs as S

    tid = btf.find("task_struct", S.KIND_STRUCT)
    out: dict[str, tuple[int, int]] = {}
    if tid is None:
        return out
    task = btf.type_by_id(tid)
    scx = next((m for m in task.members if m.name == "scx"), None)
    if scx is None:
        return out
    ent = btf.resolve(scx.type_id)
    for m in ent.members:
        if m.name in ("slice", "dsq_vtime", "disallow"):
            out[m.name] = (scx.byte_offset + m.byte_offset, btf.size_of(m.type_id))
    return out


def make_ops(profile: Profile = LATEST) -> StructOps:
    """A fresh ``bpf_sched_ext_ops`` for ``profile``. ``reg``/``unreg`` hand the
    struct to the runtime in ``ops.private[RUNTIME_KEY]`` (a simulator's
    scheduler core, see ``kernel_model.subsystems.sched_ext_core``): without
    one, ``reg`` fails with ``-ENODEV`` (no scheduler core to enable)."""
    all_flags = OPS_FLAGS(profile)
    writable: dict[str, tuple[int, int]] = {}

    def init(btf: Any) -> int:
        """``bpf_scx_init``: remembers task_struct (here: the writable fields' offsets)."""
        writable.update(_writable_fields(btf))
        return 0

    def init_member(m: MemberDesc, kdata: bytearray, udata: bytes) -> int:
        """``bpf_scx_init_member`` (6.12/6.18)."""
        off = m.offset
        if m.name == "dispatch_max_batch":
            (v,) = struct.unpack_from("<I", udata, off)
            if v > 0x7FFFFFFF:
                return -errno.E2BIG
            struct.pack_into("<I", kdata, off, v)
            return 1
        if m.name == "flags":
            (v,) = struct.unpack_from("<Q", udata, off)
            if v & ~all_flags:
                return -errno.EINVAL
            struct.pack_into("<Q", kdata, off, v)
            return 1
        if m.name == "name":
            raw = bytes(udata[off:off + SCX_OPS_NAME_LEN])
            n = _bpf_obj_name_cpy(raw)
            if n < 0:
                return n
            if n == 0:
                return -errno.EINVAL
            kdata[off:off + SCX_OPS_NAME_LEN] = raw.split(b"\0", 1)[0].ljust(SCX_OPS_NAME_LEN, b"\0")
            return 1
        if m.name == "timeout_ms":
            (v,) = struct.unpack_from("<I", udata, off)
            # msecs_to_jiffies(v) > SCX_WATCHDOG_MAX_TIMEOUT (30 * HZ): more than 30 s
            if -(-v * 250 // 1000) > 30 * 250:
                return -errno.E2BIG
            struct.pack_into("<I", kdata, off, v)
            return 1
        if m.name == "exit_dump_len":
            (v,) = struct.unpack_from("<I", udata, off)
            struct.pack_into("<I", kdata, off, v or 32768)
            return 1
        if m.name == "hotplug_seq":
            kdata[off:off + 8] = udata[off:off + 8]
            return 1
        return 0

    ops: StructOps

    def reg(kd: Any, link: Any) -> int:
        """``bpf_scx_reg`` -> ``scx_enable``: the runtime runs ``init``,
        ``init_task``/``enable`` for every task ... and returns 0 even when the
        scheduler fails to load (the error reaches ``ops.exit``), or ``-EBUSY``
        while another scheduler is enabled."""
        rt = ops.private.get(RUNTIME_KEY)
        if rt is None:
            return -errno.ENODEV
        return int(rt.enable(kd, link))

    def unreg(kd: Any, link: Any) -> int:
        """``bpf_scx_unreg`` -> ``scx_disable(SCX_EXIT_UNREG)``."""
        rt = ops.private.get(RUNTIME_KEY)
        if rt is not None:
            rt.unregister(kd)
        return 0

    def update(new: Any, old: Any, link: Any) -> int:
        """``bpf_scx_update``: replacing a loaded scheduler is not supported."""
        return -errno.EOPNOTSUPP

    def validate(kd: Any) -> int:
        return 0

    stubs = {m: _stub(profile, m) for m in func_members(profile)}
    ops = StructOps(name="sched_ext_ops", cfi_stubs=stubs, init=init, init_member=init_member, reg=reg,
                    unreg=unreg, update=update, validate=validate,
                    policy=VerifierPolicy(helpers=_HELPERS, sleepable_members=SLEEPABLE_MEMBERS,
                                          btf_struct_access=_btf_struct_access_for(writable)))
    ops.private["kfuncs"] = kfuncs(profile, ops)
    return ops


#: bpf_base_func_proto's helpers that the emulated kernel services (map ops, ktime,
#: prandom, smp_processor_id, probe_read_kernel(_str), trace_printk)
_HELPERS = frozenset({1, 2, 3, 5, 6, 7, 8, 113, 115, 125, 160})


def kfuncs(profile: Profile, ops: StructOps) -> tuple[Kfunc, ...]:
    """The kfunc set: each body asks the runtime in ``ops.private[RUNTIME_KEY]``
    (``runtime.kfunc(name, mem, args)``); with no scheduler loaded they behave as
    the kernel's do with ``scx_root == NULL`` (return 0 / -ENODEV)."""
    out = []
    for name in _kfunc_protos(profile):
        out.append(Kfunc(name, _kfunc_body(name, ops), _KFUNC_FLAGS.get(name, frozenset()),
                         _kfunc_prog_types(name)))
    return tuple(out)


#: kfuncs newer than the 6.12 sets the facts hold, and the 6.12 kfunc whose set (so whose
#: registrations, kernel/sched/ext.c scx_init) they joined: dsq_insert[_vtime] replaced
#: dispatch[_vtime] in scx_kfunc_ids_enqueue_dispatch (6.13), dsq_move_to_local replaced
#: consume in scx_kfunc_ids_dispatch (6.13), scx_bpf_now is in scx_kfunc_ids_any (6.14)
_SAME_SET_AS = {"scx_bpf_dsq_insert": "scx_bpf_dispatch", "scx_bpf_dsq_insert_vtime": "scx_bpf_dispatch_vtime",
                "scx_bpf_dsq_move_to_local": "scx_bpf_consume", "scx_bpf_now": "scx_bpf_kick_cpu"}


def _kfunc_prog_types(name: str) -> frozenset[int] | None:
    """The program types whose kfunc hook holds ``name``'s set (``register_btf_kfunc_id_set``
    in scx_init: STRUCT_OPS for all, SYSCALL for the unlocked and any sets, TRACING for the any
    set); None (every type) only for a kfunc neither the facts nor :data:`_SAME_SET_AS` place.
    Not modelled: 6.18's per-member filters of these sets."""
    from ..core_kfuncs import kfunc_prog_types

    try:
        return kfunc_prog_types(_SAME_SET_AS.get(name, name))
    except KeyError:
        return None


_ENODEV_RET = {"scx_bpf_create_dsq", "scx_bpf_dsq_nr_queued", "scx_bpf_select_cpu_dfl"}


def _kfunc_body(name: str, ops: StructOps) -> Any:
    def body(mem: Any, a1: int = 0, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0, *_: int) -> int:
        rt = ops.private.get(RUNTIME_KEY)
        if rt is None:
            return (-errno.ENODEV) & ((1 << 64) - 1) if name in _ENODEV_RET else 0
        return int(rt.kfunc(name, mem, (a1, a2, a3, a4, a5))) & ((1 << 64) - 1)
    body.__name__ = name
    return body
