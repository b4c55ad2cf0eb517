"""Kernel objects in emulated memory, typed by BTF, read back as Python views.

A test (or the emulated kernel) allocates a ``struct task_struct``-like object
with :meth:`KObject.new` -- ``kzalloc`` of the BTF size, members set by name --
and passes its address to a program; :class:`KObject` reads and writes
members by name straight from the machine's memory, following the BTF layout
(member offsets, bitfields, nested structs and unions, arrays, pointers and
enums), so what a JIT'd program wrote is what Python sees.

Values: integers and enums read as Python ints (signed types sign-extended),
pointers as ints (use :meth:`KObject.deref` to follow one), ``char[N]`` as
``bytes`` up to the first NUL, other arrays as :class:`KArray`, nested
composites as :class:`KObject`. Writes accept the same shapes.
"""

from __future__ import annotations

from typing import Any, Iterator

from kernel_model.btf import BTF, Array, Composite, Enum, Enum64, Int, Ptr, structs as S
from kernel_model.errors import InputError

from emu.machine import Machine

__all__ = ["KObject", "KArray"]


def _find_type(btf: BTF, name: str) -> int:
    for kind in (S.KIND_STRUCT, S.KIND_UNION, S.KIND_TYPEDEF):
        tid = btf.find(name, kind)
        if tid is not None:
            return tid
    raise InputError(f"no struct, union or typedef {name!r} in BTF")


class _Typed:
    __slots__ = ("_m", "_btf", "_tid", "_addr")
    _m: Machine
    _btf: BTF
    _tid: int
    _addr: int

    def __init__(self, machine: Machine, btf: BTF, type_id: int, addr: int) -> None:
        object.__setattr__(self, "_m", machine)
        object.__setattr__(self, "_btf", btf)
        object.__setattr__(self, "_tid", btf.skip_modifiers(type_id))
        object.__setattr__(self, "_addr", addr)

    @property
    def addr(self) -> int:
        return self._addr

    @property
    def size(self) -> int:
        return self._btf.size_of(self._tid)

    def raw(self) -> bytes:
        """The object's bytes."""
        return self._m.read(self._addr, self.size)

    def _load(self, tid: int, addr: int, bit_off: int = 0, bits: int = 0) -> Any:
        btf, m = self._btf, self._m
        tid = btf.skip_modifiers(tid)
        t = btf[tid]
        if isinstance(t, Composite):
            return KObject(m, btf, tid, addr)
        if isinstance(t, Array):
            elem = btf.resolve(t.type_id)
            if isinstance(elem, Int) and elem.size == 1:
                data = m.read(addr, t.nelems)
                return data.split(b"\0", 1)[0]
            return KArray(m, btf, tid, addr)
        size = btf.size_of(tid)
        signed = (isinstance(t, Int) and bool(t.encoding & S.INT_SIGNED)) or (
            isinstance(t, (Enum, Enum64)) and t.signed)
        if bits:
            word = int.from_bytes(m.read(addr, (bit_off + bits + 7) // 8), "little")
            v = (word >> bit_off) & ((1 << bits) - 1)
            if signed and v >> (bits - 1):
                v -= 1 << bits
            return v
        v = int.from_bytes(m.read(addr, size), "little")
        if signed and v >> (8 * size - 1):
            v -= 1 << (8 * size)
        return v

    def _store(self, tid: int, addr: int, value: Any, bit_off: int = 0, bits: int = 0) -> None:
        btf, m = self._btf, self._m
        tid = btf.skip_modifiers(tid)
        t = btf[tid]
        size = btf.size_of(tid)
        if isinstance(value, (bytes, bytearray)):
            if len(value) > size:
                raise InputError(f"{len(value)} bytes do not fit in {size}")
            m.write(addr, bytes(value) + bytes(size - len(value)))
            return
        if isinstance(value, _Typed):
            value = value.addr if isinstance(t, Ptr) else value.raw()
            if isinstance(value, bytes):
                m.write(addr, value)
                return
        if isinstance(value, dict) and isinstance(t, Composite):
            obj = KObject(m, btf, tid, addr)
            for k, v in value.items():
                setattr(obj, k, v)
            return
        if isinstance(value, (list, tuple)) and isinstance(t, Array):
            KArray(m, btf, tid, addr)[:len(value)] = value
            return
        if not isinstance(value, int):
            raise InputError(f"cannot store {type(value).__name__} in a {t.kind_name}")
        if bits:
            nbytes = (bit_off + bits + 7) // 8
            word = int.from_bytes(m.read(addr, nbytes), "little")
            mask = ((1 << bits) - 1) << bit_off
            word = (word & ~mask) | ((value << bit_off) & mask)
            m.write(addr, word.to_bytes(nbytes, "little"))
            return
        m.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))


class KObject(_Typed):
    """A struct or union at an address: members by attribute or item name."""

    __slots__ = ()

    @classmethod
    def new(cls, machine: Machine, btf: BTF, type_name: str, **fields: Any) -> "KObject":
        """``kzalloc(sizeof(struct type_name))`` with ``fields`` set."""
        tid = _find_type(btf, type_name)
        obj = cls(machine, btf, tid, machine.alloc.kzalloc(btf.size_of(tid)))
        for k, v in fields.items():
            setattr(obj, k, v)
        return obj

    @classmethod
    def at(cls, machine: Machine, btf: BTF, type_name: str, addr: int) -> "KObject":
        """A view of an existing object."""
        return cls(machine, btf, _find_type(btf, type_name), addr)

    @property
    def type_name(self) -> str:
        return self._btf[self._tid].name

    def _composite(self) -> Composite:
        t = self._btf[self._tid]
        assert isinstance(t, Composite)
        return t

    def _member(self, name: str) -> tuple[int, int, int, int]:
        """(type id, byte address, bit offset in it, bitfield size) of member ``name``,
        looking through anonymous struct/union members."""
        for mem in self._composite().members:
            if mem.name == name:
                byte, bit = divmod(mem.bits_offset, 8)
                return mem.type_id, self._addr + byte, bit, mem.bitfield_size
            if not mem.name:
                inner = self._btf.resolve(mem.type_id)
                if isinstance(inner, Composite):
                    sub = KObject(self._m, self._btf, self._btf.skip_modifiers(mem.type_id),
                                  self._addr + mem.bits_offset // 8)
                    try:
                        return sub._member(name)
                    except AttributeError:
                        pass
        raise AttributeError(f"struct {self.type_name} has no member {name!r}")

    def offset_of(self, name: str) -> int:
        """``offsetof(struct, name)``."""
        return self._member(name)[1] - self._addr

    def get(self, name: str) -> Any:
        """The value of member ``name`` (also ``obj.name`` and ``obj[name]``)."""
        tid, addr, bit, bits = self._member(name)
        return self._load(tid, addr, bit, bits)

    def set(self, name: str, value: Any) -> None:
        """Store ``value`` in member ``name`` (also ``obj.name = value``)."""
        tid, addr, bit, bits = self._member(name)
        self._store(tid, addr, value, bit, bits)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.set(name, value)

    __getitem__ = get
    __setitem__ = set

    def deref(self, name: str) -> "KObject | None":
        """Follow the pointer member ``name`` to a KObject of its target type (None if NULL)."""
        tid, addr, _, _ = self._member(name)
        t = self._btf.resolve(tid)
        if not isinstance(t, Ptr):
            raise InputError(f"member {name!r} is not a pointer")
        target = int.from_bytes(self._m.read(addr, 8), "little")
        return None if target == 0 else KObject(self._m, self._btf, t.type_id, target)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for mem in self._composite().members:
            if mem.name:
                v = self.get(mem.name)
                out[mem.name] = v.to_dict() if isinstance(v, KObject) else list(v) if isinstance(v, KArray) else v
        return out

    def __repr__(self) -> str:
        return f"<struct {self.type_name} at {self._addr:#x}>"


class KArray(_Typed):
    """A BTF array in memory, indexable and sliceable."""

    __slots__ = ()

    def _arr(self) -> Array:
        t = self._btf[self._tid]
        assert isinstance(t, Array)
        return t

    def __len__(self) -> int:
        return self._arr().nelems

    def _elem(self, i: int) -> tuple[int, int]:
        a = self._arr()
        if not 0 <= i < a.nelems:
            raise IndexError(i)
        return a.type_id, self._addr + i * self._btf.size_of(a.type_id)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        tid, addr = self._elem(i if i >= 0 else len(self) + i)
        return self._load(tid, addr)

    def __setitem__(self, i: int | slice, value: Any) -> None:
        if isinstance(i, slice):
            for k, v in zip(range(*i.indices(len(self))), value):
                self[k] = v
            return
        tid, addr = self._elem(i if i >= 0 else len(self) + i)
        self._store(tid, addr, value)

    def __iter__(self) -> Iterator[Any]:
        return (self[k] for k in range(len(self)))
