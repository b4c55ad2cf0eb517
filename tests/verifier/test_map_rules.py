"""Map-type rules of the verifier (verifier/map_rules.py): check_map_func_compatibility,
check_map_prog_compatibility, and the map types whose program-side use is not modelled.

The host-oracle cases load the same socket filter on the host and in the emulated
kernel (maps created by each) and compare verdict and last log line.
"""

from __future__ import annotations

import pytest

from emu.kernel import Kernel
from emu.kernel.syscall import ProgLoadError
from kernel_model.asm import assemble
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.insn import encode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER
from verifier.map_rules import check_map_func_compatibility, check_map_prog_compatibility, map_use_not_modelled

T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}


def test_table_both_directions():
    assert check_map_func_compatibility(T["PROG_ARRAY"], 1) == \
        "cannot pass map_type 3 into func bpf_map_lookup_elem#1"
    assert check_map_func_compatibility(T["PROG_ARRAY"], 12) is None  # bpf_tail_call
    assert check_map_func_compatibility(T["HASH"], 12) == "cannot pass map_type 1 into func bpf_tail_call#12"
    assert check_map_func_compatibility(T["BLOOM_FILTER"], 88) is not None  # pop: queue/stack only
    assert check_map_func_compatibility(T["STACK"], 88) is None
    assert check_map_func_compatibility(T["HASH"], 1) is None  # no entry either side
    assert check_map_func_compatibility(T["ARRAY"], 195) is not None  # lookup_percpu_elem: per-CPU only


def test_prog_compat_and_not_modelled():
    assert check_map_prog_compatibility(T["STRUCT_OPS"], False) == "bpf_struct_ops map cannot be used in prog"
    assert check_map_prog_compatibility(T["LPM_TRIE"], True) is not None
    assert check_map_prog_compatibility(T["LPM_TRIE"], False) is None
    assert check_map_prog_compatibility(T["QUEUE"], True) is None
    assert "not modelled" in map_use_not_modelled(T["ARENA"])
    assert map_use_not_modelled(T["SOCKMAP"]) is None
    assert map_use_not_modelled(T["HASH"]) is None


#: (map type, key_size, value_size, max_entries, program body after r1 = map, r2 = fp-8 with a zero key)
CASES = [
    ("PROG_ARRAY", 4, 4, 1, ["call 1"]),
    ("PERF_EVENT_ARRAY", 4, 4, 1, ["r3 = r2", "r4 = 0", "call 2"]),
    ("STACK_TRACE", 4, 8, 1, ["call 3"]),
    ("CGROUP_ARRAY", 4, 4, 1, ["call 1"]),
    ("HASH", 4, 4, 1, ["call 1"]),
    ("LRU_HASH", 4, 8, 4, ["call 1", "if r0 == 0 goto +1", "*(u64 *)(r0 + 0) = r0"]),
]


def _prog(fd: int, body: list[str]) -> list:
    return assemble("\n".join(["*(u64 *)(r10 - 8) = 0", f"r1 = map[fd:{fd}] ll", "r2 = r10", "r2 += -8",
                               *body, "r0 = 0", "exit"]))


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_helper_map_pairs_agree_with_the_host(case):
    from emu.host import hostbpf

    name, ks, vs, n, body = case
    hfd, err = hostbpf.map_create(T[name], ks, vs, n)
    assert hfd >= 0, err
    try:
        host = hostbpf.prog_load(PROG_TYPE_SOCKET_FILTER, encode(_prog(hfd, body)))
        host_ok, host_line = host.accepted, host.error_line()
        host.close()
    finally:
        hostbpf.close(hfd)
    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=T[name], key_size=ks, value_size=vs, max_entries=n)
        try:
            k.prog_load(_prog(fd, body), prog_type=PROG_TYPE_SOCKET_FILTER, log_level=1)
            ok, line = True, None
        except ProgLoadError as e:
            ok, line = False, [ln for ln in e.log.splitlines() if ln.strip()][-2]
    finally:
        k.shutdown()
    assert ok == host_ok, host_line
    if not ok:
        assert hostbpf.comparable_log(line) == hostbpf.comparable_log(host_line)


def test_map_kinds_modelled_now():
    """Map-in-map, cgroup storage, devmap/cpumap/xskmap, sockmap/sockhash are verified;
    arena is still refused as not modelled."""
    for name in ("ARRAY_OF_MAPS", "HASH_OF_MAPS", "CGROUP_STORAGE", "PERCPU_CGROUP_STORAGE", "DEVMAP",
                 "DEVMAP_HASH", "CPUMAP", "XSKMAP", "SOCKMAP", "SOCKHASH"):
        assert map_use_not_modelled(T[name]) is None, name
    for name in ("ARENA",):
        assert "not modelled" in map_use_not_modelled(T[name]), name
    # the table for them (verifier.c check_map_func_compatibility)
    assert check_map_func_compatibility(T["ARRAY_OF_MAPS"], 1) is None
    assert check_map_func_compatibility(T["HASH_OF_MAPS"], 2) == \
        "cannot pass map_type 13 into func bpf_map_update_elem#2"
    assert check_map_func_compatibility(T["CGROUP_STORAGE"], 81) is None
    assert check_map_func_compatibility(T["ARRAY"], 81) == "cannot pass map_type 2 into func bpf_get_local_storage#81"
    assert check_map_func_compatibility(T["CPUMAP"], 1) == "cannot pass map_type 16 into func bpf_map_lookup_elem#1"
    assert check_map_func_compatibility(T["XSKMAP"], 51) is None
    assert check_map_func_compatibility(T["HASH"], 51) == "cannot pass map_type 1 into func bpf_redirect_map#51"


def test_mark_ptr_not_null_reg():
    """verifier.c mark_ptr_not_null_reg: what a NULL check makes of a lookup's result."""
    from kernel_model.bpf_map import MapSpec
    from kernel_model.btf_record import BtfField, BtfRecord
    from verifier.not_null import mark_ptr_not_null_reg
    from verifier.regs import (CONST_PTR_TO_MAP, PTR_MAYBE_NULL, PTR_TO_MAP_VALUE, PTR_TO_SOCKET, PTR_TO_XDP_SOCK,
                               RegState)

    def looked_up(m: MapSpec) -> RegState:
        r = RegState()
        r.type, r.map, r.id = PTR_TO_MAP_VALUE | PTR_MAYBE_NULL, m, 7
        mark_ptr_not_null_reg(r)
        return r

    plain = MapSpec(T["HASH"], 4, 8, 4)
    assert (looked_up(plain).type, looked_up(plain).map) == (PTR_TO_MAP_VALUE, plain)
    meta = MapSpec(T["ARRAY"], 4, 4, 1)
    r = looked_up(MapSpec(T["ARRAY_OF_MAPS"], 4, 4, 2, inner_meta=meta))
    assert (r.type, r.map, r.map_uid) == (CONST_PTR_TO_MAP, meta, 0)
    timer_meta = MapSpec(T["ARRAY"], 4, 16, 1, record=BtfRecord((BtfField("bpf_timer", 0, 16),)))
    r = looked_up(MapSpec(T["HASH_OF_MAPS"], 4, 4, 2, inner_meta=timer_meta))
    assert (r.type, r.map, r.map_uid) == (CONST_PTR_TO_MAP, timer_meta, 7)  # the lookup's id names the inner map
    assert looked_up(MapSpec(T["XSKMAP"], 4, 4, 1)).type == PTR_TO_XDP_SOCK
    assert looked_up(MapSpec(T["SOCKHASH"], 4, 4, 1)).type == PTR_TO_SOCKET
