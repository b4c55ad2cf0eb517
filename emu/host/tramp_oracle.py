"""Capture the host kernel's struct_ops trampolines, to compare with ours.

The host cannot keep a ``bpf_dummy_ops`` map (its ``init_member`` refuses every
update) and refuses fentry programs, so its trampolines are only ever the
transient ones ``BPF_PROG_TEST_RUN`` builds for a ``bpf_dummy_ops`` member
(net/bpf/bpf_dummy_struct_ops.c). The program below is written for this module:

1. The program stores its frame pointer ``r10`` into an array map value
   (``BPF_PSEUDO_MAP_VALUE``, no helper) and reads it back: root has
   ``allow_ptr_leaks``, so it becomes a plain scalar, the JIT image's ``rbp``.
2. ``bpf_rdonly_cast(fp + 8, <struct ftrace_stack>)`` (a kfunc every program
   type may call) types that address as an 8 KiB read-only kernel object; one
   load (``BPF_PROBE_MEM``, fault-safe) gives the return address of ``call
   bpf_func`` inside the trampoline.
3. The same cast of ``ret - 1024`` and 256 unrolled 8-byte loads copy 2 KiB
   around it into the map.

User space then finds the image start (the 64-byte aligned ``bpf_prog_pack``
chunk from which a linear decode reaches a ``call`` at ``ret - 5`` whose target
is the program's ``jited_ksyms[0]``) and its end (the ``jmp`` to whichever
return thunk the host's CPU uses, or a ``ret``), and reads the callees'
addresses -- every return thunk among them -- from ``/proc/kallsyms``.
Nothing is attached: everything happens inside the caller's own test run.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

from kernel_model import isa
from kernel_model.cpu import RETURN_THUNKS
from kernel_model.insn import Insn, encode
from kernel_model.uapi import BPF_F_SLEEPABLE, MAP_TYPE_ARRAY, PROG_TYPE_STRUCT_OPS

from . import hostbpf

__all__ = ["CapturedTrampoline", "capture_dummy_trampoline", "host_kallsyms", "capture_program"]

WINDOW = 2048
_HALF = WINDOW // 2


@dataclass(frozen=True, slots=True)
class CapturedTrampoline:
    """One trampoline of the host: its bytes at ``image``, the ``struct bpf_prog *``
    it passes (``prog``), the program's entry (``bpf_func``), the callees."""

    member: str
    image: int
    code: bytes
    prog: int
    bpf_func: int
    callees: dict[str, int]


def host_kallsyms(names: tuple[str, ...]) -> dict[str, int]:
    """Addresses of ``names`` in ``/proc/kallsyms`` (root: real addresses)."""
    want = set(names)
    out: dict[str, int] = {}
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] in want and parts[2] not in out:
                out[parts[2]] = int(parts[0], 16)
    return out


def capture_program(map_fd: int, rdonly_cast_id: int, ftrace_stack_id: int) -> bytes:
    """The capture program (see the module docstring) as instruction bytes."""
    LDX, STX = isa.LDX | isa.MEM | isa.DW, isa.STX | isa.MEM | isa.DW
    ins = [
        Insn(isa.LD_IMM64, 6, isa.PSEUDO_MAP_VALUE, 0, map_fd), Insn(0, 0, 0, 0, 0),  # r6 = &value[0]
        Insn(STX, 6, 10, 0, 0),                      # *(u64 *)(r6 + 0) = r10
        Insn(LDX, 1, 6, 0, 0),                       # r1 = *(u64 *)(r6 + 0): fp as a scalar
        Insn(isa.ALU64 | isa.ADD | isa.K, 1, 0, 0, 8),
        Insn(isa.ALU64 | isa.MOV | isa.K, 2, 0, 0, ftrace_stack_id),
        Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, rdonly_cast_id),
        Insn(LDX, 7, 0, 0, 0),                       # r7 = return address in the trampoline
        Insn(STX, 6, 7, 8, 0),                       # value[1] = r7
        Insn(isa.ALU64 | isa.MOV | isa.X, 1, 7, 0, 0),
        Insn(isa.ALU64 | isa.ADD | isa.K, 1, 0, 0, -_HALF),
        Insn(isa.ALU64 | isa.MOV | isa.K, 2, 0, 0, ftrace_stack_id),
        Insn(isa.CALL_INSN, 0, isa.PSEUDO_KFUNC_CALL, 0, rdonly_cast_id),
    ]
    for i in range(WINDOW // 8):
        ins.append(Insn(LDX, 1, 0, 8 * i, 0))
        ins.append(Insn(STX, 6, 1, 16 + 8 * i, 0))
    ins += [Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 0), Insn(isa.EXIT_INSN)]
    return encode(ins)


def _locate(window: bytes, base: int, ret: int, bpf_func: int) -> tuple[int, bytes, int]:
    """(image address, code, prog address) of the trampoline containing ``ret``."""
    from emu.machine.listing import decode

    first = (ret - 5) & ~63
    for start in range(first, base - 1, -64):
        off = start - base
        if off < 0:
            break
        if window[off] not in (0x55, 0xF3):  # push rbp / endbr64
            continue
        end = None
        hit = False
        prog = 0
        for addr, size, mnem, op in decode(window[off:], start):
            if mnem == "movabs" and op.startswith("rdi,") and not prog:
                prog = int(op.split(",")[1], 0)
            if addr == ret - 5 and mnem == "call" and int(op, 0) == bpf_func:
                hit = True
            if mnem == "ret" or (mnem == "jmp" and not (start <= int(op, 0) < start + WINDOW)):
                end = addr + size
                break
            if addr > ret + 256:
                break
        if hit and end is not None:
            return start, window[off:end - base], prog
    raise RuntimeError("no trampoline found around the return address")


def capture_dummy_trampoline(member: str, nr_args: int, *, sleepable: bool = False) -> CapturedTrampoline:
    """Load the capture program as ``bpf_dummy_ops.<member>`` on the host, test-run
    it and return the trampoline it ran in. Raises OSError when the host refuses."""
    idx = {"test_1": 0, "test_2": 1, "test_sleepable": 2}[member]
    st_id = hostbpf.host_btf_id("bpf_dummy_ops")
    cast_id = hostbpf.host_btf_id("bpf_rdonly_cast", "func")
    fstack_id = hostbpf.host_btf_id("ftrace_stack")
    if st_id is None or cast_id is None or fstack_id is None:
        raise OSError("the host BTF lacks bpf_dummy_ops, bpf_rdonly_cast or ftrace_stack")
    value_size = 16 + WINDOW
    map_fd, err = hostbpf.map_create(MAP_TYPE_ARRAY, 4, value_size, 1, name="tramp_capture")
    if map_fd < 0:
        raise OSError(err, "BPF_MAP_CREATE failed")
    try:
        r = hostbpf.prog_load(PROG_TYPE_STRUCT_OPS, capture_program(map_fd, cast_id, fstack_id), log_level=1,
                              expected_attach_type=idx, attach_btf_id=st_id,
                              prog_flags=BPF_F_SLEEPABLE if sleepable else 0, name="tramp_capture")
        if not r.accepted:
            raise OSError(r.errno, f"capture program refused: {r.error_line()}")
        try:
            state = ctypes.create_string_buffer(4)
            args = [ctypes.addressof(state)] + [i + 1 for i in range(nr_args - 1)]
            hostbpf.test_run(r.fd, ctx_in=struct.pack(f"<{nr_args}Q", *args))
            info = hostbpf.prog_info(r.fd, True)
            value = hostbpf.map_lookup(map_fd, b"\0\0\0\0", value_size)
        finally:
            r.close()
    finally:
        hostbpf.close(map_fd)
    ret = struct.unpack_from("<Q", value, 8)[0]
    if not ret:
        raise OSError("the capture program read no return address")
    base = ret - _HALF
    image, code, prog = _locate(value[16:16 + WINDOW], base, ret, info.jited_ksyms[0])
    callees = host_kallsyms(("__bpf_prog_enter", "__bpf_prog_exit", "__bpf_prog_enter_sleepable",
                             "__bpf_prog_exit_sleepable") + RETURN_THUNKS)
    return CapturedTrampoline(member, image, code, prog, info.jited_ksyms[0], callees)
