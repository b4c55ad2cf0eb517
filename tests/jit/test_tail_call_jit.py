"""Tail calls in the x86-64 JIT: the kernel's sequences, the poke sites, and the host's bytes."""

from __future__ import annotations

import struct

import pytest

from jit.bpf_jit import (MAX_TAIL_CALL_CNT, JitOptions, jit_program, tail_call_poke, x86_tail_call_offset)
from jit.symbols import KernelSymbols
from kernel_model import isa
from kernel_model.cpu import PRESETS
from kernel_model.insn import Insn, decode, encode
from kernel_model.profile import LATEST

IMAGE = 0xFFFF_FFFF_C000_1000
SYMS = KernelSymbols(call_base=0xFFFF_FFFF_814D_CF10, return_thunk=0xFFFF_FFFF_8227_0DE0,
                     indirect_jump_thunk_rcx=0xFFFF_FFFF_8227_0100)
MAP = 0xFFFF_8881_0000_7000
TAIL = isa.JMP | 0xF0


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v >> 31 else v


def _prog(direct: bool) -> list[Insn]:
    return [Insn(isa.LD_IMM64, 2, 0, 0, _s32(MAP)), Insn(0, 0, 0, 0, _s32(MAP >> 32)),
            Insn(isa.ALU64 | isa.MOV | isa.K, 3, 0, 0, 1), Insn(TAIL, 0, 0, 0, 1 if direct else 0),
            Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 7), Insn(isa.EXIT_INSN)]


def _jit(insns, cpu=PRESETS["none"], targets=None, depth=0):
    return jit_program(insns, lambda size: IMAGE, stack_depths=[depth], symbols=SYMS, options=JitOptions(LATEST, cpu),
                       tail_call_reachable=[True], tail_call_targets=targets)


def test_prologue_keeps_the_count_and_its_pointer():
    code = _jit(_prog(False)).funcs[0].code
    # nop5; xor rax, rax; push rbp; mov rbp, rsp; cmp rax, 33; ja +6; push rax; mov rax, rsp; jmp +1; push rax; push rax
    assert code[:26].hex() == ("0f1f440000" "4831c0" "55" "4889e5" "4883f8" + f"{MAX_TAIL_CALL_CNT:02x}" +
                               "7706" "50" "4889e0" "eb01" "50" "50")


@pytest.mark.parametrize("cpu, tail", [("plain", "ffe1cc"), ("lfence", "0faee8ffe1")])
def test_indirect_jump_follows_the_cpu(cpu, tail):
    preset = PRESETS["none"].with_knobs(indirect=cpu)
    jp = _jit(_prog(False), cpu=preset)
    code = jp.funcs[0].code
    seq = code[jp.funcs[0].addrs[3]:jp.funcs[0].addrs[4]]
    assert seq.startswith(bytes.fromhex("89d239564c"))  # mov edx, edx; cmp [rsi + max_entries], edx
    assert seq.endswith(bytes.fromhex("488b4948" "4883c1") + bytes([x86_tail_call_offset(preset)]) + bytes.fromhex(tail))


def test_retpoline_jumps_to_the_rcx_thunk():
    jp = _jit(_prog(False), cpu=PRESETS["none"].with_knobs(indirect="retpoline"))
    img = jp.funcs[0]
    seq = img.code[img.addrs[3]:img.addrs[4]]
    assert seq[-5] == 0xE9
    rel = struct.unpack_from("<i", seq, len(seq) - 4)[0]
    assert (IMAGE + img.addrs[4] + rel) & (2**64 - 1) == SYMS.indirect_jump_thunk_rcx


def test_direct_call_sites_and_pokes():
    empty = _jit(_prog(True)).funcs[0]
    (site,) = empty.pokes
    assert site.poke == 0
    code = empty.code
    # empty slot: the bypass jumps to the out label, the target site is a nop5
    assert code[site.tailcall_target:site.tailcall_target + 5] == bytes.fromhex("0f1f440000")
    assert code[site.tailcall_bypass] == 0xE9
    rel = struct.unpack_from("<i", code, site.tailcall_bypass + 1)[0]
    assert site.tailcall_bypass + 5 + rel == site.bypass_addr == site.tailcall_target + 5
    target = 0xFFFF_FFFF_C000_8000
    full = _jit(_prog(True), targets=lambda poke: target).funcs[0]
    patched = bytearray(code)
    for addr, b in tail_call_poke(site, IMAGE, target, PRESETS["none"]):
        patched[addr - IMAGE:addr - IMAGE + 5] = b
    assert bytes(patched) == full.code  # bpf_tail_call_direct_fixup == a later map update
    rel = struct.unpack_from("<i", full.code, site.tailcall_target + 1)[0]
    assert IMAGE + site.tailcall_target + 5 + rel == target + x86_tail_call_offset(PRESETS["none"])
    # and back to empty
    back = bytearray(full.code)
    for addr, b in tail_call_poke(site, IMAGE, None, PRESETS["none"]):
        back[addr - IMAGE:addr - IMAGE + 5] = b
    assert bytes(back) == code


def test_ibt_moves_the_tail_call_offset():
    assert x86_tail_call_offset(PRESETS["none"].with_knobs(ibt=True)) == 16
    assert x86_tail_call_offset(PRESETS["none"]) == 12


# --- the host's JIT ---------------------------------------------------------------------------
def _host():
    hb = pytest.importorskip("emu.host.hostbpf")
    ok, why = hb.oracle_status()
    if not ok:
        pytest.skip(why)
    return hb


def _from_xlated(xl: list[Insn], map_addr: int, direct: bool) -> list[Insn]:
    out, i = [], 0
    while i < len(xl):
        ins = xl[i]
        if ins.code == isa.LD_IMM64:
            out += [Insn(ins.code, ins.dst, 0, 0, _s32(map_addr)), Insn(0, 0, 0, 0, _s32(map_addr >> 32))]
            i += 2
            continue
        if ins.code == isa.CALL_INSN and ins.src == 0 and ins.imm == 12:
            ins = Insn(TAIL, 0, 0, 0, 1 if direct else 0)  # the dump shows bpf_tail_call back as a call
        out.append(ins)
        i += 1
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("key", [1, 2, None])
@pytest.mark.parametrize("stack, r6", [(False, False), (True, True)])
@pytest.mark.parametrize("subprog", [False, True])
def test_jit_bytes_equal_the_hosts(key, stack, r6, subprog):
    """A socket filter tail-calling through a prog array (constant key 1: a program is in
    the slot, key 2: empty slot, unknown key: indirect), with stack, a callee-saved
    register and a bpf-to-bpf call: our bytes at the host's image address, with the
    host's CPU configuration and symbols, equal the host's."""
    hb = _host()
    from emu.host.hostcpu import detect_host_cpu, host_symbols

    cpu = detect_host_cpu()
    thunk = cpu.indirect_thunk("rcx", call=False)
    names = ["__bpf_call_base", "pcpu_hot"] + ([cpu.return_thunk] if cpu.rethunk else []) + ([thunk] if thunk else [])
    ks = host_symbols(names)
    if "__bpf_call_base" not in ks:
        pytest.skip("kallsyms addresses are hidden")
    syms = KernelSymbols(call_base=ks["__bpf_call_base"], return_thunk=ks.get(cpu.return_thunk or "", 0),
                         indirect_jump_thunk_rcx=ks.get(thunk or "", 0), call_depth=ks.get("pcpu_hot", 0))
    pa, err = hb.map_create(3, 4, 4, 4)
    assert pa >= 0, err
    callee = hb.prog_load(1, encode([Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 42), Insn(isa.EXIT_INSN)]))
    try:
        assert hb.map_update(pa, struct.pack("<I", 1), struct.pack("<I", callee.fd))[0] == 0
        target = hb.prog_info(callee.fd).jited_ksyms[0]
        p = [Insn(isa.LD_IMM64, 2, isa.PSEUDO_MAP_FD, 0, pa), Insn(0, 0, 0, 0, 0)]
        if stack:
            p.append(Insn(isa.ST | isa.MEM | isa.DW, 10, 0, -24, 1))
        if r6:
            p.append(Insn(isa.ALU64 | isa.MOV | isa.X, 6, 1, 0, 0))
        p.append(Insn(isa.ALU64 | isa.MOV | isa.K, 3, 0, 0, key) if key is not None
                 else Insn(isa.LDX | isa.MEM | isa.W, 3, 1, 0, 0))
        p += [Insn(isa.CALL_INSN, 0, 0, 0, 12), Insn(isa.CALL_INSN, 0, 0, 0, 7)]
        if subprog:
            p.append(Insn(isa.CALL_INSN, 0, isa.PSEUDO_CALL, 0, 2))
        p += [Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 7), Insn(isa.EXIT_INSN)]
        if subprog:
            p += [Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 1), Insn(isa.EXIT_INSN)]
        r = hb.prog_load(1, encode(p))
        assert r.accepted, r.error_line()
        try:
            info = hb.prog_info(r.fd)
        finally:
            r.close()
        at = info.jited.find(b"\x48\xbe")  # movabs rsi, <the prog array>: the dump names its id
        map_addr = struct.unpack_from("<Q", info.jited, at + 2)[0]
        xl = decode(info.xlated)
        jin = _from_xlated(xl, map_addr, key is not None)
        starts = [0]
        for k, ins in enumerate(jin):
            if ins.code == isa.CALL_INSN and ins.src == isa.PSEUDO_CALL:
                starts.append(k + ins.off + 1)
                jin[k] = Insn(ins.code, 0, ins.src, 0, ins.off)
        lens = info.jited_func_lens or [len(info.jited)]
        depths = [24 if stack else 0] + [0] * (len(starts) - 1)
        addrs = iter(info.jited_ksyms)
        jp = jit_program(jin, lambda size: next(addrs), starts=starts, stack_depths=depths, symbols=syms,
                         options=JitOptions(LATEST, cpu), tail_call_reachable=[True] + [False] * (len(starts) - 1),
                         tail_call_targets=lambda poke: target if key == 1 else None)
        chunks, pos = [], 0
        for n in lens:
            chunks.append(info.jited[pos:pos + n])
            pos += n
        assert [img.code.hex() for img in jp.funcs] == [c.hex() for c in chunks]
    finally:
        callee.close()
        hb.close(pa)
