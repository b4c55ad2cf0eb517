"""``structops profiles`` and ``structops --version``: the modelled kernels and what each changes."""

from __future__ import annotations

import argparse
from typing import Any

from .status import out

__all__ = ["add_subcommand", "cmd_profiles", "profile_table", "version_text"]

#: what each Profile field means, for `structops profiles` (kernel_model/profile.py cites the sources)
_PROFILE_FIELDS = {
    "version": "kernel version modelled",
    "tramp_image_pages": "pages of trampolines per struct_ops map (MAX_TRAMP_IMAGE_PAGES)",
    "nullable_args": "__nullable struct_ops stub arguments are maybe-NULL",
    "module_struct_ops": "modules may register struct_ops types",
    "atomic_load_store": "load-acquire / store-release instructions",
    "prologue_nops": "config: fentry nop5 / tail-call nop3 in the prologue",
    "struct_ops_ksyms": "kallsyms names a struct_ops map's trampolines (bpf__TYPE_MEMBER)",
    "timed_may_goto": "may_goto calls arch_bpf_timed_may_goto (x86 JIT)",
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

    from .output import emit, json_mode

    if json_mode():
        from dataclasses import asdict

        from kernel_model.profile import PROFILES

        emit({"latest": ".".join(map(str, LATEST.version)), "profiles": {n: {k: list(v) if isinstance(v, tuple) else v
                                                      for k, v in asdict(p).items() if k != "name"}
                                                  for n, p in PROFILES.items()}, "exit_status": 0})
        return 0
    out(f"kernel profiles (latest = {'.'.join(map(str, LATEST.version))}); "
        "pass one as --profile NAME to tramp, types, modules, verify, load, call, check-signatures:")
    for line in profile_table():
        out(line)
    return 0


def version_text() -> str:
    """``structops --version``: the package version, the modelled kernel, the profiles."""
    from kernel_model.profile import LATEST, PROFILES

    from emu import __version__

    try:
        from importlib.metadata import PackageNotFoundError, version

        installed = version("structops-emu")
    except PackageNotFoundError:  # run from a source tree without being installed
        installed = __version__
    return (f"structops-emu {installed}\n"
            f"models Linux {'.'.join(map(str, LATEST.version))} (BPF struct_ops, verifier, x86-64 JIT)\n"
            f"profiles: {', '.join(PROFILES)}\n")


def add_subcommand(sub: Any) -> None:
    """Register ``profiles``."""
    pr = sub.add_parser("profiles", help="the kernel profiles and what each one changes")
    pr.set_defaults(func=cmd_profiles)
