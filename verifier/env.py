"""What the caller tells the verifier about a load: ``union bpf_attr`` plus the kernel objects.

:class:`VerifierEnv` carries what ``BPF_PROG_LOAD`` passes to ``bpf_check()``
(kernel/bpf/syscall.c, kernel/bpf/verifier.c, Linux 6.18): program type,
expected attach type (for struct_ops: the member index), attach BTF and type
id, flags, license, the loader's privileges, and the objects the instruction
immediates refer to (maps by fd, the fd_array, kfunc tables, the struct_ops
registry). It is plain data; :func:`verifier.verify` reads it and never
changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from kernel_model.bpf_map import MapSpec
from kernel_model.profile import LATEST, Profile
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER
# prog_flags (include/uapi/linux/bpf.h), re-exported: the one definition is kernel_model.uapi
from kernel_model.uapi import (BPF_F_ANY_ALIGNMENT, BPF_F_SLEEPABLE, BPF_F_STRICT_ALIGNMENT, BPF_F_TEST_REG_INVARIANTS,
                               BPF_F_TEST_RND_HI32, BPF_F_TEST_STATE_FREQ)

__all__ = ["VerifierEnv", "BPF_F_STRICT_ALIGNMENT", "BPF_F_ANY_ALIGNMENT", "BPF_F_TEST_RND_HI32",
           "BPF_F_TEST_STATE_FREQ", "BPF_F_SLEEPABLE", "BPF_F_TEST_REG_INVARIANTS", "GPL_COMPATIBLE"]

#: license_is_gpl_compatible() (include/linux/license.h)
GPL_COMPATIBLE = frozenset({"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
                            "Dual MPL/GPL"})


@dataclass
class VerifierEnv:
    """The load's parameters. ``maps`` maps the imm of a ``BPF_PSEUDO_MAP_FD`` /
    ``BPF_PSEUDO_MAP_VALUE`` lddw to its map; ``fd_array`` is indexed by the imm of
    ``BPF_PSEUDO_MAP_IDX`` lddws and by the ``off`` of module kfunc calls (a
    :class:`MapSpec` or a module BTF). ``privileged`` is root (CAP_BPF, CAP_PERFMON,
    CAP_SYS_ADMIN: allow_ptr_leaks, bypass_spec_v1/v4, allow_uninit_stack);
    otherwise CAP_BPF only."""

    prog_type: int = PROG_TYPE_SOCKET_FILTER
    expected_attach_type: int = 0
    attach_btf: Any = None
    attach_btf_id: int = 0
    struct_ops: Any = None
    prog_flags: int = 0
    license: str = "GPL"
    privileged: bool = True
    maps: Mapping[int, MapSpec] = field(default_factory=dict)
    kfuncs: Any = None
    vmlinux_btf: Any = None
    fd_array: Sequence[Any] = ()
    profile: Profile = LATEST
    #: nr_cpu_ids of the modelled machine (bounds of bpf_get_smp_processor_id)
    nr_cpu_ids: int = 2
    #: a name for the program (``attr.prog_name``), used in messages only
    name: str = ""
    #: ``attr.log_size`` with a user buffer of that many bytes (kernel/bpf/log.c): the log
    #: rotates (or, with BPF_LOG_FIXED, keeps its head) and the load fails with ENOSPC
    #: when the log ever outgrew it; 0 is no buffer (only ``log_true_size`` comes back);
    #: None, the model's default, is a buffer as large as the log (never ENOSPC)
    log_size: int | None = None
    #: the program's own BTF (``attr.prog_btf_fd``, a user BTF loaded by BPF_BTF_LOAD):
    #: the types ``func_info`` records name and the strings of ``line_info``
    prog_btf: Any = None
    #: ``attr.func_info``: ``func_info_cnt`` records of ``func_info_rec_size`` bytes
    #: (``struct bpf_func_info {u32 insn_off, type_id}``, kernel/bpf/verifier.c
    #: check_btf_func_early)
    func_info: bytes = b""
    func_info_rec_size: int = 0
    #: ``attr.line_info``: records of ``line_info_rec_size`` bytes (``struct
    #: bpf_line_info {u32 insn_off, file_name_off, line_off, line_col}``, check_btf_line)
    line_info: bytes = b""
    line_info_rec_size: int = 0
    #: the BTF linkage (``BTF_FUNC_STATIC`` 0, global 1) of each subprogram when the load gives no
    #: ``func_info`` records (assembly programs); with ``func_info`` the records decide; None and
    #: no records (then a
    #: ``BPF_PSEUDO_FUNC`` lddw is "missing btf func_info", as in check_ld_imm)
    func_linkage: Sequence[int] | None = None
    #: ``kallsyms_lookup_name`` of the kernel (``check_pseudo_btf_id``): ``(name, is_func)`` ->
    #: the symbol's address, 0 when kallsyms has no such symbol, None when the emulated kernel
    #: does not model it; None (no callable): every lookup is "not modelled"
    ksym_addr: Callable[[str, bool], int | None] | None = None
    #: the ``LOCKDOWN_*`` reasons the kernel's ``security_locked_down`` refuses
    #: (:func:`kernel_model.lockdown.refused_reasons`): a helper its ``get_func_proto`` gates on
    #: one of them is not handed out (none: no lockdown)
    lockdown: frozenset[str] = frozenset()

    @property
    def gpl_compatible(self) -> bool:
        return self.license in GPL_COMPATIBLE

    @property
    def sleepable(self) -> bool:
        return bool(self.prog_flags & BPF_F_SLEEPABLE)
