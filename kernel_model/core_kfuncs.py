"""The vmlinux kfuncs the emulated kernel has: tasks, cgroups, cpumasks, RCU, preemption, IRQs.

Which kfuncs, with which flags and for which program types, comes from the kernel's
own kfunc sets (:mod:`kernel_model.bpf_facts.kfuncs`: ``BTF_ID_FLAGS`` entries of
kernel/bpf/helpers.c ``generic_btf_ids`` / ``common_btf_ids`` and kernel/bpf/cpumask.c
``cpumask_kfunc_btf_ids``, and their ``register_btf_kfunc_id_set`` calls); their C
prototypes are the 6.18 BTF's (parameter names carry the ``__nullable`` /
``__irq_flag`` suffixes the verifier reads). :data:`FLAGS_618` holds what 6.18 has
and the 6.12 extraction does not (kfuncs added since).

The structures the prototypes name are reduced (stated here so nobody mistakes them
for the real layouts): ``struct cgroup`` keeps ``level`` and the id of its kernfs
node (the shapes of :mod:`kernel_model.subsystems.sched_ext`, which defines them
where it is built in), ``struct cpumask`` holds 64 CPUs (the host's NR_CPUS is larger), ``struct
bpf_cpumask`` is the kernel's shape (a cpumask, then a refcount).
"""

from __future__ import annotations

from functools import lru_cache

from .bpf_facts import kfuncs as facts
from .uapi import PROG_TYPE_NAMES

__all__ = ["CORE_KFUNCS", "LATE_KFUNCS", "FLAGS_618", "TYPES_C", "core_kfuncs_c", "kfunc_flags", "kfunc_prog_types"]

#: the modelled vmlinux kfuncs, in the order their prototypes enter the BTF
CORE_KFUNCS: tuple[str, ...] = (
    # kernel/bpf/helpers.c generic_btf_ids (tasks, cgroups)
    "bpf_task_acquire", "bpf_task_release", "bpf_task_from_pid",
    "bpf_cgroup_acquire", "bpf_cgroup_release", "bpf_cgroup_from_id", "bpf_cgroup_ancestor",
    # kernel/bpf/cpumask.c cpumask_kfunc_btf_ids
    "bpf_cpumask_create", "bpf_cpumask_release", "bpf_cpumask_acquire", "bpf_cpumask_first",
    "bpf_cpumask_first_zero", "bpf_cpumask_set_cpu", "bpf_cpumask_clear_cpu", "bpf_cpumask_test_cpu",
    "bpf_cpumask_test_and_set_cpu", "bpf_cpumask_test_and_clear_cpu", "bpf_cpumask_setall",
    "bpf_cpumask_clear", "bpf_cpumask_empty", "bpf_cpumask_full", "bpf_cpumask_weight",
    # kernel/bpf/helpers.c common_btf_ids
    "bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_preempt_disable", "bpf_preempt_enable",
    "bpf_local_irq_save", "bpf_local_irq_restore",
    # kernel/bpf/helpers.c common_btf_ids: the numbers iterator (kernel/bpf/bpf_iter.c)
    "bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy",
    # kernel/bpf/helpers.c generic_btf_ids: BPF exceptions (verifier.exceptions, emu.kernel.exceptions)
    "bpf_throw",
    # kernel/bpf/helpers.c common_btf_ids: dynptr accessors; net/core/filter.c
    # bpf_kfunc_check_set_skb / bpf_kfunc_check_set_xdp: skb and xdp dynptrs (verifier.dynptrs)
    "bpf_dynptr_adjust", "bpf_dynptr_is_null", "bpf_dynptr_is_rdonly", "bpf_dynptr_size", "bpf_dynptr_clone",
    "bpf_dynptr_slice", "bpf_dynptr_slice_rdwr", "bpf_dynptr_from_skb", "bpf_dynptr_from_xdp",
    # kernel/bpf/helpers.c generic_btf_ids: allocated objects and the graph API
    "bpf_obj_new_impl", "bpf_percpu_obj_new_impl", "bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl",
    "bpf_refcount_acquire_impl", "bpf_list_push_front_impl", "bpf_list_push_back_impl",
    "bpf_list_pop_front", "bpf_list_pop_back", "bpf_rbtree_remove", "bpf_rbtree_add_impl", "bpf_rbtree_first",
    # keyring lookups: kernel/trace/bpf_trace.c key_sig_kfunc_set in 6.12, kernel/bpf/helpers.c
    # generic_btf_ids in 6.18 (_HOOKS_618; bpf_verify_pkcs7_signature needs key payloads: not modelled)
    "bpf_lookup_user_key", "bpf_lookup_system_key", "bpf_key_put",
)

#: the kfuncs whose prototypes enter the BTF last (after the dynptr group), so that
#: the ids of the types and kfuncs before them stay as they were
LATE_KFUNCS: tuple[str, ...] = ("bpf_lookup_user_key", "bpf_lookup_system_key", "bpf_key_put")

#: Linux 6.18 facts the 6.12 sets lack: bpf_local_irq_save/restore (6.14, common_btf_ids).
#: The 6.18 host refuses a NULL flag pointer with "Possibly NULL pointer passed to trusted
#: arg0" (the check_kfunc_args test of trusted-argument kfuncs), so they carry
#: KF_TRUSTED_ARGS here: that is the host's observed answer, not a flag read from a source
FLAGS_618: dict[str, tuple[str, ...]] = {"bpf_local_irq_save": ("KF_TRUSTED_ARGS",),
                                         "bpf_local_irq_restore": ("KF_TRUSTED_ARGS",)}
_HOOKS_618: dict[str, tuple[str, ...]] = {"bpf_local_irq_save": ("COMMON",), "bpf_local_irq_restore": ("COMMON",)}
#: Linux 6.18 moved the keyring kfuncs from kernel/trace/bpf_trace.c's key_sig_kfunc_set (tracing
#: hook) into kernel/bpf/helpers.c's generic_btf_ids (the signed-programs work): the host answers
#: them from every type bpf_task_acquire's set serves (xdp, tc, cgroup, struct_ops, syscall ...)
#: and refuses them from socket filters, as tests/verifier/test_kfunc_hooks.py's sweep shows
for _name in ("bpf_lookup_user_key", "bpf_lookup_system_key", "bpf_key_put"):
    _HOOKS_618[_name] = facts.kfunc("bpf_task_acquire").hooks

TYPES_C = r"""
/* include/linux/cpumask_types.h (reduced to 64 CPUs), kernel/bpf/cpumask.c */
struct cpumask { unsigned long bits[1]; };
typedef struct cpumask cpumask_t;
struct bpf_cpumask { cpumask_t cpumask; refcount_t usage; };
/* struct cgroup (include/linux/cgroup-defs.h): kernel_model.vmlinux_task */
"""

#: include/uapi/linux/bpf.h: the numbers iterator's opaque state (8 bytes, 8-aligned);
#: always declared (sched_ext's build supplies the shapes of TYPES_C, not this one)
ITER_TYPES_C = r"""
struct bpf_iter_num { unsigned long long __opaque[1]; };
"""

#: include/uapi/linux/bpf.h: the dynptr's opaque state (16 bytes, 8-aligned) and the packet
#: program contexts the skb/xdp dynptr kfuncs take (the uapi layouts, 192 and 24 bytes; the
#: ``__bpf_md_ptr`` members are 8-byte aligned unions, as in the header)
DYNPTR_TYPES_C = r"""
struct bpf_dynptr { unsigned long long __opaque[2]; };
struct bpf_flow_keys;
struct bpf_sock;
struct __sk_buff {
    __u32 len; __u32 pkt_type; __u32 mark; __u32 queue_mapping; __u32 protocol; __u32 vlan_present;
    __u32 vlan_tci; __u32 vlan_proto; __u32 priority; __u32 ingress_ifindex; __u32 ifindex; __u32 tc_index;
    __u32 cb[5]; __u32 hash; __u32 tc_classid; __u32 data; __u32 data_end; __u32 napi_id;
    __u32 family; __u32 remote_ip4; __u32 local_ip4; __u32 remote_ip6[4]; __u32 local_ip6[4];
    __u32 remote_port; __u32 local_port; __u32 data_meta;
    union { struct bpf_flow_keys *flow_keys; __u64 :64; } __attribute__((aligned(8)));
    __u64 tstamp; __u32 wire_len; __u32 gso_segs;
    union { struct bpf_sock *sk; __u64 :64; } __attribute__((aligned(8)));
    __u32 gso_size; __u8 tstamp_type; __u32 :24; __u64 hwtstamp;
};
struct xdp_md {
    __u32 data; __u32 data_end; __u32 data_meta; __u32 ingress_ifindex; __u32 rx_queue_index;
    __u32 egress_ifindex;
};
"""


#: include/uapi/linux/bpf.h (6.18): the graph types' opaque shapes (sizes and alignments
#: btf_field_type_size/align give; sched_ext's types have them already), and bpf_refcount
GRAPH_TYPES_C = r"""
struct bpf_list_head { unsigned long long __opaque[2]; };
struct bpf_list_node { unsigned long long __opaque[3]; };
struct bpf_rb_root { unsigned long long __opaque[2]; };
struct bpf_rb_node { unsigned long long __opaque[4]; };
"""
REFCOUNT_TYPES_C = r"""
struct bpf_refcount { unsigned int __opaque[1]; };
"""

#: kernel/trace/bpf_trace.c (6.12; include/linux/bpf.h in 6.18): what the key kfuncs hand out,
#: a key pointer (for a system keyring: its number, VERIFY_USE_*) and whether a reference is
#: held on it; ``struct key`` stays opaque (security/keys is not modelled)
KEY_TYPES_C = r"""
struct key;
struct bpf_key { struct key *key; bool has_ref; };
"""


def kfunc_flags(name: str) -> tuple[str, ...]:
    """The KF_* flags of a modelled kfunc (6.12 sets, 6.18 additions)."""
    if name in FLAGS_618:
        return FLAGS_618[name]
    flags = facts.kfunc(name).flags
    if flags is None:
        raise KeyError(f"kfunc {name}: no flags known")
    return flags


@lru_cache(maxsize=None)
def kfunc_prog_types(name: str) -> frozenset[int]:
    """The program types whose kfunc hook has a set holding ``name``
    (``bpf_prog_type_to_kfunc_hook``; a COMMON set serves every type)."""
    hooks = _HOOKS_618.get(name) or facts.kfunc(name).hooks
    out = set()
    for value, pname in PROG_TYPE_NAMES.items():
        hook = facts.kfunc_hook("BPF_PROG_TYPE_" + pname.upper())
        if "COMMON" in hooks or (hook is not None and hook in hooks):
            out.add(value)
    return frozenset(out)


def core_kfuncs_c(with_types: bool = True) -> str:
    """The prototypes (from the 6.18 BTF's declarations) for vmlinux, after the types
    they name (:data:`TYPES_C`, the same shapes sched_ext's types have: without
    ``with_types`` when those are in already)."""
    lines = [TYPES_C + GRAPH_TYPES_C if with_types else "", ITER_TYPES_C, REFCOUNT_TYPES_C]
    # the dynptr types and kfuncs last: the types and prototypes before them keep their BTF
    # ids (and examples/vmlinux.h its earlier lines)
    dynptr_kfuncs = [n for n in CORE_KFUNCS if n.startswith("bpf_dynptr_")]
    early = [n for n in CORE_KFUNCS if n not in dynptr_kfuncs and n not in LATE_KFUNCS]
    for name in early + [""] + dynptr_kfuncs + ["-"] + list(LATE_KFUNCS):
        if not name:
            lines.append(DYNPTR_TYPES_C)
            continue
        if name == "-":
            lines.append(KEY_TYPES_C)
            continue
        lines.append(facts.prototype_c(name))
    return "\n".join(lines) + "\n"
