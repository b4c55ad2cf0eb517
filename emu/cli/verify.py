"""``structops verify``: run the verifier model on a program file and print its log.

Usage::

    structops verify FILE [--syntax kernel|conformance] [--prog-type socket_filter|struct_ops|...]
                          [--attach TYPE:MEMBER] [--profile latest|6.12|...|6.8] [--log-level 1|2]
                          [--map NAME=TYPE:KEY:VALUE:ENTRIES ...] [--flags any_alignment,...]
                          [--license GPL] [--unpriv] [--stats]

FILE is assembly text or raw instruction bytes (see :mod:`emu.formats.progfile`), or a
clang-compiled ELF object, whose programs are loaded as libbpf loads them (into
the emulated kernel, whose BPF_PROG_LOAD runs this verifier) and printed one
after the other under ``-- prog NAME: verdict`` lines. The
log is printed exactly as the kernel would write it at that level; the exit
status is 0 when the program is accepted, 1 when it is rejected (the log's last
lines are the kernel's error message and the ``processed`` statistics), 2 on
bad input (unreadable file, syntax error, unknown attach target), with one
``error: ...`` line on stderr.

``--attach bpf_dummy_ops:test_1`` verifies a ``BPF_PROG_TYPE_STRUCT_OPS``
program for that member of a type registered in the emulated kernel
(:class:`emu.kernel.Kernel`, modules loaded: ``bpf_testmod``); its kfuncs can be
called by name (``call bpf_kfunc_common_test``): a kfunc of a module becomes a
call with ``off`` = 1 and the module's BTF in ``fd_array[1]``, as libbpf encodes
it. ``--map`` declares maps usable as ``rN = NAME ll``; each gets the fd of its
position (0, 1, ...), the way the verifier corpus encodes map references.

The load itself is :func:`emu.kernel.harness.program_env`, which the tests and
benchmarks share.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Sequence

__all__ = ["add_subcommand", "cmd_verify", "read_program"]

#: ``call NAME``: a name the assembler resolves through the symbol table when it is a kfunc
_CALL_NAME = re.compile(r"\bcall\s+([A-Za-z_]\w*)")


def _needs_kfunc_names(text: str) -> bool:
    """Whether the assembly calls a name that is not a helper (a kfunc, or a local
    label): only then are the emulated kernel's kfunc names needed to assemble it."""
    from kernel_model.helper_ids import helper_id

    return any(helper_id(name) is None for name in _CALL_NAME.findall(text))


def read_program(path: str, syntax: str | None, maps: Sequence[str] = (), profile: Any = None) -> list[Any]:
    """FILE as :mod:`emu.formats.progfile` reads it, except that assembly text may name the
    ``--map`` maps and the emulated kernel's kfuncs (``call bpf_kfunc_common_test``)."""
    from pathlib import Path

    from kernel_model.asm import assemble
    from kernel_model.errors import InputError
    from kernel_model.profile import LATEST

    from emu.formats.progfile import RAW_SUFFIXES, load_program_file
    from emu.kernel.harness import parse_map, symbols_for

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path) from None
    if p.suffix in RAW_SUFFIXES or p.suffix == ".data" or b"\0" in data or data.startswith(b"\x7fELF"):
        return list(load_program_file(path, syntax).insns)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return list(load_program_file(path, syntax).insns)
    if _needs_kfunc_names(text):
        symbols = symbols_for(maps, profile or LATEST)
    else:
        symbols = {name: i for i, name in enumerate(parse_map(m)[0] for m in maps)}
    return assemble(text, syntax=syntax or "kernel", source=path, symbols=symbols)


def build(args: argparse.Namespace) -> tuple[list[Any], Any]:
    """The program and the :class:`verifier.VerifierEnv` the command line describes."""
    from emu.kernel.harness import check_insn_cnt, program_env

    insns = read_program(args.file, args.syntax, args.map or (), args.profile)
    check_insn_cnt(len(insns), privileged=not args.unpriv)
    return program_env(insns, prog_type=args.prog_type, attach=args.attach, profile=args.profile,
                       maps=args.map or (), flags=args.flags or "", license=args.license, unpriv=args.unpriv)


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def verify_elf(args: argparse.Namespace) -> int:
    """An ELF object: every program is loaded the way libbpf loads it (relocations, maps,
    struct_ops attach targets) into the emulated kernel, whose BPF_PROG_LOAD runs this
    verifier; each program's log is printed after a ``-- prog NAME: verdict`` line."""
    from emu.kernel import Kernel
    from emu.libbpf import BpfObject, Log

    # libbpf's own messages are collected, not printed: the logs below say the same
    obj = BpfObject.open_file(args.file, log=Log(stream=None))
    for p in obj.progs.values():
        p.set_log_level(args.log_level)
    verdicts = obj.verify_programs(Kernel(args.profile))
    rejected = 0
    for v in verdicts:
        verdict = "accepted" if v.accepted else f"rejected ({errno_str(v.errno)})"
        sys.stdout.write(f"-- prog {v.name}: {verdict}\n")
        sys.stdout.write(v.log if v.log.endswith("\n") or not v.log else v.log + "\n")
        if not v.log and not v.accepted:
            sys.stdout.write(v.last_line + "\n")
        rejected += not v.accepted
    return 1 if rejected else 0


def errno_str(err: int) -> str:
    from kernel_model.errors import errno_name

    return "-" + errno_name(err)


def cmd_verify(args: argparse.Namespace) -> int:
    """Print the model's log; 0 accepted, 1 rejected, 2 bad input, 3 not modelled."""
    from kernel_model.errors import StructOpsError

    log_size = getattr(args, "log_size", None)
    try:
        if _is_elf(args.file):
            if log_size is not None:
                sys.stderr.write("error: --log-size is not modelled for ELF objects (libbpf's own log buffer)\n")
                return 3
            return verify_elf(args)
        insns, env = build(args)
        env.log_size = log_size
        from verifier import verify

        res = verify(insns, env, log_level=args.log_level)
    except StructOpsError as e:
        from .status import exit_status, one_line

        sys.stderr.write(f"error: {one_line(str(e))}\n")
        return exit_status(e)
    sys.stdout.write(res.log)
    if args.stats:
        depth = "+".join(str(d) for d in res.stack_depth)
        sys.stderr.write(f"verdict: {'accepted' if res.accepted else 'rejected'}"
                         f"{'' if res.accepted else f' ({res.errno_name})'}; processed {res.processed}; "
                         f"stack depth {depth}; log_true_size {res.log_true_size}\n")
    return 0 if res.accepted else 1


def _log_size(text: str) -> int:
    """``--log-size``: a byte count, 1 .. UINT_MAX >> 2 (bpf_verifier_log_attr_valid)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= n <= 0xFFFFFFFF >> 2:
        raise argparse.ArgumentTypeError(f"{n} is outside 1..{0xFFFFFFFF >> 2} (the kernel refuses it with EINVAL)")
    return n


#: the program types ``--prog-type`` accepts (kernel_model.prog.PROG_TYPES), for the help text
_PROG_TYPE_HELP = ("socket_filter, kprobe, sched_cls, sched_act, tracepoint, xdp, perf_event, cgroup_skb, "
                   "raw_tracepoint, raw_tracepoint_writable, struct_ops, syscall")
#: --flags names, for the help text (emu.kernel.harness.FLAG_NAMES)
_FLAG_HELP = "strict_alignment, any_alignment, test_rnd_hi32, test_state_freq, sleepable, test_reg_invariants"


def add_subcommand(sub: Any) -> None:
    """Register ``verify`` on the ``structops`` parser."""
    v = sub.add_parser("verify", help="verify a program with the verifier model and print the kernel's log",
                       description="Exit status: 0 accepted, 1 rejected (last line: the kernel's message; "
                                   "E2BIG for too many instructions), 2 bad input, 3 not modelled.")
    v.add_argument("file", metavar="FILE", help="assembly text, raw instruction bytes, or an ELF object")
    v.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    v.add_argument("--prog-type", default=None, help=f"program type ({_PROG_TYPE_HELP}); "
                   "default socket_filter, or struct_ops with --attach")
    v.add_argument("--attach", metavar="TYPE:MEMBER", help="struct_ops member to attach to (bpf_dummy_ops:test_1)")
    v.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    v.add_argument("--log-level", type=int, choices=(1, 2), default=1)
    v.add_argument("--map", action="append", metavar="NAME=TYPE:KEY:VALUE:ENTRIES",
                   help="declare a map usable as `rN = NAME ll` (fd = its position)")
    v.add_argument("--flags", default="", help=f"prog_flags ({_FLAG_HELP}), comma-separated")
    v.add_argument("--log-size", type=_log_size, default=None, metavar="N",
                   help="attr.log_size: a log buffer of N bytes as the kernel fills it (rotating: the "
                        "tail is kept; ENOSPC if the log ever outgrew it); default: the whole log")
    v.add_argument("--license", default="GPL")
    v.add_argument("--unpriv", action="store_true", help="load with CAP_BPF only (no CAP_PERFMON/CAP_SYS_ADMIN)")
    v.add_argument("--stats", action="store_true", help="print the verdict and stack depth on stderr")
    v.set_defaults(func=cmd_verify)
