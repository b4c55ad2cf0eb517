"""Which program types may call which kfunc (``btf_kfunc_id_set_contains`` through
``bpf_prog_type_to_kfunc_hook``, kernel/bpf/btf.c; the per-type table is
kernel_model.bpf_facts.kfuncs / kernel_model.core_kfuncs.kfunc_prog_types, the emulated kernel's
registrations emu/kernel/core_kfuncs.py and tcp_kfuncs.py).

A program of each modelled type calls one kfunc of the emulated vmlinux (``call kfunc; r0 = 0;
exit``, no arguments set up): where the type's hook has no set holding the kfunc the verifier
stops at the call with ``calling kernel function NAME is not allowed`` (-EACCES); elsewhere it
goes on to the arguments (and refuses them, or accepts). The ``kernel``-marked sweep asks the
host for every type x every kfunc both kernels have, and requires the same answer to "is it
allowed" (and, where not, the same errno and line).
"""

from __future__ import annotations

import errno

import pytest

from emu.kernel import Kernel
from emu.kernel.prog_load import ProgLoadError
from kernel_model.btf import structs as S
from kernel_model.insn import Insn, encode
from kernel_model.vmlinux import vmlinux_kfunc_names

#: BPF_PSEUDO_KFUNC_CALL
KFUNC_CALL = 2
#: type name -> (prog type, expected attach type, (attach BTF type, kind) or None): every type the
#: model verifies, with the attach attributes its load needs
TYPES = {
    "socket_filter": (1, 0, None), "kprobe": (2, 0, None), "sched_cls": (3, 0, None), "sched_act": (4, 0, None),
    "tracepoint": (5, 0, None), "xdp": (6, 0, None), "perf_event": (7, 0, None), "cgroup_skb": (8, 0, None),
    "cgroup_sock": (9, 0, None), "lwt_in": (10, 0, None), "lwt_out": (11, 0, None), "lwt_xmit": (12, 0, None),
    "sock_ops": (13, 0, None), "sk_skb": (14, 0, None), "cgroup_device": (15, 0, None), "sk_msg": (16, 0, None),
    "raw_tracepoint": (17, 0, None), "cgroup_sock_addr": (18, 8, None), "lwt_seg6local": (19, 0, None),
    "sk_reuseport": (21, 0, None), "flow_dissector": (22, 0, None), "cgroup_sysctl": (23, 0, None),
    "raw_tp_writable": (24, 0, None), "cgroup_sockopt": (25, 21, None),
    "tp_btf": (26, 23, ("btf_trace_task_newtask", "typedef")),
    "struct_ops": (27, 0, ("bpf_dummy_ops", "struct")), "sk_lookup": (30, 36, None), "syscall": (31, 0, None),
    "netfilter": (32, 45, None),
}
_KINDS = {"typedef": S.KIND_TYPEDEF, "struct": S.KIND_STRUCT}


def _prog(func_id: int) -> list[Insn]:
    return [Insn(0x85, 0, KFUNC_CALL, 0, func_id), Insn(0xB7, 0, 0, 0, 0), Insn(0x95, 0, 0, 0, 0)]


def _last(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith("processed ")]
    return lines[-1] if lines else ""


def model_answer(k: Kernel, tname: str, kfunc: str) -> tuple[int, str]:
    """(errno or 0, last log line) of the emulated kernel."""
    ptype, eat, att = TYPES[tname]
    fid = k.btf.find(kfunc, S.KIND_FUNC)
    assert fid is not None, kfunc
    attach = k.btf.find(att[0], _KINDS[att[1]]) if att else 0
    try:
        fd = k.prog_load(_prog(fid), prog_type=ptype, expected_attach_type=eat, attach_btf_id=attach or 0,
                         log_level=1)
    except ProgLoadError as e:
        return e.errno, _last(e.log)
    k.close(fd)
    return 0, ""


def _not_allowed(line: str, kfunc: str) -> bool:
    return line == f"calling kernel function {kfunc} is not allowed"


@pytest.fixture(scope="module")
def kernel() -> Kernel:
    return Kernel(modules=())


# --- the model alone: facts the host sweep found ------------------------------------------------------
@pytest.mark.parametrize("tname,kfunc,allowed", [
    ("sched_cls", "tcp_reno_ssthresh", False),       # bpf_tcp_ca_kfunc_set: STRUCT_OPS only
    ("tp_btf", "cubictcp_init", False),
    ("struct_ops", "tcp_reno_ssthresh", True),
    ("sock_ops", "bpf_task_acquire", True),          # 6.15+: sock_ops shares the cgroup hook
    ("sock_ops", "bpf_obj_new_impl", True),
    ("socket_filter", "bpf_task_acquire", False),    # generic_kfunc_set: no socket filter hook
    ("socket_filter", "bpf_rcu_read_lock", True),    # common_kfunc_set (BPF_PROG_TYPE_UNSPEC)
    ("raw_tracepoint", "bpf_task_from_pid", False),  # no kfunc hook at all
    ("netfilter", "bpf_cgroup_acquire", False),
    ("syscall", "bpf_cgroup_from_id", True),
])
def test_table(kernel: Kernel, tname: str, kfunc: str, allowed: bool) -> None:
    err, line = model_answer(kernel, tname, kfunc)
    if allowed:
        assert not _not_allowed(line, kfunc), line
    else:
        assert (err, line) == (errno.EACCES, f"calling kernel function {kfunc} is not allowed")


# --- the host sweep ---------------------------------------------------------------------------------------
@pytest.mark.kernel
@pytest.mark.parametrize("tname", sorted(TYPES))
def test_every_kfunc_from_this_type_against_the_host(kernel: Kernel, tname: str) -> None:
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    ptype, eat, att = TYPES[tname]
    hattach = hostbpf.host_btf_id(*att) if att else 0
    if att and hattach is None:
        pytest.skip(f"the host's BTF has no {att[1]} {att[0]}")
    swept = 0
    wrong = []
    for kfunc in vmlinux_kfunc_names():
        hid = hostbpf.host_btf_id(kfunc, "func")
        if hid is None:  # a kfunc of a subsystem the host lacks (sched_ext without CONFIG_SCHED_CLASS_EXT)
            continue
        r = hostbpf.prog_load(ptype, encode(_prog(hid)), expected_attach_type=eat, attach_btf_id=hattach or 0,
                              log_level=1)
        try:
            hline = _last(r.log)
            haccepted = r.accepted
            herr = 0 if haccepted else r.errno
        finally:
            r.close()
        assert hline or haccepted, f"{tname}: the host refused the load of {kfunc} before the verifier ({herr})"
        merr, mline = model_answer(kernel, tname, kfunc)
        swept += 1
        if _not_allowed(hline, kfunc) != _not_allowed(mline, kfunc) or (
                _not_allowed(hline, kfunc) and herr != merr):
            wrong.append(f"{kfunc}: host [{herr}] {hline!r}, model [{merr}] {mline!r}")
    assert swept, "no kfunc of the emulated vmlinux is in the host's BTF"
    assert not wrong, "\n".join(wrong)
