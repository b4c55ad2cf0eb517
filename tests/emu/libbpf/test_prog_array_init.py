"""``__array(values, ...)`` of a prog array: libbpf fills the slots after loading the
programs (``bpf_object__init_prog_arrays``), and the tail calls run."""

from __future__ import annotations

import struct

import pytest

from emu.kernel import Kernel
from emu.libbpf import BpfObject
from emu.libbpf.log import Log

from .conftest import compile_bpf

SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket") int callee_a(struct __sk_buff *skb) { return 42; }
SEC("socket") int callee_b(struct __sk_buff *skb) { return 5; }

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, int (void *));
} jmp_table SEC(".maps") = {
    .values = { [1] = (void *)&callee_a, [3] = (void *)&callee_b },
};

SEC("socket") int entry(struct __sk_buff *skb)
{
    bpf_tail_call(skb, &jmp_table, skb->len & 3);
    return 7;
}

SEC("socket") int fixed(struct __sk_buff *skb)
{
    bpf_tail_call(skb, &jmp_table, 3);
    return 8;
}
char _license[] SEC("license") = "GPL";
"""

MIM = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct inner in1 SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 1);
    __type(key, int);
    __array(values, struct inner);
} outer_array_map SEC(".maps") = { .values = { &in1 } };
SEC("socket") int p(struct __sk_buff *skb) { return 0; }
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pa")
    (d / "pa.bpf.c").write_text(SRC)
    (d / "mim.bpf.c").write_text(MIM)
    return compile_bpf(d / "pa.bpf.c", d / "pa.bpf.o"), compile_bpf(d / "mim.bpf.c", d / "mim.bpf.o")


def test_values_fill_the_prog_array_and_tail_calls_run(objs):
    obj = BpfObject.open_file(str(objs[0]), log=Log(stream=None, level=2))
    m = obj.find_map("jmp_table")
    assert m.value_size == 4
    assert {i: p.name for i, p in m.init_slots.items()} == {1: "callee_a", 3: "callee_b"}
    k = Kernel(modules=())
    try:
        obj.load(k)
        ids = {p.name: k.prog_info(p.fd).id for p in obj.programs}
        assert k.map_lookup_elem(m.fd, struct.pack("<I", 1)) == struct.pack("<I", ids["callee_a"])
        run = lambda name, n: k.prog_test_run(obj.find_program(name).fd, data_in=bytes(n)).retval  # noqa: E731
        # skb->len = n - 14 (ETH_HLEN): slot (len & 3)
        assert [run("entry", 14 + i) for i in range(4)] == [7, 42, 7, 5]
        assert run("fixed", 64) == 5  # a direct tail call (constant key)
    finally:
        k.shutdown()


def test_map_in_map_values_fill_the_outer_map(objs):
    """The inner definition becomes ``outer_array_map.inner`` (created as the template,
    closed after) and ``.values = { &in1 }`` puts in1 in slot 0 (init_map_in_map_slots)."""
    obj = BpfObject.open_file(str(objs[1]), log=Log(stream=None))
    m = obj.find_map("outer_array_map")
    assert m.inner_map is not None and m.inner_map.name == "outer_array_map.inner"
    assert (m.inner_map.map_type, m.inner_map.max_entries, m.inner_map.value_size) == (2, 1, 4)
    assert {i: t.name for i, t in m.init_slots.items()} == {0: "in1"}
    k = Kernel(modules=())
    try:
        obj.load(k)
        assert m.inner_map is None  # bpf_map__destroy(map->inner_map) once the outer map exists
        in1 = obj.find_map("in1")
        assert k.map_lookup_elem(m.fd, struct.pack("<i", 0)) == struct.pack("<I", k.map_info(in1.fd).id)
    finally:
        k.shutdown()
