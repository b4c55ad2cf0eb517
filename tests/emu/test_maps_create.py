"""BPF_MAP_CREATE of every map type in the emulated kernel, against the host.

The emulated kernel checks each type with the facts of
kernel_model/bpf_facts/map_types.py (6.12 map_alloc_check / map_alloc, cited
there); these tests compare what it answers with what the host answers for the
same requests, and check the map-in-map inner template (map_in_map.c
bpf_map_meta_alloc) and the BTF rules of map_check_btf.
"""

from __future__ import annotations

import errno
import itertools

import pytest

from emu.kernel import Kernel
from kernel_model.bpf_facts import map_types
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import KernelError, NotModelled

T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}
F = map_types.F
ENOTSUPP = 524


@pytest.fixture(scope="module")
def k():
    kern = Kernel(modules=())
    yield kern
    kern.shutdown()


def emu_errno(k, **kw) -> int:
    try:
        fd = k.map_create(**kw)
    except KernelError as e:
        return e.errno
    k.close(fd)
    return 0


def test_every_type_creates_and_unmodelled_ones_say_so(k):
    """One valid request per type succeeds; a type without run-time model refuses its
    operations as not modelled (never a made-up answer)."""
    valid = {
        "PERF_EVENT_ARRAY": (4, 4, 4, 0), "STACK_TRACE": (4, 8, 4, 0), "CGROUP_ARRAY": (4, 4, 4, 0),
        "DEVMAP": (4, 4, 4, 0), "DEVMAP_HASH": (4, 4, 4, 0), "CPUMAP": (4, 4, 4, 0), "XSKMAP": (4, 4, 4, 0),
        "CGROUP_STORAGE": (8, 8, 0, 0), "PERCPU_CGROUP_STORAGE": (8, 8, 0, 0),
        "ARENA": (0, 0, 1, F["BPF_F_MMAPABLE"]),
    }
    for name, (ks, vs, n, fl) in valid.items():
        fd = k.map_create(map_type=T[name], key_size=ks, value_size=vs, max_entries=n, map_flags=fl)
        assert k.map_info(fd).type == T[name]
        with pytest.raises(NotModelled):
            k.map_lookup_elem(fd, bytes(ks))
        k.close(fd)
    # socket maps are always empty, no socket exists here (emu/kernel/maps/sockmap.py,
    # tests/emu/test_sockmap_maps.py: every syscall host-compared): a lookup is -ENOENT
    for name in ("SOCKMAP", "SOCKHASH", "REUSEPORT_SOCKARRAY"):
        fd = k.map_create(map_type=T[name], key_size=4, value_size=8, max_entries=4)
        assert k.map_info(fd).type == T[name]
        assert emu_call_errno(k.map_lookup_elem, fd, bytes(4)) == errno.ENOENT
        k.close(fd)
    # ring buffers run (emu/kernel/maps/ringbuf.py); their element operations are the
    # kernel's -ENOTSUPP (ringbuf_map_*_elem), as on the 6.18 host
    # (user ring buffers too: emu/kernel/maps/user_ringbuf.py, ringbuf_map_ops' element ops)
    for rb in ("RINGBUF", "USER_RINGBUF"):
        fd = k.map_create(map_type=T[rb], key_size=0, value_size=0, max_entries=4096)
        for op, args in ((k.map_lookup_elem, (fd, b"")), (k.map_update_elem, (fd, b"", b"")),
                         (k.map_delete_elem, (fd, b"")), (k.map_get_next_key, (fd, None))):
            assert emu_call_errno(op, *args) == ENOTSUPP
        k.close(fd)
    fd = k.map_create(map_type=T["RINGBUF"], key_size=0, value_size=0, max_entries=4096)
    for op, args in ((k.map_lookup_elem, (fd, b"")), (k.map_update_elem, (fd, b"", b"")),
                     (k.map_delete_elem, (fd, b"")), (k.map_get_next_key, (fd, None))):
        assert emu_call_errno(op, *args) == ENOTSUPP
    k.close(fd)


def emu_call_errno(op, *args) -> int:
    try:
        op(*args)
    except KernelError as e:
        return e.errno
    return 0


def test_map_in_map_inner_template(k):
    inner = k.map_create(map_type=T["HASH"], key_size=4, value_size=8, max_entries=4)
    prog_array = k.map_create(map_type=T["PROG_ARRAY"], key_size=4, value_size=4, max_entries=4)
    kw = dict(map_type=T["ARRAY_OF_MAPS"], key_size=4, value_size=4, max_entries=2)
    outer = k.map_create(**kw, inner_map_fd=inner)
    assert emu_errno(k, **kw, inner_map_fd=prog_array) == ENOTSUPP  # no map_meta_equal
    assert emu_errno(k, **kw, inner_map_fd=outer) == errno.EINVAL  # one level only
    assert emu_errno(k, **kw) == errno.EINVAL  # fd 0: not a map
    assert emu_errno(k, **kw, inner_map_fd=999) == errno.EBADF
    for fd in (outer, prog_array, inner):
        k.close(fd)


@pytest.mark.kernel
def test_inner_map_errnos_equal_the_host(k):
    from emu.host import hostbpf

    def both(build):
        h_fds, e_fds = [], []
        try:
            return build(hostbpf, h_fds), build(k, e_fds)
        finally:
            for fd in h_fds:
                hostbpf.close(fd)
            for fd in e_fds:
                k.close(fd)

    def scenario(api, fds):
        out = []
        for inner_type, ks, vs in (("HASH", 4, 8), ("PROG_ARRAY", 4, 4), ("ARRAY_OF_MAPS", 4, 4)):
            if api is hostbpf:
                if inner_type == "ARRAY_OF_MAPS":
                    fd, _ = hostbpf.map_create(T[inner_type], ks, vs, 1, inner_map_fd=fds[0])
                else:
                    fd, _ = hostbpf.map_create(T[inner_type], ks, vs, 1)
                fds.append(fd)
                o, err = hostbpf.map_create(T["HASH_OF_MAPS"], 4, 4, 2, inner_map_fd=fd)
                if o >= 0:
                    fds.append(o)
                out.append(err if o < 0 else 0)
            else:
                kw = dict(inner_map_fd=fds[0]) if inner_type == "ARRAY_OF_MAPS" else {}
                fd = k.map_create(map_type=T[inner_type], key_size=ks, value_size=vs, max_entries=1, **kw)
                fds.append(fd)
                out.append(emu_errno(k, map_type=T["HASH_OF_MAPS"], key_size=4, value_size=4, max_entries=2,
                                     inner_map_fd=fd))
        return out

    host, emu = both(scenario)
    assert emu == host == [0, ENOTSUPP, errno.EINVAL]


@pytest.mark.kernel
def test_create_errnos_equal_the_host(k):
    """The grid of the facts' own host test, asked of the emulated kernel and of the host."""
    from emu.host.hostbpf import close, map_create

    flagsets = (0, F["BPF_F_NO_PREALLOC"], F["BPF_F_MMAPABLE"], F["BPF_F_RDONLY_PROG"] | F["BPF_F_WRONLY_PROG"],
                F["BPF_F_NO_COMMON_LRU"], F["BPF_F_ZERO_SEED"])
    bad, total = [], 0
    for name, facts in map_types.MAP_FACTS.items():
        if not facts.host_checkable:
            continue
        t = MAP_TYPES[name]
        if name == "BPF_MAP_TYPE_ARENA":
            fd, err = map_create(t, 0, 0, 1, map_flags=F["BPF_F_MMAPABLE"])
            if fd >= 0:
                close(fd)
            if err == errno.EPERM:  # refused by this host's policy, not by the checks
                continue
        for ks, vs, n, fl in itertools.product((0, 4, 8), (0, 4, 8), (0, 1, 4096), flagsets):
            if name == "BPF_MAP_TYPE_STACK_TRACE" and vs // 8 > 100:
                continue  # depends on the host's kernel.perf_event_max_stack
            if name == "BPF_MAP_TYPE_CPUMAP" and n > 64:
                continue  # E2BIG above the kernel's CONFIG_NR_CPUS (the emulated one: 8192)
            fd, err = map_create(t, ks, vs, n, map_flags=fl)
            if fd >= 0:
                close(fd)
            total += 1
            mine = emu_errno(k, map_type=t, key_size=ks, value_size=vs, max_entries=n, map_flags=fl)
            if mine != err:
                bad.append((name, ks, vs, n, hex(fl), err, mine))
    assert total > 3000
    assert bad == [], bad[:10]


@pytest.mark.kernel
def test_storage_value_size_limits_equal_the_host(k):
    """BPF_LOCAL_STORAGE_MAX_VALUE_SIZE (U16_MAX - sizeof(struct bpf_local_storage_elem))
    and PCPU_MIN_UNIT_SIZE for per-CPU cgroup storage, at and around the limits."""
    from emu.host.hostbpf import close, map_create

    limit = map_types.LOCAL_STORAGE_MAX_VALUE_SIZE
    for name in ("CGROUP_STORAGE", "PERCPU_CGROUP_STORAGE"):
        for vs in (4096, 4097, map_types.PCPU_MIN_UNIT_SIZE, map_types.PCPU_MIN_UNIT_SIZE + 1, limit, limit + 1):
            fd, err = map_create(T[name], 8, vs, 0)
            if fd >= 0:
                close(fd)
            assert emu_errno(k, map_type=T[name], key_size=8, value_size=vs, max_entries=0) == err, (name, vs)
