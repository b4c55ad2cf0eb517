"""The kernel selftest ``bpf_dctcp.o`` (tests/data/selftests/objects) at run time: socket
local storage (``bpf_sk_storage_get/delete``, emu/kernel/maps/sk_storage.py) on the
simulator's sockets, and a whole simulated flow under ECN marking."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

from emu.kernel import Kernel
from emu.kernel.maps.sk_storage import BPF_SK_STORAGE_GET_F_CREATE, SkStorageMap, SockView
from emu.sim.tcp import load_bpf_ca, run_tcp
from kernel_model.subsystems.tcp_sender import LinkConfig, TcpSock

DCTCP = str(Path(__file__).resolve().parents[1] / "data" / "selftests" / "objects" / "bpf_dctcp.o")
TCP_ECN_OK = 1
#: the value the kernel selftest (prog_tests/bpf_tcp_ca.c, test_dctcp) stores for the socket
EXPECTED_STG = 0xEB9F


def _map(obj, name):  # type: ignore[no-untyped-def]
    (m,) = [m for m in obj.maps if m.name == name or getattr(m, "real_name", "") == name]
    return m


def test_init_reads_and_deletes_the_sockets_storage() -> None:
    """dctcp_init: bpf_sk_storage_get(&sk_stg_map, tp, NULL, 0) finds the element user space
    made for the socket, copies it to stg_result and deletes it (what the selftest checks:
    stg_result == expected_stg, then the socket has no element)."""
    k, obj, ops = load_bpf_ca(DCTCP, "dctcp")
    try:
        sk = TcpSock(flow=0, ecn_flags=TCP_ECN_OK, snd_cwnd=10)
        addr = ops.socket_address(sk)
        stg = k.fds.get(_map(obj, "sk_stg_map").fd, SkStorageMap, "a map")
        ops.init(sk)  # the socket is created (its image written) by the first call
        bss = _map(obj, ".bss")
        before = k.map_lookup_elem(bss.fd, bytes(4))
        value = stg.storage_get(addr, 0, BPF_SK_STORAGE_GET_F_CREATE, SockView(k.machine, k.btf))
        assert value and stg.elems == {addr: value}
        k.machine.write(value, struct.pack("<i", EXPECTED_STG))
        ops.init(sk)
        after = k.map_lookup_elem(bss.fd, bytes(4))
        assert after != before and struct.pack("<i", EXPECTED_STG) in after
        assert stg.elems == {}  # bpf_sk_storage_delete
    finally:
        k.shutdown()


def test_storage_get_and_delete_rules() -> None:
    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=24, key_size=4, value_size=8, max_entries=0, map_flags=1,
                          btf_fd=_int_btf(k), btf_key_type_id=1, btf_value_type_id=2)
        smap = k.fds.get(fd, SkStorageMap, "a map")
        view = SockView(k.machine, k.btf)
        m = k.machine
        sk = int(m.alloc.kzalloc(2048))
        init = int(m.alloc.kzalloc(8))
        m.write(init, struct.pack("<Q", 0x1122))
        assert smap.storage_get(sk, 0, BPF_SK_STORAGE_GET_F_CREATE, view) == 0  # sk_refcnt 0: going away
        assert smap.storage_delete(sk, view) == -errno.ENOENT
        m.write(sk + view.refcnt_off, struct.pack("<I", 1))
        assert smap.storage_get(sk, 0, 2, view) == 0  # flags above F_CREATE
        assert smap.storage_get(sk, 0, 0, view) == 0  # no element, no create
        v = smap.storage_get(sk, init, BPF_SK_STORAGE_GET_F_CREATE, view)
        assert v and m.read(v, 8) == struct.pack("<Q", 0x1122)  # the initial value copied
        assert smap.storage_get(sk, 0, 0, view) == v
        m.write(sk + view.state_off, bytes([6]))  # TCP_TIME_WAIT: not a full socket
        assert smap.storage_get(sk, 0, 0, view) == 0
        assert smap.storage_delete(sk, view) == -errno.EINVAL
        m.write(sk + view.state_off, bytes([1]))
        assert smap.storage_delete(sk, view) == 0 and smap.storage_delete(sk, view) == -errno.ENOENT
        assert smap.storage_delete(0, view) == -errno.EINVAL
    finally:
        k.shutdown()


def _int_btf(k: Kernel) -> int:
    from kernel_model.btf import BTF
    from kernel_model.btf.types import Int

    b = BTF()
    b.add(Int("int", 4, 1, 0, 32))
    b.add(Int("long", 8, 1, 0, 64))
    return k.btf_load(b.to_bytes())


def test_dctcp_runs_a_marked_flow() -> None:
    """A whole flow under ECN marking: every member runs through the JIT (the storage
    helpers included), the CE marks reduce the window without a loss."""
    cfg = LinkConfig(bw_mbit=50, rtt_ms=20, buffer=60, ecn_k=15, duration=2.0, seed=1)
    r = run_tcp(cfg, obj_path=DCTCP, map_name="dctcp")
    s = r.summary
    assert s["algorithm"] == "bpf_dctcp" and s["bpf"]
    calls = s["member_calls"]
    assert calls["init"] == 1 and calls["in_ack_event"] > 1000 and calls["ssthresh"] >= 1
    assert max(x["lost"] for x in r.samples) == 0
