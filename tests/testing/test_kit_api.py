"""The kit's public surface: __all__, hypothesis-style factories, the extras.

Every name in ``__all__`` exists; every strategy factory is lowercase, takes only
keyword-only arguments, returns a SearchStrategy with its defaults and refuses a
bad argument when called (InvalidArgument naming it); without hypothesis the
strategy modules raise an ImportError naming the ``strategies`` extra while the
rest of the product imports; pyproject declares the extra and the plugin.
"""

from __future__ import annotations

import importlib.machinery

import inspect
import subprocess
import sys
import tomllib

import pytest
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import emu.testing
import emu.testing.strategies as emu_strategies
import kernel_model.testing as kit
from tests.conftest import ROOT

FACTORIES = [
    (kit, name) for name in kit.__all__ if callable(getattr(kit, name)) and name[0].islower()
] + [(emu_strategies, name) for name in emu_strategies.__all__ if name.startswith("accepted_")]


@pytest.mark.parametrize("module", [kit, emu.testing, emu_strategies], ids=lambda m: m.__name__)
def test_all_names_exist(module):
    assert module.__all__, module.__name__
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing
    assert len(set(module.__all__)) == len(module.__all__)


def test_emu_testing_lazy_names_resolve_to_their_modules():
    from emu.testing import tramp_pages
    from emu.testing import kernels

    assert emu.testing.pages_needed is tramp_pages.pages_needed
    assert emu.testing.fill_struct_ops_map is kernels.fill_struct_ops_map
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        emu.testing.nope  # noqa: B018


@pytest.mark.parametrize("module,name", FACTORIES, ids=lambda x: getattr(x, "__name__", x))
def test_factories_are_keyword_only_and_return_strategies(module, name):
    fn = getattr(module, name)
    assert name == name.lower()
    params = inspect.signature(fn).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), name
    assert isinstance(fn(), st.SearchStrategy)


@pytest.mark.parametrize("factory,kwargs,argument", [
    (kit.struct_ops_declarations, {"max_members": 0}, "max_members"),
    (kit.struct_ops_declarations, {"max_members": 65}, "max_members"),
    (kit.struct_ops_declarations, {"min_members": 5, "max_members": 3}, "min_members"),
    (kit.struct_ops_declarations, {"max_args": 13}, "max_args"),
    (kit.struct_ops_declarations, {"min_args": "2"}, "min_args"),
    (kit.struct_ops_declarations, {"name": "9ops"}, "name"),
    (kit.struct_ops_declarations, {"arg_types": "int"}, "arg_types"),
    (kit.struct_ops_declarations, {"arg_types": ()}, "arg_types"),
    (kit.struct_ops_declarations, {"data_types": ("char[0]",)}, "data_types"),
    (kit.struct_ops_declarations, {"nullable": 1}, "nullable"),
    (kit.struct_ops_declarations, {"max_data_members": -1}, "max_data_members"),
    (kit.struct_ops_declarations, {"min_args": 6, "max_arg_regs": 4}, "max_arg_regs"),
    (kit.terminating_programs, {"max_pieces": 0}, "max_pieces"),
    (kit.terminating_programs, {"mem_size": 4}, "mem_size"),
    (kit.terminating_programs, {"may_fault": None}, "may_fault"),
    (kit.socket_programs, {"max_items": 0}, "max_items"),
    (kit.struct_ops_programs, {"max_items": True}, "max_items"),
    (kit.instructions, {"forms": ("alu", "nope")}, "forms"),
    (kit.profiles, {"names": ("6.8", "5.4")}, "names"),
    (kit.cpu_configs, {"presets": ("amd-zen9",)}, "presets"),
    (kit.cpu_configs, {"ibt": "yes"}, "ibt"),
    (kit.trampoline_configs, {"call_depth_tracking": 1}, "call_depth_tracking"),
    (kit.trampoline_configs, {"max_pages": 0}, "max_pages"),
    (kit.trampoline_configs, {"profile_names": "6.8"}, "profile_names"),
    (emu_strategies.accepted_socket_programs, {"profile": "5.4"}, "profile"),
    (emu_strategies.accepted_struct_ops_programs, {"max_items": 0}, "max_items"),
])
def test_bad_arguments_are_refused_when_called(factory, kwargs, argument):
    """Eagerly: the call raises, before any draw, and the message names the argument."""
    with pytest.raises(InvalidArgument, match=argument):
        factory(**kwargs)


def test_knobs_shape_what_is_drawn():
    from hypothesis import find

    decl = find(kit.struct_ops_declarations(min_members=3, max_members=3, min_args=2, max_args=2,
                                            max_data_members=0), lambda d: True)
    assert [len(m.args) for m in decl.func_members] == [2, 2, 2] and not decl.data_members
    cpu = find(kit.cpu_configs(presets=["none"], ibt=True, call_depth_tracking=True), lambda c: True)
    assert (cpu.ibt, cpu.call_depth_tracking, cpu.return_thunk) == (True, True, "call_depth_return_thunk")
    cfg = find(kit.trampoline_configs(profile_names=["6.12"], max_pages=3), lambda c: True)
    assert cfg.max_pages == 3 and cfg.profile.name == "6.12+tramp_image_pages=3"
    assert find(kit.profiles(names=["6.8"]), lambda p: True).tramp_image_pages == 1


# --- hypothesis is an extra -----------------------------------------------------------------------

_BLOCK = "import sys; sys.modules['hypothesis'] = None\n"

#: the modules that are the strategies themselves (they need hypothesis)
NEEDS_HYPOTHESIS = ("kernel_model.testing", "kernel_model.strategies", "kernel_model.prog_strategies",
                    "emu.testing.strategies", "emu.sim.tcp_strategies")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BLOCK + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("module", ["kernel_model.testing", "kernel_model.strategies",
                                    "kernel_model.prog_strategies", "emu.testing.strategies",
                                    "kernel_model.testing.struct_ops"])
def test_without_hypothesis_the_strategies_name_the_extra(module):
    r = _run(f"import {module}")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:") and "pip install 'structops-emu[strategies]'" in last, r.stderr


def test_without_hypothesis_the_rest_of_the_product_imports():
    """Every module of the four packages but the strategy modules imports with
    hypothesis blocked; the pytest plugin and emu.testing's machine half work."""
    code = """
import importlib, pkgutil
skip = %r
done = []
for pkg in ("kernel_model", "verifier", "jit", "emu"):
    mod = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
        if info.name.startswith(skip) or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        done.append(info.name)
import emu.testing, emu.testing.pytest_plugin
assert emu.testing.trampolines_per_page("int (*)(int)") > 0
print(" ".join(done))
""" % (NEEDS_HYPOTHESIS,)
    r = _run(code)
    assert r.returncode == 0, r.stderr
    expected = set()
    for pkg in ("kernel_model", "verifier", "jit", "emu"):
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            if name not in (pkg,) and not name.startswith(NEEDS_HYPOTHESIS) and not name.endswith("__main__"):
                expected.add(name)
        # optional compiled extensions built in place (kernel_model/btf/_accel) are modules of
        # their package too; ones outside a package (verifier/_accel/) are not walked
        for path in (ROOT / pkg).rglob("*.so"):
            suffix = next(x for x in importlib.machinery.EXTENSION_SUFFIXES if path.name.endswith(x))
            if (path.parent / "__init__.py").exists():
                expected.add(".".join(path.relative_to(ROOT).parent.parts + (path.name[:-len(suffix)],)))
    assert set(r.stdout.split()) == expected  # every module was imported


def test_pyproject_declares_the_extra_and_the_plugin():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    assert any(r.startswith("hypothesis") for r in extras["strategies"])
    assert set(extras["strategies"]) <= set(extras["test"])  # the test extra includes it
    assert not any(r.startswith("hypothesis") for r in meta["dependencies"])
    assert meta["entry-points"]["pytest11"] == {"structops": "emu.testing.pytest_plugin"}
