// SPDX-License-Identifier: GPL-2.0
/* A minimal TCP congestion control written as struct_ops (net/ipv4/bpf_tcp_ca.c).
 * Its socket reads are CO-RE: the same object relocates to the emulated
 * kernel's struct sock and to the real kernel's (of any release). The name is a data
 * member the kernel copies (tcp_congestion_ops' init_member).
 * Never attach it on a real machine: it would change TCP.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/emu_ssthresh")
__u32 BPF_PROG(emu_ssthresh, struct sock *sk)
{
	__u32 half = sk->sk_mark >> 1;

	return half > 2 ? half : 2;
}

SEC("struct_ops/emu_cong_avoid")
void BPF_PROG(emu_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/emu_undo_cwnd")
__u32 BPF_PROG(emu_undo_cwnd, struct sock *sk)
{
	return sk->sk_rcvbuf;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops emu_ca = {
	.ssthresh = (void *)emu_ssthresh,
	.cong_avoid = (void *)emu_cong_avoid,
	.undo_cwnd = (void *)emu_undo_cwnd,
	.name = "emu_ca",
};
