"""Shared test configuration: hypothesis profiles, the repository root, the ``kernel`` mark.
The test corpora live in tests/data/ and are read through :mod:`tests.corpus`."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

# "default" (a developer's `make test`) and "ci" draw the same examples on every run
# (derandomize: the examples follow from each test's name), so a test that passes
# once passes again; "long" (`make test-long`) explores with fresh random draws.
settings.register_profile("default", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
settings.load_profile(PROFILE)


def examples(long: int) -> int:
    """A test's hypothesis budget: the profile's, or ``long`` under the long profile
    (the soundness differentials run 10,000 programs per mode there)."""
    return long if PROFILE == "long" else settings.get_profile(PROFILE).max_examples

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """Tests marked ``kernel`` compare with the host kernel through bpf(): they are
    skipped, with the reason, where bpf() is not permitted (not root, not Linux
    x86-64, ORACLE=0). ``ORACLE=1`` turns a missing oracle into a failure."""
    import pytest

    marked = [item for item in items if item.get_closest_marker("kernel")]
    if not marked:
        return
    from emu.host.hostbpf import oracle_status

    ok, why = oracle_status()
    if ok:
        return
    if os.environ.get("ORACLE") == "1":
        raise pytest.UsageError(f"ORACLE=1 but the host kernel cannot be an oracle: {why}")
    skip = pytest.mark.skip(reason=f"host kernel oracle unavailable: {why}")
    for item in marked:
        item.add_marker(skip)
