"""Calls and returns: helpers, bpf-to-bpf calls, kfuncs, program exit.

Models ``check_helper_call`` with ``check_func_arg`` / ``check_reg_type`` /
``check_func_arg_reg_off`` and the return-type handling, ``do_refine_retval_range``,
``check_func_call`` / ``setup_func_entry`` / ``prepare_func_exit`` for static
subprograms, ``check_kfunc_call`` for the modelled kfuncs (arguments and return
type from BTF, KF_ACQUIRE / KF_RELEASE / KF_RET_NULL), ``check_return_code``,
``check_resource_leak``, ``record_func_map`` / ``record_func_key`` (tail calls:
which map and which constant key each call site passes), ``check_ld_imm`` and ``check_ld_abs`` of
kernel/bpf/verifier.c (Linux 6.18).

Left out: callbacks (``bpf_loop``, ``for_each_map_elem``, timers), dynptrs,
iterators, spin locks, RCU/preempt/IRQ regions, global subprograms
(they need BTF func_info, which raw-instruction loads do not carry).
"""

from __future__ import annotations

import errno as E
from typing import Any, Final, Sequence

from kernel_model import isa
from kernel_model.errors import ENOTSUPP
from kernel_model.insn import imm64
from kernel_model.uapi import PROG_TYPE_KPROBE

from kernel_model.uapi import BPF_F_INNER_MAP, BPF_F_RDONLY_PROG

from .dynptrs import DYNPTR_TYPE_FLAG_MASK, clear_all_pkt_pointers
from . import alu, callbacks as cb, helpers as H, mem, pkt_helpers, precision, scalar as S, trace_helpers as TH, sock_refs, sockmap
from .map_rules import check_map_func_compatibility
from .map_types import map_type_ops
from .decoded import DInsn
from .core import Env, DST_OP, DST_OP_NO_MARK, SRC_OP, Reject
from .log import reg_type_str
from .mem import BPF_READ, BPF_WRITE
from .refs import REF_TYPE_PTR
from .regs import (
    CONST_PTR_TO_DYNPTR, CONST_PTR_TO_MAP, MEM_ALLOC, MEM_FIXED_SIZE, OBJ_RELEASE, MEM_RDONLY, MEM_RINGBUF, MEM_UNINIT, MEM_WRITE, NOT_INIT, PTR_MAYBE_NULL,
    PTR_TO_BTF_ID, PTR_TO_BUF, PTR_TO_CTX, PTR_TO_FUNC, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
    PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_STACK, PTR_TRUSTED, SCALAR_VALUE, RegState, base_type,
    is_pointer_value, mark_known_zero, mark_not_init, mark_unknown, register_is_null, s64,
)

__all__ = ["check_helper_call", "check_func_call", "check_kfunc_call", "prepare_func_exit", "check_resource_leak", "check_return_code", "check_ld_imm", "check_ld_abs", "helper_allowed", "CallMeta"]

_MEM_TYPES: Final = (PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
              PTR_TO_MEM | MEM_RINGBUF, PTR_TO_BUF, PTR_TO_BTF_ID | PTR_TRUSTED)
#: compatible_reg_types[] (kernel/bpf/verifier.c)
_COMPATIBLE: dict[int, tuple[int, ...]] = {
    H.ARG_PTR_TO_MAP_KEY: _MEM_TYPES, H.ARG_PTR_TO_MAP_VALUE: _MEM_TYPES, H.ARG_CONST_SIZE: (SCALAR_VALUE,),
    H.ARG_CONST_SIZE_OR_ZERO: (SCALAR_VALUE,), H.ARG_CONST_ALLOC_SIZE_OR_ZERO: (SCALAR_VALUE,),
    H.ARG_SCALAR: (SCALAR_VALUE,), H.ARG_CONST_MAP_PTR: (CONST_PTR_TO_MAP,), H.ARG_PTR_TO_CTX: (PTR_TO_CTX,),
    H.ARG_PTR_TO_MEM: _MEM_TYPES, H.ARG_PTR_TO_FUNC: (PTR_TO_FUNC,), H.ARG_PTR_TO_STACK: (PTR_TO_STACK,),
    H.ARG_PTR_TO_BTF_ID: (PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED, PTR_TO_BTF_ID | 1 << 21),
    H.ARG_PTR_TO_SPIN_LOCK: (PTR_TO_MAP_VALUE, PTR_TO_BTF_ID | MEM_ALLOC),  # spin_lock_types
    H.ARG_PTR_TO_TIMER: (PTR_TO_MAP_VALUE,),  # timer_types (verifier.async_cb)
    H.ARG_PTR_TO_RINGBUF_MEM: (PTR_TO_MEM | MEM_RINGBUF,),  # ringbuf_mem_types
    H.ARG_PTR_TO_DYNPTR: (PTR_TO_STACK, CONST_PTR_TO_DYNPTR),  # dynptr_types
    H.ARG_PTR_TO_CONST_STR: (PTR_TO_MAP_VALUE,),  # const_str_ptr_types
}
# percpu_btf_ptr_types (verifier.percpu_helpers)
from .percpu_helpers import PERCPU_BTF_PTR_TYPES  # noqa: E402
_COMPATIBLE[H.ARG_PTR_TO_PERCPU_BTF_ID] = PERCPU_BTF_PTR_TYPES

# the socket argument kinds (verifier.sock_refs)
_COMPATIBLE.update(sock_refs.COMPATIBLE)

BPF_REG_SIZE: Final = 8
#: include/linux/err.h
MAX_ERRNO: Final = 4095


class CallMeta:
    """``struct bpf_call_arg_meta``."""

    __slots__ = ("map", "map_uid", "raw_mode", "access_size", "regno", "msize_max_value", "ref_obj_id",
                 "release_regno", "func_id", "mem_size", "const_map_key", "subprogno", "dynptr_id")

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
        self.subprogno = 0
        self.dynptr_id = 0



# --- helpers ----------------------------------------------------------------------------------
def helper_allowed(env: Env, func_id: int) -> bool:
    """``env->ops->get_func_proto`` returning non-NULL for this program."""
    return env.prog_ops.get_func_proto(env, func_id) is not None


def check_func_arg(env: Env, arg: int, meta: CallMeta, fn: H.FuncProto) -> None:
    regno = 1 + arg
    regs = env.cur_regs()
    reg = regs[regno]
    arg_type = fn.args[arg]
    if arg_type == H.ARG_DONTCARE:
        return
    env.check_reg_arg(regno, SRC_OP)
    leaks = env.allow_ptr_leaks
    if arg_type == H.ARG_ANYTHING:
        if is_pointer_value(leaks, reg):
            raise env.reject(E.EACCES, f"R{regno} leaks addr into helper function")
        return
    if base_type(reg.type) in (PTR_TO_PACKET, PTR_TO_PACKET_META) \
            and not mem.may_access_direct_pkt_data(env, fn.pkt_access, BPF_READ):
        raise env.reject(E.EACCES, "helper access to the packet is not allowed")
    base = arg_type & 0xFF
    if base == H.ARG_PTR_TO_MAP_VALUE:
        # resolve_map_arg_type: a sockmap's value is a socket (verifier.sockmap)
        arg_type = sockmap.resolve_map_arg_type(env, meta, arg_type)
        base = arg_type & 0xFF
    skip_type = False
    if register_is_null(reg) and arg_type & PTR_MAYBE_NULL:
        precision.mark_chain_precision(env, regno)
        skip_type = True
    if not skip_type:
        _check_reg_type(env, regno, arg_type, meta, fn.arg_btf[arg] if arg < len(fn.arg_btf) else "")
        if base == H.ARG_PTR_TO_PERCPU_BTF_ID:  # a per-CPU pointer (verifier.percpu_helpers)
            from .percpu_helpers import refuse_percpu_arg
            refuse_percpu_arg(env, meta.func_id)
        _check_func_arg_reg_off(env, reg, regno, arg_type)
    if arg_type & OBJ_RELEASE:
        if base == H.ARG_PTR_TO_DYNPTR:
            # only a dynptr on the stack can be released
            if reg.type == PTR_TO_STACK:
                from .dynptrs import dynptr_get_spi
                spi = dynptr_get_spi(env, reg)
                if spi < 0 or not env.func_of(reg).stack[spi].spilled.ref_obj_id:
                    raise env.reject(E.EINVAL, f"arg {regno} is an unacquired reference")
            else:
                raise env.reject(E.EINVAL, "cannot release unowned const bpf_dynptr")
        elif not reg.ref_obj_id and not register_is_null(reg):
            raise env.reject(E.EINVAL, f"R{regno} must be referenced when passed to release function")
        if meta.release_regno:
            raise env.reject(E.EFAULT, "verifier internal error: more than one release argument")
        meta.release_regno = regno
    if reg.ref_obj_id:
        meta.ref_obj_id = reg.ref_obj_id
    if base == H.ARG_CONST_MAP_PTR:
        from .async_cb import check_timer_map_arg
        check_timer_map_arg(env, regno, meta)
        meta.map = reg.map
        meta.map_uid = reg.map_uid
    elif base == H.ARG_PTR_TO_MAP_KEY:
        if meta.map is None:
            raise env.reject(E.EACCES, "invalid map_ptr to access map->key")
        mem.check_helper_mem_access(env, regno, meta.map.key_size, BPF_READ, False, None)
        if map_type_ops(meta.map.map_type).elide_value_nullness:
            meta.const_map_key = get_constant_map_key(env, reg, meta.map.key_size)
    elif base == H.ARG_PTR_TO_MAP_VALUE:
        if arg_type & PTR_MAYBE_NULL and register_is_null(reg):
            return
        if meta.map is None:
            raise env.reject(E.EACCES, "invalid map_ptr to access map->value")
        meta.raw_mode = bool(arg_type & MEM_UNINIT)
        mem.check_helper_mem_access(env, regno, meta.map.value_size,
                                    BPF_WRITE if arg_type & MEM_WRITE else BPF_READ, False, meta)
    elif base == H.ARG_PTR_TO_MEM:
        meta.raw_mode = bool(arg_type & MEM_UNINIT)
        if arg_type & MEM_FIXED_SIZE:
            sock_refs.check_fixed_size_mem(env, regno, arg_type, fn.arg_size[arg], meta)
    elif base == H.ARG_PTR_TO_FUNC:
        meta.subprogno = reg.subprogno
    elif base == H.ARG_PTR_TO_TIMER:
        from .async_cb import process_timer_func
        process_timer_func(env, regno, meta)
    elif base == H.ARG_PTR_TO_SPIN_LOCK:
        from .locks import BPF_FUNC_spin_lock, process_spin_lock
        process_spin_lock(env, regno, meta.func_id == BPF_FUNC_spin_lock)
    elif base == H.ARG_PTR_TO_CONST_STR:
        _check_reg_const_str(env, reg, regno)
    elif base in (H.ARG_CONST_SIZE, H.ARG_CONST_SIZE_OR_ZERO):
        atype = BPF_WRITE if fn.args[arg - 1] & MEM_WRITE else BPF_READ
        mem.check_mem_size_reg(env, reg, regno, atype, base == H.ARG_CONST_SIZE_OR_ZERO, meta)
    elif base == H.ARG_PTR_TO_DYNPTR:
        from .dynptrs import process_dynptr_func
        process_dynptr_func(env, regno, env.insn_idx, arg_type, 0)
    elif base == H.ARG_CONST_ALLOC_SIZE_OR_ZERO:
        if reg.var_off[1]:
            raise env.reject(E.EACCES, f"R{regno} is not a known constant'")
        meta.mem_size = reg.var_off[0]
        precision.mark_chain_precision(env, regno)


def _check_reg_const_str(env: Env, reg: RegState, regno: int) -> None:
    """``check_reg_const_str`` (kernel/bpf/verifier.c, 6.12/6.18): a NUL-terminated string
    at a constant offset of a read-only (``BPF_F_RDONLY_PROG``, frozen) map's value, read
    through ``map_direct_value_addr`` at verification time."""
    m = reg.map
    if reg.type != PTR_TO_MAP_VALUE:
        raise env.reject(E.EINVAL)
    if not mem._map_is_rdonly(m):
        raise env.reject(E.EACCES, f"R{regno} does not point to a readonly map'")
    if reg.var_off[1]:
        raise env.reject(E.EACCES, f"R{regno} is not a constant address'")
    read = getattr(m, "direct_read", None)
    if read is None:
        raise env.reject(E.EACCES, "no direct value access support for this map type")
    mem.check_map_access(env, regno, reg.off, m.value_size - reg.off, False, mem.ACCESS_HELPER)
    map_off = reg.off + reg.var_off[0]
    data = read(map_off, m.value_size - map_off)
    if isinstance(data, int):
        raise env.reject(-data, "direct value access on string failed")
    if 0 not in data:
        raise env.reject(E.EINVAL, "string is not zero-terminated")


def _check_reg_type(env: Env, regno: int, arg_type: int, meta: CallMeta, arg_btf: str = "") -> None:
    reg = env.cur_regs()[regno]
    compat = _COMPATIBLE.get(arg_type & 0xFF)
    if compat is None:
        raise env.reject(E.EFAULT, f"verifier internal error: unsupported arg type {arg_type}")
    t = reg.type
    if arg_type & MEM_RDONLY:
        t &= ~MEM_RDONLY
    if arg_type & PTR_MAYBE_NULL:
        t &= ~PTR_MAYBE_NULL
    if arg_type & 0xFF == H.ARG_PTR_TO_MEM:  # memory tagged with a dynptr type (a slice) is memory
        t &= ~DYNPTR_TYPE_FLAG_MASK
    if t not in compat:
        exp = ", ".join(reg_type_str(c) for c in compat)
        raise env.reject(E.EACCES, f"R{regno} type={reg_type_str(reg.type)} expected={exp}")
    if base_type(reg.type) != PTR_TO_BTF_ID:
        return
    if arg_type & 0xFF == H.ARG_PTR_TO_BTF_ID_SOCK_COMMON:
        sock_refs.check_btf_sock_common(env, regno, reg, arg_type, meta)
        return
    if arg_type & 0xFF == H.ARG_PTR_TO_BTF_ID:  # a kernel object named by argN_btf_id
        from .btf_arg_helpers import check_btf_id_arg
        check_btf_id_arg(env, regno, reg, arg_type, arg_btf, meta)
        return
    # the kernel's ``compatible == &mem_types``: compared by value, as mypyc rebuilds a Final tuple
    # where it is used (an identity test never holds in the compiled verifier)
    if compat == _MEM_TYPES and not arg_type & MEM_RDONLY:
        raise env.reject(E.EACCES, f"{H.func_id_name(meta.func_id)}() may write into memory pointed by "
                                   f"R{regno} type={reg_type_str(reg.type)}")


def _check_func_arg_reg_off(env: Env, reg: RegState, regno: int, arg_type: int) -> None:
    t = reg.type
    if arg_type & OBJ_RELEASE:
        # a dynptr to release may sit at any offset of the stack
        if arg_type & 0xFF == H.ARG_PTR_TO_DYNPTR and t == PTR_TO_STACK:
            return
        if reg.off:
            raise env.reject(E.EINVAL, f"R{regno} must have zero offset when passed to release func or "
                                       f"trusted arg to kfunc")
        mem.check_ptr_off_reg(env, reg, regno, False)
        return
    if t in (PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM,
             PTR_TO_MEM | MEM_RDONLY, PTR_TO_MEM | MEM_RINGBUF, PTR_TO_BUF, PTR_TO_BUF | MEM_RDONLY, 18,
             SCALAR_VALUE):
        return
    if base_type(t) == PTR_TO_BTF_ID:
        mem.check_ptr_off_reg(env, reg, regno, True)
        return
    mem.check_ptr_off_reg(env, reg, regno, False)


def get_constant_map_key(env: Env, key: RegState, key_size: int) -> int:
    """``get_constant_map_key`` (6.14+, "bpf: verifier: Support eliding map lookup
    nullness"): the key's value when it sits on the stack as zeroes (STACK_ZERO) or
    as a spilled constant of exactly the key's size (the slot is then marked precise);
    -1 when not known."""
    if not env.bpf_capable or key.type != PTR_TO_STACK or key.var_off[1]:
        return -1
    from .state import STACK_SPILL, STACK_ZERO
    state = env.func_of(key)
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
    bt = _BT(env.cur.curframe)
    bt.stack[key.frameno] |= 1 << spi
    precision._mark_chain(env, env.cur, -1, bt)
    return st.spilled.var_off[0]


def check_helper_call(env: Env, insn: DInsn) -> None:
    func_id = insn.imm
    name = H.func_id_name(func_id)
    if func_id < 0 or func_id >= H.MAX_FUNC_ID:
        raise env.reject(E.EINVAL, f"invalid func {name}#{func_id}")
    fn = env.prog_ops.get_func_proto(env, func_id)
    if fn is None:
        raise env.reject(E.EINVAL, f"program of this type cannot use helper {name}#{func_id}")
    if not isinstance(fn, H.FuncProto):  # the kernel has it; the model does not know its argument types
        raise env.reject(E.EINVAL, f"helper {name}#{func_id} is not modelled by structops")
    if not env.attr.gpl_compatible and fn.gpl_only:
        raise env.reject(E.EINVAL, "cannot call GPL-restricted function from non-GPL compatible program")
    if fn.allowed:
        from .btf_arg_helpers import helper_allowed_in_prog
        if not helper_allowed_in_prog(env, fn.allowed):
            raise env.reject(E.EINVAL, "helper call is not allowed in probe")
    if not env.attr.sleepable and fn.might_sleep:
        raise env.reject(E.EINVAL, "helper call might sleep in a non-sleepable prog")
    if fn.might_sleep:  # a sleepable helper inside an atomic region (6.18 check_helper_call)
        st = env.cur
        for held, where in ((st.active_rcu_lock, "rcu_read_lock region"),
                            (st.active_preempt_locks, "non-preemptible region"),
                            (st.active_irq_id, "IRQ-disabled region")):
            if held:
                raise env.reject(E.EINVAL, f"sleepable helper {name}#{func_id} in {where}")
    if func_id == 194:  # bpf_kptr_xchg: verifier/kptrs.py
        from .kptrs import check_kptr_xchg
        check_kptr_xchg(env, insn)
        return
    meta = CallMeta(func_id)
    for i in range(5):
        check_func_arg(env, i, meta, fn)
    if func_id in _RECORD_MAP:
        record_func_map(env, meta, func_id)
    if func_id == H.BPF_FUNC_tail_call:
        record_func_key(env, meta)
        check_resource_leak(env, False, True, "tail_call")
    if func_id == BPF_FUNC_get_local_storage:
        # check_helper_call (6.12/6.18): the helper cannot fail, so its flags must be 0
        if not register_is_null(env.cur_regs()[2]):
            raise env.reject(E.EINVAL, "get_local_storage() doesn't support non-zero flags")
        precision.mark_chain_precision(env, 2)
    if meta.map is not None:
        why = check_map_func_compatibility(meta.map.map_type, func_id,
                                           may_update_sockmap=sockmap.may_update_sockmap(env, meta.map.map_type,
                                                                                        func_id))
        if why:
            raise env.reject(E.EINVAL, why)
    env.aux[env.insn_idx].helper_id = func_id
    for i in range(meta.access_size):
        mem.check_mem_access(env, env.insn_idx, meta.regno, i, isa.B, BPF_WRITE, -1, False, False)
    if meta.release_regno:
        _release_arg(env, fn, meta, func_id, name)
    if func_id == cb.BPF_FUNC_FOR_EACH_MAP_ELEM:
        cb.push_callback_call(env, env.insn_idx, meta.subprogno, cb.set_map_elem_callback_state, meta.map)
    elif func_id == cb.BPF_FUNC_LOOP:
        cb.check_loop_call(env, insn, meta.subprogno)
    elif func_id == 170:  # bpf_timer_set_callback: an async callback (verifier.async_cb)
        from .async_cb import push_async_callback
        push_async_callback(env, env.insn_idx, meta.subprogno)
    elif func_id == _FIND_VMA:  # verifier.btf_arg_helpers
        from .btf_arg_helpers import set_find_vma_callback_state
        cb.push_callback_call(env, env.insn_idx, meta.subprogno, set_find_vma_callback_state)
    elif func_id == _SNPRINTF:  # check_bpf_snprintf_call (verifier.bprintf)
        from .bprintf import check_bpf_snprintf_call
        check_bpf_snprintf_call(env)
    elif func_id == _USER_RINGBUF_DRAIN:
        from .dynptrs import set_user_ringbuf_callback_state
        cb.push_callback_call(env, env.insn_idx, meta.subprogno, set_user_ringbuf_callback_state)
    elif func_id in (_DYNPTR_FROM_MEM, _DYNPTR_DATA):
        _dynptr_helper_checks(env, fn, meta, func_id)
    # With LD_ABS/IND some JITs save/restore skb from r1 (verifier.pkt_helpers)
    changes_data = pkt_helpers.helper_changes_pkt_data(func_id)
    if changes_data and fn.args[0] != H.ARG_PTR_TO_CTX:
        raise env.reject(E.EINVAL, f"kernel subsystem misconfigured func {name}#{func_id}: r1 != ctx")
    if func_id == _DYNPTR_WRITE:
        # writing through an skb dynptr may move the packet: clear_all_pkt_pointers below
        from .dynptrs import BPF_DYNPTR_TYPE_INVALID, BPF_DYNPTR_TYPE_SKB, dynptr_get_type
        dtype = dynptr_get_type(env, env.cur_regs()[1])
        if dtype == BPF_DYNPTR_TYPE_INVALID:
            raise Reject(E.EFAULT)
        changes_data = changes_data or dtype == BPF_DYNPTR_TYPE_SKB
    regs = env.cur_regs()
    for i in range(6):
        mark_not_init(regs[i], env.bpf_capable)
        env.check_reg_arg(i, DST_OP_NO_MARK)
    r0 = regs[0]
    r0.subreg_def = 0
    ret = fn.ret_type
    bret = ret & 0xFF
    if bret == H.RET_INTEGER:
        mark_unknown(r0, env.bpf_capable)
    elif bret == H.RET_VOID:
        r0.type = NOT_INIT
    elif bret == H.RET_PTR_TO_MAP_VALUE:
        mark_known_zero(r0)
        if meta.map is None:
            raise env.reject(E.EINVAL, "kernel subsystem misconfigured verifier")
        r0.map = meta.map
        r0.map_uid = meta.map_uid
        flags = ret & ~0xFF
        # an array created with BPF_F_INNER_MAP (a map-in-map template, or a map that may go into
        # one) keeps PTR_MAYBE_NULL: its real size may differ from max_entries (the 6.18 host
        # refuses the unchecked access, tests/emu/test_map_in_map.py)
        if func_id == 1 and map_type_ops(meta.map.map_type).elide_value_nullness \
                and not meta.map.map_flags & BPF_F_INNER_MAP \
                and 0 <= meta.const_map_key < meta.map.max_entries:
            flags &= ~PTR_MAYBE_NULL  # an in-range constant key of an array cannot miss
        r0.type = PTR_TO_MAP_VALUE | flags
        rec = getattr(meta.map, "record", None)
        if not flags & PTR_MAYBE_NULL and rec is not None and rec.has("bpf_spin_lock"):
            # check_helper_call (6.18): a value that cannot be NULL and holds a lock gets its
            # own id at once (the lock's identity, as the NULL check gives the others)
            r0.id = env.new_id()
    elif bret == H.RET_PTR_TO_MEM:
        mark_known_zero(r0)
        r0.type = PTR_TO_MEM | (ret & ~0xFF)
        r0.mem_size = meta.mem_size
    elif bret == H.RET_PTR_TO_BTF_ID and fn.ret_btf:
        # a vmlinux struct (ret_btf_id): bpf_get_current_task_btf's trusted task
        btf = env.attr.vmlinux_btf
        tid = btf.find(fn.ret_btf, 4) if btf is not None else None  # BTF_KIND_STRUCT
        if tid is None:
            raise env.reject(E.EINVAL, f"helper {name}#{func_id} is not modelled by structops")
        mark_known_zero(r0)
        r0.type = PTR_TO_BTF_ID | (ret & ~0xFF)
        r0.btf = btf
        r0.btf_id = tid
    elif not sock_refs.sock_return(env, r0, ret):
        raise env.reject(E.EINVAL, f"unknown return type {bret} of func {name}#{func_id}")
    if r0.type & PTR_MAYBE_NULL:
        r0.id = env.new_id()
    if func_id == _DYNPTR_DATA:
        # is_dynptr_ref_function: the slice carries its dynptr's id and reference
        r0.btf_id = meta.dynptr_id  # reg->dynptr_id (verifier.dynptrs: the union)
        r0.ref_obj_id = meta.ref_obj_id
    elif func_id == _RINGBUF_RESERVE:  # is_acquire_function
        from .refs import acquire_reference
        rid = acquire_reference(env, env.insn_idx)
        r0.id = rid
        r0.ref_obj_id = rid
    sock_refs.after_return(env, r0, func_id, meta)  # socket casts and lookups
    if changes_data:
        clear_all_pkt_pointers(env)
    if bret == H.RET_INTEGER and func_id == 8:  # bpf_get_smp_processor_id
        n = env.attr.nr_cpu_ids - 1
        r0.umax = r0.u32_max = r0.smax = r0.s32_max = n
        r0.umin = r0.u32_min = r0.smin = r0.s32_min = 0
        S.sync(r0)
        alu.bounds_sanity(env, r0, "retval")
    elif bret == H.RET_INTEGER and func_id in TH.REFINE_RETVAL_IDS:
        # do_refine_retval_range: a string or stack copy returns at most the size it was given
        r0.smax = r0.s32_max = meta.msize_max_value
        r0.smin = r0.s32_min = -MAX_ERRNO
        S.sync(r0)
        alu.bounds_sanity(env, r0, "retval")
    elif bret == H.RET_INTEGER:
        alu.bounds_sanity(env, r0, "retval")
    if func_id == TH.BPF_FUNC_get_func_ip and env.attr.prog_type != PROG_TYPE_KPROBE:
        # check_get_func_ip: of the types modelled only kprobes (tracing programs are not)
        raise env.reject(ENOTSUPP, f"func {name}#{func_id} not supported for program type "
                                     f"{env.attr.prog_type}")

#: include/uapi/linux/bpf.h
BPF_FUNC_get_local_storage: Final = 81
_RINGBUF_RESERVE: Final = 131
_DYNPTR_FROM_MEM: Final = 197
_DYNPTR_WRITE: Final = 202
_DYNPTR_DATA: Final = 203
_USER_RINGBUF_DRAIN: Final = 209
_FIND_VMA: Final = 180
_SNPRINTF: Final = 165


def _release_arg(env: Env, fn: H.FuncProto, meta: CallMeta, func_id: int, name: str) -> None:
    """The ``meta.release_regno`` part of ``check_helper_call``: a dynptr is unmarked
    (``unmark_stack_slots_dynptr``), another reference released with every copy."""
    from .refs import release_reference
    regs = env.cur_regs()
    reg = regs[meta.release_regno]
    if fn.args[meta.release_regno - 1] & 0xFF == H.ARG_PTR_TO_DYNPTR:
        if reg.type == CONST_PTR_TO_DYNPTR:
            raise env.reject(E.EFAULT, "verifier internal error: CONST_PTR_TO_DYNPTR cannot be released")
        from .dynptrs import unmark_stack_slots_dynptr
        unmark_stack_slots_dynptr(env, reg)
        return
    if meta.ref_obj_id:
        ok = release_reference(env, meta.ref_obj_id)
    else:
        ok = register_is_null(reg)
    if not ok:
        raise env.reject(E.EINVAL, f"func {name}#{func_id} reference has not been acquired before")


def _dynptr_helper_checks(env: Env, fn: H.FuncProto, meta: CallMeta, func_id: int) -> None:
    """The ``BPF_FUNC_dynptr_from_mem`` and ``BPF_FUNC_dynptr_data`` cases of
    ``check_helper_call``'s switch."""
    from . import dynptrs as D
    regs = env.cur_regs()
    if func_id == _DYNPTR_FROM_MEM:
        if regs[1].type != PTR_TO_MAP_VALUE:
            raise env.reject(E.EACCES, f"Unsupported reg type {reg_type_str(regs[1].type)} for "
                                       f"bpf_dynptr_from_mem data")
        return
    # get_dynptr_arg_reg: bpf_dynptr_data's dynptr is its first argument
    reg = regs[1]
    if meta.ref_obj_id:
        raise env.reject(E.EFAULT, "verifier internal error: meta.ref_obj_id already set")
    did = D.dynptr_id(env, reg)
    if did < 0:
        raise env.reject(-did, "verifier internal error: failed to obtain dynptr id")
    ref = D.dynptr_ref_obj_id(env, reg)
    if ref < 0:
        raise env.reject(-ref, "verifier internal error: failed to obtain dynptr ref_obj_id")
    meta.dynptr_id = did
    meta.ref_obj_id = ref


#: the helpers whose map ``record_func_map`` records (kernel/bpf/verifier.c, 6.12/6.18)
_RECORD_MAP: Final = frozenset({12, 1, 2, 3, 87, 88, 89, 164, 51, 195})
#: include/linux/bpf_verifier.h: ``map_key_state`` markers
BPF_MAP_KEY_POISON: Final = 1 << 63
BPF_MAP_KEY_SEEN: Final = 1 << 62


def record_func_map(env: Env, meta: CallMeta, func_id: int) -> None:
    """``record_func_map``: a ``BPF_F_RDONLY_PROG`` map refuses the helpers that write it
    (``write into map forbidden``); then the map a map helper call passes is recorded per
    call site; a second path with another map poisons it (a tail call then cannot be a
    direct jump)."""
    m = meta.map
    if m is None:
        raise env.reject(E.EINVAL, "kernel subsystem misconfigured verifier")
    # a BPF_F_RDONLY_PROG map (a devmap always) cannot be changed by the helpers that write
    if m.map_flags & BPF_F_RDONLY_PROG and func_id in (2, 3, 87, 88):  # update, delete, push, pop
        raise env.reject(E.EACCES, "write into map forbidden")
    aux = env.aux[env.insn_idx]
    if aux.map_ptr is None:
        aux.map_ptr = m
    elif aux.map_ptr is not m:
        aux.map_ptr = m
        aux.map_ptr_poison = True


def record_func_key(env: Env, meta: CallMeta) -> None:
    """``record_func_key`` (tail calls only): a key in R3 that is the same constant below
    ``max_entries`` on every path is recorded (and made precise): ``do_misc_fixups`` then
    gives the call a poke descriptor (a direct jump the map's updates patch); anything
    else poisons the key (an indirect jump through the array)."""
    m = meta.map
    if m is None or m.map_type != _PROG_ARRAY:
        raise env.reject(E.EINVAL, "kernel subsystem misconfigured verifier")
    aux = env.aux[env.insn_idx]
    reg = env.cur_regs()[3]
    val = reg.var_off[0]
    if not (reg.type == SCALAR_VALUE and not reg.var_off[1] and val < m.max_entries):
        aux.map_key_state = BPF_MAP_KEY_POISON
        return
    precision.mark_chain_precision(env, 3)
    if not aux.map_key_state:
        aux.map_key_state = BPF_MAP_KEY_SEEN | val
    elif aux.map_key_state != BPF_MAP_KEY_POISON and aux.map_key_state != BPF_MAP_KEY_SEEN | val:
        aux.map_key_state = BPF_MAP_KEY_POISON


_PROG_ARRAY: Final = 3


# --- bpf-to-bpf calls --------------------------------------------------------------------------
def check_func_call(env: Env, insn: DInsn) -> None:
    idx = env.insn_idx
    target = idx + insn.imm + 1
    subprog = env.find_subprog(target)
    if subprog < 0:
        raise env.reject(E.EFAULT, f"verifier bug. No program starts at insn {target}")
    st = env.cur
    caller = st.frame[st.curframe]
    err = 0
    if env.func_info:
        from . import btf_info
        err = btf_info.btf_check_subprog_call(env, subprog, caller.regs)
        if err == E.EFAULT:
            raise Reject(err)
        if env.subprog_is_global(subprog):
            _call_global(env, subprog, caller, err)
            return
    if st.curframe + 1 >= isa.MAX_CALL_FRAMES:
        raise env.reject(E.E2BIG, f"the call stack of {st.curframe + 2} frames is too deep")
    callee = env.init_func_state(idx, st.curframe + 1, subprog)
    env.mark_state_scratched()  # init_func_state: mark_verifier_state_scratched
    for i in range(1, 6):
        callee.regs[i].assign(caller.regs[i])
    del st.frame[st.curframe + 1:]
    st.frame.append(callee)
    st.curframe += 1
    env.aux[idx].subprog = subprog
    for i in range(6):
        mark_not_init(caller.regs[i], env.bpf_capable)
        env.scratched_regs |= 1 << i
        caller.regs[i].subreg_def = 0
    if env.log_on:
        env.verbose("caller:\n")
        env.print_verifier_state(st, st.curframe - 1, True)
        env.verbose("callee:\n")
        env.print_verifier_state(st, st.curframe, True)
    env.insn_idx = target - 1
    env.stack_live.reset_callchain()


def _call_global(env: Env, subprog: int, caller: Any, err: int) -> None:
    """``check_func_call`` of a global function (6.18): not entered -- its arguments
    were checked against its BTF prototype, it is verified on its own later
    (``do_check_subprogs``), and R0 comes back an unknown 64-bit scalar. Not modelled:
    ``might_sleep`` (a global function calling a sleepable helper or kfunc)."""
    from .btf_info import subprog_name

    name = subprog_name(env, subprog)
    if env.cur.active_locks:
        raise env.reject(E.EINVAL, "global function calls are not allowed while holding a lock,\n"
                                   "use static function instead")
    if err:
        raise env.reject(err, f"Caller passes invalid args into func#{subprog} ('{name}')")
    if env.log_on:
        env.verbose(f"Func#{subprog} ('{name}') is global and assumed valid.\n")
    if pkt_helpers.subprog_changes_pkt_data(env, subprog):  # Linux 6.13+
        clear_all_pkt_pointers(env)
    env.subprogs[subprog].called = True
    regs = caller.regs
    for i in range(6):
        mark_not_init(regs[i], env.bpf_capable)
        env.check_reg_arg(i, DST_OP_NO_MARK)
    mark_unknown(regs[0], env.bpf_capable)
    regs[0].subreg_def = 0
    env.aux[env.insn_idx].subprog = subprog


def prepare_func_exit(env: Env) -> None:
    st = env.cur
    callee = st.frame[st.curframe]
    r0 = callee.regs[0]
    if r0.type == PTR_TO_STACK:
        raise env.reject(E.EINVAL, "cannot return stack pointer to the caller")
    caller = st.frame[st.curframe - 1]
    in_callback_fn = callee.in_callback_fn
    if in_callback_fn:
        if r0.type != SCALAR_VALUE:
            raise env.reject(E.EACCES, "R0 not a scalar value")
        precision.mark_chain_precision(env, 0)  # the callback's return decides the iteration
        lo, hi = callee.callback_ret_range
        if not (lo <= r0.smin and r0.smax <= hi):  # retval_range_within, 64-bit
            raise env.reject(E.EINVAL, _invalid_scalar(r0, (lo, hi), "At callback return", "R0"))
        if not env.calls_callback[callee.callsite]:
            raise env.reject(E.EFAULT, f"verifier bug: in callback at {env.insn_idx}, callsite "
                                       f"{callee.callsite} !calls_callback")
        # back to the helper call: it pushes the callback's next visit
        env.insn_idx = callee.callsite
    else:
        caller.regs[0].assign(r0)
        env.insn_idx = callee.callsite + 1
    if env.log_on:
        env.verbose("returning from callee:\n")
        env.print_verifier_state(st, st.curframe, True)
        env.verbose(f"to caller at {env.insn_idx}:\n")
        env.print_verifier_state(st, st.curframe - 1, True)
    st.frame.pop()
    st.curframe -= 1
    if in_callback_fn:
        # widen imprecise scalars against the previous visit of the call (as
        # process_iter_next_call does for iterators): ``ctx->i++`` in a callback converges
        from .analyzer import find_prev_entry, widen_imprecise_scalars
        prev = find_prev_entry(env, st, env.insn_idx)
        if prev is not None:
            widen_imprecise_scalars(env, prev, st)


def _invalid_scalar(reg: RegState, rng: tuple[int, int], ctx: str, reg_name: str) -> str:
    """``verbose_invalid_scalar``."""
    parts = [f"{ctx} the register {reg_name} has"]
    if reg.smin > -(1 << 63):
        parts.append(f" smin={reg.smin}")
    if reg.smax < (1 << 63) - 1:
        parts.append(f" smax={reg.smax}")
    if len(parts) == 1:
        parts.append(" unknown scalar value")
    parts.append(f" should have been in [{rng[0]}, {rng[1]}]")
    return "".join(parts)

# --- exits -------------------------------------------------------------------------------------
def check_resource_leak(env: Env, exception_exit: bool, check_lock: bool, prefix: str) -> None:
    """``check_resource_leak`` (6.18): a held spin lock first, then ``check_reference_leak``
    (each lingering pointer reference reported, then ``<prefix> would lead to reference
    leak``; only at the main program's exit or an exception exit; a struct_ops program may
    return in R0 a reference it holds), then a saved IRQ flag, an RCU read section and a
    preemption-disabled region left open."""
    st = env.cur
    if check_lock and st.active_locks:
        raise env.reject(E.EINVAL, f"{prefix} cannot be used inside bpf_spin_lock-ed region")
    if not st.curframe or exception_exit:
        r0 = st.frame[st.curframe].regs[0]
        lingering = False
        for r in st.refs:
            if r.type != REF_TYPE_PTR:
                continue
            if env.attr.prog_type == 27 and not exception_exit and r0.ref_obj_id == r.id:
                continue
            env.verbose(f"Unreleased reference id={r.id} alloc_insn={r.insn_idx}\n")
            lingering = True
        if lingering:
            raise env.reject(E.EINVAL, f"{prefix} would lead to reference leak")
    if check_lock and st.active_irq_id:
        raise env.reject(E.EINVAL, f"{prefix} cannot be used inside bpf_local_irq_save-ed region")
    if check_lock and st.active_rcu_lock:
        raise env.reject(E.EINVAL, f"{prefix} cannot be used inside bpf_rcu_read_lock-ed region")
    if check_lock and st.active_preempt_locks:
        raise env.reject(E.EINVAL, f"{prefix} cannot be used inside bpf_preempt_disable-ed region")


def check_return_code(env: Env, regno: int, reg_name: str) -> None:
    """``check_return_code``."""
    exit_ctx = "At program exit"
    st = env.cur
    frame = st.frame[0]
    # the exception callback returns for the program (its range is the program type's)
    is_subprog = frame.subprogno != 0 and not frame.in_exception_callback_fn
    reg = env.cur_regs()[regno]
    ptype = env.attr.prog_type
    if not is_subprog and ptype == 27:  # BPF_PROG_TYPE_STRUCT_OPS
        proto = env.attach_func_proto
        if proto is None or proto.ret_type_id == 0:
            return
    env.check_reg_arg(regno, SRC_OP)
    if is_pointer_value(env.allow_ptr_leaks, reg):
        raise env.reject(E.EACCES, f"R{regno} leaks addr as return value")
    if frame.in_async_callback_fn:
        # an async callback (a timer's) returns 0 (6.18: its callback_ret_range)
        _enforce_retval(env, reg, regno, reg_name, frame.callback_ret_range, "At async callback return")
        return
    if is_subprog:
        if reg.type != SCALAR_VALUE:
            raise env.reject(E.EINVAL, f"At subprogram exit the register R{regno} is not a scalar value "
                                       f"({reg_type_str(reg.type)})")
        return
    rng = env.retval_range
    if rng is None:
        return
    _enforce_retval(env, reg, regno, reg_name, rng, exit_ctx)


def _enforce_retval(env: Env, reg: RegState, regno: int, reg_name: str, rng: tuple[int, int],
                    exit_ctx: str) -> None:
    """``check_return_code``'s ``enforce_retval``: a known scalar, made precise, in ``rng``."""
    if reg.type != SCALAR_VALUE:
        raise env.reject(E.EINVAL, f"{exit_ctx} the register R{regno} is not a known value "
                                   f"({reg_type_str(reg.type)})")
    precision.mark_chain_precision(env, regno)
    if not (rng[0] <= reg.smin and reg.smax <= rng[1]):
        raise env.reject(E.EINVAL, _invalid_scalar(reg, rng, exit_ctx, reg_name))

# --- lddw and legacy packet loads --------------------------------------------------------------
def check_ld_imm(env: Env, insn: DInsn) -> None:
    regs = env.cur_regs()
    if insn.size != isa.DW:
        raise env.reject(E.EINVAL, "invalid BPF_LD_IMM insn")
    if insn.off:
        raise env.reject(E.EINVAL, "BPF_LD_IMM64 uses reserved fields")
    env.check_reg_arg(insn.dst, DST_OP)
    dst = regs[insn.dst]
    idx = env.insn_idx
    second = env.insns[idx + 1]
    if insn.src == 0:
        dst.type = SCALAR_VALUE
        from .regs import mark_known
        mark_known(dst, imm64(insn.raw, second.raw))
        return
    mark_known_zero(dst)
    aux = env.aux[idx]
    if insn.src == isa.PSEUDO_BTF_ID:
        # check_ld_imm: the type check_pseudo_btf_id chose (verifier.ksyms: functions only)
        if base_type(aux.btf_var_type) != PTR_TO_MEM:
            raise env.reject(E.EINVAL, "pseudo btf_id ldimm64 is not modelled")
        dst.type = aux.btf_var_type
        dst.mem_size = aux.btf_var_mem_size
        return
    if insn.src == isa.PSEUDO_FUNC:
        subprogno = env.find_subprog(idx + insn.imm + 1)
        # check_ld_imm: the linkage of the load's func_info records (btf_info.check_btf_func
        # sets each Subprog's), or the attribute given instead for assembly programs
        linkage: Sequence[int] | None = env.attr.func_linkage
        if env.attr.func_info:
            linkage = [sp.linkage for sp in env.subprogs]
        if linkage is None:
            raise env.reject(E.EINVAL, "missing btf func_info")
        if subprogno < 0 or subprogno >= len(linkage) or linkage[subprogno] != 0:  # BTF_FUNC_STATIC
            raise env.reject(E.EINVAL, "callback function not static")
        dst.type = PTR_TO_FUNC
        dst.subprogno = subprogno
        return
    m = aux.map
    dst.map = m
    if insn.src in (isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
        dst.type = PTR_TO_MAP_VALUE
        dst.off = aux.map_off
    else:
        dst.type = CONST_PTR_TO_MAP


def check_ld_abs(env: Env, insn: DInsn) -> None:
    regs = env.cur_regs()
    mode = insn.mode
    if env.attr.prog_type not in (1, 3, 4):  # may_access_skb: socket filter, sched_cls, sched_act
        raise env.reject(E.EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type")
    if insn.dst or insn.off or insn.size == isa.DW or (mode == isa.ABS and insn.src):
        raise env.reject(E.EINVAL, "BPF_LD_[ABS|IND] uses reserved fields")
    env.check_reg_arg(6, SRC_OP)
    check_resource_leak(env, False, True, "BPF_LD_[ABS|IND]")
    if regs[6].type != PTR_TO_CTX:
        raise env.reject(E.EINVAL, "at the time of BPF_LD_ABS|IND R6 != pointer to skb")
    if mode == isa.IND:
        env.check_reg_arg(insn.src, SRC_OP)
    mem.check_ptr_off_reg(env, regs[6], 6, False)
    for i in range(6):
        mark_not_init(regs[i], env.bpf_capable)
        env.check_reg_arg(i, DST_OP_NO_MARK)
    mark_unknown(regs[0], env.bpf_capable)
    regs[0].subreg_def = env.insn_idx + 1
    if env.cur.curframe:
        # 6.18 ("bpf: Fix ld_{abs,ind} failure path analysis in subprogs"): the code
        # bpf_gen_ld_abs() emits returns 0 from the function when the load fails; in a
        # subprogram that is a return to the caller, explored here, while the success
        # path (R0 unknown, the next instruction) is pushed for later
        env.scratched_regs |= 1
        env.push_stack(env.insn_idx + 1, env.insn_idx, False)
        mark_known_zero(regs[0])
        env.stack_live.update_live_stack(env.cur, env.sp_starts)
        prepare_func_exit(env)
        env.insn_idx -= 1

# --- kfuncs ------------------------------------------------------------------------------------
def check_kfunc_call(env: Env, insn: DInsn) -> None:
    from .kfuncs import check_kfunc_call
    check_kfunc_call(env, insn)
