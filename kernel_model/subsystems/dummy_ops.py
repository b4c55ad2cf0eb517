"""``bpf_dummy_ops``: the struct_ops type kept for testing (net/bpf/bpf_dummy_struct_ops.c).

Facts (Linux 6.12 source; observed on a 6.18 host through BPF_PROG_LOAD and BPF_MAP_UPDATE_ELEM):
``init_member`` and ``reg`` return ``-EOPNOTSUPP``, so every map update fails
and its programs only run through ``BPF_PROG_TEST_RUN``; the verifier ops have
no ``get_func_proto`` (no helper is allowed); only ``test_sleepable`` accepts a
sleepable program (``bpf_dummy_ops_check_member``); ``btf_struct_access``
allows writes only inside ``struct bpf_dummy_ops_state``.

The CFI stub of ``test_1`` names its argument ``cb__nullable``: upstream commit
1479eaff1f16 ("bpf: mark bpf_dummy_struct_ops.test_1 parameter as nullable",
Eduard Zingerman, Linux 6.10, the series that also added ``check_test_run_args``),
queued for 6.9.y stable in July 2024 (CVE-2024-42151). Profiles model the last
stable release of their series (6.12 is 6.12.117), so every profile with
``nullable_args`` (6.9+) has it; 6.8 keeps the old stub,
``bpf_dummy_test_1(struct bpf_dummy_ops_state *cb)``, a plain trusted pointer.
"""

from __future__ import annotations

import errno

from ..profile import LATEST, Profile
from ..struct_ops import StructOps, VerifierPolicy

__all__ = ["make_ops"]


def _eopnotsupp(*_: object) -> int:
    return -errno.EOPNOTSUPP


def _nothing(*_: object) -> int:
    return 0


def make_ops(profile: Profile = LATEST) -> StructOps:
    """A fresh descriptor (each emulated kernel registers its own) for ``profile``."""
    test_1 = "bpf_dummy_ops__test_1" if profile.nullable_args else "bpf_dummy_test_1"
    return StructOps(
        name="bpf_dummy_ops",
        cfi_stubs={"test_1": test_1, "test_2": "bpf_dummy_test_2",
                   "test_sleepable": "bpf_dummy_test_sleepable"},
        init_member=_eopnotsupp,
        reg=_eopnotsupp,
        unreg=_nothing,
        policy=VerifierPolicy(helpers=frozenset(), sleepable_members=frozenset({"test_sleepable"}),
                              btf_struct_access=_btf_struct_access),
    )


def _btf_struct_access(type_name: str, type_size: int, off: int, size: int) -> str | None:
    """``bpf_dummy_ops_btf_struct_access`` (net/bpf/bpf_dummy_struct_ops.c, 6.12/6.18):
    writes inside ``struct bpf_dummy_ops_state`` only."""
    if type_name != "bpf_dummy_ops_state":
        return "only access to bpf_dummy_ops_state is supported"
    if off + size > type_size:
        return f"write access at off {off} with size {size}"
    return None
