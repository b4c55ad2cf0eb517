"""Loading JIT images and ``struct bpf_prog`` objects into the machine.

What the kernel does after the verifier and its rewrites, with everything the
machine needs handed in: ``bpf_prog_alloc`` (a ``struct bpf_prog`` in vmalloc
with its per-CPU ``active`` and ``stats``), ``bpf_int_jit_compile`` (the x86-64
JIT of :mod:`jit` into ``bpf_prog_pack`` blocks, one image per subprogram, with
the subprogram starts and stack depths the caller takes from the verifier's
result), kallsyms names (``bpf_prog_<tag>_<name>``, subprograms
``bpf_prog_<tag>_F``), the exception table of ``BPF_PROBE_MEM`` loads, and
``bpf_jit_free``. The machine never runs a verifier pass itself.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Callable, Mapping, Sequence

from jit.bpf_jit import JitImage, JitOptions, JitProgram, jit_program
from jit.symbols import KernelSymbols
from jit.x86.regs import BPF_TO_X86
from kernel_model.cpu import CpuConfig
from kernel_model.errors import KernelError
from kernel_model.insn import Insn, encode
from kernel_model.memory import HelperFn
from kernel_model.prog import BpfProg

from .address_space import AddressSpace
from .allocators import Allocators
from .calls import CallTable
from .kallsyms import Kallsyms
from .ktext import PROG_ACTIVE_OFF, PROG_STATS_OFF, KText
from .layout import M64, PAGE_SIZE
from .packs import BpfPacks
from .regs import X86_BY_NUM

__all__ = ["JitImages", "prog_tag", "BPF_PROG_SIZE"]

#: sizeof(struct bpf_prog) on the 6.18 host (insnsi[] follows at 96); with ktext's
#: PROG_STATS_OFF (56) and PROG_ACTIVE_OFF (64), the fields alloc_prog_struct fills
BPF_PROG_SIZE = 96
PROG_JITED_LEN_OFF = 16
PROG_TAG_OFF = 20
PROG_BPF_FUNC_OFF = 72
PROG_AUX_OFF = 80


def prog_tag(insns: Sequence[Insn]) -> bytes:
    """``bpf_prog_calc_tag``: the first 8 bytes of a SHA-1 over the instructions with
    map-fd immediates cleared (kernel/bpf/core.c, as of 6.12; 6.18 hashes with SHA-256
    for signed programs but prints the same 8-byte tag)."""
    raw = bytearray(encode(insns))
    for k, ins in enumerate(insns):
        if ins.code == 0x18 and ins.src in (1, 2, 5, 6) and k + 1 < len(insns):
            raw[8 * k + 4:8 * k + 8] = b"\0\0\0\0"
            raw[8 * (k + 1) + 4:8 * (k + 1) + 8] = b"\0\0\0\0"
    return hashlib.sha1(bytes(raw)).digest()[:8]


class JitImages:
    """The JIT images and programs of one machine: ``by_addr`` maps an image's
    address to ``(symbol, image, program)``, ``progs`` lists the loaded
    ``BpfProg`` objects, ``extable`` the exception-table entries by faulting address."""

    def __init__(self, *, mem: AddressSpace, alloc: Allocators, packs: BpfPacks, kallsyms: Kallsyms, ktext: KText,
                 calls: CallTable, options: JitOptions, cpu: CpuConfig) -> None:
        self.mem = mem
        self.alloc = alloc
        self.packs = packs
        self.kallsyms = kallsyms
        self.ktext = ktext
        self.calls = calls
        self.options = options
        self.cpu_config = cpu
        self.by_addr: dict[int, tuple[str, JitImage, JitProgram]] = {}
        #: faulting address -> (instruction length, x86 register to clear or -1)
        self.extable: dict[int, tuple[int, int]] = {}
        self.progs: list[BpfProg] = []

    # --- what code refers to ---------------------------------------------------------------
    def kernel_symbols(self, recur: bool = False) -> KernelSymbols:
        """What JIT images and trampolines refer to, from kallsyms (``recur``: the
        trampolines' ``_recur`` enter/exit, which model ``prog->active``); the return
        thunk is the CPU configuration's."""
        ks = self.kallsyms
        thunk = self.cpu_config.return_thunk
        s = "_recur" if recur else ""
        jthunk = self.cpu_config.indirect_thunk("rcx", call=False)
        return KernelSymbols(call_base=ks.addr_of("__bpf_call_base"), return_thunk=ks.addr_of(thunk) if thunk else 0,
                             call_depth=ks.addr_of("pcpu_hot"), this_cpu_off=ks.addr_of("this_cpu_off"),
                             timed_may_goto=ks.addr_of("arch_bpf_timed_may_goto"),
                             indirect_jump_thunk_rcx=ks.addr_of(jthunk) if jthunk else 0,
                             prog_enter=ks.addr_of(f"__bpf_prog_enter{s}"), prog_exit=ks.addr_of(f"__bpf_prog_exit{s}"),
                             prog_enter_sleepable=ks.addr_of(f"__bpf_prog_enter_sleepable{s}"),
                             prog_exit_sleepable=ks.addr_of(f"__bpf_prog_exit_sleepable{s}"))

    def trampoline_symbols(self, recur: bool = False) -> KernelSymbols:
        """:meth:`kernel_symbols` for the trampolines."""
        return self.kernel_symbols(recur)

    def call_imm(self, target: int) -> int:
        """A CALL immediate for ``target``: ``target - __bpf_call_base`` (``BPF_CALL_IMM``)."""
        rel = (target - self.ktext.addr("__bpf_call_base")) & M64
        rel = rel - (1 << 64) if rel >> 63 else rel
        if not -(1 << 31) <= rel < 1 << 31:
            raise KernelError(34, f"call target {target:#x} out of range")  # ERANGE
        return rel

    def helper_imms(self, helpers: Mapping[int, HelperFn], prefix: str = "bpf_helper_") -> dict[int, int]:
        """Bind helpers by id to stubs; returns ``{helper id: call imm}`` for
        :func:`verifier.fixups.fixup_for_jit`."""
        from kernel_model.helper_ids import HELPER_NAMES

        out = {}
        for hid, fn in helpers.items():
            name = f"bpf_{HELPER_NAMES[hid]}" if 0 < hid < len(HELPER_NAMES) else f"{prefix}{hid}"
            if name in self.calls.by_name:
                name = f"{prefix}{hid}"
            addr = self.calls.by_name[name].addr if name in self.calls.by_name else self.calls.add(name, fn)
            out[hid] = self.call_imm(addr)
        return out

    # --- struct bpf_prog -------------------------------------------------------------------
    def alloc_prog_struct(self, prog: BpfProg) -> int:
        """``bpf_prog_alloc``: a ``struct bpf_prog`` (6.18 layout, insnsi[] at 96) in
        vmalloc, with ``active`` (per-CPU int) and ``stats`` (per-CPU bpf_prog_stats)."""
        n = len(prog.insns)
        addr = self.alloc.vmalloc(BPF_PROG_SIZE + 8 * n)
        active = self.alloc.alloc_percpu(4, 4)
        stats = self.alloc.alloc_percpu(32, 8)
        aux = self.alloc.kzalloc(64)
        pages = (BPF_PROG_SIZE + 8 * n + PAGE_SIZE - 1) // PAGE_SIZE
        hdr = bytearray(BPF_PROG_SIZE)
        struct.pack_into("<HHIIII", hdr, 0, pages, 0x1 | 0x2 | 0x4, prog.prog_type, prog.expected_attach_type,
                         n, 0)
        hdr[PROG_TAG_OFF:PROG_TAG_OFF + 8] = prog_tag(prog.insns)
        for off, ptr in ((PROG_STATS_OFF, stats), (PROG_ACTIVE_OFF, active), (PROG_AUX_OFF, aux)):
            struct.pack_into("<Q", hdr, off, ptr)
        if prog.sleepable:
            hdr[3] |= 0x80  # the 'sleepable' bit (byte 3, bit 7 on the host's BTF)
        self.mem.poke(addr, bytes(hdr) + encode(prog.insns))
        prog.addr = addr
        return addr

    def free_prog_struct(self, prog: BpfProg) -> None:
        """``__bpf_prog_free``: the ``struct bpf_prog`` of :meth:`alloc_prog_struct`, its
        per-CPU ``active`` and ``stats`` and its aux block; ``prog.addr`` becomes 0."""
        if not prog.addr:
            return
        stats, active, aux = (int.from_bytes(self.mem.peek(prog.addr + off, 8), "little")
                              for off in (PROG_STATS_OFF, PROG_ACTIVE_OFF, PROG_AUX_OFF))
        for ptr in (stats, active):
            if ptr:
                self.alloc.free_percpu(ptr)
        if aux:
            self.alloc.kfree(aux)
        self.alloc.vfree(prog.addr)
        prog.addr = 0
        if prog in self.progs:
            self.progs.remove(prog)

    # --- JIT images ------------------------------------------------------------------------
    def load_prog(self, prog: BpfProg, *, starts: Sequence[int] = (0,), stack_depths: Sequence[int] | None = None,
                  insns: Sequence[Insn] | None = None, was_classic: bool = False,
                  tail_call_reachable: Sequence[bool] | None = None,
                  tail_call_targets: Callable[[int], int | None] | None = None,
                  exception_boundary: bool = False, exception_cb: int = -1) -> JitProgram:
        """Allocate ``struct bpf_prog``, JIT ``insns`` (default ``prog.insns``, which must
        already be fixed up: see :func:`verifier.fixups.fixup_for_jit`) with the
        verifier's subprogram ``starts`` and ``stack_depths``, place the images in the
        BPF pack and name them in kallsyms. Sets ``prog.addr``, ``prog.bpf_func``,
        ``prog.jited``."""
        code = list(insns if insns is not None else prog.insns)
        if not prog.addr:
            self.alloc_prog_struct(prog)
        jp = self.jit(code, starts=starts, stack_depths=stack_depths, name=prog.name or "",
                      was_classic=was_classic, tag=prog_tag(prog.insns).hex(),
                      tail_call_reachable=tail_call_reachable, tail_call_targets=tail_call_targets,
                      exception_boundary=exception_boundary, exception_cb=exception_cb)
        prog.bpf_func = jp.bpf_func
        prog.jited = b"".join(img.code for img in jp.funcs)
        self.mem.poke(prog.addr + PROG_JITED_LEN_OFF, struct.pack("<I", len(jp.funcs[0].code)))
        self.mem.poke(prog.addr + PROG_BPF_FUNC_OFF, struct.pack("<Q", jp.bpf_func))
        self.progs.append(prog)
        return jp

    def jit(self, insns: Sequence[Insn], *, starts: Sequence[int] = (0,),
            stack_depths: Sequence[int] | None = None, name: str = "", was_classic: bool = False,
            tag: str | None = None, tail_call_reachable: Sequence[bool] | None = None,
            tail_call_targets: Callable[[int], int | None] | None = None,
            exception_boundary: bool = False, exception_cb: int = -1) -> JitProgram:
        """JIT instructions into the BPF pack (no ``struct bpf_prog``). ``starts``: where
        each function begins (the verifier's subprogram starts; one function by
        default), ``stack_depths`` its stack depth (0 each by default)."""
        jp = jit_program(list(insns), self.packs.jit_binary_pack_alloc, starts=starts, stack_depths=stack_depths,
                         options=self.options, symbols=self.kernel_symbols(), was_classic=was_classic,
                         tail_call_reachable=tail_call_reachable, tail_call_targets=tail_call_targets,
                         exception_boundary=exception_boundary, exception_cb=exception_cb)
        jp.exception_cb = exception_cb
        tag = tag or prog_tag(insns).hex()
        for f, img in enumerate(jp.funcs):
            self.packs.text_copy(img.addr, img.code)
            sym = f"bpf_prog_{tag}_{name if f == 0 else 'F'}"
            if self.kallsyms.find_symbol_by_name(sym) is not None:
                sym = f"{sym}_{img.addr & 0xFFFFF:05x}"
            self.kallsyms.add(sym, img.addr, len(img.code), "t", "bpf")
            self.by_addr[img.addr] = (sym, img, jp)
            for ex in img.extable:
                reg = X86_BY_NUM[BPF_TO_X86[ex.dst]] if ex.dst >= 0 else -1
                self.extable[img.addr + ex.insn] = (ex.length, reg)
        return jp

    def free_jit(self, jp: JitProgram) -> None:
        """``bpf_jit_free``: release the images of ``jp`` (int3 over their chunks)."""
        for img in jp.funcs:
            sym, _, _ = self.by_addr.pop(img.addr)
            self.kallsyms.remove(sym)
            for ex in img.extable:
                self.extable.pop(img.addr + ex.insn, None)
            self.packs.jit_binary_pack_free(img.addr)

    def image_at(self, addr: int) -> tuple[str, JitImage, JitProgram] | None:
        """The JIT image (symbol, image, program) containing ``addr``."""
        sym = self.kallsyms.lookup(addr)
        if sym is None or sym.module != "bpf":
            return None
        return self.by_addr.get(sym.addr)

    def bpf_index(self, addr: int) -> int:
        """The BPF instruction slot whose x86 code contains ``addr`` (-1 outside every image)."""
        img = self.image_at(addr)
        if img is not None:
            loc = img[2].locate(addr)
            if loc is not None and loc[1] >= 0:
                return loc[1]
        return -1

    def reset(self) -> None:
        """Forget every image and program (their packs are freed by the packs' reset)."""
        self.by_addr.clear()
        self.extable.clear()
        self.progs.clear()
