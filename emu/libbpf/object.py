"""``BpfObject``: open, prepare, load, attach, close -- libbpf's object life cycle.

Models ``struct bpf_object`` and ``bpf_object_open`` / ``bpf_object_prepare``
/ ``bpf_object_load`` of ``src/libbpf.c`` (libbpf 1.8), step for step:

open
    ``elf_collect`` (sections, programs -- global ``STT_FUNC`` symbols of
    executable sections, static ones only in ``.text`` -- license, ``.BTF``,
    ``.BTF.ext``, data sections, relocation sections), ``collect_externs``
    (``.ksyms``), ``bpf_object_fixup_btf`` (DATASEC sizes and variable offsets
    from the ELF), ``init_maps`` (``.maps``, global data, struct_ops last),
    ``init_progs`` (program types from section names), ``collect_relos``.
prepare (user space)
    vmlinux BTF, externs (kfuncs by BTF), ``init_kern_struct_ops`` for every
    autocreate struct_ops map, ``adjust_struct_ops_autoload``, ``relocate``
    (CO-RE, subprogram calls, data references, .BTF.ext records).
prepare (kernel)
    ``BPF_BTF_LOAD`` of the object's BTF (mandatory with struct_ops), then
    ``BPF_MAP_CREATE`` for every autocreate map (struct_ops maps before any
    program), global data written and ``.rodata`` frozen.
load
    ``BPF_PROG_LOAD`` of every autoload entry program (a STRUCT_OPS program no
    created map references fails first: ``SEC("struct_ops") program isn't
    referenced anywhere, did you forget to use it?``), with libbpf's retry at
    log level 1 for the log and its log fix-ups; then each struct_ops map's
    ``kern_vdata`` gets the program fds. No map update happens at load: the
    value reaches the kernel at attach (:mod:`emu.libbpf.link`).

Failures print libbpf's ``libbpf: `` lines on :attr:`BpfObject.log` and raise
:class:`~emu.libbpf.errors.LibbpfError` (or :class:`ObjectFormatError` for a
malformed file). A load-phase failure adds ``failed to load object '%s'``; a
prepare-phase failure does not (libbpf returns before that line).

The kernel is reached only through the bpf() methods of
:class:`emu.libbpf.sys.BpfSys` (the emulated :class:`emu.kernel.Kernel` or
:class:`emu.host.hostsys.HostSys`).
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from typing import Any, Iterator

from kernel_model.bpf_facts.enums import MAP_TYPES
from kernel_model.bpf_map import MAP_TYPE_ARRAY
from kernel_model.btf import BTF
from kernel_model.btf import structs as S
from kernel_model.btf.errors import BTFError
from kernel_model.btf.types import Datasec, Func, Struct, Var, VarSecinfo
from kernel_model.errors import KernelError, NotModelled
from kernel_model.insn import Insn, encode
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.uapi import BPF_F_VTYPE_BTF_OBJ_FD

from . import core as corelib
from . import externs, reloc
from .btf_ext import BtfExt, BtfExtError
from .elf import (
    SHF_EXECINSTR, SHT_LLVM_ADDRSIG, SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB, STB_GLOBAL,
    STB_LOCAL, STB_WEAK, STT_FUNC, STT_OBJECT, STV_HIDDEN, STV_INTERNAL, ElfObject, Section,
)
from .errors import LibbpfError, ObjectFormatError, ProgLoadFailed, errstr
from .externs import EXT_KCFG, KCONFIG_SEC, KSYMS_SEC, Extern, is_extern
from .kbtf import KernelBtf, ModuleBtf
from .log import Log
from .maps import NO_BTF_MAP_TYPES, possible_cpus
from .maps import MAP_IN_MAP_TYPES as _MAP_IN_MAP_TYPES
from .maps import (
    BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, LIBBPF_MAP_BSS, LIBBPF_MAP_DATA, LIBBPF_MAP_KCONFIG, LIBBPF_MAP_RODATA,
    LIBBPF_MAP_UNSPEC,
    BpfMap, datasec_has_global_var, internal_map_name, parse_btf_map_def,
)
from .program import (
    BPF_F_SLEEPABLE, BPF_INSN_SZ, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, RELO_CORE, BpfProgram, find_sec_def, s32,
)
from .reloc import POISON_CALL_KFUNC_BASE, POISON_LDIMM64_MAP_BASE
from .struct_ops import (
    STRUCT_OPS_SECS, Shadow, adjust_struct_ops_autoload, init_kern_struct_ops, init_struct_ops_maps, prepare_vdata,
)

__all__ = ["BpfObject", "Extern", "ProgVerdict", "open_object", "fixup_verifier_log"]

MAPS_SEC, BTF_SEC, BTF_EXT_SEC = ".maps", ".BTF", ".BTF.ext"
_DWARF = (".debug_",)
#: log buffer libbpf allocates for the retry (BPF_LOG_BUF_SIZE = UINT32_MAX >> 8)
BPF_LOG_BUF_SIZE = (2**32 - 1) >> 8

#: BPF_TRACE_RAW_TP (enum bpf_attach_type): ``tp_btf`` programs
_BPF_TRACE_RAW_TP = 23
_BPF_TRACE_ITER = 28


@dataclass(frozen=True, slots=True)
class ProgVerdict:
    """One program's BPF_PROG_LOAD outcome (:meth:`BpfObject.verify_programs`)."""

    name: str
    accepted: bool
    errno: int
    log: str
    last_line: str


class BpfObject:
    """A BPF ELF object through its life cycle (see the module docstring).

    Accessible attributes: ``path``, ``name`` (basename up to the first ``.``,
    at most 15 characters, as libbpf keeps it), ``file_name`` (the same, not
    cut: what messages say), ``license``, ``btf`` (the object's BTF after
    libbpf's fix-ups), ``btf_ext``, ``programs`` (all, subprograms included),
    ``maps``, ``struct_ops`` (map name -> :class:`Shadow`), ``progs`` (entry
    programs by name), ``log``, ``state``, ``kernel_btf``.
    """

    OPEN, PREPARED_USER, PREPARED, LOADED, CLOSED = range(5)

    def __init__(self, data: bytes, path: str = "<memory>", *, name: str | None = None, log: Log | None = None,
                 kconfig: str | None = None) -> None:
        self.path = path
        #: bpf_object_open_opts.kconfig: CONFIG_X=value lines read before the machine's configuration
        self.extra_kconfig = kconfig
        #: the .kconfig map: its index in maps (-1: none) and the size of the externs' data
        self.kconfig_map_idx = -1
        self.kconfig_size = 0
        self.log = log if log is not None else Log()
        if name is None:
            name = os.path.basename(path).split(".", 1)[0]
        #: the object's name as messages give it (the file's base name up to its first '.')
        self.file_name = name
        #: libbpf's obj->name: at most BPF_OBJ_NAME_LEN - 1 characters (used in internal map names)
        self.name = name[:15]
        self.license = ""
        self.kern_version = 0
        self.btf: BTF | None = None
        self.btf_ext: BtfExt | None = None
        self.programs: list[BpfProgram] = []
        self.maps: list[BpfMap] = []
        self.externs: list[Extern] = []
        self.fd_array: list[ModuleBtf | None] = []
        self.kernel_btf: KernelBtf | None = None
        self.btf_fd = -1
        self.state = self.OPEN
        self.sys: Any = None
        self.text_shndx = 0
        self.btf_maps_shndx = -1
        self.has_st_ops = False
        self._secs: dict[int, str] = {}           # sec index -> SEC_DATA / SEC_RODATA / SEC_BSS / SEC_ST_OPS / SEC_RELO
        self._ext_secs: dict[str, dict[int, int]] = {}
        self.elf = ElfObject(data, path)
        self._open()

    # --- public accessors --------------------------------------------------------------------
    @classmethod
    def open_file(cls, path: str, *, log: Log | None = None, kconfig: str | None = None) -> BpfObject:
        """``bpf_object__open_file``."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            # unreadable: bad input (exit 2), with libbpf's errno kept on the error
            raise ObjectFormatError(f"elf: failed to open: {e.strerror or e} ({errstr(e.errno or errno.ENOENT)})",
                                    str(path), errno=e.errno or errno.ENOENT) from None
        return cls(data, path, log=log, kconfig=kconfig)

    @property
    def progs(self) -> dict[str, BpfProgram]:
        """Entry programs by name (``bpf_object__find_program_by_name``, subprograms excluded)."""
        return {p.name: p for p in self.programs if not p.is_subprog}

    @property
    def map_by_name(self) -> dict[str, BpfMap]:
        return {m.name: m for m in self.maps}

    @property
    def struct_ops(self) -> dict[str, Shadow]:
        """``skel->struct_ops``: a :class:`Shadow` per struct_ops map."""
        return {m.name: Shadow(m) for m in self.maps if m.st_ops is not None}

    def find_program(self, name: str) -> BpfProgram:
        p = self.progs.get(name)
        if p is None:
            raise LibbpfError(errno.ENOENT, f"object '{self.file_name}': no program '{name}' "
                                            f"(programs: {', '.join(self.progs) or 'none'})")
        return p

    def find_map(self, name: str) -> BpfMap:
        m = self.map_by_name.get(name)
        if m is None:
            raise LibbpfError(errno.ENOENT, f"object '{self.file_name}': no map '{name}' "
                                            f"(maps: {', '.join(self.map_by_name) or 'none'})")
        return m

    def set_global(self, name: str, value: int | bytes) -> None:
        """What a skeleton's ``skel->rodata->name = value`` (or ``->data``/``->bss``) does
        before ``load``: write a global variable's initial bytes into its internal map's
        image (an int is stored little-endian in the variable's size). ``-EBUSY`` once the
        object is prepared (libbpf then holds ``.rodata`` frozen), ``-ENOENT`` for a name
        no global-data section's BTF DATASEC holds, ``-EINVAL`` for a value that does not fit."""
        self._check_not_prepared(f"global variable '{name}'")
        for m in self.maps:
            if m.libbpf_type not in (LIBBPF_MAP_DATA, LIBBPF_MAP_RODATA, LIBBPF_MAP_BSS) or self.btf is None \
                    or not m.btf_value_type_id:
                continue
            ds = self.btf.type_by_id(m.btf_value_type_id)
            for vs in getattr(ds, "vars", ()):
                if self.btf.type_by_id(vs.type_id).name != name:
                    continue
                if isinstance(value, int):
                    if not -(1 << (8 * vs.size - 1)) <= value < 1 << (8 * vs.size):
                        raise LibbpfError(errno.EINVAL, f"global variable '{name}': {value} does not fit "
                                                        f"in {vs.size} bytes")
                    data = (value & ((1 << (8 * vs.size)) - 1)).to_bytes(vs.size, "little")
                else:
                    data = bytes(value)
                    if len(data) != vs.size:
                        raise LibbpfError(errno.EINVAL, f"global variable '{name}' is {vs.size} bytes, "
                                                        f"not {len(data)}")
                m.mmaped[vs.offset:vs.offset + vs.size] = data
                return
        raise LibbpfError(errno.ENOENT, f"object '{self.file_name}': no global variable '{name}'")

    def _check_not_loaded(self, what: str, err: int = errno.EBUSY) -> None:
        if self.state >= self.LOADED:
            raise LibbpfError(err, f"{what}: object '{self.file_name}' is already loaded")

    def _check_not_prepared(self, what: str) -> None:
        if self.state >= self.PREPARED_USER:
            raise LibbpfError(errno.EBUSY, f"{what}: object '{self.file_name}' is already prepared")

    def _fail(self, err: int, text: str) -> LibbpfError:
        self.log.warn(text)
        return LibbpfError(err, text)

    # ==========================================================================================
    # open
    # ==========================================================================================
    def _open(self) -> None:
        self.log.debug(f"loading object from {self.path}")
        self._elf_collect()
        externs.collect_externs(self)
        self._fixup_btf()
        self._init_maps()
        self._init_progs()
        reloc.collect_relos(self)

    @staticmethod
    def _ignore_section(s: Section) -> bool:
        """``ignore_elf_section``."""
        if s.type in (SHT_STRTAB, SHT_LLVM_ADDRSIG):
            return True
        if s.type == SHT_PROGBITS and s.size == 0 and s.name == ".text":
            return True
        name = s.name
        if name.startswith(_DWARF):
            return True
        if name.startswith(".rel"):
            rest = name[4:]
            if rest.startswith(_DWARF) or rest in (BTF_SEC, BTF_EXT_SEC):
                return True
        return False

    def _elf_collect(self) -> None:
        """``bpf_object__elf_collect``."""
        elf = self.elf
        btf_data: Section | None = None
        btf_ext_data: Section | None = None
        for s in elf.iter_sections():
            if self._ignore_section(s):
                continue
            name = s.name
            self.log.debug(f"elf: section({s.index}) {name}, size {s.size}, link {s.link}, flags {s.flags:x}, "
                           f"type={s.type}")
            if name == "license":
                self.license = s.data[:63].split(b"\0", 1)[0].decode("latin-1")
                self.log.debug(f"license of {self.path} is {self.license}")
            elif name == "version":
                if len(s.data) != 4:
                    self.log.warn(f"invalid kver section in {self.path}")
                    raise elf.error(f"invalid kver section in {self.path}: {len(s.data)} bytes, not 4", s)
                self.kern_version = struct.unpack("<I", s.data)[0]
            elif name == "maps":
                raise self._fail(errno.EOPNOTSUPP, "elf: legacy map definitions in 'maps' section are not "
                                                   "supported by libbpf v1.0+")
            elif name == MAPS_SEC:
                self.btf_maps_shndx = s.index
            elif name == BTF_SEC:
                if s.type != SHT_PROGBITS:
                    raise elf.error(".BTF is not SHT_PROGBITS", s)
                btf_data = s
            elif name == BTF_EXT_SEC:
                if s.type != SHT_PROGBITS:
                    raise elf.error(".BTF.ext is not SHT_PROGBITS", s)
                btf_ext_data = s
            elif s.type == SHT_SYMTAB:
                pass
            elif s.type == SHT_PROGBITS and s.size > 0:
                if s.flags & SHF_EXECINSTR:
                    if name == ".text":
                        self.text_shndx = s.index
                    self._add_programs(s)
                elif name == ".data" or name.startswith(".data."):
                    self._secs[s.index] = "data"
                elif name == ".rodata" or name.startswith(".rodata."):
                    self._secs[s.index] = "rodata"
                elif name in STRUCT_OPS_SECS:
                    self._secs[s.index] = "st_ops"
                    self.has_st_ops = True
                else:
                    self.log.info(f"elf: skipping unrecognized data section({s.index}) {name}")
            elif s.type == SHT_REL:
                targ = s.info
                if s.entsize != 16:
                    raise elf.error(f"relocation entries are {s.entsize} bytes, not 16 (sizeof(Elf64_Rel))", s)
                if targ == 0 or targ >= len(elf.sections) + 1 or targ not in elf.sections:
                    raise elf.error(f"relocation section targets section({targ}), which does not exist", s)
                tsec = elf.sections[targ]
                if not tsec.is_exec and name not in (".rel" + n for n in STRUCT_OPS_SECS) \
                        and name != ".rel" + MAPS_SEC:
                    self.log.info(f"elf: skipping relo section({s.index}) {name} for section({targ}) {tsec.name}")
                    continue
                self._secs[s.index] = "relo"
            elif s.type == SHT_NOBITS and (name == ".bss" or name.startswith(".bss.")):
                self._secs[s.index] = "bss"
            else:
                self.log.info(f"elf: skipping section({s.index}) {name} (size {s.size})")
        self.programs.sort(key=lambda p: (p.sec_idx, p.sec_insn_off))
        self._init_btf(btf_data, btf_ext_data)

    def _add_programs(self, s: Section) -> None:
        """``bpf_object__add_programs``: every STT_FUNC symbol of the section."""
        for sym in self.elf.symbols:
            if sym.shndx != s.index or sym.type != STT_FUNC:
                continue
            off, size = sym.value, sym.size
            if off + size > len(s.data):
                self.log.warn(f"sec '{s.name}': program at offset {off} crosses section boundary")
                raise self.elf.error(f"sec '{s.name}': program '{sym.name}' at offset {off} ({size} bytes) crosses "
                                     "section boundary", s, off)
            if s.index != self.text_shndx and sym.bind == STB_LOCAL:
                raise self._fail(errno.EOPNOTSUPP, f"sec '{s.name}': program '{sym.name}' is static and not "
                                                   "supported")
            if size == 0 or size % BPF_INSN_SZ or off % BPF_INSN_SZ:
                self.log.warn(f"sec '{s.name}': corrupted program '{sym.name}', offset {off}, size {size}")
                raise self.elf.error(f"sec '{s.name}': corrupted program '{sym.name}', offset {off}, size {size}",
                                     s, off, errno.EINVAL)
            self.log.debug(f"sec '{s.name}': found program '{sym.name}' at insn offset {off // 8} ({off} bytes), "
                           f"code size {size // 8} insns ({size} bytes)")
            sec_name = s.name
            autoload = True
            if sec_name.startswith("?"):
                autoload = False
                sec_name = sec_name[1:]
            code = s.data[off:off + size]
            insns = [Insn.from_bytes(code, i) for i in range(0, size, 8)]
            p = BpfProgram(self, sym.name, sec_name, s.index, off // 8, size // 8, insns, autoload=autoload,
                           is_subprog=(s.index == self.text_shndx))
            p.sym_global = sym.bind != STB_LOCAL
            p.mark_btf_static = p.sym_global and sym.visibility in (STV_HIDDEN, STV_INTERNAL)
            self.programs.append(p)

    def _init_btf(self, btf_sec: Section | None, ext_sec: Section | None) -> None:
        """``bpf_object__init_btf``."""
        err_msg = None
        if btf_sec is not None:
            try:
                self.btf = BTF.from_bytes(btf_sec.data, validate=False, where=f"{self.path}: section .BTF")
            except BTFError as e:
                self.log.warn(f"Error loading ELF section {BTF_SEC}: {errstr(errno.EINVAL)}.")
                err_msg = f"{e.message}"
        if ext_sec is not None:
            if self.btf is None:
                self.log.debug(f"Ignore ELF section {BTF_EXT_SEC} because its depending ELF section {BTF_SEC} is "
                               "not found.")
            else:
                try:
                    self.btf_ext = BtfExt.parse(ext_sec.data)
                except BtfExtError as e:
                    self.log.debug(f"{e.message} (offset {e.offset:#x})")
                    self.log.warn(f"Error loading ELF section {BTF_EXT_SEC}: {errstr(e.errno)}. Ignored and "
                                  "continue.")
                    self.btf_ext = None
        if self.btf is None and self._needs_btf():
            self.log.warn("BTF is required, but is missing or corrupted.")
            if btf_sec is None:
                raise LibbpfError(errno.ENOENT, "BTF is required, but is missing or corrupted.")
            raise self.elf.error(f"BTF is required, but is missing or corrupted: {err_msg}", btf_sec)

    def _needs_btf(self) -> bool:
        """``libbpf_needs_btf``: .maps, struct_ops or externs."""
        return self.btf_maps_shndx >= 0 or self.has_st_ops or any(
            is_extern(s) for s in self.elf.symbols)

    def _ext_sec_index(self, off: int) -> int | None:
        if self.btf is None or not self.btf._strings.valid(off):
            return None
        name = self.btf._strings.get(off)
        s = self.elf.section_by_name(name) if name else None
        return s.index if s is not None else None

    # --- externs ------------------------------------------------------------------------------------


    # --- BTF fix-ups ---------------------------------------------------------------------------------
    def _fixup_btf(self) -> None:
        """``bpf_object_fixup_btf`` / ``btf_fixup_datasec``."""
        btf = self.btf
        if btf is None:
            return
        for tid, t in list(btf.iter_types(S.KIND_DATASEC)):
            assert isinstance(t, Datasec)
            vars_ = list(t.vars)
            size = t.size
            if t.name not in (KCONFIG_SEC, KSYMS_SEC):
                fix_off = False
                if size == 0:
                    s = self.elf.section_by_name(t.name)
                    size = s.size if s is not None else 0
                    if not size:
                        self.log.debug(f"sec '{t.name}': failed to determine size from ELF: size {size}, "
                                       f"err {errstr(errno.ENOENT)}")
                        raise self._fail(errno.ENOENT, f"sec '{t.name}': failed to determine size from ELF "
                                                       "(BTF DATASEC without an ELF section)")
                    fix_off = True
                for j, vs in enumerate(vars_):
                    tv = btf.type_by_id(vs.type_id)
                    if not isinstance(tv, Var):
                        raise self._fail(errno.EINVAL, f"sec '{t.name}': unexpected non-VAR type found")
                    if tv.linkage in (S.VAR_STATIC, S.VAR_GLOBAL_EXTERN):
                        continue
                    sym = next((s for s in self.elf.symbols if s.name == tv.name and s.type == STT_OBJECT
                                and s.bind in (STB_GLOBAL, STB_WEAK)), None)
                    if sym is None:
                        raise self._fail(errno.ENOENT, f"sec '{t.name}': failed to find ELF symbol for VAR "
                                                       f"'{tv.name}'")
                    if fix_off:
                        vars_[j] = VarSecinfo(vs.type_id, sym.value, vs.size)
                    if sym.visibility in (STV_HIDDEN, STV_INTERNAL):
                        btf.replace(vs.type_id, Var(tv.name, tv.type_id, S.VAR_STATIC))
            vars_.sort(key=lambda v: v.offset)
            btf.replace(tid, Datasec(t.name, size, tuple(vars_)))

    # --- maps -------------------------------------------------------------------------------------------
    def _init_maps(self) -> None:
        """``bpf_object__init_maps``: BTF-defined, global data, struct_ops."""
        self._init_user_btf_maps()
        for idx in sorted(self._secs):
            kind = self._secs[idx]
            s = self.elf.sections[idx]
            if kind not in ("data", "rodata", "bss") or s.size == 0:
                continue
            ltype = {"data": LIBBPF_MAP_DATA, "rodata": LIBBPF_MAP_RODATA, "bss": LIBBPF_MAP_BSS}[kind]
            self._init_internal_map(ltype, s)
        self._init_kconfig_map()
        for idx in sorted(self._secs):
            if self._secs[idx] == "st_ops":
                s = self.elf.sections[idx]
                init_struct_ops_maps(self, s.name, idx, s.data)

    def _init_internal_map(self, ltype: int, s: Section) -> None:
        """``bpf_object__init_internal_map``."""
        m = BpfMap(self, internal_map_name(self.name, s.name), MAP_TYPE_ARRAY, 4, s.size, 1,
                   libbpf_type=ltype, real_name=s.name, sec_idx=s.index)
        if ltype == LIBBPF_MAP_RODATA:
            m.map_flags |= BPF_F_RDONLY_PROG
        if self.btf is not None:
            ds = self.btf.find(s.name)
            if ds is not None:
                m.btf_value_type_id = ds
                if datasec_has_global_var(self.btf, ds):
                    m.map_flags |= BPF_F_MMAPABLE
        if s.size > MAX_GLOBAL_DATA:
            # libbpf mmap()s the image (no memory until touched); we hold it in memory, so refuse
            # what the kernel refuses anyway (array value_size > KMALLOC_MAX_SIZE is -E2BIG)
            raise self._fail(errno.ENOMEM, f"failed to alloc map '{m.name}' content buffer: -ENOMEM "
                                           f"(section {s.name} is {s.size} bytes)")
        m.mmaped = bytearray(s.data if ltype != LIBBPF_MAP_BSS else bytes(s.size))
        self.log.debug(f"map '{m.name}' (global data): at sec_idx {s.index}, offset 0, flags {m.map_flags:x}.")
        self.maps.append(m)

    def _init_kconfig_map(self) -> None:
        """``bpf_object__init_kconfig_map``: one internal array map ``<obj>.kconfig`` holding
        the kconfig externs' values, read-only for programs (frozen once filled)."""
        if not any(e.type == EXT_KCFG for e in self.externs):
            return
        m = BpfMap(self, internal_map_name(self.name, KCONFIG_SEC), MAP_TYPE_ARRAY, 4, self.kconfig_size, 1,
                   libbpf_type=LIBBPF_MAP_KCONFIG, real_name=KCONFIG_SEC, sec_idx=self.elf.symtab_index)
        m.map_flags |= BPF_F_RDONLY_PROG
        if self.btf is not None:
            ds = self.btf.find(KCONFIG_SEC, S.KIND_DATASEC)
            if ds is not None:
                m.btf_value_type_id = ds
                if datasec_has_global_var(self.btf, ds):
                    m.map_flags |= BPF_F_MMAPABLE
        m.mmaped = bytearray(self.kconfig_size)
        self.log.debug(f"map '{m.name}' (global data): at sec_idx {m.sec_idx}, offset 0, flags {m.map_flags:x}.")
        self.maps.append(m)
        self.kconfig_map_idx = len(self.maps) - 1

    def _init_user_btf_maps(self) -> None:
        """``bpf_object__init_user_btf_maps``."""
        if self.btf_maps_shndx < 0:
            return
        btf = self.btf
        assert btf is not None
        data = self.elf.sections[self.btf_maps_shndx].data
        sec_id = btf.find(MAPS_SEC, S.KIND_DATASEC)
        if sec_id is None:
            raise self._fail(errno.ENOENT, f"DATASEC '{MAPS_SEC}' not found.")
        sec = btf.type_by_id(sec_id)
        assert isinstance(sec, Datasec)
        for i, vi in enumerate(sec.vars):
            var = btf.type_by_id(vi.type_id)
            name = var.name
            if not name:
                raise self._fail(errno.EINVAL, f"map #{i}: empty name.")
            if vi.offset + vi.size > len(data):
                raise self._fail(errno.EINVAL, f"map '{name}' BTF data is corrupted.")
            if not isinstance(var, Var):
                raise self._fail(errno.EINVAL, f"map '{name}': unexpected var kind {var.kind_name.lower()}.")
            if var.linkage != S.VAR_GLOBAL_ALLOCATED:
                raise self._fail(errno.EOPNOTSUPP, f"map '{name}': unsupported map linkage "
                                                   f"{'static' if var.linkage == 0 else 'extern'}.")
            d = btf.resolve(var.type_id)
            if not isinstance(d, Struct):
                raise self._fail(errno.EINVAL, f"map '{name}': unexpected def kind var.")
            if d.size > vi.size:
                raise self._fail(errno.EINVAL, f"map '{name}': invalid def size.")
            self.log.debug(f"map '{name}': at sec_idx {self.btf_maps_shndx}, offset {vi.offset}.")
            try:
                spec = parse_btf_map_def(name, btf, var.type_id)
            except LibbpfError as e:
                self.log.warn(e.message)
                raise
            m = BpfMap(self, name, spec["type"], spec.get("key_size", 0), spec.get("value_size", 0),
                       spec.get("max_entries", 0), spec.get("map_flags", 0), LIBBPF_MAP_UNSPEC,
                       sec_idx=self.btf_maps_shndx, sec_offset=vi.offset,
                       btf_key_type_id=spec.get("btf_key_type_id", 0),
                       btf_value_type_id=spec.get("btf_value_type_id", 0),
                       numa_node=spec.get("numa_node", 0), map_extra=spec.get("map_extra", 0))
            m.def_size, m.def_type_id = vi.size, var.type_id
            inner = spec.get("inner")
            if inner is not None:  # bpf_object__init_user_btf_map: MAP_DEF_INNER_MAP
                m.inner_map = BpfMap(self, f"{name}.inner", inner["type"], inner.get("key_size", 0),
                                     inner.get("value_size", 0), inner.get("max_entries", 0),
                                     inner.get("map_flags", 0), LIBBPF_MAP_UNSPEC, sec_idx=self.btf_maps_shndx,
                                     btf_key_type_id=inner.get("btf_key_type_id", 0),
                                     btf_value_type_id=inner.get("btf_value_type_id", 0),
                                     numa_node=inner.get("numa_node", 0), map_extra=inner.get("map_extra", 0))
            self.maps.append(m)

    # --- programs and relocations ---------------------------------------------------------------------
    def _init_progs(self) -> None:
        """``bpf_object_init_progs``: program type from the section definition."""
        for p in self.programs:
            d = find_sec_def(p.sec_name)
            if d is None:
                if not p.is_subprog:
                    self.log.debug(f"prog '{p.name}': unrecognized ELF section name '{p.sec_name}'")
                continue
            p.sec_def = d
            p.prog_type = d.prog_type
            p.expected_attach_type = d.expected_attach_type

    def _find_prog_by_sec_insn(self, sec_idx: int, insn_idx: int) -> BpfProgram | None:
        """``find_prog_by_sec_insn``."""
        for p in self.programs:
            if p.sec_idx == sec_idx and p.sec_insn_off <= insn_idx < p.sec_insn_off + p.sec_insn_cnt:
                return p
        return None





    # ==========================================================================================
    # prepare
    # ==========================================================================================
    def prepare(self, sys: Any = None, *, kernel_btf: KernelBtf | None = None,
                check_signatures: bool = False) -> None:
        """``bpf_object__prepare``. Without ``sys`` only the user-space steps run
        (kernel types from ``kernel_btf``): struct_ops values are built, autoload
        settled and the code relocated, ready to inspect. With ``sys`` the BTF is
        loaded and the maps created too (libbpf's whole prepare).
        ``check_signatures`` (beyond libbpf) reports, as ``structops: `` warnings,
        callbacks whose declared prototype differs from the kernel's
        (:mod:`emu.libbpf.sigcheck`); it never fails the load."""
        if self.state >= self.PREPARED:
            self.log.warn(f"object '{self.file_name}': prepare loading can't be attempted twice")
            raise LibbpfError(errno.EINVAL, f"object '{self.file_name}': prepare loading can't be attempted twice")
        if self.state == self.OPEN:
            if kernel_btf is None:
                if sys is None:
                    raise LibbpfError(errno.EINVAL, "prepare needs a kernel (sys) or its BTF (kernel_btf)")
                kernel_btf = KernelBtf.from_sys(sys, _vmlinux_of(sys), self.log)
            self.kernel_btf = kernel_btf
            if check_signatures:
                from .sigcheck import WARN as _W, check_object
                for f in check_object(self, kernel_btf, maps=[m.name for m in self.maps if m.autocreate]):
                    if f.level == _W:
                        self.log.note(f"signature: {f}")
            externs.resolve_externs(self)
            for m in self.maps:
                if m.is_struct_ops and m.autocreate:
                    init_kern_struct_ops(self, m, kernel_btf)
            adjust_struct_ops_autoload(self)
            reloc.relocate(self)
            self.state = self.PREPARED_USER
        if sys is None:
            return
        self.sys = sys
        assert self.kernel_btf is not None
        self.kernel_btf.bind_fds(sys)
        self.load_btf(sys)
        self._create_maps(sys)
        self.state = self.PREPARED

    # --- externs -------------------------------------------------------------------------------------

    # --- relocation ------------------------------------------------------------------------------------







    # --- kernel half of prepare ------------------------------------------------------------------------
    def load_btf(self, sys: Any) -> None:
        """``bpf_object__sanitize_and_load_btf``: mandatory with struct_ops or kfuncs."""
        if self.btf is None:
            return
        self._mark_hidden_subprogs_static()
        blob = self.btf.to_bytes()
        try:
            self.btf_fd = sys.btf_load(blob)
        except KernelError as e:
            mandatory = self.has_st_ops or bool(self.externs)
            if mandatory:
                msg = f"Error loading .BTF into kernel: {errstr(e.errno)}. BTF is mandatory, can't proceed."
                self.log.warn(msg)
                raise LibbpfError(e.errno, msg) from None
            self.log.info(f"Error loading .BTF into kernel: {errstr(e.errno)}. BTF is optional, ignoring.")
            self.btf_fd = -1

    def _mark_hidden_subprogs_static(self) -> None:
        """The first step of ``bpf_object__sanitize_and_load_btf`` (libbpf 1.5-1.8): a global
        or weak subprogram of hidden (or internal) visibility gets ``BTF_FUNC_STATIC``
        linkage in the BTF the kernel receives, so the verifier checks it with its caller's
        context, as a static function (``__hidden`` helpers such as usdt.bpf.h's)."""
        btf = self.btf
        assert btf is not None
        for p in self.programs:
            if not p.mark_btf_static or not p.is_subprog:
                continue
            for tid in range(1, btf.type_count):
                t = btf.type_by_id(tid)
                if isinstance(t, Func) and t.linkage == S.FUNC_GLOBAL and t.name == p.name:
                    btf.replace(tid, Func(t.name, t.type_id, S.FUNC_STATIC))
                    break

    def map_create_attrs(self, m: BpfMap, nr_cpus: int = 1) -> dict[str, Any]:
        """The BPF_MAP_CREATE attributes libbpf passes for ``m`` (``bpf_object__create_map``):
        a struct_ops map gets ``btf_vmlinux_value_type_id``, ``btf_value_type_id`` forced
        to 0, and for a module type ``value_type_btf_obj_fd`` + BPF_F_VTYPE_BTF_OBJ_FD."""
        flags = m.map_flags
        kw: dict[str, Any] = dict(map_type=m.map_type, key_size=m.key_size, value_size=m.value_size,
                                  max_entries=m.max_entries, map_name=m.name)
        if m.is_struct_ops:
            kw["btf_vmlinux_value_type_id"] = m.btf_vmlinux_value_type_id
            if m.mod_btf is not None:
                kw["value_type_btf_obj_fd"] = m.mod_btf.fd or 0  # type: ignore[attr-defined]
                flags |= BPF_F_VTYPE_BTF_OBJ_FD
        if m.map_type in NO_BTF_MAP_TYPES:
            # bpf_object__create_map: these types take no BTF (map_check_no_btf or no key type)
            m.btf_key_type_id = m.btf_value_type_id = 0
        elif self.btf_fd >= 0:
            kw["btf_fd"] = self.btf_fd
            if not m.is_struct_ops:
                kw["btf_key_type_id"] = m.btf_key_type_id
                kw["btf_value_type_id"] = m.btf_value_type_id
        if m.map_type == MAP_TYPES["BPF_MAP_TYPE_PERF_EVENT_ARRAY"] and not m.max_entries:
            # map_set_def_max_entries: one slot per possible CPU
            kw["max_entries"] = m.max_entries = nr_cpus
        if m.map_extra:
            kw["map_extra"] = m.map_extra
        kw["map_flags"] = flags
        return kw

    def _create_maps(self, sys: Any) -> None:
        """``bpf_object__create_maps``: every autocreate map, struct_ops ones too,
        before any program; on failure every map created so far is closed."""
        created: list[BpfMap] = []
        for m in self.maps:
            if not m.autocreate:
                self.log.debug(f"map '{m.name}': skipped auto-creating...")
                continue
            try:
                fd = self.create_map(sys, m)
                m.fd = fd
                created.append(m)
                self.log.debug(f"map '{m.name}': created successfully, fd={fd}")
                if m.is_internal:
                    self._populate_internal_map(sys, m)
                if m.init_slots and m.map_type != MAP_TYPES["BPF_MAP_TYPE_PROG_ARRAY"]:
                    self._init_map_in_map_slots(sys, m)
            except (KernelError, LibbpfError) as e:
                err = e.errno
                self.log.warn(f"map '{m.name}': failed to create: {errstr(err)}")
                for c in created:
                    _close(sys, c.fd)
                    c.fd = -1
                raise LibbpfError(err, f"map '{m.name}': failed to create: {errstr(err)}") from None

    def create_map(self, sys: Any, m: BpfMap) -> int:
        """``bpf_object__create_map``: a map-in-map's inner definition is created first
        (``failed to create inner map``) and its fd passed as ``inner_map_fd``; once the
        outer map exists the inner one is closed (``bpf_map__destroy``: the kernel keeps
        its own copy, ``inner_map_meta``). A refusal with BTF is retried without."""
        kw = self.map_create_attrs(m, possible_cpus(sys))
        inner = m.inner_map if m.map_type in _MAP_IN_MAP_TYPES else None
        if inner is not None:
            try:
                inner.fd = self.create_map(sys, inner)
            except (KernelError, LibbpfError) as e:
                self.log.warn(f"map '{m.name}': failed to create inner map: {errstr(e.errno)}")
                raise
            m.inner_map_fd = inner.fd
        if m.map_type in _MAP_IN_MAP_TYPES and m.inner_map_fd >= 0:
            kw["inner_map_fd"] = m.inner_map_fd
        try:
            fd = self._create_map_attempt(sys, m, kw)
        finally:
            if inner is not None and inner.fd >= 0:
                _close(sys, inner.fd)
                inner.fd = -1
        if inner is not None:
            m.inner_map = None
        return fd

    def _create_map_attempt(self, sys: Any, m: BpfMap, kw: dict[str, Any]) -> int:
        """``bpf_map_create``, once more without BTF when the kernel refused it with BTF."""
        try:
            return int(sys.map_create(**kw))
        except KernelError as e:
            # (a model limit is no kernel answer: libbpf would not have seen it, so no retry)
            if not (kw.get("btf_key_type_id") or kw.get("btf_value_type_id")) or isinstance(e, NotModelled):
                raise
            self.log.warn(f"Error in bpf_create_map_xattr({m.name}): {errstr(e.errno)}. Retrying without BTF.")
            for k in ("btf_fd", "btf_key_type_id", "btf_value_type_id"):
                kw.pop(k, None)
            m.btf_key_type_id = m.btf_value_type_id = 0
            return int(sys.map_create(**kw))

    def _init_map_in_map_slots(self, sys: Any, m: BpfMap) -> None:
        """``init_map_in_map_slots``: slot *i* of ``.values`` gets the target map's fd
        (``BPF_MAP_UPDATE_ELEM`` with the int *i* as key), libbpf's message on failure."""
        for i, targ in sorted(m.init_slots.items()):
            fd = targ.fd
            key = i.to_bytes(4, "little").ljust(max(m.key_size, 4), b"\0")[:max(m.key_size, 4)]
            try:
                sys.map_update_elem(m.fd, key, fd.to_bytes(4, "little", signed=True), 0)
            except KernelError as e:
                msg = (f"map '{m.name}': failed to initialize slot [{i}] to map '{targ.name}' fd={fd}: "
                       f"{errstr(e.errno)}")
                self.log.warn(msg)
                raise LibbpfError(e.errno, msg) from None
            self.log.debug(f"map '{m.name}': slot [{i}] set to map '{targ.name}' fd={fd}")
        m.init_slots.clear()

    def _populate_internal_map(self, sys: Any, m: BpfMap) -> None:
        try:
            sys.map_update_elem(m.fd, b"\0\0\0\0", bytes(m.mmaped), 0)
        except KernelError as e:
            self.log.warn(f"map '{m.name}': failed to set initial contents: {errstr(e.errno)}")
            raise LibbpfError(e.errno, f"map '{m.name}': failed to set initial contents") from None
        if m.libbpf_type in (LIBBPF_MAP_RODATA, LIBBPF_MAP_KCONFIG):
            try:
                sys.map_freeze(m.fd)
            except KernelError as e:
                self.log.warn(f"map '{m.name}': failed to freeze as read-only: {errstr(e.errno)}")
                raise LibbpfError(e.errno, f"map '{m.name}': failed to freeze as read-only") from None

    # ==========================================================================================
    # load
    # ==========================================================================================
    def load(self, sys: Any) -> None:
        """``bpf_object__load``: prepare if needed, then load every autoload
        program and fill struct_ops values with their fds. Attaching is separate
        (:meth:`attach_struct_ops` / :func:`emu.libbpf.link.attach_struct_ops`)."""
        if self.state >= self.LOADED:
            self.log.warn(f"object '{self.file_name}': load can't be attempted twice")
            raise LibbpfError(errno.EINVAL, f"object '{self.file_name}': load can't be attempted twice")
        if self.state < self.PREPARED:
            self.prepare(sys)
        self.sys = sys
        try:
            self._load_progs(sys)
            self._init_prog_arrays(sys)
            for m in self.maps:
                if m.is_struct_ops and m.fd >= 0:
                    prepare_vdata(m)
        except LibbpfError:
            self.log.warn(f"failed to load object '{self.path}'")
            self.unload()
            raise
        self.state = self.LOADED

    def _load_progs(self, sys: Any) -> None:
        """``bpf_object__load_progs``."""
        for p in self.programs:
            if p.is_subprog:
                continue
            if not p.autoload:
                self.log.debug(f"prog '{p.name}': skipped loading")
                continue
            try:
                p.fd = self._load_prog(sys, p)
            except LibbpfError as e:
                self.log.warn(f"prog '{p.name}': failed to load: {errstr(e.errno)}")
                raise

    def _init_prog_arrays(self, sys: Any) -> None:
        """``bpf_object__init_prog_arrays``: each prog array's ``values`` slots get
        their programs' fds (``BPF_MAP_UPDATE_ELEM``), with libbpf's message on failure."""
        for m in self.maps:
            if not m.init_slots or m.fd < 0:
                continue
            for i, targ in sorted(m.init_slots.items()):
                fd = targ.fd
                try:
                    sys.map_update_elem(m.fd, i.to_bytes(4, "little"), fd.to_bytes(4, "little", signed=True), 0)
                except KernelError as e:
                    msg = (f"map '{m.name}': failed to initialize slot [{i}] to prog "
                           f"'{targ.name}' fd={fd}: {errstr(e.errno)}")
                    self.log.warn(msg)
                    raise LibbpfError(e.errno, msg) from None
                self.log.debug(f"map '{m.name}': slot [{i}] set to prog '{targ.name}' fd={fd}")

    def load_attrs(self, p: BpfProgram) -> dict[str, Any]:
        """The BPF_PROG_LOAD attributes libbpf would pass for ``p`` (fds resolved)."""
        insns = list(p.insns)
        for idx, mi, is_value in p.map_refs:
            i = insns[idx]
            if mi < 0:  # typed ksym: the module BTF fd goes into the second imm
                ext = self.externs[-1 - mi]
                fd = ext.mod_btf.fd if ext.mod_btf is not None else 0
                nxt = insns[idx + 1]
                insns[idx + 1] = Insn(nxt.code, nxt.dst, nxt.src, nxt.off, s32(fd or 0))
                continue
            m = self.maps[mi]
            insns[idx] = Insn(i.code, i.dst, BPF_PSEUDO_MAP_VALUE if is_value else BPF_PSEUDO_MAP_FD, i.off,
                              s32(m.fd))
        flags = p.prog_flags
        if p.sec_def is not None and p.sec_def.sleepable:
            flags |= BPF_F_SLEEPABLE
        if p.sec_def is not None:
            flags |= p.sec_def.prog_flags
        attach_obj_fd = 0
        if p.attach_mod_btf is not None:
            attach_obj_fd = p.attach_mod_btf.fd or 0  # type: ignore[attr-defined]
        fd_array = [0 if mb is None else (mb.fd or 0) for mb in self.fd_array]
        attrs: dict[str, Any] = dict(
            prog_type=p.prog_type, expected_attach_type=p.expected_attach_type, attach_btf_id=p.attach_btf_id,
            attach_btf_obj_fd=attach_obj_fd, prog_flags=flags, license=self.license, log_level=p.log_level,
            prog_name=p.name[:15], fd_array=fd_array)
        if self.btf_fd >= 0:
            attrs.update(prog_btf_fd=self.btf_fd, func_info=p.func_info, func_info_rec_size=p.func_info_rec_size,
                         line_info=p.line_info, line_info_rec_size=p.line_info_rec_size)
        attrs["insns"] = encode(insns)
        return attrs

    def preload_check(self, p: BpfProgram) -> None:
        """The refusals ``bpf_object_load_prog`` makes before any syscall: a program
        without a type, and a STRUCT_OPS program no created map references."""
        if p.prog_type == 0:
            raise self._fail(errno.EINVAL, f"prog '{p.name}': missing BPF prog type, check ELF section name "
                                           f"'{p.sec_name}'")
        if p.sec_def is not None and p.sec_def.attach_btf:
            if p.expected_attach_type == _BPF_TRACE_RAW_TP:
                self._find_tp_btf_target(p)
            elif p.expected_attach_type == _BPF_TRACE_ITER:
                self._find_iter_target(p)
            else:
                # libbpf_find_attach_btf_id for fentry/fexit/fmod_ret, iter, lsm, freplace:
                # kernel functions the emulated vmlinux BTF does not have
                raise NotModelled(f"prog '{p.name}': SEC(\"{p.sec_name}\") attaches by kernel BTF "
                                  "(a kernel function or hook): tracing attach targets are not modelled")
        if p.prog_type == PROG_TYPE_STRUCT_OPS and p.attach_btf_id == 0:
            raise self._fail(errno.EINVAL, f"prog '{p.name}': SEC(\"struct_ops\") program isn't referenced "
                                           "anywhere, did you forget to use it?")

    def _find_tp_btf_target(self, p: BpfProgram) -> None:
        """``libbpf_prepare_prog_load`` -> ``libbpf_find_attach_btf_id`` for ``tp_btf/<name>``
        (libbpf 1.5-1.8): the typedef ``btf_trace_<name>`` in vmlinux's BTF, then the
        modules' (``find_kernel_btf_id``); not found is -ESRCH, "failed to find kernel BTF
        type ID of '<name>'"."""
        if p.attach_btf_id:
            return
        name = p.sec_name.partition("/")[2]
        self._find_kernel_btf_id(p, name, "btf_trace_" + name, S.KIND_TYPEDEF)

    def _find_kernel_btf_id(self, p: BpfProgram, name: str, type_name: str, kind: int) -> None:
        """``find_kernel_btf_id`` (libbpf 1.5-1.8): ``type_name`` of ``kind`` in vmlinux's BTF,
        then the modules'; the program's attach BTF id and module, or -ESRCH, "failed to find
        kernel BTF type ID of '<name>'" (``name``: the section's target)."""
        kb = self.kernel_btf
        try:
            if kb is None:
                raise LibbpfError(errno.ESRCH)
            tid, _btf, mod = kb.find_ksym(type_name, kind)
        except LibbpfError:
            msg = f"prog '{p.name}': failed to find kernel BTF type ID of '{name}': {errstr(errno.ESRCH)}"
            self.log.warn(msg)
            raise LibbpfError(errno.ESRCH, msg) from None
        p.attach_btf_id = tid
        p.attach_mod_btf = mod

    def _find_iter_target(self, p: BpfProgram) -> None:
        """``libbpf_find_attach_btf_id`` for ``iter/<target>`` and ``iter.s/<target>``
        (libbpf 1.5-1.8, ``find_attach_btf_id`` with ``BTF_ITER_PREFIX``): the FUNC
        ``bpf_iter_<target>`` in vmlinux's BTF, then the modules'; not found is -ESRCH,
        "failed to find kernel BTF type ID of '<target>'". A target the real kernel has and
        the emulated one does not model (:mod:`kernel_model.vmlinux_iter`) is not modelled."""
        from kernel_model.vmlinux_iter import HOST_REFUSED_TARGETS, ITER_FUNC_PREFIX, NOT_MODELLED_TARGETS

        if p.attach_btf_id:
            return
        name = p.sec_name.partition("/")[2]
        if name in HOST_REFUSED_TARGETS or name in NOT_MODELLED_TARGETS:
            raise NotModelled(f"prog '{p.name}': SEC(\"{p.sec_name}\"): the iterator target '{name}' is not "
                              "modelled by the emulated kernel")
        self._find_kernel_btf_id(p, name, ITER_FUNC_PREFIX + name, S.KIND_FUNC)

    def load_program(self, sys: Any, p: BpfProgram) -> int:
        """Load one program of a prepared object (libbpf's ``bpf_object_load_prog``);
        sets and returns ``p.fd``. Raises :class:`ProgLoadFailed` on a rejection."""
        p.fd = self._load_prog(sys, p)
        return p.fd

    def _load_prog(self, sys: Any, p: BpfProgram) -> int:
        """``bpf_object_load_prog``: refuse early, load, retry at log level 1 for the log."""
        self.preload_check(p)
        attrs = self.load_attrs(p)
        insns = attrs.pop("insns")
        log_level = p.log_level
        while True:
            attrs["log_level"] = log_level
            try:
                fd = sys.prog_load(insns, **attrs)
            except KernelError as e:
                if log_level == 0:
                    log_level = 1
                    continue
                log = getattr(e, "log", "") or ""
                p.load_result = getattr(e, "result", None)
                log = fixup_verifier_log(self, p, log)
                p.log = log
                self.log.warn(f"prog '{p.name}': BPF program load failed: {errstr(e.errno)}")
                if log:
                    self.log.warn(f"prog '{p.name}': -- BEGIN PROG LOAD LOG --\n{log}-- END PROG LOAD LOG --")
                raise ProgLoadFailed(e.errno, p.name, log, p.load_result) from None
            if log_level:
                info_log = ""
                try:
                    info_log = sys.prog_info(fd).verifier_log  # emulated kernel: the log of this load
                except (AttributeError, KernelError):
                    pass
                if info_log:
                    self.log.debug(f"prog '{p.name}': -- BEGIN PROG LOAD LOG --\n{info_log}-- END PROG LOAD LOG --")
                p.log = info_log
            return fd

    def verify_programs(self, sys: Any) -> list[ProgVerdict]:
        """Beyond libbpf, for comparing kernels: load the BTF, create the maps that are
        not struct_ops, then BPF_PROG_LOAD every autoload program with exactly the
        attributes :meth:`load` would use, *continuing after a rejection*; every fd
        is closed afterwards and the object is left closed. No struct_ops map is
        created, so nothing can be registered or attached (safe on the host)."""
        if self.state >= self.PREPARED:
            raise LibbpfError(errno.EINVAL, f"object '{self.file_name}': verify_programs needs an unloaded object")
        if self.state == self.OPEN:
            self.prepare(kernel_btf=KernelBtf.from_sys(sys, _vmlinux_of(sys), self.log))
        self.sys = sys
        assert self.kernel_btf is not None
        self.kernel_btf.bind_fds(sys)
        out: list[ProgVerdict] = []
        try:
            self.load_btf(sys)
            saved = [(m, m.autocreate) for m in self.maps]
            for m in self.maps:
                if m.is_struct_ops:
                    m.autocreate = False
            try:
                self._create_maps(sys)
            finally:
                for m, a in saved:
                    m.autocreate = a
            for p in self.programs:
                if p.is_subprog or not p.autoload:
                    continue
                try:
                    fd = self._load_prog(sys, p)
                except ProgLoadFailed as e:
                    out.append(ProgVerdict(p.name, False, e.errno, e.log, e.last_line()))
                    continue
                except LibbpfError as e:
                    out.append(ProgVerdict(p.name, False, e.errno, "", e.message))
                    continue
                out.append(ProgVerdict(p.name, True, 0, p.log, ""))
                _close(sys, fd)
        finally:
            self.close()
        return out

    # ==========================================================================================
    # attach helpers and teardown
    # ==========================================================================================
    def attach_struct_ops(self, name: str) -> Any:
        """``bpf_map__attach_struct_ops`` of the map ``name``."""
        from .link import attach_struct_ops

        return attach_struct_ops(self.find_map(name))

    def unload(self) -> None:
        """``bpf_object_unload``: close every program and map fd this object holds."""
        sys = self.sys
        for p in self.programs:
            if p.fd >= 0:
                _close(sys, p.fd)
                p.fd = -1
        for m in self.maps:
            if m.fd >= 0:
                _close(sys, m.fd)
                m.fd = -1

    def close(self) -> None:
        """``bpf_object__close``: programs, maps, the object's BTF and module BTF fds."""
        if self.state == self.CLOSED:
            return
        self.unload()
        if self.btf_fd >= 0:
            _close(self.sys, self.btf_fd)
            self.btf_fd = -1
        if self.kernel_btf is not None and self.kernel_btf._modules is not None and self.sys is not None:
            for mb in self.kernel_btf._modules:
                if mb.fd is not None:
                    _close(self.sys, mb.fd)
                    mb.fd = None
        self.state = self.CLOSED

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[BpfProgram]:
        return iter(self.programs)

    def __repr__(self) -> str:
        return (f"<BpfObject {self.name!r} {len(self.progs)} programs {len(self.maps)} maps "
                f"state {['open', 'prepared(user)', 'prepared', 'loaded', 'closed'][self.state]}>")


# --- helpers -------------------------------------------------------------------------------------

#: largest global-data section held in memory (64 MiB; the kernel's own limit for an
#: array value, KMALLOC_MAX_SIZE, is 4 MiB on x86-64)
MAX_GLOBAL_DATA = 64 << 20


def _vmlinux_of(sys: Any) -> BTF:
    b = getattr(sys, "btf", None)
    if not isinstance(b, BTF):
        raise LibbpfError(errno.ENOENT, "vmlinux BTF is not found")
    return b


def _close(sys: Any, fd: int) -> None:
    if sys is None or fd is None or fd < 0:
        return
    try:
        sys.close(fd)
    except KernelError:
        pass


def fixup_verifier_log(obj: BpfObject, p: BpfProgram, log: str) -> str:
    """``fixup_verifier_log``: within the last 10 lines, rewrite the verifier's
    complaint about a poisoned instruction (``N: (85) call unknown#X`` then
    ``invalid func unknown#X``) into what went wrong in user space: a CO-RE
    relocation with no target, a map that was not created, an unresolved weak
    kfunc. Only the last such pair is rewritten, as libbpf does."""
    lines = log.splitlines(keepends=True)
    for j in range(len(lines) - 1, max(len(lines) - 11, 0), -1):
        cur = lines[j]
        if not cur.startswith("invalid func unknown#") or j == 0:
            continue
        prev = lines[j - 1]
        head, _, rest = prev.partition(": ")
        if not head.isdigit() or "call unknown#" not in rest:
            return log
        idx = int(head)
        try:
            num = int(rest.rsplit("#", 1)[1].split()[0])
        except ValueError:
            return log
        patch = None
        if num == corelib.POISON_IMM:
            r = next((r for r in p.relocs if r.type == RELO_CORE and r.insn_idx == idx), None)
            if r is None or obj.btf is None:
                return log
            try:
                spec = corelib.parse_spec(obj.btf, r.core)  # type: ignore[arg-type]
            except corelib.SpecError:
                return log
            patch = (f"{idx}: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation "
                     f"{corelib.format_spec(spec)}\n")
        elif str(num).startswith("200100") and 0 <= num - POISON_LDIMM64_MAP_BASE < len(obj.maps):
            m = obj.maps[num - POISON_LDIMM64_MAP_BASE]
            patch = f"{idx}: <invalid BPF map reference>\nBPF map '{m.name}' is referenced but wasn't created\n"
        elif str(num).startswith("2002") and 0 <= num - POISON_CALL_KFUNC_BASE < len(obj.externs):
            e = obj.externs[num - POISON_CALL_KFUNC_BASE]
            patch = f"{idx}: <invalid kfunc call>\nkfunc '{e.name}' is referenced but wasn't resolved\n"
        if patch is None:
            return log
        return "".join(lines[:j - 1]) + patch + "".join(lines[j + 1:])
    return log


def open_object(path_or_bytes: str | bytes, *, name: str | None = None, log: Log | None = None) -> BpfObject:
    """``bpf_object__open_file`` / ``bpf_object__open_mem``."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return BpfObject(bytes(path_or_bytes), name or "<memory>", name=name or "obj", log=log)
    return BpfObject.open_file(path_or_bytes, log=log) if name is None else BpfObject(
        open(path_or_bytes, "rb").read(), path_or_bytes, name=name, log=log)

