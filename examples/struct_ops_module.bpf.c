// SPDX-License-Identifier: GPL-2.0
/* A struct_ops type registered by a module (bpf_testmod), with local flavors.
 * Scenarios after the kernel selftest struct_ops_module (test_struct_ops_module.c):
 *  - testmod_1: declared callbacks and a data member, overridden from user space
 *    through the shadow (data = 13, test_2 = test_3 in the selftest);
 *  - testmod_2: struct bpf_testmod_ops___v2, a flavor: matched to the kernel's
 *    bpf_testmod_ops by name with "___v2" stripped;
 *  - testmod_zeroed: members the kernel type lacks; loads only while they are zero;
 *  - testmod_incompatible: a test_2 prototype that differs from the kernel's
 *    (libbpf does not compare prototypes; structops check-signatures does).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

int test_1_result = 0;
int test_2_result = 0;

SEC("struct_ops/test_1")
int BPF_PROG(test_1)
{
	test_1_result = 0x1234;
	return 0;
}

SEC("struct_ops/test_2")
void BPF_PROG(test_2, int a, int b)
{
	test_2_result = a + b;
}

/* '?': not loaded unless some created map uses it */
SEC("?struct_ops/test_2")
void BPF_PROG(test_3, int a, int b)
{
	test_2_result = a + b + 3;
}

SEC(".struct_ops.link")
struct bpf_testmod_ops testmod_1 = {
	.test_1 = (void *)test_1,
	.test_2 = (void *)test_2,
	.data = 0x1,
};

SEC("struct_ops/test_2")
void BPF_PROG(test_2_v2, int a, int b)
{
	test_2_result = a * b;
}

struct bpf_testmod_ops___v2 {
	int (*test_1)(void);
	void (*test_2)(int a, int b);
	int (*test_maybe_null)(int dummy, struct task_struct *task);
};

SEC(".struct_ops.link")
struct bpf_testmod_ops___v2 testmod_2 = {
	.test_1 = (void *)test_1,
	.test_2 = (void *)test_2_v2,
};

struct bpf_testmod_ops___zeroed {
	int (*test_1)(void);
	void (*test_2)(int a, int b);
	int (*test_maybe_null)(int dummy, struct task_struct *task);
	void (*zeroed_op)(int a, int b);
	int zeroed;
};

SEC("struct_ops/test_3")
int BPF_PROG(zeroed_op)
{
	return 1;
}

SEC(".struct_ops.link")
struct bpf_testmod_ops___zeroed testmod_zeroed = {
	.test_1 = (void *)test_1,
	.test_2 = (void *)test_2_v2,
	.zeroed_op = (void *)zeroed_op,
};

struct bpf_testmod_ops___incompatible {
	int (*test_1)(void);
	void (*test_2)(int *a);
	int data;
};

SEC(".struct_ops.link")
struct bpf_testmod_ops___incompatible testmod_incompatible = {
	.test_1 = (void *)test_1,
	.test_2 = (void *)test_2,
	.data = 3,
};
