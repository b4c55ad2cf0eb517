"""Tagged arguments of global functions (verifier.btf_info: ``btf_prepare_func_args``'s
``arg:trusted`` / ``arg:nullable`` / ``arg:nonnull`` / ``arg:untrusted`` / ``arg:arena``, the
call site's ``btf_check_func_arg_match``, the function's registers on entry).

examples/global_arg_tags.bpf.o: each program loaded alone as libbpf would. ``EXPECTED`` is what
the Linux 6.18 host answered (verdict, errno, the line that says why -- the last one, or the one
before ``Caller passes invalid args``); the ``kernel``-marked test asks the host again (verify
only, nothing attached).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from emu.kernel import Kernel

ROOT = Path(__file__).resolve().parents[2]
OBJ = str(ROOT / "examples" / "global_arg_tags.bpf.o")
CALLER = "Caller passes invalid args into func#"
TRUSTED = "R1 must be referenced or trusted"

#: program -> (verdict, errno, why)
EXPECTED = {
    "pass_trusted": ("accepted", 0, None),
    "pass_acquired": ("accepted", 0, None),
    "sys_trusted": ("accepted", 0, None),
    "sys_cur": ("accepted", 0, None),
    "pass_null_to_nullable": ("accepted", 0, None),
    "tc_pass_null": ("accepted", 0, None),
    "pass_maybe_null_nullable": ("accepted", 0, None),
    # a nullable trusted argument forwarded: PTR_MAYBE_NULL is set aside for a nullable callee only
    "nullable_forwarded": ("accepted", 0, None),
    "nullable_to_nonnull": ("rejected", errno.EINVAL, TRUSTED),
    "untrusted_any": ("accepted", 0, None),
    "untrusted_void": ("accepted", 0, None),
    "pass_null_to_nonnull": ("rejected", errno.EINVAL, TRUSTED),
    "pass_scalar": ("rejected", errno.EINVAL, TRUSTED),
    "pass_ctx": ("rejected", errno.EINVAL, TRUSTED),
    "tc_pass_ctx": ("rejected", errno.EINVAL, TRUSTED),
    "pass_walked": ("rejected", errno.EINVAL, TRUSTED),
    "pass_maybe_null": ("rejected", errno.EACCES, "R1 type=ptr_or_null_ expected=ptr_, trusted_ptr_, rcu_ptr_"),
    "pass_wrong_type": ("rejected", errno.EACCES, "R1 is of type task_struct but cgroup is expected"),
    "nullable_deref": ("rejected", errno.EACCES, "R1 invalid mem access 'trusted_ptr_or_null_'"),
    "untrusted_to_kfunc": ("rejected", errno.EINVAL, "R1 must be a rcu pointer"),
    "bad_combo": ("rejected", errno.EINVAL, "arg#0 has invalid combination of tags"),
    "bad_combo2": ("rejected", errno.EINVAL, "arg#0 untrusted cannot be combined with any other tags"),
}


def _why(out) -> str | None:  # type: ignore[no-untyped-def]
    if out.verdict == "accepted":
        return None
    lines = [ln for ln in out.log.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith(CALLER):
            return lines[i - 1]
    return out.error_line


def _load(name: str, kernel, level: int = 1):  # type: ignore[no-untyped-def]
    from emu.libbpf.per_prog import verify_program

    return verify_program(OBJ, name, kernel=kernel, log_level=level)


def test_every_program_has_an_expectation() -> None:
    from emu.libbpf.per_prog import list_programs

    assert sorted(n for n, _s in list_programs(OBJ)) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model(name: str) -> None:
    out = _load(name, Kernel(modules=()))
    assert (out.verdict, out.errno, _why(out)) == EXPECTED[name], out.log


def test_trusted_argument_on_entry() -> None:
    """The function sees a trusted task (``trusted_ptr_or_null_`` when nullable), with an id."""
    out = _load("pass_null_to_nullable", Kernel(modules=()), 2)
    assert "Validating sub_nullable() func#1..." in out.log
    assert "R1=trusted_ptr_or_null_task_struct(id=1)" in out.log, out.log


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_against_host(name: str) -> None:
    from emu.host import hostbpf
    from emu.host.hostsys import HostSys

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    h = HostSys()
    try:
        host = _load(name, h, 2)
    finally:
        h.close_all()
    assert host.modelled, (host.verdict, host.libbpf, host.detail)
    ours = _load(name, Kernel(modules=()), 2)
    # the whole logs differ where a program reads a task field: the emulated task_struct is
    # reduced (kernel_model.vmlinux), so CO-RE gives other offsets
    assert (ours.verdict, ours.errno, _why(ours)) == (host.verdict, host.errno, _why(host)), host.log
