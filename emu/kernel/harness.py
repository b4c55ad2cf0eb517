"""One program loaded the way ``structops verify`` loads it: what the tests, the
benchmarks and the command share.

:func:`program_env` turns a program and the command line's description of its
load (program type, ``--attach TYPE:MEMBER``, ``--map`` declarations, flags,
privileges) into ``(insns, VerifierEnv)`` against the emulated kernel
(:class:`emu.kernel.Kernel`, ``bpf_testmod`` loaded): its struct_ops registry,
kfunc table and vmlinux BTF. :func:`symbols_for` gives the names the assembler
may use (map names, kfunc names); :func:`corpus_case` reads a verifier-corpus
record. The host side of the same comparison is :func:`emu.host.verdict.host_load`.

Every function takes a :class:`~kernel_model.profile.Profile`; the command line
turns a name into one.

The emulated kernel is built only when the load needs it (a struct_ops target,
a kfunc call, a kfunc name to resolve): the verifier reads the kernel's BTF and
kfunc table for nothing else, and building it is most of the cost of verifying
a small program.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

from kernel_model import isa
from kernel_model.bpf_map import MapSpec, map_type_by_name
from kernel_model.errors import InputError
from kernel_model.insn import BPF_COMPLEXITY_LIMIT_INSNS, BPF_MAXINSNS, Insn, decode
from kernel_model.profile import LATEST, Profile
from kernel_model.prog import PROG_TYPES
from kernel_model.uapi import (BPF_F_ANY_ALIGNMENT, BPF_F_SLEEPABLE, BPF_F_STRICT_ALIGNMENT, BPF_F_TEST_REG_INVARIANTS,
                               BPF_F_TEST_RND_HI32, BPF_F_TEST_STATE_FREQ, PROG_TYPE_NAMES, PROG_TYPE_SOCKET_FILTER,
                               PROG_TYPE_STRUCT_OPS)

__all__ = ["Target", "model_kernel", "struct_ops_target", "program_env", "symbols_for", "kfunc_symbols",
           "corpus_case", "parse_flags", "parse_map", "check_insn_cnt", "FLAG_NAMES", "KERNEL_PROG_TYPES"]

#: the kernel's program type names (lower case, without BPF_PROG_TYPE_), the unspec one aside
KERNEL_PROG_TYPES = frozenset(name for t, name in PROG_TYPE_NAMES.items() if t)

#: --flags names (the prog_flags bits)
FLAG_NAMES = {"strict_alignment": BPF_F_STRICT_ALIGNMENT, "any_alignment": BPF_F_ANY_ALIGNMENT,
              "test_rnd_hi32": BPF_F_TEST_RND_HI32, "test_state_freq": BPF_F_TEST_STATE_FREQ,
              "sleepable": BPF_F_SLEEPABLE, "test_reg_invariants": BPF_F_TEST_REG_INVARIANTS}


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
def model_kernel(profile: Profile = LATEST) -> Any:
    """The emulated kernel (``bpf_testmod`` loaded) a load is described against: its
    struct_ops registry, kfunc table and vmlinux BTF. One per profile, only read --
    nothing is loaded into it (the verifier never changes its environment), so its
    machine is never created."""
    from .kernel import Kernel

    return Kernel(profile)


def struct_ops_target(attach: str, profile: Profile = LATEST) -> Target:
    """``TYPE:MEMBER`` -> the emulated kernel's registered type and the member's index."""
    tname, sep, member = attach.partition(":")
    if not sep or not tname or not member:
        raise InputError(f"expected TYPE:MEMBER (e.g. bpf_dummy_ops:test_1), got {attach!r}", "--attach")
    k = model_kernel(profile)
    desc = k.struct_ops.by_name(tname)
    if desc is None:
        known = ", ".join(sorted(d.name for d in k.struct_ops.descs))
        raise InputError(f"no registered struct_ops type {tname!r} (known: {known})", "--attach")
    for i, m in enumerate(desc.members):
        if m.name == member:
            return Target(k, desc, i)
    raise InputError(f"struct {tname} has no member {member!r} "
                     f"(members: {', '.join(m.name for m in desc.members)})", "--attach")


def kfunc_symbols(kernel: Any) -> dict[str, tuple[int, Any]]:
    """kfunc name -> (BTF id, the BTF that holds it) for every registered kfunc."""
    out: dict[str, tuple[int, Any]] = {}
    for e in kernel.kfuncs.entries:
        out.setdefault(e.name, (e.btf_id, e.btf))
    return out


def parse_map(text: str) -> tuple[str, MapSpec]:
    """``NAME=TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES`` (``--map``) -> (name, spec)."""
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


def _check_attach(prog_type: int, eat: int) -> None:
    """``bpf_prog_load_check_attach`` (after ``bpf_prog_load_fixup_attach_type``): an
    expected attach type the program type does not take is ``-EINVAL`` before the
    verifier runs, so the kernel writes no log; the message says which it takes."""
    from verifier.helper_sets import expected_attach_type_ok, fixup_attach_type
    from kernel_model.bpf_facts.enums import PROG_TYPE_ENUMERATORS
    from kernel_model.bpf_facts.prog_types import EXPECTED_ATTACH_TYPES

    if expected_attach_type_ok(prog_type, fixup_attach_type(prog_type, eat)):
        return
    from kernel_model.errors import KernelError

    name = PROG_TYPE_ENUMERATORS[prog_type]
    takes = ", ".join(t.removeprefix("BPF_").lower() for t in EXPECTED_ATTACH_TYPES[name])
    raise KernelError(errno.EINVAL, f"BPF_PROG_LOAD refuses expected_attach_type {eat} for "
                                    f"{name.removeprefix('BPF_PROG_TYPE_').lower()} programs (--attach-type: "
                                    f"{takes}; bpf_prog_load_check_attach runs before the verifier: no log)")


def _calls_kfunc(insns: Sequence[Insn]) -> bool:
    """The program calls a kfunc, or a helper returning a vmlinux BTF pointer
    (bpf_get_current_task_btf, #158): the verifier needs the kernel's BTF."""
    if isa.CALL_INSN not in {ins.code for ins in insns}:
        return False
    return any(ins.code == isa.CALL_INSN and (ins.src == isa.PSEUDO_KFUNC_CALL or (ins.src == 0 and ins.imm in _BTF_RET))
               for ins in insns)


#: helpers returning a vmlinux BTF pointer: bpf_get_current_task_btf, the bpf_skc_to_* casts
_BTF_RET = frozenset({158, 136, 137, 138, 139, 140, 178, 196})


def attach_type_id(name: str) -> int:
    """An ``enum bpf_attach_type`` value by name (``cgroup_inet4_connect``,
    ``BPF_CGROUP_INET4_CONNECT``) or number; InputError otherwise."""
    from kernel_model.bpf_facts.enums import ATTACH_TYPES

    if name.isdigit():
        return int(name)
    key = "BPF_" + name.upper().removeprefix("BPF_")
    if key not in ATTACH_TYPES:
        raise InputError(f"{name!r} is not an attach type (e.g. cgroup_inet4_connect, sk_lookup)", "--attach-type")
    return ATTACH_TYPES[key]


def program_env(insns: Sequence[Insn], *, prog_type: str | None = None, attach: str | None = None,
                profile: Profile = LATEST, maps: Sequence[str] = (), flags: str | int = 0, license: str = "GPL",
                unpriv: bool = False, attach_type: str | None = None) -> tuple[list[Insn], Any]:
    """(insns, VerifierEnv) for a program loaded the way ``structops verify`` loads it:
    ``prog_type`` by name (default socket_filter, or struct_ops with ``attach``
    = ``TYPE:MEMBER``), ``attach_type`` the load's ``expected_attach_type`` by name
    (cgroup_sock_addr, cgroup_sockopt, sk_lookup ... need one), ``maps`` as ``NAME=TYPE:KEY:VALUE:ENTRIES`` (fd = position),
    module kfunc calls given ``off`` = their BTF's fd_array index. The kernel's
    kfunc table and vmlinux BTF are in the environment when the program calls a
    kfunc or attaches to a struct_ops member (the verifier reads them for nothing
    else; see the module docstring)."""
    from verifier import VerifierEnv

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
    if attach and attach_type:
        raise InputError("--attach-type is not for struct_ops programs (--attach names the member)", "--attach-type")
    eat = attach_type_id(attach_type) if attach_type else 0
    target = struct_ops_target(attach, profile) if attach else None
    if ptype is None:
        ptype = PROG_TYPE_STRUCT_OPS if target else PROG_TYPE_SOCKET_FILTER
    if not target:
        _check_attach(ptype, eat)
    specs: dict[int, MapSpec] = {}
    for i, text in enumerate(maps):
        _name, spec = parse_map(text)
        spec.id = i + 1
        specs[i] = spec
    out = list(insns)
    kernel = target.kernel if target else model_kernel(profile) if _calls_kfunc(out) else None
    module_btfs: list[Any] = []
    if kernel is not None:
        kfuncs = kfunc_symbols(kernel)
        for k, ins in enumerate(out):  # module kfuncs: off = fd_array index of the module's BTF
            if ins.code == isa.CALL_INSN and ins.src == isa.PSEUDO_KFUNC_CALL and ins.off == 0:
                hit = [b for (i, b) in kfuncs.values() if i == ins.imm and b is not kernel.btf]
                if hit:
                    if hit[0] not in module_btfs:
                        module_btfs.append(hit[0])
                    out[k] = Insn(ins.code, ins.dst, ins.src, 1 + module_btfs.index(hit[0]), ins.imm)
    env = VerifierEnv(
        prog_type=ptype, prog_flags=flags if isinstance(flags, int) else parse_flags(flags), license=license,
        privileged=not unpriv, maps=specs, kfuncs=kernel.kfuncs if kernel else None,
        vmlinux_btf=kernel.btf if kernel else None, fd_array=(None, *module_btfs) if module_btfs else (),
        profile=profile, expected_attach_type=eat)
    if target is not None:
        env.struct_ops = target.kernel.struct_ops
        env.attach_btf = target.desc.btf
        env.attach_btf_id = target.desc.type_id
        env.expected_attach_type = target.member_index
    return out, env


def symbols_for(maps: Sequence[str] = (), profile: Profile = LATEST) -> dict[str, int]:
    """Names the assembler may use: map names (``rN = NAME ll``) and kfunc names."""
    out = {name: i for i, name in enumerate(parse_map(m)[0] for m in maps)}
    for name, (btf_id, _btf) in kfunc_symbols(model_kernel(profile)).items():
        out.setdefault(name, btf_id)
    return out


def corpus_case(case: Mapping[str, Any], profile: Profile = LATEST) -> tuple[list[Insn], Any]:
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
                      profile=profile)
    return decode(bytes.fromhex(case["insns_hex"]), case.get("id", "")), env
