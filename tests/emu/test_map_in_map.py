"""Arrays and hashes of maps: create-time template, bpf() updates with map fds, the
verifier's view of a looked-up inner map, and programs that use one -- in the emulated
kernel, and against the host where bpf() is permitted (``@pytest.mark.kernel``).

Kernel facts under test: kernel/bpf/map_in_map.c (``bpf_map_meta_alloc``,
``bpf_map_meta_equal``, ``bpf_map_fd_get_ptr``), arraymap.c (``array_map_meta_equal``,
``bpf_fd_array_map_update_elem``), hashtab.c (``bpf_fd_htab_map_update_elem``), and
verifier.c ``mark_ptr_not_null_reg`` / ``check_map_func_compatibility``.
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.uapi import BPF_F_INNER_MAP, BPF_NOEXIST

T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}
U32 = struct.Struct("<I")
SOCKET_FILTER = 1
PKT = bytes(64)


def _host_status() -> tuple[bool, str]:
    from emu.host.hostbpf import oracle_status

    return oracle_status()


_host_ok, _host_why = _host_status()


@pytest.fixture
def k():
    kern = Kernel(modules=())
    yield kern
    kern.shutdown()


# --- the two kernels behind one interface -------------------------------------------------------------

class Emu:
    def __init__(self, k: Kernel) -> None:
        self.k = k

    def create(self, map_type: int, ks: int, vs: int, n: int, flags: int = 0, inner: int = 0) -> int:
        """fd, or -errno."""
        try:
            return self.k.map_create(map_type=map_type, key_size=ks, value_size=vs, max_entries=n, map_flags=flags,
                                     inner_map_fd=inner, map_name="mim")
        except KernelError as e:
            return -e.errno

    def update(self, fd: int, key: bytes, value: bytes, flags: int = 0) -> int:
        try:
            self.k.map_update_elem(fd, key, value, flags)
        except KernelError as e:
            return e.errno
        return 0

    def lookup(self, fd: int, key: bytes) -> bytes | int:
        try:
            return self.k.map_lookup_elem(fd, key)
        except KernelError as e:
            return e.errno

    def delete(self, fd: int, key: bytes) -> int:
        try:
            self.k.map_delete_elem(fd, key)
        except KernelError as e:
            return e.errno
        return 0

    def map_id(self, fd: int) -> int:
        return self.k.map_info(fd).id

    def load(self, src: str) -> tuple[int, str, int]:
        """(errno, last log line, prog fd)."""
        try:
            fd = self.k.prog_load(assemble(src), prog_type=SOCKET_FILTER, log_level=1)
        except KernelError as e:
            return e.errno, _last_line(getattr(e, "log", "") or ""), -1
        return 0, "", fd

    def run(self, prog_fd: int) -> int:
        return self.k.prog_test_run(prog_fd, data_in=PKT).retval

    def close(self, fd: int) -> None:
        self.k.close(fd)


class Host:
    def __init__(self) -> None:
        from emu.host import hostbpf

        self.h = hostbpf

    def create(self, map_type: int, ks: int, vs: int, n: int, flags: int = 0, inner: int = 0) -> int:
        fd, err = self.h.map_create(map_type, ks, vs, n, map_flags=flags, inner_map_fd=inner, name="mim")
        return fd if fd >= 0 else -err

    def update(self, fd: int, key: bytes, value: bytes, flags: int = 0) -> int:
        r, err = self.h.map_update(fd, key, value, flags)
        return 0 if r == 0 else err

    def lookup(self, fd: int, key: bytes) -> bytes | int:
        try:
            return self.h.map_lookup(fd, key, 4)
        except OSError as e:
            return e.errno

    def delete(self, fd: int, key: bytes) -> int:
        r, err = self.h.map_delete(fd, key)
        return 0 if r == 0 else err

    def map_id(self, fd: int) -> int:
        info = bytearray(88)
        self.h._get_info(fd, info)
        return int(U32.unpack_from(info, 4)[0])

    def load(self, src: str) -> tuple[int, str, int]:
        r = self.h.prog_load(SOCKET_FILTER, encode(assemble(src)))
        return (0, "", r.fd) if r.accepted else (r.errno, r.error_line() or "", -1)

    def run(self, prog_fd: int) -> int:
        return self.h.test_run(prog_fd, data_in=PKT).retval

    def close(self, fd: int) -> None:
        if fd >= 0:
            self.h.close(fd)


def _last_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("processed ", "verification time",
                                                                                  "stack depth"))]
    return lines[-1] if lines else ""


# --- bpf() commands -----------------------------------------------------------------------------------

def _commands(kern) -> list[object]:
    """One script of create/update/lookup/delete results; a lookup's inner map id is
    given as the name of the map it belongs to."""
    fds: list[int] = []

    def mk(*a, **kw) -> int:
        fd = kern.create(*a, **kw)
        if fd > 0:
            fds.append(fd)
        return fd

    try:
        a1 = mk(T["ARRAY"], 4, 4, 1)
        a2 = mk(T["ARRAY"], 4, 4, 1)
        a_big = mk(T["ARRAY"], 4, 4, 2)
        a_vs8 = mk(T["ARRAY"], 4, 8, 1)
        h1 = mk(T["HASH"], 4, 4, 4)
        flex = mk(T["ARRAY"], 4, 4, 1, BPF_F_INNER_MAP)
        flex3 = mk(T["ARRAY"], 4, 4, 3, BPF_F_INNER_MAP)
        names = {kern.map_id(fd): n for fd, n in ((a1, "a1"), (a2, "a2"), (a_big, "a_big"), (h1, "h1"),
                                                 (flex, "flex"), (flex3, "flex3"))}
        out: list[object] = []

        def lookup(fd: int, key: bytes) -> object:
            r = kern.lookup(fd, key)
            return names.get(U32.unpack(r)[0], "?") if isinstance(r, bytes) else r

        # create-time template rules
        out.append(min(kern.create(T["ARRAY_OF_MAPS"], 4, 4, 2), 0))  # no inner map
        out.append(min(kern.create(T["ARRAY_OF_MAPS"], 4, 8, 2, inner=a1), 0))  # value_size 8
        aom = mk(T["ARRAY_OF_MAPS"], 4, 4, 2, inner=a1)
        out.append(min(kern.create(T["ARRAY_OF_MAPS"], 4, 4, 2, inner=aom), 0))  # two levels
        hom = mk(T["HASH_OF_MAPS"], 4, 4, 2, inner=h1)
        faom = mk(T["ARRAY_OF_MAPS"], 4, 4, 2, inner=flex)
        out += [aom > 0, hom > 0, faom > 0]
        # updates of the array of maps
        out += [kern.update(aom, U32.pack(0), U32.pack(a2)), lookup(aom, U32.pack(0)),
                kern.update(aom, U32.pack(1), U32.pack(a_big)),  # max_entries differs
                kern.update(aom, U32.pack(1), U32.pack(a_vs8)),  # value_size differs
                kern.update(aom, U32.pack(1), U32.pack(h1)),  # type differs
                kern.update(aom, U32.pack(1), U32.pack(9999)),  # bad fd
                kern.update(aom, U32.pack(1), U32.pack(a1), BPF_NOEXIST),  # flags
                kern.update(aom, U32.pack(2), U32.pack(a1)),  # past the end
                kern.update(aom, U32.pack(1), U32.pack(a1)), lookup(aom, U32.pack(1)),
                kern.update(aom, U32.pack(0), U32.pack(a1)), lookup(aom, U32.pack(0)),
                kern.delete(aom, U32.pack(0)), lookup(aom, U32.pack(0)), kern.delete(aom, U32.pack(0)),
                kern.delete(aom, U32.pack(5))]
        # BPF_F_INNER_MAP: any max_entries
        out += [kern.update(faom, U32.pack(0), U32.pack(flex3)), lookup(faom, U32.pack(0)),
                kern.update(faom, U32.pack(1), U32.pack(a1))]  # flags differ
        # the hash of maps
        out += [kern.update(hom, U32.pack(7), U32.pack(h1)), lookup(hom, U32.pack(7)),
                kern.update(hom, U32.pack(7), U32.pack(h1), BPF_NOEXIST),
                kern.update(hom, U32.pack(8), U32.pack(a1)),
                kern.update(hom, U32.pack(8), U32.pack(h1)), kern.update(hom, U32.pack(9), U32.pack(h1)),
                kern.update(hom, U32.pack(9), U32.pack(h1), 2),  # BPF_EXIST on an absent key
                kern.delete(hom, U32.pack(8)), lookup(hom, U32.pack(8)), kern.delete(hom, U32.pack(8))]
        return out
    finally:
        for fd in fds:
            kern.close(fd)


#: what 6.12's sources say (map_in_map.c, arraymap.c, hashtab.c); the host test compares the same script
WANT = [-errno.EINVAL, -errno.EINVAL, -errno.EINVAL, True, True, True,
        0, "a2", errno.EINVAL, errno.EINVAL, errno.EINVAL, errno.EBADF, errno.EINVAL, errno.E2BIG,
        0, "a1", 0, "a1", 0, errno.ENOENT, errno.ENOENT, errno.E2BIG,
        0, "flex3", errno.EINVAL,
        0, "h1", errno.EEXIST, errno.EINVAL, 0, errno.E2BIG, errno.ENOENT, 0, errno.ENOENT, errno.ENOENT]


def test_map_in_map_commands(k):
    assert _commands(Emu(k)) == WANT


@pytest.mark.kernel
def test_map_in_map_commands_on_the_host(k):
    if not _host_ok:
        pytest.skip(_host_why)
    assert _commands(Host()) == _commands(Emu(k))


def test_inner_maps_live_as_long_as_a_slot_holds_them(k):
    """bpf_map_fd_get_ptr takes a reference: closing the inner map's fd keeps it; deleting
    the slot (or freeing the outer map) drops the last one."""
    inner = k.map_create(map_type=T["ARRAY"], key_size=4, value_size=4, max_entries=1)
    outer = k.map_create(map_type=T["ARRAY_OF_MAPS"], key_size=4, value_size=4, max_entries=1, inner_map_fd=inner)
    mo = k.fds.get(inner, object)
    k.map_update_elem(outer, U32.pack(0), U32.pack(inner))
    k.close(inner)
    assert not mo.freed
    k.map_delete_elem(outer, U32.pack(0))
    k._settle()
    assert mo.freed
    inner = k.map_create(map_type=T["ARRAY"], key_size=4, value_size=4, max_entries=1)
    mo = k.fds.get(inner, object)
    k.map_update_elem(outer, U32.pack(0), U32.pack(inner))
    k.close(inner)
    k.close(outer)
    assert mo.freed


# --- programs -----------------------------------------------------------------------------------------

_OUTER = ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{outer}] ll\n"
          "call bpf_map_lookup_elem\n")
_INNER = "r1 = r0\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\n"
_END = "out:\nr0 = 0\nexit\n"
PROGRAMS: dict[str, str] = {
    # outer -> NULL check -> inner -> NULL check -> the value
    "value_of_inner": _OUTER + "if r0 == 0 goto out\n" + _INNER + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 +0)\nexit\n"
    + _END,
    "unchecked_outer_result": _OUTER + _INNER + "r0 = 0\nexit\n",
    "outer_result_as_value": _OUTER + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 +0)\nexit\n" + _END,
    "write_through_inner_map_ptr": _OUTER + "if r0 == 0 goto out\nr1 = 1\n*(u32 *)(r0 +0) = r1\n" + _END,
    "inner_result_unchecked": _OUTER + "if r0 == 0 goto out\n" + _INNER + "r0 = *(u32 *)(r0 +0)\nexit\n" + _END,
    "update_outer_from_prog": ("r1 = 0\n*(u32 *)(r10 -4) = r1\n*(u32 *)(r10 -8) = r1\nr2 = r10\nr2 += -4\n"
                               "r3 = r10\nr3 += -8\nr4 = 0\nr1 = map[fd:{outer}] ll\ncall bpf_map_update_elem\n"
                               "r0 = 0\nexit\n"),
    "update_inner_from_prog": (_OUTER + "if r0 == 0 goto out\nr1 = r0\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -4\n"
                               "r4 = 0\ncall bpf_map_update_elem\n" + _END),
    "inner_value_past_its_end": _OUTER + "if r0 == 0 goto out\n" + _INNER
    + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 +4)\nexit\n" + _END,
    "map_ptr_arithmetic": _OUTER + "if r0 == 0 goto out\nr0 += 8\n" + _INNER + _END,
}
#: program -> the outer map kind it uses
KIND = {n: "aom" for n in PROGRAMS}
PROGRAMS["value_of_inner_hash_of_maps"] = PROGRAMS["value_of_inner"]
KIND["value_of_inner_hash_of_maps"] = "hom"
PROGRAMS["flex_inner_const_key"] = PROGRAMS["inner_result_unchecked"]
KIND["flex_inner_const_key"] = "faom"
PROGRAMS["plain_inner_const_key"] = PROGRAMS["inner_result_unchecked"]
KIND["plain_inner_const_key"] = "aom"
PROGRAMS["flagged_array_const_key"] = ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{inner}] ll\n"
                                       "call bpf_map_lookup_elem\nr0 = *(u32 *)(r0 +0)\nexit\n")
KIND["flagged_array_const_key"] = "faom"

#: the 6.12 sources' answers (the host test compares every one)
EXPECT: dict[str, tuple[int, str]] = {
    "value_of_inner": (0, ""),
    "value_of_inner_hash_of_maps": (0, ""),
    "unchecked_outer_result": (errno.EACCES, "R1 type=map_value_or_null expected=map_ptr"),
    "outer_result_as_value": (0, ""),
    "write_through_inner_map_ptr": (errno.EACCES, "only read from bpf_array is supported"),
    "update_outer_from_prog": (errno.EINVAL, "cannot pass map_type 12 into func bpf_map_update_elem#2"),
    "update_inner_from_prog": (0, ""),
    "inner_value_past_its_end": (errno.EACCES, "R0 min value is outside of the allowed memory range"),
    "map_ptr_arithmetic": (errno.EACCES, "R0 pointer arithmetic on map_ptr prohibited"),
    # the inner template is an array of one entry: a constant in-range key elides the NULL check
    "plain_inner_const_key": (0, ""),
    # ... but not with BPF_F_INNER_MAP (the inner map may be larger or smaller), nor for an
    # array created with that flag and used directly (the 6.18 host; no elision)
    "flex_inner_const_key": (errno.EACCES, "R0 invalid mem access 'map_value_or_null'"),
    "flagged_array_const_key": (errno.EACCES, "R0 invalid mem access 'map_value_or_null'"),
}


def _setup(kern, kind: str) -> tuple[list[int], int]:
    """(fds to close, outer fd) with slot/key 0 holding an inner array whose value is 42."""
    if kind == "hom":
        inner = kern.create(T["ARRAY"], 4, 4, 1)
        outer = kern.create(T["HASH_OF_MAPS"], 4, 4, 2, inner=inner)
    elif kind == "faom":
        inner = kern.create(T["ARRAY"], 4, 4, 4, BPF_F_INNER_MAP)
        tmpl = kern.create(T["ARRAY"], 4, 4, 1, BPF_F_INNER_MAP)
        outer = kern.create(T["ARRAY_OF_MAPS"], 4, 4, 2, inner=tmpl)
        kern.close(tmpl)
    else:
        inner = kern.create(T["ARRAY"], 4, 4, 1)
        outer = kern.create(T["ARRAY_OF_MAPS"], 4, 4, 2, inner=inner)
    assert inner > 0 and outer > 0
    assert kern.update(inner, U32.pack(0), U32.pack(42)) == 0
    assert kern.update(outer, U32.pack(0), U32.pack(inner)) == 0
    return [inner, outer], outer


def _load_and_run(kern, name: str) -> tuple[int, str, int | None]:
    fds, outer = _setup(kern, KIND[name])
    try:
        err, line, pfd = kern.load(PROGRAMS[name].format(outer=outer, inner=fds[0]))
        ret = None
        if pfd >= 0:
            ret = kern.run(pfd)
            kern.close(pfd)
        return err, line, ret
    finally:
        for fd in fds:
            kern.close(fd)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_verifier_and_run(k, name):
    err, line, ret = _load_and_run(Emu(k), name)
    assert (err, line) == EXPECT[name]
    if name.startswith("value_of_inner"):
        assert ret == 42


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_verifier_and_run_on_the_host(k, name):
    if not _host_ok:
        pytest.skip(_host_why)
    assert _load_and_run(Emu(k), name) == _load_and_run(Host(), name)


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["value_of_inner", "value_of_inner_hash_of_maps", "unchecked_outer_result"])
def test_whole_log_on_the_host(k, name):
    """Every state the log prints (level 2): the outer lookup's map_value_or_null, the inner
    template's map_ptr (no name: the template is a bare struct bpf_map), the inner value."""
    if not _host_ok:
        pytest.skip(_host_why)
    from emu.host import hostbpf
    from emu.host.hostbpf import comparable_log

    def emu_log() -> str:
        fds, outer = _setup(Emu(k), KIND[name])
        try:
            try:
                pfd = k.prog_load(assemble(PROGRAMS[name].format(outer=outer, inner=fds[0])),
                                  prog_type=SOCKET_FILTER, log_level=2)
            except KernelError as e:
                return getattr(e, "log", "") or ""
            log = k.prog_info(pfd).verifier_log
            k.close(pfd)
            return log or ""
        finally:
            for fd in fds:
                k.close(fd)

    def host_log() -> str:
        kern = Host()
        fds, outer = _setup(kern, KIND[name])
        try:
            r = hostbpf.prog_load(SOCKET_FILTER, encode(assemble(PROGRAMS[name].format(outer=outer, inner=fds[0]))),
                                  log_level=2)
            r.close()
            return r.log
        finally:
            for fd in fds:
                kern.close(fd)

    def body(log: str) -> list[str]:
        return [ln for ln in comparable_log(log).splitlines() if not ln.startswith(("processed ", "verification time"))]

    assert body(emu_log()) == body(host_log())
