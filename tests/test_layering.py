"""The dependency rules: kernel_model <- verifier, jit <- emu, and the rooms inside emu.

Between the top-level packages: kernel_model imports none of the other three;
verifier and jit import only kernel_model (never each other); emu imports all.

Inside emu, each room is a package with a job, and :data:`ROOMS` lists every
room it may import (besides itself and the ``emu`` package root):

========  ===================================================================
room      may import
========  ===================================================================
machine   jit, kernel_model -- and it alone touches Unicorn, keystone, capstone
kernel    machine, verifier, jit, kernel_model
libbpf    kernel_model: it reaches a kernel only through its ``bpf()``
          protocol (emu/libbpf/sys.py), which the caller hands it
formats   kernel_model (program files, the conformance format)
host      libbpf (its BpfSys implementation), machine (the x86 decoder of
          emu/machine/listing.py), kernel_model
sim       kernel, libbpf, machine, kernel_model
cli       kernel, libbpf, host, sim, formats, machine, verifier, jit,
          kernel_model
========  ===================================================================

benchmarks/ may import any room, but only public names: no ``_name``, no
``_module`` on the way.

Checked on the source text (every import statement, relative ones resolved),
so it fails on a forbidden edge even when the import is inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

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

#: the rooms of emu and what each may import (see the module docstring)
ROOMS = {
    "emu.machine": {"jit", "kernel_model"},
    "emu.kernel": {"emu.machine", "verifier", "jit", "kernel_model"},
    "emu.libbpf": {"kernel_model"},
    "emu.formats": {"kernel_model"},
    "emu.host": {"emu.libbpf", "emu.machine", "kernel_model"},
    "emu.sim": {"emu.kernel", "emu.libbpf", "emu.machine", "kernel_model"},
    "emu.testing": {"emu.kernel", "emu.host", "emu.machine", "verifier", "jit", "kernel_model"},
    "emu.cli": {"emu.kernel", "emu.libbpf", "emu.host", "emu.sim", "emu.formats", "emu.machine", "verifier", "jit",
                "kernel_model"},
}
#: the only room that may import the emulation engines
ENGINE_ROOM = "emu.machine"


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """(module, line) of every import in ``path``: ``from X import a`` gives ``X.a``
    (so ``from emu.host import hostbpf`` names the module it imports), relative
    imports resolved against the file's package."""
    tree = ast.parse(path.read_text(), str(path))
    mod = _module_of(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                yield f"{target}.{a.name}", node.lineno


def _room(module: str) -> str:
    """``emu.kernel.syscall.X`` -> ``emu.kernel``; ``verifier.fixups`` -> ``verifier``;
    the ``emu`` package root (``emu.__version__``) -> ``emu``."""
    parts = module.split(".")
    if parts[0] == "emu" and len(parts) > 1 and f"emu.{parts[1]}" in ROOMS:
        return f"emu.{parts[1]}"
    return parts[0]


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_dependency_rule(package):
    bad = []
    for path in _sources(package):
        for mod, line in _imports(path):
            top = mod.split(".")[0]
            if top in PROJECT and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
            if top in ENGINES and package != "emu":
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {top} (only emu may)")
    assert not bad, "\n".join(bad)


def test_every_emu_module_is_in_a_room():
    """emu/ holds the rooms and the package root, nothing else: a new module goes into a room."""
    loose = [p.name for p in (ROOT / "emu").glob("*.py") if p.name != "__init__.py"]
    dirs = {p.name for p in (ROOT / "emu").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert not loose, f"modules outside every room: {loose}"
    assert {f"emu.{d}" for d in dirs} == set(ROOMS), f"packages of emu/ {sorted(dirs)} vs the rooms {sorted(ROOMS)}"


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_rooms_import_only_what_the_table_allows(room):
    bad = []
    for path in _sources(room):
        for mod, line in _imports(path):
            top = mod.split(".")[0]
            if top in ENGINES and room != ENGINE_ROOM:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {top} (only {ENGINE_ROOM} may)")
            if top not in PROJECT:
                continue
            target = _room(mod)
            if target in (room, "emu"):
                continue
            if target not in ROOMS[room]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}: {room} may not import {target}")
            elif any(p.startswith("_") and not p.startswith("__") for p in mod.split(".")):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}: a private name of another room")
    assert not bad, "\n".join(bad)


def test_machine_does_not_import_the_verifier():
    """The machine takes subprogram starts and stack depths from the caller (the kernel
    room hands in the verifier's result); it never runs a verifier pass itself."""
    assert "verifier" not in ROOMS["emu.machine"]


#: private attributes benchmarks may touch: Unicorn's engine handle, for the bare baselines
_BENCHMARK_PRIVATE_OK = {"_uch"}


def test_benchmarks_use_only_public_names_of_the_rooms():
    """No ``_name`` imported from the project, and no ``obj._name`` attribute read or
    written (but the bare baselines' Unicorn handle)."""
    bad = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        rel = path.relative_to(ROOT)
        for mod, line in _imports(path):
            parts = mod.split(".")
            if parts[0] in PROJECT and any(p.startswith("_") and p != "__version__" for p in parts):
                bad.append(f"{rel}:{line} imports {mod}, a private name")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr not in _BENCHMARK_PRIVATE_OK
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                bad.append(f"{rel}:{node.lineno} uses .{node.attr}, a private attribute")
    assert not bad, "\n".join(bad)


#: modules that may define uapi numbers: the one definition, and C text that spells them
_UAPI_HOME = {"kernel_model/uapi.py", "kernel_model/vmlinux.py"}
#: where a copy is looked for (verifier/ is checked by its own owner)
_UAPI_SCOPE = ("emu", "verifier", "jit", "kernel_model", "benchmarks", "tests")


def test_uapi_numbers_have_one_definition():
    """A module-level ``NAME = <number>`` of a name kernel_model.uapi defines (PAGE_SIZE,
    PROG_TYPE_*, MAP_TYPE_*, BPF_F_*, BPF_STRUCT_OPS ...) is a second definition: import it."""
    from kernel_model import uapi

    names = set(uapi.__all__)
    bad = []
    for scope in _UAPI_SCOPE:
        for path in sorted((ROOT / scope).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel in _UAPI_HOME:
                continue
            for node in ast.parse(path.read_text(), rel).body:
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
                for t in targets:
                    for name in ([t] if isinstance(t, ast.Name) else t.elts if isinstance(t, ast.Tuple) else []):
                        if isinstance(name, ast.Name) and name.id in names:
                            bad.append(f"{rel}:{node.lineno} defines {name.id}")
    assert not bad, "\n".join(bad)


def test_the_table_is_checked_against_something():
    """The rules above are not vacuous: every room has sources, and the resolver sees
    the imports the rooms are known to make."""
    for room in ROOMS:
        assert _sources(room), room
    seen = {mod for path in _sources("emu.kernel") for mod, _ in _imports(path)}
    assert any(_room(m) == "emu.machine" for m in seen)
    assert any(m.startswith("verifier.") for m in seen)
    cli = {mod for path in _sources("emu.cli") for mod, _ in _imports(path)}
    assert any(_room(m) == "emu.kernel" for m in cli)


@pytest.mark.parametrize("package", sorted(ALLOWED) + sorted(ROOMS))
def test_package_all_names_exist(package):
    import importlib

    mod = importlib.import_module(package)
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{package}.__all__ names {name!r}, which is not defined"
