"""``structops tramp``: trampoline sizes and their packing into pages for one struct_ops type."""

from __future__ import annotations

import argparse
from typing import Any

from kernel_model.uapi import PAGE_SIZE

from emu.host.hostcpu import add_cpu_option

from .output import emit, json_mode
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
    placed = {plan.member_for(p): p for p in plan.placements}
    failed = next((m.name for m in desc.members if m.is_func and m.supported and m.func_model is not None
                   and m.name not in placed), None) if plan.error is not None else None
    failed_code = plan.code.get(f"{desc.name}.{failed}") if failed else None
    failed_size = len(failed_code) + 64 if failed_code is not None else None
    if args.svg:
        from pathlib import Path

        from .tramp_svg import pages_svg

        try:
            Path(args.svg).write_text(pages_svg(plan, failed, failed_size))
        except OSError as e:
            raise InputError(f"cannot write: {e.strerror or e}", args.svg) from None
    if json_mode():
        return _tramp_json(args, desc, plan, placed, failed)
    out(f"struct {desc.name}: {len(desc.members)} members, profile {profile.name} "
        f"(up to {profile.tramp_image_pages} page(s) of 4096 bytes)")
    out(args.cpu.summary())
    out("code: the trampoline's bytes; taken: what it takes in its page (code + BPF_INSN_SAFETY, 64)")
    out(f"{'member':24s} {'args':>4s} {'ret':>3s} {'code':>5s} {'taken':>5s} {'page':>4s} {'offset':>6s}")
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


def _tramp_json(args: argparse.Namespace, desc: Any, plan: Any, placed: dict[str, Any], failed: str | None) -> int:
    """``tramp -j``: the type, the pages and one record per function member."""
    members = []
    for m in desc.members:
        if not m.is_func:
            continue
        fm = m.func_model
        rec: dict[str, Any] = {"name": m.name, "supported": bool(m.supported and fm is not None)}
        if fm is not None and m.supported:
            rec.update(nr_args=fm.nr_args, ret_size=fm.ret_size)
            p = placed.get(m.name)
            if p is not None:
                rec.update(code=p.code_size, taken=p.size, page=p.page, offset=p.offset)
            else:
                rec["placed"] = False
        members.append(rec)
    status = 1 if plan.error is not None else 0
    used = [0] * max(plan.pages, 1 + max((p.page for p in plan.placements), default=-1))
    for p in plan.placements:
        used[p.page] = max(used[p.page], p.offset + p.size)
    emit({"type": desc.name, "profile": plan.profile.name, "page_size": PAGE_SIZE,
          "max_pages": plan.profile.tramp_image_pages, "cpu": args.cpu.summary(), "members": members,
          "pages": [{"page": k, "used": u, "free": PAGE_SIZE - u} for k, u in enumerate(used)],
          "error": None if plan.error is None else {"errno": "E2BIG", "message": plan.error.message,
                                                     "member": failed},
          "exit_status": status})
    return status


def add_subcommand(sub: Any) -> None:
    """Register ``tramp``."""
    t = sub.add_parser("tramp", help="trampoline sizes and page packing of a struct_ops type",
                       description="Generate every trampoline of a struct_ops type as the kernel's x86-64 JIT "
                                   "would and pack them into image pages (bpf_struct_ops_prepare_trampoline). "
                                   "Exit status 1 when the map would not fit (E2BIG).")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--type", help="a registered struct_ops type (see `structops types`)")
    g.add_argument("--decl", metavar="FILE.h:STRUCT", help="a struct declared in a C header")
    t.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8): "
                   "how many image pages a map may use")
    t.add_argument("--listing", action="store_true", help="disassemble each trampoline")
    t.add_argument("--svg", metavar="FILE", help="draw the image pages as SVG: one box per trampoline, the free "
                   "space, E2BIG marked")
    add_cpu_option(t)
    t.set_defaults(func=cmd_tramp)
