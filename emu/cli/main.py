"""The ``structops`` command line: the parser and the one place errors become exit statuses.

Each command lives in a module of its own (:data:`COMMANDS`: :mod:`.asm`,
:mod:`.execute`, :mod:`.demo`, :mod:`.tramp`, :mod:`.kernel_info`,
:mod:`.profiles`, :mod:`.btf`, :mod:`.verify`, :mod:`.loader`, :mod:`.test_run`, and ``sim`` from
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

from .output import add_global_options, emit, error_object, json_mode, scan_flags, set_mode
from .status import (EXIT_BAD_INPUT, EXIT_NOT_MODELLED, EXIT_OK, EXIT_REFUSED, EXIT_STATUS_HELP, Parser, err,
                     exit_status, one_line)

__all__ = ["main", "exit_status", "one_line", "build_parser", "report", "epilog", "EXAMPLES", "COMMANDS", "EXIT_OK", "EXIT_REFUSED",
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
    ("emu.cli.test_run", "add_subcommand", ("test-run",)),  # BPF_PROG_TEST_RUN of an object's program
    ("emu.sim.cli", "add_subcommand", ("sim",)),  # sim tcp, sim sched
)


#: commands whose output is a picture, a file or a guided text: ``-j`` is refused (exit 2)
NO_JSON = frozenset({"demo", "btf"})


#: one example (or a few) per command, printed in its ``--help`` above the exit statuses
EXAMPLES: dict[str, str] = {
    "": "structops verify prog.s                  # the verifier's log\n"
        "structops -j types                       # JSON (-p: indented)",
    "asm": "structops asm sum.s -o sum.bin\n"
           "printf 'r0 = 1\\nexit\\n' | structops asm - -o one.bin",
    "disasm": "structops disasm -n sum.bin\n"
              "structops disasm -j sum.bin | jq '.insns[].text'",
    "exec": "structops exec sum.s --engine jit\n"
            "structops exec -j tests/data/conformance/ubpf/*.data",
    "demo": "structops demo pages nullable",
    "tramp": "structops tramp --type bpf_dummy_ops --listing\n"
             "structops tramp --decl examples/many_ops.h:many_ops --profile 6.8 --svg pages.svg",
    "types": "structops types --profile 6.8\n"
             "structops types -p",
    "modules": "structops modules --load bpf_testmod_alt -j",
    "profiles": "structops profiles -j | jq '.profiles[\"6.8\"]'",
    "btf": "structops btf dump --kernel --format c > vmlinux.h",
    "btf dump": "structops btf dump examples/struct_ops_module.bpf.o\n"
                "structops btf dump --kernel --format c > vmlinux.h",
    "verify": "structops verify deref.s --attach bpf_dummy_ops:test_1 --dot cfg.dot --explain\n"
              "structops verify examples/struct_ops_module.bpf.o --list       # its programs\n"
              "structops verify examples/struct_ops_module.bpf.o --prog test_1  # one, loaded alone\n"
              "structops verify -o csv examples/*.bpf.o > a.csv\n"
              "structops verify -o csv --profile 6.8 examples/*.bpf.o > b.csv\n"
              "structops verify --compare a.csv b.csv          # veristat -C: the deltas\n"
              "clang ... -o - | structops verify -             # standard input",
    "load": "structops load examples/struct_ops_module.bpf.o --autocreate testmod_zeroed=0 \\\n"
            "    --set testmod_1.data=13 --call testmod_1.test_2:4,5\n"
            "structops load --verify-only -j examples/*.bpf.o",
    "call": "structops call examples/struct_ops_module.bpf.o testmod_1.test_2 4 5\n"
            "structops call --script steps.txt",
    "check-signatures": "structops check-signatures examples/*.bpf.o\n"
                        "structops check-signatures -j --all examples/struct_ops_module.bpf.o",
    "test-run": "structops test-run examples/dummy_st_ops.bpf.o --prog dummy_test_1 --ctx-hex 0000000000000000\n"
                "structops test-run tests/data/selftests/objects/xdp_tx.o --data-hex 000102030405060708090a0b0800\n"
                "structops test-run prog.s --prog-type xdp --data pkt.bin --data-out out.bin\n"
                "structops test-run tests/data/selftests/objects/bpf_flow.o --prog _dissect \\\n"
                "    --prog-array jmp_table=flow_dissector_0,flow_dissector_1,flow_dissector_2,"
                "flow_dissector_3,flow_dissector_4,flow_dissector_5 \\\n"
                "    --data-hex 00000000000000000000000008004500002800000000400600000a0000010a000002"
                "00501f9000000000000000005000000000000000\n"
                "structops test-run tests/data/selftests/objects/test_raw_tp_test_run.o --prog rename \\\n"
                "    --ctx-hex 34120000000000007856000000000000 --on-cpu 1",
    "sim": "structops sim tcp --algo reno --duration 5 --plot reno.svg",
    "sim tcp": "structops sim tcp --algo cubic --flows 2 --duration 20 --plot cubic.svg\n"
               "structops sim tcp examples/tcp_reno_kfuncs.bpf.o --duration 5 --json > run.json",
    "sim sched": "structops sim sched examples/scx_vtime.bpf.o --cpus 4 --tasks 8 --plot timeline.svg",
}


def epilog(command: str) -> str:
    """A command's ``--help`` epilog: its examples, then the exit statuses."""
    import textwrap

    status = textwrap.fill(EXIT_STATUS_HELP, width=78)
    example = EXAMPLES.get(command)
    if not example:
        return status
    return "example" + ("s" if "\n" in example else "") + ":\n" + textwrap.indent(example, "  ") + "\n\n" + status


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``structops`` parser with every command, or with ``command``'s module only
    (what parsing ``structops COMMAND ...`` needs)."""
    p = Parser(prog="structops", description=(
        "An emulator of the Linux kernel's BPF struct_ops mechanism, its x86-64 "
        "trampolines and its verifier."), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_Version, nargs=0,
                   help="print the package version, the modelled kernel and the profiles")
    add_global_options(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module, register, names in COMMANDS:
        if command is None or command in names:
            getattr(import_module(module), register)(sub)

    p.epilog = epilog("")
    for name, sp in (*sub.choices.items(), *_nested(sub)):
        # every command's --help has an example and documents the exit status
        sp.epilog = epilog(name)
        sp.formatter_class = argparse.RawDescriptionHelpFormatter
        add_global_options(sp)
    return p


class _Version(argparse.Action):
    """``--version``: :func:`emu.cli.profiles.version_text` as it is (argparse's own action rewraps it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from .profiles import version_text

        sys.stdout.write(version_text())
        parser.exit(0)


def _nested(sub: "argparse._SubParsersAction[Parser]") -> list[tuple[str, argparse.ArgumentParser]]:
    """The parsers of second-level subcommands (``btf dump``, ``sim tcp``), with their
    command paths."""
    out: list[tuple[str, argparse.ArgumentParser]] = []
    for name, sp in sub.choices.items():
        for action in sp._actions:
            if isinstance(action, argparse._SubParsersAction):
                out.extend((f"{name} {n}", p) for n, p in action.choices.items())
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
    wanted = scan_flags(words)  # before parsing: argparse's usage errors are JSON in JSON mode too
    set_mode(wanted.json, wanted.pretty, wanted.quiet)
    known = {name for _, _, names in COMMANDS for name in names}
    first = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(first if first in known else None)
    args = parser.parse_args(words)
    set_mode(bool(getattr(args, "json", False)) or wanted.json, bool(getattr(args, "pretty", False)) or wanted.pretty,
             bool(getattr(args, "quiet", False)) or wanted.quiet)
    from kernel_model.errors import StructOpsError

    try:
        if json_mode() and args.command in NO_JSON:
            from kernel_model.errors import InputError

            raise InputError(f"'{args.command}' prints no JSON: -j is for the commands that print results")
        resolve_names(args)
        return int(args.func(args))
    except StructOpsError as e:
        return report(e)
    except BrokenPipeError:  # `structops ... | head`
        return 0
    except KeyboardInterrupt:
        return 130


def report(e: BaseException) -> int:
    """Report an error of the project's tree the way the output mode asks: an emulated
    oops's report on stderr first (as dmesg would show it), then one ``error:`` line on
    stderr, or one JSON object on stdout (:func:`emu.cli.output.error_object`).
    Returns the exit status (:func:`exit_status`)."""
    from emu.machine.oops import Oops

    if isinstance(e, Oops):
        sys.stderr.write(e.text.rstrip("\n") + "\n")
    status = exit_status(e)
    if json_mode():
        emit(error_object(e, status))
    else:
        err(str(e))
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
