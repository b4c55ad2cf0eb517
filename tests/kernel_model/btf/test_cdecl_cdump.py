"""C in (cdecl.py) and C out (cdump.py): layouts agree with clang's own BTF, headers compile."""

from __future__ import annotations

import pytest

from kernel_model.btf import BTF, BTFError, format_c, parse_c, same_graph, structs as S

TESTMOD = """
struct bpf_testmod_ops;
enum st_ops_state { ST_INIT = 0, ST_RUN = 1, ST_BAD = -1 };
typedef enum st_ops_state st_state_t;
struct st_ops_args {
    u64 a;
    unsigned int b : 3;
    int c : 5;
    char name[16];
    struct st_ops_args *next;
    union { int u1; long u2; };
    st_state_t state;
    u8 tail;
};
struct bpf_testmod_ops {
    int (*test_1)(void);
    void (*test_2)(int a, int b);
    int (*test_maybe_null)(int dummy, struct task_struct *task__nullable);
    struct st_ops_args args;
    const char *const *names;
    int arr[2][3];
    void *(*get)(struct bpf_testmod_ops *self, unsigned long flags, ...);
    bool on;
    size_t len;
};
typedef int (*testmod_fn_t)(struct bpf_testmod_ops *ops);
int bpf_kfunc_call_test1(struct sock *sk, u32 a, u64 b, u32 c, u64 d);
"""


def test_testmod_ops_types() -> None:
    b = parse_c(TESTMOD, where="bpf_testmod.c")
    b.validate()
    ops = b.get("bpf_testmod_ops", S.KIND_STRUCT)
    assert [m.name for m in ops.members][:3] == ["test_1", "test_2", "test_maybe_null"]
    proto = b.resolve(b.type_by_id(ops.member("test_maybe_null").type_id).type_id)
    assert [p.name for p in proto.params] == ["dummy", "task__nullable"]
    task = b.get("task_struct")
    assert task.kind == S.KIND_FWD
    args = b.get("st_ops_args", S.KIND_STRUCT)
    assert args.kflag and args.member("b").bitfield_size == 3 and args.member("c").bits_offset == 67
    assert b.get("st_ops_state").signed
    fn = b.get("bpf_kfunc_call_test1", S.KIND_FUNC)
    assert fn.linkage == S.FUNC_GLOBAL and b.type_by_id(fn.type_id).kind == S.KIND_FUNC_PROTO


def test_layouts_match_clang(compile_bpf) -> None:
    """Compile the same text with clang -g (BPF target: same sizes as x86-64 for these types) and
    compare every struct's size and member offsets with ours."""
    mine = parse_c(TESTMOD)
    from kernel_model.btf.cdecl import BASE_TYPEDEFS
    uses = "".join(f"struct {n} *use_{n};\n" for n in ("bpf_testmod_ops", "st_ops_args"))
    obj = compile_bpf(BASE_TYPEDEFS.replace("__btf_s128", "__int128").replace("__btf_u128", "unsigned __int128")
                      + TESTMOD + uses)
    theirs = BTF.from_file(obj)
    for name in ("bpf_testmod_ops", "st_ops_args"):
        a, c = mine.get(name, S.KIND_STRUCT), theirs.get(name, S.KIND_STRUCT)
        assert a.size == c.size, name
        assert [(m.name, m.bits_offset, m.bitfield_size) for m in a.members] == \
               [(m.name, m.bits_offset, m.bitfield_size) for m in c.members], name


def test_c_errors_are_located() -> None:
    with pytest.raises(BTFError, match=r"mod.c:2:.*C parse error"):
        parse_c("struct ok { int a; };\nstruct bad { int a };;", where="mod.c")
    with pytest.raises(BTFError, match=r"mod.c:1: member 'x' has incomplete type"):
        parse_c("struct a { struct nowhere x; };", where="mod.c")
    with pytest.raises(BTFError, match="unknown type name|C parse error"):
        parse_c("struct a { not_a_type x; };")


def test_header_round_trip_and_compile(compile_bpf) -> None:
    b1 = parse_c(TESTMOD)
    b2 = BTF.from_bytes(b1.to_bytes())
    header = format_c(b2, functions=True)
    assert "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)" in header
    assert "int (*test_maybe_null)(int dummy, struct task_struct *task__nullable);" in header
    b3 = parse_c(header)
    assert same_graph(b1, b3)
    obj = compile_bpf('#include "hdr.h"\nint f(struct bpf_testmod_ops *o) { return o->args.c + o->arr[1][2]; }\n',
                      header=header)
    got = BTF.from_file(obj).get("bpf_testmod_ops", S.KIND_STRUCT)
    assert got.size == b1.get("bpf_testmod_ops", S.KIND_STRUCT).size


def test_dependency_order_and_forward_declarations() -> None:
    b = parse_c("""
        struct b;
        struct a { struct b *pb; struct c { int x; } c; };
        struct b { struct a a; };
    """)
    h = format_c(b)
    assert h.index("struct c {") < h.index("struct a {") < h.index("struct b {")
    assert "struct b;" in h[:h.index("struct a {")]


def test_split_module_header_uses_base_types(vmlinux: BTF, compile_bpf) -> None:
    mod = parse_c("struct my_ops { struct list_head node; u32 (*get)(struct sock *sk); };", base=vmlinux)
    h = format_c(mod, guard="__MOD_H__")
    assert "struct list_head {" in h and "struct my_ops {" in h
    assert "struct sock;" in h or "struct sock {" in h
    compile_bpf('#include "hdr.h"\nint f(struct my_ops *o) { return o->node.next != 0; }\n', header=h)


def test_full_vmlinux_header_compiles_with_layouts_checked(vmlinux: BTF, compile_bpf) -> None:
    """The host vmlinux.h compiles for BPF and every uniquely named struct keeps its BTF size and
    member offsets (checked by _Static_assert). warn_args holds a va_list, which is a pointer on
    the BPF target (bpftool's header has the same difference), so it is left out."""
    from kernel_model.btf import CDumper
    d = CDumper(vmlinux)
    header = d.header()
    checks = ['#include "hdr.h"']
    for tid, t in vmlinux.iter_types():
        if t.kind in (S.KIND_STRUCT, S.KIND_UNION) and t.name and t.name != "warn_args":
            kw = "union" if t.kind == S.KIND_UNION else "struct"
            n = d.tag_name(tid)
            checks.append(f"_Static_assert(sizeof({kw} {n}) == {t.size}, \"{n}\");")
            for m in t.members:
                if m.name and not m.bitfield_size:
                    checks.append(f"_Static_assert(__builtin_offsetof({kw} {n}, {m.name}) == {m.bits_offset // 8}, "
                                  f"\"{n}.{m.name}\");")
    checks.append("int dummy(struct bpf_dummy_ops_state *st) { return st->val; }")
    obj = compile_bpf("\n".join(checks) + "\n", header=header)
    assert BTF.from_file(obj).get("bpf_dummy_ops_state", S.KIND_STRUCT) is not None
