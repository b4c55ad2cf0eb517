"""Faults in emulated code: Unicorn's hooks, the exception table, oopses and the unwinder.

Two hooks are placed before any code runs (Unicorn places hooks at
translation time) and never change: the invalid-memory hook, which first maps
a region reserved for first touch and lets Unicorn retry, and the interrupt
hook (``int3``, ``ud2``, divide errors). A stop they cause becomes, after
``emu_start`` returns, either a resumed run (``ex_handler_bpf``: a faulting
``BPF_PROBE_MEM`` load skipped with its destination cleared) or an
:class:`~emu.machine.oops.Oops` built the way the kernel builds its report:
the kind of fault, the address (the full 64-bit address, decoded from the
faulting instruction with capstone, since Unicorn masks it to 52 bits), the
registers, the code bytes, the BPF instruction when RIP is in a JIT image, and
the frame-pointer call trace (arch/x86/kernel/unwind_frame.c).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC, HOOK_MEM_INVALID_CFUNC, uclib

from kernel_model.errors import InternalError, KernelError

from .address_space import AddressSpace
from .images import JitImages
from .kallsyms import Kallsyms
from .layout import M64, canonical, virt_addr
from .oops import REG_ORDER, X86_PF_INSTR, X86_PF_PROT, X86_PF_WRITE, Oops, OopsReport
from .regs import ALL_REGS, RAW, FastRegs

if TYPE_CHECKING:  # pragma: no cover
    from .run import RunLoop

__all__ = ["Faults"]

# UC_MEM_* access types
_ACCESS = {19: ("read", 0), 20: ("write", X86_PF_WRITE), 21: ("fetch", X86_PF_INSTR),
           22: ("write", X86_PF_WRITE | X86_PF_PROT), 23: ("read", X86_PF_PROT),
           24: ("fetch", X86_PF_INSTR | X86_PF_PROT)}


class Faults:
    """The fault side of one machine: its hooks, the last memory fault, the oops
    counter (``die_counter``, the ``[#n]`` of a report)."""

    def __init__(self, *, uc: Any, fast: FastRegs, mem: AddressSpace, kallsyms: Kallsyms, images: JitImages,
                 stacks: list[tuple[int, int]], landing: int) -> None:
        self.uc = uc
        self.fast = fast
        self.mem = mem
        self.kallsyms = kallsyms
        self.images = images
        self.stacks = stacks
        self.landing = landing
        #: the run loop (set by the machine): its CPU and its way of stopping a run
        self.run: "RunLoop | None" = None
        #: (access, host address, size) of the last invalid access, until consumed
        self.fault: tuple[int, int, int] | None = None
        self.die_counter = 0
        self._hooks: list[ctypes.c_size_t] = []
        self._mem_cb: Any = None
        self._intr_cb: Any = None
        mem.bad_access = self.helper_fault

    # --- hooks -------------------------------------------------------------------------------
    def install_hooks(self) -> None:
        self._mem_cb = HOOK_MEM_INVALID_CFUNC(self._on_mem_invalid)
        self._intr_cb = HOOK_INTR_CFUNC(self._on_intr)
        for kind, cb in ((0x3F0, self._mem_cb), (1, self._intr_cb)):  # UC_HOOK_MEM_INVALID, UC_HOOK_INTR
            h = ctypes.c_size_t()
            err = uclib.uc_hook_add(self.uc._uch, ctypes.byref(h), kind, ctypes.cast(cb, ctypes.c_void_p), None,
                                    ctypes.c_uint64(1), ctypes.c_uint64(0))
            if err:  # pragma: no cover
                raise InternalError(f"uc_hook_add failed: {err}")
            self._hooks.append(h)

    def uninstall_hooks(self) -> None:
        """Remove the hooks and drop their callbacks (which hold the machine)."""
        for h in self._hooks:
            uclib.uc_hook_del(self.uc._uch, h)
        self._hooks.clear()
        self._mem_cb = self._intr_cb = None

    def _on_mem_invalid(self, uc: int, access: int, address: int, size: int, value: int, user: int) -> bool:
        assert self.run is not None
        if access <= 21:  # UC_MEM_{READ,WRITE,FETCH}_UNMAPPED: a region reserved for first touch?
            try:
                if self.mem.materialize_range(virt_addr(address), max(size, 1)):
                    return True  # Unicorn retries the access
            except BaseException as e:  # noqa: BLE001 - must not cross the C callback
                self.run.stop_with(e)
        self.fault = (access, address, size)
        return False

    def _on_intr(self, uc: int, intno: int, user: int) -> None:
        assert self.run is not None
        self.fault = None
        RAW.uc_emu_stop(self.fast.hp)
        if self.run.pending is None:
            self.run.pending = self.oops(-intno - 1)

    # --- after the stop --------------------------------------------------------------------------
    def fixup(self, err: int) -> int | None:
        """``ex_handler_bpf``: a faulting PROBE_MEM load of a JIT image is skipped and
        its destination cleared; returns the address to resume at."""
        if self.fault is None or err not in (6, 7, 12, 13):
            return None
        rip = self.fast.read(X.UC_X86_REG_RIP)
        ex = self.images.extable.get(rip)
        if ex is None:
            return None
        length, reg = ex
        if reg >= 0:
            self.fast.write(reg, 0)
        self.fault = None
        return rip + length

    def regs(self) -> dict[str, int]:
        return dict(zip(REG_ORDER, self.fast.read_many(ALL_REGS)))

    def oops(self, err: int) -> Oops:
        """Build the oops for a stop with error ``err`` (negative: interrupt ``-err-1``)."""
        regs = self.regs()
        rip = regs["rip"]
        fault, self.fault = self.fault, None
        address: int | None = None
        access = ""
        error_code = 0
        detail = ""
        if err < 0:
            intno = -err - 1
            kind = {0: "divide error", 3: "int3", 6: "invalid opcode"}.get(intno, f"trap {intno}")
            if intno == 3:
                rip -= 1  # the kernel reports the int3 itself (do_int3 rewinds ip)
                regs["rip"] = rip
        elif err == 21:  # UC_ERR_EXCEPTION without the interrupt hook seeing it
            kind = "divide error" if self._insn_mnemonic(rip) in ("div", "idiv") else "trap"
        elif err == 10:
            kind = "invalid opcode"
        elif fault is not None:
            acc, host, _size = fault
            access, error_code = _ACCESS.get(acc, ("read", 0))
            address = virt_addr(host)
            kind = "page fault"
            if access != "fetch":
                ea = self._effective_address(rip)
                if ea is not None and not canonical(ea):
                    kind, address = "general protection fault", ea
                elif ea is not None:
                    address = ea
            else:
                address = rip
        else:
            kind = "trap"
            detail = f"emulation stopped with uc_err {err}"
        self.die_counter += 1
        code, code_start = self._code_bytes(rip)
        trace = self.unwind(regs, kind == "page fault" and access == "fetch")
        img = self.images.image_at(rip)
        bpf_insn = bpf_prog = None
        if img is not None:
            sym, _image, jp = img
            loc = jp.locate(rip)
            bpf_prog = sym
            if loc is not None and loc[1] >= 0:
                bpf_insn = loc[1]
        report = OopsReport(kind, address, access, error_code, rip, self.kallsyms.format_addr(rip), regs,
                            tuple(trace), bpf_insn, bpf_prog, code, code_start, self.die_counter, detail,
                            self._cpu())
        return Oops(report)

    def helper_fault(self, addr: int, access: str, mapped: bool) -> Oops:
        """A Python helper touched memory it may not: the oops happens in the helper."""
        regs = self.regs()
        rip = regs["rip"]
        self.die_counter += 1
        if not canonical(addr):
            kind: str = "general protection fault"
            ec = 0
        else:
            kind = "page fault"
            ec = (X86_PF_WRITE if access == "write" else 0) | (X86_PF_PROT if mapped else 0)
        trace = self.unwind(regs, True)
        return Oops(OopsReport(kind, addr & M64, access, ec, rip, self.kallsyms.format_addr(rip), regs,
                               tuple(trace), None, None, None, rip - 42, self.die_counter,
                               "in a Python-serviced kernel function", self._cpu()))

    def _cpu(self) -> int:
        return self.run.cpu if self.run is not None else 0

    # --- decoding the faulting instruction ---------------------------------------------------------
    def _insn_mnemonic(self, rip: int) -> str:
        try:
            import capstone

            md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            for ins in md.disasm_lite(self.mem.peek(rip, 16), rip, 1):
                return ins[2]
        except (KernelError, ImportError):
            pass
        return ""

    def _effective_address(self, rip: int) -> int | None:
        """The full 64-bit address a memory operand at ``rip`` computes (Unicorn
        reports it masked to 52 bits): decoded with capstone on faults only."""
        try:
            import capstone
            from capstone import x86 as cx

            md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            md.detail = True
            ins = next(md.disasm(self.mem.peek(rip, 16), rip, 1), None)
        except (KernelError, ImportError):
            return None
        if ins is None:
            return None
        for o in ins.operands:
            if o.type != cx.X86_OP_MEM:
                continue
            mem = o.mem
            ea = mem.disp
            if mem.base:
                ea += rip + ins.size if mem.base == cx.X86_REG_RIP else self._cs_reg(ins.reg_name(mem.base))
            if mem.index:
                ea += self._cs_reg(ins.reg_name(mem.index)) * mem.scale
            if mem.segment == cx.X86_REG_GS:
                ea += self.fast.read(X.UC_X86_REG_GS_BASE)
            return ea & M64
        return None

    def _cs_reg(self, name: str) -> int:
        return self.fast.read(getattr(X, f"UC_X86_REG_{name.upper()}"))

    def _code_bytes(self, rip: int) -> tuple[bytes | None, int]:
        start = rip - 42
        try:
            return self.mem.peek(start, 64), start
        except KernelError:
            return None, start

    # --- the unwinder ------------------------------------------------------------------------------
    def _on_stack(self, addr: int) -> bool:
        lo, hi = self.stacks[self._cpu()]
        return lo <= addr <= hi - 8

    def unwind(self, regs: dict[str, int], at_entry: bool) -> list[str]:
        """The frame-pointer unwinder (arch/x86/kernel/unwind_frame.c): the return
        address at ``[rsp]`` when the fault hit before a frame was built (a call to a
        bad address), then ``[rbp + 8]`` up the ``rbp`` chain, until the return to
        the host."""
        out: list[str] = []
        rsp, rbp = regs["rsp"], regs["rbp"]
        peek = self.mem.peek
        if at_entry and self._on_stack(rsp):
            try:
                ret = int.from_bytes(peek(rsp, 8), "little")
            except KernelError:
                ret = 0
            if ret != self.landing:
                out.append(self.kallsyms.format_addr(ret))
        seen = 0
        while self._on_stack(rbp) and seen < 64:
            try:
                nxt = int.from_bytes(peek(rbp, 8), "little")
                ret = int.from_bytes(peek(rbp + 8, 8), "little")
            except KernelError:
                break
            if ret == self.landing:
                break
            out.append(self.kallsyms.format_addr(ret))
            if nxt <= rbp:
                break
            rbp = nxt
            seen += 1
        return out
