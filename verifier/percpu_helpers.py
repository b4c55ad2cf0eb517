"""``bpf_per_cpu_ptr`` (153) and ``bpf_this_cpu_ptr`` (154): the per-CPU pointer helpers.

Their prototypes are the kernel's initialisers (kernel/bpf/helpers.c
``bpf_per_cpu_ptr_proto`` / ``bpf_this_cpu_ptr_proto``, Linux 6.12/6.18, read from
:mod:`kernel_model.bpf_facts.helper_protos`): the first argument is
``ARG_PTR_TO_PERCPU_BTF_ID``, whose ``compatible_reg_types`` entry
(``percpu_btf_ptr_types``, kernel/bpf/verifier.c) takes ``PTR_TO_BTF_ID | MEM_PERCPU``,
with ``MEM_RCU`` or ``PTR_TRUSTED`` too; any other register is refused by
``check_reg_type`` (``R1 type=scalar expected=percpu_ptr_, percpu_rcu_ptr_,
percpu_trusted_ptr_``). Which program types have them is ``get_func_proto``'s
decision (:mod:`verifier.helper_sets`; 6.18 hands them out with CAP_PERFMON).

Not modelled: a call with a per-CPU pointer (the ``ret_btf`` of the argument and the
``RET_PTR_TO_MEM_OR_BTF_ID`` result): :func:`refuse_percpu_arg` refuses it as not
modelled, after the type check, never accepting it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Final

from kernel_model.bpf_facts.helper_protos import proto as fact_proto

from . import helpers as H
from .regs import MEM_PERCPU, MEM_RCU, PTR_TO_BTF_ID, PTR_TRUSTED

if TYPE_CHECKING:
    from .core import Env

__all__ = ["PERCPU_SYMBOLS", "PERCPU_BTF_PTR_TYPES", "proto_for_symbol", "refuse_percpu_arg"]

#: kernel proto symbol -> the helper id it serves
PERCPU_SYMBOLS: Final[dict[str, int]] = {"bpf_per_cpu_ptr_proto": 153, "bpf_this_cpu_ptr_proto": 154}
#: percpu_btf_ptr_types (kernel/bpf/verifier.c, 6.12/6.18), in the kernel's order
PERCPU_BTF_PTR_TYPES: Final = (PTR_TO_BTF_ID | MEM_PERCPU, PTR_TO_BTF_ID | MEM_PERCPU | MEM_RCU,
                               PTR_TO_BTF_ID | MEM_PERCPU | PTR_TRUSTED)


@lru_cache(maxsize=None)
def proto_for_symbol(symbol: str) -> H.FuncProto | None:
    """The verifier's prototype for ``symbol`` (None: not one of the per-CPU helpers)."""
    func_id = PERCPU_SYMBOLS.get(symbol)
    if func_id is None:
        return None
    p = fact_proto(symbol)
    args = tuple(getattr(H, a.base) for a in p.args)
    ret = H.RET_PTR_TO_MEM_OR_BTF_ID
    from . import regs as R
    for f in p.ret.flags:
        ret |= getattr(R, f)
    name = (p.func or symbol.removesuffix("_proto")).removeprefix("bpf_")
    return H.FuncProto(name, ret, args, p.gpl_only, p.might_sleep, p.pkt_access)


def refuse_percpu_arg(env: Env, func_id: int) -> None:
    """A per-CPU pointer passed the type check: what the helper returns is not modelled."""
    import errno as E
    raise env.reject(E.EINVAL, f"helper {H.func_id_name(func_id)}#{func_id} with a per-CPU pointer is not "
                               "modelled by structops")
