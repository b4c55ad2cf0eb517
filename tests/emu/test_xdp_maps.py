"""Devmaps, cpumaps and xskmaps as the verifier sees them, in the emulated kernel and
against the host (``@pytest.mark.kernel``). Verify only: the emulated kernel has no
network devices, CPU kthreads or AF_XDP sockets to redirect to, so these maps' run
time (their elements, ``bpf_redirect_map``'s effect) is not modelled.

Kernel facts: kernel/bpf/devmap.c ``dev_map_init_map`` (``BPF_F_RDONLY_PROG``),
verifier.c ``check_map_func_compatibility``, ``mark_ptr_not_null_reg`` (an xskmap
lookup is a ``PTR_TO_XDP_SOCK``), ``check_sock_access`` / net/core/filter.c
``bpf_xdp_sock_is_valid_access``, ``bpf_xdp_redirect_map_proto``.
"""

from __future__ import annotations

import errno

import pytest

from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.uapi import BPF_F_RDONLY_PROG

T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}
XDP, SOCKET_FILTER = 6, 1


def _host_status() -> tuple[bool, str]:
    from emu.host.hostbpf import oracle_status

    return oracle_status()


_host_ok, _host_why = _host_status()


@pytest.fixture(scope="module")
def k():
    kern = Kernel(modules=())
    yield kern
    kern.shutdown()


_LOOKUP = "r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{m}] ll\ncall bpf_map_lookup_elem\n"
_REDIRECT = "r1 = map[fd:{m}] ll\nr2 = 0\nr3 = 0\ncall bpf_redirect_map\nexit\n"
#: name: (map kind, value size, program type, source, the 6.12 sources' (errno, last line))
CASES: dict[str, tuple[str, int, int, str, tuple[int, str]]] = {
    "devmap_redirect": ("DEVMAP", 4, XDP, _REDIRECT, (0, "")),
    "devmap_hash_redirect": ("DEVMAP_HASH", 8, XDP, _REDIRECT, (0, "")),
    "cpumap_redirect": ("CPUMAP", 4, XDP, _REDIRECT, (0, "")),
    "xskmap_redirect": ("XSKMAP", 4, XDP, _REDIRECT, (0, "")),
    "hash_redirect": ("HASH", 4, XDP, _REDIRECT, (errno.EINVAL, "cannot pass map_type 1 into func bpf_redirect_map#51")),
    "devmap_read": ("DEVMAP", 8, XDP, _LOOKUP + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 +4)\nexit\nout:\nr0 = 2\nexit\n",
                    (0, "")),
    "devmap_write": ("DEVMAP", 4, XDP, _LOOKUP + "if r0 == 0 goto out\nr1 = 1\n*(u32 *)(r0 +0) = r1\nout:\n"
                                                 "r0 = 2\nexit\n",
                     (errno.EACCES, "write into map forbidden, value_size=4 off=0 size=4")),
    "devmap_update_from_prog": ("DEVMAP", 4, XDP, "r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr3 = r10\n"
                                                  "r3 += -4\nr4 = 0\nr1 = map[fd:{m}] ll\ncall bpf_map_update_elem\n"
                                                  "r0 = 2\nexit\n",
                                (errno.EACCES, "write into map forbidden")),  # record_func_map, before the compatibility check
    "cpumap_lookup": ("CPUMAP", 4, XDP, _LOOKUP + "r0 = 2\nexit\n",
                      (errno.EINVAL, "cannot pass map_type 16 into func bpf_map_lookup_elem#1")),
    "xsk_queue_id": ("XSKMAP", 4, XDP, _LOOKUP + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 +0)\nr0 &= 3\nexit\n"
                                               "out:\nr0 = 2\nexit\n", (0, "")),
    "xsk_past_queue_id": ("XSKMAP", 4, XDP, _LOOKUP + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 +4)\nout:\nr0 = 2\n"
                                                    "exit\n", (errno.EACCES, "R0 invalid xdp_sock access off=4 size=4")),
    "xsk_u64_read": ("XSKMAP", 4, XDP, _LOOKUP + "if r0 == 0 goto out\nr0 = *(u64 *)(r0 +0)\nout:\nr0 = 2\nexit\n",
                     (errno.EACCES, "R0 invalid xdp_sock access off=0 size=8")),
    "xsk_write": ("XSKMAP", 4, XDP, _LOOKUP + "if r0 == 0 goto out\nr1 = 1\n*(u32 *)(r0 +0) = r1\nout:\nr0 = 2\n"
                                            "exit\n", (errno.EACCES, "R0 cannot write into xdp_sock")),
    "xsk_unchecked": ("XSKMAP", 4, XDP, _LOOKUP + "r0 = *(u32 *)(r0 +0)\nr0 = 2\nexit\n",
                      (errno.EACCES, "R0 invalid mem access 'map_value_or_null'")),
    "socket_filter_redirect": ("DEVMAP", 4, SOCKET_FILTER, _REDIRECT,
                               (errno.EINVAL, "program of this type cannot use helper bpf_redirect_map#51")),
}


def _last(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("processed ", "verification time",
                                                                                  "stack depth"))]
    return lines[-1] if lines else ""


def _emu(k: Kernel, name: str) -> tuple[int, str]:
    kind, vs, pt, src, _ = CASES[name]
    fd = k.map_create(map_type=T[kind], key_size=4, value_size=vs, max_entries=4)
    try:
        pfd = k.prog_load(assemble(src.format(m=fd)), prog_type=pt, log_level=1)
        k.close(pfd)
        return 0, ""
    except KernelError as e:
        return e.errno, _last(getattr(e, "log", "") or "")
    finally:
        k.close(fd)


def _host(name: str) -> tuple[int, str]:
    from emu.host import hostbpf

    kind, vs, pt, src, _ = CASES[name]
    fd, err = hostbpf.map_create(T[kind], 4, vs, 4)
    assert fd >= 0, err
    try:
        r = hostbpf.prog_load(pt, encode(assemble(src.format(m=fd))))
        r.close()
        return (0, "") if r.accepted else (r.errno, r.error_line() or "")
    finally:
        hostbpf.close(fd)


@pytest.mark.parametrize("name", sorted(CASES))
def test_verifier(k, name):
    assert _emu(k, name) == CASES[name][4]


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_verifier_on_the_host(k, name):
    if not _host_ok:
        pytest.skip(_host_why)
    assert _emu(k, name) == _host(name)


@pytest.mark.parametrize("kind", ["DEVMAP", "DEVMAP_HASH"])
def test_devmaps_are_read_only_for_programs(k, kind):
    """dev_map_init_map adds BPF_F_RDONLY_PROG; map_info shows it (the host too)."""
    fd = k.map_create(map_type=T[kind], key_size=4, value_size=4, max_entries=4)
    try:
        assert k.map_info(fd).map_flags == BPF_F_RDONLY_PROG
    finally:
        k.close(fd)
