"""Property tests: random C declarations survive C -> BTF -> binary -> BTF -> C header -> BTF,
and mutated blobs only ever raise BTFError."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_model.btf import (
    BTF, BTFError, distill_func_proto, format_c, format_raw, parse_c, same_graph, structs as S,
)

SCALARS = ["int", "unsigned int", "char", "signed char", "unsigned char", "short", "unsigned short", "long",
           "unsigned long", "long long", "unsigned long long", "u8", "u16", "u32", "u64", "s8", "s16", "s32",
           "s64", "bool", "size_t", "__u64"]
BITFIELD_TYPES = ["int", "unsigned int", "u32", "unsigned char", "u64"]


@st.composite
def c_declarations(draw) -> str:
    """Returns a strategy for C text: enums, typedefs, structs/unions with scalar, pointer (also to
    later or undeclared structs), array, nested-struct, bitfield and function-pointer members, and
    function prototypes. Shrinks towards fewer and simpler declarations."""
    n_enums = draw(st.integers(0, 2))
    n_structs = draw(st.integers(1, 4))
    n_funcs = draw(st.integers(0, 2))
    out: list[str] = []
    value_types = list(SCALARS)
    for e in range(n_enums):
        nvals = draw(st.integers(1, 4))
        big = draw(st.booleans())
        vals = draw(st.lists(st.integers(-(2 ** 31), 2 ** 40 if big else 2 ** 31 - 1), min_size=nvals,
                             max_size=nvals))
        body = ", ".join(f"E{e}_V{j} = {v}" for j, v in enumerate(vals))
        out.append(f"enum e{e} {{ {body} }};")
        value_types.append(f"enum e{e}")
    n_typedefs = draw(st.integers(0, 2))
    for t in range(n_typedefs):
        out.append(f"typedef {draw(st.sampled_from(value_types))} t{t}_t;")
        value_types.append(f"t{t}_t")
    ptr_targets = [f"struct s{i}" for i in range(n_structs)] + ["struct ext_undeclared", "void", "const char"]

    def scalar() -> str:
        return draw(st.sampled_from(value_types))

    def fnptr(name: str) -> str:
        nparams = draw(st.integers(0, 3))
        params = ", ".join(f"{draw(st.sampled_from(SCALARS + [p + ' *' for p in ptr_targets]))} p{k}"
                           for k in range(nparams)) or "void"
        ret = draw(st.sampled_from(["int", "void", "long", "struct s0 *", "u32"]))
        return f"{ret} (*{name})({params})"

    for i in range(n_structs):
        kw = draw(st.sampled_from(["struct", "struct", "union"])) if i else "struct"
        members = []
        for j in range(draw(st.integers(1, 6))):
            kind = draw(st.sampled_from(["scalar", "ptr", "array", "fnptr", "bitfield", "nested", "anon"]))
            name = f"m{j}"
            if kind == "scalar":
                members.append(f"{scalar()} {name};")
            elif kind == "ptr":
                members.append(f"{draw(st.sampled_from(ptr_targets))} *{name};")
            elif kind == "array":
                members.append(f"{scalar()} {name}[{draw(st.integers(1, 5))}];")
            elif kind == "fnptr":
                members.append(fnptr(name) + ";")
            elif kind == "bitfield" and kw == "struct":
                members.append(f"{draw(st.sampled_from(BITFIELD_TYPES))} {name}: {draw(st.integers(1, 8))};")
            elif kind == "nested" and i > 0:
                members.append(f"struct s{draw(st.integers(0, i - 1))} {name};") if not draw(st.booleans()) \
                    else members.append(f"{scalar()} {name};")
            elif kind == "anon":
                members.append(f"union {{ {scalar()} a{j}; {scalar()} b{j}; }};")
            else:
                members.append(f"{scalar()} {name};")
        tag = "struct" if kw == "struct" else "union"
        # unions keep their struct name so pointers 'struct sN *' stay valid only for structs
        name = f"s{i}" if tag == "struct" else f"u{i}"
        if tag == "union":
            ptr_targets[i] = f"union u{i}"
        out.append(f"{tag} {name} {{ {' '.join(members)} }};")
    for f in range(n_funcs):
        nparams = draw(st.integers(0, 4))
        params = ", ".join(f"{draw(st.sampled_from(SCALARS))} a{k}" for k in range(nparams)) or "void"
        out.append(f"int func{f}({params});")
    return "\n".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c_declarations())
def test_c_btf_binary_c_round_trip(text: str) -> None:
    try:
        b1 = parse_c(text)
    except BTFError as e:  # only an incomplete union member can be refused; anything else is a bug
        assert "incomplete" in str(e), (str(e), text)
        return
    b1.validate()
    blob = b1.to_bytes()
    b2 = BTF.from_bytes(blob)
    assert b2.types() == b1.types() and b2.to_bytes() == blob
    header = format_c(b2, functions=True)
    b3 = parse_c(header)
    assert same_graph(b1, b3), header
    assert format_raw(BTF.from_bytes(b3.to_bytes())).count("\n") == format_raw(b3).count("\n")


def _seed_blob() -> bytes:
    b = parse_c("""
        enum e { A = 1, B = -1 }; enum big { X = 0x100000000 };
        struct s { int a: 3; unsigned int b: 5; struct s *next; char name[8]; union { int i; long l; }; };
        typedef int (*fn_t)(struct s *p, ...);
        struct ops { fn_t f; int (*g)(struct s v, long x); double d; const volatile int *cv; };
        int kfunc(struct s *p, u32 x);
        int g_var;
    """)
    from kernel_model.btf import Datasec, DeclTag, TypeTag, Ptr, VarSecinfo
    var = b.find("g_var", S.KIND_VAR)
    b.add(Datasec(".bss", 4, (VarSecinfo(var, 0, 4),)))
    b.add(DeclTag("bpf_kfunc", b.find("kfunc", S.KIND_FUNC)))
    b.add(Ptr(b.add(TypeTag("rcu", b.find("s", S.KIND_STRUCT)))))
    b.validate()
    return b.to_bytes()


SEED = _seed_blob()


def _exercise(blob: bytes) -> None:
    b = BTF.from_bytes(blob)
    format_raw(b)
    format_c(b, functions=True)
    # Byte-exact only when every name offset points at the first copy of its string (true of
    # pahole/libbpf output); a mutated offset into the middle of a string re-encodes canonically.
    assert BTF.from_bytes(b.to_bytes()).types() == b.types()
    for tid, t in b.iter_types(S.KIND_FUNC_PROTO):
        try:
            distill_func_proto(b, tid, "f")
        except BTFError:
            pass
    for tid, t in b.iter_types():
        try:
            b.size_of(tid)
            b.align_of(tid)
        except BTFError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, len(SEED)))
def test_corrupt_blobs_raise_only_btf_error(edits: list[tuple[int, int]], cut: int) -> None:
    blob = bytearray(SEED)
    for pos, val in edits:
        blob[pos] = val
    for candidate in (bytes(blob), bytes(blob[:cut])):
        try:
            _exercise(candidate)
        except BTFError as e:
            assert str(e)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, (len(SEED) - 24) // 4 - 1), st.integers(0, 2 ** 32 - 1))
def test_corrupt_words_raise_only_btf_error(index: int, word: int) -> None:
    """Whole 32-bit fields (ids, offsets, sizes, info words) replaced by arbitrary values."""
    blob = bytearray(SEED)
    struct.pack_into("<I", blob, 24 + 4 * index, word)
    try:
        _exercise(bytes(blob))
    except BTFError as e:
        assert str(e)
