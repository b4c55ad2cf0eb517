"""btf_distill_func_proto(): models and refusals with the kernel's messages."""

from __future__ import annotations

import pytest

from kernel_model.btf import (
    BTF, BTF_FMODEL_SIGNED_ARG, BTF_FMODEL_STRUCT_ARG, FuncModel, FuncModelError, distill_func_proto,
    fallback_func_model, parse_c, structs as S,
)

SRC = """
struct pair { long a; long b; };
struct triple { long a; long b; long c; };
union small { int i; char c; };
int ok(char c, short s, int i, long l, void *p, struct pair v, union small u, unsigned int x);
unsigned long long retu(void);
void many(int a1, int a2, int a3, int a4, int a5, int a6, int a7, int a8, int a9, int a10, int a11, int a12, int a13);
struct pair ret_struct(void);
int big_arg(struct triple t);
int float_arg(double d);
int varargs(int n, ...);
int arr_ptr(int (*a)[4]);
"""


@pytest.fixture(scope="module")
def btf() -> BTF:
    return parse_c(SRC)


def test_sizes_and_flags(btf: BTF) -> None:
    m = distill_func_proto(btf, btf.find("ok", S.KIND_FUNC))
    assert m == FuncModel(8, (1, 2, 4, 8, 8, 16, 4, 4),
                          (0, BTF_FMODEL_SIGNED_ARG, BTF_FMODEL_SIGNED_ARG, BTF_FMODEL_SIGNED_ARG, 0,
                           BTF_FMODEL_STRUCT_ARG, BTF_FMODEL_STRUCT_ARG, 0),
                          4, BTF_FMODEL_SIGNED_ARG, ("c", "s", "i", "l", "p", "v", "u", "x"))
    assert m.is_struct_arg(5) and not m.is_struct_arg(4)
    r = distill_func_proto(btf, btf.find("retu", S.KIND_FUNC))
    assert (r.nr_args, r.ret_size, r.ret_flags) == (0, 8, 0)
    assert distill_func_proto(btf, btf.find("arr_ptr", S.KIND_FUNC)).arg_size == (8,)


@pytest.mark.parametrize("name, message", [
    ("many", "The function many has 13 arguments. Too many."),
    ("ret_struct", "The function ret_struct return type STRUCT is unsupported."),
    ("big_arg", "The function big_arg arg0 type STRUCT is unsupported."),
    ("float_arg", "The function float_arg arg0 type FLOAT is unsupported."),
    ("varargs", "The function varargs with variable args is unsupported."),
])
def test_refusals(btf: BTF, name: str, message: str) -> None:
    with pytest.raises(FuncModelError) as ei:
        distill_func_proto(btf, btf.find(name, S.KIND_FUNC))
    assert ei.value.message == message and ei.value.errno == 22


def test_void_argument_and_fallback() -> None:
    from kernel_model.btf import FuncProto, Int, Param
    b = BTF([Int("int", 4, S.INT_SIGNED, 0, 32)])
    with pytest.raises(FuncModelError, match="has malformed void argument"):
        distill_func_proto(b, FuncProto(1, (Param("", 0), Param("x", 1))), "f")
    assert fallback_func_model() == FuncModel(5, (8,) * 5, (0,) * 5, 8, 0)
    assert distill_func_proto(b, None) == fallback_func_model()


def test_vmlinux_struct_ops_members(vmlinux: BTF) -> None:
    """Every function member of tcp_congestion_ops and bpf_dummy_ops distils (as bpf_struct_ops_desc_init
    requires); bpf_dummy_ops.test_2 is (struct bpf_dummy_ops_state *, int, unsigned short, char, unsigned long)."""
    for name in ("tcp_congestion_ops", "bpf_dummy_ops"):
        st = vmlinux.get(name, S.KIND_STRUCT)
        for m in st.members:
            t = vmlinux.resolve(m.type_id)
            if t.kind == S.KIND_PTR and vmlinux.resolve(t.type_id).kind == S.KIND_FUNC_PROTO:
                model = distill_func_proto(vmlinux, vmlinux.skip_modifiers(t.type_id), m.name)
                assert model.nr_args <= 12
    st = vmlinux.get("bpf_dummy_ops", S.KIND_STRUCT)
    ptr = vmlinux.resolve(st.member("test_2").type_id)
    model = distill_func_proto(vmlinux, ptr.type_id, "test_2")
    assert model.arg_size == (8, 4, 2, 1, 8) and model.ret_size == 4
