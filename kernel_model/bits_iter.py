"""The bits iterator kfuncs: kernel/bpf/helpers.c (Linux 6.11+, unchanged through 6.18), an open-coded iterator.

``bpf_iter_bits_new(it, unsafe_ptr__ign, nr_words)`` (KF_ITER_NEW), ``_next`` (KF_ITER_NEXT |
KF_RET_NULL, an ``int *`` to the bit found), ``_destroy`` (KF_ITER_DESTROY), in
``common_btf_ids`` (every program type); prototypes from the 6.18 BTF. ``struct bpf_iter_bits``
is the kernel's opaque 16 bytes (two u64, 8-byte aligned), over ``struct bpf_iter_bits_kern``:
``{union {u64 *bits; u64 bits_copy;}; int nr_bits; int bit;}``.

``new`` sets ``nr_bits = 0``, ``bits_copy = 0``, ``bit = -1``, then refuses a NULL pointer or
zero words (``-EINVAL``) and more than :data:`BITS_ITER_NR_WORDS_MAX` words (``-E2BIG``); one
word is copied into ``bits_copy`` (``bpf_probe_read_kernel_common``: ``-EFAULT`` where the read
fails); more words go to a ``bpf_mem_alloc`` block (``-E2BIG`` past
``bpf_mem_alloc_check_size``: :data:`BPF_MEM_ALLOC_SIZE_MAX` less the 8-byte llist node,
never reached within 511 words) that gets the copy (the read's own error is returned:
``-ERANGE`` for a user address, ``-EFAULT`` for a fault; the block freed). Then
``nr_bits = 64 * nr_words``. ``next`` returns NULL once ``nr_bits`` is 0 or
``bit >= nr_bits``, else finds the next set bit after ``bit`` (``find_next_bit``), stores it in
``bit`` and returns ``&bit`` (NULL when none is left, ``bit`` then ``nr_bits``). ``destroy``
frees the block when ``nr_bits > 64``.
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts

__all__ = ["SINCE", "BITS_KFUNCS", "BITS_ITER_NR_WORDS_MAX", "BPF_MEM_ALLOC_SIZE_MAX", "LLIST_NODE_SZ", "bits_iter_c"]

BITS_KFUNCS: tuple[str, ...] = ("bpf_iter_bits_new", "bpf_iter_bits_next", "bpf_iter_bits_destroy")
#: kernel/bpf/helpers.c
BITS_ITER_NR_WORDS_MAX = 511
#: include/linux/bpf_mem_alloc.h (4096) and kernel/bpf/memalloc.c (sizeof(struct llist_node))
BPF_MEM_ALLOC_SIZE_MAX = 4096
LLIST_NODE_SZ = 8

_TYPES_C = r"""
/* kernel/bpf/helpers.c */
struct bpf_iter_bits { __u64 __opaque[2]; };
"""


#: the kernel that added them ("bpf: Add bits iterator", Linux 6.11)
SINCE = (6, 11)


def bits_iter_c(text: str) -> str:
    """The iterator type (unless ``text``, the vmlinux C so far, has it: sched_ext's types
    do) and the three prototypes (6.18 declarations)."""
    out = [] if "struct bpf_iter_bits {" in text else [_TYPES_C]
    for name in BITS_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"
