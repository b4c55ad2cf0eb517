"""The soft-lockup watchdog of uncounted runs (kernel/watchdog.c, Linux 6.12-6.18).

The kernel gives BPF programs no instruction budget: the verifier proves that
every program terminates (bounded loops are explored to their end, ``may_goto``
and ``bpf_loop`` carry their own bounds), and what is left to catch a CPU stuck
in kernel code anyway is the soft-lockup detector: a per-CPU hrtimer samples the
watchdog's timestamp every ``watchdog_thresh * 2 / 5`` seconds and, past
``2 * watchdog_thresh`` (20 s by default), prints ``watchdog: BUG: soft lockup -
CPU#%d stuck for %us! [%s:%d]`` (``watchdog_timer_fn``).

A machine running verified code does the same: its runs are *uncounted*
(Unicorn's ``count=`` puts a callback before every instruction, ~6x slower on
loops, measured with Unicorn 2.1.4) and this watchdog is the safety net that keeps a
verifier-model bug or a wrong ``budget=0`` from hanging the host. One daemon
thread per process samples every watched machine; the machine's only per-run
cost is two increments of a generation counter (odd while a run is under way),
so the watchdog never touches the hot path. Where the kernel only reports, the
watchdog also stops the emulation (``uc_emu_stop``, which Unicorn's own timer
thread calls in the same way, trap 3) and the machine raises
:class:`~emu.machine.MachineBudgetExceeded` with ``what="soft lockup"``.

Races, and how they are closed: the thread holds :attr:`Watchdog.lock` while it
decides and stops, and :meth:`Watchdog.unwatch` (from ``Machine.close``) takes
the same lock, so the engine handle is never used after ``uc_close``. A stop
aimed at run *g* that lands after the machine moved on to a later run is
recognised by the run loop (``wd_fired != g``) and that run is resumed where
it stopped; a later counted run may then get one extra instruction budget.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

from .regs import RAW

if TYPE_CHECKING:  # pragma: no cover
    from .run import RunLoop

__all__ = ["SOFT_LOCKUP_S", "WATCHDOG", "Watchdog"]

#: 2 * watchdog_thresh (kernel/watchdog.c: ``watchdog_thresh = 10``)
SOFT_LOCKUP_S = 20.0
#: kernel/watchdog.c NUM_SAMPLE_PERIODS: samples per threshold
NUM_SAMPLE_PERIODS = 5


class Watchdog:
    """Samples the run generation of every watched machine's run loop
    (:class:`emu.machine.run.RunLoop`); stops a run that has been under way for
    longer than its ``soft_lockup_s``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._machines: "weakref.WeakSet[RunLoop]" = weakref.WeakSet()
        #: id(machine) -> (generation seen, monotonic time first seen)
        self._seen: dict[int, tuple[int, float]] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def watch(self, m: "RunLoop") -> None:
        with self.lock:
            self._machines.add(m)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="structops-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()  # re-plan the sampling period

    def unwatch(self, m: "RunLoop") -> None:
        """Stop watching ``m``; once this returns the thread will not touch it."""
        with self.lock:
            self._machines.discard(m)
            self._seen.pop(id(m), None)

    def _period(self) -> float:
        ths = [m.soft_lockup_s for m in list(self._machines) if m.soft_lockup_s > 0]
        return min(1.0, max(0.005, min(ths) / NUM_SAMPLE_PERIODS)) if ths else 1.0

    def _run(self) -> None:  # pragma: no cover - timing dependent, exercised by tests/emu
        while True:
            self._wake.wait(self._period())
            self._wake.clear()
            now = time.monotonic()
            with self.lock:
                for m in list(self._machines):
                    self._sample(m, now)

    def _sample(self, m: "RunLoop", now: float) -> None:
        g = m.wd_gen
        key = id(m)
        if not g & 1 or m.closed or m.counted_tbs is not False or m.soft_lockup_s <= 0:
            self._seen.pop(key, None)
            return
        seen = self._seen.get(key)
        if seen is None or seen[0] != g:
            self._seen[key] = (g, now)
            return
        if now - seen[1] >= m.soft_lockup_s and m.wd_fired != g:
            m.wd_stuck_s = now - seen[1]
            m.wd_fired = g
            RAW.uc_emu_stop(m.hp)


#: the process's watchdog (its thread starts with the first watched machine)
WATCHDOG = Watchdog()


def _after_fork_in_child() -> None:
    """Threads do not survive fork: the child starts its own on its next watch()."""
    WATCHDOG.lock = threading.Lock()
    WATCHDOG._thread = None
    WATCHDOG._wake = threading.Event()


os.register_at_fork(after_in_child=_after_fork_in_child)
