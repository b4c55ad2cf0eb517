"""The terminating-program strategy, under its first name (needs hypothesis).

Kept for existing imports; the kit lives in :mod:`kernel_model.testing`
(:mod:`kernel_model.testing.programs`, which documents what a drawn program
promises).
"""

from __future__ import annotations

from .testing.programs import MEM_SIZE, terminating_programs

__all__ = ["terminating_programs", "MEM_SIZE"]
