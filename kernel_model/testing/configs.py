"""Kernel versions, CPU configurations and trampoline configurations (needs hypothesis).

* :func:`profiles` -- modelled kernel versions (:mod:`kernel_model.profile`).
* :func:`cpu_configs` -- the CPU presets of :mod:`kernel_model.cpu`, with IBT
  and call-depth tracking drawn or fixed.
* :func:`trampoline_configs` -- :class:`TrampolineConfig`: what decides a
  struct_ops trampoline's size and how many image pages a map may use -- the
  profile (``MAX_TRAMP_IMAGE_PAGES``: 1 on 6.8, 8 from 6.9) and the CPU
  (``endbr64`` under IBT: 4 bytes; call-depth accounting: 9 bytes before each of
  the three calls; the return: ``jmp`` to a return thunk, 5 bytes, or ``ret``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from ..cpu import PRESETS, CpuConfig
from ..profile import PROFILES, Profile
from .hypothesis_support import InvalidArgument, check_int, check_names, st

__all__ = ["profiles", "cpu_configs", "trampoline_configs", "TrampolineConfig", "PROFILE_NAMES"]

#: the modelled versions, oldest first ("latest" is 6.18 under another name)
PROFILE_NAMES = tuple(sorted((n for n in PROFILES if n != "latest"), key=lambda n: PROFILES[n].version))


@dataclass(frozen=True, slots=True)
class TrampolineConfig:
    """A kernel version and the CPU it runs on, as far as trampolines go."""

    profile: Profile
    cpu: CpuConfig

    @property
    def max_pages(self) -> int:
        """``MAX_TRAMP_IMAGE_PAGES`` of the profile."""
        return self.profile.tramp_image_pages

    def __repr__(self) -> str:
        return (f"TrampolineConfig(profile={self.profile.name!r}, cpu={self.cpu.name!r}, "
                f"max_pages={self.max_pages})")


def profiles(*, names: Sequence[str] | None = None) -> st.SearchStrategy[Profile]:
    """One of the modelled kernel versions (by default every one, oldest first, so
    shrinking goes toward 6.8), or of ``names``."""
    return _profiles(names, "names")


def _profiles(names: Sequence[str] | None, argument: str) -> st.SearchStrategy[Profile]:
    chosen = PROFILE_NAMES if names is None else check_names(argument, names, tuple(PROFILES))
    return st.sampled_from([PROFILES[n] for n in chosen])


def _cpu(preset: CpuConfig, ibt: bool, cdt: bool) -> CpuConfig:
    knobs: dict[str, object] = {}
    if preset.ibt != ibt:
        knobs["ibt"] = ibt
    if preset.call_depth_tracking != cdt:
        knobs["call_depth_tracking"] = cdt
        # X86_FEATURE_CALL_DEPTH comes with call_depth_return_thunk (bugs.c, retbleed/ITS
        # "stuff"); without it, a stuffing preset returns through the default thunk
        if cdt:
            knobs["return_thunk"] = "call_depth_return_thunk"
        elif preset.return_thunk == "call_depth_return_thunk":
            knobs["return_thunk"] = "__x86_return_thunk"
    return preset.with_knobs(**knobs) if knobs else preset


def _knob(name: str, value: object) -> st.SearchStrategy[bool | None]:
    """None (the preset's value), a bool (fixed) or a strategy of bools (drawn)."""
    if value is None or isinstance(value, bool):
        return st.just(value)
    if isinstance(value, st.SearchStrategy):
        return value
    raise InvalidArgument(f"{name}={value!r} must be None (the preset's), True, False or a strategy of bools")


def cpu_configs(*, presets: Sequence[str] | None = None, ibt: bool | None | st.SearchStrategy[bool] = None,
                call_depth_tracking: bool | None | st.SearchStrategy[bool] = None) -> st.SearchStrategy[CpuConfig]:
    """A CPU preset (any of ``kernel_model.cpu.PRESETS``, or of ``presets``), with
    IBT and call-depth tracking as the preset has them (``None``), fixed
    (``True``/``False``) or drawn (a strategy, e.g. ``st.booleans()``). Turning
    call-depth tracking on also makes the return thunk ``call_depth_return_thunk``,
    as the kernel does (arch/x86/kernel/cpu/bugs.c, "stuff" mitigations); the
    changed configuration is named ``<preset>+<knob>=<value>``."""
    names = tuple(PRESETS) if presets is None else check_names("presets", presets, tuple(PRESETS))
    ibt_st = _knob("ibt", ibt)
    cdt_st = _knob("call_depth_tracking", call_depth_tracking)

    @st.composite
    def draw_cpu(draw: st.DrawFn) -> CpuConfig:
        preset = PRESETS[draw(st.sampled_from(names))]
        i = draw(ibt_st)
        c = draw(cdt_st)
        return _cpu(preset, preset.ibt if i is None else i, preset.call_depth_tracking if c is None else c)

    return draw_cpu()


def trampoline_configs(*, profile_names: Sequence[str] | None = None, presets: Sequence[str] | None = None,
                       ibt: bool | None | st.SearchStrategy[bool] = None,
                       call_depth_tracking: bool | None | st.SearchStrategy[bool] = None,
                       max_pages: int | None = None) -> st.SearchStrategy[TrampolineConfig]:
    """A :class:`TrampolineConfig`: a profile (:func:`profiles`), a CPU
    (:func:`cpu_configs`: IBT and call-depth tracking as the preset has them,
    fixed, or drawn from a strategy). With
    ``max_pages``, the profile's ``MAX_TRAMP_IMAGE_PAGES`` is replaced (a kernel
    built with another limit; the profile's name says so)."""
    prof = _profiles(profile_names, "profile_names")
    cpus = cpu_configs(presets=presets, ibt=ibt, call_depth_tracking=call_depth_tracking)
    if max_pages is not None:
        check_int("max_pages", max_pages, 1, 1 << 16)
        prof = prof.map(lambda p: replace(p, name=f"{p.name}+tramp_image_pages={max_pages}",
                                          tramp_image_pages=max_pages))
    return st.builds(TrampolineConfig, prof, cpus)

