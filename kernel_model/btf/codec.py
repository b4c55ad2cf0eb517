"""Binary BTF decode and encode.

Models the parsing half of kernel/bpf/btf.c (Linux 6.12/6.18): btf_parse_hdr(),
btf_check_sec_info(), btf_parse_str_sec() and btf_check_meta() with each
kind's ``check_meta`` -- the rules that make a blob *readable* (magic, version,
flags, header, section bounds, string section, record lengths, info bits,
per-kind vlen/kind_flag/size fields, name offsets). The rules about the graph
(type ids in range, names, member offsets, loops) are in validate.py.

Encoding writes the header, the type section in id order and the string
table; a BTF decoded from bytes keeps its string table, so decode then encode
gives the same bytes. Split BTF (module BTF on a base) follows libbpf's and the
kernel's convention: type ids and string offsets continue after the base's.

Left out: the kernel's size limit (BTF_MAX_SIZE applies to user-loaded BTF
only; vmlinux is larger) and its verifier log format.
"""

from __future__ import annotations

import struct
from itertools import accumulate, compress
from operator import not_
from typing import TYPE_CHECKING

from . import structs as S
from .errors import BTFError
from .section import TypeSection, meta_ok, scan

if TYPE_CHECKING:
    from .btf import BTF
    from .types import BTFType

__all__ = ["decode", "decode_record", "decode_all", "encode", "StringTable"]


class StringTable:
    """A BTF string section: bytes plus offset<->string maps built on demand.

    ``base`` is the base BTF's table for split BTF; offsets below
    ``start_off`` (the base's total length) name base strings.
    """

    __slots__ = ("data", "base", "start_off", "_cache", "_rev", "_extra", "_extra_len")

    def __init__(self, data: bytes = b"\0", base: StringTable | None = None) -> None:
        self.data = bytes(data)
        self.base = base
        self.start_off = base.total_len if base is not None else 0
        self._cache: dict[int, str] = {0: ""}
        self._rev: dict[str, int] | None = None
        self._extra: list[bytes] = []
        self._extra_len = 0

    @property
    def total_len(self) -> int:
        """One past the last valid offset across the base chain (and appended strings)."""
        return self.start_off + len(self.data) + self._extra_len

    def valid(self, off: int) -> bool:
        """Whether ``off`` names a string (btf_name_offset_valid())."""
        return off < self.start_off + len(self.data)

    def get(self, off: int) -> str:
        """The string at ``off`` (the caller checked :meth:`valid`)."""
        s = self._cache.get(off)
        if s is not None:
            return s
        if off < self.start_off:
            s = self.base.get(off)  # type: ignore[union-attr]
        else:
            d = self.data
            rel = off - self.start_off
            s = d[rel:d.index(0, rel)].decode("utf-8", "surrogateescape")
        self._cache[off] = s
        return s

    def names(self) -> _Names:
        """Every string of the table by its offset, built in one pass over the section.

        A dict (C-speed lookups); offsets that are not the start of a string of
        this table (a string's tail, or the base's table) resolve on first use,
        and an invalid offset raises KeyError. Replaces the lazily filled cache.
        """
        c = self._cache
        if isinstance(c, _Names):
            return c
        d = self.data
        if d.isascii():
            strs = d.decode("ascii").split("\0")
            lens = map(len, strs)
        else:
            strs = d.decode("utf-8", "surrogateescape").split("\0")
            lens = map(len, d.split(b"\0"))
        offsets = list(accumulate(map((1).__add__, lens), initial=self.start_off))
        if d.endswith(b"\0"):
            strs.pop()  # the empty tail after the last NUL: its offset is one past the table
        m = _Names(self, zip(offsets, strs))
        del offsets[len(strs):]
        m.starts = offsets
        m.empties = list(compress(offsets, map(not_, strs)))
        m.update(c)
        self._cache = m
        return m

    def _reverse(self) -> dict[str, int]:
        if self._rev is None:
            rev: dict[str, int] = {}
            pos = 0
            start = self.start_off
            for raw in self.data.split(b"\0"):
                s = raw.decode("utf-8", "surrogateescape")
                if s not in rev:
                    rev[s] = start + pos
                pos += len(raw) + 1
            rev.pop("", None)
            self._rev = rev
        return self._rev

    def lookup(self, s: str) -> int | None:
        """Offset of ``s`` in this table or its base chain, or None."""
        if not s:
            return 0
        if self.base is not None:
            off = self.base.lookup(s)
            if off is not None:
                return off
        return self._reverse().get(s)

    def add(self, s: str) -> int:
        """Offset of ``s``, appending it when absent."""
        off = self.lookup(s)
        if off is not None:
            return off
        off = self.total_len
        raw = s.encode("utf-8", "surrogateescape") + b"\0"
        self._extra.append(raw)
        self._extra_len += len(raw)
        self._reverse()[s] = off
        return off

    def to_bytes(self) -> bytes:
        """The section's bytes: the original table then the appended strings."""
        return self.data + b"".join(self._extra)


class _Names(dict[int, str]):
    """offset -> string for one table (StringTable.names())."""

    __slots__ = ("table", "starts", "empties")

    def __init__(self, table: StringTable, items: object) -> None:
        super().__init__(items)  # type: ignore[call-overload]
        self.table = table
        self.starts: list[int] = []    # offset of every string of the table, in order
        self.empties: list[int] = []   # those of its empty strings

    def __missing__(self, off: int) -> str:
        if not self.table.valid(off):
            raise KeyError(off)
        return self.table.get(off)


def _err(msg: str, where: str, tid: int | None = None) -> BTFError:
    return BTFError(f"[{tid}] {msg}" if tid is not None else msg, where, tid)


def _parse_header(data: bytes, has_base: bool, where: str) -> tuple[str, int, int, int, int, int]:
    """btf_parse_hdr() + btf_check_sec_info(): returns
    (byteorder, hdr_len, type_off, type_len, str_off, str_len)."""
    size = len(data)
    if size < 8:
        raise _err("hdr_len not found", where)
    if data[0] == 0x9F and data[1] == 0xEB:
        byteorder = "little"
    elif data[0] == 0xEB and data[1] == 0x9F:
        byteorder = "big"
    else:
        raise _err(f"Invalid magic ({data[0]:02x}{data[1]:02x})", where)
    L = S.layouts(byteorder)
    hdr_len = L.u32.unpack_from(data, 4)[0]
    if size < hdr_len:
        raise _err(f"btf_header not found (hdr_len {hdr_len} > {size} bytes)", where)
    if hdr_len > S.HEADER_SIZE and any(data[S.HEADER_SIZE:hdr_len]):
        raise _err("Unsupported btf_header (non-zero bytes after the known fields)", where)
    raw = bytes(data[:min(hdr_len, S.HEADER_SIZE)]).ljust(S.HEADER_SIZE, b"\0")
    _magic, version, flags, _hl, type_off, type_len, str_off, str_len = L.header.unpack(raw)
    if version != S.BTF_VERSION:
        raise _err(f"Unsupported version {version}", where)
    if flags:
        raise _err(f"Unsupported flags {flags:#x}", where)
    if not has_base and size == hdr_len:
        raise _err("No data", where)
    expected_total = size - hdr_len
    total = 0
    for off, ln in sorted([(type_off, type_len), (str_off, str_len)]):
        if expected_total < off:
            raise _err("Invalid section offset", where)
        if total < off:
            raise _err("Unsupported section found (gap before a section)", where)
        if total > off:
            raise _err("Section overlap found", where)
        if expected_total - total < ln:
            raise _err("Total section length too long", where)
        total += ln
    if expected_total != total:
        raise _err("Unsupported section found (data after the sections)", where)
    if type_off & 3:
        raise _err("Unaligned type_off", where)
    if not has_base and not type_len:
        raise _err("No type found", where)
    if str_off + str_len != expected_total:
        raise _err("String section is not at the end", where)
    return byteorder, hdr_len, type_off, type_len, str_off, str_len


def _check_strings(strs: bytes, has_base: bool, where: str) -> None:
    """btf_parse_str_sec()."""
    if has_base and not strs:
        return
    if not strs or len(strs) - 1 > S.BTF_MAX_NAME_OFFSET or strs[-1] != 0:
        raise _err("Invalid string section (empty, too long or not NUL-terminated)", where)
    if not has_base and strs[0] != 0:
        raise _err("Invalid string section (first string is not empty)", where)


def decode(data: bytes, base: BTF | None = None, where: str = "") -> BTF:
    """Parse a BTF blob (``base`` for split BTF) into a :class:`BTF`.

    Raises :class:`BTFError` for any blob btf_check_meta() would refuse.
    """
    from .btf import BTF

    data = bytes(data)
    byteorder, hdr_len, type_off, type_len, str_off, str_len = _parse_header(data, base is not None, where)
    strs = data[hdr_len + str_off:hdr_len + str_off + str_len]
    _check_strings(strs, base is not None, where)
    if base is not None and base.byteorder != byteorder:
        raise _err("split BTF byte order differs from its base", where)
    strtab = StringTable(strs, base._strings if base is not None else None)
    start_id = base.type_count if base is not None else 1
    type_start = hdr_len + type_off
    type_end = type_start + type_len
    btf = BTF(base=base, byteorder=byteorder)
    btf._strings = strtab
    btf._hdr_len = hdr_len
    sec = scan(data, type_start, type_end, start_id, strtab, byteorder)
    if sec is not None and (sec.meta_checked or meta_ok(sec)):
        # Records become objects when asked for (BTF.type_by_id(), decode_record()).
        btf._types = [None] * sec.n  # type: ignore[list-item]
        btf._sec = sec
    else:
        # The record-by-record decoder names the first rule broken, as btf_check_meta() does.
        btf._types = _decode_types(data, type_start, type_end, start_id, strtab, byteorder, where)
    return btf


def decode_record(sec: TypeSection, i: int, byteorder: str, where: str = "") -> BTFType:
    """The object of own record ``i`` of a section that passed :func:`meta_ok`."""
    a, b = sec.record_bytes(i)
    return _decode_types(sec.data, a, b, sec.start_id + i, sec.strtab, byteorder, where)[0]


def decode_all(sec: TypeSection, byteorder: str, where: str = "") -> list[BTFType]:
    """Objects of every record of ``sec``, in id order."""
    a = sec.type_start
    return _decode_types(sec.data, a, a + 4 * sec.offs[-1], sec.start_id, sec.strtab, byteorder, where)


def _decode_types(data: bytes, pos: int, end: int, start_id: int, strtab: StringTable,
                  byteorder: str, where: str) -> list[BTFType]:
    from .types import (
        Array, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int, Member,
        Param, Ptr, Restrict, Struct, Typedef, TypeTag, Union, Var, VarSecinfo, Volatile,
    )
    L = S.layouts(byteorder)
    unpack_type = L.type.unpack_from
    unpack_u32 = L.u32.unpack_from
    unpack_s32 = L.s32.unpack_from
    triple = L.triple
    pair = L.pair
    mv = memoryview(data)
    limit = strtab.start_off + len(strtab.data)
    cache = strtab._cache
    getstr = strtab.get
    signed_fmt = struct.Struct(L.prefix + "Ii")
    types: list[BTFType] = []
    append = types.append
    tid = start_id

    def name(off: int, what: str = "name_offset") -> str:
        s = cache.get(off)
        if s is not None:
            return s
        if off >= limit:
            raise _err(f"Invalid {what}:{off}", where, tid)
        return getstr(off)

    def need(n: int) -> None:
        if end - pos < n:
            raise _err(f"meta_left:{end - pos} meta_needed:{n}", where, tid)

    def no_vlen_kflag(vlen: int, kflag: int, kflag_ok: bool = False) -> None:
        if vlen:
            raise _err(f"{S.KIND_NAMES[kind]} vlen != 0", where, tid)
        if kflag and not kflag_ok:
            raise _err(f"{S.KIND_NAMES[kind]} Invalid btf_info kind_flag", where, tid)

    while pos < end:
        if tid > S.BTF_MAX_TYPE:
            raise _err("Exceeded max num of types", where)
        if end - pos < 12:
            raise _err(f"meta_left:{end - pos} meta_needed:12", where, tid)
        name_off, info, st = unpack_type(data, pos)
        pos += 12
        if info & ~S.BTF_INFO_MASK:
            raise _err(f"Invalid btf_info:{info:x}", where, tid)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31
        nm = cache.get(name_off)
        if nm is None:
            nm = name(name_off)
        if kind == S.KIND_FUNC:
            if kflag:
                raise _err("FUNC Invalid btf_info kind_flag", where, tid)
            append(Func(nm, st, vlen))
        elif kind == S.KIND_FUNC_PROTO:
            if kflag:
                raise _err("FUNC_PROTO Invalid btf_info kind_flag", where, tid)
            n = vlen * 8
            need(n)
            params = []
            for p_off, p_type in pair.iter_unpack(mv[pos:pos + n]):
                pn = cache.get(p_off)
                if pn is None:
                    pn = name(p_off, "param name_offset")
                params.append(Param(pn, p_type))
            pos += n
            append(FuncProto(st, tuple(params), nm))
        elif kind == S.KIND_PTR or kind == S.KIND_CONST or kind == S.KIND_VOLATILE or kind == S.KIND_RESTRICT:
            no_vlen_kflag(vlen, kflag)
            cls = Ptr if kind == S.KIND_PTR else Const if kind == S.KIND_CONST else \
                Volatile if kind == S.KIND_VOLATILE else Restrict
            append(cls(st, nm))
        elif kind == S.KIND_STRUCT or kind == S.KIND_UNION:
            n = vlen * 12
            need(n)
            members = []
            if kflag:
                for m_off, m_type, m_bits in triple.iter_unpack(mv[pos:pos + n]):
                    mn = cache.get(m_off)
                    if mn is None:
                        mn = name(m_off, "member name_offset")
                    members.append(Member(mn, m_type, m_bits & 0xFFFFFF, m_bits >> 24))
            else:
                for m_off, m_type, m_bits in triple.iter_unpack(mv[pos:pos + n]):
                    mn = cache.get(m_off)
                    if mn is None:
                        mn = name(m_off, "member name_offset")
                    members.append(Member(mn, m_type, m_bits))
            pos += n
            append((Struct if kind == S.KIND_STRUCT else Union)(nm, st, tuple(members), bool(kflag)))
        elif kind == S.KIND_TYPEDEF:
            no_vlen_kflag(vlen, kflag)
            append(Typedef(nm, st))
        elif kind == S.KIND_ARRAY:
            no_vlen_kflag(vlen, kflag)
            if st:
                raise _err("ARRAY size != 0", where, tid)
            need(12)
            et, it, ne = triple.unpack_from(data, pos)
            pos += 12
            append(Array(et, it, ne, nm))
        elif kind == S.KIND_ENUM:
            n = vlen * 8
            need(n)
            fmt = signed_fmt if kflag else pair
            vals = []
            for v_off, v in fmt.iter_unpack(mv[pos:pos + n]):
                vn = cache.get(v_off)
                if vn is None:
                    vn = name(v_off, "enumerator name_offset")
                vals.append(EnumValue(vn, v))
            pos += n
            append(Enum(nm, st, tuple(vals), bool(kflag)))
        elif kind == S.KIND_ENUM64:
            n = vlen * 12
            need(n)
            vals = []
            for v_off, lo, hi in triple.iter_unpack(mv[pos:pos + n]):
                vn = cache.get(v_off)
                if vn is None:
                    vn = name(v_off, "enumerator name_offset")
                v = (hi << 32) | lo
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                vals.append(EnumValue(vn, v))
            pos += n
            append(Enum64(nm, st, tuple(vals), bool(kflag)))
        elif kind == S.KIND_INT:
            no_vlen_kflag(vlen, kflag)
            need(4)
            d = unpack_u32(data, pos)[0]
            pos += 4
            if d & ~S.BTF_INT_MASK:
                raise _err(f"Invalid int_data:{d:x}", where, tid)
            append(Int(nm, st, (d >> 24) & 0x0F, (d >> 16) & 0xFF, d & 0xFF))
        elif kind == S.KIND_FWD:
            if vlen:
                raise _err("FWD vlen != 0", where, tid)
            if st:
                raise _err("FWD type != 0", where, tid)
            append(Fwd(nm, bool(kflag)))
        elif kind == S.KIND_VAR:
            no_vlen_kflag(vlen, kflag)
            need(4)
            append(Var(nm, st, unpack_u32(data, pos)[0]))
            pos += 4
        elif kind == S.KIND_DATASEC:
            if kflag:
                raise _err("DATASEC Invalid btf_info kind_flag", where, tid)
            n = vlen * 12
            need(n)
            append(Datasec(nm, st, tuple(VarSecinfo(a, b, c) for a, b, c in triple.iter_unpack(mv[pos:pos + n]))))
            pos += n
        elif kind == S.KIND_FLOAT:
            no_vlen_kflag(vlen, kflag)
            append(Float(nm, st))
        elif kind == S.KIND_DECL_TAG:
            no_vlen_kflag(vlen, kflag, kflag_ok=True)
            need(4)
            append(DeclTag(nm, st, unpack_s32(data, pos)[0], bool(kflag)))
            pos += 4
        elif kind == S.KIND_TYPE_TAG:
            no_vlen_kflag(vlen, kflag, kflag_ok=True)
            append(TypeTag(nm, st, bool(kflag)))
        else:
            raise _err(f"Invalid kind:{kind}", where, tid)
        tid += 1
    return types


def _u32(v: int, what: str, tid: int) -> int:
    if not 0 <= v <= 0xFFFFFFFF:
        raise BTFError(f"[{tid}] {what} {v} does not fit in 32 bits", "", tid)
    return v


def encode(btf: BTF) -> bytes:
    """Encode ``btf``'s own types (not its base's) as a blob."""
    L = S.layouts(btf.byteorder)
    sec = btf._sec
    if sec is not None and len(btf._types) == sec.n:
        # Records not changed since decoding: their bytes are the encoding.
        a = sec.type_start
        return _blob(btf, L, sec.data[a:a + 4 * sec.offs[-1]])
    pack_type = L.type.pack
    pack_u32 = L.u32.pack
    pack_s32 = L.s32.pack
    pack3 = L.triple.pack
    pack2 = L.pair.pack
    pack_si = struct.Struct(L.prefix + "Ii").pack
    strtab = btf._strings
    add = strtab.add
    out: list[bytes] = []
    w = out.append
    tid = btf.start_id
    info = S.info_word
    try:
        for t in btf._materialize_all():
            k = t.kind
            no = add(t.name)
            if k == S.KIND_FUNC:
                w(pack_type(no, info(k, t.linkage), t.type_id))  # type: ignore[attr-defined]
            elif k == S.KIND_FUNC_PROTO:
                ps = t.params  # type: ignore[attr-defined]
                w(pack_type(no, info(k, len(ps)), t.ret_type_id))  # type: ignore[attr-defined]
                for p in ps:
                    w(pack2(add(p.name), p.type_id))
            elif k in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF):
                w(pack_type(no, info(k), t.type_id))  # type: ignore[attr-defined]
            elif k == S.KIND_TYPE_TAG:
                w(pack_type(no, info(k, 0, t.kflag), t.type_id))  # type: ignore[attr-defined]
            elif k in (S.KIND_STRUCT, S.KIND_UNION):
                ms = t.members  # type: ignore[attr-defined]
                kf = t.kflag  # type: ignore[attr-defined]
                w(pack_type(no, info(k, len(ms), kf), t.size))  # type: ignore[attr-defined]
                for m in ms:
                    if kf:
                        if m.bitfield_size > 0xFF or m.bits_offset > 0xFFFFFF:
                            raise BTFError(f"[{tid}] member '{m.name}' bitfield does not fit kind_flag encoding",
                                           "", tid)
                        off = (m.bitfield_size << 24) | m.bits_offset
                    else:
                        if m.bitfield_size:
                            raise BTFError(f"[{tid}] member '{m.name}' is a bitfield but kflag is clear", "", tid)
                        off = m.bits_offset
                    w(pack3(add(m.name), m.type_id, off))
            elif k == S.KIND_ARRAY:
                w(pack_type(no, info(k), 0))
                w(pack3(t.type_id, t.index_type_id, t.nelems))  # type: ignore[attr-defined]
            elif k == S.KIND_ENUM:
                vs = t.values  # type: ignore[attr-defined]
                w(pack_type(no, info(k, len(vs), t.signed), t.size))  # type: ignore[attr-defined]
                for v in vs:
                    w(pack_si(add(v.name), v.value) if t.signed else pack2(add(v.name), v.value))  # type: ignore[attr-defined]
            elif k == S.KIND_ENUM64:
                vs = t.values  # type: ignore[attr-defined]
                w(pack_type(no, info(k, len(vs), t.signed), t.size))  # type: ignore[attr-defined]
                for v in vs:
                    u = v.value & 0xFFFFFFFFFFFFFFFF
                    w(pack3(add(v.name), u & 0xFFFFFFFF, u >> 32))
            elif k == S.KIND_INT:
                w(pack_type(no, info(k), t.size))  # type: ignore[attr-defined]
                w(pack_u32((t.encoding << 24) | (t.bits_offset << 16) | t.nr_bits))  # type: ignore[attr-defined]
            elif k == S.KIND_FWD:
                w(pack_type(no, info(k, 0, t.is_union), 0))  # type: ignore[attr-defined]
            elif k == S.KIND_VAR:
                w(pack_type(no, info(k), t.type_id))  # type: ignore[attr-defined]
                w(pack_u32(t.linkage))  # type: ignore[attr-defined]
            elif k == S.KIND_DATASEC:
                vs = t.vars  # type: ignore[attr-defined]
                w(pack_type(no, info(k, len(vs)), t.size))  # type: ignore[attr-defined]
                for v in vs:
                    w(pack3(v.type_id, v.offset, v.size))
            elif k == S.KIND_FLOAT:
                w(pack_type(no, info(k), t.size))  # type: ignore[attr-defined]
            elif k == S.KIND_DECL_TAG:
                w(pack_type(no, info(k, 0, t.kflag), t.type_id))  # type: ignore[attr-defined]
                w(pack_s32(t.component_idx))  # type: ignore[attr-defined]
            else:
                raise BTFError(f"[{tid}] cannot encode kind {t.kind_name}", "", tid)
            tid += 1
    except struct.error as e:
        raise BTFError(f"[{tid}] {t.kind_name} '{t.name}': a field does not fit its encoding ({e})", "", tid) from None
    return _blob(btf, L, b"".join(out))


def _blob(btf: BTF, L: S.Layouts, types: bytes) -> bytes:
    strs = btf._strings.to_bytes()
    hdr_len = btf._hdr_len
    hdr = L.header.pack(S.BTF_MAGIC, S.BTF_VERSION, 0, hdr_len, 0, len(types), len(types), len(strs))
    return hdr.ljust(hdr_len, b"\0") + types + strs
