"""BTF func_info and line_info (verifier/btf_info.py): the records' checks, global
functions verified on their own, the source lines of the log.

Each case is a small socket filter with its own BTF (a ``main`` and a subprogram
``sub``), loaded through ``BPF_BTF_LOAD`` + ``BPF_PROG_LOAD`` with func_info/line_info
records into the emulated kernel; ``EXPECTED`` is what the 6.18 host answered
(errno and last log line), and :func:`test_case_against_host` (``kernel`` mark)
compares the whole level-2 logs with the host's. :func:`test_examples_against_host`
does the same for clang-compiled objects, loaded one program at a time as
libbpf would (never creating a struct_ops map, never attaching).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from emu.host.hostbpf import comparable_log
from emu.kernel import Kernel
from emu.kernel.prog_load import ProgLoadError
from kernel_model.asm import assemble
from kernel_model.btf import BTF
from kernel_model.btf import structs as BS
from kernel_model.btf.types import Func, FuncProto, Int, Param, Ptr, Struct
from kernel_model.insn import encode
from kernel_model.uapi import PROG_TYPE_SOCKET_FILTER

ROOT = Path(__file__).resolve().parents[2]

# type ids of _btf()
INT, SKB, PSKB, P_INT, P_SKB, P_VOID, MAIN, SUB_STATIC, SUB_GLOBAL, SUB_VOID, SUB_SKB, SUB_SKB_VOID = range(1, 13)
SUB_SKB_STATIC = 14


def _btf() -> bytes:
    b = BTF()
    b.add(Int("int", 4, BS.INT_SIGNED, 0, 32))                              # 1
    b.add(Struct("__sk_buff", 4))                                           # 2
    b.add(Ptr(SKB))                                                         # 3
    b.add(FuncProto(INT, (Param("x", INT),)))                               # 4 int (int)
    b.add(FuncProto(INT, (Param("skb", PSKB),)))                            # 5 int (struct __sk_buff *)
    b.add(FuncProto(0, (Param("x", INT),)))                                 # 6 void (int)
    b.add(Func("main", P_SKB, BS.FUNC_GLOBAL))                              # 7
    b.add(Func("sub", P_INT, BS.FUNC_STATIC))                               # 8
    b.add(Func("sub", P_INT, BS.FUNC_GLOBAL))                               # 9
    b.add(Func("sub", P_VOID, BS.FUNC_GLOBAL))                              # 10
    b.add(Func("sub", P_SKB, BS.FUNC_GLOBAL))                               # 11
    b.add(Func("sub", P_VOID, BS.FUNC_STATIC))                              # 12
    b.add(Struct("lines", 0))  # names the strings the line records use                 # 13
    b.add(Func("sub", P_SKB, BS.FUNC_STATIC))                               # 14
    blob = b.to_bytes()
    return blob


BLOB = _btf()


def _str_off(s: str) -> int:
    hdr_len, _to, _tl, str_off, _sl = struct.unpack_from("<IIIII", BLOB, 4)
    return BLOB[hdr_len + str_off:].index(s.encode() + b"\0")


#: main calls sub with a scalar (r1 = 5); sub returns it
CALL_SCALAR = "r1 = 5\ncall pc+1\nexit\nr0 = r1\nexit"
#: main calls sub with the context; sub reads a packet byte with LD_ABS
CALL_LD_ABS = "call pc+2\nr0 = 0\nexit\nr6 = r1\nr0 = *(u8 *)skb[0]\nexit"
#: sub gets a pointer where its prototype says int
CALL_PTR = "r1 = r10\ncall pc+1\nexit\nr0 = 1\nexit"


@dataclass(frozen=True)
class Case:
    name: str
    prog: str
    func_info: tuple[tuple[int, int], ...] = ()
    line_info: tuple[tuple[int, int, int, int], ...] = ()
    func_rec: int = 8
    line_rec: int = 16
    tail: bytes = b""


def _lines(*offs: int) -> tuple[tuple[int, int, int, int], ...]:
    f, s1, s2 = _str_off("lines"), _str_off("main"), _str_off("sub")
    return tuple((o, f, s1 if i == 0 else s2, (10 + i) << 10 | 3) for i, o in enumerate(offs))


CASES = [
    Case("static_call", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), _lines(0, 3)),
    Case("global_call", CALL_SCALAR, ((0, MAIN), (3, SUB_GLOBAL)), _lines(0, 1, 3)),
    Case("global_void", CALL_SCALAR, ((0, MAIN), (3, SUB_VOID))),
    Case("global_ptr_for_int", CALL_PTR, ((0, MAIN), (3, SUB_GLOBAL))),
    Case("static_ptr_for_int", CALL_PTR, ((0, MAIN), (3, SUB_STATIC))),
    Case("ld_abs_global", CALL_LD_ABS, ((0, MAIN), (3, SUB_SKB)), _lines(0, 3, 4)),
    Case("ld_abs_void", CALL_LD_ABS, ((0, MAIN), (3, SUB_SKB_VOID))),
    # a static callee: the failed load's hidden `return 0` goes back to the caller, explored too
    Case("ld_abs_static", CALL_LD_ABS, ((0, MAIN), (3, SUB_SKB_STATIC)), _lines(0, 3, 4)),
    Case("ld_abs_static_early_exit", "call pc+6\nr2 = r10\nr2 += r0\nr1 = 1\n*(u64 *)(r2 +0) = r1\nr0 = 0\n"
         "exit\nr6 = r1\nr0 = *(u8 *)skb[0]\nr0 = -8\nexit", ((0, MAIN), (7, SUB_SKB_STATIC))),
    Case("ld_abs_no_btf", CALL_LD_ABS),
    Case("too_few_funcs", CALL_SCALAR, ((0, MAIN),)),
    Case("layout", CALL_SCALAR, ((0, MAIN), (2, SUB_STATIC))),
    Case("first_off", CALL_SCALAR, ((1, MAIN), (3, SUB_STATIC))),
    Case("decreasing", CALL_SCALAR, ((0, MAIN), (0, SUB_STATIC))),
    Case("not_a_func", CALL_SCALAR, ((0, MAIN), (3, INT))),
    Case("rec_size", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), func_rec=6),
    Case("rec_tail", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), func_rec=12, tail=b"\1\0\0\0"),
    Case("rec_tail_zero", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), func_rec=12, tail=bytes(4)),
    Case("line_missing_func", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), _lines(0)),
    Case("line_missing_start", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), _lines(0, 4)),
    Case("line_past_end", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), _lines(0, 3, 9)),
    Case("line_bad_string", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), ((0, 1 << 20, 0, 1 << 10),)),
    Case("line_rec_size", CALL_SCALAR, ((0, MAIN), (3, SUB_STATIC)), _lines(0, 3), line_rec=8),
    Case("line_only", CALL_SCALAR, (), _lines(0, 3)),
]

#: the 6.18 host's answers: errno (0 accepted) and the last line before the statistics (the
#: func_info record messages end without a newline: the statistics line follows on the same line)
NOLF = "processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"
SAFE = "Func#1 ('sub') is safe for any args that match its prototype"
BAD_ARGS = "Caller passes invalid args into func#1 ('sub')"
EXPECTED: dict[str, tuple[int, str | None]] = {
    "static_call": (0, "2: (95) exit"),
    "global_call": (0, SAFE),
    "global_void": (errno.EINVAL, BAD_ARGS),
    "global_ptr_for_int": (errno.EINVAL, BAD_ARGS),
    "static_ptr_for_int": (0, "2: (95) exit"),
    "ld_abs_global": (0, SAFE),
    "ld_abs_void": (errno.EINVAL, "LD_ABS is only allowed in functions that return 'int'."),
    "ld_abs_static": (0, "2: (95) exit"),
    "ld_abs_static_early_exit": (errno.EACCES, "invalid write to stack R2 off=0 size=8"),
    "ld_abs_no_btf": (errno.EINVAL, "LD_ABS is not allowed in subprogs without BTF"),
    "too_few_funcs": (errno.EINVAL, "number of funcs in func_info doesn't match number of subprogs"),
    "layout": (errno.EINVAL, "func_info BTF section doesn't match subprog layout in BPF program"),
    "first_off": (errno.EINVAL, "nonzero insn_off 1 for the first func info record" + NOLF),
    "decreasing": (errno.EINVAL, "same or smaller insn offset (0) than previous func info record (0)" + NOLF),
    "not_a_func": (errno.EINVAL, "invalid type id 1 in func info" + NOLF),
    "rec_size": (errno.EINVAL, "invalid func info rec size 6"),
    "rec_tail": (errno.E2BIG, "nonzero tailing record in func info" + NOLF),
    "rec_tail_zero": (0, "2: (95) exit"),
    "line_missing_func": (errno.EINVAL, "missing bpf_line_info for 1 funcs starting from func#1"),
    "line_missing_start": (errno.EINVAL, "missing bpf_line_info for func#1"),
    "line_past_end": (errno.EINVAL, "Invalid line_info[2].insn_off:9 (prev_offset:3 prog->len:5)"),
    "line_bad_string": (errno.EINVAL, "Invalid line_info[0].line_off or .file_name_off"),
    "line_rec_size": (errno.EINVAL, "func#1 @3"),  # EINVAL without a message
    "line_only": (0, "2: (95) exit"),
}


def _records(case: Case) -> tuple[bytes, bytes]:
    fi = b"".join(struct.pack("<II", o, t).ljust(case.func_rec - len(case.tail), b"\0")[:case.func_rec - len(case.tail)]
                  + case.tail for o, t in case.func_info)
    li = b"".join(struct.pack("<IIII", *r)[:case.line_rec].ljust(case.line_rec, b"\0") for r in case.line_info)
    return fi, li


def _last_line(log: str) -> str | None:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("processed ", "verification time",
                                                                                 "stack depth"))]
    return lines[-1] if lines else None


def model_load(case: Case, log_level: int = 2) -> tuple[int, str]:
    """(errno, log) of the case in the emulated kernel."""
    k = Kernel(modules=())
    btf_fd = k.btf_load(BLOB)
    fi, li = _records(case)
    try:
        fd = k.prog_load(assemble(case.prog), prog_type=PROG_TYPE_SOCKET_FILTER, log_level=log_level,
                         prog_btf_fd=btf_fd, func_info=fi, func_info_rec_size=case.func_rec if fi else 0,
                         line_info=li, line_info_rec_size=case.line_rec if li else 0)
    except ProgLoadError as e:
        return e.errno, e.log
    log = k.prog_info(fd).verifier_log
    k.close(fd)
    return 0, log


def host_load(case: Case, log_level: int = 2) -> tuple[int, str]:
    """(errno, log) of the case in the host kernel (verify only: the fds are closed)."""
    from emu.host import hostbpf

    btf_fd, err, blog = hostbpf.btf_load(BLOB)
    assert btf_fd >= 0, (err, blog)
    fi, li = _records(case)
    try:
        r = hostbpf.prog_load(PROG_TYPE_SOCKET_FILTER, encode(assemble(case.prog)), log_level=log_level,
                              prog_btf_fd=btf_fd, func_info=fi, func_info_rec_size=case.func_rec,
                              line_info=li, line_info_rec_size=case.line_rec)
    finally:
        hostbpf.close(btf_fd)
    if r.accepted:
        hostbpf.close(r.fd)
    return r.errno if not r.accepted else 0, r.log


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


def test_every_case_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(_ids(CASES))


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case(case: Case) -> None:
    err, log = model_load(case)
    assert (err, _last_line(log)) == EXPECTED[case.name], log


def test_global_function_is_verified_on_its_own() -> None:
    err, log = model_load(CASES[1])
    assert err == 0
    lines = log.splitlines()
    # the call is not entered: checked against the prototype, R0 an unknown scalar
    assert "Func#1 ('sub') is global and assumed valid." in lines
    assert "caller:" not in lines
    # then verified alone, R1 an unknown scalar (its BTF says int)
    i = lines.index("Validating sub() func#1...")
    assert lines[i + 1] == "3: R1=scalar() R10=fp0"
    # the source lines of the records, each once, before the first instruction of its line
    # (insn 2 is still covered by the record of insn 1: nothing printed before it)
    assert lines.count("; main @ lines:10") == 1 and lines.count("; sub @ lines:11") == 1
    assert lines[lines.index("2: R0=scalar()") + 1] == "2: (95) exit"
    assert lines[i + 2] == "; sub @ lines:12"


def test_level_1_log_keeps_only_the_last_walk() -> None:
    """An accepted walk resets a level-1 log (do_check_common), the global function's too."""
    err, log = model_load(CASES[1], log_level=1)
    assert err == 0
    assert log.splitlines()[0] == SAFE


def test_line_records_print_the_file_basename() -> None:
    case = replace(CASES[0], line_info=tuple((o, _str_off("lines"), _str_off("main"), ln << 10)
                                             for o, ln in ((0, 7), (3, 9))))
    err, log = model_load(case)
    assert err == 0 and "; main @ lines:7" in log.splitlines()


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case_against_host(case: Case) -> None:
    """The whole level-2 log, the host's and the model's (BTF ids and addresses masked)."""
    herr, hlog = host_load(case)
    merr, mlog = model_load(case)
    assert (merr, comparable_log(mlog)) == (herr, comparable_log(hlog))
    assert (herr, _last_line(hlog)) == EXPECTED[case.name]


# --- clang objects: each program loaded alone as libbpf would ------------------------------------------
#: example objects whose programs the host and the model both load (the others need
#: bpf_testmod or kernel types the emulated BTF lacks)
EXAMPLES = ("global_funcs", "dummy_st_ops", "dummy_st_ops_fail", "tcp_ca", "tcp_reno_kfuncs", "tcp_cubic_kfuncs")


def _programs() -> list[tuple[str, str]]:
    from emu.libbpf.per_prog import list_programs

    return [(ex, name) for ex in EXAMPLES for name, _sec in list_programs(str(ROOT / "examples" / f"{ex}.bpf.o"))]


def _model(ex: str, name: str, level: int):  # type: ignore[no-untyped-def]
    from emu.libbpf.per_prog import verify_program

    return verify_program(str(ROOT / "examples" / f"{ex}.bpf.o"), name, kernel=Kernel(modules=()), log_level=level)


#: the host's verdicts for examples/global_funcs.bpf.o
GLOBAL_FUNCS = {
    "global_calls": ("accepted", None),
    "global_null_deref": ("rejected", "R1 invalid mem access 'mem_or_null'"),
    "global_bad_arg": ("rejected", "Caller passes invalid args into func#1 ('sum_pair')"),
    "global_test_1": ("accepted", None),
}


@pytest.mark.parametrize("name", sorted(GLOBAL_FUNCS))
def test_global_funcs_example(name: str) -> None:
    out = _model("global_funcs", name, 1 | 4)
    assert (out.verdict, out.error_line) == GLOBAL_FUNCS[name], out.log


def test_example_log_has_the_source_lines() -> None:
    out = _model("global_funcs", "global_calls", 2)
    lines = out.log.splitlines()
    assert "; return load_byte(skb, 0); @ global_funcs.bpf.c:33" in lines
    assert "Validating first_byte() func#1..." in lines
    assert "Func#1 ('first_byte') is safe for any args that match its prototype" in lines


@pytest.mark.kernel
@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("ex,name", _programs(), ids=[f"{e}:{n}" for e, n in _programs()])
def test_examples_against_host(ex: str, name: str, level: int) -> None:
    """Whole logs at level 1 and 2 (with statistics), BTF ids, addresses and call ids masked."""
    from emu.host.hostsys import HostSys
    from emu.libbpf.per_prog import verify_program

    h = HostSys()
    try:
        host = verify_program(str(ROOT / "examples" / f"{ex}.bpf.o"), name, kernel=h, log_level=level | 4)
    finally:
        h.close_all()
    ours = _model(ex, name, level | 4)
    assert host.modelled, (host.verdict, host.libbpf, host.detail)
    assert (ours.verdict, ours.errno) == (host.verdict, host.errno)
    assert comparable_log(ours.log) == comparable_log(host.log)
