// SPDX-License-Identifier: GPL-2.0
/* An unguarded CO-RE access to a field the kernel does not have. libbpf cannot
 * relocate it and "poisons" the instruction (call 0xbad2310); the verifier
 * rejects the reachable poisoned call ("invalid func unknown#195896080") and
 * libbpf rewrites that part of the log into
 *   N: <invalid CO-RE relocation>
 *   failed to resolve CO-RE relocation <byte_off> [..] struct bpf_dummy_ops_state___new.no_such_field (0:1 @ offset 4)
 * Written for bpf_dummy_ops so that the real kernel can load it too (oracle test).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct bpf_dummy_ops_state___new {
	int val;
	int no_such_field;
} __attribute__((preserve_access_index));

SEC("struct_ops/test_1")
int BPF_PROG(core_unguarded, struct bpf_dummy_ops_state *state)
{
	struct bpf_dummy_ops_state___new *s = (void *)state;

	if (!s)
		return 0;
	return s->no_such_field;
}

SEC(".struct_ops")
struct bpf_dummy_ops core_fail_ops = {
	.test_1 = (void *)core_unguarded,
};
