"""Prog arrays and tail calls in the emulated kernel, against the host kernel.

The same bpf() sequence runs on the host (verify, BPF_PROG_TEST_RUN: nothing is
attached) and on the emulated kernel; every result is compared (errno, retval,
map contents). The JIT's bytes are compared in tests/jit/test_tail_call_jit.py.
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.kernel import Kernel
from kernel_model import isa
from kernel_model.errors import KernelError
from kernel_model.insn import Insn, encode

U32 = struct.Struct("<I")
MOV = isa.ALU64 | isa.MOV | isa.K
SLEEPABLE = 1 << 4


def _ld_map(reg: int, fd: int) -> list[Insn]:
    return [Insn(isa.LD_IMM64, reg, isa.PSEUDO_MAP_FD, 0, fd), Insn(0, 0, 0, 0, 0)]


def callee(ret: int) -> bytes:
    return encode([Insn(MOV, 0, 0, 0, ret), Insn(isa.EXIT_INSN)])


def caller(pa: int, key: int | None) -> bytes:
    """bpf_tail_call(skb, pa, key) -- key constant (direct) or skb->len (indirect) -- then 7."""
    p = _ld_map(2, pa)
    p.append(Insn(MOV, 3, 0, 0, key) if key is not None else Insn(isa.LDX | isa.MEM | isa.W, 3, 1, 0, 0))
    p += [Insn(isa.CALL_INSN, 0, 0, 0, 12), Insn(MOV, 0, 0, 0, 7), Insn(isa.EXIT_INSN)]
    return encode(p)


def counting(pa: int, counter: int) -> bytes:
    """counter[0] += 1, then tail-call slot 0 of ``pa`` (itself), else return 1."""
    p = [Insn(isa.ALU64 | isa.MOV | isa.X, 6, 1, 0, 0), Insn(isa.ST | isa.MEM | isa.W, 10, 0, -4, 0)]
    p += _ld_map(1, counter)
    p += [Insn(isa.ALU64 | isa.MOV | isa.X, 2, 10, 0, 0), Insn(isa.ALU64 | isa.ADD | isa.K, 2, 0, 0, -4),
          Insn(isa.CALL_INSN, 0, 0, 0, 1), Insn(isa.JMP | isa.JEQ | isa.K, 0, 0, 2, 0),
          Insn(MOV, 1, 0, 0, 1), Insn(isa.STX | isa.ATOMIC | isa.DW, 0, 1, 0, isa.ADD)]
    p += [Insn(isa.ALU64 | isa.MOV | isa.X, 1, 6, 0, 0)] + _ld_map(2, pa)
    p += [Insn(MOV, 3, 0, 0, 0), Insn(isa.CALL_INSN, 0, 0, 0, 12), Insn(MOV, 0, 0, 0, 1), Insn(isa.EXIT_INSN)]
    return encode(p)


class Emu:
    def __init__(self) -> None:
        self.k = Kernel(modules=(), nr_cpus=2)

    def _do(self, fn, *a, **kw):
        try:
            r = fn(*a, **kw)
        except KernelError as e:
            return -e.errno
        return 0 if r is None else r

    def map_create(self, t, ks, vs, n):
        return self.k.map_create(map_type=t, key_size=ks, value_size=vs, max_entries=n)

    def load(self, insns, prog_type=1, flags=0):
        return self._do(self.k.prog_load, insns, prog_type=prog_type, prog_flags=flags)

    def update(self, fd, key, value, flags=0):
        return self._do(self.k.map_update_elem, fd, key, value, flags)

    def lookup(self, fd, key, size=4):
        return self._do(self.k.map_lookup_elem, fd, key)

    def delete(self, fd, key):
        return self._do(self.k.map_delete_elem, fd, key)

    def run(self, fd, n=64):
        return self.k.prog_test_run(fd, data_in=bytes(n)).retval

    def prog_id(self, fd):
        return self.k.prog_info(fd).id

    def close(self, fd):
        self.k.close(fd)

    def shutdown(self):
        self.k.shutdown()


class Host:
    def __init__(self) -> None:
        hb = pytest.importorskip("emu.host.hostbpf")
        ok, why = hb.oracle_status()
        if not ok:
            pytest.skip(why)
        self.hb = hb
        self.fds: list[int] = []

    def map_create(self, t, ks, vs, n):
        fd, err = self.hb.map_create(t, ks, vs, n)
        assert fd >= 0, err
        self.fds.append(fd)
        return fd

    def load(self, insns, prog_type=1, flags=0):
        r = self.hb.prog_load(prog_type, insns, log_level=0, prog_flags=flags)
        if not r.accepted:
            return -r.errno
        self.fds.append(r.fd)
        return r.fd

    def update(self, fd, key, value, flags=0):
        rc, err = self.hb.map_update(fd, key, value, flags)
        return -err if rc else 0

    def lookup(self, fd, key, size=4):
        try:
            return self.hb.map_lookup(fd, key, size)
        except OSError as e:
            return -e.errno

    def delete(self, fd, key):
        rc, err = self.hb.map_delete(fd, key)
        return -err if rc else 0

    def run(self, fd, n=64):
        return self.hb.test_run(fd, data_in=bytes(n)).retval

    def prog_id(self, fd):
        return self.hb.prog_info(fd, with_code=False).id

    def close(self, fd):
        self.hb.close(fd)
        self.fds.remove(fd)

    def shutdown(self):
        for fd in self.fds:
            self.hb.close(fd)


def scenario(s) -> list:
    """Every result of one bpf() sequence on ``s`` (host or emulated)."""
    out = []
    pa = s.map_create(3, 4, 4, 4)
    c42, c5 = s.load(callee(42)), s.load(callee(5))
    direct, empty, indirect = s.load(caller(pa, 1)), s.load(caller(pa, 2)), s.load(caller(pa, None))
    out.append(("empty", s.run(direct), s.run(empty), s.run(indirect, 15)))
    out.append(("update", s.update(pa, U32.pack(1), U32.pack(c42)), s.update(pa, U32.pack(2), U32.pack(c5), 1),
                s.update(pa, U32.pack(4), U32.pack(c5)), s.update(pa, U32.pack(3), U32.pack(999)),
                s.update(pa, U32.pack(3), U32.pack(pa))))
    out.append(("lookup", s.lookup(pa, U32.pack(1)) == U32.pack(s.prog_id(c42)), s.lookup(pa, U32.pack(2))))
    out.append(("filled", s.run(direct), s.run(empty), s.run(indirect, 15), s.run(indirect, 16), s.run(indirect)))
    out.append(("replace", s.update(pa, U32.pack(1), U32.pack(c5)), s.run(direct), s.run(indirect, 15)))
    out.append(("delete", s.delete(pa, U32.pack(1)), s.delete(pa, U32.pack(1)), s.run(direct), s.run(indirect, 15)))
    sysprog = s.load(encode([Insn(MOV, 0, 0, 0, 0), Insn(isa.EXIT_INSN)]), prog_type=31, flags=SLEEPABLE)
    out.append(("owner", sysprog > 0, s.update(pa, U32.pack(0), U32.pack(sysprog))))
    # 1 + MAX_TAIL_CALL_CNT runs of a program tail-calling itself
    counter = s.map_create(2, 4, 8, 1)
    cnt = s.load(counting(pa, counter))
    out.append(("chain", s.update(pa, U32.pack(0), U32.pack(cnt)), s.run(cnt), s.lookup(counter, U32.pack(0), 8)))
    return out


@pytest.mark.kernel
def test_prog_array_and_tail_calls_agree_with_the_host():
    host, emu = Host(), Emu()
    try:
        h = scenario(host)
        e = scenario(emu)
    finally:
        host.shutdown()
        emu.shutdown()
    assert e == h


def test_scenario_on_the_emulated_kernel():
    """The emulated results stand alone (for machines without bpf())."""
    emu = Emu()
    try:
        out = dict((r[0], r[1:]) for r in scenario(emu))
    finally:
        emu.shutdown()
    assert out["empty"] == (7, 7, 7)
    assert out["update"] == (0, -errno.EINVAL, -errno.E2BIG, -errno.EBADF, -errno.EINVAL)
    assert out["filled"] == (42, 7, 42, 7, 7)
    assert out["replace"] == (0, 5, 5)
    assert out["delete"] == (0, -errno.ENOENT, 7, 7)
    assert out["owner"] == (True, -errno.EINVAL)
    assert out["chain"][2] == struct.pack("<Q", 34)  # MAX_TAIL_CALL_CNT = 33 tail calls


def test_closing_the_last_fd_clears_the_array():
    emu = Emu()
    try:
        pa = emu.map_create(3, 4, 4, 2)
        c = emu.load(callee(42))
        d = emu.load(caller(pa, 0))
        assert emu.update(pa, U32.pack(0), U32.pack(c)) == 0
        assert emu.run(d) == 42
        emu.close(pa)  # the program still holds the map, but no fd does: prog_array_map_clear
        assert emu.run(d) == 7
    finally:
        emu.shutdown()


def test_xlated_dump_shows_the_call():
    emu = Emu()
    try:
        pa = emu.map_create(3, 4, 4, 2)
        d = emu.load(caller(pa, 0))
        xl = emu.k.prog_info(d).xlated
        assert xl[8 * 3:8 * 4] == encode([Insn(isa.CALL_INSN, 0, 0, 0, 12)])  # bpf_insn_prepare_dump
    finally:
        emu.shutdown()
