"""No identity test against a literal constant in the modules mypyc compiles.

Compiled code rebuilds a module-level literal constant (a tuple, a frozenset, a string
...) where it is used, so ``x is _SOME_TUPLE`` is never true compiled while it is in pure
Python: the two verifiers then disagree, and one such test hid a false accept (the kptr
type check compared ``compat is _MEM_TYPES``). Objects made by a call (``W64 =
Width(...)``, a sentinel instance) keep their identity and may be compared with ``is``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from verifier.accel import COMPILED

ROOT = Path(__file__).resolve().parents[2]


def _literal(node: ast.expr | None) -> bool:
    """A value mypyc may rebuild at each use: a literal, or a frozenset/tuple of literals."""
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return node.value is not None and not isinstance(node.value, bool)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("frozenset", "tuple") and all(_literal(a) for a in node.args))


def literal_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to literal values (plain or annotated assignments)."""
    out: set[str] = set()
    for st in tree.body:
        if isinstance(st, ast.Assign) and _literal(st.value):
            out.update(t.id for t in st.targets if isinstance(t, ast.Name))
        elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and _literal(st.value):
            out.add(st.target.id)
    return out


def _module_file(dotted: str) -> Path | None:
    base = ROOT / Path(*dotted.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def identity_tests_on_literals(source: str, module: str = "verifier.x") -> list[str]:
    """``is``/``is not`` comparisons of ``source`` whose operand is a literal constant of
    its own module or one imported (``from M import N``, ``import M as A`` ... ``A.N``)."""
    tree = ast.parse(source)
    local = literal_constants(tree)
    imported: dict[str, set[str]] = {}  # alias -> the literal constants of that module
    for st in tree.body:
        if isinstance(st, ast.ImportFrom) and st.module:
            mod = st.module if st.level == 0 else ".".join(module.split(".")[:-st.level] + [st.module])
            f = _module_file(mod)
            consts = literal_constants(ast.parse(f.read_text())) if f else set()
            for a in st.names:
                if a.name in consts:
                    local.add(a.asname or a.name)
                sub = _module_file(f"{mod}.{a.name}")
                if sub is not None:
                    imported[a.asname or a.name] = literal_constants(ast.parse(sub.read_text()))
        elif isinstance(st, ast.Import):
            for a in st.names:
                f = _module_file(a.name)
                if f is not None:
                    imported[a.asname or a.name] = literal_constants(ast.parse(f.read_text()))
    bad = []
    for n in ast.walk(tree):
        if not isinstance(n, ast.Compare):
            continue
        operands = [n.left, *n.comparators]
        for i, op in enumerate(n.ops):
            if not isinstance(op, (ast.Is, ast.IsNot)):
                continue
            for side in (operands[i], operands[i + 1]):
                if isinstance(side, ast.Name) and side.id in local:
                    bad.append(f"line {n.lineno}: {ast.unparse(n)}")
                elif (isinstance(side, ast.Attribute) and isinstance(side.value, ast.Name)
                      and side.attr in imported.get(side.value.id, ())):
                    bad.append(f"line {n.lineno}: {ast.unparse(n)}")
    return bad


def test_the_check_finds_what_it_looks_for() -> None:
    src = ("from typing import Final\n_T: Final = (1, 2)\n_S = frozenset({'a'})\nW = object()\n"
           "def f(x, y):\n    return x is _T or y is not _S or x is W or x is None\n")
    assert identity_tests_on_literals(src) == ["line 6: x is _T", "line 6: y is not _S"]
    # through an import of a kernel_model module (PROG_TYPE_NAMES is a dict literal there)
    src = "from kernel_model import uapi\ndef f(x):\n    return x is uapi.PROG_TYPE_NAMES\n"
    assert identity_tests_on_literals(src) == ["line 3: x is uapi.PROG_TYPE_NAMES"]


def test_no_compiled_module_tests_identity_against_a_literal_constant() -> None:
    bad = []
    for name in COMPILED:
        path = ROOT / "verifier" / f"{name}.py"
        bad += [f"{path.relative_to(ROOT)} {b}" for b in identity_tests_on_literals(path.read_text(), f"verifier.{name}")]
    assert not bad, "compare by value (==, in) instead:\n" + "\n".join(bad)
