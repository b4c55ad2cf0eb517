"""``bpf_cast_to_kern_ctx`` and ``bpf_rdonly_cast``: the type-cast kfuncs.

Both are in kernel/bpf/helpers.c's ``common_btf_ids`` (every program type; no KF_*
flags), with these 6.18 prototypes:
``void *bpf_cast_to_kern_ctx(void *obj)`` and ``void *bpf_rdonly_cast(const void
*obj__ign, u32 btf_id__k)``. The verifier special-cases them (verifier.kctx_kfuncs);
``fixup_kfunc_call`` turns both into ``r0 = r1`` (the emulated kernel's bodies return
their first argument: the same value).

:data:`KERN_CTX` is ``bpf_ctx_convert`` (include/linux/bpf_types.h, Linux 6.12/6.18:
``BPF_PROG_TYPE(_id, _name, prog_ctx_type, kern_ctx_type)``): the kernel context type of
each program type, which ``get_kern_ctx_btf_id`` (kernel/bpf/btf.c) gives
``bpf_cast_to_kern_ctx``'s result. A type the emulated vmlinux does not define makes the
call "not modelled".
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts

__all__ = ["KCTX_KFUNCS", "KERN_CTX", "kctx_kfuncs_c"]

KCTX_KFUNCS: tuple[str, ...] = ("bpf_cast_to_kern_ctx", "bpf_rdonly_cast")

#: prog type (enum bpf_prog_type value) -> its kern_ctx_type: ``struct X`` or a C type that is
#: not a struct (``u64``, ``u32``, ``void *``)
KERN_CTX: dict[int, str] = {
    1: "struct sk_buff", 3: "struct sk_buff", 4: "struct sk_buff", 6: "struct xdp_buff", 8: "struct sk_buff",
    9: "struct sock", 18: "struct bpf_sock_addr_kern", 10: "struct sk_buff", 11: "struct sk_buff",
    12: "struct sk_buff", 19: "struct sk_buff", 13: "struct bpf_sock_ops_kern", 14: "struct sk_buff",
    16: "struct sk_msg", 22: "struct bpf_flow_dissector", 2: "struct pt_regs", 5: "u64",
    7: "struct bpf_perf_event_data_kern", 17: "u64", 24: "u64", 26: "void *", 15: "struct bpf_cgroup_dev_ctx",
    23: "struct bpf_sysctl_kern", 25: "struct bpf_sockopt_kern", 20: "u32", 21: "struct sk_reuseport_kern",
    30: "struct bpf_sk_lookup_kern", 27: "void *", 28: "void *", 29: "void *", 31: "void *",
    32: "struct bpf_nf_ctx",
}


def kctx_kfuncs_c() -> str:
    """Their prototypes, from the 6.18 BTF's declarations."""
    out = ["/* kernel/bpf/helpers.c common_btf_ids: the type-cast kfuncs */"]
    for name in KCTX_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"

