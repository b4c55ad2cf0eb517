"""sim sched with BPF schedulers: the committed example objects, objects compiled
at test time against `structops btf dump --kernel --format c`, the CLI, the
verifier policy of sched_ext_ops, and the kernel's scx_simple (built from the
Debian package linux-source-6.12 when it is installed)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emu.kernel import Kernel
from emu.sim.sched import simulate
from emu.sim.sched_cli import main as sched_main
from kernel_model.subsystems.sched_ext import SCX_SLICE_DFL
from kernel_model.profile import get_profile

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"
MS = 1_000_000
CLANG = shutil.which("clang")


def _compile(tmp: Path, src: str, profile: str = "latest", extra: tuple[str, ...] = ()) -> str:
    if CLANG is None:
        pytest.skip("clang is not installed")
    h = subprocess.run([str(ROOT / ".venv/bin/structops") if (ROOT / ".venv/bin/structops").exists() else "structops",
                        "btf", "dump", "--kernel", "--format", "c", "--profile", profile],
                       capture_output=True, text=True, check=True).stdout
    (tmp / "vmlinux.h").write_text(h)
    (tmp / "prog.bpf.c").write_text(src)
    out = tmp / "prog.bpf.o"
    subprocess.run([CLANG, "-target", "bpf", "-mcpu=v3", "-O2", "-g", f"-I{tmp}", "-I/usr/include/x86_64-linux-gnu",
                    *extra, "-c", str(tmp / "prog.bpf.c"), "-o", str(out)], check=True, capture_output=True)
    return str(out)


GLOBAL_FIFO = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char _license[] SEC("license") = "GPL";
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym;
SEC("struct_ops/enq")
void BPF_PROG(enq, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}
SEC(".struct_ops.link")
struct sched_ext_ops g = { .enqueue = (void *)enq, .name = "g" };
"""


def test_a_global_dsq_scheduler_compiled_against_our_vmlinux_h_keeps_cpus_busy(tmp_path: Path) -> None:
    """The acceptance property: tasks outnumber CPUs, every task gets CPU time, CPUs >= 90% busy."""
    obj = _compile(tmp_path, GLOBAL_FIFO)
    res = simulate(obj, cpus=4, tasks=10, duration_ns=500 * MS, seed=3)
    assert all(t["runtime_ns"] > 0 for t in res.tasks)
    assert res.summary["utilization"] >= 0.9
    assert res.summary["member_calls"]["enqueue"] > 0
    assert res.summary["kfunc_calls"]["scx_bpf_dsq_insert"] == res.summary["member_calls"]["enqueue"]
    assert res.summary["exit"]["reason"] == "unregistered from user space"


def test_the_committed_examples_run() -> None:
    g = simulate(str(EX / "scx_global.bpf.o"), cpus=2, tasks=5, duration_ns=300 * MS, seed=1)
    v = simulate(str(EX / "scx_vtime.bpf.o"), cpus=2, tasks=5, duration_ns=300 * MS, seed=1)
    for r in (g, v):
        assert all(t["runtime_ns"] > 0 for t in r.tasks)
        assert r.summary["utilization"] > 0.9
    calls = v.summary["member_calls"]
    assert calls["init"] == 1 and calls["exit"] == 1 and calls["enable"] == 5
    assert calls["running"] == calls["stopping"] or abs(calls["running"] - calls["stopping"]) <= 2
    assert v.summary["kfunc_calls"]["scx_bpf_create_dsq"] == 1


def test_the_bpf_program_and_a_python_twin_agree() -> None:
    """The global-FIFO program and the same policy in Python make the same decisions."""
    from emu.sim.sched import PyOps
    from kernel_model.subsystems.sched_ext import SCX_DSQ_GLOBAL

    class G(PyOps):
        name = "g"

        def enqueue(self, p, f):  # type: ignore[no-untyped-def]
            self.scx.dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, f)

    a = simulate(str(EX / "scx_global.bpf.o"), cpus=3, tasks=7, duration_ns=400 * MS, seed=5)
    b = simulate(None, ops=G(), cpus=3, tasks=7, duration_ns=400 * MS, seed=5)
    assert a.tasks == b.tasks


def test_program_writes_to_slice_reach_the_core(tmp_path: Path) -> None:
    src = GLOBAL_FIFO.replace("scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);",
                              "scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);\n"
                              "}\nSEC(\"struct_ops/run\")\nvoid BPF_PROG(run, struct task_struct *p)\n{\n"
                              "\tp->scx.slice = 5000000;")
    src = src.replace(".enqueue = (void *)enq,", ".enqueue = (void *)enq, .running = (void *)run,")
    obj = _compile(tmp_path, src)
    res = simulate(obj, cpus=1, tasks=[__import__("emu.sim.sched", fromlist=["TaskSpec"]).TaskSpec(
        f"t{i}", run_ns=10**9) for i in range(2)], duration_ns=200 * MS)
    # 5 ms slices, charged at 4 ms ticks: a switch every 8 ms instead of every 20
    assert res.summary["switches"] >= 20


def test_writing_other_task_fields_is_refused_by_the_verifier(tmp_path: Path) -> None:
    src = GLOBAL_FIFO.replace("scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);",
                              "p->scx.weight = 1;\n\tscx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, "
                              "enq_flags);")
    obj = _compile(tmp_path, src)
    from emu.libbpf import ProgLoadFailed

    with pytest.raises(ProgLoadFailed) as ei:
        simulate(obj, cpus=1, tasks=1, duration_ns=10 * MS)
    assert "only read is supported" in ei.value.last_line()


def test_profile_names_of_kfuncs_and_stubs() -> None:
    k612, k618 = Kernel(get_profile("6.12"), modules=()), Kernel(get_profile("latest"), modules=())
    n612 = {e.name for e in k612.kfuncs.entries}
    n618 = {e.name for e in k618.kfuncs.entries}
    assert {"scx_bpf_dispatch", "scx_bpf_consume"} <= n612 and not {"scx_bpf_dsq_insert", "scx_bpf_now"} & n612
    assert {"scx_bpf_dsq_insert", "scx_bpf_dsq_move_to_local", "scx_bpf_now"} <= n618
    assert "scx_bpf_dispatch" not in n618
    d612, d618 = k612.struct_ops_type("sched_ext_ops"), k618.struct_ops_type("sched_ext_ops")
    assert d612.ops.cfi_stubs["dispatch"] == "dispatch_stub"
    assert d618.ops.cfi_stubs["dispatch"] == "sched_ext_ops__dispatch"
    assert not d612.member("dispatch").arg_info and d618.member("dispatch").arg_info  # prev__nullable
    assert d618.member("priv") is not None and d612.member("priv") is None
    with pytest.raises(Exception) as ei:
        Kernel(get_profile("6.8"), modules=()).struct_ops_type("sched_ext_ops")
    assert getattr(ei.value, "errno", None) == errno.ENOENT


def test_init_member_rules() -> None:
    """bpf_scx_init_member: flags outside SCX_OPS_ALL_FLAGS, a timeout above 30 s."""
    import struct as st

    k = Kernel(modules=())
    d = k.struct_ops_type("sched_ext_ops")
    init_member = d.ops.init_member
    fl, to, nm = d.member("flags"), d.member("timeout_ms"), d.member("name")
    u = bytearray(d.size)
    kd = bytearray(d.size)
    st.pack_into("<Q", u, fl.offset, 1 << 20)
    assert init_member(fl, kd, bytes(u)) == -errno.EINVAL
    st.pack_into("<I", u, to.offset, 30001)
    assert init_member(to, kd, bytes(u)) == -errno.E2BIG
    st.pack_into("<I", u, to.offset, 30000)
    assert init_member(to, kd, bytes(u)) == 1
    assert init_member(nm, kd, bytes(u)) == -errno.EINVAL  # empty name
    u[nm.offset:nm.offset + 4] = b"a-b\0"
    assert init_member(nm, kd, bytes(u)) == -errno.EINVAL


def test_cli_json_and_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg = tmp_path / "t.svg"
    assert sched_main([str(EX / "scx_vtime.bpf.o"), "--cpus", "2", "--tasks", "3", "--duration", "0.1",
                       "--json", "--plot", str(svg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"tasks", "cpus", "summary"}
    assert {"pid", "runtime_ns", "wait_ns", "switches"} <= set(out["tasks"][0])
    assert [c["cpu"] for c in out["cpus"]] == [0, 1] and all("busy_ns" in c for c in out["cpus"])
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert sched_main(["--duration", "0.05", "--json"]) == 0  # no object: the fallback FIFO
    fifo = json.loads(capsys.readouterr().out)
    assert fifo["summary"]["scheduler"].startswith("fallback FIFO") and not fifo["summary"]["member_calls"]


def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sched_main(["--cpus", "0"]) == 2
    assert "1..64 CPUs" in capsys.readouterr().err
    assert sched_main([str(tmp_path / "missing.o")]) == 2
    assert sched_main(["--plot", str(tmp_path / "x.gif"), "--duration", "0.01"]) == 2
    assert sched_main([str(EX / "tcp_ca.bpf.o"), "--duration", "0.01"]) == 2
    assert "no struct_ops map of type sched_ext_ops" in capsys.readouterr().err


def test_cli_is_deterministic_for_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    outs = []
    for _ in range(2):
        assert sched_main([str(EX / "scx_vtime.bpf.o"), "--duration", "0.1", "--seed", "7", "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
        d["summary"].pop("wall_s")
        d["summary"].pop("sim_s_per_wall_s")
        outs.append(d)
    assert outs[0] == outs[1]


DEBIAN_SRC = Path("/usr/src/linux-source-6.12.tar.xz")


@pytest.fixture(scope="module")
def scx_simple(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tools/sched_ext/scx_simple.bpf.c of Linux 6.12 (Debian package linux-source-6.12),
    compiled against our 6.12 vmlinux.h and the scx headers (-mcpu=v3, as its Makefile)."""
    if not DEBIAN_SRC.exists():
        pytest.skip("needs the Debian package linux-source-6.12")
    if CLANG is None or shutil.which("tar") is None:
        pytest.skip("clang and tar are needed")
    tmp = tmp_path_factory.mktemp("scx_simple")
    subprocess.run(["tar", "-xJf", str(DEBIAN_SRC), "-C", str(tmp), "--wildcards", "*/tools/sched_ext/*"],
                   check=True, capture_output=True)
    base = next(tmp.glob("linux-source-6.12*/tools/sched_ext"))
    return _compile(tmp, (base / "scx_simple.bpf.c").read_text(), profile="6.12",
                    extra=(f"-I{base / 'include'}", f"-I{base / 'include/bpf-compat'}", "-D__TARGET_ARCH_x86"))


P612 = get_profile("6.12")


@pytest.mark.parametrize("fifo", [0, 1])
def test_kernel_scx_simple_runs_and_counts_its_dispatches(scx_simple: str, fifo: int) -> None:
    """scx_simple loads (its seven programs verify: kfunc memory arguments, the frozen
    .rodata read as constants) and schedules: every task runs, the CPUs stay busy, and
    its per-CPU 'stats' map counts [local, global] queueings as its members ran."""
    res = simulate(scx_simple, cpus=2, tasks=6, duration_ns=300 * MS, seed=1, profile=P612,
                   variables={"fifo_sched": fifo})
    s = res.summary
    assert all(t["runtime_ns"] > 0 for t in res.tasks)
    assert s["utilization"] > 0.9
    assert s["exit"]["reason"] == "unregistered from user space"
    local, glob = (sum(per_cpu) for per_cpu in s["maps"]["stats"])
    assert glob == s["member_calls"]["enqueue"] > 0
    calls = s["kfunc_calls"]
    # the rodata switch: FIFO inserts into the shared DSQ, vtime mode with a vtime
    if fifo:
        assert "scx_bpf_dispatch_vtime" not in calls and calls["scx_bpf_dispatch"] == local + glob
    else:
        assert calls["scx_bpf_dispatch_vtime"] == glob and calls.get("scx_bpf_dispatch", 0) == local


def test_kernel_scx_simple_dispatches_locally_to_idle_cpus(scx_simple: str) -> None:
    from emu.sim.sched import TaskSpec

    wl = [TaskSpec(f"ui{i}", run_ns=MS, sleep_ns=10 * MS) for i in range(3)]
    res = simulate(scx_simple, cpus=4, tasks=wl, duration_ns=200 * MS, profile=P612)
    local, glob = (sum(per_cpu) for per_cpu in res.summary["maps"]["stats"])
    # three sleepers on four CPUs: every wakeup finds an idle CPU (select_cpu_dfl's is_idle)
    assert local == res.summary["kfunc_calls"]["scx_bpf_dispatch"] == res.summary["member_calls"]["select_cpu"]
    assert glob == 0 and all(t["runtime_ns"] > 0 for t in res.tasks)


def test_kernel_scx_simple_vtime_mode_follows_weights(scx_simple: str) -> None:
    """Four CPU hogs on one CPU, two at nice 5 (scx weight 33 against 100): in vtime mode
    their runtime follows the weights (stopping charges slice used * 100 / weight); in
    FIFO mode they share alike."""
    from emu.sim.sched import TaskSpec

    wl = [TaskSpec(n, run_ns=10**9, nice=nice) for n, nice in (("a", 0), ("b", 0), ("c", 5), ("d", 5))]
    rt = {}
    for fifo in (0, 1):
        res = simulate(scx_simple, cpus=1, tasks=wl, duration_ns=2000 * MS, profile=P612,
                       variables={"fifo_sched": fifo})
        rt[fifo] = {t["comm"]: t["runtime_ns"] for t in res.tasks}
    assert 2.5 < rt[0]["a"] / rt[0]["c"] < 3.5
    assert 0.9 < rt[1]["a"] / rt[1]["c"] < 1.1


def test_kernel_scx_simple_from_the_cli(scx_simple: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert sched_main([scx_simple, "--profile", "6.12", "--cpus", "2", "--tasks", "3", "--duration", "0.1",
                       "--set", "fifo_sched=1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["scheduler"] == "simple" and len(out["summary"]["maps"]["stats"]) == 2
    assert "scx_bpf_dispatch_vtime" not in out["summary"]["kfunc_calls"]
    assert sched_main([scx_simple, "--profile", "6.12", "--duration", "0.01", "--set", "no_such_var=1"]) == 2
    assert "no global variable 'no_such_var'" in capsys.readouterr().err
    assert sched_main([scx_simple, "--duration", "0.01", "--set", "fifo_sched"]) == 2
    assert os.path.getsize(scx_simple) > 0
