"""``BPF_PROG_TEST_RUN`` of a raw tracepoint program: ``bpf_prog_test_run_raw_tp``
(net/bpf/test_run.c, Linux 6.12 sources; the 6.18 host compared in
tests/emu/test_raw_tp_run.py).

* no ``data_in``, ``data_out``, ``ctx_out`` or ``repeat`` (``-EINVAL``; as for syscall
  programs, this API's default ``repeat=1`` stands for the uapi's 0, so only ``repeat``
  above 1 is refused); ``batch_size`` and ``duration`` are not in this API;
* ``ctx_in`` is the tracepoint's ``u64`` argument array: at least ``max_ctx_offset``
  bytes -- the end of the furthest context read of the program, which ``check_ctx_access``
  records (:func:`max_ctx_offset`) -- and at most ``MAX_BPF_FUNC_ARGS * 8`` (96), else
  ``-EINVAL``; it is copied into a kmalloc'ed buffer (``memdup_user``) and the program gets
  its address, or NULL when ``ctx_in`` is empty;
* ``cpu`` without ``BPF_F_TEST_RUN_ON_CPU`` must be 0 (``-EINVAL``); with it, the program
  runs on that CPU of the emulated machine (``smp_call_function_single``: its own stack and
  per-CPU area, so ``bpf_get_smp_processor_id`` answers ``cpu``), a CPU the machine does not
  have is ``-ENXIO`` (every emulated CPU is online), the current one runs in place; other
  ``flags`` bits are not checked (the kernel does not check them either);
* the program runs once (``__bpf_prog_test_run_raw_tp``, under a zeroed
  ``bpf_trace_run_ctx``); ``retval`` is its return value truncated to u32; nothing is
  copied back (no ``ctx_out``, no ``duration``).

``BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`` has no ``test_run`` in the kernel
(``raw_tracepoint_writable_prog_ops`` is empty): ``-ENOTSUPP`` (:func:`emu.kernel.test_run.test_run`).
"""

from __future__ import annotations

import errno
import time
from typing import TYPE_CHECKING

from emu.machine import BPF_PROG_SIZE  # prog->insnsi follows: bpf_func(ctx, insnsi) gets it as arg 2
from kernel_model import isa
from kernel_model.errors import KernelError
from verifier.regs import PTR_TO_CTX

from .bpf_objects import TestRunResult

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel
    from .prog_load import ProgObject

__all__ = ["run_raw_tp", "run_tracing", "max_ctx_offset", "MAX_BPF_FUNC_ARGS", "BPF_F_TEST_RUN_ON_CPU"]

#: include/linux/bpf.h
MAX_BPF_FUNC_ARGS = 12
#: include/uapi/linux/bpf.h
BPF_F_TEST_RUN_ON_CPU = 1 << 0
M64 = (1 << 64) - 1


def max_ctx_offset(po: "ProgObject") -> int:
    """``prog->aux->max_ctx_offset``: ``check_ctx_access`` (kernel/bpf/verifier.c, 6.18)
    raises it to ``off + size`` of every context load or store it accepts. The context
    register's own offset is 0 there (``check_ptr_off_reg`` refuses a moved context
    pointer), so it is the instruction's offset and size, over every instruction the
    verifier recorded as a ``PTR_TO_CTX`` access (``insn_aux_data[i].ptr_type``). A
    context handed to a helper does not count, as in the kernel."""
    aux = po.result.insn_aux
    code = po.prog.insns
    top = 0
    k = 0
    while k < len(code):
        ins = code[k]
        if ins.code == isa.LD_IMM64:
            k += 2
            continue
        cls = ins.code & 0x07
        if cls in (isa.LDX, isa.ST, isa.STX) and k < len(aux) and aux[k].ptr_type == PTR_TO_CTX:
            top = max(top, ins.off + isa.SIZE_BYTES[ins.code & 0x18])
        k += 1
    return top


def run_raw_tp(kernel: "Kernel", po: "ProgObject", ctx_in: bytes, data_in: bytes, repeat: int, flags: int,
               cpu: int, ctx_out_size: int, data_out_size: int) -> TestRunResult:
    """``bpf_prog_test_run_raw_tp``."""
    m = kernel.machine
    if data_in or data_out_size or ctx_out_size or repeat > 1:
        raise KernelError(errno.EINVAL, "raw_tp test runs take no data_in, data_out, ctx_out or repeat")
    need = max_ctx_offset(po)
    if len(ctx_in) < need or len(ctx_in) > MAX_BPF_FUNC_ARGS * 8:
        raise KernelError(errno.EINVAL, f"ctx_in of {len(ctx_in)} bytes: the program reads {need} bytes of "
                                        f"arguments, at most {MAX_BPF_FUNC_ARGS * 8} may be given")
    on_cpu = bool(flags & BPF_F_TEST_RUN_ON_CPU)
    if not on_cpu and cpu:
        raise KernelError(errno.EINVAL, f"cpu {cpu} without BPF_F_TEST_RUN_ON_CPU")
    current = max(m.runner.cpu, 0)  # get_cpu(): where the syscall runs
    if on_cpu and cpu != current and not 0 <= cpu < m.nr_cpus:
        raise KernelError(errno.ENXIO, f"cpu {cpu} is not online (the emulated machine has {m.nr_cpus})")
    ctx = m.alloc.kzalloc(len(ctx_in)) if ctx_in else 0
    try:
        if ctx_in:
            m.write(ctx, ctx_in)
        if on_cpu and cpu != current:
            m.runner.set_cpu(cpu)  # smp_call_function_single(cpu, ..., wait=1)
        try:
            t0 = time.perf_counter_ns()
            ret = m.call(po.prog.bpf_func, (ctx, po.prog.addr + BPF_PROG_SIZE))
            dt = time.perf_counter_ns() - t0
        finally:
            if m.runner.cpu != current:
                m.runner.set_cpu(current)
    finally:
        if ctx:
            m.alloc.kfree(ctx)
    return TestRunResult(ret & 0xFFFF_FFFF, duration=dt, retval64=ret & M64)


#: enum bpf_attach_type (include/uapi/linux/bpf.h): the tracing attach types bpf_prog_test_run_tracing runs
BPF_TRACE_FENTRY, BPF_TRACE_FEXIT, BPF_MODIFY_RETURN = 24, 25, 26


def run_tracing(po: "ProgObject", flags: int, cpu: int) -> TestRunResult:
    """``bpf_prog_test_run_tracing`` (net/bpf/test_run.c, 6.12 sources; the 6.18 host
    answers the same) for what the emulated kernel loads of ``BPF_PROG_TYPE_TRACING``:
    ``flags`` or ``cpu`` is ``-EINVAL``; a BTF raw tracepoint (``tp_btf``) or an iterator
    reaches the switch's default: ``-EFAULT``, nothing run. fentry/fexit/fmod_ret (which
    call the ``bpf_fentry_test*`` functions) are not modelled."""
    if flags or cpu:
        raise KernelError(errno.EINVAL, "tracing test runs take no flags or cpu")
    if po.prog.expected_attach_type in (BPF_TRACE_FENTRY, BPF_TRACE_FEXIT, BPF_MODIFY_RETURN):
        from kernel_model.errors import NotModelled
        raise NotModelled("BPF_PROG_TEST_RUN of fentry/fexit/fmod_ret programs is not modelled")
    raise KernelError(errno.EFAULT, "bpf_prog_test_run_tracing runs fentry, fexit and fmod_ret programs only "
                                    "(the kernel answers -EFAULT for the other tracing attach types)")
