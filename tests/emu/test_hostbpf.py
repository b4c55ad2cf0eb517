"""The host bpf() driver against the real kernel (skipped where bpf() is not permitted)."""

from __future__ import annotations

import errno

import pytest

from emu.host import hostbpf
from kernel_model.asm import assemble
from kernel_model.insn import encode

pytestmark = pytest.mark.kernel


def test_load_accept_and_info() -> None:
    r = hostbpf.prog_load(1, encode(assemble("r0 = 42\nexit")), log_level=2)
    try:
        assert r.accepted, r.log
        assert "processed 2 insns" in r.log
        info = hostbpf.prog_info(r.fd)
        assert info.xlated == encode(assemble("r0 = 42\nexit"))
        assert info.jited_prog_len == len(info.jited) > 0
        assert hostbpf.test_run(r.fd, data_in=bytes(64)).retval == 42
    finally:
        r.close()


def test_load_reject_gives_errno_and_error_line() -> None:
    r = hostbpf.prog_load(1, encode(assemble("exit")))
    assert not r.accepted
    assert r.errno == errno.EACCES
    assert r.error_line() == "R0 !read_ok"


def test_host_btf_ids_are_looked_up() -> None:
    tid = hostbpf.host_btf_id("bpf_dummy_ops")
    assert tid is not None and tid > 0
    assert hostbpf.host_btf_id("no_such_struct_anywhere") is None
