"""The verifier package type-checks: mypy with pyproject.toml's [tool.mypy] (strict-ish:
untyped defs refused, untyped bodies checked, unused ``type: ignore`` reported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_verifier_package_type_checks() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "verifier"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_type_ignore_in_the_verifier() -> None:
    offenders = [f"{p.name}:{i}" for p in sorted((ROOT / "verifier").glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if "type: ignore" in line]
    assert offenders == []
