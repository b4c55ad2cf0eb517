"""Finding the LLVM tools the project runs: ``clang`` (``make examples``, tests
compiling BPF C) and ``llvm-mc`` (tests comparing our assembler with LLVM's).

One rule for every caller, the Makefile included (``python -m emu.host.toolchain
clang`` prints the choice): the environment variable (``CLANG``, ``LLVM_MC``)
when it is set -- it must name a runnable program --, else the newest of the
plain name and every versioned ``NAME-NN`` on ``PATH`` (Debian installs
``clang-14`` and ``clang-19`` side by side, with ``clang`` for one of them).
The plain name's version is read from ``NAME --version``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

__all__ = ["find_tool", "find_clang", "find_llvm_mc", "tool_version", "ENV_VARS"]

#: the environment variable that overrides each tool
ENV_VARS = {"clang": "CLANG", "llvm-mc": "LLVM_MC"}

_VERSION = re.compile(r"version (\d+)\.")


@lru_cache(maxsize=None)
def tool_version(path: str) -> int | None:
    """The major version ``PATH --version`` reports (None if it does not run)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.search(out)
    return int(m.group(1)) if m else None


def _candidates(name: str) -> list[tuple[int, int, str]]:
    """(version, plain-name tie break, path) of ``name`` and ``name-NN`` on PATH."""
    found: dict[str, tuple[int, int, str]] = {}
    versioned = re.compile(rf"{re.escape(name)}-(\d+)$")
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        try:
            entries = sorted(Path(d or ".").iterdir())
        except OSError:
            continue
        for p in entries:
            m = versioned.fullmatch(p.name)
            if m and os.access(p, os.X_OK) and p.name not in found:
                found[p.name] = (int(m.group(1)), 0, str(p))
    plain = shutil.which(name)
    if plain is not None:
        v = tool_version(plain)
        found[name] = (v if v is not None else -1, 1, plain)
    return sorted(found.values())


def find_tool(name: str) -> str | None:
    """The path of ``name`` by the module's rule, or None when there is none.
    An environment override that does not name a runnable program is an error
    (:class:`FileNotFoundError`), not a silent fallback."""
    env = ENV_VARS.get(name)
    if env and os.environ.get(env):
        chosen = shutil.which(os.environ[env])
        if chosen is None:
            raise FileNotFoundError(f"${env}={os.environ[env]!r} is not a runnable program")
        return chosen
    cands = _candidates(name)
    return cands[-1][2] if cands else None


def find_clang() -> str | None:
    """clang for ``-target bpf`` (``$CLANG``, else the newest clang / clang-NN)."""
    return find_tool("clang")


def find_llvm_mc() -> str | None:
    """llvm-mc (``$LLVM_MC``, else the newest llvm-mc / llvm-mc-NN)."""
    return find_tool("llvm-mc")


def main(argv: list[str] | None = None) -> int:
    """``python -m emu.host.toolchain TOOL``: print the chosen path (exit 1 if none)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m emu.host.toolchain clang|llvm-mc\n")
        return 2
    try:
        path = find_tool(args[0])
    except FileNotFoundError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if path is None:
        sys.stderr.write(f"error: no {args[0]} or {args[0]}-NN on PATH\n")
        return 1
    sys.stdout.write(path + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
