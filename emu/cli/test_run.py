"""``structops test-run``: ``BPF_PROG_TEST_RUN`` of one program in the emulated kernel.

``structops test-run FILE [--prog NAME] [--prog-type TYPE] [--data HEX | --data-file F]
[--ctx HEX | --ctx-file F] [--repeat N] [--data-out-size N] [--ctx-out-size N] [--flags N]``

FILE is an ELF object (its maps created, the one program ``--prog`` names loaded, as
libbpf loads it; an object with one program needs no ``--prog``) or a program file
(assembly text, raw instruction bytes) loaded as ``--prog-type`` (default
socket_filter). The program is loaded into an emulated kernel of ``--profile`` on
``--cpu`` and test-run once with the given data and context (see
:mod:`emu.kernel.test_run` for each program type's rules: socket filter, XDP,
syscall, sk_lookup, bpf_dummy_ops struct_ops). Printed: the return value (u32,
``attr.test.retval``; an XDP action by name), ``data_out`` and ``ctx_out`` as hex,
the duration per run. Exit status: 0 ran, 1 refused (the verifier, or the test run's
``-errno``, named on the error line), 2 bad input, 3 not modelled (a program type,
flag or helper whose run time this kernel lacks).
"""

from __future__ import annotations

import argparse
from typing import Any

from emu.host.hostcpu import add_cpu_option
from kernel_model.uapi import PROG_TYPE_XDP

from .output import emit, json_mode
from .status import EXIT_OK, out

__all__ = ["add_subcommand", "cmd_test_run"]

#: include/uapi/linux/bpf.h enum xdp_action
XDP_ACTIONS = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT")


def _hex(text: str, option: str) -> bytes:
    from kernel_model.errors import InputError

    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{text!r} is not a string of hex bytes", option) from None


def _bytes(args: argparse.Namespace, name: str) -> bytes:
    """``--NAME HEX`` or ``--NAME-file PATH`` (raw bytes), empty when neither."""
    from kernel_model.errors import InputError

    from .inputs import read_input

    text, path = getattr(args, name), getattr(args, f"{name}_file")
    if text is not None and path is not None:
        raise InputError(f"--{name} and --{name}-file are exclusive", f"--{name}")
    if path is not None:
        return read_input(path).data
    return _hex(text, f"--{name}") if text is not None else b""


def _size(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= n < 1 << 32:
        raise argparse.ArgumentTypeError(f"{n} is not a u32")
    return n


def _load_object(kernel: Any, inp: Any, prog: str | None) -> int:
    """Open the object, load only the program ``prog`` (with the object's maps): its fd."""
    from kernel_model.errors import InputError

    from emu.libbpf.object import BpfObject

    obj = BpfObject(inp.data, inp.name)
    names = [p.name for p in obj.programs if not p.is_subprog]
    if prog is None:
        if len(names) != 1:
            raise InputError(f"the object has {len(names)} programs ({', '.join(names)}): name one with --prog",
                             inp.name)
        prog = names[0]
    if prog not in names:
        raise InputError(f"no program '{prog}' (programs: {', '.join(names)})", inp.name)
    for p in obj.programs:
        if not p.is_subprog:
            p.autoload = p.name == prog
    obj.load(kernel)
    return int(obj.find_program(prog).fd)


def _load_file(kernel: Any, args: argparse.Namespace, inp: Any) -> int:
    """A program file loaded as ``--prog-type``: its fd (a rejection raises ProgLoadError)."""
    from emu.kernel.harness import program_env

    from .verify import read_program

    insns = read_program(inp, None, (), args.profile)
    insns, env = program_env(insns, prog_type=args.prog_type, profile=args.profile, flags=args.prog_flags or "",
                             attach_type=args.attach_type)
    return int(kernel.prog_load(insns, prog_type=env.prog_type, expected_attach_type=env.expected_attach_type,
                                prog_flags=env.prog_flags, license="GPL", log_level=1))


def cmd_test_run(args: argparse.Namespace) -> int:
    from kernel_model.cpu import DEFAULT_CPU
    from kernel_model.errors import InputError

    from emu.kernel import Kernel

    from .inputs import read_input

    if args.prog and args.prog_type:
        raise InputError("--prog names an object's program, --prog-type a program file's type", "--prog-type")
    data, ctx = _bytes(args, "data"), _bytes(args, "ctx")
    inp = read_input(args.file)
    kernel = Kernel(args.profile, cpu=getattr(args, "cpu", DEFAULT_CPU))
    try:
        if inp.is_elf:
            fd = _load_object(kernel, inp, args.prog)
        else:
            if args.prog:
                raise InputError("--prog is for ELF objects", "--prog")
            fd = _load_file(kernel, args, inp)
        prog_type = kernel.prog_info(fd).type
        r = kernel.prog_test_run(fd, data_in=data, ctx_in=ctx, repeat=args.repeat, data_out_size=args.data_out_size,
                                 ctx_out_size=args.ctx_out_size, flags=args.flags)
    finally:
        kernel.shutdown()
    action = XDP_ACTIONS[r.retval] if prog_type == PROG_TYPE_XDP and r.retval < len(XDP_ACTIONS) else None
    if json_mode():
        emit({"file": inp.name, "prog_type": prog_type, "retval": r.retval, "action": action,
              "data_out": r.data_out.hex(), "ctx_out": r.ctx_out.hex(), "duration_ns": r.duration, "exit_status": EXIT_OK})
        return EXIT_OK
    out(f"retval {r.retval}" + (f" ({action})" if action else ""))
    out(f"data_out ({len(r.data_out)} bytes) {r.data_out.hex()}")
    if r.ctx_out:
        out(f"ctx_out ({len(r.ctx_out)} bytes) {r.ctx_out.hex()}")
    out(f"duration {r.duration} ns per run (emulated)")
    return EXIT_OK


def add_subcommand(sub: Any) -> None:
    """Register ``test-run``."""
    t = sub.add_parser("test-run", help="BPF_PROG_TEST_RUN one program (XDP, socket filter, syscall ...)",
                       description="Load one program into an emulated kernel and test-run it as BPF_PROG_TEST_RUN "
                                   "does: retval, data_out, ctx_out. FILE: an ELF object (--prog names the "
                                   "program) or assembly/raw instructions (--prog-type). Exit status: 0 ran, "
                                   "1 refused (the verifier or the test run's errno), 2 bad input, 3 not "
                                   "modelled.")
    t.add_argument("file", metavar="FILE", help="an ELF object, assembly text or raw instructions; - reads stdin")
    t.add_argument("--prog", default=None, help="the object's program to run (needed when it has several)")
    t.add_argument("--prog-type", default=None, help="a program file's type (xdp, socket_filter, syscall, "
                                                     "sk_lookup ...; default socket_filter)")
    t.add_argument("--attach-type", default=None, metavar="NAME", help="a program file's expected_attach_type")
    t.add_argument("--prog-flags", default="",
                   help="a program file's prog_flags, as structops verify --flags takes them")
    t.add_argument("--data", default=None, metavar="HEX", help="data_in as hex bytes (the packet)")
    t.add_argument("--data-file", default=None, metavar="PATH", help="data_in from a file's raw bytes")
    t.add_argument("--ctx", default=None, metavar="HEX", help="ctx_in as hex bytes (struct xdp_md, __sk_buff ...)")
    t.add_argument("--ctx-file", default=None, metavar="PATH", help="ctx_in from a file's raw bytes")
    t.add_argument("--repeat", type=_size, default=0, metavar="N", help="attr.test.repeat (0: once)")
    t.add_argument("--data-out-size", type=_size, default=0, metavar="N",
                   help="attr.test.data_size_out (0: the whole packet; smaller: ENOSPC)")
    t.add_argument("--ctx-out-size", type=_size, default=0, metavar="N", help="attr.test.ctx_size_out")
    t.add_argument("--flags", type=_size, default=0, metavar="N", help="attr.test.flags")
    t.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    add_cpu_option(t)
    t.set_defaults(func=cmd_test_run)
