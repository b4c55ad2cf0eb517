"""Calls and returns: helpers, bpf-to-bpf calls, kfuncs, program exit.

Models ``check_helper_call`` with ``check_func_arg`` / ``check_reg_type`` /
``check_func_arg_reg_off`` and the return-type handling, ``do_refine_retval_range``,
``check_func_call`` / ``setup_func_entry`` / ``prepare_func_exit`` for static
subprograms, ``check_kfunc_call`` for the modelled kfuncs (arguments and return
type from BTF, KF_ACQUIRE / KF_RELEASE / KF_RET_NULL), ``check_return_code``,
``check_resource_leak``, ``check_ld_imm`` and ``check_ld_abs`` of
kernel/bpf/verifier.c (Linux 6.18).

Left out: callbacks (``bpf_loop``, ``for_each_map_elem``, timers), dynptrs,
iterators, spin locks, RCU/preempt/IRQ regions, tail calls, global subprograms
(they need BTF func_info, which raw-instruction loads do not carry).
"""

from __future__ import annotations

import errno as E
from typing import Any

from kernel_model import isa
from kernel_model.insn import imm64

from . import helpers as H
from . import scalar as S
from .core import DST_OP, DST_OP_NO_MARK, SRC_OP
from .log import reg_type_str
from .map_rules import check_map_func_compatibility
from .mem import BPF_READ, BPF_WRITE
from .regs import (
    CONST_PTR_TO_MAP, MEM_RDONLY, MEM_RINGBUF, MEM_UNINIT, MEM_WRITE, NOT_INIT, PTR_MAYBE_NULL,
    PTR_TO_BTF_ID, PTR_TO_BUF, PTR_TO_CTX, PTR_TO_FUNC, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
    PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_STACK, PTR_TRUSTED, SCALAR_VALUE, RegState, base_type,
    is_pointer_value, mark_known_zero, mark_not_init, mark_unknown, register_is_null, s64,
)

__all__ = ["CallMixin", "CallMeta"]

_MEM_TYPES = (PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
              PTR_TO_MEM | MEM_RINGBUF, PTR_TO_BUF, PTR_TO_BTF_ID | PTR_TRUSTED)
#: compatible_reg_types[] (kernel/bpf/verifier.c)
_COMPATIBLE: dict[int, tuple[int, ...]] = {
    H.ARG_PTR_TO_MAP_KEY: _MEM_TYPES, H.ARG_PTR_TO_MAP_VALUE: _MEM_TYPES, H.ARG_CONST_SIZE: (SCALAR_VALUE,),
    H.ARG_CONST_SIZE_OR_ZERO: (SCALAR_VALUE,), H.ARG_CONST_ALLOC_SIZE_OR_ZERO: (SCALAR_VALUE,),
    H.ARG_SCALAR: (SCALAR_VALUE,), H.ARG_CONST_MAP_PTR: (CONST_PTR_TO_MAP,), H.ARG_PTR_TO_CTX: (PTR_TO_CTX,),
    H.ARG_PTR_TO_MEM: _MEM_TYPES, H.ARG_PTR_TO_FUNC: (PTR_TO_FUNC,), H.ARG_PTR_TO_STACK: (PTR_TO_STACK,),
    H.ARG_PTR_TO_BTF_ID: (PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED, PTR_TO_BTF_ID | 1 << 21),
}

BPF_REG_SIZE = 8


class CallMeta:
    """``struct bpf_call_arg_meta``."""

    __slots__ = ("map", "map_uid", "raw_mode", "access_size", "regno", "msize_max_value", "ref_obj_id",
                 "release_regno", "func_id", "mem_size", "const_map_key")

    def __init__(self, func_id: int) -> None:
        self.map: Any = None
        self.map_uid = 0
        self.raw_mode = False
        self.access_size = 0
        self.regno = 0
        self.msize_max_value = 0
        self.ref_obj_id = 0
        self.release_regno = 0
        self.func_id = func_id
        self.const_map_key = -1
        self.mem_size = 0


class CallMixin:
    """Helper, subprogram and kfunc calls; exits."""

    # --- helpers ----------------------------------------------------------------------------------
    def helper_allowed(self, func_id: int) -> bool:  # type: ignore[no-untyped-def]
        """``env->ops->get_func_proto`` returning non-NULL for this program."""
        return func_id in self.allowed_helpers  # type: ignore[attr-defined]

    def check_func_arg(self, arg: int, meta: CallMeta, fn: H.FuncProto) -> None:  # type: ignore[no-untyped-def]
        regno = 1 + arg
        regs = self.cur_regs()  # type: ignore[attr-defined]
        reg = regs[regno]
        arg_type = fn.args[arg]
        if arg_type == H.ARG_DONTCARE:
            return
        self.check_reg_arg(regno, SRC_OP)  # type: ignore[attr-defined]
        leaks = self.allow_ptr_leaks  # type: ignore[attr-defined]
        if arg_type == H.ARG_ANYTHING:
            if is_pointer_value(leaks, reg):
                raise self.reject(E.EACCES, f"R{regno} leaks addr into helper function")  # type: ignore[attr-defined]
            return
        if base_type(reg.type) in (PTR_TO_PACKET, PTR_TO_PACKET_META):
            raise self.reject(E.EACCES, "helper access to the packet is not allowed")  # type: ignore[attr-defined]
        base = arg_type & 0xFF
        skip_type = False
        if register_is_null(reg) and arg_type & PTR_MAYBE_NULL:
            self.mark_chain_precision(regno)  # type: ignore[attr-defined]
            skip_type = True
        if not skip_type:
            self._check_reg_type(regno, arg_type, meta)
            self._check_func_arg_reg_off(reg, regno, arg_type)
        if reg.ref_obj_id:
            meta.ref_obj_id = reg.ref_obj_id
        if base == H.ARG_CONST_MAP_PTR:
            meta.map = reg.map
            meta.map_uid = reg.map_uid
        elif base == H.ARG_PTR_TO_MAP_KEY:
            if meta.map is None:
                raise self.reject(E.EACCES, "invalid map_ptr to access map->key")  # type: ignore[attr-defined]
            self.check_helper_mem_access(regno, meta.map.key_size, BPF_READ, False, None)  # type: ignore[attr-defined]
            if meta.map.map_type in (2, 6):  # can_elide_value_nullness: (per-CPU) arrays
                meta.const_map_key = self.get_constant_map_key(reg, meta.map.key_size)
        elif base == H.ARG_PTR_TO_MAP_VALUE:
            if arg_type & PTR_MAYBE_NULL and register_is_null(reg):
                return
            if meta.map is None:
                raise self.reject(E.EACCES, "invalid map_ptr to access map->value")  # type: ignore[attr-defined]
            meta.raw_mode = bool(arg_type & MEM_UNINIT)
            self.check_helper_mem_access(regno, meta.map.value_size,  # type: ignore[attr-defined]
                                         BPF_WRITE if arg_type & MEM_WRITE else BPF_READ, False, meta)
        elif base == H.ARG_PTR_TO_MEM:
            meta.raw_mode = bool(arg_type & MEM_UNINIT)
        elif base in (H.ARG_CONST_SIZE, H.ARG_CONST_SIZE_OR_ZERO):
            atype = BPF_WRITE if fn.args[arg - 1] & MEM_WRITE else BPF_READ
            self.check_mem_size_reg(reg, regno, atype, base == H.ARG_CONST_SIZE_OR_ZERO, meta)  # type: ignore[attr-defined]

    def _check_reg_type(self, regno: int, arg_type: int, meta: CallMeta) -> None:  # type: ignore[no-untyped-def]
        reg = self.cur_regs()[regno]  # type: ignore[attr-defined]
        compat = _COMPATIBLE.get(arg_type & 0xFF)
        if compat is None:
            raise self.reject(E.EFAULT, f"verifier internal error: unsupported arg type {arg_type}")  # type: ignore[attr-defined]
        t = reg.type
        if arg_type & MEM_RDONLY:
            t &= ~MEM_RDONLY
        if arg_type & PTR_MAYBE_NULL:
            t &= ~PTR_MAYBE_NULL
        if t not in compat:
            exp = ", ".join(reg_type_str(c) for c in compat)
            raise self.reject(E.EACCES, f"R{regno} type={reg_type_str(reg.type)} expected={exp}")  # type: ignore[attr-defined]
        if base_type(reg.type) != PTR_TO_BTF_ID:
            return
        if compat is _MEM_TYPES and not arg_type & MEM_RDONLY:
            raise self.reject(E.EACCES, f"{H.func_id_name(meta.func_id)}() may write into memory pointed by "  # type: ignore[attr-defined]
                                        f"R{regno} type={reg_type_str(reg.type)}")

    def _check_func_arg_reg_off(self, reg: RegState, regno: int, arg_type: int) -> None:  # type: ignore[no-untyped-def]
        t = reg.type
        if t in (PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
                 PTR_TO_MEM | MEM_RDONLY, PTR_TO_MEM | MEM_RINGBUF, PTR_TO_BUF, PTR_TO_BUF | MEM_RDONLY, 18,
                 SCALAR_VALUE):
            return
        if base_type(t) == PTR_TO_BTF_ID:
            self.check_ptr_off_reg(reg, regno, True)  # type: ignore[attr-defined]
            return
        self.check_ptr_off_reg(reg, regno, False)  # type: ignore[attr-defined]

    def get_constant_map_key(self, key: RegState, key_size: int) -> int:  # type: ignore[no-untyped-def]
        """``get_constant_map_key`` (6.14+, "bpf: verifier: Support eliding map lookup
        nullness"): the key's value when it sits on the stack as zeroes (STACK_ZERO) or
        as a spilled constant of exactly the key's size (the slot is then marked precise);
        -1 when not known."""
        if not self.bpf_capable or key.type != PTR_TO_STACK or key.var_off[1]:  # type: ignore[attr-defined]
            return -1
        from .state import STACK_SPILL, STACK_ZERO
        state = self.func_of(key)  # type: ignore[attr-defined]
        slot = -(key.off + s64(key.var_off[0])) - 1
        spi, off = slot // BPF_REG_SIZE, slot % BPF_REG_SIZE
        if spi >= len(state.stack):
            return -1
        st = state.stack[spi]
        stype = st.types
        zero = 0
        i = off
        while i >= 0 and stype[i] == STACK_ZERO:
            zero += 1
            i -= 1
        if zero >= key_size:
            return 0
        if not (stype[BPF_REG_SIZE - 1] == STACK_SPILL and st.spilled.type == SCALAR_VALUE):
            return -1
        spill = 0
        i = off
        while i >= 0 and stype[i] == STACK_SPILL:
            spill += 1
            i -= 1
        if spill != key_size or st.spilled.var_off[1]:
            return -1
        from .precision import _BT
        bt = _BT(self.cur.curframe)  # type: ignore[attr-defined]
        bt.stack[key.frameno] |= 1 << spi
        self._mark_chain(self.cur, -1, bt)  # type: ignore[attr-defined]
        return st.spilled.var_off[0]

    def check_helper_call(self, insn) -> None:  # type: ignore[no-untyped-def]
        func_id = insn.imm
        name = H.func_id_name(func_id)
        if func_id < 0 or func_id >= H.MAX_FUNC_ID:
            raise self.reject(E.EINVAL, f"invalid func {name}#{func_id}")  # type: ignore[attr-defined]
        if not self.helper_allowed(func_id):
            raise self.reject(E.EINVAL, f"program of this type cannot use helper {name}#{func_id}")  # type: ignore[attr-defined]
        fn = H.proto_for(func_id)
        if fn is None:  # the kernel has it; the model does not know its argument types
            raise self.reject(E.EINVAL, f"helper {name}#{func_id} is not modelled by structops")  # type: ignore[attr-defined]
        if not self.env.gpl_compatible and fn.gpl_only:  # type: ignore[attr-defined]
            raise self.reject(E.EINVAL, "cannot call GPL-restricted function from non-GPL compatible program")  # type: ignore[attr-defined]
        if not self.env.sleepable and fn.might_sleep:  # type: ignore[attr-defined]
            raise self.reject(E.EINVAL, "helper call might sleep in a non-sleepable prog")  # type: ignore[attr-defined]
        meta = CallMeta(func_id)
        for i in range(5):
            self.check_func_arg(i, meta, fn)
        self.aux[self.insn_idx].helper_id = func_id  # type: ignore[attr-defined]
        for i in range(meta.access_size):
            self.check_mem_access(self.insn_idx, meta.regno, i, isa.B, BPF_WRITE, -1, False, False)  # type: ignore[attr-defined]
        regs = self.cur_regs()  # type: ignore[attr-defined]
        for i in range(6):
            mark_not_init(regs[i], self.bpf_capable)  # type: ignore[attr-defined]
            self.check_reg_arg(i, DST_OP_NO_MARK)  # type: ignore[attr-defined]
        r0 = regs[0]
        r0.subreg_def = 0
        ret = fn.ret_type
        bret = ret & 0xFF
        if bret == H.RET_INTEGER:
            mark_unknown(r0, self.bpf_capable)  # type: ignore[attr-defined]
        elif bret == H.RET_VOID:
            r0.type = NOT_INIT
        elif bret == H.RET_PTR_TO_MAP_VALUE:
            mark_known_zero(r0)
            if meta.map is None:
                raise self.reject(E.EINVAL, "kernel subsystem misconfigured verifier")  # type: ignore[attr-defined]
            r0.map = meta.map
            r0.map_uid = meta.map_uid
            flags = ret & ~0xFF
            if func_id == 1 and meta.map.map_type in (2, 6) and 0 <= meta.const_map_key < meta.map.max_entries:
                flags &= ~PTR_MAYBE_NULL  # an in-range constant key of an array cannot miss
            r0.type = PTR_TO_MAP_VALUE | flags
        else:
            raise self.reject(E.EINVAL, f"unknown return type {bret} of func {name}#{func_id}")  # type: ignore[attr-defined]
        if r0.type & PTR_MAYBE_NULL:
            r0.id = self.new_id()  # type: ignore[attr-defined]
        if meta.map is not None:
            why = check_map_func_compatibility(meta.map.map_type, func_id)
            if why:
                raise self.reject(E.EINVAL, why)  # type: ignore[attr-defined]
        if bret == H.RET_INTEGER and func_id == 8:  # bpf_get_smp_processor_id
            n = self.env.nr_cpu_ids - 1  # type: ignore[attr-defined]
            r0.umax = r0.u32_max = r0.smax = r0.s32_max = n
            r0.umin = r0.u32_min = r0.smin = r0.s32_min = 0
            S.sync(r0)
            self.bounds_sanity(r0, "retval")  # type: ignore[attr-defined]
        elif bret == H.RET_INTEGER:
            self.bounds_sanity(r0, "retval")  # type: ignore[attr-defined]

    # --- bpf-to-bpf calls --------------------------------------------------------------------------
    def check_func_call(self, insn) -> None:  # type: ignore[no-untyped-def]
        idx = self.insn_idx  # type: ignore[attr-defined]
        target = idx + insn.imm + 1
        subprog = self.find_subprog(target)  # type: ignore[attr-defined]
        if subprog < 0:
            raise self.reject(E.EFAULT, f"verifier bug. No program starts at insn {target}")  # type: ignore[attr-defined]
        st = self.cur  # type: ignore[attr-defined]
        if st.curframe + 1 >= isa.MAX_CALL_FRAMES:
            raise self.reject(E.E2BIG, f"the call stack of {st.curframe + 2} frames is too deep")  # type: ignore[attr-defined]
        caller = st.frame[st.curframe]
        callee = self.init_func_state(idx, st.curframe + 1, subprog)  # type: ignore[attr-defined]
        for i in range(1, 6):
            callee.regs[i].assign(caller.regs[i])
        del st.frame[st.curframe + 1:]
        st.frame.append(callee)
        st.curframe += 1
        self.aux[idx].subprog = subprog  # type: ignore[attr-defined]
        for i in range(6):
            mark_not_init(caller.regs[i], self.bpf_capable)  # type: ignore[attr-defined]
            self.scratched_regs |= 1 << i  # type: ignore[attr-defined]
            caller.regs[i].subreg_def = 0
        if self.log_on:  # type: ignore[attr-defined]
            self.verbose("caller:\n")  # type: ignore[attr-defined]
            self.print_verifier_state(st, st.curframe - 1, True)  # type: ignore[attr-defined]
            self.verbose("callee:\n")  # type: ignore[attr-defined]
            self.print_verifier_state(st, st.curframe, True)  # type: ignore[attr-defined]
        self.insn_idx = target - 1  # type: ignore[attr-defined]
        self.stack_live.reset_callchain()  # type: ignore[attr-defined]

    def prepare_func_exit(self) -> None:  # type: ignore[no-untyped-def]
        st = self.cur  # type: ignore[attr-defined]
        callee = st.frame[st.curframe]
        r0 = callee.regs[0]
        if r0.type == PTR_TO_STACK:
            raise self.reject(E.EINVAL, "cannot return stack pointer to the caller")  # type: ignore[attr-defined]
        caller = st.frame[st.curframe - 1]
        caller.regs[0].assign(r0)
        self.insn_idx = callee.callsite + 1  # type: ignore[attr-defined]
        if self.log_on:  # type: ignore[attr-defined]
            self.verbose("returning from callee:\n")  # type: ignore[attr-defined]
            self.print_verifier_state(st, st.curframe, True)  # type: ignore[attr-defined]
            self.verbose(f"to caller at {self.insn_idx}:\n")  # type: ignore[attr-defined]
            self.print_verifier_state(st, st.curframe - 1, True)  # type: ignore[attr-defined]
        st.frame.pop()
        st.curframe -= 1

    # --- exits -------------------------------------------------------------------------------------
    def check_resource_leak(self, exception_exit: bool, check_lock: bool, prefix: str) -> None:  # type: ignore[no-untyped-def]
        """``check_resource_leak`` / ``check_reference_leak``: each lingering reference is
        reported, then ``<prefix> would lead to reference leak``. A struct_ops program
        may return (in R0) a reference it holds."""
        st = self.cur  # type: ignore[attr-defined]
        if check_lock and st.active_locks:
            raise self.reject(E.EINVAL, f"{prefix} cannot be used inside bpf_spin_lock-ed region")  # type: ignore[attr-defined]
        if st.curframe and not exception_exit:
            return
        r0 = st.frame[st.curframe].regs[0]
        lingering = False
        for r in st.refs:
            if r.type != 0:
                continue
            if self.env.prog_type == 27 and not exception_exit and r0.ref_obj_id == r.id:  # type: ignore[attr-defined]
                continue
            self.verbose(f"Unreleased reference id={r.id} alloc_insn={r.insn_idx}\n")  # type: ignore[attr-defined]
            lingering = True
        if lingering:
            raise self.reject(E.EINVAL, f"{prefix} would lead to reference leak")  # type: ignore[attr-defined]

    def check_return_code(self, regno: int, reg_name: str) -> None:  # type: ignore[no-untyped-def]
        """``check_return_code``."""
        exit_ctx = "At program exit"
        st = self.cur  # type: ignore[attr-defined]
        frame = st.frame[0]
        is_subprog = frame.subprogno != 0
        reg = self.cur_regs()[regno]  # type: ignore[attr-defined]
        ptype = self.env.prog_type  # type: ignore[attr-defined]
        if not is_subprog and ptype == 27:  # BPF_PROG_TYPE_STRUCT_OPS
            proto = self.attach_func_proto  # type: ignore[attr-defined]
            if proto is None or proto.ret_type_id == 0:
                return
        self.check_reg_arg(regno, SRC_OP)  # type: ignore[attr-defined]
        if is_pointer_value(self.allow_ptr_leaks, reg):  # type: ignore[attr-defined]
            raise self.reject(E.EACCES, f"R{regno} leaks addr as return value")  # type: ignore[attr-defined]
        if is_subprog:
            if reg.type != SCALAR_VALUE:
                raise self.reject(E.EINVAL, f"At subprogram exit the register R{regno} is not a scalar value "  # type: ignore[attr-defined]
                                            f"({reg_type_str(reg.type)})")
            return
        rng = self.retval_range  # type: ignore[attr-defined]
        if rng is None:
            return
        if reg.type != SCALAR_VALUE:
            raise self.reject(E.EINVAL, f"{exit_ctx} the register R{regno} is not a known value "  # type: ignore[attr-defined]
                                        f"({reg_type_str(reg.type)})")
        self.mark_chain_precision(regno)  # type: ignore[attr-defined]
        if not (rng[0] <= reg.smin and reg.smax <= rng[1]):
            parts = [f"{exit_ctx} the register {reg_name} has"]
            if reg.smin > -(1 << 63):
                parts.append(f" smin={reg.smin}")
            if reg.smax < (1 << 63) - 1:
                parts.append(f" smax={reg.smax}")
            if len(parts) == 1:
                parts.append(" unknown scalar value")
            parts.append(f" should have been in [{rng[0]}, {rng[1]}]")
            raise self.reject(E.EINVAL, "".join(parts))  # type: ignore[attr-defined]

    # --- lddw and legacy packet loads --------------------------------------------------------------
    def check_ld_imm(self, insn) -> None:  # type: ignore[no-untyped-def]
        regs = self.cur_regs()  # type: ignore[attr-defined]
        if (insn.code & 0x18) != isa.DW:
            raise self.reject(E.EINVAL, "invalid BPF_LD_IMM insn")  # type: ignore[attr-defined]
        if insn.off:
            raise self.reject(E.EINVAL, "BPF_LD_IMM64 uses reserved fields")  # type: ignore[attr-defined]
        self.check_reg_arg(insn.dst, DST_OP)  # type: ignore[attr-defined]
        dst = regs[insn.dst]
        idx = self.insn_idx  # type: ignore[attr-defined]
        second = self.insns[idx + 1]  # type: ignore[attr-defined]
        if insn.src == 0:
            dst.type = SCALAR_VALUE
            from .regs import mark_known
            mark_known(dst, imm64(insn, second))
            return
        mark_known_zero(dst)
        aux = self.aux[idx]  # type: ignore[attr-defined]
        if insn.src == isa.PSEUDO_BTF_ID:
            raise self.reject(E.EINVAL, "pseudo btf_id ldimm64 is not modelled")  # type: ignore[attr-defined]
        if insn.src == isa.PSEUDO_FUNC:
            raise self.reject(E.EINVAL, "missing btf func_info")  # type: ignore[attr-defined]
        m = aux.map
        dst.map = m
        if insn.src in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
            dst.type = PTR_TO_MAP_VALUE
            dst.off = aux.map_off
        else:
            dst.type = CONST_PTR_TO_MAP

    def check_ld_abs(self, insn) -> None:  # type: ignore[no-untyped-def]
        regs = self.cur_regs()  # type: ignore[attr-defined]
        mode = insn.code & 0xE0
        if self.env.prog_type != 1:  # type: ignore[attr-defined]  # only skb programs in the model
            raise self.reject(E.EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type")  # type: ignore[attr-defined]
        if insn.dst or insn.off or (insn.code & 0x18) == isa.DW or (mode == isa.ABS and insn.src):
            raise self.reject(E.EINVAL, "BPF_LD_[ABS|IND] uses reserved fields")  # type: ignore[attr-defined]
        self.check_reg_arg(6, SRC_OP)  # type: ignore[attr-defined]
        self.check_resource_leak(False, True, "BPF_LD_[ABS|IND]")
        if regs[6].type != PTR_TO_CTX:
            raise self.reject(E.EINVAL, "at the time of BPF_LD_ABS|IND R6 != pointer to skb")  # type: ignore[attr-defined]
        if mode == isa.IND:
            self.check_reg_arg(insn.src, SRC_OP)  # type: ignore[attr-defined]
        self.check_ptr_off_reg(regs[6], 6, False)  # type: ignore[attr-defined]
        for i in range(6):
            mark_not_init(regs[i], self.bpf_capable)  # type: ignore[attr-defined]
            self.check_reg_arg(i, DST_OP_NO_MARK)  # type: ignore[attr-defined]
        mark_unknown(regs[0], self.bpf_capable)  # type: ignore[attr-defined]
        regs[0].subreg_def = self.insn_idx + 1  # type: ignore[attr-defined]

    # --- kfuncs ------------------------------------------------------------------------------------
    def check_kfunc_call(self, insn) -> None:  # type: ignore[no-untyped-def]
        from .kfuncs import check_kfunc_call
        check_kfunc_call(self, insn)
