"""The type-cast kfuncs in the emulated kernel: ``bpf_cast_to_kern_ctx``, ``bpf_rdonly_cast``;
and the registrations of the XDP metadata, ``bpf_sock_destroy``, conntrack, crypto, task VMA iterator and unix-hook kfuncs, whose
run-time bodies are not modelled (no devices, sockets, connection tracking, crypto or address spaces here).

Registered with the flags (none) and program types (all: ``common_btf_ids``) of
kernel/bpf/helpers.c (Linux 6.12/6.18). The kernel never calls them: ``fixup_kfunc_call``
rewrites each call to ``r0 = r1``. Here the call stays and its body returns the first
argument, the value that move gives (:mod:`kernel_model.kctx_kfuncs`).
"""

from __future__ import annotations

from typing import Any, Callable

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.core_kfuncs import kfunc_prog_types
from kernel_model.bpf_facts import kfuncs as facts
from kernel_model.errors import NotModelled
from kernel_model.kctx_kfuncs import KCTX_KFUNCS
from kernel_model.crypto_kfuncs import CRYPTO_KFUNCS
from kernel_model.task_vma_iter import TASK_VMA_KFUNCS
from kernel_model.sock_addr_kfuncs import SOCK_ADDR_KFUNCS
from kernel_model.conntrack import CT_KFUNCS, CT_PROG_TYPES, ct_flags
from kernel_model.sock_destroy import SOCK_DESTROY_KFUNCS
from kernel_model.xdp_metadata import XDP_METADATA_KFUNCS
from kernel_model.kprobe_session import SESSION_KFUNCS
from kernel_model.common_kfuncs import COMMON_KFUNCS
from kernel_model.modules import Kfunc, KfuncEntry, KfuncTable

__all__ = ["register_kctx_kfuncs"]


def _first_arg(m: Any, a1: int = 0, *_: int) -> int:
    return a1


def _device_bound(m: Any, *_: int) -> int:
    raise NotModelled("the XDP metadata kfuncs need a network device (device-bound programs are not modelled)")


def _no_sockets(m: Any, *_: int) -> int:
    raise NotModelled("kfunc bpf_sock_destroy: the emulated kernel has no sockets to destroy")


def _no_conntrack(m: Any, *_: int) -> int:
    raise NotModelled("the conntrack kfuncs: the emulated kernel has no connection tracking")


def _no_crypto(m: Any, *_: int) -> int:
    raise NotModelled("the crypto kfuncs: the emulated kernel has no crypto API")


def _no_mm(m: Any, *_: int) -> int:
    raise NotModelled("the task VMA iterator: the emulated kernel has no address spaces")


def _no_unix_hooks(m: Any, *_: int) -> int:
    raise NotModelled("kfunc bpf_sock_addr_set_sun_path: the emulated kernel runs no unix socket hooks")


def _no_kprobes(m: Any, *_: int) -> int:
    raise NotModelled("the kprobe session kfuncs: the emulated kernel runs no kprobes")


def _not_run(m: Any, *_: int) -> int:
    raise NotModelled("bpf_copy_from_user_str / bpf_map_sum_elem_count are verified, not run, by the emulated kernel")


def _set_flags(name: str) -> frozenset[str]:
    """The KF_* flags of the kfunc's set (kernel_model.bpf_facts)."""
    return frozenset(facts.kfunc(name).flags or ())


def register_kctx_kfuncs(btf: BTF, table: KfuncTable) -> None:
    """Add the wave's verify-mostly kfunc groups (those whose FUNC the vmlinux BTF has) to
    ``table``: the two type casts (run: the first argument back, as the kernel's ``r0 = r1``
    fixup), and with a run time that stops as not modelled bpf_sock_destroy, conntrack, crypto,
    the task-VMA iterator, the unix hooks' kfunc and the XDP metadata kfuncs
    (:mod:`kernel_model.xdp_metadata`: the verifier refuses every call, the emulated kernel
    binding no program to a device)."""
    def add(names: tuple[str, ...], impl: Callable[..., int], flags: Callable[[str], frozenset[str]] = _set_flags,
            prog_types: Callable[[str], frozenset[int]] = kfunc_prog_types) -> None:
        for name in names:  # those whose FUNC the vmlinux BTF has
            fid = btf.find(name, S.KIND_FUNC)
            if fid is not None:
                table.add(KfuncEntry(name, btf, fid, Kfunc(name, impl, flags(name), prog_types(name)), None))

    add(KCTX_KFUNCS, _first_arg, flags=lambda _name: frozenset())
    add(SESSION_KFUNCS, _no_kprobes)  # kernel_model.kprobe_session: the verifier applies the set's filter
    add(COMMON_KFUNCS, _not_run)  # kernel_model.common_kfuncs
    add(SOCK_DESTROY_KFUNCS, _no_sockets)  # kernel_model.sock_destroy: the verifier applies the set's filter
    add(CT_KFUNCS, _no_conntrack, flags=ct_flags, prog_types=lambda _name: CT_PROG_TYPES)  # kernel_model.conntrack
    add(CRYPTO_KFUNCS, _no_crypto)  # kernel_model.crypto_kfuncs
    add(TASK_VMA_KFUNCS, _no_mm)  # kernel_model.task_vma_iter
    add(SOCK_ADDR_KFUNCS, _no_unix_hooks)  # kernel_model.sock_addr_kfuncs
    add(XDP_METADATA_KFUNCS, _device_bound)
