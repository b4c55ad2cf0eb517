"""``tcp_congestion_ops`` driven by a simulated TCP sender, in the emulated kernel.

:class:`kernel_model.subsystems.tcp_sender.Simulation` decides when the kernel
calls which member; this module supplies the algorithms:

* the built-ins (``reno``: :class:`~kernel_model.subsystems.tcp_cong.Reno`,
  ``cubic``: :class:`~kernel_model.subsystems.tcp_cubic.Cubic`), plain Python;
* a BPF congestion control: a clang-compiled object loaded by :mod:`emu.libbpf`
  into a :class:`~emu.kernel.Kernel`, its ``tcp_congestion_ops`` map registered
  (``tcp_register_congestion_control`` through the link or map update), each flow
  a ``struct tcp_sock`` in emulated kernel memory laid out as the vmlinux BTF
  says. A member call copies the simulator's socket fields into that memory, calls
  the member through its trampoline (``bpf_struct_ops_call_member`` -> trampoline
  -> JIT'd program, in Unicorn), and copies back the fields a BPF congestion
  control may write (``bpf_tcp_ca_btf_struct_access``:
  :data:`~kernel_model.subsystems.tcp_ca.WRITABLE_FIELDS`, ``icsk_ca_priv``
  included, so the program's private state lives in the socket as in the kernel).
  ``pkts_acked`` gets a ``struct ack_sample``, ``cong_control`` a ``struct
  rate_sample`` in kernel memory.

::

    from emu.sim.tcp import run_tcp
    from kernel_model.subsystems.tcp_sender import LinkConfig
    res = run_tcp(LinkConfig(bw_mbit=100, rtt_ms=20, duration=5), algo="cubic")
    res.summary["flows"][0]["goodput_mbit"]
    res = run_tcp(LinkConfig(duration=2), obj_path="my_cc.bpf.o")   # the object's one tcp_congestion_ops map
"""

from __future__ import annotations

import ctypes
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

from emu.machine.regs import RAW
from kernel_model.errors import InputError, KernelError
from kernel_model.kconfig import DEFAULT as DEFAULT_KCONFIG
from kernel_model.kconfig import KernelConfig
from kernel_model.subsystems.tcp_ca import WRITABLE_FIELDS, Field, tcp_sock_layout
from kernel_model.subsystems.tcp_cong import Reno
from kernel_model.subsystems.tcp_cubic import Cubic
from kernel_model.subsystems.tcp_sender import LinkConfig, Simulation, TcpSock

__all__ = ["BUILTIN", "BpfCongestionOps", "TcpSimResult", "run_tcp", "load_bpf_ca"]

#: the built-in algorithms by name, made for a kernel's CONFIG_HZ
BUILTIN: dict[str, Callable[[int], Any]] = {"reno": lambda hz: Reno(), "cubic": Cubic}

#: the fields the simulator keeps and copies into the emulated socket before a call
_IN_FIELDS = ("snd_cwnd", "snd_ssthresh", "snd_cwnd_cnt", "snd_cwnd_clamp", "snd_cwnd_stamp", "prior_cwnd",
              "prior_ssthresh", "snd_una", "snd_nxt", "rcv_nxt", "high_seq", "delivered", "delivered_ce",
              "tcp_mstamp", "lsndtime", "srtt_us", "mdev_us", "packets_out", "sacked_out", "lost_out",
              "retrans_out", "max_packets_out", "is_cwnd_limited", "undo_marker", "ecn_flags", "app_limited",
              "mss_cache", "icsk_ca_state", "sk_pacing_rate", "sk_pacing_status", "prr_delivered", "prr_out")
#: what comes back (bpf_tcp_ca_btf_struct_access's fields; icsk_ca_priv stays in the mirror)
_OUT_FIELDS = tuple(f for f in WRITABLE_FIELDS if f not in ("icsk_ca_priv", "icsk_ack.pending"))
_FUNC_MEMBERS = ("ssthresh", "cong_avoid", "set_state", "cwnd_event", "in_ack_event", "pkts_acked",
                 "min_tso_segs", "cong_control", "undo_cwnd", "sndbuf_expand", "init", "release")


@dataclass
class TcpSimResult:
    """One run: the samples (dicts, one per flow per sampling instant), the summary,
    and the wall-clock seconds it took."""

    samples: list[dict[str, Any]]
    summary: dict[str, Any]
    wall_seconds: float
    #: seconds spent inside emulated member calls (BPF only; timing is not part of the
    #: summary so that a run's JSON depends on its inputs alone)
    member_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "summary": self.summary}


class _Codec:
    """Reads and writes :class:`TcpSock` fields in a ``struct tcp_sock`` image: the
    plain fields with one precompiled :class:`struct.Struct` (pad bytes between
    them), the bitfields one by one."""

    _CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}

    def __init__(self, layout: dict[str, Field]) -> None:
        self.in_plain, self.in_bits, self.in_lo = self._compile([layout[n] for n in _IN_FIELDS])
        self.out_plain, self.out_bits, self.out_lo = self._compile([layout[n] for n in _OUT_FIELDS])
        self.in_names = [n for n in _IN_FIELDS if not layout[n].bits]
        self.in_masks = [(1 << (8 * layout[n].size)) - 1 for n in self.in_names]
        self.out_names = [n for n in _OUT_FIELDS if not layout[n].bits]

    def _compile(self, fields: list[Field]) -> tuple[struct.Struct, list[tuple[str, int, int, int]], int]:
        plain = sorted((f for f in fields if not f.bits), key=lambda f: f.offset)
        fmt = "<"
        cur = plain[0].offset
        for f in plain:
            if f.offset < cur:
                raise ValueError(f"tcp_sock field {f.name} overlaps the one before it")
            fmt += "x" * (f.offset - cur) + self._CODES[f.size]
            cur = f.offset + f.size
        bits = [(f.name, f.offset, f.bit_offset, (1 << f.bits) - 1) for f in fields if f.bits]
        self._order = {f.name: i for i, f in enumerate(plain)}
        return struct.Struct(fmt), bits, plain[0].offset

    def pack(self, sk: TcpSock, buf: Any) -> None:
        """The simulator's fields into ``buf``. The precompiled format's pad bytes
        write zeros: the members between the fields that a program may write
        (``icsk_ca_priv``, ``icsk_ack.pending``) are kept across it."""
        d = sk.__dict__
        vals = [d[n] & mk for n, mk in zip(self.in_names_sorted, self.in_masks_sorted)]
        kept = [(lo, bytes(buf[lo:hi])) for lo, hi in self.keep]
        self.in_plain.pack_into(buf, self.in_lo, *vals)
        for lo, data in kept:
            buf[lo:lo + len(data)] = data
        for name, off, bit, mask in self.in_bits:
            buf[off] = (buf[off] & ~(mask << bit) & 0xFF) | ((d[name] & mask) << bit)

    def unpack(self, sk: TcpSock, buf: bytes) -> None:
        d = sk.__dict__
        for name, v in zip(self.out_names_sorted, self.out_plain.unpack_from(buf, self.out_lo)):
            d[name] = v
        for name, off, bit, mask in self.out_bits:
            d[name] = (buf[off] >> bit) & mask

    def finish(self, layout: dict[str, Field]) -> "_Codec":
        self.keep = [(layout[n].offset, layout[n].offset + layout[n].size) for n in ("icsk_ca_priv", "icsk_ack.pending")]
        self.in_names_sorted = sorted(self.in_names, key=lambda n: layout[n].offset)
        self.in_masks_sorted = [(1 << (8 * layout[n].size)) - 1 for n in self.in_names_sorted]
        self.out_names_sorted = sorted(self.out_names, key=lambda n: layout[n].offset)
        return self


class BpfCongestionOps:
    """A registered BPF ``tcp_congestion_ops`` as the simulator's algorithm."""

    def __init__(self, kernel: Any, map_fd: int) -> None:
        self.kernel = kernel
        mo = kernel.fds.objects[map_fd]
        st = mo.st_map
        kd = st.kdata()
        self.map_fd = map_fd
        self.kdata_addr = st.kdata_addr
        self.offsets = {m.name: m.offset for m in st.desc.members if m.is_func}
        self.members = frozenset(m for m in _FUNC_MEMBERS if m in self.offsets and kd.func_ptr(m))
        self.name = kd.read_member("name").split(b"\0", 1)[0].decode("latin-1")
        self.flags = int.from_bytes(kd.read_member("flags"), "little")
        self.machine = kernel.machine
        self.clock = kernel.tcp_clock
        btf = kernel.btf
        self.layout = tcp_sock_layout(btf)
        self.size = btf.size_of(btf.find("tcp_sock", 4))
        self.codec = _Codec(self.layout).finish(self.layout)
        from emu.kernel.kobjects import KObject
        self._refcnt_off = KObject(self.machine, btf, btf.find("sock_common", 4), 0).offset_of("skc_refcnt")
        self._socks: dict[int, tuple[int, Any, int, int, int]] = {}
        self.member_calls = 0
        self.member_seconds = 0.0
        self._check_registered()

    def _check_registered(self) -> None:
        # call_struct_ops' rule: only a registered map's members are called
        from emu.kernel.syscall import LinkObject

        mo = self.kernel.fds.objects[self.map_fd]
        st = mo.st_map
        if not (st.state == 1 or any(isinstance(o, LinkObject) and o.link.map is st
                                     for o in self.kernel.objects("link"))):
            raise KernelError(2, f"tcp_congestion_ops {self.name} is not registered")

    def _sock(self, sk: TcpSock) -> tuple[int, Any, int, int, int]:
        """(address, image buffer, ack_sample address, rate_sample address, host address)
        of the flow's socket: kzalloc'd once, then moved with raw uc_mem_write/read of
        one preallocated buffer (no copies per call)."""
        got = self._socks.get(sk.flow)
        if got is None:
            m = self.machine
            addr = m.alloc.kzalloc(self.size)
            sample = m.alloc.kzalloc(16)  # struct ack_sample
            rs = m.alloc.kzalloc(96)  # struct rate_sample
            m.write(addr, bytes(self.size))  # materialise the pages
            img = (ctypes.c_ubyte * self.size)()
            # a live socket holds a reference (sk_refcnt 1: what bpf_sk_storage_get/delete's
            # refcount_inc_not_zero finds); the codec writes only the congestion fields
            img[self._refcnt_off] = 1
            got = (addr, img, sample, rs, m.mem.host_addr(addr))
            self._socks[sk.flow] = got
        return got

    def socket_address(self, sk: TcpSock) -> int:
        """Where the flow's ``struct tcp_sock`` is in the emulated kernel (allocated on first use)."""
        return self._sock(sk)[0]

    def forget_sockets(self) -> None:
        """Start the next simulation with fresh sockets (the old blocks stay allocated)."""
        self._socks.clear()

    def call(self, sk: TcpSock, member: str, *args: int) -> int:
        """``ops->member(sk, args...)``: the socket copied in, the member called through
        its trampoline, the socket copied back; returns rax."""
        addr, buf, _, _, host = self._sock(sk)
        m = self.machine
        hp = m.fast.hp
        n = ctypes.c_uint64(self.size)
        h = ctypes.c_uint64(host)
        self.codec.pack(sk, buf)
        self.clock.jiffies64 = sk.jiffies64
        if RAW.uc_mem_write(hp, h, buf, n):
            raise KernelError(14, f"tcp_sock at {addr:#x} is not mapped")
        t = time.perf_counter()
        try:
            r = m.call_member(self.kdata_addr, self.offsets[member], [addr] + [a & 0xFFFFFFFFFFFFFFFF for a in args])
        finally:
            self.member_seconds += time.perf_counter() - t
            self.member_calls += 1
        if RAW.uc_mem_read(hp, h, buf, n):
            raise KernelError(14, f"tcp_sock at {addr:#x} is not mapped")
        self.codec.unpack(sk, buf)
        return r

    # the members, as the simulator calls them
    def init(self, sk: TcpSock) -> None:
        self.call(sk, "init")

    def release(self, sk: TcpSock) -> None:
        self.call(sk, "release")

    def ssthresh(self, sk: TcpSock) -> int:
        return self.call(sk, "ssthresh") & 0xFFFFFFFF

    def undo_cwnd(self, sk: TcpSock) -> int:
        return self.call(sk, "undo_cwnd") & 0xFFFFFFFF

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        self.call(sk, "cong_avoid", ack, acked)

    def set_state(self, sk: TcpSock, state: int) -> None:
        self.call(sk, "set_state", state)

    def cwnd_event(self, sk: TcpSock, ev: int) -> None:
        self.call(sk, "cwnd_event", ev)

    def in_ack_event(self, sk: TcpSock, flags: int) -> None:
        self.call(sk, "in_ack_event", flags)

    def pkts_acked(self, sk: TcpSock, pkts_acked: int, rtt_us: int, in_flight: int) -> None:
        sample = self._sock(sk)[2]
        self.machine.write(sample, struct.pack("<IiI", pkts_acked & 0xFFFFFFFF, rtt_us, in_flight & 0xFFFFFFFF))
        self.call(sk, "pkts_acked", sample)

    def cong_control(self, sk: TcpSock, ack: int, flag: int, rs: dict[str, Any]) -> None:
        rsa = self._sock(sk)[3]
        # struct rate_sample (include/net/tcp.h): prior_mstamp u64, prior_delivered u32,
        # prior_delivered_ce u32, delivered s32, delivered_ce s32, interval_us long,
        # snd_interval_us u32, rcv_interval_us u32, rtt_us long, losses int, acked_sacked u32,
        # prior_in_flight u32, last_end_seq u32, is_app_limited, is_retrans, is_ack_delayed bool
        img = struct.pack("<QIIiiqIIqiIII???", 0, rs["prior_delivered"] & 0xFFFFFFFF, 0, rs["delivered"],
                          rs["delivered_ce"] & 0x7FFFFFFF, rs["interval_us"], 0, 0, rs["rtt_us"], rs["losses"],
                          rs["acked_sacked"], rs["prior_in_flight"], 0, bool(rs["is_app_limited"]), False, False)
        self.machine.write(rsa, img)
        self.call(sk, "cong_control", ack, flag, rsa)


def load_bpf_ca(path: str, map_name: str | None = None, *, kernel: Any = None,
                kconfig: KernelConfig = DEFAULT_KCONFIG) -> tuple[Any, Any, BpfCongestionOps]:
    """Open, load and register the ``tcp_congestion_ops`` map ``map_name`` (default:
    the object's only one) of a BPF object in an emulated kernel; returns
    (kernel, object, ops); without ``kernel`` a new one built with ``kconfig``. Other struct_ops maps of the object are not created.
    Raises :class:`~emu.libbpf.errors.ProgLoadFailed` when the verifier refuses a
    program, :class:`KernelError` when registration fails."""
    from emu.kernel import Kernel
    from emu.libbpf import BpfObject, Log

    obj = BpfObject.open_file(path, log=Log(stream=None))
    ca_maps = [m for m in obj.maps if m.is_struct_ops and _st_type(obj, m) == "tcp_congestion_ops"]
    if not ca_maps:
        raise InputError(f"{path}: no tcp_congestion_ops struct_ops map (SEC(\".struct_ops\") variable)")
    if map_name is None:
        if len(ca_maps) > 1:
            names = ", ".join(m.name for m in ca_maps)
            raise InputError(f"{path}: several tcp_congestion_ops maps ({names}): choose one with --map")
        chosen = ca_maps[0]
    else:
        named = next((m for m in ca_maps if m.name == map_name), None)
        if named is None:
            raise InputError(f"{path}: no tcp_congestion_ops map {map_name!r} "
                             f"(has: {', '.join(m.name for m in ca_maps)})")
        chosen = named
    for m in obj.maps:
        if m.is_struct_ops and m is not chosen:
            m.set_autocreate(False)
    for p in obj.progs.values():
        p.set_log_level(1)
    k = kernel if kernel is not None else Kernel(kconfig=kconfig)
    obj.load(k)
    obj.attach_struct_ops(chosen.name)
    return k, obj, BpfCongestionOps(k, chosen.fd)


def _st_type(obj: Any, m: Any) -> str:
    t = obj.btf.type_by_id(obj.btf.skip_modifiers(m.btf_value_type_id)) if getattr(m, "btf_value_type_id", 0) else None
    return (getattr(t, "name", "") or "").split("___", 1)[0]  # libbpf's ___flavor suffix


def run_tcp(cfg: LinkConfig, *, algo: str = "cubic", obj_path: str | None = None, map_name: str | None = None,
            progress: Callable[[float], None] | None = None,
            kconfig: KernelConfig = DEFAULT_KCONFIG) -> TcpSimResult:
    """Simulate ``cfg`` with a built-in algorithm (``algo``) or, with ``obj_path``,
    the BPF congestion control in that object (every flow runs it), in a kernel built
    with ``kconfig`` (its ``CONFIG_HZ`` is the jiffies clock; a BPF program's
    ``__kconfig`` externs read it)."""
    t0 = time.perf_counter()
    bpf: BpfCongestionOps | None = None
    kernel = None
    if obj_path is not None:
        kernel, _obj, bpf = load_bpf_ca(obj_path, map_name, kconfig=kconfig)
        ops_for: Callable[[int], Any] = lambda i: bpf
    else:
        if algo not in BUILTIN:
            raise InputError(f"unknown algorithm {algo!r} (built in: {', '.join(BUILTIN)})")
        ops_for = lambda i: BUILTIN[algo](kconfig.hz)  # noqa: E731
    try:
        sim = Simulation(cfg, ops_for, progress=progress, hz=kconfig.hz)
        sim.run()
    finally:
        if kernel is not None:
            kernel.shutdown()
    wall = time.perf_counter() - t0
    summary = sim.summary()
    summary["algorithm"] = bpf.name if bpf is not None else algo
    summary["bpf"] = bpf is not None
    if bpf is not None:
        summary["emulated_member_calls"] = bpf.member_calls
    samples = [{"t": round(s.t, 6), "flow": s.flow, "cwnd": s.cwnd, "ssthresh": s.ssthresh, "srtt_ms": s.srtt_ms,
                "in_flight": s.in_flight, "delivered": s.delivered, "lost": s.lost, "ca_state": s.state}
               for s in sim.samples]
    return TcpSimResult(samples, summary, wall, bpf.member_seconds if bpf is not None else 0.0)
