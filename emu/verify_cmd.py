"""``structops verify``: run the verifier model on a program file and print its log.

Usage::

    structops verify FILE [--syntax kernel|conformance] [--prog-type socket_filter|struct_ops|...]
                          [--attach TYPE:MEMBER] [--profile latest|6.12|...|6.8] [--log-level 1|2]
                          [--map NAME=TYPE:KEY:VALUE:ENTRIES ...] [--flags any_alignment,...]
                          [--license GPL] [--unpriv] [--stats]

FILE is assembly text or raw instruction bytes (see :mod:`emu.progfile`), or a
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

This module also holds what the tests and benchmarks share to run one
program on both sides: :func:`corpus_case` (a verifier-corpus case as insns +
:class:`verifier.VerifierEnv`) and :func:`host_load` (the same program into the
host kernel, maps created there; nothing is attached).
"""

from __future__ import annotations

import argparse
import errno
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

from kernel_model import isa
from kernel_model.bpf_map import MapSpec, map_type_by_name
from kernel_model.errors import InputError, StructOpsError
from kernel_model.insn import Insn, decode
from kernel_model.profile import get_profile
from kernel_model.prog import PROG_TYPE_SOCKET_FILTER, PROG_TYPE_STRUCT_OPS, PROG_TYPES

__all__ = ["add_subcommand", "cmd_verify", "Target", "struct_ops_target", "corpus_case", "host_load",
           "FLAG_NAMES", "parse_flags", "HostVerdict", "program_env", "read_program"]

#: enum bpf_prog_type names (include/uapi/linux/bpf.h, Linux 6.18), lower case
KERNEL_PROG_TYPES = frozenset((
    "socket_filter kprobe sched_cls sched_act tracepoint xdp perf_event cgroup_skb cgroup_sock lwt_in "
    "lwt_out lwt_xmit sock_ops sk_skb cgroup_device sk_msg raw_tracepoint cgroup_sock_addr lwt_seg6local "
    "lirc_mode2 sk_reuseport flow_dissector cgroup_sysctl raw_tracepoint_writable cgroup_sockopt tracing "
    "struct_ops ext lsm sk_lookup syscall netfilter").split())

#: --flags names (prog_flags bits of include/uapi/linux/bpf.h)
FLAG_NAMES = {"strict_alignment": 1 << 0, "any_alignment": 1 << 1, "test_rnd_hi32": 1 << 2,
              "test_state_freq": 1 << 3, "sleepable": 1 << 4, "test_reg_invariants": 1 << 7}


def parse_flags(text: str) -> int:
    """``any_alignment,sleepable`` (or ``BPF_F_ANY_ALIGNMENT``, or a number) -> prog_flags."""
    out = 0
    for part in filter(None, (p.strip() for p in text.split(","))):
        key = part.lower().removeprefix("bpf_f_")
        if key in FLAG_NAMES:
            out |= FLAG_NAMES[key]
            continue
        try:
            out |= int(part, 0)
        except ValueError:
            raise InputError(f"unknown program flag {part!r} (known: {', '.join(FLAG_NAMES)})", "--flags") from None
    return out


@dataclass(slots=True)
class Target:
    """What a struct_ops load names: the kernel, its type, the member and its index."""

    kernel: Any
    desc: Any
    member_index: int


@lru_cache(maxsize=None)
def _model_kernel(profile: str) -> Any:
    """The emulated kernel (``bpf_testmod`` loaded) a load is described against: its
    struct_ops registry, kfunc table and vmlinux BTF. One per profile, only read --
    nothing is loaded into it (the verifier never changes its environment), so its
    machine is never created."""
    from .kernel import Kernel

    return Kernel(profile=get_profile(profile))


def struct_ops_target(attach: str, profile: str = "latest") -> Target:
    """``TYPE:MEMBER`` -> the emulated kernel's registered type and the member's index."""
    tname, sep, member = attach.partition(":")
    if not sep or not tname or not member:
        raise InputError(f"expected TYPE:MEMBER (e.g. bpf_dummy_ops:test_1), got {attach!r}", "--attach")
    k = _model_kernel(profile)
    desc = k.struct_ops.by_name(tname)
    if desc is None:
        known = ", ".join(sorted(d.name for d in k.struct_ops.descs))
        raise InputError(f"no registered struct_ops type {tname!r} (known: {known})", "--attach")
    for i, m in enumerate(desc.members):
        if m.name == member:
            return Target(k, desc, i)
    raise InputError(f"struct {tname} has no member {member!r} "
                     f"(members: {', '.join(m.name for m in desc.members)})", "--attach")


def _kfunc_symbols(kernel: Any) -> dict[str, tuple[int, Any]]:
    """kfunc name -> (BTF id, the BTF that holds it) for every registered kfunc."""
    out: dict[str, tuple[int, Any]] = {}
    for e in kernel.kfuncs.entries:
        out.setdefault(e.name, (e.btf_id, e.btf))
    return out


def _parse_map(text: str) -> tuple[str, MapSpec]:
    name, sep, rest = text.partition("=")
    parts = rest.split(":")
    if not sep or len(parts) != 4 or not name:
        raise InputError(f"expected NAME=TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES (e.g. m=hash:8:16:1), got {text!r}",
                         "--map")
    try:
        mtype = map_type_by_name(parts[0])
        ks, vs, n = (int(p, 0) for p in parts[1:])
    except (KeyError, ValueError):
        raise InputError(f"{text!r}: unknown map type or a size that is not a number", "--map") from None
    return name, MapSpec(mtype, ks, vs, n, 0, name=name)


def build(args: argparse.Namespace) -> tuple[list[Insn], Any]:
    """The program and the :class:`verifier.VerifierEnv` the command line describes."""
    insns = read_program(args.file, args.syntax, args.map or (), args.profile)
    check_insn_cnt(len(insns), privileged=not args.unpriv)
    return program_env(insns, prog_type=args.prog_type, attach=args.attach, profile=args.profile,
                       maps=args.map or (), flags=args.flags or "", license=args.license, unpriv=args.unpriv)


#: include/uapi/linux/bpf_common.h and include/linux/bpf.h
BPF_MAXINSNS = 4096
BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000


def check_insn_cnt(n: int, privileged: bool = True) -> None:
    """``bpf_prog_load``'s first check (kernel/bpf/syscall.c, Linux 6.18): ``insn_cnt``
    0 or above ``BPF_COMPLEXITY_LIMIT_INSNS`` (with CAP_BPF) / ``BPF_MAXINSNS``
    (without) is ``-E2BIG`` before the verifier runs, so the kernel writes no log;
    the message is libbpf's (``bpf_object_load_prog``: ``program too large (%d
    insns), at most %d insns``)."""
    limit = BPF_COMPLEXITY_LIMIT_INSNS if privileged else BPF_MAXINSNS
    if n == 0 or n > limit:
        from kernel_model.errors import KernelError

        why = "an empty program" if n == 0 else f"program too large ({n} insns), at most {limit} insns"
        raise KernelError(errno.E2BIG, f"BPF_PROG_LOAD refuses {why} (insn_cnt is checked before the "
                                       "verifier runs: no log)")


def read_program(path: str, syntax: str | None, maps: Sequence[str] = (), profile: str = "latest") -> list[Insn]:
    """FILE as :mod:`emu.progfile` reads it, except that assembly text may name the
    ``--map`` maps and the emulated kernel's kfuncs (``call bpf_kfunc_common_test``)."""
    from pathlib import Path

    from kernel_model.asm import assemble

    from .progfile import RAW_SUFFIXES, load_program_file

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path) from None
    if p.suffix in RAW_SUFFIXES or p.suffix == ".data" or b"\0" in data or data.startswith(b"\x7fELF"):
        return list(load_program_file(path, syntax).insns)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return list(load_program_file(path, syntax).insns)
    return assemble(text, syntax=syntax or "kernel", source=path, symbols=symbols_for(maps, profile))


def program_env(insns: Sequence[Insn], *, prog_type: str | None = None, attach: str | None = None,
                profile: str = "latest", maps: Sequence[str] = (), flags: str | int = 0, license: str = "GPL",
                unpriv: bool = False) -> tuple[list[Insn], Any]:
    """(insns, VerifierEnv) for a program loaded the way ``structops verify`` loads it:
    ``prog_type`` by name (default socket_filter, or struct_ops with ``attach``
    = ``TYPE:MEMBER``), ``maps`` as ``NAME=TYPE:KEY:VALUE:ENTRIES`` (fd = position),
    module kfunc calls given ``off`` = their BTF's fd_array index."""
    from verifier import VerifierEnv

    prof = get_profile(profile)
    ptype = PROG_TYPES.get(prog_type) if prog_type else None
    if prog_type and ptype is None:
        if prog_type.lower().removeprefix("bpf_prog_type_") in KERNEL_PROG_TYPES:
            from kernel_model.errors import NotModelled

            raise NotModelled(f"--prog-type {prog_type}: the verifier model has no {prog_type} programs "
                              f"(modelled: {', '.join(PROG_TYPES)})")
        raise InputError(f"{prog_type!r} is not a program type (modelled: {', '.join(PROG_TYPES)})",
                         "--prog-type")
    if attach and ptype not in (None, PROG_TYPE_STRUCT_OPS):
        raise InputError("--attach TYPE:MEMBER is for struct_ops programs", "--attach")
    target = struct_ops_target(attach, profile) if attach else None
    if ptype is None:
        ptype = PROG_TYPE_STRUCT_OPS if target else PROG_TYPE_SOCKET_FILTER
    specs: dict[int, MapSpec] = {}
    for i, text in enumerate(maps):
        _name, spec = _parse_map(text)
        spec.id = i + 1
        specs[i] = spec
    kernel = target.kernel if target else _model_kernel(profile)
    kfuncs = _kfunc_symbols(kernel)
    out = list(insns)
    module_btfs: list[Any] = []
    for k, ins in enumerate(out):  # module kfuncs: off = fd_array index of the module's BTF
        if ins.code == isa.CALL_INSN and ins.src == isa.PSEUDO_KFUNC_CALL and ins.off == 0:
            hit = [b for (i, b) in kfuncs.values() if i == ins.imm and b is not kernel.btf]
            if hit:
                if hit[0] not in module_btfs:
                    module_btfs.append(hit[0])
                out[k] = Insn(ins.code, ins.dst, ins.src, 1 + module_btfs.index(hit[0]), ins.imm)
    env = VerifierEnv(
        prog_type=ptype, prog_flags=flags if isinstance(flags, int) else parse_flags(flags), license=license,
        privileged=not unpriv, maps=specs, kfuncs=kernel.kfuncs, vmlinux_btf=kernel.btf,
        fd_array=(None, *module_btfs) if module_btfs else (), profile=prof)
    if target is not None:
        env.struct_ops = kernel.struct_ops
        env.attach_btf = target.desc.btf
        env.attach_btf_id = target.desc.type_id
        env.expected_attach_type = target.member_index
    return out, env


def symbols_for(maps: Sequence[str] = (), profile: str = "latest") -> dict[str, int]:
    """Names the assembler may use: map names (``rN = NAME ll``) and kfunc names."""
    out = {name: i for i, name in enumerate(_parse_map(m)[0] for m in maps)}
    for name, (btf_id, _btf) in _kfunc_symbols(_model_kernel(profile)).items():
        out.setdefault(name, btf_id)
    return out


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def verify_elf(args: argparse.Namespace) -> int:
    """An ELF object: every program is loaded the way libbpf loads it (relocations, maps,
    struct_ops attach targets) into the emulated kernel, whose BPF_PROG_LOAD runs this
    verifier; each program's log is printed after a ``-- prog NAME: verdict`` line."""
    from .kernel import Kernel
    from .libbpf.log import Log
    from .libbpf.object import BpfObject

    # libbpf's own messages are collected, not printed: the logs below say the same
    obj = BpfObject.open_file(args.file, log=Log(stream=None))
    for p in obj.progs.values():
        p.set_log_level(args.log_level)
    verdicts = obj.verify_programs(Kernel(args.profile))
    rejected = 0
    for v in verdicts:
        verdict = "accepted" if v.accepted else f"rejected ({errno_str(v.errno)})"
        sys.stdout.write(f"-- prog {v.name}: {verdict}\n")
        sys.stdout.write(v.log if v.log.endswith("\n") or not v.log else v.log + "\n")
        if not v.log and not v.accepted:
            sys.stdout.write(v.last_line + "\n")
        rejected += not v.accepted
    return 1 if rejected else 0


def errno_str(err: int) -> str:
    from verifier import errno_name

    return "-" + errno_name(err)


def cmd_verify(args: argparse.Namespace) -> int:
    """Print the model's log; 0 accepted, 1 rejected, 2 bad input, 3 not modelled."""
    from verifier import verify

    log_size = getattr(args, "log_size", None)
    try:
        if _is_elf(args.file):
            if log_size is not None:
                sys.stderr.write("error: --log-size is not modelled for ELF objects (libbpf's own log buffer)\n")
                return 3
            return verify_elf(args)
        insns, env = build(args)
        env.log_size = log_size
        res = verify(insns, env, log_level=args.log_level)
    except StructOpsError as e:
        from .cli import exit_status, one_line

        sys.stderr.write(f"error: {one_line(str(e))}\n")
        return exit_status(e)
    sys.stdout.write(res.log)
    if args.stats:
        depth = "+".join(str(d) for d in res.stack_depth)
        sys.stderr.write(f"verdict: {'accepted' if res.accepted else 'rejected'}"
                         f"{'' if res.accepted else f' ({res.errno_name})'}; processed {res.processed}; "
                         f"stack depth {depth}; log_true_size {res.log_true_size}\n")
    return 0 if res.accepted else 1


def _log_size(text: str) -> int:
    """``--log-size``: a byte count, 1 .. UINT_MAX >> 2 (bpf_verifier_log_attr_valid)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= n <= 0xFFFFFFFF >> 2:
        raise argparse.ArgumentTypeError(f"{n} is outside 1..{0xFFFFFFFF >> 2} (the kernel refuses it with EINVAL)")
    return n


def add_subcommand(sub: Any) -> None:
    """Register ``verify`` on the ``structops`` parser."""
    v = sub.add_parser("verify", help="verify a program with the verifier model and print the kernel's log",
                       description="Exit status: 0 accepted, 1 rejected (last line: the kernel's message; "
                                   "E2BIG for too many instructions), 2 bad input, 3 not modelled.")
    v.add_argument("file", metavar="FILE", help="assembly text, raw instruction bytes, or an ELF object")
    v.add_argument("--syntax", choices=("kernel", "conformance"), default=None)
    v.add_argument("--prog-type", default=None, help=f"program type ({', '.join(PROG_TYPES)}); "
                   "default socket_filter, or struct_ops with --attach")
    v.add_argument("--attach", metavar="TYPE:MEMBER", help="struct_ops member to attach to (bpf_dummy_ops:test_1)")
    v.add_argument("--profile", default="latest", help="kernel profile (latest=6.18, 6.12, 6.10, 6.9, 6.8)")
    v.add_argument("--log-level", type=int, choices=(1, 2), default=1)
    v.add_argument("--map", action="append", metavar="NAME=TYPE:KEY:VALUE:ENTRIES",
                   help="declare a map usable as `rN = NAME ll` (fd = its position)")
    v.add_argument("--flags", default="", help=f"prog_flags ({', '.join(FLAG_NAMES)}), comma-separated")
    v.add_argument("--log-size", type=_log_size, default=None, metavar="N",
                   help="attr.log_size: a log buffer of N bytes as the kernel fills it (rotating: the "
                        "tail is kept; ENOSPC if the log ever outgrew it); default: the whole log")
    v.add_argument("--license", default="GPL")
    v.add_argument("--unpriv", action="store_true", help="load with CAP_BPF only (no CAP_PERFMON/CAP_SYS_ADMIN)")
    v.add_argument("--stats", action="store_true", help="print the verdict and stack depth on stderr")
    v.set_defaults(func=cmd_verify)


# --- shared with tests and benchmarks -------------------------------------------------

def corpus_case(case: Mapping[str, Any], profile: str = "latest") -> tuple[list[Insn], Any]:
    """A verifier-corpus case (a JSON record: ``insns_hex``, ``kernel.prog_flags``,
    ``maps``) as (insns, VerifierEnv): socket filter, GPL, the case's prog_flags,
    maps by their index (the lddw imm)."""
    from verifier import VerifierEnv

    k = case["kernel"]
    # the labelling created its maps without a name, so the kernel's log shows no "map=..."
    maps = {i: MapSpec(map_type_by_name(m["type"]), m["key_size"], m["value_size"], m["max_entries"],
                       m.get("map_flags", 0), name="", id=i + 1)
            for i, m in enumerate(case.get("maps", ()))}
    env = VerifierEnv(prog_type=PROG_TYPE_SOCKET_FILTER, prog_flags=k.get("prog_flags", 0), maps=maps,
                      profile=get_profile(profile))
    return decode(bytes.fromhex(case["insns_hex"]), case.get("id", "")), env


@dataclass(frozen=True, slots=True)
class HostVerdict:
    """What the host's ``BPF_PROG_LOAD`` answered (its fd already closed)."""

    accepted: bool
    errno: int
    log: str
    seconds: float
    error_line: str | None


_CAP_BPF = 39
_SYS_CAPSET = 126  # x86-64
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _drop_to_cap_bpf() -> None:
    """capset(2) in this (child) process: CAP_BPF only, as a loader without CAP_PERFMON
    and CAP_SYS_ADMIN (kernel-oracle.md section 6's --no-perfmon mode)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    hdr = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # {effective, permitted, inheritable} for caps 0-31, then 32-63
    data[3] = data[4] = 1 << (_CAP_BPF - 32)
    if libc.syscall(_SYS_CAPSET, hdr, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _in_child(fn: Any) -> Any:
    """Run ``fn()`` in a forked child with capabilities dropped; its result comes back pickled."""
    import os
    import pickle

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(rfd)
            _drop_to_cap_bpf()
            out = ("ok", fn())
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = ("err", repr(e))
        os.write(wfd, pickle.dumps(out))
        os._exit(0)
    os.close(wfd)
    chunks = []
    while True:
        c = os.read(rfd, 1 << 20)
        if not c:
            break
        chunks.append(c)
    os.close(rfd)
    os.waitpid(pid, 0)
    kind, val = pickle.loads(b"".join(chunks))
    if kind != "ok":
        raise OSError(f"unprivileged host load failed in the child: {val}")
    return val


def host_load(insns: Sequence[Insn], env: Any, log_level: int = 1) -> HostVerdict:
    """Load the same program into the host kernel (``emu.hostbpf``): maps of
    ``env.maps`` are created there and the lddw immediates rewritten to their fds;
    struct_ops programs use the host's own BTF id of the attach type (an id of 0
    stays 0). With ``env.privileged`` False the load is made by a forked child that
    dropped every capability but CAP_BPF (capset)."""
    from kernel_model.insn import encode

    from . import hostbpf as hb

    fds: dict[int, int] = {}
    try:
        for key, m in env.maps.items():
            fd, err = hb.map_create(m.map_type, m.key_size, m.value_size, m.max_entries, map_flags=m.map_flags,
                                     name=m.name)
            if fd < 0:
                raise OSError(err, f"host map_create({m.type_name}) failed")
            fds[key] = fd
        out = list(insns)
        for k, ins in enumerate(out):
            if ins.code == isa.LD_IMM64 and ins.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE) and ins.imm in fds:
                out[k] = Insn(ins.code, ins.dst, ins.src, ins.off, fds[ins.imm])
        attach_id = 0
        if env.prog_type == PROG_TYPE_STRUCT_OPS and env.attach_btf is not None and env.attach_btf_id:
            name = env.attach_btf.type_by_id(env.attach_btf_id).name
            attach_id = hb.host_btf_id(name) or 0
        def load() -> HostVerdict:
            r = hb.prog_load(env.prog_type, encode(out), license=env.license, log_level=log_level,
                             prog_flags=env.prog_flags, expected_attach_type=env.expected_attach_type,
                             attach_btf_id=attach_id)
            verdict = HostVerdict(r.accepted, 0 if r.accepted else r.errno, r.log, r.seconds, r.error_line())
            r.close()
            return verdict

        # env.privileged False: the load runs in a child holding CAP_BPF only
        return load() if env.privileged else _in_child(load)
    finally:
        for fd in fds.values():
            hb.close(fd)
