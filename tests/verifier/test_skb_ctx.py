"""The socket-level and tunnel packet program types (verifier.skb_ctx), the packet helpers
(verifier.pkt_helpers) and socket pointers (verifier.sock_ctx, verifier.sock_refs): context access rules, helper
availability, packet pointers invalidated by packet-changing helpers, socket references. The expected lines and errnos are those of Linux 6.18
(net/core/filter.c, kernel/bpf/verifier.c); the ``kernel``-marked tests compare every case with
the host kernel, whole log included."""

from __future__ import annotations

import errno

import pytest

from kernel_model.asm import assemble
from kernel_model.insn import encode
from verifier import VerifierEnv, verify

LWT_IN, LWT_OUT, LWT_XMIT, SK_SKB, SK_MSG, LWT_SEG6LOCAL, SK_REUSEPORT, FLOW_DISSECTOR, NETFILTER = \
    10, 11, 12, 14, 16, 19, 21, 22, 32
SCHED_CLS, XDP = 3, 6
BPF_NETFILTER, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE = 45, 40

#: a __sk_buff program reading one byte of its packet after the bounds check
SKB_PKT = ("r2 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +1\n"
           "r0 = *(u8 *)(r2 +0)\nr0 = 0\nexit")
MSG_PKT = ("r2 = *(u64 *)(r1 +0)\nr3 = *(u64 *)(r1 +8)\nr4 = r2\nr4 += 4\nif r4 > r3 goto +1\n"
           "r0 = *(u32 *)(r2 +0)\nr0 = 0\nexit")
XDP_PKT_HEAD = "r6 = r1\nr7 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr4 = r7\nr4 += 14\nif r4 > r3 goto +{skip}\n"
#: a zeroed struct bpf_sock_tuple on the stack in R2, its size, netns and flags: the socket lookups
TUPLE = ("r6 = r1\nr2 = r10\nr2 += -40\n*(u64 *)(r10 -40) = 0\n*(u64 *)(r10 -32) = 0\n*(u64 *)(r10 -24) = 0\n"
         "*(u64 *)(r10 -16) = 0\n*(u64 *)(r10 -8) = 0\nr3 = 12\nr4 = -1\nr5 = 0\n")
TC_PKT_HEAD = "r6 = r1\nr7 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r7\nr4 += 14\nif r4 > r3 goto +{skip}\n"


def _bad(line: str, err: int = errno.EACCES) -> tuple[int, str]:
    return err, line


#: (prog type, expected attach type, program, None if accepted else (errno, last line))
CASES = [
    *[(t, 0, SKB_PKT, None) for t in (SK_SKB, LWT_IN, LWT_OUT, LWT_XMIT, LWT_SEG6LOCAL, FLOW_DISSECTOR)],
    # sk_skb_is_valid_access: mark is not even readable; tc_index writable; narrow reads
    (SK_SKB, 0, "r0 = *(u32 *)(r1 +8)\nexit", _bad("invalid bpf_context access off=8 size=4")),
    (SK_SKB, 0, "r0 = 0\n*(u32 *)(r1 +44) = r0\nexit", None),
    (SK_SKB, 0, "r0 = 0\n*(u32 *)(r1 +8) = r0\nexit", _bad("invalid bpf_context access off=8 size=4")),
    (SK_SKB, 0, "r0 = *(u16 *)(r1 +0)\nexit", None),
    (SK_SKB, 0, "r0 = *(u64 *)(r1 +168)\nr0 = 0\nexit", None),
    (SK_SKB, 0, "r0 = *(u32 *)(r1 +140)\nexit", _bad("invalid bpf_context access off=140 size=4")),
    (SK_SKB, 0, "r0 = 7\nexit", None),  # no return range
    # sk_skb may write its packet (bpf_unclone_prologue), lwt_in may not
    (SK_SKB, 0, SKB_PKT.replace("r0 = *(u8 *)(r2 +0)", "*(u8 *)(r2 +0) = r4"), None),  # root: leaks allowed
    (SK_SKB, 0, SKB_PKT.replace("r0 = *(u8 *)(r2 +0)", "*(u8 *)(r2 +0) = 1"), None),
    (LWT_IN, 0, SKB_PKT.replace("r0 = *(u8 *)(r2 +0)", "*(u8 *)(r2 +0) = 1"), _bad("cannot write into packet")),
    (LWT_XMIT, 0, SKB_PKT.replace("r0 = *(u8 *)(r2 +0)", "*(u8 *)(r2 +0) = 1"), None),
    # flow dissector: data, data_end, flow_keys only, read-only
    (FLOW_DISSECTOR, 0, "r0 = *(u64 *)(r1 +144)\nr0 = *(u16 *)(r0 +0)\nexit", None),
    (FLOW_DISSECTOR, 0, "r0 = *(u64 *)(r1 +144)\nr0 = *(u16 *)(r0 +56)\nexit",
     _bad("invalid access to flow keys off=56 size=2")),
    (FLOW_DISSECTOR, 0, "r0 = *(u32 *)(r1 +0)\nexit", _bad("invalid bpf_context access off=0 size=4")),
    (FLOW_DISSECTOR, 0, "r0 = *(u32 *)(r1 +144)\nexit", _bad("invalid bpf_context access off=144 size=4")),
    # sk_msg_md
    (SK_MSG, 0, MSG_PKT, None),
    (SK_MSG, 0, "r0 = *(u32 *)(r1 +0)\nexit", _bad("invalid bpf_context access off=0 size=4")),
    (SK_MSG, 0, "r0 = *(u16 *)(r1 +16)\nexit", _bad("invalid bpf_context access off=16 size=2")),
    (SK_MSG, 0, "r0 = *(u32 *)(r1 +68)\nexit", None),
    (SK_MSG, 0, "r0 = *(u32 *)(r1 +80)\nexit", _bad("invalid bpf_context access off=80 size=4")),
    (SK_MSG, 0, "r0 = *(u64 *)(r1 +72)\nr0 = 0\nexit", None),
    (SK_MSG, 0, "r0 = 0\n*(u32 *)(r1 +16) = r0\nexit", _bad("invalid bpf_context access off=16 size=4")),
    # sk_reuseport_md
    (SK_REUSEPORT, 0, "r0 = *(u8 *)(r1 +20)\nexit", _bad("invalid bpf_context access off=20 size=1")),
    (SK_REUSEPORT, 0, "r0 = *(u16 *)(r1 +22)\nexit", None),
    (SK_REUSEPORT, 0, "r0 = *(u8 *)(r1 +24)\nexit", None),
    (SK_REUSEPORT, 0, "r0 = *(u16 *)(r1 +32)\nexit", _bad("invalid bpf_context access off=32 size=2")),
    (SK_REUSEPORT, 0, "r0 = *(u32 *)(r1 +36)\nexit", _bad("invalid bpf_context access off=36 size=4")),
    (SK_REUSEPORT, 0, "r0 = *(u64 *)(r1 +48)\nr0 = 0\nexit", None),
    (SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, "r0 = 0\nexit", None),
    (SK_REUSEPORT, 5, "r0 = 0\nexit", (errno.EINVAL, None)),  # bpf_prog_load_check_attach
    # lwt_is_valid_access: no socket fields, mark writable, tc_index not
    *[(t, 0, src, res) for t in (LWT_IN, LWT_OUT, LWT_XMIT, LWT_SEG6LOCAL) for src, res in (
        ("r0 = *(u32 *)(r1 +88)\nexit", _bad("invalid bpf_context access off=88 size=4")),
        ("r0 = 0\n*(u32 *)(r1 +8) = r0\nexit", None),
        ("r0 = 0\n*(u32 *)(r1 +44) = r0\nexit", _bad("invalid bpf_context access off=44 size=4")),
        ("r0 = *(u64 *)(r1 +184)\nexit", _bad("invalid bpf_context access off=184 size=8")))],
    # netfilter: expected attach type and return range
    (NETFILTER, BPF_NETFILTER, "r0 = 1\nexit", None),
    (NETFILTER, BPF_NETFILTER, "r0 = *(u32 *)(r1 +8)\nr0 = 1\nexit", _bad("invalid bpf_context access off=8 size=4")),
    (NETFILTER, BPF_NETFILTER, "r0 = 2\nexit",
     _bad("At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]", errno.EINVAL)),
    (NETFILTER, 0, "r0 = 1\nexit", (errno.EINVAL, None)),
    # helper availability (the type's get_func_proto)
    (SK_SKB, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\ncall 26\nr0 = 0\nexit", None),
    (SK_MSG, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\ncall 26\nr0 = 0\nexit",
     _bad("program of this type cannot use helper bpf_skb_load_bytes#26", errno.EINVAL)),
    (SK_MSG, 0, "r2 = 1\ncall 61\nr0 = 0\nexit", None),  # msg_apply_bytes
    (SK_SKB, 0, "r2 = 1\ncall 61\nr0 = 0\nexit",
     _bad("program of this type cannot use helper bpf_msg_apply_bytes#61", errno.EINVAL)),
    (FLOW_DISSECTOR, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\ncall 26\nr0 = 0\nexit", None),
    (FLOW_DISSECTOR, 0, "r2 = 0\ncall 39\nr0 = 0\nexit",
     _bad("program of this type cannot use helper bpf_skb_pull_data#39", errno.EINVAL)),
    (SK_REUSEPORT, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 9\ncall 26\nr0 = 0\nexit",
     _bad("invalid write to stack R3 off=-8 size=9", errno.EINVAL)),
    (LWT_IN, 0, "r2 = 0\ncall 39\nr0 = 0\nexit", None),
    (LWT_IN, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\nr5 = 0\ncall 9\nr0 = 0\nexit",
     _bad("program of this type cannot use helper bpf_skb_store_bytes#9", errno.EINVAL)),
    (SCHED_CLS, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\ncall 26\nr0 = 0\nexit", None),
    (SCHED_CLS, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 0\ncall 26\nr0 = 0\nexit",
     _bad("R4 invalid zero-sized read: u64=[0,0]")),
    (XDP, 0, "r2 = 4\ncall 44\nr0 = 2\nexit", None),
    (XDP, 0, "call 188\nr0 = 2\nexit", None),
    (SCHED_CLS, 0, "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\ncall 28\nr0 = 0\nexit", None),  # csum_diff(NULL, 0 ..)
    # bpf_check_mtu: a fixed-size (u32), aligned, written memory argument
    (SCHED_CLS, 0, "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 0\nr5 = 0\ncall 163\nr0 = 0\nexit", None),
    (SCHED_CLS, 0, "r2 = 0\nr3 = r10\nr3 += -6\nr4 = 0\nr5 = 0\ncall 163\nr0 = 0\nexit",
     _bad("misaligned stack access off 0+-6+0 size 4")),
    # packet pointers die at a helper that changes the packet (clear_all_pkt_pointers); r7 survives
    # the call, so what makes it unusable is the invalidation (an unknown scalar: root may leak)
    (SCHED_CLS, 0, TC_PKT_HEAD.format(skip=4) + "r1 = r6\nr2 = 0\ncall 39\nr0 = *(u8 *)(r7 +0)\nr0 = 0\nexit",
     _bad("R7 invalid mem access 'scalar'")),
    (SCHED_CLS, 0, TC_PKT_HEAD.format(skip=4) + "r1 = r6\nr2 = 0\ncall 5\nr0 = *(u8 *)(r7 +0)\nr0 = 0\nexit", None),
    (SCHED_CLS, 0, TC_PKT_HEAD.format(skip=6) + "*(u64 *)(r10 -8) = r7\nr1 = r6\nr2 = 0\ncall 39\n"
     "r2 = *(u64 *)(r10 -8)\nr0 = *(u8 *)(r2 +0)\nr0 = 0\nexit", _bad("R2 invalid mem access 'scalar'")),
    (SCHED_CLS, 0, TC_PKT_HEAD.format(skip=5) + "r1 = r6\nr2 = 0\nr3 = r7\nr4 = 4\ncall 26\nr0 = 0\nexit",
     _bad("helper access to the packet is not allowed")),
    (XDP, 0, XDP_PKT_HEAD.format(skip=4) + "r1 = r6\nr2 = 4\ncall 44\nr0 = *(u8 *)(r7 +0)\nr0 = 2\nexit",
     _bad("R7 invalid mem access 'scalar'")),
    (XDP, 0, XDP_PKT_HEAD.format(skip=4) + "r1 = r6\nr2 = 4\ncall 188\nr0 = *(u8 *)(r7 +0)\nr0 = 2\nexit", None),
    (SK_MSG, 0, "r6 = r1\nr7 = *(u64 *)(r1 +0)\nr3 = *(u64 *)(r1 +8)\nr4 = r7\nr4 += 4\nif r4 > r3 goto +6\n"
     "r1 = r6\nr2 = 0\nr3 = 1\nr4 = 0\ncall 63\nr0 = *(u32 *)(r7 +0)\nr0 = 0\nexit",
     _bad("R7 invalid mem access 'scalar'")),
    (SCHED_CLS, 0, TC_PKT_HEAD.format(skip=4) + "r1 = r6\nr2 = 0\ncall 5\nr0 = *(u8 *)(r4 +0)\nr0 = 0\nexit",
     _bad("R4 !read_ok")),  # a caller-saved register is gone after any call
    # sockets: lookups acquire a reference, bpf_sk_release drops it, loads through socket pointers
    (SCHED_CLS, 0, TUPLE + "call 84\nif r0 == 0 goto +2\nr1 = r0\ncall 86\nr0 = 0\nexit", None),
    (SCHED_CLS, 0, TUPLE + "call 84\nr0 = 0\nexit",
     _bad("BPF_EXIT instruction in main prog would lead to reference leak", errno.EINVAL)),
    (SCHED_CLS, 0, TUPLE + "call 84\nr1 = r0\ncall 86\nr0 = 0\nexit",
     _bad("R1 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    (SCHED_CLS, 0, TUPLE + "call 84\nif r0 == 0 goto +4\nr7 = r0\nr1 = r0\ncall 86\nr0 = *(u32 *)(r7 +4)\n"
     "r0 = 0\nexit", _bad("R7 invalid mem access 'scalar'")),
    (SCHED_CLS, 0, TUPLE + "call 84\nif r0 == 0 goto +4\nr7 = r0\nr2 = *(u32 *)(r0 +8)\nr1 = r7\ncall 86\n"
     "r0 = 0\nexit", None),
    (SCHED_CLS, 0, TUPLE + "call 84\nif r0 == 0 goto +4\nr7 = r0\n*(u32 *)(r0 +4) = 1\nr1 = r7\ncall 86\n"
     "r0 = 0\nexit", _bad("R0 cannot write into sock")),
    (SCHED_CLS, 0, TUPLE + "call 99\nif r0 == 0 goto +4\nr7 = r0\nr2 = *(u32 *)(r0 +8)\nr1 = r7\ncall 86\n"
     "r0 = 0\nexit", _bad("R0 invalid sock_common access off=8 size=4")),
    (SCHED_CLS, 0, TUPLE + "call 99\nif r0 == 0 goto +9\nr7 = r0\nr1 = r0\ncall 96\nif r0 == 0 goto +2\n"
     "r2 = *(u64 *)(r0 +80)\nr2 = *(u32 *)(r0 +0)\nr1 = r7\ncall 86\nr0 = 0\nexit", None),
    (SCHED_CLS, 0, "r1 = *(u64 *)(r1 +168)\nif r1 == 0 goto +1\ncall 86\nr0 = 0\nexit",
     _bad("R1 must be referenced when passed to release function", errno.EINVAL)),
    (SK_MSG, 0, "r1 = *(u64 *)(r1 +72)\nr0 = *(u32 *)(r1 +8)\nr0 = *(u16 *)(r1 +48)\nr0 = *(u8 *)(r1 +50)\n"
     "r0 = 0\nexit", _bad("R1 invalid sock access off=50 size=1")),
    (SK_REUSEPORT, 0, "r1 = *(u64 *)(r1 +48)\nif r1 == 0 goto +1\nr0 = *(u32 *)(r1 +72)\nr0 = 0\nexit", None),
    (SK_REUSEPORT, 0, "r1 = *(u64 *)(r1 +48)\nif r1 == 0 goto +1\nr0 = *(u32 *)(r1 +16)\nr0 = 0\nexit",
     _bad("R1 invalid sock_common access off=16 size=4")),
    (XDP, 0, TUPLE + "call 84\nif r0 == 0 goto +2\nr1 = r0\ncall 86\nr0 = 2\nexit", None),
]


def _id(c: tuple) -> str:
    t, eat, src, res = c
    return f"{t}-{eat}-{abs(hash(src)) % 10**6}-{'ok' if res is None else res[0]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_rules(case):
    prog_type, eat, src, res = case
    r = verify(assemble(src), VerifierEnv(prog_type=prog_type, expected_attach_type=eat), log_level=1)
    if res is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == res, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_rules_against_the_host(case):
    from emu.host import hostbpf

    prog_type, eat, src, _res = case
    insns = assemble(src)
    ours = verify(insns, VerifierEnv(prog_type=prog_type, expected_attach_type=eat), log_level=1)
    host = hostbpf.prog_load(prog_type, encode(insns), expected_attach_type=eat, log_level=1)
    try:
        assert (ours.accepted, ours.errno) == (host.accepted, host.errno), host.log
        assert hostbpf.comparable_log(ours.log) == hostbpf.comparable_log(host.log)
    finally:
        host.close()


def test_every_listed_packet_helper_has_its_kernel_prototype():
    """Each symbol of pkt_helpers converts (no silent drop of a listed helper), and the
    packet-changing set is the kernel's bpf_helper_changes_pkt_data list."""
    from kernel_model.helper_ids import HELPER_NAMES
    from verifier import pkt_helpers as P

    assert set(P._SYMBOLS) | set(P._SOCK_SYMBOLS) == set(P.SYMBOL_PROTOS)
    assert {HELPER_NAMES[i] for i in P.CHANGES_PKT_DATA} >= {"skb_pull_data", "xdp_adjust_head", "tail_call",
                                                            "msg_pull_data", "skb_store_bytes"}
    mtu = P.SYMBOL_PROTOS["bpf_skb_check_mtu_proto"]
    assert mtu.arg_size[2] == 4 and mtu.gpl_only


def test_lirc_mode2_is_its_own_type():
    """lirc_mode2 has its own ops (verifier/lirc.py, tests/verifier/test_lirc.py): its context is
    one u32, not an __sk_buff."""
    r = verify(assemble("r0 = *(u32 *)(r1 +0)\nexit"), VerifierEnv(prog_type=20), log_level=1)
    assert r.accepted, r.log
    r = verify(assemble("r0 = *(u32 *)(r1 +4)\nexit"), VerifierEnv(prog_type=20), log_level=1)
    assert r.error_line == "invalid bpf_context access off=4 size=4"


# --- a global function that changes the packet (Linux 6.13+: subprog_info.changes_pkt_data) ----------

#: main keeps a packet pointer in r7 across a call of the global sub(struct __sk_buff *), which
#: calls {helper}; main then reads through r7
GLOBAL_SUB = ("r6 = r1\nr7 = *(u32 *)(r1 +76)\nr3 = *(u32 *)(r1 +80)\nr4 = r7\nr4 += 14\nif r4 > r3 goto +3\n"
              "r1 = r6\ncall pc+3\nr0 = *(u8 *)(r7 +0)\nr0 = 0\nexit\nr2 = 0\ncall {helper}\nr0 = 0\nexit")
GLOBAL_CASES = [(39, errno.EACCES, "R7 invalid mem access 'scalar'"), (5, 0, None)]


def _global_load(helper: int, host: bool) -> tuple[int, str]:
    """(errno, log) of GLOBAL_SUB as a sched_cls program with BTF func_info (main and a global
    sub taking the context: tests/verifier/test_btf_info.py's BTF)."""
    import struct

    from tests.verifier.test_btf_info import BLOB, MAIN, SUB_SKB

    insns = assemble(GLOBAL_SUB.format(helper=helper))
    fi = struct.pack("<IIII", 0, MAIN, 11, SUB_SKB)
    if host:
        from emu.host import hostbpf

        btf_fd, err, blog = hostbpf.btf_load(BLOB)
        assert btf_fd >= 0, (err, blog)
        try:
            r = hostbpf.prog_load(SCHED_CLS, encode(insns), log_level=1, prog_btf_fd=btf_fd, func_info=fi,
                                  func_info_rec_size=8)
        finally:
            hostbpf.close(btf_fd)
        if r.accepted:
            hostbpf.close(r.fd)
            return 0, r.log
        return r.errno, r.log
    from emu.kernel import Kernel, ProgLoadError

    k = Kernel(modules=())
    try:
        btf_fd = k.btf_load(BLOB)
        try:
            fd = k.prog_load(insns, prog_type=SCHED_CLS, log_level=1, prog_btf_fd=btf_fd, func_info=fi,
                             func_info_rec_size=8)
        except ProgLoadError as e:
            return e.errno, e.log
        log = k.prog_info(fd).verifier_log
        k.close(fd)
        return 0, log
    finally:
        k.shutdown()


@pytest.mark.parametrize("helper,err,line", GLOBAL_CASES)
def test_global_function_that_changes_the_packet(helper, err, line):
    got_err, log = _global_load(helper, host=False)
    assert got_err == err, log
    if line:
        assert line in log.splitlines(), log


@pytest.mark.kernel
@pytest.mark.parametrize("helper,err,line", GLOBAL_CASES)
def test_global_function_that_changes_the_packet_against_the_host(helper, err, line):
    from emu.host import hostbpf

    ours = _global_load(helper, host=False)
    host = _global_load(helper, host=True)
    assert ours[0] == host[0], host[1]
    assert hostbpf.comparable_log(ours[1]) == hostbpf.comparable_log(host[1])


# --- netfilter: struct bpf_nf_ctx's state and skb (nf_is_valid_access), with the emulated vmlinux BTF ---
NF_STATE = "r2 = *(u64 *)(r1 +0)\n"
#: (program, None if accepted else (errno, last line)), as the Linux 6.18 host answered
NF_CASES = [
    (NF_STATE + "r0 = *(u8 *)(r2 +0)\nr0 = 1\nexit", None),  # state->hook
    (NF_STATE + "r3 = *(u8 *)(r2 +1)\nr0 = 1\nif r3 == 2 goto +1\nr0 = 0\nexit", None),  # state->pf
    (NF_STATE + "r0 = *(u64 *)(r2 +24)\nr0 = *(u32 *)(r0 +0)\nr0 = 1\nexit", None),  # state->sk->...
    (NF_STATE + "r0 = *(u32 *)(r2 +0)\nr0 = 1\nexit",
     _bad("access beyond the end of member hook (mend:1) in struct nf_hook_state with off 0 size 4")),
    (NF_STATE + "r0 = *(u64 *)(r2 +48)\nr0 = 1\nexit", _bad("access beyond struct nf_hook_state at off 48 size 8")),
    (NF_STATE + "*(u8 *)(r2 +0) = 1\nr0 = 1\nexit", _bad("only read is supported")),
    (NF_STATE + "r0 = *(u8 *)(r2 +1)\nexit",
     _bad("At program exit the register R0 has smin=0 smax=255 should have been in [0, 1]", errno.EINVAL)),
    ("r2 = *(u64 *)(r1 +8)\nr0 = 1\nexit", None),  # ctx->skb, not dereferenced
    ("r2 = *(u64 *)(r1 +8)\nr0 = *(u32 *)(r2 +112)\nr0 = 1\nexit", None),  # ctx->skb->len (6.18 sk_buff)
    ("r2 = *(u64 *)(r1 +8)\nr0 = *(u32 *)(r2 +224)\nr0 = 1\nexit", _bad("access beyond struct sk_buff at off 224 size 4")),
    ("r0 = *(u64 *)(r1 +8)\nexit",
     _bad("At program exit the register R0 is not a known value (trusted_ptr_)", errno.EINVAL)),
    ("r0 = *(u64 *)(r1 +0)\nexit",
     _bad("At program exit the register R0 is not a known value (trusted_ptr_)", errno.EINVAL)),
    ("r0 = *(u32 *)(r1 +0)\nr0 = 1\nexit", _bad("invalid bpf_context access off=0 size=4")),
    ("r0 = *(u64 *)(r1 +4)\nr0 = 1\nexit", _bad("invalid bpf_context access off=4 size=8")),
    ("r0 = *(u64 *)(r1 +16)\nr0 = 1\nexit", _bad("invalid bpf_context access off=16 size=8")),
    ("r0 = 0\n*(u64 *)(r1 +0) = r0\nr0 = 1\nexit", _bad("invalid bpf_context access off=0 size=8")),
]


def _nf_env() -> VerifierEnv:
    from kernel_model.vmlinux import build_vmlinux_btf

    return VerifierEnv(prog_type=NETFILTER, expected_attach_type=BPF_NETFILTER, vmlinux_btf=build_vmlinux_btf())


@pytest.mark.parametrize("src,res", NF_CASES)
def test_netfilter_ctx(src, res):
    r = verify(assemble(src), _nf_env(), log_level=1)
    if res is None:
        assert r.accepted, r.log
    else:
        assert (r.accepted, r.errno, r.error_line) == (False, *res), r.log


def test_netfilter_skb_walk_is_not_modelled_past_the_emulated_types():
    """``ctx->skb`` is a trusted pointer to the 6.18 struct sk_buff (kernel_model.net_types):
    reads of it are walked (NF_CASES, host-checked); a walk on into a struct the emulated
    vmlinux only declares (``skb->extensions``: struct skb_ext) is refused as not modelled
    (exit 3), never as the kernel's rejection of a read the host accepts."""
    r = verify(assemble("r2 = *(u64 *)(r1 +8)\nr2 = *(u64 *)(r2 +216)\nr0 = *(u32 *)(r2 +0)\nr0 = 1\nexit"),
               _nf_env(), log_level=1)
    assert not r.accepted
    assert r.error_line.endswith("is not modelled by structops"), r.log


@pytest.mark.kernel
@pytest.mark.parametrize("src,res", NF_CASES)
def test_netfilter_ctx_against_the_host(src, res):
    from emu.host import hostbpf

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    insns = assemble(src)
    ours = verify(insns, _nf_env(), log_level=1)
    host = hostbpf.prog_load(NETFILTER, encode(insns), expected_attach_type=BPF_NETFILTER, log_level=1)
    try:
        assert (ours.accepted, ours.errno) == (host.accepted, host.errno), host.log
        assert hostbpf.comparable_log(ours.log) == hostbpf.comparable_log(host.log)
    finally:
        host.close()


def test_netfilter_structs_have_the_kernels_sizes():
    from kernel_model.btf.structs import KIND_STRUCT
    from kernel_model.vmlinux import build_vmlinux_btf
    from kernel_model.vmlinux_nf_ctx import SIZES

    btf = build_vmlinux_btf()
    assert {n: btf.size_of(btf.find(n, KIND_STRUCT)) for n in SIZES} == SIZES
