"""``structops test-run``: ``BPF_PROG_TEST_RUN`` of one program of an object.

``structops test-run OBJ.bpf.o [--prog NAME] [--data FILE | --data-hex HEX]
[--ctx FILE | --ctx-hex HEX] [--repeat N] [--data-out FILE] [--ctx-out FILE]``
does what a selftest (or ``bpftool prog run``) does: open the object, load it
into an emulated kernel as libbpf would (its BTF, its maps and the named program
alone, as ``structops verify --prog`` loads it, even when its section is
``SEC("?...")``; with ``--load-all`` every autoload program too, as a skeleton
loads them, for prog arrays whose ``__array(values, ...)`` name other programs;
no struct_ops map is attached), then
run the program through the kernel's ``BPF_PROG_TEST_RUN`` with the packet
(``data_in``) and context (``ctx_in``) given, and print ``retval``, the packet
and the context the run left (``data_out``, ``ctx_out``).

Which program types run, and with which rules, is the emulated kernel's
(:mod:`emu.kernel.test_run`): a type whose kernel ``bpf_prog_ops`` have no
``test_run`` is refused with ``-ENOTSUPP`` as the kernel refuses it (exit 1); a
type the kernel runs but this emulator does not (yet) is "not modelled" (exit 3).

What the command asks of the kernel, as a user-space caller chooses it:
``data_size_out`` is 64 KiB when a packet is given (0 without: the types that take
no packet refuse a data_out buffer), ``ctx_size_out`` the size of the context given
(syscall programs, which refuse a ctx_out buffer, have their context written back in
place: the kernel's ``ctx_in`` buffer, shown as ``ctx_out``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kernel_model.errors import InputError, KernelError

from .output import emit, json_mode

__all__ = ["add_subcommand", "cmd_test_run"]

#: ``data_size_out`` asked for when a packet is given (a user-space buffer's size)
DATA_OUT_SIZE = 1 << 16
#: BPF_PROG_TYPE_SYSCALL: its test run refuses ctx_out and writes the context back in place
_SYSCALL = 31


def _out(text: str = "") -> None:
    if not json_mode():
        sys.stdout.write(text + "\n")


def _hex(text: str, option: str) -> bytes:
    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{text!r} is not a string of hex bytes", option) from None


def _bytes_arg(path: str | None, hex_text: str | None, what: str) -> bytes:
    """``--WHAT FILE`` (``-``: standard input) or ``--WHAT-hex HEX``, not both."""
    from .inputs import read_input

    if path is not None and hex_text is not None:
        raise InputError(f"give --{what} FILE or --{what}-hex HEX, not both")
    if hex_text is not None:
        return _hex(hex_text, f"--{what}-hex")
    if path is not None:
        return read_input(path).data
    return b""


def hexdump(data: bytes, indent: str = "  ") -> list[str]:
    """``data`` as lines of 16 hex bytes with their offsets (``0000: 45 00 ...``)."""
    return [f"{indent}{off:04x}: {data[off:off + 16].hex(' ')}" for off in range(0, len(data), 16)]


def _pick_program(obj: Any, name: str | None) -> Any:
    entries = [p for p in obj.programs if not p.is_subprog]
    if name is None:
        if len(entries) != 1:
            names = ", ".join(p.name for p in entries) or "none"
            raise InputError(f"{len(entries)} programs ({names}): name one with --prog", obj.path)
        return entries[0]
    for p in entries:
        if p.name == name:
            return p
    names = ", ".join(p.name for p in entries) or "none"
    raise InputError(f"no program '{name}' (its programs: {names})", obj.path)


def cmd_test_run(args: argparse.Namespace) -> int:
    from kernel_model.prog import PROG_TYPE_STRUCT_OPS

    from .inputs import check_one_stdin
    from .loader import _load_and_attach, _open

    check_one_stdin([p for p in (args.object, args.data, args.ctx) if p is not None])
    data_in = _bytes_arg(args.data, args.data_hex, "data")
    ctx_in = _bytes_arg(args.ctx, args.ctx_hex, "ctx")
    if args.repeat < 1:
        raise InputError(f"--repeat {args.repeat}: at least 1 run")
    args.no_attach = True
    obj, _log = _open(args)
    prog = _pick_program(obj, args.prog)
    kernel: Any = None
    if args.host:
        from emu.host.hostbpf import oracle_status
        from emu.host.hostsys import HostSys

        ok, why = oracle_status()
        if not ok:
            import errno

            raise KernelError(errno.EPERM, f"--host: the host kernel cannot run it: {why}")
        if prog.prog_type == PROG_TYPE_STRUCT_OPS:
            raise InputError(f"--host: program '{prog.name}' is struct_ops: this command loads no struct_ops "
                             "program into the host kernel (their maps would register there)")
        for m in obj.maps:  # never created on the host
            if m.is_struct_ops:
                m.autocreate = False
        kernel = HostSys()
    if not args.load_all:  # the program alone, as `verify --prog` loads it
        for q in obj.programs:
            if not q.is_subprog and q is not prog:
                q.set_autoload(False)
    prog.set_autoload(True)
    rec: dict[str, Any] = {}
    try:
        rc, loaded, kernel, _links = _load_and_attach(args, quiet=True, rec=rec, obj=obj, kernel=kernel)
        if rc or loaded is None:
            if json_mode():
                emit({**rec, "exit_status": rc})
            return rc
        return _run(args, obj, prog, kernel, data_in, ctx_in)
    finally:
        if args.host and kernel is not None:
            kernel.close_all()


def _run(args: argparse.Namespace, obj: Any, prog: Any, kernel: Any, data_in: bytes, ctx_in: bytes) -> int:
    from kernel_model.uapi import PROG_TYPE_NAMES

    ptype = PROG_TYPE_NAMES.get(prog.prog_type, str(prog.prog_type))
    res = kernel.prog_test_run(prog.fd, ctx_in=ctx_in, data_in=data_in, repeat=args.repeat,
                               ctx_out_size=len(ctx_in) if prog.prog_type != _SYSCALL else 0,
                               data_out_size=DATA_OUT_SIZE if data_in else 0)
    for path, blob in ((args.data_out, res.data_out), (args.ctx_out, res.ctx_out)):
        if path is not None:
            try:
                with open(path, "wb") as f:
                    f.write(blob)
            except OSError as e:
                raise InputError(f"cannot write: {e.strerror or e}", path) from None
    if json_mode():
        emit({"object": obj.path, "program": prog.name, "prog_type": ptype, "retval": res.retval,
              "data_out": res.data_out.hex(), "ctx_out": res.ctx_out.hex(), "repeat": args.repeat,
              "host": bool(args.host), "exit_status": 0})
        return 0
    where = "the host kernel" if args.host else "the emulated kernel"
    _out(f"prog {prog.name} ({ptype}) in {where}: retval {res.retval} ({res.retval:#x})")
    for label, blob in (("data_out", res.data_out), ("ctx_out", res.ctx_out)):
        if blob:
            _out(f"{label} ({len(blob)} bytes):")
            for ln in hexdump(blob):
                _out(ln)
    return 0


def add_subcommand(sub: Any) -> None:
    """Register ``test-run`` on the ``structops`` parser."""
    from emu.host.hostcpu import add_cpu_option

    t = sub.add_parser("test-run", help="run one program of an object through BPF_PROG_TEST_RUN",
                       description="Load OBJ into an emulated kernel as libbpf would (its BTF, its maps and "
                                   "program NAME; nothing is attached) and run NAME "
                                   "through the kernel's BPF_PROG_TEST_RUN with the packet and context given; "
                                   "print retval, data_out and ctx_out. Exit status 1 when the kernel refuses "
                                   "the load or the run, 3 when the run needs what the emulator does not model.")
    t.add_argument("object", metavar="OBJ.bpf.o", help="a clang-compiled BPF object; - reads standard input")
    t.add_argument("--prog", metavar="NAME", help="the program to run (needed when the object has several)")
    t.add_argument("--data", metavar="FILE", help="the packet (data_in), raw bytes; - reads standard input")
    t.add_argument("--data-hex", metavar="HEX", help="the packet as hex bytes ('45 00 ...')")
    t.add_argument("--ctx", metavar="FILE", help="the context (ctx_in), raw bytes; - reads standard input")
    t.add_argument("--ctx-hex", metavar="HEX", help="the context as hex bytes")
    t.add_argument("--repeat", type=int, default=1, metavar="N", help="runs (the kernel's repeat; default 1)")
    t.add_argument("--data-out", metavar="FILE", help="write data_out there")
    t.add_argument("--ctx-out", metavar="FILE", help="write ctx_out there")
    t.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    add_cpu_option(t)
    t.add_argument("--host", action="store_true",
                   help="run it in the host kernel instead (bpf() as root; loads and test-runs only, attaches "
                        "nothing; struct_ops programs never), to compare")
    t.add_argument("--load-all", action="store_true",
                   help="load every autoload program of the object too, as a skeleton does (tail-call "
                        "prog arrays with `__array(values, ...)` need their programs); default: NAME alone")
    t.add_argument("--autoload", action="append", metavar="PROG=0|1",
                   help="bpf_program__set_autoload (with --load-all)")
    t.add_argument("--autocreate", action="append", metavar="MAP=0|1", help="bpf_map__set_autocreate")
    t.add_argument("-v", "--verbose", action="store_true", help="libbpf debug messages (LIBBPF_LOG_LEVEL=debug)")
    t.set_defaults(func=cmd_test_run, set=None)
