"""Kernel lockdown and the helpers it takes away (kernel_model.lockdown).

security/lockdown/lockdown.c (Linux 6.12/6.18): ``CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY`` locks
the kernel down at boot to ``LOCKDOWN_INTEGRITY_MAX``, ``..._CONFIDENTIALITY`` to
``LOCKDOWN_CONFIDENTIALITY_MAX``; ``security_locked_down(what)`` refuses every reason up to the
level. ``bpf_tracing_func_proto`` hands out ``bpf_probe_write_user`` only when
``LOCKDOWN_BPF_WRITE_USER`` is not refused (and to CAP_SYS_ADMIN), ``bpf_probe_read_kernel``
only without ``LOCKDOWN_BPF_READ_KERNEL``. The emulated kernel's default configuration is locked
down to integrity, as the 6.18 host the corpus was labelled on (test_probe_user.o).
"""

from __future__ import annotations

import errno as E
import gzip

import pytest

from emu.kernel import Kernel
from emu.kernel.bpf_helpers import make_helpers
from kernel_model import isa
from kernel_model.insn import Insn, encode
from kernel_model.kconfig import DEFAULT, KernelConfig
from kernel_model.lockdown import LOCKDOWN_REASONS, lockdown_level, refused_reasons
from kernel_model.errors import KernelError

KPROBE = 2
_LOCKDOWN_OPTS = ("CONFIG_SECURITY", "CONFIG_SECURITY_LOCKDOWN_LSM", "CONFIG_SECURITY_LOCKDOWN_LSM_EARLY",
                  "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY", "CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY",
                  "CONFIG_LSM")
NO_LOCKDOWN = DEFAULT.with_values(CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY="n")
CONFIDENTIALITY = NO_LOCKDOWN.with_values(CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY="y")


def test_levels_from_the_configuration() -> None:
    assert lockdown_level(DEFAULT) == "LOCKDOWN_INTEGRITY_MAX"
    assert lockdown_level(NO_LOCKDOWN) == "LOCKDOWN_NONE"
    assert lockdown_level(CONFIDENTIALITY) == "LOCKDOWN_CONFIDENTIALITY_MAX"
    # the LSM must be built and initialised (early, or named in CONFIG_LSM)
    assert lockdown_level(DEFAULT.with_values(CONFIG_SECURITY_LOCKDOWN_LSM="n")) == "LOCKDOWN_NONE"
    late = DEFAULT.with_values(CONFIG_SECURITY_LOCKDOWN_LSM_EARLY="n")
    assert lockdown_level(late) == "LOCKDOWN_NONE"
    assert lockdown_level(late.with_values(CONFIG_LSM='"landlock,lockdown,bpf"')) == "LOCKDOWN_INTEGRITY_MAX"


def test_refused_reasons_follow_the_enum_order() -> None:
    assert refused_reasons("LOCKDOWN_NONE") == frozenset()
    integrity = refused_reasons("LOCKDOWN_INTEGRITY_MAX")
    assert "LOCKDOWN_BPF_WRITE_USER" in integrity and "LOCKDOWN_BPF_READ_KERNEL" not in integrity
    conf = refused_reasons("LOCKDOWN_CONFIDENTIALITY_MAX")
    assert {"LOCKDOWN_BPF_WRITE_USER", "LOCKDOWN_BPF_READ_KERNEL"} <= conf
    assert LOCKDOWN_REASONS.index("LOCKDOWN_BPF_WRITE_USER") < LOCKDOWN_REASONS.index("LOCKDOWN_INTEGRITY_MAX")


def _call(helper: int) -> list[Insn]:
    """A kprobe: 8 zero bytes on the stack; ``helper(r1 = 0, r2 = fp-8, r3 = 8)``
    (probe_write_user's dst, src, size; probe_read_kernel's dst, size, src differ in order, so
    the kernel-read variant passes ``r1 = fp-8, r2 = 8, r3 = 0``)."""
    st = [Insn(isa.ST | isa.MEM | isa.DW, 10, 0, -8, 0)]
    if helper == 36:
        args = [Insn(isa.ALU64 | isa.MOV | isa.K, 1, 0, 0, 0), Insn(isa.ALU64 | isa.MOV | isa.X, 2, 10, 0, 0),
                Insn(isa.ALU64 | isa.ADD | isa.K, 2, 0, 0, -8), Insn(isa.ALU64 | isa.MOV | isa.K, 3, 0, 0, 8)]
    else:
        args = [Insn(isa.ALU64 | isa.MOV | isa.X, 1, 10, 0, 0), Insn(isa.ALU64 | isa.ADD | isa.K, 1, 0, 0, -8),
                Insn(isa.ALU64 | isa.MOV | isa.K, 2, 0, 0, 8), Insn(isa.ALU64 | isa.MOV | isa.K, 3, 0, 0, 0)]
    return st + args + [Insn(isa.CALL_INSN, 0, 0, 0, helper), Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 0),
                        Insn(isa.JMP | isa.EXIT)]


def _load(k: Kernel, helper: int) -> tuple[int, str | None]:
    try:
        fd = k.prog_load(_call(helper), prog_type=KPROBE, license="GPL", log_level=1)
    except KernelError as e:
        result = getattr(e, "result", None)
        return e.errno, result.error_line if result is not None else str(e)
    k.close(fd)
    return 0, None


CASES = {  # (config, helper) -> (errno, the kernel's last line)
    ("integrity", 36): (E.EINVAL, "program of this type cannot use helper bpf_probe_write_user#36"),
    ("integrity", 113): (0, None),
    ("none", 36): (0, None),
    ("confidentiality", 113): (E.EINVAL, "program of this type cannot use helper bpf_probe_read_kernel#113"),
}
CONFIGS = {"integrity": DEFAULT, "none": NO_LOCKDOWN, "confidentiality": CONFIDENTIALITY}


@pytest.mark.parametrize("conf,helper", sorted(CASES))
def test_helper_availability_under_lockdown(conf: str, helper: int) -> None:
    k = Kernel(modules=(), kconfig=CONFIGS[conf])
    try:
        got = _load(k, helper)
        assert got[0] == CASES[(conf, helper)][0], got
        if got[0]:
            assert got[1] is not None and got[1].endswith(CASES[(conf, helper)][1]), got
            # lockdown_is_locked_down's notice, once per refused load
            what = "write user" if helper == 36 else "read kernel"
            assert k.dmesg[-1] == f"Lockdown: structops: use of bpf to {what} RAM is restricted; " \
                                  "see man kernel_lockdown.7"
    finally:
        k.shutdown()


def test_a_helper_refused_for_another_reason_gives_no_notice() -> None:
    """bpf_probe_write_user is never handed out to a socket filter: no lockdown notice."""
    k = Kernel(modules=())
    try:
        before = len(k.dmesg)
        with pytest.raises(KernelError):
            k.prog_load(_call(36), prog_type=1, license="GPL", log_level=1)
        assert len(k.dmesg) == before
    finally:
        k.shutdown()


def test_probe_write_user_copies_into_the_user_process() -> None:
    """The helper's body: copy_to_user_nofault into the emulated process; -EFAULT outside it."""
    k = Kernel(modules=(), kconfig=NO_LOCKDOWN)
    try:
        m = k.machine
        helper = make_helpers(m, {}, k.user, [])[36]
        src = m.alloc.kzalloc(8)
        m.write(src, b"abcdefgh")
        dst = k.user.alloc(8)
        assert helper(m, dst, src, 8) == 0 and k.user.read(dst, 8) == b"abcdefgh"
        assert helper(m, dst + 4, src, 8) == (-E.EFAULT) & ((1 << 64) - 1)  # past the buffer
        assert helper(m, 0xFFFF_8880_0000_0000, src, 8) == (-E.EFAULT) & ((1 << 64) - 1)  # kernel address
    finally:
        k.shutdown()


def _host_config() -> KernelConfig | None:
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        return None
    vals = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in _LOCKDOWN_OPTS:
            vals[name] = value
    changes = {o: vals.get(o, "n") for o in _LOCKDOWN_OPTS if o != "CONFIG_LSM"}
    if "CONFIG_LSM" in vals:
        changes["CONFIG_LSM"] = vals["CONFIG_LSM"]
    return DEFAULT.with_values(**changes)


@pytest.mark.kernel
@pytest.mark.parametrize("helper", [36, 113])
def test_as_the_host(helper: int) -> None:
    """The emulated kernel built with the host's lockdown options (read from its
    /proc/config.gz) answers the host's verdict, errno and last line."""
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    conf = _host_config()
    if conf is None:
        pytest.skip("the host has no /proc/config.gz to read its lockdown options from")
    res = hostbpf.prog_load(KPROBE, encode(_call(helper)))
    try:
        host = (res.errno if not res.accepted else 0, res.error_line())
    finally:
        res.close()
    k = Kernel(modules=(), kconfig=conf)
    try:
        got = _load(k, helper)
    finally:
        k.shutdown()
    assert got[0] == host[0]
    if host[0]:
        assert got[1] is not None and host[1] is not None and got[1].endswith(host[1])
