"""Exit statuses and one-line errors: what every ``structops`` command shares.

Every command reports a failure as one ``error: ...`` line on stderr naming the
file and place (an emulated oops prints the kernel's report first), never a
Python traceback, and exits with one of:

====  ==================================================================
0     ok
1     refused by the emulated kernel (an errno, a verifier rejection, a
      load-time check such as ``R11 is invalid``), or the program faulted
2     bad input: unreadable or malformed file, syntax error, unknown
      option value (argparse's usage errors are 2 as well)
3     not modelled by us: the real kernel would do it, this emulator does
      not (a context field, a program type, a helper)
====  ==================================================================

:func:`exit_status` maps the project's error tree
(:mod:`kernel_model.errors`) onto these.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from kernel_model.errors import ExecFault, InputError, InternalError, InvalidInsn, NotModelled

__all__ = ["exit_status", "one_line", "out", "err", "Parser", "EXIT_OK", "EXIT_REFUSED", "EXIT_BAD_INPUT",
           "EXIT_NOT_MODELLED", "EXIT_STATUS_HELP"]

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_NOT_MODELLED = 0, 1, 2, 3
EXIT_STATUS_HELP = ("exit status: 0 ok, 1 refused by the emulated kernel (or the program faulted), "
                    "2 bad input, 3 not modelled by this emulator")


def exit_status(error: BaseException) -> int:
    """The exit status for an error of the project's tree (see the module docstring).

    :class:`~kernel_model.errors.InvalidInsn` is an InputError but a kernel
    refusal (the load-time checks of ``bpf_check``): 1. A run stopped by a
    not-modelled stub (an ExecFault of kind ``not modelled``) is 3."""
    if isinstance(error, (NotModelled, InternalError)):
        return EXIT_NOT_MODELLED
    if isinstance(error, ExecFault) and error.kind == "not modelled":
        return EXIT_NOT_MODELLED
    if isinstance(error, InvalidInsn):
        return EXIT_REFUSED
    if isinstance(error, InputError):
        return EXIT_BAD_INPUT
    return EXIT_REFUSED


#: control characters (a file name or an argument can hold them) as escapes, so that an
#: error stays one line
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (``\\x0a``): one printable line."""
    return text.translate(_CONTROL)


def out(text: str) -> None:
    """A line on stdout (a newline added when missing)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def err(text: str) -> None:
    """``error: TEXT`` as one line on stderr."""
    sys.stderr.write(f"error: {one_line(text)}\n")


class Parser(argparse.ArgumentParser):
    """argparse, with the offending argument escaped in usage errors (exit 2); in JSON
    mode (``-j``) a usage error is a JSON object on stdout."""

    def error(self, message: str) -> "NoReturn":
        from .output import emit, json_mode

        if json_mode():  # -j: the usage error as the one JSON object on stdout, same status
            emit({"error": one_line(message), "where": self.prog, "exit_status": EXIT_BAD_INPUT})
            self.exit(EXIT_BAD_INPUT)
        super().error(one_line(message))
