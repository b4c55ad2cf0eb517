"""`structops demo` (what `make demo` runs): every step runs and shows the objects the
issue asks for, produced by the emulated kernel in that run."""

from __future__ import annotations

import time

from tests.emu.test_cli import structops


def test_demo_runs_every_step_quickly_and_shows_its_objects():
    t0 = time.perf_counter()
    r = structops("demo")
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert elapsed < 60
    # 2. pages: latest vs 6.8 and the E2BIG point
    assert "many_ops (40 x int (*)(int)) on 6.8 (limit 1 page(s))" in out
    assert "E2BIG: trampolines of many_ops need more than 1 page(s): op_24 does not fit" in out
    # 3. a program through bpf(): verifier log, test run, the trampoline listing
    assert "R1=trusted_ptr_or_null_bpf_dummy_ops_state(id=1)" in out
    assert "retval 42, state copied back: val 42" in out
    assert "call 0x" in out and "; __bpf_prog_enter" in out and "; struct bpf_prog *" in out
    # 4. nullable: refused on latest, an oops on 6.8
    assert "BPF_PROG_LOAD refused, -EACCES: R1 invalid mem access 'trusted_ptr_or_null_'" in out
    assert "BUG: kernel NULL pointer dereference, address: 0000000000000000" in out
    # 5. a module's type: page map, reg() calling the programs, the pin
    assert "bpf__bpf_testmod_ops_test_1" in out and "test_2 stored 17 (4 + 13)" in out
    assert "rmmod bpf_testmod: -EWOULDBLOCK" in out and "rmmod bpf_testmod: unloaded" in out
    #    and on 6.8 no module may register a struct_ops type
    assert "modules cannot register struct_ops on this kernel" in out
    assert "registered struct_ops types: bpf_dummy_ops, tcp_congestion_ops\n" in out
    # 6. the kfunc of two modules
    assert "bpf_kfunc_common_test(42) = 1042" in out and "bpf_kfunc_common_test(42) = 2042" in out


def test_demo_steps_can_be_chosen():
    r = structops("demo", "kfunc")
    assert r.returncode == 0 and "6. A kfunc two modules provide" in r.stdout
    assert "1. A BPF program" not in r.stdout
