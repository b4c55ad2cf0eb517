"""Cgroup local storage: the verifier's rules for ``bpf_get_local_storage`` and the
storage a ``BPF_PROG_TEST_RUN`` gives a cgroup skb program, in the emulated kernel and
against the host (``@pytest.mark.kernel``).

Kernel facts: kernel/bpf/cgroup.c ``bpf_get_local_storage_proto`` (never NULL),
verifier.c ``check_helper_call`` (flags must be 0), ``resolve_pseudo_ldimm64`` /
local_storage.c ``bpf_cgroup_storage_assign`` (one storage of each kind per program),
``check_map_func_compatibility``; net/bpf/test_run.c ``bpf_test_run`` (a zeroed storage
per test run, shared by its repeats).
"""

from __future__ import annotations

import errno

import pytest

from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import ENOTSUPP, KernelError
from kernel_model.insn import encode

T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}
CGROUP_SKB = 8
PKT = bytes(14) + bytes(20)


def _host_status() -> tuple[bool, str]:
    from emu.host.hostbpf import oracle_status

    return oracle_status()


_host_ok, _host_why = _host_status()


@pytest.fixture
def k():
    kern = Kernel(modules=())
    yield kern
    kern.shutdown()


# counter in the storage, incremented per run; returns 1 when it reached 3
_COUNT = ("r1 = map[fd:{a}] ll\nr2 = 0\ncall bpf_get_local_storage\nr1 = *(u64 *)(r0 +0)\nr1 += 1\n"
          "*(u64 *)(r0 +0) = r1\nr0 = 0\nif r1 != 3 goto out\nr0 = 1\nout:\nexit\n")
PROGRAMS: dict[str, tuple[str, str, tuple[int, str]]] = {
    # name: (kinds of the maps a and b, source, (errno, last line) as the 6.12 sources say)
    "count_shared": ("CGROUP_STORAGE", _COUNT, (0, "")),
    "count_percpu": ("PERCPU_CGROUP_STORAGE", _COUNT, (0, "")),
    "nonzero_flags": ("CGROUP_STORAGE", "r1 = map[fd:{a}] ll\nr2 = 1\ncall bpf_get_local_storage\nr0 = 0\nexit\n",
                      (errno.EINVAL, "get_local_storage() doesn't support non-zero flags")),
    "two_shared_storages": ("CGROUP_STORAGE CGROUP_STORAGE",
                            "r1 = map[fd:{a}] ll\nr1 = map[fd:{b}] ll\nr0 = 0\nexit\n",
                            (errno.EBUSY, "only one cgroup storage of each type is allowed")),
    "shared_and_percpu": ("CGROUP_STORAGE PERCPU_CGROUP_STORAGE",
                          "r1 = map[fd:{a}] ll\nr2 = 0\ncall bpf_get_local_storage\nr1 = map[fd:{b}] ll\nr2 = 0\n"
                          "call bpf_get_local_storage\nr0 = 1\nexit\n", (0, "")),
    "hash_map": ("HASH", "r1 = map[fd:{a}] ll\nr2 = 0\ncall bpf_get_local_storage\nr0 = 0\nexit\n",
                 (errno.EINVAL, "cannot pass map_type 1 into func bpf_get_local_storage#81")),
    "lookup_in_storage": ("CGROUP_STORAGE", "r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\n"
                          "r1 = map[fd:{a}] ll\ncall bpf_map_lookup_elem\nr0 = 0\nexit\n",
                          (errno.EINVAL, "cannot pass map_type 19 into func bpf_map_lookup_elem#1")),
    "past_the_value": ("CGROUP_STORAGE", "r1 = map[fd:{a}] ll\nr2 = 0\ncall bpf_get_local_storage\n"
                       "r0 = *(u64 *)(r0 +8)\nr0 = 0\nexit\n",
                       (errno.EACCES, "R0 min value is outside of the allowed memory range")),
}


def _create(kern, kind: str) -> int:
    if kind == "HASH":
        return kern.create(T["HASH"], 8, 8, 1)
    return kern.create(T[kind], 8, 8, 0)


class Emu:
    def __init__(self, k: Kernel) -> None:
        self.k = k

    def create(self, t: int, ks: int, vs: int, n: int) -> int:
        return self.k.map_create(map_type=t, key_size=ks, value_size=vs, max_entries=n)

    def load(self, src: str) -> tuple[int, str, int]:
        try:
            return 0, "", self.k.prog_load(assemble(src), prog_type=CGROUP_SKB, log_level=1)
        except KernelError as e:
            lines = [ln for ln in (getattr(e, "log", "") or "").splitlines()
                     if ln.strip() and not ln.startswith(("processed ", "verification time", "stack depth"))]
            return e.errno, lines[-1] if lines else "", -1

    def run(self, fd: int, repeat: int) -> int:
        return self.k.prog_test_run(fd, data_in=PKT, repeat=repeat).retval

    def close(self, fd: int) -> None:
        self.k.close(fd)


class Host:
    def __init__(self) -> None:
        from emu.host import hostbpf

        self.h = hostbpf

    def create(self, t: int, ks: int, vs: int, n: int) -> int:
        fd, err = self.h.map_create(t, ks, vs, n)
        assert fd >= 0, err
        return fd

    def load(self, src: str) -> tuple[int, str, int]:
        r = self.h.prog_load(CGROUP_SKB, encode(assemble(src)))
        return (0, "", r.fd) if r.accepted else (r.errno, r.error_line() or "", -1)

    def run(self, fd: int, repeat: int) -> int:
        return self.h.test_run(fd, data_in=PKT, repeat=repeat).retval

    def close(self, fd: int) -> None:
        self.h.close(fd)


def _case(kern, name: str) -> tuple[int, str, list[int]]:
    kinds, src, _ = PROGRAMS[name]
    fds = [_create(kern, kd) for kd in kinds.split()]
    try:
        err, line, pfd = kern.load(src.format(a=fds[0], b=fds[-1]))
        runs: list[int] = []
        if pfd >= 0:
            try:
                # three repeats share one storage (the counter reaches 3); the next run has a new one
                runs = [kern.run(pfd, 3), kern.run(pfd, 1), kern.run(pfd, 3)]
            except KernelError as e:  # the emulated kernel has no cgroup_skb test run (yet)
                if e.errno != ENOTSUPP:
                    raise
                runs = [-ENOTSUPP]
            kern.close(pfd)
        return err, line, runs
    finally:
        for fd in fds:
            kern.close(fd)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_cgroup_storage_verifier(k, name):
    err, line, runs = _case(Emu(k), name)
    assert (err, line) == PROGRAMS[name][2]


@pytest.mark.parametrize("name", ["count_shared", "count_percpu"])
def test_cgroup_storage_test_runs(k, name):
    runs = _case(Emu(k), name)[2]
    if runs == [-ENOTSUPP]:
        pytest.skip("the emulated kernel has no BPF_PROG_TEST_RUN for cgroup_skb programs")
    assert runs == [1, 0, 1]


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_cgroup_storage_on_the_host(k, name):
    if not _host_ok:
        pytest.skip(_host_why)
    emu, host = _case(Emu(k), name), _case(Host(), name)
    if emu[2] == [-ENOTSUPP]:  # compare the verdicts; the runs where the emulator has them
        host = (host[0], host[1], emu[2])
    assert emu == host


@pytest.mark.parametrize("kind,stype", [("CGROUP_STORAGE", 0), ("PERCPU_CGROUP_STORAGE", 1)])
def test_run_storage_is_zeroed_shared_by_the_run_and_freed(k, kind, stype):
    """bpf_test_run's storages: the helper's answer is the run's zeroed buffer (per-CPU:
    this CPU's copy); outside a run it is not modelled (no cgroup attachments)."""
    from emu.kernel.maps.cgroup_storage import alloc_run_storages, free_run_storages, local_storage
    from kernel_model.errors import NotModelled

    m = k.machine
    fd = k.map_create(map_type=T[kind], key_size=8, value_size=12, max_entries=0)
    mo = k.fds.get(fd, object)
    st = alloc_run_storages(m, [mo, mo])
    try:
        assert set(st) == {stype}
        addr = local_storage(m, T[kind])
        assert m.read(addr, 16) == bytes(16)
        if stype:
            assert addr == m.alloc.percpu_addr(st[1], max(m.runner.cpu, 0))
        else:
            assert addr == st[0]
    finally:
        free_run_storages(m, st)
    with pytest.raises(NotModelled):
        local_storage(m, T[kind])
    k.close(fd)
