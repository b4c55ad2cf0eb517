"""Progress on stderr: only on a terminal, only past the delay, never with -q."""

from __future__ import annotations

import io
import time

from emu.cli.output import set_mode
from emu.cli.progress import progress, wanted


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_not_a_terminal() -> None:
    s = io.StringIO()
    set_mode()
    with progress("verifying x", stream=s, delay=0.0, every=0.01):
        time.sleep(0.05)
    assert s.getvalue() == "" and not wanted(s)


def test_reports_then_erases_on_a_terminal() -> None:
    s = Tty()
    set_mode()
    with progress("verifying x", stream=s, delay=0.02, every=0.01):
        time.sleep(0.1)
    text = s.getvalue()
    assert "\rverifying x ... 0 s" in text
    assert text.endswith("\r")  # erased: what follows starts on a clean line


def test_quick_work_prints_nothing() -> None:
    s = Tty()
    set_mode()
    with progress("verifying x", stream=s, delay=5.0):
        pass
    assert s.getvalue() == ""


def test_quiet_turns_it_off() -> None:
    s = Tty()
    set_mode(quiet=True)
    try:
        with progress("verifying x", stream=s, delay=0.0, every=0.01):
            time.sleep(0.05)
        assert s.getvalue() == ""
    finally:
        set_mode()
