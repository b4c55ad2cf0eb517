"""The emulated kernel's functions as kallsyms names them: every FUNC of its vmlinux BTF.

On a real kernel each FUNC of vmlinux's BTF is a function of the image, and so a text
symbol of ``/proc/kallsyms`` (pahole emits FUNCs for the functions the image's symbol table
has; kernel/kallsyms.c, Linux 6.18): kfuncs, the struct_ops CFI stubs, the functions the
selftests name as symbols (:mod:`kernel_model.ktext_funcs`). libbpf reads kallsyms for typeless
``__ksym`` externs (``bpf_object__read_kallsyms_file``) and the verifier asks
``kallsyms_lookup_name`` for a typed function ksym (``check_pseudo_btf_id``).

Most of those functions have no code in the emulated kernel (a kfunc's Python body is serviced
through a stub placed on first call, :meth:`emu.kernel.Kernel._kfunc_stub`). Each gets an
emulated address of its own here, in kernel text past the code the emulator places
(:data:`NAMED_TEXT_BASE`, 32 bytes apart in BTF order, ``T`` symbols): stable from boot, never
the host's. Nothing is mapped there: executing or reading one faults, as reading a function
through ``bpf_probe_read_kernel`` of an unmapped page would.

Where we differ: the addresses are not those of any real build; a kfunc's stub (where a call
lands) is elsewhere than its kallsyms address; module FUNCs are not listed (a module's kfunc is
named once its stub is placed).
"""

from __future__ import annotations

from typing import Any

from emu.machine.layout import KTEXT_BASE
from kernel_model.btf import structs as S

__all__ = ["NAMED_TEXT_BASE", "NAMED_TEXT_STRIDE", "NamedText"]

#: where the named-only functions start: kernel text, 8 MiB in (the emulator's own code
#: is the first 64 KiB, ``KTEXT_SIZE``); below the kernel data at +16 MiB
NAMED_TEXT_BASE = KTEXT_BASE + 0x80_0000
#: each one's room (a 16-byte __pfx_ padding and 16 bytes of function, never mapped)
NAMED_TEXT_STRIDE = 32


class NamedText:
    """name -> emulated address of every FUNC of ``btf`` (the vmlinux BTF, its own types)."""

    def __init__(self, btf: Any) -> None:
        self._addr: dict[str, int] = {}
        for _tid, t in btf.iter_types(S.KIND_FUNC):
            if t.name and t.name not in self._addr:
                self._addr[t.name] = NAMED_TEXT_BASE + NAMED_TEXT_STRIDE * len(self._addr) + 16

    def __contains__(self, name: str) -> bool:
        return name in self._addr

    def __len__(self) -> int:
        return len(self._addr)

    def addr(self, name: str) -> int | None:
        """``kallsyms_lookup_name(name)`` for a named function, None for any other name."""
        return self._addr.get(name)

    def items(self) -> list[tuple[str, int]]:
        return list(self._addr.items())
