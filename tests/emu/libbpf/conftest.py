"""Shared fixtures for the loader tests: the committed example objects and the
emulated kernel's BTF (vmlinux plus the bpf_testmod module), as libbpf sees it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from emu.libbpf import BpfObject, KernelBtf, Log
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"


def example(name: str) -> Path:
    p = EXAMPLES / f"{name}.bpf.o"
    if not p.exists():
        pytest.fail(f"{p} is missing: run `make examples` and commit the object")
    return p


def open_example(name: str, **kw: object) -> BpfObject:
    """Open a committed example with a log that collects but prints nothing."""
    return BpfObject.open_file(str(example(name)), log=Log(stream=None, level=2))


@pytest.fixture(scope="session")
def kernel():
    from emu.kernel import Kernel

    return Kernel()


@pytest.fixture
def kbtf(kernel):
    """A fresh libbpf view of the emulated kernel's BTF (modules load lazily)."""
    return KernelBtf.from_kernel(kernel)


def clang_or_skip() -> str:
    from emu.host.toolchain import find_clang  # $CLANG, else the newest clang / clang-NN (as make examples)

    clang = find_clang()
    if clang is None:
        pytest.skip("clang is not installed (CI installs clang and libbpf-dev from Debian packages)")
    if not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("libbpf-dev headers (/usr/include/bpf) are not installed")
    return clang


def compile_bpf(src: Path, out: Path, *extra_includes: Path) -> Path:
    """clang -target bpf as `make examples` runs it."""
    clang = clang_or_skip()
    cmd = [clang, "-target", "bpf", "-O2", "-g", "-Wall", "-Wno-unused-variable", f"-I{EXAMPLES}",
           "-I/usr/include/x86_64-linux-gnu", *(f"-I{p}" for p in extra_includes), "-c", str(src), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out
