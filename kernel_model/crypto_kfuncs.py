"""The BPF crypto kfuncs: kernel/bpf/crypto.c (Linux 6.12/6.18).

``crypt_init_kfunc_btf_ids`` (``bpf_crypto_ctx_create``: KF_ACQUIRE | KF_RET_NULL |
KF_SLEEPABLE; ``bpf_crypto_ctx_release``: KF_RELEASE; ``bpf_crypto_ctx_acquire``: KF_ACQUIRE |
KF_RCU | KF_RET_NULL), registered for ``BPF_PROG_TYPE_SYSCALL``; ``crypt_kfunc_btf_ids``
(``bpf_crypto_encrypt``, ``bpf_crypto_decrypt``: KF_RCU), registered for SCHED_CLS, SCHED_ACT
and XDP. Prototypes from the 6.18 BTF; ``struct bpf_crypto_params`` (include/linux/bpf_crypto.h
... as the 6.18 BTF lays it out: 408 bytes) and ``struct bpf_crypto_ctx`` (kernel/bpf/crypto.c,
48 bytes) as the 6.18 host's BTF has them.

The verifier checks the context kfuncs with its generic rules (acquire, release, RCU,
sleepable); encrypt/decrypt take dynptrs of a kind the model's dynptr arguments do not cover,
so their calls are refused as not modelled. Nothing of the crypto API runs in the emulated
kernel: a call at run time is not modelled.
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts

__all__ = ["CRYPTO_KFUNCS", "crypto_c", "SIZES"]

CRYPTO_KFUNCS: tuple[str, ...] = ("bpf_crypto_ctx_create", "bpf_crypto_ctx_release", "bpf_crypto_ctx_acquire",
                                  "bpf_crypto_encrypt", "bpf_crypto_decrypt")
#: sizeof() in the 6.18 host's BTF (checked against the host by the tests)
SIZES = {"bpf_crypto_params": 408, "bpf_crypto_ctx": 48}

_TYPES_C = r"""
/* kernel/bpf/crypto.c (6.18 layouts) */
struct bpf_crypto_type;
struct bpf_crypto_params {
    char type[14];
    u8 reserved[2];
    char algo[128];
    u8 key[256];
    u32 key_len;
    u32 authsize;
};
struct bpf_crypto_ctx {
    const struct bpf_crypto_type *type;
    void *tfm;
    u32 siv_len;
    struct callback_head rcu;
    refcount_t usage;
};
"""


def crypto_c() -> str:
    """The types and the five prototypes (6.18 declarations)."""
    out = [_TYPES_C, "/* kernel/bpf/crypto.c crypt_init_kfunc_btf_ids, crypt_kfunc_btf_ids */"]
    for name in CRYPTO_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"
