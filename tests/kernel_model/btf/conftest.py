"""Shared fixtures: the host's vmlinux BTF (parsed once per session), bpftool and clang."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from kernel_model.btf import BTF

VMLINUX = "/sys/kernel/btf/vmlinux"


def _tool(name: str, fallback: str) -> str | None:
    return shutil.which(name) or (fallback if os.access(fallback, os.X_OK) else None)


@pytest.fixture(scope="session")
def vmlinux_bytes() -> bytes:
    if not os.access(VMLINUX, os.R_OK):
        pytest.skip(f"{VMLINUX} is not readable on this host")
    with open(VMLINUX, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def vmlinux(vmlinux_bytes: bytes) -> BTF:
    return BTF.from_bytes(vmlinux_bytes, where=VMLINUX)


@pytest.fixture(scope="session")
def bpftool() -> str:
    path = _tool("bpftool", "/usr/sbin/bpftool")
    if path is None:
        pytest.skip("bpftool is not installed")
    return path


@pytest.fixture(scope="session")
def clang() -> str:
    from emu.host.toolchain import find_clang  # $CLANG, else the newest clang / clang-NN (as make examples)

    path = find_clang()
    if path is None:
        pytest.skip("clang is not installed (no $CLANG, clang or clang-NN on PATH)")
    return path


@pytest.fixture(scope="session")
def bpftool_raw(bpftool: str, vmlinux_bytes: bytes) -> str:
    return subprocess.run([bpftool, "btf", "dump", "file", VMLINUX, "format", "raw"],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def compile_bpf(clang: str, tmp_path):
    """A function compiling C ``source`` for the BPF target (``header`` saved as hdr.h next to it)."""
    return lambda source, header=None, name="prog": _compile_bpf(clang, tmp_path, source, header, name)


def _compile_bpf(clang: str, tmp_path, source: str, header: str | None = None, name: str = "prog") -> str:
    if header is not None:
        (tmp_path / "hdr.h").write_text(header)
    src = tmp_path / f"{name}.bpf.c"
    src.write_text(source)
    obj = tmp_path / f"{name}.o"
    r = subprocess.run([clang, "-target", "bpf", "-g", "-O2", "-Werror=incompatible-pointer-types",
                        "-c", str(src), "-o", str(obj)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    return str(obj)
