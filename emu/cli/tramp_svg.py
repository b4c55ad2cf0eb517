"""``tramp --svg FILE``: the trampoline image pages of a struct_ops map as a picture.

One row per image page (4096 bytes, ``PAGE_SIZE``), one box per trampoline at
its offset, as wide as what it takes in the page (its code and
``BPF_INSN_SAFETY``, as ``bpf_struct_ops_prepare_trampoline`` reserves it,
kernel/bpf/bpf_struct_ops.c, Linux 6.18), labelled with the member and its
sizes; the free space at each page's end is hatched and labelled. When the
map needs more pages than the profile allows, the trampoline that did not fit
is drawn in red after the last page with the kernel's answer (``-E2BIG`` from
BPF_MAP_UPDATE_ELEM).

Plain SVG 1.1 text (well-formed XML, no script, no external resource), made by
hand: a few rectangles need no plotting library.
"""

from __future__ import annotations

from html import escape
from typing import Any

from kernel_model.uapi import PAGE_SIZE

__all__ = ["pages_svg"]

_W, _ROW, _GAP, _LEFT, _TOP = 820, 56, 26, 70, 48
_COLOURS = ("#4e79a7", "#59a14f", "#9c755f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#f28e2b")


def _attr(v: Any) -> str:
    return escape(str(v), quote=True)


def pages_svg(plan: Any, failed_member: str | None = None, failed_size: int | None = None) -> str:
    """The SVG text for a :class:`emu.kernel.planner.PagePlan` (its ``placements``,
    ``pages``, ``error``; ``failed_member``/``failed_size``: the trampoline that met
    E2BIG, when known)."""
    scale = _W / PAGE_SIZE
    pages = max([plan.pages] + [p.page + 1 for p in plan.placements])
    rows = pages + (1 if plan.error is not None else 0)
    height = _TOP + rows * (_ROW + _GAP) + 20
    width = _LEFT + _W + 30
    title = (f"struct {plan.desc.name}: {len(plan.placements)} trampolines in {pages} page(s), "
             f"profile {plan.profile.name} (limit {plan.profile.tramp_image_pages})")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f"<title>{escape(title)}</title>",
           '<defs><pattern id="free" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern></defs>',
           f'<text x="{_LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
           f'<text x="{_LEFT}" y="36" fill="#555">box width: bytes taken in the page (code + BPF_INSN_SAFETY 64); '
           f'label: member, code bytes</text>']
    used = {k: 0 for k in range(pages)}
    for k in range(pages):
        y = _TOP + k * (_ROW + _GAP)
        out.append(f'<text x="{_LEFT - 8}" y="{y + _ROW / 2 + 4}" text-anchor="end">page {k}</text>')
        out.append(f'<rect x="{_LEFT}" y="{y}" width="{_W}" height="{_ROW}" fill="url(#free)" stroke="#888"/>')
    for n, p in enumerate(plan.placements):
        y = _TOP + p.page * (_ROW + _GAP)
        x, w = _LEFT + p.offset * scale, max(p.size * scale, 1.0)
        used[p.page] = max(used[p.page], p.offset + p.size)
        member = plan.member_for(p)
        tip = f"{member}: offset {p.offset}, code {p.code_size} bytes, takes {p.size}"
        out.append(f'<g><title>{escape(tip)}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{_ROW}" '
                   f'fill="{_COLOURS[n % len(_COLOURS)]}" stroke="#fff"/>')
        if w > 34:
            out.append(f'<text x="{x + 3:.1f}" y="{y + 22}" fill="#fff" textLength="{min(w - 6, 7 * len(member)):.1f}" '
                       f'lengthAdjust="spacingAndGlyphs">{escape(member)}</text>'
                       f'<text x="{x + 3:.1f}" y="{y + 40}" fill="#fff">{p.code_size}</text>')
        out.append("</g>")
    for k in range(pages):
        y = _TOP + k * (_ROW + _GAP)
        free = PAGE_SIZE - used[k]
        out.append(f'<text x="{_LEFT + _W}" y="{y + _ROW + 14}" text-anchor="end" fill="#555">'
                   f"used {used[k]} bytes, free {free}</text>")
    if plan.error is not None:
        y = _TOP + pages * (_ROW + _GAP)
        w = (failed_size or 0) * scale or _W / 4
        what = f"{failed_member} ({failed_size} bytes)" if failed_member and failed_size else (failed_member or "the next trampoline")
        out.append(f'<rect x="{_LEFT}" y="{y}" width="{w:.1f}" height="{_ROW}" fill="#ffd6d6" stroke="#d62728" '
                   f'stroke-dasharray="5,3" stroke-width="2"/>')
        out.append(f'<text x="{_LEFT + 6}" y="{y + _ROW / 2 + 4}" fill="#d62728" font-weight="bold">E2BIG: {escape(what)} '
                   f"needs page {pages}, the profile allows {plan.profile.tramp_image_pages}</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
