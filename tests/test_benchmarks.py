"""Every script in benchmarks/ takes ``--quick``: `make bench-quick` (run by CI) passes it to each.

Read from the sources (running them is what `make bench-quick` does): a script with an
argparse parser must declare ``--quick``; one reading ``sys.argv`` must look for it."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "timing.py")


def _argparse_options(tree: ast.AST) -> set[str]:
    return {a.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
            for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_takes_quick(script) -> None:
    text = script.read_text()
    tree = ast.parse(text, str(script))
    if "ArgumentParser(" in text:
        assert "--quick" in _argparse_options(tree), f"{script.name}: its parser has no --quick"
    else:
        assert '"--quick" in sys.argv' in text, f"{script.name} does not read --quick"
