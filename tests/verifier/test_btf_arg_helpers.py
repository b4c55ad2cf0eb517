"""Helpers taking kernel objects by BTF id (verifier.btf_arg_helpers): the local storage
helpers, bpf_task_pt_regs, bpf_find_vma's callback; and the helpers added beside them
(bpf_sys_bpf, bpf_read_branch_records, bpf_get_stack from a sleepable uprobe).

The model's answers first; then (marked ``kernel``) the same loads on the running host
wherever they need no map with BTF (the host's local storage maps need a BTF key and
value: those cases are model-only, the corpus objects cover them on the host)."""

from __future__ import annotations

import errno as E

import pytest

from kernel_model.asm import assemble
from kernel_model.bpf_map import MapSpec
from kernel_model.btf import structs as BS
from kernel_model.vmlinux import build_vmlinux_btf
from verifier import VerifierEnv, verify

KPROBE, PERF_EVENT, TRACING, SYSCALL, STRUCT_OPS = 2, 7, 26, 31, 27
TRACE_RAW_TP, TRACE_UPROBE_MULTI = 23, 48
SLEEPABLE = 16
ARRAY, TASK_STORAGE, CGRP_STORAGE = 2, 29, 32
NO_PREALLOC = 1
BTF_PTR = "expected=ptr_, trusted_ptr_, rcu_ptr_"

#: fd -> map; 1 is creatable on the host without BTF, the storage maps are not
MAPS = {1: MapSpec(ARRAY, 4, 8, 1, name="arr"),
        2: MapSpec(TASK_STORAGE, 4, 8, 0, NO_PREALLOC, name="task_st", has_btf=True),
        3: MapSpec(CGRP_STORAGE, 4, 8, 0, NO_PREALLOC, name="cgrp_st", has_btf=True)}
MAPS[4] = MapSpec(ARRAY, 4, 8, 1, 1 << 7, name="ro")  # BPF_F_RDONLY_PROG
HOST_MAPS = {1: MAPS[1], 4: MAPS[4]}


def _tp_env(maps: dict, flags: int = 0) -> VerifierEnv:
    """tp_btf/task_newtask: arg0 is a trusted struct task_struct *."""
    btf = build_vmlinux_btf()
    tid = btf.find("btf_trace_task_newtask", BS.KIND_TYPEDEF)
    assert tid is not None
    return VerifierEnv(prog_type=TRACING, expected_attach_type=TRACE_RAW_TP, attach_btf=btf, attach_btf_id=tid,
                       vmlinux_btf=btf, prog_flags=flags, maps=maps)


def _env(kind: str, maps: dict) -> VerifierEnv:
    if kind == "tp_btf":
        return _tp_env(maps)
    btf = build_vmlinux_btf()
    if kind == "syscall":
        return VerifierEnv(prog_type=SYSCALL, prog_flags=SLEEPABLE, vmlinux_btf=btf, maps=maps)
    if kind == "perf_event":
        return VerifierEnv(prog_type=PERF_EVENT, vmlinux_btf=btf, maps=maps)
    if kind == "uprobe.multi.s":
        return VerifierEnv(prog_type=KPROBE, expected_attach_type=TRACE_UPROBE_MULTI, prog_flags=SLEEPABLE,
                           vmlinux_btf=btf, maps=maps)
    raise AssertionError(kind)


TASK = "r2 = *(u64 *)(r1 +0)\n"          # tp_btf task_newtask: the trusted task
STORAGE_ARGS = "r3 = 0\nr4 = 1\n"        # no initial value, BPF_LOCAL_STORAGE_GET_F_CREATE

#: (env kind, program, answer: None = accepted, else (errno, last line)); host=True: the host
#: can load it (no BTF map) and test_on_the_host compares
CASES = [
    # bpf_task_storage_get (the _recur prototype for tracing): a trusted task, NULL, wrong kinds
    ("tp_btf", TASK + "r1 = map[fd:2] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\n"
     "if r0 == 0 goto +2\nr1 = 1\n*(u64 *)(r0 +0) = r1\nr0 = 0\nexit", None, False),
    ("tp_btf", TASK + "r1 = map[fd:2] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\n"
     "r1 = 1\n*(u64 *)(r0 +0) = r1\nr0 = 0\nexit", (E.EACCES, "R0 invalid mem access 'map_value_or_null'"), False),
    ("tp_btf", "r2 = 0\nr1 = map[fd:2] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit", None, False),
    ("tp_btf", TASK + "r1 = map[fd:2] ll\ncall bpf_task_storage_delete\nr0 = 0\nexit", None, False),
    ("tp_btf", TASK + "r1 = map[fd:3] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit",
     (E.EINVAL, "cannot pass map_type 32 into func bpf_task_storage_get#156"), False),
    # a task where a cgroup is wanted: btf_struct_ids_match
    ("tp_btf", TASK + "r1 = map[fd:3] ll\n" + STORAGE_ARGS + "call bpf_cgrp_storage_get\nr0 = 0\nexit",
     (E.EACCES, "R2 is of type task_struct but cgroup is expected"), False),
    ("tp_btf", TASK + "r1 = map[fd:1] ll\n" + STORAGE_ARGS + "call bpf_cgrp_storage_get\nr0 = 0\nexit",
     (E.EACCES, "R2 is of type task_struct but cgroup is expected"), True),
    ("tp_btf", TASK + "r1 = map[fd:1] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit",
     (E.EINVAL, "cannot pass map_type 2 into func bpf_task_storage_get#156"), True),
    ("tp_btf", "r2 = 1\nr1 = map[fd:1] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit",
     (E.EACCES, "R2 type=scalar " + BTF_PTR), True),
    ("tp_btf", "r2 = r10\nr1 = map[fd:1] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit",
     (E.EACCES, "R2 type=fp " + BTF_PTR), True),
    ("tp_btf", "r2 = r1\nr1 = map[fd:1] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit",
     (E.EACCES, "R2 type=ctx " + BTF_PTR), True),
    # a task at an offset: the struct at that offset is not a task_struct
    ("tp_btf", TASK + "r2 += 8\nr1 = map[fd:1] ll\n" + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit",
     (E.EACCES, "R2 is of type task_struct but task_struct is expected"), True),
    # bpf_task_pt_regs: a plain (not trusted) struct pt_regs pointer comes back
    ("tp_btf", "call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_pt_regs\nr0 = *(u64 *)(r0 +0)\nr0 = 0\n"
     "exit", None, True),
    ("tp_btf", "call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_pt_regs\nr1 = 0\n*(u64 *)(r0 +0) = r1\n"
     "r0 = 0\nexit", (E.EACCES, "only read is supported"), True),
    ("tp_btf", "r1 = 0\ncall bpf_task_pt_regs\nr0 = 0\nexit", (E.EACCES, "R1 type=scalar " + BTF_PTR), True),
    # socket storage in a syscall program: bpf_sk_storage_tracing_allowed says no
    ("syscall", "r1 = map[fd:1] ll\nr2 = 0\nr3 = 0\nr4 = 0\ncall bpf_sk_storage_get\nr0 = 0\nexit",
     (E.EINVAL, "helper call is not allowed in probe"), True),
    # bpf_sys_bpf: read-only memory and its size
    ("syscall", "r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr3 = 8\ncall bpf_sys_bpf\nr0 = 0\nexit",
     None, True),
    # root may pass uninitialised stack (allow_uninit_stack); a size beyond the stack may not
    ("syscall", "r1 = 0\nr2 = r10\nr2 += -8\nr3 = 8\ncall bpf_sys_bpf\nr0 = 0\nexit", None, True),
    ("syscall", "r1 = 0\nr2 = r10\nr2 += -8\nr3 = 16\ncall bpf_sys_bpf\nr0 = 0\nexit",
     (E.EINVAL, "invalid read from stack R2 off=-8 size=16"), True),
    # bpf_read_branch_records: a maybe-NULL buffer with size 0, or a stack buffer
    ("perf_event", "r2 = 0\nr3 = 0\nr4 = 1\ncall bpf_read_branch_records\nr0 = 0\nexit", None, True),
    ("perf_event", "r2 = 0\nr3 = 8\nr4 = 0\ncall bpf_read_branch_records\nr0 = 0\nexit",
     (E.EACCES, "R2 type=scalar expected=fp"), True),
    ("perf_event", "r2 = r10\nr2 += -24\nr3 = 24\nr4 = 0\ncall bpf_read_branch_records\nr0 = 0\nexit", None, True),
    # 6.18 writes the buffer (MEM_WRITE): a read-only map value is refused
    ("perf_event", "r2 = map[fd:4][0]+0 ll\nr3 = 8\nr4 = 0\ncall bpf_read_branch_records\nr0 = 0\nexit",
     (E.EACCES, "write into map forbidden, value_size=8 off=0 size=8"), True),
    # bpf_get_stack from a sleepable uprobe (bpf_get_stack_sleepable_proto)
    ("uprobe.multi.s", "r2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\ncall bpf_get_stack\nr0 = 0\nexit", None, True),
]


def _ids() -> list[str]:
    return [f"{c[0]}:" + c[1].replace("\n", "; ") for c in CASES]


@pytest.mark.parametrize("kind,asm,want,_host", CASES, ids=_ids())
def test_model(kind: str, asm: str, want: tuple[int, str] | None, _host: bool) -> None:
    r = verify(assemble(asm), _env(kind, MAPS), log_level=2)
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == want, r.log


def test_legacy_pointer_of_the_wrong_struct() -> None:
    """A flagless PTR_TO_BTF_ID (bpf_task_pt_regs' plain pt_regs) given to a task argument:
    legacy pointers pass check_reg_type's flag test (btf_ptr_types), then the struct match
    refuses it (btf_struct_ids_match: pt_regs does not start with a task_struct)."""
    asm = ("call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_pt_regs\nr2 = r0\nr1 = map[fd:2] ll\n"
           + STORAGE_ARGS + "call bpf_task_storage_get\nr0 = 0\nexit")
    r = verify(assemble(asm), _tp_env(MAPS), log_level=1)
    assert not r.accepted and r.error_line == "R2 is of type pt_regs but task_struct is expected", r.log


def test_find_vma_callback() -> None:
    """bpf_find_vma's callback gets (task, vma, ctx) and must return 0 or 1; without a
    struct vm_area_struct in the emulated vmlinux the call is not modelled (never
    accepted)."""
    asm = ("call bpf_get_current_task_btf\nr1 = r0\nr2 = 0\nr3 = func[cb] ll\nr4 = 0\nr5 = 0\n"
           "call bpf_find_vma\nr0 = 0\nexit\ncb:\nr0 = 0\nexit")
    env = _tp_env(MAPS)
    env.func_linkage = [0, 0]
    r = verify(assemble(asm), env, log_level=1)
    btf = env.vmlinux_btf
    if btf.find("vm_area_struct", BS.KIND_STRUCT) is None:
        assert not r.accepted and "not modelled by structops" in (r.error_line or ""), r.log
    else:
        assert r.accepted, r.log


def test_prototypes_are_the_kernels() -> None:
    """Each modelled symbol's arguments are the kernel initialiser's, with its argN_btf_id."""
    from kernel_model.bpf_facts.helper_protos import PROTOS
    from verifier import btf_arg_helpers as B
    from verifier import helpers as H

    for sym, fid in B.SYMBOLS.items():
        p = B.symbol_proto(sym)
        assert p is not None, sym
        facts = PROTOS[sym]
        for i, a in enumerate(facts.args):
            assert (p.args[i] & 0xFF == H.ARG_PTR_TO_BTF_ID) == (a.base == "ARG_PTR_TO_BTF_ID"), (sym, i)
            if a.base == "ARG_PTR_TO_BTF_ID":
                assert p.arg_btf[i] == B.BTF_ID_STRUCTS[a.btf_id], (sym, i)
        assert p.gpl_only == facts.gpl_only and p.might_sleep == facts.might_sleep, sym
    assert B.symbol_proto("bpf_task_storage_get_recur_proto").args == B.symbol_proto(
        "bpf_task_storage_get_proto").args
    assert B.symbol_proto("bpf_sk_storage_get_tracing_proto").allowed == "bpf_sk_storage_tracing_allowed"
    assert B.symbol_proto("bpf_map_lookup_elem_proto") is None


def test_tcp_ca_release_may_not_setsockopt() -> None:
    """bpf_tcp_ca_get_func_proto: setsockopt/getsockopt for every member but release."""
    from kernel_model.subsystems.tcp_ca import make_ops

    pol = make_ops().policy
    refused = dict(pol.member_refused_helpers)
    assert refused == {"release": frozenset({49, 57})}
    assert dict(pol.helper_symbols)[49] == "bpf_sk_setsockopt_proto"
    assert {49, 57, 107, 108, 116} <= pol.helpers


def test_syscall_sys_bpf_needs_perfmon() -> None:
    """syscall_prog_func_proto: bpf_sys_bpf for a CAP_PERFMON loader only."""
    asm = "r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr3 = 8\ncall bpf_sys_bpf\nr0 = 0\nexit"
    env = VerifierEnv(prog_type=SYSCALL, prog_flags=SLEEPABLE, privileged=False)
    r = verify(assemble(asm), env)
    assert (r.errno, r.error_line) == (E.EINVAL, "program of this type cannot use helper bpf_sys_bpf#166"), r.log


@pytest.mark.kernel
@pytest.mark.parametrize("kind,asm,want,host", CASES, ids=_ids())
def test_on_the_host(kind: str, asm: str, want: object, host: bool) -> None:
    """Verdict, errno and last line against the running kernel (verify only)."""
    from emu.host.verdict import host_load

    if not host:
        pytest.skip("needs a local storage map, which the host creates only with BTF")
    env = _env(kind, HOST_MAPS)
    insns = assemble(asm)
    m = verify(insns, env, log_level=2)
    h = host_load(insns, env, log_level=2)
    assert (m.accepted, m.errno if not m.accepted else 0) == (h.accepted, h.errno if not h.accepted else 0), \
        f"host:\n{h.log}\nmodel:\n{m.log}"
    if not m.accepted:
        assert m.error_line == h.error_line, f"host:\n{h.log}\nmodel:\n{m.log}"


# --- bpf_snprintf's format (verifier.bprintf, check_bpf_snprintf_call) ------------------------------
RAW_TP = 17


def _snprintf_prog(fd: int, data_len: int) -> list:
    """A raw tracepoint formatting into a 16-byte stack buffer with the format at the start of
    a read-only map's value and ``data_len`` bytes of u64 arguments from the stack."""
    return assemble(f"r1 = 0\n*(u64 *)(r10 -8) = r1\n*(u64 *)(r10 -16) = r1\n*(u64 *)(r10 -24) = r1\n"
                    f"*(u64 *)(r10 -32) = r1\n*(u64 *)(r10 -40) = r1\n"
                    f"r1 = r10\nr1 += -16\nr2 = 16\nr3 = map[fd:{fd}][0]+0 ll\n"
                    f"r4 = r10\nr4 += -40\nr5 = {data_len}\ncall bpf_snprintf\nr0 = 0\nexit\n")


#: (format bytes, data_len) -> the answer (None accepted, else errno, last line); the 6.18
#: host's answers (test_snprintf_format_on_the_host)
SNPRINTF = [
    (b"plain", 0, None),
    (b"%d %u", 16, None),
    (b"%d %u", 8, (E.EINVAL, "Invalid format string")),
    (b"%d", 4, (E.EINVAL, None)),
    (b"100%%", 0, None),
    (b"%lld %llx %lu %5d %-03x", 40, None),
    (b"%lld %llx %lu %5d %-03x", 32, (E.EINVAL, "Invalid format string")),
    (b"%s!", 8, None),
    (b"%sa", 8, (E.EINVAL, "Invalid format string")),
    (b"%pks %pus.", 16, None),
    (b"%p %pK %px %pI4 %pi6", 40, None),
    (b"%pZ", 8, (E.EINVAL, "Invalid format string")),
    (b"%pB", 8, None),
    (b"%c%c", 16, None),
    (b"%f", 8, (E.EINVAL, "Invalid format string")),
    (b"%llld", 8, (E.EINVAL, "Invalid format string")),
    (b"tab\there", 0, None),
    (b"bell\x07", 0, (E.EINVAL, "Invalid format string")),
    (b"caf\xc3\xa9", 0, None),
    (b"%\xc3", 8, (E.EINVAL, "Invalid format string")),
    (b"%", 8, (E.EINVAL, "Invalid format string")),
]
_FMT_VALUE = 32


def _emu_snprintf(fmt: bytes, data_len: int) -> tuple[int, str]:
    from emu.kernel import Kernel
    from kernel_model.errors import KernelError

    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=ARRAY, key_size=4, value_size=_FMT_VALUE, max_entries=1, map_flags=1 << 7)
        k.map_update_elem(fd, bytes(4), fmt.ljust(_FMT_VALUE, b"\0"), 0)
        k.map_freeze(fd)
        try:
            k.prog_load(_snprintf_prog(fd, data_len), prog_type=RAW_TP, log_level=1)
        except KernelError as e:
            return e.errno, str(e)
        return 0, ""
    finally:
        k.shutdown()


@pytest.mark.parametrize("fmt,data_len,want", SNPRINTF, ids=[repr(c[0]) + f"/{c[1]}" for c in SNPRINTF])
def test_snprintf_format(fmt: bytes, data_len: int, want: tuple[int, str | None] | None) -> None:
    from verifier.bprintf import bprintf_check

    errno, msg = _emu_snprintf(fmt, data_len)
    assert errno == (0 if want is None else want[0]), msg
    if want is not None and want[1]:
        assert want[1] in msg
    if data_len % 8 == 0:
        assert (bprintf_check(fmt + b"\0", data_len // 8) == 0) == (want is None)


@pytest.mark.kernel
@pytest.mark.parametrize("fmt,data_len,want", SNPRINTF, ids=[repr(c[0]) + f"/{c[1]}" for c in SNPRINTF])
def test_snprintf_format_on_the_host(fmt: bytes, data_len: int, want: object) -> None:
    import struct

    from emu.host import hostbpf
    from kernel_model.insn import encode
    from kernel_model.uapi import BPF_MAP_FREEZE

    fd, err = hostbpf.map_create(ARRAY, 4, _FMT_VALUE, 1, map_flags=1 << 7)
    assert fd >= 0, err
    try:
        assert hostbpf.map_update(fd, bytes(4), fmt.ljust(_FMT_VALUE, b"\0"))[0] == 0
        attr = bytearray(8)
        struct.pack_into("<I", attr, 0, fd)
        assert hostbpf.sys_bpf(BPF_MAP_FREEZE, attr) == (0, 0)  # a map of this process only
        res = hostbpf.prog_load(RAW_TP, encode(_snprintf_prog(fd, data_len)), log_level=1)
        host = (0, "") if res.accepted else (res.errno, res.error_line() or "")
        res.close()
    finally:
        hostbpf.close(fd)
    model = _emu_snprintf(fmt, data_len)
    assert model[0] == host[0], (host, model)
    if host[0] and host[1] and "Invalid format" in host[1]:
        assert host[1] in model[1], (host, model)


# --- bpf_find_vma's callback (set_find_vma_callback_state) ----------------------------------------
def _vma_env() -> VerifierEnv:
    """tp_btf with an emulated vmlinux given a struct vm_area_struct (the host's first two
    members): the emulated kernel itself has none, so this is the model's check alone."""
    from kernel_model.btf.cdecl import parse_c

    env = _tp_env(MAPS)
    parse_c("struct vm_area_struct { unsigned long vm_start; unsigned long vm_end; };", into=env.vmlinux_btf)
    env.func_linkage = [0, 0]
    return env


FIND_VMA = "call bpf_get_current_task_btf\nr1 = r0\nr2 = 0\nr3 = func[cb] ll\nr4 = 0\nr5 = 0\ncall bpf_find_vma\n" \
           "r0 = 0\nexit\ncb:\n"


@pytest.mark.parametrize("cb,want", [
    ("r0 = *(u64 *)(r2 +8)\nr0 = 0\nexit", None),
    ("r0 = *(u32 *)(r1 +4)\nr0 = 1\nexit", None),
    ("r3 = 0\n*(u64 *)(r2 +0) = r3\nr0 = 0\nexit", (E.EACCES, "only read is supported")),
    ("r0 = 2\nexit", (E.EINVAL, "At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]")),
    ("r0 = *(u64 *)(r3 +0)\nr0 = 0\nexit", (E.EACCES, "R3 invalid mem access 'scalar'")),
])
def test_find_vma_callback_state(cb: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(FIND_VMA + cb), _vma_env(), log_level=2)
    if want is None:
        assert r.accepted, r.log
    else:
        assert (r.errno, r.error_line) == want, r.log
