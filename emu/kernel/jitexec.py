"""``structops exec --engine jit``: run a program through the JIT in the machine.

The same contract as the interpreter path of :func:`emu.kernel.runner.run_program`:
input memory is mapped at ``MEM_BASE`` (r1, its length in r2), helpers are
Python functions by id, the result is r0. The program goes through
:func:`verifier.fixups.fixup_for_jit` (helper immediates, division guards,
may_goto) with stack depth ``MAX_BPF_STACK`` per function -- the interpreter
gives every frame 512 bytes, and an unverified program has no verifier
depth -- then :func:`jit.bpf_jit.jit_program`, then one call in the machine.

Faults are oopses (:class:`emu.machine.oops.Oops`, an ExecFault); a runaway program
stops at the budget (the BPF budget times 4 x86 instructions) with
:class:`emu.machine.MachineBudgetExceeded`. One machine per process and
profile is reused (``reset()`` between runs), so many files run fast.

Where the JIT path differs from the interpreter: input memory is mapped in
whole pages, so an access past its end but inside its last page reads
zeros instead of faulting; legacy packet loads, unresolved ``lddw`` pseudo
sources and unknown helpers fault when executed (as in the interpreter) with
the BPF slot taken from the return address.
"""

from __future__ import annotations

from typing import Mapping, Sequence


from kernel_model import isa
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.insn import Insn
from kernel_model.interp import DEFAULT_BUDGET
from kernel_model.memory import HelperFn
from kernel_model.profile import LATEST, Profile
from verifier.cfg import find_subprogs
from verifier.fixups import fixup_for_jit

from emu.machine import PROT_RW, Machine

__all__ = ["run_jit", "machine_for", "prepare", "MEM_BASE", "X86_PER_BPF_BUDGET"]

#: same as emu.kernel.runner.MEM_BASE
MEM_BASE = 0xFFFF_8880_0010_0000
X86_PER_BPF_BUDGET = 4
_MACHINES: dict[tuple[str, CpuConfig], Machine] = {}


def machine_for(profile: Profile = LATEST, cpu: CpuConfig = DEFAULT_CPU) -> Machine:
    """The process's machine for ``profile`` and ``cpu`` (created on first use)."""
    key = (profile.name, cpu)
    m = _MACHINES.get(key)
    if m is None:
        m = _MACHINES[key] = Machine(profile, cpu=cpu)
    return m


def prepare(m: Machine, insns: Sequence[Insn], helpers: Mapping[int, HelperFn]) -> int:
    """Fix up and JIT ``insns`` in ``m`` (helpers bound to stubs); returns bpf_func."""
    imms = _helper_imms(m, helpers)
    unknown: dict[int, int] = {}

    def helper_imm(hid: int) -> int:
        if hid in imms:
            return imms[hid]
        if hid not in unknown:
            addr = m.add_stub(f"unknown_helper_{hid & 0xFFFFFFFF:x}", raw=lambda mm: mm.runner.stop_at_bpf_caller(
                "unknown helper", f"no helper with id {hid}"))
            unknown[hid] = m.images.call_imm(addr)
        return unknown[hid]

    def kfunc_imm(btf_id: int, off: int) -> int:
        addr = m.add_stub(f"unknown_kfunc_{btf_id & 0xFFFFFFFF:x}_{len(unknown)}", raw=lambda mm: mm.runner.stop_at_bpf_caller(
            "unknown kfunc", f"no kfunc with id {btf_id}"))
        return m.images.call_imm(addr)

    fault = m.add_stub("bpf_exec_unsupported", raw=lambda mm: mm.runner.stop_at_bpf_caller(
        "unsupported instruction", "legacy packet access or an unresolved lddw pseudo source"))
    starts = find_subprogs(insns)
    fx = fixup_for_jit(insns, helper_imm=helper_imm, kfunc_imm=kfunc_imm, profile=m.profile,
                       stack_depths=[isa.MAX_BPF_STACK] * len(starts), starts=starts,
                       timed_may_goto_imm=m.images.call_imm(m.calls.addr_of("arch_bpf_timed_may_goto")),
                       fault_imm=m.images.call_imm(fault))
    jp = m.jit(fx.insns, starts=fx.starts, stack_depths=fx.stack_depths, name="exec")
    return jp.bpf_func


def _helper_imms(m: Machine, helpers: Mapping[int, HelperFn]) -> dict[int, int]:
    """Stubs for ``exec``'s helpers, named after their Python functions (``memfrob``
    for uBPF's helper 1): they are not the kernel's helpers of those ids, so an
    oops in one must not name, say, ``bpf_map_lookup_elem``."""
    out = {}
    for hid, fn in helpers.items():
        name = getattr(fn, "__name__", "").strip("_")
        if not name.isidentifier() or name in m.calls.by_name:
            name = f"exec_helper_{hid & 0xFFFFFFFF:x}"
        entry = m.calls.by_name.get(name)
        out[hid] = m.images.call_imm(entry.addr if entry is not None else m.add_stub(name, fn))
    return out


def run_jit(insns: list[Insn], *, mem: bytes | None = None, helpers: Mapping[int, HelperFn] | None = None,
            budget: int = DEFAULT_BUDGET, profile: Profile = LATEST, cpu: CpuConfig = DEFAULT_CPU) -> int:
    """JIT ``insns`` and run them once on ``mem`` (r1 = MEM_BASE, r2 = len); returns r0."""
    m = machine_for(profile, cpu)
    m.reset()
    region = None
    try:
        if mem:
            region = m.mem.map_region("exec mem", MEM_BASE, len(mem), PROT_RW, mem)
        func = prepare(m, insns, helpers or {})
        return m.call(func, (MEM_BASE if mem else 0, len(mem or b"")), budget=budget * X86_PER_BPF_BUDGET)
    finally:
        if region is not None:
            m.mem.unmap_region(region.base)
