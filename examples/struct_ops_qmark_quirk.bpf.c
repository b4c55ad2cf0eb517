// SPDX-License-Identifier: GPL-2.0
/* libbpf's '?' quirk (libbpf 1.4..1.8, init_struct_ops_maps): the section-name
 * pointer moves past the '?' while the *first* variable of the section is
 * handled, so in a "?.struct_ops.link" section holding two variables only the
 * first starts with autocreate=false; the second keeps autocreate=true.
 * structops-emu reproduces it (and says so in docs/loader.md).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/test_1")
int BPF_PROG(quirk_test_1)
{
	return 7;
}

struct bpf_testmod_ops___q {
	int (*test_1)(void);
};

SEC("?.struct_ops.link")
struct bpf_testmod_ops___q first_optional = {
	.test_1 = (void *)quirk_test_1,
};

SEC("?.struct_ops.link")
struct bpf_testmod_ops___q second_optional = {
	.test_1 = (void *)quirk_test_1,
};
