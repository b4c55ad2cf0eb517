"""BPF_PROG_TYPE_LIRC_MODE2 (verifier.lirc): drivers/media/rc/bpf-lirc.c, Linux 6.12/6.18.

The context is one read-only ``u32``; the type's helpers are the rc_* ones (gpl_only, the
context first) and a few base ones. The type exists only with ``CONFIG_BPF_LIRC_MODE2``: the
6.18 reference host is built without it (no ``CONFIG_RC_CORE``) and refuses the load with EINVAL
and no log, as the emulated kernel does with its default configuration. The verifier's lines
below are the kernel's own messages for these checks (check_ctx_access, check_helper_call,
check_func_arg), which the other program types' host-checked tests exercise too.
"""

from __future__ import annotations

import errno as E
import gzip

import pytest

from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.kconfig import DEFAULT
from verifier import VerifierEnv, verify
from verifier.lirc import BPF_LIRC_MODE2, PROG_TYPE_LIRC_MODE2

LIRC = DEFAULT.with_values(CONFIG_RC_CORE="y", CONFIG_LIRC="y", CONFIG_BPF_LIRC_MODE2="y")

#: name -> (program, license, errno (0: accepted), the last line)
CASES = {
    # test_lirc_mode2_kern.c's decoder, by hand: read the sample, report a key
    "keydown": ("r6 = r1\nr2 = *(u32 *)(r6 +0)\nr1 = r6\nr2 = 64\nr3 = 0x10\nr4 = 0\ncall bpf_rc_keydown\n"
                "r1 = r6\ncall bpf_rc_repeat\nr1 = r6\nr2 = 1\nr3 = -1\ncall bpf_rc_pointer_rel\nr0 = 0\nexit\n",
                "GPL", 0, None),
    "any_return": ("r0 = *(u32 *)(r1 +0)\nexit\n", "GPL", 0, None),
    "read_past_sample": ("r0 = *(u32 *)(r1 +4)\nexit\n", "GPL", E.EACCES, "invalid bpf_context access off=4 size=4"),
    "read_8_bytes": ("r0 = *(u64 *)(r1 +0)\nexit\n", "GPL", E.EACCES, "invalid bpf_context access off=0 size=8"),
    "write_sample": ("r2 = 1\n*(u32 *)(r1 +0) = r2\nr0 = 0\nexit\n", "GPL", E.EACCES,
                     "invalid bpf_context access off=0 size=4"),
    "keydown_not_ctx": ("r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\ncall bpf_rc_keydown\nr0 = 0\nexit\n", "GPL", E.EACCES,
                        "R1 type=scalar expected=ctx"),
    "not_gpl": ("call bpf_rc_repeat\nr0 = 0\nexit\n", "MIT", E.EINVAL,
                "cannot call GPL-restricted function from non-GPL compatible program"),
    "not_its_helper": ("call bpf_get_current_pid_tgid\nr0 = 0\nexit\n", "GPL", E.EINVAL,
                       "program of this type cannot use helper bpf_get_current_pid_tgid#14"),
}


def _verify(name: str):  # type: ignore[no-untyped-def]
    src, lic, _err, _line = CASES[name]
    return verify(assemble(src), VerifierEnv(prog_type=PROG_TYPE_LIRC_MODE2, expected_attach_type=BPF_LIRC_MODE2,
                                             license=lic))


@pytest.mark.parametrize("name", sorted(CASES))
def test_lirc_mode2_rules(name: str) -> None:
    r = _verify(name)
    _src, _lic, err, line = CASES[name]
    assert (r.errno, r.error_line if not r.accepted else None) == (err, line), r.log


def _load(k: Kernel, name: str) -> tuple[int, str]:
    src, lic, _err, _line = CASES[name]
    try:
        fd = k.prog_load(assemble(src), prog_type=PROG_TYPE_LIRC_MODE2, expected_attach_type=BPF_LIRC_MODE2,
                         license=lic, log_level=1)
    except KernelError as e:
        return e.errno, getattr(e, "log", "")
    k.close(fd)
    return 0, ""


def test_the_type_needs_config_bpf_lirc_mode2() -> None:
    """find_prog_type: without the option the type is unknown, EINVAL before the verifier (no
    log); with it the load is verified."""
    k = Kernel(modules=())
    try:
        assert _load(k, "keydown") == (E.EINVAL, "")
    finally:
        k.shutdown()
    k = Kernel(modules=(), kconfig=LIRC)
    try:
        assert _load(k, "keydown")[0] == 0
        assert _load(k, "read_past_sample")[0] == E.EACCES
    finally:
        k.shutdown()


@pytest.mark.kernel
def test_as_the_host() -> None:
    """The host (its CONFIG_BPF_LIRC_MODE2 read from /proc/config.gz) and the emulated kernel
    built alike answer the same errno and log for the decoder."""
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            has_lirc = "CONFIG_BPF_LIRC_MODE2=y" in f.read().splitlines()
    except OSError:
        pytest.skip("the host has no /proc/config.gz")
    res = hostbpf.prog_load(PROG_TYPE_LIRC_MODE2, encode(assemble(CASES["keydown"][0])),
                            expected_attach_type=BPF_LIRC_MODE2)
    try:
        host = (0 if res.accepted else res.errno, res.log if not res.accepted else "")
    finally:
        res.close()
    k = Kernel(modules=(), kconfig=LIRC if has_lirc else DEFAULT)
    try:
        got = _load(k, "keydown")
    finally:
        k.shutdown()
    assert got[0] == host[0]
    if not has_lirc:
        assert got == host == (E.EINVAL, "")
