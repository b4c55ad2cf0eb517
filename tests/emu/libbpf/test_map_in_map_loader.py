"""libbpf's map-in-map: ``__array(values, struct inner)`` inner definitions, ``.values``
initialisers, their errors (libbpf 1.8 ``parse_btf_map_def``, ``bpf_object__collect_map_relos``,
``bpf_object__create_map``, ``init_map_in_map_slots``), and a program that goes through both
levels once the object is loaded."""

from __future__ import annotations

import struct

import pytest

from emu.kernel import Kernel
from emu.libbpf import BpfObject, LibbpfError
from emu.libbpf.log import Log

from .conftest import compile_bpf

HDR = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char _license[] SEC("license") = "GPL";
"""

GOOD = HDR + r"""
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct inner in_a SEC(".maps"), in_b SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 3);
    __type(key, int);
    __array(values, struct inner);
} outer_arr SEC(".maps") = { .values = { [0] = &in_a, [2] = &in_b } };
struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __uint(max_entries, 4);
    __type(key, int);
    __array(values, struct inner);
} outer_hash SEC(".maps") = { .values = { [3] = &in_b } };

static int get(void *outer, int k)
{
    int zero = 0, *v;
    void *in = bpf_map_lookup_elem(outer, &k);
    if (!in)
        return -1;
    v = bpf_map_lookup_elem(in, &zero);
    return v ? *v : -2;
}

SEC("socket") int via_array(struct __sk_buff *skb) { return get(&outer_arr, skb->len == 50 ? 2 : skb->len == 51 ? 0 : 1); }
SEC("socket") int via_hash(struct __sk_buff *skb) { return get(&outer_hash, skb->len == 50 ? 3 : 0); }
"""

TWO_LEVELS = HDR + r"""
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct mid {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 1); __type(key, int);
    __array(values, struct inner);
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 1); __type(key, int);
    __array(values, struct mid);
} outer SEC(".maps");
SEC("socket") int p(struct __sk_buff *skb) { return 0; }
"""

LONG_KEY = HDR + r"""
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct inner in1 SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 1); __type(key, long);
    __array(values, struct inner);
} outer SEC(".maps") = { .values = { &in1 } };
SEC("socket") int p(struct __sk_buff *skb) { return 0; }
"""

MISMATCH = HDR + r"""
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, int); __type(value, int); } big SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 1); __type(key, int);
    __array(values, struct inner);
} outer SEC(".maps") = { .values = { &big } };
SEC("socket") int p(struct __sk_buff *skb) { return 0; }
"""


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    d = tmp_path_factory.mktemp("mim")
    out = {}
    for name, src in (("good", GOOD), ("two_levels", TWO_LEVELS), ("long_key", LONG_KEY), ("mismatch", MISMATCH)):
        (d / f"{name}.bpf.c").write_text(src)
        out[name] = compile_bpf(d / f"{name}.bpf.c", d / f"{name}.bpf.o")
    return out


def _open(path) -> BpfObject:
    return BpfObject.open_file(str(path), log=Log(stream=None, level=2))


def test_slots_are_filled_and_programs_reach_the_inner_values(objs):
    obj = _open(objs["good"])
    arr, hsh = obj.find_map("outer_arr"), obj.find_map("outer_hash")
    assert {i: t.name for i, t in arr.init_slots.items()} == {0: "in_a", 2: "in_b"}
    assert {i: t.name for i, t in hsh.init_slots.items()} == {3: "in_b"}
    k = Kernel(modules=())
    try:
        obj.load(k)
        ids = {n: k.map_info(obj.find_map(n).fd).id for n in ("in_a", "in_b")}
        assert k.map_lookup_elem(arr.fd, struct.pack("<i", 2)) == struct.pack("<I", ids["in_b"])
        assert k.map_lookup_elem(hsh.fd, struct.pack("<i", 3)) == struct.pack("<I", ids["in_b"])
        k.map_update_elem(obj.find_map("in_a").fd, struct.pack("<i", 0), struct.pack("<i", 11))
        k.map_update_elem(obj.find_map("in_b").fd, struct.pack("<i", 0), struct.pack("<i", 22))

        def run(prog: str, n: int) -> int:
            r = k.prog_test_run(obj.find_program(prog).fd, data_in=bytes(14 + n)).retval
            return r - (1 << 32) if r >> 31 else r

        # skb->len is the packet minus the Ethernet header
        assert [run("via_array", n) for n in (50, 51, 52)] == [22, 11, -1]
        assert [run("via_hash", n) for n in (50, 51)] == [22, -1]
        # the template was closed: only the four declared maps and the two outer ones remain
        assert all(m.inner_map is None for m in obj.maps)
    finally:
        k.shutdown()


def test_one_level_only(objs):
    with pytest.raises(LibbpfError, match=r"map 'outer.inner': multi-level inner maps not supported\."):
        _open(objs["two_levels"])


def test_hash_of_maps_slots_need_int_keys(objs):
    with pytest.raises(LibbpfError, match=r"hash-of-maps 'outer' should have key size 4\."):
        _open(objs["long_key"])


def test_a_slot_the_template_does_not_fit_fails_the_load(objs):
    """array_map_meta_equal: max_entries 2 against the template's 1 is -EINVAL."""
    obj = _open(objs["mismatch"])
    k = Kernel(modules=())
    try:
        with pytest.raises(LibbpfError, match=r"map 'outer': failed to create: -EINVAL"):
            obj.load(k)
        assert "failed to initialize slot [0] to map 'big'" in obj.log.text()
    finally:
        k.shutdown()


NO_VALUES = HDR + r"""
struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 2); __type(key, int); __type(value, int);
} outer SEC(".maps");
SEC("socket") int p(struct __sk_buff *skb) { return 0; }
"""


def test_set_inner_map_fd(objs, tmp_path):
    """bpf_map__set_inner_map_fd: without an inner definition the outer map needs an inner
    map fd (the kernel says -EINVAL otherwise); only for map-in-map, only once."""
    (tmp_path / "nv.bpf.c").write_text(NO_VALUES)
    path = compile_bpf(tmp_path / "nv.bpf.c", tmp_path / "nv.bpf.o")
    k = Kernel(modules=())
    try:
        obj = _open(path)
        with pytest.raises(LibbpfError, match="map 'outer': failed to create: -EINVAL"):
            obj.load(k)
        obj = _open(path)
        inner = k.map_create(map_type=1, key_size=4, value_size=8, max_entries=4)
        with pytest.raises(LibbpfError, match=r"map '.*': should be map-in-map\."):
            _open(objs["good"]).find_map("in_a").set_inner_map_fd(inner)
        m = obj.find_map("outer")
        m.set_inner_map_fd(inner)
        with pytest.raises(LibbpfError, match=r"inner_map_fd already specified\."):
            m.set_inner_map_fd(inner)
        obj.load(k)
        k.map_update_elem(m.fd, struct.pack("<i", 5), struct.pack("<i", inner))
        assert k.map_lookup_elem(m.fd, struct.pack("<i", 5)) == struct.pack("<I", k.map_info(inner).id)
    finally:
        k.shutdown()
