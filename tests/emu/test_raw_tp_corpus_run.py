"""Every raw_tp program of the committed selftest corpus that the host accepts, loaded
alone as libbpf would load it and test-run with a zeroed 96-byte argument array: the
emulated kernel's retval (or errno) against the host's BPF_PROG_TEST_RUN (``kernel``
mark). A run the emulated kernel stops as not modelled (a helper without a body here) is
skipped with its reason, never counted as agreement; a program calling a helper that acts
on the host (trace_printk, signals, user memory writes...) is not run there."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from kernel_model import isa
from kernel_model.errors import ExecFault, KernelError, NotModelled
from kernel_model.uapi import PROG_TYPE_RAW_TRACEPOINT

from tests.conftest import ROOT

OBJECTS = ROOT / "tests/data/selftests/objects"
#: helpers whose run leaves nothing behind on the host but the program's own maps: map
#: operations, clocks, random numbers, the CPU and NUMA ids, the current pid/tgid (the
#: test's own), kernel-memory reads, spin locks, ring buffers, tail calls, loops
HOST_SAFE_HELPERS = frozenset({1, 2, 3, 5, 7, 8, 12, 14, 42, 87, 88, 89, 93, 94, 113, 115, 118, 125, 130, 131,
                               132, 133, 134, 160, 181, 195, 208})
#: a million bpf_iter_num_next calls (bpf_repeat(1000000)): milliseconds on the host, minutes
#: of Python-serviced kfunc calls here (the soft-lockup watchdog stops them)
TOO_LONG = {("iters.o", "iter_err_too_permissive2"), ("iters.o", "iter_err_too_permissive3")}


def _corpus() -> list[tuple[str, str]]:
    out = []
    with open(ROOT / "tests/data/selftests/labels.jsonl") as f:
        for line in f:
            d = json.loads(line)
            load = d.get("load")
            if load and load["prog_type"] == PROG_TYPE_RAW_TRACEPOINT and d["errno"] == 0:
                out.append((d["object"], d["program"]))
    return out


CORPUS = _corpus()


def _load(sys_: Any, obj_name: str, prog: str, kernel: bool) -> Any:
    from emu.libbpf import BpfObject, KernelBtf, Log

    obj = BpfObject.open_file(str(OBJECTS / obj_name), log=Log(stream=None))
    for p in obj.programs:
        p.set_autoload(p.name == prog)
    if kernel:
        obj.prepare(kernel_btf=KernelBtf.from_kernel(sys_))
    else:
        obj.prepare(sys_)
    obj.load(sys_)
    return obj


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from emu.kernel import Kernel

    k = Kernel()
    yield k
    k.shutdown()


def test_the_corpus_has_raw_tp_programs() -> None:
    assert len(CORPUS) > 100 and ("test_raw_tp_test_run.o", "rename") in CORPUS


@pytest.mark.kernel
@pytest.mark.parametrize("obj_name,prog", CORPUS, ids=[f"{o}:{p}" for o, p in CORPUS])
def test_corpus_raw_tp_runs_as_on_the_host(kernel: Any, obj_name: str, prog: str) -> None:
    from emu.host import hostbpf as hb
    from emu.host.hostsys import HostSys
    from emu.libbpf.errors import LibbpfError

    if (obj_name, prog) in TOO_LONG:
        pytest.skip("a million kfunc iterations: too long for the emulator's test")
    try:
        eo = _load(kernel, obj_name, prog, True)
    except (LibbpfError, NotModelled) as e:
        pytest.skip(f"not loaded by the emulated kernel: {e}")
    try:
        helpers = {i.imm for i in eo.progs[prog].insns if i.code == isa.CALL_INSN and i.src == 0}
        try:
            ours: Any = kernel.prog_test_run(eo.progs[prog].fd, ctx_in=bytes(96)).retval
        except ExecFault as e:
            if e.kind != "not modelled":
                raise
            pytest.skip(f"not modelled: {e}")
        except NotModelled as e:
            pytest.skip(f"not modelled: {e}")
        except KernelError as e:
            ours = e.errno
    finally:
        eo.close()
    if not helpers <= HOST_SAFE_HELPERS:
        pytest.skip(f"not run on the host: helpers {sorted(helpers - HOST_SAFE_HELPERS)} act on it")
    hs = HostSys()
    try:
        ho = _load(hs, obj_name, prog, False)
        try:
            host: Any = hb.test_run(ho.progs[prog].fd, ctx_in=bytes(96)).retval
        except OSError as e:
            host = e.errno
    finally:
        hs.close_all()
    assert ours == host
