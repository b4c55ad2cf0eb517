"""Function models, as the kernel distils them from BTF.

Models btf_distill_func_proto(), __get_type_size() and
__get_type_fmodel_flags() of kernel/bpf/btf.c and ``struct btf_func_model``
of include/linux/bpf.h (Linux 6.12/6.18): the argument count, each
argument's size (a pointer is 8 bytes, the kernel's size, whatever BPF's),
struct/union-by-value and signed-int flags, and the return size. The
refusals carry the kernel's messages (EINVAL): more than MAX_BPF_FUNC_ARGS
(12) arguments, a struct return, an argument over 16 bytes or of an
unsupported kind (float, array, void ...), varargs, a void argument.

Trampolines (arch_prepare_bpf_trampoline) and the verifier consume
:class:`FuncModel`; it also keeps the parameter names, which struct_ops reads
for ``__nullable`` stubs. Left out: BTF_FMODEL_SIGNED_ARG is reported on every
profile (it appeared in Linux 6.5).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from . import structs as S
from .btf import BTF, POINTER_SIZE
from .errors import BTFError
from .types import BTFType, Composite, Enum, Enum64, Func, FuncProto, Int, MODIFIER_KINDS, VOID

__all__ = [
    "FuncModel", "FuncModelError", "distill_func_proto", "fallback_func_model",
    "BTF_FMODEL_STRUCT_ARG", "BTF_FMODEL_SIGNED_ARG", "MAX_BPF_FUNC_REG_ARGS",
]

BTF_FMODEL_STRUCT_ARG = 1 << 0   # the argument is a struct/union passed by value
BTF_FMODEL_SIGNED_ARG = 1 << 1   # the argument is a signed integer (sign-extend it)
MAX_BPF_FUNC_REG_ARGS = 5        # arguments in registers R1..R5; the fallback model's count


@dataclass(frozen=True, slots=True)
class FuncModel:
    """``struct btf_func_model``: ``nr_args``; per argument ``arg_size`` (bytes)
    and ``arg_flags`` (BTF_FMODEL_* bits); ``ret_size`` (0 for void) and
    ``ret_flags``; ``arg_names`` (the prototype's parameter names, '' when unnamed)."""

    nr_args: int
    arg_size: tuple[int, ...]
    arg_flags: tuple[int, ...]
    ret_size: int
    ret_flags: int
    arg_names: tuple[str, ...] = ()

    def is_struct_arg(self, i: int) -> bool:
        """Whether argument ``i`` is a struct passed by value."""
        return bool(self.arg_flags[i] & BTF_FMODEL_STRUCT_ARG)


class FuncModelError(BTFError):
    """btf_distill_func_proto() refused the prototype; ``errno`` is EINVAL and
    ``message`` the kernel's log line (without its newline)."""

    def __init__(self, message: str, type_id: int | None = None) -> None:
        self.errno = errno.EINVAL
        super().__init__(message, "", type_id)


def fallback_func_model() -> FuncModel:
    """The model for a function without usable BTF: MAX_BPF_FUNC_REG_ARGS 8-byte arguments."""
    n = MAX_BPF_FUNC_REG_ARGS
    return FuncModel(n, (8,) * n, (0,) * n, 8, 0)


def _type_size(btf: BTF, tid: int) -> tuple[int, BTFType]:
    """__get_type_size(): (size or -1, the type reached after modifiers)."""
    if tid == 0:
        return 0, VOID
    try:
        t = btf.type_by_id(tid)
        steps = 0
        while t.kind in MODIFIER_KINDS:
            t = btf.type_by_id(t.type_id)  # type: ignore[attr-defined]
            steps += 1
            if steps > btf.type_count:
                return -1, VOID
    except BTFError:
        return -1, VOID
    if t.kind == S.KIND_PTR:
        return POINTER_SIZE, t
    if isinstance(t, (Int, Enum, Enum64, Composite)):
        return t.size, t
    return -1, t


def _flags(t: BTFType) -> int:
    f = 0
    if isinstance(t, Composite):
        f |= BTF_FMODEL_STRUCT_ARG
    if isinstance(t, Int) and t.encoding & S.INT_SIGNED:
        f |= BTF_FMODEL_SIGNED_ARG
    return f


def distill_func_proto(btf: BTF, func: int | FuncProto | None, tname: str = "") -> FuncModel:
    """Distil the FUNC_PROTO ``func`` (an id of a FUNC_PROTO or FUNC, or the record)
    of function ``tname`` into a :class:`FuncModel`, or raise :class:`FuncModelError`
    with the kernel's message. ``None`` gives :func:`fallback_func_model`.
    """
    if func is None:
        return fallback_func_model()
    tid: int | None = None
    if isinstance(func, int):
        tid = func
        t = btf.type_by_id(func)
        if isinstance(t, Func):
            tname = tname or t.name
            tid = t.type_id
            t = btf.type_by_id(t.type_id)
        if not isinstance(t, FuncProto):
            raise FuncModelError(f"[{func}] {t.kind_name} '{t.name}' is not a FUNC_PROTO", func)
        proto = t
    else:
        proto = func
    params = proto.params
    nargs = len(params)
    if nargs > S.MAX_BPF_FUNC_ARGS:
        raise FuncModelError(f"The function {tname} has {nargs} arguments. Too many.", tid)
    ret, rt = _type_size(btf, proto.ret_type_id)
    if ret < 0 or isinstance(rt, Composite):
        raise FuncModelError(f"The function {tname} return type {rt.kind_name} is unsupported.", tid)
    sizes: list[int] = []
    flags: list[int] = []
    for i, p in enumerate(params):
        if i == nargs - 1 and p.type_id == 0:
            raise FuncModelError(f"The function {tname} with variable args is unsupported.", tid)
        sz, at = _type_size(btf, p.type_id)
        if sz < 0 or sz > 16:
            raise FuncModelError(f"The function {tname} arg{i} type {at.kind_name} is unsupported.", tid)
        if sz == 0:
            raise FuncModelError(f"The function {tname} has malformed void argument.", tid)
        sizes.append(sz)
        flags.append(_flags(at))
    return FuncModel(nargs, tuple(sizes), tuple(flags), ret, _flags(rt), tuple(p.name for p in params))
