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

from kernel_model import isa
from kernel_model.errors import ENOTSUPP

from . import scalar as S
from . import tnum as T
from .core import BPF_MAX_VAR_OFF, BPF_MAX_VAR_SIZ, DST_OP, DST_OP_NO_MARK, INSN_F_SPI_SHIFT, \
    INSN_F_STACK_ACCESS, SRC_OP
from .log import reg_type_str, tnum_str
from .regs import (
    CONST_PTR_TO_MAP, MEM_RDONLY, MEM_USER, MEM_PERCPU, NOT_INIT, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_BUF,
    PTR_TO_CTX, PTR_TO_FLOW_KEYS, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET,
    PTR_TO_PACKET_END, PTR_TO_PACKET_META, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_STACK, PTR_TO_TCP_SOCK,
    PTR_TO_XDP_SOCK, PTR_TRUSTED, PTR_UNTRUSTED, MEM_RCU, SCALAR_VALUE, S64_MIN, RegState,
    base_type, clear_scalar_id, is_pointer_value, is_trusted_reg, mark_const_zero, mark_known, mark_known_zero, mark_unknown, register_is_null,
    s32,
)
from .state import (
    BPF_REG_SIZE, STACK_INVALID, STACK_MISC, STACK_SPILL, STACK_ZERO, FuncState, is_spilled_reg,
    is_spilled_scalar_reg,
)

__all__ = ["MemMixin", "BPF_READ", "BPF_WRITE", "ACCESS_DIRECT", "ACCESS_HELPER"]

BPF_READ, BPF_WRITE = 1, 2
ACCESS_DIRECT, ACCESS_HELPER = 1, 2
MAX_BPF_STACK = 512
_SIZE = {isa.W: 4, isa.H: 2, isa.B: 1, isa.DW: 8}

_SPILLABLE = frozenset({PTR_TO_MAP_VALUE, PTR_TO_STACK, PTR_TO_CTX, PTR_TO_PACKET, PTR_TO_PACKET_META,
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


class MemMixin:
    """Loads, stores and their helpers."""

    # --- alignment ------------------------------------------------------------------------------
    def check_ptr_alignment(self, reg: RegState, off: int, size: int, strict_once: bool) -> None:  # type: ignore[no-untyped-def]
        strict = self.strict_alignment or strict_once  # type: ignore[attr-defined]
        t = reg.type
        desc = ""
        if t in (PTR_TO_PACKET, PTR_TO_PACKET_META):
            if not strict or size == 1:
                return
            ro = T.add(reg.var_off, T.const(2 + reg.off + off))
            if not T.is_aligned(ro, size):
                raise self.reject(E.EACCES, f"misaligned packet access off 2+{tnum_str(reg.var_off)}+{reg.off}+"  # type: ignore[attr-defined]
                                            f"{off} size {size}")
            return
        if t == PTR_TO_FLOW_KEYS:
            desc = "flow keys "
        elif t == PTR_TO_MAP_KEY:
            desc = "key "
        elif t == PTR_TO_MAP_VALUE:
            desc = "value "
        elif t == PTR_TO_CTX:
            desc = "context "
        elif t == PTR_TO_STACK:
            desc = "stack "
            strict = True
        elif t == PTR_TO_SOCKET:
            desc = "sock "
        elif t == PTR_TO_SOCK_COMMON:
            desc = "sock_common "
        elif t == PTR_TO_TCP_SOCK:
            desc = "tcp_sock "
        elif t == PTR_TO_XDP_SOCK:
            desc = "xdp_sock "
        elif t == 18:  # PTR_TO_ARENA
            return
        if not strict or size == 1:
            return
        ro = T.add(reg.var_off, T.const(reg.off + off))
        if not T.is_aligned(ro, size):
            raise self.reject(E.EACCES, f"misaligned {desc}access off {tnum_str(reg.var_off)}+{reg.off}+{off} "  # type: ignore[attr-defined]
                                        f"size {size}")

    # --- stack ----------------------------------------------------------------------------------
    def check_stack_access_within_bounds(self, regno: int, off: int, size: int, atype: int) -> None:  # type: ignore[no-untyped-def]
        reg = self.cur_regs()[regno]  # type: ignore[attr-defined]
        state = self.func_of(reg)  # type: ignore[attr-defined]
        extra = " read from" if atype == BPF_READ else " write to"
        if reg.var_off[1] == 0:
            from .regs import s64
            min_off = s64(reg.var_off[0]) + off
            max_off = min_off + size
        else:
            if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
                raise self.reject(E.EACCES, f"invalid unbounded variable-offset{extra} stack R{regno}")  # type: ignore[attr-defined]
            min_off = reg.smin + off
            max_off = reg.smax + off + size
        if atype == BPF_WRITE or self.allow_uninit_stack:  # type: ignore[attr-defined]
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
                raise self.reject(err, f"invalid{extra} stack R{regno} off={off} size={size}")  # type: ignore[attr-defined]
            raise self.reject(err, f"invalid variable-offset{extra} stack R{regno} var_off={tnum_str(reg.var_off)} "  # type: ignore[attr-defined]
                                   f"off={off} size={size}")
        self.grow_stack_state(state, -min_off)  # type: ignore[attr-defined]

    def check_stack_write_fixed_off(self, state: FuncState, off: int, size: int, value_regno: int,  # type: ignore[no-untyped-def]
                                    insn_idx: int) -> None:
        slot_i = -off - 1
        spi = slot_i // BPF_REG_SIZE
        insn = self.insns[insn_idx]  # type: ignore[attr-defined]
        flags = _stack_flags(state.frameno, spi)
        slot = state.stack[spi]
        if not self.allow_ptr_leaks and is_spilled_reg(slot) and not is_spilled_scalar_reg(slot) \
                and size != BPF_REG_SIZE:  # type: ignore[attr-defined]
            raise self.reject(E.EACCES, "attempt to corrupt spilled pointer on stack")  # type: ignore[attr-defined]
        cur = self.cur_func()  # type: ignore[attr-defined]
        reg = cur.regs[value_regno] if value_regno >= 0 else None
        if not self.bypass_spec_v4:  # type: ignore[attr-defined]
            # Spectre v4: a store that may overwrite a pointer (or an unwritten slot) gets a
            # barrier after it, and speculative paths stop there (nospec_result)
            sanitize = reg is not None and is_spillable(reg.type)
            if not sanitize:
                sanitize = any(slot.types[(slot_i - i) % BPF_REG_SIZE] not in (STACK_MISC, STACK_ZERO)
                               for i in range(size))
            if sanitize:
                self.aux[insn_idx].nospec_result = True  # type: ignore[attr-defined]
        self.stack_write_mark(state, spi, off, size)  # type: ignore[attr-defined]
        self.scratched_stack |= 1 << spi  # type: ignore[attr-defined]
        is_st = (insn.code & 7) == isa.ST and (insn.code & 0xE0) == isa.MEM
        if reg is not None and not (off % BPF_REG_SIZE) and reg.type == SCALAR_VALUE and self.bpf_capable:  # type: ignore[attr-defined]
            fits = reg.umax.bit_length() <= 8 * size
            if fits:
                self.assign_scalar_id_before_mov(reg)  # type: ignore[attr-defined]
            self._save_reg(slot, reg, size)
            if not fits:
                slot.spilled.id = 0
        elif reg is None and not (off % BPF_REG_SIZE) and is_st and self.bpf_capable:  # type: ignore[attr-defined]
            tmp = RegState()
            mark_known(tmp, insn.imm)
            tmp.type = SCALAR_VALUE
            self._save_reg(slot, tmp, size)
        elif reg is not None and is_spillable(reg.type):
            if size != BPF_REG_SIZE:
                raise self.reject(E.EACCES, "invalid size of register spill")  # type: ignore[attr-defined]
            if state is not cur and reg.type == PTR_TO_STACK:
                raise self.reject(E.EINVAL, "cannot spill pointers to stack into stack frame of the caller")  # type: ignore[attr-defined]
            self._save_reg(slot, reg, size)
        else:
            typ = STACK_MISC
            slot.spilled.type = NOT_INIT
            if slot.types[BPF_REG_SIZE - 1] == STACK_SPILL or slot.types[0] in (4, 5, 6):
                for j in range(BPF_REG_SIZE):
                    _scrub(slot.types, j)
            if (reg is not None and register_is_null(reg)) or (reg is None and is_st and insn.imm == 0):
                self.mark_chain_precision(value_regno)  # type: ignore[attr-defined]
                typ = STACK_ZERO
            for i in range(size):
                slot.types[(slot_i - i) % BPF_REG_SIZE] = typ
            flags = 0
        if flags:
            self.push_jmp_history(self.cur, flags, 0)  # type: ignore[attr-defined]

    @staticmethod
    def _save_reg(slot, reg: RegState, size: int) -> None:  # type: ignore[no-untyped-def]
        """``save_register_state``."""
        slot.spilled.assign(reg)
        i = BPF_REG_SIZE
        while i > BPF_REG_SIZE - size:
            slot.types[i - 1] = STACK_SPILL
            i -= 1
        while i:
            _mark_misc(slot.types, i - 1)
            i -= 1

    def check_stack_write_var_off(self, state: FuncState, ptr_regno: int, off: int, size: int,  # type: ignore[no-untyped-def]
                                  value_regno: int, insn_idx: int) -> None:
        cur = self.cur_func()  # type: ignore[attr-defined]
        ptr = cur.regs[ptr_regno]
        min_off = ptr.smin + off
        max_off = ptr.smax + off + size
        value_reg = cur.regs[value_regno] if value_regno >= 0 else None
        insn = self.insns[insn_idx]  # type: ignore[attr-defined]
        is_st = (insn.code & 7) == isa.ST and (insn.code & 0xE0) == isa.MEM
        writing_zero = (value_reg is not None and register_is_null(value_reg)) or \
            (value_reg is None and is_st and insn.imm == 0)
        zero_used = False
        for i in range(min_off, max_off):
            slot_i = -i - 1
            spi = slot_i // BPF_REG_SIZE
            slot = state.stack[spi]
            j = slot_i % BPF_REG_SIZE
            st = slot.types[j]
            self.scratched_stack |= 1 << spi  # type: ignore[attr-defined]
            if not self.allow_ptr_leaks and st not in (STACK_MISC, STACK_ZERO):  # type: ignore[attr-defined]
                raise self.reject(E.EINVAL, f"spilled ptr in range of var-offset stack write; insn {insn_idx}, "  # type: ignore[attr-defined]
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
            if st == STACK_INVALID and not self.allow_uninit_stack:  # type: ignore[attr-defined]
                raise self.reject(E.EINVAL, f"uninit stack in range of var-offset write prohibited for !root; "  # type: ignore[attr-defined]
                                            f"insn {insn_idx}, off: {i}")
            slot.types[j] = new
        if zero_used:
            self.mark_chain_precision(value_regno)  # type: ignore[attr-defined]

    def mark_reg_stack_read(self, ptr_state: FuncState, min_off: int, max_off: int, dst_regno: int) -> None:  # type: ignore[no-untyped-def]
        cur = self.cur_func()  # type: ignore[attr-defined]
        zeros = 0
        for i in range(min_off, max_off):
            slot_i = -i - 1
            spi = slot_i // BPF_REG_SIZE
            self.scratched_stack |= 1 << spi  # type: ignore[attr-defined]
            if ptr_state.stack[spi].types[slot_i % BPF_REG_SIZE] != STACK_ZERO:
                break
            zeros += 1
        if zeros == max_off - min_off:
            mark_const_zero(cur.regs[dst_regno], self.bpf_capable)  # type: ignore[attr-defined]
        else:
            mark_unknown(cur.regs[dst_regno], self.bpf_capable)  # type: ignore[attr-defined]

    def check_stack_read_fixed_off(self, reg_state: FuncState, off: int, size: int, dst_regno: int) -> None:  # type: ignore[no-untyped-def]
        cur = self.cur_func()  # type: ignore[attr-defined]
        slot_i = -off - 1
        spi = slot_i // BPF_REG_SIZE
        slot = reg_state.stack[spi]
        stype = slot.types
        reg = slot.spilled
        flags = _stack_flags(reg_state.frameno, spi)
        self.scratched_stack |= 1 << spi  # type: ignore[attr-defined]
        self.stack_read_mark(reg_state, spi)  # type: ignore[attr-defined]
        if is_spilled_reg(slot):
            spill_size = 1
            i = BPF_REG_SIZE - 1
            while i > 0 and stype[i - 1] == STACK_SPILL:
                spill_size += 1
                i -= 1
            if size != BPF_REG_SIZE or spill_size != BPF_REG_SIZE:
                if reg.type != SCALAR_VALUE:
                    raise self.reject(E.EACCES, "invalid size of register fill")  # type: ignore[attr-defined]
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
                        if t == STACK_INVALID and self.allow_uninit_stack:  # type: ignore[attr-defined]
                            continue
                        raise self.reject(E.EACCES, f"invalid read from stack off {off}+{i} size {size}")  # type: ignore[attr-defined]
                    if spill_cnt == size and reg.var_off == (0, 0):
                        mark_const_zero(cur.regs[dst_regno], self.bpf_capable)  # type: ignore[attr-defined]
                    elif zero_cnt == size:
                        mark_const_zero(cur.regs[dst_regno], self.bpf_capable)  # type: ignore[attr-defined]
                        flags = 0
                    else:
                        mark_unknown(cur.regs[dst_regno], self.bpf_capable)  # type: ignore[attr-defined]
                        flags = 0
            elif dst_regno >= 0:
                cur.regs[dst_regno].assign(reg)
            elif is_pointer_value(self.allow_ptr_leaks, reg):  # type: ignore[attr-defined]
                raise self.reject(E.EACCES, f"leaking pointer from stack off {off}")  # type: ignore[attr-defined]
        else:
            for i in range(size):
                t = stype[(slot_i - i) % BPF_REG_SIZE]
                if t in (STACK_MISC, STACK_ZERO):
                    continue
                if t == STACK_INVALID and self.allow_uninit_stack:  # type: ignore[attr-defined]
                    continue
                raise self.reject(E.EACCES, f"invalid read from stack off {off}+{i} size {size}")  # type: ignore[attr-defined]
            if dst_regno >= 0:
                self.mark_reg_stack_read(reg_state, off, off + size, dst_regno)
            flags = 0
        if flags:
            self.push_jmp_history(self.cur, flags, 0)  # type: ignore[attr-defined]

    def check_stack_read(self, ptr_regno: int, off: int, size: int, dst_regno: int) -> None:  # type: ignore[no-untyped-def]
        reg = self.cur_regs()[ptr_regno]  # type: ignore[attr-defined]
        state = self.func_of(reg)  # type: ignore[attr-defined]
        var = reg.var_off[1] != 0
        if dst_regno < 0 and var:
            raise self.reject(E.EACCES, "variable offset stack pointer cannot be passed into helper function; "  # type: ignore[attr-defined]
                                        f"var_off={tnum_str(reg.var_off)} off={off} size={size}")
        if not var:
            from .regs import s64
            self.check_stack_read_fixed_off(state, off + s64(reg.var_off[0]), size, dst_regno)
        else:
            self.check_stack_range_initialized(ptr_regno, off, size, False, BPF_READ, None)
            min_off = reg.smin + off
            max_off = reg.smax + off
            self.mark_reg_stack_read(state, min_off, max_off + size, dst_regno)

    def check_stack_write(self, ptr_regno: int, off: int, size: int, value_regno: int, insn_idx: int) -> None:  # type: ignore[no-untyped-def]
        reg = self.cur_regs()[ptr_regno]  # type: ignore[attr-defined]
        state = self.func_of(reg)  # type: ignore[attr-defined]
        if reg.var_off[1] == 0:
            from .regs import s64
            self.check_stack_write_fixed_off(state, off + s64(reg.var_off[0]), size, value_regno, insn_idx)
        else:
            self.check_stack_write_var_off(state, ptr_regno, off, size, value_regno, insn_idx)

    # --- regions ----------------------------------------------------------------------------------
    def _check_mem_access(self, regno: int, off: int, size: int, mem_size: int, zero_ok: bool) -> None:  # type: ignore[no-untyped-def]
        """``__check_mem_access``."""
        size_ok = size > 0 or (size == 0 and zero_ok)
        if off >= 0 and size_ok and off + size <= mem_size:
            return
        reg = self.cur_regs()[regno]  # type: ignore[attr-defined]
        t = reg.type
        if t == PTR_TO_MAP_KEY:
            msg = f"invalid access to map key, key_size={mem_size} off={off} size={size}"
        elif t == PTR_TO_MAP_VALUE:
            msg = f"invalid access to map value, value_size={mem_size} off={off} size={size}"
        elif t in (PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_PACKET_END):
            msg = f"invalid access to packet, off={off} size={size}, R{regno}(id={reg.id},off={off},r={mem_size})"
        else:
            msg = f"invalid access to memory, mem_size={mem_size} off={off} size={size}"
        raise self.reject(E.EACCES, msg)  # type: ignore[attr-defined]

    def check_mem_region_access(self, regno: int, off: int, size: int, mem_size: int, zero_ok: bool) -> None:  # type: ignore[no-untyped-def]
        reg = self.cur_regs()[regno]  # type: ignore[attr-defined]
        smin = reg.smin
        if smin < 0 and (smin == S64_MIN or off + smin != s32(off + smin) or smin + off < 0):
            raise self.reject(E.EACCES, f"R{regno} min value is negative, either use unsigned index or do a "  # type: ignore[attr-defined]
                                        "if (index >=0) check.")
        try:
            self._check_mem_access(regno, smin + off, size, mem_size, zero_ok)
        except Exception as e:
            self.verbose(f"R{regno} min value is outside of the allowed memory range\n")  # type: ignore[attr-defined]
            raise e
        if reg.umax >= BPF_MAX_VAR_OFF:
            raise self.reject(E.EACCES, f"R{regno} unbounded memory access, make sure to bounds check any such "  # type: ignore[attr-defined]
                                        "access")
        try:
            self._check_mem_access(regno, reg.umax + off, size, mem_size, zero_ok)
        except Exception as e:
            self.verbose(f"R{regno} max value is outside of the allowed memory range\n")  # type: ignore[attr-defined]
            raise e

    def check_map_access_type(self, regno: int, off: int, size: int, atype: int) -> None:  # type: ignore[no-untyped-def]
        m = self.cur_regs()[regno].map  # type: ignore[attr-defined]
        flags = getattr(m, "map_flags", 0)
        # bpf_map_flags_to_cap(): BPF_F_RDONLY_PROG (1 << 7) / BPF_F_WRONLY_PROG (1 << 8)
        if atype == BPF_WRITE and flags & (1 << 7):
            raise self.reject(E.EACCES, f"write into map forbidden, value_size={m.value_size} off={off} "  # type: ignore[attr-defined]
                                        f"size={size}")
        if atype == BPF_READ and flags & (1 << 8):
            raise self.reject(E.EACCES, f"read from map forbidden, value_size={m.value_size} off={off} "  # type: ignore[attr-defined]
                                        f"size={size}")

    def check_map_access(self, regno: int, off: int, size: int, zero_ok: bool, src: int) -> None:  # type: ignore[no-untyped-def]
        m = self.cur_regs()[regno].map  # type: ignore[attr-defined]
        self.check_mem_region_access(regno, off, size, m.value_size, zero_ok)

    # --- the dispatcher -----------------------------------------------------------------------
    def check_mem_access(self, insn_idx: int, regno: int, off: int, bpf_size: int, atype: int,  # type: ignore[no-untyped-def]
                         value_regno: int, strict_once: bool, is_ldsx: bool) -> None:
        """``check_mem_access``."""
        regs = self.cur_regs()  # type: ignore[attr-defined]
        reg = regs[regno]
        size = _SIZE[bpf_size]
        self.check_ptr_alignment(reg, off, size, strict_once)
        off += reg.off
        t = reg.type
        leaks = self.allow_ptr_leaks  # type: ignore[attr-defined]
        if t == PTR_TO_MAP_KEY:
            if atype == BPF_WRITE:
                raise self.reject(E.EACCES, f"write to change key R{regno} not allowed")  # type: ignore[attr-defined]
            self.check_mem_region_access(regno, off, size, reg.map.key_size, False)
            if value_regno >= 0:
                mark_unknown(regs[value_regno], self.bpf_capable)  # type: ignore[attr-defined]
        elif t == PTR_TO_MAP_VALUE:
            if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(leaks, regs[value_regno]):
                raise self.reject(E.EACCES, f"R{value_regno} leaks addr into map")  # type: ignore[attr-defined]
            self.check_map_access_type(regno, off, size, atype)
            self.check_map_access(regno, off, size, False, ACCESS_DIRECT)
            if atype == BPF_READ and value_regno >= 0:
                mark_unknown(regs[value_regno], self.bpf_capable)  # type: ignore[attr-defined]
        elif base_type(t) == PTR_TO_MEM:
            rdonly = bool(t & MEM_RDONLY)
            if t & PTR_MAYBE_NULL:
                raise self.reject(E.EACCES, f"R{regno} invalid mem access '{reg_type_str(t)}'")  # type: ignore[attr-defined]
            if atype == BPF_WRITE and rdonly:
                raise self.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(t)}")  # type: ignore[attr-defined]
            if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(leaks, regs[value_regno]):
                raise self.reject(E.EACCES, f"R{value_regno} leaks addr into mem")  # type: ignore[attr-defined]
            if not (rdonly and t & PTR_UNTRUSTED):
                self.check_mem_region_access(regno, off, size, reg.mem_size, False)
            if value_regno >= 0 and (atype == BPF_READ or rdonly):
                mark_unknown(regs[value_regno], self.bpf_capable)  # type: ignore[attr-defined]
        elif t == PTR_TO_CTX:
            if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(leaks, regs[value_regno]):
                raise self.reject(E.EACCES, f"R{value_regno} leaks addr into ctx")  # type: ignore[attr-defined]
            self.check_ptr_off_reg(reg, regno, False)
            info = self.check_ctx_access(insn_idx, off, size, atype, is_ldsx)  # type: ignore[attr-defined]
            if atype == BPF_READ and value_regno >= 0:
                rtype, btf, btf_id = info
                dst = regs[value_regno]
                if rtype == SCALAR_VALUE:
                    mark_unknown(dst, self.bpf_capable)  # type: ignore[attr-defined]
                else:
                    mark_known_zero(dst)
                    if rtype & PTR_MAYBE_NULL:
                        dst.id = self.new_id()  # type: ignore[attr-defined]
                    dst.subreg_def = 0
                    if base_type(rtype) == PTR_TO_BTF_ID:
                        dst.btf = btf
                        dst.btf_id = btf_id
                        dst.ref_obj_id = 0
                dst.type = rtype
        elif t == PTR_TO_STACK:
            self.check_stack_access_within_bounds(regno, off, size, atype)
            if atype == BPF_READ:
                self.check_stack_read(regno, off, size, value_regno)
            else:
                self.check_stack_write(regno, off, size, value_regno, insn_idx)
        elif t in (PTR_TO_PACKET, PTR_TO_PACKET_META):
            if atype == BPF_WRITE:
                raise self.reject(E.EACCES, "cannot write into packet")  # type: ignore[attr-defined]
            raise self.reject(E.EACCES, f"R{regno} offset is outside of the packet")  # type: ignore[attr-defined]
        elif t == PTR_TO_FLOW_KEYS:
            if atype == BPF_WRITE and value_regno >= 0 and is_pointer_value(leaks, regs[value_regno]):
                raise self.reject(E.EACCES, f"R{value_regno} leaks addr into flow keys")  # type: ignore[attr-defined]
            if size < 0 or off < 0 or off + size > 56:
                raise self.reject(E.EACCES, f"invalid access to flow keys off={off} size={size}")  # type: ignore[attr-defined]
            if atype == BPF_READ and value_regno >= 0:
                mark_unknown(regs[value_regno], self.bpf_capable)  # type: ignore[attr-defined]
        elif t in (PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK):
            if atype == BPF_WRITE:
                raise self.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(t)}")  # type: ignore[attr-defined]
            raise self.reject(E.EACCES, f"R{regno} invalid {reg_type_str(t)} access off={off} size={size}")  # type: ignore[attr-defined]
        elif base_type(t) == PTR_TO_BTF_ID and not t & PTR_MAYBE_NULL:
            self.check_ptr_to_btf_access(regs, regno, off, size, atype, value_regno)
        elif t == CONST_PTR_TO_MAP:
            self.check_ptr_to_map_access(regs, regno, off, size, atype, value_regno)
        elif t == 18:  # PTR_TO_ARENA
            if atype == BPF_READ and value_regno >= 0:
                mark_unknown(regs[value_regno], self.bpf_capable)  # type: ignore[attr-defined]
        else:
            raise self.reject(E.EACCES, f"R{regno} invalid mem access '{reg_type_str(t)}'")  # type: ignore[attr-defined]
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

    def check_ptr_off_reg(self, reg: RegState, regno: int, fixed_off_ok: bool) -> None:  # type: ignore[no-untyped-def]
        """``__check_ptr_off_reg``: a pointer passed or dereferenced unmodified."""
        if reg.off < 0:
            raise self.reject(E.EACCES, f"negative offset {reg_type_str(reg.type)} ptr R{regno} off={reg.off} "  # type: ignore[attr-defined]
                                        "disallowed")
        if not fixed_off_ok and reg.off:
            raise self.reject(E.EACCES, f"dereference of modified {reg_type_str(reg.type)} ptr R{regno} "  # type: ignore[attr-defined]
                                        f"off={reg.off} disallowed")
        if reg.var_off[1] != 0 or reg.var_off[0]:
            raise self.reject(E.EACCES, f"variable {reg_type_str(reg.type)} access var_off={tnum_str(reg.var_off)} "  # type: ignore[attr-defined]
                                        "disallowed")

    def check_ptr_to_btf_access(self, regs: list[RegState], regno: int, off: int, size: int, atype: int,  # type: ignore[no-untyped-def]
                                value_regno: int) -> None:
        """``check_ptr_to_btf_access`` with ``btf_struct_access`` for reads and the
        subsystem's writable ranges for writes."""
        reg = regs[regno]
        btf = reg.btf
        t = btf.type_by_id(reg.btf_id) if btf is not None else None
        tname = t.name if t is not None else ""
        if not self.allow_ptr_leaks:  # type: ignore[attr-defined]
            raise self.reject(E.EPERM, f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")  # type: ignore[attr-defined]
        if not self.env.gpl_compatible:  # type: ignore[attr-defined]
            raise self.reject(E.EINVAL, f"Cannot access kernel 'struct {tname}' from non-GPL compatible program")  # type: ignore[attr-defined]
        if off < 0:
            raise self.reject(E.EACCES, f"R{regno} is ptr_{tname} invalid negative access: off={off}")  # type: ignore[attr-defined]
        if reg.var_off[1] != 0 or reg.var_off[0]:
            raise self.reject(E.EACCES, f"R{regno} is ptr_{tname} invalid variable offset: off={off}, "  # type: ignore[attr-defined]
                                        f"var_off={tnum_str(reg.var_off)}")
        if reg.type & MEM_USER:
            raise self.reject(E.EACCES, f"R{regno} is ptr_{tname} access user memory: off={off}")  # type: ignore[attr-defined]
        if reg.type & MEM_PERCPU:
            raise self.reject(E.EACCES, f"R{regno} is ptr_{tname} access percpu memory: off={off}")  # type: ignore[attr-defined]
        from .btf_access import btf_struct_access, struct_ops_write_access
        if atype == BPF_WRITE:
            if self.struct_ops_policy is not None:  # type: ignore[attr-defined]
                struct_ops_write_access(self, reg, off, size)
                return
            raise self.reject(E.EACCES, "only read is supported")  # type: ignore[attr-defined]
        kind, btf_id, flag = btf_struct_access(self, reg, off, size)
        if kind != PTR_TO_BTF_ID:
            flag = 0
        elif reg.type & PTR_UNTRUSTED:
            flag = PTR_UNTRUSTED
        elif is_trusted_reg(reg) or reg.type & MEM_RCU:
            # walking a trusted pointer yields an untrusted/legacy one unless allow-listed
            flag &= ~(PTR_TRUSTED | MEM_RCU)
            if flag & (MEM_PERCPU | MEM_USER):
                pass
        else:
            flag &= ~(PTR_TRUSTED | MEM_RCU)
        if value_regno >= 0:
            dst = regs[value_regno]
            if kind == SCALAR_VALUE:
                mark_unknown(dst, self.bpf_capable)  # type: ignore[attr-defined]
            else:
                mark_known_zero(dst)
                dst.type = PTR_TO_BTF_ID | flag
                dst.btf = reg.btf
                dst.btf_id = btf_id
                if flag & PTR_MAYBE_NULL:
                    dst.id = self.new_id()  # type: ignore[attr-defined]

    def check_ptr_to_map_access(self, regs: list[RegState], regno: int, off: int, size: int, atype: int,  # type: ignore[no-untyped-def]
                                value_regno: int) -> None:
        """``check_ptr_to_map_access`` (verifier.c, 6.18): a read of the map object's own
        fields, walked as a ``PTR_TO_BTF_ID`` of the map type's struct (verifier/map_btf.py)."""
        from .btf_access import _walk
        from .map_btf import map_struct_id
        m = regs[regno].map
        found = map_struct_id(m.map_type) if m is not None else None
        if found is None:
            raise self.reject(ENOTSUPP, f"map_ptr access not supported for map type {m.map_type if m else 0}")  # type: ignore[attr-defined]
        btf, tid, tname = found
        if not self.allow_ptr_leaks:  # type: ignore[attr-defined]
            raise self.reject(E.EPERM, f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")  # type: ignore[attr-defined]
        if off < 0:
            raise self.reject(E.EACCES, f"R{regno} is {tname} invalid negative access: off={off}")  # type: ignore[attr-defined]
        if atype != BPF_READ:
            raise self.reject(E.EACCES, f"only read from {tname} is supported")  # type: ignore[attr-defined]
        kind, btf_id, flag = _walk(self, btf, tid, off, size, 0)
        if value_regno >= 0:
            dst = regs[value_regno]
            if kind == SCALAR_VALUE:
                mark_unknown(dst, self.bpf_capable)  # type: ignore[attr-defined]
            else:
                mark_known_zero(dst)
                dst.type = PTR_TO_BTF_ID | flag
                dst.btf = btf
                dst.btf_id = btf_id

    # --- instructions -------------------------------------------------------------------------
    def check_load_mem(self, insn, strict_once: bool, is_ldsx: bool, ctx: str) -> None:  # type: ignore[no-untyped-def]
        regs = self.cur_regs()  # type: ignore[attr-defined]
        self.check_reg_arg(insn.src, SRC_OP)  # type: ignore[attr-defined]
        self.check_reg_arg(insn.dst, DST_OP_NO_MARK)  # type: ignore[attr-defined]
        src_type = regs[insn.src].type
        self.check_mem_access(self.insn_idx, insn.src, insn.off, insn.code & 0x18, BPF_READ, insn.dst,  # type: ignore[attr-defined]
                              strict_once, is_ldsx)
        self.save_aux_ptr_type(src_type, True)
        self.bounds_sanity(regs[insn.dst], ctx)  # type: ignore[attr-defined]

    def check_store_reg(self, insn, strict_once: bool) -> None:  # type: ignore[no-untyped-def]
        regs = self.cur_regs()  # type: ignore[attr-defined]
        self.check_reg_arg(insn.src, SRC_OP)  # type: ignore[attr-defined]
        self.check_reg_arg(insn.dst, SRC_OP)  # type: ignore[attr-defined]
        dst_type = regs[insn.dst].type
        self.check_mem_access(self.insn_idx, insn.dst, insn.off, insn.code & 0x18, BPF_WRITE, insn.src,  # type: ignore[attr-defined]
                              strict_once, False)
        self.save_aux_ptr_type(dst_type, False)

    def save_aux_ptr_type(self, typ: int, allow_trust_mismatch: bool) -> None:  # type: ignore[no-untyped-def]
        """``save_aux_ptr_type``: the same instruction may not see two incompatible pointer kinds."""
        idx = self.insn_idx  # type: ignore[attr-defined]
        prev = self.ptr_type[idx]  # type: ignore[attr-defined]
        if prev == NOT_INIT:
            self.ptr_type[idx] = typ  # type: ignore[attr-defined]
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
            self.ptr_type[idx] = merged  # type: ignore[attr-defined]
            return
        raise self.reject(E.EINVAL, "same insn cannot be used with different pointers")  # type: ignore[attr-defined]

    def check_atomic(self, insn) -> None:  # type: ignore[no-untyped-def]
        imm = insn.imm
        if imm in (isa.ADD, isa.ADD | isa.FETCH, isa.AND, isa.AND | isa.FETCH, isa.OR, isa.OR | isa.FETCH,
                   isa.XOR, isa.XOR | isa.FETCH, isa.XCHG, isa.CMPXCHG):
            self._check_atomic_rmw(insn)
            return
        if imm == isa.LOAD_ACQ:
            self.check_load_mem(insn, True, False, "atomic_load")
            if not self._atomic_ptr_ok(insn.src):
                t = self.cur_regs()[insn.src].type  # type: ignore[attr-defined]
                raise self.reject(E.EACCES, f"BPF_ATOMIC loads from R{insn.src} {reg_type_str(t)} is not allowed")  # type: ignore[attr-defined]
            return
        if imm == isa.STORE_REL:
            self.check_store_reg(insn, True)
            if not self._atomic_ptr_ok(insn.dst):
                t = self.cur_regs()[insn.dst].type  # type: ignore[attr-defined]
                raise self.reject(E.EACCES, f"BPF_ATOMIC stores into R{insn.dst} {reg_type_str(t)} is not allowed")  # type: ignore[attr-defined]
            return
        raise self.reject(E.EINVAL, f"BPF_ATOMIC uses invalid atomic opcode {imm & 0xFFFFFFFF:02x}")  # type: ignore[attr-defined]

    def _atomic_ptr_ok(self, regno: int) -> bool:  # type: ignore[no-untyped-def]
        t = self.cur_regs()[regno].type  # type: ignore[attr-defined]
        return t not in (PTR_TO_CTX, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_FLOW_KEYS, PTR_TO_SOCKET,
                         PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK)

    def _check_atomic_rmw(self, insn) -> None:  # type: ignore[no-untyped-def]
        if (insn.code & 0x18) not in (isa.W, isa.DW):
            raise self.reject(E.EINVAL, "invalid atomic operand size")  # type: ignore[attr-defined]
        self.check_reg_arg(insn.src, SRC_OP)  # type: ignore[attr-defined]
        self.check_reg_arg(insn.dst, SRC_OP)  # type: ignore[attr-defined]
        regs = self.cur_regs()  # type: ignore[attr-defined]
        leaks = self.allow_ptr_leaks  # type: ignore[attr-defined]
        if insn.imm == isa.CMPXCHG:
            self.check_reg_arg(0, SRC_OP)  # type: ignore[attr-defined]
            if is_pointer_value(leaks, regs[0]):
                raise self.reject(E.EACCES, "R0 leaks addr into mem")  # type: ignore[attr-defined]
        if is_pointer_value(leaks, regs[insn.src]):
            raise self.reject(E.EACCES, f"R{insn.src} leaks addr into mem")  # type: ignore[attr-defined]
        if not self._atomic_ptr_ok(insn.dst):
            t = regs[insn.dst].type
            raise self.reject(E.EACCES, f"BPF_ATOMIC stores into R{insn.dst} {reg_type_str(t)} is not allowed")  # type: ignore[attr-defined]
        if insn.imm & isa.FETCH:
            load_reg = 0 if insn.imm == isa.CMPXCHG else insn.src
            self.check_reg_arg(load_reg, DST_OP)  # type: ignore[attr-defined]
        else:
            load_reg = -1
        idx = self.insn_idx  # type: ignore[attr-defined]
        size = insn.code & 0x18
        self.check_mem_access(idx, insn.dst, insn.off, size, BPF_READ, -1, True, False)
        if load_reg >= 0:
            self.check_mem_access(idx, insn.dst, insn.off, size, BPF_READ, load_reg, True, False)
        self.check_mem_access(idx, insn.dst, insn.off, size, BPF_WRITE, -1, True, False)

    # --- helper memory ------------------------------------------------------------------------
    def check_stack_range_initialized(self, regno: int, off: int, access_size: int, zero_ok: bool,  # type: ignore[no-untyped-def]
                                      atype: int, meta) -> None:
        reg = self.cur_regs()[regno]  # type: ignore[attr-defined]
        state = self.func_of(reg)  # type: ignore[attr-defined]
        if access_size == 0 and not zero_ok:
            raise self.reject(E.EACCES, "invalid zero-sized read")  # type: ignore[attr-defined]
        clobber = atype == BPF_WRITE
        self.check_stack_access_within_bounds(regno, off, access_size, atype)
        from .regs import s64
        if reg.var_off[1] == 0:
            min_off = max_off = s64(reg.var_off[0]) + off
        else:
            if not self.bypass_spec_v1:  # type: ignore[attr-defined]
                raise self.reject(E.EACCES, f"R{regno} variable offset stack access prohibited for !root, "  # type: ignore[attr-defined]
                                            f"var_off={tnum_str(reg.var_off)}")
            if meta is not None and meta.raw_mode:
                meta = None
            min_off = reg.smin + off
            max_off = reg.smax + off
        if meta is not None and meta.raw_mode:
            meta.access_size = access_size
            meta.regno = regno
            return
        for i in range(min_off, max_off + access_size):
            slot_i = -i - 1
            spi = slot_i // BPF_REG_SIZE
            if state.allocated_stack <= slot_i:
                raise self.reject(E.EFAULT, "allocated_stack too small")  # type: ignore[attr-defined]
            slot = state.stack[spi]
            j = slot_i % BPF_REG_SIZE
            st = slot.types[j]
            if st == STACK_MISC:
                pass
            elif st == STACK_ZERO or (st == STACK_INVALID and self.allow_uninit_stack):  # type: ignore[attr-defined]
                if clobber:
                    slot.types[j] = STACK_MISC
            elif is_spilled_reg(slot) and (slot.spilled.type == SCALAR_VALUE or self.allow_ptr_leaks):  # type: ignore[attr-defined]
                if clobber:
                    mark_unknown(slot.spilled, self.bpf_capable)  # type: ignore[attr-defined]
                    for k in range(BPF_REG_SIZE):
                        _scrub(slot.types, k)
            else:
                if reg.var_off[1] == 0:
                    raise self.reject(E.EACCES, f"invalid read from stack R{regno} off {min_off}+{i - min_off} "  # type: ignore[attr-defined]
                                                f"size {access_size}")
                raise self.reject(E.EACCES, f"invalid read from stack R{regno} var_off {tnum_str(reg.var_off)}+"  # type: ignore[attr-defined]
                                            f"{i - min_off} size {access_size}")
            self.stack_read_mark(state, spi)  # type: ignore[attr-defined]

    def check_helper_mem_access(self, regno: int, access_size: int, atype: int, zero_ok: bool, meta) -> None:  # type: ignore[no-untyped-def]
        regs = self.cur_regs()  # type: ignore[attr-defined]
        reg = regs[regno]
        bt = base_type(reg.type)
        if bt in (PTR_TO_PACKET, PTR_TO_PACKET_META):
            raise self.reject(E.EACCES, f"R{regno} offset is outside of the packet")  # type: ignore[attr-defined]
        if bt == PTR_TO_MAP_KEY:
            if atype == BPF_WRITE:
                raise self.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(reg.type)}")  # type: ignore[attr-defined]
            self.check_mem_region_access(regno, reg.off, access_size, reg.map.key_size, False)
            return
        if bt == PTR_TO_MAP_VALUE:
            self.check_map_access_type(regno, reg.off, access_size, atype)
            self.check_map_access(regno, reg.off, access_size, zero_ok, ACCESS_HELPER)
            return
        if bt == PTR_TO_MEM:
            if reg.type & MEM_RDONLY and atype == BPF_WRITE:
                raise self.reject(E.EACCES, f"R{regno} cannot write into {reg_type_str(reg.type)}")  # type: ignore[attr-defined]
            self.check_mem_region_access(regno, reg.off, access_size, reg.mem_size, zero_ok)
            return
        if bt == PTR_TO_STACK:
            self.check_stack_range_initialized(regno, reg.off, access_size, zero_ok, atype, meta)
            return
        if bt == PTR_TO_BTF_ID:
            self.check_ptr_to_btf_access(regs, regno, reg.off, access_size, BPF_READ, -1)
            return
        if zero_ok and access_size == 0 and register_is_null(reg):
            return
        raise self.reject(E.EACCES, f"R{regno} type={reg_type_str(reg.type)} expected={reg_type_str(PTR_TO_STACK)}")  # type: ignore[attr-defined]

    def check_mem_size_reg(self, reg: RegState, regno: int, atype: int, zero_ok: bool, meta) -> None:  # type: ignore[no-untyped-def]
        meta.msize_max_value = reg.umax
        if reg.var_off[1] != 0:
            meta = None
        if reg.smin < 0:
            raise self.reject(E.EACCES, f"R{regno} min value is negative, either use unsigned or 'var &= const'")  # type: ignore[attr-defined]
        if reg.umin == 0 and not zero_ok:
            raise self.reject(E.EACCES, f"R{regno} invalid zero-sized read: u64=[{reg.umin},{reg.umax}]")  # type: ignore[attr-defined]
        if reg.umax >= BPF_MAX_VAR_SIZ:
            raise self.reject(E.EACCES, f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'")  # type: ignore[attr-defined]
        self.check_helper_mem_access(regno - 1, reg.umax, atype, zero_ok, meta)
        self.mark_chain_precision(regno)  # type: ignore[attr-defined]


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
