"""The emulated kernel's core vmlinux kfuncs: tasks, cpumasks, RCU, preemption, IRQs.

Registers :data:`kernel_model.core_kfuncs.CORE_KFUNCS` in the kernel's kfunc table
with the KF_* flags and program types of the kernel's sets, and services them in
Python on the machine's memory (kernel/bpf/helpers.c, kernel/bpf/cpumask.c, Linux 6.18):

* ``bpf_task_from_pid`` finds a task of the emulated kernel's task list (pid 1, ``init``,
  made at first use; :meth:`TaskList.spawn` adds more) and takes a reference;
  ``bpf_task_acquire`` takes one on a live task (NULL when its count already reached
  zero: ``refcount_inc_not_zero``); ``bpf_task_release`` drops it. The count is kept
  beside the reduced ``task_struct`` (the real one's ``usage``); a count under zero is
  reported as the kernel's refcount warning would be (:attr:`TaskList.warnings`).
* ``bpf_cpumask_create`` allocates a ``struct bpf_cpumask`` (usage 1), ``acquire`` and
  ``release`` count (freed at zero), the bit operations act on its 64-CPU mask.
* ``bpf_iter_num_new``/``next``/``destroy`` (kernel/bpf/bpf_iter.c): the 8-byte
  iterator on the program's stack holds ``{int cur; int end;}``; ``next`` yields
  ``&cur`` for ``start .. end - 1`` and NULL after (and for good).
* the dynptr kfuncs (``bpf_dynptr_adjust``, ``_slice`` ...): :mod:`emu.kernel.dynptr_rt`.
* ``bpf_rcu_read_lock``/``unlock``, ``bpf_preempt_disable``/``enable``,
  ``bpf_local_irq_save``/``restore`` keep depths (the verifier proved the pairing);
  ``irq_save`` stores a flags word (bit 9, IF, as ``local_irq_save`` does) in the slot.

Not modelled at run time (the verifier models them; a call stops the run as not
modelled): the cgroup kfuncs -- the emulated kernel has no cgroup hierarchy.
"""

from __future__ import annotations

import errno
import struct
from typing import Any, Callable

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.core_kfuncs import CORE_KFUNCS, kfunc_flags, kfunc_prog_types
from kernel_model.kptr_kfuncs import KPTR_KFUNCS, kptr_kfunc_flags, kptr_kfunc_prog_types
from kernel_model.errors import NotModelled
from kernel_model.modules import Kfunc, KfuncEntry, KfuncTable

from .dynptr_rt import dynptr_kfuncs

__all__ = ["TaskList", "register_core_kfuncs"]

U64 = (1 << 64) - 1
#: kernel/bpf/bpf_iter.c: the most iterations bpf_loop and bpf_iter_num allow
BPF_MAX_LOOPS = 8 * 1024 * 1024


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v
_X86_EFLAGS_IF = 1 << 9


class TaskList:
    """The emulated kernel's tasks (``find_task_by_pid_ns`` over them) and their
    reference counts."""

    def __init__(self, machine: Callable[[], Any], btf: BTF) -> None:
        self._machine = machine
        self._btf = btf
        self.by_pid: dict[int, int] = {}
        self.usage: dict[int, int] = {}
        self.warnings: list[str] = []
        #: the live ``struct bpf_cpumask`` objects (address -> usage count)
        self.cpumasks: dict[int, int] = {}

    def spawn(self, pid: int, comm: bytes = b"task") -> int:
        """A task with this pid (its address); ``usage`` 1 for the task list's own reference."""
        from .kobjects import KObject
        if pid in self.by_pid:
            return self.by_pid[pid]
        t = KObject.new(self._machine(), self._btf, "task_struct", pid=pid, tgid=pid, comm=comm)
        self.by_pid[pid] = t.addr
        self.usage[t.addr] = 1
        return t.addr

    def ensure_init(self) -> None:
        if not self.by_pid:
            self.spawn(1, b"init")


def register_core_kfuncs(btf: BTF, table: KfuncTable, machine: Callable[[], Any], graph: Any = None) -> TaskList:
    """Add the core kfuncs (those whose FUNC the vmlinux BTF has) to ``table``; ``graph``: the
    :class:`~emu.kernel.graph_kfuncs.GraphRuntime` serving the allocated-object and list kfuncs."""
    tasks = TaskList(machine, btf)
    depth = {"rcu": 0, "preempt": 0, "irq": 0}
    cpumasks = tasks.cpumasks
    bits_off = 0
    usage_off = 8

    def task_from_pid(m: Any, pid: int, *_: int) -> int:
        tasks.ensure_init()
        addr = tasks.by_pid.get(pid & 0xFFFFFFFF)
        if addr is None:
            return 0
        tasks.usage[addr] += 1
        return addr

    def task_acquire(m: Any, p: int, *_: int) -> int:
        n = tasks.usage.get(p, 0)
        if n <= 0:
            return 0
        tasks.usage[p] = n + 1
        return p

    def task_release(m: Any, p: int, *_: int) -> int:
        n = tasks.usage.get(p)
        if n is None or n <= 0:
            tasks.warnings.append(f"refcount_t: underflow; use-after-free (task {p:#x})")
            return 0
        tasks.usage[p] = n - 1
        return 0

    def cpumask_create(m: Any, *_: int) -> int:
        addr = int(m.alloc.kzalloc(16))
        m.write(addr + usage_off, struct.pack("<I", 1))
        cpumasks[addr] = 1
        return addr

    def cpumask_acquire(m: Any, p: int, *_: int) -> int:
        cpumasks[p] = cpumasks.get(p, 0) + 1
        m.write(p + usage_off, struct.pack("<I", cpumasks[p]))
        return p

    def cpumask_release(m: Any, p: int, *_: int) -> int:
        n = cpumasks.get(p, 0) - 1
        if n <= 0:
            cpumasks.pop(p, None)
            m.alloc.kfree(p)
        else:
            cpumasks[p] = n
            m.write(p + usage_off, struct.pack("<I", n))
        return 0

    def _bits(m: Any, p: int) -> int:
        return int(m.read_u64(p + bits_off))

    def _set_bits(m: Any, p: int, v: int) -> None:
        m.write_u64(p + bits_off, v & U64)

    def bitop(kind: str) -> Callable[..., int]:
        def op(m: Any, a1: int, a2: int = 0, *_: int) -> int:
            if kind in ("set_cpu", "clear_cpu", "test_cpu", "test_and_set_cpu", "test_and_clear_cpu"):
                cpu, p = a1 & 0xFFFFFFFF, a2
                if cpu >= 64:  # cpu_valid(): beyond nr_cpu_ids the kfuncs do nothing / answer false
                    return 0
                b = _bits(m, p)
                was = (b >> cpu) & 1
                if kind in ("set_cpu", "test_and_set_cpu"):
                    _set_bits(m, p, b | (1 << cpu))
                elif kind in ("clear_cpu", "test_and_clear_cpu"):
                    _set_bits(m, p, b & ~(1 << cpu))
                return was if kind.startswith("test") else 0
            p = a1
            b = _bits(m, p)
            if kind == "setall":
                _set_bits(m, p, U64)
            elif kind == "clear":
                _set_bits(m, p, 0)
            elif kind == "empty":
                return int(b == 0)
            elif kind == "full":
                return int(b == U64)
            elif kind == "weight":
                return bin(b).count("1")
            elif kind == "first":
                return (b & -b).bit_length() - 1 if b else 64
            elif kind == "first_zero":
                z = ~b & U64
                return (z & -z).bit_length() - 1 if z else 64
            return 0
        return op

    def region(key: str, delta: int) -> Callable[..., int]:
        def op(m: Any, *_: int) -> int:
            depth[key] += delta
            return 0
        return op

    def irq_save(m: Any, flags_ptr: int, *_: int) -> int:
        depth["irq"] += 1
        m.write_u64(flags_ptr, _X86_EFLAGS_IF)
        return 0

    def irq_restore(m: Any, flags_ptr: int, *_: int) -> int:
        depth["irq"] -= 1
        return 0

    def no_cgroups(name: str) -> Callable[..., int]:
        def op(m: Any, *_: int) -> int:
            raise NotModelled(f"kfunc {name}: the emulated kernel has no cgroups")
        return op

    def iter_num_new(m: Any, it: int, start: int, end: int, *_: int) -> int:
        # kernel/bpf/bpf_iter.c bpf_iter_num_new: {cur, end} as two ints; cur = start - 1
        lo, hi = _s32(start), _s32(end)
        if lo > hi:
            m.write(it, struct.pack("<ii", 0, 0))
            return -errno.EINVAL & U64
        if hi - lo > BPF_MAX_LOOPS:
            m.write(it, struct.pack("<ii", 0, 0))
            return -errno.E2BIG & U64
        m.write(it, struct.pack("<ii", _s32(lo - 1), hi))
        return 0

    def iter_num_next(m: Any, it: int, *_: int) -> int:
        # bpf_iter_num_next: NULL once (s64)(cur + 1) >= end (int addition wraps: the
        # kernel builds with -fno-strict-overflow), then NULL for good; else &cur
        cur, end = struct.unpack("<ii", m.read(it, 8))
        if _s32(cur + 1) >= end:
            m.write(it, struct.pack("<ii", 0, 0))
            return 0
        m.write(it, struct.pack("<i", _s32(cur + 1)))
        return it

    def iter_num_destroy(m: Any, it: int, *_: int) -> int:
        m.write(it, struct.pack("<ii", 0, 0))
        return 0

    def lookup_user_key(m: Any, serial: int, flags: int, *_: int) -> int:
        # kernel/trace/bpf_trace.c bpf_lookup_user_key (6.12/6.18): NULL for flags outside
        # KEY_LOOKUP_ALL (KEY_LOOKUP_CREATE | KEY_LOOKUP_PARTIAL = 3), NULL when
        # lookup_user_key() finds no key: the emulated kernel has no keyrings, so no serial
        # names a key and every lookup answers NULL
        return 0

    def lookup_system_key(m: Any, key_id: int, *_: int) -> int:
        # bpf_lookup_system_key: system_keyring_id_check (include/linux/verification.h)
        # accepts 0 (builtin), 1 (VERIFY_USE_SECONDARY_KEYRING), 2 (VERIFY_USE_PLATFORM_KEYRING);
        # a kmalloc'd bpf_key {key = (struct key *)id, has_ref = false}
        if key_id > 2:
            return 0
        addr = int(m.alloc.kzalloc(16))
        m.write_u64(addr, key_id)
        return addr

    def key_put(m: Any, bkey: int, *_: int) -> int:
        # bpf_key_put: key_put() when has_ref (never, here: no user keys), then kfree
        m.alloc.kfree(bkey)
        return 0

    impls: dict[str, Callable[..., int]] = {
        "bpf_lookup_user_key": lookup_user_key, "bpf_lookup_system_key": lookup_system_key,
        "bpf_key_put": key_put,
        "bpf_iter_num_new": iter_num_new, "bpf_iter_num_next": iter_num_next,
        "bpf_iter_num_destroy": iter_num_destroy,
        "bpf_task_from_pid": task_from_pid, "bpf_task_acquire": task_acquire,
        # one pid namespace: a vpid is the pid (kernel/bpf/helpers.c bpf_task_from_vpid)
        "bpf_task_from_vpid": task_from_pid, "bpf_task_release": task_release,
        "bpf_cpumask_create": cpumask_create, "bpf_cpumask_acquire": cpumask_acquire,
        "bpf_cpumask_release": cpumask_release,
        "bpf_rcu_read_lock": region("rcu", 1), "bpf_rcu_read_unlock": region("rcu", -1),
        "bpf_preempt_disable": region("preempt", 1), "bpf_preempt_enable": region("preempt", -1),
        "bpf_local_irq_save": irq_save, "bpf_local_irq_restore": irq_restore,
        **dynptr_kfuncs(),
    }
    from .graph_kfuncs import GraphRuntime
    impls.update((graph if graph is not None else GraphRuntime(machine)).impls())
    for name in CORE_KFUNCS:
        if name.startswith("bpf_cpumask_") and name not in impls:
            impls[name] = bitop(name.removeprefix("bpf_cpumask_"))
        elif name.startswith("bpf_cgroup_"):
            impls[name] = no_cgroups(name)
    impls.update(_kptr_kfunc_impls(_bits, _set_bits))
    for name in CORE_KFUNCS + KPTR_KFUNCS:
        fid = btf.find(name, S.KIND_FUNC)
        if fid is None:
            continue
        impl = impls.get(name)
        if impl is None and name == "bpf_throw":
            from .exceptions import bpf_throw as impl
        if impl is None:
            raise KeyError(f"kfunc {name}: no run-time body")
        if name in KPTR_KFUNCS:
            kf = Kfunc(name, impl, frozenset(kptr_kfunc_flags(name)), kptr_kfunc_prog_types(name))
        else:
            kf = Kfunc(name, impl, frozenset(kfunc_flags(name)), kfunc_prog_types(name))
        table.add(KfuncEntry(name, btf, fid, kf, None))
    return tasks


def _kptr_kfunc_impls(bits: Callable[[Any, int], int], set_bits: Callable[[Any, int, int], None]) -> dict[str, Callable[..., int]]:
    """The bodies of :data:`kernel_model.kptr_kfuncs.KPTR_KFUNCS` (kernel/bpf/cpumask.c, Linux
    6.12/6.18) on the 64-CPU masks: ``and`` answers whether the result is non-empty, ``first_and``
    and the ``any*_distribute`` ones a CPU or ``nr_cpu_ids`` (64 here) when there is none. The
    ``_distribute`` ones pick the first set CPU (the kernel's starts after the CPU it last
    picked: a program cannot tell which of the set CPUs it gets). ``bpf_kfunc_call_test_release``
    has no object to act on (the acquire kfunc is bpf_testmod's): a call stops the run."""

    def first(v: int) -> int:
        return (v & -v).bit_length() - 1 if v else 64

    def two(kind: str) -> Callable[..., int]:
        def op(m: Any, a1: int, a2: int = 0, a3: int = 0, *_: int) -> int:
            if kind in ("and", "or", "xor"):
                x, y = bits(m, a2), bits(m, a3)
                r = x & y if kind == "and" else x | y if kind == "or" else x ^ y
                set_bits(m, a1, r)
                return int(r != 0) if kind == "and" else 0
            if kind == "copy":
                set_bits(m, a1, bits(m, a2))
                return 0
            x = bits(m, a1)
            if kind == "any_distribute":
                return first(x)
            y = bits(m, a2)
            if kind in ("first_and", "any_and_distribute"):
                return first(x & y)
            if kind == "equal":
                return int(x == y)
            if kind == "intersects":
                return int(x & y != 0)
            return int(x & ~y == 0)  # subset
        return op

    def test_release(m: Any, *_: int) -> int:
        raise NotModelled("kfunc bpf_kfunc_call_test_release: the emulated kernel has no prog_test_ref_kfunc objects")

    out: dict[str, Callable[..., int]] = {n: two(n.removeprefix("bpf_cpumask_")) for n in KPTR_KFUNCS
                                          if n.startswith("bpf_cpumask_")}
    out["bpf_kfunc_call_test_release"] = test_release

    def no_cgroups(name: str) -> Callable[..., int]:
        def op(m: Any, *_: int) -> int:
            raise NotModelled(f"kfunc {name}: the emulated kernel has no cgroups")
        return op
    out["bpf_task_under_cgroup"] = no_cgroups("bpf_task_under_cgroup")
    out["bpf_task_get_cgroup1"] = no_cgroups("bpf_task_get_cgroup1")
    return out
