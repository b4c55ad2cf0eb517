"""``bpf_testmod``: the kernel selftests' test module, simulated.

Modelled on ``tools/testing/selftests/bpf/bpf_testmod/bpf_testmod.{c,h}``
(Linux 6.12): the module registers ``bpf_testmod_ops`` (``test_1``, ``test_2``,
``test_maybe_null(int dummy, struct task_struct *task__nullable)``,
``unsupported_ops`` without a CFI stub, the data members ``onebyte``,
``unsupported``, ``data`` -- which ``init_member`` copies -- and ``tramp_1`` ..
``tramp_40``, forty one-argument members whose trampolines need two pages on
x86-64) and ``bpf_testmod_ops2`` (``test_1``). Its ``reg`` calls ``test_1()`` and
``test_2(4, data)`` when set, as the real one does.

It also provides a kfunc, ``bpf_kfunc_common_test(int x)``. A second module,
``bpf_testmod_alt`` (ours, not the kernel's), provides a kfunc of the same name
and signature with another body, to show how a program's kfunc call binds
when two modules offer one (see docs/struct_ops.md).
"""

from __future__ import annotations

import struct

from ..modules import Kfunc, ModuleSpec
from ..struct_ops import MemberDesc, StructOps, VerifierPolicy

__all__ = ["TESTMOD_C", "make_testmod", "make_testmod_alt", "KFUNC_NAME"]

KFUNC_NAME = "bpf_kfunc_common_test"

TESTMOD_C = r"""
struct bpf_testmod_ops {
    int (*test_1)(void);
    void (*test_2)(int a, int b);
    int (*test_maybe_null)(int dummy, struct task_struct *task);
    int (*unsupported_ops)(void);
    char onebyte;
    struct { int a; int b; } unsupported;
    int data;
    int (*tramp_1)(int value);
    int (*tramp_2)(int value);
    int (*tramp_3)(int value);
    int (*tramp_4)(int value);
    int (*tramp_5)(int value);
    int (*tramp_6)(int value);
    int (*tramp_7)(int value);
    int (*tramp_8)(int value);
    int (*tramp_9)(int value);
    int (*tramp_10)(int value);
    int (*tramp_11)(int value);
    int (*tramp_12)(int value);
    int (*tramp_13)(int value);
    int (*tramp_14)(int value);
    int (*tramp_15)(int value);
    int (*tramp_16)(int value);
    int (*tramp_17)(int value);
    int (*tramp_18)(int value);
    int (*tramp_19)(int value);
    int (*tramp_20)(int value);
    int (*tramp_21)(int value);
    int (*tramp_22)(int value);
    int (*tramp_23)(int value);
    int (*tramp_24)(int value);
    int (*tramp_25)(int value);
    int (*tramp_26)(int value);
    int (*tramp_27)(int value);
    int (*tramp_28)(int value);
    int (*tramp_29)(int value);
    int (*tramp_30)(int value);
    int (*tramp_31)(int value);
    int (*tramp_32)(int value);
    int (*tramp_33)(int value);
    int (*tramp_34)(int value);
    int (*tramp_35)(int value);
    int (*tramp_36)(int value);
    int (*tramp_37)(int value);
    int (*tramp_38)(int value);
    int (*tramp_39)(int value);
    int (*tramp_40)(int value);
};
struct bpf_testmod_ops2 {
    int (*test_1)(void);
};
int bpf_testmod_test_1(void);
void bpf_testmod_test_2(int a, int b);
int bpf_testmod_ops__test_maybe_null(int dummy, struct task_struct *task__nullable);
int bpf_testmod_tramp(int value);
int bpf_kfunc_common_test(int x);
"""

ALT_C = r"""
int bpf_kfunc_common_test(int x);
"""


def _init_member(m: MemberDesc, kdata: bytearray, udata: bytes) -> int:
    if m.name == "data":  # bpf_testmod_ops_init_member copies 'data' and takes it
        kdata[m.offset:m.offset + 4] = udata[m.offset:m.offset + 4]
        return 1
    return 0


def _reg(kd, link) -> int:  # type: ignore[no-untyped-def]
    if kd.func_ptr("test_1"):
        kd.call("test_1")
    if kd.func_ptr("test_2"):
        (data,) = struct.unpack("<i", kd.read_member("data"))
        kd.call("test_2", 4, data & 0xFFFFFFFF)
    return 0


def _reg2(kd, link) -> int:  # type: ignore[no-untyped-def]
    kd.call("test_1")  # bpf_dummy_reg2 calls it unchecked, as the kernel's does
    return 0


def _unreg(kd, link) -> int:  # type: ignore[no-untyped-def]
    return 0


def _ops() -> list[StructOps]:
    stubs = {"test_1": "bpf_testmod_test_1", "test_2": "bpf_testmod_test_2",
             "test_maybe_null": "bpf_testmod_ops__test_maybe_null"}
    stubs.update({f"tramp_{i}": "bpf_testmod_tramp" for i in range(1, 41)})
    policy = VerifierPolicy(helpers=frozenset({1, 2, 3, 5, 6, 7, 8, 14}))
    return [
        StructOps(name="bpf_testmod_ops", cfi_stubs=stubs, init_member=_init_member, reg=_reg,
                  unreg=_unreg, policy=policy),
        StructOps(name="bpf_testmod_ops2", cfi_stubs={"test_1": "bpf_testmod_test_1"},
                  init_member=_init_member, reg=_reg2, unreg=_unreg, policy=policy),
    ]


def _kfunc_testmod(mem, x, *_):  # type: ignore[no-untyped-def]
    return (x + 1000) & 0xFFFFFFFF


def _kfunc_alt(mem, x, *_):  # type: ignore[no-untyped-def]
    return (x + 2000) & 0xFFFFFFFF


def make_testmod() -> ModuleSpec:
    """A fresh ``bpf_testmod`` spec (its StructOps gain an owner when loaded)."""
    return ModuleSpec("bpf_testmod", TESTMOD_C, _ops(), ("bpf_testmod_ops", "bpf_testmod_ops2"),
                      (Kfunc(KFUNC_NAME, _kfunc_testmod),))


def make_testmod_alt() -> ModuleSpec:
    """``bpf_testmod_alt``: the same kfunc name and signature, another body."""
    return ModuleSpec("bpf_testmod_alt", ALT_C, (), (), (Kfunc(KFUNC_NAME, _kfunc_alt),))
