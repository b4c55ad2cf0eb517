"""``tcp_congestion_ops``: BPF TCP congestion control (net/ipv4/bpf_tcp_ca.c,
net/ipv4/tcp_cong.c).

Modelled (Linux 6.12/6.18): ``init_member`` copies ``flags`` (only
``TCP_CONG_NON_RESTRICTED`` allowed) and ``name`` (must be a non-empty,
NUL-terminated string not already registered: ``-EEXIST``), returning 1;
``validate``/``reg`` (``tcp_validate_congestion_control`` /
``tcp_register_congestion_control``) need ``ssthresh``, ``undo_cwnd`` and one of
``cong_avoid``/``cong_control`` (``-EINVAL``); ``update`` replaces a registered
algorithm of the same name. Programs may call helpers (``bpf_tcp_ca_get_func_proto``
falls back to the base set). The registered algorithms live in a per-kernel
table; nothing is attached to any socket.
"""

from __future__ import annotations

import errno
import struct

from ..struct_ops import MemberDesc, StructOps, VerifierPolicy

__all__ = ["make_ops", "TCP_CONG_NON_RESTRICTED", "TCP_CA_NAME_MAX"]

TCP_CONG_NON_RESTRICTED = 0x1
TCP_CA_NAME_MAX = 16
#: helpers a tcp_congestion_ops program may call here (bpf_base_func_proto subset + tcp ones)
_HELPERS = frozenset({1, 2, 3, 5, 6, 7, 8, 14})

_MEMBERS = ("ssthresh", "cong_avoid", "set_state", "cwnd_event", "in_ack_event", "pkts_acked",
            "min_tso_segs", "cong_control", "undo_cwnd", "sndbuf_expand", "init", "release")
_STUBS = {m: f"bpf_tcp_ca_{m}" for m in _MEMBERS}
_STUBS["init"] = "__bpf_tcp_ca_init"
_STUBS["release"] = "__bpf_tcp_ca_release"
# get_info has no stub in this model: it is an unsupported member


def make_ops() -> StructOps:
    registered: dict[str, object] = {}

    def init_member(m: MemberDesc, kdata: bytearray, udata: bytes) -> int:
        if m.name == "flags":
            (flags,) = struct.unpack_from("<I", udata, m.offset)
            if flags & ~TCP_CONG_NON_RESTRICTED:
                return -errno.EINVAL
            struct.pack_into("<I", kdata, m.offset, flags)
            return 1
        if m.name == "name":
            raw = bytes(udata[m.offset:m.offset + TCP_CA_NAME_MAX])
            if b"\0" not in raw or raw[0] == 0:
                return -errno.EINVAL
            name = raw.split(b"\0", 1)[0].decode("latin-1")
            if name in registered:
                return -errno.EEXIST
            kdata[m.offset:m.offset + TCP_CA_NAME_MAX] = raw
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
        registered.pop(_name(kd), None)
        return 0

    def update(new, old, link) -> int:  # type: ignore[no-untyped-def]
        err = validate(new)
        if err:
            return err
        if _name(new) != _name(old):
            return -errno.EINVAL
        registered[_name(new)] = new
        return 0

    ops = StructOps(name="tcp_congestion_ops", cfi_stubs=_STUBS, init_member=init_member, reg=reg,
                    unreg=unreg, update=update, validate=validate,
                    policy=VerifierPolicy(helpers=_HELPERS))
    ops.private["registered"] = registered
    return ops
