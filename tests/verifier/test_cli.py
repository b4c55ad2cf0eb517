"""``structops verify``: the kernel's log on stdout, exit 0/1/2, one error line on bad input."""

from __future__ import annotations

import pytest

from emu.cli import main

NULL_DEREF = "r1 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r1 +0)\nexit\n"
NULL_CHECKED = "r1 = *(u64 *)(r1 +0)\nr0 = 0\nif r1 == 0 goto out\nr0 = *(u32 *)(r1 +0)\nout:\nexit\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["verify", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_accepted_socket_filter_prints_the_stats_line(tmp_path, capsys) -> None:
    f = tmp_path / "ok.s"
    f.write_text("r0 = 0\nexit\n")
    rc, out, err = run(capsys, str(f))
    assert (rc, err) == (0, "")
    assert out == "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"


def test_rejected_prints_the_log_and_exits_1(tmp_path, capsys) -> None:
    f = tmp_path / "bad.s"
    f.write_text("exit\n")
    rc, out, _ = run(capsys, str(f))
    assert rc == 1
    assert out.splitlines() == ["0: R1=ctx() R10=fp0", "0: (95) exit", "R0 !read_ok",
                                "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 "
                                "peak_states 0 mark_read 0"]


def test_raw_bytes_with_unknown_opcode_is_a_rejection_not_bad_input(tmp_path, capsys) -> None:
    f = tmp_path / "op.bin"
    f.write_bytes(bytes.fromhex("ff00000000000000" "9500000000000000"))
    rc, out, _ = run(capsys, str(f))
    assert rc == 1
    assert out.splitlines()[0] == "unknown opcode ff"


def test_struct_ops_nullable_argument(tmp_path, capsys) -> None:
    """On 6.18 (net/bpf/bpf_dummy_struct_ops.c) test_1's argument is __nullable on 6.18."""
    f = tmp_path / "n.s"
    f.write_text(NULL_DEREF)
    rc, out, _ = run(capsys, str(f), "--attach", "bpf_dummy_ops:test_1")
    assert rc == 1
    assert out.splitlines()[:4] == [
        "0: R1=ctx() R10=fp0",
        "0: (79) r1 = *(u64 *)(r1 +0)          ; R1=trusted_ptr_or_null_bpf_dummy_ops_state(id=1)",
        "1: (61) r0 = *(u32 *)(r1 +0)",
        "R1 invalid mem access 'trusted_ptr_or_null_'",
    ]
    f.write_text(NULL_CHECKED)
    rc, out, _ = run(capsys, str(f), "--attach", "bpf_dummy_ops:test_1", "--log-level", "2")
    assert rc == 0
    assert "2: (15) if r1 == 0x0 goto pc+1        ; R1=trusted_ptr_bpf_dummy_ops_state()" in out
    assert out.endswith("processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 "
                        "peak_states 0 mark_read 0\n")


def test_profile_6_8_does_not_enforce_nullable(tmp_path, capsys) -> None:
    f = tmp_path / "n.s"
    f.write_text(NULL_DEREF)
    rc, out, _ = run(capsys, str(f), "--attach", "bpf_dummy_ops:test_1", "--profile", "6.8")
    assert rc == 0, out


def test_maps_and_kfuncs_by_name(tmp_path, capsys) -> None:
    f = tmp_path / "m.s"
    f.write_text("r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = m ll\ncall bpf_map_lookup_elem\n"
                 "if r0 == 0 goto out\nr0 = *(u64 *)(r0 +8)\nout:\nr0 = 0\nexit\n")
    rc, out, err = run(capsys, str(f), "--map", "m=hash:8:16:4", "--stats")
    assert rc == 0, out
    assert err == "verdict: accepted; processed 11; stack depth 8; log_true_size 564\n"
    rc, out, _ = run(capsys, str(f), "--map", "m=hash:8:8:4")
    assert rc == 1
    assert "invalid access to map value, value_size=8 off=8 size=8" in out
    k = tmp_path / "k.s"
    k.write_text("r1 = 5\ncall bpf_kfunc_common_test\nr0 = 0\nexit\n")
    rc, out, _ = run(capsys, str(k), "--attach", "bpf_dummy_ops:test_2", "--log-level", "2")
    assert rc == 0, out
    assert "call bpf_kfunc_common_test#" in out


@pytest.mark.parametrize("argv,message", [
    (["--attach", "bpf_dummy_ops"], "expected TYPE:MEMBER"),
    (["--attach", "no_such_ops:x"], "no registered struct_ops type 'no_such_ops'"),
    (["--attach", "bpf_dummy_ops:nope"], "struct bpf_dummy_ops has no member 'nope'"),
    (["--prog-type", "xdp_like"], "'xdp_like' is not a program type"),
    (["--prog-type", "socket_filter", "--attach", "bpf_dummy_ops:test_1"], "is for struct_ops programs"),
    (["--map", "m=hash:8"], "expected NAME=TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES"),
    (["--flags", "warp_speed"], "unknown program flag 'warp_speed'"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, argv, message) -> None:
    f = tmp_path / "ok.s"
    f.write_text("r0 = 0\nexit\n")
    rc, out, err = run(capsys, str(f), *argv)
    assert (rc, out) == (2, "")
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_not_modelled_prog_type_exits_3(tmp_path, capsys) -> None:
    f = tmp_path / "ok.s"
    f.write_text("r0 = 0\nexit\n")
    rc, out, err = run(capsys, str(f), "--prog-type", "lsm")
    assert (rc, out) == (3, "") and err.count("\n") == 1 and "no lsm programs" in err


def test_attach_type_of_the_socket_types(tmp_path, capsys) -> None:
    """--attach-type sets expected_attach_type: user_ip4 is an INET4 hook's field; a load
    without one is refused before the verifier (no log), with one error line."""
    f = tmp_path / "connect4.s"
    f.write_text("r0 = *(u32 *)(r1 +4)\nr0 = 1\nexit\n")
    rc, out, err = run(capsys, str(f), "--prog-type", "cgroup_sock_addr", "--attach-type", "cgroup_inet4_connect")
    assert (rc, err) == (0, "") and out.startswith("processed 3 insns")
    rc, out, _ = run(capsys, str(f), "--prog-type", "cgroup_sock_addr", "--attach-type", "BPF_CGROUP_INET6_CONNECT")
    assert rc == 1 and "invalid bpf_context access off=4 size=4" in out.splitlines()
    rc, out, err = run(capsys, str(f), "--prog-type", "cgroup_sock_addr")
    assert (rc, out) == (1, "") and err.count("\n") == 1 and "cgroup_inet4_connect" in err
    rc, out, err = run(capsys, str(f), "--prog-type", "cgroup_sock_addr", "--attach-type", "bogus")
    assert (rc, out) == (2, "") and err.startswith("error: --attach-type")


def test_too_many_insns_is_e2big_with_libbpf_message(tmp_path, capsys) -> None:
    """bpf_prog_load's insn_cnt check comes before the verifier: no log, -E2BIG."""
    f = tmp_path / "big.s"
    f.write_text("r0 = 0\n" * 4096 + "exit\n")
    rc, out, err = run(capsys, str(f), "--unpriv")
    assert (rc, out) == (1, "")
    assert err == "error: E2BIG: BPF_PROG_LOAD refuses program too large (4097 insns), at most 4096 insns " \
                  "(insn_cnt is checked before the verifier runs: no log)\n"
    rc, out, _ = run(capsys, str(f))  # with CAP_BPF the limit is BPF_COMPLEXITY_LIMIT_INSNS
    assert rc == 0 and out.startswith("processed 4097 insns")


def test_bad_input_files_exit_2(tmp_path, capsys) -> None:
    f = tmp_path / "s.s"
    f.write_text("r0 = r11\nexit\n")
    rc, out, err = run(capsys, str(f))
    assert (rc, out) == (2, "")
    assert "register r11 does not exist" in err
    rc, _, err = run(capsys, str(tmp_path / "missing.s"))
    assert rc == 2 and "cannot read" in err
    t = tmp_path / "t.bin"
    t.write_bytes(b"\x95\x00\x00")
    rc, _, err = run(capsys, str(t))
    assert rc == 2 and "truncated instruction" in err


def test_elf_objects_go_through_the_loader(capsys) -> None:
    """An ELF object: every program loaded as libbpf does into the emulated kernel,
    its log printed under a '-- prog NAME: verdict' line."""
    from tests.conftest import ROOT

    bad = ROOT / "examples" / "struct_ops_maybe_null_fail.bpf.o"
    good = ROOT / "examples" / "dummy_st_ops.bpf.o"
    if not bad.exists() or not good.exists():
        pytest.skip("examples/*.bpf.o not built")
    rc, out, _ = run(capsys, str(bad))
    assert rc == 1
    lines = out.splitlines()
    assert lines[0] == "-- prog test_maybe_null_struct_ptr: rejected (-EACCES)"
    assert "R1 invalid mem access 'trusted_ptr_or_null_'" in lines
    rc, out, _ = run(capsys, str(good))
    assert rc == 0
    assert [ln for ln in out.splitlines() if ln.startswith("-- prog")] == [
        "-- prog dummy_test_1: accepted", "-- prog dummy_test_2: accepted", "-- prog dummy_test_sleepable: accepted"]


def test_broken_elf_is_bad_input(tmp_path, capsys) -> None:
    f = tmp_path / "bad.o"
    f.write_bytes(b"\x7fELFgarbage")
    rc, out, err = run(capsys, str(f))
    assert (rc, out) == (2, "") and "not a proper ELF object" in err


# --- objects: one verdict per program -------------------------------------------------------------

def _example(name: str):
    from tests.conftest import ROOT

    p = ROOT / "examples" / name
    if not p.exists():
        pytest.skip(f"examples/{name} not built")
    return p


def _selftest(name: str):
    from tests.corpus import OBJECTS

    p = OBJECTS / name
    if not p.exists():
        pytest.skip(f"{name} is not in the committed corpus")
    return p


def test_list_names_every_program_with_section_and_type(capsys) -> None:
    rc, out, _ = run(capsys, str(_example("struct_ops_module.bpf.o")), "--list")
    assert rc == 0
    rows = [ln.split() for ln in out.splitlines()]
    assert rows[0] == ["PROGRAM", "SECTION", "TYPE"]
    # SEC("?struct_ops/test_2") is listed like the others (its section without the '?')
    assert ["test_2_v2", "struct_ops/test_2", "struct_ops"] in rows
    assert [r[0] for r in rows[1:]] == ["test_1", "test_2", "test_2_v2", "test_3", "zeroed_op"]


def test_prog_picks_programs_and_qmark_programs_get_a_verdict(capsys) -> None:
    obj = str(_example("struct_ops_module.bpf.o"))
    rc, out, _ = run(capsys, obj, "--prog", "test_1")
    assert rc == 0
    assert [ln for ln in out.splitlines() if ln.startswith("-- ")] == ["-- prog test_1: accepted"]
    # the '?' program (autoload off in libbpf) is verified when asked for, alone: libbpf stops
    # at its map's member that the kernel's type lacks (its own verdict, so exit 1)
    rc, out, _ = run(capsys, obj, "--prog", "test_2_v2", "--prog", "test_1")
    heads = [ln for ln in out.splitlines() if ln.startswith("-- ")]
    assert heads[:2] == ["-- prog test_1: accepted",
                         "-- prog test_2_v2: refused by the loader (-ENOTSUP): struct_ops init_kern "
                         "testmod_zeroed: Cannot find member zeroed_op in kernel BTF"]
    assert heads[2] == "-- summary: 2 programs" and rc == 1


def test_unknown_prog_is_bad_input_naming_the_programs(capsys) -> None:
    rc, out, err = run(capsys, str(_example("dummy_st_ops.bpf.o")), "--prog", "nope")
    assert (rc, out) == (2, "")
    assert "no program 'nope'" in err and "dummy_test_1" in err


def test_prog_and_list_need_an_object(tmp_path, capsys) -> None:
    f = tmp_path / "ok.s"
    f.write_text("r0 = 0\nexit\n")
    rc, _, err = run(capsys, str(f), "--list")
    assert rc == 2 and "ELF objects" in err


def test_a_program_type_not_modelled_is_exit_3_with_its_reason(capsys) -> None:
    """lsm programs (libbpf's section table knows them; their attach target is a kernel
    function the emulator does not attach to) are not modelled: exit 3, the reason in the
    summary, one error line on stderr."""
    rc, out, err = run(capsys, str(_selftest("bprm_opts.o")))
    lines = out.splitlines()
    assert rc == 3 and lines[0] == "-- prog secure_exec: not modelled"
    assert lines[-1].split()[:2] == ["secure_exec", "lsm/bprm_creds_for_exec"]
    assert "not modelled: " in lines[-1] and "tracing attach targets are not modelled" in lines[-1]
    assert err.startswith("error: 1 of 1 programs need what this emulator does not model")


def test_an_object_with_a_rejected_program_exits_1(capsys) -> None:
    rc, out, _ = run(capsys, str(_example("struct_ops_maybe_null_fail.bpf.o")))
    assert rc == 1 and out.splitlines()[0] == "-- prog test_maybe_null_struct_ptr: rejected (-EACCES)"
