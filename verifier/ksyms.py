"""Kernel symbols in ``lddw``: ``BPF_PSEUDO_BTF_ID`` (libbpf's typed ``__ksym`` externs).

Models ``check_pseudo_btf_id`` of kernel/bpf/verifier.c (Linux 6.12/6.18), which
``resolve_pseudo_ldimm64`` runs before the walk for every ``lddw`` with
``src_reg = BPF_PSEUDO_BTF_ID``: ``imm`` is a BTF id of vmlinux (``insn[1].imm``
0) or of the module BTF whose fd ``insn[1].imm`` is; the type must be a VAR or a
FUNC; ``kallsyms_lookup_name`` must know its name, else
``ldimm64 failed to find the address for kernel symbol '%s'.`` (ENOENT).

The address lookup is the kernel's (:attr:`VerifierEnv.ksym_addr
<verifier.env.VerifierEnv.ksym_addr>`, the emulated kernel's kallsyms, where every FUNC of
its vmlinux BTF has an emulated address). A function becomes ``PTR_TO_MEM | MEM_RDONLY`` of
size 0 (``aux->btf_var``; ``check_ld_imm`` gives it to the register, the fixups write the
address into the lddw): ``bpf_ksym_exists(kfunc)`` tests compare it with 0 (never NULL). What
a found variable becomes (a per-CPU ``PTR_TO_BTF_ID | MEM_PERCPU``, a read-only ``PTR_TO_MEM``
of its size, a ``PTR_TO_BTF_ID`` of its struct) is not modelled: the emulated kernel lists no
data symbols by default and places none with ``CONFIG_KALLSYMS_ALL``; such a load is refused
as not modelled, as are module BTF fds.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any

from kernel_model.btf import Func, Var

from .regs import MEM_RDONLY, PTR_TO_MEM

if TYPE_CHECKING:
    from .core import Env

__all__ = ["check_pseudo_btf_id"]


def check_pseudo_btf_id(env: Env, idx: int) -> None:
    """``check_pseudo_btf_id`` for the ``lddw`` at ``idx`` (both slots)."""
    insn, second = env.insns[idx], env.insns[idx + 1]
    if second.imm:
        raise env.reject(E.EINVAL, "a module BTF fd in a pseudo btf_id ldimm64 is not modelled by structops")
    btf: Any = env.attr.vmlinux_btf
    if btf is None:  # a load described without the kernel's objects (the emulated kernel has BTF)
        raise env.reject(E.EINVAL, "a pseudo btf_id ldimm64 without the kernel's BTF is not modelled by structops")
    bid = insn.imm
    try:
        t = btf.type_by_id(bid) if bid > 0 else None
    except Exception:
        t = None
    if t is None:
        raise env.reject(E.ENOENT, f"ldimm64 insn specifies invalid btf_id {bid}.")
    if not isinstance(t, (Var, Func)):
        raise env.reject(E.EINVAL, f"pseudo btf_id {bid & 0xFFFFFFFF} in ldimm64 isn't KIND_VAR or KIND_FUNC")
    lookup = env.attr.ksym_addr
    addr = lookup(t.name, isinstance(t, Func)) if lookup is not None else None
    if addr is None:
        raise env.reject(E.EINVAL, f"the address of kernel symbol '{t.name}' is not modelled by structops")
    if not addr:
        raise env.reject(E.ENOENT, f"ldimm64 failed to find the address for kernel symbol '{t.name}'.")
    if isinstance(t, Func):
        # a function: a read-only PTR_TO_MEM of size 0 (nothing may be read through it)
        aux = env.aux[idx]
        aux.ksym_addr = addr
        aux.btf_var_type = PTR_TO_MEM | MEM_RDONLY
        aux.btf_var_mem_size = 0
        return
    raise env.reject(E.EINVAL, f"pseudo btf_id ldimm64 of kernel symbol '{t.name}' is not modelled by structops")
