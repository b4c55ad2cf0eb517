"""Register state: what the verifier knows about one BPF register.

Models ``struct bpf_reg_state`` (include/linux/bpf_verifier.h), ``enum
bpf_reg_type`` and ``enum bpf_type_flag`` (include/linux/bpf.h), and the
``__mark_reg_*`` helpers of kernel/bpf/verifier.c (Linux 6.18). A type is a
base type in the low 8 bits plus flag bits, as the kernel encodes it.

The kernel keeps a union (``map_ptr``/``range``/``btf``+``btf_id``/``mem_size``
...) that :func:`mark_known` and :func:`mark_unknown` clear by ``memset``;
here those are separate fields that the same functions reset, so comparisons
that ``memcmp`` a prefix of the struct (``regs_exact``, ``regsafe``,
``states_maybe_looping``) compare the same information. Liveness marks
(``live``, ``parent``) are gone from 6.18 (compute_live_registers replaced
them), so they are not modelled.
"""

from __future__ import annotations

from typing import Any, Final

from . import tnum as T

__all__ = [
    "RegState", "NOT_INIT", "SCALAR_VALUE", "PTR_TO_CTX", "CONST_PTR_TO_MAP", "PTR_TO_MAP_VALUE",
    "PTR_TO_MAP_KEY", "PTR_TO_STACK", "PTR_TO_PACKET_META", "PTR_TO_PACKET", "PTR_TO_PACKET_END",
    "PTR_TO_FLOW_KEYS", "PTR_TO_SOCKET", "PTR_TO_SOCK_COMMON", "PTR_TO_TCP_SOCK", "PTR_TO_TP_BUFFER",
    "PTR_TO_XDP_SOCK", "PTR_TO_BTF_ID", "PTR_TO_MEM", "PTR_TO_ARENA", "PTR_TO_BUF", "PTR_TO_FUNC",
    "CONST_PTR_TO_DYNPTR", "PTR_MAYBE_NULL", "MEM_RDONLY", "MEM_RINGBUF", "MEM_USER", "MEM_PERCPU",
    "OBJ_RELEASE", "PTR_UNTRUSTED", "MEM_UNINIT", "MEM_FIXED_SIZE", "MEM_ALIGNED", "MEM_ALLOC", "PTR_TRUSTED",
    "MEM_RCU", "NON_OWN_REF", "MEM_WRITE", "BASE_TYPE_MASK", "base_type", "BPF_ADD_CONST", "BPF_ADD_CONST64", "BPF_ADD_CONST32",
    "S64_MIN", "S64_MAX", "U64_MAX", "S32_MIN", "S32_MAX", "U32_MAX", "s64", "s32", "u32",
    "mark_known", "mark_known_zero", "mark_const_zero", "mark_unknown", "mark_not_init", "clear_scalar_id",
    "mark_unbounded", "mark_reg64_unbounded", "mark_reg32_unbounded", "mark_reg32_known",
    "is_pointer_value", "is_trusted_reg", "type_may_be_null", "reg_is_const", "reg_const_value", "register_is_null",
    "DEF_NOT_SUBREG",
]

# enum bpf_reg_type (include/linux/bpf.h), in the kernel's order
NOT_INIT: Final = 0
SCALAR_VALUE: Final = 1
PTR_TO_CTX: Final = 2
CONST_PTR_TO_MAP: Final = 3
PTR_TO_MAP_VALUE: Final = 4
PTR_TO_MAP_KEY: Final = 5
PTR_TO_STACK: Final = 6
PTR_TO_PACKET_META: Final = 7
PTR_TO_PACKET: Final = 8
PTR_TO_PACKET_END: Final = 9
PTR_TO_FLOW_KEYS: Final = 10
PTR_TO_SOCKET: Final = 11
PTR_TO_SOCK_COMMON: Final = 12
PTR_TO_TCP_SOCK: Final = 13
PTR_TO_TP_BUFFER: Final = 14
PTR_TO_XDP_SOCK: Final = 15
PTR_TO_BTF_ID: Final = 16
PTR_TO_MEM: Final = 17
PTR_TO_ARENA: Final = 18
PTR_TO_BUF: Final = 19
PTR_TO_FUNC: Final = 20
CONST_PTR_TO_DYNPTR: Final = 21

BASE_TYPE_BITS: Final = 8
BASE_TYPE_MASK: Final = (1 << BASE_TYPE_BITS) - 1
# enum bpf_type_flag (include/linux/bpf.h)
PTR_MAYBE_NULL: Final = 1 << 8
MEM_RDONLY: Final = 1 << 9
MEM_RINGBUF: Final = 1 << 10
MEM_USER: Final = 1 << 11
MEM_PERCPU: Final = 1 << 12
OBJ_RELEASE: Final = 1 << 13
PTR_UNTRUSTED: Final = 1 << 14
MEM_UNINIT: Final = 1 << 15
MEM_FIXED_SIZE: Final = 1 << 18
#: include/linux/bpf.h: BIT(17 + BPF_BASE_TYPE_BITS), a fixed-size memory argument's alignment
MEM_ALIGNED: Final = 1 << 25
MEM_ALLOC: Final = 1 << 19
PTR_TRUSTED: Final = 1 << 20
MEM_RCU: Final = 1 << 21
NON_OWN_REF: Final = 1 << 22
MEM_WRITE: Final = 1 << 26
#: the dynptr type flags of enum bpf_type_flag (include/linux/bpf.h; verifier.dynptrs)
DYNPTR_TYPE_LOCAL: Final = 1 << 16
DYNPTR_TYPE_RINGBUF: Final = 1 << 17
DYNPTR_TYPE_SKB: Final = 1 << 23
DYNPTR_TYPE_XDP: Final = 1 << 24

#: reg->id flags marking "rX = rY + const" linked scalars (include/linux/bpf_verifier.h);
#: the 6.18.y stable split them into 64- and 32-bit forms ("bpf: Support negative offsets,
#: BPF_SUB, and alu32 for linked register tracking", upstream 7a433e519364)
BPF_ADD_CONST64: Final = 1 << 31
BPF_ADD_CONST32: Final = 1 << 30
BPF_ADD_CONST: Final = BPF_ADD_CONST64 | BPF_ADD_CONST32
DEF_NOT_SUBREG: Final = 0

S64_MIN: Final = -(1 << 63)
S64_MAX: Final = (1 << 63) - 1
U64_MAX: Final = (1 << 64) - 1
S32_MIN: Final = -(1 << 31)
S32_MAX: Final = (1 << 31) - 1
U32_MAX: Final = (1 << 32) - 1


def s64(x: int) -> int:
    """Reinterpret the low 64 bits of ``x`` as a signed value."""
    x &= U64_MAX
    return x - (1 << 64) if x >> 63 else x


def s32(x: int) -> int:
    x &= U32_MAX
    return x - (1 << 32) if x >> 31 else x


def u32(x: int) -> int:
    return x & U32_MAX


def base_type(t: int) -> int:
    return t & BASE_TYPE_MASK


class RegState:
    """``struct bpf_reg_state``. ``var_off`` is a tnum tuple; bounds are Python
    ints kept in their C domains (signed/unsigned, 64/32 bits)."""

    __slots__ = ("type", "off", "map", "map_uid", "range", "btf", "btf_id", "mem_size", "subprogno",
                 "var_off", "smin", "smax", "umin", "umax", "s32_min", "s32_max", "u32_min", "u32_max",
                 "id", "ref_obj_id", "frameno", "subreg_def", "precise")

    def __init__(self) -> None:
        self.type = NOT_INIT
        self.off = 0
        #: the union of struct bpf_reg_state: map_ptr (a MapSpec) for map pointers ...
        self.map: Any = None
        self.map_uid = 0
        self.range = 0
        #: ... and btf (kernel_model.btf.BTF) with btf_id for BTF pointers
        self.btf: Any = None
        self.btf_id = 0
        self.mem_size = 0
        self.subprogno = 0
        self.var_off = T.UNKNOWN
        self.smin = S64_MIN
        self.smax = S64_MAX
        self.umin = 0
        self.umax = U64_MAX
        self.s32_min = S32_MIN
        self.s32_max = S32_MAX
        self.u32_min = 0
        self.u32_max = U32_MAX
        self.id = 0
        self.ref_obj_id = 0
        self.frameno = 0
        self.subreg_def = 0
        self.precise = False

    def clone(self) -> "RegState":
        r = RegState.__new__(RegState)
        r.type = self.type
        r.off = self.off
        r.map = self.map
        r.map_uid = self.map_uid
        r.range = self.range
        r.btf = self.btf
        r.btf_id = self.btf_id
        r.mem_size = self.mem_size
        r.subprogno = self.subprogno
        r.var_off = self.var_off
        r.smin = self.smin
        r.smax = self.smax
        r.umin = self.umin
        r.umax = self.umax
        r.s32_min = self.s32_min
        r.s32_max = self.s32_max
        r.u32_min = self.u32_min
        r.u32_max = self.u32_max
        r.id = self.id
        r.ref_obj_id = self.ref_obj_id
        r.frameno = self.frameno
        r.subreg_def = self.subreg_def
        r.precise = self.precise
        return r

    def assign(self, o: "RegState") -> None:
        """``*dst = *src`` (``copy_register_state``)."""
        self.type = o.type
        self.off = o.off
        self.map = o.map
        self.map_uid = o.map_uid
        self.range = o.range
        self.btf = o.btf
        self.btf_id = o.btf_id
        self.mem_size = o.mem_size
        self.subprogno = o.subprogno
        self.var_off = o.var_off
        self.smin = o.smin
        self.smax = o.smax
        self.umin = o.umin
        self.umax = o.umax
        self.s32_min = o.s32_min
        self.s32_max = o.s32_max
        self.u32_min = o.u32_min
        self.u32_max = o.u32_max
        self.id = o.id
        self.ref_obj_id = o.ref_obj_id
        self.frameno = o.frameno
        self.subreg_def = o.subreg_def
        self.precise = o.precise

    # --- struct prefixes compared with memcmp by the kernel ------------------------------
    def same_aux(self, o: "RegState") -> bool:
        """Fields up to (not including) ``var_off``: type, off and the union."""
        return (self.type == o.type and self.off == o.off and self.map is o.map and self.map_uid == o.map_uid
                and self.range == o.range and self.btf is o.btf and self.btf_id == o.btf_id
                and self.mem_size == o.mem_size and self.subprogno == o.subprogno)

    def same_value(self, o: "RegState") -> bool:
        """Fields up to (not including) ``id`` (``offsetof(struct bpf_reg_state, id)``)."""
        return (self.same_aux(o) and self.var_off == o.var_off and self.smin == o.smin and self.smax == o.smax
                and self.umin == o.umin and self.umax == o.umax and self.s32_min == o.s32_min
                and self.s32_max == o.s32_max and self.u32_min == o.u32_min and self.u32_max == o.u32_max)

    def same_until_frameno(self, o: "RegState") -> bool:
        """Fields up to (not including) ``frameno`` (``states_maybe_looping``)."""
        return self.same_value(o) and self.id == o.id and self.ref_obj_id == o.ref_obj_id

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return (f"<Reg type={self.type:#x} off={self.off} var_off=({self.var_off[0]:#x}; {self.var_off[1]:#x}) "
                f"s=[{self.smin},{self.smax}] u=[{self.umin},{self.umax}] s32=[{self.s32_min},{self.s32_max}] "
                f"u32=[{self.u32_min},{self.u32_max}] id={self.id} P={self.precise}>")


def _clear_aux(reg: RegState) -> None:
    reg.off = 0
    reg.map = None
    reg.map_uid = 0
    reg.range = 0
    reg.btf = None
    reg.btf_id = 0
    reg.mem_size = 0
    reg.subprogno = 0


def set_known_bounds(reg: RegState, imm: int) -> None:
    """``___mark_reg_known``: var_off and all bounds become ``imm`` (id kept)."""
    imm &= U64_MAX
    reg.var_off = (imm, 0)
    sv = s64(imm)
    reg.smin = reg.smax = sv
    reg.umin = reg.umax = imm
    reg.s32_min = reg.s32_max = s32(imm)
    reg.u32_min = reg.u32_max = imm & U32_MAX


def mark_known(reg: RegState, imm: int) -> None:
    """``__mark_reg_known``: clear off and the union, id and ref_obj_id; set ``imm``."""
    _clear_aux(reg)
    reg.id = 0
    reg.ref_obj_id = 0
    set_known_bounds(reg, imm)


def mark_reg32_known(reg: RegState, imm: int) -> None:
    """``__mark_reg32_known``: only the low half becomes ``imm``."""
    reg.var_off = T.const_subreg(reg.var_off, imm)
    reg.s32_min = reg.s32_max = s32(imm)
    reg.u32_min = reg.u32_max = imm & U32_MAX


def mark_known_zero(reg: RegState) -> None:
    mark_known(reg, 0)


def mark_const_zero(reg: RegState, bpf_capable: bool) -> None:
    """``__mark_reg_const_zero``: a precise (unprivileged) or imprecise scalar 0."""
    mark_known(reg, 0)
    reg.type = SCALAR_VALUE
    reg.precise = not bpf_capable


def mark_unbounded(reg: RegState) -> None:
    reg.smin = S64_MIN
    reg.smax = S64_MAX
    reg.umin = 0
    reg.umax = U64_MAX
    reg.s32_min = S32_MIN
    reg.s32_max = S32_MAX
    reg.u32_min = 0
    reg.u32_max = U32_MAX


def mark_reg64_unbounded(reg: RegState) -> None:
    reg.smin = S64_MIN
    reg.smax = S64_MAX
    reg.umin = 0
    reg.umax = U64_MAX


def mark_reg32_unbounded(reg: RegState) -> None:
    reg.s32_min = S32_MIN
    reg.s32_max = S32_MAX
    reg.u32_min = 0
    reg.u32_max = U32_MAX


def mark_unknown(reg: RegState, bpf_capable: bool = True) -> None:
    """``__mark_reg_unknown``: an unbounded scalar (precise when unprivileged)."""
    reg.type = SCALAR_VALUE
    _clear_aux(reg)
    reg.id = 0
    reg.ref_obj_id = 0
    reg.var_off = T.UNKNOWN
    reg.frameno = 0
    reg.precise = not bpf_capable
    reg.smin = S64_MIN
    reg.smax = S64_MAX
    reg.umin = 0
    reg.umax = U64_MAX
    reg.s32_min = S32_MIN
    reg.s32_max = S32_MAX
    reg.u32_min = 0
    reg.u32_max = U32_MAX


def mark_not_init(reg: RegState, bpf_capable: bool = True) -> None:
    """``__mark_reg_not_init``."""
    mark_unknown(reg, bpf_capable)
    reg.type = NOT_INIT


def clear_scalar_id(reg: RegState) -> None:
    """``clear_scalar_id`` (kernel/bpf/verifier.c): drop a scalar's link to its
    copies, the id and the BPF_ADD_CONST delta kept in ``off``."""
    reg.id = 0
    reg.off = 0


def type_may_be_null(t: int) -> bool:
    return bool(t & PTR_MAYBE_NULL)


def is_pointer_value(allow_ptr_leaks: bool, reg: RegState) -> bool:
    """``__is_pointer_value``: a pointer the program may not treat as a number."""
    if allow_ptr_leaks:
        return False
    return reg.type != SCALAR_VALUE


#: BPF_REG_TRUSTED_MODIFIERS (include/linux/bpf_verifier.h)
TRUSTED_MODIFIERS: Final = MEM_ALLOC | PTR_TRUSTED | NON_OWN_REF
#: reg2btf_ids[]: base types whose pointers are always trusted (kernel/bpf/verifier.c, CONFIG_NET)
_REG2BTF: Final = frozenset({PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK,
                            CONST_PTR_TO_MAP})  # [CONST_PTR_TO_MAP] = btf_bpf_map_id


def is_trusted_reg(reg: RegState, ignore: int = 0) -> bool:
    """``is_trusted_reg`` (verifier.c, 6.18): referenced, or of a reg2btf_ids type, or
    carrying a trusted modifier and no other flag (``bpf_type_has_unsafe_modifiers``);
    ``ignore``: flags set aside first (PTR_MAYBE_NULL for a nullable argument)."""
    if reg.ref_obj_id:
        return True
    flags = reg.type & ~BASE_TYPE_MASK & ~ignore
    if (reg.type & BASE_TYPE_MASK) in _REG2BTF and not flags & ~TRUSTED_MODIFIERS:
        return True
    return bool(flags & TRUSTED_MODIFIERS) and not flags & ~TRUSTED_MODIFIERS


def reg_is_const(reg: RegState, subreg32: bool) -> bool:
    """``is_reg_const``: a scalar whose (sub)register value is known."""
    if reg.type != SCALAR_VALUE:
        return False
    return T.subreg_is_const(reg.var_off) if subreg32 else reg.var_off[1] == 0


def reg_const_value(reg: RegState, subreg32: bool) -> int:
    return reg.var_off[0] & U32_MAX if subreg32 else reg.var_off[0]


def register_is_null(reg: RegState) -> bool:
    return reg.type == SCALAR_VALUE and reg.var_off == (0, 0)
