"""The verifier's optional compiled form: the same modules compiled with mypyc.

The verifier is plain, fully typed Python (mypy-clean, see pyproject.toml). mypyc
(part of mypy) compiles such modules to C extensions that run the same code 3-4x
faster. ``python -m verifier.build_accel`` (run by ``make`` after installing)
compiles the modules of :data:`COMPILED` into ``verifier/_accel/`` and records a
hash of their sources; at import, :func:`install` makes ``import verifier.X`` load
the compiled module only when

* the recorded hash is the hash of the sources as they are now (an edited source
  makes the whole compiled set stale: it is then ignored, never half-used), and
* ``STRUCTOPS_PURE_PYTHON`` is not set in the environment (the tests run the pure
  path this way too, and compare it with the compiled one).

Without a C compiler, Python headers or mypy the build step says so and the
verifier stays pure Python: same results, slower. ``verifier.ctx`` stays
interpreted on purpose: it is the seam a program type's context rules are
patched through (tests replace functions in it), and compiled callers would not
see a replaced function of a compiled module.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

__all__ = ["COMPILED", "active", "fresh", "install", "sources_hash", "build", "ACCEL_DIR", "PURE_ENV"]

PKG_DIR = Path(__file__).resolve().parent
ACCEL_DIR = PKG_DIR / "_accel"
PURE_ENV = "STRUCTOPS_PURE_PYTHON"
GROUP = "structops_verifier"
#: the modules compiled together (one mypyc group: calls between them are native)
COMPILED = ("tnum", "regs", "scalar", "state", "decoded", "cfg", "liveness", "stack_liveness", "log", "result",
            "core", "alu", "mem", "jumps", "calls", "precision", "analyzer", "helpers", "map_types",
            "prog_types", "map_btf", "btf_access", "kfuncs", "struct_ops")
_HASH_FILE = "SOURCES"

_active = False


#: kernel_model modules whose constants compiled code inlines (Final literals): a change
#: there makes a build stale too
INLINED = ("uapi", "isa", "prog", "bpf_map", "errors", "helper_ids")


def sources_hash(pkg_dir: Path = PKG_DIR) -> str:
    """The hash of the compiled modules' sources, of the kernel_model modules whose
    constants they inline, and of the interpreter they are built for."""
    h = hashlib.sha256(f"{sys.implementation.cache_tag} {GROUP}".encode())
    for name in COMPILED:
        h.update(name.encode() + b"\0" + (pkg_dir / f"{name}.py").read_bytes())
    km = pkg_dir.parent / "kernel_model"
    for name in INLINED:
        p = km / f"{name}.py"
        h.update(name.encode() + b"\0" + (p.read_bytes() if p.exists() else b""))
    return h.hexdigest()


def _ext(stem: str, accel_dir: Path = ACCEL_DIR) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = accel_dir / f"{stem}{suffix}"
        if p.exists():
            return p
    return None


class _Finder:
    """Finds ``verifier.<name>`` of :data:`COMPILED` in ``verifier/_accel`` (a meta path
    finder by protocol: ``importlib.abc`` is not imported for its base class, it costs
    every start of the command line 5 ms)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        pkg, _, name = fullname.rpartition(".")
        if pkg != __package__ or name not in COMPILED:
            return None
        so = _ext(name)
        if so is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(so))
        return importlib.util.spec_from_file_location(fullname, so, loader=loader)


def install() -> bool:
    """Use the compiled modules if they are present, fresh and wanted; True if so.
    Called by ``verifier/__init__.py`` before it imports anything else."""
    global _active
    if _active:
        return True
    if os.environ.get(PURE_ENV):
        return False
    lib = _ext(f"{GROUP}__mypyc")
    if lib is None or not fresh():
        return False
    # the group's shared library: the compiled modules import it by its top-level name
    spec = importlib.util.spec_from_file_location(f"{GROUP}__mypyc", lib)
    if spec is None or spec.loader is None:
        return False
    mod = importlib.util.module_from_spec(spec)
    sys.modules[f"{GROUP}__mypyc"] = mod
    spec.loader.exec_module(mod)
    sys.meta_path.insert(0, _Finder())
    _active = True
    return True


def fresh(pkg_dir: Path = PKG_DIR) -> bool:
    """Whether a build is present (in ``pkg_dir/_accel``) for the sources as they are now."""
    accel_dir = pkg_dir / "_accel"
    try:
        recorded = (accel_dir / _HASH_FILE).read_text().strip()
    except OSError:
        return False
    return recorded == sources_hash(pkg_dir) and _ext(f"{GROUP}__mypyc", accel_dir) is not None


def active() -> bool:
    """Whether this process runs the compiled verifier."""
    return _active


def build(verbose: bool = False) -> int:
    """Compile :data:`COMPILED` with mypyc into ``verifier/_accel``; 0 on success."""
    import shutil
    import subprocess
    import tempfile

    root = PKG_DIR.parent
    with tempfile.TemporaryDirectory(prefix="structops-accel-") as tmp:
        # Built in a scratch directory: setuptools would otherwise read the project's own
        # pyproject.toml, and mypy its own config. mypy finds the packages through MYPYPATH
        # and, as the project's [tool.mypy] does, follows imports silently.
        script = Path(tmp) / "setup_accel.py"
        paths = [str(PKG_DIR / f"{n}.py") for n in COMPILED]
        script.write_text(
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            f"setup(name='structops-verifier-accel', ext_modules=mypycify({paths!r}, group_name={GROUP!r}, "
            "opt_level='3'))\n")
        (Path(tmp) / "mypy.ini").write_text("[mypy]\nfollow_imports = silent\n")
        build_dir = Path(tmp) / "build"
        cmd = [sys.executable, str(script), "build_ext", "--build-lib", str(build_dir / "lib"),
               "--build-temp", str(build_dir / "temp")]
        env = dict(os.environ, MYPYPATH=str(root))
        r = subprocess.run(cmd, cwd=tmp, env=env, capture_output=not verbose, text=True)
        if r.returncode:
            sys.stderr.write((r.stdout or "") + (r.stderr or ""))
            return r.returncode
        out = ACCEL_DIR
        if out.exists():
            shutil.rmtree(out)
        out.mkdir()
        lib = build_dir / "lib"
        for so in lib.rglob("*.so"):
            shutil.copy2(so, out / so.name)
        (out / _HASH_FILE).write_text(sources_hash() + "\n")
    return 0
