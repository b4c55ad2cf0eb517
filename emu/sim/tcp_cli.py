"""``structops sim tcp [OBJ]``: run a congestion control over a simulated bottleneck.

Without OBJ the built-in algorithm (``--algo reno|cubic``) runs; with OBJ, the
object's ``tcp_congestion_ops`` map (``--map`` when it has several) is loaded into
the emulated kernel, registered, and called by the simulated sender. Prints a
summary, or with ``--json`` one object ``{"samples": [...], "summary": {...}}``;
``--plot FILE.svg|png`` draws cwnd and ssthresh per flow. Exit status: 0 ok,
1 refused by the emulated kernel (verifier, registration) or an oops, 2 bad
input, 3 not modelled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from kernel_model.errors import InputError, KernelError, StructOpsError

__all__ = ["add_subcommand", "cmd_sim_tcp", "plot_tcp"]


def add_subcommand(ssub: Any) -> None:
    t = ssub.add_parser("tcp", help="a TCP sender over a bottleneck calling tcp_congestion_ops",
                        description="Simulate TCP flows over one bottleneck with a built-in or BPF "
                                    "congestion control (tcp_congestion_ops).")
    t.add_argument("object", nargs="?", metavar="OBJ", help="a BPF object with a tcp_congestion_ops map")
    t.add_argument("--map", help="which tcp_congestion_ops map of OBJ (default: its only one)")
    t.add_argument("--algo", choices=("reno", "cubic"), default="cubic", help="built-in algorithm without OBJ")
    t.add_argument("--flows", type=int, default=1)
    t.add_argument("--bw", type=float, default=100.0, metavar="MBIT", help="bottleneck bandwidth, Mbit/s")
    t.add_argument("--rtt", type=float, default=20.0, metavar="MS", help="base round-trip time, ms")
    t.add_argument("--buffer", type=int, default=100, metavar="PKTS", help="bottleneck queue, packets")
    t.add_argument("--loss", type=float, default=0.0, metavar="P", help="random loss probability per packet")
    t.add_argument("--ecn", type=int, default=None, metavar="PKTS",
                   help="CE-mark packets of ECN flows finding this many queued")
    t.add_argument("--duration", type=float, default=10.0, metavar="SECONDS")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", action="store_true", help="print samples and summary as one JSON object")
    t.add_argument("--plot", metavar="FILE", help="write cwnd/ssthresh over time (.svg or .png)")
    t.set_defaults(func=cmd_sim_tcp)


def _progress(stream: Any, duration: float) -> Any:
    if not stream.isatty():
        return None

    def show(t: float) -> None:
        stream.write(f"\rsim tcp: {t:6.1f} / {duration:.1f} simulated s")
        stream.flush()
    return show


def cmd_sim_tcp(args: argparse.Namespace) -> int:
    from kernel_model.subsystems.tcp_sender import LinkConfig

    from emu.libbpf.errors import LibbpfError, ProgLoadFailed

    from .tcp import run_tcp

    cfg = LinkConfig(bw_mbit=args.bw, rtt_ms=args.rtt, buffer=args.buffer, loss=args.loss, ecn_k=args.ecn,
                     flows=args.flows, duration=args.duration, seed=args.seed)
    try:
        cfg.validate()
    except ValueError as e:
        return _fail(2, f"sim tcp: {e}")
    if args.object is not None and not os.path.isfile(args.object):
        return _fail(2, f"sim tcp: {args.object}: no such file")
    progress = _progress(sys.stderr, cfg.duration)
    try:
        res = run_tcp(cfg, algo=args.algo, obj_path=args.object, map_name=args.map, progress=progress)
    except ProgLoadFailed as e:
        lines = [ln for ln in e.log.rstrip("\n").splitlines()
                 if not ln.startswith(("processed ", "verification time", "stack depth"))]
        return _fail(1, f"sim tcp: {args.object}: prog {e.prog} refused by the emulated verifier: "
                        f"{lines[-1] if lines else e}")
    except FileNotFoundError as e:
        return _fail(2, f"sim tcp: {e.filename}: no such file")
    except InputError as e:
        return _fail(2, f"sim tcp: {e}")
    except (LibbpfError, KernelError) as e:
        return _fail(1, f"sim tcp: {args.object}: {e}")
    except StructOpsError as e:
        from emu.machine.oops import Oops

        if isinstance(e, Oops):
            sys.stderr.write(e.text.rstrip("\n") + "\n")
            return _fail(1, f"sim tcp: kernel oops: {str(e).splitlines()[0]}")
        return _fail(3, f"sim tcp: {e}")
    finally:
        if progress is not None:
            sys.stderr.write("\n")
    if args.plot:
        try:
            plot_tcp(res, args.plot)
        except InputError as e:
            return _fail(2, f"sim tcp: {e}")
    if args.json:
        json.dump(res.to_json(), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        _print_summary(res.summary, res.wall_seconds)
    return 0


def _fail(code: int, msg: str) -> int:
    sys.stderr.write(f"error: {msg}\n")
    return code


def _print_summary(s: dict[str, Any], wall: float) -> None:
    c = s["config"]
    print(f"{s['algorithm']}{' (BPF)' if s['bpf'] else ''}: {c['flows']} flow(s), {c['bw_mbit']:g} Mbit/s, "
          f"rtt {c['rtt_ms']:g} ms, buffer {c['buffer']} pkts, loss {c['loss']:g}, {c['duration']:g} s "
          f"(BDP {s['bdp_packets']:g} pkts)")
    for f in s["flows"]:
        print(f"  flow {f['flow']}: goodput {f['goodput_mbit']:.2f} Mbit/s, cwnd mean {f['mean_cwnd']:.1f} "
              f"max {f['max_cwnd']}, srtt {f['srtt_ms']:.2f} ms, lost {f['lost_packets']}")
    print(f"  drops: {s['drops']['queue']} queue, {s['drops']['random']} random; CE marks {s['ce_marks']}; "
          f"max queue {s['max_queue']} pkts")
    calls = ", ".join(f"{k} {v}" for k, v in s["member_calls"].items())
    print(f"  member calls: {calls or 'none'}")
    print(f"  wall {wall:.2f} s ({s['simulated_seconds'] / max(wall, 1e-9):.2f} simulated s per wall s)")


def plot_tcp(res: Any, path: str) -> str:
    """cwnd (solid) and ssthresh (dashed, while below infinity) over time per flow."""
    from kernel_model.subsystems.tcp_cong import TCP_INFINITE_SSTHRESH

    from .plot import Panel, Series, save_series

    flows = sorted({s["flow"] for s in res.samples})
    cw = Panel("packets")
    for f in flows:
        pts = [s for s in res.samples if s["flow"] == f]
        cw.series.append(Series(f"flow {f} cwnd", [p["t"] for p in pts], [p["cwnd"] for p in pts]))
        st = [p for p in pts if p["ssthresh"] < TCP_INFINITE_SSTHRESH]
        if st:
            cw.series.append(Series(f"flow {f} ssthresh", [p["t"] for p in st], [p["ssthresh"] for p in st],
                                    style="--"))
    c = res.summary["config"]
    title = (f"{res.summary['algorithm']}: {c['bw_mbit']:g} Mbit/s, rtt {c['rtt_ms']:g} ms, "
             f"buffer {c['buffer']}, loss {c['loss']:g}")
    return save_series(path, title, "time (s)", [cw])
