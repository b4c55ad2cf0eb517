"""``structops load`` / ``call`` / ``check-signatures``: the loader on the command line.

* ``structops load OBJ.bpf.o [--set MAP.MEMBER=VALUE ...] [--profile P]``:
  open the object, apply shadow edits, load it into an emulated kernel
  (BTF, maps, programs through the verifier and the JIT), attach every
  struct_ops map, and print each program's verifier summary, the trampoline
  page map and what was attached. ``--call MAP.MEMBER[:ARG,ARG]`` then invokes
  members through the emulated kernel in the same run. A rejected program
  exits 1 after printing its verifier log; the last line is the kernel's
  message.
* ``structops call OBJ.bpf.o MAP.MEMBER [ARGS...]``: load, attach and call one
  member; prints its return value. ``structops call --script FILE`` runs
  ``load OBJ [options]`` / ``call MAP.MEMBER [ARGS]`` / ``detach MAP`` lines in
  one emulated kernel (every line is checked before the first runs).
* ``structops load --verify-only [--host] OBJ.bpf.o``: load every program one
  by one (no struct_ops map is created) and print each verdict, in the
  emulated kernel or, with ``--host``, in the real one: CO-RE against the
  host's BTF, nothing attached.
* ``structops check-signatures OBJ.bpf.o``: compare callback prototypes with
  the kernel's (:mod:`emu.libbpf.sigcheck`); exits 1 on a warning or error.

libbpf's ``libbpf: `` lines go to stderr (INFO and up; ``-v`` adds DEBUG, as
``LIBBPF_LOG_LEVEL=debug`` does).

This room builds the kernel (:class:`emu.kernel.Kernel` of ``--profile`` on
``--cpu``, or :class:`emu.host.hostsys.HostSys` for ``--host``) and hands the
loader (:mod:`emu.libbpf`) its ``bpf()`` surface: the loader never builds one.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from kernel_model.errors import InputError, KernelError

from emu.host.hostcpu import add_cpu_option
from emu.libbpf.errors import LibbpfError, ProgLoadFailed, errstr

from .output import emit, json_mode

if TYPE_CHECKING:  # pragma: no cover
    from emu.libbpf.object import BpfObject

__all__ = ["add_subcommands", "cmd_load", "cmd_call", "cmd_check_signatures", "parse_value"]


def _out(text: str = "") -> None:
    """A line of the text output (none in JSON mode: the records say it)."""
    if not json_mode():
        sys.stdout.write(text + "\n")


def parse_value(obj: "BpfObject", map_name: str, member: str, text: str) -> Any:
    """A ``--set`` value for a shadow member: a program name or NULL for function
    pointers, else an integer (``0x..`` too), a float, or a (quoted) string."""
    shadow = obj.struct_ops.get(map_name)
    if shadow is None:
        raise InputError(f"--set {map_name}.{member}: no struct_ops map '{map_name}' "
                         f"(struct_ops maps: {', '.join(obj.struct_ops) or 'none'})")
    current = shadow.get(member)  # raises for an unknown member
    if shadow.is_callback(member):
        if text.lower() in ("null", "none", "0"):
            return None
        prog = obj.progs.get(text)
        if prog is None:
            raise InputError(f"--set {map_name}.{member}={text}: no program '{text}' in {obj.path} "
                             f"(programs: {', '.join(obj.progs)})")
        return prog
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text, 0)
    except ValueError:
        pass
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            pass
    return text


def _switch(spec: str, option: str) -> tuple[str, bool]:
    """``NAME=0|1`` (also false/true, no/yes, off/on) of ``--autocreate``/``--autoload``."""
    name, eq, val = spec.partition("=")
    if not name or (eq and val.lower() not in _OFF + _ON):
        raise InputError(f"expected NAME=0|1, got {spec!r}", option)
    return name, val.lower() not in _OFF


_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on", "")


def _apply_options(obj: "BpfObject", args: argparse.Namespace) -> None:
    for option, specs, find, setter in (("--autocreate", args.autocreate, obj.find_map, "set_autocreate"),
                                        ("--autoload", args.autoload, obj.find_program, "set_autoload")):
        for spec in specs or ():
            name, on = _switch(spec, option)
            try:
                target = find(name)
            except LibbpfError as e:  # no such map/program: the option is wrong, not the object
                raise InputError(e.message, option) from None
            getattr(target, setter)(on)
    for spec in args.set or ():
        target, eq, text = spec.partition("=")
        map_name, dot, member = target.partition(".")
        if not eq or not dot or not map_name or not member:
            raise InputError(f"--set {spec!r}: expected MAP.MEMBER=VALUE")
        obj.struct_ops[map_name][member] = parse_value(obj, map_name, member, text)


def _open(args: argparse.Namespace) -> tuple["BpfObject", Any]:
    from emu.libbpf.log import DEBUG, Log

    log = Log(level=DEBUG if args.verbose else None)
    obj = open_object(args.object, log, getattr(args, "object_data", None))
    for p in obj.progs.values():
        p.set_log_level(2 if args.verbose else 1)  # the verifier's log, for the summary line
    _apply_options(obj, args)
    return obj, log


def open_object(path: str, log: Any, data: bytes | None = None) -> "BpfObject":
    """``bpf_object__open_file`` of ``path`` (its errors as libbpf words them), or of
    standard input for ``-`` (read once; messages call it ``<stdin>``); ``data``: the
    bytes of standard input when the caller read them already."""
    from emu.libbpf import BpfObject

    from .inputs import STDIN, STDIN_NAME, read_input

    if path == STDIN:
        if data is not None:
            return BpfObject(data, STDIN_NAME, log=log)
        inp = read_input(path)
        return BpfObject(inp.data, inp.name, log=log)
    return BpfObject.open_file(path, log=log)


def _kernel(args: argparse.Namespace) -> Any:
    """The emulated kernel of ``--profile`` on ``--cpu``: the bpf() surface the loader is handed."""
    from kernel_model.cpu import DEFAULT_CPU

    from emu.kernel import Kernel

    return Kernel(args.profile, cpu=getattr(args, "cpu", DEFAULT_CPU))  # check-signatures runs no code


def _summary_line(log: str) -> str:
    for ln in reversed(log.splitlines()):
        if ln.startswith("processed "):
            return ln
    return ""


def _page_map(kernel: Any, m: Any) -> list[str]:
    """The emulated kernel's trampoline placements for a created struct_ops map
    (introspection of its ``StructOpsMapObject``)."""
    return [f"       page {p.page} +{p.offset:<5d} {p.code_size:4d} bytes  {p.ksym}  (prog id {p.prog_id})"
            for p in kernel.fds.objects[m.fd].placements]


def _load_and_attach(args: argparse.Namespace, quiet: bool = False, kernel: Any = None,
                     rec: dict[str, Any] | None = None,
                     obj: "BpfObject | None" = None) -> tuple[int, "BpfObject | None", Any, dict]:
    """Open (unless ``obj`` is the object opened already), load and attach ``args.object``
    into ``kernel`` (a new one of ``--profile`` when None); ``rec`` collects what ``-j``
    prints (``programs``, ``maps``)."""
    rec = rec if rec is not None else {}
    progs_rec = rec.setdefault("programs", [])
    maps_rec = rec.setdefault("maps", [])
    kernel = kernel if kernel is not None else _kernel(args)
    if obj is None:
        obj, _log = _open(args)
    try:
        obj.load(kernel)
    except ProgLoadFailed as e:
        lines = e.log.rstrip("\n").splitlines()
        while lines and lines[-1].startswith(("processed ", "verification time", "stack depth")):
            lines.pop()
        _out(f"prog {e.prog}: rejected ({errstr(e.errno)})")
        for ln in lines:
            _out(ln)
        progs_rec.append({"object": obj.path, "name": e.prog, "loaded": False, "errno": errstr(e.errno)[1:],
                          "error": e.last_line(), "log": e.log})
        return 1, None, None, {}
    for p in obj.progs.values():
        progs_rec.append({"object": obj.path, "name": p.name, "loaded": p.fd >= 0,
                          "fd": p.fd if p.fd >= 0 else None, "summary": _summary_line(p.log) or None})
    if not quiet:
        for p in obj.progs.values():
            if p.fd >= 0:
                _out(f"prog {p.name:24s} fd {p.fd:3d}  {_summary_line(p.log) or 'verified'}")
            else:
                _out(f"prog {p.name:24s} not loaded (autoload off)")
    links: dict[str, Any] = {}
    if not args.no_attach:
        for m in obj.maps:
            if not (m.is_struct_ops and m.autocreate and m.autoattach and m.fd >= 0):
                continue
            try:
                links[m.name] = obj.attach_struct_ops(m.name)
            except KernelError as e:
                _out(f"map  {m.name:24s} attach failed: {e}")
                maps_rec.append({"object": obj.path, "name": m.name, "attached": False, "error": str(e)})
                continue
            maps_rec.append({"object": obj.path, "name": m.name, "attached": True,
                             "link": not links[m.name].is_fake, "fd": links[m.name].fd,
                             "trampolines": [{"page": p.page, "offset": p.offset, "size": p.code_size,
                                              "ksym": p.ksym, "prog_id": p.prog_id}
                                             for p in kernel.fds.objects[m.fd].placements]})
            if not quiet:
                kind = "link" if not links[m.name].is_fake else "registered (legacy map)"
                _out(f"map  {m.name:24s} attached: {kind} fd {links[m.name].fd}")
                for ln in _page_map(kernel, m):
                    _out(ln)
    return 0, obj, kernel, links


def _call(kernel: Any, obj: "BpfObject", target: str, argv: list[str], calls: list[dict[str, Any]] | None = None) -> int:
    map_name, dot, member = target.partition(".")
    if not dot:
        raise InputError(f"{target!r}: expected MAP.MEMBER")
    m = obj.find_map(map_name)
    try:
        vals = [int(a, 0) for a in argv]
    except ValueError:
        raise InputError(f"call {target}: arguments must be integers, got {' '.join(argv)!r}") from None
    r = kernel.call_struct_ops(m.fd, member, *vals)
    _out(f"{target}({', '.join(argv)}) = {r} ({r & 0xFFFFFFFFFFFFFFFF:#x})")
    if calls is not None:
        calls.append({"target": target, "args": vals, "ret": r})
    return 0


def _verify(args: argparse.Namespace, rec: list[dict[str, Any]]) -> int:
    """``--verify-only`` / ``--host``: every program loaded one by one, verdicts printed,
    no struct_ops map created (nothing can be registered or attached)."""
    if args.host:
        from emu.host.hostsys import HostSys

        sys_: Any = HostSys()
        what = "the host kernel"
    else:
        sys_ = _kernel(args)
        what = f"the emulated kernel ({args.profile.name})"
    obj, _log = _open(args)
    verdicts = obj.verify_programs(sys_)
    rejected = 0
    for v in verdicts:
        rec.append({"object": obj.path, "name": v.name, "accepted": v.accepted,
                    "errno": None if v.accepted else errstr(v.errno)[1:], "error": None if v.accepted else v.last_line,
                    "summary": _summary_line(v.log) or None, "log": v.log})
        if v.accepted:
            _out(f"prog {v.name:24s} accepted by {what}  {_summary_line(v.log)}")
            continue
        rejected += 1
        _out(f"prog {v.name:24s} rejected by {what} ({errstr(v.errno)})")
        lines = [ln for ln in v.log.rstrip("\n").splitlines()
                 if not ln.startswith(("processed ", "verification time", "stack depth"))] or [v.last_line]
        for ln in lines:  # the last one is the kernel's message
            _out("    " + ln)
    return 1 if rejected else 0


def cmd_load(args: argparse.Namespace) -> int:
    """Each OBJ in turn: verified (``--verify-only``: the status is the highest), or loaded
    and attached into one emulated kernel, then the ``--call`` calls (a map is looked
    up in the objects in order)."""
    from .inputs import check_one_stdin

    check_one_stdin(args.objects)
    if args.verify_only or args.host:
        progs: list[dict[str, Any]] = []
        status = 0
        for path in args.objects:
            args.object = path
            status = max(status, _verify(args, progs))
        if json_mode():
            emit({"host": bool(args.host), "programs": progs, "exit_status": status})
        return status
    rec: dict[str, Any] = {"programs": [], "maps": [], "calls": []}
    kernel = _kernel(args)
    objs: list[Any] = []
    rc = 0
    for path in args.objects:
        args.object = path
        rc, obj, kernel, _links = _load_and_attach(args, kernel=kernel, rec=rec)
        if rc or obj is None:
            break
        objs.append(obj)
    if not rc:
        for spec in args.call or ():
            target, _, rest = spec.partition(":")
            name = target.partition(".")[0]
            obj = next((o for o in objs if name in o.map_by_name), objs[0])
            _call(kernel, obj, target, [a for a in rest.split(",") if a], rec["calls"])
    if json_mode():
        emit({**rec, "exit_status": rc})
    return rc


def cmd_call(args: argparse.Namespace) -> int:
    if args.script:
        if args.object or args.target:
            raise InputError("call --script FILE takes no OBJ or MAP.MEMBER")
        return run_script(args.script, args.profile, args.cpu)
    if not args.object or not args.target:
        raise InputError("call needs OBJ.bpf.o and MAP.MEMBER (or --script FILE)")
    rec: dict[str, Any] = {"calls": []}
    rc, obj, kernel, _links = _load_and_attach(args, quiet=True, rec=rec)
    if rc or obj is None:
        if json_mode():
            emit({**rec, "exit_status": rc})
        return rc
    _call(kernel, obj, args.target, args.args, rec["calls"])
    if json_mode():
        emit({**rec, "exit_status": 0})
    return 0


class _ScriptArgs(argparse.ArgumentParser):
    """An argparse parser whose errors become one InputError (no usage text, no exit)."""

    def error(self, message: str) -> NoReturn:
        raise InputError(message)


def _script_parser() -> argparse.ArgumentParser:
    p = _ScriptArgs(prog="load", add_help=False)
    _common(p)
    return p


def parse_script(path: str) -> list[tuple[int, str, Any]]:
    """A ``call --script`` file: ``load OBJ [options]``, ``call MAP.MEMBER [ARGS]``,
    ``detach MAP``; ``#`` comments. All lines are checked before any runs."""
    import shlex

    try:
        text = open(path).read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    steps: list[tuple[int, str, Any]] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise InputError(f"{e}", f"{path}:{no}") from None
        cmd, rest = words[0], words[1:]
        if cmd == "load":
            try:
                ns = _script_parser().parse_args(rest)
            except InputError as e:
                raise InputError(f"load: {e.message}", f"{path}:{no}") from None
            ns.profile = None
            steps.append((no, "load", ns))
        elif cmd == "call":
            if not rest or "." not in rest[0]:
                raise InputError("call needs MAP.MEMBER [ARGS...]", f"{path}:{no}")
            try:
                steps.append((no, "call", (rest[0], [int(a, 0) for a in rest[1:]])))
            except ValueError:
                raise InputError(f"call {rest[0]}: arguments must be integers", f"{path}:{no}") from None
        elif cmd == "detach":
            if len(rest) != 1:
                raise InputError("detach needs one MAP", f"{path}:{no}")
            steps.append((no, "detach", rest[0]))
        else:
            raise InputError(f"unknown command {cmd!r} (load, call, detach)", f"{path}:{no}")
    if steps and steps[0][1] != "load":
        raise InputError("the first command must be load", f"{path}:{steps[0][0]}")
    return steps


def run_script(path: str, profile: Any, cpu: Any = None) -> int:
    """Run a script in one emulated kernel of ``profile`` (a
    :class:`~kernel_model.profile.Profile`) on ``cpu`` (default preset): loads, calls
    and detaches in order."""
    from kernel_model.cpu import DEFAULT_CPU

    from emu.kernel import Kernel

    steps = parse_script(path)
    kernel = Kernel(profile, cpu=cpu or DEFAULT_CPU)
    maps: dict[str, tuple["BpfObject", Any]] = {}
    links: dict[str, Any] = {}
    for no, kind, arg in steps:
        where = f"{path}:{no}"
        if kind == "load":
            arg.profile = profile
            obj, _log = _open(arg)
            try:
                obj.load(kernel)
            except ProgLoadFailed as e:
                _out(f"{where}: prog {e.prog}: rejected ({errstr(e.errno)}): {e.last_line()}")
                return 1
            for m in obj.maps:
                if m.is_struct_ops and m.autocreate:
                    maps[m.name] = (obj, m)
                    if not arg.no_attach and m.autoattach:
                        links[m.name] = obj.attach_struct_ops(m.name)
            _out(f"{where}: loaded {arg.object}: {', '.join(p.name for p in obj.progs.values() if p.fd >= 0)}")
        elif kind == "call":
            target, vals = arg
            name = target.split(".", 1)[0]
            if name not in maps:
                raise InputError(f"call {target}: no struct_ops map '{name}' loaded yet", where)
            obj, _m = maps[name]
            _call(kernel, obj, target, [str(v) for v in vals])
        else:
            link = links.pop(arg, None)
            if link is None:
                raise InputError(f"detach {arg}: map '{arg}' is not attached", where)
            link.destroy()
            _out(f"{where}: detached {arg}")
    return 0


def cmd_check_signatures(args: argparse.Namespace) -> int:
    """Each OBJ's callbacks against the kernel's prototypes; 1 when any has a warning
    or an error."""
    from emu.libbpf import KernelBtf, Log
    from emu.libbpf.sigcheck import COMPATIBLE, ERROR, OK, WARN, check_object

    from .inputs import check_one_stdin

    check_one_stdin(args.objects)
    kernel = _kernel(args)
    status = 0
    objects = []
    for path in args.objects:
        obj = open_object(path, Log(stream=None))
        findings = check_object(obj, KernelBtf.from_kernel(kernel), all_members=args.all)
        counts = {OK: 0, COMPATIBLE: 0, WARN: 0, ERROR: 0}
        for f in findings:
            counts[f.level] += 1
            if f.level != OK or args.all:
                _out(str(f))
                if f.level in (WARN, ERROR):
                    _out(f"    object: {f.local}")
                    if f.kernel:
                        _out(f"    kernel: {f.kernel}")
        _out(f"{obj.path}: {len(findings)} callbacks checked: {counts[OK]} ok, {counts[COMPATIBLE]} compatible, "
             f"{counts[WARN]} warnings, {counts[ERROR]} errors")
        st = 1 if counts[WARN] or counts[ERROR] else 0
        status = max(status, st)
        objects.append({"object": obj.path, "counts": {"ok": counts[OK], "compatible": counts[COMPATIBLE],
                                                       "warnings": counts[WARN], "errors": counts[ERROR]},
                        "findings": [{"map": f.map, "member": f.member, "level": f.level, "message": f.message,
                                      "object_prototype": f.local or None, "kernel_prototype": f.kernel or None}
                                     for f in findings if f.level != OK or args.all],
                        "exit_status": st})
    if json_mode():
        emit({"objects": objects, "exit_status": status})
    return status


def _common(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("object", metavar="OBJ.bpf.o")
    p.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    add_cpu_option(p)
    p.add_argument("--set", action="append", metavar="MAP.MEMBER=VALUE",
                   help="override a struct_ops shadow member before load (program name or NULL for callbacks)")
    p.add_argument("--autocreate", action="append", metavar="MAP=0|1", help="bpf_map__set_autocreate")
    p.add_argument("--autoload", action="append", metavar="PROG=0|1", help="bpf_program__set_autoload")
    p.add_argument("--no-attach", action="store_true", help="load only; do not attach struct_ops maps")
    p.add_argument("-v", "--verbose", action="store_true", help="libbpf debug messages (LIBBPF_LOG_LEVEL=debug)")


def add_subcommands(sub: Any) -> None:
    """Register ``load``, ``call`` and ``check-signatures`` on the ``structops`` parser."""
    lo = sub.add_parser("load", help="load a clang-compiled BPF object the way libbpf does, and attach it",
                        description="Open each OBJ, load it into one emulated kernel (BTF, maps, programs through "
                                    "the verifier and the JIT) and attach its struct_ops maps; print each "
                                    "program's verifier summary and the trampoline pages. Exit status 1 when the "
                                    "kernel refuses a program or a map.")
    lo.add_argument("objects", nargs="+", metavar="OBJ.bpf.o", help="clang-compiled BPF objects; - reads "
                    "standard input (once)")
    _common(lo, positional=False)
    lo.add_argument("--call", action="append", metavar="MAP.MEMBER[:ARG,...]",
                    help="after attaching, call a member through the emulated kernel")
    lo.add_argument("--verify-only", action="store_true",
                    help="load each program one by one and print the verdicts; create no struct_ops map")
    lo.add_argument("--host", action="store_true",
                    help="verify against the host kernel through bpf() (implies --verify-only; attaches nothing)")
    lo.set_defaults(func=cmd_load)

    ca = sub.add_parser("call", help="load and attach OBJ, then call MAP.MEMBER through the emulated kernel "
                                     "(or run a --script of load/call/detach lines)")
    _common(ca, positional=False)
    ca.add_argument("object", nargs="?", metavar="OBJ.bpf.o")
    ca.add_argument("target", nargs="?", metavar="MAP.MEMBER")
    ca.add_argument("args", nargs="*", metavar="ARG", help="integer arguments")
    ca.add_argument("--script", metavar="FILE", help="lines 'load OBJ [options]', 'call MAP.MEMBER [ARGS]', "
                                                     "'detach MAP', run in one emulated kernel")
    ca.set_defaults(func=cmd_call)

    cs = sub.add_parser("check-signatures", help="compare struct_ops callback prototypes with the kernel's",
                        description="Compare the prototype of every struct_ops callback in each OBJ with the "
                                    "kernel's member it fills (BTF of the object vs the emulated kernel's). "
                                    "Exit status 1 on a warning or an error.")
    cs.add_argument("objects", nargs="+", metavar="OBJ.bpf.o", help="clang-compiled BPF objects; - reads "
                    "standard input (once)")
    cs.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    cs.add_argument("--all", action="store_true", help="also list matching callbacks and unused members")
    cs.set_defaults(func=cmd_check_signatures)

