"""``BPF_PROG_LOAD`` after its attribute checks: verify -> rewrite -> JIT -> install.

The kernel's path (kernel/bpf/syscall.c ``bpf_prog_load`` and kernel/bpf/verifier.c
``bpf_check``, Linux 6.12/6.18, the host's behaviour where they differ), one step each:

1. :func:`resolve_fds` -- what the instruction immediates and ``fd_array`` refer
   to (``resolve_pseudo_ldimm64``: maps by fd);
2. :func:`verifier_env` + :func:`verify` -- ``bpf_check``: the verifier model
   (:func:`verifier.verify`) with a :class:`verifier.VerifierEnv` of the load's
   attributes and the kernel's objects;
3. :func:`rewrite_for_jit` -- the rewrites the kernel makes after verifying:
   ``convert_ctx_accesses`` (:mod:`verifier.convert_ctx`), then
   ``do_misc_fixups``/``fixup_kfunc_call`` (:func:`verifier.fixups.fixup_for_jit`),
   with helpers, kfuncs and maps bound to addresses in the machine;
4. :func:`install` -- ``bpf_prog_alloc`` + ``bpf_int_jit_compile`` in the machine
   (:meth:`emu.machine.images.JitImages.load_prog`), with the verifier's
   subprogram starts and stack depths.

:func:`release` is ``__bpf_prog_put_noref``. The syscall side (attribute checks,
the log attributes, fds and ids) is :meth:`emu.kernel.syscall.BpfSyscalls.prog_load`.
"""

from __future__ import annotations

import errno
import re
from typing import TYPE_CHECKING, Any, Sequence

from kernel_model import isa
from kernel_model.bpf_map import MapSpec
from kernel_model.errors import KernelError
from kernel_model.insn import Insn
from kernel_model.kctx_kfuncs import KCTX_KFUNCS
from kernel_model.prog import BpfProg
from kernel_model.struct_ops import StructOpsDesc

from .bpf_maps import MapObject
from .bpf_objects import BpfObject, BtfObject

if TYPE_CHECKING:  # pragma: no cover
    from jit.bpf_jit import JitProgram

__all__ = ["ProgLoadError", "ProgObject", "resolve_fds", "verifier_env", "verify", "rewrite_for_jit", "install",
           "release"]


class ProgLoadError(KernelError):
    """``BPF_PROG_LOAD`` refused by the verifier: ``errno``, ``log`` (the
    verifier log at the load's ``log_level``; empty at 0) and ``result`` (the
    :class:`verifier.result.VerifyResult`)."""

    def __init__(self, err: int, message: str, log: str, result: Any, log_true_size: int = 0) -> None:
        super().__init__(err, message)
        self.log = log
        self.result = result
        #: ``attr.log_true_size`` as the kernel writes it back (0 at log level 0)
        self.log_true_size = log_true_size


class ProgObject(BpfObject):
    """A loaded program (``struct bpf_prog`` + ``bpf_prog_aux``). Its reference
    count is ``prog.refcnt``, which struct_ops maps change when they link it."""

    kind = "prog"

    def __init__(self, prog: BpfProg) -> None:
        self.prog = prog
        super().__init__()
        self.result: Any = None
        self.env: Any = None
        self.jp: "JitProgram | None" = None
        self.xlated: list[Insn] = []
        self.maps: list[MapObject] = []
        self.btfs: list[BtfObject] = []
        self.modules: list[Any] = []
        self.desc: StructOpsDesc | None = None
        self.member: Any = None
        self.gpl_compatible = True
        self.load_time = 0
        self._release_cb: Any = None
        #: ``aux->poke_tab``: the direct tail calls (verifier.fixups.PokeDesc)
        self.pokes: list[Any] = []
        self.machine: Any = None

    def poke_update(self, array: Any, key: int, target: int | None) -> None:
        """``prog_array_map_poke_run``'s call for this program (see :func:`poke_update`)."""
        poke_update(self.machine, self, array, key, target)

    @property
    def refcnt(self) -> int:
        return self.prog.refcnt

    @refcnt.setter
    def refcnt(self, value: int) -> None:
        self.prog.refcnt = value

    def release(self) -> None:
        if self._release_cb is not None:
            self._release_cb(self)


def resolve_fds(kernel: Any, code: Sequence[Insn], fd_array: Sequence[int]) -> tuple[dict[int, MapObject], list[Any]]:
    """(maps by the fd of each map lddw, the objects of ``fd_array``): what the
    immediates refer to, as ``resolve_pseudo_ldimm64`` finds them (an fd that is
    not a map is left for the verifier to refuse)."""
    fd_objs = [kernel.fds.objects.get(fd) for fd in fd_array]
    maps_by_fd: dict[int, MapObject] = {}
    k = 0
    while k < len(code):
        ins = code[k]
        if ins.code == isa.LD_IMM64 and ins.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE):
            obj = kernel.fds.objects.get(ins.imm)
            if isinstance(obj, MapObject):
                maps_by_fd[ins.imm] = obj
        k += 2 if ins.code == isa.LD_IMM64 else 1
    return maps_by_fd, fd_objs


def verifier_env(kernel: Any, code: Sequence[Insn], maps_by_fd: dict[int, MapObject], fd_objs: list[Any], *,
                 prog_type: int, expected_attach_type: int, attach_btf: Any, attach_btf_id: int, prog_flags: int,
                 license: str, prog_name: str) -> Any:
    """The :class:`verifier.VerifierEnv` of a load: its attributes and the kernel's
    objects (struct_ops registry, kfunc table, vmlinux BTF, maps, ``fd_array``); the
    loader is root (privileged verifier mode)."""
    from verifier.env import VerifierEnv

    env_fd_array = [o.spec if isinstance(o, MapObject) else o.btf if isinstance(o, BtfObject) else None
                    for o in fd_objs]
    return VerifierEnv(prog_type=prog_type, expected_attach_type=expected_attach_type, attach_btf=attach_btf,
                       attach_btf_id=attach_btf_id, struct_ops=kernel.struct_ops, prog_flags=prog_flags,
                       license=license, privileged=True, maps={fd: mo.spec for fd, mo in maps_by_fd.items()},
                       kfuncs=kernel.kfuncs, vmlinux_btf=kernel.btf, fd_array=env_fd_array, profile=kernel.profile,
                       nr_cpu_ids=kernel.nr_cpus, name=prog_name, ksym_addr=kernel.ksym_address,
                       lockdown=kernel.lockdown)


#: ``current->comm`` of the process loading programs into the emulated kernel (what the
#: kernel's messages about the loader name)
LOADER_COMM = "structops"
#: the helpers whose ``get_func_proto`` asks the lockdown LSM, and the reason it asks about
#: (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c, 6.12/6.18): probe_write_user; probe_read_kernel,
#: probe_read_kernel_str, probe_read, probe_read_str
_LOCKDOWN_GATED = {36: "LOCKDOWN_BPF_WRITE_USER", 113: "LOCKDOWN_BPF_READ_KERNEL", 115: "LOCKDOWN_BPF_READ_KERNEL",
                   4: "LOCKDOWN_BPF_READ_KERNEL", 45: "LOCKDOWN_BPF_READ_KERNEL"}
_CANNOT_USE = re.compile(r"cannot use helper \w+#(\d+)$")


def lockdown_notice(env: Any, result: Any) -> str | None:
    """The lockdown LSM's notice for a load refused because lockdown took a helper away
    (``lockdown_is_locked_down``: ``Lockdown: <comm>: <what> is restricted; see man
    kernel_lockdown.7``), None for any other outcome: the helper the verifier refused is one
    ``get_func_proto`` gates on a reason the kernel's lockdown refuses, and without lockdown the
    program type would have had it."""
    from kernel_model.lockdown import lockdown_notice as notice
    from verifier.helper_sets import allowed_protos

    m = _CANNOT_USE.search(result.error_line or "") if not result.accepted else None
    if m is None or not env.lockdown:
        return None
    func_id = int(m.group(1))
    reason = _LOCKDOWN_GATED.get(func_id)
    if reason is None or reason not in env.lockdown:
        return None
    unlocked = allowed_protos(env.prog_type, env.expected_attach_type, env.sleepable, env.privileged)
    return notice(LOADER_COMM, reason) if func_id in unlocked else None


def verify(code: list[Insn], env: Any, log_level: int) -> Any:
    """``bpf_check``: :func:`verifier.verify` (the verifier package's entry point)."""
    from verifier import verify as bpf_check

    return bpf_check(code, env, log_level)


def rewrite_for_jit(kernel: Any, po: ProgObject, code: list[Insn], result: Any, maps_by_fd: dict[int, MapObject],
                    fd_objs: list[Any]) -> Any:
    """The program as the JIT gets it: ``convert_ctx_accesses``, then
    ``do_misc_fixups``/``fixup_kfunc_call`` (:func:`verifier.fixups.fixup_for_jit`),
    which puts in the address of the map the verifier resolved for each map lddw
    (``insn_aux_data[i].map``), with the verifier's subprogram starts and stack
    depths. The maps the program uses are held by ``po`` (``used_maps``); a module
    whose kfunc it calls too (``kfunc_btf_tab``)."""
    from verifier.convert_ctx import convert_ctx_accesses
    from verifier.fixups import fixup_for_jit

    from verifier.fixups import remove_nops

    m = kernel.machine
    aux: Sequence[Any] = result.insn_aux
    fault = m.images.call_imm(kernel._not_modelled_stub())
    # opt_remove_nops (the kernel runs it after optimize_bpf_loop, before convert_ctx_accesses;
    # neither touches what the other changes): goto +0, may_goto +0 and the bpf_fastcall
    # spill/fill pairs remove_fastcall_spills_fills dropped (verifier.fastcall)
    code, kept = remove_nops(code, result.fastcall_nops)
    sub_starts = [kept[st] for st in result.subprog_starts]
    if len(code) != len(aux):
        aux = [a for k, a in enumerate(aux) if kept[k] != kept[k + 1]]
    insns, new_index = convert_ctx_accesses(code, [a.ptr_type for a in aux], po.prog.prog_type, fault,
                                            seen_direct_write=getattr(result, "seen_direct_write", False))
    # optimize_bpf_loop: the bpf_loop calls the verifier found fit become loops calling the
    # callback directly (verifier.loop_inline; the kernel runs it before convert_ctx_accesses,
    # which touches neither calls nor the stack)
    from verifier.loop_inline import inline_bpf_loops
    loops = {new_index[k]: a.loop_callback for k, a in enumerate(aux) if a.loop_inline_init and a.loop_inline}
    insns, moved, _starts, stack_depths = inline_bpf_loops(
        insns, loops, _starts_after(new_index, sub_starts), result.stack_depth)
    new_index = [moved[i] for i in new_index]
    objects = {mo.spec.id: mo for mo in (*maps_by_fd.values(), *fd_objs) if isinstance(mo, MapObject)}
    maps: dict[int, MapSpec] = {}  # by slot of the converted program
    used_maps: dict[int, MapObject] = {}
    for k, a in enumerate(aux):
        if a.map is not None:
            maps[new_index[k]] = a.map
            used_maps[a.map.id] = objects[a.map.id]
    from .maps import ProgArrayMap

    for mo in used_maps.values():
        mo.get()
        po.maps.append(mo)
        # bpf_prog_select_runtime -> bpf_check_tail_call (kernel/bpf/core.c): a program
        # using a prog array must match the array's owner, or become it
        if isinstance(mo, ProgArrayMap) and not mo.compatible(po):
            raise KernelError(errno.EINVAL, f"the program does not match the owner of prog array "
                                            f"{mo.spec.name or mo.spec.id} (type, JIT, expected attach type)")
    # do_misc_fixups' poke descriptors: the tail calls with one map and one constant key
    tail_calls = {}
    for k, a in enumerate(aux):
        if a.helper_id == 12 and a.map_ptr is not None and not a.map_ptr_poison \
                and not a.map_key_state >> 63 and a.map_key_state:
            tail_calls[new_index[k]] = (a.map_ptr, a.map_key_state & ~(1 << 62))

    def kfunc_imm(btf_id: int, off: int) -> int:
        if off == 0:
            btf = kernel.btf
        else:
            o = fd_objs[off] if 0 <= off < len(fd_objs) else None
            if not isinstance(o, BtfObject):
                raise KernelError(errno.EINVAL, f"fd_array[{off}] is not a module BTF")
            btf = o.btf
        entry = kernel.kfuncs.find(btf, btf_id)
        if entry is None:
            raise KernelError(errno.EINVAL, f"kernel function btf_id {btf_id} is not registered")
        if entry.module is not None and entry.module not in po.modules:
            entry.module.get()  # kfunc_btf_tab: btf_try_get_module
            po.modules.append(entry.module)
        return m.images.call_imm(kernel._kfunc_stub(entry))

    helper_imms = kernel._helper_imms
    from .prog_type_helpers import prog_type_helper_imm

    def helper_imm(hid: int) -> int:
        by_symbol = kernel.helper_imm_for(po.prog, hid)
        if by_symbol is not None:
            return by_symbol
        typed = prog_type_helper_imm(kernel, po.prog.prog_type, hid)  # the type's get_func_proto answer
        if typed is not None:
            return typed
        if hid in helper_imms:
            return helper_imms[hid]
        return m.images.call_imm(kernel._not_modelled_stub(f"helper {hid}"))

    # fixup_kfunc_call: the hidden arguments of bpf_obj_new/drop, refcount_acquire, list push
    from .graph_kfuncs import FIXUP_KFUNCS
    kfunc_args = {}
    kfunc_inline = {}
    for k, a in enumerate(aux):
        name = getattr(a.kfunc, "name", "") if a.kfunc is not None and a.kfunc.module is None else ""
        if name in FIXUP_KFUNCS:
            kfunc_args[new_index[k]] = _kfunc_hidden_args(name, a, kernel.graph.meta_addr(a.kptr_struct_meta))
        elif name in KCTX_KFUNCS:
            # fixup_kfunc_call (6.18): bpf_cast_to_kern_ctx and bpf_rdonly_cast become r0 = r1
            kfunc_inline[new_index[k]] = [Insn(isa.ALU64 | isa.MOV | isa.X, 0, 1, 0, 0)]
    # check_pseudo_btf_id: the kernel symbol addresses the lddws load
    ksyms = {new_index[k]: a.ksym_addr for k, a in enumerate(aux) if a.ksym_addr}
    starts = _starts_after(new_index, sub_starts)
    return fixup_for_jit(insns, helper_imm=helper_imm, kfunc_imm=kfunc_imm, maps=maps, profile=kernel.profile,
                         kfunc_args=kfunc_args, kfunc_inline=kfunc_inline, ksyms=ksyms,
                         cpu_number=m.kallsyms.addr_of("cpu_number"),
                         stack_depths=stack_depths, starts=starts,
                         timed_may_goto_imm=m.images.call_imm(m.calls.addr_of("arch_bpf_timed_may_goto")),
                         fault_imm=fault, tail_calls=tail_calls, ld_abs_imm=kernel._ld_abs_imm)


def _starts_after(new_index: Sequence[int], starts: Sequence[int]) -> list[int]:
    """The subprograms' new starts: the main program starts at 0 even when a
    ``gen_prologue`` went before its first instruction (``adjust_subprog_starts``
    leaves a start at the patched slot alone)."""
    return [0 if st == 0 else new_index[st] for st in starts]


def _kfunc_hidden_args(name: str, aux: Any, meta: int) -> list[Insn]:
    """``fixup_kfunc_call`` (kernel/bpf/verifier.c): ``bpf_obj_new``: R1 = the object's size,
    R2 = its struct meta; ``bpf_obj_drop``/``bpf_refcount_acquire``: R2 = meta; list push:
    R3 = meta, R4 = the node's offset; ``bpf_rbtree_add``: R4 = meta, R5 = the offset."""
    def ld_imm64(reg: int, v: int) -> list[Insn]:
        return [Insn(isa.LD_IMM64, reg, 0, 0, _s32(v & 0xFFFFFFFF)), Insn(0, 0, 0, 0, _s32(v >> 32))]

    def mov(reg: int, v: int) -> Insn:
        return Insn(isa.ALU64 | isa.MOV | isa.K, reg, 0, 0, _s32(v))
    if name in ("bpf_obj_new_impl", "bpf_percpu_obj_new_impl"):
        return [mov(1, aux.obj_new_size)] + ld_imm64(2, meta)
    if name in ("bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl", "bpf_refcount_acquire_impl"):
        return ld_imm64(2, meta)
    if name == "bpf_rbtree_add_impl":
        return ld_imm64(4, meta) + [mov(5, aux.insert_off)]
    return ld_imm64(3, meta) + [mov(4, aux.insert_off)]


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def install(machine: Any, po: ProgObject, fixed: Any) -> None:
    """``bpf_prog_alloc`` + the JIT (``bpf_int_jit_compile``): the rewritten program
    into the machine's BPF pack, with the verifier's subprogram starts, stack depths
    and ``tail_call_reachable`` functions; ``po.xlated`` is what ``prog_info`` reports
    as translated (where the kernel's dump turns ``BPF_TAIL_CALL`` back into
    ``call bpf_tail_call``). The direct tail calls are patched for the slots already
    filled (``bpf_tail_call_direct_fixup``) and the program is tracked by their prog
    arrays (``map_poke_track``), whose updates patch them again."""
    from verifier.fixups import BPF_TAIL_CALL

    po.xlated = [Insn(isa.CALL_INSN, 0, 0, 0, 12) if i.code == isa.JMP | BPF_TAIL_CALL else i
                 for i in fixed.insns]
    # jit_subprogs (6.18), after the JIT: a bpf-to-bpf call keeps its relative offset in
    # ``off`` and the callee's subprogram index in ``imm`` (what the dump shows)
    for k, i in enumerate(po.xlated):
        if i.code == isa.CALL_INSN and i.src == isa.PSEUDO_CALL:
            tgt = k + i.imm + 1
            po.xlated[k] = Insn(i.code, i.dst, i.src, i.imm, sum(1 for st in fixed.starts if st <= tgt) - 1)
    # the prog arrays among them (emu.kernel.maps.prog_array.ProgArrayMap: target, tracked)
    arrays: dict[int, Any] = {id(mo.spec): mo for mo in po.maps}
    pokes = fixed.pokes

    def target(poke: int) -> int | None:
        d = pokes[poke]
        return arrays[id(d.map)].target(d.key)

    res = po.result
    insns, starts, depths = list(fixed.insns), list(fixed.starts), list(fixed.stack_depths)
    tcr = list(res.tail_call_reachable)
    exc_cb = res.exception_callback_subprog or -1
    if res.seen_exception and not res.exception_callback_subprog:
        # do_misc_fixups (6.18): a program that throws without a callback of its own gets a
        # hidden one (add_hidden_subprog) returning the cookie: r0 = r1; exit
        exc_cb = len(starts)
        starts.append(len(insns))
        insns += [Insn(isa.ALU64 | isa.MOV | isa.X, 0, 1, 0, 0), Insn(isa.EXIT_INSN, 0, 0, 0, 0)]
        depths.append(0)
        tcr.append(False)
        po.xlated += insns[-2:]
    po.jp = machine.images.load_prog(po.prog, starts=starts, stack_depths=depths,
                                     insns=insns, tail_call_reachable=tcr, tail_call_targets=target,
                                     exception_boundary=res.seen_exception, exception_cb=exc_cb)
    po.pokes = pokes
    po.machine = machine
    for mo in {id(d.map): arrays[id(d.map)] for d in pokes}.values():
        mo.tracked.append(po)


def poke_update(machine: Any, po: ProgObject, array: Any, key: int, target: int | None) -> None:
    """``bpf_arch_poke_desc_update`` for each direct tail call of ``po`` through slot
    ``key`` of ``array``: the two 5-byte sites rewritten (``text_poke``)."""
    from jit.bpf_jit import tail_call_poke

    if po.jp is None:
        return
    for img in po.jp.funcs:
        for site in img.pokes:
            d = po.pokes[site.poke]
            if d.map is array.spec and d.key == key:
                for addr, code in tail_call_poke(site, img.addr, target, machine.images.cpu_config):
                    machine.packs.text_copy(addr, code)


def release(machine: Any, po: ProgObject) -> None:
    """``__bpf_prog_put_noref``: JIT image, ``struct bpf_prog``, maps, BTFs, modules
    (``machine`` is None when none was ever created)."""
    prog = po.prog
    for mo in po.maps:  # map_poke_untrack
        tracked: list[Any] = getattr(mo, "tracked", [])
        if po in tracked:
            tracked.remove(po)
    if po.jp is not None and machine is not None:
        machine.images.free_jit(po.jp)
        po.jp = None
    if prog.addr and machine is not None:
        machine.images.free_prog_struct(prog)
    for mo in po.maps:
        mo.put()
    po.maps.clear()
    for b in po.btfs:
        b.put()
    po.btfs.clear()
    for mod in po.modules:
        mod.put()
    po.modules.clear()
