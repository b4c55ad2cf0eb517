"""The calling process's memory, as ``copy_from_user``/``copy_to_user`` see it.

Some ``bpf()`` attributes are user pointers the kernel dereferences only
through ``copy_from_user`` / ``copy_to_user`` (include/linux/uaccess.h): the
``bpf_dummy_ops`` test runner reads ``args[0]`` of ``ctx_in`` as a *user*
pointer to a ``struct bpf_dummy_ops_state``, copies the state in, runs the
program on a kernel copy and copies it back (net/bpf/bpf_dummy_struct_ops.c,
``dummy_ops_init_args``/``dummy_ops_copy_args``, Linux 6.12/6.18). Kernel code
never dereferences a user address directly (SMAP), so user memory here is not
mapped in the machine at all: it is a set of Python buffers at user-space
addresses, and an access to an address no buffer covers is ``-EFAULT``, as
``copy_from_user`` returns for an unmapped user page.

Addresses start at ``0x7f00_0000_0000`` (the top of the x86-64 user half, where
the host's mmap'ed buffers are), 16-byte aligned, never reused.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from kernel_model.errors import KernelError

__all__ = ["UserMemory", "USER_BASE", "TASK_SIZE_MAX"]

USER_BASE = 0x7F00_0000_0000
#: arch/x86/include/asm/page_64.h: TASK_SIZE_MAX with 4-level paging ((1 << 47) - PAGE_SIZE)
TASK_SIZE_MAX = (1 << 47) - 4096


@dataclass
class UserMemory:
    """Buffers of the emulated user process, by address."""

    _next: int = USER_BASE
    _bufs: dict[int, bytearray] = field(default_factory=dict)

    def alloc(self, data: bytes | int) -> int:
        """A new buffer holding ``data`` (or that many zero bytes); returns its address."""
        buf = bytearray(data) if not isinstance(data, int) else bytearray(data)
        addr = self._next
        self._next += max(16, (len(buf) + 15) & ~15)
        self._bufs[addr] = buf
        return addr

    def _find(self, addr: int, size: int) -> tuple[bytearray, int]:
        for base, buf in self._bufs.items():
            if base <= addr and addr + size <= base + len(buf):
                return buf, addr - base
        raise KernelError(errno.EFAULT, f"{size} bytes at user address {addr:#x} are not mapped")

    def copy_from_user(self, addr: int, size: int) -> bytes:
        """``copy_from_user``: ``-EFAULT`` unless ``[addr, addr+size)`` is one buffer."""
        if size == 0:
            return b""
        buf, off = self._find(addr, size)
        return bytes(buf[off:off + size])

    def copy_to_user(self, addr: int, data: bytes) -> None:
        """``copy_to_user``: ``-EFAULT`` unless the range is one buffer."""
        if not data:
            return
        buf, off = self._find(addr, len(data))
        buf[off:off + len(data)] = data

    def read(self, addr: int, size: int) -> bytes:
        """What the process reads back (same rules as :meth:`copy_from_user`)."""
        return self.copy_from_user(addr, size)

    def map_at(self, addr: int, size: int) -> None:
        """A zeroed buffer at a given address (an ``mmap`` of the emulated process,
        :mod:`emu.kernel.task_mm`); it must not overlap another."""
        for base, buf in self._bufs.items():
            if base < addr + size and addr < base + len(buf):
                raise KernelError(errno.EEXIST, f"user address {addr:#x} is already mapped")
        self._bufs[addr] = bytearray(size)

    def free(self, addr: int) -> None:
        self._bufs.pop(addr, None)
