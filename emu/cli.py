"""The ``structops`` command line.

Every command reports a failure as one ``error: ...`` line on stderr naming the
file and place (an emulated oops prints the kernel's report first), never a
Python traceback, and exits with one of:

====  ==================================================================
0     ok
1     refused by the emulated kernel (an errno, a verifier rejection, a
      load-time check such as ``R11 is invalid``), or the program faulted
2     bad input: unreadable or malformed file, syntax error, unknown
      option value (argparse's usage errors are 2 as well)
3     not modelled by us: the real kernel would do it, this emulator does
      not (a context field, a program type, a helper)
====  ==================================================================

:func:`exit_status` maps the project's error tree
(:mod:`kernel_model.errors`) onto these.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from kernel_model.errors import (ExecFault, InputError, InternalError, InvalidInsn, KernelError, NotModelled,
                                 StructOpsError)

from .hostcpu import add_cpu_option

__all__ = ["main", "exit_status", "one_line", "build_parser", "EXIT_OK", "EXIT_REFUSED", "EXIT_BAD_INPUT",
           "EXIT_NOT_MODELLED", "EXIT_STATUS_HELP"]

Command = Callable[[argparse.Namespace], int]

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_NOT_MODELLED = 0, 1, 2, 3
EXIT_STATUS_HELP = ("exit status: 0 ok, 1 refused by the emulated kernel (or the program faulted), "
                    "2 bad input, 3 not modelled by this emulator")


def exit_status(err: BaseException) -> int:
    """The exit status for an error of the project's tree (see the module docstring).

    :class:`~kernel_model.errors.InvalidInsn` is an InputError but a kernel
    refusal (the load-time checks of ``bpf_check``): 1. A run stopped by a
    not-modelled stub (an ExecFault of kind ``not modelled``) is 3."""
    if isinstance(err, (NotModelled, InternalError)):
        return EXIT_NOT_MODELLED
    if isinstance(err, ExecFault) and err.kind == "not modelled":
        return EXIT_NOT_MODELLED
    if isinstance(err, InvalidInsn):
        return EXIT_REFUSED
    if isinstance(err, InputError):
        return EXIT_BAD_INPUT
    return EXIT_REFUSED


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


#: control characters (a file name or an argument can hold them) as escapes, so that an
#: error stays one line
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (``\\x0a``): one printable line."""
    return text.translate(_CONTROL)


def _err(text: str) -> None:
    sys.stderr.write(f"error: {one_line(text)}\n")


class _Parser(argparse.ArgumentParser):
    """argparse, with the offending argument escaped in usage errors (exit 2)."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        super().error(one_line(message))


# --- asm / disasm ---------------------------------------------------------------

def cmd_asm(args: argparse.Namespace) -> int:
    from kernel_model.insn import encode

    from .progfile import load_program_file

    prog = load_program_file(args.file, args.syntax)
    data = encode(prog.insns)
    out = args.output or str(Path(args.file).with_suffix(".bin"))
    try:
        Path(out).write_bytes(data)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror or e}", out) from None
    _out(f"{out}: {len(prog.insns)} instructions, {len(data)} bytes")
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    from kernel_model.disasm import format_program

    from .progfile import load_program_file

    prog = load_program_file(args.file, args.syntax)
    sys.stdout.write(format_program(prog.insns, numbered=args.numbered))
    return 0


# --- exec ---------------------------------------------------------------------------

def _parse_hex(text: str) -> bytes:
    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{text!r} is not a string of hex bytes", "--mem") from None


def _budget(text: str) -> int:
    """``--budget N``: N >= 1 instructions per run, 0 for no limit (both engines)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative (0 means no limit)")
    return n


def cmd_exec(args: argparse.Namespace) -> int:
    from .conformance import UBPF_TEST_HELPERS
    from .progfile import load_program_file
    from .runner import run_program

    mem_override = _parse_hex(args.mem) if args.mem is not None else None
    if args.check:
        return _exec_check(args, mem_override)
    status = EXIT_OK
    many = len(args.files) > 1
    for path in args.files:
        try:
            prog = load_program_file(path, args.syntax)
            mem = mem_override if mem_override is not None else prog.mem
            r0 = run_program(prog.insns, mem=mem, engine=args.engine, helpers=UBPF_TEST_HELPERS,
                             budget=args.budget, cpu=args.cpu)
        except StructOpsError as e:
            status = max(status, exit_status(e))
            msg = str(e)
            if not msg.startswith(path):
                msg = f"{path}: {msg}"
            if many:  # one line per file: "m.s:2:6: error: expected ..."
                where, _, text = msg[len(path):].partition(": ")
                _out(one_line(f"{path}{where}: error: {text}"))
            else:
                from .oops import Oops

                if isinstance(e, Oops):
                    sys.stderr.write(e.text.rstrip("\n") + "\n")
                _err(msg)
            continue
        _out(f"{path}: {r0:#x}" if many else f"{r0:#x}")
    return status


def _exec_check(args: argparse.Namespace, mem_override: bytes | None) -> int:
    """``exec --check``: each conformance file's run against its ``-- result`` /
    ``-- error`` (:func:`emu.conformance.check_case`), one ``PATH: pass|FAIL: why``
    line each, then a count; 0 when every case passes, 1 otherwise. A file that
    is no test case (unreadable, malformed) gets an ``error:`` line on stderr
    and makes the status 2."""
    from .conformance import UBPF_TEST_HELPERS, check_case
    from .progfile import load_program_file
    from .runner import run_program

    failed = 0
    status = EXIT_OK
    for path in args.files:
        try:
            prog = load_program_file(path, args.syntax)
            if prog.case is None:
                raise InputError("--check needs a conformance .data file (with -- result or -- error)", path)
        except StructOpsError as e:  # not a test case we can run: bad input, on stderr
            msg = str(e)
            _err(msg if msg.startswith(path) else f"{path}: {msg}")
            failed += 1
            status = max(status, exit_status(e))
            continue
        r0: int | None = None
        error: str | None = None
        if prog.case.is_assembler_case:
            ok, why = check_case(prog.case, None, None)
            _out(one_line(f"{path}: {'pass' if ok else 'FAIL'}: {why}"))
            failed += not ok
            status = max(status, EXIT_OK if ok else EXIT_REFUSED)
            continue
        try:
            mem = mem_override if mem_override is not None else prog.mem
            r0 = run_program(prog.insns, mem=mem, engine=args.engine, helpers=UBPF_TEST_HELPERS,
                             budget=args.budget)
        except StructOpsError as e:
            error = str(e)
        ok, why = check_case(prog.case, r0, error)
        _out(one_line(f"{path}: {'pass' if ok else 'FAIL'}: {why}"))
        if not ok:
            failed += 1
            status = max(status, EXIT_REFUSED)
    _out(f"{len(args.files) - failed} of {len(args.files)} passed")
    return status


# --- btf -------------------------------------------------------------------------------

def cmd_btf_dump(args: argparse.Namespace) -> int:
    from kernel_model import btf as btfmod

    if args.kernel:
        from .kernel import Kernel

        k = Kernel(profile=args.profile)
        if args.format == "c":  # vmlinux.h: built-in and every loaded module's types (emu/libbpf/vmlinux_h.py)
            from .libbpf.vmlinux_h import kernel_header

            sys.stdout.write(kernel_header(k))
            return 0
        sys.stdout.write(btfmod.format_raw(k.btf_for_dump()))
        return 0
    if not args.file:
        raise InputError("btf dump needs FILE or --kernel")
    sys.stdout.write(btfmod.dump_command(args.file, args.format))
    return 0


# --- struct_ops: tramp / types / modules ---------------------------------------------

def cmd_tramp(args: argparse.Namespace) -> int:
    from .planner import plan_pages, register_declared_type

    from kernel_model.profile import get_profile

    profile = get_profile(args.profile)
    if args.decl:
        desc = register_declared_type(args.decl, profile)
    else:
        from .kernel import Kernel

        k = Kernel(profile)
        desc = k.struct_ops.by_name(args.type)
        if desc is None:  # a name the user typed: bad input
            raise InputError(f"no struct_ops type {args.type!r} is registered on {profile.name} "
                             f"(registered: {', '.join(d.name for d in k.struct_ops.descs)})", "--type")
    plan = plan_pages(desc, profile, args.cpu)
    _out(f"struct {desc.name}: {len(desc.members)} members, profile {profile.name} "
         f"(up to {profile.tramp_image_pages} page(s) of 4096 bytes)")
    _out(args.cpu.summary())
    _out("code: the trampoline's bytes; taken: what it takes in its page (code + BPF_INSN_SAFETY, 64)")
    _out(f"{'member':24s} {'args':>4s} {'ret':>3s} {'code':>5s} {'taken':>5s} {'page':>4s} {'offset':>6s}")
    placed = {plan.member_for(p): p for p in plan.placements}
    for m in desc.members:
        if not m.is_func:
            continue
        fm = m.func_model
        if not m.supported or fm is None:
            _out(f"{m.name:24s} {'-':>4s} {'-':>3s} {'-':>5s} {'-':>5s} {'-':>4s} {'-':>6s}  (no CFI stub: unsupported)")
            continue
        p = placed.get(m.name)
        if p is None:
            _out(f"{m.name:24s} {fm.nr_args:4d} {fm.ret_size:3d} {'':>5s} {'':>5s} {'-':>4s} {'-':>6s}  (not reached)")
            continue
        _out(f"{m.name:24s} {fm.nr_args:4d} {fm.ret_size:3d} {p.code_size:5d} {p.size:5d} {p.page:4d} {p.offset:6d}")
        if args.listing:
            from .listing import disassemble

            for line in disassemble(plan.code[p.member], p.addr, plan.symbol):
                _out("    " + line)
    if plan.error is not None:
        used = max((p.page for p in plan.placements), default=-1) + 1
        _out(f"pages filled: {used} of {profile.tramp_image_pages}, then the next trampoline needs a new page:")
        _err(f"E2BIG: {plan.error.message} (BPF_MAP_UPDATE_ELEM fails with -E2BIG; nothing stays registered)")
        return 1
    _out(f"pages used: {plan.pages}")
    return 0


def cmd_types(args: argparse.Namespace) -> int:
    from .kernel import Kernel

    k = Kernel(args.profile)
    for d in k.struct_ops.descs:
        owner = d.ops.owner.name if d.ops.owner is not None else "vmlinux"
        funcs = d.func_members()
        _out(f"{d.name:24s} owner={owner:16s} members={len(d.members):3d} func={len(funcs):3d} "
             f"supported={sum(m.supported for m in funcs):3d} size={d.size} value_size={d.value_size}")
    return 0


def cmd_modules(args: argparse.Namespace) -> int:
    from .kernel import BUILTIN_MODULES, Kernel

    names = list(dict.fromkeys(args.load))  # in order, each once
    for name in names:
        if name not in BUILTIN_MODULES:
            raise InputError(f"no module {name!r} (known: {', '.join(BUILTIN_MODULES)})", "--load")
    k = Kernel(args.profile, modules=())
    failed: list[tuple[str, KernelError]] = []
    for name in names:
        try:
            k.load_module(name)
        except KernelError as e:  # init failed: the kernel refused it (dmesg says why); exit 1 after the listing
            k.dmesg.append(f"{name}: init failed: {e}")
            failed.append((name, e))
    for m in k.modules.modules.values():
        types = [d.name for d in k.struct_ops.descs if d.ops.owner is m]
        _out(f"{m.name:20s} refcnt={m.refcnt} btf_types={m.btf.start_id}..{m.btf.type_count - 1} "
             f"struct_ops={','.join(types) or '-'} kfuncs={','.join(m.kfunc_ids) or '-'}")
    for line in k.dmesg:
        _out(f"dmesg: {line}")
    if failed:
        name, e = failed[0]
        raise KernelError(e.errno, f"insmod {name}: {e.message}")
    return 0


# --- profiles / version --------------------------------------------------------------

#: what each Profile field means, for `structops profiles` (kernel_model/profile.py cites the sources)
_PROFILE_FIELDS = {
    "version": "kernel version modelled",
    "tramp_image_pages": "pages of trampolines per struct_ops map (MAX_TRAMP_IMAGE_PAGES)",
    "nullable_args": "__nullable struct_ops stub arguments are maybe-NULL",
    "module_struct_ops": "modules may register struct_ops types",
    "atomic_load_store": "load-acquire / store-release instructions",
    "ibt": "config: endbr64 at JIT images (X86_KERNEL_IBT)",
    "return_thunk": "config: ret through the return thunk (MITIGATION_RETHUNK)",
    "call_depth_tracking": "config: call-depth accounting before calls",
    "prologue_nops": "config: fentry nop5 / tail-call nop3 in the prologue",
}


def profile_table() -> list[str]:
    """The behaviour table of every profile: one row per :class:`Profile` field
    (version facts, then configuration knobs), one column per profile."""
    from dataclasses import fields

    from kernel_model.profile import PROFILES

    names = list(PROFILES)
    rows = [["", *names, ""]]
    for f in fields(next(iter(PROFILES.values()))):
        if f.name == "name":
            continue
        vals = []
        for n in names:
            v = getattr(PROFILES[n], f.name)
            vals.append(".".join(map(str, v)) if isinstance(v, tuple) else
                        ("yes" if v else "no") if isinstance(v, bool) else str(v))
        rows.append([f.name, *vals, _PROFILE_FIELDS.get(f.name, "")])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1
    return ["  ".join(c.ljust(w) if i in (0, last) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def cmd_profiles(args: argparse.Namespace) -> int:
    from kernel_model.profile import LATEST

    _out(f"kernel profiles (latest = {'.'.join(map(str, LATEST.version))}); "
         "pass one as --profile NAME to tramp, types, modules, verify, load, call, check-signatures:")
    for line in profile_table():
        _out(line)
    return 0


def version_text() -> str:
    """``structops --version``: the package version, the modelled kernel, the profiles."""
    from kernel_model.profile import LATEST, PROFILES

    from . import __version__

    try:
        from importlib.metadata import PackageNotFoundError, version

        installed = version("structops-emu")
    except PackageNotFoundError:  # run from a source tree without being installed
        installed = __version__
    return (f"structops-emu {installed}\n"
            f"models Linux {'.'.join(map(str, LATEST.version))} (BPF struct_ops, verifier, x86-64 JIT)\n"
            f"profiles: {', '.join(PROFILES)}\n")


# --- demo -------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.steps or None, cpu=args.cpu)  # an unknown step name is an InputError (exit 2)


# --- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="structops", description=(
        "An emulator of the Linux kernel's BPF struct_ops mechanism, its x86-64 "
        "trampolines and its verifier."), epilog=EXIT_STATUS_HELP)
    p.add_argument("--version", action=_Version, nargs=0,
                   help="print the package version, the modelled kernel and the profiles")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    a = sub.add_parser("asm", help="assemble a program to raw instruction bytes")
    a.add_argument("file", help="assembly (.s), conformance .data, or raw bytes")
    a.add_argument("-o", "--output", help="output file (default: FILE with .bin)")
    a.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    a.set_defaults(func=cmd_asm)

    d = sub.add_parser("disasm", help="print a program in the kernel's syntax")
    d.add_argument("file")
    d.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    d.add_argument("-n", "--numbered", action="store_true", help="prefix instruction indices")
    d.set_defaults(func=cmd_disasm)

    e = sub.add_parser("exec", help="run programs and print r0")
    e.add_argument("files", nargs="+", metavar="FILE")
    e.add_argument("--mem", help="input memory as hex bytes (r1 points to it, r2 holds its length)")
    e.add_argument("--syntax", choices=("kernel", "conformance"), default=None,
                   help="dialect of assembly files (default: kernel; .data files are conformance)")
    e.add_argument("--engine", choices=("interp", "jit"), default="interp")
    e.add_argument("--check", action="store_true",
                   help="conformance .data files: compare each run with its -- result (low 32 bits, as "
                        "bpf_conformance does) or -- error (any refusal), print pass/FAIL")
    e.add_argument("--budget", type=_budget, default=10_000_000, metavar="N",
                   help="instruction budget per program run (default 10000000; 0: no limit), the same on "
                        "both engines: a run past it stops with exit status 1")
    add_cpu_option(e)
    e.set_defaults(func=cmd_exec)

    from .demo import STEPS

    dm = sub.add_parser("demo", help="a guided run through the emulator (what `make demo` runs)")
    dm.add_argument("steps", nargs="*", metavar="STEP",
                    help=f"run only these steps ({', '.join(name for name, _ in STEPS)})")
    add_cpu_option(dm)
    dm.set_defaults(func=cmd_demo)

    t = sub.add_parser("tramp", help="trampoline sizes and page packing of a struct_ops type")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--type", help="a registered struct_ops type (see `structops types`)")
    g.add_argument("--decl", metavar="FILE.h:STRUCT", help="a struct declared in a C header")
    t.add_argument("--profile", default="latest")
    t.add_argument("--listing", action="store_true", help="disassemble each trampoline")
    add_cpu_option(t)
    t.set_defaults(func=cmd_tramp)

    ty = sub.add_parser("types", help="list the registered struct_ops types")
    ty.add_argument("--profile", default="latest")
    ty.set_defaults(func=cmd_types)

    mo = sub.add_parser("modules", help="list the loaded modules")
    mo.add_argument("--profile", default="latest")
    mo.add_argument("--load", action="append", default=["bpf_testmod"], metavar="MODULE",
                    help="also load this module (bpf_testmod, bpf_testmod_alt)")
    mo.set_defaults(func=cmd_modules)

    pr = sub.add_parser("profiles", help="the kernel profiles and what each one changes")
    pr.set_defaults(func=cmd_profiles)

    b = sub.add_parser("btf", help="BTF type information")
    bsub = b.add_subparsers(dest="btf_command", metavar="SUBCOMMAND")
    bsub.required = True
    bd = bsub.add_parser("dump", help="dump a BTF file (bpftool's raw format, or a C header)")
    bd.add_argument("file", nargs="?")
    bd.add_argument("--format", choices=("raw", "c"), default="raw")
    bd.add_argument("--kernel", action="store_true", help="dump the emulated kernel's BTF (vmlinux.h)")
    bd.add_argument("--profile", default="latest")
    bd.set_defaults(func=cmd_btf_dump)

    from .verify_cmd import add_subcommand as add_verify_command  # verify (the verifier model)

    add_verify_command(sub)

    from .libbpf.cli import add_subcommands as add_loader_commands  # load, call, check-signatures

    add_loader_commands(sub)

    from .sim.cli import add_subcommand as add_sim_commands  # sim tcp, sim sched

    add_sim_commands(sub)

    for sp in (p, *sub.choices.values(), *_nested(sub)):
        sp.epilog = EXIT_STATUS_HELP  # every subcommand's --help documents the exit status
    return p


class _Version(argparse.Action):
    """``--version``: :func:`version_text` as it is (argparse's own action rewraps it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    # Names read from files (BTF strings, C identifiers) are bytes decoded with
    # surrogateescape: stdout writes them back as those bytes, as bpftool prints
    # them, instead of raising UnicodeEncodeError on a name that is not UTF-8.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except StructOpsError as e:
        from .oops import Oops

        if isinstance(e, Oops):  # the kernel's report first, as dmesg would show it
            sys.stderr.write(e.text.rstrip("\n") + "\n")
        _err(str(e))
        return exit_status(e)
    except BrokenPipeError:  # `structops ... | head`
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
