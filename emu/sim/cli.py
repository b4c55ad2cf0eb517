"""``structops sim``: the simulation subcommands. ``sim tcp`` is :mod:`emu.sim.tcp_cli`;
``sim sched`` is ``emu.sim.sched_cli`` when that module is present (each module
has ``add_subcommand(subparsers)`` adding its parser with ``func`` set)."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

__all__ = ["add_subcommand"]


def add_subcommand(sub: Any) -> None:
    s = sub.add_parser("sim", help="simulations that make the emulated kernel call struct_ops members")
    ssub = s.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    ssub.required = True
    from . import tcp_cli

    tcp_cli.add_subcommand(ssub)
    try:
        sched = importlib.import_module("emu.sim.sched_cli")
    except ModuleNotFoundError as e:
        if e.name != "emu.sim.sched_cli":
            raise
    else:
        sched.add_subcommand(ssub)


