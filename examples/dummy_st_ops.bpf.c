// SPDX-License-Identifier: GPL-2.0
/* bpf_dummy_ops, the kernel's struct_ops type for testing (net/bpf/bpf_dummy_struct_ops.c).
 * Its programs run through BPF_PROG_TEST_RUN only: the kernel refuses to register
 * a bpf_dummy_ops map (init_member returns -EOPNOTSUPP). Scenario after the
 * kernel selftest dummy_st_ops; this source is structops-emu's own.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* test_1's stub names its argument cb__nullable: the verifier makes it
 * trusted_ptr_or_null, so the NULL check below is required. */
SEC("struct_ops/test_1")
int BPF_PROG(dummy_test_1, struct bpf_dummy_ops_state *state)
{
	if (!state)
		return 0xf2f3f4f5;
	state->val += 1;
	return state->val;
}

__u64 dummy_args[5];

SEC("struct_ops/test_2")
int BPF_PROG(dummy_test_2, struct bpf_dummy_ops_state *state, int a1, unsigned short a2,
	     char a3, unsigned long a4)
{
	dummy_args[0] = state->val;	/* not nullable: no check needed */
	dummy_args[1] = a1;
	dummy_args[2] = a2;
	dummy_args[3] = a3;
	dummy_args[4] = a4;
	return a1 + a2;
}

/* only test_sleepable accepts a sleepable program (bpf_dummy_ops_check_member) */
SEC("struct_ops.s/test_sleepable")
int BPF_PROG(dummy_test_sleepable, struct bpf_dummy_ops_state *state)
{
	return state->val * 2;
}

SEC(".struct_ops")
struct bpf_dummy_ops dummy_1 = {
	.test_1 = (void *)dummy_test_1,
	.test_2 = (void *)dummy_test_2,
	.test_sleepable = (void *)dummy_test_sleepable,
};
