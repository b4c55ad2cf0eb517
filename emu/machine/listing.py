"""Disassembly listings with capstone, annotated with kernel symbols."""

from __future__ import annotations

from typing import Callable, Iterator

__all__ = ["disassemble"]


def disassemble(code: bytes, addr: int, symbolize: Callable[[int], str | None] | None = None) -> Iterator[str]:
    """Yield ``+off: hex  mnemonic operands  [; symbol]`` lines for ``code`` at ``addr``."""
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    for ins in md.disasm(code, addr):
        text = f"+{ins.address - addr:#05x}: {ins.bytes.hex():22s} {ins.mnemonic} {ins.op_str}".rstrip()
        if symbolize is not None and ins.mnemonic in ("call", "jmp") and ins.op_str.startswith("0x"):
            name = symbolize(int(ins.op_str, 16))
            if name:
                text += f"   ; {name}"
        yield text
