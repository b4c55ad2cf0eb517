"""bpf_fastcall (verifier.fastcall): spill/fill pairs around inlined calls are removed, the stack
depth drops, and the program the JIT gets (``xlated_prog_insns``) is the host's -- checked on
programs written here, with each kernel's own BTF ids and addresses (never hard-coded)."""

from __future__ import annotations

import re

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.btf import structs as S
from kernel_model.insn import Insn, decode, encode
from kernel_model.uapi import BPF_F_SLEEPABLE
from verifier import VerifierEnv, verify
from verifier.fixups import remove_nops

SOCKET_FILTER, KPROBE, SYSCALL = 1, 2, 31


#: two live registers around bpf_get_smp_processor_id, at the lowest offsets
PAIRS = """
r1 = 1
r2 = 2
*(u64 *)(r10 - 8) = r2
*(u64 *)(r10 - 16) = r1
call 8
r1 = *(u64 *)(r10 - 16)
r2 = *(u64 *)(r10 - 8)
r0 = r1
r0 += r2
exit"""

#: name -> (prog type, prog flags, source with {rdonly}/{task} for BTF ids; the call of a
#: kfunc is written ``call kfunc``), expected (accepted, stack depths, NOP'd slots)
CASES: dict[str, tuple[int, int, str, tuple[bool, list[int], list[int]]]] = {
    "helper_two_pairs": (KPROBE, 0, PAIRS, (True, [0], [2, 3, 5, 6])),
    # bpf_base_func_proto's bpf_get_raw_smp_processor_id_proto has no allow_fastcall: kept
    "raw_proto_keeps_pairs": (SOCKET_FILTER, 0, PAIRS, (True, [16], [])),
    "syscall_tracing_proto": (SYSCALL, BPF_F_SLEEPABLE, PAIRS, (True, [0], [2, 3, 5, 6])),
    # a jump to the first fill: no pattern at all
    "jump_to_fill": (KPROBE, 0, """
r1 = 1
r2 = 2
*(u64 *)(r10 - 8) = r2
if r2 == 0 goto +2
*(u64 *)(r10 - 16) = r1
call 8
r1 = *(u64 *)(r10 - 16)
r2 = *(u64 *)(r10 - 8)
r0 = r1
r0 += r2
exit""", (True, [16], [])),
    # the pattern stops at the first instruction that is not a fill: one pair
    "one_pair": (KPROBE, 0, """
r1 = 1
r2 = 2
*(u64 *)(r10 - 8) = r2
*(u64 *)(r10 - 16) = r1
call 8
r1 = *(u64 *)(r10 - 16)
if r1 == 0 goto +0
r2 = *(u64 *)(r10 - 8)
r0 = r1
r0 += r2
exit""", (True, [8], [3, 5])),
    # bpf_get_current_task is not bpf_fastcall on 6.18
    "not_fastcall_helper": (KPROBE, 0, """
r1 = 1
*(u64 *)(r10 - 8) = r1
call 35
r1 = *(u64 *)(r10 - 8)
r0 = r1
exit""", (True, [8], [])),
    # the chain fits in 512 bytes only without main's spill slot
    "depth_fits_without_slots": (KPROBE, 0, """
r1 = 1
r0 = 0
*(u64 *)(r10 - 256) = r0
*(u64 *)(r10 - 264) = r1
call 8
r1 = *(u64 *)(r10 - 264)
call pc+2
r0 = 0
exit
r0 = 0
*(u64 *)(r10 - 256) = r0
exit""", (True, [256, 256], [3, 5])),
    # another read of the spill slot breaks the contract: no rewrite, the chain is too deep
    "contract_broken": (KPROBE, 0, """
r1 = 1
r0 = 0
*(u64 *)(r10 - 256) = r0
*(u64 *)(r10 - 264) = r1
call 8
r1 = *(u64 *)(r10 - 264)
r2 = *(u64 *)(r10 - 264)
call pc+2
r0 = 0
exit
r0 = 0
*(u64 *)(r10 - 256) = r0
exit""", (False, [264, 256], [])),
    # a KF_FASTCALL kfunc with two parameters: r3 and r4 are kept, the call becomes r0 = r1
    "rdonly_cast": (KPROBE, 0, """
r3 = 3
r4 = 4
r1 = 0
r2 = {task}
*(u64 *)(r10 - 8) = r3
*(u64 *)(r10 - 16) = r4
call kfunc
r4 = *(u64 *)(r10 - 16)
r3 = *(u64 *)(r10 - 8)
r0 = r3
r0 += r4
exit""", (True, [0], [4, 5, 7, 8])),
    # r2 is a parameter of bpf_rdonly_cast: a spill of it is no pattern
    "rdonly_cast_param_reg": (KPROBE, 0, """
r1 = 0
r2 = {task}
*(u64 *)(r10 - 8) = r2
call kfunc
r2 = *(u64 *)(r10 - 8)
r0 = 0
exit""", (True, [8], [])),
}


def _program(src: str, find: object) -> list[Insn]:
    rdonly = find("bpf_rdonly_cast", S.KIND_FUNC)  # type: ignore[operator]
    task = find("task_struct", S.KIND_STRUCT)  # type: ignore[operator]
    insns = assemble(src.replace("call kfunc", "call 0").format(task=task))
    if "call kfunc" in src:
        insns = [Insn(i.code, i.dst, isa.PSEUDO_KFUNC_CALL, 0, rdonly) if i.code == isa.CALL_INSN and i.src == 0
                 else i for i in insns]
    return insns


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _model(kernel: Kernel, name: str, level: int = 2 | 4):  # type: ignore[no-untyped-def]
    ptype, flags, src, _ = CASES[name]
    env = VerifierEnv(prog_type=ptype, prog_flags=flags, vmlinux_btf=kernel.btf, kfuncs=kernel.kfuncs,
                      privileged=True)
    return verify(_program(src, kernel.btf.find), env, level)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fastcall_patterns(kernel: Kernel, name: str) -> None:
    accepted, depths, nops = CASES[name][3]
    r = _model(kernel, name)
    assert r.accepted == accepted, r.log
    assert r.stack_depth == depths and r.fastcall_nops == (nops if accepted else []), r.log
    assert "stack depth " + "+".join(map(str, depths)) in r.log


def test_remove_nops_re_aims_jumps() -> None:
    """opt_remove_nops: goto +0 goes, a jump over a removed slot shrinks, one to it lands after."""
    prog = assemble("r0 = 0\nif r0 == 0 goto +2\ngoto +0\nr0 = 1\nr0 += 2\nexit")
    out, idx = remove_nops(prog, [3])
    assert [str(i) for i in out] == ["r0 = 0", "if r0 == 0x0 goto pc+0", "r0 += 2", "exit"]
    assert idx[:5] == [0, 1, 2, 2, 2]


def test_inlined_cpu_id_runs(kernel: Kernel) -> None:
    """The inlined bpf_get_smp_processor_id reads the per-CPU cpu_number through %gs, and the
    program without its spill/fill pairs still computes with the registers they kept."""
    fd = kernel.prog_load(assemble(PAIRS), prog_type=SYSCALL, prog_flags=BPF_F_SLEEPABLE)
    xl = decode(kernel.prog_info(fd).xlated)
    assert len(xl) == 8 and xl[3].code == isa.ALU64 | isa.MOV | isa.X and xl[3].off == -1
    assert kernel.prog_test_run(fd).retval == 3
    fd = kernel.prog_load(assemble("call 8\nexit"), prog_type=SYSCALL, prog_flags=BPF_F_SLEEPABLE)
    assert kernel.prog_test_run(fd).retval == 0  # test runs are on CPU 0


def _normalized(insns: list[Insn], ids: tuple[int, ...]) -> list[tuple[int, int, int, int, int]]:
    """The xlated program with what differs between kernels masked: call targets (helper
    addresses), the 32 address bits of cpu_number and BTF ids in moves."""
    out = []
    for k, i in enumerate(insns):
        imm = i.imm
        if i.code == isa.CALL_INSN:
            imm = 0
        elif i.code == isa.ALU64 | isa.MOV | isa.K and (imm in ids or (
                k + 1 < len(insns) and insns[k + 1].code == isa.ALU64 | isa.MOV | isa.X and insns[k + 1].off == -1)):
            imm = 0
        out.append((i.code, i.dst, i.src, i.off, imm))
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_fastcall_as_the_host(kernel: Kernel, name: str) -> None:
    """Verdict, errno, the whole level-2 log and the xlated program, against the host's."""
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    ptype, flags, src, _ = CASES[name]
    hfind = hostbpf._host_vmlinux().find
    res = hostbpf.prog_load(ptype, encode(_program(src, hfind)), prog_flags=flags, log_level=2 | 4)
    host_ok = res.accepted
    try:
        host_xl = decode(hostbpf.prog_info(res.fd).xlated) if host_ok else None
    finally:
        res.close()
    r = _model(kernel, name)
    assert (r.accepted, r.errno) == (host_ok, res.errno), (res.log, r.log)
    hid, oid = hfind("task_struct", S.KIND_STRUCT), kernel.btf.find("task_struct", S.KIND_STRUCT)

    def masked(log: str, btf_id: int) -> str:  # the BTF id, and the padding its digits change
        return re.sub(" +", " ", re.sub(rf"\b{btf_id}\b", "ID", hostbpf.comparable_log(log)))
    assert masked(r.log, oid) == masked(res.log, hid)
    if host_xl is None:
        return
    fd = kernel.prog_load(_program(src, kernel.btf.find), prog_type=ptype, prog_flags=flags)
    ours = decode(kernel.prog_info(fd).xlated)
    assert _normalized(ours, (oid,)) == _normalized(host_xl, (hid,))


STRUCT_OPS_SRC = "r1 = 1\n*(u64 *)(r10 - 8) = r1\ncall 8\nr1 = *(u64 *)(r10 - 8)\nr0 = r1\nexit"


def test_struct_ops_keeps_the_pair() -> None:
    """tcp_congestion_ops members take bpf_base_func_proto's raw processor-id proto (no
    allow_fastcall): the pair stays and the depth is 8, as the host answers below."""
    from emu.kernel.harness import program_env

    insns, env = program_env(assemble(STRUCT_OPS_SRC), attach="tcp_congestion_ops:ssthresh")
    r = verify(insns, env, 1 | 4)
    assert r.accepted and r.stack_depth == [8] and r.fastcall_nops == [], r.log


@pytest.mark.kernel
def test_struct_ops_keeps_the_pair_as_the_host() -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    btf = hostbpf._host_vmlinux()
    tid = btf.find("tcp_congestion_ops", S.KIND_STRUCT)
    idx = [m.name for m in btf.type_by_id(tid).members].index("ssthresh")
    res = hostbpf.prog_load(27, encode(assemble(STRUCT_OPS_SRC)), attach_btf_id=tid, expected_attach_type=idx,
                            log_level=1 | 4)  # verify only: no struct_ops map is made
    ok_host = res.accepted
    res.close()
    assert ok_host and "stack depth 8\n" in res.log, res.log
