"""The bodies of the BPF helpers the emulated kernel services in Python.

A program calls a helper with ``call rel32`` into a stub of the machine's stub
page (:mod:`emu.machine.calls`); the stub's code hook runs the Python function here
with r1..r5 and puts its result in r0. The functions follow the kernel's
(Linux 6.12 / 6.18 sources named per helper):

* ``bpf_map_lookup_elem`` / ``_update_elem`` / ``_delete_elem``
  (kernel/bpf/helpers.c): ``map->ops`` of the map whose ``struct bpf_map``
  address is in r1 (:mod:`emu.kernel.bpf_maps`); the key (and value) are read from
  the program's memory; errors come back as ``-errno`` in r0.
* ``bpf_map_push_elem`` / ``_pop_elem`` / ``_peek_elem`` (queues, stacks, bloom
  filters: :mod:`emu.kernel.maps`; an empty queue or stack zeroes the buffer) and
  ``bpf_map_lookup_percpu_elem`` (a CPU's copy of a per-CPU map, NULL for a CPU
  that does not exist).
* ``bpf_ktime_get_ns`` (``ktime_get_mono_fast_ns``) and the boot/coarse/tai
  variants: the host's clocks.
* ``bpf_get_prandom_u32`` (``bpf_user_rnd_u32``): a per-kernel generator,
  seeded, so runs repeat.
* ``bpf_get_smp_processor_id``: the CPU the machine runs on.
* ``bpf_get_numa_node_id``: 0 (one node).
* ``bpf_get_current_pid_tgid``: ``tgid << 32 | pid`` of the emulated process
  (the Python process's pid for both: its main thread).
* ``bpf_probe_read_kernel`` (kernel/trace/bpf_trace.c,
  ``copy_from_kernel_nofault``): ``-EFAULT`` and a zeroed destination for user
  addresses (below ``TASK_SIZE_MAX + PAGE_SIZE``, ``copy_from_kernel_nofault_allowed``
  on x86), non-canonical or unmapped ones; ``bpf_probe_read`` (the compat
  helper) reads user memory below ``TASK_SIZE_MAX``, kernel memory above.
* ``bpf_jiffies64`` (kernel/bpf/helpers.c, ``get_jiffies_64``): the emulated
  kernel's jiffies at its ``CONFIG_HZ`` (the clock the TCP simulator advances),
  not the host's.
* ``bpf_probe_read_kernel_str`` (kernel/trace/bpf_trace.c,
  ``strncpy_from_kernel_nofault``): the string through its NUL, at most ``size``
  bytes (the last then made a NUL), returning how many; ``-EFAULT`` and a zeroed
  destination where a byte would fault.
* ``bpf_spin_lock`` / ``bpf_spin_unlock`` (kernel/bpf/helpers.c, ``__bpf_spin_lock_irqsave``):
  the lock word of the map value set to 1 and back to 0. The machine has one CPU, so
  nothing else holds a lock; taking one already held (it would spin forever) or
  releasing one not held stops the program with a report (the verifier makes both
  unreachable for a program that passed it).
* ``bpf_ringbuf_output`` / ``_reserve`` / ``_submit`` / ``_discard`` / ``_query``
  (kernel/bpf/ringbuf.c): the ring buffers of :mod:`emu.kernel.maps.ringbuf`; the dynptr
  helpers (``bpf_dynptr_from_mem`` ... ``bpf_ringbuf_reserve_dynptr``): :mod:`emu.kernel.dynptr_rt`.
* ``bpf_trace_printk``: the format with ``%d %i %u %x %ld %lu %lx %lld %llu
  %llx %p %s %c %%`` expanded into the kernel's trace buffer
  (``Kernel.trace_pipe``), returning the length written.

A helper the verifier accepts but this table lacks is bound to a stub that
stops the program with an :class:`~kernel_model.errors.ExecFault` naming it,
never a silent wrong answer.
"""

from __future__ import annotations

import errno
import os
import random
import re
import time
from typing import TYPE_CHECKING, Any, Callable

from kernel_model.errors import KernelError, NotModelled
from kernel_model.memory import GuestMemory, HelperFn
from kernel_model.uapi import PAGE_SIZE

from .usermem import TASK_SIZE_MAX, UserMemory

if TYPE_CHECKING:  # pragma: no cover
    from .bpf_maps import MapObject
    from emu.machine import Machine

__all__ = ["make_helpers", "M64", "neg_errno"]

M64 = (1 << 64) - 1
#: BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK
_QUEUE_STACK = (22, 23)


def neg_errno(err: int) -> int:
    """``-err`` as the u64 a helper leaves in r0."""
    return (-err) & M64


def _signed(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def make_helpers(machine: "Machine", maps_by_addr: dict[int, "MapObject"], user: UserMemory,
                 trace_pipe: list[str], seed: int = 0,
                 jiffies64: Callable[[], int] | None = None,
                 clock_offset: Callable[[], int] | None = None) -> dict[int, HelperFn]:
    """``{helper id: body}`` for one kernel (its machine, maps, user memory and jiffies clock;
    ``clock_offset``: ns the emulated kernel's clocks are ahead of the host's, see
    :mod:`emu.kernel.timers`)."""
    rng = random.Random(seed)
    offset = clock_offset if clock_offset is not None else (lambda: 0)

    def _map(addr: int) -> "MapObject":
        m = maps_by_addr.get(addr & M64)
        if m is None:  # the verifier only lets CONST_PTR_TO_MAP through: a bug if reached
            raise KernelError(errno.EFAULT, f"r1 {addr:#x} is not a map")
        return m

    def map_lookup_elem(mem: GuestMemory, r1: int, r2: int, *_: int) -> int:
        m = _map(r1)
        return m.lookup(mem.read(r2, m.spec.key_size))

    def map_update_elem(mem: GuestMemory, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
        m = _map(r1)
        key = mem.read(r2, m.spec.key_size)
        value = mem.read(r3, m.spec.value_size)
        try:
            m.update(key, value, r4)
        except NotModelled:
            raise  # not a return value: the run stops as not modelled (a socket map's update)
        except KernelError as e:
            return neg_errno(e.errno)
        return 0

    def map_delete_elem(mem: GuestMemory, r1: int, r2: int, *_: int) -> int:
        m = _map(r1)
        try:
            m.delete(mem.read(r2, m.spec.key_size))
        except KernelError as e:
            return neg_errno(e.errno)
        return 0

    def map_push_elem(mem: GuestMemory, r1: int, r2: int, r3: int, *_: int) -> int:
        m = _map(r1)
        try:
            m.push(mem.read(r2, m.spec.value_size), r3)
        except KernelError as e:
            return neg_errno(e.errno)
        return 0

    def _pop_peek(mem: GuestMemory, r1: int, r2: int, pop: bool) -> int:
        m = _map(r1)
        queue_stack = m.spec.map_type in _QUEUE_STACK
        try:
            if pop:
                value = m.pop()
            else:  # a bloom filter tests the bytes at r2; queues and stacks fill them
                value = m.peek(None if queue_stack else mem.read(r2, m.spec.value_size))
        except KernelError as e:
            if queue_stack and e.errno == errno.ENOENT:
                mem.write(r2, bytes(m.spec.value_size))  # __queue_map_get: memset on empty
            return neg_errno(e.errno)
        if queue_stack:
            mem.write(r2, value)
        return 0

    def map_pop_elem(mem: GuestMemory, r1: int, r2: int, *_: int) -> int:
        return _pop_peek(mem, r1, r2, True)

    def map_peek_elem(mem: GuestMemory, r1: int, r2: int, *_: int) -> int:
        return _pop_peek(mem, r1, r2, False)

    def map_lookup_percpu_elem(mem: GuestMemory, r1: int, r2: int, r3: int, *_: int) -> int:
        m = _map(r1)
        return m.lookup_this_cpu(mem.read(r2, m.spec.key_size), r3 & 0xFFFF_FFFF)

    def ktime_get_ns(mem: GuestMemory, *_: int) -> int:
        return time.monotonic_ns() + offset()

    def ktime_get_boot_ns(mem: GuestMemory, *_: int) -> int:
        return (time.clock_gettime_ns(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME")
                else time.monotonic_ns()) + offset()

    def ktime_get_tai_ns(mem: GuestMemory, *_: int) -> int:
        return (time.clock_gettime_ns(time.CLOCK_TAI) if hasattr(time, "CLOCK_TAI") else time.time_ns()) + offset()

    def get_prandom_u32(mem: GuestMemory, *_: int) -> int:
        return rng.getrandbits(32)

    def get_smp_processor_id(mem: GuestMemory, *_: int) -> int:
        return max(machine.runner.cpu, 0)

    def get_numa_node_id(mem: GuestMemory, *_: int) -> int:
        return 0

    def get_current_pid_tgid(mem: GuestMemory, *_: int) -> int:
        pid = os.getpid()
        return (pid << 32) | pid

    def _kernel_nofault(src: int, size: int) -> bytes | None:
        src &= M64
        if src < TASK_SIZE_MAX + PAGE_SIZE or not machine.mem.canonical(src):
            return None
        reg = machine.mem.region_of(src)
        if reg is None or src + size > reg.end:
            return None
        return machine.mem.peek(src, size)

    def probe_read_kernel(mem: GuestMemory, r1: int, r2: int, r3: int, *_: int) -> int:
        size = r2 & 0xFFFF_FFFF
        data = _kernel_nofault(r3, size) if size else b""
        if data is None:
            mem.write(r1, bytes(size))
            return neg_errno(errno.EFAULT)
        mem.write(r1, data)
        return 0

    def probe_read_kernel_str(mem: GuestMemory, r1: int, r2: int, r3: int, *_: int) -> int:
        size = r2 & 0xFFFF_FFFF
        if not size:
            return 0
        src = r3 & M64
        out = bytearray()
        # strncpy_from_kernel_nofault (mm/maccess.c): byte by byte, through the NUL or
        # ``size`` bytes, the last one then replaced by a NUL; returns the bytes taken
        while len(out) < size:
            b = _kernel_nofault(src + len(out), 1)
            if b is None:
                mem.write(r1, bytes(size))
                return neg_errno(errno.EFAULT)
            out += b
            if b == b"\0":
                break
        out[-1] = 0
        mem.write(r1, bytes(out))
        return len(out)

    def jiffies(mem: GuestMemory, *_: int) -> int:
        if jiffies64 is None:
            raise KernelError(errno.EFAULT, "bpf_jiffies64: this kernel has no jiffies clock")
        return jiffies64() & M64

    def probe_read(mem: GuestMemory, r1: int, r2: int, r3: int, *_: int) -> int:
        size = r2 & 0xFFFF_FFFF
        if (r3 & M64) < TASK_SIZE_MAX:
            try:
                data: bytes | None = user.copy_from_user(r3, size)
            except KernelError:
                data = None
        else:
            data = _kernel_nofault(r3, size) if size else b""
        if data is None:
            mem.write(r1, bytes(size))
            return neg_errno(errno.EFAULT)
        mem.write(r1, data)
        return 0

    def trace_printk(mem: GuestMemory, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        size = r2 & 0xFFFF_FFFF
        raw = mem.read(r1, size) if size else b""
        if not raw or raw[-1:] != b"\0":
            return neg_errno(errno.EINVAL)  # bpf_bprintf_prepare: the format must be NUL-terminated
        fmt = raw.split(b"\0", 1)[0].decode("latin-1")
        args = iter((r3, r4, r5))

        def conv(mm: "re.Match[str]") -> str:
            spec = mm.group(2)
            if spec == "%":
                return "%"
            v = next(args, 0)
            wide = "l" in mm.group(1)
            if spec in "di":
                return str(_signed(v) if wide else ((v & 0xFFFF_FFFF) ^ 0x8000_0000) - 0x8000_0000)
            if spec == "u":
                return str(v if wide else v & 0xFFFF_FFFF)
            if spec == "x":
                return f"{v if wide else v & 0xFFFF_FFFF:x}"
            if spec == "p":
                return f"{v:016x}"
            if spec == "c":
                return chr(v & 0xFF)
            if spec == "s":
                try:
                    s = machine.mem.peek(v, 256) if v else b"(null)"
                except KernelError:
                    return "(efault)"
                return s.split(b"\0", 1)[0].decode("latin-1")
            return mm.group(0)

        text = re.sub(r"%(l{0,2})([diuxpcs%])", conv, fmt)
        trace_pipe.append(text)
        return len(text.encode("latin-1", "replace"))

    def spin_lock(mem: GuestMemory, r1: int, *_: int) -> int:
        if int.from_bytes(mem.read(r1, 4), "little"):  # one CPU: a held lock would spin forever
            machine.runner.stop_at_bpf_caller("soft lockup", f"bpf_spin_lock({r1:#x}): the lock is already held")
            return 0
        mem.write(r1, (1).to_bytes(4, "little"))
        return 0

    def spin_unlock(mem: GuestMemory, r1: int, *_: int) -> int:
        if not int.from_bytes(mem.read(r1, 4), "little"):
            machine.runner.stop_at_bpf_caller("bug", f"bpf_spin_unlock({r1:#x}): the lock is not held")
            return 0
        mem.write(r1, bytes(4))
        return 0

    def get_local_storage(mem: GuestMemory, r1: int, *_: int) -> int:
        from .maps.cgroup_storage import local_storage

        return local_storage(machine, _map(r1).spec.map_type)

    def _ringbuf(addr: int) -> Any:
        from .maps.ringbuf import RingbufMap
        m = _map(addr)
        if not isinstance(m, RingbufMap):  # the verifier lets only ring buffers through
            raise KernelError(errno.EFAULT, f"r1 {addr:#x} is not a ring buffer")
        return m

    def _ringbuf_of_sample(sample: int) -> Any:
        from .maps.ringbuf import RingbufMap
        for m in maps_by_addr.values():
            if isinstance(m, RingbufMap) and m.owns(sample):
                return m
        raise KernelError(errno.EFAULT, f"{sample:#x} is not a ring buffer record")

    def ringbuf_output(mem: GuestMemory, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
        return _ringbuf(r1).output(mem.read(r2, r3), r4) & M64

    def ringbuf_reserve(mem: GuestMemory, r1: int, r2: int, r3: int, *_: int) -> int:
        if r3:
            return 0
        return int(_ringbuf(r1).reserve(r2))

    def ringbuf_submit(mem: GuestMemory, r1: int, r2: int, *_: int) -> int:
        _ringbuf_of_sample(r1).commit(r1, False)
        return 0

    def ringbuf_discard(mem: GuestMemory, r1: int, r2: int, *_: int) -> int:
        _ringbuf_of_sample(r1).commit(r1, True)
        return 0

    def ringbuf_query(mem: GuestMemory, r1: int, r2: int, *_: int) -> int:
        return int(_ringbuf(r1).query(r2)) & M64

    def probe_write_user(mem: GuestMemory, r1: int, r2: int, r3: int, *_: int) -> int:
        # bpf_probe_write_user (kernel/trace/bpf_trace.c, 6.12/6.18): copy_to_user_nofault of
        # ``size`` bytes into the (emulated) user process; -EFAULT outside its buffers. The
        # emulated program runs in the loader's user context (never a kthread, not in an
        # interrupt), so the -EPERM cases do not arise.
        size = r3 & 0xFFFF_FFFF
        if (r1 & M64) >= TASK_SIZE_MAX:
            return neg_errno(errno.EFAULT)  # access_ok
        try:
            user.copy_to_user(r1 & M64, mem.read(r2, size) if size else b"")
        except KernelError:
            return neg_errno(errno.EFAULT)
        return 0

    from .dynptr_rt import dynptr_helpers
    return {
        36: probe_write_user,
        130: ringbuf_output, 131: ringbuf_reserve, 132: ringbuf_submit, 133: ringbuf_discard, 134: ringbuf_query,
        **dynptr_helpers(_ringbuf, _ringbuf_of_sample),
        81: get_local_storage,
        1: map_lookup_elem, 2: map_update_elem, 3: map_delete_elem, 4: probe_read, 5: ktime_get_ns,
        6: trace_printk, 7: get_prandom_u32, 8: get_smp_processor_id, 14: get_current_pid_tgid,
        42: get_numa_node_id, 87: map_push_elem, 88: map_pop_elem, 89: map_peek_elem,
        113: probe_read_kernel, 115: probe_read_kernel_str, 118: jiffies, 125: ktime_get_boot_ns,
        160: ktime_get_ns, 195: map_lookup_percpu_elem, 208: ktime_get_tai_ns, 93: spin_lock, 94: spin_unlock,
    }
