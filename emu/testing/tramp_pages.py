"""How many struct_ops trampolines fit in a page, and how many pages a type needs.

The kernel sizes each trampoline with ``arch_bpf_trampoline_size()`` (x86-64:
:func:`jit.trampoline.trampoline_size`, code plus ``BPF_INSN_SAFETY``, which
depends on the member's function model -- argument registers, a return value
or not -- and on the CPU: ``endbr64`` under IBT, call-depth accounting, the
return thunk) and packs them into 4 KiB image pages in member order
(:mod:`kernel_model.tramp_pages`, the rule of ``bpf_struct_ops_map_update_elem``,
Linux 6.12), at most ``MAX_TRAMP_IMAGE_PAGES`` per map (the profile's
``tramp_image_pages``: 1 on 6.8, 8 from 6.9); one more is ``-E2BIG``.

This module joins the two: the arch supplies the sizes, kernel_model packs.

* :func:`trampoline_bytes` / :func:`trampolines_per_page` -- one function model
  (a ``FuncModel``, a registered member, a declared member, or a C prototype
  such as ``"int (*)(int)"``);
* :func:`pages_needed` / :func:`page_packing` -- a whole type (a registered
  ``StructOpsDesc``, a :class:`~kernel_model.struct_ops_decl.StructOpsDecl`, or C
  text), with a program in every supported function member unless ``members``
  names the ones that hold programs.

The figures are those of a map update in the emulated kernel (the e2e tests and
docs/property-testing.md check that they are); where a member's trampoline
cannot be built (more than 12 argument registers), the update's ``-ENOTSUPP``
is raised as :class:`~kernel_model.errors.KernelError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Union

from jit.trampoline import X86StructOpsArch, struct_ops_flags
from kernel_model.btf import BTF, parse_c
from kernel_model.btf import structs as S
from kernel_model.btf.func_model import FuncModel, FuncModelError, distill_func_proto
from kernel_model.btf.types import Composite, Ptr
from kernel_model.cpu import DEFAULT_CPU, CpuConfig, get_cpu
from kernel_model.errors import InputError
from kernel_model.profile import Profile, get_profile
from kernel_model.struct_ops import MemberDesc, StructOpsDesc, StructOpsRegistry
from kernel_model.struct_ops_decl import FuncMemberDecl, StructOpsDecl
from kernel_model.tramp_pages import PAGE_SIZE, Packing, pack, per_page
from kernel_model.vmlinux import build_vmlinux_btf

__all__ = ["trampoline_bytes", "trampolines_per_page", "member_trampoline_sizes", "page_packing", "pages_needed",
           "resolve_type", "func_model_of", "PAGE_SIZE"]

#: a ``struct bpf_prog`` address as the kernel's are (vmalloc): the trampoline's
#: ``movabs rdi, prog`` takes its 10-byte form, as on a real kernel
_PROG_ADDR = 0xFFFFC90000100000

FuncModelLike = Union[FuncModel, MemberDesc, FuncMemberDecl, str]
TypeLike = Union[StructOpsDesc, StructOpsDecl, str]


@dataclass(frozen=True, slots=True)
class _Prog:
    addr: int = _PROG_ADDR
    bpf_func: int = 0
    sleepable: bool = False  # the sleepable enter/exit calls are the same size


def _profile(profile: str | Profile) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def _cpu(cpu: str | CpuConfig) -> CpuConfig:
    if isinstance(cpu, CpuConfig):
        return cpu
    if cpu == "host":
        from emu.host.hostcpu import resolve_cpu

        return resolve_cpu(cpu)
    return get_cpu(cpu)


@lru_cache(maxsize=8)
def _vmlinux(profile: Profile) -> BTF:
    return build_vmlinux_btf(profile)


_PROTO = re.compile(r"^\s*(?P<ret>.+?)\s*\(\s*\*\s*\)\s*\((?P<args>.*)\)\s*;?\s*$", re.S)
_PROTO_PLAIN = re.compile(r"^\s*(?P<ret>[^()]+?)\s*\((?P<args>[^()]*)\)\s*;?\s*$", re.S)


def func_model_of(model: FuncModelLike, profile: str | Profile = "latest") -> FuncModel:
    """The ``struct btf_func_model`` of a member: given, taken from a registered or
    declared member, or distilled (``btf_distill_func_proto``) from a C prototype
    ``RET (*)(ARGS)`` or ``RET (ARGS)`` whose types the emulated vmlinux knows."""
    if isinstance(model, FuncModel):
        return model
    if isinstance(model, MemberDesc):
        if model.func_model is None:
            raise InputError(f"member {model.name} is not a supported function member")
        return model.func_model
    if isinstance(model, FuncMemberDecl):
        text = f"{model.ret} (*)({model._params(False)})"
    elif isinstance(model, str):
        text = model
    else:
        raise InputError(f"not a function model, member or prototype: {model!r}")
    m = _PROTO.match(text) or _PROTO_PLAIN.match(text)
    if not m:
        raise InputError(f"not a C function prototype (RET (*)(ARGS) or RET (ARGS)): {text!r}")
    base = _vmlinux(_profile(profile))
    btf = parse_c(f"struct __structops_proto {{ {m['ret']} (*f)({m['args'] or 'void'}); }};", base=base,
                  where=f"prototype {text!r}")
    t = btf.type_by_id(btf.find("__structops_proto", S.KIND_STRUCT))  # type: ignore[arg-type]
    assert isinstance(t, Composite)
    ptr = btf.resolve(t.members[0].type_id)
    assert isinstance(ptr, Ptr)
    try:
        return distill_func_proto(btf, btf.skip_modifiers(ptr.type_id), "f")
    except FuncModelError as e:
        raise InputError(f"prototype {text!r}: {e}") from None


def trampoline_bytes(model: FuncModelLike, profile: str | Profile = "latest", *,
                     cpu: str | CpuConfig = DEFAULT_CPU) -> int:
    """Bytes one struct_ops trampoline of ``model`` takes in its page (code +
    ``BPF_INSN_SAFETY``), as ``arch_bpf_trampoline_size`` gives it for ``cpu``."""
    prof = _profile(profile)
    fm = func_model_of(model, prof)
    return X86StructOpsArch(prof, cpu=_cpu(cpu)).size(fm, struct_ops_flags(fm), _Prog())


def trampolines_per_page(model: FuncModelLike, profile: str | Profile = "latest", *,
                         cpu: str | CpuConfig = DEFAULT_CPU) -> int:
    """How many trampolines of ``model`` one 4 KiB image page holds on ``profile``
    and ``cpu`` (e.g. 23 of ``int (*)(int)`` on the default amd-zen2 preset)."""
    return per_page(trampoline_bytes(model, profile, cpu=cpu))


def resolve_type(type_: TypeLike, profile: str | Profile = "latest", *, name: str | None = None) -> StructOpsDesc:
    """A registered type: ``type_`` itself, a declaration registered as a built-in
    type, or C text registered through ``emu.kernel.planner.declare_type`` (``name``
    picks the struct when the text declares several ops structs)."""
    prof = _profile(profile)
    if isinstance(type_, StructOpsDesc):
        return type_
    if isinstance(type_, StructOpsDecl):
        return type_.register(StructOpsRegistry(prof), build_vmlinux_btf(prof))
    if isinstance(type_, str):
        from emu.kernel.planner import declare_type

        return declare_type(type_, prof, name=name)
    raise InputError(f"not a struct_ops type, declaration or C text: {type_!r}")


def member_trampoline_sizes(type_: TypeLike, profile: str | Profile = "latest", *,
                            cpu: str | CpuConfig = DEFAULT_CPU, members: Iterable[str] | None = None,
                            name: str | None = None) -> list[tuple[str, int]]:
    """``(member, bytes)`` in the order the map update walks them: every supported
    function member, or those in ``members`` (the ones that hold programs)."""
    prof = _profile(profile)
    desc = resolve_type(type_, prof, name=name)
    arch = X86StructOpsArch(prof, cpu=_cpu(cpu))
    wanted = None if members is None else set(members)
    if wanted is not None:
        unknown = wanted - {m.name for m in desc.members if m.is_func and m.supported}
        if unknown:
            raise InputError(f"struct {desc.name} has no supported function member "
                             f"{', '.join(sorted(unknown))}")
    out = []
    for m in desc.members:
        if not (m.is_func and m.supported) or (wanted is not None and m.name not in wanted):
            continue
        assert m.func_model is not None
        out.append((m.name, arch.size(m.func_model, struct_ops_flags(m.func_model), _Prog())))
    return out


def page_packing(type_: TypeLike, profile: str | Profile = "latest", *, cpu: str | CpuConfig = DEFAULT_CPU,
                 members: Iterable[str] | None = None, name: str | None = None) -> Packing:
    """Where the map update puts each trampoline, with the profile's page limit:
    ``.pages`` (needed, unlimited), ``.fits`` / ``.errno`` (``E2BIG`` past the limit)."""
    prof = _profile(profile)
    sizes = [s for _, s in member_trampoline_sizes(type_, prof, cpu=cpu, members=members, name=name)]
    return pack(sizes, max_pages=prof.tramp_image_pages)


def pages_needed(type_: TypeLike, profile: str | Profile = "latest", *, cpu: str | CpuConfig = DEFAULT_CPU,
                 members: Iterable[str] | None = None, name: str | None = None) -> int:
    """Image pages a map of ``type_`` needs with a program in every supported
    function member (or in ``members``), whatever the limit; the update fails with
    ``E2BIG`` when this exceeds ``profile.tramp_image_pages``."""
    return page_packing(type_, profile, cpu=cpu, members=members, name=name).pages
