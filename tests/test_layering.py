"""The dependency rule: kernel_model <- verifier, jit <- emu.

kernel_model imports none of the other three; verifier and jit import only
kernel_model (never each other); only emu may touch unicorn/keystone/capstone.
Checked on the source text (every import statement), so it fails on a reverse
edge even when the import is inside a function.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

ALLOWED = {
    "kernel_model": {"kernel_model"},
    "verifier": {"kernel_model", "verifier"},
    "jit": {"kernel_model", "jit"},
    "emu": {"kernel_model", "verifier", "jit", "emu"},
}
PROJECT = set(ALLOWED)
ENGINES = {"unicorn", "keystone", "capstone"}


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_dependency_rule(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for mod, line in _imports(path):
            if mod in PROJECT and mod not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
            if mod in ENGINES and package != "emu":
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod} (only emu may)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_all_names_exist(package):
    import importlib

    mod = importlib.import_module(package)
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{package}.__all__ names {name!r}, which is not defined"
