"""pytest fixtures for the emulated kernel (registered as the ``structops`` plugin).

Installing structops-emu registers this module under the ``pytest11`` entry
point, so any test suite in the same environment gets these fixtures (disable
with ``-p no:structops``):

``structops_kernel``
    A fresh :class:`emu.kernel.Kernel` per test, shut down afterwards. Its
    profile and CPU come from the command line (``--structops-profile``,
    default ``latest``; ``--structops-cpu``, default the ``amd-zen2`` preset,
    or ``host``) or, per test, from indirect parametrisation with a profile
    name or a dict of :class:`~emu.kernel.Kernel` arguments::

        @pytest.mark.parametrize("structops_kernel", ["6.8", {"profile": "latest", "cpu": "intel-stuff"}],
                                 indirect=True)
        def test_pages(structops_kernel): ...

``structops_kernel_factory``
    A function ``make(profile=..., cpu=..., modules=..., **kw)`` returning a new
    Kernel; every kernel made is shut down after the test.

``structops_machine``
    A fresh x86-64 :class:`emu.machine.Machine` (same profile/CPU resolution,
    indirect parametrisation too), closed afterwards.

These are function-scoped; hypothesis refuses function-scoped fixtures inside
``@given`` (the ``function_scoped_fixture`` health check) because one fixture
value would serve every example. In a property, make a kernel per example
(``with Kernel(profile, cpu=cpu) as k:``) or suppress the check knowingly.

The module imports nothing heavy: the emulator is imported when a fixture is
first used.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

__all__ = ["structops_kernel", "structops_kernel_factory", "structops_machine", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("structops", "structops-emu emulated kernels")
    group.addoption("--structops-profile", default="latest", metavar="PROFILE",
                    help="kernel profile of the structops_kernel/structops_machine fixtures (default: latest)")
    group.addoption("--structops-cpu", default=None, metavar="CPU",
                    help="CPU preset of those fixtures, or 'host' (default: the amd-zen2 preset)")


def _defaults(config: pytest.Config) -> dict[str, Any]:
    return {"profile": config.getoption("--structops-profile", "latest"),
            "cpu": config.getoption("--structops-cpu", None)}


def _kernel_args(request: pytest.FixtureRequest) -> dict[str, Any]:
    kw = _defaults(request.config)
    param = getattr(request, "param", None)
    if isinstance(param, str):
        kw["profile"] = param
    elif isinstance(param, dict):
        kw.update(param)
    elif param is not None:
        raise TypeError(f"{request.fixturename}: indirect parameter must be a profile name or a dict of "
                                f"Kernel arguments, not {param!r}")
    return kw


def _resolve(kw: dict[str, Any]) -> dict[str, Any]:
    """Profile and CPU names -> objects (``host`` read from the running kernel)."""
    from kernel_model.cpu import DEFAULT_CPU, CpuConfig
    from kernel_model.profile import get_profile

    out = dict(kw)
    prof = out.get("profile", "latest")
    out["profile"] = get_profile(prof) if isinstance(prof, str) else prof
    cpu = out.get("cpu")
    if cpu is None:
        out["cpu"] = DEFAULT_CPU
    elif not isinstance(cpu, CpuConfig):
        from emu.host.hostcpu import resolve_cpu

        out["cpu"] = resolve_cpu(cpu)
    return out


def _make_kernel(kw: dict[str, Any]) -> Any:
    from emu.kernel import Kernel

    args = _resolve(kw)
    profile = args.pop("profile")
    return Kernel(profile, **args)


@pytest.fixture
def structops_kernel(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh emulated kernel (see the module docstring)."""
    k = _make_kernel(_kernel_args(request))
    try:
        yield k
    finally:
        k.shutdown()


@pytest.fixture
def structops_kernel_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``make(**Kernel arguments)``: kernels shut down after the test."""
    made: list[Any] = []
    base = _defaults(request.config)

    def make(profile: Any = None, **kw: Any) -> Any:
        args = {**base, **kw}
        if profile is not None:
            args["profile"] = profile
        k = _make_kernel(args)
        made.append(k)
        return k

    try:
        yield make
    finally:
        for k in made:
            k.shutdown()


@pytest.fixture
def structops_machine(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh x86-64 machine of the fixture's profile and CPU."""
    from emu.machine import Machine

    args = _resolve(_kernel_args(request))
    extra = {k: v for k, v in args.items() if k not in ("profile", "cpu", "modules")}
    m = Machine(args["profile"], cpu=args["cpu"], **extra)
    try:
        yield m
    finally:
        m.close()
