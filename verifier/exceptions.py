"""BPF exceptions: ``bpf_throw`` and the exception callback.

Models kernel/bpf/verifier.c (Linux 6.18; the same code as 6.12 but for the
``check_resource_leak`` consolidation):

* ``bpf_find_exception_callback_insn_off``: the main program's FUNC (func_info[0])
  may carry one ``exception_callback:<name>`` BTF decl tag (``__exception_cb(name)``
  of bpf_experimental.h); ``btf_find_decl_tag_value`` finds it (two such tags:
  ``multiple exception callback tags for main subprog``, EEXIST); the named FUNC must
  exist (``exception callback '%s' could not be found in BTF``), be global (``...
  must have global linkage``) and have a func_info record past insn 0; its start
  becomes a subprogram (``add_subprog_and_kfunc``) marked by ``mark_subprog_exc_cb``:
  ``is_cb``, ``is_async_cb`` and ``is_exception_cb``;
* ``check_kfunc_call`` for ``bpf_throw`` (``special_kfunc_list[KF_bpf_throw]``):
  ``seen_exception``; without an exception callback the cookie in R1 becomes the
  program's return value, so R1 is checked as ``check_return_code`` checks R0
  (``At program exit the register R1 ...``);
* ``do_check_insn``: after a ``bpf_throw`` call the path ends as an *exception exit*
  (``process_bpf_exit_full(env, .., true)``): ``check_resource_leak`` with the prefix
  ``bpf_throw`` in every frame (a held lock, a reference -- ``bpf_throw would lead to
  reference leak`` --, an IRQ flag, an RCU or preemption region refused), no return
  code check, no return to a caller;
* ``check_max_stack_depth_subprog``: a ``bpf_throw`` in a callback, or in a function a
  callback calls (``bpf_throw kfunc (insn %d) cannot be called from callback subprog
  %d``), a direct call of the exception callback (``insn %d cannot call exception cb
  directly``), a tail call reachable from it (``cannot tail call within exception
  cb``); every asynchronous callback (the exception callback included) is a root of
  its own stack (``check_max_stack_depth``);
* ``do_check_subprogs``/``do_check_common``: the exception callback is always
  verified (``called``), as a global function, with ``in_exception_callback_fn``: one
  scalar argument (``exception cb only supports single integer argument``) and, at
  its exit, the program type's return range (``check_return_code``).

Run time (``bpf_throw`` in kernel/bpf/helpers.c, ``arch_bpf_stack_walk`` and the
exception-boundary prologue of arch/x86/net/bpf_jit_comp.c) is the emulated
kernel's (:mod:`emu.kernel.exceptions`).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Final

from kernel_model import isa
from kernel_model.btf import structs as BS

if TYPE_CHECKING:
    from .core import Env
    from .decoded import DInsn

__all__ = ["EXC_CB_TAG", "BPF_THROW", "find_exception_callback_insn_off", "mark_subprog_exc_cb",
           "is_bpf_throw_kfunc", "check_throw_call", "process_exception_exit"]

EXC_CB_TAG: Final = "exception_callback:"
BPF_THROW: Final = "bpf_throw"


def _find_decl_tag_value(btf: Any, target_id: int, comp_idx: int, key: str) -> str | int:
    """``btf_find_decl_tag_value``: the value after ``key`` of the one DECL_TAG on
    ``target_id`` (component ``comp_idx``), -ENOENT without one, -EEXIST with two."""
    found: list[str] = []
    for _tid, t in btf.iter_types(BS.KIND_DECL_TAG):
        if t.type_id != target_id or t.component_idx != comp_idx or not t.name.startswith(key):
            continue
        found.append(t.name[len(key):])
        if len(found) > 1:
            return -E.EEXIST
    return found[0] if found else -E.ENOENT


def find_exception_callback_insn_off(env: Env) -> int:
    """``bpf_find_exception_callback_insn_off``: the first instruction of the exception
    callback the main program names, 0 when it names none; rejects a bad tag."""
    recs = env.func_info
    if not recs:  # no func_info: no BTF, no exception callback
        return 0
    btf = env.attr.prog_btf
    main_id = recs[0][1]
    try:
        btf.type_by_id(main_id)
    except Exception:
        raise env.reject(E.EINVAL, "invalid btf id for main subprog in func_info") from None
    name = _find_decl_tag_value(btf, main_id, -1, EXC_CB_TAG)
    if isinstance(name, int):
        if name == -E.ENOENT:
            return 0
        raise env.reject(-name, "multiple exception callback tags for main subprog")
    cb_id = btf.find(name, BS.KIND_FUNC)
    if cb_id is None:
        raise env.reject(E.ENOENT, f"exception callback '{name}' could not be found in BTF")
    if btf.type_by_id(cb_id).linkage != 1:  # BTF_FUNC_GLOBAL
        raise env.reject(E.EINVAL, f"exception callback '{name}' must have global linkage")
    off = 0
    for insn_off, type_id in recs:
        if type_id != cb_id:
            continue
        off = insn_off
        if not off:
            raise env.reject(E.EINVAL, "invalid exception callback insn_off in func_info: 0")
    if not off:
        raise env.reject(E.EINVAL, "exception callback type id not found in func_info")
    return off


def mark_subprog_exc_cb(env: Env, subprog: int) -> None:
    """``mark_subprog_exc_cb``: the exception callback counts as an (asynchronous) callback."""
    sp = env.subprogs[subprog]
    sp.is_cb = True
    sp.is_async_cb = True
    sp.is_exception_cb = True
    env.exception_callback_subprog = subprog


def is_bpf_throw_kfunc(env: Env, insn: Any) -> bool:
    """``is_bpf_throw_kfunc``: a vmlinux kfunc call (``off`` 0) of ``bpf_throw``."""
    return insn.code == isa.CALL_INSN and insn.src == isa.PSEUDO_KFUNC_CALL and insn.off == 0 \
        and env.kfunc_names.get((0, insn.imm)) == BPF_THROW


def check_throw_call(env: Env) -> None:
    """The ``bpf_throw`` part of ``check_kfunc_call`` (after the arguments): the program
    has seen an exception; with the default callback the cookie is the return value."""
    from .calls import check_return_code
    env.seen_exception = True
    if not env.exception_callback_subprog:
        check_return_code(env, 1, "R1")


def process_exception_exit(env: Env) -> None:
    """``process_bpf_exit_full(env, .., exception_exit=true)``: what must not be held
    when the frames unwind (locks, references, IRQ flags, RCU, preemption)."""
    from .calls import check_resource_leak
    check_resource_leak(env, True, True, "bpf_throw")


def check_callback_throws(env: Env, chain: list[int], idx: int, starts: list[int], insns: list[DInsn]) -> None:
    """The ``bpf_throw`` test of ``check_max_stack_depth_subprog`` for subprogram
    ``idx`` reached through ``chain`` (its callers): a throw in a callback, or below
    one, is refused."""
    for i in range(starts[idx], starts[idx + 1]):
        insn = insns[i]
        if insn.code != isa.CALL_INSN or insn.src != isa.PSEUDO_KFUNC_CALL or insn.off:
            continue
        if not is_bpf_throw_kfunc(env, insn):
            continue
        if env.subprogs[idx].is_cb or any(env.subprogs[c].is_cb for c in chain):
            raise env.reject(E.EINVAL, f"bpf_throw kfunc (insn {i}) cannot be called from callback subprog {idx}")
