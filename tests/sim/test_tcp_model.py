"""The pure model: Reno's arithmetic on hand-checked ACK/loss sequences, CUBIC's
cube root and reduction, the sender's call order, the tcp_sock layout and the
bpf_tcp_ca write rules."""

from __future__ import annotations

import os

import pytest

from kernel_model.btf import load, structs as S
from kernel_model.subsystems import tcp_cong
from kernel_model.subsystems.tcp_ca import WRITABLE_FIELDS, _btf_struct_access, tcp_sock_layout
from kernel_model.subsystems.tcp_cong import TCP_CA_Open, TCP_CA_Recovery, Reno
from kernel_model.subsystems.tcp_cubic import Cubic, cubic_root
from kernel_model.subsystems.tcp_sender import LinkConfig, Simulation, TcpSock
from kernel_model.vmlinux import build_vmlinux_btf
from kernel_model.vmlinux_net import SIZES

# (event, argument, expected cwnd, expected snd_cwnd_cnt): worked by hand from
# tcp_reno_cong_avoid / tcp_slow_start / tcp_cong_avoid_ai (net/ipv4/tcp_cong.c)
RENO_EVENTS = [
    # slow start from 10 with ssthresh 16: one packet per ACKed packet
    ("ack", 1, 11, 0), ("ack", 1, 12, 0), ("ack", 2, 14, 0),
    # 14 + 3 crosses ssthresh: slow start stops at 16, the 1 left over is a credit
    ("ack", 3, 16, 1),
    # congestion avoidance at w = 16: 15 more credits make 16 -> cwnd 17, credits 0
    ("ack", 5, 16, 6), ("ack", 10, 17, 0),
    ("ack", 16, 17, 16),  # 16 < 17: no increase yet
    ("ack", 1, 18, 0),  # 17 credits >= w = 17: +1
    # a loss: ssthresh = cwnd / 2 = 9; the sender then sets cwnd = ssthresh
    ("loss", None, 9, 0),
    ("ack", 4, 9, 4), ("ack", 5, 10, 0), ("ack", 25, 12, 5),
]


def _apply(ops, sk: TcpSock, events) -> list[tuple[int, int]]:
    seen = []
    for ev, arg, _, _ in events:
        if ev == "ack":
            ops.cong_avoid(sk, 0, arg)
        else:
            sk.prior_cwnd = sk.snd_cwnd
            sk.snd_ssthresh = ops.ssthresh(sk)
            sk.snd_cwnd = sk.snd_ssthresh
            sk.snd_cwnd_cnt = 0
        seen.append((sk.snd_cwnd, sk.snd_cwnd_cnt))
    return seen


def reno_sock() -> TcpSock:
    return TcpSock(snd_cwnd=10, snd_ssthresh=16, snd_cwnd_clamp=0xFFFFFFFF, is_cwnd_limited=1)


def test_reno_follows_the_kernel_arithmetic_on_a_hand_checked_sequence():
    # the last step: cwnd 10, 25 credits: the first check (0 >= 10) is false, credits become 25,
    # delta = 25 // 10 = 2 -> cwnd 12, credits 5
    assert _apply(Reno(), reno_sock(), RENO_EVENTS) == [(c, n) for _, _, c, n in RENO_EVENTS]


def test_reno_ssthresh_and_undo():
    sk = TcpSock(snd_cwnd=3, prior_cwnd=20)
    assert Reno().ssthresh(sk) == 2  # max(3 >> 1, 2)
    assert Reno().undo_cwnd(sk) == 20
    sk.snd_cwnd = 25
    assert Reno().ssthresh(sk) == 12 and Reno().undo_cwnd(sk) == 25


def test_reno_does_not_grow_when_not_cwnd_limited():
    sk = TcpSock(snd_cwnd=20, snd_ssthresh=100, is_cwnd_limited=0, max_packets_out=10)
    Reno().cong_avoid(sk, 0, 5)
    assert sk.snd_cwnd == 20  # slow start, but 20 >= 2 * 10
    sk.max_packets_out = 11
    Reno().cong_avoid(sk, 0, 5)
    assert sk.snd_cwnd == 25


def test_cong_avoid_ai_applies_old_credits_first():
    sk = TcpSock(snd_cwnd=30, snd_cwnd_cnt=40, snd_cwnd_clamp=0xFFFFFFFF)
    tcp_cong.tcp_cong_avoid_ai(sk, 16, 1)  # 40 >= 16: reset, +1; then 1 credit
    assert (sk.snd_cwnd, sk.snd_cwnd_cnt) == (31, 1)
    tcp_cong.tcp_cong_avoid_ai(sk, 16, 100)  # 101 credits -> +6, 5 left; clamp not reached
    assert (sk.snd_cwnd, sk.snd_cwnd_cnt) == (37, 5)
    sk.snd_cwnd_clamp = 38
    tcp_cong.tcp_cong_avoid_ai(sk, 2, 10)
    assert sk.snd_cwnd == 38


@pytest.mark.parametrize("n", [1, 7, 63, 64, 1000, 123456, 2**20, 2**33 + 17, 10**15])
def test_cubic_root_is_close_to_the_real_one(n):
    exact = n ** (1 / 3)
    assert abs(cubic_root(n) - exact) <= max(1.0, 0.06 * exact)


def test_cubic_reduction_and_fast_convergence():
    c = Cubic()
    sk = TcpSock(snd_cwnd=100)
    c.init(sk)
    assert c.ssthresh(sk) == 70 and sk.ca.last_max_cwnd == 100  # 100 * 717 // 1024
    sk.snd_cwnd = 80  # a loss below the last maximum: fast convergence lowers it
    assert c.ssthresh(sk) == 56 and sk.ca.last_max_cwnd == (80 * (1024 + 717)) // 2048


class Recorder:
    """A Python algorithm recording every member call (Reno's arithmetic)."""

    name = "recorder"
    flags = 0
    members = frozenset({"init", "release", "ssthresh", "cong_avoid", "set_state", "cwnd_event", "in_ack_event",
                         "pkts_acked", "undo_cwnd"})

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def init(self, sk):
        self.log.append(("init",))

    def release(self, sk):
        self.log.append(("release",))

    def ssthresh(self, sk):
        self.log.append(("ssthresh", sk.icsk_ca_state))
        return tcp_cong.tcp_reno_ssthresh(sk)

    def cong_avoid(self, sk, ack, acked):
        self.log.append(("cong_avoid", acked))
        tcp_cong.tcp_reno_cong_avoid(sk, ack, acked)

    def set_state(self, sk, state):
        self.log.append(("set_state", sk.icsk_ca_state, state))

    def cwnd_event(self, sk, ev):
        self.log.append(("cwnd_event", ev))

    def in_ack_event(self, sk, flags):
        self.log.append(("in_ack_event", flags))

    def pkts_acked(self, sk, n, rtt_us, in_flight):
        self.log.append(("pkts_acked", n, rtt_us))

    def undo_cwnd(self, sk):
        return tcp_cong.tcp_reno_undo_cwnd(sk)


def test_the_sender_calls_members_in_the_kernels_order():
    rec = Recorder()
    sim = Simulation(LinkConfig(bw_mbit=20, rtt_ms=10, buffer=20, duration=1.0), lambda i: rec)
    sim.run()
    log = rec.log
    names = [e[0] for e in log]
    assert names[0] == "init" and names[1] == "cwnd_event" and log[1][1] == tcp_cong.CA_EVENT_TX_START
    assert names[-1] == "release"
    # per ACK: pkts_acked, then in_ack_event, then (when allowed) cong_avoid
    for i, n in enumerate(names):
        if n == "in_ack_event":
            assert names[i - 1] == "pkts_acked"
    first_rtt = next(e[2] for e in log if e[0] == "pkts_acked" and e[2] >= 0)
    assert 10_000 <= first_rtt < 11_000  # base RTT plus serialisation
    # a queue overflow: ssthresh in Open/Disorder, then set_state(Recovery) seeing the old state
    k = names.index("ssthresh")
    assert log[k][1] in (TCP_CA_Open, 1) and log[k + 1][:1] == ("set_state",) and log[k + 1][2] == TCP_CA_Recovery
    assert log[k + 1][1] == log[k][1]  # set_state is called before icsk_ca_state changes
    # leaving Recovery: cwnd_event(COMPLETE_CWR) then set_state(Open)
    j = names.index("cwnd_event", k)
    assert log[j][1] == tcp_cong.CA_EVENT_COMPLETE_CWR and log[j + 1] == ("set_state", TCP_CA_Recovery, TCP_CA_Open)


def test_runs_are_deterministic_for_a_seed():
    def run(seed):
        sim = Simulation(LinkConfig(bw_mbit=10, rtt_ms=30, buffer=30, loss=0.01, duration=2, seed=seed),
                         lambda i: Cubic())
        sim.run()
        return [(s.t, s.cwnd, s.ssthresh) for s in sim.samples]
    assert run(3) == run(3)
    assert run(3) != run(4)


def test_bad_link_parameters_are_named():
    with pytest.raises(ValueError, match="buffer must be at least 1"):
        LinkConfig(buffer=0).validate()
    with pytest.raises(ValueError, match=r"loss must be in \[0, 1\)"):
        LinkConfig(loss=1.5).validate()


# --- struct tcp_sock and the bpf_tcp_ca write rules -------------------------------------------

def test_emulated_socket_sizes_are_the_generated_ones():
    btf = build_vmlinux_btf()
    for name, size in SIZES.items():
        assert btf.size_of(btf.find(name, S.KIND_STRUCT)) == size, name


@pytest.mark.skipif(not os.access("/sys/kernel/btf/vmlinux", os.R_OK), reason="no kernel BTF on this machine")
def test_tcp_sock_offsets_match_this_kernel_when_it_has_the_same_layout():
    host = load("/sys/kernel/btf/vmlinux")
    host_size = host.size_of(host.find("tcp_sock", S.KIND_STRUCT))
    if host_size != SIZES["tcp_sock"]:
        pytest.skip(f"this kernel's tcp_sock is {host_size} bytes, the generated one {SIZES['tcp_sock']}")
    ours, theirs = tcp_sock_layout(build_vmlinux_btf()), tcp_sock_layout(host)
    for name in WRITABLE_FIELDS + ("icsk_ca_state", "is_cwnd_limited", "snd_una", "snd_nxt", "delivered",
                                   "delivered_ce", "tcp_mstamp", "srtt_us", "prior_cwnd", "max_packets_out"):
        assert ours[name] == theirs[name], name


def test_bpf_tcp_ca_write_rules():
    lay = tcp_sock_layout(build_vmlinux_btf())
    cwnd, priv = lay["snd_cwnd"], lay["icsk_ca_priv"]
    assert _btf_struct_access("tcp_sock", 0, cwnd.offset, 4) is None
    assert _btf_struct_access("tcp_sock", 0, priv.offset + 40, 8) is None
    assert _btf_struct_access("tcp_sock", 0, priv.offset + 100, 8) == (
        f"write access at off {priv.offset + 100} with size 8 beyond the member of tcp_sock ended at "
        f"{priv.offset + priv.size}")
    assert _btf_struct_access("tcp_sock", 0, lay["snd_una"].offset, 4) == \
        f"no write support to tcp_sock at off {lay['snd_una'].offset}"
    assert _btf_struct_access("sock", 0, 0, 4) == "only read is supported"


def test_ecn_marks_reach_an_ecn_algorithm_as_ece_and_cwr():
    class EcnRecorder(Recorder):
        flags = 0x2  # TCP_CONG_NEEDS_ECN

    rec = EcnRecorder()
    sim = Simulation(LinkConfig(bw_mbit=20, rtt_ms=10, buffer=100, ecn_k=5, duration=1.0), lambda i: rec)
    sim.run()
    assert sim.ce_marks > 0 and sim.socks[0].delivered_ce > 0 and sim.drops["queue"] == 0
    assert any(e[0] == "in_ack_event" and e[1] & tcp_cong.CA_ACK_ECE and e[1] & tcp_cong.CA_ACK_SLOWPATH
               for e in rec.log)
    assert ("set_state", TCP_CA_Open, tcp_cong.TCP_CA_CWR) in rec.log  # tcp_enter_cwr
    # a flow whose algorithm does not ask for ECN is never marked
    plain = Simulation(LinkConfig(bw_mbit=20, rtt_ms=10, buffer=100, ecn_k=5, duration=1.0), lambda i: Reno())
    plain.run()
    assert plain.ce_marks == 0


def test_heavy_loss_ends_in_retransmission_timeouts():
    """tcp_enter_loss: ssthresh, cwnd_event(CA_EVENT_LOSS), then set_state(TCP_CA_Loss);
    the flow keeps delivering afterwards (the timer is re-armed)."""
    rec = Recorder()
    sim = Simulation(LinkConfig(bw_mbit=10, rtt_ms=20, buffer=50, loss=0.3, duration=5.0, seed=1), lambda i: rec)
    sim.run()
    log = rec.log
    k = log.index(("cwnd_event", tcp_cong.CA_EVENT_LOSS))
    assert log[k - 1][0] == "ssthresh"
    assert any(e[0] == "set_state" and e[2] == tcp_cong.TCP_CA_Loss for e in log[k:k + 3])
    late = [s for s in sim.samples if s.t > 4.0]
    assert late and late[-1].delivered > sim.samples[len(sim.samples) // 2].delivered
