"""Externs: ``.ksyms`` kfuncs and typed kernel symbols; ``.kconfig`` variables.

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

``.kconfig`` (``extern T CONFIG_X __kconfig``, libbpf 1.5/1.8): at open each gets
a size, an alignment and a kind (``find_kcfg_type``: bool, char, int of 1/2/4/8
bytes, ``enum libbpf_tristate``, char array; else ``type is unsupported``), the
externs are sorted (``cmp_externs``: kconfig ones first by descending alignment,
ascending size, name; then ksyms by name), each gets its offset in the
``.kconfig`` internal map (read-only for programs, frozen) and the DATASEC is
rewritten to those offsets. At prepare (``bpf_object__resolve_externs``) the
``CONFIG_*`` values come from the open options' ``kconfig`` text, then from the
machine's configuration (libbpf reads ``/boot/config-$(uname -r)`` or
``/proc/config.gz``; here :attr:`KernelBtf.system_kconfig
<emu.libbpf.kbtf.KernelBtf.system_kconfig>`: the emulated kernel's
:class:`~kernel_model.kconfig.KernelConfig`, or the host's file), line by line as
``bpf_object__process_kconfig_line`` (``y``/``n``/``m``, quoted strings,
integers; the same warnings); ``LINUX_KERNEL_VERSION`` is the kernel's version;
a strong extern left unset is ``-ESRCH``, a weak one is 0.

Typeless ``__ksym`` variables (``extern const void sym __ksym;``) take their address
from the emulated kernel's ``/proc/kallsyms`` (:func:`read_kallsyms`); a strong one it
lacks is refused as not modelled. ``LINUX_HAS_BPF_COOKIE`` and
``LINUX_HAS_SYSCALL_WRAPPER`` are libbpf's feature probes run against the kernel
(:func:`emu.libbpf.kbtf.probe_feature`: the cookie probe loads a program; the
syscall-wrapper probe needs a kprobe, which nothing here creates, so it is 0).
"""

from __future__ import annotations

import errno
from typing import Any

from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.types import Array, Datasec, Enum, Enum64, Func, FuncProto, Int, Param, Var, VarSecinfo

from . import core as corelib
from .elf import SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_NOTYPE
from .errors import LibbpfError
from .kbtf import ModuleBtf

__all__ = ["Extern", "is_extern", "collect_externs", "resolve_externs", "KSYMS_SEC", "KCONFIG_SEC", "EXT_KCFG",
           "EXT_KSYM", "find_kcfg_type", "process_kconfig_line", "check_externs_set"]

KSYMS_SEC, KCONFIG_SEC = ".ksyms", ".kconfig"


#: enum extern_type (libbpf.c)
EXT_KCFG, EXT_KSYM = 1, 2
#: enum kcfg_type (libbpf.c)
KCFG_UNKNOWN, KCFG_CHAR, KCFG_BOOL, KCFG_INT, KCFG_TRISTATE, KCFG_CHAR_ARR = range(6)
#: enum libbpf_tristate (bpf_helpers.h)
TRI_NO, TRI_YES, TRI_MODULE = 0, 1, 2


class Extern:
    """``struct extern_desc``: a ``.ksyms`` extern (kfunc or typed ksym) or, with
    ``type == EXT_KCFG``, a ``.kconfig`` one (``kcfg_*`` fields)."""

    __slots__ = ("name", "sym_idx", "btf_id", "is_weak", "is_func", "type_id", "essent_name", "is_set",
                 "kernel_btf_id", "mod_btf", "btf_fd_idx", "type", "kcfg_sz", "kcfg_align", "kcfg_type",
                 "kcfg_signed", "kcfg_off", "ksym_addr")

    def __init__(self, name: str, sym_idx: int, btf_id: int, is_weak: bool, is_func: bool, type_id: int) -> None:
        self.type = EXT_KSYM
        self.kcfg_sz = self.kcfg_align = self.kcfg_type = self.kcfg_off = 0
        self.kcfg_signed = False
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
        #: a typeless ksym's address from kallsyms (``ext->ksym.addr``)
        self.ksym_addr = 0

    @property
    def is_typeless(self) -> bool:
        """A ``__ksym`` variable of type ``void`` (``ext->ksym.type_id == 0``): resolved
        through kallsyms, not BTF."""
        return self.type == EXT_KSYM and not self.is_func and not self.type_id


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
                       if any(v.type_id == bid for v in st.vars)), None)
        if sec_id is None:
            raise obj._fail(errno.ENOENT, f"failed to find BTF for extern '{sym.name}' [{bid}] section: -2")
        sec_name = btf.type_by_id(sec_id).name
        is_func = isinstance(t, Func)
        if sec_name == KCONFIG_SEC:
            if is_func:
                raise obj._fail(errno.EOPNOTSUPP, f"extern function {t.name} is unsupported under {KCONFIG_SEC} "
                                                   "section")
            ext = Extern(t.name, sym.index, bid, sym.bind == STB_WEAK, False, 0)
            ext.type = EXT_KCFG
            _kcfg_describe(obj, btf, ext, t.type_id)
            obj.externs.append(ext)
            continue
        if sec_name != KSYMS_SEC:
            raise obj._fail(errno.EOPNOTSUPP, f"unrecognized extern section '{sec_name}'")
        type_id = btf.skip_modifiers(t.type_id)
        obj.externs.append(Extern(t.name, sym.index, bid, sym.bind == STB_WEAK, is_func, type_id))
    obj.log.debug(f"collected {len(obj.externs)} externs total")
    # cmp_externs: kconfig before ksyms; kconfig by descending alignment, ascending size; then name
    obj.externs.sort(key=lambda e: (e.type, -e.kcfg_align, e.kcfg_sz, e.name.encode()) if e.type == EXT_KCFG
                     else (e.type, 0, 0, e.name.encode()))
    fixup_ksyms_datasec(obj)
    layout_kconfig(obj)


def find_kcfg_type(btf: BTF, tid: int) -> tuple[int, bool]:
    """``find_kcfg_type``: (kind, is_signed) of an extern's type."""
    t = btf.type_by_id(btf.skip_modifiers(tid))
    if isinstance(t, Int):
        if t.encoding & S.INT_BOOL:
            return (KCFG_BOOL if t.size == 1 else KCFG_UNKNOWN), False
        signed = bool(t.encoding & S.INT_SIGNED)
        if t.size == 1:
            return KCFG_CHAR, signed
        if t.size < 1 or t.size > 8 or t.size & (t.size - 1):
            return KCFG_UNKNOWN, signed
        return KCFG_INT, signed
    if isinstance(t, (Enum, Enum64)):
        if isinstance(t, Enum) and t.size != 4:
            return KCFG_UNKNOWN, False
        return (KCFG_TRISTATE if t.name == "libbpf_tristate" else KCFG_UNKNOWN), False
    if isinstance(t, Array):
        if t.nelems == 0 or find_kcfg_type(btf, t.type_id)[0] != KCFG_CHAR:
            return KCFG_UNKNOWN, False
        return KCFG_CHAR_ARR, False
    return KCFG_UNKNOWN, False


def _kcfg_describe(obj: Any, btf: BTF, ext: Extern, tid: int) -> None:
    """The kconfig half of ``bpf_object__collect_externs``: size, alignment, kind."""
    try:
        ext.kcfg_sz = btf.size_of(tid)
    except Exception:
        ext.kcfg_sz = -errno.EINVAL
    if ext.kcfg_sz <= 0:
        raise obj._fail(errno.EINVAL, f"failed to resolve size of extern (kcfg) '{ext.name}': {ext.kcfg_sz}")
    ext.kcfg_align = btf.align_of(tid)
    if ext.kcfg_align <= 0:
        raise obj._fail(errno.EINVAL, f"failed to determine alignment of extern (kcfg) '{ext.name}': "
                                       f"{ext.kcfg_align}")
    ext.kcfg_type, ext.kcfg_signed = find_kcfg_type(btf, tid)
    if ext.kcfg_type == KCFG_UNKNOWN:
        raise obj._fail(errno.EOPNOTSUPP, f"extern (kcfg) '{ext.name}': type is unsupported")


def layout_kconfig(obj: Any) -> None:
    """Offsets of the kconfig externs in the ``.kconfig`` map (each rounded up to its
    alignment, in sorted order); the DATASEC's size and entries follow, its VARs become
    allocated globals."""
    off = 0
    for i, ext in enumerate(obj.externs):
        if ext.type != EXT_KCFG:
            continue
        ext.kcfg_off = -(-off // ext.kcfg_align) * ext.kcfg_align
        off = ext.kcfg_off + ext.kcfg_sz
        obj.log.debug(f"extern (kcfg) #{i}: symbol {ext.sym_idx}, off {ext.kcfg_off}, name {ext.name}")
    obj.kconfig_size = off
    btf = obj.btf
    sec_id = btf.find(KCONFIG_SEC, S.KIND_DATASEC) if btf is not None else None
    if sec_id is None:
        return
    sec = btf.type_by_id(sec_id)
    assert isinstance(sec, Datasec)
    new_vars = []
    for vs in sec.vars:
        vt = btf.type_by_id(vs.type_id)
        ext = next((e for e in obj.externs if e.name == vt.name), None)
        if ext is None:
            raise obj._fail(errno.ESRCH, f"failed to find extern definition for BTF var '{vt.name}'")
        btf.replace(vs.type_id, Var(vt.name, vt.type_id, S.VAR_GLOBAL_ALLOCATED))
        new_vars.append(VarSecinfo(vs.type_id, ext.kcfg_off, vs.size))
    btf.replace(sec_id, Datasec(sec.name, off, tuple(new_vars)))


# --- kconfig values: bpf_object__process_kconfig_line and the set_kcfg_value_* family -----------------

def _in_range(ext: Extern, v: int) -> bool:
    """``is_kcfg_value_in_range`` (v is the u64 strtoull gave)."""
    bits = ext.kcfg_sz * 8
    if ext.kcfg_sz == 8:
        return True
    if ext.kcfg_signed:
        return ((v + (1 << (bits - 1))) & ((1 << 64) - 1)) < (1 << bits)
    return (v >> bits) == 0


def _store(obj: Any, ext: Extern, data: bytearray, raw: bytes) -> None:
    data[ext.kcfg_off:ext.kcfg_off + len(raw)] = raw
    ext.is_set = True


def _set_tri(obj: Any, ext: Extern, data: bytearray, value: str) -> None:
    if ext.kcfg_type == KCFG_BOOL:
        if value == "m":
            raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': value '{value}' implies tristate or "
                                           "char type")
        _store(obj, ext, data, bytes([value == "y"]))
    elif ext.kcfg_type == KCFG_TRISTATE:
        _store(obj, ext, data, {"y": TRI_YES, "m": TRI_MODULE}.get(value, TRI_NO).to_bytes(ext.kcfg_sz, "little"))
    elif ext.kcfg_type == KCFG_CHAR:
        _store(obj, ext, data, value.encode())
    else:
        raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': value '{value}' implies bool, tristate, or "
                                       "char type")


def _set_str(obj: Any, ext: Extern, data: bytearray, value: str) -> None:
    if ext.kcfg_type != KCFG_CHAR_ARR:
        raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': value '{value}' implies char array type")
    if len(value) < 2 or not value.endswith('"'):
        raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': invalid string config '{value}'")
    body = value[1:-1].encode()
    if len(body) >= ext.kcfg_sz:
        obj.log.warn(f"extern (kcfg) '{ext.name}': long string '{value}' of ({len(body)} bytes) truncated to "
                     f"{ext.kcfg_sz - 1} bytes")
        body = body[:ext.kcfg_sz - 1]
    _store(obj, ext, data, body + b"\0")


def set_kcfg_value_num(obj: Any, ext: Extern, data: bytearray, value: int) -> None:
    """``set_kcfg_value_num``."""
    if ext.kcfg_type not in (KCFG_INT, KCFG_CHAR, KCFG_BOOL):
        raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': value '{value}' implies integer, char, or "
                                       "boolean type")
    if ext.kcfg_type == KCFG_BOOL and value > 1:
        raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': value '{value}' isn't boolean compatible")
    if not _in_range(ext, value):
        raise obj._fail(errno.ERANGE, f"extern (kcfg) '{ext.name}': value '{value}' doesn't fit in "
                                       f"{ext.kcfg_sz} bytes")
    _store(obj, ext, data, (value & ((1 << (8 * ext.kcfg_sz)) - 1)).to_bytes(ext.kcfg_sz, "little"))


def _strtoull(text: str) -> int | None:
    """``strtoull(value, &end, 0)`` consuming all of ``text``: 0x.. hex, 0.. octal,
    decimal, an optional sign (a negative value wraps to u64 as in C)."""
    t = text.strip(" \t")
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    try:
        if t[:2].lower() == "0x":
            v = int(t[2:], 16)
        elif len(t) > 1 and t.startswith("0"):
            v = int(t[1:], 8)
        else:
            v = int(t, 10)
    except ValueError:
        return None
    if v >= 1 << 64:
        return None
    return (sign * v) & ((1 << 64) - 1)


def process_kconfig_line(obj: Any, line: str, data: bytearray) -> None:
    """``bpf_object__process_kconfig_line``: set the extern a ``CONFIG_X=value`` line names."""
    if not line.startswith("CONFIG_"):
        return
    line = line[:-1] if line.endswith("\n") else line
    name, sep, value = line.partition("=")
    if not sep:
        raise obj._fail(errno.EINVAL, f"failed to parse '{line}': no separator")
    if not value:
        raise obj._fail(errno.EINVAL, f"failed to parse '{line}': no value")
    ext = next((e for e in obj.externs if e.type == EXT_KCFG and e.name == name), None)
    if ext is None or ext.is_set:
        return
    if value[0] in "ynm":
        _set_tri(obj, ext, data, value[0])
    elif value[0] == '"':
        _set_str(obj, ext, data, value)
    else:
        num = _strtoull(value)
        if num is None:
            obj.log.warn(f"failed to parse '{value}' as integer completely")
            raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': value '{value}' isn't a valid integer")
        if ext.kcfg_type not in (KCFG_INT, KCFG_CHAR):
            raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': value '{value}' implies integer type")
        set_kcfg_value_num(obj, ext, data, num)
    obj.log.debug(f"extern (kcfg) '{ext.name}': set to {value}")


def _read_kconfig(obj: Any, text: str, data: bytearray, what: str) -> None:
    """``bpf_object__read_kconfig_mem`` / ``_file``: every line, stopping at an error."""
    for line in text.splitlines():
        try:
            process_kconfig_line(obj, line, data)
        except LibbpfError as e:
            obj.log.warn(f"error parsing {what} Kconfig line '{line}': {-e.errno}")
            raise LibbpfError(errno.EINVAL, f"error parsing {what} Kconfig line '{line}': {-e.errno}") from None


#: the virtual kconfig externs libbpf fills from a feature probe (libbpf.c, 1.5-1.8)
_FEATURE_EXTERNS: dict[str, str] = {"LINUX_HAS_BPF_COOKIE": "BPF_COOKIE",
                                    "LINUX_HAS_SYSCALL_WRAPPER": "SYSCALL_WRAPPER"}


def resolve_kconfig(obj: Any) -> None:
    """The kconfig half of ``bpf_object__resolve_externs``."""
    kcfg = [e for e in obj.externs if e.type == EXT_KCFG]
    if not kcfg:
        return
    m = obj.maps[obj.kconfig_map_idx]
    data = m.mmaped
    need_config = False
    for ext in kcfg:
        if ext.name.startswith("CONFIG_"):
            need_config = True
            continue
        if ext.name == "LINUX_KERNEL_VERSION":
            value = obj.kernel_btf.kernel_version() if obj.kernel_btf is not None else 0
            if not value:
                raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': failed to get kernel version")
        elif ext.name in _FEATURE_EXTERNS:
            # bpf_object__resolve_externs: kernel_supports(obj, FEAT_BPF_COOKIE / _SYSCALL_WRAPPER)
            kb = obj.kernel_btf
            value = int(kb.kernel_supports(_FEATURE_EXTERNS[ext.name])) if kb is not None else 0
        elif not ext.name.startswith("LINUX_") or not ext.is_weak:
            raise obj._fail(errno.EINVAL, f"extern (kcfg) '{ext.name}': unrecognized virtual extern")
        else:
            value = 0  # a weak LINUX_* extern libbpf does not know (the feature probes are not modelled)
        set_kcfg_value_num(obj, ext, data, value)
        obj.log.debug(f"extern (kcfg) '{ext.name}': set to {value:#x}")
    if need_config and obj.extra_kconfig is not None:
        _read_kconfig(obj, obj.extra_kconfig, data, "in-memory")
        need_config = any(not e.is_set for e in kcfg)
    if need_config:
        text = obj.kernel_btf.system_kconfig() if obj.kernel_btf is not None else None
        if text is None:
            obj.log.warn("failed to open system Kconfig")
            raise LibbpfError(errno.EINVAL, "failed to open system Kconfig")
        _read_kconfig(obj, text, data, "system")


def check_externs_set(obj: Any) -> None:
    """The end of ``bpf_object__resolve_externs``: a strong extern must be resolved."""
    for ext in obj.externs:
        if not ext.is_set and not ext.is_weak:
            obj.log.warn(f"extern '{ext.name}' (strong): not resolved")
            raise LibbpfError(errno.ESRCH, f"extern '{ext.name}' (strong): not resolved")
        if not ext.is_set:
            obj.log.debug(f"extern '{ext.name}' (weak): not resolved, defaulting to zero")


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
    int_id = next((i for i, t in btf.iter_types(S.KIND_INT) if t.size == 4), 0)
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


def read_kallsyms(obj: Any, text: str | None) -> None:
    """``bpf_object__read_kallsyms_file`` (libbpf 1.5+, through ``libbpf_kallsyms_parse``):
    every ``/proc/kallsyms`` line ``ADDR TYPE NAME [MODULE]`` whose name is a typeless
    ``__ksym`` extern sets its address (the first time; a second, different address is
    ``resolution is ambiguous``). The text is the emulated kernel's kallsyms, never the
    host's: a strong typeless extern it lacks is reported as not modelled (a real
    kernel has far more symbols than the emulated one)."""
    if text is None:
        obj.log.warn("failed to open /proc/kallsyms: -2")
        raise LibbpfError(errno.EINVAL, "typeless ksyms need /proc/kallsyms, which is not modelled here")
    by_name = {e.name: e for e in obj.externs if e.is_typeless}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        ext = by_name.get(parts[2])
        if ext is None:
            continue
        addr = int(parts[0], 16)
        if ext.is_set and ext.ksym_addr != addr:
            obj.log.warn(f"extern (ksym) '{ext.name}': resolution is ambiguous: 0x{ext.ksym_addr:x} or 0x{addr:x}")
            raise LibbpfError(errno.EINVAL, f"extern (ksym) '{ext.name}': resolution is ambiguous")
        if not ext.is_set:
            ext.is_set = True
            ext.ksym_addr = addr
            obj.log.debug(f"extern (ksym) '{ext.name}': set to 0x{addr:x}")
    for ext in by_name.values():
        if not ext.is_set and not ext.is_weak:
            obj.log.warn(f"extern '{ext.name}' (strong): not resolved")
            raise LibbpfError(errno.ESRCH, f"extern '{ext.name}' (strong): not resolved: the emulated kernel's "
                                           "kallsyms has no such symbol (kernel symbols are not modelled)")


def resolve_externs(obj: Any) -> None:
    """``bpf_object__resolve_externs``: the kconfig values, then
    ``bpf_object__resolve_ksyms_btf_id``."""
    kb = obj.kernel_btf
    assert kb is not None
    btf = obj.btf
    resolve_kconfig(obj)
    if any(e.is_typeless for e in obj.externs):
        read_kallsyms(obj, kb.proc_kallsyms())
    for ext in obj.externs:
        if ext.type == EXT_KCFG or ext.is_typeless:
            continue
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
            ok = corelib.types_are_compat(btf, ext.type_id, kbtf, kt.type_id)
            if ok <= 0:
                if ext.is_weak:
                    continue
                msg = (f"extern (func ksym) '{ext.name}': func_proto [{ext.type_id}] incompatible with "
                       f"{mod.name if mod else 'vmlinux'} [{kt.type_id}]")
                obj.log.warn(msg)
                raise LibbpfError(errno.EINVAL, msg)
            if mod is not None and not mod.fd_array_idx:
                if not obj.fd_array:
                    obj.fd_array.append(None)  # index 0 cannot hold a module BTF fd
                mod.fd_array_idx = len(obj.fd_array)
                obj.fd_array.append(mod)
            ext.btf_fd_idx = mod.fd_array_idx if mod else 0
        else:
            ktid = kbtf.skip_modifiers(kt.type_id)
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
    check_externs_set(obj)
