"""vmlinux.h declares the kfuncs the emulated kernel registers, as bpftool's C dump does
(``extern <prototype> __weak __ksym;``, sorted by name, after the types)."""

from __future__ import annotations

import re

import pytest

from emu.kernel import Kernel
from emu.libbpf.vmlinux_h import kernel_header
from kernel_model.bpf_facts import gen_kfunc_decls
from kernel_model.btf import DeclTag, format_c, parse_c
from kernel_model.btf import structs as S
from kernel_model.profile import PROFILES, get_profile

_EXTERN = re.compile(r"^extern (?:__bpf_fastcall )?(.*?)\b(\w+)\((.*)\) __weak __ksym;$")


def _kfunc_lines(header: str) -> list[str]:
    block = header.split("/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n", 1)[1].split("#endif\n", 1)[0]
    return block.splitlines()


def _name(line: str) -> str:
    m = _EXTERN.match(line)
    assert m, line
    return m.group(2)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_header_declares_exactly_the_registered_kfuncs(profile: str) -> None:
    k = Kernel(get_profile(profile))
    header = kernel_header(k.btf, [m.btf for m in k.modules.modules.values()])
    names = [_name(line) for line in _kfunc_lines(header)]
    assert names == sorted(names)
    assert sorted(names) == sorted(e.name for e in k.kfuncs.entries)
    if "bpf_testmod" in k.modules.modules:  # loaded at boot where modules may register struct_ops
        assert "bpf_kfunc_common_test" in names  # its BTF's tag


def test_vmlinux_kfunc_lines_are_the_618_hosts() -> None:
    """The prototypes as the 6.18 host's BTF prints them (kernel_model.bpf_facts, read from
    /sys/kernel/btf/vmlinux by tools/gen_kfunc_decls.py): every one but sched_ext's (the
    reference host is built without CONFIG_SCHED_CLASS_EXT)."""
    k = Kernel(get_profile("latest"))
    lines = _kfunc_lines(format_c(k.btf))
    assert len(lines) == len([e for e in k.kfuncs.entries if e.module is None])
    for line in lines:
        if _name(line).startswith("scx_bpf_"):
            continue
        assert line == gen_kfunc_decls.KFUNC_DECLS[_name(line)].replace(" __ksym;", " __weak __ksym;")


def test_module_kfuncs_are_in_the_module_btf_not_vmlinux() -> None:
    k = Kernel(get_profile("latest"))
    mod = k.modules.modules["bpf_testmod"]
    assert "bpf_kfunc_common_test" not in format_c(k.btf)
    assert [_name(x) for x in _kfunc_lines(format_c(mod.btf))] == ["bpf_kfunc_common_test"]
    tags = [t for _, t in mod.btf.iter_types(S.KIND_DECL_TAG)]
    assert tags == [DeclTag("bpf_kfunc", mod.kfunc_ids["bpf_kfunc_common_test"])]


def test_header_with_kfuncs_parses_back() -> None:
    """parse_c reads vmlinux.h's extern kfunc lines (``__weak``/``__ksym`` are dropped, a
    redeclaration is one FUNC)."""
    k = Kernel(get_profile("latest"))
    again = parse_c(format_c(k.btf, functions=True))
    assert len(again.find_all("bpf_task_acquire", S.KIND_FUNC)) == 1
