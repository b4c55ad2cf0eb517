"""Byte layouts and numeric constants of the BTF binary format.

Models include/uapi/linux/btf.h (Linux 6.12; unchanged in 6.18): the header,
``struct btf_type`` and the per-kind trailing records, the kind numbers, the
``info`` word bit fields and the INT encoding bits. Little- and big-endian
layouts are both built from one table (``layouts(byteorder)``), after
pyelftools' ``elftools/elf/structs.py``. Nothing here parses; see codec.py.
"""

from __future__ import annotations

import struct
from functools import lru_cache

__all__ = [
    "BTF_MAGIC", "BTF_VERSION", "HEADER_SIZE", "BTF_MAX_TYPE", "BTF_MAX_NAME_OFFSET", "BTF_MAX_VLEN",
    "BTF_INFO_MASK", "BTF_INT_MASK", "MAX_BPF_FUNC_ARGS",
    "KIND_UNKN", "KIND_INT", "KIND_PTR", "KIND_ARRAY", "KIND_STRUCT", "KIND_UNION", "KIND_ENUM", "KIND_FWD",
    "KIND_TYPEDEF", "KIND_VOLATILE", "KIND_CONST", "KIND_RESTRICT", "KIND_FUNC", "KIND_FUNC_PROTO",
    "KIND_VAR", "KIND_DATASEC", "KIND_FLOAT", "KIND_DECL_TAG", "KIND_TYPE_TAG", "KIND_ENUM64", "KIND_MAX",
    "KIND_NAMES", "INT_SIGNED", "INT_CHAR", "INT_BOOL",
    "FUNC_STATIC", "FUNC_GLOBAL", "FUNC_EXTERN", "VAR_STATIC", "VAR_GLOBAL_ALLOCATED", "VAR_GLOBAL_EXTERN",
    "MODIFIER_KINDS", "info_word", "Layouts", "layouts",
]

BTF_MAGIC = 0xEB9F            # header.magic; read as 0x9FEB it means the other byte order
BTF_VERSION = 1               # the only version the kernel accepts ("Unsupported version")
HEADER_SIZE = 24              # sizeof(struct btf_header): magic u16, version u8, flags u8, 5 x u32
BTF_MAX_TYPE = 0x000FFFFF     # largest valid type id (BTF_TYPE_ID_VALID)
BTF_MAX_NAME_OFFSET = 0x00FFFFFF  # largest string offset
BTF_MAX_VLEN = 0xFFFF         # vlen is 16 bits of info
BTF_INFO_MASK = 0x9F00FFFF    # kflag(31) | kind(24..28) | vlen(0..15); other bits must be zero
BTF_INT_MASK = 0x0FFFFFFF     # INT data: encoding(24..27) | offset(16..23) | bits(0..7)
MAX_BPF_FUNC_ARGS = 12        # include/linux/bpf.h: most arguments a trampoline/function model handles

# Kind numbers (BTF_KIND_*), one per type record form.
KIND_UNKN = 0        # never valid in a blob ("Invalid kind:0"); id 0 is void
KIND_INT = 1         # integer: size + u32 (encoding, bit offset, bit count)
KIND_PTR = 2         # pointer to type
KIND_ARRAY = 3       # + struct btf_array {type, index_type, nelems}
KIND_STRUCT = 4      # + vlen x struct btf_member {name_off, type, offset}
KIND_UNION = 5       # same layout as STRUCT, every member at offset 0
KIND_ENUM = 6        # + vlen x struct btf_enum {name_off, s32/u32 val}; kflag = signed
KIND_FWD = 7         # forward declaration; kflag = union
KIND_TYPEDEF = 8     # named alias
KIND_VOLATILE = 9    # modifier
KIND_CONST = 10      # modifier
KIND_RESTRICT = 11   # modifier
KIND_FUNC = 12       # function: type = FUNC_PROTO, vlen = linkage
KIND_FUNC_PROTO = 13 # + vlen x struct btf_param {name_off, type}; last type 0 = varargs
KIND_VAR = 14        # + u32 linkage
KIND_DATASEC = 15    # + vlen x struct btf_var_secinfo {type, offset, size}
KIND_FLOAT = 16      # floating point, size only
KIND_DECL_TAG = 17   # + s32 component_idx (-1: the type itself)
KIND_TYPE_TAG = 18   # modifier carrying a tag string (e.g. "rcu", "address_space(1)")
KIND_ENUM64 = 19     # + vlen x struct btf_enum64 {name_off, val_lo32, val_hi32}
KIND_MAX = KIND_ENUM64

KIND_NAMES: dict[int, str] = {
    KIND_UNKN: "UNKNOWN", KIND_INT: "INT", KIND_PTR: "PTR", KIND_ARRAY: "ARRAY", KIND_STRUCT: "STRUCT",
    KIND_UNION: "UNION", KIND_ENUM: "ENUM", KIND_FWD: "FWD", KIND_TYPEDEF: "TYPEDEF",
    KIND_VOLATILE: "VOLATILE", KIND_CONST: "CONST", KIND_RESTRICT: "RESTRICT", KIND_FUNC: "FUNC",
    KIND_FUNC_PROTO: "FUNC_PROTO", KIND_VAR: "VAR", KIND_DATASEC: "DATASEC", KIND_FLOAT: "FLOAT",
    KIND_DECL_TAG: "DECL_TAG", KIND_TYPE_TAG: "TYPE_TAG", KIND_ENUM64: "ENUM64",
}

# Kinds the kernel skips when it looks through a type (btf_type_is_modifier()).
MODIFIER_KINDS = frozenset({KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG})

INT_SIGNED = 1 << 0   # BTF_INT_SIGNED
INT_CHAR = 1 << 1     # BTF_INT_CHAR
INT_BOOL = 1 << 2     # BTF_INT_BOOL

FUNC_STATIC = 0       # enum btf_func_linkage
FUNC_GLOBAL = 1
FUNC_EXTERN = 2
VAR_STATIC = 0        # enum btf_var_linkage
VAR_GLOBAL_ALLOCATED = 1
VAR_GLOBAL_EXTERN = 2


def info_word(kind: int, vlen: int = 0, kflag: bool = False) -> int:
    """Compose ``btf_type.info`` from its three fields (BTF_INFO_ENC)."""
    return (int(kflag) << 31) | ((kind & 0x1F) << 24) | (vlen & 0xFFFF)


class Layouts:
    """The compiled ``struct`` formats for one byte order.

    Accessible attributes: ``prefix`` ("<" or ">"), ``header`` (btf_header),
    ``type`` (btf_type: name_off, info, size/type), ``u32``, ``s32``,
    ``triple`` (btf_array, btf_member, btf_var_secinfo, btf_enum64 as u32 x3),
    ``pair`` (btf_param as u32 x2), ``enum`` (btf_enum as u32, s32 is re-read).
    """

    __slots__ = ("prefix", "header", "type", "u32", "s32", "triple", "pair")

    def __init__(self, *, prefix: str, header: struct.Struct, type: struct.Struct, u32: struct.Struct,
                 s32: struct.Struct, triple: struct.Struct, pair: struct.Struct) -> None:
        self.prefix = prefix
        self.header = header
        self.type = type
        self.u32 = u32
        self.s32 = s32
        self.triple = triple
        self.pair = pair


@lru_cache(maxsize=2)
def layouts(byteorder: str = "little") -> Layouts:
    """Return the layouts for ``byteorder`` ("little" or "big")."""
    p = "<" if byteorder == "little" else ">"
    return Layouts(
        prefix=p,
        header=struct.Struct(p + "HBBIIIII"),
        type=struct.Struct(p + "III"),
        u32=struct.Struct(p + "I"),
        s32=struct.Struct(p + "i"),
        triple=struct.Struct(p + "III"),
        pair=struct.Struct(p + "II"),
    )
