"""Kernel-version and configuration profiles.

A profile names a kernel version whose behaviour we model and the build/CPU
configuration knobs that change emitted bytes. Version-dependent rules in the
rest of the project branch on a profile's fields only, never on a version
string, and each field cites where the behaviour changed.

Configuration knobs (x86-64, ``arch/x86/net/bpf_jit_comp.c``):

* ``ibt``: CONFIG_X86_KERNEL_IBT -- JIT images and indirect-call targets start
  with ``endbr64`` (``EMIT_ENDBR``). The host (Linux 6.18, this VM) has it off.
* ``return_thunk``: CONFIG_MITIGATION_RETHUNK with a CPU needing it -- every
  ``ret`` is emitted as ``jmp <x86_return_thunk>`` (``emit_return``). The host
  has it on: its thunk is ``srso_return_thunk``.
* ``call_depth_tracking``: CONFIG_MITIGATION_CALL_DEPTH_TRACKING active on the
  CPU (``x86_call_depth_emit_accounting``): adds call-depth accounting before
  calls. Off on this AMD host at run time.
* ``prologue_nops``: the fentry patch site (nop5) and the tail-call padding
  (nop3 in the main program) at the start of a JIT image (``emit_prologue``).

Version facts (``kernel/bpf/bpf_struct_ops.c``): ``MAX_TRAMP_IMAGE_PAGES`` = 8
arrived with "bpf: struct_ops supports more than one page for trampolines"
(Kui-Feng Lee, Linux 6.9); before it a map had one page. ``__nullable`` stub
arguments ("bpf: add nullable arguments for struct_ops", Linux 6.9).
Module-registered struct_ops types (``register_bpf_struct_ops`` used by
modules, Linux 6.9).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import InputError

__all__ = ["Profile", "PROFILES", "get_profile", "LATEST"]


@dataclass(frozen=True, slots=True)
class Profile:
    """A modelled kernel: version behaviour plus configuration knobs."""

    name: str
    version: tuple[int, int]
    #: pages a struct_ops map's trampoline image may use (MAX_TRAMP_IMAGE_PAGES)
    tramp_image_pages: int
    #: the verifier honours ``__nullable`` stub argument names
    nullable_args: bool
    #: modules may register their own struct_ops types
    module_struct_ops: bool
    #: 8/16-bit atomics (load-acquire/store-release), Linux 6.15
    atomic_load_store: bool
    ibt: bool = False
    return_thunk: bool = True
    call_depth_tracking: bool = False
    prologue_nops: bool = True

    def with_config(self, **knobs: bool) -> "Profile":
        """A copy with configuration knobs changed (``ibt=True`` ...)."""
        return replace(self, **knobs)


PROFILES: dict[str, Profile] = {
    "6.8": Profile("6.8", (6, 8), tramp_image_pages=1, nullable_args=False,
                   module_struct_ops=False, atomic_load_store=False),
    "6.9": Profile("6.9", (6, 9), tramp_image_pages=8, nullable_args=True,
                   module_struct_ops=True, atomic_load_store=False),
    "6.10": Profile("6.10", (6, 10), tramp_image_pages=8, nullable_args=True,
                    module_struct_ops=True, atomic_load_store=False),
    "6.12": Profile("6.12", (6, 12), tramp_image_pages=8, nullable_args=True,
                    module_struct_ops=True, atomic_load_store=False),
    "6.18": Profile("6.18", (6, 18), tramp_image_pages=8, nullable_args=True,
                    module_struct_ops=True, atomic_load_store=True),
}
PROFILES["latest"] = replace(PROFILES["6.18"], name="latest")
LATEST = PROFILES["latest"]


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``latest``, ``6.8`` ...); InputError if unknown."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown kernel profile {name!r} (known: {', '.join(PROFILES)})") from None
