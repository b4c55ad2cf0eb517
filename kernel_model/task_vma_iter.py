"""The task VMA iterator kfuncs: kernel/bpf/task_iter.c (Linux 6.12/6.18), an open-coded iterator.

``bpf_iter_task_vma_new`` (KF_ITER_NEW | KF_RCU), ``_next`` (KF_ITER_NEXT | KF_RET_NULL,
a ``struct vm_area_struct *``), ``_destroy`` (KF_ITER_DESTROY), in kernel/bpf/helpers.c's
``common_btf_ids`` (every program type); prototypes from the 6.18 BTF. ``struct
bpf_iter_task_vma`` is the kernel's opaque 8 bytes. ``struct vm_area_struct`` is the
reduced one of :mod:`kernel_model.vmlinux_iter` (the ``task_vma`` iterator target's: ``vm_start``,
``vm_end``, ``vm_mm``, ``vm_flags``, ``vm_file``... at the host's offsets; the host's is larger,
kernel_model.vmlinux.REDUCED_STRUCTS). The verifier runs them through its
generic iterator rules; the emulated kernel has no address spaces, so a run is not modelled.
"""

from __future__ import annotations

from .bpf_facts import kfuncs as facts

__all__ = ["TASK_VMA_KFUNCS", "task_vma_c"]

TASK_VMA_KFUNCS: tuple[str, ...] = ("bpf_iter_task_vma_new", "bpf_iter_task_vma_next", "bpf_iter_task_vma_destroy")

_TYPES_C = r"""
/* kernel/bpf/task_iter.c */
struct bpf_iter_task_vma { unsigned long long __opaque[1]; };
/* include/linux/mm_types.h: defined (reduced, at the host's offsets) by the iterator
   targets' types, kernel_model.vmlinux_iter, which enter the BTF after these */
struct vm_area_struct;
"""


def task_vma_c() -> str:
    """The types and the three prototypes (6.18 declarations)."""
    out = [_TYPES_C]
    for name in TASK_VMA_KFUNCS:
        out.append(facts.prototype_c(name))
    return "\n".join(out) + "\n"
