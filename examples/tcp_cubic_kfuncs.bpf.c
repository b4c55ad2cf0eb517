// SPDX-License-Identifier: GPL-2.0
/* CUBIC written in BPF: every member calls the kernel's cubictcp_* kfunc
 * (net/ipv4/tcp_cubic.c registers them for struct_ops), whose state is the
 * struct bictcp in the socket's icsk_ca_priv. Run it with
 * `structops sim tcp examples/tcp_cubic_kfuncs.bpf.o`.
 * Never attach it on a real machine: it would change TCP. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* the kfuncs are declared by vmlinux.h (extern ... __weak __ksym) */

SEC("struct_ops")
void BPF_PROG(kcubic_init, struct sock *sk)
{
	cubictcp_init(sk);
}

SEC("struct_ops")
__u32 BPF_PROG(kcubic_ssthresh, struct sock *sk)
{
	return cubictcp_recalc_ssthresh(sk);
}

SEC("struct_ops")
void BPF_PROG(kcubic_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	cubictcp_cong_avoid(sk, ack, acked);
}

SEC("struct_ops")
void BPF_PROG(kcubic_state, struct sock *sk, __u8 new_state)
{
	cubictcp_state(sk, new_state);
}

SEC("struct_ops")
void BPF_PROG(kcubic_cwnd_event, struct sock *sk, enum tcp_ca_event ev)
{
	cubictcp_cwnd_event(sk, ev);
}

SEC("struct_ops")
void BPF_PROG(kcubic_acked, struct sock *sk, const struct ack_sample *sample)
{
	cubictcp_acked(sk, sample);
}

SEC("struct_ops")
__u32 BPF_PROG(kcubic_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops.link")
struct tcp_congestion_ops kcubic = {
	.init = (void *)kcubic_init,
	.ssthresh = (void *)kcubic_ssthresh,
	.cong_avoid = (void *)kcubic_cong_avoid,
	.set_state = (void *)kcubic_state,
	.cwnd_event = (void *)kcubic_cwnd_event,
	.pkts_acked = (void *)kcubic_acked,
	.undo_cwnd = (void *)kcubic_undo_cwnd,
	.name = "bpf_kcubic",
};
