"""bpf_spin_lock / bpf_spin_unlock: map values with a lock (BTF records), the verifier's
rules and messages, the run time. Each case runs on the emulated kernel and, where bpf()
is permitted, on the host's (BPF_BTF_LOAD, BPF_MAP_CREATE, BPF_PROG_LOAD of socket
filters and syscall programs; nothing attached): the errno and the last log line must be the
host's."""

from __future__ import annotations

import errno
import struct

import pytest

from emu.host import hostbpf
from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.btf import parse_c
from kernel_model.btf import structs as S
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.profile import get_profile

SOCKET_FILTER = 1
SYSCALL = 31  # socket filters may not use maps with a lock
SLEEPABLE = 16  # BPF_F_SLEEPABLE: syscall programs must be
LOCK = "struct bpf_spin_lock { unsigned int val; };"
#: value: int a; lock at 4; int b at 8 (12 bytes)
VALUE = LOCK + "struct val { int a; struct bpf_spin_lock l; int b; };"

VALUES = {
    "one": (VALUE, 0),
    "two_direct": (LOCK + "struct val { struct bpf_spin_lock l; int a; struct bpf_spin_lock m; };", errno.E2BIG),
    "wrong_size": ("struct bpf_spin_lock { unsigned long val; }; struct val { int a; struct bpf_spin_lock l; };",
                   errno.EFAULT),
    "nested_two": (LOCK + "struct in { int x; struct bpf_spin_lock l; };"
                   "struct val { struct bpf_spin_lock a; struct in i; };", 0),
    "array_of_two": (LOCK + "struct val { struct bpf_spin_lock l[2]; };", 0),
}

_host_ok, _host_why = hostbpf.oracle_status()


def _btf(c: str) -> tuple[bytes, int, int, int]:
    b = parse_c(c + "int k;")
    vid = b.find("val", S.KIND_STRUCT)
    kid = b.find("int", S.KIND_INT)
    assert vid is not None and kid is not None
    return b.to_bytes(), kid, vid, b.size_of(vid)


def _emu_map(k: Kernel, c: str, map_type: int = 2, flags: int = 0) -> tuple[int, int]:
    """(btf load errno, map fd or -errno) on the emulated kernel."""
    blob, kid, vid, size = _btf(c)
    try:
        bfd = k.btf_load(blob)
    except KernelError as e:
        return e.errno, 0
    try:
        return 0, k.map_create(map_type=map_type, key_size=4, value_size=size, max_entries=1, map_flags=flags,
                               map_name="m", btf_fd=bfd, btf_key_type_id=kid, btf_value_type_id=vid)
    except KernelError as e:
        return 0, -e.errno


def _host_map(c: str, map_type: int = 2, flags: int = 0) -> tuple[int, int]:
    blob, kid, vid, size = _btf(c)
    bfd, err, _ = hostbpf.btf_load(blob)
    if bfd < 0:
        return err, 0
    fd, err = hostbpf.map_create(map_type, 4, size, 1, map_flags=flags, name="m", btf_fd=bfd,
                                 btf_key_type_id=kid, btf_value_type_id=vid)
    hostbpf.close(bfd)
    return 0, fd if fd >= 0 else -err


@pytest.fixture
def kernel() -> Kernel:
    return Kernel(get_profile("latest"))


@pytest.mark.parametrize("name", sorted(VALUES))
def test_btf_load_and_map_create(kernel: Kernel, name: str) -> None:
    c, btf_err = VALUES[name]
    err, fd = _emu_map(kernel, c)
    assert err == btf_err
    if not err:
        assert fd > 0


@pytest.mark.parametrize("flags,map_type,want", [(0, 1, 0), (128, 2, errno.EACCES), (256, 1, errno.EACCES)])
def test_map_create_rules(kernel: Kernel, flags: int, map_type: int, want: int) -> None:
    err, fd = _emu_map(kernel, VALUE, map_type, flags)
    assert err == 0 and (fd > 0 if not want else fd == -want)


# --- programs --------------------------------------------------------------------------------------
_LOOKUP = ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{fd}] ll\n"
           "call bpf_map_lookup_elem\nif r0 == 0 goto out\nr6 = r0\n")
PROGRAMS: dict[str, tuple[str, str, str]] = {
    # name: (value C, body after the lookup (r6 = value), the host's last line: None = accepted)
    "lock_unlock": (VALUE, "r1 = r6\nr1 += 4\ncall bpf_spin_lock\nr1 = r6\nr1 += 4\ncall bpf_spin_unlock\n", ""),
    "locked_store_to_other_field": (VALUE, "r1 = r6\nr1 += 4\ncall bpf_spin_lock\nr1 = 7\n*(u32 *)(r6 +8) = r1\n"
                                           "r1 = r6\nr1 += 4\ncall bpf_spin_unlock\n", ""),
    "wrong_offset": (VALUE, "r1 = r6\ncall bpf_spin_lock\n",
                     "off 0 doesn't point to 'struct bpf_spin_lock' that is at 4"),
    # do_check refuses the second helper call before process_spin_lock could say "Locking two"
    "lock_twice": (VALUE, "r1 = r6\nr1 += 4\ncall bpf_spin_lock\nr1 = r6\nr1 += 4\ncall bpf_spin_lock\n",
                   "function calls are not allowed while holding a lock"),
    "unlock_unlocked": (VALUE, "r1 = r6\nr1 += 4\ncall bpf_spin_unlock\n", "bpf_spin_unlock without taking a lock"),
    "exit_locked": (VALUE, "r1 = r6\nr1 += 4\ncall bpf_spin_lock\nr0 = 0\nexit\n",
                    "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region"),
    "helper_while_locked": (VALUE, "r1 = r6\nr1 += 4\ncall bpf_spin_lock\ncall bpf_ktime_get_ns\n",
                            "function calls are not allowed while holding a lock"),
    "load_lock_field": (VALUE, "r0 = *(u32 *)(r6 +4)\n", "bpf_spin_lock cannot be accessed directly by load/store"),
    "store_overlapping": (VALUE, "r1 = 0\n*(u64 *)(r6 +0) = r1\n",
                          "bpf_spin_lock cannot be accessed directly by load/store"),
    "variable_offset": (VALUE, "r1 = *(u32 *)(r6 +0)\nr1 &= 4\nr2 = r6\nr2 += r1\nr1 = r2\ncall bpf_spin_lock\n",
                        "R1 doesn't have constant offset. bpf_spin_lock has to be at the constant offset"),
    "no_lock_in_value": ("struct val { int a; int b; };", "r1 = r6\ncall bpf_spin_lock\n",
                         "map 'm' has no valid bpf_spin_lock"),
    "nested_lock_is_the_last": (VALUES["nested_two"][0], "r1 = r6\ncall bpf_spin_lock\n",
                                "off 0 doesn't point to 'struct bpf_spin_lock' that is at 8"),
    "lock_in_union": (LOCK + "union u { int x; struct bpf_spin_lock l; }; struct val { int a; union u w; };",
                      "r1 = r6\nr1 += 4\ncall bpf_spin_lock\n", "map 'm' has no valid bpf_spin_lock"),
    "erroneous_record": (VALUES["array_of_two"][0], "r1 = r6\ncall bpf_spin_lock\n",
                         "map 'm' has no valid bpf_spin_lock"),
    # an array lookup with an in-range constant key needs no NULL check (6.14+): the lock is
    # taken on the unchecked result, then the exit finds it held
    "const_key_unchecked": (VALUE, "", "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed "
                                       "region"),
    "socket_filter": (VALUE, "", "socket filter progs cannot use bpf_spin_lock yet"),
    "unlock_other_value": (VALUE, "r1 = 1\n*(u32 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = map[fd:{fd}] ll\n"
                                  "call bpf_map_lookup_elem\nif r0 == 0 goto out\nr7 = r0\n"
                                  "r1 = r6\nr1 += 4\ncall bpf_spin_lock\nr1 = r7\nr1 += 4\ncall bpf_spin_unlock\n",
                           "bpf_spin_unlock of different lock"),
    # two lookups of the same constant key: values that cannot be NULL, each with its own id
    # (check_helper_call gives a lock-holding non-NULL value a fresh id): not the same lock
    "unlock_same_key_other_lookup": (VALUE, "r2 = r10\nr2 += -4\nr1 = map[fd:{fd}] ll\ncall bpf_map_lookup_elem\n"
                                            "r7 = r0\nr1 = r6\nr1 += 4\ncall bpf_spin_lock\nr1 = r7\nr1 += 4\n"
                                            "call bpf_spin_unlock\n",
                                     "bpf_spin_unlock of different lock"),
}
_UNCHECKED = ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{fd}] ll\n"
               "call bpf_map_lookup_elem\nr1 = r0\nr1 += 4\ncall bpf_spin_lock\nr0 = 0\nexit\n")


def _source(name: str, fd: int) -> str:
    if name == "const_key_unchecked":
        return _UNCHECKED.format(fd=fd)
    body = PROGRAMS[name][1].format(fd=fd)
    return _LOOKUP.format(fd=fd) + body + "out:\nr0 = 0\nexit\n"


def _last_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("processed ", "verification time",
                                                                                  "stack depth"))]
    return lines[-1] if lines else ""


def _prog_type(name: str) -> int:
    return SOCKET_FILTER if name == "socket_filter" else SYSCALL


def _flags(name: str) -> int:
    return 0 if name == "socket_filter" else SLEEPABLE


def _emu_load(kernel: Kernel, name: str) -> tuple[int, str]:
    c = PROGRAMS[name][0]
    _, fd = _emu_map(kernel, c)
    assert fd > 0
    try:
        kernel.prog_load(assemble(_source(name, fd)), prog_type=_prog_type(name), log_level=1,
                         prog_flags=_flags(name))
    except KernelError as e:
        return e.errno, _last_line(getattr(e, "log", "") or "")
    return 0, ""


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_verifier(kernel: Kernel, name: str) -> None:
    err, line = _emu_load(kernel, name)
    want = PROGRAMS[name][2]
    if want:
        assert (err, line) == (errno.EACCES if "accessed directly" in want else errno.EINVAL, want)
    else:
        assert err == 0, line


def test_runtime_lock_word(kernel: Kernel) -> None:
    """A test run takes and releases the lock (the word is 0 again after), the other field
    written under it."""
    _, mfd = _emu_map(kernel, VALUE)
    src = _source("locked_store_to_other_field", mfd)
    pfd = kernel.prog_load(assemble(src), prog_type=SYSCALL, prog_flags=SLEEPABLE)
    res = kernel.prog_test_run(pfd, ctx_in=bytes(8))
    assert res.retval == 0
    value = kernel.map_lookup_elem(mfd, struct.pack("<I", 0))
    assert struct.unpack("<iIi", value) == (0, 0, 7)


# --- the host ----------------------------------------------------------------------------------------
@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
@pytest.mark.parametrize("name", sorted(VALUES))
def test_host_btf_load_and_map_create(kernel: Kernel, name: str) -> None:
    c, _ = VALUES[name]
    herr, hfd = _host_map(c)
    if hfd > 0:
        hostbpf.close(hfd)
    err, fd = _emu_map(kernel, c)
    assert (err, fd > 0) == (herr, hfd > 0)


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
@pytest.mark.parametrize("flags,map_type", [(0, 1), (128, 2), (256, 1)])
def test_host_map_create_rules(kernel: Kernel, flags: int, map_type: int) -> None:
    herr, hfd = _host_map(VALUE, map_type, flags)
    if hfd > 0:
        hostbpf.close(hfd)
    err, fd = _emu_map(kernel, VALUE, map_type, flags)
    assert (err, max(fd, 0) > 0, min(fd, 0)) == (herr, hfd > 0, min(hfd, 0))


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_host_verifier(kernel: Kernel, name: str) -> None:
    _, hfd = _host_map(PROGRAMS[name][0])
    assert hfd > 0
    try:
        host = hostbpf.prog_load(_prog_type(name), encode(assemble(_source(name, hfd))), prog_flags=_flags(name))
    finally:
        hostbpf.close(hfd)
    host.close()
    err, line = _emu_load(kernel, name)
    assert (err, line) == (host.errno if not host.accepted else 0, host.error_line() or "")
