"""Programs in the verifier model's subset, as kernel-syntax text (needs hypothesis).

Three generators, each drawing both sides of the rules it exercises -- some
programs are safe and some are not -- so that the model can be compared with
the kernel (tests/verifier/test_host_diff.py runs them against the host's
BPF_PROG_LOAD; benchmarks/verifier_agreement.py prints the agreement tables):

* :func:`socket_programs` -- socket filters exercising what the model tracks:
  scalar ALU (64/32-bit, immediates and registers, shifts within range,
  sign-extending moves, negation), unknown scalars from
  ``bpf_get_prandom_u32`` and from ``__sk_buff`` fields, stack spills and
  fills of every size, a hash/array map lookup with or without the NULL check
  and loads from the value at constant or masked variable offsets, forward
  conditional jumps (JMP and JMP32, immediate and register) and one bounded
  loop. Unsafe ones read uninitialised registers, leave the value's bounds,
  use an unchecked NULL pointer or do pointer arithmetic the kernel forbids.
  The map is ``m`` (fd 0): :data:`MAP_DECLS` are its ``structops verify --map``
  spellings.
* :func:`struct_ops_programs` -- ``(text, member, prog_flags)`` for a
  ``bpf_dummy_ops`` member (``test_1``, ``test_2``, ``test_sleepable``): reads
  of the u64 argument array, in range or not, and of ``struct
  bpf_dummy_ops_state`` through ``test_1``'s ``__nullable`` argument, checked
  for NULL or not.
* :func:`linked_scalar_programs` -- socket filters linking scalars through
  spills and fills of every width and moves, then narrowing them with branches
  and feeding one copy to pointer arithmetic (issue 10's false accept and the
  family around it).

Load them with ``emu.kernel.harness.program_env`` (the ``structops verify`` path)
or the emulated kernel's ``prog_load``; :mod:`emu.testing.strategies` filters
them down to the programs the verifier model accepts, which then run.
"""

from __future__ import annotations

from .hypothesis_support import check_int, st

__all__ = ["socket_programs", "linked_scalar_programs", "struct_ops_programs", "MAP_DECL", "MAP_DECLS",
           "DUMMY_MEMBERS"]


MAP_DECLS = ("m=hash:8:16:4", "m=array:4:48:2")
MAP_DECL = MAP_DECLS[0]

_OPS = ("+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<=", ">>=", "s>>=", "=")
_CMPS = ("==", "!=", ">", ">=", "<", "<=", "s>", "s>=", "s<", "s<=", "&")
_SK_BUFF_U32 = (0, 4, 8, 12, 16, 20, 36, 40, 44, 48, 52, 56, 60, 64, 76, 80)  # readable __sk_buff fields
_SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
_REGS = st.sampled_from((0, 6, 7, 8, 0, 6, 7, 8, 2, 3))  # r1-r5 die at each call: drawn less
_IMM = st.one_of(st.integers(-8, 64), st.sampled_from((0xFF, 0xFFFF, -1, 1 << 30, -(1 << 31), 0x7FFFFFFF)))


@st.composite
def _alu(draw: st.DrawFn) -> list[str]:
    w = "w" if draw(st.integers(0, 3)) == 0 else "r"
    d = draw(_REGS)
    op = draw(st.sampled_from(_OPS))
    if op in ("<<=", ">>=", "s>>="):
        n = draw(st.integers(0, 31 if w == "w" else 63))
        return [f"{w}{d} {op} {n}"]
    if draw(st.booleans()):
        return [f"{w}{d} {op} {w}{draw(_REGS)}"]
    return [f"{w}{d} {op} {draw(_IMM)}"]


@st.composite
def _unary(draw: st.DrawFn) -> list[str]:
    d, s = draw(_REGS), draw(_REGS)
    kind = draw(st.sampled_from(("neg", "movsx8", "movsx16", "movsx32", "bswap", "ldimm64")))
    if kind == "neg":
        return [f"r{d} = -r{d}"]
    if kind == "bswap":
        return [f"r{d} = bswap{draw(st.sampled_from((16, 32, 64)))} r{d}"]
    if kind == "ldimm64":
        return [f"r{d} = {draw(st.integers(0, (1 << 64) - 1)):#x} ll"]
    return [f"r{d} = (s{kind[5:]})r{s}"]


@st.composite
def _unknown(draw: st.DrawFn) -> list[str]:
    d = draw(st.sampled_from((6, 7, 8)))
    if draw(st.booleans()):
        return ["call bpf_get_prandom_u32", f"r{d} = r0", "r2 = 0", "r3 = 0"]
    return [f"r{d} = *(u32 *)(r9 +{draw(st.sampled_from(_SK_BUFF_U32))})"]


@st.composite
def _stack(draw: st.DrawFn) -> list[str]:
    size = draw(st.sampled_from((1, 2, 4, 8)))
    off = -draw(st.integers(1, 8)) * 8 + draw(st.sampled_from((0, 0, 0, 4)))
    if size == 8:
        off -= off % 8
    t = _SIZES[size]
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return [f"*({t} *)(r10 {off}) = r{draw(_REGS)}"]
    if kind == 1:
        return [f"*({t} *)(r10 {off}) = {draw(_IMM)}"]
    return [f"r{draw(_REGS)} = *({t} *)(r10 {off})"]


@st.composite
def _map_access(draw: st.DrawFn) -> list[str]:
    out = ["r1 = 0", "*(u64 *)(r10 -64) = r1", "r2 = r10", "r2 += -64", "r1 = m ll", "call bpf_map_lookup_elem"]
    checked = draw(st.integers(0, 4)) != 0
    if checked:
        out.append("if r0 == 0 goto +{skip}")
    body: list[str] = []
    size = draw(st.sampled_from((1, 2, 4, 8)))
    if draw(st.booleans()):
        body.append(f"r3 = *({_SIZES[size]} *)(r0 +{draw(st.integers(0, 50))})")
    else:
        src = draw(st.sampled_from((6, 7, 8)))
        mask = draw(st.sampled_from((7, 15, 31, 63, 0xFF)))
        body += [f"r4 = r{src}", f"r4 &= {mask}", "r0 += r4", f"r3 = *({_SIZES[size]} *)(r0 +0)"]
    if draw(st.booleans()):
        body.append(f"*(u8 *)(r0 +{draw(st.integers(0, 16))}) = 1")
    if checked:
        out[-1] = out[-1].format(skip=len(body))
    return out + body + ["r2 = 0", "r3 = 0"]


@st.composite
def _loop(draw: st.DrawFn) -> list[str]:
    n = draw(st.integers(1, 12))
    body = draw(st.lists(st.one_of(_alu(), _stack()), max_size=3))
    lines = [ln for item in body for ln in item if "r9" not in ln]
    return ["r5 = 0", "loop_top_{k}:", *lines, "r5 += 1", f"if r5 < {n} goto loop_top_{{k}}"]


_ITEM = st.one_of(_alu(), _alu(), _unary(), _unknown(), _stack(), _stack(), _map_access())


@st.composite
def _socket_programs(draw: st.DrawFn, max_items: int = 14) -> str:
    """A socket-filter program as kernel-syntax text (r9 keeps the ctx pointer)."""
    items = draw(st.lists(_ITEM, min_size=1, max_size=max_items))
    if draw(st.integers(0, 3)) == 0:
        items.insert(draw(st.integers(0, len(items))), draw(_loop()))
    n = len(items)
    # forward conditional jumps to later item boundaries
    jumps: dict[int, list[str]] = {}
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, n - 1))
        to = draw(st.integers(at + 1, n))
        w = "w" if draw(st.integers(0, 3)) == 0 else "r"
        a = draw(_REGS)
        rhs = f"{w}{draw(_REGS)}" if draw(st.booleans()) else str(draw(_IMM))
        jumps.setdefault(at, []).append(f"if {w}{a} {draw(st.sampled_from(_CMPS))} {rhs} goto L{to}")
    lines = ["r9 = r1"]
    for r in (6, 7, 8):  # callee-saved registers start as unknown or known scalars
        kind = draw(st.integers(0, 2))
        if kind == 0:
            lines += ["call bpf_get_prandom_u32", f"r{r} = r0"]
        elif kind == 1:
            lines.append(f"r{r} = *(u32 *)(r9 +{draw(st.sampled_from(_SK_BUFF_U32))})")
        else:
            lines.append(f"r{r} = {draw(_IMM)}")
    lines += [f"r{r} = {draw(_IMM)}" for r in (0, 2, 3)]
    for k, item in enumerate(items):
        lines.append(f"L{k}:")
        lines += jumps.get(k, [])
        lines += [ln.replace("{k}", str(k)) for ln in item]
    lines.append(f"L{n}:")
    if draw(st.integers(0, 5)):
        lines.append("r0 = 0" if draw(st.booleans()) else f"r0 = r{draw(_REGS)}")
    lines.append("exit")
    return "\n".join(lines) + "\n"


# --- struct_ops programs for bpf_dummy_ops (test_1, test_2, test_sleepable) -----------------------

DUMMY_MEMBERS = ("test_1", "test_2", "test_sleepable")


@st.composite
def _ctx_load(draw: st.DrawFn) -> list[str]:
    """A read of the u64 argument array: mostly whole in-range slots, sometimes not."""
    d = draw(st.sampled_from((2, 3, 4, 6, 7)))
    size = draw(st.sampled_from((8, 8, 8, 4, 2, 1)))
    off = draw(st.one_of(st.sampled_from((0, 0, 8, 16, 24, 32)), st.sampled_from((0, 8)), st.integers(-8, 48)))
    return [f"r{d} = *({_SIZES[size]} *)(r1 +{off})" if off >= 0 else f"r{d} = *({_SIZES[size]} *)(r1 {off})"]


@st.composite
def _state_access(draw: st.DrawFn) -> list[str]:
    """Load cb (argument 0), maybe NULL-check it, then read or write struct bpf_dummy_ops_state."""
    out = ["r6 = *(u64 *)(r1 +0)"]
    body: list[str] = []
    size = draw(st.sampled_from((4, 4, 1, 2, 8)))
    off = draw(st.one_of(st.just(0), st.just(0), st.integers(-4, 8)))
    ref = f"(r6 +{off})" if off >= 0 else f"(r6 {off})"
    kind = draw(st.integers(0, 3))
    if kind == 0:
        body.append(f"r7 = *({_SIZES[size]} *){ref}")
    elif kind == 1:
        body.append(f"*({_SIZES[size]} *){ref} = {draw(st.integers(-3, 300))}")
    elif kind == 2:
        body += [f"r7 = *({_SIZES[size]} *){ref}", "r7 += 1", f"*({_SIZES[size]} *){ref} = r7"]
    else:
        body.append("r6 += 4")
    if draw(st.integers(0, 3)):
        out.append(f"if r6 == 0 goto +{len(body)}")
    return out + body


_SO_ITEM = st.one_of(_ctx_load(), _state_access(), _state_access(), _alu())


@st.composite
def _struct_ops_programs(draw: st.DrawFn, max_items: int = 6) -> tuple[str, str, int]:
    """(program text, bpf_dummy_ops member, prog_flags): r1 is the context (argument
    array), kept in r9 for later items; the return value is set or left unset."""
    member = draw(st.sampled_from(DUMMY_MEMBERS))
    flags = (1 << 4) if draw(st.integers(0, 4)) == 0 else 0  # BPF_F_SLEEPABLE
    items = draw(st.lists(_SO_ITEM, min_size=1, max_size=max_items))
    lines = ["r9 = r1", "r7 = 0", "r6 = 0", "r0 = 0", "r2 = 0", "r3 = 0", "r8 = 0"]
    for item in items:
        lines.append("r1 = r9")
        lines += item
    ret = draw(st.integers(0, 4))
    if ret == 0:
        lines.append("r0 = r6")
    elif ret == 1:
        lines.append(f"r0 = {draw(st.integers(-2, 2))}")
    elif ret == 2:
        lines.append("r0 = r7")
    lines.append("exit")
    return "\n".join(lines) + "\n", member, flags


# --- linked scalars through spills and fills (socket filters) --------------------------------------

#: immediates near the edges sign and zero extension move: the bounds a branch teaches a copy
_EDGE_IMM = st.sampled_from((0, -1, 1, 127, 128, -128, -129, 255, 256, 0x7FFF, 0x8000, -0x8000, 0xFFFF,
                             0x7FFFFFFF, -(1 << 31), -512, 511, 512, 63, 64, -64, 7, 8))
_SHAPES = ("&=", "-=", "+=", "|=", "s>>=", "<<=", ">>=", "zext", "sx", "neg")
#: the sk_buff fields a packet-derived value comes from: len, pkt_type, mark, queue_mapping,
#: protocol, vlan_tci, priority, data_len... (u32 reads)
_SKB_FIELDS = (0, 4, 8, 12, 16, 20, 36, 40, 44, 48, 64)


@st.composite
def _linked_source(draw: st.DrawFn) -> list[str]:
    """r7 := an unknown scalar (helper result or packet metadata), then 0-3 shaping steps."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        out = ["call bpf_get_prandom_u32", "r7 = r0"]
    elif kind == 1:
        out = ["call bpf_get_prandom_u32", "w7 = w0"]
    elif kind == 2:
        out = [f"r7 = *(u32 *)(r6 +{draw(st.sampled_from(_SKB_FIELDS))})"]
    else:
        out = [f"r7 = *(u{draw(st.sampled_from((8, 16)))} *)(r6 +{draw(st.sampled_from((0, 4, 8, 16)))})"]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(_SHAPES))
        if op == "zext":
            out.append("w7 = w7")
        elif op == "sx":
            out.append(f"r7 = (s{draw(st.sampled_from((8, 16, 32)))})r7")
        elif op == "neg":
            out.append("r7 = -r7")
        elif op in ("s>>=", "<<=", ">>="):
            w = draw(st.sampled_from(("r", "w")))
            out.append(f"{w}7 {op} {draw(st.integers(0, 31 if w == 'w' else 63))}")
        else:
            out.append(f"{draw(st.sampled_from(('r', 'r', 'w')))}7 {op} {draw(_EDGE_IMM)}")
    return out


@st.composite
def _branch(draw: st.DrawFn, regs: tuple[int, ...]) -> str:
    """``if`` on one of the linked copies to ``out``: 64/32-bit, signed/unsigned, imm or register."""
    w = "w" if draw(st.integers(0, 3)) == 0 else "r"
    a = draw(st.sampled_from(regs))
    op = draw(st.sampled_from(_CMPS))
    if draw(st.integers(0, 4)) == 0:
        rhs = f"{w}{draw(st.sampled_from(regs))}"
    else:
        rhs = str(draw(_EDGE_IMM))
    return f"if {w}{a} {op} {rhs} goto out"


@st.composite
def _use(draw: st.DrawFn, regs: tuple[int, ...]) -> list[str]:
    """What a wrong bound turns into harm: stack or map-value pointer arithmetic, a ctx
    pointer offset, or a branch that hides a pointer return (CAP_BPF only: a leak)."""
    u = draw(st.sampled_from(regs))
    kind = draw(st.integers(0, 5))
    k = draw(st.sampled_from((0, 0, -1, -8, 1, 7)))
    ref = f"(r2 +{k})" if k >= 0 else f"(r2 {k})"
    if kind == 0:
        return ["r2 = r10", f"r2 += r{u}", f"*(u8 *){ref} = 0"]
    if kind == 1:
        return ["r2 = r10", f"r2 += r{u}", f"r0 = *(u8 *){ref}"]
    if kind == 2:
        return ["r2 = r10", f"r2 -= r{u}", f"*(u{draw(st.sampled_from((8, 32)))} *){ref} = 1"]
    if kind == 3:
        return ["r1 = 0", "*(u64 *)(r10 -64) = r1", "r2 = r10", "r2 += -64", "r1 = m ll",
                "call bpf_map_lookup_elem", "if r0 == 0 goto out", f"r0 += r{u}",
                f"r0 = *(u8 *)(r0 +{max(k, 0)})"]
    if kind == 4:
        return ["r1 = r6", f"r1 += r{u}", "r0 = *(u32 *)(r1 +0)"]
    # the branch's taken side skips a pointer return: a bound wrongly narrowed makes the
    # return look dead (as root a pointer may be returned; with CAP_BPF only it leaks)
    label = f"skip{draw(st.integers(0, 1 << 20))}"
    return [draw(_branch(regs)).replace("goto out", f"goto {label}"), "r0 = r10", "exit", f"{label}:"]


@st.composite
def _linked_scalar_programs(draw: st.DrawFn) -> str:
    """A socket filter that links scalars through the stack and moves: r7 (the original)
    is spilled with a store of 1/2/4/8 bytes, filled back zero- or sign-extending at any
    width (r8), maybe copied again with a plain, 32-bit or sign-extending move (r9),
    then branches on any copy narrow the others through the shared id, and one copy
    feeds pointer arithmetic. This is the shape of issue 10's false accept (an s32
    fill of a u32 spill kept the id) and the family around it, both sides of each rule."""
    lines = ["r6 = r1", *draw(_linked_source())]
    for _ in range(draw(st.integers(0, 1))):
        lines.append(draw(_branch((7,))))
    spill = draw(st.sampled_from((1, 2, 4, 8)))
    slot = draw(st.sampled_from((-8, -16)))
    lines.append(f"*(u{spill * 8} *)(r10 {slot}) = r7")
    fill = draw(st.sampled_from((1, 2, 4, 8)))
    signed = fill < 8 and draw(st.booleans())
    # little endian: the low bytes of the spill sit at the slot's address; sometimes not
    off = slot if draw(st.integers(0, 5)) else slot + draw(st.sampled_from((1, 2, 4)))
    off -= 0 if fill <= 8 - (off - slot) else off - slot
    lines.append(f"r8 = *({'s' if signed else 'u'}{fill * 8} *)(r10 {off})")
    regs: tuple[int, ...] = (7, 8)
    mv = draw(st.integers(0, 5))
    if mv == 1:
        lines.append("r9 = r8")
    elif mv == 2:
        lines.append(f"r9 = (s{draw(st.sampled_from((8, 16, 32)))})r{draw(st.sampled_from((7, 8)))}")
    elif mv == 3:
        lines.append(f"w9 = w{draw(st.sampled_from((7, 8)))}")
    elif mv == 4:
        lines.append(f"w9 = (s{draw(st.sampled_from((8, 16)))})w{draw(st.sampled_from((7, 8)))}")
    if mv:
        regs = (7, 8, 9)
    if draw(st.integers(0, 3)) == 0:  # a second fill of another width from the same slot
        f2 = draw(st.sampled_from((1, 2, 4, 8)))
        s2 = f2 < 8 and draw(st.booleans())
        lines.append(f"r9 = *({'s' if s2 else 'u'}{f2 * 8} *)(r10 {slot})")
        regs = (7, 8, 9)
    for _ in range(draw(st.integers(1, 3))):
        lines.append(draw(_branch(regs)))
    lines += draw(_use(regs))
    if draw(st.integers(0, 2)) == 0:
        lines += [ln.replace("skip", "skip_") for ln in draw(_use(regs))]
    lines += ["r0 = 0", "out:", "r0 = 0", "exit"]
    return "\n".join(lines) + "\n"


# --- the public factories: keyword-only knobs, checked when called ---------------------------------

def socket_programs(*, max_items: int = 14) -> st.SearchStrategy[str]:
    """A socket filter as kernel-syntax text (r9 keeps the ctx pointer), of 1 to
    ``max_items`` items (ALU runs, unknown scalars, stack spills/fills, map
    accesses), sometimes with a bounded loop; verified or refused by the kernel."""
    check_int("max_items", max_items, 1, 200)
    return _socket_programs(max_items)


def struct_ops_programs(*, max_items: int = 6) -> st.SearchStrategy[tuple[str, str, int]]:
    """``(program text, bpf_dummy_ops member, prog_flags)``: r1 is the context (the
    argument array), kept in r9 for later items; the return value is set or left
    unset; ``prog_flags`` is ``BPF_F_SLEEPABLE`` one time in five."""
    check_int("max_items", max_items, 1, 100)
    return _struct_ops_programs(max_items)


def linked_scalar_programs() -> st.SearchStrategy[str]:
    """A socket filter that links scalars through spills, fills and moves (see the
    module docstring)."""
    return _linked_scalar_programs()
