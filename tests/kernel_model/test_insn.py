"""The raw instruction layer and the kernel's load-time instruction checks."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, strategies as st

from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.errors import InputError, InvalidInsn
from kernel_model.insn import Insn, check_insns, decode, encode, imm64, split_imm64
from kernel_model.strategies import instructions


@given(st.binary(min_size=8, max_size=8 * 16).filter(lambda b: len(b) % 8 == 0))
def test_bytes_insn_bytes_round_trip(data):
    assert encode(decode(data)) == data


@given(st.lists(instructions(), min_size=1, max_size=10))
def test_insn_bytes_insn_round_trip(progs):
    insns = [s for p in progs for s in p]
    assert decode(encode(insns)) == insns


def test_field_layout_is_uapi():
    # code, dst_reg:4 (low nibble), src_reg:4, s16 off, s32 imm, little endian
    assert Insn(0xBF, 1, 2, -1, -2).to_bytes() == bytes.fromhex("bf21fffffeffffff")
    assert Insn.from_u64(0x0000000200000107) == Insn(0x07, 1, 0, 0, 2)


@given(st.integers(0, (1 << 64) - 1))
def test_imm64_split_and_join(v):
    lo, hi = split_imm64(v)
    assert imm64(Insn(0x18, imm=lo), Insn(0, imm=hi)) == v


@pytest.mark.parametrize("data,msg", [
    (b"", "empty program"),
    (b"\x95" + b"\0" * 8, "truncated instruction at byte offset 8"),
])
def test_decode_errors(data, msg):
    with pytest.raises(InputError, match=msg) as ei:
        decode(data, "x.bin")
    assert str(ei.value).startswith("x.bin: ")


@pytest.mark.parametrize("field,value", [("code", 256), ("dst", 16), ("off", 1 << 15), ("imm", 1 << 31)])
def test_field_overflow_is_an_input_error(field, value):
    kw = {"code": 0x95, field: value}
    with pytest.raises(InputError):
        Insn(**kw)


# Messages and order as resolve_pseudo_ldimm64() (kernel/bpf/verifier.c) gives them.
@pytest.mark.parametrize("raw,index,msg", [
    ([Insn(0x8D, 1), Insn(0x95)], 0, "unknown opcode 8d"),
    ([Insn(0x95), Insn(0xFF)], 1, "unknown opcode ff"),
    ([Insn(0x18, 0, 0, 0, 1)], 0, "invalid bpf_ld_imm64 insn"),
    ([Insn(0x18, 0, 0, 0, 1), Insn(0, 1), Insn(0x95)], 0, "invalid bpf_ld_imm64 insn"),
    ([Insn(0x18, 0, 0, 0, 1), Insn(0, 0, 0, 1), Insn(0x95)], 0, "invalid bpf_ld_imm64 insn"),
    ([Insn(0x18, 0, 7, 0, 1), Insn(0), Insn(0x95)], 0, "unrecognized bpf_ld_imm64 insn"),
    ([Insn(0x18, 0, 1, 0, 1), Insn(0, imm=4), Insn(0x95)], 0, "unrecognized bpf_ld_imm64 insn"),
    ([Insn(0x61, 0, 1, 0, 5), Insn(0x95)], 0, "BPF_LDX uses reserved fields"),
    ([Insn(0x21, 0, 1), Insn(0x95)], 0, "BPF_LDX uses reserved fields"),
])
def test_check_insns_messages(raw, index, msg):
    with pytest.raises(InvalidInsn) as ei:
        check_insns(raw)
    assert ei.value.message == msg
    assert ei.value.index == index
    assert ei.value.errno == errno.EINVAL


def test_check_insns_accepts_every_well_formed_form():
    text = """
    r1 = 0x1 ll
    r2 = map[fd:3] ll
    r3 = map[fd:3][0]+8 ll
    r0 = *(u8 *)skb[1]
    lock *(u32 *)(r10 -4) += w1
    r0 = load_acquire((u8 *)(r1 +0))
    may_goto +0
    gotol +0
    exit
    """
    check_insns(assemble(text))


def test_check_insns_8_16_bit_atomics_are_6_15_plus():
    prog = assemble("r0 = load_acquire((u8 *)(r1 +0))\nexit")
    check_insns(prog)
    with pytest.raises(InvalidInsn, match="unknown opcode d3"):
        check_insns(prog, opcodes=isa.OPCODES_BEFORE_6_15)


def test_program_size_limit_is_e2big():
    with pytest.raises(InvalidInsn) as ei:
        check_insns([Insn(0x95)] * 5, max_insns=4)
    assert ei.value.errno == errno.E2BIG


def test_decode_shares_identical_slots():
    """Identical slots decode to one (immutable) object; different ones stay apart."""
    a, b = Insn(0x07, 0, 0, 0, 1), Insn(0x07, 0, 0, 0, 2)
    out = decode(encode([a, b, a, a, b]))
    assert out == [a, b, a, a, b]
    assert out[0] is out[2] is out[3] and out[1] is out[4] and out[0] is not out[1]


def _check_insns_slot_by_slot(insns, opcodes=isa.OPCODES):
    """The rules of check_insns, slot by slot without its shortcut (the reference)."""
    n, i = len(insns), 0
    while i < n:
        c = insns[i].code
        if (c & 0x07) == isa.LDX and (((c & 0xE0) not in (isa.MEM, isa.MEMSX)) or insns[i].imm != 0):
            return ("BPF_LDX uses reserved fields", i)
        if c == isa.LD_IMM64:
            if i == n - 1:
                return ("invalid bpf_ld_imm64 insn", i)
            nxt = insns[i + 1]
            if nxt.code or nxt.dst or nxt.src or nxt.off:
                return ("invalid bpf_ld_imm64 insn", i)
            if insns[i].src not in isa.LDIMM64_PSEUDOS or (
                    insns[i].src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_IDX) and nxt.imm != 0):
                return ("unrecognized bpf_ld_imm64 insn", i)
            i += 2
            continue
        if c not in opcodes:
            return (f"unknown opcode {c:02x}", i)
        i += 1
    return None


_CODES = sorted(isa.OPCODES)[::7] + [0x61, 0x69, 0x71, 0x79, 0x21, 0x18, 0x00, 0x8D, 0xFF]


@given(st.lists(st.tuples(st.sampled_from(_CODES), st.integers(0, 10), st.integers(0, 10),
                          st.sampled_from([0, 1, -1]), st.sampled_from([0, 0, 1, 4])), min_size=1, max_size=12))
def test_check_insns_finds_the_first_offence_in_slot_order(fields):
    """The shortcut for a program with nothing to find gives the slot-by-slot answer."""
    insns = [Insn(*f) for f in fields]
    want = _check_insns_slot_by_slot(insns)
    try:
        check_insns(insns)
        got = None
    except InvalidInsn as e:
        got = (e.message, e.index)
    assert got == want
