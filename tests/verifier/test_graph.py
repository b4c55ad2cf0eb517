"""Allocated objects and lists: ``bpf_obj_new``/``bpf_obj_drop``, ``bpf_list_push_back``/
``bpf_list_pop_front`` under the value's ``bpf_spin_lock``, owning and non-owning references.

Each program runs on the emulated kernel and, where bpf() is permitted, on the host's
(BPF_BTF_LOAD, BPF_MAP_CREATE, BPF_PROG_LOAD of a syscall program and BPF_PROG_TEST_RUN;
nothing attached): the verdict, errno and last log line must be the host's, and a test run
the host's return value. The kfuncs' BTF ids are read from each kernel's vmlinux BTF.
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.host import hostbpf
from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.btf import DeclTag, parse_c
from kernel_model.btf import structs as S
from kernel_model.btf_record import LIST_HEAD, check_struct_metas, parse_fields, struct_meta
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.profile import get_profile

SYSCALL = 31
SLEEPABLE = 16
GRAPH_C = """
struct bpf_spin_lock { unsigned int val; };
struct bpf_list_head { unsigned long long __opaque[2]; };
struct bpf_list_node { unsigned long long __opaque[3]; };
struct elem { long v; struct bpf_list_node node; };
struct val { struct bpf_spin_lock l; int pad; struct bpf_list_head h; };
int prog(void *ctx);
int k;
"""


def _btf(contains: str | None = "contains:elem:node", c: str = GRAPH_C) -> tuple[bytes, dict[str, int]]:
    b = parse_c(c)
    ids = {n: b.find(n, S.KIND_STRUCT) for n in ("val", "elem")}
    ids["int"] = b.find("int", S.KIND_INT)
    ids["prog"] = b.find("prog", S.KIND_FUNC)
    if contains is not None:
        b.add(DeclTag(contains, ids["val"], 2))  # on member 'h'
    ids["size"] = b.size_of(ids["val"])
    return b.to_bytes(), ids


# --- btf_record ----------------------------------------------------------------------------------
def test_record_of_value_and_local_type() -> None:
    from kernel_model.btf import BTF
    blob, ids = _btf()
    b = BTF.from_bytes(blob)
    rec = parse_fields(b, ids["val"], ids["size"])
    assert rec is not None and not rec.error
    head = rec.find(8, LIST_HEAD)
    assert head is not None and (head.value_btf_id, head.node_offset) == (ids["elem"], 8)
    assert check_struct_metas(b) == 0
    meta = struct_meta(b, ids["elem"])
    assert meta is not None and [(f.name, f.offset) for f in meta.fields] == [("bpf_list_node", 8)]


@pytest.mark.parametrize("tag,err", [(None, errno.EINVAL), ("contains:nosuch:node", errno.ENOENT),
                                     ("contains:elem:v", errno.EINVAL), ("contains:elem:", errno.EINVAL),
                                     ("contains:elem:nosuch", errno.ENOENT)])
def test_bad_contains_tags(tag: str | None, err: int) -> None:
    from kernel_model.btf import BTF
    blob, ids = _btf(tag)
    b = BTF.from_bytes(blob)
    rec = parse_fields(b, ids["val"], ids["size"])
    assert rec is not None and rec.error == -err


def test_graph_root_needs_a_lock() -> None:
    from kernel_model.btf import BTF
    c = GRAPH_C.replace("struct val { struct bpf_spin_lock l; int pad;", "struct val { int l; int pad;")
    blob, ids = _btf(c=c)
    rec = parse_fields(BTF.from_bytes(blob), ids["val"], ids["size"])
    assert rec is not None and rec.error == -errno.EINVAL


# --- programs ------------------------------------------------------------------------------------
_LOOKUP = ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{fd}] ll\n"
           "call bpf_map_lookup_elem\nif r0 == 0 goto out\nr6 = r0\n")
_NEW = "r1 = {elem}\nr2 = 0\ncall kernel-function#{bpf_obj_new_impl}\nif r0 == 0 goto out\nr1 = {v}\n" \
       "*(u64 *)(r0 +0) = r1\nr7 = r0\n"
_LOCK = "r1 = r6\ncall bpf_spin_lock\n"
_UNLOCK = "r1 = r6\ncall bpf_spin_unlock\n"
_PUSH = "r1 = r6\nr1 += 8\nr2 = r7\nr2 += 8\nr3 = 0\nr4 = 0\ncall kernel-function#{bpf_list_push_back_impl}\n"
_POP = "r1 = r6\nr1 += 8\ncall kernel-function#{bpf_list_pop_front}\nr8 = r0\n"
_DROP_POPPED = ("if r8 == 0 goto out\nr8 += -8\nr9 = *(u64 *)(r8 +0)\nr1 = r8\nr2 = 0\n"
                "call kernel-function#{bpf_obj_drop_impl}\nr0 = r9\nexit\n")
PROGRAMS: dict[str, str] = {
    "push_pop_drop": _LOOKUP + _NEW + _LOCK + _PUSH + _POP + _UNLOCK + _DROP_POPPED,
    "push_only": _LOOKUP + _NEW + _LOCK + _PUSH + _UNLOCK,
    "pop_only": _LOOKUP + _LOCK + _POP + _UNLOCK + _DROP_POPPED,
    "new_drop": _LOOKUP + _NEW + "r1 = r7\nr2 = 0\ncall kernel-function#{bpf_obj_drop_impl}\n",
    "push_without_lock": _LOOKUP + _NEW + _PUSH,
    "leak": _LOOKUP + _NEW,
    "use_after_unlock": _LOOKUP + _NEW + _LOCK + _PUSH + _UNLOCK + "r0 = *(u64 *)(r7 +0)\nexit\n",
    "use_before_unlock": _LOOKUP + _NEW + _LOCK + _PUSH + "r9 = *(u64 *)(r7 +0)\n" + _UNLOCK + "r0 = r9\nexit\n",
    "push_twice": _LOOKUP + _NEW + _LOCK + _PUSH + _PUSH + _UNLOCK,
    "node_at_wrong_offset": _LOOKUP + _NEW + _LOCK + _PUSH.replace("r2 += 8\n", "") + _UNLOCK,
    "drop_map_value": _LOOKUP + "r1 = r6\nr2 = 0\ncall kernel-function#{bpf_obj_drop_impl}\n",
    "drop_maybe_null": _LOOKUP + "r1 = {elem}\nr2 = 0\ncall kernel-function#{bpf_obj_new_impl}\nr1 = r0\nr2 = 0\n"
                                 "call kernel-function#{bpf_obj_drop_impl}\n",
    "pop_unchecked": _LOOKUP + _LOCK + _POP + _UNLOCK + "r0 = *(u64 *)(r8 +0)\nexit\n",
    "obj_new_not_struct": _LOOKUP + "r1 = {int}\nr2 = 0\ncall kernel-function#{bpf_obj_new_impl}\n",
    "head_wrong_offset": _LOOKUP + _NEW + _LOCK + _PUSH.replace("r1 += 8\n", "r1 += 4\n") + _UNLOCK,
    "direct_node_access": _LOOKUP + _NEW + "r1 = *(u64 *)(r7 +8)\nr1 = r7\nr2 = 0\n"
                                          "call kernel-function#{bpf_obj_drop_impl}\n",
}
KFUNCS = ("bpf_obj_new_impl", "bpf_obj_drop_impl", "bpf_list_push_back_impl", "bpf_list_pop_front")


def _source(name: str, fd: int, ids: dict[str, int], kfunc_ids: dict[str, int]) -> str:
    body = PROGRAMS[name].format(fd=fd, elem=ids["elem"], int=ids["int"], v=42, **kfunc_ids)
    return body + "out:\nr0 = 0\nexit\n"


def _func_info(ids: dict[str, int]) -> bytes:
    return struct.pack("<II", 0, ids["prog"])


def _last_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("processed ", "verification time",
                                                                                  "stack depth"))]
    return lines[-1] if lines else ""


@pytest.fixture
def kernel() -> Kernel:
    return Kernel(get_profile("latest"))


def _emu(kernel: Kernel, name: str, run: bool = False) -> tuple[int, str, int | None]:
    """(errno, last log line, test-run retval) on the emulated kernel."""
    blob, ids = _btf()
    bfd = kernel.btf_load(blob)
    mfd = kernel.map_create(map_type=2, key_size=4, value_size=ids["size"], max_entries=1, map_name="m",
                            btf_fd=bfd, btf_key_type_id=ids["int"], btf_value_type_id=ids["val"])
    kids = {n: kernel.btf.find(n, S.KIND_FUNC) for n in KFUNCS}
    try:
        pfd = kernel.prog_load(assemble(_source(name, mfd, ids, kids)), prog_type=SYSCALL, log_level=1,
                               prog_flags=SLEEPABLE, prog_btf_fd=bfd, func_info=_func_info(ids),
                               func_info_rec_size=8)
    except KernelError as e:
        return e.errno, _last_line(getattr(e, "log", "") or ""), None
    if not run:
        return 0, "", None
    return 0, "", kernel.prog_test_run(pfd, ctx_in=bytes(8)).retval


WANT = {  # the 6.18 host's answers (checked against the host by test_host_agrees)
    "push_pop_drop": (0, ""), "push_only": (0, ""), "pop_only": (0, ""), "new_drop": (0, ""),
    "use_before_unlock": (0, ""),
    "push_without_lock": (errno.EINVAL, "bpf_spin_lock at off=0 must be held for bpf_list_head"),
    "use_after_unlock": (errno.EACCES, "R7 invalid mem access 'scalar'"),
    "push_twice": (errno.EINVAL, "arg#1 expected pointer to allocated object"),
    "node_at_wrong_offset": (errno.EINVAL, "bpf_list_node not found at offset=0"),
    "drop_map_value": (errno.EINVAL, "R1 must be referenced or trusted"),  # KF_RELEASE: trusted args first
    "leak": (errno.EINVAL, "BPF_EXIT instruction in main prog would lead to reference leak"),
    "drop_maybe_null": (errno.EACCES, "Possibly NULL pointer passed to trusted arg0"),
    "pop_unchecked": (errno.EACCES, "R8 invalid mem access 'ptr_or_null_'"),
    "obj_new_not_struct": (errno.EINVAL, "bpf_obj_new/bpf_percpu_obj_new type ID argument must be of a struct"),
    "head_wrong_offset": (errno.EINVAL, "bpf_list_head not found at offset=4"),
    "direct_node_access": (errno.EACCES, "direct access to bpf_list_node is disallowed"),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_verifier(kernel: Kernel, name: str) -> None:
    err, line, _ = _emu(kernel, name)
    assert (err, line) == WANT[name]


def test_runtime_push_pop(kernel: Kernel) -> None:
    """The object pushed is the object popped: its value comes back, and it is freed."""
    err, line, ret = _emu(kernel, "push_pop_drop", run=True)
    assert err == 0, line
    assert ret == 42
    assert kernel.graph.live == {}


def test_runtime_list_keeps_nodes(kernel: Kernel) -> None:
    """A pushed node stays in the map value's list across runs: the next run pops it."""
    _, _, r1 = _emu(kernel, "pop_only", run=True)
    assert r1 == 0  # empty list: pop gives NULL
    blob, ids = _btf()
    bfd = kernel.btf_load(blob)
    mfd = kernel.map_create(map_type=2, key_size=4, value_size=ids["size"], max_entries=1, map_name="m",
                            btf_fd=bfd, btf_key_type_id=ids["int"], btf_value_type_id=ids["val"])
    kids = {n: kernel.btf.find(n, S.KIND_FUNC) for n in KFUNCS}
    fds = {}
    for name in ("push_only", "pop_only"):
        fds[name] = kernel.prog_load(assemble(_source(name, mfd, ids, kids)), prog_type=SYSCALL,
                                     prog_flags=SLEEPABLE, prog_btf_fd=bfd, func_info=_func_info(ids),
                                     func_info_rec_size=8)
    assert kernel.prog_test_run(fds["push_only"], ctx_in=bytes(8)).retval == 0
    assert len(kernel.graph.live) == 1
    assert kernel.prog_test_run(fds["pop_only"], ctx_in=bytes(8)).retval == 42
    assert kernel.prog_test_run(fds["pop_only"], ctx_in=bytes(8)).retval == 0
    assert kernel.graph.live == {}


# --- the host ------------------------------------------------------------------------------------
_host_ok, _host_why = hostbpf.oracle_status()


def _host(name: str, run: bool = False) -> tuple[int, str, int | None]:
    blob, ids = _btf()
    bfd, err, log = hostbpf.btf_load(blob)
    assert bfd >= 0, log
    mfd, err = hostbpf.map_create(2, 4, ids["size"], 1, name="m", btf_fd=bfd, btf_key_type_id=ids["int"],
                                  btf_value_type_id=ids["val"])
    assert mfd >= 0, err
    kids = {n: hostbpf.host_btf_id(n, "func") for n in KFUNCS}
    try:
        r = hostbpf.prog_load(SYSCALL, encode(assemble(_source(name, mfd, ids, kids))), prog_flags=SLEEPABLE,
                              prog_btf_fd=bfd, func_info=_func_info(ids), func_info_rec_size=8)
        if not r.accepted:
            return r.errno, r.error_line() or "", None
        try:
            ret = hostbpf.test_run(r.fd, ctx_in=bytes(8)).retval if run else None
        finally:
            r.close()
        return 0, "", ret
    finally:
        hostbpf.close(mfd)
        hostbpf.close(bfd)


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_host_agrees(kernel: Kernel, name: str) -> None:
    host = _host(name)
    emu = _emu(kernel, name)
    assert emu[:2] == host[:2]


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
def test_host_runtime_push_pop(kernel: Kernel) -> None:
    host = _host("push_pop_drop", run=True)
    emu = _emu(kernel, "push_pop_drop", run=True)
    assert emu == host == (0, "", 42)


# --- kptrs holding local objects: bpf_kptr_xchg -------------------------------------------------
def _kptr_btf() -> tuple[bytes, dict[str, int]]:
    """GRAPH_C plus ``struct kv { struct elem __kptr *p; }`` and a second local type."""
    from kernel_model.btf import Member, Ptr, Struct, TypeTag
    b = parse_c(GRAPH_C + "struct other { long w; };")
    ids = {n: b.find(n, S.KIND_STRUCT) for n in ("val", "elem", "other")}
    ids["int"] = b.find("int", S.KIND_INT)
    ids["prog"] = b.find("prog", S.KIND_FUNC)
    b.add(DeclTag("contains:elem:node", ids["val"], 2))
    tag = b.add(TypeTag("kptr", ids["elem"]))
    ptr = b.add(Ptr(tag))
    ids["kv"] = b.add(Struct("kv", 8, (Member("p", ptr, 0),)))
    return b.to_bytes(), ids


_XCHG = "r1 = r6\nr2 = r7\ncall bpf_kptr_xchg\n"
_DROP_OLD = "if r0 == 0 goto out\nr1 = r0\nr2 = 0\ncall kernel-function#{bpf_obj_drop_impl}\n"
_UNSTASH = ("r1 = r6\nr2 = 0\ncall bpf_kptr_xchg\nif r0 == 0 goto out\nr9 = *(u64 *)(r0 +0)\nr1 = r0\nr2 = 0\n"
            "call kernel-function#{bpf_obj_drop_impl}\nr0 = r9\nexit\n")
_NEW_OTHER = _NEW.replace("{elem}", "{other}")
KPTR_PROGRAMS: dict[str, str] = {
    "stash": _LOOKUP + _NEW + _XCHG + _DROP_OLD,
    "unstash": _LOOKUP + _UNSTASH,
    "stash_leak_old": _LOOKUP + _NEW + _XCHG,
    "store_to_kptr": _LOOKUP + _NEW + "*(u64 *)(r6 +0) = r7\n",
    "store_null_to_kptr": _LOOKUP + "r1 = 0\n*(u64 *)(r6 +0) = r1\n",
    "stash_wrong_type": _LOOKUP + _NEW_OTHER + _XCHG + _DROP_OLD,
    "narrow_load": _LOOKUP + "r0 = *(u32 *)(r6 +0)\nexit\n",
    "load_kptr": _LOOKUP + "r1 = *(u64 *)(r6 +0)\nif r1 == 0 goto out\nr0 = *(u64 *)(r1 +0)\nexit\n",
    "stash_used_after": _LOOKUP + _NEW + _XCHG + "r1 = *(u64 *)(r7 +0)\n" + _DROP_OLD,
    "xchg_not_kptr": _LOOKUP + _NEW + "r6 += 4\n" + _XCHG + _DROP_OLD,
}


def _kptr_source(name: str, fd: int, ids: dict[str, int], kfunc_ids: dict[str, int]) -> str:
    body = KPTR_PROGRAMS[name].format(fd=fd, elem=ids["elem"], other=ids["other"], v=42, **kfunc_ids)
    return body + "out:\nr0 = 0\nexit\n"


def _emu_kptr(kernel: Kernel, names: list[str]) -> list[tuple[int, str, int | None]]:
    """Load each program against one kv map (and test-run the accepted ones in order)."""
    blob, ids = _kptr_btf()
    bfd = kernel.btf_load(blob)
    mfd = kernel.map_create(map_type=2, key_size=4, value_size=8, max_entries=1, map_name="kv",
                            btf_fd=bfd, btf_key_type_id=ids["int"], btf_value_type_id=ids["kv"])
    kids = {n: kernel.btf.find(n, S.KIND_FUNC) for n in KFUNCS}
    out: list[tuple[int, str, int | None]] = []
    for name in names:
        try:
            pfd = kernel.prog_load(assemble(_kptr_source(name, mfd, ids, kids)), prog_type=SYSCALL, log_level=1,
                                   prog_flags=SLEEPABLE, prog_btf_fd=bfd, func_info=_func_info(ids),
                                   func_info_rec_size=8)
        except KernelError as e:
            out.append((e.errno, _last_line(getattr(e, "log", "") or ""), None))
            continue
        out.append((0, "", kernel.prog_test_run(pfd, ctx_in=bytes(8)).retval))
    return out


KPTR_WANT = {  # the 6.18 host's answers (test_host_kptr_agrees)
    "stash": (0, ""), "unstash": (0, ""),
    "store_null_to_kptr": (errno.EACCES, "store to referenced kptr disallowed"),  # a store, whatever it stores
    "stash_leak_old": (errno.EINVAL, "BPF_EXIT instruction in main prog would lead to reference leak"),
    "store_to_kptr": (errno.EACCES, "store to referenced kptr disallowed"),
    "stash_wrong_type": (errno.EACCES, "invalid kptr access, R2 type=ptr_other expected=ptr_elem"),
    "narrow_load": (errno.EACCES, "kptr access size must be BPF_DW"),
    "load_kptr": (0, ""),
    "stash_used_after": (errno.EACCES, "R7 invalid mem access 'scalar'"),
    "xchg_not_kptr": (errno.EACCES, "off=4 doesn't point to kptr"),
}


@pytest.mark.parametrize("name", sorted(KPTR_PROGRAMS))
def test_kptr_verifier(kernel: Kernel, name: str) -> None:
    assert _emu_kptr(kernel, [name])[0][:2] == KPTR_WANT[name]


def test_kptr_runtime_stash_unstash(kernel: Kernel) -> None:
    """An object stashed in the map by one run is taken back by the next (the exchange is
    the inlined atomic xchg); the map then holds NULL."""
    runs = _emu_kptr(kernel, ["unstash", "stash", "stash", "unstash", "unstash"])
    assert [r[2] for r in runs] == [0, 0, 0, 42, 0]
    assert kernel.graph.live == {}


def _host_kptr(names: list[str]) -> list[tuple[int, str, int | None]]:
    blob, ids = _kptr_btf()
    bfd, err, log = hostbpf.btf_load(blob)
    assert bfd >= 0, log
    mfd, err = hostbpf.map_create(2, 4, 8, 1, name="kv", btf_fd=bfd, btf_key_type_id=ids["int"],
                                  btf_value_type_id=ids["kv"])
    assert mfd >= 0, err
    kids = {n: hostbpf.host_btf_id(n, "func") for n in KFUNCS}
    out: list[tuple[int, str, int | None]] = []
    try:
        for name in names:
            r = hostbpf.prog_load(SYSCALL, encode(assemble(_kptr_source(name, mfd, ids, kids))),
                                  prog_flags=SLEEPABLE, prog_btf_fd=bfd, func_info=_func_info(ids),
                                  func_info_rec_size=8)
            if not r.accepted:
                out.append((r.errno, r.error_line() or "", None))
                continue
            try:
                out.append((0, "", hostbpf.test_run(r.fd, ctx_in=bytes(8)).retval))
            finally:
                r.close()
    finally:
        hostbpf.close(mfd)
        hostbpf.close(bfd)
    return out


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
@pytest.mark.parametrize("name", sorted(KPTR_PROGRAMS))
def test_host_kptr_agrees(kernel: Kernel, name: str) -> None:
    assert _emu_kptr(kernel, [name])[0][:2] == _host_kptr([name])[0][:2]


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
def test_host_kptr_runtime(kernel: Kernel) -> None:
    names = ["unstash", "stash", "stash", "unstash", "unstash"]
    assert _emu_kptr(kernel, names) == _host_kptr(names)


def test_kptr_record() -> None:
    """A ``__kptr`` to a local type is a referenced kptr field of the value; to a type the
    kernel's BTF names (here ``task_struct``) it is a kernel kptr with the type's destructor
    (tests/verifier/test_kernel_kptrs.py); without the kernel's BTF it cannot be told apart
    (not modelled)."""
    from kernel_model.btf import BTF, Member, Ptr, Struct, TypeTag
    from kernel_model.errors import NotModelled
    from kernel_model.vmlinux import build_vmlinux_btf
    blob, ids = _kptr_btf()
    b = BTF.from_bytes(blob)
    vmlinux = build_vmlinux_btf(get_profile("latest"))
    rec = parse_fields(b, ids["kv"], 8, vmlinux)
    assert rec is not None and [(f.name, f.offset, f.kptr, f.value_btf_id) for f in rec.fields] == \
        [("kptr", 0, "kptr_ref", ids["elem"])]
    with pytest.raises(NotModelled):
        parse_fields(b, ids["kv"], 8)
    task = b.add(Struct("task_struct", 8, (Member("pid", ids["int"], 0),)))
    kv2 = b.add(Struct("kv2", 8, (Member("t", b.add(Ptr(b.add(TypeTag("kptr", task)))), 0),)))
    rec2 = parse_fields(b, kv2, 8, vmlinux)
    assert rec2 is not None and [(f.kernel, f.dtor, f.value_btf is vmlinux) for f in rec2.fields] == \
        [(True, "bpf_task_release_dtor", True)]
