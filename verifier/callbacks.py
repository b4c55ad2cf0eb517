"""Synchronous callbacks: ``bpf_loop`` and ``bpf_for_each_map_elem``.

Models kernel/bpf/verifier.c (Linux 6.18):

* ``push_callback_call``: the callback subprogram is marked ``is_cb``; a copy of the
  current state, with a new frame for the callback, goes on the branch stack (to be
  verified later from the callback's first instruction) and the current state goes
  on past the helper call. The copy's ``callback_unroll_depth`` and its caller frame's
  ``callback_depth`` grow by one; the caller's ``callback_depth`` is reset. The
  callback's exit (``calls.prepare_func_exit``) returns to the helper call itself, so
  the call is checked again with the state the callback left: the callback is
  verified as if called any number of times, until ``is_state_visited`` finds an
  equal state at the call (``bpf_calls_callback``: a loop back-edge).
* ``setup_func_entry`` with ``set_loop_callback_state`` (``callback_fn(u32 index,
  void *ctx)``: R1 an unknown scalar, R2 the caller's R3) and the array/hash maps'
  ``map_set_for_each_callback_args`` via ``set_map_elem_callback_state``
  (``callback_fn(map, key, value, ctx)``), both with the callback return range [0, 1];
* ``bpf_loop``'s checks in ``check_helper_call``: ``update_loop_inline_state`` (R4,
  the flags, marked precise when it is the constant 0; ``insn_aux.loop_inline`` says
  whether the call could be inlined), R1 marked precise, and no new callback visit
  once ``callback_depth`` reached R1's maximum (``frame%d bpf_loop iteration limit
  reached`` at log level 2).

Left out: ``bpf_find_vma`` and ``bpf_user_ringbuf_drain`` (their helpers are not
modelled), async callbacks (timers, workqueues), callback-calling kfuncs.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Callable, Final

from kernel_model import isa

from . import precision
from .regs import (
    PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, SCALAR_VALUE, mark_known_zero, mark_not_init, register_is_null,
)
from .state import FuncState

if TYPE_CHECKING:
    from .core import Env
    from .decoded import DInsn

__all__ = ["push_callback_call", "set_loop_callback_state", "set_map_elem_callback_state", "check_loop_call",
           "FOR_EACH_MAP_TYPES", "BPF_FUNC_LOOP", "BPF_FUNC_FOR_EACH_MAP_ELEM"]

BPF_FUNC_FOR_EACH_MAP_ELEM: Final = 164
BPF_FUNC_LOOP: Final = 181
#: map types whose ops have map_set_for_each_callback_args and map_for_each_callback
#: (kernel/bpf/arraymap.c, kernel/bpf/hashtab.c): array, percpu array, hash, percpu
#: hash, LRU hash, LRU percpu hash
FOR_EACH_MAP_TYPES: Final = frozenset({1, 2, 5, 6, 9, 10})

SetCallee = Callable[["Env", FuncState, FuncState, int, Any], None]


def set_loop_callback_state(env: Env, caller: FuncState, callee: FuncState, insn_idx: int, map_: Any) -> None:
    """``set_loop_callback_state``: ``callback_fn(u32 index, void *callback_ctx)``."""
    callee.regs[1].type = SCALAR_VALUE
    callee.regs[2].assign(caller.regs[3])
    for r in (3, 4, 5):
        mark_not_init(callee.regs[r], env.bpf_capable)
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def set_map_elem_callback_state(env: Env, caller: FuncState, callee: FuncState, insn_idx: int, map_: Any) -> None:
    """``set_map_elem_callback_state`` with the array/hash maps'
    ``map_set_for_each_callback_args``: ``callback_fn(map, key, value, callback_ctx)``."""
    if map_ is None or map_.map_type not in FOR_EACH_MAP_TYPES:
        raise env.reject(524, "callback function not allowed for map")  # ENOTSUPP
    callee.regs[1].assign(caller.regs[1])
    for regno, t in ((2, PTR_TO_MAP_KEY), (3, PTR_TO_MAP_VALUE)):
        reg = callee.regs[regno]
        reg.type = t
        mark_known_zero(reg)
        reg.map = map_
    callee.regs[4].assign(caller.regs[3])
    mark_not_init(callee.regs[5], env.bpf_capable)
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def push_callback_call(env: Env, insn_idx: int, subprog: int, set_callee: SetCallee, map_: Any = None) -> None:
    """``push_callback_call`` for a synchronous callback (``setup_func_entry`` on the
    pushed copy)."""
    st = env.cur
    caller = st.frame[st.curframe]
    env.subprogs[subprog].is_cb = True
    cb = env.push_stack(env.subprogs[subprog].start, insn_idx, False)
    # setup_func_entry
    if cb.curframe + 1 >= isa.MAX_CALL_FRAMES:
        raise env.reject(E.E2BIG, f"the call stack of {cb.curframe + 2} frames is too deep")
    callee = env.init_func_state(insn_idx, cb.curframe + 1, subprog)
    set_callee(env, cb.frame[cb.curframe], callee, insn_idx, map_)
    del cb.frame[cb.curframe + 1:]
    cb.frame.append(callee)
    cb.curframe += 1
    cb.callback_unroll_depth += 1
    cb.frame[cb.curframe - 1].callback_depth += 1
    caller.callback_depth = 0


def check_loop_call(env: Env, insn: DInsn, subprog: int) -> None:
    """The ``BPF_FUNC_loop`` case of ``check_helper_call``."""
    idx = env.insn_idx
    regs = env.cur_regs()
    # update_loop_inline_state / loop_flag_is_zero
    aux = env.aux[idx]
    flag_zero = register_is_null(regs[4])
    if flag_zero:
        precision.mark_chain_precision(env, 4)
    if not aux.loop_inline_init:
        aux.loop_inline_init = True
        aux.loop_inline = flag_zero
        aux.loop_callback = subprog
    elif aux.loop_inline:
        aux.loop_inline = flag_zero and aux.loop_callback == subprog
    precision.mark_chain_precision(env, 1)
    cur = env.cur_func()
    if cur.callback_depth < regs[1].umax:
        push_callback_call(env, idx, subprog, set_loop_callback_state)
    else:
        cur.callback_depth = 0
        if env.level2:
            env.verbose(f"frame{env.cur.curframe} bpf_loop iteration limit reached\n")
