"""The verifier log buffer of kernel/bpf/log.c (Linux 6.18) in the model and the emulated bpf().

``bpf_vlog_init`` validates the attributes (EINVAL), ``bpf_verifier_vlog``
writes into a rotating buffer (or, with ``BPF_LOG_FIXED``, keeps the head) and
tracks ``len_max``, ``bpf_vlog_finalize`` reports it as ``log_true_size`` and
fails the load with ENOSPC when the log ever outgrew the buffer, whatever the
verdict. At level 1 the trace of an accepted walk is reset away at the end, but
it was the log at its longest: a loop's log_true_size grows with its iterations
while the final log is one statistics line.

The ``kernel``-marked tests compare with the host's ``BPF_PROG_LOAD``; the others
assert figures captured from the 6.18.44 host (verifier text only: no timing, no
address, nothing that depends on the CPU).
"""

from __future__ import annotations

import ctypes
import errno as E
import struct

import pytest

from emu.kernel import Kernel
from emu.kernel.syscall import ProgLoadError
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from verifier import VerifierEnv, verify

SOCKET_FILTER = 1
STRAIGHT = "r0 = 0\nr1 = 1\nr2 = 2\nexit\n"
REJECTED = "r0 = *(u64 *)(r1 +0)\nexit\n"


def loop(n: int) -> str:
    """The issue's loop: 2 instructions per iteration, one state per 20 of them."""
    return f"r0 = 0\nl:\nr0 += 1\nif r0 < {n} goto l\nexit\n"


def stats_line(processed: int, states: int = 0) -> str:
    return (f"processed {processed} insns (limit 1000000) max_states_per_insn {4 if states else 0} "
            f"total_states {states} peak_states {states} mark_read 0\n")


# --- figures captured from the host ---------------------------------------------------------------

@pytest.mark.parametrize("n,true_size,states", [(300, 28063, 16), (3000, 285865, 151)])
def test_level1_loop_log_true_size(n: int, true_size: int, states: int) -> None:
    """The host's log_true_size for the loop, and its verdicts one byte either side."""
    prog = assemble(loop(n))
    short, fits = (verify(prog, VerifierEnv(log_size=s), log_level=1) for s in (true_size - 1, true_size))
    assert (short.accepted, short.errno, short.log_true_size) == (False, E.ENOSPC, true_size)
    assert (fits.accepted, fits.errno, fits.log_true_size) == (True, 0, true_size)
    assert fits.log == short.log == stats_line(2 * n + 2, states)


def test_rotating_buffer_keeps_the_tail_fixed_the_head() -> None:
    """A rejected program's level-1 log in 50 bytes: the rotating buffer keeps the last
    49 characters, BPF_LOG_FIXED (level 1|8) the first 49."""
    prog = assemble(REJECTED)
    full = verify(prog, VerifierEnv(), log_level=1)
    assert full.log_true_size == 187 == len(full.log) + 1
    rot = verify(prog, VerifierEnv(log_size=50), log_level=1)
    fixed = verify(prog, VerifierEnv(log_size=50), log_level=1 | 8)
    assert (rot.errno, rot.log, rot.log_true_size) == (E.ENOSPC, full.log[-49:], 187)
    assert (fixed.errno, fixed.log, fixed.log_true_size) == (E.ENOSPC, full.log[:49], 187)
    assert rot.log == "_insn 0 total_states 0 peak_states 0 mark_read 0\n"


def test_tiny_buffers_and_no_buffer() -> None:
    """6.18 has no minimum size: 1 byte holds only the NUL (ENOSPC); a level without a
    buffer (log_size 0) verifies and reports the size only; above UINT_MAX >> 2 is EINVAL."""
    prog = assemble("r0 = 0\nexit\n")
    one = verify(prog, VerifierEnv(log_size=1), log_level=1)
    none = verify(prog, VerifierEnv(log_size=0), log_level=1)
    assert (one.errno, one.log, one.log_true_size) == (E.ENOSPC, "", 98)
    assert (none.accepted, none.log, none.log_true_size) == (True, "", 98)
    assert verify(prog, VerifierEnv(log_size=127), log_level=1).accepted
    assert verify(prog, VerifierEnv(log_size=1 << 30), log_level=1).errno == E.EINVAL
    assert verify(prog, VerifierEnv(log_size=(1 << 30) - 1), log_level=1).accepted
    assert verify(prog, VerifierEnv(log_size=4096), log_level=0).log_true_size == 0


def _emulated(kernel: Kernel, text: str, level: int, size: int, buf: bool) -> tuple[bool, int, int, str]:
    out: dict[str, int] = {}
    try:
        fd = kernel.prog_load(assemble(text), prog_type=SOCKET_FILTER, log_level=level, log_size=size,
                              log_buf=buf, attr_out=out)
    except ProgLoadError as e:
        return False, e.errno, e.log_true_size, e.log
    except KernelError as e:
        return False, e.errno, out.get("log_true_size", 0), ""
    log = kernel.prog_info(fd).verifier_log
    kernel.close(fd)
    return True, 0, out["log_true_size"], log


#: (log_level, log_size, log_buf given): the attribute cases of bpf_vlog_init and finalize
ATTRS = [(1, 0, False), (1, 0, True), (0, 100, True), (1, 100, False), (16, 4096, True), (8, 4096, True),
         (9, 4096, True), (1, 1, True), (1, 2, True), (1, 50, True), (1, 127, True), (1, 4096, True),
         (2, 4096, True), (2, 300, True), (10, 300, True), (1, 1 << 30, True), (1, (1 << 30) - 1, True)]

#: what the 6.18.44 host answered for them, for STRAIGHT and REJECTED: (accepted, errno, log_true_size)
HOST_ATTRS = {
    (1, 0, False): ((True, 0, 169), (False, E.EACCES, 187)),
    (1, 0, True): ((False, E.EINVAL, 0), (False, E.EINVAL, 0)),
    (0, 100, True): ((False, E.EINVAL, 0), (False, E.EINVAL, 0)),
    (1, 100, False): ((False, E.EINVAL, 0), (False, E.EINVAL, 0)),
    (16, 4096, True): ((False, E.EINVAL, 0), (False, E.EINVAL, 0)),
    (1, 1, True): ((False, E.ENOSPC, 169), (False, E.ENOSPC, 187)),
    (1, 4096, True): ((True, 0, 169), (False, E.EACCES, 187)),
    (1, 1 << 30, True): ((False, E.EINVAL, 0), (False, E.EINVAL, 0)),
}


@pytest.mark.parametrize("attrs", list(HOST_ATTRS), ids=str)
def test_emulated_bpf_log_attributes(attrs: tuple[int, int, bool]) -> None:
    """The emulated BPF_PROG_LOAD answers the attribute cases as the host did."""
    k = Kernel()
    level, size, buf = attrs
    for text, want in zip((STRAIGHT, REJECTED), HOST_ATTRS[attrs]):
        got = _emulated(k, text, level, size, buf)
        assert got[:3] == want, (text, got)


# --- the host, live ---------------------------------------------------------------------------------

def _host(text: str, level: int, size: int, buf: bool) -> tuple[bool, int, int, str]:
    """BPF_PROG_LOAD on the host with exactly these log attributes (the buffer may be
    absent, or present with size 0: cases emu.host.hostbpf.prog_load does not make)."""
    from emu.host import hostbpf as hb

    insns = encode(assemble(text))
    ins = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL\0")
    logb = ctypes.create_string_buffer(max(min(size, 1 << 20), 1)) if buf else None
    a = bytearray(hb.ATTR_SIZE)
    struct.pack_into("<IIQQIIQ", a, 0, SOCKET_FILTER, len(insns) // 8, ctypes.addressof(ins),
                     ctypes.addressof(lic), level, size, ctypes.addressof(logb) if logb is not None else 0)
    fd, err = hb.sys_bpf(hb.BPF_PROG_LOAD, a)
    (true_size,) = struct.unpack_from("<I", a, 140)
    if fd >= 0:
        hb.close(fd)
    log = logb.value.decode() if logb is not None and size <= 1 << 20 else ""
    return fd >= 0, 0 if fd >= 0 else err, true_size, log


@pytest.mark.kernel
@pytest.mark.parametrize("attrs", [a for a in ATTRS if a[1] <= 1 << 20], ids=str)
@pytest.mark.parametrize("text", [STRAIGHT, REJECTED, loop(40)], ids=["straight", "rejected", "loop40"])
def test_log_attributes_against_host(text: str, attrs: tuple[int, int, bool]) -> None:
    """Verdict, errno, log_true_size and the buffer's text, emulated bpf() against the host."""
    level, size, buf = attrs
    host = _host(text, level, size, buf)
    ours = _emulated(Kernel(), text, level, size, buf)
    assert ours == host


@pytest.mark.kernel
@pytest.mark.parametrize("n", [300, 3000])
def test_loop_log_true_size_against_host(n: int) -> None:
    """The level-1 loop: the host's log_true_size, ENOSPC one byte short, loads at size."""
    host = _host(loop(n), 1, 0, False)
    assert host[0]
    true_size = host[2]
    for size in (true_size - 1, true_size):
        h = _host(loop(n), 1, size, True)
        r = verify(assemble(loop(n)), VerifierEnv(log_size=size), log_level=1)
        assert (r.accepted, r.errno, r.log_true_size, r.log) == h


def test_a_btf_string_with_invalid_utf8_goes_into_the_log_as_its_bytes() -> None:
    """A source line of a malformed .BTF.ext reaches the log as the bytes it is (the kernel
    copies them); our BTF strings decode with surrogateescape, the log encodes them back."""
    from verifier.log import VLog

    log = VLog(1)
    log.write("; ret\udc80urn @ f.c:3\n")
    assert bytes(log.buf[:log.end]) == b"; ret\x80urn @ f.c:3\n"
    assert log.text() == "; ret\ufffdurn @ f.c:3\n"
