"""``sim sched``: a sched_ext scheduler loaded into the emulated kernel, driven by
the simulated scheduler core.

The scheduler core (``kernel_model.subsystems.sched_ext_core``) plays the
kernel: it decides when ``ops.enqueue``, ``ops.dispatch``, ``ops.running`` ...
run and services the ``scx_bpf_*`` kfuncs. This module gives it a machine:

* each task is a ``struct task_struct`` in emulated memory (pid, comm, weight,
  ``scx.slice``, ``scx.dsq_vtime`` ...), written before every callback that
  receives it and read back afterwards (the program may write ``slice``,
  ``dsq_vtime`` and ``disallow``, as ``bpf_scx_btf_struct_access`` allows);
* a callback is the member's function pointer called through the kernel-text
  indirect caller, trampoline and JIT'd program (:meth:`KData.call`), on the
  CPU the core is running (``bpf_get_smp_processor_id``);
* attaching the ``.struct_ops.link`` map runs ``bpf_scx_reg`` -> the core's
  ``enable`` (``init``, ``init_task``, ``enable`` ...); destroying the link
  runs ``bpf_scx_unreg`` (``exit_task`` ..., ``exit``).

Without an object the core runs alone: the kernel's fallback, a global FIFO.

::

    from emu.sim.sched import simulate
    res = simulate("examples/scx_vtime.bpf.o", cpus=4, tasks=8, duration_ns=2_000_000_000, seed=1)
    res.summary["utilization"], res.tasks[0]["runtime_ns"]
    res.plot("timeline.svg")
"""

from __future__ import annotations

import errno
import os
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from kernel_model.errors import InputError, KernelError
from kernel_model.profile import LATEST, Profile
from kernel_model.subsystems import sched_ext
from kernel_model.subsystems.sched_ext_core import (
    SCX_EXIT_NONE, ExitInfo, ExitTaskArgs, InitTaskArgs, PyOps, SchedExtCore, SchedOps, Task, TaskSpec,
)

__all__ = ["simulate", "SimResult", "BpfOps", "SchedRuntime", "default_workload", "TaskSpec", "PyOps"]

M64 = (1 << 64) - 1


def default_workload(n: int, seed: int = 0) -> list[TaskSpec]:
    """``n`` tasks drawn from the seed: CPU-bound (100 ms bursts, no sleep), mixed
    (10 ms bursts, 5 ms sleeps) and interactive (1 ms bursts, 10 ms sleeps), nice
    -5..5."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.choice(("cpu", "mixed", "interactive"))
        nice = rng.choice((0, 0, 0, -5, 5))
        if kind == "cpu":
            spec = TaskSpec(f"cpu{i}", run_ns=100_000_000, sleep_ns=0, nice=nice)
        elif kind == "mixed":
            spec = TaskSpec(f"mixed{i}", run_ns=10_000_000, sleep_ns=5_000_000, nice=nice)
        else:
            spec = TaskSpec(f"inter{i}", run_ns=1_000_000, sleep_ns=10_000_000, nice=nice)
        out.append(spec)
    return out


class _TaskMem:
    """Where each field a scheduler sees lives in ``struct task_struct`` (from the BTF)."""

    def __init__(self, btf: Any) -> None:
        from kernel_model.btf import structs as S

        tid = btf.find("task_struct", S.KIND_STRUCT)
        t = btf.type_by_id(tid)
        self.size = t.size
        off = {m.name: m.byte_offset for m in t.members}
        scx = next(m for m in t.members if m.name == "scx")
        ent = btf.resolve(scx.type_id)
        eoff = {m.name: scx.byte_offset + m.byte_offset for m in ent.members}
        self.pid, self.tgid, self.prio, self.comm = off["pid"], off["tgid"], off["prio"], off["comm"]
        self.static_prio, self.normal_prio = off["static_prio"], off["normal_prio"]
        self.nr_cpus_allowed, self.cpus_ptr, self.cpus_mask = off["nr_cpus_allowed"], off["cpus_ptr"], off["cpus_mask"]
        self.flags, self.weight = eoff["flags"], eoff["weight"]
        self.sticky, self.holding, self.selected = eoff["sticky_cpu"], eoff["holding_cpu"], eoff["selected_cpu"]
        self.dsq_vtime_etc = eoff["slice"]  # slice, dsq_vtime, disallow are contiguous
        assert eoff["dsq_vtime"] == self.dsq_vtime_etc + 8 and eoff["disallow"] == self.dsq_vtime_etc + 16
        self.runnable_at = eoff["runnable_at"]


_QUEUED, _STATE_SHIFT = 1, 8


class BpfOps(SchedOps):
    """A registered ``sched_ext_ops`` struct as the core's :class:`SchedOps`:
    members are called through the emulated kernel, tasks live in its memory."""

    def __init__(self, kernel: Any, kd: Any, core: SchedExtCore) -> None:
        self.k = kernel
        self.kd = kd
        self.core = core
        self.m = kernel.machine
        self._has = {m: bool(kd.func_ptr(m)) for m in sched_ext.func_members(kernel.profile)}
        rd = kd.read_member
        self.name = rd("name").split(b"\0", 1)[0].decode("latin-1")
        self.flags = int.from_bytes(rd("flags"), "little")
        self.timeout_ms = int.from_bytes(rd("timeout_ms"), "little")
        self.dispatch_max_batch = int.from_bytes(rd("dispatch_max_batch"), "little")
        self.lay = _TaskMem(kernel.btf)
        self._args = self.m.alloc.kzalloc(64)
        self._ei = self.m.alloc.kzalloc(64)
        self._strs = self.m.alloc.kzalloc(2048 + 256)
        self.calls = 0
        for t in core.tasks:
            if not t.addr:
                self._alloc_task(t)
        core.on_task_changed = self._write_task

    def _alloc_task(self, t: Task) -> None:
        lay, m = self.lay, self.m
        addr = m.alloc.kzalloc(lay.size)
        self.core.register_task_addr(t, addr)
        m.write(addr + lay.pid, struct.pack("<ii", t.pid, t.pid))
        m.write(addr + lay.prio, struct.pack("<i", t.static_prio))
        m.write(addr + lay.comm, t.comm.encode()[:15].ljust(16, b"\0"))
        m.write(addr + lay.static_prio, struct.pack("<ii", t.static_prio, t.static_prio))
        mask = sum(1 << c for c in t.allowed)
        m.write(addr + lay.nr_cpus_allowed, struct.pack("<i", len(t.allowed)))
        m.write(addr + lay.cpus_mask, struct.pack("<Q", mask))
        m.write(addr + lay.cpus_ptr, struct.pack("<Q", addr + lay.cpus_mask))
        self._write_task(t)

    def _write_task(self, t: Task) -> None:
        """The fields the core owns, as the kernel keeps them in ``task_struct.scx``."""
        if not t.addr:
            return
        lay, m, a = self.lay, self.m, t.addr
        flags = (_QUEUED if t.queued else 0) | (t.scx_state << _STATE_SHIFT)
        m.write(a + lay.flags, struct.pack("<IIiii", flags, t.weight, t.sticky_cpu, -1, t.selected_cpu))
        m.write(a + lay.dsq_vtime_etc, struct.pack("<QQB", t.slice & M64, t.dsq_vtime & M64, int(t.disallow)))

    def _read_back(self, t: Task) -> None:
        s, v, d = struct.unpack("<QQB", self.m.read(t.addr + self.lay.dsq_vtime_etc, 17))
        t.slice, t.dsq_vtime, t.disallow = s, v, bool(d)

    def has(self, member: str) -> bool:
        return self._has.get(member, False)

    def _arg(self, a: Any, tasks: list[Task]) -> int:
        if isinstance(a, Task):
            if not a.addr:
                self._alloc_task(a)
            self._write_task(a)
            tasks.append(a)
            return a.addr
        if a is None:
            return 0
        if isinstance(a, bool):
            return int(a)
        if isinstance(a, InitTaskArgs):
            self.m.write(self._args, struct.pack("<B7xQ", int(a.fork), 0))
            return self._args
        if isinstance(a, ExitTaskArgs):
            self.m.write(self._args, struct.pack("<B", int(a.cancelled)))
            return self._args
        if isinstance(a, ExitInfo):
            return self._exit_info(a)
        return int(a) & M64

    def _exit_info(self, ei: ExitInfo) -> int:
        """``struct scx_exit_info`` with its reason, msg and (empty) dump strings."""
        s = self._strs
        reason, msg = ei.reason.encode()[:127] + b"\0", ei.msg.encode()[:1023] + b"\0"
        self.m.write(s, reason.ljust(128, b"\0") + msg.ljust(1024, b"\0") + bytes(1024))
        self.m.write(self._ei, struct.pack("<I4xqQQIxxxxQQ", ei.kind, ei.exit_code, s, s + 2048, 0, s + 128,
                                           s + 1152))
        return self._ei

    def call(self, member: str, *args: Any) -> int:
        tasks: list[Task] = []
        raw = [self._arg(a, tasks) for a in args]
        self.calls += 1
        cpu = self.core._cur_cpu
        if 0 <= cpu < self.m.nr_cpus:
            self.m.runner.set_cpu(cpu)
        r = self.kd.call(member, *raw)
        for t in tasks:
            self._read_back(t)
        return r


class SchedRuntime:
    """What the sched_ext subsystem's ``reg``/``unreg`` and kfuncs talk to."""

    def __init__(self, kernel: Any, core: SchedExtCore) -> None:
        self.kernel = kernel
        self.core = core
        self.ops: BpfOps | None = None

    def enable(self, kd: Any, link: Any) -> int:
        if self.core.enabled:
            return -errno.EBUSY
        self.ops = BpfOps(self.kernel, kd, self.core)
        return self.core.enable(self.ops)

    def unregister(self, kd: Any) -> None:
        if self.ops is not None and self.ops.kd.addr == kd.addr:
            self.core.unregister()

    def kfunc(self, name: str, mem: Any, args: tuple[int, ...]) -> int:
        return self.core.kfunc(name, mem, args)


@dataclass
class SimResult:
    """What a run measured: per task, per CPU, and a summary (see :meth:`to_dict`)."""

    tasks: list[dict[str, Any]]
    cpus: list[dict[str, Any]]
    summary: dict[str, Any]
    timeline: list[list[tuple[int, int, int]]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    trace: list[tuple[int, int, str, int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "cpus": self.cpus, "summary": self.summary}

    def plot(self, path: str) -> None:
        """A per-CPU timeline of which task ran (SVG, or PNG/PDF by extension)."""
        from .sched_plot import plot_timeline

        plot_timeline(self, path)


def _load_object(kernel: Any, path: str) -> tuple[Any, str]:
    from emu.libbpf import BpfObject

    obj = BpfObject.open_file(path)
    names = [m.name for m in obj.maps if m.is_struct_ops and _st_type(obj, m) == "sched_ext_ops"]
    if not names:
        raise InputError(f"{path}: no struct_ops map of type sched_ext_ops")
    return obj, names[0]


def _st_type(obj: Any, m: Any) -> str:
    """The struct_ops type of a map (its variable's type, flavour suffix dropped)."""
    try:
        name = str(obj.btf.type_by_id(obj.btf.skip_modifiers(m.btf_value_type_id)).name)
    except Exception:  # noqa: BLE001 - a map without BTF
        return ""
    return name.split("___", 1)[0]


def simulate(obj_path: str | None = None, *, cpus: int = 4, tasks: int | Sequence[TaskSpec] = 8,
             duration_ns: int = 1_000_000_000, seed: int = 0, profile: Profile = LATEST,
             ops: PyOps | None = None, progress: Callable[[int, int], None] | None = None,
             trace: bool = False, record_timeline: bool = True,
             variables: Mapping[str, int | bytes] | None = None) -> SimResult:
    """Run ``duration_ns`` of simulated time on ``cpus`` CPUs with ``tasks`` (a count
    for :func:`default_workload`, or the specs) under the scheduler of the BPF object
    ``obj_path`` (its ``sched_ext_ops`` map is loaded and attached), or a Python
    scheduler ``ops``, or neither (the kernel's fallback FIFO). ``progress(now,
    duration)`` is called now and then; ``profile`` is the emulated kernel's;
    ``variables`` sets the object's global variables before load, as a skeleton's
    ``skel->rodata->name = value`` does (e.g. ``{"fifo_sched": 1}``). The summary's
    ``maps`` holds the object's array maps after the run (per index; per CPU for
    per-CPU arrays), as user space would read them before unloading.
    Raises :class:`InputError` for bad input and :class:`KernelError` when the
    emulated kernel refuses the object."""
    if not 1 <= cpus <= sched_ext.MAX_CPUS:
        raise InputError(f"--cpus {cpus}: the model supports 1..{sched_ext.MAX_CPUS} CPUs")
    if duration_ns <= 0:
        raise InputError("the duration must be positive")
    workload = default_workload(tasks, seed) if isinstance(tasks, int) else list(tasks)
    if not workload:
        raise InputError("no tasks to run")
    if variables and obj_path is None:
        raise InputError("global variables need a BPF object")
    kernel = None
    new_api = True
    if obj_path is not None and not os.path.isfile(obj_path):
        raise InputError(f"{obj_path}: no such file")
    if obj_path is not None:
        from emu.kernel import Kernel

        prof = profile
        if not sched_ext.supported(prof):
            raise KernelError(errno.ENOENT, f"profile {prof.name}: no sched_ext before Linux 6.12")
        new_api = prof.sched_ext_618_interface
        kernel = Kernel(prof, modules=(), seed=seed, nr_cpus=cpus)
    core = SchedExtCore(cpus, workload, seed=seed, new_api=new_api, record_timeline=record_timeline, trace=trace)
    t0 = time.perf_counter()
    name = "fallback FIFO (no BPF scheduler)"
    link = None
    maps: dict[str, list[Any]] = {}
    obj = None
    bpf_ops: BpfOps | None = None
    try:
        if kernel is not None:
            desc = kernel.struct_ops_type("sched_ext_ops")
            rt = SchedRuntime(kernel, core)
            desc.ops.private[sched_ext.RUNTIME_KEY] = rt
            obj, map_name = _load_object(kernel, obj_path)  # type: ignore[arg-type]
            from emu.libbpf import LibbpfError

            for var, value in (variables or {}).items():
                try:
                    obj.set_global(var, value)
                except LibbpfError as e:
                    raise InputError(f"{obj_path}: {e}") from None
            obj.load(kernel)
            link = obj.attach_struct_ops(map_name)
            bpf_ops = rt.ops
            name = bpf_ops.name if bpf_ops is not None else map_name
        elif ops is not None:
            core.enable(ops)
            name = ops.name or type(ops).__name__
        core.start()
        step = max(duration_ns // 50, 1)
        at = 0
        while at < duration_ns:
            at = min(duration_ns, at + step)
            core.run(at)
            if progress is not None:
                progress(at, duration_ns)
        core.finish()
        exit_before_unload = core.exit_info if core.exit_history or core.exit_info.kind != SCX_EXIT_NONE else None
        if obj is not None and kernel is not None:
            maps = _array_maps(kernel, obj)
        if link is not None:
            link.destroy()
        elif ops is not None:
            core.unregister()
    finally:
        if kernel is not None:
            kernel.shutdown()
    wall = time.perf_counter() - t0
    res = _result(core, name, duration_ns, wall, exit_before_unload, bpf_ops, seed)
    res.summary["maps"] = maps
    return res


def _array_maps(kernel: Any, obj: Any) -> dict[str, list[Any]]:
    """The object's (per-CPU) array maps read through ``BPF_MAP_LOOKUP_ELEM``, global data
    aside: per index an unsigned little-endian int for a 1/2/4/8-byte value, else hex; a
    per-CPU array gives a list per index, one entry per possible CPU."""
    from kernel_model.bpf_map import MAP_TYPE_ARRAY, MAP_TYPE_PERCPU_ARRAY

    def val(b: bytes, size: int) -> Any:
        b = b[:size]
        return int.from_bytes(b, "little") if size in (1, 2, 4, 8) else b.hex()

    out: dict[str, list[Any]] = {}
    for m in obj.maps:
        if m.is_internal or m.fd < 0 or m.map_type not in (MAP_TYPE_ARRAY, MAP_TYPE_PERCPU_ARRAY):
            continue
        rows: list[Any] = []
        for i in range(m.max_entries):
            raw = kernel.map_lookup_elem(m.fd, i.to_bytes(4, "little"))
            if m.map_type == MAP_TYPE_PERCPU_ARRAY:
                step = (m.value_size + 7) // 8 * 8
                rows.append([val(raw[c:c + step], m.value_size) for c in range(0, len(raw), step)])
            else:
                rows.append(val(raw, m.value_size))
        out[m.name] = rows
    return out


def _result(core: SchedExtCore, name: str, duration: int, wall: float, early_exit: Any,
            bpf_ops: BpfOps | None, seed: int) -> SimResult:
    tasks = [t.stats() for t in core.tasks]
    cpus = [{"cpu": c.cpu, "busy_ns": c.busy_ns, "switches": c.nr_switches} for c in core.cpus]
    busy = sum(c.busy_ns for c in core.cpus)
    calls = dict(sorted(core.stats.member_calls.items()))
    first_exit = core.exit_history[0] if core.exit_history else core.exit_info
    errored = first_exit.kind >= 1024
    summary: dict[str, Any] = {
        "scheduler": name,
        "duration_ns": duration,
        "nr_cpus": core.nr_cpus,
        "nr_tasks": len(core.tasks),
        "seed": seed,
        "busy_ns": busy,
        "utilization": busy / (duration * core.nr_cpus),
        "total_runtime_ns": sum(t.runtime_ns for t in core.tasks),
        "max_wait_ns": max((t.max_wait_ns for t in core.tasks), default=0),
        "switches": sum(c.nr_switches for c in core.cpus),
        "member_calls": calls,
        "nr_member_calls": sum(calls.values()),
        "kfunc_calls": dict(sorted(core.stats.kfunc_calls.items())),
        "exit": {"kind": first_exit.kind, "reason": first_exit.reason, "msg": first_exit.msg,
                 "exit_code": first_exit.exit_code, "at_ns": first_exit.at_ns},
        "disabled_early": bool(early_exit is not None and errored or (early_exit is not None and
                                                                      first_exit.kind == 65)),
        "wall_s": round(wall, 3),
        "sim_s_per_wall_s": (duration / 1e9) / wall if wall > 0 else None,
    }
    return SimResult(tasks, cpus, summary, [list(c.segments) for c in core.cpus],
                     {t.pid: t.comm for t in core.tasks}, core.trace)
