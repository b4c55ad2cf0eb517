"""libbpf's messages: ``libbpf: `` lines at three levels.

Models ``libbpf_print()`` / ``__base_pr()`` and the ``pr_warn``/``pr_info``/
``pr_debug`` macros (``src/libbpf.c``, ``src/libbpf_internal.h``, libbpf 1.8):
every line carries the prefix ``libbpf: ``; by default WARN and INFO reach
stderr and DEBUG is dropped; ``LIBBPF_LOG_LEVEL`` (``warn``, ``info``, ``debug``,
any case) moves the threshold. ``libbpf_set_print()`` replaces the sink: here
:meth:`Log.set_print` (a callable taking ``(level, text)``).

Every message is also kept in :attr:`Log.lines` (level, text), whatever the
threshold, so tests and the CLI can search the log as the selftests do with
``start_libbpf_log_capture()``.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, TextIO, cast

__all__ = ["Log", "WARN", "INFO", "DEBUG", "PREFIX", "NOTE_PREFIX"]

#: enum libbpf_print_level (src/libbpf.h)
WARN, INFO, DEBUG = 0, 1, 2
PREFIX = "libbpf: "
#: messages of structops-emu's own checks, never confused with libbpf's
NOTE_PREFIX = "structops: "
_LEVELS = {"warn": WARN, "info": INFO, "debug": DEBUG}

PrintFn = Callable[[int, str], None]


def _env_level() -> int:
    v = os.environ.get("LIBBPF_LOG_LEVEL")
    if v is None:
        return INFO
    lvl = _LEVELS.get(v.lower())
    if lvl is None:
        sys.stderr.write(f"{PREFIX}unrecognized 'LIBBPF_LOG_LEVEL' envvar value: '{v}', should be one of "
                         "'warn', 'debug', or 'info'.\n")
        return INFO
    return lvl


#: the default stream: whatever ``sys.stderr`` is when a line is written (not when this
#: module was imported, so redirected or captured stderr gets the lines)
STDERR = object()


class Log:
    """One loader's message sink. ``stream`` None means "collect only"; the default
    is the process's current ``sys.stderr``."""

    def __init__(self, *, level: int | None = None, stream: object = STDERR) -> None:
        self.level = _env_level() if level is None else level
        self.stream = stream
        self.lines: list[tuple[int, str]] = []
        self._print: PrintFn | None = None

    def set_print(self, fn: PrintFn | None) -> None:
        """``libbpf_set_print``: ``fn(level, text)`` receives every line (None: default)."""
        self._print = fn

    def _emit(self, level: int, text: str, prefix: str = PREFIX) -> None:
        line = prefix + text
        self.lines.append((level, line.rstrip("\n")))
        if self._print is not None:
            self._print(level, line if line.endswith("\n") else line + "\n")
            return
        if level <= self.level and self.stream is not None:
            out = sys.stderr if self.stream is STDERR else cast(TextIO, self.stream)
            out.write(line if line.endswith("\n") else line + "\n")

    def warn(self, text: str) -> None:
        self._emit(WARN, text)

    def info(self, text: str) -> None:
        self._emit(INFO, text)

    def debug(self, text: str) -> None:
        self._emit(DEBUG, text)

    def note(self, text: str, level: int = WARN) -> None:
        """A message of structops-emu's own (not libbpf's): prefixed ``structops: ``."""
        self._emit(level, text, NOTE_PREFIX)

    def text(self, max_level: int = DEBUG) -> str:
        """Every kept line up to ``max_level``, one per line."""
        return "\n".join(t for lvl, t in self.lines if lvl <= max_level)

    def contains(self, needle: str) -> bool:
        return any(needle in t for _, t in self.lines)
