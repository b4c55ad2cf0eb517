"""``structops types`` and ``structops modules``: what the emulated kernel has registered."""

from __future__ import annotations

import argparse
from typing import Any

from .output import emit, json_mode
from .status import out

__all__ = ["add_subcommands", "cmd_types", "cmd_modules"]


def cmd_types(args: argparse.Namespace) -> int:
    from emu.kernel import Kernel

    k = Kernel(args.profile)
    rows = []
    for d in k.struct_ops.descs:
        owner = d.ops.owner.name if d.ops.owner is not None else "vmlinux"
        funcs = d.func_members()
        rows.append({"name": d.name, "owner": owner, "members": len(d.members), "func": len(funcs),
                     "supported": sum(m.supported for m in funcs), "size": d.size, "value_size": d.value_size})
        if json_mode():
            continue
        out(f"{d.name:24s} owner={owner:16s} members={len(d.members):3d} func={len(funcs):3d} "
            f"supported={sum(m.supported for m in funcs):3d} size={d.size} value_size={d.value_size}")
    if json_mode():
        emit({"profile": args.profile.name, "types": rows, "exit_status": 0})
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
    if json_mode():
        status = 1 if failed else 0
        obj = {"profile": args.profile.name, "modules": [
            {"name": m.name, "refcnt": m.refcnt, "btf_types": [m.btf.start_id, m.btf.type_count - 1],
             "struct_ops": [d.name for d in k.struct_ops.descs if d.ops.owner is m], "kfuncs": list(m.kfunc_ids)}
            for m in k.modules.modules.values()], "dmesg": list(k.dmesg), "exit_status": status}
        if failed:
            from kernel_model.errors import errno_name

            name, err = failed[0]
            obj["error"] = f"insmod {name}: {err.message}"
            obj["errno"] = errno_name(err.errno, str(err.errno))
        emit(obj)
        return status
    for m in k.modules.modules.values():
        types = [d.name for d in k.struct_ops.descs if d.ops.owner is m]
        out(f"{m.name:20s} refcnt={m.refcnt} btf_types={m.btf.start_id}..{m.btf.type_count - 1} "
            f"struct_ops={','.join(types) or '-'} kfuncs={','.join(m.kfunc_ids) or '-'}")
    for line in k.dmesg:
        out(f"dmesg: {line}")
    if failed:
        name, err = failed[0]
        raise KernelError(err.errno, f"insmod {name}: {err.message}")
    return 0


def add_subcommands(sub: Any) -> None:
    """Register ``types`` and ``modules``."""
    ty = sub.add_parser("types", help="list the registered struct_ops types",
                        description="The struct_ops types the emulated kernel registers (vmlinux's and the "
                                    "loaded modules'): members, function members, sizes.")
    ty.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    ty.set_defaults(func=cmd_types)

    mo = sub.add_parser("modules", help="list the loaded modules",
                        description="Load simulated modules into an emulated kernel and list them: BTF ids, "
                                    "struct_ops types, kfuncs, dmesg. Exit status 1 when a module's init fails.")
    mo.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    mo.add_argument("--load", action="append", default=["bpf_testmod"], metavar="MODULE",
                    help="also load this module (bpf_testmod, bpf_testmod_alt)")
    mo.set_defaults(func=cmd_modules)
