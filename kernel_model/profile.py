"""Kernel-version profiles.

A profile names a kernel version whose behaviour we model. Version-dependent
rules in the rest of the project branch on a profile's fields only, never on a
version string, and each field cites where the behaviour changed. What the
CPU, the boot-time mitigations and the x86 build options change in emitted
code (return thunk, retpolines, IBT, call-depth tracking, SLS, BMI2) is not a
profile fact: :mod:`kernel_model.cpu` models it, orthogonally to the version.

Version knob (x86-64, ``arch/x86/net/bpf_jit_comp.c``):

* ``prologue_nops``: the fentry patch site (nop5) and the tail-call padding
  (nop3 in the main program) at the start of a JIT image (``emit_prologue``).

Version facts (``kernel/bpf/bpf_struct_ops.c``): ``MAX_TRAMP_IMAGE_PAGES`` = 8
arrived with "bpf: struct_ops supports more than one page for trampolines"
(Kui-Feng Lee, Linux 6.9); before it a map had one page. ``__nullable`` stub
arguments ("bpf: add nullable arguments for struct_ops", Linux 6.9).
Module-registered struct_ops types (``register_bpf_struct_ops`` used by
modules, Linux 6.9). kallsyms entries ``bpf__<type>_<member>`` for a struct_ops
map's trampolines (``bpf_struct_ops_map_add_ksyms``): "bpf: Add kernel symbol
for struct_ops trampoline" (Xu Kuohai), Linux 6.13, backported to the 6.12
stable series (present in 6.12.118's kernel/bpf/bpf_struct_ops.c), absent from
6.8-6.10. ``arch_bpf_timed_may_goto`` (the x86 JIT's timed ``may_goto``): "bpf:
Add support for timed may_goto" (Kumar Kartikeya Dwivedi), Linux 6.15.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import InputError

__all__ = ["Profile", "PROFILES", "get_profile", "LATEST"]


@dataclass(frozen=True, slots=True)
class Profile:
    """A modelled kernel version."""

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
    prologue_nops: bool = True
    #: a struct_ops map's trampolines get kallsyms entries (bpf_struct_ops_map_add_ksyms):
    #: Linux 6.13, and the 6.12 stable series
    struct_ops_ksyms: bool = False
    #: ``may_goto`` is fixed up to a call of ``arch_bpf_timed_may_goto`` (x86 JIT), Linux 6.15
    timed_may_goto: bool = False
    #: sched_ext exists (``CONFIG_SCHED_CLASS_EXT``), Linux 6.12
    sched_ext: bool = False
    #: sched_ext's later interface (6.13 on, as 6.18 has it): ``scx_bpf_dsq_insert`` names and
    #: kfunc contexts, ``sched_ext_ops__*`` stub names, per-node idle flags, the cgroup members
    #: (kernel/sched/ext.c)
    sched_ext_618_interface: bool = False


PROFILES: dict[str, Profile] = {
    "6.8": Profile("6.8", (6, 8), tramp_image_pages=1, nullable_args=False,
                   module_struct_ops=False, atomic_load_store=False),
    "6.9": Profile("6.9", (6, 9), tramp_image_pages=8, nullable_args=True,
                   module_struct_ops=True, atomic_load_store=False),
    "6.10": Profile("6.10", (6, 10), tramp_image_pages=8, nullable_args=True,
                    module_struct_ops=True, atomic_load_store=False),
    "6.12": Profile("6.12", (6, 12), tramp_image_pages=8, nullable_args=True,
                    module_struct_ops=True, atomic_load_store=False, struct_ops_ksyms=True,
                    sched_ext=True),
    "6.18": Profile("6.18", (6, 18), tramp_image_pages=8, nullable_args=True,
                    module_struct_ops=True, atomic_load_store=True, struct_ops_ksyms=True, timed_may_goto=True,
                    sched_ext=True, sched_ext_618_interface=True),
}
PROFILES["latest"] = replace(PROFILES["6.18"], name="latest")
LATEST = PROFILES["latest"]


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``latest``, ``6.8`` ...); InputError if unknown."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown kernel profile {name!r} (known: {', '.join(PROFILES)})") from None
