"""A decoded blob's type section, kept as 32-bit words until a record is needed.

Not a kernel structure: the kernel walks ``struct btf_type`` records in place
(btf_check_all_metas() in kernel/bpf/btf.c steps from one record to the next by
btf_type_size()), and this is the same idea for Python. Turning 126,000 records
of a vmlinux into objects costs half a second, so :func:`scan` only finds where
each record starts (one step per record, as the kernel's walk does) and the
meta rules of btf_check_meta() are then checked in bulk over the words
(:func:`meta_ok`). A record becomes a :mod:`~kernel_model.btf.types` object
only when someone asks for it (codec.decode_record()); validation, the raw dump
and the C dump read the words directly (validate.py, rawdump.py, cdump.py).

The bulk checks only *accept*: when one of them does not hold, the caller runs
the record-by-record decoder of codec.py, which names the first rule broken as
the kernel would. So these checks may be stricter than the kernel (a nonzero
name offset of an empty string, say, sends the blob to the slow path) but
never looser.
"""

from __future__ import annotations

import sys
from array import array
from functools import reduce
from itertools import repeat
from operator import add, and_, itemgetter, or_
from typing import TYPE_CHECKING

from . import structs as S

if TYPE_CHECKING:
    from .btf import BTF
    from .codec import StringTable

__all__ = ["TypeSection", "scan", "meta_ok", "kind_table", "RECORD_WORDS", "ITEM_WORDS"]

_NO_KIND = 1 << 40  # a step past any section: an unknown kind ends the walk early, and the caller falls back

#: Words of each kind's fixed part (struct btf_type + its trailing struct), by kind number.
RECORD_WORDS = [_NO_KIND] * 32
#: Words of each of the ``vlen`` trailing items (members, params, enumerators, section entries).
ITEM_WORDS = [0] * 32
for _k, _fixed, _item in (
        (S.KIND_INT, 4, 0), (S.KIND_PTR, 3, 0), (S.KIND_ARRAY, 6, 0), (S.KIND_STRUCT, 3, 3),
        (S.KIND_UNION, 3, 3), (S.KIND_ENUM, 3, 2), (S.KIND_FWD, 3, 0), (S.KIND_TYPEDEF, 3, 0),
        (S.KIND_VOLATILE, 3, 0), (S.KIND_CONST, 3, 0), (S.KIND_RESTRICT, 3, 0), (S.KIND_FUNC, 3, 0),
        (S.KIND_FUNC_PROTO, 3, 2), (S.KIND_VAR, 4, 0), (S.KIND_DATASEC, 3, 3), (S.KIND_FLOAT, 3, 0),
        (S.KIND_DECL_TAG, 4, 0), (S.KIND_TYPE_TAG, 3, 0), (S.KIND_ENUM64, 3, 3)):
    RECORD_WORDS[_k] = _fixed
    ITEM_WORDS[_k] = _item

# info bits that must be clear, per kind, beyond BTF_INFO_MASK (btf_check_meta()'s per-kind
# check_meta: "vlen != 0", "Invalid btf_info kind_flag").
_VLEN = 0x0000FFFF
_KFLAG = 0x80000000
_MUST_BE_CLEAR = [0] * 32
for _k in (S.KIND_PTR, S.KIND_CONST, S.KIND_VOLATILE, S.KIND_RESTRICT, S.KIND_TYPEDEF, S.KIND_ARRAY,
           S.KIND_INT, S.KIND_VAR, S.KIND_FLOAT):
    _MUST_BE_CLEAR[_k] = _VLEN | _KFLAG
for _k in (S.KIND_FUNC, S.KIND_FUNC_PROTO, S.KIND_DATASEC):
    _MUST_BE_CLEAR[_k] = _KFLAG
for _k in (S.KIND_FWD, S.KIND_DECL_TAG, S.KIND_TYPE_TAG):
    _MUST_BE_CLEAR[_k] = _VLEN

# Kinds whose trailing items start with a name offset, and the items' stride in words.
_NAMED_ITEMS = ((S.KIND_STRUCT, 3), (S.KIND_UNION, 3), (S.KIND_ENUM, 2), (S.KIND_ENUM64, 3),
                (S.KIND_FUNC_PROTO, 2))


class TypeSection:
    """The type section of one blob, as words.

    Accessible attributes: ``data`` (the whole blob), ``type_start`` (byte offset
    of the type section in it), ``words`` (the section as unsigned 32-bit words in
    the host's byte order), ``offs`` (word index of each record, one per own type,
    then the section's length), ``kinds`` (one byte per own type: its kind),
    ``by_kind`` (for each kind number, the indexes ``id - start_id`` of its
    records, in id order), ``strtab``, ``start_id`` and ``n`` (own type count).
    """

    __slots__ = ("data", "type_start", "words", "offs", "kinds", "_by_kind", "_ids", "_pos", "_items", "_head",
                 "strtab", "start_id", "n", "_signed", "meta_checked")

    def __init__(self, data: bytes, type_start: int, words: array, offs: list[int] | array, kinds: bytes,
                 by_kind: list[list[int]] | None, strtab: StringTable, start_id: int) -> None:
        self.data = data
        self.type_start = type_start
        self.words = words
        self.offs = offs
        self.kinds = kinds
        self._by_kind = by_kind
        self.meta_checked = False  # set when the compiled scan already applied meta_ok()'s rules
        self._ids: dict[int, list[int]] = {}
        self._pos: dict[int, list[int]] = {}
        self._items: dict[int, array] = {}
        self._head: dict[int, list[int]] = {}
        self.strtab = strtab
        self.start_id = start_id
        self.n = len(kinds)
        self._signed: memoryview | None = None

    @property
    def by_kind(self) -> list[list[int]]:
        """For each kind number, the indexes ``id - start_id`` of its records, in order."""
        if self._by_kind is None:
            lists: list[list[int]] = [[] for _ in range(32)]
            add = [lst.append for lst in lists]
            for i, k in enumerate(self.kinds):
                add[k](i)
            self._by_kind = lists
        return self._by_kind

    def record_bytes(self, i: int) -> tuple[int, int]:
        """Byte range [start, end) of own record ``i`` (id ``start_id + i``) in ``data``."""
        return self.type_start + 4 * self.offs[i], self.type_start + 4 * self.offs[i + 1]

    def ids(self, kind: int) -> list[int]:
        """Type ids of every own record of ``kind``, in order."""
        got = self._ids.get(kind)
        if got is None:
            start = self.start_id
            got = self._ids[kind] = [i + start for i in self.by_kind[kind]]
        return got

    def positions(self, kind: int) -> list[int]:
        """Word index of every own record of ``kind``, in id order."""
        got = self._pos.get(kind)
        if got is None:
            offs = self.offs
            got = self._pos[kind] = [offs[i] for i in self.by_kind[kind]]
        return got

    def header(self, word: int) -> list[int]:
        """Word ``word`` (0 name offset, 1 info, 2 size or type) of every record, in id order."""
        got = self._head.get(word)
        if got is None:
            w = self.words
            offs = self.offs
            if len(offs) < 3:
                got = [w[p + word] for p in offs[:-1]]
            else:
                got = list(itemgetter(*(offs[:-1] if word == 0 else map(add, offs[:-1], repeat(word))))(w))
            self._head[word] = got
        return got

    def column(self, kind: int, word: int) -> list[int]:
        """Word ``word`` of every record of ``kind``, in id order."""
        if word <= 2:
            return pick(self.header(word), self.by_kind[kind])
        w = self.words
        return [w[p + word] for p in self.positions(kind)]

    def item_words(self, kind: int) -> array:
        """The trailing items (members, params, enumerators...) of every record of ``kind``, one
        after the other in id order, as one array of words."""
        got = self._items.get(kind)
        if got is None:
            w = self.words
            per = ITEM_WORDS[kind]
            got = array("I")
            for p in self.positions(kind):
                v = w[p + 1] & 0xFFFF
                if v:
                    got += w[p + 3:p + 3 + per * v]
            self._items[kind] = got
        return got

    @property
    def signed_words(self) -> memoryview:
        """``words`` read as signed 32-bit values (enumerator values of a signed ENUM, component_idx)."""
        if self._signed is None:
            self._signed = memoryview(self.words).cast("B").cast("i")
        return self._signed


def pick(seq: list[int], indexes: list[int]) -> list[int]:
    """``[seq[i] for i in indexes]``, at C speed."""
    if len(indexes) < 2:
        return [seq[i] for i in indexes]
    return list(itemgetter(*indexes)(seq))


def scan(data: bytes, type_start: int, type_end: int, start_id: int, strtab: StringTable,
         byteorder: str) -> TypeSection | None:
    """Find every record of the type section ``data[type_start:type_end]``.

    Returns None when the section cannot be read as whole 32-bit records of known
    kinds (the caller's record-by-record decoder then reports why).
    """
    words = array("I")
    if words.itemsize != 4 or (type_end - type_start) & 3:
        return None
    words.frombytes(data[type_start:type_end])
    if byteorder != sys.byteorder:
        words.byteswap()
    from .accel import module
    fast = module()
    if fast is not None:
        got = fast.scan(words, start_id, strtab.start_off + len(strtab.data))
        if got is None:
            return None
        offs_bytes, kinds = got
        offs_arr = array("I")
        offs_arr.frombytes(offs_bytes)
        sec = TypeSection(data, type_start, words, offs_arr, kinds, None, strtab, start_id)
        sec.meta_checked = True
        return sec
    n = len(words)
    offs: list[int] = []
    add_off = offs.append
    kinds = bytearray()
    add_kind = kinds.append
    by_kind: list[list[int]] = [[] for _ in range(32)]
    add_by_kind = [lst.append for lst in by_kind]
    fixed = RECORD_WORDS
    item = ITEM_WORDS
    p = 0
    i = 0
    try:
        while p < n:
            add_off(p)
            info = words[p + 1]
            k = info >> 24 & 31
            add_kind(k)
            add_by_kind[k](i)
            i += 1
            p += fixed[k] + (info & 0xFFFF) * item[k]
    except IndexError:  # a record header cut short
        return None
    if p != n or start_id + len(offs) - 1 > S.BTF_MAX_TYPE:
        return None
    offs.append(n)
    return TypeSection(data, type_start, words, offs, bytes(kinds), by_kind, strtab, start_id)


def meta_ok(sec: TypeSection) -> bool:
    """Whether every record passes btf_check_meta() (codec._decode_types() would raise nothing).

    True is a guarantee; False only means "let the record-by-record decoder say".
    """
    w = sec.words
    if not sec.n:
        return True
    infos = sec.header(1)
    if reduce(or_, infos) & ~S.BTF_INFO_MASK:
        return False
    if reduce(or_, map(and_, infos, map(_MUST_BE_CLEAR.__getitem__, sec.kinds))):
        return False
    pos = sec.positions
    # FWD and ARRAY carry 0 in the size/type word; INT data has no bits outside BTF_INT_MASK.
    if any(w[p + 2] for p in pos(S.KIND_FWD)) or any(w[p + 2] for p in pos(S.KIND_ARRAY)):
        return False
    if reduce(or_, [w[p + 3] for p in pos(S.KIND_INT)], 0) & ~S.BTF_INT_MASK:
        return False
    # Every name offset inside the string section (btf_name_offset_valid()).
    limit = sec.strtab.start_off + len(sec.strtab.data)
    if max(sec.header(0)) >= limit:
        return False
    top = 0
    for kind, stride in _NAMED_ITEMS:
        for p in pos(kind):
            vlen = w[p + 1] & 0xFFFF
            if vlen:
                m = max(w[p + 3:p + 3 + stride * vlen:stride])
                if m > top:
                    top = m
    return top < limit


def kind_table(btf: BTF) -> bytes:
    """The kind of every id of ``btf`` and its bases, indexed by id (0: void)."""
    head = kind_table(btf.base) if btf.base is not None else b"\0"
    sec = btf._section()
    own = sec.kinds if sec is not None else bytes(t.kind for t in btf._materialize_all())
    return head + own
