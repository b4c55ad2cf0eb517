"""``structops sim tcp`` with a BPF congestion control: simulation speed and member
call rates, as ratios against baselines timed in the same process.

Scenario: one flow, 100 Mbit/s, 20 ms RTT, 100-packet buffer, 10 simulated seconds
(2 with --quick), the BPF Reno of examples/tcp_reno_kfuncs.bpf.o (every member a
kfunc call) loaded into the emulated kernel.

1. Simulated seconds per wall second, BPF Reno against the built-in Python Reno
   (same events, same cwnd sequence), runs alternated.
2. Member calls per second during the simulation (the Python-driven path: copy the
   socket into emulated memory, one ``emu_start`` through
   ``bpf_struct_ops_call_member`` -> trampoline -> JIT'd program -> kfunc stub,
   copy the writable fields back) against the in-emulator call rate of the same
   member: ``bpf_test_run_loop`` calling the ``ssthresh`` trampoline (which calls
   the ``tcp_reno_ssthresh`` kfunc) n times in one ``emu_start``; and against a
   bare Python-driven ``call_member`` of that member (no socket copies).

Usage: python benchmarks/sim_tcp.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emu.sim.tcp import load_bpf_ca, run_tcp  # noqa: E402
from kernel_model.subsystems.tcp_cong import Reno  # noqa: E402
from kernel_model.subsystems.tcp_sender import LinkConfig, Simulation, TcpSock  # noqa: E402

OBJ = str(ROOT / "examples" / "tcp_reno_kfuncs.bpf.o")


def main() -> int:
    quick = "--quick" in sys.argv
    duration = 2.0 if quick else 10.0
    runs = 1 if quick else 3
    cfg = LinkConfig(bw_mbit=100, rtt_ms=20, buffer=100, duration=duration)

    # 1. simulated seconds per wall second (the BPF side includes no load: the kernel,
    #    object and registration are made once, as a user's sweep over scenarios would)
    k, _obj, ops = load_bpf_ca(OBJ)
    bpf_rates, py_rates, call_rates = [], [], []
    calls = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        sim = Simulation(cfg, lambda i: Reno())
        sim.run()
        t1 = time.perf_counter()
        before = ops.member_calls
        ops.forget_sockets()
        sim_b = Simulation(cfg, lambda i: ops)
        sim_b.run()
        t2 = time.perf_counter()
        calls = ops.member_calls - before
        py_rates.append(duration / (t1 - t0))
        bpf_rates.append(duration / (t2 - t1))
        call_rates.append(calls / (t2 - t1))
        assert [s.cwnd for s in sim.samples] == [s.cwnd for s in sim_b.samples]
    py, bpf, per_s = (statistics.median(x) for x in (py_rates, bpf_rates, call_rates))
    print(f"sim tcp: {duration:g} s at 100 Mbit/s, 20 ms: BPF Reno {bpf:.2f} simulated s per wall s, "
          f"built-in Reno {py:.2f} ({bpf / py:.2f}x); {calls} member calls per run")

    # 2. member calls per second: in the simulation, in-emulator loop, bare Python-driven calls
    m = ops.machine
    sk = TcpSock(flow=99, snd_cwnd=40)
    addr = ops.socket_address(sk)
    ops.call(sk, "ssthresh")  # the socket image is in memory now
    tramp = m.read_u64(ops.kdata_addr + ops.offsets["ssthresh"])
    n = 20_000 if quick else 200_000
    m.runner.run_loop(tramp, addr, 100)
    t0 = time.perf_counter()
    assert m.runner.run_loop(tramp, addr, n) == 20
    loop_rate = n / (time.perf_counter() - t0)
    nb = 5_000 if quick else 30_000
    off = ops.offsets["ssthresh"]
    t0 = time.perf_counter()
    for _ in range(nb):
        m.call_member(ops.kdata_addr, off, [addr])
    bare_rate = nb / (time.perf_counter() - t0)
    print(f"sim tcp: member calls {per_s / 1e3:.1f} k/s in the simulation vs {loop_rate / 1e3:.1f} k/s "
          f"in-emulator (bpf_test_run_loop, ssthresh + its kfunc) = {per_s / loop_rate:.3f}x; "
          f"bare Python-driven call_member {bare_rate / 1e3:.1f} k/s ({per_s / bare_rate:.2f}x)")
    k.shutdown()
    if not quick:
        res = run_tcp(cfg, obj_path=OBJ)
        print(f"sim tcp: run_tcp end to end (kernel, load, verify, JIT, register, simulate) "
              f"{res.wall_seconds:.2f} s for {duration:g} simulated s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
