"""The ``structops`` pytest plugin, run as a user's suite would (pytester)."""

from __future__ import annotations

from importlib.metadata import entry_points

pytest_plugins = ["pytester"]

SUITE = '''
import pytest

def test_default(structops_kernel):
    assert structops_kernel.profile.name == EXPECT_PROFILE
    assert structops_kernel.cpu_config.name == EXPECT_CPU
    assert structops_kernel.struct_ops_type("bpf_dummy_ops").name == "bpf_dummy_ops"

@pytest.mark.parametrize("structops_kernel", ["6.8", {"profile": "6.12", "cpu": "intel-stuff", "modules": ()}],
                         indirect=True)
def test_indirect(structops_kernel):
    assert structops_kernel.profile.name in ("6.8", "6.12")
    if structops_kernel.profile.name == "6.12":
        assert structops_kernel.cpu_config.name == "intel-stuff"
        assert not structops_kernel.modules.modules   # modules=() reached Kernel()
    else:
        assert structops_kernel.profile.tramp_image_pages == 1

def test_factory(structops_kernel_factory):
    a = structops_kernel_factory("6.8")
    b = structops_kernel_factory(cpu="none")
    assert a is not b and a.profile.name == "6.8" and b.cpu_config.name == "none"
    a.machine  # created, and closed by the fixture

@pytest.mark.parametrize("structops_machine", ["6.8"], indirect=True)
def test_machine(structops_machine):
    assert structops_machine.profile.name == "6.8"
    assert structops_machine.cpu_config.name == EXPECT_CPU

@pytest.mark.parametrize("structops_kernel", [3], indirect=True)
def test_bad_param(structops_kernel):
    pass
'''


def test_the_plugin_is_an_entry_point():
    eps = {e.name: e.value for e in entry_points(group="pytest11")}
    assert eps.get("structops") == "emu.testing.pytest_plugin"


def _suite(pytester, profile: str, cpu: str) -> None:
    pytester.makepyfile(test_user=f"EXPECT_PROFILE = {profile!r}\nEXPECT_CPU = {cpu!r}\n" + SUITE)


def test_fixtures_in_a_user_suite(pytester):
    _suite(pytester, "latest", "amd-zen2")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*indirect parameter must be a profile name or a dict*"])


def test_command_line_defaults(pytester):
    _suite(pytester, "6.9", "none")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "--structops-profile=6.9",
                                          "--structops-cpu=none", "-k", "default or machine")
    result.assert_outcomes(passed=2)


def test_the_plugin_can_be_disabled(pytester):
    pytester.makepyfile(test_off="def test_x(structops_kernel):\n    pass\n")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-p", "no:structops")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'structops_kernel' not found*"])
