"""kernel_model.net_types: the packet and socket types with the 6.18 layouts, the net tracepoints.

The generated layouts (kernel_model/vmlinux_skb.py, tools/gen_skb_btf.py) must agree with the
table the socket-filter rewrites and test runs use (verifier.convert_ctx.SKB), keep the
kernel's size where the emulated vmlinux already defined a struct (reduced or whole), and --
marked ``kernel`` -- equal the running kernel's own BTF when that is the 6.18 x86-64 kernel
they were generated from.
"""

from __future__ import annotations

import os
import platform

import pytest

from kernel_model.btf import BTF, structs as S
from kernel_model.net_types import NET_TRACEPOINTS
from kernel_model.vmlinux import REDUCED_STRUCTS, build_vmlinux_btf
from kernel_model.vmlinux_skb import ALL_SIZES, SIZES, SOURCE_RELEASE
from verifier.convert_ctx import SKB


def _members(btf: BTF, name: str) -> dict[str, int]:
    """member name -> byte offset, anonymous structs and unions flattened (first name wins)."""
    out: dict[str, int] = {}

    def walk(tid: int, base: int) -> None:
        for m in btf.type_by_id(tid).members:
            mid = btf.skip_modifiers(m.type_id)
            off = base + m.bits_offset // 8
            if not m.name and btf.type_by_id(mid).kind in (S.KIND_STRUCT, S.KIND_UNION):
                walk(mid, off)
            else:
                out.setdefault(m.name, off)
    walk(btf.find(name, S.KIND_STRUCT), 0)
    return out


def test_sk_buff_agrees_with_the_ctx_rewrite_table() -> None:
    """verifier.convert_ctx.SKB (what the __sk_buff rewrites and the test runs use) and the
    BTF struct sk_buff a tp_btf or kernel-context program reads are the same layout."""
    btf = build_vmlinux_btf()
    m = _members(btf, "sk_buff")
    pairs = {"dev": "dev", "sk": "sk", "tstamp": "tstamp", "cb": "cb", "len": "len",
             "queue_mapping": "queue_mapping", "pkt_type_offset": "__pkt_type_offset", "tc_index": "tc_index",
             "priority": "priority", "skb_iif": "skb_iif", "hash": "hash", "vlan_all": "vlan_all",
             "vlan_proto": "vlan_proto", "vlan_tci": "vlan_tci", "napi_id": "napi_id", "mark": "mark",
             "protocol": "protocol", "end": "end", "head": "head", "data": "data"}
    for field, member in pairs.items():
        assert getattr(SKB, field) == m[member], field
    assert SKB.size == btf.size_of(btf.find("sk_buff", S.KIND_STRUCT))
    nd = _members(btf, "net_device")
    assert SKB.dev_ifindex == nd["ifindex"]
    assert SKB.dev_size == btf.size_of(btf.find("net_device", S.KIND_STRUCT))
    sh = _members(btf, "skb_shared_info")
    assert (SKB.shinfo_gso_size, SKB.shinfo_gso_segs, SKB.shinfo_hwtstamps) == \
        (sh["gso_size"], sh["gso_segs"], sh["hwtstamps"])
    assert SKB.shinfo_size == btf.size_of(btf.find("skb_shared_info", S.KIND_STRUCT))


def test_root_structs_have_the_kernels_sizes() -> None:
    btf = build_vmlinux_btf()
    for name, size in SIZES.items():
        tid = btf.find(name, S.KIND_STRUCT)
        assert tid is not None, name
        assert btf.size_of(tid) == size, name


def test_structs_kept_from_the_emulated_vmlinux_have_the_kernels_size() -> None:
    """A struct the emulated vmlinux already defined keeps its definition; where the generated
    types embed it, only the kernel's size keeps every later member at the kernel's offset."""
    btf = build_vmlinux_btf()
    for name, size in ALL_SIZES.items():
        tid = btf.find(name, S.KIND_STRUCT)
        assert tid is not None, name
        assert btf.size_of(tid) == size, name


def test_net_device_is_whole_now() -> None:
    assert "net_device" not in REDUCED_STRUCTS
    assert _members(build_vmlinux_btf(), "net_device")["mtu"] == 56  # 6.18 x86-64 (was 0 when reduced)


def test_pointers_to_undefined_structs_stay_declarations() -> None:
    """skb->extensions points to struct skb_ext, which nothing defines: a declaration, so a
    walk into it is refused as not modelled (tests/verifier/test_net_types_access.py)."""
    btf = build_vmlinux_btf()
    assert btf.find("skb_ext", S.KIND_FWD) is not None
    assert btf.find("skb_ext", S.KIND_STRUCT) is None


def test_tracepoints_are_declared() -> None:
    btf = build_vmlinux_btf()
    for name, (template, _params) in NET_TRACEPOINTS.items():
        assert btf.find(f"btf_trace_{name}", S.KIND_TYPEDEF) is not None, name
        assert btf.find(f"__bpf_trace_{template}", S.KIND_FUNC) is not None, template


def _host(same_build: bool = False) -> BTF:
    """The running kernel's BTF, when it is the 6.18 x86-64 kernel the tables describe
    (``same_build``: the very release they were generated from, whose configuration the
    struct layouts depend on)."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    if platform.machine() != "x86_64" or not platform.release().startswith("6.18"):
        pytest.skip(f"the tables are 6.18 x86-64's ({SOURCE_RELEASE}); this host runs {platform.release()}")
    if same_build and platform.release() != SOURCE_RELEASE:
        pytest.skip(f"the layouts were generated from {SOURCE_RELEASE} (its configuration); this host runs "
                    f"{platform.release()}: regenerate with tools/gen_skb_btf.py to compare")
    return BTF.from_file("/sys/kernel/btf/vmlinux")


def _layout(btf: BTF, tid: int) -> list[tuple[str, int, int]]:
    return [(m.name, m.bits_offset, m.bitfield_size) for m in btf.type_by_id(tid).members]


@pytest.mark.kernel
def test_layouts_are_the_running_kernels() -> None:
    """Every named struct the generated text defines or embeds has the running kernel's size;
    those net_types itself adds (not kept from the emulated vmlinux) also its member names,
    bit offsets and bitfield sizes."""
    import re

    from kernel_model.conntrack import new_definitions
    from kernel_model.net_types import HEADER
    from kernel_model.vmlinux import vmlinux_c
    from kernel_model.vmlinux_skb import SKB_C

    host = _host(same_build=True)
    ours = build_vmlinux_btf()
    text = vmlinux_c()
    before = text[:text.index(HEADER)]
    ours_added = set(re.findall(r"\bstruct\s+(\w+)\s*\{", new_definitions(before, SKB_C)))
    checked = 0
    for name in ALL_SIZES:
        oid, hid = ours.find(name, S.KIND_STRUCT), host.find(name, S.KIND_STRUCT)
        assert ours.size_of(oid) == host.size_of(hid), name
        if name in ours_added:
            assert _layout(ours, oid) == _layout(host, hid), name
            checked += 1
    assert checked > 50


def _c_type(btf: BTF, tid: int) -> str:
    t = btf.type_by_id(tid)
    if t.kind == S.KIND_PTR:
        return _c_type(btf, t.type_id) + " *" if t.type_id else "void *"
    if t.kind == S.KIND_CONST:
        return "const " + _c_type(btf, t.type_id)
    kw = {S.KIND_STRUCT: "struct ", S.KIND_UNION: "union ", S.KIND_ENUM: "enum ", S.KIND_FWD: "struct "}
    return kw.get(t.kind, "") + t.name


@pytest.mark.kernel
def test_tracepoint_prototypes_are_the_running_kernels() -> None:
    """The btf_trace_ typedefs and the templates' probe functions: parameter types (and the
    probes' names) as the running 6.18 kernel declares them."""
    host = _host()
    ours = build_vmlinux_btf()
    for name, (template, _params) in NET_TRACEPOINTS.items():
        def proto(btf: BTF) -> list[tuple[str, str]]:
            fid = btf.find(f"__bpf_trace_{template}", S.KIND_FUNC)
            assert fid is not None, template
            fp = btf.type_by_id(btf.type_by_id(fid).type_id)
            return [(p.name, _c_type(btf, p.type_id)) for p in fp.params]

        def typedef(btf: BTF) -> list[str]:
            td = btf.type_by_id(btf.find(f"btf_trace_{name}", S.KIND_TYPEDEF))
            fp = btf.type_by_id(btf.type_by_id(td.type_id).type_id)
            return [_c_type(btf, p.type_id) for p in fp.params]
        assert proto(ours) == proto(host), template
        assert typedef(ours) == typedef(host), name
