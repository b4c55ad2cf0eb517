// SPDX-License-Identifier: GPL-2.0
/* A callback the kernel supports, nulled out from user space before load
 * (after the kernel selftest struct_ops_nulled_out_cb): once the shadow's
 * test_1 is NULL, test_1_turn_off loses autoload and is never loaded -- so its
 * unsafe body (an out-of-range array index the verifier would refuse) never
 * reaches the verifier.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

int rand;
int arr[1];

SEC("struct_ops/test_1")
int BPF_PROG(test_1_turn_off)
{
	return arr[rand];
}

SEC(".struct_ops.link")
struct bpf_testmod_ops ops = {
	.test_1 = (void *)test_1_turn_off,
};
