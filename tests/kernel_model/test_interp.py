"""Reference interpreter semantics (RFC 9669), faults and budgets."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from kernel_model import isa
from kernel_model.asm import assemble
from kernel_model.builder import Program, r0, r1, r2, r6, r10, w0
from kernel_model.errors import BudgetExceeded, ExecFault
from kernel_model.interp import DEFAULT_STACK_TOP, Interpreter, alu_result

M64 = (1 << 64) - 1
INT64_MIN = 1 << 63


def run(text: str, *args: int, **kw) -> int:
    return Interpreter(assemble(text), **kw).run(list(args))


@pytest.mark.parametrize("text,expect", [
    ("r0 = 7\nr1 = 0\nr0 /= r1\nexit", 0),                        # x / 0 = 0
    ("r0 = 7\nr1 = 0\nr0 %= r1\nexit", 7),                        # x % 0 = x
    ("r0 = -1\nw0 %= 0\nexit", 0xFFFFFFFF),                       # 32-bit: zero-extended dst
    ("r0 = -7\nr0 s/= 2\nexit", (-3) & M64),                      # truncation toward zero
    ("r0 = -7\nr0 s%= 2\nexit", (-1) & M64),                      # remainder has dividend's sign
    ("r0 = 7\nr0 s%= -2\nexit", 1),
    ("r0 = 1\nr0 <<= 63\nr1 = -1\nr0 s/= r1\nexit", INT64_MIN),   # INT64_MIN / -1
    ("r0 = 1\nr0 <<= 63\nr1 = -1\nr0 s%= r1\nexit", 0),
    ("w0 = 1\nw0 <<= 31\nw0 s/= -1\nexit", 0x80000000),
    ("r0 = 1\nr1 = 65\nr0 <<= r1\nexit", 2),                      # shift masked to 63
    ("w0 = 1\nw1 = 33\nw0 <<= w1\nexit", 2),                      # shift masked to 31
    ("r0 = -8\nr0 s>>= 1\nexit", (-4) & M64),
    ("w0 = -8\nw0 s>>= 1\nexit", 0xFFFFFFFC),                     # 32-bit arsh, zero-extended
    ("r0 = -1\nw0 += 1\nexit", 0),
    ("r0 = 0xfffffffe\nr0 += -1\nexit", (-3) & M64),               # the imm -2 is sign-extended
    ("r0 = 0xfffffffe ll\nr0 += -1\nexit", 0xFFFFFFFD),
    ("r0 = 0x80\nr0 = (s8)r0\nexit", (-128) & M64),
    ("r0 = 0x8000\nw0 = (s16)w0\nexit", 0xFFFF8000),
    ("r0 = 0x1122334455667788 ll\nr0 = be16 r0\nexit", 0x8877),
    ("r0 = 0x1122334455667788 ll\nr0 = le32 r0\nexit", 0x55667788),
    ("r0 = 0x1122334455667788 ll\nr0 = bswap64 r0\nexit", 0x8877665544332211),
    ("r0 = 5\nr0 = -r0\nexit", (-5) & M64),
    ("r0 = 3\nr1 = 3\nif r0 s>= r1 goto +1\nr0 = 0\nexit", 3),
    ("w0 = -1\nr0 <<= 32\nif w0 == 0 goto +1\nr0 = 1\nexit", 0xFFFFFFFF00000000),
])
def test_semantics(text, expect):
    assert run(text) == expect


@given(st.integers(0, M64), st.integers(0, M64))
def test_sdiv_smod_identity(a, b):
    # a == (a s/ b) * b + (a s% b) for b != 0, with two's complement wrap-around
    q = alu_result(True, isa.DIV, 1, a, b)
    m = alu_result(True, isa.MOD, 1, a, b)
    if b:
        assert (q * b + m) & M64 == a
    else:
        assert q == 0 and m == a


def test_stack_and_memory():
    mem = bytearray(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    it = Interpreter(assemble("""
        *(u64 *)(r10 -8) = 42
        r0 = *(u64 *)(r10 -8)
        r2 = *(u16 *)(r1 +2)
        r0 += r2
        *(u8 *)(r1 +0) = 0xff
        r3 = *(s8 *)(r1 +0)
        exit
    """))
    it.add_region("mem", 0x1000, mem)
    assert it.run([0x1000]) == 42 + 0x0403
    assert mem[0] == 0xFF
    assert it.R[3] == M64


@pytest.mark.parametrize("text,kind,addr", [
    ("r0 = *(u64 *)(r1 +0)\nexit", "invalid read", 0),
    ("*(u8 *)(r10 +0) = 1\nr0 = 0\nexit", "invalid write", DEFAULT_STACK_TOP),
    ("r1 = r10\nr0 = *(u64 *)(r1 +4)\nexit", "invalid read", DEFAULT_STACK_TOP + 4),
])
def test_faults_name_insn_and_address(text, kind, addr):
    with pytest.raises(ExecFault) as ei:
        run(text)
    assert ei.value.kind == kind and ei.value.address == addr
    assert f"at insn {ei.value.index}" in str(ei.value)


def test_read_only_region():
    it = Interpreter(assemble("*(u8 *)(r1 +0) = 1\nr0 = 0\nexit"))
    it.add_region("ro", 0x2000, bytearray(4), writable=False)
    with pytest.raises(ExecFault, match="read-only"):
        it.run([0x2000])


def test_budget_stops_runaway_loop():
    with pytest.raises(BudgetExceeded) as ei:
        run("r0 = 0\nl: r0 += 1\ngoto l", budget=1000)
    assert ei.value.budget == 1000


def test_atomics():
    it = Interpreter(assemble("""
        *(u64 *)(r10 -8) = 10
        r1 = 5
        lock *(u64 *)(r10 -8) += r1
        r2 = 1
        r2 = atomic64_fetch_or((u64 *)(r10 -8), r2)
        r3 = 100
        r3 = atomic64_xchg((u64 *)(r10 -8), r3)
        r0 = 100
        r4 = 7
        r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r4)
        r5 = *(u64 *)(r10 -8)
        exit
    """))
    assert it.run() == 100
    assert it.R[2] == 15 and it.R[3] == 15 and it.R[5] == 7


def test_helpers_and_calls():
    seen = []

    def helper(mem, a, b, c, d, e):
        seen.append((a, b))
        mem.write(a, b"\x2a")
        return 99

    p = (Program().mov(r6, 3)
         .mov(r1, r10).add(r1, -1).mov(r2, 5)
         .call(7).call_local("sub").ldx(r2, r10, -1, size=1).add(r0, r2).add(r0, r6).exit()
         .label("sub").mov(r6, 1000).mov(r0, 0).exit())
    it = Interpreter(p.build(), helpers={7: helper})
    # sub clobbers its own r6 but the caller's r6 (3) is restored; r0 = 0 + 42 + 3
    assert it.run() == 45
    assert seen == [(DEFAULT_STACK_TOP - 1, 5)]


def test_may_goto_falls_through_then_jumps():
    it = Interpreter(assemble("r0 = 0\nl: may_goto +2\nr0 += 1\ngoto l\nexit"), budget=100_000_000)
    it._loops = 0  # an exhausted loop budget jumps at once
    assert it.run() == 8 * 1024 * 1024


def test_unknown_helper_is_a_fault():
    with pytest.raises(ExecFault, match="no helper with id 9"):
        run("call 9\nexit")


def test_w_register_builder_and_32bit_mov_zero_extends():
    p = Program().mov(r0, -1).mov(w0, w0).exit().build()
    assert Interpreter(p).run() == 0xFFFFFFFF


def test_tail_calls_continue_in_the_slot_program_and_stop_after_33():
    """JMP_TAIL_CALL of ___bpf_prog_run: same registers and frame in the new program;
    out of range, empty slot or the 34th tail call fall through."""
    from kernel_model.interp import MAX_TAIL_CALL_CNT

    ARRAY = 0x1000
    # r6 counts runs in the stack slot the programs share; slot 0 is the program itself
    me = assemble("""
        r1 = *(u64 *)(r10 - 8)
        r1 += 1
        *(u64 *)(r10 - 8) = r1
        r2 = 4096
        r3 = 0
        call 12
        r0 = *(u64 *)(r10 - 8)
        exit""")
    other = assemble("r0 = 99\nexit")
    slots = {0: me, 1: other}

    def resolve(array: int, index: int):
        assert array == ARRAY
        return index < 4, slots.get(index)

    it = Interpreter(me, tail_calls=resolve)
    assert it.run() == 1 + MAX_TAIL_CALL_CNT
    assert it.tail_call_cnt == MAX_TAIL_CALL_CNT
    it.stack.data[:] = bytes(len(it.stack.data))
    assert it.run() == 34  # a new run starts counting from zero
    jump = assemble("r2 = 4096\nr3 = 1\ncall 12\nr0 = 7\nexit")
    assert Interpreter(jump, tail_calls=resolve).run() == 99
    for key in (2, 9):  # empty slot, out of range
        p = assemble(f"r2 = 4096\nr3 = {key}\ncall 12\nr0 = 7\nexit")
        it = Interpreter(p, tail_calls=resolve)
        assert it.run() == 7
        assert it.tail_call_cnt == (1 if key == 2 else 0)
