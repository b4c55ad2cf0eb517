"""Dynptrs: ``struct bpf_dynptr`` objects in two stack slots, and their slices.

Models kernel/bpf/verifier.c (Linux 6.12 sources; the 6.18 host agrees on every rule
and message below, checked with tests/verifier/test_dynptrs.py):

* ``dynptr_get_spi`` (``stack_slot_obj_get_spi`` with ``"dynptr"``, 2 slots: ``dynptr
  has to be at a constant offset``, ``cannot pass in dynptr at an offset=%d``);
* ``mark_stack_slots_dynptr`` (both slots become STACK_DYNPTR, the dynptr gets a
  fresh id, a ringbuf dynptr a REF_TYPE_PTR reference -- or its parent's for a clone),
  ``invalidate_dynptr``, ``unmark_stack_slots_dynptr`` (a release: a refcounted dynptr's
  reference is dropped with every slice and every clone), ``destroy_if_dynptr_stack_slot``
  (a stack write over a dynptr: ``cannot overwrite referenced dynptr``, else both slots
  become STACK_INVALID and its slices are invalidated);
* ``is_dynptr_reg_valid_uninit`` / ``is_dynptr_reg_valid_init`` /
  ``is_dynptr_type_expected``, ``mark_dynptr_read`` and ``process_dynptr_func`` (``arg#%d
  expected pointer to stack or const struct bpf_dynptr``, ``Dynptr has to be an
  uninitialized dynptr``, ``cannot pass pointer to const bpf_dynptr, the helper mutates
  it``, ``Expected an initialized dynptr as arg #%d``, ``Expected a dynptr of type %s as
  arg #%d``);
* ``dynptr_id`` / ``dynptr_ref_obj_id`` / ``dynptr_get_type`` (what a slice inherits);
* ``mark_dynptr_cb_reg``: the CONST_PTR_TO_DYNPTR a ``bpf_user_ringbuf_drain`` callback
  gets in R1.

``struct bpf_reg_state``'s union is kept as the kernel lays it out: a dynptr slot's
``dynptr.type`` shares ``mem_size`` and ``dynptr.first_slot`` shares a slice's
``dynptr_id`` (both in the model's ``btf_id``: the kernel's ``u32 dynptr_id`` overlays
``first_slot``, so the log prints ``dynptr_id=1`` on a dynptr's first slot too).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Final

from kernel_model import isa

from .refs import acquire_reference, mark_reg_invalid, release_reference, for_each_reg_in_vstate
from .regs import (
    CONST_PTR_TO_DYNPTR, DYNPTR_TYPE_LOCAL, DYNPTR_TYPE_RINGBUF, DYNPTR_TYPE_SKB, DYNPTR_TYPE_XDP, MEM_RDONLY, MEM_UNINIT, PTR_MAYBE_NULL, PTR_TO_MEM, PTR_TO_STACK, RegState,
    mark_known_zero, mark_not_init,
)
from .state import BPF_REG_SIZE, STACK_DYNPTR, STACK_INVALID, FuncState

if TYPE_CHECKING:
    from .core import Env

__all__ = [
    "BPF_DYNPTR_TYPE_INVALID", "BPF_DYNPTR_TYPE_LOCAL", "BPF_DYNPTR_TYPE_RINGBUF", "BPF_DYNPTR_TYPE_SKB",
    "BPF_DYNPTR_TYPE_XDP", "DYNPTR_TYPE_LOCAL", "DYNPTR_TYPE_RINGBUF", "DYNPTR_TYPE_SKB", "DYNPTR_TYPE_XDP",
    "DYNPTR_TYPE_FLAG_MASK", "BPF_DYNPTR_NR_SLOTS", "BPF_DYNPTR_SIZE", "arg_to_dynptr_type",
    "get_dynptr_type_flag", "dynptr_type_refcounted", "dynptr_type_str", "dynptr_get_spi",
    "process_dynptr_func", "unmark_stack_slots_dynptr", "destroy_if_dynptr_stack_slot", "dynptr_id",
    "dynptr_ref_obj_id", "dynptr_get_type", "mark_dynptr_cb_reg", "slot_type", "slot_first",
]

# enum bpf_dynptr_type (include/linux/bpf.h)
BPF_DYNPTR_TYPE_INVALID: Final = 0
BPF_DYNPTR_TYPE_LOCAL: Final = 1
BPF_DYNPTR_TYPE_RINGBUF: Final = 2
BPF_DYNPTR_TYPE_SKB: Final = 3
BPF_DYNPTR_TYPE_XDP: Final = 4

# enum bpf_type_flag's dynptr bits: DYNPTR_TYPE_LOCAL ... from verifier.regs
DYNPTR_TYPE_FLAG_MASK: Final = DYNPTR_TYPE_LOCAL | DYNPTR_TYPE_RINGBUF | DYNPTR_TYPE_SKB | DYNPTR_TYPE_XDP

#: include/linux/bpf.h: BPF_DYNPTR_SIZE (sizeof(struct bpf_dynptr_kern)) and its slots
BPF_DYNPTR_SIZE: Final = 16
BPF_DYNPTR_NR_SLOTS: Final = BPF_DYNPTR_SIZE // BPF_REG_SIZE

#: enum bpf_arg_type's ARG_PTR_TO_DYNPTR (verifier.helpers has it too; not imported: no cycle)
_ARG_PTR_TO_DYNPTR: Final = 24

_FLAG_TO_TYPE: Final = {DYNPTR_TYPE_LOCAL: BPF_DYNPTR_TYPE_LOCAL, DYNPTR_TYPE_RINGBUF: BPF_DYNPTR_TYPE_RINGBUF,
                        DYNPTR_TYPE_SKB: BPF_DYNPTR_TYPE_SKB, DYNPTR_TYPE_XDP: BPF_DYNPTR_TYPE_XDP}
_TYPE_TO_FLAG: Final = {v: k for k, v in _FLAG_TO_TYPE.items()}
_TYPE_STR: Final = {BPF_DYNPTR_TYPE_LOCAL: "local", BPF_DYNPTR_TYPE_RINGBUF: "ringbuf",
                    BPF_DYNPTR_TYPE_SKB: "skb", BPF_DYNPTR_TYPE_XDP: "xdp", BPF_DYNPTR_TYPE_INVALID: "<invalid>"}


def arg_to_dynptr_type(arg_type: int) -> int:
    """``arg_to_dynptr_type``."""
    return _FLAG_TO_TYPE.get(arg_type & DYNPTR_TYPE_FLAG_MASK, BPF_DYNPTR_TYPE_INVALID)


def get_dynptr_type_flag(dtype: int) -> int:
    """``get_dynptr_type_flag``."""
    return _TYPE_TO_FLAG.get(dtype, 0)


def dynptr_type_refcounted(dtype: int) -> bool:
    """``dynptr_type_refcounted``: only ringbuf dynptrs hold a reference."""
    return dtype == BPF_DYNPTR_TYPE_RINGBUF


def dynptr_type_str(dtype: int) -> str:
    """``dynptr_type_str`` (kernel/bpf/log.c)."""
    return _TYPE_STR.get(dtype, "<unknown>")


# the union members of a dynptr slot's spilled register (see the module docstring)
def slot_type(reg: RegState) -> int:
    """``reg->dynptr.type``."""
    return reg.mem_size


def slot_first(reg: RegState) -> bool:
    """``reg->dynptr.first_slot``."""
    return bool(reg.btf_id)


def _c_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def dynptr_get_spi(env: Env, reg: RegState) -> int:
    """``dynptr_get_spi``: the first slot's index, or -EINVAL (logged) / -ERANGE."""
    if reg.var_off[1]:
        env.verbose("dynptr has to be at a constant offset\n")
        return -E.EINVAL
    off = (reg.off + reg.var_off[0]) & 0xFFFFFFFF
    if off >= 1 << 31:
        off -= 1 << 32
    if off % BPF_REG_SIZE:  # non-zero exactly when C's remainder is
        env.verbose(f"cannot pass in dynptr at an offset={off}\n")
        return -E.EINVAL
    spi = _c_div(-off - 1, BPF_REG_SIZE)
    if spi + 1 < BPF_DYNPTR_NR_SLOTS:
        env.verbose(f"cannot pass in dynptr at an offset={off}\n")
        return -E.EINVAL
    state = env.func_of(reg)
    if not (spi - BPF_DYNPTR_NR_SLOTS + 1 >= 0 and spi < len(state.stack)):
        return -E.ERANGE
    return spi


def _mark_dynptr_reg(reg: RegState, dtype: int, first_slot: bool, did: int) -> None:
    """``__mark_dynptr_reg``."""
    mark_known_zero(reg)
    reg.type = CONST_PTR_TO_DYNPTR
    reg.id = did
    reg.mem_size = dtype
    reg.btf_id = 1 if first_slot else 0


def mark_dynptr_cb_reg(env: Env, reg: RegState, dtype: int) -> None:
    """``mark_dynptr_cb_reg``: a callback's ``const struct bpf_dynptr *`` argument."""
    _mark_dynptr_reg(reg, dtype, True, env.new_id())


def _scratch(env: Env, spi: int) -> None:
    env.scratched_stack |= 1 << spi


def _set_types(state: FuncState, spi: int, t: int) -> None:
    state.stack[spi].types = [t] * BPF_REG_SIZE
    state.stack[spi - 1].types = [t] * BPF_REG_SIZE


def _invalidate_slices(env: Env, did: int) -> None:
    for dreg in for_each_reg_in_vstate(env.cur):
        # dynptr slices are only PTR_TO_MEM_OR_NULL and PTR_TO_MEM
        if dreg.type not in (PTR_TO_MEM | PTR_MAYBE_NULL, PTR_TO_MEM):
            continue
        if dreg.btf_id == did:
            mark_reg_invalid(env, dreg)


def destroy_if_dynptr_stack_slot(env: Env, state: FuncState, spi: int) -> None:
    """``destroy_if_dynptr_stack_slot``: a write into slot ``spi`` of a dynptr destroys it
    (both slots STACK_INVALID, its slices invalid); refused for a referenced one."""
    if not 0 <= spi < len(state.stack) or state.stack[spi].types[0] != STACK_DYNPTR:
        return
    if not slot_first(state.stack[spi].spilled):
        spi += 1
    if dynptr_type_refcounted(slot_type(state.stack[spi].spilled)):
        raise env.reject(E.EINVAL, "cannot overwrite referenced dynptr")
    _scratch(env, spi)
    _scratch(env, spi - 1)
    _set_types(state, spi, STACK_INVALID)
    _invalidate_slices(env, state.stack[spi].spilled.id)
    mark_not_init(state.stack[spi].spilled, env.bpf_capable)
    mark_not_init(state.stack[spi - 1].spilled, env.bpf_capable)


def _mark_stack_slots(env: Env, reg: RegState, arg_type: int, insn_idx: int, clone_ref_obj_id: int) -> None:
    """``mark_stack_slots_dynptr``."""
    state = env.func_of(reg)
    spi = dynptr_get_spi(env, reg)
    if spi < 0:
        raise env.reject(-spi)
    # both slots may belong to different dynptrs: destroy each
    destroy_if_dynptr_stack_slot(env, state, spi)
    destroy_if_dynptr_stack_slot(env, state, spi - 1)
    _set_types(state, spi, STACK_DYNPTR)
    dtype = arg_to_dynptr_type(arg_type)
    if dtype == BPF_DYNPTR_TYPE_INVALID:
        raise env.reject(E.EINVAL)
    did = env.new_id()
    _mark_dynptr_reg(state.stack[spi].spilled, dtype, True, did)
    _mark_dynptr_reg(state.stack[spi - 1].spilled, dtype, False, did)
    if dynptr_type_refcounted(dtype):
        rid = clone_ref_obj_id or acquire_reference(env, insn_idx)
        state.stack[spi].spilled.ref_obj_id = rid
        state.stack[spi - 1].spilled.ref_obj_id = rid
    env.stack_write_mark(state, spi, 0, BPF_REG_SIZE)
    env.stack_write_mark(state, spi - 1, 0, BPF_REG_SIZE)


def _invalidate_dynptr(env: Env, state: FuncState, spi: int) -> None:
    """``invalidate_dynptr`` (6.18: both slots count as written for stack liveness, as the
    host's level-2 log shows)."""
    _set_types(state, spi, STACK_INVALID)
    mark_not_init(state.stack[spi].spilled, env.bpf_capable)
    mark_not_init(state.stack[spi - 1].spilled, env.bpf_capable)
    env.stack_write_mark(state, spi, 0, BPF_REG_SIZE)
    env.stack_write_mark(state, spi - 1, 0, BPF_REG_SIZE)


def unmark_stack_slots_dynptr(env: Env, reg: RegState) -> None:
    """``unmark_stack_slots_dynptr``: the release of a dynptr (``bpf_ringbuf_submit_dynptr``
    ...): its reference, slices and clones go."""
    state = env.func_of(reg)
    spi = dynptr_get_spi(env, reg)
    if spi < 0:
        raise env.reject(-spi)
    if not dynptr_type_refcounted(slot_type(state.stack[spi].spilled)):
        _invalidate_dynptr(env, state, spi)
        return
    ref = state.stack[spi].spilled.ref_obj_id
    release_reference(env, ref)  # the slices hold the same ref_obj_id
    for i in range(1, len(state.stack)):
        if state.stack[i].spilled.ref_obj_id != ref:
            continue
        if state.stack[i].types[0] != STACK_DYNPTR:
            raise env.reject(E.EFAULT, "verifier internal error: misconfigured ref_obj_id")
        if slot_first(state.stack[i].spilled):
            _invalidate_dynptr(env, state, i)


def _valid_uninit(env: Env, reg: RegState) -> bool:
    """``is_dynptr_reg_valid_uninit``."""
    if reg.type == CONST_PTR_TO_DYNPTR:
        return False
    spi = dynptr_get_spi(env, reg)
    return not (spi < 0 and spi != -E.ERANGE)


def _valid_init(env: Env, reg: RegState) -> bool:
    """``is_dynptr_reg_valid_init``."""
    if reg.type == CONST_PTR_TO_DYNPTR:
        return True
    spi = dynptr_get_spi(env, reg)
    if spi < 0:
        return False
    state = env.func_of(reg)
    if not slot_first(state.stack[spi].spilled):
        return False
    return all(t == STACK_DYNPTR for t in state.stack[spi].types) and \
        all(t == STACK_DYNPTR for t in state.stack[spi - 1].types)


def _type_expected(env: Env, reg: RegState, arg_type: int) -> bool:
    """``is_dynptr_type_expected``."""
    if arg_type == _ARG_PTR_TO_DYNPTR:
        return True  # plain ARG_PTR_TO_DYNPTR takes any type
    want = arg_to_dynptr_type(arg_type)
    if reg.type == CONST_PTR_TO_DYNPTR:
        return slot_type(reg) == want
    spi = dynptr_get_spi(env, reg)
    if spi < 0:
        return False
    return slot_type(env.func_of(reg).stack[spi].spilled) == want


def _mark_read(env: Env, reg: RegState) -> None:
    """``mark_dynptr_read``."""
    if reg.type == CONST_PTR_TO_DYNPTR:
        return
    spi = dynptr_get_spi(env, reg)
    if spi < 0:
        raise env.reject(-spi)
    state = env.func_of(reg)
    for i in range(BPF_DYNPTR_NR_SLOTS):  # 6.18 mark_stack_slot_obj_read: read and scratched
        env.stack_read_mark(state, spi - i)
        _scratch(env, spi - i)


def process_dynptr_func(env: Env, regno: int, insn_idx: int, arg_type: int, clone_ref_obj_id: int) -> None:
    """``process_dynptr_func``: a dynptr argument of a helper or kfunc (``arg_type`` is an
    ``ARG_PTR_TO_DYNPTR`` with its DYNPTR_TYPE_*, MEM_UNINIT / MEM_RDONLY flags)."""
    from . import mem
    reg = env.cur_regs()[regno]
    if reg.type not in (PTR_TO_STACK, CONST_PTR_TO_DYNPTR):
        raise env.reject(E.EINVAL, f"arg#{regno - 1} expected pointer to stack or const struct bpf_dynptr")
    if arg_type & MEM_UNINIT and arg_type & MEM_RDONLY:
        raise env.reject(E.EFAULT, "verifier internal error: misconfigured dynptr helper type flags")
    if arg_type & MEM_UNINIT:
        if not _valid_uninit(env, reg):
            raise env.reject(E.EINVAL, "Dynptr has to be an uninitialized dynptr")
        for i in range(0, BPF_DYNPTR_SIZE, 8):  # BPF_DW at a time
            mem.check_mem_access(env, insn_idx, regno, i, isa.DW, mem.BPF_WRITE, -1, False, False)
        _mark_stack_slots(env, reg, arg_type, insn_idx, clone_ref_obj_id)
        return
    if reg.type == CONST_PTR_TO_DYNPTR and not arg_type & MEM_RDONLY:
        raise env.reject(E.EINVAL, "cannot pass pointer to const bpf_dynptr, the helper mutates it")
    if not _valid_init(env, reg):
        raise env.reject(E.EINVAL, f"Expected an initialized dynptr as arg #{regno - 1}")
    if not _type_expected(env, reg, arg_type & ~MEM_RDONLY):
        raise env.reject(E.EINVAL, f"Expected a dynptr of type {dynptr_type_str(arg_to_dynptr_type(arg_type))} "
                                   f"as arg #{regno - 1}")
    _mark_read(env, reg)


def dynptr_id(env: Env, reg: RegState) -> int:
    """``dynptr_id``: the id slices of this dynptr carry."""
    if reg.type == CONST_PTR_TO_DYNPTR:
        return reg.id
    spi = dynptr_get_spi(env, reg)
    if spi < 0:
        return spi
    return env.func_of(reg).stack[spi].spilled.id


def dynptr_ref_obj_id(env: Env, reg: RegState) -> int:
    """``dynptr_ref_obj_id``."""
    if reg.type == CONST_PTR_TO_DYNPTR:
        return reg.ref_obj_id
    spi = dynptr_get_spi(env, reg)
    if spi < 0:
        return spi
    return env.func_of(reg).stack[spi].spilled.ref_obj_id


def dynptr_get_type(env: Env, reg: RegState) -> int:
    """``dynptr_get_type``."""
    if reg.type == CONST_PTR_TO_DYNPTR:
        return slot_type(reg)
    off = reg.off
    spi = _c_div(-off - 1, BPF_REG_SIZE)
    if spi < 0:
        env.verbose("verifier internal error: invalid spi when querying dynptr type\n")
        return BPF_DYNPTR_TYPE_INVALID
    return slot_type(env.func_of(reg).stack[spi].spilled)


def stacksafe_dynptr(old: RegState, cur: RegState) -> tuple[bool, int, int]:
    """The STACK_DYNPTR case of ``stacksafe``: type and first_slot equal; the caller
    checks ``ref_obj_id`` through its idmap (returned ids)."""
    return (slot_type(old) == slot_type(cur) and slot_first(old) == slot_first(cur),
            old.ref_obj_id, cur.ref_obj_id)


def set_user_ringbuf_callback_state(env: Env, caller: FuncState, callee: FuncState, insn_idx: int,
                                    map_: object) -> None:
    """``set_user_ringbuf_callback_state``: ``callback_fn(const struct bpf_dynptr *dynptr,
    void *callback_ctx)`` -- R1 a local CONST_PTR_TO_DYNPTR, R2 the caller's R3."""
    mark_not_init(callee.regs[0], env.bpf_capable)
    mark_dynptr_cb_reg(env, callee.regs[1], BPF_DYNPTR_TYPE_LOCAL)
    callee.regs[2].assign(caller.regs[3])
    for r in (3, 4, 5):
        mark_not_init(callee.regs[r], env.bpf_capable)
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def clear_all_pkt_pointers(env: Env) -> None:
    """``clear_all_pkt_pointers``: after a helper that changes packet data, every packet
    pointer and every skb/xdp dynptr slice (``reg_is_dynptr_slice_pkt``) is invalid."""
    from .regs import PTR_TO_PACKET, PTR_TO_PACKET_END, PTR_TO_PACKET_META, base_type
    for reg in for_each_reg_in_vstate(env.cur):
        bt = base_type(reg.type)
        if bt in (PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_PACKET_END) or \
                (bt == PTR_TO_MEM and reg.type & (DYNPTR_TYPE_SKB | DYNPTR_TYPE_XDP)):
            mark_reg_invalid(env, reg)


class SliceBuf:
    """The stack buffer a ``bpf_dynptr_slice(_rdwr)`` slice may be (6.18: the slice's
    ``buf=fp[frame]off+size`` in the log). Kept in the slice register's ``map`` field
    (unused by PTR_TO_MEM); compared by identity in state pruning (never equal across
    slices: more states explored, never fewer)."""

    __slots__ = ("frameno", "off", "size")

    def __init__(self, frameno: int, off: int, size: int) -> None:
        self.frameno = frameno
        self.off = off
        self.size = size

    def __str__(self) -> str:
        return f"fp[{self.frameno}]{self.off}+{self.size}"


def invalidate_slices_on_stack(env: Env, frameno: int, lo: int, hi: int) -> None:
    """A stack write of bytes [lo, hi) of frame ``frameno`` invalidates every slice whose
    buffer overlaps them (6.18 host: a slice that may be its stack buffer is not read
    after the buffer changed)."""
    for reg in for_each_reg_in_vstate(env.cur):
        b = reg.map
        if isinstance(b, SliceBuf) and b.frameno == frameno and b.off < hi and lo < b.off + b.size \
                and reg.type & 0xFF == PTR_TO_MEM:
            mark_reg_invalid(env, reg)
