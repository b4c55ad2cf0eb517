"""tp_btf programs on the net tracepoints (kernel_model.net_types): reads of the kernel's
sk_buff / sock / net_device layouts, the skc_to_* casts into the 6.18 socket structs,
bpf_skb_output's and bpf_dynptr_from_skb's sk_buff argument -- on the model, and (marked
``kernel``) against the running host: verdict, errno and last line. Attach targets and kfuncs
are named by the host's own BTF ids of the same names (never a hard-coded id)."""

from __future__ import annotations

import errno as E
import re

import pytest

from kernel_model.asm import assemble
from kernel_model.btf import structs as BS
from verifier import VerifierEnv, verify

TRACING, TRACE_RAW_TP = 26, 23
SKB = "r2 = *(u64 *)(r1 +0)\n"  # the tracepoint's first argument
DYNPTR = "r2 = {}\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb\nr0 = 0\nexit"

#: (tracepoint, program, answer: None = accepted, else (errno, last line)); the 6.18 host's
#: answers (test_net_tracepoints_on_the_host)
CASES = [
    ("kfree_skb", SKB + "r0 = *(u32 *)(r2 +112)\nexit", None),  # skb->len
    ("kfree_skb", SKB + "r0 = *(u16 *)(r2 +176)\nexit", None),  # skb->protocol
    ("kfree_skb", SKB + "r0 = *(u32 *)(r2 +224)\nexit", (E.EACCES, "access beyond struct sk_buff at off 224 size 4")),
    ("kfree_skb", SKB + "r2 = *(u64 *)(r2 +16)\nr0 = *(u32 *)(r2 +224)\nexit", None),  # skb->dev->ifindex
    ("kfree_skb", SKB + "r3 = 0\n*(u32 *)(r2 +112) = r3\nr0 = 0\nexit", (E.EACCES, "only read is supported")),
    # 6.18's fourth argument, rx_sk, may be NULL (raw_tp_null_args)
    ("kfree_skb", "r2 = *(u64 *)(r1 +24)\nr0 = *(u32 *)(r2 +0)\nexit",
     (E.EACCES, "R2 invalid mem access 'trusted_ptr_or_null_'")),
    ("kfree_skb", "r2 = *(u64 *)(r1 +16)\nr0 = r2\nexit", None),  # enum skb_drop_reason
    ("kfree_skb", "r2 = *(u64 *)(r1 +32)\nr0 = 0\nexit", (E.EACCES, "invalid bpf_context access off=32 size=8")),
    # skb->sk is rcu_ptr_or_null_ (BTF_TYPE_SAFE_RCU_OR_NULL(struct sk_buff))
    ("netif_receive_skb", SKB + "r2 = *(u64 *)(r2 +24)\nr0 = *(u16 *)(r2 +16)\nexit",
     (E.EACCES, "R2 invalid mem access 'rcu_ptr_or_null_'")),
    ("netif_receive_skb", "r2 = *(u64 *)(r1 +8)\nr0 = 0\nexit", (E.EACCES, "invalid bpf_context access off=8 size=8")),
    ("tcp_probe", "r2 = *(u64 *)(r1 +8)\nr0 = *(u32 *)(r2 +112)\nexit", None),
    ("inet_sock_set_state", "r2 = *(u32 *)(r1 +8)\nr0 = r2\nexit", None),
    ("tcp_retransmit_synack", "r2 = *(u64 *)(r1 +8)\nr2 = *(u64 *)(r2 +0)\nr0 = 0\nexit", None),
    # the socket casts
    ("tcp_destroy_sock", "r1 = *(u64 *)(r1 +0)\ncall bpf_skc_to_tcp6_sock\nif r0 == 0 goto +1\n"
                         "r0 = *(u32 *)(r0 +0)\nr0 = 0\nexit", None),
    ("tcp_destroy_sock", "r1 = *(u64 *)(r1 +0)\ncall bpf_skc_to_tcp6_sock\nr0 = *(u32 *)(r0 +0)\nr0 = 0\nexit",
     (E.EACCES, "R0 invalid mem access 'ptr_or_null_'")),
    ("tcp_destroy_sock", "r1 = *(u64 *)(r1 +0)\ncall bpf_skc_to_udp6_sock\nif r0 == 0 goto +1\n"
                         "r0 = *(u32 *)(r0 +1464)\nr0 = 0\nexit",
     (E.EACCES, "cannot access ptr member ipv6_ac_list with moff 120 in struct ipv6_pinfo with off 120 size 4")),
    ("tcp_destroy_sock", "r1 = *(u64 *)(r1 +0)\ncall bpf_skc_to_tcp_request_sock\nif r0 == 0 goto +1\n"
                         "r0 = *(u32 *)(r0 +312)\nr0 = 0\nexit",
     (E.EACCES, "access beyond struct tcp_request_sock at off 312 size 4")),
    ("tcp_destroy_sock", "r1 = *(u64 *)(r1 +0)\ncall bpf_skc_to_mptcp_sock\nr0 = 0\nexit",
     (E.EACCES, "R1 type=trusted_ptr_ expected=sock_common, sock, tcp_sock, xdp_sock")),
    ("tcp_destroy_sock", "r1 = 0\ncall bpf_skc_to_tcp6_sock\nr0 = 0\nexit",
     (E.EACCES, "R1 type=scalar expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    ("kfree_skb", "r1 = *(u64 *)(r1 +0)\ncall bpf_skc_to_tcp6_sock\nr0 = 0\nexit",
     (E.EACCES, "R1 is of type sk_buff but sock_common is expected")),
    # bpf_skb_output: ARG_PTR_TO_BTF_ID of struct sk_buff
    ("tcp_destroy_sock", "r1 = *(u64 *)(r1 +0)\nr2 = 0\nr3 = 0\nr4 = r10\nr4 += -8\nr5 = 8\n*(u64 *)(r10 -8) = r3\n"
                         "call bpf_skb_output\nr0 = 0\nexit", (E.EACCES, "R1 is of type sock but sk_buff is expected")),
    # bpf_dynptr_from_skb's __sk_buff: the kernel's sk_buff passes (btf_is_projection_of), a sock not
    ("kfree_skb", "r1 = *(u64 *)(r1 +0)\n" + DYNPTR.format(0), None),
    ("tcp_destroy_sock", "r1 = *(u64 *)(r1 +0)\n" + DYNPTR.format(0),
     (E.EINVAL, "kernel function bpf_dynptr_from_skb args#0 expected pointer to STRUCT __sk_buff but R1 has a "
                "pointer to STRUCT sock")),
]


def _env(tp: str) -> VerifierEnv:
    from emu.kernel.harness import model_kernel

    k = model_kernel()
    tid = k.btf.find(f"btf_trace_{tp}", BS.KIND_TYPEDEF)
    assert tid is not None, tp
    return VerifierEnv(prog_type=TRACING, expected_attach_type=TRACE_RAW_TP, attach_btf=k.btf, attach_btf_id=tid,
                       vmlinux_btf=k.btf, kfuncs=k.kfuncs)


def _program(asm: str, env: VerifierEnv, host: bool = False) -> list:
    names = set(re.findall(r"call (bpf_dynptr_\w+)", asm))  # the kfuncs: by BTF id
    if host:
        from emu.host import hostbpf
        syms = {n: hostbpf.host_btf_id(n, "func") or 0 for n in names}
    else:
        syms = {n: env.vmlinux_btf.find(n, BS.KIND_FUNC) for n in names}
    return assemble(asm, symbols=syms)


def _ids(table: list) -> list[str]:
    return [f"{c[0]}:" + c[1].replace("\n", "; ") for c in table]


@pytest.mark.parametrize("tp,asm,want", CASES, ids=_ids(CASES))
def test_net_tracepoints(tp: str, asm: str, want: tuple[int, str] | None) -> None:
    env = _env(tp)
    r = verify(_program(asm, env), env, log_level=2)
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == want, r.log


def test_walk_into_a_declared_struct_is_not_modelled() -> None:
    """skb->extensions points to struct skb_ext, which the emulated vmlinux only declares:
    the pointer reads as the kernel's PTR_TO_BTF_ID (not a scalar), a read through it is
    refused as not modelled (the 6.18 host, which lays skb_ext out, accepts it)."""
    env = _env("kfree_skb")
    r = verify(assemble(SKB + "r2 = *(u64 *)(r2 +216)\nr0 = r2\nexit"), env, log_level=2)
    assert r.accepted, r.log
    assert "R2=untrusted_ptr_skb_ext()" in r.log, r.log  # as the 6.18 host prints it
    r = verify(assemble(SKB + "r2 = *(u64 *)(r2 +216)\nr0 = *(u32 *)(r2 +0)\nexit"), env)
    assert not r.accepted and "is not modelled by structops" in (r.error_line or ""), r.log


@pytest.mark.kernel
@pytest.mark.parametrize("tp,asm,want", CASES, ids=_ids(CASES))
def test_net_tracepoints_on_the_host(tp: str, asm: str, want: object) -> None:
    from emu.host import hostbpf
    from emu.host.verdict import host_load

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    h = host_load(_program(asm, _env(tp), host=True), _env(tp), log_level=2)
    assert (None if h.accepted else (h.errno, h.error_line)) == want, h.log


# --- which program types get the socket casts, bpf_sock_from_file and bpf_skb_output ------------------
#: enum bpf_prog_type values of the types the model verifies without an attach target
PROG_TYPES = {"socket_filter": 1, "kprobe": 2, "sched_cls": 3, "tracepoint": 5, "xdp": 6, "perf_event": 7,
              "cgroup_skb": 8, "cgroup_sock": 9, "lwt_in": 10, "sock_ops": 13, "sk_skb": 14, "sk_msg": 16,
              "raw_tracepoint": 17, "sk_reuseport": 21, "flow_dissector": 22}
NEW_HELPERS = ("bpf_skc_to_tcp6_sock", "bpf_skc_to_udp6_sock", "bpf_skc_to_tcp_request_sock",
               "bpf_skc_to_mptcp_sock", "bpf_sock_from_file", "bpf_skb_output", "bpf_snprintf_btf")
SOCK_COMMON_ARG = "R1 type=scalar expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"


def _null_call(helper: str) -> list:
    return assemble(f"r1 = 0\ncall {helper}\nr0 = 0\nexit")


@pytest.mark.parametrize("ptype,helper,want", [
    (1, "bpf_skc_to_tcp6_sock", (E.EACCES, SOCK_COMMON_ARG)),  # bpf_sk_base_func_proto: root
    (13, "bpf_skc_to_mptcp_sock", (E.EACCES, "R1 type=scalar expected=sock_common, sock, tcp_sock, xdp_sock")),
    (5, "bpf_skc_to_udp6_sock", (E.EINVAL, "program of this type cannot use helper bpf_skc_to_udp6_sock#140")),
    (6, "bpf_sock_from_file", (E.EINVAL, "program of this type cannot use helper bpf_sock_from_file#162")),
    (1, "bpf_skb_output", (E.EINVAL, "program of this type cannot use helper bpf_skb_output#111")),
])
def test_helper_availability(ptype: int, helper: str, want: tuple[int, str]) -> None:
    """get_func_proto's answer (the decision trees) then the prototype's first check; the
    6.18 host's answers (test_helper_availability_as_the_host covers every pair)."""
    r = verify(_null_call(helper), VerifierEnv(prog_type=ptype))
    assert (r.errno, r.error_line) == want, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("helper", NEW_HELPERS)
@pytest.mark.parametrize("ptype", sorted(PROG_TYPES.values()))
def test_helper_availability_as_the_host(ptype: int, helper: str) -> None:
    from emu.host import hostbpf
    from emu.host.verdict import host_load

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    m = verify(_null_call(helper), VerifierEnv(prog_type=ptype))
    h = host_load(_null_call(helper), VerifierEnv(prog_type=ptype))
    assert (m.accepted, m.errno, m.error_line) == (h.accepted, h.errno, h.error_line), h.log


# --- the raw SYN-cookie helpers: fixed-size header arguments (sizeof(struct iphdr) ...) ----------------
_ZERO48 = "".join(f"*(u64 *)(r10 -{8 * i}) = r1\n" for i in range(1, 7))
_HDRS = "r1 = 0\n" + _ZERO48 + "r1 = r10\nr1 += {}\nr2 = r10\nr2 += {}\n"
_PKT = "r2 = *(u32 *)(r1 +4)\nr1 = *(u32 *)(r1 +0)\nr3 = r1\nr3 += {}\nif r3 > r2 goto +6\nr2 = r1\nr2 += 20\n"
#: (prog type, program, answer); the 6.18 host's answers (test_syncookie_helpers_as_the_host)
SYNCOOKIE = [
    (6, _HDRS.format(-48, -24) + "r3 = 20\ncall bpf_tcp_raw_gen_syncookie_ipv4\nr0 = 0\nexit", None),
    (6, _HDRS.format(-16, -24) + "r3 = 20\ncall bpf_tcp_raw_gen_syncookie_ipv4\nr0 = 0\nexit",
     (E.EINVAL, "invalid read from stack R1 off=-16 size=20")),
    (6, _HDRS.format(-48, -24) + "r3 = 30\ncall bpf_tcp_raw_gen_syncookie_ipv4\nr0 = 0\nexit",
     (E.EINVAL, "invalid read from stack R2 off=-24 size=30")),
    (6, _HDRS.format(-48, -24) + "r3 = 0\ncall bpf_tcp_raw_gen_syncookie_ipv6\nr0 = 0\nexit", None),
    (6, _HDRS.format(-48, -24) + "call bpf_tcp_raw_check_syncookie_ipv6\nr0 = 0\nexit", None),
    (6, _HDRS.format(-40, -8) + "call bpf_tcp_raw_check_syncookie_ipv4\nr0 = 0\nexit",
     (E.EINVAL, "invalid read from stack R2 off=-8 size=20")),
    (3, _HDRS.format(-48, -24) + "r3 = 20\ncall bpf_tcp_raw_gen_syncookie_ipv4\nr0 = 0\nexit", None),
    (8, _HDRS.format(-48, -24) + "r3 = 20\ncall bpf_tcp_raw_gen_syncookie_ipv4\nr0 = 0\nexit",
     (E.EINVAL, "program of this type cannot use helper bpf_tcp_raw_gen_syncookie_ipv4#204")),
    (6, _PKT.format(40) + "r3 = 20\ncall bpf_tcp_raw_gen_syncookie_ipv4\nr0 = 0\nexit\nr0 = 0\nexit", None),
    (6, _PKT.format(30) + "r3 = 20\ncall bpf_tcp_raw_gen_syncookie_ipv4\nr0 = 0\nexit\nr0 = 0\nexit",
     (E.EACCES, "R2 offset is outside of the packet")),
]


@pytest.mark.parametrize("ptype,asm,want", SYNCOOKIE, ids=[f"{c[0]}:" + c[1].split("call ")[1].split("\n")[0] + f":{i}"
                                                           for i, c in enumerate(SYNCOOKIE)])
def test_syncookie_helpers(ptype: int, asm: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(asm), VerifierEnv(prog_type=ptype))
    assert (None if r.accepted else (r.errno, r.error_line)) == want, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("ptype,asm,want", SYNCOOKIE, ids=[f"{c[0]}:" + c[1].split("call ")[1].split("\n")[0] + f":{i}"
                                                           for i, c in enumerate(SYNCOOKIE)])
def test_syncookie_helpers_as_the_host(ptype: int, asm: str, want: object) -> None:
    from emu.host import hostbpf
    from emu.host.verdict import host_load

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    h = host_load(assemble(asm), VerifierEnv(prog_type=ptype))
    assert (None if h.accepted else (h.errno, h.error_line)) == want, h.log


# --- bpf_snprintf_btf (6.18: the string buffer is MEM_WRITE) -------------------------------------------
_BTF_PTR = "r1 = 0\n*(u64 *)(r10 -40) = r1\n*(u64 *)(r10 -48) = r1\n*(u64 *)(r10 -56) = r1\n"
#: (prog type, program, answer); the 6.18 host's (test_snprintf_btf_as_the_host)
SNPRINTF_BTF = [
    (2, _BTF_PTR + "r1 = r10\nr1 += -16\nr2 = 16\nr3 = r10\nr3 += -56\nr4 = 24\nr5 = 0\ncall bpf_snprintf_btf\n"
                   "r0 = 0\nexit", None),
    (2, _BTF_PTR + "r1 = r10\nr1 += -16\nr2 = 17\nr3 = r10\nr3 += -56\nr4 = 24\nr5 = 0\ncall bpf_snprintf_btf\n"
                   "r0 = 0\nexit", (E.EINVAL, "invalid write to stack R1 off=-16 size=17")),
    (2, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = r10\nr3 += -56\nr4 = 24\nr5 = 0\ncall bpf_snprintf_btf\nr0 = 0\nexit",
     None),  # root reads uninitialised stack
    (17, _BTF_PTR + "r1 = r10\nr1 += -16\nr2 = 16\nr3 = r10\nr3 += -56\nr4 = 24\nr5 = 0\ncall bpf_snprintf_btf\n"
                    "r0 = 0\nexit", None),
    (3, _BTF_PTR + "r1 = r10\nr1 += -16\nr2 = 16\nr3 = r10\nr3 += -56\nr4 = 24\nr5 = 0\ncall bpf_snprintf_btf\n"
                   "r0 = 0\nexit", None),  # bpf_base_func_proto hands it to perfmon-capable loaders
    (8, _BTF_PTR + "r1 = r10\nr1 += -16\nr2 = 16\nr3 = r10\nr3 += -56\nr4 = 24\nr5 = 0\ncall bpf_snprintf_btf\n"
                   "r0 = 0\nexit", None),
]


@pytest.mark.parametrize("ptype,asm,want", SNPRINTF_BTF, ids=[str(i) for i in range(len(SNPRINTF_BTF))])
def test_snprintf_btf(ptype: int, asm: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(asm), VerifierEnv(prog_type=ptype))
    assert (None if r.accepted else (r.errno, r.error_line)) == want, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("ptype,asm,want", SNPRINTF_BTF, ids=[str(i) for i in range(len(SNPRINTF_BTF))])
def test_snprintf_btf_as_the_host(ptype: int, asm: str, want: object) -> None:
    from emu.host import hostbpf
    from emu.host.verdict import host_load

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    h = host_load(assemble(asm), VerifierEnv(prog_type=ptype))
    assert (None if h.accepted else (h.errno, h.error_line)) == want, h.log


@pytest.mark.kernel
def test_snprintf_btf_buffer_is_written_as_on_the_host() -> None:
    """A read-only (BPF_F_RDONLY_PROG, frozen) map value as the string buffer: MEM_WRITE makes
    it a write, refused by both (the 6.12 initialiser, a plain ARG_PTR_TO_MEM, would read it)."""
    import struct

    from emu.host import hostbpf
    from kernel_model.insn import encode
    from kernel_model.uapi import BPF_MAP_FREEZE

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    fd, err = hostbpf.map_create(2, 4, 64, 1, map_flags=1 << 7)
    assert fd >= 0, err
    try:
        attr = bytearray(8)
        struct.pack_into("<I", attr, 0, fd)
        assert hostbpf.sys_bpf(BPF_MAP_FREEZE, attr) == (0, 0)  # a map of this process only
        prog = assemble(_BTF_PTR + f"r1 = map[fd:{fd}][0]+0 ll\nr2 = 16\nr3 = r10\nr3 += -56\nr4 = 24\nr5 = 0\n"
                                   "call bpf_snprintf_btf\nr0 = 0\nexit")
        res = hostbpf.prog_load(2, encode(prog), log_level=1)
        host = (res.errno, res.error_line())
        res.close()
    finally:
        hostbpf.close(fd)
    assert host == (E.EACCES, "write into map forbidden, value_size=64 off=0 size=16")
    from kernel_model.bpf_facts.helper_protos import PROTOS
    assert "MEM_WRITE" in PROTOS["bpf_snprintf_btf_proto"].args[0].flags


@pytest.mark.parametrize("off", [1032, 1040, 1044])
def test_read_into_a_reduced_structs_placeholder_is_not_modelled(off: int) -> None:
    """udp6_sock embeds the emulated vmlinux's reduced udp_sock (kernel_model.vmlinux_iter):
    where it keeps a placeholder (``__pad0``) the 6.18 kernel has members -- here an
    hlist_nulls_node, whose pointers it refuses to read in halves ("cannot access ptr member
    next with moff 0 ..."). A read there is not modelled, never a scalar (a false accept)."""
    env = _env("tcp_destroy_sock")
    r = verify(assemble(f"r1 = *(u64 *)(r1 +0)\ncall bpf_skc_to_udp6_sock\nif r0 == 0 goto +1\n"
                        f"r0 = *(u32 *)(r0 +{off})\nr0 = 0\nexit"), env)
    assert not r.accepted and (r.error_line or "").endswith("is not modelled by structops"), r.log
    assert "udp_sock (its __pad0" in (r.error_line or "")
