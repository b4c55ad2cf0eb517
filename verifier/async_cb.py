"""Asynchronous callbacks: the BPF timer helpers.

Models kernel/bpf/verifier.c (Linux 6.18):

* ``process_timer_func`` (the ``ARG_PTR_TO_TIMER`` argument of ``bpf_timer_init``,
  ``bpf_timer_set_callback``, ``bpf_timer_start``, ``bpf_timer_cancel``; ``timer_types``:
  a map value, not maybe-NULL): a constant offset (``R%d doesn't have constant offset.
  bpf_timer has to be at the constant offset``), a map with BTF (``map '%s' has to have
  BTF in order to use bpf_timer``) whose value's ``btf_record`` has a ``struct bpf_timer``
  (``map '%s' has no valid bpf_timer``) at exactly that offset (``off %lld doesn't point to
  'struct bpf_timer' that is at %d``); the map is remembered for ``bpf_timer_init``'s
  second argument, which must be that map (``timer pointer in R1 map_uid=%d doesn't
  match map pointer in R2 map_uid=%d``);
* ``push_callback_call`` for ``bpf_timer_set_callback`` (``is_async_callback_calling_insn``):
  the callback is marked ``is_cb`` and ``is_async_cb`` and verified later from a fresh
  state (``push_async_cb``: no copy of the caller's frames, references or locks; one frame,
  frame 0, of the callback's subprogram), with ``set_timer_callback_state``'s registers --
  ``callback_fn(struct bpf_map *map, void *key, void *value)``: R1 the map
  (``CONST_PTR_TO_MAP``), R2 a ``PTR_TO_MAP_KEY``, R3 a ``PTR_TO_MAP_VALUE`` of it -- and
  ``in_async_callback_fn``: its exit is a program exit whose R0 must be 0 (``At async
  callback return the register R0 has ... should have been in [0, 0]``); the call itself
  just returns an integer;
* ``check_max_stack_depth``: an async callback runs on a stack of its own (a root of the
  walk; a ``func[cb]`` reference does not add its frame to the caller's).

Not modelled: the workqueue kfuncs (``bpf_wq_*``, refused as not modelled), sleepable
async callbacks. (At run time the emulated kernel runs the timers: emu/kernel/timers.py.)
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Final

from .regs import (CONST_PTR_TO_MAP, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, mark_known_zero, mark_not_init, s64)
from .state import VerifierState

if TYPE_CHECKING:
    from .calls import CallMeta
    from .core import Env

__all__ = ["BPF_FUNC_timer_init", "BPF_FUNC_timer_set_callback", "process_timer_func", "push_async_callback",
           "check_timer_map_arg"]

BPF_FUNC_timer_init: Final = 169
BPF_FUNC_timer_set_callback: Final = 170
TIMER: Final = "bpf_timer"


def process_timer_func(env: Env, regno: int, meta: CallMeta) -> None:
    """``process_timer_func`` (6.18 ``check_map_field_pointer`` for ``BPF_TIMER``)."""
    reg = env.cur_regs()[regno]
    value, mask = reg.var_off
    if mask:
        raise env.reject(E.EINVAL, f"R{regno} doesn't have constant offset. {TIMER} has to be at the constant "
                                   "offset")
    m = reg.map
    if not getattr(m, "has_btf", False):
        raise env.reject(E.EINVAL, f"map '{m.name}' has to have BTF in order to use {TIMER}")
    rec = getattr(m, "record", None)
    if rec is None or not rec.has(TIMER):
        raise env.reject(E.EINVAL, f"map '{m.name}' has no valid {TIMER}")
    timer_off = rec.offset_of(TIMER)
    off = s64(value) + reg.off
    if timer_off != off:
        raise env.reject(E.EINVAL, f"off {off} doesn't point to 'struct {TIMER}' that is at {timer_off}")
    if meta.map is not None:
        raise env.reject(E.EFAULT, "verifier bug. Two map pointers in a timer helper")
    meta.map_uid = reg.map_uid
    meta.map = m


def check_timer_map_arg(env: Env, regno: int, meta: CallMeta) -> None:
    """``check_func_arg``'s ``ARG_CONST_MAP_PTR`` after a timer: the same map (and inner map)."""
    reg = env.cur_regs()[regno]
    if meta.map is not None and (meta.map is not reg.map or meta.map_uid != reg.map_uid):
        raise env.reject(E.EINVAL, f"timer pointer in R1 map_uid={meta.map_uid} doesn't match map pointer in "
                                   f"R2 map_uid={reg.map_uid}")


def push_async_callback(env: Env, insn_idx: int, subprog: int) -> None:
    """``push_callback_call`` for ``bpf_timer_set_callback``: ``push_async_cb`` +
    ``set_timer_callback_state``."""
    caller = env.cur.frame[env.cur.curframe]
    sp = env.subprogs[subprog]
    sp.is_cb = True
    sp.is_async_cb = True
    # push_async_cb: a fresh state on the branch stack, not a copy of the current one
    st = VerifierState()
    st.in_sleepable = False  # timer callbacks run in softirq
    env.head.append((st, sp.start, insn_idx, env.log.end))
    from .core import BPF_COMPLEXITY_LIMIT_JMP_SEQ
    if len(env.head) > BPF_COMPLEXITY_LIMIT_JMP_SEQ:
        raise env.reject(E.E2BIG, f"The sequence of {len(env.head)} jumps is too complex for async cb.")
    callee = env.init_func_state(-1, 0, subprog)  # BPF_MAIN_FUNC callsite, frame 0
    st.frame = [callee]
    st.curframe = 0
    st.first_insn_idx = sp.start
    callee.async_entry_cnt = caller.async_entry_cnt + 1
    _set_timer_callback_state(env, caller, callee)


def _set_timer_callback_state(env: Env, caller: Any, callee: Any) -> None:
    """``set_timer_callback_state``: ``callback_fn(map, key, value)``, returning 0."""
    m = caller.regs[1].map
    r1 = callee.regs[1]
    r1.type = CONST_PTR_TO_MAP
    mark_known_zero(r1)
    r1.map = m
    for regno, t in ((2, PTR_TO_MAP_KEY), (3, PTR_TO_MAP_VALUE)):
        reg = callee.regs[regno]
        reg.type = t
        mark_known_zero(reg)
        reg.map = m
    for regno in (4, 5):
        mark_not_init(callee.regs[regno], env.bpf_capable)
    callee.in_async_callback_fn = True
    callee.callback_ret_range = (0, 0)
