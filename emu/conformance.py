"""The conformance test-data format (uBPF's ``tests/*.data``) and its helpers.

A ``.data`` file holds one test in sections (``-- asm``, ``-- raw``,
``-- mem``, ``-- result``, ``-- error``, ``-- error pattern``; others are
ignored) -- see ``tests/data/conformance/README.md``. :func:`parse_data_file`
reads one into a :class:`ConformanceCase`; :data:`UBPF_TEST_HELPERS` is the
helper table the uBPF test runner registers (``custom_tests/srcs/test_helpers.h``
in uBPF: gather_bytes, memfrob, no_op, sqrti, strcmp_ext, unwind), written
against :class:`~kernel_model.memory.GuestMemory` so they serve both engines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from kernel_model.asm import assemble
from kernel_model.errors import InputError
from kernel_model.insn import Insn
from kernel_model.memory import GuestMemory, HelperFn

__all__ = ["ConformanceCase", "parse_data_file", "parse_data_text", "split_sections", "UBPF_TEST_HELPERS"]

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

    @property
    def expects_error(self) -> bool:
        return self.error is not None


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
    if "asm" in secs:
        # line numbers in errors count from the section's first line
        insns = assemble(secs["asm"], syntax="conformance", source=f"{path} [-- asm]")
    elif "raw" in secs:
        insns = []
        for n, tok in enumerate(_strip_hash(secs["raw"]).split()):
            try:
                word = int(tok, 16 if tok.lower().startswith("0x") else 10)
            except ValueError:
                raise InputError(f"raw instruction {n}: {tok!r} is not a number", f"{path} [-- raw]") from None
            if not 0 <= word < 1 << 64:
                raise InputError(f"raw instruction {n}: {tok} does not fit in 64 bits", f"{path} [-- raw]")
            insns.append(Insn.from_u64(word))
        if not insns:
            raise InputError("empty -- raw section", path)
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
            try:
                result = int(r, 0) & M64
            except ValueError:
                raise InputError(f"-- result {r!r} is not a number", path) from None
    error = None
    for key in ("error", "error pattern"):
        if key in secs:
            error = secs[key].strip() or "(error expected)"
    return ConformanceCase(path, insns, mem, result, error, secs)


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
