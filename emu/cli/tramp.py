"""``structops tramp``: trampoline sizes and their packing into pages for one struct_ops type."""

from __future__ import annotations

import argparse
from typing import Any

from emu.host.hostcpu import add_cpu_option

from .status import err, out

__all__ = ["add_subcommand", "cmd_tramp"]


def cmd_tramp(args: argparse.Namespace) -> int:
    from kernel_model.errors import InputError

    from emu.kernel.planner import plan_pages, register_declared_type

    profile = args.profile
    if args.decl:
        desc = register_declared_type(args.decl, profile)
    else:
        from emu.kernel import Kernel

        k = Kernel(profile)
        desc = k.struct_ops.by_name(args.type)
        if desc is None:  # a name the user typed: bad input
            raise InputError(f"no struct_ops type {args.type!r} is registered on {profile.name} "
                             f"(registered: {', '.join(d.name for d in k.struct_ops.descs)})", "--type")
    plan = plan_pages(desc, profile, args.cpu)
    out(f"struct {desc.name}: {len(desc.members)} members, profile {profile.name} "
        f"(up to {profile.tramp_image_pages} page(s) of 4096 bytes)")
    out(args.cpu.summary())
    out("code: the trampoline's bytes; taken: what it takes in its page (code + BPF_INSN_SAFETY, 64)")
    out(f"{'member':24s} {'args':>4s} {'ret':>3s} {'code':>5s} {'taken':>5s} {'page':>4s} {'offset':>6s}")
    placed = {plan.member_for(p): p for p in plan.placements}
    for m in desc.members:
        if not m.is_func:
            continue
        fm = m.func_model
        if not m.supported or fm is None:
            out(f"{m.name:24s} {'-':>4s} {'-':>3s} {'-':>5s} {'-':>5s} {'-':>4s} {'-':>6s}  (no CFI stub: unsupported)")
            continue
        p = placed.get(m.name)
        if p is None:
            out(f"{m.name:24s} {fm.nr_args:4d} {fm.ret_size:3d} {'':>5s} {'':>5s} {'-':>4s} {'-':>6s}  (not reached)")
            continue
        out(f"{m.name:24s} {fm.nr_args:4d} {fm.ret_size:3d} {p.code_size:5d} {p.size:5d} {p.page:4d} {p.offset:6d}")
        if args.listing:
            from emu.machine.listing import disassemble

            for line in disassemble(plan.code[p.member], p.addr, plan.symbol):
                out("    " + line)
    if plan.error is not None:
        used = max((p.page for p in plan.placements), default=-1) + 1
        out(f"pages filled: {used} of {profile.tramp_image_pages}, then the next trampoline needs a new page:")
        err(f"E2BIG: {plan.error.message} (BPF_MAP_UPDATE_ELEM fails with -E2BIG; nothing stays registered)")
        return 1
    out(f"pages used: {plan.pages}")
    return 0


def add_subcommand(sub: Any) -> None:
    """Register ``tramp``."""
    t = sub.add_parser("tramp", help="trampoline sizes and page packing of a struct_ops type")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--type", help="a registered struct_ops type (see `structops types`)")
    g.add_argument("--decl", metavar="FILE.h:STRUCT", help="a struct declared in a C header")
    t.add_argument("--profile", default="latest")
    t.add_argument("--listing", action="store_true", help="disassemble each trampoline")
    add_cpu_option(t)
    t.set_defaults(func=cmd_tramp)
