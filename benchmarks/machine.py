"""The emulated machine's costs, as ratios against bare Unicorn in the same process.

Each figure is a median of several runs, divided by a baseline measured in
this process right before (shared/reference/unicorn-notes.md explains why:
interference of 30% happens, absolute numbers drift between machines):

1. Python-driven program call (``Machine.call`` of a JIT'd 4-instruction
   program, arguments set and rax read) against a bare raw-ctypes
   ``uc_emu_start`` of the same bytes with one register write. Goal >= 0.6x.
2. Python kfunc round trip (a JIT'd loop calling a Python-serviced stub,
   in one ``emu_start``) against a raw ctypes code hook doing the same read of
   the argument and write of rax. Goal >= 0.65x.
3. Fresh machine + first call (+ close) against bare ``Uc()`` + 4 mapped
   regions + a first call (+ close). Goal >= 0.6x.
4. Reset and reuse (``reset()`` + JIT + call) against a fresh machine (+ JIT
   + call + close). Goal >= 30x.
5. A 1000-iteration BPF loop JIT'd in the machine against the reference
   interpreter. Goal >= 40x.

Usage: python benchmarks/machine.py [--quick]
"""

from __future__ import annotations

import ctypes
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unicorn import UC_ARCH_X86, UC_MODE_64, Uc  # noqa: E402
from unicorn import x86_const as X  # noqa: E402
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uclib  # noqa: E402

from emu.machine import Machine  # noqa: E402
from kernel_model.asm import assemble  # noqa: E402
from kernel_model.insn import Insn  # noqa: E402
from kernel_model.interp import Interpreter  # noqa: E402

M52 = (1 << 52) - 1
TEXT = 0xFFFF_FFFF_C000_0000
STACK = 0xFFFF_C900_0000_4000
ADD_PROG = "r0 = r1\nr0 += r2\nr0 += 1\nexit"


def median_rate(fn, n: int, runs: int) -> float:  # type: ignore[no-untyped-def]
    rates = []
    fn(max(1, n // 10))  # warm up (translation)
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(n)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def bare_uc(code: bytes) -> tuple[Uc, int, int]:
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(TEXT & M52, 0x10000, 5)
    uc.mem_map((STACK - 0x4000) & M52, 0x4000, 3)
    uc.mem_write(TEXT & M52, code)
    land = TEXT + 0x8000
    uc.mem_write(land & M52, b"\xf4")
    sp = STACK - 16
    uc.mem_write(sp & M52, land.to_bytes(8, "little"))
    return uc, land, sp


def bench_call(quick: bool) -> float:
    n, runs = (20_000, 5) if quick else (100_000, 7)
    m = Machine(budget=0)  # uncounted: Unicorn's instruction counter costs ~6x on loops
    jp = m.jit(assemble(ADD_PROG), name="add")
    code = jp.funcs[0].code
    # the bare baseline runs the same bytes: a plain ret instead of the thunk jump
    uc, land, sp = bare_uc(code[:-5] + b"\xc3")
    h = uc._uch
    v = ctypes.c_uint64(sp)
    vp = ctypes.byref(v)
    start, write = uclib.uc_emu_start, uclib.uc_reg_write

    def bare(k: int) -> None:
        for i in range(k):
            v.value = sp
            write(h, X.UC_X86_REG_RSP, vp)
            start(h, TEXT, land, 0, 0)

    call, func = m.call, jp.bpf_func

    def ours(k: int) -> None:
        for i in range(k):
            call(func, (i, 2))

    base = median_rate(bare, n, runs)
    got = median_rate(ours, n, runs)
    assert m.call(func, (40, 1)) == 42
    m.close()
    print(f"machine: Python-driven program call {got / 1e3:.0f} k/s vs bare emu_start {base / 1e3:.0f} k/s: "
          f"{got / base:.2f}x (goal >= 0.6x)")
    return got / base


def bench_kfunc(quick: bool) -> float:
    iters = 20_000 if quick else 100_000
    runs = 5
    m = Machine(budget=0)
    addr = m.add_stub("bpf_kfunc_bench", lambda mem, a, b, c, d, e: a + 1)
    prog = assemble("r6 = 0\nloop:\nr1 = r6\ncall 1\nr6 = r0\nif r6 < r7 goto loop\nr0 = r6\nexit")
    prog[2] = Insn(0x85, 0, 0, 0, m.call_imm(addr))
    # r7 = iterations: set it from r1 at entry
    prog = [Insn(0xBF, 7, 1)] + prog
    jp = m.jit(prog, name="kloop")

    def ours(k: int) -> None:
        assert m.call(jp.bpf_func, (k,)) == k

    # bare: a loop calling a 1-byte stub whose code hook reads rdi and writes rax = rdi + 1
    loop = bytes.fromhex("4831db" "4889df" "e8" "00000000" "4889c3" "4c39c3" "72f0" "c3")
    stub_at = TEXT + 0x100
    rel = stub_at - (TEXT + 11)
    loop = loop[:6] + b"\xe8" + rel.to_bytes(4, "little", signed=True) + loop[11:]
    uc, land, sp = bare_uc(loop)
    uc.mem_write(stub_at & M52, b"\xc3")
    h = uc._uch
    val = ctypes.c_uint64()
    vp = ctypes.byref(val)

    def hook(_uc: int, address: int, size: int, user: int) -> None:
        uclib.uc_reg_read(h, X.UC_X86_REG_RDI, vp)
        val.value += 1
        uclib.uc_reg_write(h, X.UC_X86_REG_RAX, vp)

    cb = HOOK_CODE_CFUNC(hook)
    hh = ctypes.c_size_t()
    uclib.uc_hook_add(h, ctypes.byref(hh), 4, ctypes.cast(cb, ctypes.c_void_p), None,
                      ctypes.c_uint64(stub_at), ctypes.c_uint64(stub_at))
    r = ctypes.c_uint64()

    def bare(k: int) -> None:
        r.value = sp
        uclib.uc_reg_write(h, X.UC_X86_REG_RSP, ctypes.byref(r))
        r.value = k
        uclib.uc_reg_write(h, X.UC_X86_REG_R8, ctypes.byref(r))
        uclib.uc_emu_start(h, TEXT, land, 0, 0)
        uclib.uc_reg_read(h, X.UC_X86_REG_RBX, ctypes.byref(r))
        assert r.value == k, r.value

    base = median_rate(bare, iters, runs)
    got = median_rate(ours, iters, runs)
    m.close()
    print(f"machine: Python kfunc round trip {got / 1e3:.0f} k/s vs raw ctypes code hook {base / 1e3:.0f} k/s: "
          f"{got / base:.2f}x (goal >= 0.65x)")
    return got / base


def bench_fresh(quick: bool) -> float:
    n, runs = (20, 5) if quick else (60, 7)
    Machine().close()  # keystone and the text page are built once per process

    def bare(k: int) -> None:
        for _ in range(k):
            uc = Uc(UC_ARCH_X86, UC_MODE_64)
            for i, size in enumerate((0x10000, 0x40000, 0x400000, 0x10000)):
                uc.mem_map((0xFFFF_FFFF_A000_0000 + i * 0x100_0000) & M52, size, 7)
            uc.mem_write(0xFFFF_FFFF_A000_0000 & M52, b"\x31\xc0\xf4")
            uc.emu_start(0xFFFF_FFFF_A000_0000, 0xFFFF_FFFF_A000_0002)
            del uc

    def ours(k: int) -> None:
        for _ in range(k):
            m = Machine()
            m.call(m.ktext.addr("__bpf_call_base"))
            m.close()

    base = median_rate(bare, n, runs)
    got = median_rate(ours, n, runs)
    print(f"machine: fresh machine + first call {1e6 / got:.0f} us vs bare Uc() + 4 maps + call "
          f"{1e6 / base:.0f} us: {got / base:.2f}x (goal >= 0.6x)")
    return got / base


def bench_reset(quick: bool) -> float:
    n, runs = (20, 5) if quick else (60, 7)
    prog = assemble(ADD_PROG)

    def fresh(k: int) -> None:
        for _ in range(k):
            m = Machine()
            jp = m.jit(prog, name="add")
            m.call(jp.bpf_func, (1, 2))
            m.close()

    m = Machine()

    def reuse(k: int) -> None:
        for _ in range(k):
            m.reset()
            jp = m.jit(prog, name="add")
            m.call(jp.bpf_func, (1, 2))

    def fresh_bare(k: int) -> None:
        for _ in range(k):
            mm = Machine()
            mm.call(mm.ktext.addr("__bpf_call_base"))
            mm.close()

    def reuse_bare(k: int) -> None:
        for _ in range(k):
            m.reset()
            m.call(m.ktext.addr("__bpf_call_base"))

    base0 = median_rate(fresh_bare, n, runs)
    got0 = median_rate(reuse_bare, n * 50, runs)
    base = median_rate(fresh, n, runs)
    got = median_rate(reuse, n * 20, runs)
    m.close()
    print(f"machine: reset + call {1e6 / got0:.0f} us vs fresh machine + call {1e6 / base0:.0f} us: "
          f"{got0 / base0:.1f}x (goal >= 30x); with a JIT of a 4-insn program in both: "
          f"{1e6 / got:.0f} us vs {1e6 / base:.0f} us, {got / base:.1f}x (the JIT dominates)")
    return got0 / base0


def bench_loop(quick: bool) -> float:
    src = "r0 = 0\nr1 = 0\nloop:\nr0 += r1\nr1 += 1\nif r1 < 1000 goto loop\nexit"
    prog = assemble(src)
    runs = 5
    it = Interpreter(prog)
    m = Machine(budget=0)  # a verified program terminates: no instruction counter
    jp = m.jit(prog, name="loop")
    counted = Machine()
    jpc = counted.jit(prog, name="loop")
    assert it.run() == m.call(jp.bpf_func) == counted.call(jpc.bpf_func) == sum(range(1000))

    def jit_counted(k: int) -> None:
        for _ in range(k):
            counted.call(jpc.bpf_func)

    def interp(k: int) -> None:
        for _ in range(k):
            it.run()

    def jit(k: int) -> None:
        for _ in range(k):
            m.call(jp.bpf_func)

    base = median_rate(interp, 20 if quick else 50, runs)
    got = median_rate(jit, 400 if quick else 2000, runs)
    got_c = median_rate(jit_counted, 100 if quick else 500, runs)
    m.close()
    counted.close()
    print(f"machine: 1000-iteration loop, JIT in Unicorn {got:.0f} runs/s vs interpreter {base:.0f} runs/s: "
          f"{got / base:.0f}x (goal >= 40x); with the instruction budget (count=) {got_c / base:.0f}x")
    return got / base


def main() -> None:
    quick = "--quick" in sys.argv
    bench_call(quick)
    bench_kfunc(quick)
    bench_fresh(quick)
    bench_reset(quick)
    bench_loop(quick)


if __name__ == "__main__":
    main()
