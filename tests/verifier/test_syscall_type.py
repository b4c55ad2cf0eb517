"""BPF_PROG_TYPE_SYSCALL in the verifier model: the rules of check_attach_btf_id,
syscall_prog_is_valid_access and syscall_prog_func_proto (Linux 6.18). Expected lines
and errnos were read off the 6.18 host (tests/emu/test_syscall_oracle.py compares
with it live)."""

from __future__ import annotations

import errno

import pytest

from kernel_model.asm import assemble
from kernel_model.prog import PROG_TYPE_SYSCALL
from verifier import VerifierEnv, verify

SLEEPABLE = 1 << 4


@pytest.mark.parametrize("src,flags,err,line", [
    ("r0 = 0\nexit", 0, errno.EINVAL, "Syscall programs can only be sleepable"),
    ("r0 = *(u32 *)(r1 +2)\nexit", SLEEPABLE, errno.EACCES, "invalid bpf_context access off=2 size=4"),
    ("r0 = *(u64 *)(r1 -8)\nexit", SLEEPABLE, errno.EACCES, "invalid bpf_context access off=-8 size=8"),
    ("r1 += 8\nr0 = *(u64 *)(r1 +0)\nexit", SLEEPABLE, errno.EACCES,
     "dereference of modified ctx ptr R1 off=8 disallowed"),
    ("call 160\nr0 = 0\nexit", SLEEPABLE, errno.EINVAL,
     "program of this type cannot use helper bpf_ktime_get_coarse_ns#160"),
])
def test_rejections(src, flags, err, line):
    res = verify(assemble(src), VerifierEnv(prog_type=PROG_TYPE_SYSCALL, prog_flags=flags))
    assert not res.accepted
    assert (res.errno, res.error_line) == (err, line)


def test_the_context_is_any_aligned_scalar_memory():
    src = ("r2 = *(u64 *)(r1 +0)\nr3 = *(u8 *)(r1 +32767)\n*(u64 *)(r1 +8) = r2\n*(u32 *)(r1 +16) = 7\n"
           "call 5\nexit")
    res = verify(assemble(src), VerifierEnv(prog_type=PROG_TYPE_SYSCALL, prog_flags=SLEEPABLE), log_level=2)
    assert res.accepted, res.log
    assert "R2=scalar()" in res.log
