"""Run-time side of the allocated-object and list kfuncs (kernel/bpf/helpers.c, Linux 6.18).

The verifier's ``fixup_kfunc_call`` (kernel/bpf/verifier.c) passes what the kfuncs need in
the ``__ign`` arguments: ``bpf_obj_new_impl(size, meta)``, ``bpf_obj_drop_impl(p, meta)``,
``bpf_refcount_acquire_impl(p, meta)``, ``bpf_list_push_*_impl(head, node, meta, off)``,
``meta`` being the type's ``struct btf_struct_meta`` (NULL when it has no special field).
Here ``meta`` is the address of an 8-byte cell of kernel memory standing for it
(:meth:`GraphRuntime.meta_addr`); the record is kept on the Python side.

* ``bpf_obj_new_impl`` allocates from the emulated kernel allocator (``bpf_mem_alloc``;
  zeroed here, where the kernel only initialises the special fields: ``bpf_obj_init``) and
  sets a ``bpf_refcount`` to 1; NULL when the allocator is out of memory.
* ``bpf_obj_drop_impl`` (``__bpf_obj_drop_impl``): a refcounted object is freed when its
  count drops to zero; freeing drains the object's list heads, dropping every node's object
  (``bpf_obj_free_fields`` / ``bpf_list_head_free``).
* ``bpf_refcount_acquire_impl``: ``refcount_inc_not_zero`` (NULL when it was zero).
* lists are the kernel's ``struct list_head`` in emulated memory: a ``bpf_list_head`` is
  ``{next, prev}`` (all-zero: empty, initialised at first use), a ``bpf_list_node`` is
  ``{next, prev, owner}``; ``push`` refuses a node that already has an owner (-EINVAL, the
  object dropped), ``pop`` returns the node (the verifier knows its offset in the object)
  or NULL for an empty list.

* the rbtree kfuncs: :mod:`emu.kernel.rbtree_rt` (``bpf_rbtree_add``'s ``less`` callback
  runs inside the program's run, :mod:`emu.machine.callbacks`).

* ``bpf_percpu_obj_new_impl`` / ``bpf_percpu_obj_drop_impl``: ``bpf_mem_alloc`` of
  ``bpf_global_percpu_ma`` (kernel/bpf/memalloc.c ``__alloc``): a 16-byte cell (an
  ``llist_node``, then the ``void __percpu *``) whose second word holds a zeroed per-CPU
  allocation of the type's size; the program gets the address of that word (``ret +
  LLIST_NODE_SZ``), which ``do_misc_fixups`` dereferences before ``bpf_per_cpu_ptr`` /
  ``bpf_this_cpu_ptr``; the drop (``bpf_mem_free_rcu``) frees both -- at once here, after an
  RCU grace period in the kernel.

Not modelled at run time (a call stops the run as not modelled): graph roots inside
allocated objects.
"""

from __future__ import annotations

import errno
import struct
from typing import Any, Callable

from kernel_model.btf_record import LIST_HEAD, REFCOUNT, RB_ROOT, BtfRecord
from kernel_model.errors import NotModelled

__all__ = ["GraphRuntime", "FIXUP_KFUNCS"]

U64 = (1 << 64) - 1
#: kfuncs whose calls the verifier's fixup_kfunc_call prefixes with their hidden arguments
FIXUP_KFUNCS = frozenset({"bpf_obj_new_impl", "bpf_percpu_obj_new_impl", "bpf_obj_drop_impl",
                          "bpf_percpu_obj_drop_impl", "bpf_refcount_acquire_impl", "bpf_list_push_front_impl",
                          "bpf_list_push_back_impl", "bpf_rbtree_add_impl"})
_NOT_AT_RUN_TIME: tuple[str, ...] = ()


class GraphRuntime:
    """The struct metas handed to programs, and the kfunc implementations."""

    def __init__(self, machine: Callable[[], Any]) -> None:
        self._machine = machine
        self._metas: dict[int, BtfRecord] = {}
        self._by_record: dict[int, int] = {}
        #: objects live from bpf_obj_new, by address (the allocation size)
        self.live: dict[int, int] = {}
        #: per-CPU objects live from bpf_percpu_obj_new: the address handed out -> its per-CPU pointer
        self.live_percpu: dict[int, int] = {}
        self.warnings: list[str] = []

    def meta_addr(self, rec: BtfRecord | None) -> int:
        """The address passed for ``rec`` (0 for a type without special fields)."""
        if rec is None:
            return 0
        addr = self._by_record.get(id(rec))
        if addr is None:
            addr = int(self._machine().alloc.kzalloc(8))
            self._by_record[id(rec)] = addr
            self._metas[addr] = rec
        return addr

    def _rec(self, meta: int) -> BtfRecord | None:
        return self._metas.get(meta) if meta else None

    # --- kfuncs ----------------------------------------------------------------------------
    def obj_new(self, m: Any, size: int, meta: int, *_: int) -> int:
        try:
            p = int(m.alloc.kzalloc(size))
        except Exception:  # noqa: BLE001 - the emulated allocator is out of memory: NULL
            return 0
        rec = self._rec(meta)
        if rec is not None:
            off = rec.offset_of(REFCOUNT)
            if off >= 0:
                m.write(p + off, struct.pack("<I", 1))
            if rec.has(RB_ROOT):
                m.alloc.kfree(p)
                raise NotModelled("graph roots inside allocated objects: not modelled at run time")
        self.live[p] = size
        return p

    def percpu_obj_new(self, m: Any, size: int, meta: int, *_: int) -> int:
        """``bpf_percpu_obj_new_impl``: the address of the cell's per-CPU pointer, or NULL."""
        try:
            cell = int(m.alloc.kzalloc(16))
        except Exception:  # noqa: BLE001 - out of memory: NULL
            return 0
        try:
            pptr = int(m.alloc.alloc_percpu(size & 0xFFFFFFFF, 8))
        except Exception:  # noqa: BLE001 - the per-CPU area is full: NULL (__alloc frees the cell)
            m.alloc.kfree(cell)
            return 0
        m.write_u64(cell + 8, pptr)
        self.live_percpu[cell + 8] = pptr
        return cell + 8

    def percpu_obj_drop(self, m: Any, p: int, meta: int = 0, *_: int) -> int:
        """``bpf_percpu_obj_drop_impl`` (also ``bpf_obj_free_fields`` of a per-CPU kptr)."""
        pptr = self.live_percpu.pop(p, None)
        if pptr is None:
            self.warnings.append(f"bpf_mem_free of {p:#x}, which bpf_percpu_obj_new did not return")
            return 0
        m.alloc.free_percpu(pptr)
        m.alloc.kfree(p - 8)
        return 0

    def obj_drop(self, m: Any, p: int, meta: int, *_: int) -> int:
        self._drop(m, p, self._rec(meta))
        return 0

    def _drop(self, m: Any, p: int, rec: BtfRecord | None) -> None:
        """``__bpf_obj_drop_impl``."""
        if rec is not None:
            off = rec.offset_of(REFCOUNT)
            if off >= 0:
                n = struct.unpack("<I", m.read(p + off, 4))[0]
                if n == 0:
                    self.warnings.append(f"refcount_t: underflow; use-after-free (object {p:#x})")
                    return
                m.write(p + off, struct.pack("<I", n - 1))
                if n - 1:
                    return
            for f in rec.fields:  # bpf_obj_free_fields
                if f.name == LIST_HEAD:
                    self._list_free(m, p + f.offset, f)
        self.live.pop(p, None)
        m.alloc.kfree(p)

    def _list_free(self, m: Any, head: int, field: Any) -> None:
        """``bpf_list_head_free``: every node's object is dropped."""
        from kernel_model.btf_record import struct_meta
        nxt = m.read_u64(head)
        if not nxt:
            return
        vrec = struct_meta(field.value_btf, field.value_btf_id)
        while nxt != head:
            after = m.read_u64(nxt)
            m.write(nxt, struct.pack("<QQQ", nxt, nxt, 0))  # list_del_init, owner NULL
            self._drop(m, nxt - field.node_offset, vrec)
            nxt = after
        m.write(head, struct.pack("<QQ", head, head))

    def refcount_acquire(self, m: Any, p: int, meta: int, *_: int) -> int:
        rec = self._rec(meta)
        off = rec.offset_of(REFCOUNT) if rec is not None else -1
        if off < 0:
            return p
        n = struct.unpack("<I", m.read(p + off, 4))[0]
        if n == 0:  # refcount_inc_not_zero
            return 0
        m.write(p + off, struct.pack("<I", n + 1))
        return p

    def list_push(self, tail: bool) -> Callable[..., int]:
        def op(m: Any, head: int, node: int, meta: int, off: int, *_: int) -> int:
            # __bpf_list_add
            if not m.read_u64(head):
                m.write(head, struct.pack("<QQ", head, head))  # INIT_LIST_HEAD
            if m.read_u64(node + 16):  # node->owner already set: refused, object dropped
                self._drop(m, node - off, self._rec(meta))
                return -errno.EINVAL & U64
            if tail:
                prev = m.read_u64(head + 8)
                nxt = head
            else:
                prev = head
                nxt = m.read_u64(head)
            m.write(node, struct.pack("<QQ", nxt, prev))
            m.write_u64(prev, node)  # prev->next
            m.write_u64(nxt + 8, node)  # next->prev
            m.write_u64(node + 16, head)  # owner
            return 0
        return op

    def list_pop(self, tail: bool) -> Callable[..., int]:
        def op(m: Any, head: int, *_: int) -> int:
            # __bpf_list_del
            if not m.read_u64(head):
                m.write(head, struct.pack("<QQ", head, head))
            first = m.read_u64(head + 8) if tail else m.read_u64(head)
            if first == head:
                return 0
            if m.read_u64(first + 16) != head:
                self.warnings.append(f"WARNING: bpf_list node {first:#x} not owned by head {head:#x}")
                return 0
            nxt, prev = struct.unpack("<QQ", m.read(first, 16))
            m.write_u64(prev, nxt)
            m.write_u64(nxt + 8, prev)
            m.write(first, struct.pack("<QQQ", first, first, 0))  # list_del_init, owner NULL
            return first
        return op

    def impls(self) -> dict[str, Callable[..., int]]:
        """The implementations, by kfunc name."""
        def not_modelled(name: str) -> Callable[..., int]:
            def op(m: Any, *_: int) -> int:
                raise NotModelled(f"kfunc {name}: not modelled at run time by the emulated kernel")
            return op
        out: dict[str, Callable[..., int]] = {n: not_modelled(n) for n in _NOT_AT_RUN_TIME}
        out.update({
            "bpf_obj_new_impl": self.obj_new, "bpf_obj_drop_impl": self.obj_drop,
            "bpf_percpu_obj_new_impl": self.percpu_obj_new, "bpf_percpu_obj_drop_impl": self.percpu_obj_drop,
            "bpf_refcount_acquire_impl": self.refcount_acquire,
            "bpf_list_push_front_impl": self.list_push(False), "bpf_list_push_back_impl": self.list_push(True),
            "bpf_list_pop_front": self.list_pop(False), "bpf_list_pop_back": self.list_pop(True),
        })
        from .rbtree_rt import RbTrees
        trees = RbTrees(self)

        def rbtree_add(m: Any, *_: int) -> int:  # called only through its calls_bpf generator
            raise NotModelled("bpf_rbtree_add_impl needs the machine's callback calls (bind_calling)")
        rbtree_add.calls_bpf = trees.add  # type: ignore[attr-defined]
        out.update({"bpf_rbtree_add_impl": rbtree_add, "bpf_rbtree_remove": trees.remove,
                    "bpf_rbtree_first": trees.first})
        return out
