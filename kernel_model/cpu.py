"""The x86-64 platform a kernel runs on: what its JIT and trampolines emit.

The kernel's x86 code generators (``arch/x86/net/bpf_jit_comp.c``: ``do_jit``
and ``__arch_prepare_bpf_trampoline``) emit different bytes for the same
program depending on the CPU, on the mitigations chosen at boot
(``arch/x86/kernel/cpu/bugs.c``) and on a few x86 build options. A
:class:`CpuConfig` names every such choice; the kernel version
(:class:`kernel_model.profile.Profile`) is orthogonal to it, and the emulated
machine takes both.

Knobs, with where the kernel decides them (Linux 6.12.118 sources read, 6.18
host observed):

``return_thunk``
    ``x86_return_thunk`` when ``X86_FEATURE_RETHUNK`` is set, else ``None``.
    ``emit_return()`` emits ``jmp x86_return_thunk`` (5 bytes) on such a CPU,
    else ``ret`` (``c3``, plus ``int3`` with SLS). bugs.c picks the thunk:
    ``srso_return_thunk`` / ``srso_alias_return_thunk`` (SRSO "Safe RET"; the
    alias on family 0x19, ``srso_select_mitigation``, SRSO_CMD_SAFE_RET),
    ``retbleed_return_thunk`` (retbleed=unret), ``call_depth_return_thunk`` (retbleed or ITS "stuff",
    with call-depth tracking), ``its_return_thunk`` (ITS "Aligned branch/return
    thunks", ``its_select_mitigation``), ``__x86_return_thunk`` (the default
    when RETHUNK is forced without a specific thunk).
``indirect``
    How kernel code makes an indirect branch (``emit_indirect_jump``, and the
    kernel's own indirect calls): ``"retpoline"`` (``X86_FEATURE_RETPOLINE``:
    ``__x86_indirect_thunk_<reg>``, or ``__x86_indirect_call_thunk_<reg>`` /
    ``__x86_indirect_jump_thunk_<reg>`` under call-depth tracking),
    ``"lfence"`` (``X86_FEATURE_RETPOLINE_LFENCE``: ``lfence; jmp *reg``),
    ``"its"`` (``X86_FEATURE_INDIRECT_THUNK_ITS``: ``its_static_thunk(reg)`` =
    ``__x86_indirect_its_thunk_<reg>``, only when ITS is mitigated without
    retpolines) or ``"plain"`` (``jmp *reg``, plus ``int3`` when the kernel is
    built with retpoline or SLS support). The BPF JIT emits an indirect jump
    only for tail calls, which this project does not model; the knob changes
    the emulated kernel text's indirect calls.
``ibt``
    CONFIG_X86_KERNEL_IBT: ``EMIT_ENDBR()`` -- JIT images start with
    ``endbr64`` and repeat it after ``mov rbp, rsp`` (X86_TAIL_CALL_OFFSET);
    ``BPF_TRAMP_F_INDIRECT`` trampolines start with it (``emit_cfi``, CFI_NONE).
``call_depth_tracking``
    ``X86_FEATURE_CALL_DEPTH`` (retbleed or ITS "stuff"): every JIT call and
    every trampoline call (``emit_rsb_call``) is preceded by
    ``x86_call_depth_emit_accounting``, the 9-byte ``sarq $5,
    %gs:pcpu_hot+X86_call_depth(%rip)`` (arch/x86/kernel/callthunks.c).
``sls``
    CONFIG_MITIGATION_SLS: ``int3`` after a plain ``ret`` (``emit_return``).
``bmi2``
    ``X86_FEATURE_BMI2``: shifts by a register use ``shlx``/``shrx``/``sarx``
    (``emit_shiftx``).
``timed_may_goto_fp_in_jit``
    Where ``BPF_REG_AX``'s frame offset for ``arch_bpf_timed_may_goto`` becomes
    a pointer. Mainline 6.15-6.18 ``arch/x86/net/bpf_timed_may_goto.S`` adds
    the frame pointer itself (``leaq (%rbp, %r10, 1), ...``) and the JIT emits
    a plain ``call``. The 6.18.44 build of this project's second host
    (Intel, ITS) instead emits ``add r10, rbp`` (``49 01 ea``) in front of that
    call, so ``arch_bpf_timed_may_goto`` receives the pointer: a later change
    of the x86 JIT (it lets the frame pointer be the private stack's). We did
    not find that change in the sources available to us; the knob records the
    host's observed behaviour, and ``--cpu host`` reads it from a probe
    program's ``jited_prog_insns``.

Presets (``PRESETS``): the hosts this project met, and the two extremes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Final

from .errors import InputError

__all__ = ["CpuConfig", "PRESETS", "RETURN_THUNKS", "INDIRECT_STYLES", "get_cpu", "DEFAULT_CPU", "preset_names",
           "describe_presets"]

#: the symbols ``x86_return_thunk`` can point at (arch/x86/lib/retpoline.S, 6.12-6.18)
RETURN_THUNKS: Final = ("srso_return_thunk", "srso_alias_return_thunk", "retbleed_return_thunk",
                        "call_depth_return_thunk", "its_return_thunk", "__x86_return_thunk")
INDIRECT_STYLES: Final = ("retpoline", "lfence", "its", "plain")


@dataclass(frozen=True, slots=True)
class CpuConfig:
    """The CPU, boot-time mitigations and x86 build options of a modelled machine."""

    name: str
    description: str
    #: ``x86_return_thunk`` when X86_FEATURE_RETHUNK is set; None: ``ret``
    return_thunk: str | None = "srso_return_thunk"
    #: ``retpoline`` | ``lfence`` | ``its`` | ``plain`` (emit_indirect_jump)
    indirect: str = "retpoline"
    ibt: bool = False
    call_depth_tracking: bool = False
    sls: bool = False
    bmi2: bool = True
    timed_may_goto_fp_in_jit: bool = False
    #: where each knob's value came from (``--cpu host``: "probe", "sysfs" ...); empty for presets
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.return_thunk is not None and self.return_thunk not in RETURN_THUNKS:
            raise InputError(f"unknown return thunk {self.return_thunk!r} (known: {', '.join(RETURN_THUNKS)})")
        if self.indirect not in INDIRECT_STYLES:
            raise InputError(f"unknown indirect-branch style {self.indirect!r} "
                             f"(known: {', '.join(INDIRECT_STYLES)})")

    @property
    def rethunk(self) -> bool:
        """X86_FEATURE_RETHUNK: returns jump to ``x86_return_thunk``."""
        return self.return_thunk is not None

    @property
    def return_size(self) -> int:
        """Bytes of ``emit_return()``: ``jmp rel32``, or ``ret`` (+ ``int3`` with SLS)."""
        return 5 if self.rethunk else 1 + self.sls

    def indirect_thunk(self, reg: str, *, call: bool) -> str | None:
        """The thunk an indirect call (``call=True``) or jump through ``reg`` goes
        through, or None for an inline ``call *reg`` / ``lfence; call *reg``."""
        if self.indirect == "retpoline":
            if self.call_depth_tracking:
                return f"__x86_indirect_{'call' if call else 'jump'}_thunk_{reg}"
            return f"__x86_indirect_thunk_{reg}"
        if self.indirect == "its":
            return f"__x86_indirect_its_thunk_{reg}"
        return None

    def with_knobs(self, **knobs: object) -> "CpuConfig":
        """A copy with knobs changed (``ibt=True`` ...), named ``<name>+<knob>...``."""
        changed = [k for k, v in knobs.items() if getattr(self, k) != v]
        name = self.name + "".join(f"+{k}={knobs[k]}" for k in changed) if changed else self.name
        return replace(self, name=name, **knobs)  # type: ignore[arg-type]

    def summary(self) -> str:
        """One line stating every knob (what ``structops tramp --listing`` prints)."""
        ret = f"jmp {self.return_thunk}" if self.rethunk else ("ret; int3" if self.sls else "ret")
        ind = {"retpoline": "retpolines", "lfence": "lfence + indirect", "its": "ITS indirect thunks",
               "plain": "plain indirect"}[self.indirect]
        parts = [f"return: {ret}", f"indirect: {ind}", f"IBT endbr64: {'yes' if self.ibt else 'no'}",
                 f"call-depth accounting: {'yes' if self.call_depth_tracking else 'no'}",
                 f"BMI2: {'yes' if self.bmi2 else 'no'}"]
        if self.timed_may_goto_fp_in_jit:
            parts.append("timed may_goto: JIT adds rbp")
        return f"cpu {self.name}: " + ", ".join(parts)

    def knob_items(self) -> list[tuple[str, object]]:
        """``(knob, value)`` for every knob (not the name, description or sources)."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)
                if f.name not in ("name", "description", "sources")]


PRESETS: dict[str, CpuConfig] = {c.name: c for c in (
    CpuConfig("amd-zen2",
              "AMD EPYC, not family 0x19: SRSO 'Safe RET' -> srso_return_thunk, spectre_v2 retpolines, no IBT. "
              "The 6.18 host the examples, captured trampolines and JIT bytes of this project came from.",
              return_thunk="srso_return_thunk", indirect="retpoline"),
    CpuConfig("amd-zen3",
              "AMD family 0x19 (Zen 3/4): SRSO 'Safe RET' -> srso_alias_return_thunk, retpolines, no IBT.",
              return_thunk="srso_alias_return_thunk", indirect="retpoline"),
    CpuConfig("intel-its",
              "Intel Xeon with ITS 'Aligned branch/return thunks' -> its_return_thunk, spectre_v2 retpolines, "
              "retbleed unmitigated, no IBT; its 6.18.44 build adds rbp for timed may_goto in the JIT.",
              return_thunk="its_return_thunk", indirect="retpoline", timed_may_goto_fp_in_jit=True),
    CpuConfig("intel-stuff",
              "Intel Skylake-class with retbleed=stuff: call-depth tracking -> call_depth_return_thunk, "
              "retpolines through the call-depth thunks, IBT kernel.",
              return_thunk="call_depth_return_thunk", indirect="retpoline", ibt=True, call_depth_tracking=True),
    CpuConfig("amd-unret",
              "AMD family 0x15-0x17 with retbleed=unret: retbleed_return_thunk, retpolines.",
              return_thunk="retbleed_return_thunk", indirect="retpoline"),
    CpuConfig("none",
              "No mitigation needed (or mitigations=off): plain ret and indirect branches, no IBT.",
              return_thunk=None, indirect="plain"),
)}

#: the configuration the project's examples and captured bytes were made on
DEFAULT_CPU: Final = PRESETS["amd-zen2"]


def preset_names() -> list[str]:
    return list(PRESETS)


def describe_presets() -> str:
    """The preset table ``--cpu list`` prints."""
    lines = []
    for c in PRESETS.values():
        lines.append(f"{c.name:12s} {c.description}")
        lines.append(f"{'':12s} {c.summary()}")
    lines.append(f"{'host':12s} derived from the running kernel: /proc/kallsyms, "
                 "/sys/devices/system/cpu/vulnerabilities/*, /proc/cpuinfo and probe programs' jited bytes")
    return "\n".join(lines)


def get_cpu(name: str) -> CpuConfig:
    """The preset called ``name``; InputError (bad input) if unknown. ``host`` is
    resolved by the emulator (``emu.host.hostcpu``), which reads the running kernel."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown --cpu {name!r} (known: {', '.join(PRESETS)}, host, list)") from None
