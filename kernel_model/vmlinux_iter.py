"""The BPF iterator targets of the emulated kernel, as vmlinux's BTF shows them.

A kernel iterator target registers with ``bpf_iter_reg_target`` (kernel/bpf/bpf_iter.c,
Linux 6.12/6.18) and declares, with ``DEFINE_BPF_ITER_FUNC(target, args...)``
(include/linux/bpf.h), an empty function ``bpf_iter_<target>(args...)`` whose BTF FUNC
is what libbpf looks up for ``SEC("iter/<target>")`` (``libbpf_find_attach_btf_id``:
prefix ``bpf_iter_``, kind FUNC) and what the program's ``attach_btf_id`` names. The
program's context is ``struct bpf_iter__<target>``: the same arguments, each pointer in a
``__bpf_md_ptr`` union (8 bytes), so the context's 8-byte slots are the FUNC's arguments
(``btf_ctx_access``).

:data:`ITER_TARGETS` is the model's ``targets`` list: per target, its FUNC's parameters,
its ``ctx_arg_info`` (which context slots are ``PTR_TO_BTF_ID_OR_NULL``, with or without
``PTR_TRUSTED``; the host 6.18's answers, the same as the 6.12 sources: task_iter.c,
map_iter.c, bpf_iter.c's link iterator, cgroup_iter.c, net/ipv4/tcp_ipv4.c, udp.c,
net/unix/af_unix.c, net/ipv6/route.c (ipv6_route), kernel/kallsyms.c, net/netlink/af_netlink.c) and
whether it has ``BPF_ITER_RESCHED`` (which decides, at link time, whether a sleepable
program may attach).

The structs the targets point to are reduced to the members the iterator selftests read,
at the offsets of the Linux 6.18 x86-64 host's BTF, with the host's sizes (members not
kept are padding): ``seq_file`` (120 bytes), ``bpf_map`` (296), ``bpf_link`` (88),
``file`` (184), ``vm_area_struct`` (192), ``kallsym_iter`` (624), ``unix_sock`` (1152),
``udp_sock`` (1344), ``netlink_sock`` (1096), and for ``ipv6_route`` (net/ipv6/route.c)
``fib6_info`` (200), ``fib6_nh`` (96), ``fib_nh_common`` (72), ``nexthop`` (136), ``nh_info``
(144), ``rt6key`` (20). ``task_struct``, ``cgroup`` and
``sock_common`` are the emulated vmlinux's own. A program reading a member these
structs leave out fails its CO-RE relocation in the loader (not modelled), never
verifies against padding by name.

Targets not modelled: ``bpf_map_elem``, ``bpf_sk_storage_map`` and ``sockmap`` (their
contexts carry ``PTR_TO_BUF`` key/value slots sized at attach time; the 6.18 reference
host refuses every program for them with EPERM before verifying, see
:data:`HOST_REFUSED_TARGETS`), ``bpf_prog``, ``kmem_cache``, ``dmabuf``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["IterTarget", "ITER_TARGETS", "HOST_REFUSED_TARGETS", "NOT_MODELLED_TARGETS", "ITER_FUNC_PREFIX",
           "iter_c"]

#: include/linux/bpf.h BPF_ITER_FUNC_PREFIX
ITER_FUNC_PREFIX: Final = "bpf_iter_"


@dataclass(frozen=True, slots=True)
class IterTarget:
    """One ``struct bpf_iter_reg`` as the verifier reads it."""

    #: the FUNC's parameters as C (the first is always ``struct bpf_iter_meta *meta``)
    params: str
    #: ``ctx_arg_info``: context offset -> (trusted, the pointed-to struct's name); every
    #: entry is ``PTR_TO_BTF_ID_OR_NULL`` (``| PTR_TRUSTED`` when trusted)
    ctx_arg_info: tuple[tuple[int, bool, str], ...]
    #: ``reg_info->feature & BPF_ITER_RESCHED``
    resched: bool = False


#: the targets the emulated kernel registers (its late_initcalls' ``bpf_iter_reg_target``)
ITER_TARGETS: Final[dict[str, IterTarget]] = {
    # kernel/bpf/task_iter.c: task_reg_info, task_file_reg_info, task_vma_reg_info
    "task": IterTarget("struct bpf_iter_meta *meta, struct task_struct *task",
                       ((8, True, "task_struct"),), resched=True),
    "task_file": IterTarget("struct bpf_iter_meta *meta, struct task_struct *task, u32 fd, struct file *file",
                            ((8, False, "task_struct"), (24, False, "file")), resched=True),
    "task_vma": IterTarget("struct bpf_iter_meta *meta, struct task_struct *task, struct vm_area_struct *vma",
                           ((8, False, "task_struct"), (16, False, "vm_area_struct")), resched=True),
    # kernel/bpf/map_iter.c bpf_map_reg_info
    "bpf_map": IterTarget("struct bpf_iter_meta *meta, struct bpf_map *map", ((8, True, "bpf_map"),)),
    # kernel/bpf/link_iter.c bpf_link_reg_info
    "bpf_link": IterTarget("struct bpf_iter_meta *meta, struct bpf_link *link", ((8, False, "bpf_link"),)),
    # kernel/bpf/cgroup_iter.c bpf_cgroup_reg_info
    "cgroup": IterTarget("struct bpf_iter_meta *meta, struct cgroup *cgroup", ((8, True, "cgroup"),),
                         resched=True),
    # net/ipv4/tcp_ipv4.c tcp_reg_info
    "tcp": IterTarget("struct bpf_iter_meta *meta, struct sock_common *sk_common, uid_t uid",
                      ((8, True, "sock_common"),)),
    # net/ipv4/udp.c udp_reg_info
    "udp": IterTarget("struct bpf_iter_meta *meta, struct udp_sock *udp_sk, uid_t uid, int bucket",
                      ((8, True, "udp_sock"),)),
    # net/unix/af_unix.c unix_reg_info
    "unix": IterTarget("struct bpf_iter_meta *meta, struct unix_sock *unix_sk, uid_t uid",
                       ((8, False, "unix_sock"),)),
    # kernel/kallsyms.c ksym_iter_reg_info
    "ksym": IterTarget("struct bpf_iter_meta *meta, struct kallsym_iter *ksym", ((8, False, "kallsym_iter"),),
                       resched=True),
    # net/netlink/af_netlink.c netlink_reg_info
    "netlink": IterTarget("struct bpf_iter_meta *meta, struct netlink_sock *sk", ((8, False, "netlink_sock"),)),
    # net/ipv6/route.c ipv6_route_reg_info (PTR_TO_BTF_ID_OR_NULL, btf_fib6_info_id)
    "ipv6_route": IterTarget("struct bpf_iter_meta *meta, struct fib6_info *rt", ((8, False, "fib6_info"),)),
}

#: targets the 6.18 reference host has but refuses every program for, with EPERM and no
#: verifier message (only the statistics: "processed 0 insns"), even ``r0 = 0; exit``:
#: the three whose contexts carry ``PTR_TO_BUF`` slots. Nothing in the 6.18 sources
#: explains it (mainline accepts them), so the model refuses them as not modelled
#: rather than guess either verdict.
HOST_REFUSED_TARGETS: Final = frozenset({"bpf_map_elem", "bpf_sk_storage_map", "sockmap"})

#: targets of Linux 6.18 the emulated kernel does not register (their kernel types are not in
#: the emulated BTF): a program for them is "not modelled", never "no such target"
NOT_MODELLED_TARGETS: Final = frozenset({"bpf_prog", "kmem_cache", "dmabuf"})

#: the context structs' members, from the same registration (``struct bpf_iter__<target>``)
_CTX_MEMBERS: Final[dict[str, str]] = {
    "task": "union { struct bpf_iter_meta *meta; }; union { struct task_struct *task; };",
    "task_file": "union { struct bpf_iter_meta *meta; }; union { struct task_struct *task; }; u32 fd; "
                 "union { struct file *file; };",
    "task_vma": "union { struct bpf_iter_meta *meta; }; union { struct task_struct *task; }; "
                "union { struct vm_area_struct *vma; };",
    "bpf_map": "union { struct bpf_iter_meta *meta; }; union { struct bpf_map *map; };",
    "bpf_link": "union { struct bpf_iter_meta *meta; }; union { struct bpf_link *link; };",
    "cgroup": "union { struct bpf_iter_meta *meta; }; union { struct cgroup *cgroup; };",
    "tcp": "union { struct bpf_iter_meta *meta; }; union { struct sock_common *sk_common; }; uid_t uid;",
    "udp": "union { struct bpf_iter_meta *meta; }; union { struct udp_sock *udp_sk; }; uid_t uid; "
           "long: 0; int bucket;",
    "unix": "union { struct bpf_iter_meta *meta; }; union { struct unix_sock *unix_sk; }; uid_t uid;",
    "ksym": "union { struct bpf_iter_meta *meta; }; union { struct kallsym_iter *ksym; };",
    "netlink": "union { struct bpf_iter_meta *meta; }; union { struct netlink_sock *sk; };",
    "ipv6_route": "union { struct bpf_iter_meta *meta; }; union { struct fib6_info *rt; };",
}

#: the kernel types, reduced (see the module docstring); offsets and sizes of the 6.18 host
_TYPES_C: Final = r"""
/* include/linux/types.h, include/linux/posix_types.h */
typedef unsigned int uid_t;
typedef long long loff_t;
typedef struct { long counter; } atomic_long_t;
/* include/linux/seq_file.h (reduced: 120 bytes) */
struct seq_operations;
struct seq_file {
    char *buf;
    size_t size;
    size_t from;
    size_t count;
    size_t pad_until;
    loff_t index;
    loff_t read_pos;
    char __lock[32];
    const struct seq_operations *op;
    int poll_event;
    struct file *file;
    void *private;
};
/* include/linux/bpf.h */
struct bpf_iter_meta {
    union { struct seq_file *seq; };
    u64 session_id;
    u64 seq_num;
};
/* include/linux/bpf.h (reduced: 296 bytes) */
struct bpf_map_ops;
struct bpf_map {
    char __sha[40];
    const struct bpf_map_ops *ops;
    struct bpf_map *inner_map_meta;
    void *security;
    enum bpf_map_type map_type;
    u32 key_size;
    u32 value_size;
    u32 max_entries;
    u64 map_extra;
    u32 map_flags;
    u32 id;
    char __pad0[40];
    char name[16];
    char __pad1[32];
    atomic64_t refcnt;
    atomic64_t usercnt;
    char __pad2[96];
};
/* include/linux/bpf.h (reduced: 88 bytes) */
struct bpf_link_ops;
struct bpf_prog;
struct bpf_link {
    atomic64_t refcnt;
    u32 id;
    char __pad0[4];
    int type;
    const struct bpf_link_ops *ops;
    struct bpf_prog *prog;
    u32 flags;
    int attach_type;
    char __pad1[40];
};
/* include/linux/path.h, include/linux/fs.h (reduced: super_block 1472 bytes, inode 616) */
typedef unsigned int dev_t;
struct vfsmount;
struct dentry;
struct path { struct vfsmount *mnt; struct dentry *dentry; };
struct super_block { char __pad0[16]; dev_t s_dev; char __pad1[1452]; };
struct inode { char __pad0[40]; struct super_block *i_sb; char __pad1[16]; unsigned long i_ino; char __pad2[544]; };
/* include/linux/net.h, include/net/sock.h (reduced: socket 128 bytes, socket_alloc 768) */
struct proto_ops;
struct socket {
    int state;
    short type;
    unsigned long flags;
    struct file *file;
    struct sock *sk;
    const struct proto_ops *ops;
    char __pad0[88];
};
struct socket_alloc { struct socket socket; struct inode vfs_inode; long: 64; long: 64; long: 64; };
/* include/linux/fs.h (reduced: 184 bytes) */
struct file_operations;
struct file {
    char __lock[4];
    unsigned int f_mode;
    const struct file_operations *f_op;
    void *f_mapping;
    void *private_data;
    struct inode *f_inode;
    unsigned int f_flags;
    unsigned int f_iocb_flags;
    void *f_cred;
    void *f_owner;
    union { const struct path f_path; struct path __f_path; };
    char __pad0[32];
    loff_t f_pos;
    char __pad1[64];
};
/* include/linux/mm_types.h (reduced: 192 bytes) */
struct mm_struct;
struct vm_area_struct {
    union { struct { unsigned long vm_start; unsigned long vm_end; }; };
    struct mm_struct *vm_mm;
    unsigned long vm_page_prot;
    union { const unsigned long vm_flags; unsigned long __vm_flags; };
    char __pad0[40];
    unsigned long vm_pgoff;
    struct file *vm_file;
    void *vm_private_data;
    char __pad1[88];
};
/* kernel/kallsyms.c (624 bytes: whole) */
struct kallsym_iter {
    loff_t pos;
    loff_t pos_mod_end;
    loff_t pos_ftrace_mod_end;
    loff_t pos_bpf_end;
    unsigned long value;
    unsigned int nameoff;
    char type;
    char name[512];
    char module_name[56];
    int exported;
    int show_value;
};
/* include/uapi/linux/un.h, include/net/af_unix.h (unix_sock reduced: 1152 bytes) */
typedef unsigned short __kernel_sa_family_t;
struct sockaddr_un { __kernel_sa_family_t sun_family; char sun_path[108]; };
struct unix_address { refcount_t refcnt; int len; struct sockaddr_un name[0]; };
struct unix_sock {
    struct sock sk;
    struct unix_address *addr;
    char __pad0[80];
    struct sock *peer;
    char __pad1[272];
};
/* include/linux/udp.h (reduced: 1344 bytes) */
struct udp_sock {
    struct inet_sock inet;
    unsigned long udp_flags;
    int pending;
    u8 encap_type;
    char __pad0[147];
    int forward_deficit;
    int forward_threshold;
    char __pad1[160];
};
/* net/netlink/af_netlink.h (reduced: 1096 bytes) */
struct netlink_sock {
    struct sock sk;
    unsigned long flags;
    u32 portid;
    u32 dst_portid;
    u32 dst_group;
    u32 subscriptions;
    u32 ngroups;
    unsigned long *groups;
    unsigned long state;
    size_t max_recvmsg_len;
    char __pad0[24];
    bool bound;
    bool cb_running;
    int dump_done_errno;
    char __pad1[224];
};
/* include/net/ip6_fib.h, include/net/nexthop.h, include/net/ip_fib.h (reduced: rt6key 20 bytes,
   fib_nh_common 72, fib6_nh 96, nh_info 144, nexthop 136, fib6_info 200; the 6.18 host's offsets) */
struct rt6key { struct in6_addr addr; int plen; };
struct fib_nh_common {
    struct net_device *nhc_dev;
    int nhc_oif;
    unsigned char nhc_scope;
    u8 nhc_family;
    u8 nhc_gw_family;
    unsigned char nhc_flags;
    char __pad0[8];
    union { __be32 ipv4; struct in6_addr ipv6; } nhc_gw;
    int nhc_weight;
    atomic_t nhc_upper_bound;
    char __pad1[24];
};
struct fib6_nh { struct fib_nh_common nh_common; unsigned long last_probe; char __pad0[16]; };
struct nexthop;
struct nh_group;
struct nh_info {
    char __pad0[16];
    struct nexthop *nh_parent;
    u8 family;
    bool reject_nh;
    bool fdb_nh;
    union { struct fib_nh_common fib_nhc; char __fib_nh[112]; struct fib6_nh fib6_nh; };
};
struct nexthop {
    char __pad0[96];
    u32 id;
    u8 protocol;
    u8 nh_flags;
    bool is_group;
    bool dead;
    char __pad1[24];
    union { struct nh_info *nh_info; struct nh_group *nh_grp; };
};
struct fib6_info {
    char __pad0[40];
    unsigned int fib6_nsiblings;
    refcount_t fib6_ref;
    unsigned long expires;
    char __pad1[24];
    struct rt6key fib6_dst;
    u32 fib6_flags;
    struct rt6key fib6_src;
    struct rt6key fib6_prefsrc;
    u32 fib6_metric;
    u8 fib6_protocol;
    u8 fib6_type;
    u8 offload;
    u8 trap;
    u8 offload_failed;
    char __pad2[39];
    struct nexthop *nh;
    struct fib6_nh fib6_nh[0];
};
"""


_DEF = re.compile(r"^(?:struct (\w+) \{|typedef [^;{]*?\b(\w+);)", re.M)


def _without_defined(c: str, prior: str) -> str:
    """``c`` without the top-level struct definitions and typedefs ``prior`` already has
    (another part of the emulated vmlinux may define a kernel type first, with the same
    6.18 layout: the BTF must hold one of each)."""
    defined = {m.group(1) or m.group(2) for m in _DEF.finditer(prior)}
    out: list[str] = []
    pos = 0
    for m in _DEF.finditer(c):
        name = m.group(1) or m.group(2)
        if m.start() < pos or name not in defined:
            continue
        end = m.end()
        if m.group(1):  # a struct: to its closing "};" (members nest braces)
            depth, i = 0, m.end() - 1
            while True:
                depth += {"{": 1, "}": -1}.get(c[i], 0)
                if depth == 0:
                    break
                i += 1
            end = c.index(";", i) + 1
        out.append(c[pos:m.start()])
        pos = end
    out.append(c[pos:])
    return "".join(out)


def iter_c(prior: str = "") -> str:
    """The C the emulated vmlinux BTF gets for the iterators: the kernel types above (less
    those ``prior``, the C before it, already defines), then per target its context struct
    and its ``bpf_iter_<target>`` FUNC (``int`` return, as ``DEFINE_BPF_ITER_FUNC``
    declares it)."""
    out = [_without_defined(_TYPES_C, prior),
           "/* DEFINE_BPF_ITER_FUNC (include/linux/bpf.h): the iterator targets */"]
    for name, t in ITER_TARGETS.items():
        out.append(f"struct bpf_iter__{name} {{ {_CTX_MEMBERS[name]} }};")
        out.append(f"int {ITER_FUNC_PREFIX}{name}({t.params});")
    return "\n".join(out) + "\n"
