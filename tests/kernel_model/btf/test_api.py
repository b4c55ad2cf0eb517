"""The package surface: __all__, the CLI entry point, and the dependency rule."""

from __future__ import annotations

import ast
import pathlib

import pytest

import kernel_model.btf as K


def test_all_is_exact() -> None:
    assert sorted(K.__all__) == sorted(set(K.__all__))
    for name in K.__all__:
        assert hasattr(K, name), name


def test_errors_are_input_errors() -> None:
    from kernel_model.errors import InputError
    assert issubclass(K.BTFError, InputError) and issubclass(K.BTFError, ValueError)
    assert issubclass(K.FuncModelError, K.BTFError)


def test_dump_command(tmp_path) -> None:
    b = K.parse_c("struct s { int a; struct s *next; };")
    p = tmp_path / "s.btf"
    p.write_bytes(b.to_bytes())
    raw = K.dump_command(str(p), "raw")
    assert raw.startswith("[1] STRUCT 's' size=16 vlen=2\n\t'a' type_id=2 bits_offset=0\n")
    assert "struct s {" in K.dump_command(str(p), "c")
    with pytest.raises(K.BTFError, match="unknown format"):
        K.dump_command(str(p), "json")
    with pytest.raises(K.BTFError, match="cannot read"):
        K.dump_command(str(tmp_path / "missing"), "raw")
    (tmp_path / "bad").write_bytes(b"\x00" * 40)
    with pytest.raises(K.BTFError, match="Invalid magic"):
        K.dump_command(str(tmp_path / "bad"), "raw")


def test_btf_package_imports_no_upper_layer() -> None:
    root = pathlib.Path(K.__file__).parent
    for f in root.glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            for m in mods:
                assert m.split(".")[0] not in ("emu", "jit", "verifier"), (f.name, m)
