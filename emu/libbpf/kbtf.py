"""The kernel's BTF as libbpf sees it: vmlinux, then module BTFs on demand.

Models ``load_vmlinux_btf``, ``load_module_btfs`` and ``find_ksym_btf_id``
(``src/libbpf.c``, libbpf 1.8):

* vmlinux BTF is read once (libbpf parses ``/sys/kernel/btf/vmlinux``; the
  emulated kernel hands us its vmlinux BTF object, the host path parses the
  sysfs file);
* module BTFs are loaded the first time a name is not found in vmlinux, by
  iterating ``BPF_BTF_GET_NEXT_ID`` from 0 (``ENOENT`` ends the walk; ``EPERM``
  prints ``skipping module BTFs loading, missing privileges`` and continues
  without modules), ``BPF_BTF_GET_FD_BY_ID`` (an ``ENOENT`` race is skipped)
  and ``BPF_OBJ_GET_INFO_BY_FD``; only ``kernel_btf`` objects not named
  ``vmlinux`` are kept, each parsed as split BTF on vmlinux; the fds stay
  open (they become ``attach_btf_obj_fd`` / ``value_type_btf_obj_fd``);
* ``find_ksym_btf_id``: vmlinux by name and kind first; only on "not found"
  each module in BTF-id order, looking at the module's **own** types
  (``btf__find_by_name_kind_own``); the first hit wins, none is ``-ESRCH``.

:meth:`KernelBtf.from_kernel` builds the same view from an emulated kernel's
introspection (what ``/sys/kernel/btf/<module>`` shows: the same split BTF)
for the user-space steps that need no fd; :meth:`KernelBtf.bind_fds` then
fills the module fds through ``bpf()`` before anything is loaded.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from kernel_model.btf import BTF
from kernel_model.errors import KernelError

from .errors import LibbpfError, errstr
from .log import Log

__all__ = ["ModuleBtf", "KernelBtf", "probe_feature", "FEAT_BPF_COOKIE", "FEAT_SYSCALL_WRAPPER"]

#: libbpf's feature names (src/features.c ``enum kern_feature_id``) the loader probes
FEAT_BPF_COOKIE, FEAT_SYSCALL_WRAPPER = "BPF_COOKIE", "SYSCALL_WRAPPER"
#: BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_attach_cookie (include/uapi/linux/bpf.h)
_TRACEPOINT, _GET_ATTACH_COOKIE = 5, 174


def probe_feature(sys: Any, feat: str) -> bool:
    """libbpf's feature probes (src/features.c, libbpf 1.5-1.8) against ``sys``:

    * ``probe_kern_bpf_cookie``: a GPL tracepoint program ``call bpf_get_attach_cookie;
      exit`` loads (the program is closed at once);
    * ``probe_kern_syscall_wrapper``: libbpf opens a kprobe perf event on
      ``__x64_sys_bpf``; without a ``kprobe`` PMU it falls back to tracefs's
      ``kprobe_events``. Neither exists here: the emulated kernel has no
      ``perf_event_open`` and no tracefs, and the host path never creates probes (the
      project attaches nothing), so the answer is 0 -- what libbpf finds on a kernel
      built without ``CONFIG_KPROBES``. Where we differ: on a host with kprobes libbpf
      would answer 1."""
    if feat == FEAT_BPF_COOKIE:
        from kernel_model import isa
        from kernel_model.insn import Insn

        insns = [Insn(isa.JMP | isa.CALL, 0, 0, 0, _GET_ATTACH_COOKIE), Insn(isa.JMP | isa.EXIT, 0, 0, 0, 0)]
        try:
            fd = sys.prog_load(insns, prog_type=_TRACEPOINT, license="GPL")
        except KernelError:
            return False
        sys.close(fd)
        return True
    return False


@dataclass(eq=False, slots=True)
class ModuleBtf:
    """``struct module_btf``: a module's split BTF, its id and (once bound) fd."""

    name: str
    btf: BTF
    id: int = 0
    fd: int | None = None
    fd_array_idx: int = 0


class KernelBtf:
    """vmlinux BTF plus lazily loaded module BTFs (see the module docstring)."""

    def __init__(self, vmlinux: BTF, module_loader: Callable[[], list[ModuleBtf]] | None = None,
                 log: Log | None = None) -> None:
        self.vmlinux = vmlinux
        self._loader = module_loader
        self._modules: list[ModuleBtf] | None = None
        self.log = log
        #: what libbpf reads of the machine besides BTF, for ``__kconfig`` externs: its
        #: kernel configuration (``.config`` text, None when there is none) and its
        #: version (``KERNEL_VERSION(a, b, c)``, for ``LINUX_KERNEL_VERSION``)
        self.system_kconfig: Callable[[], str | None] = lambda: None
        self.kernel_version: Callable[[], int] = lambda: 0
        #: libbpf's ``kernel_supports(obj, FEAT_...)`` for the virtual ``LINUX_HAS_*`` kconfig
        #: externs (:meth:`probe_feature`); False without a kernel to probe
        self.kernel_supports: Callable[[str], bool] = lambda feat: False
        #: the machine's ``/proc/kallsyms`` text for typeless ksyms (None: not readable)
        self.proc_kallsyms: Callable[[], str | None] = lambda: None

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_kernel(cls, kernel: Any, log: Log | None = None) -> KernelBtf:
        """From an emulated kernel's introspection (``kernel.btf``, ``kernel.modules``),
        in module load order; no fds until :meth:`bind_fds`."""
        def load() -> list[ModuleBtf]:
            return [ModuleBtf(m.name, m.btf) for m in kernel.modules.modules.values()]
        kb = cls(kernel.btf, load, log)
        kb._machine_facts(kernel)
        return kb

    def _machine_facts(self, sys: Any) -> None:
        """The kernel config and version of ``sys`` where it tells them
        (``kconfig_text()``, ``kernel_version()``)."""
        if hasattr(sys, "kconfig_text"):
            self.system_kconfig = sys.kconfig_text
        if hasattr(sys, "kernel_version"):
            self.kernel_version = sys.kernel_version
        if hasattr(sys, "proc_kallsyms"):
            self.proc_kallsyms = sys.proc_kallsyms
        if hasattr(sys, "prog_load"):
            cache: dict[str, bool] = {}

            def supports(feat: str) -> bool:
                if feat not in cache:
                    cache[feat] = probe_feature(sys, feat)
                return cache[feat]
            self.kernel_supports = supports

    @classmethod
    def from_sys(cls, sys: Any, vmlinux: BTF, log: Log | None = None) -> KernelBtf:
        """The libbpf way: module BTFs through ``BPF_BTF_GET_NEXT_ID`` & co."""
        kb = cls(vmlinux, None, log)
        kb._loader = lambda: kb._load_from_sys(sys)
        kb._machine_facts(sys)
        return kb

    def _module_btf_fds(self, sys: Any) -> Iterator[tuple[int, int, Any]]:
        """The BTF id walk of ``load_module_btfs``: ``(id, fd, info)`` of every module
        BTF (a kernel BTF not named ``vmlinux``), its fd left open; other fds are closed."""
        bid = 0
        while True:
            try:
                bid = sys.btf_get_next_id(bid)
            except KernelError as e:
                if e.errno == errno.ENOENT:
                    return
                if e.errno == errno.EPERM:
                    self._debug("skipping module BTFs loading, missing privileges")
                    return
                self._warn(f"failed to iterate BTF objects: {errstr(e.errno)}")
                raise LibbpfError(e.errno, f"failed to iterate BTF objects: {errstr(e.errno)}") from None
            try:
                fd = sys.btf_get_fd_by_id(bid)
            except KernelError as e:
                if e.errno == errno.ENOENT:
                    continue
                msg = f"failed to get BTF object #{bid} FD: {errstr(e.errno)}"
                self._warn(msg)
                raise LibbpfError(e.errno, msg) from None
            try:
                info = sys.btf_info(fd)
            except KernelError as e:
                msg = f"failed to get BTF object #{bid} info: {errstr(e.errno)}"
                self._warn(msg)
                raise LibbpfError(e.errno, msg) from None
            if not info.kernel_btf or info.name == "vmlinux":
                sys.close(fd)
                continue
            yield bid, fd, info

    def _load_from_sys(self, sys: Any) -> list[ModuleBtf]:
        out: list[ModuleBtf] = []
        for bid, fd, info in self._module_btf_fds(sys):
            try:
                btf = BTF.from_bytes(info.data, self.vmlinux, validate=False, where=f"module {info.name} BTF")
            except ValueError as e:
                msg = f"failed to load module [{info.name}]'s BTF object #{bid}: {e}"
                self._warn(msg)
                raise LibbpfError(errno.EINVAL, msg) from None
            out.append(ModuleBtf(info.name, btf, bid, fd))
        return out

    def bind_fds(self, sys: Any) -> None:
        """Give every module (already loaded by name) its BTF id and fd, through ``bpf()``;
        the module BTFs are not parsed again."""
        if self._modules is None or all(m.fd is not None for m in self._modules):
            return
        by_name = {m.name: m for m in self._modules}
        for bid, fd, info in self._module_btf_fds(sys):
            m = by_name.get(info.name)
            if m is not None and m.fd is None:
                m.fd, m.id = fd, bid
            else:
                sys.close(fd)

    # --- lookups ---------------------------------------------------------------------------
    @property
    def modules(self) -> list[ModuleBtf]:
        """``load_module_btfs`` (once)."""
        if self._modules is None:
            self._modules = self._loader() if self._loader is not None else []
        return self._modules

    def find_ksym(self, name: str, kind: int) -> tuple[int, BTF, ModuleBtf | None]:
        """``find_ksym_btf_id``: ``(type id, BTF it is in, module or None)``; raises
        ``LibbpfError(ESRCH)`` (without a message: callers print their own)."""
        tid = self.vmlinux.find(name, kind)
        if tid is not None:
            return tid, self.vmlinux, None
        for m in self.modules:
            for i in m.btf.find_all(name, kind):
                if i >= m.btf.start_id:
                    return i, m.btf, m
        raise LibbpfError(errno.ESRCH)

    def module_of(self, btf: BTF) -> ModuleBtf | None:
        for m in self.modules:
            if m.btf is btf:
                return m
        return None

    def _warn(self, text: str) -> None:
        if self.log is not None:
            self.log.warn(text)

    def _debug(self, text: str) -> None:
        if self.log is not None:
            self.log.debug(text)
