"""Progress on stderr for long work: ``verifying prog.o ... 12 s``.

A command wraps work that can take long (verifying a program, assembling a
big file) in :func:`progress`. Nothing is printed for work that ends within
:data:`DELAY` seconds; past that, one line on stderr is rewritten every
second (``\\r``) and erased when the work ends, so that the output a person
reads is the same as without it. Progress is off when stderr is not a terminal
(a pipe, a file, a test) and with ``-q``/``--quiet``
(:mod:`.output`); it never touches stdout, so ``-j`` and ``-o csv`` stay
machine-readable.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["progress", "DELAY", "wanted"]

#: seconds of quiet before the first progress line
DELAY = 3.0


def wanted(stream: IO[str] | None = None) -> bool:
    """Whether progress is printed: stderr (or ``stream``) is a terminal and ``-q`` is off."""
    from .output import mode

    s = stream if stream is not None else sys.stderr
    try:
        tty = s.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not mode().quiet


@contextmanager
def progress(what: str, *, enabled: bool = True, stream: IO[str] | None = None, delay: float = DELAY,
             every: float = 1.0) -> Iterator[None]:
    """Report ``what`` with the seconds elapsed, on ``stream`` (stderr), while the block
    runs longer than ``delay``; see the module docstring for when it is silent."""
    s = stream if stream is not None else sys.stderr
    if not enabled or not wanted(s):
        yield
        return
    stop = threading.Event()
    t0 = time.monotonic()
    shown = [0]

    def run() -> None:
        if stop.wait(delay):
            return
        while not stop.is_set():
            line = f"{what} ... {time.monotonic() - t0:.0f} s"
            s.write("\r" + line)
            s.flush()
            shown[0] = max(shown[0], len(line))
            stop.wait(every)

    th = threading.Thread(target=run, name="structops-progress", daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()
        if shown[0]:
            s.write("\r" + " " * shown[0] + "\r")
            s.flush()
