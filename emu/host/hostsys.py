"""The host kernel as a :class:`~emu.libbpf.sys.BpfSys`, for oracle comparisons.

The loader's own code path (ELF, CO-RE against the *host's* vmlinux BTF,
struct_ops type matching, BPF_BTF_LOAD, BPF_PROG_LOAD with attach_btf_id and
the member index) runs unchanged against the real kernel, through raw
``bpf(2)`` calls (:func:`emu.host.hostbpf.sys_bpf`, Linux 6.18 ``union bpf_attr``
offsets). Only commands that change nothing outside this process are
implemented: BTF load and introspection, program load, array/hash map
create/update/freeze, close. Creating a struct_ops map, a link, or anything
that attaches is refused with ``EPERM`` -- nothing here can register a
struct_ops type with the host: the host is an oracle, never changed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from kernel_model.bpf_map import MAP_TYPE_STRUCT_OPS
from kernel_model.btf import BTF
from kernel_model.errors import KernelError
from kernel_model.insn import Insn, encode
from kernel_model.uapi import BPF_BTF_GET_FD_BY_ID, BPF_BTF_GET_NEXT_ID, BPF_MAP_FREEZE, BPF_OBJ_GET_INFO_BY_FD

from . import hostbpf

__all__ = ["HostSys", "HostProgLoadError", "host_vmlinux_btf"]

ATTR_SIZE = hostbpf.ATTR_SIZE


class HostProgLoadError(KernelError):
    """The host refused BPF_PROG_LOAD: ``log`` is its verifier log."""

    def __init__(self, err: int, log: str) -> None:
        self.log = log
        self.result = None
        super().__init__(err, "BPF_PROG_LOAD refused by the host kernel")


@dataclass(frozen=True, slots=True)
class HostBtfInfo:
    id: int
    name: str
    kernel_btf: bool
    data: bytes


@dataclass(frozen=True, slots=True)
class HostProgInfo:
    id: int
    type: int
    verifier_log: str
    verified_insns: int


@lru_cache(maxsize=1)
def host_vmlinux_btf() -> BTF:
    """``/sys/kernel/btf/vmlinux``, parsed once (libbpf's ``btf__load_vmlinux_btf``)."""
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        return BTF.from_bytes(f.read(), validate=False, where="/sys/kernel/btf/vmlinux")


def _addr(b: Any) -> int:
    return ctypes.addressof(b) if b is not None else 0


class HostSys:
    """The subset of the bpf() contract the loader needs, on the host kernel."""

    def __init__(self) -> None:
        self.btf = host_vmlinux_btf()
        self.fds: list[int] = []
        self._logs: dict[int, str] = {}

    # --- BTF ---------------------------------------------------------------------------
    def btf_load(self, blob: bytes, *, log_level: int = 0) -> int:
        fd, err, log = hostbpf.btf_load(blob, log_level=max(log_level, 1))
        if fd < 0:
            e = KernelError(err, f"BPF_BTF_LOAD refused by the host kernel: {log.strip().splitlines()[-1:]}")
            raise e
        self.fds.append(fd)
        return fd

    def btf_get_next_id(self, start_id: int) -> int:
        a = bytearray(ATTR_SIZE)
        struct.pack_into("<I", a, 0, start_id)
        r, err = hostbpf.sys_bpf(BPF_BTF_GET_NEXT_ID, a)
        if r < 0:
            raise KernelError(err)
        return struct.unpack_from("<I", a, 4)[0]

    def btf_get_fd_by_id(self, btf_id: int) -> int:
        a = bytearray(ATTR_SIZE)
        struct.pack_into("<I", a, 0, btf_id)
        fd, err = hostbpf.sys_bpf(BPF_BTF_GET_FD_BY_ID, a)
        if fd < 0:
            raise KernelError(err)
        self.fds.append(fd)
        return fd

    def btf_info(self, fd: int) -> HostBtfInfo:
        """``BPF_OBJ_GET_INFO_BY_FD`` on a BTF fd (``struct bpf_btf_info``)."""
        def query(size: int, name_len: int) -> tuple[bytearray, Any, Any]:
            info = bytearray(32)
            data = ctypes.create_string_buffer(max(size, 1))
            name = ctypes.create_string_buffer(max(name_len, 1))
            struct.pack_into("<QIIQII", info, 0, _addr(data), size, 0, _addr(name), name_len, 0)
            ib = (ctypes.c_char * len(info)).from_buffer(info)
            a = bytearray(16)
            struct.pack_into("<IIQ", a, 0, fd, len(info), ctypes.addressof(ib))
            r, err = hostbpf.sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a)
            if r < 0:
                raise KernelError(err)
            return info, data, name
        info, _, _ = query(0, 64)
        size = struct.unpack_from("<I", info, 8)[0]
        info, data, name = query(size, 64)
        _, _, bid, _, _, kernel_btf = struct.unpack_from("<QIIQII", info, 0)
        return HostBtfInfo(bid, name.value.decode(), bool(kernel_btf), data.raw[:size])

    # --- programs ------------------------------------------------------------------------
    def prog_load(self, insns: Sequence[Insn] | bytes, *, prog_type: int, expected_attach_type: int = 0,
                  attach_btf_id: int = 0, attach_btf_obj_fd: int = 0, prog_flags: int = 0,
                  license: str = "GPL", log_level: int = 0, prog_name: str = "",
                  prog_btf_fd: int = 0, func_info: bytes = b"", func_info_rec_size: int = 0,
                  line_info: bytes = b"", line_info_rec_size: int = 0,
                  fd_array: Sequence[int] = ()) -> int:
        """``BPF_PROG_LOAD`` with every attribute libbpf sets (:func:`emu.host.hostbpf.prog_load`)."""
        raw = bytes(insns) if isinstance(insns, (bytes, bytearray)) else encode(insns)
        r = hostbpf.prog_load(prog_type, raw, license=license, log_level=log_level, prog_flags=prog_flags,
                              expected_attach_type=expected_attach_type, attach_btf_id=attach_btf_id,
                              attach_btf_obj_fd=attach_btf_obj_fd, name=prog_name,
                              fd_array=fd_array if any(fd_array) else None, prog_btf_fd=prog_btf_fd,
                              func_info=func_info, func_info_rec_size=func_info_rec_size,
                              line_info=line_info, line_info_rec_size=line_info_rec_size)
        if r.fd < 0:
            raise HostProgLoadError(r.errno, r.log)
        self.fds.append(r.fd)
        self._logs[r.fd] = r.log
        return r.fd

    def prog_info(self, fd: int) -> HostProgInfo:
        """``BPF_OBJ_GET_INFO_BY_FD`` on a program, plus the verifier log of its load
        (the contract's ``ProgInfo.verifier_log``; the kernel wrote it into our buffer)."""
        info = hostbpf.prog_info(fd, with_code=False)
        return HostProgInfo(info.id, info.prog_type, self._logs.get(fd, ""), info.verified_insns)

    def prog_test_run(self, prog_fd: int, *, ctx_in: bytes = b"", data_in: bytes = b"", repeat: int = 1,
                      ctx_out_size: int = 0, data_out_size: int = 0, flags: int = 0,
                      cpu: int = 0) -> hostbpf.TestRunResult:
        """``BPF_PROG_TEST_RUN`` in the host kernel, with the emulated kernel's signature
        (``repeat=1`` is the uapi's 0 or 1: one run) and its result type; a refusal is a
        :class:`KernelError` with the host's errno. Runs the program; attaches nothing.
        ``ctx_out`` is what the emulated kernel's result holds: the ctx_out buffer, or for
        a syscall program the context written back into ctx_in."""
        from dataclasses import replace

        if flags or cpu:
            raise KernelError(errno.EINVAL, "test runs with flags or a cpu are not passed to the host here")
        try:
            r = hostbpf.test_run(prog_fd, data_in=data_in, ctx_in=ctx_in, data_out_size=data_out_size,
                                 ctx_out_size=ctx_out_size, repeat=repeat if repeat > 1 else 0)
        except OSError as e:
            raise KernelError(e.errno or errno.EINVAL, "BPF_PROG_TEST_RUN refused by the host kernel") from None
        # syscall programs write their context back into ctx_in (the emulated kernel's ctx_out)
        syscall = bool(ctx_in) and not ctx_out_size and hostbpf.prog_info(prog_fd, with_code=False).prog_type == 31
        ctx_out = r.ctx_in_after if syscall else r.ctx_out
        return replace(r, ctx_out=ctx_out)

    # --- maps (array and hash only) -------------------------------------------------------
    def map_create(self, *, map_type: int, key_size: int, value_size: int, max_entries: int,
                   map_flags: int = 0, map_name: str = "", btf_fd: int = 0, btf_key_type_id: int = 0,
                   btf_value_type_id: int = 0, btf_vmlinux_value_type_id: int = 0,
                   value_type_btf_obj_fd: int = 0, map_extra: int = 0, inner_map_fd: int = 0) -> int:
        if map_type == MAP_TYPE_STRUCT_OPS:
            raise KernelError(errno.EPERM, "structops-emu never creates struct_ops maps on the host (they "
                                           "would register with the real kernel)")
        name = "".join(c if c.isalnum() or c in "_." else "_" for c in map_name)
        fd, err = hostbpf.map_create(map_type, key_size, value_size, max_entries, map_flags=map_flags, name=name,
                                     btf_fd=btf_fd, btf_key_type_id=btf_key_type_id,
                                     btf_value_type_id=btf_value_type_id, map_extra=map_extra,
                                     inner_map_fd=inner_map_fd)
        if fd < 0:
            raise KernelError(err, "BPF_MAP_CREATE refused by the host kernel")
        self.fds.append(fd)
        return fd

    def map_update_elem(self, map_fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
        r, err = hostbpf.map_update(map_fd, key, value, flags)
        if r < 0:
            raise KernelError(err, "BPF_MAP_UPDATE_ELEM refused by the host kernel")

    def map_freeze(self, map_fd: int) -> None:
        a = bytearray(ATTR_SIZE)
        struct.pack_into("<I", a, 0, map_fd)
        r, err = hostbpf.sys_bpf(BPF_MAP_FREEZE, a)
        if r < 0:
            raise KernelError(err, "BPF_MAP_FREEZE refused by the host kernel")

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise KernelError(errno.EPERM, "structops-emu never attaches anything on the host kernel")

    map_delete_elem = link_create = link_update = link_detach = _refuse

    def close(self, fd: int) -> None:
        self._logs.pop(fd, None)
        if fd in self.fds:
            self.fds.remove(fd)
        try:
            os.close(fd)
        except OSError:
            pass

    def kconfig_text(self) -> str | None:
        """The host's kernel configuration as libbpf finds it (``bpf_object__read_kconfig_file``):
        ``/boot/config-$(uname -r)``, else ``/proc/config.gz``; None when neither is readable."""
        import gzip

        for path in (f"/boot/config-{os.uname().release}", "/proc/config.gz"):
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            if raw[:2] == b"\x1f\x8b":  # gzopen() reads either
                raw = gzip.decompress(raw)
            return raw.decode("latin-1")
        return None

    def kernel_version(self) -> int:
        """``get_kernel_version`` of libbpf: ``KERNEL_VERSION(a, b, c)`` from uname's release."""
        import re

        m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release)
        if m is None:
            return 0
        a, b, c = int(m[1]), int(m[2]), int(m[3] or 0)
        return (a << 16) | (b << 8) | min(c, 255)

    def close_all(self) -> None:
        for fd in list(self.fds):
            self.close(fd)
