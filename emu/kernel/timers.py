"""BPF timers at run time: ``bpf_timer_*`` and an emulated clock that fires them.

Models kernel/bpf/helpers.c (Linux 6.18; 6.12 read alongside): a ``struct bpf_timer`` in a
map value (16 bytes, ``struct bpf_async_kern``) holds a pointer to the kernel's
``struct bpf_hrtimer``; here an 8-byte-aligned kernel allocation standing for it, whose
state (map, value, clock, callback, expiry) the Python side keeps.

* ``bpf_timer_init(timer, map, flags)``: flags name the clock: ``CLOCK_MONOTONIC``,
  ``CLOCK_REALTIME`` or ``CLOCK_BOOTTIME`` (else ``-EINVAL``); ``-EBUSY`` when the
  value already has a timer (``__bpf_async_init``).
* ``bpf_timer_set_callback(timer, callback_fn)``: ``-EINVAL`` before init
  (``__bpf_async_set_callback``).
* ``bpf_timer_start(timer, nsecs, flags)``: flags other than ``BPF_F_TIMER_ABS`` and
  ``BPF_F_TIMER_CPU_PIN`` are ``-EINVAL``, as is a timer without a callback; the timer is
  armed ``nsecs`` from now on its clock (``HRTIMER_MODE_REL_SOFT``) or at ``nsecs``
  (``BPF_F_TIMER_ABS``); starting an armed timer re-arms it.
* ``bpf_timer_cancel(timer)``: ``-EINVAL`` before init, ``-EDEADLK`` from the timer's own
  callback; 1 when the timer was armed, else 0 (``hrtimer_cancel``).
* the expiry: ``bpf_timer_cb`` calls ``callback_fn(map, key, value, 0, 0)``; the key of an
  array element is its index (a ``u32`` in the kernel's frame), of a hash element the
  key in front of the value. The return value is ignored (the verifier made it 0).

The clock: the emulated kernel's clocks are the host's plus an offset that only
:meth:`Timers.advance` moves (``Kernel.advance(ns)``; ``bpf_ktime_get_ns`` and friends read
the same offset), and armed timers fire, earliest first, when the emulated kernel runs
its timer softirq: at :meth:`Timers.advance` and after each ``BPF_PROG_TEST_RUN``
(where the kernel would run an already due timer as soon as the syscall returns).
Time does not pass by itself between those points, so a test decides when a callback
runs.

Where we differ: the map's user reference count is not checked (``-EPERM`` from
``bpf_timer_init`` of a map no user holds); a timer does not hold its program (a timer
whose callback's program was freed is dropped when it would fire); a value overwritten
or deleted drops its timer when it would fire (the kernel cancels and frees it at the
update: ``bpf_obj_free_fields``); timers fire on the current CPU; a timer re-arming
itself with no delay stops after :data:`MAX_FIRES` firings in one advance with an error
(the kernel would keep its CPU busy forever). Workqueues (``bpf_wq_*``) are not modelled.
"""

from __future__ import annotations

import errno
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

from kernel_model.btf_record import TIMER
from kernel_model.errors import KernelError

from .bpf_helpers import M64, neg_errno

__all__ = ["Timers", "BPF_F_TIMER_ABS", "BPF_F_TIMER_CPU_PIN", "MAX_FIRES"]

#: include/uapi/linux/bpf.h
BPF_F_TIMER_ABS = 1
BPF_F_TIMER_CPU_PIN = 2
#: include/uapi/linux/time.h
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME = 0, 1, 7
MAX_CLOCKS = 16
#: firings of one :meth:`Timers.advance` before it gives up (a timer re-arming itself at once)
MAX_FIRES = 100_000
_HOST_CLOCKS = {CLOCK_REALTIME: time.CLOCK_REALTIME, CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
                CLOCK_BOOTTIME: getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)}


@dataclass(slots=True)
class _Timer:
    """A ``struct bpf_hrtimer``: where it lives and what it will do."""

    obj: int
    map: Any
    value: int
    timer_addr: int
    clockid: int
    callback: int = 0
    expires: int | None = None
    seq: int = 0


class Timers:
    """The emulated kernel's BPF timers and its clock offset."""

    def __init__(self, machine: Callable[[], Any], maps_by_addr: dict[int, Any],
                 after_fire: Callable[[], None] = lambda: None) -> None:
        self._machine = machine
        self._maps = maps_by_addr
        self._after = after_fire
        #: what advance() added to the host's clocks (ns)
        self.offset_ns = 0
        self._by_obj: dict[int, _Timer] = {}
        self._running: _Timer | None = None
        self._seq = 0
        self._key = 0
        #: what the model noticed (a dropped timer), dmesg-like
        self.notes: list[str] = []

    def now(self, clockid: int = CLOCK_MONOTONIC) -> int:
        """The emulated kernel's clock ``clockid`` (ns)."""
        return time.clock_gettime_ns(_HOST_CLOCKS.get(clockid, time.CLOCK_MONOTONIC)) + self.offset_ns

    # --- helpers -------------------------------------------------------------------------
    def _timer(self, m: Any, addr: int) -> _Timer | None:
        return self._by_obj.get(m.read_u64(addr & M64))

    def timer_init(self, m: Any, timer: int, map_addr: int, flags: int, *_: int) -> int:
        clockid = flags & (MAX_CLOCKS - 1)
        if flags >= MAX_CLOCKS or clockid not in _HOST_CLOCKS:
            return neg_errno(errno.EINVAL)
        if self._timer(m, timer) is not None:
            return neg_errno(errno.EBUSY)
        mo = self._maps.get(map_addr & M64)
        rec = getattr(mo.spec, "record", None) if mo is not None else None
        off = rec.offset_of(TIMER) if rec is not None else -1
        if off < 0:  # the verifier proved the pointer is a bpf_timer of that map
            raise KernelError(errno.EFAULT, f"bpf_timer_init: map {map_addr:#x} has no bpf_timer")
        obj = int(m.alloc.kzalloc(64))
        self._by_obj[obj] = _Timer(obj, mo, (timer & M64) - off, timer & M64, clockid)
        m.write_u64(timer & M64, obj)
        return 0

    def timer_set_callback(self, m: Any, timer: int, fn: int, *_: int) -> int:
        t = self._timer(m, timer)
        if t is None:
            return neg_errno(errno.EINVAL)
        t.callback = fn & M64
        return 0

    def timer_start(self, m: Any, timer: int, nsecs: int, flags: int, *_: int) -> int:
        if flags & ~(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN):
            return neg_errno(errno.EINVAL)
        t = self._timer(m, timer)
        if t is None or not t.callback:
            return neg_errno(errno.EINVAL)
        t.expires = nsecs & M64 if flags & BPF_F_TIMER_ABS else self.now(t.clockid) + (nsecs & M64)
        self._seq += 1
        t.seq = self._seq
        return 0

    def timer_cancel(self, m: Any, timer: int, *_: int) -> int:
        t = self._timer(m, timer)
        if t is None:
            return neg_errno(errno.EINVAL)
        if t is self._running:
            return neg_errno(errno.EDEADLK)
        armed = t.expires is not None
        t.expires = None
        return int(armed)

    def helpers(self) -> dict[int, Any]:
        """``{helper id: body}``: bpf_timer_init/set_callback/start/cancel."""
        return {169: self.timer_init, 170: self.timer_set_callback, 171: self.timer_start, 172: self.timer_cancel}

    # --- the clock -----------------------------------------------------------------------
    def armed(self) -> int:
        """How many timers are armed."""
        return sum(t.expires is not None for t in self._by_obj.values())

    def advance(self, ns: int = 0) -> int:
        """Move the emulated clocks ``ns`` forward and run every timer due, earliest
        first (a callback may arm timers again, which fire too if due); returns how many
        callbacks ran."""
        if ns < 0:
            raise KernelError(errno.EINVAL, "time does not go backwards")
        self.offset_ns += ns
        fired = 0
        while True:
            due = [t for t in self._by_obj.values() if t.expires is not None and t.expires <= self.now(t.clockid)]
            if not due:
                return fired
            t = min(due, key=lambda x: (x.expires, x.seq))
            t.expires = None
            if fired >= MAX_FIRES:
                raise KernelError(errno.ELOOP, f"timers fired {MAX_FIRES} times in one advance (a timer "
                                               "re-arming itself with no delay?)")
            if self._fire(t):
                fired += 1

    def _fire(self, t: _Timer) -> bool:
        """``bpf_timer_cb``: the callback with (map, key, value)."""
        m = self._machine()
        if m.read_u64(t.timer_addr) != t.obj:  # the value was overwritten or deleted
            self._by_obj.pop(t.obj, None)
            self.notes.append(f"timer {t.obj:#x}: its map value no longer holds it; dropped")
            return False
        if m.images.image_at(t.callback) is None:
            self._by_obj.pop(t.obj, None)
            self.notes.append(f"timer {t.obj:#x}: its callback's program is gone; dropped")
            return False
        from .bpf_maps import ArrayMap

        mo = t.map
        if isinstance(mo, ArrayMap):
            if not self._key:
                self._key = int(m.alloc.kzalloc(8))
            m.write(self._key, struct.pack("<I", (t.value - mo.spec.value_addr) // mo.elem_size))
            key = self._key
        else:  # hash or LRU hash: the key in front of the value
            key = t.value - ((mo.spec.key_size + 7) & ~7)
        self._running = t
        try:
            m.call(t.callback, (mo.spec.addr, key, t.value, 0, 0))
        finally:
            self._running = None
            self._after()
        return True
