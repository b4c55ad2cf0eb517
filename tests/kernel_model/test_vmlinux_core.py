"""kernel_model.vmlinux_core: the types CO-RE relocations reach, with the 6.18 layouts,
and kernel_model.vmlinux_names, the fact list of a 6.18 vmlinux's type names."""

from __future__ import annotations

import os
import platform

import pytest

from kernel_model.btf import BTF, Composite
from kernel_model.btf import structs as S
from kernel_model.vmlinux import REDUCED_STRUCTS, build_vmlinux_btf
from kernel_model.vmlinux_names import has_type

#: the full (not reduced) structs of the module, with sizeof on 6.18 x86-64
FULL = {"ethhdr": 14, "ipv6hdr": 40, "sockaddr_in6": 28, "__kernel_timespec": 16, "sk_msg_md": 80,
        "bpf_perf_event_data": 184, "trace_entry": 8, "syscall_trace_enter": 16, "xdp_cpumap_stats": 12}


def _layout(btf: BTF, name: str) -> list[tuple[str, int, int]]:
    t = btf.get(name, S.KIND_STRUCT)
    assert isinstance(t, Composite), name
    return [(m.name, m.bits_offset, m.bitfield_size) for m in t.members]


def test_types_are_in_the_emulated_vmlinux_with_their_sizes() -> None:
    btf = build_vmlinux_btf()
    for name, size in FULL.items():
        assert btf.size_of(btf.find(name, S.KIND_STRUCT)) == size, name
    assert [m for m, off, _ in _layout(btf, "sk_msg_md") if off == 72 * 8] == [""]  # the sk union
    assert ("nexthdr", 6 * 8, 0) in _layout(btf, "ipv6hdr")
    assert REDUCED_STRUCTS["bpf_prog"]
    assert "net_device" not in REDUCED_STRUCTS  # whole since kernel_model.net_types (2496 bytes)
    assert btf.size_of(btf.find("net_device", S.KIND_STRUCT)) == 2496


def test_every_type_is_a_6_18_type() -> None:
    """Nothing here is invented: each name is in the 6.18 name list."""
    for name in [*FULL, "net_device", "bpf_prog"]:
        assert has_type("struct", name), name


@pytest.mark.kernel
def test_layouts_are_the_running_kernels() -> None:
    """Member names, bit offsets and bitfield sizes of the full structs equal the running
    kernel's own BTF (anonymous members compared by position)."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    if platform.machine() != "x86_64":
        pytest.skip("the layouts are x86-64's (bpf_perf_event_data holds struct pt_regs)")
    host = BTF.from_file("/sys/kernel/btf/vmlinux")
    ours = build_vmlinux_btf()
    for name in FULL:
        assert _layout(ours, name) == _layout(host, name), name
        assert ours.size_of(ours.find(name, S.KIND_STRUCT)) == host.size_of(host.find(name, S.KIND_STRUCT)), name
