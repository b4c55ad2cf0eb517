"""The type-cast kfuncs: ``bpf_cast_to_kern_ctx`` and ``bpf_rdonly_cast``.

Models their special cases in kernel/bpf/verifier.c (Linux 6.18):

* ``get_kfunc_ptr_arg_type``: ``bpf_cast_to_kern_ctx``'s argument is
  ``KF_ARG_PTR_TO_CTX`` whatever its BTF type: NULL is refused as for a trusted argument
  (``Possibly NULL pointer passed to trusted arg0``: the 6.18 host's answer), then
  ``check_func_arg_reg_off``, then
  ``arg#0 expected pointer to ctx, but got %s`` for any register but the context;
  ``get_kern_ctx_btf_id`` (kernel/bpf/btf.c) finds the program type's kernel context
  (:data:`kernel_model.kctx_kfuncs.KERN_CTX`) and refuses one that is not a struct
  (``kern ctx type id %u is not a struct``, EINVAL);
* ``check_kfunc_call``: ``bpf_cast_to_kern_ctx`` returns ``PTR_TO_BTF_ID | PTR_TRUSTED``
  of that struct; ``bpf_rdonly_cast`` (its ``btf_id__k`` a known constant, an id of
  vmlinux's BTF) returns ``PTR_TO_BTF_ID | PTR_UNTRUSTED`` of a struct, refuses an id that
  names nothing (``Unknown type ID %lld passed to kfunc bpf_rdonly_cast``) or neither a
  struct nor void (``kfunc bpf_rdonly_cast type ID argument must be of a struct or void``).

Not modelled (refused as such, never accepted): a kernel context the emulated vmlinux does
not define; ``bpf_rdonly_cast`` to ``void`` (6.16+: ``PTR_TO_MEM | MEM_RDONLY |
PTR_UNTRUSTED`` of size 0, read through probe loads); extension programs (the kernel
uses the target's type).
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any, Final

from kernel_model.btf import Ptr, Struct
from kernel_model.kctx_kfuncs import KERN_CTX

from .log import reg_type_str
from .regs import (PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TO_CTX, PTR_TRUSTED, PTR_UNTRUSTED, mark_known_zero,
                   register_is_null)

if TYPE_CHECKING:
    from .core import Env

__all__ = ["CAST_TO_KERN_CTX", "RDONLY_CAST", "check_ctx_arg", "kctx_ret"]

CAST_TO_KERN_CTX: Final = "bpf_cast_to_kern_ctx"
RDONLY_CAST: Final = "bpf_rdonly_cast"
_PROG_TYPE_EXT: Final = 28


def _kern_ctx_btf_id(v: Env) -> int:
    """``get_kern_ctx_btf_id`` for the program's type: the struct's id in vmlinux's BTF."""
    pt = v.attr.prog_type
    what = KERN_CTX.get(pt)
    btf: Any = v.attr.vmlinux_btf
    if what is None or pt == _PROG_TYPE_EXT or btf is None:
        raise v.reject(E.EINVAL, f"kfunc {CAST_TO_KERN_CTX}: the kernel context of program type {pt} is not "
                                 "modelled by structops")
    if what.startswith("struct "):
        sid = btf.find(what.removeprefix("struct "), 4)  # BTF_KIND_STRUCT
        if sid is None or not isinstance(btf.type_by_id(sid), Struct):
            raise v.reject(E.EINVAL, f"kfunc {CAST_TO_KERN_CTX}: the kernel context {what} is not modelled "
                                     "by structops")
        return int(sid)
    # u64, u32, void *: the member's type id in bpf_ctx_convert (a typedef, or a pointer)
    tid = None
    if what == "void *":
        tid = next((i for i, t in btf.iter_types() if isinstance(t, Ptr) and not t.type_id), None)
    else:
        tid = btf.find(what, 8)  # BTF_KIND_TYPEDEF
    if tid is None:
        raise v.reject(E.EINVAL, f"kfunc {CAST_TO_KERN_CTX}: the kernel context {what} is not modelled by "
                                 "structops")
    v.verbose(f"kern ctx type id {tid} is not a struct\n")
    raise v.reject(E.EINVAL)


def check_ctx_arg(v: Env, regno: int, meta: Any) -> None:
    """``KF_ARG_PTR_TO_CTX`` of ``bpf_cast_to_kern_ctx`` (both switches of check_kfunc_args)."""
    from .calls import _check_func_arg_reg_off
    reg = v.cur_regs()[regno]
    if register_is_null(reg) or reg.type & PTR_MAYBE_NULL:
        # the 6.18 host refuses NULL as for a trusted argument (check_kfunc_args' first test),
        # an observed answer: the 6.12 set gives the kfunc no KF_TRUSTED_ARGS
        raise v.reject(E.EACCES, f"Possibly NULL pointer passed to trusted arg{regno - 1}")
    _check_func_arg_reg_off(v, reg, regno, 0)
    if reg.type != PTR_TO_CTX:
        raise v.reject(E.EINVAL, f"arg#{regno - 1} expected pointer to ctx, but got {reg_type_str(reg.type)}")
    meta.arg_btf_id = _kern_ctx_btf_id(v)


def kctx_ret(v: Env, r0: Any, name: str, meta: Any, btf: Any) -> None:
    """R0 of the two kfuncs (``check_kfunc_call``'s special returns)."""
    mark_known_zero(r0)
    if name == CAST_TO_KERN_CTX:
        r0.type = PTR_TO_BTF_ID | PTR_TRUSTED
        r0.btf = btf
        r0.btf_id = meta.arg_btf_id
        return
    tid = meta.arg_constant
    try:
        t = btf.type_by_id(tid) if tid else None
    except Exception:
        t = None
    if tid and t is None:
        raise v.reject(E.EINVAL, f"Unknown type ID {tid} passed to kfunc {RDONLY_CAST}")
    if not tid:
        raise v.reject(E.EINVAL, f"kfunc {RDONLY_CAST} to void is not modelled by structops")
    if not isinstance(t, Struct):
        raise v.reject(E.EINVAL, f"kfunc {RDONLY_CAST} type ID argument must be of a struct or void")
    r0.type = PTR_TO_BTF_ID | PTR_UNTRUSTED
    r0.btf = btf
    r0.btf_id = tid


