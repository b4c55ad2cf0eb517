"""The fast paths against the slow ones.

A BTF decoded from a blob keeps its type section as words (section.py): the meta
rules, the graph rules (bulk_validate.py), the raw dump and the C dump read the
words, in Python or in the compiled accelerator (accel.py, _accel.c) when it is
built; the record-by-record decoder, validate_btf() over objects, the object raw
dump and the recursive C dumper (cdump_reference.py) are the references. On the
host's vmlinux and on random and corrupted blobs they must agree, with the
accelerator and without it: the bulk checks never accept what the references
refuse, and the texts are equal byte for byte.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_model.btf import BTF, BTFError, format_c, format_raw, parse_c, structs as S
from kernel_model.btf import accel, cdump
from kernel_model.btf.bulk_validate import section_ok
from kernel_model.btf.codec import _decode_types
from kernel_model.btf.section import meta_ok
from kernel_model.btf.validate import validate_btf

from tests.kernel_model.btf.cdump_reference import reference_format_c
from tests.kernel_model.btf.test_properties import SEED, c_declarations


@contextmanager
def accel_mode(on: bool) -> Iterator[None]:
    """The compiled accelerator used (``on``, when built) or not, for the duration."""
    old = os.environ.get("STRUCTOPS_BTF_ACCEL")
    os.environ["STRUCTOPS_BTF_ACCEL"] = "1" if on else "0"
    accel.reset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["STRUCTOPS_BTF_ACCEL"]
        else:
            os.environ["STRUCTOPS_BTF_ACCEL"] = old
        accel.reset()


#: Pure Python always; the accelerator too where it is built.
MODES = [False] + ([True] if accel.module() is not None else [])


def _objects(blob: bytes, base: BTF | None = None) -> BTF:
    """The same blob held as objects only: every path takes its record-by-record branch."""
    b = BTF.from_bytes(blob, base, validate=False)
    b._materialize_all()
    assert b._section() is None
    return b


def _outcome(fn):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn())
    except BTFError as e:
        return ("error", type(e))


def _compare(blob: bytes) -> None:
    """Every fast path, in each mode, against its reference on one blob (which may be malformed)."""
    for on in MODES:
        with accel_mode(on):
            _compare_once(blob)


def _compare_once(blob: bytes) -> None:
    try:
        fast = BTF.from_bytes(blob, validate=False)
    except BTFError:
        return
    sec = fast._section()
    slow = _objects(blob)
    assert fast.types() == slow.types()
    if sec is not None:  # meta_ok() vouched for it: the record-by-record decoder agrees
        assert meta_ok(sec)
        _decode_types(blob, sec.type_start, sec.type_start + 4 * sec.offs[-1], 1, sec.strtab, "little", "")
        fast = BTF.from_bytes(blob, validate=False)  # types() above turned the records into objects
        if section_ok(fast, fast._section()):
            validate_btf(slow)  # the bulk check accepted: the type-by-type rules must too
    verdict = _outcome(lambda: validate_btf(slow))
    assert _outcome(lambda: BTF.from_bytes(blob).type_count) == (
        ("ok", slow.type_count) if verdict[0] == "ok" else verdict)
    fast = BTF.from_bytes(blob, validate=False)
    assert format_raw(fast) == format_raw(slow)
    fast = BTF.from_bytes(blob, validate=False)
    limit = cdump.MAX_PADDING_LINES
    cdump.MAX_PADDING_LINES = 4096  # the reference has no limit: keep what it is compared on small
    try:
        ours = _outcome(lambda: format_c(fast, functions=True))
    finally:
        cdump.MAX_PADDING_LINES = limit
    if ours[0] == "error" and "explicit padding" in str(_outcome_message(fast)):
        return
    assert ours == _outcome(lambda: reference_format_c(_objects(blob), functions=True))


def _outcome_message(b: BTF) -> str:
    limit = cdump.MAX_PADDING_LINES
    cdump.MAX_PADDING_LINES = 4096
    try:
        format_c(b, functions=True)
    except BTFError as e:
        return str(e)
    finally:
        cdump.MAX_PADDING_LINES = limit
    return ""


def test_vmlinux_fast_paths_equal_the_references(vmlinux_bytes: bytes) -> None:
    slow = _objects(vmlinux_bytes)
    validate_btf(slow)
    raw, header = format_raw(slow), reference_format_c(slow)
    for on in MODES:
        with accel_mode(on):
            fast = BTF.from_bytes(vmlinux_bytes, validate=False)
            assert fast._section() is not None and section_ok(fast, fast._section())
            validate_btf(fast)
            assert format_raw(fast) == raw
            assert format_c(BTF.from_bytes(vmlinux_bytes, validate=False)) == header


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c_declarations())
def test_clean_blobs_take_the_fast_paths(text: str) -> None:
    try:
        blob = parse_c(text).to_bytes()
    except BTFError:
        return
    for on in MODES:
        with accel_mode(on):
            b = BTF.from_bytes(blob, validate=False)
            assert b._section() is not None and section_ok(b, b._section())  # nothing sent to the slow path
            fast = accel.module()
            if fast is not None:
                assert fast.rules_hold(b._section().words, b._strings.data, len(b))
    _compare(blob)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_corrupt_bytes_agree(edits: list[tuple[int, int]]) -> None:
    blob = bytearray(SEED)
    for pos, val in edits:
        blob[pos] = val
    _compare(bytes(blob))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, (len(SEED) - 24) // 4 - 1),
       st.one_of(st.integers(0, 64), st.integers(0, 2 ** 32 - 1), st.sampled_from([0xFFFFFFFF, 1 << 31, 1 << 24])))
def test_corrupt_words_agree(index: int, word: int) -> None:
    blob = bytearray(SEED)
    struct.pack_into("<I", blob, 24 + 4 * index, word)
    _compare(bytes(blob))


def _with_struct_size(text: str, name: str, size: int) -> bytes:
    b = parse_c(text)
    tid = b.find(name, S.KIND_STRUCT)
    t = b[tid]
    b.replace(tid, type(t)(t.name, size, t.members, t.kflag))  # type: ignore[attr-defined]
    return b.to_bytes()


def test_a_4gib_struct_is_valid_but_not_printed_as_c() -> None:
    """The kernel puts no limit on a struct's size; its C form needs one `long: 64;` line per
    8 bytes of padding (537 million here), so the C dump refuses it instead of filling memory."""
    blob = _with_struct_size("struct s { int a; }; struct t { struct s *p; };", "s", 0xFFFFFFF0)
    b = BTF.from_bytes(blob)  # valid
    assert "size=4294967280" in format_raw(b)
    with pytest.raises(BTFError, match=r"\[1\] STRUCT 's' needs 4294967276 bytes of explicit padding"):
        format_c(b)


def test_padding_within_the_limit_is_printed() -> None:
    blob = _with_struct_size("struct s { int a; };", "s", 4 + 8 * 1000)
    h = format_c(BTF.from_bytes(blob))
    assert h.count("long: 64;") == 999 and h == reference_format_c(_objects(blob))


def test_array_over_4gib_is_refused_as_the_kernel_does() -> None:
    """btf_array_resolve(): elem_size * nelems must fit in u32 ("Array size overflows U32_MAX")."""
    from kernel_model.btf import Array
    for nelems, ok in (((1 << 29) - 1, True), (1 << 29, False)):  # 8-byte elements: 4 GiB - 8, 4 GiB
        b = parse_c("typedef long big_t[1];")
        aid = [i for i, _ in b.iter_types(S.KIND_ARRAY)][0]
        a = b[aid]
        b.replace(aid, Array(a.type_id, a.index_type_id, nelems))  # type: ignore[attr-defined]
        blob = b.to_bytes()
        if ok:
            assert BTF.from_bytes(blob).size_of(aid) == 8 * nelems
        else:
            with pytest.raises(BTFError, match=rf"\[{aid}\] ARRAY '\(anon\)' Array size overflows U32_MAX"):
                BTF.from_bytes(blob)
            with pytest.raises(BTFError, match="Array size overflows U32_MAX"):
                validate_btf(_objects(blob))


def test_accelerator_of_another_version_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build left over from an older _accel.c (its VERSION differs) falls back to Python."""
    monkeypatch.setattr(accel, "VERSION", -1)
    accel.reset()
    try:
        assert accel.module() is None
        b = parse_c("struct s { int a; };")
        assert "struct s {" in format_c(BTF.from_bytes(b.to_bytes()))
    finally:
        monkeypatch.undo()
        accel.reset()


@pytest.mark.skipif(accel.module() is None, reason="the compiled accelerator is not built (no C compiler) or is turned off (STRUCTOPS_BTF_ACCEL=0)")
def test_accelerator_vouches_for_vmlinux(vmlinux_bytes: bytes) -> None:
    with accel_mode(True):
        b = BTF.from_bytes(vmlinux_bytes, validate=False)
        sec = b._section()
        assert sec is not None and sec.meta_checked
        assert accel.module().rules_hold(sec.words, sec.strtab.data, sec.n)
