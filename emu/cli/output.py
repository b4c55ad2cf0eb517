"""How a command prints: text, JSON (``-j``/``--json``, ``-p``/``--pretty``), quiet (``-q``).

The conventions are bpftool's: ``-j`` prints one JSON object on stdout instead
of the text, ``-p`` the same object indented (and implies ``-j``); an error in
JSON mode is also one object on stdout,
``{"error": "...", "where": "...", "exit_status": N}``, with the same exit
status as in text mode (:mod:`.status`) and nothing on stderr but an emulated
oops report (the kernel's own text). ``-q`` turns progress off
(:mod:`.progress`). The shapes of every command's object are in docs/cli.md.

The options are global: accepted before the command (``structops -j types``)
and after it (``structops types -j``); :func:`add_global_options` adds them to
every parser. The mode of the running command is kept here, set once by
:func:`emu.cli.main.main` (:func:`set_mode`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["Mode", "mode", "set_mode", "json_mode", "emit", "error_object", "add_global_options", "GLOBAL_FLAGS",
           "scan_flags"]


@dataclass(slots=True)
class Mode:
    """The output mode of the running command."""

    json: bool = False
    pretty: bool = False
    quiet: bool = False


_MODE = Mode()

#: the global options: (short, long, help)
GLOBAL_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("-j", "--json", "print one JSON object on stdout instead of text (errors too: "
                     '{"error", "where", "exit_status"}); shapes in docs/cli.md'),
    ("-p", "--pretty", "JSON indented for people to read (implies --json)"),
    ("-q", "--quiet", "no progress reports on stderr (they are off anyway when stderr is not a terminal)"),
)


def mode() -> Mode:
    """The running command's output mode."""
    return _MODE


def set_mode(json_: bool = False, pretty: bool = False, quiet: bool = False) -> Mode:
    """Set the output mode (``pretty`` implies ``json``); returns it."""
    global _MODE
    _MODE = Mode(json=json_ or pretty, pretty=pretty, quiet=quiet)
    return _MODE


def json_mode() -> bool:
    """Whether the running command prints JSON."""
    return _MODE.json


def emit(obj: Any) -> None:
    """``obj`` as one JSON document on stdout (indented with ``-p``), then a newline.

    Strings that hold bytes decoded with surrogateescape (BTF names that are not
    UTF-8) are written as ``\\udcXX`` escapes, which every JSON parser reads."""
    text = json.dumps(obj, indent=2 if _MODE.pretty else None, separators=None if _MODE.pretty else (",", ":"))
    sys.stdout.write(text + "\n")


def error_object(error: BaseException, status: int) -> dict[str, Any]:
    """The JSON form of an error: ``error`` (the message without its place), ``where``
    (file, line, section or insn; null when the error names none) and ``exit_status``;
    ``errno`` (a name such as ``EINVAL``) when the emulated kernel refused."""
    from kernel_model.errors import ExecFault, InputError, KernelError

    from .status import one_line

    where: str | None = None
    message = str(error)
    extra: dict[str, Any] = {}
    if isinstance(error, InputError):
        message, where = error.message, error.where or None
    elif isinstance(error, ExecFault) or hasattr(error, "index") and isinstance(getattr(error, "index"), int):
        where = f"insn {getattr(error, 'index')}"
    if isinstance(error, KernelError):
        from kernel_model.errors import errno_name

        extra["errno"] = errno_name(error.errno, str(error.errno))
    return {"error": one_line(message), "where": where, "exit_status": status, **extra}


def add_global_options(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``-j``, ``-p``, ``-q`` on ``parser``: with their defaults on the top-level parser,
    without (``SUPPRESS``) on a command's, so that one given before the command is kept.
    An option string the parser already has (``sim tcp --json``) is left to it."""
    taken = set(parser._option_string_actions)
    for short, long, help_ in GLOBAL_FLAGS:
        names = [s for s in (short, long) if s not in taken]
        if not names:
            continue
        dest = long[2:]
        if top:
            parser.add_argument(*names, dest=dest, action="store_true", help=help_)
        else:
            parser.add_argument(*names, dest=dest, action="store_true", default=argparse.SUPPRESS, help=help_)


def scan_flags(words: list[str]) -> Mode:
    """The output mode the words ask for, read before parsing (so that argparse's own
    usage errors can be JSON too): ``-j``/``--json``, ``-p``/``--pretty``, ``-q``/``--quiet``
    and short clusters of them (``-jp``), up to a ``--``."""
    j = p = q = False
    for w in words:
        if w == "--":
            break
        if w in ("--json",):
            j = True
        elif w == "--pretty":
            p = True
        elif w == "--quiet":
            q = True
        elif len(w) > 1 and w[0] == "-" and w[1] != "-" and set(w[1:]) <= set("jpq"):
            j |= "j" in w
            p |= "p" in w
            q |= "q" in w
    return Mode(json=j or p, pretty=p, quiet=q)
