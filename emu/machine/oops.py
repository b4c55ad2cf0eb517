"""Faults in emulated code, reported as the kernel reports them: an oops.

An invalid access, an instruction fetch from a non-executable page, a call
through a NULL function pointer, a division fault, an ``int3`` or an
undefined instruction in emulated code stops the machine and raises
:class:`Oops`, an :class:`~kernel_model.errors.ExecFault` carrying the whole
report. The text follows Linux 6.18's x86 ``page_fault_oops()``
(arch/x86/mm/fault.c: ``BUG: kernel NULL pointer dereference, address:`` for
addresses below PAGE_SIZE, else ``BUG: unable to handle page fault for
address:``; ``#PF: supervisor read access|write access|instruction fetch in
kernel mode``; ``#PF: error_code(0x....) - not-present page|permissions
violation``; ``kernel tried to execute NX-protected page`` for NX fetches),
``__die_header()`` (arch/x86/kernel/dumpstack.c: ``Oops: <str>: <err> [#n]
PREEMPT SMP NOPTI``), ``show_ip``/``show_opcodes`` (``RIP: 0010:sym+off/size``
and 64 code bytes with the faulting one in ``<..>``), ``__show_regs``
(arch/x86/kernel/process_64.c) and a frame-pointer ``Call Trace``.

Where we differ: no CR2/CR3/CR4 or segment lines, no ``Modules linked in``,
no ``? `` unreliable entries (the trace is the frame-pointer chain only);
the general protection fault of a non-canonical address is detected by
decoding the faulting instruction (Unicorn itself aliases such addresses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel_model.errors import ExecFault
from kernel_model.uapi import PAGE_SIZE

__all__ = ["Oops", "OopsReport", "X86_PF_PROT", "X86_PF_WRITE", "X86_PF_USER", "X86_PF_INSTR", "REG_ORDER",
           "format_report"]

#: arch/x86/include/asm/trap_pf.h
X86_PF_PROT = 1 << 0
X86_PF_WRITE = 1 << 1
X86_PF_USER = 1 << 2
X86_PF_INSTR = 1 << 4

REG_ORDER = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
             "r14", "r15", "rsp", "rip", "eflags")


@dataclass(frozen=True, slots=True)
class OopsReport:
    """Everything an oops says.

    ``kind`` is one of ``page fault``, ``general protection fault``, ``divide
    error``, ``int3``, ``invalid opcode``, ``helper fault``; ``address`` the
    faulting address (page faults, GP), ``access`` ``read``/``write``/``fetch``,
    ``error_code`` the x86 page-fault error code, ``rip``/``rip_symbol`` where
    it happened, ``regs`` the registers by name, ``trace`` the call-trace
    entries as ``sym+off/size`` strings (innermost first), ``bpf_insn`` the BPF
    instruction slot when RIP is inside a JIT image (else None), ``code`` the
    bytes around RIP (None when unreadable), ``die_counter`` the ``[#n]``.
    """

    kind: str
    address: int | None
    access: str
    error_code: int
    rip: int
    rip_symbol: str
    regs: dict[str, int]
    trace: tuple[str, ...]
    bpf_insn: int | None = None
    bpf_prog: str | None = None
    code: bytes | None = None
    code_start: int = 0
    die_counter: int = 1
    detail: str = ""
    cpu: int = 0
    notes: tuple[str, ...] = field(default=())


def _header_lines(r: OopsReport) -> tuple[list[str], str]:
    lines: list[str] = []
    if r.kind == "page fault":
        assert r.address is not None
        if r.error_code & X86_PF_INSTR and r.error_code & X86_PF_PROT:
            lines.append("kernel tried to execute NX-protected page - exploit attempt? (uid: 0)")
        if r.address < PAGE_SIZE:
            lines.append(f"BUG: kernel NULL pointer dereference, address: {r.address:016x}")
        else:
            lines.append(f"BUG: unable to handle page fault for address: {r.address:016x}")
        what = ("instruction fetch" if r.error_code & X86_PF_INSTR else
                "write access" if r.error_code & X86_PF_WRITE else "read access")
        lines.append(f"#PF: supervisor {what} in kernel mode")
        lines.append(f"#PF: error_code({r.error_code:#06x}) - "
                     + ("permissions violation" if r.error_code & X86_PF_PROT else "not-present page"))
        return lines, "Oops"
    if r.kind == "general protection fault":
        assert r.address is not None
        return lines, f"general protection fault, probably for non-canonical address {r.address:#x}"
    return lines, r.kind


def format_report(r: OopsReport) -> str:
    """The oops as the kernel log shows it."""
    lines, die_str = _header_lines(r)
    err = r.error_code if r.kind == "page fault" else 0
    lines.append(f"Oops: {die_str}: {err:04x} [#{r.die_counter}] PREEMPT SMP NOPTI")
    lines.append(f"CPU: {r.cpu} UID: 0 PID: 1 Comm: structops-emu Not tainted 6.18.0-structops-emu #1")
    lines.extend(r.notes)
    lines.append(f"RIP: 0010:{r.rip_symbol}")
    if r.code is not None:
        pro = r.rip - r.code_start
        b = r.code
        lines.append("Code: " + " ".join(f"{x:02x}" for x in b[:pro])
                     + (f" <{b[pro]:02x}> " if pro < len(b) else " ")
                     + " ".join(f"{x:02x}" for x in b[pro + 1:]))
    else:
        lines.append(f"Code: Unable to access opcode bytes at {r.rip - 42:#x}.")
    g = r.regs
    lines.append(f"RSP: 0018:{g['rsp']:016x} EFLAGS: {g['eflags']:08x}")
    lines.append(f"RAX: {g['rax']:016x} RBX: {g['rbx']:016x} RCX: {g['rcx']:016x}")
    lines.append(f"RDX: {g['rdx']:016x} RSI: {g['rsi']:016x} RDI: {g['rdi']:016x}")
    lines.append(f"RBP: {g['rbp']:016x} R08: {g['r8']:016x} R09: {g['r9']:016x}")
    lines.append(f"R10: {g['r10']:016x} R11: {g['r11']:016x} R12: {g['r12']:016x}")
    lines.append(f"R13: {g['r13']:016x} R14: {g['r14']:016x} R15: {g['r15']:016x}")
    if r.bpf_insn is not None:
        lines.append(f"BPF: {r.bpf_prog or 'prog'} insn {r.bpf_insn}")
    if r.detail:
        lines.append(r.detail)
    lines.append("Call Trace:")
    lines.append(" <TASK>")
    lines.extend(f" {t}" for t in r.trace)
    lines.append(" </TASK>")
    return "\n".join(lines)


class Oops(ExecFault):
    """A fault in emulated code. ``report`` holds the :class:`OopsReport`,
    ``text`` the kernel-style log; ``kind``/``address``/``index`` as in
    ExecFault (``index`` is the BPF slot when known, else -1)."""

    def __init__(self, report: OopsReport) -> None:
        self.report = report
        self.text = format_report(report)
        first = self.text.splitlines()[0] if report.kind == "page fault" else f"Oops: {report.kind}"
        super().__init__(report.kind, report.bpf_insn if report.bpf_insn is not None else -1,
                         report.address, f"{first} at {report.rip_symbol}")
        self.args = (self.text,)

    def __str__(self) -> str:
        r = self.report
        where = f"RIP {r.rip_symbol}"
        if r.bpf_insn is not None:
            where += f" (insn {r.bpf_insn})"
        head = self.text.splitlines()[0]
        return f"kernel oops: {head} at {where}"
