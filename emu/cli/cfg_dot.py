"""``verify --dot FILE``: a program's control-flow graph as graphviz DOT text.

One node per basic block (its instructions in the kernel's syntax, one per
row), an edge per successor as the verifier's ``check_cfg`` sees them
(``visit_insn``: fall-through and branch of a conditional jump, the target of
``goto``, none after ``exit``); a bpf-to-bpf call gets a dashed edge to its
callee. Leaders: the entry, every jump target and subprogram start, and the
instruction after a jump, call or exit.

What the verifier said is drawn on top: the blocks and edges of the path to
a rejection in red, the rejected instruction's row red, the rows of the
``--explain`` slice (:mod:`.failure_slice`) orange (a condition: yellow), and
with ``--dot-states`` the register states the verifier printed at branch
points: after a conditional jump inside its block, and as the label of an edge
the verifier resumed a pending branch on (``from X to Y: ...``).

The labels are graphviz's HTML-like labels (well-formed XML inside ``<...>``);
render with ``dot -Tsvg cfg.dot -o cfg.svg``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Sequence

from kernel_model import isa
from kernel_model.disasm import format_insn
from kernel_model.insn import Insn

from .failure_slice import FailureSlice
from .verifier_trace import Trace, is_cond_jump_code

__all__ = ["Block", "basic_blocks", "to_dot", "program_dot", "DotProgram"]

_RED, _SLICE, _COND, _FAIL = "#d62728", "#ffd8a8", "#fff3b0", "#ffb3b3"


@dataclass(slots=True)
class Block:
    """A basic block: slots ``start`` .. ``end`` (inclusive, the last instruction's
    first slot), its successors (block starts) and the callee entries it calls."""

    start: int
    end: int
    succs: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    insns: list[int] = field(default_factory=list)


def _succ(insns: Sequence[Insn], i: int) -> tuple[list[int], list[int]]:
    """(successors, callee entries) of slot ``i``."""
    insn = insns[i]
    if insn.code == isa.LD_IMM64:
        return [i + 2], []
    if insn.cls not in (isa.JMP, isa.JMP32):
        return [i + 1], []
    if insn.op == isa.EXIT:
        return [], []
    if insn.op == isa.CALL:
        return [i + 1], ([i + insn.imm + 1] if insn.src == isa.PSEUDO_CALL else [])
    if insn.op == isa.JA:
        return [i + 1 + (insn.imm if insn.cls == isa.JMP32 else insn.off)], []
    return [i + 1, i + 1 + insn.off], []


def basic_blocks(insns: Sequence[Insn]) -> list[Block]:
    """The program's basic blocks in slot order (out-of-range targets are dropped:
    the verifier refuses such programs before walking them)."""
    n = len(insns)
    starts = [i for i in range(n) if not (i > 0 and insns[i - 1].code == isa.LD_IMM64)]
    valid = set(starts)
    leaders = {0} if n else set()
    for i in starts:
        succs, calls = _succ(insns, i)
        insn = insns[i]
        if insn.cls in (isa.JMP, isa.JMP32) and insn.op != isa.CALL or calls:  # a helper call ends no block
            leaders.update(s for s in succs + calls if s in valid)
            if i + 1 in valid and (insn.op != isa.CALL or calls):
                leaders.add(i + 1)
    blocks: list[Block] = []
    cur: Block | None = None
    for k, i in enumerate(starts):
        if i in leaders or cur is None:
            cur = Block(i, i)
            blocks.append(cur)
        cur.insns.append(i)
        cur.end = i
        succs, calls = _succ(insns, i)
        cur.calls.extend(c for c in calls if c in valid)
        nxt = starts[k + 1] if k + 1 < len(starts) else None
        jump = insns[i].cls in (isa.JMP, isa.JMP32) and insns[i].op != isa.CALL
        ends = jump or nxt in leaders or bool(calls)
        if ends or nxt is None:
            cur.succs = [s for s in succs if s in valid]
            cur = None
    return blocks


@dataclass(slots=True)
class DotProgram:
    """One program to draw: its name, instructions and what the verifier said."""

    name: str
    insns: Sequence[Insn]
    trace: Trace | None = None
    slice: FailureSlice | None = None
    rejected: bool = False
    message: str | None = None


def _q(text: str) -> str:
    """A DOT quoted string's body."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def program_dot(p: DotProgram, prefix: str, states: bool) -> list[str]:
    """The node and edge lines of one program (node ids start with ``prefix``)."""
    blocks = basic_blocks(p.insns)
    path = p.trace.on_path() if p.trace and p.rejected else set()
    path_edges = p.trace.path_edges() if p.trace and p.rejected else set()
    failed = p.trace.last if p.trace and p.rejected else None
    roles = {e.insn: e.role for e in p.slice.entries} if p.slice else {}
    out: list[str] = []
    for b in blocks:
        rows = []
        for i in b.insns:
            text = f"{i}: {format_insn(p.insns, i)}"
            bg = ""
            if i == failed:
                bg = _FAIL
            elif roles.get(i) == "def":
                bg = _SLICE
            elif roles.get(i) == "cond":
                bg = _COND
            attr = f' bgcolor="{bg}"' if bg else ""
            rows.append(f'<tr><td align="left"{attr}>{escape(text)}</td></tr>')
            if i == failed and p.message:
                rows.append(f'<tr><td align="left"><font color="{_RED}">{escape(p.message)}</font></td></tr>')
            if states and p.trace and is_cond_jump_code(p.insns[i].code) and i in p.trace.after:
                rows.append(f'<tr><td align="left"><font point-size="9">; {escape(p.trace.after[i])}</font></td></tr>')
        on = any(i in path for i in b.insns)
        style = f', color="{_RED}", penwidth=2' if on else ""
        label = '<table border="0" cellborder="0" cellspacing="0">' + "".join(rows) + "</table>"
        out.append(f'  {prefix}{b.start} [label=<{label}>{style}];')
        last = b.insns[-1]
        for s in b.succs:
            attrs = []
            if (last, s) in path_edges:
                attrs += [f'color="{_RED}"', "penwidth=2"]
            cond = is_cond_jump_code(p.insns[last].code)
            if cond:
                attrs.append('label="' + ("fall" if s == last + 1 else "jump") + '"')
            if states and p.trace and (last, s) in p.trace.edges:
                attrs.append(f'xlabel="{_q(p.trace.edges[(last, s)])}"')
                attrs.append("fontsize=9")
            out.append(f"  {prefix}{b.start} -> {prefix}{s}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
        for c in b.calls:
            out.append(f'  {prefix}{b.start} -> {prefix}{c} [style=dashed, label="call"];')
    return out


def to_dot(programs: Sequence[DotProgram], states: bool = False) -> str:
    """The DOT text of one or more programs: one digraph, a cluster per program when
    there are several."""
    lines = ["digraph cfg {", '  node [shape=box, fontname="monospace"];', '  edge [fontname="monospace"];']
    if len(programs) == 1:
        p = programs[0]
        lines.append(f'  label="{_q(p.name)}"; labelloc=t;')
        lines += program_dot(p, "b", states)
    else:
        for k, p in enumerate(programs):
            lines.append(f"  subgraph cluster_{k} {{")
            lines.append(f'  label="{_q(p.name)}";')
            lines += program_dot(p, f"p{k}_", states)
            lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"
