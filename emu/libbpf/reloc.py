"""Relocations: collecting them at open, applying them at prepare.

Models the relocation half of ``src/libbpf.c`` (libbpf 1.8):

* ``bpf_object__collect_relos`` / ``bpf_object__collect_prog_relos`` /
  ``bpf_program__record_reloc``: every ``.rel<section>`` of an executable
  section becomes :class:`~emu.libbpf.program.Reloc` records of the program
  holding the instruction -- subprogram calls (``RELO_CALL``), subprogram
  addresses, map references (``.maps``), global data, extern calls and loads;
  ``.rel.struct_ops*`` go to :mod:`emu.libbpf.struct_ops`;
* ``bpf_object__relocate``: CO-RE first (``bpf_object__relocate_core``, the
  rules in :mod:`emu.libbpf.core`), then for each autoload entry program
  ``bpf_object__relocate_calls`` / ``bpf_object__reloc_code`` (the ``.text``
  functions it calls appended, recursively, call immediates recomputed for
  this copy, func/line info gathered and rebased: ``reloc_prog_func_and_line_info``)
  and ``bpf_object__relocate_data`` (kfunc calls get their BTF id and
  ``fd_array`` index; references to maps that will not be created are
  poisoned as ``poison_map_ldimm64`` does).

Where we differ: map fds are written at load time (see :mod:`emu.libbpf.program`).
"""

from __future__ import annotations

import errno
from typing import Any

from kernel_model import isa
from kernel_model.insn import Insn

from . import core as corelib
from .btf_ext import CoreRelo
from .elf import SHN_LORESERVE, STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FUNC, STT_SECTION, Section
from .errors import LIBBPF_ERRNO__RELOC, LibbpfError, errstr
from .externs import EXT_KCFG, is_extern
from .maps import LIBBPF_MAP_UNSPEC
from .program import (
    BPF_INSN_SZ, BPF_PSEUDO_BTF_ID, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, RELO_CALL, RELO_CORE, RELO_DATA,
    RELO_EXTERN_CALL, RELO_EXTERN_LD64, RELO_LD64, RELO_SUBPROG_ADDR, BpfProgram, Reloc, adjust_ext_info,
    insn_is_pseudo_func, insn_is_subprog_call, s32,
)
from .struct_ops import collect_st_ops_relos

__all__ = ["collect_relos", "relocate", "POISON_LDIMM64_MAP_BASE", "POISON_CALL_KFUNC_BASE"]

#: enum bpf_map_type
PROG_ARRAY = 3
HASH_OF_MAPS = 13
MAP_IN_MAP_TYPES = frozenset({12, 13})  # ARRAY_OF_MAPS, HASH_OF_MAPS

#: poison_map_ldimm64 / poison_kfunc_call (src/libbpf.c): the imm of a poisoned call
POISON_LDIMM64_MAP_BASE = 2001000000
POISON_CALL_KFUNC_BASE = 2002000000


def collect_relos(obj: Any) -> None:
    """``bpf_object__collect_relos``."""
    for idx in sorted(obj._secs):
        if obj._secs[idx] != "relo":
            continue
        rs = obj.elf.sections[idx]
        targ = rs.info
        if obj._secs.get(targ) == "st_ops":
            collect_st_ops_relos(obj, rs, targ)
        elif targ == obj.btf_maps_shndx:
            collect_map_relos(obj, rs)
        else:
            collect_prog_relos(obj, rs)
    for p in obj.programs:
        p.relocs.sort(key=lambda r: r.insn_idx)


def collect_map_relos(obj: Any, rs: Section) -> None:
    """``bpf_object__collect_map_relos`` (libbpf 1.8): each ``.rel.maps`` entry points a
    slot of a map's ``values`` array (``init_slots``, slot = (offset - start of
    ``values``) / 8) at an entry program (prog arrays) or at another BTF-defined map
    (map-in-map; a hash of maps needs 4-byte keys, the slot number is its key)."""
    from kernel_model.btf.types import Composite

    btf = obj.btf
    maps = [m for m in obj.maps if m.sec_idx == obj.btf_maps_shndx]
    for rel in obj.elf.relocations(rs):
        if not 0 < rel.sym < len(obj.elf.symbols):
            raise obj._fail(errno.EINVAL, f".maps relo #{rel.index}: symbol {rel.sym:x} not found")
        sym = obj.elf.symbols[rel.sym]
        name = sym.name or "<?>"
        m = next((m for m in maps if m.sec_offset <= rel.offset and rel.offset + 8 <= m.sec_offset + m.def_size),
                 None)
        if m is None:
            raise obj._fail(errno.EINVAL, f".maps relo #{rel.index}: cannot find map '{name}' at rel->r_offset "
                                          f"{rel.offset}")
        targ: Any
        if m.map_type in MAP_IN_MAP_TYPES:
            if sym.shndx != obj.btf_maps_shndx:
                raise obj._fail(LIBBPF_ERRNO__RELOC, f".maps relo #{rel.index}: '{name}' isn't a BTF-defined map")
            if m.map_type == HASH_OF_MAPS and m.key_size != 4:
                raise obj._fail(errno.EINVAL, f".maps relo #{rel.index}: hash-of-maps '{m.name}' should have key "
                                              "size 4.")
            targ = next((t for t in obj.maps if t.name == name), None)
            if targ is None:
                raise obj._fail(errno.ESRCH, f".maps relo #{rel.index}: '{name}' isn't a valid map reference")
        elif m.map_type == PROG_ARRAY:
            targ = obj.progs.get(name)
            if targ is None:
                raise obj._fail(errno.ESRCH, f".maps relo #{rel.index}: '{name}' isn't a valid program reference")
            if targ.sec_idx != sym.shndx or targ.sec_insn_off * 8 != sym.value:
                raise obj._fail(errno.EINVAL, f".maps relo #{rel.index}: '{name}' isn't an entry-point program")
        else:
            raise obj._fail(errno.EINVAL, f".maps relo #{rel.index}: '{name}' is not a map-in-map or prog-array "
                                          "slot")
        d = btf.resolve(m.def_type_id)
        assert isinstance(d, Composite)
        member = d.members[-1]
        if member.name != "values":
            raise obj._fail(errno.EINVAL, f".maps relo #{rel.index}: unexpected member '{member.name}'")
        moff = member.byte_offset
        off = rel.offset - m.sec_offset - moff
        if off < 0 or off % 8:
            raise obj._fail(errno.EINVAL, f".maps relo #{rel.index}: unexpected offset {off}")
        m.init_slots[off // 8] = targ
        kind = "prog" if m.map_type == PROG_ARRAY else "map"
        obj.log.debug(f".maps relo #{rel.index}: map '{m.name}' slot [{off // 8}] points to {kind} '{targ.name}'")


def collect_prog_relos(obj: Any, rs: Section) -> None:
    """``bpf_object__collect_prog_relos``."""
    sec_idx = rs.info
    tsec = obj.elf.sections[sec_idx]
    nsec = len(obj.elf.sections) + 1
    for i, rel in enumerate(obj.elf.relocations(rs)):
        sym = obj.elf.symbol(rel.sym)
        if sym is None:
            obj.log.warn(f"sec '{rs.name}': symbol #{rel.sym} not found for relo #{i}")
            raise obj.elf.error(f"relo #{i}: symbol #{rel.sym} not found ({len(obj.elf.symbols)} symbols)",
                                 rs, i * 16)
        if sym.shndx >= nsec and sym.shndx < SHN_LORESERVE:
            obj.log.warn(f"sec '{rs.name}': corrupted symbol #{rel.sym} pointing to invalid section "
                          f"#{sym.shndx} for relo #{i}")
            raise obj.elf.error(f"relo #{i}: symbol #{rel.sym} points to invalid section #{sym.shndx}",
                                 rs, i * 16)
        if rel.offset % BPF_INSN_SZ or rel.offset >= len(tsec.data):
            obj.log.warn(f"sec '{rs.name}': invalid offset {rel.offset:#x} for relo #{i}")
            raise obj.elf.error(f"relo #{i}: invalid offset {rel.offset:#x} in {tsec.name} "
                                 f"({len(tsec.data)} bytes)", rs, i * 16)
        insn_idx = rel.offset // BPF_INSN_SZ
        if sym.type == STT_SECTION and sym.name_off == 0:
            sym_name = obj.elf.section_name(sym.shndx)
        else:
            sym_name = sym.name or "<?"
        obj.log.debug(f"sec '{rs.name}': relo #{i}: insn #{insn_idx} against '{sym_name}'")
        prog = obj._find_prog_by_sec_insn(sec_idx, insn_idx)
        if prog is None:
            obj.log.debug(f"sec '{rs.name}': relo #{i}: couldn't find program in section '{tsec.name}' for "
                           f"insn #{insn_idx}, probably overridden weak function, skipping...")
            continue
        prog.relocs.append(record_reloc(obj, prog, insn_idx - prog.sec_insn_off, sym_name, sym, rel.sym))


def record_reloc(obj: Any, prog: BpfProgram, idx: int, sym_name: str, sym: Any, sym_idx: int) -> Reloc:
    """``bpf_program__record_reloc``."""
    insn = prog.insns[idx]
    is_call = insn.code == (isa.JMP | isa.CALL)
    is_ld64 = insn.code == isa.LD_IMM64
    if not is_call and not is_ld64:
        raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': invalid relo against '{sym_name}' for "
                                              f"insns[{idx}].code {insn.code:#x}")
    if is_extern(sym):
        ei = next((k for k, e in enumerate(obj.externs) if e.sym_idx == sym_idx), None)
        if ei is None:
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': extern relo failed to find extern "
                                                  f"for '{sym_name}' ({sym_idx})")
        obj.log.debug(f"prog '{prog.name}': found extern #{ei} '{obj.externs[ei].name}' (sym {sym_idx}) "
                       f"for insn #{idx}")
        return Reloc(RELO_EXTERN_CALL if is_call else RELO_EXTERN_LD64, idx, ext_idx=ei)
    shndx = sym.shndx
    if is_call:
        if insn.src != 1:
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': incorrect bpf_call opcode")
        if not shndx or shndx != obj.text_shndx:
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': bad call relo against '{sym_name}' in "
                                                  f"section '{obj.elf.section_name(shndx)}'")
        if sym.value % BPF_INSN_SZ:
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': bad call relo against '{sym_name}' at "
                                                  f"offset {sym.value}")
        return Reloc(RELO_CALL, idx, sym_off=sym.value)
    if not shndx or shndx >= SHN_LORESERVE:
        raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': invalid relo against '{sym_name}' in "
                                              f"special section {shndx:#x}; forgot to initialize global var?..")
    if shndx == obj.text_shndx and ((sym.bind == STB_LOCAL and sym.type == STT_SECTION)
                                     or (sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_FUNC)):
        if sym.value % BPF_INSN_SZ or insn.imm % BPF_INSN_SZ:
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': bad subprog addr relo against "
                                                  f"'{sym_name}' at offset {sym.value}+{insn.imm}")
        return Reloc(RELO_SUBPROG_ADDR, idx, sym_off=sym.value)
    sec_kind = obj._secs.get(shndx)
    sec_name = obj.elf.section_name(shndx)
    if sec_kind not in ("data", "rodata", "bss"):
        if shndx != obj.btf_maps_shndx:
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': bad map relo against '{sym_name}' in "
                                                  f"section '{sec_name}'")
        for mi, m in enumerate(obj.maps):
            if m.libbpf_type == LIBBPF_MAP_UNSPEC and m.sec_idx == shndx and m.sec_offset == sym.value:
                obj.log.debug(f"prog '{prog.name}': found map {mi} ({m.name}, sec {m.sec_idx}, off "
                               f"{m.sec_offset}) for insn #{idx}")
                return Reloc(RELO_LD64, idx, map_idx=mi)
        raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': map relo failed to find map for section "
                                              f"'{sec_name}', off {sym.value}")
    for mi, m in enumerate(obj.maps):
        if m.is_internal and m.sec_idx == shndx:
            obj.log.debug(f"prog '{prog.name}': found data map {mi} ({m.name}, sec {m.sec_idx}, off "
                           f"{m.sec_offset}) for insn {idx}")
            return Reloc(RELO_DATA, idx, map_idx=mi, sym_off=sym.value)
    raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': data relo failed to find map for section "
                                          f"'{sec_name}'")


def relocate(obj: Any) -> None:
    """``bpf_object__relocate``."""
    if obj.btf_ext is not None and obj.btf_ext.core_relo:
        try:
            relocate_core(obj)
        except LibbpfError as e:
            obj.log.warn(f"failed to perform CO-RE relocations: {errstr(e.errno)}")
            raise
    for p in obj.programs:
        for r in p.relocs:
            if r.type == RELO_SUBPROG_ADDR:
                i = p.insns[r.insn_idx]
                p.insns[r.insn_idx] = Insn(i.code, i.dst, BPF_PSEUDO_FUNC, i.off, i.imm)
        p.relocs.sort(key=lambda r: r.insn_idx)
    mains = [p for p in obj.programs if not p.is_subprog and p.autoload]
    for p in mains:
        try:
            relocate_calls(obj, p)
        except LibbpfError as e:
            obj.log.warn(f"prog '{p.name}': failed to relocate calls: {errstr(e.errno)}")
            raise
        # the exception callback is never called, so relocate_calls did not append it
        cb = assign_exc_cb(obj, p)
        if cb is not None and cb.sub_insn_off == 0:
            append_subprog(obj, p, cb)
            reloc_code(obj, p, cb)
    for p in mains:
        try:
            relocate_data(obj, p)
        except LibbpfError as e:
            obj.log.warn(f"prog '{p.name}': failed to relocate data references: {errstr(e.errno)}")
            raise


def relocate_core(obj: Any) -> None:
    """``bpf_object__relocate_core``."""
    assert obj.btf is not None and obj.btf_ext is not None and obj.kernel_btf is not None
    cache: dict[int, list[corelib.Cand]] = {}
    for sec in obj.btf_ext.core_relo:
        sec_idx = obj._ext_sec_index(sec.sec_name_off)
        sec_name = obj.btf._strings.get(sec.sec_name_off) if obj.btf._strings.valid(sec.sec_name_off) else ""
        if not sec_name:
            raise LibbpfError(errno.EINVAL, ".BTF.ext CO-RE records name no section")
        obj.log.debug(f"sec '{sec_name}': found {len(sec.records)} CO-RE relocations")
        for i, rec in enumerate(sec.records):
            assert isinstance(rec, CoreRelo)
            if rec.insn_off % BPF_INSN_SZ:
                raise LibbpfError(errno.EINVAL, f"sec '{sec_name}': CO-RE relocation #{i} at byte "
                                                f"{rec.insn_off} is not at an instruction")
            insn_idx = rec.insn_off // BPF_INSN_SZ
            prog = obj._find_prog_by_sec_insn(sec_idx, insn_idx) if sec_idx is not None else None
            if prog is None:
                obj.log.debug(f"sec '{sec_name}': skipping CO-RE relocation #{i} for insn #{insn_idx} "
                               "belonging to eliminated weak subprogram")
                continue
            if not prog.autoload:
                continue
            idx = insn_idx - prog.sec_insn_off
            if idx >= len(prog.insns):
                raise LibbpfError(errno.EINVAL, f"prog '{prog.name}': CO-RE relocation #{i} past the end")
            if rec.type_id == 0 or rec.type_id >= obj.btf.type_count:
                msg = f"prog '{prog.name}': relo #{i}: type id {rec.type_id} is not in the object's BTF"
                obj.log.warn(msg)
                raise LibbpfError(errno.EINVAL, msg)
            prog.relocs.append(Reloc(RELO_CORE, idx, core=rec, core_idx=i))
            cands = None
            if rec.kind != corelib.TYPE_ID_LOCAL:
                cands = cache.get(rec.type_id)
                if cands is None:
                    try:
                        cands = corelib.find_cands(obj.kernel_btf, obj.btf, rec.type_id, obj.log)
                    except LibbpfError as e:
                        lt = obj.btf.type_by_id(rec.type_id)
                        msg = (f"prog '{prog.name}': relo #{i}: target candidate search failed for "
                               f"[{rec.type_id}] {corelib._kind_str(lt)} {lt.name}: -{e.errno}")
                        obj.log.warn(msg)
                        raise LibbpfError(e.errno, msg) from None
                    cache[rec.type_id] = cands
            try:
                res = corelib.calc_relo_insn(rec, i, obj.btf, cands, prog.name, obj.log)
            except LibbpfError as e:
                obj.log.warn(f"prog '{prog.name}': relo #{i}: failed to relocate: {errstr(e.errno)}")
                raise
            if not res.matched:
                prog.core_unmatched.append(rec)
            try:
                corelib.patch_insn(prog.insns, idx, rec, i, res, prog.name, obj.log)
            except LibbpfError as e:
                obj.log.warn(f"prog '{prog.name}': relo #{i}: failed to patch insn #{idx}: {errstr(e.errno)}")
                raise


#: the BTF decl tag of ``__exception_cb(name)`` (bpf_experimental.h)
EXC_CB_TAG = "exception_callback:"


def assign_exc_cb(obj: Any, prog: BpfProgram) -> BpfProgram | None:
    """``bpf_prog_assign_exc_cb`` (libbpf 1.5): the subprogram an ``exception_callback:NAME``
    decl tag on ``prog``'s FUNC names (None: no tag, or two tags -- the kernel then refuses
    the load itself). The tag must sit on a global FUNC, name a global, non-hidden
    subprogram of that name, once."""
    from kernel_model.btf import structs as BS
    btf = obj.btf
    if btf is None:
        return None
    found: BpfProgram | None = None
    for _tid, t in btf.iter_types(BS.KIND_DECL_TAG):
        if t.component_idx != -1 or not t.name.startswith(EXC_CB_TAG):
            continue
        ft = btf.type_by_id(t.type_id)
        if ft.kind != BS.KIND_FUNC or ft.linkage != 1:  # BTF_FUNC_GLOBAL
            raise obj._fail(errno.EINVAL, f"prog '{prog.name}': exception_callback:<value> decl tag not applied "
                                          "to the main program")
        if ft.name != prog.name:
            continue
        if found is not None:  # several callbacks for one program: the verifier refuses it
            return None
        name = t.name[len(EXC_CB_TAG):]
        if not name:
            raise obj._fail(errno.EINVAL, f"prog '{prog.name}': exception_callback:<value> decl tag contains "
                                          "empty value")
        for sub in obj.programs:
            if not sub.is_subprog or sub.name != name:
                continue
            if not sub.sym_global or sub.mark_btf_static:
                raise obj._fail(errno.EINVAL, f"prog '{prog.name}': exception callback {sub.name} must be a "
                                              "global non-hidden function")
            found = sub
            break
        if found is None:
            raise obj._fail(errno.ENOENT, f"prog '{prog.name}': cannot find exception callback '{name}'")
    return found


def append_subprog(obj: Any, main: BpfProgram, sub: BpfProgram) -> None:
    """``bpf_object__append_subprog_code``: ``sub``'s instructions (and relocations) at the
    end of ``main``."""
    sub.sub_insn_off = len(main.insns)
    main.insns.extend(sub.insns)
    obj.log.debug(f"prog '{main.name}': added {len(sub.insns)} insns from sub-prog '{sub.name}'")
    if main is not sub:
        for r in sub.relocs:
            main.relocs.append(Reloc(r.type, r.insn_idx + sub.sub_insn_off, r.map_idx, r.sym_off,
                                     r.ext_idx, r.core, r.core_idx))


def relocate_calls(obj: Any, main: BpfProgram) -> None:
    """``bpf_object__relocate_calls``: fresh copies of subprograms for ``main``."""
    for p in obj.programs:
        if p.is_subprog:
            p.sub_insn_off = 0
    main.insns = main.insns[:main.sec_insn_cnt]
    main.relocs = [r for r in main.relocs if r.insn_idx < main.sec_insn_cnt]
    main.func_info = b""
    main.line_info = b""
    main.sub_insn_off = 0
    reloc_code(obj, main, main)


def reloc_code(obj: Any, main: BpfProgram, prog: BpfProgram) -> None:
    """``bpf_object__reloc_code``."""
    reloc_ext_info(obj, main, prog)
    for i in range(prog.sec_insn_cnt):
        at = prog.sub_insn_off + i
        insn = main.insns[at]
        if not insn_is_subprog_call(insn) and not insn_is_pseudo_func(insn):
            continue
        relo = next((r for r in prog.relocs if r.insn_idx == i), None)
        if relo is not None and relo.type == RELO_EXTERN_CALL:
            continue
        if relo is not None and relo.type not in (RELO_CALL, RELO_SUBPROG_ADDR):
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': unexpected relo for insn #{i}, type "
                                                  f"{relo.type}")
        if relo is not None:
            if relo.type == RELO_CALL:
                sub_idx = relo.sym_off // BPF_INSN_SZ + insn.imm + 1
            else:
                sub_idx = (relo.sym_off + insn.imm) // BPF_INSN_SZ
        elif insn_is_pseudo_func(insn):
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': missing subprog addr relo for insn "
                                                  f"#{i}")
        else:
            sub_idx = prog.sec_insn_off + i + insn.imm + 1
        sub = obj._find_prog_by_sec_insn(obj.text_shndx, sub_idx) if obj.text_shndx else None
        if sub is None:
            raise obj._fail(LIBBPF_ERRNO__RELOC, f"prog '{prog.name}': no .text section found yet sub-program "
                                                  "call exists")
        if sub.sub_insn_off == 0:
            append_subprog(obj, main, sub)
            reloc_code(obj, main, sub)
        insn = main.insns[at]
        imm = sub.sub_insn_off - (prog.sub_insn_off + i) - 1
        main.insns[at] = Insn(insn.code, insn.dst, insn.src, insn.off, imm)
        obj.log.debug(f"prog '{prog.name}': insn #{i} relocated, imm {imm} points to subprog '{sub.name}' "
                       f"(now at {sub.sub_insn_off} offset)")


def reloc_ext_info(obj: Any, main: BpfProgram, prog: BpfProgram) -> None:
    """``reloc_prog_func_and_line_info``."""
    ext = obj.btf_ext
    if ext is None:
        return
    for kind in ("func", "line"):
        if main is not prog and not getattr(main, f"{kind}_info"):
            continue
        secs = ext.func_info if kind == "func" else ext.line_info
        rec_size = ext.func_info_rec_size if kind == "func" else ext.line_info_rec_size
        got = None
        for sec in secs:
            if obj._ext_sec_index(sec.sec_name_off) != prog.sec_idx:
                continue
            got = adjust_ext_info([r.raw for r in sec.records], prog, rec_size)
            break
        if got is None:
            if getattr(main, f"{kind}_info"):
                raise obj._fail(errno.ENOENT, f"prog '{prog.name}': missing .BTF.ext {kind} info.")
            obj.log.warn(f"prog '{prog.name}': missing .BTF.ext {'function' if kind == 'func' else 'line'} "
                          f"info for the main program, skipping all of .BTF.ext "
                          f"{'func' if kind == 'func' else 'line'} info.")
            continue
        setattr(main, f"{kind}_info", getattr(main, f"{kind}_info") + b"".join(got))
        setattr(main, f"{kind}_info_rec_size", rec_size)


def relocate_data(obj: Any, p: BpfProgram) -> None:
    """``bpf_object__relocate_data``: map references are recorded (fds are
    written at load), kfunc calls get their BTF id and fd_array index."""
    p.map_refs = []
    for r in p.relocs:
        insn = p.insns[r.insn_idx]
        if r.type == RELO_LD64:
            m = obj.maps[r.map_idx]
            if m.autocreate:
                p.map_refs.append((r.insn_idx, r.map_idx, False))
            else:
                poison_map(obj, p, r)
        elif r.type == RELO_DATA:
            m = obj.maps[r.map_idx]
            nxt = p.insns[r.insn_idx + 1]
            p.insns[r.insn_idx + 1] = Insn(nxt.code, nxt.dst, nxt.src, nxt.off, s32(insn.imm + r.sym_off))
            if m.autocreate:
                p.map_refs.append((r.insn_idx, r.map_idx, True))
            else:
                poison_map(obj, p, r)
        elif r.type == RELO_EXTERN_LD64 and obj.externs[r.ext_idx].type == EXT_KCFG:
            # a kconfig extern: a map value load of the .kconfig map at the extern's offset
            ext = obj.externs[r.ext_idx]
            nxt = p.insns[r.insn_idx + 1]
            p.insns[r.insn_idx + 1] = Insn(nxt.code, nxt.dst, nxt.src, nxt.off, s32(ext.kcfg_off))
            p.map_refs.append((r.insn_idx, obj.kconfig_map_idx, True))
        elif r.type == RELO_EXTERN_LD64:
            ext = obj.externs[r.ext_idx]
            if ext.is_set and not ext.is_typeless:
                p.insns[r.insn_idx] = Insn(insn.code, insn.dst, BPF_PSEUDO_BTF_ID, insn.off,
                                           s32(ext.kernel_btf_id))
                p.map_refs.append((r.insn_idx, -1 - r.ext_idx, False))
            else:
                # typeless ksyms (kallsyms address) or unresolved weak typed ones (0): a plain lddw
                addr = ext.ksym_addr if ext.is_set else 0
                nxt = p.insns[r.insn_idx + 1]
                p.insns[r.insn_idx] = Insn(insn.code, insn.dst, 0, insn.off, s32(addr & 0xFFFFFFFF))
                p.insns[r.insn_idx + 1] = Insn(nxt.code, nxt.dst, nxt.src, nxt.off, s32(addr >> 32))
        elif r.type == RELO_EXTERN_CALL:
            ext = obj.externs[r.ext_idx]
            if ext.is_set:
                p.insns[r.insn_idx] = Insn(insn.code, insn.dst, BPF_PSEUDO_KFUNC_CALL, ext.btf_fd_idx,
                                           s32(ext.kernel_btf_id))
            else:
                obj.log.debug(f"prog '{p.name}': relo #{r.insn_idx}: poisoning insn #{r.insn_idx} that calls "
                               f"kfunc '{ext.name}'")
                p.insns[r.insn_idx] = Insn(isa.JMP | isa.CALL, 0, 0, 0, POISON_CALL_KFUNC_BASE + r.ext_idx)
        elif r.type == RELO_SUBPROG_ADDR and insn.src != BPF_PSEUDO_FUNC:
            raise obj._fail(errno.EINVAL, f"prog '{p.name}': relo #{r.insn_idx}: bad insn")


def poison_map(obj: Any, p: BpfProgram, r: Reloc) -> None:
    """``poison_map_ldimm64``: a reference to a map that will not be created."""
    m = obj.maps[r.map_idx]
    obj.log.debug(f"prog '{p.name}': relo #{r.insn_idx}: poisoning insn #{r.insn_idx} that loads map "
                   f"#{r.map_idx} '{m.name}'")
    p.insns[r.insn_idx] = Insn(isa.JMP | isa.CALL, 0, 0, 0, POISON_LDIMM64_MAP_BASE + r.map_idx)
    p.insns[r.insn_idx + 1] = Insn(isa.JMP | isa.CALL, 0, 0, 0, POISON_LDIMM64_MAP_BASE + r.map_idx)
