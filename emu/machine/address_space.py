"""The machine's address space: regions, lazy mapping, and Python's reads and writes.

Regions are reserved at creation and handed to Unicorn either at once or on
first touch (``lazy``: zero-filled, like fresh pages); regions written whole at
once (kernel text, BPF packs) are host buffers mapped with ``uc_mem_map_ptr``,
~10x cheaper than first touches of Unicorn's own pages (fresh pages cost
~3.5 us each to touch on this machine kind). Reads and writes from Python
(helpers, views of kernel objects) check canonicality, mapping and permissions
the way a kernel access would, and raise the oops the machine builds for them;
``poke``/``peek`` ignore permissions (``text_poke``, ``copy_from_kernel_nofault``).
"""

from __future__ import annotations

import bisect
import ctypes
from typing import Any, Callable

from kernel_model.errors import InternalError, KernelError

from .layout import M64, PAGE_SIZE, PROT_R, PROT_RW, PROT_W, Region, canonical, host_addr, virt_addr
from .regs import RAW

__all__ = ["AddressSpace"]

#: regions up to this size are backed by zeroed host buffers when mapped on first touch
_SMALL_REGION = 64 * 1024

#: builds the error for a bad access from Python: ``(addr, "read"|"write", mapped) -> exception``
BadAccess = Callable[[int, str, bool], BaseException]


def _efault(addr: int, access: str, mapped: bool) -> BaseException:
    return KernelError(14, f"bad {access} at {addr:#x}")  # EFAULT


class AddressSpace:
    """The regions of one Unicorn instance and access to them from Python."""

    def __init__(self, uc: Any, hp: ctypes.c_void_p) -> None:
        self.uc = uc
        self._hp = hp
        #: host buffers mapped with uc_mem_map_ptr: alive until uc_close
        self.bufs: list[ctypes.Array] = []
        uc._structops_bufs = self.bufs  # outlive the engine
        self.regions: list[Region] = []
        self._starts: list[int] = []
        self.closed = False
        #: what a bad access from Python raises (the machine installs its oops builder)
        self.bad_access: BadAccess = _efault

    host_addr = staticmethod(host_addr)
    virt_addr = staticmethod(virt_addr)
    canonical = staticmethod(canonical)

    # --- regions ---------------------------------------------------------------------------
    def map(self, name: str, base: int, size: int, perms: int, *, lazy: bool = False,
            content: bytes | None = None, buf: ctypes.Array | None = None) -> Region:
        """Add a region. ``content``/``buf``: back it with a host buffer (a copy of
        ``content``, or ``buf`` itself) through ``uc_mem_map_ptr``, for regions
        written whole at once. ``lazy``: reserve the range now, map it on first
        touch (:meth:`materialize`)."""
        if base % PAGE_SIZE or size % PAGE_SIZE:
            raise InternalError(f"region {name} not page aligned")
        if content is not None:
            buf = (ctypes.c_char * size).from_buffer_copy(content.ljust(size, b"\0"))
        if buf is not None:
            if not any(b is buf for b in self.bufs):  # a pack buffer may come back
                self.bufs.append(buf)
            self.uc.mem_map_ptr(host_addr(base), size, perms, ctypes.addressof(buf))
        elif not lazy:
            self.uc.mem_map(host_addr(base), size, perms)
        reg = Region(name, base, size, perms, not lazy)
        k = bisect.bisect_left(self._starts, base)
        self._starts.insert(k, base)
        self.regions.insert(k, reg)
        return reg

    def materialize(self, reg: Region) -> None:
        """Give a lazily reserved region to Unicorn, zero-filled: small ones as a
        zeroed host buffer (cheaper to map and already faulted in), large ones as
        Unicorn memory (its pages are only touched when used)."""
        if not reg.mapped:
            if reg.size <= _SMALL_REGION:
                buf = (ctypes.c_char * reg.size)()
                self.bufs.append(buf)
                self.uc.mem_map_ptr(host_addr(reg.base), reg.size, reg.perms, ctypes.addressof(buf))
            else:
                self.uc.mem_map(host_addr(reg.base), reg.size, reg.perms)
            reg.mapped = True

    def materialize_range(self, addr: int, size: int) -> bool:
        """Map every lazy region overlapping [addr, addr+size); True if one was."""
        done = False
        k = bisect.bisect_right(self._starts, addr) - 1
        for reg in self.regions[max(k, 0):]:
            if reg.base >= addr + size:
                break
            if reg.end > addr and not reg.mapped:
                self.materialize(reg)
                done = True
        return done

    def map_region(self, name: str, base: int, size: int, perms: int = PROT_RW, data: bytes = b"") -> Region:
        """Map a new region (page aligned, rounded up) and write ``data`` at its start."""
        size = max(PAGE_SIZE, (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
        for r in self.regions:
            if base < r.end and r.base < base + size:
                raise KernelError(16, f"region {name!r} overlaps {r.name!r}")  # EBUSY
        reg = self.map(name, base, size, perms)
        if data:
            self.uc.mem_write(host_addr(base), bytes(data))
        return reg

    def unmap_region(self, base: int) -> None:
        k = bisect.bisect_left(self._starts, base)
        if k >= len(self._starts) or self._starts[k] != base:
            raise KernelError(22, f"no region at {base:#x}")
        reg = self.regions[k]
        if reg.mapped:
            self.uc.mem_unmap(host_addr(base), reg.size)
        del self.regions[k]
        del self._starts[k]

    def protect(self, base: int, size: int, perms: int) -> None:
        """Change the permissions of a whole region (``set_memory_ro/x``), which
        Unicorn does cheaply only for a whole mapping."""
        reg = self.region_of(base)
        if reg is None or reg.base != base or reg.size != size:
            raise KernelError(22, "protect() works on whole regions")
        if reg.mapped:
            self.uc.mem_protect(host_addr(base), size, perms)
        reg.perms = perms

    def region_of(self, va: int) -> Region | None:
        k = bisect.bisect_right(self._starts, va) - 1
        if k >= 0 and va < self.regions[k].end:
            return self.regions[k]
        return None

    # --- access from Python (GuestMemory) -------------------------------------------------------
    def _check(self, addr: int, size: int, write: bool) -> None:
        reg = self.region_of(addr)
        if (not canonical(addr) or reg is None or addr + size > reg.end
                or not reg.perms & (PROT_W if write else PROT_R)):
            raise self.bad_access(addr, "write" if write else "read", reg is not None)
        if not reg.mapped:
            self.materialize(reg)

    def read(self, addr: int, size: int) -> bytes:
        """Read emulated memory (helpers; Python views). Oopses where unmapped."""
        addr &= M64
        if size <= 0:
            return b""
        self._check(addr, size, False)
        return bytes(self.uc.mem_read(host_addr(addr), size))

    def write(self, addr: int, data: bytes) -> None:
        """Write emulated memory; oopses where unmapped or read-only (code goes in
        with :meth:`emu.machine.packs.BpfPacks.text_copy`)."""
        addr &= M64
        if not data:
            return
        self._check(addr, len(data), True)
        self.uc.mem_write(host_addr(addr), bytes(data))

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & M64).to_bytes(8, "little"))

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFF_FFFF).to_bytes(4, "little"))

    def poke(self, addr: int, data: bytes) -> None:
        """Write ignoring permissions (the kernel's ``text_poke``/``copy_to_kernel_nofault``);
        raises KernelError where unmapped."""
        if self.closed:
            raise KernelError(9, "the machine is closed")  # EBADF
        data = bytes(data)
        h = ctypes.c_uint64(host_addr(addr))
        n = ctypes.c_uint64(len(data))
        if RAW.uc_mem_write(self._hp, h, data, n):
            if not (self.materialize_range(addr, len(data)) and not RAW.uc_mem_write(self._hp, h, data, n)):
                raise KernelError(14, f"{len(data)} bytes at {addr:#x} are not mapped")  # EFAULT

    def peek(self, addr: int, size: int) -> bytes:
        """Read ignoring permissions; raises KernelError where unmapped."""
        from unicorn import UcError

        try:
            return bytes(self.uc.mem_read(host_addr(addr), size))
        except UcError:
            if self.materialize_range(addr, size):
                return self.peek(addr, size)
            raise KernelError(14, f"{size} bytes at {addr:#x} are not mapped") from None  # EFAULT
