"""Writes to conntrack entries: ``_nf_conntrack_btf_struct_access`` (net/netfilter/nf_conntrack_bpf.c,
Linux 6.12/6.18), the ``btf_struct_access`` of the tc (``tc_cls_act_btf_struct_access``) and XDP
(``xdp_btf_struct_access``) verifier ops once nf_conntrack is in (net/core/filter.c).

Through a ``struct nf_conn`` or ``nf_conn___init`` pointer only ``mark`` may be written
(``CONFIG_NF_CONNTRACK_MARK``): another offset is ``no write support to nf_conn at off %d``, a
write running past ``mark`` is ``write access at off %d with size %d beyond the member of
nf_conn ended at %zu``; any other struct is ``only read is supported`` (all EACCES).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Env

__all__ = ["nf_conn_write_access"]


def nf_conn_write_access(env: Env, reg: Any, off: int, size: int) -> None:
    """Refuse the write unless it is within ``nf_conn.mark``."""
    btf = reg.btf
    t = btf.type_by_id(reg.btf_id)
    vm = env.attr.vmlinux_btf
    if btf is not vm or getattr(t, "name", "") not in ("nf_conn", "nf_conn___init"):
        raise env.reject(E.EACCES, "only read is supported")
    nct = vm.type_by_id(vm.find("nf_conn", 4))
    mark = next((m for m in nct.members if m.name == "mark"), None)
    if mark is None or off != mark.bits_offset // 8:
        raise env.reject(E.EACCES, f"no write support to nf_conn at off {off}")
    end = off + vm.size_of(mark.type_id)
    if off + size > end:
        raise env.reject(E.EACCES, f"write access at off {off} with size {size} beyond the member of nf_conn "
                                   f"ended at {end}")
