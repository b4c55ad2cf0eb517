"""The BTF layer's error type.

Models the refusals of kernel/bpf/btf.c (btf_parse_hdr(), btf_check_meta(),
btf_resolve(), Linux 6.12/6.18): every malformed blob, C text the parser
refuses, or function prototype the kernel cannot distil raises
:class:`BTFError`, an :class:`~kernel_model.errors.InputError` (and so a
``ValueError``). Messages name the type id and the rule broken, in the kernel's
words where it has them (``"[42] STRUCT 'foo' Invalid member bits_offset"``).
"""

from __future__ import annotations

from kernel_model.errors import InputError

__all__ = ["BTFError"]


class BTFError(InputError):
    """Malformed BTF (binary, C text or graph).

    Accessible attributes: ``message``, ``where`` (as :class:`InputError`) and
    ``type_id`` (the offending type id, or ``None`` for header/section errors).
    """

    def __init__(self, message: str, where: str = "", type_id: int | None = None) -> None:
        self.type_id = type_id
        super().__init__(message, where)
