"""``bpf_snprintf``'s format string, checked when the program is loaded.

The kernel (kernel/bpf/verifier.c ``check_bpf_snprintf_call``, 6.12/6.18) reads the
format out of the read-only map value R3 points to (``ARG_PTR_TO_CONST_STR`` made sure it
is NUL-terminated there) and R5's known value as the byte size of the u64 argument array:
a size that is not a multiple of 8 fails with ``-EINVAL`` and no message; then
``bpf_bprintf_prepare`` (kernel/bpf/helpers.c) validates the format against that many
arguments without reading them, and a failure is logged as ``Invalid format string``.

:func:`bprintf_check` is ``bpf_bprintf_prepare`` without arguments (``raw_args`` NULL): every
byte printable ASCII or whitespace (bytes of 0x80 and above pass as plain text, as the
kernel permits UTF-8), ``%%`` a literal, each other ``%`` one specifier -- at most as many as
there are arguments -- of the forms ``[0 +-]*[1-9][0-9]*`` then ``p`` (alone before a
space, punctuation or the end; ``pks``/``pus``; ``pK``, ``px``, ``ps``, ``pS``, ``pB``;
``pi4``/``pI4``/``pi6``/``pI6``), ``s`` or ``c``, or ``[l[l]]`` then ``i d u x X``.
``%s``/``%pks``/``%pus`` must be followed by the end, a space or punctuation.
"""

from __future__ import annotations

import errno as E
import string
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .core import Env

__all__ = ["bprintf_check", "check_bpf_snprintf_call", "BPF_FUNC_snprintf"]

BPF_FUNC_snprintf: Final = 165

#: include/linux/ctype.h over lib/ctype.c's table (bytes as unsigned char): ASCII, and the
#: Latin-1 half the kernel's table also classifies
_SPACE: Final = frozenset(b" \t\n\v\f\r\xa0")
_PUNCT: Final = frozenset(string.punctuation.encode()) | frozenset(range(0xA1, 0xC0)) | {0xD7, 0xF7}


def _isprint_ascii(c: int) -> bool:
    return 0x20 <= c <= 0x7E


def bprintf_check(fmt: bytes, num_args: int) -> int:
    """0, or the negative errno ``bpf_bprintf_prepare(fmt, UINT_MAX, NULL, num_args, ..)``
    returns for ``fmt`` (read up to its first NUL)."""
    end = fmt.find(0)
    if end < 0:
        return -E.EINVAL
    f = fmt[:end] + b"\0\0\0"  # the kernel may look a few bytes past a specifier: NULs there
    num_spec = 0
    i = 0
    while i < end:
        c = f[i]
        if c < 0x80 and not _isprint_ascii(c) and c not in _SPACE:
            return -E.EINVAL
        if c != 0x25:  # '%'
            i += 1
            continue
        if f[i + 1] == 0x25:
            i += 2
            continue
        if num_spec >= num_args:
            return -E.EINVAL
        i += 1
        if f[i] >= 0x80:
            return -E.EINVAL
        while f[i] in b"0+- ":
            i += 1
        if 0x31 <= f[i] <= 0x39:
            i += 1
            while 0x30 <= f[i] <= 0x39:
                i += 1
        ch = f[i]
        if ch == ord("p"):
            nxt = f[i + 1]
            if nxt == 0 or nxt in _SPACE or nxt in _PUNCT:
                pass
            elif nxt in b"ku" and f[i + 2] == ord("s"):
                i += 2
                if not _str_end_ok(f[i + 1]):
                    return -E.EINVAL
            elif nxt in b"KxsSB":
                i += 1
            elif nxt in b"iI" and f[i + 2] in b"46":
                i += 2
            else:
                return -E.EINVAL
        elif ch == ord("s"):
            if not _str_end_ok(f[i + 1]):
                return -E.EINVAL
        elif ch == ord("c"):
            pass
        else:
            if f[i] == ord("l"):
                i += 1
            if f[i] == ord("l"):
                i += 1
            if f[i] not in b"iduxX":
                return -E.EINVAL
        num_spec += 1
        i += 1
    return 0


def _str_end_ok(c: int) -> bool:
    """What may follow ``%s``: the end, a space or punctuation."""
    return c == 0 or c in _SPACE or c in _PUNCT


def check_bpf_snprintf_call(env: Env) -> None:
    """``check_bpf_snprintf_call`` after ``bpf_snprintf``'s arguments were checked."""
    regs = env.cur_regs()
    fmt_reg, data_len = regs[3], regs[5]
    if data_len.var_off[0] % 8:
        raise env.reject(E.EINVAL)
    num_args = data_len.var_off[0] // 8
    m = fmt_reg.map
    off = fmt_reg.off + fmt_reg.var_off[0]
    read = getattr(m, "direct_read", None)
    data = read(off, m.value_size - off) if read is not None else -E.EFAULT
    if isinstance(data, int):
        raise env.reject(E.EFAULT, "verifier bug")
    err = bprintf_check(bytes(data), num_args)
    if err:
        raise env.reject(-err, "Invalid format string")
