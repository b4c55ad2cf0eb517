"""``structops btf dump``: a BTF file, or the emulated kernel's BTF, as bpftool prints it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_subcommand", "cmd_btf_dump"]


def cmd_btf_dump(args: argparse.Namespace) -> int:
    from kernel_model import btf as btfmod
    from kernel_model.errors import InputError

    if args.kernel:
        from emu.kernel import Kernel

        k = Kernel(args.profile)
        if args.format == "c":  # vmlinux.h: built-in and every loaded module's types (emu/libbpf/vmlinux_h.py)
            from emu.libbpf.vmlinux_h import kernel_header

            sys.stdout.write(kernel_header(k.btf, [m.btf for m in k.modules.modules.values()]))
            return 0
        sys.stdout.write(btfmod.format_raw(k.btf_for_dump()))
        return 0
    if not args.file:
        raise InputError("btf dump needs FILE or --kernel")
    sys.stdout.write(btfmod.dump_command(args.file, args.format))
    return 0


def add_subcommand(sub: Any) -> None:
    """Register ``btf dump``."""
    b = sub.add_parser("btf", help="BTF type information")
    bsub = b.add_subparsers(dest="btf_command", metavar="SUBCOMMAND")
    bsub.required = True
    bd = bsub.add_parser("dump", help="dump a BTF file (bpftool's raw format, or a C header)")
    bd.add_argument("file", nargs="?")
    bd.add_argument("--format", choices=("raw", "c"), default="raw")
    bd.add_argument("--kernel", action="store_true", help="dump the emulated kernel's BTF (vmlinux.h)")
    bd.add_argument("--profile", default="latest")
    bd.set_defaults(func=cmd_btf_dump)
