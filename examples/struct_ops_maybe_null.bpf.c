// SPDX-License-Identifier: GPL-2.0
/* A nullable struct_ops argument (after the kernel selftest struct_ops_maybe_null):
 * bpf_testmod_ops.test_maybe_null's stub names its task argument task__nullable,
 * so the verifier types it trusted_ptr_or_null_task_struct and the check is
 * required. task->tgid is a CO-RE field access (vmlinux.h's preserve_access_index).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

int tgid = 0;

SEC("struct_ops/test_maybe_null")
int BPF_PROG(test_maybe_null, int dummy, struct task_struct *task)
{
	if (task)
		tgid = task->tgid;
	return 0;
}

SEC(".struct_ops.link")
struct bpf_testmod_ops testmod_1 = {
	.test_maybe_null = (void *)test_maybe_null,
};
