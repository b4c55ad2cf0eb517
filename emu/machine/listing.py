"""Disassembly listings with capstone, annotated with kernel symbols: the one place
outside the machine proper that decodes x86-64 (the CLI's listings, the demo, the
host's trampoline oracle)."""

from __future__ import annotations

from typing import Callable, Iterator

__all__ = ["disassemble", "decode"]


def decode(code: bytes, addr: int) -> Iterator[tuple[int, int, str, str]]:
    """``(address, size, mnemonic, operands)`` of each x86-64 instruction of ``code``
    at ``addr`` (capstone's lite decoder), until the first byte it cannot decode."""
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    yield from md.disasm_lite(code, addr)


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
