"""Loads and stores through ``PTR_TO_BTF_ID`` pointers: walking a kernel struct.

Models ``btf_struct_access`` / ``btf_struct_walk`` of kernel/bpf/btf.c (Linux
6.18): an access at ``off`` of ``size`` bytes must fall inside one member; a
scalar member gives a scalar, a pointer member (read whole) gives a new
``PTR_TO_BTF_ID`` to the pointee struct, a nested struct is walked into.
Writes go to the subsystem's ``btf_struct_access`` hook
(:attr:`kernel_model.struct_ops.VerifierPolicy.btf_struct_access`, e.g.
``bpf_dummy_ops_btf_struct_access``: inside ``struct bpf_dummy_ops_state``
only); a subsystem without one allows reads only.

Reduced structs (:data:`kernel_model.vmlinux.REDUCED_STRUCTS`): a read where the
emulated struct has no member (the kernel's has one there) is not modelled. The
structs laid out as the 6.18 host's with holes (:mod:`kernel_model.vmlinux_task`:
``task_struct``, ``cgroup`` ...) also answer a read that starts in a kept member
(the kernel decides it from that member alone), and refuse as not modelled a read
of a pointer member whose pointee the emulated vmlinux only declares (the kernel
gives a ``PTR_TO_BTF_ID`` there; a forward-only pointee would be a scalar). Other
structs' pointers to declared-only structs are still read as scalars (a gap).

Left out: BTF type tags (``__rcu``, ``__user``, ``__percpu``) and flexible
arrays, which the emulated vmlinux does not use.
"""

from __future__ import annotations

import errno as E
import re
from typing import TYPE_CHECKING, Any, Final

from kernel_model.btf import Array, Composite, Fwd, Ptr, Struct, Union
from kernel_model.vmlinux import REDUCED_STRUCTS
from kernel_model.vmlinux_names import has_type
from kernel_model.vmlinux_task import SIZES as HOST_SIZES

if TYPE_CHECKING:
    from .core import Env

from .regs import PTR_TO_BTF_ID, PTR_UNTRUSTED, SCALAR_VALUE, RegState

__all__ = ["btf_struct_access", "struct_ops_write_access"]

#: the names the emulated vmlinux gives the placeholders of its reduced structs (char arrays
#: standing for members it leaves out: ``__pad0``, ``__sha``, ``__lock``)
_PLACEHOLDER: Final = re.compile(r"__pad\d*|__sha|__lock")


def _walk(v: Env, btf: Any, tid: int, off: int, size: int, flag: int,
          field: list[str] | None = None) -> tuple[int, int, int]:
    """``btf_struct_walk`` loop: (SCALAR_VALUE | PTR_TO_BTF_ID, next btf id, flag); the
    pointer member's name goes into ``field`` (``btf_struct_walk``'s ``field_name``)."""
    while True:
        sid = btf.skip_modifiers(tid)
        t = btf.type_by_id(sid)
        tname = t.name
        if tname in REDUCED_STRUCTS and btf is v.attr.vmlinux_btf:
            _reduced_walk(v, btf, t, off, size)
        if isinstance(t, Fwd) and btf is v.attr.vmlinux_btf:
            # a real vmlinux lays every struct out; the emulated one only declares some (the
            # netfilter context's sk_buff): refused as not modelled, never as the kernel's error
            raise v.reject(E.EINVAL, f"struct {tname} of the emulated vmlinux BTF is only declared: a walk into "
                                     "it is not modelled by structops")
        if not isinstance(t, Composite):
            raise v.reject(E.EINVAL, f"Type '{tname}' is not a struct")
        if isinstance(t, Union) and len(t.members) != 1:
            flag |= PTR_UNTRUSTED
        if off + size > t.size:
            # btf_struct_walk (kernel/bpf/btf.c, 6.12/6.18): past the end is allowed into a
            # trailing flexible array (``nelems == 0``) of integers (a scalar) or of structs
            # (walked again at the offset modulo the element's size)
            last = t.members[-1] if t.members else None
            at = btf.type_by_id(btf.skip_modifiers(last.type_id)) if last is not None else None
            if last is None or not isinstance(at, Array) or at.nelems != 0 or off < last.bits_offset // 8:
                raise v.reject(E.EACCES, f"access beyond struct {tname} at off {off} size {size}")
            eid = btf.skip_modifiers(at.type_id)
            et = btf.type_by_id(eid)
            if et.kind == 1:  # BTF_KIND_INT
                return SCALAR_VALUE, 0, flag
            if not isinstance(et, Struct):
                raise v.reject(E.EACCES, f"access beyond struct {tname} at off {off} size {size}")
            off = (off - last.bits_offset // 8) % et.size
            tid = eid
            continue
        found = False
        for m in t.members:
            moff = m.bits_offset // 8
            if off + size <= moff:
                break
            if m.bitfield_size:
                end_bit = m.bits_offset + m.bitfield_size
                if off <= moff and (end_bit + 7) // 8 <= off + size:
                    return SCALAR_VALUE, 0, flag
                continue
            if off < moff:
                break
            try:
                msize = btf.size_of(m.type_id)
            except Exception:
                raise v.reject(E.EFAULT, f"field {m.name} doesn't have size") from None
            mtrue_end = moff + msize
            if off >= mtrue_end:
                continue
            mid = btf.skip_modifiers(m.type_id)
            mtype = btf.type_by_id(mid)
            if isinstance(mtype, Array) and btf is v.attr.vmlinux_btf and _PLACEHOLDER.fullmatch(m.name):
                # the padding a reduced struct of the emulated vmlinux (kernel_model.vmlinux_iter:
                # udp_sock, unix_sock, socket, file ...) keeps where the kernel has members it
                # leaves out: what the kernel would answer there is unknown here
                raise v.reject(E.EINVAL, f"a read at offset {off} size {size} of struct {tname} (its {m.name}, "
                                         "a part the emulated vmlinux leaves out) is not modelled by structops")
            if isinstance(mtype, Array):
                # a (multi-dimensional) array is a row of its elements; mtrue_end stays the
                # end of the whole array, so an int array is usable as scratch space
                if moff == mtrue_end:
                    continue
                while isinstance(mtype, Array):
                    mid = btf.skip_modifiers(mtype.type_id)
                    mtype = btf.type_by_id(mid)
                esize = btf.size_of(mid)
                moff += (off - moff) // esize * esize
                msize = esize
            if isinstance(mtype, Composite):
                if off == moff:
                    # WALK_STRUCT: continue at offset 0 of the member struct
                    tid = mid
                    off = 0
                    found = True
                    break
                tid = mid
                off -= moff
                found = True
                break
            if isinstance(mtype, Ptr):
                if msize != size or off != moff:
                    raise v.reject(E.EACCES, f"cannot access ptr member {m.name} with moff {moff} in struct {tname} "
                                             f"with off {off} size {size}")
                sid2 = btf.skip_modifiers(mtype.type_id)
                pointee = btf.type_by_id(sid2)
                if isinstance(pointee, Struct) or (isinstance(pointee, Fwd) and not pointee.is_union
                                                   and btf is v.attr.vmlinux_btf):
                    # a struct the emulated vmlinux only declares is a struct in the kernel's
                    # BTF: the pointer is the kernel's PTR_TO_BTF_ID (never a scalar); a walk
                    # into it is refused as not modelled (above)
                    if field is not None:
                        field.append(m.name)
                    return PTR_TO_BTF_ID, sid2, flag
                pointee = btf.type_by_id(sid2)
                if isinstance(pointee, Fwd) and tname in HOST_SIZES and btf is v.attr.vmlinux_btf and \
                        has_type("union" if pointee.is_union else "struct", pointee.name):
                    # the kernel reads a pointer to a forward-only struct as a scalar; a real
                    # vmlinux defines this one (a PTR_TO_BTF_ID there), only ours declares it.
                    # Checked for the structs laid out as the host's (kernel_model.vmlinux_task),
                    # whose pointer members all stay, most to structs the emulated vmlinux lacks
                    raise v.reject(E.EINVAL, f"member {m.name} of struct {tname} points to struct {pointee.name}, "
                                             "only declared in the emulated vmlinux BTF: not modelled by structops")
            if off + size > mtrue_end and not flag & PTR_UNTRUSTED:
                raise v.reject(E.EACCES, f"access beyond the end of member {m.name} (mend:{mtrue_end}) in struct "
                                         f"{tname} with off {off} size {size}")
            return SCALAR_VALUE, 0, flag
        if found:
            continue
        raise v.reject(E.EINVAL, f"struct {tname} doesn't have field at offset {off}")


def _exact(btf: Any, tid: int) -> bool:
    """Whether the type ``tid`` has the kernel's size: a scalar or pointer, or a struct the
    emulated vmlinux does not reduce or reduces with the kernel's size
    (:data:`kernel_model.vmlinux_task.SIZES`); arrays by their element."""
    t = btf.type_by_id(btf.skip_modifiers(tid))
    while isinstance(t, Array):
        t = btf.type_by_id(btf.skip_modifiers(t.type_id))
    if not isinstance(t, Composite):
        return True
    if t.name not in REDUCED_STRUCTS:
        return True
    return HOST_SIZES.get(t.name) == t.size


def _reduced_walk(v: Env, btf: Any, t: Any, off: int, size: int) -> None:
    """A read of a struct the emulated vmlinux reduces (``task_struct``, ``cgroup`` ...):
    a read that falls (in part) where the reduced struct has no member is not modelled
    rather than a verdict (the kernel's struct has a member there); a read of a member the
    reduced struct has is walked as usual. So is a read that only starts in a member, for
    the structs laid out as the 6.18 host's with holes (:mod:`kernel_model.vmlinux_task`),
    when that member has the kernel's size and the read ends inside the kernel's struct:
    ``btf_struct_walk`` then decides from that member alone (``access beyond the end of
    member``, ``cannot access ptr member``)."""
    host_size = HOST_SIZES.get(t.name)
    for m in t.members:
        moff = m.bits_offset // 8
        try:
            msize = btf.size_of(m.type_id)
        except Exception:
            continue
        if moff <= off and off + size <= moff + msize:
            return
        if (host_size is not None and not m.bitfield_size and moff <= off < moff + msize
                and off + size <= host_size and _exact(btf, m.type_id)):
            return
    raise v.reject(E.EINVAL, f"a read at offset {off} size {size} of the reduced struct {t.name} "
                             "is not modelled by structops")


def btf_struct_access(v: Env, reg: RegState, off: int, size: int,
                      field: list[str] | None = None) -> tuple[int, int, int]:
    """A read through ``reg`` at ``off``: (result kind, btf id of the result, flags); a
    pointer member's name is appended to ``field``."""
    return _walk(v, reg.btf, reg.btf_id, off, size, 0, field)


def struct_ops_write_access(v: Env, reg: RegState, off: int, size: int) -> None:
    """A write through ``reg``: the struct_ops subsystem's ``btf_struct_access``
    (``env->ops->btf_struct_access`` in check_ptr_to_btf_access), or ``only read is
    supported`` when it has none."""
    access = v.struct_ops_policy.btf_struct_access
    t = reg.btf.type_by_id(reg.btf_id)
    message = access(t.name, t.size, off, size) if access is not None else "only read is supported"
    if message is not None:
        raise v.reject(E.EACCES, message)
