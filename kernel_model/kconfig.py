"""The emulated kernel's build configuration (``.config``).

A kernel's ``CONFIG_*`` choices are what libbpf reads for a program's
``extern ... __kconfig`` variables (``bpf_object__read_kconfig_file``, from
``/boot/config-$(uname -r)`` or ``/proc/config.gz`` of the machine) and what
some of the emulated subsystems run by: ``CONFIG_HZ`` sets the tick (``jiffies``
per second) that TCP's ``tcp_jiffies32``, CUBIC's epochs and sched_ext's tick read.

:data:`DEFAULT` is a small subset of a Debian amd64 kernel configuration
(``CONFIG_HZ=250``: Debian builds its kernels with ``CONFIG_HZ_250``). It is a knob, not a fact of the machine the emulator runs on: build a
:class:`KernelConfig` with other values (``DEFAULT.with_values(CONFIG_HZ=1000)``
or :meth:`KernelConfig.parse` of a ``.config`` file) and give it to the kernel.
Only the options listed are "set"; any other reads as unset, as a line
``# CONFIG_X is not set``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .errors import InputError

__all__ = ["KernelConfig", "DEFAULT", "HZ_CHOICES"]

#: the CONFIG_HZ values kernel/Kconfig.hz offers
HZ_CHOICES = (100, 250, 300, 1000)


@dataclass(frozen=True)
class KernelConfig:
    """``CONFIG_NAME`` -> the value as a ``.config`` line writes it (``y``, ``m``,
    ``250``, ``"a string"`` with its quotes)."""

    values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k, v in self.values.items():
            if not k.startswith("CONFIG_") or not isinstance(v, str) or not v:
                raise InputError(f"kernel config: {k}={v!r} is not a CONFIG_NAME=value setting")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        hz = self.values.get("CONFIG_HZ")
        if hz is not None and (not hz.isdigit() or int(hz) not in HZ_CHOICES):
            raise InputError(f"kernel config: CONFIG_HZ={hz} is not one of kernel/Kconfig.hz's "
                             f"{', '.join(map(str, HZ_CHOICES))}")

    @property
    def hz(self) -> int:
        """``CONFIG_HZ``: timer interrupts (jiffies) per second."""
        return int(self.values.get("CONFIG_HZ", "250"))

    def with_values(self, **changes: str | int) -> KernelConfig:
        """A copy with some options set (an int is written in decimal; the ``CONFIG_HZ_<n>``
        choice follows ``CONFIG_HZ``)."""
        vals = dict(self.values)
        for k, v in changes.items():
            vals[k] = str(v)
        if "CONFIG_HZ" in changes:
            for n in HZ_CHOICES:
                vals.pop(f"CONFIG_HZ_{n}", None)
            vals[f"CONFIG_HZ_{changes['CONFIG_HZ']}"] = "y"
        return KernelConfig(vals)

    def text(self) -> str:
        """The configuration as a ``.config`` file (what ``/proc/config.gz`` unpacks to)."""
        return "".join(f"{k}={v}\n" for k, v in sorted(self.values.items()))

    @classmethod
    def parse(cls, text: str, where: str = "<config>") -> KernelConfig:
        """A ``.config`` file: ``CONFIG_X=value`` lines; comments and blank lines skipped."""
        vals: dict[str, str] = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.startswith("CONFIG_") or not value:
                raise InputError(f"{where}:{n}: not a CONFIG_NAME=value line: {line!r}")
            vals[name] = value
        return cls(vals)


#: the emulated kernel's configuration: values as the 6.18 Debian host running the project
#: was built with, for what the emulator has (CONFIG_SCHED_CLASS_EXT is the emulator's own:
#: sched_ext is built into the 6.12+ profiles), a subset -- everything else is unset
DEFAULT = KernelConfig({
    "CONFIG_HZ": "250", "CONFIG_HZ_250": "y", "CONFIG_NO_HZ": "y", "CONFIG_NO_HZ_IDLE": "y",
    "CONFIG_SMP": "y", "CONFIG_X86_64": "y", "CONFIG_64BIT": "y", "CONFIG_NET": "y", "CONFIG_INET": "y",
    "CONFIG_BPF": "y", "CONFIG_BPF_SYSCALL": "y", "CONFIG_BPF_JIT": "y", "CONFIG_BPF_JIT_ALWAYS_ON": "y",
    "CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_TCP_CONG_CUBIC": "y", "CONFIG_TCP_CONG_BBR": "y",
    "CONFIG_PREEMPT_NONE": "y", "CONFIG_PREEMPT_DYNAMIC": "y", "CONFIG_CGROUPS": "y",
    "CONFIG_SCHED_CLASS_EXT": "y",
    # kallsyms lists text symbols; CONFIG_KALLSYMS_ALL (data symbols too) is left unset, as on the
    # host: the verifier finds no address for a typed data ksym (kernel_model.ksyms)
    "CONFIG_KALLSYMS": "y",
    # the lockdown LSM, locked down to "integrity" at boot (security/lockdown/lockdown.c), as on
    # the host: bpf_probe_write_user is refused (kernel_model.lockdown)
    "CONFIG_SECURITY": "y", "CONFIG_SECURITY_LOCKDOWN_LSM": "y", "CONFIG_SECURITY_LOCKDOWN_LSM_EARLY": "y",
    "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY": "y",
    # IPv6 with source-address routing (the ipv6_route iterator's fib6_src), as on the host
    "CONFIG_IPV6": "y", "CONFIG_IPV6_SUBTREES": "y",
})
