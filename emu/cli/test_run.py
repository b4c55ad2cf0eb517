"""``structops test-run``: ``BPF_PROG_TEST_RUN`` of one program in the emulated kernel.

Usage::

    structops test-run FILE [--prog-type sched_cls|cgroup_skb|lwt_in|...] [--prog NAME]
                            [--data HEX | --data-file PATH] [--ctx HEX | --ctx-file PATH]
                            [--ctx-out N] [--repeat N] [--profile P] [--cpu NAME]

FILE is assembly text or raw instruction bytes (loaded with ``--prog-type``,
default socket_filter), or a clang-compiled ELF object whose program ``--prog``
(or its only program) is loaded as libbpf loads the object, maps included. The
program is loaded into an emulated :class:`emu.kernel.Kernel` and test-run once
(``--repeat``: the kernel's loop) with ``--data`` as ``data_in`` and ``--ctx`` as
``ctx_in``; it prints ``retval``, ``data_out`` and ``ctx_out`` (hex) and the
duration of one run. Which program types run and how is
:mod:`emu.kernel.test_run` (socket filter, tc ``sched_cls``/``sched_act``,
``cgroup_skb``, ``lwt_in``/``lwt_out``/``lwt_xmit``, ``syscall``, ``sk_lookup``,
``struct_ops`` of ``bpf_dummy_ops``). Exit status: 0 the run happened, 1 the
kernel refused the load or the run (its errno), or the program faulted; 2 bad
input; 3 not modelled (a helper or context field the emulated kernel does not
run, a program type without a test run here).
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import emit, json_mode
from .status import EXIT_OK, out

__all__ = ["add_subcommand", "cmd_test_run"]


def _hex(text: str, option: str) -> bytes:
    from kernel_model.errors import InputError

    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{text!r} is not a string of hex bytes", option) from None


def _bytes(hex_text: str | None, path: str | None, option: str) -> bytes:
    from kernel_model.errors import InputError

    if hex_text is not None and path is not None:
        raise InputError(f"give {option} or {option}-file, not both", option)
    if path is not None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror}", f"{option}-file") from None
    return _hex(hex_text, option) if hex_text is not None else b""


def _load_elf(kernel: Any, inp: Any, prog: str | None) -> tuple[int, str, str]:
    """Open the object, load it with only ``prog`` autoloaded (libbpf's loader): the
    program's fd, its name and its type's name."""
    from kernel_model.errors import InputError
    from kernel_model.uapi import PROG_TYPE_NAMES

    from emu.libbpf import BpfObject
    from emu.libbpf.log import Log

    obj = BpfObject(inp.data, inp.name, log=Log(stream=None))
    entries = [p for p in obj.programs if not p.is_subprog]
    names = [p.name for p in entries]
    if prog is None:
        if len(entries) != 1:
            raise InputError(f"the object has {len(entries)} programs: name one with --prog "
                             f"({', '.join(names) or 'none'})", inp.name)
        prog = entries[0].name
    if prog not in names:
        raise InputError(f"no program {prog!r} in the object (it has: {', '.join(names) or 'none'})", inp.name)
    for p in entries:
        p.autoload = p.name == prog
    obj.load(kernel)
    p = obj.progs[prog]
    return p.fd, prog, PROG_TYPE_NAMES.get(p.prog_type, str(p.prog_type))


def cmd_test_run(args: argparse.Namespace) -> int:
    from kernel_model.cpu import DEFAULT_CPU
    from kernel_model.errors import KernelError
    from kernel_model.uapi import PROG_TYPE_NAMES

    from emu.kernel.prog_load import ProgLoadError

    from emu.kernel import Kernel

    from .inputs import read_input

    data = _bytes(args.data, args.data_file, "--data")
    ctx = _bytes(args.ctx, args.ctx_file, "--ctx")
    inp = read_input(args.file)
    kernel = Kernel(args.profile, cpu=getattr(args, "cpu", DEFAULT_CPU))
    try:
        if inp.is_elf:
            fd, name, ptype = _load_elf(kernel, inp, args.prog)
        else:
            from emu.kernel.harness import program_env

            from .verify import read_program

            insns = read_program(inp, None, (), args.profile)
            insns, env = program_env(insns, prog_type=args.prog_type, profile=args.profile,
                                     attach_type=args.attach_type)
            try:
                fd = kernel.prog_load(insns, prog_type=env.prog_type, log_level=1,
                                      expected_attach_type=env.expected_attach_type, prog_flags=env.prog_flags)
            except ProgLoadError as e:  # the verifier's last line, as the kernel's log ends
                raise KernelError(e.errno, f"BPF_PROG_LOAD refused the program: {e.result.error_line or e}"
                                  if e.result is not None else str(e)) from None
            name, ptype = inp.name, PROG_TYPE_NAMES.get(env.prog_type, str(env.prog_type))
        ctx_out_size = args.ctx_out if args.ctx_out is not None else len(ctx)
        r = kernel.prog_test_run(fd, data_in=data, ctx_in=ctx, repeat=args.repeat, ctx_out_size=ctx_out_size)
    finally:
        kernel.shutdown()
    if json_mode():
        emit({"program": name, "prog_type": ptype, "retval": r.retval, "data_out": r.data_out.hex(),
              "ctx_out": r.ctx_out.hex(), "duration_ns": r.duration, "exit_status": EXIT_OK})
    else:
        out(f"program  {name} ({ptype})")
        out(f"retval   {r.retval} ({r.retval:#x})")
        out(f"data_out {r.data_out.hex() or '-'}")
        out(f"ctx_out  {r.ctx_out.hex() or '-'}")
        out(f"duration {r.duration} ns per run (emulated)")
    return EXIT_OK


def add_subcommand(sub: Any) -> None:
    """Register ``test-run`` on the ``structops`` parser."""
    from emu.host.hostcpu import add_cpu_option

    p = sub.add_parser("test-run", help="load a program and run it with BPF_PROG_TEST_RUN (data, ctx) in the "
                                        "emulated kernel",
                       description="Load FILE's program into the emulated kernel and run it once with "
                                   "BPF_PROG_TEST_RUN: print retval, data_out and ctx_out. Exit status 1 when "
                                   "the kernel refuses the load or the run, 3 when the run needs what the "
                                   "emulator does not model.")
    p.add_argument("file", metavar="FILE", help="assembly, raw instruction bytes or an ELF object; - reads "
                                                "standard input")
    p.add_argument("--prog-type", default=None,
                   help="program type of an assembly/raw FILE (socket_filter, sched_cls, sched_act, cgroup_skb, "
                        "lwt_in, lwt_out, lwt_xmit, syscall, sk_lookup ...; default socket_filter)")
    p.add_argument("--attach-type", default=None, metavar="NAME", help="expected_attach_type (by name)")
    p.add_argument("--prog", default=None, metavar="NAME", help="the ELF object's program to run")
    p.add_argument("--data", default=None, metavar="HEX", help="data_in as hex bytes (a packet from its "
                                                               "Ethernet header)")
    p.add_argument("--data-file", default=None, metavar="PATH", help="data_in read from a file")
    p.add_argument("--ctx", default=None, metavar="HEX", help="ctx_in as hex bytes (e.g. a struct __sk_buff)")
    p.add_argument("--ctx-file", default=None, metavar="PATH", help="ctx_in read from a file")
    p.add_argument("--ctx-out", type=int, default=None, metavar="N",
                   help="ctx_size_out (default: the size of ctx_in)")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="runs (the kernel's repeat; default 1)")
    p.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    add_cpu_option(p)
    p.set_defaults(func=cmd_test_run)
