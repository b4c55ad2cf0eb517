"""Malformed input through the public entry points, in this process (none of
them touches Unicorn): each either returns or raises an error of the project's
tree (:class:`kernel_model.errors.StructOpsError`), never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given

from emu.formats.conformance import check_case, parse_data_text
from emu.libbpf import BpfObject, Log
from emu.kernel.runner import precheck, run_program
from kernel_model.asm import assemble
from kernel_model.btf import BTF, format_c, format_raw, parse_c
from kernel_model.disasm import format_program
from kernel_model.errors import StructOpsError
from kernel_model.insn import decode, encode
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER
from verifier import VerifierEnv, verify

from . import strategies as S
from .conftest import FUZZ


def _tolerated(fn, *args, **kwargs):
    """fn(...)'s value, or None when it raised a StructOpsError (anything else fails)."""
    try:
        return fn(*args, **kwargs)
    except StructOpsError:
        return None


@FUZZ
@given(text=S.kernel_asm)
def test_assemble_kernel_syntax(text):
    insns = _tolerated(assemble, text, source="fuzz.s")
    if insns is not None:
        # what disassembles, reassembles to the same slots
        assert assemble(format_program(insns)) == insns


@FUZZ
@given(text=S.conformance_data())
def test_parse_conformance_data(text):
    case = _tolerated(parse_data_text, text, "fuzz.data")
    if case is not None:
        ok, why = check_case(case, 0, None)
        assert isinstance(ok, bool) and why


@FUZZ
@given(data=S.raw_program)
def test_decode_verify_and_interpret(data):
    insns = _tolerated(decode, data, "fuzz.bin")
    if insns is None:
        return
    assert encode(insns) == data
    format_program(insns)
    res = verify(insns, VerifierEnv(prog_type=PROG_TYPE_SOCKET_FILTER), log_level=2)
    assert res.accepted or res.errno > 0
    if _tolerated(precheck, insns) is not None:
        _tolerated(run_program, insns, mem=bytes(range(16)), engine="interp", budget=5000)


@FUZZ
@given(blob=S.mutated_btf())
def test_btf_from_bytes(blob):
    btf = _tolerated(BTF.from_bytes, blob, where="fuzz.btf")
    if btf is not None:
        format_raw(btf)
        format_c(btf)


@FUZZ
@given(text=S.mutated_header())
def test_parse_c_headers(text):
    btf = _tolerated(parse_c, text, where="fuzz.h")
    if btf is not None:
        format_c(btf)


@FUZZ
@given(obj=S.mutated_object())
def test_open_elf_objects(obj):
    name, data = obj
    o = _tolerated(BpfObject, data, name, log=Log(stream=None))
    if o is not None:
        assert o.file_name and len(o.name) <= 15


@pytest.mark.parametrize("text", ["r0 = 010\nexit", ".rept 2\nr0 += 1\n.endr\nexit", ".8byte 0x95"])
def test_issue_inputs_assemble(text):
    """The inputs the issue named now assemble (LLVM reads 010 as octal 8)."""
    insns = assemble(text)
    assert insns[-1].code == 0x95
    if text.startswith("r0 = 010"):
        assert insns[0].imm == 8
