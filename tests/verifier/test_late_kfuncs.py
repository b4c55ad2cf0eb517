"""bpf_session_cookie / bpf_session_is_return (kernel_model.kprobe_session), bpf_copy_from_user_str
and bpf_map_sum_elem_count (kernel_model.common_kfuncs): who may call them and what R0 is, on
the model and on the host for the same raw programs (BTF ids and map fds of each kernel)."""

from __future__ import annotations

import errno as E

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.btf import structs as S
from kernel_model.bpf_facts.enums import ATTACH_TYPES
from kernel_model.bpf_map import MapSpec
from kernel_model.insn import Insn, encode
from kernel_model.uapi import BPF_F_SLEEPABLE
from verifier import VerifierEnv, verify

SOCKET_FILTER, KPROBE, SYSCALL = 1, 2, 31
SESSION = ATTACH_TYPES["BPF_TRACE_KPROBE_SESSION"]
UPROBE_SESSION = ATTACH_TYPES["BPF_TRACE_UPROBE_SESSION"]
MULTI = ATTACH_TYPES["BPF_TRACE_KPROBE_MULTI"]
CALL = 1000  # "call 1000" is the kfunc of the case

COOKIE_RW = "call 1000\nr1 = 0x5\n*(u64 *)(r0 + 0) = r1\nr0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit"
COOKIE_PAST = "call 1000\nr1 = 0x5\n*(u64 *)(r0 + 8) = r1\nr0 = 0\nexit"
IS_RETURN = "call 1000\nr0 = 0\nexit"
COPY_STR = "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\nr4 = 0\ncall 1000\nr0 = 0\nexit"
COPY_STR_SMALL = "r1 = r10\nr1 += -16\nr2 = 17\nr3 = 0\nr4 = 0\ncall 1000\nr0 = 0\nexit"
SUM = "r1 = MAP ll\ncall 1000\nr0 = 0\nexit"
#: bpf_sk_lookup_tcp's socket (a full sock) into bpf_sk_assign_tcp_reqsk, then released
REQSK = """r6 = r1
r1 = 0
*(u64 *)(r10 - 16) = r1
*(u64 *)(r10 - 8) = r1
*(u64 *)(r10 - 24) = r1
*(u64 *)(r10 - 32) = r1
*(u64 *)(r10 - 40) = r1
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
r1 = r6
call 84
if r0 == 0 goto +9
r7 = r0
r1 = r6
r2 = r7
r3 = r10
r3 += -40
r4 = 20
call 1000
r1 = r7
call 86
r0 = 0
exit
"""

#: name -> (kfunc, prog type, expected_attach_type, flags, source)
CASES: dict[str, tuple[str, int, int, int, str]] = {
    "cookie_session": ("bpf_session_cookie", KPROBE, SESSION, 0, COOKIE_RW),
    "cookie_uprobe_session": ("bpf_session_cookie", KPROBE, UPROBE_SESSION, 0, COOKIE_RW),
    "cookie_past_its_8_bytes": ("bpf_session_cookie", KPROBE, SESSION, 0, COOKIE_PAST),
    "cookie_plain_kprobe": ("bpf_session_cookie", KPROBE, 0, 0, COOKIE_RW),
    "cookie_kprobe_multi": ("bpf_session_cookie", KPROBE, MULTI, 0, COOKIE_RW),
    "cookie_syscall": ("bpf_session_cookie", SYSCALL, 0, BPF_F_SLEEPABLE, COOKIE_RW),
    "is_return_session": ("bpf_session_is_return", KPROBE, SESSION, 0, IS_RETURN),
    "is_return_plain": ("bpf_session_is_return", KPROBE, 0, 0, IS_RETURN),
    "copy_str_syscall": ("bpf_copy_from_user_str", SYSCALL, 0, BPF_F_SLEEPABLE, COPY_STR),
    "copy_str_too_big": ("bpf_copy_from_user_str", SYSCALL, 0, BPF_F_SLEEPABLE, COPY_STR_SMALL),
    "copy_str_not_sleepable": ("bpf_copy_from_user_str", KPROBE, 0, 0, COPY_STR),
    "copy_str_socket_filter": ("bpf_copy_from_user_str", SOCKET_FILTER, 0, 0, COPY_STR),
    "sum_socket_filter": ("bpf_map_sum_elem_count", SOCKET_FILTER, 0, 0, SUM),
    "sum_kprobe": ("bpf_map_sum_elem_count", KPROBE, 0, 0, SUM),
    "reqsk_tc": ("bpf_sk_assign_tcp_reqsk", 3, 0, 0, REQSK),
    "reqsk_xdp": ("bpf_sk_assign_tcp_reqsk", 6, 0, 0, REQSK),
    "reqsk_sock_common": ("bpf_sk_assign_tcp_reqsk", 3, 0, 0, REQSK.replace("call 84", "call 99")),
}

#: the model's answers: None accepted, else (errno, last line)
EXPECTED: dict[str, tuple[int, str] | None] = {
    "cookie_session": None,
    "cookie_uprobe_session": None,
    "cookie_past_its_8_bytes": (E.EACCES, "R0 min value is outside of the allowed memory range"),
    "cookie_plain_kprobe": (E.EACCES, "calling kernel function bpf_session_cookie is not allowed"),
    "cookie_kprobe_multi": (E.EACCES, "calling kernel function bpf_session_cookie is not allowed"),
    "cookie_syscall": (E.EACCES, "calling kernel function bpf_session_cookie is not allowed"),
    "is_return_session": None,
    "is_return_plain": (E.EACCES, "calling kernel function bpf_session_is_return is not allowed"),
    "copy_str_syscall": None,
    "copy_str_too_big": (E.EINVAL, "arg#0 arg#1 memory, len pair leads to invalid memory access"),
    "copy_str_not_sleepable": (E.EACCES, "program must be sleepable to call sleepable kfunc bpf_copy_from_user_str"),
    "copy_str_socket_filter": (E.EACCES, "program must be sleepable to call sleepable kfunc bpf_copy_from_user_str"),
    "sum_socket_filter": None,
    "sum_kprobe": None,
    "reqsk_tc": None,
    "reqsk_xdp": (E.EACCES, "calling kernel function bpf_sk_assign_tcp_reqsk is not allowed"),
    "reqsk_sock_common": (E.EINVAL, "kernel function bpf_sk_assign_tcp_reqsk args#1 expected pointer to STRUCT sock "
                                    "but R2 has a pointer to STRUCT sock_common"),
}


def _program(name: str, kfunc_id: int, map_fd: int) -> list[Insn]:
    src = CASES[name][4].replace("MAP", str(map_fd))
    return [Insn(i.code, 0, isa.PSEUDO_KFUNC_CALL, 0, kfunc_id) if i.code == isa.CALL_INSN and i.imm == CALL else i
            for i in assemble(src)]


def _map_fd(insns: list[Insn]) -> list[Insn]:
    return [Insn(i.code, i.dst, isa.PSEUDO_MAP_FD, i.off, i.imm) if i.code == isa.LD_IMM64 else i for i in insns]


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


def _model(kernel: Kernel, name: str):  # type: ignore[no-untyped-def]
    kf, ptype, eat, flags, _ = CASES[name]
    insns = _map_fd(_program(name, kernel.btf.find(kf, S.KIND_FUNC), 3))
    spec = MapSpec(map_type=1, key_size=4, value_size=8, max_entries=4, id=1)
    env = VerifierEnv(prog_type=ptype, expected_attach_type=eat, prog_flags=flags, vmlinux_btf=kernel.btf,
                      kfuncs=kernel.kfuncs, privileged=True, maps={3: spec})
    return verify(insns, env)


@pytest.mark.parametrize("name", sorted(CASES))
def test_late_kfuncs(kernel: Kernel, name: str) -> None:
    r = _model(kernel, name)
    want = EXPECTED[name]
    assert r.accepted == (want is None), r.log
    if want is not None:
        assert (r.errno, r.error_line) == want, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_late_kfuncs_as_the_host(kernel: Kernel, name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    kf, ptype, eat, flags, _ = CASES[name]
    fd, err = hostbpf.map_create(1, 4, 8, 4)
    assert fd >= 0, err
    try:
        insns = _map_fd(_program(name, hostbpf.host_btf_id(kf, "func"), fd))
        res = hostbpf.prog_load(ptype, encode(insns), expected_attach_type=eat, prog_flags=flags)
        host = (res.accepted, res.errno, res.error_line())
        res.close()
    finally:
        hostbpf.close(fd)
    r = _model(kernel, name)
    assert (r.accepted, r.errno, r.error_line) == host, r.log
