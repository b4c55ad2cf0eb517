// SPDX-License-Identifier: GPL-2.0
/* Pins cwnd: writes tcp_sock.snd_cwnd in init and cong_control, and ssthresh keeps it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define PINNED 42

SEC("struct_ops")
void BPF_PROG(pin_init, struct sock *sk)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	tp->snd_cwnd = PINNED;
}

SEC("struct_ops")
__u32 BPF_PROG(pin_ssthresh, struct sock *sk)
{
	return PINNED;
}

SEC("struct_ops")
void BPF_PROG(pin_cong_control, struct sock *sk, __u32 ack, int flag, const struct rate_sample *rs)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	tp->snd_cwnd = PINNED;
}

SEC("struct_ops")
__u32 BPF_PROG(pin_undo_cwnd, struct sock *sk)
{
	return PINNED;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops pin = {
	.init = (void *)pin_init,
	.ssthresh = (void *)pin_ssthresh,
	.cong_control = (void *)pin_cong_control,
	.undo_cwnd = (void *)pin_undo_cwnd,
	.name = "bpf_pin",
};
