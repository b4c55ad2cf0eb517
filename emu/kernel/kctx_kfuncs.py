"""The type-cast kfuncs in the emulated kernel: ``bpf_cast_to_kern_ctx``, ``bpf_rdonly_cast``;
and the registrations of the XDP metadata, ``bpf_sock_destroy``, conntrack, crypto, task VMA iterator and unix-hook kfuncs, whose
run-time bodies are not modelled (no devices, sockets, connection tracking, crypto or address spaces here).

Registered with the flags (none) and program types (all: ``common_btf_ids``) of
kernel/bpf/helpers.c (Linux 6.12/6.18). The kernel never calls them: ``fixup_kfunc_call``
rewrites each call to ``r0 = r1``. Here the call stays and its body returns the first
argument, the value that move gives (:mod:`kernel_model.kctx_kfuncs`).
"""

from __future__ import annotations

from typing import Any

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


def register_kctx_kfuncs(btf: BTF, table: KfuncTable) -> None:
    """Add both kfuncs (whose FUNC the vmlinux BTF has) to ``table``, and the XDP metadata kfuncs
    (:mod:`kernel_model.xdp_metadata`: KF_TRUSTED_ARGS, XDP programs; the verifier refuses every
    call, the emulated kernel binding no program to a device)."""
    for name in KCTX_KFUNCS:
        fid = btf.find(name, S.KIND_FUNC)
        if fid is None:
            continue
        table.add(KfuncEntry(name, btf, fid, Kfunc(name, _first_arg, frozenset(), kfunc_prog_types(name)), None))
    for name in SOCK_DESTROY_KFUNCS:  # kernel_model.sock_destroy: the verifier applies the set's filter
        fid = btf.find(name, S.KIND_FUNC)
        if fid is not None:
            kf = Kfunc(name, _no_sockets, frozenset(facts.kfunc(name).flags or ()), kfunc_prog_types(name))
            table.add(KfuncEntry(name, btf, fid, kf, None))
    for name in CT_KFUNCS:  # kernel_model.conntrack
        fid = btf.find(name, S.KIND_FUNC)
        if fid is not None:
            table.add(KfuncEntry(name, btf, fid, Kfunc(name, _no_conntrack, ct_flags(name), CT_PROG_TYPES), None))
    for name in CRYPTO_KFUNCS:  # kernel_model.crypto_kfuncs
        fid = btf.find(name, S.KIND_FUNC)
        if fid is not None:
            kf = Kfunc(name, _no_crypto, frozenset(facts.kfunc(name).flags or ()), kfunc_prog_types(name))
            table.add(KfuncEntry(name, btf, fid, kf, None))
    for name in TASK_VMA_KFUNCS:  # kernel_model.task_vma_iter
        fid = btf.find(name, S.KIND_FUNC)
        if fid is not None:
            kf = Kfunc(name, _no_mm, frozenset(facts.kfunc(name).flags or ()), kfunc_prog_types(name))
            table.add(KfuncEntry(name, btf, fid, kf, None))
    for name in SOCK_ADDR_KFUNCS:  # kernel_model.sock_addr_kfuncs
        fid = btf.find(name, S.KIND_FUNC)
        if fid is not None:
            kf = Kfunc(name, _no_unix_hooks, frozenset(facts.kfunc(name).flags or ()), kfunc_prog_types(name))
            table.add(KfuncEntry(name, btf, fid, kf, None))
    for name in XDP_METADATA_KFUNCS:
        fid = btf.find(name, S.KIND_FUNC)
        if fid is None:
            continue
        kf = Kfunc(name, _device_bound, frozenset(facts.kfunc(name).flags or ()), kfunc_prog_types(name))
        table.add(KfuncEntry(name, btf, fid, kf, None))
