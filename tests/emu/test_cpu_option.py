"""``--cpu``: presets, ``host``, ``list`` and bad names on the commands that emit or run code."""

from __future__ import annotations

import pytest

from emu.cli import main
from kernel_model.cpu import PRESETS


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse: --cpu list (0), usage errors (2)
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_every_preset(capsys):
    code, out, _ = run(capsys, "tramp", "--cpu", "list")
    assert code == 0
    for name, cpu in PRESETS.items():
        assert f"cpu {name}: " in out and cpu.description in out
    assert "host" in out


@pytest.mark.parametrize("argv", [("tramp", "--type", "bpf_dummy_ops"), ("exec", "x.s"), ("demo",),
                                  ("load", "x.bpf.o"), ("call", "x.bpf.o", "m.f")])
def test_unknown_name_is_a_usage_error(capsys, argv):
    code, out, err = run(capsys, *argv, "--cpu", "pentium4")
    assert code == 2 and not out
    assert "error: argument --cpu: unknown --cpu 'pentium4' (known: amd-zen2" in err
    assert "Traceback" not in err


def _rows(out):
    return {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.startswith("test_")}


@pytest.mark.parametrize("name,code,taken", [("amd-zen2", 107, 171), ("none", 103, 167), ("intel-its", 107, 171),
                                              ("intel-stuff", 138, 202)])
def test_tramp_sizes_follow_the_cpu(capsys, name, code, taken):
    rc, out, _ = run(capsys, "tramp", "--type", "bpf_dummy_ops", "--cpu", name)
    assert rc == 0
    assert out.splitlines()[1] == PRESETS[name].summary()
    assert _rows(out)["test_1"][3:5] == [str(code), str(taken)]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_listing_names_the_presets_return(capsys, name):
    cpu = PRESETS[name]
    rc, out, _ = run(capsys, "tramp", "--type", "bpf_dummy_ops", "--listing", "--cpu", name)
    assert rc == 0
    thunks = [ln for ln in out.splitlines() if " jmp " in ln and "thunk" in ln and ln.startswith("    +")]
    if cpu.rethunk:
        assert len(thunks) == 3 and all(ln.endswith(f"; {cpu.return_thunk}") for ln in thunks)
    else:
        assert not thunks and out.count(" ret") >= 3
    assert sum("endbr64" in ln for ln in out.splitlines() if ln.startswith("    +")) == (3 if cpu.ibt else 0)


def test_exec_jit_on_a_preset(capsys, tmp_path):
    src = tmp_path / "p.s"
    src.write_text("r0 = 6\nr0 *= 7\nexit\n")
    for name in ("none", "intel-stuff"):
        rc, out, _ = run(capsys, "exec", "--engine", "jit", "--cpu", name, str(src))
        assert rc == 0 and out.strip() == "0x2a"


@pytest.mark.kernel
def test_host_is_read_from_the_running_kernel(capsys):
    from emu.host.hostcpu import detect_host_cpu

    cpu = detect_host_cpu()
    rc, out, _ = run(capsys, "tramp", "--type", "bpf_dummy_ops", "--listing", "--cpu", "host")
    assert rc == 0 and out.splitlines()[1] == cpu.summary()
    if cpu.rethunk:
        assert f"; {cpu.return_thunk}" in out
    assert dict(cpu.sources)["return_thunk"].startswith("probe")


def test_sysfs_inference_follows_bugs_c():
    from emu.host.hostcpu import _indirect_from_sysfs, _thunk_from_sysfs

    srso = {"spec_rstack_overflow": "Vulnerable: Safe RET, no microcode", "spectre_v2": "Mitigation: Retpolines"}
    assert _thunk_from_sysfs(srso, 0x19) == ("srso_alias_return_thunk", False)  # AMD family 25
    assert _thunk_from_sysfs(srso, 0x17) == ("srso_return_thunk", False)
    its = {"indirect_target_selection": "Mitigation: Aligned branch/return thunks", "retbleed": "Vulnerable"}
    assert _thunk_from_sysfs(its, 6) == ("its_return_thunk", False)
    assert _thunk_from_sysfs({"retbleed": "Mitigation: Stuffing"}, 6) == ("call_depth_return_thunk", True)
    assert _thunk_from_sysfs({"retbleed": "Mitigation: untrained return thunk"}, 0x17) == ("retbleed_return_thunk",
                                                                                             False)
    assert _thunk_from_sysfs({"retbleed": "Not affected"}, 6) == (None, False)
    assert _indirect_from_sysfs(srso) == "retpoline"
    assert _indirect_from_sysfs({"spectre_v2": "Mitigation: LFENCE"}) == "lfence"
    assert _indirect_from_sysfs({"spectre_v2": "Mitigation: Enhanced / Automatic IBRS", **its}) == "its"
    assert _indirect_from_sysfs({"spectre_v2": "Mitigation: Enhanced / Automatic IBRS"}) == "plain"
