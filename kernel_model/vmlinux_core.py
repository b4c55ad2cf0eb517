"""Kernel types programs reach through CO-RE relocations, with the Linux 6.18 layouts.

CO-RE relocations look types up by name in the running kernel's BTF (libbpf's
``bpf_core_find_cands``); one the emulated vmlinux lacks, where a real kernel has
it, makes the program "not modelled" (:mod:`emu.libbpf.core_gaps`). These are
the types the kernel's selftests relocate against that the emulated vmlinux had
no other reason to hold, each with the member offsets of the 6.18 x86-64 BTF
(read with ``bpftool btf dump file /sys/kernel/btf/vmlinux format c``), the
header it comes from named. Appended to the emulated vmlinux after every other
type, so no type id moves.

Only what programs use is here: packet headers (read through packet pointers,
no BTF walk), uapi program contexts (their access rules are the verifier's
``is_valid_access``, not BTF), the records of two tracepoints
(``syscall_trace_enter``, ``xdp_cpumap_stats``), and ``net_device`` and
``bpf_prog`` *reduced* to the members the xdp tracepoints' programs read
(:mod:`kernel_model.tracepoints`; a read elsewhere in them is not modelled,
``verifier.btf_access``).
"""

from __future__ import annotations

__all__ = ["CORE_TYPES_C"]

CORE_TYPES_C = r"""
/* include/uapi/linux/if_ether.h */
struct ethhdr {
    unsigned char h_dest[6];
    unsigned char h_source[6];
    __be16 h_proto;
};

/* include/uapi/linux/ipv6.h (struct in6_addr: include/uapi/linux/in6.h, already in vmlinux;
 * __struct_group(.., addrs, ..) gives the anonymous struct and its named copy) */
struct ipv6hdr {
    __u8 priority: 4;
    __u8 version: 4;
    __u8 flow_lbl[3];
    __be16 payload_len;
    __u8 nexthdr;
    __u8 hop_limit;
    union {
        struct { struct in6_addr saddr; struct in6_addr daddr; };
        struct { struct in6_addr saddr; struct in6_addr daddr; } addrs;
    };
};

/* include/uapi/linux/in6.h (sin6_family is __kernel_sa_family_t: unsigned short) */
struct sockaddr_in6 {
    unsigned short sin6_family;
    __be16 sin6_port;
    __be32 sin6_flowinfo;
    struct in6_addr sin6_addr;
    __u32 sin6_scope_id;
};

/* include/uapi/linux/time_types.h, include/uapi/asm-generic/posix_types.h */
typedef long long __kernel_time64_t;
struct __kernel_timespec {
    __kernel_time64_t tv_sec;
    long long tv_nsec;
};

/* struct sk_msg_md (include/uapi/linux/bpf.h) is kernel_model.vmlinux_ctx's, the sk_msg context */

/* arch/x86/include/uapi/asm/bpf_perf_event.h, include/uapi/linux/bpf_perf_event.h */
typedef struct pt_regs bpf_user_pt_regs_t;
struct bpf_perf_event_data {
    bpf_user_pt_regs_t regs;
    __u64 sample_period;
    __u64 addr;
};

/* include/linux/trace_events.h (struct trace_entry), kernel/trace/trace.h
 * (struct syscall_trace_enter: the record of the syscalls' sys_enter_* events) */
struct trace_entry {
    unsigned short type;
    unsigned char flags;
    unsigned char preempt_count;
    int pid;
};
struct syscall_trace_enter {
    struct trace_entry ent;
    int nr;
    unsigned long args[0];
};

/* include/net/xdp.h: the xdp_cpumap_kthread tracepoint's statistics */
struct xdp_cpumap_stats {
    unsigned int redirect;
    unsigned int pass;
    unsigned int drop;
};

/* include/linux/netdevice.h, include/linux/bpf.h: REDUCED (kernel_model.vmlinux.REDUCED_STRUCTS)
 * to the members the xdp tracepoints' programs read; the 6.18 structs are 2496 and 96 bytes,
 * these members sit elsewhere there (net_device: mtu 56, ifindex 224; bpf_prog: type 4, len 12) */
struct net_device {
    unsigned int mtu;
    int ifindex;
    char name[16];
};
struct bpf_prog {
    unsigned int type;
    unsigned int len;
};
"""
