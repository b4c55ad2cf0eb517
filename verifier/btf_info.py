"""BTF func_info and line_info: the records' checks, global functions, source lines in the log.

Models, from Linux 6.18 (kernel/bpf/verifier.c, kernel/bpf/btf.c, kernel/bpf/log.c):

* ``check_btf_func_early`` (record size, offsets, ``invalid type id %d in func info``),
  ``check_btf_func`` (one record per subprogram at its start, the linkage of each
  function, LD_ABS and tail calls only in functions returning a scalar),
  ``check_abnormal_return`` (without BTF, no subprogram may hold either) and
  ``check_btf_line`` (offsets strictly increasing, on real instructions, string
  offsets inside the BTF, one record at every subprogram's start);
* ``btf_prepare_func_args``: a function's BTF prototype as the verifier's argument
  types -- scalars (``ARG_ANYTHING``), the program's context (``ARG_PTR_TO_CTX``: a
  pointer to the type's canonical context struct, or ``__arg_ctx``), and for a
  global function any other pointer as ``PTR_TO_MEM`` of the pointee's size, NULL
  allowed unless ``__arg_nonnull``; the return type must be a scalar;
* ``btf_check_subprog_call`` / ``btf_check_func_arg_match``: a call's registers
  against those types (a static function whose BTF does not match is marked
  unreliable; for a global one it is the caller's error); a ``struct bpf_dynptr *``
  argument is ``ARG_PTR_TO_DYNPTR | MEM_RDONLY`` (``btf_is_dynptr_ptr``: the caller passes an
  initialized dynptr, the function sees a local CONST_PTR_TO_DYNPTR, :mod:`verifier.dynptrs`);
* ``find_linfo`` / ``verbose_linfo``: the ``; <source line> @ <file>:<line>`` lines
  the log prints before an instruction whose line differs from the last printed.

* the ``arg:`` decl tags of a global function's pointer arguments (``__arg_ctx``,
  ``__arg_nonnull``, ``__arg_nullable``, ``__arg_trusted``, ``__arg_untrusted`` (6.17+),
  ``__arg_arena``): a trusted one is ``ARG_PTR_TO_BTF_ID | PTR_TRUSTED`` (``| PTR_MAYBE_NULL``
  with ``__arg_nullable``) of the vmlinux struct of the same name (``btf_get_ptr_to_btf_id``);
  the caller passes ``ptr_``, ``trusted_ptr_`` or ``rcu_ptr_`` of that struct (or one that
  embeds it first), NULL only to a nullable one (``check_reg_type``); the function sees
  ``trusted_ptr_`` (``_or_null``). An untrusted one takes anything and is an untrusted
  BTF pointer (a struct) or read-only memory of size 0 (``void *``, a primitive); an arena
  one takes a ``PTR_TO_ARENA`` or a scalar and is a scalar inside.

Not modelled (refused as "not modelled by structops", never accepted): a tagged pointer to a
type the emulated vmlinux BTF lacks (the real kernel's may have it), program extensions
(``BPF_PROG_TYPE_EXT``), CO-RE relocation records passed to the kernel (``check_core_relo``:
libbpf applies them itself).
"""

from __future__ import annotations

import errno as E
import struct
from typing import Any, Final

from kernel_model.btf import structs as BS
from kernel_model.uapi import PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL

from . import mem
from .core import Env, NotModelledArg, Reject
from .helpers import ARG_ANYTHING, ARG_PTR_TO_ARENA, ARG_PTR_TO_BTF_ID, ARG_PTR_TO_CTX, ARG_PTR_TO_DYNPTR, ARG_PTR_TO_MEM
from .mem import BPF_READ, BPF_WRITE
from .log import reg_type_str
from .regs import (MEM_RCU, MEM_RDONLY, PTR_MAYBE_NULL, PTR_TO_ARENA, PTR_TO_BTF_ID, PTR_TO_CTX, PTR_TRUSTED,
                   PTR_UNTRUSTED, SCALAR_VALUE, RegState, base_type, is_trusted_reg, register_is_null)

__all__ = ["check_btf_func_early", "check_btf_info", "btf_prepare_func_args", "btf_check_subprog_call",
           "verbose_linfo", "subprog_name", "SubprogArg"]

#: MIN_BPF_FUNCINFO_SIZE / MAX_FUNCINFO_REC_SIZE (kernel/bpf/verifier.c)
MIN_FUNCINFO_SIZE: Final = 8
MAX_INFO_REC_SIZE: Final = 252
#: sizeof(struct bpf_line_info) (MIN_BPF_LINEINFO_SIZE: up to line_col)
LINEINFO_SIZE: Final = 16
#: MAX_BPF_FUNC_REG_ARGS
MAX_FUNC_REG_ARGS: Final = 5
#: the canonical context type of a program type: the user-visible ``prog_ctx_type`` of
#: include/linux/bpf_types.h (Linux 6.12/6.18), as find_canonical_prog_ctx_type() finds it in
#: vmlinux's ``struct bpf_ctx_convert``; "" where it is not a named struct (``void *`` of
#: tracing, struct_ops, ext, lsm, syscall; ``__u64`` of tracepoints; ``__u32`` of lirc_mode2):
#: there only ``__arg_ctx`` makes a context argument. Kprobes' is the typedef
#: ``bpf_user_pt_regs_t`` (``struct pt_regs`` on x86-64), resolved as the kernel's ``again:``
#: loop resolves it.
_CTX_STRUCT: Final = {1: "__sk_buff", 2: "pt_regs", 3: "__sk_buff", 4: "__sk_buff", 6: "xdp_md",
                      7: "bpf_perf_event_data", 8: "__sk_buff", 9: "bpf_sock", 10: "__sk_buff",
                      11: "__sk_buff", 12: "__sk_buff", 13: "bpf_sock_ops", 14: "__sk_buff",
                      15: "bpf_cgroup_dev_ctx", 16: "sk_msg_md", 17: "bpf_raw_tracepoint_args",
                      18: "bpf_sock_addr", 19: "__sk_buff", 21: "sk_reuseport_md", 22: "__sk_buff",
                      23: "bpf_sysctl", 24: "bpf_raw_tracepoint_args", 25: "bpf_sockopt",
                      30: "bpf_sk_lookup", 32: "bpf_nf_ctx"}
#: the kernel's own name a projected context may have (btf_is_projection_of)
_PROJECTION: Final = {"__sk_buff": "sk_buff", "xdp_md": "xdp_buff"}
#: BPF_PROG_TYPE_LSM / _TRACEPOINT / _KPROBE / _PERF_EVENT / _RAW_TRACEPOINT(_WRITABLE) /
#: _TRACING / _EXT (include/uapi/linux/bpf.h), named only here
_LSM: Final = 29
_TRACEPOINT: Final = 5
_KPROBE: Final = 2
_PERF_EVENT: Final = 7
_RAW_TPS: Final = (17, 24)
_TRACING: Final = 26
_EXT: Final = 28
#: BPF_TRACE_RAW_TP, BPF_TRACE_FENTRY, BPF_TRACE_FEXIT, BPF_MODIFY_RETURN, BPF_TRACE_ITER
_TRACE_RAW_TP, _TRACE_FENTRY, _TRACE_FEXIT, _MODIFY_RETURN, _TRACE_ITER = 23, 24, 25, 26, 28
#: the typedef kprobe (and perf_event) contexts may be given by
_USER_PT_REGS: Final = "bpf_user_pt_regs_t"
#: enum btf_arg_tag
ARG_TAG_CTX: Final = 1
ARG_TAG_NONNULL: Final = 2
ARG_TAG_TRUSTED: Final = 4
ARG_TAG_NULLABLE: Final = 8
ARG_TAG_ARENA: Final = 16
ARG_TAG_UNTRUSTED: Final = 32
_TAGS: Final = {"ctx": ARG_TAG_CTX, "trusted": ARG_TAG_TRUSTED, "nonnull": ARG_TAG_NONNULL,
                "nullable": ARG_TAG_NULLABLE, "arena": ARG_TAG_ARENA, "untrusted": ARG_TAG_UNTRUSTED}


class SubprogArg:
    """``struct bpf_subprog_arg_info``: the verifier's type of one argument (``btf_id``: the
    vmlinux type of an ``ARG_PTR_TO_BTF_ID`` one)."""

    __slots__ = ("arg_type", "mem_size", "btf_id")

    def __init__(self, arg_type: int, mem_size: int = 0, btf_id: int = 0) -> None:
        self.arg_type = arg_type
        self.mem_size = mem_size
        self.btf_id = btf_id


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _count(data: bytes, rec_size: int) -> int:
    """``attr.*_info_cnt``: the records the bytes hold (the emulated bpf() passes bytes)."""
    if not data:
        return 0
    return len(data) // rec_size if rec_size > 0 else 1


def _type(btf: Any, tid: int) -> Any:
    """``btf_type_by_id``: None when out of range."""
    if btf is None:
        return None
    try:
        return btf.type_by_id(tid)
    except Exception:
        return None


def _skip_mods(btf: Any, tid: int) -> Any:
    t = _type(btf, tid)
    n = 0
    while t is not None and t.kind in BS.MODIFIER_KINDS and n < 64:
        t = _type(btf, t.type_id)
        n += 1
    return t


def _is_int(t: Any) -> bool:
    return t is not None and t.kind == BS.KIND_INT


def _is_any_enum(t: Any) -> bool:
    return t is not None and t.kind in (BS.KIND_ENUM, BS.KIND_ENUM64)


def _fail(env: Env, err: int, message: str) -> Reject:
    """A message written as the kernel writes it (some of check_btf_*'s end without a newline)."""
    env.verbose(message)
    return Reject(err)


# --- func_info -------------------------------------------------------------------------------
def check_btf_func_early(env: Env) -> None:
    """``check_btf_func_early``: the func_info records, before the subprograms are known."""
    a = env.attr
    nfuncs = _count(a.func_info, a.func_info_rec_size)
    if not nfuncs:
        return
    urec = a.func_info_rec_size
    if urec < MIN_FUNCINFO_SIZE or urec > MAX_INFO_REC_SIZE or urec % 4:
        raise _fail(env, E.EINVAL, f"invalid func info rec size {urec}\n")
    btf = a.prog_btf
    data = a.func_info
    prev = 0
    recs: list[tuple[int, int]] = []
    for i in range(nfuncs):
        rec = data[i * urec:(i + 1) * urec]
        if any(rec[MIN_FUNCINFO_SIZE:]):  # bpf_check_uarg_tail_zero
            raise _fail(env, E.E2BIG, "nonzero tailing record in func info")
        insn_off, type_id = struct.unpack_from("<II", rec)
        if i == 0:
            if insn_off:
                raise _fail(env, E.EINVAL, f"nonzero insn_off {insn_off} for the first func info record")
        elif insn_off <= prev:
            raise _fail(env, E.EINVAL, f"same or smaller insn offset ({insn_off}) than previous func info "
                                       f"record ({prev})")
        t = _type(btf, type_id)
        if t is None or t.kind != BS.KIND_FUNC:
            raise _fail(env, E.EINVAL, f"invalid type id {_s32(type_id)} in func info")
        proto = _type(btf, t.type_id)
        if proto is None or proto.kind != BS.KIND_FUNC_PROTO:
            raise Reject(E.EINVAL)  # btf_func_check() refused it at BPF_BTF_LOAD already
        prev = insn_off
        recs.append((insn_off, type_id))
    env.func_info = recs


def check_abnormal_return(env: Env) -> None:
    """``check_abnormal_return``: without BTF a subprogram may not hold LD_ABS or a tail call."""
    for sp in env.subprogs[1:]:
        if sp.has_ld_abs:
            raise env.reject(E.EINVAL, "LD_ABS is not allowed in subprogs without BTF")
        if sp.has_tail_call:
            raise env.reject(E.EINVAL, "tail_call is not allowed in subprogs without BTF")


def check_btf_func(env: Env) -> None:
    """``check_btf_func``: one record per subprogram, at its first instruction; the
    linkage (static/global) of each; LD_ABS and tail calls need a scalar return."""
    recs = env.func_info
    if not recs:
        check_abnormal_return(env)
        return
    if len(recs) != len(env.subprogs):
        raise env.reject(E.EINVAL, "number of funcs in func_info doesn't match number of subprogs")
    btf = env.attr.prog_btf
    for i, (sp, (insn_off, type_id)) in enumerate(zip(env.subprogs, recs)):
        if sp.start != insn_off:
            raise env.reject(E.EINVAL, "func_info BTF section doesn't match subprog layout in BPF program")
        t = btf.type_by_id(type_id)
        sp.linkage = t.linkage
        sp.func_type_id = type_id
        proto = btf.type_by_id(t.type_id)
        ret = _skip_mods(btf, proto.ret_type_id)
        scalar_return = (_is_int(ret) and ret.size <= 8) or _is_any_enum(ret)
        if i and not scalar_return and sp.has_ld_abs:
            raise env.reject(E.EINVAL, "LD_ABS is only allowed in functions that return 'int'.")
        if i and not scalar_return and sp.has_tail_call:
            raise env.reject(E.EINVAL, "tail_call is only allowed in functions that return 'int'.")


# --- line_info -------------------------------------------------------------------------------
def check_btf_line(env: Env) -> None:
    """``check_btf_line``: the line_info records (kept in ``env.linfo``)."""
    a = env.attr
    nr = _count(a.line_info, a.line_info_rec_size)
    if not nr:
        return
    rec_size = a.line_info_rec_size
    if rec_size < LINEINFO_SIZE or rec_size > MAX_INFO_REC_SIZE or rec_size & 3:
        raise Reject(E.EINVAL)  # no message
    btf = a.prog_btf
    data = a.line_info
    n = env.n
    subs = env.subprogs
    s = 0
    prev = 0
    out: list[tuple[int, int, int, int]] = []
    for i in range(nr):
        rec = data[i * rec_size:(i + 1) * rec_size]
        if any(rec[LINEINFO_SIZE:]):
            raise _fail(env, E.E2BIG, "nonzero tailing record in line_info")
        insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", rec)
        if (i and insn_off <= prev) or insn_off >= n:
            raise env.reject(E.EINVAL, f"Invalid line_info[{i}].insn_off:{insn_off} (prev_offset:{prev} "
                                       f"prog->len:{n})")
        if not env.raw[insn_off].code:
            raise env.reject(E.EINVAL, f"Invalid insn code at line_info[{i}].insn_off")
        if btf is None or btf.string_at(line_off) is None or btf.string_at(file_off) is None:
            raise env.reject(E.EINVAL, f"Invalid line_info[{i}].line_off or .file_name_off")
        if s != len(subs):
            if insn_off == subs[s].start:
                s += 1
            elif subs[s].start < insn_off:
                raise env.reject(E.EINVAL, f"missing bpf_line_info for func#{s}")
        prev = insn_off
        out.append((insn_off, file_off, line_off, line_col))
    if s != len(subs):
        raise env.reject(E.EINVAL, f"missing bpf_line_info for {len(subs) - s} funcs starting from func#{s}")
    env.linfo = out
    env.linfo_offs = [r[0] for r in out]


def check_btf_info(env: Env) -> None:
    """``check_btf_info`` (after check_subprogs): func_info then line_info; without
    either, ``check_abnormal_return``."""
    a = env.attr
    if not _count(a.func_info, a.func_info_rec_size) and not _count(a.line_info, a.line_info_rec_size):
        check_abnormal_return(env)
        return
    check_btf_func(env)
    check_btf_line(env)


def verbose_linfo(env: Env, insn_off: int, prefix: str) -> None:
    """``verbose_linfo`` (kernel/bpf/log.c): the source line of the record covering
    ``insn_off`` (``find_linfo``: the last record at or before it), unless it is the
    record printed last or names the same file and line; the file without its
    directories."""
    offs = env.linfo_offs
    if not offs or insn_off >= env.n:
        return
    lo, hi = 0, len(offs) - 1
    while lo < hi:
        m = lo + (hi - lo + 1) // 2
        if offs[m] <= insn_off:
            lo = m
        else:
            hi = m - 1
    prev = env.prev_linfo
    if lo == prev:
        return
    insn, file_off, line_off, line_col = env.linfo[lo]
    if prev >= 0:
        p = env.linfo[prev]
        if p[1] == file_off and p[3] >> 10 == line_col >> 10:
            return
    btf = env.attr.prog_btf
    src = (btf.string_at(line_off) or "").lstrip(" \t\n\v\f\r")
    fname = (btf.string_at(file_off) or "").rpartition("/")[2]
    env.verbose(f"{prefix}{src} @ {fname}:{line_col >> 10}\n")
    env.prev_linfo = lo


# --- function prototypes -------------------------------------------------------------------------
def subprog_name(env: Env, subprog: int) -> str:
    """``subprog_name``: the function's BTF name ("" without func_info)."""
    if not env.func_info:
        return ""
    t = _type(env.attr.prog_btf, env.func_info[subprog][1])
    return t.name if t is not None else ""


def _typedef_below(btf: Any, tid: int) -> Any:
    """The first typedef (or the first non-modifier) below ``tid``, as the kernel's
    ``while (btf_type_is_modifier(t) && !btf_type_is_typedef(t))`` walk finds it."""
    t = _type(btf, tid)
    n = 0
    while t is not None and t.kind in BS.MODIFIER_KINDS and t.kind != BS.KIND_TYPEDEF and n < 64:
        t = _type(btf, t.type_id)
        n += 1
    return t


def _is_prog_ctx_type(env: Env, btf: Any, ptr: Any, arg: int) -> bool:
    """``btf_is_prog_ctx_type`` (kernel/bpf/btf.c, 6.12/6.18): a pointer to the program type's
    context struct, by name (the kernel's own name of a projected context too); a kprobe's
    context may also be the typedef ``bpf_user_pt_regs_t`` itself, or the ``struct pt_regs``
    it stands for (the kernel resolves its canonical typedef and compares again)."""
    ptype = env.attr.prog_type
    if ptype == _KPROBE:
        td = _typedef_below(btf, ptr.type_id)
        if td is not None and td.kind == BS.KIND_TYPEDEF and td.name == _USER_PT_REGS:
            return True
    t = _skip_mods(btf, ptr.type_id)
    if t is None or t.kind not in (BS.KIND_STRUCT, BS.KIND_UNION):
        return False
    if not t.name:
        env.verbose(f"arg#{arg} struct doesn't have a name\n")
        return False
    if ptype == _KPROBE and t.name == _USER_PT_REGS:
        return True  # the canonical typedef's own name, compared before it is resolved
    ctx = _CTX_STRUCT.get(ptype, "")
    if not ctx:
        return False
    return t.name == ctx or _PROJECTION.get(ctx) == t.name


def _validate_prog_ctx_type(env: Env, btf: Any, ptr: Any, arg: int) -> None:
    """``btf_validate_prog_ctx_type`` (kernel/bpf/btf.c, 6.12/6.18) for an ``__arg_ctx``
    argument: ``void *`` always; the special cases per program type (kprobe and perf_event:
    ``bpf_user_pt_regs_t`` and ``struct pt_regs``, x86-64's; raw_tp, raw_tp_writable,
    tp_btf, fentry/fexit/fmod_ret, lsm, struct_ops: ``u64 *``; tp_btf:
    ``struct bpf_raw_tracepoint_args *``; iter: ``struct bpf_iter__*``; tracepoint, syscall,
    ext: anything); otherwise the type's canonical context struct."""
    if ptr.kind != BS.KIND_PTR:
        raise _fail(env, E.EINVAL, f"arg#{arg} type isn't a pointer\n")
    ptype = env.attr.prog_type
    if ptype in (_KPROBE, _PERF_EVENT):
        td = _typedef_below(btf, ptr.type_id)
        if td is not None and td.kind == BS.KIND_TYPEDEF and td.name == _USER_PT_REGS:
            return
    t = _skip_mods(btf, ptr.type_id)
    if t is None or t.kind == BS.KIND_UNKN:  # `void *ctx __arg_ctx` is always valid
        return
    if not t.name:
        raise _fail(env, E.EINVAL, f"arg#{arg} type doesn't have a name\n")
    is_struct = t.kind in (BS.KIND_STRUCT, BS.KIND_UNION)
    u64 = t.kind == BS.KIND_INT and t.size == 8
    if ptype in (_KPROBE, _PERF_EVENT) and is_struct and t.name == "pt_regs":
        return
    if ptype in _RAW_TPS + (_LSM, PROG_TYPE_STRUCT_OPS) and u64:
        return  # u64 * as ctx
    if ptype == _TRACING:
        eat = env.attr.expected_attach_type
        if eat == _TRACE_RAW_TP and is_struct and t.name == "bpf_raw_tracepoint_args":
            return
        if eat in (_TRACE_RAW_TP, _TRACE_FENTRY, _TRACE_FEXIT, _MODIFY_RETURN) and u64:
            return
        if eat == _TRACE_ITER and is_struct and t.name.startswith("bpf_iter__"):
            return
    if ptype in (_TRACEPOINT, PROG_TYPE_SYSCALL, _EXT):
        return  # anything goes
    ctx = _CTX_STRUCT.get(ptype, "")
    if not ctx:
        raise _fail(env, E.EINVAL, f"arg#{arg} should be void pointer\n")
    if not is_struct or t.name != ctx:
        raise _fail(env, E.EINVAL, f"arg#{arg} should be `struct {ctx} *`\n")


#: btf_type_is_void / btf_type_is_primitive (kernel/bpf/btf.c): what an ``__arg_untrusted``
#: pointer may point to besides a struct
_PRIMITIVE_KINDS: Final = (BS.KIND_UNKN, BS.KIND_INT, BS.KIND_ENUM, BS.KIND_ENUM64, BS.KIND_FLOAT)


def _essential_len(name: str) -> int:
    """``bpf_core_essential_name_len``: the name without its last ``___flavor`` suffix."""
    n = len(name)
    for i in range(n - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return i + 1
    return n


def _ptr_to_btf_id(env: Env, btf: Any, ptr: Any, arg: int, fname: str) -> int:
    """``btf_get_ptr_to_btf_id`` (kernel/bpf/btf.c, 6.12/6.18): the vmlinux type a tagged
    pointer argument points to, found as CO-RE finds candidates (``bpf_core_find_cands``:
    same kind, same essential name); exactly one must match. The emulated vmlinux BTF has
    fewer types than a real kernel's: where it has no candidate the argument is refused as
    not modelled (the host may well have one), never as "has no matches"."""
    t = _skip_mods(btf, ptr.type_id)
    kind = BS.KIND_NAMES.get(t.kind, "UNKNOWN") if t is not None else "UNKNOWN"
    name = t.name if t is not None else ""
    vm = env.attr.vmlinux_btf
    if t is None or not name or vm is None:
        raise _not_modelled(env, f"the tagged argument #{arg} of {fname}() ({kind} '{name}')")
    ess = name[:_essential_len(name)]
    cands = [tid for tid, c in vm.iter_types(t.kind) if c.name[:_essential_len(c.name)] == ess]
    if not cands:
        raise _not_modelled(env, f"the tagged argument #{arg} of {fname}() ({kind} '{name}', a type the "
                                 "emulated vmlinux BTF lacks)")
    if len(cands) != 1:
        raise _fail(env, E.ESRCH, f"arg#{arg} reference type('{kind} {name}') is ambiguous\n")
    return cands[0]


def _not_modelled(env: Env, what: str) -> Reject:
    env.verbose(f"{what} is not modelled by structops\n")
    return NotModelledArg(E.EINVAL)


def btf_prepare_func_args(env: Env, subprog: int) -> None:
    """``btf_prepare_func_args`` (kernel/bpf/btf.c): the argument types of ``subprog``
    from its BTF prototype, cached in the subprogram; raises :class:`Reject` (a static
    function's failures are silent: only a global function's are the user's error)."""
    sp = env.subprogs[subprog]
    if sp.args_cached:
        return
    is_global = sp.linkage == BS.FUNC_GLOBAL
    if not env.func_info:
        raise _fail(env, E.EFAULT, "Verifier bug\n")
    btf = env.attr.prog_btf
    btf_id = env.func_info[subprog][1]
    fn_t = _type(btf, btf_id)
    if fn_t is None or fn_t.kind != BS.KIND_FUNC:
        raise _fail(env, E.EFAULT, f"BTF of func#{subprog} doesn't point to KIND_FUNC\n")
    tname = fn_t.name
    if sp.unreliable:
        raise _fail(env, E.EFAULT, f"Verifier bug in function {tname}()\n")
    proto = _type(btf, fn_t.type_id)
    if proto is None or proto.kind != BS.KIND_FUNC_PROTO:
        raise _fail(env, E.EFAULT, f"Invalid type of function {tname}()\n")
    params = proto.params
    nargs = len(params)
    if nargs > MAX_FUNC_REG_ARGS:
        if not is_global:
            raise Reject(E.EINVAL)
        raise _fail(env, E.EINVAL, f"Global function {tname}() with {nargs} > {MAX_FUNC_REG_ARGS} args. "
                                   "Buggy compiler.\n")
    ret = _skip_mods(btf, proto.ret_type_id)
    if not _is_int(ret) and not _is_any_enum(ret):
        if not is_global:
            raise Reject(E.EINVAL)
        raise _fail(env, E.EINVAL, f"Global function {tname}() doesn't return scalar. Only those are "
                                   "supported.\n")
    tags_of = _arg_tags(btf, btf_id)
    args: list[SubprogArg] = []
    for i, prm in enumerate(params):
        tags = 0
        for tag in tags_of.get(i, ()):
            if not is_global:
                raise _fail(env, E.EOPNOTSUPP, f"arg#{i} type tag is not supported in static functions\n")
            bit = _TAGS.get(tag)
            if bit is None:
                raise _fail(env, E.EOPNOTSUPP, f"arg#{i} has unsupported set of tags\n")
            tags |= bit
        t = _skip_mods(btf, prm.type_id)
        if t is not None and t.kind == BS.KIND_PTR:
            if tags & ARG_TAG_CTX or _is_prog_ctx_type(env, btf, t, i):
                if tags & ~ARG_TAG_CTX:
                    raise _fail(env, E.EINVAL, f"arg#{i} has invalid combination of tags\n")
                if tags & ARG_TAG_CTX:
                    _validate_prog_ctx_type(env, btf, t, i)
                args.append(SubprogArg(ARG_PTR_TO_CTX))
                continue
            pointee = _skip_mods(btf, t.type_id)
            if pointee is not None and pointee.kind in (BS.KIND_STRUCT, BS.KIND_FWD) \
                    and pointee.name == "bpf_dynptr":
                # btf_is_dynptr_ptr: a const dynptr the function may read (verifier.dynptrs)
                if tags:
                    raise _fail(env, E.EINVAL, f"arg#{i} has invalid combination of tags\n")
                args.append(SubprogArg(ARG_PTR_TO_DYNPTR | MEM_RDONLY))
                continue
            if tags & ARG_TAG_TRUSTED:
                if tags & ARG_TAG_NONNULL:
                    raise _fail(env, E.EINVAL, f"arg#{i} has invalid combination of tags\n")
                kid = _ptr_to_btf_id(env, btf, t, i, tname)
                arg_type = ARG_PTR_TO_BTF_ID | PTR_TRUSTED
                if tags & ARG_TAG_NULLABLE:
                    arg_type |= PTR_MAYBE_NULL
                args.append(SubprogArg(arg_type, 0, kid))
                continue
            if tags & ARG_TAG_UNTRUSTED:
                if tags & ~ARG_TAG_UNTRUSTED:
                    raise _fail(env, E.EINVAL, f"arg#{i} untrusted cannot be combined with any other tags\n")
                ref = _skip_mods(btf, t.type_id)
                if ref is None or ref.kind in _PRIMITIVE_KINDS:
                    # void * or a pointer to a primitive: read-only memory of no known size
                    args.append(SubprogArg(ARG_PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED, 0))
                    continue
                kid = _ptr_to_btf_id(env, btf, t, i, tname)
                vm = env.attr.vmlinux_btf
                kt = vm.type_by_id(kid)
                if kt.kind not in (BS.KIND_STRUCT, BS.KIND_UNION):
                    kind = BS.KIND_NAMES.get(kt.kind, "UNKNOWN")
                    raise _fail(env, E.EINVAL, f"arg#{i} has type {kind} '{kt.name}', but only struct or "
                                               "primitive types are allowed\n")
                args.append(SubprogArg(ARG_PTR_TO_BTF_ID | PTR_UNTRUSTED, 0, kid))
                continue
            if tags & ARG_TAG_ARENA:
                if tags & ~ARG_TAG_ARENA:
                    raise _fail(env, E.EINVAL, f"arg#{i} arena cannot be combined with any other tags\n")
                args.append(SubprogArg(ARG_PTR_TO_ARENA))
                continue
            if is_global:  # generic user data pointer
                if tags & ARG_TAG_NULLABLE:
                    raise _fail(env, E.EINVAL, f"arg#{i} has invalid combination of tags\n")
                try:
                    size = btf.size_of(t.type_id)
                except Exception:
                    r = _skip_mods(btf, t.type_id)
                    kind = BS.KIND_NAMES.get(r.kind, "UNKNOWN") if r is not None else "UNKNOWN"
                    name = r.name if r is not None else ""
                    raise _fail(env, E.EINVAL, f"arg#{i} reference type('{kind} {name}') size cannot be "
                                               f"determined: -22\n") from None
                arg_type = ARG_PTR_TO_MEM | PTR_MAYBE_NULL
                if tags & ARG_TAG_NONNULL:
                    arg_type &= ~PTR_MAYBE_NULL
                args.append(SubprogArg(arg_type, size))
                continue
        if tags:
            raise _fail(env, E.EINVAL, f"arg#{i} has pointer tag, but is not a pointer type\n")
        if _is_int(t) or _is_any_enum(t):
            args.append(SubprogArg(ARG_ANYTHING))
            continue
        if not is_global:
            raise Reject(E.EINVAL)
        kind = BS.KIND_NAMES.get(t.kind, "UNKNOWN") if t is not None else "UNKNOWN"
        raise _fail(env, E.EINVAL, f"Arg#{i} type {kind} in {tname}() is not supported yet.\n")
    sp.args = args
    sp.args_cached = True


def _arg_tags(btf: Any, func_id: int) -> dict[int, list[str]]:
    """``btf_find_next_decl_tag(btf, fn_t, i, "arg:", ...)``: each parameter's ``arg:``
    decl tags, in id order."""
    out: dict[int, list[str]] = {}
    for _tid, t in btf.iter_types(BS.KIND_DECL_TAG):
        if t.type_id == func_id and t.component_idx >= 0 and t.name.startswith("arg:"):
            out.setdefault(t.component_idx, []).append(t.name[4:])
    return out


def _check_mem_reg(env: Env, reg: RegState, regno: int, mem_size: int) -> None:
    """``check_mem_reg``: the memory an argument points to can be read and written
    for ``mem_size`` bytes (a maybe-NULL pointer checked as if not NULL)."""
    if register_is_null(reg):
        return
    saved = reg.type
    reg.type &= ~PTR_MAYBE_NULL
    try:
        mem.check_helper_mem_access(env, regno, mem_size, BPF_READ, True, None)
        mem.check_helper_mem_access(env, regno, mem_size, BPF_WRITE, True, None)
    finally:
        reg.type = saved


def _func_arg_match(env: Env, subprog: int, regs: list[RegState]) -> None:
    """``btf_check_func_arg_match``."""
    btf_prepare_func_args(env, subprog)
    from .calls import _check_func_arg_reg_off as check_func_arg_reg_off

    for i, arg in enumerate(env.subprogs[subprog].args):
        regno = i + 1
        reg = regs[regno]
        at = arg.arg_type
        if at == ARG_ANYTHING:
            if reg.type != SCALAR_VALUE:
                raise _fail(env, E.EINVAL, f"R{regno} is not a scalar\n")
        elif at == ARG_PTR_TO_CTX:
            check_func_arg_reg_off(env, reg, regno, 0)
            if reg.type != PTR_TO_CTX:
                raise _fail(env, E.EINVAL, f"arg#{i} expects pointer to ctx\n")
        elif at == ARG_PTR_TO_DYNPTR | MEM_RDONLY:
            from .dynptrs import process_dynptr_func
            check_func_arg_reg_off(env, reg, regno, ARG_PTR_TO_DYNPTR)
            process_dynptr_func(env, regno, -1, at, 0)
        elif at & PTR_UNTRUSTED:
            pass  # 6.18: anything goes for an untrusted argument (read-only, probe-read)
        elif base_type(at) == ARG_PTR_TO_MEM:
            check_func_arg_reg_off(env, reg, regno, 0)
            try:
                _check_mem_reg(env, reg, regno, arg.mem_size)
            except Reject:
                raise Reject(E.EINVAL) from None
            if not at & PTR_MAYBE_NULL and reg.type & PTR_MAYBE_NULL:
                raise _fail(env, E.EINVAL, f"arg#{i} is expected to be non-NULL\n")
        elif base_type(at) == ARG_PTR_TO_ARENA:
            if reg.type != PTR_TO_ARENA and reg.type != SCALAR_VALUE:
                raise _fail(env, E.EINVAL, f"R{regno} is not a pointer to arena or scalar.\n")
        elif base_type(at) == ARG_PTR_TO_BTF_ID:
            if register_is_null(reg) and at & PTR_MAYBE_NULL:
                continue
            # the 6.18 host's answer before check_reg_type; a nullable argument sets the
            # register's PTR_MAYBE_NULL aside, as check_reg_type does (it takes a
            # trusted_ptr_or_null_ there and refuses it for a non-nullable one:
            # tests/verifier/test_arg_tags.py)
            if not is_trusted_reg(reg, at & PTR_MAYBE_NULL):
                raise _fail(env, E.EINVAL, f"R{regno} must be referenced or trusted\n")
            _check_btf_id_arg(env, reg, regno, at, arg.btf_id)
            check_func_arg_reg_off(env, reg, regno, at)
        else:
            raise _fail(env, E.EFAULT, f"verifier bug: unrecognized arg#{i} type {at}\n")


#: compatible_reg_types[ARG_PTR_TO_BTF_ID] (kernel/bpf/verifier.c, btf_ptr_types)
_BTF_PTR_TYPES: Final = (PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED, PTR_TO_BTF_ID | MEM_RCU)


def _check_btf_id_arg(env: Env, reg: RegState, regno: int, arg_type: int, btf_id: int) -> None:
    """``check_reg_type`` (kernel/bpf/verifier.c, 6.12/6.18) for a tagged global function's
    ``ARG_PTR_TO_BTF_ID`` argument (no helper: ``func_id`` 0): the register's type is one of
    ``btf_ptr_types`` (a maybe-NULL one only where the argument is nullable), and its struct
    is the argument's, directly or as a first member (``btf_struct_ids_match``)."""
    from .btf_ids_match import btf_struct_ids_match

    t = reg.type
    if arg_type & PTR_MAYBE_NULL:
        t &= ~PTR_MAYBE_NULL
    if t not in _BTF_PTR_TYPES:
        exp = ", ".join(reg_type_str(c) for c in _BTF_PTR_TYPES)
        raise _fail(env, E.EACCES, f"R{regno} type={reg_type_str(reg.type)} expected={exp}\n")
    if reg.type & PTR_MAYBE_NULL and not arg_type & PTR_MAYBE_NULL:
        raise _fail(env, E.EACCES, f"Possibly NULL pointer passed to helper arg{regno}\n")
    vm = env.attr.vmlinux_btf
    if reg.btf is None or vm is None:
        raise _not_modelled(env, f"R{regno} ({reg_type_str(reg.type)}) without BTF passed to a tagged argument")
    if not btf_struct_ids_match(reg.btf, reg.btf_id, reg.off, vm, btf_id, False):
        have = reg.btf.type_by_id(reg.btf_id).name if reg.btf is not None else ""
        raise _fail(env, E.EACCES, f"R{regno} is of type {have} but {vm.type_by_id(btf_id).name} is expected\n")


def btf_check_subprog_call(env: Env, subprog: int, regs: list[RegState]) -> int:
    """``btf_check_subprog_call``: 0, or the errno of a mismatch between the caller's
    registers and the callee's BTF prototype (the callee is then unreliable)."""
    if not env.func_info:
        return E.EINVAL
    if not env.func_info[subprog][1]:
        return E.EFAULT
    sp = env.subprogs[subprog]
    if sp.unreliable:
        return E.EINVAL
    try:
        _func_arg_match(env, subprog, regs)
    except NotModelledArg:
        raise
    except Reject as r:
        sp.unreliable = True
        return r.errno
    return 0
