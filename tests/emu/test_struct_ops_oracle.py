"""The host kernel as the oracle for struct_ops (skipped cleanly where bpf() is not permitted).

* Trampoline bytes: the host's test_run trampolines for the three bpf_dummy_ops members
  are captured afresh (emu/host/tramp_oracle.py) and compared with ours, emitted for the
  host's own CPU configuration (``--cpu host``, emu/host/hostcpu.py: return thunk, IBT,
  call-depth tracking read from the running kernel): byte for byte when ours is emitted
  at the captured image, prog, program and callee addresses; modulo the embedded
  addresses when emitted by our own machine for our own program.
* Execution: the same bpf_dummy_ops programs run through the host's BPF_PROG_TEST_RUN
  and through our trampoline must give the same retval and the same state written back
  to user memory, on the NULL path, and with full-width arguments; the same calls are
  refused with the same errno.
"""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emu.host import hostbpf
from emu.kernel import Kernel
from emu.host.tramp_oracle import capture_dummy_trampoline
from jit.symbols import KernelSymbols
from jit.trampoline import emit_trampoline, struct_ops_flags
from kernel_model.asm import assemble
from kernel_model.errors import KernelError
from kernel_model.insn import encode
from kernel_model.prog import PROG_TYPE_STRUCT_OPS
from kernel_model.uapi import BPF_F_SLEEPABLE

pytestmark = pytest.mark.kernel

MEMBERS = {"test_1": (0, 1, False), "test_2": (1, 5, False), "test_sleepable": (2, 1, True)}
M64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def kernel():
    from emu.host.hostcpu import detect_host_cpu

    k = Kernel(modules=(), cpu=detect_host_cpu())
    yield k
    k.shutdown()


# --- trampoline bytes ---------------------------------------------------------------------------

@pytest.mark.parametrize("member", list(MEMBERS))
def test_trampoline_bytes_equal_the_host_at_the_captured_addresses(kernel, member):
    idx, nargs, sleepable = MEMBERS[member]
    cap = capture_dummy_trampoline(member, nargs, sleepable=sleepable)
    cpu = kernel.cpu_config
    # 107/123 bytes with a 5-byte thunk jump, no IBT and no call-depth accounting
    expected = {"test_1": 107, "test_2": 123, "test_sleepable": 107}[member] - 5 + cpu.return_size
    assert len(cap.code) == expected + 4 * cpu.ibt + 27 * cpu.call_depth_tracking
    c = cap.callees
    syms = KernelSymbols(prog_enter=c["__bpf_prog_enter"], prog_exit=c["__bpf_prog_exit"],
                         prog_enter_sleepable=c["__bpf_prog_enter_sleepable"],
                         prog_exit_sleepable=c["__bpf_prog_exit_sleepable"],
                         return_thunk=c[cpu.return_thunk] if cpu.rethunk else 0)
    model = kernel.struct_ops_type("bpf_dummy_ops").member(member).func_model
    ours = emit_trampoline(model, image=cap.image, prog=cap.prog, bpf_func=cap.bpf_func, sleepable=sleepable,
                           flags=struct_ops_flags(model), profile=kernel.profile, symbols=syms, cpu=cpu)
    assert ours.hex() == cap.code.hex()


def _address_fields(code: bytes, base: int) -> list[tuple[int, int]]:
    """(offset, length) of the embedded addresses: movabs imm64 and call/jmp rel32."""
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    out = []
    for addr, size, mnem, _op in md.disasm_lite(code, base):
        off = addr - base
        if mnem == "movabs":
            out.append((off + size - 8, 8))
        elif mnem in ("call", "jmp") and code[off] in (0xE8, 0xE9):
            out.append((off + 1, 4))
    return out


def _masked(code: bytes, base: int) -> bytes:
    b = bytearray(code)
    for off, n in _address_fields(code, base):
        b[off:off + n] = b"\0" * n
    return bytes(b)


@pytest.mark.parametrize("member", list(MEMBERS))
def test_our_machines_trampoline_matches_the_host_modulo_addresses(kernel, member):
    """Emitted by our test runner for our program at our addresses: only the imm64 of the
    struct bpf_prog pointer and the rel32 of the calls and the thunk jump differ."""
    idx, nargs, sleepable = MEMBERS[member]
    cap = capture_dummy_trampoline(member, nargs, sleepable=sleepable)
    d = kernel.struct_ops_type("bpf_dummy_ops")
    fd = kernel.prog_load(assemble("r0 = 0\nexit"), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                          expected_attach_type=idx, prog_flags=BPF_F_SLEEPABLE if sleepable else 0)
    st_ptr = kernel.user.alloc(4)
    r = kernel.prog_test_run(fd, ctx_in=struct.pack(f"<{nargs}Q", st_ptr, *range(1, nargs)))
    image = r.details["trampoline"]
    from jit.trampoline import X86StructOpsArch

    prog = kernel.fds.objects[fd].prog
    model = d.member(member).func_model
    ours = X86StructOpsArch(kernel.profile, kernel.machine.images.trampoline_symbols(), kernel.cpu_config).emit(
        model, struct_ops_flags(model), prog, image)
    assert len(ours) == len(cap.code)
    assert _address_fields(ours, image) == _address_fields(cap.code, cap.image)
    assert _masked(ours, image) == _masked(cap.code, cap.image)
    kernel.close(fd)


# --- execution: the same programs, the host's test run and ours ----------------------------------

def _host_run(src: str, member: str, state: int | None, extra: tuple[int, ...] = ()) -> tuple[int, int | None]:
    idx, nargs, sleepable = MEMBERS[member]
    r = hostbpf.prog_load(PROG_TYPE_STRUCT_OPS, encode(assemble(src)), log_level=1, expected_attach_type=idx,
                          attach_btf_id=hostbpf.host_btf_id("bpf_dummy_ops"),
                          prog_flags=BPF_F_SLEEPABLE if sleepable else 0)
    assert r.accepted, r.log
    try:
        buf = ctypes.create_string_buffer(struct.pack("<i", state) if state is not None else b"\0" * 4, 4)
        ptr = ctypes.addressof(buf) if state is not None else 0
        try:
            res = hostbpf.test_run(r.fd, ctx_in=struct.pack(f"<{nargs}Q", ptr, *extra))
        except OSError as e:
            return -e.errno, None
        return res.retval, struct.unpack("<i", buf.raw[:4])[0] if state is not None else None
    finally:
        r.close()


def _our_run(k: Kernel, src: str, member: str, state: int | None, extra: tuple[int, ...] = ()) -> tuple[int, int | None]:
    idx, nargs, sleepable = MEMBERS[member]
    d = k.struct_ops_type("bpf_dummy_ops")
    fd = k.prog_load(assemble(src), prog_type=PROG_TYPE_STRUCT_OPS, attach_btf_id=d.type_id,
                     expected_attach_type=idx, prog_flags=BPF_F_SLEEPABLE if sleepable else 0)
    try:
        ptr = k.user.alloc(struct.pack("<i", state)) if state is not None else 0
        try:
            res = k.prog_test_run(fd, ctx_in=struct.pack(f"<{nargs}Q", ptr, *extra))
        except KernelError as e:
            return -e.errno, None
        return res.retval, struct.unpack("<i", k.user.read(ptr, 4))[0] if state is not None else None
    finally:
        k.close(fd)


INC_RET_7 = """
    r1 = *(u64 *)(r1 + 0)
    if r1 == 0 goto out
    r2 = *(u32 *)(r1 + 0)
    r2 += 1
    *(u32 *)(r1 + 0) = r2
out:
    r0 = 7
    exit"""
VAL_OR_MINUS_1 = """
    r1 = *(u64 *)(r1 + 0)
    r0 = -1
    if r1 == 0 goto out
    r0 = *(u32 *)(r1 + 0)
out:
    exit"""
WIDE_RET = "r0 = 0x100000005 ll\nexit"


@pytest.mark.parametrize("src,state", [(INC_RET_7, 41), (INC_RET_7, None), (INC_RET_7, -1),
                                       (VAL_OR_MINUS_1, 123), (VAL_OR_MINUS_1, None), (WIDE_RET, 0)])
def test_test_1_results_agree(kernel, src, state):
    """test_1 as the host runs it: retval, write-back, NULL path, truncation."""
    assert _our_run(kernel, src, "test_1", state) == _host_run(src, "test_1", state)


def test_sleepable_agrees_and_null_is_refused_on_both(kernel):
    assert _our_run(kernel, INC_RET_7, "test_sleepable", 1) == _host_run(INC_RET_7, "test_sleepable", 1) == (7, 2)
    host = _host_run(INC_RET_7, "test_sleepable", None)
    assert _our_run(kernel, INC_RET_7, "test_sleepable", None) == host == (-errno.EINVAL, None)


def member_2_storing(k: int, high: bool) -> str:
    shift = "r2 >>= 32\n" if high else ""
    return f"""
    r3 = *(u64 *)(r1 + 0)
    r2 = *(u64 *)(r1 + {8 * k})
    {shift}
    *(u32 *)(r3 + 0) = r2
    r0 = r2
    exit"""


@settings(max_examples=12, deadline=None)
@given(args=st.tuples(*(st.integers(0, M64) for _ in range(4))), k=st.integers(1, 4), high=st.booleans())
def test_member_2_full_width_arguments_agree(kernel, args, k, high):
    """test_2 rows: every argument reaches the program with all 64 bits (no extension of
    int/short/char), on the host and here; retval is the stored 32 bits."""
    src = member_2_storing(k, high)
    ours = _our_run(kernel, src, "test_2", 0, args)
    assert ours == _host_run(src, "test_2", 0, args)
    word = args[k - 1] >> 32 if high else args[k - 1] & 0xFFFF_FFFF
    assert ours[0] == word


def test_member_2_null_state_is_einval_on_both(kernel):
    src = member_2_storing(1, False)
    assert _our_run(kernel, src, "test_2", None, (1, 2, 3, 4)) == _host_run(src, "test_2", None, (1, 2, 3, 4))
