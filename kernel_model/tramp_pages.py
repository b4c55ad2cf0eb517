"""How struct_ops trampolines are packed into image pages: the rule, on sizes.

``bpf_struct_ops_map_update_elem()`` (kernel/bpf/bpf_struct_ops.c, Linux 6.12;
6.18 unchanged) walks the members in declaration order and, for each function
member that holds a program, calls ``bpf_struct_ops_prepare_trampoline()``:
the trampoline's size (``arch_bpf_trampoline_size()``, code plus
``BPF_INSN_SAFETY``) is taken first; when there is no image page yet or the
size does not fit in the rest of the current page (``size > PAGE_SIZE -
image_off``), a new 4 KiB page is allocated -- allowed only while the map has
fewer than ``MAX_TRAMP_IMAGE_PAGES`` pages, else ``-E2BIG`` -- and the
trampoline starts at its offset 0. A trampoline never crosses a page, the
space left at a page's end is never reused, and the offset advances by the
size.

This module is that rule on plain sizes, with no machine and no arch: the
sizes come from the arch (:mod:`jit.trampoline` for x86-64), the page limit
from the profile (:attr:`kernel_model.profile.Profile.tramp_image_pages`).
:class:`kernel_model.struct_ops_map.StructOpsMap` applies
:func:`needs_new_page` as it emits; :func:`pack` replays the whole walk;
``emu.testing.tramp_pages`` supplies the sizes of a real type.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Iterable

from .errors import InputError

__all__ = ["PAGE_SIZE", "Packing", "needs_new_page", "pack", "per_page", "pages_for"]

from .uapi import PAGE_SIZE  # x86-64's PAGE_SIZE: one trampoline image page


def _check_size(size: int, what: str = "size") -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise InputError(f"trampoline {what} must be an int, not {type(size).__name__}")
    if not 0 < size <= PAGE_SIZE:
        raise InputError(f"trampoline {what} {size} is not in 1..{PAGE_SIZE} (one page)")


def needs_new_page(image_off: int | None, size: int) -> bool:
    """``!image || size > PAGE_SIZE - image_off``: whether a trampoline of
    ``size`` bytes starts a new page. ``image_off`` is the bytes used in the
    current page, or None before the first page is allocated."""
    return image_off is None or size > PAGE_SIZE - image_off


@dataclass(frozen=True, slots=True)
class Packing:
    """Where each trampoline of a walk lands.

    ``slots[i]`` is ``(page, offset)`` of the i-th size. ``pages`` is the number
    of pages the walk needs without a limit. With a limit, ``overflow_at`` is the
    index of the first trampoline that would need page ``max_pages + 1`` -- where
    the kernel returns ``-E2BIG`` and frees every page -- or None when all fit.
    """

    slots: tuple[tuple[int, int], ...]
    pages: int
    max_pages: int | None
    overflow_at: int | None

    @property
    def fits(self) -> bool:
        """True when the kernel's update succeeds (as far as pages go)."""
        return self.overflow_at is None

    @property
    def errno(self) -> int:
        """0 when it fits, else ``E2BIG`` (what the map update returns)."""
        return 0 if self.fits else errno.E2BIG


def pack(sizes: Iterable[int], *, max_pages: int | None = None) -> Packing:
    """The update's greedy walk over ``sizes`` (in member order): see the module
    docstring. ``max_pages`` None means no limit."""
    if max_pages is not None and (isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1):
        raise InputError(f"max_pages must be a positive int or None, not {max_pages!r}")
    slots: list[tuple[int, int]] = []
    page = -1
    off: int | None = None
    overflow = None
    for i, size in enumerate(sizes):
        _check_size(size, f"size #{i}")
        if needs_new_page(off, size):
            page += 1
            off = 0
            if max_pages is not None and page >= max_pages and overflow is None:
                overflow = i
        assert off is not None
        slots.append((page, off))
        off += size
    return Packing(tuple(slots), page + 1, max_pages, overflow)


def per_page(size: int) -> int:
    """How many trampolines of ``size`` bytes one page holds: ``PAGE_SIZE // size``
    (greedy packing of equal sizes leaves only the remainder unused)."""
    _check_size(size)
    return PAGE_SIZE // size


def pages_for(count: int, size: int) -> int:
    """Pages ``count`` trampolines of ``size`` bytes need: ``ceil(count / per_page(size))``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"trampoline count must be a non-negative int, not {count!r}")
    n = per_page(size)
    return -(-count // n)
