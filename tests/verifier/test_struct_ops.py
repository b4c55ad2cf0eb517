"""struct_ops programs: a table of programs, on the model and on the host.

Each row is a program, the member it attaches to and what a 6.18 host
kernel answered when the table was written (BPF_PROG_LOAD): verdict, errno
and the key log lines. :func:`test_row` checks the model against the
documented answer; :func:`test_row_against_host` (``kernel`` mark) loads the
same program into the host kernel (attach_btf_id from the host's BTF, nothing
attached) and requires the same verdict, errno and last line, BTF ids masked.
"""

from __future__ import annotations

import errno as E
import re
from dataclasses import dataclass, field

import pytest

from emu.host.verdict import host_load
from emu.kernel.harness import program_env
from kernel_model.asm import assemble
from kernel_model.errors import ENOTSUPP, InputError
from kernel_model.profile import get_profile
from verifier import VerifyResult, verify

STATS_RE = re.compile(r"processed (\d+) insns")

DEREF = "r1 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r1 +0)\nexit"
CHECKED = "r1 = *(u64 *)(r1 +0)\nr0 = 0\nif r1 == 0 goto out\nr0 = *(u32 *)(r1 +0)\nout:\nexit"
INC = ("r1 = *(u64 *)(r1 +0)\nif r1 == 0 goto out\nr2 = *(u32 *)(r1 +0)\nr2 += 1\n*(u32 *)(r1 +0) = r2\n"
       "out:\nr0 = 0\nexit")


@dataclass(frozen=True)
class Row:
    name: str
    asm: str
    attach: str
    accepted: bool
    errno: int = 0
    lines: tuple[str, ...] = ()          # lines the log must contain, in order
    flags: int = 0
    license: str = "GPL"
    member_index: int | None = None     # override the member index (invalid members)
    attach_btf: str | None = None       # attach to another struct's BTF id ("" = id 0)
    unpriv: bool = False
    host: bool = True                   # the host can check this row (capabilities not dropped)
    extra: dict[str, int] = field(default_factory=dict)


ROWS = [
    Row("test_1 deref without NULL check", DEREF, "bpf_dummy_ops:test_1", False, E.EACCES,
        ("0: (79) r1 = *(u64 *)(r1 +0)          ; R1=trusted_ptr_or_null_bpf_dummy_ops_state(id=1)",
         "R1 invalid mem access 'trusted_ptr_or_null_'")),
    Row("test_1 deref after the check", CHECKED, "bpf_dummy_ops:test_1", True,
        lines=("processed 6 insns",)),
    Row("test_2 deref arg0 without check (not nullable)", DEREF, "bpf_dummy_ops:test_2", True,
        lines=("processed 3 insns",)),
    Row("test_sleepable deref arg0 without check", DEREF, "bpf_dummy_ops:test_sleepable", True),
    Row("test_1 cb->val += 1 after the check", INC, "bpf_dummy_ops:test_1", True),
    Row("test_1 write past the 4-byte state",
        "r1 = *(u64 *)(r1 +0)\nif r1 == 0 goto out\n*(u32 *)(r1 +4) = 1\nout:\nr0 = 0\nexit",
        "bpf_dummy_ops:test_1", False, E.EACCES, ("write access at off 4 with size 4",)),
    Row("test_1 reads ctx arg #1", "r2 = *(u64 *)(r1 +8)\nr0 = 0\nexit", "bpf_dummy_ops:test_1", False,
        E.EACCES, ("func 'test_1' doesn't have 2-th argument", "invalid bpf_context access off=8 size=8")),
    Row("test_2 reads ctx arg #4", "r2 = *(u64 *)(r1 +32)\nr0 = 0\nexit", "bpf_dummy_ops:test_2", True),
    Row("test_2 reads ctx arg #5", "r2 = *(u64 *)(r1 +40)\nr0 = 0\nexit", "bpf_dummy_ops:test_2", False,
        E.EACCES, ("func 'test_2' doesn't have 6-th argument", "invalid bpf_context access off=40 size=8")),
    Row("test_1 4-byte read of pointer arg 0", "r2 = *(u32 *)(r1 +0)\nr0 = 0\nexit", "bpf_dummy_ops:test_1",
        False, E.EACCES, ("func 'test_1' size 4 must be 8", "invalid bpf_context access off=0 size=4")),
    Row("member index 3", "r0 = 0\nexit", "bpf_dummy_ops:test_1", False, E.EINVAL,
        ("attach to invalid member idx 3 of struct bpf_dummy_ops",), member_index=3),
    Row("member index 1000", "r0 = 0\nexit", "bpf_dummy_ops:test_1", False, E.EINVAL,
        ("attach to invalid member idx 1000 of struct bpf_dummy_ops",), member_index=1000),
    Row("tcp_congestion_ops member 11 (name)", "r0 = 0\nexit", "tcp_congestion_ops:ssthresh", False, E.EINVAL,
        ("attach to invalid member name(@idx 11) of struct tcp_congestion_ops",), member_index=11),
    Row("attach_btf_id names bpf_dummy_ops_state", "r0 = 0\nexit", "bpf_dummy_ops:test_1", False, ENOTSUPP,
        ("attach_btf_id N is not a supported struct",), attach_btf="bpf_dummy_ops_state"),
    Row("attach_btf_id 0", "r0 = 0\nexit", "bpf_dummy_ops:test_1", False, ENOTSUPP, (), attach_btf=""),
    Row("return the ctx pointer from an int member", "r0 = r1\nexit", "bpf_dummy_ops:test_1", True),
    Row("return the state pointer from an int member", "r0 = *(u64 *)(r1 +0)\nexit", "bpf_dummy_ops:test_2",
        True),
    Row("R0 never written, int member", "exit", "bpf_dummy_ops:test_1", False, E.EACCES, ("R0 !read_ok",)),
    Row("R0 never written, void member", "exit", "tcp_congestion_ops:init", True),
    Row("R0 never written, u32 member", "exit", "tcp_congestion_ops:ssthresh", False, E.EACCES,
        ("R0 !read_ok",)),
    Row("license Proprietary", "r0 = 0\nexit", "bpf_dummy_ops:test_1", False, E.EINVAL,
        ("struct ops programs must have a GPL compatible license",), license="Proprietary"),
    Row("test_1 with BPF_F_SLEEPABLE", "r0 = 0\nexit", "bpf_dummy_ops:test_1", False, E.EINVAL,
        ("attach to unsupported member test_1 of struct bpf_dummy_ops",), flags=1 << 4),
    Row("test_sleepable with BPF_F_SLEEPABLE", "r0 = 0\nexit", "bpf_dummy_ops:test_sleepable", True,
        flags=1 << 4),
    Row("helper from a bpf_dummy_ops program", "call bpf_ktime_get_ns\nr0 = 0\nexit", "bpf_dummy_ops:test_1",
        False, E.EINVAL, ("program of this type cannot use helper bpf_ktime_get_ns#5",)),
    Row("the same helper from tcp_congestion_ops.ssthresh", "call bpf_ktime_get_ns\nr0 = 0\nexit",
        "tcp_congestion_ops:ssthresh", True),
    Row("struct_ops without CAP_PERFMON/CAP_SYS_ADMIN", "r0 = 0\nexit", "bpf_dummy_ops:test_1", False, E.EPERM,
        (), unpriv=True, host=False),
]


def build(row: Row, profile: str = "latest") -> tuple[list, object]:
    insns, env = program_env(assemble(row.asm), attach=row.attach, profile=get_profile(profile), flags=row.flags,
                             license=row.license, unpriv=row.unpriv)
    if row.member_index is not None:
        env.expected_attach_type = row.member_index
    if row.attach_btf is not None:
        env.attach_btf_id = env.attach_btf.find(row.attach_btf) if row.attach_btf else 0
    return insns, env


def _mask(line: str | None) -> str | None:
    return None if line is None else re.sub(r"attach_btf_id \d+", "attach_btf_id N", line)


def _contains_in_order(log: str, lines: tuple[str, ...]) -> bool:
    pos = 0
    masked = _mask(log) or ""
    for want in lines:
        k = masked.find(want, pos)
        if k < 0:
            return False
        pos = k + len(want)
    return True


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_row(row: Row) -> None:
    insns, env = build(row)
    r: VerifyResult = verify(insns, env, log_level=1)
    assert r.accepted == row.accepted, r.log
    assert r.errno == row.errno
    assert _contains_in_order(r.log, row.lines), r.log
    if row.errno == E.EPERM or (row.errno == ENOTSUPP and not row.lines):
        assert r.log.strip() == "" or r.log.startswith("processed ")


def test_accepted_nullable_log_at_level_2_is_the_kernels() -> None:
    """The full level-2 log the host printed (6.18, BPF_PROG_LOAD at log level 2), statistics included."""
    insns, env = build(ROWS[1])
    r = verify(insns, env, log_level=2)
    assert r.log == """func#0 @0
Live regs before insn:
      0: .1........ (79) r1 = *(u64 *)(r1 +0)
      1: .1........ (b7) r0 = 0
      2: 01........ (15) if r1 == 0x0 goto pc+1
      3: .1........ (61) r0 = *(u32 *)(r1 +0)
      4: 0......... (95) exit
0: R1=ctx() R10=fp0
0: (79) r1 = *(u64 *)(r1 +0)          ; R1=trusted_ptr_or_null_bpf_dummy_ops_state(id=1)
1: (b7) r0 = 0                        ; R0=0
2: (15) if r1 == 0x0 goto pc+1        ; R1=trusted_ptr_bpf_dummy_ops_state()
3: (61) r0 = *(u32 *)(r1 +0)          ; R0=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff)) \
R1=trusted_ptr_bpf_dummy_ops_state()
4: (95) exit

from 2 to 4: R0=0 R1=0 R10=fp0
4: R0=0 R1=0 R10=fp0
4: (95) exit
processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


def test_profile_6_8_has_no_nullable_arguments() -> None:
    """Before 6.9 (__nullable, commit 1611603537a4) test_1's argument was a plain trusted
    pointer: the unchecked dereference is accepted on the 6.8 profile."""
    insns, env = build(ROWS[0], profile="6.8")
    r = verify(insns, env, log_level=1)
    assert r.accepted, r.log
    insns, env = build(ROWS[0], profile="6.9")
    assert not verify(insns, env).accepted


def test_unknown_attach_target_is_bad_input() -> None:
    with pytest.raises(InputError):
        program_env(assemble("r0 = 0\nexit"), attach="bpf_dummy_ops:no_member")


@pytest.mark.kernel
@pytest.mark.parametrize("row", [r for r in ROWS if r.host], ids=[r.name for r in ROWS if r.host])
def test_row_against_host(row: Row) -> None:
    insns, env = build(row)
    ours = verify(insns, env, log_level=1)
    host = host_load(insns, env, log_level=1)
    assert (ours.accepted, ours.errno) == (host.accepted, host.errno), host.log
    assert _mask(ours.error_line) == _mask(host.error_line)
    assert STATS_RE.findall(ours.log) == STATS_RE.findall(host.log)
