"""The verifier's walk, read back from its log: the path to a rejection and the
register states it printed.

At ``log_level`` 1 and 2 the kernel's verifier (kernel/bpf/verifier.c, Linux 6.18:
``do_check`` with ``env->log.level & BPF_LOG_LEVEL2``) prints every
instruction it processes (``N: (op) text ; STATE``: the state after it when it
changed something), the state it starts a path with (``N: R1=ctx() ...``), and
every state it pops from its stack of pending branches (``from X to Y: STATE``,
``pop_stack``); a path pruned by an equivalent explored state ends with
``from X to Y: safe`` or ``N: safe`` (``is_state_visited``). At level 1 the
log is rolled back to where a branch was pushed when the verifier pops it
(``pop_stack`` -> ``bpf_vlog_reset``), so a rejected program's level-1 log is the
path to the rejection alone; at level 2 it is the whole walk. This module reads
those lines and nothing else: the verifier needs no hook, and the reading
holds for the real kernel's log too.

The path to the instruction the verifier stopped at is rebuilt the way the
verifier walked it: depth first, a conditional jump pushing the branch it does
not take first. A ``from X to Y`` line resumes the path that reached the most
recent pending occurrence of the jump at X. Where we differ: the log does not
say whether a jump pushed a branch or had one outcome only (a known
condition), so an occurrence of X that pushed nothing but came after the
one that did (a loop walked again) is taken instead; the path is then one
the program can take but not the one the verifier took. Loops that the
verifier walks many times show in the path as often as it walked them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Trace", "read_trace", "is_cond_jump_code"]

_INSN = re.compile(r"^(\d+): \(([0-9a-f]{2})\) (.*)$")
_STATE = re.compile(r"^(\d+): ((?:R\d|frame\d|fp-).*)$")
_FROM = re.compile(r"^from (\d+) to (\d+)(?: \(speculative execution\))?: (.*)$")
_SAFE = re.compile(r"^(\d+): safe$")
#: where an instruction's text ends and the state after it starts: padding, then ``; ``
_STATE_SEP = re.compile(r"\s+; ")


def is_cond_jump_code(code: int) -> bool:
    """Whether the opcode byte is a conditional jump (JMP/JMP32 class, not ja/call/exit)."""
    cls, op = code & 7, code & 0xF0
    return cls in (5, 6) and op not in (0x00, 0x80, 0x90, 0xE0)


@dataclass(slots=True)
class _Step:
    insn: int
    parent: "_Step | None"


@dataclass(slots=True)
class Trace:
    """What a level-2 log says about the verifier's walk."""

    #: the instructions from the entry to the last one processed, in the order walked
    #: (empty when the verifier stopped before walking: a CFG or load-time check)
    path: list[int] = field(default_factory=list)
    #: the last instruction processed: where a rejected program was rejected
    last: int | None = None
    #: per instruction: the last state printed after it (``; R0_w=1``)
    after: dict[int, str] = field(default_factory=dict)
    #: per instruction: the last state printed before it (``5: R2=... R3=8``)
    before: dict[int, str] = field(default_factory=dict)
    #: per (jump, target) edge: the last state a ``from X to Y`` line popped
    edges: dict[tuple[int, int], str] = field(default_factory=dict)
    #: how many instructions the log shows processed
    steps: int = 0

    def on_path(self) -> set[int]:
        return set(self.path)

    def path_edges(self) -> set[tuple[int, int]]:
        return {(a, b) for a, b in zip(self.path, self.path[1:])}


def read_trace(log: str) -> Trace:
    """Read a level-2 verifier log (see the module docstring)."""
    t = Trace()
    cur: _Step | None = None
    pending: list[tuple[int, _Step]] = []  # conditional jumps processed, most recent last
    for line in log.splitlines():
        m = _INSN.match(line)
        if m:
            idx, code, rest = int(m.group(1)), int(m.group(2), 16), m.group(3)
            cur = _Step(idx, cur)
            t.steps += 1
            t.last = idx
            parts = _STATE_SEP.split(rest, maxsplit=1)
            if len(parts) == 2:
                t.after[idx] = parts[1]
            if is_cond_jump_code(code):
                pending.append((idx, cur))
            continue
        m = _FROM.match(line)
        if m:
            x, y, state = int(m.group(1)), int(m.group(2)), m.group(3)
            while pending and pending[-1][0] != x:
                pending.pop()  # a jump that pushed nothing (or a branch already popped)
            cur = pending.pop()[1] if pending else None
            if state == "safe":
                cur = None
            else:
                t.edges[(x, y)] = state
            continue
        m = _SAFE.match(line)
        if m:
            cur = None
            continue
        m = _STATE.match(line)
        if m:
            t.before[int(m.group(1))] = m.group(2)
    # the path ends at the last instruction processed; rebuild it from the step chain
    # of the walk that processed it
    path: list[int] = []
    node = cur
    while node is not None:
        path.append(node.insn)
        node = node.parent
    path.reverse()
    if path and path[-1] != t.last:
        path = []
    t.path = path
    return t
