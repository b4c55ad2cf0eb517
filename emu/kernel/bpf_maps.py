"""BPF maps whose storage is emulated kernel memory: array, hash, struct_ops.

The bytes a program reads and writes through a map value pointer are the
machine's memory, so what the JIT'd program stores is what
``BPF_MAP_LOOKUP_ELEM`` returns. The map operations are the same functions for
both callers, as ``map->ops`` are in the kernel: the ``bpf_map_*_elem`` helpers
(Python-serviced stubs, :mod:`emu.kernel.bpf_helpers`) and the ``bpf()`` commands.

Models (Linux 6.12 sources, layouts of the 6.18 host's BTF):

Create-time checks of every type are the facts of
:mod:`kernel_model.bpf_facts.map_types` (``BPF_MAP_CREATE`` in
:mod:`emu.kernel.syscall`); which class models which type: :mod:`emu.kernel.maps`.

* **array** (kernel/bpf/arraymap.c): one ``struct bpf_array`` with the
  values inline at offset 312 (``offsetof(struct bpf_array, value)`` on the
  host), each ``round_up(value_size, 8)`` bytes; lookup of an index past
  ``max_entries`` is NULL (``-ENOENT`` from the syscall); update flags above
  ``BPF_EXIST`` are ``-EINVAL``, an index past the end ``-E2BIG``,
  ``BPF_NOEXIST`` ``-EEXIST`` (every element exists), ``BPF_F_LOCK`` without a
  spin lock ``-EINVAL``; delete ``-EINVAL``.
* **hash** (kernel/bpf/hashtab.c): elements are
  ``struct htab_elem`` (48 bytes on the host) + key + value, each rounded to 8.
  Preallocated maps (the default) carve ``max_entries`` elements plus one
  spare per CPU (``htab->extra_elems``) out of one area; an update of an
  existing key fills the CPU's spare and swaps it in, so a value pointer a
  program holds keeps the old bytes (``alloc_htab_elem``); a full map is
  ``-E2BIG``; ``BPF_NOEXIST`` on an existing key ``-EEXIST``, ``BPF_EXIST`` on a
  missing one ``-ENOENT``; delete of a missing key ``-ENOENT``.
  ``BPF_F_NO_PREALLOC`` maps ``kmalloc`` each element and free the old one
  after an RCU grace period, which here ends when the running program or the
  syscall returns (:class:`Rcu`).
* **struct_ops** (kernel/bpf/bpf_struct_ops.c): the model of
  :mod:`kernel_model.struct_ops_map` with this machine as its
  :class:`~kernel_model.struct_ops_map.KernelMemory`.

The ``struct bpf_map`` header (296 bytes on the host) holds ``map_type``,
``key_size``, ``value_size``, ``max_entries``, ``map_flags`` and ``id`` at the
host's offsets, so a listing or a kernel-side read sees a plausible object.

``BPF_MAP_GET_NEXT_KEY`` walks an array by index and a hash bucket by
bucket (``htab_map_hash``: jhash of the key seeded with ``hashrnd``, which
is 0 with ``BPF_F_ZERO_SEED`` -- then the order is the kernel's -- and
otherwise a per-kernel seeded random value, as unpredictable as the
kernel's), newest first within a bucket; a key that is not in the map
restarts the walk. ``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` works on the hash types
(and pops queues and stacks).

Not modelled: batch operations, ``BPF_F_LOCK`` (spin locks), mmap of arrays.
"""

from __future__ import annotations

import errno
import struct
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError
from kernel_model.struct_ops_map import StructOpsMap
from kernel_model.uapi import (BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_MMAPABLE,
                               BPF_F_NO_PREALLOC, BPF_F_RDONLY,
                               BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG, BPF_F_ZERO_SEED, BPF_NOEXIST,
                               BPF_OBJ_NAME_LEN, PAGE_SIZE)

from .bpf_objects import BpfObject, BtfObject
from .kptr_fields import free_fields, without_kptrs

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine import Machine

__all__ = [
    "MapObject", "ArrayMap", "HashMap", "StructOpsMapObject", "Rcu", "MachineKernelMemory",
    "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "BPF_F_LOCK", "BPF_F_NO_PREALLOC", "BPF_F_RDONLY",
    "BPF_F_WRONLY", "BPF_F_RDONLY_PROG", "BPF_F_WRONLY_PROG", "BPF_F_MMAPABLE", "BPF_MAP_HEADER_SIZE",
    "ARRAY_VALUE_OFFSET", "HTAB_ELEM_SIZE", "check_obj_name",
]

#: sizeof(struct bpf_map) and offsetof(struct bpf_array, value), 6.18 host BTF
BPF_MAP_HEADER_SIZE = 296
ARRAY_VALUE_OFFSET = 312
#: sizeof(struct htab_elem): the key follows (6.18 host BTF)
HTAB_ELEM_SIZE = 48
#: bpf_map_area_alloc: kmalloc up to PAGE_SIZE << PAGE_ALLOC_COSTLY_ORDER, vmalloc above
_KMALLOC_LIMIT = PAGE_SIZE << 3
#: the kernel-internal ENOTSUPP (include/linux/errno.h)
ENOTSUPP_ = 524
_QUEUE_STACK = (MAP_TYPES["BPF_MAP_TYPE_QUEUE"], MAP_TYPES["BPF_MAP_TYPE_STACK"])
_HASH_TYPES = (MAP_TYPES["BPF_MAP_TYPE_HASH"], MAP_TYPES["BPF_MAP_TYPE_PERCPU_HASH"],
               MAP_TYPES["BPF_MAP_TYPE_LRU_HASH"], MAP_TYPES["BPF_MAP_TYPE_LRU_PERCPU_HASH"])


def _round8(n: int) -> int:
    return (n + 7) & ~7


def check_obj_name(name: str, what: str) -> str:
    """The name as the kernel stores it. The attribute is ``char[BPF_OBJ_NAME_LEN]``;
    like libbpf's ``bpf_map_create``/``bpf_prog_load`` wrappers (``libbpf_strlcpy``)
    we keep the first 15 bytes, then ``bpf_obj_name_cpy`` refuses any character
    outside ``[A-Za-z0-9_.]`` with ``-EINVAL``."""
    name = name.encode()[:BPF_OBJ_NAME_LEN - 1].decode("latin-1")
    for ch in name:
        if not (ch.isascii() and (ch.isalnum() or ch in "_.")):
            raise KernelError(errno.EINVAL, f"{what} name {name!r}: only letters, digits, '_' and '.' allowed")
    return name


class Rcu:
    """Frees deferred to the end of an RCU grace period (``call_rcu``/``kfree_rcu``).
    The kernel runs BPF programs inside RCU read-side sections; here a grace
    period ends when the syscall or the program run that queued the free returns."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []

    def call_rcu(self, fn: Callable[[], None]) -> None:
        self.pending.append(fn)

    def synchronize(self) -> None:
        while self.pending:
            fns, self.pending = self.pending, []
            for fn in fns:
                fn()


class MachineKernelMemory:
    """The machine as :class:`kernel_model.struct_ops_map.KernelMemory`: ``kzalloc``
    for the kernel value, ``arch_alloc_bpf_trampoline`` (a ``bpf_prog_pack`` block of
    PAGE_SIZE, read-execute from the start) for image pages; code is written with
    ``bpf_arch_text_copy``, so ``arch_protect_bpf_trampoline`` has nothing left to
    do (x86-64 since 6.10: it returns 0 for pack memory)."""

    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self.pages: set[int] = set()

    def alloc(self, size: int) -> int:
        return self.m.alloc.kzalloc(size)

    def free(self, addr: int) -> None:
        self.m.alloc.kfree(addr)

    def alloc_image_page(self) -> int:
        page = self.m.packs.alloc_trampoline(4096)
        self.pages.add(page)
        return page

    def free_image_page(self, addr: int) -> None:
        self.pages.discard(addr)
        self.m.packs.free_trampoline(addr)

    def protect_image_page(self, addr: int) -> None:
        pass

    def _in_image(self, addr: int) -> bool:
        return any(p <= addr < p + 4096 for p in self.pages)

    def write(self, addr: int, data: bytes) -> None:
        if self._in_image(addr):
            self.m.packs.text_copy(addr, data)
        else:
            self.m.write(addr, data)

    def read(self, addr: int, size: int) -> bytes:
        return self.m.mem.peek(addr, size)


class MapObject(BpfObject):
    """A created map: its :class:`MapSpec` (what the verifier sees), its BTF, its
    storage. Subclasses implement the three operations for both callers; the
    ``*_sys`` wrappers add the syscall's permission and copy rules."""

    kind = "map"

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.m = machine
        self.btf = btf
        self.btf_key_type_id = 0
        self.btf_value_type_id = 0
        self.btf_vmlinux_value_type_id = 0
        #: struct_ops maps: the id of the BTF holding the value type (bpf_map_struct_ops_info_fill)
        self.btf_vmlinux_id = 0

    # --- the struct bpf_map header -----------------------------------------------------
    def _write_header(self, base: int) -> None:
        s = self.spec
        hdr = bytearray(BPF_MAP_HEADER_SIZE)
        struct.pack_into("<IIII", hdr, 64, s.map_type, s.key_size, s.value_size, s.max_entries)
        struct.pack_into("<II", hdr, 88, s.map_flags, s.id)
        hdr[136:136 + len(s.name)] = s.name.encode()
        self.m.write(base, bytes(hdr))

    def set_id(self, map_id: int) -> None:
        self.spec.id = map_id
        self.id = map_id
        if self.spec.addr:
            self.m.mem.write_u32(self.spec.addr + 92, map_id)

    # --- operations (map->ops), shared by helpers and syscalls ---------------------------------
    def lookup(self, key: bytes) -> int:
        """``map_lookup_elem``: the value's address, 0 when absent."""
        raise KernelError(errno.EOPNOTSUPP, f"{self.spec.type_name} has no lookup")

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        raise KernelError(errno.EOPNOTSUPP, f"{self.spec.type_name} has no update")

    def delete(self, key: bytes) -> None:
        raise KernelError(errno.EOPNOTSUPP, f"{self.spec.type_name} has no delete")

    def get_next_key(self, key: bytes | None) -> bytes:
        """``map_get_next_key``: the key after ``key`` (the first for None or a missing key)."""
        raise KernelError(errno.EOPNOTSUPP, f"{self.spec.type_name} has no get_next_key")

    def push(self, value: bytes, flags: int) -> None:
        """``map_push_elem`` (queue, stack, bloom filter)."""
        raise KernelError(errno.EOPNOTSUPP, f"{self.spec.type_name} has no push")

    def pop(self) -> bytes:
        """``map_pop_elem`` (queue, stack)."""
        raise KernelError(errno.EOPNOTSUPP, f"{self.spec.type_name} has no pop")

    def peek(self, value: bytes | None = None) -> bytes:
        """``map_peek_elem`` (queue, stack; a bloom filter tests ``value``)."""
        raise KernelError(errno.EOPNOTSUPP, f"{self.spec.type_name} has no peek")

    def lookup_this_cpu(self, key: bytes, cpu: int) -> int:
        """``bpf_map_lookup_percpu_elem`` (per-CPU maps): ``cpu``'s copy, 0 when absent."""
        return 0

    def on_fd_release(self) -> None:
        """``map_release_uref``: the last user reference (fd) went (prog arrays clear themselves)."""

    # --- the syscall side (kernel/bpf/syscall.c map_lookup_elem / map_update_elem) -----------------
    @property
    def sys_value_size(self) -> int:
        """``bpf_map_value_size``: what one user-space value is (per-CPU maps: every
        possible CPU's ``round_up(value_size, 8)``; fd maps: a u32)."""
        return self.spec.value_size

    def _key(self, key: bytes) -> bytes:
        if len(key) != self.spec.key_size:
            raise KernelError(errno.EINVAL, f"key is {len(key)} bytes, the map's key_size is {self.spec.key_size}")
        return bytes(key)

    def _check_read(self) -> None:
        if self.spec.map_flags & BPF_F_WRONLY:
            raise KernelError(errno.EPERM, "map was created with BPF_F_WRONLY")

    def _check_write(self) -> None:
        if self.frozen or self.spec.map_flags & BPF_F_RDONLY:
            raise KernelError(errno.EPERM, "map is frozen" if self.frozen else "map was created with BPF_F_RDONLY")

    def copy_value_sys(self, key: bytes, flags: int) -> bytes:
        """``bpf_map_copy_value``: the generic case reads the element the lookup finds."""
        addr = self.lookup_sys_only(key)
        if not addr:
            raise KernelError(errno.ENOENT, "no such element")
        return self.m.read(addr, self.spec.value_size)

    def lookup_sys_only(self, key: bytes) -> int:
        """``map_lookup_elem_sys_only`` where a type has one (LRU: no reference bit), else lookup."""
        return self.lookup(key)

    def update_value_sys(self, key: bytes, value: bytes, flags: int) -> None:
        """``bpf_map_update_value``: the generic case is the type's update."""
        self.update(key, value, flags)

    def lookup_sys(self, key: bytes, flags: int = 0) -> bytes:
        if flags & ~BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "unknown lookup flags")
        self._check_read()
        if flags & BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")
        return self.copy_value_sys(self._key(key), flags)

    def test_value_sys(self, value: bytes, flags: int = 0) -> bytes:
        """``BPF_MAP_LOOKUP_ELEM`` of a bloom filter: ``map_peek_elem`` of the user's value."""
        if flags & ~BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "unknown lookup flags")
        self._check_read()
        if len(value) != self.spec.value_size:
            raise KernelError(errno.EINVAL, f"value is {len(value)} bytes, value_size is {self.spec.value_size}")
        return self.peek(value)

    def update_sys(self, key: bytes, value: bytes, flags: int) -> None:
        self._check_write()
        if flags & BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")
        if len(value) != self.sys_value_size:
            raise KernelError(errno.EINVAL, f"value is {len(value)} bytes, the map's value is "
                                            f"{self.sys_value_size} bytes from user space")
        self.update_value_sys(self._key(key), bytes(value), flags)

    def delete_sys(self, key: bytes) -> None:
        self._check_write()
        self.delete(self._key(key))

    def get_next_key_sys(self, key: bytes | None) -> bytes:
        """``BPF_MAP_GET_NEXT_KEY`` (``key`` None: the first key)."""
        self._check_read()
        return self.get_next_key(None if key is None else self._key(key))

    def lookup_and_delete_sys(self, key: bytes, flags: int = 0) -> bytes:
        """``BPF_MAP_LOOKUP_AND_DELETE_ELEM``: pop for queues and stacks, lookup + delete
        for the four hash types, ``-ENOTSUPP`` for the rest (6.12 ``map_lookup_and_delete_elem``)."""
        if flags & ~BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "unknown flags")
        if self.spec.map_flags & BPF_F_WRONLY:
            raise KernelError(errno.EPERM, "map was created with BPF_F_WRONLY")
        self._check_write()
        if flags and self.spec.map_type in _QUEUE_STACK:
            raise KernelError(errno.EINVAL, "queue/stack pop takes no flags")
        if flags & BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")
        k = self._key(key)
        if self.spec.map_type in _QUEUE_STACK:
            return self.pop()
        if self.spec.map_type in _HASH_TYPES:
            value = self.copy_value_sys(k, 0)
            self.delete(k)
            return value
        raise KernelError(ENOTSUPP_, f"{self.spec.type_name} has no lookup_and_delete")

    def info(self) -> dict[str, Any]:
        s = self.spec
        return dict(id=s.id, type=s.map_type, key_size=s.key_size, value_size=s.value_size,
                    max_entries=s.max_entries, map_flags=s.map_flags, name=s.name,
                    btf_id=self.btf.id if self.btf is not None else 0,
                    btf_vmlinux_value_type_id=self.btf_vmlinux_value_type_id, btf_vmlinux_id=self.btf_vmlinux_id,
                    frozen=self.frozen)

    @property
    def frozen(self) -> bool:
        """``map->frozen`` (kept in the spec, where the verifier reads it)."""
        return self.spec.frozen

    @frozen.setter
    def frozen(self, value: bool) -> None:
        self.spec.frozen = value

    #: what ``bpf_obj_free_fields`` calls (destructors, local drops); set by the kernel at map_create
    freer: Any = None

    def _record(self) -> Any:
        """The value's ``btf_record`` with fields (None without one or for an erroneous one)."""
        rec = getattr(self.spec, "record", None)
        return rec if rec is not None and rec.fields else None

    def _free_fields(self, value_addr: int) -> None:
        """``bpf_obj_free_fields(map->record, value)`` (:mod:`emu.kernel.kptr_fields`)."""
        rec = self._record()
        if rec is not None:
            free_fields(self.m, rec, value_addr, self.freer)

    def release(self) -> None:
        if self.btf is not None:
            self.btf.put()
            self.btf = None


def _alloc_area(m: "Machine", size: int) -> tuple[int, bool]:
    """``bpf_map_area_alloc``: zeroed; kmalloc when small, vmalloc above."""
    if size <= _KMALLOC_LIMIT:
        return m.alloc.kzalloc(size), False
    try:
        return m.alloc.vmalloc(size), True
    except KernelError:
        raise KernelError(errno.ENOMEM, f"cannot allocate {size} bytes for the map") from None


def _free_area(m: "Machine", addr: int, vmalloced: bool) -> None:
    if vmalloced:
        m.alloc.vfree(addr)
    else:
        m.alloc.kfree(addr)


class ArrayMap(MapObject):
    """``BPF_MAP_TYPE_ARRAY`` (see the module docstring)."""

    def __init__(self, spec: MapSpec, machine: "Machine", btf: BtfObject | None = None) -> None:
        super().__init__(spec, machine, btf)
        self.elem_size = _round8(spec.value_size)
        size = ARRAY_VALUE_OFFSET + self.elem_size * spec.max_entries
        self.base, self._vm = _alloc_area(machine, size)
        spec.addr = self.base
        spec.value_addr = self.base + ARRAY_VALUE_OFFSET
        self._write_header(self.base)
        # elem_size and index_mask (round_up_pow_of_two(max_entries) - 1), as array_map_alloc
        mask = (1 << (spec.max_entries - 1).bit_length()) - 1
        machine.write(self.base + BPF_MAP_HEADER_SIZE, struct.pack("<II", self.elem_size, mask))
        spec.direct_read = self._direct_read

    def _direct_read(self, off: int, size: int) -> bytes | int:
        """``array_map_direct_value_addr`` (kernel/bpf/arraymap.c): element 0's value,
        ``-ENOTSUPP`` unless the map has one entry, ``-EINVAL`` past the value; then the
        verifier's read of ``size`` bytes there."""
        if self.spec.max_entries != 1:
            return -ENOTSUPP_
        if off >= self.spec.value_size:
            return -errno.EINVAL
        return self.m.read(self.spec.value_addr + off, size)

    def _index(self, key: bytes) -> int:
        return struct.unpack_from("<I", key)[0]

    def lookup(self, key: bytes) -> int:
        i = self._index(key)
        if i >= self.spec.max_entries:
            return 0
        return self.spec.value_addr + i * self.elem_size

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            raise KernelError(errno.EINVAL, "unknown update flags")
        i = self._index(key)
        if i >= self.spec.max_entries:
            raise KernelError(errno.E2BIG, f"index {i} is past max_entries {self.spec.max_entries}")
        if flags & BPF_NOEXIST:
            raise KernelError(errno.EEXIST, "every array element exists")
        if flags & BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")
        addr = self.spec.value_addr + i * self.elem_size
        # array_map_update_elem: copy_map_value (not the kptrs), then bpf_obj_free_fields
        self._free_fields(addr)
        self.m.write(addr, without_kptrs(self._record(), value[:self.spec.value_size]))

    def delete(self, key: bytes) -> None:
        raise KernelError(errno.EINVAL, "array elements cannot be deleted")

    def get_next_key(self, key: bytes | None) -> bytes:
        """``array_map_get_next_key``: index + 1; 0 for no key or one past the end;
        ``-ENOENT`` after the last."""
        i = 0xFFFF_FFFF if key is None else self._index(key)
        if i >= self.spec.max_entries:
            return struct.pack("<I", 0)
        if i == self.spec.max_entries - 1:
            raise KernelError(errno.ENOENT, "last element")
        return struct.pack("<I", i + 1)

    def release(self) -> None:
        if self.freer is not None and self._record() is not None:  # array_map_free
            for i in range(self.spec.max_entries):
                self._free_fields(self.spec.value_addr + i * self.elem_size)
        _free_area(self.m, self.base, self._vm)
        super().release()


class HashMap(MapObject):
    """``BPF_MAP_TYPE_HASH`` (see the module docstring)."""

    #: ``htab_has_extra_elems``: one spare element per CPU (not for per-CPU or LRU maps)
    extra_elems = True

    def _value_slot(self) -> int:
        """The bytes after the key: the value (per-CPU maps: a per-CPU pointer)."""
        return _round8(self.spec.value_size)

    def __init__(self, spec: MapSpec, machine: "Machine", rcu: Rcu, btf: BtfObject | None = None, *,
                 hashrnd: int = 0) -> None:
        super().__init__(spec, machine, btf)
        self.rcu = rcu
        self.key_off = HTAB_ELEM_SIZE
        self.value_off = HTAB_ELEM_SIZE + _round8(spec.key_size)
        self.elem_size = self.value_off + self._value_slot()
        self.prealloc = not spec.map_flags & BPF_F_NO_PREALLOC
        self.base, self._vm = _alloc_area(machine, BPF_MAP_HEADER_SIZE + 64)
        spec.addr = self.base
        self._write_header(self.base)
        self.table: dict[bytes, int] = {}
        self.count = 0
        #: htab->hashrnd: 0 with BPF_F_ZERO_SEED, else get_random_u32 (the kernel's seeded generator)
        self.hashrnd = 0 if spec.map_flags & BPF_F_ZERO_SEED else hashrnd & 0xFFFF_FFFF
        self.n_buckets = 1 << max(spec.max_entries - 1, 0).bit_length()
        #: when each key was linked in: a bucket lists the newest first (hlist_nulls_add_head_rcu)
        self._seq: dict[bytes, int] = {}
        self._clock = 0
        self._pool = 0
        self._pool_vm = False
        self.freelist: list[int] = []
        self.extra: list[int] = []
        if self.prealloc:
            nextra = machine.nr_cpus if self.extra_elems else 0
            n = spec.max_entries + nextra
            self._pool, self._pool_vm = _alloc_area(machine, n * self.elem_size)
            elems = [self._pool + k * self.elem_size for k in range(n)]
            self.extra = elems[:nextra]
            self.freelist = elems[nextra:][::-1]  # pop() hands out the lowest first

    def lookup(self, key: bytes) -> int:
        elem = self.table.get(key)
        return elem + self.value_off if elem is not None else 0

    def _fill(self, elem: int, key: bytes, value: bytes) -> None:
        data = bytearray(self.elem_size - HTAB_ELEM_SIZE)
        data[:len(key)] = key
        data[self.value_off - HTAB_ELEM_SIZE:self.value_off - HTAB_ELEM_SIZE + len(value)] = value
        self.m.write(elem + HTAB_ELEM_SIZE, bytes(data))

    def update(self, key: bytes, value: bytes, flags: int) -> None:
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            raise KernelError(errno.EINVAL, "unknown update flags")
        if flags & BPF_F_LOCK:
            raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")
        old = self.table.get(key)
        if old is not None and flags == BPF_NOEXIST:
            raise KernelError(errno.EEXIST, "the key exists (BPF_NOEXIST)")
        if old is None and flags == BPF_EXIST:
            raise KernelError(errno.ENOENT, "no such key (BPF_EXIST)")
        value = value[:self.spec.value_size]
        if self.prealloc:
            if old is not None:
                cpu = max(self.m.runner.cpu, 0)
                new = self.extra[cpu]
                self.extra[cpu] = old
            else:
                if not self.freelist:
                    raise KernelError(errno.E2BIG, f"hash map is full ({self.spec.max_entries} entries)")
                new = self.freelist.pop()
        else:
            if old is None and self.count + 1 > self.spec.max_entries:
                raise KernelError(errno.E2BIG, f"hash map is full ({self.spec.max_entries} entries)")
            new = self.m.alloc.kzalloc(self.elem_size)
        self._fill(new, key, without_kptrs(self._record(), value))
        self.table[key] = new
        self._link(key)
        if old is None:
            self.count += 1
        else:
            self._free_fields(old + self.value_off)  # check_and_free_fields of the old element
            if not self.prealloc:
                self.rcu.call_rcu(partial(self.m.alloc.kfree, old))

    def _link(self, key: bytes) -> None:
        self._clock += 1
        self._seq[key] = self._clock

    def bucket_of(self, key: bytes) -> int:
        """``htab_map_hash(key) & (n_buckets - 1)``."""
        from .maps.jhash import htab_map_hash

        return htab_map_hash(key, self.hashrnd) & (self.n_buckets - 1)

    def key_order(self) -> list[bytes]:
        """The keys as ``htab_map_get_next_key`` walks them: bucket by bucket, newest
        first inside a bucket."""
        return sorted(self.table, key=lambda k: (self.bucket_of(k), -self._seq[k]))

    def get_next_key(self, key: bytes | None) -> bytes:
        """``htab_map_get_next_key``: a missing key restarts at the first element."""
        order = self.key_order()
        if key is not None and key in self.table:
            i = order.index(key) + 1
        else:
            i = 0
        if i >= len(order):
            raise KernelError(errno.ENOENT, "last element")
        return order[i]

    def delete(self, key: bytes) -> None:
        elem = self.table.pop(key, None)
        if elem is None:
            raise KernelError(errno.ENOENT, "no such key")
        self._seq.pop(key, None)
        self.count -= 1
        self._free_fields(elem + self.value_off)  # check_and_free_fields
        if self.prealloc:
            self.freelist.append(elem)
        else:
            self.rcu.call_rcu(partial(self.m.alloc.kfree, elem))

    def release(self) -> None:
        for elem in self.table.values():  # htab_map_free: every element's fields
            self._free_fields(elem + self.value_off)
        if self.prealloc:
            _free_area(self.m, self._pool, self._pool_vm)
        else:
            for elem in self.table.values():
                self.m.alloc.kfree(elem)
        self.table.clear()
        _free_area(self.m, self.base, self._vm)
        super().release()


class StructOpsMapObject(MapObject):
    """``BPF_MAP_TYPE_STRUCT_OPS``: the kernel_model map on this machine. Its
    reference count *is* ``st_map.refcnt`` (the model changes it on reg, link and
    delete); ``release`` is ``bpf_struct_ops_map_free``."""

    def __init__(self, spec: MapSpec, machine: "Machine", st_map: StructOpsMap, btf: BtfObject | None,
                 on_free: Callable[["StructOpsMapObject"], None]) -> None:
        self.st_map = st_map
        super().__init__(spec, machine, btf)
        self._on_free = on_free
        self.ksyms: list[str] = []
        base = machine.alloc.kzalloc(BPF_MAP_HEADER_SIZE)
        spec.addr = base
        self._header = base
        self._write_header(base)

    @property
    def refcnt(self) -> int:
        return self.st_map.refcnt

    @refcnt.setter
    def refcnt(self, value: int) -> None:
        if hasattr(self, "st_map"):
            self.st_map.refcnt = value

    @property
    def placements(self) -> list[Any]:
        return self.st_map.placements

    def lookup_sys(self, key: bytes, flags: int = 0) -> bytes:
        if flags:
            raise KernelError(errno.EINVAL, "unknown lookup flags")
        return self.st_map.lookup(struct.unpack_from("<I", self._key(key))[0])

    def lookup(self, key: bytes) -> int:  # from a program: the verifier refuses struct_ops maps
        raise KernelError(errno.EINVAL, "bpf_struct_ops map cannot be used in prog")

    def delete_sys(self, key: bytes) -> None:
        self.st_map.delete(struct.unpack_from("<I", self._key(key))[0])

    def release(self) -> None:
        self._on_free(self)
        self.st_map.free()
        self.m.alloc.kfree(self._header)
        super().release()

