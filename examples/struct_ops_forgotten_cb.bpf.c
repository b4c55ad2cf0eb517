// SPDX-License-Identifier: GPL-2.0
/* A struct_ops program no map references (after the kernel selftest
 * struct_ops_forgotten_cb): the load fails with
 *   prog 'test_1_forgotten': SEC("struct_ops") program isn't referenced anywhere, did you forget to use it?
 * until user space puts it into the shadow: ops.test_1 = test_1_forgotten.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/test_1")
int BPF_PROG(test_1_forgotten)
{
	return 0;
}

SEC(".struct_ops.link")
struct bpf_testmod_ops ops = {
	/* test_1 is not set here */
};
