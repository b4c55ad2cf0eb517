"""Red-black trees at run time (emu/kernel/rbtree_rt.py): bpf_rbtree_add's ``less`` callback
runs inside the program's run (emu/machine/callbacks.py); nodes come back from
bpf_rbtree_first/remove in ``less`` order; the number of ``less`` calls each insertion made
follows the tree's shape (lib/rbtree.c). The ``kernel``-marked test runs the same program
on the host (BPF_PROG_TEST_RUN of a syscall program; nothing attached)."""

from __future__ import annotations

import struct

import pytest

from emu.host import hostbpf
from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.btf import DeclTag, parse_c
from kernel_model.btf import structs as S
from kernel_model.btf.types import Func
from kernel_model.insn import encode
from kernel_model.profile import get_profile
from verifier.cfg import find_subprogs

SYSCALL, SLEEPABLE = 31, 16
C = """
struct bpf_spin_lock { unsigned int val; };
struct bpf_rb_root { unsigned long long __opaque[2]; };
struct bpf_rb_node { unsigned long long __opaque[4]; };
struct elem { long v; long cnt; struct bpf_rb_node node; };
struct val { struct bpf_spin_lock l; int pad; struct bpf_rb_root r; };
int prog(void *ctx);
int k;
"""
KFUNCS = ("bpf_obj_new_impl", "bpf_obj_drop_impl", "bpf_rbtree_add_impl", "bpf_rbtree_first", "bpf_rbtree_remove")
VALUES = (5, 3, 8, 1, 4, 7, 9, 2, 6, 10, 11, 12)


def _btf() -> tuple[bytes, dict[str, int]]:
    b = parse_c(C)
    ids = {n: b.find(n, S.KIND_STRUCT) for n in ("val", "elem")}
    ids["int"] = b.find("int", S.KIND_INT)
    ids["prog"] = b.find("prog", S.KIND_FUNC)
    b.add(DeclTag("contains:elem:node", ids["val"], 2))  # on member 'r'
    ids["less"] = b.add(Func("less", b.type_by_id(ids["prog"]).type_id, 0))  # static
    ids["size"] = b.size_of(ids["val"])
    return b.to_bytes(), ids


_INSERT = """
r1 = {elem}
r2 = 0
call kernel-function#{bpf_obj_new_impl}
if r0 == 0 goto out
r7 = r0
r1 = {v}
*(u64 *)(r7 +0) = r1
r1 = 0
*(u64 *)(r7 +8) = r1
r1 = r6
call 93
r1 = r6
r1 += 8
r2 = r7
r2 += 16
r3 = func[less] ll
r4 = 0
r5 = 0
call kernel-function#{bpf_rbtree_add_impl}
r1 = r6
call 94
"""
_POP = """
r1 = r6
call 93
r1 = r6
r1 += 8
call kernel-function#{bpf_rbtree_first}
if r0 != 0 goto +3
r1 = r6
call 94
goto done
r1 = r6
r1 += 8
r2 = r0
call kernel-function#{bpf_rbtree_remove}
r7 = r0
r1 = r6
call 94
if r7 == 0 goto done
r1 = *(u64 *)(r7 -16)
r2 = *(u64 *)(r7 -8)
r8 *= 31
r8 += r1
r8 &= 0xffff
r9 += r2
r1 = r7
r1 += -16
r2 = 0
call kernel-function#{bpf_obj_drop_impl}
"""
_MAIN_HEAD = """
*(u32 *)(r10 -4) = 0
r1 = map[fd:{fd}] ll
r2 = r10
r2 += -4
call 1
if r0 == 0 goto out
r6 = r0
r8 = 0
r9 = 0
"""
_TAIL = """
done:
r9 <<= 16
r0 = r8
r0 += r9
exit
out:
r0 = 0
exit
less:
r3 = *(u64 *)(r1 -16)
r4 = *(u64 *)(r2 -16)
r5 = *(u64 *)(r1 -8)
r5 += 1
*(u64 *)(r1 -8) = r5
r0 = 0
if r3 >= r4 goto +1
r0 = 1
exit
"""


def _source(fd: int, ids: dict[str, int], kids: dict[str, int]) -> str:
    text = _MAIN_HEAD.format(fd=fd)
    for v in VALUES:
        text += _INSERT.format(v=v, elem=ids["elem"], **kids)
    for _ in VALUES:
        text += _POP.format(**kids)
    return text + _TAIL


def _func_info(insns, ids: dict[str, int]) -> bytes:  # type: ignore[no-untyped-def]
    starts = find_subprogs(insns)
    assert len(starts) == 2
    return struct.pack("<IIII", starts[0], ids["prog"], starts[1], ids["less"])


def _expected() -> int:
    """The nodes popped in order 1..12: acc = acc * 31 + v (16 bits)."""
    acc = 0
    for v in sorted(VALUES):
        acc = (acc * 31 + v) & 0xFFFF
    return acc


def _emu() -> tuple[int, Kernel]:
    k = Kernel(get_profile("latest"))
    blob, ids = _btf()
    bfd = k.btf_load(blob)
    mfd = k.map_create(map_type=2, key_size=4, value_size=ids["size"], max_entries=1, map_name="m", btf_fd=bfd,
                       btf_key_type_id=ids["int"], btf_value_type_id=ids["val"])
    kids = {n: k.btf.find(n, S.KIND_FUNC) for n in KFUNCS}
    insns = assemble(_source(mfd, ids, kids))
    pfd = k.prog_load(insns, prog_type=SYSCALL, prog_flags=SLEEPABLE, prog_btf_fd=bfd,
                      func_info=_func_info(insns, ids), func_info_rec_size=8)
    return k.prog_test_run(pfd, ctx_in=bytes(8)).retval, k


def test_rbtree_orders_by_less_and_frees_every_node() -> None:
    ret, k = _emu()
    assert ret & 0xFFFF == _expected()
    # less() ran once per level each insertion descended: 27 calls for this sequence on the
    # 6.18 host (test_host_rbtree_same_order_and_less_calls); the same tree without its
    # rebalancing would make 28
    assert ret >> 16 == 27
    assert k.graph.live == {}


_host_ok, _host_why = hostbpf.oracle_status()


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
def test_host_rbtree_same_order_and_less_calls() -> None:
    blob, ids = _btf()
    bfd, err, log = hostbpf.btf_load(blob)
    assert bfd >= 0, log
    mfd, err = hostbpf.map_create(2, 4, ids["size"], 1, name="m", btf_fd=bfd, btf_key_type_id=ids["int"],
                                  btf_value_type_id=ids["val"])
    assert mfd >= 0, err
    kids = {n: hostbpf.host_btf_id(n, "func") for n in KFUNCS}
    if any(v is None for v in kids.values()):
        pytest.skip("the host's BTF lacks an rbtree kfunc")
    try:
        insns = assemble(_source(mfd, ids, kids))  # type: ignore[arg-type]
        r = hostbpf.prog_load(SYSCALL, encode(insns), prog_flags=SLEEPABLE, prog_btf_fd=bfd,
                              func_info=_func_info(insns, ids), func_info_rec_size=8)
        assert r.accepted, r.log[-2000:]
        try:
            host = hostbpf.test_run(r.fd, ctx_in=bytes(8)).retval
        finally:
            r.close()
    finally:
        hostbpf.close(mfd)
        hostbpf.close(bfd)
    ours, _ = _emu()
    assert ours == host
