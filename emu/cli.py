"""The ``structops`` command line.

Every command reports bad input as one ``error: ...`` line naming the file and
place, exits 1, and never shows a Python traceback for an error of the
project's own tree (:class:`kernel_model.errors.StructOpsError`). Usage errors
(unknown options) exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from kernel_model.errors import StructOpsError

from .hostcpu import add_cpu_option

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(f"error: {text}\n")


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
        raise StructOpsError(f"{out}: cannot write: {e.strerror or e}") from None
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
        raise StructOpsError(f"--mem {text!r} is not a string of hex bytes") from None


def cmd_exec(args: argparse.Namespace) -> int:
    from .conformance import UBPF_TEST_HELPERS
    from .progfile import load_program_file
    from .runner import run_program

    mem_override = _parse_hex(args.mem) if args.mem is not None else None
    failed = 0
    many = len(args.files) > 1
    for path in args.files:
        try:
            prog = load_program_file(path, args.syntax)
            mem = mem_override if mem_override is not None else prog.mem
            r0 = run_program(prog.insns, mem=mem, engine=args.engine, helpers=UBPF_TEST_HELPERS,
                             budget=args.budget, cpu=args.cpu)
        except StructOpsError as e:
            failed += 1
            msg = str(e)
            if many:
                _out(f"{path}: error: {msg}")
            else:
                _err(msg if msg.startswith(path) else f"{path}: {msg}")
            continue
        _out(f"{path}: {r0:#x}" if many else f"{r0:#x}")
    return 1 if failed else 0


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
        raise StructOpsError("btf dump needs FILE or --kernel")
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

        desc = Kernel(profile).struct_ops_type(args.type)
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
    from .kernel import Kernel

    k = Kernel(args.profile, modules=tuple(args.load))
    for m in k.modules.modules.values():
        types = [d.name for d in k.struct_ops.descs if d.ops.owner is m]
        _out(f"{m.name:20s} refcnt={m.refcnt} btf_types={m.btf.start_id}..{m.btf.type_count - 1} "
             f"struct_ops={','.join(types) or '-'} kfuncs={','.join(m.kfunc_ids) or '-'}")
    for line in k.dmesg:
        _out(f"dmesg: {line}")
    return 0


# --- demo -------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.steps or None, cpu=args.cpu)


# --- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="structops", description=(
        "An emulator of the Linux kernel's BPF struct_ops mechanism, its x86-64 "
        "trampolines and its verifier."))
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
    e.add_argument("--budget", type=int, default=10_000_000, help="instruction budget per program")
    add_cpu_option(e)
    e.set_defaults(func=cmd_exec)

    dm = sub.add_parser("demo", help="a guided run through the emulator (what `make demo` runs)")
    dm.add_argument("steps", nargs="*", help="run only these steps")
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
    mo.add_argument("--load", action="append", default=["bpf_testmod"], help="also load this module")
    mo.set_defaults(func=cmd_modules)

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

    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except StructOpsError as e:
        from .oops import Oops

        if isinstance(e, Oops):  # the kernel's report first, as dmesg would show it
            sys.stderr.write(e.text.rstrip("\n") + "\n")
        _err(str(e))
        return 1
    except BrokenPipeError:  # `structops ... | head`
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
