"""struct_ops type declarations the kernel registers (needs hypothesis).

:func:`struct_ops_declarations` draws :class:`kernel_model.struct_ops_decl.StructOpsDecl`
objects: a ``struct NAME`` of function-pointer members (return and argument
types from the knobs; pointer-to-struct arguments sometimes ``__nullable`` in
the stub) with data members between them, a CFI stub per function member and
the helper types they use. Every drawn declaration registers
(``bpf_struct_ops_desc_init``, Linux 6.12: at most 64 members, at most 12
arguments, no struct return, no bitfield or anonymous member, ``__nullable``
only on a pointer to a struct) and every function member's trampoline can be
built (``__arch_prepare_bpf_trampoline`` for x86-64: at most 12 argument
registers, a 16-byte struct by value taking two).

``.c_source()`` is the C text, ``.register(registry, btf)`` registers it as a
built-in type, ``emu.testing.install_struct_ops`` puts it into an emulated
kernel (built in, or as a module's type on profiles with module struct_ops).
"""

from __future__ import annotations

from typing import Sequence

from ..struct_ops import BPF_STRUCT_OPS_MAX_NR_MEMBERS
from ..struct_ops_decl import ArgDecl, DataMemberDecl, FuncMemberDecl, MemberDecl, StructOpsDecl
from .hypothesis_support import InvalidArgument, check_int, check_order, check_types, st

__all__ = ["struct_ops_declarations", "DEFAULT_ARG_TYPES", "DEFAULT_RET_TYPES", "DEFAULT_DATA_TYPES",
           "MAX_FUNC_ARGS"]

#: MAX_BPF_FUNC_ARGS (include/linux/bpf.h): arguments of a member, and argument registers
#: of an x86-64 trampoline
MAX_FUNC_ARGS = 12

#: ``{name}`` is replaced by the type's name: ``struct {name}_obj`` (4 bytes) and
#: ``struct {name}_pair`` (16 bytes, passed by value in two registers) are declared
#: in the prelude. Simplest first: shrinking goes toward ``int``.
DEFAULT_ARG_TYPES = ("int", "long", "char", "unsigned short", "unsigned long long", "void *",
                     "struct sock *", "struct task_struct *", "struct {name}_obj *", "struct {name}_pair")
DEFAULT_RET_TYPES = ("int", "void", "long", "char", "struct sock *")
#: ``char[16]`` is an array member (``char d0[16];``)
DEFAULT_DATA_TYPES = ("int", "long", "char", "unsigned short", "char[16]")

_IDENT_FIRST = "abcdefghijklmnopqrstuvwxyz_"


def _regs(c_type: str) -> int:
    """Argument registers a default argument type takes (the 16-byte pair: 2)."""
    return 2 if c_type.endswith("_pair") else 1


def _is_struct_ptr(c_type: str) -> bool:
    return c_type.startswith("struct ") and c_type.endswith("*")


def _data_member(name: str, spec: str) -> DataMemberDecl:
    if spec.endswith("]") and "[" in spec:
        base, dim = spec[:-1].split("[", 1)
        return DataMemberDecl(name, base.strip(), int(dim))
    return DataMemberDecl(name, spec)


@st.composite
def _declarations(draw: st.DrawFn, name: str, min_members: int, max_members: int, min_args: int, max_args: int,
                  arg_types: tuple[str, ...], ret_types: tuple[str, ...], nullable: bool,
                  data_types: tuple[str, ...], max_data_members: int, max_arg_regs: int) -> StructOpsDecl:
    args_st = st.sampled_from(arg_types)
    n = draw(st.integers(min_members, max_members))
    funcs: list[MemberDecl] = []
    for i in range(n):
        ret = draw(st.sampled_from(ret_types))
        args: list[ArgDecl] = []
        want = draw(st.integers(min_args, max_args))
        used = 0
        for _ in range(want):
            t = draw(args_st)
            if used + _regs(t) > max_arg_regs:
                t = next((a for a in arg_types if _regs(a) == 1), t)
                if used + _regs(t) > max_arg_regs:
                    break
            used += _regs(t)
            args.append(ArgDecl(t, nullable and _is_struct_ptr(t) and draw(st.booleans())))
        funcs.append(FuncMemberDecl(f"m{i}", ret, tuple(args)))
    room = min(max_data_members, BPF_STRUCT_OPS_MAX_NR_MEMBERS - n)
    members = list(funcs)
    for j in range(draw(st.integers(0, room)) if room > 0 else 0):
        d = _data_member(f"d{j}", draw(st.sampled_from(data_types)))
        members.insert(draw(st.integers(0, len(members))), d)
    prelude = f"struct {name}_obj {{ int x; }};\nstruct {name}_pair {{ long a; long b; }};\n"
    return StructOpsDecl(name, tuple(members), prelude)


def struct_ops_declarations(*, name: str = "rand_ops", min_members: int = 1, max_members: int = 64,
                            min_args: int = 0, max_args: int = 6,
                            arg_types: Sequence[str] = DEFAULT_ARG_TYPES,
                            ret_types: Sequence[str] = DEFAULT_RET_TYPES, nullable: bool = True,
                            data_types: Sequence[str] = DEFAULT_DATA_TYPES, max_data_members: int = 4,
                            max_arg_regs: int = MAX_FUNC_ARGS) -> st.SearchStrategy[StructOpsDecl]:
    """struct_ops types called ``name`` with ``min_members``..``max_members``
    function members ``m0``, ``m1`` ... of ``min_args``..``max_args`` arguments,
    and up to ``max_data_members`` data members ``d0`` ... placed between them
    (never more than 64 members in all).

    ``arg_types``/``ret_types``/``data_types`` are C type names (``{name}`` is
    replaced by ``name``; ``T[N]`` in ``data_types`` is an array member). With
    ``nullable``, a pointer-to-struct argument is sometimes ``__nullable`` in the
    stub. ``max_arg_regs`` bounds a member's argument registers (12 on x86-64;
    drawing beyond it needs types of your own and gives ``-ENOTSUPP`` at map
    update). Arguments you pass outside the defaults must be C the emulated
    vmlinux knows; they are parsed when the declaration is registered.
    """
    if not isinstance(name, str) or not name or name[0].lower() not in _IDENT_FIRST \
            or not name.replace("_", "a").isalnum():
        raise InvalidArgument(f"name={name!r} must be a C identifier")
    check_int("min_members", min_members, 1, BPF_STRUCT_OPS_MAX_NR_MEMBERS)
    check_int("max_members", max_members, 1, BPF_STRUCT_OPS_MAX_NR_MEMBERS)
    check_order("min_members", min_members, "max_members", max_members)
    check_int("min_args", min_args, 0, MAX_FUNC_ARGS)
    check_int("max_args", max_args, 0, MAX_FUNC_ARGS)
    check_order("min_args", min_args, "max_args", max_args)
    check_int("max_arg_regs", max_arg_regs, 0, 2 * MAX_FUNC_ARGS)
    if min_args > max_arg_regs:
        raise InvalidArgument(f"min_args={min_args} cannot fit in max_arg_regs={max_arg_regs}")
    check_int("max_data_members", max_data_members, 0, BPF_STRUCT_OPS_MAX_NR_MEMBERS - 1)
    if not isinstance(nullable, bool):
        raise InvalidArgument(f"nullable={nullable!r} must be True or False")
    args = tuple(t.replace("{name}", name) for t in check_types("arg_types", arg_types))
    rets = tuple(t.replace("{name}", name) for t in check_types("ret_types", ret_types))
    datas = check_types("data_types", data_types)
    for t in datas:
        if "[" in t:
            dim = t[t.index("[") + 1:-1] if t.endswith("]") else ""
            if not dim.isdigit() or int(dim) < 1:
                raise InvalidArgument(f"data_types: {t!r} is not T or T[N] with N >= 1")
    if min_args and all(_regs(a) > max_arg_regs for a in args):
        raise InvalidArgument(f"no type of arg_types fits in max_arg_regs={max_arg_regs}")
    return _declarations(name, min_members, max_members, min_args, max_args, args, rets, nullable, datas,
                         max_data_members, max_arg_regs)
