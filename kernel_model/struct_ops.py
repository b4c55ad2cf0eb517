"""struct_ops descriptors and the subsystem registry.

Models ``kernel/bpf/bpf_struct_ops.c`` and ``__register_bpf_struct_ops()`` /
``btf_add_struct_ops()`` of ``kernel/bpf/btf.c`` (Linux 6.12; checked against the
6.18 host's behaviour):

* A subsystem describes its ops with :class:`StructOps` (``struct bpf_struct_ops``):
  ``name``, CFI stubs (one stub function per supported function member, found in
  BTF as ``<name>__<member>``; a member without a stub is *unsupported* and cannot
  be attached, ``bpf_struct_ops_supported()``), the callbacks ``init``,
  ``init_member``, ``reg``, ``unreg``, ``update``, ``validate``, the verifier policy
  and the owner module.
* Registration (:meth:`StructOpsRegistry.register`, ``bpf_struct_ops_desc_init()``)
  finds ``struct <name>`` and ``struct bpf_struct_ops_<name>`` in the owner's BTF
  (vmlinux, or the module's split BTF), refuses more than
  ``BPF_STRUCT_OPS_MAX_NR_MEMBERS`` (64) members, anonymous and bitfield members,
  distils every supported function member (``btf_distill_func_proto``), refuses
  >8-byte returns, and reads the stub parameter names: a name ending in
  ``__nullable`` makes that argument ``PTR_TO_BTF_ID | PTR_TRUSTED |
  PTR_MAYBE_NULL`` for the verifier (``prepare_arg_info()``, Linux 6.9+).
  Registering the same name twice in one BTF is ``-EEXIST``.
* The kernel reports registration failures with ``pr_warn``: here a
  :class:`KernelError` whose message is that line, also appended to the
  registry's ``dmesg``.

Where we differ: the kernel finds a stub's name through kallsyms from the stub's
address; here the stub is named directly. A profile without ``nullable_args``
(6.8) records no maybe-NULL argument info, as that kernel had none.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .btf import structs as S
from .btf.btf import BTF
from .btf.errors import BTFError
from .btf.func_model import FuncModel, distill_func_proto
from .btf.types import Composite, FuncProto, Ptr, Struct
from .errors import KernelError
from .profile import LATEST, Profile

__all__ = [
    "StructOps", "StructOpsDesc", "ArgInfo", "MemberDesc", "StructOpsRegistry", "VerifierPolicy",
    "BPF_STRUCT_OPS_MAX_NR_MEMBERS", "VALUE_PREFIX", "MAYBE_NULL_SUFFIX",
    "STATE_INIT", "STATE_INUSE", "STATE_TOBEFREE", "STATE_READY",
]

#: include/linux/bpf.h
BPF_STRUCT_OPS_MAX_NR_MEMBERS = 64
VALUE_PREFIX = "bpf_struct_ops_"
MAYBE_NULL_SUFFIX = "__nullable"

#: enum bpf_struct_ops_state (include/linux/bpf.h)
STATE_INIT, STATE_INUSE, STATE_TOBEFREE, STATE_READY = 0, 1, 2, 3

Callback = Callable[..., int]


def _ok(*_: Any) -> int:
    return 0


#: ``bpf_verifier_ops.btf_struct_access`` for a write through a BTF pointer:
#: ``(struct name, struct size, off, size)`` -> None (allowed) or the message of the
#: ``-EACCES`` refusal, as the subsystem logs it
BtfStructAccess = Callable[[str, int, int, int], "str | None"]


@dataclass(frozen=True, slots=True)
class VerifierPolicy:
    """What a subsystem's ``bpf_verifier_ops`` allow: helper ids its programs may
    call (``get_func_proto``; empty = none, as ``bpf_dummy_verifier_ops``), which
    writes through BTF pointers are allowed (``btf_struct_access``; None: the
    subsystem has none and the verifier says ``only read is supported``) and which
    members accept sleepable programs (``check_member``)."""

    helpers: frozenset[int] = frozenset()
    #: the members ``check_member`` lets take a sleepable program (empty: no such rule)
    sleepable_members: frozenset[str] = frozenset()
    btf_struct_access: BtfStructAccess | None = None
    #: ``is_valid_access`` retyping of trusted pointer arguments, struct name -> struct name
    #: (``bpf_tcp_ca_is_valid_access`` promotes ``sock`` to ``tcp_sock``), applied by the
    #: verifier's context access to a trusted ``PTR_TO_BTF_ID`` argument.
    ctx_arg_promote: tuple[tuple[str, str], ...] = ()
    #: helper id -> the kernel proto symbol ``get_func_proto`` hands out where it is not the
    #: base one (``bpf_tcp_ca_get_func_proto``: ``bpf_sk_setsockopt_proto`` ...)
    helper_symbols: tuple[tuple[int, str], ...] = ()
    #: member name -> helper ids ``get_func_proto`` refuses to that member's programs
    #: (``bpf_tcp_ca_get_func_proto``: no setsockopt/getsockopt from ``release``)
    member_refused_helpers: tuple[tuple[str, frozenset[int]], ...] = ()


@dataclass(slots=True)
class StructOps:
    """``struct bpf_struct_ops``: what a subsystem hands to ``register_bpf_struct_ops``.

    ``cfi_stubs`` maps each function member's name to its stub function's name
    (a BTF FUNC, conventionally ``<name>__<member>``); a member missing from it is
    unsupported. Callbacks return 0 or a negative errno; ``init_member`` returns
    > 0 when it took a data member (it gets ``(member, kdata, udata)`` bytearrays
    of the ops struct). ``reg``/``unreg``/``update``/``validate`` get the map's
    :class:`~kernel_model.struct_ops_map.KData` view (and the link where the kernel passes one).
    """

    name: str
    cfi_stubs: Mapping[str, str]
    init: Callback = _ok
    init_member: Callback = _ok
    reg: Callback = _ok
    unreg: Callback = _ok
    update: Callback | None = None
    validate: Callback | None = None
    policy: VerifierPolicy = VerifierPolicy()
    owner: Any = None  # kernel_model.modules.Module, None for built-in
    #: the subsystem's own state (e.g. tcp_cong's list of registered algorithms)
    private: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArgInfo:
    """``struct bpf_ctx_arg_aux``: argument ``arg_no`` is a maybe-NULL trusted
    pointer to BTF type ``btf_id``; ``offset`` into the u64 ctx array."""

    arg_no: int
    btf_id: int
    offset: int


@dataclass(frozen=True, slots=True)
class MemberDesc:
    """One member of the ops struct as registration saw it."""

    index: int
    name: str
    type_id: int
    offset: int  # bytes
    size: int
    func_model: FuncModel | None  # None: a data member, or an unsupported function member
    func_proto_id: int | None  # the member's FUNC_PROTO type id, for function pointers
    supported: bool  # has a CFI stub
    arg_info: tuple[ArgInfo, ...] = ()

    @property
    def is_func(self) -> bool:
        return self.func_proto_id is not None


@dataclass(slots=True)
class StructOpsDesc:
    """``struct bpf_struct_ops_desc``: the registered type."""

    ops: StructOps
    btf: BTF
    type_id: int
    value_id: int
    members: tuple[MemberDesc, ...]
    size: int  # sizeof(struct <name>)
    value_size: int  # sizeof(struct bpf_struct_ops_<name>)
    data_offset: int  # offset of 'data' in the value type
    module_type_id: int | None = None  # 'struct module' in this BTF, if any
    _by_name: dict[str, MemberDesc] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.ops.name

    def member(self, name: str) -> MemberDesc | None:
        if not self._by_name:
            self._by_name = {m.name: m for m in self.members}
        return self._by_name.get(name)

    def func_members(self) -> list[MemberDesc]:
        return [m for m in self.members if m.is_func]


class StructOpsRegistry:
    """The kernel's set of registered struct_ops types, across vmlinux and modules."""

    def __init__(self, profile: Profile = LATEST) -> None:
        self.profile = profile
        self.descs: list[StructOpsDesc] = []
        self.dmesg: list[str] = []

    # --- lookup (bpf_struct_ops_find / _find_value) ------------------------------------
    def find(self, btf: BTF, type_id: int) -> StructOpsDesc | None:
        """The desc whose ops type is ``type_id`` of ``btf`` (``bpf_struct_ops_find``)."""
        for d in self.descs:
            if d.btf is btf and d.type_id == type_id:
                return d
        return None

    def find_value(self, btf: BTF, value_id: int) -> StructOpsDesc | None:
        """The desc whose value type is ``value_id`` of ``btf`` (``bpf_struct_ops_find_value``)."""
        for d in self.descs:
            if d.btf is btf and d.value_id == value_id:
                return d
        return None

    def by_name(self, name: str) -> StructOpsDesc | None:
        for d in self.descs:
            if d.name == name:
                return d
        return None

    # --- registration -------------------------------------------------------------------
    def _fail(self, err: int, message: str) -> KernelError:
        self.dmesg.append(message)
        return KernelError(err, message)

    def register(self, ops: StructOps, btf: BTF) -> StructOpsDesc:
        """Register ``ops`` whose types live in ``btf`` (``__register_bpf_struct_ops``).
        Raises :class:`KernelError` with the kernel's pr_warn text."""
        for d in self.descs:
            if d.btf is btf and d.ops.name == ops.name:
                raise self._fail(errno.EEXIST, f"struct_ops {ops.name} is already registered")
        desc = self._desc_init(ops, btf)
        self.descs.append(desc)
        return desc

    def unregister_btf(self, btf: BTF) -> None:
        """Forget every type registered from ``btf`` (a module's BTF going away)."""
        self.descs = [d for d in self.descs if d.btf is not btf]

    def _desc_init(self, ops: StructOps, btf: BTF) -> StructOpsDesc:
        value_name = VALUE_PREFIX + ops.name
        if len(value_name) >= 128:
            raise self._fail(errno.EINVAL, f"struct_ops name {ops.name} is too long")
        if not ops.cfi_stubs:
            raise self._fail(errno.EINVAL, f"struct_ops for {ops.name} has no cfi_stubs")
        where = "module" if btf.base is not None else "vmlinux"
        type_id = btf.find(ops.name, S.KIND_STRUCT)
        if type_id is None:
            raise self._fail(errno.EINVAL, f"Cannot find struct {ops.name} in {where}")
        t = btf.type_by_id(type_id)
        assert isinstance(t, Struct)
        if len(t.members) > BPF_STRUCT_OPS_MAX_NR_MEMBERS:
            raise self._fail(errno.EINVAL, f"Cannot support #{len(t.members)} members in struct {ops.name}")
        value_id = btf.find(value_name, S.KIND_STRUCT)
        if value_id is None:
            raise self._fail(errno.EINVAL, f"Cannot find struct {value_name} in {where}")
        vt = btf.type_by_id(value_id)
        assert isinstance(vt, Struct)
        data_offset = self._check_value_type(btf, vt, type_id, value_name)
        module_id = btf.find("module", S.KIND_STRUCT)
        members = []
        for i, m in enumerate(t.members):
            if not m.name:
                raise self._fail(errno.EOPNOTSUPP, f"anon member in struct {ops.name} is not supported")
            if m.bitfield_size:
                raise self._fail(errno.EOPNOTSUPP, f"bit field member {m.name} in struct {ops.name} is not supported")
            proto_id = self._func_ptr(btf, m.type_id)
            size = btf.size_of(m.type_id)
            supported = m.name in ops.cfi_stubs
            model = None
            arg_info: tuple[ArgInfo, ...] = ()
            if proto_id is not None and supported:
                try:
                    model = distill_func_proto(btf, proto_id, m.name)
                except BTFError:
                    raise self._fail(errno.EINVAL, f"Error in parsing func ptr {m.name} in struct {ops.name}") from None
                if model.ret_size > 8:
                    raise self._fail(errno.EOPNOTSUPP, f"func ptr {m.name} in struct {ops.name} has a >8 byte "
                                                       "return value, which is not supported")
                arg_info = self._arg_info(btf, ops, m.name, proto_id)
            members.append(MemberDesc(i, m.name, m.type_id, m.byte_offset, size, model, proto_id,
                                      supported, arg_info))
        if ops.init(btf):
            raise self._fail(errno.EINVAL, f"Error in init bpf_struct_ops {ops.name}")
        return StructOpsDesc(ops, btf, type_id, value_id, tuple(members), t.size, vt.size, data_offset, module_id)

    def _check_value_type(self, btf: BTF, vt: Struct, type_id: int, value_name: str) -> int:
        """``is_valid_value_type()``: two members, ``common`` then ``data`` of the ops type."""
        if len(vt.members) != 2:
            raise self._fail(errno.EINVAL, f"The number of {value_name}'s members should be 2, "
                                           f"but we get {len(vt.members)}")
        common = btf.resolve(vt.members[0].type_id)
        if not isinstance(common, Composite) or common.name != "bpf_struct_ops_common_value":
            raise self._fail(errno.EINVAL, f"The first member of {value_name} should be bpf_struct_ops_common_value")
        if btf.skip_modifiers(vt.members[1].type_id) != type_id:
            raise self._fail(errno.EINVAL, f"The second member of {value_name} should be "
                                           f"{btf.type_by_id(type_id).name}")
        return vt.members[1].byte_offset

    @staticmethod
    def _func_ptr(btf: BTF, tid: int) -> int | None:
        """``btf_type_resolve_func_ptr``: the FUNC_PROTO id a member points to, or None."""
        t = btf.resolve(tid)
        if not isinstance(t, Ptr):
            return None
        pid = btf.skip_modifiers(t.type_id)
        return pid if isinstance(btf.type_by_id(pid), FuncProto) else None

    def _arg_info(self, btf: BTF, ops: StructOps, mname: str, proto_id: int) -> tuple[ArgInfo, ...]:
        """``prepare_arg_info()``: maybe-NULL arguments from the stub's parameter names."""
        stub = ops.cfi_stubs[mname]
        sid = btf.find(stub, S.KIND_FUNC)
        if sid is None:
            raise self._fail(errno.ENOENT, f"Cannot find the stub function {stub} in btf")
        stub_proto = btf.type_by_id(btf.type_by_id(sid).type_id)  # type: ignore[attr-defined]
        proto = btf.type_by_id(proto_id)
        assert isinstance(proto, FuncProto) and isinstance(stub_proto, FuncProto)
        if len(proto.params) != len(stub_proto.params):
            raise self._fail(errno.EINVAL, f"the number of arguments of the stub function {stub} does not match "
                                           f"the number of arguments of the member {mname} of struct {ops.name}")
        if not self.profile.nullable_args:
            return ()
        out = []
        for no, (arg, sarg) in enumerate(zip(proto.params, stub_proto.params)):
            if not sarg.name.endswith(MAYBE_NULL_SUFFIX):
                continue
            pt = btf.resolve(arg.type_id)
            target = btf.skip_modifiers(pt.type_id) if isinstance(pt, Ptr) else None
            if target is None or not isinstance(btf.type_by_id(target), Struct):
                raise self._fail(errno.EINVAL, f"stub function {stub} has {MAYBE_NULL_SUFFIX} tagging to an "
                                               "unsupported type")
            if arg.type_id != sarg.type_id:
                raise self._fail(errno.EINVAL, f"arg#{no} type in stub function {stub} does not match with its "
                                               "original func_proto")
            out.append(ArgInfo(no, target, 8 * no))
        return tuple(out)
