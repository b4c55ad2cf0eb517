"""The ``bpf()`` surface the loader uses: one Protocol, two implementations.

libbpf reaches the kernel only through ``bpf(2)`` (and reads
``/sys/kernel/btf/vmlinux``). The loader here reaches it only through the
methods below, with the real attribute names as keyword arguments; whoever
uses the loader hands it a kernel that has them (the command line builds one):

* :class:`emu.kernel.Kernel` -- the emulated kernel (its ``bpf()`` commands are
  :class:`emu.kernel.syscall.BpfSyscalls`);
* :class:`emu.host.hostsys.HostSys` -- the host kernel through
  :mod:`emu.host.hostbpf` (BTF and program loads only: nothing is attached).

Errors are :class:`kernel_model.errors.KernelError` (``errno`` positive); a
rejected ``prog_load`` may carry ``.log`` (the verifier log) and ``.result``.
``btf`` is vmlinux's BTF (libbpf parses the sysfs file; read-only
introspection of the emulated kernel).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from kernel_model.btf import BTF
from kernel_model.uapi import BPF_STRUCT_OPS

__all__ = ["BpfSys", "BPF_STRUCT_OPS", "REQUIRED"]


#: every method the loader calls, with the bpf() command each stands for
REQUIRED = {
    "btf_load": "BPF_BTF_LOAD", "btf_get_next_id": "BPF_BTF_GET_NEXT_ID",
    "btf_get_fd_by_id": "BPF_BTF_GET_FD_BY_ID", "btf_info": "BPF_OBJ_GET_INFO_BY_FD (BTF)",
    "prog_load": "BPF_PROG_LOAD", "map_create": "BPF_MAP_CREATE", "map_update_elem": "BPF_MAP_UPDATE_ELEM",
    "map_delete_elem": "BPF_MAP_DELETE_ELEM", "map_freeze": "BPF_MAP_FREEZE", "link_create": "BPF_LINK_CREATE",
    "link_update": "BPF_LINK_UPDATE", "link_detach": "BPF_LINK_DETACH", "close": "close(2)",
}


@runtime_checkable
class BpfSys(Protocol):
    """What the loader needs of a kernel (see the module docstring)."""

    btf: BTF

    def btf_load(self, blob: bytes, *, log_level: int = 0) -> int: ...
    def btf_get_next_id(self, start_id: int) -> int: ...
    def btf_get_fd_by_id(self, btf_id: int) -> int: ...
    def btf_info(self, fd: int) -> Any: ...
    def prog_load(self, insns: Sequence[Any] | bytes, *, prog_type: int, expected_attach_type: int = 0,
                  attach_btf_id: int = 0, attach_btf_obj_fd: int = 0, prog_flags: int = 0,
                  license: str = "GPL", log_level: int = 0, prog_name: str = "",
                  prog_btf_fd: int = 0, func_info: bytes = b"", func_info_rec_size: int = 0,
                  line_info: bytes = b"", line_info_rec_size: int = 0,
                  fd_array: Sequence[int] = ()) -> int: ...
    def map_create(self, *, map_type: int, key_size: int, value_size: int, max_entries: int,
                   map_flags: int = 0, map_name: str = "", btf_fd: int = 0, btf_key_type_id: int = 0,
                   btf_value_type_id: int = 0, btf_vmlinux_value_type_id: int = 0,
                   value_type_btf_obj_fd: int = 0, map_extra: int = 0, inner_map_fd: int = 0) -> int: ...
    def map_update_elem(self, map_fd: int, key: bytes, value: bytes, flags: int = 0) -> None: ...
    def map_delete_elem(self, map_fd: int, key: bytes) -> None: ...
    def map_freeze(self, map_fd: int) -> None: ...
    def link_create(self, prog_or_map_fd: int, *, target_fd: int = 0, attach_type: int,
                    flags: int = 0) -> int: ...
    def link_update(self, link_fd: int, *, new_map_fd: int, old_map_fd: int = 0, flags: int = 0) -> None: ...
    def link_detach(self, link_fd: int) -> None: ...
    def close(self, fd: int) -> None: ...
