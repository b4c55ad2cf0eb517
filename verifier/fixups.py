"""The verifier's last rewrites: the program the JIT is given.

After a program is verified the kernel rewrites it for the JIT
(kernel/bpf/verifier.c, Linux 6.18; read against 6.12 and checked against
the host's ``xlated_prog_insns``). This module models the subset the JIT's
input needs, and applies it to unverified programs too (``structops exec
--engine jit`` runs the ISA, not the verifier):

* ``resolve_pseudo_ldimm64``: ``lddw`` of ``BPF_PSEUDO_MAP_FD``/``MAP_IDX``
  becomes the address of the map the verifier resolved for that slot
  (``insn_aux_data[i].map``), ``MAP_VALUE``/``MAP_IDX_VALUE`` the address of
  its first value plus the offset (``array_map_direct_value_addr``);
  ``BPF_PSEUDO_FUNC`` stays for the JIT (``jit_subprogs`` fills it in).
* ``do_misc_fixups``:

  - ``addr_space_cast`` with imm 1 becomes a 32-bit move;
  - ``sdiv``/``smod`` by the immediate -1 becomes ``neg`` / ``w = 0``;
  - division and modulo by a register get the kernel's guards, exactly
    (``chk_and_div``, ``chk_and_mod``, ``chk_and_sdiv``, ``chk_and_smod``):
    ``x / 0 = 0``, ``x % 0 = x``, ``INT_MIN / -1 = INT_MIN``, ``x % -1 = 0``,
    using ``BPF_REG_AX`` (register 11);
  - ``may_goto`` becomes the timed loop of 6.15+ (two stack slots below the
    frame: count = ``BPF_MAX_TIMED_LOOPS`` 0xffff and a timestamp, refilled by
    a call to ``arch_bpf_timed_may_goto`` while less than 250 ms passed) or,
    for older profiles, the counted loop of 6.9-6.14 (one slot of
    ``BPF_MAX_LOOPS``); the slots are initialised at the start of each
    function that needs them;
  - helper calls: ``imm`` = helper address - ``__bpf_call_base``
    (``fn->func - __bpf_call_base``);
  - ``bpf_tail_call`` becomes ``BPF_JMP | BPF_TAIL_CALL`` with ``imm`` 0, or, when
    the verifier recorded one prog array and one constant key for the call
    (``record_func_map``/``record_func_key``, root: no Spectre masking needed), a
    poke descriptor (:class:`PokeDesc`) and ``imm`` = its index + 1. On x86-64
    (``bpf_jit_supports_subprog_tailcalls``) the stack depth is left alone;
* ``fixup_kfunc_call``: kfunc calls likewise get ``imm`` = kfunc address -
  ``__bpf_call_base`` (x86-64 has no far kfunc calls).

Patches move instructions exactly as ``bpf_patch_insn_data`` does: a jump or
call aimed at a patched instruction lands on the first instruction of its
patch; a jump inside a patch keeps its meaning.

Not kernel behaviour, for unverified programs only (the verifier refuses
them first): a division or modulo by the immediate 0 becomes ``dst = 0`` /
``dst = (u32)dst`` (ISA semantics), and legacy packet loads, ``BPF_PSEUDO_BTF_ID``
and unknown helpers become calls to a *fault stub* the caller supplies, so
the program faults where it would execute them, as the interpreter does.
* ``opt_remove_nops`` (:func:`remove_nops`): ``goto +0``, ``may_goto +0`` and the spill/fill
  pairs ``remove_fastcall_spills_fills`` dropped (:mod:`verifier.fastcall`) are removed;
  ``bpf_get_smp_processor_id`` is inlined (x86-64, ``cpu_number``), the type-cast kfuncs become
  ``r0 = r1`` (``fixup_kfunc_call``, by the caller's ``kfunc_inline``).

Not modelled: other helper inlining (array
``map_gen_lookup``...; ``bpf_loop``'s is :mod:`verifier.loop_inline`), the unprivileged tail call's index
masking, constant blinding,
``BPF_PROBE_MEM`` conversion (``convert_ctx_accesses``).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Callable, Final, Mapping, Sequence

from kernel_model import isa
from kernel_model.bpf_map import MapSpec
from kernel_model.errors import InputError, KernelError
from kernel_model.insn import Insn
from kernel_model.profile import LATEST, Profile

from .cfg import find_subprogs

__all__ = ["FixupResult", "PokeDesc", "BPF_TAIL_CALL", "fixup_for_jit", "patch_program", "estimate_stack_depth",
           "remove_nops", "BPF_ADDR_PERCPU",
           "BPF_REG_AX", "BPF_MAX_LOOPS", "BPF_MAX_TIMED_LOOPS"]

#: include/linux/filter.h
BPF_REG_AX = 11
#: include/linux/filter.h: the opcode do_misc_fixups gives bpf_tail_call (BPF_JMP | 0xf0)
BPF_TAIL_CALL = 0xF0
#: include/linux/filter.h: the off of ``BPF_MOV64_PERCPU_REG`` (``insn_is_mov_percpu_addr``)
BPF_ADDR_PERCPU = -1
#: include/linux/bpf.h: may_goto budgets
BPF_MAX_LOOPS = 8 * 1024 * 1024
BPF_MAX_TIMED_LOOPS = 0xFFFF

#: a replacement instruction: the insn and, for a jump leaving its patch, the
#: old slot it must reach (None: the offset is relative inside the patch)
Patched = tuple[Insn, int | None]


@dataclass(slots=True)
class FixupResult:
    """The JIT's input: instructions, function starts and per-function stack depth."""

    insns: list[Insn]
    starts: list[int]
    stack_depths: list[int]
    #: new slot of each old slot (index: old slot)
    new_index: list[int] = field(default_factory=list)
    #: ``prog->aux->poke_tab``: the direct tail calls, in order (``imm - 1`` of each)
    pokes: list["PokeDesc"] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PokeDesc:
    """``struct bpf_jit_poke_descriptor`` of a tail call (``BPF_POKE_REASON_TAIL_CALL``):
    the prog array and constant key of a direct tail call, and its slot in the
    rewritten program. The JIT records where it emitted the jump (:mod:`jit.bpf_jit`)."""

    map: MapSpec
    key: int
    insn_idx: int


def _is_jump(ins: Insn) -> bool:
    c = ins.code & 0x07
    if c not in (isa.JMP, isa.JMP32):
        return False
    op = ins.code & 0xF0
    if op in (isa.CALL, isa.EXIT):
        return False
    return True


def _jump_rel(ins: Insn) -> int:
    return ins.imm if ins.code == (isa.JMP32 | isa.JA) else ins.off


def _with_rel(ins: Insn, rel: int) -> Insn:
    if ins.code == (isa.JMP32 | isa.JA):
        return Insn(ins.code, ins.dst, ins.src, ins.off, rel)
    if not -0x8000 <= rel <= 0x7FFF:
        raise KernelError(errno.ERANGE, f"jump offset {rel} does not fit after patching")
    return Insn(ins.code, ins.dst, ins.src, rel, ins.imm)


def patch_program(insns: Sequence[Insn], patches: Mapping[int, Sequence[Patched]]) -> tuple[list[Insn], list[int]]:
    """Replace old slot ``k`` by ``patches[k]`` (lddw pairs are patched by their
    first slot and keep their second), then re-aim every jump, bpf-to-bpf call
    and ``PSEUDO_FUNC`` of unpatched instructions, and the external targets of
    patched ones, at the new slots. Returns the new program and the new index of
    each old slot (the first instruction of its patch)."""
    n = len(insns)
    new_index = [0] * (n + 1)
    out: list[tuple[Insn, int | None, int]] = []  # insn, old target (absolute), origin old slot
    k = 0
    while k < n:
        new_index[k] = len(out)
        ins = insns[k]
        if k in patches:
            base = len(out)
            for rep, ext in patches[k]:
                out.append((rep, ext, -1 - base))  # marks "inside a patch starting at base"
            if ins.code == isa.LD_IMM64 and k + 1 < n:
                new_index[k + 1] = len(out) - 1
                k += 1
            k += 1
            continue
        if ins.code == isa.LD_IMM64 and k + 1 < n:
            tgt = k + ins.imm + 1 if ins.src == isa.PSEUDO_FUNC else None
            out.append((ins, tgt, k))
            new_index[k + 1] = len(out)
            out.append((insns[k + 1], None, k + 1))
            k += 2
            continue
        tgt = None
        if _is_jump(ins):
            tgt = k + _jump_rel(ins) + 1
        elif ins.code == isa.CALL_INSN and ins.src == isa.PSEUDO_CALL:
            tgt = k + ins.imm + 1
        out.append((ins, tgt, k))
        k += 1
    new_index[n] = len(out)
    result: list[Insn] = []
    for pos, (ins, tgt, _origin) in enumerate(out):
        if tgt is not None:
            if not 0 <= tgt <= n:
                raise InputError(f"jump to insn {tgt}, outside the program", f"insn {_origin}")
            rel = new_index[tgt] - pos - 1
            if ins.code == isa.CALL_INSN or ins.code == isa.LD_IMM64:
                ins = Insn(ins.code, ins.dst, ins.src, ins.off, rel)
            else:
                ins = _with_rel(ins, rel)
        result.append(ins)
    return result, new_index


# --- instruction builders (include/linux/filter.h names) -------------------------------------
def _alu(is64: bool, op: int, dst: int, src: int = 0, imm: int = 0, x: bool = False, off: int = 0) -> Insn:
    return Insn((isa.ALU64 if is64 else isa.ALU) | op | (isa.X if x else isa.K), dst, src, off, imm)


def _jmp(is64: bool, op: int, dst: int, imm: int, off: int) -> Insn:
    return Insn((isa.JMP if is64 else isa.JMP32) | op | isa.K, dst, 0, off, imm)


_JA1 = Insn(isa.JMP | isa.JA, 0, 0, 1, 0)


def _div_patch(ins: Insn) -> list[Patched] | None:
    """The divide-by-zero / -1 guards of do_misc_fixups (Linux 6.12-6.18)."""
    code = ins.code
    cls = code & 0x07
    op = code & 0xF0
    if cls not in (isa.ALU, isa.ALU64) or op not in (isa.DIV, isa.MOD):
        return None
    is64 = cls == isa.ALU64
    isdiv = op == isa.DIV
    d, s = ins.dst, ins.src
    if not ins.is_src_x:
        if ins.off == 1 and ins.imm == -1:
            # "Make sdiv/smod divide-by-minus-one exceptions impossible."
            rep = _alu(is64, isa.NEG, d) if isdiv else _alu(False, isa.MOV, d, imm=0)
            return [(rep, None)]
        if ins.imm == 0:
            # not kernel behaviour: the verifier refuses "division by zero"
            if isdiv:
                return [(_alu(is64, isa.MOV, d, imm=0), None)]
            return [(_alu(is64, isa.MOV, d, d, x=True), None)]
        return None
    if ins.off == 1 and isdiv:  # chk_and_sdiv
        seq = [_alu(True, isa.MOV, BPF_REG_AX, s, x=True),
               _alu(is64, isa.ADD, BPF_REG_AX, imm=1),
               _jmp(is64, isa.JGT, BPF_REG_AX, 1, 4),
               _jmp(is64, isa.JEQ, BPF_REG_AX, 0, 1),
               _alu(is64, isa.MOV, d, imm=0),
               _alu(is64, isa.NEG, d),
               _JA1,
               ins]
    elif ins.off == 1:  # chk_and_smod
        seq = [_alu(True, isa.MOV, BPF_REG_AX, s, x=True),
               _alu(is64, isa.ADD, BPF_REG_AX, imm=1),
               _jmp(is64, isa.JGT, BPF_REG_AX, 1, 3),
               _jmp(is64, isa.JEQ, BPF_REG_AX, 1, 3 + (0 if is64 else 1)),
               _alu(False, isa.MOV, d, imm=0),
               _JA1,
               ins,
               _JA1,
               _alu(False, isa.MOV, d, d, x=True)]
        if is64:
            seq = seq[:-2]
    elif isdiv:  # chk_and_div
        seq = [_jmp(is64, isa.JNE, s, 0, 2),
               _alu(False, isa.XOR, d, d, x=True),
               _JA1,
               ins]
    else:  # chk_and_mod
        seq = [_jmp(is64, isa.JEQ, s, 0, 1 + (0 if is64 else 1)),
               ins,
               _JA1,
               _alu(False, isa.MOV, d, d, x=True)]
        if is64:
            seq = seq[:-2]
    return [(i, None) for i in seq]


def estimate_stack_depth(insns: Sequence[Insn], starts: Sequence[int]) -> list[int]:
    """A stand-in for the verifier's per-function ``stack_depth`` on programs it
    has not seen: the deepest byte below r10 reached by loads, stores and atomics
    through r10 or a register holding ``r10 + constant`` (tracked along straight
    lines; jump targets forget everything but r10). Pointers passed to helpers
    count their offset. Exact for the usual compiler output, not in general."""
    n = len(insns)
    targets: set[int] = set()
    for k, ins in enumerate(insns):
        if _is_jump(ins):
            targets.add(k + _jump_rel(ins) + 1)
    bounds = list(starts) + [n]
    depths = []
    for f in range(len(starts)):
        depth = 0
        fp: dict[int, int] = {10: 0}
        k = bounds[f]
        while k < bounds[f + 1]:
            ins = insns[k]
            if k in targets:
                fp = {10: 0}
            c = ins.code
            cls = c & 0x07
            if cls == isa.LDX and ins.src in fp:
                depth = max(depth, -(fp[ins.src] + ins.off))
            elif cls in (isa.ST, isa.STX) and ins.dst in fp:
                depth = max(depth, -(fp[ins.dst] + ins.off))
            if cls == isa.ALU64 and c & 0xF0 == isa.MOV and c & isa.X and ins.off == 0:
                if ins.src in fp:
                    fp[ins.dst] = fp[ins.src]
                else:
                    fp.pop(ins.dst, None)
            elif cls == isa.ALU64 and c & 0xF0 in (isa.ADD, isa.SUB) and not c & isa.X and ins.dst in fp \
                    and ins.dst != 10:
                fp[ins.dst] += ins.imm if c & 0xF0 == isa.ADD else -ins.imm
            elif c == isa.CALL_INSN:
                for r in range(1, 6):
                    if r in fp:
                        depth = max(depth, -fp[r])
                for r in range(0, 6):
                    fp.pop(r, None)
            elif cls in (isa.ALU, isa.ALU64, isa.LDX) or c == isa.LD_IMM64:
                if ins.dst != 10:
                    fp.pop(ins.dst, None)
            if cls == isa.STX and c & 0xE0 == isa.ATOMIC and ins.imm & isa.FETCH:
                fp.pop(ins.src if ins.imm != isa.CMPXCHG else 0, None)
            k += 2 if c == isa.LD_IMM64 else 1
        depths.append(max(0, min(depth, isa.MAX_BPF_STACK)))
    return depths


HelperResolver = Callable[[int], int]
KfuncResolver = Callable[[int, int], int]


def gen_ld_abs(orig: Insn, call_imm: int) -> list[Insn]:
    """``bpf_gen_ld_abs`` (net/core/filter.c, Linux 6.18), the ``gen_ld_abs`` of socket
    filters and tc programs, applied by ``do_misc_fixups``: r2 = the offset (``imm``,
    plus ``src`` for ``LD_IND``), r1 = the skb (the verifier made sure R6 holds it), a
    call of ``bpf_skb_load_helper_{8,16,32}_no_cache`` (``call_imm``), and a negative
    answer (``-EFAULT``) returns 0 from the function."""
    out: list[Insn] = []
    if orig.code & 0xE0 == isa.ABS:
        out.append(Insn(isa.ALU64 | isa.MOV | isa.K, 2, 0, 0, orig.imm))
    else:
        out.append(Insn(isa.ALU64 | isa.MOV | isa.X, 2, orig.src, 0, 0))
        if orig.imm:
            out.append(Insn(isa.ALU64 | isa.ADD | isa.K, 2, 0, 0, orig.imm))
    return out + [Insn(isa.ALU64 | isa.MOV | isa.X, 1, 6, 0, 0), Insn(isa.CALL_INSN, 0, 0, 0, call_imm),
                  Insn(isa.JMP | isa.JSGE | isa.K, 0, 0, 2, 0), Insn(isa.ALU | isa.XOR | isa.X, 0, 0, 0, 0),
                  Insn(isa.EXIT_INSN, 0, 0, 0, 0)]


def fixup_for_jit(insns: Sequence[Insn], *, helper_imm: Mapping[int, int] | HelperResolver,
                  kfunc_imm: Mapping[int, int] | KfuncResolver | None = None,
                  maps: Mapping[int, MapSpec] | None = None, profile: Profile = LATEST,
                  stack_depths: Sequence[int] | None = None, timed_may_goto_imm: int | None = None,
                  fault_imm: int | None = None, starts: Sequence[int] | None = None,
                  tail_calls: Mapping[int, tuple[MapSpec, int]] | None = None,
                  kfunc_args: Mapping[int, Sequence[Insn]] | None = None,
                  kfunc_inline: Mapping[int, Sequence[Insn]] | None = None,
                  cpu_number: int | None = None, ksyms: Mapping[int, int] | None = None,
                  ld_abs_imm: Callable[[int], int] | None = None) -> FixupResult:
    """Rewrite ``insns`` for the JIT (see the module docstring).

    ``helper_imm``/``kfunc_imm`` give the CALL immediate (target -
    ``__bpf_call_base``) of a helper id / kfunc (btf id, fd_array offset);
    ``maps`` gives the placed map of each map lddw by its slot in ``insns`` (the
    verifier's ``insn_aux_data[slot].map``); ``stack_depths``
    are the verifier's (default: :func:`estimate_stack_depth`);
    ``timed_may_goto_imm`` targets ``arch_bpf_timed_may_goto``; ``fault_imm``
    the fault stub for what cannot run (unresolvable lddw, legacy packet loads).
    ``tail_calls``: by slot, the (prog array, key) of each tail call the verifier found
    a constant key for (``insn_aux_data``'s map and key state, unpoisoned): those get a
    poke descriptor; every other ``bpf_tail_call`` is the indirect form.
    ``kfunc_args``: by slot, the instructions ``fixup_kfunc_call`` puts before a kfunc call
    to pass its hidden arguments (``bpf_obj_new``'s size and struct meta, ...);
    ``kfunc_inline``: by slot, the instructions that replace a kfunc call outright
    (``bpf_cast_to_kern_ctx``/``bpf_rdonly_cast``: ``r0 = r1``).
    ``cpu_number``: the address of the per-CPU ``cpu_number``; given, ``bpf_get_smp_processor_id``
    is inlined as on x86-64 with the JIT (6.18 ``do_misc_fixups``: ``r0 = (u32)&cpu_number``,
    ``r0 = &(void __percpu *)(r0)``, ``r0 = *(u32 *)(r0 + 0)``).
    ``ksyms``: by slot, the address ``check_pseudo_btf_id`` found for a ``BPF_PSEUDO_BTF_ID``
    lddw (a kernel function's); any other such lddw stops the run as not modelled.
    ``ld_abs_imm``: the CALL immediate of ``bpf_skb_load_helper_{8,16,32}_no_cache`` by
    load size; with it an ``LD_ABS``/``LD_IND`` becomes ``bpf_gen_ld_abs``'s call
    sequence (:func:`gen_ld_abs`), without it the fault stub.
    """
    insns = list(insns)
    starts = list(starts) if starts is not None else find_subprogs(insns)
    depths = list(stack_depths) if stack_depths is not None else estimate_stack_depth(insns, starts)
    maps = maps or {}

    def helper(hid: int) -> int:
        return helper_imm(hid) if callable(helper_imm) else helper_imm[hid]

    def kfunc(btf_id: int, off: int) -> int:
        if kfunc_imm is None:
            raise KernelError(errno.EINVAL, f"kernel function btf_id {btf_id} is not available")
        return kfunc_imm(btf_id, off) if callable(kfunc_imm) else kfunc_imm[btf_id]

    def fault() -> int:
        if fault_imm is None:
            raise KernelError(errno.EINVAL, "the program needs a fault stub (fault_imm)")
        return fault_imm

    timed = profile.timed_may_goto  # "bpf: Add support for timed may_goto" (x86 JIT, 6.15)
    extra = [0] * len(starts)
    func_of = [0] * len(insns)
    bounds = starts + [len(insns)]
    for f in range(len(starts)):
        for k in range(bounds[f], bounds[f + 1]):
            func_of[k] = f
    patches: dict[int, list[Patched]] = {}
    poke_sites: list[tuple[int, MapSpec, int]] = []
    may_goto_sites: list[tuple[int, int]] = []
    k = 0
    while k < len(insns):
        ins = insns[k]
        c = ins.code
        if c == isa.LD_IMM64:
            if k + 1 >= len(insns):
                raise InputError("incomplete lddw", f"insn {k}")
            nxt = insns[k + 1]
            if ins.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX_VALUE):
                m = maps.get(k)
                if m is None:
                    raise KernelError(errno.EBADF, f"fd {ins.imm} is not pointing to valid bpf_map")
                if ins.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_IDX):
                    addr = m.addr
                else:
                    if not m.value_addr:
                        raise KernelError(errno.EINVAL, "map does not support direct value access")
                    if not 0 <= nxt.imm < m.value_size:
                        raise KernelError(errno.EINVAL, f"invalid access to map value pointer, value_size={m.value_size} off={nxt.imm}")
                    addr = m.value_addr + nxt.imm
                lo, hi = addr & 0xFFFF_FFFF, (addr >> 32) & 0xFFFF_FFFF
                patches[k] = [(Insn(c, ins.dst, 0, 0, _s32(lo)), None), (Insn(0, 0, 0, 0, _s32(hi)), None)]
            elif ins.src == isa.PSEUDO_BTF_ID and ksyms and k in ksyms:
                # check_pseudo_btf_id wrote the symbol's address into the lddw
                addr = ksyms[k]
                patches[k] = [(Insn(c, ins.dst, 0, 0, _s32(addr & 0xFFFF_FFFF)), None),
                              (Insn(0, 0, 0, 0, _s32((addr >> 32) & 0xFFFF_FFFF)), None)]
            elif ins.src == isa.PSEUDO_BTF_ID:
                patches[k] = [(Insn(isa.CALL_INSN, 0, 0, 0, fault()), None), (Insn(isa.JMP | isa.JA), None)]
            k += 2
            continue
        cls = c & 0x07
        if cls == isa.LD and c & 0xE0 in (isa.ABS, isa.IND):
            if ld_abs_imm is not None and isa.SIZE_BYTES[c & 0x18] in (1, 2, 4):
                patches[k] = [(i, None) for i in gen_ld_abs(ins, ld_abs_imm(isa.SIZE_BYTES[c & 0x18]))]
            else:
                patches[k] = [(Insn(isa.CALL_INSN, 0, 0, 0, fault()), None)]
        elif c == (isa.ALU64 | isa.MOV | isa.X) and ins.off == isa.ADDR_SPACE_CAST and ins.imm == 1:
            patches[k] = [(Insn(isa.ALU | isa.MOV | isa.X, ins.dst, ins.src, 0, 0), None)]
        elif cls in (isa.ALU, isa.ALU64):
            p = _div_patch(ins)
            if p is not None:
                patches[k] = p
        elif c == (isa.JMP | isa.JCOND) and ins.src == isa.MAY_GOTO:
            may_goto_sites.append((k, func_of[k]))
            extra[func_of[k]] = 16 if timed else 8
        elif c == isa.CALL_INSN and ins.src == isa.CALL_HELPER:
            if ins.imm == 12:  # BPF_FUNC_tail_call
                # "mark bpf_tail_call as different opcode": imm = poke index + 1 for a
                # direct jump (a constant key on every path), 0 for the indirect one
                imm = 0
                direct = (tail_calls or {}).get(k)
                if direct is not None:
                    poke_sites.append((k, direct[0], direct[1]))
                    imm = len(poke_sites)
                patches[k] = [(Insn(isa.JMP | BPF_TAIL_CALL, 0, 0, 0, imm), None)]
                k += 1
                continue
            if ins.imm == 194:
                # do_misc_fixups: "Implement bpf_kptr_xchg inline" (x86-64 supports ptr xchg):
                # r0 = r2; r0 = xchg(*(u64 *)(r1 + 0), r0)
                patches[k] = [(Insn(isa.ALU64 | isa.MOV | isa.X, 0, 2, 0, 0), None),
                              (Insn(isa.STX | isa.ATOMIC | isa.DW, 1, 0, 0, isa.XCHG), None)]
                k += 1
                continue
            if ins.imm == 8 and cpu_number is not None:  # BPF_FUNC_get_smp_processor_id
                patches[k] = [(Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, _s32(cpu_number & 0xFFFF_FFFF)), None),
                              (Insn(isa.ALU64 | isa.MOV | isa.X, 0, 0, BPF_ADDR_PERCPU, 0), None),
                              (Insn(isa.LDX | isa.MEM | isa.W, 0, 0, 0, 0), None)]
                k += 1
                continue
            patches[k] = [(Insn(c, 0, 0, 0, helper(ins.imm)), None)]
        elif c == isa.CALL_INSN and ins.src == isa.PSEUDO_KFUNC_CALL and k in (kfunc_inline or {}):
            patches[k] = [(i, None) for i in (kfunc_inline or {})[k]]
        elif c == isa.CALL_INSN and ins.src == isa.PSEUDO_KFUNC_CALL:
            pre: list[Patched] = [(i, None) for i in (kfunc_args or {}).get(k, ())]
            patches[k] = pre + [(Insn(c, 0, 0, 0, kfunc(ins.imm, ins.off)), None)]
        k += 1
    new_depths = [d + e for d, e in zip(depths, extra)]
    for k, f in may_goto_sites:
        ins = insns[k]
        target = k + ins.off + 1
        if timed:
            if timed_may_goto_imm is None:
                raise KernelError(errno.EINVAL, "timed may_goto needs arch_bpf_timed_may_goto")
            cnt = -new_depths[f]
            patches[k] = [
                (Insn(isa.LDX | isa.MEM | isa.DW, BPF_REG_AX, 10, cnt, 0), None),
                (Insn(isa.JMP | isa.JEQ | isa.K, BPF_REG_AX, 0, 0, 0), target),
                (Insn(isa.ALU64 | isa.SUB | isa.K, BPF_REG_AX, 0, 0, 1), None),
                (Insn(isa.JMP | isa.JNE | isa.K, BPF_REG_AX, 0, 2, 0), None),
                (Insn(isa.ALU64 | isa.MOV | isa.K, BPF_REG_AX, 0, 0, cnt), None),
                (Insn(isa.CALL_INSN, 0, 0, 0, timed_may_goto_imm), None),
                (Insn(isa.STX | isa.MEM | isa.DW, 10, BPF_REG_AX, cnt, 0), None),
            ]
        else:
            off = -new_depths[f]
            patches[k] = [
                (Insn(isa.LDX | isa.MEM | isa.DW, BPF_REG_AX, 10, off, 0), None),
                (Insn(isa.JMP | isa.JEQ | isa.K, BPF_REG_AX, 0, 0, 0), target),
                (Insn(isa.ALU64 | isa.SUB | isa.K, BPF_REG_AX, 0, 0, 1), None),
                (Insn(isa.STX | isa.MEM | isa.DW, 10, BPF_REG_AX, off, 0), None),
            ]
    # stack-slot initialisation at the start of each function using may_goto
    init_len: dict[int, int] = {}
    for f, start in enumerate(starts):
        if not extra[f]:
            continue
        d = new_depths[f]
        if timed:
            init = [Insn(isa.ST | isa.MEM | isa.DW, 10, 0, -d, BPF_MAX_TIMED_LOOPS),
                    Insn(isa.ST | isa.MEM | isa.DW, 10, 0, -d + 8, 0)]
        else:
            init = [Insn(isa.ST | isa.MEM | isa.DW, 10, 0, -d, BPF_MAX_LOOPS)]
        first = patches.get(start)
        if first is None:
            first = [(insns[start], _orig_target(insns, start))]
            if insns[start].code == isa.LD_IMM64:
                first.append((insns[start + 1], None))
        patches[start] = [(i, None) for i in init] + list(first)
        init_len[f] = len(init)
    out, new_index = patch_program(insns, patches)
    new_starts = [new_index[s] for s in starts]
    for f, n in init_len.items():
        _adjust_jmp_off(out, new_starts[f], n)
    pokes = [PokeDesc(m, key, new_index[k]) for k, m, key in poke_sites]
    return FixupResult(out, new_starts, new_depths, new_index, pokes)


_JA_0: Final = Insn(isa.JMP | isa.JA, 0, 0, 0, 0)
_MAY_GOTO_0: Final = Insn(isa.JMP | isa.JCOND, 0, 0, 0, 0)


def remove_nops(insns: Sequence[Insn], nops: Sequence[int] = ()) -> tuple[list[Insn], list[int]]:
    """``opt_remove_nops`` (kernel/bpf/verifier.c 6.18, privileged loads): every ``goto +0``
    and ``may_goto +0`` goes, and so do the slots in ``nops`` (the spill/fill pairs
    ``remove_fastcall_spills_fills`` made NOPs), each as ``verifier_remove_insns`` removes
    one: a jump over it shrinks, a jump to it lands on the next instruction. Returns the
    program and the new index of each old slot."""
    drop = set(nops)
    k = 0
    n = len(insns)
    while k < n:
        ins = insns[k]
        if ins.code == isa.LD_IMM64:
            k += 2
            continue
        if ins == _JA_0 or ins == _MAY_GOTO_0:
            drop.add(k)
        k += 1
    if not drop:
        return list(insns), list(range(n + 1))
    return patch_program(insns, {k: () for k in drop})


def _adjust_jmp_off(insns: list[Insn], tgt: int, delta: int) -> None:
    """``adjust_jmp_off()`` (kernel/bpf/verifier.c, 6.12/6.18): after the may_goto
    counter init is put at the start of a function, a *jump* (not a call) to the
    function's first instruction lands after the ``delta`` init slots, or a loop
    back to it would re-arm the counter forever (selftests ``ja_and_may_goto2``,
    ``gotol_and_may_goto``). Calls and ``PSEUDO_FUNC`` still enter at the init."""
    for i, ins in enumerate(insns):
        if tgt <= i < tgt + delta:
            continue
        cls = ins.code & 0x07
        if cls not in (isa.JMP, isa.JMP32) or ins.code & 0xF0 in (isa.CALL, isa.EXIT):
            continue
        if ins.code == (isa.JMP32 | isa.JA):
            if i + 1 + ins.imm == tgt:
                insns[i] = Insn(ins.code, ins.dst, ins.src, ins.off, ins.imm + delta)
        elif i + 1 + ins.off == tgt:
            insns[i] = Insn(ins.code, ins.dst, ins.src, ins.off + delta, ins.imm)


def _orig_target(insns: Sequence[Insn], k: int) -> int | None:
    ins = insns[k]
    if _is_jump(ins):
        return k + _jump_rel(ins) + 1
    if (ins.code == isa.CALL_INSN and ins.src == isa.PSEUDO_CALL) or (
            ins.code == isa.LD_IMM64 and ins.src == isa.PSEUDO_FUNC):
        return k + ins.imm + 1
    return None


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v & 0x8000_0000 else v
