"""Hypothesis strategies for malformed input: assembly text in both dialects,
raw instruction bytes, ELF objects (the committed examples, mutated where
libbpf and pyelftools trust them), BTF blobs and C headers.

Each strategy starts from something valid and breaks it a little, so the
cases reach deep into each parser instead of stopping at its first check.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"

# --- assembly ---------------------------------------------------------------------------

KERNEL_LINES = [
    "r0 = 0", "r1 = 1", "w2 = 3", "r0 += r1", "r0 = *(u32 *)(r1 +0)", "r2 = *(u64 *)(r10 -8)",
    "*(u64 *)(r10 -8) = r1", "*(u32 *)(r10 -4) = 7", "if r1 > 0x10 goto +1", "if w1 s< w2 goto l",
    "goto +0", "goto l", "l:", "call 5", "call bpf_ktime_get_ns", "call pc+1", "exit", "r1 = 0x1234 ll",
    "r0 = 010", "r0 = 0b101", "r0 = -1", "r1 = be16 r1", "r1 = bswap64 r1", "r0 = (s8)r1",
    "lock *(u64 *)(r10 -8) += r1", "r0 = atomic_fetch_add((u64 *)(r10 -8), r0)", "may_goto +1", "gotol +1",
    "r0 = *(u8 *)skb[4]", ".raw 0x0000000000000095", ".rept 3", ".endr", ".byte 0x95, 0, 0, 0, 0, 0, 0, 0",
    ".8byte 0x95", ".long 0xb7, 0", ".short 0x95, 0, 0, 0", "r1 = map[fd:3] ll", "r1 = func[l] ll",
    "callx r2", "r0 = -r0", "12: (b7) r0 = 1", "; comment", "r0 = *(s16 *)(r1 +2)",
]
CONF_LINES = [
    "mov %r0, 1", "add32 %r0, %r1", "lddw %r0, 0x1122334455667788", "ldxw %r0, [%r1+4]",
    "stxdw [%r10-8], %r1", "stw [%r10-4], 7", "jeq %r1, 0, +1", "jne %r0, 15, exit", "ja +0", "ja32 lbl",
    "lbl:", "exit", "swap16 %r0", "bswap32 %r0", "be64 %r0", "le16 %r0", "call 1", "call local lbl",
    "call helper 2", "call runtime 3", "call %r2", "mov %r11, 1", "movsx832 %r0, %r1", "ldxsb %r0, [%r1]",
    "lock fetch add [%r10-8], %r1", "lock cmpxchg32 [%r1], %r2", "neg %r0", "sdiv %r0, 3", "# comment",
]
TOKENS = [" ", "r0", "r1", "r11", "r15", "w1", "%r0", "%r16", "=", "+=", "-", "+", "*", "(", ")", "[", "]",
          ",", ":", "#", ";", "0", "010", "08", "0x", "0xffffffffffffffff", "99999999999999999999", "-2147483649",
          "ll", "goto", "if", "call", "exit", ".rept", ".endr", ".byte", "\t", "u64", "s8", "skb", "map",
          "\n", "\u00e9", "\x00", "lock", "fetch", "label", "pc"]


def _mutated_lines(lines: list[str]) -> st.SearchStrategy[str]:
    line = st.one_of(
        st.sampled_from(lines),
        st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map(" ".join),
        st.tuples(st.sampled_from(lines), st.integers(0, 40), st.sampled_from(TOKENS)).map(
            lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]),
        st.tuples(st.sampled_from(lines), st.integers(0, 40), st.integers(1, 4)).map(
            lambda t: t[0][:t[1]] + t[0][t[1] + t[2]:]),
    )
    return st.lists(line, min_size=1, max_size=24).map(lambda ls: "\n".join(ls) + "\n")


kernel_asm = _mutated_lines(KERNEL_LINES)


def conformance_data() -> st.SearchStrategy[str]:
    """A ``.data`` file: sections around mutated ``%rN`` assembly."""
    body = _mutated_lines(CONF_LINES)
    extra = st.sampled_from(["", "-- mem\n01 02 03 04\n", "-- mem\nzz 1\n", "-- result\n0x1\n", "-- result\n010\n",
                             "-- result\nxyz\n", "-- error\nFailed\n", "-- raw\n0x95\n", "-- raw\n-1\n",
                             "-- c\nint f(void);\n", "-- no register offset\ncall instruction\n"])
    return st.tuples(body, extra, extra).map(lambda t: f"-- asm\n{t[0]}{t[1]}{t[2]}")


# --- raw instructions ------------------------------------------------------------------------

_insn = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(-(1 << 15), (1 << 15) - 1),
                  st.integers(-(1 << 31), (1 << 31) - 1)).map(lambda t: struct.pack("<BBhi", *t))
_interesting_code = st.sampled_from([0xB7, 0xBF, 0x07, 0x0F, 0x61, 0x79, 0x63, 0x7B, 0x18, 0x00, 0x85, 0x8D,
                                     0x95, 0x05, 0x15, 0xD4, 0xDC, 0xD7, 0xC3, 0xDB, 0xE5, 0x06, 0x30, 0x20])
_plausible = st.tuples(_interesting_code, st.integers(0, 255), st.integers(-4, 4),
                       st.sampled_from([0, 1, 8, 16, 32, 64, -1, 0x7FFFFFFF])).map(lambda t: struct.pack("<BBhi", *t))
raw_program = st.one_of(
    st.lists(st.one_of(_insn, _plausible), min_size=1, max_size=16).map(
        lambda xs: b"".join(xs) + bytes.fromhex("9500000000000000")),
    st.binary(min_size=0, max_size=80),
)


# --- byte mutations -------------------------------------------------------------------------

INTERESTING_U64 = [0, 1, 7, 8, 0x40, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFF00, 0xFFFFFFFFFFFFFFFF,
                   1 << 32, 1 << 62]


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: 0 overwrite a byte, 1 overwrite 8 bytes
    with an interesting u64, 2 truncate, 3 overwrite 4 bytes with a u32."""
    b = bytearray(data)
    for kind, pos, val in edits:
        if not b:
            break
        pos %= len(b)
        if kind == 0:
            b[pos] = val & 0xFF
        elif kind == 1:
            b[pos:pos + 8] = struct.pack("<Q", INTERESTING_U64[val % len(INTERESTING_U64)])
        elif kind == 2:
            del b[pos:]
        else:
            b[pos:pos + 4] = struct.pack("<I", INTERESTING_U64[val % len(INTERESTING_U64)] & 0xFFFFFFFF)
    return bytes(b)


_edits = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                  max_size=6)


@lru_cache(maxsize=None)
def example_objects() -> tuple[Path, ...]:
    return tuple(sorted(EXAMPLES.glob("*.bpf.o")))


def _section_header_edit(data: bytes, idx: int, field: int, val: int) -> bytes:
    """Overwrite one field of one section header (sh_name .. sh_entsize)."""
    if len(data) < 64:
        return data
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, = struct.unpack_from("<H", data, 0x3C)
    if not shnum or shoff + shnum * 64 > len(data):
        return data
    fields = [(0, "<I"), (4, "<I"), (8, "<Q"), (16, "<Q"), (24, "<Q"), (32, "<Q"), (40, "<I"), (44, "<I"),
              (48, "<Q"), (56, "<Q")]
    off, fmt = fields[field % len(fields)]
    v = INTERESTING_U64[val % len(INTERESTING_U64)] & (0xFFFFFFFF if fmt == "<I" else 0xFFFFFFFFFFFFFFFF)
    b = bytearray(data)
    struct.pack_into(fmt, b, shoff + (idx % shnum) * 64 + off, v)
    return bytes(b)


@st.composite
def mutated_object(draw: st.DrawFn) -> tuple[str, bytes]:
    """(example name, mutated bytes) of a committed examples/*.bpf.o."""
    path = draw(st.sampled_from(example_objects()))
    data = path.read_bytes()
    for _ in range(draw(st.integers(0, 3))):
        data = _section_header_edit(data, draw(st.integers(0, 63)), draw(st.integers(0, 9)), draw(st.integers(0, 255)))
    if draw(st.booleans()):
        data = mutate(data, draw(_edits))
    return path.name, data


# --- BTF ---------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def btf_blobs() -> tuple[bytes, ...]:
    """The .BTF sections of the examples (small, real BTF)."""
    from emu.libbpf.elf import ElfObject

    out = []
    for p in example_objects()[:6]:
        elf = ElfObject(p.read_bytes(), str(p))
        sec = next((s for s in elf.sections.values() if s.name == ".BTF"), None)
        if sec is not None:
            out.append(sec.data)
    return tuple(out)


@st.composite
def mutated_btf(draw: st.DrawFn) -> bytes:
    blob = draw(st.sampled_from(btf_blobs()))
    b = bytearray(blob)
    if draw(st.booleans()) and len(b) >= 24:  # a header field: magic, version, flags, hdr_len, offsets, lengths
        field = draw(st.integers(0, 6))
        offs = [(0, "<H"), (2, "<B"), (4, "<I"), (8, "<I"), (12, "<I"), (16, "<I"), (20, "<I")]
        off, fmt = offs[field]
        mask = {"<H": 0xFFFF, "<B": 0xFF, "<I": 0xFFFFFFFF}[fmt]
        struct.pack_into(fmt, b, off, INTERESTING_U64[draw(st.integers(0, 11))] & mask)
    return mutate(bytes(b), draw(_edits)) if draw(st.booleans()) else bytes(b)


# --- C headers ---------------------------------------------------------------------------

C_SEEDS = [
    (ROOT / "emu" / "cli" / "data" / "many_ops.h").read_text(),
    "struct ops { int (*a)(int x); void (*b)(struct ops *o); long c; };\n"
    "static int a(int x) { return 0; }\nstatic void b(struct ops *o) {}\n"
    "struct ops __bpf_ops_ops = { .a = a, .b = b };\n",
    "struct s { int (*f)(int *p__nullable); };\nstruct s __bpf_ops_s;\n",
]
C_TOKENS = ["struct", "union", "enum", "{", "}", "(", ")", "(*", "*", ";", ",", "int", "long", "void", "char",
            "unsigned", "__nullable", "__u64", "[", "]", "[4]", "= ", "0", "typedef", "static", "#define X 1",
            "/*", "*/", "\n", "x", "ops", "...", ":3", "\u00e9"]


@st.composite
def mutated_header(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(C_SEEDS))
    for _ in range(draw(st.integers(1, 5))):
        pos = draw(st.integers(0, max(0, len(text))))
        if draw(st.booleans()):
            text = text[:pos] + draw(st.sampled_from(C_TOKENS)) + text[pos:]
        else:
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
    return text


names = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=0, max_size=24)
