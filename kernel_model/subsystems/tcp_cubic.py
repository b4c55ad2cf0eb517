"""The kernel's CUBIC (net/ipv4/tcp_cubic.c, Linux 6.12; the same in 6.18), written
anew in Python for the simulator to compare BPF congestion controls against.

Module parameters at their defaults: ``fast_convergence`` 1, ``beta`` 717/1024,
``bic_scale`` 41, ``tcp_friendliness`` 1, ``hystart`` 1 with ack-train and delay
detection, ``hystart_low_window`` 16, ``hystart_ack_delta_us`` 2000,
``initial_ssthresh`` 0. Time is the socket's ``jiffies`` (``tcp_jiffies32``, at
its ``hz``, CONFIG_HZ) and ``tcp_mstamp`` (microseconds); ``usecs_to_jiffies`` rounds up as
the kernel's does. The per-socket state (``struct bictcp``) is a Python object
kept on the socket (``sk.ca``), not bytes in ``icsk_ca_priv``.
"""

from __future__ import annotations

import struct
from typing import Any

from ..kconfig import DEFAULT as DEFAULT_KCONFIG
from .tcp_cong import TCP_CA_Loss, U32, tcp_cong_avoid_ai, tcp_in_slow_start, tcp_is_cwnd_limited, tcp_slow_start

__all__ = ["Cubic", "BicTcp", "cubic_root", "HZ"]

#: the default CONFIG_HZ (kernel_model.kconfig.DEFAULT); a Cubic takes its kernel's
HZ = DEFAULT_KCONFIG.hz
BICTCP_BETA_SCALE = 1024
BICTCP_HZ = 10
HYSTART_ACK_TRAIN, HYSTART_DELAY = 0x1, 0x2
HYSTART_MIN_SAMPLES = 8
HYSTART_DELAY_MIN, HYSTART_DELAY_MAX = 4000, 16000
USEC_PER_MSEC, USEC_PER_SEC = 1000, 1000000
GSO_MAX_SIZE = 65536  # sk_gso_max_size of a socket on a GSO device (include/linux/netdevice.h)

FAST_CONVERGENCE = 1
BETA = 717
BIC_SCALE = 41
TCP_FRIENDLINESS = 1
HYSTART = 1
HYSTART_DETECT = HYSTART_ACK_TRAIN | HYSTART_DELAY
HYSTART_LOW_WINDOW = 16
HYSTART_ACK_DELTA_US = 2000
#: cubictcp_register(): the derived constants
BETA_SCALE = 8 * (BICTCP_BETA_SCALE + BETA) // 3 // (BICTCP_BETA_SCALE - BETA)
CUBE_RTT_SCALE = BIC_SCALE * 10
CUBE_FACTOR = (1 << (10 + 3 * BICTCP_HZ)) // (BIC_SCALE * 10)

#: cbrt(x) most significant values for x in [0..63], the kernel's table (cubic_root())
_V = (0, 54, 54, 54, 118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156,
      157, 161, 164, 168, 170, 173, 176, 179, 181, 185, 187, 190, 192, 194, 197, 199,
      200, 202, 204, 206, 209, 211, 213, 215, 217, 219, 221, 222, 224, 225, 227, 229,
      231, 232, 234, 236, 237, 239, 240, 242, 244, 245, 246, 248, 250, 251, 252, 254)


def _s32(v: int) -> int:
    v &= U32
    return v - (1 << 32) if v >> 31 else v


def _after(a: int, b: int) -> bool:
    return _s32(b - a) < 0


def cubic_root(a: int) -> int:
    """``cubic_root``: an integer cube root with one Newton-Raphson step, as the kernel
    computes it (a table for the top bits, then one iteration)."""
    b = a.bit_length()  # fls64
    if b < 7:
        return (_V[a] + 35) >> 6
    b = ((b * 84) >> 8) - 1
    shift = a >> (b * 3)
    x = ((_V[shift] + 10) << b) & U32
    x >>= 6
    x = (2 * x + (a // (x * (x - 1)))) & U32
    return ((x * 341) >> 10) & U32


def usecs_to_jiffies(us: int, hz: int = HZ) -> int:
    """``usecs_to_jiffies``: rounded up (exact for an HZ dividing 1000000, as 100, 250, 1000)."""
    return -(-us * hz // USEC_PER_SEC)


#: ``struct bictcp`` as it sits in ``icsk_ca_priv`` (tcp_cubic.c): ten u32, u16 unused,
#: u8 sample_cnt, u8 found, four u32 -- 60 bytes
BICTCP_LAYOUT = struct.Struct("<10IHBB4I")
_BICTCP_FIELDS = ("cnt", "last_max_cwnd", "last_cwnd", "last_time", "bic_origin_point", "bic_K", "delay_min",
                  "epoch_start", "ack_cnt", "tcp_cwnd", "unused", "sample_cnt", "found", "round_start", "end_seq",
                  "last_ack", "curr_rtt")


class BicTcp:
    """``struct bictcp``; :meth:`from_bytes`/:meth:`to_bytes` give its layout in
    ``icsk_ca_priv`` (for the ``cubictcp_*`` kfuncs)."""

    __slots__ = ("cnt", "last_max_cwnd", "last_cwnd", "last_time", "bic_origin_point", "bic_K", "delay_min",
                 "epoch_start", "ack_cnt", "tcp_cwnd", "sample_cnt", "found", "round_start", "end_seq",
                 "last_ack", "curr_rtt")
    cnt: int
    last_max_cwnd: int
    last_cwnd: int
    last_time: int
    bic_origin_point: int
    bic_K: int
    delay_min: int
    epoch_start: int
    ack_cnt: int
    tcp_cwnd: int
    sample_cnt: int
    found: int
    round_start: int
    end_seq: int
    last_ack: int
    curr_rtt: int

    def __init__(self) -> None:
        for f in self.__slots__:
            setattr(self, f, 0)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> "BicTcp":
        ca = cls()
        vals = dict(zip(_BICTCP_FIELDS, BICTCP_LAYOUT.unpack_from(data)))
        vals.pop("unused")
        for k, v in vals.items():
            setattr(ca, k, v)
        return ca

    def to_bytes(self, unused: int = 0) -> bytes:
        vals = [unused if f == "unused" else getattr(self, f) for f in _BICTCP_FIELDS]
        masks = [0xFFFF if f == "unused" else 0xFF if f in ("sample_cnt", "found") else U32 for f in _BICTCP_FIELDS]
        return BICTCP_LAYOUT.pack(*(v & m for v, m in zip(vals, masks)))

    def reset(self) -> None:
        """``bictcp_reset``: everything before ``unused`` and ``found``."""
        for f in ("cnt", "last_max_cwnd", "last_cwnd", "last_time", "bic_origin_point", "bic_K", "delay_min",
                  "epoch_start", "ack_cnt", "tcp_cwnd", "found"):
            setattr(self, f, 0)


class Cubic:
    """``cubictcp``: init, ssthresh, cong_avoid, set_state, undo_cwnd, cwnd_event, pkts_acked."""

    name = "cubic"
    flags = 0
    members = frozenset({"init", "ssthresh", "cong_avoid", "set_state", "undo_cwnd", "cwnd_event", "pkts_acked"})

    def __init__(self, hz: int = HZ) -> None:
        #: CONFIG_HZ of the kernel it runs in (its jiffies clock)
        self.hz = hz

    @staticmethod
    def _hystart_reset(sk: Any, ca: BicTcp) -> None:
        ca.round_start = ca.last_ack = sk.tcp_mstamp & U32
        ca.end_seq = sk.snd_nxt
        ca.curr_rtt = U32
        ca.sample_cnt = 0

    def init(self, sk: Any) -> None:
        ca = sk.ca = BicTcp()
        ca.reset()
        if HYSTART:
            self._hystart_reset(sk, ca)

    def cwnd_event(self, sk: Any, event: int) -> None:
        if event == 0:  # CA_EVENT_TX_START
            ca = sk.ca
            now = sk.jiffies & U32
            delta = _s32(now - sk.lsndtime)
            if ca.epoch_start and delta > 0:
                ca.epoch_start = (ca.epoch_start + delta) & U32
                if _after(ca.epoch_start, now):
                    ca.epoch_start = now

    def _update(self, sk: Any, ca: BicTcp, cwnd: int, acked: int) -> None:
        """``bictcp_update``."""
        now = sk.jiffies & U32
        ca.ack_cnt = (ca.ack_cnt + acked) & U32
        if ca.last_cwnd == cwnd and _s32(now - ca.last_time) <= self.hz // 32:
            return
        if not (ca.epoch_start and now == ca.last_time):
            ca.last_cwnd = cwnd
            ca.last_time = now
            if ca.epoch_start == 0:
                ca.epoch_start = now
                ca.ack_cnt = acked
                ca.tcp_cwnd = cwnd
                if ca.last_max_cwnd <= cwnd:
                    ca.bic_K = 0
                    ca.bic_origin_point = cwnd
                else:
                    ca.bic_K = cubic_root(CUBE_FACTOR * (ca.last_max_cwnd - cwnd))
                    ca.bic_origin_point = ca.last_max_cwnd
            t = _s32(now - ca.epoch_start) & ((1 << 64) - 1)
            t += usecs_to_jiffies(ca.delay_min, self.hz)
            t = ((t << BICTCP_HZ) // self.hz) & ((1 << 64) - 1)
            offs = ca.bic_K - t if t < ca.bic_K else t - ca.bic_K
            delta = ((CUBE_RTT_SCALE * offs * offs * offs) & ((1 << 64) - 1)) >> (10 + 3 * BICTCP_HZ)
            delta &= U32
            if t < ca.bic_K:
                bic_target = (ca.bic_origin_point - delta) & U32
            else:
                bic_target = (ca.bic_origin_point + delta) & U32
            if bic_target > cwnd:
                ca.cnt = cwnd // (bic_target - cwnd)
            else:
                ca.cnt = (100 * cwnd) & U32
            if ca.last_max_cwnd == 0 and ca.cnt > 20:
                ca.cnt = 20
        # tcp_friendliness
        if TCP_FRIENDLINESS:
            delta = (cwnd * BETA_SCALE) >> 3
            if delta:
                while ca.ack_cnt > delta:
                    ca.ack_cnt -= delta
                    ca.tcp_cwnd += 1
            if ca.tcp_cwnd > cwnd:
                delta = ca.tcp_cwnd - cwnd
                max_cnt = cwnd // delta
                if ca.cnt > max_cnt:
                    ca.cnt = max_cnt
        ca.cnt = max(ca.cnt, 2)

    def cong_avoid(self, sk: Any, ack: int, acked: int) -> None:
        if not tcp_is_cwnd_limited(sk):
            return
        if tcp_in_slow_start(sk):
            acked = tcp_slow_start(sk, acked)
            if not acked:
                return
        ca = sk.ca
        self._update(sk, ca, sk.snd_cwnd, acked)
        tcp_cong_avoid_ai(sk, ca.cnt, acked)

    def ssthresh(self, sk: Any) -> int:
        ca = sk.ca
        ca.epoch_start = 0
        cwnd = sk.snd_cwnd
        if cwnd < ca.last_max_cwnd and FAST_CONVERGENCE:
            ca.last_max_cwnd = (cwnd * (BICTCP_BETA_SCALE + BETA)) // (2 * BICTCP_BETA_SCALE)
        else:
            ca.last_max_cwnd = cwnd
        return max((cwnd * BETA) // BICTCP_BETA_SCALE, 2)

    def set_state(self, sk: Any, new_state: int) -> None:
        if new_state == TCP_CA_Loss:
            sk.ca.reset()
            self._hystart_reset(sk, sk.ca)

    def undo_cwnd(self, sk: Any) -> int:
        return max(sk.snd_cwnd, sk.prior_cwnd)  # tcp_reno_undo_cwnd

    @staticmethod
    def _ack_delay(sk: Any) -> int:
        rate = sk.sk_pacing_rate
        if not rate:
            return 0
        return min(USEC_PER_MSEC, GSO_MAX_SIZE * 4 * USEC_PER_SEC // rate)

    def _hystart_update(self, sk: Any, ca: BicTcp, delay: int) -> None:
        if _after(sk.snd_una, ca.end_seq):
            self._hystart_reset(sk, ca)
        if sk.snd_cwnd < HYSTART_LOW_WINDOW:
            return
        if HYSTART_DETECT & HYSTART_ACK_TRAIN:
            now = sk.tcp_mstamp & U32
            if _s32(now - ca.last_ack) <= HYSTART_ACK_DELTA_US:
                ca.last_ack = now
                threshold = ca.delay_min + self._ack_delay(sk)
                if sk.sk_pacing_status == 0:  # SK_PACING_NONE
                    threshold >>= 1
                if _s32(now - ca.round_start) > threshold:
                    ca.found = 1
                    sk.snd_ssthresh = sk.snd_cwnd
        if HYSTART_DETECT & HYSTART_DELAY:
            if ca.curr_rtt > delay:
                ca.curr_rtt = delay
            if ca.sample_cnt < HYSTART_MIN_SAMPLES:
                ca.sample_cnt += 1
            elif ca.curr_rtt > ca.delay_min + min(max(ca.delay_min >> 3, HYSTART_DELAY_MIN), HYSTART_DELAY_MAX):
                ca.found = 1
                sk.snd_ssthresh = sk.snd_cwnd

    def pkts_acked(self, sk: Any, pkts_acked: int, rtt_us: int, in_flight: int) -> None:
        ca = sk.ca
        if rtt_us < 0:
            return
        if ca.epoch_start and _s32((sk.jiffies & U32) - ca.epoch_start) < self.hz:
            return
        delay = rtt_us or 1
        if ca.delay_min == 0 or ca.delay_min > delay:
            ca.delay_min = delay
        if not ca.found and tcp_in_slow_start(sk) and HYSTART:
            self._hystart_update(sk, ca, delay)
