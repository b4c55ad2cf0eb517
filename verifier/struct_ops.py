"""Attaching a struct_ops program to a member of a registered type.

Models ``check_struct_ops_btf_id`` of kernel/bpf/verifier.c and
``bpf_struct_ops_supported`` of kernel/bpf/bpf_struct_ops.c (Linux 6.18), with
the subsystems' ``check_member`` rules: ``bpf_dummy_ops_check_member``
(net/bpf/bpf_dummy_struct_ops.c: only ``test_sleepable`` takes a sleepable
program). It reads the registry of :mod:`kernel_model.struct_ops` through a
small interface: ``registry.find(btf, type_id)`` giving a ``StructOpsDesc`` whose
members carry the function prototype id and the nullable-argument info
(``arg_info``, empty on the 6.8 profile, which had no ``__nullable`` support).

The context of such a program is the u64 argument array of that member's
prototype (:mod:`verifier.ctx`); helpers are those of the subsystem's
``get_func_proto`` (``VerifierPolicy.helpers``); the return value of an ``int``
member is not range-checked, a ``void`` member's R0 is not even read.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from kernel_model.btf import FuncProto, Ptr
from kernel_model.errors import ENOTSUPP

if TYPE_CHECKING:
    from .core import Env

__all__ = ["check_struct_ops_btf_id", "ENOTSUPP"]


def check_struct_ops_btf_id(v: Env) -> None:
    env = v.attr
    if not env.gpl_compatible:
        raise v.reject(E.EINVAL, "struct ops programs must have a GPL compatible license")
    if not env.attach_btf_id:
        raise v.reject(ENOTSUPP)
    reg = env.struct_ops
    btf = env.attach_btf
    desc = reg.find(btf, env.attach_btf_id) if reg is not None and btf is not None else None
    if desc is None:
        raise v.reject(ENOTSUPP, f"attach_btf_id {env.attach_btf_id} is not a supported struct")
    idx = env.expected_attach_type
    name = desc.name
    if idx < 0 or idx >= len(desc.members):
        raise v.reject(E.EINVAL, f"attach to invalid member idx {idx & 0xFFFFFFFF} of struct {name}")
    m = desc.members[idx]
    if m.func_proto_id is None:
        raise v.reject(E.EINVAL, f"attach to invalid member {m.name}(@idx {idx}) of struct {name}")
    if not m.supported:
        raise v.reject(ENOTSUPP, f"attach to unsupported member {m.name} of struct {name}")
    policy = desc.ops.policy
    if env.sleepable and policy.sleepable_members and m.name not in policy.sleepable_members:
        raise v.reject(E.EINVAL, f"attach to unsupported member {m.name} of struct {name}")
    proto = desc.btf.type_by_id(m.func_proto_id)
    assert isinstance(proto, FuncProto)
    v.attach_btf = desc.btf
    v.attach_func_proto = proto
    v.attach_func_name = m.name
    v.ctx_arg_info = m.arg_info
    v.allowed_helpers = policy.helpers - dict(policy.member_refused_helpers).get(m.name, frozenset())
    v.struct_ops_policy = policy
    # check_return_code(): a member returning a pointer must return 0 (or its reference)
    if proto.ret_type_id and isinstance(desc.btf.resolve(proto.ret_type_id), Ptr):
        v.retval_range = (0, 0)
