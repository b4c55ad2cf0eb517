"""The property-testing kit: hypothesis strategies for BPF programs, struct_ops
types and kernel/CPU configurations (needs the ``strategies`` extra).

Every factory is lowercase, takes keyword-only knobs, checks them when called
(``hypothesis.errors.InvalidArgument`` naming the argument) and returns a
``SearchStrategy``, as hypothesis' own do::

    from hypothesis import given
    from kernel_model.testing import struct_ops_declarations, trampoline_configs

    @given(struct_ops_declarations(max_members=40), trampoline_configs())
    def test_something(decl, config): ...

Pure (no machine, no verifier): the layers above use these. What needs the
emulated kernel -- programs filtered by the verifier model, installing a drawn
type into a ``Kernel``, page counts from real trampoline sizes, the pytest
fixtures -- is in :mod:`emu.testing`. docs/property-testing.md is the guide.

Without hypothesis installed, importing this package raises an ImportError
that names the extra (``pip install 'structops-emu[strategies]'``).
"""

from __future__ import annotations

from .hypothesis_support import InvalidArgument
from .configs import PROFILE_NAMES, TrampolineConfig, cpu_configs, profiles, trampoline_configs
from .instructions import FORMS, instructions, raw_slots
from .programs import MEM_SIZE, terminating_programs
from .struct_ops import (DEFAULT_ARG_TYPES, DEFAULT_DATA_TYPES, DEFAULT_RET_TYPES, MAX_FUNC_ARGS,
                         struct_ops_declarations)
from .verifier_programs import (DUMMY_MEMBERS, MAP_DECL, MAP_DECLS, linked_scalar_programs, socket_programs,
                                struct_ops_programs)

__all__ = [
    # instructions and programs
    "instructions", "raw_slots", "FORMS", "terminating_programs", "MEM_SIZE",
    "socket_programs", "linked_scalar_programs", "struct_ops_programs", "MAP_DECL", "MAP_DECLS", "DUMMY_MEMBERS",
    # struct_ops types
    "struct_ops_declarations", "DEFAULT_ARG_TYPES", "DEFAULT_RET_TYPES", "DEFAULT_DATA_TYPES", "MAX_FUNC_ARGS",
    # kernels and CPUs
    "profiles", "cpu_configs", "trampoline_configs", "TrampolineConfig", "PROFILE_NAMES",
    "InvalidArgument",
]
