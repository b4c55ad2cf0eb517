"""Fixtures shared by the machine tests."""

from __future__ import annotations

import pytest

from emu.machine import Machine


@pytest.fixture(scope="module")
def machine():  # type: ignore[no-untyped-def]
    """One machine per test module (creating one costs about 0.3 ms, a reset 7 us)."""
    m = Machine()
    yield m
    m.close()


@pytest.fixture
def m(machine):  # type: ignore[no-untyped-def]
    """The module's machine, reset."""
    machine.reset()
    return machine
