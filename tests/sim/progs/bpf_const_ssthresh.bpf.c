// SPDX-License-Identifier: GPL-2.0
/* No socket access at all: cong_control does nothing, so cwnd stays at the
 * kernel's initial window (TCP_INIT_CWND) apart from retransmission timeouts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops")
__u32 BPF_PROG(const_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops")
void BPF_PROG(const_cong_control, struct sock *sk, __u32 ack, int flag, const struct rate_sample *rs)
{
}

SEC("struct_ops")
__u32 BPF_PROG(const_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops constcc = {
	.ssthresh = (void *)const_ssthresh,
	.cong_control = (void *)const_cong_control,
	.undo_cwnd = (void *)const_undo_cwnd,
	.name = "bpf_const",
};
