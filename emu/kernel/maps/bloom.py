"""Bloom filter maps (kernel/bpf/bloom_filter.c, Linux 6.12).

``map_extra`` & 0xF hash functions (5 when 0); a bit array of
``max_entries * k * 7 / 5`` bits rounded up to a power of two (at least 64;
2**32 when that overflows or passes 2**31), ``bitset_mask`` = size - 1. Hash
``i`` of a value is ``jhash2`` over its u32 words (``jhash`` when the size is
not a multiple of 4) seeded with ``hash_seed + i``; ``hash_seed`` is 0 with
``BPF_F_ZERO_SEED``, else random. Push (``bpf_map_push_elem``,
``BPF_MAP_UPDATE_ELEM`` with a NULL key) sets the k bits (flags other than
``BPF_ANY``: ``-EINVAL``); peek (``bpf_map_peek_elem``, ``BPF_MAP_LOOKUP_ELEM``
with the value to test) is 0 when all k bits are set, else ``-ENOENT``. Pop,
delete and get_next_key are ``-EOPNOTSUPP``; lookup/update by key ``-EINVAL``.

Where we differ: the bit array is kept as the set of set bits, not in
emulated memory (it can be 512 MiB); nothing reads it but the map's own ops.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError
from kernel_model.uapi import BPF_ANY, BPF_F_ZERO_SEED

from ..bpf_maps import BPF_MAP_HEADER_SIZE, BtfObject, MapObject
from .jhash import jhash, jhash2

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["BloomFilterMap", "bloom_bitset_mask"]

M32 = 0xFFFF_FFFF


def bloom_bitset_mask(max_entries: int, nr_hash_funcs: int) -> int:
    """``bloom_map_alloc``: the bit array size - 1."""
    nr_bits = max_entries * nr_hash_funcs
    if nr_bits > M32 or (nr_bits // 5) * 7 > M32 or (nr_bits // 5) * 7 > 1 << 31:
        return M32
    nr_bits = (nr_bits // 5) * 7
    nr_bits = 64 if nr_bits <= 64 else 1 << (nr_bits - 1).bit_length()
    return nr_bits - 1


class BloomFilterMap(MapObject):
    """``BPF_MAP_TYPE_BLOOM_FILTER`` (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None, *, map_extra: int = 0,
                 seed: int = 0) -> None:
        super().__init__(spec, machine, btf)
        self.nr_hash_funcs = (map_extra & 0xF) or 5
        self.bitset_mask = bloom_bitset_mask(spec.max_entries, self.nr_hash_funcs)
        self.hash_seed = 0 if spec.map_flags & BPF_F_ZERO_SEED else seed & M32
        self.bits: set[int] = set()
        self.base = machine.alloc.kzalloc(BPF_MAP_HEADER_SIZE + 16)
        spec.addr = self.base
        self._write_header(self.base)

    def _hashes(self, value: bytes) -> list[int]:
        value = value[:self.spec.value_size]
        f = jhash2 if len(value) % 4 == 0 else jhash
        return [f(value, (self.hash_seed + i) & M32) & self.bitset_mask for i in range(self.nr_hash_funcs)]

    def push(self, value: bytes, flags: int) -> None:
        if flags != BPF_ANY:
            raise KernelError(errno.EINVAL, "bloom filter push takes BPF_ANY only")
        self.bits.update(self._hashes(value))

    def peek(self, value: bytes | None = None) -> bytes:
        assert value is not None
        if not all(h in self.bits for h in self._hashes(value)):
            raise KernelError(errno.ENOENT, "not in the bloom filter")
        return value[:self.spec.value_size]

    def pop(self) -> bytes:
        raise KernelError(errno.EOPNOTSUPP, "bloom filters have no pop")

    def lookup(self, key: bytes) -> int:
        raise KernelError(errno.EINVAL, "bloom filters have no keyed lookup")

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise KernelError(errno.EINVAL, "bloom filters have no keyed update")

    def delete(self, key: bytes) -> None:
        raise KernelError(errno.EOPNOTSUPP, "bloom filters have no delete")

    def get_next_key(self, key: bytes | None) -> bytes:
        raise KernelError(errno.EOPNOTSUPP, "bloom filters have no keys")

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        self.push(value, flags)

    def release(self) -> None:
        self.m.alloc.kfree(self.base)
        super().release()
