"""Tracing breadth (issue 12): tp_btf programs, the tracing helpers' prototypes, the kconfig
feature externs -- on the model, and (marked ``kernel``) against the running host: verdict,
errno and the whole level-2 log. tp_btf loads name their attach target by the host's own
BTF id of the same ``btf_trace_`` typedef (never a hard-coded id)."""

from __future__ import annotations

import errno as E

import pytest

from kernel_model.asm import assemble
from kernel_model.btf import structs as BS
from kernel_model.vmlinux import build_vmlinux_btf
from verifier import VerifierEnv, verify

KPROBE, TRACEPOINT, RAW_TP, TRACING = 2, 5, 17, 26
TRACE_RAW_TP = 23
SLEEPABLE = 16
CTX = "invalid bpf_context access off={} size={}"


def _tp_env(tp: str, flags: int = 0) -> VerifierEnv:
    btf = build_vmlinux_btf()
    tid = btf.find(f"btf_trace_{tp}", BS.KIND_TYPEDEF)
    assert tid is not None
    return VerifierEnv(prog_type=TRACING, expected_attach_type=TRACE_RAW_TP, attach_btf=btf, attach_btf_id=tid,
                       vmlinux_btf=btf, prog_flags=flags)


#: (tracepoint, prog_flags, program, answer: None = accepted, else (errno, last line));
#: the answers are the 6.18 host's (test_tp_btf_on_the_host)
TP_BTF = [
    ("task_newtask", 0, "r0 = 1\nexit", None),
    ("task_newtask", 0, "r0 = -2\nexit", None),
    ("task_newtask", 0, "r2 = *(u64 *)(r1 +0)\nr0 = 0\nexit", None),
    ("task_newtask", 0, "r2 = *(u64 *)(r1 +8)\nr0 = r2\nexit", None),
    ("task_newtask", 0, "r2 = *(u64 *)(r1 +16)\nr0 = 0\nexit", (E.EACCES, CTX.format(16, 8))),
    ("task_newtask", 0, "r2 = *(u32 *)(r1 +0)\nr0 = 0\nexit", (E.EACCES, CTX.format(0, 4))),
    ("task_newtask", 0, "r2 = *(u32 *)(r1 +8)\nr0 = 0\nexit", None),
    ("task_newtask", 0, "r2 = 0\n*(u64 *)(r1 +0) = r2\nr0 = 0\nexit", (E.EACCES, CTX.format(0, 8))),
    ("task_newtask", 0, "r2 = *(u64 *)(r1 +4)\nr0 = 0\nexit", (E.EACCES, CTX.format(4, 8))),
    ("task_newtask", SLEEPABLE, "r0 = 0\nexit",
     (E.EINVAL, "Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable")),
    # a trusted task_struct pointer as a helper's ARG_ANYTHING
    ("task_newtask", 0, "r3 = *(u64 *)(r1 +0)\nr1 = r10\nr1 += -8\nr2 = 8\ncall bpf_probe_read_kernel\n"
                        "r0 = 0\nexit", None),
    ("task_newtask", 0, "call bpf_get_current_task_btf\nr0 = 0\nexit", None),
    ("task_newtask", 0, "call bpf_skb_load_bytes\nexit",
     (E.EINVAL, "program of this type cannot use helper bpf_skb_load_bytes#26")),
    # sys_enter's struct pt_regs * (x86-64: the same 168 bytes on both kernels)
    ("sys_enter", 0, "r2 = *(u64 *)(r1 +0)\nr0 = *(u64 *)(r2 +112)\nexit", None),
    ("sys_enter", 0, "r2 = *(u64 *)(r1 +0)\nr0 = *(u64 *)(r2 +168)\nexit",
     (E.EACCES, "access beyond struct pt_regs at off 168 size 8")),
    ("sys_enter", 0, "r2 = *(u64 *)(r1 +0)\nr3 = 0\n*(u64 *)(r2 +0) = r3\nr0 = 0\nexit",
     (E.EACCES, "only read is supported")),
    ("sys_enter", 0, "r2 = *(u64 *)(r1 +8)\nr0 = r2\nexit", None),
    ("cgroup_mkdir", 0, "r2 = *(u64 *)(r1 +8)\nr0 = *(u8 *)(r2 +0)\nexit",
     (E.EACCES, "R2 invalid mem access 'scalar'")),
    # the xdp tracepoints (kernel_model.vmlinux_core): three, five and five arguments
    ("xdp_exception", 0, "r2 = *(u64 *)(r1 +16)\nr0 = r2\nexit", None),
    ("xdp_exception", 0, "r2 = *(u64 *)(r1 +24)\nr0 = 0\nexit", (E.EACCES, CTX.format(24, 8))),
    ("xdp_devmap_xmit", 0, "r2 = *(u64 *)(r1 +8)\nr0 = 0\nexit", None),
    ("xdp_devmap_xmit", 0, "r2 = *(u64 *)(r1 +40)\nr0 = 0\nexit", (E.EACCES, CTX.format(40, 8))),
    ("xdp_cpumap_kthread", 0, "r2 = *(u64 *)(r1 +32)\nr0 = *(u32 *)(r2 +8)\nexit", None),
    ("xdp_cpumap_kthread", 0, "r2 = *(u64 *)(r1 +32)\nr0 = *(u32 *)(r2 +12)\nexit",
     (E.EACCES, "access beyond struct xdp_cpumap_stats at off 12 size 4")),
]


def _ids(table: list) -> list[str]:
    return [f"{c[0]}:{c[1]}:" + c[2].replace("\n", "; ") for c in table]


@pytest.mark.parametrize("tp,flags,asm,want", TP_BTF, ids=_ids(TP_BTF))
def test_tp_btf(tp: str, flags: int, asm: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(asm), _tp_env(tp, flags), log_level=2)
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == want, r.log


def test_tp_btf_argument_log_lines() -> None:
    """btf_ctx_access names the argument's struct on a pointer read (btf ids are the
    emulated vmlinux's own)."""
    env = _tp_env("task_newtask")
    r = verify(assemble("r2 = *(u64 *)(r1 +0)\nr0 = 0\nexit"), env, log_level=2)
    tid = env.vmlinux_btf.find("task_struct", BS.KIND_STRUCT)
    assert f"func 'task_newtask' arg0 has btf_id {tid} type STRUCT 'task_struct'" in r.log
    assert "R2=trusted_ptr_task_struct()" in r.log


def test_tp_btf_attach_rules() -> None:
    """bpf_check_attach_target: no btf id, a non-typedef, a typedef not named btf_trace_."""
    btf = build_vmlinux_btf()
    prog = assemble("r0 = 0\nexit")

    def load(tid: int) -> tuple[int, str | None]:
        r = verify(prog, VerifierEnv(prog_type=TRACING, expected_attach_type=TRACE_RAW_TP, attach_btf=btf,
                                     attach_btf_id=tid, vmlinux_btf=btf))
        assert not r.accepted
        return r.errno, r.error_line
    assert load(0) == (E.EINVAL, "Tracing programs must provide btf_id")
    sid = btf.find("task_struct", BS.KIND_STRUCT)
    assert load(sid) == (E.EINVAL, f"attach_btf_id {sid} is not a typedef")
    td = btf.find("__u64", BS.KIND_TYPEDEF)
    assert load(td) == (E.EINVAL, f"attach_btf_id {td} points to wrong type name __u64")


@pytest.mark.parametrize("eat", [24, 25, 26])  # iterators (28): tests/verifier/test_bpf_iter.py
def test_other_tracing_attach_types_are_not_modelled(eat: int) -> None:
    r = verify(assemble("r0 = 0\nexit"), VerifierEnv(prog_type=TRACING, expected_attach_type=eat))
    assert not r.accepted and "not modelled" in (r.error_line or "")


#: (prog type, prog_flags, program, answer); the 6.18 host's answers (test_helpers_on_the_host)
HELPERS = [
    (KPROBE, 0, "r1 = r10\nr1 += -16\nr2 = 16\ncall bpf_get_current_comm\nr0 = 0\nexit", None),
    (KPROBE, 0, "r1 = r10\nr1 += -16\nr2 = 17\ncall bpf_get_current_comm\nr0 = 0\nexit",
     (E.EINVAL, "invalid write to stack R1 off=-16 size=17")),
    (KPROBE, 0, "r1 = r10\nr1 += -16\nr2 = 0\ncall bpf_get_current_comm\nr0 = 0\nexit",
     (E.EACCES, "R2 invalid zero-sized read: u64=[0,0]")),
    (KPROBE, 0, "r2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\ncall bpf_get_stack\nexit", None),
    (KPROBE, 0, "r2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\nr1 = 0\ncall bpf_get_stack\nexit",
     (E.EACCES, "R1 type=scalar expected=ctx")),
    (TRACEPOINT, 0, "r2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\ncall bpf_get_stack\nexit", None),
    (RAW_TP, 0, "r2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\ncall bpf_get_stack\nexit", None),
    # do_refine_retval_range: R0 in [-4095, 16] after a 16-byte string copy
    (KPROBE, 0, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\ncall bpf_probe_read_kernel_str\nexit", None),
    (KPROBE, 0, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\ncall bpf_probe_read_user_str\n"
                "if r0 s< 0 goto +4\nr1 = r10\nr1 += -16\nr1 += r0\nr0 = *(u8 *)(r1 +0)\nr0 = 0\nexit",
     (E.EINVAL, "invalid variable-offset read from stack R1 var_off=(0x0; 0x1f) off=-16 size=1")),
    (KPROBE, 0, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\ncall bpf_probe_read_user_str\n"
                "if r0 s< 1 goto +5\nr0 += -1\nr1 = r10\nr1 += -16\nr1 += r0\nr0 = *(u8 *)(r1 +0)\nr0 = 0\nexit",
     None),
    (KPROBE, 0, "call bpf_get_current_task\nexit", None),
    (KPROBE, 0, "call bpf_get_current_cgroup_id\nexit", None),
    (KPROBE, 0, "r1 = 9\ncall bpf_send_signal\nexit", None),
    (KPROBE, 0, "r1 = 9\ncall bpf_send_signal_thread\nexit", None),
    (KPROBE, 0, "call bpf_get_attach_cookie\nexit", None),
    (KPROBE, 0, "r1 = 0\ncall bpf_get_attach_cookie\nexit", (E.EACCES, "R1 type=scalar expected=ctx")),
    (KPROBE, 0, "call bpf_get_func_ip\nexit", None),
    (KPROBE, 0, "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall bpf_copy_from_user\nr0 = 0\nexit",
     (E.EINVAL, "helper call might sleep in a non-sleepable prog")),
    (KPROBE, SLEEPABLE, "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall bpf_copy_from_user\nr0 = 0\nexit", None),
    (TRACEPOINT, 0, "call bpf_get_attach_cookie\nexit", None),
]


@pytest.mark.parametrize("ptype,flags,asm,want", HELPERS, ids=[f"{c[0]}:{c[1]}:" + c[2].replace("\n", "; ")
                                                               for c in HELPERS])
def test_tracing_helpers(ptype: int, flags: int, asm: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(asm), VerifierEnv(prog_type=ptype, prog_flags=flags), log_level=2)
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == want, r.log


def _lines(log: str) -> list[str]:
    from emu.host.hostbpf import comparable_log

    return [ln for ln in comparable_log(log).splitlines() if not ln.startswith(("processed ", "verification time"))]


def _host_diff(insns: list, env: VerifierEnv) -> None:
    from emu.host.verdict import host_load

    m = verify(insns, env, log_level=2)
    h = host_load(insns, env, log_level=2)
    assert (m.accepted, m.errno if not m.accepted else 0) == (h.accepted, h.errno if not h.accepted else 0), \
        f"host:\n{h.log}\nmodel:\n{m.log}"
    if not m.accepted:
        assert m.error_line == h.error_line
    assert _lines(m.log) == _lines(h.log)


@pytest.mark.kernel
@pytest.mark.parametrize("tp,flags,asm,want", TP_BTF, ids=_ids(TP_BTF))
def test_tp_btf_on_the_host(tp: str, flags: int, asm: str, want: object) -> None:
    """The whole level-2 log, except the btf ids of btf_ctx_access's line (per build)."""
    import re

    from emu.host.verdict import host_load

    env = _tp_env(tp, flags)
    insns = assemble(asm)
    m = verify(insns, env, log_level=2)
    h = host_load(insns, env, log_level=2)
    assert (m.accepted, m.errno if not m.accepted else 0) == (h.accepted, h.errno if not h.accepted else 0), \
        f"host:\n{h.log}\nmodel:\n{m.log}"
    if not m.accepted:
        assert m.error_line == h.error_line

    def norm(log: str) -> list[str]:
        return [re.sub(r"has btf_id \d+", "has btf_id N", ln) for ln in _lines(log)]
    assert norm(m.log) == norm(h.log)


@pytest.mark.kernel
@pytest.mark.parametrize("ptype,flags,asm,want", HELPERS, ids=[f"{c[0]}:{c[1]}:" + c[2].replace("\n", "; ")
                                                               for c in HELPERS])
def test_tracing_helpers_on_the_host(ptype: int, flags: int, asm: str, want: object) -> None:
    _host_diff(assemble(asm), VerifierEnv(prog_type=ptype, prog_flags=flags))


def test_bpf_cookie_feature_probe() -> None:
    """libbpf's probe_kern_bpf_cookie against the emulated kernel: a tracepoint program
    calling bpf_get_attach_cookie loads (6.18 has the helper); the syscall-wrapper probe,
    which needs a kprobe, is 0 (nothing here creates one)."""
    from emu.kernel import Kernel
    from emu.libbpf.kbtf import FEAT_BPF_COOKIE, FEAT_SYSCALL_WRAPPER, KernelBtf

    k = Kernel(modules=())
    try:
        kb = KernelBtf.from_kernel(k)
        assert kb.kernel_supports(FEAT_BPF_COOKIE) is True
        assert kb.kernel_supports(FEAT_SYSCALL_WRAPPER) is False
    finally:
        k.shutdown()


# --- bpf_strncmp's ARG_PTR_TO_CONST_STR (check_reg_const_str) ----------------------------------------
def _strncmp_prog(fd: int, off: int) -> list:
    """A kprobe comparing a stack string with the one at ``off`` of a map's value."""
    return assemble(f"r1 = 0\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -8\nr2 = 8\n"
                    f"r3 = map[fd:{fd}][0]+{off} ll\ncall bpf_strncmp\nr0 = 0\nexit\n")


#: name -> (map_flags, value bytes, freeze, offset of the string)
STRNCMP = {"rodata": (1 << 7, b"abc\0defg", True, 0),
           "rodata_inner": (1 << 7, b"abc\0def\0", True, 4),
           "not_terminated": (1 << 7, b"abcdefgh", True, 0),
           "tail_not_terminated": (1 << 7, b"abc\0defg", True, 4),
           "not_frozen": (1 << 7, b"abc\0defg", False, 0),
           "writable": (0, b"abc\0defg", True, 0)}


def _emu_strncmp(flags: int, value: bytes, freeze: bool, off: int) -> tuple[int, str]:
    from emu.kernel import Kernel
    from kernel_model.errors import KernelError

    k = Kernel(modules=())
    try:
        fd = k.map_create(map_type=2, key_size=4, value_size=8, max_entries=1, map_flags=flags)
        k.map_update_elem(fd, bytes(4), value, 0)
        if freeze:
            k.map_freeze(fd)
        try:
            k.prog_load(_strncmp_prog(fd, off), prog_type=KPROBE, log_level=1)
        except KernelError as e:
            return e.errno, str(e)
        return 0, ""
    finally:
        k.shutdown()


@pytest.mark.parametrize("name", sorted(STRNCMP))
def test_strncmp_const_str(name: str) -> None:
    want = {"rodata": 0, "rodata_inner": 0, "not_terminated": E.EINVAL, "tail_not_terminated": E.EINVAL,
            "not_frozen": E.EACCES, "writable": E.EACCES}[name]
    assert _emu_strncmp(*STRNCMP[name])[0] == want


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(STRNCMP))
def test_strncmp_const_str_as_the_host(name: str) -> None:
    import struct

    from emu.host import hostbpf
    from kernel_model.insn import encode
    from kernel_model.uapi import BPF_MAP_FREEZE

    flags, value, freeze, off = STRNCMP[name]
    fd, err = hostbpf.map_create(2, 4, 8, 1, map_flags=flags)
    assert fd >= 0, err
    try:
        assert hostbpf.map_update(fd, bytes(4), value)[0] == 0
        if freeze:
            attr = bytearray(8)
            struct.pack_into("<I", attr, 0, fd)
            assert hostbpf.sys_bpf(BPF_MAP_FREEZE, attr) == (0, 0)  # a map of this process only
        res = hostbpf.prog_load(KPROBE, encode(_strncmp_prog(fd, off)), log_level=1)
        host = (0, "") if res.accepted else (res.errno, res.error_line())
        res.close()
    finally:
        hostbpf.close(fd)
    model = _emu_strncmp(flags, value, freeze, off)
    assert model[0] == host[0]
    if host[0]:
        assert host[1] in model[1], (host, model)


def test_net_device_has_the_kernels_layout() -> None:
    """net_device is whole in the emulated vmlinux (kernel_model.net_types, the 6.18 layout):
    ifindex at 224 reads as a scalar, half of the netdev_ops pointer at 8 is the kernel's
    refusal (the 6.18 host's line), and past the 2496 bytes is the trailing ``priv[]``
    flexible array, a scalar (the host accepts it too)."""
    env = _tp_env("xdp_devmap_xmit")
    ok = verify(assemble("r2 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r2 +224)\nexit"), env)
    assert ok.accepted, ok.log
    r = verify(assemble("r2 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r2 +8)\nexit"), _tp_env("xdp_devmap_xmit"))
    assert not r.accepted and r.error_line == ("cannot access ptr member netdev_ops with moff 8 in struct "
                                               "net_device with off 8 size 4"), r.log
    ok = verify(assemble("r2 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r2 +2496)\nexit"), _tp_env("xdp_devmap_xmit"))
    assert ok.accepted, ok.log
