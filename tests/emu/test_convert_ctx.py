"""Every context access the verifier accepts runs: socket filters' ``__sk_buff``
fields converted as net/core/filter.c converts them, checked against the host's
BPF_PROG_TEST_RUN (oracle tests), plus struct_ops and syscall contexts, which
are read as they are."""

from __future__ import annotations

import struct

import pytest

from emu.host import hostbpf
from verifier.convert_ctx import convert_ctx_accesses, convert_skb_access, skb_field_name
from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.errors import NotModelled
from kernel_model.insn import Insn, encode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL
from verifier import VerifierEnv, verify
from verifier.ctx import SK_BUFF_FIELDS, SK_BUFF_SIZE, sk_filter_is_valid_access
from verifier.regs import PTR_TO_CTX

SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
SSIZES = {1: "s8", 2: "s16", 4: "s32"}


def _accepted_reads() -> list[tuple[int, int, bool]]:
    """Every (offset, size, sign-extending) load of __sk_buff the verifier model accepts."""
    out = []
    for off in range(SK_BUFF_SIZE):
        for size in (1, 2, 4, 8):
            for ldsx in (False, True):
                if ldsx and size == 8:
                    continue
                if sk_filter_is_valid_access(off, size, 1, ldsx)[0]:
                    out.append((off, size, ldsx))
    return out


READS = _accepted_reads()
#: reads whose value is an address (skb->sk): compared for NULL only
POINTERS = {168}


def _load_src(off: int, size: int, ldsx: bool) -> str:
    t = SSIZES[size] if ldsx else SIZES[size]
    if off in POINTERS:
        return f"r0 = *({t} *)(r1 +{off})\nif r0 == 0 goto z\nr0 = 1\nexit\nz:\nr0 = 0\nexit"
    return f"r0 = *({t} *)(r1 +{off})\nexit"


def test_every_accepted_field_has_a_conversion():
    """The issue's case: __sk_buff.hash (68) was re-resolved as helper 32992."""
    assert any(off == 68 for off, _, _ in READS)
    fields = {skb_field_name(off).split("[")[0] for off, _, _ in READS}
    assert {"len", "hash", "ifindex", "napi_id", "gso_segs", "gso_size", "sk", "cb", "vlan_present",
            "pkt_type", "tc_index", "ingress_ifindex"} <= fields
    for off, size, ldsx in READS:
        insns = assemble(_load_src(off, size, ldsx))
        res = verify(insns, VerifierEnv(prog_type=PROG_TYPE_SOCKET_FILTER))
        assert res.accepted, (off, size, res.log)
        out, _ = convert_ctx_accesses(insns, [a.ptr_type for a in res.insn_aux], PROG_TYPE_SOCKET_FILTER)
        assert not any(i.code == 0x85 for i in out), (off, size)  # no call stands in for a field
        if not (48 <= off < 68 and not ldsx):  # cb[] is at the same offset in both structs
            assert out != insns, (off, size)


def test_a_field_without_conversion_is_not_modelled_never_a_helper():
    with pytest.raises(NotModelled, match=r"context field __sk_buff\.flow_keys is not modelled"):
        convert_skb_access(1, Insn(0x79, 0, 1, 144, 0))
    with pytest.raises(NotModelled, match="len is not modelled for writes"):
        convert_skb_access(2, Insn(0x63, 1, 2, 0, 0))


def test_the_issue_program_runs_in_the_emulated_kernel():
    k = Kernel(modules=())
    fd = k.prog_load(assemble("r0 = *(u32 *)(r1 +68)\nexit"), prog_type=PROG_TYPE_SOCKET_FILTER)
    assert k.prog_test_run(fd, data_in=bytes(14)).retval == 0  # no hash computed for a test skb
    k.shutdown()


def test_narrow_loads_follow_the_kernels_rounding():
    """A load narrower than ctx_field_size reads the field at the rounded offset and
    shifts only when narrower than the field's real size: a 2-byte load of
    protocol+2 is the protocol again (u16 in sk_buff), a 1-byte load of byte 3 is 0."""
    k = Kernel(modules=())
    pkt = bytes(12) + b"\x86\xdd" + bytes(40)
    got = {}
    for off, size in ((16, 4), (16, 2), (18, 2), (16, 1), (17, 1), (19, 1)):
        fd = k.prog_load(assemble(_load_src(off, size, False)), prog_type=PROG_TYPE_SOCKET_FILTER)
        got[(off, size)] = k.prog_test_run(fd, data_in=pkt).retval
    k.shutdown()
    assert got == {(16, 4): 0xDD86, (16, 2): 0xDD86, (18, 2): 0xDD86, (16, 1): 0x86, (17, 1): 0xDD, (19, 1): 0}


def test_struct_ops_and_syscall_contexts_are_read_as_they_are():
    ins = assemble("r0 = *(s32 *)(r1 +4)\nexit")
    for ptype in (PROG_TYPE_SYSCALL, PROG_TYPE_STRUCT_OPS):
        out, idx = convert_ctx_accesses(ins, [PTR_TO_CTX, 0], ptype)
        assert out == ins and idx == [0, 1, 2]
    k = Kernel(modules=())
    fd = k.prog_load(ins, prog_type=PROG_TYPE_SYSCALL, prog_flags=hostbpf.BPF_F_SLEEPABLE)
    r = k.prog_test_run(fd, ctx_in=struct.pack("<ii", 5, -7))
    assert r.retval64 == (-7) & (2**64 - 1)
    k.shutdown()


# --- against the host ------------------------------------------------------------------

PACKETS = {
    "ipv4-host": bytes(6) + bytes(range(1, 7)) + b"\x08\x00" + bytes(range(20, 60)),
    "ipv6-otherhost": bytes([2, 0, 0, 0, 0, 1]) + bytes(6) + b"\x86\xdd" + bytes(range(40)) + b"xy",
    "arp-multicast": bytes([1, 0, 0x5E, 0, 0, 1]) + bytes(6) + b"\x08\x06" + bytes(28),
    "broadcast": b"\xff" * 6 + bytes(6) + b"\x88\xb5" + bytes(10),
    "802.3-ipx": bytes(12) + b"\x00\x20" + b"\xff\xff" + bytes(30),
    "802.2-llc": bytes(12) + b"\x00\x20" + b"\xaa\xaa" + bytes(30),
    "802.2-short": bytes(12) + b"\x00\x01",
}


def _ctx(**fields: int | bytes) -> bytes:
    c = bytearray(SK_BUFF_SIZE)
    for name, v in fields.items():
        off, size = SK_BUFF_FIELDS[name]
        c[off:off + size] = v if isinstance(v, bytes) else v.to_bytes(size, "little")
    return bytes(c)


CTXS = {
    "none": b"",
    "set": _ctx(mark=0xA1B2C3D4, priority=0x11223344, ingress_ifindex=7, cb=bytes(range(0x80, 0x94)),
                gso_segs=3, gso_size=1400),
}


@pytest.fixture(scope="module")
def emulated():
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _both(kernel: Kernel, insns: list[Insn], pkt: bytes, ctx: bytes) -> tuple[int, int]:
    enc = encode(insns)
    host = hostbpf.prog_load(PROG_TYPE_SOCKET_FILTER, enc, log_level=0)
    assert host.accepted, host.errno
    try:
        hr = hostbpf.test_run(host.fd, data_in=pkt, ctx_in=ctx, data_out_size=4096)
    finally:
        host.close()
    fd = kernel.prog_load(insns, prog_type=PROG_TYPE_SOCKET_FILTER)
    try:
        er = kernel.prog_test_run(fd, data_in=pkt, ctx_in=ctx)
    finally:
        kernel.close(fd)
    assert er.data_out == hr.data_out
    return er.retval, hr.retval


@pytest.mark.kernel
@pytest.mark.parametrize("ctx", sorted(CTXS))
@pytest.mark.parametrize("pkt", sorted(PACKETS))
def test_every_field_reads_as_on_the_host(emulated, pkt, ctx):
    diffs = []
    for off, size, ldsx in READS:
        ours, host = _both(emulated, assemble(_load_src(off, size, ldsx)), PACKETS[pkt], CTXS[ctx])
        if ours != host:
            diffs.append(f"{skb_field_name(off)} off={off} size={size}{' sx' if ldsx else ''}: "
                         f"ours {ours:#x} host {host:#x}")
    assert not diffs, "\n".join(diffs)


@pytest.mark.kernel
def test_cb_writes_read_back_as_on_the_host(emulated):
    src = """
    r2 = 0x11223344
    *(u32 *)(r1 +48) = r2
    *(u16 *)(r1 +54) = 0x5566
    *(u8 *)(r1 +66) = 0x77
    r0 = *(u32 *)(r1 +52)
    r3 = *(u32 *)(r1 +64)
    r0 ^= r3
    r3 = *(u32 *)(r1 +48)
    r0 += r3
    exit"""
    for ctx in CTXS.values():
        ours, host = _both(emulated, assemble(src), PACKETS["ipv4-host"], ctx)
        assert ours == host


@pytest.mark.kernel
def test_test_run_refusals_match_the_host(emulated):
    """bpf_prog_test_run_skb's own checks: a short IPv4/IPv6 packet, a ctx_in byte
    outside the fields it accepts, wire_len below the packet, gso_segs too big."""
    prog = assemble("r0 = 0\nexit")
    cases = [
        (bytes(12) + b"\x08\x00" + bytes(19), b""),
        (bytes(12) + b"\x86\xdd" + bytes(39), b""),
        (PACKETS["ipv4-host"], _ctx(len=5)),
        (PACKETS["ipv4-host"], _ctx(hash=1)),
        (PACKETS["ipv4-host"], _ctx(wire_len=3)),
        (PACKETS["ipv4-host"], _ctx(gso_segs=70000)),
        (bytes(13), b""),
    ]
    host = hostbpf.prog_load(PROG_TYPE_SOCKET_FILTER, encode(prog), log_level=0)
    fd = emulated.prog_load(prog, prog_type=PROG_TYPE_SOCKET_FILTER)
    try:
        for pkt, ctx in cases:
            with pytest.raises(OSError) as he:
                hostbpf.test_run(host.fd, data_in=pkt, ctx_in=ctx, data_out_size=4096)
            from kernel_model.errors import KernelError

            with pytest.raises(KernelError) as ee:
                emulated.prog_test_run(fd, data_in=pkt, ctx_in=ctx)
            assert ee.value.errno == he.value.errno, (pkt, ctx)
    finally:
        host.close()
        emulated.close(fd)
