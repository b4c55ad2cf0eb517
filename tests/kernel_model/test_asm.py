"""The kernel-syntax assembler and printer (kernel_model.asm / kernel_model.disasm)."""

from __future__ import annotations


import pytest
from hypothesis import given

from kernel_model.asm import assemble
from kernel_model.disasm import format_insn, format_log_insn, format_program, is_printable
from kernel_model.errors import AsmSyntaxError, InputError
from kernel_model.insn import Insn, decode, encode
from kernel_model.strategies import FORMS, instructions, raw_slots
from tests.corpus import raw_cases


@pytest.mark.parametrize("form", sorted(FORMS))
@given(data=__import__("hypothesis").strategies.data())
def test_every_form_prints_and_parses_back(form, data):
    slots = data.draw(FORMS[form])
    text = format_insn(slots, 0)
    assert not text.startswith(".raw"), f"{slots} has a form but printed as {text}"
    assert assemble(text) == slots, text


@given(instructions())
def test_parse_print_round_trip(slots):
    assert assemble(format_insn(slots, 0)) == slots


@given(raw_slots())
def test_any_slot_round_trips_through_text(slot):
    # a lone lddw first half has no form (its second slot is missing): .raw
    text = format_insn([slot], 0)
    assert assemble(text) == [slot]


@given(raw_slots())
def test_raw_fallback_only_when_no_form(slot):
    text = format_insn([slot], 0)
    assert text.startswith(".raw") == (not is_printable([slot], 0))


# The forms the issue names, each with the slots it must produce.
EXAMPLES = [
    ("r0 = *(u64 *)(r1 +8)", [Insn(0x79, 0, 1, 8)]),
    ("if r1 != 0x0 goto +2", [Insn(0x55, 1, 0, 2)]),
    ("w0 += w1", [Insn(0x0C, 0, 1)]),
    ("r0 = (s8)r1", [Insn(0xBF, 0, 1, 8)]),
    ("call bpf_map_lookup_elem", [Insn(0x85, imm=1)]),
    ("call 1", [Insn(0x85, imm=1)]),
    ("r1 = 0x1234 ll", [Insn(0x18, 1, 0, 0, 0x1234), Insn(0)]),
    ("lock *(u64 *)(r10 -8) += r1", [Insn(0xDB, 10, 1, -8, 0)]),
    ("r0 = atomic_fetch_add((u64 *)(r10 -8), r0)", [Insn(0xDB, 10, 0, -8, 1)]),
    ("r0 = atomic64_fetch_add((u64 *)(r10 - 8), r0)", [Insn(0xDB, 10, 0, -8, 1)]),
    ("r2 = xchg_64(r10 - 8, r2)", [Insn(0xDB, 10, 2, -8, 0xE1)]),
    ("r0 = cmpxchg_64(r10 - 8, r0, r3)", [Insn(0xDB, 10, 3, -8, 0xF1)]),
    ("w1 = atomic_fetch_or((u32 *)(r2 +4), w1)", [Insn(0xC3, 2, 1, 4, 0x41)]),
    ("*(u32 *)(r10 -4) = 7", [Insn(0x62, 10, 0, -4, 7)]),
    ("*(u64*)(r10 - 16) = r3", [Insn(0x7B, 10, 3, -16)]),
    ("r3 = *(s16 *)(r1 +2)", [Insn(0x89, 3, 1, 2)]),
    ("goto pc-1", [Insn(0x05, off=-1)]),
    ("gotol +70000", [Insn(0x06, imm=70000)]),
    ("may_goto +3", [Insn(0xE5, off=3)]),
    ("if w2 s< -5 goto pc+1", [Insn(0xC6, 2, 0, 1, -5)]),
    ("if r2 & 0xffffffff goto +1", [Insn(0x45, 2, 0, 1, -1)]),
    ("r1 = be16 r1", [Insn(0xDC, 1, 0, 0, 16)]),
    ("r1 = le64 r1", [Insn(0xD4, 1, 0, 0, 64)]),
    ("r1 = bswap32 r1", [Insn(0xD7, 1, 0, 0, 32)]),
    ("w4 = -w4", [Insn(0x84, 4)]),
    ("r4 s%= r5", [Insn(0x9F, 4, 5, 1)]),
    ("w4 s/= -3", [Insn(0x34, 4, 0, 1, -3)]),
    ("r0 = *(u8 *)skb[12]", [Insn(0x30, 0, 0, 0, 12)]),
    ("r0 = *(u32 *)skb[r7 + 2]", [Insn(0x40, 0, 7, 0, 2)]),
    ("call kernel-function#1234", [Insn(0x85, 0, 2, 0, 1234)]),
    ("call pc+3", [Insn(0x85, 0, 1, 0, 3)]),
    ("callx r2", [Insn(0x8D, 2)]),
    ("r1 = map[fd:5] ll", [Insn(0x18, 1, 1, 0, 5), Insn(0)]),
    ("r1 = map[idx:0][0]+16 ll", [Insn(0x18, 1, 6, 0, 0), Insn(0, imm=16)]),
    ("r0 = load_acquire((u8 *)(r1 +3))", [Insn(0xD3, 0, 1, 3, 0x100)]),
    ("store_release((u16 *)(r1 +0), r2)", [Insn(0xCB, 1, 2, 0, 0x110)]),
    ("12: (79) r1 = *(u64 *)(r1 +0)          ; R1=ctx()", [Insn(0x79, 1, 1, 0)]),
]


@pytest.mark.parametrize("text,slots", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_examples(text, slots):
    assert assemble(text) == slots


def test_labels_resolve_forward_and_backward():
    insns = assemble("""
    start:
        r0 = 0
    loop:                 // a comment
        r0 += 1
        if r0 < 10 goto loop
        call sub
        goto out
    sub:
        r0 = 1
        exit
    out:
        exit
    """)
    assert insns[2] == Insn(0xA5, 0, 0, -2, 10)
    assert insns[3] == Insn(0x85, 0, 1, 0, 1)
    assert insns[4] == Insn(0x05, off=2)


def test_log_format_is_the_kernels():
    insns = assemble("r1 = *(u64 *)(r1 +0)\nif r1 == 0x0 goto pc+1\nr1 = 0x10 ll\ncall 5\nexit")
    assert format_log_insn(insns, 0) == "(79) r1 = *(u64 *)(r1 +0)"
    assert format_log_insn(insns, 1) == "(15) if r1 == 0x0 goto pc+1"
    assert format_log_insn(insns, 2) == "(18) r1 = 0x10"
    assert format_log_insn(insns, 4) == "(85) call bpf_ktime_get_ns#5"


@pytest.mark.parametrize("text,where,what", [
    ("r0 = ", "1:6", "expected a register, an immediate"),
    ("r11 = 1", "1:1", "register r11 does not exist"),
    ("r0 += w1", "1:4", "same width"),
    ("if r0 ~ 1 goto +1", "1:7", "unexpected character"),
    ("r0 = 1\nfoo r1", "2:1", "expected an instruction"),
    ("goto nowhere", "1:6", "undefined label 'nowhere'"),
    ("r0 = *(u128 *)(r1 +0)", "1:8", "expected a size"),
    ("r0 = 0x100000000", "1:6", "does not fit in 32 bits"),
    ("r0 = *(u64 *)(r1 +40000)", "1:19", "does not fit in a signed 16-bit"),
    (".rept 3", "1:1", ".rept without a matching .endr"),
    (".align 8", "1:1", "unsupported directive '.align'"),
    ("r0 = 08", "1:6", "invalid number '08'"),
    (".byte 1\nexit", "1:1", "raw data leaves 1 byte(s)"),
    (".rept 2\nexit\n.endr\n.endr", "4:1", ".endr without a .rept"),
    (".byte 256", "1:7", "does not fit in 8 bits"),
    (".rept x\n.endr", "1:1", ".rept needs a repeat count"),
])
def test_syntax_errors_name_line_and_column(text, where, what):
    with pytest.raises(AsmSyntaxError) as ei:
        assemble(text, source="p.s")
    assert str(ei.value).startswith(f"p.s:{where}: "), str(ei.value)
    assert what in str(ei.value)


def test_empty_program_is_an_error():
    with pytest.raises(InputError, match="no instructions"):
        assemble("; only a comment\n")


def test_program_listing_round_trips():
    text = "r1 = 0x1122334455667788 ll\nr0 = r1\nexit\n"
    insns = assemble(text)
    assert format_program(insns) == text
    assert assemble(format_program(insns, numbered=True)) == insns


# --- the kernel selftests' raw-instruction programs (tests/data/selftests/raw_cases.jsonl) ---

def test_selftest_programs_print_and_assemble_back_to_their_bytes():
    """Every program of test_verifier's verifier/*.c: printed in kernel syntax and
    assembled again, the bytes are the test's own; the few instructions no syntax
    can spell (malformed lddw pairs, registers above r10, unknown opcodes: the tests of
    the verifier's refusals) print as ``.raw`` and must stay few."""
    programs = insns_total = raw_total = 0
    for case in raw_cases():
        if case.get("insns_hex") is None:
            continue  # generated at run time by test_verifier
        code = bytes.fromhex(case["insns_hex"])
        text = format_program(decode(code))
        assert encode(assemble(text, source=case["id"])) == code, case["id"]
        programs += 1
        lines = text.splitlines()
        insns_total += len(lines)
        raw_total += sum(1 for ln in lines if ln.startswith(".raw"))
    assert programs > 500
    assert raw_total * 50 < insns_total, (raw_total, insns_total)  # 49 of 4777 in the 6.12 tests


def test_log_prints_a_byte_swap_of_a_size_it_does_not_have_as_the_kernel():
    """print_bpf_end_insn / print_bpf_bswap_insn (kernel/bpf/disasm.c) print imm as given."""
    from kernel_model.disasm import format_log_insn
    from kernel_model.insn import Insn

    assert format_log_insn([Insn(0xDC, 1, 0, 0, 48)]) == "(dc) r1 = be48 r1"
    assert format_log_insn([Insn(0xD4, 2, 0, 0, 8)]) == "(d4) r2 = le8 r2"
    assert format_log_insn([Insn(0xD7, 3, 0, 0, 48)]) == "(d7) r3 = bswap48 r3"
    assert format_log_insn([Insn(0xDC, 1, 0, 0, 16)]) == "(dc) r1 = be16 r1"


# --- LLVM's numbers and directives (kernel selftests' inline assembly) -----------------------

LLVM_CASES = [
    "r0 = 010\nr1 = 0b101\nr2 = 0X1f\nr3 = 5ll\nr4 = -010\nexit",
    ".rept 3\nr0 += 1\n.endr\nexit",
    ".rept 2\n.rept 2\nr0 = 1\n.endr\nr1 = 2\n.endr\nexit",
    ".byte 0xb7, 0, 0, 0, 1, 0, 0, 0\n.short 0x95, 0, 0, 0\n.2byte 0x95, 0, 0, 0\nexit",
    ".long 0xb7, 7\n.4byte 0x95, 0\n.8byte 0x95\n.quad 0x0000000500000b7\nexit",
    "r0 = 0\n.rept 0\nr0 = 1\n.endr\nexit",
    ".byte -1, 0, 0, 0, 0, 0, 0, 0\nexit",
]


def _llvm_text(source: str, tmp_path) -> bytes:
    import subprocess

    from elftools.elf.elffile import ELFFile

    from emu.host.toolchain import find_llvm_mc

    mc = find_llvm_mc()
    if mc is None:
        pytest.skip("llvm-mc is not installed (no $LLVM_MC, llvm-mc or llvm-mc-NN on PATH)")
    src = tmp_path / "p.s"
    src.write_text(source + "\n")
    obj = tmp_path / "p.o"
    r = subprocess.run([mc, "-triple", "bpf", "-filetype=obj", str(src), "-o", str(obj)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(obj, "rb") as f:
        return ELFFile(f).get_section_by_name(".text").data()


@pytest.mark.parametrize("source", LLVM_CASES)
def test_numbers_and_directives_as_llvm_mc_assembles_them(source, tmp_path):
    assert encode(assemble(source)) == _llvm_text(source, tmp_path)


@pytest.mark.parametrize("source", ["r0 = 08\nexit", "r0 = 0x\nexit", ".word 5\nexit"])
def test_what_llvm_mc_refuses_we_refuse(source, tmp_path):
    import subprocess

    from emu.host.toolchain import find_llvm_mc

    mc = find_llvm_mc()
    if mc is None:
        pytest.skip("llvm-mc is not installed")
    r = subprocess.run([mc, "-triple", "bpf", "-filetype=obj", "-o", "/dev/null"], input=source + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    with pytest.raises(AsmSyntaxError):
        assemble(source)


@pytest.mark.parametrize("text,word", [
    ("swap16 %r0", 0x00000010000000D7), ("swap32 %r1", 0x00000020000001D7), ("swap64 %r2", 0x00000040000002D7),
    ("call helper 5", 0x0000000500000085), ("call runtime 7", 0x0000000700002085),
    ("call helper %r3", 0x000000000000038D), ("mov %r11, 1", 0x0000000100000BB7),
])
def test_bpf_conformance_dialect(text, word):
    assert assemble(text, syntax="conformance") == [Insn.from_u64(word)]
