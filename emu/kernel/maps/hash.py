"""Per-CPU and LRU hash maps (kernel/bpf/hashtab.c, kernel/bpf/bpf_lru_list.c, Linux 6.12).

* **percpu hash** (``BPF_MAP_TYPE_PERCPU_HASH``): a ``struct htab_elem`` whose
  value slot holds a per-CPU pointer (``htab_elem_set_ptr``) to
  ``round_up(value_size, 8)`` bytes on every CPU (``bpf_map_alloc_percpu``).
  A program's lookup gives this CPU's copy (``this_cpu_ptr``); a program's
  update of an existing key overwrites this CPU's copy in place, a new key gets
  the value on this CPU and zeroes elsewhere (``pcpu_init_value``); user space
  reads and writes every possible CPU's copy, one ``round_up(value_size, 8)``
  slot each (``bpf_percpu_hash_copy`` / ``bpf_percpu_hash_update``).
  Preallocated maps have no spare elements (``htab_has_extra_elems``).
* **LRU hash** (``BPF_MAP_TYPE_LRU_HASH``, ``LRU_PERCPU_HASH``): always
  preallocated, ``max_entries`` nodes. An update takes a free node *before*
  looking at the key (``htab_lru_map_update_elem`` -> ``prealloc_lru_pop``), so
  an update of a full map evicts even when it replaces a key or fails its
  flags check; per-CPU LRU maps take a node only for a new key. Nodes sit on
  an active and an inactive list with a reference bit that a program's lookup
  sets (user-space lookups do not: ``map_lookup_elem_sys_only``). Eviction as
  ``bpf_lru_list.c``: rotate (``__bpf_lru_list_rotate``: the active list when
  the inactive one is shorter, referenced inactive nodes back to active), then
  shrink the inactive list from its tail (referenced nodes move to active, the
  first unreferenced one is evicted), else force-evict the inactive (or active)
  tail. ``BPF_F_NO_COMMON_LRU`` gives each CPU its own lists and
  ``max_entries / nr_cpus`` nodes (``max_entries`` rounded to a multiple of
  the CPU count as ``htab_map_alloc`` does), evicting up to
  ``PERCPU_FREE_TARGET`` (4) nodes at once.

Where the model simplifies the common LRU: the kernel moves free nodes to a
per-CPU local free list in batches (``target_free``, up to
``LOCAL_FREE_TARGET`` = 128) and evicts to refill a batch, so it may evict
before the map is full and frees go back through per-CPU pending lists; here
one global free list feeds every CPU and a node is evicted only when no free
node is left. The inactive rotation scans from the tail each time instead of
resuming at ``next_inactive_rotation``.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Callable

from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError
from kernel_model.uapi import BPF_EXIST, BPF_F_LOCK, BPF_F_NO_COMMON_LRU, BPF_NOEXIST

from ..bpf_maps import HTAB_ELEM_SIZE, BtfObject, HashMap, Rcu, _round8

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = ["PercpuHashMap", "LruHashMap", "LruPercpuHashMap", "LruList", "LOCAL_NR_SCANS", "PERCPU_FREE_TARGET"]

#: kernel/bpf/bpf_lru_list.c
LOCAL_NR_SCANS = 128
PERCPU_FREE_TARGET = 4
PERCPU_NR_SCANS = PERCPU_FREE_TARGET


def _check_update_flags(flags: int) -> None:
    if (flags & ~BPF_F_LOCK) > BPF_EXIST:
        raise KernelError(errno.EINVAL, "unknown update flags")
    if flags & BPF_F_LOCK:
        raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")


def _check_flags(old: int | None, flags: int) -> None:
    """hashtab.c ``check_flags``."""
    if old is not None and flags & ~BPF_F_LOCK == BPF_NOEXIST:
        raise KernelError(errno.EEXIST, "the key exists (BPF_NOEXIST)")
    if old is None and flags & ~BPF_F_LOCK == BPF_EXIST:
        raise KernelError(errno.ENOENT, "no such key (BPF_EXIST)")


class _PercpuValues:
    """The per-CPU value slots of an element (``htab_elem_get_ptr``)."""

    m: "Machine"
    spec: MapSpec
    value_off: int

    def _pptr(self, elem: int) -> int:
        return struct.unpack("<Q", self.m.read(elem + self.value_off, 8))[0]

    def _cpu_addr(self, elem: int, cpu: int) -> int:
        return self.m.alloc.percpu_addr(self._pptr(elem), cpu)

    def _write_all(self, elem: int, value: bytes) -> None:
        """``pcpu_copy_value(onallcpus)``: one ``round_up(value_size, 8)`` slot per CPU."""
        size = _round8(self.spec.value_size)
        for cpu in range(self.m.nr_cpus):
            self.m.write(self._cpu_addr(elem, cpu), value[cpu * size:(cpu + 1) * size])

    def _write_this(self, elem: int, value: bytes, init: bool) -> None:
        """``pcpu_copy_value`` / ``pcpu_init_value`` from a program: this CPU's copy,
        zeroes on the others for a new element."""
        cpu = max(self.m.runner.cpu, 0)
        size = _round8(self.spec.value_size)
        for c in range(self.m.nr_cpus):
            if c == cpu:
                self.m.write(self._cpu_addr(elem, c), value[:self.spec.value_size])
            elif init:
                self.m.write(self._cpu_addr(elem, c), bytes(size))

    def _read_all(self, elem: int) -> bytes:
        size = _round8(self.spec.value_size)
        return b"".join(self.m.read(self._cpu_addr(elem, c), size) for c in range(self.m.nr_cpus))


class PercpuHashMap(_PercpuValues, HashMap):
    """``BPF_MAP_TYPE_PERCPU_HASH`` (see the module docstring)."""

    extra_elems = False

    def _value_slot(self) -> int:
        return 8  # htab_elem_set_ptr: a per-CPU pointer

    def __init__(self, spec: MapSpec, machine: "Machine", rcu: Rcu, btf: BtfObject | None = None, *,
                 hashrnd: int = 0) -> None:
        HashMap.__init__(self, spec, machine, rcu, btf, hashrnd=hashrnd)
        vsize = _round8(spec.value_size)
        if self.prealloc:  # prealloc_init: alloc_percpu for every element; on -ENOMEM all freed again
            try:
                ptrs = machine.alloc.alloc_percpu_many(len(self.freelist), vsize, 8)
            except KernelError:
                HashMap.release(self)
                raise
            for elem, ptr in zip(self.freelist, ptrs):
                self.m.write(elem + self.value_off, struct.pack("<Q", ptr))

    @property
    def sys_value_size(self) -> int:
        return _round8(self.spec.value_size) * self.m.nr_cpus

    def lookup(self, key: bytes) -> int:
        elem = self.table.get(key)
        return self._cpu_addr(elem, max(self.m.runner.cpu, 0)) if elem is not None else 0

    def lookup_this_cpu(self, key: bytes, cpu: int) -> int:
        elem = self.table.get(key)
        return self._cpu_addr(elem, cpu) if elem is not None else 0

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        elem = self.table.get(key)
        if elem is None:
            raise KernelError(errno.ENOENT, "no such element")
        return self._read_all(elem)

    def _new_elem(self) -> int:
        if self.prealloc:
            if not self.freelist:
                raise KernelError(errno.E2BIG, f"hash map is full ({self.spec.max_entries} entries)")
            return self.freelist.pop()
        if self.count + 1 > self.spec.max_entries:
            raise KernelError(errno.E2BIG, f"hash map is full ({self.spec.max_entries} entries)")
        elem = self.m.alloc.kzalloc(self.elem_size)
        self.m.write(elem + self.value_off, struct.pack("<Q", self.m.alloc.alloc_percpu(_round8(self.spec.value_size), 8)))
        return elem

    def _update(self, key: bytes, value: bytes, flags: int, onallcpus: bool) -> None:
        """``__htab_percpu_map_update_elem``: in place for an existing key."""
        _check_update_flags(flags)
        old = self.table.get(key)
        _check_flags(old, flags)
        if old is not None:
            if onallcpus:
                self._write_all(old, value)
            else:
                self._write_this(old, value, init=False)
            return
        elem = self._new_elem()
        self.m.write(elem + HTAB_ELEM_SIZE, key)
        if onallcpus:
            self._write_all(elem, value)
        else:
            self._write_this(elem, value, init=True)
        self.table[key] = elem
        self._link(key)
        self.count += 1

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        self._update(key, value, flags, onallcpus=False)

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        self._update(key, value, flags, onallcpus=True)

    def delete(self, key: bytes) -> None:
        elem = self.table.pop(key, None)
        if elem is None:
            raise KernelError(errno.ENOENT, "no such key")
        self._seq.pop(key, None)
        self.count -= 1
        if self.prealloc:
            self.freelist.append(elem)
        else:
            def free(a: int = elem) -> None:
                self.m.alloc.free_percpu(self._pptr(a))
                self.m.alloc.kfree(a)
            self.rcu.call_rcu(free)

    def release(self) -> None:
        elems = list(self.table.values()) + (self.freelist if self.prealloc else [])
        for elem in elems:
            self.m.alloc.free_percpu(self._pptr(elem))
        HashMap.release(self)


class LruList:
    """One ``struct bpf_lru_list``: active and inactive lists (index 0 = head), a
    free list, reference bits (see the module docstring)."""

    def __init__(self, nodes: list[int], nr_scans: int, target: int, percpu: bool = False) -> None:
        #: bpf_percpu_lru_pop_free rotates on every pop; the common LRU when it refills
        self.percpu = percpu
        self.free = list(nodes)
        self.active: list[int] = []
        self.inactive: list[int] = []
        self.ref: set[int] = set()
        self.nr_scans = nr_scans
        self.target = target

    def _move(self, node: int, to: list[int]) -> None:
        """``__bpf_lru_node_move``: to the head of ``to``, reference bit cleared."""
        src = self.active if node in self.active else self.inactive
        src.remove(node)
        self.ref.discard(node)
        to.insert(0, node)

    def rotate(self) -> None:
        """``__bpf_lru_list_rotate``."""
        if len(self.inactive) < len(self.active):  # __bpf_lru_list_inactive_low
            for i, node in enumerate(reversed(list(self.active))):
                self._move(node, self.active if node in self.ref else self.inactive)
                if i + 1 == self.nr_scans:
                    break
        for i, node in enumerate(reversed(list(self.inactive))):
            if node in self.ref:
                self._move(node, self.active)
            if i + 1 == self.nr_scans:
                break

    def shrink(self, evict: Callable[[int], bool]) -> int:
        """``__bpf_lru_list_shrink``: evict up to ``target`` nodes to the free list."""
        n = 0
        for i, node in enumerate(reversed(list(self.inactive))):
            if node in self.ref:
                self._move(node, self.active)
            elif evict(node):
                self.inactive.remove(node)
                self.free.append(node)
                n += 1
                if n == self.target:
                    break
            if i + 1 == self.nr_scans:
                break
        if n:
            return n
        victims = self.inactive if self.inactive else self.active
        for node in reversed(list(victims)):
            if evict(node):
                victims.remove(node)
                self.ref.discard(node)
                self.free.append(node)
                return 1
        return 0

    def pop_free(self, evict: Callable[[int], bool]) -> int | None:
        """``bpf_percpu_lru_pop_free`` (rotate, shrink when no node is free) or the
        common LRU's refill (rotate and shrink only when no node is free)."""
        if self.percpu:
            self.rotate()
        if not self.free:
            if not self.percpu:
                self.rotate()
            self.shrink(evict)
        if not self.free:
            return None
        node = self.free.pop(0)
        self.inactive.insert(0, node)
        return node

    def push_free(self, node: int) -> None:
        for lst in (self.active, self.inactive):
            if node in lst:
                lst.remove(node)
        self.ref.discard(node)
        self.free.append(node)


class LruHashMap(HashMap):
    """``BPF_MAP_TYPE_LRU_HASH`` (see the module docstring)."""

    percpu_values = False
    extra_elems = False

    def _value_slot(self) -> int:
        return 8 if self.percpu_values else _round8(self.spec.value_size)

    def __init__(self, spec: MapSpec, machine: "Machine", rcu: Rcu, btf: BtfObject | None = None, *,
                 hashrnd: int = 0) -> None:
        self.percpu_lru = bool(spec.map_flags & BPF_F_NO_COMMON_LRU)
        ncpu = machine.nr_cpus
        if self.percpu_lru:  # htab_map_alloc: max_entries a multiple of the CPU count
            n = -(-spec.max_entries // ncpu) * ncpu
            if n < spec.max_entries:  # pragma: no cover - overflow of u32 only
                n = spec.max_entries // ncpu * ncpu
            spec.max_entries = n
        HashMap.__init__(self, spec, machine, rcu, btf, hashrnd=hashrnd)
        # all nodes, none spare (htab_has_extra_elems is false for LRU maps)
        nodes = sorted(self.freelist)
        self.freelist = []
        self._node_key: dict[int, bytes] = {}
        if self.percpu_lru:
            per = spec.max_entries // ncpu
            self.lists = [LruList(nodes[c * per:(c + 1) * per], PERCPU_NR_SCANS, PERCPU_FREE_TARGET, True)
                          for c in range(ncpu)]
            self._owner = {n: c for c in range(ncpu) for n in nodes[c * per:(c + 1) * per]}
        else:
            self.lists = [LruList(nodes, LOCAL_NR_SCANS, 1)]
            self._owner = {n: 0 for n in nodes}

    def _lru(self, node: int | None = None) -> LruList:
        if node is not None:
            return self.lists[self._owner[node]]
        return self.lists[max(self.m.runner.cpu, 0) if self.percpu_lru else 0]

    def _evict(self, node: int) -> bool:
        """``htab_lru_map_delete_node``: unlink the node's key from the table."""
        key = self._node_key.pop(node, None)
        if key is None or self.table.get(key) != node:
            return False
        del self.table[key]
        self._seq.pop(key, None)
        self.count -= 1
        return True

    def _pop(self) -> int:
        node = self._lru().pop_free(self._evict)
        if node is None:
            raise KernelError(errno.ENOMEM, "no LRU node could be freed")
        return node

    def lookup(self, key: bytes) -> int:
        elem = self.table.get(key)
        if elem is None:
            return 0
        self._lru(elem).ref.add(elem)  # bpf_lru_node_set_ref
        return elem + self.value_off

    def lookup_sys_only(self, key: bytes) -> int:
        elem = self.table.get(key)
        return elem + self.value_off if elem is not None else 0

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        """``htab_lru_map_update_elem``."""
        _check_update_flags(flags)
        new = self._pop()
        self._fill(new, key, value[:self.spec.value_size])
        old = self.table.get(key)
        try:
            _check_flags(old, flags)
        except KernelError:
            self._lru(new).push_free(new)
            raise
        self.table[key] = new
        self._node_key[new] = key
        self._link(key)
        if old is None:
            self.count += 1
        else:
            self._node_key.pop(old, None)
            self._lru(old).push_free(old)

    def delete(self, key: bytes) -> None:
        elem = self.table.pop(key, None)
        if elem is None:
            raise KernelError(errno.ENOENT, "no such key")
        self._seq.pop(key, None)
        self._node_key.pop(elem, None)
        self.count -= 1
        self._lru(elem).push_free(elem)

    def release(self) -> None:
        self.prealloc = True
        HashMap.release(self)


class LruPercpuHashMap(_PercpuValues, LruHashMap):
    """``BPF_MAP_TYPE_LRU_PERCPU_HASH``: LRU nodes with per-CPU values."""

    percpu_values = True

    def __init__(self, spec: MapSpec, machine: "Machine", rcu: Rcu, btf: BtfObject | None = None, *,
                 hashrnd: int = 0) -> None:
        LruHashMap.__init__(self, spec, machine, rcu, btf, hashrnd=hashrnd)
        vsize = _round8(spec.value_size)
        try:  # on -ENOMEM what was allocated is freed again
            ptrs = machine.alloc.alloc_percpu_many(len(self._owner), vsize, 8)
        except KernelError:
            LruHashMap.release(self)
            raise
        for node, ptr in zip(self._owner, ptrs):
            self.m.write(node + self.value_off, struct.pack("<Q", ptr))

    @property
    def sys_value_size(self) -> int:
        return _round8(self.spec.value_size) * self.m.nr_cpus

    def lookup(self, key: bytes) -> int:
        elem = self.table.get(key)
        if elem is None:
            return 0
        self._lru(elem).ref.add(elem)
        return self._cpu_addr(elem, max(self.m.runner.cpu, 0))

    def lookup_this_cpu(self, key: bytes, cpu: int) -> int:
        elem = self.table.get(key)
        return self._cpu_addr(elem, cpu) if elem is not None else 0

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        elem = self.table.get(key)
        if elem is None:
            raise KernelError(errno.ENOENT, "no such element")
        return self._read_all(elem)

    def _update(self, key: bytes, value: bytes, flags: int, onallcpus: bool) -> None:
        """``__htab_lru_percpu_map_update_elem``: a node only for a new key."""
        _check_update_flags(flags)
        new = None
        if not flags & BPF_EXIST:
            new = self._pop()
        old = self.table.get(key)
        try:
            _check_flags(old, flags)
        except KernelError:
            if new is not None:
                self._lru(new).push_free(new)
            raise
        if old is not None:
            self._lru(old).ref.add(old)
            (self._write_all if onallcpus else lambda e, v: self._write_this(e, v, False))(old, value)
            if new is not None:
                self._lru(new).push_free(new)
            return
        assert new is not None
        self.m.write(new + HTAB_ELEM_SIZE, key)
        if onallcpus:
            self._write_all(new, value)
        else:
            self._write_this(new, value, init=True)
        self.table[key] = new
        self._node_key[new] = key
        self._link(key)
        self.count += 1

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        self._update(key, value, flags, onallcpus=False)

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        self._update(key, value, flags, onallcpus=True)

    def release(self) -> None:
        for node in self._owner:
            self.m.alloc.free_percpu(self._pptr(node))
        LruHashMap.release(self)
