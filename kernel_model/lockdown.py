"""Kernel lockdown (security/lockdown/lockdown.c, include/linux/security.h; Linux 6.12/6.18).

The lockdown LSM keeps one level, ``kernel_locked_down``, an ``enum lockdown_reason``
value; ``security_locked_down(what)`` is -EPERM when ``kernel_locked_down >= what``.
``lockdown_lsm_init`` locks the kernel down at boot to ``LOCKDOWN_INTEGRITY_MAX`` with
``CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY`` or to ``LOCKDOWN_CONFIDENTIALITY_MAX`` with
``CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY`` (``lockdown=`` on the command line can
raise it too; the emulated kernel has no command line). The LSM runs when built
(``CONFIG_SECURITY_LOCKDOWN_LSM``) and initialised: early (``..._LSM_EARLY``) or named in
``CONFIG_LSM``.

What BPF asks it: ``bpf_probe_write_user`` (``LOCKDOWN_BPF_WRITE_USER``, an integrity
reason) and the kernel-memory readers ``bpf_probe_read_kernel``/``_str`` and the compat
``bpf_probe_read``/``_str`` (``LOCKDOWN_BPF_READ_KERNEL``, a confidentiality reason): the
helper's ``get_func_proto`` returns NULL when locked down, so the verifier says "program of
this type cannot use helper" (kernel/trace/bpf_trace.c ``bpf_tracing_func_proto``,
kernel/bpf/helpers.c ``bpf_base_func_proto``), and the LSM logs ``Lockdown: <comm>: <what>
is restricted; see man kernel_lockdown.7`` (ratelimited).
"""

from __future__ import annotations

from typing import Final

from .kconfig import KernelConfig

__all__ = ["LOCKDOWN_REASONS", "REASON_TEXT", "lockdown_level", "refused_reasons", "lockdown_notice"]

#: enum lockdown_reason (include/linux/security.h, 6.12/6.18), in order
LOCKDOWN_REASONS: Final = (
    "LOCKDOWN_NONE", "LOCKDOWN_MODULE_SIGNATURE", "LOCKDOWN_DEV_MEM", "LOCKDOWN_EFI_TEST", "LOCKDOWN_KEXEC",
    "LOCKDOWN_HIBERNATION", "LOCKDOWN_PCI_ACCESS", "LOCKDOWN_IOPORT", "LOCKDOWN_MSR", "LOCKDOWN_ACPI_TABLES",
    "LOCKDOWN_DEVICE_TREE", "LOCKDOWN_PCMCIA_CIS", "LOCKDOWN_TIOCSSERIAL", "LOCKDOWN_MODULE_PARAMETERS",
    "LOCKDOWN_MMIOTRACE", "LOCKDOWN_DEBUGFS", "LOCKDOWN_XMON_WR", "LOCKDOWN_BPF_WRITE_USER",
    "LOCKDOWN_DBG_WRITE_KERNEL", "LOCKDOWN_RTAS_ERROR_INJECTION", "LOCKDOWN_XEN_USER_ACTIONS",
    "LOCKDOWN_INTEGRITY_MAX", "LOCKDOWN_KCORE", "LOCKDOWN_KPROBES", "LOCKDOWN_BPF_READ_KERNEL",
    "LOCKDOWN_DBG_READ_KERNEL", "LOCKDOWN_PERF", "LOCKDOWN_TRACEFS", "LOCKDOWN_XMON_RW", "LOCKDOWN_XFRM_SECRET",
    "LOCKDOWN_CONFIDENTIALITY_MAX",
)

#: lockdown_reasons[] (security/security.c) of the reasons BPF asks about
REASON_TEXT: Final = {"LOCKDOWN_BPF_WRITE_USER": "use of bpf to write user RAM",
                      "LOCKDOWN_BPF_READ_KERNEL": "use of bpf to read kernel RAM"}


def lockdown_level(config: KernelConfig) -> str:
    """``kernel_locked_down`` after boot for a kernel built with ``config``."""
    v = config.values
    if v.get("CONFIG_SECURITY") != "y" or v.get("CONFIG_SECURITY_LOCKDOWN_LSM") != "y":
        return "LOCKDOWN_NONE"
    lsms = v.get("CONFIG_LSM", "").strip('"').split(",")
    if v.get("CONFIG_SECURITY_LOCKDOWN_LSM_EARLY") != "y" and "lockdown" not in lsms:
        return "LOCKDOWN_NONE"
    if v.get("CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY") == "y":
        return "LOCKDOWN_INTEGRITY_MAX"
    if v.get("CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY") == "y":
        return "LOCKDOWN_CONFIDENTIALITY_MAX"
    return "LOCKDOWN_NONE"


def refused_reasons(level: str) -> frozenset[str]:
    """The reasons ``security_locked_down`` refuses at ``level`` (``level >= what``;
    LOCKDOWN_NONE refuses nothing)."""
    n = LOCKDOWN_REASONS.index(level)
    return frozenset(r for r in LOCKDOWN_REASONS[1:n + 1])


def lockdown_notice(comm: str, reason: str) -> str:
    """``lockdown_is_locked_down``'s notice for a refused ``reason``."""
    return f"Lockdown: {comm}: {REASON_TEXT.get(reason, reason)} is restricted; see man kernel_lockdown.7"
