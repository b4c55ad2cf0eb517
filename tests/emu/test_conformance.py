"""Every case of the uBPF conformance data (tests/data/conformance/) through
`structops exec` (interpreter; JIT where the emulated machine is present).

Cases come in three kinds: a ``-- result`` case must print that r0; an
``-- error`` case must be refused (exit 1 with a message; the uBPF wording is
not ours, our messages follow the kernel); a case with ``-- asm`` and ``-- raw``
and neither is an assembler case: the asm must assemble to the raw words.
"""

from __future__ import annotations

import importlib.util

import pytest

from emu.cli import main
from emu.formats.conformance import parse_data_file, split_sections
from kernel_model.asm import assemble
from kernel_model.insn import Insn
from tests.corpus import CONFORMANCE as CONF, conformance_files

FILES = conformance_files()
# uBPF API tests, not instruction semantics: loading code twice into one VM.
OUT_OF_SCOPE = {"reload.data": "tests uBPF's load-twice API, not an instruction"}
HAVE_JIT = importlib.util.find_spec("emu.kernel.jitexec") is not None
ENGINES = ["interp"] + (["jit"] if HAVE_JIT else [])


def test_the_data_is_in_the_repository():
    assert len(FILES) == 72 and (CONF / "LICENSE.txt").exists()


def _id(p):
    return str(p.relative_to(CONF))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", FILES, ids=_id)
def test_case(path, engine, capsys):
    if path.name in OUT_OF_SCOPE:
        pytest.skip(OUT_OF_SCOPE[path.name])
    secs = split_sections(path.read_text())
    expects_error = "error" in secs or "error pattern" in secs
    if "result" not in secs and not expects_error:
        assert "asm" in secs and "raw" in secs, "neither result, error nor assembler case"
        words = [int(t, 16) for t in secs["raw"].split()]
        assert assemble(secs["asm"], syntax="conformance") == [Insn.from_u64(w) for w in words]
        return
    code = main(["exec", str(path), "--engine", engine])
    out, err = capsys.readouterr()
    if expects_error:
        assert code == 1, out
        lines = err.splitlines()  # one error line, after the oops report when the JIT's run faulted
        assert lines[-1].startswith("error: ") and sum(ln.startswith("error: ") for ln in lines) == 1, err
        assert len(lines) == 1 or lines[0].startswith("BUG: "), err
        return
    assert code == 0, err
    assert int(out.strip(), 16) == int(secs["result"].split("#")[0].strip(), 0)


def test_many_files_one_line_each(capsys):
    good = [p for p in FILES if p.parent == CONF and parse_data_file(p).result is not None][:3]
    bad = [p for p in FILES if p.parent != CONF][:2]
    code = main(["exec", *map(str, good + bad)])
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert code == 1
    assert len(lines) == 5
    for p, line in zip(good, lines):
        assert line == f"{p}: {parse_data_file(p).result:#x}"
    for p, line in zip(bad, lines[3:]):
        assert line.startswith(f"{p}: error: ")
