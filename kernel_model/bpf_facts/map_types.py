"""Every ``enum bpf_map_type`` of Linux 6.18: create-time checks, ops, and what BPF may do with it.

``BPF_MAP_CREATE`` (kernel/bpf/syscall.c ``map_create``) checks the generic
attributes (``map_extra`` only for bloom filters and arenas, RDONLY and WRONLY
together refused by ``bpf_get_file_flag``), then the type's
``map_alloc_check`` and ``map_alloc`` (their argument checks: sizes,
``max_entries``, allowed ``map_flags``; the errno each returns). :func:`create_errno`
models that for one request. Which ``bpf_map_ops`` a type has (lookup,
get_next_key, check_btf ...) comes from :mod:`.gen_ops` (6.12 sources,
include/linux/bpf_types.h); the per-type rules below cite their 6.12 function
and are compared with the 6.18 host by tests/kernel_model/test_bpf_facts_maps.py
(``BPF_MAP_CREATE`` with good and bad parameters; never a struct_ops map).

Where we differ: requests that fail on memory (huge ``max_entries``), on
NUMA nodes, on a missing BTF type or on the inner map of map-in-map types are
modelled only as far as :func:`create_errno` says (BTF: "needs BTF" -> EINVAL
without one; map-in-map: EINVAL without an inner map fd).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import isa
from . import gen_ops
from .enums import MAP_TYPES

__all__ = [
    "MapCreate", "MapTypeFacts", "MAP_FACTS", "create_errno", "F", "EINVAL", "E2BIG", "ENOTSUPP", "EPERM",
    "EBADF", "PERF_EVENT_MAX_STACK",
]

EPERM, EBADF, ENOMEM, EINVAL, E2BIG, ENOTSUPP = 1, 9, 12, 22, 7, 524

#: BPF_MAP_CREATE map_flags (uapi)
F = {name: 1 << i for i, name in enumerate((
    "BPF_F_NO_PREALLOC", "BPF_F_NO_COMMON_LRU", "BPF_F_NUMA_NODE", "BPF_F_RDONLY", "BPF_F_WRONLY",
    "BPF_F_STACK_BUILD_ID", "BPF_F_ZERO_SEED", "BPF_F_RDONLY_PROG", "BPF_F_WRONLY_PROG", "BPF_F_CLONE",
    "BPF_F_MMAPABLE", "BPF_F_PRESERVE_ELEMS", "BPF_F_INNER_MAP", "BPF_F_LINK", "BPF_F_PATH_FD",
    "BPF_F_VTYPE_BTF_OBJ_FD", "BPF_F_TOKEN_FD", "BPF_F_SEGV_ON_FAULT", "BPF_F_NO_USER_CONV",
))}
_ACCESS = F["BPF_F_RDONLY"] | F["BPF_F_WRONLY"] | F["BPF_F_RDONLY_PROG"] | F["BPF_F_WRONLY_PROG"]
_NUMA = F["BPF_F_NUMA_NODE"]
KMALLOC_MAX_SIZE = 1 << 22          # x86-64, 4 KiB pages: 1 << (PAGE_SHIFT + MAX_PAGE_ORDER) = 4 MiB
PCPU_MIN_UNIT_SIZE = 32 << 10
#: include/linux/bpf_local_storage.h BPF_LOCAL_STORAGE_MAX_VALUE_SIZE: U16_MAX minus
#: sizeof(struct bpf_local_storage_elem) (128 bytes, cache-line aligned, 6.18 host BTF)
LOCAL_STORAGE_MAX_VALUE_SIZE = min(KMALLOC_MAX_SIZE - 512 - 128, 0xFFFF - 128)
MAX_BPF_STACK = isa.MAX_BPF_STACK
#: kernel.perf_event_max_stack default (the sysctl can change it; stack trace maps read it)
PERF_EVENT_MAX_STACK = 127
NR_CPUS_X86 = 8192                  # CONFIG_NR_CPUS of distribution kernels (cpumap max_entries)


@dataclass(frozen=True, slots=True)
class MapCreate:
    """A ``BPF_MAP_CREATE`` request (the attributes the checks read)."""

    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    map_extra: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    inner_map_fd: int = 0
    perf_event_max_stack: int = PERF_EVENT_MAX_STACK
    #: CONFIG_NR_CPUS of the kernel (cpumap's max_entries limit)
    nr_cpus: int = NR_CPUS_X86


Check = Callable[[MapCreate], int]


def _access_ok(f: int) -> bool:
    """include/linux/bpf.h bpf_map_flags_access_ok: not RDONLY_PROG and WRONLY_PROG together."""
    return (f & (F["BPF_F_RDONLY_PROG"] | F["BPF_F_WRONLY_PROG"])) != (F["BPF_F_RDONLY_PROG"] | F["BPF_F_WRONLY_PROG"])


def _array(a: MapCreate) -> int:
    """kernel/bpf/arraymap.c array_map_alloc_check."""
    percpu = a.map_type == MAP_TYPES["BPF_MAP_TYPE_PERCPU_ARRAY"]
    mask = _NUMA | F["BPF_F_MMAPABLE"] | _ACCESS | F["BPF_F_PRESERVE_ELEMS"] | F["BPF_F_INNER_MAP"]
    if a.max_entries == 0 or a.key_size != 4 or a.value_size == 0 or a.map_flags & ~mask \
            or not _access_ok(a.map_flags):
        return EINVAL
    if a.map_type != MAP_TYPES["BPF_MAP_TYPE_ARRAY"] and a.map_flags & (F["BPF_F_MMAPABLE"] | F["BPF_F_INNER_MAP"]):
        return EINVAL
    if a.map_type != MAP_TYPES["BPF_MAP_TYPE_PERF_EVENT_ARRAY"] and a.map_flags & F["BPF_F_PRESERVE_ELEMS"]:
        return EINVAL
    if a.value_size > (1 << 31) - 1:
        return E2BIG
    if percpu and (a.value_size + 7) // 8 * 8 > PCPU_MIN_UNIT_SIZE:
        return E2BIG
    return 0


def _fd_array(a: MapCreate) -> int:
    """kernel/bpf/arraymap.c fd_array_map_alloc_check (prog, perf event, cgroup arrays, array of maps)."""
    if a.value_size != 4:
        return EINVAL
    if a.map_flags & (F["BPF_F_RDONLY_PROG"] | F["BPF_F_WRONLY_PROG"]):
        return EINVAL
    err = _array(a)
    if err == 0 and a.map_type == MAP_TYPES["BPF_MAP_TYPE_ARRAY_OF_MAPS"] and a.inner_map_fd <= 0:
        return EINVAL  # bpf_map_meta_alloc: no inner map
    return err


def _htab(a: MapCreate) -> int:
    """kernel/bpf/hashtab.c htab_map_alloc_check."""
    t = a.map_type
    percpu = t in (MAP_TYPES["BPF_MAP_TYPE_PERCPU_HASH"], MAP_TYPES["BPF_MAP_TYPE_LRU_PERCPU_HASH"])
    lru = t in (MAP_TYPES["BPF_MAP_TYPE_LRU_HASH"], MAP_TYPES["BPF_MAP_TYPE_LRU_PERCPU_HASH"])
    mask = F["BPF_F_NO_PREALLOC"] | F["BPF_F_NO_COMMON_LRU"] | _NUMA | _ACCESS | F["BPF_F_ZERO_SEED"]
    if a.map_flags & ~mask or not _access_ok(a.map_flags):
        return EINVAL
    if not lru and a.map_flags & F["BPF_F_NO_COMMON_LRU"]:
        return EINVAL
    if lru and a.map_flags & F["BPF_F_NO_PREALLOC"]:
        return ENOTSUPP
    if a.max_entries == 0 or a.key_size == 0 or a.value_size == 0:
        return EINVAL
    if a.key_size + a.value_size >= KMALLOC_MAX_SIZE - 48:  # - sizeof(struct htab_elem)
        return E2BIG
    if percpu and (a.value_size + 7) // 8 * 8 > PCPU_MIN_UNIT_SIZE:
        return E2BIG
    return 0


def _htab_of_maps(a: MapCreate) -> int:
    """kernel/bpf/hashtab.c fd_htab_map_alloc_check, then htab checks, then the inner map."""
    if a.value_size != 4:
        return EINVAL
    err = _htab(a)
    if err == 0 and a.inner_map_fd <= 0:
        return EINVAL
    return err


def _queue_stack(a: MapCreate) -> int:
    """kernel/bpf/queue_stack_maps.c queue_stack_map_alloc_check."""
    if a.max_entries == 0 or a.key_size != 0 or a.value_size == 0 or a.map_flags & ~(_NUMA | _ACCESS) \
            or not _access_ok(a.map_flags):
        return EINVAL
    if a.value_size > KMALLOC_MAX_SIZE or a.max_entries >= 0xFFFFFFFF // a.value_size:
        return E2BIG
    return 0


def _bloom(a: MapCreate) -> int:
    """kernel/bpf/bloom_filter.c bloom_map_alloc_check + bloom_map_alloc (map_extra: hash count, 4 bits)."""
    if a.value_size > KMALLOC_MAX_SIZE:
        return E2BIG
    if a.key_size != 0 or a.value_size == 0 or a.max_entries == 0 \
            or a.map_flags & ~(_NUMA | F["BPF_F_ZERO_SEED"] | _ACCESS) or not _access_ok(a.map_flags) \
            or a.map_extra & ~0xF:
        return EINVAL
    return 0


def _local_storage(a: MapCreate) -> int:
    """kernel/bpf/bpf_local_storage.c bpf_local_storage_map_alloc_check (sk/inode/task/cgrp storage)."""
    if a.map_flags & ~(F["BPF_F_NO_PREALLOC"] | F["BPF_F_CLONE"]) or not a.map_flags & F["BPF_F_NO_PREALLOC"] \
            or a.max_entries or a.key_size != 4 or not a.value_size or not a.btf_key_type_id \
            or not a.btf_value_type_id:
        return EINVAL
    if a.value_size > LOCAL_STORAGE_MAX_VALUE_SIZE:
        return E2BIG
    return 0


def _ringbuf(a: MapCreate) -> int:
    """kernel/bpf/ringbuf.c ringbuf_map_alloc (ring buffer and user ring buffer)."""
    n = a.max_entries
    if a.map_flags & ~_NUMA or a.key_size or a.value_size or n <= 0 or n & (n - 1) or n % 4096:
        return EINVAL
    return 0


def _devmap(a: MapCreate) -> int:
    """kernel/bpf/devmap.c dev_map_alloc_check (value: ifindex, or ifindex + prog fd)."""
    if a.max_entries == 0 or a.key_size != 4 or a.value_size not in (4, 8) \
            or a.map_flags & ~(_NUMA | F["BPF_F_RDONLY"] | F["BPF_F_WRONLY"]):
        return EINVAL
    if a.map_type == MAP_TYPES["BPF_MAP_TYPE_DEVMAP_HASH"] and a.max_entries > 1 << 31:
        return EINVAL
    return 0


def _cpumap(a: MapCreate) -> int:
    """kernel/bpf/cpumap.c cpu_map_alloc (value: qsize, or qsize + prog fd)."""
    if a.max_entries == 0 or a.key_size != 4 or a.value_size not in (4, 8) or a.map_flags & ~_NUMA:
        return EINVAL
    if a.max_entries > a.nr_cpus:
        return E2BIG
    return 0


def _xskmap(a: MapCreate) -> int:
    """net/xdp/xskmap.c xsk_map_alloc."""
    if a.max_entries == 0 or a.key_size != 4 or a.value_size != 4 \
            or a.map_flags & ~(_NUMA | F["BPF_F_RDONLY"] | F["BPF_F_WRONLY"]):
        return EINVAL
    return 0


def _sockmap(a: MapCreate) -> int:
    """net/core/sock_map.c sock_map_alloc."""
    if a.max_entries == 0 or a.max_entries > 0x7FFFFFFF or a.key_size != 4 or a.value_size not in (4, 8) \
            or a.map_flags & ~(_NUMA | F["BPF_F_RDONLY"] | F["BPF_F_WRONLY"]):
        return EINVAL
    return 0


def _sockhash(a: MapCreate) -> int:
    """net/core/sock_map.c sock_hash_alloc."""
    if a.max_entries == 0 or a.key_size == 0 or a.value_size not in (4, 8) \
            or a.map_flags & ~(_NUMA | F["BPF_F_RDONLY"] | F["BPF_F_WRONLY"]):
        return EINVAL
    if a.key_size > MAX_BPF_STACK:
        return E2BIG
    return 0


def _reuseport(a: MapCreate) -> int:
    """kernel/bpf/reuseport_array.c reuseport_array_alloc_check, then the array checks."""
    if a.value_size not in (4, 8):
        return EINVAL
    return _array(a)


def _lpm(a: MapCreate) -> int:
    """kernel/bpf/lpm_trie.c trie_alloc (key: u32 prefixlen + 1..256 data bytes; BPF_F_NO_PREALLOC required)."""
    if a.max_entries == 0 or not a.map_flags & F["BPF_F_NO_PREALLOC"] \
            or a.map_flags & ~(F["BPF_F_NO_PREALLOC"] | _NUMA | _ACCESS) or not _access_ok(a.map_flags) \
            or not 5 <= a.key_size <= 260 or not 1 <= a.value_size <= KMALLOC_MAX_SIZE - 64:
        return EINVAL
    return 0


def _stack_trace(a: MapCreate) -> int:
    """kernel/bpf/stackmap.c stack_map_alloc (value: u64 ips, or bpf_stack_build_id records of 32 bytes)."""
    if a.map_flags & ~(_NUMA | F["BPF_F_RDONLY"] | F["BPF_F_WRONLY"] | F["BPF_F_STACK_BUILD_ID"]):
        return EINVAL
    if a.max_entries == 0 or a.key_size != 4 or a.value_size < 8 or a.value_size % 8:
        return EINVAL
    if a.map_flags & F["BPF_F_STACK_BUILD_ID"]:
        if a.value_size % 32 or a.value_size // 32 > a.perf_event_max_stack:
            return EINVAL
    elif a.value_size // 8 > a.perf_event_max_stack:
        return EINVAL
    if a.max_entries > 1 << 31:
        return E2BIG
    return 0


def _cgroup_storage(a: MapCreate) -> int:
    """kernel/bpf/local_storage.c cgroup_storage_map_alloc (key: struct bpf_cgroup_storage_key,
    16 bytes with its padding, or a u64 cgroup id)."""
    percpu = a.map_type == MAP_TYPES["BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE"]
    if a.key_size not in (16, 8):
        return EINVAL
    if a.value_size == 0:
        return EINVAL
    if a.value_size > (min(LOCAL_STORAGE_MAX_VALUE_SIZE, PCPU_MIN_UNIT_SIZE) if percpu
                       else LOCAL_STORAGE_MAX_VALUE_SIZE):
        return E2BIG
    if a.map_flags & ~(_NUMA | _ACCESS) or not _access_ok(a.map_flags):
        return EINVAL
    if a.max_entries:
        return EINVAL
    return 0


def _arena(a: MapCreate) -> int:
    """kernel/bpf/arena.c arena_map_alloc (max_entries: pages; BPF_F_MMAPABLE required)."""
    if a.key_size or a.value_size or a.max_entries == 0 or not a.map_flags & F["BPF_F_MMAPABLE"] \
            or a.map_flags & ~(F["BPF_F_SEGV_ON_FAULT"] | F["BPF_F_MMAPABLE"] | F["BPF_F_NO_USER_CONV"]):
        return EINVAL
    if a.map_extra & 0xFFF:
        return EINVAL
    if a.max_entries * 4096 > 1 << 32:
        return E2BIG
    return 0


def _struct_ops(a: MapCreate) -> int:
    """kernel/bpf/bpf_struct_ops.c bpf_struct_ops_map_alloc_check: key 4, max_entries 1, flags
    only BPF_F_LINK/BPF_F_VTYPE_BTF_OBJ_FD, and a vmlinux value type (not modelled here: the
    struct_ops machinery of kernel_model.struct_ops_map checks it). Never created on the host."""
    if a.key_size != 4 or a.max_entries != 1 or a.map_flags & ~(F["BPF_F_LINK"] | F["BPF_F_VTYPE_BTF_OBJ_FD"]):
        return EINVAL
    return 0


@dataclass(frozen=True, slots=True)
class MapTypeFacts:
    """One map type: its ops (6.12 bpf_types.h), create checks and BPF-side behaviour."""

    name: str
    ops: str
    file: str
    check: Check
    #: what bpf_map_lookup_elem gives a program: "value" (PTR_TO_MAP_VALUE_OR_NULL), "socket"
    #: (sockmap/sockhash/xskmap/reuseport: a socket pointer or NULL, or not allowed), "none"
    #: (the verifier refuses the helper for this map type), or a note
    bpf_lookup: str
    percpu: bool = False
    #: map_check_btf: "required" (value BTF needed), "forbidden" (map_check_no_btf), "optional"
    btf: str = "optional"
    #: bpf(BPF_MAP_GET_NEXT_KEY) works (ops has a real map_get_next_key)
    get_next_key: bool = True
    #: host check allowed (never for struct_ops)
    host_checkable: bool = True
    note: str = ""

    @property
    def ops_fields(self) -> dict[str, str]:
        """The ``bpf_map_ops`` members as written in the 6.12 source."""
        map_ops: dict[str, dict[str, Any]] = gen_ops.map_ops  # generated: values inferred as ``object``
        return map_ops.get(self.ops, {}).get("fields", {})


def _facts() -> dict[str, MapTypeFacts]:
    # the generated tables are heterogeneous dicts (mypy infers their values as ``object``)
    map_types: list[dict[str, Any]] = gen_ops.map_types
    map_ops: dict[str, dict[str, Any]] = gen_ops.map_ops
    mt = {m["type"]: m for m in map_types}

    def f(name: str, check: Check, lookup: str, **kw: Any) -> MapTypeFacts:
        ops = mt[name]["ops"]
        fields = map_ops[ops]["fields"]
        btf = kw.pop("btf", None) or ("forbidden" if fields.get("map_check_btf") == "map_check_no_btf"
                                      else "optional")
        gnk = fields.get("map_get_next_key") not in (None, "notsupp_get_next_key")
        return MapTypeFacts(name, ops, map_ops[ops]["file"], check, lookup, btf=btf,
                            get_next_key=kw.pop("get_next_key", gnk), **kw)

    items = [
        f("BPF_MAP_TYPE_HASH", _htab, "value"),
        f("BPF_MAP_TYPE_ARRAY", _array, "value (inlined by the verifier: array_map_gen_lookup)"),
        f("BPF_MAP_TYPE_PROG_ARRAY", _fd_array, "none", note="only for bpf_tail_call"),
        f("BPF_MAP_TYPE_PERF_EVENT_ARRAY", _fd_array, "none",
          note="bpf_perf_event_output/read/read_value, bpf_skb_output, bpf_xdp_output"),
        f("BPF_MAP_TYPE_PERCPU_HASH", _htab, "value (this CPU's)", percpu=True),
        f("BPF_MAP_TYPE_PERCPU_ARRAY", _array, "value (this CPU's)", percpu=True),
        f("BPF_MAP_TYPE_STACK_TRACE", _stack_trace, "none", note="bpf_get_stackid only"),
        f("BPF_MAP_TYPE_CGROUP_ARRAY", _fd_array, "none",
          note="bpf_skb_under_cgroup, bpf_current_task_under_cgroup"),
        f("BPF_MAP_TYPE_LRU_HASH", _htab, "value"),
        f("BPF_MAP_TYPE_LRU_PERCPU_HASH", _htab, "value (this CPU's)", percpu=True),
        f("BPF_MAP_TYPE_LPM_TRIE", _lpm, "value (longest prefix match)"),
        f("BPF_MAP_TYPE_ARRAY_OF_MAPS", _fd_array, "inner map pointer (CONST_PTR_TO_MAP or NULL)"),
        f("BPF_MAP_TYPE_HASH_OF_MAPS", _htab_of_maps, "inner map pointer (CONST_PTR_TO_MAP or NULL)"),
        f("BPF_MAP_TYPE_DEVMAP", _devmap, "value (read-only for programs)"),
        f("BPF_MAP_TYPE_SOCKMAP", _sockmap, "socket (PTR_TO_SOCKET_OR_NULL, acquired)"),
        f("BPF_MAP_TYPE_CPUMAP", _cpumap, "none", note="bpf_redirect_map only"),
        f("BPF_MAP_TYPE_XSKMAP", _xskmap, "xdp socket (PTR_TO_XDP_SOCK_OR_NULL)"),
        f("BPF_MAP_TYPE_SOCKHASH", _sockhash, "socket (PTR_TO_SOCKET_OR_NULL, acquired)"),
        f("BPF_MAP_TYPE_CGROUP_STORAGE", _cgroup_storage, "none", get_next_key=True,
          note="bpf_get_local_storage only"),
        f("BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", _reuseport, "none", note="bpf_sk_select_reuseport only"),
        f("BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE", _cgroup_storage, "none", percpu=True,
          note="bpf_get_local_storage only"),
        f("BPF_MAP_TYPE_QUEUE", _queue_stack, "none", note="bpf_map_push/pop/peek_elem"),
        f("BPF_MAP_TYPE_STACK", _queue_stack, "none", note="bpf_map_push/pop/peek_elem"),
        f("BPF_MAP_TYPE_SK_STORAGE", _local_storage, "none", btf="required",
          note="bpf_sk_storage_get/delete"),
        f("BPF_MAP_TYPE_DEVMAP_HASH", _devmap, "value (read-only for programs)"),
        f("BPF_MAP_TYPE_STRUCT_OPS", _struct_ops, "none", btf="required", host_checkable=False,
          note="created with btf_vmlinux_value_type_id; updated from user space only"),
        f("BPF_MAP_TYPE_RINGBUF", _ringbuf, "none", note="bpf_ringbuf_* helpers and dynptrs"),
        f("BPF_MAP_TYPE_INODE_STORAGE", _local_storage, "none", btf="required",
          note="bpf_inode_storage_get/delete"),
        f("BPF_MAP_TYPE_TASK_STORAGE", _local_storage, "none", btf="required",
          note="bpf_task_storage_get/delete"),
        f("BPF_MAP_TYPE_BLOOM_FILTER", _bloom, "none", note="bpf_map_push_elem (add), bpf_map_peek_elem (test)"),
        f("BPF_MAP_TYPE_USER_RINGBUF", _ringbuf, "none", note="bpf_user_ringbuf_drain only"),
        f("BPF_MAP_TYPE_CGRP_STORAGE", _local_storage, "none", btf="required",
          note="bpf_cgrp_storage_get/delete"),
        f("BPF_MAP_TYPE_ARENA", _arena, "none", note="arena kfuncs; memory through addr_space_cast"),
    ]
    return {x.name: x for x in items}


#: every map type of 6.18 (BPF_MAP_TYPE_UNSPEC excluded) -> its facts
MAP_FACTS: dict[str, MapTypeFacts] = _facts()


def create_errno(req: MapCreate) -> int:
    """The errno ``BPF_MAP_CREATE`` fails with for ``req`` (0 = created), as the 6.18 kernel
    checks it (generic checks in map_create, then the type's checks). Root is assumed."""
    if req.map_extra and req.map_type not in (MAP_TYPES["BPF_MAP_TYPE_BLOOM_FILTER"], MAP_TYPES["BPF_MAP_TYPE_ARENA"]):
        return EINVAL
    if req.map_flags & F["BPF_F_RDONLY"] and req.map_flags & F["BPF_F_WRONLY"]:
        return EINVAL  # bpf_get_file_flag
    if req.btf_key_type_id and not req.btf_value_type_id:
        return EINVAL
    names = {v: k for k, v in MAP_TYPES.items()}
    name = names.get(req.map_type)
    if name is None or name not in MAP_FACTS:
        return EINVAL  # unknown type: no ops
    return MAP_FACTS[name].check(req)
