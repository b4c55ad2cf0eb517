"""Precision tracking: which scalars' exact values a decision depended on.

Models ``struct backtrack_state``, ``backtrack_insn``, ``__mark_chain_precision``,
``mark_all_scalars_precise`` / ``_imprecise`` and ``propagate_precision`` of
kernel/bpf/verifier.c (Linux 6.18). When a branch is decided, a pointer
offset or a size is taken from a scalar, the verifier walks back through the
jump history of the current state and its parents, marking the registers and
stack slots that value came from as precise (the ``P`` prefix in the log);
state pruning then compares precise scalars exactly. At log level 2 each step
prints ``mark_precise: frame%d: regs=... stack=... before N: (insn)``.
"""

from __future__ import annotations

from typing import Final

import errno as E

from kernel_model import isa

from .core import Env, INSN_F_DST_REG_STACK, INSN_F_SPI_MASK, INSN_F_SPI_SHIFT, INSN_F_SRC_REG_STACK, \
    INSN_F_STACK_ACCESS, INSN_F_FRAMENO_MASK, BPF_MAIN_FUNC, Reject
from .cfg import SYNC_CALLBACK_HELPERS
from .regs import SCALAR_VALUE
from .state import BPF_REG_SIZE, HistEntry, VerifierState, is_spilled_reg, is_spilled_scalar_reg

__all__ = ["mark_chain_precision", "propagate_precision", "mark_all_scalars_precise", "mark_all_scalars_imprecise", "NotSupported"]

BPF_REGMASK_ARGS: Final = 0b111110  # r1..r5


class NotSupported(Exception):
    """``-ENOTSUPP`` from backtrack_insn: fall back to marking every scalar precise."""


def _fmt_regs(mask: int) -> str:
    return ",".join(f"r{i}" for i in range(32) if mask >> i & 1)


def _fmt_stack(mask: int) -> str:
    return ",".join(str(-(i + 1) * 8) for i in range(64) if mask >> i & 1)


class _BT:
    """``struct backtrack_state``: per-frame register and stack-slot masks."""

    __slots__ = ("frame", "reg", "stack")

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self.reg = [0] * 8
        self.stack = [0] * 8

    def empty(self) -> bool:
        """``bt_empty`` (frames above ``frame`` are always clear, so all are looked at)."""
        for m in self.reg:
            if m:
                return False
        for m in self.stack:
            if m:
                return False
        return True

    def reset(self) -> None:
        self.reg[:] = [0] * 8
        self.stack[:] = [0] * 8



# --- log helpers -----------------------------------------------------------------------------
def _bt_log_insn(env: Env, bt: _BT, idx: int) -> None:
    env.verbose(f"mark_precise: frame{bt.frame}: regs={_fmt_regs(bt.reg[bt.frame])} "
                f"stack={_fmt_stack(bt.stack[bt.frame])} before {idx}: {env.insn_str(idx)}\n")


def _sync_linked(env: Env, bt: _BT, hist: HistEntry | None) -> None:
    """``bt_sync_linked_regs``."""
    if hist is None or not hist[3]:
        return
    entries = _unpack_linked(hist[3])
    some = False
    for fr, spi_or_reg, is_reg in entries:
        if (is_reg and bt.reg[fr] >> spi_or_reg & 1) or (not is_reg and bt.stack[fr] >> spi_or_reg & 1):
            some = True
            break
    if not some:
        return
    for fr, spi_or_reg, is_reg in entries:
        if is_reg:
            bt.reg[fr] |= 1 << spi_or_reg
        else:
            bt.stack[fr] |= 1 << spi_or_reg


def _backtrack_insn(env: Env, idx: int, subseq_idx: int, hist: HistEntry | None, bt: _BT) -> None:
    """``backtrack_insn``: undo instruction ``idx`` on the masks."""
    insn = env.insns[idx]
    code = insn.code
    if code == 0:
        return
    if env.level2:
        _bt_log_insn(env, bt, idx)
    if hist is not None and hist[3]:
        _sync_linked(env, bt, hist)
    cls = insn.cls
    op = insn.op
    dreg, sreg = insn.dst, insn.src
    fr = bt.frame
    if cls in (isa.ALU, isa.ALU64):
        if not bt.reg[fr] >> dreg & 1:
            return
        if op in (isa.END, isa.NEG):
            return
        if op == isa.MOV:
            if insn.x:
                bt.reg[fr] &= ~(1 << dreg)
                if sreg != isa.FP:
                    bt.reg[fr] |= 1 << sreg
            else:
                bt.reg[fr] &= ~(1 << dreg)
        elif insn.x:
            if sreg != isa.FP:
                bt.reg[fr] |= 1 << sreg
    elif cls == isa.LDX or (cls == isa.STX and insn.mode == isa.ATOMIC and insn.imm & isa.FETCH):
        load_reg = dreg
        if cls == isa.STX:
            load_reg = 0 if insn.imm == isa.CMPXCHG else sreg
        if not bt.reg[fr] >> load_reg & 1:
            return
        bt.reg[fr] &= ~(1 << load_reg)
        if hist is None or not hist[2] & INSN_F_STACK_ACCESS:
            return
        spi = (hist[2] >> INSN_F_SPI_SHIFT) & INSN_F_SPI_MASK
        hfr = hist[2] & INSN_F_FRAMENO_MASK
        bt.stack[hfr] |= 1 << spi
    elif cls in (isa.STX, isa.ST):
        if bt.reg[fr] >> dreg & 1:
            raise NotSupported
        if hist is None or not hist[2] & INSN_F_STACK_ACCESS:
            return
        spi = (hist[2] >> INSN_F_SPI_SHIFT) & INSN_F_SPI_MASK
        hfr = hist[2] & INSN_F_FRAMENO_MASK
        if not bt.stack[hfr] >> spi & 1:
            return
        bt.stack[hfr] &= ~(1 << spi)
        if cls == isa.STX:
            bt.reg[fr] |= 1 << sreg
    elif cls in (isa.JMP, isa.JMP32):
        if code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL \
                and env.subprog_is_global(env.find_subprog(idx + insn.imm + 1)):
            # backtrack_insn, a global subprog: not walked from the call, so the next insn is
            # the caller's; r1-r5 are scratched by the call, and it always sets R0
            if bt.reg[fr] & BPF_REGMASK_ARGS:
                env.verbose(f"verifier bug: global subprog unexpected regs {bt.reg[fr]:#x}\n")
                raise Reject(E.EFAULT)
            bt.reg[fr] &= ~1
            return
        if code == isa.CALL_INSN and insn.src == isa.PSEUDO_CALL:
            # static subprog: callee's r1-r5 are the caller's
            if bt.reg[fr] & ~BPF_REGMASK_ARGS:
                env.verbose(f"verifier bug: backtracking call unexpected regs {bt.reg[fr]:#x}\n")
                raise Reject(E.EFAULT)
            if bt.stack[fr]:
                env.verbose(f"verifier bug: backtracking call unexpected stack slots {bt.stack[fr]:#x}\n")
                raise Reject(E.EFAULT)
            for i in range(1, 6):
                if bt.reg[fr] >> i & 1:
                    bt.reg[fr] &= ~(1 << i)
                    bt.reg[fr - 1] |= 1 << i
            bt.reg[fr] = 0
            bt.stack[fr] = 0
            bt.frame -= 1
            return
        if code == isa.CALL_INSN and idx != subseq_idx - 1 and (
                (insn.src == 0 and insn.imm in SYNC_CALLBACK_HELPERS)
                or (insn.src == isa.PSEUDO_KFUNC_CALL and env.calls_callback[idx])):  # bpf_rbtree_add
            # back from a callback's first insn to the helper that called it: r1-r5 of the
            # callback frame are set by the helper, not by the caller's registers
            if bt.reg[fr] & ~BPF_REGMASK_ARGS:
                env.verbose(f"verifier bug: callback unexpected regs {bt.reg[fr]:#x}\n")
                raise Reject(E.EFAULT)
            if bt.stack[fr]:
                env.verbose(f"verifier bug: callback leftover stack slots {bt.stack[fr]:#x}\n")
                raise Reject(E.EFAULT)
            bt.reg[fr] = 0
            bt.stack[fr] = 0
            bt.frame -= 1
            return
        if op == isa.CALL:
            if insn.src == isa.PSEUDO_KFUNC_CALL and insn.imm == 0:
                raise NotSupported
            bt.reg[fr] &= ~1
            if bt.reg[fr] & BPF_REGMASK_ARGS:
                env.verbose(f"verifier bug: backtracking call unexpected regs {bt.reg[fr]:#x}\n")
                raise Reject(E.EFAULT)
        elif op == isa.EXIT:
            from_call = subseq_idx - 1 >= 0 and env.insns[subseq_idx - 1].code == isa.CALL_INSN and \
                env.insns[subseq_idx - 1].src == isa.PSEUDO_CALL
            # back into a callback: r1-r5 of the caller (bpf_loop's R1, R4 ...) stay set in
            # its frame (the host's 6.18 clears nothing here)
            r0 = from_call and bt.reg[fr] & 1
            if from_call and bt.reg[fr] & BPF_REGMASK_ARGS:
                env.verbose(f"verifier bug: backtracking exit unexpected regs {bt.reg[fr]:#x}\n")
                raise Reject(E.EFAULT)
            bt.reg[fr] &= ~1
            bt.frame += 1
            if bt.frame >= 8:
                raise Reject(E.EFAULT)
            if r0:
                bt.reg[bt.frame] |= 1
            return
        elif insn.x and op not in (isa.JA, isa.JCOND):
            if not bt.reg[fr] >> dreg & 1 and not bt.reg[fr] >> sreg & 1:
                return
            flags = hist[2] if hist is not None else 0
            if not flags & INSN_F_SRC_REG_STACK:
                bt.reg[fr] |= 1 << sreg
            if not flags & INSN_F_DST_REG_STACK:
                bt.reg[fr] |= 1 << dreg
    elif cls == isa.LD:
        mode = insn.mode
        if mode == isa.IMM:
            bt.reg[fr] &= ~(1 << dreg)
            return
        if mode in (isa.IND, isa.ABS):
            if bt.reg[fr] >> dreg & 1:
                raise NotSupported
            return
    _sync_linked(env, bt, hist)


def mark_all_scalars_precise(env: Env, st: VerifierState) -> None:
    """``mark_all_scalars_precise``: the fallback when backtracking cannot continue."""
    if env.level2:
        env.verbose(f"mark_precise: frame{st.curframe}: falling back to forcing all scalars precise\n")
    s = st.parent
    while s is not None:
        for i in range(s.curframe + 1):
            func = s.frame[i]
            for j in range(10):
                reg = func.regs[j]
                if reg.type != SCALAR_VALUE or reg.precise:
                    continue
                reg.precise = True
                if env.level2:
                    env.verbose(f"force_precise: frame{i}: forcing r{j} to be precise\n")
            for j, slot in enumerate(func.stack):
                if not is_spilled_reg(slot):
                    continue
                reg = slot.spilled
                if reg.type != SCALAR_VALUE or reg.precise:
                    continue
                reg.precise = True
                if env.level2:
                    env.verbose(f"force_precise: frame{i}: forcing fp{-(j + 1) * 8} to be precise\n")
        s = s.parent


def mark_all_scalars_imprecise(st: VerifierState) -> None:
    for i in range(st.curframe + 1):
        func = st.frame[i]
        for j in range(10):
            reg = func.regs[j]
            if reg.type == SCALAR_VALUE:
                reg.precise = False
        for slot in func.stack:
            if is_spilled_reg(slot) and slot.spilled.type == SCALAR_VALUE:
                slot.spilled.precise = False


def mark_chain_precision(env: Env, regno: int) -> None:
    """``mark_chain_precision``: ``regno`` of the current frame must be precise."""
    _mark_chain(env, env.cur, regno, None)


def _mark_chain(env: Env, start: VerifierState, regno: int, bt: _BT | None) -> bool:
    """``__mark_chain_precision``; returns whether any mark changed."""
    if not env.bpf_capable:
        return False
    changed = False
    st = start
    first_idx = st.first_insn_idx
    last_idx = st.insn_idx
    subseq_idx = -1
    if bt is None:
        bt = _BT(start.curframe)
    else:
        bt.frame = start.curframe
    if regno >= 0:
        reg = st.frame[bt.frame].regs[regno]
        if reg.type != SCALAR_VALUE:
            env.verbose("verifier bug: backtracking misuse\n")
            raise Reject(E.EFAULT)
        bt.reg[bt.frame] |= 1 << regno
    if bt.empty():
        return False
    skip_first = True
    level2 = env.level2
    n = env.n
    insns = env.insns
    bt_reg = bt.reg
    ALU, ALU64, MOV, END, NEG, JMP, JMP32, CALL = isa.ALU, isa.ALU64, isa.MOV, isa.END, isa.NEG, isa.JMP, \
        isa.JMP32, isa.CALL
    while True:
        jh = st.jmp_history
        cnt = len(jh)
        st_first = st.first_insn_idx
        if level2:
            env.verbose(f"mark_precise: frame{bt.frame}: last_idx {last_idx} first_idx {first_idx} "
                        f"subseq_idx {subseq_idx} \n")
        if last_idx < 0:
            if (st.curframe == 0 and st.frame[0].subprogno > 0 and st.frame[0].callsite == BPF_MAIN_FUNC
                    and bt.stack[bt.frame] == 0 and not bt.reg[bt.frame] & ~BPF_REGMASK_ARGS):
                for i in range(32):
                    if bt.reg[bt.frame] >> i & 1:
                        bt.reg[bt.frame] &= ~(1 << i)
                        r = st.frame[0].regs[i]
                        if r.type == SCALAR_VALUE:
                            r.precise = True
                            changed = True
                return changed
            env.verbose("verifier bug: backtracking func entry\n")
            raise Reject(E.EFAULT)
        i = last_idx
        while True:
            if skip_first:
                skip_first = False
            else:
                h = jh[cnt - 1] if cnt and jh[cnt - 1][0] == i else None  # get_jmp_hist_entry
                insn = insns[i]
                c = insn.cls
                if (h is None or not h[3]) and not level2 and (c == ALU or c == ALU64):
                    # backtrack_insn of an ALU instruction without history, in place
                    fr = bt.frame
                    m = bt_reg[fr]
                    if m >> insn.dst & 1:
                        op = insn.op
                        if op == MOV:
                            m &= ~(1 << insn.dst)
                            if insn.x and insn.src != 10:
                                m |= 1 << insn.src
                        elif insn.x and op != END and op != NEG and insn.src != 10:
                            m |= 1 << insn.src
                        bt_reg[fr] = m
                elif (h is None or not h[3]) and not level2 and (c == JMP or c == JMP32) and not insn.x \
                        and insn.op != CALL \
                        and insn.code != isa.EXIT_INSN:
                    pass  # a jump on an immediate without history: nothing to undo
                else:
                    try:
                        _backtrack_insn(env, i, subseq_idx, h, bt)
                    except NotSupported:
                        mark_all_scalars_precise(env, start)
                        bt.reset()
                        return changed
            if bt.empty():
                return changed
            subseq_idx = i
            # get_prev_insn_idx
            if i == st_first and (cnt == 0 or (cnt == 1 and jh[0][0] == i)):
                break
            if cnt and jh[cnt - 1][0] == i:
                cnt -= 1
                i = jh[cnt][1]
            else:
                i -= 1
            if i < 0:
                break
            if i >= n:
                env.verbose(f"verifier bug: backtracking idx {i}\n")
                raise Reject(E.EFAULT)
        parent = st.parent
        if parent is None:
            break
        st = parent
        for fr in range(bt.frame, -1, -1):
            func = st.frame[fr]
            m = bt.reg[fr]
            while m:
                low = m & -m
                m ^= low
                i = low.bit_length() - 1
                reg = func.regs[i]
                if reg.type != SCALAR_VALUE or reg.precise:
                    bt.reg[fr] &= ~(1 << i)
                else:
                    reg.precise = True
                    changed = True
            m = bt.stack[fr]
            while m:
                low = m & -m
                m ^= low
                i = low.bit_length() - 1
                if i >= len(func.stack):
                    env.verbose(f"verifier bug: stack slot {i}, total slots {len(func.stack)}\n")
                    raise Reject(E.EFAULT)
                slot = func.stack[i]
                if not is_spilled_scalar_reg(slot) or slot.spilled.precise:
                    bt.stack[fr] &= ~(1 << i)
                else:
                    slot.spilled.precise = True
                    changed = True
            if level2:
                env.verbose(f"mark_precise: frame{fr}: parent state regs={_fmt_regs(bt.reg[fr])} "
                            f"stack={_fmt_stack(bt.stack[fr])}: ")
                env.print_verifier_state(st, fr, True)
        if bt.empty():
            return changed
        subseq_idx = first_idx
        last_idx = st.last_insn_idx
        first_idx = st.first_insn_idx
    if not bt.empty():
        mark_all_scalars_precise(env, start)
        bt.reset()
    return changed


def propagate_precision(env: Env, old: VerifierState, cur: VerifierState) -> bool:
    """``propagate_precision``: precise scalars of an equivalent explored state
    become precise along the current state's parents."""
    bt = _BT(cur.curframe)
    for fr in range(old.curframe, -1, -1):
        state = old.frame[fr]
        first = True
        for i in range(10):
            r = state.regs[i]
            if r.type != SCALAR_VALUE or not r.precise:
                continue
            if env.level2:
                env.verbose(f"frame {fr}: propagating r{i}" if first else f",r{i}")
            bt.reg[fr] |= 1 << i
            first = False
        for i, slot in enumerate(state.stack):
            if not is_spilled_reg(slot):
                continue
            r = slot.spilled
            if r.type != SCALAR_VALUE or not r.precise:
                continue
            if env.level2:
                off = (-i - 1) * BPF_REG_SIZE
                env.verbose(f"frame {fr}: propagating fp{off}" if first else f",fp{off}")
            bt.stack[fr] |= 1 << i
            first = False
        if not first:
            env.verbose("\n")
    return _mark_chain(env, cur, -1, bt)


def pack_linked(entries: list[tuple[int, int, bool]]) -> int:
    """``linked_regs_pack``: 10 bits per (frameno, spi_or_reg, is_reg) entry, count in the low 4 bits."""
    val = 0
    for fr, spi, is_reg in entries:
        tmp = fr | (spi << 3) | ((1 if is_reg else 0) << 9)
        val = (val << 10) | tmp
    return (val << 4) | len(entries)


def _unpack_linked(val: int) -> list[tuple[int, int, bool]]:
    cnt = val & 0xF
    val >>= 4
    out = []
    for _ in range(cnt):
        out.append((val & 7, (val >> 3) & 0x3F, bool((val >> 9) & 1)))
        val >>= 10
    return out
