"""The helpers that call a BPF callback: ``bpf_loop``, ``bpf_for_each_map_elem`` and
``bpf_user_ringbuf_drain`` (:meth:`emu.kernel.maps.user_ringbuf.UserRingbufMap.drain`).

Each is a generator run by :mod:`emu.machine.callbacks`: it yields ``(callback, args)``
and the callback's JIT image runs inside the program's run, on its stack, returning its
r0 to the helper, as the kernel's C helper calls it (Linux 6.18 sources, named per helper):

* ``bpf_loop(nr_loops, callback_fn, callback_ctx, flags)`` (kernel/bpf/bpf_iter.c):
  ``-EINVAL`` for non-zero flags, ``-E2BIG`` above ``BPF_MAX_LOOPS`` (8M); then
  ``callback_fn(i, ctx, 0, 0, 0)`` for ``i`` from 0, stopping when it returns non-zero
  (the result is then ``i + 1``), else ``nr_loops``. When the verifier found the flags
  to be the constant 0 and one callback, the call never reaches this helper: it is
  inlined (``optimize_bpf_loop``, :mod:`verifier.loop_inline`) and the JIT'd program
  calls the callback itself.
* ``bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags)``: ``map->ops->
  map_for_each_callback``, ``-EINVAL`` for non-zero flags, then
  ``callback_fn(map, key, value, ctx, 0)`` per element, stopping after a non-zero
  return; the result is the number of elements the callback was called for.

  - arrays (kernel/bpf/arraymap.c ``bpf_for_each_array_elem``): every index below
    ``max_entries``; the key is a ``u32`` in the helper's frame; a per-CPU array passes
    the running CPU's copy;
  - hashes (kernel/bpf/hashtab.c ``bpf_for_each_hash_elem``, also per-CPU and LRU):
    bucket by bucket, newest first inside a bucket (the ``hlist_nulls`` walk), the key
    and value pointers into the element (per-CPU: the running CPU's copy). The walk
    follows the live list as the kernel's does: an element the callback deletes still
    leads to the one after it, an element added (or replaced, which links a new one at
    the head of its bucket) in the bucket being walked is not visited, one added in a
    later bucket is.

Where we differ: a preallocated hash element the callback deletes and a later insert
reuses at once would, in the kernel, send the walk down the reused element's new
bucket; here the walk goes on in the old bucket's order.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any, Iterator, NoReturn

from .bpf_helpers import M64, neg_errno

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine.callbacks import CallbackGen

    from .bpf_maps import MapObject

__all__ = ["callback_helpers", "BPF_MAX_LOOPS", "CALLING_HELPERS"]

#: include/linux/bpf.h
BPF_MAX_LOOPS = 8 * 1024 * 1024
#: helper id -> bytes of the helper's frame its generator uses (the for_each array key)
CALLING_HELPERS = {181: 0, 164: 8, 209: 16}


def callback_helpers(maps_by_addr: dict[int, "MapObject"]) -> dict[int, Any]:
    """``{helper id: generator function}`` for :func:`emu.machine.callbacks.bind_calling`."""

    def bpf_loop(m: Any, loc: int, nr_loops: int, fn: int, ctx: int, flags: int, _r5: int) -> "CallbackGen":
        nr = nr_loops & 0xFFFF_FFFF
        if flags:
            return neg_errno(errno.EINVAL)
        if nr > BPF_MAX_LOOPS:
            return neg_errno(errno.E2BIG)
        for i in range(nr):
            if (yield fn, (i, ctx, 0, 0, 0)):
                return i + 1
        return nr

    def for_each_map_elem(m: Any, loc: int, map_addr: int, fn: int, ctx: int, flags: int,
                          _r5: int) -> "CallbackGen":
        mo = maps_by_addr.get(map_addr & M64)
        if mo is None:  # the verifier lets only a CONST_PTR_TO_MAP through
            raise_bad_map(map_addr)
        if flags:
            return neg_errno(errno.EINVAL)
        n = 0
        for key, value in _elements(m, mo, loc):
            n += 1
            if (yield fn, (map_addr, key, value, ctx, 0)):
                break
        return n

    def user_ringbuf_drain(m: Any, loc: int, map_addr: int, fn: int, ctx: int, flags: int,
                           _r5: int) -> "CallbackGen":
        from .maps.user_ringbuf import UserRingbufMap

        mo = maps_by_addr.get(map_addr & M64)
        if not isinstance(mo, UserRingbufMap):  # the verifier lets only a user ring buffer through
            raise_bad_map(map_addr)
        return (yield from mo.drain(m, loc, fn, ctx, flags))

    return {181: bpf_loop, 164: for_each_map_elem, 209: user_ringbuf_drain}


def raise_bad_map(addr: int) -> NoReturn:
    from kernel_model.errors import KernelError

    raise KernelError(errno.EFAULT, f"r1 {addr:#x} is not a map")


def _elements(m: Any, mo: Any, loc: int) -> Iterator[tuple[int, int]]:
    """(key address, value address) of each element, in ``map_for_each_callback``'s order."""
    from kernel_model.errors import NotModelled

    from .bpf_maps import ArrayMap, HashMap
    from .maps.array import PercpuArrayMap

    cpu = max(m.runner.cpu, 0)
    if isinstance(mo, (ArrayMap, PercpuArrayMap)):
        for i in range(mo.spec.max_entries):
            m.write(loc, struct.pack("<I", i))  # key = i, in bpf_for_each_array_elem's frame
            if isinstance(mo, PercpuArrayMap):
                yield loc, mo.lookup_this_cpu(struct.pack("<I", i), cpu)
            else:
                yield loc, mo.spec.value_addr + i * mo.elem_size
        return
    if isinstance(mo, HashMap):
        cpu_addr = getattr(mo, "_cpu_addr", None)
        for key in _hash_walk(mo):
            elem = mo.table[key]
            yield elem + mo.key_off, cpu_addr(elem, cpu) if cpu_addr is not None else elem + mo.value_off
        return
    raise NotModelled(f"bpf_for_each_map_elem over a map of type {mo.spec.map_type} at run time")


def _hash_walk(hm: Any) -> Iterator[bytes]:
    """The keys ``bpf_for_each_hash_elem`` reaches, following the live bucket lists:
    inside a bucket the next element is the newest one linked before the current one."""
    seq = hm._seq
    buckets: dict[int, list[bytes]] = {}
    version: tuple[int, int] | None = None
    b, last = -1, 0
    while True:
        now = (hm._clock, hm.count)
        if now != version:  # the callback changed the map: the lists as they are now
            version = now
            buckets.clear()
            for k in hm.table:
                buckets.setdefault(hm.bucket_of(k), []).append(k)
        older = [k for k in buckets.get(b, ()) if seq[k] < last]
        if not older:
            later = [x for x in buckets if x > b]
            if not later:
                return
            b = min(later)
            older = buckets[b]
        key = max(older, key=seq.__getitem__)
        last = seq[key]
        yield key
