"""Kernel variables in the emulated vmlinux BTF: the per-CPU ones programs name as typed ksyms.

A program declares ``extern const int bpf_prog_active __ksym;``; libbpf finds the
``VAR`` of that name in the kernel's BTF (``bpf_object__resolve_ksym_var_btf_id``,
libbpf 1.5+) and the verifier's ``check_pseudo_btf_id`` (kernel/bpf/verifier.c,
Linux 6.12/6.18) asks ``kallsyms_lookup_name`` for its address. pahole puts only
the per-CPU variables into vmlinux's BTF, in a ``.data..percpu`` DATASEC; these are
three of them, as the 6.18 BTF has them:

* ``bpf_prog_active`` (kernel/bpf/syscall.c, ``DEFINE_PER_CPU(int, ...)``, global);
* ``bpf_task_storage_busy`` (kernel/bpf/bpf_task_storage.c, static);
* ``runqueues`` (kernel/sched/core.c, ``DEFINE_PER_CPU_SHARED_ALIGNED(struct rq, ...)``,
  global): only where the emulated BTF defines ``struct rq`` (sched_ext's profiles,
  whose ``struct rq`` is reduced: the host's is 3584 bytes).

Their DATASEC offsets and sizes here are our own (the kernel's come from its link):
nothing reads them but the per-CPU test of ``check_pseudo_btf_id``.

Data symbols are in kallsyms only with ``CONFIG_KALLSYMS_ALL``; the emulated kernel's
configuration leaves it unset (so does the 6.18 host the corpus was labelled on), so
``kallsyms_lookup_name`` finds none of them and the verifier refuses the load with
``ldimm64 failed to find the address for kernel symbol '%s'.`` (ENOENT).
"""

from __future__ import annotations

from .btf import BTF
from .btf import structs as S
from .btf.types import Datasec, Var, VarSecinfo

__all__ = ["PERCPU_SEC", "PERCPU_VARS", "add_percpu_vars"]

#: the DATASEC pahole writes the per-CPU variables to
PERCPU_SEC = ".data..percpu"
#: name -> (type name, BTF kind of the type, linkage), in the order they are added
PERCPU_VARS: dict[str, tuple[str, int, int]] = {
    "bpf_prog_active": ("int", S.KIND_INT, S.VAR_GLOBAL_ALLOCATED),
    "bpf_task_storage_busy": ("int", S.KIND_INT, S.VAR_STATIC),
    "runqueues": ("rq", S.KIND_STRUCT, S.VAR_GLOBAL_ALLOCATED),
}


def add_percpu_vars(btf: BTF) -> list[str]:
    """Append the VARs of :data:`PERCPU_VARS` whose type ``btf`` defines, and the
    ``.data..percpu`` DATASEC holding them (appended last: no earlier type id moves).
    Returns the names added."""
    entries: list[VarSecinfo] = []
    names: list[str] = []
    off = 0
    for name, (tname, kind, linkage) in PERCPU_VARS.items():
        tid = btf.find(tname, kind)
        if tid is None:
            continue
        size = btf.size_of(tid)
        align = max(1, min(8, btf.align_of(tid)))
        off = -(-off // align) * align
        vid = btf.add(Var(name, tid, linkage))
        entries.append(VarSecinfo(vid, off, size))
        names.append(name)
        off += size
    if entries:
        btf.add(Datasec(PERCPU_SEC, off, tuple(entries)))
    return names
