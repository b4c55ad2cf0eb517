#!/usr/bin/env python3
"""Generate kernel_model/vmlinux_net.py: the host's socket types as C declarations.

The emulated vmlinux describes ``struct tcp_sock`` and what it embeds
(``inet_connection_sock``, ``inet_sock``, ``sock``, ``sock_common`` ...) with the
layout of a real kernel's BTF, so that BPF congestion controls compiled against
either vmlinux.h (ours or the real one) relocate to the same offsets. This
script reads a kernel's raw BTF (default /sys/kernel/btf/vmlinux) with the
project's BTF reader, keeps the closure of the root types *by value* (embedded
structs, unions, arrays, enums, typedefs), turns every pointer to a struct into
a pointer to a forward declaration and every function pointer into ``void *``,
and prints the result as C (the dumper pads members to their exact offsets).
The product never runs this: it imports the generated module.

    python3 tools/gen_net_btf.py [/sys/kernel/btf/vmlinux] > kernel_model/vmlinux_net.py
"""

from __future__ import annotations

import os
import platform
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernel_model.btf import (  # noqa: E402
    BTF, Array, CDumper, Fwd, Member, Ptr, Struct, Typedef, Union, load, structs as S,
)

#: the structs the generated text defines with all their members (and what they embed)
ROOT_STRUCTS = ("tcp_sock",)
#: enums BPF congestion controls use by name (include/net/tcp.h, include/net/sock.h,
#: include/net/inet_connection_sock.h)
ROOT_ENUMS = ("tcp_ca_state", "tcp_ca_ack_event_flags", "sk_pacing", "inet_csk_ack_state_t")
#: types the emulated vmlinux (kernel_model/vmlinux.py BASE_C) already defines: the
#: generated text refers to them but does not define them again (those embedded by value
#: are kept in the subset, so the dumper knows their layout, and cut from the text)
BASE_DEFINED = ("list_head", "refcount_struct", "module", "task_struct", "tcp_congestion_ops",
                "ack_sample", "rate_sample", "rb_node", "rb_root")
BASE_TYPEDEFS = ("refcount_t", "atomic_t")


class Subset:
    def __init__(self, host: BTF) -> None:
        self.host = host
        self.out = BTF()
        self.memo: dict[tuple[int, bool], int] = {}

    def conv(self, tid: int, behind_ptr: bool = False) -> int:
        key = (tid, behind_ptr)
        if key in self.memo or tid == 0:
            return self.memo.get(key, 0)
        h, out = self.host, self.out
        t = h[tid]
        k = t.kind
        if k in (S.KIND_STRUCT, S.KIND_UNION):
            if t.name and behind_ptr:
                nid = out.add(Fwd(t.name, k == S.KIND_UNION))
                self.memo[key] = nid
                return nid
            cls = Struct if k == S.KIND_STRUCT else Union
            nid = out.add(cls(t.name, t.size, ()))
            self.memo[key] = nid
            self.memo[(tid, True)] = nid
            mems = tuple(Member(m.name, self.conv(m.type_id), m.bits_offset, m.bitfield_size) for m in t.members)
            out.replace(nid, cls(t.name, t.size, mems, t.kflag))
            return nid
        if k == S.KIND_PTR:
            tgt = h.skip_modifiers(t.type_id) if t.type_id else 0
            if not tgt or h[tgt].kind == S.KIND_FUNC_PROTO:
                nid = out.add(Ptr(0))
            else:
                nid = out.add(Ptr(self.conv(t.type_id, True)))
        elif k == S.KIND_TYPE_TAG:  # __rcu, __percpu ...: dropped, as in a vmlinux.h without tags
            return self.conv(t.type_id, behind_ptr)
        elif k in (S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT):
            nid = out.add(type(t)(self.conv(t.type_id, behind_ptr)))  # type: ignore[call-arg]
        elif k == S.KIND_TYPEDEF:
            nid = out.add(Typedef(t.name, self.conv(t.type_id, behind_ptr)))
        elif k == S.KIND_ARRAY:
            nid = out.add(Array(self.conv(t.type_id), self.conv(t.index_type_id), t.nelems))
        elif k in (S.KIND_INT, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_FLOAT, S.KIND_FWD):
            nid = out.add(t)
        else:
            raise SystemExit(f"gen_net_btf: type [{tid}] of kind {t.kind_name} is not handled")
        self.memo[key] = nid
        return nid


def _without_base(text: str) -> str:
    """The dumper's output less the definitions BASE_C already has."""
    keep = []
    for block in text.split("\n\n"):
        head = block.strip()
        if head.startswith("/* BPF kfuncs */"):  # the (empty) kfunc block: the subset has no FUNCs
            continue
        if any(head.startswith((f"struct {n} {{", f"struct {n};")) for n in BASE_DEFINED):
            continue
        if head.startswith("typedef") and any(head.endswith(f" {n};") for n in BASE_TYPEDEFS):
            continue
        keep.append(block)
    return "\n\n".join(keep)


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/sys/kernel/btf/vmlinux"
    host = load(path)
    sub = Subset(host)
    sizes = {}
    for name in ROOT_STRUCTS:
        tid = host.find(name, S.KIND_STRUCT)
        if tid is None:
            raise SystemExit(f"gen_net_btf: {path} has no struct {name}")
        sub.conv(tid)
    for name in ROOT_ENUMS:
        tid = host.find(name, S.KIND_ENUM)
        if tid is None:
            raise SystemExit(f"gen_net_btf: {path} has no enum {name}")
        sub.conv(tid)
    for name in ("tcp_sock", "inet_connection_sock", "inet_sock", "sock", "sock_common"):
        sizes[name] = host.size_of(host.find(name, S.KIND_STRUCT))
    text = _without_base(CDumper(sub.out).definitions())
    release = platform.release() if path == "/sys/kernel/btf/vmlinux" else os.path.basename(path)
    print('"""Generated by tools/gen_net_btf.py from the BTF of Linux ' + release + ': do not edit.')
    print()
    print("``struct tcp_sock`` and every type it embeds, with the member offsets of that kernel;")
    print("pointers to other structs point to forward declarations, function pointers are")
    print("``void *``. kernel_model/vmlinux.py appends :data:`NET_C` to the emulated vmlinux.")
    print('"""')
    print()
    print("#: the kernel release the layouts were read from")
    print(f"SOURCE_RELEASE = {release!r}")
    print("#: sizeof() of the main socket structs in that kernel (checked by the tests)")
    print(f"SIZES = {sizes!r}")
    print()
    print('NET_C = r"""')
    print(text.rstrip())
    print('"""')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
