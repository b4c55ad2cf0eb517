"""Errors of the user-space loader, rooted in :mod:`kernel_model.errors`.

libbpf reports a failure as a negative errno plus one or more ``libbpf: ``
lines (``src/libbpf.c``, libbpf 1.8). The loader raises:

* :class:`ObjectFormatError` -- the ELF object itself is malformed (a bad
  header, a truncated section, a relocation pointing outside its section).
  An :class:`~kernel_model.errors.InputError`: it names the file, the section
  and the byte offset. libbpf returns ``-LIBBPF_ERRNO__FORMAT`` (4001) or
  ``-EINVAL`` for these; ``errno`` holds which.
* :class:`LibbpfError` -- a libbpf rule refused the object or a kernel call
  failed (``struct_ops init_kern ...: Cannot find member ...`` with
  ``-ENOTSUP``). A :class:`~kernel_model.errors.KernelError` subclass so
  callers treat both the same way: ``errno`` is positive, ``message`` the
  libbpf line that explains it (without the ``libbpf: `` prefix).
* :class:`ProgLoadFailed` -- ``BPF_PROG_LOAD`` of one program was refused by
  the (emulated or host) verifier; ``log`` holds the verifier log after
  libbpf's fix-ups (``fixup_verifier_log``).
"""

from __future__ import annotations

import errno as _errno

from kernel_model.errors import ENOTSUPP, InputError, KernelError

__all__ = [
    "LIBBPF_ERRNO__FORMAT", "LIBBPF_ERRNO__RELOC", "LIBBPF_ERRNO__LOAD", "ENOTSUPP",
    "ObjectFormatError", "LibbpfError", "ProgLoadFailed", "errstr",
]

#: enum libbpf_errno (src/libbpf.h, libbpf 1.8): __LIBBPF_ERRNO__START = 4000
LIBBPF_ERRNO__LIBELF = 4000
LIBBPF_ERRNO__FORMAT = 4001    # "BPF object format invalid"
LIBBPF_ERRNO__RELOC = 4005     # "Relocation failed"
LIBBPF_ERRNO__LOAD = 4006

# libbpf_errstr() (src/libbpf_utils.c, libbpf 1.8): symbolic names for these, the
# number for anything else. Note that libbpf's -ENOTSUP is EOPNOTSUPP (95 on Linux).
_NAMES = {
    _errno.E2BIG: "E2BIG", _errno.EACCES: "EACCES", _errno.EADDRINUSE: "EADDRINUSE",
    _errno.EADDRNOTAVAIL: "EADDRNOTAVAIL", _errno.EAGAIN: "EAGAIN", _errno.EALREADY: "EALREADY",
    _errno.EBADF: "EBADF", _errno.EBADFD: "EBADFD", _errno.EBUSY: "EBUSY", _errno.ECANCELED: "ECANCELED",
    _errno.ECHILD: "ECHILD", _errno.EDEADLK: "EDEADLK", _errno.EDOM: "EDOM", _errno.EEXIST: "EEXIST",
    _errno.EFAULT: "EFAULT", _errno.EFBIG: "EFBIG", _errno.EILSEQ: "EILSEQ",
    _errno.EINPROGRESS: "EINPROGRESS", _errno.EINTR: "EINTR", _errno.EINVAL: "EINVAL", _errno.EIO: "EIO",
    _errno.EISDIR: "EISDIR", _errno.ELOOP: "ELOOP", _errno.EMFILE: "EMFILE", _errno.EMLINK: "EMLINK",
    _errno.EMSGSIZE: "EMSGSIZE", _errno.ENAMETOOLONG: "ENAMETOOLONG", _errno.ENFILE: "ENFILE",
    _errno.ENODATA: "ENODATA", _errno.ENODEV: "ENODEV", _errno.ENOENT: "ENOENT", _errno.ENOEXEC: "ENOEXEC",
    _errno.ENOLINK: "ENOLINK", _errno.ENOMEM: "ENOMEM", _errno.ENOSPC: "ENOSPC", _errno.ENOTBLK: "ENOTBLK",
    _errno.ENOTDIR: "ENOTDIR", ENOTSUPP: "ENOTSUPP", _errno.ENOTTY: "ENOTTY", _errno.ENXIO: "ENXIO",
    _errno.EOPNOTSUPP: "EOPNOTSUPP", _errno.EOVERFLOW: "EOVERFLOW", _errno.EPERM: "EPERM",
    _errno.EPIPE: "EPIPE", _errno.EPROTO: "EPROTO", _errno.EPROTONOSUPPORT: "EPROTONOSUPPORT",
    _errno.ERANGE: "ERANGE", _errno.EROFS: "EROFS", _errno.ESPIPE: "ESPIPE", _errno.ESRCH: "ESRCH",
    _errno.ETXTBSY: "ETXTBSY", _errno.EUCLEAN: "EUCLEAN", _errno.EXDEV: "EXDEV",
}


def errstr(err: int) -> str:
    """libbpf's ``errstr()``: ``-EINVAL`` for a known errno, ``-4001`` otherwise."""
    err = abs(err)
    name = _NAMES.get(err)
    return f"-{name}" if name else f"-{err}"


class ObjectFormatError(InputError):
    """A malformed ELF object. Accessible attributes: ``path``, ``section``
    (name or ``section(N)``, may be empty), ``offset`` (byte offset in that
    section, or None), ``errno`` (positive: LIBBPF_ERRNO__FORMAT, EINVAL ...)."""

    def __init__(self, message: str, path: str = "", section: str = "", offset: int | None = None,
                 errno: int = LIBBPF_ERRNO__FORMAT) -> None:
        self.path = path
        self.section = section
        self.offset = offset
        self.errno = errno
        where = path
        if section:
            sec = section if section.startswith("section(") else f"section {section}"
            where = f"{where}: {sec}" if where else sec
            if offset is not None:
                where += f" offset {offset:#x}"
        super().__init__(message, where)


class LibbpfError(KernelError):
    """libbpf returned ``-errno``; ``message`` is the libbpf line that says why."""

    def __init__(self, errno: int, message: str = "") -> None:
        super().__init__(abs(errno), message)

    def __str__(self) -> str:
        if not self.message:
            return errstr(self.errno)
        if self.message.endswith(errstr(self.errno)):  # "... load failed: -EACCES": say it once
            return self.message
        return f"{self.message} ({errstr(self.errno)})"


class ProgLoadFailed(LibbpfError):
    """``BPF_PROG_LOAD`` refused a program: ``prog`` (its name), ``log`` (the
    verifier log, after libbpf's fix-ups), ``result`` (the emulated verifier's
    result object when the emulated kernel gave one, else None)."""

    def __init__(self, errno: int, prog: str, log: str, result: object = None) -> None:
        self.prog = prog
        self.log = log
        self.result = result
        super().__init__(errno, f"prog '{prog}': BPF program load failed: {errstr(errno)}")

    def last_line(self) -> str:
        """The verifier's own message: the last non-statistics line of the log."""
        lines = [ln for ln in self.log.splitlines() if ln.strip()]
        while lines and lines[-1].startswith(("processed ", "verification time", "stack depth")):
            lines.pop()
        return lines[-1] if lines else ""
