"""Longest-prefix-match tries (kernel/bpf/lpm_trie.c, Linux 6.12 as Debian ships it).

Keys are ``struct bpf_lpm_trie_key_u8``: a u32 ``prefixlen`` then
``key_size - 4`` data bytes (``max_prefixlen`` = 8 * that). An element is
identified by its prefix length and the first ``prefixlen`` bits; it keeps
the full data bytes of its last update (``memcpy(new_node->data, key->data)``).

* lookup (``trie_lookup_elem``, from programs and user space): the element
  with the longest prefix that matches the key's first ``key.prefixlen`` bits
  (NULL / ``-ENOENT`` when none, or when ``prefixlen`` exceeds the maximum).
* update (``trie_update_elem``): flags above ``BPF_EXIST`` or a prefix longer
  than the maximum ``-EINVAL``; an existing element is replaced (``BPF_NOEXIST``:
  ``-EEXIST``) -- a new node, the old freed after RCU, so a value pointer a
  program holds keeps the old bytes; a new one (``trie_check_add_elem``) is
  ``-ENOENT`` with ``BPF_EXIST`` and ``-ENOSPC`` when ``max_entries`` are in use.
* delete (``trie_delete_elem``): exact prefix, else ``-ENOENT``.
* get_next_key (``trie_get_next_key``): post-order of the binary trie --
  longer prefixes before the prefix they extend, the 0 branch before the 1
  branch; a NULL key, or one that is not an element, gives the first.

Where we differ: the trie's nodes (and intermediate nodes) are not laid out
in emulated memory; each element's value is its own ``kmalloc`` block there.
"""

from __future__ import annotations

import errno
import struct
from functools import partial
from typing import TYPE_CHECKING

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError
from kernel_model.uapi import BPF_EXIST, BPF_NOEXIST

from ..bpf_maps import BPF_MAP_HEADER_SIZE, BtfObject, MapObject, Rcu, _round8

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["LpmTrieMap"]


class LpmTrieMap(MapObject):
    """``BPF_MAP_TYPE_LPM_TRIE`` (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", rcu: Rcu, btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.rcu = rcu
        self.data_size = spec.key_size - 4
        self.max_prefixlen = 8 * self.data_size
        #: (prefixlen, prefix bits as a '0'/'1' string) -> (full data bytes, value address)
        self.elems: dict[tuple[int, str], tuple[bytes, int]] = {}
        self.base = machine.alloc.kzalloc(BPF_MAP_HEADER_SIZE + 64)
        spec.addr = self.base
        self._write_header(self.base)

    def _split(self, key: bytes) -> tuple[int, bytes]:
        return struct.unpack_from("<I", key)[0], key[4:4 + self.data_size]

    @staticmethod
    def _bits(data: bytes, n: int) -> str:
        return "".join(format(b, "08b") for b in data)[:n]

    def _match(self, key: bytes) -> tuple[bytes, int] | None:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return None
        bits = self._bits(data, plen)
        for n in range(plen, -1, -1):
            hit = self.elems.get((n, bits[:n]))
            if hit is not None:
                return hit
        return None

    def lookup(self, key: bytes) -> int:
        hit = self._match(key)
        return hit[1] if hit is not None else 0

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        if flags > BPF_EXIST:
            raise KernelError(errno.EINVAL, "unknown update flags")
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            raise KernelError(errno.EINVAL, f"prefixlen {plen} is above {self.max_prefixlen}")
        ident = (plen, self._bits(data, plen))
        old = self.elems.get(ident)
        if old is not None:
            if flags == BPF_NOEXIST:
                raise KernelError(errno.EEXIST, "the prefix exists (BPF_NOEXIST)")
        elif flags == BPF_EXIST:
            raise KernelError(errno.ENOENT, "no such prefix (BPF_EXIST)")
        elif len(self.elems) >= self.spec.max_entries:
            raise KernelError(errno.ENOSPC, f"LPM trie is full ({self.spec.max_entries} entries)")
        addr = self.m.alloc.kzalloc(_round8(self.spec.value_size))
        self.m.write(addr, value[:self.spec.value_size])
        self.elems[ident] = (bytes(data), addr)
        if old is not None:
            self.rcu.call_rcu(partial(self.m.alloc.kfree, old[1]))

    def delete(self, key: bytes) -> None:
        plen, data = self._split(key)
        old = self.elems.pop((plen, self._bits(data, plen)), None) if plen <= self.max_prefixlen else None
        if old is None:
            raise KernelError(errno.ENOENT, "no such prefix")
        self.rcu.call_rcu(partial(self.m.alloc.kfree, old[1]))

    def _order(self) -> list[tuple[int, str]]:
        return sorted(self.elems, key=lambda ident: ident[1] + "2")

    def get_next_key(self, key: bytes | None) -> bytes:
        order = self._order()
        i = 0
        if key is not None:
            plen, data = self._split(key)
            ident = (plen, self._bits(data, plen))
            if plen <= self.max_prefixlen and ident in self.elems:
                i = order.index(ident) + 1
        if i >= len(order):
            raise KernelError(errno.ENOENT, "last element")
        nxt = order[i]
        return struct.pack("<I", nxt[0]) + self.elems[nxt][0]

    def release(self) -> None:
        for _, addr in self.elems.values():
            self.m.alloc.kfree(addr)
        self.elems.clear()
        self.m.alloc.kfree(self.base)
        super().release()
