"""``BPF_PROG_TYPE_TRACING`` programs of the BPF iterators (``expected_attach_type ==
BPF_TRACE_ITER``, ``SEC("iter/<target>")`` and ``SEC("iter.s/<target>")``).

What the 6.18 verifier does for them:

* ``check_attach_btf_id`` -> ``bpf_check_attach_target`` (kernel/bpf/verifier.c): the
  ``attach_btf_id`` must name a FUNC ("attach_btf_id %u is not a function") whose type is a
  FUNC_PROTO; then ``bpf_iter_prog_supported`` (kernel/bpf/bpf_iter.c): the name must start
  with ``bpf_iter_`` and the rest name a registered target, else -EINVAL with no message;
  it copies the target's ``ctx_arg_info`` into the program (``bpf_prog_ctx_arg_info_init``).
  ``can_be_sleepable`` lets any iterator be sleepable at load time (whether the target
  allows it, ``BPF_ITER_RESCHED``, is checked by ``bpf_iter_link_attach``, not here);
* the context (``tracing_prog_is_valid_access`` -> ``btf_ctx_access``, kernel/bpf/btf.c):
  the ``bpf_iter__<target>`` struct's 8-byte slots are the FUNC's arguments; a slot listed
  in the target's ``ctx_arg_info`` is ``PTR_TO_BTF_ID_OR_NULL`` (``| PTR_TRUSTED`` for some
  targets) of its struct with no log line; any other pointer to a struct, ``meta`` first,
  is ``PTR_TO_BTF_ID | PTR_TRUSTED`` (``prog_args_trusted``: BPF_TRACE_ITER) with the line
  ``func '%s' arg%d has btf_id %d type STRUCT '%s'``; integers are scalars;
* ``tracing_prog_func_proto`` with ``bpf_iter_get_func_proto``: ``bpf_seq_printf``,
  ``bpf_seq_write`` and ``bpf_seq_printf_btf`` only here (their ``struct seq_file *`` is an
  ``ARG_PTR_TO_BTF_ID`` matched by struct, ``btf_struct_ids_match``), and a target's own
  helpers (tcp and unix: ``bpf_setsockopt``/``bpf_getsockopt``), from the decision trees of
  :mod:`kernel_model.bpf_facts` with the target named;
* ``check_return_code``: 0 or 1.

Where we differ: the targets are :data:`kernel_model.vmlinux_iter.ITER_TARGETS`; the three
whose context has ``PTR_TO_BUF`` slots (``bpf_map_elem``, ``bpf_sk_storage_map``,
``sockmap``: ``max_rdonly_access``/``max_rdwr_access``) are refused as not modelled (the
6.18 reference host refuses every program for them with EPERM before verifying); a module's
iterator target is not modelled; ``bpf_seq_printf``'s format string is checked at run time
by the kernel, as here (the verifier only checks it is readable memory).
"""

from __future__ import annotations

import errno as E
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from kernel_model.bpf_facts.helper_protos import proto as fact_proto
from kernel_model.btf import structs as BS
from kernel_model.btf.types import FuncProto, Ptr
from kernel_model.vmlinux_iter import HOST_REFUSED_TARGETS, ITER_FUNC_PREFIX, ITER_TARGETS

from . import helpers as H
from . import regs as R
from .regs import PTR_MAYBE_NULL, PTR_TO_BTF_ID, PTR_TRUSTED

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["check_iter_attach", "iter_ctx_access", "ITER_SYMBOLS", "symbol_proto", "D_PATH_ITER"]

#: the helpers the model checks for iterators: kernel proto symbol -> (helper id, the struct
#: each ARG_PTR_TO_BTF_ID argument names: btf_seq_file_ids[0] is ``struct seq_file``
#: (kernel/bpf/btf.c), btf_tracing_ids[BTF_TRACING_TYPE_TASK] ``struct task_struct``)
ITER_SYMBOLS: Final[dict[str, tuple[int, tuple[str, ...]]]] = {
    "bpf_seq_printf_proto": (126, ("seq_file",)),
    "bpf_seq_write_proto": (127, ("seq_file",)),
    "bpf_seq_printf_btf_proto": (150, ("seq_file",)),
    "bpf_get_task_stack_proto": (141, ("task_struct",)),
    "bpf_copy_from_user_task_proto": (191, ("", "", "", "task_struct")),
    "bpf_task_pt_regs_proto": (175, ("task_struct",)),
}
#: the ``btf_id`` arrays these prototypes name, as the struct they hold (kernel/bpf/btf.c
#: btf_seq_file_ids, kernel/bpf/helpers.c btf_tracing_ids, kernel/trace/bpf_trace.c
#: bpf_task_pt_regs_ids)
_BTF_ID_NAMES: Final = {"btf_seq_file_ids[0]": "seq_file",
                        "btf_tracing_ids[BTF_TRACING_TYPE_TASK]": "task_struct",
                        "bpf_task_pt_regs_ids[0]": "pt_regs"}
#: the tcp and unix iterators' own helpers (``bpf_iter_tcp_get_func_proto``,
#: ``bpf_iter_unix_get_func_proto``): the socket prototypes :mod:`verifier.sock_helpers` checks
_SOCK_SYMBOLS: Final = frozenset({"bpf_sk_setsockopt_proto", "bpf_sk_getsockopt_proto"})
_ARGS_MODELLED: Final = frozenset({
    H.ARG_DONTCARE, H.ARG_ANYTHING, H.ARG_CONST_SIZE, H.ARG_CONST_SIZE_OR_ZERO, H.ARG_PTR_TO_UNINIT_MEM,
    H.ARG_PTR_TO_MEM_RDONLY, H.ARG_PTR_TO_MEM | PTR_MAYBE_NULL | R.MEM_RDONLY, H.ARG_PTR_TO_BTF_ID,
})


#: BPF_FUNC_d_path
BPF_FUNC_d_path: Final = 147
#: ``bpf_d_path_proto`` as an iterator gets it: its ``.allowed`` (``bpf_d_path_allowed``,
#: kernel/trace/bpf_trace.c) is true for ``BPF_TRACE_ITER`` (for the other tracing programs it
#: depends on the attach function: not modelled, so they keep the kernel symbol, unmodelled)
D_PATH_ITER: Final = "bpf_d_path_proto (BPF_TRACE_ITER)"


def check_iter_attach(env: Env) -> None:
    """``check_attach_btf_id`` for an iterator (see the module docstring)."""
    from kernel_model.bpf_facts.func_proto import ROOT_CAPS, ProgContext, available_helpers
    from kernel_model.bpf_facts.prog_types import return_range

    from .helper_sets import CAP_BPF_ONLY, attach_type_name, prog_type_name

    from .tracing_btf import attach_btf_type

    a = env.attr
    btf_id = a.attach_btf_id
    t = attach_btf_type(env, "iterator target")
    btf = a.attach_btf
    tname = t.name
    if not tname:
        raise env.reject(E.EINVAL, f"attach_btf_id {btf_id} doesn't have a name")
    if t.kind != BS.KIND_FUNC:
        raise env.reject(E.EINVAL, f"attach_btf_id {btf_id} is not a function")
    proto = btf.type_by_id(t.type_id)
    if not isinstance(proto, FuncProto):
        raise env.reject(E.EINVAL)
    if not tname.startswith(ITER_FUNC_PREFIX):  # bpf_iter_prog_supported: -EINVAL, no message
        raise env.reject(E.EINVAL)
    target = tname[len(ITER_FUNC_PREFIX):]
    if target in HOST_REFUSED_TARGETS:
        raise env.reject(E.EINVAL, f"the iterator target {target} is not modelled by structops")
    if target not in ITER_TARGETS:
        raise env.reject(E.EINVAL)
    env.attach_btf = btf
    env.attach_func_proto = proto
    env.attach_func_name = tname
    ctx = ProgContext(prog_type_name(a.prog_type), expected_attach_type=attach_type_name(a.expected_attach_type),
                      sleepable=a.sleepable, caps=ROOT_CAPS if a.privileged else CAP_BPF_ONLY,
                      attach_target=target, lockdown=a.lockdown)
    env.helper_protos = dict(available_helpers(ctx))
    if env.helper_protos.get(BPF_FUNC_d_path) == "bpf_d_path_proto":
        env.helper_protos[BPF_FUNC_d_path] = D_PATH_ITER  # bpf_d_path_allowed: true for BPF_TRACE_ITER
    env.allowed_helpers = frozenset(env.helper_protos)
    env.retval_range = return_range(prog_type_name(a.prog_type), attach_type_name(a.expected_attach_type))


def iter_ctx_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``btf_ctx_access`` for an iterator's context (see the module docstring); the caller
    (``bpf_tracing_ctx_access``) has checked the access is a read, aligned, in the 12 slots."""
    from .ctx import _arg_index
    from .tracing_btf import ctx_arg_head, ctx_arg_struct

    btf: Any = env.attach_btf
    proto: FuncProto = env.attach_func_proto
    tname = env.attach_func_name
    if off % 8:
        env.verbose(f"func '{tname}' offset {off} is not multiple of 8\n")
        return None
    arg = _arg_index(btf, proto, off)
    params = proto.params
    if arg >= len(params):
        env.verbose(f"func '{tname}' doesn't have {arg + 1}-th argument\n")
        return None
    t = ctx_arg_head(env, btf, tname, arg, params[arg].type_id, size)
    if not isinstance(t, Ptr):
        return t
    target = ITER_TARGETS[tname[len(ITER_FUNC_PREFIX):]]
    for coff, trusted, sname in target.ctx_arg_info:
        if coff == off:
            sid = btf.find(sname, BS.KIND_STRUCT)
            if sid is None:
                env.verbose(f"invalid btf_id for context argument offset {off}\n")
                return None
            return PTR_TO_BTF_ID | PTR_MAYBE_NULL | (PTR_TRUSTED if trusted else 0), btf, sid
    found = ctx_arg_struct(env, btf, tname, arg, t)
    if found is None:
        return None
    bid, tag_flags = found
    return PTR_TO_BTF_ID | PTR_TRUSTED | tag_flags, btf, bid  # prog_args_trusted: BPF_TRACE_ITER


@lru_cache(maxsize=None)
def symbol_proto(symbol: str, func_id: int) -> H.FuncProto | None:
    """The verifier's prototype for an iterator helper's kernel initialiser (the
    :data:`ITER_SYMBOLS`); None for any other."""
    if symbol == D_PATH_ITER and func_id == BPF_FUNC_d_path:
        # the 6.18 host writes the buffer (ARG_PTR_TO_MEM | MEM_WRITE: an uninitialised stack
        # buffer is accepted, host-checked), where the 6.12 initialiser had ARG_PTR_TO_MEM
        return H.FuncProto("d_path", H.RET_INTEGER, (H.ARG_PTR_TO_BTF_ID, H.ARG_PTR_TO_MEM | R.MEM_WRITE,
                                                     H.ARG_CONST_SIZE_OR_ZERO, H.ARG_DONTCARE, H.ARG_DONTCARE),
                           arg_btf=("path",))
    if symbol in _SOCK_SYMBOLS:
        from .sock_helpers import symbol_proto as sock_proto
        return sock_proto(symbol)
    got = ITER_SYMBOLS.get(symbol)
    if got is None or got[0] != func_id:
        return None
    p = fact_proto(symbol)
    args: list[int] = []
    names: list[str] = []
    for a in p.args:
        v: int = getattr(H, a.base)
        for f in a.flags:
            v |= getattr(R, f)
        if v not in _ARGS_MODELLED or a.size:
            return None
        if a.btf_id is not None and a.btf_id not in _BTF_ID_NAMES:
            return None
        args.append(v)
        names.append(_BTF_ID_NAMES.get(a.btf_id or "", ""))
    if p.ret.flags or p.allowed:
        return None
    if p.ret.base == "RET_INTEGER":
        ret, ret_btf = H.RET_INTEGER, ""
    elif p.ret.base == "RET_PTR_TO_BTF_ID" and p.ret.btf_id in _BTF_ID_NAMES:
        ret, ret_btf = H.RET_PTR_TO_BTF_ID, _BTF_ID_NAMES[p.ret.btf_id]  # a plain (untagged) PTR_TO_BTF_ID
    else:
        return None
    name = symbol.removeprefix("bpf_").split("_proto")[0]
    return H.FuncProto(name, ret, tuple(args), p.gpl_only, p.might_sleep, p.pkt_access, ret_btf=ret_btf,
                       arg_btf=tuple(names))


