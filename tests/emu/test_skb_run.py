"""BPF_PROG_TEST_RUN of tc (sched_cls, sched_act), cgroup_skb and lwt programs: their
``__sk_buff`` conversions (verifier.convert_ctx), bpf_prog_test_run_skb's per-type skb
(emu.kernel.test_run), the sk_buff helpers (emu.kernel.skb_helpers) and ``structops
test-run`` -- checked on their own, and (marked ``kernel``) against the host's xlated
instructions and test runs."""

from __future__ import annotations

import errno as E
import json
import random
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emu.kernel import Kernel
from emu.kernel.skb_helpers import csum_diff, csum_partial
from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.errors import ExecFault, KernelError, NotModelled
from kernel_model.insn import Insn, encode
from verifier import VerifierEnv, verify
from verifier.convert_ctx import SKB, convert_ctx_accesses, skb_field_name
from verifier.ctx import SK_BUFF_SIZE
from verifier.regs import PTR_TO_CTX as CTX

from ..conftest import ROOT

SCHED_CLS, SCHED_ACT, CGROUP_SKB, LWT_IN, LWT_OUT, LWT_XMIT, LWT_SEG6LOCAL = 3, 4, 8, 10, 11, 12, 19
TYPES = {"sched_cls": SCHED_CLS, "sched_act": SCHED_ACT, "cgroup_skb": CGROUP_SKB, "lwt_in": LWT_IN,
         "lwt_out": LWT_OUT, "lwt_xmit": LWT_XMIT}
SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
SSIZES = {1: "s8", 2: "s16", 4: "s32"}
OBJECTS = ROOT / "tests" / "data" / "selftests" / "objects"


@lru_cache(maxsize=None)
def _accesses(ptype: int) -> tuple[tuple[int, int, str], ...]:
    """Every (offset, size, kind) access of __sk_buff the verifier model accepts for the
    type; kind: ld, ldsx, st (imm), stx."""
    out = []
    for off in range(SK_BUFF_SIZE):
        for size in (1, 2, 4, 8):
            for kind in ("ld", "ldsx", "st", "stx"):
                if kind == "ldsx" and size == 8:
                    continue
                if verify(assemble(_src(off, size, kind)), VerifierEnv(prog_type=ptype)).accepted:
                    out.append((off, size, kind))
    return tuple(out)


def _src(off: int, size: int, kind: str) -> str:
    if kind == "ld":
        return f"r0 = *({SIZES[size]} *)(r1 +{off})\nr0 = 0\nexit"
    if kind == "ldsx":
        return f"r0 = *({SSIZES[size]} *)(r1 +{off})\nr0 = 0\nexit"
    if kind == "st":
        return f"*({SIZES[size]} *)(r1 +{off}) = 7\nr0 = 0\nexit"
    return f"r2 = 5\n*({SIZES[size]} *)(r1 +{off}) = r2\nr0 = 0\nexit"


def ipv4(payload: bytes = bytes(range(40)), proto: int = 6) -> bytes:
    ip = bytes([0x45, 0, 0, 20 + len(payload), 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    return bytes(6) + bytes(range(1, 7)) + b"\x08\x00" + ip + payload


def ipv6(payload: bytes = bytes(range(40)), nh: int = 17) -> bytes:
    ip = bytes([0x60, 0, 0, 0, 0, len(payload), nh, 64]) + bytes(range(16)) + bytes(range(16, 32))
    return bytes([2, 0, 0, 0, 0, 1]) + bytes(6) + b"\x86\xdd" + ip + payload


PACKETS = {"ipv4": ipv4(), "ipv6": ipv6(), "arp": b"\xff" * 6 + bytes(6) + b"\x08\x06" + bytes(28)}


def _ctx(**fields: int | bytes) -> bytes:
    from verifier.ctx import SK_BUFF_FIELDS

    c = bytearray(SK_BUFF_SIZE)
    for name, v in fields.items():
        off, size = SK_BUFF_FIELDS[name]
        c[off:off + size] = v if isinstance(v, bytes) else v.to_bytes(size, "little")
    return bytes(c)


CTXS = {"none": b"", "zero": bytes(SK_BUFF_SIZE),
        "set": _ctx(mark=0xA1B2C3D4, priority=0x11223344, ingress_ifindex=7, cb=bytes(range(0x80, 0x94)),
                    tstamp=0x1122334455667788, gso_segs=3, gso_size=1400, hwtstamp=99)}


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _run(k: Kernel, src: str | list[Insn], ptype: int, pkt: bytes, ctx: bytes = b"", **kw: Any) -> Any:
    fd = k.prog_load(assemble(src) if isinstance(src, str) else src, prog_type=ptype)
    try:
        return k.prog_test_run(fd, data_in=pkt, ctx_in=ctx, ctx_out_size=len(ctx), **kw)
    finally:
        k.close(fd)


# --- the conversions -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sched_cls", "cgroup_skb", "lwt_in", "lwt_xmit"])
def test_every_accepted_access_is_converted(name):
    ptype = TYPES[name]
    acc = _accesses(ptype)
    assert len(acc) > 100
    for off, size, kind in acc:
        insns = assemble(_src(off, size, kind))
        res = verify(insns, VerifierEnv(prog_type=ptype))
        assert res.accepted, (name, off, size, kind, res.log)
        out, _ = convert_ctx_accesses(insns, [a.ptr_type for a in res.insn_aux], ptype)
        if not (48 <= off < 68):  # cb[] keeps its offset in qdisc_skb_cb.data
            assert out != insns, (name, skb_field_name(off), size, kind)


def test_tc_reads_ifindex_without_the_device_test():
    ins = assemble("r0 = *(u32 *)(r1 +40)\nexit")
    for ptype, want in ((SCHED_CLS, 2), (CGROUP_SKB, 3)):
        out, _ = convert_ctx_accesses(ins, [CTX, 0], ptype)
        assert len(out) - 1 == want


def test_tstamp_reads_follow_tstamp_type_access():
    """bpf_convert_tstamp_read: a tc program that never reads tstamp_type gets the
    ingress/delivery-time test (7 more instructions) before the load."""
    plain = assemble("r0 = *(u64 *)(r1 +152)\nexit")
    aware = assemble("r2 = *(u8 *)(r1 +180)\nr0 = *(u64 *)(r1 +152)\nexit")
    a, _ = convert_ctx_accesses(plain, [CTX, 0], SCHED_CLS)
    b, _ = convert_ctx_accesses(aware, [CTX, CTX, 0], SCHED_CLS)
    assert len(a) == 9 and a[-2] == Insn(isa.LDX | isa.MEM | isa.DW, 0, 1, SKB.tstamp, 0)
    assert len(b) == 4 and b[2] == Insn(isa.LDX | isa.MEM | isa.DW, 0, 1, SKB.tstamp, 0)


def test_queue_mapping_store_of_no_queue_mapping_is_a_noop():
    st_big = assemble("*(u32 *)(r1 +12) = 65535\nr0 = 0\nexit")
    st_small = assemble("*(u32 *)(r1 +12) = 3\nr0 = 0\nexit")
    stx = assemble("r2 = 3\n*(u32 *)(r1 +12) = r2\nr0 = 0\nexit")
    assert convert_ctx_accesses(st_big, [CTX, 0, 0], SCHED_CLS)[0][0] == Insn(isa.JMP | isa.JA, 0, 0, 0, 0)
    assert convert_ctx_accesses(st_small, [CTX, 0, 0], SCHED_CLS)[0][0].code == isa.ST | isa.MEM | isa.H
    out = convert_ctx_accesses(stx, [0, CTX, 0, 0], SCHED_CLS)[0]
    assert out[1] == Insn(isa.JMP | isa.JGE | isa.K, 2, 0, 1, 0xFFFF) and out[2].code == isa.STX | isa.MEM | isa.H


def test_a_direct_packet_write_gets_the_unclone_prologue():
    """bpf_unclone_prologue for tc and lwt_xmit programs that write the packet; a jump
    back to the first instruction skips it (adjust_jmp_off)."""
    src = """
    r2 = *(u32 *)(r1 +76)
    r3 = *(u32 *)(r1 +80)
    r4 = r2
    r4 += 1
    if r4 > r3 goto +1
    *(u8 *)(r2 +0) = 1
    r0 = 0
    exit"""
    k = Kernel(modules=())
    try:
        for ptype, prologue in ((SCHED_CLS, True), (LWT_XMIT, True), (CGROUP_SKB, False)):
            if ptype == CGROUP_SKB:
                src_t = src.replace("*(u8 *)(r2 +0) = 1", "r5 = *(u8 *)(r2 +0)").replace("r0 = 0", "r0 = 1")
            else:
                src_t = src
            fd = k.prog_load(assemble(src_t), prog_type=ptype)
            xl = k.fds.objects[fd].xlated
            k.close(fd)
            assert (xl[0] == Insn(isa.LDX | isa.MEM | isa.B, 6, 1, SKB.cloned_offset, 0)) is prologue
            if prologue:
                assert xl[5].code == isa.CALL_INSN and xl[7] == Insn(isa.ALU | isa.MOV | isa.K, 0, 0, 0, 2)
        loop = assemble("r0 = 0\nr2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 1\n"
                        "if r4 > r3 goto +1\n*(u8 *)(r2 +0) = 1\nexit")
        out, idx = convert_ctx_accesses(loop, [0, CTX, CTX, 0, 0, 0, 0, 0], SCHED_CLS, seen_direct_write=True)
        assert idx[0] == 10 and out[10] == loop[0]
    finally:
        k.shutdown()


# --- the test runs ----------------------------------------------------------------------------

DLEN = "r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr0 = r3\nr0 -= r2\nexit"


def test_tc_sees_the_ethernet_header_the_others_do_not(kernel):
    pkt = ipv4()
    tc = _run(kernel, DLEN, SCHED_CLS, pkt)
    lwt = _run(kernel, DLEN, LWT_IN, pkt)
    assert tc.retval == len(pkt) and tc.data_out == pkt
    assert lwt.retval == len(pkt) - 14 and lwt.data_out == bytes(14) + pkt[14:]


def test_the_socket_carries_the_packets_addresses(kernel):
    """cgroup_skb reads the test run's socket: family, remote_ip4 (the destination),
    local_ip6[0] (the source), into cb[0..2] (ctx_out)."""
    src = ("r2 = *(u32 *)(r1 +88)\n*(u32 *)(r1 +48) = r2\nr2 = *(u32 *)(r1 +92)\n*(u32 *)(r1 +52) = r2\n"
           "r2 = *(u32 *)(r1 +116)\n*(u32 *)(r1 +56) = r2\nr0 = 1\nexit")
    ctx = bytes(SK_BUFF_SIZE)
    four = _run(kernel, src, CGROUP_SKB, ipv4(), ctx).ctx_out[48:60]
    assert struct.unpack("<III", four) == (2, 0x0200000A, 0)  # AF_INET, daddr 10.0.0.2
    six = _run(kernel, src, CGROUP_SKB, ipv6(), ctx).ctx_out[48:60]
    assert struct.unpack("<III", six) == (10, 0, 0x03020100)  # AF_INET6, local_ip6[0]: the source
    assert _run(kernel, src, CGROUP_SKB, PACKETS["arp"], ctx).ctx_out[48:60] == bytes(12)


def test_refusals(kernel):
    prog = "r0 = 0\nexit"
    with pytest.raises(KernelError) as e:
        _run(kernel, prog, SCHED_CLS, ipv4(), ctx=_ctx(wire_len=len(ipv4()) - 1))
    assert e.value.errno == E.EINVAL  # tc's skb->len is the whole frame
    assert _run(kernel, prog, SCHED_CLS, ipv4(), ctx=_ctx(wire_len=len(ipv4()))).ctx_out
    with pytest.raises(NotModelled, match="CHECKSUM_COMPLETE"):
        _run(kernel, prog, SCHED_CLS, ipv4(), flags=1 << 2)
    with pytest.raises(KernelError) as e:
        _run(kernel, prog, SCHED_CLS, ipv4(), flags=1)
    assert e.value.errno == E.EINVAL
    fd = kernel.prog_load(assemble(prog), prog_type=LWT_SEG6LOCAL)
    try:
        with pytest.raises(KernelError) as e:
            kernel.prog_test_run(fd, data_in=ipv4())
        assert e.value.errno == 524  # ENOTSUPP: lwt_seg6local_prog_ops has no test_run
    finally:
        kernel.close(fd)


def test_an_unmodelled_helper_stops_the_run_as_not_modelled(kernel):
    with pytest.raises(ExecFault) as e:
        _run(kernel, "r2 = 100\nr3 = 0\ncall 38\nr0 = 0\nexit", SCHED_CLS, ipv4())  # bpf_skb_change_tail
    assert e.value.kind == "not modelled"


def test_csum_partial_and_diff():
    """RFC 1071's example words 0001 f203 f4f5 f6f7: one's complement sum ddf2 (2 in the
    carry); bpf_csum_diff of nothing to them is that sum folded."""
    data = bytes.fromhex("0001f203f4f5f6f7")
    s = csum_partial(data, 0)
    folded = (s & 0xFFFF) + (s >> 16)
    folded = (folded & 0xFFFF) + (folded >> 16)
    assert folded == 0xF2DD  # little-endian view of 0xddf2
    assert csum_diff(b"", data, 0) == 0xF2DD
    assert csum_diff(data, data, 0) in (0, 0xFFFF)


# --- structops test-run ------------------------------------------------------------------------

def _cli(*argv: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "emu.cli", *argv], capture_output=True, text=True, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def test_cli_test_run(tmp_path: Path):
    prog = tmp_path / "dlen.s"
    prog.write_text(DLEN + "\n")
    pkt = ipv4().hex()
    rc, out, _ = _cli("-j", "test-run", str(prog), "--prog-type", "sched_cls", "--data-hex", pkt)
    assert rc == 0 and json.loads(out)["retval"] == len(ipv4()) and json.loads(out)["data_out"] == pkt
    rc, _, err = _cli("test-run", str(prog), "--prog-type", "sched_cls", "--data-hex", "00")
    assert rc == 1 and "EINVAL" in err
    helper = tmp_path / "tail.s"
    helper.write_text("r2 = 100\nr3 = 0\ncall 38\nr0 = 0\nexit\n")
    rc, _, err = _cli("test-run", str(helper), "--prog-type", "sched_cls", "--data-hex", pkt)
    assert rc == 3 and "helper 38 is not modelled" in err
    rc, _, err = _cli("test-run", str(prog), "--prog-type", "sched_cls", "--data-hex", "zz")
    assert rc == 2
    rc, out, _ = _cli("-j", "test-run", str(OBJECTS / "test_pkt_access.o"), "--data-hex", pkt)
    assert rc == 0 and json.loads(out)["prog_type"] == "sched_cls"


# --- against the host ----------------------------------------------------------------------------

def _host_layout_matches() -> str:
    """'' when the host's struct sk_buff, sock_common and skb_shared_info put the fields
    the conversions use where :data:`SKB` does; else what differs (the xlated
    comparison then says nothing about the model)."""
    from emu.host.hostbpf import _host_vmlinux
    from kernel_model.btf import structs as S

    b = _host_vmlinux()

    def offsets(name: str) -> dict[str, int]:
        out: dict[str, int] = {}

        def walk(tid: int, base: int) -> None:
            for m in getattr(b.resolve(tid), "members", None) or []:
                if m.name:
                    out.setdefault(m.name, base + m.bits_offset // 8)
                else:
                    walk(m.type_id, base + m.bits_offset // 8)
        walk(b.find(name, S.KIND_STRUCT), 0)
        return out
    skb, sk, sh = offsets("sk_buff"), offsets("sock_common"), offsets("skb_shared_info")
    want = {("sk_buff", "dev"): SKB.dev, ("sk_buff", "sk"): SKB.sk, ("sk_buff", "tstamp"): SKB.tstamp,
            ("sk_buff", "cb"): SKB.cb, ("sk_buff", "len"): SKB.len, ("sk_buff", "mark"): SKB.mark,
            ("sk_buff", "queue_mapping"): SKB.queue_mapping, ("sk_buff", "__cloned_offset"): SKB.cloned_offset,
            ("sk_buff", "__mono_tc_offset"): SKB.mono_tc_offset, ("sk_buff", "tc_index"): SKB.tc_index,
            ("sk_buff", "protocol"): SKB.protocol, ("sk_buff", "data"): SKB.data, ("sk_buff", "hash"): SKB.hash,
            ("sock_common", "skc_family"): SKB.skc_family, ("sock_common", "skc_dport"): SKB.skc_dport,
            ("sock_common", "skc_v6_daddr"): SKB.skc_v6_daddr, ("skb_shared_info", "hwtstamps"): SKB.shinfo_hwtstamps}
    tables = {"sk_buff": skb, "sock_common": sk, "skb_shared_info": sh}
    bad = [f"{s}.{f} at {tables[s].get(f)} (model {v})" for (s, f), v in want.items() if tables[s].get(f) != v]
    return ", ".join(bad)


def _words(raw: bytes) -> list[tuple[int, int, int, int, int]]:
    return [(raw[k], raw[k + 1] & 0xF, raw[k + 1] >> 4, *struct.unpack_from("<hi", raw, k + 2))
            for k in range(0, len(raw), 8)]


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["sched_cls", "cgroup_skb", "lwt_xmit"])
def test_xlated_equals_the_hosts(kernel, name):
    """Every access the host accepts is rewritten into the host's instructions. The one
    machine fact in them, MIN_NAPI_ID (CONFIG_NR_CPUS + 1), is read off the host's own
    napi_id conversion."""
    from emu.host import hostbpf
    from verifier.convert_ctx import MIN_NAPI_ID

    bad_layout = _host_layout_matches()
    if bad_layout:
        pytest.skip(f"the host's layout differs from the modelled kernel's: {bad_layout}")
    ptype = TYPES[name]
    diffs, n = [], 0
    for off, size, kind in _accesses(ptype):
        insns = assemble(_src(off, size, kind))
        h = hostbpf.prog_load(ptype, encode(insns), log_level=0)
        assert h.accepted, (name, off, size, kind)  # the model accepts exactly these (test_skb_ctx/net_ctx)
        try:
            host = _words(hostbpf.prog_info(h.fd).xlated)
        finally:
            h.close()
        fd = kernel.prog_load(insns, prog_type=ptype)
        ours = _words(encode(kernel.fds.objects[fd].xlated))
        kernel.close(fd)
        if 84 <= off < 88:  # napi_id: jge dst, MIN_NAPI_ID
            ours = [(c, d, s, o, i) if not (c == 0x35 and i == MIN_NAPI_ID) else (c, d, s, o, host[k][4])
                    for k, (c, d, s, o, i) in enumerate(ours)]
        n += 1
        if ours != host:
            diffs.append(f"{skb_field_name(off)} off={off} size={size} {kind}: host {host} ours {ours}")
    assert n > 100 and not diffs, "\n".join(diffs[:10])


PROLOGUE = """
r2 = *(u32 *)(r1 +76)
r3 = *(u32 *)(r1 +80)
r4 = r2
r4 += 4
if r4 > r3 goto +2
r5 = 0x41424344
*(u32 *)(r2 +0) = r5
r0 = 0
exit"""


@pytest.mark.kernel
@pytest.mark.parametrize("ptype", [SCHED_CLS, LWT_XMIT])
def test_the_unclone_prologue_is_the_hosts(kernel, ptype):
    from emu.host import hostbpf

    if _host_layout_matches():
        pytest.skip("the host's sk_buff layout differs from the modelled kernel's")
    insns = assemble(PROLOGUE)
    h = hostbpf.prog_load(ptype, encode(insns), log_level=0)
    assert h.accepted
    try:
        host = _words(hostbpf.prog_info(h.fd).xlated)
        hr = hostbpf.test_run(h.fd, data_in=ipv4(), data_out_size=4096)
    finally:
        h.close()
    fd = kernel.prog_load(insns, prog_type=ptype)
    ours = _words(encode(kernel.fds.objects[fd].xlated))
    er = kernel.prog_test_run(fd, data_in=ipv4())
    kernel.close(fd)
    call = [k for k, w in enumerate(host) if w[0] == isa.CALL_INSN]
    assert call == [k for k, w in enumerate(ours) if w[0] == isa.CALL_INSN] == [5]
    # the call's immediate is the helper's address in each kernel: compare the rest
    assert [w for k, w in enumerate(ours) if k != 5] == [w for k, w in enumerate(host) if k != 5]
    assert (er.retval, er.data_out) == (hr.retval, hr.data_out)


def _store_src(off: int, size: int, ldsx: bool, ptype: int) -> str | None:
    """A program reading one field into cb[0..1] (ctx_out shows it) and returning 1."""
    if off == 168:
        return None
    t = SSIZES[size] if ldsx else SIZES[size]
    if off in (76, 80, 140):  # packet pointers: their distance from data instead
        base = "r3 = *(u32 *)(r1 +76)\n"
        return f"{base}r2 = *(u32 *)(r1 +{off})\nr2 -= r3\n*(u64 *)(r1 +48) = r2\nr0 = 1\nexit"
    return f"r2 = *({t} *)(r1 +{off})\n*(u64 *)(r1 +48) = r2\nr0 = 1\nexit"


@pytest.mark.kernel
@pytest.mark.parametrize("ctx", sorted(CTXS))
@pytest.mark.parametrize("name", ["sched_cls", "cgroup_skb", "lwt_in"])
def test_every_field_reads_as_on_the_host(kernel, name, ctx):
    """Each field the type reads, read in a test run of every packet, lands in cb[0..1]
    and comes back in ctx_out (the packet pointers as distances from data)."""
    from emu.host import hostbpf

    ptype = TYPES[name]
    reads = sorted({(off, size, kind == "ldsx") for off, size, kind in _accesses(ptype) if kind in ("ld", "ldsx")})
    c = CTXS[ctx] or bytes(SK_BUFF_SIZE)
    diffs, compared = [], 0
    for off, size, ldsx in reads:
        src = _store_src(off, size, ldsx, ptype)
        if src is None:
            continue
        insns = assemble(src)
        h = hostbpf.prog_load(ptype, encode(insns), log_level=0)
        assert h.accepted, (name, off, size, ldsx)
        fd = kernel.prog_load(insns, prog_type=ptype)
        compared += 1
        try:
            for pname, pkt in PACKETS.items():
                hr = hostbpf.test_run(h.fd, data_in=pkt, ctx_in=c, data_out_size=4096, ctx_out_size=len(c))
                er = kernel.prog_test_run(fd, data_in=pkt, ctx_in=c, ctx_out_size=len(c))
                if (er.retval, er.data_out, er.ctx_out) != (hr.retval, hr.data_out, hr.ctx_out):
                    diffs.append(f"{pname} {skb_field_name(off)} off={off} size={size}{' sx' if ldsx else ''}: "
                                 f"host {hr.ctx_out[48:56].hex()} ours {er.ctx_out[48:56].hex()}")
        finally:
            h.close()
            kernel.close(fd)
    assert compared > 30 and not diffs, "\n".join(diffs[:20])


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(TYPES))
def test_test_run_refusals_match_the_host(kernel, name):
    from emu.host import hostbpf

    ptype = TYPES[name]
    prog = assemble("r0 = 1\nexit")
    cases = [(bytes(12) + b"\x08\x00" + bytes(19), b""), (bytes(12) + b"\x86\xdd" + bytes(39), b""),
             (ipv4(), _ctx(len=5)), (ipv4(), _ctx(hash=1)), (ipv4(), _ctx(wire_len=3)),
             (ipv4(), _ctx(wire_len=len(ipv4()) - 1)), (ipv4(), _ctx(gso_segs=70000)), (bytes(13), b""),
             (ipv4(), _ctx(ifindex=1)), (ipv4(), _ctx(wire_len=len(ipv4())))]
    host = hostbpf.prog_load(ptype, encode(prog), log_level=0)
    fd = kernel.prog_load(prog, prog_type=ptype)
    try:
        for pkt, ctx in cases:
            try:
                hr = hostbpf.test_run(host.fd, data_in=pkt, ctx_in=ctx, data_out_size=4096, ctx_out_size=len(ctx))
                want: Any = (hr.retval, hr.data_out, hr.ctx_out)
            except OSError as e:
                want = e.errno
            try:
                er = kernel.prog_test_run(fd, data_in=pkt, ctx_in=ctx, ctx_out_size=len(ctx))
                got: Any = (er.retval, er.data_out, er.ctx_out)
            except KernelError as e:
                got = e.errno
            assert got == want, (name, pkt.hex(), ctx.hex())
    finally:
        host.close()
        kernel.close(fd)


#: programs calling the helpers of emu.kernel.skb_helpers (tc; the returned value mixes
#: what they did, data_out shows the packet)
HELPER_PROGS = {
    "load_bytes": "r2 = 14\nr3 = r10\nr3 += -16\nr4 = 16\ncall 26\nr1 = *(u64 *)(r10 -16)\nr2 = *(u64 *)(r10 -8)\n"
                  "r1 ^= r2\nr0 ^= r1\nexit",
    "load_bytes_past_end": "r2 = 60\nr3 = r10\nr3 += -16\nr4 = 16\ncall 26\nr1 = *(u64 *)(r10 -16)\nr0 += r1\n"
                           "exit",
    "load_bytes_relative_net": "r2 = 2\nr3 = r10\nr3 += -16\nr4 = 8\nr5 = 1\ncall 68\nr1 = *(u64 *)(r10 -16)\n"
                               "r0 += r1\nexit",
    "load_bytes_relative_mac": "r2 = 6\nr3 = r10\nr3 += -16\nr4 = 8\nr5 = 0\ncall 68\nr1 = *(u64 *)(r10 -16)\n"
                               "r0 += r1\nexit",
    "store_bytes": "r2 = 0x11223344\n*(u32 *)(r10 -8) = r2\nr2 = 20\nr3 = r10\nr3 += -8\nr4 = 4\nr5 = 2\ncall 9\n"
                   "exit",
    "store_bytes_past_end": "r2 = 1\n*(u32 *)(r10 -8) = r2\nr2 = 2000\nr3 = r10\nr3 += -8\nr4 = 4\nr5 = 0\n"
                            "call 9\nexit",
    "store_bytes_bad_flags": "r2 = 1\n*(u32 *)(r10 -8) = r2\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\nr5 = 8\n"
                             "call 9\nexit",
    "l3_csum_2": "r2 = 24\nr3 = 0x1234\nr4 = 0x5678\nr5 = 2\ncall 10\nexit",
    "l3_csum_4": "r2 = 24\nr3 = 0x12345678\nr4 = 0x9abcdef0\nr5 = 4\ncall 10\nexit",
    "l3_csum_diff": "r2 = 24\nr3 = 0\nr4 = 0x9abcdef0\nr5 = 0\ncall 10\nexit",
    "l3_csum_odd": "r2 = 25\nr3 = 0\nr4 = 1\nr5 = 0\ncall 10\nexit",
    "l4_csum_2_mangled": "r2 = 30\nr3 = 0x1234\nr4 = 0xedcb\nr5 = 0x32\ncall 11\nexit",
    "l4_csum_4_pseudo": "r2 = 30\nr3 = 0x12345678\nr4 = 0x9abcdef0\nr5 = 0x14\ncall 11\nexit",
    "csum_diff": "r1 = 0x0102030405060708 ll\n*(u64 *)(r10 -16) = r1\nr1 = 0x1112131415161718 ll\n"
                 "*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -16\nr2 = 8\nr3 = r10\nr3 += -8\nr4 = 8\nr5 = 0x1234\n"
                 "call 28\nexit",
    "csum_diff_push": "r1 = -1\n*(u64 *)(r10 -16) = r1\n*(u64 *)(r10 -8) = r1\nr1 = 0\nr2 = 0\nr3 = r10\n"
                      "r3 += -16\nr4 = 16\nr5 = 0\ncall 28\nexit",
    "csum_diff_pull": "r1 = 0xfffffff0\n*(u64 *)(r10 -16) = r1\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -16\n"
                      "r2 = 16\nr3 = 0\nr4 = 0\nr5 = 77\ncall 28\nexit",
    "pull_data": "r6 = r1\nr2 = 0\ncall 39\nr0 <<= 32\nr2 = *(u32 *)(r6 +76)\nr3 = *(u32 *)(r6 +80)\nr3 -= r2\n"
                 "r0 |= r3\nexit",
    "pull_data_too_much": "r2 = 5000\ncall 39\nexit",
    "csum_update": "r2 = 5\ncall 40\nexit",
    "csum_level": "r6 = r1\nr2 = 1\ncall 135\nr1 = r6\nr2 = 1\ncall 135\nr1 = r6\nr2 = 0\ncall 135\nexit",
    "set_hash": "r6 = r1\nr2 = 0x777\ncall 48\nr0 = *(u32 *)(r6 +68)\nexit",
    "set_hash_invalid": "r6 = r1\nr2 = 0x777\ncall 48\nr1 = r6\ncall 41\nr0 = *(u32 *)(r6 +68)\nexit",
    "vlan_push": "r6 = r1\nr2 = 0xa888\nr3 = 0x1234\ncall 18\nr7 = r0\nr0 = *(u32 *)(r6 +24)\nr0 <<= 16\n"
                 "r1 = *(u32 *)(r6 +28)\nr0 |= r1\nr1 = *(u32 *)(r6 +20)\nr0 <<= 8\nr0 |= r1\nr0 += r7\nexit",
    "vlan_push_other_proto": "r6 = r1\nr2 = 0x800\nr3 = 7\ncall 18\nr0 = *(u32 *)(r6 +28)\nexit",
    "vlan_push_pop": "r6 = r1\nr2 = 0x81\nr3 = 0xfff\ncall 18\nr1 = r6\ncall 19\nr7 = r0\n"
                     "r0 = *(u32 *)(r6 +20)\nr0 += r7\nexit",
    "vlan_pop_none": "call 19\nexit",
}


@pytest.fixture(scope="module")
def helper_fds(kernel) -> Iterator[dict[str, tuple[int, int]]]:
    from emu.host import hostbpf

    out = {}
    for name, src in HELPER_PROGS.items():
        insns = assemble(src)
        h = hostbpf.prog_load(SCHED_CLS, encode(insns), log_level=0)
        assert h.accepted, name
        out[name] = (h.fd, kernel.prog_load(insns, prog_type=SCHED_CLS))
    yield out
    for hfd, efd in out.values():
        hostbpf.close(hfd)
        kernel.close(efd)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(HELPER_PROGS))
@settings(deadline=None, max_examples=6)
@given(payload=st.binary(min_size=0, max_size=80), six=st.booleans())
def test_helpers_run_as_on_the_host(kernel, helper_fds, name, payload, six):
    from emu.host import hostbpf

    pkt = ipv6(payload) if six else ipv4(payload)
    hfd, efd = helper_fds[name]
    hr = hostbpf.test_run(hfd, data_in=pkt, data_out_size=4096)
    er = kernel.prog_test_run(efd, data_in=pkt)
    assert (er.retval, er.data_out) == (hr.retval, hr.data_out)


@pytest.mark.kernel
@settings(deadline=None, max_examples=40)
@given(frm=st.binary(max_size=40).map(lambda b: b[:len(b) & ~3]), to=st.binary(max_size=40).map(lambda b: b[:len(b) & ~3]),
       seed=st.integers(0, 2**32 - 1))
def test_csum_diff_as_on_the_host(kernel, frm, to, seed):
    """bpf_csum_diff of random buffers (multiples of 4 bytes, as the helper wants) and seeds."""
    from emu.host import hostbpf

    buf = (frm + to).ljust(80, b"\0")
    lines = [f"r1 = {int.from_bytes(buf[k:k + 8], 'little') - (1 << 64) if buf[k + 7] & 0x80 else int.from_bytes(buf[k:k + 8], 'little')} ll\n"
             f"*(u64 *)(r10 -{80 - k}) = r1" for k in range(0, 80, 8)]
    src = "\n".join(lines) + (f"\nr1 = r10\nr1 += -80\nr2 = {len(frm)}\nr3 = r10\nr3 += {-80 + len(frm)}\n"
                              f"r4 = {len(to)}\nr5 = {seed} ll\ncall 28\nexit")
    if not frm:
        src = src.replace("r1 = r10\nr1 += -80\n", "r1 = 0\n")
    if not to:
        src = src.replace(f"r3 = r10\nr3 += {-80 + len(frm)}\n", "r3 = 0\n")
    insns = assemble(src)
    h = hostbpf.prog_load(SCHED_CLS, encode(insns), log_level=0)
    assert h.accepted, h.log
    try:
        want = hostbpf.test_run(h.fd, data_in=ipv4()).retval
    finally:
        h.close()
    assert _run(kernel, insns, SCHED_CLS, ipv4()).retval == want == csum_diff(frm, to, seed)


#: committed selftest objects (tests/data/selftests) whose tc / cgroup_skb programs run;
#: what the emulated kernel does not run stops as not modelled (the helper it names)
CORPUS = {
    ("test_pkt_access.o", "test_pkt_access"): None, ("test_skb_ctx.o", "process"): None,
    ("skb_load_bytes.o", "skb_process"): None, ("tc_dummy.o", "entry"): None, ("skb_pkt_end.o", "main_prog"): None,
    ("test_tc_bpf.o", "cls"): None, ("test_tc_bpf.o", "pkt_ptr"): None,
    ("cgroup_tcp_skb.o", "server_egress"): None, ("cgroup_tcp_skb.o", "client_ingress"): None,
    ("test_tc_dtime.o", "egress_host"): None, ("test_tc_dtime.o", "ingress_fwdns_prio100"): None,
    ("tc_bpf2bpf.o", "entry_tc"): "helper 31", ("empty_skb.o", "tc_redirect_ingress"): "helper 13",
}


def _load_obj(sysimpl: Any, obj_name: str, prog: str) -> int:
    from emu.libbpf import BpfObject
    from emu.libbpf.log import Log

    obj = BpfObject.open_file(str(OBJECTS / obj_name), log=Log(stream=None))
    for p in obj.programs:
        if not p.is_subprog:
            p.autoload = p.name == prog
    obj.load(sysimpl)
    return int(obj.progs[prog].fd)


@pytest.mark.kernel
@pytest.mark.parametrize("key", sorted(CORPUS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_corpus_programs_run_as_on_the_host(key):
    from emu.host import hostbpf
    from emu.host.hostsys import HostSys

    obj_name, prog = key
    gap = CORPUS[key]
    k = Kernel(modules=())
    h = HostSys()
    rnd = random.Random(7)
    pkts = [ipv4(bytes(rnd.randrange(256) for _ in range(40))), ipv4(bytes(40), proto=17),
            ipv6(bytes(rnd.randrange(256) for _ in range(40)), nh=6), PACKETS["arp"]]
    try:
        hfd = _load_obj(h, obj_name, prog)
        efd = _load_obj(k, obj_name, prog)
        for pkt in pkts:
            for ctx in (b"", CTXS["zero"]):
                try:
                    hr = hostbpf.test_run(hfd, data_in=pkt, ctx_in=ctx, data_out_size=4096, ctx_out_size=len(ctx))
                    want: Any = (hr.retval, hr.data_out, hr.ctx_out)
                except OSError as e:
                    want = e.errno
                if gap is not None:
                    with pytest.raises(ExecFault, match=f"{gap} is not modelled"):
                        k.prog_test_run(efd, data_in=pkt, ctx_in=ctx, ctx_out_size=len(ctx))
                    continue
                try:
                    er = k.prog_test_run(efd, data_in=pkt, ctx_in=ctx, ctx_out_size=len(ctx))
                    got: Any = (er.retval, er.data_out, er.ctx_out)
                except KernelError as e:
                    got = e.errno
                assert got == want, (pkt.hex(), ctx.hex())
    finally:
        k.shutdown()
        h.close_all()


# --- the selftests' raw tc / cgroup_skb programs (tests/data/selftests/raw_cases.jsonl) ------------

def _raw_skb_cases() -> list[Any]:
    from tests.corpus import raw_case_program, raw_cases

    out = []
    for c in raw_cases():
        k = c.get("kernel") or {}
        if k.get("verdict") != "accepted" or not k.get("retvals") or c["prog_type"] not in (3, 4, 8):
            continue
        if raw_case_program(c).not_modelled:
            continue
        out.append(pytest.param(c, id=c["id"]))
    return out


def test_the_raw_corpus_has_skb_runs() -> None:
    assert len(_raw_skb_cases()) >= 50


@pytest.mark.parametrize("case", _raw_skb_cases())
def test_raw_skb_case_returns_the_hosts_value(kernel: Kernel, case: dict[str, Any]) -> None:
    """As tests/emu/test_corpus_run.py for socket filters: the case's maps created and filled
    as test_verifier fills them, the program test-run on each of its inputs, every u32
    return value the host's (recorded with the case). A run reaching what the emulated
    kernel does not run is skipped with that reason."""
    from tests.corpus import map_init, raw_case_program

    prog = raw_case_program(case)
    fds: list[int] = []
    try:
        fd_of: dict[int, int] = {}
        for key, spec in prog.maps.items():
            t, ks, vs, n, fl = spec
            fd = kernel.map_create(map_type=t, key_size=ks, value_size=vs, max_entries=n, map_flags=fl)
            fds.append(fd)
            fd_of[key] = fd
            init = map_init(spec)
            if init is not None:
                kernel.map_update_elem(fd, struct.pack("<i", 0), init)
        at = prog.map_insns or {}
        insns = [Insn(x.code, x.dst, x.src, x.off, fd_of[at[i]]) if i in at else x for i, x in enumerate(prog.insns)]
        pfd = kernel.prog_load(insns, prog_type=prog.env.prog_type, prog_flags=prog.env.prog_flags)
        fds.append(pfd)
        for run, want in zip(case["runs"], case["kernel"]["retvals"]):
            try:
                got = kernel.prog_test_run(pfd, data_in=bytes.fromhex(run["data"])).retval
            except ExecFault as e:
                if "not modelled" not in str(e):
                    raise
                pytest.skip(f"not modelled at run time: {e}")
            if run["retval"] == 0xCAFE4A:  # test_verifier's POINTER_VALUE: any non-zero value
                assert got != 0
            else:
                assert got == want
    finally:
        for fd in reversed(fds):
            kernel.close(fd)


@pytest.mark.kernel
@pytest.mark.parametrize("map_type", [19, 21], ids=["cgroup_storage", "percpu_cgroup_storage"])
def test_cgroup_skb_storage_lives_for_one_test_run(kernel, map_type):
    """bpf_test_run allocates the program's cgroup storages zeroed for each test run and
    keeps them through its repeats: the counter the program adds 7 to reads 7 after one
    run, 21 after a run of three, as on the host."""
    from emu.host import hostbpf

    src = ("r6 = r1\nr1 = 0 ll\nr2 = 0\ncall 81\nr1 = *(u64 *)(r0 +0)\nr1 += 7\n*(u64 *)(r0 +0) = r1\n"
           "*(u32 *)(r6 +48) = r1\nr0 = 1\nexit")

    def with_map(fd: int) -> list[Insn]:
        return [Insn(i.code, i.dst, 1, i.off, fd) if k == 1 else i for k, i in enumerate(assemble(src))]
    hmap, herr = hostbpf.map_create(map_type, 16, 8, 0)
    assert hmap >= 0, herr
    emap = kernel.map_create(map_type=map_type, key_size=16, value_size=8, max_entries=0)
    h = hostbpf.prog_load(CGROUP_SKB, encode(with_map(hmap)), log_level=0)
    assert h.accepted
    fd = kernel.prog_load(with_map(emap), prog_type=CGROUP_SKB)
    try:
        for repeat in (1, 3, 1):
            hr = hostbpf.test_run(h.fd, data_in=ipv4(), ctx_in=bytes(SK_BUFF_SIZE), ctx_out_size=SK_BUFF_SIZE,
                                  repeat=repeat)
            er = kernel.prog_test_run(fd, data_in=ipv4(), ctx_in=bytes(SK_BUFF_SIZE), ctx_out_size=SK_BUFF_SIZE,
                                      repeat=repeat)
            assert er.ctx_out[48:52] == hr.ctx_out[48:52] == struct.pack("<I", 7 * repeat)
    finally:
        h.close()
        hostbpf.close(hmap)
        kernel.close(fd)
        kernel.close(emap)


LD_ABS_PROGS = {
    "abs_b": "r6 = r1\nr0 = *(u8 *)skb[14]\nexit",
    "abs_h": "r6 = r1\nr0 = *(u16 *)skb[12]\nexit",
    "abs_w": "r6 = r1\nr0 = *(u32 *)skb[26]\nexit",
    "abs_past_end": "r6 = r1\nr0 = *(u32 *)skb[200]\nr0 = 5\nexit",
    "net_off": "r6 = r1\nr0 = *(u32 *)skb[-1048564]\nexit",
    "ll_off": "r6 = r1\nr0 = *(u16 *)skb[-2097140]\nexit",
    "ind": "r6 = r1\nr7 = 2\nr0 = *(u16 *)skb[r7 + 10]\nexit",
}


@pytest.mark.kernel
@pytest.mark.parametrize("ptype", [1, SCHED_CLS], ids=["socket_filter", "sched_cls"])
def test_ld_abs_runs_as_on_the_host(kernel, ptype):
    """bpf_gen_ld_abs: the host's xlated sequence (but the call's immediate, the address
    of bpf_skb_load_helper_*_no_cache) and its values, network- and MAC-relative offsets
    included, for socket filters (the frame from the network header) and tc (from the
    Ethernet header)."""
    from emu.host import hostbpf

    for name, src in LD_ABS_PROGS.items():
        insns = assemble(src)
        h = hostbpf.prog_load(ptype, encode(insns), log_level=0)
        assert h.accepted, name
        fd = kernel.prog_load(insns, prog_type=ptype)
        try:
            host = _words(hostbpf.prog_info(h.fd).xlated)
            ours = _words(encode(kernel.fds.objects[fd].xlated))
            calls = [k for k, w in enumerate(host) if w[0] == isa.CALL_INSN]
            assert calls == [k for k, w in enumerate(ours) if w[0] == isa.CALL_INSN] and calls, name
            assert [w for k, w in enumerate(ours) if k not in calls] == [w for k, w in enumerate(host)
                                                                          if k not in calls], name
            for pkt in (ipv4(), ipv6(), ipv4(b"")):
                want = hostbpf.test_run(h.fd, data_in=pkt).retval
                assert kernel.prog_test_run(fd, data_in=pkt).retval == want, (name, pkt.hex())
        finally:
            h.close()
            kernel.close(fd)
