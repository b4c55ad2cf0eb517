"""A simulated TCP sender over one bottleneck: which congestion-control member the
kernel calls, when, and with what (the model behind ``structops sim tcp``).

Network: N bulk flows share a drop-tail FIFO bottleneck of ``bw_mbit`` Mbit/s and
``buffer`` packets; base round-trip ``rtt_ms`` (half each way, the return path has
no queue); each data packet is lost at random with probability ``loss`` before the
queue; with ``ecn_k`` set, a packet of an ECN-capable flow (its algorithm has
``TCP_CONG_NEEDS_ECN``) that finds ``ecn_k`` or more packets queued is CE-marked
and its ACK carries ECE (a DCTCP-style receiver echoing each packet). 1500-byte
packets, ``mss_cache`` 1448, one ACK per packet with SACK, no delayed ACKs, no
pacing, no receive-window limit. Time is integer nanoseconds; ``tcp_jiffies32``
runs at the kernel config's ``CONFIG_HZ`` (``hz``, 250 by default) from the kernel's
INITIAL_JIFFIES; ``tcp_mstamp`` is microseconds.

Sender: the order of ``tcp_ack()`` in net/ipv4/tcp_input.c (Linux 6.12) --
``tcp_clean_rtx_queue`` (``pkts_acked`` with the ACK's RTT sample, ``in_flight``
in bytes delivered, as the kernel fills ``struct ack_sample``), ``tcp_in_ack_event``
(``in_ack_event``: ``CA_ACK_WIN_UPDATE`` on the fast path, ``CA_ACK_SLOWPATH`` [+
``CA_ACK_ECE``] otherwise), ``tcp_fastretrans_alert`` (leaving Recovery/CWR at
``high_seq``: ``tcp_end_cwnd_reduction`` sets cwnd to ssthresh unless the
algorithm has ``cong_control``, then ``cwnd_event(CA_EVENT_COMPLETE_CWR)`` and
``set_state(TCP_CA_Open)``; entering Recovery on a loss: ``tcp_init_cwnd_reduction``
calls ``ssthresh``, then ``set_state(TCP_CA_Recovery)``; ECE in Open:
``tcp_enter_cwr``), then ``tcp_cong_control`` (``cong_control`` when set, else
PRR ``tcp_cwnd_reduction`` in CWR/Recovery, else ``cong_avoid`` with the
delivered count when data was cumulatively ACKed). ``tcp_set_ca_state`` calls
``set_state`` before it changes ``icsk_ca_state``. Sends: ``cwnd_event
(CA_EVENT_TX_START)`` when new data leaves with nothing in flight
(``tcp_event_data_sent``); ``tcp_cwnd_validate`` keeps ``is_cwnd_limited`` and
``max_packets_out``. Retransmission timeout (``tcp_enter_loss``): ``ssthresh``,
``cwnd_event(CA_EVENT_LOSS)``, cwnd = in flight + 1, every outstanding packet
lost, ``set_state(TCP_CA_Loss)``; RTO = srtt + 4 mdev, at least 200 ms
(``tcp_set_rto``, ``TCP_RTO_MIN``), doubling per back-off. ``init`` runs at the
start, ``release`` at the end.

Where we differ from the kernel: loss detection is a duplicate-threshold of 3
packets delivered after a hole (the kernel uses RACK-TLP, which on this
reorder-free path marks the same packets a little earlier); no tail loss probe,
no F-RTO, no DSACK, so a loss is never found spurious and ``undo_cwnd`` is
never called (the link does not reorder or duplicate); ``min_tso_segs``,
``sndbuf_expand`` and ``get_info`` are not called; the receiver-side events
``CA_EVENT_ECN_IS_CE``/``CA_EVENT_ECN_NO_CE`` and ``CA_EVENT_CWND_RESTART``
(no idle periods) never occur.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..kconfig import DEFAULT as DEFAULT_KCONFIG
from .tcp_cong import (
    CA_ACK_ECE, CA_ACK_SLOWPATH, CA_ACK_WIN_UPDATE, CA_EVENT_COMPLETE_CWR, CA_EVENT_LOSS, CA_EVENT_TX_START,
    TCP_CA_CWR, TCP_CA_Disorder, TCP_CA_Loss, TCP_CA_Open, TCP_CA_Recovery, TCP_INFINITE_SSTHRESH,
    TCP_INIT_CWND, U32,
)

__all__ = ["LinkConfig", "CongestionOps", "TcpSock", "Sample", "Simulation", "TCP_CONG_NEEDS_ECN",
           "MSS", "WIRE_BYTES", "INITIAL_JIFFIES", "HZ", "initial_jiffies"]

TCP_CONG_NEEDS_ECN = 0x2
MSS = 1448
WIRE_BYTES = 1500
#: the default CONFIG_HZ (kernel_model.kconfig.DEFAULT)
HZ = DEFAULT_KCONFIG.hz


def initial_jiffies(hz: int) -> int:
    """include/linux/jiffies.h ``INITIAL_JIFFIES``: jiffies start 300 s before their low
    32 bits wrap (``jiffies_64`` starts at the same, unsigned, value)."""
    return (-300 * hz) & U32


INITIAL_JIFFIES = initial_jiffies(HZ)
#: the simulated clock's tcp_mstamp at t = 0 (a machine up for a while)
BOOT_US = 1_000_000
TCP_RTO_MIN_NS = 200_000_000
TCP_RTO_MAX_NS = 120_000_000_000
#: include/net/tcp.h TCP_ECN_OK and the bits DCTCP toggles
TCP_ECN_OK = 1
#: tcp_ack() flags (net/ipv4/tcp_input.c) passed to cong_control
FLAG_DATA = 0x01
FLAG_WIN_UPDATE = 0x02
FLAG_DATA_ACKED = 0x04
FLAG_RETRANS_DATA_ACKED = 0x08
FLAG_SYN_ACKED = 0x10
FLAG_DATA_SACKED = 0x20
FLAG_ECE = 0x40
FLAG_LOST_RETRANS = 0x80
FLAG_SLOWPATH = 0x100
FLAG_SND_UNA_ADVANCED = 0x400

_SACKED, _LOST, _RETRANS, _EVER_RETRANS = 1, 2, 4, 8


@dataclass(frozen=True)
class LinkConfig:
    """One scenario: the bottleneck and the flows."""

    bw_mbit: float = 100.0
    rtt_ms: float = 20.0
    buffer: int = 100
    loss: float = 0.0
    ecn_k: int | None = None
    flows: int = 1
    duration: float = 10.0
    seed: int = 0
    #: flow n starts at n * start_gap seconds
    start_gap: float = 0.0
    #: seconds between samples (None: a quarter of the base RTT, at most 10 ms)
    sample_every: float | None = None

    def validate(self) -> None:
        """Raise ValueError naming the bad parameter."""
        if not self.bw_mbit > 0:
            raise ValueError(f"bandwidth must be positive (got {self.bw_mbit} Mbit/s)")
        if not self.rtt_ms > 0:
            raise ValueError(f"rtt must be positive (got {self.rtt_ms} ms)")
        if self.buffer < 1:
            raise ValueError(f"buffer must be at least 1 packet (got {self.buffer})")
        if not 0 <= self.loss < 1:
            raise ValueError(f"loss must be in [0, 1) (got {self.loss})")
        if self.flows < 1:
            raise ValueError(f"flows must be at least 1 (got {self.flows})")
        if not self.duration > 0:
            raise ValueError(f"duration must be positive (got {self.duration} s)")
        if self.ecn_k is not None and self.ecn_k < 0:
            raise ValueError(f"ECN marking threshold must be >= 0 (got {self.ecn_k})")

    @property
    def bdp_packets(self) -> float:
        """Bandwidth-delay product in 1500-byte packets."""
        return self.bw_mbit * 1e6 * self.rtt_ms / 1e3 / (8 * WIRE_BYTES)


class CongestionOps(Protocol):
    """What the sender calls: the members of ``struct tcp_congestion_ops`` it has
    (``members``), the algorithm's ``name`` and ``flags``. ``pkts_acked`` gets the
    ``struct ack_sample`` fields as arguments; ``cong_control`` the ``struct
    rate_sample`` as a dict."""

    name: str
    flags: int
    members: frozenset[str]


@dataclass(slots=True)
class Sample:
    t: float
    flow: int
    cwnd: int
    ssthresh: int
    srtt_ms: float
    in_flight: int
    delivered: int
    lost: int
    state: int


@dataclass(eq=False)
class TcpSock:
    """The sender's ``struct tcp_sock`` fields (the names of the kernel's members),
    plus the simulator's own bookkeeping (underscored) and ``ca``, the private
    state of a Python algorithm."""

    flow: int = 0
    snd_cwnd: int = TCP_INIT_CWND
    snd_ssthresh: int = TCP_INFINITE_SSTHRESH
    snd_cwnd_cnt: int = 0
    snd_cwnd_clamp: int = U32  # tcp_init_sock(): ~0
    snd_cwnd_stamp: int = 0
    prior_cwnd: int = 0
    prior_ssthresh: int = 0
    snd_una: int = 0
    snd_nxt: int = 0
    rcv_nxt: int = 0
    high_seq: int = 0
    delivered: int = 0
    delivered_ce: int = 0
    lost: int = 0
    tcp_mstamp: int = 0
    jiffies: int = INITIAL_JIFFIES
    #: get_jiffies_64(): the same clock, not wrapped (bpf_jiffies64)
    jiffies64: int = INITIAL_JIFFIES
    lsndtime: int = 0
    srtt_us: int = 0
    mdev_us: int = 0
    packets_out: int = 0
    sacked_out: int = 0
    lost_out: int = 0
    retrans_out: int = 0
    max_packets_out: int = 0
    is_cwnd_limited: int = 0
    cwnd_usage_seq: int = 0
    prr_delivered: int = 0
    prr_out: int = 0
    undo_marker: int = 0
    ecn_flags: int = 0
    app_limited: int = 0
    mss_cache: int = MSS
    icsk_ca_state: int = TCP_CA_Open
    sk_pacing_rate: int = 0
    sk_pacing_status: int = 0
    ca: Any = None
    # simulator bookkeeping: per-segment state (index = segment number)
    _flags: list[int] = field(default_factory=list)
    _tx_ns: list[int] = field(default_factory=list)
    _xmit_no: list[int] = field(default_factory=list)
    _outstanding: deque = field(default_factory=deque)  # (xmit_no, seg) not yet known delivered, xmit order
    _holes: dict = field(default_factory=dict)  # seg -> packets delivered after it
    _next_xmit: int = 0
    _rto_ns: int = 1_000_000_000  # TCP_TIMEOUT_INIT
    _backoff: int = 0
    _timer_gen: int = 0
    _timer_armed: bool = False
    _active: bool = False
    _isn: int = 0

    def packets_in_flight(self) -> int:
        """``tcp_packets_in_flight``: out - (sacked + lost) + retransmitted."""
        return self.packets_out - (self.sacked_out + self.lost_out) + self.retrans_out


class Simulation:
    """Run ``ops_for(flow)`` congestion controls over one :class:`LinkConfig`.

    ``call`` wraps every member call (``call(sk, member, fn, *args)``) so a driver
    can count them or move the socket into emulated memory around them; the
    default calls ``fn(sk, *args)``.
    """

    def __init__(self, cfg: LinkConfig, ops_for: Callable[[int], Any],
                 call: Callable[..., Any] | None = None,
                 progress: Callable[[float], None] | None = None, hz: int = HZ) -> None:
        cfg.validate()
        self.cfg = cfg
        #: CONFIG_HZ of the kernel the flows run in
        self.hz = hz
        self.initial_jiffies = initial_jiffies(hz)
        self._jiffy_ns = 1_000_000_000 // hz
        self.rng = random.Random(cfg.seed)
        self.ops = [ops_for(i) for i in range(cfg.flows)]
        self.socks = [TcpSock(flow=i) for i in range(cfg.flows)]
        self.call = call or (lambda sk, member, fn, *a: fn(sk, *a))
        self.progress = progress
        self.now = 0
        self._events: list[tuple[int, int, int, Any]] = []
        self._seq = 0
        self.tx_ns = round(WIRE_BYTES * 8 * 1e9 / (cfg.bw_mbit * 1e6))
        self.one_way_ns = round(cfg.rtt_ms * 1e6 / 2)
        self.queue: deque = deque()  # (flow, seg, ce) waiting, head in service
        self.busy_until = 0
        self.samples: list[Sample] = []
        self.calls: dict[str, int] = {}
        self.drops = {"queue": 0, "random": 0}
        self.ce_marks = 0
        self.max_queue = 0
        self._recv_ooo: list[set[int]] = [set() for _ in range(cfg.flows)]
        self._recv_next = [0] * cfg.flows
        every = cfg.sample_every if cfg.sample_every is not None else min(cfg.rtt_ms / 4e3, 0.01)
        self.sample_ns = max(1, round(every * 1e9))

    # --- events ----------------------------------------------------------------------------------
    def _at(self, t: int, kind: int, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, kind, data))

    _EV_START, _EV_DEPART, _EV_ARRIVE, _EV_ACK, _EV_RTO, _EV_SAMPLE = range(6)

    def _member(self, fi: int, name: str, *args: Any) -> Any:
        ops = self.ops[fi]
        if name not in ops.members:
            return None
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.call(self.socks[fi], name, getattr(ops, name), *args)

    def _clock(self, sk: TcpSock) -> None:
        sk.tcp_mstamp = BOOT_US + self.now // 1000
        sk.jiffies64 = self.initial_jiffies + self.now // self._jiffy_ns
        sk.jiffies = sk.jiffies64 & U32

    def _set_state(self, fi: int, state: int) -> None:
        """``tcp_set_ca_state``: the member sees the old ``icsk_ca_state``."""
        self._member(fi, "set_state", state)
        self.socks[fi].icsk_ca_state = state

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.cfg
        end = round(cfg.duration * 1e9)
        for i in range(cfg.flows):
            self._at(round(i * cfg.start_gap * 1e9), self._EV_START, i)
        self._at(0, self._EV_SAMPLE, None)
        next_progress = 0
        ev = self._events
        while ev and ev[0][0] <= end:
            t, _, kind, data = heapq.heappop(ev)
            self.now = t
            if kind == self._EV_ACK:
                self._on_ack(*data)
            elif kind == self._EV_DEPART:
                self._on_depart()
            elif kind == self._EV_ARRIVE:
                self._on_arrive(*data)
            elif kind == self._EV_SAMPLE:
                self._sample()
                self._at(t + self.sample_ns, self._EV_SAMPLE, None)
                if self.progress is not None and t >= next_progress:
                    self.progress(t / 1e9)
                    next_progress = t + 1_000_000_000
            elif kind == self._EV_RTO:
                self._on_rto(*data)
            elif kind == self._EV_START:
                self._start(data)
        self.now = end
        for i, sk in enumerate(self.socks):
            if sk._active:
                self._clock(sk)
                self._member(i, "release")

    def _start(self, fi: int) -> None:
        sk = self.socks[fi]
        sk._active = True
        sk._isn = (0x1000 + 0x9E3779B1 * (fi + 1 + self.cfg.seed)) & U32 & ~0xFFF
        sk.snd_una = sk.snd_nxt = sk.high_seq = sk.cwnd_usage_seq = sk._isn
        sk.ecn_flags = TCP_ECN_OK if self.ops[fi].flags & TCP_CONG_NEEDS_ECN else 0
        sk.lsndtime = self.initial_jiffies
        self._clock(sk)
        sk.snd_cwnd_stamp = sk.jiffies
        self._member(fi, "init")  # tcp_init_congestion_control()
        self._transmit(fi)

    def _seq_of(self, sk: TcpSock, seg: int) -> int:
        return (sk._isn + seg * MSS) & U32

    def _una_seg(self, sk: TcpSock) -> int:
        return ((sk.snd_una - sk._isn) & U32) // MSS

    def _nxt_seg(self, sk: TcpSock) -> int:
        return ((sk.snd_nxt - sk._isn) & U32) // MSS

    # --- sending ---------------------------------------------------------------------------------
    def _transmit(self, fi: int) -> None:
        """``tcp_write_xmit`` / ``tcp_xmit_recovery``: lost packets first, then new data,
        while the window has room; then ``tcp_cwnd_validate``."""
        sk = self.socks[fi]
        self._clock(sk)
        flags = sk._flags
        una = self._una_seg(sk)
        sent = False
        while sk.packets_in_flight() < sk.snd_cwnd:
            seg = -1
            if sk.lost_out > sk.retrans_out:
                for s in range(una, len(flags)):
                    f = flags[s]
                    if f & _LOST and not f & (_RETRANS | _SACKED):
                        seg = s
                        break
            if seg >= 0:
                flags[seg] |= _RETRANS | _EVER_RETRANS
                sk.retrans_out += 1
            else:
                seg = len(flags)
                if sk.packets_in_flight() == 0:
                    self._member(fi, "cwnd_event", CA_EVENT_TX_START)  # tcp_event_data_sent()
                flags.append(0)
                sk._tx_ns.append(0)
                sk._xmit_no.append(0)
                sk.packets_out += 1
                sk.snd_nxt = self._seq_of(sk, seg + 1)
                sk.lsndtime = sk.jiffies
            if sk.icsk_ca_state in (TCP_CA_Recovery, TCP_CA_CWR):
                sk.prr_out += 1
            sk._tx_ns[seg] = self.now
            sk._next_xmit += 1
            sk._xmit_no[seg] = sk._next_xmit
            sk._outstanding.append((sk._next_xmit, seg))
            self._enqueue(fi, seg)
            sent = True
        # tcp_cwnd_validate(): the window counts as used when it is full
        limited = sk.packets_in_flight() >= sk.snd_cwnd
        if (not _before(sk.snd_una, sk.cwnd_usage_seq) or limited or
                (not sk.is_cwnd_limited and sk.packets_out > sk.max_packets_out)):
            sk.is_cwnd_limited = int(limited)
            sk.max_packets_out = sk.packets_out
            sk.cwnd_usage_seq = sk.snd_nxt
        if sent and not sk._timer_armed:
            self._arm_rto(fi)

    def _enqueue(self, fi: int, seg: int) -> None:
        if self.cfg.loss and self.rng.random() < self.cfg.loss:
            self.drops["random"] += 1
            return
        q = self.queue
        waiting = len(q) - (1 if self.busy_until > self.now else 0)
        if waiting >= self.cfg.buffer:
            self.drops["queue"] += 1
            return
        ce = False
        if self.cfg.ecn_k is not None and self.socks[fi].ecn_flags & TCP_ECN_OK and waiting >= self.cfg.ecn_k:
            ce = True
            self.ce_marks += 1
        q.append((fi, seg, ce))
        if len(q) > self.max_queue:
            self.max_queue = len(q)
        if len(q) == 1:
            self.busy_until = self.now + self.tx_ns
            self._at(self.busy_until, self._EV_DEPART, None)

    def _on_depart(self) -> None:
        fi, seg, ce = self.queue.popleft()
        self._at(self.now + self.one_way_ns, self._EV_ARRIVE, (fi, seg, ce))
        if self.queue:
            self.busy_until = self.now + self.tx_ns
            self._at(self.busy_until, self._EV_DEPART, None)

    def _on_arrive(self, fi: int, seg: int, ce: bool) -> None:
        """The receiver: cumulative ACK + the segment as SACK, ECE echoing CE."""
        nxt = self._recv_next[fi]
        ooo = self._recv_ooo[fi]
        if seg == nxt:
            nxt += 1
            while nxt in ooo:
                ooo.discard(nxt)
                nxt += 1
            self._recv_next[fi] = nxt
        elif seg > nxt:
            ooo.add(seg)
        self._at(self.now + self.one_way_ns, self._EV_ACK, (fi, nxt, seg, ce))

    # --- ACK processing: tcp_ack() ----------------------------------------------------------------
    def _on_ack(self, fi: int, ack_seg: int, sack_seg: int, ece: bool) -> None:
        sk = self.socks[fi]
        self._clock(sk)
        flags = sk._flags
        una = self._una_seg(sk)
        prior_in_flight = sk.packets_in_flight()
        prior_delivered = sk.delivered
        flag = 0
        if ece:
            flag |= FLAG_ECE
        acked = 0
        rtt_us = -1
        # newly SACKed (beyond the cumulative ACK)
        if sack_seg >= ack_seg and sack_seg < len(flags) and not flags[sack_seg] & _SACKED:
            f = flags[sack_seg]
            flags[sack_seg] = f | _SACKED
            sk.sacked_out += 1
            if f & _LOST:
                sk.lost_out -= 1
            if f & _RETRANS:
                sk.retrans_out -= 1
            sk.delivered += 1
            flag |= FLAG_DATA_SACKED
            if not f & _EVER_RETRANS:
                rtt_us = (self.now - sk._tx_ns[sack_seg]) // 1000
        # cumulatively ACKed
        if ack_seg > una:
            for s in range(una, ack_seg):
                f = flags[s]
                if f & _SACKED:
                    sk.sacked_out -= 1
                else:
                    sk.delivered += 1
                    if f & _LOST:
                        sk.lost_out -= 1
                    if f & _RETRANS:
                        sk.retrans_out -= 1
                    if f & _EVER_RETRANS:
                        flag |= FLAG_RETRANS_DATA_ACKED
                acked += 1
                sk._holes.pop(s, None)
            if not flags[ack_seg - 1] & _EVER_RETRANS:
                rtt_us = (self.now - sk._tx_ns[ack_seg - 1]) // 1000
            sk.packets_out -= ack_seg - una
            sk.snd_una = self._seq_of(sk, ack_seg)
            flag |= FLAG_DATA_ACKED | FLAG_SND_UNA_ADVANCED
            sk._backoff = 0
        else:
            flag |= FLAG_SLOWPATH
        if sack_seg != ack_seg - 1 or ece:
            flag |= FLAG_SLOWPATH
        if not flag & FLAG_SLOWPATH:
            flag |= FLAG_WIN_UPDATE
        newly_delivered = sk.delivered - prior_delivered
        if ece:
            sk.delivered_ce += newly_delivered
        if rtt_us >= 0:
            self._rtt_estimator(sk, rtt_us)
        # loss detection: packets sent before the one just delivered and still missing
        newly_lost = self._detect_losses(sk, sack_seg)
        # tcp_clean_rtx_queue(): pkts_acked with the RTT sample
        self._member(fi, "pkts_acked", acked + (1 if flag & FLAG_DATA_SACKED else 0), rtt_us,
                     MSS * newly_delivered)
        # tcp_in_ack_event()
        ev = CA_ACK_SLOWPATH | (CA_ACK_ECE if ece else 0) if flag & FLAG_SLOWPATH else 0
        if flag & FLAG_WIN_UPDATE:
            ev |= CA_ACK_WIN_UPDATE
        self._member(fi, "in_ack_event", ev)
        # tcp_fastretrans_alert()
        self._fastretrans_alert(fi, flag, newly_lost)
        # tcp_cong_control()
        ops = self.ops[fi]
        if "cong_control" in ops.members:
            rs = {"delivered": newly_delivered, "delivered_ce": sk.delivered_ce, "rtt_us": rtt_us,
                  "losses": newly_lost, "acked_sacked": newly_delivered, "prior_in_flight": prior_in_flight,
                  "prior_delivered": prior_delivered, "interval_us": 0, "is_app_limited": False}
            self._member(fi, "cong_control", sk.snd_una, flag, rs)
        elif sk.icsk_ca_state in (TCP_CA_CWR, TCP_CA_Recovery):
            self._cwnd_reduction(sk, newly_delivered, newly_lost, flag)
        elif flag & FLAG_DATA_ACKED:
            self._member(fi, "cong_avoid", sk.snd_una, newly_delivered)
            sk.snd_cwnd_stamp = sk.jiffies
        if flag & FLAG_SND_UNA_ADVANCED:
            if sk.packets_out:
                self._arm_rto(fi)
            else:  # nothing outstanding: the timer stops
                sk._timer_gen += 1
                sk._timer_armed = False
        self._transmit(fi)

    def _detect_losses(self, sk: TcpSock, seg: int) -> int:
        out = sk._outstanding
        flags = sk._flags
        xno = sk._xmit_no[seg] if seg < len(sk._xmit_no) else 0
        while out and out[0][0] <= xno:
            x, s = out.popleft()
            if x == xno:
                continue
            if s < len(flags) and not flags[s] & _SACKED and sk._xmit_no[s] == x and \
                    s >= self._una_seg(sk):
                sk._holes[s] = 0
        newly = 0
        for s in list(sk._holes):
            f = flags[s]
            if f & _SACKED or s < self._una_seg(sk):
                del sk._holes[s]
                continue
            n = sk._holes[s] + 1
            if n >= 3 and not f & _LOST or (f & _RETRANS and n >= 3):
                if f & _RETRANS:  # a lost retransmission: lost again
                    flags[s] = f & ~_RETRANS
                    sk.retrans_out -= 1
                else:
                    flags[s] = f | _LOST
                    sk.lost_out += 1
                sk.lost += 1
                newly += 1
                del sk._holes[s]
            else:
                sk._holes[s] = n
        return newly

    def _rtt_estimator(self, sk: TcpSock, m: int) -> None:
        """``tcp_rtt_estimator`` (srtt_us is 8 x srtt, mdev_us 4 x mdev) and ``tcp_set_rto``."""
        m = max(m, 1)
        if sk.srtt_us:
            err = m - (sk.srtt_us >> 3)
            sk.srtt_us += err
            sk.mdev_us += (abs(err) - (sk.mdev_us >> 2))
        else:
            sk.srtt_us = m << 3
            sk.mdev_us = m << 1
        rto_us = (sk.srtt_us >> 3) + max(sk.mdev_us, TCP_RTO_MIN_NS // 1000)
        sk._rto_ns = min(rto_us * 1000, TCP_RTO_MAX_NS)

    def _arm_rto(self, fi: int) -> None:
        sk = self.socks[fi]
        sk._timer_gen += 1
        sk._timer_armed = True
        self._at(self.now + min(sk._rto_ns << sk._backoff, TCP_RTO_MAX_NS), self._EV_RTO, (fi, sk._timer_gen))

    def _init_cwnd_reduction(self, fi: int) -> None:
        """``tcp_init_cwnd_reduction``: the algorithm's ssthresh."""
        sk = self.socks[fi]
        sk.high_seq = sk.snd_nxt
        sk.snd_cwnd_cnt = 0
        sk.prior_cwnd = sk.snd_cwnd
        sk.prr_delivered = 0
        sk.prr_out = 0
        r = self._member(fi, "ssthresh")
        if r is not None:
            sk.snd_ssthresh = r & U32

    def _fastretrans_alert(self, fi: int, flag: int, newly_lost: int) -> None:
        sk = self.socks[fi]
        state = sk.icsk_ca_state
        if state in (TCP_CA_Recovery, TCP_CA_CWR, TCP_CA_Loss) and not _before(sk.snd_una, sk.high_seq):
            if state != TCP_CA_Loss:
                self._end_cwnd_reduction(fi)
            self._set_state(fi, TCP_CA_Open)
            state = TCP_CA_Open
        if state in (TCP_CA_Open, TCP_CA_Disorder, TCP_CA_CWR) and sk.lost_out:
            # tcp_enter_recovery()
            if state != TCP_CA_CWR:
                sk.prior_ssthresh = max(sk.snd_ssthresh, (sk.snd_cwnd >> 1) + (sk.snd_cwnd >> 2))
                sk.undo_marker = sk.snd_una
                self._init_cwnd_reduction(fi)
            self._set_state(fi, TCP_CA_Recovery)
            return
        if state in (TCP_CA_Open, TCP_CA_Disorder) and flag & FLAG_ECE:
            # tcp_try_to_open() -> tcp_enter_cwr()
            sk.prior_ssthresh = 0
            sk.undo_marker = 0
            self._init_cwnd_reduction(fi)
            self._set_state(fi, TCP_CA_CWR)
            return
        if state in (TCP_CA_Open, TCP_CA_Disorder):
            want = TCP_CA_Disorder if (sk.sacked_out or sk.lost_out or sk.retrans_out) else TCP_CA_Open
            if want != state:  # tcp_try_keep_open()
                self._set_state(fi, want)
                sk.high_seq = sk.snd_nxt

    def _end_cwnd_reduction(self, fi: int) -> None:
        sk = self.socks[fi]
        if "cong_control" in self.ops[fi].members:
            return
        if sk.snd_ssthresh < TCP_INFINITE_SSTHRESH and (sk.icsk_ca_state == TCP_CA_CWR or sk.undo_marker):
            sk.snd_cwnd = sk.snd_ssthresh
            sk.snd_cwnd_stamp = sk.jiffies
        self._member(fi, "cwnd_event", CA_EVENT_COMPLETE_CWR)

    @staticmethod
    def _cwnd_reduction(sk: TcpSock, newly_acked_sacked: int, newly_lost: int, flag: int) -> None:
        """``tcp_cwnd_reduction``: proportional rate reduction (RFC 6937)."""
        if newly_acked_sacked <= 0 or not sk.prior_cwnd:
            return
        in_flight = sk.packets_in_flight()
        delta = sk.snd_ssthresh - in_flight
        sk.prr_delivered += newly_acked_sacked
        if delta < 0:
            dividend = sk.snd_ssthresh * sk.prr_delivered + sk.prior_cwnd - 1
            sndcnt = dividend // sk.prior_cwnd - sk.prr_out
        else:
            sndcnt = max(sk.prr_delivered - sk.prr_out, newly_acked_sacked)
            if flag & FLAG_SND_UNA_ADVANCED and not newly_lost:
                sndcnt += 1
            sndcnt = min(delta, sndcnt)
        sndcnt = max(sndcnt, 0 if sk.prr_out else 1)
        sk.snd_cwnd = max(in_flight + sndcnt, 0) & U32

    def _on_rto(self, fi: int, gen: int) -> None:
        """``tcp_retransmit_timer`` -> ``tcp_enter_loss``."""
        sk = self.socks[fi]
        if gen != sk._timer_gen or not sk._timer_armed:
            return
        sk._timer_armed = False
        if not sk.packets_out:
            return
        self._clock(sk)
        state = sk.icsk_ca_state
        if state <= TCP_CA_Disorder or not _after(sk.high_seq, sk.snd_una) or \
                (state == TCP_CA_Loss and sk._backoff == 0):
            sk.prior_ssthresh = sk.snd_ssthresh
            sk.prior_cwnd = sk.snd_cwnd
            r = self._member(fi, "ssthresh")
            if r is not None:
                sk.snd_ssthresh = r & U32
            self._member(fi, "cwnd_event", CA_EVENT_LOSS)
        # every outstanding packet not SACKed is lost; retransmissions are forgotten
        flags = sk._flags
        sk.retrans_out = 0
        sk.lost_out = 0
        for s in range(self._una_seg(sk), len(flags)):
            f = flags[s] & ~_RETRANS
            if not f & _SACKED:
                f |= _LOST
                sk.lost_out += 1
            flags[s] = f
        sk._holes.clear()
        sk._outstanding.clear()
        sk.snd_cwnd = sk.packets_in_flight() + 1
        sk.snd_cwnd_cnt = 0
        sk.snd_cwnd_stamp = sk.jiffies
        sk.high_seq = sk.snd_nxt
        if state != TCP_CA_Loss:
            self._set_state(fi, TCP_CA_Loss)
        sk._backoff = min(sk._backoff + 1, 15)
        self._transmit(fi)
        if not sk._timer_armed:
            self._arm_rto(fi)

    def _sample(self) -> None:
        t = self.now / 1e9
        for i, sk in enumerate(self.socks):
            if not sk._active:
                continue
            self.samples.append(Sample(t, i, sk.snd_cwnd, sk.snd_ssthresh, (sk.srtt_us >> 3) / 1000,
                                       sk.packets_in_flight(), sk.delivered, sk.lost, sk.icsk_ca_state))

    def summary(self) -> dict[str, Any]:
        cfg = self.cfg
        dur = self.now / 1e9 or 1e-9
        flows = []
        for i, sk in enumerate(self.socks):
            cw = [s.cwnd for s in self.samples if s.flow == i]
            flows.append({
                "flow": i, "algorithm": self.ops[i].name, "delivered_packets": sk.delivered,
                "goodput_mbit": round(sk.delivered * MSS * 8 / dur / 1e6, 3), "lost_packets": sk.lost,
                "retransmitted": sum(1 for f in sk._flags if f & _EVER_RETRANS),
                "mean_cwnd": round(sum(cw) / len(cw), 2) if cw else 0, "max_cwnd": max(cw) if cw else 0,
                "srtt_ms": round((sk.srtt_us >> 3) / 1000, 3), "delivered_ce": sk.delivered_ce,
            })
        return {"config": {"bw_mbit": cfg.bw_mbit, "rtt_ms": cfg.rtt_ms, "buffer": cfg.buffer, "loss": cfg.loss,
                           "ecn_k": cfg.ecn_k, "flows": cfg.flows, "duration": cfg.duration, "seed": cfg.seed},
                "bdp_packets": round(cfg.bdp_packets, 2), "simulated_seconds": dur, "flows": flows,
                "drops": dict(self.drops), "ce_marks": self.ce_marks, "max_queue": self.max_queue,
                "member_calls": dict(sorted(self.calls.items()))}


def _before(a: int, b: int) -> bool:
    d = (a - b) & U32
    return d >> 31 == 1


def _after(a: int, b: int) -> bool:
    return _before(b, a)
