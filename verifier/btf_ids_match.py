"""Whether a ``PTR_TO_BTF_ID`` register may stand for a pointer to another struct.

Models ``btf_struct_ids_match`` (kernel/bpf/btf.c, Linux 6.12/6.18), which
``process_kf_arg_ptr_to_btf_id`` (kernel/bpf/verifier.c) uses for a kfunc's
pointer-to-struct argument: the register's struct at its offset is the wanted
one, or -- unless the match must be strict (a ``KF_RELEASE`` kfunc given a
referenced pointer) -- walking into the struct member found at that offset
(``btf_struct_walk`` answering ``WALK_STRUCT``), then into that member's first
member and so on, reaches it. A ``struct tcp_sock *`` thus passes where a kfunc
takes a ``struct sock *``: ``tcp_sock`` starts with ``inet_connection_sock``,
which starts with ``inet_sock``, which starts with ``sock``.

Left out: ``btf_struct_walk``'s log lines on the way (the kernel writes them to
the verifier log only where a walk errs, which here just answers "no match"),
flexible arrays, and type tags.
"""

from __future__ import annotations

from typing import Any

from kernel_model.btf import Array, Composite

__all__ = ["btf_struct_ids_match"]


def _same(btf: Any, tid: int, need_btf: Any, need_id: int) -> bool:
    """``btf_types_are_same``: the same (BTF, id), or the same type object (a split
    BTF's id below its base's count names the base's type)."""
    if btf is need_btf:
        return tid == need_id
    try:
        return btf.type_by_id(tid) is need_btf.type_by_id(need_id)
    except Exception:
        return False


def _walk_struct(btf: Any, tid: int, off: int) -> tuple[int, int] | None:
    """``btf_struct_walk(.., off, size=1, ..)`` when it answers ``WALK_STRUCT``: the
    id of the struct (or union) member starting exactly at ``off`` after descending
    into the members that contain it, and the offset left; None otherwise."""
    for _ in range(64):
        t = btf.type_by_id(btf.skip_modifiers(tid))
        if not isinstance(t, Composite) or off + 1 > t.size:
            return None
        for m in t.members:
            moff = m.bits_offset // 8
            if off + 1 <= moff:
                return None
            if m.bitfield_size:
                continue
            if off < moff:
                return None
            mid = btf.skip_modifiers(m.type_id)
            mt = btf.type_by_id(mid)
            msize = btf.size_of(mid)
            if off >= moff + msize:
                continue
            while isinstance(mt, Array):  # an array of structs: the element holding off
                elem = btf.skip_modifiers(mt.type_id)
                esize = btf.size_of(elem)
                if not esize:
                    return None
                moff += (off - moff) // esize * esize
                mid, mt = elem, btf.type_by_id(elem)
            if not isinstance(mt, Composite):
                return None  # a scalar or a pointer: WALK_SCALAR / WALK_PTR
            if off == moff:
                return mid, 0
            tid, off = mid, off - moff
            break
        else:
            return None
    return None


def btf_struct_ids_match(btf: Any, tid: int, off: int, need_btf: Any, need_id: int, strict: bool) -> bool:
    """``btf_struct_ids_match``: is the struct ``tid`` of ``btf`` at byte ``off`` (the
    register's fixed offset) the struct ``need_id`` of ``need_btf``, directly or by
    walking nested first members (not when ``strict``)."""
    if off == 0 and _same(btf, tid, need_btf, need_id):
        return True
    if strict:
        return False
    for _ in range(64):
        found = _walk_struct(btf, tid, off)
        if found is None:
            return False
        tid, off = found
        if _same(btf, tid, need_btf, need_id):
            return True
    return False
