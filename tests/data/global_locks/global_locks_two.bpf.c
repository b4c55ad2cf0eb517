// SPDX-License-Identifier: GPL-2.0
/* A struct with two bpf_spin_locks in global data: BPF_BTF_LOAD refuses the BTF
 * (btf_parse_struct_metas: -E2BIG), libbpf loads without it, and the verifier then finds a map
 * without BTF. Built against the running kernel's vmlinux.h (README.md). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))
struct two { struct bpf_spin_lock a; struct bpf_spin_lock b; int x; };
private(A) struct two t2;
SEC("tc") int two_locks(struct __sk_buff *s) { bpf_spin_lock(&t2.a); bpf_spin_unlock(&t2.a); return 0; }
char _license[] SEC("license") = "GPL";
