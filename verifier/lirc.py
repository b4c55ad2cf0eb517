"""``BPF_PROG_TYPE_LIRC_MODE2``: IR decoders attached to a lirc device.

drivers/media/rc/bpf-lirc.c (Linux 6.12/6.18) ``lirc_mode2_verifier_ops``:

* ``lirc_mode2_is_valid_access``: the context is one ``u32`` (the raw IR sample: pulse or
  space and its duration), read only: a 4-byte read at offset 0, nothing else; no
  ``convert_ctx_access`` (the context pointer is the sample itself);
* ``lirc_mode2_func_proto``: ``bpf_rc_repeat``, ``bpf_rc_keydown``, ``bpf_rc_pointer_rel``
  (all ``gpl_only``, the context first), the map helpers, ``bpf_ktime_get_ns``,
  ``bpf_ktime_get_boot_ns``, ``bpf_tail_call``, ``bpf_get_prandom_u32`` and, with
  CAP_PERFMON, ``bpf_trace_printk`` -- evaluated from the kernel's decision tree
  (:mod:`kernel_model.bpf_facts`);
* ``check_return_code`` has no rule for the type: any return value.

The type exists only in a kernel built with ``CONFIG_BPF_LIRC_MODE2`` (include/linux/bpf_types.h;
it needs the remote-controller core, ``CONFIG_RC_CORE``, and ``CONFIG_LIRC``): without it
``BPF_PROG_LOAD`` refuses the type with EINVAL before the verifier runs
(``find_prog_type``), as the emulated kernel does (:mod:`emu.kernel.syscall`). ``lirc_mode2_prog_ops``
is empty: no ``BPF_PROG_TEST_RUN``; the emulated kernel has no lirc device to attach to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import helpers as H
from .ctx import BPF_READ
from .regs import SCALAR_VALUE

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["PROG_TYPE_LIRC_MODE2", "BPF_LIRC_MODE2", "lirc_mode2_access", "LIRC_SYMBOLS", "symbol_proto"]

#: enum bpf_prog_type / enum bpf_attach_type (include/uapi/linux/bpf.h)
PROG_TYPE_LIRC_MODE2: Final = 20
BPF_LIRC_MODE2: Final = 16

#: the type's own prototypes (bpf-lirc.c rc_repeat_proto, rc_keydown_proto, rc_pointer_rel_proto)
LIRC_SYMBOLS: Final[dict[str, H.FuncProto]] = {
    "rc_repeat_proto": H.FuncProto("rc_repeat", H.RET_INTEGER, (H.ARG_PTR_TO_CTX,) + (H.ARG_DONTCARE,) * 4, True),
    "rc_keydown_proto": H.FuncProto("rc_keydown", H.RET_INTEGER,
                                    (H.ARG_PTR_TO_CTX, H.ARG_ANYTHING, H.ARG_ANYTHING, H.ARG_ANYTHING,
                                     H.ARG_DONTCARE), True),
    "rc_pointer_rel_proto": H.FuncProto("rc_pointer_rel", H.RET_INTEGER,
                                        (H.ARG_PTR_TO_CTX, H.ARG_ANYTHING, H.ARG_ANYTHING, H.ARG_DONTCARE,
                                         H.ARG_DONTCARE), True),
}


def lirc_mode2_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``lirc_mode2_is_valid_access``: a 4-byte read of the sample at offset 0."""
    return (SCALAR_VALUE, None, 0) if atype == BPF_READ and off == 0 and size == 4 else None


def symbol_proto(symbol: str) -> H.FuncProto | None:
    """The prototype of one of the type's own helpers, by kernel symbol."""
    return LIRC_SYMBOLS.get(symbol)
