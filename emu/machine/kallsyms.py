"""A kallsyms-like symbol table of everything the emulated kernel places.

Models what ``/proc/kallsyms`` and ``%pS`` show (kernel/kallsyms.c, Linux
6.18): a symbol has an address, a size and a type letter (``T`` global text,
``t`` local text, ``d``/``D`` data, ``b`` bss; JIT images are ``t`` symbols of
the pseudo module ``[bpf]`` named ``bpf_prog_<tag>_<name>``, trampolines
``bpf_trampoline_<key>`` / ``bpf__<struct_ops>_<member>``). ``format_addr``
prints an address as ``name+0xoff/0xsize`` the way oops reports do.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Iterator

__all__ = ["Symbol", "Kallsyms"]


@dataclass(frozen=True, slots=True)
class Symbol:
    """One symbol. ``module`` is ``""`` for the kernel image, ``"bpf"`` for BPF text."""

    addr: int
    size: int
    name: str
    type: str = "T"
    module: str = ""

    @property
    def end(self) -> int:
        return self.addr + self.size


#: what :meth:`Kallsyms.snapshot` returns (opaque to callers)
Snapshot = tuple[list[int], list[Symbol], dict[str, Symbol]]


class Kallsyms:
    """Symbols sorted by address; lookups are O(log n)."""

    def __init__(self, symbols: Iterable[Symbol] = ()) -> None:
        self._starts: list[int] = []
        self._syms: list[Symbol] = []
        self._by_name: dict[str, Symbol] = {}
        if symbols:
            self.load(list(symbols))

    def snapshot(self) -> Snapshot:
        """The table as it is now, for :meth:`restore` (symbols are immutable, so
        copying the three containers is enough)."""
        return (list(self._starts), list(self._syms), dict(self._by_name))

    def restore(self, snap: Snapshot) -> None:
        """Back to a :meth:`snapshot` (the snapshot stays usable)."""
        self._starts = list(snap[0])
        self._syms = list(snap[1])
        self._by_name = dict(snap[2])

    def __len__(self) -> int:
        return len(self._syms)

    def __iter__(self) -> Iterator[Symbol]:
        return iter(self._syms)

    def add(self, name: str, addr: int, size: int, type: str = "T", module: str = "") -> Symbol:
        """Add a symbol (replacing one of the same name)."""
        if name in self._by_name:
            self.remove(name)
        sym = Symbol(addr, size, name, type, module)
        k = bisect.bisect_right(self._starts, addr)
        self._starts.insert(k, addr)
        self._syms.insert(k, sym)
        self._by_name[name] = sym
        return sym

    def load(self, symbols: "list[Symbol]") -> None:
        """Add many symbols at once (names must be new)."""
        if not self._syms:
            ordered = sorted(symbols, key=lambda s: s.addr)  # stable, as insertion one by one is
            self._syms = ordered
            self._starts = [s.addr for s in ordered]
            self._by_name = {s.name: s for s in ordered}
            return
        for sym in sorted(symbols, key=lambda s: s.addr):
            k = bisect.bisect_right(self._starts, sym.addr)
            self._starts.insert(k, sym.addr)
            self._syms.insert(k, sym)
            self._by_name[sym.name] = sym

    def remove(self, name: str) -> None:
        sym = self._by_name.pop(name, None)
        if sym is None:
            return
        k = bisect.bisect_left(self._starts, sym.addr)
        while self._syms[k] is not sym:  # symbols may share an address
            k += 1
        del self._syms[k]
        del self._starts[k]

    def find_symbol_by_name(self, name: str) -> Symbol | None:
        """The symbol called ``name``, or None."""
        return self._by_name.get(name)

    def addr_of(self, name: str) -> int:
        """``kallsyms_lookup_name()``: the address of ``name``; KeyError if absent."""
        return self._by_name[name].addr

    def lookup(self, addr: int) -> Symbol | None:
        """The symbol containing ``addr`` (``kallsyms_lookup``), or None."""
        k = bisect.bisect_right(self._starts, addr) - 1
        while k >= 0:
            sym = self._syms[k]
            if sym.addr <= addr < sym.end or (sym.size == 0 and sym.addr == addr):
                return sym
            if sym.addr < addr - (1 << 24):
                break
            k -= 1
        return None

    def format_addr(self, addr: int) -> str:
        """``%pS``: ``name+0xoff/0xsize [module]``, or the bare hex address."""
        sym = self.lookup(addr)
        if sym is None:
            return f"{addr:#x}"
        text = f"{sym.name}+{addr - sym.addr:#x}/{sym.size:#x}"
        return f"{text} [{sym.module}]" if sym.module else text

    def symbolize(self, addr: int) -> str | None:
        """A name for listings (``name`` or ``name+0xoff``), None outside every symbol."""
        sym = self.lookup(addr)
        if sym is None:
            return None
        return sym.name if addr == sym.addr else f"{sym.name}+{addr - sym.addr:#x}"

    def proc_kallsyms(self) -> str:
        """The table as ``/proc/kallsyms`` prints it (root, kptr_restrict=0)."""
        lines = []
        for s in self._syms:
            mod = f"\t[{s.module}]" if s.module else ""
            lines.append(f"{s.addr:016x} {s.type} {s.name}{mod}")
        return "\n".join(lines) + ("\n" if lines else "")
