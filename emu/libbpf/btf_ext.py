""".BTF.ext: func_info, line_info and CO-RE relocation records.

Models ``btf_ext__new`` / ``btf_ext_parse`` / ``btf_ext_parse_sec_info``
(``src/btf.c``, libbpf 1.8) and the record layouts of ``src/libbpf_internal.h``
and ``include/uapi/linux/bpf.h``:

* header ``{u16 magic 0xEB9F, u8 version 1, u8 flags 0, u32 hdr_len,
  u32 func_info_off, func_info_len, line_info_off, line_info_len}`` plus,
  when ``hdr_len`` covers them, ``core_relo_off, core_relo_len``; offsets are
  relative to the end of the header;
* each subsection is ``u32 rec_size`` then ``{u32 sec_name_off, u32 num_info,
  num_info x rec_size bytes}`` blocks; ``rec_size`` is at least 8 (func_info),
  16 (line_info), 16 (core_relo) and a multiple of 4; ``num_info`` > 0;
* ``insn_off`` is a *byte* offset in the ELF section (libbpf converts it to an
  instruction index relative to the program when it copies the records).

A malformed ``.BTF.ext`` raises :class:`BtfExtError` with libbpf's debug
message and the byte offset inside the section; the object loader then does
what libbpf does: warns ``Error loading ELF section .BTF.ext: -EINVAL.
Ignored and continue.`` and loads without it.

Only little-endian data is read (the loader refuses other objects earlier).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import Callable

from kernel_model.errors import InputError

__all__ = [
    "BtfExt", "BtfExtError", "ExtSection", "FuncInfo", "LineInfo", "CoreRelo",
    "FUNC_INFO_MIN", "LINE_INFO_MIN", "CORE_RELO_SIZE", "CORE_KIND_NAMES",
]

BTF_MAGIC = 0xEB9F
FUNC_INFO_MIN = 8       # struct bpf_func_info_min {insn_off, type_id}
LINE_INFO_MIN = 16      # struct bpf_line_info_min {insn_off, file_name_off, line_off, line_col}
CORE_RELO_SIZE = 16     # struct bpf_core_relo {insn_off, type_id, access_str_off, kind}

#: enum bpf_core_relo_kind (include/uapi/linux/bpf.h) with libbpf's short names
#: (core_relo_kind_str in src/relo_core.c)
CORE_KIND_NAMES = {
    0: "byte_off", 1: "byte_sz", 2: "field_exists", 3: "signed", 4: "lshift_u64", 5: "rshift_u64",
    6: "local_type_id", 7: "target_type_id", 8: "type_exists", 9: "type_size", 10: "enumval_exists",
    11: "enumval_value", 12: "type_matches",
}


class BtfExtError(InputError):
    """A malformed .BTF.ext: ``errno`` (EINVAL/EOPNOTSUPP as libbpf) and ``offset`` in the section."""

    def __init__(self, message: str, offset: int, err: int = errno.EINVAL) -> None:
        self.errno = err
        self.offset = offset
        super().__init__(message, f"section .BTF.ext offset {offset:#x}")


@dataclass(frozen=True, slots=True)
class FuncInfo:
    insn_off: int   # bytes in the ELF section
    type_id: int    # a FUNC in .BTF
    raw: bytes      # the whole record (rec_size bytes)


@dataclass(frozen=True, slots=True)
class LineInfo:
    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int
    raw: bytes

    @property
    def line(self) -> int:
        return self.line_col >> 10

    @property
    def col(self) -> int:
        return self.line_col & 0x3FF


@dataclass(frozen=True, slots=True)
class CoreRelo:
    insn_off: int
    type_id: int
    access_str_off: int
    kind: int


@dataclass(slots=True)
class ExtSection:
    """The records of one ELF section (``sec_name`` from .BTF strings)."""

    sec_name_off: int
    records: list = field(default_factory=list)


@dataclass(slots=True)
class BtfExt:
    """A parsed .BTF.ext; each info kind keeps its record size and per-section records."""

    func_info_rec_size: int = 0
    line_info_rec_size: int = 0
    core_relo_rec_size: int = 0
    func_info: list[ExtSection] = field(default_factory=list)
    line_info: list[ExtSection] = field(default_factory=list)
    core_relo: list[ExtSection] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes) -> BtfExt:
        """``btf_ext__new``: raises :class:`BtfExtError` on malformed data."""
        data = bytes(data)
        if len(data) < 8:
            raise BtfExtError("BTF.ext header too short", 0)
        magic, version, flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
        if magic != BTF_MAGIC:
            raise BtfExtError(f"Invalid BTF.ext magic:{magic:x}", 0)
        if version != 1:
            raise BtfExtError(f"Unsupported BTF.ext version:{version}", 2, errno.EOPNOTSUPP)
        if flags:
            raise BtfExtError(f"Unsupported BTF.ext flags:{flags:x}", 3, errno.EOPNOTSUPP)
        if len(data) < hdr_len:
            raise BtfExtError("BTF.ext header not found", 4)
        if len(data) == hdr_len:
            raise BtfExtError("BTF.ext has no data", 4)
        if hdr_len < 24:
            raise BtfExtError("BTF.ext header missing func_info, line_info", 4)
        fi_off, fi_len, li_off, li_len = struct.unpack_from("<IIII", data, 8)
        out = cls()
        out.func_info_rec_size, out.func_info = _parse_info(data, hdr_len, fi_off, fi_len, FUNC_INFO_MIN,
                                                            "func_info", _func)
        out.line_info_rec_size, out.line_info = _parse_info(data, hdr_len, li_off, li_len, LINE_INFO_MIN,
                                                            "line_info", _line)
        if hdr_len >= 32:
            cr_off, cr_len = struct.unpack_from("<II", data, 24)
            out.core_relo_rec_size, out.core_relo = _parse_info(data, hdr_len, cr_off, cr_len, CORE_RELO_SIZE,
                                                                "core_relo", _core)
        return out


def _func(rec: bytes) -> FuncInfo:
    off, tid = struct.unpack_from("<II", rec, 0)
    return FuncInfo(off, tid, rec)


def _line(rec: bytes) -> LineInfo:
    off, file_name_off, line_off, line_col = struct.unpack_from("<IIII", rec, 0)
    return LineInfo(off, file_name_off, line_off, line_col, raw=rec)


def _core(rec: bytes) -> CoreRelo:
    return CoreRelo(*struct.unpack_from("<IIII", rec, 0))


def _parse_info(data: bytes, hdr_len: int, off: int, length: int, min_rec: int, desc: str,
                make: Callable[[bytes], object]) -> tuple[int, list[ExtSection]]:
    """``btf_ext_parse_sec_info``."""
    if length == 0:
        return 0, []
    if off & 3:
        raise BtfExtError(f".BTF.ext {desc} section is not aligned to 4 bytes", hdr_len + off)
    start = hdr_len + off
    if start + length > len(data):
        raise BtfExtError(f"{desc} section (off:{off} len:{length}) is beyond the end of the ELF section "
                          ".BTF.ext", start)
    if length < 4:
        raise BtfExtError(f".BTF.ext {desc} record size not found", start)
    (rec_size,) = struct.unpack_from("<I", data, start)
    if rec_size < min_rec or rec_size & 3:
        raise BtfExtError(f"{desc} section in .BTF.ext has invalid record size {rec_size}", start)
    pos = start + 4
    left = length - 4
    if not left:
        raise BtfExtError(f"{desc} section in .BTF.ext has no records", pos)
    secs = []
    while left:
        if left < 8:
            raise BtfExtError(f"{desc} section header is not found in .BTF.ext", pos)
        name_off, num = struct.unpack_from("<II", data, pos)
        total = 8 + num * rec_size
        if num == 0 or left < total:
            raise BtfExtError(f"{desc} section has incorrect num_records in .BTF.ext", pos + 4)
        sec = ExtSection(name_off)
        p = pos + 8
        for _ in range(num):
            sec.records.append(make(data[p:p + rec_size]))
            p += rec_size
        secs.append(sec)
        pos += total
        left -= total
    return rec_size, secs
