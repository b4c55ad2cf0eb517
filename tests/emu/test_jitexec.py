"""``structops exec``'s engines on calls the emulated kernel cannot serve: both stop with
an ExecFault naming the BPF instruction that made the call (the JIT path finds it from
the return address on the stack, :meth:`emu.machine.run.RunLoop.stop_at_bpf_caller`)."""

from __future__ import annotations

import pytest

from emu.kernel.runner import run_program
from kernel_model.asm import assemble
from kernel_model.errors import ExecFault


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_an_unknown_helper_faults_at_its_call(engine):
    insns = assemble("r0 = 1\nr1 = 2\ncall 12345\nexit")
    with pytest.raises(ExecFault) as ei:
        run_program(insns, engine=engine)
    assert ei.value.index == 2
    assert "12345" in str(ei.value)


def test_the_jit_engine_carries_on_after_such_a_fault():
    with pytest.raises(ExecFault):
        run_program(assemble("call 12345\nexit"), engine="jit")
    assert run_program(assemble("r0 = 42\nexit"), engine="jit") == 42
