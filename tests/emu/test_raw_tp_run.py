"""BPF_PROG_TEST_RUN of raw tracepoint programs (emu.kernel.test_run_raw_tp): the u64
argument array and its ``max_ctx_offset`` bound, ``BPF_F_TEST_RUN_ON_CPU`` on the emulated
CPUs, the argument checks, raw_tracepoint.w (no test run) and tp_btf (``-EFAULT``), the
selftest object test_raw_tp_test_run.o -- and, marked ``kernel``, the same against the host."""

from __future__ import annotations

import errno as E
import os
import struct
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_model.asm import assemble
from kernel_model.btf import structs as S
from kernel_model.errors import ExecFault, KernelError
from kernel_model.insn import encode
from kernel_model.uapi import PROG_TYPE_RAW_TRACEPOINT, PROG_TYPE_RAW_TRACEPOINT_WRITABLE, PROG_TYPE_TRACING

from tests.conftest import ROOT

OBJ = ROOT / "tests/data/selftests/objects/test_raw_tp_test_run.o"
ON_CPU = 1  # BPF_F_TEST_RUN_ON_CPU
ARGS = struct.pack("<QQ", 0x1234, 0x5678)
WANT = 0x1234 + 0x5678  # the selftest's expected_retval
BPF_TRACE_RAW_TP = 23
#: ENOTSUPP (include/linux/errno.h): the kernel's answer for a type without test_run
ENOTSUPP = 524


def _host_cpus() -> int:
    """How many CPUs the host's kernel has online (read, never assumed)."""
    return len(os.sched_getaffinity(0))


class Loaded:
    """test_raw_tp_test_run.o loaded into ``sys_`` (no attach: the selftest's rename
    trigger is not reproduced; only its test runs are)."""

    def __init__(self, sys_: Any, kernel: bool) -> None:
        from emu.libbpf import BpfObject, KernelBtf

        self.sys = sys_
        self.obj = BpfObject.open_file(str(OBJ))
        if kernel:
            self.obj.prepare(kernel_btf=KernelBtf.from_kernel(sys_))
        else:
            self.obj.prepare(sys_)
        self.obj.load(sys_)
        self.fd = self.obj.progs["rename"].fd
        self.data_fd = next(m.fd for m in self.obj.maps if m.name.endswith(".data"))
        self.bss_fd = next(m.fd for m in self.obj.maps if m.name.endswith(".bss"))


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from emu.kernel import Kernel

    k = Kernel(modules=(), nr_cpus=3)
    yield k
    k.shutdown()


@pytest.fixture(scope="module")
def emu_obj(kernel: Any) -> Loaded:
    return Loaded(kernel, True)


def _emu(kernel: Any, asm: str, ptype: int = PROG_TYPE_RAW_TRACEPOINT, **kw: Any) -> Any:
    fd = kernel.prog_load(assemble(asm), prog_type=ptype)
    try:
        return kernel.prog_test_run(fd, **kw)
    finally:
        kernel.close(fd)


def _host(asm: str, ptype: int = PROG_TYPE_RAW_TRACEPOINT, **kw: Any) -> Any:
    from emu.host import hostbpf as hb

    r = hb.prog_load(ptype, encode(assemble(asm)), log_level=1)
    assert r.accepted, r.log
    try:
        return hb.test_run(r.fd, **kw)
    finally:
        r.close()


# --- max_ctx_offset --------------------------------------------------------------------------------
@pytest.mark.parametrize("asm,want", [
    ("r0 = 0\nexit", 0),
    ("r0 = *(u64 *)(r1 +16)\nexit", 24),
    ("r0 = *(u32 *)(r1 +4)\nexit", 8),
    ("r2 = *(u8 *)(r1 +95)\nr0 = *(u64 *)(r1 +0)\nexit", 96),
    ("r2 = r1\nr0 = *(u64 *)(r2 +40)\nexit", 48),       # through a copy of the context register
    ("if r1 == 0 goto +1\nr0 = *(u64 *)(r1 +8)\nr0 = 0\nexit", 16),  # on one path only
])
def test_max_ctx_offset_is_the_furthest_context_read(kernel: Any, asm: str, want: int) -> None:
    from emu.kernel.test_run_raw_tp import max_ctx_offset

    fd = kernel.prog_load(assemble(asm), prog_type=PROG_TYPE_RAW_TRACEPOINT)
    try:
        assert max_ctx_offset(kernel.fds.objects[fd]) == want
        if want:
            with pytest.raises(KernelError) as ei:
                kernel.prog_test_run(fd, ctx_in=bytes(want - 1))
            assert ei.value.errno == E.EINVAL
        assert kernel.prog_test_run(fd, ctx_in=bytes(want)).retval == 0
    finally:
        kernel.close(fd)


# --- the selftest object --------------------------------------------------------------------------
def test_selftest_program_runs_on_every_emulated_cpu(kernel: Any, emu_obj: Loaded) -> None:
    """prog_tests/raw_tp_test_run.c: the arguments reach the program, which records
    bpf_get_smp_processor_id() in on_cpu; BPF_F_TEST_RUN_ON_CPU runs it on CPU i."""
    assert kernel.prog_test_run(emu_obj.fd, ctx_in=ARGS).retval == WANT
    for cpu in range(kernel.nr_cpus):
        r = kernel.prog_test_run(emu_obj.fd, ctx_in=ARGS, flags=ON_CPU, cpu=cpu)
        assert r.retval == WANT
        assert struct.unpack("<I", kernel.map_lookup_elem(emu_obj.data_fd, bytes(4))[:4])[0] == cpu
    assert kernel.machine.runner.cpu == 0  # the syscall's CPU again afterwards
    assert kernel.prog_test_run(emu_obj.fd, ctx_in=struct.pack("<QQ", 1, 2)).retval == 0


ARG_CASES: list[tuple[dict[str, Any], int]] = [
    ({"ctx_in": ARGS[:8]}, E.EINVAL),                          # below max_ctx_offset
    ({"ctx_in": ARGS + bytes(81)}, E.EINVAL),                  # above MAX_BPF_FUNC_ARGS u64s
    ({"ctx_in": ARGS, "cpu": 1}, E.EINVAL),                    # a cpu without the flag
    ({"ctx_in": ARGS, "flags": ON_CPU, "cpu": 0xFFFFFFFF}, E.ENXIO),
    ({"ctx_in": ARGS, "data_in": bytes(14)}, E.EINVAL),
    ({"ctx_in": ARGS, "data_out_size": 16}, E.EINVAL),
    ({"ctx_in": ARGS, "ctx_out_size": 16}, E.EINVAL),
]


@pytest.mark.parametrize("kw,err", ARG_CASES, ids=[str(i) for i in range(len(ARG_CASES))])
def test_argument_checks(kernel: Any, emu_obj: Loaded, kw: dict[str, Any], err: int) -> None:
    with pytest.raises(KernelError) as ei:
        kernel.prog_test_run(emu_obj.fd, **kw)
    assert ei.value.errno == err


def test_a_cpu_the_machine_lacks_is_enxio_and_repeat_is_refused(kernel: Any, emu_obj: Loaded) -> None:
    with pytest.raises(KernelError) as ei:
        kernel.prog_test_run(emu_obj.fd, ctx_in=ARGS, flags=ON_CPU, cpu=kernel.nr_cpus)
    assert ei.value.errno == E.ENXIO
    with pytest.raises(KernelError) as ei:
        kernel.prog_test_run(emu_obj.fd, ctx_in=ARGS, repeat=2)
    assert ei.value.errno == E.EINVAL
    r = kernel.prog_test_run(emu_obj.fd, ctx_in=ARGS, flags=ON_CPU | 6)  # other flag bits: unchecked
    assert r.retval == WANT


def test_no_ctx_in_gives_a_null_context(kernel: Any) -> None:
    asm = "r0 = 5\nif r1 == 0 goto +1\nr0 = 6\nexit"
    assert _emu(kernel, asm).retval == 5
    assert _emu(kernel, asm, ctx_in=bytes(8)).retval == 6


def test_raw_tp_writable_and_tp_btf_have_no_test_run(kernel: Any) -> None:
    """raw_tracepoint_writable_prog_ops has no test_run (-ENOTSUPP); a tp_btf program
    reaches bpf_prog_test_run_tracing's default (-EFAULT), flags first (-EINVAL)."""
    with pytest.raises(KernelError) as ei:
        _emu(kernel, "r0 = 7\nexit", PROG_TYPE_RAW_TRACEPOINT_WRITABLE, ctx_in=bytes(8))
    assert ei.value.errno == ENOTSUPP
    tid = kernel.btf.find("btf_trace_task_newtask", S.KIND_TYPEDEF)
    fd = kernel.prog_load(assemble("r0 = 7\nexit"), prog_type=PROG_TYPE_TRACING, expected_attach_type=BPF_TRACE_RAW_TP,
                          attach_btf_id=tid)
    try:
        for kw, err in (({}, E.EFAULT), ({"ctx_in": bytes(8)}, E.EFAULT), ({"flags": ON_CPU}, E.EINVAL)):
            with pytest.raises(KernelError) as ei:
                kernel.prog_test_run(fd, **kw)
            assert ei.value.errno == err
    finally:
        kernel.close(fd)


def test_a_helper_without_a_body_stops_the_run_as_not_modelled(kernel: Any) -> None:
    with pytest.raises(ExecFault) as ei:
        _emu(kernel, "r1 = 9\ncall bpf_send_signal\nr0 = 1\nexit")  # no run-time body: it would signal a task
    assert ei.value.kind == "not modelled"


# --- against the host ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def host_obj() -> Iterator[Loaded]:
    from emu.host.hostsys import HostSys

    hs = HostSys()
    yield Loaded(hs, False)
    hs.close_all()


@pytest.fixture(scope="module")
def twin() -> Iterator[Any]:
    """An emulated kernel with the host's number of CPUs (at most 16)."""
    from emu.kernel import Kernel

    k = Kernel(modules=(), nr_cpus=min(_host_cpus(), 16))
    yield k
    k.shutdown()


@pytest.mark.kernel
def test_selftest_program_as_on_the_host(twin: Any, host_obj: Loaded) -> None:
    from emu.host import hostbpf as hb

    e = Loaded(twin, True)
    runs = [{"ctx_in": ARGS}, {"ctx_in": struct.pack("<QQ", 1, 2)}, {"ctx_in": ARGS + bytes(80)}]
    runs += [{"ctx_in": ARGS, "flags": ON_CPU, "cpu": c} for c in range(twin.nr_cpus)]
    for kw in runs:
        er = twin.prog_test_run(e.fd, **kw)
        hr = hb.test_run(host_obj.fd, **kw)
        assert er.retval == hr.retval, kw
        on_e = twin.map_lookup_elem(e.data_fd, bytes(4))[:4]
        on_h = hb.map_lookup(host_obj.data_fd, bytes(4), 4)
        if "flags" in kw:  # without BPF_F_TEST_RUN_ON_CPU the host runs on the caller's CPU, any
            assert on_e == on_h, kw
    count_e = twin.map_lookup_elem(e.bss_fd, bytes(4))[:4]
    assert count_e == struct.pack("<I", len(runs))


@pytest.mark.kernel
@pytest.mark.parametrize("kw,err", ARG_CASES, ids=[str(i) for i in range(len(ARG_CASES))])
def test_argument_checks_as_on_the_host(host_obj: Loaded, kw: dict[str, Any], err: int) -> None:
    from emu.host import hostbpf as hb

    with pytest.raises(OSError) as ei:
        hb.test_run(host_obj.fd, **kw)
    assert ei.value.errno == err


@pytest.mark.kernel
def test_no_test_run_types_as_on_the_host() -> None:
    from emu.host import hostbpf as hb

    with pytest.raises(OSError) as ei:
        _host("r0 = 7\nexit", PROG_TYPE_RAW_TRACEPOINT_WRITABLE, ctx_in=bytes(8))
    assert ei.value.errno == ENOTSUPP
    tid = hb.host_btf_id("btf_trace_task_newtask", "typedef")
    assert tid
    r = hb.prog_load(PROG_TYPE_TRACING, encode(assemble("r0 = 7\nexit")), expected_attach_type=BPF_TRACE_RAW_TP,
                     attach_btf_id=tid, log_level=0)
    assert r.accepted
    try:
        for kw, err in (({}, E.EFAULT), ({"ctx_in": bytes(8)}, E.EFAULT), ({"flags": ON_CPU}, E.EINVAL)):
            with pytest.raises(OSError) as ei:
                hb.test_run(r.fd, **kw)
            assert ei.value.errno == err
    finally:
        r.close()


def _mix_prog(offs: list[tuple[int, int]]) -> str:
    """r0 = a mix of the context reads at (offset, size)."""
    names = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
    lines = ["r0 = 0"]
    for k, (off, size) in enumerate(offs):
        lines += [f"r2 = *({names[size]} *)(r1 +{off})", f"r0 *= {2 * k + 3}", "r0 ^= r2"]
    lines += ["if r1 != 0 goto +1", "r0 = 77", "exit"]
    return "\n".join(lines)


_READS = st.lists(st.sampled_from([1, 2, 4, 8]).flatmap(
    lambda size: st.tuples(st.integers(0, 96 // size - 1).map(lambda i: i * size), st.just(size))), max_size=4)


@pytest.mark.kernel
@settings(max_examples=60, deadline=None)
@given(reads=_READS, ctx=st.binary(max_size=104))
def test_random_reads_and_sizes_as_on_the_host(kernel: Any, reads: list[tuple[int, int]], ctx: bytes) -> None:
    """Drawn context reads (offset, size) and a drawn ctx_in: the same retval, or the same
    errno (ctx_in below the furthest read or above 96 bytes)."""
    asm = _mix_prog(reads)
    try:
        got: Any = _emu(kernel, asm, ctx_in=ctx).retval
    except KernelError as e:
        got = e.errno
    try:
        want: Any = _host(asm, ctx_in=ctx).retval
    except OSError as e:
        want = e.errno
    assert got == want
