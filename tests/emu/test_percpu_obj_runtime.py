"""Per-CPU allocated objects at run time (emu/kernel/graph_kfuncs.py): ``bpf_percpu_obj_new``
and ``bpf_percpu_obj_drop`` through the JIT, a per-CPU kptr stashed in a map value with
``bpf_kptr_xchg`` and dropped by ``bpf_obj_free_fields`` when the element goes. The
``kernel``-marked test loads and test-runs the same syscall programs on the host."""

from __future__ import annotations

import struct

import pytest

from emu.host import hostbpf
from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.btf import Member, Ptr, Struct, TypeTag, parse_c
from kernel_model.btf import structs as S
from kernel_model.insn import encode

SYSCALL, SLEEPABLE, HASH = 31, 16, 1
C = """
struct elem { long a; long b; };
int prog(void *ctx);
int k;
"""
KFUNCS = ("bpf_percpu_obj_new_impl", "bpf_percpu_obj_drop_impl")
_LOOKUP = ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{fd}] ll\n"
           "call bpf_map_lookup_elem\nif r0 == 0 goto out\nr6 = r0\n")
_NEW = "r1 = {elem}\nr2 = 0\ncall kernel-function#{bpf_percpu_obj_new_impl}\nif r0 == 0 goto out\nr7 = r0\n"
PROGRAMS = {
    # a new object dropped at once: 1
    "new_drop": _NEW + "r1 = r7\nr2 = 0\ncall kernel-function#{bpf_percpu_obj_drop_impl}\nr0 = 1\nexit\n",
    # a new object stashed; the one it replaces (if any) dropped: 1 on an empty slot, 2 after
    "stash": _LOOKUP + _NEW + "r1 = r6\nr2 = r7\ncall bpf_kptr_xchg\nif r0 == 0 goto first\nr1 = r0\nr2 = 0\n"
             "call kernel-function#{bpf_percpu_obj_drop_impl}\nr0 = 2\nexit\nfirst:\nr0 = 1\nexit\n",
}


def _btf() -> tuple[bytes, dict[str, int]]:
    """``struct pv { struct elem __percpu_kptr *p; }``."""
    b = parse_c(C)
    ids = {"elem": b.find("elem", S.KIND_STRUCT), "int": b.find("int", S.KIND_INT), "prog": b.find("prog", S.KIND_FUNC)}
    ids["pv"] = b.add(Struct("pv", 8, (Member("p", b.add(Ptr(b.add(TypeTag("percpu_kptr", ids["elem"])))), 0),)))
    return b.to_bytes(), ids


def _source(name: str, fd: int, ids: dict[str, int], kids: dict[str, int]) -> str:
    return PROGRAMS[name].format(fd=fd, elem=ids["elem"], **kids) + "out:\nr0 = 0\nexit\n"


class _Emu:
    def __init__(self) -> None:
        self.k = Kernel(modules=())
        blob, self.ids = _btf()
        self.bfd = self.k.btf_load(blob)
        self.map = self.k.map_create(map_type=HASH, key_size=4, value_size=8, max_entries=1, map_name="pv",
                                     btf_fd=self.bfd, btf_key_type_id=self.ids["int"],
                                     btf_value_type_id=self.ids["pv"])
        self.k.map_update_elem(self.map, bytes(4), bytes(8))
        self.kids = {n: self.k.btf.find(n, S.KIND_FUNC) for n in KFUNCS}
        self.progs: dict[str, int] = {}

    def load(self, name: str) -> None:
        if name not in self.progs:
            self.progs[name] = self.k.prog_load(assemble(_source(name, self.map, self.ids, self.kids)),
                                                prog_type=SYSCALL, prog_flags=SLEEPABLE, prog_btf_fd=self.bfd,
                                                func_info=struct.pack("<II", 0, self.ids["prog"]),
                                                func_info_rec_size=8)

    def run(self, name: str) -> int:
        self.load(name)
        return self.k.prog_test_run(self.progs[name], ctx_in=bytes(8)).retval


def test_new_and_drop_allocate_and_free_per_cpu_memory() -> None:
    e = _Emu()
    try:
        g, alloc = e.k.graph, e.k.machine.alloc
        e.load("new_drop")  # the load takes per-CPU memory of its own (the program's stats)
        used = len(alloc.percpu_heap.used)
        assert e.run("new_drop") == 1
        assert g.live_percpu == {} and len(alloc.percpu_heap.used) == used and g.warnings == []
    finally:
        e.k.shutdown()


def test_stashed_per_cpu_kptr_is_dropped_with_its_element() -> None:
    e = _Emu()
    try:
        g, alloc = e.k.graph, e.k.machine.alloc
        e.load("stash")
        used = len(alloc.percpu_heap.used)
        assert e.run("stash") == 1
        assert len(g.live_percpu) == 1 and len(alloc.percpu_heap.used) == used + 1
        (p, pptr), = g.live_percpu.items()
        assert e.k.machine.read_u64(p) == pptr  # the word the program's pointer names holds the per-CPU pointer
        assert e.run("stash") == 2  # the stashed one came back and was dropped
        assert len(g.live_percpu) == 1
        e.k.map_delete_elem(e.map, bytes(4))  # bpf_obj_free_fields drops the stashed one
        assert g.live_percpu == {} and len(alloc.percpu_heap.used) == used and g.warnings == []
    finally:
        e.k.shutdown()


@pytest.mark.kernel
def test_host_gives_the_same_results() -> None:
    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    blob, ids = _btf()
    bfd, err, log = hostbpf.btf_load(blob)
    assert bfd >= 0, log
    mfd, err = hostbpf.map_create(HASH, 4, 8, 1, name="pv", btf_fd=bfd, btf_key_type_id=ids["int"],
                                  btf_value_type_id=ids["pv"])
    assert mfd >= 0, err
    kids = {n: hostbpf.host_btf_id(n, "func") for n in KFUNCS}
    host = []
    try:
        hostbpf.map_update(mfd, bytes(4), bytes(8))
        for name in ("new_drop", "stash", "stash"):
            r = hostbpf.prog_load(SYSCALL, encode(assemble(_source(name, mfd, ids, kids))),  # type: ignore[arg-type]
                                  prog_flags=SLEEPABLE, prog_btf_fd=bfd,
                                  func_info=struct.pack("<II", 0, ids["prog"]), func_info_rec_size=8)
            assert r.accepted, r.log
            try:
                host.append(hostbpf.test_run(r.fd, ctx_in=bytes(8)).retval)
            finally:
                r.close()
    finally:
        hostbpf.close(mfd)
        hostbpf.close(bfd)
    e = _Emu()
    try:
        assert [e.run(n) for n in ("new_drop", "stash", "stash")] == host == [1, 1, 2]
    finally:
        e.k.shutdown()
