"""A BPF ELF object as libbpf reads it: sections, symbols, relocations.

Models the ELF half of ``bpf_object__elf_init`` / ``bpf_object__elf_collect``
(``src/libbpf.c``, libbpf 1.8) on top of pyelftools (which reads the ELF
header, the section headers and their names):

* the header must be ELF64, little-endian (the only byte order we load), an
  ``ET_REL`` object for ``EM_BPF`` (247) or machine 0; pyelftools parses the
  ELF header and each section header (``structs.Elf_Shdr``) on its own, so a
  bad header is reported with its section index;
* exactly one ``SHT_SYMTAB``; its string table is ``sh_link``;
* ``Elf64_Sym`` (24 bytes) and ``Elf64_Rel`` (16 bytes) records are decoded
  here from the section bytes, with bounds checked.

Every malformed input -- a truncated file, a section past the end of the file,
a bad string offset, a relocation section whose entries are not 16 bytes --
raises one :class:`~emu.libbpf.errors.ObjectFormatError` naming the file, the
section and the byte offset; no pyelftools or ``struct`` exception escapes.

Where we differ: libelf would map the file; we read it into memory. Big-endian
objects are refused at open (libbpf 1.8 can byte-swap them for introspection
but refuses to load them: "loading non-native endianness is unsupported").
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import LIBBPF_ERRNO__FORMAT, ObjectFormatError

__all__ = [
    "ElfObject", "Section", "Symbol", "Rel",
    "SHT_PROGBITS", "SHT_SYMTAB", "SHT_STRTAB", "SHT_NOBITS", "SHT_REL", "SHT_LLVM_ADDRSIG",
    "SHF_EXECINSTR", "STT_NOTYPE", "STT_OBJECT", "STT_FUNC", "STT_SECTION", "STB_LOCAL", "STB_GLOBAL",
    "STB_WEAK", "STV_DEFAULT", "STV_INTERNAL", "STV_HIDDEN", "SHN_UNDEF", "SHN_LORESERVE", "SHN_ABS",
    "SHN_COMMON", "EM_BPF", "R_BPF_64_64", "R_BPF_64_ABS64", "R_BPF_64_ABS32", "R_BPF_64_NODYLD32",
    "R_BPF_64_32",
]

# include/uapi/linux/elf.h and the gABI
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_REL = 1, 2, 3, 8, 9
SHT_LLVM_ADDRSIG = 0x6FFF4C03
SHF_EXECINSTR = 0x4
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STV_DEFAULT, STV_INTERNAL, STV_HIDDEN = 0, 1, 2
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON = 0, 0xFF00, 0xFFF1, 0xFFF2
ET_REL = 1
EM_BPF = 247
# Documentation/bpf/llvm_reloc.rst (Linux 6.12)
R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_NODYLD32, R_BPF_64_32 = 1, 2, 3, 4, 10

_SYM = struct.Struct("<IBBHQQ")   # Elf64_Sym: name, info, other, shndx, value, size
_REL = struct.Struct("<QQ")       # Elf64_Rel: offset, info


@dataclass(frozen=True, slots=True)
class Section:
    """One section header and its bytes (``data`` is empty for SHT_NOBITS)."""

    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int
    data: bytes

    @property
    def is_exec(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True, slots=True)
class Symbol:
    """One ``Elf64_Sym`` (``index`` in the symbol table)."""

    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    visibility: int
    shndx: int
    name_off: int


@dataclass(frozen=True, slots=True)
class Rel:
    """One ``Elf64_Rel``: ``offset`` in the target section, symbol index, type."""

    index: int
    offset: int
    sym: int
    type: int


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def _strz(data: bytes, off: int) -> str | None:
    """The NUL-terminated name at ``off``, printable: bytes that are not UTF-8 and
    control characters come out escaped (``\\x80``, ``\\x0a``), so a name from a
    malformed object cannot break a message into lines. (A real section or
    symbol name is a C identifier or a section path: it is unchanged.)"""
    if not 0 <= off < len(data):
        return None
    end = data.find(b"\0", off)
    if end < 0:
        return None
    return data[off:end].decode("utf-8", "backslashreplace").translate(_CONTROL)


class ElfObject:
    """A parsed BPF ELF object.

    Accessible attributes: ``path``, ``sections`` (index -> :class:`Section`,
    section 0 omitted), ``symbols`` (list of :class:`Symbol`, index 0 the null
    symbol), ``symtab_index``, ``strtab_index``.
    """

    def __init__(self, data: bytes, path: str = "<memory>") -> None:
        self.path = path
        self.size = len(data)
        self.sections: dict[int, Section] = {}
        self.symbols: list[Symbol] = []
        self.symtab_index = 0
        self.strtab_index = 0
        self._read_headers(bytes(data))
        self._read_symbols()

    # --- errors -------------------------------------------------------------------------
    def error(self, message: str, section: Section | int | str | None = None, offset: int | None = None,
              errno: int = LIBBPF_ERRNO__FORMAT) -> ObjectFormatError:
        """An :class:`ObjectFormatError` located at ``section`` + ``offset``."""
        if isinstance(section, Section):
            sname = section.name or f"section({section.index})"
        elif isinstance(section, int):
            s = self.sections.get(section)
            sname = (s.name if s is not None and s.name else f"section({section})")
        else:
            sname = section or ""
        return ObjectFormatError(message, self.path, sname, offset, errno)

    # --- reading ------------------------------------------------------------------------------
    def _read_headers(self, data: bytes) -> None:
        from elftools.common.exceptions import ELFError
        from elftools.common.utils import struct_parse
        from elftools.construct import ConstructError
        from elftools.elf.elffile import ELFFile

        if len(data) < 16 or data[:4] != b"\x7fELF":
            raise self.error("elf: not a proper ELF object")
        if data[4] != 2:
            raise self.error("elf: not a 64-bit ELF object")
        if data[5] != 1:
            if data[5] == 2:
                raise self.error("loading non-native endianness is unsupported",
                                 errno=LIBBPF_ERRNO__FORMAT)
            raise self.error("elf: unknown byte order")
        if len(data) < 64:
            raise self.error(f"elf: failed to get ELF header: file is {len(data)} bytes, "
                             "the header needs 64")
        e_type, e_machine = struct.unpack_from("<HH", data, 16)
        if e_type != ET_REL or (e_machine and e_machine != EM_BPF):
            raise self.error(f"elf: not a valid eBPF object file "
                             f"(e_type {e_type}, e_machine {e_machine})")
        (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        if e_shentsize != 64:
            raise self.error(f"elf: section header entries are {e_shentsize} bytes, not 64")
        if e_shoff + e_shnum * 64 > len(data) or e_shnum == 0:
            raise self.error(f"elf: section headers at {e_shoff:#x} ({e_shnum} x 64 bytes) extend past the "
                             f"end of the file ({len(data)} bytes)")
        if not 0 < e_shstrndx < e_shnum:
            raise self.error(f"elf: failed to get section names section index: "
                             f"e_shstrndx {e_shstrndx} of {e_shnum} sections")
        try:
            elf = ELFFile(io.BytesIO(data))
            shdr = elf.structs.Elf_Shdr  # the header layout; each header is parsed on its own below
        except (ELFError, ConstructError, struct.error, ValueError, KeyError, IndexError, OverflowError) as e:
            raise self.error(f"elf: malformed ELF header: {e}") from None

        def header(idx: int) -> Any:
            try:
                return struct_parse(shdr, io.BytesIO(data), stream_pos=e_shoff + 64 * idx)
            except (ELFError, ConstructError, struct.error, ValueError) as e:
                raise self.error(f"elf: failed to get the section header: {e}",
                                 f"section({idx})") from None

        shstr = self._slice(data, e_shstrndx, header(e_shstrndx))
        for idx in range(1, e_shnum):
            hdr = header(idx)
            name = _strz(shstr, hdr["sh_name"])
            if name is None:
                raise self.error(f"elf: failed to get the section name: "
                                 f"name offset {hdr['sh_name']:#x} is outside the section names",
                                 f"section({idx})")
            sh_type = _sh_type(hdr["sh_type"])
            sec_data = b"" if sh_type == SHT_NOBITS else self._slice(data, idx, hdr, name)
            self.sections[idx] = Section(idx, name, sh_type, int(hdr["sh_flags"]), int(hdr["sh_offset"]),
                                         int(hdr["sh_size"]), int(hdr["sh_link"]), int(hdr["sh_info"]),
                                         int(hdr["sh_entsize"]), sec_data)

    def _slice(self, data: bytes, idx: int, hdr: object, name: str = "") -> bytes:
        off, size = int(hdr["sh_offset"]), int(hdr["sh_size"])  # type: ignore[index]
        if off + size > len(data):
            raise self.error("elf: failed to get the section data: "
                             f"{size} bytes at {off:#x} extend past the end of the file ({len(data)} bytes)",
                             name or f"section({idx})")
        return data[off:off + size]

    def _read_symbols(self) -> None:
        symtabs = [s for s in self.sections.values() if s.type == SHT_SYMTAB]
        if len(symtabs) > 1:
            raise self.error("elf: multiple symbol tables")
        if not symtabs:
            raise self.error("elf: couldn't find symbol table, stripped object file?",
                             errno=2)  # -ENOENT
        st = symtabs[0]
        self.symtab_index = st.index
        self.strtab_index = st.link
        strtab = self.sections.get(st.link)
        if strtab is None or strtab.type != SHT_STRTAB:
            raise self.error("elf: symbol strings section missing or invalid", st)
        if st.entsize != _SYM.size:
            raise self.error(f"symbol table entries are {st.entsize} bytes, not {_SYM.size}", st)
        if len(st.data) % _SYM.size:
            raise self.error(f"symbol table size {len(st.data)} is not a multiple of {_SYM.size}", st,
                             len(st.data) - len(st.data) % _SYM.size)
        strs = strtab.data
        for i in range(len(st.data) // _SYM.size):
            off = i * _SYM.size
            name_off, info, other, shndx, value, size = _SYM.unpack_from(st.data, off)
            name = _strz(strs, name_off) if name_off else ""
            if name is None:
                raise self.error(f"symbol #{i}: name offset {name_off:#x} is outside {strtab.name}", st, off)
            self.symbols.append(Symbol(i, name, value, size, info & 0xF, info >> 4, other & 0x3, shndx,
                                       name_off))

    # --- accessors -------------------------------------------------------------------------------
    def get_section(self, index: int) -> Section | None:
        return self.sections.get(index)

    def section_by_name(self, name: str) -> Section | None:
        for s in self.sections.values():
            if s.name == name:
                return s
        return None

    def iter_sections(self) -> Iterator[Section]:
        return iter(self.sections.values())

    def section_name(self, index: int) -> str:
        s = self.sections.get(index)
        return s.name if s is not None else f"section({index})"

    def symbol(self, index: int) -> Symbol | None:
        return self.symbols[index] if 0 <= index < len(self.symbols) else None

    def relocations(self, sec: Section) -> list[Rel]:
        """The ``Elf64_Rel`` records of an SHT_REL section (sh_entsize 16, else malformed)."""
        if sec.entsize != _REL.size:
            raise self.error(f"relocation entries are {sec.entsize} bytes, not {_REL.size} (sizeof(Elf64_Rel))",
                             sec)
        if len(sec.data) % _REL.size:
            raise self.error(f"size {len(sec.data)} is not a multiple of {_REL.size}", sec,
                             len(sec.data) - len(sec.data) % _REL.size)
        out = []
        for i in range(len(sec.data) // _REL.size):
            off, info = _REL.unpack_from(sec.data, i * _REL.size)
            out.append(Rel(i, off, info >> 32, info & 0xFFFFFFFF))
        return out


_SH_TYPES = {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4, "SHT_HASH": 5,
             "SHT_DYNAMIC": 6, "SHT_NOTE": 7, "SHT_NOBITS": 8, "SHT_REL": 9, "SHT_SHLIB": 10, "SHT_DYNSYM": 11,
             "SHT_INIT_ARRAY": 14, "SHT_FINI_ARRAY": 15, "SHT_PREINIT_ARRAY": 16, "SHT_GROUP": 17,
             "SHT_SYMTAB_SHNDX": 18, "SHT_LLVM_ADDRSIG": SHT_LLVM_ADDRSIG}


def _sh_type(v: object) -> int:
    """pyelftools names known section types; numbers pass through."""
    if isinstance(v, int):
        return v
    return _SH_TYPES.get(str(v), -1)
