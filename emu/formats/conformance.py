"""The conformance test-data format (``tests/*.data`` of uBPF and of
bpf_conformance) and the runtime side of bpf_conformance's plugin protocol.

A ``.data`` file holds one test in sections: a line beginning ``--`` starts
one (``-- asm``, ``-- raw``, ``-- mem``, ``-- result``, ``-- error``, ``--
error pattern``; others such as ``-- c`` or ``-- no register offset`` are
kept but unused), ``#`` starts a comment. ``-- asm`` is the ``%rN`` dialect of
:mod:`kernel_model.asm`, ``-- raw`` 64-bit instruction words, ``-- mem`` the
input memory as hex bytes (r1 points to it, r2 holds its length), ``--
result`` the expected r0, ``-- error`` the runtime's message for a program
it must refuse (each runtime's own wording). :func:`parse_data_file` reads one
into a :class:`ConformanceCase`; :func:`check_case` says whether a run agrees
with it the way bpf_conformance's runner does.

bpf_conformance (github.com/Alan-Jowett/bpf_conformance) runs a *plugin*
process per test: memory as hex bytes in ``argv[1]``, plugin options in
``argv[2]``, the program as hex bytes on stdin; the plugin prints r0 in hex
and exits 0, or prints its error and exits non-zero. That plugin is
:func:`emu.cli.conformance_plugin.plugin_main` (the
``structops-bpf-conformance-plugin`` command; options ``--engine interp|jit``,
``--budget N``).

:data:`UBPF_TEST_HELPERS` is the helper table the uBPF test runner registers
(``custom_tests/srcs/test_helpers.h`` in uBPF: gather_bytes, memfrob, no_op,
sqrti, strcmp_ext, unwind), written against
:class:`~kernel_model.memory.GuestMemory` so they serve both engines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from kernel_model.asm import assemble
from kernel_model.errors import InputError
from kernel_model.insn import Insn
from kernel_model.memory import GuestMemory, HelperFn

__all__ = ["ConformanceCase", "parse_data_file", "parse_data_text", "split_sections", "UBPF_TEST_HELPERS",
           "check_case", "hex_bytes"]

M64 = (1 << 64) - 1


@dataclass(slots=True)
class ConformanceCase:
    """One ``.data`` test: the program, input memory and what is expected."""

    path: str
    insns: list[Insn]
    mem: bytes | None = None
    result: int | None = None
    error: str | None = None
    sections: dict[str, str] = field(default_factory=dict)
    #: the ``-- raw`` words when the file has both ``-- asm`` and ``-- raw``
    raw: list[Insn] | None = None

    @property
    def expects_error(self) -> bool:
        return self.error is not None

    @property
    def is_assembler_case(self) -> bool:
        """Neither ``-- result`` nor ``-- error``: the asm must assemble to the raw words."""
        return self.result is None and self.error is None and self.raw is not None


def split_sections(text: str) -> dict[str, str]:
    """The sections of a ``.data`` file by name (``asm``, ``raw``, ``result`` ...)."""
    out: dict[str, list[str]] = {}
    cur: str | None = None
    for line in text.splitlines():
        if line.startswith("--"):
            cur = line[2:].strip()
            out.setdefault(cur, [])
            continue
        if cur is not None:
            out[cur].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _strip_hash(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def parse_data_text(text: str, path: str = "<data>") -> ConformanceCase:
    """Parse the text of a ``.data`` file. Errors name the file and section."""
    secs = split_sections(text)
    insns: list[Insn]
    raw: list[Insn] | None = None
    if "raw" in secs:
        raw = []
        for n, tok in enumerate(_strip_hash(secs["raw"]).split()):
            try:
                word = int(tok, 16 if tok.lower().startswith("0x") else 10)
            except ValueError:
                raise InputError(f"raw instruction {n}: {tok!r} is not a number", f"{path} [-- raw]") from None
            if not 0 <= word < 1 << 64:
                raise InputError(f"raw instruction {n}: {tok} does not fit in 64 bits", f"{path} [-- raw]")
            raw.append(Insn.from_u64(word))
        if not raw:
            raise InputError("empty -- raw section", path)
    if "asm" in secs:
        # line numbers in errors count from the section's first line
        insns = assemble(secs["asm"], syntax="conformance", source=f"{path} [-- asm]")
    elif raw is not None:
        insns, raw = raw, None
    else:
        raise InputError("no '-- asm' or '-- raw' section", path)
    mem = None
    if "mem" in secs:
        hexes = _strip_hash(secs["mem"]).split()
        try:
            mem = bytes(int(h, 16) for h in hexes)
        except ValueError:
            raise InputError("-- mem holds something that is not a hex byte", f"{path} [-- mem]") from None
    result = None
    if "result" in secs:
        r = _strip_hash(secs["result"]).strip()
        if r:
            try:  # hex with 0x, else decimal (std::stoull in bpf_conformance: '010' is ten)
                result = (int(r, 16) if r.lower().lstrip("-").startswith("0x") else int(r, 10)) & M64
            except ValueError:
                raise InputError(f"-- result {r!r} is not a number", f"{path} [-- result]") from None
    error = None
    for key in ("error", "error pattern"):
        if key in secs:
            error = secs[key].strip() or "(error expected)"
    return ConformanceCase(path, insns, mem, result, error, secs, raw)


def parse_data_file(path: str | Path) -> ConformanceCase:
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", str(p)) from None
    return parse_data_text(text, str(p))


# --- uBPF's test helpers ------------------------------------------------------

def _gather_bytes(mem: GuestMemory, a: int, b: int, c: int, d: int, e: int) -> int:
    return ((a & 0xFF) << 32) | ((b & 0xFF) << 24) | ((c & 0xFF) << 16) | ((d & 0xFF) << 8) | (e & 0xFF)


def _memfrob(mem: GuestMemory, a: int, b: int, c: int, d: int, e: int) -> int:
    if not b:
        return 0
    data = mem.read(a, b)
    mem.write(a, bytes(x ^ 42 for x in data))
    return 0


def _no_op(mem: GuestMemory, a: int, b: int, c: int, d: int, e: int) -> int:
    return 0


def _sqrti(mem: GuestMemory, a: int, b: int, c: int, d: int, e: int) -> int:
    return int(math.sqrt(a))


def _cstring(mem: GuestMemory, addr: int, limit: int = 4096) -> bytes:
    out = bytearray()
    while len(out) < limit:
        ch = mem.read(addr + len(out), 1)[0]
        if ch == 0:
            break
        out.append(ch)
    return bytes(out)


def _strcmp_ext(mem: GuestMemory, a: int, b: int, c: int, d: int, e: int) -> int:
    x, y = _cstring(mem, a), _cstring(mem, b)
    for p, q in zip(x + b"\0", y + b"\0"):
        if p != q:
            return (p - q) & M64
    return 0


def _unwind(mem: GuestMemory, a: int, b: int, c: int, d: int, e: int) -> int:
    return a


UBPF_TEST_HELPERS: dict[int, HelperFn] = {
    0: _gather_bytes,
    1: _memfrob,
    2: _no_op,
    3: _sqrti,
    4: _strcmp_ext,
    5: _unwind,
}


# --- checking a run against a case, and bpf_conformance's plugin protocol ----------

def check_case(case: ConformanceCase, r0: int | None, error: str | None) -> tuple[bool, str]:
    """(passed, why) for a run that returned ``r0`` or failed with ``error``
    (an assembler case -- ``-- asm`` and ``-- raw``, no result -- is decided
    without a run).

    As bpf_conformance's runner decides: a case with ``-- error`` passes when
    the runtime refuses or faults (the wording is each runtime's own, so it is
    not compared); a ``-- result`` case passes when r0's low 32 bits equal the
    expected value's (it compares ``uint32_t``)."""
    if case.is_assembler_case:
        assert case.raw is not None
        if case.insns == case.raw:
            return True, f"-- asm assembles to the {len(case.raw)} -- raw words"
        k = next((i for i, (a, b) in enumerate(zip(case.insns, case.raw)) if a != b), min(len(case.insns),
                                                                                        len(case.raw)))
        return False, f"-- asm and -- raw differ at slot {k}"
    if case.expects_error:
        if error is not None:
            return True, f"refused as expected: {error}"
        return False, f"ran to r0 = {r0:#x}, expected a refusal ({case.error})"
    if error is not None:
        return False, f"failed: {error}"
    if case.result is None:
        return False, "the case has neither -- result nor -- error"
    assert r0 is not None
    if (r0 & 0xFFFF_FFFF) == (case.result & 0xFFFF_FFFF):
        return True, f"r0 = {r0:#x}"
    return False, f"r0 = {r0:#x}, expected {case.result:#x}"


def hex_bytes(text: str, what: str) -> bytes:
    """Whitespace-separated hex bytes (the plugin's memory argument and program)."""
    try:
        return bytes(int(tok, 16) for tok in text.split())
    except ValueError:
        raise InputError(f"{what} is not a list of hex bytes") from None
