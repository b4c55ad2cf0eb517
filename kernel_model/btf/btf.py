"""The BTF object: a type graph indexed by id, name and kind, optionally split.

Models ``struct btf`` of kernel/bpf/btf.c and libbpf's view of it (Linux
6.12/6.18): type ids start at 1 (0 is void); a *split* BTF (a module's) sits
on a base (vmlinux) and its ids and string offsets continue after the base's
(btf_type_by_id(), btf_find_by_name_kind()). Size and alignment resolution
look through typedefs and modifiers as btf_resolve_size() and
btf_type_skip_modifiers() do; alignment follows libbpf's btf__align_of()
(x86-64: pointers 8 bytes, natural alignment capped at the type's size).

Left out: the kernel's per-type resolved-size cache (sizes are computed on
demand) and the module/vmlinux reference counting.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from . import structs as S
from .codec import StringTable, decode, decode_all, decode_record, encode
from .errors import BTFError
from .section import TypeSection

if TYPE_CHECKING:
    from .types import BTFType

__all__ = ["BTF", "POINTER_SIZE"]

POINTER_SIZE = 8  # x86-64 kernel pointers (sizeof(void *) in __get_type_size())

# Kinds whose record carries their size (btf_type_has_size()), and the scalars among them.
_SIZED_KINDS = frozenset({S.KIND_INT, S.KIND_STRUCT, S.KIND_UNION, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_FLOAT,
                          S.KIND_DATASEC})
_SCALAR_KINDS = frozenset({S.KIND_INT, S.KIND_ENUM, S.KIND_ENUM64, S.KIND_FLOAT})


class BTF:
    """A BTF type graph.

    Accessible attributes: ``base`` (the base BTF of a split BTF, or None),
    ``start_id`` (first id this BTF owns), ``type_count`` (one past the last
    id, as libbpf's btf__type_cnt()), ``byteorder``.

    Build one with :meth:`from_bytes`, :meth:`from_file`, :meth:`add`, or
    :func:`kernel_model.btf.cdecl.parse_c`.
    """

    def __init__(self, types: Iterable[BTFType] = (), *, base: BTF | None = None,
                 byteorder: str = "little") -> None:
        self.base = base
        self.byteorder: str = base.byteorder if base is not None else byteorder
        self.start_id = base.type_count if base is not None else 1
        self._types: list[BTFType] = []
        # A split BTF's own string table also starts with an empty string: the kernel would
        # accept an empty start, but libbpf 1.1 (bpftool 7.1) refuses it, and pahole writes it.
        self._strings: StringTable = StringTable(b"\0", base._strings if base is not None else None)
        self._hdr_len = S.HEADER_SIZE
        self._by_name: dict[str, list[int]] | None = None
        # Set by codec.decode(): the blob's type section, whose records are turned into objects
        # on first use (``_types`` holds None until then). Fast paths (validate, raw and C dumps)
        # read it while it still describes every own type (see :meth:`_section`).
        self._sec: TypeSection | None = None
        self._where = ""
        for t in types:
            self.add(t)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, base: BTF | None = None, *, validate: bool = True, where: str = "") -> BTF:
        """Decode a blob; with ``validate`` also apply the kernel's graph rules (validate.py)."""
        btf = decode(data, base, where)
        btf._where = where
        if validate:
            from .validate import validate_btf
            validate_btf(btf, where)
        return btf

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], base: BTF | None = None, *,
                  validate: bool | None = None) -> BTF:
        """Read a raw BTF file (such as /sys/kernel/btf/vmlinux) or the .BTF section of an ELF object.

        ``validate`` defaults to True for raw BTF and False for an ELF object, whose BTF is
        only valid after libbpf's fixups (DATASEC sizes and offsets are 0 until then).
        """
        with open(path, "rb") as f:
            data = f.read()
        where = os.fspath(path)
        if data[:4] == b"\x7fELF":
            data = _elf_btf_section(path, where)
            if validate is None:
                validate = False
        return cls.from_bytes(data, base, validate=validate is not False, where=where)

    def to_bytes(self) -> bytes:
        """Encode this BTF's own types (a split BTF encodes without its base)."""
        return encode(self)

    def add(self, t: BTFType) -> int:
        """Append ``t`` and return its id."""
        from .types import BTFType
        if not isinstance(t, BTFType) or t.kind == S.KIND_UNKN:
            raise BTFError(f"cannot add {t!r}: not a BTF type record")
        if self._sec is not None:
            self._materialize_all()
        self._types.append(t)
        tid = self.start_id + len(self._types) - 1
        if self._by_name is not None and t.name:
            self._by_name.setdefault(t.name, []).append(tid)
        return tid

    def replace(self, tid: int, t: BTFType) -> None:
        """Replace the record of own type ``tid`` (used to close forward references)."""
        if not self.start_id <= tid < self.type_count:
            raise BTFError(f"[{tid}] not a type of this BTF", type_id=tid)
        if self._sec is not None:
            self._materialize_all()
        self._types[tid - self.start_id] = t
        self._by_name = None

    # ---- lazily decoded records ---------------------------------------------------------------
    def _section(self) -> TypeSection | None:
        """The decoded blob's type section while it describes exactly this BTF's own types."""
        return self._sec

    def _load(self, i: int) -> BTFType:
        t = decode_record(self._sec, i, self.byteorder, self._where)  # type: ignore[arg-type]
        self._types[i] = t
        return t

    def _materialize_all(self) -> list[BTFType]:
        """Turn every pending record into its object; the section is dropped (the list now rules)."""
        sec = self._sec
        if sec is not None:
            fresh = decode_all(sec, self.byteorder, self._where)
            self._types = [t if t is not None else f for t, f in zip(self._types, fresh)]
            self._sec = None
        return self._types

    # ---- lookup -------------------------------------------------------------------------------
    @property
    def type_count(self) -> int:
        return self.start_id + len(self._types)

    def __len__(self) -> int:
        """Number of types this BTF owns (not counting its base)."""
        return len(self._types)

    def __getitem__(self, tid: int) -> BTFType:
        return self.type_by_id(tid)

    def type_by_id(self, tid: int) -> BTFType:
        """The type with id ``tid`` (0 is void); raises BTFError when out of range."""
        if tid >= self.start_id:
            i = tid - self.start_id
            if i < len(self._types):
                t = self._types[i]
                return t if t is not None else self._load(i)
        elif tid == 0:
            from .types import VOID
            return VOID
        elif self.base is not None and tid > 0:
            return self.base.type_by_id(tid)
        raise BTFError(f"type id {tid} out of range (1..{self.type_count - 1})", type_id=tid)

    def types(self) -> list[BTFType]:
        """This BTF's own types in id order (a copy)."""
        return list(self._materialize_all())

    def iter_types(self, kind: int | None = None, *, with_base: bool = False) -> Iterator[tuple[int, BTFType]]:
        """Yield (id, type), optionally only of ``kind``; base types first when ``with_base``."""
        if with_base and self.base is not None:
            yield from self.base.iter_types(kind, with_base=True)
        sec = self._sec
        if kind is not None and sec is not None:
            get = self.type_by_id
            for i in sec.ids(kind):
                yield i, get(i)
            return
        for i, t in enumerate(self._materialize_all(), self.start_id):
            if kind is None or t.kind == kind:
                yield i, t

    def _name_index(self) -> dict[str, list[int]]:
        if self._by_name is None:
            idx: dict[str, list[int]] = {}
            sec = self._sec
            names: Iterable[str]
            if sec is not None:
                w = sec.words
                names = map(sec.strtab.names().__getitem__, map(w.__getitem__, sec.offs[:-1]))
            else:
                names = (t.name for t in self._types)
            for i, name in enumerate(names, self.start_id):
                if name:
                    got = idx.get(name)
                    if got is None:
                        idx[name] = [i]
                    else:
                        got.append(i)
            self._by_name = idx
        return self._by_name

    def _kind_of_own(self, tid: int) -> int:
        sec = self._sec
        if sec is not None:
            return sec.kinds[tid - self.start_id]
        return self._types[tid - self.start_id].kind

    def find_all(self, name: str, kind: int | None = None) -> list[int]:
        """Ids of every type called ``name`` (of ``kind`` if given), base first."""
        out = self.base.find_all(name, kind) if self.base is not None else []
        for i in self._name_index().get(name, ()):
            if kind is None or self._kind_of_own(i) == kind:
                out.append(i)
        return out

    def find(self, name: str, kind: int | None = None) -> int | None:
        """Id of the first type called ``name`` (of ``kind``), as btf_find_by_name_kind(); None if absent."""
        if self.base is not None:
            r = self.base.find(name, kind)
            if r is not None:
                return r
        for i in self._name_index().get(name, ()):
            if kind is None or self._kind_of_own(i) == kind:
                return i
        return None

    def get(self, name: str, kind: int | None = None) -> BTFType | None:
        """The first type called ``name`` (of ``kind``), or None."""
        tid = self.find(name, kind)
        return None if tid is None else self.type_by_id(tid)

    def name_of(self, tid: int) -> str:
        return self.type_by_id(tid).name

    def string_at(self, off: int) -> str | None:
        """The string at offset ``off`` of the string section (a split BTF's offsets
        continue its base's), or None when ``off`` lies past the end:
        ``btf_name_by_offset()`` (kernel/bpf/btf.c), which line_info records are
        checked and printed with."""
        if off < 0 or not self._strings.valid(off):
            return None
        return self._strings.get(off)

    # ---- resolution ---------------------------------------------------------------------------
    def skip_modifiers(self, tid: int) -> int:
        """Follow typedefs and CONST/VOLATILE/RESTRICT/TYPE_TAG from ``tid`` (btf_type_skip_modifiers())."""
        seen = 0
        t = self.type_by_id(tid)
        while t.kind in S.MODIFIER_KINDS:
            tid = t.type_id  # type: ignore[attr-defined]
            t = self.type_by_id(tid)
            seen += 1
            if seen > self.type_count:
                raise BTFError(f"[{tid}] Loop detected through modifiers", type_id=tid)
        return tid

    def resolve(self, tid: int) -> BTFType:
        """The type ``tid`` names once typedefs and modifiers are skipped."""
        return self.type_by_id(self.skip_modifiers(tid))

    def size_of(self, tid: int) -> int:
        """Size in bytes of type ``tid`` (btf_resolve_size()); BTFError for void, FWD, FUNC, FUNC_PROTO."""
        mult = 1
        steps = 0
        start = tid
        while True:
            t = self.type_by_id(tid)
            k = t.kind
            if k in S.MODIFIER_KINDS:
                tid = t.type_id  # type: ignore[attr-defined]
            elif k == S.KIND_ARRAY:
                mult *= t.nelems  # type: ignore[attr-defined]
                tid = t.type_id  # type: ignore[attr-defined]
            elif k == S.KIND_PTR:
                return mult * POINTER_SIZE
            elif k == S.KIND_VAR:
                tid = t.type_id  # type: ignore[attr-defined]
            elif k in _SIZED_KINDS:
                return mult * t.size  # type: ignore[attr-defined]
            else:
                raise BTFError(f"[{start}] type [{tid}] {t.kind_name} '{t.name}' has no size", type_id=start)
            steps += 1
            if steps > self.type_count:
                raise BTFError(f"[{start}] Loop detected while resolving the size", type_id=start)

    def align_of(self, tid: int) -> int:
        """Alignment in bytes of type ``tid`` (libbpf btf__align_of(), x86-64)."""
        return self._align(tid, 0)

    def _align(self, tid: int, depth: int) -> int:
        if depth > 64:
            raise BTFError(f"[{tid}] type nesting too deep to compute an alignment", type_id=tid)
        t = self.resolve(tid)
        k = t.kind
        if k == S.KIND_PTR:
            return POINTER_SIZE
        if k in _SCALAR_KINDS:
            size = t.size  # type: ignore[attr-defined]
            return max(1, min(size, 16 if k == S.KIND_FLOAT or size == 16 else 8))
        if k == S.KIND_ARRAY:
            return self._align(t.type_id, depth + 1)  # type: ignore[attr-defined]
        if k == S.KIND_STRUCT or k == S.KIND_UNION:
            a = 1
            for m in t.members:  # type: ignore[attr-defined]
                ma = self._align(m.type_id, depth + 1)
                if m.bitfield_size == 0 and m.bits_offset % (8 * ma):
                    return 1  # a misaligned member: the struct is packed
                a = max(a, ma)
            if t.size % a:  # type: ignore[attr-defined]
                return 1
            return a
        raise BTFError(f"[{tid}] {t.kind_name} '{t.name}' has no alignment", type_id=tid)

    def is_struct_by_value(self, tid: int) -> bool:
        """Whether ``tid`` resolves to a STRUCT or UNION (BTF_FMODEL_STRUCT_ARG)."""
        return self.resolve(tid).kind in (S.KIND_STRUCT, S.KIND_UNION)

    def validate(self, where: str = "") -> None:
        """Apply the kernel's graph rules (see validate.py); raises BTFError."""
        from .validate import validate_btf
        validate_btf(self, where)

    def __repr__(self) -> str:
        split = f", base with {self.base.type_count - 1} types" if self.base is not None else ""
        return f"<BTF ids {self.start_id}..{self.type_count - 1}{split}>"


def _check_elf_sections(path: str | os.PathLike[str], where: str) -> None:
    """The bounds pyelftools trusts: the section header table and every section's
    bytes (but ``SHT_NOBITS``) inside the file (ELF64 little endian, what BPF
    objects and x86-64 modules are; other classes are left to pyelftools)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 64 or data[4] != 2 or data[5] != 1:
        return
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    if shnum == 0:
        return
    if shentsize < 64 or shoff + shnum * shentsize > len(data):
        raise BTFError(f"bad ELF file: {shnum} section headers at {shoff:#x} extend past the end of the file "
                       f"({len(data)} bytes)", where)
    for i in range(shnum):
        _name, sh_type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        if sh_type != 8 and size and off + size > len(data):  # 8: SHT_NOBITS
            raise BTFError(f"bad ELF file: section {i}: {size} bytes at {off:#x} extend past the end of the file "
                           f"({len(data)} bytes)", where)


def _elf_btf_section(path: str | os.PathLike[str], where: str) -> bytes:
    """The .BTF section of an ELF object (a .ko or a clang -g BPF object)."""
    try:
        from elftools.common.exceptions import ELFError
        from elftools.construct import ConstructError
        from elftools.elf.elffile import ELFFile
    except ImportError as e:  # pragma: no cover - pyelftools is a dependency
        raise BTFError(f"reading ELF needs pyelftools: {e}", where) from None
    try:
        _check_elf_sections(path, where)
        with open(path, "rb") as f:
            sec = ELFFile(f).get_section_by_name(".BTF")
            if sec is None:
                raise BTFError("no .BTF section in this ELF file", where)
            return sec.data()
    except BTFError:
        raise
    except OSError as e:
        raise BTFError(f"cannot read: {e.strerror or e}", where) from None
    except (ELFError, ConstructError, struct.error, ValueError, KeyError, IndexError, OverflowError,
            UnicodeDecodeError, AssertionError, EOFError) as e:
        # pyelftools trusts the headers: a section offset of 0xffffffffffffff00 is a
        # ValueError from seek(), a truncated table a ConstructError ...
        raise BTFError(f"bad ELF file: {e or type(e).__name__}", where) from None

