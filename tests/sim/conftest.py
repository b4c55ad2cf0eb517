"""Fixtures for the simulations: the test congestion controls compiled once per session
with clang against the emulated kernel's vmlinux.h (examples/vmlinux.h)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emu.libbpf.conftest import compile_bpf

PROGS = Path(__file__).parent / "progs"


@pytest.fixture(scope="session")
def bpf_cc(tmp_path_factory):
    """``bpf_cc(name)`` -> path of tests/sim/progs/NAME.bpf.c compiled."""
    out = tmp_path_factory.mktemp("sim_progs")
    built: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in built:
            built[name] = str(compile_bpf(PROGS / f"{name}.bpf.c", out / f"{name}.bpf.o"))
        return built[name]
    return get
