// SPDX-License-Identifier: GPL-2.0
/* Global and static bpf-to-bpf functions, with the BTF func_info/line_info clang
 * emits (.BTF.ext), the way the kernel's selftests test_global_func*.c use them:
 *  - a global function is verified on its own, from its BTF prototype: its
 *    scalar arguments are unknown, a `struct __sk_buff *` is the context, any
 *    other pointer is memory of the pointee's size that may be NULL;
 *  - the caller only checks its arguments against that prototype and gets an
 *    unknown scalar back;
 *  - LD_ABS is allowed in a global function that returns int;
 *  - a static function is walked inline, as without BTF.
 * The socket filters load into the host kernel too; `?socket` ones are rejected. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* the socket filter's context, struct __sk_buff, is the uapi one vmlinux.h
 * declares (the emulated kernel's BTF has it, as a real vmlinux's does;
 * only its first field is used here)
 */

struct pair {
	int a;
	int b;
};

/* LD_ABS (llvm.bpf.load.byte): R6 must be the context */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

__noinline int first_byte(struct __sk_buff *skb)
{
	return load_byte(skb, 0);
}

__noinline int sum_pair(struct pair *p)
{
	if (!p)
		return 0;
	return p->a + p->b;
}

__noinline int sum_pair_unchecked(struct pair *p)
{
	return p->a + p->b;
}

static __noinline int twice(int v)
{
	return v * 2;
}

__noinline int clamp_len(int len)
{
	if (len > 1500)
		return 1500;
	return twice(len) - len;
}

SEC("socket")
int global_calls(struct __sk_buff *skb)
{
	struct pair p = { .a = skb->len, .b = 1 };

	return first_byte(skb) + sum_pair(&p) + clamp_len(skb->len);
}

SEC("?socket")
int global_null_deref(struct __sk_buff *skb)
{
	struct pair p = { .a = 1, .b = 2 };

	return sum_pair_unchecked(&p);
}

SEC("?socket")
int global_bad_arg(struct __sk_buff *skb)
{
	return sum_pair((struct pair *)(long)skb->len);
}

SEC("struct_ops/test_1")
int BPF_PROG(global_test_1, struct bpf_dummy_ops_state *state)
{
	if (!state)
		return clamp_len(7);
	return clamp_len(state->val);
}

SEC(".struct_ops")
struct bpf_dummy_ops global_ops = {
	.test_1 = (void *)global_test_1,
};
