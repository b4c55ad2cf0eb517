"""The emulated kernel's own BTF ("vmlinux"): the types the built-in subsystems need.

The real kernel's BTF is produced by pahole from DWARF; ours is written as C
(parsed by :func:`kernel_model.btf.parse_c`) plus the struct_ops value types,
which the kernel generates with ``DEFINE_STRUCT_OPS_VALUE_TYPE``
(``include/linux/bpf.h``, Linux 6.9+: ``struct bpf_struct_ops_<name> {
struct bpf_struct_ops_common_value common; struct <name> data
____cacheline_aligned_in_smp; }``) and which :func:`add_value_type` builds with
the same layout (``data`` at offset 64, size rounded up to 64).

Layouts of the types struct_ops programs see follow the Linux 6.18 host's BTF
where it matters to programs: ``bpf_dummy_ops`` and its state (24 and 4 bytes),
``tcp_congestion_ops`` (192 bytes, 18 members, as the host), ``ack_sample``,
``rate_sample``; their value types (128 and 256 bytes). ``task_struct``,
``sock`` and ``module`` are reduced to a few members (the host's are 3264, 784
and 768 bytes): enough for programs that read a pid or a socket field, stated
here so nobody mistakes them for the real layouts.
"""

from __future__ import annotations

from functools import lru_cache

from .btf import BTF, Member, Struct, parse_c
from .btf import structs as S
from .profile import LATEST, Profile

__all__ = ["BASE_C", "build_vmlinux_btf", "vmlinux_c", "add_value_type", "VALUE_DATA_OFFSET"]

#: offset of ``data`` in every ``bpf_struct_ops_<name>``: the common value is
#: 8 bytes, the data is cacheline (64-byte) aligned.
VALUE_DATA_OFFSET = 64

BASE_C = r"""
/* include/uapi/asm-generic/int-ll64.h, include/uapi/linux/types.h: the real vmlinux
 * BTF holds these typedefs (pahole sees them used), and libbpf's bpf_helper_defs.h
 * needs them from vmlinux.h */
typedef signed char __s8; typedef unsigned char __u8; typedef short __s16; typedef unsigned short __u16;
typedef int __s32; typedef unsigned int __u32; typedef long long __s64; typedef unsigned long long __u64;
typedef __u16 __be16; typedef __u16 __le16; typedef __u32 __be32; typedef __u32 __le32;
typedef __u64 __be64; typedef __u64 __le64; typedef __u16 __sum16; typedef __u32 __wsum;

/* include/uapi/linux/bpf.h (Linux 6.12/6.18) */
enum bpf_map_type {
    BPF_MAP_TYPE_UNSPEC = 0,
    BPF_MAP_TYPE_HASH = 1,
    BPF_MAP_TYPE_ARRAY = 2,
    BPF_MAP_TYPE_PROG_ARRAY = 3,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4,
    BPF_MAP_TYPE_PERCPU_HASH = 5,
    BPF_MAP_TYPE_PERCPU_ARRAY = 6,
    BPF_MAP_TYPE_STACK_TRACE = 7,
    BPF_MAP_TYPE_CGROUP_ARRAY = 8,
    BPF_MAP_TYPE_LRU_HASH = 9,
    BPF_MAP_TYPE_LRU_PERCPU_HASH = 10,
    BPF_MAP_TYPE_LPM_TRIE = 11,
    BPF_MAP_TYPE_ARRAY_OF_MAPS = 12,
    BPF_MAP_TYPE_HASH_OF_MAPS = 13,
    BPF_MAP_TYPE_DEVMAP = 14,
    BPF_MAP_TYPE_SOCKMAP = 15,
    BPF_MAP_TYPE_CPUMAP = 16,
    BPF_MAP_TYPE_XSKMAP = 17,
    BPF_MAP_TYPE_SOCKHASH = 18,
    BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED = 19,
    BPF_MAP_TYPE_CGROUP_STORAGE = 19,
    BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20,
    BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED = 21,
    BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21,
    BPF_MAP_TYPE_QUEUE = 22,
    BPF_MAP_TYPE_STACK = 23,
    BPF_MAP_TYPE_SK_STORAGE = 24,
    BPF_MAP_TYPE_DEVMAP_HASH = 25,
    BPF_MAP_TYPE_STRUCT_OPS = 26,
    BPF_MAP_TYPE_RINGBUF = 27,
    BPF_MAP_TYPE_INODE_STORAGE = 28,
    BPF_MAP_TYPE_TASK_STORAGE = 29,
    BPF_MAP_TYPE_BLOOM_FILTER = 30,
    BPF_MAP_TYPE_USER_RINGBUF = 31,
    BPF_MAP_TYPE_CGRP_STORAGE = 32,
    BPF_MAP_TYPE_ARENA = 33,
    __MAX_BPF_MAP_TYPE = 34,
};

/* include/linux/types.h, refcount.h */
typedef struct { int counter; } atomic_t;
typedef struct refcount_struct { atomic_t refs; } refcount_t;
struct list_head { struct list_head *next, *prev; };

/* include/linux/bpf.h */
enum bpf_struct_ops_state {
    BPF_STRUCT_OPS_STATE_INIT = 0,
    BPF_STRUCT_OPS_STATE_INUSE = 1,
    BPF_STRUCT_OPS_STATE_TOBEFREE = 2,
    BPF_STRUCT_OPS_STATE_READY = 3,
};
struct bpf_struct_ops_common_value {
    refcount_t refcnt;
    enum bpf_struct_ops_state state;
};

/* reduced: the host's struct module is 768 bytes */
enum module_state { MODULE_STATE_LIVE = 0, MODULE_STATE_COMING = 1, MODULE_STATE_GOING = 2, MODULE_STATE_UNFORMED = 3 };
struct module {
    enum module_state state;
    struct list_head list;
    char name[56];
};

/*@SCHED_EXT_TYPES@*/
/* reduced: the host's struct task_struct is 3264 bytes */
struct task_struct {
    unsigned int __state;
    int pid;
    int tgid;
    int prio;
    char comm[16];
    struct task_struct *parent;
/*@TASK_STRUCT_EXTRA@*/
};
/*@SCHED_EXT_OPS@*/

/* reduced: the host's struct sock is 784 bytes */
struct sock {
    unsigned short skc_family;
    unsigned char skc_state;
    unsigned int sk_rcvbuf;
    unsigned int sk_sndbuf;
    unsigned int sk_pacing_rate;
    unsigned int sk_mark;
};

/* net/bpf/bpf_dummy_struct_ops.c, include/linux/bpf.h */
struct bpf_dummy_ops_state { int val; };
struct bpf_dummy_ops {
    int (*test_1)(struct bpf_dummy_ops_state *cb);
    int (*test_2)(struct bpf_dummy_ops_state *cb, int a1, unsigned short a2, char a3, unsigned long a4);
    int (*test_sleepable)(struct bpf_dummy_ops_state *cb);
};
/* the CFI stubs: BTF keeps their parameter names (test_1's was bpf_dummy_test_1 with a
   plain cb before cb__nullable, see kernel_model/subsystems/dummy_ops.py) */
int bpf_dummy_ops__test_1(struct bpf_dummy_ops_state *cb__nullable);
int bpf_dummy_test_1(struct bpf_dummy_ops_state *cb);
int bpf_dummy_test_2(struct bpf_dummy_ops_state *cb, int a1, unsigned short a2, char a3, unsigned long a4);
int bpf_dummy_test_sleepable(struct bpf_dummy_ops_state *cb);

/* include/net/tcp.h */
enum tcp_ca_event {
    CA_EVENT_TX_START = 0, CA_EVENT_CWND_RESTART = 1, CA_EVENT_COMPLETE_CWR = 2,
    CA_EVENT_LOSS = 3, CA_EVENT_ECN_NO_CE = 4, CA_EVENT_ECN_IS_CE = 5,
};
struct ack_sample { u32 pkts_acked; s32 rtt_us; u32 in_flight; };
struct rate_sample {
    u64 prior_mstamp; u32 prior_delivered; u32 prior_delivered_ce; s32 delivered; s32 delivered_ce;
    long interval_us; u32 snd_interval_us; u32 rcv_interval_us; long rtt_us; int losses;
    u32 acked_sacked; u32 prior_in_flight; u32 last_end_seq; bool is_app_limited; bool is_retrans;
    bool is_ack_delayed;
};
struct tcpvegas_info { u32 tcpv_enabled; u32 tcpv_rttcnt; u32 tcpv_rtt; u32 tcpv_minrtt; };
union tcp_cc_info { struct tcpvegas_info vegas; };
struct tcp_congestion_ops {
    u32 (*ssthresh)(struct sock *sk);
    void (*cong_avoid)(struct sock *sk, u32 ack, u32 acked);
    void (*set_state)(struct sock *sk, u8 new_state);
    void (*cwnd_event)(struct sock *sk, enum tcp_ca_event ev);
    void (*in_ack_event)(struct sock *sk, u32 flags);
    void (*pkts_acked)(struct sock *sk, const struct ack_sample *sample);
    u32 (*min_tso_segs)(struct sock *sk);
    void (*cong_control)(struct sock *sk, u32 ack, int flag, const struct rate_sample *rs);
    u32 (*undo_cwnd)(struct sock *sk);
    u32 (*sndbuf_expand)(struct sock *sk);
    size_t (*get_info)(struct sock *sk, u32 ext, int *attr, union tcp_cc_info *info);
    char name[16];
    struct module *owner;
    struct list_head list;
    u32 key;
    u32 flags;
    void (*init)(struct sock *sk);
    void (*release)(struct sock *sk);
    long: 64; long: 64; long: 64; long: 64; long: 64;
};
/* net/ipv4/bpf_tcp_ca.c: the CFI stubs */
u32 bpf_tcp_ca_ssthresh(struct sock *sk);
void bpf_tcp_ca_cong_avoid(struct sock *sk, u32 ack, u32 acked);
void bpf_tcp_ca_set_state(struct sock *sk, u8 new_state);
void bpf_tcp_ca_cwnd_event(struct sock *sk, enum tcp_ca_event ev);
void bpf_tcp_ca_in_ack_event(struct sock *sk, u32 flags);
void bpf_tcp_ca_pkts_acked(struct sock *sk, const struct ack_sample *sample);
u32 bpf_tcp_ca_min_tso_segs(struct sock *sk);
void bpf_tcp_ca_cong_control(struct sock *sk, u32 ack, int flag, const struct rate_sample *rs);
u32 bpf_tcp_ca_undo_cwnd(struct sock *sk);
u32 bpf_tcp_ca_sndbuf_expand(struct sock *sk);
void __bpf_tcp_ca_init(struct sock *sk);
void __bpf_tcp_ca_release(struct sock *sk);
"""


def add_value_type(btf: BTF, name: str) -> int:
    """Add ``struct bpf_struct_ops_<name>`` for the ops struct ``name`` already in
    ``btf`` (as DEFINE_STRUCT_OPS_VALUE_TYPE would); returns its type id."""
    ops_id = btf.find(name, S.KIND_STRUCT)
    common_id = btf.find("bpf_struct_ops_common_value", S.KIND_STRUCT)
    if ops_id is None or common_id is None:
        raise KeyError(f"struct {name} or bpf_struct_ops_common_value missing from BTF")
    size = btf.size_of(ops_id)
    total = -(-(VALUE_DATA_OFFSET + size) // 64) * 64
    return btf.add(Struct(f"bpf_struct_ops_{name}", total, (
        Member("common", common_id, 0),
        Member("data", ops_id, VALUE_DATA_OFFSET * 8),
    )))


def vmlinux_c(profile: Profile = LATEST) -> str:
    """The C text of the emulated vmlinux for ``profile``: :data:`BASE_C`, plus
    sched_ext's types, ``task_struct.scx`` and ``struct sched_ext_ops`` on
    profiles that have it (6.12+, see :mod:`kernel_model.subsystems.sched_ext`)."""
    from .subsystems import sched_ext

    if not sched_ext.supported(profile):
        return BASE_C
    return (BASE_C.replace("/*@SCHED_EXT_TYPES@*/", sched_ext.types_c(profile))
            .replace("/*@TASK_STRUCT_EXTRA@*/", sched_ext.task_struct_extra_c())
            .replace("/*@SCHED_EXT_OPS@*/", sched_ext.ops_c(profile)))


@lru_cache(maxsize=4)
def _cached_blob(key: tuple[int, int]) -> bytes:
    from .profile import PROFILES

    profile = next(p for p in PROFILES.values() if p.version == key)
    btf = parse_c(vmlinux_c(profile), where="vmlinux")
    ops_types = ["bpf_dummy_ops", "tcp_congestion_ops"]
    if btf.find("sched_ext_ops", S.KIND_STRUCT) is not None:
        ops_types.append("sched_ext_ops")
    for ops in ops_types:
        add_value_type(btf, ops)
    return btf.to_bytes()


def build_vmlinux_btf(profile: Profile = LATEST) -> BTF:
    """A fresh BTF object of the emulated vmlinux for ``profile`` (each kernel
    gets its own, so modules' split BTF and registrations never leak between
    kernels)."""
    return BTF.from_bytes(_cached_blob(profile.version), where="vmlinux")
