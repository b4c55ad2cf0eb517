"""struct_ops maps and links: value layout, state machine, trampoline pages.

Models ``kernel/bpf/bpf_struct_ops.c`` (Linux 6.12; the host 6.18 behaves the
same for everything modelled here):

* ``bpf_struct_ops_map_alloc_check`` / ``_alloc``: key_size 4, max_entries 1,
  flags within ``BPF_F_LINK | BPF_F_VTYPE_BTF_OBJ_FD`` and a value type id, else
  ``-EINVAL``; an unknown value type is ``-ENOTSUPP`` (524); value_size must be
  the value type's size. A map of a module's type holds the module.
* ``bpf_struct_ops_map_update_elem``: flags must be 0 (``-EINVAL``), key 0
  (``-E2BIG``); zero holes in the value and in the data (``-EINVAL``); the user
  value's state and refcnt must be 0 (``-EINVAL``); the map must be INIT
  (``-EBUSY``). Then member by member: a ``struct module *`` member must be NULL
  and becomes the owner marker; ``init_member`` may take a member (> 0) or fail;
  other data members must be zero; a function member holds a prog fd (0: left
  empty) whose program must be STRUCT_OPS, attached to this type and to this
  member index (``-EINVAL``); its trampoline is sized, packed into the current
  4 KiB image page or a new one while fewer than ``MAX_TRAMP_IMAGE_PAGES``
  exist (``-E2BIG`` past that), emitted, and the kernel-side member points at
  it; the user-visible member gets the prog id. Then ``validate``; a
  ``BPF_F_LINK`` map goes READY, a plain map is registered with ``reg`` and goes
  INUSE. Any failure resets both values and frees every page and link made.
* ``delete_elem``: link maps ``-EOPNOTSUPP``; INUSE -> ``unreg``, TOBEFREE;
  TOBEFREE -> ``-EINPROGRESS``; INIT -> ``-ENOENT``.
* Links (``bpf_struct_ops_link_create`` / ``_map_link_update`` / ``_detach``):
  only a READY link map registers (``-EINVAL``); update needs the subsystem's
  ``update`` (``-EOPNOTSUPP``), a live link (``-ENOLINK``), the expected old map
  (``-EPERM``) and the same type (``-EINVAL``).

The arch (trampoline bytes) and the memory of the emulated machine are injected
through :class:`TrampolineArch` and :class:`KernelMemory`, the Python form of
the kernel's ``arch_*`` hooks, so this module stays pure.

A quirk reproduced on purpose: a non-NULL ``struct module *`` member makes the
kernel jump to its reset path with ``err`` still 0, so the update reports
success with nothing registered (6.12 ``bpf_struct_ops_map_update_elem``).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .btf import BTF, Composite, Ptr
from .btf.func_model import FuncModel
from .errors import ENOTSUPP, KernelError
from .prog import PROG_TYPE_STRUCT_OPS, BpfProg
from .struct_ops import (STATE_INIT, STATE_INUSE, STATE_READY, STATE_TOBEFREE, MemberDesc, StructOpsDesc)
from .tramp_pages import needs_new_page
from .uapi import BPF_F_LINK, BPF_F_VTYPE_BTF_OBJ_FD, PAGE_SIZE  # re-exported

__all__ = [
    "TrampolineArch", "KernelMemory", "KData", "StructOpsMap", "StructOpsLink", "TrampolinePlacement",
    "PAGE_SIZE", "BPF_F_LINK", "BPF_F_VTYPE_BTF_OBJ_FD", "ENOTSUPP", "check_zero_holes",
]

#: what the kernel stores in a struct module * member (BPF_MODULE_OWNER)
BPF_MODULE_OWNER = 0xFFFF_FFFF_FFFF_FFFF & ~0  # (void *)(0xeB9FUL << 2)? see below

# include/linux/bpf.h: #define BPF_MODULE_OWNER ((void *)((0xeB9FUL << 2) + POISON_POINTER_DELTA))
# POISON_POINTER_DELTA is 0xdead000000000000 on x86-64.
BPF_MODULE_OWNER = (0xEB9F << 2) + 0xDEAD000000000000


class TrampolineArch(Protocol):
    """``arch_bpf_trampoline_size`` / ``arch_prepare_bpf_trampoline``."""

    def size(self, model: FuncModel, flags: int, prog: BpfProg) -> int: ...

    def emit(self, model: FuncModel, flags: int, prog: BpfProg, image: int) -> bytes: ...


class KernelMemory(Protocol):
    """The emulated machine's memory as struct_ops uses it."""

    def alloc(self, size: int) -> int: ...  # kernel heap (kzalloc)

    def free(self, addr: int) -> None: ...

    def alloc_image_page(self) -> int: ...  # arch_alloc_bpf_trampoline(PAGE_SIZE), writable

    def free_image_page(self, addr: int) -> None: ...

    def protect_image_page(self, addr: int) -> None: ...  # make it read-only + executable

    def write(self, addr: int, data: bytes) -> None: ...

    def read(self, addr: int, size: int) -> bytes: ...


class KData:
    """The kernel-side ops struct (``kvalue.data``) in emulated memory: what the
    subsystem's ``reg``/``unreg``/``validate`` callbacks receive. ``call(member,
    *args)`` invokes the member's function pointer through the emulated kernel,
    as ``ops->test_1()`` in a subsystem would (``invoke`` is supplied by the machine)."""

    def __init__(self, desc: StructOpsDesc, addr: int, mem: KernelMemory,
                 invoke: Callable[[int, tuple[int, ...]], int] | None) -> None:
        self.desc = desc
        self.addr = addr
        self.mem = mem
        self._invoke = invoke

    def read_member(self, name: str) -> bytes:
        m = self._member(name)
        return self.mem.read(self.addr + m.offset, m.size)

    def func_ptr(self, name: str) -> int:
        return int.from_bytes(self.read_member(name), "little")

    def call(self, name: str, *args: int) -> int:
        if self._invoke is None:
            raise KernelError(errno.ENOSYS, "no machine to call struct_ops members on")
        return self._invoke(self.func_ptr(name), args)

    def _member(self, name: str) -> MemberDesc:
        m = self.desc.member(name)
        if m is None:
            raise KeyError(f"struct {self.desc.name} has no member {name!r}")
        return m


@dataclass(frozen=True, slots=True)
class TrampolinePlacement:
    """Where a member's trampoline went: kallsyms name ``bpf__<type>_<member>``."""

    member: str
    page: int
    offset: int
    size: int  # bytes taken in the page (code + BPF_INSN_SAFETY)
    code_size: int
    addr: int
    prog_id: int

    @property
    def ksym(self) -> str:
        return f"bpf__{self.member}"


def check_zero_holes(btf: BTF, type_id: int, data: bytes) -> bool:
    """``check_zero_holes``: padding between members and after the last is zero."""
    t = btf.resolve(type_id)
    assert isinstance(t, Composite)
    prev_end = 0
    for m in t.members:
        moff = m.byte_offset
        if moff > prev_end and any(data[prev_end:moff]):
            return False
        prev_end = moff + btf.size_of(m.type_id)
    return not (t.size > prev_end and any(data[prev_end:t.size]))


@dataclass(eq=False)
class StructOpsMap:
    """``struct bpf_struct_ops_map``."""

    desc: StructOpsDesc
    map_id: int
    flags: int
    mem: KernelMemory
    arch: TrampolineArch
    max_pages: int
    invoke: Callable[[int, tuple[int, ...]], int] | None = None
    module: object | None = None  # the owner Module pinned by this map
    state: int = STATE_INIT
    refcnt: int = 1  # the map's own refcount (fds, links, reg)
    uvalue: bytearray = field(default_factory=bytearray)
    kvalue: bytearray = field(default_factory=bytearray)
    kvalue_addr: int = 0
    image_pages: list[int] = field(default_factory=list)
    progs: list[BpfProg] = field(default_factory=list)
    placements: list[TrampolinePlacement] = field(default_factory=list)
    #: placements of the last update attempt, kept after a failure reset them (for teaching tools)
    attempted: list[TrampolinePlacement] = field(default_factory=list)
    freed: bool = False

    def __post_init__(self) -> None:
        self.uvalue = bytearray(self.desc.value_size)
        self.kvalue = bytearray(self.desc.value_size)
        self.kvalue_addr = self.mem.alloc(self.desc.value_size)

    # --- views --------------------------------------------------------------------------
    @property
    def kdata_addr(self) -> int:
        return self.kvalue_addr + self.desc.data_offset

    @property
    def is_link_map(self) -> bool:
        return bool(self.flags & BPF_F_LINK)

    def kdata(self) -> KData:
        return KData(self.desc, self.kdata_addr, self.mem, self.invoke)

    def lookup(self, key: int = 0) -> bytes:
        """``bpf_struct_ops_map_sys_lookup_elem``: the user value with the current state."""
        if key != 0:
            raise KernelError(errno.ENOENT, "key must be 0")
        out = bytearray(self.uvalue)
        struct.pack_into("<iI", out, 0, 0 if self.state == STATE_INIT else 1, self.state)
        return bytes(out)

    # --- update ----------------------------------------------------------------------------
    def update(self, key: int, value: bytes, flags: int, get_prog: Callable[[int], BpfProg]) -> None:
        """``BPF_MAP_UPDATE_ELEM`` (see the module docstring); raises KernelError."""
        desc = self.desc
        btf = desc.btf
        if flags:
            raise KernelError(errno.EINVAL, "flags must be 0")
        if key != 0:
            raise KernelError(errno.E2BIG, "key must be 0")
        if len(value) != desc.value_size:
            raise KernelError(errno.EINVAL, f"value is {len(value)} bytes, the value type has {desc.value_size}")
        if not check_zero_holes(btf, desc.value_id, value):
            raise KernelError(errno.EINVAL, f"non-zero padding in struct bpf_struct_ops_{desc.name}")
        data = value[desc.data_offset:desc.data_offset + desc.size]
        if not check_zero_holes(btf, desc.type_id, data):
            raise KernelError(errno.EINVAL, f"non-zero padding in struct {desc.name}")
        refcnt, state = struct.unpack_from("<iI", value, 0)
        if refcnt or state:
            raise KernelError(errno.EINVAL, "the value's common.refcnt and common.state must be 0")
        if self.state != STATE_INIT:
            raise KernelError(errno.EBUSY, f"map is not in INIT state ({_STATE_NAMES[self.state]})")
        self.uvalue[:] = value
        udata = memoryview(self.uvalue)[desc.data_offset:desc.data_offset + desc.size]
        kdata = bytearray(desc.size)
        self.attempted = []
        try:
            ok = self._fill(udata, kdata, get_prog)
            if not ok:  # the struct module * quirk: reset with err == 0
                self._reset()
                return
            self.kvalue[desc.data_offset:desc.data_offset + desc.size] = kdata
            self.mem.write(self.kvalue_addr, bytes(self.kvalue))
            view = self.kdata()
            if desc.ops.validate is not None:
                err = desc.ops.validate(view)
                if err:
                    raise KernelError(-err, f"{desc.name}: validate() refused the struct")
            for page in self.image_pages:
                self.mem.protect_image_page(page)
            if self.is_link_map:
                self.state = STATE_READY
                return
            err = desc.ops.reg(view, None)
            if err:
                raise KernelError(-err, f"{desc.name}: reg() refused the struct")
            self.refcnt += 1
            self.state = STATE_INUSE
        except BaseException:
            self._reset()
            raise

    def _fill(self, udata: memoryview, kdata: bytearray, get_prog: Callable[[int], BpfProg]) -> bool:
        desc = self.desc
        btf = desc.btf
        image = 0
        image_off = 0
        for m in desc.members:
            ptype = btf.resolve(m.type_id)
            target = btf.resolve(ptype.type_id) if isinstance(ptype, Ptr) else None
            if isinstance(target, Composite) and target.name == "module" or (
                    target is not None and target.kind == 7 and target.name == "module"):
                if any(udata[m.offset:m.offset + 8]):
                    return False
                struct.pack_into("<Q", kdata, m.offset, BPF_MODULE_OWNER)
                continue
            err = desc.ops.init_member(m, kdata, bytes(udata))
            if err < 0:
                raise KernelError(-err, f"{desc.name}: init_member() refused member {m.name}")
            if err > 0:
                continue
            if not m.is_func:
                if any(udata[m.offset:m.offset + m.size]):
                    raise KernelError(errno.EINVAL, f"data member {m.name} of {desc.name} must be zero")
                continue
            raw = int.from_bytes(udata[m.offset:m.offset + 8], "little")
            prog_fd = raw & 0xFFFF_FFFF
            if prog_fd >= 1 << 31:
                prog_fd -= 1 << 32
            if prog_fd == 0:
                continue
            prog = get_prog(prog_fd)  # raises EBADF / EINVAL
            if (prog.prog_type != PROG_TYPE_STRUCT_OPS or prog.attach_btf is not btf
                    or prog.attach_btf_id != desc.type_id or prog.expected_attach_type != m.index):
                raise KernelError(errno.EINVAL, f"program {prog.id} is not for {desc.name}.{m.name}")
            prog.refcnt += 1
            self.progs.append(prog)
            assert m.func_model is not None
            from_flags = _flags(m.func_model)
            size = self.arch.size(m.func_model, from_flags, prog)
            if needs_new_page(image_off if image else None, size):  # the rule of kernel_model.tramp_pages
                if len(self.image_pages) >= self.max_pages:
                    raise KernelError(errno.E2BIG, f"trampolines of {desc.name} need more than "
                                                   f"{self.max_pages} page(s): {m.name} does not fit")
                image = self.mem.alloc_image_page()
                self.image_pages.append(image)
                image_off = 0
            addr = image + image_off
            code = self.arch.emit(m.func_model, from_flags, prog, addr)
            self.mem.write(addr, code)
            placed = TrampolinePlacement(f"{desc.name}_{m.name}", len(self.image_pages) - 1,
                                         image_off, size, len(code), addr, prog.id)
            self.placements.append(placed)
            self.attempted.append(placed)
            image_off += size
            struct.pack_into("<Q", kdata, m.offset, addr)
            struct.pack_into("<Q", udata, m.offset, prog.id)
        return True

    def _reset(self) -> None:
        """``reset_unlock``: free pages and links, zero both values."""
        for page in self.image_pages:
            self.mem.free_image_page(page)
        self.image_pages.clear()
        for prog in self.progs:
            prog.refcnt -= 1
        self.progs.clear()
        self.placements.clear()
        self.uvalue[:] = bytes(len(self.uvalue))
        self.kvalue[:] = bytes(len(self.kvalue))
        self.mem.write(self.kvalue_addr, bytes(self.kvalue))

    # --- delete / free ------------------------------------------------------------------
    def delete(self, key: int = 0) -> None:
        """``BPF_MAP_DELETE_ELEM``."""
        if self.is_link_map:
            raise KernelError(errno.EOPNOTSUPP, "struct_ops maps with BPF_F_LINK are detached through their link")
        if self.state == STATE_INUSE:
            self.state = STATE_TOBEFREE
            self.desc.ops.unreg(self.kdata(), None)
            self.refcnt -= 1
            return
        if self.state == STATE_TOBEFREE:
            raise KernelError(errno.EINPROGRESS, "map is being freed")
        raise KernelError(errno.ENOENT, "map holds no registered struct")

    def free(self) -> None:
        """``bpf_struct_ops_map_free``: the last reference is gone."""
        if self.freed:
            return
        self.freed = True
        self._reset()
        self.mem.free(self.kvalue_addr)
        if self.module is not None:
            self.module.put()  # type: ignore[attr-defined]
            self.module = None


def _flags(model: FuncModel) -> int:
    # BPF_TRAMP_F_INDIRECT | (BPF_TRAMP_F_RET_FENTRY_RET when the member returns a value)
    return (1 << 8) | ((1 << 4) if model.ret_size > 0 else 0)


_STATE_NAMES = {STATE_INIT: "INIT", STATE_INUSE: "INUSE", STATE_TOBEFREE: "TOBEFREE", STATE_READY: "READY"}


@dataclass(eq=False)
class StructOpsLink:
    """``struct bpf_struct_ops_link``: registers a READY link map."""

    link_id: int
    map: StructOpsMap | None = None

    @classmethod
    def create(cls, link_id: int, st_map: StructOpsMap) -> "StructOpsLink":
        """``bpf_struct_ops_link_create``."""
        if not st_map.is_link_map or st_map.state != STATE_READY:
            raise KernelError(errno.EINVAL, "only a BPF_F_LINK map in READY state can be linked")
        link = cls(link_id)
        err = st_map.desc.ops.reg(st_map.kdata(), link)
        if err:
            raise KernelError(-err, f"{st_map.desc.name}: reg() refused the struct")
        st_map.refcnt += 1
        link.map = st_map
        return link

    def update(self, new_map: StructOpsMap, expected_old: StructOpsMap | None = None) -> None:
        """``bpf_struct_ops_map_link_update``."""
        if not new_map.is_link_map or new_map.state != STATE_READY:
            raise KernelError(errno.EINVAL, "the new map must be a READY BPF_F_LINK map")
        if new_map.desc.ops.update is None:
            raise KernelError(errno.EOPNOTSUPP, f"{new_map.desc.name} does not support update")
        old = self.map
        if old is None:
            raise KernelError(errno.ENOLINK, "the link is detached")
        if expected_old is not None and old is not expected_old:
            raise KernelError(errno.EPERM, "the link does not hold the expected old map")
        if new_map.desc is not old.desc:
            raise KernelError(errno.EINVAL, "the new map is of another struct_ops type")
        err = new_map.desc.ops.update(new_map.kdata(), old.kdata(), self)
        if err:
            raise KernelError(-err, f"{new_map.desc.name}: update() refused")
        new_map.refcnt += 1
        self.map = new_map
        old.refcnt -= 1

    def detach(self) -> StructOpsMap | None:
        """``bpf_struct_ops_map_link_detach``: unregister; returns the map released."""
        m = self.map
        if m is None:
            return None
        m.desc.ops.unreg(m.kdata(), self)
        self.map = None
        m.refcnt -= 1
        return m
