"""The flow dissector's context as the kernel builds and rewrites it.

A ``BPF_PROG_TYPE_FLOW_DISSECTOR`` program is written against ``struct __sk_buff``
(include/uapi/linux/bpf.h) but runs on ``struct bpf_flow_dissector``
(include/net/flow_dissector.h, Linux 6.18: ``flow_keys``, ``skb``, ``data``,
``data_end``, four pointers). ``flow_dissector_is_valid_access`` (the verifier model's
:func:`verifier.skb_ctx.flow_dissector_access`) lets three reads through -- ``data``
and ``data_end`` as whole u32s, ``flow_keys`` as a u64 -- and
``flow_dissector_convert_ctx_access`` (net/core/filter.c) turns each into one 8-byte
load of the matching ``bpf_flow_dissector`` pointer
(``BPF_FIELD_SIZEOF(struct bpf_flow_dissector, data)`` is 8: the u32 read of the uapi
becomes a u64 one). These fields record no ``ctx_field_size``, so no access is narrowed.

:data:`FLOW_DISSECTOR` is the kernel structure's layout, :data:`FLOW_KEYS` the uapi
``struct bpf_flow_keys`` the program fills; the test runner
(:mod:`emu.kernel.test_run_flow_dissector`) builds its context from the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kernel_model import isa
from kernel_model.errors import NotModelled
from kernel_model.insn import Insn

from .ctx import SK_BUFF_FIELDS

__all__ = ["FlowDissectorLayout", "FLOW_DISSECTOR", "FlowKeysLayout", "FLOW_KEYS", "convert_flow_dissector_access"]


@dataclass(frozen=True, slots=True)
class FlowDissectorLayout:
    """``struct bpf_flow_dissector`` (include/net/flow_dissector.h, 6.12 and 6.18)."""

    flow_keys: int = 0   # struct bpf_flow_keys *
    skb: int = 8         # const struct sk_buff *: NULL in skb-less dissection and test runs
    data: int = 16       # const void *
    data_end: int = 24   # const void *
    size: int = 32


@dataclass(frozen=True, slots=True)
class FlowKeysLayout:
    """``struct bpf_flow_keys`` (include/uapi/linux/bpf.h): offsets of what
    ``bpf_flow_dissect`` sets and clamps, and of ``flags``, the one field a test run's
    ``ctx_in`` may set (``verify_user_bpf_flow_keys``)."""

    nhoff: int = 0       # __u16
    thoff: int = 2       # __u16
    n_proto: int = 10    # __be16
    flags: int = 48      # __u32
    size: int = 56


FLOW_DISSECTOR: Final = FlowDissectorLayout()
FLOW_KEYS: Final = FlowKeysLayout()

#: __sk_buff offset -> bpf_flow_dissector offset (flow_dissector_convert_ctx_access)
_CONVERTED: Final = {SK_BUFF_FIELDS["data"][0]: FLOW_DISSECTOR.data,
                     SK_BUFF_FIELDS["data_end"][0]: FLOW_DISSECTOR.data_end,
                     SK_BUFF_FIELDS["flow_keys"][0]: FLOW_DISSECTOR.flow_keys}


def convert_flow_dissector_access(ins: Insn) -> list[Insn]:
    """``flow_dissector_convert_ctx_access`` (net/core/filter.c, Linux 6.18) for one
    accepted ``__sk_buff`` read: a u64 load of the ``bpf_flow_dissector`` member into the
    same register. Stores never reach it (the type's context is read-only); an offset
    outside the three fields raises NotModelled (the verifier model lets none through)."""
    target = _CONVERTED.get(ins.off)
    if target is None or (ins.code & 0x07) != isa.LDX:
        raise NotModelled(f"flow dissector context access at __sk_buff offset {ins.off} is not modelled")
    return [Insn(isa.LDX | isa.MEM | isa.DW, ins.dst, ins.src, target, 0)]
