"""The instruction strategies, under their first name (needs hypothesis).

Kept for existing imports; the kit lives in :mod:`kernel_model.testing`
(:mod:`kernel_model.testing.instructions`).
"""

from __future__ import annotations

from .testing.instructions import FORMS, imm32, instructions, off16, raw_slots, registers

__all__ = ["instructions", "raw_slots", "FORMS", "registers", "imm32", "off16"]
