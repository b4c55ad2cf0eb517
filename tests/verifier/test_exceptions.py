"""BPF exceptions (verifier/exceptions.py): ``bpf_throw``, the exception callback and their rules.

Each case is a small ``sched_cls`` program with its own BTF (``main`` global, a global
``exc_cb(u64 cookie)`` named by an ``exception_callback:`` decl tag on ``main`` when the
case has one, static subprograms), loaded through ``BPF_BTF_LOAD`` + ``BPF_PROG_LOAD``
with func_info records into the emulated kernel. ``EXPECTED`` is what the 6.18 host
answered (errno and last log line before the statistics); :func:`test_case_against_host`
(``kernel`` mark) loads each case into the running kernel (verify only) and compares the
verdict, errno and last line, and the whole level-2 log (kfunc ids masked).
"""

from __future__ import annotations

import errno
import re
import struct
from dataclasses import dataclass

import pytest

from emu.host.hostbpf import comparable_log
from emu.kernel import Kernel
from emu.kernel.harness import symbols_for
from emu.kernel.prog_load import ProgLoadError
from kernel_model.asm import assemble
from kernel_model.btf import BTF
from kernel_model.btf import structs as BS
from kernel_model.btf.types import DeclTag, Func, FuncProto, Int, Param, Ptr, Struct
from kernel_model.insn import Insn, encode
from kernel_model.uapi import PROG_TYPE_SCHED_CLS


@dataclass(frozen=True)
class Case:
    name: str
    prog: str
    #: (insn offset, function name) per subprogram after main: "exc_cb" or a static "subN"
    funcs: tuple[tuple[int, str], ...] = ()
    #: the exception_callback: tags on main (their values)
    tags: tuple[str, ...] = ()
    cb_args: int = 1
    cb_global: bool = True


def _btf(case: Case) -> tuple[bytes, bytes]:
    """The case's BTF and its func_info records."""
    b = BTF()
    i_int = b.add(Int("int", 4, BS.INT_SIGNED, 0, 32))
    u64 = b.add(Int("unsigned long long", 8, 0, 0, 64))
    skb = b.add(Struct("__sk_buff", 4))
    pskb = b.add(Ptr(skb))
    main_proto = b.add(FuncProto(i_int, (Param("skb", pskb),)))
    cb_proto = b.add(FuncProto(i_int, tuple(Param(f"cookie{k}", u64) for k in range(case.cb_args))))
    sub_proto = b.add(FuncProto(i_int, (Param("x", i_int),)))
    main = b.add(Func("main", main_proto, BS.FUNC_GLOBAL))
    recs = [(0, main)]
    for off, name in case.funcs:
        if name == "exc_cb":
            fid = b.add(Func("exc_cb", cb_proto, BS.FUNC_GLOBAL if case.cb_global else BS.FUNC_STATIC))
        else:
            fid = b.add(Func(name, sub_proto, BS.FUNC_STATIC))
        recs.append((off, fid))
    for value in case.tags:
        b.add(DeclTag("exception_callback:" + value, main, -1))
    return b.to_bytes(), b"".join(struct.pack("<II", o, t) for o, t in recs)


THROW = "call bpf_throw"
CASES = [
    Case("throw_default", f"r1 = 0\n{THROW}\nr0 = 0\nexit"),
    Case("throw_with_cb", f"r1 = 5\n{THROW}\nr0 = 0\nexit\nr0 = r1\nexit", ((4, "exc_cb"),), ("exc_cb",)),
    Case("throw_in_subprog", f"r1 = 1\ncall pc+2\nr0 = 0\nexit\nr1 = 7\n{THROW}\nr0 = 0\nexit",
         ((4, "sub1"),)),
    Case("throw_holding_ref", f"r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto +2\nr1 = 0\n{THROW}\n"
         "r0 = 0\nexit"),
    Case("throw_in_subprog_holding_ref", "r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto +5\nr6 = r0\n"
         "call pc+4\nr1 = r6\ncall bpf_task_release\nr0 = 0\nexit\n"
         f"r1 = 0\n{THROW}\nr0 = 0\nexit", ((9, "sub1"),)),
    Case("throw_in_rcu", f"call bpf_rcu_read_lock\nr1 = 0\n{THROW}\ncall bpf_rcu_read_unlock\nr0 = 0\nexit"),
    Case("throw_in_preempt_off", f"call bpf_preempt_disable\nr1 = 0\n{THROW}\ncall bpf_preempt_enable\n"
         "r0 = 0\nexit"),
    Case("throw_in_loop_callback", "r1 = 2\nr2 = func[cb] ll\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\n"
         f"cb:\nr1 = 0\n{THROW}\nr0 = 0\nexit", ((8, "sub1"),)),
    Case("throw_in_exception_cb", f"r1 = 5\n{THROW}\nr0 = 0\nexit\nr1 = 1\n{THROW}\nr0 = 0\nexit",
         ((4, "exc_cb"),), ("exc_cb",)),
    Case("cb_two_args", f"r1 = 5\n{THROW}\nr0 = 0\nexit\nr0 = r1\nexit", ((4, "exc_cb"),), ("exc_cb",), cb_args=2),
    Case("cb_static", f"r1 = 5\n{THROW}\nr0 = 0\nexit\nr0 = r1\nexit", ((4, "exc_cb"),), ("exc_cb",),
         cb_global=False),
    Case("cb_two_tags", f"r1 = 5\n{THROW}\nr0 = 0\nexit\nr0 = r1\nexit", ((4, "exc_cb"),), ("exc_cb", "exc_cb")),
    Case("cb_unknown", f"r1 = 5\n{THROW}\nr0 = 0\nexit\nr0 = r1\nexit", ((4, "exc_cb"),), ("nope",)),
    Case("cb_called_directly", "r1 = 5\ncall pc+2\nr0 = 0\nexit\nr0 = r1\nexit", ((4, "exc_cb"),), ("exc_cb",)),
    Case("cb_returns_pointer", f"r1 = 5\n{THROW}\nr0 = 0\nexit\nr0 = r10\nexit", ((4, "exc_cb"),), ("exc_cb",)),
]

#: the 6.18 host's answers: errno (0 accepted) and the last line before the statistics (ids
#: masked); "cannot call exception cb directly" ends without a newline on the host
THROWN = "1: (85) call bpf_throw#ID"
SAFE = "Func#N ('exc_cb') is safe for any args that match its prototype"
EXPECTED: dict[str, tuple[int, str]] = {
    "throw_default": (0, THROWN),
    "throw_with_cb": (0, SAFE),
    "throw_in_subprog": (0, "5: (85) call bpf_throw#ID"),
    "throw_holding_ref": (errno.EINVAL, "bpf_throw would lead to reference leak"),
    "throw_in_subprog_holding_ref": (errno.EINVAL, "bpf_throw would lead to reference leak"),
    "throw_in_rcu": (errno.EINVAL, "bpf_throw cannot be used inside bpf_rcu_read_lock-ed region"),
    "throw_in_preempt_off": (errno.EINVAL, "bpf_throw cannot be used inside bpf_preempt_disable-ed region"),
    "throw_in_loop_callback": (errno.EINVAL, "bpf_throw kfunc (insn 9) cannot be called from callback subprog 1"),
    "throw_in_exception_cb": (errno.EINVAL, "bpf_throw kfunc (insn 5) cannot be called from callback subprog 1"),
    "cb_two_args": (errno.EINVAL, "exception cb only supports single integer argument"),
    "cb_static": (errno.EINVAL, "exception callback 'exc_cb' must have global linkage"),
    "cb_two_tags": (errno.EEXIST, "multiple exception callback tags for main subprog"),
    "cb_unknown": (errno.ENOENT, "exception callback 'nope' could not be found in BTF"),
    "cb_called_directly": (errno.EINVAL, "insn 1 cannot call exception cb directlyprocessed 6 insns (limit 1000000) "
                                         "max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"),
    "cb_returns_pointer": (0, SAFE),
}


def _last_line(log: str) -> str | None:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("processed ", "verification time",
                                                                                 "stack depth"))]
    return lines[-1] if lines else None


def _insns(case: Case, symbols: dict[str, int]) -> list[Insn]:
    return assemble(case.prog, symbols=symbols)


def model_load(case: Case, log_level: int = 2) -> tuple[int, str]:
    """(errno, log) of the case in the emulated kernel."""
    k = Kernel(modules=())
    try:
        blob, fi = _btf(case)
        btf_fd = k.btf_load(blob)
        try:
            fd = k.prog_load(_insns(case, symbols_for()), prog_type=PROG_TYPE_SCHED_CLS, log_level=log_level,
                             prog_btf_fd=btf_fd, func_info=fi, func_info_rec_size=8)
        except ProgLoadError as e:
            return e.errno, e.log
        log = k.prog_info(fd).verifier_log
        k.close(fd)
        return 0, log
    finally:
        k.shutdown()


def host_load(case: Case, log_level: int = 2) -> tuple[int, str]:
    """(errno, log) of the case in the host kernel (verify only: the fds are closed)."""
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    names = set(re.findall(r"call (bpf_\w+)", case.prog))
    syms = {n: hostbpf.host_btf_id(n, "func") for n in names}
    if any(v is None for v in syms.values()):
        pytest.skip(f"the host's BTF lacks one of {sorted(names)}")
    blob, fi = _btf(case)
    btf_fd, err, blog = hostbpf.btf_load(blob)
    assert btf_fd >= 0, (err, blog)
    try:
        r = hostbpf.prog_load(PROG_TYPE_SCHED_CLS, encode(_insns(case, {k: v for k, v in syms.items() if v})),
                              log_level=log_level, prog_btf_fd=btf_fd, func_info=fi, func_info_rec_size=8)
    finally:
        hostbpf.close(btf_fd)
    if r.accepted:
        hostbpf.close(r.fd)
    return r.errno if not r.accepted else 0, r.log


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


def _mask(log: str) -> str:
    return re.sub(r"#\d+", "#N", comparable_log(log))


def test_every_case_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(_ids(CASES))


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case(case: Case) -> None:
    err, log = model_load(case)
    assert (err, _mask(_last_line(log) or "")) == EXPECTED[case.name], log


def test_exception_callback_is_verified_as_a_global_function() -> None:
    """The callback nothing calls is verified on its own, R1 the cookie (a scalar), and the
    main program's throw needs no return-value check of R1 (the callback returns)."""
    err, log = model_load(CASES[1])
    lines = log.splitlines()
    assert err == 0 and "func#1 @4" in lines
    i = lines.index("Validating exc_cb() func#1...")
    assert lines[i + 1] == "4: R1=scalar() R10=fp0"


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case_against_host(case: Case) -> None:
    """Verdict, errno, last line and the whole level-2 log, the host's and the model's."""
    herr, hlog = host_load(case)
    assert (herr, _mask(_last_line(hlog) or "")) == EXPECTED[case.name]
    merr, mlog = model_load(case)
    assert (merr, _mask(mlog)) == (herr, _mask(hlog))


# --- run time: bpf_throw unwinds through the JIT images --------------------------------------------
#: (case, the program's return value): the 6.18 host's BPF_PROG_TEST_RUN of the same sleepable
#: syscall program (the emulated kernel test-runs syscall programs, not sched_cls ones), its
#: context 4 zero bytes
RUNS = [
    (Case("run_default_main", f"r1 = 42\n{THROW}\nr0 = 0\nexit"), 42),
    # main -> sub1 (a stack frame of its own) -> sub2 throws 7; the callback doubles it
    (Case("run_cb_two_deep", "r6 = 3\nr7 = 4\n*(u64 *)(r10 -8) = r6\nr1 = 5\ncall pc+3\nr0 = r6\nr0 += r7\n"
          "exit\n"
          "r2 = 9\n*(u64 *)(r10 -16) = r2\ncall pc+2\nr0 = 1\nexit\n"
          f"r1 = 7\n{THROW}\nr0 = 2\nexit\n"
          "r0 = r1\nr0 *= 2\nexit",
          ((8, "sub1"), (13, "sub2"), (17, "exc_cb")), ("exc_cb",)), 14),
    # the default callback from a subprogram: the cookie is the return value
    (Case("run_default_subprog", f"r1 = 1\ncall pc+2\nr0 += 100\nexit\nr1 = 11\n{THROW}\nr0 = 0\nexit",
          ((4, "sub1"),)), 11),
    # no throw on this path: the program returns normally
    (Case("run_not_thrown", f"r1 = *(u32 *)(r1 +0)\nif r1 != 0 goto +2\nr0 = 9\nexit\nr1 = 1\n{THROW}\n"
          "r0 = 0\nexit\nr0 = 77\nexit", ((8, "exc_cb"),), ("exc_cb",)), 9),
    # the same program thrown: the callback's value
    (Case("run_thrown", f"r1 = *(u32 *)(r1 +0)\nif r1 == 0 goto +2\nr0 = 9\nexit\nr1 = 1\n{THROW}\n"
          "r0 = 0\nexit\nr0 = 77\nexit", ((8, "exc_cb"),), ("exc_cb",)), 77),
]


SYSCALL, SLEEPABLE = 31, 16


def model_run(case: Case) -> int:
    k = Kernel(modules=())
    try:
        blob, fi = _btf(case)
        btf_fd = k.btf_load(blob)
        try:
            fd = k.prog_load(_insns(case, symbols_for()), prog_type=SYSCALL, prog_flags=SLEEPABLE, log_level=1,
                             prog_btf_fd=btf_fd, func_info=fi, func_info_rec_size=8)
        except ProgLoadError as e:
            raise AssertionError(e.log) from None
        return k.prog_test_run(fd, ctx_in=bytes(4)).retval
    finally:
        k.shutdown()


@pytest.mark.parametrize("case,want", RUNS, ids=[c.name for c, _ in RUNS])
def test_throw_runs_the_exception_callback(case: Case, want: int) -> None:
    assert model_run(case) == want


@pytest.mark.kernel
@pytest.mark.parametrize("case,want", RUNS, ids=[c.name for c, _ in RUNS])
def test_run_against_host(case: Case, want: int) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    blob, fi = _btf(case)
    btf_fd, err, blog = hostbpf.btf_load(blob)
    assert btf_fd >= 0, (err, blog)
    syms = {"bpf_throw": hostbpf.host_btf_id("bpf_throw", "func") or 0}
    try:
        r = hostbpf.prog_load(SYSCALL, encode(_insns(case, syms)), log_level=1, prog_flags=SLEEPABLE,
                              prog_btf_fd=btf_fd, func_info=fi, func_info_rec_size=8)
    finally:
        hostbpf.close(btf_fd)
    assert r.accepted, r.log
    try:
        got = hostbpf.test_run(r.fd, ctx_in=bytes(4)).retval
    finally:
        hostbpf.close(r.fd)
    assert got == want


#: the function starts of the host's translated program (after 6.18's dead-code removal:
#: nothing after a call that never returns), the hidden default callback last when there
JIT_STARTS = {"run_default_main": [0, 2], "run_cb_two_deep": [0, 5, 8, 10], "run_default_subprog": [0, 2, 4]}


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(JIT_STARTS))
def test_jit_bytes_equal_the_hosts(name: str) -> None:
    """The host's translated program (with do_misc_fixups' hidden callback where the program
    has none) JIT-compiled by our x86 JIT at the host's image addresses, with the host's CPU
    configuration and symbols: the exception boundary's prologue, the callback's prologue,
    every function's bytes equal the host's (the hidden callback's image is not reported
    by the kernel: ``func_cnt`` leaves it out)."""
    from emu.host import hostbpf
    from emu.host.hostcpu import detect_host_cpu, host_symbols
    from jit.bpf_jit import JitOptions, jit_program
    from jit.symbols import KernelSymbols
    from kernel_model import isa
    from kernel_model.insn import decode
    from kernel_model.profile import LATEST

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    case = next(c for c, _ in RUNS if c.name == name)
    cpu = detect_host_cpu()
    names = ["__bpf_call_base", "pcpu_hot"] + ([cpu.return_thunk] if cpu.rethunk else [])
    ks = host_symbols(names)
    if "__bpf_call_base" not in ks:
        pytest.skip("kallsyms addresses are hidden")
    syms = KernelSymbols(call_base=ks["__bpf_call_base"], return_thunk=ks.get(cpu.return_thunk or "", 0),
                         call_depth=ks.get("pcpu_hot", 0))
    blob, fi = _btf(case)
    btf_fd, err, blog = hostbpf.btf_load(blob)
    assert btf_fd >= 0, (err, blog)
    try:
        r = hostbpf.prog_load(SYSCALL, encode(_insns(case, {"bpf_throw": hostbpf.host_btf_id("bpf_throw", "func")
                                                            or 0})),
                              log_level=5, prog_flags=SLEEPABLE, prog_btf_fd=btf_fd, func_info=fi,
                              func_info_rec_size=8)
    finally:
        hostbpf.close(btf_fd)
    assert r.accepted, r.log
    try:
        info = hostbpf.prog_info(r.fd)
    finally:
        hostbpf.close(r.fd)
    depths = [int(d) for d in re.findall(r"stack depth ([\d+]+)", r.log)[-1].split("+")]
    jin = decode(info.xlated)
    starts = JIT_STARTS[name]
    for k, ins in enumerate(jin):
        if ins.code == isa.CALL_INSN and ins.src == isa.PSEUDO_CALL:
            target = next(st for st in starts if st > k)  # each call here calls the next function
            jin[k] = Insn(ins.code, 0, ins.src, 0, target - k - 1)
    stack = (depths + [0] * len(starts))[:len(starts)]
    lens = info.jited_func_lens or [len(info.jited)]
    addrs = iter(list(info.jited_ksyms) + [0x1000] * (len(starts) - len(lens)))
    jp = jit_program(jin, lambda size: next(addrs), starts=starts, stack_depths=stack, symbols=syms,
                     options=JitOptions(LATEST, cpu), exception_boundary=True, exception_cb=len(starts) - 1)
    chunks, pos = [], 0
    for n in lens:
        chunks.append(info.jited[pos:pos + n])
        pos += n
    assert [img.code.hex() for img in jp.funcs[:len(lens)]] == [c.hex() for c in chunks]
