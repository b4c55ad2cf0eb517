#!/usr/bin/env python3
"""Generate kernel_model/vmlinux_task.py: the host's task and cgroup structs as C declarations.

The emulated vmlinux describes ``struct task_struct``, ``struct cgroup``,
``struct cgroup_subsys_state``, ``struct css_set`` and ``struct kernfs_node``
with the member offsets of a real kernel's BTF, so that programs compiled
against either vmlinux.h (ours or the real one) relocate to the same offsets and
the verifier walks the same members. This script reads a kernel's raw BTF
(default /sys/kernel/btf/vmlinux) with the project's BTF reader and keeps, of
each of those structs (:data:`ROOTS`), the members a BPF program can read
without the model inventing anything:

* integers, enums and bitfields, arrays of them, pointers of every kind (a
  pointer to a struct stays a pointer to that struct *by name*: to the emulated
  vmlinux's definition when it has one, else to a forward declaration, which
  the verifier refuses to walk as "not modelled"; function pointers become
  ``void *``);
* embedded structs of the kinds in :data:`BASE_STRUCTS` (defined elsewhere in
  the emulated vmlinux: ``list_head``, ``callback_head`` ...; ``cpumask`` is
  the emulated one, reduced to 64 CPUs, so the rest of the host's mask is left
  as a hole), :data:`FULL_STRUCTS` (copied whole) and the other roots;
* everything else (scheduler entities, locks, timers, ``thread_struct`` ...)
  is left out as unnamed padding (``long: 64;``) at its exact place.

A struct that loses a member is listed in ``PARTIAL``:
kernel_model.vmlinux adds it to ``REDUCED_STRUCTS``, so the verifier refuses a
read that falls into a hole as "not modelled" (``verifier.btf_access``), never as
a kernel verdict. Type tags (``__rcu`` ...) are dropped, as in a BTF built by
gcc (the host's has none); typedefs are kept where the project's C prelude or
:data:`BASE_TYPEDEFS` names them, else resolved to what they name.
The product never runs this: it imports the generated module.

    python3 tools/gen_task_btf.py [/sys/kernel/btf/vmlinux] > kernel_model/vmlinux_task.py
"""

from __future__ import annotations

import os
import platform
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernel_model.btf import (  # noqa: E402
    BTF, Array, CDumper, Fwd, Member, Ptr, Struct, Typedef, Union, load, structs as S,
)
from kernel_model.btf.cdecl import BASE_TYPEDEFS as PRELUDE_TEXT  # noqa: E402

#: the structs the generated text defines (with the members described in the docstring)
ROOTS = ("task_struct", "cgroup", "cgroup_subsys_state", "css_set", "kernfs_node")
#: structs other parts of the emulated vmlinux define (kernel_model/vmlinux.py BASE_C,
#: vmlinux_net, sched_ext/core_kfuncs): embedded with *their* layout, not redefined here
BASE_STRUCTS = ("list_head", "hlist_node", "callback_head", "rb_node", "rb_root", "refcount_struct", "cpumask")
#: typedefs of anonymous structs defined elsewhere in the emulated vmlinux
BASE_TYPEDEFS = ("atomic_t", "refcount_t", "cpumask_t", "kuid_t")
#: small structs embedded whole (every member of them is kept)
FULL_STRUCTS = ("thread_info", "hlist_head")
#: the typedef names the project's C prelude declares (kernel_model/btf/cdecl.py)
PRELUDE = frozenset(re.findall(r"(\w+);", PRELUDE_TEXT))
#: the marker kernel_model/vmlinux.py replaces with sched_ext's ``scx`` member (the
#: host has no CONFIG_SCHED_CLASS_EXT: the member goes after the host's last byte)
TASK_EXTRA_MARKER = "/*@TASK_STRUCT_EXTRA@*/"


class Subset:
    """The host types the text needs, converted into a BTF of their own for the dumper."""

    def __init__(self, host: BTF, emu: BTF) -> None:
        self.host = host
        self.emu = emu
        self.out = BTF()
        self.memo: dict[tuple[int, bool], int] = {}
        self.emu_memo: dict[int, int] = {}
        #: names of the typedefs and structs copied from the emulated vmlinux (not redefined)
        self.emu_names: set[str] = set()
        self.partial: set[str] = set()
        self.kept: dict[str, list[tuple[str, int, int]]] = {}

    # -- types the emulated vmlinux already defines: copied from it, so the dumper pads around
    #    their emulated sizes (cpumask is 8 bytes there)
    def from_emu(self, tid: int) -> int:
        if tid == 0:
            return 0
        if tid in self.emu_memo:
            return self.emu_memo[tid]
        e = self.emu
        t = e[tid]
        k = t.kind
        if k in (S.KIND_STRUCT, S.KIND_UNION):
            cls = Struct if k == S.KIND_STRUCT else Union
            nid = self.out.add(cls(t.name, t.size, ()))
            self.emu_memo[tid] = nid
            if t.name:
                self.emu_names.add(t.name)
            mems = tuple(Member(m.name, self.from_emu(m.type_id), m.bits_offset, m.bitfield_size) for m in t.members)
            self.out.replace(nid, cls(t.name, t.size, mems, t.kflag))
            return nid
        if k == S.KIND_PTR:
            tgt = e[e.skip_modifiers(t.type_id)] if t.type_id else None
            if tgt is None or tgt.kind == S.KIND_FUNC_PROTO:
                nid = self.out.add(Ptr(0))
            elif tgt.kind in (S.KIND_STRUCT, S.KIND_UNION) and tgt.name:
                nid = self.out.add(Ptr(self.out.add(Fwd(tgt.name, tgt.kind == S.KIND_UNION))))
            else:
                nid = self.out.add(Ptr(self.from_emu(t.type_id)))
        elif k == S.KIND_TYPEDEF:
            self.emu_names.add(t.name)
            nid = self.out.add(Typedef(t.name, self.from_emu(t.type_id)))
        elif k == S.KIND_ARRAY:
            nid = self.out.add(Array(self.from_emu(t.type_id), self.from_emu(t.index_type_id), t.nelems))
        elif k in (S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT):
            nid = self.out.add(type(t)(self.from_emu(t.type_id)))  # type: ignore[call-arg]
        else:
            nid = self.out.add(t)
        self.emu_memo[tid] = nid
        return nid

    def emu_named(self, name: str, kind: int) -> int:
        tid = self.emu.find(name, kind)
        if tid is None:
            raise SystemExit(f"gen_task_btf: the emulated vmlinux has no {name} (kind {kind})")
        return self.from_emu(tid)

    # -- which members of a root are kept
    def keepable(self, tid: int) -> bool:
        h = self.host
        seen_typedef = None
        while True:
            t = h[tid]
            if t.kind == S.KIND_TYPEDEF:
                if seen_typedef is None:
                    seen_typedef = t.name
                if t.name in BASE_TYPEDEFS:
                    return True
                tid = t.type_id
            elif t.kind in (S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPE_TAG):
                tid = t.type_id
            elif t.kind == S.KIND_ARRAY:
                tid = t.type_id
            else:
                break
        if t.kind in (S.KIND_INT, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_PTR):
            return True
        if t.kind in (S.KIND_STRUCT, S.KIND_UNION) and t.name:
            return t.name in BASE_STRUCTS or t.name in FULL_STRUCTS or t.name in ROOTS
        return False

    def conv(self, tid: int, behind_ptr: bool = False) -> int:
        key = (tid, behind_ptr)
        if key in self.memo or tid == 0:
            return self.memo.get(key, 0)
        h, out = self.host, self.out
        t = h[tid]
        k = t.kind
        if k in (S.KIND_STRUCT, S.KIND_UNION):
            if t.name in BASE_STRUCTS:
                nid = self.emu_named(t.name, k)
                self.memo[key] = nid
                return nid
            if t.name and behind_ptr:
                nid = out.add(Fwd(t.name, k == S.KIND_UNION))
                self.memo[key] = nid
                return nid
            if t.name not in ROOTS and t.name not in FULL_STRUCTS:
                raise SystemExit(f"gen_task_btf: {t.kind_name} '{t.name or '(anon)'}' embedded by value is not handled")
            cls = Struct if k == S.KIND_STRUCT else Union
            nid = out.add(cls(t.name, t.size, ()))
            self.memo[key] = nid
            mems = []
            kept = []
            for m in t.members:
                if t.name in ROOTS and not self.keepable(m.type_id):
                    self.partial.add(t.name)
                    continue
                mems.append(Member(m.name, self.conv(m.type_id), m.bits_offset, m.bitfield_size))
                kept.append((m.name, m.bits_offset, m.bitfield_size))
            if t.name in ROOTS:
                self.kept[t.name] = kept
            out.replace(nid, cls(t.name, t.size, tuple(mems), any(m.bitfield_size for m in mems)))
            return nid
        if k == S.KIND_PTR:
            tgt = h.skip_modifiers(t.type_id) if t.type_id else 0
            if not tgt or h[tgt].kind == S.KIND_FUNC_PROTO:
                nid = out.add(Ptr(0))
            else:
                nid = out.add(Ptr(self.conv(t.type_id, True)))
        elif k == S.KIND_TYPE_TAG:  # __rcu, __percpu ...: dropped (the host's gcc-built BTF has none)
            return self.conv(t.type_id, behind_ptr)
        elif k in (S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT):
            nid = out.add(type(t)(self.conv(t.type_id, behind_ptr)))  # type: ignore[call-arg]
        elif k == S.KIND_TYPEDEF:
            if t.name in BASE_TYPEDEFS:
                nid = self.emu_named(t.name, S.KIND_TYPEDEF)
            elif t.name in PRELUDE:
                nid = out.add(Typedef(t.name, self.conv(t.type_id, behind_ptr)))
            else:
                return self.conv(t.type_id, behind_ptr)
        elif k == S.KIND_ARRAY:
            nid = out.add(Array(self.conv(t.type_id), self.conv(t.index_type_id), t.nelems))
        elif k in (S.KIND_INT, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_FLOAT, S.KIND_FWD):
            nid = out.add(t)
        else:
            raise SystemExit(f"gen_task_btf: type [{tid}] of kind {t.kind_name} is not handled")
        self.memo[key] = nid
        return nid


def _without_base(text: str, emu_names: set[str]) -> str:
    """The dumper's output less what the emulated vmlinux or the C prelude already defines."""
    keep = []
    structs = (*BASE_STRUCTS, *emu_names)
    typedefs = (*BASE_TYPEDEFS, *PRELUDE, *emu_names)
    for block in text.split("\n\n"):
        head = block.strip()
        if not head or head.startswith("/* BPF kfuncs */"):
            continue
        if any(head.startswith((f"struct {n} {{", f"struct {n};")) for n in structs):
            continue
        if head.startswith("typedef") and any(head.endswith((f" {n};", f"}} {n};")) for n in typedefs):
            continue
        keep.append(block)
    return "\n\n".join(keep)


def _with_marker(text: str) -> str:
    """Put :data:`TASK_EXTRA_MARKER` before the closing brace of ``struct task_struct``."""
    start = text.index("struct task_struct {\n")
    end = text.index("\n};", start)
    return text[:end] + "\n\t" + TASK_EXTRA_MARKER + text[end:]


def main(argv: list[str]) -> int:
    from kernel_model.vmlinux import build_vmlinux_btf

    path = argv[1] if len(argv) > 1 else "/sys/kernel/btf/vmlinux"
    host = load(path)
    sub = Subset(host, build_vmlinux_btf())
    sizes = {}
    for name in ROOTS:
        tid = host.find(name, S.KIND_STRUCT)
        if tid is None:
            raise SystemExit(f"gen_task_btf: {path} has no struct {name}")
        sub.conv(tid)
        sizes[name] = host.size_of(tid)
    text = _with_marker(_without_base(CDumper(sub.out).definitions(), sub.emu_names))
    release = platform.release() if path == "/sys/kernel/btf/vmlinux" else os.path.basename(path)
    w = sys.stdout.write
    w('"""Generated by tools/gen_task_btf.py from the BTF of Linux ' + release + ": do not edit.\n\n")
    w("``struct task_struct``, ``cgroup``, ``cgroup_subsys_state``, ``css_set`` and ``kernfs_node``\n"
      "with the member offsets of that kernel: the members of scalar and pointer types and the\n"
      "embedded lists, heads and masks; the rest is unnamed padding (``PARTIAL`` names the\n"
      "structs that have some). kernel_model/vmlinux.py appends :data:`TASK_C` to the emulated\n"
      "vmlinux, sched_ext's ``scx`` member in place of the marker (after the host's last byte).\n"
      '"""\n\n')
    w("#: the kernel release the layouts were read from\n")
    w(f"SOURCE_RELEASE = {release!r}\n")
    w("#: sizeof() of each struct in that kernel\n")
    w(f"SIZES = {sizes!r}\n")
    w("#: the structs some of whose members are left out (holes of unnamed padding)\n")
    w(f"PARTIAL = frozenset({sorted(sub.partial)!r})\n")
    w("#: per struct, the members kept: (name, bit offset, bitfield size), as in that kernel's BTF\n")
    w("MEMBERS = {\n")
    for name in ROOTS:
        w(f"    {name!r}: (\n")
        for m in sub.kept[name]:
            w(f"        {m!r},\n")
        w("    ),\n")
    w("}\n")
    w("#: where kernel_model/vmlinux.py puts sched_ext's members of ``task_struct``\n")
    w(f"TASK_EXTRA_MARKER = {TASK_EXTRA_MARKER!r}\n\n")
    w('TASK_C = r"""\n')
    w(text.rstrip() + "\n")
    w('"""\n')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
