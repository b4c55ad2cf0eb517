"""``structops test-run``: ``BPF_PROG_TEST_RUN`` of one program of an object in the emulated kernel.

``structops test-run OBJ.bpf.o PROG [--data-in HEX|@FILE] [--ctx-in HEX|@FILE]
[--data-out-size N] [--ctx-out-size N] [--repeat N] [--flags N] [--on-cpu N]
[--prog-array MAP=PROG,PROG...]``: the object is loaded the way libbpf loads it (every
program with autoload on, its maps created), the ``--prog-array`` slots filled
(``bpf_map_update_elem`` of each program's fd at keys 0, 1, ...: what a selftest's
``init_prog_array`` does before running ``bpf_flow.o``), then PROG is test-run with the
attributes given and ``retval``, ``data_out``, ``ctx_out`` and the duration are printed;
a flow dissector's ``data_out`` is also decoded as ``struct bpf_flow_keys``.

The program types whose test run the emulated kernel has are those of
:mod:`emu.kernel.test_run` (struct_ops ``bpf_dummy_ops``, socket filter, syscall,
sk_lookup, flow dissector, raw tracepoint). Exit status: 0 the run happened (whatever the
program returned), 1 the kernel refused the run (its errno) or the program faulted,
2 bad input, 3 a program type, helper or field not modelled here.
"""

from __future__ import annotations

import argparse
import ipaddress
import struct
from typing import Any

from emu.host.hostcpu import add_cpu_option

from .output import emit, json_mode
from .status import out

__all__ = ["add_subcommand", "cmd_test_run", "decode_flow_keys", "parse_bytes"]

#: include/uapi/linux/bpf.h
BPF_F_TEST_RUN_ON_CPU = 1
#: enum bpf_ret_code (include/uapi/linux/bpf.h): a flow dissector's answers
_FLOW_RETS = {0: "BPF_OK", 2: "BPF_DROP", 129: "BPF_FLOW_DISSECTOR_CONTINUE"}


def parse_bytes(text: str, option: str) -> bytes:
    """``HEX`` (spaces allowed, ``0x`` prefix optional) or ``@FILE`` (its raw bytes)."""
    from kernel_model.errors import InputError

    if text.startswith("@"):
        try:
            with open(text[1:], "rb") as f:
                return f.read()
        except OSError as e:
            raise InputError(f"{text[1:]}: cannot read: {e.strerror or e}", option) from None
    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{text!r} is neither hex bytes nor @FILE", option) from None


def decode_flow_keys(b: bytes) -> dict[str, Any]:
    """``struct bpf_flow_keys`` (include/uapi/linux/bpf.h) as names and values: ports and
    ``n_proto`` in host order; the addresses as IPv4 or IPv6 by ``addr_proto``."""
    nhoff, thoff, addr_proto, is_frag, first, encap, ip_proto = struct.unpack_from("<HHHBBBB", b, 0)
    n_proto, sport, dport = struct.unpack_from(">HHH", b, 10)
    flags = struct.unpack_from("<I", b, 48)[0]
    flow_label = struct.unpack_from(">I", b, 52)[0]
    keys: dict[str, Any] = {"nhoff": nhoff, "thoff": thoff, "addr_proto": addr_proto, "is_frag": is_frag,
                            "is_first_frag": first, "is_encap": encap, "ip_proto": ip_proto, "n_proto": n_proto,
                            "sport": sport, "dport": dport}
    if addr_proto == 0x0800:
        keys["src"], keys["dst"] = str(ipaddress.IPv4Address(b[16:20])), str(ipaddress.IPv4Address(b[20:24]))
    elif addr_proto == 0x86DD:
        keys["src"], keys["dst"] = str(ipaddress.IPv6Address(b[16:32])), str(ipaddress.IPv6Address(b[32:48]))
    keys["flags"] = flags
    keys["flow_label"] = flow_label
    return keys


def _fill_prog_arrays(kernel: Any, obj: Any, specs: list[str]) -> None:
    from kernel_model.errors import InputError
    from emu.libbpf.errors import LibbpfError

    for spec in specs:
        name, eq, progs = spec.partition("=")
        if not eq or not name or not progs:
            raise InputError(f"expected MAP=PROG[,PROG...], got {spec!r}", "--prog-array")
        try:
            m = obj.find_map(name)
        except LibbpfError as e:
            raise InputError(e.message, "--prog-array") from None
        for key, pname in enumerate(progs.split(",")):
            if not pname:
                continue  # an empty slot
            p = obj.progs.get(pname)
            if p is None or p.fd < 0:
                raise InputError(f"{spec}: no loaded program '{pname}' in {obj.path}", "--prog-array")
            kernel.map_update_elem(m.fd, struct.pack("<I", key), struct.pack("<I", p.fd))


def cmd_test_run(args: argparse.Namespace) -> int:
    from kernel_model.errors import InputError
    from kernel_model.prog import PROG_TYPE_NAMES

    from emu.kernel import Kernel

    from .loader import _open

    kernel = Kernel(args.profile, cpu=args.cpu, nr_cpus=args.nr_cpus)
    args.set = args.autocreate = args.autoload = None
    obj, _log = _open(args)
    obj.load(kernel)
    prog = obj.progs.get(args.prog)
    if prog is None:
        raise InputError(f"no program '{args.prog}' in {obj.path} (programs: {', '.join(obj.progs)})")
    _fill_prog_arrays(kernel, obj, args.prog_array or [])
    flags, cpu = args.flags, 0
    if args.on_cpu is not None:
        flags |= BPF_F_TEST_RUN_ON_CPU
        cpu = args.on_cpu
    data_in = parse_bytes(args.data_in, "--data-in") if args.data_in else b""
    ctx_in = parse_bytes(args.ctx_in, "--ctx-in") if args.ctx_in else b""
    r = kernel.prog_test_run(prog.fd, data_in=data_in, ctx_in=ctx_in, repeat=args.repeat,
                             data_out_size=args.data_out_size, ctx_out_size=args.ctx_out_size, flags=flags, cpu=cpu)
    ptype = kernel.prog_info(prog.fd).type
    tname = PROG_TYPE_NAMES.get(ptype, str(ptype))
    rec: dict[str, Any] = {"object": obj.path, "program": prog.name, "prog_type": tname, "retval": r.retval,
                           "data_out": r.data_out.hex(), "ctx_out": r.ctx_out.hex(), "duration_ns": r.duration}
    flow = tname == "flow_dissector" and len(r.data_out) >= 56
    if flow:
        rec["flow_keys"] = decode_flow_keys(r.data_out)
    if json_mode():
        emit({**rec, "exit_status": 0})
        return 0
    named = f" ({_FLOW_RETS[r.retval]})" if tname == "flow_dissector" and r.retval in _FLOW_RETS else ""
    out(f"{prog.name} ({tname}): retval {r.retval} ({r.retval:#x}){named}, {r.duration} ns per run")
    if r.data_out:
        out(f"data_out ({len(r.data_out)} bytes): {r.data_out.hex()}")
    if r.ctx_out:
        out(f"ctx_out ({len(r.ctx_out)} bytes): {r.ctx_out.hex()}")
    if flow:
        out("flow keys: " + " ".join(f"{k}={v:#x}" if k in ("addr_proto", "n_proto", "flags", "flow_label") else
                                     f"{k}={v}" for k, v in rec["flow_keys"].items()))
    return 0


def _count(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative")
    return n


#: the most CPUs the emulated machine's memory layout holds with room to spare
MAX_NR_CPUS = 16


def _nr_cpus(text: str) -> int:
    n = _count(text)
    if not 1 <= n <= MAX_NR_CPUS:
        raise argparse.ArgumentTypeError(f"{n} CPUs: the emulated machine has 1 to {MAX_NR_CPUS}")
    return n


def add_subcommand(sub: Any) -> None:
    """Register ``test-run``."""
    t = sub.add_parser("test-run", help="BPF_PROG_TEST_RUN of one program of an object in the emulated kernel",
                       description="Load OBJ the way libbpf does into an emulated kernel, fill --prog-array "
                                   "slots, then BPF_PROG_TEST_RUN the program PROG and print retval, data_out, "
                                   "ctx_out (a flow dissector's flow keys decoded). Program types with a test "
                                   "run here: socket filter, struct_ops (bpf_dummy_ops), syscall, sk_lookup, "
                                   "flow dissector, raw tracepoint.")
    t.add_argument("object", metavar="OBJ.bpf.o", help="a clang-compiled BPF object; - reads standard input")
    t.add_argument("prog", metavar="PROG", help="the program to run (its function name)")
    t.add_argument("--data-in", metavar="HEX|@FILE", help="attr.test.data_in: a packet as hex bytes, or a file")
    t.add_argument("--ctx-in", metavar="HEX|@FILE", help="attr.test.ctx_in: the context (struct __sk_buff, "
                                                         "struct bpf_flow_keys, a raw_tp's u64 arguments...)")
    t.add_argument("--data-out-size", type=_count, default=0, metavar="N",
                   help="attr.test.data_size_out (0: no data_out buffer; data_out is printed in full)")
    t.add_argument("--ctx-out-size", type=_count, default=0, metavar="N",
                   help="attr.test.ctx_size_out (0: no ctx_out buffer)")
    t.add_argument("--repeat", type=_count, default=1, metavar="N", help="attr.test.repeat (default 1)")
    t.add_argument("--flags", type=_count, default=0, metavar="N", help="attr.test.flags (raw bits)")
    t.add_argument("--on-cpu", type=_count, default=None, metavar="N",
                   help="BPF_F_TEST_RUN_ON_CPU with attr.test.cpu = N (raw_tp programs: the emulated CPU N)")
    t.add_argument("--nr-cpus", type=_nr_cpus, default=2, metavar="N",
                   help=f"CPUs of the emulated machine, 1 to {MAX_NR_CPUS} (default 2)")
    t.add_argument("--prog-array", action="append", metavar="MAP=PROG[,PROG...]",
                   help="fill prog array MAP: key 0 gets the first program, 1 the next (an empty name "
                        "leaves a slot empty); repeatable")
    t.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    add_cpu_option(t)
    t.add_argument("-v", "--verbose", action="store_true", help="libbpf debug messages (LIBBPF_LOG_LEVEL=debug)")
    t.set_defaults(func=cmd_test_run)
