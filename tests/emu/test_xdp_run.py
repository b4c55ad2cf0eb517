"""BPF_PROG_TEST_RUN of XDP programs (emu.kernel.test_run_xdp, emu.kernel.xdp_helpers,
verifier.xdp_ctx): the xdp_md -> xdp_buff conversion, headroom, metadata, fragments, the
context rules and the XDP helpers -- with answers read off the 6.18 host, and (marked
``kernel``) side by side with the running host's BPF_PROG_TEST_RUN (XDP test runs attach
nothing; live frames are never asked of the host)."""

from __future__ import annotations

import errno as E
import struct
from typing import Any, Iterator

import pytest
from hypothesis import given, settings, strategies as st

from kernel_model.asm import assemble
from kernel_model.errors import KernelError, NotModelled
from kernel_model.insn import encode
from kernel_model.uapi import BPF_F_XDP_HAS_FRAGS

XDP = 6
MAP_TYPE_DEVMAP, MAP_TYPE_CPUMAP, MAP_TYPE_XSKMAP, MAP_TYPE_DEVMAP_HASH = 14, 16, 17, 25


def _host_status() -> tuple[bool, str]:
    from emu.host.hostbpf import oracle_status

    return oracle_status()


def md(data: int = 0, data_end: int = 0, data_meta: int = 0, ingress: int = 0, rxq: int = 0,
       egress: int = 0) -> bytes:
    """A struct xdp_md."""
    return struct.pack("<6I", data, data_end, data_meta, ingress, rxq, egress)


def pkt(n: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def full(n: int, **kw: Any) -> dict[str, Any]:
    """A test run of n bytes with a context naming them all linear (a context that
    is only asked for, ctx_out without ctx_in, is zeros: data_end 0, nothing linear)."""
    return {"data_in": pkt(n), "ctx_in": md(0, n), "ctx_out_size": 24, **kw}


# --- the programs -------------------------------------------------------------------------
#: r0 = data_end - data
LEN = "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr0 = r3\nr0 -= r2\nexit"
#: r0 = data - data_meta
META = "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +8)\nr0 = r2\nr0 -= r3\nexit"
#: r0 = ingress_ifindex << 8 | rx_queue_index
IFINDEX = "r2 = *(u32 *)(r1 +12)\nr3 = *(u32 *)(r1 +16)\nr2 <<= 8\nr2 |= r3\nr0 = r2\nexit"
SIGNED_IFINDEX = "r0 = *(s32 *)(r1 +12)\nexit"


def _then_len(call: str) -> str:
    """Call a helper on the context; its error as the return value, else data_end - data
    plus (data - data_meta) << 16."""
    return (f"r6 = r1\n{call}\nif r0 != 0 goto out\n"
            "r2 = *(u32 *)(r6 +0)\nr3 = *(u32 *)(r6 +4)\nr4 = *(u32 *)(r6 +8)\n"
            "r0 = r3\nr0 -= r2\nr2 -= r4\nr2 <<= 16\nr0 += r2\nout:\nexit")


def head(off: int) -> str:
    return _then_len(f"r2 = {off}\ncall bpf_xdp_adjust_head")


def meta(off: int) -> str:
    return _then_len(f"r2 = {off}\ncall bpf_xdp_adjust_meta")


def tail(off: int) -> str:
    return _then_len(f"r2 = {off}\ncall bpf_xdp_adjust_tail")


def tail_len(off: int) -> str:
    """adjust_tail, then bpf_xdp_get_buff_len (the fragments included)."""
    return (f"r6 = r1\nr2 = {off}\ncall bpf_xdp_adjust_tail\nif r0 != 0 goto out\n"
            "r1 = r6\ncall bpf_xdp_get_buff_len\nout:\nexit")


BUFF_LEN = "call bpf_xdp_get_buff_len\nexit"


def load(off: int, n: int = 8) -> str:
    """bpf_xdp_load_bytes of n bytes at off into the stack; r0 = the first 4 bytes, or the error."""
    return (f"r2 = 0\n*(u64 *)(r10 -16) = r2\n"
            f"r2 = {off}\nr3 = r10\nr3 += -16\nr4 = {n}\ncall bpf_xdp_load_bytes\nif r0 != 0 goto out\n"
            "r0 = *(u32 *)(r10 -16)\nout:\nexit")


def store(off: int, n: int = 8) -> str:
    """bpf_xdp_store_bytes of n bytes (0xa5a5a5a5_5a5a5a5a) at off."""
    return (f"r2 = 0x5a5a5a5a\n*(u32 *)(r10 -16) = r2\nr2 = 0xa5a5a5a5 ll\n*(u32 *)(r10 -12) = r2\n"
            f"r2 = {off}\nr3 = r10\nr3 += -16\nr4 = {n}\ncall bpf_xdp_store_bytes\nexit")


#: swap the Ethernet addresses in place and return XDP_TX: direct packet access
SWAP_MACS = """
r2 = *(u32 *)(r1 +0)
r3 = *(u32 *)(r1 +4)
r4 = r2
r4 += 14
if r4 > r3 goto drop
r5 = *(u32 *)(r2 +0)
r6 = *(u16 *)(r2 +4)
r7 = *(u32 *)(r2 +6)
r8 = *(u16 *)(r2 +10)
*(u32 *)(r2 +0) = r7
*(u16 *)(r2 +4) = r8
*(u32 *)(r2 +6) = r5
*(u16 *)(r2 +10) = r6
r0 = 3
exit
drop:
r0 = 1
exit
"""
#: write the metadata area after growing it by 8 bytes
META_WRITE = """
r6 = r1
r2 = -8
call bpf_xdp_adjust_meta
if r0 != 0 goto out
r2 = *(u32 *)(r6 +8)
r3 = *(u32 *)(r6 +0)
r4 = r2
r4 += 8
if r4 > r3 goto out
r5 = 0x11223344
*(u32 *)(r2 +0) = r5
r5 = 0x55667788
*(u32 *)(r2 +4) = r5
r0 = 2
out:
exit
"""


def check_mtu(ifindex: int, mtu_len: int, len_diff: int, flags: int = 0) -> str:
    """bpf_xdp_check_mtu; r0 = its verdict (or error) << 20 | the MTU it wrote back."""
    return (f"r2 = {mtu_len}\n*(u32 *)(r10 -4) = r2\nr2 = {ifindex}\nr3 = r10\nr3 += -4\nr4 = {len_diff}\n"
            f"r5 = {flags}\ncall bpf_check_mtu\nr0 <<= 20\nr1 = *(u32 *)(r10 -4)\nr0 |= r1\nexit")


def redirect(ifindex: int, flags: int) -> str:
    return f"r1 = {ifindex}\nr2 = {flags} ll\ncall bpf_redirect\nexit"


def redirect_map(key: int, flags: int) -> str:
    return f"r1 = map[fd:{{m}}] ll\nr2 = {key}\nr3 = {flags}\ncall bpf_redirect_map\nexit"


U32 = 1 << 32
EINVAL, EFAULT, EACCES = (U32 - E.EINVAL), (U32 - E.EFAULT), (U32 - E.EACCES)
# (name, program, test-run arguments): the runs compared with the host
RUNS: list[tuple[str, str, dict[str, Any]]] = [
    ("len-14", LEN, {"data_in": pkt(14)}),
    ("len-60", LEN, {"data_in": pkt(60)}),
    ("len-3520", LEN, {"data_in": pkt(3520)}),
    ("len-3521-frag", LEN, {"data_in": pkt(3521)}),
    ("len-9000-frags", LEN, {"data_in": pkt(9000)}),
    ("len-73152-max-frags", LEN, {"data_in": pkt(3520 + 17 * 4096)}),
    ("len-repeat", LEN, {"data_in": pkt(64), "repeat": 5}),
    ("ctx-out-only", LEN, {"data_in": pkt(40), "ctx_out_size": 24}),
    ("ctx-linear-20-of-40", LEN, {"data_in": pkt(40), "ctx_in": md(0, 20), "ctx_out_size": 24}),
    ("ctx-linear-0", LEN, {"data_in": pkt(40), "ctx_in": md(0, 0), "ctx_out_size": 24}),
    ("ctx-meta-8", META, {"data_in": pkt(40), "ctx_in": md(8, 40), "ctx_out_size": 24}),
    ("ctx-meta-216", META, {"data_in": pkt(240), "ctx_in": md(216, 240), "ctx_out_size": 24}),
    ("ctx-meta-frags", LEN, {"data_in": pkt(5000), "ctx_in": md(32, 5000), "ctx_out_size": 24}),
    ("ctx-longer-zero", LEN, {"data_in": pkt(40), "ctx_in": md(0, 40) + bytes(8), "ctx_out_size": 24}),
    ("ifindex-none", IFINDEX, {"data_in": pkt(20)}),
    ("ifindex-ctx0", IFINDEX, {"data_in": pkt(20), "ctx_in": md(0, 20), "ctx_out_size": 24}),
    ("ifindex-lo", IFINDEX, {"data_in": pkt(20), "ctx_in": md(0, 20, ingress=1), "ctx_out_size": 24}),
    ("ifindex-s32", SIGNED_IFINDEX, {"data_in": pkt(20)}),
    ("swap-macs", SWAP_MACS, {"data_in": pkt(64)}),
    ("swap-macs-short-linear", SWAP_MACS, {"data_in": pkt(64), "ctx_in": md(0, 10), "ctx_out_size": 24}),
    ("meta-write", META_WRITE, full(64)),
    ("meta-write-repeat", META_WRITE, full(64, repeat=3)),
    ("meta-write-all-frags", META_WRITE, {"data_in": pkt(64), "ctx_out_size": 24}),
    *((f"head{o:+d}", head(o), full(100))
      for o in (-257, -256, -216, -217, -8, 0, 8, 86, 87)),
    *((f"head{o:+d}-meta", head(o), {"data_in": pkt(100), "ctx_in": md(16, 100), "ctx_out_size": 24})
      for o in (-200, -201, -8, 4, 70, 71)),
    ("head-repeat", head(-4), full(100, repeat=3)),
    *((f"meta{o:+d}", meta(o), full(100))
      for o in (-4, -6, -216, -220, -252, -256, 0, 4)),
    *((f"meta{o:+d}-with-meta", meta(o), {"data_in": pkt(100), "ctx_in": md(8, 100), "ctx_out_size": 24})
      for o in (4, 8, 12, -200, -208, -212)),
    *((f"tail{o:+d}", tail(o), full(100))
      for o in (-86, -87, -1, 0, 1, 100, 3420, 3421, 4000)),
    *((f"tail{o:+d}-frags", tail_len(o), full(9000))
      for o in (-1, -808, -809, -4904, -4905, -8986, -8987, 1, 3288, 3289, 4096)),
    ("buff-len", BUFF_LEN, {"data_in": pkt(100)}),
    ("buff-len-frags", BUFF_LEN, {"data_in": pkt(9000)}),
    *((f"load{o}+{n}", load(o, n), {"data_in": pkt(9000)})
      for o, n in ((0, 8), (3516, 8), (3520, 8), (7610, 8), (8992, 8), (8993, 8), (65535, 1), (65536, 1), (10, 1))),
    ("load-short", load(50, 8), {"data_in": pkt(57)}),
    ("load-ctx-meta", load(0, 4), {"data_in": pkt(40), "ctx_in": md(8, 40), "ctx_out_size": 24}),
    *((f"store{o}+{n}", store(o, n), {"data_in": pkt(9000)})
      for o, n in ((0, 8), (3516, 8), (7614, 8), (8992, 8), (8993, 8), (3, 4))),
    *((f"redirect-{i}-{f}", redirect(i, f), {"data_in": pkt(20)}) for i, f in ((1, 0), (7, 0), (1, 1), (0, 1 << 40))),
    *((f"check-mtu-{i}-{m}-{d}-{f}", check_mtu(i, m, d, f), {"data_in": pkt(1500)})
      for i, m, d, f in ((0, 0, 0, 0), (1, 0, 0, 0), (0, 0, 65536 - 1500 + 14, 0), (0, 0, 65536 - 1500 + 15, 0),
                         (0, 65536, 0, 0), (0, 65537, 0, 0), (0, 100, -200, 0), (0, 0, -2000, 0), (0, 0, 0, 1),
                         (1, 65536, 1, 0))),
]
RUN_IDS = [r[0] for r in RUNS]

#: (name, test-run arguments, errno): refused runs of LEN
ERRORS: list[tuple[str, dict[str, Any], int]] = [
    ("short", {"data_in": pkt(13)}, E.EINVAL),
    ("empty", {}, E.EINVAL),
    ("meta-leaves-13", {"data_in": pkt(21), "ctx_in": md(8, 21)}, E.EINVAL),
    ("data_meta-set", {"data_in": pkt(40), "ctx_in": md(0, 40, data_meta=4)}, E.EINVAL),
    ("data_end-past", {"data_in": pkt(40), "ctx_in": md(0, 41)}, E.EINVAL),
    ("data-past-end", {"data_in": pkt(40), "ctx_in": md(24, 20)}, E.EINVAL),
    ("meta-unaligned", {"data_in": pkt(40), "ctx_in": md(6, 40)}, E.EINVAL),
    ("meta-220", {"data_in": pkt(300), "ctx_in": md(220, 300)}, E.EINVAL),
    ("egress", {"data_in": pkt(40), "ctx_in": md(0, 40, egress=1)}, E.EINVAL),
    ("rxq-without-ifindex", {"data_in": pkt(40), "ctx_in": md(0, 40, rxq=1)}, E.EINVAL),
    ("lo-rxq-1", {"data_in": pkt(40), "ctx_in": md(0, 40, ingress=1, rxq=1)}, E.EINVAL),
    ("ctx-longer-nonzero", {"data_in": pkt(40), "ctx_in": md(0, 40) + b"\0\1"}, E.E2BIG),
    ("ctx-out-8", {"data_in": pkt(40), "ctx_in": md(0, 40), "ctx_out_size": 8}, E.ENOSPC),
    ("data-out-10", {"data_in": pkt(40), "data_out_size": 10}, E.ENOSPC),
    ("too-many-frags", {"data_in": pkt(3520 + 17 * 4096 + 1)}, E.ENOMEM),
    ("flags", {"data_in": pkt(40), "flags": 1 << 2}, E.EINVAL),
]


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from emu.kernel import Kernel

    k = Kernel(modules=())
    yield k
    k.shutdown()


def _out(r: Any) -> tuple[int, bytes, bytes]:
    return r.retval, r.data_out, r.ctx_out


def _emu(kernel: Any, asm: str, kw: dict[str, Any], prog_flags: int = 0) -> tuple[int, bytes, bytes] | int:
    fd = kernel.prog_load(assemble(asm), prog_type=XDP, license="GPL", prog_flags=prog_flags)
    try:
        return _out(kernel.prog_test_run(fd, **kw))
    except KernelError as e:
        return e.errno
    finally:
        kernel.close(fd)


def _host(asm: str, kw: dict[str, Any], prog_flags: int = 0) -> tuple[int, bytes, bytes] | int:
    from emu.host import hostbpf as hb

    assert not kw.get("flags", 0) & 2, "never live frames on the host"
    r = hb.prog_load(XDP, encode(assemble(asm)), log_level=0, prog_flags=prog_flags)
    assert r.accepted, r.log
    kw = dict(kw)
    kw["data_out_size"] = kw.get("data_out_size") or 1 << 17
    try:
        return _out(hb.test_run(r.fd, **kw))
    except OSError as e:
        return e.errno
    finally:
        r.close()


# --- without the host: answers read off the 6.18 host -------------------------------------
def test_the_xlated_conversion_reads_xdp_buff(kernel: Any) -> None:
    """xdp_md.data (0) is xdp_buff.data, an 8-byte load; ingress_ifindex walks rxq->dev->ifindex."""
    fd = kernel.prog_load(assemble("r0 = *(u32 *)(r1 +4)\nr0 = *(u32 *)(r1 +12)\nr0 = 2\nexit"), prog_type=XDP)
    xl = kernel.prog_info(fd).xlated
    kernel.close(fd)
    assert xl.hex() == ("7910080000000000" "7910200000000000" "7900000000000000" "6100e00000000000"
                        "b700000002000000" "9500000000000000")


@pytest.mark.parametrize("name,asm,kw,want", [
    ("len-60", LEN, {"data_in": pkt(60)}, (60, pkt(60), b"")),
    ("len-frags", LEN, {"data_in": pkt(5000)}, (3520, pkt(5000), b"")),
    ("ctx-linear-20-of-40", LEN, {"data_in": pkt(40), "ctx_in": md(0, 20), "ctx_out_size": 24},
     (20, pkt(40), md(0, 20))),
    ("ctx-meta-8", META, {"data_in": pkt(40), "ctx_in": md(8, 40), "ctx_out_size": 24}, (8, pkt(40), md(8, 40))),
    ("ifindex-lo", IFINDEX, {"data_in": pkt(20)}, (0x100, pkt(20), b"")),
    ("head-8", head(-8), full(100), (108, bytes(8) + pkt(100), md(0, 108))),
    ("head+8", head(8), full(100), (92, pkt(100)[8:], md(0, 92))),
    ("head-8-all-frags", head(-8), {"data_in": pkt(100), "ctx_out_size": 24}, (EINVAL, pkt(100), md())),
    ("head-257", head(-257), {"data_in": pkt(100)}, (EINVAL, pkt(100), b"")),
    ("meta-6", meta(-6), {"data_in": pkt(100)}, (EACCES, pkt(100), b"")),
    ("tail+1", tail(1), {"data_in": pkt(100)}, (101, pkt(100) + b"\0", b"")),
    ("tail+3421", tail(3421), {"data_in": pkt(100)}, (EINVAL, pkt(100), b"")),
    ("load8993", load(8993), {"data_in": pkt(9000)}, (EINVAL, pkt(9000), b"")),
    ("load65536", load(65536, 1), {"data_in": pkt(9000)}, (EFAULT, pkt(9000), b"")),
    ("redirect", redirect(7, 0), {"data_in": pkt(20)}, (4, pkt(20), b"")),
])
def test_xdp_runs(kernel: Any, name: str, asm: str, kw: dict[str, Any], want: tuple[int, bytes, bytes]) -> None:
    assert _emu(kernel, asm, kw) == want


@pytest.mark.parametrize("name,kw,err", ERRORS, ids=[e[0] for e in ERRORS])
def test_xdp_run_arguments(kernel: Any, name: str, kw: dict[str, Any], err: int) -> None:
    assert _emu(kernel, LEN, kw) == err


def test_live_frames_are_not_modelled(kernel: Any) -> None:
    fd = kernel.prog_load(assemble(LEN), prog_type=XDP)
    with pytest.raises(NotModelled, match="BPF_F_TEST_XDP_LIVE_FRAMES"):
        kernel.prog_test_run(fd, data_in=pkt(64), flags=1 << 1)
    kernel.close(fd)


def test_devmap_programs_are_not_test_run(kernel: Any) -> None:
    fd = kernel.prog_load(assemble("r0 = 2\nexit"), prog_type=XDP, expected_attach_type=33)  # BPF_XDP_DEVMAP
    with pytest.raises(KernelError) as ei:
        kernel.prog_test_run(fd, data_in=pkt(64))
    assert ei.value.errno == E.EINVAL
    kernel.close(fd)


def test_another_device_is_enodev_here(kernel: Any) -> None:
    """The emulated kernel has only lo (the host may have ifindex 2)."""
    assert _emu(kernel, LEN, {"data_in": pkt(40), "ctx_in": md(0, 40, ingress=2)}) == E.ENODEV


def test_fragment_pages_are_freed(kernel: Any) -> None:
    """A run with fragments, one freed by adjust_tail, leaves the allocator as it was."""
    heap = kernel.machine.alloc.heap
    fd = kernel.prog_load(assemble(tail_len(-5000)), prog_type=XDP)
    before = dict(heap.used)
    assert kernel.prog_test_run(fd, data_in=pkt(9000)).retval == 4000
    assert dict(heap.used) == before
    kernel.close(fd)


# --- side by side with the host -----------------------------------------------------------
def _lo_mtu() -> int:
    try:
        with open("/sys/class/net/lo/mtu") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


@pytest.mark.kernel
@pytest.mark.parametrize("name,asm,kw", RUNS, ids=RUN_IDS)
def test_xdp_run_matches_the_host(kernel: Any, name: str, asm: str, kw: dict[str, Any]) -> None:
    if name.startswith("check-mtu") and _lo_mtu() != 65536:
        pytest.skip(f"the host's lo has MTU {_lo_mtu()}; the emulated lo has loopback_setup's 65536")
    assert _emu(kernel, asm, kw) == _host(asm, kw)


@pytest.mark.kernel
@pytest.mark.parametrize("name,kw,err", ERRORS, ids=[e[0] for e in ERRORS])
def test_xdp_run_errors_match_the_host(kernel: Any, name: str, kw: dict[str, Any], err: int) -> None:
    assert _host(LEN, kw) == err == _emu(kernel, LEN, kw)


@pytest.mark.kernel
def test_frags_programs_run_the_same(kernel: Any) -> None:
    """BPF_F_XDP_HAS_FRAGS changes nothing a test run shows."""
    kw = full(9000)
    assert _emu(kernel, tail_len(-100), kw, BPF_F_XDP_HAS_FRAGS) == _host(tail_len(-100), kw, BPF_F_XDP_HAS_FRAGS)


@pytest.mark.kernel
@pytest.mark.parametrize("name,asm", [("len", LEN), ("ifindex", IFINDEX), ("head", head(-8)), ("swap", SWAP_MACS),
                                      ("meta", META_WRITE), ("load", load(3, 4))])
def test_xlated_matches_the_host(kernel: Any, name: str, asm: str) -> None:
    """The rewritten program (BPF_OBJ_GET_INFO_BY_FD xlated_prog_insns), helper call
    immediates aside (they are kernel addresses)."""
    from emu.host import hostbpf as hb

    def calls_zeroed(b: bytes) -> bytes:
        out = bytearray(b)
        for i in range(0, len(out), 8):
            if out[i] == 0x85:
                out[i + 4:i + 8] = bytes(4)
        return bytes(out)

    r = hb.prog_load(XDP, encode(assemble(asm)), log_level=0)
    assert r.accepted
    try:
        host = hb.prog_info(r.fd).xlated
    finally:
        r.close()
    fd = kernel.prog_load(assemble(asm), prog_type=XDP)
    ours = kernel.prog_info(fd).xlated
    kernel.close(fd)
    assert calls_zeroed(ours) == calls_zeroed(host)


@pytest.mark.kernel
def test_devmap_egress_ifindex_xlated_matches_the_host(kernel: Any) -> None:
    """A devmap program's egress_ifindex is xdp->txq->dev->ifindex."""
    from emu.host import hostbpf as hb

    asm = "r0 = *(u32 *)(r1 +20)\nr0 = *(u32 *)(r1 +16)\nr0 = 2\nexit"
    r = hb.prog_load(XDP, encode(assemble(asm)), log_level=0, expected_attach_type=33)  # BPF_XDP_DEVMAP
    assert r.accepted
    try:
        host = hb.prog_info(r.fd).xlated
    finally:
        r.close()
    fd = kernel.prog_load(assemble(asm), prog_type=XDP, expected_attach_type=33)
    ours = kernel.prog_info(fd).xlated
    kernel.close(fd)
    assert ours == host


@pytest.mark.kernel
@pytest.mark.parametrize("map_type", [MAP_TYPE_DEVMAP, MAP_TYPE_DEVMAP_HASH, MAP_TYPE_CPUMAP, MAP_TYPE_XSKMAP])
@pytest.mark.parametrize("key,flags", [(0, 0), (1, 1), (0, 2), (3, 3), (0, 4), (0, 1 << 3), (0, (1 << 3) | 2),
                                       (0, 1 << 4), (0, 1 << 5)])
def test_redirect_map_on_an_empty_map_matches_the_host(kernel: Any, map_type: int, key: int, flags: int) -> None:
    from emu.host import hostbpf as hb

    vsize = 8 if map_type == MAP_TYPE_DEVMAP_HASH else 4
    hfd, err = hb.map_create(map_type, 4, vsize, 4)
    assert hfd >= 0, err
    efd = kernel.map_create(map_type=map_type, key_size=4, value_size=vsize, max_entries=4)
    try:
        kw = {"data_in": pkt(20)}
        assert _emu(kernel, redirect_map(key, flags).format(m=efd), kw) == \
            _host(redirect_map(key, flags).format(m=hfd), kw)
    finally:
        hb.close(hfd)
        kernel.close(efd)


_ADJUST = st.sampled_from(["bpf_xdp_adjust_head", "bpf_xdp_adjust_tail", "bpf_xdp_adjust_meta"])


@pytest.mark.kernel
@settings(max_examples=60)
@given(size=st.integers(0, 12000), meta_words=st.integers(0, 8), linear=st.one_of(st.none(), st.integers(0, 12000)),
       helper=_ADJUST, offset=st.integers(-5000, 5000))
def test_random_packets_and_adjustments_match_the_host(kernel: Any, size: int, meta_words: int, linear: int | None,
                                                        helper: str, offset: int) -> None:
    """Random packet sizes, metadata and linear lengths, one head/tail/meta adjustment,
    then the buffer length (fragments included): retval, data_out, ctx_out or errno agree."""
    kw: dict[str, Any] = {"data_in": pkt(size), "ctx_out_size": 24}
    meta_sz = 4 * meta_words
    if linear is not None or meta_sz:
        end = min(size, linear if linear is not None else size)
        kw["ctx_in"] = md(min(meta_sz, end), end)
    asm = (f"r6 = r1\nr2 = {offset}\ncall {helper}\nif r0 != 0 goto out\n"
           "r1 = r6\ncall bpf_xdp_get_buff_len\nr2 = *(u32 *)(r6 +0)\nr3 = *(u32 *)(r6 +8)\nr2 -= r3\n"
           "r2 <<= 20\nr0 += r2\nout:\nexit")
    assert _emu(kernel, asm, kw) == _host(asm, kw)


# --- the selftests' raw XDP programs (tests/data/selftests/raw_cases.jsonl) ----------------
def _raw_xdp_cases() -> list[Any]:
    from tests.corpus import raw_case_program, raw_cases

    out = []
    for c in raw_cases():
        k = c.get("kernel") or {}
        if c["prog_type"] == XDP and k.get("verdict") == "accepted" and k.get("retvals") \
                and not raw_case_program(c).not_modelled:
            out.append(pytest.param(c, id=c["id"]))
    return out


RAW_XDP = _raw_xdp_cases()


def test_the_corpus_has_xdp_runs() -> None:
    assert len(RAW_XDP) >= 10


@pytest.mark.parametrize("case", RAW_XDP)
def test_raw_xdp_case_retvals_match_the_host(kernel: Any, case: dict[str, Any]) -> None:
    """Each accepted XDP raw case, test-run on test_verifier's inputs: the host's u32
    return values (recorded in the corpus)."""
    from kernel_model.insn import Insn
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
        pfd = kernel.prog_load(insns, prog_type=XDP, prog_flags=prog.env.prog_flags)
        fds.append(pfd)
        got = [kernel.prog_test_run(pfd, data_in=bytes.fromhex(run["data"])).retval for run in case["runs"]]
        assert got == case["kernel"]["retvals"][:len(got)]
    finally:
        for fd in reversed(fds):
            kernel.close(fd)


# --- the committed selftests objects, loaded by the libbpf loader on both kernels ----------
def pkt_v4() -> bytes:
    """network_helpers.h ``pkt_v4``: Ethernet + IPv4 (ihl 5, TCP, tot_len 123) + TCP (doff 5, urg_ptr 123)."""
    eth = bytes(12) + b"\x08\x00"
    ip = bytearray(20)
    ip[0], ip[9] = 5, 6
    ip[2:4] = (123).to_bytes(2, "big")
    tcp = bytearray(20)
    tcp[12] = 5 << 4
    tcp[18:20] = (123).to_bytes(2, "little")
    return eth + bytes(ip) + bytes(tcp)


def pkt_v6() -> bytes:
    """``pkt_v6``: Ethernet + IPv6 (TCP, payload_len 123) + TCP."""
    eth = bytes(12) + b"\x86\xdd"
    ip = bytearray(40)
    ip[4:6] = (123).to_bytes(2, "big")
    ip[6] = 6
    tcp = bytearray(20)
    tcp[12] = 5 << 4
    tcp[18:20] = (123).to_bytes(2, "little")
    return eth + bytes(ip) + bytes(tcp)


def frags_buf(size: int, offset: int) -> bytes:
    """test_xdp_update_frags' input: the offset in the first 4 bytes, 0xaa markers at offset and offset + 15."""
    b = bytearray(size)
    b[0:4] = offset.to_bytes(4, "little")
    for at in (offset, offset + 15):
        if at < size:
            b[at] = 0xAA
    return bytes(b)


_VIP_KEY4 = bytes(18) + (2).to_bytes(2, "little") + b"\x06" + bytes(3)   # struct vip {.protocol 6, .family AF_INET}
_VIP_KEY6 = bytes(18) + (10).to_bytes(2, "little") + b"\x06" + bytes(3)
_TNL4 = bytes(range(1, 5)) + bytes(12) + bytes(range(5, 9)) + bytes(12) + (2).to_bytes(2, "little") + bytes(6)
_TNL6 = bytes(range(1, 17)) + bytes(range(17, 33)) + (10).to_bytes(2, "little") + bytes(range(0xa0, 0xa6))
_IPTUNNEL_MAPS = {"vip2tnl": [(_VIP_KEY4, _TNL4), (_VIP_KEY6, _TNL6)]}
_PKTS = [{"data_in": pkt_v4()}, {"data_in": pkt_v6()}, {"data_in": pkt_v4() + bytes(4000)},
         {"data_in": pkt_v6(), "ctx_in": md(0, 74), "ctx_out_size": 24}]
#: (object, program, map entries {map: [(key, value)]}, runs)
OBJECT_RUNS: list[tuple[str, str, dict[str, list[tuple[bytes, bytes]]], list[dict[str, Any]]]] = [
    ("test_xdp.o", "_xdp_tx_iptunnel", _IPTUNNEL_MAPS, _PKTS),
    ("test_xdp_loop.o", "_xdp_tx_iptunnel", _IPTUNNEL_MAPS, _PKTS),
    ("test_xdp_noinline.o", "balancer_ingress_v4", {}, _PKTS),
    ("test_xdp_noinline.o", "balancer_ingress_v6", {}, _PKTS),
    ("test_xdp_adjust_tail_shrink.o", "_xdp_adjust_tail_shrink", {},
     _PKTS + [{"data_in": pkt(9000), "ctx_in": md(0, 9000), "ctx_out_size": 24}]),
    ("test_xdp_adjust_tail_grow.o", "_xdp_adjust_tail_grow", {},
     _PKTS + [{"data_in": pkt(n)} for n in (9001, 3000, 128, 3520)]),
    ("test_xdp_update_frags.o", "xdp_adjust_frags", {},
     [{"data_in": frags_buf(n, o)} for n, o in ((128, 16), (9000, 5000), (9000, 3510), (9000, 3520),
                                                 (9000, 7608), (128, 120), (9000, 8990))]),
    ("test_xdp_context_test_run.o", "xdp_context", {},
     [{"data_in": (2).to_bytes(4, "little") + pkt_v4(), "ctx_in": md(4, 58), "ctx_out_size": 24},
      {"data_in": (3).to_bytes(4, "little") + pkt_v4(), "ctx_in": md(4, 58, ingress=1), "ctx_out_size": 24},
      {"data_in": pkt_v4()}]),
    ("test_xdp_do_redirect.o", "xdp_redirect", {},
     [{"data_in": bytes(8) + pkt_v4(), "ctx_in": md(8, 62), "ctx_out_size": 24}, {"data_in": pkt_v4()}]),
    ("test_xdp_do_redirect.o", "xdp_count_pkts", {}, [{"data_in": pkt_v4()}]),
    ("xdp_dummy.o", "xdp_dummy_prog", {}, _PKTS),
    ("xdp_tx.o", "xdp_tx", {}, _PKTS),
]


def _object_runs(sys: Any, path: str, prog: str, maps: dict[str, list[tuple[bytes, bytes]]],
                 runs: list[dict[str, Any]], host: bool) -> list[Any]:
    from emu.host import hostbpf as hb
    from emu.libbpf.object import BpfObject

    obj = BpfObject.open_file(path)
    for p in obj.programs:
        if not p.is_subprog:
            p.autoload = p.name == prog
    obj.load(sys)
    try:
        for name, entries in maps.items():
            for key, value in entries:
                sys.map_update_elem(obj.find_map(name).fd, key, value)
        fd = obj.find_program(prog).fd
        out: list[Any] = []
        for kw in runs:
            try:
                if host:
                    out.append(_out(hb.test_run(fd, data_out_size=1 << 17, **kw)))
                else:
                    out.append(_out(sys.prog_test_run(fd, **kw)))
            except (OSError, KernelError) as e:
                out.append(e.errno)
        return out
    finally:
        obj.close()


@pytest.mark.kernel
@pytest.mark.parametrize("name,prog,maps,runs", OBJECT_RUNS, ids=[f"{o}:{p}" for o, p, _, _ in OBJECT_RUNS])
def test_selftests_objects_run_as_on_the_host(kernel: Any, name: str, prog: str,
                                              maps: dict[str, list[tuple[bytes, bytes]]],
                                              runs: list[dict[str, Any]]) -> None:
    from emu.host.hostsys import HostSys
    from tests.corpus import OBJECTS

    path = str(OBJECTS / name)
    ours = _object_runs(kernel, path, prog, maps, runs, host=False)
    h = HostSys()
    try:
        theirs = _object_runs(h, path, prog, maps, runs, host=True)
    finally:
        h.close_all()
    assert ours == theirs
    assert any(isinstance(r, tuple) for r in ours)  # at least one run ran
