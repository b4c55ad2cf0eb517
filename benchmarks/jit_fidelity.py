"""JIT fidelity: our x86-64 JIT against the host kernel's, byte for byte.

For each program of a corpus -- the kernel selftests' raw-instruction programs
(tests/data/selftests: those the host accepted, of a type and with maps the
model has, their maps created on the host), the conformance programs the host
accepts as socket filters, and generated programs -- load it into the host kernel
(verify and JIT only: nothing is attached), read its ``xlated_prog_insns``,
``jited_prog_insns``, ``jited_ksyms`` and ``jited_func_lens``, feed the
xlated instructions to :func:`jit.bpf_jit.jit_program` at the host's image
addresses with the host's ``__bpf_call_base`` (kallsyms) and the host's own CPU
configuration (``--cpu host``, :mod:`emu.host.hostcpu`: return thunk, IBT,
call-depth tracking, timed may_goto, BMI2 read from the running kernel), and
compare. Reported: the share of programs identical byte for byte, and after
masking what the xlated dump does not tell us (the 64-bit addresses of maps,
when they cannot be read, and the ``this_cpu_off`` displacement of inlined
per-CPU accesses).

Inputs the dump lacks: each function's stack depth, from the host image's
``sub rsp, imm32``; the address a map ``lddw`` loads (the dump gives the map
id and value offset instead), read from the host by a separate two-instruction
``BPF_PROG_TYPE_SYSCALL`` program that stores the same ``lddw`` (map fd, offset)
into its context during a test run -- nothing attached. Known differences we
do not model are listed at the end with a count each.

Needs root on Linux (``bpf()``); prints a skip line otherwise.
Usage: python benchmarks/jit_fidelity.py [--quick]
"""

from __future__ import annotations

import struct
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from emu.host import hostbpf as hb  # noqa: E402
from emu.formats.conformance import parse_data_file  # noqa: E402
from emu.host.hostcpu import detect_host_cpu, host_symbols  # noqa: E402
from jit import JitError, JitOptions, KernelSymbols, jit_program  # noqa: E402
from kernel_model import isa  # noqa: E402
from kernel_model.insn import Insn, decode, encode  # noqa: E402
from kernel_model.prog_strategies import terminating_programs  # noqa: E402
from kernel_model.profile import LATEST  # noqa: E402
from tests.corpus import conformance_files, raw_case_program, raw_cases  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = 0xFFFF_8881_0000_0000


def map_fds_by_id(fds: list[int]) -> dict[int, int]:
    """``map id -> fd`` of the maps behind ``fds`` (``/proc/self/fdinfo``)."""
    out = {}
    for fd in fds:
        try:
            for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
                if line.startswith("map_id:"):
                    out[int(line.split()[1])] = fd
        except OSError:
            pass
    return out


_SYSCALL, _STX_DW = 31, isa.STX | isa.MEM | isa.DW


def host_lddw_value(src: int, map_fd: int, off: int) -> int | None:
    """The 64-bit value the host's ``lddw r2, <map fd | map value + off>`` loads (a map
    or map-value address): a sleepable syscall program stores it into its 8-byte ctx,
    which the test run copies back. None when the host refuses."""
    prog = [Insn(isa.LD_IMM64, 2, src, 0, map_fd), Insn(0, 0, 0, 0, off), Insn(_STX_DW, 1, 2, 0, 0),
            Insn(isa.ALU64 | isa.MOV | isa.K, 0, 0, 0, 0), Insn(isa.EXIT_INSN)]
    r = hb.prog_load(_SYSCALL, encode(prog), log_level=0, prog_flags=hb.BPF_F_SLEEPABLE)
    if not r.accepted:
        return None
    try:
        res = hb.test_run(r.fd, ctx_in=bytes(8))
    except OSError:
        return None
    finally:
        r.close()
    return struct.unpack("<Q", res.ctx_in_after)[0] if len(res.ctx_in_after) == 8 else None


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v >> 31 else v


def to_jit_input(xl: list[Insn], map_fds: dict[int, int] | None = None) -> tuple[list[Insn], list[int], set[int]]:
    """The xlated dump back into JIT input: pseudo calls (off = relative target,
    imm = subprog index after jit_subprogs) to ``imm = relative``; map lddw (the dump:
    map id, value offset) to the address the host loads (:func:`host_lddw_value`), or
    to a placeholder address when it cannot be read (those slots are returned to mask)."""
    out = list(xl)
    starts = {0}
    masked: set[int] = set()
    k = 0
    while k < len(out):
        i = out[k]
        if i.code == isa.CALL_INSN and i.src == isa.PSEUDO_CALL:
            out[k] = Insn(i.code, i.dst, i.src, 0, i.off)
            starts.add(k + i.off + 1)
        elif i.code == isa.LD_IMM64:
            if i.src == isa.PSEUDO_FUNC:
                starts.add(k + i.imm + 1)
                out[k + 1] = Insn(0, 0, 0, 0, 0)
            elif i.src in (isa.PSEUDO_MAP_FD, isa.PSEUDO_MAP_VALUE, isa.PSEUDO_MAP_IDX, isa.PSEUDO_MAP_IDX_VALUE):
                fd = (map_fds or {}).get(i.imm)
                value = host_lddw_value(i.src, fd, out[k + 1].imm) if fd is not None else None
                if value is None:
                    value = PLACEHOLDER
                    masked.add(k)
                out[k] = Insn(i.code, i.dst, 0, 0, _s32(value))
                out[k + 1] = Insn(0, 0, 0, 0, _s32(value >> 32))
            k += 2
            continue
        k += 1
    return out, sorted(starts), masked


def mask(code: bytes, img_addrs: tuple[int, ...], insns: list[Insn], slots: set[int], start: int) -> bytes:
    """Zero the imm64 of masked lddw slots (function-local offsets) and the disp32 of
    ``add reg, gs:[disp32]`` (mov_percpu_addr)."""
    b = bytearray(code)
    for k in slots:
        if start <= k < start + len(img_addrs) - 1:
            a, e = img_addrs[k - start], img_addrs[k - start + 1]
            if e - a == 10:
                b[a + 2:e] = bytes(8)
    k = b.find(b"\x65\x48\x03")
    while k >= 0:
        if k + 8 <= len(b) and b[k + 4] == 0x25:
            b[k + 5:k + 9] = bytes(4)
        k = b.find(b"\x65\x48\x03", k + 1)
    k = b.find(b"\x65\x4c\x03")
    while k >= 0:
        if k + 8 <= len(b) and b[k + 4] == 0x25:
            b[k + 5:k + 9] = bytes(4)
        k = b.find(b"\x65\x4c\x03", k + 1)
    return bytes(b)


class Fidelity:
    def __init__(self) -> None:
        self.cpu = cpu = detect_host_cpu()
        ks = host_symbols(["__bpf_call_base", "arch_bpf_timed_may_goto", "pcpu_hot", "this_cpu_off"]
                          + ([cpu.return_thunk] if cpu.rethunk else []))
        self.syms = KernelSymbols(call_base=ks["__bpf_call_base"],
                                  return_thunk=ks[cpu.return_thunk] if cpu.rethunk else 0,
                                  call_depth=ks.get("pcpu_hot", 0), this_cpu_off=ks.get("this_cpu_off", 0),
                                  timed_may_goto=ks.get("arch_bpf_timed_may_goto", 0))
        self.options = JitOptions(LATEST, cpu)
        self.prologue = 12 + 8 * cpu.ibt  # where `sub rsp, imm32` sits
        self.results: Counter[str] = Counter()
        self.diffs: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def check(self, corpus: str, insns: bytes, map_fds: list[int] | None = None, prog_type: int = 1,
              flags: int = 0) -> None:
        r = hb.prog_load(prog_type, insns, log_level=0, prog_flags=flags)
        if not r.accepted:
            self.results[f"{corpus}: rejected by the host"] += 1
            return
        try:
            info = hb.prog_info(r.fd)
        finally:
            r.close()
        xl = decode(info.xlated)
        jin, starts, masked = to_jit_input(xl, map_fds_by_id(map_fds or []))
        if masked:
            self.results[f"{corpus}: map address unreadable (masked)"] += 1
        lens = info.jited_func_lens or [len(info.jited)]
        chunks, pos = [], 0
        for n in lens:
            chunks.append(info.jited[pos:pos + n])
            pos += n
        pro = self.prologue
        depths = [struct.unpack_from("<i", c, pro + 3)[0] if c[pro:pro + 3] == b"\x48\x81\xec" else 0
                  for c in chunks]
        addrs = iter(info.jited_ksyms)
        try:
            jp = jit_program(jin, lambda size: next(addrs), starts=starts if len(starts) == len(lens) else [0],
                             stack_depths=depths, symbols=self.syms, options=self.options)
        except (JitError, StopIteration) as e:
            self.results[f"{corpus}: our JIT refused"] += 1
            self.diffs[f"refused: {str(e)[:60]}"] += 1
            return
        self.results[f"{corpus}: total"] += 1
        ours = [img.code for img in jp.funcs]
        if ours == chunks:
            self.results[f"{corpus}: identical"] += 1
            self.results[f"{corpus}: identical after masking"] += 1
            return
        mo = [mask(img.code, img.addrs, jin, masked, s) for img, s in zip(jp.funcs, jp.starts)]
        mh = [mask(c, img.addrs, jin, masked, s) for c, img, s in zip(chunks, jp.funcs, jp.starts)]
        if mo == mh:
            self.results[f"{corpus}: identical after masking"] += 1
            return
        self.diffs[self._classify(mo, mh, jp, xl)] += 1

    def _classify(self, ours: list[bytes], host: list[bytes], jp, xl: list[Insn]) -> str:  # type: ignore[no-untyped-def]
        for f, (o, h) in enumerate(zip(ours, host)):
            if o == h:
                continue
            if len(o) != len(h):
                k = next((i for i in range(min(len(o), len(h))) if o[i] != h[i]), min(len(o), len(h)))
            else:
                k = next(i for i in range(len(o)) if o[i] != h[i])
            slot = jp.funcs[f].insn_at(k)
            idx = jp.starts[f] + slot if slot >= 0 else slot
            code = xl[idx].code if 0 <= idx < len(xl) else -1
            key = f"first difference in insn opcode {code:#04x}" if code >= 0 else "first difference in prologue"
            self.examples.setdefault(key, f"ours {o[max(0, k - 4):k + 12].hex()} host {h[max(0, k - 4):k + 12].hex()}")
            return key
        return "function count differs"


def selftest_programs(fid: Fidelity, limit: int | None) -> None:
    """The raw selftest programs the host accepted (tests/data/selftests/raw_cases.jsonl)."""
    cases = [c for c in raw_cases() if (c.get("kernel") or {}).get("verdict") == "accepted"
             and not raw_case_program(c).not_modelled]
    # --quick: an evenly spaced sample (the cases are ordered by source file, so the first
    # ones are one kind of program)
    step = max(1, len(cases) // limit) if limit else 1
    for case in cases[::step][:limit]:
        prog = raw_case_program(case)
        fds: dict[int, int] = {}
        for key, (t, ks, vs, n, fl) in prog.maps.items():
            fd, _err = hb.map_create(t, ks, vs, n, map_flags=fl)
            if fd < 0:
                break
            fds[key] = fd
        if len(fds) != len(prog.maps):
            fid.results["selftest programs: maps not creatable"] += 1
            for fd in fds.values():
                hb.close(fd)
            continue
        at = prog.map_insns or {}
        insns = [Insn(x.code, x.dst, x.src, x.off, fds[at[i]]) if i in at else x for i, x in enumerate(prog.insns)]
        flags = prog.env.prog_flags & (hb.BPF_F_ANY_ALIGNMENT | hb.BPF_F_STRICT_ALIGNMENT)
        try:
            fid.check("selftest programs", encode(insns), list(fds.values()), flags=flags)
        finally:
            for fd in fds.values():
                hb.close(fd)


def conformance(fid: Fidelity) -> None:
    for p in conformance_files():
        if p.parent.name == "errors":
            continue
        try:
            case = parse_data_file(p)
        except Exception:  # noqa: BLE001 - an assembler case we cannot read is not a JIT case
            continue
        fid.check("conformance", encode(case.insns))


def generated(fid: Fidelity, n: int) -> None:
    # ALU/jump/stack programs (no memory through r6/r7: a socket filter's ctx is an skb)
    progs: list[list[Insn]] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(terminating_programs())
    def collect(p: list[Insn]) -> None:
        body = [i for i in p if not (i.code & 0x07 in (isa.LDX, isa.ST, isa.STX) and i.dst in (6, 7)
                                     or (i.code & 0x07 == isa.LDX and i.src in (6, 7)))]
        progs.append(body)

    collect()
    for p in progs:
        fid.check("generated", encode(_fix_jumps(p)))


def _fix_jumps(p: list[Insn]) -> list[Insn]:
    out = list(p)
    n = len(out)
    for k, i in enumerate(out):
        if i.code & 0x07 in (isa.JMP, isa.JMP32) and i.code not in (isa.EXIT_INSN, isa.CALL_INSN):
            t = k + i.off + 1
            if not k < t < n or (t > 0 and out[t - 1].code == isa.LD_IMM64):
                out[k] = Insn(i.code, i.dst, i.src, n - 1 - k - 1, i.imm)
    return out


def main() -> None:
    quick = "--quick" in sys.argv
    ok, why = hb.oracle_status()
    if not ok:
        print(f"jit_fidelity: skipped ({why})")
        return
    fid = Fidelity()
    print(f"jit_fidelity: {fid.cpu.summary()}")
    print("  sources: " + ", ".join(f"{k} from {v}" for k, v in fid.cpu.sources))
    selftest_programs(fid, 60 if quick else None)
    conformance(fid)
    generated(fid, 40 if quick else 300)
    total = sum(v for k, v in fid.results.items() if k.endswith(": total"))
    ident = sum(v for k, v in fid.results.items() if k.endswith(": identical"))
    masked = sum(v for k, v in fid.results.items() if k.endswith(": identical after masking"))
    for k in sorted(fid.results):
        print(f"  {k}: {fid.results[k]}")
    print(f"jit_fidelity: {total} programs JIT'd by the host and by us; byte-identical {ident / max(total, 1):.1%}, "
          f"identical modulo map addresses/percpu displacements {masked / max(total, 1):.1%} (goal >= 90%)")
    for k, v in fid.diffs.most_common():
        print(f"  difference: {k}: {v}" + (f"  [{fid.examples[k]}]" if k in fid.examples else ""))


if __name__ == "__main__":
    main()
