"""Externs: ``.ksyms`` kfuncs and typed kernel symbols.

Models ``bpf_object__collect_externs`` (open) and
``bpf_object__resolve_ksyms_btf_id`` with ``bpf_object__resolve_ksym_func_btf_id``
/ ``_var_btf_id`` (prepare) of ``src/libbpf.c`` (libbpf 1.8):

* an extern is an undefined ``NOTYPE`` symbol, global or weak; its BTF is the
  ``FUNC`` (extern linkage) or ``VAR`` of that name, in the ``.ksyms`` DATASEC;
* at open, the ``.ksyms`` DATASEC is rewritten so the kernel accepts the BTF:
  each extern function's entry becomes a ``dummy_ksym`` int VAR (the FUNC gets
  GLOBAL linkage and unnamed parameters the dummy's name), each extern
  variable an allocated int, 4 bytes apart;
* at prepare, a kfunc is looked up by its flavor-less name (vmlinux first,
  then each module's own types), its prototype checked with
  ``bpf_core_types_are_compat`` (``func_proto [%d] incompatible with %s [%d]``);
  a module kfunc gets a slot in ``fd_array`` (never 0) that the call's ``off``
  names; a weak extern that is not found stays unset (its calls are poisoned).

Not modelled: ``.kconfig`` externs and typeless ``__ksym`` variables (those
need ``/proc/kallsyms``): both are refused with a message saying so.
"""

from __future__ import annotations

import errno
from typing import Any

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.types import Datasec, Func, FuncProto, Param, Var, VarSecinfo

from . import core as corelib
from .elf import SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_NOTYPE
from .errors import LibbpfError
from .kbtf import ModuleBtf

__all__ = ["Extern", "is_extern", "collect_externs", "resolve_externs", "KSYMS_SEC", "KCONFIG_SEC"]

KSYMS_SEC, KCONFIG_SEC = ".ksyms", ".kconfig"


class Extern:
    """``struct extern_desc`` for a ``.ksyms`` extern (kfunc or typed ksym)."""

    __slots__ = ("name", "sym_idx", "btf_id", "is_weak", "is_func", "type_id", "essent_name", "is_set",
                 "kernel_btf_id", "mod_btf", "btf_fd_idx")

    def __init__(self, name: str, sym_idx: int, btf_id: int, is_weak: bool, is_func: bool, type_id: int) -> None:
        self.name = name
        self.sym_idx = sym_idx
        self.btf_id = btf_id
        self.is_weak = is_weak
        self.is_func = is_func
        self.type_id = type_id
        ess = corelib.essential_name(name)
        self.essent_name = ess if ess != name else None
        self.is_set = False
        self.kernel_btf_id = 0
        self.mod_btf: ModuleBtf | None = None
        self.btf_fd_idx = 0


def is_extern(sym: Any) -> bool:
    """``sym_is_extern``: NOTYPE, GLOBAL or WEAK, undefined section."""
    return sym.shndx == SHN_UNDEF and sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_NOTYPE and sym.index


def find_extern_btf_id(btf: BTF, name: str) -> int:
    """``find_extern_btf_id``: the VAR or FUNC named ``name`` (must be extern)."""
    for i, t in btf.iter_types():
        if not isinstance(t, (Var, Func)) or t.name != name:
            continue
        if isinstance(t, Var) and t.linkage != S.VAR_GLOBAL_EXTERN:
            return -errno.EINVAL
        if isinstance(t, Func) and t.linkage != S.FUNC_EXTERN:
            return -errno.EINVAL
        return i
    return -errno.ENOENT


def collect_externs(obj: Any) -> None:
    """``bpf_object__collect_externs`` for ``.ksyms`` (``.kconfig`` is not modelled)."""
    btf = obj.btf
    syms = [s for s in obj.elf.symbols if is_extern(s) and s.name]
    if not syms:
        return
    if btf is None:
        raise obj._fail(errno.ESRCH, f"failed to find BTF for extern '{syms[0].name}': -3")
    obj.log.debug(f"looking for externs among {len(obj.elf.symbols)} symbols...")
    for sym in syms:
        bid = find_extern_btf_id(btf, sym.name)
        if bid <= 0:
            raise obj._fail(bid or errno.ENOENT, f"failed to find BTF for extern '{sym.name}': {bid}")
        t = btf.type_by_id(bid)
        sec_id = next((i for i, st in btf.iter_types(S.KIND_DATASEC)
                       if any(v.type_id == bid for v in st.vars)), None)  # type: ignore[attr-defined]
        if sec_id is None:
            raise obj._fail(errno.ENOENT, f"failed to find BTF for extern '{sym.name}' [{bid}] section: -2")
        sec_name = btf.type_by_id(sec_id).name
        if sec_name == KCONFIG_SEC:
            raise obj._fail(errno.EOPNOTSUPP, f"extern (kcfg) '{sym.name}': __kconfig externs are not "
                                               "modelled by structops-emu")
        if sec_name != KSYMS_SEC:
            raise obj._fail(errno.EOPNOTSUPP, f"unrecognized extern section '{sec_name}'")
        is_func = isinstance(t, Func)
        type_id = btf.skip_modifiers(t.type_id)  # type: ignore[attr-defined]
        obj.externs.append(Extern(t.name, sym.index, bid, sym.bind == STB_WEAK, is_func, type_id))
    obj.log.debug(f"collected {len(obj.externs)} externs total")
    fixup_ksyms_datasec(obj)


def fixup_ksyms_datasec(obj: Any) -> None:
    """The ``.ksyms`` DATASEC rewrite of ``bpf_object__collect_externs``: extern
    functions become a ``dummy_ksym`` int VAR (and get GLOBAL linkage, unnamed
    parameters the dummy's name), extern variables become allocated ints;
    entries are 4 bytes apart. The kernel accepts the BTF only in this form."""
    btf = obj.btf
    assert btf is not None
    sec_id = btf.find(KSYMS_SEC, S.KIND_DATASEC)
    if sec_id is None:
        return
    sec = btf.type_by_id(sec_id)
    assert isinstance(sec, Datasec)
    int_id = next((i for i, t in btf.iter_types(S.KIND_INT) if t.size == 4), 0)  # type: ignore[attr-defined]
    dummy_id = 0
    if any(isinstance(btf.type_by_id(v.type_id), Func) for v in sec.vars):
        dummy_id = btf.add(Var("dummy_ksym", int_id, S.VAR_GLOBAL_ALLOCATED))
    new_vars = []
    for i, vs in enumerate(sec.vars):
        vt = btf.type_by_id(vs.type_id)
        ext = next((e for e in obj.externs if e.name == vt.name), None)
        if ext is None:
            raise obj._fail(errno.ESRCH, f"failed to find extern definition for BTF "
                                          f"{vt.kind_name.lower()} '{vt.name}'")
        off = 4 * i
        if isinstance(vt, Func):
            proto = btf.type_by_id(vt.type_id)
            if isinstance(proto, FuncProto) and any(p.type_id and not p.name for p in proto.params):
                btf.replace(vt.type_id, FuncProto(proto.ret_type_id, tuple(
                    Param(p.name or ("dummy_ksym" if p.type_id else ""), p.type_id) for p in proto.params)))
            btf.replace(vs.type_id, Func(vt.name, vt.type_id, S.FUNC_GLOBAL))
            new_vars.append(VarSecinfo(dummy_id, off, 4))
        else:
            assert isinstance(vt, Var)
            btf.replace(vs.type_id, Var(vt.name, int_id, S.VAR_GLOBAL_ALLOCATED))
            new_vars.append(VarSecinfo(vs.type_id, off, 4))
    btf.replace(sec_id, Datasec(sec.name, 4 * len(sec.vars), tuple(new_vars)))


def resolve_externs(obj: Any) -> None:
    """``bpf_object__resolve_externs`` -> ``bpf_object__resolve_ksyms_btf_id``."""
    kb = obj.kernel_btf
    assert kb is not None
    btf = obj.btf
    for ext in obj.externs:
        name = ext.essent_name or ext.name
        kind = S.KIND_FUNC if ext.is_func else S.KIND_VAR
        try:
            kid, kbtf, mod = kb.find_ksym(name, kind)
        except LibbpfError:
            if ext.is_weak:
                continue
            what = "func ksym" if ext.is_func else "var ksym"
            where = "not found in kernel or module BTFs" if ext.is_func else "not found in kernel BTF"
            obj.log.warn(f"extern ({what}) '{ext.name}': {where}")
            raise LibbpfError(errno.EINVAL, f"extern ({what}) '{ext.name}': {where}") from None
        kt = kbtf.type_by_id(kid)
        assert btf is not None
        if ext.is_func:
            ok = corelib.types_are_compat(btf, ext.type_id, kbtf, kt.type_id)  # type: ignore[attr-defined]
            if ok <= 0:
                if ext.is_weak:
                    continue
                msg = (f"extern (func ksym) '{ext.name}': func_proto [{ext.type_id}] incompatible with "
                       f"{mod.name if mod else 'vmlinux'} [{kt.type_id}]")  # type: ignore[attr-defined]
                obj.log.warn(msg)
                raise LibbpfError(errno.EINVAL, msg)
            if mod is not None and not mod.fd_array_idx:
                if not obj.fd_array:
                    obj.fd_array.append(None)  # index 0 cannot hold a module BTF fd
                mod.fd_array_idx = len(obj.fd_array)
                obj.fd_array.append(mod)
            ext.btf_fd_idx = mod.fd_array_idx if mod else 0
        else:
            ktid = kbtf.skip_modifiers(kt.type_id)  # type: ignore[attr-defined]
            if corelib.types_are_compat(btf, ext.type_id, kbtf, ktid) <= 0:
                lt, tt = btf.type_by_id(ext.type_id), kbtf.type_by_id(ktid)
                msg = (f"extern (var ksym) '{ext.name}': incompatible types, expected [{ext.type_id}] "
                       f"{corelib._kind_str(lt)} {lt.name}, but kernel has [{ktid}] {corelib._kind_str(tt)} "
                       f"{tt.name}")
                obj.log.warn(msg)
                raise LibbpfError(errno.EINVAL, msg)
        ext.is_set = True
        ext.kernel_btf_id = kid
        ext.mod_btf = mod
        obj.log.debug(f"extern ({'func' if ext.is_func else 'var'} ksym) '{ext.name}': resolved to "
                       f"{mod.name if mod else 'vmlinux'} [{kid}]")
