"""Sockmap and sockhash maps in the emulated kernel (emu/kernel/maps/sockmap.py): always empty
(the emulated kernel has no sockets), their syscalls answered as the kernel answers for an
empty map and an fd that is not a socket.

The ``kernel`` test runs the same operations on the host: the maps are created there and
only ever given fds that are not sockets (the map's own fd, a closed fd), so no socket
enters a map.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from typing import Any

import pytest

from emu.kernel import Kernel
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import KernelError, NotModelled

SOCKMAP, SOCKHASH = MAP_TYPES["BPF_MAP_TYPE_SOCKMAP"], MAP_TYPES["BPF_MAP_TYPE_SOCKHASH"]
REUSEPORT = MAP_TYPES["BPF_MAP_TYPE_REUSEPORT_SOCKARRAY"]
_NAMES = {SOCKMAP: "sockmap", SOCKHASH: "sockhash", REUSEPORT: "reuseport"}
KEY0, KEY1, KEY9 = struct.pack("<I", 0), struct.pack("<I", 1), struct.pack("<I", 9)


def _fd_value(fd: int, value_size: int) -> bytes:
    return struct.pack("<Q" if value_size == 8 else "<I", fd)


def _ops(map_fd: int, closed_fd: int, value_size: int) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(name, operation, arguments) of every checked syscall, for both kernels."""
    return [
        ("lookup", "lookup", (KEY0,)),
        ("update_own_fd", "update", (KEY0, _fd_value(map_fd, value_size))),
        ("update_closed_fd", "update", (KEY0, _fd_value(closed_fd, value_size))),
        ("update_fd_above_s32", "update", (KEY0, _fd_value((1 << 32) - 1, value_size))),
        ("update_out_of_range", "update", (KEY9, _fd_value(map_fd, value_size))),
        ("update_bad_flags", "update", (KEY0, _fd_value(map_fd, value_size), 8)),
        ("update_lock_flag", "update", (KEY0, _fd_value(map_fd, value_size), 4)),
        ("delete", "delete", (KEY0,)),
        ("delete_out_of_range", "delete", (KEY9,)),
        ("next_of_null", "next", (None,)),
        ("next_of_0", "next", (KEY0,)),
        ("next_of_last", "next", (KEY1,)),
        ("next_of_out_of_range", "next", (KEY9,)),
    ]


def _emulated(k: Kernel) -> dict[str, Callable[..., Any]]:
    def run(f: Callable[..., Any], *a: Any) -> Any:
        try:
            return f(*a)
        except KernelError as e:
            return -e.errno

    def ops(fd: int) -> dict[str, Callable[..., Any]]:
        return {"lookup": lambda key: run(k.map_lookup_elem, fd, key),
                "update": lambda key, v, flags=0: run(k.map_update_elem, fd, key, v, flags) or 0,
                "delete": lambda key: run(k.map_delete_elem, fd, key) or 0,
                "next": lambda key: run(k.map_get_next_key, fd, key)}
    return ops  # type: ignore[return-value]


def _closed_fd() -> int:
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    return fd


def _model(map_type: int, value_size: int) -> dict[str, Any]:
    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=map_type, key_size=4, value_size=value_size, max_entries=2)
        ops = _emulated(k)(fd)  # type: ignore[operator]
        closed = 100
        return {name: ops[op](*args) for name, op, args in _ops(fd, closed, value_size)}
    finally:
        k.shutdown()


#: (map type, value size) -> operation -> result (bytes, or -errno), as the 6.18 host answers
EXPECTED: dict[tuple[int, int], dict[str, Any]] = {
    (SOCKMAP, 4): {"lookup": -errno.ENOSPC, "update_own_fd": -errno.ENOTSOCK, "update_closed_fd": -errno.EBADF,
                   "update_fd_above_s32": -errno.EINVAL, "delete": -errno.EINVAL, "delete_out_of_range": -errno.EINVAL,
                   "next_of_null": KEY0, "next_of_0": KEY1, "next_of_last": -errno.ENOENT,
                   "next_of_out_of_range": KEY0},
    (SOCKHASH, 8): {"lookup": -errno.ENOENT, "update_own_fd": -errno.ENOTSOCK, "update_closed_fd": -errno.EBADF,
                    "update_fd_above_s32": -errno.EINVAL, "delete": -errno.ENOENT,
                    "delete_out_of_range": -errno.ENOENT, "next_of_null": -errno.ENOENT,
                    "next_of_0": -errno.ENOENT, "next_of_last": -errno.ENOENT, "next_of_out_of_range": -errno.ENOENT},
}
for _k in list(EXPECTED):  # the socket's fd is looked up before the key and the flags
    EXPECTED[_k].update(update_out_of_range=-errno.ENOTSOCK, update_bad_flags=-errno.ENOTSOCK,
                        update_lock_flag=-errno.EINVAL)  # BPF_F_LOCK without a bpf_spin_lock
EXPECTED[(SOCKMAP, 8)] = {**EXPECTED[(SOCKMAP, 4)], "lookup": -errno.ENOENT}
EXPECTED[(SOCKHASH, 4)] = {**EXPECTED[(SOCKHASH, 8)], "lookup": -errno.ENOSPC}
#: the reuseport array checks flags and index before the fd, and an index past the end is E2BIG
EXPECTED[(REUSEPORT, 8)] = {**EXPECTED[(SOCKMAP, 8)], "update_out_of_range": -errno.E2BIG,
                            "update_bad_flags": -errno.EINVAL, "delete": -errno.ENOENT,
                            "delete_out_of_range": -errno.E2BIG}
EXPECTED[(REUSEPORT, 4)] = {**EXPECTED[(REUSEPORT, 8)], "lookup": -errno.ENOSPC,
                            "update_fd_above_s32": -errno.EBADF}  # a u32 value is a signed int: fd -1


@pytest.mark.parametrize("map_type,value_size", list(EXPECTED), ids=[f"{_NAMES[t]}-{v}" for t, v in EXPECTED])
def test_empty_socket_maps(map_type: int, value_size: int) -> None:
    assert _model(map_type, value_size) == EXPECTED[(map_type, value_size)]


def test_program_side_update_is_not_modelled() -> None:
    """A program's bpf_map_update_elem of a socket stops as not modelled; its lookup finds nothing."""
    from emu.kernel.maps import SockMap

    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=SOCKMAP, key_size=4, value_size=8, max_entries=2)
        m = k.fds.get(fd, SockMap)
        assert m.lookup(KEY0) == 0
        with pytest.raises(NotModelled):
            m.update(KEY0, b"\0" * 8, 0)
    finally:
        k.shutdown()


def test_stdin_is_not_a_socket() -> None:
    """The emulated process's fds 0-2 are open and are no sockets (sockfd_lookup: -ENOTSOCK)."""
    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=SOCKMAP, key_size=4, value_size=4, max_entries=2)
        with pytest.raises(KernelError) as e:
            k.map_update_elem(fd, KEY0, _fd_value(0, 4))
        assert e.value.errno == errno.ENOTSOCK
    finally:
        k.shutdown()


@pytest.mark.kernel
@pytest.mark.parametrize("map_type,value_size", list(EXPECTED), ids=[f"{_NAMES[t]}-{v}" for t, v in EXPECTED])
def test_empty_socket_maps_on_the_host(map_type: int, value_size: int) -> None:
    from emu.host import hostbpf as hb

    ok, why = hb.oracle_status()
    if not ok:
        pytest.skip(why)
    fd, err = hb.map_create(map_type, 4, value_size, 2)
    assert fd >= 0, os.strerror(err)
    closed = _closed_fd()

    def upd(key: bytes, v: bytes, flags: int = 0) -> int:
        r, e = hb.map_update(fd, key, v, flags)
        return 0 if r == 0 else -e

    def lookup(key: bytes) -> Any:
        try:
            return hb.map_lookup(fd, key, value_size)
        except OSError as e:
            return -e.errno

    def delete(key: bytes) -> int:
        r, e = hb.map_delete(fd, key)
        return 0 if r == 0 else -e

    def nxt(key: bytes | None) -> Any:
        try:
            got = hb.map_get_next_key(fd, key, 4)
        except OSError as e:
            return -e.errno
        return -errno.ENOENT if got is None else got

    ops = {"lookup": lookup, "update": upd, "delete": delete, "next": nxt}
    try:
        host = {name: ops[op](*args) for name, op, args in _ops(fd, closed, value_size)}
    finally:
        hb.close(fd)
    assert host == EXPECTED[(map_type, value_size)]
