"""Memory accesses: loads, stores and atomics through each pointer type.

Models ``check_mem_access`` and what it dispatches to in kernel/bpf/verifier.c
(Linux 6.18): alignment (``check_ptr_alignment``, strict only with
``BPF_F_STRICT_ALIGNMENT`` or on the stack), the stack
(``check_stack_access_within_bounds``, ``check_stack_{read,write}_{fixed,var}_off``
with spill/fill of registers, STACK_MISC / STACK_ZERO), map values
(``check_map_access_type``, ``check_mem_region_access``), the context
(``check_ctx_access`` through :mod:`verifier.ctx`), BTF pointers
(``check_ptr_to_btf_access`` with the subsystem's ``btf_struct_access``),
``check_load_mem`` / ``check_store_reg`` / ``check_atomic`` and the helper
memory checks ``check_helper_mem_access`` / ``check_stack_range_initialized``
/ ``check_mem_size_reg``. Messages are the kernel's.
"""

from __future__ import annotations

import errno as E
from typing import Callable, Final, TYPE_CHECKING

from kernel_model.conntrack import WRITE_PROG_TYPES as CT_WRITE_PROG_TYPES
from kernel_model import isa
from kernel_model.errors import ENOTSUPP

from . import alu, ctx as ctx_access, precision, scalar as S, tnum as T
from .decoded import DInsn
from .fastcall import check_fastcall_stack_contract
from .core import Env, BPF_MAX_VAR_OFF, BPF_MAX_VAR_SIZ, DST_OP, DST_OP_NO_MARK, INSN_F_SPI_SHIFT, \
    INSN_F_STACK_ACCESS, SRC_OP
from .log import reg_type_str, tnum_str
from .regs import (
    BASE_TYPE_MASK, PTR_TO_ARENA,
    CONST_PTR_TO_MAP, MEM_ALLOC, MEM_RDONLY, MEM_USER, MEM_PERCPU, NOT_INIT, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_BUF,
    PTR_TO_CTX, PTR_TO_FLOW_KEYS, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET,
    PTR_TO_PACKET_END, PTR_TO_PACKET_META, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_STACK, PTR_TO_TCP_SOCK,
    PTR_TO_TP_BUFFER, PTR_TO_XDP_SOCK, PTR_UNTRUSTED, SCALAR_VALUE, S64_MIN, RegState,
    base_type, clear_scalar_id, is_pointer_value, mark_const_zero, mark_known, mark_known_zero, mark_unknown, register_is_null,
    s32,
)
from .state import (StackSlot,
    BPF_REG_SIZE, STACK_DYNPTR, STACK_INVALID, STACK_MISC, STACK_SPILL, STACK_ZERO, FuncState, is_spilled_reg,
    is_spilled_scalar_reg,
)

if TYPE_CHECKING:
    from .calls import CallMeta

__all__ = ["check_mem_access", "check_load_mem", "check_store_reg", "check_atomic", "check_helper_mem_access", "check_mem_size_reg", "check_stack_range_initialized", "check_map_access", "check_ptr_off_reg", "MEM_ACCESS", "BPF_READ", "BPF_WRITE", "ACCESS_DIRECT", "ACCESS_HELPER"]

BPF_READ: Final = 1
BPF_WRITE: Final = 2
ACCESS_DIRECT: Final = 1
ACCESS_HELPER: Final = 2
MAX_BPF_STACK: Final = isa.MAX_BPF_STACK
_SIZE: Final = {isa.W: 4, isa.H: 2, isa.B: 1, isa.DW: 8}

_SPILLABLE: Final = frozenset({PTR_TO_MAP_VALUE, PTR_TO_STACK, PTR_TO_CTX, PTR_TO_PACKET, PTR_TO_PACKET_META,
                        PTR_TO_PACKET_END, PTR_TO_FLOW_KEYS, CONST_PTR_TO_MAP, PTR_TO_SOCKET,
                        PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK, PTR_TO_BTF_ID, PTR_TO_BUF,
                        PTR_TO_MEM, 20, PTR_TO_MAP_KEY, 18})


def is_spillable(t: int) -> bool:
    return base_type(t) in _SPILLABLE


def _mark_misc(types: list[int], j: int) -> None:
    """``mark_stack_slot_misc``: keep STACK_ZERO and STACK_INVALID."""
    if types[j] in (STACK_ZERO, STACK_INVALID):
        return
    types[j] = STACK_MISC


def _scrub(types: list[int], j: int) -> None:
    """``scrub_spilled_slot``."""
    if types[j] != STACK_INVALID:
        types[j] = STACK_MISC


def _stack_flags(frameno: int, spi: int) -> int:
    return INSN_F_STACK_ACCESS | (spi << INSN_F_SPI_SHIFT) | frameno



# --- alignment ------------------------------------------------------------------------------
#: check_ptr_alignment's pointer descriptions (exact types: a flagged type has none)
_ALIGN_DESC: Final = {PTR_TO_FLOW_KEYS: "flow keys ", PTR_TO_MAP_KEY: "key ", PTR_TO_MAP_VALUE: "value ",
               PTR_TO_CTX: "context ", PTR_TO_STACK: "stack ", PTR_TO_SOCKET: "sock ",
               PTR_TO_SOCK_COMMON: "sock_common ", PTR_TO_TCP_SOCK: "tcp_sock ", PTR_TO_XDP_SOCK: "xdp_sock "}


def check_ptr_alignment(env: Env, reg: RegState, off: int, size: int, strict_once: bool) -> None:
    strict = env.strict_alignment or strict_once
    t = reg.type
    if t in (PTR_TO_PACKET, PTR_TO_PACKET_META):
        if not strict or size == 1:
            return
        ro = T.add(reg.var_off, T.const(2 + reg.off + off))
        if not T.is_aligned(ro, size):
            raise env.reject(E.EACCES, f"misaligned packet access off 2+{tnum_str(reg.var_off)}+{reg.off}+"
                                       f"{off} size {size}")
        return
    if t == PTR_TO_ARENA:
        return
    desc = _ALIGN_DESC.get(t, "")
    if t == PTR_TO_STACK:
        strict = True  # the stack is always checked (check_ptr_alignment)
    if not strict or size == 1:
        return
    ro = T.add(reg.var_off, T.const(reg.off + off))
    if not T.is_aligned(ro, size):
        raise env.reject(E.EACCES, f"misaligned {desc}access off {tnum_str(reg.var_off)}+{reg.off}+{off} "
                                   f"size {size}")

# --- stack ----------------------------------------------------------------------------------
def check_stack_access_within_bounds(env: Env, regno: int, off: int, size: int, atype: int) -> None:
    reg = env.cur_regs()[regno]
    state = env.func_of(reg)
    extra = " read from" if atype == BPF_READ else " write to"
    if reg.var_off[1] == 0:
        from .regs import s64
        min_off = s64(reg.var_off[0]) + off
        max_off = min_off + size
    else:
        if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            raise env.reject(E.EACCES, f"invalid unbounded variable-offset{extra} stack R{regno}")
        min_off = reg.smin + off
        max_off = reg.smax + off + size
    if atype == BPF_WRITE or env.allow_uninit_stack:
        min_valid = -MAX_BPF_STACK
    else:
        min_valid = -state.allocated_stack
    err = 0
    if min_off < min_valid or min_off > -1:
        err = E.EACCES
    elif max_off > 0:
        err = E.EINVAL
    elif size < 0:
        err = E.EFAULT
    if err:
        if reg.var_off[1] == 0:
            raise env.reject(err, f"invalid{extra} stack R{regno} off={off} size={size}")
        raise env.reject(err, f"invalid variable-offset{extra} stack R{regno} var_off={tnum_str(reg.var_off)} "
                              f"off={off} size={size}")
    env.grow_stack_state(state, -min_off)


def check_stack_write_fixed_off(env: Env, state: FuncState, off: int, size: int, value_regno: int,
                                insn_idx: int) -> None:
    slot_i = -off - 1
    spi = slot_i // BPF_REG_SIZE
    insn = env.insns[insn_idx]
    flags = _stack_flags(state.frameno, spi)
    slot = state.stack[spi]
    if not env.allow_ptr_leaks and is_spilled_reg(slot) and not is_spilled_scalar_reg(slot) \
            and size != BPF_REG_SIZE:
        raise env.reject(E.EACCES, "attempt to corrupt spilled pointer on stack")
    cur = env.cur_func()
    reg = cur.regs[value_regno] if value_regno >= 0 else None
    if not env.bypass_spec_v4:
        # Spectre v4: a store that may overwrite a pointer (or an unwritten slot) gets a
        # barrier after it, and speculative paths stop there (nospec_result)
        sanitize = reg is not None and is_spillable(reg.type)
        if not sanitize:
            sanitize = any(slot.types[(slot_i - i) % BPF_REG_SIZE] not in (STACK_MISC, STACK_ZERO)
                           for i in range(size))
        if sanitize:
            env.aux[insn_idx].nospec_result = True
    from .dynptrs import destroy_if_dynptr_stack_slot, invalidate_slices_on_stack
    destroy_if_dynptr_stack_slot(env, state, spi)
    check_fastcall_stack_contract(env, state.subprogno, insn_idx, off)
    invalidate_slices_on_stack(env, state.frameno, off, off + size)
    env.stack_write_mark(state, spi, off, size)
    env.scratched_stack |= 1 << spi
    is_st = insn.cls == isa.ST and insn.mode == isa.MEM
    if reg is not None and not (off % BPF_REG_SIZE) and reg.type == SCALAR_VALUE and env.bpf_capable:
        fits = reg.umax.bit_length() <= 8 * size
        if fits:
            alu.assign_scalar_id_before_mov(env, reg)
        _save_reg(slot, reg, size)
        if not fits:
            slot.spilled.id = 0
    elif reg is None and not (off % BPF_REG_SIZE) and is_st and env.bpf_capable:
        tmp = RegState()
        mark_known(tmp, insn.imm)
        tmp.type = SCALAR_VALUE
        _save_reg(slot, tmp, size)
    elif reg is not None and is_spillable(reg.type):
        if size != BPF_REG_SIZE:
            raise env.reject(E.EACCES, "invalid size of register spill")
        if state is not cur and reg.type == PTR_TO_STACK:
            raise env.reject(E.EINVAL, "cannot spill pointers to stack into stack frame of the caller")
        _save_reg(slot, reg, size)
    else:
        typ = STACK_MISC
        slot.spilled.type = NOT_INIT
        if slot.types[BPF_REG_SIZE - 1] == STACK_SPILL or slot.types[0] in (4, 5, 6):
            for j in range(BPF_REG_SIZE):
                _scrub(slot.types, j)
        if (reg is not None and register_is_null(reg)) or (reg is None and is_st and insn.imm == 0):
            precision.mark_chain_precision(env, value_regno)
            typ = STACK_ZERO
        for i in range(size):
            slot.types[(slot_i - i) % BPF_REG_SIZE] = typ
        flags = 0
    if flags:
        env.push_jmp_history(env.cur, flags, 0)


def _save_reg(slot: StackSlot, reg: RegState, size: int) -> None:
    """``save_register_state``."""
    slot.spilled.assign(reg)
    i = BPF_REG_SIZE
    while i > BPF_REG_SIZE - size:
        slot.types[i - 1] = STACK_SPILL
        i -= 1
    while i:
        _mark_misc(slot.types, i - 1)
        i -= 1


def check_stack_write_var_off(env: Env, state: FuncState, ptr_regno: int, off: int, size: int,
                              value_regno: int, insn_idx: int) -> None:
    cur = env.cur_func()
    ptr = cur.regs[ptr_regno]
    min_off = ptr.smin + off
    max_off = ptr.smax + off + size
    value_reg = cur.regs[value_regno] if value_regno >= 0 else None
    insn = env.insns[insn_idx]
    is_st = insn.cls == isa.ST and insn.mode == isa.MEM
    writing_zero = (value_reg is not None and register_is_null(value_reg)) or \
        (value_reg is None and is_st and insn.imm == 0)
    zero_used = False
    from .dynptrs import destroy_if_dynptr_stack_slot, invalidate_slices_on_stack
    for i in range(min_off, max_off):
        destroy_if_dynptr_stack_slot(env, state, (-i - 1) // BPF_REG_SIZE)
    check_fastcall_stack_contract(env, state.subprogno, insn_idx, min_off)
    invalidate_slices_on_stack(env, state.frameno, min_off, max_off)
    for i in range(min_off, max_off):
        slot_i = -i - 1
        spi = slot_i // BPF_REG_SIZE
        slot = state.stack[spi]
        j = slot_i % BPF_REG_SIZE
        st = slot.types[j]
        env.scratched_stack |= 1 << spi
        if not env.allow_ptr_leaks and st not in (STACK_MISC, STACK_ZERO):
            raise env.reject(E.EINVAL, f"spilled ptr in range of var-offset stack write; insn {insn_idx}, "
                                       f"ptr off: {i}")
        if writing_zero and st == STACK_SPILL and is_spilled_scalar_reg(slot):
            if slot.spilled.var_off == (0, 0):
                zero_used = True
                continue
        slot.spilled.type = NOT_INIT
        if slot.types[BPF_REG_SIZE - 1] == STACK_SPILL or slot.types[0] in (4, 5, 6):
            # the 6.18.44 host also scrubs a spilled register's (dynptr's, iterator's)
            # slot here, as check_stack_write_fixed_off does: every byte but
            # STACK_INVALID becomes STACK_MISC (measured: a var-offset write next to a
            # u8 spill at fp-16 leaves fp-16=mmmm???m, not the stale spill byte)
            for k in range(BPF_REG_SIZE):
                _scrub(slot.types, k)
            st = slot.types[j]
        new = STACK_MISC
        if writing_zero and st == STACK_ZERO:
            new = STACK_ZERO
            zero_used = True
        if st == STACK_INVALID and not env.allow_uninit_stack:
            raise env.reject(E.EINVAL, f"uninit stack in range of var-offset write prohibited for !root; "
                                       f"insn {insn_idx}, off: {i}")
        slot.types[j] = new
    if zero_used:
        precision.mark_chain_precision(env, value_regno)


def mark_reg_stack_read(env: Env, ptr_state: FuncState, min_off: int, max_off: int, dst_regno: int) -> None:
    cur = env.cur_func()
    zeros = 0
    for i in range(min_off, max_off):
        slot_i = -i - 1
        spi = slot_i // BPF_REG_SIZE
        env.scratched_stack |= 1 << spi
        if ptr_state.stack[spi].types[slot_i % BPF_REG_SIZE] != STACK_ZERO:
            break
        zeros += 1
    if zeros == max_off - min_off:
        mark_const_zero(cur.regs[dst_regno], env.bpf_capable)
    else:
        mark_unknown(cur.regs[dst_regno], env.bpf_capable)


def check_stack_read_fixed_off(env: Env, reg_state: FuncState, off: int, size: int, dst_regno: int) -> None:
    cur = env.cur_func()
    slot_i = -off - 1
    spi = slot_i // BPF_REG_SIZE
    slot = reg_state.stack[spi]
    stype = slot.types
    reg = slot.spilled
    flags = _stack_flags(reg_state.frameno, spi)
    env.scratched_stack |= 1 << spi
    # (the current frame's subprogram, whichever frame's stack is read)
    check_fastcall_stack_contract(env, cur.subprogno, env.insn_idx, off)
    env.stack_read_mark(reg_state, spi)
    if is_spilled_reg(slot):
        spill_size = 1
        i = BPF_REG_SIZE - 1
        while i > 0 and stype[i - 1] == STACK_SPILL:
            spill_size += 1
            i -= 1
        if size != BPF_REG_SIZE or spill_size != BPF_REG_SIZE:
            if reg.type != SCALAR_VALUE:
                raise env.reject(E.EACCES, "invalid size of register fill")
            if dst_regno < 0:
                return
            if size <= spill_size and _narrow_ok(off, size, spill_size):
                dst = cur.regs[dst_regno]
                sd = dst.subreg_def
                dst.assign(reg)
                dst.subreg_def = sd
                if reg.umax.bit_length() > size * 8:
                    clear_scalar_id(dst)
            else:
                spill_cnt = zero_cnt = 0
                for i in range(size):
                    t = stype[(slot_i - i) % BPF_REG_SIZE]
                    if t == STACK_SPILL:
                        spill_cnt += 1
                        continue
                    if t == STACK_MISC:
                        continue
                    if t == STACK_ZERO:
                        zero_cnt += 1
                        continue
                    if t == STACK_INVALID and env.allow_uninit_stack:
                        continue
                    raise env.reject(E.EACCES, f"invalid read from stack off {off}+{i} size {size}")
                if spill_cnt == size and reg.var_off == (0, 0):
                    mark_const_zero(cur.regs[dst_regno], env.bpf_capable)
                elif zero_cnt == size:
                    mark_const_zero(cur.regs[dst_regno], env.bpf_capable)
                    flags = 0
                else:
                    mark_unknown(cur.regs[dst_regno], env.bpf_capable)
                    flags = 0
        elif dst_regno >= 0:
            cur.regs[dst_regno].assign(reg)
        elif is_pointer_value(env.allow_ptr_leaks, reg):
            raise env.reject(E.EACCES, f"leaking pointer from stack off {off}")
    else:
        for i in range(size):
            t = stype[(slot_i - i) % BPF_REG_SIZE]
            if t in (STACK_MISC, STACK_ZERO):
                continue
            if t == STACK_INVALID and env.allow_uninit_stack:
                continue
            raise env.reject(E.EACCES, f"invalid read from stack off {off}+{i} size {size}")
        if dst_regno >= 0:
            mark_reg_stack_read(env, reg_state, off, off + size, dst_regno)
        flags = 0
    if flags:
        env.push_jmp_history(env.cur, flags, 0)


def check_stack_read(env: Env, ptr_regno: int, off: int, size: int, dst_regno: int) -> None:
    reg = env.cur_regs()[ptr_regno]
    state = env.func_of(reg)
    var = reg.var_off[1] != 0
    if dst_regno < 0 and var:
        raise env.reject(E.EACCES, "variable offset stack pointer cannot be passed into helper function; "
                                   f"var_off={tnum_str(reg.var_off)} off={off} size={size}")
    if not var:
        from .regs import s64
        check_stack_read_fixed_off(env, state, off + s64(reg.var_off[0]), size, dst_regno)
    else:
        check_stack_range_initialized(env, ptr_regno, off, size, False, BPF_READ, None)
        min_off = reg.smin + off
        max_off = reg.smax + off
        mark_reg_stack_read(env, state, min_off, max_off + size, dst_regno)
        check_fastcall_stack_contract(env, state.subprogno, env.insn_idx, min_off)


def check_stack_write(env: Env, ptr_regno: int, off: int, size: int, value_regno: int, insn_idx: int) -> None:
    reg = env.cur_regs()[ptr_regno]
    state = env.func_of(reg)
    if reg.var_off[1] == 0:
        from .regs import s64
        check_stack_write_fixed_off(env, state, off + s64(reg.var_off[0]), size, value_regno, insn_idx)
    else:
        check_stack_write_var_off(env, state, ptr_regno, off, size, value_regno, insn_idx)

# --- regions ----------------------------------------------------------------------------------
def _check_mem_access(env: Env, regno: int, off: int, size: int, mem_size: int, zero_ok: bool) -> None:
    """``__check_mem_access``."""
    size_ok = size > 0 or (size == 0 and zero_ok)
    if off >= 0 and size_ok and off + size <= mem_size:
        return
    reg = env.cur_regs()[regno]
    t = reg.type
    if t == PTR_TO_MAP_KEY:
        msg = f"invalid access to map key, key_size={mem_size} off={off} size={size}"
    elif t == PTR_TO_MAP_VALUE:
        msg = f"invalid access to map value, value_size={mem_size} off={off} size={size}"
    elif t in (PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_PACKET_END):
        msg = f"invalid access to packet, off={off} size={size}, R{regno}(id={reg.id},off={off},r={mem_size})"
    else:
        msg = f"invalid access to memory, mem_size={mem_size} off={off} size={size}"
    raise env.reject(E.EACCES, msg)


def check_mem_region_access(env: Env, regno: int, off: int, size: int, mem_size: int, zero_ok: bool) -> None:
    reg = env.cur_regs()[regno]
    smin = reg.smin
    if smin < 0 and (smin == S64_MIN or off + smin != s32(off + smin) or smin + off < 0):
        raise env.reject(E.EACCES, f"R{regno} min value is negative, either use unsigned index or do a "
                                   "if (index >=0) check.")
    try:
        _check_mem_access(env, regno, smin + off, size, mem_size, zero_ok)
    except Exception as e:
        env.verbose(f"R{regno} min value is outside of the allowed memory range\n")
        raise e
    if reg.umax >= BPF_MAX_VAR_OFF:
        raise env.reject(E.EACCES, f"R{regno} unbounded memory access, make sure to bounds check any such "
                                   "access")
    try:
        _check_mem_access(env, regno, reg.umax + off, size, mem_size, zero_ok)
    except Exception as e:
        env.verbose(f"R{regno} max value is outside of the allowed memory range\n")
        raise e


def check_map_access_type(env: Env, regno: int, off: int, size: int, atype: int) -> None:
    m = env.cur_regs()[regno].map
    flags = getattr(m, "map_flags", 0)
    # bpf_map_flags_to_cap(): BPF_F_RDONLY_PROG (1 << 7) / BPF_F_WRONLY_PROG (1 << 8)
    if atype == BPF_WRITE and flags & (1 << 7):
        raise env.reject(E.EACCES, f"write into map forbidden, value_size={m.value_size} off={off} "
                                   f"size={size}")
    if atype == BPF_READ and flags & (1 << 8):
        raise env.reject(E.EACCES, f"read from map forbidden, value_size={m.value_size} off={off} "
                                   f"size={size}")


def check_map_access(env: Env, regno: int, off: int, size: int, zero_ok: bool, src: int) -> None:
    """``check_map_access``: within the value, then no byte of a special field of its
    ``btf_record`` (a ``bpf_spin_lock``, ``bpf_timer``, ``bpf_wq``) touched, whatever the
    access (load, store, atomic, helper memory): ``<field> cannot be accessed directly by
    load/store`` (6.18)."""
    reg = env.cur_regs()[regno]
    m = reg.map
    check_mem_region_access(env, regno, off, size, m.value_size, zero_ok)
    rec = getattr(m, "record", None)
    if rec is None:
        return
    for f in rec.fields:
        if reg.smin + off < f.offset + f.size and f.offset < reg.umax + off + size:
            if f.kptr:
                from .kptrs import check_kptr_overlap
                check_kptr_overlap(env, reg, off, size, f, src == ACCESS_DIRECT)
                continue
            raise env.reject(E.EACCES, f"{f.name} cannot be accessed directly by load/store")

# --- the dispatcher -----------------------------------------------------------------------
# check_mem_access's branches, one function per pointer type; each takes
# (env, regs, regno, off, size, atype, value_regno, insn_idx, is_ldsx) with ``off``
# already including the register's fixed offset.

def _access_map_key(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                    value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    if atype == BPF_WRITE:
        raise env.reject(E.EACCES, f"write to change key R{regno} not allowed")
    check_mem_region_access(env, regno, off, size, regs[regno].map.key_size, False)
    if value_regno >= 0:
        mark_unknown(regs[value_regno], env.bpf_capable)


def _access_map_value(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                      value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(env.allow_ptr_leaks, regs[value_regno]):
        raise env.reject(E.EACCES, f"R{value_regno} leaks addr into map")
    check_map_access_type(env, regno, off, size, atype)
    check_map_access(env, regno, off, size, False, ACCESS_DIRECT)
    rec = getattr(regs[regno].map, "record", None)
    if rec is not None and any(f.kptr for f in rec.fields):
        from .kptrs import check_map_kptr_access, kptr_field_at
        kf = kptr_field_at(rec, off + regs[regno].var_off[0])
        if kf is not None:
            check_map_kptr_access(env, regs, regno, value_regno, insn_idx, kf)
            return
    if atype == BPF_READ and value_regno >= 0:
        reg = regs[regno]
        m = reg.map
        read = getattr(m, "direct_read", None)
        if reg.var_off[1] == 0 and read is not None and _map_is_rdonly(m):
            regs[value_regno].type = SCALAR_VALUE
            mark_known(regs[value_regno], _map_direct_read(env, read, off + reg.var_off[0], size, is_ldsx))
        else:
            mark_unknown(regs[value_regno], env.bpf_capable)


def _map_is_rdonly(m: object) -> bool:
    """``bpf_map_is_rdonly`` (kernel/bpf/verifier.c, 6.18): ``BPF_F_RDONLY_PROG`` and frozen
    (no writable mmap is modelled, so ``bpf_map_write_active`` is false)."""
    return bool(getattr(m, "map_flags", 0) & (1 << 7)) and bool(getattr(m, "frozen", False))


def _map_direct_read(env: Env, read: Callable[[int, int], bytes | int], off: int, size: int, is_ldsx: bool) -> int:
    """``bpf_map_direct_read``: a read-only map's bytes as a known scalar (sign-extended for
    BPF_MEMSX); the map's ``map_direct_value_addr`` error ends the load without a message."""
    off &= (1 << 64) - 1
    data = read(off if off < 1 << 63 else off - (1 << 64), size)
    if isinstance(data, int):
        raise env.reject(-data)
    val = int.from_bytes(data, "little", signed=is_ldsx and size < 8)
    return val & ((1 << 64) - 1)


def _access_mem(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    reg = regs[regno]
    t = reg.type
    rdonly = bool(t & MEM_RDONLY)
    if t & PTR_MAYBE_NULL:
        raise env.reject(E.EACCES, f"R{regno} invalid mem access '{reg_type_str(t)}'")
    if atype == BPF_WRITE and rdonly:
        raise env.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(t)}")
    if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(env.allow_ptr_leaks, regs[value_regno]):
        raise env.reject(E.EACCES, f"R{value_regno} leaks addr into mem")
    if not (rdonly and t & PTR_UNTRUSTED):
        check_mem_region_access(env, regno, off, size, reg.mem_size, False)
    if value_regno >= 0 and (atype == BPF_READ or rdonly):
        mark_unknown(regs[value_regno], env.bpf_capable)


def _access_ctx(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(env.allow_ptr_leaks, regs[value_regno]):
        raise env.reject(E.EACCES, f"R{value_regno} leaks addr into ctx")
    check_ptr_off_reg(env, regs[regno], regno, False)
    info = ctx_access.check_ctx_access(env, insn_idx, off, size, atype, is_ldsx)
    if atype == BPF_READ and value_regno >= 0:
        rtype, btf, btf_id = info
        dst = regs[value_regno]
        if rtype == SCALAR_VALUE:
            mark_unknown(dst, env.bpf_capable)
        else:
            mark_known_zero(dst)
            if rtype & PTR_MAYBE_NULL:
                dst.id = env.new_id()
            dst.subreg_def = 0
            if base_type(rtype) == PTR_TO_BTF_ID:
                dst.btf = btf
                dst.btf_id = btf_id
                dst.ref_obj_id = 0
        dst.type = rtype


def _access_stack(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                  value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    check_stack_access_within_bounds(env, regno, off, size, atype)
    if atype == BPF_READ:
        check_stack_read(env, regno, off, size, value_regno)
    else:
        check_stack_write(env, regno, off, size, value_regno, insn_idx)


#: include/linux/bpf.h MAX_PACKET_OFF
MAX_PACKET_OFF: Final = 0xFFFF

#: may_access_direct_pkt_data (kernel/bpf/verifier.c, 6.18): types with direct read only,
#: and types with direct read and write (cgroup_sockopt's buffer is modelled with its type)
_PKT_READ_ONLY: Final = frozenset({10, 11, 19, 21, 22, 8})   # lwt_in/out/seg6local, sk_reuseport,
#                                                               flow_dissector, cgroup_skb
_PKT_READ_WRITE: Final = frozenset({3, 4, 6, 12, 14, 16})    # sched_cls/act, xdp, lwt_xmit, sk_skb, sk_msg


def may_access_direct_pkt_data(env: Env, pkt_access: bool | None, atype: int) -> bool:
    """``may_access_direct_pkt_data``: may the program type read (write) its packet
    directly; for a helper argument (``pkt_access`` not None), whether the helper's
    prototype allows packet memory (``meta->pkt_access``)."""
    pt = env.attr.prog_type
    if pt in _PKT_READ_ONLY and atype == BPF_WRITE:
        return False
    if pt in _PKT_READ_ONLY or pt in _PKT_READ_WRITE:
        if pkt_access is not None:
            return pkt_access
        env.seen_direct_write = True
        return True
    if pt == 25:  # BPF_PROG_TYPE_CGROUP_SOCKOPT
        if atype == BPF_WRITE:
            env.seen_direct_write = True
        return True
    return False


def check_packet_access(env: Env, regno: int, off: int, size: int, zero_size_allowed: bool) -> None:
    """``check_packet_access``: a fixed offset inside the range the comparisons with
    ``pkt_end`` proved (``reg->range``), from a pointer whose variable part is
    non-negative; ``__check_mem_access``'s packet message before the general one."""
    reg = env.cur_regs()[regno]
    if reg.smin < 0:
        raise env.reject(E.EACCES, f"R{regno} min value is negative, either use unsigned index or do a if "
                                   "(index >=0) check.")
    size_ok = size > 0 or (size == 0 and zero_size_allowed)
    if reg.range < 0:
        raise env.reject(E.EINVAL, f"R{regno} offset is outside of the packet")
    if not (off >= 0 and size_ok and off + size <= reg.range):
        env.verbose(f"invalid access to packet, off={off} size={size}, R{regno}(id={reg.id},off={off},"
                    f"r={reg.range})\n")
        raise env.reject(E.EACCES, f"R{regno} offset is outside of the packet")


def _access_packet(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                   value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    """check_mem_access's packet branch (kernel/bpf/verifier.c, 6.18)."""
    if atype == BPF_WRITE and not may_access_direct_pkt_data(env, None, atype):
        raise env.reject(E.EACCES, "cannot write into packet")
    if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(env.allow_ptr_leaks, regs[value_regno]):
        raise env.reject(E.EACCES, f"R{value_regno} leaks addr into packet")
    check_packet_access(env, regno, off, size, False)
    if atype == BPF_READ and value_regno >= 0:
        mark_unknown(regs[value_regno], env.bpf_capable)


def _access_tp_buffer(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                      value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    """``check_tp_buffer_access`` (``__check_buffer_access`` with "tracepoint"): a fixed,
    non-negative offset into a writable raw tracepoint's buffer; the largest offset
    reached (``max_tp_access``) is checked against the tracepoint when attaching."""
    reg = regs[regno]
    if off < 0:
        raise env.reject(E.EACCES, f"R{regno} invalid tracepoint buffer access: off={off}, size={size}")
    if reg.var_off[1] != 0 or reg.var_off[0]:
        raise env.reject(E.EACCES, f"R{regno} invalid variable buffer offset: off={off}, "
                                   f"var_off={tnum_str(reg.var_off)}")
    if atype == BPF_READ and value_regno >= 0:
        mark_unknown(regs[value_regno], env.bpf_capable)


def _access_flow_keys(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                      value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(env.allow_ptr_leaks, regs[value_regno]):
        raise env.reject(E.EACCES, f"R{value_regno} leaks addr into flow keys")
    if size < 0 or off < 0 or off + size > 56:
        raise env.reject(E.EACCES, f"invalid access to flow keys off={off} size={size}")
    if atype == BPF_READ and value_regno >= 0:
        mark_unknown(regs[value_regno], env.bpf_capable)


def _access_sock(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                 value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    """check_mem_access's socket branch: no writes, then ``check_sock_access``
    (:func:`verifier.sock_ctx.check_sock_access`); a loaded field is an unknown scalar."""
    t = regs[regno].type
    if atype == BPF_WRITE:
        raise env.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(t)}")
    from .sock_ctx import check_sock_access
    check_sock_access(env, insn_idx, regno, off, size, atype)
    if value_regno >= 0:
        mark_unknown(regs[value_regno], env.bpf_capable)


def _access_btf_id(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                   value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    check_ptr_to_btf_access(env, regs, regno, off, size, atype, value_regno)


def _access_map_ptr(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                    value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    check_ptr_to_map_access(env, regs, regno, off, size, atype, value_regno)


def _access_arena(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                  value_regno: int, insn_idx: int, is_ldsx: bool) -> None:
    if atype == BPF_READ and value_regno >= 0:
        mark_unknown(regs[value_regno], env.bpf_capable)


_AccessFn = Callable[[Env, "list[RegState]", int, int, int, int, int, int, bool], None]
_ANY_FLAG: Final = ~BASE_TYPE_MASK

#: base pointer type -> (the type flags it may carry, its check); a type with other
#: flags, or a base type not listed, is ``R%d invalid mem access '%s'``
MEM_ACCESS: dict[int, tuple[int, _AccessFn]] = {
    PTR_TO_MAP_KEY: (0, _access_map_key),
    PTR_TO_MAP_VALUE: (0, _access_map_value),
    PTR_TO_MEM: (_ANY_FLAG, _access_mem),
    PTR_TO_CTX: (0, _access_ctx),
    PTR_TO_STACK: (0, _access_stack),
    PTR_TO_PACKET: (0, _access_packet),
    PTR_TO_PACKET_META: (0, _access_packet),
    PTR_TO_FLOW_KEYS: (0, _access_flow_keys),
    PTR_TO_TP_BUFFER: (0, _access_tp_buffer),
    PTR_TO_SOCKET: (0, _access_sock),
    PTR_TO_SOCK_COMMON: (0, _access_sock),
    PTR_TO_TCP_SOCK: (0, _access_sock),
    PTR_TO_XDP_SOCK: (0, _access_sock),
    PTR_TO_BTF_ID: (_ANY_FLAG & ~PTR_MAYBE_NULL, _access_btf_id),
    CONST_PTR_TO_MAP: (0, _access_map_ptr),
    PTR_TO_ARENA: (0, _access_arena),
}


def check_mem_access(env: Env, insn_idx: int, regno: int, off: int, bpf_size: int, atype: int,
                     value_regno: int, strict_once: bool, is_ldsx: bool) -> None:
    """``check_mem_access``: the access's alignment, then the check of its pointer type
    (:data:`MEM_ACCESS`), then the narrowing of a loaded scalar."""
    regs = env.cur_regs()
    reg = regs[regno]
    size = _SIZE[bpf_size]
    check_ptr_alignment(env, reg, off, size, strict_once)
    off += reg.off
    t = reg.type
    entry = MEM_ACCESS.get(t & BASE_TYPE_MASK)
    if entry is None or t & ~BASE_TYPE_MASK & ~entry[0]:
        raise env.reject(E.EACCES, f"R{regno} invalid mem access '{reg_type_str(t)}'")
    entry[1](env, regs, regno, off, size, atype, value_regno, insn_idx, is_ldsx)
    if size < BPF_REG_SIZE and value_regno >= 0 and atype == BPF_READ and regs[value_regno].type == SCALAR_VALUE:
        if not is_ldsx:
            S.coerce_to_size(regs[value_regno], size)
        else:
            # A fill (check_stack_read_fixed_off) copies the spilled register's scalar
            # id; sign extension changes the value unless umax < 2^(8*size-1), and a
            # bound learnt on a changed copy must not reach the original through
            # sync_linked_regs. The 6.18.44 host clears the id exactly there, the
            # rule of the BPF_MOVSX path in check_alu_op (measured: an s32 fill of a
            # u32 spill of [0, U32_MAX] loses id=1, an s8 fill of [0, 127] keeps it).
            dst = regs[value_regno]
            if dst.umax >= 1 << (size * 8 - 1):
                clear_scalar_id(dst)
            S.coerce_to_size_sx(dst, size)


def check_ptr_off_reg(env: Env, reg: RegState, regno: int, fixed_off_ok: bool) -> None:
    """``__check_ptr_off_reg``: a pointer passed or dereferenced unmodified."""
    if reg.off < 0:
        raise env.reject(E.EACCES, f"negative offset {reg_type_str(reg.type)} ptr R{regno} off={reg.off} "
                                   "disallowed")
    if not fixed_off_ok and reg.off:
        raise env.reject(E.EACCES, f"dereference of modified {reg_type_str(reg.type)} ptr R{regno} "
                                   f"off={reg.off} disallowed")
    if reg.var_off[1] != 0 or reg.var_off[0]:
        raise env.reject(E.EACCES, f"variable {reg_type_str(reg.type)} access var_off={tnum_str(reg.var_off)} "
                                   "disallowed")


def check_ptr_to_btf_access(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                            value_regno: int) -> None:
    """``check_ptr_to_btf_access`` with ``btf_struct_access`` for reads and the
    subsystem's writable ranges for writes."""
    reg = regs[regno]
    btf = reg.btf
    t = btf.type_by_id(reg.btf_id) if btf is not None else None
    tname = t.name if t is not None else ""
    if not env.allow_ptr_leaks:
        raise env.reject(E.EPERM, f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")
    if not env.attr.gpl_compatible:
        raise env.reject(E.EINVAL, f"Cannot access kernel 'struct {tname}' from non-GPL compatible program")
    if off < 0:
        raise env.reject(E.EACCES, f"R{regno} is ptr_{tname} invalid negative access: off={off}")
    if reg.var_off[1] != 0 or reg.var_off[0]:
        raise env.reject(E.EACCES, f"R{regno} is ptr_{tname} invalid variable offset: off={off}, "
                                   f"var_off={tnum_str(reg.var_off)}")
    if reg.type & MEM_USER:
        raise env.reject(E.EACCES, f"R{regno} is ptr_{tname} access user memory: off={off}")
    if reg.type & MEM_PERCPU:
        raise env.reject(E.EACCES, f"R{regno} is ptr_{tname} access percpu memory: off={off}")
    from .btf_access import btf_struct_access, struct_ops_write_access
    if reg.type & MEM_ALLOC and not reg.type & MEM_PERCPU:
        # an object of bpf_obj_new: read and written through btf_struct_access, never its
        # special fields ("direct access to %s is disallowed"); a pointer member reads as a
        # scalar ("For local types, the destination register cannot become a pointer again")
        from .graph import check_alloc_access
        check_alloc_access(env, reg, regno, off, size)
        btf_struct_access(env, reg, off, size)
        if atype == BPF_READ and value_regno >= 0:
            mark_unknown(regs[value_regno], env.bpf_capable)
        return
    if atype == BPF_WRITE:
        if env.struct_ops_policy is not None:
            struct_ops_write_access(env, reg, off, size)
            return
        if env.attr.prog_type in CT_WRITE_PROG_TYPES:  # tc/XDP ops: the conntrack hook (verifier.conntrack)
            from .conntrack import nf_conn_write_access
            nf_conn_write_access(env, reg, off, size)
            return
        raise env.reject(E.EACCES, "only read is supported")
    field: list[str] = []
    kind, btf_id, flag = btf_struct_access(env, reg, off, size, field)
    if kind != PTR_TO_BTF_ID:
        flag = 0
    else:
        # walking a trusted pointer: the allow lists of 6.18 (verifier.walk_trust)
        from .walk_trust import walk_flags
        flag = walk_flags(env, reg, field[-1] if field else "", btf_id, flag)
    if value_regno >= 0:
        dst = regs[value_regno]
        if kind == SCALAR_VALUE:
            mark_unknown(dst, env.bpf_capable)
        else:
            mark_known_zero(dst)
            dst.type = PTR_TO_BTF_ID | flag
            dst.btf = btf  # read before mark_known_zero: dst may be reg itself (r1 = *(r1 + off))
            dst.btf_id = btf_id
            if flag & PTR_MAYBE_NULL:
                dst.id = env.new_id()


def check_ptr_to_map_access(env: Env, regs: list[RegState], regno: int, off: int, size: int, atype: int,
                            value_regno: int) -> None:
    """``check_ptr_to_map_access`` (verifier.c, 6.18): a read of the map object's own
    fields, walked as a ``PTR_TO_BTF_ID`` of the map type's struct (verifier/map_btf.py)."""
    from .btf_access import _walk
    from .map_btf import map_struct_id
    m = regs[regno].map
    found = map_struct_id(m.map_type) if m is not None else None
    if found is None:
        raise env.reject(ENOTSUPP, f"map_ptr access not supported for map type {m.map_type if m else 0}")
    btf, tid, tname = found
    if not env.allow_ptr_leaks:
        raise env.reject(E.EPERM, f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")
    if off < 0:
        raise env.reject(E.EACCES, f"R{regno} is {tname} invalid negative access: off={off}")
    if atype != BPF_READ:
        raise env.reject(E.EACCES, f"only read from {tname} is supported")
    kind, btf_id, flag = _walk(env, btf, tid, off, size, 0)
    if value_regno >= 0:
        dst = regs[value_regno]
        if kind == SCALAR_VALUE:
            mark_unknown(dst, env.bpf_capable)
        else:
            mark_known_zero(dst)
            dst.type = PTR_TO_BTF_ID | flag
            dst.btf = btf
            dst.btf_id = btf_id

# --- instructions -------------------------------------------------------------------------
def check_load_mem(env: Env, insn: DInsn, strict_once: bool, is_ldsx: bool, ctx: str) -> None:
    regs = env.cur_regs()
    env.check_reg_arg(insn.src, SRC_OP)
    env.check_reg_arg(insn.dst, DST_OP_NO_MARK)
    src_type = regs[insn.src].type
    check_mem_access(env, env.insn_idx, insn.src, insn.off, insn.size, BPF_READ, insn.dst,
                          strict_once, is_ldsx)
    save_aux_ptr_type(env, src_type, True)
    alu.bounds_sanity(env, regs[insn.dst], ctx)


def check_store_reg(env: Env, insn: DInsn, strict_once: bool) -> None:
    regs = env.cur_regs()
    env.check_reg_arg(insn.src, SRC_OP)
    env.check_reg_arg(insn.dst, SRC_OP)
    dst_type = regs[insn.dst].type
    check_mem_access(env, env.insn_idx, insn.dst, insn.off, insn.size, BPF_WRITE, insn.src,
                          strict_once, False)
    save_aux_ptr_type(env, dst_type, False)


def save_aux_ptr_type(env: Env, typ: int, allow_trust_mismatch: bool) -> None:
    """``save_aux_ptr_type``: the same instruction may not see two incompatible pointer kinds."""
    idx = env.insn_idx
    prev = env.ptr_type[idx]
    if prev == NOT_INIT:
        env.ptr_type[idx] = typ
        return
    if not _type_mismatch(typ, prev):
        return
    mem_or_btf = (PTR_TO_MEM, PTR_TO_BTF_ID)
    if allow_trust_mismatch and base_type(typ) in mem_or_btf and base_type(prev) in mem_or_btf:
        merged = PTR_TO_MEM if (base_type(typ) == PTR_TO_MEM or base_type(prev) == PTR_TO_MEM) else PTR_TO_BTF_ID
        if (typ | prev) & PTR_UNTRUSTED:
            merged |= PTR_UNTRUSTED
        if (typ | prev) & MEM_RDONLY:
            merged |= MEM_RDONLY
        env.ptr_type[idx] = merged
        return
    raise env.reject(E.EINVAL, "same insn cannot be used with different pointers")


def check_atomic(env: Env, insn: DInsn) -> None:
    imm = insn.imm
    if imm in (isa.ADD, isa.ADD | isa.FETCH, isa.AND, isa.AND | isa.FETCH, isa.OR, isa.OR | isa.FETCH,
               isa.XOR, isa.XOR | isa.FETCH, isa.XCHG, isa.CMPXCHG):
        _check_atomic_rmw(env, insn)
        return
    if imm == isa.LOAD_ACQ:
        check_load_mem(env, insn, True, False, "atomic_load")
        if not _atomic_ptr_ok(env, insn.src):
            t = env.cur_regs()[insn.src].type
            raise env.reject(E.EACCES, f"BPF_ATOMIC loads from R{insn.src} {reg_type_str(t)} is not allowed")
        return
    if imm == isa.STORE_REL:
        check_store_reg(env, insn, True)
        if not _atomic_ptr_ok(env, insn.dst):
            t = env.cur_regs()[insn.dst].type
            raise env.reject(E.EACCES, f"BPF_ATOMIC stores into R{insn.dst} {reg_type_str(t)} is not allowed")
        return
    raise env.reject(E.EINVAL, f"BPF_ATOMIC uses invalid atomic opcode {imm & 0xFFFFFFFF:02x}")


def _atomic_ptr_ok(env: Env, regno: int) -> bool:
    t = env.cur_regs()[regno].type
    return t not in (PTR_TO_CTX, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_FLOW_KEYS, PTR_TO_SOCKET,
                     PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK)


def _check_atomic_rmw(env: Env, insn: DInsn) -> None:
    if insn.size not in (isa.W, isa.DW):
        raise env.reject(E.EINVAL, "invalid atomic operand size")
    env.check_reg_arg(insn.src, SRC_OP)
    env.check_reg_arg(insn.dst, SRC_OP)
    regs = env.cur_regs()
    leaks = env.allow_ptr_leaks
    if insn.imm == isa.CMPXCHG:
        env.check_reg_arg(0, SRC_OP)
        if is_pointer_value(leaks, regs[0]):
            raise env.reject(E.EACCES, "R0 leaks addr into mem")
    if is_pointer_value(leaks, regs[insn.src]):
        raise env.reject(E.EACCES, f"R{insn.src} leaks addr into mem")
    if not _atomic_ptr_ok(env, insn.dst):
        t = regs[insn.dst].type
        raise env.reject(E.EACCES, f"BPF_ATOMIC stores into R{insn.dst} {reg_type_str(t)} is not allowed")
    if insn.imm & isa.FETCH:
        load_reg = 0 if insn.imm == isa.CMPXCHG else insn.src
        env.check_reg_arg(load_reg, DST_OP)
    else:
        load_reg = -1
    idx = env.insn_idx
    size = insn.size
    check_mem_access(env, idx, insn.dst, insn.off, size, BPF_READ, -1, True, False)
    if load_reg >= 0:
        check_mem_access(env, idx, insn.dst, insn.off, size, BPF_READ, load_reg, True, False)
    check_mem_access(env, idx, insn.dst, insn.off, size, BPF_WRITE, -1, True, False)

# --- helper memory ------------------------------------------------------------------------
def check_stack_range_initialized(env: Env, regno: int, off: int, access_size: int, zero_ok: bool,
                                  atype: int, meta: CallMeta | None) -> None:
    reg = env.cur_regs()[regno]
    state = env.func_of(reg)
    if access_size == 0 and not zero_ok:
        raise env.reject(E.EACCES, "invalid zero-sized read")
    clobber = atype == BPF_WRITE
    check_stack_access_within_bounds(env, regno, off, access_size, atype)
    from .regs import s64
    if reg.var_off[1] == 0:
        min_off = max_off = s64(reg.var_off[0]) + off
    else:
        if not env.bypass_spec_v1:
            raise env.reject(E.EACCES, f"R{regno} variable offset stack access prohibited for !root, "
                                       f"var_off={tnum_str(reg.var_off)}")
        if meta is not None and meta.raw_mode:
            meta = None
        min_off = reg.smin + off
        max_off = reg.smax + off
    if meta is not None and meta.raw_mode:
        # the helper's byte-by-byte write must not touch a dynptr
        for i in range(min_off, max_off + access_size):
            slot_i = -i - 1
            if state.allocated_stack <= slot_i:
                continue  # raw mode may write past allocated_stack
            if state.stack[slot_i // BPF_REG_SIZE].types[slot_i % BPF_REG_SIZE] == STACK_DYNPTR:
                raise env.reject(E.EACCES, f"potential write to dynptr at off={i} disallowed")
        meta.access_size = access_size
        meta.regno = regno
        return
    for i in range(min_off, max_off + access_size):
        slot_i = -i - 1
        spi = slot_i // BPF_REG_SIZE
        if state.allocated_stack <= slot_i:
            raise env.reject(E.EFAULT, "allocated_stack too small")
        slot = state.stack[spi]
        j = slot_i % BPF_REG_SIZE
        st = slot.types[j]
        if st == STACK_MISC:
            pass
        elif st == STACK_ZERO or (st == STACK_INVALID and env.allow_uninit_stack):
            if clobber:
                slot.types[j] = STACK_MISC
        elif is_spilled_reg(slot) and (slot.spilled.type == SCALAR_VALUE or env.allow_ptr_leaks):
            if clobber:
                mark_unknown(slot.spilled, env.bpf_capable)
                for k in range(BPF_REG_SIZE):
                    _scrub(slot.types, k)
        else:
            if reg.var_off[1] == 0:
                raise env.reject(E.EACCES, f"invalid read from stack R{regno} off {min_off}+{i - min_off} "
                                           f"size {access_size}")
            raise env.reject(E.EACCES, f"invalid read from stack R{regno} var_off {tnum_str(reg.var_off)}+"
                                       f"{i - min_off} size {access_size}")
        env.stack_read_mark(state, spi)


def check_helper_mem_access(env: Env, regno: int, access_size: int, atype: int, zero_ok: bool, meta: CallMeta | None) -> None:
    regs = env.cur_regs()
    reg = regs[regno]
    bt = base_type(reg.type)
    if bt in (PTR_TO_PACKET, PTR_TO_PACKET_META):
        check_packet_access(env, regno, reg.off, access_size, zero_ok)
        return
    if bt == PTR_TO_MAP_KEY:
        if atype == BPF_WRITE:
            raise env.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(reg.type)}")
        check_mem_region_access(env, regno, reg.off, access_size, reg.map.key_size, False)
        return
    if bt == PTR_TO_MAP_VALUE:
        check_map_access_type(env, regno, reg.off, access_size, atype)
        check_map_access(env, regno, reg.off, access_size, zero_ok, ACCESS_HELPER)
        return
    if bt == PTR_TO_MEM:
        if reg.type & MEM_RDONLY and atype == BPF_WRITE:
            raise env.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(reg.type)}")
        check_mem_region_access(env, regno, reg.off, access_size, reg.mem_size, zero_ok)
        return
    if bt == PTR_TO_STACK:
        check_stack_range_initialized(env, regno, reg.off, access_size, zero_ok, atype, meta)
        return
    if bt == PTR_TO_BTF_ID:
        check_ptr_to_btf_access(env, regs, regno, reg.off, access_size, BPF_READ, -1)
        return
    if zero_ok and access_size == 0 and register_is_null(reg):
        return
    raise env.reject(E.EACCES, f"R{regno} type={reg_type_str(reg.type)} expected={reg_type_str(PTR_TO_STACK)}")


def check_mem_size_reg(env: Env, reg: RegState, regno: int, atype: int, zero_ok: bool, meta: CallMeta) -> None:
    """``check_mem_size_reg``: the size argument after a memory argument."""
    meta.msize_max_value = reg.umax
    # a variable size cannot be a raw-mode (uninitialised) buffer's size: no meta then
    arg_meta: CallMeta | None = meta if reg.var_off[1] == 0 else None
    if reg.smin < 0:
        raise env.reject(E.EACCES, f"R{regno} min value is negative, either use unsigned or 'var &= const'")
    if reg.umin == 0 and not zero_ok:
        raise env.reject(E.EACCES, f"R{regno} invalid zero-sized read: u64=[{reg.umin},{reg.umax}]")
    if reg.umax >= BPF_MAX_VAR_SIZ:
        raise env.reject(E.EACCES, f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'")
    check_helper_mem_access(env, regno - 1, reg.umax, atype, zero_ok, arg_meta)
    precision.mark_chain_precision(env, regno)


def _narrow_ok(off: int, size: int, spill_size: int) -> bool:
    """``bpf_stack_narrow_access_ok`` on a little-endian machine: a narrow fill
    must start at the spill's first byte."""
    return off % BPF_REG_SIZE == 0


def _type_mismatch(src: int, prev: int) -> bool:
    """``reg_type_mismatch``."""
    def ok(t: int) -> bool:
        return base_type(t) not in (PTR_TO_CTX, PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK,
                                    PTR_TO_BTF_ID, 18)
    return src != prev and (not ok(src) or not ok(prev))
