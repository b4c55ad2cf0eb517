"""bpf_spin_lock in global data: ``map_check_btf`` of the ``.data.X``/``.bss``/``.data`` array maps
(the DATASEC's record: ``btf_find_datasec_var``, one lock per map value), ``btf_parse_struct_metas``
at ``BPF_BTF_LOAD`` (a struct with two locks: -E2BIG, libbpf goes on without BTF), and the
verifier's ``process_spin_lock`` offsets (``off N doesn't point to 'struct bpf_spin_lock' that is at
M``: the map value's one lock is the section's last). Objects: tests/data/global_locks (README).
``EXPECTED`` is what the Linux 6.18 host answered; the ``kernel`` test asks it again."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from emu.kernel import Kernel

DATA = Path(__file__).resolve().parents[1] / "data" / "global_locks"
#: (object, program) -> (verdict, errno, last line)
EXPECTED = {
    ("global_locks", "g_lockA"): ("rejected", errno.EINVAL, "off 0 doesn't point to 'struct bpf_spin_lock' that is at 8"),
    ("global_locks", "g_valB"): ("rejected", errno.EINVAL, "off 4 doesn't point to 'struct bpf_spin_lock' that is at 16"),
    ("global_locks", "two_lock_vars"): ("rejected", errno.EINVAL,
                                        "off 8 doesn't point to 'struct bpf_spin_lock' that is at 16"),
    ("global_locks", "g_outerC"): ("accepted", 0, None),
    ("global_locks", "g_bss"): ("accepted", 0, None),
    ("global_locks", "g_data"): ("accepted", 0, None),
    ("global_locks", "ral_add"): ("accepted", 0, None),
    ("global_locks", "ral_first"): ("accepted", 0, None),
    ("global_locks", "refc_lock"): ("accepted", 0, None),
    ("global_locks_two", "two_locks"): ("rejected", errno.EINVAL,
                                        "map '.data.A' has to have BTF in order to use bpf_spin_lock"),
}


def _load(obj: str, name: str, kernel):  # type: ignore[no-untyped-def]
    from emu.libbpf.per_prog import verify_program

    out = verify_program(str(DATA / f"{obj}.bpf.o"), name, kernel=kernel, log_level=1)
    return out.verdict, out.errno, out.error_line


def test_every_program_has_an_expectation() -> None:
    from emu.libbpf.per_prog import list_programs

    got = {(p.name.removesuffix(".bpf.o"), n) for p in DATA.glob("*.bpf.o") for n, _s in list_programs(str(p))}
    assert got == set(EXPECTED)


@pytest.mark.parametrize("obj,name", sorted(EXPECTED))
def test_model(obj: str, name: str) -> None:
    assert _load(obj, name, Kernel(modules=())) == EXPECTED[(obj, name)]


@pytest.mark.kernel
@pytest.mark.parametrize("obj,name", sorted(EXPECTED))
def test_against_host(obj: str, name: str) -> None:
    from emu.host import hostbpf
    from emu.host.hostsys import HostSys

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    h = HostSys()
    try:
        host = _load(obj, name, h)
    finally:
        h.close_all()
    assert _load(obj, name, Kernel(modules=())) == host
