"""Kernel text of the emulated machine, written as x86-64 assembly.

The functions JIT images and trampolines call, and the callers that drive
them, assembled with keystone **once per process and layout** (the result is
cached; keystone is never called per instruction or per machine):

``__bpf_call_base``
    kernel/bpf/core.c: ``u64 __bpf_call_base(u64, u64, u64, u64, u64) { return 0; }``.
    Helper, kfunc and bpf-to-bpf call immediates are relative to it.
Every return thunk ``x86_return_thunk`` may point at (arch/x86/lib/retpoline.S, 6.12-6.18)
    ``srso_return_thunk`` (calls ``srso_safe_ret``, which drops that return
    address and returns to the real caller), ``srso_alias_return_thunk`` /
    ``srso_alias_safe_ret`` (the same through the alias), ``retbleed_return_thunk``,
    ``its_return_thunk`` and ``__x86_return_thunk`` (``ret; int3``), and
    ``call_depth_return_thunk`` (``shlq $5`` of the per-CPU call depth; when it
    underflows, 16 ``call``s refill the RSB, the stack is dropped and the depth
    credited, as ``__x86_return_skl``). All are always present (kallsyms names
    them all, as the host's does); the CPU configuration
    (:class:`kernel_model.cpu.CpuConfig`) picks which one every ``ret`` of kernel
    text, JIT images, trampolines and stubs jumps to -- or a plain ``ret``
    (``ret; int3`` with SLS).
Indirect-call thunks for ``rax`` and ``rbx`` (the two registers kernel text here calls through)
    ``__x86_indirect_thunk_<reg>`` (retpoline), ``__x86_indirect_call_thunk_<reg>``
    (retpoline with call-depth accounting), ``__x86_indirect_its_thunk_<reg>``
    (ITS: ``jmp *reg; int3``). The indirect callers below call through the one
    the CPU configuration names, or inline ``call *reg`` (``lfence`` first for
    lfence retpolines).
``__bpf_prog_enter``, ``__bpf_prog_exit`` and ``_sleepable``, ``_recur``, ``_sleepable_recur``
    kernel/bpf/trampoline.c (6.12-6.18). All save ``current->bpf_ctx`` in
    ``run_ctx->saved_run_ctx`` and point it at ``&run_ctx->run_ctx``
    (``bpf_set_run_ctx``), count ``rcu_read_lock``/``migrate_disable``
    nesting, and return ``NO_START_TIME`` (1): stats are off
    (``bpf_stats_enabled_key``), so ``bpf_prog_start_time()`` never reads a
    clock. The ``_recur`` variants also do ``this_cpu_inc_return(*prog->active)``
    and return 0 -- the trampoline then skips the program -- when it is not 1,
    counting a miss in ``prog->stats->misses``; their exits decrement it. The
    x86 struct_ops trampolines of the 6.18 host call the non-recursive pair
    (``bpf_prog_check_recur()`` is false for struct_ops without a private stack).
``bpf_struct_ops_call_member``
    The indirect caller: loads the function pointer at ``[r11]`` (a kdata
    struct member) and calls it with rdi..r9 untouched, as a subsystem's
    ``ops->member(args)`` does; returns its rax.
``bpf_test_run_loop``
    ``rdi`` = function, ``rsi`` = ctx, ``rdx`` = repeat: calls the function
    ``repeat`` times with ctx (net/bpf/test_run.c's loop, in the emulator:
    the throughput mode).
``__emu_return_to_host``
    Where Python-driven calls return: emulation stops at its address.

Frame pointers: every function here builds ``push rbp; mov rbp, rsp`` so the
oops unwinder walks through it. Each function is preceded by 16 bytes of
``__pfx_`` padding (CONFIG_FUNCTION_PADDING_BYTES, as the host's kallsyms show).

Per-CPU data is addressed ``%gs:sym`` with 6.15+ x86 semantics: percpu
symbols live in the kernel image (``.data..percpu``) and each CPU's GS base
is its area minus the section start.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from kernel_model.cpu import CpuConfig
from kernel_model.errors import InternalError

__all__ = ["KText", "assemble_ktext", "return_text", "indirect_call_text", "PCPU", "PFX_BYTES", "PROG_ACTIVE_OFF",
           "PROG_STATS_OFF", "STATS_MISSES_OFF", "RUN_CTX_SAVED_OFF"]

#: CONFIG_FUNCTION_PADDING_BYTES
PFX_BYTES = 16
#: struct bpf_prog (Linux 6.18 host BTF): ``stats`` at 56, ``active`` at 64
PROG_STATS_OFF = 56
PROG_ACTIVE_OFF = 64
#: struct bpf_prog_stats: ``misses`` at 16
STATS_MISSES_OFF = 16
#: struct bpf_tramp_run_ctx: ``saved_run_ctx`` at 8 (``run_ctx`` at 0)
RUN_CTX_SAVED_OFF = 8


@dataclass(frozen=True, slots=True)
class _Pcpu:
    """Offsets of the static per-CPU variables inside the percpu section."""

    current_task: int = 0x00
    #: models ``current->bpf_ctx`` (struct task_struct is reduced in this kernel)
    bpf_ctx: int = 0x08
    #: models ``current->rcu_read_lock_nesting`` and ``current->migration_disabled``
    rcu_nesting: int = 0x10
    migrate_disable: int = 0x14
    rcu_trace_nesting: int = 0x18
    #: pcpu_hot.call_depth (call-depth tracking)
    call_depth: int = 0x20
    #: this_cpu_off: the CPU's own per-CPU offset (its GS base)
    this_cpu_off: int = 0x28
    #: cpu_number: the CPU's own number (smp_processor_id; what the verifier's inlined
    #: bpf_get_smp_processor_id reads, 6.18 x86-64)
    cpu_number: int = 0x30
    #: first byte of the dynamic per-CPU allocator (alloc_percpu)
    dynamic: int = 0x100


PCPU = _Pcpu()


@dataclass(frozen=True, slots=True)
class KText:
    """Assembled kernel text: ``code`` placed at ``base``; ``symbols`` maps a name
    to ``(address, size)``."""

    base: int
    code: bytes
    symbols: dict[str, tuple[int, int]]

    def addr(self, name: str) -> int:
        return self.symbols[name][0]


def _functions(ret: str, icall: Callable[[str], str], pcpu: int) -> list[tuple[str, str]]:
    """(name, body) of every function; ``ret`` is the return instruction text,
    ``icall(reg)`` an indirect call through ``reg``, ``pcpu`` the percpu section address."""
    P = PCPU
    def gs(off: int) -> str:
        return f"gs:[{pcpu + off:#x}]"

    icall_rax = icall("rax")
    icall_rbx = icall("rbx")
    # bpf_set_run_ctx: run_ctx->saved_run_ctx = current->bpf_ctx; current->bpf_ctx = &run_ctx->run_ctx
    set_run_ctx = f"""
        mov rax, qword ptr {gs(P.bpf_ctx)}
        mov qword ptr [rsi + {RUN_CTX_SAVED_OFF}], rax
        mov qword ptr {gs(P.bpf_ctx)}, rsi
    """
    # bpf_reset_run_ctx(run_ctx->saved_run_ctx)
    reset_run_ctx = f"""
        mov rax, qword ptr [rdx + {RUN_CTX_SAVED_OFF}]
        mov qword ptr {gs(P.bpf_ctx)}, rax
    """
    recur_enter = f"""
        mov rax, qword ptr [rdi + {PROG_ACTIVE_OFF}]
        inc dword ptr gs:[rax]
        cmp dword ptr gs:[rax], 1
        je 1f
        mov rax, qword ptr [rdi + {PROG_STATS_OFF}]
        test rax, rax
        je 2f
        inc qword ptr gs:[rax + {STATS_MISSES_OFF}]
    2:
        xor eax, eax
        leave
        {ret}
    1:
    """
    recur_exit = f"""
        mov rax, qword ptr [rdi + {PROG_ACTIVE_OFF}]
        dec dword ptr gs:[rax]
    """

    def enter(sleepable: bool, recur: bool) -> str:
        lock = f"inc dword ptr {gs(P.rcu_trace_nesting if sleepable else P.rcu_nesting)}"
        return f"""
        push rbp
        mov rbp, rsp
        {lock}
        inc dword ptr {gs(P.migrate_disable)}
        {set_run_ctx}
        {recur_enter if recur else ''}
        mov eax, 1
        leave
        {ret}
        """

    def exit_(sleepable: bool, recur: bool) -> str:
        unlock = f"dec dword ptr {gs(P.rcu_trace_nesting if sleepable else P.rcu_nesting)}"
        return f"""
        push rbp
        mov rbp, rsp
        {reset_run_ctx}
        {recur_exit if recur else ''}
        dec dword ptr {gs(P.migrate_disable)}
        {unlock}
        leave
        {ret}
        """

    def retpoline(reg: str, account: bool) -> str:
        # POLINE: the speculative path spins on pause/lfence; the architectural one
        # overwrites the return address with the target and returns to it
        acct = f"sar qword ptr {gs(P.call_depth)}, 5\n" if account else ""
        return f"""
        {acct}
        call 2f
    1:
        pause
        lfence
        jmp 1b
    2:
        mov qword ptr [rsp], {reg}
        ret
        """

    # __x86_return_skl: shift the depth counter; at zero (underflow) stuff the RSB
    # with 16 calls, drop them, credit the depth (CREDIT_CALL_DEPTH) and return
    stuff = "".join("""
        call 2f
        int3
    2:""" for _ in range(16))
    call_depth_return = f"""
        shl qword ptr {gs(P.call_depth)}, 5
        jz 1f
        ret
        int3
    1:{stuff}
        add rsp, 128
        mov qword ptr {gs(P.call_depth)}, -1
        ret
        int3
    """

    fns = [
        ("__bpf_call_base", f"""
        push rbp
        mov rbp, rsp
        xor eax, eax
        leave
        {ret}
        """),
        ("srso_safe_ret", "lea rsp, [rsp + 8]\n ret\n int3"),
        ("srso_return_thunk", "call srso_safe_ret\n ud2"),
        ("srso_alias_safe_ret", "lea rsp, [rsp + 8]\n ret\n int3"),
        ("srso_alias_return_thunk", "call srso_alias_safe_ret\n ud2"),
        ("retbleed_return_thunk", "ret\n int3"),
        ("call_depth_return_thunk", call_depth_return),
        ("its_return_thunk", "ret\n int3"),
        ("__x86_return_thunk", "ret\n int3"),
    ]
    for reg in ("rax", "rbx"):
        fns += [
            (f"__x86_indirect_thunk_{reg}", retpoline(reg, False)),
            (f"__x86_indirect_call_thunk_{reg}", retpoline(reg, True)),
            (f"__x86_indirect_its_thunk_{reg}", f"jmp {reg}\n int3"),
        ]
    for sleepable in (False, True):
        for recur in (False, True):
            suffix = ("_sleepable" if sleepable else "") + ("_recur" if recur else "")
            fns.append((f"__bpf_prog_enter{suffix}", enter(sleepable, recur)))
            fns.append((f"__bpf_prog_exit{suffix}", exit_(sleepable, recur)))
    fns += [
        ("bpf_struct_ops_call_member", f"""
        push rbp
        mov rbp, rsp
        mov rax, qword ptr [r11]
        {icall_rax}
        leave
        {ret}
        """),
        ("bpf_test_run_loop", f"""
        push rbp
        mov rbp, rsp
        push rbx
        push r12
        push r13
        push r14
        mov rbx, rdi
        mov r12, rsi
        mov r13, rdx
        xor r14d, r14d
    1:
        test r13, r13
        je 2f
        mov rdi, r12
        {icall_rbx}
        mov r14, rax
        dec r13
        jmp 1b
    2:
        mov rax, r14
        pop r14
        pop r13
        pop r12
        pop rbx
        leave
        {ret}
        """),
        ("__emu_return_to_host", "hlt\n int3"),
    ]
    # rcx: the JIT's indirect tail calls (emit_indirect_jump); last, so the text above keeps
    # its addresses
    fns += [("__x86_indirect_thunk_rcx", retpoline("rcx", False)),
            ("__x86_indirect_jump_thunk_rcx", retpoline("rcx", False)),
            ("__x86_indirect_its_thunk_rcx", "jmp rcx\n int3")]
    return fns


def _local_labels(body: str, fn: str) -> str:
    """keystone has no numeric local labels (``1:``/``1b``/``1f``): give each its own name."""
    import re

    out = []
    defs: dict[str, int] = {}
    lines = body.splitlines()
    # number every definition
    count: dict[str, int] = {}
    for line in lines:
        m = re.match(r"\s*(\d+):\s*$", line)
        if m:
            count[m.group(1)] = count.get(m.group(1), 0) + 1
    seen: dict[str, int] = {}
    for line in lines:
        m = re.match(r"\s*(\d+):\s*$", line)
        if m:
            n = m.group(1)
            seen[n] = seen.get(n, 0) + 1
            out.append(f"{fn}_L{n}_{seen[n]}:")
            continue

        def repl(mm: "re.Match[str]") -> str:
            n, d = mm.group(1), mm.group(2)
            k = seen.get(n, 0) if d == "b" else seen.get(n, 0) + 1
            return f"{fn}_L{n}_{k}"
        out.append(re.sub(r"\b(\d+)([bf])\b", repl, line))
    del defs
    return "\n".join(out)


def return_text(cpu: CpuConfig) -> str:
    """The assembly of ``emit_return()`` for ``cpu``."""
    if cpu.return_thunk is not None:
        return f"jmp {cpu.return_thunk}"
    return "ret\n int3" if cpu.sls else "ret"


def indirect_call_text(cpu: CpuConfig, reg: str) -> str:
    """An indirect call through ``reg`` as kernel code compiled for ``cpu`` makes it."""
    thunk = cpu.indirect_thunk(reg, call=True)
    if thunk is not None:
        return f"call {thunk}"
    if cpu.indirect == "lfence":
        return f"lfence\n call {reg}"
    return f"call {reg}"


def assemble_ktext(base: int, cpu: CpuConfig, pcpu: int) -> KText:
    """Assemble the kernel text at ``base`` for ``cpu`` (cached per layout and per
    the knobs that change kernel text)."""
    return _assemble(base, return_text(cpu), tuple(indirect_call_text(cpu, r) for r in ("rax", "rbx")), pcpu)


@lru_cache(maxsize=16)
def _assemble(base: int, ret: str, icalls: tuple[str, str], pcpu: int) -> KText:
    import keystone

    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    by_reg = dict(zip(("rax", "rbx"), icalls))
    fns = _functions(ret, by_reg.__getitem__, pcpu)
    names = [n for n, _ in fns]
    addrs = {n: base + PFX_BYTES + 64 * k for k, n in enumerate(names)}
    sizes: dict[str, int] = {}
    blobs: dict[str, bytes] = {}
    for _ in range(6):  # layout fixpoint: jmp widths depend on distances
        changed = False
        for name, body in fns:
            text = _local_labels(body, name.strip("_"))
            for other, a in addrs.items():
                text = _replace_symbol(text, other, a)
            try:
                enc, _n = ks.asm(text, addrs[name], as_bytes=True)
            except keystone.KsError as e:  # pragma: no cover - a bug in the listing above
                raise InternalError(f"kernel text {name}: keystone: {e}") from None
            blobs[name] = bytes(enc or b"")
        cur = base
        new_addrs = {}
        for name in names:
            cur += PFX_BYTES
            new_addrs[name] = cur
            sizes[name] = len(blobs[name])
            cur += len(blobs[name])
            cur = (cur + 15) & ~15
        if new_addrs != addrs:
            changed = True
        addrs = new_addrs
        if not changed:
            break
    else:  # pragma: no cover
        raise InternalError("kernel text layout did not converge")
    code = bytearray()
    symbols: dict[str, tuple[int, int]] = {}
    for name in names:
        start = addrs[name] - PFX_BYTES - base
        code += b"\x90" * (start + PFX_BYTES - len(code))  # __pfx_ padding (and alignment) as nops
        symbols["__pfx_" + name] = (addrs[name] - PFX_BYTES, PFX_BYTES)
        code += blobs[name]
        symbols[name] = (addrs[name], sizes[name])
    return KText(base, bytes(code), symbols)


def _replace_symbol(text: str, name: str, addr: int) -> str:
    import re

    return re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w])", f"{addr:#x}", text)
