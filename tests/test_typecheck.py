"""The product type-checks: mypy with pyproject.toml's [tool.mypy] over kernel_model, verifier,
jit and emu (untyped defs refused, untyped bodies checked, unused ``type: ignore`` reported),
and every ``type: ignore`` left in them names the error code it silences."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("kernel_model", "verifier", "jit", "emu")


def test_mypy_config_covers_the_product() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert sorted(cfg["files"]) == sorted(PRODUCT)
    assert cfg["disallow_untyped_defs"] and cfg["check_untyped_defs"] and cfg["warn_unused_ignores"]
    # no package is exempted from the global settings by an override
    for o in cfg.get("overrides", []):
        mods = o["module"] if isinstance(o["module"], list) else [o["module"]]
        assert not any(m.split(".")[0] in PRODUCT for m in mods), o
        assert set(o) <= {"module", "ignore_missing_imports"}, o


def test_product_type_checks() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"Success: no issues found in \d+ source files", r.stdout), r.stdout


def test_every_type_ignore_names_its_code() -> None:
    bare = re.compile(r"#\s*type:\s*ignore(?!\[)")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for pkg in PRODUCT for p in sorted((ROOT / pkg).rglob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if bare.search(line)]
    assert offenders == []
