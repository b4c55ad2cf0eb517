"""The objects behind ``bpf()`` file descriptors, their ids and reference counts.

Models the object model of kernel/bpf/syscall.c and kernel/bpf/btf.c (Linux
6.12, checked on the 6.18 host):

* every BPF object (program, map, link, BTF) has an **id** from its own idr,
  allocated cyclically from 1 (``bpf_prog_alloc_id``, ``bpf_map_alloc_id``,
  ``bpf_link_prime``, ``btf_alloc_id``): ids are never reused while the kernel
  runs; vmlinux's BTF is id 1 and each module's BTF gets the next BTF id when
  the module loads;
* a file descriptor holds one **reference**; other objects hold references too
  (a program on the maps it uses, a struct_ops map on its programs, a link on
  its map, a map on its BTF). The object is freed when the last one goes
  (``bpf_prog_put``, ``bpf_map_put``, ``bpf_link_put``, ``btf_put``);
* fds 0, 1 and 2 are the process's stdin/stdout/stderr: naming one where a BPF
  object is expected is ``-EINVAL`` (``btf_get_by_fd`` and friends compare the
  file's ``f_op``), a closed or never-opened fd is ``-EBADF``.

The records returned by ``BPF_OBJ_GET_INFO_BY_FD`` (:class:`ProgInfo`,
:class:`BtfInfo`, :class:`MapInfo`) and ``BPF_PROG_TEST_RUN``
(:class:`TestRunResult`) are frozen dataclasses with the uapi field names
(``struct bpf_prog_info``, ``struct bpf_btf_info``, ``struct bpf_map_info``).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from kernel_model.btf import BTF
from kernel_model.errors import KernelError

__all__ = ["BpfObject", "BtfObject", "FdTable", "IdAllocator", "ProgInfo", "BtfInfo", "MapInfo", "LinkInfo",
           "TestRunResult"]

T = TypeVar("T")


class BpfObject:
    """A refcounted kernel object. ``free`` runs once, when the count reaches 0."""

    kind = "object"

    def __init__(self) -> None:
        self.refcnt = 1
        self.freed = False
        self.id = 0

    def get(self) -> None:
        if self.freed:
            raise KernelError(errno.ENOENT, f"{self.kind} {self.id} is gone")
        self.refcnt += 1

    def put(self) -> None:
        self.refcnt -= 1
        if self.refcnt <= 0 and not self.freed:
            self.freed = True
            self.release()

    def release(self) -> None:
        """What the object frees (subclasses)."""


class BtfObject(BpfObject):
    """``struct btf`` loaded in the kernel: vmlinux's, a module's or a user's
    (``BPF_BTF_LOAD``). ``data`` are the raw bytes ``bpf_btf_info.btf`` returns;
    for a module its split part only, as ``/sys/kernel/btf/<module>``."""

    kind = "btf"

    def __init__(self, btf: BTF, name: str, kernel_btf: bool, data: bytes, module: Any = None,
                 on_release: Callable[["BtfObject"], None] | None = None) -> None:
        super().__init__()
        self.btf = btf
        self.name = name
        self.kernel_btf = kernel_btf
        self.data = data
        self.module = module
        self._on_release = on_release

    def release(self) -> None:
        if self._on_release is not None:
            self._on_release(self)


class IdAllocator:
    """``idr_alloc_cyclic(&idr, obj, 1, INT_MAX)``: the next id, never reused."""

    def __init__(self, first: int = 1) -> None:
        self._next = first
        self.objects: dict[int, Any] = {}

    def alloc(self, obj: Any) -> int:
        i = self._next
        self._next += 1
        self.objects[i] = obj
        return i

    def remove(self, i: int) -> None:
        self.objects.pop(i, None)

    def next_after(self, start: int) -> int | None:
        """``idr_get_next`` from ``start + 1``: the smallest live id above ``start``."""
        ids = [i for i in self.objects if i > start]
        return min(ids) if ids else None


#: fds a process has open that are not BPF objects (stdin, stdout, stderr)
_STD_FDS = (0, 1, 2)


class FdTable:
    """The emulated process's file descriptor table (lowest free fd first, as
    ``get_unused_fd_flags``). ``objects`` maps each open fd to its object."""

    def __init__(self) -> None:
        self.objects: dict[int, BpfObject] = {}

    def install(self, obj: BpfObject) -> int:
        """A new fd holding the reference the caller passes in."""
        fd = 3
        while fd in self.objects:
            fd += 1
        self.objects[fd] = obj
        return fd

    def get(self, fd: int, kind: type[T], what: str = "") -> T:
        """The object at ``fd`` if it is a ``kind``: ``-EBADF`` for a closed fd,
        ``-EINVAL`` for an fd of another kind (the ``f_op`` check)."""
        obj = self.objects.get(fd)
        if obj is None:
            if fd in _STD_FDS:
                raise KernelError(errno.EINVAL, f"fd {fd} is not {what or 'a ' + kind.__name__}")
            raise KernelError(errno.EBADF, f"fd {fd} is not open")
        if not isinstance(obj, kind):
            raise KernelError(errno.EINVAL, f"fd {fd} is a {obj.kind}, not {what or 'a ' + kind.__name__}")
        return obj

    def close(self, fd: int) -> BpfObject:
        obj = self.objects.pop(fd, None)
        if obj is None:
            raise KernelError(errno.EBADF, f"fd {fd} is not open")
        return obj


@dataclass(frozen=True, slots=True)
class ProgInfo:
    """``struct bpf_prog_info`` (the fields this kernel fills)."""

    id: int
    type: int
    name: str
    tag: bytes
    jited: bytes
    xlated: bytes
    jited_ksyms: tuple[int, ...]
    jited_func_lens: tuple[int, ...]
    verified_insns: int
    map_ids: tuple[int, ...]
    btf_id: int
    attach_btf_obj_id: int
    attach_btf_id: int
    expected_attach_type: int
    sleepable: bool
    gpl_compatible: bool
    #: beyond the uapi: the log of the load at the level it was loaded with
    verifier_log: str = ""

    @property
    def prog_type(self) -> int:
        return self.type

    @property
    def jited_prog_len(self) -> int:
        return len(self.jited)

    @property
    def xlated_prog_len(self) -> int:
        return len(self.xlated)


@dataclass(frozen=True, slots=True)
class BtfInfo:
    """``struct bpf_btf_info``: ``name`` is ``vmlinux``, the module's name, or ``""``."""

    id: int
    name: str
    kernel_btf: bool
    data: bytes

    @property
    def btf_size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class MapInfo:
    """``struct bpf_map_info``."""

    id: int
    type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    name: str
    btf_id: int
    btf_vmlinux_value_type_id: int
    btf_vmlinux_id: int
    frozen: bool


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """``struct bpf_link_info`` for a struct_ops link: ``map_id`` 0 once detached."""

    id: int
    type: int
    map_id: int


@dataclass(frozen=True, slots=True)
class TestRunResult:
    """What ``BPF_PROG_TEST_RUN`` returns: ``retval`` (u32, as ``attr.test.retval``),
    ``data_out``, ``ctx_out`` and ``duration`` (ns per run, wall clock of the
    emulation). For ``BPF_PROG_TYPE_SYSCALL`` the kernel writes the context back
    into the ``ctx_in`` buffer: here that is ``ctx_out``."""

    retval: int
    data_out: bytes = b""
    ctx_out: bytes = b""
    duration: int = 0
    #: beyond the uapi: the full 64-bit r0 (the kernel truncates to u32)
    retval64: int = 0
    details: dict[str, Any] = field(default_factory=dict, compare=False)
