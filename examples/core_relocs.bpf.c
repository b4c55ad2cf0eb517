// SPDX-License-Identifier: GPL-2.0
/* CO-RE against a layout this object was *not* compiled for. The local
 * task_struct___old flavor puts tgid at offset 40 and has a field the kernel
 * lacks; libbpf matches it to the kernel's task_struct by the name before
 * "___" and rewrites the offsets. bpf_core_field_exists() turns into a 0/1
 * constant, so the missing field's read is dead code and the verifier drops it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct___old {
	long padding[5];
	int tgid;
	int gone_in_this_kernel;
} __attribute__((preserve_access_index));

int seen_tgid = -1;
int tgid_size = 0;
int has_gone_field = -1;

SEC("struct_ops/test_maybe_null")
int BPF_PROG(core_maybe_null, int dummy, struct task_struct *task)
{
	struct task_struct___old *t = (void *)task;

	if (!t)
		return 0;
	seen_tgid = t->tgid;
	tgid_size = bpf_core_field_size(t->tgid);
	has_gone_field = bpf_core_field_exists(t->gone_in_this_kernel);
	if (bpf_core_field_exists(t->gone_in_this_kernel))
		seen_tgid += t->gone_in_this_kernel;
	return 0;
}

SEC(".struct_ops.link")
struct bpf_testmod_ops core_ops = {
	.test_maybe_null = (void *)core_maybe_null,
};
