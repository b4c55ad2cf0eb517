// SPDX-License-Identifier: GPL-2.0
/* Programs the verifier must reject, after the kernel selftest dummy_st_ops_fail:
 *  - test_1 dereferences its nullable argument without a NULL check:
 *    "R1 invalid mem access 'trusted_ptr_or_null_'" (EACCES);
 *  - test_2 calls a helper, but bpf_dummy_ops allows none:
 *    "program of this type cannot use helper bpf_ktime_get_ns#5" (EINVAL).
 * Both are loaded one by one in the oracle test to compare verdicts.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/test_1")
int BPF_PROG(unchecked_deref, struct bpf_dummy_ops_state *state)
{
	return state->val;
}

SEC("struct_ops/test_2")
int BPF_PROG(forbidden_helper, struct bpf_dummy_ops_state *state, int a1, unsigned short a2,
	     char a3, unsigned long a4)
{
	return bpf_ktime_get_ns() & 0xff;
}

SEC(".struct_ops")
struct bpf_dummy_ops dummy_fail = {
	.test_1 = (void *)unchecked_deref,
	.test_2 = (void *)forbidden_helper,
};
