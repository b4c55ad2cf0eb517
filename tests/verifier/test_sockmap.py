"""Socket maps in the verifier (verifier/sockmap.py, verifier/map_rules.py, verifier/sock_refs.py):
which program types may update them, what a lookup gives and the reference it takes, the
helpers that take them, a socket as the value argument.

Each case is a small program with its answer read off the 6.18 host; the non-kernel test
checks the model against that answer, the ``kernel`` test loads the same program on the
running host (maps created there: a sockmap may be created and a program verified, nothing
is attached and no socket is put in a map).
"""

from __future__ import annotations

import errno as E

import pytest

from kernel_model.asm import assemble
from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.bpf_map import MapSpec
from verifier import VerifierEnv, verify
from verifier.map_rules import check_map_func_compatibility
from verifier.sockmap import SYMBOL_PROTOS

T = {k.removeprefix("BPF_MAP_TYPE_"): v for k, v in MAP_TYPES.items()}
#: enum bpf_prog_type
FILTER, KPROBE, CLS, XDP, SOCK_OPS, SK_SKB, SK_MSG, REUSEPORT, SK_LOOKUP, TRACING = 1, 2, 3, 6, 13, 14, 16, 21, 30, 26
#: enum bpf_attach_type
SK_SKB_STREAM_VERDICT, SK_MSG_VERDICT, SK_LOOKUP_EAT, SK_REUSEPORT_SELECT = 5, 7, 36, 39
#: the maps of every case: fd 1 a sockmap, 2 a sockhash, 3 a reuseport array, 4 a hash
MAPS = {1: MapSpec(T["SOCKMAP"], 4, 4, 2, name="sockmap"), 2: MapSpec(T["SOCKHASH"], 4, 4, 2, name="sockhash"),
        3: MapSpec(T["REUSEPORT_SOCKARRAY"], 4, 4, 2, name="reuseport"),
        4: MapSpec(T["HASH"], 4, 4, 2, name="hash")}

#: a zero key at fp-8, R2 pointing at it, R1 the map of fd N (format with the fd)
KEY = "r6 = r1\nr2 = 0\n*(u64 *)(r10 -8) = r2\nr2 = r10\nr2 += -8\nr1 = map[fd:{}] ll\n"
#: a lookup in map N, NULL check, bpf_sk_release
LOOKUP_RELEASE = KEY + "call bpf_map_lookup_elem\nif r0 == 0 goto +2\nr1 = r0\ncall bpf_sk_release\nr0 = 0\nexit"
#: R1 = ctx, R2 = map N, R3 = 0, R4 = 0 and a call (helper name to format)
CTX_MAP_CALL = "r2 = map[fd:{}] ll\nr3 = 0\nr4 = 0\ncall {}\nr0 = 0\nexit"
#: R1 = ctx, R2 = map N, R3 = zero key on the stack, R4 = 0, a call
CTX_MAP_KEY_CALL = ("r2 = 0\n*(u64 *)(r10 -8) = r2\nr3 = r10\nr3 += -8\nr2 = map[fd:{}] ll\nr4 = 0\ncall {}\n"
                    "r0 = 0\nexit")
UPDATE_FROM_LOOKUP = (KEY + "call bpf_map_lookup_elem\nif r0 == 0 goto +10\nr7 = r0\n"
                      "r1 = map[fd:{}] ll\nr2 = r10\nr2 += -8\nr3 = r7\nr4 = 0\ncall bpf_map_update_elem\n"
                      "r1 = r7\ncall bpf_sk_release\nr0 = 0\nexit")
CANNOT = "cannot pass map_type {} into func {}"

#: (name, prog type, expected_attach_type, program, host answer: None = accepted, else (errno, last line))
CASES: list[tuple[str, int, int, str, tuple[int, str] | None]] = [
    # a lookup takes a reference (is_acquire_function) and gives a socket after the NULL check
    ("tc_lookup_release", CLS, 0, LOOKUP_RELEASE.format(1), None),
    ("tc_sockhash_lookup_release", CLS, 0, LOOKUP_RELEASE.format(2), None),
    ("xdp_lookup_release", XDP, 0, LOOKUP_RELEASE.format(1), None),
    ("tc_lookup_leak", CLS, 0, KEY.format(1) + "call bpf_map_lookup_elem\nr0 = 0\nexit",
     (E.EINVAL, "BPF_EXIT instruction in main prog would lead to reference leak")),
    ("tc_lookup_release_unchecked", CLS, 0, KEY.format(1) + "call bpf_map_lookup_elem\nr1 = r0\n"
     "call bpf_sk_release\nr0 = 0\nexit",
     (E.EACCES, "R1 type=map_value_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    ("tc_lookup_read_family", CLS, 0, KEY.format(1) + "call bpf_map_lookup_elem\nif r0 == 0 goto +3\n"
     "r1 = r0\nr2 = *(u32 *)(r0 +4)\ncall bpf_sk_release\nr0 = 0\nexit", None),
    ("tc_lookup_write", CLS, 0, KEY.format(1) + "call bpf_map_lookup_elem\nif r0 == 0 goto +4\n"
     "r2 = 0\n*(u32 *)(r0 +4) = r2\nr1 = r0\ncall bpf_sk_release\nr0 = 0\nexit",
     (E.EACCES, "R0 cannot write into sock")),
    # the value of bpf_map_update_elem is a socket (resolve_map_arg_type)
    ("tc_update_stack_value", CLS, 0, KEY.format(1) + "r3 = r10\nr3 += -8\nr4 = 0\ncall bpf_map_update_elem\n"
     "r0 = 0\nexit",
     (E.EACCES, "R3 type=fp expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    ("tc_update_from_lookup", CLS, 0, UPDATE_FROM_LOOKUP.format(1, 2), None),
    ("tc_delete", CLS, 0, KEY.format(2) + "call bpf_map_delete_elem\nr0 = 0\nexit", None),
    ("sk_lookup_delete", SK_LOOKUP, SK_LOOKUP_EAT, KEY.format(1) + "call bpf_map_delete_elem\nr0 = 0\nexit", None),
    ("socket_filter_delete", FILTER, 0, KEY.format(1) + "call bpf_map_delete_elem\nr0 = 0\nexit", None),
    ("tc_push", CLS, 0, KEY.format(1) + "r2 = r10\nr2 += -8\nr3 = 0\ncall bpf_map_push_elem\nr0 = 0\nexit",
     (E.EACCES, "R2 type=fp expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_")),
    ("tc_peek", CLS, 0, KEY.format(1) + "call bpf_map_peek_elem\nr0 = 0\nexit",
     (E.EINVAL, "invalid arg_type for sockmap/sockhash")),
    # may_update_sockmap: the types that may not
    ("kprobe_delete", KPROBE, 0, KEY.format(1) + "call bpf_map_delete_elem\nr0 = 0\nexit",
     (E.EINVAL, CANNOT.format(15, "bpf_map_delete_elem#3"))),
    ("sk_skb_delete", SK_SKB, SK_SKB_STREAM_VERDICT, KEY.format(2) + "call bpf_map_delete_elem\nr0 = 0\nexit",
     (E.EINVAL, CANNOT.format(18, "bpf_map_delete_elem#3"))),
    ("sock_ops_delete", SOCK_OPS, 0, KEY.format(1) + "call bpf_map_delete_elem\nr0 = 1\nexit", None),
    ("sock_ops_update_ctx_sk", SOCK_OPS, 0, KEY.format(1) + "r3 = *(u64 *)(r6 +184)\nif r3 == 0 goto +2\n"
     "r4 = 0\ncall bpf_map_update_elem\nr0 = 1\nexit",
     (E.EINVAL, CANNOT.format(15, "bpf_map_update_elem#2"))),
    # the sockmap helpers and the maps they take (check_map_func_compatibility both ways)
    ("sock_ops_sock_map_update", SOCK_OPS, 0, CTX_MAP_KEY_CALL.format(1, "bpf_sock_map_update"), None),
    ("sock_ops_sock_hash_update", SOCK_OPS, 0, CTX_MAP_KEY_CALL.format(2, "bpf_sock_hash_update"), None),
    ("sock_ops_sock_map_update_hash", SOCK_OPS, 0, CTX_MAP_KEY_CALL.format(2, "bpf_sock_map_update"),
     (E.EINVAL, CANNOT.format(18, "bpf_sock_map_update#53"))),
    ("sk_skb_redirect_map", SK_SKB, SK_SKB_STREAM_VERDICT, CTX_MAP_CALL.format(1, "bpf_sk_redirect_map"), None),
    ("sk_skb_redirect_hash", SK_SKB, SK_SKB_STREAM_VERDICT, CTX_MAP_KEY_CALL.format(2, "bpf_sk_redirect_hash"),
     None),
    ("sk_skb_redirect_hash_sockmap", SK_SKB, SK_SKB_STREAM_VERDICT,
     CTX_MAP_KEY_CALL.format(1, "bpf_sk_redirect_hash"), (E.EINVAL, CANNOT.format(15, "bpf_sk_redirect_hash#72"))),
    ("sk_msg_redirect_map", SK_MSG, SK_MSG_VERDICT, CTX_MAP_CALL.format(1, "bpf_msg_redirect_map"), None),
    ("sk_msg_redirect_hash", SK_MSG, SK_MSG_VERDICT, CTX_MAP_KEY_CALL.format(2, "bpf_msg_redirect_hash"), None),
    ("sk_msg_redirect_map_hash", SK_MSG, SK_MSG_VERDICT, CTX_MAP_CALL.format(4, "bpf_msg_redirect_map"),
     (E.EINVAL, CANNOT.format(1, "bpf_msg_redirect_map#60"))),
    ("tc_sk_redirect_map", CLS, 0, CTX_MAP_CALL.format(1, "bpf_sk_redirect_map"),
     (E.EINVAL, "program of this type cannot use helper bpf_sk_redirect_map#52")),
    ("reuseport_select_array", REUSEPORT, SK_REUSEPORT_SELECT,
     CTX_MAP_KEY_CALL.format(3, "bpf_sk_select_reuseport"), None),
    ("reuseport_select_sockmap", REUSEPORT, SK_REUSEPORT_SELECT,
     CTX_MAP_KEY_CALL.format(1, "bpf_sk_select_reuseport"), None),
    ("reuseport_select_hash", REUSEPORT, SK_REUSEPORT_SELECT,
     CTX_MAP_KEY_CALL.format(4, "bpf_sk_select_reuseport"), (E.EINVAL, CANNOT.format(1, "bpf_sk_select_reuseport#82"))),
    ("tc_lookup_reuseport_array", CLS, 0, KEY.format(3) + "call bpf_map_lookup_elem\nr0 = 0\nexit",
     (E.EINVAL, CANNOT.format(20, "bpf_map_lookup_elem#1"))),
]


def _env(ptype: int, eat: int) -> VerifierEnv:
    return VerifierEnv(prog_type=ptype, expected_attach_type=eat, maps=MAPS)


@pytest.mark.parametrize("name,ptype,eat,asm,want", CASES, ids=[c[0] for c in CASES])
def test_sockmap_cases(name: str, ptype: int, eat: int, asm: str, want: tuple[int, str] | None) -> None:
    r = verify(assemble(asm), _env(ptype, eat), log_level=1)
    if want is None:
        assert r.accepted, r.log
    else:
        assert not r.accepted, r.log
        assert (r.errno, r.error_line) == want, r.log


def test_cannot_update_sockmap_is_logged() -> None:
    """may_update_sockmap's own line comes before check_map_func_compatibility's."""
    asm = KEY.format(1) + "call bpf_map_delete_elem\nr0 = 0\nexit"
    r = verify(assemble(asm), _env(KPROBE, 0), log_level=1)
    lines = [ln for ln in r.log.splitlines() if ln.strip()]
    i = lines.index("cannot update sockmap in this context")
    assert lines[i + 1] == CANNOT.format(15, "bpf_map_delete_elem#3")


def test_compatibility_table_for_socket_maps() -> None:
    """The two switches of check_map_func_compatibility for the socket maps."""
    assert check_map_func_compatibility(T["SOCKMAP"], 2) == CANNOT.format(15, "bpf_map_update_elem#2")
    assert check_map_func_compatibility(T["SOCKMAP"], 2, may_update_sockmap=True) is None
    assert check_map_func_compatibility(T["SOCKHASH"], 3, may_update_sockmap=True) is None
    assert check_map_func_compatibility(T["SOCKHASH"], 1) is None
    assert check_map_func_compatibility(T["SOCKMAP"], 70) == CANNOT.format(15, "bpf_sock_hash_update#70")
    assert check_map_func_compatibility(T["REUSEPORT_SOCKARRAY"], 82) is None
    assert check_map_func_compatibility(T["REUSEPORT_SOCKARRAY"], 3, may_update_sockmap=True) is not None
    assert check_map_func_compatibility(T["ARRAY"], 82) == CANNOT.format(2, "bpf_sk_select_reuseport#82")


def test_helper_prototypes_are_the_kernels() -> None:
    """The converted prototypes keep the initialisers' argument order and kinds."""
    from verifier import helpers as H

    key = SYMBOL_PROTOS["bpf_sk_redirect_hash_proto"]
    assert key.args[:4] == (H.ARG_PTR_TO_CTX, H.ARG_CONST_MAP_PTR, H.ARG_PTR_TO_MAP_KEY, H.ARG_ANYTHING)
    idx = SYMBOL_PROTOS["bpf_sk_redirect_map_proto"]
    assert idx.args[:4] == (H.ARG_PTR_TO_CTX, H.ARG_CONST_MAP_PTR, H.ARG_ANYTHING, H.ARG_ANYTHING)
    assert SYMBOL_PROTOS["bpf_sock_map_update_proto"].pkt_access
    assert not SYMBOL_PROTOS["sk_select_reuseport_proto"].gpl_only


@pytest.mark.kernel
@pytest.mark.parametrize("name,ptype,eat,asm,want", CASES, ids=[c[0] for c in CASES])
def test_sockmap_cases_on_the_host(name: str, ptype: int, eat: int, asm: str, want: object) -> None:
    from emu.host.hostbpf import comparable_log, oracle_status
    from emu.host.verdict import host_load

    ok, why = oracle_status()
    if not ok:
        pytest.skip(why)
    h = host_load(assemble(asm), _env(ptype, eat), log_level=1)
    got = None if h.accepted else (h.errno, comparable_log(h.error_line))
    exp = None if want is None else (want[0], comparable_log(want[1]))
    assert got == exp, h.log[-2000:]


def _log_lines(log: str) -> list[str]:
    """The log without the statistics and with kernel addresses (map pointers) masked."""
    import re

    from emu.host.hostbpf import comparable_log

    return [re.sub(r"0x[0-9a-f]{8,}", "ADDR", comparable_log(ln)) for ln in log.splitlines()
            if not ln.startswith("processed") and "verification time" not in ln]


@pytest.mark.kernel
@pytest.mark.parametrize("name,ptype,eat,asm,want", CASES, ids=[c[0] for c in CASES])
def test_sockmap_logs_equal_the_hosts(name: str, ptype: int, eat: int, asm: str, want: object) -> None:
    """At log level 2 every line (register states with the lookup's ref_obj_id and refs=,
    "cannot update sockmap in this context") is the host's."""
    from emu.host.hostbpf import oracle_status
    from emu.host.verdict import host_load

    ok, why = oracle_status()
    if not ok:
        pytest.skip(why)
    h = host_load(assemble(asm), _env(ptype, eat), log_level=2)
    r = verify(assemble(asm), _env(ptype, eat), log_level=2)
    assert _log_lines(r.log) == _log_lines(h.log)
