"""Issue 10: sign-extending fills and moves, and the scalar ids they keep or drop.

A fill copies the spilled register's scalar id (check_stack_read_fixed_off ->
copy_register_state); a sign-extending fill then changes the value, and a bound
learnt on that copy must not reach the original. The model once kept the id, so
a branch on ``r9 = *(s32 *)(r10 -8)`` narrowed the original r8 in [0, U32_MAX]
to [-512, -1] and ``r10 + r8`` passed as a stack write (an out-of-stack write
in the emulator). The family: s8/s16/s32 fills from 4- and 8-byte spills of a
value from a helper or from packet metadata; with CAP_BPF only, a branch that
hides a pointer return (the host: ``R0 leaks addr as return value``).

Each program is compared with the host's ``BPF_PROG_LOAD`` (``kernel`` mark),
and the host's verdict and message, captured on the 6.18.44 host (verifier
text: nothing CPU-dependent), are asserted on the model where there is no oracle.
"""

from __future__ import annotations

import errno as E

import pytest

from emu.host.hostbpf import comparable_log
from emu.host.verdict import host_load
from emu.kernel.harness import program_env
from kernel_model.asm import assemble
from verifier import verify

ISSUE = """call bpf_get_prandom_u32
w8 = w0
*(u32 *)(r10 -8) = r8
r9 = *(s32 *)(r10 -8)
if r9 s> -1 goto out
if r9 s< -512 goto out
r2 = r10
r2 += r8
*(u8 *)(r2 +0) = 0
out:
r0 = 0
exit
"""

LEAK = """call bpf_get_prandom_u32
w8 = w0
*(u32 *)(r10 -8) = r8
r9 = *(s32 *)(r10 -8)
if r9 s> -1 goto out
if r9 s< -512 goto out
if r8 s< 0 goto out
r0 = r10
exit
out:
r0 = 0
exit
"""

SOURCES = {"helper": "call bpf_get_prandom_u32\nw8 = w0", "packet": "r8 = *(u32 *)(r1 +0)"}


def family(source: str, spill: int, fill: int) -> str:
    """The issue's shape with an s``fill`` fill of a u``spill`` spill; the value is masked
    to the fill's width so that the narrowing-fill rule does not already drop the id."""
    mask = {8: "w8 &= 0xff\n", 16: "w8 &= 0xffff\n", 32: ""}[fill]
    lo = -128 if fill == 8 else -512
    return (f"{SOURCES[source]}\n{mask}*(u{spill} *)(r10 -8) = r8\nr9 = *(s{fill} *)(r10 -8)\n"
            f"if r9 s> -1 goto out\nif r9 s< {lo} goto out\nr2 = r10\nr2 += r8\n*(u8 *)(r2 +0) = 0\n"
            "out:\nr0 = 0\nexit\n")


def expected(fill: int, unpriv: bool) -> str:
    """The host's message for :func:`family` (captured on the 6.18.44 host)."""
    var = {8: "0xff", 16: "0xffff", 32: "0xffffffff"}[fill]
    if unpriv:
        return f"R2 variable stack access prohibited for !root, var_off=(0x0; {var}) off=0"
    if fill == 32:
        return "invalid unbounded variable-offset write to stack R2"
    return f"invalid variable-offset write to stack R2 var_off=(0x0; {var}) off=0 size=1"


CASES = [(family(src, spill, fill), unpriv, False, E.EACCES, expected(fill, unpriv))
         for src in SOURCES for spill in (32, 64) for fill in (8, 16, 32) for unpriv in (False, True)]
CASES += [(ISSUE, False, False, E.EACCES, "invalid unbounded variable-offset write to stack R2"),
          (LEAK, False, True, 0, None),
          (LEAK, True, False, E.EACCES, "R0 leaks addr as return value")]
IDS = [f"{'unpriv' if c[1] else 'root'}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("text,unpriv,accepted,err,line", CASES, ids=IDS)
def test_issue_family_matches_host_verdict(text: str, unpriv: bool, accepted: bool, err: int,
                                           line: str | None) -> None:
    insns, env = program_env(assemble(text), unpriv=unpriv)
    r = verify(insns, env, log_level=1)
    assert (r.accepted, r.errno, r.error_line) == (accepted, err, line), r.log


@pytest.mark.kernel
@pytest.mark.parametrize("text,unpriv", [(c[0], c[1]) for c in CASES], ids=IDS)
def test_issue_family_against_host(text: str, unpriv: bool) -> None:
    insns, env = program_env(assemble(text), unpriv=unpriv)
    env.log_size = 16 << 20
    ours = verify(insns, env, log_level=2)
    host = host_load(insns, env, 2)
    assert (ours.accepted, ours.errno) == (host.accepted, host.errno)
    assert comparable_log(ours.log) == comparable_log(host.log)


# --- sign extension's precision: the state lines the host prints -------------------------------

def _state_of(log: str, insn_prefix: str, reg: str) -> str:
    """``Rn=...`` after the ``;`` of the first log line starting with ``insn_prefix``."""
    line = next(ln for ln in log.splitlines() if ln.startswith(insn_prefix))
    state = line.split(";", 1)[1]
    start = state.index(f"{reg}=") + len(reg) + 1
    depth, i = 0, start
    while i < len(state) and (depth or state[i] != " "):
        depth += state[i] == "("
        depth -= state[i] == ")"
        i += 1
    return state[start:i]


PRECISION = [
    # (s32) and *(s32 *) of a value whose 32-bit signed bounds are known keep them
    ("call bpf_get_prandom_u32\nr0 &= 0xffff\nr0 -= 0x8000\nr9 = (s32)r0\nr0 = 0\nexit\n",
     "3: (bf) r9 = (s32)r0", "R9", "scalar(smin=smin32=-32768,smax=smax32=32767)"),
    ("call bpf_get_prandom_u32\nr0 &= 0xffff\nr0 -= 0x8000\n*(u64 *)(r10 -8) = r0\nr9 = *(s32 *)(r10 -8)\n"
     "r0 = 0\nexit\n", "4: (81) r9 = *(s32 *)(r10 -8)", "R9", "scalar(smin=smin32=-32768,smax=smax32=32767)"),
    # (s16) of a value already in [-128, 127] (the hypothesis test's r0 = (s8)r6; r0 = (s16)r0)
    ("call bpf_get_prandom_u32\nr6 = r0\nr6 = (s8)r6\nr0 = (s16)r6\nr0 = 0\nexit\n",
     "3: (bf) r0 = (s16)r6", "R0", "scalar(smin=smin32=-128,smax=smax32=127)"),
    # a constant low word sign-extends to a constant whatever the high word
    ("call bpf_get_prandom_u32\nr0 <<= 32\nr0 |= 5\nr9 = (s8)r0\nr0 = 0\nexit\n",
     "3: (bf) r9 = (s8)r0", "R9", "5"),
    # a range across zero keeps the u32 bounds of the unchanged low word
    ("call bpf_get_prandom_u32\nr7 = r0\nr7 &= -128\nr7 = (s32)r7\nr0 = 0\nexit\n",
     "3: (bf) r7 = (s32)r7", "R7",
     "scalar(smin=0xffffffff80000000,smax=smax32=0x7fffff80,umax=0xffffffffffffff80,umax32=0xffffff80)"),
    # an s8 fill of [0, 255] is a new value: no id; of [0, 127] the same value: id kept
    ("call bpf_get_prandom_u32\nr0 &= 0xff\n*(u64 *)(r10 -8) = r0\nr9 = *(s8 *)(r10 -8)\nr0 = 0\nexit\n",
     "3: (91) r9 = *(s8 *)(r10 -8)", "R9", "scalar(smin=smin32=-128,smax=smax32=127)"),
    ("call bpf_get_prandom_u32\nr0 &= 0x7f\n*(u64 *)(r10 -8) = r0\nr9 = *(s8 *)(r10 -8)\nr0 = 0\nexit\n",
     "3: (91) r9 = *(s8 *)(r10 -8)", "R9", "scalar(id=1,smin=smin32=0,smax=umax=smax32=umax32=127,var_off=(0x0; 0x7f))"),
    # wX = (s8)wY has no such rule on the host
    ("call bpf_get_prandom_u32\nr0 &= 7\nr0 -= 3\nw7 = (s8)w0\nr0 = 0\nexit\n",
     "3: (bc) w7 = (s8)w0", "R7", "scalar(smin=0,smax=umax=0xffffffff,smin32=-128,smax32=127,var_off=(0x0; 0xffffffff))"),
]


@pytest.mark.parametrize("text,insn,reg,state", PRECISION, ids=[p[1] for p in PRECISION])
def test_sign_extension_state_is_the_hosts(text: str, insn: str, reg: str, state: str) -> None:
    r = verify(assemble(text), program_env(assemble(text))[1], log_level=2)
    assert _state_of(r.log, insn, reg) == state, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("text", [p[0] for p in PRECISION], ids=[p[1] for p in PRECISION])
def test_sign_extension_against_host(text: str) -> None:
    insns, env = program_env(assemble(text))
    env.log_size = 16 << 20
    assert comparable_log(verify(insns, env, log_level=2).log) == comparable_log(host_load(insns, env, 2).log)
