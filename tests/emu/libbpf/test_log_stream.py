"""libbpf's default print goes to stderr (``libbpf_print_fn``): the stderr of the moment,
so redirected or captured stderr receives the lines."""

from __future__ import annotations

import io
import sys

from emu.libbpf.log import Log


def test_default_stream_is_the_current_stderr(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    Log(level=2).warn("map 'x': something\n")
    assert buf.getvalue() == "libbpf: map 'x': something\n"


def test_stream_none_only_collects(capsys):
    log = Log(level=2, stream=None)
    log.warn("quiet\n")
    assert capsys.readouterr().err == ""
    assert log.lines[-1][1] == "libbpf: quiet"
