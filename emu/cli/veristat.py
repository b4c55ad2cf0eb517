"""veristat's figures: ``verify -o csv|table`` and ``verify --compare A.csv B.csv``.

veristat (tools/testing/selftests/bpf/veristat.c, Linux 6.18) loads every
program of an object and prints one row per program; ``-o csv`` names its
columns by the stats' first names (``stat_defs[].names[0]``), ``-C`` joins two
such CSVs on (file_name, prog_name) and prints each stat's baseline, comparison
and difference (``+N (+P.PP%)``; MATCH/MISMATCH for strings; N/A where a row is
on one side only). This module does the same for the verifier model, with the
columns the model measures:

=====================  ======================================================
column                 what
=====================  ======================================================
file_name              the input's base name (``<stdin>`` for ``-``)
prog_name              the ELF program's name; for a program file, its stem
verdict                ``success`` or ``failure``
duration               ``verification time N usec`` (the model's own, from
                       the BPF_LOG_STATS line)
total_insns            ``processed N insns``
total_states           ``total_states``
peak_states            ``peak_states``
max_states_per_insn    ``max_states_per_insn``
max_mark_read_len      ``mark_read``
stack_depth            the subprograms' ``stack depth`` summed, as veristat does
prog_type              libbpf's name of the program type
=====================  ======================================================

Where we differ: veristat's ``prog_size``/``prog_size_jited`` (from
BPF_OBJ_GET_INFO_BY_FD after a real load), ``attach_type`` and ``mem_peak``
(cgroup memory accounting) are not produced; ``--compare`` reads them (and any
other integer column) from a real veristat's CSV all the same, so the emulator's
figures can be compared with the host's.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

__all__ = ["ProgStats", "COLUMNS", "HEADERS", "ALIASES", "stats_from_log", "to_csv", "to_table", "read_csv",
           "compare", "compare_rows", "compare_table", "compare_csv"]

#: the CSV columns in veristat's order (its default_csv_output_spec, less what the model does not measure)
COLUMNS: tuple[str, ...] = ("file_name", "prog_name", "verdict", "duration", "total_insns", "total_states",
                            "peak_states", "max_states_per_insn", "max_mark_read_len", "stack_depth", "prog_type")
#: veristat's table headers (stat_defs[].header)
HEADERS: dict[str, str] = {
    "file_name": "File", "prog_name": "Program", "verdict": "Verdict", "duration": "Duration (us)",
    "total_insns": "Insns", "total_states": "States", "peak_states": "Peak states",
    "max_states_per_insn": "Max states per insn", "max_mark_read_len": "Max mark read length",
    "stack_depth": "Stack depth", "prog_type": "Program type", "prog_size": "Program size",
    "prog_size_jited": "Jited size", "attach_type": "Attach type", "mem_peak": "Peak memory (MiB)",
}
#: every name veristat accepts for a stat (stat_defs[].names) -> its first name, the CSV column
ALIASES: dict[str, str] = {
    "file_name": "file_name", "filename": "file_name", "file": "file_name",
    "prog_name": "prog_name", "progname": "prog_name", "prog": "prog_name",
    "verdict": "verdict", "duration": "duration", "dur": "duration",
    "total_insns": "total_insns", "insns": "total_insns", "total_states": "total_states", "states": "total_states",
    "peak_states": "peak_states", "max_states_per_insn": "max_states_per_insn",
    "max_mark_read_len": "max_mark_read_len", "mark_read": "max_mark_read_len",
    "stack_depth": "stack_depth", "stack": "stack_depth", "prog_type": "prog_type", "attach_type": "attach_type",
    "prog_size": "prog_size", "prog_size_jited": "prog_size_jited", "mem_peak": "mem_peak",
}
#: columns compared as strings (MATCH / MISMATCH), as veristat's prepare_value gives them
_STRING_COLUMNS = frozenset({"verdict", "prog_type", "attach_type"})
_KEYS = ("file_name", "prog_name")

_PROCESSED = re.compile(r"^processed (\d+) insns \(limit \d+\) max_states_per_insn (\d+) total_states (\d+) "
                        r"peak_states (\d+) mark_read (\d+)", re.M)
_TIME = re.compile(r"^verification time (\d+) usec", re.M)
_STACK = re.compile(r"^stack depth ([\d+]+)", re.M)


@dataclass(slots=True)
class ProgStats:
    """One verified program: veristat's row, and what ``-j`` adds to it."""

    file_name: str
    prog_name: str
    accepted: bool
    duration: int = 0
    total_insns: int = 0
    total_states: int = 0
    peak_states: int = 0
    max_states_per_insn: int = 0
    max_mark_read_len: int = 0
    stack_depths: list[int] = field(default_factory=list)
    prog_type: str = ""
    #: the input as given on the command line (a path, or ``<stdin>``)
    path: str = ""
    errno: str | None = None
    error: str | None = None
    log: str = ""
    log_true_size: int | None = None

    @property
    def verdict(self) -> str:
        return "success" if self.accepted else "failure"

    @property
    def stack_depth(self) -> int:
        return sum(self.stack_depths)

    def row(self) -> dict[str, Any]:
        """veristat's CSV row: :data:`COLUMNS` -> value."""
        return {c: getattr(self, c) for c in COLUMNS}

    def to_json(self) -> dict[str, Any]:
        """The ``verify -j`` object of one program (docs/cli.md)."""
        out = self.row()
        out.update(accepted=self.accepted, path=self.path, errno=self.errno, error=self.error,
                   stack_depths=list(self.stack_depths), log=self.log)
        if self.log_true_size is not None:
            out["log_true_size"] = self.log_true_size
        return out


def stats_from_log(log: str, stats: ProgStats) -> ProgStats:
    """Fill ``stats`` from a verifier log's statistics lines as veristat's
    parse_verif_log reads them (``processed ...``, ``verification time``,
    ``stack depth``); a figure the log lacks keeps its value."""
    m = _PROCESSED.search(log)
    if m:
        (stats.total_insns, stats.max_states_per_insn, stats.total_states, stats.peak_states,
         stats.max_mark_read_len) = (int(g) for g in m.groups())
    m = _TIME.search(log)
    if m:
        stats.duration = int(m.group(1))
    m = _STACK.search(log)
    if m:
        stats.stack_depths = [int(x) for x in m.group(1).split("+") if x]
    return stats


def to_csv(rows: Iterable[ProgStats]) -> str:
    """veristat ``-o csv``: a header of :data:`COLUMNS`, one line per program."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.row()[c] for c in COLUMNS])
    return buf.getvalue()


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[bool]) -> str:
    """veristat's table: columns two spaces apart, a dashed line under the header and
    after the last row; strings left-aligned, numbers right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)

    def fmt(cells: Sequence[str], header: bool = False) -> str:
        return "  ".join(c.ljust(w) if header or left[i] else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [fmt(headers, True), line, *(fmt(r) for r in rows)]
    if rows:
        out.append(line)
    return "\n".join(out) + "\n"


def to_table(rows: Sequence[ProgStats]) -> str:
    """veristat's default output: its default columns (File, Program, Verdict,
    Duration, Insns, States, Peak states) and the stack depth and program type."""
    cols = ("file_name", "prog_name", "verdict", "duration", "total_insns", "total_states", "peak_states",
            "stack_depth", "prog_type")
    cells = [[str(r.row()[c]) for c in cols] for r in rows]
    return _table([HEADERS[c] for c in cols], cells, [c in _KEYS or c in _STRING_COLUMNS for c in cols])


# --- comparison mode (veristat -C) -------------------------------------------------------------

def read_csv(text: str, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """A veristat CSV (ours or a real veristat's): its columns (normalised to the first
    names) and rows. Errors name the file and line: an unknown column, a row with a
    different number of fields, no file_name/prog_name column."""
    from kernel_model.errors import InputError

    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty CSV: expected veristat's header line (file_name,prog_name,...)", name) from None
    cols: list[str] = []
    for h in header:
        c = ALIASES.get(h.strip())
        if c is None:
            raise InputError(f"unknown column {h!r} (veristat's: {', '.join(dict.fromkeys(ALIASES.values()))})",
                             f"{name}:1")
        cols.append(c)
    for k in _KEYS:
        if k not in cols:
            raise InputError(f"no {k} column: rows cannot be joined", f"{name}:1")
    rows = []
    for no, rec in enumerate(reader, 2):
        if not rec:
            continue
        if len(rec) != len(cols):
            raise InputError(f"{len(rec)} fields, the header has {len(cols)}", f"{name}:{no}")
        row = dict(zip(cols, rec))
        if "verdict" in row and row["verdict"] not in ("success", "failure"):
            raise InputError(f"unrecognized verification verdict {row['verdict']!r} (success, failure)", f"{name}:{no}")
        for c, v in row.items():
            if c not in _KEYS and c not in _STRING_COLUMNS:
                try:
                    int(v)
                except ValueError:
                    raise InputError(f"{c}: {v!r} is not an integer", f"{name}:{no}") from None
        rows.append(row)
    return cols, rows


def compare_rows(cols_a: list[str], rows_a: list[dict[str, str]], cols_b: list[str], rows_b: list[dict[str, str]],
                 names: tuple[str, str] = ("A", "B")) -> tuple[list[str], list[dict[str, Any]]]:
    """veristat -C's join: the columns both files have (veristat insists on the same
    set in the same order; we take the common ones, in A's order, and say which are
    dropped through the returned column list) and one joined record per
    (file_name, prog_name), sorted by that key: ``{"file_name", "prog_name", COL:
    {"base", "comp", "diff", "pct"}}`` with None where a side lacks the row."""
    cols = [c for c in cols_a if c in cols_b and c not in _KEYS]
    a = {(r["file_name"], r["prog_name"]): r for r in rows_a}
    b = {(r["file_name"], r["prog_name"]): r for r in rows_b}
    out: list[dict[str, Any]] = []
    for key in sorted(set(a) | set(b)):
        ra, rb = a.get(key), b.get(key)
        rec: dict[str, Any] = {"file_name": key[0], "prog_name": key[1]}
        for c in cols:
            va = ra[c] if ra else None
            vb = rb[c] if rb else None
            if c in _STRING_COLUMNS:
                rec[c] = {"base": va, "comp": vb,
                          "diff": None if va is None or vb is None else ("MATCH" if va == vb else "MISMATCH")}
                continue
            ia = int(va) if va is not None else None
            ib = int(vb) if vb is not None else None
            diff = pct = None
            if ia is not None and ib is not None:
                diff = ib - ia
                # veristat: 0 -> 0 is 0%, 0 -> N is +-100%
                pct = (0.0 if ib == ia else (-100.0 if ib < ia else 100.0)) if ia == 0 else diff * 100.0 / ia
            rec[c] = {"base": ia, "comp": ib, "diff": diff, "pct": pct}
        out.append(rec)
    return cols, out


def _cell(v: dict[str, Any], c: str) -> tuple[str, str, str]:
    if c in _STRING_COLUMNS:
        return (v["base"] if v["base"] is not None else "N/A", v["comp"] if v["comp"] is not None else "N/A",
                v["diff"] if v["diff"] is not None else "N/A")
    base = "N/A" if v["base"] is None else str(v["base"])
    comp = "N/A" if v["comp"] is None else str(v["comp"])
    diff = "N/A" if v["diff"] is None else f"{v['diff']:+d} ({v['pct']:+.2f}%)"
    return base, comp, diff


def compare_table(cols: list[str], recs: list[dict[str, Any]]) -> str:
    """veristat -C's table: File, Program, then ``X (A)``, ``X (B)``, ``X (DIFF)`` per stat."""
    headers = ["File", "Program"]
    left = [True, True]
    for c in cols:
        h = HEADERS.get(c, c)
        headers += [f"{h} (A)", f"{h} (B)", f"{h} (DIFF)"]
        left += [c in _STRING_COLUMNS] * 3
    rows = []
    for r in recs:
        cells = [r["file_name"], r["prog_name"]]
        for c in cols:
            cells.extend(_cell(r[c], c))
        rows.append(cells)
    return _table(headers, rows, left)


def compare_csv(cols: list[str], recs: list[dict[str, Any]]) -> str:
    """veristat -C -o csv: ``file_name,prog_name,X_base,X_comp,X_diff,...``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file_name", "prog_name", *(f"{c}{s}" for c in cols for s in ("_base", "_comp", "_diff"))])
    for r in recs:
        cells = [r["file_name"], r["prog_name"]]
        for c in cols:
            cells.extend(_cell(r[c], c))
        w.writerow(cells)
    return buf.getvalue()


def compare(text_a: str, name_a: str, text_b: str, name_b: str) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Read two CSVs and join them: (columns compared, joined records, columns only one
    side has)."""
    cols_a, rows_a = read_csv(text_a, name_a)
    cols_b, rows_b = read_csv(text_b, name_b)
    cols, recs = compare_rows(cols_a, rows_a, cols_b, rows_b)
    dropped = [c for c in dict.fromkeys(cols_a + cols_b) if c not in cols and c not in _KEYS]
    return cols, recs, dropped
