"""TCP congestion control arithmetic shared by the simulator, the built-in Reno and
the kfuncs BPF congestion controls call.

Written from the Linux 6.12 sources (unchanged in 6.18 for what is modelled here):

* ``tcp_slow_start``, ``tcp_cong_avoid_ai``, ``tcp_reno_cong_avoid``,
  ``tcp_reno_ssthresh``, ``tcp_reno_undo_cwnd`` -- net/ipv4/tcp_cong.c; the
  first five are the ``bpf_tcp_ca_check_kfunc_ids`` kfunc set of
  net/ipv4/bpf_tcp_ca.c;
* ``tcp_in_slow_start``, ``tcp_is_cwnd_limited``, ``tcp_packets_in_flight``
  -- include/net/tcp.h.

Every function works on any *socket view*: an object with the ``struct
tcp_sock`` fields it reads and writes as integer attributes (``snd_cwnd``,
``snd_ssthresh``, ``snd_cwnd_cnt``, ``snd_cwnd_clamp``, ``prior_cwnd``,
``is_cwnd_limited``, ``max_packets_out``). The simulator's socket is one; the
emulator's view of a ``struct tcp_sock`` in machine memory (the kfuncs' target)
is another. Values are u32 as in the kernel (results are masked).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "TCP_INFINITE_SSTHRESH", "TCP_INIT_CWND", "TCP_CA_Open", "TCP_CA_Disorder", "TCP_CA_CWR",
    "TCP_CA_Recovery", "TCP_CA_Loss", "CA_EVENT_TX_START", "CA_EVENT_CWND_RESTART", "CA_EVENT_COMPLETE_CWR",
    "CA_EVENT_LOSS", "CA_EVENT_ECN_NO_CE", "CA_EVENT_ECN_IS_CE", "CA_ACK_SLOWPATH", "CA_ACK_WIN_UPDATE",
    "CA_ACK_ECE", "SocketView", "tcp_in_slow_start", "tcp_is_cwnd_limited", "tcp_slow_start",
    "tcp_cong_avoid_ai", "tcp_reno_cong_avoid", "tcp_reno_ssthresh", "tcp_reno_undo_cwnd", "Reno",
    "U32",
]

U32 = 0xFFFFFFFF
#: include/net/tcp.h
TCP_INFINITE_SSTHRESH = 0x7FFFFFFF
TCP_INIT_CWND = 10
#: enum tcp_ca_state (include/uapi/linux/tcp.h)
TCP_CA_Open, TCP_CA_Disorder, TCP_CA_CWR, TCP_CA_Recovery, TCP_CA_Loss = range(5)
#: enum tcp_ca_event (include/net/tcp.h)
(CA_EVENT_TX_START, CA_EVENT_CWND_RESTART, CA_EVENT_COMPLETE_CWR, CA_EVENT_LOSS, CA_EVENT_ECN_NO_CE,
 CA_EVENT_ECN_IS_CE) = range(6)
#: enum tcp_ca_ack_event_flags (include/net/tcp.h)
CA_ACK_SLOWPATH, CA_ACK_WIN_UPDATE, CA_ACK_ECE = 1 << 0, 1 << 1, 1 << 2


class SocketView(Protocol):
    """The ``struct tcp_sock`` fields the arithmetic reads and writes."""

    snd_cwnd: int
    snd_ssthresh: int
    snd_cwnd_cnt: int
    snd_cwnd_clamp: int
    prior_cwnd: int
    is_cwnd_limited: int
    max_packets_out: int


def tcp_in_slow_start(tp: Any) -> bool:
    """``tcp_in_slow_start``: cwnd below ssthresh."""
    return tp.snd_cwnd < tp.snd_ssthresh


def tcp_is_cwnd_limited(tp: Any) -> bool:
    """``tcp_is_cwnd_limited`` (include/net/tcp.h): the window was fully used in the
    last flight, or -- in slow start -- cwnd is below twice the largest flight."""
    if tp.is_cwnd_limited:
        return True
    if tcp_in_slow_start(tp):
        return tp.snd_cwnd < 2 * tp.max_packets_out
    return False


def tcp_slow_start(tp: Any, acked: int) -> int:
    """``tcp_slow_start``: grow cwnd by ``acked`` up to ssthresh (and the clamp);
    returns the ACKed packets left over for congestion avoidance."""
    cwnd = min(tp.snd_cwnd + acked, tp.snd_ssthresh) & U32
    acked = (acked - (cwnd - tp.snd_cwnd)) & U32
    tp.snd_cwnd = min(cwnd, tp.snd_cwnd_clamp)
    return acked


def tcp_cong_avoid_ai(tp: Any, w: int, acked: int) -> None:
    """``tcp_cong_avoid_ai``: additive increase, one packet per ``w`` ACKed packets
    (credits in ``snd_cwnd_cnt``). ``w`` = 0 is a division by zero in the kernel;
    here it raises ZeroDivisionError."""
    if tp.snd_cwnd_cnt >= w:
        tp.snd_cwnd_cnt = 0
        tp.snd_cwnd = (tp.snd_cwnd + 1) & U32
    cnt = (tp.snd_cwnd_cnt + acked) & U32
    if cnt >= w:
        delta = cnt // w
        cnt -= delta * w
        tp.snd_cwnd = (tp.snd_cwnd + delta) & U32
    tp.snd_cwnd_cnt = cnt
    tp.snd_cwnd = min(tp.snd_cwnd, tp.snd_cwnd_clamp)


def tcp_reno_cong_avoid(tp: Any, ack: int, acked: int) -> None:
    """``tcp_reno_cong_avoid``: slow start below ssthresh, then one packet per RTT,
    only while the window is the limit."""
    if not tcp_is_cwnd_limited(tp):
        return
    if tcp_in_slow_start(tp):
        acked = tcp_slow_start(tp, acked)
        if not acked:
            return
    tcp_cong_avoid_ai(tp, tp.snd_cwnd, acked)


def tcp_reno_ssthresh(tp: Any) -> int:
    """``tcp_reno_ssthresh``: half the window, at least 2."""
    return max(tp.snd_cwnd >> 1, 2)


def tcp_reno_undo_cwnd(tp: Any) -> int:
    """``tcp_reno_undo_cwnd``: the window from before the reduction."""
    return max(tp.snd_cwnd, tp.prior_cwnd)


class Reno:
    """The kernel's ``tcp_reno`` (net/ipv4/tcp_cong.c ``tcp_reno``): ssthresh,
    cong_avoid and undo_cwnd only; no private state."""

    name = "reno"
    flags = 0
    members = frozenset({"ssthresh", "cong_avoid", "undo_cwnd"})

    def ssthresh(self, sk: Any) -> int:
        return tcp_reno_ssthresh(sk)

    def cong_avoid(self, sk: Any, ack: int, acked: int) -> None:
        tcp_reno_cong_avoid(sk, ack, acked)

    def undo_cwnd(self, sk: Any) -> int:
        return tcp_reno_undo_cwnd(sk)
