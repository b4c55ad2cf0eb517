"""Whole programs through the model: the kernel's verdicts, errnos and messages.

The classic table of verifier cases (root and CAP_BPF-only), the
complexity limit, the CFG checks, bpf-to-bpf calls, bounded loops and the
reference rules of acquiring/releasing kfuncs. Expected texts are the host
kernel's (oracle note, or loads made while writing these tests).
"""

from __future__ import annotations

import errno as E

import pytest

import verifier.analyzer as analyzer
from emu.kernel import Kernel
from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from kernel_model.insn import Insn
from kernel_model.modules import Kfunc, ModuleSpec
from verifier import VerifierEnv, verify

CLASSIC = [  # (program, root answer, CAP_BPF-only answer); None = accepted
    ("exit", (E.EACCES, "R0 !read_ok"), (E.EACCES, "R0 !read_ok")),
    ("r1 = 0\nr0 = *(u8 *)(r1 +0)\nexit", (E.EACCES, "R1 invalid mem access 'scalar'"),
     (E.EACCES, "R1 invalid mem access 'scalar'")),
    ("r0 = 0\nexit\nr0 = 1\nexit", (E.EINVAL, "unreachable insn 2"), (E.EINVAL, "unreachable insn 2")),
    ("r0 = 0\ngoto -1\nexit", (E.EINVAL, "unreachable insn 2"), (E.EINVAL, "unreachable insn 2")),
    ("r0 = 0\nl: if r0 == 0 goto l\nexit", (E.EINVAL, "old state: R0=P0 R1=ctx() R10=fp0"),
     (E.EINVAL, "old state: R0=P0 R1=ctx() R10=fp0")),
    ("r1 = 0\ncall bpf_map_lookup_elem\nexit", (E.EACCES, "R1 type=scalar expected=map_ptr"),
     (E.EACCES, "R1 type=scalar expected=map_ptr")),
    ("goto +5\nexit", (E.EINVAL, "jump out of range from insn 0 to 6"),
     (E.EINVAL, "jump out of range from insn 0 to 6")),
    ("r10 = 0\nexit", (E.EACCES, "frame pointer is read only"), (E.EACCES, "frame pointer is read only")),
    ("*(u64 *)(r10 +8) = 0\nexit", (E.EACCES, "invalid write to stack R10 off=8 size=8"),
     (E.EACCES, "invalid write to stack R10 off=8 size=8")),
    ("r0 = *(u64 *)(r10 -8)\nexit", None, (E.EACCES, "invalid read from stack R10 off=-8 size=8")),
    (".raw 0x00000000000000ff\nexit", (E.EINVAL, "unknown opcode ff"), (E.EINVAL, "unknown opcode ff")),
    ("r0 = r5\nexit", (E.EACCES, "R5 !read_ok"), (E.EACCES, "R5 !read_ok")),
    ("r0 = 1\nr1 = 2", (E.EINVAL, "last insn is not an exit or jmp"),
     (E.EINVAL, "last insn is not an exit or jmp")),
    ("r0 = r1\nexit", None, (E.EACCES, "R0 leaks addr as return value")),
    ("r0 = 0\nl: r0 += 1\nif r0 < 10 goto l\nexit", None, (E.EINVAL, "infinite loop detected at insn 1")),
]


@pytest.mark.parametrize("asm,root,unpriv", CLASSIC, ids=[c[0].replace("\n", "; ") for c in CLASSIC])
def test_classic_cases(asm: str, root, unpriv) -> None:
    for privileged, want in ((True, root), (False, unpriv)):
        r = verify(assemble(asm), VerifierEnv(privileged=privileged))
        if want is None:
            assert r.accepted, r.log
            continue
        errno, line = want
        assert not r.accepted
        assert r.errno == errno, r.log
        assert line in r.log, r.log


def test_infinite_loop_report_is_the_kernels() -> None:
    r = verify(assemble("r0 = 0\nl: if r0 == 0 goto l\nexit"), VerifierEnv())
    assert r.log.splitlines()[-4:-1] == ["infinite loop detected at insn 1", "cur state: R0=0 R1=ctx() R10=fp0",
                                         "old state: R0=P0 R1=ctx() R10=fp0"]


def test_unprivileged_loop_widening_line() -> None:
    """oracle section 6, CAP_BPF only: the precise-everything path stops at a repeated state."""
    r = verify(assemble("r0 = 0\nl: r0 += 1\nif r0 < 10 goto l\nexit"), VerifierEnv(privileged=False))
    assert "cur state: R0=scalar(smin=umin=smin32=umin32=7,smax=umax=smax32=umax32=9,var_off=(0x0; 0xf))" \
        in r.log


def test_complexity_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 1M processed-instruction limit, scaled down so the test stays fast: the
    kernel's message and E2BIG come from the same check."""
    assert analyzer.BPF_COMPLEXITY_LIMIT_INSNS == 1_000_000
    monkeypatch.setattr(analyzer, "BPF_COMPLEXITY_LIMIT_INSNS", 1000)
    r = verify(assemble("r0 = 0\nl: r0 += 1\nif r0 < 100000 goto l\nexit"), VerifierEnv())
    assert (r.accepted, r.errno) == (False, E.E2BIG)
    assert r.error_line == "BPF program is too large. Processed 1001 insn"


def test_bounded_loop_is_walked_to_its_end() -> None:
    r = verify(assemble("r0 = 0\nl: r0 += 1\nif r0 < 1000 goto l\nexit"), VerifierEnv())
    assert r.accepted
    assert r.processed == 2002  # oracle section 5: loop(1000) processes 2,002 insns


def test_subprograms_stack_depth_and_log() -> None:
    prog = assemble("""
        r1 = 7
        call f
        exit
    f:
        *(u64 *)(r10 -16) = r1
        r0 = *(u64 *)(r10 -16)
        exit
    """)
    r = verify(prog, VerifierEnv(), log_level=2)
    assert r.accepted, r.log
    assert r.subprog_starts == [0, 3]
    assert r.stack_depth == [0, 16]
    assert "func#1 @3" in r.log
    assert "caller:\n R10=fp0\ncallee:\n frame1: R1=7 R10=fp0\n" in r.log
    assert "returning from callee:\n frame1: R0=7 R1=7 R10=fp0 fp-16=7\nto caller at 2:\n R0=7 R10=fp0\n" in r.log


def test_call_into_the_middle_of_nowhere() -> None:
    r = verify([Insn(0x85, 0, 1, 0, 5), Insn(0x95)], VerifierEnv())
    assert (r.errno, r.error_line) == (E.EINVAL, "call to invalid destination")


def test_map_value_null_check_splits_the_states() -> None:
    """The level-2 log the host printed for this program (map named m, address masked)."""
    asm = ("r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = m ll\ncall bpf_map_lookup_elem\n"
           "if r0 == 0 goto out\nr1 = *(u64 *)(r0 +0)\nout:\nr0 = 0\nexit\n")
    insns, env = program_env(assemble(asm, symbols=symbols_for(["m=hash:8:8:1"])), maps=["m=hash:8:8:1"])
    r = verify(insns, env, log_level=2)
    assert r.accepted
    lines = r.log.splitlines()
    assert lines[lines.index("0: R1=ctx() R10=fp0") + 6:] == [
        "6: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,map=m,ks=8,vs=8)",
        "7: (15) if r0 == 0x0 goto pc+1        ; R0=map_value(map=m,ks=8,vs=8)",
        "8: (79) r1 = *(u64 *)(r0 +0)          ; R0=map_value(map=m,ks=8,vs=8) R1=scalar()",
        "9: (b7) r0 = 0                        ; R0=0",
        "10: (95) exit",
        "(0) frame 0 insn 6 +live -8 ",
        "(0) frame 0 insn 1 +written -8 ",
        "(0) frame 0 insn 0 +written -8 ",
        "(0) live stack update done in 2 iterations",
        "",
        "from 7 to 9: safe",
        "processed 11 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0",
    ]


# --- kfuncs with references ------------------------------------------------------------------

def _refmod_kernel() -> Kernel:
    """A test module whose kfuncs acquire and release a reference (KF_ACQUIRE|KF_RET_NULL,
    KF_RELEASE), the way bpf_testmod's bpf_kfunc_call_test_acquire/release do."""
    k = Kernel()
    k.load_module(ModuleSpec("refmod", """
        struct refobj { int a; int b; };
        struct refobj *refmod_acquire(void);
        void refmod_release(struct refobj *p);
    """, kfuncs=(Kfunc("refmod_acquire", lambda *a: 0, frozenset({"KF_ACQUIRE", "KF_RET_NULL"})),
                 Kfunc("refmod_release", lambda *a: 0, frozenset({"KF_RELEASE"})))))
    return k


def _verify_with(k: Kernel, asm: str):  # type: ignore[no-untyped-def]
    syms = {e.name: e.btf_id for e in k.kfuncs.entries}
    insns = assemble(asm, symbols=syms)
    mod_btf = next(e.btf for e in k.kfuncs.entries if e.name == "refmod_acquire")
    insns = [Insn(i.code, i.dst, i.src, 1, i.imm) if i.code == 0x85 and i.src == 2 else i for i in insns]
    env = VerifierEnv(kfuncs=k.kfuncs, vmlinux_btf=k.btf, fd_array=(None, mod_btf))
    return verify(insns, env)


def test_acquired_reference_must_be_released() -> None:
    k = _refmod_kernel()
    leak = _verify_with(k, "call refmod_acquire\nif r0 == 0 goto out\nr1 = *(u32 *)(r0 +4)\nout:\nr0 = 0\nexit")
    # the host's answer for the same shape with bpf_cpumask_create (KF_ACQUIRE | KF_RET_NULL)
    assert "0: (85) call refmod_acquire#" in leak.log
    assert "; R0=ptr_or_null_refobj(id=2,ref_obj_id=2) refs=2\n" in leak.log
    assert "1: (15) if r0 == 0x0 goto pc+1        ; R0=ptr_refobj(ref_obj_id=2) refs=2\n" in leak.log
    assert leak.log.splitlines()[-3:-1] == ["Unreleased reference id=2 alloc_insn=0",
                                            "BPF_EXIT instruction in main prog would lead to reference leak"]
    assert leak.errno == E.EINVAL
    ok = _verify_with(k, "call refmod_acquire\nif r0 == 0 goto out\nr1 = r0\ncall refmod_release\n"
                         "out:\nr0 = 0\nexit")
    assert ok.accepted, ok.log


def test_maybe_null_kfunc_result_must_be_checked() -> None:
    r = _verify_with(_refmod_kernel(), "call refmod_acquire\nr1 = *(u32 *)(r0 +0)\nr0 = 0\nexit")
    assert (r.errno, r.error_line) == (E.EACCES, "R0 invalid mem access 'ptr_or_null_'")


def test_unknown_kfunc_id() -> None:
    r = verify([Insn(0x85, 0, 2, 0, 999999), Insn(0xB7), Insn(0x95)], VerifierEnv(vmlinux_btf=Kernel().btf))
    assert (r.errno, r.error_line) == (E.EINVAL, "kernel btf_id 999999 is not a function")


def test_log_buffer_overflow_is_enospc() -> None:
    """bpf_vlog_finalize: a log larger than attr.log_size fails the load with ENOSPC and
    keeps the tail (the host gives the same text for log_size 128, 200, 400)."""
    prog = assemble("r0 = 0\nr1 = 1\nr2 = 2\nexit")
    full = verify(prog, VerifierEnv(), log_level=2)
    assert full.accepted and len(full.log) > 400
    for size in (128, 200, 400):
        r = verify(prog, VerifierEnv(log_size=size), log_level=2)
        assert (r.accepted, r.errno) == (False, E.ENOSPC)
        assert r.log == full.log[-(size - 1):]
    # level 1: the trace of the accepted walk is reset away, but it was the log at its
    # longest (168 characters and the NUL; the host's log_true_size is the same,
    # tests/verifier/test_log_buffer.py): a buffer of 168 bytes is ENOSPC, 169 loads
    # and holds the statistics line only. 6.18 has no minimum size (older kernels: 128).
    short, fits = (verify(prog, VerifierEnv(log_size=n), log_level=1) for n in (168, 169))
    assert (short.errno, short.log_true_size, fits.accepted, fits.log_true_size) == (E.ENOSPC, 169, True, 169)
    assert fits.log == short.log == full.log.splitlines(True)[-1]


def test_insn_aux_for_later_stages() -> None:
    """What BPF_PROG_LOAD hands to the fixups and the JIT: helper ids, subprogram
    targets, map specs of lddw, the pointer type of each memory access, ctx field
    sizes, and which slots were reached."""
    asm = ("r6 = r1\nr1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = m ll\n"
           "call bpf_map_lookup_elem\nr0 = *(u8 *)(r6 +0)\ncall f\nexit\nr0 = 1\nexit\nf:\nr0 = 0\nexit\n")
    insns, env = program_env(assemble(asm, symbols=symbols_for(["m=array:4:8:1"])), maps=["m=array:4:8:1"])
    insns = [i for i in insns]
    r = verify(insns, env)
    assert not r.accepted and r.error_line == "unreachable insn 11"  # r0 = 1 after the first exit
    asm = asm.replace("exit\nr0 = 1\nexit\n", "exit\n")
    insns, env = program_env(assemble(asm, symbols=symbols_for(["m=array:4:8:1"])), maps=["m=array:4:8:1"])
    r = verify(insns, env)
    assert r.accepted, r.log
    aux = r.insn_aux
    assert aux[5].map is env.maps[0]
    assert aux[7].helper_id == 1
    assert aux[8].ptr_type == 2 and aux[8].ctx_field_size == 4  # PTR_TO_CTX; __sk_buff.len is a u32
    assert aux[2].ptr_type == 6  # PTR_TO_STACK
    assert aux[9].subprog == 1
    assert all(a.seen for k, a in enumerate(aux) if k != 6)  # slot 6 is lddw's second half


_LOOKUP = ("r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = m ll\ncall bpf_map_lookup_elem\n"
           "if r0 == 0 goto out\nr6 = r0\ncall bpf_get_prandom_u32\nr1 = r0\nr0 = r6\n")
_DEREF = "r0 = *(u8 *)(r0 +0)\nout:\nr0 = 0\nexit\n"


@pytest.mark.parametrize("body,line", [
    ("r1 &= 7\nr1 -= 3\nr0 += r1\n",
     "R1 has unknown scalar with mixed signed bounds, pointer arithmetic with it prohibited for !root"),
    ("r1 &= 7\nr0 += 48\nr0 += r1\n", "R0 pointer arithmetic of map value goes out of range, prohibited for !root"),
    ("r1 &= 7\nr2 = r10\nr2 += -8\nif r1 > 3 goto +1\nr0 = r2\nr0 += r1\n",
     "R0 variable stack access prohibited for !root, var_off=(0x0; 0x3) off=-8"),
    ("r1 &= 7\nr0 += r1\n", None),
    ("r1 &= 7\nif r1 > 3 goto +2\nr0 += r1\ngoto +1\nr0 += 4\n", None),
])
def test_unprivileged_pointer_arithmetic_sanitation(body: str, line: str | None) -> None:
    """sanitize_ptr_alu / sanitize_check_bounds for a CAP_BPF-only load; every answer is
    the host's (checked with a capability-dropped load while writing the test)."""
    m = "m=array:4:48:1"
    insns, env = program_env(assemble(_LOOKUP + body + _DEREF, symbols=symbols_for([m])), maps=[m], unpriv=True)
    r = verify(insns, env)
    assert r.error_line == line, r.log
    if line is None:
        assert r.accepted
        add = next(k for k, a in enumerate(r.insn_aux) if a.alu_state)
        assert insns[add].code == 0x0F  # the masked r0 += r1 carries its alu_state for the fixups
