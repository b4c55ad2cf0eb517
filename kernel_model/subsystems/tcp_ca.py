"""``tcp_congestion_ops``: BPF TCP congestion control (net/ipv4/bpf_tcp_ca.c,
net/ipv4/tcp_cong.c).

Modelled (Linux 6.12/6.18): ``bpf_tcp_ca_init_member`` copies ``flags`` (only
``TCP_CONG_MASK`` = ``TCP_CONG_NON_RESTRICTED | TCP_CONG_NEEDS_ECN`` allowed,
``-EINVAL``) and ``name`` (``bpf_obj_name_cpy``: non-empty, NUL-terminated within
16 bytes, only ``[A-Za-z0-9_.]``, else ``-EINVAL``), returning 1; it does *not*
look at the registered names. ``validate``/``reg`` (``tcp_validate_congestion_control``
/ ``tcp_register_congestion_control``) need ``ssthresh``, ``undo_cwnd`` and one of
``cong_avoid``/``cong_control`` (``-EINVAL``); ``reg`` refuses a name already
registered (``-EEXIST``: the jhash key is found), including the kernel's own
algorithms (``reno``, ``cubic`` and ``bbr`` on the 6.18 host); ``update``
(``tcp_update_congestion_control``) needs the old algorithm registered under
the new one's name (``-EINVAL``) and replaces it. Programs may call helpers
(``bpf_tcp_ca_get_func_proto`` falls back to the base set). The registered
algorithms live in a per-kernel table; nothing is attached to any socket.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from functools import lru_cache

from ..btf import BTF, Composite
from ..btf import structs as S

from ..struct_ops import MemberDesc, StructOps, VerifierPolicy

__all__ = ["make_ops", "tcp_sock_layout", "Field", "WRITABLE_FIELDS", "TCP_CONG_NON_RESTRICTED", "TCP_CONG_NEEDS_ECN", "TCP_CONG_MASK", "TCP_CA_NAME_MAX",
           "BUILTIN_ALGORITHMS"]

#: include/net/tcp.h
TCP_CONG_NON_RESTRICTED = 0x1
TCP_CONG_NEEDS_ECN = 0x2
TCP_CONG_MASK = TCP_CONG_NON_RESTRICTED | TCP_CONG_NEEDS_ECN
TCP_CA_NAME_MAX = 16
#: the algorithms built into the 6.18 host (/proc/sys/net/ipv4/tcp_available_congestion_control)
BUILTIN_ALGORITHMS = ("reno", "bbr", "cubic")
#: helpers a tcp_congestion_ops program may call here: ``bpf_tcp_ca_get_func_proto``
#: (net/ipv4/bpf_tcp_ca.c) names ktime_get_coarse_ns (160) itself and falls back to
#: ``bpf_base_func_proto``, of which this is the subset the verifier model has
#: prototypes for, jiffies64 (118) included; and its own cases: sk_storage_get/delete
#: (107, 108), setsockopt/getsockopt (49, 57: not from ``release``, the policy's
#: member_refused_helpers) and tcp_send_ack (116), by the kernel symbols of _HELPER_SYMBOLS
_HELPERS = frozenset({1, 2, 3, 5, 6, 7, 8, 14, 118, 160, 107, 108, 49, 57, 116})

#: bpf_tcp_ca_get_func_proto's own prototypes (net/ipv4/bpf_tcp_ca.c, 6.12/6.18): the
#: socket storage and sockopt helpers take the socket as a BTF pointer
_HELPER_SYMBOLS = ((107, "bpf_sk_storage_get_proto"), (108, "bpf_sk_storage_delete_proto"),
                   (49, "bpf_sk_setsockopt_proto"), (57, "bpf_sk_getsockopt_proto"),
                   (116, "bpf_tcp_send_ack_proto"))

_MEMBERS = ("ssthresh", "cong_avoid", "set_state", "cwnd_event", "in_ack_event", "pkts_acked",
            "min_tso_segs", "cong_control", "undo_cwnd", "sndbuf_expand", "init", "release")
_STUBS = {m: f"bpf_tcp_ca_{m}" for m in _MEMBERS}
_STUBS["init"] = "__bpf_tcp_ca_init"
_STUBS["release"] = "__bpf_tcp_ca_release"
# get_info has no stub in this model: it is an unsupported member


def make_ops() -> StructOps:
    registered: dict[str, object] = {name: "built-in" for name in BUILTIN_ALGORITHMS}

    def init_member(m: MemberDesc, kdata: bytearray, udata: bytes) -> int:
        if m.name == "flags":
            (flags,) = struct.unpack_from("<I", udata, m.offset)
            if flags & ~TCP_CONG_MASK:
                return -errno.EINVAL
            struct.pack_into("<I", kdata, m.offset, flags)
            return 1
        if m.name == "name":
            raw = bytes(udata[m.offset:m.offset + TCP_CA_NAME_MAX])
            if b"\0" not in raw or raw[0] == 0:  # bpf_obj_name_cpy() <= 0
                return -errno.EINVAL
            name = raw.split(b"\0", 1)[0]
            if not all(chr(c).isalnum() or c in b"_." for c in name):
                return -errno.EINVAL
            kdata[m.offset:m.offset + TCP_CA_NAME_MAX] = name.ljust(TCP_CA_NAME_MAX, b"\0")
            return 1
        return 0

    def _name(kd) -> str:  # type: ignore[no-untyped-def]
        return kd.read_member("name").split(b"\0", 1)[0].decode("latin-1")

    def validate(kd) -> int:  # type: ignore[no-untyped-def]
        if not kd.func_ptr("ssthresh") or not kd.func_ptr("undo_cwnd") or not (
                kd.func_ptr("cong_avoid") or kd.func_ptr("cong_control")):
            return -errno.EINVAL
        return 0

    def reg(kd, link) -> int:  # type: ignore[no-untyped-def]
        err = validate(kd)
        if err:
            return err
        name = _name(kd)
        if name in registered:
            return -errno.EEXIST
        registered[name] = kd
        return 0

    def unreg(kd, link) -> int:  # type: ignore[no-untyped-def]
        if getattr(registered.get(_name(kd)), "addr", None) == kd.addr:
            del registered[_name(kd)]
        return 0

    def update(new, old, link) -> int:  # type: ignore[no-untyped-def]
        err = validate(new)
        if err:
            return err
        existing = registered.get(_name(old))
        if existing is None or _name(old) != _name(new):  # "not registered or non-unique key"
            return -errno.EINVAL
        if getattr(existing, "addr", None) != old.addr:  # "invalid old congestion control algorithm"
            return -errno.EINVAL
        del registered[_name(old)]
        registered[_name(new)] = new
        return 0

    ops = StructOps(name="tcp_congestion_ops", cfi_stubs=_STUBS, init_member=init_member, reg=reg,
                    unreg=unreg, update=update, validate=validate,
                    policy=VerifierPolicy(helpers=_HELPERS, btf_struct_access=_btf_struct_access,
                                          helper_symbols=_HELPER_SYMBOLS,
                                          member_refused_helpers=(("release", frozenset({49, 57})),),
                                          # bpf_tcp_ca_is_valid_access (net/ipv4/bpf_tcp_ca.c)
                                          ctx_arg_promote=(("sock", "tcp_sock"),)))
    ops.private["registered"] = registered
    return ops


#: the ``struct tcp_sock`` members ``bpf_tcp_ca_btf_struct_access`` lets a program write
#: (net/ipv4/bpf_tcp_ca.c, Linux 6.12/6.18), in the kernel's order
WRITABLE_FIELDS = ("sk_pacing_rate", "sk_pacing_status", "icsk_ca_priv", "icsk_ack.pending", "snd_cwnd",
                   "snd_cwnd_cnt", "snd_cwnd_stamp", "snd_ssthresh", "ecn_flags", "app_limited")


@dataclass(frozen=True, slots=True)
class Field:
    """A member of ``struct tcp_sock`` (through the structs it embeds): byte offset,
    byte size of its storage, and for a bitfield its bit offset and width."""

    name: str
    offset: int
    size: int
    bit_offset: int = 0
    bits: int = 0


def tcp_sock_layout(btf: BTF) -> dict[str, Field]:
    """Every named member reachable by value from ``struct tcp_sock`` (``snd_cwnd``,
    ``icsk_ca_state``, ``sk_pacing_rate`` ...; nested named structs as
    ``icsk_ack.pending``), first occurrence wins, as C name lookup through
    anonymous members."""
    tid = btf.find("tcp_sock", S.KIND_STRUCT)
    if tid is None:
        raise KeyError("the kernel BTF has no struct tcp_sock")
    out: dict[str, Field] = {}

    def walk(t_id: int, base_bits: int, prefix: str, depth: int) -> None:
        t = btf.resolve(t_id)
        if not isinstance(t, Composite) or depth > 8:
            return
        for m in t.members:
            bits = base_bits + m.bits_offset
            mt = btf.resolve(m.type_id)
            if not m.name:
                walk(m.type_id, bits, prefix, depth + 1)
                continue
            name = prefix + m.name
            if m.bitfield_size:
                start = bits // 8
                out.setdefault(name, Field(name, start, (bits % 8 + m.bitfield_size + 7) // 8, bits % 8,
                                           m.bitfield_size))
                continue
            out.setdefault(name, Field(name, bits // 8, btf.size_of(m.type_id)))
            if isinstance(mt, Composite):
                # the embedded socket structs' members are reachable by their own names (the
                # C casts inet_csk(sk), tcp_sk(sk) ...); other named structs as a.b
                embedded = mt.name in ("sock", "sock_common", "inet_sock", "inet_connection_sock")
                walk(m.type_id, bits, "" if embedded else name + ".", depth + 1)

    walk(tid, 0, "", 0)
    return out


@lru_cache(maxsize=1)
def _vmlinux_layout() -> tuple[dict[str, Field], dict[int, int]]:
    from ..vmlinux import build_vmlinux_btf

    layout = tcp_sock_layout(build_vmlinux_btf())
    ends = {}
    for name in WRITABLE_FIELDS:
        f = layout[name]
        ends[f.offset] = f.offset + f.size
    return layout, ends


def _btf_struct_access(type_name: str, type_size: int, off: int, size: int) -> str | None:
    """``bpf_tcp_ca_btf_struct_access`` (net/ipv4/bpf_tcp_ca.c, 6.12/6.18): only
    ``struct tcp_sock`` is writable, and only :data:`WRITABLE_FIELDS` (a write must
    start at one of them -- anywhere inside ``icsk_ca_priv`` -- and end inside it).
    The ``struct sock *`` argument arrives as ``struct tcp_sock *``
    (``bpf_tcp_ca_is_valid_access``, the policy's ``ctx_arg_promote``)."""
    if type_name != "tcp_sock":
        return "only read is supported"
    layout, ends = _vmlinux_layout()
    priv = layout["icsk_ca_priv"]
    if priv.offset <= off < priv.offset + priv.size:
        end = priv.offset + priv.size
    elif off in ends:
        end = ends[off]
    else:
        return f"no write support to tcp_sock at off {off}"
    if off + size > end:
        return f"write access at off {off} with size {size} beyond the member of tcp_sock ended at {end}"
    return None
