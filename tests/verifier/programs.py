"""The verifier tests' program generators: the public ones of the testing kit.

They live in :mod:`kernel_model.testing.verifier_programs` (installed with the
``strategies`` extra); this module keeps the tests' imports and draws unchanged.
"""

from __future__ import annotations

from kernel_model.testing.verifier_programs import (DUMMY_MEMBERS, MAP_DECL, MAP_DECLS, linked_scalar_programs,
                                                    socket_programs, struct_ops_programs)

__all__ = ["socket_programs", "linked_scalar_programs", "struct_ops_programs", "MAP_DECL", "MAP_DECLS",
           "DUMMY_MEMBERS"]
