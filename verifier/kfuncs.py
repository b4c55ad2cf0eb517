"""Kernel function (kfunc) calls: ``call`` with ``src_reg = BPF_PSEUDO_KFUNC_CALL``.

Models ``add_kfunc_call`` / ``find_kfunc_desc_btf`` (done before the walk, so
its messages come first in the log), ``fetch_kfunc_meta``, ``check_kfunc_call``,
``check_kfunc_args`` / ``get_kfunc_ptr_arg_type`` / ``process_kf_arg_ptr_to_btf_id``
and ``process_irq_flag`` of kernel/bpf/verifier.c (Linux 6.18):

* the BTF id must name a FUNC of vmlinux (``off == 0``) or of the module BTF at
  ``fd_array[off]``, registered (:class:`kernel_model.modules.KfuncTable`) and
  allowed for the program type (``calling kernel function %s is not allowed``);
* ``KF_DESTRUCTIVE`` needs CAP_SYS_BOOT (root), ``KF_SLEEPABLE`` a sleepable program;
* arguments: scalars take scalars (``__k``: a known constant); pointers to structs
  take a ``PTR_TO_BTF_ID`` of that struct or of one starting with it (strict for a
  released reference); ``KF_TRUSTED_ARGS`` (and ``KF_RELEASE``, which implies it)
  wants a referenced or trusted pointer, ``KF_RCU`` also accepts an RCU one
  (``MEM_RCU``); both refuse a maybe-NULL pointer unless the parameter is
  ``__nullable``; ``__ign`` parameters are skipped; ``__irq_flag`` takes a stack slot;
* ``KF_RELEASE`` releases the reference its argument holds (``release kernel
  function %s expects refcounted PTR_TO_BTF_ID`` without one) and invalidates every
  copy; ``KF_ACQUIRE`` returns a new reference, ``KF_RET_NULL`` a maybe-NULL pointer
  whose NULL branch drops the reference (``mark_ptr_or_null_regs``);
* memory (``KF_ARG_PTR_TO_MEM``): a pointer to a scalar or to a struct of scalars
  is checked for the pointee's BTF size, read then written (``check_mem_reg``); with a
  ``__sz``/``__szk`` size after it (``KF_ARG_PTR_TO_MEM_SIZE``, ``void *`` allowed),
  for the size register's range (``check_kfunc_mem_size_reg``); ``__opt`` buffers may be NULL;
* the special kfuncs ``bpf_rcu_read_lock``/``unlock`` (MEM_RCU pointers become
  untrusted at the unlock), ``bpf_preempt_disable``/``enable`` (nesting counted),
  ``bpf_local_irq_save``/``restore`` (a STACK_IRQ_FLAG slot and a REF_TYPE_IRQ
  reference, restored in order), and sleepable kfuncs inside those regions.

Left out (refused as not modelled, never accepted): the graph, dynptr, iterator,
arena, workqueue and ``bpf_obj_new`` families, ``__str``/``__map``/``__prog``/``__uninit``
parameters, callbacks, context arguments (``KF_ARG_PTR_TO_CTX``), ``rdonly_buf_size``,
kfuncs returning pointers to non-structs.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Callable, Final

from kernel_model.vmlinux import REDUCED_STRUCTS
from kernel_model.xdp_metadata import XDP_METADATA_KFUNCS
from kernel_model.sock_destroy import filter_allows
from kernel_model.kprobe_session import SESSION_COOKIE, session_filter_allows
from kernel_model.conntrack import CT_KFUNCS
from kernel_model import isa
from kernel_model.btf import Array, Composite, Enum, Enum64, Func, FuncProto, Int, Ptr

from .btf_ids_match import btf_struct_ids_match

if TYPE_CHECKING:
    from .core import Env
    from .decoded import DInsn

from . import precision
from .core import DST_OP_NO_MARK, SRC_OP, Reject
from .log import reg_type_str
from .regs import (
    BASE_TYPE_MASK, CONST_PTR_TO_DYNPTR, CONST_PTR_TO_MAP, MEM_RCU, MEM_RDONLY, MEM_UNINIT, NOT_INIT, PTR_TO_CTX, PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_MEM, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET,
    PTR_TO_STACK, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK, PTR_UNTRUSTED, SCALAR_VALUE, TRUSTED_MODIFIERS, base_type,
    is_trusted_reg, mark_known_zero, mark_not_init, mark_unknown, register_is_null, s64,
)
from .refs import (
    acquire_irq_state, acquire_reference, for_each_reg_in_vstate, release_irq_state,
    release_reference,
)
from .iters import ITER_FLAGS, IterMeta, process_iter_arg, process_iter_next_call
from . import graph
from . import kctx_kfuncs as kctx
from .state import BPF_REG_SIZE, STACK_INVALID, STACK_IRQ_FLAG

__all__ = ["resolve_kfunc", "check_kfunc_call", "RCU_LOCK", "RCU_UNLOCK", "PREEMPT_DISABLE", "PREEMPT_ENABLE",
           "IRQ_SAVE", "IRQ_RESTORE"]

# special_kfunc_list entries the model handles (vmlinux kfuncs, matched by name)
RCU_LOCK: Final = "bpf_rcu_read_lock"
RCU_UNLOCK: Final = "bpf_rcu_read_unlock"
PREEMPT_DISABLE: Final = "bpf_preempt_disable"
PREEMPT_ENABLE: Final = "bpf_preempt_enable"
IRQ_SAVE: Final = "bpf_local_irq_save"
IRQ_RESTORE: Final = "bpf_local_irq_restore"

#: special kfunc families the model does not have: calling one is "not modelled"
_UNMODELLED_PREFIXES: Final = ("bpf_obj_new", "bpf_percpu_obj", "bpf_obj_drop", "bpf_refcount_acquire",
                               "bpf_list_", "bpf_rbtree_", "bpf_dynptr", "bpf_iter_", "bpf_arena_", "bpf_wq_",
                               "bpf_res_spin_", "bpf_task_work_")

#: the dynptr kfuncs the model has (verifier.dynptrs; kernel/bpf/helpers.c common_btf_ids,
#: net/core/filter.c bpf_kfunc_check_set_skb / _xdp); other bpf_dynptr_* kfuncs are not modelled
DYNPTR_KFUNCS: Final = frozenset({"bpf_dynptr_adjust", "bpf_dynptr_is_null", "bpf_dynptr_is_rdonly",
                                  "bpf_dynptr_size", "bpf_dynptr_clone", "bpf_dynptr_slice",
                                  "bpf_dynptr_slice_rdwr", "bpf_dynptr_from_skb", "bpf_dynptr_from_xdp"})
_SLICES: Final = ("bpf_dynptr_slice", "bpf_dynptr_slice_rdwr")
#: other kfuncs whose first argument is the program's context (kernel_model.common_kfuncs)
CTX_ARG_KFUNCS: Final = frozenset({"bpf_sk_assign_tcp_reqsk"})
#: btf_is_prog_ctx_type: the uapi context struct of each program type the dynptr kfuncs take
_CTX_STRUCTS: Final = {"__sk_buff": frozenset({1, 3, 4, 8}), "xdp_md": frozenset({6})}
#: btf_is_projection_of (kernel/bpf/btf.c, 6.12/6.18): the uapi context -> the kernel struct behind it
_PROJECTIONS: Final = {"__sk_buff": "sk_buff", "xdp_md": "xdp_buff"}

#: reg2btf_ids[] (kernel/bpf/verifier.c, CONFIG_NET): register types that stand for a BTF struct
_REG2BTF: Final = {PTR_TO_SOCKET: "sock", PTR_TO_SOCK_COMMON: "sock_common", PTR_TO_TCP_SOCK: "tcp_sock",
                   PTR_TO_XDP_SOCK: "xdp_sock",
                   # [CONST_PTR_TO_MAP] = btf_bpf_map_id (6.12/6.18): a map lddw passes for a struct bpf_map *
                   CONST_PTR_TO_MAP: "bpf_map"}


def resolve_kfunc(v: Env, insn: DInsn) -> Any:
    """``add_kfunc_call``: the KfuncEntry a kfunc call names, or a rejection."""
    env = v.attr
    if not env.gpl_compatible:
        raise v.reject(E.EINVAL, "cannot call kernel function from non-GPL compatible program")
    off = insn.off
    if off == 0:
        btf = env.vmlinux_btf if env.vmlinux_btf is not None else env.attach_btf
        if btf is not None and btf.base is not None:
            btf = btf.base
    else:
        if off < 0:
            raise v.reject(E.EINVAL, "negative offset disallowed for kernel module function call")
        if not env.fd_array:
            raise v.reject(E.EPROTO, "kfunc offset > 0 without fd_array is invalid")
        if off >= len(env.fd_array):
            raise v.reject(E.EFAULT, "invalid module BTF fd specified")
        btf = env.fd_array[off]
        if getattr(btf, "base", None) is None:
            raise v.reject(E.EINVAL, "BTF fd for kfunc is not a module BTF")
    func_id = insn.imm
    try:
        t = btf.type_by_id(func_id) if btf is not None else None
    except Exception:
        t = None
    if not isinstance(t, Func):
        raise v.reject(E.EINVAL, f"kernel btf_id {func_id & 0xFFFFFFFF} is not a function")
    proto = btf.type_by_id(t.type_id)
    if not isinstance(proto, FuncProto):
        raise v.reject(E.EINVAL, f"kernel function btf_id {func_id} does not have a valid func_proto")
    entry = env.kfuncs.find(btf, func_id) if env.kfuncs is not None else None
    if entry is None:
        raise v.reject(E.EINVAL, f"cannot find address for kernel function {t.name}")
    if entry.module is None and t.name in XDP_METADATA_KFUNCS:
        # bpf_dev_bound_kfunc_check (kernel/bpf/offload.c): no load is bound to a device here
        raise v.reject(E.EINVAL, "metadata kfuncs require device-bound program")
    v.kfunc_names[(off, func_id)] = t.name
    return entry


#: parameter suffixes of kfunc argument kinds the model does not have (get_kfunc_ptr_arg_type,
#: Linux 6.18): constant strings, maps, programs, allocated and refcounted objects, uninitialised
#: dynptr/iterator slots
_UNMODELLED_SUFFIXES: Final = ("__str", "__map", "__prog", "__alloc", "__refcounted_kptr", "__uninit",
                               "__iter", "__async_callback")
#: structs standing for special objects (dynptrs, iterators, graph roots and nodes, wq, task_work,
#: resilient spin locks): never plain memory
_UNMODELLED_STRUCTS: Final = ("bpf_dynptr", "bpf_iter_", "bpf_list_", "bpf_rb_", "bpf_wq", "bpf_task_work",
                              "bpf_res_spin_lock")


def _is_mem_size_arg(btf: Any, p: Any, reg: Any, suffix: str) -> bool:
    """``is_kfunc_arg_mem_size`` (``__sz``) / ``is_kfunc_arg_const_mem_size`` (``__szk``): a
    scalar parameter with the suffix, passed a scalar register."""
    return _is_scalar(btf, p.type_id) and reg.type == SCALAR_VALUE and (p.name or "").endswith(suffix)


def _without_null(v: Env, regno: int, check: Callable[[], None]) -> None:
    """``mark_ptr_not_null_reg`` on a copy: the memory checks see a maybe-NULL pointer as
    not NULL, and the register keeps its type afterwards (``check_mem_reg``,
    ``check_kfunc_mem_size_reg``)."""
    reg = v.cur_regs()[regno]
    saved = reg.type
    if reg.type & PTR_MAYBE_NULL:
        reg.type &= ~PTR_MAYBE_NULL
    try:
        check()
    finally:
        reg.type = saved


def _check_kfunc_mem_arg(v: Env, btf: Any, proto: FuncProto, i: int, ref_t: Any, ref_id: int, ref_kind: str,
                         ref_tname: str, meta_name: str = "") -> int:
    """``KF_ARG_PTR_TO_MEM`` and ``KF_ARG_PTR_TO_MEM_SIZE`` of ``check_kfunc_args`` (Linux 6.18,
    kernel/bpf/verifier.c; ``get_kfunc_ptr_arg_type`` classifies, ``check_mem_reg`` and
    ``check_kfunc_mem_size_reg`` check): a pointer to a scalar or to a struct of scalars
    is memory of the pointee's BTF size, read and written by the kfunc (so a stack
    buffer must be initialised: ``check_helper_mem_access`` for BPF_READ then BPF_WRITE);
    followed by a ``__sz``/``__szk`` scalar it is a buffer of that many bytes (``void *``
    allowed; ``__szk`` must be a known constant; a NULL ``__opt`` buffer skips the size
    check). Returns the index of the last argument consumed (the size's, for a pair)."""
    from . import mem
    from .calls import CallMeta, _check_func_arg_reg_off
    regs = v.cur_regs()
    regno = i + 1
    reg = regs[regno]
    params = proto.params
    nxt = params[i + 1] if i + 1 < len(params) else None
    mem_size = nxt is not None and (_is_mem_size_arg(btf, nxt, regs[regno + 1], "__sz")
                                    or _is_mem_size_arg(btf, nxt, regs[regno + 1], "__szk"))
    is_void = ref_t is None
    # the emulated vmlinux's reduced structs (kernel_model.vmlinux.REDUCED_STRUCTS) are not the
    # kernel's: one whose kernel layout has pointers is never memory here; one of scalars but
    # another size is not modelled
    reduced = REDUCED_STRUCTS.get(ref_tname) if ref_t is not None and ref_kind in ("STRUCT", "UNION") \
        and btf is v.attr.vmlinux_btf else None
    if reduced is False:
        raise v.reject(E.EINVAL, f"kfunc argument #{i}: memory of the reduced struct {ref_tname} "
                                 "is not modelled by structops")
    if not (ref_t is not None and isinstance(ref_t, (Int, Enum, Enum64))) \
            and (reduced or not _is_scalar_struct(btf, ref_t)) \
            and not (mem_size and is_void):
        raise v.reject(E.EINVAL, f"arg#{i} pointer type {ref_kind} {ref_tname} must point to scalar, "
                                 "or struct with scalar")
    _check_func_arg_reg_off(v, reg, regno, 0)  # ARG_DONTCARE: fixed and variable offsets into memory
    if not mem_size:
        try:
            type_size = btf.size_of(ref_id)
        except Exception as e:  # btf_resolve_size: a FWD or a flexible pointee
            raise v.reject(E.EINVAL, f"arg#{i} reference type('{ref_kind} {ref_tname}') size cannot be "
                                     f"determined: {-E.EINVAL}") from e
        if register_is_null(reg):
            return i
        def check_mem_reg() -> None:
            mem.check_helper_mem_access(v, regno, type_size, mem.BPF_READ, True, None)
            mem.check_helper_mem_access(v, regno, type_size, mem.BPF_WRITE, True, None)
        _without_null(v, regno, check_mem_reg)
        return i
    assert nxt is not None
    size_reg = regs[regno + 1]
    v.check_reg_arg(regno + 1, SRC_OP)
    if not register_is_null(reg) or not (params[i].name or "").endswith("__opt"):
        cm = CallMeta(-1)

        def check_kfunc_mem_size_reg() -> None:
            mem.check_mem_size_reg(v, size_reg, regno + 1, mem.BPF_READ, True, cm)
            mem.check_mem_size_reg(v, size_reg, regno + 1, mem.BPF_WRITE, True, cm)
        try:
            _without_null(v, regno, check_kfunc_mem_size_reg)
        except Reject:
            v.verbose(f"arg#{i} arg#{i + 1} memory, len pair leads to invalid memory access\n")
            raise
    elif v.attr.vmlinux_btf is not None and meta_name in _SLICES:
        # 6.18 (the host's level-2 log): a NULL optional buffer is made precise
        precision.mark_chain_precision(v, regno)
    if _is_mem_size_arg(btf, nxt, size_reg, "__szk"):
        if size_reg.var_off[1]:
            raise v.reject(E.EINVAL, f"R{regno + 1} must be a known constant")
        if meta_name in _SLICES:
            precision.mark_chain_precision(v, regno + 1)  # meta.arg_constant: precise (6.18 host)
    return i + 1


#: NOCAST_ALIAS_SUFFIX (kernel/bpf/btf.c)
_NOCAST_ALIAS_SUFFIX: Final = "___init"


def _nocast_alias(reg_name: str, arg_name: str) -> bool:
    """``btf_type_ids_nocast_alias`` (kernel/bpf/btf.c, 6.12/6.18): one name is the other with
    ``___init`` at its end (``nf_conn`` / ``nf_conn___init``): such a pair is matched strictly."""
    if len(reg_name) == len(arg_name):
        return False
    short, long_ = (reg_name, arg_name) if len(reg_name) < len(arg_name) else (arg_name, reg_name)
    return long_ == short + _NOCAST_ALIAS_SUFFIX


def _is_scalar(btf: Any, tid: int) -> bool:
    t = btf.resolve(tid)
    return isinstance(t, (Int, Enum, Enum64))


def _is_scalar_struct(btf: Any, t: Any, depth: int = 0) -> bool:
    """``__btf_type_is_scalar_struct``: a struct of scalars (arrays of them, nested
    structs up to depth 4)."""
    if not isinstance(t, Composite) or depth > 4:
        return False
    for m in t.members:
        mt = btf.resolve(m.type_id)
        while isinstance(mt, Array):
            mt = btf.resolve(mt.type_id)
        if isinstance(mt, (Int, Enum, Enum64)):
            continue
        if isinstance(mt, Composite) and _is_scalar_struct(btf, mt, depth + 1):
            continue
        return False
    return True


def _flags(entry: Any) -> frozenset[str]:
    return frozenset(entry.kfunc.flags)


def _kfunc_allowed(v: Env, entry: Any) -> bool:
    """``btf_kfunc_id_set_contains`` for the program type's hook (a kfunc without
    registration facts, as the test modules' are, is allowed everywhere)."""
    prog_types = getattr(entry.kfunc, "prog_types", None)
    if entry.module is None and not filter_allows(entry.name, v.attr.expected_attach_type):
        return False  # a set's filter (kernel_model.sock_destroy: tracing_iter_filter)
    if entry.module is None and not session_filter_allows(entry.name, v.attr.expected_attach_type):
        return False  # bpf_kprobe_multi_filter (kernel_model.kprobe_session)
    return prog_types is None or v.attr.prog_type in prog_types


def _stack_spi(v: Env, reg: Any, kind: str) -> int:
    """``stack_slot_obj_get_spi`` for one slot: the slot index, -1 (``-ERANGE``: beyond
    the allocated stack) or -2 (a bad offset, logged here; the caller adds its message)."""
    off = reg.off + reg.var_off[0]
    if off >= 1 << 63:
        off -= 1 << 64
    if reg.var_off[1] or off % BPF_REG_SIZE or off >= 0:
        v.verbose(f"cannot pass in {kind} at an offset={off if not reg.var_off[1] else reg.off}\n")
        return -2
    spi = (-off - 1) // BPF_REG_SIZE
    if spi >= len(v.func_of(reg).stack):
        return -1
    return spi


def _process_irq_flag(v: Env, regno: int, name: str) -> None:
    """``process_irq_flag`` with ``mark_stack_slot_irq_flag`` / ``unmark_stack_slot_irq_flag``."""
    from . import mem
    reg = v.cur_regs()[regno]
    if name == IRQ_SAVE:
        spi = _stack_spi(v, reg, "irq_flag")
        if spi == -2 or (spi >= 0 and any(t == STACK_IRQ_FLAG for t in v.func_of(reg).stack[spi].types)):
            raise v.reject(E.EINVAL, f"expected uninitialized irq flag as arg#{regno - 1}")
        mem.check_mem_access(v, v.insn_idx, regno, 0, isa.DW, mem.BPF_WRITE, -1, False, False)
        spi = _stack_spi(v, reg, "irq_flag")
        func = v.func_of(reg)
        rid = acquire_irq_state(v, v.insn_idx)
        slot = func.stack[spi]
        st = slot.spilled
        mark_known_zero(st)
        st.type = PTR_TO_STACK
        st.ref_obj_id = rid
        v.stack_write_mark(func, spi, 0, BPF_REG_SIZE)  # bpf_mark_stack_write
        slot.types = [STACK_IRQ_FLAG] * BPF_REG_SIZE
        v.scratched_stack |= 1 << spi
        return
    if name != IRQ_RESTORE:
        raise v.reject(E.EFAULT, "verifier internal error: unknown irq flags kfunc")
    spi = _stack_spi(v, reg, "irq_flag")
    func = v.func_of(reg)
    if spi < 0 or any(t != STACK_IRQ_FLAG for t in func.stack[spi].types):
        raise v.reject(E.EINVAL, f"expected an initialized irq flag as arg#{regno - 1}")
    slot = func.stack[spi]
    v.stack_read_mark(func, spi)
    err = release_irq_state(v.cur, slot.spilled.ref_obj_id)
    if err:
        insn = 0
        for r in v.cur.refs:
            if r.id == v.cur.active_irq_id:
                insn = r.insn_idx
                break
        raise v.reject(-err, f"cannot restore irq state out of order, expected id={v.cur.active_irq_id} "
                             f"acquired at insn_idx={insn}")
    mark_not_init(slot.spilled, v.bpf_capable)
    v.stack_write_mark(func, spi, 0, BPF_REG_SIZE)
    slot.types = [STACK_INVALID] * BPF_REG_SIZE
    v.scratched_stack |= 1 << spi


class _Meta:
    """The parts of ``struct bpf_kfunc_call_arg_meta`` the model uses."""

    __slots__ = ("name", "flags", "ref_obj_id", "release_regno", "iter", "dynptr_id", "dynptr_type",
                 "dynptr_ref_obj_id", "arg_constant", "arg_btf", "arg_btf_id", "graph_field", "subprogno",
                 "arg_owning_ref")

    def __init__(self, name: str, flags: frozenset[str]) -> None:
        self.name = name
        self.flags = flags
        self.ref_obj_id = 0
        self.release_regno = 0
        self.iter = IterMeta()
        #: meta->initialized_dynptr
        self.dynptr_id = 0
        self.dynptr_type = 0
        self.dynptr_ref_obj_id = 0
        self.arg_constant: int | None = None  # meta->arg_constant (a '__k' scalar)
        self.arg_btf: Any = None
        self.arg_btf_id = 0
        self.graph_field: Any = None  # meta->arg_list_head.field / arg_rbtree_root.field
        self.subprogno = 0
        self.arg_owning_ref = False


def _process_kfunc_dynptr(v: Env, regno: int, pname: str, meta: _Meta) -> None:
    """``KF_ARG_PTR_TO_DYNPTR`` of ``check_kfunc_args`` (Linux 6.12/6.18): a const dynptr
    (a callback's) is MEM_RDONLY, an ``__uninit`` parameter MEM_UNINIT; from_skb/from_xdp
    make skb/xdp dynptrs, a clone takes its parent's type and reference."""
    from . import dynptrs as D
    from .calls import _check_func_arg_reg_off
    from .helpers import ARG_PTR_TO_DYNPTR
    reg = v.cur_regs()[regno]
    _check_func_arg_reg_off(v, reg, regno, 0)
    arg_type = ARG_PTR_TO_DYNPTR
    clone_ref = 0
    if reg.type == CONST_PTR_TO_DYNPTR:
        arg_type |= MEM_RDONLY
    if pname.endswith("__uninit"):
        arg_type |= MEM_UNINIT
    if meta.name == "bpf_dynptr_from_skb":
        arg_type |= D.DYNPTR_TYPE_SKB
    elif meta.name == "bpf_dynptr_from_xdp":
        arg_type |= D.DYNPTR_TYPE_XDP
    elif meta.name == "bpf_dynptr_clone" and arg_type & MEM_UNINIT:
        parent = meta.dynptr_type
        if parent == D.BPF_DYNPTR_TYPE_INVALID:
            raise v.reject(E.EFAULT, "verifier internal error: no dynptr type for parent of clone")
        arg_type |= D.get_dynptr_type_flag(parent)
        clone_ref = meta.dynptr_ref_obj_id
        if D.dynptr_type_refcounted(parent) and not clone_ref:
            raise v.reject(E.EFAULT, "verifier internal error: missing ref obj id for parent of clone")
    D.process_dynptr_func(v, regno, v.insn_idx, arg_type, clone_ref)
    if not arg_type & MEM_UNINIT:
        did = D.dynptr_id(v, reg)
        if did < 0:
            raise v.reject(-did, "verifier internal error: failed to obtain dynptr id")
        meta.dynptr_id = did
        meta.dynptr_type = D.dynptr_get_type(v, reg)
        meta.dynptr_ref_obj_id = D.dynptr_ref_obj_id(v, reg)


def _check_kfunc_args(v: Env, entry: Any, proto: FuncProto, meta: _Meta) -> None:
    """``check_kfunc_args``."""
    btf = entry.btf
    name = meta.name
    flags = meta.flags
    release = "KF_RELEASE" in flags
    trusted_args = "KF_TRUSTED_ARGS" in flags or release  # is_kfunc_trusted_args
    rcu = "KF_RCU" in flags
    regs = v.cur_regs()
    nargs = len(proto.params)
    if nargs > 5:
        raise v.reject(E.EINVAL, f"Function {name} has {nargs} > 5 args")
    i = -1
    while i + 1 < nargs:
        i += 1
        p = proto.params[i]
        regno = i + 1
        v.check_reg_arg(regno, SRC_OP)
        reg = regs[regno]
        pname = p.name or ""
        t = btf.resolve(p.type_id)
        if pname.endswith("__ign"):
            continue
        if isinstance(t, (Int, Enum, Enum64)):
            if reg.type != SCALAR_VALUE:
                raise v.reject(E.EINVAL, f"R{regno} is not a scalar")
            if pname.endswith("__k"):
                if meta.arg_constant is not None:
                    raise v.reject(E.EFAULT, "verifier internal error: only one constant argument permitted")
                if reg.var_off[1]:
                    raise v.reject(E.EINVAL, f"R{regno} must be a known constant")
                precision.mark_chain_precision(v, regno)
                meta.arg_constant = reg.var_off[0]
            elif pname in ("rdonly_buf_size", "rdwr_buf_size"):
                raise v.reject(E.EINVAL, f"kfunc {name} argument #{i} ({pname}) is not modelled by structops")
            continue  # a '__sz' not after a memory argument is a plain scalar, as in the kernel
        if not isinstance(t, Ptr):
            raise v.reject(E.EINVAL, f"Unrecognized arg#{i} type {t.kind_name}")
        if name == kctx.CAST_TO_KERN_CTX and entry.module is None:
            kctx.check_ctx_arg(v, regno, meta)  # KF_ARG_PTR_TO_CTX whatever the BTF type
            continue
        nullable = pname.endswith("__nullable")
        # (an iterator argument is refused NULL the same way on the 6.18 host)
        # (the graph kfuncs too: the 6.18 host refuses a maybe-NULL node for bpf_rbtree_add with
        # this line, rbtree_fail.o's rbtree_api_use_unchecked_remove_retval)
        if (trusted_args or rcu or (i == 0 and flags & ITER_FLAGS)
                or (entry.module is None and name in graph.GRAPH_KFUNCS)) and \
                (register_is_null(reg) or reg.type & PTR_MAYBE_NULL) and not nullable:
            raise v.reject(E.EACCES, f"Possibly NULL pointer passed to trusted arg{i}")
        if reg.ref_obj_id:
            if release and meta.ref_obj_id:
                raise v.reject(E.EFAULT, "verifier internal error: more than one arg with ref_obj_id "
                                         f"R{regno} {reg.ref_obj_id} {meta.ref_obj_id}")
            meta.ref_obj_id = reg.ref_obj_id
            if release:
                meta.release_regno = regno
        ref_id = btf.skip_modifiers(t.type_id) if t.type_id else 0
        ref_t = btf.type_by_id(ref_id) if ref_id else None
        ref_tname = ref_t.name if ref_t is not None else ""
        ref_kind = ref_t.kind_name if ref_t is not None else "UNKNOWN"
        # get_kfunc_ptr_arg_type
        projection_arg = False
        if isinstance(ref_t, Composite) and ref_tname in _CTX_STRUCTS and (
                meta.name in DYNPTR_KFUNCS or meta.name in CT_KFUNCS) and \
                v.attr.prog_type not in _CTX_STRUCTS[ref_tname] and base_type(reg.type) == PTR_TO_BTF_ID:
            # not this type's context (btf_is_prog_ctx_type is false): a BTF pointer goes on to
            # KF_ARG_PTR_TO_BTF_ID, where the kernel struct the projection stands for passes
            # (process_kf_arg_ptr_to_btf_id's btf_is_projection_of, kernel/bpf/verifier.c 6.12/6.18):
            # a tp_btf or netfilter program's sk_buff for bpf_dynptr_from_skb
            projection_arg = True
        elif isinstance(ref_t, Composite) and ref_tname in _CTX_STRUCTS and (
                meta.name in DYNPTR_KFUNCS or meta.name in CT_KFUNCS or meta.name in CTX_ARG_KFUNCS):
            # btf_is_prog_ctx_type: KF_ARG_PTR_TO_CTX (only the dynptr kfuncs take one here)
            if v.attr.prog_type not in _CTX_STRUCTS[ref_tname]:
                raise v.reject(E.EINVAL, f"kfunc {name} argument #{i} ({ref_tname}) is not modelled by "
                                         "structops for this program type")
            from .calls import _check_func_arg_reg_off
            _check_func_arg_reg_off(v, reg, regno, 0)
            if reg.type != PTR_TO_CTX:
                raise v.reject(E.EINVAL, f"arg#{i} expected pointer to ctx, but got {reg_type_str(reg.type)}")
            continue
        if nullable and register_is_null(reg):
            continue  # KF_ARG_PTR_TO_NULL
        if isinstance(ref_t, Composite) and ref_tname == "bpf_dynptr" and not pname.endswith("__uninit"):
            # is_kfunc_arg_dynptr: KF_ARG_PTR_TO_DYNPTR for any kfunc (kernel/bpf/verifier.c,
            # 6.12/6.18 check_kfunc_args), e.g. bpf_crypto_encrypt's src/dst/siv; an __uninit one
            # (a dynptr the kfunc initialises) only for the dynptr kfuncs the model has
            _process_kfunc_dynptr(v, regno, pname, meta)
            continue
        if isinstance(ref_t, Composite) and ref_tname == "bpf_dynptr" and meta.name in DYNPTR_KFUNCS:
            _process_kfunc_dynptr(v, regno, pname, meta)  # is_kfunc_arg_dynptr
            continue
        if i == 0 and flags & ITER_FLAGS:  # is_kfunc_arg_iter: KF_ARG_PTR_TO_ITER
            ref = process_iter_arg(v, regno, entry, proto, flags, meta.iter)
            if ref:
                meta.ref_obj_id = ref
            continue
        if pname.endswith("__irq_flag"):
            if reg.type != PTR_TO_STACK:
                raise v.reject(E.EINVAL, f"arg#{i} doesn't point to an irq flag on stack")
            _process_irq_flag(v, regno, name)
            continue
        kind = graph.graph_arg_kind(pname, ref_t) if entry.module is None else ""
        if kind:  # KF_ARG_PTR_TO_ALLOC_BTF_ID, _REFCOUNTED_KPTR, _LIST_HEAD/_NODE, _RB_ROOT/_NODE
            graph.check_graph_arg(v, meta, i, regno, reg, kind, release)
            continue
        bt = base_type(reg.type)
        if bt == PTR_TO_BTF_ID or bt in _REG2BTF:
            if not isinstance(ref_t, Composite):
                raise v.reject(E.EINVAL, f"kernel function {name} args#{i} pointer type {ref_kind} {ref_tname} "
                                         "is not supported")
            # KF_ARG_PTR_TO_BTF_ID
            if (trusted_args or rcu) and not is_trusted_reg(reg):
                if not rcu:
                    raise v.reject(E.EINVAL, f"R{regno} must be referenced or trusted")
                if not reg.type & MEM_RCU:
                    raise v.reject(E.EINVAL, f"R{regno} must be a rcu pointer")
            # check_func_arg_reg_off
            if release and reg.ref_obj_id:
                if reg.off:
                    raise v.reject(E.EINVAL, f"R{regno} must have zero offset when passed to release func or "
                                             "trusted arg to kfunc")
                from .mem import check_ptr_off_reg
                check_ptr_off_reg(v, reg, regno, False)
            else:
                from .mem import check_ptr_off_reg
                check_ptr_off_reg(v, reg, regno, True)
            flagbits = reg.type & ~BASE_TYPE_MASK
            unsafe = bool(flagbits & ~TRUSTED_MODIFIERS)
            if (bt != PTR_TO_BTF_ID or (unsafe and not reg.type & MEM_RCU)) and bt not in _REG2BTF:
                raise v.reject(E.EINVAL, f"arg#{i} is {reg_type_str(reg.type)} expected "
                                         f"{reg_type_str(bt | (flagbits & TRUSTED_MODIFIERS))} or socket")
            if bt in _REG2BTF:
                rbtf = v.attr.vmlinux_btf if v.attr.vmlinux_btf is not None else btf
                rid = rbtf.find(_REG2BTF[bt], 4) if rbtf is not None else None
                if rid is None:
                    raise v.reject(E.EINVAL, f"kfunc {name} argument #{i} is not modelled by structops")
                reg_btf, reg_id = rbtf, rid
            else:
                reg_btf, reg_id = reg.btf, reg.btf_id
            strict = release and bool(reg.ref_obj_id)
            if not strict:  # btf_type_ids_nocast_alias: X and X___init never stand for each other
                rname = getattr(reg_btf.type_by_id(reg_btf.skip_modifiers(reg_id)), "name", "") or ""
                strict = _nocast_alias(rname, ref_tname)
            rt = reg_btf.type_by_id(reg_btf.skip_modifiers(reg_id))
            if projection_arg and _PROJECTIONS.get(ref_tname) == rt.name:
                continue  # taking_projection: __sk_buff for sk_buff, xdp_md for xdp_buff
            if not btf_struct_ids_match(reg_btf, reg_id, reg.off, btf, ref_id, strict):
                raise v.reject(E.EINVAL, f"kernel function {name} args#{i} expected pointer to {ref_kind} "
                                         f"{ref_tname} but R{regno} has a pointer to {rt.kind_name} {rt.name}")
            continue
        if isinstance(ref_t, FuncProto) and name == graph.RBTREE_ADD and entry.module is None:
            graph.check_callback_arg(v, meta, i, reg)  # KF_ARG_PTR_TO_CALLBACK
            continue
        if pname.endswith(_UNMODELLED_SUFFIXES) or isinstance(ref_t, FuncProto) or (
                isinstance(ref_t, Composite) and ref_tname.startswith(_UNMODELLED_STRUCTS)):
            # __str/__map/__prog/__alloc ..., callbacks, dynptrs, iterators, graph nodes, wq
            raise v.reject(E.EINVAL, f"kfunc {name} argument #{i} ({pname or ref_tname}) is not modelled "
                                     "by structops")
        i = _check_kfunc_mem_arg(v, btf, proto, i, ref_t, ref_id, ref_kind, ref_tname, name)
    if release and not meta.release_regno:
        raise v.reject(E.EINVAL, f"release kernel function {name} expects refcounted PTR_TO_BTF_ID")


def check_kfunc_call(v: Env, insn: DInsn) -> None:
    """``check_kfunc_call``: flags, arguments, the RCU/preemption/IRQ regions, the
    release, then R0 (with KF_ACQUIRE / KF_RET_NULL)."""
    entry = resolve_kfunc(v, insn)
    btf = entry.btf
    func = btf.type_by_id(entry.btf_id)
    proto: FuncProto = btf.type_by_id(func.type_id)
    name = entry.name
    flags = _flags(entry)
    if not _kfunc_allowed(v, entry):
        raise v.reject(E.EACCES, f"calling kernel function {name} is not allowed")
    is_vmlinux = entry.module is None
    if is_vmlinux and name.startswith(_UNMODELLED_PREFIXES) and not flags & ITER_FLAGS \
            and name not in DYNPTR_KFUNCS and name not in graph.GRAPH_KFUNCS:
        raise v.reject(E.EINVAL, f"kfunc {name} is not modelled by structops")
    if "KF_DESTRUCTIVE" in flags and not v.attr.privileged:
        raise v.reject(E.EACCES, "destructive kfunc calls require CAP_SYS_BOOT capability")
    sleepable = "KF_SLEEPABLE" in flags
    st = v.cur
    if sleepable and not st.in_sleepable:
        raise v.reject(E.EACCES, f"program must be sleepable to call sleepable kfunc {name}")
    meta = _Meta(name, flags)
    _check_kfunc_args(v, entry, proto, meta)
    if is_vmlinux:
        graph.graph_after_args(v, meta, entry)
    rcu_lock = is_vmlinux and name == RCU_LOCK
    rcu_unlock = is_vmlinux and name == RCU_UNLOCK
    preempt_disable = is_vmlinux and name == PREEMPT_DISABLE
    preempt_enable = is_vmlinux and name == PREEMPT_ENABLE
    if st.active_rcu_lock:
        if rcu_lock:
            raise v.reject(E.EINVAL, f"nested rcu read lock (kernel function {name})")
        if rcu_unlock:
            # MEM_RCU pointers (registers and spills) become untrusted outside the section
            for reg in for_each_reg_in_vstate(st):
                if reg.type & MEM_RCU:
                    reg.type = (reg.type & ~(MEM_RCU | PTR_MAYBE_NULL)) | PTR_UNTRUSTED
            st.active_rcu_lock = False
        elif sleepable:
            raise v.reject(E.EACCES, f"kernel func {name} is sleepable within rcu_read_lock region")
    elif rcu_lock:
        st.active_rcu_lock = True
    elif rcu_unlock:
        raise v.reject(E.EINVAL, f"unmatched rcu read unlock (kernel function {name})")
    if st.active_preempt_locks:
        if preempt_disable:
            st.active_preempt_locks += 1
        elif preempt_enable:
            st.active_preempt_locks -= 1
        elif sleepable:
            raise v.reject(E.EACCES, f"kernel func {name} is sleepable within non-preemptible region")
    elif preempt_disable:
        st.active_preempt_locks += 1
    elif preempt_enable:
        raise v.reject(E.EINVAL, f"unmatched attempt to enable preemption (kernel function {name})")
    if st.active_irq_id and sleepable:
        raise v.reject(E.EACCES, f"kernel func {name} is sleepable within IRQ-disabled region")
    if meta.release_regno:
        if not release_reference(v, v.cur_regs()[meta.release_regno].ref_obj_id):
            raise v.reject(E.EINVAL, f"kfunc {name}#{entry.btf_id} reference has not been acquired before")
    if is_vmlinux and name == "bpf_throw":  # (verifier.exceptions)
        from .exceptions import check_throw_call
        check_throw_call(v)
    if is_vmlinux:
        graph.graph_release(v, meta, entry)
    regs = v.cur_regs()
    slice_size = regs[4].var_off[0] if is_vmlinux and name in _SLICES else 0  # meta.arg_constant (__szk)
    slice_buf = None
    if is_vmlinux and name in _SLICES and regs[3].type == PTR_TO_STACK:
        from .dynptrs import SliceBuf
        if regs[3].var_off[1]:
            raise v.reject(E.EINVAL, f"kfunc {name}: a variable-offset stack buffer is not modelled by structops")
        slice_buf = SliceBuf(regs[3].frameno, regs[3].off + s64(regs[3].var_off[0]), slice_size)
    for i in range(6):
        mark_not_init(regs[i], v.bpf_capable)
        v.check_reg_arg(i, DST_OP_NO_MARK)
    r0 = regs[0]
    if is_vmlinux and name in (kctx.CAST_TO_KERN_CTX, kctx.RDONLY_CAST):
        kctx.kctx_ret(v, r0, name, meta, btf)
        r0.subreg_def = 0
        v.aux[v.insn_idx].kfunc = entry
        v.scratched_regs |= 1
        return
    if is_vmlinux and name in _SLICES:
        _slice_ret(v, r0, name, meta, slice_size)
        r0.map = slice_buf
        r0.subreg_def = 0
        v.aux[v.insn_idx].kfunc = entry
        v.scratched_regs |= 1
        return
    ret_id = btf.skip_modifiers(proto.ret_type_id) if proto.ret_type_id else 0
    rt = btf.type_by_id(ret_id) if ret_id else None
    is_struct_ptr = isinstance(rt, Ptr) and isinstance(btf.resolve(rt.type_id) if rt.type_id else None, Composite)
    special = is_vmlinux and name in graph.GRAPH_KFUNCS
    if "KF_ACQUIRE" in flags and not is_struct_ptr and not (
            special and name in (graph.OBJ_NEW, graph.PERCPU_OBJ_NEW, graph.REFCOUNT_ACQUIRE)):
        raise v.reject(E.EINVAL, "acquire kernel function does not return PTR_TO_BTF_ID")
    if special and isinstance(rt, Ptr) and graph.graph_ret(v, meta, r0):
        # the special returns, then KF_RET_NULL and KF_ACQUIRE as check_kfunc_call does them
        # (is_kfunc_ret_null: bpf_refcount_acquire of an owning reference cannot fail)
        ret_null = "KF_RET_NULL" in flags and not (name == graph.REFCOUNT_ACQUIRE and meta.arg_owning_ref)
        if ret_null:
            r0.type |= PTR_MAYBE_NULL
            r0.id = v.new_id()
        if "KF_ACQUIRE" in flags:
            rid = acquire_reference(v, v.insn_idx)
            if ret_null:
                r0.id = rid
            r0.ref_obj_id = rid
        else:
            graph.graph_after_ret(v, meta, r0)
    elif rt is None:
        if special:
            graph.graph_void_ret(v, meta)
        r0.type = NOT_INIT
    elif _is_scalar(btf, ret_id):
        mark_unknown(r0, v.bpf_capable)
    elif isinstance(rt, Ptr):
        pid = btf.skip_modifiers(rt.type_id) if rt.type_id else 0
        pt = btf.type_by_id(pid) if pid else None
        if pt is None:
            mark_unknown(r0, v.bpf_capable)  # 'void *' is a scalar
        elif isinstance(pt, (Int, Enum, Enum64)):
            # a pointer to a scalar: read-only memory of its size (meta.r0_size from
            # btf_resolve_size, r0_rdonly), tied to the argument's reference (an iterator's);
            # bpf_session_cookie's 8 bytes are writable (check_kfunc_call sets r0_size,
            # r0_rdonly = false, 6.10+)
            mark_known_zero(r0)
            r0.type = PTR_TO_MEM if is_vmlinux and name == SESSION_COOKIE else PTR_TO_MEM | MEM_RDONLY
            r0.mem_size = pt.size
            if meta.ref_obj_id:
                r0.ref_obj_id = meta.ref_obj_id
            if "KF_RET_NULL" in flags:
                r0.type |= PTR_MAYBE_NULL
                r0.id = v.new_id()
        elif not isinstance(pt, Composite):
            raise v.reject(E.EINVAL, f"kfunc {name} returning a pointer to {pt.kind_name} {pt.name} "
                                     "is not modelled by structops")
        else:
            # a plain PTR_TO_BTF_ID ("ptr_"): referenced ones count as trusted (is_trusted_reg);
            # with KF_RET_NULL a fresh id, replaced by the reference id for KF_ACQUIRE
            # (the host prints R0=ptr_or_null_task_struct(id=2,ref_obj_id=2) refs=2)
            mark_known_zero(r0)
            r0.type = PTR_TO_BTF_ID
            r0.btf = btf
            r0.btf_id = pid
            if "KF_RET_NULL" in flags:
                r0.type |= PTR_MAYBE_NULL
                r0.id = v.new_id()
            if "KF_ACQUIRE" in flags:
                rid = acquire_reference(v, v.insn_idx)
                if "KF_RET_NULL" in flags:
                    r0.id = rid
                r0.ref_obj_id = rid
    else:
        raise v.reject(E.EINVAL, f"kernel function {name} returns {rt.kind_name} which is not supported")
    r0.subreg_def = 0
    v.aux[v.insn_idx].kfunc = entry
    v.scratched_regs |= 1
    if "KF_ITER_NEXT" in flags:
        process_iter_next_call(v, v.insn_idx, meta.iter)



def _slice_ret(v: Env, r0: Any, name: str, meta: _Meta, size: int) -> None:
    """``check_kfunc_call``'s return for ``bpf_dynptr_slice(_rdwr)``: memory of the
    constant ``buffer__szk`` size tagged with the dynptr's type, read-only for
    ``bpf_dynptr_slice``; ``_rdwr`` needs a program that may write packet data; the
    slice carries the dynptr's id (not its reference); KF_RET_NULL."""
    from . import dynptrs as D
    from .mem import BPF_WRITE, may_access_direct_pkt_data
    mark_known_zero(r0)
    r0.mem_size = size
    r0.type = PTR_TO_MEM | D.get_dynptr_type_flag(meta.dynptr_type)
    if name == "bpf_dynptr_slice":
        r0.type |= MEM_RDONLY
    elif not may_access_direct_pkt_data(v, None, BPF_WRITE):
        raise v.reject(E.EINVAL, "the prog does not allow writes to packet data")
    if not meta.dynptr_id:
        raise v.reject(E.EFAULT, "verifier internal error: no dynptr id")
    r0.btf_id = meta.dynptr_id  # reg->dynptr_id (verifier.dynptrs: the union)
    if "KF_RET_NULL" in meta.flags:
        r0.type |= PTR_MAYBE_NULL
        r0.id = v.new_id()
