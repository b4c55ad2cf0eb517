"""The emulated ``bpf()`` system call: its commands, with the uapi attribute names.

:class:`BpfSyscalls` is mixed into :class:`emu.kernel.Kernel`; each method is
one command of kernel/bpf/syscall.c (Linux 6.12 source, the 6.18 host's
behaviour where they differ), with the uapi attribute names as keyword
arguments, returning fds and raising :class:`KernelError` with the kernel's
errno:

``btf_load`` / ``btf_get_next_id`` / ``btf_get_fd_by_id`` / ``btf_info``
    ``BPF_BTF_LOAD`` (``btf_parse``: the blob is decoded and validated by
    :mod:`kernel_model.btf`; a malformed one is ``-EINVAL`` with the reason in
    the log), the BTF idr walk and ``BPF_OBJ_GET_INFO_BY_FD`` on a BTF.
``prog_load``
    ``bpf_prog_load``: flags, attach BTF (``attach_btf_obj_fd`` must be a
    kernel BTF: ``-EINVAL`` for a bad fd, ``-ENOTSUPP`` for a user BTF), name,
    then ``bpf_check`` = :func:`verifier.verify` with a :class:`VerifierEnv`
    built from the attributes (maps by fd, ``fd_array`` objects, kfunc table,
    struct_ops registry), then the rewrites the kernel makes for the JIT
    (:mod:`verifier.convert_ctx`, :func:`verifier.fixups.fixup_for_jit`), then the
    x86-64 JIT into the machine's ``bpf_prog_pack`` and a ``struct bpf_prog``
    in vmalloc: the steps of :mod:`emu.kernel.prog_load`. A rejection raises
    :class:`ProgLoadError` with the log. Programs calling a module's kfuncs hold the module (``kfunc_btf_tab``).
``prog_test_run``, ``prog_info``
    :mod:`emu.kernel.test_run`; ``struct bpf_prog_info``.
``map_create`` / ``map_update_elem`` / ``map_lookup_elem`` / ``map_delete_elem`` / ``map_freeze``
    ``map_create`` (attribute checks in the kernel's order: the struct_ops
    value type, ``map_alloc_check``, ``map_alloc``, the name, then
    ``btf_fd``, which struct_ops maps need too: ``-EINVAL`` for fd 0, which is
    stdin, ``-EACCES`` for a kernel BTF); every map type is created, the ones
    :mod:`emu.kernel.maps` lists run; ``map_get_next_key`` and
    ``map_lookup_and_delete_elem`` too.
``link_create`` / ``link_update`` / ``link_detach``
    ``BPF_STRUCT_OPS`` links (``bpf_struct_ops_link_create`` ...).
``close``
    drops the fd's reference; the last reference frees the object and what
    it holds (a struct_ops map its trampoline pages, programs and module).

Beyond ``bpf()``: :meth:`BpfSyscalls.call_struct_ops` is what a subsystem does
with a registered ops struct: the kernel-text indirect caller loads the
member from the kernel-side struct in emulated memory and calls it.

Where we differ: the loader is root (CAP_SYS_ADMIN: privileged verifier
mode); BPF tokens, offload, ``BPF_PROG_GET_FD_BY_ID`` and pinning are not
modelled; ``func_info``/``line_info`` go to the verifier with the program's BTF
(``check_btf_info``, global functions, source lines in the log) but are not
returned by ``prog_info``.
"""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING, Any, Sequence, cast

from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.bpf_facts.map_types import MAP_FACTS, NR_CPUS_X86, MapCreate, create_errno
from kernel_model.bpf_map import MAP_TYPE_NAMES, MAP_TYPE_STRUCT_OPS, MapSpec
from kernel_model.btf import BTF
from kernel_model.btf.errors import BTFError
from kernel_model.errors import InputError, KernelError
from kernel_model.insn import BPF_COMPLEXITY_LIMIT_INSNS, Insn, decode, encode
from kernel_model.uapi import BPF_F_LOCK, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, MAP_TYPE_ARRAY, MAP_TYPE_HASH
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL, BpfProg
from kernel_model.struct_ops import STATE_INUSE, STATE_READY
from kernel_model.uapi import (PROG_TYPE_FLOW_DISSECTOR, PROG_TYPE_LWT_IN, PROG_TYPE_LWT_OUT, PROG_TYPE_LWT_SEG6LOCAL,
                               PROG_TYPE_LWT_XMIT, PROG_TYPE_NETFILTER, PROG_TYPE_SK_MSG, PROG_TYPE_SK_REUSEPORT,
                               PROG_TYPE_SK_SKB)
from kernel_model.struct_ops_map import ENOTSUPP, StructOpsLink, StructOpsMap
from kernel_model.uapi import (BPF_F_ANY_ALIGNMENT, BPF_F_LINK, BPF_F_RDONLY, BPF_F_REPLACE, BPF_F_SLEEPABLE,
                               BPF_F_STRICT_ALIGNMENT, BPF_F_TEST_REG_INVARIANTS, BPF_F_TEST_RND_HI32,
                               BPF_F_TEST_STATE_FREQ, BPF_F_TOKEN_FD, BPF_F_VTYPE_BTF_OBJ_FD, BPF_F_XDP_DEV_BOUND_ONLY,
                               BPF_F_XDP_HAS_FRAGS, BPF_LINK_TYPE_STRUCT_OPS, BPF_STRUCT_OPS, LAST_MAP_TYPE,
                               LAST_PROG_TYPE, PROG_TYPE_KPROBE, PROG_TYPE_NAMES, PROG_TYPE_PERF_EVENT,
                               PROG_TYPE_RAW_TRACEPOINT, PROG_TYPE_RAW_TRACEPOINT_WRITABLE, PROG_TYPE_TRACEPOINT, PROG_TYPE_TRACING,
                               PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT, PROG_TYPE_XDP, PROG_TYPE_CGROUP_SKB)

from verifier.helper_sets import fixup_attach_type
from verifier.sock_ctx import SOCK_PROG_TYPES
from .bpf_maps import MachineKernelMemory, MapObject, StructOpsMapObject, check_obj_name
from . import prog_load
from .bpf_objects import BpfObject, BtfInfo, BtfObject, LinkInfo, MapInfo, ProgInfo, TestRunResult
from .prog_load import ProgLoadError, ProgObject

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import Kernel

__all__ = ["BpfSyscalls", "ProgObject", "LinkObject", "ProgLoadError", "BPF_STRUCT_OPS", "BPF_F_REPLACE",
           "SUPPORTED_PROG_TYPES", "PROG_FLAGS_MASK"]

#: prog_flags bpf_prog_load accepts (6.12: STRICT_ALIGNMENT ANY_ALIGNMENT TEST_RND_HI32
#: TEST_STATE_FREQ SLEEPABLE XDP_HAS_FRAGS XDP_DEV_BOUND_ONLY TEST_REG_INVARIANTS TOKEN_FD)
PROG_FLAGS_MASK = (BPF_F_STRICT_ALIGNMENT | BPF_F_ANY_ALIGNMENT | BPF_F_TEST_RND_HI32 | BPF_F_TEST_STATE_FREQ
                   | BPF_F_SLEEPABLE | BPF_F_XDP_HAS_FRAGS | BPF_F_XDP_DEV_BOUND_ONLY | BPF_F_TEST_REG_INVARIANTS
                   | BPF_F_TOKEN_FD)
#: BPF_PROG_TYPE_TRACING: tp_btf programs (the verifier refuses the other attach types as not modelled)
SUPPORTED_PROG_TYPES = {t: PROG_TYPE_NAMES[t] for t in (
    PROG_TYPE_SOCKET_FILTER, PROG_TYPE_KPROBE, PROG_TYPE_TRACEPOINT, PROG_TYPE_PERF_EVENT, PROG_TYPE_RAW_TRACEPOINT,
    PROG_TYPE_RAW_TRACEPOINT_WRITABLE, PROG_TYPE_SCHED_CLS, PROG_TYPE_SCHED_ACT, PROG_TYPE_XDP, PROG_TYPE_CGROUP_SKB,
    PROG_TYPE_STRUCT_OPS, PROG_TYPE_SYSCALL, PROG_TYPE_TRACING)}
# the socket and cgroup types (verified only but sk_lookup, which test-runs: the emulated kernel has
# no socket, sysctl or device to run the others on; verifier.sock_ctx)
SUPPORTED_PROG_TYPES.update({t: PROG_TYPE_NAMES[t] for t in SOCK_PROG_TYPES})
# the socket-level and tunnel packet types: verified (verifier.skb_ctx); lwt_in/out/xmit test-run (emu.kernel.test_run)
SUPPORTED_PROG_TYPES.update({t: PROG_TYPE_NAMES[t] for t in (
    PROG_TYPE_SK_SKB, PROG_TYPE_SK_MSG, PROG_TYPE_FLOW_DISSECTOR, PROG_TYPE_SK_REUSEPORT, PROG_TYPE_LWT_IN,
    PROG_TYPE_LWT_OUT, PROG_TYPE_LWT_XMIT, PROG_TYPE_LWT_SEG6LOCAL, PROG_TYPE_NETFILTER)})
#: BPF_PROG_TYPE_LIRC_MODE2 (verifier.lirc): verified where the kernel is built with
#: CONFIG_BPF_LIRC_MODE2, refused as an unknown type otherwise (find_prog_type)
PROG_TYPE_LIRC_MODE2 = 20
SUPPORTED_PROG_TYPES[PROG_TYPE_LIRC_MODE2] = PROG_TYPE_NAMES[PROG_TYPE_LIRC_MODE2]
M64 = (1 << 64) - 1


#: map_check_btf (kernel/bpf/syscall.c, 6.12/6.18): the map types that may hold each special field
_LOCK_MAPS = frozenset({MAP_TYPE_HASH, MAP_TYPE_ARRAY} | {MAP_TYPES[f"BPF_MAP_TYPE_{n}"] for n in (
    "CGROUP_STORAGE", "SK_STORAGE", "INODE_STORAGE", "TASK_STORAGE", "CGRP_STORAGE")})
_DEVMAPS = frozenset({MAP_TYPES["BPF_MAP_TYPE_DEVMAP"], MAP_TYPES["BPF_MAP_TYPE_DEVMAP_HASH"]})
_TIMER_MAPS = frozenset({MAP_TYPE_HASH, MAP_TYPE_ARRAY, MAP_TYPES["BPF_MAP_TYPE_LRU_HASH"]})
_KPTR_MAPS = frozenset({MAP_TYPES[f"BPF_MAP_TYPE_{n}"] for n in (
    "HASH", "PERCPU_HASH", "LRU_HASH", "LRU_PERCPU_HASH", "ARRAY", "PERCPU_ARRAY", "SK_STORAGE", "INODE_STORAGE",
    "TASK_STORAGE", "CGRP_STORAGE")})
_GRAPH_MAPS = _TIMER_MAPS  # BPF_LIST_HEAD / BPF_RB_ROOT: hash, LRU hash, array
_FIELD_MAP_TYPES: dict[str, frozenset[int]] = {"bpf_spin_lock": _LOCK_MAPS, "bpf_timer": _TIMER_MAPS,
                                               "bpf_wq": _TIMER_MAPS, "kptr": _KPTR_MAPS, "percpu_kptr": _KPTR_MAPS,
                                               "bpf_refcount": _KPTR_MAPS, "bpf_list_head": _GRAPH_MAPS,
                                               "bpf_rb_root": _GRAPH_MAPS}

class LinkObject(BpfObject):
    """A struct_ops link (``struct bpf_struct_ops_link``)."""

    kind = "link"

    def __init__(self, link: StructOpsLink, on_release: Any) -> None:
        super().__init__()
        self.link = link
        self._on_release = on_release

    def release(self) -> None:
        self._on_release(self)


def _decode(insns: Sequence[Insn] | bytes | bytearray | memoryview) -> list[Insn]:
    if isinstance(insns, (bytes, bytearray, memoryview)):
        data = bytes(insns)
        if not data:
            raise KernelError(errno.E2BIG, "insn_cnt is 0")
        if len(data) % 8:
            raise KernelError(errno.EINVAL, f"{len(data)} instruction bytes are not a multiple of 8")
        try:
            return decode(data)
        except InputError as e:  # pragma: no cover - decode only refuses lengths
            raise KernelError(errno.EINVAL, str(e)) from None
    return list(insns)


class BpfSyscalls:
    """The ``bpf()`` commands (see the module docstring). Mixed into ``Kernel``,
    which provides the state these methods use."""

    # provided by Kernel
    fds: Any
    profile: Any
    btf: BTF
    struct_ops: Any
    kfuncs: Any
    modules: Any
    dmesg: list[str]
    kconfig: Any

    # ==================================================================================
    # BTF
    # ==================================================================================
    def btf_load(self, blob: bytes, *, log_level: int = 0) -> int:
        """``BPF_BTF_LOAD`` of a standalone (user) BTF; returns an fd."""
        if log_level & ~0x3:  # BPF_LOG_LEVEL
            raise KernelError(errno.EINVAL, "invalid log_level")
        try:
            btf = BTF.from_bytes(bytes(blob), validate=True, where="btf")
        except BTFError as e:
            err = KernelError(errno.EINVAL, e.message)
            err.log = (e.message + "\n") if log_level else ""  # type: ignore[attr-defined]
            raise err from None
        from kernel_model.btf_record import check_struct_metas

        rc = check_struct_metas(btf, self.btf)  # btf_parse_struct_metas: fails the load without a log line
        if rc:
            err = KernelError(-rc, "btf_parse_struct_metas: a struct's special fields (bpf_spin_lock, kptr, "
                                   "graph root or node, refcount) are invalid")
            err.log = ""  # type: ignore[attr-defined]
            raise err
        obj = BtfObject(btf, "", False, bytes(blob), on_release=self._btf_released)
        obj.id = self._btf_ids.alloc(obj)  # type: ignore[attr-defined]
        return self.fds.install(obj)

    def _btf_released(self, obj: BtfObject) -> None:
        self._btf_ids.remove(obj.id)  # type: ignore[attr-defined]

    def btf_get_next_id(self, start_id: int) -> int:
        """``BPF_BTF_GET_NEXT_ID``: the next BTF id above ``start_id``; ``-ENOENT`` past the last."""
        nxt = self._btf_ids.next_after(start_id)  # type: ignore[attr-defined]
        if nxt is None:
            raise KernelError(errno.ENOENT, "no more BTF objects")
        return nxt

    def btf_get_fd_by_id(self, btf_id: int) -> int:
        """``BPF_BTF_GET_FD_BY_ID``: a new fd on the BTF (``-ENOENT`` if no such id)."""
        obj = self._btf_ids.objects.get(btf_id)  # type: ignore[attr-defined]
        if obj is None or obj.freed:
            raise KernelError(errno.ENOENT, f"no BTF with id {btf_id}")
        obj.get()
        return self.fds.install(obj)

    def btf_info(self, fd: int) -> BtfInfo:
        """``BPF_OBJ_GET_INFO_BY_FD`` on a BTF fd."""
        obj = self.fds.get(fd, BtfObject, "a BTF")
        return BtfInfo(obj.id, obj.name, obj.kernel_btf, obj.data)

    def _btf_by_fd(self, fd: int) -> BtfObject:
        return self.fds.get(fd, BtfObject, "a BTF")

    # ==================================================================================
    # programs
    # ==================================================================================
    def prog_load(self, insns: Sequence[Insn] | bytes, *, prog_type: int, expected_attach_type: int = 0,
                  attach_btf_id: int = 0, attach_btf_obj_fd: int = 0, prog_flags: int = 0,
                  license: str = "GPL", log_level: int = 0, prog_name: str = "",
                  prog_btf_fd: int = 0, func_info: bytes = b"", func_info_rec_size: int = 0,
                  line_info: bytes = b"", line_info_rec_size: int = 0,
                  fd_array: Sequence[int] = (), log_size: int | None = None, log_buf: bool | None = None,
                  attr_out: dict[str, int] | None = None) -> int:
        """``BPF_PROG_LOAD``: verify, rewrite, JIT; returns a prog fd.

        The log (kernel/bpf/log.c, 6.18): ``log_size`` is ``attr.log_size`` and
        ``log_buf`` whether ``attr.log_buf`` points at a buffer (default: when
        ``log_size`` is nonzero). ``bpf_vlog_init`` refuses with EINVAL a buffer
        without a size or a size without a buffer, a buffer at log level 0, a level
        outside BPF_LOG_MASK and a size above ``UINT_MAX >> 2``. The log a rejection
        carries (and ``prog_info().verifier_log``) is what the user buffer holds:
        the rotated tail, or the head with ``BPF_LOG_FIXED``; a log that ever
        outgrew the buffer fails the load with ENOSPC whatever the verdict. Without
        ``log_size`` (None) the emulator gives the whole log, a convenience the
        kernel has no equivalent of. ``attr_out`` receives what the kernel writes
        back into the attributes: ``log_true_size``."""
        if prog_flags & ~PROG_FLAGS_MASK:
            raise KernelError(errno.EINVAL, f"unknown prog_flags {prog_flags:#x}")
        if prog_flags & BPF_F_TOKEN_FD:
            raise KernelError(errno.EINVAL, "BPF tokens are not modelled")
        code = _decode(insns)
        if not code or len(code) > BPF_COMPLEXITY_LIMIT_INSNS:
            raise KernelError(errno.E2BIG, f"insn_cnt {len(code)} is 0 or above 1000000")
        attach_obj: BtfObject | None = None
        attach_btf: BTF | None = None
        if attach_btf_obj_fd:
            try:
                attach_obj = self._btf_by_fd(attach_btf_obj_fd)
            except KernelError:
                raise KernelError(errno.EINVAL, f"attach_btf_obj_fd {attach_btf_obj_fd} is not a BTF") from None
            if not attach_obj.kernel_btf:
                raise KernelError(ENOTSUPP, "attach_btf_obj_fd names a user BTF, not a kernel one")
            attach_btf = attach_obj.btf
        elif attach_btf_id:
            attach_btf = self.btf
        if prog_type not in SUPPORTED_PROG_TYPES:
            if 0 < prog_type <= LAST_PROG_TYPE:
                raise KernelError(errno.EINVAL, f"program type {prog_type} is not modelled by this kernel "
                                                f"(modelled: {', '.join(SUPPORTED_PROG_TYPES.values())})")
            raise KernelError(errno.EINVAL, f"unknown program type {prog_type}")
        if prog_type == PROG_TYPE_LIRC_MODE2 and self.kconfig.values.get("CONFIG_BPF_LIRC_MODE2") != "y":
            # include/linux/bpf_types.h: the type is registered only with CONFIG_BPF_LIRC_MODE2;
            # find_prog_type (kernel/bpf/syscall.c) refuses an unregistered type, before the verifier
            raise KernelError(errno.EINVAL, "program type 20 (lirc_mode2) is not in this kernel: "
                                            "CONFIG_BPF_LIRC_MODE2 is not set")
        prog_name = check_obj_name(prog_name, "program")
        expected_attach_type = fixup_attach_type(prog_type, expected_attach_type)
        prog_btf: BtfObject | None = None
        if prog_btf_fd or func_info or line_info:
            prog_btf = self._btf_by_fd(prog_btf_fd)
            if prog_btf.kernel_btf:
                raise KernelError(errno.EACCES, "prog_btf_fd names a kernel BTF")
        if prog_type == PROG_TYPE_STRUCT_OPS and attach_obj is not None and attach_obj.module is None \
                and attach_obj.btf is not self.btf:
            # check_struct_ops_btf_id: btf_try_get_module() fails once the module is going
            msg = f"struct_ops module {attach_obj.name} is not found"
            raise ProgLoadError(ENOTSUPP, msg, msg + "\n" if log_level else "", None)
        # --- verify -> rewrite -> JIT -> install (emu/kernel/prog_load.py) ------------------------------
        maps_by_fd, fd_objs = prog_load.resolve_fds(self, code, fd_array)
        env = prog_load.verifier_env(self, code, maps_by_fd, fd_objs, prog_type=prog_type,
                                     expected_attach_type=expected_attach_type, attach_btf=attach_btf,
                                     attach_btf_id=attach_btf_id, prog_flags=prog_flags, license=license,
                                     prog_name=prog_name)
        if prog_btf is not None:  # check_btf_info_early / check_btf_info read them (verifier.btf_info)
            env.prog_btf = prog_btf.btf
            env.func_info, env.func_info_rec_size = bytes(func_info), func_info_rec_size
            env.line_info, env.line_info_rec_size = bytes(line_info), line_info_rec_size
        if log_size is not None:
            has_buf = bool(log_size) if log_buf is None else log_buf
            # bpf_check -> bpf_vlog_init -> bpf_verifier_log_attr_valid
            if has_buf != bool(log_size) or (has_buf and log_level == 0) or log_level & ~0xF \
                    or log_size > 0xFFFFFFFF >> 2:
                raise KernelError(errno.EINVAL, f"invalid log attributes: log_level {log_level}, "
                                                f"log_size {log_size}, log_buf {'set' if has_buf else 'NULL'}")
            env.log_size = log_size
        t0 = time.monotonic_ns()
        result = prog_load.verify(code, env, log_level)
        log = result.log if log_level else ""
        if attr_out is not None:
            attr_out["log_true_size"] = result.log_true_size
        if not result.accepted:
            line = result.error_line or ""
            notice = prog_load.lockdown_notice(env, result)
            if notice is not None:
                self.dmesg.append(notice)
            raise ProgLoadError(result.errno, line, log, result, result.log_true_size)
        # --- the program object -------------------------------------------------------------------
        prog = BpfProg(0, prog_type, code, name=prog_name, attach_btf=attach_btf, attach_btf_id=attach_btf_id,
                       expected_attach_type=expected_attach_type, sleepable=bool(prog_flags & BPF_F_SLEEPABLE),
                       verifier_log=log)
        po = ProgObject(prog)
        po.result = result
        po.env = env
        po.gpl_compatible = env.gpl_compatible
        po.load_time = t0
        po._release_cb = self._prog_released
        if prog_type == PROG_TYPE_STRUCT_OPS and attach_btf is not None:
            po.desc = self.struct_ops.find(attach_btf, attach_btf_id)
            if po.desc is not None and 0 <= expected_attach_type < len(po.desc.members):
                po.member = po.desc.members[expected_attach_type]
        for b in (attach_obj, prog_btf):
            if b is not None:
                b.get()
                po.btfs.append(b)
        try:
            fixed = prog_load.rewrite_for_jit(self, po, code, result, maps_by_fd, fd_objs)
            prog_load.install(self.machine, po, fixed)  # type: ignore[attr-defined]
        except BaseException:
            po.freed = True
            self._prog_released(po)
            raise
        prog.id = po.id = self._prog_ids.alloc(po)  # type: ignore[attr-defined]
        self._live.append(po)  # type: ignore[attr-defined]
        return self.fds.install(po)

    def _prog_released(self, po: ProgObject) -> None:
        """``__bpf_prog_put_noref`` (:func:`emu.kernel.prog_load.release`), and the id goes."""
        prog_load.release(self._machine, po)  # type: ignore[attr-defined]
        if po.id:
            self._prog_ids.remove(po.id)  # type: ignore[attr-defined]

    def prog_info(self, fd: int) -> ProgInfo:
        """``BPF_OBJ_GET_INFO_BY_FD`` on a program."""
        po = self.fds.get(fd, ProgObject, "a program")
        p = po.prog
        jp = po.jp
        from emu.machine.images import prog_tag

        attach_obj = next((b for b in po.btfs if b.kernel_btf), None)
        prog_btf = next((b for b in po.btfs if not b.kernel_btf), None)
        return ProgInfo(
            id=p.id, type=p.prog_type, name=p.name, tag=prog_tag(p.insns), jited=p.jited,
            xlated=encode(po.xlated),
            jited_ksyms=tuple(img.addr for img in jp.funcs) if jp else (),
            jited_func_lens=tuple(len(img.code) for img in jp.funcs) if jp else (),
            verified_insns=po.result.processed, map_ids=tuple(mo.spec.id for mo in po.maps),
            btf_id=prog_btf.id if prog_btf else 0, attach_btf_obj_id=attach_obj.id if attach_obj else 0,
            attach_btf_id=p.attach_btf_id, expected_attach_type=p.expected_attach_type, sleepable=p.sleepable,
            gpl_compatible=po.gpl_compatible, verifier_log=p.verifier_log)

    def prog_test_run(self, prog_fd: int, *, ctx_in: bytes = b"", data_in: bytes = b"",
                      repeat: int = 1, ctx_out_size: int = 0, data_out_size: int = 0,
                      flags: int = 0, cpu: int = 0) -> TestRunResult:
        """``BPF_PROG_TEST_RUN`` (see :mod:`emu.kernel.test_run`)."""
        from .test_run import test_run

        po = self.fds.get(prog_fd, ProgObject, "a program")
        try:
            res = test_run(cast("Kernel", self), po, ctx_in=bytes(ctx_in), data_in=bytes(data_in), repeat=repeat,  # mixed into Kernel
                           ctx_out_size=ctx_out_size, data_out_size=data_out_size, flags=flags, cpu=cpu)
        finally:
            self._rcu.synchronize()  # type: ignore[attr-defined]
        timers = getattr(self, "timers", None)
        if timers is not None and timers.armed():  # the timer softirq after the syscall: what is due runs
            timers.advance(0)
        return res

    # ==================================================================================
    # maps
    # ==================================================================================
    def map_create(self, *, map_type: int, key_size: int, value_size: int, max_entries: int,
                   map_flags: int = 0, map_name: str = "", btf_fd: int = 0, btf_key_type_id: int = 0,
                   btf_value_type_id: int = 0, btf_vmlinux_value_type_id: int = 0,
                   value_type_btf_obj_fd: int = 0, map_extra: int = 0, inner_map_fd: int = 0) -> int:
        """``BPF_MAP_CREATE``; returns a map fd. Every type's ``map_alloc_check`` and
        ``map_alloc`` argument checks are the facts of
        :func:`kernel_model.bpf_facts.map_types.create_errno`; the inner map of a
        map-in-map is :func:`emu.kernel.maps.check_inner_map`; which types keep
        elements: :mod:`emu.kernel.maps`."""
        from .maps import MAP_IN_MAP_TYPES, SockMap, check_inner_map, new_map

        if btf_vmlinux_value_type_id:
            if map_type != MAP_TYPE_STRUCT_OPS or btf_key_type_id or btf_value_type_id:
                raise KernelError(errno.EINVAL, "btf_vmlinux_value_type_id is for struct_ops maps, without "
                                                "btf_key_type_id/btf_value_type_id")
        elif btf_key_type_id and not btf_value_type_id:
            raise KernelError(errno.EINVAL, "btf_key_type_id without btf_value_type_id")
        if not 0 <= map_type <= LAST_MAP_TYPE or map_type == 0:
            raise KernelError(errno.EINVAL, f"unknown map type {map_type}")
        spec = MapSpec(map_type, key_size, value_size, max_entries, map_flags, map_name)
        m = self.machine  # type: ignore[attr-defined]
        obj: MapObject
        if map_type == MAP_TYPE_STRUCT_OPS:
            if map_extra:
                raise KernelError(errno.EINVAL, "map_extra is for bloom filters and arenas")
            obj = self._struct_ops_map_create(spec, btf_fd, btf_vmlinux_value_type_id, value_type_btf_obj_fd)
        else:
            req = MapCreate(map_type, key_size, value_size, max_entries, map_flags, map_extra, btf_key_type_id,
                            btf_value_type_id, inner_map_fd, nr_cpus=NR_CPUS_X86)
            err = create_errno(req)
            if err:
                facts = MAP_FACTS[spec.type_name]
                raise KernelError(err, f"{spec.type_name} refuses key_size {key_size}, value_size {value_size}, "
                                       f"max_entries {max_entries}, map_flags {map_flags:#x}"
                                       + (f", map_extra {map_extra:#x}" if map_extra else "")
                                       + f" ({(facts.check.__doc__ or '').split(chr(10))[0].rstrip('.')})")
            if map_type in _DEVMAPS:
                # dev_map_init_map (kernel/bpf/devmap.c): a lookup points straight at the
                # device's ifindex, so programs may only read the value
                spec.map_flags |= BPF_F_RDONLY_PROG
            inner = None
            if map_type in MAP_IN_MAP_TYPES:
                inner = check_inner_map(self._map_by_fd(inner_map_fd))
            spec.name = check_obj_name(map_name, "map")
            btf = self._map_btf(btf_fd, btf_key_type_id, btf_value_type_id, 0, map_type)
            self._map_check_btf(spec, btf, btf_value_type_id, self.btf)
            hashrnd = self._rng.getrandbits(32)  # type: ignore[attr-defined]
            obj = new_map(spec, m, self._rcu, btf, hashrnd=hashrnd, inner=inner,  # type: ignore[attr-defined]
                          map_extra=map_extra)
        if isinstance(obj, SockMap):
            obj.sockfd_lookup = self._sockfd_lookup
        obj.freer = self._field_freer()  # what bpf_obj_free_fields reaches (emu.kernel.kptr_fields)
        obj.btf_key_type_id = btf_key_type_id
        obj.btf_value_type_id = btf_value_type_id
        obj.btf_vmlinux_value_type_id = btf_vmlinux_value_type_id
        obj.set_id(self._map_ids.alloc(obj))  # type: ignore[attr-defined]
        self._maps_by_addr[spec.addr] = obj  # type: ignore[attr-defined]
        self._live.append(obj)  # type: ignore[attr-defined]
        return self.fds.install(obj)

    def _field_freer(self) -> Any:
        """The map's ``bpf_obj_free_fields`` bodies: the kernel's kfuncs and graph run time."""
        from .kptr_fields import FieldFreer
        freer = getattr(self, "_freer", None)
        if freer is None:
            freer = FieldFreer(getattr(self, "kfuncs", None), getattr(self, "graph", None))
            self._freer = freer
        return freer

    @staticmethod
    def _map_check_btf(spec: MapSpec, btf: BtfObject | None, value_id: int, kernel_btf: BTF | None = None) -> None:
        """The record part of ``map_check_btf`` (kernel/bpf/syscall.c, 6.18): the value's special
        fields (``btf_parse_fields``; an erroneous record is kept, not refused), then
        -EACCES for BPF_F_RDONLY_PROG/WRONLY_PROG and -EOPNOTSUPP for a map type that
        cannot hold them (locks: hash, array and the local storages; timers, wqs: hash,
        LRU hash, array). CAP_BPF is assumed (root)."""
        if btf is None or not value_id:
            return
        from kernel_model.btf_record import parse_fields

        spec.has_btf = True
        try:
            rec = parse_fields(btf.btf, value_id, spec.value_size, kernel_btf)
        except KernelError:  # btf_check_and_fixup_fields (or not modelled): no map
            btf.put()
            raise
        if rec is None:
            return
        if rec.fields:
            if spec.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
                btf.put()
                raise KernelError(errno.EACCES, "a map value with special fields is read/written by programs")
            for f in rec.fields:
                if spec.map_type not in _FIELD_MAP_TYPES.get(f.name, ()):
                    btf.put()
                    raise KernelError(errno.EOPNOTSUPP, f"{spec.type_name} cannot hold "
                                                        f"{', '.join(f.name for f in rec.fields)}")
        spec.record = rec

    def _map_btf(self, btf_fd: int, key_id: int, value_id: int, vmlinux_value_id: int,
                 map_type: int = 0) -> BtfObject | None:
        """The ``btf_fd`` part of ``map_create`` (after ``map_alloc``) with the type-level
        part of ``map_check_btf`` (6.12 syscall.c): no key type is ``-EINVAL`` unless the
        ops have ``map_check_btf``; ``map_check_no_btf`` types refuse BTF with ``-ENOTSUPP``
        (libbpf then retries without BTF)."""
        if not (key_id or value_id or vmlinux_value_id):
            return None
        obj = self._btf_by_fd(btf_fd)
        if obj.kernel_btf:
            raise KernelError(errno.EACCES, "btf_fd names a kernel BTF")
        if value_id:
            for tid in (key_id, value_id):
                if tid and tid >= obj.btf.type_count:
                    raise KernelError(errno.EINVAL, f"btf type id {tid} does not exist")
            facts = MAP_FACTS.get(MAP_TYPE_NAMES.get(map_type, ""))
            check_btf = facts.ops_fields.get("map_check_btf") if facts is not None else None
            if not key_id and not check_btf:
                raise KernelError(errno.EINVAL, "map_check_btf: no key type and no map_check_btf")
            if check_btf == "map_check_no_btf":
                raise KernelError(ENOTSUPP, f"{facts.name} takes no BTF (map_check_no_btf)")  # type: ignore[union-attr]
        obj.get()
        return obj

    def _struct_ops_map_create(self, spec: MapSpec, btf_fd: int, value_type_id: int,
                               value_type_btf_obj_fd: int) -> StructOpsMapObject:
        """``bpf_struct_ops_map_alloc_check`` + ``bpf_struct_ops_map_alloc``."""
        allowed = BPF_F_LINK | (BPF_F_VTYPE_BTF_OBJ_FD if self.profile.module_struct_ops else 0)
        if spec.key_size != 4 or spec.max_entries != 1 or spec.map_flags & ~allowed or not value_type_id:
            raise KernelError(errno.EINVAL, "struct_ops map: key_size 4, max_entries 1, flags within BPF_F_LINK"
                                            + ("|BPF_F_VTYPE_BTF_OBJ_FD" if self.profile.module_struct_ops else "")
                                            + " and btf_vmlinux_value_type_id are required")
        module = None
        btf_obj = self.vmlinux_btf_obj  # type: ignore[attr-defined]
        if spec.map_flags & BPF_F_VTYPE_BTF_OBJ_FD:
            bobj = btf_obj = self._btf_by_fd(value_type_btf_obj_fd)
            if bobj.module is None:
                raise KernelError(errno.EINVAL, "value_type_btf_obj_fd is not a module BTF")
            module = bobj.module
            if module.state != "live":
                raise KernelError(errno.EINVAL, f"module {module.name} is going away")
            btf = bobj.btf
        else:
            btf = self.btf
        desc = self.struct_ops.find_value(btf, value_type_id)
        if desc is None:
            raise KernelError(ENOTSUPP, f"btf_vmlinux_value_type_id {value_type_id} is no registered "
                                        "bpf_struct_ops_<name> type")
        if spec.value_size != desc.value_size:
            raise KernelError(errno.EINVAL, f"value_size {spec.value_size}, struct bpf_struct_ops_{desc.name} "
                                            f"is {desc.value_size}")
        spec.name = check_obj_name(spec.name, "map")
        ubtf = self._map_btf(btf_fd, 0, 0, value_type_id)
        m = self.machine  # type: ignore[attr-defined]
        from jit.trampoline import X86StructOpsArch

        st_map = StructOpsMap(desc, 0, spec.map_flags, MachineKernelMemory(m),
                              X86StructOpsArch(self.profile, m.images.trampoline_symbols(), m.cpu_config), self.profile.tramp_image_pages,
                              invoke=self._invoke_fn_ptr)  # type: ignore[attr-defined]
        if module is not None:
            module.get()  # btf_try_get_module: the map pins the module
            st_map.module = module
        obj = StructOpsMapObject(spec, m, st_map, ubtf, self._st_map_freed)
        obj.btf_vmlinux_id = btf_obj.id
        return obj

    def _st_map_freed(self, obj: StructOpsMapObject) -> None:
        m = self._machine  # type: ignore[attr-defined]
        for name in obj.ksyms:
            m.kallsyms.remove(name)
        obj.ksyms.clear()

    def _sockfd_lookup(self, fd: int) -> None:
        """``sockfd_lookup`` (net/socket.c): the emulated process has no socket, so an fd
        that is not open is ``-EBADF`` and any open one (a map, a program, stdin ...) is
        ``-ENOTSOCK``."""
        if fd in self.fds.objects or fd in (0, 1, 2):
            raise KernelError(errno.ENOTSOCK, f"fd {fd} is not a socket")
        raise KernelError(errno.EBADF, f"fd {fd} is not open")

    def _map_by_fd(self, fd: int) -> MapObject:
        return self.fds.get(fd, MapObject, "a map")

    def map_update_elem(self, map_fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
        """``BPF_MAP_UPDATE_ELEM``."""
        from .maps import ArrayOfMapsMap, HashOfMapsMap, ProgArrayMap

        mo = self._map_by_fd(map_fd)
        try:
            if isinstance(mo, (ArrayOfMapsMap, HashOfMapsMap)):
                # bpf_map_update_value -> bpf_fd_{array,htab}_map_update_elem: the value is a map fd
                mo._check_write()
                if flags & BPF_F_LOCK:
                    raise KernelError(errno.EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value")
                if len(value) != 4:
                    raise KernelError(errno.EINVAL, f"value is {len(value)} bytes, a map-in-map's is a u32 fd")
                mo.update_fd(mo._key(bytes(key)), struct.unpack_from("<I", bytes(value))[0], flags, self._map_by_fd)
            elif isinstance(mo, StructOpsMapObject):
                self._struct_ops_update(mo, bytes(key), bytes(value), flags)
            elif isinstance(mo, ProgArrayMap):
                mo._check_write()
                if len(value) != 4:
                    raise KernelError(errno.EINVAL, f"value is {len(value)} bytes, a prog array's is a u32 fd")
                mo.update_prog(mo._key(bytes(key)), struct.unpack_from("<I", bytes(value))[0], flags,
                               lambda fd: self.fds.get(fd, ProgObject, "a program"))
            else:
                mo.update_sys(bytes(key), bytes(value), flags)
        finally:
            self._settle()

    def _struct_ops_update(self, mo: StructOpsMapObject, key: bytes, value: bytes, flags: int) -> None:
        mo._key(key)
        st = mo.st_map
        st.map_id = mo.spec.id
        st.update(struct.unpack_from("<I", key)[0], value, flags, self._prog_for_struct_ops)
        if st.state in (STATE_INUSE, STATE_READY) and self.profile.struct_ops_ksyms:
            # bpf_struct_ops_map_add_ksyms: bpf__<type>_<member>, covering the bytes the
            # trampoline took in its page (code + BPF_INSN_SAFETY)
            m = self.machine  # type: ignore[attr-defined]
            for p in st.placements:
                m.kallsyms.add(p.ksym, p.addr, p.size, "t", "bpf")
                mo.ksyms.append(p.ksym)

    def _prog_for_struct_ops(self, fd: int) -> BpfProg:
        """``bpf_prog_get(prog_fd)`` inside the struct_ops update."""
        return self.fds.get(fd, ProgObject, "a program").prog

    def ringbuf_consume(self, map_fd: int) -> list[bytes]:
        """The consumer side of a ``BPF_MAP_TYPE_RINGBUF`` (what libbpf's ``ring_buffer__poll``
        hands its callback, in order): the samples committed since the last call, discarded
        ones skipped, up to the first record still reserved (:mod:`emu.kernel.maps.ringbuf`)."""
        from .maps.ringbuf import RingbufMap

        m = self.fds.get(map_fd, MapObject, "a map")
        if not isinstance(m, RingbufMap):
            raise KernelError(errno.EINVAL, f"map fd {map_fd} is not a ring buffer")
        return m.consume()

    def user_ringbuf(self, map_fd: int) -> Any:
        """The :class:`~emu.kernel.maps.user_ringbuf.UserRingbufMap` of a
        ``BPF_MAP_TYPE_USER_RINGBUF`` fd: user space's producer side (libbpf's
        ``user_ring_buffer__reserve/submit/discard``: ``user_reserve``, ``user_commit``,
        ``user_write``), which programs drain with ``bpf_user_ringbuf_drain``."""
        from .maps.user_ringbuf import UserRingbufMap

        m = self.fds.get(map_fd, MapObject, "a map")
        if not isinstance(m, UserRingbufMap):
            raise KernelError(errno.EINVAL, f"map fd {map_fd} is not a user ring buffer")
        return m

    def user_ringbuf_submit(self, map_fd: int, data: bytes, discard: bool = False) -> None:
        """One sample into a user ring buffer as libbpf's producer writes it (reserve, copy,
        submit or discard); ``KernelError`` ``ENOSPC`` / ``E2BIG`` when it does not fit."""
        self.user_ringbuf(map_fd).user_write(bytes(data), discard)

    def map_lookup_elem(self, map_fd: int, key: bytes, flags: int = 0, value: bytes | None = None) -> bytes:
        """``BPF_MAP_LOOKUP_ELEM``: the value (a copy). A bloom filter tests ``value``
        (the kernel reads it from the value buffer): returned when present, ``-ENOENT``
        when not."""
        mo = self._map_by_fd(map_fd)
        if value is not None:
            return mo.test_value_sys(bytes(value), flags)
        return mo.lookup_sys(bytes(key), flags)

    def map_get_next_key(self, map_fd: int, key: bytes | None = None) -> bytes:
        """``BPF_MAP_GET_NEXT_KEY``: the key after ``key``; None (a NULL key) or a
        missing key gives the first; ``-ENOENT`` after the last."""
        return self._map_by_fd(map_fd).get_next_key_sys(None if key is None else bytes(key))

    def map_lookup_and_delete_elem(self, map_fd: int, key: bytes = b"", flags: int = 0) -> bytes:
        """``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` (queue/stack pop, hash lookup + delete)."""
        mo = self._map_by_fd(map_fd)
        try:
            return mo.lookup_and_delete_sys(bytes(key), flags)
        finally:
            self._settle()

    def map_delete_elem(self, map_fd: int, key: bytes) -> None:
        """``BPF_MAP_DELETE_ELEM``."""
        mo = self._map_by_fd(map_fd)
        try:
            mo.delete_sys(bytes(key))
        finally:
            self._settle()

    def map_freeze(self, map_fd: int) -> None:
        """``BPF_MAP_FREEZE``: no more writes from user space (``-EBUSY`` twice,
        ``-ENOTSUPP`` for struct_ops maps)."""
        mo = self._map_by_fd(map_fd)
        if isinstance(mo, StructOpsMapObject):
            raise KernelError(ENOTSUPP, "struct_ops maps cannot be frozen")
        if mo.frozen:
            raise KernelError(errno.EBUSY, "map is already frozen")
        if mo.spec.map_flags & BPF_F_RDONLY:
            raise KernelError(errno.EPERM, "map is read-only for user space")
        mo.frozen = True

    def map_info(self, fd: int) -> MapInfo:
        """``BPF_OBJ_GET_INFO_BY_FD`` on a map."""
        return MapInfo(**self._map_by_fd(fd).info())

    # ==================================================================================
    # links
    # ==================================================================================
    def link_create(self, prog_or_map_fd: int, *, target_fd: int = 0, attach_type: int, flags: int = 0) -> int:
        """``BPF_LINK_CREATE``: for ``BPF_STRUCT_OPS`` (44) the fd is a READY
        ``BPF_F_LINK`` struct_ops map; registration (``reg``) happens here."""
        if attach_type != BPF_STRUCT_OPS:
            raise KernelError(errno.EINVAL, f"attach type {attach_type} is not modelled (only BPF_STRUCT_OPS)")
        if flags:
            raise KernelError(errno.EINVAL, "struct_ops links take no flags")
        mo = self._map_by_fd(prog_or_map_fd)
        if not isinstance(mo, StructOpsMapObject):
            raise KernelError(errno.EINVAL, "BPF_STRUCT_OPS links need a struct_ops map")
        try:
            link = StructOpsLink.create(0, mo.st_map)
        finally:
            self._settle()
        lo = LinkObject(link, self._link_released)
        lo.id = link.link_id = self._link_ids.alloc(lo)  # type: ignore[attr-defined]
        self._live.append(lo)  # type: ignore[attr-defined]
        return self.fds.install(lo)

    def _link_released(self, lo: LinkObject) -> None:
        """``bpf_struct_ops_map_link_dealloc``: unregister if still attached."""
        lo.link.detach()
        self._link_ids.remove(lo.id)  # type: ignore[attr-defined]

    def link_update(self, link_fd: int, *, new_map_fd: int, old_map_fd: int = 0, flags: int = 0) -> None:
        """``BPF_LINK_UPDATE`` of a struct_ops link (``link_update_map``)."""
        if flags & ~BPF_F_REPLACE:
            raise KernelError(errno.EINVAL, "unknown link_update flags")
        lo = self.fds.get(link_fd, LinkObject, "a link")
        new = self._map_by_fd(new_map_fd)
        old = None
        if flags & BPF_F_REPLACE:
            old = self._map_by_fd(old_map_fd)
        elif old_map_fd:
            raise KernelError(errno.EINVAL, "old_map_fd without BPF_F_REPLACE")
        if not isinstance(new, StructOpsMapObject) or (old is not None and not isinstance(old, StructOpsMapObject)):
            raise KernelError(errno.EINVAL, "struct_ops links update to struct_ops maps")
        try:
            lo.link.update(new.st_map, old.st_map if old is not None else None)
        finally:
            self._settle()

    def link_detach(self, link_fd: int) -> None:
        """``BPF_LINK_DETACH``: unregister; the link fd stays (a second detach is a no-op)."""
        lo = self.fds.get(link_fd, LinkObject, "a link")
        try:
            lo.link.detach()
        finally:
            self._settle()

    def link_info(self, fd: int) -> LinkInfo:
        lo = self.fds.get(fd, LinkObject, "a link")
        st = lo.link.map
        mid = next((o.spec.id for o in self._live if isinstance(o, StructOpsMapObject)  # type: ignore[attr-defined]
                    and o.st_map is st), 0) if st is not None else 0
        return LinkInfo(lo.id, BPF_LINK_TYPE_STRUCT_OPS, mid)

    # ==================================================================================
    # close, reference counting
    # ==================================================================================
    def close(self, fd: int) -> None:
        """``close(2)``: drop the fd's reference."""
        obj = self.fds.close(fd)
        if isinstance(obj, MapObject) and obj not in self.fds.objects.values():
            obj.on_fd_release()  # map->usercnt reached 0: bpf_map_put_uref -> map_release_uref
        obj.put()
        self._settle()

    def _settle(self) -> None:
        """Free every object whose last reference went (the model changes the counts
        of struct_ops maps and their programs itself), then end the RCU grace period."""
        live = self._live  # type: ignore[attr-defined]
        changed = True
        while changed:
            changed = False
            for obj in list(live):
                if obj.freed:
                    live.remove(obj)
                    if isinstance(obj, MapObject) and self._maps_by_addr.get(obj.spec.addr) is obj:  # type: ignore[attr-defined]
                        self._maps_by_addr.pop(obj.spec.addr)  # type: ignore[attr-defined]
                    changed = True
                elif obj.refcnt <= 0:
                    obj.freed = True
                    obj.release()
                    live.remove(obj)
                    if isinstance(obj, MapObject):
                        self._maps_by_addr.pop(obj.spec.addr, None)  # type: ignore[attr-defined]
                    changed = True
        self._rcu.synchronize()  # type: ignore[attr-defined]

    # ==================================================================================
    # beyond bpf(): the subsystem calls a member
    # ==================================================================================
    def call_struct_ops(self, map_fd: int, member: str, *args: int) -> int:
        """``ops->member(args)`` of a registered struct_ops map: the kernel-text
        indirect caller loads the pointer from the kernel-side struct and calls it
        (trampoline -> JIT'd program); returns rax (the member's return value,
        unextended). An emulated fault raises :class:`emu.machine.oops.Oops`."""
        mo = self._map_by_fd(map_fd)
        if not isinstance(mo, StructOpsMapObject):
            raise KernelError(errno.EINVAL, f"fd {map_fd} is not a struct_ops map")
        st = mo.st_map
        registered = st.state == STATE_INUSE or any(
            isinstance(o, LinkObject) and o.link.map is st for o in self._live)  # type: ignore[attr-defined]
        if not registered:
            raise KernelError(errno.ENOENT, f"struct_ops map {mo.spec.name or mo.spec.id} is not registered "
                                            f"(state {('INIT', 'INUSE', 'TOBEFREE', 'READY')[st.state]})")
        md = st.desc.member(member)
        if md is None or not md.is_func:
            raise KernelError(errno.EINVAL, f"struct {st.desc.name} has no function member {member!r}")
        if len(args) > 6:
            raise KernelError(errno.E2BIG, "the emulated caller passes at most 6 register arguments")
        try:
            return self.machine.call_member(st.kdata_addr, md.offset,  # type: ignore[attr-defined]
                                            [a & M64 for a in args])
        finally:
            self._rcu.synchronize()  # type: ignore[attr-defined]
