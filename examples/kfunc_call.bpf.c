// SPDX-License-Identifier: GPL-2.0
/* A struct_ops program that calls a module kfunc and bpf-to-bpf subprograms,
 * and uses a BTF-defined map and read-only global data:
 *  - bpf_kfunc_common_test (declared by vmlinux.h) is an extern in .ksyms: libbpf finds it in the
 *    bpf_testmod module BTF, writes its BTF id into the call and the module's
 *    BTF fd into fd_array (the call's off is the index);
 *  - scale() (static) and add_bias() (global) live in .text and are appended
 *    to the calling program;
 *  - counters is a BTF-defined array map (.maps), factor a .rodata constant.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* the kfuncs are declared by vmlinux.h (extern ... __weak __ksym) */

const volatile int factor = 3;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __noinline int scale(int v)
{
	return v * factor;
}

__noinline int add_bias(int v)
{
	return v + 100;
}

SEC("struct_ops/test_1")
int BPF_PROG(kfunc_test_1)
{
	__u32 key = 0;
	__u64 *cnt = bpf_map_lookup_elem(&counters, &key);

	if (cnt)
		*cnt += 1;
	return add_bias(scale(bpf_kfunc_common_test(42)));
}

SEC(".struct_ops.link")
struct bpf_testmod_ops kfunc_ops = {
	.test_1 = (void *)kfunc_test_1,
};
