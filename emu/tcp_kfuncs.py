"""The kfuncs of ``bpf_tcp_ca_check_kfunc_ids`` (net/ipv4/bpf_tcp_ca.c, Linux 6.12/6.18):
``tcp_reno_ssthresh``, ``tcp_reno_cong_avoid``, ``tcp_reno_undo_cwnd``,
``tcp_slow_start``, ``tcp_cong_avoid_ai``, serviced in Python on the ``struct
tcp_sock`` in the machine's memory.

The arithmetic is :mod:`kernel_model.subsystems.tcp_cong` (the same code the
simulator's built-in Reno runs); :class:`MemTcpSock` is its socket view over
emulated memory, with the member offsets of the emulated vmlinux BTF. In the
kernel the set is registered for ``BPF_PROG_TYPE_STRUCT_OPS`` only; the emulated
kfunc table does not filter by program type.
"""

from __future__ import annotations

from typing import Any

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.modules import Kfunc, KfuncEntry, KfuncTable
from kernel_model.subsystems import tcp_cong
from kernel_model.subsystems.tcp_ca import Field, tcp_sock_layout

__all__ = ["MemTcpSock", "register_tcp_kfuncs", "TCP_KFUNC_NAMES"]

TCP_KFUNC_NAMES = ("tcp_reno_ssthresh", "tcp_reno_cong_avoid", "tcp_reno_undo_cwnd", "tcp_slow_start",
                   "tcp_cong_avoid_ai")
_VIEW_FIELDS = ("snd_cwnd", "snd_ssthresh", "snd_cwnd_cnt", "snd_cwnd_clamp", "prior_cwnd", "is_cwnd_limited",
                "max_packets_out")


class _Snapshot:
    """The fields of one ``struct tcp_sock`` read in one go, written back on exit
    when changed (a kfunc runs on the caller's CPU with the socket locked: nothing
    else changes it meanwhile)."""

    __slots__ = ("snd_cwnd", "snd_ssthresh", "snd_cwnd_cnt", "snd_cwnd_clamp", "prior_cwnd", "is_cwnd_limited",
                 "max_packets_out")


def mem_sock_class(layout: dict[str, Field]) -> Any:
    """``view(machine, addr)``: a context manager giving the socket view
    :mod:`kernel_model.subsystems.tcp_cong` works on, over the memory at ``addr``."""
    fields = [layout[n] for n in _VIEW_FIELDS]
    lo = min(f.offset for f in fields)
    hi = max(f.offset + f.size for f in fields)
    plain = [(f.name, f.offset - lo, f.size) for f in fields if not f.bits]
    bitf = [(f.name, f.offset - lo, f.bit_offset, (1 << f.bits) - 1) for f in fields if f.bits]

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
            return tp

        def __exit__(self, *exc: object) -> None:
            if exc[0] is not None:
                return
            buf, tp = self._buf, self._tp
            for name, off, size in plain:
                buf[off:off + size] = (getattr(tp, name) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            for name, off, bit, mask in bitf:
                buf[off] = (buf[off] & ~(mask << bit) & 0xFF) | ((getattr(tp, name) & mask) << bit)
            if buf != self._orig:
                self._m.write(self._addr + lo, bytes(buf))
    return View


MemTcpSock = mem_sock_class  # the factory: with MemTcpSock(layout)(machine, addr) as tp: ...


def register_tcp_kfuncs(btf: BTF, table: KfuncTable) -> None:
    """``register_btf_kfunc_id_set(BPF_PROG_TYPE_STRUCT_OPS, &bpf_tcp_ca_kfunc_set)``
    (``bpf_tcp_ca_kfunc_init``): the five kfuncs, FUNCs of the vmlinux BTF."""
    view = mem_sock_class(tcp_sock_layout(btf))

    def reno_ssthresh(m: Any, sk: int, *_: int) -> int:
        with view(m, sk) as tp:
            return tcp_cong.tcp_reno_ssthresh(tp)

    def reno_cong_avoid(m: Any, sk: int, ack: int, acked: int, *_: int) -> int:
        with view(m, sk) as tp:
            tcp_cong.tcp_reno_cong_avoid(tp, ack & 0xFFFFFFFF, acked & 0xFFFFFFFF)
        return 0

    def reno_undo_cwnd(m: Any, sk: int, *_: int) -> int:
        with view(m, sk) as tp:
            return tcp_cong.tcp_reno_undo_cwnd(tp)

    def slow_start(m: Any, tp: int, acked: int, *_: int) -> int:
        with view(m, tp) as t:
            return tcp_cong.tcp_slow_start(t, acked & 0xFFFFFFFF)

    def cong_avoid_ai(m: Any, tp: int, w: int, acked: int, *_: int) -> int:
        w &= 0xFFFFFFFF
        if w == 0:  # the kernel divides by zero: an oops (divide error)
            m.stop_at_bpf_caller("divide error", "tcp_cong_avoid_ai() called with w = 0")
            return 0
        with view(m, tp) as t:
            tcp_cong.tcp_cong_avoid_ai(t, w, acked & 0xFFFFFFFF)
        return 0

    impls = {"tcp_reno_ssthresh": reno_ssthresh, "tcp_reno_cong_avoid": reno_cong_avoid,
             "tcp_reno_undo_cwnd": reno_undo_cwnd, "tcp_slow_start": slow_start,
             "tcp_cong_avoid_ai": cong_avoid_ai}
    for name in TCP_KFUNC_NAMES:
        fid = btf.find(name, S.KIND_FUNC)
        if fid is None:
            raise KeyError(f"vmlinux BTF has no FUNC {name}")
        table.add(KfuncEntry(name, btf, fid, Kfunc(name, impls[name]), None))
