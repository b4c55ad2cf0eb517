"""Helper bodies that depend on the program type.

The kernel answers a helper id per program type (``get_func_proto`` of the type's
``bpf_verifier_ops``), and the verifier's fixup puts *that* prototype's function into the
call: ``bpf_skb_load_bytes`` (id 26) of a flow dissector is
``bpf_flow_dissector_load_bytes`` (``flow_dissector_func_proto``, net/core/filter.c, Linux
6.18), a different function from the socket filter's or tc's ``bpf_skb_load_bytes``. The
shared table of :mod:`emu.kernel.bpf_helpers` is keyed by id alone; :data:`PROG_TYPE_HELPERS`
names the bodies a program type takes instead, each bound to its own stub (named after the
kernel function, so kallsyms and oops reports show it) the first time a program needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_model.memory import HelperFn
from kernel_model.uapi import PROG_TYPE_FLOW_DISSECTOR

from .test_run_flow_dissector import flow_dissector_load_bytes

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel

__all__ = ["PROG_TYPE_HELPERS", "prog_type_helper_imm"]

#: (program type, helper id) -> (the kernel function, its body)
PROG_TYPE_HELPERS: dict[tuple[int, int], tuple[str, HelperFn]] = {
    (PROG_TYPE_FLOW_DISSECTOR, 26): ("bpf_flow_dissector_load_bytes", flow_dissector_load_bytes),
}


def prog_type_helper_imm(kernel: "Kernel", prog_type: int, helper_id: int) -> int | None:
    """The call immediate of the type's own body for ``helper_id``, None where the type
    takes the shared one. The stub is made once per kernel."""
    entry = PROG_TYPE_HELPERS.get((prog_type, helper_id))
    if entry is None:
        return None
    name, fn = entry
    m = kernel.machine
    addr = m.calls.addr_of(name) if name in m.calls.by_name else m.add_stub(name, fn)
    return int(m.images.call_imm(addr))
