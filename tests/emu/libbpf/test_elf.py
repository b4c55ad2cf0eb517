"""ELF objects: sections, symbols, relocations, and malformed input.

Malformed objects must give one clear error naming the section and offset
(issue 7 acceptance), never a traceback: every failure is an
ObjectFormatError (an InputError) or a LibbpfError (a KernelError).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emu.libbpf import BpfObject, LibbpfError, Log, ObjectFormatError
from emu.libbpf.elf import R_BPF_64_ABS64, SHT_REL, ElfObject
from emu.libbpf.errors import LIBBPF_ERRNO__FORMAT
from kernel_model.errors import StructOpsError

from .conftest import example

DUMMY = example("dummy_st_ops").read_bytes()


def _shdrs(data: bytes) -> list[tuple[int, ...]]:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    n = struct.unpack_from("<H", data, 0x3C)[0]
    return [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(n)]


def _section_header_offset(elf: ElfObject, data: bytes, name: str) -> int:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    return shoff + 64 * elf.section_by_name(name).index


def test_sections_symbols_relocations() -> None:
    elf = ElfObject(DUMMY, "dummy_st_ops.bpf.o")
    names = {s.name for s in elf.iter_sections()}
    assert {"struct_ops/test_1", "struct_ops/test_2", "struct_ops.s/test_sleepable", ".struct_ops", "license",
            ".BTF", ".BTF.ext", ".bss", ".rel.struct_ops"} <= names
    rel = elf.section_by_name(".rel.struct_ops")
    assert rel.type == SHT_REL and elf.sections[rel.info].name == ".struct_ops"
    relos = elf.relocations(rel)
    # one R_BPF_64_ABS64 per initialised function pointer, at the member offsets 0, 8, 16
    assert [(r.offset, r.type) for r in relos] == [(0, R_BPF_64_ABS64), (8, R_BPF_64_ABS64), (16, R_BPF_64_ABS64)]
    targets = [elf.symbol(r.sym).name for r in relos]
    assert targets == ["dummy_test_1", "dummy_test_2", "dummy_test_sleepable"]


def test_a_text_file_is_not_an_elf_object(tmp_path) -> None:
    with pytest.raises(ObjectFormatError, match="not a proper ELF object"):
        ElfObject(b"hello world, not ELF", "x.o")


def test_truncated_header_names_the_file() -> None:
    with pytest.raises(ObjectFormatError) as ei:
        ElfObject(DUMMY[:40], "t.o")
    assert "t.o" in str(ei.value) and "header needs 64" in str(ei.value)


def test_section_past_the_end_names_section_and_size() -> None:
    elf = ElfObject(DUMMY)
    data = bytearray(DUMMY)
    hoff = _section_header_offset(elf, DUMMY, ".BTF")
    struct.pack_into("<Q", data, hoff + 32, len(DUMMY))  # sh_size: as large as the whole file
    with pytest.raises(ObjectFormatError) as ei:
        ElfObject(bytes(data), "cut.o")
    e = ei.value
    assert e.section == ".BTF" and "extend past the end of the file" in e.message
    assert str(e).startswith("cut.o: section .BTF: ")


def test_relocation_entry_size_is_checked() -> None:
    elf = ElfObject(DUMMY)
    data = bytearray(DUMMY)
    hoff = _section_header_offset(elf, DUMMY, ".rel.struct_ops")
    struct.pack_into("<Q", data, hoff + 56, 24)  # sh_entsize: 24 instead of sizeof(Elf64_Rel)
    with pytest.raises(ObjectFormatError) as ei:
        BpfObject(bytes(data), "e.o", log=Log(stream=None))
    assert ei.value.section == ".rel.struct_ops" and "not 16" in ei.value.message
    assert ei.value.errno == LIBBPF_ERRNO__FORMAT


def test_program_relocation_outside_its_section() -> None:
    """``sec '%s': invalid offset 0x%zx for relo #%d`` (-LIBBPF_ERRNO__FORMAT)."""
    elf = ElfObject(DUMMY)
    relsec = next(s for s in elf.iter_sections() if s.type == SHT_REL and elf.sections[s.info].is_exec)
    data = bytearray(DUMMY)
    struct.pack_into("<Q", data, relsec.offset, 0x10000)  # r_offset of relo #0
    with pytest.raises(ObjectFormatError) as ei:
        BpfObject(bytes(data), "r.o", log=Log(stream=None))
    assert ei.value.section == relsec.name and ei.value.offset == 0
    assert "invalid offset 0x10000" in ei.value.message


def test_relocation_to_a_missing_symbol() -> None:
    elf = ElfObject(DUMMY)
    relsec = next(s for s in elf.iter_sections() if s.type == SHT_REL and elf.sections[s.info].is_exec)
    data = bytearray(DUMMY)
    off, info = struct.unpack_from("<QQ", DUMMY, relsec.offset)
    struct.pack_into("<Q", data, relsec.offset + 8, (9999 << 32) | (info & 0xFFFFFFFF))
    with pytest.raises(ObjectFormatError, match="symbol #9999 not found"):
        BpfObject(bytes(data), "s.o", log=Log(stream=None))


def test_struct_ops_relocation_at_a_non_member_offset() -> None:
    """``struct_ops reloc %s: cannot find member at moff %u`` (-EINVAL)."""
    elf = ElfObject(DUMMY)
    rel = elf.section_by_name(".rel.struct_ops")
    data = bytearray(DUMMY)
    struct.pack_into("<Q", data, rel.offset, 4)  # inside test_1's pointer, not at a member
    log = Log(stream=None)
    with pytest.raises(LibbpfError) as ei:
        BpfObject(bytes(data), "m.o", log=log)
    assert ei.value.message == "struct_ops reloc dummy_1: cannot find member at moff 4"
    assert log.contains("libbpf: struct_ops reloc dummy_1: cannot find member at moff 4")


def test_corrupt_btf_names_the_section() -> None:
    elf = ElfObject(DUMMY)
    btf = elf.section_by_name(".BTF")
    data = bytearray(DUMMY)
    data[btf.offset:btf.offset + 2] = b"\x00\x00"  # bad magic
    log = Log(stream=None)
    with pytest.raises(ObjectFormatError) as ei:
        BpfObject(bytes(data), "b.o", log=log)
    assert ei.value.section == ".BTF" and "BTF is required, but is missing or corrupted" in ei.value.message
    assert log.contains("libbpf: BTF is required, but is missing or corrupted.")


def test_corrupt_btf_ext_is_ignored_with_libbpf_warning() -> None:
    """libbpf: "Error loading ELF section .BTF.ext: -EINVAL. Ignored and continue." """
    elf = ElfObject(DUMMY)
    ext = elf.section_by_name(".BTF.ext")
    data = bytearray(DUMMY)
    struct.pack_into("<I", data, ext.offset + 32, 3)  # func_info rec_size 3 (< 8)
    log = Log(stream=None)
    obj = BpfObject(bytes(data), "x.o", log=log)
    assert obj.btf_ext is None
    assert log.contains("libbpf: Error loading ELF section .BTF.ext: -EINVAL. Ignored and continue.")
    assert log.contains("func_info section in .BTF.ext has invalid record size 3")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_objects_never_raise_anything_but_our_errors(data) -> None:
    """Random byte flips and truncations of a real object: open either succeeds or
    raises one error of the project's tree whose text says where."""
    blob = bytearray(DUMMY)
    mode = data.draw(st.sampled_from(["flip", "truncate", "zero-run"]))
    if mode == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif mode == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
    else:
        i = data.draw(st.integers(0, len(blob) - 1))
        n = data.draw(st.integers(1, 64))
        blob[i:i + n] = bytes(len(blob[i:i + n]))
    try:
        BpfObject(bytes(blob), "mut.o", log=Log(stream=None))
    except ObjectFormatError as e:
        assert str(e).startswith("mut.o"), str(e)
    except StructOpsError as e:
        assert str(e), "an error without a message"


_TARGETS = [s for s in ElfObject(example("struct_ops_module").read_bytes()).iter_sections()
            if s.size and s.type != 8 and not s.name.startswith(".debug")]
MODULE = example("struct_ops_module").read_bytes()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_TARGETS), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                                           min_size=1, max_size=4))
def test_mutated_sections_open_and_prepare_or_fail_cleanly(kernel, sec, edits) -> None:
    """Byte edits inside one section (.BTF, .BTF.ext, relocations, symbols, code,
    .struct_ops ...), then open *and* prepare against the emulated kernel's BTF:
    success or one error of our tree."""
    from emu.libbpf import KernelBtf

    blob = bytearray(MODULE)
    for frac, val in edits:
        blob[sec.offset + int(frac * sec.size)] = val
    try:
        obj = BpfObject(bytes(blob), "mut.o", log=Log(stream=None))
        obj.prepare(kernel_btf=KernelBtf.from_kernel(kernel))
    except StructOpsError as e:
        assert str(e)


def test_every_section_header_field_mutation_is_handled() -> None:
    """Each of the 10 fields of each section header, set to a large value: always our error."""
    n = len(_shdrs(DUMMY))
    shoff = struct.unpack_from("<Q", DUMMY, 0x28)[0]
    fields = struct.Struct("<IIQQQQIIQQ")
    offsets = [0, 4, 8, 16, 24, 32, 40, 44, 48, 56]
    seen_ok = 0
    for i in range(1, n):
        for j, fo in enumerate(offsets):
            blob = bytearray(DUMMY)
            size = 4 if fields.format[1 + j] == "I" else 8
            blob[shoff + 64 * i + fo:shoff + 64 * i + fo + size] = b"\xff" * size
            try:
                BpfObject(bytes(blob), "h.o", log=Log(stream=None))
                seen_ok += 1
            except StructOpsError as e:
                assert str(e)
    assert seen_ok < n * len(offsets)  # most mutations are detected
