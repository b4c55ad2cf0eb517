"""The verifier model: the kernel's load-time checks and abstract interpretation.

Imports only ``kernel_model``. ``verifier.cfg`` holds the structural passes
(subprograms, CFG), ``verifier.reg_init`` the register-initialisation rule.
"""

from __future__ import annotations

__all__: list[str] = []
