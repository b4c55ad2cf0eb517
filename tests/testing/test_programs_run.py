"""The program strategies feed the public runners: what they promise holds.

``terminating_programs()`` -> ``emu.kernel.runner.run_program`` on both engines: never
refused by its load-time checks (the ``R7 !read_ok`` of issue 15 was a jump
landing between ``r7 = K`` and the access through r7), every fault an access
through r7, none with ``may_fault=False``, and the engines agree.
``emu.testing.strategies.accepted_*`` -> ``Kernel.prog_load`` + ``prog_test_run``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emu.kernel import Kernel
from emu.machine.oops import Oops
from emu.kernel.runner import precheck, run_program
from emu.testing.strategies import (VerifiedProgram, accepted_linked_scalar_programs, accepted_socket_programs,
                                    accepted_struct_ops_programs)
from kernel_model import isa
from kernel_model.errors import ExecFault
from kernel_model.listing import Program
from kernel_model.testing import MEM_SIZE, terminating_programs
from tests.conftest import examples

MEM = st.binary(min_size=MEM_SIZE, max_size=MEM_SIZE)


def _through_r7(insn) -> bool:
    """A load, store or atomic whose address register is r7."""
    c = insn.cls
    return (c == isa.LDX and insn.src == 7) or (c in (isa.ST, isa.STX) and insn.dst == 7)


@settings(max_examples=examples(2000) * 5, deadline=None)
@given(prog=terminating_programs())
def test_every_drawn_program_passes_the_load_time_checks(prog):
    assert isinstance(prog, Program)
    precheck(prog)  # raises InvalidInsn (e.g. "R7 !read_ok") on a refusal


@settings(max_examples=examples(1000), deadline=None)
@given(prog=terminating_programs())
def test_stack_slots_are_written_before_they_are_read(prog):
    """The machine's stack holds an earlier run's bytes, the interpreter's zeros: a
    read of an unwritten slot would make the engines differ for no fault of either."""
    k = 15  # r6 = r1 and seven lddw: then the zeroing stores, then the pieces
    zeroed = set()
    while prog[k].code == isa.ST | isa.MEM | isa.DW and prog[k].dst == 10 and prog[k].imm == 0:
        zeroed.add(prog[k].off)
        k += 1
    for i in prog[k:]:
        if (i.cls == isa.LDX and i.src == 10) or (i.mode == isa.ATOMIC and i.cls == isa.STX and i.dst == 10):
            assert i.off & ~7 in zeroed, i


def _run(prog, mem, engine):
    try:
        return ("ok", run_program(prog, mem=mem, engine=engine))
    except ExecFault as e:
        return ("fault", e.index)
    except Oops as e:
        return ("fault", e.report.bpf_insn)


@settings(max_examples=examples(1000), deadline=None)
@given(prog=terminating_programs(), mem=MEM)
def test_interpreter_runs_them_and_faults_only_through_r7(prog, mem):
    kind, val = _run(prog, mem, "interp")
    if kind == "fault":
        assert _through_r7(prog[val]), prog[val]


@settings(max_examples=examples(1000), deadline=None)
@given(prog=terminating_programs(may_fault=False), mem=MEM)
def test_may_fault_false_never_faults_on_either_engine(prog, mem):
    assert not any(_through_r7(i) for i in prog)
    assert run_program(prog, mem=mem, engine="interp") == run_program(prog, mem=mem, engine="jit")


@settings(max_examples=examples(500), deadline=None)
@given(prog=terminating_programs(), mem=MEM)
def test_engines_agree_through_run_program(prog, mem):
    """r0 or the fault; the JIT's fault index is the BPF slot of the xlated program,
    which for these programs (no helper calls, no rewrites) is the same slot."""
    interp = _run(prog, mem, "interp")
    jit = _run(prog, mem, "jit")
    assert jit[0] == interp[0]
    if interp[0] == "ok":
        assert jit == interp


def test_larger_memory_knob_keeps_accesses_inside():
    from hypothesis import find

    prog = find(terminating_programs(mem_size=4096, may_fault=False),
                lambda p: any(i.cls == isa.LDX and i.src == 6 and i.off >= MEM_SIZE for i in p))
    assert run_program(prog, mem=bytes(4096)) >= 0


# --- programs the verifier model accepts, in the emulated kernel -------------------------------------

@pytest.fixture(scope="module")
def kernel():
    with Kernel() as k:
        yield k


_RUN = settings(max_examples=examples(300) // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_RUN
@given(prog=accepted_socket_programs())
def test_accepted_socket_filters_load_and_run(kernel, prog):
    assert isinstance(prog, VerifiedProgram) and prog.attach is None
    result = prog.test_run(kernel)
    assert 0 <= result.retval < 1 << 32
    assert kernel.objects() == []  # the run closed its program and map


@_RUN
@given(prog=accepted_linked_scalar_programs())
def test_accepted_linked_scalars_load_and_run(kernel, prog):
    prog.test_run(kernel)
    assert kernel.objects() == []


@_RUN
@given(prog=accepted_struct_ops_programs(), args=st.lists(st.integers(0, (1 << 64) - 1), max_size=4))
def test_accepted_dummy_ops_programs_load_and_run(kernel, prog, args):
    assert prog.attach.startswith("bpf_dummy_ops:")
    prog.test_run(kernel, args=tuple(args))
    assert kernel.objects() == []


def test_a_refused_program_is_not_drawn():
    """The filter is the verifier model's verdict: this one reads r0 before writing it."""
    from emu.testing.strategies import _accepted

    assert not _accepted(VerifiedProgram("r0 += 1\nexit\n", ("m=hash:8:16:4",)))
    assert _accepted(VerifiedProgram("r0 = 1\nexit\n", ("m=hash:8:16:4",)))
