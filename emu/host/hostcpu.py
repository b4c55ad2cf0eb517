"""``--cpu host``: the running kernel's CPU configuration, read from the kernel.

The x86 JIT and trampoline choices (:class:`kernel_model.cpu.CpuConfig`) differ
from machine to machine. This module reads them from the running kernel, in
order of authority:

1. **Probe programs** (where ``bpf()`` is permitted: root on Linux x86-64).
   Three socket filters are loaded -- verified and JIT-compiled, never attached
   -- and their ``jited_prog_insns`` read back: ``r0 = 0; exit`` (a leading
   ``endbr64`` means IBT; the epilogue is ``jmp <x86_return_thunk>``, named
   through ``/proc/kallsyms``, or ``ret`` / ``ret; int3`` meaning SLS), a
   helper call (9 bytes of ``sarq $5, %gs:...`` before it mean call-depth
   tracking) and a ``may_goto`` loop (``add r10, rbp`` before the call to
   ``arch_bpf_timed_may_goto`` means the JIT adds the frame pointer).
2. ``/sys/devices/system/cpu/vulnerabilities/*``: the mitigation the kernel
   chose (``spectre_v2``: retpolines or LFENCE; ``indirect_target_selection``;
   ``retbleed``; ``spec_rstack_overflow`` with ``/proc/cpuinfo``'s family for
   the SRSO alias). They decide the indirect-branch style, and the return
   thunk when no probe could be loaded (``arch/x86/kernel/cpu/bugs.c``).
3. ``/proc/cpuinfo`` flags (``bmi2``) and ``/proc/config.gz`` (CONFIG_MITIGATION_SLS,
   CONFIG_X86_KERNEL_IBT) when present.

Each knob records its source (``CpuConfig.sources``). Detection never fails:
what cannot be read keeps the value of :data:`kernel_model.cpu.PRESETS["none"]`
and says so.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import struct
from functools import lru_cache
from pathlib import Path

from kernel_model.cpu import PRESETS, RETURN_THUNKS, CpuConfig, describe_presets, get_cpu
from kernel_model.errors import InputError

__all__ = ["detect_host_cpu", "resolve_cpu", "host_symbols", "probe_jit", "add_cpu_option", "VULN_DIR", "CPU_HELP"]

VULN_DIR = Path("/sys/devices/system/cpu/vulnerabilities")
CPU_HELP = ("the CPU and its mitigations the JIT and trampolines emit code for: a preset "
            f"({', '.join(PRESETS)}), 'host' (read from the running kernel) or 'list'")

#: socket filter programs: r0 = 0; exit / call bpf_get_prandom_u32; exit / may_goto loop
_PROBE_RET = bytes.fromhex("b700000000000000" "9500000000000000")
_PROBE_CALL = bytes.fromhex("8500000007000000" "9500000000000000")
#: r0 = 0; may_goto +1; r0 = 1; exit  (BPF_JMP | BPF_JCOND = 0xe5)
_PROBE_MAY_GOTO = bytes.fromhex("b700000000000000" "e500010000000000" "b700000001000000" "9500000000000000")
_ENDBR64 = b"\xf3\x0f\x1e\xfa"
_CALL_DEPTH = b"\x65\x48\xc1\x3d"
_ADD_R10_RBP = b"\x49\x01\xea"


def host_symbols(names: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Addresses of ``names`` in ``/proc/kallsyms`` (zero addresses, as an
    unprivileged reader sees them, are left out)."""
    want = set(names)
    out: dict[str, int] = {}
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] in want and parts[2] not in out:
                    addr = int(parts[0], 16)
                    if addr:
                        out[parts[2]] = addr
    except OSError:
        pass
    return out


def probe_jit(insns: bytes) -> tuple[bytes, int] | None:
    """``(jited bytes, image address)`` of a socket filter the host loads, or None
    when ``bpf()`` is not permitted or the host refuses it."""
    try:
        from . import hostbpf
    except OSError:  # pragma: no cover - no libc
        return None
    try:
        r = hostbpf.prog_load(1, insns, log_level=0)
    except OSError:  # pragma: no cover
        return None
    if not r.accepted:
        return None
    try:
        info = hostbpf.prog_info(r.fd)
    except OSError:  # pragma: no cover
        return None
    finally:
        r.close()
    if not info.jited or not info.jited_ksyms:
        return None
    return info.jited, info.jited_ksyms[0]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _cpuinfo() -> tuple[set[str], int | None, str]:
    """(flags, family, model name) of the first CPU in /proc/cpuinfo."""
    flags: set[str] = set()
    family = None
    model = ""
    for line in _read(Path("/proc/cpuinfo")).splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "cpu family" and family is None:
            try:
                family = int(value)
            except ValueError:
                pass
        elif key == "model name" and not model:
            model = value
    return flags, family, model


def _kconfig() -> dict[str, str]:
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, _, v = line.partition("=")
            out[k] = v
    return out


def _thunk_from_sysfs(vuln: dict[str, str], family: int | None) -> tuple[str | None, bool]:
    """(return thunk, call-depth tracking) the mitigation lines imply (bugs.c)."""
    its = vuln.get("indirect_target_selection", "")
    retbleed = vuln.get("retbleed", "")
    srso = vuln.get("spec_rstack_overflow", "")
    if "Stuffing" in retbleed or "Stuffing" in its:
        return "call_depth_return_thunk", True
    if "Aligned branch/return thunks" in its:
        return "its_return_thunk", False
    if "Safe RET" in srso:
        # srso_select_mitigation: family 0x19 (Zen 3/4) takes the alias thunk
        return ("srso_alias_return_thunk" if family == 0x19 else "srso_return_thunk"), False
    if "untrained return thunk" in retbleed:
        return "retbleed_return_thunk", False
    return None, False


def _indirect_from_sysfs(vuln: dict[str, str]) -> str:
    v2 = vuln.get("spectre_v2", "")
    if "LFENCE" in v2:
        return "lfence"
    if "Retpolines" in v2:
        return "retpoline"
    if "Aligned branch/return thunks" in vuln.get("indirect_target_selection", ""):
        return "its"
    return "plain"


def _rel32_target(code: bytes, at: int, base: int) -> int:
    return (base + at + 5 + struct.unpack_from("<i", code, at + 1)[0]) & ((1 << 64) - 1)


@lru_cache(maxsize=1)
def detect_host_cpu() -> CpuConfig:
    """The running kernel's :class:`CpuConfig`, named ``host`` (cached per process)."""
    sources: dict[str, str] = {}
    vuln = {p.name: _read(p) for p in sorted(VULN_DIR.glob("*"))} if VULN_DIR.is_dir() else {}
    flags, family, model = _cpuinfo()
    config = _kconfig()
    base = PRESETS["none"]

    thunk, depth = _thunk_from_sysfs(vuln, family)
    sources["return_thunk"] = sources["call_depth_tracking"] = "sysfs vulnerabilities" if vuln else "default"
    indirect = _indirect_from_sysfs(vuln) if vuln else base.indirect
    sources["indirect"] = "sysfs spectre_v2 / indirect_target_selection" if vuln else "default"
    bmi2 = "bmi2" in flags if flags else base.bmi2
    sources["bmi2"] = "/proc/cpuinfo" if flags else "default"
    sls = config.get("CONFIG_MITIGATION_SLS") == "y" if config else base.sls
    ibt = config.get("CONFIG_X86_KERNEL_IBT") == "y" if config else base.ibt
    sources["sls"] = sources["ibt"] = "/proc/config.gz" if config else "default"
    fp_in_jit = base.timed_may_goto_fp_in_jit
    sources["timed_may_goto_fp_in_jit"] = "default"

    probe = probe_jit(_PROBE_RET)
    if probe is not None:
        code, addr = probe
        ibt = code.startswith(_ENDBR64)
        sources["ibt"] = "probe"
        if len(code) >= 5 and code[-5] == 0xE9:
            target = _rel32_target(code, len(code) - 5, addr)
            names = host_symbols(RETURN_THUNKS)
            named = [n for n, a in names.items() if a == target]
            if named:
                thunk = named[0]
                sources["return_thunk"] = "probe + /proc/kallsyms"
            # else: kallsyms hides addresses; keep the sysfs inference
        elif code.endswith(b"\xc3\xcc"):
            thunk, sls = None, True
            sources["return_thunk"] = sources["sls"] = "probe"
        elif code.endswith(b"\xc3"):
            thunk, sls = None, False
            sources["return_thunk"] = sources["sls"] = "probe"
        call = probe_jit(_PROBE_CALL)
        if call is not None:
            depth = _CALL_DEPTH in call[0]
            sources["call_depth_tracking"] = "probe"
        mg = probe_jit(_PROBE_MAY_GOTO)
        if mg is not None:
            fp_in_jit = _ADD_R10_RBP + b"\xe8" in mg[0] or _ADD_R10_RBP + _CALL_DEPTH in mg[0]
            sources["timed_may_goto_fp_in_jit"] = "probe"
    desc = f"the running kernel ({os.uname().release}" + (f", {model}" if model else "") + ")"
    return CpuConfig("host", desc, return_thunk=thunk, indirect=indirect, ibt=ibt, call_depth_tracking=depth,
                     sls=sls, bmi2=bmi2, timed_may_goto_fp_in_jit=fp_in_jit, sources=tuple(sorted(sources.items())))


def resolve_cpu(name: str) -> CpuConfig:
    """The configuration a ``--cpu`` option names: a preset, or ``host``.
    ``list`` and unknown names raise :class:`InputError` (the list is in its message
    for ``list``; callers print presets with :func:`describe_presets` instead)."""
    if name == "host":
        return detect_host_cpu()
    if name == "list":
        raise InputError("--cpu list lists the presets; it names none:\n" + describe_presets())
    return get_cpu(name)


class _CpuAction(argparse.Action):
    """``--cpu``: a preset or ``host`` becomes a CpuConfig; ``list`` prints the
    presets and exits 0; an unknown name is a usage error (exit 2)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        name = str(values)
        if name == "list":
            sys.stdout.write(describe_presets() + "\n")
            parser.exit(0)
        try:
            setattr(namespace, self.dest, resolve_cpu(name))
        except InputError as e:
            parser.error(f"argument --cpu: {e}")


def add_cpu_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--cpu NAME|host|list`` (default: the preset the examples were made on)."""
    from kernel_model.cpu import DEFAULT_CPU

    parser.add_argument("--cpu", action=_CpuAction, default=DEFAULT_CPU, metavar="NAME",
                        help=f"{CPU_HELP} (default: {DEFAULT_CPU.name})")
