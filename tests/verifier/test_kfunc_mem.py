"""kfunc memory arguments (KF_ARG_PTR_TO_MEM, KF_ARG_PTR_TO_MEM_SIZE) and constants read from
frozen read-only maps (bpf_map_direct_read), through the verifier model.

The kfuncs are sched_ext's (``scx_bpf_select_cpu_dfl``'s ``bool *is_idle``,
``scx_bpf_error_bstr``'s ``data``/``data__sz`` pair) called from ``sched_ext_ops`` members;
the expected lines are check_kfunc_args's, check_mem_reg's and check_kfunc_mem_size_reg's
(kernel/bpf/verifier.c). The read-only map case is also run on the host kernel.
"""

from __future__ import annotations

import errno as E
import struct

import pytest

from emu.kernel import Kernel
from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER
from kernel_model.profile import get_profile
from kernel_model.uapi import BPF_F_RDONLY_PROG, BPF_MAP_FREEZE
from verifier import verify

P612 = get_profile("6.12")
SELECT = "r6 = *(u64 *)(r1 +0)\nr2 = *(u64 *)(r1 +8)\nr3 = *(u64 *)(r1 +16)\n{}r1 = r6\ncall scx_bpf_select_cpu_dfl\nexit\n"
ERROR = ("r8 = *(u64 *)(r1 +0)\nr7 = 0\n*(u64 *)(r10 -8) = r7\n*(u64 *)(r10 -16) = r7\nr1 = r10\nr1 += -8\n"
         "r2 = r10\nr2 += -16\n{}call scx_bpf_error_bstr\nr0 = 0\nexit\n")

#: name -> (member, program, errno (0: accepted), last line)
CASES: dict[str, tuple[str, str, int, str | None]] = {
    "bool_on_stack": ("select_cpu", SELECT.format("r7 = 0\n*(u8 *)(r10 -1) = r7\nr4 = r10\nr4 += -1\n"), 0, None),
    # root may pass uninitialised stack (env->allow_uninit_stack)
    "bool_uninit_stack": ("select_cpu", SELECT.format("r4 = r10\nr4 += -1\n"), 0, None),
    "bool_null": ("select_cpu", SELECT.format("r4 = 0\n"), E.EACCES, "Possibly NULL pointer passed to trusted arg3"),
    "bool_scalar": ("select_cpu", SELECT.format("r4 = 5\n"), E.EACCES, "R4 type=scalar expected=fp"),
    "bool_past_stack": ("select_cpu", SELECT.format("r4 = r10\n"), E.EACCES, "invalid read from stack R4 off=0 size=1"),
    "bool_task_ptr": ("select_cpu", SELECT.format("r4 = r6\n"), E.EINVAL,
                      "kernel function scx_bpf_select_cpu_dfl args#3 pointer type INT _Bool is not supported"),
    "sz_pair": ("dispatch", ERROR.format("r3 = 8\n"), 0, None),
    "sz_zero": ("dispatch", ERROR.format("r3 = 0\n"), 0, None),
    "sz_too_big": ("dispatch", ERROR.format("r3 = 24\n"), E.EINVAL,
                   "arg#1 arg#2 memory, len pair leads to invalid memory access"),
    "sz_unbounded": ("dispatch", ERROR.format("r3 = r8\n"), E.EACCES,
                     "arg#1 arg#2 memory, len pair leads to invalid memory access"),
}


def _verify(member: str, asm: str):  # type: ignore[no-untyped-def]
    insns = assemble(asm, symbols=symbols_for(profile=P612))
    insns, env = program_env(insns, attach=f"sched_ext_ops:{member}", profile=P612)
    return verify(insns, env)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kfunc_memory_arguments(name: str) -> None:
    member, asm, errno, last = CASES[name]
    r = _verify(member, asm)
    assert (r.errno, r.error_line if not r.accepted else None) == (errno, last), r.log


def test_the_size_check_names_its_reason_first() -> None:
    log = _verify(*CASES["sz_too_big"][:2]).log.splitlines()
    assert log[-3] == "invalid read from stack R2 off=-16 size=24"
    log = _verify(*CASES["sz_unbounded"][:2]).log.splitlines()
    assert log[-3] == "R3 min value is negative, either use unsigned or 'var &= const'"


def test_a_struct_pointer_is_not_memory() -> None:
    """A scalar passed for ``struct task_struct *``: get_kfunc_ptr_arg_type's catch-all."""
    r = _verify("select_cpu", "r2 = 0\nr3 = 0\nr4 = 0\nr1 = 0\ncall scx_bpf_select_cpu_dfl\nexit\n")
    assert r.error_line == "Possibly NULL pointer passed to trusted arg0"
    r = _verify("select_cpu", "r2 = 0\nr3 = 0\nr4 = 0\nr1 = 7\ncall scx_bpf_select_cpu_dfl\nexit\n")
    assert (r.errno, r.error_line) == (E.EINVAL, "arg#0 pointer type STRUCT task_struct must point to scalar, "
                                                 "or struct with scalar")


# --- bpf_map_direct_read ---------------------------------------------------------------------------------
def _rodata_prog(fd: int, lookup: bool = False) -> list:
    """Reads the u32 at offset 4 of a map value (a direct value pointer, or element 0 looked
    up); only a known 7 avoids reading uninitialised R3."""
    get = (f"r1 = map[fd:{fd}][0]+4 ll\n" if not lookup else
           f"r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{fd}] ll\ncall 1\n"
           "if r0 == 0 goto out\nr1 = r0\nr1 += 4\n")
    return assemble(get + "r0 = *(u32 *)(r1 +0)\nif r0 == 7 goto out\nr0 = r3\nout:\nexit\n")


#: name -> (map_flags, max_entries, value at offset 4, freeze, through a lookup)
RODATA = {"frozen_rdonly": (BPF_F_RDONLY_PROG, 1, 7, True, False),
          "not_frozen": (BPF_F_RDONLY_PROG, 1, 7, False, False),
          "frozen_writable": (0, 1, 7, True, False),
          "frozen_other_value": (BPF_F_RDONLY_PROG, 1, 8, True, False),
          "frozen_two_entries": (BPF_F_RDONLY_PROG, 2, 7, True, False),
          "lookup_frozen_rdonly": (BPF_F_RDONLY_PROG, 1, 7, True, True),
          "lookup_two_entries": (BPF_F_RDONLY_PROG, 2, 7, True, True)}


def _emu_rodata(flags: int, entries: int, value: int, freeze: bool, lookup: bool) -> int:
    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=2, key_size=4, value_size=8, max_entries=entries, map_flags=flags)
        k.map_update_elem(fd, bytes(4), struct.pack("<II", 0, value), 0)
        if freeze:
            k.map_freeze(fd)
        try:
            k.prog_load(_rodata_prog(fd, lookup), prog_type=PROG_TYPE_SOCKET_FILTER)
        except KernelError as e:
            return e.errno
        return 0
    finally:
        k.shutdown()


def test_frozen_read_only_maps_read_as_constants() -> None:
    assert _emu_rodata(*RODATA["frozen_rdonly"]) == 0
    assert _emu_rodata(*RODATA["not_frozen"]) == E.EACCES  # R3 !read_ok
    assert _emu_rodata(*RODATA["frozen_writable"]) == E.EACCES
    assert _emu_rodata(*RODATA["frozen_other_value"]) == E.EACCES
    # array_map_direct_value_addr: -ENOTSUPP for two entries, at the lddw or at the read
    assert _emu_rodata(*RODATA["frozen_two_entries"]) == 524
    assert _emu_rodata(*RODATA["lookup_frozen_rdonly"]) == 0
    assert _emu_rodata(*RODATA["lookup_two_entries"]) == 524


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(RODATA))
def test_frozen_read_only_maps_as_the_host(name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    flags, entries, value, freeze, lookup = RODATA[name]
    fd, err = hostbpf.map_create(2, 4, 8, entries, map_flags=flags)
    assert fd >= 0, err
    try:
        assert hostbpf.map_update(fd, bytes(4), struct.pack("<II", 0, value))[0] == 0
        if freeze:
            attr = bytearray(8)
            struct.pack_into("<I", attr, 0, fd)
            assert hostbpf.sys_bpf(BPF_MAP_FREEZE, attr) == (0, 0)  # a map of this process only
        res = hostbpf.prog_load(PROG_TYPE_SOCKET_FILTER, encode(_rodata_prog(fd, lookup)))
        host = 0 if res.accepted else res.errno
        res.close()
    finally:
        hostbpf.close(fd)
    assert _emu_rodata(flags, entries, value, freeze, lookup) == host
