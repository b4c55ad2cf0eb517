"""The host kernel's ``bpf(2)``, driven with ctypes: the oracle the tests compare with.

structops-emu models a kernel; where the machine it runs on permits ``bpf()``
(root on Linux x86-64), the real kernel answers the same questions and tests
compare the two. This module is the only place that calls the host's
``bpf()``. It wraps, on purpose, only commands that change nothing outside
the calling process: ``BPF_PROG_LOAD`` (verify and JIT), ``BPF_PROG_TEST_RUN``,
``BPF_OBJ_GET_INFO_BY_FD``, ``BPF_MAP_CREATE`` / ``_UPDATE_ELEM`` /
``_LOOKUP_ELEM`` and ``BPF_BTF_LOAD``. Nothing here attaches a program, a
link or a struct_ops map: the host is an oracle, never changed.

``union bpf_attr`` offsets are those of Linux 6.18 (168 bytes; checked against
the host's vmlinux.h): the 6.1 uapi header Debian installs lacks
``log_true_size``, ``fd_array_cnt`` and later fields.

Use :func:`oracle_status` to decide whether to run or skip: it returns
``(False, reason)`` on a machine without ``bpf()``; ``ORACLE=0`` in the
environment forces a skip and ``ORACLE=1`` is checked by the test suite to
turn a missing oracle into a failure.
"""

from __future__ import annotations

import ctypes
import errno
import ctypes.util
import os
import re
import struct
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from kernel_model.errors import errno_name
from kernel_model.uapi import (BPF_BTF_LOAD, BPF_F_ANY_ALIGNMENT, BPF_F_SLEEPABLE, BPF_F_STRICT_ALIGNMENT,
                               BPF_F_TEST_REG_INVARIANTS, BPF_F_TEST_RND_HI32, BPF_MAP_CREATE, BPF_MAP_DELETE_ELEM,
                               BPF_MAP_GET_NEXT_KEY,
                               BPF_MAP_LOOKUP_ELEM,
                               BPF_MAP_UPDATE_ELEM, BPF_OBJ_GET_INFO_BY_FD, BPF_PROG_LOAD, BPF_PROG_TEST_RUN)

__all__ = [
    "LoadResult", "ProgInfo", "sys_bpf", "prog_load", "test_run", "prog_info", "map_create", "map_get_next_key", "map_delete",
    "map_update", "map_lookup", "btf_load", "oracle_status", "host_btf_id", "close", "comparable_log",
    "processed_counts",
    "LOG_LEVEL1", "LOG_LEVEL2", "LOG_STATS", "BPF_F_SLEEPABLE", "BPF_F_TEST_RND_HI32",
    "BPF_F_TEST_REG_INVARIANTS", "BPF_F_ANY_ALIGNMENT", "BPF_F_STRICT_ALIGNMENT",
]

#: __NR_bpf on x86-64
NR_BPF = 321
#: sizeof(union bpf_attr) on Linux 6.18
ATTR_SIZE = 168
#: sizeof(struct bpf_prog_info) on Linux 6.18
PROG_INFO_SIZE = 232

LOG_LEVEL1, LOG_LEVEL2, LOG_STATS = 1, 2, 4

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


def sys_bpf(cmd: int, attr: bytearray) -> tuple[int, int]:
    """``bpf(cmd, attr, len(attr))``: returns ``(result, errno)``; ``attr`` is
    updated in place (the kernel writes back ids, sizes, ``log_true_size``...)."""
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    ret = _libc.syscall(ctypes.c_long(NR_BPF), ctypes.c_long(cmd), buf, ctypes.c_long(len(attr)))
    return ret, (ctypes.get_errno() if ret < 0 else 0)


def _ptr(buf: ctypes.Array | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def close(fd: int) -> None:
    """Close a host bpf object fd (ignores one that is already closed)."""
    try:
        os.close(fd)
    except OSError:
        pass


@dataclass(slots=True)
class LoadResult:
    """What ``BPF_PROG_LOAD`` answered. ``fd`` is -1 on rejection, with ``errno``
    set; ``log`` is the verifier log text; ``seconds`` the wall time of the call."""

    fd: int
    errno: int
    log: str
    seconds: float
    log_true_size: int

    @property
    def accepted(self) -> bool:
        return self.fd >= 0

    @property
    def errno_name(self) -> str:
        return errno_name(self.errno)

    def error_line(self) -> str | None:
        """The last non-empty log line before the ``processed N insns`` statistics
        (what the corpus calls ``error_line``); None when accepted."""
        if self.accepted:
            return None
        lines = [ln for ln in self.log.splitlines() if ln.strip()]
        while lines and (lines[-1].startswith("processed ") or lines[-1].startswith("verification time")
                         or lines[-1].startswith("stack depth")):
            lines.pop()
        return lines[-1] if lines else None

    def close(self) -> None:
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1


def prog_load(prog_type: int, insns: bytes, *, license: str = "GPL", log_level: int = LOG_LEVEL1,
              log_size: int = 16 << 20, prog_flags: int = 0, expected_attach_type: int = 0,
              attach_btf_id: int = 0, attach_btf_obj_fd: int = 0, name: str = "structops",
              fd_array: Sequence[int] | None = None, prog_btf_fd: int = 0, func_info: bytes = b"",
              func_info_rec_size: int = 0, line_info: bytes = b"", line_info_rec_size: int = 0) -> LoadResult:
    """``BPF_PROG_LOAD`` of raw instruction bytes (``func_info``/``line_info``: records of
    ``*_rec_size`` bytes, with ``prog_btf_fd``). The caller owns the returned fd
    (``LoadResult.close``). A large log buffer avoids ENOSPC replacing the real errno."""
    if len(insns) % 8:
        raise ValueError("instruction bytes must be a multiple of 8")
    ins = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode() + b"\0")
    logb = ctypes.create_string_buffer(log_size) if log_level else None
    fda = (ctypes.c_int * len(fd_array))(*fd_array) if fd_array else None
    fi = ctypes.create_string_buffer(func_info, len(func_info)) if func_info else None
    li = ctypes.create_string_buffer(line_info, len(line_info)) if line_info else None
    a = bytearray(ATTR_SIZE)
    struct.pack_into("<IIQQIIQII", a, 0, prog_type, len(insns) // 8, _ptr(ins), _ptr(lic), log_level,
                     log_size if log_level else 0, _ptr(logb), 0, prog_flags)
    a[48:64] = name.encode()[:15].ljust(16, b"\0")
    struct.pack_into("<IIIQIIQIII", a, 68, expected_attach_type, prog_btf_fd,
                     func_info_rec_size if func_info else 0, _ptr(fi),
                     len(func_info) // func_info_rec_size if func_info else 0,
                     line_info_rec_size if line_info else 0, _ptr(li),
                     len(line_info) // line_info_rec_size if line_info else 0,
                     attach_btf_id, attach_btf_obj_fd)
    if fda is not None:
        struct.pack_into("<Q", a, 120, _ptr(fda))
    t0 = time.perf_counter()
    fd, err = sys_bpf(BPF_PROG_LOAD, a)
    dt = time.perf_counter() - t0
    log = logb.value.decode(errors="replace") if logb is not None else ""
    (true_size,) = struct.unpack_from("<I", a, 140)
    return LoadResult(fd, err, log, dt, true_size)


@dataclass(slots=True)
class TestRunResult:
    retval: int
    duration_ns: int
    data_out: bytes
    ctx_out: bytes
    ctx_in_after: bytes


def test_run(prog_fd: int, *, data_in: bytes = b"", ctx_in: bytes = b"", data_out_size: int = 0,
             ctx_out_size: int = 0, repeat: int = 0, flags: int = 0, cpu: int = 0) -> TestRunResult:
    """``BPF_PROG_TEST_RUN``; raises OSError(errno) on failure. ``ctx_in_after``
    is the ctx_in buffer after the run (SYSCALL programs write their ctx back there)."""
    din = ctypes.create_string_buffer(data_in, len(data_in)) if data_in else None
    dout = ctypes.create_string_buffer(data_out_size) if data_out_size else None
    cin = ctypes.create_string_buffer(ctx_in, len(ctx_in)) if ctx_in else None
    cout = ctypes.create_string_buffer(ctx_out_size) if ctx_out_size else None
    a = bytearray(80)
    struct.pack_into("<IIIIQQIIIIQQII", a, 0, prog_fd, 0, len(data_in), data_out_size, _ptr(din), _ptr(dout),
                     repeat, 0, len(ctx_in), ctx_out_size, _ptr(cin), _ptr(cout), flags, cpu)
    r, err = sys_bpf(BPF_PROG_TEST_RUN, a)
    if r < 0:
        raise OSError(err, f"BPF_PROG_TEST_RUN: {os.strerror(err)}")
    retval, _, dsz = struct.unpack_from("<III", a, 4)
    (dur,) = struct.unpack_from("<I", a, 36)
    (csz,) = struct.unpack_from("<I", a, 44)
    return TestRunResult(retval, dur, dout.raw[:dsz] if dout else b"", cout.raw[:csz] if cout else b"",
                         cin.raw[:len(ctx_in)] if cin else b"")


@dataclass(slots=True)
class ProgInfo:
    """The parts of ``struct bpf_prog_info`` the tests use."""

    prog_type: int
    id: int
    jited_prog_len: int
    xlated_prog_len: int
    verified_insns: int
    jited: bytes = b""
    xlated: bytes = b""
    jited_ksyms: list[int] = field(default_factory=list)
    jited_func_lens: list[int] = field(default_factory=list)


def _get_info(fd: int, info: bytearray) -> None:
    buf = (ctypes.c_char * len(info)).from_buffer(info)
    a = bytearray(16)
    struct.pack_into("<IIQ", a, 0, fd, len(info), ctypes.addressof(buf))
    r, err = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a)
    if r < 0:
        raise OSError(err, f"BPF_OBJ_GET_INFO_BY_FD: {os.strerror(err)}")


def prog_info(fd: int, with_code: bool = True) -> ProgInfo:
    """``BPF_OBJ_GET_INFO_BY_FD`` on a program: ids, lengths and (``with_code``)
    the JIT image, the xlated instructions, per-function image addresses and lengths."""
    info = bytearray(PROG_INFO_SIZE)
    _get_info(fd, info)

    def u32(o: int, blob: bytearray = info) -> int:
        return struct.unpack_from("<I", blob, o)[0]

    out = ProgInfo(u32(0), u32(4), u32(16), u32(20), u32(216))
    if not with_code:
        return out
    nks, nfl = u32(104), u32(108)
    j = ctypes.create_string_buffer(max(out.jited_prog_len, 1))
    x = ctypes.create_string_buffer(max(out.xlated_prog_len, 1))
    ks = (ctypes.c_uint64 * max(nks, 1))()
    fl = (ctypes.c_uint32 * max(nfl, 1))()
    info2 = bytearray(PROG_INFO_SIZE)
    struct.pack_into("<IIQQ", info2, 16, out.jited_prog_len, out.xlated_prog_len, _ptr(j), _ptr(x))
    struct.pack_into("<IIQQ", info2, 104, nks, nfl, _ptr(ks), _ptr(fl))
    _get_info(fd, info2)
    out.jited = j.raw[:out.jited_prog_len]
    out.xlated = x.raw[:out.xlated_prog_len]
    out.jited_ksyms = list(ks)[:nks]
    out.jited_func_lens = list(fl)[:nfl]
    return out


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, *, map_flags: int = 0,
               name: str = "structops", btf_fd: int = 0, btf_key_type_id: int = 0, btf_value_type_id: int = 0,
               btf_vmlinux_value_type_id: int = 0, inner_map_fd: int = 0, map_extra: int = 0) -> tuple[int, int]:
    """``BPF_MAP_CREATE``: returns ``(fd, errno)`` (fd < 0 on failure)."""
    a = bytearray(ATTR_SIZE)
    struct.pack_into("<IIIIII", a, 0, map_type, key_size, value_size, max_entries, map_flags, inner_map_fd)
    a[28:44] = name.encode()[:15].ljust(16, b"\0")
    struct.pack_into("<IIII", a, 48, btf_fd, btf_key_type_id, btf_value_type_id, btf_vmlinux_value_type_id)
    struct.pack_into("<Q", a, 64, map_extra)
    return sys_bpf(BPF_MAP_CREATE, a)


def map_update(map_fd: int, key: bytes, value: bytes, flags: int = 0) -> tuple[int, int]:
    """``BPF_MAP_UPDATE_ELEM``: returns ``(0 or -1, errno)``."""
    k = ctypes.create_string_buffer(key, len(key)) if key else None  # b"": a NULL key (key_size 0)
    v = ctypes.create_string_buffer(value, len(value))
    a = bytearray(32)
    struct.pack_into("<IIQQQ", a, 0, map_fd, 0, _ptr(k), _ptr(v), flags)
    return sys_bpf(BPF_MAP_UPDATE_ELEM, a)


def map_lookup(map_fd: int, key: bytes, value_size: int, *, value: bytes | None = None,
               cmd: int = BPF_MAP_LOOKUP_ELEM) -> bytes:
    """``BPF_MAP_LOOKUP_ELEM`` (``value``: the buffer's initial bytes, what a bloom
    filter tests; ``cmd`` 21: ``BPF_MAP_LOOKUP_AND_DELETE_ELEM``); raises OSError(errno)."""
    k = ctypes.create_string_buffer(key, len(key)) if key else None  # b"": a NULL key (key_size 0)
    v = ctypes.create_string_buffer(value, value_size) if value is not None else ctypes.create_string_buffer(value_size)
    a = bytearray(32)
    struct.pack_into("<IIQQQ", a, 0, map_fd, 0, _ptr(k), _ptr(v), 0)
    r, err = sys_bpf(cmd, a)
    if r < 0:
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return v.raw


def map_delete(map_fd: int, key: bytes) -> tuple[int, int]:
    """``BPF_MAP_DELETE_ELEM``: returns ``(0 or -1, errno)``."""
    k = ctypes.create_string_buffer(key, len(key)) if key else None  # b"": a NULL key (key_size 0)
    a = bytearray(32)
    struct.pack_into("<IIQ", a, 0, map_fd, 0, _ptr(k))
    return sys_bpf(BPF_MAP_DELETE_ELEM, a)


def map_get_next_key(map_fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """``BPF_MAP_GET_NEXT_KEY`` (``key`` None: a NULL key); None after the last key
    (``-ENOENT``); raises OSError(errno) on other failures."""
    k = ctypes.create_string_buffer(key, len(key)) if key is not None else None
    nk = ctypes.create_string_buffer(key_size)
    a = bytearray(32)
    struct.pack_into("<IIQQ", a, 0, map_fd, 0, _ptr(k), _ptr(nk))
    r, err = sys_bpf(BPF_MAP_GET_NEXT_KEY, a)
    if r < 0:
        if err == errno.ENOENT:
            return None
        raise OSError(err, f"BPF_MAP_GET_NEXT_KEY: {os.strerror(err)}")
    return nk.raw


def btf_load(blob: bytes, *, log_level: int = 1, log_size: int = 1 << 20) -> tuple[int, int, str]:
    """``BPF_BTF_LOAD``: returns ``(fd, errno, log)``."""
    data = ctypes.create_string_buffer(blob, len(blob))
    logb = ctypes.create_string_buffer(log_size) if log_level else None
    a = bytearray(ATTR_SIZE)
    struct.pack_into("<QQIII", a, 0, _ptr(data), _ptr(logb), len(blob), log_size if log_level else 0, log_level)
    fd, err = sys_bpf(BPF_BTF_LOAD, a)
    return fd, err, logb.value.decode(errors="replace") if logb is not None else ""


@lru_cache(maxsize=1)
def _host_vmlinux():  # type: ignore[no-untyped-def]
    from kernel_model.btf import load

    return load("/sys/kernel/btf/vmlinux", validate=False)


def host_btf_id(name: str, kind: str = "struct") -> int | None:
    """The id of a named type in the host's vmlinux BTF (ids differ per kernel
    build: never hard-code them). ``kind`` is ``struct``, ``func``, ``typedef``..."""
    from kernel_model.btf import structs as S

    kinds = {"struct": S.KIND_STRUCT, "union": S.KIND_UNION, "func": S.KIND_FUNC, "typedef": S.KIND_TYPEDEF,
             "enum": S.KIND_ENUM, "int": S.KIND_INT}
    return _host_vmlinux().find(name, kinds[kind])


@lru_cache(maxsize=1)
def oracle_status() -> tuple[bool, str]:
    """``(True, "ok")`` when the host can serve as an oracle: Linux x86-64, vmlinux
    BTF present, a trivial socket-filter load succeeds. Otherwise ``(False, why)``.
    ``ORACLE=0`` in the environment forces ``(False, "ORACLE=0")``."""
    if os.environ.get("ORACLE") == "0":
        return False, "ORACLE=0 in the environment"
    u = os.uname()
    if u.sysname != "Linux" or u.machine != "x86_64":
        return False, f"host is {u.sysname}/{u.machine}, not Linux/x86-64"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return False, "no /sys/kernel/btf/vmlinux"
    # r0 = 0; exit
    r = prog_load(1, bytes.fromhex("b700000000000000" "9500000000000000"), log_level=0)
    if not r.accepted:
        return False, f"bpf(BPF_PROG_LOAD) is not permitted here: {os.strerror(r.errno)}"
    r.close()
    return True, "ok"


#: what differs between two kernels' logs of the same program without differing in
#: meaning: kernel addresses (map pointers), BTF ids (per build), the timing line
_LOG_MASKS = [(re.compile(r"0xffff[0-9a-f]{12}"), "ADDR"), (re.compile(r"attach_btf_id \d+"), "attach_btf_id N"),
              (re.compile(r"btf_id \d+"), "btf_id N"), (re.compile(r"verification time \d+"), "vt"),
              # a kfunc call prints the kfunc's BTF id, and the state after it is aligned past it
              # (masked for helpers too: their name is their id)
              (re.compile(r"(\(85\) call [A-Za-z_]\w*)#\d+ +;"), r"\1#ID ;"),
              (re.compile(r"(\(85\) call [A-Za-z_]\w*)#\d+"), r"\1#ID")]
_PROCESSED = re.compile(r"processed (\d+) insns")


def comparable_log(text: str | None) -> str:
    """A verifier log (or one line of it) with addresses, BTF ids and the timing
    masked, so the model's log and the host's compare as text."""
    text = text or ""
    for pat, rep in _LOG_MASKS:
        text = pat.sub(rep, text)
    return text


def processed_counts(log: str) -> list[str]:
    """Every ``processed N insns`` count in a log (the stats line, and the limit message)."""
    return _PROCESSED.findall(log)
