"""Live stack slots, per call chain: the analysis 6.18 added in kernel/bpf/liveness.c.

Linux 6.18 replaced the parent-chain read marks (``REG_LIVE_READ``) with a
separate data-flow analysis of stack slots. While the verifier walks the
program it records, for each (call chain, instruction) pair, which 8-byte
slots the instruction *may read* (union over all visits) and which it *must
write* (intersection over all visits; only full aligned 8-byte spills count).
When a path ends (``BPF_EXIT``, a pruned path, or the exit of a subprogram)
the records of the current call chains are propagated to a fixed point in
postorder, giving ``live_before`` (slots that may be read at or after the
instruction) and ``must_write_acc`` (slots surely written by the instruction
or its successors, handed to the call site when a subprogram's analysis is
done). Explored states are then cleaned with it (``clean_func_state``): a slot
that is not alive at the checkpoint becomes ``STACK_INVALID`` and no longer
blocks pruning.

This module reimplements that analysis from its description and behaviour
(liveness.c, commit "bpf: enable callchain sensitive stack liveness tracking"
and the 6.18 release): the same call chain keys, the same lazy per-frame
arrays (a frame never touched has no masks, so its slots read as dead), the
same update rules and the same level-2 log lines
(``(0) frame 0 insn 8 +live -8``, ``(0) live stack update done in 2
iterations``). Callback-calling call sites (``bpf_calls_callback``) are not
modelled: the model has no callback helpers.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Sequence

__all__ = ["StackLiveness", "fmt_stack_mask"]

U64: Final = (1 << 64) - 1


def fmt_stack_mask(mask: int) -> str:
    """``bpf_fmt_stack_mask`` (kernel/bpf/log.c): set bits as ``-8,-16,...``."""
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(str(-(i + 1) * 8))
        mask >>= 1
        i += 1
    return ",".join(out)


class _Instance:
    """``struct func_instance``: the masks of one call chain's function."""

    __slots__ = ("callsites", "sp_starts", "curframe", "start", "insn_cnt", "updated", "must_write_dropped",
                 "frames", "must_write_set")

    def __init__(self, callsites: tuple[int, ...], sp_starts: tuple[int, ...], insn_cnt: int) -> None:
        self.callsites = callsites
        self.sp_starts = sp_starts
        self.curframe = len(callsites) - 1
        self.start = sp_starts[-1]
        self.insn_cnt = insn_cnt
        self.updated = False
        self.must_write_dropped = False
        # per frame: None, or [may_read, must_write, must_write_acc, live_before] lists
        self.frames: list[list[list[int]] | None] = [None] * (self.curframe + 1)
        self.must_write_set = bytearray(insn_cnt)

    def masks(self, frame: int) -> list[list[int]]:
        """``alloc_frame_masks``: the frame's arrays, allocated on first use."""
        f = self.frames[frame]
        if f is None:
            n = self.insn_cnt
            f = self.frames[frame] = [[0] * n, [0] * n, [0] * n, [0] * n]
        return f

    def chain_str(self) -> str:
        """``fmt_callchain``."""
        return "(" + ",".join(str(c) for c in self.callsites) + ")"


class StackLiveness:
    """``struct bpf_liveness`` and the ``bpf_*_stack_*`` entry points of liveness.c.

    ``subprog_bounds`` is the list of subprogram starts plus the instruction
    count; ``postorder`` each subprogram's instructions in postorder (the
    kernel's ``insn_postorder``, subprograms concatenated) with ``po_starts``
    the index where each subprogram's part begins; ``successors(i)`` the
    instruction's successors; ``prune_point[i]`` and ``log`` (a callable that
    appends text, or None) are for the level-2 lines.
    """

    def __init__(self, subprog_bounds: Sequence[int], postorder: Sequence[int], po_starts: Sequence[int],
                 successors: Callable[[int], tuple[int, ...]], prune_point: Sequence[int],
                 log: Callable[[str], None] | None) -> None:
        self.bounds = list(subprog_bounds)
        self.postorder = postorder
        self.po_starts = list(po_starts)
        self.succ = successors
        self.prune_point = prune_point
        self.log = log
        self.instances: dict[tuple[int, ...], _Instance] = {}
        self.cur_instance: _Instance | None = None
        self.write_masks_acc = [0] * 8
        self.write_insn_idx = 0
        self.query: list[_Instance] = []
        self.query_insn = 0

    # --- instances -----------------------------------------------------------------------------
    def _subprog_of(self, start: int) -> int:
        b = self.bounds
        lo, hi = 0, len(b) - 2
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if b[mid] <= start:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _lookup(self, callsites: tuple[int, ...], sp_starts: tuple[int, ...]) -> _Instance:
        inst = self.instances.get(callsites)
        if inst is None:
            sp = self._subprog_of(sp_starts[-1])
            inst = _Instance(callsites, sp_starts, self.bounds[sp + 1] - self.bounds[sp])
            self.instances[callsites] = inst
        return inst

    def lookup_instance(self, st: Any, frameno: int, starts: Sequence[int]) -> _Instance:
        """``compute_callchain`` + ``__lookup_instance`` for frame ``frameno`` of ``st``;
        ``starts[k]`` is subprogram k's first instruction."""
        frames = st.frame
        sp_starts = tuple(starts[frames[i].subprogno] for i in range(frameno + 1))
        callsites = tuple(frames[i + 1].callsite for i in range(frameno)) + (sp_starts[frameno],)
        return self._lookup(callsites, sp_starts)

    # --- accumulation ----------------------------------------------------------------------------
    def reset_callchain(self) -> None:
        """``bpf_reset_live_stack_callchain``: the current state's call stack changed."""
        self.cur_instance = None

    def _ensure(self, st: Any, starts: Sequence[int]) -> _Instance:
        inst = self.cur_instance
        if inst is None:
            inst = self.cur_instance = self.lookup_instance(st, st.curframe, starts)
        return inst

    def _mark_read(self, inst: _Instance, frame: int, insn_idx: int, mask: int) -> None:
        m = inst.masks(frame)
        k = insn_idx - inst.start
        old = m[0][k]
        new = old | mask
        if new != old and (new | m[3][k]) != m[3][k]:
            inst.updated = True
        m[0][k] = new

    def mark_stack_read(self, st: Any, starts: Sequence[int], frame: int, insn_idx: int, mask: int) -> None:
        """``bpf_mark_stack_read``."""
        self._mark_read(self._ensure(st, starts), frame, insn_idx, mask)

    def _reset_writes(self, inst: _Instance, insn_idx: int) -> None:
        self.write_insn_idx = insn_idx
        acc = self.write_masks_acc
        for i in range(inst.curframe + 1):
            acc[i] = 0

    def reset_stack_write_marks(self, st: Any, starts: Sequence[int], insn_idx: int) -> None:
        """``bpf_reset_stack_write_marks``: before each instruction."""
        self._reset_writes(self._ensure(st, starts), insn_idx)

    def mark_stack_write(self, frame: int, mask: int) -> None:
        """``bpf_mark_stack_write``: a full 8-byte aligned write of slot(s) ``mask``."""
        self.write_masks_acc[frame] |= mask

    def _commit(self, inst: _Instance | None) -> None:
        if inst is None:
            return
        k = self.write_insn_idx - inst.start
        seen = inst.must_write_set[k]
        for frame in range(inst.curframe + 1):
            mask = self.write_masks_acc[frame]
            if mask == 0 and not seen:
                continue
            m = inst.masks(frame)
            old = m[1][k]
            if seen:
                mask &= old
            if old != mask:
                m[1][k] = mask
                inst.updated = True
            if old & ~mask:
                inst.must_write_dropped = True
        inst.must_write_set[k] = True
        self.write_insn_idx = 0

    def commit_stack_write_marks(self) -> None:
        """``bpf_commit_stack_write_marks``: after each instruction that did not fail."""
        self._commit(self.cur_instance)

    # --- propagation -------------------------------------------------------------------------------
    def _log_change(self, inst: _Instance, pfx: str, frame: int, idx: int, old: int, new: int) -> None:
        changed = old ^ new
        if not changed:
            return
        text = f"{inst.chain_str()} frame {frame} insn {idx} "
        ones, zeros = new & changed, ~new & changed & U64
        if ones:
            text += f"+{pfx} {fmt_stack_mask(ones)} "
        if zeros:
            text += f"-{pfx} {fmt_stack_mask(zeros)}"
        assert self.log is not None
        self.log(text + "\n")

    def _update_insn(self, inst: _Instance, frame: int, idx: int) -> bool:
        succ = self.succ(idx)
        if not succ:
            return False
        masks = inst.frames[frame]
        assert masks is not None, "only frames with masks are updated"
        may_read, must_write, acc, live = masks
        base = inst.start
        k = idx - base
        new_after = 0
        mwa = U64
        for s in succ:
            new_after |= live[s - base]
            mwa &= acc[s - base]
        mwa |= must_write[k]
        new_before = (new_after & ~must_write[k]) | may_read[k]
        changed = new_before != live[k] or mwa != acc[k]
        if self.log is not None and (may_read[k] or must_write[k] or idx == base or self.prune_point[idx]):
            self._log_change(inst, "live", frame, idx, live[k], new_before)
            self._log_change(inst, "written", frame, idx, acc[k], mwa)
        live[k] = new_before
        acc[k] = mwa
        return changed

    def _update_instance(self, inst: _Instance) -> None:
        if inst.must_write_dropped:
            for f in inst.frames:
                if f is not None:
                    f[2] = [0] * inst.insn_cnt
        sp = self._subprog_of(inst.start)
        order = self.postorder[self.po_starts[sp]:self.po_starts[sp + 1]]
        cnt = 0
        while True:
            cnt += 1
            changed = False
            for frame in range(inst.curframe + 1):
                if inst.frames[frame] is None:
                    continue
                for idx in order:
                    changed |= self._update_insn(inst, frame, idx)
            if not changed:
                break
        if self.log is not None:
            self.log(f"{inst.chain_str()} live stack update done in {cnt} iterations\n")
        if inst.curframe > 0:
            self._propagate_to_outer(inst)

    def _propagate_to_outer(self, inst: _Instance) -> None:
        """``propagate_to_outer_instance``: the subprogram's entry marks become the call's."""
        sp_starts = inst.sp_starts[:-1]
        callsites = inst.callsites[:-2] + (sp_starts[-1],)
        outer = self._lookup(callsites, sp_starts)
        callsite = inst.callsites[inst.curframe - 1]
        self._reset_writes(outer, callsite)
        k = 0  # the subprogram's first instruction
        for frame in range(inst.curframe):
            f = inst.frames[frame]
            if f is None:
                continue
            self.mark_stack_write(frame, f[2][k])
            self._mark_read(outer, frame, callsite, f[3][k])
        self._commit(outer)

    def update_live_stack(self, st: Any, starts: Sequence[int]) -> None:
        """``bpf_update_live_stack``: after a path or a subprogram ends, bring every call
        chain of ``st`` (innermost first) to its fixed point."""
        self.cur_instance = None
        for frame in range(st.curframe, -1, -1):
            inst = self.lookup_instance(st, frame, starts)
            if inst.updated:
                self._update_instance(inst)
                inst.updated = False
                inst.must_write_dropped = False

    # --- queries ---------------------------------------------------------------------------------
    def query_init(self, st: Any, starts: Sequence[int]) -> None:
        """``bpf_live_stack_query_init``."""
        self.query = [self.lookup_instance(st, f, starts) for f in range(st.curframe + 1)]
        self.query_insn = st.insn_idx

    @staticmethod
    def _live_before(inst: _Instance, idx: int, frame: int, spi: int) -> bool:
        f = inst.frames[frame] if frame < len(inst.frames) else None
        return f is not None and bool(f[3][idx - inst.start] >> spi & 1)

    def stack_slot_alive(self, frameno: int, spi: int) -> bool:
        """``bpf_stack_slot_alive``: may slot ``spi`` of frame ``frameno`` still be read?"""
        q = self.query
        cur = q[-1]
        if self._live_before(cur, self.query_insn, frameno, spi):
            return True
        for i in range(frameno, len(q) - 1):
            if self._live_before(q[i], cur.callsites[i] + 1, frameno, spi):
                return True
        return False
