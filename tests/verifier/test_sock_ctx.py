"""The socket and cgroup program types (verifier.sock_ctx, verifier.sock_helpers): context
access rules, attach types, return ranges, helpers.

The non-kernel tests check the model against answers read off the 6.18 host (the tables);
the ``kernel`` tests sweep every context offset, access size and direction of each type and
attach type against the running host, and load the small programs of the tables there too.
"""

from __future__ import annotations

import errno as E
from typing import Any

import pytest

from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.insn import Insn
from verifier import VerifierEnv, verify
from verifier import sock_ctx as S
from verifier.sock_helpers import SHARED_SYMBOLS, SOCK_SYMBOLS, SYMBOL_PROTOS

CTX = "invalid bpf_context access off={} size={}"
SA, SOCK, OPS, OPT, SYSCTL, DEV, LOOKUP = (S.PROG_TYPE_CGROUP_SOCK_ADDR, S.PROG_TYPE_CGROUP_SOCK, S.PROG_TYPE_SOCK_OPS,
                                           S.PROG_TYPE_CGROUP_SOCKOPT, S.PROG_TYPE_CGROUP_SYSCTL,
                                           S.PROG_TYPE_CGROUP_DEVICE, S.PROG_TYPE_SK_LOOKUP)
INET4_CONNECT, INET6_CONNECT, UDP4_SENDMSG, UDP6_SENDMSG, UDP4_RECVMSG = 10, 11, 14, 15, 19
INET4_BIND, INET4_GETPEERNAME, UNIX_CONNECT = 8, 29, 49
SOCK_CREATE, INET4_POST_BIND, INET6_POST_BIND, SOCK_RELEASE = 2, 12, 13, 34
GETSOCKOPT, SETSOCKOPT, SK_LOOKUP = 21, 22, 36

#: looks up a TCP socket by an all-zero IPv4 tuple on the stack (a cgroup_sock_addr program)
TUPLE_LOOKUP = ("r6 = r1\nr2 = 0\n*(u64 *)(r10 -16) = r2\n*(u32 *)(r10 -8) = r2\nr2 = r10\nr2 += -16\nr3 = 12\nr4 = -1\nr5 = 0\nr1 = r6\ncall bpf_sk_lookup_tcp\n")

#: (prog type, expected_attach_type, program, host answer: None = accepted, else (errno, last line)),
#: read off the 6.18 host
CASES: list[tuple[int, int, str, tuple[int, str] | None]] = [
    # cgroup_sock_addr: family-specific fields, narrow and wide access, sk
    (SA, INET4_CONNECT, "r0 = *(u32 *)(r1 +4)\nr0 = 1\nexit", None),
    (SA, INET6_CONNECT, "r0 = *(u32 *)(r1 +4)\nr0 = 1\nexit", (E.EACCES, CTX.format(4, 4))),
    (SA, INET6_CONNECT, "r0 = *(u64 *)(r1 +8)\nr0 = 1\nexit", None),
    (SA, INET6_CONNECT, "r0 = *(u64 *)(r1 +12)\nr0 = 1\nexit", (E.EACCES, CTX.format(12, 8))),
    (SA, UDP6_SENDMSG, "r0 = *(u64 *)(r1 +56)\nr0 = 1\nexit", (E.EACCES, CTX.format(56, 8))),
    (SA, UDP4_SENDMSG, "r2 = 7\n*(u32 *)(r1 +40) = r2\nr0 = 1\nexit", None),
    (SA, INET4_CONNECT, "r2 = 7\n*(u32 *)(r1 +40) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(40, 4))),
    (SA, INET4_CONNECT, "r2 = 7\n*(u16 *)(r1 +24) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(24, 2))),
    (SA, INET4_CONNECT, "r0 = *(u8 *)(r1 +26)\nr0 = 1\nexit", None),
    (SA, INET4_CONNECT, "r2 = 7\n*(u32 *)(r1 +0) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(0, 4))),
    (SA, INET4_CONNECT, "r2 = *(u64 *)(r1 +64)\nr0 = *(u32 *)(r2 +4)\nr0 = 1\nexit", None),
    (SA, INET4_CONNECT, "r2 = *(u64 *)(r1 +64)\nr0 = *(u32 *)(r2 +80)\nr0 = 1\nexit",
     (E.EACCES, "R2 invalid sock access off=80 size=4")),
    (SA, INET4_CONNECT, "r2 = *(u64 *)(r1 +64)\nr3 = 0\n*(u32 *)(r2 +16) = r3\nr0 = 1\nexit",
     (E.EACCES, "R2 cannot write into sock")),
    (SA, UNIX_CONNECT, "r0 = *(u32 *)(r1 +24)\nr0 = 1\nexit", None),
    # cgroup_sock_addr return ranges (check_return_code)
    (SA, INET4_CONNECT, "r0 = 2\nexit",
     (E.EINVAL, "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]")),
    (SA, INET4_BIND, "r0 = 3\nexit", None),
    (SA, UDP4_RECVMSG, "r0 = 0\nexit",
     (E.EINVAL, "At program exit the register R0 has smin=0 smax=0 should have been in [1, 1]")),
    (SA, INET4_GETPEERNAME, "r0 = 1\nexit", None),
    # bpf_prog_load_check_attach: an attach type outside the type's list (no log)
    (SA, SOCK_CREATE, "r0 = 1\nexit", (E.EINVAL, "")),
    # cgroup_sock: attach-type specific fields; no attach type is sock_create
    (SOCK, SOCK_CREATE, "r2 = 1\n*(u32 *)(r1 +16) = r2\nr0 = 1\nexit", None),
    (SOCK, 0, "r2 = 1\n*(u32 *)(r1 +16) = r2\nr0 = 1\nexit", None),
    (SOCK, INET4_POST_BIND, "r2 = 1\n*(u32 *)(r1 +16) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(16, 4))),
    (SOCK, INET4_POST_BIND, "r0 = *(u16 *)(r1 +24)\nr0 = 1\nexit", None),
    (SOCK, INET6_POST_BIND, "r0 = *(u16 *)(r1 +24)\nr0 = 1\nexit", (E.EACCES, CTX.format(24, 2))),
    (SOCK, SOCK_RELEASE, "r0 = *(u16 *)(r1 +48)\nr0 = *(u32 *)(r1 +48)\nr0 = 1\nexit", None),
    (SOCK, SOCK_CREATE, "r0 = *(u16 *)(r1 +50)\nr0 = 1\nexit", (E.EACCES, CTX.format(50, 2))),
    (SOCK, SOCK_CREATE, "r0 = 2\nexit",
     (E.EINVAL, "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]")),
    # sock_ops: writes to reply and sk_txhash; the sk pointer may be NULL; packet pointers
    (OPS, 0, "r2 = 1\n*(u32 *)(r1 +4) = r2\nr0 = 1\nexit", None),
    (OPS, 0, "r2 = 1\n*(u32 *)(r1 +8) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(8, 4))),
    (OPS, 0, "r0 = *(u64 *)(r1 +168)\nr0 = 1\nexit", None),
    (OPS, 0, "r0 = *(u32 *)(r1 +168)\nr0 = 1\nexit", (E.EACCES, CTX.format(168, 4))),
    (OPS, 0, "r2 = *(u64 *)(r1 +184)\nr0 = *(u32 *)(r2 +4)\nr0 = 1\nexit",
     (E.EACCES, "R2 invalid mem access 'sock_or_null'")),
    (OPS, 0, "r2 = *(u64 *)(r1 +184)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 +4)\nr0 = 1\nexit", None),
    (OPS, 0, "r2 = *(u64 *)(r1 +192)\nr3 = *(u64 *)(r1 +200)\nr4 = r2\nr4 += 20\nif r4 > r3 goto +1\n"
             "r0 = *(u8 *)(r2 +13)\nr0 = 1\nexit", None),
    (OPS, 0, "r2 = *(u64 *)(r1 +192)\nr0 = *(u8 *)(r2 +13)\nr0 = 1\nexit",
     (E.EACCES, "R2 offset is outside of the packet")),
    (OPS, 0, "r0 = *(u8 *)(r1 +212)\nr0 = 1\nexit", None),
    (OPS, 0, "r0 = *(u8 *)(r1 +213)\nr0 = 1\nexit", (E.EACCES, CTX.format(213, 1))),
    # cgroup_sockopt: per-hook fields, the optval buffer
    (OPT, GETSOCKOPT, "r2 = 0\n*(u32 *)(r1 +36) = r2\nr0 = 1\nexit", None),
    (OPT, SETSOCKOPT, "r2 = 0\n*(u32 *)(r1 +36) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(36, 4))),
    (OPT, SETSOCKOPT, "r0 = *(u32 *)(r1 +36)\nr0 = 1\nexit", (E.EACCES, CTX.format(36, 4))),
    (OPT, SETSOCKOPT, "r2 = 0\n*(u32 *)(r1 +28) = r2\nr0 = 1\nexit", None),
    (OPT, GETSOCKOPT, "r2 = 0\n*(u32 *)(r1 +28) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(28, 4))),
    (OPT, SETSOCKOPT, "r2 = *(u64 *)(r1 +8)\nr3 = *(u64 *)(r1 +16)\nr4 = r2\nr4 += 1\nif r4 > r3 goto +2\n"
                      "r5 = 1\n*(u8 *)(r2 +0) = r5\nr0 = 1\nexit", None),
    (OPT, GETSOCKOPT, "r2 = *(u64 *)(r1 +0)\nr0 = *(u32 *)(r2 +4)\nr0 = 1\nexit", None),
    (OPT, GETSOCKOPT, "r0 = 1\nexit", None),
    (OPT, 0, "r0 = 1\nexit", (E.EINVAL, "")),
    # cgroup_sysctl, cgroup_device
    (SYSCTL, 0, "r0 = *(u8 *)(r1 +0)\nr0 = 1\nexit", None),
    (SYSCTL, 0, "r2 = 0\n*(u32 *)(r1 +0) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(0, 4))),
    (SYSCTL, 0, "r2 = 0\n*(u32 *)(r1 +4) = r2\nr0 = 1\nexit", None),
    (SYSCTL, 0, "r2 = 0\n*(u16 *)(r1 +4) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(4, 2))),
    (DEV, 0, "r0 = *(u16 *)(r1 +2)\nr0 = *(u32 *)(r1 +8)\nr0 = 1\nexit", None),
    (DEV, 0, "r0 = *(u16 *)(r1 +4)\nr0 = 1\nexit", (E.EACCES, CTX.format(4, 2))),
    (DEV, 0, "r0 = *(u32 *)(r1 +12)\nr0 = 1\nexit", (E.EACCES, CTX.format(12, 4))),
    # sk_lookup: read-only, remote_port as u16 or u32, the padding after it
    (LOOKUP, SK_LOOKUP, "r0 = *(u32 *)(r1 +36)\nr0 = *(u16 *)(r1 +38)\nr0 = 1\nexit", None),
    (LOOKUP, SK_LOOKUP, "r2 = 0\n*(u32 *)(r1 +8) = r2\nr0 = 1\nexit", (E.EACCES, CTX.format(8, 4))),
    (LOOKUP, SK_LOOKUP, "r2 = *(u64 *)(r1 +0)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 +72)\nr0 = 1\nexit", None),
    (LOOKUP, SK_LOOKUP, "r0 = 2\nexit",
     (E.EINVAL, "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]")),
    (LOOKUP, 0, "r0 = 1\nexit", (E.EINVAL, "")),
    # helpers: the per-type prototypes
    (SA, INET4_CONNECT, "r2 = r10\nr2 += -16\nr3 = 0\n*(u64 *)(r10 -16) = r3\n*(u64 *)(r10 -8) = r3\n"
                        "r3 = 16\ncall bpf_bind\nr0 = 1\nexit", None),
    (SA, INET4_CONNECT, "r2 = r10\nr2 += -16\nr3 = 16\ncall bpf_bind\nr0 = 1\nexit", None),  # root: uninit ok
    (SA, INET4_CONNECT, "r2 = r10\nr2 += -16\nr3 = 17\ncall bpf_bind\nr0 = 1\nexit",
     (E.EINVAL, "invalid read from stack R2 off=-16 size=17")),
    (SA, INET4_CONNECT, "r2 = 0\ncall bpf_set_retval\nr0 = 1\nexit", None),
    (OPS, 0, "r2 = 1\ncall bpf_sock_ops_cb_flags_set\nr0 = 1\nexit", None),
    (OPS, 0, "r1 = 0\ncall bpf_get_netns_cookie\nr0 = 1\nexit", None),
    (OPS, 0, "r1 = 0\ncall bpf_get_socket_cookie\nr0 = 1\nexit",
     (E.EACCES, "R1 type=scalar expected=ctx")),
    (OPS, 0, "call bpf_get_retval\nr0 = 1\nexit",
     (E.EINVAL, "program of this type cannot use helper bpf_get_retval#186")),
    (SYSCTL, 0, "r2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall bpf_sysctl_get_name\nr0 = 1\nexit", None),
    (SYSCTL, 0, "r2 = r10\nr2 += -8\nr3 = 8\ncall bpf_sysctl_set_new_value\nr0 = 1\nexit", None),
    (SYSCTL, 0, "r2 = *(u32 *)(r1 +0)\nr3 = 8\ncall bpf_sysctl_set_new_value\nr0 = 1\nexit",
     (E.EACCES, "R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_")),
    (SYSCTL, 0, "call bpf_bind\nr0 = 1\nexit", (E.EINVAL, "program of this type cannot use helper bpf_bind#64")),
    # socket references: bpf_sk_lookup_tcp acquires, bpf_sk_release releases
    (SA, INET4_CONNECT, TUPLE_LOOKUP + "if r0 == 0 goto +2\nr1 = r0\ncall bpf_sk_release\nr0 = 1\nexit", None),
    (SA, INET4_CONNECT, TUPLE_LOOKUP + "r0 = 1\nexit", (E.EINVAL, "BPF_EXIT instruction in main prog would lead to reference leak")),
    (SA, INET4_CONNECT, TUPLE_LOOKUP + "r1 = r0\ncall bpf_sk_release\nr0 = 1\nexit",
     (E.EACCES, "R1 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    (SA, INET4_CONNECT, TUPLE_LOOKUP + "if r0 == 0 goto +4\nr7 = r0\nr1 = r0\ncall bpf_sk_release\nr1 = r7\n"
                                 "call bpf_sk_release\nr0 = 1\nexit",
     (E.EACCES, "R1 type=scalar expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    (SA, INET4_CONNECT, TUPLE_LOOKUP + "if r0 == 0 goto +3\nr2 = *(u32 *)(r0 +4)\nr1 = r0\ncall bpf_sk_release\nr0 = 1\n"
                                 "exit", None),
    (SA, INET4_CONNECT, TUPLE_LOOKUP + "if r0 == 0 goto +3\nr0 += 4\nr1 = r0\ncall bpf_sk_release\nr0 = 1\nexit",
     (E.EACCES, "R0 pointer arithmetic on sock prohibited")),
    (SA, INET4_CONNECT, "r1 = *(u64 *)(r1 +64)\ncall bpf_sk_release\nr0 = 1\nexit",
     (E.EINVAL, "R1 must be referenced when passed to release function")),
    # the socket casts: bpf_tcp_sock, bpf_skc_to_tcp_sock
    (OPT, GETSOCKOPT, "r1 = *(u64 *)(r1 +0)\ncall bpf_tcp_sock\nif r0 == 0 goto +1\nr0 = *(u32 *)(r0 +76)\n"
                      "r0 = 1\nexit", None),
    (OPT, GETSOCKOPT, "r1 = *(u64 *)(r1 +0)\ncall bpf_tcp_sock\nif r0 == 0 goto +1\nr0 = *(u32 *)(r0 +80)\n"
                      "r0 = 1\nexit", (E.EACCES, "R0 invalid tcp_sock access off=80 size=4")),
    (OPT, GETSOCKOPT, "r1 = *(u64 *)(r1 +8)\ncall bpf_tcp_sock\nr0 = 1\nexit",
     (E.EACCES, "R1 type=pkt expected=sock_common, sock, tcp_sock, xdp_sock")),
    (OPS, 0, "r1 = *(u64 *)(r1 +184)\ncall bpf_skc_to_tcp_sock\nr0 = 1\nexit",
     (E.EACCES, "R1 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    (OPS, 0, "r1 = *(u64 *)(r1 +184)\nif r1 == 0 goto +3\ncall bpf_skc_to_tcp_sock\nif r0 == 0 goto +1\n"
             "r0 = *(u32 *)(r0 +0)\nr0 = 1\nexit", None),
    # bpf_strtoul: a fixed-size, aligned result
    (SYSCTL, 0, "r1 = 0x3231\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\n"
                "call bpf_strtoul\nr0 = 1\nexit", None),
    (SYSCTL, 0, "r1 = 0x3231\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -20\n"
                "call bpf_strtoul\nr0 = 1\nexit", (E.EACCES, "misaligned stack access off 0+-20+0 size 8")),
]


def _ids(table: list[Any]) -> list[str]:
    return [f"{c[0]}:{c[1]}:" + c[2].replace("\n", "; ") for c in table]


def _env(ptype: int, eat: int) -> VerifierEnv:
    """A root load with the emulated vmlinux BTF (the socket casts return its struct tcp_sock)."""
    from kernel_model.vmlinux import build_vmlinux_btf

    return VerifierEnv(prog_type=ptype, expected_attach_type=eat, vmlinux_btf=build_vmlinux_btf())


@pytest.mark.parametrize("ptype,eat,asm,want", CASES, ids=_ids(CASES))
def test_sock_types(ptype: int, eat: int, asm: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(asm), _env(ptype, eat))
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line or "") == want, r.log


@pytest.mark.kernel
@pytest.mark.parametrize("ptype,eat,asm,want", CASES, ids=_ids(CASES))
def test_sock_types_on_the_host(ptype: int, eat: int, asm: str, want: object) -> None:
    from emu.host.hostbpf import comparable_log
    from emu.host.verdict import host_load

    m = verify(assemble(asm), _env(ptype, eat), log_level=2)
    h = host_load(assemble(asm), VerifierEnv(prog_type=ptype, expected_attach_type=eat), log_level=2)
    assert (m.accepted, m.errno if not m.accepted else 0) == (h.accepted, h.errno if not h.accepted else 0)

    def lines(log: str) -> list[str]:
        return [ln for ln in comparable_log(log).splitlines() if not ln.startswith(("processed ", "verification time"))]
    assert lines(m.log) == lines(h.log)


# --- every context offset, size and direction, against the host -------------------------------------

#: (prog type, the attach types to sweep, context size)
SWEEP = [
    # inet4 bind, inet6 connect, the two UDP sendmsg hooks (msg_src_ip*), unix connect
    (SA, (8, 11, 14, 15, 49), S.BPF_SOCK_ADDR_SIZE),
    (SOCK, (2, 12, 13), S.BPF_SOCK_SIZE),
    (OPS, (0,), S.BPF_SOCK_OPS_SIZE),
    (OPT, (GETSOCKOPT, SETSOCKOPT), S.BPF_SOCKOPT_SIZE),
    (SYSCTL, (0,), S.BPF_SYSCTL_SIZE),
    (DEV, (0,), S.BPF_CGROUP_DEV_CTX_SIZE),
    (LOOKUP, (SK_LOOKUP,), S.BPF_SK_LOOKUP_SIZE),
]
_SIZES = {1: isa.B, 2: isa.H, 4: isa.W, 8: isa.DW}


def _access(off: int, size: int, write: bool) -> list[Insn]:
    """``r2 = *(size *)(r1 + off)`` or ``*(size *)(r1 + off) = r2``, then ``return 1``."""
    code = _SIZES[size]
    first = [Insn(isa.ALU64 | isa.MOV | isa.K, 2, 0, 0, 0),
             Insn(isa.STX | isa.MEM | code, 1, 2, off, 0)] if write else [Insn(isa.LDX | isa.MEM | code, 2, 1, off, 0)]
    return [*first, Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 1), Insn(isa.JMP | isa.EXIT, 0, 0, 0, 0)]


@pytest.mark.kernel
@pytest.mark.parametrize("ptype,eats,ctx_size", SWEEP, ids=[str(s[0]) for s in SWEEP])
def test_context_rules_are_the_hosts(ptype: int, eats: tuple[int, ...], ctx_size: int) -> None:
    """Every (offset, size, read/write) of the context -- and a little past its end -- gets
    the host's verdict, errno and last line (``is_valid_access``, then check_ctx_access)."""
    from emu.host.verdict import host_load

    diffs = []
    for eat in eats:
        env = VerifierEnv(prog_type=ptype, expected_attach_type=eat)
        for off in range(-4, ctx_size + 8):
            for size in (1, 2, 4, 8):
                for write in (False, True):
                    prog = _access(off, size, write)
                    m = verify(prog, VerifierEnv(prog_type=ptype, expected_attach_type=eat))
                    h = host_load(prog, env)
                    got = (m.accepted, m.errno, m.error_line or "")
                    want = (h.accepted, h.errno, h.error_line or "")
                    if got != want:
                        diffs.append(f"eat {eat} off {off} size {size} {'write' if write else 'read'}: "
                                     f"model {got}, host {want}")
    assert not diffs, "\n".join(diffs[:40])


# --- helper prototypes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("symbol", SOCK_SYMBOLS)
def test_symbol_protos_are_the_kernels(symbol: str) -> None:
    """Each prototype is the kernel initialiser's (arguments by name, return, gpl_only)."""
    from kernel_model.bpf_facts import helper_protos as facts
    from verifier import helpers as H
    from verifier import regs as R
    from verifier.sock_helpers import CHANGES_6_18

    k = facts.proto(symbol)
    m = SYMBOL_PROTOS[symbol]
    from kernel_model.bpf_facts.enums import TYPE_FLAGS
    from verifier.sock_refs import MEM_ALIGNED

    assert MEM_ALIGNED == TYPE_FLAGS["MEM_ALIGNED"]
    for i, a in enumerate(k.args):
        base, flags = CHANGES_6_18.get(symbol, {}).get(i, (a.base, a.flags))
        v = getattr(H, base)
        for f in flags:
            v |= getattr(R, f, None) or TYPE_FLAGS[f]
        assert m.args[i] == v, (i, str(a))
        if "MEM_FIXED_SIZE" in flags:
            assert m.arg_size[i] == 8 and a.size in ("sizeof(s64)", "sizeof(u64)")
    ret = getattr(H, k.ret.base)
    for f in k.ret.flags:
        ret |= getattr(R, f)
    assert (m.gpl_only, m.ret_type) == (k.gpl_only, ret)


@pytest.mark.parametrize("symbol", sorted(SHARED_SYMBOLS))
def test_shared_symbols_are_the_kernels_prototypes(symbol: str) -> None:
    """The base helpers the socket types get by symbol have the modelled prototype's arguments."""
    from kernel_model.bpf_facts import helper_protos as facts
    from verifier import helpers as H
    from verifier import regs as R

    k = facts.proto(symbol)
    m = H.PROTOS[SHARED_SYMBOLS[symbol]]
    want = []
    for a in k.args:
        v = getattr(H, a.base)
        for f in a.flags:
            v |= getattr(R, f)
        want.append(v)
    assert tuple(want) == m.args
    assert (k.gpl_only, k.might_sleep) == (m.gpl_only, m.might_sleep)


def test_every_sock_type_is_registered_with_its_rules() -> None:
    """The seven types are in the verifier's table with their own context rules, and the
    emulated kernel takes them (verify-only)."""
    from emu.kernel import SUPPORTED_PROG_TYPES
    from verifier.prog_types import PROG_TYPES

    for t in S.SOCK_PROG_TYPES:
        assert t in SUPPORTED_PROG_TYPES
        assert PROG_TYPES[t].is_valid_access.__module__ == "verifier.sock_ctx"


def test_cgroup_sock_load_without_attach_type_gets_sock_create() -> None:
    """bpf_prog_load_fixup_attach_type: the sock_create-only fields are writable."""
    env = VerifierEnv(prog_type=SOCK)
    r = verify(assemble("r2 = 1\n*(u32 *)(r1 +0) = r2\nr0 = 1\nexit"), env)
    assert r.accepted, r.log
    assert env.expected_attach_type == SOCK_CREATE


def test_sock_types_are_not_test_run() -> None:
    """Verify-only: the emulated kernel refuses BPF_PROG_TEST_RUN of these types (ENOTSUPP),
    never runs their unconverted context accesses."""
    from emu.kernel import Kernel
    from kernel_model.errors import KernelError

    k = Kernel(modules=())
    try:
        fd = k.prog_load(assemble("r0 = 1\nexit"), prog_type=SA, expected_attach_type=INET4_CONNECT,
                             license="GPL")
        with pytest.raises(KernelError) as ei:
            k.prog_test_run(fd, ctx_in=b"\0" * S.BPF_SOCK_ADDR_SIZE)
        assert ei.value.errno == 524  # ENOTSUPP
    finally:
        k.shutdown()


# --- the uapi context structs in the emulated vmlinux -------------------------------------------------

def _layout(btf: Any, name: str) -> tuple[int, list[tuple[str, int, int]]]:
    from kernel_model.btf import structs as BS

    tid = btf.find(name, BS.KIND_STRUCT)
    t = btf.type_by_id(tid)
    return btf.size_of(tid), [(m.name, m.bits_offset, m.bitfield_size) for m in t.members]


def test_ctx_structs_are_in_the_emulated_vmlinux() -> None:
    """Each struct has its uapi size, and the verifier's context sizes are those."""
    from kernel_model.vmlinux import build_vmlinux_btf
    from kernel_model.vmlinux_ctx import SIZES

    btf = build_vmlinux_btf()
    for name, size in SIZES.items():
        assert _layout(btf, name)[0] == size, name
    assert (S.BPF_SOCK_SIZE, S.BPF_SOCK_ADDR_SIZE, S.BPF_SOCK_OPS_SIZE, S.BPF_SOCKOPT_SIZE, S.BPF_SYSCTL_SIZE,
            S.BPF_CGROUP_DEV_CTX_SIZE, S.BPF_SK_LOOKUP_SIZE, S.BPF_TCP_SOCK_SIZE) == tuple(
        SIZES[n] for n in ("bpf_sock", "bpf_sock_addr", "bpf_sock_ops", "bpf_sockopt", "bpf_sysctl",
                           "bpf_cgroup_dev_ctx", "bpf_sk_lookup", "bpf_tcp_sock"))


@pytest.mark.kernel
def test_ctx_structs_are_the_hosts() -> None:
    """Member names, offsets and bitfields equal the running kernel's BTF."""
    from pathlib import Path

    from kernel_model.btf import BTF
    from kernel_model.vmlinux import build_vmlinux_btf
    from kernel_model.vmlinux_ctx import SIZES

    path = Path("/sys/kernel/btf/vmlinux")
    if not path.exists():
        pytest.skip("the host kernel has no BTF")
    host = BTF.from_bytes(path.read_bytes(), where="host vmlinux")
    ours = build_vmlinux_btf()
    for name in SIZES:
        assert _layout(ours, name) == _layout(host, name), name
