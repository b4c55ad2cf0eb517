"""The host's own BTF: /sys/kernel/btf/vmlinux parses, re-encodes byte for byte, dumps
exactly as bpftool does, and its struct_ops types have the sizes/offsets bpftool shows."""

from __future__ import annotations

import re
import subprocess

import pytest

from kernel_model.btf import BTF, Struct, format_raw, parse_c, structs as S

VMLINUX = "/sys/kernel/btf/vmlinux"


def test_reencodes_byte_for_byte(vmlinux: BTF, vmlinux_bytes: bytes) -> None:
    assert len(vmlinux) > 1000
    assert vmlinux.to_bytes() == vmlinux_bytes


def test_raw_dump_is_identical_to_bpftool(vmlinux: BTF, bpftool_raw: str) -> None:
    mine = format_raw(vmlinux)
    if mine != bpftool_raw:
        a, b = mine.splitlines(), bpftool_raw.splitlines()
        first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y) if a[:len(b)] != b[:len(a)] else min(len(a), len(b))
        pytest.fail(f"first difference at line {first + 1}: ours {a[first:first + 1]} bpftool {b[first:first + 1]}")


def _bpftool_struct(raw: str, name: str) -> tuple[int, list[tuple[str, int]]]:
    m = re.search(rf"^\[\d+\] STRUCT '{name}' size=(\d+) vlen=\d+\n((?:\t.*\n)*)", raw, re.M)
    assert m, name
    members = [(mm.group(1), int(mm.group(2))) for mm in re.finditer(r"\t'([^']*)' type_id=\d+ bits_offset=(\d+)",
                                                                     m.group(2))]
    return int(m.group(1)), members


@pytest.mark.parametrize("name", ["bpf_dummy_ops", "tcp_congestion_ops", "bpf_struct_ops_tcp_congestion_ops",
                                  "bpf_dummy_ops_state", "bpf_struct_ops_common_value"])
def test_struct_ops_types_match_bpftool(vmlinux: BTF, bpftool_raw: str, name: str) -> None:
    t = vmlinux.get(name, S.KIND_STRUCT)
    assert isinstance(t, Struct)
    size, members = _bpftool_struct(bpftool_raw, name)
    assert t.size == size
    assert [(m.name or "(anon)", m.bits_offset) for m in t.members] == members


def test_struct_ops_types_known_values(vmlinux: BTF) -> None:
    """Values read from `bpftool btf dump file /sys/kernel/btf/vmlinux` on the Linux 6.18 reference host;
    the layouts of these types have been stable since 6.9 (tcp_congestion_ops: 192 bytes, 3 cachelines)."""
    ops = vmlinux.get("tcp_congestion_ops", S.KIND_STRUCT)
    assert ops.size == 192 and ops.member("ssthresh").bits_offset == 0
    dummy = vmlinux.get("bpf_dummy_ops", S.KIND_STRUCT)
    assert [m.name for m in dummy.members][:2] == ["test_1", "test_2"]
    value = vmlinux.get("bpf_struct_ops_tcp_congestion_ops", S.KIND_STRUCT)
    data = value.member("data")
    assert vmlinux.resolve(data.type_id) == ops
    assert data.bits_offset // 8 + ops.size <= value.size
    assert vmlinux.size_of(vmlinux.find("bpf_struct_ops_tcp_congestion_ops")) == value.size


def test_lookup_by_name_and_kind(vmlinux: BTF) -> None:
    tid = vmlinux.find("tcp_congestion_ops", S.KIND_STRUCT)
    assert vmlinux.find_all("tcp_congestion_ops", S.KIND_STRUCT) == [tid]
    assert vmlinux.find("tcp_congestion_ops", S.KIND_UNION) is None
    assert vmlinux.find("no_such_type_anywhere") is None
    funcs = list(vmlinux.iter_types(S.KIND_FUNC))
    assert funcs and all(t.kind == S.KIND_FUNC for _, t in funcs[:100])


def test_split_module_on_vmlinux_matches_bpftool(vmlinux: BTF, bpftool: str, tmp_path) -> None:
    """A module's BTF built from C on the vmlinux base: ids continue after the base, base types are
    reused by name, and bpftool (with `base`) prints the same raw dump."""
    mod = parse_c("""
        struct bpf_testmod_ops {
            int (*test_1)(void);
            int (*test_2)(int a, int b);
            int (*test_maybe_null)(int dummy, struct task_struct *task__nullable);
            u64 data;
            struct list_head node;
        };
        __bpf_kfunc struct sock *bpf_kfunc_call_test3(struct sock *sk);
    """, base=vmlinux, where="bpf_testmod.c")
    assert mod.start_id == vmlinux.type_count
    ops = mod.get("bpf_testmod_ops", S.KIND_STRUCT)
    assert mod.find("bpf_testmod_ops") >= vmlinux.type_count
    assert ops.member("data").type_id == vmlinux.find("u64", S.KIND_TYPEDEF)
    assert ops.member("node").type_id == vmlinux.find("list_head", S.KIND_STRUCT)
    assert ops.size == 24 + 8 + 16
    mod.validate()
    path = tmp_path / "bpf_testmod.btf"
    path.write_bytes(mod.to_bytes())
    out = subprocess.run([bpftool, "-B", VMLINUX, "btf", "dump", "file", str(path), "format", "raw"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert format_raw(BTF.from_bytes(path.read_bytes(), vmlinux)) == out.stdout
