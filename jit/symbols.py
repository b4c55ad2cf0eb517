"""The kernel addresses x86 code emitted by the JIT and the trampolines refers to.

One table for both emitters, as ``arch/x86/net/bpf_jit_comp.c`` has one set of
kernel symbols for ``do_jit`` and ``__arch_prepare_bpf_trampoline``: the
caller (the emulated machine, a test, a benchmark reading the host's
``/proc/kallsyms``) fills in what its code will reach; unused entries stay 0.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KernelSymbols", "DUMMY_SYMBOLS"]


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelSymbols:
    """Addresses from the (emulated or host) kernel's kallsyms. Keyword-only."""

    #: ``__bpf_call_base``: helper/kfunc/bpf-to-bpf call immediates are relative to it
    call_base: int = 0
    #: ``x86_return_thunk``: the CPU configuration's thunk (0 when it returns with ``ret``)
    return_thunk: int = 0
    #: the per-CPU call depth (``pcpu_hot.call_depth``): the target of the call-depth accounting
    call_depth: int = 0
    #: ``this_cpu_off`` (percpu): ``mov_percpu_addr`` adds ``%gs:this_cpu_off``
    this_cpu_off: int = 0
    #: ``arch_bpf_timed_may_goto`` (calls to it may get ``add r10, rbp`` first; 0: never)
    timed_may_goto: int = 0
    #: the thunk a tail call's indirect jump through rcx goes to (``emit_indirect_jump``:
    #: ``__x86_indirect_thunk_rcx``, its call-depth or ITS variant; 0 for inline forms)
    indirect_jump_thunk_rcx: int = 0
    #: what the trampolines call around the program (kernel/bpf/trampoline.c)
    prog_enter: int = 0
    prog_exit: int = 0
    prog_enter_sleepable: int = 0
    prog_exit_sleepable: int = 0


#: Placeholder addresses for sizing and for listings without a machine.
DUMMY_SYMBOLS = KernelSymbols(prog_enter=0xFFFFFFFF81100000, prog_exit=0xFFFFFFFF81100100,
                              prog_enter_sleepable=0xFFFFFFFF81100200, prog_exit_sleepable=0xFFFFFFFF81100300,
                              return_thunk=0xFFFFFFFF81100400, call_depth=0xFFFFFFFF82000000,
                              call_base=0xFFFFFFFF81100500, timed_may_goto=0xFFFFFFFF81100600)
