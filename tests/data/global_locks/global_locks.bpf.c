// SPDX-License-Identifier: GPL-2.0
/* bpf_spin_lock in global data (.data.X, .bss, .data), in structs and nested structs, and with
 * a graph root (rbtree) in a private section, as the kernel selftests' linked_list/rbtree
 * programs place them. Built against the running kernel's vmlinux.h (README.md). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))
struct val { int cnt; struct bpf_spin_lock l; };
private(A) struct bpf_spin_lock lockA;
private(B) struct val vB;
struct outer { int x; struct val in; };
private(C) struct outer vC;
struct val gbss;
struct val gdata = {1};
SEC("tc") int g_lockA(struct __sk_buff *s) { bpf_spin_lock(&lockA); bpf_spin_unlock(&lockA); return 0; }
SEC("tc") int g_valB(struct __sk_buff *s) { bpf_spin_lock(&vB.l); vB.cnt++; bpf_spin_unlock(&vB.l); return 0; }
SEC("tc") int g_outerC(struct __sk_buff *s) { bpf_spin_lock(&vC.in.l); vC.x++; bpf_spin_unlock(&vC.in.l); return 0; }
SEC("tc") int g_bss(struct __sk_buff *s) { bpf_spin_lock(&gbss.l); gbss.cnt++; bpf_spin_unlock(&gbss.l); return 0; }
SEC("tc") int g_data(struct __sk_buff *s) { bpf_spin_lock(&gdata.l); gdata.cnt++; bpf_spin_unlock(&gdata.l); return 0; }
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))
extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
#define bpf_obj_new(type) ((type *)bpf_obj_new_impl(bpf_core_type_id_local(type), NULL))
#define bpf_obj_drop(kptr) bpf_obj_drop_impl(kptr, NULL)
#include <bpf/bpf_core_read.h>
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node, bool (less)(struct bpf_rb_node *a, const struct bpf_rb_node *b), void *meta, __u64 off) __ksym;
extern struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root) __ksym;

struct node_data { long key; long data; struct bpf_rb_node node; };
struct root_and_lock { struct bpf_spin_lock lock; struct bpf_rb_root root __contains(node_data, node); };
private(A) struct root_and_lock ral;
struct twolocks { struct bpf_spin_lock a; int x; };
private(B) struct twolocks tl1;
private(B) struct twolocks tl2;
struct with_refc { struct bpf_refcount r; struct bpf_rb_node node; long key; struct bpf_spin_lock l; };

static bool less(struct bpf_rb_node *a, const struct bpf_rb_node *b) { return 1; }
SEC("tc") int ral_add(struct __sk_buff *s) { struct node_data *n = bpf_obj_new(typeof(*n)); if (!n) return 0; bpf_spin_lock(&ral.lock); bpf_rbtree_add_impl(&ral.root, &n->node, less, NULL, 0); bpf_spin_unlock(&ral.lock); return 0; }
SEC("tc") int ral_first(struct __sk_buff *s) { struct bpf_rb_node *n; bpf_spin_lock(&ral.lock); n = bpf_rbtree_first(&ral.root); bpf_spin_unlock(&ral.lock); return 0; }
SEC("tc") int two_lock_vars(struct __sk_buff *s) { bpf_spin_lock(&tl1.a); bpf_spin_unlock(&tl1.a); return 0; }
SEC("tc") int refc_lock(struct __sk_buff *s) { struct with_refc *p = bpf_obj_new(typeof(*p)); if (!p) return 0; bpf_spin_lock(&p->l); bpf_spin_unlock(&p->l); bpf_obj_drop(p); return 0; }
char _license[] SEC("license") = "GPL";
