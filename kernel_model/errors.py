"""The project's one exception tree.

Every error the project raises on purpose derives from :class:`StructOpsError`.
The load-bearing split (after PREVAIL's ``prevail_errors.hpp``) is between

* :class:`InputError` -- the user gave something malformed (asm text, instruction
  bytes, BTF, ELF). It names *where*: file, section, instruction index, line and
  column, whichever apply. It also subclasses :class:`ValueError`.
* :class:`KernelError` -- the emulated kernel refused an operation, with the errno
  the kernel returns and the kernel's message.
* :class:`NotModelled` -- something the real kernel does that this emulator
  does not model (a context field, a program type, a helper): a
  :class:`KernelError` with ``ENOTSUPP`` unless stated, so callers handling
  kernel refusals handle it too; front ends tell it apart (exit status 3).
* :class:`ExecFault` -- a program faulted while it ran (interpreter) and
  :class:`BudgetExceeded` -- it ran past its instruction budget.
* :class:`InternalError` -- a bug in this project.

Command-line front ends catch :class:`StructOpsError` and print ``str(err)``; no
traceback ever reaches a user for an error of this tree.
"""

from __future__ import annotations

import errno as _errno

__all__ = [
    "StructOpsError",
    "InputError",
    "AsmSyntaxError",
    "InvalidInsn",
    "KernelError",
    "NotModelled",
    "ExecFault",
    "BudgetExceeded",
    "InternalError",
    "ENOTSUPP",
    "errno_name",
]

#: the kernel-internal ``ENOTSUPP`` (include/linux/errno.h), which ``bpf()`` returns to
#: user space as 524 (Python's ``errno`` module does not know it)
ENOTSUPP = 524


def errno_name(err: int, unknown: str | None = None) -> str:
    """``EACCES``, ``EINVAL``, ``ENOTSUPP``... for a positive errno; ``unknown``
    (default: the number) for one without a name."""
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(err, str(err) if unknown is None else unknown)


class StructOpsError(Exception):
    """Root of every error raised on purpose by structops-emu."""


class InputError(StructOpsError, ValueError):
    """Malformed user input.

    Accessible attributes: ``message`` (what is wrong), ``where`` (a location
    prefix such as ``"prog.s:3:7"`` or ``"prog.bin: insn 4"``, may be empty).
    """

    def __init__(self, message: str, where: str = "") -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def located(self, where: str) -> "InputError":
        """Return a copy of this error with ``where`` prefixed to its location."""
        new_where = f"{where}:{self.where}" if self.where else where
        err = type(self).__new__(type(self))
        err.__dict__.update(self.__dict__)
        err.where = new_where
        Exception.__init__(err, f"{new_where}: {self.message}")
        return err


class AsmSyntaxError(InputError):
    """Assembly text that does not parse: ``line``/``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int, source: str = "") -> None:
        self.line = line
        self.column = column
        where = f"{source}:{line}:{column}" if source else f"{line}:{column}"
        super().__init__(message, where)


class InvalidInsn(InputError):
    """An instruction the kernel refuses at load time (``unknown opcode 8d``,
    ``invalid BPF_LD_IMM insn``, ``jump out of range from insn 0 to 6`` ...).

    ``index`` is the instruction slot (8-byte unit) the kernel names; ``errno``
    the error the kernel returns for it (EINVAL unless stated).
    """

    def __init__(self, message: str, index: int, errno: int = _errno.EINVAL) -> None:
        self.index = index
        self.errno = errno
        super().__init__(message, f"insn {index}")


class KernelError(StructOpsError):
    """The emulated kernel returned an error: ``errno`` (positive) and ``message``."""

    def __init__(self, errno: int, message: str = "") -> None:
        self.errno = errno
        self.message = message
        name = errno_name(errno, f"errno {errno}")
        super().__init__(f"{name}: {message}" if message else name)


class NotModelled(KernelError):
    """The real kernel would do something here that this emulator does not model.

    ``errno`` is what the emulated kernel returns for it (``ENOTSUPP`` by
    default); ``message`` names what is missing (``context field
    __sk_buff.hash is not modelled``)."""

    def __init__(self, message: str, errno: int = ENOTSUPP) -> None:
        super().__init__(errno, message)
        self.args = (message,)  # str(): the message alone (no errno name in front)


class ExecFault(StructOpsError):
    """A program faulted while running: an access outside every mapped region,
    a call to something that is not there, ...

    Accessible attributes: ``index`` (instruction slot), ``kind``, ``address``.
    """

    def __init__(self, kind: str, index: int, address: int | None = None, detail: str = "") -> None:
        self.kind = kind
        self.index = index
        self.address = address
        text = f"{kind} at insn {index}"
        if address is not None:
            text += f", address {address:#x}"
        if detail:
            text += f": {detail}"
        super().__init__(text)


class BudgetExceeded(StructOpsError):
    """A program ran longer than its instruction budget (a runaway loop)."""

    def __init__(self, budget: int, index: int) -> None:
        self.budget: float = budget  # instructions; a subclass may count seconds
        self.index = index
        super().__init__(f"instruction budget of {budget} exhausted at insn {index} (runaway loop?)")


class InternalError(StructOpsError):
    """A bug in structops-emu itself; please report it."""
