"""The verifier's working environment (``struct bpf_verifier_env``) and its basic services.

Models the parts of kernel/bpf/verifier.c (Linux 6.18) every check uses:
``verbose()`` into the log, scratch marks (which registers the next state
line prints), ``check_reg_arg()`` (``R%d !read_ok``, ``frame pointer is read
only``), the branch stack (``push_stack`` / ``pop_stack``, whose pop resets
the level-1 log to where the branch was pushed), the jump history
(``push_jmp_history``), ``grow_stack_state``, ids, and
``print_insn_state``/``print_verifier_state`` wiring.

A rejection is raised as :class:`Reject` carrying the errno after the
message was written to the log, the Python form of ``return -EXXX`` up the
kernel's call chain.
"""

from __future__ import annotations

import errno as E
from array import array
from typing import Any, Final, Sequence

from kernel_model import isa
from kernel_model.btf.structs import FUNC_GLOBAL as BTF_FUNC_GLOBAL
from kernel_model.insn import BPF_COMPLEXITY_LIMIT_INSNS as _KERNEL_LIMIT, Insn

from .env import BPF_F_ANY_ALIGNMENT, BPF_F_STRICT_ALIGNMENT, BPF_F_TEST_REG_INVARIANTS, BPF_F_TEST_STATE_FREQ
from .cfg import CfgMarks
from .decoded import DInsn, InsnFields, decode_program
from .env import VerifierEnv
from .log import LOG_LEVEL1, LOG_LEVEL2, VLog, alignment, fmt_func_state, insn_text
from .regs import (
    NOT_INIT, PTR_TO_STACK, RegState, mark_known_zero, mark_not_init, mark_unknown,
)
from .prog_types import ProgTypeOps, prog_type_ops
from .result import AuxTable
from .stack_liveness import StackLiveness
from .state import BPF_REG_SIZE, FuncState, StackSlot, VerifierState

__all__ = ["Reject", "Env", "BPF_MAIN_FUNC", "SRC_OP", "DST_OP", "DST_OP_NO_MARK", "BPF_MAX_VAR_OFF",
           "BPF_MAX_VAR_SIZ", "BPF_COMPLEXITY_LIMIT_INSNS", "BPF_COMPLEXITY_LIMIT_JMP_SEQ", "Subprog",
           "INSN_F_STACK_ACCESS", "INSN_F_SRC_REG_STACK", "INSN_F_DST_REG_STACK"]

BPF_MAIN_FUNC: Final = -1
SRC_OP: Final = 0
DST_OP: Final = 1
DST_OP_NO_MARK: Final = 2
BPF_MAX_VAR_OFF: Final = 1 << 29
BPF_MAX_VAR_SIZ: Final = 1 << 29
BPF_COMPLEXITY_LIMIT_INSNS = _KERNEL_LIMIT  # one definition (kernel_model.insn); a plain global: tests scale it down
BPF_COMPLEXITY_LIMIT_JMP_SEQ: Final = 8192
#: jmp history flags (include/linux/bpf_verifier.h): stack access with frame in bits 0-2, spi in 3-8
INSN_F_FRAMENO_MASK: Final = 0x7
INSN_F_SPI_MASK: Final = 0x3F
INSN_F_SPI_SHIFT: Final = 3
INSN_F_STACK_ACCESS: Final = 1 << 9
INSN_F_DST_REG_STACK: Final = 1 << 10
INSN_F_SRC_REG_STACK: Final = 1 << 11


class Reject(Exception):
    """The program is refused: the message is already in the log."""

    def __init__(self, err: int) -> None:
        super().__init__(err)
        self.errno = err


class NotModelledArg(Reject):
    """A global function's argument kind the model lacks (verifier.btf_info): the load is
    refused, never a mismatch to record. Defined here beside :class:`Reject`: a class of an
    interpreted module may not subclass a class the optional compiled build made native."""


class Subprog:
    """``struct bpf_subprog_info`` (the fields the model uses)."""

    __slots__ = ("start", "stack_depth", "has_tail_call", "tail_call_reachable", "has_ld_abs", "is_cb",
                 "is_async_cb", "linkage", "postorder", "func_type_id", "args", "args_cached", "unreliable",
                 "called", "verified", "is_exception_cb", "fastcall_stack_off", "keep_fastcall_stack")

    def __init__(self, start: int) -> None:
        self.start = start
        self.stack_depth = 0
        self.has_tail_call = False
        self.tail_call_reachable = False
        self.has_ld_abs = False
        self.is_cb = False
        self.is_async_cb = False
        #: BTF_FUNC_STATIC/GLOBAL of its func_info record (check_btf_func); static without one
        self.linkage = 0
        self.postorder: list[int] = []
        # bpf_func_info_aux and bpf_subprog_arg_info (verifier.btf_info)
        self.func_type_id = 0
        self.args: list[Any] = []
        self.args_cached = False
        self.unreliable = False
        self.called = False
        self.verified = False
        #: mark_subprog_exc_cb (verifier.exceptions)
        self.is_exception_cb = False
        #: bpf_fastcall (verifier.fastcall): the offset where the spill/fill slots start, and
        #: a pattern around a call that is not fastcall keeps the stack as it is
        self.fastcall_stack_off = 0
        self.keep_fastcall_stack = False


class Env:
    """``struct bpf_verifier_env``: everything one ``bpf_check()`` run keeps.

    Every check of the verifier is a function taking the env as its first argument,
    as kernel/bpf/verifier.c's functions take ``struct bpf_verifier_env *env``; the
    few services here (logging, rejections, the branch stack, register access) are
    methods because every check uses them. The attributes are declared here, typed,
    and nowhere else."""

    #: stack-slot liveness (6.18 liveness.c), built by compute_live_registers
    stack_live: StackLiveness

    def __init__(self, insns: Sequence[Insn], env: VerifierEnv, log_level: int) -> None:
        #: the raw slots, as loaded (kernel_model's checks and the log's disassembly read them)
        self.raw: list[Insn] = insns if isinstance(insns, list) else list(insns)
        #: the decoded program every check reads (verifier.decoded)
        self.insns: list[DInsn] = decode_program(self.raw)
        self.n = len(self.raw)
        self._insn_text: list[str | None] = []
        self.attr = env
        self.profile = env.profile
        self.log = VLog(log_level, env.log_size or 0)
        self.level = log_level
        self.log_on = bool(log_level & (LOG_LEVEL1 | LOG_LEVEL2))
        self.level2 = bool(log_level & LOG_LEVEL2)
        #: the walks of do_check_common write nothing (see :func:`verifier.verify`'s
        #: ``true_size``): an accepted walk's level-1 text is reset away, so it is not formatted
        self.quiet_walk = False
        #: subprog_info[].changes_pkt_data (6.13+): which subprograms may change the packet,
        #: computed on first use by verifier.pkt_helpers.subprog_changes_pkt_data
        self.pkt_changing_subprogs: dict[int, bool] | None = None
        priv = env.privileged
        # bpf_check(): the capabilities of the loader (root here means CAP_BPF+PERFMON+SYS_ADMIN)
        self.allow_ptr_leaks = priv
        self.allow_uninit_stack = priv
        self.bypass_spec_v1 = priv
        self.bypass_spec_v4 = priv
        self.bpf_capable = True
        flags = env.prog_flags
        self.strict_alignment = bool(flags & BPF_F_STRICT_ALIGNMENT) and not flags & BPF_F_ANY_ALIGNMENT
        self.test_state_freq = bool(flags & BPF_F_TEST_STATE_FREQ) and self.bpf_capable
        self.test_reg_invariants = bool(flags & BPF_F_TEST_REG_INVARIANTS)
        self.explore_alu_limits = False
        n = self.n
        # per-instruction auxiliary data
        #: check_cfg's marks (verifier.cfg): prune points, jump points, forced checkpoints
        self.cfg_marks = CfgMarks(n)
        self.prune_point = self.cfg_marks.prune_point
        self.jmp_point = self.cfg_marks.jmp_point
        self.force_checkpoint = self.cfg_marks.force_checkpoint
        self.calls_callback = self.cfg_marks.calls_callback
        self.iter_next = self.cfg_marks.iter_next
        #: insn_aux_data[].fastcall_pattern / .fastcall_spills_num (verifier.fastcall)
        self.fastcall_pattern = bytearray(n)
        self.fastcall_spills_num = bytearray(n)
        #: the slots remove_fastcall_spills_fills made NOPs
        self.fastcall_nops: list[int] = []
        #: live_regs_before (compute_live_registers), a mask per insn
        self.live_before: Sequence[int] = array("H", bytes(2 * n))
        #: the pointer type each load/store went through (save_aux_ptr_type)
        self.ptr_type = array("i", bytes(4 * n))  # all NOT_INIT (0)
        #: sanitize_mark_insn_seen (1: reached on a non-speculative path)
        self.seen = bytearray(n)
        self.subprogs: list[Subprog] = []
        # the walk
        self.cur: VerifierState = VerifierState()
        self.head: list[tuple[VerifierState, int, int, int]] = []
        self.explored: dict[int, list[Any]] = {}
        self.insn_idx = 0
        self.prev_insn_idx = -1
        self.id_gen = 0
        self.insn_processed = 0
        self.jmps_processed = 0
        self.prev_jmps_processed = 0
        self.prev_insn_processed = 0
        self.total_states = 0
        self.peak_states = 0
        self.explored_states_size = 0
        self.free_list_size = 0
        #: SCC visits (6.18 bpf_scc_visit) by call chain, and the back-edges they hold
        self.scc_visits: dict[tuple[tuple[int, ...], int], Any] = {}
        self.num_backedges = 0
        self.max_states_per_insn = 0
        self.scratched_regs = 0
        self.scratched_stack = 0
        self.prev_log_pos = 0
        self.prev_insn_print_pos = 0
        self.cur_hist_ent = False
        self.kfunc_names: dict[tuple[int, int], str] = {}
        # program-type and attach facts (check_attach_btf_id, the prog type's ops)
        self.aux = AuxTable(n)
        self.ctx_field_size = bytearray(n)
        #: the program type's rules (verifier.prog_types); check_attach sets them
        self.prog_ops: ProgTypeOps = prog_type_ops(env.prog_type)
        self.allowed_helpers: frozenset[int] = frozenset()
        #: helper id -> the kernel proto symbol get_func_proto gives (verifier.helper_sets)
        self.helper_protos: dict[int, str] = {}
        self.attach_btf: Any = None
        self.attach_func_proto: Any = None
        self.attach_func_name = ""
        self.ctx_arg_info: tuple[Any, ...] = ()
        self.struct_ops_policy: Any = None
        self.retval_range: tuple[int, int] | None = None
        #: may_access_direct_pkt_data saw a direct packet access of a writable type
        self.seen_direct_write = False
        self.scc = array("i", bytes(4 * n))
        self.fd_maps: dict[int, Any] = {}
        self.stack_reads_seen = 0
        # liveness (compute_live_registers, 6.18 liveness.c)
        self.sp_starts: list[int] = []
        # BTF func_info / line_info (verifier.btf_info): (insn_off, type_id) per subprogram,
        # (insn_off, file_name_off, line_off, line_col) per line record, and the index of
        # the record verbose_linfo printed last (env->prev_linfo; -1 is NULL)
        self.func_info: list[tuple[int, int]] = []
        self.linfo: list[tuple[int, int, int, int]] = []
        self.linfo_offs: list[int] = []
        self.prev_linfo = -1
        # BPF exceptions (verifier.exceptions): env->exception_callback_subprog, env->seen_exception
        self.exception_callback_subprog = 0
        self.seen_exception = False

    # --- logging ---------------------------------------------------------------------------------
    def verbose(self, text: str) -> None:
        """``verbose()``: append to the log when logging is on."""
        if self.level:
            self.log.write(text)

    def reject(self, err: int, message: str | None = None) -> Reject:
        """Log ``message`` (with its newline) and return the exception to raise."""
        if message is not None and self.level:
            self.log.write(message + "\n")
        return Reject(err)

    def insn_str(self, i: int) -> str:
        """``print_bpf_insn`` of slot ``i``: the same text every time, so formatted once
        (per distinct instruction; an lddw's text depends on its second slot, so per slot)."""
        d = self.insns[i]
        if d.code != isa.LD_IMM64:
            t = d.text
            if t is None:
                t = d.text = insn_text(self.raw, i, map_addr=self.map_addr_for, kfunc_name=self.kfunc_name_for)
            return t
        if not self._insn_text:
            self._insn_text = [None] * self.n
        s = self._insn_text[i]
        if s is None:
            if d.src == isa.PSEUDO_BTF_ID and self.aux[i].ksym_addr:
                # check_pseudo_btf_id wrote the symbol's address into the lddw before the walk
                s = self._insn_text[i] = f"(18) r{d.dst} = {self.aux[i].ksym_addr:#x}"
                return s
            s = self._insn_text[i] = insn_text(self.raw, i, map_addr=self.map_addr_for,
                                               kfunc_name=self.kfunc_name_for)
        return s

    # --- environment hooks ----------------------------------------------------------------
    def map_addr_for(self, first: Insn, second: Insn) -> int:
        """The address the log prints for a map lddw; print_bpf_insn hides the pointers of
        MAP_FD/MAP_VALUE lddws (prints 0x0) when pointer leaks are not allowed."""
        if not self.allow_ptr_leaks and first.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE):
            return 0
        m = self.lookup_map(first)
        if m is None:
            return 0
        base = m.addr or (0xFFFF_8881_0000_0000 + (m.id or 1) * 0x1000)
        if first.src in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
            vbase = m.value_addr or (base + 0x110)
            return (vbase + (second.imm & 0xFFFFFFFF)) & ((1 << 64) - 1)
        return base

    def kfunc_name_for(self, insn: Insn) -> str | None:
        return self.kfunc_names.get((insn.off, insn.imm))

    def lookup_map(self, insn: InsnFields) -> Any:
        if insn.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE):
            return self.attr.maps.get(insn.imm)
        if insn.src in (isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE):
            fa = self.attr.fd_array
            if 0 <= insn.imm < len(fa):
                return fa[insn.imm]
        return None

    def stack_read_mark(self, state: Any, spi: int) -> None:
        """``bpf_mark_stack_read`` for slot ``spi`` of ``state``'s frame (6.18 liveness.c)."""
        self.stack_live.mark_stack_read(self.cur, self.sp_starts, state.frameno, self.insn_idx, 1 << spi)

    def stack_write_mark(self, state: Any, spi: int, off: int, size: int) -> None:
        """``bpf_mark_stack_write``: only a full, aligned 8-byte write counts (check_stack_write_fixed_off)."""
        if not off % BPF_REG_SIZE and size == BPF_REG_SIZE:
            self.stack_live.write_masks_acc[state.frameno] |= 1 << spi

    def find_subprog(self, off: int) -> int:
        for i, sp in enumerate(self.subprogs):
            if sp.start == off:
                return i
        return -1

    def subprog_is_global(self, subprog: int) -> bool:
        """``subprog_is_global``: the load's func_info gives ``subprog`` BTF_FUNC_GLOBAL linkage."""
        return bool(self.func_info) and self.subprogs[subprog].linkage == BTF_FUNC_GLOBAL

    def btf_type_name(self, btf: Any, type_id: int) -> str:
        if btf is None:
            return ""
        try:
            return btf.type_by_id(type_id).name
        except Exception:
            return ""

    def state_str(self, vstate: VerifierState, frameno: int, print_all: bool) -> str:
        """``print_verifier_state`` text (a leading space per item, no newline);
        clears the scratch marks unless ``print_all``."""
        s = fmt_func_state(vstate.frame[frameno], print_all, self.scratched_regs, self.scratched_stack,
                           [r.id for r in vstate.refs], self.btf_type_name)
        if not print_all:
            self.scratched_regs = 0
            self.scratched_stack = 0
        return s

    def print_verifier_state(self, vstate: VerifierState, frameno: int, print_all: bool) -> None:
        if self.level:
            self.log.write(self.state_str(vstate, frameno, print_all) + "\n")
        elif not print_all:
            self.scratched_regs = 0
            self.scratched_stack = 0

    def print_insn_state(self, vstate: VerifierState, frameno: int) -> None:
        """``print_insn_state``: after the instruction text at column 40, else on its own line."""
        log = self.log
        # formatted first and written at once: the same text and positions as the
        # kernel's two writes (nothing is reset between them)
        state = self.state_str(vstate, frameno, False) + "\n"
        if self.prev_log_pos and self.prev_log_pos == log.end:
            log.reset(self.prev_log_pos - 1)
            log.write(" " * (alignment(self.prev_insn_print_pos) - 1) + " ;" + state)
        else:
            log.write(f"{self.insn_idx}:" + state)

    def state_scratched(self) -> bool:
        return bool(self.scratched_regs or self.scratched_stack)

    def mark_state_scratched(self) -> None:
        """``mark_verifier_state_scratched``."""
        self.scratched_regs = (1 << 11) - 1
        self.scratched_stack = (1 << 64) - 1

    # --- registers ---------------------------------------------------------------------------------
    def cur_regs(self) -> list[RegState]:
        c = self.cur
        return c.frame[c.curframe].regs

    def cur_func(self) -> FuncState:
        c = self.cur
        return c.frame[c.curframe]

    def func_of(self, reg: RegState) -> FuncState:
        """``func()``: the frame a stack pointer points into."""
        return self.cur.frame[reg.frameno]

    def check_reg_arg(self, regno: int, t: int) -> None:
        """``check_reg_arg``: the register can be read (SRC_OP) or written (DST_OP)."""
        if regno >= 11:
            raise self.reject(E.EINVAL, f"R{regno} is invalid")
        self.scratched_regs |= 1 << regno
        c = self.cur
        reg = c.frame[c.curframe].regs[regno]
        if t == SRC_OP:
            if reg.type == NOT_INIT:
                raise self.reject(E.EACCES, f"R{regno} !read_ok")
            return
        if regno == isa.FP:
            raise self.reject(E.EACCES, "frame pointer is read only")
        reg.subreg_def = 0 if self.insns[self.insn_idx].reg64 else self.insn_idx + 1
        if t == DST_OP:
            mark_unknown(reg, self.bpf_capable)

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    # --- stack -------------------------------------------------------------------------------------
    def grow_stack_state(self, state: FuncState, size: int) -> None:
        """``grow_stack_state``: allocate slots for ``size`` bytes and raise the
        subprogram's stack depth."""
        size = (size + 7) // 8 * 8
        n = size // 8
        stack = state.stack
        if len(stack) >= n:
            return
        while len(stack) < n:
            stack.append(StackSlot())
        sp = self.subprogs[state.subprogno]
        if sp.stack_depth < size:
            sp.stack_depth = size

    # --- jump history ------------------------------------------------------------------------------
    def push_jmp_history(self, st: VerifierState, flags: int, linked_regs: int) -> None:
        """``push_jmp_history``: record (idx, prev_idx, flags, linked_regs); a second
        call for the same instruction combines the flags."""
        if self.cur_hist_ent and st is self.cur and st.jmp_history:
            idx, prev, f, _ = st.jmp_history[-1]
            st.jmp_history[-1] = (idx, prev, f | flags, linked_regs)
            return
        st.jmp_history.append((self.insn_idx, self.prev_insn_idx, flags, linked_regs))
        self.cur_hist_ent = True

    # --- the branch stack --------------------------------------------------------------------------
    def push_stack(self, insn_idx: int, prev_insn_idx: int, speculative: bool,
                   errno: int = E.E2BIG) -> VerifierState:
        """``push_stack``: remember the current state to explore ``insn_idx`` later. Past
        ``BPF_COMPLEXITY_LIMIT_JMP_SEQ`` the load fails with the caller's errno: 6.18's
        push_stack returns NULL and ``check_cond_jmp_op`` answers -EFAULT (the host's errno
        for pyperf600.o); the other callers keep -E2BIG."""
        st = self.cur.clone()
        st.speculative = st.speculative or speculative
        self.head.append((st, insn_idx, prev_insn_idx, self.log.end))
        if len(self.head) > BPF_COMPLEXITY_LIMIT_JMP_SEQ:
            raise self.reject(errno, f"The sequence of {len(self.head)} jumps is too complex.")
        if st.parent is not None:
            st.parent.branches += 1
        return st

    def sanitize_speculative_path(self, insn: Any, next_idx: int, curr_idx: int) -> VerifierState:
        """``sanitize_speculative_path``: push the branch a CPU may take speculatively,
        with the compared registers unknown (only when Spectre v1 is not bypassed)."""
        branch = self.push_stack(next_idx, curr_idx, True)
        if insn is not None:
            regs = branch.frame[branch.curframe].regs
            mark_unknown(regs[insn.dst], self.bpf_capable)
            if insn.x:
                mark_unknown(regs[insn.src], self.bpf_capable)
        return branch

    def pop_stack(self, pop_log: bool) -> bool:
        """``pop_stack``: continue with the most recently pushed state; False when none."""
        if not self.head:
            return False
        st, insn_idx, prev_idx, log_pos = self.head.pop()
        self.cur = st
        if pop_log and self.level:
            self.log.reset(log_pos)
        self.insn_idx = insn_idx
        self.prev_insn_idx = prev_idx
        return True

    # --- initial state -----------------------------------------------------------------------------
    def init_func_state(self, callsite: int, frameno: int, subprogno: int) -> FuncState:
        """``init_func_state`` + ``init_reg_state``: all NOT_INIT but r10 = fp; every
        register and slot is then scratched (printed by the next state line)."""
        f = FuncState(callsite, frameno, subprogno)
        for r in f.regs:
            mark_not_init(r, self.bpf_capable)
        fp = f.regs[isa.FP]
        mark_known_zero(fp)
        fp.type = PTR_TO_STACK
        fp.frameno = frameno
        self.mark_state_scratched()  # init_func_state: mark_verifier_state_scratched
        return f
