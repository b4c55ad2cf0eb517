"""``structops sim``: the simulation subcommands. ``sim tcp`` is :mod:`emu.sim.tcp_cli`,
``sim sched`` is :mod:`emu.sim.sched_cli`; each adds its parser with ``func`` set."""

from __future__ import annotations

from typing import Any

__all__ = ["add_subcommand"]


def add_subcommand(sub: Any) -> None:
    s = sub.add_parser("sim", help="simulations that make the emulated kernel call struct_ops members")
    ssub = s.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    ssub.required = True
    from . import tcp_cli

    from . import sched_cli

    tcp_cli.add_subcommand(ssub)
    sched_cli.add_parser(ssub)


