"""ALU instructions: scalar arithmetic, pointer arithmetic, moves and sign extension.

Models ``check_alu_op``, ``adjust_reg_min_max_vals``,
``adjust_scalar_min_max_vals`` (with ``is_safe_to_compute_dst_reg_range`` and
``maybe_fork_scalars``, the AND/OR-with-[-1,0] fork present in the 6.18.y and
6.12.y stables), ``adjust_ptr_min_max_vals`` with ``check_reg_sane_offset``,
and ``assign_scalar_id_before_mov`` of kernel/bpf/verifier.c (Linux 6.18).
Privileged loads skip the Spectre sanitation (``bypass_spec_v1``); for the
others ``sanitize_ptr_alu`` / ``sanitize_val_alu`` / ``sanitize_check_bounds``
are modelled (masking recorded in ``InsnAux.alu_state``/``alu_limit``, the
truncated-offset path pushed for speculative verification).
"""

from __future__ import annotations

from typing import Final

import errno as E

from kernel_model import isa

from . import mem, precision, scalar as S, tnum as T
from .decoded import DInsn
from .result import InsnAux
from .core import Env, Reject, BPF_MAX_VAR_OFF, DST_OP, DST_OP_NO_MARK, SRC_OP
from .log import reg_type_str, tnum_str
from .regs import (
    BPF_ADD_CONST, BPF_ADD_CONST32, BPF_ADD_CONST64, CONST_PTR_TO_MAP, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_BUF, PTR_TO_CTX, PTR_TO_FLOW_KEYS,
    PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_STACK,
    PTR_TO_TP_BUFFER, PTR_UNTRUSTED, S32_MAX, S64_MAX, S64_MIN, SCALAR_VALUE, U32_MAX, U64_MAX, RegState,
    base_type, clear_scalar_id, is_pointer_value, mark_known, mark_reg32_known, mark_unbounded, mark_reg32_unbounded, mark_unknown, reg_const_value,
    reg_is_const, s32, s64,
)

__all__ = ["check_alu_op", "adjust_reg_min_max_vals", "adjust_scalar", "adjust_ptr", "bounds_sanity", "ALU_NAMES"]

#: bpf_alu_string[] (kernel/bpf/disasm.c)
ALU_NAMES: Final = {isa.ADD: "+=", isa.SUB: "-=", isa.MUL: "*=", isa.DIV: "/=", isa.OR: "|=", isa.AND: "&=",
             isa.LSH: "<<=", isa.RSH: ">>=", isa.NEG: "neg", isa.MOD: "%=", isa.XOR: "^=", isa.MOV: "=",
             isa.ARSH: "s>>=", isa.END: "endian"}

_PTR_ARITH_OK: Final = frozenset({PTR_TO_CTX, PTR_TO_MAP_VALUE, PTR_TO_MAP_KEY, PTR_TO_STACK, PTR_TO_PACKET_META,
                           PTR_TO_PACKET, PTR_TO_TP_BUFFER, PTR_TO_BTF_ID, PTR_TO_MEM, PTR_TO_BUF, 20, 21})


# reasons of sanitize_ptr_alu (verifier.c) and the alu_state bits (include/linux/bpf_verifier.h)
REASON_BOUNDS: Final = -1
REASON_TYPE: Final = -2
REASON_PATHS: Final = -3
REASON_LIMIT: Final = -4
REASON_STACK: Final = -5
BPF_ALU_SANITIZE_SRC: Final = 1
BPF_ALU_SANITIZE_DST: Final = 2
BPF_ALU_NEG_VALUE: Final = 4
BPF_ALU_NON_POINTER: Final = 8
BPF_ALU_IMMEDIATE: Final = 16


class _SanitizeInfo:
    """``struct bpf_sanitize_info``: the first phase's masking, kept for the commit phase."""

    __slots__ = ("alu_state", "alu_limit", "mask_to_left")

    def __init__(self) -> None:
        self.alu_state = 0
        self.alu_limit = 0
        self.mask_to_left = False


def _retrieve_ptr_limit(ptr: RegState, mask_to_left: bool) -> int:
    """``retrieve_ptr_limit``: how far the pointer may move (u32), or a REASON_*."""
    if ptr.type == PTR_TO_STACK:
        top = 512 + int(mask_to_left)
        limit = -(s64(ptr.var_off[0]) + ptr.off) & U32_MAX
    elif ptr.type == PTR_TO_MAP_VALUE:
        top = ptr.map.value_size
        limit = ((ptr.smin if mask_to_left else ptr.umax) + ptr.off) & U32_MAX
    else:
        return REASON_TYPE
    if limit >= top:
        return REASON_LIMIT
    return limit


_CONST_REGS: dict[int, RegState] = {}


def _const_reg(imm: int) -> RegState:
    """The read-only known scalar ``imm`` (``__mark_reg_known(&off_reg, insn->imm)``)."""
    r = RegState()
    r.type = SCALAR_VALUE
    mark_known(r, imm)
    if len(_CONST_REGS) < 4096:
        _CONST_REGS[imm] = r
    return r


def _update_alu_sanitation_state(aux: InsnAux | _SanitizeInfo, alu_state: int, alu_limit: int) -> int:
    """``update_alu_sanitation_state``: one instruction, one masking (else REASON_PATHS)."""
    if aux.alu_state and (aux.alu_state != alu_state or aux.alu_limit != alu_limit):
        return REASON_PATHS
    aux.alu_state = alu_state
    aux.alu_limit = alu_limit
    return 0


def assign_scalar_id_before_mov(env: Env, src: RegState) -> None:
    if src.type != SCALAR_VALUE:
        return
    if src.id & BPF_ADD_CONST:
        src.id = 0
        src.off = 0
    if not src.id and src.var_off[1] != 0:
        src.id = env.new_id()


def bounds_sanity(env: Env, reg: RegState, ctx: str) -> None:
    """``reg_bounds_sanity_check``."""
    msg = S.sanity_violation(reg)
    if msg is None:
        return
    # 6.18: verifier_bug() prefixes "verifier bug: " (the host prints it so)
    env.verbose(f"verifier bug: REG INVARIANTS VIOLATION ({ctx}): {msg} u64=[{reg.umin:#x}, {reg.umax:#x}] "
                f"s64=[{reg.smin & U64_MAX:#x}, {reg.smax & U64_MAX:#x}] u32=[{reg.u32_min:#x}, {reg.u32_max:#x}] "
                f"s32=[{reg.s32_min & U32_MAX:#x}, {reg.s32_max & U32_MAX:#x}] "
                f"var_off=({reg.var_off[0]:#x}, {reg.var_off[1]:#x})\n")
    if env.test_reg_invariants:
        from .core import Reject
        raise Reject(E.EFAULT)
    from .regs import mark_unbounded
    mark_unbounded(reg)

# --- scalar ALU -------------------------------------------------------------------------------
def adjust_scalar(env: Env, insn: DInsn, dst: RegState, src: RegState) -> None:
    """``adjust_scalar_min_max_vals`` (``src`` is a private copy)."""
    op = insn.op
    alu32 = insn.cls != isa.ALU64
    bits = 32 if alu32 else 64
    if op in (isa.LSH, isa.RSH, isa.ARSH):
        if alu32:
            const = not (src.var_off[1] & U32_MAX) and src.s32_min == src.s32_max and src.u32_min == src.u32_max
        else:
            const = src.var_off[1] == 0 and src.smin == src.smax and src.umin == src.umax
        if not (const and src.umax < bits):
            mark_unknown(dst, env.bpf_capable)
            return
    elif op not in (isa.ADD, isa.SUB, isa.NEG, isa.AND, isa.XOR, isa.OR, isa.MUL, isa.END):
        mark_unknown(dst, env.bpf_capable)
        return
    if op in (isa.ADD, isa.SUB) and not env.bypass_spec_v1 and insn.x:
        # sanitize_val_alu: the same instruction may not also do pointer arithmetic
        err = _update_alu_sanitation_state(env.aux[env.insn_idx], BPF_ALU_NON_POINTER, 0)
        if err < 0:
            raise sanitize_err(env, insn, err, None, None)
    if op == isa.ADD:
        S.add32(dst, src)
        S.add64(dst, src)
        dst.var_off = T.add(dst.var_off, src.var_off)
    elif op == isa.SUB:
        S.sub32(dst, src)
        S.sub64(dst, src)
        dst.var_off = T.sub(dst.var_off, src.var_off)
    elif op == isa.NEG:
        fake = dst.clone()
        mark_known(dst, 0)
        S.sub32(dst, fake)
        S.sub64(dst, fake)
        dst.var_off = T.neg(fake.var_off)
    elif op == isa.MUL:
        dst.var_off = T.mul(dst.var_off, src.var_off)
        S.mul32(dst, src)
        S.mul64(dst, src)
    elif op == isa.AND:
        if src.var_off[1] == 0:
            maybe_fork_scalars(env, insn, dst)
        dst.var_off = T.t_and(dst.var_off, src.var_off)
        S.and32(dst, src, src.var_off)
        S.and64(dst, src, src.var_off)
    elif op == isa.OR:
        if src.var_off[1] == 0:
            maybe_fork_scalars(env, insn, dst)
        dst.var_off = T.t_or(dst.var_off, src.var_off)
        S.or32(dst, src, src.var_off)
        S.or64(dst, src, src.var_off)
    elif op == isa.XOR:
        dst.var_off = T.t_xor(dst.var_off, src.var_off)
        S.xor32(dst, src, src.var_off)
        S.xor64(dst, src, src.var_off)
    elif op == isa.LSH:
        (S.lsh32 if alu32 else S.lsh64)(dst, src)
    elif op == isa.RSH:
        (S.rsh32 if alu32 else S.rsh64)(dst, src)
    elif op == isa.ARSH:
        (S.arsh32 if alu32 else S.arsh64)(dst, src)
    elif op == isa.END:
        scalar_byte_swap(insn, dst)
    if alu32 and op != isa.END:
        S.zext_32_to_64(dst)
    S.sync(dst)


def scalar_byte_swap(insn: DInsn, dst: RegState) -> None:
    """``scalar_byte_swap`` (6.18 stable, "bpf: Add bitwise tracking for BPF_END"): a
    swap (``bswap``, or ``be`` on little-endian x86) permutes the tnum's bytes and
    forgets the ranges; 16/32-bit forms also truncate. ``le`` only truncates. The
    register's scalar id is dropped whenever the value may change."""
    alu64 = insn.cls == isa.ALU64
    to_le = not insn.x  # BPF_TO_LE is the K bit
    need_swap = alu64 or not to_le   # little-endian host: to_be swaps
    if need_swap or insn.imm in (16, 32):
        dst.id = 0
        dst.off = 0
    if need_swap:
        dst.var_off = T.bswap(dst.var_off, insn.imm)
        mark_unbounded(dst)
    if insn.imm in (16, 32):
        S.coerce_to_size(dst, insn.imm // 8)


def maybe_fork_scalars(env: Env, insn: DInsn, dst: RegState) -> None:
    """``maybe_fork_scalars``: a [-1, 0] operand of AND/OR is split into two paths
    (this state takes -1, the pushed one 0), so the result stays exact."""
    if dst.smin == -1 and dst.smax == 0:
        alu32 = False
    elif dst.s32_min == -1 and dst.s32_max == 0:
        alu32 = True
    else:
        return
    branch = env.push_stack(env.insn_idx, env.insn_idx, False)
    other = branch.frame[branch.curframe].regs[insn.dst]
    if alu32:
        mark_reg32_known(other, 0)
        mark_reg32_known(dst, U32_MAX)
    else:
        mark_known(other, 0)
        mark_known(dst, U64_MAX)

# --- pointer arithmetic -----------------------------------------------------------------------
def check_reg_sane_offset(env: Env, reg: RegState, ptype: int) -> bool:
    """``check_reg_sane_offset``: refuse offsets that cannot be tracked."""
    known = reg.var_off[1] == 0
    val = s64(reg.var_off[0])
    smin = reg.smin
    tname = reg_type_str(ptype)
    if known and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
        env.verbose(f"math between {tname} pointer and {val} is not allowed\n")
        return False
    # a scalar's ``off`` is the delta of a linked register (BPF_ADD_CONST), not an
    # offset: the 6.18.44 host never refuses the scalar operand for it (measured:
    # fp + a copy of [0, 1] - 0x20000000 is "value -536870912 makes fp pointer be out
    # of bounds", the smin check below)
    off = reg.off if reg.type != SCALAR_VALUE else 0
    if off >= BPF_MAX_VAR_OFF or off <= -BPF_MAX_VAR_OFF:
        env.verbose(f"{tname} pointer offset {off} is not allowed\n")
        return False
    if smin == S64_MIN:
        env.verbose(f"math between {tname} pointer and register with unbounded min value is not allowed\n")
        return False
    if smin >= BPF_MAX_VAR_OFF or smin <= -BPF_MAX_VAR_OFF:
        env.verbose(f"value {smin} makes {tname} pointer be out of bounds\n")
        return False
    return True

# --- Spectre v1 sanitation of ALU on pointers (unprivileged) -------------------------------
def sanitize_ptr_alu(env: Env, insn: DInsn, ptr: RegState, off_reg: RegState, dst: RegState,
                     info: "_SanitizeInfo", commit_window: bool) -> int:
    """``sanitize_ptr_alu`` (verifier.c, 6.18): record the masking the fixups will emit
    (``alu_state``/``alu_limit``), refuse what cannot be masked, and push the path where
    the offset was truncated to 0 for speculative verification. 0 or a REASON_*."""
    if env.bypass_spec_v1 or not insn.x:  # can_skip_alu_sanitation
        return 0
    off_is_imm = off_reg.var_off[1] == 0
    off_is_neg = off_reg.smin < 0
    ptr_is_dst = ptr is dst
    op = insn.op
    if not env.cur.speculative:
        if not commit_window:
            if not off_is_imm and (off_reg.smin < 0) != (off_reg.smax < 0):
                return REASON_BOUNDS
            info.mask_to_left = (op == isa.ADD and off_is_neg) or (op == isa.SUB and not off_is_neg)
        limit = _retrieve_ptr_limit(ptr, info.mask_to_left)
        if limit < 0:
            return limit
        if commit_window:
            alu_state = info.alu_state
            alu_limit = abs(info.alu_limit - limit)
        else:
            alu_limit = limit
            alu_state = (BPF_ALU_NEG_VALUE if off_is_neg else 0) | (BPF_ALU_IMMEDIATE if off_is_imm else 0) \
                | (BPF_ALU_SANITIZE_SRC if ptr_is_dst else BPF_ALU_SANITIZE_DST)
            if not off_is_imm:
                env.explore_alu_limits = True
        target = env.aux[env.insn_idx] if commit_window else info
        err = _update_alu_sanitation_state(target, alu_state, alu_limit)
        if err < 0:
            return err
    if commit_window or off_is_imm:
        return 0
    # simulate the speculative path where the masked offset became 0
    tmp = None
    if not ptr_is_dst:
        tmp = dst.clone()
        dst.assign(ptr)
    env.sanitize_speculative_path(None, env.insn_idx + 1, env.insn_idx)
    if tmp is not None:
        dst.assign(tmp)
    return 0


def sanitize_err(env: Env, insn: DInsn, reason: int, off_reg: RegState | None, dst: RegState | None) -> Reject:
    """``sanitize_err``: the kernel's message for a REASON_*, as a rejection."""
    err = "pointer arithmetic with it prohibited for !root"
    op = "add" if insn.op == isa.ADD else "sub"
    d, sreg = insn.dst, insn.src
    if reason == REASON_BOUNDS:
        msg = f"R{d if off_reg is dst else sreg} has unknown scalar with mixed signed bounds, {err}"
    elif reason == REASON_TYPE:
        msg = f"R{sreg if off_reg is dst else d} has pointer with unsupported alu operation, {err}"
    elif reason == REASON_PATHS:
        msg = f"R{d} tried to {op} from different maps, paths or scalars, {err}"
    elif reason == REASON_LIMIT:
        msg = f"R{d} tried to {op} beyond pointer bounds, {err}"
    else:
        return env.reject(E.ENOMEM, f"R{d} could not be pushed for speculative verification, {err}")
    return env.reject(E.EACCES, msg)


def adjust_ptr(env: Env, insn: DInsn, ptr: RegState, off_reg: RegState) -> None:
    """``adjust_ptr_min_max_vals``: pointer +/- scalar."""
    regs = env.cur_regs()
    dst_no = insn.dst
    dst = regs[dst_no]
    known = off_reg.var_off[1] == 0
    smin_val, smax_val, umin_val, umax_val = off_reg.smin, off_reg.smax, off_reg.umin, off_reg.umax
    smin_ptr, smax_ptr, umin_ptr, umax_ptr = ptr.smin, ptr.smax, ptr.umin, ptr.umax
    op = insn.op
    if (known and (smin_val != smax_val or umin_val != umax_val)) or smin_val > smax_val or umin_val > umax_val:
        mark_unknown(dst, env.bpf_capable)
        return
    if insn.cls != isa.ALU64:
        if op == isa.SUB and env.allow_ptr_leaks:
            mark_unknown(dst, env.bpf_capable)
            return
        raise env.reject(E.EACCES, f"R{dst_no} 32-bit pointer arithmetic prohibited")
    if ptr.type & PTR_MAYBE_NULL:
        raise env.reject(E.EACCES, f"R{dst_no} pointer arithmetic on {reg_type_str(ptr.type)} prohibited, "
                                   "null-check it first")
    if base_type(ptr.type) == PTR_TO_MEM and ptr.type & PTR_UNTRUSTED:
        return
    bt = base_type(ptr.type)
    if bt not in _PTR_ARITH_OK:
        ok = False
        if bt == PTR_TO_FLOW_KEYS and known:
            ok = True
        elif bt in (PTR_TO_FLOW_KEYS, CONST_PTR_TO_MAP) and known and smin_val == 0 and op == isa.ADD:
            ok = True
        if not ok:
            raise env.reject(E.EACCES, f"R{dst_no} pointer arithmetic on {reg_type_str(ptr.type)} prohibited")
    ptype = ptr.type
    dst.type = ptype
    dst.id = ptr.id
    if not check_reg_sane_offset(env, off_reg, ptype) or not check_reg_sane_offset(env, ptr, ptype):
        from .core import Reject
        raise Reject(E.EINVAL)
    mark_reg32_unbounded(dst)
    info = _SanitizeInfo()
    if op in (isa.ADD, isa.SUB):
        ret = sanitize_ptr_alu(env, insn, ptr, off_reg, dst, info, False)
        if ret < 0:
            raise sanitize_err(env, insn, ret, off_reg, dst)
    if op == isa.ADD:
        if known and ptr.off + smin_val == s32(ptr.off + smin_val):
            dst.smin, dst.smax, dst.umin, dst.umax = smin_ptr, smax_ptr, umin_ptr, umax_ptr
            dst.var_off = ptr.var_off
            dst.off = ptr.off + smin_val
            _copy_raw(dst, ptr)
        else:
            lo, hi = smin_ptr + smin_val, smax_ptr + smax_val
            if not (S64_MIN <= lo <= S64_MAX and S64_MIN <= hi <= S64_MAX):
                dst.smin, dst.smax = S64_MIN, S64_MAX
            else:
                dst.smin, dst.smax = lo, hi
            lo, hi = umin_ptr + umin_val, umax_ptr + umax_val
            if lo > U64_MAX or hi > U64_MAX:
                dst.umin, dst.umax = 0, U64_MAX
            else:
                dst.umin, dst.umax = lo, hi
            dst.var_off = T.add(ptr.var_off, off_reg.var_off)
            dst.off = ptr.off
            _copy_raw(dst, ptr)
            if bt in (PTR_TO_PACKET, PTR_TO_PACKET_META):
                dst.id = env.new_id()
                dst.range = 0
    elif op == isa.SUB:
        if dst is off_reg:
            raise env.reject(E.EACCES, f"R{dst_no} tried to subtract pointer from scalar")
        if ptype == PTR_TO_STACK:
            raise env.reject(E.EACCES, f"R{dst_no} subtraction from stack pointer prohibited")
        if known and ptr.off - smin_val == s32(ptr.off - smin_val):
            dst.smin, dst.smax, dst.umin, dst.umax = smin_ptr, smax_ptr, umin_ptr, umax_ptr
            dst.var_off = ptr.var_off
            dst.id = ptr.id
            dst.off = ptr.off - smin_val
            _copy_raw(dst, ptr)
        else:
            lo, hi = smin_ptr - smax_val, smax_ptr - smin_val
            if not (S64_MIN <= lo <= S64_MAX and S64_MIN <= hi <= S64_MAX):
                dst.smin, dst.smax = S64_MIN, S64_MAX
            else:
                dst.smin, dst.smax = lo, hi
            if umin_ptr < umax_val:
                dst.umin, dst.umax = 0, U64_MAX
            else:
                dst.umin, dst.umax = umin_ptr - umax_val, umax_ptr - umin_val
            dst.var_off = T.sub(ptr.var_off, off_reg.var_off)
            dst.off = ptr.off
            _copy_raw(dst, ptr)
            if bt in (PTR_TO_PACKET, PTR_TO_PACKET_META):
                dst.id = env.new_id()
                if smin_val < 0:
                    dst.range = 0
    elif op in (isa.AND, isa.OR, isa.XOR):
        raise env.reject(E.EACCES, f"R{dst_no} bitwise operator {ALU_NAMES[op]} on pointer prohibited")
    else:
        raise env.reject(E.EACCES, f"R{dst_no} pointer arithmetic with {ALU_NAMES[op]} operator prohibited")
    if not check_reg_sane_offset(env, dst, ptype):
        from .core import Reject
        raise Reject(E.EINVAL)
    S.sync(dst)
    sanitize_check_bounds(env, insn, dst)
    if op in (isa.ADD, isa.SUB):
        ret = sanitize_ptr_alu(env, insn, dst, off_reg, dst, info, True)
        if ret < 0:
            raise sanitize_err(env, insn, ret, off_reg, dst)


def _copy_raw(dst: RegState, src: RegState) -> None:
    """``dst_reg->raw = ptr_reg->raw``: the union (map, btf, mem_size, range...)."""
    dst.map = src.map
    dst.map_uid = src.map_uid
    dst.range = src.range
    dst.btf = src.btf
    dst.btf_id = src.btf_id
    dst.mem_size = src.mem_size
    dst.subprogno = src.subprogno


def sanitize_check_bounds(env: Env, insn: DInsn, dst: RegState) -> None:
    """``sanitize_check_bounds``: unprivileged pointers must stay in bounds."""
    if env.bypass_spec_v1:
        return
    d = insn.dst
    if dst.type == PTR_TO_STACK:
        off = dst.off + s64(dst.var_off[0])
        if dst.var_off[1] != 0:
            raise env.reject(E.EACCES, f"R{d} variable stack access prohibited for !root, "
                                       f"var_off={tnum_str(dst.var_off)} off={off}")
        if off >= 0 or off < -512:
            raise env.reject(E.EACCES, f"R{d} stack pointer arithmetic goes out of range, prohibited for !root; "
                                       f"off={off}")
    elif dst.type == PTR_TO_MAP_VALUE:
        try:
            mem.check_map_access(env, d, dst.off, 1, False, 2)
        except Exception:
            raise env.reject(E.EACCES, f"R{d} pointer arithmetic of map value goes out of range, "
                                       "prohibited for !root") from None

# --- the instruction ---------------------------------------------------------------------------
def adjust_reg_min_max_vals(env: Env, insn: DInsn) -> None:
    regs = env.cur_regs()
    dst = regs[insn.dst]
    op = insn.op
    alu32 = insn.cls != isa.ALU64
    if dst.type == 18:  # PTR_TO_ARENA
        return
    ptr = dst if dst.type != SCALAR_VALUE else None
    if insn.x:
        src = regs[insn.src]
        if src.type != SCALAR_VALUE:
            if dst.type != SCALAR_VALUE:
                if op == isa.SUB and env.allow_ptr_leaks:
                    mark_unknown(dst, env.bpf_capable)
                    return
                raise env.reject(E.EACCES, f"R{insn.dst} pointer {ALU_NAMES[op]} pointer prohibited")
            precision.mark_chain_precision(env, insn.dst)
            adjust_ptr(env, insn, src, dst)
            return
        if ptr is not None:
            precision.mark_chain_precision(env, insn.src)
            adjust_ptr(env, insn, dst, src)
            return
        if dst.precise:
            precision.mark_chain_precision(env, insn.src)
        src_copy = src.clone()
    elif ptr is not None:
        src_copy = RegState()
        src_copy.type = SCALAR_VALUE
        mark_known(src_copy, insn.imm)
        adjust_ptr(env, insn, ptr, src_copy)
        return
    else:
        # the immediate as a known scalar; the scalar path only reads it, so one per value
        src_copy = _CONST_REGS.get(insn.imm) or _const_reg(insn.imm)
    dst_umax = dst.umax
    adjust_scalar(env, insn, dst, src_copy)
    # linked scalars: remember the constant delta of rX += / -= K (6.18.y stable rules,
    # with "Fix linked reg delta tracking when src_reg == dst_reg" and "Clear delta when
    # clearing reg id for non-{add,sub} ops")
    same = insn.x and insn.src == insn.dst
    if env.bpf_capable and op in (isa.ADD, isa.SUB) and dst.id and not same \
            and reg_is_const(src_copy, alu32):
        val = reg_const_value(src_copy, alu32)
        off = s32(val)
        ok = True
        if not alu32 and not (-(1 << 31) <= s64(val) <= S32_MAX):
            ok = False
        if alu32 and dst_umax > U32_MAX:
            ok = False
        if ok and op == isa.SUB:
            if off == -(1 << 31):
                ok = False
            else:
                off = -off
        if not ok or dst.id & BPF_ADD_CONST:
            dst.off = 0
            dst.id = 0
        else:
            dst.id |= BPF_ADD_CONST32 if alu32 else BPF_ADD_CONST64
            dst.off = off
    else:
        dst.id = 0
        dst.off = 0


def check_alu_op(env: Env, insn: DInsn) -> None:
    regs = env.cur_regs()
    op = insn.op
    cls = insn.cls
    if op in (isa.END, isa.NEG):
        if op == isa.NEG:
            if insn.x or insn.src or insn.off or insn.imm:
                raise env.reject(E.EINVAL, "BPF_NEG uses reserved fields")
        elif insn.src or insn.off or insn.imm not in (16, 32, 64) or (cls == isa.ALU64 and insn.x):
            raise env.reject(E.EINVAL, "BPF_END uses reserved fields")
        env.check_reg_arg(insn.dst, SRC_OP)
        if is_pointer_value(env.allow_ptr_leaks, regs[insn.dst]):
            raise env.reject(E.EACCES, f"R{insn.dst} pointer arithmetic prohibited")
        if regs[insn.dst].type == SCALAR_VALUE:  # NEG, and END since the 6.18 stable backport
            env.check_reg_arg(insn.dst, DST_OP_NO_MARK)
            adjust_scalar(env, insn, regs[insn.dst], regs[insn.dst].clone())
        else:
            env.check_reg_arg(insn.dst, DST_OP)
    elif op == isa.MOV:
        if insn.x:
            if cls == isa.ALU:
                if insn.off not in (0, 8, 16) or insn.imm:
                    raise env.reject(E.EINVAL, "BPF_MOV uses reserved fields")
            elif insn.off == isa.ADDR_SPACE_CAST:
                if insn.imm not in (1, 1 << 16):
                    raise env.reject(E.EINVAL, "addr_space_cast insn can only convert between address space "
                                               "1 and 0")
                raise env.reject(E.EINVAL, "addr_space_cast insn can only be used in a program that has an "
                                           "associated arena")
            elif insn.off not in (0, 8, 16, 32) or insn.imm:
                raise env.reject(E.EINVAL, "BPF_MOV uses reserved fields")
            env.check_reg_arg(insn.src, SRC_OP)
        elif insn.src or insn.off:
            raise env.reject(E.EINVAL, "BPF_MOV uses reserved fields")
        env.check_reg_arg(insn.dst, DST_OP_NO_MARK)
        dst = regs[insn.dst]
        if insn.x:
            src = regs[insn.src]
            if cls == isa.ALU64:
                if insn.off == 0:
                    assign_scalar_id_before_mov(env, src)
                    dst.assign(src)
                    dst.subreg_def = 0
                else:
                    if is_pointer_value(env.allow_ptr_leaks, src):
                        raise env.reject(E.EACCES, f"R{insn.src} sign-extension part of pointer")
                    if src.type == SCALAR_VALUE:
                        no_sext = src.umax < (1 << (insn.off - 1))
                        if no_sext:
                            assign_scalar_id_before_mov(env, src)
                        dst.assign(src)
                        if not no_sext:
                            clear_scalar_id(dst)
                        S.coerce_to_size_sx(dst, insn.off >> 3)
                        dst.subreg_def = 0
                    else:
                        mark_unknown(dst, env.bpf_capable)
            else:
                if is_pointer_value(env.allow_ptr_leaks, src):
                    raise env.reject(E.EACCES, f"R{insn.src} partial copy of pointer")
                if src.type == SCALAR_VALUE:
                    if insn.off == 0:
                        is_u32 = src.umax.bit_length() <= 32
                        if is_u32:
                            assign_scalar_id_before_mov(env, src)
                        dst.assign(src)
                        if not is_u32:
                            clear_scalar_id(dst)
                        dst.subreg_def = env.insn_idx + 1
                    else:
                        no_sext = src.umax < (1 << (insn.off - 1))
                        if no_sext:
                            assign_scalar_id_before_mov(env, src)
                        dst.assign(src)
                        if not no_sext:
                            clear_scalar_id(dst)
                        dst.subreg_def = env.insn_idx + 1
                        S.coerce_subreg_to_size_sx(dst, insn.off >> 3)
                else:
                    mark_unknown(dst, env.bpf_capable)
                S.zext_32_to_64(dst)
                S.sync(dst)
        else:
            mark_unknown(dst, env.bpf_capable)
            dst.type = SCALAR_VALUE
            if cls == isa.ALU64:
                mark_known(dst, insn.imm)
            else:
                mark_known(dst, insn.imm & U32_MAX)
    elif op > isa.END:
        raise env.reject(E.EINVAL, f"invalid BPF_ALU opcode {op:x}")
    else:
        if insn.x:
            if insn.imm or insn.off not in (0, 1) or (insn.off == 1 and op not in (isa.MOD, isa.DIV)):
                raise env.reject(E.EINVAL, "BPF_ALU uses reserved fields")
            env.check_reg_arg(insn.src, SRC_OP)
        elif insn.src or insn.off not in (0, 1) or (insn.off == 1 and op not in (isa.MOD, isa.DIV)):
            raise env.reject(E.EINVAL, "BPF_ALU uses reserved fields")
        env.check_reg_arg(insn.dst, SRC_OP)
        if op in (isa.MOD, isa.DIV) and not insn.x and insn.imm == 0:
            raise env.reject(E.EINVAL, "div by zero")
        if op in (isa.LSH, isa.RSH, isa.ARSH) and not insn.x:
            size = 64 if cls == isa.ALU64 else 32
            if insn.imm < 0 or insn.imm >= size:
                raise env.reject(E.EINVAL, f"invalid shift {insn.imm}")
        env.check_reg_arg(insn.dst, DST_OP_NO_MARK)
        adjust_reg_min_max_vals(env, insn)
    bounds_sanity(env, regs[insn.dst], "alu")
