"""The sched_ext core, simulated: CPUs, tasks that run and sleep, dispatch queues,
and the BPF scheduler's callbacks in the kernel's order.

Pure (no machine): the callbacks go through a :class:`SchedOps` -- a loaded BPF
struct_ops map (``emu.sim.sched``), a Python scheduler (:class:`PyOps`), or
nothing at all (:data:`NO_OPS`, the scx core's built-in behaviour: a global
FIFO, which is also what tasks fall back to when a scheduler is disabled).

Every rule below is from Linux 6.18.35 ``kernel/sched/ext.c`` and
``ext_idle.c`` (checked against 6.12's ``ext.c`` where it differs), function by
function:

* wakeup (``try_to_wake_up``): ``select_task_rq_scx`` -- ``ops.select_cpu(p,
  prev_cpu, SCX_WAKE_TTWU)``, or without it ``scx_select_cpu_dfl`` and a direct
  dispatch to the local DSQ when an idle CPU was found; then
  ``enqueue_task_scx`` (``ops.runnable``, then ``do_enqueue_task``: a direct
  dispatch verdict, or ``ops.enqueue``, or the global DSQ without it);
* ``__schedule``: a task whose CPU burst ended is dequeued
  (``dequeue_task_scx``: ``ops.dequeue`` if the BPF scheduler owns it,
  ``ops.stopping(p, false)``, ``ops.quiescent(p, SCX_DEQ_SLEEP)``);
  ``balance_one`` keeps ``prev`` while it has slice, else takes the local DSQ,
  the global DSQ, then loops ``ops.dispatch(cpu, prev)`` (at most
  ``SCX_DSP_MAX_LOOPS``) flushing the dispatch buffer after each call;
  ``pick_task_scx``; ``put_prev_task_scx`` (``ops.stopping(p, true)`` and
  ``ops.enqueue`` for a task whose slice ran out, the head of the local DSQ for
  one preempted with slice left); ``set_next_task_scx`` (``ops.running``);
* the tick (``task_tick_scx``, every 1/HZ, HZ=250 as Debian's config):
  ``update_curr_scx`` charges the slice, ``ops.tick``, a reschedule at zero;
* DSQs (``dispatch_enqueue``): FIFO (``SCX_ENQ_HEAD`` at the head) or vtime
  ordered (``SCX_ENQ_DSQ_PRIQ``, never for built-in DSQs); a CPU consumes
  tasks of its own rq or migrates one it may run (``consume_dispatch_q``);
* loading (``scx_enable_workfn``): ``ops.init``, ``ops.init_task(p, {.fork =
  false})`` for every task, then under bypass ``ops.enable``, ``ops.runnable``
  and the global DSQ; later tasks fork (``scx_fork``/``scx_post_fork``,
  ``wake_up_new_task``: ``init_task(fork)``, ``enable``, ``select_cpu(p, cpu,
  SCX_WAKE_FORK)``, ``runnable``, ``enqueue``); an exiting task gets
  ``disable`` and ``exit_task`` (``sched_ext_free``);
* errors (``scx_error`` -> ``scx_vexit`` -> ``scx_disable_workfn``): the first
  exit reason is kept; the scheduler is disabled at the end of the current
  event: every task gets ``ops.dequeue`` (if owned) / ``stopping`` /
  ``quiescent`` / ``disable`` / ``exit_task``, then ``ops.exit(ei)``; tasks
  fall back to the global FIFO; the watchdog (``scx_watchdog_workfn``, every
  timeout/2) raises ``SCX_EXIT_ERROR_STALL`` ("%s[%d] failed to run for
  %u.%03us") for a task runnable longer than ``timeout_ms`` (30 s default).

Where we differ (stated, not hidden): one NUMA node, no SMT and no LLC
domains, so ``scx_select_cpu_dfl`` is "prev_cpu if idle, else the lowest idle
allowed CPU" (the kernel's ``cpumask_any_and_distribute`` spreads); kicks and
reschedules take effect at the end of the current event, not after an IPI;
``SCX_KICK_WAIT`` does not wait; no other scheduling class runs (no
``cpu_acquire``/``cpu_release``), no cgroups, no core scheduling, no hotplug;
while loading, the switch of existing tasks is modelled as the kernel does it
under bypass (runnable, global DSQ) but the later ``scx_bypass(false)`` merely
kicks every CPU.
"""

from __future__ import annotations

import errno
import heapq
import random
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .sched_ext import (
    SCX_DSQ_FLAG_BUILTIN, SCX_DSQ_GLOBAL, SCX_DSQ_INVALID, SCX_DSQ_LOCAL, SCX_DSQ_LOCAL_CPU_MASK,
    SCX_DSQ_LOCAL_ON, SCX_SLICE_DFL, SCX_SLICE_INF,
)

__all__ = [
    "TaskSpec", "Task", "DSQ", "Cpu", "SchedOps", "PyOps", "NO_OPS", "SchedExtCore", "ExitInfo", "InitTaskArgs",
    "ExitTaskArgs", "SimStats", "HZ", "TICK_NS", "weight_of_nice",
    "SCX_ENQ_WAKEUP", "SCX_ENQ_HEAD", "SCX_ENQ_PREEMPT", "SCX_ENQ_LAST", "SCX_ENQ_DSQ_PRIQ",
    "SCX_DEQ_SLEEP", "SCX_KICK_IDLE", "SCX_KICK_PREEMPT", "SCX_KICK_WAIT", "SCX_WAKE_FORK", "SCX_WAKE_TTWU",
    "SCX_EXIT_NONE", "SCX_EXIT_UNREG", "SCX_EXIT_UNREG_BPF", "SCX_EXIT_ERROR", "SCX_EXIT_ERROR_BPF",
    "SCX_EXIT_ERROR_STALL", "SCX_OPS_ENQ_LAST", "exit_reason",
]

M64 = (1 << 64) - 1
#: CONFIG_HZ of Debian's 6.12 config; a jiffy is 4 ms
HZ = 250
TICK_NS = 1_000_000_000 // HZ

# kernel/sched/sched.h (6.12/6.18)
ENQUEUE_WAKEUP, ENQUEUE_RESTORE, ENQUEUE_MOVE, ENQUEUE_NOCLOCK = 0x01, 0x02, 0x04, 0x08
ENQUEUE_INITIAL, ENQUEUE_MIGRATED, ENQUEUE_RQ_SELECTED = 0x80, 0x40, 0x400
DEQUEUE_SLEEP, DEQUEUE_SAVE, DEQUEUE_MOVE, DEQUEUE_NOCLOCK = 0x01, 0x02, 0x04, 0x08
# enum scx_enq_flags / scx_deq_flags / scx_kick_flags / scx_wake_flags
SCX_ENQ_WAKEUP, SCX_ENQ_HEAD, SCX_ENQ_CPU_SELECTED = 0x01, 0x10, 0x400
SCX_ENQ_PREEMPT, SCX_ENQ_REENQ, SCX_ENQ_LAST = 1 << 32, 1 << 40, 1 << 41
SCX_ENQ_INTERNAL_MASK, SCX_ENQ_CLEAR_OPSS, SCX_ENQ_DSQ_PRIQ = 0xFF << 56, 1 << 56, 1 << 57
SCX_DEQ_SLEEP, SCX_DEQ_CORE_SCHED_EXEC = 0x01, 1 << 32
SCX_KICK_IDLE, SCX_KICK_PREEMPT, SCX_KICK_WAIT = 1, 2, 4
SCX_WAKE_FORK, SCX_WAKE_TTWU, SCX_WAKE_SYNC = 0x04, 0x08, 0x10
SCX_OPS_ENQ_LAST = 1 << 1
# enum scx_exit_kind
SCX_EXIT_NONE, SCX_EXIT_DONE, SCX_EXIT_UNREG, SCX_EXIT_UNREG_BPF, SCX_EXIT_UNREG_KERN = 0, 1, 64, 65, 66
SCX_EXIT_ERROR, SCX_EXIT_ERROR_BPF, SCX_EXIT_ERROR_STALL = 1024, 1025, 1026
# enum scx_kf_mask
KF_UNLOCKED, KF_CPU_RELEASE, KF_DISPATCH, KF_ENQUEUE, KF_SELECT_CPU, KF_REST = 0, 1, 2, 4, 8, 16
# enum scx_task_state
TASK_NONE, TASK_INIT, TASK_READY, TASK_ENABLED = 0, 1, 2, 3
# enum scx_ops_state
OPSS_NONE, OPSS_QUEUEING, OPSS_QUEUED, OPSS_DISPATCHING = 0, 1, 2, 3
SCX_DSP_DFL_MAX_BATCH = 32
SCX_DSP_MAX_LOOPS = 32
SCX_WATCHDOG_MAX_TIMEOUT_NS = 30 * 1_000_000_000
MAX_ERRNO = 4095

#: kernel/sched/core.c sched_prio_to_weight[] (nice -20 .. 19)
_PRIO_TO_WEIGHT = (
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
    9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277,
    1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
    110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
)


def weight_of_nice(nice: int) -> int:
    """``p->scx.weight``: ``sched_weight_to_cgroup(sched_prio_to_weight[nice + 20])``
    (kernel/sched/sched.h: ``clamp_t(unsigned long, DIV_ROUND_CLOSEST_ULL(w * 100,
    1024), 1, 10000)``); nice 0 is 100."""
    w = _PRIO_TO_WEIGHT[max(-20, min(19, nice)) + 20]
    return max(1, min(10000, (w * 100 + 512) // 1024))


def exit_reason(kind: int) -> str:
    """``scx_exit_reason()``."""
    return {SCX_EXIT_UNREG: "unregistered from user space", SCX_EXIT_UNREG_BPF: "unregistered from BPF",
            SCX_EXIT_UNREG_KERN: "unregistered from the main kernel", 67: "disabled by sysrq-S",
            SCX_EXIT_ERROR: "runtime error", SCX_EXIT_ERROR_BPF: "scx_bpf_error",
            SCX_EXIT_ERROR_STALL: "runnable task stall"}.get(kind, "<UNKNOWN>")


# =====================================================================================
# workload and tasks
# =====================================================================================
@dataclass(frozen=True)
class TaskSpec:
    """A task of the workload: it alternates CPU bursts of about ``run_ns`` and
    sleeps of about ``sleep_ns`` (``sleep_ns == 0``: CPU bound), each drawn
    uniformly within ±``jitter`` of the mean from the run's seed; it forks at
    ``start_ns`` and exits after ``total_ns`` of CPU time (None: never)."""

    name: str = "task"
    run_ns: int = 10_000_000
    sleep_ns: int = 0
    nice: int = 0
    start_ns: int = 0
    total_ns: int | None = None
    cpus: tuple[int, ...] | None = None
    jitter: float = 0.5


@dataclass(eq=False)
class Task:
    """A task: the ``task_struct`` fields a scheduler sees (``pid``, ``comm``,
    ``scx.*``) and the simulator's own bookkeeping and statistics."""

    pid: int
    spec: TaskSpec
    cpu: int
    allowed: frozenset[int]
    weight: int = 100
    static_prio: int = 120
    # sched_ext_entity
    flags: int = 0
    scx_state: int = TASK_NONE
    slice: int = 0
    dsq_vtime: int = 0
    disallow: bool = False
    selected_cpu: int = -1
    sticky_cpu: int = -1
    ddsp_dsq_id: int = SCX_DSQ_INVALID
    ddsp_enq_flags: int = 0
    ops_state: int = OPSS_NONE
    qseq: int = 0
    runnable_at: int = 0  # jiffies
    reset_runnable_at: bool = True
    on_runnable_list: bool = False
    dsq: "DSQ | None" = None
    queued: bool = False  # SCX_TASK_QUEUED
    # simulator state
    state: str = "new"  # new, runnable, running, sleeping, dead
    burst_left: int = 0
    exec_start: int = 0
    wait_start: int | None = None
    addr: int = 0  # the task_struct in emulated memory, when a machine backs the run
    rng: random.Random = field(default_factory=random.Random)
    # statistics
    runtime_ns: int = 0
    wait_ns: int = 0
    max_wait_ns: int = 0
    switches: int = 0
    wakeups: int = 0
    migrations: int = 0

    @property
    def comm(self) -> str:
        return self.spec.name[:15]

    def stats(self) -> dict[str, Any]:
        return {"pid": self.pid, "comm": self.comm, "nice": self.spec.nice, "weight": self.weight,
                "runtime_ns": self.runtime_ns, "wait_ns": self.wait_ns, "max_wait_ns": self.max_wait_ns,
                "switches": self.switches, "wakeups": self.wakeups, "migrations": self.migrations,
                "state": self.state}


class DSQ:
    """``struct scx_dispatch_q``: a FIFO, or a ``dsq_vtime``-ordered queue once a
    task was inserted with ``SCX_ENQ_DSQ_PRIQ`` (never both at once)."""

    __slots__ = ("id", "tasks", "priq", "seq", "cpu")

    def __init__(self, dsq_id: int, cpu: int = -1) -> None:
        self.id = dsq_id
        self.tasks: list[Task] = []
        self.priq = False
        self.seq = 0
        self.cpu = cpu  # for a local DSQ: its CPU

    @property
    def nr(self) -> int:
        return len(self.tasks)

    @property
    def is_local(self) -> bool:
        return self.id == SCX_DSQ_LOCAL

    def __repr__(self) -> str:
        return f"<DSQ {self.id:#x} nr={self.nr}>"


@dataclass(eq=False)
class Cpu:
    """A CPU (``struct rq``): the current task (None: idle), its local DSQ, the
    idle bit of the built-in idle tracking, and statistics."""

    cpu: int
    local: DSQ
    curr: Task | None = None
    idle_bit: bool = True
    in_balance: bool = False
    busy_ns: int = 0
    run_token: int = 0
    nr_switches: int = 0
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # (pid, start_ns, end_ns)


@dataclass
class ExitInfo:
    """``struct scx_exit_info``: why the scheduler was disabled."""

    kind: int = SCX_EXIT_NONE
    exit_code: int = 0
    reason: str = ""
    msg: str = ""
    at_ns: int = 0


@dataclass
class InitTaskArgs:
    """``struct scx_init_task_args``."""

    fork: bool


@dataclass
class ExitTaskArgs:
    """``struct scx_exit_task_args``."""

    cancelled: bool


# =====================================================================================
# the scheduler's callbacks
# =====================================================================================
class SchedOps:
    """What the core needs of a scheduler: its data members and its callbacks.
    ``call(member, *args)`` gets :class:`Task`, ints, bools and the argument
    containers above, and returns the member's value (0 for void members)."""

    name: str = ""
    flags: int = 0
    timeout_ms: int = 0
    dispatch_max_batch: int = 0

    def has(self, member: str) -> bool:
        return False

    def call(self, member: str, *args: Any) -> int:
        raise NotImplementedError(member)


#: no BPF scheduler: the scx core's built-in behaviour (global FIFO)
NO_OPS = SchedOps()


class PyOps(SchedOps):
    """A scheduler written in Python: define methods named like the members
    (``enqueue(self, p, enq_flags)`` ...); ``self.scx`` is the core, whose
    kfunc-like methods (:meth:`SchedExtCore.dsq_insert` ...) they call."""

    scx: "SchedExtCore"

    def has(self, member: str) -> bool:
        return callable(getattr(type(self), member, None)) and member not in SchedOps.__dict__ \
            and member not in PyOps.__dict__

    def call(self, member: str, *args: Any) -> int:
        r = getattr(self, member)(*args)
        return 0 if r is None else int(r)


class ScxError(Exception):
    """Raised nowhere outside the core: scx_error() records and returns."""


@dataclass
class SimStats:
    """Counters of a run."""

    member_calls: dict[str, int] = field(default_factory=dict)
    kfunc_calls: dict[str, int] = field(default_factory=dict)
    events: int = 0


# =====================================================================================
# the core
# =====================================================================================
class SchedExtCore:
    """One simulated machine: ``nr_cpus`` CPUs, the tasks of ``workload``, and the
    scheduler core; ``enable(ops)`` loads a scheduler, ``run(until_ns)`` advances
    time, ``disable()`` unloads. Deterministic for a ``seed``."""

    def __init__(self, nr_cpus: int, workload: Sequence[TaskSpec], *, seed: int = 0, new_api: bool = True,
                 record_timeline: bool = True, trace: bool = False) -> None:
        if not 1 <= nr_cpus <= 64:
            raise ValueError(f"nr_cpus {nr_cpus}: the model supports 1..64 CPUs")
        self.nr_cpus = nr_cpus
        self.seed = seed
        #: kfunc names of 6.13+ (scx_bpf_dsq_insert ...) or 6.12 (scx_bpf_dispatch ...)
        self.new_api = new_api
        self.now = 0
        self.cpus = [Cpu(c, DSQ(SCX_DSQ_LOCAL, c)) for c in range(nr_cpus)]
        self.global_dsq = DSQ(SCX_DSQ_GLOBAL)
        self.user_dsqs: dict[int, DSQ] = {}
        self.ops: SchedOps = NO_OPS
        self.enabled = False
        self.bypass = False
        self.exit_info = ExitInfo()
        self.exit_history: list[ExitInfo] = []
        self.stats = SimStats()
        self.record_timeline = record_timeline
        self.trace: list[tuple[int, int, str, int]] | None = [] if trace else None
        self.tasks: list[Task] = []
        self._by_addr: dict[int, Task] = {}
        self._events: list[tuple[int, int, str, Any]] = []
        self._seq = 0
        self._resched: set[int] = set()
        self._kf_mask = KF_UNLOCKED
        self._cur_cpu = 0
        self._ddsp_task: Task | None | bool = None  # False: already direct-dispatched (ERR_PTR(-ESRCH))
        self._dsp_buf: list[tuple[Task, int, int, int]] = []
        self._dsp_cpu = 0
        self._dsp_nr = 0
        self._dsp_max = SCX_DSP_DFL_MAX_BATCH
        self._ops_qseq = 0
        self._pending_exit = False
        self._timeout_ns = SCX_WATCHDOG_MAX_TIMEOUT_NS
        self._resched_count: dict[int, int] = {}
        self._resched_at = -1
        #: hooks the machine-backed driver sets: after a kfunc changed a task's fields
        self.on_task_changed: Callable[[Task], None] | None = None
        rng = random.Random(seed)
        for i, spec in enumerate(workload):
            pid = 100 + i
            allowed = frozenset(c for c in (spec.cpus or range(nr_cpus)) if 0 <= c < nr_cpus) or \
                frozenset(range(nr_cpus))
            t = Task(pid, spec, cpu=min(allowed, key=lambda c: (c - i) % nr_cpus), allowed=allowed,
                     weight=weight_of_nice(spec.nice), static_prio=120 + spec.nice,
                     rng=random.Random(rng.getrandbits(64)))
            self.tasks.append(t)
        self._push(0, "tick", None)
        for t in self.tasks:
            if t.spec.start_ns > 0:
                self._push(t.spec.start_ns, "fork", t)

    # --- events ----------------------------------------------------------------------------
    def _push(self, when: int, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, kind, payload))

    def _draw(self, t: Task, mean: int) -> int:
        if mean <= 0:
            return 0
        j = t.spec.jitter
        v = int(mean * (1 - j + 2 * j * t.rng.random())) if j > 0 else mean
        return max(1000, v)

    # --- tracing and calls --------------------------------------------------------------------
    def _call(self, member: str, mask: int, *args: Any) -> int:
        """``SCX_CALL_OP*``: the kfunc mask of the operation, the call, counters."""
        ops = self.ops
        if not ops.has(member):
            return 0
        sc = self.stats.member_calls
        sc[member] = sc.get(member, 0) + 1
        if self.trace is not None:
            t = next((a for a in args if isinstance(a, Task)), None)
            self.trace.append((self.now, self._cur_cpu, member, t.pid if t else -1))
        saved = self._kf_mask
        self._kf_mask = mask
        try:
            return ops.call(member, *args)
        finally:
            self._kf_mask = saved

    def has_op(self, member: str) -> bool:
        return self.enabled and self.ops.has(member)

    # --- errors ----------------------------------------------------------------------------------
    def error(self, msg: str, kind: int = SCX_EXIT_ERROR, exit_code: int = 0) -> None:
        """``scx_error``/``scx_exit``: the first exit claims ``exit_info``; the
        disable runs at the end of the current event."""
        if not self.enabled or self.exit_info.kind != SCX_EXIT_NONE:
            return
        self.exit_info = ExitInfo(kind, exit_code, exit_reason(kind), msg[:1023], self.now)
        self._pending_exit = True

    def _kf_allowed(self, mask: int) -> bool:
        """``scx_kf_allowed``."""
        if not (self._kf_mask & mask):
            self.error(f"kfunc with mask {mask:#x} called from an operation only allowing {self._kf_mask:#x}")
            return False
        if mask & KF_DISPATCH and not (mask & ~(KF_DISPATCH | KF_CPU_RELEASE)) and \
                self._kf_mask & (KF_ENQUEUE | KF_SELECT_CPU | KF_REST):
            self.error("dispatch kfunc called from a nested operation")
            return False
        return True

    def _cpu_valid(self, cpu: int, where: str | None = None) -> bool:
        """``ops_cpu_valid``."""
        if 0 <= cpu < self.nr_cpus:
            return True
        self.error(f"invalid CPU {cpu}{' ' if where else ''}{where or ''}")
        return False

    # =====================================================================================
    # DSQs
    # =====================================================================================
    def _find_dsq_for_dispatch(self, cpu: int, dsq_id: int, p: Task) -> DSQ:
        """``find_dsq_for_dispatch``."""
        if dsq_id == SCX_DSQ_LOCAL:
            return self.cpus[cpu].local
        if dsq_id & SCX_DSQ_LOCAL_ON == SCX_DSQ_LOCAL_ON:
            c = dsq_id & SCX_DSQ_LOCAL_CPU_MASK
            c = c - (1 << 32) if c >> 31 else c
            if not self._cpu_valid(c, "in SCX_DSQ_LOCAL_ON dispatch verdict"):
                return self.global_dsq
            return self.cpus[c].local
        if dsq_id == SCX_DSQ_GLOBAL:
            return self.global_dsq
        dsq = self.user_dsqs.get(dsq_id)
        if dsq is None:
            self.error(f"non-existent DSQ {dsq_id:#x} for {p.comm}[{p.pid}]")
            return self.global_dsq
        return dsq

    def _dispatch_enqueue(self, dsq: DSQ, p: Task, enq_flags: int) -> None:
        """``dispatch_enqueue``."""
        if dsq.id & SCX_DSQ_FLAG_BUILTIN and enq_flags & SCX_ENQ_DSQ_PRIQ:
            self.error("cannot use vtime ordering for built-in DSQs")
            enq_flags &= ~SCX_ENQ_DSQ_PRIQ
        if enq_flags & SCX_ENQ_DSQ_PRIQ:
            if not dsq.priq and dsq.tasks:
                self.error(f"DSQ ID 0x{dsq.id:016x} already had FIFO-enqueued tasks")
            dsq.priq = True
            # rb_add with time_before64: after every task whose vtime is not later
            v = p.dsq_vtime
            k = len(dsq.tasks)
            while k > 0 and ((v - dsq.tasks[k - 1].dsq_vtime) & M64) >> 63:
                k -= 1
            dsq.tasks.insert(k, p)
        else:
            if dsq.priq and dsq.tasks:
                self.error(f"DSQ ID 0x{dsq.id:016x} already had PRIQ-enqueued tasks")
            if enq_flags & (SCX_ENQ_HEAD | SCX_ENQ_PREEMPT):
                dsq.tasks.insert(0, p)
            else:
                dsq.tasks.append(p)
        if not dsq.tasks[1:] and not (enq_flags & SCX_ENQ_DSQ_PRIQ):
            dsq.priq = False
        dsq.seq += 1
        p.dsq = dsq
        p.ops_state = OPSS_NONE
        if dsq.is_local:
            self._local_dsq_post_enq(dsq, p, enq_flags)

    def _local_dsq_post_enq(self, dsq: DSQ, p: Task, enq_flags: int) -> None:
        """``local_dsq_post_enq``: preempt on SCX_ENQ_PREEMPT, wake an idle CPU."""
        rq = self.cpus[dsq.cpu]
        if rq.in_balance:
            return
        preempt = False
        if enq_flags & SCX_ENQ_PREEMPT and rq.curr is not None and p is not rq.curr:
            rq.curr.slice = 0
            preempt = True
        if preempt or rq.curr is None:
            self._resched.add(rq.cpu)

    def _unlink(self, p: Task) -> None:
        """``dispatch_dequeue``."""
        dsq = p.dsq
        if dsq is not None:
            dsq.tasks.remove(p)
            if not dsq.tasks:
                dsq.priq = False
            p.dsq = None

    def _can_run_on(self, p: Task, cpu: int) -> bool:
        """``task_can_run_on_remote_rq`` (no migration-disabled tasks here)."""
        return cpu in p.allowed

    def _move_to_cpu(self, p: Task, cpu: int) -> None:
        """``move_remote_task_to_local_dsq``'s migration: the task changes rq with
        ``TASK_ON_RQ_MIGRATING`` set, so no callback sees it."""
        if p.cpu != cpu:
            p.cpu = cpu
            p.migrations += 1

    def _consume_dispatch_q(self, cpu: int, dsq: DSQ) -> bool:
        """``consume_dispatch_q``: the first task this CPU may run."""
        for p in list(dsq.tasks):
            if p.cpu == cpu or self._can_run_on(p, cpu):
                self._unlink(p)
                self._move_to_cpu(p, cpu)
                self._dispatch_enqueue(self.cpus[cpu].local, p, 0)
                return True
        return False

    def _dispatch_to_local_dsq(self, cpu: int, dst: DSQ, p: Task, enq_flags: int) -> None:
        """``dispatch_to_local_dsq``: to the destination CPU if the task may run
        there, else the global DSQ."""
        if p.cpu == dst.cpu or self._can_run_on(p, dst.cpu):
            self._move_to_cpu(p, dst.cpu)
            self._dispatch_enqueue(dst, p, enq_flags)
        else:
            self._dispatch_enqueue(self.global_dsq, p, enq_flags | SCX_ENQ_CLEAR_OPSS)

    # =====================================================================================
    # enqueue / dequeue
    # =====================================================================================
    def _set_runnable(self, p: Task) -> None:
        """``set_task_runnable``: ``runnable_at`` restarts when the task last ran."""
        if p.reset_runnable_at:
            p.runnable_at = self.now // TICK_NS
            p.reset_runnable_at = False
        p.on_runnable_list = True
        if p.wait_start is None:
            p.wait_start = self.now

    def _enqueue_task(self, p: Task, cpu: int, enq_flags: int, sticky_cpu: int = -1) -> None:
        """``enqueue_task_scx``."""
        if p.queued:
            return
        self._set_runnable(p)
        p.queued = True
        p.state = "runnable"
        if self.has_op("runnable"):
            self._at(cpu, lambda: self._call("runnable", KF_REST, p, enq_flags))
        self._do_enqueue_task(p, cpu, enq_flags, sticky_cpu)

    def _at(self, cpu: int, fn: Callable[[], Any]) -> Any:
        saved = self._cur_cpu
        self._cur_cpu = cpu
        try:
            return fn()
        finally:
            self._cur_cpu = saved

    def _refill(self, p: Task) -> None:
        p.slice = SCX_SLICE_DFL

    def _do_enqueue_task(self, p: Task, cpu: int, enq_flags: int, sticky_cpu: int) -> None:
        """``do_enqueue_task``."""
        rq = self.cpus[cpu]
        if sticky_cpu == cpu:
            self._dispatch_enqueue(rq.local, p, enq_flags)
            return
        if not self.enabled or self.bypass or not self.ops.has("enqueue"):
            if p.ddsp_dsq_id != SCX_DSQ_INVALID and not self.bypass:
                self._direct_dispatch(p, cpu, enq_flags)
                return
            self._refill(p)
            p.ddsp_dsq_id, p.ddsp_enq_flags = SCX_DSQ_INVALID, 0
            self._dispatch_enqueue(self.global_dsq, p, enq_flags)
            return
        if p.ddsp_dsq_id != SCX_DSQ_INVALID:
            self._direct_dispatch(p, cpu, enq_flags)
            return
        self._ops_qseq += 1
        p.qseq = self._ops_qseq
        p.ops_state = OPSS_QUEUEING
        self._ddsp_task = p
        self._at(cpu, lambda: self._call("enqueue", KF_ENQUEUE, p, enq_flags))
        self._ddsp_task = None
        if p.ddsp_dsq_id != SCX_DSQ_INVALID:
            self._direct_dispatch(p, cpu, enq_flags)
            return
        p.ops_state = OPSS_QUEUED

    def _direct_dispatch(self, p: Task, cpu: int, enq_flags: int) -> None:
        """``direct_dispatch``: the verdict recorded by ``mark_direct_dispatch``."""
        dsq = self._find_dsq_for_dispatch(p.cpu, p.ddsp_dsq_id, p)
        flags = p.ddsp_enq_flags | enq_flags
        p.ddsp_dsq_id, p.ddsp_enq_flags = SCX_DSQ_INVALID, 0
        if dsq.is_local and dsq.cpu != p.cpu:
            self._dispatch_to_local_dsq(cpu, dsq, p, flags)  # process_ddsp_deferred_locals
        else:
            self._dispatch_enqueue(dsq, p, flags | SCX_ENQ_CLEAR_OPSS)

    def _ops_dequeue(self, p: Task, deq_flags: int) -> None:
        """``ops_dequeue``: ``ops.dequeue`` while the BPF scheduler owns the task."""
        p.on_runnable_list = False
        if p.ops_state == OPSS_QUEUED:
            if self.has_op("dequeue"):
                self._at(p.cpu, lambda: self._call("dequeue", KF_REST, p, deq_flags))
            p.ops_state = OPSS_NONE

    def _dequeue_task(self, p: Task, deq_flags: int) -> None:
        """``dequeue_task_scx``."""
        if not p.queued:
            return
        rq = self.cpus[p.cpu]
        self._ops_dequeue(p, deq_flags)
        if rq.curr is p:
            self._update_curr(rq)
            if self.has_op("stopping"):
                self._at(p.cpu, lambda: self._call("stopping", KF_REST, p, False))
        if self.has_op("quiescent"):
            self._at(p.cpu, lambda: self._call("quiescent", KF_REST, p, deq_flags))
        p.queued = False
        self._unlink(p)
        p.ddsp_dsq_id, p.ddsp_enq_flags = SCX_DSQ_INVALID, 0
        if p.wait_start is not None:
            self._end_wait(p)

    def _end_wait(self, p: Task) -> None:
        w = self.now - (p.wait_start or self.now)
        p.wait_ns += w
        p.max_wait_ns = max(p.max_wait_ns, w)
        p.wait_start = None

    # =====================================================================================
    # CPU selection
    # =====================================================================================
    def _idle_test_and_clear(self, cpu: int) -> bool:
        c = self.cpus[cpu]
        if c.idle_bit:
            c.idle_bit = False
            return True
        return False

    def _select_cpu_dfl(self, p: Task, prev_cpu: int, wake_flags: int) -> int:
        """``scx_select_cpu_dfl`` on a flat topology: prev_cpu if idle, else the
        lowest idle allowed CPU, else -EBUSY."""
        if prev_cpu in p.allowed and self._idle_test_and_clear(prev_cpu):
            return prev_cpu
        for c in sorted(p.allowed):
            if self._idle_test_and_clear(c):
                return c
        return -errno.EBUSY

    def _select_task_rq(self, p: Task, prev_cpu: int, wake_flags: int) -> int:
        """``select_task_rq_scx``."""
        if self.has_op("select_cpu") and not self.bypass:
            self._ddsp_task = p
            r = self._at(prev_cpu, lambda: self._call("select_cpu", KF_ENQUEUE | KF_SELECT_CPU, p, prev_cpu,
                                                      wake_flags))
            cpu = _s32(r)
            p.selected_cpu = cpu
            self._ddsp_task = None
            return cpu if self._cpu_valid(cpu, "from ops.select_cpu()") else prev_cpu
        cpu = self._select_cpu_dfl(p, prev_cpu, wake_flags)
        if cpu >= 0:
            self._refill(p)
            p.ddsp_dsq_id = SCX_DSQ_LOCAL
        else:
            cpu = prev_cpu
        p.selected_cpu = cpu
        return cpu

    def _wake_up(self, p: Task, fork: bool) -> None:
        """``try_to_wake_up`` / ``wake_up_new_task``: pick the rq, enqueue, kick an
        idle CPU (``wakeup_preempt`` from the idle class always reschedules)."""
        prev_cpu = p.cpu
        wake_flags = SCX_WAKE_FORK if fork else SCX_WAKE_TTWU
        selected = False
        if len(p.allowed) > 1:
            cpu = self._select_task_rq(p, prev_cpu, wake_flags)
            selected = True
        else:
            cpu = next(iter(p.allowed))
        if cpu not in p.allowed:  # select_fallback_rq
            cpu = prev_cpu if prev_cpu in p.allowed else min(p.allowed)
        migrated = cpu != p.cpu
        self._move_to_cpu(p, cpu)
        if fork:
            flags = ENQUEUE_NOCLOCK | ENQUEUE_INITIAL
        else:
            flags = ENQUEUE_WAKEUP | ENQUEUE_NOCLOCK | (ENQUEUE_MIGRATED if migrated else 0)
        if selected:
            flags |= ENQUEUE_RQ_SELECTED
        p.wakeups += 1
        self._enqueue_task(p, cpu, flags)
        if self.cpus[cpu].curr is None:
            self._resched.add(cpu)

    # =====================================================================================
    # balance, pick, put, set
    # =====================================================================================
    def _update_curr(self, rq: Cpu) -> None:
        """``update_curr_scx``: charge the running task for the time since it started."""
        p = rq.curr
        if p is None:
            return
        delta = self.now - p.exec_start
        if delta <= 0:
            return
        p.exec_start = self.now
        p.runtime_ns += delta
        p.burst_left -= delta
        rq.busy_ns += delta
        if p.slice != SCX_SLICE_INF:
            p.slice -= min(p.slice, delta)

    def _flush_dispatch_buf(self, cpu: int) -> None:
        """``flush_dispatch_buf`` / ``finish_dispatch``."""
        buf, self._dsp_buf = self._dsp_buf, []
        for p, qseq, dsq_id, enq_flags in buf:
            if p.ops_state != OPSS_QUEUED or p.qseq != qseq or not p.queued:
                continue  # someone else got to it, or it was dequeued and re-enqueued since
            p.ops_state = OPSS_DISPATCHING
            dsq = self._find_dsq_for_dispatch(cpu, dsq_id, p)
            if dsq.is_local:
                self._dispatch_to_local_dsq(cpu, dsq, p, enq_flags)
            else:
                self._dispatch_enqueue(dsq, p, enq_flags | SCX_ENQ_CLEAR_OPSS)
        self._dsp_nr += len(buf)

    def _balance(self, rq: Cpu, prev: Task | None) -> tuple[bool, bool]:
        """``balance_one``: (has tasks, keep prev)."""
        prev_on_rq = prev is not None and prev.queued
        if prev is not None and prev_on_rq and prev.slice and not self.bypass:
            return True, True
        if rq.local.nr:
            return True, False
        if self._consume_dispatch_q(rq.cpu, self.global_dsq):
            return True, False
        if self.has_op("dispatch") and not self.bypass:
            loops = SCX_DSP_MAX_LOOPS
            rq.in_balance = True
            try:
                while True:
                    self._dsp_nr = 0
                    self._dsp_cpu = rq.cpu
                    self._at(rq.cpu, lambda: self._call("dispatch", KF_DISPATCH, rq.cpu, prev))
                    self._flush_dispatch_buf(rq.cpu)
                    if prev_on_rq and prev is not None and prev.slice:
                        return True, True
                    if rq.local.nr:
                        return True, False
                    if self._consume_dispatch_q(rq.cpu, self.global_dsq):
                        return True, False
                    loops -= 1
                    if not loops:
                        self._kick(rq.cpu, 0)
                        break
                    if not self._dsp_nr:
                        break
            finally:
                rq.in_balance = False
        if prev_on_rq and (not (self.ops.flags & SCX_OPS_ENQ_LAST) or self.bypass or not self.enabled):
            return True, True
        return False, False

    def _schedule(self, rq: Cpu) -> None:
        """``__schedule`` on one CPU."""
        self._cur_cpu = rq.cpu
        prev = rq.curr
        self._update_curr(rq)
        if prev is not None and prev.burst_left <= 0 and prev.state == "running":
            self._block(prev)
        has, keep = self._balance(rq, prev)
        if keep and prev is not None:
            nxt: Task | None = prev
            if not prev.slice:
                self._refill(prev)
        else:
            nxt = rq.local.tasks[0] if rq.local.tasks else None
            if nxt is not None and not nxt.slice:
                self._refill(nxt)
        if nxt is prev:
            return
        if prev is not None:
            self._put_prev(rq, prev, nxt)
        if nxt is not None:
            self._set_next(rq, nxt)
        self._switch(rq, prev, nxt)

    def _block(self, p: Task) -> None:
        """The running task's burst is over: it sleeps, or exits (``do_exit``)."""
        total = p.spec.total_ns
        dying = total is not None and p.runtime_ns >= total
        self._dequeue_task(p, DEQUEUE_SLEEP | DEQUEUE_NOCLOCK)
        if dying:
            p.state = "dead"
        else:
            p.state = "sleeping"
            sleep = self._draw(p, p.spec.sleep_ns)
            self._push(self.now + max(sleep, 1), "wake", p)

    def _put_prev(self, rq: Cpu, p: Task, nxt: Task | None) -> None:
        """``put_prev_task_scx``."""
        self._update_curr(rq)
        if p.queued:
            if self.has_op("stopping"):
                self._at(rq.cpu, lambda: self._call("stopping", KF_REST, p, True))
        if p.queued:
            p.state = "runnable"
            self._set_runnable(p)
            if p.slice and not self.bypass:
                self._dispatch_enqueue(rq.local, p, SCX_ENQ_HEAD)
            else:
                self._do_enqueue_task(p, rq.cpu, SCX_ENQ_LAST if nxt is None else 0, -1)

    def _set_next(self, rq: Cpu, p: Task) -> None:
        """``set_next_task_scx``."""
        if p.queued:
            self._ops_dequeue(p, SCX_DEQ_CORE_SCHED_EXEC)
            self._unlink(p)
        p.exec_start = self.now
        p.state = "running"
        rq.curr = p
        if p.queued and self.has_op("running"):
            self._at(rq.cpu, lambda: self._call("running", KF_REST, p))
        p.on_runnable_list = False
        p.reset_runnable_at = True
        if p.wait_start is not None:
            self._end_wait(p)
        if p.burst_left <= 0:
            p.burst_left = self._draw(p, p.spec.run_ns) if p.spec.sleep_ns > 0 else 1 << 62
            if p.spec.total_ns is not None:
                p.burst_left = min(p.burst_left, max(1, p.spec.total_ns - p.runtime_ns))

    def _switch(self, rq: Cpu, prev: Task | None, nxt: Task | None) -> None:
        """Context switch bookkeeping: the timeline, the idle bit, the burst-end event."""
        if prev is not None and self.record_timeline:
            start = getattr(prev, "_seg_start", self.now)
            if self.now > start:
                segs = rq.segments
                if segs and segs[-1][0] == prev.pid and segs[-1][2] == start:
                    segs[-1] = (prev.pid, segs[-1][1], self.now)
                else:
                    segs.append((prev.pid, start, self.now))
        rq.curr = nxt
        rq.run_token += 1
        if nxt is None:
            rq.idle_bit = True
            if self.has_op("update_idle"):
                self._at(rq.cpu, lambda: self._call("update_idle", KF_REST, rq.cpu, True))
            return
        if prev is None:
            rq.idle_bit = False
            if self.has_op("update_idle"):
                self._at(rq.cpu, lambda: self._call("update_idle", KF_REST, rq.cpu, False))
        rq.nr_switches += 1
        nxt.switches += 1
        nxt._seg_start = self.now  # type: ignore[attr-defined]
        self._push(self.now + max(nxt.burst_left, 1), "burst", (rq.cpu, rq.run_token))

    # =====================================================================================
    # kicks, ticks, the watchdog
    # =====================================================================================
    def _kick(self, cpu: int, flags: int) -> None:
        """``scx_kick_cpu`` -> ``kick_cpus_irq_workfn``."""
        if not self._cpu_valid(cpu):
            return
        rq = self.cpus[cpu]
        if flags & SCX_KICK_IDLE:
            if flags & (SCX_KICK_PREEMPT | SCX_KICK_WAIT):
                self.error("PREEMPT/WAIT cannot be used with SCX_KICK_IDLE")
            if rq.curr is None:
                self._resched.add(cpu)
            return
        if flags & SCX_KICK_PREEMPT and rq.curr is not None:
            rq.curr.slice = 0
            self._task_changed(rq.curr)
        self._resched.add(cpu)

    def _tick(self) -> None:
        """``task_tick_scx`` on every busy CPU, then the next tick."""
        for rq in self.cpus:
            p = rq.curr
            if p is None:
                continue
            self._cur_cpu = rq.cpu
            self._update_curr(rq)
            if self.bypass:
                p.slice = 0
            elif self.has_op("tick"):
                self._call("tick", KF_REST, p)
            if not p.slice:
                self._resched.add(rq.cpu)
        if self.enabled and (self.now // TICK_NS) % max(1, (self._timeout_ns // 2) // TICK_NS) == 0 and self.now:
            self._watchdog()
        self._push(self.now + TICK_NS, "tick", None)

    def _watchdog(self) -> None:
        """``scx_watchdog_workfn`` / ``check_rq_for_timeouts``."""
        jiffies = self.now // TICK_NS
        timeout = self._timeout_ns // TICK_NS
        for t in self.tasks:
            if t.on_runnable_list and t.queued and t.state == "runnable" and jiffies > t.runnable_at + timeout:
                ms = (jiffies - t.runnable_at) * (1000 // HZ)
                self.error(f"{t.comm}[{t.pid}] failed to run for {ms // 1000}.{ms % 1000:03d}s",
                           SCX_EXIT_ERROR_STALL)
                return

    # =====================================================================================
    # loading and unloading
    # =====================================================================================
    def _init_task(self, p: Task, fork: bool) -> int:
        """``scx_init_task``."""
        p.disallow = False
        if self.ops.has("init_task"):
            ret = _s32(self._call("init_task", KF_UNLOCKED, p, InitTaskArgs(fork)))
            if ret:
                return self._sanitize_err("init_task", ret)
        p.scx_state = TASK_INIT
        p.reset_runnable_at = True
        return 0

    def _enable_task(self, p: Task) -> None:
        """``scx_enable_task``: the weight, ``ops.enable``, ``ops.set_weight``."""
        p.weight = weight_of_nice(p.spec.nice)
        self._call("enable", KF_REST, p)
        p.scx_state = TASK_ENABLED
        if self.ops.has("set_weight"):
            self._call("set_weight", KF_REST, p, p.weight)

    def _exit_task(self, p: Task) -> None:
        """``scx_exit_task``: ``disable`` for an enabled task, then ``exit_task``."""
        if p.scx_state == TASK_NONE:
            return
        cancelled = p.scx_state == TASK_INIT
        if p.scx_state == TASK_ENABLED:
            p.ddsp_dsq_id, p.ddsp_enq_flags = SCX_DSQ_INVALID, 0
            self._at(p.cpu, lambda: self._call("disable", KF_REST, p))
            p.scx_state = TASK_READY
        self._at(p.cpu, lambda: self._call("exit_task", KF_REST, p, ExitTaskArgs(cancelled)))
        p.scx_state = TASK_NONE

    def _sanitize_err(self, name: str, err: int) -> int:
        """``ops_sanitize_err``."""
        if -MAX_ERRNO <= err < 0:
            return err
        self.error(f"ops.{name}() returned an invalid errno {err}")
        return -errno.EPROTO

    def enable(self, ops: SchedOps) -> int:
        """``scx_enable_workfn``: returns -EBUSY while a scheduler is loaded,
        otherwise 0 -- a failure (``ops.init``, ``ops.init_task``) disables the
        scheduler again and is reported through ``ops.exit`` and
        :attr:`exit_info`, as the kernel does."""
        if self.enabled:
            return -errno.EBUSY
        self.ops = ops
        self.enabled = True
        self.exit_info = ExitInfo()
        if isinstance(ops, PyOps):
            ops.scx = self
        self._dsp_max = ops.dispatch_max_batch or SCX_DSP_DFL_MAX_BATCH
        self._timeout_ns = ops.timeout_ms * 1_000_000 if ops.timeout_ms else SCX_WATCHDOG_MAX_TIMEOUT_NS
        if ops.has("init"):
            ret = _s32(self._call("init", KF_UNLOCKED))
            if ret:
                ret = self._sanitize_err("init", ret)
                self.error(f"ops.init() failed ({ret})")
                self._disable_now()
                return 0
        if ops.flags & SCX_OPS_ENQ_LAST and not ops.has("enqueue"):
            self.error("SCX_OPS_ENQ_LAST requires ops.enqueue() to be implemented")
            self._disable_now()
            return 0
        self.bypass = True
        live = [t for t in self.tasks if t.state != "dead" and (t.state != "new" or t.spec.start_ns == 0)]
        for p in live:
            ret = self._init_task(p, fork=False)
            if ret:
                self.error(f"ops.init_task() failed ({ret}) for {p.comm}[{p.pid}]")
                self._disable_now()
                return 0
            p.scx_state = TASK_READY
        for p in live:
            # the class switch (sched_change guard): off the old class's queue -- no scx
            # callback --, switching_to_scx (enable), back on the queue with ENQUEUE_RESTORE
            running = self.cpus[p.cpu].curr is p
            queued = p.queued or p.state == "new"
            if p.queued:
                self._unlink(p)
                p.queued = False
                p.ops_state = OPSS_NONE
            p.slice = SCX_SLICE_DFL
            self._enable_task(p)
            if not queued:
                continue
            if running:
                p.queued = True
                self._at(p.cpu, lambda: self._call("runnable", KF_REST, p, ENQUEUE_RESTORE | ENQUEUE_MOVE
                                                   | ENQUEUE_NOCLOCK))
                self._at(p.cpu, lambda: self._call("running", KF_REST, p))
            else:
                p.state = "runnable"
                self._enqueue_task(p, p.cpu, ENQUEUE_RESTORE | ENQUEUE_MOVE | ENQUEUE_NOCLOCK)
        self.bypass = False
        self._resched.update(range(self.nr_cpus))  # scx_bypass(false) reschedules every CPU
        self._process_pending_exit()
        return 0

    def unregister(self, kind: int = SCX_EXIT_UNREG) -> None:
        """``scx_disable(kind)`` and the disable work at once (``bpf_scx_unreg``)."""
        if not self.enabled:
            return
        if self.exit_info.kind == SCX_EXIT_NONE:
            self.exit_info = ExitInfo(kind, 0, exit_reason(kind), "", self.now)
        self._disable_now()

    def _process_pending_exit(self) -> None:
        if self._pending_exit:
            self._disable_now()

    def _disable_now(self) -> None:
        """``scx_disable_workfn``: bypass, every task out of the class
        (``dequeue``/``stopping``/``quiescent``, ``disable``, ``exit_task``), then
        ``ops.exit(ei)``; the tasks go on under the built-in FIFO."""
        self._pending_exit = False
        if not self.enabled:
            return
        ei = self.exit_info
        if ei.kind == SCX_EXIT_NONE:
            ei.kind, ei.reason = SCX_EXIT_ERROR, exit_reason(SCX_EXIT_ERROR)
        self.bypass = True
        for p in self.tasks:
            if p.scx_state == TASK_NONE:
                continue
            was_queued = p.queued
            running = self.cpus[p.cpu].curr is p
            if was_queued:
                self._dequeue_task(p, DEQUEUE_SAVE | DEQUEUE_MOVE | DEQUEUE_NOCLOCK)
            self._exit_task(p)
            if was_queued:  # sched_change_end: back on the (fallback) queue
                p.queued = True
                if running:
                    p.state = "running"
                else:
                    p.state = "runnable"
                    self._set_runnable(p)
                    self._refill(p)
                    self._dispatch_enqueue(self.global_dsq, p, 0)
        self.ops.has("exit") and self._call("exit", KF_UNLOCKED, ei)
        # user DSQs go with the scheduler; their tasks were moved above
        for dsq in self.user_dsqs.values():
            for p in list(dsq.tasks):
                self._unlink(p)
                self._dispatch_enqueue(self.global_dsq, p, 0)
        self.user_dsqs.clear()
        self.exit_history.append(ei)
        self.ops = NO_OPS
        self.enabled = False
        self.bypass = False
        self._resched.update(range(self.nr_cpus))

    # =====================================================================================
    # running
    # =====================================================================================
    def start(self) -> None:
        """Time 0: the tasks that exist from the start become runnable on their
        CPU (under whatever scheduler is loaded: the built-in FIFO if none)."""
        for p in self.tasks:
            if p.spec.start_ns == 0 and p.state == "new":
                p.state = "runnable"
                self._enqueue_task(p, p.cpu, ENQUEUE_WAKEUP)
        self._resched.update(range(self.nr_cpus))
        self._drain_resched()

    def _fork(self, p: Task) -> None:
        """``sched_fork``/``scx_fork``/``scx_post_fork``/``wake_up_new_task``."""
        if self.enabled:
            ret = self._init_task(p, fork=True)
            if ret:
                # copy_process fails: the task never runs
                p.state = "dead"
                return
            p.scx_state = TASK_READY
            self._enable_task(p)
        p.slice = SCX_SLICE_DFL
        self._wake_up(p, fork=True)

    def _drain_resched(self) -> None:
        guard = 0
        while self._resched:
            cpu = min(self._resched)
            self._resched.discard(cpu)
            if self._resched_at != self.now:
                self._resched_at = self.now
                self._resched_count.clear()
            n = self._resched_count.get(cpu, 0) + 1
            self._resched_count[cpu] = n
            if n > 64:  # a CPU kicked again and again at one instant: let time pass (IRQ return)
                self._push(self.now + 1000, "resched", cpu)
                continue
            self._schedule(self.cpus[cpu])
            self._process_pending_exit()
            guard += 1

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "tick":
            self._tick()
        elif kind == "burst":
            cpu, token = payload
            rq = self.cpus[cpu]
            if rq.run_token == token and rq.curr is not None:
                self._resched.add(cpu)
        elif kind == "wake":
            p = payload
            if p.state == "sleeping":
                self._wake_up(p, fork=False)
        elif kind == "fork":
            if payload.state == "new":
                self._fork(payload)
        elif kind == "resched":
            self._resched.add(payload)
        self._process_pending_exit()
        self._drain_resched()

    def run(self, until_ns: int, progress: Callable[[int], None] | None = None) -> None:
        """Advance simulated time to ``until_ns``."""
        ev = self._events
        n = 0
        while ev and ev[0][0] <= until_ns:
            when, _, kind, payload = heapq.heappop(ev)
            self.now = when
            self._handle(kind, payload)
            n += 1
            if progress is not None and not n % 2048:
                progress(self.now)
        self.now = max(self.now, until_ns)
        for rq in self.cpus:  # account the running tasks up to now
            if rq.curr is not None:
                self._update_curr(rq)
        self.stats.events += n

    def finish(self) -> None:
        """Close the running tasks' timeline segments at :attr:`now`."""
        for rq in self.cpus:
            p = rq.curr
            if p is not None and self.record_timeline:
                start = getattr(p, "_seg_start", self.now)
                if self.now > start:
                    rq.segments.append((p.pid, start, self.now))
                    p._seg_start = self.now  # type: ignore[attr-defined]

    # =====================================================================================
    # kfuncs (the kernel's checks, then the work)
    # =====================================================================================
    def _task_changed(self, p: Task) -> None:
        if self.on_task_changed is not None:
            self.on_task_changed(p)

    def _insert_preamble(self, p: Task | None, enq_flags: int) -> bool:
        """``scx_dsq_insert_preamble``."""
        if not self._kf_allowed(KF_ENQUEUE | KF_DISPATCH):
            return False
        if p is None:
            self.error("called with NULL task")
            return False
        if enq_flags & SCX_ENQ_INTERNAL_MASK:
            self.error(f"invalid enq_flags {enq_flags:#x}")
            return False
        return True

    def _insert_commit(self, p: Task, dsq_id: int, enq_flags: int) -> None:
        """``scx_dsq_insert_commit``: a direct dispatch from select_cpu/enqueue, or
        an entry of the dispatch buffer."""
        dd = self._ddsp_task
        if dd is not None:
            self._ddsp_task = False
            if p is not dd:
                if dd is False:
                    self.error(f"{p.comm}[{p.pid}] already direct-dispatched")
                else:
                    self.error(f"scheduling for {dd.comm}[{dd.pid}] but trying to direct-dispatch "  # type: ignore[union-attr]
                               f"{p.comm}[{p.pid}]")
                return
            p.ddsp_dsq_id, p.ddsp_enq_flags = dsq_id, enq_flags
            return
        if len(self._dsp_buf) >= self._dsp_max:
            self.error("dispatch buffer overflow")
            return
        self._dsp_buf.append((p, p.qseq, dsq_id, enq_flags))

    def dsq_insert(self, p: Task | None, dsq_id: int, slice_ns: int, enq_flags: int) -> None:
        """``scx_bpf_dsq_insert`` (6.12: ``scx_bpf_dispatch``)."""
        if not self.enabled or not self._insert_preamble(p, enq_flags):
            return
        assert p is not None
        p.slice = slice_ns if slice_ns else (p.slice or 1)
        self._task_changed(p)
        self._insert_commit(p, dsq_id, enq_flags)

    def dsq_insert_vtime(self, p: Task | None, dsq_id: int, slice_ns: int, vtime: int, enq_flags: int) -> None:
        """``scx_bpf_dsq_insert_vtime`` (6.12: ``scx_bpf_dispatch_vtime``)."""
        if not self.enabled or not self._insert_preamble(p, enq_flags):
            return
        assert p is not None
        p.slice = slice_ns if slice_ns else (p.slice or 1)
        p.dsq_vtime = vtime & M64
        self._task_changed(p)
        self._insert_commit(p, dsq_id, enq_flags | SCX_ENQ_DSQ_PRIQ)

    def dsq_move_to_local(self, dsq_id: int) -> bool:
        """``scx_bpf_dsq_move_to_local`` (6.12: ``scx_bpf_consume``)."""
        if not self.enabled or not self._kf_allowed(KF_DISPATCH):
            return False
        self._flush_dispatch_buf(self._dsp_cpu)
        dsq = self.user_dsqs.get(dsq_id)
        if dsq is None:
            self.error(f"invalid DSQ ID 0x{dsq_id:016x}")
            return False
        if self._consume_dispatch_q(self._dsp_cpu, dsq):
            self._dsp_nr += 1
            return True
        return False

    def dispatch_nr_slots(self) -> int:
        if not self.enabled or not self._kf_allowed(KF_DISPATCH):
            return 0
        return self._dsp_max - len(self._dsp_buf)

    def dispatch_cancel(self) -> None:
        if not self.enabled or not self._kf_allowed(KF_DISPATCH):
            return
        if self._dsp_buf:
            self._dsp_buf.pop()
        else:
            self.error("dispatch buffer underflow")

    def create_dsq(self, dsq_id: int, node: int) -> int:
        """``scx_bpf_create_dsq``: one NUMA node (node 0 or NUMA_NO_NODE)."""
        if node >= 1 or (node < 0 and node != -1):
            return -errno.EINVAL
        if dsq_id & SCX_DSQ_FLAG_BUILTIN:
            return -errno.EINVAL
        if not self.enabled:
            return -errno.ENODEV
        if dsq_id in self.user_dsqs:
            return -errno.EEXIST
        self.user_dsqs[dsq_id] = DSQ(dsq_id)
        return 0

    def destroy_dsq(self, dsq_id: int) -> None:
        """``scx_bpf_destroy_dsq`` / ``destroy_dsq``."""
        dsq = self.user_dsqs.get(dsq_id)
        if dsq is None:
            return
        if dsq.nr:
            self.error(f"attempting to destroy in-use dsq 0x{dsq_id:016x} (nr={dsq.nr})")
            return
        del self.user_dsqs[dsq_id]

    def dsq_nr_queued(self, dsq_id: int) -> int:
        """``scx_bpf_dsq_nr_queued``: local, local-on, or user DSQs (the global
        DSQ is not in the hash: -ENOENT)."""
        if not self.enabled:
            return -errno.ENODEV
        if dsq_id == SCX_DSQ_LOCAL:
            return self.cpus[self._cur_cpu].local.nr
        if dsq_id & SCX_DSQ_LOCAL_ON == SCX_DSQ_LOCAL_ON:
            c = _s32(dsq_id & SCX_DSQ_LOCAL_CPU_MASK)
            if self._cpu_valid(c):
                return self.cpus[c].local.nr
            return -errno.ENOENT
        dsq = self.user_dsqs.get(dsq_id)
        return dsq.nr if dsq is not None else -errno.ENOENT

    def kick_cpu(self, cpu: int, flags: int) -> None:
        """``scx_bpf_kick_cpu``."""
        if self.enabled:
            self._kick(cpu, flags)

    def select_cpu_dfl(self, p: Task | None, prev_cpu: int, wake_flags: int) -> tuple[int, bool]:
        """``scx_bpf_select_cpu_dfl``: (cpu, is_idle)."""
        if not self.enabled:
            return -errno.ENODEV, False
        if p is None or not self._cpu_valid(prev_cpu):
            return prev_cpu, False
        mask = KF_SELECT_CPU | (KF_ENQUEUE if self.new_api else 0)
        if self._kf_mask != KF_UNLOCKED or not self.new_api:
            if not self._kf_allowed(mask):
                return prev_cpu, False
        cpu = self._select_cpu_dfl(p, prev_cpu, wake_flags)
        return (cpu, True) if cpu >= 0 else (prev_cpu, False)

    def test_and_clear_cpu_idle(self, cpu: int) -> bool:
        if not self._cpu_valid(cpu):
            return False
        return self._idle_test_and_clear(cpu)

    def task_cpu(self, p: Task) -> int:
        return p.cpu

    def task_running(self, p: Task) -> bool:
        return self.cpus[p.cpu].curr is p

    def exit(self, exit_code: int, msg: str) -> None:
        """``scx_bpf_exit_bstr``: ``SCX_EXIT_UNREG_BPF``."""
        self.error(msg, SCX_EXIT_UNREG_BPF, exit_code)

    def bpf_error(self, msg: str) -> None:
        """``scx_bpf_error_bstr``: ``SCX_EXIT_ERROR_BPF``."""
        self.error(msg, SCX_EXIT_ERROR_BPF)

    # --- the BPF side: kfuncs called with raw registers --------------------------------------------
    def register_task_addr(self, p: Task, addr: int) -> None:
        p.addr = addr
        self._by_addr[addr] = p

    def kfunc(self, name: str, mem: Any, a: tuple[int, ...]) -> int:
        """A kfunc called by a BPF program: raw 64-bit arguments, ``mem`` to read
        and write through pointer arguments."""
        kc = self.stats.kfunc_calls
        kc[name] = kc.get(name, 0) + 1
        task = self._by_addr.get
        if name in ("scx_bpf_dsq_insert", "scx_bpf_dispatch"):
            self.dsq_insert(task(a[0]), a[1], a[2], a[3])
            return 0
        if name in ("scx_bpf_dsq_insert_vtime", "scx_bpf_dispatch_vtime"):
            self.dsq_insert_vtime(task(a[0]), a[1], a[2], a[3], a[4])
            return 0
        if name in ("scx_bpf_dsq_move_to_local", "scx_bpf_consume"):
            return int(self.dsq_move_to_local(a[0]))
        if name == "scx_bpf_create_dsq":
            return self.create_dsq(a[0], _s32(a[1]))
        if name == "scx_bpf_destroy_dsq":
            self.destroy_dsq(a[0])
            return 0
        if name == "scx_bpf_kick_cpu":
            self.kick_cpu(_s32(a[0]), a[1])
            return 0
        if name == "scx_bpf_dsq_nr_queued":
            return self.dsq_nr_queued(a[0])
        if name == "scx_bpf_select_cpu_dfl":
            cpu, idle = self.select_cpu_dfl(task(a[0]), _s32(a[1]), a[2])
            if a[3]:
                mem.write(a[3], b"\x01" if idle else b"\x00")
            return cpu
        if name == "scx_bpf_dispatch_nr_slots":
            return self.dispatch_nr_slots()
        if name == "scx_bpf_dispatch_cancel":
            self.dispatch_cancel()
            return 0
        if name == "scx_bpf_nr_cpu_ids":
            return self.nr_cpus
        if name == "scx_bpf_task_cpu":
            p = task(a[0])
            return p.cpu if p is not None else 0
        if name == "scx_bpf_task_running":
            p = task(a[0])
            return int(p is not None and self.task_running(p))
        if name == "scx_bpf_test_and_clear_cpu_idle":
            return int(self.test_and_clear_cpu_idle(_s32(a[0])))
        if name == "scx_bpf_now":
            return self.now
        if name == "scx_bpf_reenqueue_local":
            self._kf_allowed(KF_CPU_RELEASE)
            return 0
        if name == "scx_bpf_exit_bstr":
            msg = self._bstr(mem, a[1], a[2], a[3])
            if msg is not None:
                self.exit(_s64(a[0]), msg)
            return 0
        if name == "scx_bpf_error_bstr":
            msg = self._bstr(mem, a[0], a[1], a[2])
            if msg is not None:
                self.bpf_error(msg)
            return 0
        self.error(f"kfunc {name} is not modelled")
        return 0

    def _bstr(self, mem: Any, fmt_addr: int, data: int, size: int) -> str | None:
        """``__bstr_format``: the format and its u64 arguments from memory."""
        size &= 0xFFFFFFFF
        if size % 8 or size > 12 * 8 or (size and not data):
            self.error(f"invalid data={data:#x} and data__sz={size}")
            return None
        args = list(struct.unpack(f"<{size // 8}Q", mem.read(data, size))) if size else []
        fmt = _read_cstr(mem, fmt_addr)
        return bstr_printf(fmt, args, lambda addr: _read_cstr(mem, addr))


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _read_cstr(mem: Any, addr: int, limit: int = 1024) -> str:
    out = bytearray()
    while len(out) < limit:
        chunk = mem.read(addr + len(out), 16)
        nul = chunk.find(b"\0")
        if nul >= 0:
            out += chunk[:nul]
            break
        out += chunk
    return out.decode("latin-1")


def bstr_printf(fmt: str, args: Iterable[int], read_str: Callable[[int], str]) -> str:
    """The kernel's ``bstr_printf`` for the conversions BPF's ``bpf_bprintf_prepare``
    allows: ``%d %i %u %x %X %c %s %p %%`` with ``l``/``ll`` sizes, width, ``-``/``0``."""
    it = iter(args)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        flags = ""
        while j < len(fmt) and fmt[j] in "-0+ #":
            flags += fmt[j]
            j += 1
        width = ""
        while j < len(fmt) and fmt[j].isdigit():
            width += fmt[j]
            j += 1
        size = 32
        while j < len(fmt) and fmt[j] in "lhz":
            size = 64 if fmt[j] in "lz" else size
            j += 1
        if j >= len(fmt):
            out.append(fmt[i:])
            break
        conv = fmt[j]
        i = j + 1
        if conv == "%":
            out.append("%")
            continue
        v = next(it, 0)
        if conv in "di":
            v = _s64(v) if size == 64 else _s32(v)
            s = str(v)
        elif conv == "u":
            s = str(v & (M64 if size == 64 else 0xFFFFFFFF))
        elif conv in "xX":
            s = format(v & (M64 if size == 64 else 0xFFFFFFFF), conv)
        elif conv == "c":
            s = chr(v & 0xFF)
        elif conv == "s":
            s = read_str(v) if v else "(null)"
        elif conv == "p":
            s = f"{v:#x}"
        else:
            s = "%" + conv
        if width:
            pad = "0" if "0" in flags and "-" not in flags else " "
            s = s.ljust(int(width)) if "-" in flags else s.rjust(int(width), pad)
        out.append(s)
    return "".join(out)
