"""``structops types`` and ``structops modules``: what the emulated kernel has registered."""

from __future__ import annotations

import argparse
from typing import Any

from .status import out

__all__ = ["add_subcommands", "cmd_types", "cmd_modules"]


def cmd_types(args: argparse.Namespace) -> int:
    from emu.kernel import Kernel

    k = Kernel(args.profile)
    for d in k.struct_ops.descs:
        owner = d.ops.owner.name if d.ops.owner is not None else "vmlinux"
        funcs = d.func_members()
        out(f"{d.name:24s} owner={owner:16s} members={len(d.members):3d} func={len(funcs):3d} "
            f"supported={sum(m.supported for m in funcs):3d} size={d.size} value_size={d.value_size}")
    return 0


def cmd_modules(args: argparse.Namespace) -> int:
    from kernel_model.errors import InputError, KernelError

    from emu.kernel import BUILTIN_MODULES, Kernel

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
        out(f"{m.name:20s} refcnt={m.refcnt} btf_types={m.btf.start_id}..{m.btf.type_count - 1} "
            f"struct_ops={','.join(types) or '-'} kfuncs={','.join(m.kfunc_ids) or '-'}")
    for line in k.dmesg:
        out(f"dmesg: {line}")
    if failed:
        name, e = failed[0]
        raise KernelError(e.errno, f"insmod {name}: {e.message}")
    return 0


def add_subcommands(sub: Any) -> None:
    """Register ``types`` and ``modules``."""
    ty = sub.add_parser("types", help="list the registered struct_ops types")
    ty.add_argument("--profile", default="latest")
    ty.set_defaults(func=cmd_types)

    mo = sub.add_parser("modules", help="list the loaded modules")
    mo.add_argument("--profile", default="latest")
    mo.add_argument("--load", action="append", default=["bpf_testmod"], metavar="MODULE",
                    help="also load this module (bpf_testmod, bpf_testmod_alt)")
    mo.set_defaults(func=cmd_modules)
