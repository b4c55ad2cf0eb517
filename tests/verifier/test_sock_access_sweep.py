"""check_sock_access (verifier.sock_ctx): every offset and size of a read through a socket
pointer -- struct bpf_sock (``ctx->sk`` of a cgroup_sock_addr program), sock_common (an
``skc_lookup``), tcp_sock (``bpf_tcp_sock``) -- and writes, against the running host."""

from __future__ import annotations

import pytest

from kernel_model import isa
from kernel_model.insn import Insn
from verifier import VerifierEnv, verify
from verifier import sock_ctx as S

SA_INET4_CONNECT = 10
GETSOCKOPT = 21
_SIZES = {1: isa.B, 2: isa.H, 4: isa.W, 8: isa.DW}


def _mov(dst: int, imm: int) -> Insn:
    return Insn(isa.ALU64 | isa.MOV | isa.K, dst, 0, 0, imm)


def _exit1() -> list[Insn]:
    return [_mov(0, 1), Insn(isa.JMP | isa.EXIT, 0, 0, 0, 0)]


def _through(prefix: list[Insn], reg: int, off: int, size: int, write: bool) -> list[Insn]:
    """``prefix`` leaves a socket pointer in ``reg``; then one access of it."""
    code = _SIZES[size]
    acc = [_mov(3, 0), Insn(isa.STX | isa.MEM | code, reg, 3, off, 0)] if write else \
        [Insn(isa.LDX | isa.MEM | code, 3, reg, off, 0)]
    return [*prefix, *acc, *_exit1()]


#: ctx->sk of cgroup_sock_addr: PTR_TO_SOCKET
SOCK = [Insn(isa.LDX | isa.MEM | isa.DW, 2, 1, 64, 0)]
#: bpf_tcp_sock(ctx->sk) of cgroup_sockopt, NULL-checked: PTR_TO_TCP_SOCK
TCP_SOCK = [Insn(isa.LDX | isa.MEM | isa.DW, 1, 1, 0, 0), Insn(isa.JMP | isa.CALL, 0, 0, 0, 96),
            Insn(isa.JMP | isa.JNE | isa.K, 0, 0, 2, 0), *_exit1(), _mov(2, 0), Insn(isa.ALU64 | isa.MOV | isa.X, 2, 0, 0, 0)]

SWEEPS = [
    ("sock", S.PROG_TYPE_CGROUP_SOCK_ADDR, SA_INET4_CONNECT, SOCK, 2, S.BPF_SOCK_SIZE),
    ("tcp_sock", S.PROG_TYPE_CGROUP_SOCKOPT, GETSOCKOPT, TCP_SOCK, 2, S.BPF_TCP_SOCK_SIZE),
]


@pytest.mark.kernel
@pytest.mark.parametrize("what,ptype,eat,prefix,reg,size", SWEEPS, ids=[s[0] for s in SWEEPS])
def test_socket_pointer_reads_are_the_hosts(what: str, ptype: int, eat: int, prefix: list[Insn], reg: int,
                                            size: int) -> None:
    from emu.host.verdict import host_load

    diffs = []
    for off in range(-4, size + 8):
        for sz in (1, 2, 4, 8):
            for write in (False, True):
                prog = _through(prefix, reg, off, sz, write)
                m = verify(prog, VerifierEnv(prog_type=ptype, expected_attach_type=eat))
                h = host_load(prog, VerifierEnv(prog_type=ptype, expected_attach_type=eat))
                got = (m.accepted, m.errno, m.error_line or "")
                want = (h.accepted, h.errno, h.error_line or "")
                if got != want:
                    diffs.append(f"off {off} size {sz} {'write' if write else 'read'}: model {got}, host {want}")
    assert not diffs, "\n".join(diffs[:40])


def test_sock_field_rules() -> None:
    """bpf_sock_is_valid_access's shapes, as the host answered them in the sweep: narrow reads
    of the u32 fields, dst_port as a u16 (or a u32 read), no access to its padding, u32 only
    for bound_dev_if .. priority; bpf_tcp_sock's u64 counters."""
    ok = lambda off, size: S.bpf_sock_is_valid_access(off, size, 1)[0]  # noqa: E731
    assert ok(4, 1) and ok(4, 2) and ok(4, 4) and not ok(4, 8)
    assert ok(48, 2) and ok(48, 4) and ok(49, 1) and not ok(50, 2) and not ok(50, 1)
    assert ok(0, 4) and not ok(0, 2) and ok(16, 4) and not ok(16, 1)
    assert not ok(80, 4) and not ok(-4, 4)
    assert S._tcp_sock_is_valid_access(80, 8) and not S._tcp_sock_is_valid_access(80, 4)
    assert S._tcp_sock_is_valid_access(108, 4) and not S._tcp_sock_is_valid_access(112, 4)
