"""Kernel subsystems that define struct_ops types, one module per kernel file.

Each describes itself (a :class:`~kernel_model.struct_ops.StructOps` with its
callbacks and verifier policy) and owns no trampoline or map logic, as in the
kernel (``net/bpf/bpf_dummy_struct_ops.c``, ``net/ipv4/bpf_tcp_ca.c``, the
selftests' ``bpf_testmod``).
"""

from __future__ import annotations

__all__ = ["dummy_ops", "tcp_ca", "testmod"]
