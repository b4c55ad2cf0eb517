"""Conditional jumps: branch prediction, refinement on both sides, NULL checks.

Models ``check_cond_jmp_op``, ``is_branch_taken`` (scalars, and a pointer
compared with 0 when it cannot be NULL), ``reg_set_min_max`` over
``regs_refine_cond_op``, ``mark_ptr_or_null_regs`` (``if rX == 0`` makes a
maybe-NULL pointer a pointer on one side and the scalar 0 on the other, for
every register sharing its id), linked scalars (``collect_linked_regs`` /
``sync_linked_regs``) and ``may_goto`` (``BPF_JCOND``) of kernel/bpf/verifier.c
(Linux 6.18). The fall-through path is explored first; the jump target is
pushed and explored when the fall-through path ends.
"""

from __future__ import annotations

from typing import Final

import errno as E

from kernel_model import isa

from . import alu, analyzer, precision, scalar as S, tnum as T
from .decoded import DInsn
from .core import Env, BPF_MAX_VAR_OFF, INSN_F_DST_REG_STACK, INSN_F_SRC_REG_STACK, SRC_OP
from .precision import pack_linked
from .not_null import mark_ptr_not_null_reg
from .regs import (
    BPF_ADD_CONST, BPF_ADD_CONST32, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_SOCK_COMMON,
    PTR_TO_PACKET, PTR_TO_PACKET_END, PTR_TO_PACKET_META, PTR_TO_SOCKET, PTR_TO_STACK, PTR_TO_TCP_SOCK,
    SCALAR_VALUE, MEM_ALLOC,
    CONST_PTR_TO_MAP, PTR_TO_BUF, PTR_TO_XDP_SOCK, RegState, base_type, is_pointer_value, is_trusted_reg, mark_known,
    reg_const_value, reg_is_const,
)
from .refs import release_reference_nomark
from .state import VerifierState, is_spilled_reg

__all__ = ["check_cond_jmp_op", "is_branch_taken"]

LINKED_REGS_MAX: Final = 6


def _reg_not_null(reg: RegState) -> bool:
    """``reg_not_null`` (verifier.c, 6.18 with the stable fix that a pointer whose
    variable offset may reach +-BPF_MAX_VAR_OFF could wrap to NULL)."""
    t = reg.type
    if t & PTR_MAYBE_NULL:
        return False
    if reg.smin <= -BPF_MAX_VAR_OFF or reg.smax >= BPF_MAX_VAR_OFF:
        return False
    bt = base_type(t)
    if bt == PTR_TO_BTF_ID:
        return is_trusted_reg(reg)
    return bt in _NOT_NULL_TYPES


_NOT_NULL_TYPES: Final = frozenset({PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK, PTR_TO_BUF, PTR_TO_MAP_VALUE,
                             PTR_TO_MAP_KEY, PTR_TO_SOCK_COMMON, PTR_TO_MEM, CONST_PTR_TO_MAP})


#: include/linux/bpf_verifier.h: reg->range of a packet pointer known to be at (>=) or
#: beyond (>) pkt_end
AT_PKT_END: Final = -1
BEYOND_PKT_END: Final = -2
#: include/linux/bpf.h
MAX_PACKET_OFF: Final = 0xFFFF
_PKT_ANY: Final = frozenset({PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_PACKET_END})


def _is_pkt_ptr_branch_taken(dst: RegState, src: RegState, op: int) -> int:
    """``is_pkt_ptr_branch_taken``: a packet pointer known to be at or beyond pkt_end
    (``mark_pkt_end``) decides a later comparison with pkt_end."""
    if src.type == PTR_TO_PACKET_END:
        pkt = dst
    elif dst.type == PTR_TO_PACKET_END:
        pkt = src
        op = S.flip_opcode(op)
    else:
        return -1
    if pkt.range >= 0:
        return -1
    if op in (S.JLE, S.JGT):
        if pkt.range == BEYOND_PKT_END:
            return int(op == S.JGT)
    elif op in (S.JLT, S.JGE):
        if pkt.range in (BEYOND_PKT_END, AT_PKT_END):
            return int(op == S.JGE)
    return -1


def _reg_is_init_pkt_pointer(reg: RegState, which: int) -> bool:
    """``reg_is_init_pkt_pointer``: ``which`` not advanced from its origin."""
    return reg.type == which and reg.id == 0 and reg.off == 0 and reg.var_off == (0, 0)


def _find_good_pkt_pointers(st: VerifierState, dst: RegState, ptype: int, range_right_open: bool) -> None:
    """``find_good_pkt_pointers``: every packet pointer of ``dst``'s id in the state
    (all frames, spilled ones too) may access ``dst.off`` bytes (one more when the
    comparison was strict)."""
    if dst.off < 0 or (dst.off == 0 and range_right_open):
        return
    if dst.umax > MAX_PACKET_OFF or dst.umax + dst.off > MAX_PACKET_OFF:
        return
    new_range = dst.off + (1 if range_right_open else 0)
    for func in st.frame[: st.curframe + 1]:
        for reg in list(func.regs) + [sl.spilled for sl in func.stack if is_spilled_reg(sl)]:
            if reg.type == ptype and reg.id == dst.id:
                reg.range = max(reg.range, new_range)


def _mark_pkt_end(st: VerifierState, regno: int, range_open: bool) -> None:
    """``mark_pkt_end``: the pointer is at (>=) or beyond (>) pkt_end."""
    reg = st.frame[st.curframe].regs[regno]
    if reg.type != PTR_TO_PACKET:
        return
    reg.range = BEYOND_PKT_END if range_open else AT_PKT_END


def _try_match_pkt_pointers(insn: DInsn, dst: RegState, src: RegState, this: VerifierState,
                            other: VerifierState) -> bool:
    """``try_match_pkt_pointers``: a comparison of a packet pointer with pkt_end (or of
    pkt_meta with the packet start) gives the pointers of that id a range on the side
    where the access is proven in bounds, and marks the other side at/beyond the end."""
    if not insn.x or insn.cls == isa.JMP32:
        return False
    op = insn.op
    if op not in (S.JGT, S.JLT, S.JGE, S.JLE):
        return False
    left = (dst.type == PTR_TO_PACKET and src.type == PTR_TO_PACKET_END) or \
        (dst.type == PTR_TO_PACKET_META and _reg_is_init_pkt_pointer(src, PTR_TO_PACKET))
    right = (dst.type == PTR_TO_PACKET_END and src.type == PTR_TO_PACKET) or \
        (_reg_is_init_pkt_pointer(dst, PTR_TO_PACKET) and src.type == PTR_TO_PACKET_META)
    if left:
        # pkt' OP pkt_end: the access is proven where pkt' is below the end
        if op == S.JGT:
            _find_good_pkt_pointers(this, dst, dst.type, False)
            _mark_pkt_end(other, insn.dst, True)
        elif op == S.JLT:
            _find_good_pkt_pointers(other, dst, dst.type, True)
            _mark_pkt_end(this, insn.dst, False)
        elif op == S.JGE:
            _find_good_pkt_pointers(this, dst, dst.type, True)
            _mark_pkt_end(other, insn.dst, False)
        else:
            _find_good_pkt_pointers(other, dst, dst.type, False)
            _mark_pkt_end(this, insn.dst, True)
        return True
    if right:
        if op == S.JGT:
            _find_good_pkt_pointers(other, src, src.type, True)
            _mark_pkt_end(this, insn.src, False)
        elif op == S.JLT:
            _find_good_pkt_pointers(this, src, src.type, False)
            _mark_pkt_end(other, insn.src, True)
        elif op == S.JGE:
            _find_good_pkt_pointers(other, src, src.type, False)
            _mark_pkt_end(this, insn.src, True)
        else:
            _find_good_pkt_pointers(this, src, src.type, True)
            _mark_pkt_end(other, insn.src, False)
        return True
    return False


def is_branch_taken(r1: RegState, r2: RegState, op: int, w32: bool) -> int:
    """``is_branch_taken``: 1, 0, or -1 (unknown)."""
    if r1.type in _PKT_ANY and r2.type in _PKT_ANY and not w32:
        return _is_pkt_ptr_branch_taken(r1, r2, op)
    if r1.type != SCALAR_VALUE or r2.type != SCALAR_VALUE:
        if not reg_is_const(r2, w32):
            op = S.flip_opcode(op)
            r1, r2 = r2, r1
        if not reg_is_const(r2, w32):
            return -1
        if not _reg_not_null(r1):
            return -1
        if reg_const_value(r2, w32) != 0:
            return -1
        if op == S.JEQ:
            return 0
        if op == S.JNE:
            return 1
        return -1
    return S.scalar_branch_taken(r1, r2, op, w32)


def _collect_linked(env: Env, st: VerifierState, id_: int, out: list[tuple[int, int, bool]]) -> None:
    # Only registers live before the frame's current instruction take part: "bpf:
    # collect only live registers in linked regs" (upstream 2658a1720a19, in the
    # host's 6.18 stable line), so precision never spreads to a dead register.
    id_ &= ~BPF_ADD_CONST
    live_before = env.live_before
    for i in range(st.curframe, -1, -1):
        func = st.frame[i]
        live = live_before[env.insn_idx if i == st.curframe else st.frame[i + 1].callsite]
        for j in range(10):
            if not live >> j & 1:
                continue
            reg = func.regs[j]
            if reg.type != SCALAR_VALUE or (reg.id & ~BPF_ADD_CONST) != id_:
                continue
            if len(out) < LINKED_REGS_MAX:
                out.append((i, j, True))
            else:
                reg.id = 0
        for j, slot in enumerate(func.stack):
            if not is_spilled_reg(slot):
                continue
            reg = slot.spilled
            if reg.type != SCALAR_VALUE or (reg.id & ~BPF_ADD_CONST) != id_:
                continue
            if len(out) < LINKED_REGS_MAX:
                out.append((i, j, False))
            else:
                reg.id = 0


def _sync_linked_regs(st: VerifierState, known: RegState, linked: list[tuple[int, int, bool]]) -> None:
    for fr, k, is_reg in linked:
        reg = st.frame[fr].regs[k] if is_reg else st.frame[fr].stack[k].spilled
        if reg.type != SCALAR_VALUE or reg is known:
            continue
        if (reg.id & ~BPF_ADD_CONST) != (known.id & ~BPF_ADD_CONST):
            continue
        if (not reg.id & BPF_ADD_CONST and not known.id & BPF_ADD_CONST) or reg.off == known.off:
            sd = reg.subreg_def
            reg.assign(known)
            reg.subreg_def = sd
        else:
            sd = reg.subreg_def
            saved_off = reg.off
            saved_id = reg.id
            fake = RegState()
            fake.type = SCALAR_VALUE
            mark_known(fake, saved_off - known.off)
            reg.assign(known)
            reg.off = saved_off
            reg.id = saved_id
            reg.subreg_def = sd
            S.add32(reg, fake)
            S.add64(reg, fake)
            reg.var_off = T.add(reg.var_off, fake.var_off)
            if reg.id & BPF_ADD_CONST32:
                S.zext_32_to_64(reg)
            S.sync(reg)


def _reg_set_min_max(env: Env, t1: RegState, t2: RegState, f1: RegState, f2: RegState, op: int, w32: bool) -> None:
    """``reg_set_min_max``: refine the fall-through (false) and jump (true) sides."""
    if f1.type != SCALAR_VALUE or f2.type != SCALAR_VALUE:
        return
    S.refine_cond_op(f1, f2, S.rev_opcode(op), w32)
    S.sync(f1)
    S.sync(f2)
    S.refine_cond_op(t1, t2, op, w32)
    S.sync(t1)
    S.sync(t2)
    alu.bounds_sanity(env, t1, "true_reg1")
    alu.bounds_sanity(env, t2, "true_reg2")
    alu.bounds_sanity(env, f1, "false_reg1")
    alu.bounds_sanity(env, f2, "false_reg2")


def _mark_ptr_or_null_regs(st: VerifierState, regno: int, is_null: bool) -> None:
    """``mark_ptr_or_null_regs``."""
    regs = st.frame[st.curframe].regs
    ref = regs[regno].ref_obj_id
    id_ = regs[regno].id
    if ref and ref == id_ and is_null:
        # the "== NULL" branch: nothing was acquired (release_reference_nomark)
        release_reference_nomark(st, id_)
    for func in st.frame[: st.curframe + 1]:
        for reg in list(func.regs) + [s.spilled for s in func.stack if is_spilled_reg(s)]:
            if not (reg.type & PTR_MAYBE_NULL) or reg.id != id_:
                continue
            if reg.smin or reg.smax or reg.var_off != (0, 0):
                continue
            if is_null:
                reg.type = SCALAR_VALUE
                reg.id = 0
                reg.ref_obj_id = 0
                continue
            mark_ptr_not_null_reg(reg)
            if not reg_may_point_to_spin_lock(reg):  # the lock's identity is the register's id
                reg.id = 0


def reg_may_point_to_spin_lock(reg: RegState) -> bool:
    """``reg_may_point_to_spin_lock``: a map value or an allocated object (``bpf_obj_new``)
    whose ``btf_record`` has a lock (``reg_btf_record``)."""
    if base_type(reg.type) == PTR_TO_MAP_VALUE:
        rec = getattr(reg.map, "record", None)
    elif base_type(reg.type) == PTR_TO_BTF_ID and reg.type & MEM_ALLOC and reg.btf is not None:
        from kernel_model.btf_record import struct_meta
        rec = struct_meta(reg.btf, reg.btf_id)
    else:
        return False
    return rec is not None and rec.has("bpf_spin_lock")


def check_cond_jmp_op(env: Env, insn: DInsn) -> None:
    this = env.cur
    regs = this.frame[this.curframe].regs
    op = insn.op
    if op == isa.JA or op > isa.JCOND:
        raise env.reject(E.EINVAL, f"invalid BPF_JMP/JMP32 opcode {op:x}")
    idx = env.insn_idx
    if op == isa.JCOND:
        if insn.code != (isa.JMP | isa.JCOND) or insn.src != isa.MAY_GOTO or insn.dst or insn.imm:
            raise env.reject(E.EINVAL, f"invalid may_goto imm {insn.imm}")
        prev = analyzer.find_prev_entry(env, this.parent, idx)
        queued = env.push_stack(idx + 1, idx, False)
        queued.may_goto_depth += 1
        if prev is not None:
            analyzer.widen_imprecise_scalars(env, prev, queued)
        env.insn_idx += insn.off
        return
    env.check_reg_arg(insn.dst, SRC_OP)
    dst = regs[insn.dst]
    flags = 0
    leaks = env.allow_ptr_leaks
    if insn.x:
        if insn.imm:
            raise env.reject(E.EINVAL, "BPF_JMP/JMP32 uses reserved fields")
        env.check_reg_arg(insn.src, SRC_OP)
        src = regs[insn.src]
        if not (dst.type in _PKT_ANY and src.type in _PKT_ANY) and is_pointer_value(leaks, src):
            raise env.reject(E.EACCES, f"R{insn.src} pointer comparison prohibited")
        if src.type == PTR_TO_STACK:
            flags |= INSN_F_SRC_REG_STACK
        if dst.type == PTR_TO_STACK:
            flags |= INSN_F_DST_REG_STACK
    else:
        if insn.src:
            raise env.reject(E.EINVAL, "BPF_JMP/JMP32 uses reserved fields")
        src = RegState()
        src.type = SCALAR_VALUE
        mark_known(src, insn.imm)
        if dst.type == PTR_TO_STACK:
            flags |= INSN_F_DST_REG_STACK
    if flags:
        env.push_jmp_history(this, flags, 0)
    w32 = insn.cls == isa.JMP32
    pred = is_branch_taken(dst, src, op, w32)
    if pred >= 0:
        if dst.type == SCALAR_VALUE:
            precision.mark_chain_precision(env, insn.dst)
        if insn.x and src.type == SCALAR_VALUE:
            precision.mark_chain_precision(env, insn.src)
    if pred == 1:
        # the fall-through is still simulated under speculative execution (Spectre v1)
        if not env.bypass_spec_v1:
            env.sanitize_speculative_path(insn, env.insn_idx + 1, env.insn_idx)
        if env.log_on:
            env.print_insn_state(this, this.curframe)
        env.insn_idx += insn.off
        return
    if pred == 0:
        if not env.bypass_spec_v1:
            env.sanitize_speculative_path(insn, env.insn_idx + insn.off + 1,
                                          env.insn_idx)
        if env.log_on:
            env.print_insn_state(this, this.curframe)
        return
    linked: list[tuple[int, int, bool]] = []
    if insn.x and src.type == SCALAR_VALUE and src.id:
        _collect_linked(env, this, src.id, linked)
    if dst.type == SCALAR_VALUE and dst.id:
        _collect_linked(env, this, dst.id, linked)
    if len(linked) > 1:
        env.push_jmp_history(this, 0, pack_linked(linked))
    other = env.push_stack(idx + insn.off + 1, idx, False, E.EFAULT)
    oregs = other.frame[other.curframe].regs
    if insn.x:
        _reg_set_min_max(env, oregs[insn.dst], oregs[insn.src], dst, src, op, w32)
    else:
        fake0 = src
        fake1 = src.clone()
        _reg_set_min_max(env, oregs[insn.dst], fake0, dst, fake1, op, w32)
    if insn.x and src.type == SCALAR_VALUE and src.id:
        _sync_linked_regs(this, src, linked)
        _sync_linked_regs(other, oregs[insn.src], linked)
    if dst.type == SCALAR_VALUE and dst.id:
        _sync_linked_regs(this, dst, linked)
        _sync_linked_regs(other, oregs[insn.dst], linked)
    if not w32 and insn.x and dst.type != SCALAR_VALUE and src.type != SCALAR_VALUE \
            and bool(src.type & PTR_MAYBE_NULL) != bool(dst.type & PTR_MAYBE_NULL) \
            and base_type(src.type) != PTR_TO_BTF_ID and base_type(dst.type) != PTR_TO_BTF_ID:
        eq = oregs if op == S.JEQ else (regs if op == S.JNE else None)
        if eq is not None:
            r = eq[insn.src] if src.type & PTR_MAYBE_NULL else eq[insn.dst]
            mark_ptr_not_null_reg(r)
    if not w32 and not insn.x and insn.imm == 0 and op in (S.JEQ, S.JNE) \
            and dst.type & PTR_MAYBE_NULL:
        _mark_ptr_or_null_regs(this, insn.dst, op == S.JNE)
        _mark_ptr_or_null_regs(other, insn.dst, op == S.JEQ)
    elif not _try_match_pkt_pointers(insn, dst, src, this, other) and is_pointer_value(leaks, dst):
        raise env.reject(E.EACCES, f"R{insn.dst} pointer comparison prohibited")
    if env.log_on:
        env.print_insn_state(this, this.curframe)
