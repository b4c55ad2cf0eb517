"""BPF_PROG_TEST_RUN of flow dissectors (emu.kernel.test_run_flow_dissector): the
``struct __sk_buff`` reads converted onto ``struct bpf_flow_dissector``, ``bpf_flow_dissect``'s
keys and clamps, the argument checks, and the kernel's own flow dissector selftest program
(bpf_flow.o, with its prog-array tail calls) on the selftest's packets -- and, marked
``kernel``, all of it against the running host (test runs only: nothing is attached)."""

from __future__ import annotations

import errno as E
import struct
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.errors import KernelError, NotModelled
from kernel_model.insn import Insn, encode
from kernel_model.uapi import PROG_TYPE_FLOW_DISSECTOR
from verifier.flow_dissector_ctx import convert_flow_dissector_access

from tests.conftest import ROOT

BPF_FLOW_DISSECTOR = 17  # enum bpf_attach_type
OBJ = ROOT / "tests/data/selftests/objects/bpf_flow.o"
BPF_OK, BPF_DROP, BPF_FLOW_DISSECTOR_CONTINUE = 0, 2, 129
F_PARSE_1ST_FRAG, F_STOP_AT_FLOW_LABEL, F_STOP_AT_ENCAP = 1, 2, 4
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x86DD, 0x8100, 0x88A8
#: the selftest's packets are members of one union: every one is sent at its size
SELFTEST_PKT_SIZE = 14 + 4 * 2 + 40 + 20


# --- packets as prog_tests/flow_dissector.c builds them ------------------------------------------
def _eth(proto: int) -> bytes:
    return bytes(12) + proto.to_bytes(2, "big")


def _ip4(proto: int, tot_len: int = 0x3412, frag_off: int = 0, saddr: bytes = bytes(4)) -> bytes:
    h = bytearray(20)
    h[0] = 0x45
    struct.pack_into(">HHH", h, 2, tot_len, 0, frag_off)
    h[9] = proto
    h[12:16] = saddr
    return bytes(h)


def _ip6(nexthdr: int, flow_lbl: bytes = bytes(3)) -> bytes:
    h = bytearray(40)
    h[1:4] = flow_lbl  # the low nibble of the first byte is the traffic class's: 0 here
    struct.pack_into(">H", h, 4, 0x3412)
    h[6] = nexthdr
    return bytes(h)


def _tcp(sport: int = 80, dport: int = 8080) -> bytes:
    h = bytearray(20)
    struct.pack_into("<HH", h, 0, sport, dport)  # the selftest sets them without htons
    h[12] = 5 << 4
    return bytes(h)


def _pad(p: bytes) -> bytes:
    return p.ljust(SELFTEST_PKT_SIZE, b"\0")


#: name -> (packet, ctx flags); the selftest's table (its expected keys: EXPECTED)
SELFTEST: dict[str, tuple[bytes, int]] = {
    "ipv4": (_pad(_eth(ETH_P_IP) + _ip4(6) + _tcp()), 0),
    "ipv6": (_pad(_eth(ETH_P_IPV6) + _ip6(6) + _tcp()), 0),
    "802.1q-ipv4": (_pad(_eth(ETH_P_8021Q) + b"\0\0\x08\x00" + _ip4(6) + _tcp()), 0),
    "802.1ad-ipv6": (_pad(_eth(ETH_P_8021AD) + b"\0\0\x81\x00" + b"\0\0\x86\xdd" + _ip6(6) + _tcp()), 0),
    "ipv4-frag": (_pad(_eth(ETH_P_IP) + _ip4(6, frag_off=0x2000) + _tcp()), F_PARSE_1ST_FRAG),
    "ipv4-no-frag": (_pad(_eth(ETH_P_IP) + _ip4(6, frag_off=0x2000) + _tcp()), 0),
    "ipv6-frag": (_pad(_eth(ETH_P_IPV6) + _ip6(44) + bytes([6, 0, 0, 0, 0, 0, 0, 0]) + _tcp()), F_PARSE_1ST_FRAG),
    "ipv6-no-frag": (_pad(_eth(ETH_P_IPV6) + _ip6(44) + bytes([6, 0, 0, 0, 0, 0, 0, 0]) + _tcp()), 0),
    "ipv6-flow-label": (_pad(_eth(ETH_P_IPV6) + _ip6(6, b"\x0b\xee\xef") + _tcp()), 0),
    "ipv6-no-flow-label": (_pad(_eth(ETH_P_IPV6) + _ip6(6, b"\x0b\xee\xef") + _tcp()), F_STOP_AT_FLOW_LABEL),
    "ipip-encap": (_pad(_eth(ETH_P_IP) + _ip4(4) + _ip4(6, 0x3412 - 20) + _tcp()), 0),
    "ipip-no-encap": (_pad(_eth(ETH_P_IP) + _ip4(4) + _ip4(6, 0x3412 - 20) + _tcp()), F_STOP_AT_ENCAP),
    "ipip-encap-dissector-continue": (_pad(_eth(ETH_P_IP) + _ip4(4, saddr=b"\x7f\0\0\x7f")
                                           + _ip4(6, 0x3412 - 20) + _tcp(99, 9090)), 0),
}


def _keys(nhoff: int, thoff: int, addr_proto: int, n_proto: int, *, ip_proto: int = 6, sport: int = 80,
          dport: int = 8080, is_frag: int = 0, first: int = 0, encap: int = 0, flags: int = 0,
          flow_label: int = 0) -> bytes:
    """A struct bpf_flow_keys as the selftest writes its expectations."""
    k = bytearray(56)
    struct.pack_into("<HHHBBBB", k, 0, nhoff, thoff, addr_proto, is_frag, first, encap, ip_proto)
    struct.pack_into(">H", k, 10, n_proto)
    struct.pack_into("<HH", k, 12, sport, dport)
    struct.pack_into("<I", k, 48, flags)
    struct.pack_into(">I", k, 52, flow_label)
    return bytes(k)


#: the selftest's expected retval and keys (prog_tests/flow_dissector.c, tests[])
EXPECTED: dict[str, tuple[int, bytes]] = {
    "ipv4": (BPF_OK, _keys(14, 34, ETH_P_IP, ETH_P_IP)),
    "ipv6": (BPF_OK, _keys(14, 54, ETH_P_IPV6, ETH_P_IPV6)),
    "802.1q-ipv4": (BPF_OK, _keys(18, 38, ETH_P_IP, ETH_P_IP)),
    "802.1ad-ipv6": (BPF_OK, _keys(22, 62, ETH_P_IPV6, ETH_P_IPV6)),
    "ipv4-frag": (BPF_OK, _keys(14, 34, ETH_P_IP, ETH_P_IP, is_frag=1, first=1, flags=F_PARSE_1ST_FRAG)),
    "ipv4-no-frag": (BPF_OK, _keys(14, 34, ETH_P_IP, ETH_P_IP, is_frag=1, first=1, sport=0, dport=0)),
    "ipv6-frag": (BPF_OK, _keys(14, 62, ETH_P_IPV6, ETH_P_IPV6, is_frag=1, first=1, flags=F_PARSE_1ST_FRAG)),
    "ipv6-no-frag": (BPF_OK, _keys(14, 62, ETH_P_IPV6, ETH_P_IPV6, is_frag=1, first=1, sport=0, dport=0)),
    "ipv6-flow-label": (BPF_OK, _keys(14, 54, ETH_P_IPV6, ETH_P_IPV6, flow_label=0xBEEEF)),
    "ipv6-no-flow-label": (BPF_OK, _keys(14, 54, ETH_P_IPV6, ETH_P_IPV6, sport=0, dport=0,
                                         flags=F_STOP_AT_FLOW_LABEL, flow_label=0xBEEEF)),
    "ipip-encap": (BPF_OK, _keys(14, 54, ETH_P_IP, ETH_P_IP, encap=1)),
    "ipip-no-encap": (BPF_OK, _keys(14, 34, ETH_P_IP, ETH_P_IP, ip_proto=4, sport=0, dport=0, encap=1,
                                    flags=F_STOP_AT_ENCAP)),
}


# --- the object in a kernel ------------------------------------------------------------------------
class Loaded:
    """bpf_flow.o loaded into ``sys_`` (the emulated kernel or the host through HostSys),
    its jmp_table filled as the selftest's init_prog_array does."""

    def __init__(self, sys_: Any, kernel: bool) -> None:
        from emu.libbpf import BpfObject, KernelBtf

        self.sys = sys_
        self.obj = BpfObject.open_file(str(OBJ))
        if kernel:
            self.obj.prepare(kernel_btf=KernelBtf.from_kernel(sys_))
        else:
            self.obj.prepare(sys_)
        self.obj.load(sys_)
        jt = self.obj.map_by_name["jmp_table"].fd
        for i in range(6):
            sys_.map_update_elem(jt, struct.pack("<I", i), struct.pack("<I", self.obj.progs[f"flow_dissector_{i}"].fd))
        self.fd = self.obj.progs["_dissect"].fd
        self.keys_fd = self.obj.map_by_name["last_dissection"].fd


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from emu.kernel import Kernel

    k = Kernel(modules=())
    yield k
    k.shutdown()


@pytest.fixture(scope="module")
def emu_flow(kernel: Any) -> Loaded:
    return Loaded(kernel, True)


@pytest.fixture(scope="module")
def host_flow() -> Iterator[Loaded]:
    from emu.host.hostsys import HostSys

    hs = HostSys()
    yield Loaded(hs, False)
    hs.close_all()


def _ctx(flags: int) -> bytes:
    return b"" if not flags else bytes(48) + struct.pack("<I", flags) + bytes(4)


def _emu_run(kernel: Any, asm: str, **kw: Any) -> Any:
    fd = kernel.prog_load(assemble(asm), prog_type=PROG_TYPE_FLOW_DISSECTOR, expected_attach_type=BPF_FLOW_DISSECTOR)
    try:
        return kernel.prog_test_run(fd, **kw)
    finally:
        kernel.close(fd)


def _host_run(asm: str, **kw: Any) -> Any:
    from emu.host import hostbpf as hb

    r = hb.prog_load(PROG_TYPE_FLOW_DISSECTOR, encode(assemble(asm)), expected_attach_type=BPF_FLOW_DISSECTOR,
                     log_level=1)
    assert r.accepted, r.log
    try:
        return hb.test_run(r.fd, **kw)
    finally:
        r.close()


# --- the context conversion ------------------------------------------------------------------------
def test_the_three_readable_fields_become_bpf_flow_dissector_loads() -> None:
    """flow_dissector_convert_ctx_access: data (76), data_end (80), flow_keys (144) are
    8-byte loads of bpf_flow_dissector.data (16), .data_end (24), .flow_keys (0)."""
    for off, size, target in ((76, isa.W, 16), (80, isa.W, 24), (144, isa.DW, 0)):
        out = convert_flow_dissector_access(Insn(isa.LDX | isa.MEM | size, 3, 1, off, 0))
        assert out == [Insn(isa.LDX | isa.MEM | isa.DW, 3, 1, target, 0)]
    with pytest.raises(NotModelled):
        convert_flow_dissector_access(Insn(isa.LDX | isa.MEM | isa.W, 0, 1, 0, 0))  # __sk_buff.len


CTX_PROG = """
r2 = *(u32 *)(r1 +76)
r3 = *(u32 *)(r1 +80)
r4 = *(u64 *)(r1 +144)
r0 = r3
r0 -= r2
r5 = *(u16 *)(r4 +0)
r0 <<= 16
r0 |= r5
exit"""


def test_context_reads_see_the_packet_and_the_keys(kernel: Any) -> None:
    """data_end - data is the whole frame (the Ethernet header included); keys.nhoff is
    ETH_HLEN; the keys (data_out) are bpf_flow_dissect's: n_proto, nhoff = thoff = 14."""
    pkt = _eth(ETH_P_IPV6) + bytes(60)
    r = _emu_run(kernel, CTX_PROG, data_in=pkt)
    assert r.retval == (len(pkt) << 16) | 14
    assert r.data_out == _keys(14, 14, 0, ETH_P_IPV6, ip_proto=0, sport=0, dport=0)


CLAMP_PROG = """
r2 = *(u64 *)(r1 +144)
r3 = {nhoff}
*(u16 *)(r2 +0) = r3
r3 = {thoff}
*(u16 *)(r2 +2) = r3
r0 = {ret}
exit"""
CLAMPS = [(0, 0, (14, 14)), (20, 10, (20, 20)), (0xFFFF, 0xFFFF, (60, 60)), (30, 0xFFFF, (30, 60)),
          (16, 40, (16, 40))]


@pytest.mark.parametrize("nhoff,thoff,want", CLAMPS)
def test_offsets_are_clamped_after_the_program(kernel: Any, nhoff: int, thoff: int, want: tuple[int, int]) -> None:
    r = _emu_run(kernel, CLAMP_PROG.format(nhoff=nhoff, thoff=thoff, ret=7), data_in=_eth(ETH_P_IP) + bytes(46))
    assert r.retval == 7
    assert struct.unpack_from("<HH", r.data_out, 0) == want


LOAD_BYTES_PROG = """
r2 = 4
r3 = r10
r3 += -8
r4 = -1
*(u64 *)(r10 -8) = r4
r4 = 8
call bpf_skb_load_bytes
r1 = *(u64 *)(r10 -8)
if r1 != 0 goto +1
r0 += 1000
exit"""


def test_bpf_skb_load_bytes_is_the_flow_dissectors_own(kernel: Any) -> None:
    """bpf_flow_dissector_load_bytes with no skb (every test run): -EFAULT, the buffer
    cleared; the stub carries the kernel function's name."""
    r = _emu_run(kernel, LOAD_BYTES_PROG, data_in=_eth(ETH_P_IP) + bytes(40))
    assert r.retval == (-E.EFAULT + 1000) & 0xFFFFFFFF
    assert "bpf_flow_dissector_load_bytes" in kernel.machine.calls.by_name


ARG_CASES: list[tuple[dict[str, Any], int]] = [
    ({"data_in": bytes(13)}, E.EINVAL),
    ({"data_in": bytes(4097)}, E.EINVAL),
    ({"data_in": bytes(14), "flags": 1}, E.EINVAL),
    ({"data_in": bytes(14), "ctx_in": b"\1" + bytes(55)}, E.EINVAL),        # nhoff is not an input
    ({"data_in": bytes(14), "ctx_in": bytes(52) + b"\1\0\0\0"}, E.EINVAL),  # nor flow_label
    ({"data_in": bytes(14), "ctx_in": bytes(56) + b"\1"}, E.E2BIG),
    ({"data_in": bytes(14), "ctx_in": _ctx(1), "ctx_out_size": 8}, E.ENOSPC),
    ({"data_in": bytes(14), "data_out_size": 8}, E.ENOSPC),
]


@pytest.mark.parametrize("kw,err", ARG_CASES, ids=[str(i) for i in range(len(ARG_CASES))])
def test_argument_checks(kernel: Any, kw: dict[str, Any], err: int) -> None:
    with pytest.raises(KernelError) as ei:
        _emu_run(kernel, "r0 = 0\nexit", **kw)
    assert ei.value.errno == err


def test_ctx_flags_reach_the_keys_and_ctx_out_is_the_input(kernel: Any) -> None:
    r = _emu_run(kernel, "r0 = 0\nexit", data_in=_eth(ETH_P_IP) + bytes(20), ctx_in=_ctx(6), ctx_out_size=56)
    assert struct.unpack_from("<I", r.data_out, 48)[0] == 6
    assert r.ctx_out == _ctx(6)
    r = _emu_run(kernel, "r0 = 0\nexit", data_in=_eth(ETH_P_IP) + bytes(20), ctx_out_size=56)
    assert r.ctx_out == bytes(56)  # bpf_ctx_init zero-fills a context given only as ctx_out


# --- bpf_flow.o --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_selftest_packets_give_the_selftests_keys(emu_flow: Loaded, name: str) -> None:
    """prog_tests/flow_dissector.c's table: the tail calls through jmp_table (IP, IPv6,
    VLAN, the IPv6 fragment header) and the flags of ctx_in."""
    pkt, flags = SELFTEST[name]
    r = emu_flow.sys.prog_test_run(emu_flow.fd, data_in=pkt, ctx_in=_ctx(flags), data_out_size=56)
    assert (r.retval, r.data_out) == EXPECTED[name]


def test_a_truncated_header_is_dropped_through_the_load_bytes_fallback(emu_flow: Loaded) -> None:
    """The IPv4 header does not fit in data..data_end: bpf_flow_dissect_get_header falls back
    to bpf_skb_load_bytes, which fails without an skb: BPF_DROP."""
    r = emu_flow.sys.prog_test_run(emu_flow.fd, data_in=_eth(ETH_P_IP) + _ip4(6)[:10])
    assert r.retval == BPF_DROP


def test_repeat_runs_the_dissection_each_time(emu_flow: Loaded) -> None:
    pkt, _ = SELFTEST["ipv6"]
    one = emu_flow.sys.prog_test_run(emu_flow.fd, data_in=pkt)
    many = emu_flow.sys.prog_test_run(emu_flow.fd, data_in=pkt, repeat=5)
    assert (many.retval, many.data_out) == (one.retval, one.data_out)


# --- against the host ----------------------------------------------------------------------------------
def _clear(*loaded: Loaded) -> None:
    """Delete every last_dissection entry (BPF_MAP_GET_NEXT_KEY + DELETE)."""
    from emu.host import hostbpf as hb

    for ld in loaded:
        if ld.sys.__class__.__name__ == "HostSys":
            while (k := hb.map_get_next_key(ld.keys_fd, None, 4)) is not None:
                hb.map_delete(ld.keys_fd, k)
        else:
            while True:
                try:
                    k = ld.sys.map_get_next_key(ld.keys_fd, None)
                except KernelError:
                    break
                ld.sys.map_delete_elem(ld.keys_fd, k)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(SELFTEST))
def test_selftest_packets_as_on_the_host(emu_flow: Loaded, host_flow: Loaded, name: str) -> None:
    from emu.host import hostbpf as hb

    pkt, flags = SELFTEST[name]
    _clear(emu_flow, host_flow)  # an empty last_dissection on both sides: other tests ran before
    e = emu_flow.sys.prog_test_run(emu_flow.fd, data_in=pkt, ctx_in=_ctx(flags), data_out_size=56,
                                   ctx_out_size=56 if flags else 0)
    h = hb.test_run(host_flow.fd, data_in=pkt, ctx_in=_ctx(flags), data_out_size=56,
                    ctx_out_size=56 if flags else 0)
    assert (e.retval, e.data_out, e.ctx_out) == (h.retval, h.data_out, h.ctx_out)
    # export_flow_keys' copy into last_dissection, under the ports' key
    key = struct.pack("<I", struct.unpack_from("<H", h.data_out, 12)[0] << 16 | struct.unpack_from("<H", h.data_out, 14)[0])
    try:
        hv = hb.map_lookup(host_flow.keys_fd, key, 56)
    except OSError:
        hv = None
    try:
        ev = emu_flow.sys.map_lookup_elem(emu_flow.keys_fd, key)
    except KernelError:
        ev = None
    assert (ev and bytes(ev)) == (hv and bytes(hv))


@pytest.mark.kernel
def test_bpf_flow_xlated_as_on_the_host(emu_flow: Loaded, host_flow: Loaded) -> None:
    """The host's translated instructions of every bpf_flow.o program equal ours (the
    context reads converted, the tail calls, the fixups), with helper addresses and map
    immediates masked (the dump gives map ids where we keep addresses)."""
    from emu.host import hostbpf as hb

    def rows(xl: bytes) -> list[tuple[int, ...]]:
        out, skip = [], False
        for k in range(0, len(xl), 8):
            c, r, off, imm = struct.unpack_from("<BBhi", xl, k)
            if skip:
                out.append((c,))
                skip = False
                continue
            if c == isa.CALL_INSN and r >> 4 == 0:
                imm = 0
            if c == isa.LD_IMM64:
                out.append((c, r & 15, off))
                skip = True
                continue
            out.append((c, r & 15, r >> 4, off, imm))
        return out

    for name, p in emu_flow.obj.progs.items():
        ours = rows(emu_flow.sys.prog_info(p.fd).xlated)
        host = rows(hb.prog_info(host_flow.obj.progs[name].fd).xlated)
        assert ours == host, name


@pytest.mark.kernel
def test_ctx_conversion_xlated_as_on_the_host(kernel: Any) -> None:
    from emu.host import hostbpf as hb

    r = hb.prog_load(PROG_TYPE_FLOW_DISSECTOR, encode(assemble(CTX_PROG)), expected_attach_type=BPF_FLOW_DISSECTOR,
                     log_level=0)
    assert r.accepted
    try:
        host = hb.prog_info(r.fd).xlated
    finally:
        r.close()
    fd = kernel.prog_load(assemble(CTX_PROG), prog_type=PROG_TYPE_FLOW_DISSECTOR,
                          expected_attach_type=BPF_FLOW_DISSECTOR)
    try:
        assert kernel.prog_info(fd).xlated == host
    finally:
        kernel.close(fd)


@pytest.mark.kernel
@pytest.mark.parametrize("asm,kw", [
    (CTX_PROG, {"data_in": _eth(ETH_P_IPV6) + bytes(60)}),
    (LOAD_BYTES_PROG, {"data_in": _eth(ETH_P_IP) + bytes(40)}),
    *((CLAMP_PROG.format(nhoff=n, thoff=t, ret=7), {"data_in": _eth(ETH_P_IP) + bytes(46)}) for n, t, _ in CLAMPS),
    ("r0 = 0\nexit", {"data_in": _eth(ETH_P_IP) + bytes(20), "ctx_in": _ctx(6), "ctx_out_size": 56}),
    ("r0 = 0\nexit", {"data_in": _eth(ETH_P_IP) + bytes(20), "ctx_out_size": 56}),
    ("r0 = 0\nexit", {"data_in": _eth(ETH_P_IP) + bytes(20), "ctx_in": _ctx(6)[:52]}),
], ids=["ctx", "load_bytes", *(f"clamp{i}" for i in range(len(CLAMPS))), "flags", "ctx_out", "short_ctx"])
def test_handwritten_programs_as_on_the_host(kernel: Any, asm: str, kw: dict[str, Any]) -> None:
    e = _emu_run(kernel, asm, data_out_size=56, **kw)
    h = _host_run(asm, data_out_size=56, **kw)
    assert (e.retval, e.data_out, e.ctx_out) == (h.retval, h.data_out, h.ctx_out)


@pytest.mark.kernel
@pytest.mark.parametrize("kw,err", ARG_CASES, ids=[str(i) for i in range(len(ARG_CASES))])
def test_argument_checks_as_on_the_host(kw: dict[str, Any], err: int) -> None:
    with pytest.raises(OSError) as ei:
        _host_run("r0 = 0\nexit", **kw)
    assert ei.value.errno == err


_L3 = st.sampled_from([ETH_P_IP, ETH_P_IPV6, ETH_P_IP, ETH_P_IPV6, 0x8847, 0x0806, 0x1234])


@st.composite
def _packets(draw: Any) -> bytes:
    """Frames whose headers the dissector walks: up to two VLAN tags, an EtherType and (for
    IPv4/IPv6, most of the time) its header with a drawn protocol, header length and
    fragment bits, a transport header, then random bytes, cut at a random length."""
    l3 = draw(_L3)
    tags = draw(st.sampled_from([[], [], [ETH_P_8021Q], [ETH_P_8021AD, ETH_P_8021Q], [ETH_P_8021Q, ETH_P_8021Q]]))
    types = [*tags, l3]
    proto = types[0]
    body = b""
    for nxt in types[1:]:
        body += draw(st.binary(min_size=2, max_size=2)) + nxt.to_bytes(2, "big")
    if l3 == ETH_P_IP and draw(st.integers(0, 9)):
        h = bytearray(draw(st.binary(min_size=20, max_size=20)))
        h[0] = 0x40 | draw(st.sampled_from([5, 5, 5, 6, 4, 15]))
        struct.pack_into(">H", h, 6, draw(st.sampled_from([0, 0, 0x2000, 0x0001, 0x4000, h[6] << 8 | h[7]])))
        h[9] = draw(st.sampled_from([6, 6, 17, 4, 41, 47, 1, 0]))
        body += bytes(h) + bytes(4 * ((h[0] & 15) - 5) if (h[0] & 15) > 5 else 0)
    elif l3 == ETH_P_IPV6 and draw(st.integers(0, 9)):
        h = bytearray(draw(st.binary(min_size=40, max_size=40)))
        h[0] = 0x60 | (h[0] & 15)
        h[6] = draw(st.sampled_from([6, 6, 17, 0, 60, 43, 44, 4, 41, 47]))
        body += bytes(h)
    if l3 in (ETH_P_IP, ETH_P_IPV6):  # a transport header, TCP's data offset mostly sane
        t = bytearray(draw(st.binary(min_size=20, max_size=20)))
        t[12] = draw(st.sampled_from([5, 5, 6, 4, 15])) << 4
        body += bytes(t)
    body += draw(st.binary(max_size=40))
    frame = _eth(proto) + body
    if draw(st.integers(0, 3)):  # most frames whole, some cut short
        return frame
    return frame[:draw(st.integers(14, len(frame)))]


@pytest.mark.kernel
@settings(max_examples=60, deadline=None)
@given(pkt=_packets(), flags=st.sampled_from([0, 1, 2, 4, 7]))
def test_random_packets_as_on_the_host(emu_flow: Loaded, host_flow: Loaded, pkt: bytes, flags: int) -> None:
    from emu.host import hostbpf as hb

    e = emu_flow.sys.prog_test_run(emu_flow.fd, data_in=pkt, ctx_in=_ctx(flags), data_out_size=56)
    h = hb.test_run(host_flow.fd, data_in=pkt, ctx_in=_ctx(flags), data_out_size=56)
    assert (e.retval, e.data_out) == (h.retval, h.data_out)


def test_the_continue_address_returns_bpf_flow_dissector_continue(emu_flow: Loaded) -> None:
    """bpf_flow.c hands 127.0.0.127 back to the C dissector; the test run reports the
    program's return value as it is (only the attached path maps it)."""
    pkt, _ = SELFTEST["ipip-encap-dissector-continue"]
    assert emu_flow.sys.prog_test_run(emu_flow.fd, data_in=pkt).retval == BPF_FLOW_DISSECTOR_CONTINUE
