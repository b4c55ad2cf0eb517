"""BPF text: ``bpf_prog_pack`` (kernel/bpf/core.c, Linux 6.12-6.18).

JIT images and trampolines live in read-execute packs of 64-byte chunks
(``BPF_PROG_CHUNK_SIZE``), allocated first fit; a pack is created by the first
allocation that finds no room and freed when its last chunk is. W^X as in the
kernel since ``bpf_prog_pack`` (5.18): code is built in a writable buffer (the
JIT's ``rw_image``) and copied into the pack by :meth:`BpfPacks.text_copy`
(``bpf_arch_text_copy``/``text_poke``), which also drops Unicorn's translation
of the bytes it overwrites (Unicorn keeps translated blocks across writes).

The kernel's pack is 2 MiB per NUMA node, ours 256 KiB. Packs are host
buffers mapped with ``uc_mem_map_ptr``: a copy is a memmove (~0.5 instead of
~7 us per 4 KiB through Unicorn's write path); buffers of closed machines are
pooled for the next machine (already faulted in).
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from typing import Iterator

from kernel_model.errors import InternalError, KernelError

from .address_space import AddressSpace
from .layout import M64, MODULES_VADDR, PAGE_SIZE, PROT_RX, host_addr

__all__ = ["BpfPacks", "Pack", "BPF_PROG_CHUNK_SIZE", "PACK_SIZE", "BINARY_HEADER_SIZE"]

#: kernel/bpf/core.c: BPF_PROG_CHUNK_SIZE
BPF_PROG_CHUNK_SIZE = 64
PACK_SIZE = 256 * 1024
#: sizeof(struct bpf_binary_header) (u32 size; image[] aligned to 8)
BINARY_HEADER_SIZE = 8

_INT3_PACK = b"\xcc" * PACK_SIZE
#: host buffers of packs of closed machines, reused (already faulted in: a first
#: touch of fresh memory costs ~3 us a page on this machine kind, 200 us a pack)
_PACK_POOL: list[ctypes.Array] = []
_PACK_POOL_MAX = 8
_EMPTY_BITMAP = bytes(PACK_SIZE // BPF_PROG_CHUNK_SIZE)


@dataclass(slots=True)
class Pack:
    """One bpf_prog_pack: a bitmap of 64-byte chunks over a read-execute region
    backed by the host buffer ``buf``."""

    base: int
    used: bytearray
    buf: ctypes.Array


class BpfPacks:
    """The packs of one machine, and the copy of code into them. Iterating gives
    the live :class:`Pack` objects in address order."""

    def __init__(self, mem: AddressSpace, seed: int = 0) -> None:
        self.mem = mem
        self.seed = seed
        self._rng = seed & M64
        self._packs: list[Pack] = []
        self._spare: list[ctypes.Array] = []
        self._sizes: dict[int, int] = {}
        #: image address -> the block (its bpf_binary_header) jit_binary_pack_alloc gave it
        self._image_header: dict[int, int] = {}

    def __iter__(self) -> Iterator[Pack]:
        return iter(self._packs)

    def __len__(self) -> int:
        return len(self._packs)

    def _new_pack(self) -> Pack:
        """``alloc_new_pack``: a read-execute pack filled with int3
        (``bpf_fill_ill_insns`` = ``jit_fill_hole``), at the lowest free pack slot."""
        taken = {p.base for p in self._packs}
        k = 0
        while MODULES_VADDR + k * PACK_SIZE in taken:
            k += 1
        base = MODULES_VADDR + k * PACK_SIZE
        if self._spare:
            buf = self._spare.pop()
        elif _PACK_POOL:
            buf = _PACK_POOL.pop()
        else:
            buf = (ctypes.c_char * PACK_SIZE)()
        ctypes.memmove(buf, _INT3_PACK, PACK_SIZE)
        self.mem.map(f"bpf_prog_pack{k}", base, PACK_SIZE, PROT_RX, buf=buf)
        pack = Pack(base, bytearray(PACK_SIZE // BPF_PROG_CHUNK_SIZE), buf)
        self._packs.append(pack)
        self._packs.sort(key=lambda p: p.base)
        return pack

    def _release(self, pack: Pack) -> None:
        """The end of ``bpf_prog_pack_free`` when no chunk is in use: the pack goes
        (its host buffer stays with this machine until close, then is pooled)."""
        self.mem.uc.ctl_remove_cache(host_addr(pack.base), host_addr(pack.base) + PACK_SIZE)
        self.mem.unmap_region(pack.base)
        self._packs.remove(pack)
        self._spare.append(pack.buf)

    def pack_alloc(self, size: int) -> int:
        """``bpf_prog_pack_alloc``: 64-byte chunks of a read-execute pack, first fit
        (int3-filled); a new pack when none has room (the first one at the first
        allocation, as in the kernel). Used for JIT images and trampolines."""
        n = (size + BPF_PROG_CHUNK_SIZE - 1) // BPF_PROG_CHUNK_SIZE
        if n > PACK_SIZE // BPF_PROG_CHUNK_SIZE:
            raise KernelError(12, f"{size} bytes do not fit in a bpf_prog_pack")
        need = bytes(n)
        for pack in [*self._packs, None]:
            if pack is None:
                pack = self._new_pack()
            k = pack.used.find(need)
            if k >= 0:
                pack.used[k:k + n] = b"\x01" * n
                self._sizes[pack.base + k * BPF_PROG_CHUNK_SIZE] = n
                return pack.base + k * BPF_PROG_CHUNK_SIZE
        raise InternalError("unreachable")  # pragma: no cover

    def pack_free(self, addr: int) -> None:
        """``bpf_prog_pack_free`` (kernel/bpf/core.c, 6.12-6.18): int3 over the chunks
        (``bpf_arch_text_invalidate``), and the whole pack freed once no chunk of it
        is in use."""
        n = self._sizes.pop(addr)
        for pack in self._packs:
            if pack.base <= addr < pack.base + PACK_SIZE:
                k = (addr - pack.base) // BPF_PROG_CHUNK_SIZE
                pack.used[k:k + n] = bytes(n)
                if pack.used == _EMPTY_BITMAP:
                    self._release(pack)  # its buffer is int3-filled again on reuse
                else:
                    self.text_copy(addr, b"\xcc" * (n * BPF_PROG_CHUNK_SIZE))
                return

    def text_copy(self, addr: int, data: bytes) -> None:
        """``bpf_arch_text_copy``: write code into read-execute text and drop any
        translation of it. Inside a BPF pack the bytes go straight into the pack's
        host buffer (a memmove); elsewhere (kernel text) through Unicorn."""
        h = host_addr(addr)
        n = len(data)
        for pack in self._packs:
            if pack.base <= addr and addr + n <= pack.base + PACK_SIZE:
                ctypes.memmove(ctypes.addressof(pack.buf) + (addr - pack.base), bytes(data), n)
                break
        else:
            self.mem.uc.mem_write(h, bytes(data))
        self.mem.uc.ctl_remove_cache(h, h + n)

    def jit_binary_pack_alloc(self, proglen: int) -> int:
        """``bpf_jit_binary_pack_alloc``: a pack block of ``round_up(proglen + 8 + 16,
        64)`` bytes whose ``bpf_binary_header.size`` is written at its start, with
        the image at a random 4-byte aligned offset into the first chunk's hole
        (``get_random_u32_below``: here a per-machine seeded generator)."""
        size = -(-(proglen + BINARY_HEADER_SIZE + 16) // BPF_PROG_CHUNK_SIZE) * BPF_PROG_CHUNK_SIZE
        header = self.pack_alloc(size)
        self.text_copy(header, struct.pack("<I", size))
        hole = min(size - (proglen + BINARY_HEADER_SIZE), BPF_PROG_CHUNK_SIZE - BINARY_HEADER_SIZE)
        start = self._random_below(hole) & ~3  # alignment = __alignof__(exception_table_entry)
        image = header + BINARY_HEADER_SIZE + start
        self._image_header[image] = header
        return image

    def jit_binary_pack_free(self, image: int) -> None:
        """``bpf_jit_binary_pack_free``: the block of the image at ``image``."""
        self.pack_free(self._image_header.pop(image))

    def _random_below(self, n: int) -> int:
        """``get_random_u32_below(n)`` from a per-machine splitmix64 stream seeded by
        ``seed``: deterministic runs, and a reset is one assignment."""
        self._rng = x = (self._rng + 0x9E37_79B9_7F4A_7C15) & M64
        x = ((x ^ (x >> 30)) * 0xBF58_476D_1CE4_E5B9) & M64
        x = ((x ^ (x >> 27)) * 0x94D0_49BB_1331_11EB) & M64
        return ((x ^ (x >> 31)) >> 32) * n >> 32

    def alloc_trampoline(self, size: int = PAGE_SIZE) -> int:
        """``arch_alloc_bpf_trampoline``: ``bpf_prog_pack_alloc(size, jit_fill_hole)``,
        64-byte aligned (the struct_ops maps take a PAGE_SIZE image per page)."""
        return self.pack_alloc(size)

    def free_trampoline(self, addr: int) -> None:
        self.pack_free(addr)

    def reset(self) -> None:
        """Every pack freed, the random stream back to its seed."""
        for pack in list(self._packs):
            self._release(pack)
        self._sizes.clear()
        self._image_header.clear()
        self._rng = self.seed & M64

    def give_back(self) -> None:
        """After the engine is closed: the host buffers go to the pool for the next machine."""
        for buf in self._spare + [p.buf for p in self._packs]:
            if len(_PACK_POOL) < _PACK_POOL_MAX:
                _PACK_POOL.append(buf)

    def forget(self) -> None:
        """Drop every pack and buffer (the machine is closed)."""
        self._spare = []
        self._packs = []
