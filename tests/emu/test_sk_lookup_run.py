"""BPF_PROG_TEST_RUN of sk_lookup programs (emu.kernel.test_run_sk_lookup): the context
conversion onto struct bpf_sk_lookup_kern, narrow reads, the argument checks -- against
answers read off the 6.18 host, and (marked ``kernel``) against the running host."""

from __future__ import annotations

import errno as E
import struct
from typing import Any, Iterator

import pytest

from kernel_model.asm import assemble
from kernel_model.errors import KernelError, NotModelled
from verifier.sock_ctx import PROG_TYPE_SK_LOOKUP

BPF_SK_LOOKUP = 36
AF_INET, AF_INET6 = 2, 10


def ctx4(remote_ip4: int = 0x0100007F, remote_port: int = 0x3412, local_ip4: int = 0x0200007F,
         local_port: int = 8080, protocol: int = 6, family: int = AF_INET) -> bytes:
    """A struct bpf_sk_lookup (72 bytes) for an IPv4 lookup."""
    b = bytearray(72)
    struct.pack_into("<III", b, 8, family, protocol, remote_ip4)
    struct.pack_into("<H", b, 36, remote_port)
    struct.pack_into("<I", b, 40, local_ip4)
    struct.pack_into("<I", b, 60, local_port)
    return bytes(b)


def ctx6() -> bytes:
    b = bytearray(ctx4(family=AF_INET6, remote_ip4=0, local_ip4=0))
    b[20:36] = bytes(range(1, 17))
    b[44:60] = bytes(range(101, 117))
    return bytes(b)


#: (program: r0 = the value read, returned), ctx_in, the host's retval. Reads are returned as
#: the program's R0: the verifier's return range [0, 1] is met by returning (value == want).
def _ret_eq(load: str, want: int) -> str:
    return f"{load}\nr2 = {want}\nr1 = 0\nif r0 != r2 goto +1\nr1 = 1\nr0 = r1\nexit"


CASES: list[tuple[str, bytes, int]] = [
    ("r0 = 1\nexit", ctx4(), 1),
    ("r0 = 0\nexit", ctx4(), 0),
    (_ret_eq("r0 = *(u32 *)(r1 +8)", AF_INET), ctx4(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +12)", 6), ctx4(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +16)", 0x0100007F), ctx4(), 1),
    (_ret_eq("r0 = *(u8 *)(r1 +16)", 0x7F), ctx4(), 1),
    (_ret_eq("r0 = *(u8 *)(r1 +19)", 0x01), ctx4(), 1),
    (_ret_eq("r0 = *(u16 *)(r1 +42)", 0x0200), ctx4(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +36)", 0x3412), ctx4(), 1),
    (_ret_eq("r0 = *(u16 *)(r1 +36)", 0x3412), ctx4(), 1),
    (_ret_eq("r0 = *(u8 *)(r1 +37)", 0x34), ctx4(), 1),
    (_ret_eq("r0 = *(u16 *)(r1 +38)", 0), ctx4(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +60)", 8080), ctx4(), 1),
    (_ret_eq("r0 = *(u8 *)(r1 +61)", 8080 >> 8), ctx4(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +64)", 0), ctx4(), 1),
    (_ret_eq("r0 = *(u64 *)(r1 +0)", 0), ctx4(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +20)", 0x04030201), ctx6(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +56)", 0x74737271), ctx6(), 1),
    (_ret_eq("r0 = *(u8 *)(r1 +45)", 102), ctx6(), 1),
    (_ret_eq("r0 = *(u32 *)(r1 +20)", 0), ctx4(), 1),   # AF_INET: no in6_addr, 0
    (_ret_eq("r0 = *(u16 *)(r1 +10)", AF_INET), ctx4(), 1),  # a u16 of a u16 kernel field: not masked
]


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from emu.kernel import Kernel

    k = Kernel(modules=())
    yield k
    k.shutdown()


def _emu_run(kernel: Any, asm: str, **kw: Any) -> Any:
    fd = kernel.prog_load(assemble(asm), prog_type=PROG_TYPE_SK_LOOKUP, expected_attach_type=BPF_SK_LOOKUP,
                          license="GPL")
    try:
        return kernel.prog_test_run(fd, **kw)
    finally:
        kernel.close(fd)


@pytest.mark.parametrize("asm,ctx,want", CASES, ids=[c[0].split("\n")[0] + f"-{i}" for i, c in enumerate(CASES)])
def test_sk_lookup_runs(kernel: Any, asm: str, ctx: bytes, want: int) -> None:
    r = _emu_run(kernel, asm, ctx_in=ctx, ctx_out_size=72)
    assert r.retval == want
    assert r.ctx_out == ctx  # cookie 0: no socket selected


@pytest.mark.parametrize("kw,err", [
    ({}, E.EINVAL),
    ({"ctx_in": ctx4(), "data_in": b"x" * 14}, E.EINVAL),
    ({"ctx_in": ctx4(), "flags": 1}, E.EINVAL),
    ({"ctx_in": b"\1" + ctx4()[1:]}, E.EINVAL),                    # a cookie
    ({"ctx_in": ctx4()[:64] + b"\0\0\0\1" + bytes(4)}, E.EINVAL),   # ingress_ifindex is not an input
    ({"ctx_in": ctx4(local_port=70000)}, E.ERANGE),
    ({"ctx_in": ctx4(family=1)}, E.EAFNOSUPPORT),
    ({"ctx_in": ctx4() + b"\1"}, E.E2BIG),
    ({"ctx_in": ctx4(), "ctx_out_size": 8}, E.ENOSPC),
    ({"ctx_out_size": 72}, E.EAFNOSUPPORT),
])
def test_sk_lookup_run_arguments(kernel: Any, kw: dict[str, Any], err: int) -> None:
    with pytest.raises(KernelError) as ei:
        _emu_run(kernel, "r0 = 1\nexit", **kw)
    assert ei.value.errno == err


def test_socket_field_reads_are_not_run_blind(kernel: Any) -> None:
    """A program reading the selected socket's fields loads, but is not test-run here."""
    asm = "r2 = *(u64 *)(r1 +0)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 +4)\nr0 = 1\nexit"
    with pytest.raises(NotModelled):
        _emu_run(kernel, asm, ctx_in=ctx4())


@pytest.mark.kernel
@pytest.mark.parametrize("asm,ctx,want", CASES, ids=[c[0].split("\n")[0] + f"-{i}" for i, c in enumerate(CASES)])
def test_sk_lookup_runs_on_the_host(asm: str, ctx: bytes, want: int) -> None:
    from emu.host import hostbpf as hb
    from kernel_model.insn import encode

    r = hb.prog_load(PROG_TYPE_SK_LOOKUP, encode(assemble(asm)), expected_attach_type=BPF_SK_LOOKUP, log_level=0)
    assert r.accepted, r.log
    try:
        h = hb.test_run(r.fd, ctx_in=ctx, ctx_out_size=72)
    finally:
        r.close()
    assert (h.retval, h.ctx_out) == (want, ctx)


@pytest.mark.kernel
@pytest.mark.parametrize("kw,err", [
    ({}, E.EINVAL), ({"ctx_in": b"\1" + ctx4()[1:]}, E.EINVAL), ({"ctx_in": ctx4(local_port=70000)}, E.ERANGE),
    ({"ctx_in": ctx4(family=1)}, E.EAFNOSUPPORT), ({"ctx_in": ctx4() + b"\1"}, E.E2BIG),
    ({"ctx_in": ctx4(), "ctx_out_size": 8}, E.ENOSPC), ({"ctx_out_size": 72}, E.EAFNOSUPPORT),
    ({"ctx_in": ctx4()[:64] + b"\0\0\0\1" + bytes(4)}, E.EINVAL),
])
def test_sk_lookup_run_arguments_on_the_host(kw: dict[str, Any], err: int) -> None:
    from emu.host import hostbpf as hb
    from kernel_model.insn import encode

    r = hb.prog_load(PROG_TYPE_SK_LOOKUP, encode(assemble("r0 = 1\nexit")), expected_attach_type=BPF_SK_LOOKUP,
                     log_level=0)
    assert r.accepted
    try:
        with pytest.raises(OSError) as ei:
            hb.test_run(r.fd, **kw)
        assert ei.value.errno == err
    finally:
        r.close()
