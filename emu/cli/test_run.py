"""``structops test-run``: ``BPF_PROG_TEST_RUN`` of one program.

``structops test-run FILE [--prog NAME | --prog-type TYPE] [--data FILE | --data-hex HEX]
[--ctx FILE | --ctx-hex HEX] [--repeat N] [--data-out FILE] [--ctx-out FILE] ...``
does what a selftest (or ``bpftool prog run``) does. FILE is

* an ELF object: opened and loaded into an emulated kernel as libbpf would -- its
  BTF, its maps and the program ``--prog`` names *alone*, as ``structops verify
  --prog`` loads it (even when its section is ``SEC("?...")``); ``--load-all`` loads
  every autoload program too, as a skeleton does; ``--prog-array MAP=PROG,PROG``
  loads those programs and stores their fds at keys 0, 1 ... of the prog array, what
  a selftest's user space does before running ``bpf_flow.o``; no struct_ops map is
  ever attached;
* or a program file (assembly text, raw instruction bytes) loaded as ``--prog-type``
  (default socket_filter) with ``--attach-type`` and ``--prog-flags``, as ``structops
  verify`` loads one.

The program then runs through the kernel's ``BPF_PROG_TEST_RUN`` with the packet
(``data_in``) and context (``ctx_in``) given, and ``retval`` (with the XDP action or
the flow dissector's verdict named), the packet and the context the run left
(``data_out``, ``ctx_out``) are printed. Which program types run, and with which rules,
is the emulated kernel's (:mod:`emu.kernel.test_run`): a type whose kernel
``bpf_prog_ops`` have no ``test_run`` is refused with ``-ENOTSUPP`` as the kernel
refuses it (exit 1); a type the kernel runs and this emulator does not is "not
modelled" (exit 3). ``--host`` loads and runs the same program in the real kernel
instead (bpf() as root; nothing attached, never a struct_ops program), to compare.

What the command asks of the kernel where the user does not say (as a user-space
caller chooses): ``data_size_out`` 64 KiB when a packet is given, else 0 (the types
that take no packet refuse a data_out buffer); ``ctx_size_out`` the size of the
context given, except for raw tracepoint, tracing and syscall programs, which refuse a
ctx_out buffer (syscall programs write the context back in place (the kernel's ``ctx_in`` buffer, shown as ``ctx_out``)).
``--data-out-size``/``--ctx-out-size``/``--flags``/``--on-cpu`` set the raw attributes.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import struct
import sys
from typing import Any

from kernel_model.errors import InputError, KernelError

from .output import emit, json_mode

__all__ = ["add_subcommand", "cmd_test_run", "decode_flow_keys", "hexdump", "DATA_OUT_SIZE"]

#: ``data_size_out`` asked for when a packet is given (a user-space buffer's size)
DATA_OUT_SIZE = 1 << 16
#: include/uapi/linux/bpf.h
BPF_F_TEST_RUN_ON_CPU = 1
_SYSCALL, _XDP, _FLOW_DISSECTOR, _STRUCT_OPS = 31, 6, 22, 27
#: the types whose test run refuses a ctx_out buffer (raw_tp, tracing, syscall: net/bpf/test_run.c)
_NO_CTX_OUT = frozenset({17, 26, _SYSCALL})
#: include/uapi/linux/bpf.h enum xdp_action
XDP_ACTIONS = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT")
#: enum bpf_ret_code (include/uapi/linux/bpf.h): a flow dissector's answers
FLOW_RETS = {0: "BPF_OK", 2: "BPF_DROP", 129: "BPF_FLOW_DISSECTOR_CONTINUE"}
#: the most CPUs the emulated machine's memory layout holds with room to spare
MAX_NR_CPUS = 16


def _out(text: str = "") -> None:
    if not json_mode():
        sys.stdout.write(text + "\n")


def _bytes_arg(path: str | None, hex_text: str | None, what: str) -> bytes:
    """``--WHAT FILE`` (``-``: standard input) or ``--WHAT-hex HEX``, not both."""
    from .inputs import parse_hex, read_input

    if path is not None and hex_text is not None:
        raise InputError(f"give --{what} FILE or --{what}-hex HEX, not both")
    if hex_text is not None:
        return parse_hex(hex_text, f"--{what}-hex")
    if path is not None:
        return read_input(path).data
    return b""


def hexdump(data: bytes, indent: str = "  ") -> list[str]:
    """``data`` as lines of 16 hex bytes with their offsets (``0000: 45 00 ...``)."""
    return [f"{indent}{off:04x}: {data[off:off + 16].hex(' ')}" for off in range(0, len(data), 16)]


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


def _pick_program(obj: Any, name: str | None, where: str) -> Any:
    entries = [p for p in obj.programs if not p.is_subprog]
    names = ", ".join(p.name for p in entries) or "none"
    if name is None:
        if len(entries) != 1:
            raise InputError(f"{len(entries)} programs ({names}): name one with --prog", where)
        return entries[0]
    for p in entries:
        if p.name == name:
            return p
    raise InputError(f"no program '{name}' (its programs: {names})", where)


def _prog_arrays(specs: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for spec in specs:
        name, eq, progs = spec.partition("=")
        if not eq or not name or not progs:
            raise InputError(f"expected MAP=PROG[,PROG...], got {spec!r}", "--prog-array")
        out.append((name, progs.split(",")))
    return out


def _fill_prog_arrays(kernel: Any, obj: Any, arrays: list[tuple[str, list[str]]]) -> None:
    """Each program's fd at its key (0, 1 ...; an empty name leaves the slot empty)."""
    from emu.libbpf.errors import LibbpfError

    for name, progs in arrays:
        try:
            m = obj.find_map(name)
        except LibbpfError as e:
            raise InputError(e.message, "--prog-array") from None
        for key, pname in enumerate(progs):
            if pname:
                kernel.map_update_elem(m.fd, struct.pack("<I", key), struct.pack("<I", obj.progs[pname].fd))


def _host_kernel() -> Any:
    from emu.host.hostbpf import oracle_status
    from emu.host.hostsys import HostSys

    ok, why = oracle_status()
    if not ok:
        raise KernelError(errno.EPERM, f"--host: the host kernel cannot run it: {why}")
    return HostSys()


def _emulated_kernel(args: argparse.Namespace) -> Any:
    from emu.kernel import Kernel

    return Kernel(args.profile, cpu=args.cpu, nr_cpus=args.nr_cpus)


def _load_object(args: argparse.Namespace, rec: dict[str, Any]) -> tuple[int, Any, Any, Any]:
    """(status, kernel, object, program) of an ELF object loaded as the module docstring says."""
    from .loader import _load_and_attach, _open

    args.no_attach = True
    obj, _log = _open(args)
    prog = _pick_program(obj, args.prog, obj.path)
    arrays = _prog_arrays(args.prog_array or [])
    for _, names in arrays:
        for n in names:
            if n and n not in obj.progs:
                raise InputError(f"no program '{n}' in {obj.path}", "--prog-array")
    kernel: Any = None
    if args.host:
        if prog.prog_type == _STRUCT_OPS:
            raise InputError(f"--host: program '{prog.name}' is struct_ops: this command loads no struct_ops "
                             "program into the host kernel (their maps would register there)")
        for m in obj.maps:  # never created on the host
            if m.is_struct_ops:
                m.autocreate = False
        kernel = _host_kernel()
    else:
        kernel = _emulated_kernel(args)
    if not args.load_all:  # the program alone, as `verify --prog` loads it
        wanted = {n for _, names in arrays for n in names if n}
        for q in obj.programs:
            if not q.is_subprog and q is not prog:
                q.set_autoload(q.name in wanted)
    prog.set_autoload(True)
    for _, names in arrays:
        for n in names:
            if n:
                obj.progs[n].set_autoload(True)
    rc, loaded, kernel, _links = _load_and_attach(args, quiet=True, rec=rec, obj=obj, kernel=kernel)
    if rc == 0 and loaded is not None:
        _fill_prog_arrays(kernel, obj, arrays)
    return rc, kernel, obj, prog


def _load_file(args: argparse.Namespace, inp: Any) -> tuple[Any, int, int]:
    """(kernel, fd, prog_type) of a program file loaded as ``--prog-type``."""
    from emu.kernel.harness import program_env

    from .verify import read_program

    insns = read_program(inp, None, (), args.profile)
    insns, env = program_env(insns, prog_type=args.prog_type, profile=args.profile, flags=args.prog_flags or "",
                             attach_type=args.attach_type)
    kernel = _host_kernel() if args.host else _emulated_kernel(args)
    fd = kernel.prog_load(insns, prog_type=env.prog_type, expected_attach_type=env.expected_attach_type,
                          prog_flags=env.prog_flags, license="GPL", log_level=1)
    return kernel, int(fd), int(env.prog_type)


def cmd_test_run(args: argparse.Namespace) -> int:
    from .inputs import STDIN, check_one_stdin, read_input

    check_one_stdin([p for p in (args.file, args.data, args.ctx) if p is not None])
    data_in = _bytes_arg(args.data, args.data_hex, "data")
    ctx_in = _bytes_arg(args.ctx, args.ctx_hex, "ctx")
    if args.repeat < 1:
        raise InputError(f"--repeat {args.repeat}: at least 1 run")
    inp = read_input(args.file)
    rec: dict[str, Any] = {}
    kernel: Any = None
    try:
        if inp.is_elf:
            if args.prog_type or args.attach_type or args.prog_flags:
                raise InputError("--prog-type, --attach-type and --prog-flags are for program files: an "
                                 "object's sections give them", inp.name)
            if args.file == STDIN:  # read once above: the loader opens these bytes
                args.object_data = inp.data
            args.object = args.file
            rc, kernel, obj, prog = _load_object(args, rec)
            if rc:
                if json_mode():
                    emit({**rec, "exit_status": rc})
                return rc
            fd, ptype, name, where = prog.fd, prog.prog_type, prog.name, obj.path
        else:
            for opt in ("prog", "prog_array"):
                if getattr(args, opt):
                    raise InputError(f"--{opt.replace('_', '-')} is for ELF objects", inp.name)
            kernel, fd, ptype = _load_file(args, inp)
            name, where = "", inp.name
        return _run(args, kernel, fd, ptype, name, where, data_in, ctx_in)
    finally:
        if kernel is not None:
            (kernel.close_all if args.host else kernel.shutdown)()


def _run(args: argparse.Namespace, kernel: Any, fd: int, ptype: int, name: str, where: str,
         data_in: bytes, ctx_in: bytes) -> int:
    from kernel_model.uapi import PROG_TYPE_NAMES

    tname = PROG_TYPE_NAMES.get(ptype, str(ptype))
    flags, cpu = args.flags, 0
    if args.on_cpu is not None:
        flags |= BPF_F_TEST_RUN_ON_CPU
        cpu = args.on_cpu
    data_out_size = args.data_out_size if args.data_out_size is not None else (DATA_OUT_SIZE if data_in else 0)
    no_ctx_out = ptype in _NO_CTX_OUT
    ctx_out_size = args.ctx_out_size if args.ctx_out_size is not None else (0 if no_ctx_out else len(ctx_in))
    res = kernel.prog_test_run(fd, ctx_in=ctx_in, data_in=data_in, repeat=args.repeat, ctx_out_size=ctx_out_size,
                               data_out_size=data_out_size, flags=flags, cpu=cpu)
    for path, blob in ((args.data_out, res.data_out), (args.ctx_out, res.ctx_out)):
        if path is not None:
            try:
                with open(path, "wb") as f:
                    f.write(blob)
            except OSError as e:
                raise InputError(f"cannot write: {e.strerror or e}", path) from None
    verdict = None
    if ptype == _XDP and res.retval < len(XDP_ACTIONS):
        verdict = XDP_ACTIONS[res.retval]
    elif ptype == _FLOW_DISSECTOR:
        verdict = FLOW_RETS.get(res.retval)
    keys = decode_flow_keys(res.data_out) if ptype == _FLOW_DISSECTOR and len(res.data_out) >= 56 else None
    if json_mode():
        rec: dict[str, Any] = {"file": where, "program": name or None, "prog_type": tname, "retval": res.retval,
                               "verdict": verdict, "data_out": res.data_out.hex(), "ctx_out": res.ctx_out.hex(),
                               "repeat": args.repeat, "host": bool(args.host), "exit_status": 0}
        if keys is not None:
            rec["flow_keys"] = keys
        emit(rec)
        return 0
    what = f"prog {name} ({tname})" if name else f"{where} ({tname})"
    kern = "the host kernel" if args.host else "the emulated kernel"
    _out(f"{what} in {kern}: retval {res.retval} ({res.retval:#x})" + (f" {verdict}" if verdict else ""))
    for label, blob in (("data_out", res.data_out), ("ctx_out", res.ctx_out)):
        if blob:
            _out(f"{label} ({len(blob)} bytes):")
            for ln in hexdump(blob):
                _out(ln)
    if keys is not None:
        _out("flow keys: " + " ".join(f"{k}={v:#x}" if k in ("addr_proto", "n_proto", "flags", "flow_label") else
                                      f"{k}={v}" for k, v in keys.items()))
    return 0


def _count(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= n < 1 << 32:
        raise argparse.ArgumentTypeError(f"{n} is not a u32")
    return n


def _nr_cpus(text: str) -> int:
    n = _count(text)
    if not 1 <= n <= MAX_NR_CPUS:
        raise argparse.ArgumentTypeError(f"{n} CPUs: the emulated machine has 1 to {MAX_NR_CPUS}")
    return n


def add_subcommand(sub: Any) -> None:
    """Register ``test-run`` on the ``structops`` parser."""
    from emu.host.hostcpu import add_cpu_option

    t = sub.add_parser("test-run", help="run one program through BPF_PROG_TEST_RUN",
                       description="Load one program into an emulated kernel -- an object's (as libbpf would: "
                                   "its BTF, its maps and program NAME; nothing attached) or a program file "
                                   "(assembly, raw instructions) as --prog-type -- and run it through the "
                                   "kernel's BPF_PROG_TEST_RUN with the packet and context given; print retval, "
                                   "data_out and ctx_out. Exit status 1 when the kernel refuses the load or the "
                                   "run, 3 when the run needs what the emulator does not model.")
    t.add_argument("file", metavar="FILE", help="a clang-compiled BPF object, or assembly text / raw instructions; "
                                                "- reads standard input")
    t.add_argument("--prog", metavar="NAME", help="the object's program to run (needed when it has several)")
    t.add_argument("--prog-type", metavar="TYPE", help="a program file's type (default socket_filter)")
    t.add_argument("--attach-type", metavar="NAME", help="a program file's expected_attach_type")
    t.add_argument("--prog-flags", metavar="FLAGS", help="a program file's prog_flags")
    t.add_argument("--data", metavar="FILE", help="the packet (data_in), raw bytes; - reads standard input")
    t.add_argument("--data-hex", metavar="HEX", help="the packet as hex bytes ('45 00 ...')")
    t.add_argument("--ctx", metavar="FILE", help="the context (ctx_in), raw bytes; - reads standard input")
    t.add_argument("--ctx-hex", metavar="HEX", help="the context as hex bytes")
    t.add_argument("--repeat", type=_count, default=1, metavar="N", help="runs (the kernel's repeat; default 1)")
    t.add_argument("--data-out", metavar="FILE", help="write data_out there")
    t.add_argument("--ctx-out", metavar="FILE", help="write ctx_out there")
    t.add_argument("--data-out-size", type=_count, metavar="N",
                   help="attr.test.data_size_out (default 64 KiB with a packet, else 0)")
    t.add_argument("--ctx-out-size", type=_count, metavar="N",
                   help="attr.test.ctx_size_out (default the size of the context given; 0 for syscall)")
    t.add_argument("--flags", type=_count, default=0, metavar="N", help="attr.test.flags (raw bits)")
    t.add_argument("--on-cpu", type=_count, metavar="N", help="BPF_F_TEST_RUN_ON_CPU on CPU N")
    t.add_argument("--nr-cpus", type=_nr_cpus, default=2, metavar="N", help="the emulated machine's CPUs (default 2)")
    t.add_argument("--prog-array", action="append", metavar="MAP=PROG[,PROG...]",
                   help="load those programs too and store their fds at keys 0, 1 ... of prog array MAP")
    t.add_argument("--load-all", action="store_true",
                   help="load every autoload program of the object too, as a skeleton does (tail-call "
                        "prog arrays with `__array(values, ...)` need their programs); default: NAME alone")
    t.add_argument("--autoload", action="append", metavar="PROG=0|1",
                   help="bpf_program__set_autoload (with --load-all)")
    t.add_argument("--autocreate", action="append", metavar="MAP=0|1", help="bpf_map__set_autocreate")
    t.add_argument("--host", action="store_true",
                   help="run it in the host kernel instead (bpf() as root; loads and test-runs only, attaches "
                        "nothing; struct_ops programs never), to compare")
    t.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    add_cpu_option(t)
    t.add_argument("-v", "--verbose", action="store_true", help="libbpf debug messages (LIBBPF_LOG_LEVEL=debug)")
    t.set_defaults(func=cmd_test_run, set=None)
