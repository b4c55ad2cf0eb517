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
  unreliable; for a global one it is the caller's error);
* ``find_linfo`` / ``verbose_linfo``: the ``; <source line> @ <file>:<line>`` lines
  the log prints before an instruction whose line differs from the last printed.

Not modelled (refused as "not modelled by structops", never accepted): the
``__arg_trusted``, ``__arg_untrusted`` and ``__arg_arena`` tags, ``bpf_dynptr``
arguments, program extensions (``BPF_PROG_TYPE_EXT``), CO-RE relocation records
passed to the kernel (``check_core_relo``: libbpf applies them itself).
"""

from __future__ import annotations

import errno as E
import struct
from typing import Any, Final

from kernel_model.btf import structs as BS
from kernel_model.uapi import PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL

from . import mem
from .core import Env, NotModelledArg, Reject
from .helpers import ARG_ANYTHING, ARG_PTR_TO_CTX, ARG_PTR_TO_MEM
from .mem import BPF_READ, BPF_WRITE
from .regs import PTR_MAYBE_NULL, PTR_TO_CTX, SCALAR_VALUE, RegState, base_type, register_is_null

__all__ = ["check_btf_func_early", "check_btf_info", "btf_prepare_func_args", "btf_check_subprog_call",
           "verbose_linfo", "subprog_name", "SubprogArg"]

#: MIN_BPF_FUNCINFO_SIZE / MAX_FUNCINFO_REC_SIZE (kernel/bpf/verifier.c)
MIN_FUNCINFO_SIZE: Final = 8
MAX_INFO_REC_SIZE: Final = 252
#: sizeof(struct bpf_line_info) (MIN_BPF_LINEINFO_SIZE: up to line_col)
LINEINFO_SIZE: Final = 16
#: MAX_BPF_FUNC_REG_ARGS
MAX_FUNC_REG_ARGS: Final = 5
#: the canonical context struct of a program type (include/linux/bpf_types.h, the
#: user-visible ``_ctx_type``), as find_canonical_prog_ctx_type() finds it; a type whose
#: context is ``void *`` (struct_ops, syscall, ...) has none: only ``__arg_ctx`` makes one
_CTX_STRUCT: Final = {1: "__sk_buff", 3: "__sk_buff", 4: "__sk_buff", 6: "xdp_md", 8: "__sk_buff",
                      9: "__sk_buff", 10: "__sk_buff", 11: "__sk_buff", 13: "__sk_buff",
                      14: "sk_msg_md", 19: "sk_reuseport_md", 20: "__sk_buff", 22: "bpf_sock_addr",
                      23: "bpf_sockopt", 25: "bpf_sock", 30: "bpf_sk_lookup", 31: "bpf_sysctl",
                      32: "bpf_cgroup_dev_ctx", 18: "bpf_sock_ops", 7: "bpf_perf_event_data",
                      5: "pt_regs", 21: "bpf_flow_keys", 17: "bpf_raw_tracepoint_args"}
# include/linux/bpf_types.h (6.12/6.18): the uapi contexts of the socket-level and tunnel
# packet types, by their enum bpf_prog_type values
_CTX_STRUCT.update({10: "__sk_buff", 11: "__sk_buff", 12: "__sk_buff", 14: "__sk_buff", 16: "sk_msg_md",
                    19: "__sk_buff", 21: "sk_reuseport_md", 22: "__sk_buff", 32: "bpf_nf_ctx"})
#: the kernel's own name a projected context may have (btf_is_projection_of)
_PROJECTION: Final = {"__sk_buff": "sk_buff", "xdp_md": "xdp_buff"}
#: BPF_PROG_TYPE_LSM / _TRACEPOINT (include/uapi/linux/bpf.h), named only here
_LSM: Final = 29
_TRACEPOINT: Final = 5
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
    """``struct bpf_subprog_arg_info``: the verifier's type of one argument."""

    __slots__ = ("arg_type", "mem_size")

    def __init__(self, arg_type: int, mem_size: int = 0) -> None:
        self.arg_type = arg_type
        self.mem_size = mem_size


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


def _is_prog_ctx_type(env: Env, btf: Any, ptr: Any, arg: int) -> bool:
    """``btf_is_prog_ctx_type``: a pointer to the program type's context struct (by name;
    the kernel's own name of a projected context too)."""
    t = _skip_mods(btf, ptr.type_id)
    if t is None or t.kind != BS.KIND_STRUCT:
        return False
    if not t.name:
        env.verbose(f"arg#{arg} struct doesn't have a name\n")
        return False
    ctx = _CTX_STRUCT.get(env.attr.prog_type, "")
    if not ctx:
        return False
    return t.name == ctx or _PROJECTION.get(ctx) == t.name


def _validate_prog_ctx_type(env: Env, btf: Any, ptr: Any, arg: int) -> None:
    """``btf_validate_prog_ctx_type`` for an ``__arg_ctx`` argument (the program types
    the model has: socket filter, syscall, struct_ops, and the named-context rule)."""
    if ptr.kind != BS.KIND_PTR:
        raise _fail(env, E.EINVAL, f"arg#{arg} type isn't a pointer\n")
    t = _skip_mods(btf, ptr.type_id)
    if t is None or t.kind == BS.KIND_UNKN:  # `void *ctx __arg_ctx` is always valid
        return
    if not t.name:
        raise _fail(env, E.EINVAL, f"arg#{arg} type doesn't have a name\n")
    ptype = env.attr.prog_type
    if ptype in (_LSM, PROG_TYPE_STRUCT_OPS) and t.kind == BS.KIND_INT and t.size == 8:
        return  # u64 * as ctx
    if ptype in (_TRACEPOINT, PROG_TYPE_SYSCALL):
        return  # anything goes
    ctx = _CTX_STRUCT.get(ptype, "")
    if not ctx:
        raise _fail(env, E.EINVAL, f"arg#{arg} should be void pointer\n")
    if t.kind != BS.KIND_STRUCT or t.name != ctx:
        raise _fail(env, E.EINVAL, f"arg#{arg} should be `struct {ctx} *`\n")


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
                raise _not_modelled(env, f"the bpf_dynptr argument #{i} of {tname}()")
            if tags & (ARG_TAG_TRUSTED | ARG_TAG_UNTRUSTED | ARG_TAG_ARENA):
                raise _not_modelled(env, f"the tagged argument #{i} of {tname}()")
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
        elif base_type(at) == ARG_PTR_TO_MEM:
            check_func_arg_reg_off(env, reg, regno, 0)
            try:
                _check_mem_reg(env, reg, regno, arg.mem_size)
            except Reject:
                raise Reject(E.EINVAL) from None
            if not at & PTR_MAYBE_NULL and reg.type & PTR_MAYBE_NULL:
                raise _fail(env, E.EINVAL, f"arg#{i} is expected to be non-NULL\n")
        else:
            raise _fail(env, E.EFAULT, f"verifier bug: unrecognized arg#{i} type {at}\n")


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
