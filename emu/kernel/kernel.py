"""``Kernel``: the emulated kernel as one object.

It owns the kernel model (vmlinux BTF, the struct_ops registry, modules,
kfuncs) for one profile, the ``bpf()`` object tables (:mod:`emu.kernel.bpf_objects`:
fds, ids, reference counts), the calling process's user memory
(:mod:`emu.kernel.usermem`) and -- created on first use -- the x86-64 machine
(:class:`emu.machine.Machine`) that runs JIT images and trampolines. Its
``bpf()`` commands are :class:`emu.kernel.syscall.BpfSyscalls` (what the loader's
:class:`emu.libbpf.sys.BpfSys` protocol asks of a kernel); ``call_struct_ops`` is
what a subsystem does with a registered ops struct.

::

    k = Kernel()                                   # latest (6.18), bpf_testmod loaded
    fd = k.prog_load(insns, prog_type=27, attach_btf_id=..., expected_attach_type=0)
    k.prog_test_run(fd, ctx_in=struct.pack("<Q", k.user.alloc(b"\\x29\\0\\0\\0")))

Modules (``load_module``/``unload_module``) bring split BTF with a BTF id of
their own (``btf_get_next_id`` finds it, ``btf_info(fd).name`` is the module's
name), struct_ops types and kfuncs; each kfunc is a Python-serviced stub of the
machine named as in ``/proc/kallsyms`` (``name [module]``).
"""

from __future__ import annotations

import errno
import random
from typing import Any

from kernel_model.btf import BTF
from kernel_model.cpu import DEFAULT_CPU, CpuConfig
from kernel_model.errors import KernelError
from kernel_model.kconfig import DEFAULT as DEFAULT_KCONFIG
from kernel_model.kconfig import KernelConfig
from kernel_model.modules import KfuncEntry, KfuncTable, Module, ModuleRegistry, ModuleSpec
from kernel_model.profile import LATEST, Profile
from kernel_model.struct_ops import StructOpsDesc, StructOpsRegistry
from kernel_model.btf import structs as S
from kernel_model.subsystems import dummy_ops, sched_ext, tcp_ca, testmod
from kernel_model.vmlinux import build_vmlinux_btf

from .bpf_maps import MapObject, Rcu
from .bpf_objects import BtfObject, FdTable, IdAllocator
from .core_kfuncs import register_core_kfuncs
from .tcp_kfuncs import register_tcp_kfuncs
from .syscall import BpfSyscalls, LinkObject, ProgLoadError, ProgObject
from .usermem import UserMemory

__all__ = ["Kernel", "BUILTIN_MODULES", "ProgLoadError"]

#: modules the emulated kernel can load by name
BUILTIN_MODULES = {"bpf_testmod": testmod.make_testmod, "bpf_testmod_alt": testmod.make_testmod_alt}


class Kernel(BpfSyscalls):
    """An emulated kernel of the given profile (:data:`~kernel_model.profile.LATEST`,
    ``get_profile("6.8")`` ...)."""

    def __init__(self, profile: Profile = LATEST, *, modules: tuple[str, ...] = ("bpf_testmod",),
                 seed: int = 0, cpu: CpuConfig = DEFAULT_CPU, nr_cpus: int = 2,
                 kconfig: KernelConfig = DEFAULT_KCONFIG) -> None:
        if not isinstance(profile, Profile):  # names are the command line's: it converts them once
            raise TypeError(f"Kernel(profile=...) takes a kernel_model.profile.Profile, not {profile!r} "
                            "(get_profile(name) converts a name)")
        self.profile = profile
        #: the machine's CPU and mitigations (kernel_model.cpu), orthogonal to the profile
        self.cpu_config = cpu
        self.seed = seed
        self.nr_cpus = nr_cpus
        #: the build configuration (kernel_model.kconfig): CONFIG_HZ, what libbpf's __kconfig
        #: externs read (kconfig_text)
        self.kconfig = kconfig
        self.btf: BTF = build_vmlinux_btf(self.profile)
        self.struct_ops = StructOpsRegistry(self.profile)
        self.struct_ops.register(dummy_ops.make_ops(self.profile), self.btf)
        self.struct_ops.register(tcp_ca.make_ops(), self.btf)
        self.kfuncs = KfuncTable()
        if sched_ext.supported(self.profile):  # built in from 6.12 (CONFIG_SCHED_CLASS_EXT)
            scx = self.struct_ops.register(sched_ext.make_ops(self.profile), self.btf).ops
            for kf in scx.private["kfuncs"]:
                kid = self.btf.find(kf.name, S.KIND_FUNC)
                assert kid is not None, kf.name
                self.kfuncs.add(KfuncEntry(kf.name, self.btf, kid, kf, None))
        #: jiffies as TCP reads them (the TCP simulator advances them)
        self.tcp_clock = register_tcp_kfuncs(self.btf, self.kfuncs, hz=kconfig.hz)  # bpf_tcp_ca_kfunc_init, cubictcp_register
        #: the tasks bpf_task_from_pid finds (kernel_model.core_kfuncs, emu.kernel.core_kfuncs)
        from .graph_kfuncs import GraphRuntime
        self.graph = GraphRuntime(lambda: self.machine)
        self.tasks = register_core_kfuncs(self.btf, self.kfuncs, lambda: self.machine, self.graph)
        from .kctx_kfuncs import register_kctx_kfuncs
        register_kctx_kfuncs(self.btf, self.kfuncs)  # bpf_cast_to_kern_ctx, bpf_rdonly_cast
        from .bits_iter import register_bits_kfuncs
        register_bits_kfuncs(self.btf, self.kfuncs)  # bpf_iter_bits_new/next/destroy
        self.modules = ModuleRegistry(self.btf, self.struct_ops, self.kfuncs,
                                      module_struct_ops=self.profile.module_struct_ops)
        self.modules.on_unload.append(self._module_going)
        self.fds = FdTable()
        self.user = UserMemory()
        #: the emulated process as current: its task and mm (emu.kernel.task_mm, bpf_find_vma)
        from .task_mm import CurrentTask
        self.current = CurrentTask(self.tasks, lambda: self.machine, self.btf, self.user)
        self.dmesg = self.struct_ops.dmesg
        #: what bpf_trace_printk wrote (/sys/kernel/tracing/trace_pipe)
        self.trace_pipe: list[str] = []
        self._btf_ids = IdAllocator()
        self._prog_ids = IdAllocator()
        self._map_ids = IdAllocator()
        self._link_ids = IdAllocator()
        self._live: list[Any] = []
        self._maps_by_addr: dict[int, MapObject] = {}
        self._rcu = Rcu()
        #: get_random_u32 for what the kernel seeds at random (htab->hashrnd): per kernel, seeded
        self._rng = random.Random(seed)
        self._machine: Any = None
        #: BPF timers and the emulated clocks' offset (emu.kernel.timers); advance() fires them
        from .timers import Timers
        self.timers = Timers(lambda: self.machine, self._maps_by_addr, after_fire=self._rcu.synchronize)
        self._helper_imms: dict[int, int] = {}
        #: helpers bound by the kernel's proto symbol (one id, several functions): {symbol: call imm}
        self._symbol_imms: dict[str, int] = {}
        self._kfunc_stubs: dict[int, tuple[str, int]] = {}
        self._fault_stubs: dict[str, int] = {}
        self._named_text: Any = None
        self._scratch = 0
        vm = BtfObject(self.btf, "vmlinux", True, b"")
        vm.id = self._btf_ids.alloc(vm)
        self.vmlinux_btf_obj = vm
        self._module_btfs: dict[str, BtfObject] = {}
        for name in modules:
            try:
                self.load_module(name)
            except KernelError as e:
                self.dmesg.append(f"{name}: init failed: {e}")

    # --- the machine ---------------------------------------------------------------------------
    @property
    def machine(self) -> Any:
        """The x86-64 machine (created on first use): helpers bound to stubs, a
        scratch function-pointer slot for the kernel's own indirect calls."""
        if self._machine is None:
            from .bpf_helpers import make_helpers
            from emu.machine import Machine

            # verified code runs uncounted, as in the kernel (no instruction budget: the
            # verifier proved termination); emu.machine.watchdog's soft-lockup detector is the net
            m = Machine(self.profile, cpu=self.cpu_config, seed=self.seed, budget=0, nr_cpus=self.nr_cpus)
            self._machine = m
            helpers = make_helpers(m, self._maps_by_addr, self.user, self.trace_pipe, self.seed,
                                   jiffies64=lambda: self.tcp_clock.jiffies64,
                                   clock_offset=lambda: self.timers.offset_ns)
            helpers.update(self.timers.helpers())
            helpers[168] = self._sys_close  # bpf_sys_close: the loader's fd table
            helpers.update(self.current.helpers())
            from .maps.sk_storage import sk_storage_helpers
            helpers.update(sk_storage_helpers(m, self.btf, self._maps_by_addr))
            from .skb_helpers import skb_helpers
            helpers.update(skb_helpers())  # the sk_buff helpers of tc/cgroup_skb/lwt test runs
            self._helper_imms = m.images.helper_imms(helpers)
            self._helper_imms.update(self._bind_calling_helpers(m))
            self._symbol_imms = self._bind_symbol_helpers(m)
            self._scratch = m.alloc.kzalloc(8)
        return self._machine

    def _sys_close(self, mem: Any, r1: int, *_: int) -> int:
        """``bpf_sys_close`` (kernel/bpf/syscall.c, 6.12/6.18): ``close_fd(fd)`` in the process
        running the syscall program (the loader, through ``BPF_PROG_TEST_RUN``): 0, or
        -EBADF for an fd it does not hold."""
        fd = r1 & 0xFFFF_FFFF
        if fd not in self.fds.objects:
            return (-errno.EBADF) & ((1 << 64) - 1)
        self.close(fd)
        return 0

    def _bind_calling_helpers(self, m: Any) -> dict[int, int]:
        """The helpers that call BPF callbacks (:mod:`emu.kernel.callback_helpers`), bound
        with their return points (:mod:`emu.machine.callbacks`): ``{helper id: call imm}``."""
        from kernel_model.helper_ids import HELPER_NAMES
        from emu.machine.callbacks import bind_calling

        from .callback_helpers import CALLING_HELPERS, callback_helpers

        out = {}
        for hid, gen in callback_helpers(self._maps_by_addr).items():
            addr = bind_calling(m, f"bpf_{HELPER_NAMES[hid]}", gen, locals_size=CALLING_HELPERS[hid])
            out[hid] = m.images.call_imm(addr)
        addr = bind_calling(m, "bpf_find_vma", self.current.find_vma)
        out[180] = m.images.call_imm(addr)
        return out

    def _bind_symbol_helpers(self, m: Any) -> dict[str, int]:
        """The helpers whose body depends on the prototype ``get_func_proto`` handed out
        (:mod:`emu.kernel.xdp_helpers`), each on a stub named after its function."""
        from .xdp_helpers import xdp_helpers

        out = {}
        for sym, fn in xdp_helpers(m, self._maps_by_addr).items():
            name = sym.removesuffix("_proto")
            if name in m.calls.by_name:
                name = f"{name}.sym"
            out[sym] = m.images.call_imm(m.add_stub(name, fn))
        return out

    def helper_imm_for(self, prog: Any, func_id: int) -> int | None:
        """The call immediate of helper ``func_id`` for ``prog`` when the body depends
        on the prototype symbol its type's ``get_func_proto`` returns (the kernel's
        ``fn->func`` of that prototype); None where the helper is bound by id."""
        from .xdp_helpers import XDP_HELPERS

        if func_id not in XDP_HELPERS.values():
            return None
        from verifier.helper_sets import allowed_protos

        sym = allowed_protos(prog.prog_type, prog.expected_attach_type, prog.sleepable, True).get(func_id)
        return self._symbol_imms.get(sym) if sym is not None else None

    def advance(self, ns: int = 0) -> int:
        """Move the emulated kernel's clocks ``ns`` nanoseconds forward and run the BPF
        timers that are due (:meth:`emu.kernel.timers.Timers.advance`); returns how many
        timer callbacks ran."""
        if self._machine is None:
            self.timers.offset_ns += ns
            return 0
        return self.timers.advance(ns)

    def _invoke_fn_ptr(self, fn: int, args: tuple[int, ...] | list[int]) -> int:
        """A kernel C indirect call ``fn(args...)`` (``ops->test_1()`` in a
        subsystem, ``test(state, ...)`` in the dummy test runner): the pointer is
        loaded from memory by the kernel-text caller and called, as compiled C does."""
        m = self.machine
        m.write_u64(self._scratch, fn)
        try:
            return m.call_member(self._scratch, 0, [a & ((1 << 64) - 1) for a in args])
        finally:
            self._rcu.synchronize()

    def _kfunc_stub(self, entry: KfuncEntry) -> int:
        """The stub servicing ``entry`` (one per registered kfunc, by BTF and id)."""
        key = id(entry)
        hit = self._kfunc_stubs.get(key)
        if hit is not None:
            return hit[1]
        m = self.machine
        mod = entry.module.name if entry.module is not None else ""
        name = entry.name if entry.name not in m.calls.by_name else f"{entry.name}.{mod or 'vmlinux'}"
        raw = getattr(entry.kfunc.impl, "raw", None)  # a kfunc needing the registers (bpf_throw)
        calling = getattr(entry.kfunc.impl, "calls_bpf", None)  # a kfunc calling BPF callbacks
        if calling is not None:
            from emu.machine.callbacks import bind_calling
            addr = bind_calling(m, name, calling, kind="kfunc")
        else:
            addr = m.add_stub(name, raw=raw, kind="kfunc") if raw is not None else \
                m.add_stub(name, entry.kfunc.impl, kind="kfunc")
        if mod:
            sym = m.kallsyms.find_symbol_by_name(name)
            m.kallsyms.add(name, addr, sym.size if sym else 1, "T", mod)
        self._kfunc_stubs[key] = (name, addr)
        return addr

    def _ld_abs_imm(self, size: int) -> int:
        """The CALL immediate of ``bpf_skb_load_helper_<8*size>_no_cache`` (what
        ``bpf_gen_ld_abs`` calls for an ``LD_ABS``/``LD_IND``; :mod:`emu.kernel.skb_helpers`)."""
        from .skb_helpers import LD_ABS_LOADERS, ld_abs_loaders

        m = self.machine
        name = LD_ABS_LOADERS[size]
        addr = self._fault_stubs.get(name)
        if addr is None:
            addr = m.add_stub(name, ld_abs_loaders()[size], kind="kernel")
            self._fault_stubs[name] = addr
        return int(m.images.call_imm(addr))

    def _not_modelled_stub(self, what: str = "") -> int:
        """A stub that stops the program with an ExecFault: ``what`` is not modelled."""
        name = "bpf_not_modelled" + (f"_{what.replace(' ', '_')}" if what else "")
        addr = self._fault_stubs.get(name)
        if addr is not None:
            return addr
        m = self.machine
        detail = f"{what} is not modelled by this kernel" if what else \
            "a context field or instruction this kernel does not model"

        def fault(mm: Any) -> None:
            mm.runner.stop_at_bpf_caller("not modelled", detail)

        addr = m.add_stub(name, raw=fault, kind="kernel")
        self._fault_stubs[name] = addr
        return addr

    def kconfig_text(self) -> str:
        """What libbpf reads on this machine for ``__kconfig`` externs
        (``/boot/config-$(uname -r)``, else ``/proc/config.gz``): the emulated build's
        ``.config``."""
        return self.kconfig.text()

    def proc_kallsyms(self) -> str:
        """``/proc/kallsyms`` as root reads it: the emulated kernel's symbols (its helper and
        kfunc stubs, JIT images, trampolines) and every function of its vmlinux BTF at its
        emulated address (:mod:`emu.kernel.ksym_names`; such a name is listed there, not at its
        kfunc stub); no data symbols: ``CONFIG_KALLSYMS_ALL`` is unset."""
        named = self.named_text
        rows = []
        for s in self.machine.kallsyms:
            if s.name in named:
                continue
            mod = f"\t[{s.module}]" if s.module else ""
            rows.append((s.addr, f"{s.addr:016x} {s.type} {s.name}{mod}"))
        rows.extend((addr, f"{addr:016x} T {name}") for name, addr in named.items())
        rows.sort(key=lambda r: r[0])
        return "".join(line + "\n" for _a, line in rows)

    @property
    def lockdown(self) -> frozenset[str]:
        """The ``LOCKDOWN_*`` reasons ``security_locked_down`` refuses on this kernel, from the
        lockdown level its configuration locks it down to at boot (:mod:`kernel_model.lockdown`)."""
        from kernel_model.lockdown import lockdown_level, refused_reasons
        return refused_reasons(lockdown_level(self.kconfig))

    @property
    def named_text(self) -> Any:
        """The functions of the vmlinux BTF as kallsyms names them (:class:`emu.kernel.ksym_names.NamedText`)."""
        if self._named_text is None:
            from .ksym_names import NamedText
            self._named_text = NamedText(self.btf)
        return self._named_text

    def ksym_address(self, name: str, is_func: bool) -> int | None:
        """``kallsyms_lookup_name(name)`` as ``check_pseudo_btf_id`` asks it (kernel/kallsyms.c,
        Linux 6.18): 0 when kallsyms has no such symbol, None when the emulated kernel does not
        model the answer. A function of the vmlinux BTF has its emulated address
        (:attr:`named_text`). Data symbols are listed only with ``CONFIG_KALLSYMS_ALL``: unset (the
        default configuration), a variable's lookup finds nothing; set, the emulated kernel would
        need to place its per-CPU data, which it does not (None)."""
        if self.kconfig.values.get("CONFIG_KALLSYMS") != "y":
            return 0
        if is_func:
            addr = self.named_text.addr(name)
            if addr is not None:
                return addr
            sym = self.machine.kallsyms.find_symbol_by_name(name)
            return sym.addr if sym is not None else 0
        return None if self.kconfig.values.get("CONFIG_KALLSYMS_ALL") == "y" else 0

    def kernel_version(self) -> int:
        """``KERNEL_VERSION(major, minor, 0)`` of the modelled version (what libbpf's
        ``get_kernel_version`` reads from uname)."""
        major, minor = self.profile.version
        return (major << 16) | (minor << 8)

    def shutdown(self) -> None:
        """Free the machine now (Unicorn keeps it alive until the GC otherwise)."""
        if self._machine is not None:
            self._machine.close()
            self._machine = None

    def __enter__(self) -> "Kernel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- modules -------------------------------------------------------------------------
    def load_module(self, name_or_spec: str | ModuleSpec) -> Module:
        """``insmod``: a built-in module by name, or any :class:`ModuleSpec`. Its
        split BTF gets the next BTF id (``btf_module_notify``)."""
        if isinstance(name_or_spec, str):
            if name_or_spec not in BUILTIN_MODULES:
                raise KernelError(errno.ENOENT, f"no module {name_or_spec!r} (known: {', '.join(BUILTIN_MODULES)})")
            spec = BUILTIN_MODULES[name_or_spec]()
        else:
            spec = name_or_spec
        mod = self.modules.load(spec)
        obj = BtfObject(mod.btf, mod.name, True, mod.btf.to_bytes(), module=mod,
                        on_release=lambda o: self._btf_ids.remove(o.id))
        obj.id = self._btf_ids.alloc(obj)
        self._module_btfs[mod.name] = obj
        return mod

    def unload_module(self, name: str, force: bool = False) -> None:
        """``rmmod`` (``delete_module``): ``-EWOULDBLOCK`` while a struct_ops map of
        its types or a program calling its kfuncs holds it."""
        self.modules.unload(name, force)

    def _module_going(self, mod: Module) -> None:
        """``btf_module_notify(MODULE_STATE_GOING)``: the module's BTF object loses
        its module and the kernel's reference; its kfunc stubs go."""
        obj = self._module_btfs.pop(mod.name, None)
        if obj is not None:
            obj.module = None
            obj.put()
        m = self._machine
        for key, (name, _addr) in list(self._kfunc_stubs.items()):
            entry = next((e for e in self.kfuncs.entries if id(e) == key), None)
            if entry is not None and entry.module is mod:
                if m is not None:
                    m.calls.remove(name)
                    m.kallsyms.remove(name)
                del self._kfunc_stubs[key]

    def module_btf_fd(self, name: str) -> int:
        """A new fd on a loaded module's BTF (what libbpf finds by walking the BTF ids)."""
        obj = self._module_btfs.get(name)
        if obj is None:
            raise KernelError(errno.ENOENT, f"module {name} is not loaded")
        return self.btf_get_fd_by_id(obj.id)

    # --- types ---------------------------------------------------------------------------
    def struct_ops_type(self, name: str) -> StructOpsDesc:
        desc = self.struct_ops.by_name(name)
        if desc is None:
            known = ", ".join(d.name for d in self.struct_ops.descs)
            raise KernelError(errno.ENOENT, f"no struct_ops type {name!r} is registered (registered: {known})")
        return desc

    def btf_for_dump(self) -> BTF:
        """The BTF a user program compiles against: vmlinux, or with one module
        loaded, that module's split BTF (which includes the base when dumped)."""
        mods = list(self.modules.modules.values())
        return mods[-1].btf if mods else self.btf

    # --- introspection -------------------------------------------------------------------
    def objects(self, kind: str | None = None) -> list[Any]:
        """Live BPF objects (programs, maps, links), optionally of one kind."""
        classes = {"prog": ProgObject, "map": MapObject, "link": LinkObject}
        live = [o for o in self._live if not o.freed]
        return [o for o in live if kind is None or isinstance(o, classes[kind])]
