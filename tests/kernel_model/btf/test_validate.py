"""Graph rules (kernel/bpf/btf.c check_meta name rules, *_resolve(), btf_func_proto_check()):
each case breaks one rule and asserts the kernel's words and the type id."""

from __future__ import annotations

import pytest

from kernel_model.btf import (
    BTF, BTFError, Array, Const, Datasec, DeclTag, Enum, EnumValue, Float, Func, FuncProto, Fwd, Int, Member,
    Param, Ptr, Struct, Typedef, TypeTag, Union, Var, VarSecinfo, structs as S,
)

INT = Int("int", 4, S.INT_SIGNED, 0, 32)


def check(types: list, message: str, tid: int) -> None:
    b = BTF([INT, *types])
    with pytest.raises(BTFError, match=message) as ei:
        b.validate()
    assert ei.value.type_id == tid
    # the same refusal after a trip through the binary form
    with pytest.raises(BTFError, match=message):
        BTF.from_bytes(b.to_bytes())


def test_valid_graph_passes() -> None:
    BTF([INT, Struct("node", 16, (Member("v", 1, 0), Member("next", 3, 64))), Ptr(2)]).validate()


@pytest.mark.parametrize("types, message, tid", [
    ([Ptr(7)], r"\[2\] PTR '\(anon\)' Invalid type_id", 2),
    ([Ptr(1, "named")], r"\[2\] PTR 'named' Invalid name", 2),
    ([Typedef("1bad", 1)], r"\[2\] TYPEDEF '1bad' Invalid name", 2),
    ([TypeTag("", 1)], r"\[2\] TYPE_TAG '\(anon\)' Invalid name", 2),
    ([Struct("s", 4, (Member("a", 0, 0),))], r"\[2\] STRUCT 's' Invalid type_id \(member 'a'", 2),
    ([Struct("s", 8, (Member("a", 1, 32), Member("b", 1, 0)))], r"\[2\] STRUCT 's' Invalid member bits_offset", 2),
    ([Union("u", 4, (Member("a", 1, 8),))], r"\[2\] UNION 'u' Invalid member bits_offset", 2),
    ([Struct("s", 4, (Member("a", 1, 64),))], r"Member bits_offset exceeds its struct size \(member 'a'\)", 2),
    ([Struct("s", 6, (Member("a", 1, 32),))], r"\[2\] STRUCT 's' Member exceeds struct_size \(member 'a'\)", 2),
    ([Enum("e", 3, (EnumValue("A", 0),))], r"\[2\] ENUM 'e' Unexpected size", 2),
    ([Enum("e", 4, (EnumValue("", 0),))], r"\[2\] ENUM 'e' Invalid name", 2),
    ([Fwd("")], r"\[2\] FWD '\(anon\)' Invalid name", 2),
    ([Func("f", 1)], r"\[2\] FUNC 'f' Invalid type_id \(not a FUNC_PROTO\)", 2),
    ([FuncProto(1, (Param("a", 1),)), Func("f", 2, 2)], r"\[3\] FUNC 'f' Invalid func linkage", 3),
    ([FuncProto(1, (Param("", 0), Param("b", 1)))], r"\[2\] FUNC_PROTO '\(anon\)' Invalid arg#1", 2),
    ([Var("v", 1, 7)], r"\[2\] VAR 'v' Linkage not supported", 2),
    ([Var("v", 1), Datasec(".data", 4, (VarSecinfo(2, 2, 4),))], r"\[3\] DATASEC '.data' Invalid offset\+size", 3),
    ([Datasec(".data", 4, (VarSecinfo(1, 0, 4),))], r"\[2\] DATASEC '.data' Not a VAR kind member", 2),
    ([Float("float", 5)], r"\[2\] FLOAT 'float' Invalid type_size", 2),
    ([Struct("s", 4, (Member("a", 1, 0),)), DeclTag("t", 2, 1)], r"\[3\] DECL_TAG 't' Invalid component_idx", 3),
    ([DeclTag("t", 1)], r"\[2\] DECL_TAG 't' Invalid type_id", 2),
    ([Int("i", 1, 0, 0, 9)], r"\[2\] INT 'i' nr_bits exceeds type_size", 2),
    ([Int("i", 4, 3, 0, 32)], r"\[2\] INT 'i' Unsupported encoding", 2),
    ([Array(1, 3, 4), Float("f", 4)], r"\[2\] ARRAY '\(anon\)' Invalid index", 2),
    ([Struct("s", 4, (Member("f", 5, 0, 3),), kflag=True), Ptr(1), Ptr(1), Float("float", 4)],
     r"Invalid member base type \(bitfield 'f'\)", 2),
])
def test_rule(types: list, message: str, tid: int) -> None:
    check(types, message, tid)


@pytest.mark.parametrize("types, tid", [
    ([Const(3), Const(2)], 2),                           # modifier loop
    ([Typedef("t", 2)], 2),                              # typedef of itself
    ([Ptr(2)], 2),                                       # pointer to itself
    ([Struct("s", 8, (Member("in", 3, 0),)), Typedef("s_t", 2)], 2),  # struct containing itself by value
    ([Array(3, 1, 2), Const(2)], 2),                     # array of itself through a modifier
])
def test_loops_are_detected(types: list, tid: int) -> None:
    check(types, "Loop detected", tid)


def test_bitfield_needs_kind_flag() -> None:
    with pytest.raises(BTFError, match=r"\[2\] STRUCT 's' Invalid member bitfield_size"):
        BTF([INT, Struct("s", 4, (Member("f", 1, 0, 3),))]).validate()


def test_pointer_back_to_a_struct_is_not_a_loop() -> None:
    BTF([INT, Struct("s", 8, (Member("next", 3, 0),)), Ptr(4), Typedef("s_t", 2)]).validate()
    with pytest.raises(BTFError):
        BTF([INT, Struct("s", 8, (Member("next", 3, 0),)), Ptr(4), Typedef("s_t", 2)]).size_of(99)


def test_sizes_and_alignment_resolve_through_typedefs_and_modifiers() -> None:
    b = BTF([INT, Typedef("i_t", 1), Const(2), Array(3, 1, 5), Ptr(4),
             Struct("p", 5, (Member("c", 7, 0), Member("i", 1, 8))), Int("char", 1, 0, 0, 8)])
    assert b.size_of(4) == 20 and b.align_of(4) == 4
    assert b.size_of(5) == 8 and b.align_of(5) == 8
    assert b.align_of(6) == 1          # member 'i' at byte 1: packed
    assert b.resolve(3) == INT and b.skip_modifiers(3) == 1
