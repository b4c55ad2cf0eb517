/* A global FIFO scheduler for sched_ext (Linux 6.13+ kfunc names): every task
 * goes to the global DSQ with the default slice. Our own program; it follows the
 * shape of the kernel's tools/sched_ext/scx_simple.bpf.c in FIFO mode. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

/* the kfuncs are declared by vmlinux.h (extern ... __weak __ksym) */

u64 nr_enqueued;

SEC("struct_ops/global_enqueue")
void BPF_PROG(global_enqueue, struct task_struct *p, u64 enq_flags)
{
	__sync_fetch_and_add(&nr_enqueued, 1);
	scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops global_ops = {
	.enqueue = (void *)global_enqueue,
	.name = "global_fifo",
};
