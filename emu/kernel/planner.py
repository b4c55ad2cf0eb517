"""What a struct_ops map update would do with its trampolines, without a machine.

``structops tramp`` and the demo use this: it runs the kernel's own update
algorithm (:class:`kernel_model.struct_ops_map.StructOpsMap`) with a program in
every supported function member, on a memory that only hands out addresses,
and reports where each trampoline landed -- or the ``E2BIG`` the kernel returns.
Registration of a C-declared type follows the kernel too: its value type is
generated as ``DEFINE_STRUCT_OPS_VALUE_TYPE`` would, and every function member
gets a CFI stub with its own prototype.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from pathlib import Path

from jit.trampoline import DUMMY_SYMBOLS, X86StructOpsArch
from kernel_model.btf import BTF, Composite, FuncProto, Ptr, parse_c
from kernel_model.btf import structs as S
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import InputError, KernelError
from kernel_model.profile import Profile
from kernel_model.prog import PROG_TYPE_STRUCT_OPS, BpfProg
from kernel_model.struct_ops import StructOps, StructOpsDesc, StructOpsRegistry
from kernel_model.struct_ops_map import BPF_F_LINK, PAGE_SIZE, StructOpsMap, TrampolinePlacement
from kernel_model.vmlinux import add_value_type, build_vmlinux_btf

__all__ = ["PagePlan", "plan_pages", "register_declared_type", "declare_type", "SizingMemory", "planned_symbol"]

#: where planned programs' struct bpf_prog objects and images are (vmalloc-like, as the host's)
PROG_BASE = 0xFFFFC90000100000
IMAGE_BASE = 0xFFFFFFFFA0000000


_SYMBOLS = {
    DUMMY_SYMBOLS.prog_enter: "__bpf_prog_enter", DUMMY_SYMBOLS.prog_exit: "__bpf_prog_exit",
    DUMMY_SYMBOLS.prog_enter_sleepable: "__bpf_prog_enter_sleepable",
    DUMMY_SYMBOLS.prog_exit_sleepable: "__bpf_prog_exit_sleepable",
}


def planned_symbol(addr: int, cpu: CpuConfig = DEFAULT_CPU) -> str | None:
    """Names of the addresses a planned trampoline calls (listing annotations);
    the return thunk is the one ``cpu`` uses."""
    if addr in _SYMBOLS:
        return _SYMBOLS[addr]
    if addr == DUMMY_SYMBOLS.return_thunk and cpu.return_thunk is not None:
        return cpu.return_thunk
    if IMAGE_BASE <= addr < IMAGE_BASE + 0x100000:
        return f"bpf_prog_{(addr - IMAGE_BASE) // 0x1000} (the member's program)"
    return None


class SizingMemory:
    """A memory that hands out addresses and remembers bytes (no machine)."""

    def __init__(self) -> None:
        self._next = 0xFFFF888000000000
        self._next_page = 0xFFFFFFFFC0000000
        self.bytes: dict[int, bytes] = {}
        self.pages: list[int] = []

    def alloc(self, size: int) -> int:
        a = self._next
        self._next += (size + 63) // 64 * 64
        return a

    def free(self, addr: int) -> None:
        pass

    def alloc_image_page(self) -> int:
        a = self._next_page
        self._next_page += PAGE_SIZE
        self.pages.append(a)
        return a

    def free_image_page(self, addr: int) -> None:
        self.pages.remove(addr)

    def protect_image_page(self, addr: int) -> None:
        pass

    def write(self, addr: int, data: bytes) -> None:
        self.bytes[addr] = bytes(data)

    def read(self, addr: int, size: int) -> bytes:
        for base, data in self.bytes.items():
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base:addr - base + size]
        return bytes(size)


@dataclass(slots=True)
class PagePlan:
    desc: StructOpsDesc
    profile: Profile
    placements: list[TrampolinePlacement]
    pages: int
    error: KernelError | None
    code: dict[str, bytes]
    cpu: CpuConfig = DEFAULT_CPU

    def member_for(self, p: TrampolinePlacement) -> str:
        return p.member[len(self.desc.name) + 1:]

    def symbol(self, addr: int) -> str | None:
        """:func:`planned_symbol` for this plan's CPU configuration."""
        return planned_symbol(addr, self.cpu)


def plan_pages(desc: StructOpsDesc, profile: Profile, cpu: CpuConfig = DEFAULT_CPU) -> PagePlan:
    """Fill every supported function member with a program and update a map, with
    trampolines as the kernel emits them for ``cpu``."""
    mem = SizingMemory()
    st_map = StructOpsMap(desc, 1, BPF_F_LINK, mem, X86StructOpsArch(profile, DUMMY_SYMBOLS, cpu),
                          profile.tramp_image_pages)
    progs: dict[int, BpfProg] = {}
    value = bytearray(desc.value_size)
    for m in desc.members:
        if not (m.is_func and m.supported):
            continue
        fd = len(progs) + 3
        progs[fd] = BpfProg(id=fd, prog_type=PROG_TYPE_STRUCT_OPS, insns=[], name=m.name, attach_btf=desc.btf,
                            attach_btf_id=desc.type_id, expected_attach_type=m.index,
                            addr=PROG_BASE + fd * 0x1000, bpf_func=IMAGE_BASE + fd * 0x1000)
        value[desc.data_offset + m.offset:desc.data_offset + m.offset + 8] = fd.to_bytes(8, "little")
    # the subsystem's own init_member/validate would refuse an all-programs value for
    # some types (tcp_congestion_ops wants a name): plan with permissive callbacks.
    plain = StructOps(name=desc.ops.name, cfi_stubs=desc.ops.cfi_stubs)
    planned = StructOpsDesc(plain, desc.btf, desc.type_id, desc.value_id, desc.members, desc.size,
                            desc.value_size, desc.data_offset, desc.module_type_id)
    st_map.desc = planned
    error = None
    try:
        st_map.update(0, bytes(value), 0, lambda fd: progs[fd])
        placements = list(st_map.placements)
    except KernelError as e:
        if e.errno != errno.E2BIG:
            raise
        error = e
        placements = list(st_map.attempted)
    code = {p.member: mem.bytes.get(p.addr, b"") for p in placements}
    return PagePlan(desc, profile, placements, len(st_map.image_pages), error, code, cpu)


_DECL = re.compile(r"^(?P<file>.+?):(?P<struct>[A-Za-z_]\w*)$")


def register_declared_type(spec: str, profile: Profile) -> StructOpsDesc:
    """``FILE.h:STRUCT``: read the header and :func:`declare_type` its struct.
    Errors name the file."""
    m = _DECL.match(spec)
    if not m:
        raise InputError("--decl takes FILE.h:STRUCT", spec)
    path = Path(m.group("file"))
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", str(path)) from None
    return declare_type(text, profile, name=m.group("struct"), where=str(path))


def declare_type(text: str, profile: Profile, *, name: str | None = None, where: str = "<string>") -> StructOpsDesc:
    """C declarations in ``text`` -> the registered struct_ops type ``name``: parse
    them into a fresh vmlinux BTF, give every function member without a declared
    ``NAME__MEMBER`` stub one with the member's own prototype, generate the value
    type (``DEFINE_STRUCT_OPS_VALUE_TYPE``) and register it as a built-in type
    (``bpf_struct_ops_desc_init``, with the kernel's refusals as KernelError).

    ``name`` may be left out when ``text`` declares exactly one struct with a
    function-pointer member. ``where`` names the text in errors (a file name)."""
    btf = build_vmlinux_btf()
    parse_c(text, into=btf, where=where)
    if name is None:
        name = _only_ops_struct(btf, text, where)
    tid = btf.find(name, S.KIND_STRUCT)
    if tid is None:
        raise InputError(f"no struct {name} declared", where)
    t = btf.type_by_id(tid)
    assert isinstance(t, Composite)
    stubs: dict[str, str] = {}
    for member in t.members:
        pt = btf.resolve(member.type_id)
        if isinstance(pt, Ptr):
            proto_id = btf.skip_modifiers(pt.type_id)
            if isinstance(btf.type_by_id(proto_id), FuncProto):
                stub = f"{name}__{member.name}"
                if btf.find(stub, S.KIND_FUNC) is None:
                    from kernel_model.btf import Func

                    btf.add(Func(stub, proto_id, S.FUNC_STATIC))
                stubs[member.name] = stub
    if btf.find(f"bpf_struct_ops_{name}", S.KIND_STRUCT) is None:
        add_value_type(btf, name)
    return StructOpsRegistry(profile).register(StructOps(name=name, cfi_stubs=stubs), btf)


_STRUCT_NAME = re.compile(r"\bstruct\s+([A-Za-z_]\w*)\s*\{")


def _only_ops_struct(btf: BTF, text: str, where: str) -> str:
    """The one struct ``text`` defines that has a function-pointer member."""
    found = []
    for cand in dict.fromkeys(_STRUCT_NAME.findall(text)):
        tid = btf.find(cand, S.KIND_STRUCT)
        t = btf.type_by_id(tid) if tid is not None else None
        if isinstance(t, Composite) and any(_is_func_ptr(btf, m.type_id) for m in t.members):
            found.append(cand)
    if len(found) != 1:
        what = "no struct with a function-pointer member" if not found else f"several: {', '.join(found)}"
        raise InputError(f"cannot tell which struct is the ops type ({what}); name it", where)
    return found[0]


def _is_func_ptr(btf: BTF, type_id: int) -> bool:
    pt = btf.resolve(type_id)
    return isinstance(pt, Ptr) and isinstance(btf.type_by_id(btf.skip_modifiers(pt.type_id)), FuncProto)
