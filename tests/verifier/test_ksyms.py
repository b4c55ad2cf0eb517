"""Kernel symbols: ``check_pseudo_btf_id`` (verifier.ksyms), the per-CPU VARs of the emulated
vmlinux BTF (kernel_model.ksyms) and libbpf's typeless ksyms through the emulated kallsyms
(emu.libbpf.externs.read_kallsyms)."""

from __future__ import annotations

import errno as E

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.btf import structs as S
from kernel_model.insn import Insn, encode
from kernel_model.kconfig import DEFAULT
from kernel_model.ksyms import PERCPU_SEC
from verifier import VerifierEnv, verify

RAW_TP = 17  # BPF_PROG_TYPE_RAW_TRACEPOINT


def _prog(btf_id: int, btf_fd: int = 0) -> list[Insn]:
    return [Insn(isa.LD_IMM64, 1, isa.PSEUDO_BTF_ID, 0, btf_id), Insn(0, 0, 0, 0, btf_fd),
            Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 0), Insn(isa.JMP | isa.EXIT)]


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _verify(kernel: Kernel, insns: list[Insn]):  # type: ignore[no-untyped-def]
    env = VerifierEnv(prog_type=RAW_TP, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs,
                      ksym_addr=kernel.ksym_address)
    return verify(insns, env)


def test_percpu_vars_are_in_the_percpu_datasec(kernel: Kernel) -> None:
    sec = kernel.btf.type_by_id(kernel.btf.find(PERCPU_SEC, S.KIND_DATASEC))
    names = {kernel.btf.type_by_id(v.type_id).name for v in sec.vars}
    assert names == {"bpf_prog_active", "bpf_task_storage_busy", "runqueues"}
    active = kernel.btf.type_by_id(kernel.btf.find("bpf_prog_active", S.KIND_VAR))
    assert kernel.btf.type_by_id(active.type_id).name == "int" and active.linkage == S.VAR_GLOBAL_ALLOCATED


@pytest.mark.parametrize("name", ["bpf_prog_active", "bpf_task_storage_busy", "runqueues"])
def test_data_ksym_has_no_address_without_kallsyms_all(kernel: Kernel, name: str) -> None:
    r = _verify(kernel, _prog(kernel.btf.find(name, S.KIND_VAR)))
    assert (r.accepted, r.errno, r.error_line) == (
        False, E.ENOENT, f"ldimm64 failed to find the address for kernel symbol '{name}'.")


def test_pseudo_btf_id_checks(kernel: Kernel) -> None:
    r = _verify(kernel, _prog(0x7FFFFFF))
    assert (r.errno, r.error_line) == (E.ENOENT, f"ldimm64 insn specifies invalid btf_id {0x7FFFFFF}.")
    sid = kernel.btf.find("task_struct", S.KIND_STRUCT)
    r = _verify(kernel, _prog(sid))
    assert (r.errno, r.error_line) == (E.EINVAL, f"pseudo btf_id {sid} in ldimm64 isn't KIND_VAR or KIND_FUNC")


def test_found_data_symbols_are_not_modelled() -> None:
    """With CONFIG_KALLSYMS_ALL the kernel would find the variable: the emulated kernel places
    no per-CPU data, so the load is refused as not modelled (never accepted)."""
    k = Kernel(modules=(), kconfig=DEFAULT.with_values(CONFIG_KALLSYMS_ALL="y"))
    try:
        r = _verify(k, _prog(k.btf.find("bpf_prog_active", S.KIND_VAR)))
        assert not r.accepted and "is not modelled by structops" in r.error_line
    finally:
        k.shutdown()


#: a function ksym: R1 = &func, then either "if R1 == 0 goto +2; r0 = 0; exit; r0 = 1; exit"
#: (PTR_TO_MEM is never NULL: the branch is not walked) or a read of one byte through it
def _func_prog(btf_id: int, read: bool) -> list[Insn]:
    lddw = [Insn(isa.LD_IMM64, 1, isa.PSEUDO_BTF_ID, 0, btf_id), Insn(0, 0, 0, 0, 0)]
    ret0 = [Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 0), Insn(isa.JMP | isa.EXIT)]
    if read:
        return lddw + [Insn(isa.LDX | isa.MEM | isa.B, 0, 1, 0, 0)] + ret0
    return lddw + [Insn(isa.JMP | isa.JEQ | isa.K, 1, 0, 2, 0)] + ret0 + \
        [Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 1), Insn(isa.JMP | isa.EXIT)]


#: case -> (read, errno, the kernel's last line, processed): the 6.18 host's answers
FUNC_CASES = {"exists": (False, 0, None, 4),
              "read": (True, E.EACCES, "R1 min value is outside of the allowed memory range", 2)}


@pytest.mark.parametrize("case", sorted(FUNC_CASES))
def test_function_ksym_is_readonly_memory_of_size_0(kernel: Kernel, case: str) -> None:
    """check_pseudo_btf_id for a FUNC: kallsyms has every vmlinux function, so the address is
    found and the register is PTR_TO_MEM | MEM_RDONLY of size 0, never NULL (the == 0 branch
    is not walked) and not readable."""
    read, err, line, processed = FUNC_CASES[case]
    r = _verify(kernel, _func_prog(kernel.btf.find("bpf_task_acquire", S.KIND_FUNC), read))
    assert (r.errno, r.error_line, r.processed) == (err, line, processed), r.log
    if not read:
        addr = kernel.ksym_address("bpf_task_acquire", True)
        assert addr and r.insn_aux[0].ksym_addr == addr
        assert f"r1 = {addr:#x}" in verify(_func_prog(kernel.btf.find("bpf_task_acquire", S.KIND_FUNC), False),
                                           VerifierEnv(prog_type=RAW_TP, vmlinux_btf=kernel.btf,
                                                       ksym_addr=kernel.ksym_address), log_level=2).log


@pytest.mark.kernel
@pytest.mark.parametrize("case", sorted(FUNC_CASES))
def test_function_ksym_as_the_host(kernel: Kernel, case: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    hid = hostbpf._host_vmlinux().find("bpf_task_acquire", S.KIND_FUNC)
    if hid is None:
        pytest.skip("the host's BTF has no bpf_task_acquire")
    read = FUNC_CASES[case][0]
    res = hostbpf.prog_load(RAW_TP, encode(_func_prog(hid, read)))
    try:
        host = (res.accepted, res.errno, res.error_line())
    finally:
        res.close()
    r = _verify(kernel, _func_prog(kernel.btf.find("bpf_task_acquire", S.KIND_FUNC), read))
    assert (r.accepted, r.errno, r.error_line) == host


def test_kallsyms_names_every_vmlinux_function(kernel: Kernel) -> None:
    """/proc/kallsyms of the emulated kernel: every FUNC of its vmlinux BTF is a T symbol at an
    address of its own (emulated, not the host's), the functions the selftests name among them."""
    lines = [ln.split() for ln in kernel.proc_kallsyms().splitlines()]
    text = {ln[2]: int(ln[0], 16) for ln in lines if ln[1] in "Tt"}
    funcs = {t.name for _i, t in kernel.btf.iter_types(S.KIND_FUNC)}
    assert funcs <= set(text)
    assert {"schedule", "bpf_fentry_test1", "bpf_fentry_test8", "bpf_task_acquire"} <= funcs
    addrs = [text[n] for n in funcs]
    assert len(set(addrs)) == len(addrs)
    assert [int(ln[0], 16) for ln in lines] == sorted(int(ln[0], 16) for ln in lines)
    assert kernel.ksym_address("schedule", True) == text["schedule"]
    assert kernel.ksym_address("no_such_function", True) == 0


@pytest.mark.kernel
def test_data_ksym_as_the_host() -> None:
    """The host's answer for its own ``bpf_prog_active`` VAR, where its kallsyms has no data
    symbols (the emulated kernel's default configuration)."""
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    with open("/proc/kallsyms") as f:
        if any(line.split()[2:3] == ["bpf_prog_active"] for line in f):
            pytest.skip("the host's kallsyms lists data symbols (CONFIG_KALLSYMS_ALL)")
    hid = hostbpf._host_vmlinux().find("bpf_prog_active", S.KIND_VAR)
    if hid is None:
        pytest.skip("the host's BTF has no bpf_prog_active")
    res = hostbpf.prog_load(RAW_TP, encode(_prog(hid)))
    try:
        host = (res.accepted, res.errno, res.error_line())
    finally:
        res.close()
    k = Kernel(modules=())
    try:
        r = _verify(k, _prog(k.btf.find("bpf_prog_active", S.KIND_VAR)))
    finally:
        k.shutdown()
    assert (r.accepted, r.errno, r.error_line) == host


def test_typeless_ksyms_resolve_through_the_emulated_kallsyms(kernel: Kernel) -> None:
    """test_snprintf.o's ``extern const void schedule __ksym;``: libbpf writes the address the
    emulated kallsyms gives ``schedule`` into the lddw (a plain one, src_reg 0); a strong typeless
    extern kallsyms lacks is not modelled (a real kernel has far more symbols)."""
    from emu.libbpf import BpfObject
    from emu.libbpf.kbtf import KernelBtf
    from emu.libbpf.errors import LibbpfError
    from emu.libbpf.externs import read_kallsyms
    from tests.corpus import object_path

    path = str(object_path({"object": "test_snprintf.o"}))
    obj = BpfObject.open_file(path)
    obj.prepare(kernel_btf=KernelBtf.from_kernel(kernel))
    addr = kernel.ksym_address("schedule", True)
    ext = next(e for e in obj.externs if e.name == "schedule")
    assert addr and ext.is_typeless and ext.is_set and ext.ksym_addr == addr
    prog = obj.progs["handler"]
    lddws = [(a, b) for a, b in zip(prog.insns, prog.insns[1:])
             if a.code == isa.LD_IMM64 and a.src == 0 and (a.imm & 0xFFFFFFFF) | ((b.imm & 0xFFFFFFFF) << 32) == addr]
    assert lddws
    obj = BpfObject.open_file(path)
    with pytest.raises(LibbpfError, match="'schedule' \\(strong\\): not resolved.*not modelled"):
        read_kallsyms(obj, "".join(ln + "\n" for ln in kernel.proc_kallsyms().splitlines()
                                   if not ln.endswith(" schedule")))
