"""struct_ops maps the way libbpf builds them, and their shadow members.

Models (``src/libbpf.c``, libbpf 1.8):

* **open** -- ``init_struct_ops_maps``: every VAR of a ``.struct_ops``,
  ``.struct_ops.link``, ``?.struct_ops`` or ``?.struct_ops.link`` DATASEC (found
  by the exact section name) becomes a ``BPF_MAP_TYPE_STRUCT_OPS`` map named
  after the variable, key 4 bytes, one entry, ``BPF_F_LINK`` for the ``.link``
  sections, ``autocreate`` false for ``?`` sections -- with libbpf's quirk that
  the section-name pointer moves past the ``?`` while the *first* variable is
  handled, so only that one starts with autocreate false. The variable's bytes
  are copied (the shadow data).
* **open** -- ``bpf_object__collect_st_ops_relos``: each ``R_BPF_64_ABS64`` of
  ``.rel.struct_ops*`` binds the top-level function-pointer member at its
  offset to the struct_ops program at the symbol (``progs[member]`` and the
  shadow pointer).
* **prepare** -- ``find_struct_ops_kern_types`` / ``bpf_map__init_kern_struct_ops``
  for maps with autocreate: the kernel value type ``bpf_struct_ops_<name>``
  (flavor ``___suffix`` stripped) looked up first (vmlinux, then modules),
  then ``<name>`` in the same BTF, then the ``data`` member by type id; the
  local members walked in order and matched by name: absent-and-zero skipped
  (``member %s not found in kernel, skipping it as it's set to zero``),
  absent-and-set refused (``Cannot find member %s in kernel BTF``, -ENOTSUP),
  bitfields refused, kinds compared after skipping modifiers, pointers taken
  from the shadow (a different or NULL program unbinds the declared one and
  clears its autoload), data members copied when the sizes agree; each bound
  program gets ``attach_btf_id`` = the kernel struct, ``expected_attach_type``
  = the kernel member index (reuse must agree), ``attach_btf_obj_fd`` for a
  module type. ``value_size`` becomes the kernel value type's size.
* **prepare** -- ``bpf_object_adjust_struct_ops_autoload``.
* **load** -- ``bpf_map_prepare_vdata``: each bound program's fd as 8 bytes at
  its kernel member's offset in ``kern_vdata``.

:class:`Shadow` is the skeleton's ``skel->struct_ops.<map>`` (bpftool's
shadow type, ``gen.c``): read and write data members by name, swap or clear
function-pointer members; type-checked against the member's BTF type.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel_model.bpf_map import MAP_TYPE_STRUCT_OPS
from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.types import (
    Array, Composite, Datasec, Enum, Enum64, Float, FuncProto, Int, Ptr, Struct, Var,
)
from kernel_model.errors import InputError
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.uapi import BPF_F_LINK

from .core import essential_name
from .errors import LIBBPF_ERRNO__FORMAT, LIBBPF_ERRNO__RELOC, LibbpfError
from .maps import BpfMap
from .program import BPF_INSN_SZ, BpfProgram

if TYPE_CHECKING:
    from .kbtf import KernelBtf, ModuleBtf

__all__ = [
    "StructOpsState", "Shadow", "ShadowError", "STRUCT_OPS_SECS", "BPF_F_LINK", "VALUE_PREFIX",
    "init_struct_ops_maps", "collect_st_ops_relos", "init_kern_struct_ops", "adjust_struct_ops_autoload",
    "prepare_vdata",
]

VALUE_PREFIX = "bpf_struct_ops_"   # STRUCT_OPS_VALUE_PREFIX
STRUCT_OPS_SEC, STRUCT_OPS_LINK_SEC = ".struct_ops", ".struct_ops.link"
STRUCT_OPS_SECS = (STRUCT_OPS_SEC, STRUCT_OPS_LINK_SEC, "?" + STRUCT_OPS_SEC, "?" + STRUCT_OPS_LINK_SEC)
SHN_LORESERVE = 0xFF00


@dataclass(eq=False)
class StructOpsState:
    """``struct bpf_struct_ops``: the local type, the shadow data and the bindings."""

    type_id: int
    data: bytearray
    progs: list[BpfProgram | None]
    #: the shadow's function-pointer slots: member byte offset -> program (None: NULL)
    ptrs: dict[int, BpfProgram | None] = field(default_factory=dict)
    kern_vdata: bytearray | None = None
    #: local member index -> offset of its prog fd in kern_vdata
    kern_func_off: dict[int, int] = field(default_factory=dict)
    kern_type_id: int = 0
    kern_vtype_id: int = 0
    kern_btf: BTF | None = None
    kern_data_off: int = 0

    def member_is_zero(self, moff: int, msize: int) -> bool:
        """``libbpf_is_mem_zeroed`` over the shadow: bytes and pointer slots."""
        if any(self.data[moff:moff + msize]):
            return False
        return not any(p is not None for off, p in self.ptrs.items() if moff <= off < moff + msize)


def _fail(obj: Any, err: int, text: str) -> LibbpfError:
    obj.log.warn(text)
    return LibbpfError(err, text)


# --- open -----------------------------------------------------------------------------------

def init_struct_ops_maps(obj: Any, sec_name: str, shndx: int, data: bytes) -> None:
    """``init_struct_ops_maps``: one map per DATASEC variable (see the module docstring)."""
    btf: BTF = obj.btf
    ds_id = btf.find(sec_name, S.KIND_DATASEC)
    if ds_id is None:
        raise _fail(obj, errno.EINVAL, f"struct_ops init: DATASEC {sec_name} not found")
    ds = btf.type_by_id(ds_id)
    assert isinstance(ds, Datasec)
    for vsi in ds.vars:
        var = btf.type_by_id(vsi.type_id)
        var_name = var.name
        tid = _resolve_type(btf, vsi.type_id)
        if tid is None:
            raise _fail(obj, errno.EINVAL, f"struct_ops init: Cannot resolve var type_id {vsi.type_id} in "
                                           f"DATASEC {sec_name}")
        t = btf.type_by_id(tid)
        if not t.name:
            raise _fail(obj, errno.EOPNOTSUPP, "struct_ops init: anonymous type is not supported")
        if not isinstance(t, Struct):
            raise _fail(obj, errno.EINVAL, f"struct_ops init: {t.name} is not a struct")
        m = BpfMap(obj, var_name, MAP_TYPE_STRUCT_OPS, 4, t.size, 1, sec_idx=shndx, sec_offset=vsi.offset,
                   btf_value_type_id=tid)
        if sec_name.startswith("?"):
            # libbpf moves its pointer past '?' here, so only the first variable of a
            # '?' section starts with autocreate=false (LB init_struct_ops_maps l.1454)
            m.autocreate = False
            sec_name = sec_name[1:]
        m.map_flags = BPF_F_LINK if sec_name == STRUCT_OPS_LINK_SEC else 0
        m.autoattach = True
        if vsi.offset + t.size > len(data):
            raise _fail(obj, errno.EINVAL, f"struct_ops init: var {var_name} is beyond the end of DATASEC "
                                           f"{sec_name}")
        m.st_ops = StructOpsState(tid, bytearray(data[vsi.offset:vsi.offset + t.size]), [None] * len(t.members))
        for mem in t.members:
            if _func_proto(btf, mem.type_id) is not None:
                m.st_ops.ptrs[mem.bits_offset // 8] = None
        obj.log.debug(f"struct_ops init: struct {t.name}(type_id={tid}) {var_name} found at offset {vsi.offset}")
        obj.maps.append(m)


def _resolve_type(btf: BTF, tid: int) -> int | None:
    """``btf__resolve_type``: skip VAR, typedefs and modifiers."""
    for _ in range(btf.type_count + 1):
        t = btf.type_by_id(tid)
        if isinstance(t, Var):
            tid = t.type_id
            continue
        if t.kind in (S.KIND_TYPEDEF, S.KIND_VOLATILE, S.KIND_CONST, S.KIND_RESTRICT, S.KIND_TYPE_TAG):
            tid = t.type_id  # type: ignore[attr-defined]
            continue
        return tid
    return None


def _func_proto(btf: BTF, tid: int) -> int | None:
    """``resolve_func_ptr``: the FUNC_PROTO a member points to (mods skipped), or None."""
    t = btf.resolve(tid)
    if not isinstance(t, Ptr):
        return None
    pid = btf.skip_modifiers(t.type_id)
    return pid if isinstance(btf.type_by_id(pid), FuncProto) else None


def collect_st_ops_relos(obj: Any, rel_sec: Any, target_idx: int) -> None:
    """``bpf_object__collect_st_ops_relos`` for one ``.rel.struct_ops*`` section."""
    btf: BTF = obj.btf
    for rel in obj.elf.relocations(rel_sec):
        sym = obj.elf.symbol(rel.sym)
        if sym is None:
            raise _fail(obj, LIBBPF_ERRNO__FORMAT, f"struct_ops reloc: symbol {rel.sym:x} not found")
        m = next((mp for mp in obj.maps if mp.is_struct_ops and mp.sec_idx == target_idx
                  and mp.sec_offset <= rel.offset < mp.sec_offset + mp.value_size), None)
        if m is None:
            raise _fail(obj, errno.EINVAL, f"struct_ops reloc: cannot find map at rel->r_offset {rel.offset}")
        moff = rel.offset - m.sec_offset
        shdr_idx = sym.shndx
        st = m.st_ops
        assert st is not None
        obj.log.debug(f"struct_ops reloc {m.name}: for {rel.sym} value {sym.value} shdr_idx {shdr_idx} "
                      f"rel->r_offset {rel.offset} map->sec_offset {m.sec_offset} name {sym.name_off} "
                      f"('{sym.name or '<?>'}')")
        if shdr_idx >= SHN_LORESERVE:
            raise _fail(obj, LIBBPF_ERRNO__RELOC, f"struct_ops reloc {m.name}: rel->r_offset {rel.offset} "
                                                  f"shdr_idx {shdr_idx} unsupported non-static function")
        if sym.value % BPF_INSN_SZ:
            raise _fail(obj, LIBBPF_ERRNO__FORMAT, f"struct_ops reloc {m.name}: invalid target program offset "
                                                   f"{sym.value}")
        insn_idx = sym.value // BPF_INSN_SZ
        t = btf.type_by_id(st.type_id)
        assert isinstance(t, Struct)
        midx = next((i for i, mem in enumerate(t.members) if mem.bits_offset == moff * 8), None)
        if midx is None:
            raise _fail(obj, errno.EINVAL, f"struct_ops reloc {m.name}: cannot find member at moff {moff}")
        mname = t.members[midx].name
        if _func_proto(btf, t.members[midx].type_id) is None:
            raise _fail(obj, errno.EINVAL, f"struct_ops reloc {m.name}: cannot relocate non func ptr {mname}")
        prog = obj._find_prog_by_sec_insn(shdr_idx, insn_idx)
        if prog is None:
            raise _fail(obj, errno.EINVAL, f"struct_ops reloc {m.name}: cannot find prog at shdr_idx {shdr_idx} "
                                           f"to relocate func ptr {mname}")
        if prog.prog_type != PROG_TYPE_STRUCT_OPS:
            raise _fail(obj, errno.EINVAL, f"struct_ops reloc {m.name}: prog {prog.name} is not struct_ops BPF "
                                           "program")
        st.progs[midx] = prog
        st.ptrs[moff] = prog


# --- prepare ---------------------------------------------------------------------------------

def find_kern_types(obj: Any, kbtf: KernelBtf, tname_raw: str
                    ) -> tuple[ModuleBtf | None, BTF, int, int, int]:
    """``find_struct_ops_kern_types`` (libbpf >= 1.7 order: value type first).
    Returns ``(module or None, btf, kern_type_id, kern_vtype_id, data member offset)``."""
    tname = essential_name(tname_raw)[:191]
    stname = VALUE_PREFIX + tname
    try:
        vtype_id, btf, mod = kbtf.find_ksym(stname, S.KIND_STRUCT)
    except LibbpfError as e:
        raise _fail(obj, e.errno, f"struct_ops init_kern: struct {stname} is not found in kernel BTF") from None
    type_id = btf.find(tname, S.KIND_STRUCT)
    if type_id is None:
        raise _fail(obj, errno.ENOENT, f"struct_ops init_kern: struct {tname} is not found in kernel BTF")
    vt = btf.type_by_id(vtype_id)
    assert isinstance(vt, Composite)
    dm = next((m for m in vt.members if m.type_id == type_id), None)
    if dm is None:
        raise _fail(obj, errno.EINVAL, f"struct_ops init_kern: struct {tname} data is not found in struct {stname}")
    return mod, btf, type_id, vtype_id, dm.bits_offset // 8


def init_kern_struct_ops(obj: Any, m: BpfMap, kbtf: KernelBtf) -> None:
    """``bpf_map__init_kern_struct_ops`` (see the module docstring)."""
    st = m.st_ops
    assert st is not None
    btf: BTF = obj.btf
    t = btf.type_by_id(st.type_id)
    assert isinstance(t, Struct)
    mod, kern_btf, ktype_id, kvtype_id, kdata_off = find_kern_types(obj, kbtf, t.name)
    obj.log.debug(f"struct_ops init_kern {m.name}: type_id:{st.type_id} kern_type_id:{ktype_id} "
                  f"kern_vtype_id:{kvtype_id}")
    kt = kern_btf.type_by_id(ktype_id)
    kvt = kern_btf.type_by_id(kvtype_id)
    assert isinstance(kt, Composite) and isinstance(kvt, Composite)
    m.mod_btf = mod
    m.value_size = kvt.size
    m.btf_vmlinux_value_type_id = kvtype_id
    st.kern_vdata = bytearray(kvt.size)
    st.kern_type_id, st.kern_vtype_id, st.kern_btf, st.kern_data_off = ktype_id, kvtype_id, kern_btf, kdata_off
    st.kern_func_off = {}
    kmembers = {km.name: (i, km) for i, km in reversed(list(enumerate(kt.members)))}
    for i, mem in enumerate(t.members):
        mname = mem.name
        moff = mem.bits_offset // 8
        try:
            msize = btf.size_of(mem.type_id)
        except ValueError:
            raise _fail(obj, errno.EINVAL, f"struct_ops init_kern {m.name}: failed to resolve the size of member "
                                           f"{mname}") from None
        found = kmembers.get(mname)
        if found is None:
            if not st.member_is_zero(moff, msize):
                raise _fail(obj, errno.EOPNOTSUPP, f"struct_ops init_kern {m.name}: Cannot find member {mname} "
                                                   "in kernel BTF")
            if st.progs[i] is not None:
                st.progs[i].autoload = False  # type: ignore[union-attr]
                st.progs[i] = None
            obj.log.info(f"struct_ops {m.name}: member {mname} not found in kernel, skipping it as it's set to zero")
            continue
        kidx, km = found
        if mem.bitfield_size or km.bitfield_size:
            raise _fail(obj, errno.EOPNOTSUPP, f"struct_ops init_kern {m.name}: bitfield {mname} is not supported")
        kmoff = km.bits_offset // 8
        mt = btf.resolve(mem.type_id)
        kmt_id = kern_btf.skip_modifiers(km.type_id)
        kmt = kern_btf.type_by_id(kmt_id)
        if mt.kind != kmt.kind:
            raise _fail(obj, errno.EOPNOTSUPP, f"struct_ops init_kern {m.name}: Unmatched member type {mname} "
                                               f"{mt.kind} != {kmt.kind}(kernel)")
        if isinstance(mt, Ptr):
            prog = st.ptrs.get(moff)
            old = st.progs[i]
            if old is not None and old is not prog:
                old.autoload = False
            st.progs[i] = prog
            if prog is None:
                continue
            if prog not in obj.programs or prog.prog_type != PROG_TYPE_STRUCT_OPS:
                raise _fail(obj, errno.EOPNOTSUPP, f"struct_ops init_kern {m.name}: member {mname} is not a "
                                                   "struct_ops program")
            assert isinstance(kmt, Ptr)
            if not isinstance(kern_btf.resolve(kmt.type_id), FuncProto):
                raise _fail(obj, errno.EOPNOTSUPP, f"struct_ops init_kern {m.name}: kernel member {mname} is not "
                                                   "a func ptr")
            if mod is not None:
                prog.attach_mod_btf = mod
            if not prog.attach_btf_id:
                prog.attach_btf_id = ktype_id
                prog.expected_attach_type = kidx
            if prog.attach_btf_id != ktype_id:
                raise _fail(obj, errno.EINVAL, f"struct_ops init_kern {m.name} func ptr {mname}: invalid reuse of "
                                               f"prog {prog.name} in sec {prog.sec_name} with type {prog.prog_type}: "
                                               f"attach_btf_id {prog.attach_btf_id} != kern_type_id {ktype_id}")
            if prog.expected_attach_type != kidx:
                raise _fail(obj, errno.EINVAL, f"struct_ops init_kern {m.name} func ptr {mname}: invalid reuse of "
                                               f"prog {prog.name} in sec {prog.sec_name} with type {prog.prog_type}: "
                                               f"expected_attach_type {prog.expected_attach_type} != "
                                               f"kern_member_idx {kidx}")
            st.kern_func_off[i] = kdata_off + kmoff
            obj.log.debug(f"struct_ops init_kern {m.name}: func ptr {mname} is set to prog {prog.name} from "
                          f"data(+{moff}) to kern_data(+{kmoff})")
            continue
        try:
            kmsize = kern_btf.size_of(kmt_id)
        except ValueError:
            kmsize = -errno.EINVAL
        if msize != kmsize:
            raise _fail(obj, errno.EOPNOTSUPP, f"struct_ops init_kern {m.name}: Error in size of member {mname}: "
                                               f"{msize} != {kmsize}(kernel)")
        obj.log.debug(f"struct_ops init_kern {m.name}: copy {mname} {msize} bytes from data(+{moff}) to "
                      f"kern_data(+{kmoff})")
        st.kern_vdata[kdata_off + kmoff:kdata_off + kmoff + msize] = st.data[moff:moff + msize]


def adjust_struct_ops_autoload(obj: Any) -> None:
    """``bpf_object_adjust_struct_ops_autoload``."""
    for p in obj.programs:
        if p.prog_type != PROG_TYPE_STRUCT_OPS:
            continue
        use = 0
        load = False
        for m in obj.maps:
            if m.st_ops is None:
                continue
            for slot in m.st_ops.progs:
                if slot is p:
                    use += 1
                    load = load or m.autocreate
        if use:
            p.autoload = load


def prepare_vdata(m: BpfMap) -> bytes:
    """``bpf_map_prepare_vdata``: kern_vdata with each bound program's fd."""
    st = m.st_ops
    assert st is not None and st.kern_vdata is not None
    for i, off in st.kern_func_off.items():
        prog = st.progs[i]
        if prog is None:
            continue
        fd = prog.fd if prog.fd >= 0 else -errno.ENOENT
        struct.pack_into("<Q", st.kern_vdata, off, fd & 0xFFFF_FFFF_FFFF_FFFF)
    return bytes(st.kern_vdata)


# --- the shadow -------------------------------------------------------------------------------

class ShadowError(InputError):
    """A shadow member access that bpftool's shadow type would not allow."""


class Shadow:
    """``skel->struct_ops.<map>``: the local struct's members by name.

    Integers, enums (a value or an enumerator name), bools, floats and function
    pointers (a :class:`BpfProgram` of the same object, or None) are settable, as
    in bpftool's shadow type; char arrays take ``bytes``/``str`` (NUL-padded)
    and other arrays, structs and unions ``bytes`` of their exact size (bpftool
    exposes those as ``char __unsupported_N[size]``). Non-function pointers are
    read-only (always NULL). Writes once the object is prepared are refused
    (libbpf would silently ignore them: it read the shadow at prepare).
    """

    __slots__ = ("_map",)

    def __init__(self, m: BpfMap) -> None:
        object.__setattr__(self, "_map", m)

    @property
    def _st(self) -> StructOpsState:
        st = self._map.st_ops
        assert st is not None
        return st

    def _type(self) -> Struct:
        t = self._map.obj.btf.type_by_id(self._st.type_id)
        assert isinstance(t, Struct)
        return t

    def members(self) -> list[str]:
        """Member names of the local struct, in order."""
        return [m.name for m in self._type().members]

    def _member(self, name: str) -> Any:
        t = self._type()
        for mem in t.members:
            if mem.name == name:
                return mem
        raise ShadowError(f"struct_ops map '{self._map.name}' (struct {t.name}) has no member '{name}' "
                          f"(members: {', '.join(m.name for m in t.members)})")

    def is_callback(self, name: str) -> bool:
        """Whether member ``name`` is a function pointer (a program goes there, or NULL);
        ShadowError for a member the struct does not have."""
        mem = self._member(name)
        return _func_proto(self._map.obj.btf, mem.type_id) is not None

    def __dir__(self) -> list[str]:
        return self.members()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def get(self, name: str) -> Any:
        mem = self._member(name)
        btf: BTF = self._map.obj.btf
        moff = mem.bits_offset // 8
        t = btf.resolve(mem.type_id)
        st = self._st
        if mem.bitfield_size:
            word = int.from_bytes(st.data[moff:moff + 8].ljust(8, b"\0"), "little")
            return (word >> (mem.bits_offset % 8)) & ((1 << mem.bitfield_size) - 1)
        if isinstance(t, Ptr):
            return st.ptrs.get(moff) if _func_proto(btf, mem.type_id) is not None else None
        size = btf.size_of(mem.type_id)
        raw = bytes(st.data[moff:moff + size])
        if isinstance(t, Int):
            if t.encoding & S.INT_BOOL:
                return bool(raw[0])
            return int.from_bytes(raw, "little", signed=t.signed)
        if isinstance(t, (Enum, Enum64)):
            return int.from_bytes(raw, "little", signed=t.signed)
        if isinstance(t, Float) and size in (4, 8):
            return struct.unpack("<f" if size == 4 else "<d", raw)[0]
        return raw

    def set(self, name: str, value: Any) -> None:
        m = self._map
        obj = m.obj
        if obj.state >= obj.PREPARED_USER:
            raise ShadowError(f"struct_ops map '{m.name}': the object is prepared; shadow edits are no longer "
                              "read (libbpf reads the shadow in bpf_map__init_kern_struct_ops)")
        mem = self._member(name)
        btf: BTF = obj.btf
        moff = mem.bits_offset // 8
        t = btf.resolve(mem.type_id)
        st = self._st
        where = f"struct_ops map '{m.name}' member '{name}'"
        if mem.bitfield_size:
            raise ShadowError(f"{where} is a bitfield (bpftool's shadow type has no field for it)")
        if isinstance(t, Ptr):
            if _func_proto(btf, mem.type_id) is None:
                raise ShadowError(f"{where} is a non-function pointer (read-only, always NULL)")
            if value is not None and not isinstance(value, BpfProgram):
                raise ShadowError(f"{where} is a function pointer: assign a program of this object or None, "
                                  f"not {type(value).__name__}")
            if value is not None and value.obj is not obj:
                raise ShadowError(f"{where}: program '{value.name}' belongs to another object")
            st.ptrs[moff] = value
            return
        size = btf.size_of(mem.type_id)
        st.data[moff:moff + size] = _encode(btf, t, mem.type_id, size, value, where)

    def __repr__(self) -> str:
        parts = []
        for n in self.members():
            v = self.get(n)
            parts.append(f"{n}={v.name if isinstance(v, BpfProgram) else v!r}")
        return f"<Shadow {self._map.name}: {', '.join(parts)}>"


def _encode(btf: BTF, t: Any, tid: int, size: int, value: Any, where: str) -> bytes:
    if isinstance(t, Int):
        if t.encoding & S.INT_BOOL:
            if not isinstance(value, (bool, int)) or int(value) not in (0, 1):
                raise ShadowError(f"{where} is a bool: assign True/False, not {value!r}")
            return bytes([int(value)]).ljust(size, b"\0")
        return _int_bytes(value, size, t.signed, where)
    if isinstance(t, (Enum, Enum64)):
        if isinstance(value, str):
            for ev in t.values:
                if ev.name == value:
                    value = ev.value
                    break
            else:
                raise ShadowError(f"{where}: enum {t.name or '(anon)'} has no enumerator {value!r}")
        return _int_bytes(value, size, t.signed or value < 0, where)
    if isinstance(t, Float) and size in (4, 8):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ShadowError(f"{where} is a {t.name}: assign a number, not {value!r}")
        return struct.pack("<f" if size == 4 else "<d", float(value))
    if isinstance(t, Array) and isinstance(btf.resolve(t.type_id), Int) and btf.size_of(t.type_id) == 1 \
            and isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        is_char_array = isinstance(t, Array) and btf.size_of(t.type_id) == 1
        if len(raw) > size or (not is_char_array and len(raw) != size):
            raise ShadowError(f"{where} is {size} bytes; got {len(raw)}")
        return raw.ljust(size, b"\0")
    raise ShadowError(f"{where} ({t.kind_name.lower()} of {size} bytes) takes bytes, not {type(value).__name__}")


def _int_bytes(value: Any, size: int, signed: bool, where: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShadowError(f"{where} is an integer of {size} bytes: assign an int, not {value!r}")
    lo = -(1 << (8 * size - 1)) if signed else 0
    hi = (1 << (8 * size - (1 if signed else 0))) - 1
    if not lo <= value <= hi:
        # accept the other signedness's spelling of the same bits, as C's assignment would
        if -(1 << (8 * size - 1)) <= value < (1 << (8 * size)):
            return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        raise ShadowError(f"{where}: {value} does not fit in {size} bytes")
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

