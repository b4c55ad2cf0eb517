"""``structops verify``: run the verifier model on a program file and print its log.

Usage::

    structops verify FILE [--syntax kernel|conformance] [--prog-type socket_filter|struct_ops|...]
                          [--attach TYPE:MEMBER] [--profile latest|6.12|...|6.8] [--log-level 1|2]
                          [--map NAME=TYPE:KEY:VALUE:ENTRIES ...] [--flags any_alignment,...]
                          [--license GPL] [--unpriv] [--stats]

FILE is assembly text or raw instruction bytes (see :mod:`emu.formats.progfile`), or a
clang-compiled ELF object, whose programs are loaded as libbpf loads them (into
the emulated kernel, whose BPF_PROG_LOAD runs this verifier) and printed one
after the other under ``-- prog NAME: verdict`` lines. The
log is printed exactly as the kernel would write it at that level; the exit
status is 0 when the program is accepted, 1 when it is rejected (the log's last
lines are the kernel's error message and the ``processed`` statistics), 2 on
bad input (unreadable file, syntax error, unknown attach target), with one
``error: ...`` line on stderr.

``--attach bpf_dummy_ops:test_1`` verifies a ``BPF_PROG_TYPE_STRUCT_OPS``
program for that member of a type registered in the emulated kernel
(:class:`emu.kernel.Kernel`, modules loaded: ``bpf_testmod``); its kfuncs can be
called by name (``call bpf_kfunc_common_test``): a kfunc of a module becomes a
call with ``off`` = 1 and the module's BTF in ``fd_array[1]``, as libbpf encodes
it. ``--map`` declares maps usable as ``rN = NAME ll``; each gets the fd of its
position (0, 1, ...), the way the verifier corpus encodes map references.

The load itself is :func:`emu.kernel.harness.program_env`, which the tests and
benchmarks share.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .failure_slice import FailureSlice, failure_slice
from .output import emit, error_object, json_mode
from .progress import progress
from .status import err
from .verifier_trace import Trace, read_trace
from .veristat import ProgStats, compare, compare_csv, compare_table, stats_from_log, to_csv, to_table

if TYPE_CHECKING:  # pragma: no cover
    from .inputs import Input

STDIN_NAME = "<stdin>"

__all__ = ["add_subcommand", "cmd_verify", "read_program", "Verified", "verify_program_file", "verify_elf",
           "list_programs", "worst_status"]

#: ``call NAME``: a name the assembler resolves through the symbol table when it is a kfunc
_CALL_NAME = re.compile(r"\bcall\s+([A-Za-z_]\w*)")


def _needs_kfunc_names(text: str) -> bool:
    """Whether the assembly calls a name that is not a helper (a kfunc, or a local
    label): only then are the emulated kernel's kfunc names needed to assemble it."""
    from kernel_model.helper_ids import helper_id

    return any(helper_id(name) is None for name in _CALL_NAME.findall(text))


def read_program(source: "str | Input", syntax: str | None, maps: Sequence[str] = (), profile: Any = None) -> list[Any]:
    """A program file (a path, ``-`` for stdin, or an :class:`~emu.cli.inputs.Input` already
    read) as :mod:`emu.formats.progfile` reads it, except that assembly text may name the
    ``--map`` maps and the emulated kernel's kfuncs (``call bpf_kfunc_common_test``)."""
    from kernel_model.asm import assemble
    from kernel_model.profile import LATEST

    from emu.formats.progfile import RAW_SUFFIXES
    from emu.kernel.harness import parse_map, symbols_for

    from .inputs import program_input, read_input

    inp = read_input(source) if isinstance(source, str) else source
    data = inp.data
    if inp.suffix in RAW_SUFFIXES or inp.suffix == ".data" or b"\0" in data or inp.is_elf:
        return list(program_input(inp, syntax).insns)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return list(program_input(inp, syntax).insns)
    if _needs_kfunc_names(text):
        symbols = symbols_for(maps, profile or LATEST)
    else:
        symbols = {name: i for i, name in enumerate(parse_map(m)[0] for m in maps)}
    with progress(f"assembling {inp.name}", enabled=len(data) > 200_000):
        return assemble(text, syntax=syntax or "kernel", source=inp.name, symbols=symbols)


def build(args: argparse.Namespace, inp: "Input") -> tuple[list[Any], Any]:
    """The program and the :class:`verifier.VerifierEnv` the command line describes."""
    from emu.kernel.harness import check_insn_cnt, program_env

    insns = read_program(inp, args.syntax, args.map or (), args.profile)
    check_insn_cnt(len(insns), privileged=not args.unpriv)
    return program_env(insns, prog_type=args.prog_type, attach=args.attach, profile=args.profile,
                       maps=args.map or (), flags=args.flags or "", license=args.license, unpriv=args.unpriv,
                       attach_type=getattr(args, "attach_type", None))


@dataclass(slots=True)
class Verified:
    """One program the command verified: veristat's row (with the log at the asked
    level), its instructions, and the level-2 log that ``--dot``/``--explain`` read."""

    stats: ProgStats
    insns: list[Any]
    trace_log: str | None = None
    #: one program of several in an ELF object: its log gets a ``-- prog NAME`` line
    in_object: bool = False
    last_line: str = ""
    #: an object's program: "accepted", "rejected", "not_modelled" (what it needs is not
    #: modelled here) or "libbpf_error" (the loader stopped as libbpf would)
    outcome: str = ""
    #: the section of an object's program; why it is not modelled, or libbpf's message
    section: str = ""
    detail: str = ""

    @property
    def status(self) -> int:
        """This program's exit status: 0 accepted, 1 refused (the verifier, or the loader
        as libbpf), 3 not modelled."""
        if self.outcome == "not_modelled":
            return 3
        return 0 if self.stats.accepted else 1

    def headline(self) -> str:
        """The verdict after ``-- prog NAME:`` (and in the summary, with the reason)."""
        if self.outcome == "not_modelled":
            return "not modelled"
        if self.outcome == "libbpf_error":
            return f"refused by the loader (-{self.stats.errno}): {self.detail}"
        return "accepted" if self.stats.accepted else f"rejected (-{self.stats.errno})"

    def trace(self) -> Trace | None:
        return read_trace(self.trace_log) if self.trace_log is not None else None

    def slice(self) -> FailureSlice | None:
        if self.stats.accepted or self.trace_log is None:
            return None
        t = self.trace()
        return failure_slice(self.insns, t.path, self.stats.error) if t else None


def _stem(name: str) -> str:
    from pathlib import PurePath

    return PurePath(name).stem if name != STDIN_NAME else name


def _base(name: str) -> str:
    from pathlib import PurePath

    return PurePath(name).name if name != STDIN_NAME else name


def verify_program_file(inp: "Input", args: argparse.Namespace, want_trace: bool) -> list[Verified]:
    """A program file: assembled or decoded, verified at ``--log-level``."""
    from kernel_model.uapi import PROG_TYPE_NAMES
    from verifier import verify

    insns, env = build(args, inp)
    env.log_size = args.log_size
    t0 = time.perf_counter()
    # log_true_size is printed by --json and --stats only: otherwise an accepted program's
    # level-1 walk, which the log resets away, is not formatted (verifier.verify's true_size)
    true_size = json_mode() or bool(args.stats)
    with progress(f"verifying {inp.name}"):
        res = verify(insns, env, log_level=_log_level(args), true_size=true_size)
    took = int((time.perf_counter() - t0) * 1e6)  # when a short --log-size lost the "verification time" line
    st = ProgStats(_base(inp.name), _stem(inp.name), res.accepted, duration=took, total_insns=res.processed,
                   total_states=res.total_states, peak_states=res.peak_states,
                   max_states_per_insn=res.max_states_per_insn, stack_depths=list(res.stack_depth),
                   prog_type=PROG_TYPE_NAMES.get(env.prog_type, str(env.prog_type)), path=inp.name,
                   errno=None if res.accepted else res.errno_name, error=res.error_line, log=res.log,
                   log_true_size=res.log_true_size if true_size else None)
    stats_from_log(res.log, st)
    trace_log = None
    if want_trace and not res.accepted:
        # a rejected program's log holds the path to the rejection at level 1 already (the
        # kernel rolls the log back when it pops a branch); a --log-size buffer may have
        # lost its head, so then the program is verified once more for the trace
        if args.log_size is None:
            trace_log = res.log
        else:
            env.log_size = None
            with progress(f"tracing {inp.name}"):
                trace_log = verify(insns, env, log_level=_log_level(args)).log
    return [Verified(st, list(insns), trace_log, last_line=res.error_line or "")]


def _log_level(args: argparse.Namespace) -> int:
    """The log level the programs are loaded with: ``--log-level``, with BPF_LOG_STATS (4)
    added for ``-j`` and ``-o table|csv`` as veristat adds it, for the ``verification
    time`` line (the model's own measure) and the stack depths."""
    return args.log_level | (4 if json_mode() or args.output != "log" else 0)


def verify_elf(inp: "Input", args: argparse.Namespace, want_trace: bool) -> list[Verified]:
    """An ELF object: every entry program (``SEC("?...")`` ones too), or the ``--prog``
    ones, loaded alone the way libbpf loads one program (its maps created, the other
    programs not loaded; :func:`emu.libbpf.per_prog.verify_program`) into the emulated
    kernel, whose BPF_PROG_LOAD runs this verifier; with ``want_trace``, the rejected
    ones keep their log for the trace. A program needing what the emulator does not
    model is its own verdict (``not_modelled``), not the object's."""
    from kernel_model.errors import InputError, NotModelled

    from emu.kernel import Kernel
    from emu.libbpf.per_prog import describe_programs, verify_program

    if args.log_size is not None:
        raise NotModelled("--log-size is not modelled for ELF objects (libbpf's own log buffer)")
    progs = describe_programs(inp.name, inp.data)
    wanted = list(args.prog or ())
    names = [n for n, _, _ in progs]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise InputError(f"no program {', '.join(repr(u) for u in unknown)} in the object "
                         f"(it has: {', '.join(names) or 'none'})", inp.name)
    chosen = [p for p in progs if not wanted or p[0] in wanted]
    if not chosen:
        raise InputError("the object has no programs", inp.name)
    kernel = Kernel(args.profile)
    out = []
    for name, sec, ptype in chosen:
        with progress(f"verifying {inp.name}: {name}"):
            o = verify_program(inp.name, name, kernel=kernel, log_level=_log_level(args), data=inp.data)
        accepted = o.verdict == "accepted"
        st = ProgStats(_base(inp.name), name, accepted, prog_type=o.prog_type or ptype, path=inp.name,
                       errno=None if accepted or not o.errno else errno_str(o.errno)[1:],
                       error=None if accepted else (o.error_line or o.detail or o.libbpf), log=o.log)
        stats_from_log(o.log, st)
        out.append(Verified(st, list(o.insns), o.log if want_trace and o.verdict == "rejected" else None,
                            in_object=True, last_line=o.error_line or "", outcome=o.verdict, section=sec,
                            detail=o.detail if o.verdict == "not_modelled" else o.libbpf))
    return out


def list_programs(inp: "Input") -> list[dict[str, str]]:
    """``--list``: name, section and program type of every entry program of an object."""
    from kernel_model.errors import InputError

    from emu.libbpf.per_prog import describe_programs

    if not inp.is_elf:
        raise InputError("--prog and --list apply to ELF objects; this is not one", inp.name)
    return [{"file": inp.name, "program": n, "section": sec, "type": t} for n, sec, t in describe_programs(
        inp.name, inp.data)]


#: exit statuses from the least to the most severe: a rejection is the kernel's verdict and
#: outranks our own limit (3); bad input (2) outranks both
_SEVERITY = {0: 0, 3: 1, 1: 2, 2: 3}


def worst_status(statuses: Sequence[int]) -> int:
    """The most severe of ``statuses`` (0 when empty): 2, then 1, then 3, then 0."""
    return max(statuses, key=_SEVERITY.__getitem__, default=0)


def errno_str(err: int) -> str:
    from kernel_model.errors import errno_name

    return "-" + errno_name(err)


def _verify_input(inp: "Input", args: argparse.Namespace, want_trace: bool) -> list[Verified]:
    from kernel_model.errors import InputError

    if inp.is_elf:
        return verify_elf(inp, args, want_trace)
    if args.prog:
        raise InputError("--prog and --list apply to ELF objects; this is not one", inp.name)
    return verify_program_file(inp, args, want_trace)


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify every FILE; print the logs (or veristat's table/CSV, or JSON), then the
    pictures asked for. 0 all accepted, 1 one was rejected, 2 bad input, 3 not
    modelled: the most severe of the programs' and files' statuses (2, then 1, then 3)."""
    from kernel_model.errors import InputError, StructOpsError

    from .inputs import check_one_stdin, read_input
    from .status import exit_status

    if args.compare:
        if args.files:
            raise InputError("--compare A.csv B.csv takes no other FILE")
        return _compare(args)
    if not args.files:
        raise InputError("no FILE to verify (or --compare A.csv B.csv)")
    check_one_stdin(args.files)
    if args.list:
        rows = [r for path in args.files for r in list_programs(read_input(path))]
        if json_mode():
            emit({"programs": rows, "exit_status": 0})
        else:
            width = max((len(r["program"]) for r in rows), default=7)
            swidth = max((len(r["section"]) for r in rows), default=7)
            sys.stdout.write(f"{'PROGRAM':<{width}}  {'SECTION':<{swidth}}  TYPE\n")
            for r in rows:
                sys.stdout.write(f"{r['program']:<{width}}  {r['section']:<{swidth}}  {r['type']}\n")
        return 0
    want_trace = bool(args.dot or args.explain)
    done: list[Verified] = []
    errors: list[tuple[str, StructOpsError]] = []
    many = len(args.files) > 1
    for path in args.files:
        try:
            inp = read_input(path)
            got = _verify_input(inp, args, want_trace)
        except StructOpsError as e:
            if not many:
                raise
            errors.append((path, e))
            if not json_mode():
                err(str(e) if str(e).startswith(path) else f"{path}: {e}")
            continue
        done.extend(got)
        if args.output == "log" and not json_mode():
            _print_logs(got, header=inp.name if many else None)
    status = worst_status([v.status for v in done] + [exit_status(e) for _, e in errors])
    missing = [v for v in done if v.status == 3]
    if status == 3 and missing and not json_mode():
        err(f"{len(missing)} of {len(done)} programs need what this emulator does not model "
            f"({', '.join(v.stats.prog_name for v in missing)}; the summary says what)")
    slices = {id(v): v.slice() for v in done} if args.explain else {}
    if json_mode():
        progs = []
        for v in done:
            o = v.stats.to_json()
            if args.explain:
                o["explain"] = _slice_json(v, slices[id(v)])
            progs.append(o)
        obj: dict[str, Any] = {"programs": progs, "exit_status": status}
        if errors:
            obj["errors"] = [error_object(e, exit_status(e)) | {"file": p} for p, e in errors]
        emit(obj)
    elif args.output == "csv":
        sys.stdout.write(to_csv(v.stats for v in done))
    elif args.output == "table":
        sys.stdout.write(to_table([v.stats for v in done]))
    if args.explain and not json_mode():
        for v in done:
            if not v.stats.accepted:
                (sys.stdout if args.output != "csv" else sys.stderr).write(_explain_text(v, slices[id(v)]))
    if args.stats and not json_mode():
        for v in done:
            s = v.stats
            depth = "+".join(str(d) for d in s.stack_depths)
            sys.stderr.write(f"verdict: {'accepted' if s.accepted else 'rejected'}"
                             f"{'' if s.accepted else f' ({s.errno})'}; processed {s.total_insns}; "
                             f"stack depth {depth}; log_true_size {s.log_true_size}\n")
    if args.dot:
        _write_dot(args, done, slices)
    return status


def _print_logs(got: list[Verified], header: str | None) -> None:
    if header is not None:
        sys.stdout.write(f"== {header}\n")
    for v in got:
        log = v.stats.log
        if v.in_object:
            sys.stdout.write(f"-- prog {v.stats.prog_name}: {v.headline()}\n")
        sys.stdout.write(log if log.endswith("\n") or not log else log + "\n")
        if v.in_object and not log and v.outcome == "rejected" and v.last_line:
            sys.stdout.write(v.last_line + "\n")
    objs = [v for v in got if v.in_object]
    if len(objs) > 1 or any(v.status == 3 for v in objs):
        # one line per program: name, section, verdict (with the reason it was not modelled,
        # or the kernel's message)
        width = max(len(v.stats.prog_name) for v in objs)
        swidth = max(len(v.section) for v in objs)
        sys.stdout.write(f"-- summary: {len(objs)} programs\n")
        for v in objs:
            verdict = v.headline()
            if v.outcome == "not_modelled":
                verdict = f"not modelled: {v.detail}"
            elif v.outcome == "rejected" and v.last_line:
                verdict = f"{verdict}: {v.last_line}"
            sys.stdout.write(f"{v.stats.prog_name:<{width}}  {v.section:<{swidth}}  {verdict}\n")


def _slice_json(v: Verified, sl: FailureSlice | None) -> dict[str, Any] | None:
    if sl is None:
        return None
    from kernel_model.disasm import format_insn

    t = v.trace()
    return {"insn": sl.failed_at, "regs": [f"r{r}" for r in sl.regs], "path": t.path if t else [],
            "slice": [{"insn": e.insn, "role": e.role, "regs": [f"r{r}" for r in e.regs],
                       "text": format_insn(v.insns, e.insn),
                       "state": (t.after.get(e.insn) if t else None)} for e in sl.entries]}


def _explain_text(v: Verified, sl: FailureSlice | None) -> str:
    from kernel_model.disasm import format_insn

    name = v.stats.prog_name if v.in_object else v.stats.path
    head = f"explain {name}: {v.stats.error or 'rejected'}"
    if sl is None:
        return head + "\n  (the verifier stopped before walking the program: no path to slice)\n"
    t = v.trace()
    regs = ", ".join(f"r{r}" for r in sl.regs) or "no register"
    lines = [head, f"  rejected at insn {sl.failed_at}; {regs} there comes from "
                   f"({len(sl.entries) - 1} of the {len(t.path) if t else 0} instructions on the path):"]
    mark = {"failed": "!", "def": "*", "cond": "?"}
    for e in sl.entries:
        text = format_insn(v.insns, e.insn)
        state = t.after.get(e.insn) if t else None
        line = f"  {mark[e.role]} {e.insn:4d}: {text}"
        if state and e.role != "failed":
            line = f"{line:48s} ; {state}"
        lines.append(line)
    lines.append("  (* writes a register the failure depends on, ? a condition that refined one, ! rejected here)")
    return "\n".join(lines) + "\n"


def _write_dot(args: argparse.Namespace, done: list[Verified], slices: dict[int, Any]) -> None:
    from pathlib import Path

    from kernel_model.errors import InputError

    from .cfg_dot import DotProgram, to_dot

    progs = [DotProgram(v.stats.prog_name if v.in_object else v.stats.path, v.insns, v.trace(),
                        slices.get(id(v)), not v.stats.accepted, v.stats.error) for v in done if v.insns]
    text = to_dot(progs, states=args.dot_states)
    if args.dot == "-":
        sys.stdout.write(text)
        return
    try:
        Path(args.dot).write_text(text)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror or e}", args.dot) from None


def _compare(args: argparse.Namespace) -> int:
    """``--compare A.csv B.csv``: veristat -C's table (``-o csv``: its CSV; ``-j``: the
    joined records)."""
    from .inputs import check_one_stdin, read_text

    a, b = args.compare
    check_one_stdin([a, b])
    cols, recs, dropped = compare(read_text(a), a, read_text(b), b)
    if json_mode():
        emit({"base": a, "comp": b, "columns": cols, "only_one_side": dropped, "programs": recs, "exit_status": 0})
    elif args.output == "csv":
        sys.stdout.write(compare_csv(cols, recs))
    else:
        sys.stdout.write(compare_table(cols, recs))
        if dropped:
            sys.stderr.write(f"note: not compared (in one file only): {', '.join(dropped)}\n")
    return 0


def _log_size(text: str) -> int:
    """``--log-size``: a byte count, 1 .. UINT_MAX >> 2 (bpf_verifier_log_attr_valid)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= n <= 0xFFFFFFFF >> 2:
        raise argparse.ArgumentTypeError(f"{n} is outside 1..{0xFFFFFFFF >> 2} (the kernel refuses it with EINVAL)")
    return n


#: the program types ``--prog-type`` accepts (kernel_model.prog.PROG_TYPES), for the help text
_PROG_TYPE_HELP = ("socket_filter, kprobe, sched_cls, sched_act, tracepoint, xdp, perf_event, cgroup_skb, "
                   "raw_tracepoint, raw_tracepoint_writable, struct_ops, syscall, cgroup_sock, sock_ops, "
                   "cgroup_device, cgroup_sock_addr, cgroup_sysctl, cgroup_sockopt, sk_lookup")
#: --flags names, for the help text (emu.kernel.harness.FLAG_NAMES)
_FLAG_HELP = "strict_alignment, any_alignment, test_rnd_hi32, test_state_freq, sleepable, test_reg_invariants"


def add_subcommand(sub: Any) -> None:
    """Register ``verify`` on the ``structops`` parser."""
    v = sub.add_parser("verify", help="verify programs with the verifier model and print the kernel's log",
                       description="Verify each FILE as BPF_PROG_LOAD would and print the verifier's log (an ELF "
                                   "object: every program, each loaded alone as libbpf loads one, then a summary "
                                   "line per program). Several FILEs: one after the other. Exit status: 0 accepted, "
                                   "1 rejected (last line: the kernel's message; E2BIG for too many instructions), "
                                   "2 bad input, 3 not modelled; of several programs or files the most severe "
                                   "(2, then 1, then 3).")
    v.add_argument("files", nargs="*", metavar="FILE",
                   help="assembly text, raw instruction bytes, or an ELF object; - reads standard input (once)")
    v.add_argument("--syntax", choices=("kernel", "conformance"), default=None,
                   help="dialect of assembly text (default: kernel; .data files are conformance)")
    v.add_argument("--prog-type", default=None, help=f"program type ({_PROG_TYPE_HELP}); "
                   "default socket_filter, or struct_ops with --attach")
    v.add_argument("--attach", metavar="TYPE:MEMBER", help="struct_ops member to attach to (bpf_dummy_ops:test_1)")
    v.add_argument("--attach-type", metavar="NAME", default=None,
                   help="expected_attach_type of the load (cgroup_inet4_connect, cgroup_getsockopt, sk_lookup ...)")
    v.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    v.add_argument("--log-level", type=int, choices=(1, 2), default=1,
                   help="the verifier log's level: 1 the verdict and errors, 2 every instruction and state")
    v.add_argument("--map", action="append", metavar="NAME=TYPE:KEY:VALUE:ENTRIES",
                   help="declare a map usable as `rN = NAME ll` (fd = its position)")
    v.add_argument("--flags", default="", help=f"prog_flags ({_FLAG_HELP}), comma-separated")
    v.add_argument("--log-size", type=_log_size, default=None, metavar="N",
                   help="attr.log_size: a log buffer of N bytes as the kernel fills it (rotating: the "
                        "tail is kept; ENOSPC if the log ever outgrew it); default: the whole log")
    v.add_argument("--license", default="GPL", help="the program's license string (default GPL: GPL-only "
                                                   "helpers and kfuncs are allowed)")
    v.add_argument("--unpriv", action="store_true", help="load with CAP_BPF only (no CAP_PERFMON/CAP_SYS_ADMIN)")
    v.add_argument("--stats", action="store_true", help="print the verdict and stack depth on stderr")
    v.add_argument("-o", "--output", choices=("log", "table", "csv"), default="log",
                   help="log: the verifier's log (default); table/csv: veristat's figures, one row per "
                        "program (columns file_name, prog_name, verdict, duration, total_insns, ...)")
    v.add_argument("--compare", nargs=2, metavar=("A.csv", "B.csv"),
                   help="compare two -o csv outputs (ours or veristat's) as veristat -C does: per program, "
                        "each figure in A, in B and the difference")
    v.add_argument("--dot", metavar="FILE", help="write the control-flow graph as graphviz DOT (- for stdout): "
                   "basic blocks and their instructions, the path to a rejection in red")
    v.add_argument("--dot-states", action="store_true",
                   help="with --dot: the register states the verifier printed at branch points")
    v.add_argument("--explain", action="store_true",
                   help="for a rejection: the instructions that made the failing register what it is (a "
                        "backward slice along the verifier's path), printed and marked in --dot")
    v.add_argument("--prog", action="append", metavar="NAME",
                   help="an ELF object's program to verify (repeatable; default: every program, "
                        "SEC(\"?...\") ones included, each loaded alone as libbpf would)")
    v.add_argument("--list", action="store_true", help="list an ELF object's programs (name, section, type)")
    v.set_defaults(func=cmd_verify)
