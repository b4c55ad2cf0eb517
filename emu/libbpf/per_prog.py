"""One program of an object, loaded alone the way libbpf would load it, into the emulated kernel.

What a selftest runner (and our corpus labeller, tests/data/selftests/src/label.c)
does with libbpf to ask a kernel about one program: open the object, turn
autoload off for every other program (``bpf_program__set_autoload``), never
create a struct_ops map (``bpf_map__set_autocreate(false)``), load -- which
loads the object's BTF, creates every other map (libbpf creates all maps of
an object, used or not), and loads the one program. A struct_ops program still
gets the attach target the map would have given it (libbpf 1.5,
``bpf_map__init_kern_struct_ops``: ``attach_btf_id`` is the kernel's struct,
``expected_attach_type`` the member's index), so it is verified against its
member; the map itself is never created.

:func:`verify_program` answers with a :class:`ProgOutcome`:

* ``accepted`` / ``rejected``: the emulated ``BPF_PROG_LOAD`` answered (errno,
  the log after libbpf's fix-ups, the kernel's message, ``processed``);
* ``libbpf_error``: the loader stopped before ``BPF_PROG_LOAD`` as libbpf
  would (``libbpf`` holds its message);
* ``not_modelled``: the program needs something the emulated kernel does not
  have -- a program or map type, a helper, kernel types the object's CO-RE
  relocations or externs look up (the emulated vmlinux BTF holds only what the
  modelled subsystems need), a JIT feature; ``detail`` names it.

Where this differs from libbpf: only the struct_ops map that references the
program is initialised (libbpf initialises every autocreate one; ours are not
autocreate), which is what the labeller does too.
"""

from __future__ import annotations

import errno as _errno
import re
from dataclasses import dataclass, replace
from typing import Any

from kernel_model.errors import KernelError
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.uapi import PROG_TYPE_NAMES

from .errors import LibbpfError, ObjectFormatError, ProgLoadFailed
from .kbtf import KernelBtf
from .log import Log
from .object import BpfObject
from .sys import BpfSys

__all__ = ["ProgOutcome", "describe_programs", "list_programs", "verify_program"]

#: log level of every load: BPF_LOG_LEVEL1 | BPF_LOG_STATS, as the corpus labels
LOG_LEVEL = 1 | 4

_NOT_MODELLED = re.compile(r"not modelled|is not registered|not found in kernel|vmlinux BTF is not found"
                           # the loader has no map-in-map / prog-array initial ``values``
                           r"|unknown field 'values'")
#: libbpf's fix-ups of a log whose program it poisoned (``fixup_verifier_log``): a kfunc or
#: a map it could not resolve against the (emulated) kernel (CO-RE relocations: _core_gap)
_POISONED_NOT_CORE = re.compile(r"<invalid kfunc call>|<invalid BPF map reference>")


@dataclass(frozen=True, slots=True)
class ProgOutcome:
    """What loading one program alone gave (see the module docstring)."""

    program: str
    section: str
    prog_type: str
    verdict: str
    errno: int = 0
    log: str = ""
    error_line: str | None = None
    processed: int | None = None
    detail: str = ""
    libbpf: str = ""
    #: the program's instructions as loaded (relocated, subprograms appended); empty when
    #: the loader stopped before relocating
    insns: tuple[Any, ...] = ()

    @property
    def modelled(self) -> bool:
        return self.verdict in ("accepted", "rejected")


def list_programs(path: str) -> list[tuple[str, str]]:
    """(name, section) of every entry program of an object, in libbpf's order
    (``SEC("?...")`` programs included: libbpf opens them with autoload off)."""
    return [(name, sec) for name, sec, _ in describe_programs(path)]


def _open(path: str, data: bytes | None, log: Log) -> BpfObject:
    return BpfObject.open_file(path, log=log) if data is None else BpfObject(data, path, log=log)


def describe_programs(path: str, data: bytes | None = None) -> list[tuple[str, str, str]]:
    """(name, section, program type name) of every entry program, in libbpf's order;
    the type is what libbpf's section table gives (``unknown`` where it has none).
    ``data``: the object's bytes when already read (``path`` then only names it)."""
    obj = _open(path, data, Log(stream=None))
    try:
        return [(p.name, p.sec_name, PROG_TYPE_NAMES.get(p.prog_type, "unknown") if p.prog_type else "unknown")
                for p in obj.programs if not p.is_subprog]
    finally:
        obj.close()


class _Recorder:
    """The emulated kernel as the loader's ``sys``, remembering the message of the
    last refusal (the loader keeps only the errno)."""

    def __init__(self, kernel: Any) -> None:
        self._k = kernel
        self.last_error: str = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._k, name)

    def _call(self, name: str, *a: Any, **kw: Any) -> Any:
        try:
            return getattr(self._k, name)(*a, **kw)
        except KernelError as e:
            self.last_error = getattr(e, "message", "") or str(e)
            raise

    def prog_load(self, *a: Any, **kw: Any) -> Any:
        return self._call("prog_load", *a, **kw)

    def map_create(self, *a: Any, **kw: Any) -> Any:
        return self._call("map_create", *a, **kw)

    def btf_load(self, *a: Any, **kw: Any) -> Any:
        return self._call("btf_load", *a, **kw)


_UNRESOLVED_KFUNC = re.compile(r"kfunc '(\w+)' is referenced but wasn't resolved")


def _only_kfuncs_no_618_kernel_has(log: str) -> bool:
    """The poisoned calls of the log (libbpf's ``<invalid kfunc call>`` fix-up) are all of kfuncs
    a real 6.18 vmlinux does not have either (:data:`kernel_model.bpf_facts.gen_kfunc_decls.KFUNC_DECLS`:
    every kfunc of the 6.18 host's BTF): libbpf poisons them on that kernel too, so the verdict is
    the real one, not a gap of the emulated BTF. No map was poisoned."""
    from kernel_model.bpf_facts.gen_kfunc_decls import KFUNC_DECLS

    if "<invalid BPF map reference>" in log:
        return False
    names = _UNRESOLVED_KFUNC.findall(log)
    return bool(names) and not any(n in KFUNC_DECLS for n in names)


def _facts(log: str) -> tuple[str | None, int | None]:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    processed = None
    for ln in lines:
        m = re.match(r"processed (\d+) insns", ln)
        if m:
            processed = int(m.group(1))
    while lines and lines[-1].startswith(("processed ", "verification time", "stack depth")):
        lines.pop()
    return (lines[-1] if lines else None), processed


def verify_program(path: str, name: str, *, kernel: BpfSys, log_level: int = LOG_LEVEL,
                   data: bytes | None = None) -> ProgOutcome:
    """Load program ``name`` of the object at ``path`` alone into ``kernel`` (its
    ``bpf()`` surface: the emulated :class:`emu.kernel.Kernel`, which the caller
    builds), at ``log_level`` (default: level 1 with statistics). Every fd it creates is closed again.
    ``data``: the object's bytes when already read (``path`` then only names it).
    A program type the kernel does not model is its answer too: ``prog_load``
    refuses it (``not_modelled`` with the kernel's message)."""
    log = Log(stream=None)
    try:
        obj = _open(path, data, log)
    except (ObjectFormatError, LibbpfError) as e:
        verdict = "not_modelled" if _NOT_MODELLED.search(str(e)) else "libbpf_error"
        return ProgOutcome(name, "", "", verdict, getattr(e, "errno", _errno.EINVAL), libbpf=str(e),
                           detail=str(e) if verdict == "not_modelled" else "")
    try:
        p = obj.progs.get(name)
        if p is None:
            return ProgOutcome(name, "", "", "libbpf_error", _errno.ENOENT, libbpf=f"no program '{name}'")
        ptype = PROG_TYPE_NAMES.get(p.prog_type, str(p.prog_type))
        base: dict[str, Any] = dict(program=name, section=p.sec_name, prog_type=ptype)
        if p.prog_type == 0:
            return ProgOutcome(**base, verdict="libbpf_error", errno=_errno.EINVAL,
                               libbpf=f"prog '{name}': missing BPF prog type, check ELF section name "
                                      f"'{p.sec_name}'")
        sys = _Recorder(kernel)
        out = _load_alone(obj, p, sys, base, log_level)
        return replace(out, insns=tuple(p.insns)) if p.insns else out
    finally:
        obj.close()


def _load_alone(obj: BpfObject, p: Any, sys: _Recorder, base: dict[str, Any], log_level: int) -> ProgOutcome:
    from . import externs, reloc
    from .object import _vmlinux_of
    from .struct_ops import init_kern_struct_ops

    for q in obj.programs:
        if not q.is_subprog:
            q.autoload = q is p
    p.log_level = log_level
    try:
        kbtf = KernelBtf.from_sys(sys, _vmlinux_of(sys), obj.log)
        obj.kernel_btf = kbtf
        externs.resolve_externs(obj)
        # struct_ops: the map that references the program gives it its attach target;
        # no struct_ops map is ever created (libbpf: bpf_map__set_autocreate(false))
        owner = None
        for m in obj.maps:
            if m.is_struct_ops:
                if m.st_ops is not None and any(q is p for q in m.st_ops.progs):
                    owner = m
                m.autocreate = False
        if p.prog_type == PROG_TYPE_STRUCT_OPS and owner is not None:
            init_kern_struct_ops(obj, owner, kbtf)
            p.autoload = True
        reloc.relocate(obj)
        obj.state = obj.PREPARED_USER
        obj.prepare(sys)
        fd = obj.load_program(sys, p)
    except ProgLoadFailed as e:
        result = e.result
        if result is None or getattr(result, "accepted", False):
            # refused outside the verifier: an attribute check, or the JIT after it
            msg = sys.last_error
            if _NOT_MODELLED.search(msg):
                return ProgOutcome(**base, verdict="not_modelled", errno=e.errno, detail=msg)
            gap = _core_gap(obj, sys)
            if gap:
                return ProgOutcome(**base, verdict="not_modelled", errno=e.errno, log=e.log, detail=gap)
            # the kernel's log has no line for a refusal before the verifier (the attribute
            # checks, find_prog_type): error_line stays None as the host's does; the emulated
            # kernel's reason is the detail
            line, processed = _facts(e.log)
            return ProgOutcome(**base, verdict="rejected", errno=e.errno, log=e.log, error_line=line,
                               processed=processed, detail=msg if not line else "")
        line, processed = _facts(e.log)
        if line and _NOT_MODELLED.search(line):
            return ProgOutcome(**base, verdict="not_modelled", errno=e.errno, log=e.log, detail=line)
        gap = _core_gap(obj, sys)
        if gap:
            return ProgOutcome(**base, verdict="not_modelled", errno=e.errno, log=e.log, detail=gap)
        if _POISONED_NOT_CORE.search(e.log) and not _only_kfuncs_no_618_kernel_has(e.log):
            # a kfunc or map the emulated kernel lacks: the emulated vmlinux BTF holds only the
            # modelled subsystems' types (a CO-RE poisoning left here is one a real 6.18 kernel
            # makes too: _core_gap found none that kernel could resolve)
            return ProgOutcome(**base, verdict="not_modelled", errno=e.errno, log=e.log,
                               detail=f"kernel types the emulated BTF lacks: {line}")
        return ProgOutcome(**base, verdict="rejected", errno=e.errno, log=e.log, error_line=line,
                           processed=processed)
    except LibbpfError as e:
        text = f"{e.message} {sys.last_error}"
        if _tp_btf_absent(e.message, sys):
            return ProgOutcome(**base, verdict="libbpf_error", errno=e.errno, libbpf=e.message)
        if _NOT_MODELLED.search(text) or _core_or_extern(obj, str(e)):
            return ProgOutcome(**base, verdict="not_modelled", errno=e.errno,
                               detail=(sys.last_error or e.message), libbpf=e.message)
        return ProgOutcome(**base, verdict="libbpf_error", errno=e.errno, libbpf=e.message)
    except KernelError as e:
        return ProgOutcome(**base, verdict="not_modelled", errno=e.errno, detail=str(e))
    line, processed = _facts(p.log)
    sys.close(fd)
    p.fd = -1
    gap = _core_gap(obj, sys)
    if gap:
        return ProgOutcome(**base, verdict="not_modelled", log=p.log, detail=gap)
    if p.log and re.search(r"\bnot modelled\b", p.log):
        return ProgOutcome(**base, verdict="not_modelled", log=p.log, detail="log mentions a part not modelled")
    return ProgOutcome(**base, verdict="accepted", log=p.log, processed=processed)


def _core_gap(obj: BpfObject, sys: Any) -> str:
    """The first CO-RE relocation of the loaded program (or its subprograms) that matched
    nothing in the emulated vmlinux BTF but may match in a real kernel's, named as libbpf
    names it; "" when there is none -- every unmatched relocation is one a real Linux 6.18
    kernel cannot resolve either (:func:`emu.libbpf.core_gaps.real_kernel_lacks`), so the
    emulated load's answer (a poisoned instruction refused, or resolved to 0) is libbpf's
    on that kernel. On other kernel profiles the facts do not apply: every unmatched
    relocation is a gap."""
    from kernel_model.vmlinux_names import VERSION

    from . import core as corelib
    from .core_gaps import real_kernel_lacks

    profile = getattr(sys, "profile", None)
    facts_apply = obj.btf is not None and getattr(profile, "version", None) == VERSION
    for q in obj.programs:
        for rec in q.core_unmatched:
            if facts_apply and real_kernel_lacks(obj.btf, rec):  # type: ignore[arg-type]
                continue
            try:
                what = corelib.format_spec(corelib.parse_spec(obj.btf, rec))  # type: ignore[arg-type]
            except corelib.SpecError:
                what = f"#{rec.type_id}"  # type: ignore[attr-defined]
            return f"kernel types the emulated BTF lacks: CO-RE relocation {what} matched nothing"
    return ""


_TP_BTF_ESRCH = re.compile(r"prog '[^']*': failed to find kernel BTF type ID of '([^':]+)': -ESRCH$")


def _tp_btf_absent(message: str, sys: Any) -> bool:
    """A ``tp_btf/<name>`` target libbpf did not find (``btf_trace_<name>``) that a real Linux
    6.18 vmlinux lacks too (:mod:`kernel_model.vmlinux_names`): libbpf's -ESRCH on that
    kernel, not a gap of the model. (A module's tracepoint is found on a real machine only
    while the module is loaded; the corpus labeller's host has none of the test modules.)"""
    from kernel_model.vmlinux_names import VERSION, has_type

    m = _TP_BTF_ESRCH.match(message)
    if m is None or getattr(getattr(sys, "profile", None), "version", None) != VERSION:
        return False
    return not has_type("typedef", "btf_trace_" + m.group(1))


def _core_or_extern(obj: BpfObject, message: str) -> bool:
    """A CO-RE relocation, a typed ksym or a kfunc the emulated vmlinux BTF lacks: libbpf
    stops there on any kernel that lacks the type; the emulated one holds only the types
    of the modelled subsystems, so this is a gap of the model, not a verdict."""
    if message.startswith("struct_ops init_kern"):
        # a member the (modelled) struct_ops type lacks: libbpf's own verdict on any kernel
        return False
    return bool(re.search(r"CO-RE|relo|extern|ksym|kfunc|BTF", message))
