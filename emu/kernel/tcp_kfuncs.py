"""The kfuncs of ``bpf_tcp_ca_check_kfunc_ids`` (net/ipv4/bpf_tcp_ca.c, Linux 6.12/6.18):
``tcp_reno_ssthresh``, ``tcp_reno_cong_avoid``, ``tcp_reno_undo_cwnd``,
``tcp_slow_start``, ``tcp_cong_avoid_ai``; and of tcp_cubic.c's
``tcp_cubic_check_kfunc_ids``: ``cubictcp_init``, ``cubictcp_recalc_ssthresh``,
``cubictcp_cong_avoid``, ``cubictcp_state``, ``cubictcp_cwnd_event``,
``cubictcp_acked``; serviced in Python on the ``struct tcp_sock`` in the
machine's memory.

The arithmetic is :mod:`kernel_model.subsystems.tcp_cong` and
:mod:`~kernel_model.subsystems.tcp_cubic` (the same code the simulator's built-in
Reno and CUBIC run); :class:`MemTcpSock` is their socket view over emulated
memory, with the member offsets of the emulated vmlinux BTF; CUBIC's ``struct
bictcp`` lives in ``icsk_ca_priv`` with the kernel's layout; ``tcp_jiffies32`` is
the kernel's :class:`TcpClock`. In the
kernel the set is registered for ``BPF_PROG_TYPE_STRUCT_OPS`` only; the emulated
kfunc table gives them that program type too (``Kfunc.prog_types``: another type's call is
"calling kernel function ... is not allowed", as on the host).
"""

from __future__ import annotations

import struct
from typing import Any

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.core_kfuncs import kfunc_prog_types
from kernel_model.memory import HelperFn
from kernel_model.modules import Kfunc, KfuncEntry, KfuncTable
from kernel_model.subsystems import tcp_cong
from kernel_model.subsystems.tcp_ca import Field, tcp_sock_layout
from kernel_model.subsystems.tcp_cubic import BICTCP_LAYOUT, BicTcp, Cubic
from kernel_model.subsystems.tcp_sender import HZ, initial_jiffies
from kernel_model.vmlinux import TCP_KFUNCS

__all__ = ["MemTcpSock", "register_tcp_kfuncs", "TCP_KFUNC_NAMES", "CUBIC_KFUNC_NAMES", "TcpClock"]

#: the two sets, as kernel_model.vmlinux.TCP_KFUNCS lists them (its BTF tags them as kfuncs)
TCP_KFUNC_NAMES = TCP_KFUNCS[:5]
CUBIC_KFUNC_NAMES = TCP_KFUNCS[5:]
_VIEW_FIELDS = ("snd_cwnd", "snd_ssthresh", "snd_cwnd_cnt", "snd_cwnd_clamp", "prior_cwnd", "is_cwnd_limited",
                "max_packets_out", "tcp_mstamp", "snd_nxt", "snd_una", "lsndtime", "sk_pacing_rate",
                "sk_pacing_status")


class TcpClock:
    """The emulated kernel's ``jiffies`` at its ``CONFIG_HZ``: ``jiffies64``
    (``get_jiffies_64``, what ``bpf_jiffies64`` returns) and ``jiffies``, its low 32 bits
    as TCP reads them (``tcp_jiffies32``). Both start at INITIAL_JIFFIES; the TCP
    simulator advances them before each member call."""

    def __init__(self, hz: int = HZ) -> None:
        self.hz = hz
        self.jiffies64 = initial_jiffies(hz)

    @property
    def jiffies(self) -> int:
        return self.jiffies64 & 0xFFFFFFFF


class _Snapshot:
    """The fields of one ``struct tcp_sock`` read in one go, written back on exit
    when changed (a kfunc runs on the caller's CPU with the socket locked: nothing
    else changes it meanwhile); ``ca`` is ``icsk_ca_priv`` as a ``struct bictcp``
    for the cubictcp kfuncs, ``jiffies`` the kernel's."""

    __slots__ = _VIEW_FIELDS + ("ca", "jiffies")
    ca: BicTcp | None
    jiffies: int


def mem_sock_class(layout: dict[str, Field], clock: TcpClock | None = None, with_ca: bool = False) -> Any:
    """``view(machine, addr)``: a context manager giving the socket view
    :mod:`kernel_model.subsystems.tcp_cong` (and, ``with_ca``, ``tcp_cubic``) works
    on, over the memory at ``addr``."""
    fields = [layout[n] for n in _VIEW_FIELDS] + [layout["icsk_ca_priv"]]
    lo = min(f.offset for f in fields)
    hi = max(f.offset + f.size for f in fields)
    plain = [(f.name, f.offset - lo, f.size) for f in fields[:-1] if not f.bits]
    bitf = [(f.name, f.offset - lo, f.bit_offset, (1 << f.bits) - 1) for f in fields if f.bits]
    priv = layout["icsk_ca_priv"].offset - lo
    priv_end = priv + BICTCP_LAYOUT.size
    clk = clock if clock is not None else TcpClock()

    class View:
        __slots__ = ("_m", "_addr", "_buf", "_tp", "_orig")

        def __init__(self, m: Any, addr: int) -> None:
            self._m = m
            self._addr = addr

        def __enter__(self) -> _Snapshot:
            orig = self._orig = self._m.read(self._addr + lo, hi - lo)
            buf = self._buf = bytearray(orig)
            tp = self._tp = _Snapshot()
            for name, off, size in plain:
                setattr(tp, name, int.from_bytes(buf[off:off + size], "little"))
            for name, off, bit, mask in bitf:
                setattr(tp, name, (buf[off] >> bit) & mask)
            tp.jiffies = clk.jiffies
            tp.ca = BicTcp.from_bytes(buf[priv:priv_end]) if with_ca else None
            return tp

        def __exit__(self, *exc: object) -> None:
            if exc[0] is not None:
                return
            buf, tp = self._buf, self._tp
            for name, off, size in plain:
                buf[off:off + size] = (getattr(tp, name) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            for name, off, bit, mask in bitf:
                buf[off] = (buf[off] & ~(mask << bit) & 0xFF) | ((getattr(tp, name) & mask) << bit)
            if with_ca:
                unused = int.from_bytes(buf[priv + 40:priv + 42], "little")
                assert tp.ca is not None  # __enter__ read it: with_ca
                buf[priv:priv_end] = tp.ca.to_bytes(unused)
            if buf != self._orig:
                self._m.write(self._addr + lo, bytes(buf))
    return View


MemTcpSock = mem_sock_class  # the factory: with MemTcpSock(layout)(machine, addr) as tp: ...


def register_tcp_kfuncs(btf: BTF, table: KfuncTable, hz: int = HZ) -> TcpClock:
    """``register_btf_kfunc_id_set(BPF_PROG_TYPE_STRUCT_OPS, ...)`` of
    ``bpf_tcp_ca_kfunc_init`` (the five Reno kfuncs) and of ``cubictcp_register``
    (the six ``cubictcp_*`` kfuncs, tcp_cubic.c), FUNCs of the vmlinux BTF. Returns the
    clock their ``tcp_jiffies32`` reads, ticking at ``hz`` (CONFIG_HZ)."""
    clock = TcpClock(hz)
    layout = tcp_sock_layout(btf)
    view = mem_sock_class(layout, clock)
    cview = mem_sock_class(layout, clock, with_ca=True)
    cubic = Cubic(hz)
    u32 = 0xFFFFFFFF

    def reno_ssthresh(m: Any, sk: int, *_: int) -> int:
        with view(m, sk) as tp:
            return tcp_cong.tcp_reno_ssthresh(tp)

    def reno_cong_avoid(m: Any, sk: int, ack: int, acked: int, *_: int) -> int:
        with view(m, sk) as tp:
            tcp_cong.tcp_reno_cong_avoid(tp, ack & u32, acked & u32)
        return 0

    def reno_undo_cwnd(m: Any, sk: int, *_: int) -> int:
        with view(m, sk) as tp:
            return tcp_cong.tcp_reno_undo_cwnd(tp)

    def slow_start(m: Any, tp: int, acked: int, *_: int) -> int:
        with view(m, tp) as t:
            return tcp_cong.tcp_slow_start(t, acked & u32)

    def cong_avoid_ai(m: Any, tp: int, w: int, acked: int, *_: int) -> int:
        w &= u32
        if w == 0:  # the kernel divides by zero: an oops (divide error)
            m.runner.stop_at_bpf_caller("divide error", "tcp_cong_avoid_ai() called with w = 0")
            return 0
        with view(m, tp) as t:
            tcp_cong.tcp_cong_avoid_ai(t, w, acked & u32)
        return 0

    def c_init(m: Any, sk: int, *_: int) -> int:
        with cview(m, sk) as tp:
            cubic.init(tp)
        return 0

    def c_ssthresh(m: Any, sk: int, *_: int) -> int:
        with cview(m, sk) as tp:
            return cubic.ssthresh(tp)

    def c_cong_avoid(m: Any, sk: int, ack: int, acked: int, *_: int) -> int:
        with cview(m, sk) as tp:
            cubic.cong_avoid(tp, ack & u32, acked & u32)
        return 0

    def c_state(m: Any, sk: int, state: int, *_: int) -> int:
        with cview(m, sk) as tp:
            cubic.set_state(tp, state & 0xFF)
        return 0

    def c_cwnd_event(m: Any, sk: int, ev: int, *_: int) -> int:
        with cview(m, sk) as tp:
            cubic.cwnd_event(tp, ev & u32)
        return 0

    def c_acked(m: Any, sk: int, sample: int, *_: int) -> int:
        pkts, rtt_us, in_flight = struct.unpack("<IiI", m.read(sample, 12))
        with cview(m, sk) as tp:
            cubic.pkts_acked(tp, pkts, rtt_us, in_flight)
        return 0

    impls: dict[str, HelperFn] = {"tcp_reno_ssthresh": reno_ssthresh, "tcp_reno_cong_avoid": reno_cong_avoid,
             "tcp_reno_undo_cwnd": reno_undo_cwnd, "tcp_slow_start": slow_start,
             "tcp_cong_avoid_ai": cong_avoid_ai, "cubictcp_init": c_init, "cubictcp_recalc_ssthresh": c_ssthresh,
             "cubictcp_cong_avoid": c_cong_avoid, "cubictcp_state": c_state, "cubictcp_cwnd_event": c_cwnd_event,
             "cubictcp_acked": c_acked}
    for name in TCP_KFUNC_NAMES + CUBIC_KFUNC_NAMES:
        fid = btf.find(name, S.KIND_FUNC)
        if fid is None:
            raise KeyError(f"vmlinux BTF has no FUNC {name}")
        # register_btf_kfunc_id_set(BPF_PROG_TYPE_STRUCT_OPS, ...) (net/ipv4/bpf_tcp_ca.c, tcp_cubic.c)
        table.add(KfuncEntry(name, btf, fid, Kfunc(name, impls[name], prog_types=kfunc_prog_types(name)), None))
    return clock
