"""The committed examples: vmlinux.h is what the emulated kernel prints, every
source compiles with clang (skipped without clang; CI installs it) into an
object equivalent to the committed one, and an object compiled against a
foreign layout is relocated to ours."""

from __future__ import annotations

import pytest

from emu.libbpf import BpfObject, Log
from emu.libbpf.vmlinux_h import kernel_header
from kernel_model import isa
from kernel_model.btf import structs as S

from .conftest import EXAMPLES, compile_bpf, open_example

SOURCES = sorted(p.name[:-len(".bpf.c")] for p in EXAMPLES.glob("*.bpf.c"))


def test_every_source_has_a_committed_object() -> None:
    assert SOURCES, "no examples/*.bpf.c"
    missing = [s for s in SOURCES if not (EXAMPLES / f"{s}.bpf.o").exists()]
    assert not missing, f"run `make examples` and commit: {missing}"


def test_committed_vmlinux_h_is_current(kernel) -> None:
    """examples/vmlinux.h is `structops btf dump --kernel --format c` (rebuild: make examples)."""
    assert (EXAMPLES / "vmlinux.h").read_text() == kernel_header(kernel.btf, [m.btf for m in kernel.modules.modules.values()])


def _shape(obj: BpfObject) -> tuple:
    return (sorted((p.name, p.sec_name, p.sec_insn_cnt) for p in obj.programs),
            sorted((m.name, m.map_type, m.value_size, m.map_flags) for m in obj.maps))


@pytest.mark.parametrize("name", SOURCES)
def test_source_compiles_to_the_committed_object(tmp_path, name: str) -> None:
    out = compile_bpf(EXAMPLES / f"{name}.bpf.c", tmp_path / f"{name}.bpf.o")
    fresh = BpfObject.open_file(str(out), log=Log(stream=None))
    assert _shape(fresh) == _shape(open_example(name)), "the committed object is stale: run `make examples`"


def test_an_object_compiled_for_another_layout_is_relocated(tmp_path, kernel, kbtf) -> None:
    """No vmlinux.h at all: the object's own task_struct puts tgid at offset 100."""
    src = tmp_path / "foreign.bpf.c"
    src.write_text(r'''
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
struct task_struct { char pad[100]; int tgid; } __attribute__((preserve_access_index));
struct bpf_testmod_ops { int (*test_1)(void); int (*test_2)(int, int);
                         int (*test_maybe_null)(int dummy, struct task_struct *task); };
int seen;
SEC("struct_ops/x")
int BPF_PROG(foreign, int dummy, struct task_struct *task)
{
	if (task)
		seen = task->tgid;
	return 0;
}
SEC(".struct_ops.link")
struct bpf_testmod_ops foreign_ops = { .test_maybe_null = (void *)foreign };
''')
    out = compile_bpf(src, tmp_path / "foreign.bpf.o")
    obj = BpfObject.open_file(str(out), log=Log(stream=None))
    before = [i.off for i in obj.progs["foreign"].insns if i.code == (isa.LDX | isa.MEM | isa.W)]
    assert before == [100]
    obj.prepare(kernel_btf=kbtf)
    after = [i.off for i in obj.progs["foreign"].insns if i.code == (isa.LDX | isa.MEM | isa.W)]
    assert after == [kernel.btf.get("task_struct", S.KIND_STRUCT).member("tgid").byte_offset]
    assert obj.progs["foreign"].expected_attach_type == 2
