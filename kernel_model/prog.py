"""A loaded BPF program, as the rest of the kernel sees it (``struct bpf_prog``).

Models the fields of ``struct bpf_prog`` / ``bpf_prog_aux`` (include/linux/bpf.h,
Linux 6.12/6.18) that struct_ops and the JIT consume: type, attach target
(``attach_btf`` + ``attach_btf_id``, ``expected_attach_type`` = member index),
sleepable flag, id, the translated instructions, and where the emulated kernel
placed the ``struct bpf_prog`` object and the JIT image (``bpf_func``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .insn import Insn
from .uapi import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL  # re-exported
from .uapi import (PROG_TYPE_CGROUP_SKB, PROG_TYPE_KPROBE, PROG_TYPE_NAMES, PROG_TYPE_PERF_EVENT,
                   PROG_TYPE_RAW_TRACEPOINT, PROG_TYPE_RAW_TRACEPOINT_WRITABLE, PROG_TYPE_SCHED_ACT,
                   PROG_TYPE_SCHED_CLS, PROG_TYPE_TRACEPOINT, PROG_TYPE_XDP)

if TYPE_CHECKING:  # pragma: no cover
    from .btf import BTF  # an annotation only: importing BTF (pycparser) is not needed to name a program type

__all__ = ["BpfProg", "PROG_TYPE_SOCKET_FILTER", "PROG_TYPE_STRUCT_OPS", "PROG_TYPE_SYSCALL", "PROG_TYPES"]


#: the program types the verifier model knows, by the name ``structops verify --prog-type`` takes
PROG_TYPES = {name: t for t, name in PROG_TYPE_NAMES.items() if t in (
    PROG_TYPE_SOCKET_FILTER, PROG_TYPE_KPROBE, PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT, PROG_TYPE_TRACEPOINT,
    PROG_TYPE_XDP, PROG_TYPE_PERF_EVENT, PROG_TYPE_CGROUP_SKB, PROG_TYPE_RAW_TRACEPOINT,
    PROG_TYPE_RAW_TRACEPOINT_WRITABLE, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL)}
#: the socket and cgroup types (verifier/sock_ctx.py): cgroup_sock, sock_ops, cgroup_device,
#: cgroup_sock_addr, cgroup_sysctl, cgroup_sockopt, sk_lookup
PROG_TYPES.update({PROG_TYPE_NAMES[t]: t for t in (9, 13, 15, 18, 23, 25, 30)})
#: lirc_mode2 (verifier/lirc.py)
PROG_TYPES[PROG_TYPE_NAMES[20]] = 20
#: the lwt types (verifier/skb_ctx.py; lwt_in, lwt_out, lwt_xmit test-run, lwt_seg6local has no test run)
PROG_TYPES.update({PROG_TYPE_NAMES[t]: t for t in (10, 11, 12, 19)})


@dataclass(eq=False, slots=True)
class BpfProg:
    """A verified, JIT-compiled program."""

    id: int
    prog_type: int
    insns: list[Insn]
    name: str = ""
    attach_btf: BTF | None = None
    attach_btf_id: int = 0
    expected_attach_type: int = 0
    sleepable: bool = False
    #: address of the emulated ``struct bpf_prog`` (the trampoline passes it to __bpf_prog_enter)
    addr: int = 0
    #: address of the JIT image's entry (``prog->bpf_func``)
    bpf_func: int = 0
    jited: bytes = b""
    verifier_log: str = ""
    #: objects the program pins (a module owning its attach type or its kfuncs)
    holds: list[Any] = field(default_factory=list)
    refcnt: int = 1
