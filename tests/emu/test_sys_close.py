"""``bpf_sys_close`` (kernel/bpf/syscall.c, Linux 6.12/6.18): a syscall program closes an fd of
the process running it (``close_fd``): ``gpl_only`` false, one ``ARG_ANYTHING``, an integer
result (0, or -EBADF). The verifier hands it to syscall programs only; the test run closes the
fd in the emulated loader's table."""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.prog import PROG_TYPE_SYSCALL
from verifier import VerifierEnv, verify

SLEEPABLE = 1 << 4
#: ctx = {u32 fd; u32 pad; s64 ret}: close ctx->fd, store the result in ctx->ret
CLOSE = "r6 = r1\nr1 = *(u32 *)(r6 +0)\ncall bpf_sys_close\n*(u64 *)(r6 +8) = r0\nr0 = 0\nexit\n"


def test_verifier_hands_it_to_syscall_programs_only() -> None:
    insns = assemble(CLOSE)
    ok = verify(insns, VerifierEnv(prog_type=PROG_TYPE_SYSCALL, prog_flags=SLEEPABLE, license="MIT"))
    assert ok.accepted, ok.log  # not gpl_only
    other = verify(assemble("r1 = 3\ncall bpf_sys_close\nr0 = 0\nexit\n"),
                   VerifierEnv(prog_type=5, license="GPL"))  # a tracepoint
    assert (other.errno, other.error_line) == (errno.EINVAL, "program of this type cannot use helper "
                                                             "bpf_sys_close#168")


@pytest.fixture
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _run(k: Kernel, fd: int) -> int:
    prog = k.prog_load(assemble(CLOSE), prog_type=PROG_TYPE_SYSCALL, prog_flags=SLEEPABLE)
    try:
        res = k.prog_test_run(prog, ctx_in=struct.pack("<IIq", fd, 0, 1))
        assert res.retval == 0
        return struct.unpack_from("<q", res.ctx_out, 8)[0]
    finally:
        k.close(prog)


def test_closes_an_fd_of_the_loader(kernel: Kernel) -> None:
    m = kernel.map_create(map_type=2, key_size=4, value_size=8, max_entries=1)  # an array map
    assert _run(kernel, m) == 0
    with pytest.raises(KernelError) as e:
        kernel.close(m)  # already closed by the program
    assert e.value.errno == errno.EBADF
    assert _run(kernel, 1000) == -errno.EBADF


@pytest.mark.kernel
def test_as_the_host() -> None:
    """The host's verdict for the load, and its answer for a map fd of this process and for an
    fd nobody holds (BPF_PROG_TEST_RUN closes only the test's own map fd)."""
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    code = encode(assemble(CLOSE))
    res = hostbpf.prog_load(PROG_TYPE_SYSCALL, code, prog_flags=SLEEPABLE)
    try:
        assert res.accepted, res.log
        mfd, _err = hostbpf.map_create(2, 4, 8, 1)
        assert mfd >= 0
        out = hostbpf.test_run(res.fd, ctx_in=struct.pack("<IIq", mfd, 0, 1))
        host_closed = struct.unpack_from("<q", out.ctx_in_after, 8)[0]
        out = hostbpf.test_run(res.fd, ctx_in=struct.pack("<IIq", 1 << 20, 0, 1))
        host_bad = struct.unpack_from("<q", out.ctx_in_after, 8)[0]
    finally:
        res.close()
    k = Kernel(modules=())
    try:
        assert (_run(k, k.map_create(map_type=2, key_size=4, value_size=8, max_entries=1)), _run(k, 1 << 20)) == (host_closed, host_bad)
    finally:
        k.shutdown()
