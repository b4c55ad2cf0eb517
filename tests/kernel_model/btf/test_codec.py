"""Binary decode/encode: header and section rules of kernel/bpf/btf.c btf_parse_hdr(),
btf_check_sec_info(), btf_parse_str_sec(), btf_check_meta(); split BTF ids and strings."""

from __future__ import annotations

import struct

import pytest

from kernel_model.btf import (
    BTF, BTFError, Array, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int,
    Member, Param, Ptr, Restrict, Struct, Typedef, TypeTag, Union, Var, VarSecinfo, Volatile, format_raw,
    structs as S,
)


def every_kind() -> BTF:
    """A small BTF with one record of every kind (ids in comments)."""
    b = BTF()
    i32 = b.add(Int("int", 4, S.INT_SIGNED, 0, 32))                        # 1
    u8 = b.add(Int("unsigned char", 1, 0, 0, 8))                          # 2
    b.add(Ptr(i32))                                                       # 3
    b.add(Array(u8, i32, 16))                                             # 4
    s = b.add(Struct("s", 24, (Member("a", i32, 0), Member("f", i32, 32, 3), Member("g", i32, 35, 5),
                                Member("buf", 4, 40)), kflag=True))       # 5
    b.add(Union("u", 4, (Member("x", i32, 0), Member("y", u8, 0))))      # 6
    b.add(Enum("e", 4, (EnumValue("E_A", 0), EnumValue("E_B", -1)), signed=True))  # 7
    b.add(Enum64("e64", 8, (EnumValue("BIG", 1 << 40),)))                 # 8
    b.add(Fwd("later", is_union=True))                                    # 9
    b.add(Typedef("int_t", i32))                                          # 10
    b.add(Volatile(i32))                                                  # 11
    b.add(Const(i32))                                                     # 12
    b.add(Restrict(3))                                                    # 13
    proto = b.add(FuncProto(i32, (Param("x", i32), Param("p", 3))))       # 14
    fn = b.add(Func("fn", proto, S.FUNC_GLOBAL))                          # 15
    var = b.add(Var("v", i32, S.VAR_GLOBAL_ALLOCATED))                    # 16
    b.add(Datasec(".data", 4, (VarSecinfo(var, 0, 4),)))                  # 17
    b.add(Float("double", 8))                                             # 18
    b.add(DeclTag("tag", fn, 1))                                          # 19
    b.add(TypeTag("rcu", s))                                              # 20
    return b


def test_every_kind_round_trips_byte_for_byte() -> None:
    b = every_kind()
    b.validate()
    blob = b.to_bytes()
    b2 = BTF.from_bytes(blob)
    assert b2.types() == b.types()
    assert b2.to_bytes() == blob
    assert {t.kind for t in b2.types()} == set(range(1, S.KIND_MAX + 1))


def test_header_fields_and_string_table() -> None:
    blob = every_kind().to_bytes()
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", blob)
    assert (magic, version, flags, hdr_len, type_off) == (0xEB9F, 1, 0, 24, 0)
    assert str_off == type_len and 24 + type_len + str_len == len(blob)
    strs = blob[24 + str_off:]
    assert strs[0] == 0 and strs[-1] == 0 and b"\0fn\0" in strs


def test_bitfield_member_offsets_use_kind_flag_encoding() -> None:
    blob = every_kind().to_bytes()
    b = BTF.from_bytes(blob)
    s = b.get("s", S.KIND_STRUCT)
    assert s.kflag and s.member("g") == Member("g", 1, 35, 5)


def test_big_endian_blob_decodes_the_same() -> None:
    b = every_kind()
    b.byteorder = "big"
    blob = b.to_bytes()
    assert blob[:2] == b"\xeb\x9f"
    b2 = BTF.from_bytes(blob)
    assert b2.byteorder == "big" and b2.types() == every_kind().types()


def _hdr(blob: bytes, **fields: int) -> bytes:
    names = ["magic", "version", "flags", "hdr_len", "type_off", "type_len", "str_off", "str_len"]
    vals = dict(zip(names, struct.unpack_from("<HBBIIIII", blob)))
    vals.update(fields)
    return struct.pack("<HBBIIIII", *(vals[n] for n in names)) + blob[24:]


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:6], "hdr_len not found"),
    (lambda b: b"\x00\x00" + b[2:], "Invalid magic"),
    (lambda b: _hdr(b, version=2), "Unsupported version"),
    (lambda b: _hdr(b, flags=1), "Unsupported flags"),
    (lambda b: _hdr(b, hdr_len=1 << 20), "btf_header not found"),
    (lambda b: _hdr(b, str_len=1 << 20), "Total section length too long"),
    (lambda b: b + b"\0\0\0\0", "Unsupported section found"),
    (lambda b: _hdr(b, type_off=4), "Unsupported section found"),
    (lambda b: _hdr(b, str_off=struct.unpack_from("<I", b, 12)[0] - 4), "Section overlap found"),
    (lambda b: b[:24], "No data"),
    (lambda b: b[:-1] + b"x", "Invalid string section"),
])
def test_header_rules(mutate, message: str) -> None:
    with pytest.raises(BTFError, match=message):
        BTF.from_bytes(mutate(every_kind().to_bytes()))


def test_meta_rules_name_the_type_id() -> None:
    blob = bytearray(every_kind().to_bytes())
    # type 1 (INT) starts right after the header: name_off, info, size
    struct.pack_into("<I", blob, 24 + 4, (S.KIND_INT << 24) | 1)          # vlen 1 on an INT
    with pytest.raises(BTFError, match=r"\[1\] INT vlen != 0") as ei:
        BTF.from_bytes(bytes(blob))
    assert ei.value.type_id == 1
    struct.pack_into("<I", blob, 24 + 4, 31 << 24)                        # kind 31
    with pytest.raises(BTFError, match=r"\[1\] Invalid kind:31"):
        BTF.from_bytes(bytes(blob))
    struct.pack_into("<I", blob, 24 + 4, (S.KIND_INT << 24) | (1 << 20))  # bits outside BTF_INFO_MASK
    with pytest.raises(BTFError, match=r"\[1\] Invalid btf_info:"):
        BTF.from_bytes(bytes(blob))
    struct.pack_into("<II", blob, 24, 1 << 23, S.KIND_INT << 24)          # name offset past the strings
    with pytest.raises(BTFError, match=r"\[1\] Invalid name_offset"):
        BTF.from_bytes(bytes(blob))


def test_truncated_type_section_reports_meta_left() -> None:
    b = BTF([Int("int", 4, S.INT_SIGNED, 0, 32), Struct("s", 4, (Member("a", 1, 0),))])
    blob = b.to_bytes()
    _, _, _, _, _, type_len, _, str_len = struct.unpack_from("<HBBIIIII", blob)
    bad = _hdr(blob, type_len=type_len - 4, str_off=type_len - 4)[:24 + type_len - 4] + blob[24 + type_len:]
    with pytest.raises(BTFError, match=r"\[2\] meta_left:8 meta_needed:12"):
        BTF.from_bytes(bad)


def test_split_btf_ids_and_strings_continue_after_base() -> None:
    base = every_kind()
    base_blob = base.to_bytes()
    base = BTF.from_bytes(base_blob)
    split = BTF(base=base)
    assert split.start_id == base.type_count == 21
    p = split.add(Ptr(base.find("s")))
    t = split.add(Typedef("int_t2", base.find("int")))
    s = split.add(Struct("mod_ops", 8, (Member("fn", p, 0),)))
    assert (p, t, s) == (21, 22, 23)
    assert split.type_by_id(1).name == "int" and split.find("mod_ops") == 23 and split.find("int_t") == 10
    blob = split.to_bytes()
    _, _, _, _, _, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", blob)
    assert type_len == 3 * 12 + 12  # PTR, TYPEDEF, STRUCT (12 bytes each) + 1 member (12)
    # "int_t2" and "mod_ops" are new strings; "fn" is reused from the base table.
    assert blob[24 + str_off:] == b"\0int_t2\0mod_ops\0"
    again = BTF.from_bytes(blob, base)
    assert again.types() == split.types() and again.to_bytes() == blob
    assert format_raw(again).startswith("[21] PTR '(anon)' type_id=5\n[22] TYPEDEF 'int_t2' type_id=1\n")
    with pytest.raises(BTFError, match=r"Invalid name_offset|Invalid type_id"):
        BTF.from_bytes(blob)  # without its base, a split blob's names point nowhere


def test_type_by_id_out_of_range() -> None:
    b = every_kind()
    assert b.type_by_id(0).kind == 0
    with pytest.raises(BTFError, match="out of range"):
        b.type_by_id(b.type_count)


def test_encode_refuses_values_that_do_not_fit() -> None:
    b = BTF([Int("int", 4, S.INT_SIGNED, 0, 32), Struct("s", 1 << 33, ())])
    with pytest.raises(BTFError, match=r"\[2\] STRUCT 's'"):
        b.to_bytes()
