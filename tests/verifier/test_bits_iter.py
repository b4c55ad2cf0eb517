"""The bits iterator (kernel_model.bits_iter, emu.kernel.bits_iter): bpf_iter_bits_new/next/destroy
verified by the generic iterator rules and run in the emulated kernel, against the host's verdicts
and test-run results for the same programs (BTF ids read from each kernel, never hard-coded)."""

from __future__ import annotations

import errno as E

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.btf import structs as S
from kernel_model.insn import Insn, encode
from kernel_model.uapi import BPF_F_SLEEPABLE
from verifier import VerifierEnv, verify

SYSCALL, KPROBE, SOCKET_FILTER = 31, 2, 1
NEW, NEXT, DESTROY = 1001, 1002, 1003  # placeholders for the three kfunc calls
NAMES = {NEW: "bpf_iter_bits_new", NEXT: "bpf_iter_bits_next", DESTROY: "bpf_iter_bits_destroy"}


def _sum_bits(words: list[int], nr_words: int, ptr: str) -> str:
    """Store ``words`` at fp-8, fp-16 ... (word i at fp - 8 (i + 1)... low word first: the
    array starts at the lowest address), iterate ``nr_words`` of them from ``ptr`` ("stack",
    "null", "user") and return (new's result & 0xff) << 16 | the sum of the set bits' indexes."""
    n = max(len(words), 1)
    base = -8 * n
    lines = []
    for i, w in enumerate(words):
        lines += [f"r1 = {w:#x} ll", f"*(u64 *)(r10 {base + 8 * i}) = r1"]
    it = base - 16
    src = {"stack": f"r2 = r10\nr2 += {base}", "null": "r2 = 0", "user": "r2 = 0x1000"}[ptr]
    lines += [f"r1 = r10\nr1 += {it}", src, f"r3 = {nr_words}", f"call {NEW}", "r7 = r0", "r6 = 0",
              f"r1 = r10\nr1 += {it}", f"call {NEXT}", "if r0 == 0 goto +3", "r0 = *(u32 *)(r0 + 0)", "r6 += r0",
              "goto -7", f"r1 = r10\nr1 += {it}", f"call {DESTROY}",
              "r7 &= 0xff", "r7 <<= 16", "r6 &= 0xffff", "r0 = r6", "r0 |= r7", "exit"]
    return "\n".join(lines)


def _program(src: str, find: object) -> list[Insn]:
    ids = {k: find(name, S.KIND_FUNC) for k, name in NAMES.items()}  # type: ignore[operator]
    return [Insn(i.code, 0, isa.PSEUDO_KFUNC_CALL, 0, ids[i.imm]) if i.code == isa.CALL_INSN and i.imm in ids
            else i for i in assemble(src)]


#: name -> (words, nr_words, pointer), expected test-run result
RUNS: dict[str, tuple[tuple[list[int], int, str], int]] = {
    "one_word": (([(1 << 63) | 0x105], 1, "stack"), 0 + 2 + 8 + 63),
    "two_words": (([0x2, 0x20], 2, "stack"), 1 + 64 + 5),
    "two_words_read_as_one": (([0x2, 0x20], 1, "stack"), 1),
    "empty_words": (([0, 0, 0], 3, "stack"), 0),
    "no_words": (([0x7], 0, "stack"), (-E.EINVAL & 0xff) << 16),
    "null_pointer": (([0x7], 1, "null"), (-E.EINVAL & 0xff) << 16),
    "too_many_words": (([0x7], 512, "stack"), (-E.E2BIG & 0xff) << 16),
    "user_pointer": (([0x7], 1, "user"), (-E.EFAULT & 0xff) << 16),
    "user_pointer_words": (([0x7], 4, "user"), (-E.ERANGE & 0xff) << 16),
}


@pytest.fixture(scope="module")
def kernel():  # type: ignore[no-untyped-def]
    k = Kernel(modules=())
    yield k
    k.shutdown()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_bits_iterator_runs(kernel: Kernel, name: str) -> None:
    args, expected = RUNS[name]
    fd = kernel.prog_load(_program(_sum_bits(*args), kernel.btf.find), prog_type=SYSCALL,
                          prog_flags=BPF_F_SLEEPABLE)
    assert kernel.prog_test_run(fd).retval == expected


#: name -> (prog type, source), the host's verdict: None accepted, else (errno, last line)
VERIFY: dict[str, tuple[int, str, tuple[int, str] | None]] = {
    "kprobe_loop": (KPROBE, _sum_bits([0x5], 1, "stack"), None),
    "socket_filter_loop": (SOCKET_FILTER, _sum_bits([0x5], 1, "stack"), None),
    "no_destroy": (KPROBE, "r1 = r10\nr1 += -16\nr2 = 0\nr3 = 1\ncall 1001\nr0 = 0\nexit",
                   (E.EINVAL, "BPF_EXIT instruction in main prog would lead to reference leak")),
    "next_uninit": (KPROBE, "r1 = r10\nr1 += -16\ncall 1002\nr0 = 0\nexit",
                    (E.EINVAL, "expected an initialized iter_bits as arg #0")),
    "iter_too_small": (KPROBE, "r1 = r10\nr1 += -8\nr2 = 0\nr3 = 1\ncall 1001\nr1 = r10\nr1 += -8\ncall 1003\n"
                                 "r0 = 0\nexit", (E.EINVAL, "expected uninitialized iter_bits as arg #0")),
}


def _verify(kernel: Kernel, name: str):  # type: ignore[no-untyped-def]
    ptype, src, _ = VERIFY[name]
    return verify(_program(src, kernel.btf.find), VerifierEnv(prog_type=ptype, vmlinux_btf=kernel.btf,
                                                              kfuncs=kernel.kfuncs, privileged=True))


@pytest.mark.parametrize("name", sorted(VERIFY))
def test_bits_iterator_verifies(kernel: Kernel, name: str) -> None:
    want = VERIFY[name][2]
    r = _verify(kernel, name)
    assert r.accepted == (want is None), r.log
    if want is not None:
        assert (r.errno, r.error_line) == want, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(VERIFY))
def test_bits_iterator_verifies_as_the_host(kernel: Kernel, name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    ptype, src, _ = VERIFY[name]
    res = hostbpf.prog_load(ptype, encode(_program(src, hostbpf._host_vmlinux().find)))
    host = (res.accepted, res.errno, res.error_line())
    res.close()
    r = _verify(kernel, name)
    assert (r.accepted, r.errno, r.error_line) == host, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(RUNS))
def test_bits_iterator_runs_as_the_host(kernel: Kernel, name: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    args, _ = RUNS[name]
    res = hostbpf.prog_load(SYSCALL, encode(_program(_sum_bits(*args), hostbpf._host_vmlinux().find)),
                            prog_flags=BPF_F_SLEEPABLE)
    assert res.accepted, res.log
    try:
        host = hostbpf.test_run(res.fd).retval
    finally:
        res.close()
    fd = kernel.prog_load(_program(_sum_bits(*args), kernel.btf.find), prog_type=SYSCALL, prog_flags=BPF_F_SLEEPABLE)
    assert kernel.prog_test_run(fd).retval == host
