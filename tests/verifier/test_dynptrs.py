"""Ring buffers and dynptrs in the verifier (verifier/dynptrs.py, the ring buffer and dynptr
helpers of verifier/calls.py, the dynptr kfuncs of verifier/kfuncs.py).

Each program is checked twice: against the answer recorded from the 6.18 host (errno and
last log line; None = accepted), and, with ``@pytest.mark.kernel``, loaded on the running
host at log level 2 with the whole logs compared (addresses and kfunc ids masked). The
kfunc ids of the host are read from its BTF, the maps created on it.
"""

from __future__ import annotations

import re

import pytest

from emu.kernel.harness import program_env, symbols_for
from kernel_model.asm import assemble
from verifier import verify

MAPS = ["rb=ringbuf:0:0:4096", "arr=array:4:16:1"]

#: a ringbuf dynptr at fp-16, its submit
RES = "r1 = rb ll\nr2 = 0\nr3 = 0\nr4 = r10\nr4 += -16\ncall bpf_ringbuf_reserve_dynptr\n"
SUB = "r1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\n"
#: the array's value in r0 (or out), then a local dynptr over its 16 bytes at fp-24
VAL = "*(u32 *)(r10 -4) = 0\nr1 = arr ll\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\n"
LOC = VAL + "r1 = r0\nr2 = 16\nr3 = 0\nr4 = r10\nr4 += -24\ncall bpf_dynptr_from_mem\n"
END = "out:\nr0 = 0\nexit\n"
#: an 8-byte slice of the local dynptr with the stack buffer fp-40 (in r0, or out)
SLB = LOC + ("*(u64 *)(r10 -40) = 0\nr1 = r10\nr1 += -24\nr2 = 0\nr3 = r10\nr3 += -40\nr4 = 8\n"
             "call bpf_dynptr_slice_rdwr\nif r0 == 0 goto out\n")

#: name -> (program type, program, host answer: None = accepted, else (errno, last line)),
#: answers read off the 6.18 host
PROGRAMS: dict[str, tuple[str, str, tuple[int, str] | None]] = {
    'rb_reserve_submit': ('raw_tracepoint', 'r1 = rb ll\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto out\nr1 = 7\n*(u64 *)(r0 +0) = r1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\n' + END,
        None),
    'rb_reserve_leak': ('raw_tracepoint', 'r1 = rb ll\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\n' + END,
        (22, 'BPF_EXIT instruction in main prog would lead to reference leak')),
    'rb_no_null_check': ('raw_tracepoint', 'r1 = rb ll\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nr1 = 7\n*(u64 *)(r0 +0) = r1\n' + END,
        (13, "R0 invalid mem access 'ringbuf_mem_or_null'")),
    'rb_out_of_bounds': ('raw_tracepoint', 'r1 = rb ll\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto out\nr1 = 7\n*(u64 *)(r0 +8) = r1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_discard\n' + END,
        (13, 'R0 min value is outside of the allowed memory range')),
    'rb_size_not_const': ('raw_tracepoint', 'call bpf_get_prandom_u32\nr2 = r0\nr1 = rb ll\nr3 = 0\ncall bpf_ringbuf_reserve\n' + END,
        (13, "R2 is not a known constant'")),
    'rb_submit_stack': ('raw_tracepoint', 'r1 = r10\nr1 += -8\nr2 = 0\ncall bpf_ringbuf_submit\n' + END,
        (13, 'R1 type=fp expected=ringbuf_mem')),
    'rb_submit_twice': ('raw_tracepoint', 'r1 = rb ll\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto out\nr6 = r0\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr1 = r6\nr2 = 0\ncall bpf_ringbuf_submit\n' + END,
        (13, 'R1 type=scalar expected=ringbuf_mem')),
    'rb_lookup_refused': ('raw_tracepoint', '*(u32 *)(r10 -4) = 0\nr1 = rb ll\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\n' + END,
        (13, 'invalid zero-sized read')),
    'rb_output_query': ('raw_tracepoint', '*(u64 *)(r10 -8) = 0\nr1 = rb ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall bpf_ringbuf_output\nr1 = rb ll\nr2 = 0\ncall bpf_ringbuf_query\nr0 = 0\nexit\n',
        None),
    'dp_reserve_submit': ('raw_tracepoint', RES + 'r1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit\n',
        None),
    'dp_reserve_leak': ('raw_tracepoint', RES + 'r0 = 0\nexit\n',
        (22, 'BPF_EXIT instruction in main prog would lead to reference leak')),
    'dp_overwrite_ref': ('raw_tracepoint', RES + 'r1 = 0\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit\n',
        (22, 'cannot overwrite referenced dynptr')),
    'dp_read_slot': ('raw_tracepoint', RES + 'r0 = *(u64 *)(r10 -16)\nr1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit\n',
        (13, 'invalid read from stack off -16+0 size 8')),
    'dp_bad_offset': ('raw_tracepoint', 'r1 = rb ll\nr2 = 0\nr3 = 0\nr4 = r10\nr4 += -20\ncall bpf_ringbuf_reserve_dynptr\nr0 = 0\nexit\n',
        (22, 'Dynptr has to be an uninitialized dynptr')),
    'dp_uninit_read': ('raw_tracepoint', 'r1 = r10\nr1 += -32\nr2 = 4\nr3 = r10\nr3 += -16\nr4 = 0\nr5 = 0\ncall bpf_dynptr_read\nr0 = 0\nexit\n',
        (22, 'Expected an initialized dynptr as arg #2')),
    'dp_submit_unacquired': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\n' + END,
        (22, 'arg 1 is an unacquired reference')),
    'dp_submit_twice': ('raw_tracepoint', RES + 'r1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit\n',
        (22, 'arg 1 is an unacquired reference')),
    'dp_write_into_itself': ('raw_tracepoint', RES + 'r1 = r10\nr1 += -16\nr2 = 8\nr3 = r10\nr3 += -16\nr4 = 0\nr5 = 0\ncall bpf_dynptr_read\nr1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit\n',
        (13, 'potential write to dynptr at off=-16 disallowed')),
    'dp_from_mem_stack': ('raw_tracepoint', 'r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -24\ncall bpf_dynptr_from_mem\nr0 = 0\nexit\n',
        (13, 'Unsupported reg type fp for bpf_dynptr_from_mem data')),
    'dp_local_rw': ('raw_tracepoint', LOC + '*(u32 *)(r10 -28) = 5\nr1 = r10\nr1 += -24\nr2 = 0\nr3 = r10\nr3 += -28\nr4 = 4\nr5 = 0\ncall bpf_dynptr_write\nr1 = r10\nr1 += -32\nr2 = 4\nr3 = r10\nr3 += -24\nr4 = 0\nr5 = 0\ncall bpf_dynptr_read\nr1 = r10\nr1 += -24\nr2 = 0\nr3 = 8\ncall bpf_dynptr_data\nif r0 == 0 goto out\nr0 = *(u64 *)(r0 +0)\n' + END,
        None),
    'dp_local_overwritten': ('raw_tracepoint', LOC + 'r1 = 0\n*(u64 *)(r10 -16) = r1\nr1 = r10\nr1 += -32\nr2 = 4\nr3 = r10\nr3 += -24\nr4 = 0\nr5 = 0\ncall bpf_dynptr_read\n' + END,
        (22, 'Expected an initialized dynptr as arg #2')),
    'dp_slice_no_null_check': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\nr3 = 8\ncall bpf_dynptr_data\nr0 = *(u64 *)(r0 +0)\n' + END,
        (13, "R0 invalid mem access 'mem_or_null'")),
    'dp_slice_oob': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\nr3 = 8\ncall bpf_dynptr_data\nif r0 == 0 goto out\nr0 = *(u64 *)(r0 +4)\n' + END,
        (13, 'R0 min value is outside of the allowed memory range')),
    'dp_slice_after_submit': ('raw_tracepoint', RES + 'r1 = r10\nr1 += -16\nr2 = 0\nr3 = 8\ncall bpf_dynptr_data\nr6 = r0\nr1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nif r6 == 0 goto out\nr0 = *(u64 *)(r6 +0)\n' + END,
        (13, "R6 invalid mem access 'scalar'")),
    'dp_slice_after_overwrite': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\nr3 = 8\ncall bpf_dynptr_data\nif r0 == 0 goto out\nr6 = r0\nr1 = 0\n*(u64 *)(r10 -24) = r1\nr0 = *(u64 *)(r6 +0)\n' + END,
        (13, "R6 invalid mem access 'scalar'")),
    'dp_wrong_type': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\ncall bpf_ringbuf_discard_dynptr\n' + END,
        (22, 'arg 1 is an unacquired reference')),
    'kf_size_uninit': ('raw_tracepoint', 'r1 = r10\nr1 += -16\ncall bpf_dynptr_size\nr0 = 0\nexit\n',
        (22, 'Expected an initialized dynptr as arg #0')),
    'kf_adjust_size_null': ('raw_tracepoint', RES + 'r1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\ncall bpf_dynptr_adjust\nr1 = r10\nr1 += -16\ncall bpf_dynptr_size\nr1 = r10\nr1 += -16\ncall bpf_dynptr_is_null\nr1 = r10\nr1 += -16\ncall bpf_dynptr_is_rdonly\nr1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit\n',
        None),
    'kf_clone_submit': ('raw_tracepoint', RES + 'r1 = r10\nr1 += -16\nr2 = r10\nr2 += -32\ncall bpf_dynptr_clone\nr1 = r10\nr1 += -32\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr1 = r10\nr1 += -16\nr2 = 0\ncall bpf_ringbuf_submit_dynptr\nr0 = 0\nexit\n',
        (22, 'arg 1 is an unacquired reference')),
    'kf_slice': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\nr3 = 0\nr4 = 8\ncall bpf_dynptr_slice\nif r0 == 0 goto out\nr0 = *(u64 *)(r0 +0)\n' + END,
        None),
    'kf_slice_write_rdonly': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\nr3 = 0\nr4 = 8\ncall bpf_dynptr_slice\nif r0 == 0 goto out\nr1 = 1\n*(u64 *)(r0 +0) = r1\n' + END,
        (13, 'R0 cannot write into rdonly_mem')),
    'kf_slice_rdwr_raw_tp': ('raw_tracepoint', LOC + 'r1 = r10\nr1 += -24\nr2 = 0\nr3 = 0\nr4 = 8\ncall bpf_dynptr_slice_rdwr\n' + END,
        (22, 'the prog does not allow writes to packet data')),
    'kf_from_skb_tc': ('sched_cls', 'r2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 14\ncall bpf_dynptr_slice_rdwr\nif r0 == 0 goto out\nr1 = 0\n*(u8 *)(r0 +0) = r1\n' + END,
        None),
    'kf_from_skb_cgroup_rdwr': ('cgroup_skb', 'r2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 14\ncall bpf_dynptr_slice_rdwr\n' + END,
        (22, 'the prog does not allow writes to packet data')),
    'kf_from_skb_not_ctx': ('sched_cls', 'r1 = r10\nr1 += -64\nr2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb\n' + END,
        (22, 'arg#0 expected pointer to ctx, but got fp')),
    'kf_from_xdp': ('xdp', 'r2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_xdp\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 14\ncall bpf_dynptr_slice\nif r0 == 0 goto out\nr0 = *(u8 *)(r0 +13)\n' + END,
        None),
    'kf_skb_slice_after_write': ('sched_cls', 'r2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 14\ncall bpf_dynptr_slice\nif r0 == 0 goto out\nr6 = r0\n*(u32 *)(r10 -24) = 0\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\nr4 = 4\nr5 = 0\ncall bpf_dynptr_write\nr0 = *(u8 *)(r6 +0)\n' + END,
        (13, "R6 invalid mem access 'scalar'")),
    'kf_from_skb_raw_tp': ('raw_tracepoint', 'r2 = 0\nr3 = r10\nr3 += -16\ncall bpf_dynptr_from_skb\n' + END,
        (13, 'calling kernel function bpf_dynptr_from_skb is not allowed')),
    'kf_slice_buf': ('raw_tracepoint', LOC + '*(u64 *)(r10 -40) = 0\nr1 = r10\nr1 += -24\nr2 = 0\nr3 = r10\nr3 += -40\nr4 = 8\ncall bpf_dynptr_slice\nif r0 == 0 goto out\nr0 = *(u64 *)(r0 +0)\n' + END,
        None),
    'kf_slice_buf_overwritten': ('sched_cls', SLB + 'r1 = 5\n*(u64 *)(r10 -40) = r1\nr0 = *(u64 *)(r0 +0)\n' + END,
        (13, "R0 invalid mem access 'scalar'")),
    'kf_slice_buf_spilled': ('sched_cls', SLB + 'r1 = r10\n*(u64 *)(r10 -40) = r1\nr1 = 0\n*(u64 *)(r0 +0) = r1\nr0 = *(u64 *)(r10 -40)\nr0 = *(u64 *)(r0 +0)\n' + END,
        (13, "R0 invalid mem access 'scalar'")),
    'kf_slice_buf_spilled_read': ('sched_cls', SLB + 'r6 = r0\nr1 = r10\n*(u64 *)(r10 -40) = r1\nr0 = *(u64 *)(r6 +0)\n' + END,
        (13, "R6 invalid mem access 'scalar'")),
}

#: whole-log differences, named: the host's "Live regs before insn" pass counts r1-r5 used by
#: a kfunc call it refuses for the program type (it has no prototype for it then); the model
#: uses the kfunc's BTF prototype
_LOG_DIFFERS = frozenset({"kf_from_skb_raw_tp"})


def _model(name: str, level: int = 1):  # type: ignore[no-untyped-def]
    ptype, asm, _ = PROGRAMS[name]
    insns, env = program_env(assemble(asm, symbols=symbols_for(MAPS)), prog_type=ptype, maps=MAPS)
    return verify(insns, env, log_level=level)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_model_answers_as_the_host(name: str) -> None:
    r = _model(name)
    want = PROGRAMS[name][2]
    assert (None if r.accepted else (r.errno, r.error_line)) == want, r.log


def _mask(log: str) -> list[str]:
    from emu.host.hostbpf import comparable_log

    log = re.sub(r"(processed \d+ insns|verification time).*", "", comparable_log(log))
    return re.sub(r"#\d+", "#N", log).splitlines()


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_host_agrees(name: str) -> None:
    from emu.host import hostbpf
    from emu.host.verdict import host_load

    ok, why = hostbpf.oracle_status()
    if not ok:
        pytest.skip(why)
    ptype, asm, want = PROGRAMS[name]
    syms = symbols_for(MAPS)
    for n in set(re.findall(r"call (bpf_\w+)", asm)):
        hid = hostbpf.host_btf_id(n, "func")
        if hid is not None:
            syms[n] = hid
    insns, env = program_env(assemble(asm, symbols=syms), prog_type=ptype, maps=MAPS)
    h = host_load(insns, env, log_level=2)
    assert (None if h.accepted else (h.errno, h.error_line)) == want, h.log
    m = _model(name, level=2)
    assert (m.accepted, m.errno if not m.accepted else 0) == (h.accepted, h.errno if not h.accepted else 0)
    if name not in _LOG_DIFFERS:
        assert _mask(m.log) == _mask(h.log)


def test_dynptr_slots_print_as_the_host() -> None:
    """print_verifier_state's STACK_DYNPTR case: the first slot, its id, reference and the
    dynptr_id that overlays first_slot in the kernel's union."""
    log = _model("dp_reserve_submit", level=2).log
    assert "fp-16=dynptr_ringbuf(id=1,ref_id=2,dynptr_id=1) refs=2" in log
    # a slice that may be its stack buffer (6.18): bpf_dynptr_slice's is read-only, _rdwr's not
    assert "R0=rdonly_mem_or_null(id=2,sz=8,buf=fp[0]-40+8)" in _model("kf_slice_buf", level=2).log
    assert "R0=mem_or_null(id=2,sz=8,buf=fp[0]-40+8)" in _model("kf_slice_buf_overwritten", level=2).log


def test_ringbuf_reserve_is_an_acquire() -> None:
    """bpf_ringbuf_reserve's R0 carries a fresh reference (id = ref_obj_id), the submit drops it."""
    log = _model("rb_reserve_submit", level=2).log
    assert "R0=ringbuf_mem_or_null(id=2,ref_obj_id=2,sz=8) refs=2" in log
    assert "R0=ringbuf_mem(ref_obj_id=2,sz=8) refs=2" in log


def test_clone_shares_the_reference() -> None:
    """bpf_dynptr_clone of a ringbuf dynptr: the clone holds the parent's reference, and
    releasing one invalidates both (so the second submit finds nothing to release)."""
    r = _model("kf_clone_submit", level=2)
    assert "fp-32=dynptr_ringbuf(id=3,ref_id=2,dynptr_id=1)" in r.log
    assert r.error_line == "arg 1 is an unacquired reference"
