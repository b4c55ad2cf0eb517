"""The emulated current task, its address space (``mm``) and ``bpf_find_vma``.

The program's ``current`` is the emulated process that issues ``bpf()`` (its pid is the Python
process's, as ``bpf_get_current_pid_tgid`` reports): a ``struct task_struct`` of the task list
(:class:`emu.kernel.core_kfuncs.TaskList`). Its ``mm`` is a small model of
``struct mm_struct``: the VMAs user space created with :meth:`TaskMm.mmap` (page-aligned,
anonymous, each a ``struct vm_area_struct`` in emulated memory with ``vm_start``, ``vm_end``,
``vm_mm``, ``vm_flags``, ``vm_pgoff``), also readable by ``copy_from_user`` (the buffers of
:mod:`emu.kernel.usermem`). The address spaces of other tasks (``bpf_task_from_pid``'s)
are not modelled: ``bpf_find_vma`` on one stops the run as not modelled.

Helpers (Linux 6.18 sources named per function):

* ``bpf_get_current_task_btf`` / ``bpf_get_current_task`` (kernel/trace/bpf_trace.c): the
  current task's address.
* ``bpf_find_vma(task, addr, callback_fn, callback_ctx, flags)`` (kernel/bpf/task_iter.c):
  ``-EINVAL`` for non-zero flags, ``-ENOENT`` for a NULL task or a task without an mm; then
  ``find_vma(mm, addr)`` (mm/mmap.c: the first VMA ending above ``addr``) and, when it
  contains ``addr``, ``callback_fn(task, vma, callback_ctx, 0, 0)`` once and 0; else
  ``-ENOENT``. The callback's return value is ignored (the verifier made it 0 or 1).

``vm_flags`` of an anonymous private mapping (mm/mmap.c ``do_mmap``, include/linux/mm.h):
the ``PROT_*`` bits as ``VM_READ|VM_WRITE|VM_EXEC``, plus ``VM_MAYREAD|VM_MAYWRITE|
VM_MAYEXEC`` and the process's default ``VM_ACCOUNT`` for writable private memory.

Where we differ: ``mmap_read_trylock`` always succeeds here (no other thread holds the
lock: no ``-EBUSY``); a foreign task's ``alloc_lock`` is not modelled (other tasks have no
mm); VMAs are not merged with their neighbours (the kernel merges adjacent anonymous
mappings with equal flags: create them apart, or with different protections, to compare);
``munmap`` of part of a VMA is not modelled (whole VMAs only); ``vm_file`` is always NULL
(anonymous memory only); ``bpf_find_vma`` of a task other than current is not modelled.
"""

from __future__ import annotations

import bisect
import errno
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from kernel_model.errors import KernelError, NotModelled

if TYPE_CHECKING:  # pragma: no cover
    from emu.machine.callbacks import CallbackGen

__all__ = ["TaskMm", "Vma", "CurrentTask", "PROT_READ", "PROT_WRITE", "PROT_EXEC", "vm_flags_of"]

PAGE = 4096
M64 = (1 << 64) - 1
#: include/uapi/asm-generic/mman-common.h
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
#: include/linux/mm.h
VM_READ, VM_WRITE, VM_EXEC = 0x1, 0x2, 0x4
VM_MAYREAD, VM_MAYWRITE, VM_MAYEXEC = 0x10, 0x20, 0x40
VM_ACCOUNT = 0x00100000
#: where the emulated process's mappings are placed (below the buffers of emu.kernel.usermem)
MMAP_BASE = 0x7E00_0000_0000


def vm_flags_of(prot: int) -> int:
    """``vm_flags`` of an anonymous private mapping with ``prot`` (``do_mmap`` /
    ``mmap_region``: ``calc_vm_prot_bits`` | ``mm->def_flags`` | the ``VM_MAY*`` bits,
    ``VM_ACCOUNT`` when private and writable, ``accountable_mapping``)."""
    f = (VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0) | \
        (VM_EXEC if prot & PROT_EXEC else 0)
    f |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    if prot & PROT_WRITE:
        f |= VM_ACCOUNT
    return f


@dataclass
class Vma:
    """One ``struct vm_area_struct`` (its address in emulated memory, its range)."""

    addr: int
    start: int
    end: int
    flags: int


@dataclass
class TaskMm:
    """A task's ``struct mm_struct``: its VMAs, sorted by start."""

    machine: Callable[[], Any]
    btf: Any
    user: Any
    addr: int = 0
    vmas: list[Vma] = field(default_factory=list)
    _next: int = MMAP_BASE

    def mmap(self, length: int, prot: int = PROT_READ | PROT_WRITE, addr: int | None = None) -> int:
        """``mmap(addr, length, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)``: a new VMA
        (``length`` rounded up to pages); without ``addr`` placed with one unmapped page
        after it, with ``addr`` exactly there (``MAP_FIXED_NOREPLACE``: ``-EEXIST`` over
        another VMA); returns its start."""
        if length <= 0:
            raise KernelError(errno.EINVAL, "mmap of 0 bytes")
        if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
            raise KernelError(errno.EINVAL, f"mmap prot {prot:#x}")
        size = (length + PAGE - 1) & ~(PAGE - 1)
        if addr is None:
            start = self._next
        else:
            if addr % PAGE or not 0 < addr < MMAP_BASE + (1 << 40):
                raise KernelError(errno.EINVAL, f"mmap at {addr:#x}")
            if any(v.start < addr + size and addr < v.end for v in self.vmas):
                raise KernelError(errno.EEXIST, f"{addr:#x} is already mapped")
            start = addr
        self._next = max(self._next, start + size + PAGE)
        from .kobjects import KObject

        m = self.machine()
        if not self.addr:
            self.addr = int(m.alloc.kzalloc(64))  # the mm_struct (its fields are not modelled)
        flags = vm_flags_of(prot)
        obj = KObject.new(m, self.btf, "vm_area_struct", vm_start=start, vm_end=start + size,
                          vm_mm=self.addr, vm_flags=flags, vm_pgoff=start // PAGE)
        vma = Vma(obj.addr, start, start + size, flags)
        bisect.insort(self.vmas, vma, key=lambda v: v.start)
        self.user.map_at(start, size)
        return start

    def munmap(self, start: int) -> None:
        """``munmap`` of a whole VMA starting at ``start`` (``-EINVAL`` otherwise here)."""
        for i, v in enumerate(self.vmas):
            if v.start == start:
                del self.vmas[i]
                self.machine().alloc.kfree(v.addr)
                self.user.free(start)
                return
        raise KernelError(errno.EINVAL, f"no mapping starts at {start:#x} (partial munmap is not modelled)")

    def find_vma(self, addr: int) -> Vma | None:
        """``find_vma`` (mm/mmap.c): the first VMA with ``vm_end > addr``, or None."""
        i = bisect.bisect_right([v.end for v in self.vmas], addr)
        return self.vmas[i] if i < len(self.vmas) else None


class CurrentTask:
    """The emulated process as the kernel's ``current`` and the helpers reading it."""

    def __init__(self, tasks: Any, machine: Callable[[], Any], btf: Any, user: Any) -> None:
        self._tasks = tasks
        self.mm = TaskMm(machine, btf, user)
        self._addr = 0

    @property
    def addr(self) -> int:
        """The ``struct task_struct`` of the process (pid and tgid the Python process's)."""
        if not self._addr:
            self._tasks.ensure_init()
            self._addr = self._tasks.spawn(os.getpid(), b"python3")
        return self._addr

    def mm_of(self, task: int) -> TaskMm:
        """``task->mm`` of current; another task's address space is not modelled."""
        if task and task == self._addr:
            return self.mm
        raise NotModelled(f"bpf_find_vma of task {task:#x}: only the current task's address space is modelled")

    def helpers(self) -> dict[int, Any]:
        """``{helper id: body}``: bpf_get_current_task (35), bpf_get_current_task_btf (158)."""
        def current(_m: Any, *_: int) -> int:
            return self.addr
        return {35: current, 158: current}

    def find_vma(self, m: Any, _loc: int, task: int, addr: int, fn: int, ctx: int, flags: int) -> "CallbackGen":
        """``bpf_find_vma`` as a callback generator (:mod:`emu.machine.callbacks`)."""
        if flags:
            return (-errno.EINVAL) & M64
        if not task & M64:
            return (-errno.ENOENT) & M64
        mm = self.mm_of(task & M64)
        vma = mm.find_vma(addr & M64)
        if vma is not None and vma.start <= (addr & M64) < vma.end:
            yield fn, (task, vma.addr, ctx, 0, 0)
            return 0
        return (-errno.ENOENT) & M64
