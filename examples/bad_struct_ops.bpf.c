// SPDX-License-Identifier: GPL-2.0
/* One program bound to members of two different kernel types (after the
 * kernel selftest bad_struct_ops): libbpf refuses the reuse at prepare time,
 *   struct_ops init_kern testmod_2 func ptr test_1: invalid reuse of prog test_1 ...
 *   attach_btf_id <bpf_testmod_ops> != kern_type_id <bpf_testmod_ops2>
 * (a program's attach_btf_id/expected_attach_type name one kernel member).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/test_1")
int BPF_PROG(test_1) { return 0; }

SEC("struct_ops/test_2")
int BPF_PROG(test_2) { return 0; }

SEC(".struct_ops.link")
struct bpf_testmod_ops testmod_1 = {
	.test_1 = (void *)test_1,
	.test_2 = (void *)test_2,
};

SEC(".struct_ops.link")
struct bpf_testmod_ops2 testmod_2 = {
	.test_1 = (void *)test_1,
};
