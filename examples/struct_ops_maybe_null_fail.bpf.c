// SPDX-License-Identifier: GPL-2.0
/* The same access without the NULL check must not load (after the kernel
 * selftest struct_ops_maybe_null_fail): "R1 invalid mem access 'trusted_ptr_or_null_'".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

int tgid = 0;

SEC("struct_ops/test_maybe_null")
int BPF_PROG(test_maybe_null_struct_ptr, int dummy, struct task_struct *task)
{
	tgid = task->tgid;
	return 0;
}

SEC(".struct_ops.link")
struct bpf_testmod_ops testmod_struct_ptr = {
	.test_maybe_null = (void *)test_maybe_null_struct_ptr,
};
