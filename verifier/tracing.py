"""The tracing program types' contexts: kprobe, tracepoint, raw tracepoint, perf event.

Their ``bpf_verifier_ops`` live in kernel/trace/bpf_trace.c (Linux 6.18, the same
as 6.12 for these rules); the models here are their ``is_valid_access`` and, for
perf events, ``convert_ctx_access``:

* ``kprobe_prog_is_valid_access``: the context is the probed task's ``struct
  pt_regs`` (168 bytes on x86-64), read-only, any naturally aligned access that
  stays inside it;
* ``tp_prog_is_valid_access``: the tracepoint's raw record, read-only, from
  offset 8 (the first 8 bytes are the common header the program may not see) to
  ``PERF_MAX_TRACE_SIZE`` (8192, include/linux/trace_events.h), aligned;
* ``raw_tp_prog_is_valid_access`` (``bpf_tracing_ctx_access``,
  include/linux/bpf.h): the u64 argument array, ``MAX_BPF_FUNC_ARGS`` (12)
  slots, read-only, aligned;
* ``raw_tp_writable_prog_is_valid_access``: the same, but the 8 bytes at offset
  0 are the tracepoint's writable buffer (``PTR_TO_TP_BUFFER``);
* ``pe_prog_is_valid_access``: ``struct bpf_perf_event_data`` (``regs`` as
  ``pt_regs``, then ``sample_period`` and ``addr``: 184 bytes), read-only;
  ``sample_period`` and ``addr`` allow narrow loads (``bpf_ctx_narrow_access_ok``,
  field size 8 recorded), every other field is read as a whole ``long``.
  ``pe_prog_convert_ctx_access`` rewrites them into loads through ``struct
  bpf_perf_event_data_kern`` (``regs``, ``data`` pointers) and ``struct
  perf_sample_data`` (``period`` at 8, ``addr`` at 184: the 6.18 x86-64 layout
  read from the host's BTF).

Kprobes, tracepoints and raw tracepoints have no ``convert_ctx_access``: their
context is read as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from kernel_model import isa
from kernel_model.insn import Insn

from .regs import PTR_TO_TP_BUFFER, SCALAR_VALUE

if TYPE_CHECKING:
    from .core import Env
    from .ctx import CtxAccess

__all__ = ["PT_REGS_SIZE", "PERF_MAX_TRACE_SIZE", "MAX_BPF_FUNC_ARGS", "PERF_EVENT_DATA_SIZE",
           "kprobe_access", "tp_access", "raw_tp_access", "raw_tp_writable_access", "pe_access",
           "convert_pe_access"]

BPF_READ, BPF_WRITE = 1, 2

#: sizeof(struct pt_regs), x86-64 (arch/x86/include/asm/ptrace.h: 21 unsigned longs)
PT_REGS_SIZE: Final = 168
#: include/linux/trace_events.h
PERF_MAX_TRACE_SIZE: Final = 8192
#: include/linux/bpf.h
MAX_BPF_FUNC_ARGS: Final = 12
#: struct bpf_perf_event_data (include/uapi/linux/bpf_perf_event.h): regs, sample_period, addr
PE_SAMPLE_PERIOD: Final = PT_REGS_SIZE
PE_ADDR: Final = PT_REGS_SIZE + 8
PERF_EVENT_DATA_SIZE: Final = PT_REGS_SIZE + 16
#: struct bpf_perf_event_data_kern (include/linux/perf_event.h): regs, data, event pointers
PE_KERN_REGS: Final = 0
PE_KERN_DATA: Final = 8
#: struct perf_sample_data (include/linux/perf_event.h, 6.18 x86-64): period, addr
SAMPLE_PERIOD_OFF: Final = 8
SAMPLE_ADDR_OFF: Final = 184


def _scalar() -> CtxAccess:
    return SCALAR_VALUE, None, 0


def kprobe_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``kprobe_prog_is_valid_access`` (kernel/trace/bpf_trace.c)."""
    if off < 0 or off >= PT_REGS_SIZE or atype != BPF_READ or off % size:
        return None
    if off + size > PT_REGS_SIZE:
        return None
    return _scalar()


def tp_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``tp_prog_is_valid_access`` (kernel/trace/bpf_trace.c)."""
    if off < 8 or off >= PERF_MAX_TRACE_SIZE or atype != BPF_READ or off % size:
        return None
    return _scalar()


def _tracing_ctx_access(off: int, size: int, atype: int) -> bool:
    """``bpf_tracing_ctx_access`` (include/linux/bpf.h)."""
    return 0 <= off < 8 * MAX_BPF_FUNC_ARGS and atype == BPF_READ and off % size == 0


def raw_tp_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``raw_tp_prog_is_valid_access`` (kernel/trace/bpf_trace.c)."""
    return _scalar() if _tracing_ctx_access(off, size, atype) else None


def raw_tp_writable_access(env: Env, insn_idx: int, off: int, size: int, atype: int,
                           is_ldsx: bool) -> CtxAccess | None:
    """``raw_tp_writable_prog_is_valid_access``: offset 0 is the writable buffer."""
    if off == 0:
        if size != 8 or atype != BPF_READ:
            return None
        return (PTR_TO_TP_BUFFER, None, 0) if _tracing_ctx_access(off, size, atype) else None
    return raw_tp_access(env, insn_idx, off, size, atype, is_ldsx)


def _narrow_ok(off: int, size: int, field_size: int) -> bool:
    """``bpf_ctx_narrow_access_ok`` (include/linux/filter.h)."""
    return size <= field_size and (off & (field_size - 1)) + size <= field_size


def pe_access(env: Env, insn_idx: int, off: int, size: int, atype: int, is_ldsx: bool) -> CtxAccess | None:
    """``pe_prog_is_valid_access`` (kernel/trace/bpf_trace.c); on 64-bit an unaligned
    access is always refused. Records ``ctx_field_size`` 8 for the narrow-load fields."""
    if off < 0 or off >= PERF_EVENT_DATA_SIZE or atype != BPF_READ or off % size:
        return None
    if PE_SAMPLE_PERIOD <= off < PE_SAMPLE_PERIOD + 8 or PE_ADDR <= off < PE_ADDR + 8:
        env.ctx_field_size[insn_idx] = 8
        if not _narrow_ok(off, size, 8):
            return None
    elif size != 8:
        return None
    return _scalar()


def convert_pe_access(si: Insn) -> list[Insn]:
    """``pe_prog_convert_ctx_access``: ``si`` is the (whole-field, rounded-down) load
    ``convert_ctx_accesses`` hands over; loads through the kernel's context."""
    dst, src = si.dst, si.src
    ldx = isa.LDX | isa.MEM
    if si.off == PE_SAMPLE_PERIOD:
        return [Insn(ldx | isa.DW, dst, src, PE_KERN_DATA, 0), Insn(ldx | isa.DW, dst, dst, SAMPLE_PERIOD_OFF, 0)]
    if si.off == PE_ADDR:
        return [Insn(ldx | isa.DW, dst, src, PE_KERN_DATA, 0), Insn(ldx | isa.DW, dst, dst, SAMPLE_ADDR_OFF, 0)]
    return [Insn(ldx | isa.DW, dst, src, PE_KERN_REGS, 0), Insn(ldx | isa.DW, dst, dst, si.off, 0)]
