"""The kfunc block of the C dump (bpftool's dump_btf_kfuncs): tagged FUNCs, sorted, fastcall,
a split BTF's own kfuncs with the base types they use declared."""

from __future__ import annotations


from kernel_model.btf import BTF, DeclTag, format_c, parse_c
from kernel_model.btf import structs as S


def _kfunc_lines(header: str) -> list[str]:
    block = header.split("/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n", 1)[1].split("#endif\n", 1)[0]
    return block.splitlines()


def test_block_fastcall_sort_and_split_forward_declarations(compile_bpf) -> None:
    base = parse_c("struct task_struct { int pid; };")
    b = parse_c("struct other { int x; };\nint zeta(struct task_struct *p);\nvoid alpha(void);\n"
                "int not_a_kfunc(int a);", base=base)
    zeta = b.find("zeta", S.KIND_FUNC)
    alpha = b.find("alpha", S.KIND_FUNC)
    assert zeta is not None and alpha is not None
    b.add(DeclTag("bpf_kfunc", zeta))
    b.add(DeclTag("bpf_kfunc", alpha))
    b.add(DeclTag("bpf_fastcall", alpha))
    b.add(DeclTag("bpf_kfunc", zeta, 0))  # a parameter's tag: not a kfunc
    h = format_c(b)
    assert _kfunc_lines(h) == ["extern __bpf_fastcall void alpha(void) __weak __ksym;",
                               "extern int zeta(struct task_struct *p) __weak __ksym;"]
    assert h.index("struct task_struct;") < h.index("extern int zeta")  # only used by the kfunc
    assert "not_a_kfunc" not in h
    compile_bpf('#include "hdr.h"\nint f(struct task_struct *p) { return zeta(p); }\n', header=h)


def test_empty_block_without_kfuncs() -> None:
    h = format_c(BTF.from_bytes(parse_c("struct s { int a; };").to_bytes()))
    assert "#define __ksym __attribute__((section(\".ksyms\")))" in h
    assert _kfunc_lines(h) == []
