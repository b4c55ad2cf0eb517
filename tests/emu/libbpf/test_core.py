"""CO-RE relocations (libbpf 1.8 src/relo_core.c rules) against the emulated kernel's
BTF and against deliberately different layouts."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emu.libbpf import KernelBtf, LibbpfError, Log, ModuleBtf
from emu.libbpf import core
from emu.libbpf.btf_ext import CoreRelo
from emu.libbpf.object import fixup_verifier_log
from kernel_model import isa
from kernel_model.btf import BTF, parse_c
from kernel_model.btf import structs as S
from kernel_model.insn import Insn
from kernel_model.subsystems.testmod import TESTMOD_C
from kernel_model.vmlinux import BASE_C, TCP_KFUNCS_C, add_value_type
from kernel_model.vmlinux_net import NET_C

from .conftest import open_example


@pytest.mark.parametrize("name,essential", [
    # libbpf's rule (tools/lib/bpf/relo_core.c, bpf_core_essential_name_len): the last ___ suffix goes
    ("tcp_congestion_ops___v2", "tcp_congestion_ops"), ("a___b___c", "a___b"), ("foo___", "foo___"),
    ("foo____bar", "foo____bar"), ("___foo", "___foo"), ("task_struct", "task_struct"), ("x___y", "x"),
])
def test_essential_name(name: str, essential: str) -> None:
    assert core.essential_name(name) == essential


@given(st.from_regex(r"[a-z][a-z_]{0,8}[a-z]", fullmatch=True), st.from_regex(r"[a-z0-9]{1,6}",
                                                                                fullmatch=True))
def test_a_flavor_suffix_is_always_stripped(base: str, flavor: str) -> None:
    """Only the *last* separator counts: whatever ``base`` holds, ``base___flavor`` -> ``base``."""
    assert core.essential_name(f"{base}___{flavor}") == base


def _field_offset(btf: BTF, struct_name: str, member: str) -> int:
    t = btf.get(struct_name, S.KIND_STRUCT)
    return t.member(member).byte_offset


def test_core_relocs_against_the_emulated_kernel(kernel, kbtf) -> None:
    """The object was compiled for task_struct___old (tgid at 40); our task_struct differs."""
    obj = open_example("core_relocs")
    obj.prepare(kernel_btf=kbtf)
    p = obj.progs["core_maybe_null"]
    want = _field_offset(kernel.btf, "task_struct", "tgid")
    ldx = [i for i in p.insns if i.code == (isa.LDX | isa.MEM | isa.W) and i.src == 1]
    assert [i.off for i in ldx] == [want]
    assert obj.log.contains(f"patched insn #2 (LDX/ST/STX) off 40 -> {want}")
    # field_exists of the missing field is now the constant 0, and the guarded read is poisoned
    assert obj.log.contains("relo #2: patched insn #10 (ALU/ALU64) imm 1 -> 0")
    assert sum(1 for i in p.insns if i.code == (isa.JMP | isa.CALL) and i.imm == core.POISON_IMM) == 1
    assert obj.log.contains("relo #3: no matching targets found")


def _custom_kernel(**structs: str) -> KernelBtf:
    """A kernel whose ``struct NAME`` definitions are replaced by the given C (the rest
    as the emulated one), with bpf_testmod's split BTF on it."""
    c = BASE_C + NET_C + TCP_KFUNCS_C
    for name, text in structs.items():
        if f"struct {name} {{" not in c:  # task_struct: only declared in BASE_C (kernel_model.vmlinux_task)
            c += text
            continue
        start = c.index(f"struct {name} {{")
        end = c.index("\n};", start) + 3
        c = c[:start] + text + c[end:]
    vml = parse_c(c, where="custom vmlinux")
    for ops in ("bpf_dummy_ops", "tcp_congestion_ops"):
        add_value_type(vml, ops)
    mod = parse_c(TESTMOD_C, base=vml, where="custom bpf_testmod")
    for ops in ("bpf_testmod_ops", "bpf_testmod_ops2"):
        add_value_type(mod, ops)
    return KernelBtf(vml, lambda: [ModuleBtf("bpf_testmod", mod)])


def test_core_relocs_against_a_different_layout() -> None:
    kb = _custom_kernel(task_struct="struct task_struct { long a, b, c; short tgid; int gone_in_this_kernel; "
                                    "struct task_struct *parent; };")
    obj = open_example("core_relocs")
    obj.prepare(kernel_btf=kb)
    p = obj.progs["core_maybe_null"]
    # the field that was missing exists here: field_exists -> 1, its read relocated to offset 28
    assert obj.log.contains("relo #2: patched insn #10 (ALU/ALU64) imm 1 -> 1")
    assert any(i.code & 0x07 == isa.LDX and i.off == 28 for i in p.insns)
    assert obj.log.contains("relo #1: patched insn #3 (ALU/ALU64) imm 4 -> 2")  # bpf_core_field_size(tgid)
    # tgid shrank from a signed int to a signed short: a 2-byte load would lose the sign, so
    # libbpf refuses to adjust the load and poisons it instead
    assert obj.log.contains("relo #0: insn #2 (LDX/ST/STX) accesses field incorrectly")


def test_unsigned_field_size_change_is_adjusted() -> None:
    """Unsigned to unsigned: libbpf rewrites the load's size (u32 -> u16) and offset."""
    kb = _custom_kernel(sock="struct sock { int sk_rcvbuf; unsigned char pad; "
                             "unsigned short sk_mark; };")
    obj = open_example("tcp_ca")
    obj.prepare(kernel_btf=kb)
    ld = [i for i in obj.progs["emu_ssthresh"].insns if i.code & 0x07 == isa.LDX and i.src == 1 and i.dst != 1]
    assert [(i.code & 0x18, i.off) for i in ld] == [(isa.H, 6)]
    assert obj.log.contains("patched insn #1 (LDX/ST/STX) mem_sz 4 -> 2")


def test_field_offset_ambiguity() -> None:
    """Two kernel candidates that disagree: libbpf refuses (``field offset ambiguity``)."""
    kb = _custom_kernel(task_struct="struct task_struct { int tgid; }; "
                                    "struct task_struct___2 { long x; int tgid; };")
    obj = open_example("struct_ops_maybe_null")
    with pytest.raises(LibbpfError) as ei:
        obj.prepare(kernel_btf=kb)
    assert ei.value.errno == errno.EINVAL
    assert obj.log.contains("relo #0: field offset ambiguity: 64 != 0")
    assert obj.log.contains("failed to perform CO-RE relocations: -EINVAL")


# --- relo_core rules on hand-made records --------------------------------------------------------

def _local(c: str, *access: str) -> tuple[BTF, int]:
    """Local BTF from C with the access strings in its string table (as clang puts them)."""
    btf = parse_c(c, where="local")
    for a in access + ("0",):
        btf._strings.add(a)
    btf = BTF.from_bytes(btf.to_bytes(), validate=False)
    return btf, btf._strings.lookup(access[0])


def _relo(btf: BTF, name: str, access_off: int, kind: int) -> CoreRelo:
    tid = btf.find(name)
    assert tid is not None
    return CoreRelo(0, tid, access_off, kind)


def test_bitfield_shifts() -> None:
    lb, acc = _local("struct flags___local { unsigned int a:3, b:7; };", "0:1")
    kb = parse_c("struct flags { unsigned int pad; unsigned int x:5, b:7; };", where="kernel")
    cands = [core.Cand(kb, kb.find("flags"), "vmlinux")]
    log = Log(stream=None)
    got = {}
    for kind in (core.FIELD_BYTE_OFFSET, core.FIELD_BYTE_SIZE, core.FIELD_LSHIFT_U64, core.FIELD_RSHIFT_U64,
                 core.FIELD_SIGNED, core.FIELD_EXISTS):
        got[kind] = core.calc_relo_insn(_relo(lb, "flags___local", acc, kind), 0, lb, list(cands), "p", log).new_val
    # b is bits 37..43 of the 8 bytes at offset 0 (a 4-byte read does not reach them from offset 4? it does:
    # the smallest aligned load holding bits 37..43 is the u32 at offset 4)
    assert got[core.FIELD_BYTE_OFFSET] == 4 and got[core.FIELD_BYTE_SIZE] == 4
    assert got[core.FIELD_LSHIFT_U64] == 64 - (37 + 7 - 32) and got[core.FIELD_RSHIFT_U64] == 64 - 7
    assert got[core.FIELD_SIGNED] == 0 and got[core.FIELD_EXISTS] == 1


def test_enum_values_and_type_relocations() -> None:
    lb, acc = _local("enum state___loc { ST_A = 10, ST_B = 11 }; struct t___loc { int x; };", "1")
    kb = parse_c("enum state { ST_B = 7, ST_A = 3 }; struct t { long y; int x; };", where="kernel")
    log = Log(stream=None)
    ecand = [core.Cand(kb, kb.find("state"), "vmlinux")]
    r = core.calc_relo_insn(_relo(lb, "state___loc", acc, core.ENUMVAL_VALUE), 0, lb, list(ecand), "p", log)
    assert (r.orig_val, r.new_val) == (11, 7)
    r = core.calc_relo_insn(_relo(lb, "state___loc", acc, core.ENUMVAL_EXISTS), 0, lb, list(ecand), "p", log)
    assert r.new_val == 1
    zero = lb._strings.lookup("0")
    tcand = [core.Cand(kb, kb.find("t"), "vmlinux")]
    for kind, want in ((core.TYPE_EXISTS, 1), (core.TYPE_SIZE, 16), (core.TYPE_ID_TARGET, kb.find("t")),
                       (core.TYPE_MATCHES, 1)):
        r = core.calc_relo_insn(_relo(lb, "t___loc", zero, kind), 0, lb, list(tcand), "p", log)
        assert r.new_val == want, kind
    r = core.calc_relo_insn(_relo(lb, "t___loc", zero, core.TYPE_EXISTS), 0, lb, [], "p", log)
    assert r.new_val == 0 and not r.poison
    r = core.calc_relo_insn(_relo(lb, "state___loc", acc, core.ENUMVAL_VALUE), 0, lb, [], "p", log)
    assert r.poison


def test_patch_refuses_an_instruction_that_does_not_hold_the_local_value() -> None:
    lb, acc = _local("struct s___l { int a; int b; };", "0:1")
    kb = parse_c("struct s { long z; int b; };", where="kernel")
    log = Log(stream=None)
    relo = _relo(lb, "s___l", acc, core.FIELD_BYTE_OFFSET)
    res = core.calc_relo_insn(relo, 3, lb, [core.Cand(kb, kb.find("s"), "vmlinux")], "p", log)
    assert (res.orig_val, res.new_val) == (4, 8)
    good = [Insn(isa.LDX | isa.MEM | isa.W, 0, 1, 4, 0)]
    core.patch_insn(good, 0, relo, 3, res, "p", log)
    assert good[0].off == 8
    bad = [Insn(isa.LDX | isa.MEM | isa.W, 0, 1, 12, 0)]
    with pytest.raises(LibbpfError):
        core.patch_insn(bad, 0, relo, 3, res, "p", log)
    assert log.contains("libbpf: prog 'p': relo #3: unexpected insn #0 (LDX/ST/STX) value: got 12, exp 4 -> 8")


def test_types_are_compat_for_kfunc_prototypes() -> None:
    lb = parse_c("int f1(int a, struct sock *s); long f2(int a); int f3(int a, int b);", where="l")
    kb = parse_c("int k(unsigned int x, struct sock *sk);", where="k")
    kp = kb.type_by_id(kb.find("k", S.KIND_FUNC)).type_id
    p = {n: lb.type_by_id(lb.find(n, S.KIND_FUNC)).type_id for n in ("f1", "f2", "f3")}
    assert core.types_are_compat(lb, p["f1"], kb, kp) == 1   # ints of any sign/size are compatible
    assert core.types_are_compat(lb, p["f2"], kb, kp) == 0   # arity differs
    assert core.types_are_compat(lb, p["f3"], kb, kp) == 0   # int vs struct pointer


def test_verifier_log_fixup_for_a_poisoned_relocation(kbtf) -> None:
    """fixup_log_failed_core_relo: the two lines the verifier prints for a reachable
    poisoned instruction become the relocation that failed."""
    obj = open_example("core_missing_field")
    obj.prepare(kernel_btf=kbtf)
    p = obj.progs["core_unguarded"]
    idx = next(i for i, x in enumerate(p.insns) if x.imm == core.POISON_IMM)
    log = (f"0: R1=ctx() R10=fp0\n{idx}: (85) call unknown#195896080\ninvalid func unknown#195896080\n"
           "processed 4 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n")
    fixed = fixup_verifier_log(obj, p, log)
    tid = obj.btf.find("bpf_dummy_ops_state___new", S.KIND_STRUCT)
    assert fixed.splitlines()[1:3] == [
        f"{idx}: <invalid CO-RE relocation>",
        f"failed to resolve CO-RE relocation <byte_off> [{tid}] struct bpf_dummy_ops_state___new.no_such_field "
        "(0:1 @ offset 4)"]
