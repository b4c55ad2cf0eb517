"""Kptrs to kernel types: ``struct bpf_cpumask __kptr *`` (and untrusted, and a task) in a map value.

Each program loads against a hash map whose value is ``struct kv`` (below) on the emulated kernel
and, where bpf() is permitted, on the host (BPF_BTF_LOAD, BPF_MAP_CREATE, BPF_PROG_LOAD of a
syscall program, BPF_PROG_TEST_RUN; nothing attached): the verdict, errno and last log line must be
the host's. The kfuncs' BTF ids are read from each kernel's vmlinux BTF. The rules are those of
kernel/bpf/btf.c ``btf_parse_kptr`` and kernel/bpf/verifier.c ``check_map_kptr_access``,
``btf_ld_kptr_type``, ``map_kptr_match_type``, ``process_kptr_func`` (Linux 6.18).
"""

from __future__ import annotations

import errno
import struct

import pytest

from emu.host import hostbpf
from emu.kernel import Kernel
from kernel_model.asm import assemble
from kernel_model.btf import Member, Ptr, Struct, TypeTag, parse_c
from kernel_model.btf import structs as S
from kernel_model.btf_record import parse_fields
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.profile import get_profile

SYSCALL = 31
SLEEPABLE = 16
HASH = 1
# the program's own idea of the kernel types: only the names matter (btf_parse_kptr looks the
# name up in vmlinux); a struct, not a forward declaration (btf_find_kptr wants a struct)
KV_C = """
struct bpf_cpumask { int x; };
struct task_struct { int pid; };
struct sock { int x; };
int prog(void *ctx);
int k;
"""
KFUNCS = ("bpf_cpumask_create", "bpf_cpumask_release", "bpf_cpumask_set_cpu", "bpf_cpumask_test_cpu",
          "bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_cpumask_weight", "bpf_task_from_vpid",
          "bpf_task_release")


def _btf(nodtor: bool = False) -> tuple[bytes, dict[str, int]]:
    """``struct kv { struct bpf_cpumask __kptr *m; struct bpf_cpumask __kptr_untrusted *u;
    struct task_struct __kptr *t; }`` (and ``struct nodtor { struct sock __kptr *s; }``)."""
    b = parse_c(KV_C)
    ids = {n: b.find(n, S.KIND_STRUCT) for n in ("bpf_cpumask", "task_struct", "sock")}
    ids["int"] = b.find("int", S.KIND_INT)
    ids["prog"] = b.find("prog", S.KIND_FUNC)

    def kptr(tag: str, target: str) -> int:
        return b.add(Ptr(b.add(TypeTag(tag, ids[target]))))

    ids["kv"] = b.add(Struct("kv", 24, (Member("m", kptr("kptr", "bpf_cpumask"), 0),
                                        Member("u", kptr("kptr_untrusted", "bpf_cpumask"), 64),
                                        Member("t", kptr("kptr", "task_struct"), 128))))
    if nodtor:
        ids["nodtor"] = b.add(Struct("nodtor", 8, (Member("s", kptr("kptr", "sock"), 0),)))
    return b.to_bytes(), ids


_LOOKUP = ("r1 = 0\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map[fd:{fd}] ll\n"
           "call bpf_map_lookup_elem\nif r0 == 0 goto out\nr6 = r0\n")
_CREATE = "call kernel-function#{bpf_cpumask_create}\nif r0 == 0 goto out\nr7 = r0\n"
_CREATE_UNCHECKED = "call kernel-function#{bpf_cpumask_create}\nr7 = r0\n"
_SET3 = "r1 = 3\nr2 = r7\ncall kernel-function#{bpf_cpumask_set_cpu}\n"
_XCHG = "r1 = r6\nr2 = r7\ncall bpf_kptr_xchg\n"
_RELEASE_OLD = "if r0 == 0 goto out\nr1 = r0\ncall kernel-function#{bpf_cpumask_release}\n"
_RELEASE7 = "r1 = r7\ncall kernel-function#{bpf_cpumask_release}\n"
# read the stashed mask (an RCU pointer inside an RCU section) and test CPU 3 in it
_TEST_STASHED = ("r1 = *(u64 *)(r6 +0)\nif r1 == 0 goto out\nr2 = r1\nr1 = 3\n"
                 "call kernel-function#{bpf_cpumask_test_cpu}\nr0 &= 1\nr0 += 100\nexit\n")
_RCU_LOCK = "call kernel-function#{bpf_rcu_read_lock}\n"
_RCU_UNLOCK = "call kernel-function#{bpf_rcu_read_unlock}\n"

#: name -> (source, sleepable, map value type); syscall programs are always sleepable (so outside
#: bpf_rcu_read_lock() a load is not in an RCU section)
_IN_RCU = ("r1 = *(u64 *)(r6 +0)\nif r1 == 0 goto unl\nr2 = r1\nr1 = 3\n"
           "call kernel-function#{bpf_cpumask_test_cpu}\nr0 &= 1\nr0 += 100\nr7 = r0\n")
PROGRAMS: dict[str, tuple[str, bool, str]] = {
    "stash": (_LOOKUP + _CREATE + _SET3 + _XCHG + _RELEASE_OLD, True, "kv"),
    "read_stashed_rcu": (_LOOKUP + _RCU_LOCK + "r7 = 0\n" + _IN_RCU + "unl:\n" + _RCU_UNLOCK + "r0 = r7\nexit\n",
                         True, "kv"),
    "read_stashed_outside_rcu": (_LOOKUP + _TEST_STASHED, True, "kv"),
    "unstash": (_LOOKUP + "r1 = r6\nr2 = 0\ncall bpf_kptr_xchg\nif r0 == 0 goto out\nr7 = r0\nr1 = r7\n"
                "call kernel-function#{bpf_cpumask_weight}\nr8 = r0\n" + _RELEASE7 + "r0 = r8\nexit\n",
                True, "kv"),
    "stash_leak_old": (_LOOKUP + _CREATE + _XCHG, True, "kv"),
    "store_to_ref_kptr": (_LOOKUP + _CREATE + "*(u64 *)(r6 +0) = r7\n" + _RELEASE7, True, "kv"),
    "store_to_untrusted_kptr": (_LOOKUP + _CREATE + "*(u64 *)(r6 +8) = r7\n" + _RELEASE7, True, "kv"),
    "xchg_untrusted_field": (_LOOKUP + _CREATE + "r6 += 8\n" + _XCHG + _RELEASE_OLD, True, "kv"),
    "xchg_wrong_type": (_LOOKUP + _CREATE + "r6 += 16\n" + _XCHG + _RELEASE_OLD, True, "kv"),
    "xchg_maybe_null": (_LOOKUP + _CREATE_UNCHECKED + _XCHG + _RELEASE_OLD, True, "kv"),
    "xchg_released": (_LOOKUP + _CREATE + _RELEASE7 + _XCHG + _RELEASE_OLD, True, "kv"),
    "xchg_rcu_pointer": (_LOOKUP + _RCU_LOCK + "r7 = *(u64 *)(r6 +0)\nif r7 == 0 goto unl\n" + _XCHG
                         + "unl:\n" + _RCU_UNLOCK, True, "kv"),
    "release_rcu_pointer": (_LOOKUP + _RCU_LOCK + "r7 = *(u64 *)(r6 +0)\nif r7 == 0 goto unl\n" + _RELEASE7
                            + "unl:\n" + _RCU_UNLOCK, True, "kv"),
    "load_untrusted_field_rcu": (_LOOKUP + _RCU_LOCK + "r1 = *(u64 *)(r6 +8)\nif r1 == 0 goto unl\nr2 = r1\n"
                                 "r1 = 3\ncall kernel-function#{bpf_cpumask_test_cpu}\nunl:\n" + _RCU_UNLOCK,
                                 True, "kv"),
    "vpid_unchecked": ("r6 = 0\nr1 = 1\ncall kernel-function#{bpf_task_from_vpid}\nif r6 != 0 goto out\n"
                       "r0 = *(u32 *)(r0 +0)\nexit\n",
                       True, "kv"),
    "vpid_release": ("r1 = 1\ncall kernel-function#{bpf_task_from_vpid}\nif r0 == 0 goto out\nr1 = r0\n"
                     "call kernel-function#{bpf_task_release}\nr0 = 1\nexit\n", True, "kv"),
    "load_task_rcu": (_LOOKUP + _RCU_LOCK + "r1 = *(u64 *)(r6 +16)\nif r1 == 0 goto unl\n"
                      "r0 = *(u32 *)(r1 +0)\nunl:\n" + _RCU_UNLOCK, True, "kv"),
}


def _source(name: str, fd: int, kfunc_ids: dict[str, int]) -> str:
    return PROGRAMS[name][0].format(fd=fd, **kfunc_ids) + "out:\nr0 = 0\nexit\n"


def _func_info(ids: dict[str, int]) -> bytes:
    return struct.pack("<II", 0, ids["prog"])


def _last_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("processed ", "verification time",
                                                                                  "stack depth"))]
    return lines[-1] if lines else ""


@pytest.fixture
def kernel() -> Kernel:
    return Kernel(get_profile("latest"))


class _Emu:
    """One BTF and one map of each value type on the emulated kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel
        blob, self.ids = _btf()
        self.bfd = kernel.btf_load(blob)
        self.maps = {v: kernel.map_create(map_type=HASH, key_size=4, value_size=self.ids_size(v), max_entries=1,
                                          map_name=v, btf_fd=self.bfd, btf_key_type_id=self.ids["int"],
                                          btf_value_type_id=self.ids[v]) for v in ("kv",)}
        for fd in self.maps.values():
            kernel.map_update_elem(fd, bytes(4), bytes(self.ids_size("kv")))
        self.kids = {n: kernel.btf.find(n, S.KIND_FUNC) for n in KFUNCS}

    @staticmethod
    def ids_size(v: str) -> int:
        return 24 if v == "kv" else 8

    def load(self, name: str) -> tuple[int, str, int | None]:
        _src, sleepable, value = PROGRAMS[name]
        try:
            fd = self.k.prog_load(assemble(_source(name, self.maps[value], self.kids)), prog_type=SYSCALL,
                                  log_level=1, prog_flags=SLEEPABLE if sleepable else 0, prog_btf_fd=self.bfd,
                                  func_info=_func_info(self.ids), func_info_rec_size=8)
        except KernelError as e:
            return e.errno, _last_line(getattr(e, "log", "") or ""), None
        return 0, "", fd

    def run(self, name: str) -> int:
        err, line, fd = self.load(name)
        assert err == 0 and fd is not None, line
        try:
            return self.k.prog_test_run(fd, ctx_in=bytes(8)).retval
        finally:
            self.k.close(fd)  # the map is freed once no program holds it either


WANT = {  # the 6.18 host's answers (test_host_agrees)
    "stash": (0, ""), "read_stashed_rcu": (0, ""), "unstash": (0, ""), "store_to_untrusted_kptr": (0, ""),
    "load_task_rcu": (0, ""), "vpid_release": (0, ""),
    "vpid_unchecked": (errno.EACCES, "R0 invalid mem access 'ptr_or_null_'"),
    # outside an RCU section the load is untrusted: no KF_RCU argument
    "read_stashed_outside_rcu": (errno.EINVAL, "R2 must be a rcu pointer"),
    "load_untrusted_field_rcu": (errno.EINVAL, "R2 must be a rcu pointer"),
    "stash_leak_old": (errno.EINVAL, "BPF_EXIT instruction in main prog would lead to reference leak"),
    "store_to_ref_kptr": (errno.EACCES, "store to referenced kptr disallowed"),
    "xchg_untrusted_field": (errno.EACCES, "off=8 kptr isn't referenced kptr"),
    "xchg_wrong_type": (errno.EACCES, "invalid kptr access, R2 type=ptr_bpf_cpumask expected=ptr_task_struct"),
    "xchg_maybe_null": (errno.EACCES, "Possibly NULL pointer passed to helper arg2"),
    "xchg_released": (errno.EACCES, "R2 type=scalar expected=ptr_, trusted_ptr_, rcu_ptr_"),
    "xchg_rcu_pointer": (errno.EINVAL, "R2 must be referenced when passed to release function"),
    "release_rcu_pointer": (errno.EINVAL, "R1 must be referenced or trusted"),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_verifier(kernel: Kernel, name: str) -> None:
    assert _Emu(kernel).load(name)[:2] == WANT[name]


def test_record_of_kernel_kptrs(kernel: Kernel) -> None:
    """btf_parse_kptr: the fields point into vmlinux's BTF, referenced ones name their destructor;
    a referenced kptr to a kernel type without one fails the record with -ENOENT."""
    from kernel_model.btf import BTF
    blob, ids = _btf()
    b = BTF.from_bytes(blob)
    rec = parse_fields(b, ids["kv"], 24, kernel.btf)
    assert rec is not None and not rec.error
    got = [(f.offset, f.kptr, f.kernel, f.dtor, f.value_btf is kernel.btf,
            kernel.btf.type_by_id(f.value_btf_id).name) for f in rec.fields]
    assert got == [(0, "kptr_ref", True, "bpf_cpumask_release_dtor", True, "bpf_cpumask"),
                   (8, "kptr_unref", True, "", True, "bpf_cpumask"),
                   (16, "kptr_ref", True, "bpf_task_release_dtor", True, "task_struct")]
    blob, ids = _btf(nodtor=True)
    bad = parse_fields(BTF.from_bytes(blob), ids["nodtor"], 8, kernel.btf)
    assert bad is not None and bad.error == -errno.ENOENT and bad.fields == ()


def _emu_btf_load(kernel: Kernel, blob: bytes) -> int:
    try:
        fd = kernel.btf_load(blob)
    except KernelError as e:
        return -e.errno
    kernel.close(fd)
    return 0


def test_btf_with_kptr_to_type_without_dtor_fails_to_load(kernel: Kernel) -> None:
    """btf_parse_struct_metas parses every struct with a kptr member at BPF_BTF_LOAD: a referenced
    kptr to a kernel type with no destructor (struct sock) fails the load with -ENOENT."""
    assert _emu_btf_load(kernel, _btf(nodtor=True)[0]) == -errno.ENOENT
    assert _emu_btf_load(kernel, _btf()[0]) == 0


def test_runtime_stash_read_unstash(kernel: Kernel) -> None:
    """A cpumask stashed by one run stays in the map (the next run reads CPU 3 through the RCU
    pointer), and a third run takes it back and releases it."""
    e = _Emu(kernel)
    assert e.run("stash") == 0
    assert len(kernel.tasks.cpumasks) == 1  # held by the map
    assert e.run("read_stashed_rcu") == 101
    assert e.run("unstash") == 1  # its weight: CPU 3 only
    assert kernel.tasks.cpumasks == {}


def test_runtime_map_dtor(kernel: Kernel) -> None:
    """bpf_obj_free_fields: the destructor releases the stashed cpumask when the element is
    replaced (an update), deleted, or the map freed."""
    e = _Emu(kernel)
    fd = e.maps["kv"]
    assert e.run("stash") == 0 and len(kernel.tasks.cpumasks) == 1
    kernel.map_update_elem(fd, bytes(4), bytes(24))  # the old element's kptr is released
    assert kernel.tasks.cpumasks == {}
    assert e.run("stash") == 0 and len(kernel.tasks.cpumasks) == 1
    kernel.map_delete_elem(fd, bytes(4))
    assert kernel.tasks.cpumasks == {}
    kernel.map_update_elem(fd, bytes(4), bytes(24))
    assert e.run("stash") == 0 and len(kernel.tasks.cpumasks) == 1
    kernel.close(fd)
    assert kernel.tasks.cpumasks == {}


def test_runtime_untrusted_store_holds_no_reference(kernel: Kernel) -> None:
    """An untrusted kptr is a plain pointer: storing it takes no reference, freeing the map drops none."""
    e = _Emu(kernel)
    assert e.run("store_to_untrusted_kptr") == 0
    assert kernel.tasks.cpumasks == {}  # the program released its mask; the field still points there
    kernel.close(e.maps["kv"])
    assert kernel.tasks.cpumasks == {} and kernel.tasks.warnings == []


# --- the host ------------------------------------------------------------------------------------
_host_ok, _host_why = hostbpf.oracle_status()


def _host(name: str, run: bool = False) -> tuple[int, str, int | None]:
    blob, ids = _btf()
    bfd, err, log = hostbpf.btf_load(blob)
    assert bfd >= 0, log
    _src, sleepable, value = PROGRAMS[name]
    size = _Emu.ids_size(value)
    mfd, err = hostbpf.map_create(HASH, 4, size, 1, name=value, btf_fd=bfd, btf_key_type_id=ids["int"],
                                  btf_value_type_id=ids[value])
    assert mfd >= 0, err
    kids = {n: hostbpf.host_btf_id(n, "func") for n in KFUNCS}
    try:
        hostbpf.map_update(mfd, bytes(4), bytes(size))
        r = hostbpf.prog_load(SYSCALL, encode(assemble(_source(name, mfd, kids))),  # type: ignore[arg-type]
                              prog_flags=SLEEPABLE if sleepable else 0, prog_btf_fd=bfd,
                              func_info=_func_info(ids), func_info_rec_size=8)
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
    assert _Emu(kernel).load(name)[:2] == _host(name)[:2]


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
def test_host_runtime_stash(kernel: Kernel) -> None:
    """The stash program's return on a fresh map, here and on the host."""
    assert _host("stash", run=True) == (0, "", 0)
    assert _Emu(kernel).run("stash") == 0
    assert _host("read_stashed_rcu", run=True) == (0, "", 0)  # a fresh map: nothing stashed
    # the emulated kernel's one pid namespace has init (pid 1); the host's answer depends on the
    # namespace the test runs in, so only its verdict is compared (test_host_agrees)
    assert _Emu(kernel).run("vpid_release") == 1


@pytest.mark.kernel
@pytest.mark.skipif(not _host_ok, reason=_host_why)
@pytest.mark.parametrize("nodtor", [False, True])
def test_host_btf_load_agrees(kernel: Kernel, nodtor: bool) -> None:
    blob = _btf(nodtor=nodtor)[0]
    fd, err, log = hostbpf.btf_load(blob)
    if fd >= 0:
        hostbpf.close(fd)
    assert _emu_btf_load(kernel, blob) == (0 if fd >= 0 else -err)


def test_kptr_kfuncs_flags_are_the_sets() -> None:
    """The added kfuncs carry their set's flags (kernel/bpf/cpumask.c, kernel/bpf/helpers.c, 6.18)."""
    from kernel_model.kptr_kfuncs import KPTR_KFUNCS, kptr_kfunc_flags, kptr_kfunc_prog_types
    assert set(KPTR_KFUNCS) >= {"bpf_cpumask_and", "bpf_kfunc_call_test_release", "bpf_task_from_vpid"}
    for name in KPTR_KFUNCS:
        flags = set(kptr_kfunc_flags(name))
        if name.startswith("bpf_cpumask_"):
            assert flags == {"KF_RCU"}, name
    assert set(kptr_kfunc_flags("bpf_kfunc_call_test_release")) == {"KF_RELEASE"}
    assert set(kptr_kfunc_flags("bpf_task_get_cgroup1")) == {"KF_ACQUIRE", "KF_RCU", "KF_RET_NULL"}
    assert set(kptr_kfunc_flags("bpf_task_from_vpid")) == {"KF_ACQUIRE", "KF_RET_NULL"}
    assert SYSCALL in kptr_kfunc_prog_types("bpf_task_from_vpid")
    assert kptr_kfunc_prog_types("bpf_task_from_vpid") == kptr_kfunc_prog_types("bpf_task_under_cgroup")
    assert SYSCALL in kptr_kfunc_prog_types("bpf_kfunc_call_test_release")


def test_kptr_to_a_forward_declaration_is_skipped_at_btf_load() -> None:
    """btf_parse_struct_metas collects only the kptrs btf_find_kptr finds (a tag pointing to a
    struct): ``struct task_struct;`` declared but not defined makes btf_find_kptr answer
    -EINVAL, which the BTF load skips (kernel/bpf/btf.c, 6.12/6.18) -- the object loads; a map
    value holding such a field would still fail btf_parse_fields at map creation."""
    from kernel_model.btf import BTF
    from kernel_model.btf.types import Fwd
    from kernel_model.btf_record import check_struct_metas, parse_fields

    b = parse_c("struct holder { int x; };")
    fwd = b.add(Fwd("task_struct", 0))
    vid = b.add(Struct("v", 8, (Member("t", b.add(Ptr(b.add(TypeTag("kptr", fwd)))), 0),)))
    loaded = BTF.from_bytes(b.to_bytes())
    assert check_struct_metas(loaded, Kernel(modules=()).btf) == 0
    rec = parse_fields(loaded, vid, 8)
    assert rec is not None and rec.error == -errno.EINVAL
