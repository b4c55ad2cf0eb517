// SPDX-License-Identifier: GPL-2.0
/* Reno written in BPF: every member is one of the kernel's bpf_tcp_ca kfuncs
 * (net/ipv4/bpf_tcp_ca.c). Run it with `structops sim tcp examples/tcp_reno_kfuncs.bpf.o`.
 * Never attach it on a real machine: it would change TCP. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* the kfuncs are declared by vmlinux.h (extern ... __weak __ksym) */

SEC("struct_ops")
__u32 BPF_PROG(kreno_ssthresh, struct sock *sk)
{
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops")
void BPF_PROG(kreno_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC("struct_ops")
__u32 BPF_PROG(kreno_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops.link")
struct tcp_congestion_ops kreno = {
	.ssthresh = (void *)kreno_ssthresh,
	.cong_avoid = (void *)kreno_cong_avoid,
	.undo_cwnd = (void *)kreno_undo_cwnd,
	.name = "bpf_kreno",
};
