"""The BTF of ``struct bpf_map`` and its containers, for loads through a map pointer.

A program may read fields of the map object itself (``r1 = map ll; r0 = *(u32 *)(r1 +
off)``). The kernel's ``check_ptr_to_map_access`` (kernel/bpf/verifier.c, Linux 6.18)
turns the ``CONST_PTR_TO_MAP`` register into a ``PTR_TO_BTF_ID`` of the struct its map
type names in ``map->ops->map_btf_id`` (``struct bpf_array`` for array maps,
``struct bpf_htab`` for hash maps: kernel/bpf/arraymap.c, kernel/bpf/hashtab.c, the
``BTF_ID_LIST_SINGLE(..., struct, bpf_array)`` lines) and walks it with
``btf_struct_access``, so the answer depends on that struct's layout in vmlinux.

This module builds a reduced BTF holding exactly the layout the host's 6.18 vmlinux
BTF shows (``bpftool btf dump file /sys/kernel/btf/vmlinux``: ``struct bpf_map`` is
296 bytes and starts with the ``u8 sha[32]`` digest 6.18 added; ``struct bpf_array``
312; ``struct bpf_htab`` 832). Every member keeps its offset, size and kind (scalar,
pointer, array, nested struct); nested kernel structs reached from here (``struct
mutex``, ``struct bpf_mem_alloc``, the anonymous unions, pointees such as ``struct
bpf_map_ops``) are kept as memberless records of the right size, so a read *inside*
them is refused ("doesn't have field") where the kernel would walk further. Other
map types are not modelled (see :data:`MAP_BTF_STRUCT`).
"""

from __future__ import annotations

from typing import Final

from functools import lru_cache

from kernel_model.btf import BTF, Array, Int, Ptr, Struct, Union
from kernel_model.btf.types import Member

__all__ = ["MAP_BTF_STRUCT", "map_btf", "map_struct_id"]

#: map type -> the struct its ops' map_btf_id names (Linux 6.18 arraymap.c / hashtab.c)
MAP_BTF_STRUCT: dict[int, str] = {
    1: "bpf_htab", 5: "bpf_htab", 9: "bpf_htab", 10: "bpf_htab", 13: "bpf_htab",   # hash family
    2: "bpf_array", 3: "bpf_array", 4: "bpf_array", 6: "bpf_array", 8: "bpf_array", 12: "bpf_array",
}

# (member name, byte offset, type spec); type spec: an int name, "*name" (pointer to a
# struct), "[n]elem" (array), "struct name"/"union name" (nested, sized below).
_BPF_MAP: Final = (
    ("sha", 0, "[32]u8"), ("excl", 32, "u32"), ("ops", 40, "*bpf_map_ops"), ("inner_map_meta", 48, "*bpf_map"),
    ("security", 56, "*void"), ("map_type", 64, "u32"), ("key_size", 68, "u32"), ("value_size", 72, "u32"),
    ("max_entries", 76, "u32"), ("map_extra", 80, "u64"), ("map_flags", 88, "u32"), ("id", 92, "u32"),
    ("record", 96, "*btf_record"), ("numa_node", 104, "int"), ("btf_key_type_id", 108, "u32"),
    ("btf_value_type_id", 112, "u32"), ("btf_vmlinux_value_type_id", 116, "u32"), ("btf", 120, "*btf"),
    ("objcg", 128, "*obj_cgroup"), ("name", 136, "[16]char"), ("freeze_mutex", 152, "struct mutex"),
    ("refcnt", 184, "struct atomic64_t"), ("usercnt", 192, "struct atomic64_t"), ("", 200, "union 32"),
    ("writecnt", 232, "struct atomic64_t"), ("owner_lock", 240, "struct spinlock"),
    ("owner", 248, "*bpf_map_owner"), ("bypass_spec_v1", 256, "bool"), ("frozen", 257, "bool"),
    ("init_private", 258, "u8"), ("free_after_mult_rcu_gp", 259, "bool"), ("free_after_rcu_gp", 260, "bool"),
    ("sleepable_refcnt", 264, "struct atomic64_t"), ("elem_count", 272, "*s64"), ("cookie", 280, "u64"),
    ("excl_prog_sha", 288, "*char"),
)
_BPF_ARRAY: Final = (("map", 0, "struct bpf_map"), ("elem_size", 296, "u32"), ("index_mask", 300, "u32"),
              ("aux", 304, "*bpf_array_aux"), ("", 312, "union 0"))
_BPF_HTAB: Final = (
    ("map", 0, "struct bpf_map"), ("ma", 296, "struct bpf_mem_alloc"), ("pcpu_ma", 360, "struct bpf_mem_alloc"),
    ("buckets", 424, "*bucket"), ("elems", 432, "*void"), ("", 448, "union 256"),
    ("extra_elems", 704, "*htab_elem*"), ("pcount", 712, "struct percpu_counter"), ("count", 752, "struct atomic_t"),
    ("use_percpu_counter", 756, "bool"), ("n_buckets", 760, "u32"), ("elem_size", 764, "u32"),
    ("hashrnd", 768, "u32"),
)
_SIZES: Final = {"bpf_map": 296, "bpf_array": 312, "bpf_htab": 832, "mutex": 32, "atomic64_t": 8, "atomic_t": 4,
          "spinlock": 4, "bpf_mem_alloc": 64, "percpu_counter": 40}
_INTS: Final = {"u8": (1, 0), "char": (1, 0), "bool": (1, 4), "u32": (4, 0), "int": (4, 1), "u64": (8, 0), "s64": (8, 1)}


@lru_cache(maxsize=1)
def map_btf() -> BTF:
    """The reduced BTF (built once)."""
    b = BTF()
    ids: dict[str, int] = {}

    def intt(name: str) -> int:
        if name not in ids:
            size, enc = _INTS[name]
            ids[name] = b.add(Int(name, size, enc, 0, size * 8))
        return ids[name]

    def record(name: str, size: int, union: bool = False) -> int:
        key = ("union " if union else "struct ") + name
        if key not in ids:
            ids[key] = b.add((Union if union else Struct)(name, size, ()))
        return ids[key]

    def spec(s: str) -> int:
        if s.startswith("*"):
            inner = s[1:]
            if inner == "void":
                return b.add(Ptr(0))
            if inner.endswith("*"):
                return b.add(Ptr(spec(inner[:-1] if inner[:-1] in _INTS else "*" + inner[:-1])))
            return b.add(Ptr(intt(inner) if inner in _INTS else record(inner, _SIZES.get(inner, 0))))
        if s.startswith("["):
            n, elem = s[1:].split("]")
            return b.add(Array(spec(elem), intt("u32"), int(n)))
        if s.startswith("struct "):
            return record(s[7:], _SIZES[s[7:]])
        if s.startswith("union "):
            return b.add(Union("", int(s[6:]), ()))
        return intt(s)

    def define(name: str, members: tuple[tuple[str, int, str], ...]) -> None:
        ms = tuple(Member(m, spec(t), off * 8) for m, off, t in members)
        tid = record(name, _SIZES[name])
        b.replace(tid, Struct(name, _SIZES[name], ms))

    define("bpf_map", _BPF_MAP)
    define("bpf_array", _BPF_ARRAY)
    define("bpf_htab", _BPF_HTAB)
    return b


def map_struct_id(map_type: int) -> tuple[BTF, int, str] | None:
    """(btf, type id, struct name) for ``map_type``, or None when the model lacks it."""
    from .map_types import map_type_ops

    name = map_type_ops(map_type).btf_struct
    if name is None:
        return None
    b = map_btf()
    tid = b.find(name)
    assert tid is not None
    return b, tid, name
