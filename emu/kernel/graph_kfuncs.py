"""Run-time side of the allocated-object and graph kfuncs (kernel/bpf/helpers.c, Linux 6.18).

Not modelled at run time yet: a call stops the run as not modelled (the verifier models them).
"""

from __future__ import annotations

from typing import Any, Callable

from kernel_model.errors import NotModelled

__all__ = ["graph_impls"]

_NAMES = ("bpf_obj_new_impl", "bpf_percpu_obj_new_impl", "bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl",
          "bpf_refcount_acquire_impl", "bpf_list_push_front_impl", "bpf_list_push_back_impl",
          "bpf_list_pop_front", "bpf_list_pop_back", "bpf_rbtree_remove", "bpf_rbtree_add_impl",
          "bpf_rbtree_first")


def graph_impls(machine: Callable[[], Any]) -> dict[str, Callable[..., int]]:
    """The implementations, by kfunc name."""
    def not_modelled(name: str) -> Callable[..., int]:
        def op(m: Any, *_: int) -> int:
            raise NotModelled(f"kfunc {name}: not modelled at run time by the emulated kernel")
        return op
    return {n: not_modelled(n) for n in _NAMES}
