"""The program JIT: bytes of the 6.18 hosts, passes, subprograms, errors; host oracle."""

from __future__ import annotations

import struct

import pytest

from jit.bpf_jit import MODULES_VADDR, JitError, JitOptions, compile_func, JitFunc, jit_program
from jit.symbols import KernelSymbols
from kernel_model.asm import assemble
from kernel_model.cpu import PRESETS
from kernel_model.insn import Insn, decode, encode
from kernel_model.profile import LATEST

# The bytes below were captured on the project's first 6.18 host, an AMD EPYC whose
# returns go through srso_return_thunk: the "amd-zen2" preset, stated explicitly.
CAPTURED_ON = PRESETS["amd-zen2"]
SYMS = KernelSymbols(call_base=0xFFFF_FFFF_814D_CF10, return_thunk=0xFFFF_FFFF_8227_0DE0)
IMAGE = 0xFFFF_FFFF_C002_2064


def _jit(src_or_insns, *, depth=0, profile=LATEST, cpu=CAPTURED_ON, image=IMAGE, starts=(0,), depths=None):
    insns = assemble(src_or_insns) if isinstance(src_or_insns, str) else src_or_insns
    addrs = iter([image, image + 0x1000, image + 0x2000])
    return jit_program(insns, lambda size: next(addrs), starts=starts, stack_depths=depths or [depth] * len(starts),
                       symbols=SYMS, options=JitOptions(profile, cpu))


def _thunk_rel(code: bytes, image: int) -> int:
    return (image + len(code) + struct.unpack("<i", code[-4:])[0]) & (2**64 - 1)


# jited_prog_insns of the amd-zen2 host (Linux 6.18), the thunk jump excluded
@pytest.mark.parametrize("src, body", [
    ("r0 = 0\nexit", "0f1f4400000f1f00554889e531c0c9"),
    ("r0 = 42\nexit", "0f1f4400000f1f00554889e5b82a000000c9"),
    ("r1 = *(u64 *)(r1 + 0)\nr0 = 0\nif r1 == 0 goto +1\nr0 = *(u32 *)(r1 + 0)\nexit",
     "0f1f4400000f1f00554889e5488b7f0031c04885ff74038b4700c9"),
])
def test_host_bytes(src, body):
    img = _jit(src).funcs[0]
    assert img.code[:-5].hex() == body
    assert img.code[-5] == 0xE9 and _thunk_rel(img.code, IMAGE) == SYMS.return_thunk


def test_plain_ret_and_ibt_cpu_knobs():
    code = _jit("r0 = 0\nexit", cpu=PRESETS["none"]).funcs[0].code
    assert code.hex() == "0f1f4400000f1f00554889e531c0c9c3"
    code = _jit("r0 = 0\nexit", cpu=PRESETS["none"].with_knobs(ibt=True)).funcs[0].code
    assert code.hex() == "f30f1efa" "0f1f4400000f1f00554889e5" "f30f1efa" "31c0c9c3"


def test_stack_and_callee_saved_registers():
    code = _jit("r6 = r1\nr0 = *(u32 *)(r6 + 112)\nr0 += 1\n*(u64 *)(r10 - 8) = 7\nr2 = *(u64 *)(r10 - 8)\n"
                "r0 += r2\nexit", depth=8).funcs[0].code
    # the host's socket-filter example: sub rsp,8; push rbx; mov rbx,rdi; ... pop rbx; leave
    assert code.hex().startswith("0f1f4400000f1f00554889e54881ec0800000053" "4889fb" "8b4370" "4883c001")
    assert code.hex().endswith("5bc9" + code[-5:].hex())


def test_jumps_shrink_to_rel8_and_widen_past_123_bytes():
    near = "r0 = 0\nif r1 == 0 goto out\n" + "r0 += 1\n" * 20 + "out:\nexit"
    far = "r0 = 0\nif r1 == 0 goto out\n" + "r0 += 1\n" * 40 + "out:\nexit"
    n, f = _jit(near).funcs[0], _jit(far).funcs[0]
    jn = n.code[n.addrs[2] - 2:n.addrs[2]]
    assert jn[0] == 0x74 and jn[1] == 4 * 20  # je rel8: 20 x 'add rax, 1' (4 bytes each)
    jf = f.code[f.addrs[2] - 6:f.addrs[2]]
    assert jf[:2] == b"\x0f\x84" and struct.unpack("<i", jf[2:])[0] == 4 * 40 > 123
    assert n.passes >= 3  # the estimate pass, one shrinking pass, the stable pass, the final pass


def test_jit_converges_like_the_kernel_on_a_jump_chain():
    # alternating short/long jumps that only converge with the 123-byte rel8 limit
    lines = ["r0 = 0"]
    for k in range(30):
        lines.append(f"if r1 == {k} goto l{k}")
        lines += ["r0 += 1"] * (7 + k % 5)
        lines.append(f"l{k}:")
    lines.append("exit")
    img = _jit("\n".join(lines)).funcs[0]
    assert img.passes < 20 and len(img.code) == img.addrs[-1]


def test_insn_offsets_map_code_back_to_bpf_slots():
    img = _jit("r0 = 1\nr1 = 0x100000000 ll\nr0 += r1\nexit").funcs[0]
    assert img.insn_at(img.addrs[0]) == 0
    assert img.insn_at(img.addrs[1]) == 1 and img.insn_at(img.addrs[1] + 9) == 1  # movabs, 10 bytes
    assert img.insn_at(img.addrs[3]) == 3 and img.insn_at(0) == -1


def test_subprograms_get_their_own_images_and_calls():
    insns = assemble("r1 = 5\ncall f\nexit\nf:\nr0 = r1\nr0 *= 3\nexit")
    jp = _jit(insns, starts=(0, 3))
    main, sub = jp.funcs
    assert sub.addr == IMAGE + 0x1000
    at = main.addrs[1]
    assert main.code[at] == 0xE8
    assert (main.addr + at + 5 + struct.unpack_from("<i", main.code, at + 1)[0]) & (2**64 - 1) == sub.addr
    assert jp.locate(sub.addr + sub.addrs[1]) == (1, 4)


def test_pseudo_func_lddw_gets_the_subprogram_address():
    insns = [Insn(0x18, 2, 4, 0, 3), Insn(0, 0, 0, 0, 0)] + assemble("r0 = 0\nexit\nr0 = 1\nexit")
    jp = _jit(insns, starts=(0, 4))
    code = jp.funcs[0].code
    at = jp.funcs[0].addrs[0]
    # module addresses are sign-extended 32-bit values: mov rsi, simm32 (as the first round's
    # MODULES_VADDR placeholder, so the size holds in the extra pass)
    assert code[at:at + 3] == b"\x48\xc7\xc6"
    assert struct.unpack_from("<i", code, at + 3)[0] & (2**64 - 1) == jp.funcs[1].addr
    assert MODULES_VADDR >= 0xFFFF_FFFF_8000_0000


def test_errors_are_kernel_errors():
    with pytest.raises(JitError) as e:
        _jit([Insn(0xFF), Insn(0x95)])
    assert e.value.errno == 524 and "unknown opcode ff" in str(e.value)
    # an indirect tail call through a retpoline needs the thunk's address
    with pytest.raises(JitError, match="__x86_indirect_thunk_rcx"):
        _jit([Insn(0xF5), Insn(0x95)])


def test_size_is_known_before_placement():
    placed = []
    img = compile_func(JitFunc(tuple(assemble("r0 = 1\nexit"))), lambda size: placed.append(size) or IMAGE,
                       symbols=SYMS)
    assert placed == [len(img.code)]


# --- the host kernel as oracle ------------------------------------------------------------
ORACLE_PROGRAMS = [
    "r0 = 0\nmay_goto +1\nr0 = 1\nexit",
    "r0 = 5\nr1 = 2\nr0 /= r1\nr0 %= r1\nw0 /= w1\nw0 %= w1\nexit",
    "r0 = 5\nr1 = 2\nr0 s/= r1\nr0 s%= r1\nw0 s/= w1\nw0 s%= w1\nexit",
    "r0 = 1\nr0 <<= r0\nr1 = 3\nr1 >>= r0\nr1 s>>= r0\nw1 <<= w0\nr0 = r1\nexit",
    "r0 = r1\nr0 = bswap16 r0\nr0 = bswap32 r0\nr0 = be16 r0\nr0 = le32 r0\nr0 = -r0\nw0 = -w0\nexit",
    "r0 = 0\n*(u64 *)(r10 - 8) = r0\nr1 = 1\nlock *(u64 *)(r10 - 8) += r1\n"
    "r1 = atomic_fetch_or((u64 *)(r10 - 8), r1)\nr0 = cmpxchg_64(r10 - 8, r0, r1)\nexit",
    "r2 = 0x123456789 ll\nr0 = r2\nr0 s>>= 7\nr0 = (s8)r0\nr0 = (s32)r2\nw0 = (s16)w2\nexit",
    "call 5\nr6 = r0\ncall 7\nr0 += r6\nexit",
]


@pytest.mark.kernel
@pytest.mark.parametrize("src", ORACLE_PROGRAMS)
def test_byte_identical_to_the_host_jit(src):
    """Our JIT on the host's own CPU configuration (``--cpu host``: return thunk, IBT,
    call-depth tracking, timed may_goto read from the running kernel) and addresses."""
    from emu.host import hostbpf as hb
    from emu.host.hostcpu import detect_host_cpu, host_symbols

    cpu = detect_host_cpu()
    ks = host_symbols(["__bpf_call_base", "arch_bpf_timed_may_goto"] + ([cpu.return_thunk] if cpu.rethunk else []))
    insns = assemble(src)
    r = hb.prog_load(1, encode(insns))
    assert r.accepted, r.log
    try:
        info = hb.prog_info(r.fd)
    finally:
        r.close()
    xl = decode(info.xlated)
    host = info.jited
    pro = 12 + 8 * cpu.ibt  # nop5 nop3 push mov (+ two endbr64 with IBT), then sub rsp
    depth = struct.unpack_from("<i", host, pro + 3)[0] if host[pro:pro + 3] == b"\x48\x81\xec" else 0
    syms = KernelSymbols(call_base=ks["__bpf_call_base"], return_thunk=ks[cpu.return_thunk] if cpu.rethunk else 0,
                         timed_may_goto=ks.get("arch_bpf_timed_may_goto", 0))
    ours = jit_program(xl, lambda size: info.jited_ksyms[0], stack_depths=[depth], symbols=syms,
                       options=JitOptions(LATEST, cpu)).funcs[0].code
    assert ours.hex() == host.hex()
