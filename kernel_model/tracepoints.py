"""The raw tracepoints the emulated kernel has, as ``tp_btf`` programs see them.

A kernel tracepoint ``TRACE_EVENT(name, TP_PROTO(args...))`` gives vmlinux's BTF two
records BPF uses (include/trace/bpf_probe.h, Linux 6.12/6.18):

* ``typedef void (*btf_trace_<name>)(void *__data, args...)`` -- what libbpf looks up
  for ``SEC("tp_btf/<name>")`` (``find_attach_btf_id``: prefix ``btf_trace_``, kind
  TYPEDEF) and what the program's ``attach_btf_id`` names;
* the template's probe function ``__bpf_trace_<template>(void *__data, args...)`` whose
  prototype keeps the argument *names* (the typedef's has none): the verifier's
  ``bpf_check_attach_target`` reads the tracepoint's arguments from it (found through
  ``bpf_get_raw_tracepoint`` and kallsyms), so a ``__nullable`` suffix is seen.

The emulated kernel registers the tracepoints listed in :data:`TRACEPOINTS` (its
``__bpf_raw_tp_map`` section): their prototypes are the 6.18 x86-64 ones (u64
``clone_flags`` of ``task_newtask`` is 6.18's; 6.12 had ``unsigned long``). The
structs they point to are the emulated vmlinux's (``task_struct`` and ``cgroup``
reduced, ``pt_regs`` whole). Any other tracepoint is absent from this kernel: libbpf
fails to find its typedef, which the loader reports as a kernel type the emulated
BTF lacks (not modelled), never as a verdict.
"""

from __future__ import annotations

from typing import Final

__all__ = ["TRACEPOINTS", "tracepoints_c", "template_of"]

#: tracepoint -> (its template (DECLARE_EVENT_CLASS) name, the TP_PROTO parameters as C)
TRACEPOINTS: Final[dict[str, tuple[str, str]]] = {
    # include/trace/events/task.h
    "task_newtask": ("task_newtask", "struct task_struct *task, u64 clone_flags"),
    # include/trace/events/sched.h
    "sched_process_fork": ("sched_process_fork", "struct task_struct *parent, struct task_struct *child"),
    # include/trace/events/cgroup.h: DECLARE_EVENT_CLASS(cgroup, ...)
    "cgroup_mkdir": ("cgroup", "struct cgroup *cgrp, const char *path"),
    "cgroup_rmdir": ("cgroup", "struct cgroup *cgrp, const char *path"),
    # include/trace/events/syscalls.h
    "sys_enter": ("sys_enter", "struct pt_regs *regs, long id"),
    "sys_exit": ("sys_exit", "struct pt_regs *regs, long ret"),
    # include/trace/events/xdp.h (net_device and bpf_prog reduced: kernel_model.vmlinux_core)
    "xdp_exception": ("xdp_exception", "const struct net_device *dev, const struct bpf_prog *xdp, u32 act"),
    "xdp_cpumap_kthread": ("xdp_cpumap_kthread", "int map_id, unsigned int processed, unsigned int drops, "
                                                 "int sched, struct xdp_cpumap_stats *xdp_stats"),
    "xdp_devmap_xmit": ("xdp_devmap_xmit", "const struct net_device *from_dev, const struct net_device *to_dev, "
                                           "int sent, int drops, int err"),
}


def template_of(tracepoint: str) -> str | None:
    """The name of the template's probe function (``__bpf_trace_<template>``), or None
    for a tracepoint this kernel does not have."""
    got = TRACEPOINTS.get(tracepoint)
    if got is None:  # the net tracepoints, declared after every other type (kernel_model.net_types)
        from .net_types import NET_TRACEPOINTS
        got = NET_TRACEPOINTS.get(tracepoint)
    return f"__bpf_trace_{got[0]}" if got is not None else None


def tracepoints_c() -> str:
    """The C the emulated vmlinux BTF is parsed from, for every tracepoint: its
    ``btf_trace_`` typedef (unnamed parameters, as pahole writes it) and its template's
    probe function (named parameters), once per template."""
    out = ["/* include/trace/bpf_probe.h: the raw tracepoints' typedefs and template probes */"]
    seen: set[str] = set()
    for name, (template, params) in TRACEPOINTS.items():
        out.append(f"typedef void (*btf_trace_{name})(void *__data, {params});")
        if template not in seen:
            seen.add(template)
            out.append(f"void __bpf_trace_{template}(void *__data, {params});")
    return "\n".join(out) + "\n"
