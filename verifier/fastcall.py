"""``bpf_fastcall``: spill/fill pairs around calls that clobber fewer registers than the ABI says.

clang marks some helpers and kfuncs ``__attribute__((bpf_fastcall))``: it allocates registers
as if such a call scratched only r0 (when non-void) and its parameters, then wraps the call in
spills and fills of every other live r0-r5, at the lowest stack offsets of the function. A
kernel that inlines the call removes the pairs and gives their stack back; an older kernel
runs them as written. Models, from kernel/bpf/verifier.c (Linux 6.18; read against 6.12):

* ``get_call_summary``: a helper's parameter count (its prototype's arguments up to the first
  ``ARG_DONTCARE``), ``is_void``, and ``fastcall``: the prototype has ``allow_fastcall`` (on
  6.18 only ``bpf_get_smp_processor_id_proto``; the ``bpf_get_raw_smp_processor_id_proto``
  of ``bpf_base_func_proto`` has not) and ``verifier_inlines_helper_call`` (x86-64 with the JIT:
  ``bpf_get_smp_processor_id``); a kfunc's BTF parameter count, void return, and
  ``KF_FASTCALL`` (6.18: ``bpf_cast_to_kern_ctx``, ``bpf_rdonly_cast``, the kfuncs the vmlinux
  BTF tags ``bpf_fastcall``). A call ``fetch_kfunc_meta`` or ``get_helper_proto`` refuses has
  no summary (the walk reports the error later);
* ``mark_fastcall_patterns`` / ``mark_fastcall_pattern_for_call``: per subprogram, the lowest
  offset of a ``*(u64 *)(r10 + off) = rX``; around each call, pairs ``*(u64 *)(r10 + Y) = rX``
  at ``call - i`` and ``rX = *(u64 *)(r10 + Y)`` at ``call + i`` with ``Y = lowest + 8 (i - 1)``,
  rX a register the call keeps and not seen before, neither the ldx nor an stx but the first a
  jump target; the pairs are marked ``fastcall_pattern``; the call gets ``fastcall_spills_num``
  when it is fastcall, else the subprogram keeps its stack (``keep_fastcall_stack``); the
  subprogram's ``fastcall_stack_off`` is the lowest offset above the pairs;
* ``check_fastcall_stack_contract``: a stack access below ``fastcall_stack_off`` from an
  instruction outside the patterns cancels the rewrite for the whole subprogram (its marks are
  cleared, ``fastcall_stack_off`` becomes ``S16_MIN``);
* ``remove_fastcall_spills_fills`` (after the walk, before ``check_max_stack_depth``): the pairs
  of each fastcall call become NOPs (``opt_remove_nops`` drops them later:
  :func:`verifier.fixups.remove_nops`) and a subprogram with a removed pair whose stack is not
  kept gets ``stack_depth = -fastcall_stack_off`` -- so a program whose depth fits only without
  the spill slots is accepted, and ``stack depth`` in the statistics shows the reduced figure.

The kernel prints no log line of its own for any of this (the 6.18 host's level-2 log of a
program with removed pairs is the one without fastcall).
"""

from __future__ import annotations

from typing import Any

from kernel_model import isa

from .core import Env

__all__ = ["mark_fastcall_patterns", "check_fastcall_stack_contract", "remove_fastcall_spills_fills",
           "S16_MIN"]

S16_MIN = -0x8000
#: r0-r5: CALLER_SAVED_REGS
_ALL_CALLER_SAVED = (1 << 6) - 1
_STX_DW = isa.STX | isa.MEM | isa.DW
_LDX_DW = isa.LDX | isa.MEM | isa.DW
#: the proto whose ``allow_fastcall`` is set (kernel/bpf/helpers.c, 6.12 and 6.18)
_FASTCALL_HELPER_PROTOS = ("bpf_get_smp_processor_id_proto",)
#: ``verifier_inlines_helper_call`` (CONFIG_X86_64, the JIT supports percpu insns)
_INLINED_HELPERS = (8,)  # BPF_FUNC_get_smp_processor_id


def _helper_symbol(env: Env, func_id: int) -> str | None:
    """The proto symbol this load's ``get_func_proto`` gives for ``func_id`` (None: unknown)."""
    sym = env.helper_protos.get(func_id)
    if sym is None:
        from kernel_model.bpf_facts.func_proto import NotModelled as NoFacts
        from .helper_sets import allowed_protos
        a = env.attr
        try:
            sym = allowed_protos(a.prog_type, a.expected_attach_type, a.sleepable, a.privileged).get(func_id)
        except (KeyError, NoFacts):
            # struct_ops: the subsystems' get_func_proto (bpf_tcp_ca, sched_ext) fall back to
            # bpf_base_func_proto, whose bpf_get_raw_smp_processor_id_proto is not fastcall;
            # bpf_dummy_ops has none. Unknown here: not fastcall (the pairs stay, as written)
            sym = None
    return sym


def _vmlinux_fastcall(name: str) -> bool:
    """KF_FASTCALL of a vmlinux kfunc: the 6.18 BTF's ``bpf_fastcall`` decl tag, which
    resolve_btfids emits for exactly the kfuncs registered with that flag."""
    from kernel_model.bpf_facts.kfuncs import kfunc
    try:
        return kfunc(name).fastcall
    except KeyError:
        return False


def get_call_summary(env: Env, insn: Any) -> tuple[int, bool, bool] | None:
    """``get_call_summary``: (number of parameters, is_void, fastcall), or None when the call
    has no summary (not a helper/kfunc call, or one the kernel would refuse)."""
    if insn.src == 0:
        from .helpers import ARG_DONTCARE, RET_VOID, FuncProto
        if insn.imm < 0:
            return None
        fn = env.prog_ops.get_func_proto(env, insn.imm)
        if not isinstance(fn, FuncProto):
            return None
        n = 0
        for a in fn.args:
            if a == ARG_DONTCARE:
                break
            n += 1
        fast = insn.imm in _INLINED_HELPERS and _helper_symbol(env, insn.imm) in _FASTCALL_HELPER_PROTOS
        return n, fn.ret_type == RET_VOID, fast
    if insn.src == isa.PSEUDO_KFUNC_CALL:
        from .analyzer import _quiet_kfunc
        from .kfuncs import _kfunc_allowed
        e = _quiet_kfunc(env, insn)
        if e is None or not _kfunc_allowed(env, e):
            return None
        f = e.btf.type_by_id(e.btf_id)
        proto = e.btf.type_by_id(f.type_id)
        fast = "KF_FASTCALL" in (getattr(e.kfunc, "flags", None) or ()) \
            or (e.module is None and _vmlinux_fastcall(e.name))
        return len(proto.params), not proto.ret_type_id, fast
    return None


def _jump_targets(env: Env) -> bytearray:
    """``insn_aux_data[].jump_target`` (``mark_jump_target`` in ``check_cfg``): targets of
    conditional jumps (``may_goto`` too), gotos, bpf-to-bpf calls and callback references."""
    n = env.n
    out = bytearray(n + 1)
    insns = env.insns
    i = 0
    while i < n:
        ins = insns[i]
        t = None
        if ins.code == isa.LD_IMM64:
            if ins.src == isa.PSEUDO_FUNC:
                t = i + ins.imm + 1
            i += 2
            if t is not None and 0 <= t <= n:
                out[t] = 1
            continue
        if ins.cls in (isa.JMP, isa.JMP32):
            if ins.op == isa.CALL:
                if ins.src == isa.PSEUDO_CALL:
                    t = i + ins.imm + 1
            elif ins.op != isa.EXIT:
                t = i + (ins.imm if ins.code == isa.JMP32 | isa.JA else ins.off) + 1
        if t is not None and 0 <= t <= n:
            out[t] = 1
        i += 1
    return out


def _mark_for_call(env: Env, sp: Any, idx: int, lowest_off: int, jt: bytearray) -> None:
    """``mark_fastcall_pattern_for_call``."""
    cs = get_call_summary(env, env.insns[idx])
    if cs is None:
        return
    nparams, is_void, fast = cs
    # GENMASK(num_params, is_void ? 1 : 0): r0 unless void, and r1..r<num_params>
    clobbered = ((1 << (nparams + 1)) - 1) & ~int(is_void)
    expected = ~clobbered & _ALL_CALLER_SAVED
    insns = env.insns
    i = 1
    off = lowest_off
    while i <= 6:
        if idx - i < 0 or idx + i >= env.n:
            break
        if jt[idx - i + 1] or jt[idx + i]:
            break
        stx, ldx = insns[idx - i], insns[idx + i]
        if stx.code != _STX_DW or ldx.code != _LDX_DW or stx.dst != 10 or ldx.src != 10:
            break
        if stx.src != ldx.dst:
            break
        if not (1 << stx.src) & expected:
            break
        if stx.off != off or ldx.off != off:
            break
        expected &= ~(1 << stx.src)
        env.fastcall_pattern[idx - i] = 1
        env.fastcall_pattern[idx + i] = 1
        i += 1
        off += 8
    if i == 1:
        return
    if fast:
        env.fastcall_spills_num[idx] = i - 1
    else:
        sp.keep_fastcall_stack = True
    sp.fastcall_stack_off = min(sp.fastcall_stack_off, off)


def mark_fastcall_patterns(env: Env) -> None:
    """``mark_fastcall_patterns`` (bpf_check, after ``compute_live_registers``)."""
    jt = _jump_targets(env)
    starts = [sp.start for sp in env.subprogs] + [env.n]
    insns = env.insns
    for s, sp in enumerate(env.subprogs):
        lo, hi = starts[s], starts[s + 1]
        lowest = 0
        for i in range(lo, hi):
            ins = insns[i]
            if ins.code == _STX_DW and ins.dst == 10:
                lowest = min(lowest, ins.off)
        for i in range(lo, hi):
            if insns[i].code == isa.CALL_INSN:
                _mark_for_call(env, sp, i, lowest, jt)


def check_fastcall_stack_contract(env: Env, subprogno: int, insn_idx: int, off: int) -> None:
    """``check_fastcall_stack_contract``: a stack access at ``off`` below the subprogram's
    fastcall slots from outside the patterns turns the rewrite off for that subprogram."""
    sp = env.subprogs[subprogno]
    if sp.fastcall_stack_off <= off or env.fastcall_pattern[insn_idx]:
        return
    sp.fastcall_stack_off = S16_MIN
    end = env.subprogs[subprogno + 1].start if subprogno + 1 < len(env.subprogs) else env.n
    for i in range(sp.start, end):
        env.fastcall_spills_num[i] = 0
        env.fastcall_pattern[i] = 0


def remove_fastcall_spills_fills(env: Env) -> list[int]:
    """``remove_fastcall_spills_fills``: the slots that become NOPs (sorted), and the reduced
    ``stack_depth`` of each subprogram that lost a pair and does not keep its stack."""
    nops: list[int] = []
    subs = env.subprogs
    for s, sp in enumerate(subs):
        end = subs[s + 1].start if s + 1 < len(subs) else env.n
        modified = False
        for i in range(sp.start, end):
            k = env.fastcall_spills_num[i]
            if k:
                for j in range(1, k + 1):
                    nops.append(i - j)
                    nops.append(i + j)
                modified = True
        if modified and not sp.keep_fastcall_stack:
            sp.stack_depth = -sp.fastcall_stack_off
    return sorted(nops)
