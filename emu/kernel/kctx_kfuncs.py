"""The type-cast kfuncs in the emulated kernel: ``bpf_cast_to_kern_ctx``, ``bpf_rdonly_cast``.

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
from kernel_model.kctx_kfuncs import KCTX_KFUNCS
from kernel_model.modules import Kfunc, KfuncEntry, KfuncTable

__all__ = ["register_kctx_kfuncs"]


def _first_arg(m: Any, a1: int = 0, *_: int) -> int:
    return a1


def register_kctx_kfuncs(btf: BTF, table: KfuncTable) -> None:
    """Add both kfuncs (whose FUNC the vmlinux BTF has) to ``table``."""
    for name in KCTX_KFUNCS:
        fid = btf.find(name, S.KIND_FUNC)
        if fid is None:
            continue
        table.add(KfuncEntry(name, btf, fid, Kfunc(name, _first_arg, frozenset(), kfunc_prog_types(name)), None))
