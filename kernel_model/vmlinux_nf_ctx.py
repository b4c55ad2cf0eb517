"""The netfilter program context's kernel structs, as the Linux 6.18 BTF lays them out.

``struct bpf_nf_ctx`` (include/net/netfilter/nf_bpf_link.h: the context of
``BPF_PROG_TYPE_NETFILTER``) and ``struct nf_hook_state`` (include/linux/netfilter.h) it points
to: ``hook`` and ``pf`` (u8) at 0 and 1, then the ``in``/``out`` devices, the socket, the netns
and ``okfn`` at 8 .. 40 (48 bytes; ``okfn`` is a function pointer, written ``void *`` as
:mod:`kernel_model.vmlinux_net` writes them). ``struct sk_buff`` and ``struct net_device`` are
forward declarations here: the emulated vmlinux does not lay them out, so a program reading
through ``ctx->skb`` is refused as not modelled (verifier/skb_ctx.py). kernel_model/vmlinux.py
appends :data:`NF_CTX_C` last, so no other type id moves.
"""

#: sizeof() of each struct (x86-64, Linux 6.18), checked by the tests
SIZES = {"nf_hook_state": 48, "bpf_nf_ctx": 16}

NF_CTX_C = r"""
struct net_device;
struct sk_buff;

/* include/linux/netfilter.h */
struct nf_hook_state {
	__u8 hook;
	__u8 pf;
	struct net_device *in;
	struct net_device *out;
	struct sock *sk;
	struct net *net;
	void *okfn;
};

/* include/net/netfilter/nf_bpf_link.h */
struct bpf_nf_ctx {
	const struct nf_hook_state *state;
	struct sk_buff *skb;
};
"""
