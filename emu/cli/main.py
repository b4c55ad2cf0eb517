"""The ``structops`` command line: the parser and the one place errors become exit statuses.

Each command lives in a module of its own (:data:`COMMANDS`: :mod:`.asm`,
:mod:`.execute`, :mod:`.demo`, :mod:`.tramp`, :mod:`.kernel_info`,
:mod:`.profiles`, :mod:`.btf`, :mod:`.verify`, :mod:`.loader`, and ``sim`` from
:mod:`emu.sim.cli`) and registers itself with ``add_subcommand(s)``; building
the parser imports none of the emulator, so ``structops --help`` is cheap, and
``structops CMD ...`` imports and registers only the module of ``CMD``. What a
command needs is imported when it runs.

Names given on the command line are turned into objects here, once:
``--profile NAME`` becomes a :class:`~kernel_model.profile.Profile` (an unknown
name is bad input, exit 2) before any command runs; ``--cpu NAME`` becomes a
:class:`~kernel_model.cpu.CpuConfig` while parsing (:func:`emu.host.hostcpu.add_cpu_option`).

Exit statuses and the one-line error format are :mod:`.status`'s.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Sequence

from .status import (EXIT_BAD_INPUT, EXIT_NOT_MODELLED, EXIT_OK, EXIT_REFUSED, EXIT_STATUS_HELP, Parser, err,
                     exit_status, one_line)

__all__ = ["main", "exit_status", "one_line", "build_parser", "COMMANDS", "EXIT_OK", "EXIT_REFUSED",
           "EXIT_BAD_INPUT", "EXIT_NOT_MODELLED", "EXIT_STATUS_HELP"]

#: (module, its registration function, the commands it registers), in the order ``--help`` lists them
COMMANDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("emu.cli.asm", "add_subcommands", ("asm", "disasm")),
    ("emu.cli.execute", "add_subcommand", ("exec",)),
    ("emu.cli.demo", "add_subcommand", ("demo",)),
    ("emu.cli.tramp", "add_subcommand", ("tramp",)),
    ("emu.cli.kernel_info", "add_subcommands", ("types", "modules")),
    ("emu.cli.profiles", "add_subcommand", ("profiles",)),
    ("emu.cli.btf", "add_subcommand", ("btf",)),  # btf dump
    ("emu.cli.verify", "add_subcommand", ("verify",)),  # the verifier model
    ("emu.cli.loader", "add_subcommands", ("load", "call", "check-signatures")),
    ("emu.sim.cli", "add_subcommand", ("sim",)),  # sim tcp, sim sched
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``structops`` parser with every command, or with ``command``'s module only
    (what parsing ``structops COMMAND ...`` needs)."""
    p = Parser(prog="structops", description=(
        "An emulator of the Linux kernel's BPF struct_ops mechanism, its x86-64 "
        "trampolines and its verifier."), epilog=EXIT_STATUS_HELP)
    p.add_argument("--version", action=_Version, nargs=0,
                   help="print the package version, the modelled kernel and the profiles")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module, register, names in COMMANDS:
        if command is None or command in names:
            getattr(import_module(module), register)(sub)

    for sp in (p, *sub.choices.values(), *_nested(sub)):
        sp.epilog = EXIT_STATUS_HELP  # every subcommand's --help documents the exit status
    return p


class _Version(argparse.Action):
    """``--version``: :func:`emu.cli.profiles.version_text` as it is (argparse's own action rewraps it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from .profiles import version_text

        sys.stdout.write(version_text())
        parser.exit(0)


def _nested(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> list[argparse.ArgumentParser]:
    """The parsers of second-level subcommands (``btf dump``)."""
    out = []
    for sp in sub.choices.values():
        for action in sp._actions:
            if isinstance(action, argparse._SubParsersAction):
                out.extend(action.choices.values())
    return out


def resolve_names(args: argparse.Namespace) -> None:
    """``--profile NAME`` -> :class:`~kernel_model.profile.Profile`, once, for every
    command (an unknown name is an InputError: exit 2)."""
    name = getattr(args, "profile", None)
    if isinstance(name, str):
        from kernel_model.profile import get_profile

        args.profile = get_profile(name)


def main(argv: Sequence[str] | None = None) -> int:
    # Names read from files (BTF strings, C identifiers) are bytes decoded with
    # surrogateescape: stdout writes them back as those bytes, as bpftool prints
    # them, instead of raising UnicodeEncodeError on a name that is not UTF-8.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    words = sys.argv[1:] if argv is None else list(argv)
    known = {name for _, _, names in COMMANDS for name in names}
    parser = build_parser(words[0] if words and words[0] in known else None)
    args = parser.parse_args(words)
    from kernel_model.errors import StructOpsError

    try:
        resolve_names(args)
        return int(args.func(args))
    except StructOpsError as e:
        from emu.machine.oops import Oops

        if isinstance(e, Oops):  # the kernel's report first, as dmesg would show it
            sys.stderr.write(e.text.rstrip("\n") + "\n")
        err(str(e))
        return exit_status(e)
    except BrokenPipeError:  # `structops ... | head`
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
