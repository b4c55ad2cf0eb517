"""The bits iterator in the emulated kernel (:mod:`kernel_model.bits_iter`, kernel/bpf/helpers.c
6.11-6.18): ``bpf_iter_bits_new``/``next``/``destroy`` on the 16-byte ``struct bpf_iter_bits``
of the program's stack, with the kernel's ``bpf_iter_bits_kern`` layout
(``{u64 *bits | u64 bits_copy; int nr_bits; int bit;}``). The source words are read as
``bpf_probe_read_kernel_common`` reads them (a user or unmapped address fails with
``-EFAULT``); more than one word goes to a kmalloc'd block (the kernel's ``bpf_mem_alloc``
from ``bpf_global_ma``: the allocator differs, the sizes and errors are the kernel's),
freed by ``destroy``. Registered with the flags of ``common_btf_ids`` (every program type).
"""

from __future__ import annotations

import errno
import struct
from typing import Any, Callable

from kernel_model.bits_iter import BITS_ITER_NR_WORDS_MAX, BITS_KFUNCS, BPF_MEM_ALLOC_SIZE_MAX, LLIST_NODE_SZ
from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.core_kfuncs import kfunc_prog_types
from kernel_model.bpf_facts import kfuncs as facts
from kernel_model.modules import Kfunc, KfuncEntry, KfuncTable
from kernel_model.uapi import PAGE_SIZE

from .usermem import TASK_SIZE_MAX

__all__ = ["register_bits_kfuncs"]

M64 = (1 << 64) - 1


def _neg(e: int) -> int:
    return -e & M64


def _read_kernel(m: Any, src: int, size: int) -> bytes | int:
    """``bpf_probe_read_kernel_common`` (``copy_from_kernel_nofault``): the bytes, or the
    errno: ``ERANGE`` for an address ``copy_from_kernel_nofault_allowed`` refuses (x86-64: a
    user address, below ``TASK_SIZE_MAX + PAGE_SIZE``, or a non-canonical one), ``EFAULT``
    for a kernel address that faults."""
    src &= M64
    if src < TASK_SIZE_MAX + PAGE_SIZE or not m.mem.canonical(src):
        return errno.ERANGE
    reg = m.mem.region_of(src)
    if reg is None or src + size > reg.end:
        return errno.EFAULT
    return bytes(m.mem.peek(src, size))


def _state(m: Any, it: int) -> tuple[int, int, int]:
    """(bits pointer or copy, nr_bits, bit) of the iterator at ``it``."""
    word, nr_bits, bit = struct.unpack("<Qii", bytes(m.read(it, 16)))
    return word, nr_bits, bit


def bits_new(m: Any, it: int, ptr: int, nr_words: int, *_: int) -> int:
    nr_words &= 0xFFFF_FFFF
    nr_bytes = (nr_words * 8) & 0xFFFF_FFFF
    nr_bits = (nr_bytes * 8) & 0xFFFF_FFFF
    m.write(it, struct.pack("<Qii", 0, 0, -1))
    if not ptr or not nr_words:
        return _neg(errno.EINVAL)
    if nr_words > BITS_ITER_NR_WORDS_MAX:
        return _neg(errno.E2BIG)
    if nr_bits == 64:
        data = _read_kernel(m, ptr, nr_bytes)
        if isinstance(data, int):
            return _neg(errno.EFAULT)  # whatever the read's error
        m.write(it, data)
        m.write(it + 8, struct.pack("<i", 64))
        return 0
    if nr_bytes > BPF_MEM_ALLOC_SIZE_MAX - LLIST_NODE_SZ:  # bpf_mem_alloc_check_size
        return _neg(errno.E2BIG)
    block = int(m.alloc.kmalloc(nr_bytes))
    m.write(it, struct.pack("<Q", block))
    data = _read_kernel(m, ptr, nr_bytes)
    if isinstance(data, int):
        m.alloc.kfree(block)
        return _neg(data)  # the read's error as it is
    m.write(block, data)
    m.write(it + 8, struct.pack("<i", nr_bits))
    return 0


def bits_next(m: Any, it: int, *_: int) -> int:
    word, nr_bits, bit = _state(m, it)
    if not nr_bits or bit >= nr_bits:
        return 0
    if nr_bits == 64:
        value = word
    else:
        value = int.from_bytes(bytes(m.read(word, nr_bits // 8)), "little")
    rest = value >> (bit + 1)  # find_next_bit(bits, nr_bits, bit + 1)
    bit = bit + 1 + ((rest & -rest).bit_length() - 1) if rest else nr_bits
    m.write(it + 12, struct.pack("<i", bit))
    return 0 if bit >= nr_bits else it + 12


def bits_destroy(m: Any, it: int, *_: int) -> int:
    word, nr_bits, _bit = _state(m, it)
    if nr_bits > 64:
        m.alloc.kfree(word)
    return 0


def register_bits_kfuncs(btf: BTF, table: KfuncTable) -> None:
    """Add the three kfuncs (those whose FUNC the vmlinux BTF has: 6.11+ profiles)."""
    impls: dict[str, Callable[..., int]] = {"bpf_iter_bits_new": bits_new, "bpf_iter_bits_next": bits_next,
                                            "bpf_iter_bits_destroy": bits_destroy}
    for name in BITS_KFUNCS:
        fid = btf.find(name, S.KIND_FUNC)
        if fid is not None:
            flags = frozenset(facts.kfunc(name).flags or ())
            table.add(KfuncEntry(name, btf, fid, Kfunc(name, impls[name], flags, kfunc_prog_types(name)), None))
